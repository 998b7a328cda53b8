/*
 * mail encword: RFC 2047 decoding of unstructured header text and
 * phrases into UTF-8 (see encword.h for the rules). Input is untrusted
 * header bytes: every scan is bounded by the input, and an encoded word
 * is recognised only up to the first '?', space or control after its
 * start, so the whole decode is linear in the input.
 */
#include <errno.h>
#include <string.h>

#include "core/base64.h"
#include "mail/charset.h"
#include "mail/encword.h"
#include "mail/utf8.h"

struct word {
	const char *charset;
	size_t charset_len;   /* without the RFC 2231 "*lang" suffix */
	char enc;             /* 'B' or 'Q' */
	const char *text;
	size_t text_len;
	size_t total;         /* bytes from "=?" through "?=" */
};

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
mail_encword_decode_q(const char *s, size_t len, struct buf *out)
{
	for (size_t i = 0; i < len; i++) {
		int hi, lo;
		uint8_t c = (uint8_t)s[i];

		if (c == '_') {
			c = ' ';
		} else if (c == '=' && i + 2 < len &&
			   (hi = hexval(s[i + 1])) >= 0 &&
			   (lo = hexval(s[i + 2])) >= 0) {
			c = (uint8_t)(hi << 4 | lo);
			i += 2;
		}
		if (buf_append_byte(out, c) < 0)
			return -1;
	}
	return 0;
}

int
mail_encword_decode_b(const char *s, size_t len, struct buf *out)
{
	uint32_t acc = 0;
	unsigned bits = 0;

	for (size_t i = 0; i < len; i++) {
		int v;

		if (s[i] == '=') {
			/* Padding ends a quantum; some senders glue encoded
			 * chunks together ("4oI=rA=="): go on after it. */
			acc = 0;
			bits = 0;
			continue;
		}
		v = base64_char_value(s[i]);
		if (v < 0)
			continue;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (buf_append_byte(out, (uint8_t)(acc >> bits)) < 0)
				return -1;
		}
	}
	return 0;
}

/* Recognises an encoded word at p ("=?" already seen). */
static bool
parse_word(const char *p, size_t n, struct word *w)
{
	size_t i = 2, cs;

	cs = i;
	while (i < n && p[i] != '?' && (uint8_t)p[i] > ' ' &&
	       (uint8_t)p[i] < 0x7f && i - cs <= MAIL_CHARSET_NAME_MAX + 32)
		i++;
	if (i >= n || p[i] != '?' || i == cs)
		return false;
	w->charset = p + cs;
	w->charset_len = i - cs;
	for (size_t k = 0; k < w->charset_len; k++) {
		if (w->charset[k] == '*') {
			w->charset_len = k;   /* RFC 2231 §5 language */
			break;
		}
	}
	if (i + 2 >= n || p[i + 2] != '?')
		return false;
	w->enc = p[i + 1] & ~0x20;
	if (w->enc != 'B' && w->enc != 'Q')
		return false;
	i += 3;
	w->text = p + i;
	while (i < n && p[i] != '?' && (uint8_t)p[i] > ' ' &&
	       (uint8_t)p[i] < 0x7f)
		i++;
	if (i + 1 >= n || p[i] != '?' || p[i + 1] != '=')
		return false;
	w->text_len = (size_t)(p + i - w->text);
	w->total = i + 2;
	return true;
}

struct dec {
	struct buf *out;
	struct buf *raw;          /* decoded bytes of pending words */
	const char *cs;           /* their charset */
	size_t cs_len;
	bool utf8_literal;        /* literal text is valid UTF-8 */
};

static int
flush(struct dec *d)
{
	int r = 0;

	if (buf_len(d->raw) == 0)
		return 0;
	if (mail_charset_n_to_utf8(d->cs, d->cs_len, buf_data(d->raw),
				   buf_len(d->raw), d->out) < 0) {
		if (errno == EMSGSIZE)
			r = -1;
		/* Unknown charset: read the bytes as undeclared text. */
		else if (mail_charset_to_utf8(NULL, buf_data(d->raw),
					      buf_len(d->raw), d->out) < 0)
			r = -1;
	}
	buf_reset(d->raw);
	return r;
}

static int
literal(struct dec *d, const uint8_t *p, size_t n)
{
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		/* A value passed still folded: CR and LF go (RFC 5322
		 * §2.2.3 unfolding), the WSP after them stays. */
		if (p[i] == '\r' || p[i] == '\n') {
			if (buf_append(d->out, p + i - run, run) < 0)
				return -1;
			run = 0;
			continue;
		}
		if (d->utf8_literal || p[i] < 0x80) {
			run++;
			continue;
		}
		if (buf_append(d->out, p + i - run, run) < 0 ||
		    mail_utf8_append_cp1252(p[i], d->out) < 0)
			return -1;
		run = 0;
	}
	return buf_append(d->out, p + n - run, run);
}

static bool
cs_eq(const char *a, size_t al, const char *b, size_t bl)
{
	return al == bl && strncasecmp(a, b, al) == 0;
}

int
mail_encword_decode(const void *in, size_t len, struct buf *out)
{
	const char *s = in;
	struct dec d = { out, buf_new(len + 1), NULL, 0,
			 mail_utf8_valid(in, len) };
	size_t i = 0, lit = 0;   /* start of pending literal text */
	bool prev_word = false;  /* only whitespace since the last word */
	int r = 0;

	while (i < len) {
		struct word w;

		if (!(s[i] == '=' && i + 1 < len && s[i + 1] == '?' &&
		      parse_word(s + i, len - i, &w))) {
			if (prev_word && s[i] != ' ' && s[i] != '\t' &&
			    s[i] != '\r' && s[i] != '\n')
				prev_word = false;
			i++;
			continue;
		}
		/* Literal text before the word; dropped if it is only the
		 * whitespace between two encoded words (§6.2). */
		if (!prev_word && i > lit &&
		    (flush(&d) < 0 ||
		     literal(&d, (const uint8_t *)s + lit, i - lit) < 0))
			goto full;
		if (buf_len(d.raw) > 0 &&
		    !cs_eq(d.cs, d.cs_len, w.charset, w.charset_len) &&
		    flush(&d) < 0)
			goto full;
		d.cs = w.charset;
		d.cs_len = w.charset_len;
		if ((w.enc == 'B' ?
		     mail_encword_decode_b(w.text, w.text_len, d.raw) :
		     mail_encword_decode_q(w.text, w.text_len, d.raw)) < 0)
			goto full;   /* cannot happen: raw holds len bytes */
		i += w.total;
		lit = i;
		prev_word = true;
	}
	if (flush(&d) < 0 ||
	    literal(&d, (const uint8_t *)s + lit, len - lit) < 0)
		goto full;
	goto done;
full:
	errno = EMSGSIZE;
	r = -1;
done:
	buf_free(&d.raw);
	return r;
}
