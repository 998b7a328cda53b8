/*
 * mail_header: iterate a header block's fields, unfold, look up and
 * filter them (see header.h). Callers: the MIME tree parser, FETCH
 * BODY[HEADER.FIELDS], the envelope and SEARCH header keys. Input is
 * untrusted message bytes; every access is bounded by the given length.
 */
#include <string.h>

#include "mail/header.h"

static bool
is_wsp(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* RFC 5322 §3.6.8 ftext: printable US-ASCII except the colon. */
static bool
is_ftext(uint8_t c)
{
	return c >= 33 && c <= 126 && c != ':';
}

/* End of the line starting at pos: the index after its LF, or len. */
static size_t
line_end(const uint8_t *d, size_t len, size_t pos)
{
	const uint8_t *lf = memchr(d + pos, '\n', len - pos);

	return lf == NULL ? len : (size_t)(lf - d) + 1;
}

/* Length of the line's content without its CRLF / LF. */
static size_t
content_len(const uint8_t *d, size_t start, size_t end)
{
	size_t n = end - start;

	if (n > 0 && d[end - 1] == '\n') {
		n--;
		if (n > 0 && d[start + n - 1] == '\r')
			n--;
	}
	return n;
}

static bool
is_empty_line(const uint8_t *d, size_t start, size_t end)
{
	return end > start && d[end - 1] == '\n' &&
	       content_len(d, start, end) == 0;
}

size_t
mail_header_block_len(const uint8_t *data, size_t len)
{
	size_t pos = 0;

	while (pos < len) {
		size_t end = line_end(data, len, pos);

		if (is_empty_line(data, pos, end))
			return end;
		pos = end;
	}
	return len;
}

void
mail_header_iter_init(struct mail_header_iter *it, const void *data,
		      size_t len)
{
	memset(it, 0, sizeof(*it));
	it->data = data;
	it->len = len < MAIL_HEADER_MAX_BYTES ? len : MAIL_HEADER_MAX_BYTES;
}

bool
mail_header_next(struct mail_header_iter *it, struct mail_header_field *f)
{
	const uint8_t *d = it->data;

	while (!it->done && it->pos < it->len) {
		size_t start = it->pos, end = line_end(d, it->len, start);
		size_t first_end = end, clen, last;
		const uint8_t *colon;
		size_t nlen;

		if (is_empty_line(d, start, end)) {
			it->done = true;
			break;
		}
		/* The field's continuation lines. */
		while (end < it->len && is_wsp(d[end]))
			end = line_end(d, it->len, end);
		it->pos = end;
		if (is_wsp(d[start]))
			continue;       /* continuation without a field */
		clen = content_len(d, start, first_end);
		colon = memchr(d + start, ':', clen);
		if (colon == NULL)
			continue;
		nlen = (size_t)(colon - (d + start));
		while (nlen > 0 && is_wsp(d[start + nlen - 1]))
			nlen--;
		if (nlen == 0)
			continue;
		for (size_t i = 0; i < nlen; i++)
			if (!is_ftext(d[start + i]))
				goto skip;
		if (++it->n_fields > MAIL_HEADER_MAX_FIELDS) {
			it->done = true;
			break;
		}
		/* The value ends before the last line's line end. */
		last = end;
		if (last > start && d[last - 1] == '\n') {
			last--;
			if (last > start && d[last - 1] == '\r')
				last--;
		}
		f->name = d + start;
		f->name_len = nlen;
		f->value = colon + 1;
		f->value_len = (size_t)(d + last - f->value);
		f->raw = d + start;
		f->raw_len = end - start;
		return true;
skip:;
	}
	return false;
}

static bool
name_eq(const uint8_t *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);

	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++) {
		uint8_t x = a[i], y = (uint8_t)b[i];

		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (y >= 'A' && y <= 'Z')
			y += 'a' - 'A';
		if (x != y)
			return false;
	}
	return true;
}

bool
mail_header_name_is(const struct mail_header_field *f, const char *name)
{
	return name_eq(f->name, f->name_len, name);
}

bool
mail_header_find(const void *data, size_t len, const char *name,
		 struct mail_header_field *f)
{
	struct mail_header_iter it;

	mail_header_iter_init(&it, data, len);
	while (mail_header_next(&it, f))
		if (mail_header_name_is(f, name))
			return true;
	return false;
}

int
mail_header_unfold(struct buf *out, const uint8_t *v, size_t len)
{
	size_t start = 0, end = len;

	while (start < end && (is_wsp(v[start]) || v[start] == '\r' ||
			       v[start] == '\n'))
		start++;
	while (end > start && (is_wsp(v[end - 1]) || v[end - 1] == '\r' ||
			       v[end - 1] == '\n'))
		end--;
	for (size_t i = start; i < end; i++) {
		if (v[i] == '\r' && i + 1 < end && v[i + 1] == '\n')
			continue;
		if (v[i] == '\n')
			continue;
		if (buf_append_byte(out, v[i]) < 0)
			return -1;
	}
	return 0;
}

int
mail_header_filter(struct buf *out, const void *data, size_t len,
		   const char *const *names, size_t n, bool not_)
{
	struct mail_header_iter it;
	struct mail_header_field f;

	mail_header_iter_init(&it, data, len);
	while (mail_header_next(&it, &f)) {
		bool listed = false;

		for (size_t i = 0; i < n && !listed; i++)
			listed = mail_header_name_is(&f, names[i]);
		if (listed == not_)
			continue;
		if (buf_append(out, f.raw, f.raw_len) < 0)
			return -1;
		if (f.raw[f.raw_len - 1] != '\n' &&
		    buf_append(out, "\r\n", 2) < 0)
			return -1;
	}
	return buf_append(out, "\r\n", 2);
}
