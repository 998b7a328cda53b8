/*
 * mail_param: Content-Type / Content-Disposition / parameter lists with
 * RFC 2231 continuations joined (see param.h). Callers: the MIME tree
 * parser. Input is an untrusted header value; every read is bounded by
 * the given length and all output lives in the caller's pool.
 */
#include <string.h>

#include "core/buf.h"
#include "core/str.h"
#include "mail/param.h"

struct cur {
	const uint8_t *p;
	size_t len, pos;
};

/* RFC 2045 §5.1 tspecials. */
static bool
is_tspecial(uint8_t c)
{
	return strchr("()<>@,;:\\\"/[]?=", c) != NULL && c != '\0';
}

/* Token byte: not SPACE, CTL or tspecial; 8-bit bytes are kept (real
 * mail has raw UTF-8 file names). */
static bool
is_token(uint8_t c)
{
	return c > ' ' && c != 0x7f && !is_tspecial(c);
}

/* Skips whitespace, line ends and (nested) comments. */
static void
skip_cfws(struct cur *c)
{
	while (c->pos < c->len) {
		uint8_t ch = c->p[c->pos];

		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
			c->pos++;
		} else if (ch == '(') {
			unsigned depth = 0;

			while (c->pos < c->len) {
				ch = c->p[c->pos++];
				if (ch == '\\' && c->pos < c->len)
					c->pos++;
				else if (ch == '(')
					depth++;
				else if (ch == ')' && --depth == 0)
					break;
			}
		} else {
			break;
		}
	}
}

static char *
lower_dup(struct pool *pool, const uint8_t *s, size_t n)
{
	char *r = pool_strndup(pool, (const char *)s, n);

	for (char *q = r; *q != '\0'; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q + 'a' - 'A');
	return r;
}

/* A token at the cursor: its start and length (0 if none). */
static size_t
get_token(struct cur *c, const uint8_t **start)
{
	size_t b = c->pos;

	while (c->pos < c->len && is_token(c->p[c->pos]))
		c->pos++;
	*start = c->p + b;
	return c->pos - b;
}

/* A value (quoted-string or token) into out, NUL/CR/LF dropped. */
static void
get_value(struct cur *c, struct buf *out)
{
	if (c->pos < c->len && c->p[c->pos] == '"') {
		c->pos++;
		while (c->pos < c->len) {
			uint8_t ch = c->p[c->pos++];

			if (ch == '"')
				return;
			if (ch == '\\' && c->pos < c->len)
				ch = c->p[c->pos++];
			if (ch != '\0' && ch != '\r' && ch != '\n')
				(void)buf_append_byte(out, ch);
		}
		return;         /* unterminated: the rest is the value */
	}
	while (c->pos < c->len && is_token(c->p[c->pos]))
		(void)buf_append_byte(out, c->p[c->pos++]);
}

static void
skip_to_semicolon(struct cur *c)
{
	while (c->pos < c->len && c->p[c->pos] != ';') {
		if (c->p[c->pos] == '"') {
			c->pos++;
			while (c->pos < c->len && c->p[c->pos] != '"') {
				if (c->p[c->pos] == '\\' && c->pos + 1 < c->len)
					c->pos++;
				c->pos++;
			}
		}
		if (c->pos < c->len)
			c->pos++;
	}
}

/* One raw "name[*N][*]=value" before joining. */
struct raw_param {
	char *base;
	int section;        /* -1: no section number */
	bool star;
	char *value;
	size_t vlen;
	bool used;
};

/* Splits "name*12*" into base, section and star. */
static void
split_name(struct pool *pool, const uint8_t *n, size_t len,
	   struct raw_param *rp)
{
	size_t i;

	rp->section = -1;
	rp->star = false;
	if (len > 0 && n[len - 1] == '*') {
		rp->star = true;
		len--;
	}
	i = len;
	while (i > 0 && n[i - 1] >= '0' && n[i - 1] <= '9')
		i--;
	if (i < len && i > 0 && n[i - 1] == '*' && len - i <= 3 &&
	    (len - i == 1 || n[i] != '0')) {
		int v = 0;

		for (size_t k = i; k < len; k++)
			v = v * 10 + (n[k] - '0');
		rp->section = v;
		len = i - 1;
	}
	rp->base = lower_dup(pool, n, len);
}

/* RFC 2231 §7 attribute-char: what may stay unescaped in an extended
 * value. */
static bool
is_attr_char(uint8_t c)
{
	return is_token(c) && c < 0x80 && c != '*' && c != '\'' && c != '%';
}

static void
append_escaped(struct buf *b, const char *v, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		uint8_t ch = (uint8_t)v[i];

		if (is_attr_char(ch)) {
			(void)buf_append_byte(b, ch);
		} else {
			(void)buf_append_byte(b, '%');
			(void)buf_append_byte(b, (uint8_t)hex[ch >> 4]);
			(void)buf_append_byte(b, (uint8_t)hex[ch & 15]);
		}
	}
}

/* Joins the sections of raw[first]'s base name into *out; false if
 * there is no section 0. */
static bool
join_sections(struct pool *pool, struct raw_param *raw, size_t n,
	      size_t first, struct mail_param *out)
{
	struct raw_param *sec[MAIL_PARAM_MAX_SECTIONS];
	size_t count = 0;
	bool ext = false;
	struct buf *b;

	for (int want = 0; want < MAIL_PARAM_MAX_SECTIONS; want++) {
		struct raw_param *hit = NULL;

		for (size_t i = first; i < n; i++) {
			if (raw[i].section < 0 ||
			    !str_eq(raw[i].base, raw[first].base))
				continue;
			if (raw[i].section == want && hit == NULL)
				hit = &raw[i];
			raw[i].used = true;
		}
		if (hit == NULL)
			break;
		sec[count++] = hit;
		ext = ext || hit->star;
	}
	if (count == 0)
		return false;
	b = buf_new(SIZE_MAX / 2);
	if (ext && !sec[0]->star)
		(void)buf_append(b, "''", 2);
	for (size_t i = 0; i < count; i++) {
		if (ext && !sec[i]->star)
			append_escaped(b, sec[i]->value, sec[i]->vlen);
		else
			(void)buf_append(b, sec[i]->value, sec[i]->vlen);
	}
	out->name = raw[first].base;
	out->value = pool_strndup(pool, buf_str(b), buf_len(b));
	out->extended = ext;
	buf_free(&b);
	return true;
}

static bool
has_rfc2231(const struct raw_param *raw, size_t n, const char *base)
{
	for (size_t i = 0; i < n; i++)
		if ((raw[i].section >= 0 || raw[i].star) &&
		    str_eq(raw[i].base, base))
			return true;
	return false;
}

static void
parse_list(struct pool *pool, struct cur *c, struct mail_param **params,
	   size_t *np)
{
	struct raw_param raw[MAIL_PARAM_MAX_SECTIONS];
	size_t n = 0, out_n = 0;
	struct mail_param *out;
	struct buf *vb = buf_new(SIZE_MAX / 2);

	while (c->pos < c->len && n < MAIL_PARAM_MAX_SECTIONS) {
		const uint8_t *name;
		size_t nlen;

		skip_to_semicolon(c);
		if (c->pos >= c->len)
			break;
		c->pos++;       /* ';' */
		skip_cfws(c);
		nlen = get_token(c, &name);
		skip_cfws(c);
		if (nlen == 0 || c->pos >= c->len || c->p[c->pos] != '=')
			continue;
		c->pos++;
		skip_cfws(c);
		buf_reset(vb);
		get_value(c, vb);
		memset(&raw[n], 0, sizeof(raw[n]));
		split_name(pool, name, nlen, &raw[n]);
		if (raw[n].base[0] == '\0')
			continue;
		raw[n].value = pool_strndup(pool, buf_str(vb), buf_len(vb));
		raw[n].vlen = strlen(raw[n].value);
		n++;
	}
	buf_free(&vb);

	out = pool_alloc(pool, (n + 1) * sizeof(*out));
	for (size_t i = 0; i < n && out_n < MAIL_PARAM_MAX; i++) {
		struct raw_param *r = &raw[i];

		if (r->used)
			continue;
		if (mail_param_find(out, out_n, r->base) != NULL) {
			r->used = true;     /* duplicate: first one wins */
			continue;
		}
		if (r->section >= 0) {
			if (join_sections(pool, raw, n, i, &out[out_n]))
				out_n++;
			continue;
		}
		r->used = true;
		if (!r->star && has_rfc2231(raw, n, r->base))
			continue;       /* the RFC 2231 form wins */
		out[out_n].name = r->base;
		out[out_n].value = r->value;
		out[out_n].extended = r->star;
		out_n++;
	}
	*params = out;
	*np = out_n;
}

void
mail_params_parse(struct pool *pool, const uint8_t *v, size_t len,
		  struct mail_param **params, size_t *n)
{
	struct cur c = { v, len, 0 };

	parse_list(pool, &c, params, n);
}

const struct mail_param *
mail_param_find(const struct mail_param *params, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (params[i].name != NULL && str_eq_ci(params[i].name, name))
			return &params[i];
	return NULL;
}

int
mail_ctype_parse(struct pool *pool, const uint8_t *v, size_t len,
		 struct mail_ctype *ct)
{
	struct cur c = { v, len, 0 };
	const uint8_t *t, *s;
	size_t tlen, slen = 0;
	int rc = -1;

	memset(ct, 0, sizeof(*ct));
	skip_cfws(&c);
	tlen = get_token(&c, &t);
	skip_cfws(&c);
	if (tlen > 0 && c.pos < c.len && c.p[c.pos] == '/') {
		c.pos++;
		skip_cfws(&c);
		slen = get_token(&c, &s);
		if (slen > 0) {
			ct->type = lower_dup(pool, t, tlen);
			ct->subtype = lower_dup(pool, s, slen);
			rc = 0;
		}
	}
	parse_list(pool, &c, &ct->params, &ct->n_params);
	return rc;
}

void
mail_ctype_default(struct pool *pool, struct mail_ctype *ct, bool digest)
{
	memset(ct, 0, sizeof(*ct));
	if (digest) {
		ct->type = "message";
		ct->subtype = "rfc822";
		ct->params = pool_alloc(pool, sizeof(*ct->params));
		return;
	}
	ct->type = "text";
	ct->subtype = "plain";
	ct->params = pool_alloc(pool, sizeof(*ct->params));
	ct->params[0].name = "charset";
	ct->params[0].value = "us-ascii";
	ct->n_params = 1;
}

int
mail_disposition_parse(struct pool *pool, const uint8_t *v, size_t len,
		       struct mail_disposition *d)
{
	struct cur c = { v, len, 0 };
	const uint8_t *t;
	size_t tlen;

	memset(d, 0, sizeof(*d));
	skip_cfws(&c);
	tlen = get_token(&c, &t);
	if (tlen == 0)
		return -1;
	d->type = lower_dup(pool, t, tlen);
	parse_list(pool, &c, &d->params, &d->n_params);
	return 0;
}

const char *
mail_token_parse(struct pool *pool, const uint8_t *v, size_t len)
{
	struct cur c = { v, len, 0 };
	const uint8_t *t;
	size_t tlen;

	skip_cfws(&c);
	tlen = get_token(&c, &t);
	return tlen == 0 ? NULL : lower_dup(pool, t, tlen);
}
