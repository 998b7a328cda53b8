/* Tests for lib/mail/charset.c and utf8.c: labels real mail uses, U+FFFD
 * for invalid input, streaming across chunk boundaries, bounded output. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "mail/charset.h"
#include "mail/utf8.h"

struct row {
	const char *charset;
	const char *in;
	size_t len;
	const char *want;   /* NULL: charset must be refused */
};

#define R(cs, in, want) { cs, in, sizeof(in) - 1, want }

static const struct row rows[] = {
	R("utf-8", "h\xc3\xa9llo", "h\xc3\xa9llo"),
	R("UTF8", "\xe2\x82\xac", "\xe2\x82\xac"),
	/* RFC 3629 §3: overlongs, surrogates, > U+10FFFF are invalid. */
	R("utf-8", "a\xc0\xafz", "a\xef\xbf\xbd\xef\xbf\xbdz"),
	R("utf-8", "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"),
	R("utf-8", "\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"),
	R("utf-8", "\xe2\x82", "\xef\xbf\xbd\xef\xbf\xbd"),   /* truncated */
	R("utf-8", "\xff", "\xef\xbf\xbd"),
	/* Latin-1 labels read as Windows-1252 (WHATWG): 0x80 is the euro. */
	R("iso-8859-1", "caf\xe9 \x80", "caf\xc3\xa9 \xe2\x82\xac"),
	R("latin1", "\xe9", "\xc3\xa9"),
	R("ISO_8859-1", "\xe9", "\xc3\xa9"),
	R("iso-8859-15", "\xa4", "\xe2\x82\xac"),
	R("iso-8859-2", "\xb1", "\xc4\x85"),
	R("windows-1251", "\xcf\xf0\xe8", "\xd0\x9f\xd1\x80\xd0\xb8"),
	R("koi8-r", "\xf0\xd2\xc9", "\xd0\x9f\xd1\x80\xd0\xb8"),
	R("windows-874", "\xa1", "\xe0\xb8\x81"),
	R("tis-620", "\xa1", "\xe0\xb8\x81"),
	R("ks_c_5601-1987", "\xc7\xd1", "\xed\x95\x9c"),
	R("euc-kr", "\xc7\xd1", "\xed\x95\x9c"),
	R("gb2312", "\xd6\xd0", "\xe4\xb8\xad"),
	R("gbk", "\x81\x40", "\xe4\xb8\x82"),      /* GBK-only: read as GB18030 */
	R("gb18030", "\x81\x30\x81\x30", "\xc2\x80"),
	R("big5", "\xa4\xa4", "\xe4\xb8\xad"),
	R("shift_jis", "\x93\xfa", "\xe6\x97\xa5"),
	R("shift_jis", "\x87\x40", "\xe2\x91\xa0"),  /* NEC ① via CP932 */
	R("euc-jp", "\xc6\xfc", "\xe6\x97\xa5"),
	R("iso-2022-jp", "\x1b$BF|\x1b(B", "\xe6\x97\xa5"),
	R("utf-7", "+ZeVnLA-", "\xe6\x97\xa5\xe6\x9c\xac"),
	/* Undeclared / us-ascii: valid UTF-8 kept, other bytes Windows-1252. */
	R("us-ascii", "plain", "plain"),
	R("us-ascii", "caf\xc3\xa9", "caf\xc3\xa9"),
	R("us-ascii", "caf\xe9", "caf\xc3\xa9"),
	R("x-unknown", "\x93hi\x94", "\xe2\x80\x9chi\xe2\x80\x9d"),
	R(" \"utf-8\" ", "x", "x"),
	/* Refused labels. */
	R("no-such-charset", "x", NULL),
	R("", "x", NULL),
	R("utf-8//TRANSLIT", "x", NULL),
	R("../../etc/passwd", "x", NULL),
	R("utf 8", "x", NULL),
};

Test(charset, table)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct buf *out = buf_new(1024);
		int rc = mail_charset_to_utf8(r->charset, r->in, r->len, out);

		if (r->want == NULL) {
			cr_expect(rc == -1 && errno == EINVAL && buf_len(out) == 0,
				  "row %zu (%s): got rc %d, want refused", i,
				  r->charset, rc);
			cr_expect(!mail_charset_supported(r->charset),
				  "row %zu: %s supported", i, r->charset);
		} else {
			cr_expect(rc == 0, "row %zu (%s): rc %d", i, r->charset, rc);
			cr_expect_str_eq(buf_str(out), r->want, "row %zu (%s)",
					 i, r->charset);
			cr_expect(mail_charset_supported(r->charset),
				  "row %zu: %s not supported", i, r->charset);
		}
		buf_free(&out);
	}
}

Test(charset, is_utf8)
{
	cr_expect(mail_charset_is_utf8("UTF-8"));
	cr_expect(mail_charset_is_utf8("us-ascii"));
	cr_expect(!mail_charset_is_utf8("iso-8859-1"));
	cr_expect(!mail_charset_is_utf8("bogus"));
	cr_expect(!mail_charset_supported(NULL));
}

/* Every split point of multibyte text must give the same result as the
 * one-shot conversion: the converter carries cut sequences. */
static void
check_all_splits(const char *cs, const char *in, size_t len)
{
	struct buf *want = buf_new(4096);

	cr_assert(mail_charset_to_utf8(cs, in, len, want) == 0);
	for (size_t cut1 = 0; cut1 <= len; cut1++) {
		for (size_t cut2 = cut1; cut2 <= len; cut2++) {
			struct mail_charset_conv *c = mail_charset_conv_new(cs);
			struct buf *got = buf_new(4096);

			cr_assert(c != NULL);
			cr_assert(mail_charset_conv_feed(c, in, cut1, got) == 0);
			cr_assert(mail_charset_conv_feed(c, in + cut1, cut2 - cut1, got) == 0);
			cr_assert(mail_charset_conv_feed(c, in + cut2, len - cut2, got) == 0);
			cr_assert(mail_charset_conv_finish(c, got) == 0);
			cr_expect(buf_len(got) == buf_len(want) &&
				  memcmp(buf_data(got), buf_data(want), buf_len(want)) == 0,
				  "%s split %zu/%zu: got \"%s\", want \"%s\"", cs,
				  cut1, cut2, buf_str(got), buf_str(want));
			mail_charset_conv_free(&c);
			buf_free(&got);
		}
	}
	buf_free(&want);
}

Test(charset, streaming_splits)
{
	static const char u8[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z\xe2\x82";
	static const char sj[] = "\x93\xfa\x96\x7b\x8c\xea abc \x87\x40";
	static const char gb[] = "\x81\x30\x81\x30\xd6\xd0\xce\xc4";
	static const char jis[] = "a\x1b$BF|K\\\x1b(Bb";
	static const char u7[] = "x+ZeVnLA-y";
	static const char lax[] = "caf\xe9 \xc3\xa9";

	check_all_splits("utf-8", u8, sizeof(u8) - 1);
	check_all_splits("shift_jis", sj, sizeof(sj) - 1);
	check_all_splits("gb18030", gb, sizeof(gb) - 1);
	check_all_splits("iso-2022-jp", jis, sizeof(jis) - 1);
	check_all_splits("utf-7", u7, sizeof(u7) - 1);
	check_all_splits("x-unknown", lax, sizeof(lax) - 1);
}

/* glibc's CP949 reports EILSEQ for 0xA2E8 only after consuming both
 * bytes (the failing step comes after the one that read them). Found by
 * fuzz-encword: at the end of the input the converter read past the
 * buffer; in the middle it dropped the next, good byte. The input sits
 * in an exact-size heap block so that ASan sees a read past it. */
Test(charset, cp949_error_after_consuming_stays_in_bounds)
{
	static const char at_end[] = "22\xb6j\xb6\x61\xa2\xe8";
	static const char middle[] = "22\xb6j\xb6\x61\xa2\xe8%2%8%";
	char *exact = malloc(sizeof(at_end) - 1);
	struct buf *out = buf_new(1024);

	cr_assert(exact != NULL);
	memcpy(exact, at_end, sizeof(at_end) - 1);
	cr_assert(mail_charset_to_utf8("ks_c_5601-1987", exact,
				       sizeof(at_end) - 1, out) == 0);
	cr_expect_str_eq(buf_str(out), "22\xed\x84\xa9\xed\x84\xa0\xef\xbf\xbd");
	buf_reset(out);
	cr_assert(mail_charset_to_utf8("ks_c_5601-1987", middle,
				       sizeof(middle) - 1, out) == 0);
	cr_expect_str_eq(buf_str(out),
			 "22\xed\x84\xa9\xed\x84\xa0\xef\xbf\xbd%2%8%");
	check_all_splits("ks_c_5601-1987", middle, sizeof(middle) - 1);
	/* Two bad sequences in a row: two replacements, whatever the cut. */
	buf_reset(out);
	cr_assert(mail_charset_to_utf8("ks_c_5601-1987", "a\xa2\xe8\xe8" "22",
				       6, out) == 0);
	cr_expect_str_eq(buf_str(out), "a\xef\xbf\xbd\xef\xbf\xbd" "22");
	check_all_splits("ks_c_5601-1987", "a\xa2\xe8\xe8" "22\xa2\xe8", 8);
	free(exact);
	buf_free(&out);
}

/* A byte-at-a-time feed of a long text never holds more than a few
 * bytes back, and a cut sequence at the very end becomes U+FFFD. */
Test(charset, streaming_bytewise_and_tail)
{
	struct mail_charset_conv *c = mail_charset_conv_new("euc-jp");
	struct buf *got = buf_new(1 << 16);
	static const char in[] = "\xc6\xfc\xcb\xdc";

	for (int k = 0; k < 1000; k++)
		for (size_t i = 0; i < 4; i++)
			cr_assert(mail_charset_conv_feed(c, in + i, 1, got) == 0);
	cr_assert(mail_charset_conv_feed(c, "\xc6", 1, got) == 0);
	cr_assert(mail_charset_conv_finish(c, got) == 0);
	cr_expect(buf_len(got) == 6000 + 3, "got %zu bytes", buf_len(got));
	cr_expect(memcmp(buf_data(got) + 6000, MAIL_UTF8_REPLACEMENT, 3) == 0);
	mail_charset_conv_free(&c);
	buf_free(&got);
}

/* Output never exceeds the buffer's maximum, whatever the input. */
Test(charset, bounded_output)
{
	static char in[100000];
	struct buf *out = buf_new(1000);

	memset(in, 0xff, sizeof(in));
	errno = 0;
	cr_expect(mail_charset_to_utf8("utf-8", in, sizeof(in), out) == -1);
	cr_expect(errno == EMSGSIZE);
	cr_expect(buf_len(out) <= 1000);
	buf_reset(out);
	memset(in, 0xa4, sizeof(in));
	cr_expect(mail_charset_to_utf8("iso-8859-15", in, sizeof(in), out) == -1);
	cr_expect(errno == EMSGSIZE && buf_len(out) <= 1000);
	buf_free(&out);
}

Test(utf8, decode_and_encode)
{
	uint8_t d[4];
	uint32_t cp;

	for (uint32_t v = 0; v <= 0x10ffff; v += (v < 0x3000 ? 1 : 97)) {
		if (v >= 0xd800 && v <= 0xdfff)
			continue;
		size_t n = mail_utf8_encode(v, d);
		cr_assert(mail_utf8_decode(d, n, &cp) == (int)n && cp == v,
			  "U+%04X", v);
		/* Every proper prefix is incomplete, not invalid. */
		for (size_t k = 1; k < n; k++)
			cr_assert(mail_utf8_decode(d, k, &cp) == 0, "U+%04X/%zu", v, k);
	}
	cr_expect(mail_utf8_decode((const uint8_t *)"\xe0\x80", 2, &cp) == -1);
	cr_expect(mail_utf8_decode((const uint8_t *)"\xed\xa0", 2, &cp) == -1);
	cr_expect(mail_utf8_decode((const uint8_t *)"\xf4\x90", 2, &cp) == -1);
	cr_expect(mail_utf8_encode(0xd800, d) == 3 && memcmp(d, "\xef\xbf\xbd", 3) == 0);
	cr_expect(mail_utf8_valid("\xc3\xa9", 2));
	cr_expect(!mail_utf8_valid("\xc3", 1));
}

/* More charsets in use than the iconv cache has slots, open at once and
 * one after the other: every converter still works (eviction closes the
 * right handles; ASan would see a double close or a leak). */
Test(charset, cache_churn)
{
	static const char *const names[] = {
		"iso-8859-2", "iso-8859-3", "iso-8859-4", "iso-8859-5",
		"iso-8859-6", "iso-8859-7", "iso-8859-8", "iso-8859-9",
		"iso-8859-10", "iso-8859-13", "iso-8859-14", "iso-8859-15",
		"windows-1250", "windows-1251", "windows-1253", "koi8-u",
	};
	size_t n = sizeof(names) / sizeof(names[0]);
	struct mail_charset_conv *c[16];

	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < n; i++) {
			c[i] = mail_charset_conv_new(names[i]);
			cr_assert(c[i] != NULL, "%s", names[i]);
		}
		for (size_t i = 0; i < n; i++) {
			struct buf *out = buf_new(16);
			cr_expect(mail_charset_conv_feed(c[i], "A", 1, out) == 0);
			cr_expect(mail_charset_conv_finish(c[i], out) == 0);
			cr_expect_str_eq(buf_str(out), "A", "%s", names[i]);
			mail_charset_conv_free(&c[i]);
			cr_expect(c[i] == NULL);
			buf_free(&out);
		}
		for (size_t i = 0; i < n; i++) {
			struct buf *out = buf_new(16);
			cr_expect(mail_charset_to_utf8(names[i], "B", 1, out) == 0);
			cr_expect_str_eq(buf_str(out), "B");
			buf_free(&out);
		}
	}
}
