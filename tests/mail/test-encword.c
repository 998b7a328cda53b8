/* Tests for lib/mail/encword.c (RFC 2047) and rfc2231.c (RFC 2231 §4). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "core/buf.h"
#include "mail/encword.h"
#include "mail/rfc2231.h"
#include "mail/utf8.h"

struct row {
	const char *in;
	const char *want;
};

static const struct row rows[] = {
	/* RFC 2047 §8, the display examples. */
	{ "=?ISO-8859-1?Q?a?=", "a" },
	{ "=?ISO-8859-1?Q?a?= b", "a b" },
	{ "=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=", "ab" },
	{ "=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=", "ab" },
	{ "=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=", "ab" },
	{ "=?ISO-8859-1?Q?a_b?=", "a b" },
	{ "=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=", "a b" },
	/* §8 header examples. */
	{ "=?US-ASCII?Q?Keith_Moore?=", "Keith Moore" },
	{ "=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?=", "Keld J\xc3\xb8rn Simonsen" },
	{ "=?ISO-8859-1?Q?Andr=E9?= Pirard", "Andr\xc3\xa9 Pirard" },
	{ "=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\r\n"
	  "    =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=",
	  "If you can read this you understand the example." },
	{ "=?ISO-8859-1?Q?Olle_J=E4rnefors?=", "Olle J\xc3\xa4rnefors" },
	{ "=?ISO-8859-1?Q?Patrik_F=E4ltstr=F6m?=", "Patrik F\xc3\xa4ltstr\xc3\xb6m" },
	/* Text around words is kept, spaces between word and text too. */
	{ "Re: =?utf-8?q?caf=C3=A9?= ok", "Re: caf\xc3\xa9 ok" },
	{ "plain text", "plain text" },
	{ "", "" },
	/* Lower-case encoding letters and charsets. */
	{ "=?utf-8?b?4oKs?=", "\xe2\x82\xac" },
	/* RFC 2231 §5: language suffix. */
	{ "=?US-ASCII*EN?Q?Keith_Moore?=", "Keith Moore" },
	{ "=?utf-8*en-us?Q?x?=", "x" },
	/* Real-world: a character split across two words (same charset)
	 * joins before conversion. U+20AC = E2 82 AC. */
	{ "=?utf-8?q?=E2=82?= =?utf-8?q?=AC?=", "\xe2\x82\xac" },
	{ "=?UTF-8?B?4oI=?= =?utf-8?B?rA==?=", "\xe2\x82\xac" },
	{ "=?shift_jis?b?k/o=?= =?shift_jis?b?lnuM6g==?=",
	  "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" },
	{ "=?iso-2022-jp?b?GyRCRnxLXBsoQg==?=", "\xe6\x97\xa5\xe6\x9c\xac" },
	/* A split across different charsets does not join: U+FFFD each. */
	{ "=?utf-8?q?=E2=82?= =?iso-8859-1?q?x?=", "\xef\xbf\xbd\xef\xbf\xbdx" },
	/* Words glued to text (not allowed, but common) still decode. */
	{ "abc=?utf-8?q?d?=", "abcd" },
	{ "=?utf-8?q?a?=b", "ab" },
	/* Malformed words stay literal. */
	{ "=?utf-8?x?abc?=", "=?utf-8?x?abc?=" },
	{ "=?utf-8?q?abc", "=?utf-8?q?abc" },
	{ "=?utf-8?q?a b?=", "=?utf-8?q?a b?=" },
	{ "=??q?abc?=", "=??q?abc?=" },
	{ "=?utf-8?q", "=?utf-8?q" },
	{ "=?", "=?" },
	{ "=?utf-8?q?=ZZ?=", "=ZZ" },
	{ "=?utf-8?b?!!!4oKs?=", "\xe2\x82\xac" },
	{ "=?utf-8?b?4oI=rA==?=", "\xe2\x82\xac" },   /* glued chunks */
	{ "=?utf-8?b?4oKsx?=", "\xe2\x82\xac" },      /* stray 6 bits */
	/* Unknown charset: bytes read as undeclared text. */
	{ "=?x-bogus?q?caf=E9?=", "caf\xc3\xa9" },
	{ "=?x-bogus?q?caf=C3=A9?=", "caf\xc3\xa9" },
	/* Undeclared 8-bit: UTF-8 if the value is valid UTF-8 ... */
	{ "Gr\xc3\xbc\xc3\x9f" "e", "Gr\xc3\xbc\xc3\x9f" "e" },
	/* ... otherwise Windows-1252. */
	{ "Gr\xfc\xdf" "e \x80", "Gr\xc3\xbc\xc3\x9f" "e \xe2\x82\xac" },
	/* Invalid bytes inside a UTF-8 word: U+FFFD. */
	{ "=?utf-8?q?a=FFb?=", "a\xef\xbf\xbd" "b" },
	/* A still-folded value is unfolded. */
	{ "Re: long\r\n subject\r\n\t=?utf-8?q?x?=", "Re: long subject\tx" },
	/* Whitespace between a word and text is kept. */
	{ "=?utf-8?q?a?=  b  =?utf-8?q?c?=", "a  b  c" },
};

Test(encword, table)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct buf *out = buf_new(4096);

		cr_expect(mail_encword_decode(rows[i].in, strlen(rows[i].in),
					      out) == 0, "row %zu", i);
		cr_expect_str_eq(buf_str(out), rows[i].want, "row %zu: \"%s\"",
				 i, rows[i].in);
		cr_expect(mail_utf8_valid(buf_data(out), buf_len(out)),
			  "row %zu: not UTF-8", i);
		buf_free(&out);
	}
}

/* Hostile sizes: many "=?" starts, a huge word, and a full buffer. */
Test(encword, huge_inputs)
{
	size_t n = 1 << 20;
	char *s = malloc(n);
	struct buf *out = buf_new(4 * n);

	for (size_t i = 0; i + 1 < n; i += 2)
		memcpy(s + i, "=?", 2);
	cr_expect(mail_encword_decode(s, n, out) == 0);
	cr_expect(buf_len(out) == n);
	buf_reset(out);
	memcpy(s, "=?utf-8?b?", 10);
	memset(s + 10, 'Q', n - 12);
	memcpy(s + n - 2, "?=", 2);
	cr_expect(mail_encword_decode(s, n, out) == 0);
	cr_expect(buf_len(out) > 0 && mail_utf8_valid(buf_data(out), buf_len(out)));
	buf_free(&out);
	out = buf_new(100);
	cr_expect(mail_encword_decode(s, n, out) == -1 && errno == EMSGSIZE);
	cr_expect(buf_len(out) <= 100);
	buf_free(&out);
	free(s);
}

struct row2231 {
	const char *in;
	const char *want;
};

static const struct row2231 rows2231[] = {
	/* RFC 2231 §4 example. */
	{ "us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A",
	  "This is ***fun***" },
	{ "utf-8''%E2%82%AC%20rates.txt", "\xe2\x82\xac rates.txt" },
	{ "iso-8859-1'de'Gr%FC%DFe", "Gr\xc3\xbc\xc3\x9f" "e" },
	{ "''%E2%82%AC", "\xe2\x82\xac" },             /* no charset */
	{ "x-bogus''caf%E9", "caf\xc3\xa9" },          /* unknown charset */
	{ "utf-8''bad%zzescape%", "bad%zzescape%" },
	{ "no-quotes%41", "no-quotesA" },
	{ "utf-8''%FF", "\xef\xbf\xbd" },
	{ "shift_jis''%93%FA%96%7B", "\xe6\x97\xa5\xe6\x9c\xac" },
};

Test(rfc2231, table)
{
	for (size_t i = 0; i < sizeof(rows2231) / sizeof(rows2231[0]); i++) {
		struct buf *out = buf_new(4096);

		cr_expect(mail_rfc2231_decode(rows2231[i].in,
					      strlen(rows2231[i].in), out) == 0);
		cr_expect_str_eq(buf_str(out), rows2231[i].want, "row %zu", i);
		buf_free(&out);
	}
}

Test(rfc2231, prefix_and_unpercent)
{
	const char *cs = NULL;
	size_t cs_len = 0;
	const char *v = "utf-8'en'a%20b";
	struct buf *raw = buf_new(64);

	cr_expect(mail_rfc2231_prefix(v, strlen(v), &cs, &cs_len) == 9);
	cr_expect(cs_len == 5 && memcmp(cs, "utf-8", 5) == 0);
	cr_expect(mail_rfc2231_prefix("abc", 3, &cs, &cs_len) == 0);
	cr_expect(mail_rfc2231_unpercent("a%20b%4", 7, raw) == 0);
	cr_expect_str_eq(buf_str(raw), "a b%4");
	buf_free(&raw);
}
