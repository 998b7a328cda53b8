/* Tests for lib/imap/reader.c: command framing with literals (RFC 9051
 * §4.3, RFC 7888), limits, and the same result however the input is
 * split into reads. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "imap/reader.h"

static const struct imap_reader_limits lim_default = {
	.max_line = 64, .max_literal = 100, .max_command = 300,
	.literal_minus = false,
};
static const struct imap_reader_limits lim_minus = {
	.max_line = 64, .max_literal = 10000, .max_command = 20000,
	.literal_minus = true,
};
static const struct imap_reader_limits lim_wide = {
	.max_line = 200, .max_literal = 100, .max_command = 1000,
	.literal_minus = false,
};

static void
esc(struct buf *b, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r')
			buf_append_str(b, "\\r");
		else if (p[i] == '\n')
			buf_append_str(b, "\\n");
		else if (p[i] < 0x20 || p[i] >= 0x7f)
			buf_printf(b, "\\x%02x", p[i]);
		else
			buf_append_byte(b, p[i]);
	}
}

/* Steps until MORE (or a final result) and logs the results:
 * C[command] + L(tag) T(tag) F(tag), tag "-" when none. */
static bool
drain(struct imap_reader *r, struct buf *in, struct buf *log)
{
	for (int guard = 0; guard < 100000; guard++) {
		enum imap_reader_result res = imap_reader_step(r, in);
		const char *tag = imap_reader_tag(r);
		const uint8_t *c;
		size_t len;

		if (tag == NULL)
			tag = "-";
		switch (res) {
		case IMAP_RD_MORE:
			return true;
		case IMAP_RD_COMMAND:
			c = imap_reader_command(r, &len);
			cr_assert_not_null(c, "COMMAND without data");
			buf_append_str(log, "C[");
			esc(log, c, len);
			buf_append_str(log, "] ");
			break;
		case IMAP_RD_CONTINUE:
			buf_append_str(log, "+ ");
			break;
		case IMAP_RD_LINE_TOO_LONG:
			buf_printf(log, "L(%s) ", tag);
			return false;
		case IMAP_RD_LITERAL_TOO_BIG:
			buf_printf(log, "T(%s) ", tag);
			break;
		case IMAP_RD_FATAL_TOO_BIG:
			buf_printf(log, "F(%s) ", tag);
			return false;
		}
	}
	cr_assert_fail("reader loops without consuming");
	return false;
}

/* Feeds data in pieces at the given cut points and returns the log. */
static char *
run_cuts(const struct imap_reader_limits *lim, const char *data, size_t len,
	 const size_t *cuts, size_t n_cuts)
{
	struct imap_reader *r = imap_reader_new(lim);
	struct buf *in = buf_new(1 << 20);
	struct buf *log = buf_new(1 << 20);
	size_t pos = 0;
	char *out;

	for (size_t i = 0; i <= n_cuts; i++) {
		size_t end = i < n_cuts ? cuts[i] : len;

		buf_append(in, data + pos, end - pos);
		pos = end;
		if (!drain(r, in, log))
			break;
	}
	if (imap_reader_busy(r))
		buf_append_str(log, "busy");
	out = strdup(buf_str(log));
	/* trim the trailing space for readable expectations */
	if (out[0] != '\0' && out[strlen(out) - 1] == ' ')
		out[strlen(out) - 1] = '\0';
	buf_free(&log);
	buf_free(&in);
	imap_reader_free(&r);
	cr_assert_null(r);
	return out;
}

struct row {
	const struct imap_reader_limits *lim;
	const char *in;
	size_t len;
	const char *want;
};

#define R(l, s, w) { l, s, sizeof(s) - 1, w }
#define X70 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
#define Z70 "0000000000000000000000000000000000000000000000000000000000000000000000"
#define C60 "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define D100 "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"

static const struct row rows[] = {
	R(&lim_default, "a NOOP\r\n", "C[a NOOP\\r\\n]"),
	R(&lim_default, "a NOOP\r\nb NOOP\r\n",
	  "C[a NOOP\\r\\n] C[b NOOP\\r\\n]"),
	R(&lim_default, "a NOOP\n", "C[a NOOP\\n]"),
	R(&lim_default, "a NOOP", "busy"),
	R(&lim_default, "\r\n", "C[\\r\\n]"),
	R(&lim_default, "a X\rfoo\r\n", "C[a X\\rfoo\\r\\n]"),
	R(&lim_default, "a\0 NOOP\r\n", "C[a\\x00 NOOP\\r\\n]"),
	/* sync literals: one "+" each, then the octets verbatim */
	R(&lim_default, "a LOGIN {4}\r\nuser {4}\r\npass\r\n",
	  "+ + C[a LOGIN {4}\\r\\nuser {4}\\r\\npass\\r\\n]"),
	R(&lim_default, "a X {3}\r\n\n\n\n\r\n", "+ C[a X {3}\\r\\n\\n\\n\\n\\r\\n]"),
	R(&lim_default, "a X {0}\r\n\r\n", "+ C[a X {0}\\r\\n\\r\\n]"),
	R(&lim_default, "a X {4}\nab\r\n\n", "+ C[a X {4}\\nab\\r\\n\\n]"),
	R(&lim_default, "a X {003}\r\nabc\r\n", "+ C[a X {003}\\r\\nabc\\r\\n]"),
	R(&lim_default, "a X {2}\r\n{5}\r\n", "+ C[a X {2}\\r\\n{5}\\r\\n]"),
	/* non-sync: no "+" */
	R(&lim_default, "a LOGIN {4+}\r\nuser {4+}\r\npass\r\nb NOOP\r\n",
	  "C[a LOGIN {4+}\\r\\nuser {4+}\\r\\npass\\r\\n] C[b NOOP\\r\\n]"),
	R(&lim_default, "a X {0+}\r\n\r\n", "C[a X {0+}\\r\\n\\r\\n]"),
	/* literal8 */
	R(&lim_default, "a APPEND x ~{3}\r\na\0b\r\n",
	  "+ C[a APPEND x ~{3}\\r\\na\\x00b\\r\\n]"),
	R(&lim_default, "a APPEND x ~{3+}\r\nabc\r\n",
	  "C[a APPEND x ~{3+}\\r\\nabc\\r\\n]"),
	/* not announcements: passed on for the parser to reject */
	R(&lim_default, "a X {5-}\r\n", "C[a X {5-}\\r\\n]"),
	R(&lim_default, "a X {+5}\r\n", "C[a X {+5}\\r\\n]"),
	R(&lim_default, "a X {-5}\r\n", "C[a X {-5}\\r\\n]"),
	R(&lim_default, "a X {}\r\n", "C[a X {}\\r\\n]"),
	R(&lim_default, "a X {+}\r\n", "C[a X {+}\\r\\n]"),
	R(&lim_default, "a X {5} \r\n", "C[a X {5} \\r\\n]"),
	R(&lim_default, "a X {5}x\r\n", "C[a X {5}x\\r\\n]"),
	R(&lim_default, "a X {5++}\r\n", "C[a X {5++}\\r\\n]"),
	R(&lim_default, "a X 5}\r\n", "C[a X 5}\\r\\n]"),
	/* literal limits */
	R(&lim_default, "a X {100}\r\n", "+ busy"),
	R(&lim_default, "a X {101}\r\nb NOOP\r\n", "T(a) C[b NOOP\\r\\n]"),
	R(&lim_default, "a X {101+}\r\nb NOOP\r\n", "F(a)"),
	R(&lim_default, "a X ~{101+}\r\n", "F(a)"),
	R(&lim_default, "a X {4294967296}\r\n", "T(a)"),
	R(&lim_default, "a X {99999999999999999999999}\r\n", "T(a)"),
	R(&lim_default, "a X {99999999999999999999999+}\r\n", "F(a)"),
	R(&lim_wide, "a X {" Z70 "5+}\r\n", "F(a)"),
	R(&lim_wide, "a X {" Z70 "5}\r\n", "T(a)"),
	R(&lim_wide, "a X {0000000005+}\r\nhello\r\n",
	  "C[a X {0000000005+}\\r\\nhello\\r\\n]"),
	R(&lim_minus, "a X {4097+}\r\n", "F(a)"),
	R(&lim_minus, "a X {4097}\r\n", "+ busy"),
	R(&lim_minus, "a X {4096+}\r\n", "busy"),
	/* the command total: 3 * ~110 > 300 */
	R(&lim_default, "a X {100+}\r\n" D100 " {100+}\r\n" D100 " {100+}\r\n",
	  "F(a)"),
	R(&lim_default, "a X {100+}\r\n" D100 " {100+}\r\n" D100 " {100}\r\n"
	  "b NOOP\r\n", "T(a) C[b NOOP\\r\\n]"),
	/* line limits: content of max_line passes, one more does not. Over
	 * the limit is final and reported at once, CRLF or not: nothing
	 * after it is run. */
	R(&lim_default, "a " C60 "xx\r\n", "C[a " C60 "xx\\r\\n]"),
	R(&lim_default, "a " C60 "xx\r", "busy"),
	R(&lim_default, "a " C60 "xxx", "busy"),
	R(&lim_default, "a " C60 "xxxx", "L(a)"),
	R(&lim_default, "a " C60 "xxx\r\nb NOOP\r\n", "L(a)"),
	R(&lim_default, "a " C60 "xxx\nb NOOP\r\n", "L(a)"),
	R(&lim_default, "a " X70 "\r\nb NOOP\r\n", "L(a)"),
	R(&lim_default, "a " X70 X70 X70 "\r\n", "L(a)"),
	R(&lim_default, "a " X70, "L(a)"),
	R(&lim_default, "a " X70 X70 X70, "L(a)"),
	R(&lim_default, "+x " X70 "\r\n", "L(-)"),
	R(&lim_default, X70 " NOOP\r\n", "L(-)"),
	R(&lim_default, X70, "L(-)"),
	/* an over-long line that announces a literal: the literal and what
	 * follows are never run, whatever the announcement */
	R(&lim_default, "a X " X70 " {5+}\r\nb NOOP rest\r\nc NOOP\r\n",
	  "L(a)"),
	R(&lim_default, "a X " X70 " {5}\r\nb NOOP\r\n", "L(a)"),
	R(&lim_default, "a X " X70 " {101+}\r\n", "L(a)"),
	R(&lim_minus, "a X " X70 " {4097+}\r\n", "L(a)"),
	/* a line after a literal is over the limit */
	R(&lim_default, "a X {2+}\r\nhi " X70 "\r\nb NOOP\r\n", "L(a)"),
	R(&lim_default, "a X {2}\r\nhi " X70 "\r\nb NOOP\r\n", "+ L(a)"),
	R(&lim_default, "a X {2}\r\nhi " X70, "+ L(a)"),
	/* lines that would push the command past max_command (300) */
	R(&lim_default, "a X {100+}\r\n" D100 " {100+}\r\n" D100 " {20+}\r\n"
	  "dddddddddddddddddddd" C60, "L(a)"),
	R(&lim_default, "a X {100+}\r\n" D100 " {100+}\r\n" D100 " {20+}\r\n"
	  "dddddddddddddddddddd" "ccc\r\n",
	  "C[a X {100+}\\r\\n" D100 " {100+}\\r\\n" D100 " {20+}\\r\\n"
	  "dddddddddddddddddddd" "ccc\\r\\n]"),
};

static void
check_row(size_t i, const struct row *r)
{
	char *whole = run_cuts(r->lim, r->in, r->len, NULL, 0);

	cr_assert_str_eq(whole, r->want, "row %zu: got \"%s\", want \"%s\"",
			 i, whole, r->want);
	/* Every split point, and byte by byte: same result. */
	for (size_t k = 0; k <= r->len; k++) {
		char *got = run_cuts(r->lim, r->in, r->len, &k, 1);

		cr_assert_str_eq(got, r->want,
				 "row %zu split at %zu: got \"%s\", want \"%s\"",
				 i, k, got, r->want);
		free(got);
	}
	{
		size_t *cuts = malloc((r->len + 1) * sizeof(*cuts));
		char *got;

		for (size_t k = 0; k < r->len; k++)
			cuts[k] = k;
		got = run_cuts(r->lim, r->in, r->len, cuts, r->len);
		cr_assert_str_eq(got, r->want,
				 "row %zu byte by byte: got \"%s\", want \"%s\"",
				 i, got, r->want);
		free(got);
		free(cuts);
	}
	free(whole);
}

Test(reader, table)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		check_row(i, &rows[i]);
}

Test(reader, literal_minus_4096_accepted)
{
	struct imap_reader *r = imap_reader_new(&lim_minus);
	struct buf *in = buf_new(1 << 20);
	const uint8_t *c;
	size_t len;
	char *lit = malloc(4096);

	memset(lit, 'q', 4096);
	buf_append_str(in, "a APPEND x {4096+}\r\n");
	buf_append(in, lit, 4096);
	buf_append_str(in, "\r\n");
	cr_assert_eq(imap_reader_step(r, in), IMAP_RD_COMMAND,
		     "4096-octet non-sync literal under LITERAL-: refused");
	c = imap_reader_command(r, &len);
	cr_assert_eq(len, 20 + 4096 + 2, "len: got %zu", len);
	cr_assert_eq(memcmp(c + 20, lit, 4096), 0);
	free(lit);
	buf_free(&in);
	imap_reader_free(&r);
}

Test(reader, consumes_only_one_command)
{
	struct imap_reader *r = imap_reader_new(&lim_default);
	struct buf *in = buf_new(1024);
	const uint8_t *c;
	size_t len;

	buf_append_str(in, "a NOOP\r\nb NO");
	cr_assert_eq(imap_reader_step(r, in), IMAP_RD_COMMAND);
	cr_assert_eq(buf_len(in), 4, "left in input: got %zu, want 4",
		     buf_len(in));
	cr_assert_not(imap_reader_busy(r), "busy after COMMAND");
	c = imap_reader_command(r, &len);
	cr_assert_eq(len, 8);
	cr_assert_eq(memcmp(c, "a NOOP\r\n", 8), 0);
	cr_assert_str_eq(imap_reader_tag(r), "a");
	/* Still there on a second look. */
	c = imap_reader_command(r, &len);
	cr_assert_eq(len, 8);

	cr_assert_eq(imap_reader_step(r, in), IMAP_RD_MORE);
	cr_assert_eq(buf_len(in), 0);
	cr_assert(imap_reader_busy(r), "partial command: not busy");
	cr_assert_null(imap_reader_command(r, &len),
		       "command available while partial");
	buf_append_str(in, "OP\r\n");
	cr_assert_eq(imap_reader_step(r, in), IMAP_RD_COMMAND);
	c = imap_reader_command(r, &len);
	cr_assert_eq(memcmp(c, "b NOOP\r\n", 8), 0);
	cr_assert_str_eq(imap_reader_tag(r), "b");
	buf_free(&in);
	imap_reader_free(&r);
}

Test(reader, reset_drops_partial)
{
	struct imap_reader *r = imap_reader_new(&lim_default);
	struct buf *in = buf_new(1024);
	const uint8_t *c;
	size_t len;

	buf_append_str(in, "a LOGIN {5}\r\n");
	cr_assert_eq(imap_reader_step(r, in), IMAP_RD_CONTINUE);
	cr_assert(imap_reader_busy(r));
	imap_reader_reset(r);
	cr_assert_not(imap_reader_busy(r));
	buf_append_str(in, "b NOOP\r\n");
	cr_assert_eq(imap_reader_step(r, in), IMAP_RD_COMMAND);
	c = imap_reader_command(r, &len);
	cr_assert_eq(len, 8, "got %zu bytes, want the new command only", len);
	cr_assert_eq(memcmp(c, "b NOOP\r\n", 8), 0);
	buf_free(&in);
	imap_reader_free(&r);
}

Test(reader, fatal_is_sticky)
{
	struct imap_reader *r = imap_reader_new(&lim_default);
	struct buf *in = buf_new(1024);

	buf_append_str(in, "a X {1000+}\r\nb NOOP\r\n");
	cr_assert_eq(imap_reader_step(r, in), IMAP_RD_FATAL_TOO_BIG);
	cr_assert_str_eq(imap_reader_tag(r), "a");
	cr_assert_eq(imap_reader_step(r, in), IMAP_RD_FATAL_TOO_BIG,
		     "after FATAL the stream is lost; got another result");
	buf_free(&in);
	imap_reader_free(&r);
}

/* The attack of issue 5 item 10: an endless line without CRLF. The
 * reader must report it once the limit is passed, keep none of it, and
 * stay refusing (the caller closes the connection). */
Test(reader, too_long_reported_before_crlf)
{
	struct imap_reader *r = imap_reader_new(&lim_default);
	struct buf *in = buf_new(1 << 20);
	size_t len;

	buf_append_str(in, "tag1 X ");
	cr_assert_eq(imap_reader_step(r, in), IMAP_RD_MORE);
	for (int i = 0; i < 10000; i++)
		buf_append_str(in, "yyyyyyyyyy");
	cr_assert_eq(imap_reader_step(r, in), IMAP_RD_LINE_TOO_LONG,
		     "100000 bytes without LF: want LINE_TOO_LONG at once");
	cr_assert_eq(buf_len(in), 0, "got %zu bytes left, want 0",
		     buf_len(in));
	cr_assert_str_eq(imap_reader_tag(r), "tag1");
	cr_assert_null(imap_reader_command(r, &len));
	cr_assert_not(imap_reader_busy(r), "busy after a final result");

	buf_append_str(in, "\r\nb NOOP\r\n");
	cr_assert_eq(imap_reader_step(r, in), IMAP_RD_LINE_TOO_LONG,
		     "LINE_TOO_LONG must be final; got another result");
	cr_assert_eq(buf_len(in), 10, "consumed %zu bytes after the final "
		     "result, want none", 10 - buf_len(in));

	/* STARTTLS-style reset starts a sound stream again. */
	imap_reader_reset(r);
	buf_reset(in);
	buf_append_str(in, "b NOOP\r\n");
	cr_assert_eq(imap_reader_step(r, in), IMAP_RD_COMMAND);
	buf_free(&in);
	imap_reader_free(&r);
}

Test(reader, too_long_raw_line_before_crlf)
{
	struct imap_reader *r = imap_reader_new(&lim_default);
	struct buf *in = buf_new(1 << 20);
	const uint8_t *line;
	size_t len;
	bool too_long;

	buf_append_str(in, "dXNlcg");
	cr_assert_not(imap_reader_line(r, in, &line, &len, &too_long));
	for (int i = 0; i < 1000; i++)
		buf_append_str(in, "QUFBQUFB");
	cr_assert(imap_reader_line(r, in, &line, &len, &too_long),
		  "8000 bytes without LF: want a too_long report at once");
	cr_assert(too_long);
	cr_assert_null(line);
	buf_append_str(in, "\r\nok\r\n");
	cr_assert(imap_reader_line(r, in, &line, &len, &too_long));
	cr_assert(too_long, "too_long must be final");
	cr_assert_eq(buf_len(in), 6, "consumed after the final result");
	buf_free(&in);
	imap_reader_free(&r);
}

Test(reader, set_limits_applies)
{
	struct imap_reader *r = imap_reader_new(&lim_default);
	struct imap_reader_limits big = lim_default;
	struct buf *in = buf_new(1024);

	buf_append_str(in, "a X {200}\r\n");
	cr_assert_eq(imap_reader_step(r, in), IMAP_RD_LITERAL_TOO_BIG);
	big.max_literal = 200;
	big.max_command = 1000;
	imap_reader_set_limits(r, &big);
	buf_append_str(in, "a X {200}\r\n");
	cr_assert_eq(imap_reader_step(r, in), IMAP_RD_CONTINUE);
	buf_free(&in);
	imap_reader_free(&r);
}

/* A large literal arriving in small reads: linear, and exact. */
Test(reader, big_literal_in_pieces)
{
	struct imap_reader_limits lim = {
		.max_line = 8192, .max_literal = 4 << 20,
		.max_command = 5 << 20,
	};
	struct imap_reader *r = imap_reader_new(&lim);
	struct buf *in = buf_new(1 << 20);
	size_t total = 4 << 20, sent = 0, len;
	uint8_t piece[4096];
	const uint8_t *c;

	buf_printf(in, "a APPEND INBOX {%zu}\r\n", total);
	cr_assert_eq(imap_reader_step(r, in), IMAP_RD_CONTINUE);
	while (sent < total) {
		for (size_t i = 0; i < sizeof(piece); i++)
			piece[i] = (uint8_t)(sent + i);
		buf_append(in, piece, sizeof(piece));
		sent += sizeof(piece);
		cr_assert_eq(imap_reader_step(r, in), IMAP_RD_MORE);
	}
	buf_append_str(in, "\r\n");
	cr_assert_eq(imap_reader_step(r, in), IMAP_RD_COMMAND);
	c = imap_reader_command(r, &len);
	cr_assert_eq(len, strlen("a APPEND INBOX {4194304}\r\n") + total + 2);
	for (size_t i = 0; i < total; i += 997) {
		size_t off = strlen("a APPEND INBOX {4194304}\r\n");

		cr_assert_eq(c[off + i], (uint8_t)i, "octet %zu changed", i);
	}
	buf_free(&in);
	imap_reader_free(&r);
}

struct line_row {
	const char *in;
	const char *want;   /* lines joined by "|", "!" for too long */
};

static const struct line_row line_rows[] = {
	{ "abc\r\n", "abc" },
	{ "abc\n", "abc" },
	{ "\r\n", "" },
	{ "a\r\nb\r\n", "a|b" },
	{ "a\rb\r\n", "a\rb" },
	{ "*\r\n", "*" },
	{ X70 "\r\nok\r\n", "!" },
	{ X70 X70 X70 "\r\nok\r\n", "!" },
	{ "ok\r\n" X70, "ok|!" },
	{ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n",
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" },
	{ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n",
	  "!" },
	{ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r", "" },
	{ "partial", "" },
};

static char *
run_lines(const char *data, size_t len, size_t step)
{
	struct imap_reader *r = imap_reader_new(&lim_default);
	struct buf *in = buf_new(1 << 16);
	struct buf *log = buf_new(1 << 16);
	size_t pos = 0;
	bool first = true, final = false;
	char *out;

	while (!final && (pos < len || buf_len(in) > 0)) {
		const uint8_t *line;
		size_t n = len - pos < step ? len - pos : step, llen;
		bool too_long;

		buf_append(in, data + pos, n);
		pos += n;
		while (imap_reader_line(r, in, &line, &llen, &too_long)) {
			if (!first)
				buf_append_byte(log, '|');
			first = false;
			if (too_long) {
				cr_assert_null(line);
				buf_append_byte(log, '!');
				final = true;
				break;
			} else {
				buf_append(log, line, llen);
			}
		}
		if (pos == len)
			break;
	}
	out = strdup(buf_str(log));
	buf_free(&log);
	buf_free(&in);
	imap_reader_free(&r);
	return out;
}

Test(reader, raw_lines)
{
	for (size_t i = 0; i < sizeof(line_rows) / sizeof(line_rows[0]); i++) {
		const struct line_row *r = &line_rows[i];
		size_t len = strlen(r->in);

		for (size_t step = 1; step <= len; step++) {
			char *got = run_lines(r->in, len, step);

			cr_assert_str_eq(got, r->want,
					 "row %zu step %zu: got \"%s\", want \"%s\"",
					 i, step, got, r->want);
			free(got);
		}
	}
}

Test(reader, tag_only_when_whole)
{
	struct imap_reader *r = imap_reader_new(&lim_default);
	struct buf *in = buf_new(1024);
	const char *tag;

	buf_append_str(in, "abc");
	cr_assert_eq(imap_reader_step(r, in), IMAP_RD_MORE);
	tag = imap_reader_tag(r);
	cr_assert_null(tag, "partial first token: got tag \"%s\", want NULL",
		       tag);
	buf_append_str(in, "d X {1000}\r\n");
	cr_assert_eq(imap_reader_step(r, in), IMAP_RD_LITERAL_TOO_BIG);
	tag = imap_reader_tag(r);
	cr_assert_not_null(tag);
	cr_assert_str_eq(tag, "abcd", "got \"%s\", want abcd", tag);
	buf_free(&in);
	imap_reader_free(&r);
}
