/*
 * mail rfc2231: RFC 2231 §4 value decoding for Content-Type and
 * Content-Disposition parameters (filename*=utf-8''%E2%82%AC.txt).
 * Called by the MIME parameter parser with untrusted header bytes.
 */
#include <errno.h>
#include <string.h>

#include "mail/charset.h"
#include "mail/rfc2231.h"

size_t
mail_rfc2231_prefix(const char *v, size_t len, const char **cs,
		    size_t *cs_len)
{
	const char *q1 = memchr(v, '\'', len), *q2;

	if (q1 == NULL)
		return 0;
	q2 = memchr(q1 + 1, '\'', len - (size_t)(q1 + 1 - v));
	if (q2 == NULL)
		return 0;
	*cs = v;
	*cs_len = (size_t)(q1 - v);
	return (size_t)(q2 + 1 - v);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
mail_rfc2231_unpercent(const char *s, size_t len, struct buf *raw)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)s[i];
		int hi, lo;

		if (c == '%' && i + 2 < len &&
		    (hi = hexval(s[i + 1])) >= 0 &&
		    (lo = hexval(s[i + 2])) >= 0) {
			c = (uint8_t)(hi << 4 | lo);
			i += 2;
		}
		if (buf_append_byte(raw, c) < 0)
			return -1;
	}
	return 0;
}

int
mail_rfc2231_decode(const char *v, size_t len, struct buf *out)
{
	const char *cs = NULL;
	size_t cs_len = 0, off = mail_rfc2231_prefix(v, len, &cs, &cs_len);
	struct buf *raw = buf_new(len + 1);
	int r;

	(void)mail_rfc2231_unpercent(v + off, len - off, raw);
	if (cs_len == 0)
		cs = NULL;
	r = mail_charset_n_to_utf8(cs, cs_len, buf_data(raw), buf_len(raw),
				   out);
	if (r < 0 && errno == EINVAL)
		r = mail_charset_to_utf8(NULL, buf_data(raw), buf_len(raw),
					 out);
	buf_free(&raw);
	if (r < 0)
		errno = EMSGSIZE;
	return r;
}
