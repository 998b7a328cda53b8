/* Tests for lib/imap/parser.c: RFC 9051 §9 tokens, the FETCH bracket
 * rule, and hostile input (NUL, unterminated quotes, deep nesting, too
 * many arguments, lying literal counts). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/pool.h"
#include "imap/parser.h"

/* Renders the tree in a canonical form: atom as is, quoted as "x",
 * literal as {n:x}, literal8 as ~{n:x}, lists as (a b); bytes outside
 * printable ASCII as \xHH. */
static void
dump_bytes(struct buf *b, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7f)
			buf_printf(b, "\\x%02x", c);
		else
			buf_append_byte(b, c);
	}
}

static void
dump_args(struct buf *b, const struct imap_arg *args, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct imap_arg *a = &args[i];

		if (i > 0)
			buf_append_byte(b, ' ');
		switch (a->type) {
		case IMAP_ARG_ATOM:
			dump_bytes(b, a->str, a->len);
			break;
		case IMAP_ARG_QUOTED:
			buf_append_byte(b, '"');
			dump_bytes(b, a->str, a->len);
			buf_append_byte(b, '"');
			break;
		case IMAP_ARG_LITERAL:
			buf_printf(b, "%s{%zu:", a->binary ? "~" : "", a->len);
			dump_bytes(b, a->str, a->len);
			buf_append_byte(b, '}');
			break;
		case IMAP_ARG_LIST:
			buf_append_byte(b, '(');
			dump_args(b, a->list, a->list_n);
			buf_append_byte(b, ')');
			break;
		}
	}
}

struct row {
	const char *in;
	size_t len;             /* 0: strlen(in) */
	const char *want;       /* dump, or NULL when an error is wanted */
	const char *error;      /* expected error text */
};

#define OK(s, w) { s, sizeof(s) - 1, w, NULL }
#define BAD(s, e) { s, sizeof(s) - 1, NULL, e }

static const struct row rows[] = {
	OK("a NOOP\r\n", "a NOOP"),
	OK("a noop\r\n", "a NOOP"),
	OK("a NOOP\n", "a NOOP"),
	OK("a NOOP \r\n", "a NOOP"),
	OK("a NOOP   \r\n", "a NOOP"),
	OK("a LOGIN x y \r\n", "a LOGIN x y"),
	OK("a] NOOP\r\n", "a] NOOP"),
	OK("a uid fetch 1:* (FLAGS)\r\n", "a UID fetch 1:* (FLAGS)"),
	OK("a LOGIN \"us\\\"er\" \"p\\\\w\"\r\n", "a LOGIN \"us\"er\" \"p\\w\""),
	OK("a LOGIN {4}\r\nuser {4+}\r\npass\r\n",
	   "a LOGIN {4:user} {4:pass}"),
	OK("a LOGIN {4}\nuser {4}\npass\n", "a LOGIN {4:user} {4:pass}"),
	OK("a X {003}\r\nabc\r\n", "a X {3:abc}"),
	OK("a X {4}\r\na\r\nb\r\n", "a X {4:a\\x0d\\x0ab}"),
	OK("a X {0}\r\n\r\n", "a X {0:}"),
	OK("a X {0}\r\n {0+}\r\n\r\n", "a X {0:} {0:}"),
	OK("a APPEND INBOX ~{3}\r\na\0b\r\n", "a APPEND INBOX ~{3:a\\x00b}"),
	OK("a APPEND INBOX ~{3+}\r\nabc\r\n", "a APPEND INBOX ~{3:abc}"),
	OK("a X (a {1}\r\nb c)\r\n", "a X (a {1:b} c)"),
	OK("a FETCH 1 (BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100> UID)\r\n",
	   "a FETCH 1 (BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100> UID)"),
	OK("a FETCH 1 BODY[]\r\n", "a FETCH 1 BODY[]"),
	OK("a FETCH 1 BODY[1.2.MIME]<5.10>\r\n", "a FETCH 1 BODY[1.2.MIME]<5.10>"),
	OK("a FETCH 1 BODY[HEADER.FIELDS (\"X-]\" Y)]\r\n",
	   "a FETCH 1 BODY[HEADER.FIELDS (\"X-]\" Y)]"),
	OK("a STORE 1 +FLAGS (\\Seen \\Deleted)\r\n",
	   "a STORE 1 +FLAGS (\\Seen \\Deleted)"),
	OK("a LIST \"\" *\r\n", "a LIST \"\" *"),
	OK("a LIST \"\" %\r\n", "a LIST \"\" %"),
	OK("a SELECT \"\xc3\x9cn\xc3\xaf" "code\"\r\n",
	   "a SELECT \"\\xc3\\x9cn\\xc3\\xafcode\""),
	OK("a X ()\r\n", "a X ()"),
	OK("a X (())\r\n", "a X (())"),
	OK("a X ((a) (b c)) d\r\n", "a X ((a) (b c)) d"),
	OK("a X \"\"\r\n", "a X \"\""),
	OK("a X NIL\r\n", "a X NIL"),
	OK("a X ~\r\n", "a X ~"),
	OK("a X a~b\r\n", "a X a~b"),
	/* as real clients send them */
	OK("3 ID (\"name\" \"Thunderbird\" \"version\" \"115.0\")\r\n",
	   "3 ID (\"name\" \"Thunderbird\" \"version\" \"115.0\")"),
	OK("4 select \"INBOX\" (CONDSTORE)\r\n", "4 SELECT \"INBOX\" (CONDSTORE)"),
	OK("A5 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211))\r\n",
	   "A5 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211))"),
	OK("6 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)\r\n",
	   "6 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)"),
	OK("7 UID fetch 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS "
	   "(From To Cc Subject Date Message-ID Content-Type)])\r\n",
	   "7 UID fetch 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS "
	   "(From To Cc Subject Date Message-ID Content-Type)])"),
	OK("8 STORE 1 +FLAGS.SILENT (\\Deleted)\r\n",
	   "8 STORE 1 +FLAGS.SILENT (\\Deleted)"),
	OK("9 APPEND INBOX (\\Seen) \"21-Nov-2024 10:00:00 +0000\" {3+}\r\nabc\r\n",
	   "9 APPEND INBOX (\\Seen) \"21-Nov-2024 10:00:00 +0000\" {3:abc}"),
	OK("10 LIST \"\" \"*\" RETURN (SUBSCRIBED CHILDREN)\r\n",
	   "10 LIST \"\" \"*\" RETURN (SUBSCRIBED CHILDREN)"),
	OK("11 SEARCH CHARSET UTF-8 TEXT {2+}\r\n\xc3\xa4\r\n",
	   "11 SEARCH CHARSET UTF-8 TEXT {2:\\xc3\\xa4}"),
	OK("12 FETCH 1 BINARY.PEEK[1]<0.10>\r\n", "12 FETCH 1 BINARY.PEEK[1]<0.10>"),
	OK("13 AUTHENTICATE PLAIN AGZvbwBiYXI=\r\n",
	   "13 AUTHENTICATE PLAIN AGZvbwBiYXI="),
	OK("14 AUTHENTICATE PLAIN =\r\n", "14 AUTHENTICATE PLAIN ="),
	/* hostile */
	BAD("", "Missing tag"),
	BAD("\r\n", "Missing tag"),
	BAD(" NOOP\r\n", "Missing tag"),
	BAD("a+ NOOP\r\n", "Invalid tag"),
	BAD("a* NOOP\r\n", "Invalid tag"),
	BAD("a%b NOOP\r\n", "Invalid tag"),
	BAD("a\"b NOOP\r\n", "Invalid tag"),
	BAD("(a NOOP\r\n", "Invalid tag"),
	BAD("a{1} NOOP\r\n", "Invalid tag"),
	BAD("a\\b NOOP\r\n", "Invalid tag"),
	BAD("a\0 NOOP\r\n", "Invalid tag"),
	BAD("\xc3\xa4 NOOP\r\n", "Invalid tag"),
	BAD("a\r\n", "Missing command"),
	BAD("a \r\n", "Missing command"),
	BAD("a  NOOP\r\n", "Missing command"),
	BAD("a NOOP", "Missing CRLF"),
	BAD("a NOOP x", "Missing CRLF"),
	BAD("a NOOP (x", "Missing CRLF"),
	BAD("a NOOP\rx\n", "Invalid characters after CR"),
	BAD("a NO\0OP\r\n", "Invalid command name"),
	BAD("a NOOP(\r\n", "Invalid command name"),
	BAD("a (NOOP)\r\n", "Invalid command name"),
	BAD("a NOOP\r\nb NOOP\r\n", "Unexpected data after command"),
	BAD("a LOGIN \"abc\r\n", "Unterminated quoted string"),
	BAD("a LOGIN \"abc", "Unterminated quoted string"),
	BAD("a LOGIN \"abc\\\"\r\n", "Unterminated quoted string"),
	BAD("a LOGIN \"ab\0c\"\r\n", "NUL in quoted string"),
	BAD("a LOGIN \"a\nb\"\r\n", "Unterminated quoted string"),
	BAD("a LOGIN \"a\\nb\"\r\n", "Invalid escape in quoted string"),
	BAD("a LOGIN \"a\\", "Invalid escape in quoted string"),
	BAD("a LOGIN ab\0c\r\n", "NUL in atom"),
	BAD("a LOGIN \0\r\n", "NUL in atom"),
	BAD("a LOGIN \"x\"\0\r\n", "NUL in command"),
	BAD("a X \xff\r\n", "Invalid characters in atom"),
	BAD("a X a\x01\r\n", "Invalid characters in atom"),
	BAD("a X a\tb\r\n", "Invalid characters in atom"),
	BAD("a X a{3}\r\nabc\r\n", "Invalid characters in atom"),
	BAD("a X a\"b\"\r\n", "Invalid characters in atom"),
	BAD("a X \"a\"b\r\n", "Missing space between arguments"),
	BAD("a X \"a\"\"b\"\r\n", "Missing space between arguments"),
	BAD("a X (a)b\r\n", "Missing space between arguments"),
	BAD("a X (a)(b)\r\n", "Missing space between arguments"),
	BAD("a X (a\r\n", "Missing ')'"),
	BAD("a X ((a)\r\n", "Missing ')'"),
	BAD("a X (\r\n", "Missing ')'"),
	BAD("a X a)\r\n", "Unexpected ')'"),
	BAD("a X )\r\n", "Unexpected ')'"),
	BAD("a X (a))\r\n", "Unexpected ')'"),
	BAD("a X  b\r\n", "Unexpected space"),
	BAD("a X a  b\r\n", "Unexpected space"),
	BAD("a X (a )\r\n", "Unexpected space"),
	BAD("a X ( a)\r\n", "Unexpected space"),
	BAD("a X {6}\r\nabc\r\n", "Literal size mismatch"),
	BAD("a X {5}\r\n", "Literal size mismatch"),
	BAD("a X {4294967296}\r\nabc\r\n", "Literal size mismatch"),
	BAD("a X {99999999999999999999999}\r\nabc\r\n", "Literal too big"),
	BAD("a X {5-}\r\nabcde\r\n", "Invalid literal"),
	BAD("a X {+5}\r\nabcde\r\n", "Invalid literal"),
	BAD("a X {-5}\r\nabcde\r\n", "Invalid literal"),
	BAD("a X {}\r\n", "Invalid literal"),
	BAD("a X {5\r\n", "Invalid literal"),
	BAD("a X {5}abcde\r\n", "Missing CRLF after literal size"),
	BAD("a X {5}\rabcde\r\n", "Missing CRLF after literal size"),
	BAD("a X ~{5-}\r\nabcde\r\n", "Invalid literal"),
	BAD("a X {3}\r\nabc", "Missing CRLF"),
	BAD("a FETCH 1 BODY[HEADER\r\n", "Missing ']'"),
	BAD("a FETCH 1 BODY[\"]\r\n", "Unterminated quoted string"),
	BAD("a FETCH 1 BODY[a\0]\r\n", "Invalid characters in atom"),
	BAD("a FETCH 1 BODY[\xff]\r\n", "Invalid characters in atom"),
	BAD("a FETCH 1 BODY[\"\\q\"]\r\n", "Invalid escape in quoted string"),
};

static void
check_row(size_t i, const struct row *r)
{
	struct pool *pool = pool_new(1024);
	struct imap_command cmd;
	const char *error = "unset";
	int ret = imap_parse_command(pool, (const uint8_t *)r->in, r->len,
				     &cmd, &error);

	if (r->want != NULL) {
		struct buf *b = buf_new(1 << 20);

		cr_assert_eq(ret, 0, "row %zu (%s): got error \"%s\", want OK",
			     i, r->in, error);
		buf_printf(b, "%s %s", cmd.tag, cmd.name);
		if (cmd.n_args > 0) {
			buf_append_byte(b, ' ');
			dump_args(b, cmd.args, cmd.n_args);
		}
		cr_assert_str_eq(buf_str(b), r->want,
				 "row %zu: got \"%s\", want \"%s\"", i,
				 buf_str(b), r->want);
		buf_free(&b);
	} else {
		cr_assert_eq(ret, -1, "row %zu (%s): got OK, want error \"%s\"",
			     i, r->in, r->error);
		cr_assert_not_null(error, "row %zu: error not set", i);
		cr_assert_str_eq(error, r->error,
				 "row %zu (%s): got error \"%s\", want \"%s\"",
				 i, r->in, error, r->error);
	}
	pool_free(&pool);
}

Test(parser, table)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		check_row(i, &rows[i]);
}

Test(parser, tag_kept_on_error)
{
	struct pool *pool = pool_new(1024);
	struct imap_command cmd;
	const char *error;
	const char *in = "t1 LOGIN \"abc\r\n";

	cr_assert_eq(imap_parse_command(pool, (const uint8_t *)in, strlen(in),
					&cmd, &error), -1);
	cr_assert_not_null(cmd.tag, "tag: got NULL, want t1");
	cr_assert_str_eq(cmd.tag, "t1", "tag: got %s, want t1", cmd.tag);

	in = "t+1 NOOP\r\n";
	cr_assert_eq(imap_parse_command(pool, (const uint8_t *)in, strlen(in),
					&cmd, &error), -1);
	cr_assert_null(cmd.tag, "invalid tag: got %s, want NULL", cmd.tag);
	pool_free(&pool);
}

static int
parse_str(struct pool *pool, const char *in, size_t len,
	  struct imap_command *cmd, const char **error)
{
	return imap_parse_command(pool, (const uint8_t *)in, len, cmd, error);
}

Test(parser, tag_length)
{
	struct pool *pool = pool_new(1024);
	struct imap_command cmd;
	const char *error;
	char in[200];

	memset(in, 't', IMAP_TAG_MAX);
	strcpy(in + IMAP_TAG_MAX, " NOOP\r\n");
	cr_assert_eq(parse_str(pool, in, strlen(in), &cmd, &error), 0,
		     "tag of %d chars: got \"%s\", want OK", IMAP_TAG_MAX,
		     error);
	memset(in, 't', IMAP_TAG_MAX + 1);
	strcpy(in + IMAP_TAG_MAX + 1, " NOOP\r\n");
	cr_assert_eq(parse_str(pool, in, strlen(in), &cmd, &error), -1);
	cr_assert_str_eq(error, "Invalid tag");
	pool_free(&pool);
}

static char *
nested(size_t depth)
{
	char *s = malloc(2 * depth + 32);
	size_t n = 0;

	n += (size_t)sprintf(s, "a X ");
	for (size_t i = 0; i < depth; i++)
		s[n++] = '(';
	s[n++] = 'x';
	for (size_t i = 0; i < depth; i++)
		s[n++] = ')';
	strcpy(s + n, "\r\n");
	return s;
}

Test(parser, nesting_limit)
{
	struct pool *pool = pool_new(1024);
	struct imap_command cmd;
	const char *error;
	const struct imap_arg *a;
	size_t n;
	char *s = nested(IMAP_PARSE_MAX_DEPTH);

	cr_assert_eq(parse_str(pool, s, strlen(s), &cmd, &error), 0,
		     "depth %d: got \"%s\", want OK", IMAP_PARSE_MAX_DEPTH,
		     error);
	a = &cmd.args[0];
	for (int d = 0; d < IMAP_PARSE_MAX_DEPTH; d++) {
		cr_assert(imap_arg_get_list(a, &a, &n), "level %d not a list", d);
		cr_assert_eq(n, 1);
	}
	cr_assert_eq(a->type, IMAP_ARG_ATOM);
	free(s);

	s = nested(IMAP_PARSE_MAX_DEPTH + 1);
	cr_assert_eq(parse_str(pool, s, strlen(s), &cmd, &error), -1,
		     "depth %d: got OK, want error", IMAP_PARSE_MAX_DEPTH + 1);
	cr_assert_str_eq(error, "Too deep nesting");
	free(s);

	/* Far past the limit: must fail fast, not recurse. */
	s = nested(1000000);
	cr_assert_eq(parse_str(pool, s, strlen(s), &cmd, &error), -1);
	cr_assert_str_eq(error, "Too deep nesting");
	free(s);

	/* The same cap holds for brackets inside an atom. */
	{
		char buf[256] = "a FETCH 1 BODY";
		size_t len = strlen(buf);

		for (int i = 0; i < 40; i++)
			buf[len++] = '[';
		for (int i = 0; i < 40; i++)
			buf[len++] = ']';
		strcpy(buf + len, "\r\n");
		cr_assert_eq(parse_str(pool, buf, strlen(buf), &cmd, &error),
			     -1);
		cr_assert_str_eq(error, "Too deep nesting");
	}
	pool_free(&pool);
}

Test(parser, argument_limit)
{
	struct pool *pool = pool_new(4096);
	struct imap_command cmd;
	const char *error;
	size_t cap = 4 * (IMAP_PARSE_MAX_ARGS + 10) + 32;
	char *s = malloc(cap);
	size_t n;

	/* Exactly the limit: IMAP_PARSE_MAX_ARGS atoms. */
	n = (size_t)sprintf(s, "a X");
	for (int i = 0; i < IMAP_PARSE_MAX_ARGS; i++)
		n += (size_t)sprintf(s + n, " x");
	strcpy(s + n, "\r\n");
	cr_assert_eq(parse_str(pool, s, strlen(s), &cmd, &error), 0,
		     "%d args: got \"%s\", want OK", IMAP_PARSE_MAX_ARGS,
		     error);
	cr_assert_eq(cmd.n_args, IMAP_PARSE_MAX_ARGS, "n_args: got %zu",
		     cmd.n_args);

	/* One more, inside a list (lists count too). */
	pool_clear(pool);
	n = (size_t)sprintf(s, "a X (");
	for (int i = 0; i < IMAP_PARSE_MAX_ARGS; i++)
		n += (size_t)sprintf(s + n, "%sx", i > 0 ? " " : "");
	strcpy(s + n, ")\r\n");
	cr_assert_eq(parse_str(pool, s, strlen(s), &cmd, &error), -1,
		     "%d args + list: got OK, want error", IMAP_PARSE_MAX_ARGS);
	cr_assert_str_eq(error, "Too many arguments");

	/* Empty lists: each one is an argument. */
	pool_clear(pool);
	n = (size_t)sprintf(s, "a X");
	for (int i = 0; i <= IMAP_PARSE_MAX_ARGS; i++)
		n += (size_t)sprintf(s + n, " ()");
	strcpy(s + n, "\r\n");
	cr_assert_eq(parse_str(pool, s, strlen(s), &cmd, &error), -1);
	cr_assert_str_eq(error, "Too many arguments");
	free(s);
	pool_free(&pool);
}

Test(parser, literal_bytes_exact)
{
	struct pool *pool = pool_new(1024);
	struct imap_command cmd;
	const char *error;
	static const char in[] = "a X {5}\r\n\0\r\n\")";
	const char *s;

	cr_assert_eq(parse_str(pool, in, sizeof(in) - 1, &cmd, &error), -1,
		     "literal with no CRLF after: got OK");
	{
		static const char in2[] = "a X {5}\r\n\0\r\n\")\r\n";

		cr_assert_eq(parse_str(pool, in2, sizeof(in2) - 1, &cmd,
				       &error), 0, "got \"%s\"", error);
		cr_assert_eq(cmd.n_args, 1);
		cr_assert_eq(cmd.args[0].type, IMAP_ARG_LITERAL);
		cr_assert_eq(cmd.args[0].len, 5);
		cr_assert_eq(memcmp(cmd.args[0].str, "\0\r\n\")", 6), 0);
		/* NUL inside: not a string, not an astring. */
		cr_assert_not(imap_arg_get_string(&cmd.args[0], &s));
		cr_assert_not(imap_arg_get_astring(&cmd.args[0], &s));
	}
	pool_free(&pool);
}

/* Accessors: shape checks per RFC 9051 §9 (astring = 1*ASTRING-CHAR /
 * string; string = quoted / literal; NIL only as an atom). */
struct acc_row {
	const char *arg;      /* one argument, after "a X " */
	size_t len;
	bool atom, string, astring, nil, list;
};

#define ACC(s, at, st, ast, ni, li) { s, sizeof(s) - 1, at, st, ast, ni, li }

static const struct acc_row acc_rows[] = {
	ACC("INBOX", true, false, true, false, false),
	ACC("foo]", true, false, true, false, false),
	ACC("a[b]", true, false, true, false, false),
	ACC("foo%", true, false, false, false, false),
	ACC("foo*", true, false, false, false, false),
	ACC("\\Seen", true, false, false, false, false),
	ACC("BODY[HEADER.FIELDS (A)]", true, false, false, false, false),
	ACC("NIL", true, false, true, true, false),
	ACC("nil", true, false, true, true, false),
	ACC("NILX", true, false, true, false, false),
	ACC("\"NIL\"", false, true, true, false, false),
	ACC("\"\"", false, true, true, false, false),
	ACC("{3}\r\nabc", false, true, true, false, false),
	ACC("{3}\r\na\0c", false, false, false, false, false),
	ACC("~{3}\r\nabc", false, false, false, false, false),
	ACC("(a b)", false, false, false, false, true),
	ACC("()", false, false, false, false, true),
};

Test(parser, accessors)
{
	struct pool *pool = pool_new(1024);

	for (size_t i = 0; i < sizeof(acc_rows) / sizeof(acc_rows[0]); i++) {
		const struct acc_row *r = &acc_rows[i];
		struct imap_command cmd;
		const char *error, *s;
		const struct imap_arg *l;
		size_t n;
		char in[128];

		memcpy(in, "a X ", 4);
		memcpy(in + 4, r->arg, r->len);
		memcpy(in + 4 + r->len, "\r\n", 2);
		cr_assert_eq(parse_str(pool, in, r->len + 6, &cmd, &error), 0,
			     "row %zu: parse failed: %s", i, error);
		cr_assert_eq(cmd.n_args, 1);
		cr_assert_eq(imap_arg_get_atom(&cmd.args[0], &s), r->atom,
			     "row %zu (%s): atom got %d, want %d", i, r->arg,
			     !r->atom, r->atom);
		cr_assert_eq(imap_arg_get_string(&cmd.args[0], &s), r->string,
			     "row %zu (%s): string got %d, want %d", i, r->arg,
			     !r->string, r->string);
		cr_assert_eq(imap_arg_get_astring(&cmd.args[0], &s),
			     r->astring, "row %zu (%s): astring got %d, want %d",
			     i, r->arg, !r->astring, r->astring);
		cr_assert_eq(imap_arg_is_nil(&cmd.args[0]), r->nil,
			     "row %zu (%s): nil got %d, want %d", i, r->arg,
			     !r->nil, r->nil);
		cr_assert_eq(imap_arg_get_list(&cmd.args[0], &l, &n), r->list,
			     "row %zu (%s): list got %d, want %d", i, r->arg,
			     !r->list, r->list);
		pool_clear(pool);
	}
	pool_free(&pool);
}

Test(parser, astring_value)
{
	struct pool *pool = pool_new(1024);
	struct imap_command cmd;
	const char *error, *s = NULL;
	static const char in[] = "a LOGIN \"a\\\\b\" {2}\r\nxy\r\n";

	cr_assert_eq(parse_str(pool, in, sizeof(in) - 1, &cmd, &error), 0);
	cr_assert(imap_arg_get_astring(&cmd.args[0], &s));
	cr_assert_str_eq(s, "a\\b", "got %s, want a\\b", s);
	cr_assert(imap_arg_get_astring(&cmd.args[1], &s));
	cr_assert_str_eq(s, "xy");
	cr_assert_eq(cmd.args[1].str[2], '\0', "literal not NUL-terminated");
	pool_free(&pool);
}

Test(parser, tag_valid)
{
	cr_assert(imap_tag_valid("A001", 4));
	cr_assert(imap_tag_valid("a]", 2));
	cr_assert(imap_tag_valid("~.-_!#$&'", 9));
	cr_assert_not(imap_tag_valid("", 0));
	cr_assert_not(imap_tag_valid(NULL, 0));
	cr_assert_not(imap_tag_valid("+", 1));
	cr_assert_not(imap_tag_valid("a+", 2));
	cr_assert_not(imap_tag_valid("*", 1));
	cr_assert_not(imap_tag_valid("a b", 3));
	cr_assert_not(imap_tag_valid("a\0b", 3));
	cr_assert_not(imap_tag_valid("a{", 2));
	cr_assert_not(imap_tag_valid("a\x7f", 2));
	cr_assert_not(imap_tag_valid("\xc3\xa4", 2));
}

/* RFC 9051 §9: ATOM-CHAR = <any CHAR except atom-specials>, CHAR is
 * %x01-7F, atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards
 * ("%" / "*") / quoted-specials (DQUOTE / "\") / resp-specials ("]").
 * Checked for every byte value against that definition. */
Test(parser, atom_char_all_bytes)
{
	for (unsigned int c = 0; c < 256; c++) {
		bool want = c >= 0x21 && c <= 0x7e &&
			strchr("(){%*\"\\]", (int)c) == NULL;
		bool got = imap_is_atom_char((uint8_t)c);

		cr_assert_eq(got, want, "byte 0x%02x: got %d, want %d", c,
			     got, want);
	}
}

/* Every prefix of valid commands must fail cleanly (no overread: run
 * under ASan), and every single-byte corruption must not crash. */
Test(parser, prefixes_and_mutations)
{
	static const char *const cmds[] = {
		"a LOGIN {4}\r\nuser \"p\\\\w\"\r\n",
		"a FETCH 1:* (BODY.PEEK[HEADER.FIELDS (FROM \"TO\")]<0.10> ~{2}\r\nxy)\r\n",
		"a X ((a) (b {0+}\r\n) NIL)\r\n",
	};
	struct pool *pool = pool_new(1024);

	for (size_t c = 0; c < sizeof(cmds) / sizeof(cmds[0]); c++) {
		size_t len = strlen(cmds[c]);
		uint8_t *copy = malloc(len);

		for (size_t k = 0; k < len; k++) {
			struct imap_command cmd;
			const char *error;
			uint8_t *exact = malloc(k > 0 ? k : 1);

			/* Exact-size allocation so ASan sees overreads. */
			memcpy(exact, cmds[c], k);
			cr_assert_eq(imap_parse_command(pool, exact, k, &cmd,
							&error), -1,
				     "cmd %zu prefix %zu: got OK", c, k);
			free(exact);
			pool_clear(pool);
		}
		for (size_t k = 0; k < len; k++) {
			static const uint8_t subst[] = { 0, ' ', '(', ')', '"',
				'\\', '{', '}', '\r', '\n', '[', ']', 0xff };

			for (size_t j = 0; j < sizeof(subst); j++) {
				struct imap_command cmd;
				const char *error;

				memcpy(copy, cmds[c], len);
				copy[k] = subst[j];
				(void)imap_parse_command(pool, copy, len, &cmd,
							 &error);
				pool_clear(pool);
			}
		}
		free(copy);
	}
	pool_free(&pool);
}
