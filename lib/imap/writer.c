/*
 * imap writer: appends strings to a response in the form the grammar
 * allows (RFC 9051 §4.1, §4.3, §9): atom, quoted string or literal.
 * Callers: every response builder in imap-login and imap.
 * Trust: the text may come from mail or from the client (mailbox names,
 * header fields), so it is never copied raw: what cannot be quoted goes
 * out as a synchronizing literal with an exact octet count. Each call
 * either appends its whole item or leaves the buffer as it was.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/str.h"
#include "imap/parser.h"
#include "imap/writer.h"

/* Longer text goes out as a literal: a quoted string must be scanned
 * for its end by the client, a literal is counted; and some clients
 * have small line buffers. */
#define QUOTE_MAX 1024

static bool
can_quote(const uint8_t *p, size_t len, bool utf8)
{
	if (len > QUOTE_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		/* 8-bit is legal in IMAP4rev2 quoted strings only, and we
		 * cannot know the client speaks rev2, unless it enabled
		 * UTF8=ACCEPT (RFC 6855 §3: uQUOTED-CHAR). */
		if (p[i] == '\0' || p[i] == '\r' || p[i] == '\n' ||
		    (p[i] >= 0x80 && !utf8))
			return false;
	}
	return true;
}

bool
imap_can_quote(const void *s, size_t len)
{
	return can_quote(s, len, false);
}

bool
imap_is_atom(const void *s, size_t len)
{
	const uint8_t *p = s;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!imap_is_atom_char(p[i]))
			return false;
	}
	return true;
}

/* The end of the quoted string at p[i] (its opening '"'), or 0. */
static size_t
quoted_end(const uint8_t *p, size_t len, size_t i, bool utf8)
{
	for (i++; i < len; i++) {
		if (p[i] == '"')
			return i + 1;
		if (p[i] == '\\') {
			if (++i == len || (p[i] != '"' && p[i] != '\\'))
				return 0;
		} else if (p[i] == '\0' || p[i] == '\r' || p[i] == '\n' ||
			   (p[i] >= 0x80 && !utf8)) {
			return 0;
		}
	}
	return 0;
}

/* The end of the literal at p[i] (its '{'), or 0. */
static size_t
literal_end(const uint8_t *p, size_t len, size_t i)
{
	uint64_t n = 0;
	size_t digits = 0;

	for (i++; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
		if (++digits > 10)
			return 0;
		n = n * 10 + (uint64_t)(p[i] - '0');
	}
	if (digits == 0 || len - i < 3 || memcmp(p + i, "}\r\n", 3) != 0)
		return 0;
	i += 3;
	if (n > len - i || memchr(p + i, '\0', (size_t)n) != NULL)
		return 0;
	return i + (size_t)n;
}

bool
imap_list_valid(const void *s, size_t len, bool utf8)
{
	const uint8_t *p = s;
	size_t i = 0, depth = 0;

	if (len == 0 || p[0] != '(')
		return false;
	while (i < len) {
		uint8_t c = p[i];

		if (c == '(') {
			depth++;
			i++;
		} else if (c == ')') {
			if (depth == 0)
				return false;
			i++;
			if (--depth == 0)
				return i == len;
		} else if (c == ' ') {
			i++;
		} else if (c == '"') {
			if ((i = quoted_end(p, len, i, utf8)) == 0)
				return false;
		} else if (c == '{') {
			/* after '(' or SP: no literal8 ("~{"), no atom
			 * running into a count */
			if ((p[i - 1] != '(' && p[i - 1] != ' ') ||
			    (i = literal_end(p, len, i)) == 0)
				return false;
		} else if (imap_is_atom_char(c)) {
			i++;
		} else {
			return false;
		}
	}
	return false;	/* a list left open */
}

static int
write_quoted(struct buf *b, const uint8_t *p, size_t len)
{
	size_t start = buf_len(b), run = 0;

	if (buf_append_byte(b, '"') < 0)
		goto fail;
	for (size_t i = 0; i < len; i++) {
		if (p[i] != '"' && p[i] != '\\') {
			run++;
			continue;
		}
		if (buf_append(b, p + i - run, run) < 0 ||
		    buf_append_byte(b, '\\') < 0 ||
		    buf_append_byte(b, p[i]) < 0)
			goto fail;
		run = 0;
	}
	if (buf_append(b, p + len - run, run) < 0 ||
	    buf_append_byte(b, '"') < 0)
		goto fail;
	return 0;
fail:
	buf_truncate(b, start);
	return -1;
}

static int
write_literal(struct buf *b, const uint8_t *p, size_t len)
{
	size_t start = buf_len(b);

	/* Server to client: always the synchronizing form (RFC 9051
	 * §4.3: non-synchronizing literals MUST NOT be sent by servers). */
	if (buf_printf(b, "{%zu}\r\n", len) < 0 || buf_append(b, p, len) < 0) {
		buf_truncate(b, start);
		return -1;
	}
	return 0;
}

int
imap_write_string(struct buf *b, const void *s, size_t len)
{
	if (imap_can_quote(s, len))
		return write_quoted(b, s, len);
	return write_literal(b, s, len);
}

int
imap_write_utf8_string(struct buf *b, const void *s, size_t len)
{
	if (can_quote(s, len, true))
		return write_quoted(b, s, len);
	return write_literal(b, s, len);
}

int
imap_write_astring(struct buf *b, const void *s, size_t len)
{
	/* A mailbox called NIL is sent quoted: as an atom it is legal in
	 * an astring, but clients that parse it as nstring would read
	 * "no value" (RFC 9051 §4.5). */
	if (imap_is_atom(s, len) &&
	    !(len == 3 && strncasecmp(s, "NIL", 3) == 0))
		return buf_append(b, s, len);
	return imap_write_string(b, s, len);
}

int
imap_write_nstring(struct buf *b, const char *s)
{
	if (s == NULL)
		return buf_append_str(b, "NIL");
	return imap_write_string(b, s, strlen(s));
}
