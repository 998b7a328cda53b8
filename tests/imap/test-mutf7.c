/* Tests for lib/imap/mutf7.c: RFC 3501 §5.1.3 modified UTF-7, canonical
 * forms only, both directions. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "core/buf.h"
#include "imap/mutf7.h"

struct row {
	const char *mutf7;
	size_t mlen;
	const char *utf8;   /* NULL: the modified UTF-7 must be refused */
};

#define R(m, u) { m, sizeof(m) - 1, u }

/* Both directions: each valid row must decode to utf8 and utf8 must
 * encode back to exactly the same mutf7 (the canonical form). */
static const struct row rows[] = {
	R("", ""),
	R("INBOX", "INBOX"),
	R("a b~c\\d/e.f", "a b~c\\d/e.f"),
	/* §5.1.3: '"&" (0x26) is represented by the two-octet sequence
	 * "&-"'. */
	R("&-", "&"),
	R("Tom &- Jerry", "Tom & Jerry"),
	R("&-&-", "&&"),
	/* §5.1.3: "~peter/mail/&U,BTFw-/&ZeVnLIqe-" mixes English, Chinese
	 * and Japanese (U+53F0 U+5317, U+65E5 U+672C U+8A9E). */
	R("~peter/mail/&U,BTFw-/&ZeVnLIqe-",
	  "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/"
	  "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"),
	/* §5.1.3: 'The correct form is "&Jjo-!"' (U+263A). */
	R("&Jjo-!", "\xe2\x98\xba!"),
	/* §5.1.3: the correct form of "&U,BTFw-&ZeVnLIqe-" is one run. */
	R("&U,BTF2XlZyyKng-",
	  "\xe5\x8f\xb0\xe5\x8c\x97\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"),
	R("Entw&APw-rfe", "Entw\xc3\xbc" "rfe"),
	R("&AOQA9gD8-", "\xc3\xa4\xc3\xb6\xc3\xbc"),
	/* A run followed by a literal "-": the run's own "-" comes first. */
	R("&AOk--", "\xc3\xa9-"),
	R("&AOk-&-", "\xc3\xa9&"),
	/* Outside the BMP: a surrogate pair (U+1F600). */
	R("&2D3eAA-", "\xf0\x9f\x98\x80"),
	/* Control characters are not printable ASCII, so they are encoded
	 * (mailbox-name.c refuses them; the codec carries them). */
	R("&AAk-", "\t"),
	R("&AH8-", "\x7f"),
	/* Decode-only failures (utf8 NULL). */
	R("&Jjo!", NULL),               /* §5.1.3: no shift back before "!" */
	R("&U,BTFw-&ZeVnLIqe-", NULL),  /* §5.1.3: superfluous shift */
	R("&", NULL),                   /* unterminated */
	R("&AGE", NULL),                /* unterminated run */
	R("abc&", NULL),
	R("&AGE-", NULL),               /* "a" must represent itself */
	R("&ACY-", NULL),               /* "&" encoded instead of "&-" */
	R("&ACA-", NULL),               /* SP encoded */
	R("&AH4-", NULL),               /* "~" encoded */
	R("&AAA-", NULL),               /* U+0000 */
	R("&AOk", NULL),
	R("&AOl-", NULL),               /* padding bits not zero */
	R("&AOkA-", NULL),              /* a superfluous base64 character */
	R("&AA-", NULL),                /* 12 bits: no complete unit */
	R("&A-", NULL),
	R("&AOk/-", NULL),              /* "/" is not modified base64 */
	R("&AOk=-", NULL),              /* no padding in modified base64 */
	R("&2D0-", NULL),               /* lone high surrogate */
	R("&3gA-", NULL),               /* lone low surrogate */
	R("&2D3YPQ-", NULL),            /* high surrogate then high */
	R("&2D0AZQ-", NULL),            /* high surrogate then BMP char */
	R("\xc3\xa9", NULL),            /* raw 8-bit */
	R("a\tb", NULL),                /* raw control */
	R("a\x7f" "b", NULL),
	R("a\0b", NULL),                /* raw NUL */
	R("&AOk-&AOk-", NULL),          /* two runs back to back */
};

Test(mutf7, table)
{
	struct buf *b = buf_new(4096);

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		int ret;

		buf_reset(b);
		buf_append_str(b, "x");
		ret = mutf7_to_utf8(r->mutf7, r->mlen, b);
		if (r->utf8 == NULL) {
			cr_assert_eq(ret, -1, "row %zu \"%s\": got \"%s\", want "
				     "an error", i, r->mutf7, buf_str(b) + 1);
			cr_assert_eq(errno, EINVAL, "row %zu", i);
			cr_assert_str_eq(buf_str(b), "x",
					 "row %zu: output not rolled back", i);
			cr_assert(!mutf7_valid(r->mutf7, r->mlen), "row %zu", i);
			continue;
		}
		cr_assert_eq(ret, 0, "row %zu \"%s\": got an error, want \"%s\"",
			     i, r->mutf7, r->utf8);
		cr_assert_str_eq(buf_str(b) + 1, r->utf8,
				 "row %zu: got \"%s\", want \"%s\"", i,
				 buf_str(b) + 1, r->utf8);
		cr_assert(mutf7_valid(r->mutf7, r->mlen), "row %zu", i);

		buf_reset(b);
		cr_assert_eq(mutf7_from_utf8(r->utf8, strlen(r->utf8), b), 0,
			     "row %zu: encoding failed", i);
		cr_assert_str_eq(buf_str(b), r->mutf7,
				 "row %zu: encoded to \"%s\", want \"%s\"", i,
				 buf_str(b), r->mutf7);
	}
	buf_free(&b);
}

/* UTF-8 the encoder must refuse (RFC 3629 §3, §4, §10). */
static const struct { const char *s; size_t len; } bad_utf8[] = {
	{ "\xc3", 1 },                   /* truncated */
	{ "\xe2\x98", 2 },
	{ "\x80", 1 },                   /* lone continuation */
	{ "\xc0\xaf", 2 },               /* overlong "/" */
	{ "\xc1\xbf", 2 },
	{ "\xe0\x80\xaf", 3 },           /* overlong "/" */
	{ "\xf0\x80\x80\xaf", 4 },
	{ "\xed\xa0\x80", 3 },           /* UTF-16 surrogate U+D800 */
	{ "\xed\xbf\xbf", 3 },
	{ "\xf4\x90\x80\x80", 4 },       /* U+110000 */
	{ "\xf5\x80\x80\x80", 4 },
	{ "\xff", 1 },
	{ "a\0b", 3 },                   /* NUL */
	{ "\xc3\xa9\xc3", 3 },
};

Test(mutf7, bad_utf8)
{
	struct buf *b = buf_new(256);

	for (size_t i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++) {
		buf_reset(b);
		buf_append_str(b, "keep");
		cr_assert_eq(mutf7_from_utf8(bad_utf8[i].s, bad_utf8[i].len, b),
			     -1, "row %zu: invalid UTF-8 accepted", i);
		cr_assert_eq(errno, EINVAL, "row %zu", i);
		cr_assert_str_eq(buf_str(b), "keep", "row %zu", i);
		cr_assert(!mutf7_utf8_valid(bad_utf8[i].s, bad_utf8[i].len),
			  "row %zu", i);
	}
	buf_free(&b);
}

Test(mutf7, utf8_boundaries)
{
	unsigned long cp;

	cr_assert_eq(mutf7_utf8_next("\x7f", 1, &cp), 1);
	cr_assert_eq(cp, 0x7f);
	cr_assert_eq(mutf7_utf8_next("\xc2\x80", 2, &cp), 2);
	cr_assert_eq(cp, 0x80);
	cr_assert_eq(mutf7_utf8_next("\xed\x9f\xbf", 3, &cp), 3);
	cr_assert_eq(cp, 0xd7ff);
	cr_assert_eq(mutf7_utf8_next("\xee\x80\x80", 3, &cp), 3);
	cr_assert_eq(cp, 0xe000);
	cr_assert_eq(mutf7_utf8_next("\xf4\x8f\xbf\xbf", 4, &cp), 4);
	cr_assert_eq(cp, 0x10ffff);
	/* Only len bytes may be read: a 2-byte lead with 1 byte left. */
	cr_assert_eq(mutf7_utf8_next("\xc3\xa9", 1, &cp), 0);
}

/* The output buffer's maximum is a hard limit, with a rollback. */
Test(mutf7, output_limit)
{
	struct buf *b = buf_new(8);

	cr_assert_eq(mutf7_to_utf8("&U,BTF2XlZyyKng-", 16, b), -1);
	cr_assert_eq(errno, EMSGSIZE);
	cr_assert_eq(buf_len(b), 0);
	cr_assert_eq(mutf7_from_utf8("\xe5\x8f\xb0\xe5\x8c\x97\xe6\x97\xa5",
				     9, b), -1);
	cr_assert_eq(errno, EMSGSIZE);
	cr_assert_eq(buf_len(b), 0);
	cr_assert_eq(mutf7_from_utf8("&&&&", 4, b), 0);
	cr_assert_str_eq(buf_str(b), "&-&-&-&-");
	buf_free(&b);
}

/* Every BMP scalar value and a sample above it survive a round trip,
 * and the decoder accepts exactly what the encoder produces. */
Test(mutf7, roundtrip_all_bmp)
{
	struct buf *u = buf_new(64), *m = buf_new(64), *back = buf_new(64);
	unsigned long cps[3];

	for (unsigned long cp = 1; cp <= 0x10ffff; cp += cp < 0x10000 ? 1 : 997) {
		char s[16];
		size_t n = 0;

		if (cp >= 0xd800 && cp <= 0xdfff)
			continue;
		/* Pair the character with itself and an ASCII neighbour so
		 * runs of two units and run ends are exercised too. */
		cps[0] = cp;
		cps[1] = cp;
		cps[2] = 'z';
		for (int k = 0; k < 3; k++) {
			unsigned long c = cps[k];

			if (c < 0x80) {
				s[n++] = (char)c;
			} else if (c < 0x800) {
				s[n++] = (char)(0xc0 | c >> 6);
				s[n++] = (char)(0x80 | (c & 0x3f));
			} else if (c < 0x10000) {
				s[n++] = (char)(0xe0 | c >> 12);
				s[n++] = (char)(0x80 | ((c >> 6) & 0x3f));
				s[n++] = (char)(0x80 | (c & 0x3f));
			} else {
				s[n++] = (char)(0xf0 | c >> 18);
				s[n++] = (char)(0x80 | ((c >> 12) & 0x3f));
				s[n++] = (char)(0x80 | ((c >> 6) & 0x3f));
				s[n++] = (char)(0x80 | (c & 0x3f));
			}
		}
		buf_reset(m);
		buf_reset(back);
		cr_assert_eq(mutf7_from_utf8(s, n, m), 0, "U+%04lX", cp);
		cr_assert_eq(mutf7_to_utf8(buf_str(m), buf_len(m), back), 0,
			     "U+%04lX: \"%s\" refused", cp, buf_str(m));
		cr_assert_eq(buf_len(back), n, "U+%04lX", cp);
		cr_assert(memcmp(buf_data(back), s, n) == 0, "U+%04lX", cp);
	}
	buf_free(&u);
	buf_free(&m);
	buf_free(&back);
}
