/*
 * mail addr: a lenient RFC 5322 address-list parser (§3.4, obs-* §4.4,
 * UTF-8 per RFC 6532). Input is an untrusted header value. It reads what
 * a careful MUA would from broken mail: a missing domain, an unbalanced
 * quote, bracket or parenthesis (runs to the end of the value), junk
 * around an address (skipped, the entry marked invalid). Comments are
 * skipped iteratively with a depth counter, never recursion; the depth
 * and the number of entries are bounded (addr.h), and every string is at
 * most the input's length (a route twice that), so memory is O(input).
 */
#include <string.h>

#include "mail/addr.h"
#include "mail/charset.h"
#include "mail/encword.h"

enum tok { T_END, T_ATOM, T_QUOTED, T_DLIT, T_SPECIAL };

struct parser {
	const uint8_t *s;
	size_t len, i;
	struct pool *pool;
	struct mail_addr_list *list;
	struct mail_addr **tail;
	struct mail_addr *last;   /* the entry added last */
	struct buf *comment;      /* text of the last comment */
	bool have_comment;
	bool stop;                /* limit hit: parse no further */
	bool bad;                 /* the current entry is invalid */
	bool spaced;              /* CFWS before the current token */
};

/* Byte classes: one table lookup per byte instead of a chain of
 * comparisons (the lexer looks at every byte a few times). */
enum { C_SPECIAL = 1, C_SPACE = 2 };
static const uint8_t cls[256] = {
	['('] = C_SPECIAL, [')'] = C_SPECIAL, ['<'] = C_SPECIAL,
	['>'] = C_SPECIAL, ['['] = C_SPECIAL, [']'] = C_SPECIAL,
	[':'] = C_SPECIAL, [';'] = C_SPECIAL, ['@'] = C_SPECIAL,
	['\\'] = C_SPECIAL, [','] = C_SPECIAL, ['.'] = C_SPECIAL,
	['"'] = C_SPECIAL,
	/* NUL has no place in a header; a space, so it cannot cut a C
	 * string short downstream. */
	[' '] = C_SPACE, ['\t'] = C_SPACE, ['\r'] = C_SPACE,
	['\n'] = C_SPACE, ['\0'] = C_SPACE,
};

static bool
is_special(uint8_t c)
{
	return cls[c] == C_SPECIAL;
}

static bool
is_space(uint8_t c)
{
	return cls[c] == C_SPACE;
}

static void
skip_comment(struct parser *p)
{
	size_t depth = 0;

	buf_reset(p->comment);
	p->have_comment = true;
	while (p->i < p->len) {
		uint8_t c = p->s[p->i++];

		if (c == '\\' && p->i < p->len) {
			c = p->s[p->i++];
		} else if (c == '(') {
			if (++depth > MAIL_ADDR_MAX_COMMENT_DEPTH) {
				p->stop = true;
				p->list->truncated = true;
				p->i = p->len;
				return;
			}
			if (depth == 1)
				continue;
		} else if (c == ')') {
			if (--depth == 0)
				return;
		}
		if (is_space(c) && (buf_len(p->comment) == 0 ||
				    buf_data(p->comment)[buf_len(p->comment) - 1] == ' '))
			continue;
		(void)buf_append_byte(p->comment, is_space(c) ? ' ' : c);
	}
	p->bad = true;   /* unbalanced: ran to the end */
}

static void
skip_cfws(struct parser *p)
{
	p->spaced = false;
	while (p->i < p->len) {
		uint8_t c = p->s[p->i];

		if (is_space(c)) {
			p->i++;
		} else if (c == '(') {
			skip_comment(p);
		} else {
			break;
		}
		p->spaced = true;
	}
}

/* Reads the next token; its text (unquoted) goes to text if not NULL.
 * Sets *sp for T_SPECIAL. */
static enum tok
lex(struct parser *p, struct buf *text, uint8_t *sp)
{
	uint8_t c;

	skip_cfws(p);
	if (p->i >= p->len)
		return T_END;
	c = p->s[p->i];
	if (c == '"') {
		p->i++;
		while (p->i < p->len) {
			c = p->s[p->i++];
			if (c == '"')
				return T_QUOTED;
			if (c == '\\' && p->i < p->len)
				c = p->s[p->i++];
			if (c == '\r' || c == '\n')
				continue;   /* folding inside the string */
			if (text != NULL && c != '\0')
				(void)buf_append_byte(text, c);
		}
		p->bad = true;
		return T_QUOTED;
	}
	if (c == '[') {
		size_t st = p->i++;
		while (p->i < p->len && p->s[p->i] != ']') {
			if (p->s[p->i] == '\\' && p->i + 1 < p->len)
				p->i++;
			p->i++;
		}
		if (p->i < p->len)
			p->i++;
		else
			p->bad = true;
		if (text != NULL) {
			/* NUL would cut the pooled C string short; CR and
			 * LF are folding. A quoted pair of one of those goes
			 * whole: a lone backslash would escape what follows
			 * ("[a\<NUL>]" written back as "[a\]" is open). */
			for (size_t k = st; k < p->i; k++) {
				uint8_t b = p->s[k];
				bool pair = b == '\\' && k + 1 < p->i;
				uint8_t e = pair ? p->s[k + 1] : b;

				if (e == '\0' || e == '\r' || e == '\n') {
					k += pair;
					continue;
				}
				(void)buf_append_byte(text, b);
				if (pair)
					(void)buf_append_byte(text, p->s[++k]);
			}
		}
		return T_DLIT;
	}
	if (is_special(c)) {
		p->i++;
		*sp = c;
		return T_SPECIAL;
	}
	size_t st = p->i;
	while (p->i < p->len && cls[p->s[p->i]] == 0)
		p->i++;
	if (text != NULL)
		(void)buf_append(text, p->s + st, p->i - st);
	return T_ATOM;
}

/* The next token without consuming it. */
static enum tok
peek(struct parser *p, uint8_t *sp)
{
	size_t save = p->i;
	bool bad = p->bad;
	enum tok t = lex(p, NULL, sp);

	p->i = save;
	p->bad = bad;
	return t;
}

/* Reads a phrase/local-part: atoms, quoted strings and dots. The phrase
 * joins words with one space where the source had CFWS; local joins
 * them exactly. Returns the number of words read. */
static size_t
read_words(struct parser *p, struct buf *phrase, struct buf *local)
{
	size_t n = 0;
	uint8_t sp = 0;

	for (;;) {
		enum tok t = peek(p, &sp);

		if (t == T_END || (t == T_SPECIAL && sp != '.'))
			return n;
		if (t == T_DLIT)
			return n;
		skip_cfws(p);
		if (p->spaced && buf_len(phrase) > 0)
			(void)buf_append_byte(phrase, ' ');
		size_t ps = buf_len(phrase);
		(void)lex(p, phrase, &sp);
		if (t == T_SPECIAL)
			(void)buf_append_byte(phrase, '.');
		(void)buf_append(local, buf_data(phrase) + ps,
				 buf_len(phrase) - ps);
		n++;
	}
}

static void
read_domain(struct parser *p, struct buf *host)
{
	uint8_t sp = 0;
	bool want_label = true;

	for (;;) {
		enum tok t = peek(p, &sp);

		if ((t == T_ATOM || t == T_DLIT) && want_label) {
			(void)lex(p, host, &sp);
			want_label = false;
		} else if (t == T_SPECIAL && sp == '.') {
			/* "a..b" and "a." are kept as written (obs-domain
			 * allows CFWS around the dots, not missing labels,
			 * but real mail has them). */
			(void)lex(p, NULL, &sp);
			(void)buf_append_byte(host, '.');
			want_label = true;
		} else {
			/* Two labels without a dot: the second one starts
			 * something else ("a@b c@d"). */
			return;
		}
	}
}

static const char *
dup_buf(struct parser *p, const struct buf *b)
{
	return pool_strndup(p->pool, buf_str(b), buf_len(b));
}

static struct mail_addr *
add(struct parser *p, enum mail_addr_kind kind)
{
	struct mail_addr *a;

	if (p->list->count >= MAIL_ADDR_MAX_ADDRS) {
		p->list->truncated = true;
		p->stop = true;
		return NULL;
	}
	a = pool_alloc(p->pool, sizeof(*a));
	a->kind = kind;
	*p->tail = a;
	p->tail = &a->next;
	p->last = a;
	p->list->count++;
	return a;
}

static void
add_mailbox(struct parser *p, const struct buf *name, const char *route,
	    const struct buf *local, const struct buf *host)
{
	struct mail_addr *a = add(p, MAIL_ADDR_MAILBOX);

	if (a == NULL)
		return;
	if (name != NULL && buf_len(name) > 0)
		a->name = dup_buf(p, name);
	else if (p->have_comment && buf_len(p->comment) > 0)
		a->name = dup_buf(p, p->comment);
	a->route = route;
	a->mailbox = dup_buf(p, local);
	a->host = host != NULL ? dup_buf(p, host) : "";
	a->invalid = p->bad || host == NULL || buf_len(host) == 0 ||
		     buf_len(local) == 0;
}

/* After '<': [route ':'] addr-spec '>'. */
static void
parse_angle(struct parser *p, struct buf *name, struct buf *local,
	    struct buf *host)
{
	uint8_t sp = 0;
	const char *route = NULL;
	bool have_host = false;

	if (peek(p, &sp) == T_SPECIAL && sp == '@') {
		/* obs-route: "@a,@b:" kept for ENVELOPE's adl. */
		/* A ',' is added between hops written without one
		 * ("@a@b"): at most twice the input. */
		struct buf *r = buf_new(2 * p->len + 2);
		while (peek(p, &sp) == T_SPECIAL && (sp == '@' || sp == ',')) {
			(void)lex(p, NULL, &sp);
			if (sp == '@') {
				size_t before = buf_len(r);
				if (before > 0)
					(void)buf_append_byte(r, ',');
				(void)buf_append_byte(r, '@');
				size_t mark = buf_len(r);
				read_domain(p, r);
				if (buf_len(r) == mark) {
					/* "@@": no domain, nothing kept */
					buf_truncate(r, before);
					p->bad = true;
				}
			}
		}
		if (peek(p, &sp) == T_SPECIAL && sp == ':') {
			(void)lex(p, NULL, &sp);
			route = dup_buf(p, r);
		} else if (memchr(buf_data(r), ',', buf_len(r)) == NULL) {
			/* "<@x>": not a route but a missing local part. */
			buf_reset(local);
			buf_reset(host);
			(void)buf_append(host, buf_data(r) + 1, buf_len(r) - 1);
			buf_free(&r);
			if (peek(p, &sp) == T_SPECIAL && sp == '>')
				(void)lex(p, NULL, &sp);
			else
				p->bad = true;
			skip_cfws(p);
			add_mailbox(p, name, NULL, local, host);
			return;
		} else {
			p->bad = true;
			route = dup_buf(p, r);
		}
		buf_free(&r);
	}
	buf_reset(local);
	(void)read_words(p, host, local);   /* host: scratch here */
	buf_reset(host);
	if (peek(p, &sp) == T_SPECIAL && sp == '@') {
		(void)lex(p, NULL, &sp);
		read_domain(p, host);
		have_host = true;
	}
	if (peek(p, &sp) == T_SPECIAL && sp == '>')
		(void)lex(p, NULL, &sp);
	else
		p->bad = true;
	/* "<>" (a null reverse path) is kept as an empty, invalid entry. */
	skip_cfws(p);
	add_mailbox(p, name, route, local, have_host ? host : NULL);
}

/* Skips to the end of the element (',' or, in a group, ';'). */
static void
skip_junk(struct parser *p, bool in_group, struct mail_addr *last)
{
	uint8_t sp = 0;

	for (;;) {
		enum tok t = peek(p, &sp);

		if (t == T_END || (t == T_SPECIAL && (sp == ',' || sp == ';')))
			return;
		(void)lex(p, NULL, &sp);
		if (last != NULL)
			last->invalid = true;
	}
}

static void parse_element(struct parser *p, bool in_group,
			  struct buf *bufs[3]);

static void
parse_group(struct parser *p, struct buf *phrase, struct buf *bufs[3])
{
	struct mail_addr *a = add(p, MAIL_ADDR_GROUP_START);
	uint8_t sp = 0;

	if (a == NULL)
		return;
	a->mailbox = dup_buf(p, phrase);
	a->invalid = p->bad;
	while (!p->stop) {
		enum tok t = peek(p, &sp);

		if (t == T_END)
			break;   /* no ';': the group ends with the field */
		if (t == T_SPECIAL && sp == ';') {
			(void)lex(p, NULL, &sp);
			break;
		}
		if (t == T_SPECIAL && sp == ',') {
			(void)lex(p, NULL, &sp);
			continue;
		}
		parse_element(p, true, bufs);
	}
	if (!p->stop)
		(void)add(p, MAIL_ADDR_GROUP_END);
}

static void
parse_element(struct parser *p, bool in_group, struct buf *bufs[3])
{
	struct buf *phrase = bufs[0], *local = bufs[1], *host = bufs[2];
	size_t before = p->list->count, n;
	uint8_t sp = 0;

	buf_reset(phrase);
	buf_reset(local);
	buf_reset(host);
	p->bad = false;
	p->have_comment = false;
	for (;;) {
		n = read_words(p, phrase, local);
		enum tok t = peek(p, &sp);
		if (t == T_SPECIAL && (sp == '>' || sp == ')' || sp == ']' ||
				       sp == '\\' || (sp == ':' && in_group))) {
			/* Stray character: skip it, keep reading. */
			(void)lex(p, NULL, &sp);
			p->bad = true;
			continue;
		}
		if (t == T_DLIT) {
			(void)lex(p, phrase, &sp);
			p->bad = true;
			continue;
		}
		break;
	}
	switch (peek(p, &sp)) {
	case T_SPECIAL:
		if (sp == '<') {
			(void)lex(p, NULL, &sp);
			parse_angle(p, phrase, local, host);
			break;
		}
		if (sp == '@') {
			(void)lex(p, NULL, &sp);
			read_domain(p, host);
			skip_cfws(p);
			if (peek(p, &sp) == T_SPECIAL && sp == '<') {
				/* john@x <john@x>: an unquoted address as the
				 * display name (common in spam and bad MUAs). */
				buf_reset(phrase);
				(void)buf_append(phrase, buf_data(local),
						 buf_len(local));
				(void)buf_append_byte(phrase, '@');
				(void)buf_append(phrase, buf_data(host),
						 buf_len(host));
				(void)lex(p, NULL, &sp);
				parse_angle(p, phrase, local, host);
				break;
			}
			add_mailbox(p, NULL, NULL, local, host);
			break;
		}
		if (sp == ':' && !in_group) {
			(void)lex(p, NULL, &sp);
			parse_group(p, phrase, bufs);
			return;
		}
		/* ',' or ';': the element had no '@' or '<'. */
		if (n > 0)
			add_mailbox(p, NULL, NULL, local, NULL);
		return;
	default:
		if (n > 0)
			add_mailbox(p, NULL, NULL, local, NULL);
		return;
	}
	skip_junk(p, in_group, p->list->count != before ? p->last : NULL);
}

void
mail_addr_parse(struct pool *pool, const void *s, size_t len,
		struct mail_addr_list *list)
{
	struct buf *bufs[3] = { buf_new(len + 1), buf_new(len + 1),
				buf_new(len + 1) };
	struct parser p = {
		.s = s, .len = len, .pool = pool, .list = list,
		.comment = buf_new(len + 1),
	};
	uint8_t sp = 0;

	memset(list, 0, sizeof(*list));
	p.tail = &list->head;
	while (!p.stop) {
		enum tok t = peek(&p, &sp);

		if (t == T_END)
			break;
		if (t == T_SPECIAL && (sp == ',' || sp == ';')) {
			/* An empty element (§4.4 obs-addr-list), or ';' used
			 * as a separator outside a group (common in mail
			 * from users who typed it). */
			(void)lex(&p, NULL, &sp);
			continue;
		}
		parse_element(&p, false, bufs);
	}
	for (int i = 0; i < 3; i++)
		buf_free(&bufs[i]);
	buf_free(&p.comment);
}

const struct mail_addr *
mail_addr_first(const struct mail_addr_list *l)
{
	for (const struct mail_addr *a = l->head; a != NULL; a = a->next) {
		if (a->kind == MAIL_ADDR_MAILBOX)
			return a;
	}
	return NULL;
}

int
mail_addr_display(const struct mail_addr *a, struct buf *out)
{
	size_t start = buf_len(out);

	if (a->name != NULL && a->name[0] != '\0') {
		if (mail_encword_decode(a->name, strlen(a->name), out) < 0)
			return -1;
		/* A name that decodes to nothing but spaces is "empty". */
		for (size_t i = start; i < buf_len(out); i++) {
			if (buf_data(out)[i] != ' ' && buf_data(out)[i] != '\t')
				return 0;
		}
		buf_truncate(out, start);
	}
	/* The addr-spec may hold undeclared 8-bit bytes: the same UTF-8 or
	 * Windows-1252 reading as unstructured text (charset.h). */
	if (mail_charset_to_utf8(NULL, a->mailbox, strlen(a->mailbox), out) < 0)
		return -1;
	if (a->host[0] != '\0' &&
	    (buf_append_byte(out, '@') < 0 ||
	     mail_charset_to_utf8(NULL, a->host, strlen(a->host), out) < 0))
		return -1;
	return 0;
}

static int
write_quoted(struct buf *out, const char *s)
{
	if (buf_append_byte(out, '"') < 0)
		return -1;
	for (; *s != '\0'; s++) {
		if ((*s == '"' || *s == '\\') && buf_append_byte(out, '\\') < 0)
			return -1;
		if (buf_append_byte(out, (uint8_t)*s) < 0)
			return -1;
	}
	return buf_append_byte(out, '"');
}

static bool
is_dot_atom(const char *s)
{
	bool prev_dot = true;

	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		uint8_t c = (uint8_t)*s;
		if (c == '.') {
			if (prev_dot)
				return false;
			prev_dot = true;
			continue;
		}
		if (is_special(c) || is_space(c) || c < 0x20 || c == 0x7f)
			return false;
		prev_dot = false;
	}
	return !prev_dot;
}

int
mail_addr_write(const struct mail_addr_list *l, struct buf *out)
{
	bool first = true;

	for (const struct mail_addr *a = l->head; a != NULL; a = a->next) {
		int r = 0;

		if (a->kind == MAIL_ADDR_GROUP_END) {
			r = buf_append_byte(out, ';');
			first = false;
			if (r < 0)
				return -1;
			continue;
		}
		if (!first && buf_append_str(out, ", ") < 0)
			return -1;
		if (a->kind == MAIL_ADDR_GROUP_START) {
			if ((a->mailbox[0] != '\0' &&
			     write_quoted(out, a->mailbox) < 0) ||
			    buf_append_byte(out, ':') < 0)
				return -1;
			first = true;
			continue;
		}
		first = false;
		bool angle = a->name != NULL || a->route != NULL ||
			     a->mailbox[0] == '\0';
		if (a->name != NULL &&
		    (write_quoted(out, a->name) < 0 ||
		     buf_append_byte(out, ' ') < 0))
			return -1;
		if (angle && buf_append_byte(out, '<') < 0)
			return -1;
		if (a->route != NULL && (buf_append_str(out, a->route) < 0 ||
					 buf_append_byte(out, ':') < 0))
			return -1;
		if (a->mailbox[0] != '\0')
			r = is_dot_atom(a->mailbox) ?
			    buf_append_str(out, a->mailbox) :
			    write_quoted(out, a->mailbox);
		if (r < 0)
			return -1;
		if (a->host[0] != '\0' &&
		    (buf_append_byte(out, '@') < 0 ||
		     buf_append_str(out, a->host) < 0))
			return -1;
		if (angle && buf_append_byte(out, '>') < 0)
			return -1;
	}
	return 0;
}
