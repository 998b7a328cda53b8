/* Tests for lib/imap/id.c: RFC 2971 argument rules and limits (§3.3,
 * §4), log escaping, and our reply. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/pool.h"
#include "imap/id.h"
#include "imap/parser.h"

struct row {
	const char *cmd;      /* full command line(s) */
	size_t len;
	const char *want;     /* log text, or NULL for an error */
};

#define OK(s, w) { s, sizeof(s) - 1, w }
#define BAD(s) { s, sizeof(s) - 1, NULL }

static const struct row rows[] = {
	OK("a ID NIL\r\n", "NIL"),
	OK("a ID nil\r\n", "NIL"),
	OK("a ID ()\r\n", ""),
	OK("a ID (\"name\" \"Thunderbird\" \"version\" \"115.0\")\r\n",
	   "\"name\"=\"Thunderbird\" \"version\"=\"115.0\""),
	OK("a ID (\"name\" NIL)\r\n", "\"name\"=NIL"),
	OK("a ID ({4}\r\nname {3}\r\nx\"y)\r\n", "\"name\"=\"x\\x22y\""),
	OK("a ID (\"n\" {3}\r\na\x01\x7f)\r\n", "\"n\"=\"a\\x01\\x7f\""),
	OK("a ID (\"n\" {4}\r\na\r\nb)\r\n", "\"n\"=\"a\\x0d\\x0ab\""),
	OK("a ID (\"n\" \"\xc3\xbc\")\r\n", "\"n\"=\"\\xc3\\xbc\""),
	OK("a ID (\"a b=c\" \"v\")\r\n", "\"a b\\x3dc\"=\"v\""),
	/* A field named like ours stays inside its quotes. */
	OK("a ID (\"rip\" \"203.0.113.7\" \"x rip=1.2.3.4\" \"\\\\\")\r\n",
	   "\"rip\"=\"203.0.113.7\" \"x rip\\x3d1.2.3.4\"=\"\\x5c\""),
	OK("a ID (\"x\" \"1\" \"x\" \"2\")\r\n", "\"x\"=\"1\" \"x\"=\"2\""),
	OK("a ID (\"\" \"\")\r\n", "\"\"=\"\""),
	BAD("a ID\r\n"),
	BAD("a ID NIL NIL\r\n"),
	BAD("a ID () ()\r\n"),
	BAD("a ID foo\r\n"),
	BAD("a ID \"foo\"\r\n"),
	BAD("a ID (\"name\")\r\n"),
	BAD("a ID (\"name\" \"x\" \"version\")\r\n"),
	BAD("a ID (name \"x\")\r\n"),
	BAD("a ID (NIL \"x\")\r\n"),
	BAD("a ID (\"name\" x)\r\n"),
	BAD("a ID (\"name\" (\"x\"))\r\n"),
	BAD("a ID ((\"name\" \"x\"))\r\n"),
	BAD("a ID (\"name\" {3}\r\na\0b)\r\n"),
	BAD("a ID (\"name\" ~{1}\r\na)\r\n"),
};

static int
id_of(struct pool *pool, const char *s, size_t len, const char **logtext,
      const char **error)
{
	struct imap_command cmd;

	cr_assert_eq(imap_parse_command(pool, (const uint8_t *)s, len, &cmd,
					error), 0, "parse \"%s\": %s", s,
		     *error);
	cr_assert_str_eq(cmd.name, "ID");
	return imap_id_parse(pool, cmd.args, cmd.n_args, logtext, error);
}

Test(id, table)
{
	struct pool *pool = pool_new(4096);

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		const char *logtext = NULL, *error = NULL;
		int ret = id_of(pool, r->cmd, r->len, &logtext, &error);

		if (r->want != NULL) {
			cr_assert_eq(ret, 0, "row %zu: got error \"%s\", want OK",
				     i, error);
			cr_assert_str_eq(logtext, r->want,
					 "row %zu: got '%s', want '%s'", i,
					 logtext, r->want);
		} else {
			cr_assert_eq(ret, -1, "row %zu: got OK (%s), want error",
				     i, logtext);
			cr_assert_not_null(error, "row %zu: no error text", i);
			cr_assert(strlen(error) > 0);
		}
		pool_clear(pool);
	}
	pool_free(&pool);
}

/* RFC 2971 §3.3: 30 pairs, fields of 30 octets, values of 1024. */
static char *
make_list(size_t pairs, size_t flen, size_t vlen)
{
	struct buf *b = buf_new(1 << 20);
	char *s;

	buf_append_str(b, "a ID (");
	for (size_t i = 0; i < pairs; i++) {
		char field[64];

		snprintf(field, sizeof(field), "%02zu", i);
		buf_printf(b, "%s\"%s", i > 0 ? " " : "", field);
		for (size_t k = 2; k < flen; k++)
			buf_append_byte(b, 'f');
		buf_append_str(b, "\" \"");
		for (size_t k = 0; k < vlen; k++)
			buf_append_byte(b, 'v');
		buf_append_byte(b, '"');
	}
	buf_append_str(b, ")\r\n");
	s = strdup(buf_str(b));
	buf_free(&b);
	return s;
}

Test(id, limits)
{
	static const struct {
		size_t pairs, flen, vlen;
		bool ok;
	} cases[] = {
		{ 30, 30, 1024, true },
		{ 31, 2, 1, false },
		{ 1, 31, 1, false },
		{ 1, 30, 1025, false },
		{ 1, 2, 0, true },
	};
	struct pool *pool = pool_new(4096);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = make_list(cases[i].pairs, cases[i].flen,
				    cases[i].vlen);
		const char *logtext = NULL, *error = NULL;
		int ret = id_of(pool, s, strlen(s), &logtext, &error);

		cr_assert_eq(ret, cases[i].ok ? 0 : -1,
			     "case %zu (%zu pairs, field %zu, value %zu): "
			     "got %d (%s), want %s", i, cases[i].pairs,
			     cases[i].flen, cases[i].vlen, ret,
			     error != NULL ? error : "ok",
			     cases[i].ok ? "OK" : "error");
		if (cases[i].ok)
			cr_assert_not_null(logtext);
		free(s);
		pool_clear(pool);
	}
	pool_free(&pool);
}

/* The worst case escapes every byte: the summary must still be built. */
Test(id, worst_case_escaping)
{
	struct pool *pool = pool_new(4096);
	struct buf *b = buf_new(1 << 20);
	const char *logtext = NULL, *error = NULL;

	buf_append_str(b, "a ID (");
	for (int i = 0; i < 30; i++) {
		buf_printf(b, "%s{30}\r\n", i > 0 ? " " : "");
		for (int k = 0; k < 30; k++)
			buf_append_byte(b, 0x01);
		buf_append_str(b, " {1024}\r\n");
		for (int k = 0; k < 1024; k++)
			buf_append_byte(b, 0xff);
	}
	buf_append_str(b, ")\r\n");
	cr_assert_eq(id_of(pool, buf_str(b), buf_len(b), &logtext, &error), 0,
		     "got error %s", error);
	/* Each name whole (30 escapes and quotes); each value cut to its
	 * LOG_QUOTED_MAX - 1 bytes: quote, 78 escapes, the cut marker. */
	cr_assert_eq(strlen(logtext), 30 * ((30 * 4 + 2) + 1 +
					  (1 + 78 * 4 + 4)) + 29,
		     "summary length: got %zu", strlen(logtext));
	cr_assert_not_null(strstr(logtext, "\\xff\"... \""),
			   "no cut marker: %.200s", logtext);
	for (const char *p = logtext; *p != '\0'; p++)
		cr_assert(*p >= 0x20 && *p < 0x7f, "unescaped byte 0x%02x",
			  (unsigned char)*p);
	buf_free(&b);
	pool_free(&pool);
}

Test(id, reply)
{
	struct buf *b = buf_new(1024);
	char want[256];

	snprintf(want, sizeof(want), "* ID (\"name\" \"Moat\" \"version\" "
		 "\"%s\")\r\n", PACKAGE_VERSION);
	cr_assert_eq(imap_id_write_reply(b), 0);
	cr_assert_str_eq(buf_str(b), want, "got '%s', want '%s'", buf_str(b),
			 want);
	buf_free(&b);

	/* Too small: fails and leaves what was there. */
	for (size_t max = 1; max < strlen(want) + 3; max++) {
		b = buf_new(max + 2);
		buf_append_str(b, "ab");
		if (imap_id_write_reply(b) < 0) {
			cr_assert_str_eq(buf_str(b), "ab",
					 "max %zu: got '%s' after failure", max,
					 buf_str(b));
		} else {
			cr_assert_geq(max, strlen(want));
		}
		buf_free(&b);
	}
}
