/*
 * mutf7: modified UTF-7 (RFC 3501 §5.1.3) <-> UTF-8, canonical forms only.
 * Callers: mailbox-name.c and the LIST/STATUS writers. Inputs are client
 * bytes or folder names other programs created on disk: untrusted. The
 * decoder keeps at most 21 pending bits and one pending high surrogate,
 * so its state is constant whatever the input.
 */
#include <errno.h>
#include <stdint.h>

#include "core/base64.h"
#include "core/buf.h"
#include "imap/mutf7.h"

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* RFC 3501 §5.1.3's modified base64: ',' instead of '/'. */
static int
b64val(unsigned char c)
{
	if (c == ',')
		return 63;
	if (c == '/')
		return -1;
	return base64_char_value((char)c);
}

size_t
mutf7_utf8_next(const char *src, size_t len, unsigned long *cp)
{
	const unsigned char *p = (const unsigned char *)src;
	unsigned long c;
	size_t n;

	if (len == 0 || p[0] == 0)
		return 0;
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		c = p[0] & 0x07;
	} else {
		return 0;   /* continuation byte, C0/C1 overlong lead, > U+10FFFF */
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	/* RFC 3629 §4: shortest form only, no surrogates, at most U+10FFFF. */
	if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) ||
	    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return 0;
	*cp = c;
	return n;
}

bool
mutf7_utf8_valid(const char *src, size_t len)
{
	unsigned long cp;

	while (len > 0) {
		size_t n = mutf7_utf8_next(src, len, &cp);

		if (n == 0)
			return false;
		src += n;
		len -= n;
	}
	return true;
}

/* Appends cp (a valid scalar value) as UTF-8; NULL out only validates. */
static int
put_utf8(struct buf *out, unsigned long cp)
{
	uint8_t s[4];
	size_t n;

	if (out == NULL)
		return 0;
	if (cp < 0x80) {
		s[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		s[0] = (uint8_t)(0xc0 | cp >> 6);
		s[1] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		s[0] = (uint8_t)(0xe0 | cp >> 12);
		s[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		s[2] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		s[0] = (uint8_t)(0xf0 | cp >> 18);
		s[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
		s[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		s[3] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_append(out, s, n);
}

static int
put_byte(struct buf *out, char c)
{
	return out == NULL ? 0 : buf_append_byte(out, (uint8_t)c);
}

/* The decoder; out == NULL only validates. Returns 0, or -1 with errno. */
static int
decode(const char *src, size_t len, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)src;
	bool after_run = false;
	size_t i = 0;

	while (i < len) {
		uint32_t bits = 0, high = 0;
		unsigned nbits = 0;

		if (p[i] != '&') {
			if (p[i] < 0x20 || p[i] > 0x7e)
				goto inval;
			if (put_byte(out, (char)p[i]) < 0)
				return -1;
			after_run = false;
			i++;
			continue;
		}
		i++;
		if (i < len && p[i] == '-') {
			if (put_byte(out, '&') < 0)
				return -1;
			after_run = false;
			i++;
			continue;
		}
		/* "-&" between two runs: a null shift, not permitted. */
		if (after_run)
			goto inval;
		for (; i < len && p[i] != '-'; i++) {
			int v = b64val(p[i]);
			uint32_t u;

			if (v < 0)
				goto inval;
			bits = bits << 6 | (uint32_t)v;
			nbits += 6;
			if (nbits < 16)
				continue;
			nbits -= 16;
			u = (bits >> nbits) & 0xffff;
			bits &= (1u << nbits) - 1;
			if (high != 0) {
				if (u < 0xdc00 || u > 0xdfff)
					goto inval;
				u = 0x10000 + ((high - 0xd800) << 10) +
				    (u - 0xdc00);
				high = 0;
			} else if (u >= 0xd800 && u <= 0xdbff) {
				high = u;
				continue;
			} else if (u >= 0xdc00 && u <= 0xdfff) {
				goto inval;
			} else if (u == 0 || (u >= 0x20 && u <= 0x7e)) {
				/* NUL, or printable ASCII that must stand for
				 * itself (this includes an encoded "&"). */
				goto inval;
			}
			if (put_utf8(out, u) < 0)
				return -1;
		}
		/* Unterminated run, dangling high surrogate, a whole unused
		 * base64 character, or non-zero padding bits. */
		if (i >= len || high != 0 || nbits >= 6 || bits != 0)
			goto inval;
		i++;
		after_run = true;
	}
	return 0;
inval:
	errno = EINVAL;
	return -1;
}

int
mutf7_to_utf8(const char *src, size_t len, struct buf *out)
{
	size_t start = buf_len(out);

	if (decode(src, len, out) < 0) {
		int e = errno;

		buf_truncate(out, start);
		errno = e;
		return -1;
	}
	return 0;
}

bool
mutf7_valid(const char *src, size_t len)
{
	return decode(src, len, NULL) == 0;
}

int
mutf7_from_utf8(const char *src, size_t len, struct buf *out)
{
	size_t start = buf_len(out);
	bool in_run = false;
	uint32_t bits = 0;
	unsigned nbits = 0;

	while (len > 0) {
		unsigned long cp;
		size_t n = mutf7_utf8_next(src, len, &cp);
		uint32_t units[2];
		size_t nunits;

		if (n == 0) {
			errno = EINVAL;
			goto fail;
		}
		src += n;
		len -= n;
		if (cp >= 0x20 && cp <= 0x7e) {
			if (in_run) {
				if (nbits > 0 &&
				    buf_append_byte(out, (uint8_t)b64chars[
					    (bits << (6 - nbits)) & 0x3f]) < 0)
					goto fail;
				if (buf_append_byte(out, '-') < 0)
					goto fail;
				in_run = false;
				bits = 0;
				nbits = 0;
			}
			if (cp == '&' ? buf_append_str(out, "&-") < 0 :
			    buf_append_byte(out, (uint8_t)cp) < 0)
				goto fail;
			continue;
		}
		if (!in_run) {
			if (buf_append_byte(out, '&') < 0)
				goto fail;
			in_run = true;
		}
		if (cp >= 0x10000) {
			units[0] = 0xd800 + (uint32_t)((cp - 0x10000) >> 10);
			units[1] = 0xdc00 + (uint32_t)((cp - 0x10000) & 0x3ff);
			nunits = 2;
		} else {
			units[0] = (uint32_t)cp;
			nunits = 1;
		}
		for (size_t u = 0; u < nunits; u++) {
			bits = bits << 16 | units[u];
			nbits += 16;
			while (nbits >= 6) {
				nbits -= 6;
				if (buf_append_byte(out, (uint8_t)b64chars[
					    (bits >> nbits) & 0x3f]) < 0)
					goto fail;
			}
			bits &= (1u << nbits) - 1;
		}
	}
	if (in_run) {
		if (nbits > 0 && buf_append_byte(out, (uint8_t)b64chars[
			    (bits << (6 - nbits)) & 0x3f]) < 0)
			goto fail;
		if (buf_append_byte(out, '-') < 0)
			goto fail;
	}
	return 0;
fail:
	{
		int e = errno;

		buf_truncate(out, start);
		errno = e;
	}
	return -1;
}
