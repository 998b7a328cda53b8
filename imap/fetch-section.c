/*
 * fetch_section: parser of a FETCH section spec and partial (see
 * fetch-section.h). The bytes are the client's: every number is bounded,
 * every name checked, and nothing else is accepted:
 *   section          = "[" [section-spec] "]"
 *   section-spec     = section-msgtext / (section-part ["." section-text])
 *   section-msgtext  = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list /
 *                      "TEXT"
 *   section-part     = nz-number *("." nz-number)
 *   section-text     = section-msgtext / "MIME"
 *   header-list      = "(" header-fld-name *(SP header-fld-name) ")"
 *   section-binary   = "[" [section-part] "]"            (RFC 3516)
 *   partial          = "<" number64 "." nz-number64 ">"
 * A header-fld-name is an astring; we take atoms and quoted strings of
 * RFC 5322 ftext (printable ASCII but ":"), the only names a field can
 * have.
 */
#include <inttypes.h>
#include <string.h>

#include "core/buf.h"
#include "core/num.h"
#include "core/str.h"
#include "imap/fetch-section.h"

struct sp {
	const char *p;
	struct pool *pool;
	struct buf *name;        /* the canonical spec being built */
};

static bool
eat(struct sp *s, const char *word)
{
	size_t n = strlen(word);

	if (strncmp(s->p, word, n) != 0)
		return false;
	s->p += n;
	return true;
}

static bool
name_char(char c)
{
	return c > 0x20 && c < 0x7f && c != ':' && c != '(' && c != ')' &&
		c != '{' && c != '"' && c != '\\' && c != ']' && c != '%' &&
		c != '*';
}

/* One header-fld-name; returns it (pool) or NULL. */
static const char *
field_name(struct sp *s)
{
	char tmp[1000];
	size_t n = 0;

	if (*s->p == '"') {
		s->p++;
		while (*s->p != '"') {
			char c = *s->p;

			if (c == '\\' && (s->p[1] == '"' || s->p[1] == '\\'))
				c = *++s->p;
			else if (c == '\\')
				return NULL;
			/* ftext: printable ASCII except ":" */
			if (c <= 0x20 || c >= 0x7f || c == ':' ||
			    n + 1 >= sizeof(tmp))
				return NULL;
			tmp[n++] = c;
			s->p++;
		}
		s->p++;
	} else {
		while (name_char(*s->p)) {
			if (n + 1 >= sizeof(tmp))
				return NULL;
			tmp[n++] = *s->p++;
		}
	}
	if (n == 0)
		return NULL;
	return pool_strndup(s->pool, tmp, n);
}

/* A field name in the response: an atom if it can be one, else a
 * quoted string (RFC 9051 header-fld-name = astring). */
static int
echo_name(struct buf *b, const char *n)
{
	bool atom = true;

	for (const char *p = n; *p != '\0'; p++)
		atom &= name_char(*p);
	if (atom)
		return buf_append_str(b, n);
	if (buf_append_byte(b, '"') < 0)
		return -1;
	for (const char *p = n; *p != '\0'; p++)
		if (((*p == '"' || *p == '\\') &&
		     buf_append_byte(b, '\\') < 0) ||
		    buf_append_byte(b, (uint8_t)*p) < 0)
			return -1;
	return buf_append_byte(b, '"');
}

static int
header_list(struct sp *s, struct mail_section *sec)
{
	const char **names = pool_alloc(s->pool, FETCH_SECTION_MAX_FIELDS *
					sizeof(*names));
	const char *n;

	if (!eat(s, " ("))
		return -1;
	if (buf_append_str(s->name, " (") < 0)
		return -1;
	for (;;) {
		if (sec->n_fields == FETCH_SECTION_MAX_FIELDS ||
		    (n = field_name(s)) == NULL)
			return -1;
		names[sec->n_fields++] = n;
		if (echo_name(s->name, n) < 0)
			return -1;
		if (*s->p == ')')
			break;
		if (*s->p++ != ' ' || buf_append_byte(s->name, ' ') < 0)
			return -1;
	}
	s->p++;
	sec->fields = names;
	return buf_append_byte(s->name, ')');
}

/* section-msgtext, or MIME when allowed (after a part number). */
static int
msgtext(struct sp *s, struct mail_section *sec, bool mime_ok)
{
	if (eat(s, "HEADER.FIELDS.NOT")) {
		sec->kind = MAIL_SECTION_HEADER_FIELDS_NOT;
		return buf_append_str(s->name, "HEADER.FIELDS.NOT") < 0 ? -1 :
			header_list(s, sec);
	}
	if (eat(s, "HEADER.FIELDS")) {
		sec->kind = MAIL_SECTION_HEADER_FIELDS;
		return buf_append_str(s->name, "HEADER.FIELDS") < 0 ? -1 :
			header_list(s, sec);
	}
	if (eat(s, "HEADER")) {
		sec->kind = MAIL_SECTION_HEADER;
		return buf_append_str(s->name, "HEADER");
	}
	if (eat(s, "TEXT")) {
		sec->kind = MAIL_SECTION_TEXT;
		return buf_append_str(s->name, "TEXT");
	}
	if (mime_ok && eat(s, "MIME")) {
		sec->kind = MAIL_SECTION_MIME;
		return buf_append_str(s->name, "MIME");
	}
	return -1;
}

static int
part_number(struct sp *s, uint32_t *v)
{
	size_t n = strspn(s->p, "0123456789");
	uint64_t u;

	/* nz-number: no leading zero, no zero */
	if (n == 0 || s->p[0] == '0' ||
	    num_parse_u64_n(s->p, n, UINT32_MAX, &u) < 0)
		return -1;
	*v = (uint32_t)u;
	s->p += n;
	return 0;
}

static int
spec(struct sp *s, enum fetch_section_syntax syntax, struct mail_section *sec)
{
	sec->kind = MAIL_SECTION_BODY;
	if (*s->p == ']')
		return 0;
	if (*s->p < '0' || *s->p > '9')
		return syntax == FETCH_SECTION_BODY ? msgtext(s, sec, false) :
			-1;
	for (;;) {
		if (sec->n_part == MAIL_SECTION_MAX_PARTS ||
		    part_number(s, &sec->part[sec->n_part]) < 0)
			return -1;
		if (buf_printf(s->name, "%s%" PRIu32,
			       sec->n_part > 0 ? "." : "",
			       sec->part[sec->n_part]) < 0)
			return -1;
		sec->n_part++;
		if (*s->p != '.')
			return 0;
		s->p++;
		if (*s->p < '0' || *s->p > '9')
			break;
	}
	if (syntax != FETCH_SECTION_BODY || buf_append_byte(s->name, '.') < 0)
		return -1;
	return msgtext(s, sec, true);
}

static int
partial(struct sp *s, struct fetch_section *out)
{
	const char *dot, *end;

	if (*s->p == '\0')
		return 0;
	dot = strchr(s->p, '.');
	end = strchr(s->p, '>');
	if (s->p[0] != '<' || dot == NULL || end == NULL || dot > end ||
	    end[1] != '\0' ||
	    num_parse_u64_n(s->p + 1, (size_t)(dot - s->p - 1), INT64_MAX,
			    &out->origin) < 0 ||
	    num_parse_u64_n(dot + 1, (size_t)(end - dot - 1), INT64_MAX,
			    &out->count) < 0 || out->count == 0)
		return -1;
	out->partial = true;
	return 0;
}

int
fetch_section_parse(struct pool *pool, const char *str,
		    enum fetch_section_syntax syntax,
		    struct fetch_section *out, const char **error)
{
	struct sp s = { .p = str, .pool = pool };
	int rc = -1;

	memset(out, 0, sizeof(*out));
	*error = "Invalid section in FETCH item.";
	s.name = buf_new(64 * 1024);
	if (!eat(&s, "[") || buf_append_byte(s.name, '[') < 0 ||
	    spec(&s, syntax, &out->sec) < 0 || !eat(&s, "]") ||
	    buf_append_byte(s.name, ']') < 0)
		goto done;
	if (syntax == FETCH_SECTION_SIZE ? *s.p != '\0' :
	    partial(&s, out) < 0) {
		*error = "Invalid partial in FETCH item.";
		goto done;
	}
	out->spec = pool_strdup(pool, buf_str(s.name));
	rc = 0;
done:
	buf_free(&s.name);
	return rc;
}
