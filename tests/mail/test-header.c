/* Tests for lib/mail/header.c: RFC 5322 §2.2 field iteration, unfolding,
 * lookup and the HEADER.FIELDS filter, with real-world breakage. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "mail/header.h"

/* Each case: a header block and the fields it must give, as
 * "name|unfolded value" joined with "\n" ("" for none). */
static const struct {
	const char *name;
	const char *in;
	size_t len;         /* 0: strlen */
	const char *want;
} iter_cases[] = {
	{ "simple", "From: a@b\r\nTo: c@d\r\n\r\nbody", 0,
	  "From|a@b\nTo|c@d" },
	{ "bare LF", "From: a@b\nTo: c@d\n\nbody: no\n", 0,
	  "From|a@b\nTo|c@d" },
	/* RFC 5322 §2.2.3 */
	{ "folded", "Subject: This\r\n is a test\r\n\tfolded\r\n\r\n", 0,
	  "Subject|This is a test\tfolded" },
	{ "obs WSP before colon (§4.5.3)", "Subject  \t: hi\r\n", 0,
	  "Subject|hi" },
	{ "no colon skipped", "From a@b Mon Jan 1\r\njunk line\r\nTo: x\r\n", 0,
	  "To|x" },
	{ "mbox From_ line skipped", "From foo@bar Thu Jan  1 00:00:00 1970\r\n"
	  "Subject: s\r\n\r\n", 0, "Subject|s" },
	{ "leading continuation skipped", " orphan\r\nA: 1\r\n", 0, "A|1" },
	{ "empty name skipped", ": x\r\nB: 2\r\n", 0, "B|2" },
	{ "space inside name skipped", "Bad Name: x\r\n more\r\nC: 3\r\n", 0,
	  "C|3" },
	{ "8-bit value (RFC 6532)", "Subject: \xc3\xa9t\xc3\xa9\r\n", 0,
	  "Subject|\xc3\xa9t\xc3\xa9" },
	{ "EOF without empty line", "A: 1\r\nB: 2", 0, "A|1\nB|2" },
	{ "empty value", "A:\r\nB:   \r\n", 0, "A|\nB|" },
	{ "only body", "\r\nA: 1\r\n", 0, "" },
	{ "colon in value", "A: b: c\r\n", 0, "A|b: c" },
	{ "empty input", "", 0, "" },
};

static char *
collect(const char *in, size_t len)
{
	struct buf *out = buf_new(1 << 20), *v = buf_new(1 << 20);
	struct mail_header_iter it;
	struct mail_header_field f;
	char *r;

	mail_header_iter_init(&it, in, len);
	while (mail_header_next(&it, &f)) {
		if (buf_len(out) > 0)
			buf_append_byte(out, '\n');
		buf_append(out, f.name, f.name_len);
		buf_append_byte(out, '|');
		buf_reset(v);
		cr_assert_eq(mail_header_unfold(v, f.value, f.value_len), 0);
		buf_append(out, buf_data(v), buf_len(v));
	}
	r = strdup(buf_str(out));
	buf_free(&out);
	buf_free(&v);
	return r;
}

Test(header, iterate_table)
{
	for (size_t i = 0; i < sizeof(iter_cases) / sizeof(iter_cases[0]); i++) {
		size_t len = iter_cases[i].len ? iter_cases[i].len :
			     strlen(iter_cases[i].in);
		char *got = collect(iter_cases[i].in, len);

		cr_assert_str_eq(got, iter_cases[i].want,
				 "[%s] got \"%s\", want \"%s\"",
				 iter_cases[i].name, got, iter_cases[i].want);
		free(got);
	}
}

Test(header, nul_bytes_are_value_bytes)
{
	static const char in[] = "A: x\0y\r\nB: 2\r\n\r\n";
	struct mail_header_iter it;
	struct mail_header_field f;

	mail_header_iter_init(&it, in, sizeof(in) - 1);
	cr_assert(mail_header_next(&it, &f));
	cr_assert_eq(f.value_len, 4, "got %zu", f.value_len);
	cr_assert_eq(memcmp(f.value, " x\0y", 4), 0);
	cr_assert(mail_header_next(&it, &f));
	cr_assert_eq(f.name_len, 1);
	cr_assert_eq(f.name[0], 'B');
	cr_assert(!mail_header_next(&it, &f));
}

Test(header, raw_keeps_folding_and_line_end)
{
	static const char in[] = "Subject: a\r\n b\r\nX: y\r\n\r\n";
	struct mail_header_field f;

	cr_assert(mail_header_find(in, strlen(in), "subject", &f));
	cr_assert_eq(f.raw_len, 16);
	cr_assert_eq(memcmp(f.raw, "Subject: a\r\n b\r\n", 16), 0);
	cr_assert_eq(f.value_len, 6);
	cr_assert_eq(memcmp(f.value, " a\r\n b", 6), 0);
}

Test(header, huge_line)
{
	size_t n = 4 << 20;
	char *in = malloc(n + 32);
	struct mail_header_iter it;
	struct mail_header_field f;

	memcpy(in, "X-Big: ", 7);
	memset(in + 7, 'a', n);
	memcpy(in + 7 + n, "\r\nY: 1\r\n\r\n", 10);
	mail_header_iter_init(&it, in, n + 17);
	cr_assert(mail_header_next(&it, &f));
	cr_assert_eq(f.value_len, n + 1);
	cr_assert(mail_header_next(&it, &f));
	cr_assert(mail_header_name_is(&f, "y"));
	cr_assert(!mail_header_next(&it, &f));
	free(in);
}

Test(header, field_limit)
{
	size_t n = MAIL_HEADER_MAX_FIELDS + 50;
	char *in = malloc(n * 6 + 1), *p = in;
	struct mail_header_iter it;
	struct mail_header_field f;
	size_t got = 0;

	for (size_t i = 0; i < n; i++) {
		memcpy(p, "A: 1\r\n", 6);
		p += 6;
	}
	mail_header_iter_init(&it, in, (size_t)(p - in));
	while (mail_header_next(&it, &f))
		got++;
	cr_assert_eq(got, MAIL_HEADER_MAX_FIELDS, "got %zu", got);
	free(in);
}

Test(header, byte_limit)
{
	size_t n = MAIL_HEADER_MAX_BYTES + 100;
	char *in = malloc(n);
	struct mail_header_iter it;
	struct mail_header_field f;

	memset(in, 'a', n);
	memcpy(in, "A: 1\r\nB: ", 9);
	mail_header_iter_init(&it, in, n);
	cr_assert(mail_header_next(&it, &f));
	cr_assert(mail_header_next(&it, &f));
	cr_assert(mail_header_name_is(&f, "b"));
	cr_assert_eq((size_t)(f.raw - (const uint8_t *)in) + f.raw_len,
		     MAIL_HEADER_MAX_BYTES);
	cr_assert(!mail_header_next(&it, &f));
	free(in);
}

Test(header, block_len)
{
	static const struct {
		const char *in;
		size_t want;
	} c[] = {
		{ "A: 1\r\n\r\nbody", 8 },
		{ "A: 1\n\nbody", 6 },
		{ "\r\nbody", 2 },
		{ "A: 1\r\nB: 2", 10 },
		{ "A: 1\r\n \r\nB: 2\r\n\r\n", 17 },        /* WSP line folds */
		{ "", 0 },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		size_t got = mail_header_block_len((const uint8_t *)c[i].in,
						   strlen(c[i].in));

		cr_assert_eq(got, c[i].want, "[%zu] got %zu, want %zu", i, got,
			     c[i].want);
	}
}

Test(header, find_first_of_many)
{
	static const char in[] = "Received: 1\r\nreceived: 2\r\nTo: x\r\n";
	struct mail_header_iter it;
	struct mail_header_field f;
	int n = 0;

	cr_assert(mail_header_find(in, strlen(in), "RECEIVED", &f));
	cr_assert_eq(f.value[1], '1');
	cr_assert(!mail_header_find(in, strlen(in), "Cc", &f));
	mail_header_iter_init(&it, in, strlen(in));
	while (mail_header_next(&it, &f))
		n += mail_header_name_is(&f, "received");
	cr_assert_eq(n, 2);
}

/* RFC 9051 §6.4.5: HEADER.FIELDS gives the selected fields as they are
 * plus the blank line; .NOT gives the others. */
Test(header, filter_fields)
{
	static const char in[] = "From: a\r\nSubject: s\r\n x\r\nTo: t\r\n"
				 "subject: again\r\n\r\nbody\r\n";
	static const char *const names[] = { "SUBJECT", "cc" };
	static const struct {
		bool not_;
		const char *want;
	} c[] = {
		{ false, "Subject: s\r\n x\r\nsubject: again\r\n\r\n" },
		{ true, "From: a\r\nTo: t\r\n\r\n" },
	};
	for (size_t i = 0; i < 2; i++) {
		struct buf *out = buf_new(4096);

		cr_assert_eq(mail_header_filter(out, in, strlen(in), names, 2,
						c[i].not_), 0);
		cr_assert_str_eq(buf_str(out), c[i].want, "[%zu] got \"%s\"", i,
				 buf_str(out));
		buf_free(&out);
	}
}

Test(header, filter_no_match_and_eof)
{
	static const char *const names[] = { "X" };
	struct buf *out = buf_new(4096);

	cr_assert_eq(mail_header_filter(out, "A: 1\r\n", 6, names, 1, false), 0);
	cr_assert_str_eq(buf_str(out), "\r\n");
	buf_reset(out);
	cr_assert_eq(mail_header_filter(out, "X: 1", 4, names, 1, false), 0);
	cr_assert_str_eq(buf_str(out), "X: 1\r\n\r\n");
	buf_free(&out);
	out = buf_new(3);
	cr_assert_eq(mail_header_filter(out, "X: 1\r\n", 6, names, 1, false), -1);
	buf_free(&out);
}
