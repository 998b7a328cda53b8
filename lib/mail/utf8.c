/*
 * mail utf8: strict UTF-8 decoding (RFC 3629 §3-4), repair with U+FFFD,
 * and the Windows-1252 fallback used for undeclared 8-bit text. Callers:
 * lib/mail/charset.c, encword.c, casemap.c; inputs are untrusted.
 */
#include "mail/utf8.h"

int
mail_utf8_decode(const uint8_t *p, size_t n, uint32_t *cp)
{
	uint8_t c = p[0];
	size_t need;
	uint32_t v, min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2; v = c & 0x1f; min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3; v = c & 0x0f; min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4; v = c & 0x07; min = 0x10000;
	} else {
		return -1;
	}
	for (size_t i = 1; i < need; i++) {
		if (i >= n) {
			/* The second byte, checked below, already ruled out
			 * overlongs, surrogates and > U+10FFFF: what is there
			 * can still become a valid sequence. */
			return 0;
		}
		if ((p[i] & 0xc0) != 0x80)
			return -1;
		v = (v << 6) | (p[i] & 0x3f);
		if (i == 1 && need > 2) {
			/* Reject overlongs, surrogates and > U+10FFFF at the
			 * second byte, so an incomplete prefix is judged the
			 * same way as a complete sequence. */
			if ((c == 0xe0 && p[1] < 0xa0) ||
			    (c == 0xed && p[1] > 0x9f) ||
			    (c == 0xf0 && p[1] < 0x90) ||
			    (c == 0xf4 && p[1] > 0x8f))
				return -1;
		}
	}
	if (v < min || (v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff)
		return -1;
	*cp = v;
	return (int)need;
}

size_t
mail_utf8_encode(uint32_t cp, uint8_t d[4])
{
	if (cp < 0x80) {
		d[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (uint8_t)(0xc0 | (cp >> 6));
		d[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		cp = 0xfffd;
	if (cp < 0x10000) {
		d[0] = (uint8_t)(0xe0 | (cp >> 12));
		d[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		d[2] = (uint8_t)(0x80 | (cp & 0x3f));
		return 3;
	}
	d[0] = (uint8_t)(0xf0 | (cp >> 18));
	d[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
	d[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
	d[3] = (uint8_t)(0x80 | (cp & 0x3f));
	return 4;
}

bool
mail_utf8_valid(const void *s, size_t len)
{
	const uint8_t *p = s;
	size_t i = 0;
	uint32_t cp;

	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		int n = mail_utf8_decode(p + i, len - i, &cp);
		if (n <= 0)
			return false;
		i += (size_t)n;
	}
	return true;
}

int
mail_utf8_sanitize(const void *s, size_t len, struct buf *out)
{
	const uint8_t *p = s;
	size_t i = 0, run = 0;
	uint32_t cp;

	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			run++;
			continue;
		}
		int n = mail_utf8_decode(p + i, len - i, &cp);
		if (n > 0) {
			i += (size_t)n;
			run += (size_t)n;
			continue;
		}
		if (buf_append(out, p + i - run, run) < 0 ||
		    buf_append_str(out, MAIL_UTF8_REPLACEMENT) < 0)
			return -1;
		run = 0;
		i++;
	}
	return buf_append(out, p + len - run, run);
}

/* Windows-1252 0x80-0x9f (Unicode's cp1252 mapping, WHATWG index). */
static const uint16_t cp1252_c1[32] = {
	0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008d, 0x017d, 0x008f,
	0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
};

int
mail_utf8_append_cp1252(uint8_t c, struct buf *out)
{
	uint8_t d[4];
	uint32_t cp = c;

	if (c >= 0x80 && c < 0xa0)
		cp = cp1252_c1[c - 0x80];
	return buf_append(out, d, mail_utf8_encode(cp, d));
}
