/* Tests for lib/mail/casemap.c: RFC 5051 §2 i;unicode-casemap. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "mail/casemap.h"
#include "mail/utf8.h"

struct row {
	const char *in;
	const char *want;
};

static const struct row rows[] = {
	{ "", "" },
	{ "hello, World 123!", "HELLO, WORLD 123!" },
	/* RFC 5051 §2 example: U+01C4 -> U+0044 U+007A U+030C (titlecase
	 * U+01C5, then full decomposition; the z stays lower case). */
	{ "\xc7\x84", "Dz\xcc\x8c" },
	{ "\xc7\x86", "Dz\xcc\x8c" },    /* U+01C6 dž: titlecase U+01C5 too */
	/* Precomposed and decomposed forms compare equal. */
	{ "\xc3\xa9", "E\xcc\x81" },     /* é -> E + U+0301 */
	{ "e\xcc\x81", "E\xcc\x81" },
	{ "\xc3\x89", "E\xcc\x81" },
	/* Compatibility decompositions (NFKD): ﬁ ligature (no titlecase
	 * of its own, so it decomposes to lower-case "fi": RFC 5051 titlecases
	 * before decomposing), fullwidth a, superscript 2. */
	{ "\xef\xac\x81", "fi" },
	{ "\xef\xbd\x81", "A" },
	{ "\xc2\xb2", "2" },
	/* Greek final sigma and sigma both titlecase to capital sigma. */
	{ "\xcf\x82\xcf\x83", "\xce\xa3\xce\xa3" },
	/* ß has no single-character titlecase in UnicodeData: unchanged. */
	{ "\xc3\x9f", "\xc3\x9f" },
	/* Cyrillic, CJK (no case: unchanged), Hangul decomposes to jamo. */
	{ "\xd0\xbf\xd1\x80\xd0\xb8", "\xd0\x9f\xd0\xa0\xd0\x98" },
	{ "\xe6\x97\xa5\xe6\x9c\xac", "\xe6\x97\xa5\xe6\x9c\xac" },
	{ "\xea\xb0\x80", "\xe1\x84\x80\xe1\x85\xa1" },
	/* Invalid UTF-8: U+FFFD per byte. */
	{ "a\xffz", "A\xef\xbf\xbdZ" },
	{ "\xe2\x82", "\xef\xbf\xbd\xef\xbf\xbd" },
	{ "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd" },
};

Test(casemap, table)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct buf *out = buf_new(256);

		cr_expect(mail_casemap(rows[i].in, strlen(rows[i].in), out) == 0);
		cr_expect_str_eq(buf_str(out), rows[i].want, "row %zu", i);
		buf_free(&out);
	}
}

/* Casemapped text is a fixed point for ASCII, Latin and Greek (not for
 * all text: U+01C4 gives a lower-case z, see the table). */
Test(casemap, idempotent)
{
	static const char s[] = "Stra\xc3\x9f" "e \xc3\xa9t\xc3\xa9 \xce\xb1\xce\xb2\xce\xb3 \xc5\x93";
	struct buf *a = buf_new(256), *b = buf_new(256);

	cr_assert(mail_casemap(s, sizeof(s) - 1, a) == 0);
	cr_assert(mail_casemap(buf_data(a), buf_len(a), b) == 0);
	cr_expect_str_eq(buf_str(b), buf_str(a));
	buf_free(&a);
	buf_free(&b);
}

Test(casemap, bounded)
{
	struct buf *out = buf_new(10);

	cr_expect(mail_casemap("0123456789abcdef", 16, out) == -1);
	cr_expect(buf_len(out) <= 10);
	buf_free(&out);
}

/* Throughput, printed for the design notes; a floor catches an
 * accidental slow path (the real figures are far above it). */
Test(casemap, speed)
{
	size_t n = 4 << 20;
	char *ascii = malloc(n), *intl = malloc(n);
	struct buf *out = buf_new(8 * n);
	static const char mix[] = "Gr\xc3\xbc\xc3\x9f" "e \xd0\xbf\xd1\x80\xd0\xb8 \xe6\x97\xa5\xe6\x9c\xac caf\xc3\xa9 ";

	for (size_t i = 0; i < n; i++)
		ascii[i] = "The quick brown fox jumps over the lazy dog. "[i % 45];
	for (size_t i = 0; i < n; i++)
		intl[i] = mix[i % (sizeof(mix) - 1)];
	n -= n % (sizeof(mix) - 1);
	const char *txt[2] = { ascii, intl };
	const char *names[2] = { "ASCII", "non-ASCII" };
	for (int k = 0; k < 2; k++) {
		struct timespec t0, t1;
		buf_reset(out);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		cr_assert(mail_casemap(txt[k], n, out) == 0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double s = (double)(t1.tv_sec - t0.tv_sec) +
			   (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		double mbs = (double)n / 1e6 / s;
		fprintf(stderr, "casemap %s: %.0f MB/s\n", names[k], mbs);
#ifndef MOAT_SANITIZERS
		cr_expect(mbs > 5, "%s: %.1f MB/s", names[k], mbs);
#endif
	}
	free(ascii);
	free(intl);
	buf_free(&out);
}
