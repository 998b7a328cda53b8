/*
 * imap parser: one framed command -> tag, upper-cased command name and an
 * argument tree (RFC 9051 §4, §9).
 * Callers: imap-login and imap, on the bytes imap_reader collected.
 * Trust: the bytes come straight from the network (pre-auth in
 * imap-login): nothing is assumed about them. Every read is bounded by
 * the data length, nesting and argument count are capped, and a literal
 * may not claim more bytes than the command holds.
 *
 * Where the grammar and real clients differ we accept what clients send
 * and leave the strict check to the accessors:
 * - atoms may contain "%", "*" (LIST patterns, sequence sets such as
 *   "1:*"), "]" (astrings, tags) and a leading "\" (flags such as \Seen),
 *   none of which is an ATOM-CHAR; imap_arg_get_astring() re-checks;
 * - an atom may hold a bracketed section with anything printable inside
 *   (FETCH's BODY[HEADER.FIELDS (FROM TO)]<0.100> is one atom);
 * - quoted strings may hold any 8-bit byte (UTF-8 per RFC 9051 §4.3.1;
 *   IMAP4rev1 clients sometimes send Latin-1 passwords), never NUL, CR
 *   or LF;
 * - a bare LF ends the command like CRLF, and spaces before it are
 *   ignored (some clients send a trailing space). Between arguments
 *   exactly one SP is required.
 */
#include <string.h>

#include "core/pool.h"
#include "core/str.h"
#include "imap/parser.h"

/* Growing argument array for one nesting level. Memory comes from the
 * pool; growth wastes at most the final size, which IMAP_PARSE_MAX_ARGS
 * bounds. */
struct level {
	struct imap_arg *args;
	size_t n, cap;
};

struct parser {
	struct pool *pool;
	const uint8_t *p;     /* current position */
	const uint8_t *end;
	size_t n_args;        /* all arguments so far, lists included */
	bool last_atom;       /* the argument just parsed was an atom */
	const char *error;
};

/* RFC 9051 ATOM-CHAR: any CHAR except atom-specials. */
bool
imap_is_atom_char(uint8_t c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	switch (c) {
	case '(': case ')': case '{': case '%': case '*': case '"':
	case '\\': case ']':
		return false;
	default:
		return true;
	}
}

/* Bytes allowed in the atoms this parser returns: ATOM-CHAR plus "%",
 * "*", "]" and "\", which are let through on purpose (see the top); the
 * accessors apply the strict rule. */
static bool
atom_char(uint8_t c)
{
	return imap_is_atom_char(c) || c == '%' || c == '*' || c == ']' ||
	    c == '\\';
}

/* ASTRING-CHAR = ATOM-CHAR / resp-specials ("]"). */
static bool
astring_char(uint8_t c)
{
	return c == ']' || imap_is_atom_char(c);
}

bool
imap_tag_valid(const char *tag, size_t len)
{
	if (tag == NULL || len == 0 || len > IMAP_TAG_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)tag[i];

		if (c == '+' || !astring_char(c))
			return false;
	}
	return true;
}

static bool
at_eol(const struct parser *ps)
{
	return ps->p < ps->end && (*ps->p == '\r' || *ps->p == '\n');
}

static int
fail(struct parser *ps, const char *msg)
{
	ps->error = msg;
	return -1;
}

static char *
pool_bytes(struct pool *pool, const uint8_t *s, size_t len)
{
	char *d = pool_alloc(pool, len + 1);    /* zeroed: NUL included */

	if (len > 0)
		memcpy(d, s, len);
	return d;
}

/* Appends a slot to a level and returns it; NULL (error set) past the
 * argument cap. */
static struct imap_arg *
level_push(struct parser *ps, struct level *lv)
{
	if (ps->n_args >= IMAP_PARSE_MAX_ARGS) {
		ps->error = "Too many arguments";
		return NULL;
	}
	ps->n_args++;
	if (lv->n == lv->cap) {
		size_t ncap = lv->cap == 0 ? 8 : lv->cap * 2;
		struct imap_arg *na = pool_alloc(ps->pool, ncap * sizeof(*na));

		if (lv->n > 0)
			memcpy(na, lv->args, lv->n * sizeof(*na));
		lv->args = na;
		lv->cap = ncap;
	}
	return &lv->args[lv->n++];
}

/* Skips a quoted string inside a bracket section; p is on the opening
 * DQUOTE. The same rules as parse_quoted apply. */
static int
skip_quoted(struct parser *ps)
{
	ps->p++;
	while (ps->p < ps->end) {
		uint8_t c = *ps->p++;

		if (c == '"')
			return 0;
		if (c == '\\') {
			if (ps->p >= ps->end ||
			    (*ps->p != '"' && *ps->p != '\\'))
				return fail(ps, "Invalid escape in quoted string");
			ps->p++;
		} else if (c == '\0') {
			return fail(ps, "NUL in quoted string");
		} else if (c == '\r' || c == '\n') {
			break;
		}
	}
	return fail(ps, "Unterminated quoted string");
}

/* atom with optional bracket sections: "[" ... "]" may hold spaces,
 * lists and quoted strings (FETCH section specs); "<...>" is plain
 * atom text. */
static int
parse_atom(struct parser *ps, struct imap_arg *a)
{
	const uint8_t *start = ps->p;
	unsigned int depth = 0;

	while (ps->p < ps->end) {
		uint8_t c = *ps->p;

		if (depth > 0) {
			if (c == '"') {
				if (skip_quoted(ps) < 0)
					return -1;
				continue;
			}
			if (c == '[') {
				if (depth >= IMAP_PARSE_MAX_DEPTH)
					return fail(ps, "Too deep nesting");
				depth++;
			} else if (c == ']') {
				depth--;
			} else if (c < 0x20 || c >= 0x7f) {
				if (c == '\r' || c == '\n')
					return fail(ps, "Missing ']'");
				return fail(ps, "Invalid characters in atom");
			}
			ps->p++;
			continue;
		}
		if (c == '[') {
			depth = 1;
			ps->p++;
			continue;
		}
		if (!atom_char(c))
			break;
		ps->p++;
	}
	if (depth > 0)
		return fail(ps, "Missing ']'");
	if (ps->p == start)
		return fail(ps, "Invalid characters in atom");
	if (ps->p < ps->end && *ps->p == '\0')
		return fail(ps, "NUL in atom");
	a->type = IMAP_ARG_ATOM;
	a->len = (size_t)(ps->p - start);
	a->str = pool_bytes(ps->pool, start, a->len);
	return 0;
}

static int
parse_quoted(struct parser *ps, struct imap_arg *a)
{
	const uint8_t *q;
	size_t n = 0;
	char *d;

	/* First pass: validate and measure; second: unescape. */
	ps->p++;
	for (q = ps->p; q < ps->end; q++) {
		if (*q == '"')
			break;
		if (*q == '\\') {
			if (q + 1 >= ps->end || (q[1] != '"' && q[1] != '\\'))
				return fail(ps, "Invalid escape in quoted string");
			q++;
		} else if (*q == '\0') {
			return fail(ps, "NUL in quoted string");
		} else if (*q == '\r' || *q == '\n') {
			return fail(ps, "Unterminated quoted string");
		}
		n++;
	}
	if (q >= ps->end)
		return fail(ps, "Unterminated quoted string");

	d = pool_alloc(ps->pool, n + 1);
	a->type = IMAP_ARG_QUOTED;
	a->str = d;
	a->len = n;
	for (; ps->p < q; ps->p++) {
		if (*ps->p == '\\')
			ps->p++;
		*d++ = (char)*ps->p;
	}
	ps->p++;                /* closing DQUOTE */
	return 0;
}

/* "{" number64 ["+"] "}" CRLF octets, or literal8 with a leading "~".
 * The count is checked against what is left of the command, so a
 * hostile count can neither overread nor make us allocate. */
static int
parse_literal(struct parser *ps, struct imap_arg *a, bool binary)
{
	uint64_t n = 0;
	size_t digits = 0, left;

	ps->p++;                /* "{" */
	while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
		if (n > (UINT64_MAX - 9) / 10)
			return fail(ps, "Literal too big");
		n = n * 10 + (uint64_t)(*ps->p - '0');
		ps->p++;
		digits++;
	}
	if (digits == 0)
		return fail(ps, "Invalid literal");
	/* RFC 7888: the non-synchronizing form is "{N+}" under both
	 * LITERAL+ and LITERAL-; "{N-}" does not exist. */
	if (ps->p < ps->end && *ps->p == '+')
		ps->p++;
	if (ps->p >= ps->end || *ps->p != '}')
		return fail(ps, "Invalid literal");
	ps->p++;
	if (ps->p < ps->end && *ps->p == '\r')
		ps->p++;
	if (ps->p >= ps->end || *ps->p != '\n')
		return fail(ps, "Missing CRLF after literal size");
	ps->p++;
	left = (size_t)(ps->end - ps->p);
	if (n > left)
		return fail(ps, "Literal size mismatch");
	a->type = IMAP_ARG_LITERAL;
	a->binary = binary;
	a->len = (size_t)n;
	a->str = pool_bytes(ps->pool, ps->p, a->len);
	ps->p += a->len;
	return 0;
}

/* After an argument: one SP and another argument, ")" or the end of the
 * line. Returns 1 when another argument follows, 0 otherwise. */
static int
parse_separator(struct parser *ps)
{
	if (ps->p >= ps->end)
		return fail(ps, "Missing CRLF");
	if (*ps->p == ')' || at_eol(ps))
		return 0;
	if (*ps->p != ' ') {
		if (*ps->p == '\0')
			return fail(ps, ps->last_atom ? "NUL in atom" :
				    "NUL in command");
		return fail(ps, ps->last_atom ? "Invalid characters in atom" :
			    "Missing space between arguments");
	}
	ps->p++;
	/* Trailing spaces before CRLF are tolerated; anywhere else a
	 * second SP is an error. */
	if (ps->p < ps->end && *ps->p == ' ') {
		const uint8_t *q = ps->p;

		while (q < ps->end && *q == ' ')
			q++;
		if (q < ps->end && (*q == '\r' || *q == '\n')) {
			ps->p = q;
			return 0;
		}
		return fail(ps, "Unexpected space");
	}
	if (at_eol(ps))
		return 0;
	if (ps->p < ps->end && *ps->p == ')')
		return fail(ps, "Unexpected space");
	return 1;
}

static int
parse_args(struct parser *ps, struct imap_command *cmd)
{
	struct level levels[IMAP_PARSE_MAX_DEPTH + 1];
	size_t depth = 0;
	int r;

	memset(levels, 0, sizeof(levels));
	for (;;) {
		struct imap_arg *a;
		uint8_t c;

		if (ps->p >= ps->end)
			return fail(ps, "Missing CRLF");
		c = *ps->p;
		if (c == ')') {
			struct level *lv = &levels[depth];

			if (depth == 0)
				return fail(ps, "Unexpected ')'");
			ps->p++;
			ps->last_atom = false;
			a = &levels[depth - 1].args[levels[depth - 1].n - 1];
			a->list = lv->args;
			a->list_n = lv->n;
			memset(lv, 0, sizeof(*lv));
			depth--;
		} else if (at_eol(ps)) {
			break;
		} else {
			if ((a = level_push(ps, &levels[depth])) == NULL)
				return -1;
			if (c == '(') {
				if (depth >= IMAP_PARSE_MAX_DEPTH)
					return fail(ps, "Too deep nesting");
				ps->p++;
				a->type = IMAP_ARG_LIST;
				a->list = NULL;
				a->list_n = 0;
				depth++;
				/* "()" and "(" directly followed by an
				 * element: no separator inside. */
				continue;
			}
			if (c == '"')
				r = parse_quoted(ps, a);
			else if (c == '{')
				r = parse_literal(ps, a, false);
			else if (c == '~' && ps->p + 1 < ps->end &&
				 ps->p[1] == '{') {
				ps->p++;
				r = parse_literal(ps, a, true);
			} else if (c == ' ')
				r = fail(ps, "Unexpected space");
			else if (c == '\0')
				r = fail(ps, "NUL in atom");
			else
				r = parse_atom(ps, a);
			if (r < 0)
				return -1;
			ps->last_atom = a->type == IMAP_ARG_ATOM;
		}
		if ((r = parse_separator(ps)) < 0)
			return -1;
		if (r == 0 && at_eol(ps))
			break;
		/* r == 0 and ')': loop closes the list. */
	}
	if (depth > 0)
		return fail(ps, "Missing ')'");
	cmd->args = levels[0].args;
	cmd->n_args = levels[0].n;
	return 0;
}

/* The command must end here: [CR] LF and nothing after it. */
static int
parse_eol(struct parser *ps)
{
	if (ps->p < ps->end && *ps->p == '\r')
		ps->p++;
	if (ps->p >= ps->end || *ps->p != '\n')
		return fail(ps, ps->p >= ps->end ? "Missing CRLF" :
			    "Invalid characters after CR");
	ps->p++;
	if (ps->p != ps->end)
		return fail(ps, "Unexpected data after command");
	return 0;
}

int
imap_parse_command(struct pool *pool, const uint8_t *data, size_t len,
		   struct imap_command *cmd, const char **error)
{
	struct parser ps = { .pool = pool, .p = data, .end = data + len };
	const uint8_t *start;
	char *name;

	memset(cmd, 0, sizeof(*cmd));
	*error = NULL;

	/* tag: the first token, up to SP or the end of the line. */
	start = ps.p;
	while (ps.p < ps.end && *ps.p != ' ' && *ps.p != '\r' &&
	       *ps.p != '\n')
		ps.p++;
	if (ps.p == start) {
		*error = "Missing tag";
		return -1;
	}
	if (!imap_tag_valid((const char *)start, (size_t)(ps.p - start))) {
		*error = "Invalid tag";
		return -1;
	}
	cmd->tag = pool_bytes(pool, start, (size_t)(ps.p - start));

	if (ps.p >= ps.end || *ps.p != ' ') {
		*error = "Missing command";
		return -1;
	}
	ps.p++;

	/* command name: a plain atom, upper-cased for the dispatch table. */
	start = ps.p;
	while (ps.p < ps.end && imap_is_atom_char(*ps.p))
		ps.p++;
	if (ps.p == start) {
		*error = ps.p >= ps.end || *ps.p == ' ' || *ps.p == '\r' ||
			*ps.p == '\n' ? "Missing command" :
			"Invalid command name";
		return -1;
	}
	if (ps.p < ps.end && *ps.p != ' ' && *ps.p != '\r' && *ps.p != '\n') {
		*error = "Invalid command name";
		return -1;
	}
	name = pool_bytes(pool, start, (size_t)(ps.p - start));
	str_upper(name);
	cmd->name = name;

	if (ps.p < ps.end && *ps.p == ' ') {
		/* Arguments follow, or only trailing spaces. */
		const uint8_t *q = ++ps.p;

		while (q < ps.end && *q == ' ')
			q++;
		if (q < ps.end && (*q == '\r' || *q == '\n')) {
			ps.p = q;
		} else if (q != ps.p) {
			*error = "Unexpected space";
			return -1;
		} else if (parse_args(&ps, cmd) < 0) {
			cmd->args = NULL;
			cmd->n_args = 0;
			*error = ps.error;
			return -1;
		}
	}
	if (parse_eol(&ps) < 0) {
		cmd->args = NULL;
		cmd->n_args = 0;
		*error = ps.error;
		return -1;
	}
	return 0;
}

bool
imap_arg_get_atom(const struct imap_arg *a, const char **s)
{
	if (a == NULL || a->type != IMAP_ARG_ATOM)
		return false;
	*s = a->str;
	return true;
}

bool
imap_arg_get_string(const struct imap_arg *a, const char **s)
{
	if (a == NULL)
		return false;
	switch (a->type) {
	case IMAP_ARG_QUOTED:
		break;
	case IMAP_ARG_LITERAL:
		/* literal8 is not a string (RFC 9051 §9), and a string
		 * with NUL cannot be handed out as a C string. */
		if (a->binary || memchr(a->str, '\0', a->len) != NULL)
			return false;
		break;
	default:
		return false;
	}
	*s = a->str;
	return true;
}

bool
imap_arg_get_astring(const struct imap_arg *a, const char **s)
{
	if (a == NULL)
		return false;
	if (a->type == IMAP_ARG_ATOM) {
		for (size_t i = 0; i < a->len; i++) {
			if (!astring_char((uint8_t)a->str[i]))
				return false;
		}
		*s = a->str;
		return true;
	}
	return imap_arg_get_string(a, s);
}

bool
imap_arg_is_nil(const struct imap_arg *a)
{
	return a != NULL && a->type == IMAP_ARG_ATOM && a->len == 3 &&
	       str_eq_ci(a->str, "NIL");
}

bool
imap_arg_get_list(const struct imap_arg *a, const struct imap_arg **l,
		  size_t *n)
{
	if (a == NULL || a->type != IMAP_ARG_LIST)
		return false;
	*l = a->list;
	*n = a->list_n;
	return true;
}
