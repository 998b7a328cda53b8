/*
 * mail textnorm: a message's normalized text segments (see textnorm.h).
 * Input: an untrusted message; every stage has bounded state and every
 * buffer a maximum.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/pool.h"
#include "core/str.h"
#include "mail/addr.h"
#include "mail/casemap.h"
#include "mail/charset.h"
#include "mail/cte.h"
#include "mail/encword.h"
#include "mail/header.h"
#include "mail/textnorm.h"
#include "mail/utf8.h"

#define TN_READ 65536           /* bytes read from the message at a time */
#define TN_SLICE 4096           /* decoded per pipeline step */
#define TN_CASEMAP_SLICE 1024   /* casemapped at a time (<= 18x growth) */

struct tn {
	const struct mail_textnorm_src *src;
	mail_textnorm_cb *cb;
	void *ctx;
	struct mail_textnorm_seg seg;
	bool skip, stop;

	uint8_t *raw;           /* TN_READ, made by the first body read */
	struct buf *dec, *conv, *html, *cm;
	struct buf *hdr, *val, *txt;
	struct pool *pool;
};

/* --- reading --------------------------------------------------------- */

/* Reads len bytes at pos of the message; -1 (errno) on error or EOF
 * before len. */
static int
src_read(const struct mail_textnorm_src *src, uint64_t pos, uint8_t *dst,
	 size_t len)
{
	size_t got = 0;

	if (pos > src->size || len > src->size - pos) {
		errno = EIO;
		return -1;
	}
	if (src->fd < 0) {
		memcpy(dst, src->data + pos, len);
		return 0;
	}
	while (got < len) {
		ssize_t r = pread(src->fd, dst + got, len - got,
				  src->offset + (off_t)(pos + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0) {
			errno = EIO;
			return -1;
		}
		got += (size_t)r;
	}
	return 0;
}

/* --- segments ---------------------------------------------------------- */

static void
seg_start(struct tn *tn, enum mail_textnorm_kind kind, uint32_t part,
	  const uint8_t *name, size_t name_len)
{
	int r;

	tn->seg.kind = kind;
	tn->seg.part = part;
	tn->seg.name = name;
	tn->seg.name_len = name_len;
	r = tn->cb(tn->ctx, MAIL_TEXTNORM_START, &tn->seg, NULL, 0);
	tn->skip = r == MAIL_TEXTNORM_SKIP;
	tn->stop = r == MAIL_TEXTNORM_STOP;
}

/* END comes after every START, also when the callback stopped. */
static void
seg_end(struct tn *tn)
{
	if (tn->cb(tn->ctx, MAIL_TEXTNORM_END, &tn->seg, NULL, 0) ==
	    MAIL_TEXTNORM_STOP)
		tn->stop = true;
	tn->skip = false;
}

/* Casemaps UTF-8 text and hands it to the callback. */
static void
emit(struct tn *tn, const uint8_t *s, size_t len)
{
	while (len > 0 && !tn->skip && !tn->stop) {
		size_t n = len < TN_CASEMAP_SLICE ? len : TN_CASEMAP_SLICE;
		uint8_t *p;
		size_t m;
		int r;

		/* Cut at a character boundary (the input is UTF-8). */
		while (n < len && n > 1 && (s[n] & 0xc0) == 0x80)
			n--;
		buf_reset(tn->cm);
		(void)mail_casemap(s, n, tn->cm);
		p = buf_data_mut(tn->cm);
		m = buf_len(tn->cm);
		/* No NUL inside a segment (NUL is the separator). */
		for (size_t i = 0; i < m; i++) {
			if (p[i] == '\0')
				p[i] = ' ';
		}
		if (m > 0) {
			r = tn->cb(tn->ctx, MAIL_TEXTNORM_DATA, &tn->seg, p, m);
			tn->skip = r == MAIL_TEXTNORM_SKIP;
			tn->stop = r == MAIL_TEXTNORM_STOP;
		}
		s += n;
		len -= n;
	}
}

/* --- header fields ------------------------------------------------------ */

static bool
is_address_field(const struct mail_header_field *f)
{
	static const char *const names[] = { "from", "to", "cc", "bcc",
		"sender", "reply-to", "resent-from", "resent-to",
		"resent-cc", "resent-bcc", "resent-sender" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (mail_header_name_is(f, names[i]))
			return true;
	}
	return false;
}

/* Addresses as "name <mailbox@host>, ..." (groups "name: ...;") with
 * decoded names, into tn->txt. */
static void
write_addresses(struct tn *tn, const uint8_t *v, size_t len)
{
	struct mail_addr_list list;
	struct buf *o = tn->txt;
	bool first = true;

	/* made at the first address field: a search of Subject needs none
	 * (a run per message: 16 kB less to allocate and free each) */
	if (tn->pool == NULL)
		tn->pool = pool_new(16384);
	pool_clear(tn->pool);
	mail_addr_parse(tn->pool, v, len, &list);
	for (const struct mail_addr *a = list.head; a != NULL; a = a->next) {
		if (a->kind == MAIL_ADDR_GROUP_END) {
			(void)buf_append_str(o, ";");
			first = false;
			continue;
		}
		if (!first)
			(void)buf_append_str(o, ", ");
		first = false;
		if (a->kind == MAIL_ADDR_GROUP_START) {
			(void)mail_encword_decode(a->mailbox,
						  strlen(a->mailbox), o);
			(void)buf_append_str(o, ": ");
			first = true;
			continue;
		}
		if (a->name != NULL && a->name[0] != '\0') {
			(void)mail_encword_decode(a->name, strlen(a->name), o);
			(void)buf_append_str(o, " <");
		}
		(void)mail_utf8_sanitize(a->mailbox, strlen(a->mailbox), o);
		if (a->host[0] != '\0') {
			(void)buf_append_str(o, "@");
			(void)mail_utf8_sanitize(a->host, strlen(a->host), o);
		}
		if (a->name != NULL && a->name[0] != '\0')
			(void)buf_append_str(o, ">");
	}
}

static void
header_field(struct tn *tn, enum mail_textnorm_kind kind, uint32_t part,
	     const struct mail_header_field *f)
{
	size_t vlen = f->value_len;

	seg_start(tn, kind, part, f->name, f->name_len);
	if (!tn->skip && !tn->stop) {
		if (vlen > MAIL_TEXTNORM_FIELD_MAX)
			vlen = MAIL_TEXTNORM_FIELD_MAX;
		buf_reset(tn->val);
		buf_reset(tn->txt);
		(void)mail_header_unfold(tn->val, f->value, vlen);
		if (is_address_field(f))
			write_addresses(tn, buf_data(tn->val),
					buf_len(tn->val));
		else
			(void)mail_encword_decode(buf_data(tn->val),
						  buf_len(tn->val), tn->txt);
		emit(tn, buf_data(tn->txt), buf_len(tn->txt));
	}
	seg_end(tn);
}

static int
header_block(struct tn *tn, const struct mail_part *p, uint32_t idx,
	     enum mail_textnorm_kind kind)
{
	size_t len = p->hdr_size > MAIL_TEXTNORM_HEADER_MAX ?
		MAIL_TEXTNORM_HEADER_MAX : (size_t)p->hdr_size;
	struct mail_header_iter it;
	struct mail_header_field f;
	uint8_t *d;

	buf_reset(tn->hdr);
	d = buf_reserve(tn->hdr, len);
	if (d == NULL || src_read(tn->src, p->hdr_offset, d, len) < 0)
		return -1;
	buf_commit(tn->hdr, len);
	mail_header_iter_init(&it, buf_data(tn->hdr), len);
	while (!tn->stop && mail_header_next(&it, &f))
		header_field(tn, kind, idx, &f);
	return 0;
}

/* --- HTML to text --------------------------------------------------------- */

enum {
	H_TEXT, H_TAG_OPEN, H_TAG_NAME, H_TAG_REST, H_BANG, H_COMMENT,
	H_DECL, H_ENT,
};

void
mail_html2text_init(struct mail_html2text *h)
{
	memset(h, 0, sizeof(*h));
	h->last_ws = true;
}

static bool
is_alnum(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9');
}

static uint8_t
lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

static int
h_out(struct mail_html2text *h, const void *s, size_t len, struct buf *out)
{
	if (h->skip || len == 0)
		return 0;
	h->last_ws = false;
	return buf_append(out, s, len);
}

/* White space collapses (HTML renders a run as one space). */
static int
h_space(struct mail_html2text *h, char c, struct buf *out)
{
	if (h->skip || h->last_ws)
		return 0;
	h->last_ws = true;
	return buf_append_byte(out, (uint8_t)c);
}

static bool
name_in(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(name, list[i]) == 0)
			return true;
	}
	return false;
}

static int
tag_done(struct mail_html2text *h, struct buf *out)
{
	static const char *const blocks[] = { "br", "p", "div", "tr", "td",
		"th", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5",
		"h6", "hr", "blockquote", "pre", "title", "dd", "dt", "dl",
		"section", "article", "header", "footer", "body", "head",
		"html", "option", "caption", "address", "center" };
	char *name = h->name;

	h->state = H_TEXT;
	if (h->name_len >= sizeof(h->name))
		return 0;       /* too long for any name we know */
	name[h->name_len] = '\0';
	if (h->skip) {
		if (h->end_tag && strcmp(name, h->skip_name) == 0)
			h->skip = false;
		return 0;
	}
	if (!h->end_tag && (strcmp(name, "script") == 0 ||
			    strcmp(name, "style") == 0)) {
		memcpy(h->skip_name, name, strlen(name) + 1);
		h->skip = true;
		return 0;
	}
	if (name_in(name, blocks, sizeof(blocks) / sizeof(blocks[0])))
		return h_space(h, '\n', out);
	return 0;
}

static uint32_t
named_entity(const char *e)
{
	static const struct { const char *name; uint32_t cp; } ents[] = {
		{ "amp", '&' }, { "lt", '<' }, { "gt", '>' },
		{ "quot", '"' }, { "apos", '\'' }, { "nbsp", 0xa0 },
		{ "copy", 0xa9 }, { "reg", 0xae }, { "euro", 0x20ac },
		{ "hellip", 0x2026 }, { "mdash", 0x2014 },
		{ "ndash", 0x2013 }, { "laquo", 0xab }, { "raquo", 0xbb },
		{ "lsquo", 0x2018 }, { "rsquo", 0x2019 },
		{ "ldquo", 0x201c }, { "rdquo", 0x201d }, { "bull", 0x2022 },
		{ "middot", 0xb7 }, { "deg", 0xb0 }, { "times", 0xd7 },
		{ "auml", 0xe4 }, { "ouml", 0xf6 }, { "uuml", 0xfc },
		{ "Auml", 0xc4 }, { "Ouml", 0xd6 }, { "Uuml", 0xdc },
		{ "szlig", 0xdf }, { "eacute", 0xe9 }, { "egrave", 0xe8 },
		{ "agrave", 0xe0 }, { "aacute", 0xe1 }, { "ccedil", 0xe7 },
		{ "Eacute", 0xc9 }, { "ntilde", 0xf1 }, { "oacute", 0xf3 },
		{ "iacute", 0xed }, { "uacute", 0xfa }, { "shy", 0 },
	};

	for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
		if (strcmp(e, ents[i].name) == 0)
			return ents[i].cp;
	}
	return UINT32_MAX;
}

/* A character reference ended by ';': its text, or itself if unknown. */
static int
ent_done(struct mail_html2text *h, struct buf *out)
{
	uint32_t cp = UINT32_MAX;
	uint8_t u[4];
	char *e = h->ent;

	h->state = H_TEXT;
	e[h->ent_len] = '\0';
	if (e[0] == '#') {
		bool hex = e[1] == 'x' || e[1] == 'X';
		const char *d = e + (hex ? 2 : 1);
		char *end;
		unsigned long v;

		if (*d != '\0') {
			v = strtoul(d, &end, hex ? 16 : 10);
			if (*end == '\0' && d[0] != '-' && d[0] != '+')
				cp = v > 0x10ffff || v == 0 ? 0xfffd :
					(uint32_t)v;
		}
	} else {
		cp = named_entity(e);
	}
	if (cp == UINT32_MAX) {
		if (h_out(h, "&", 1, out) < 0 ||
		    h_out(h, e, h->ent_len, out) < 0)
			return -1;
		return h_out(h, ";", 1, out);
	}
	if (cp == 0)
		return 0;       /* &shy; */
	if (cp == 0xa0)
		return h_space(h, ' ', out);
	return h_out(h, u, mail_utf8_encode(cp, u), out);
}

int
mail_html2text_push(struct mail_html2text *h, const uint8_t *in, size_t len,
		    struct buf *out)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t c = in[i];
		int r = 0;

again:
		switch (h->state) {
		case H_TEXT:
			if (c == '<') {
				h->state = H_TAG_OPEN;
				h->end_tag = false;
				h->name_len = 0;
			} else if (c == '&' && !h->skip) {
				h->state = H_ENT;
				h->ent_len = 0;
			} else if (c == ' ' || c == '\t' || c == '\r' ||
				   c == '\n' || c == '\f') {
				r = h_space(h, ' ', out);
			} else {
				r = h_out(h, &c, 1, out);
			}
			break;
		case H_TAG_OPEN:
			if (c == '/' && !h->end_tag) {
				h->end_tag = true;
			} else if (is_alnum(c) && (c > '9' || h->end_tag)) {
				h->state = H_TAG_NAME;
				goto again;
			} else if (c == '!' && !h->end_tag && !h->skip) {
				h->state = H_BANG;
				h->dashes = 0;
			} else if (h->skip) {
				h->state = H_TEXT;
			} else {
				/* "a < b": not a tag */
				h->state = H_TEXT;
				r = h_out(h, h->end_tag ? "</" : "<",
					  h->end_tag ? 2 : 1, out);
				if (r == 0)
					goto again;
			}
			break;
		case H_TAG_NAME:
			if (is_alnum(c)) {
				if (h->name_len < sizeof(h->name))
					h->name[h->name_len++] = (char)lower(c);
				break;
			}
			if (h->skip && (!h->end_tag ||
					h->name_len >= sizeof(h->name) ||
					h->name_len != strlen(h->skip_name) ||
					memcmp(h->name, h->skip_name,
					       h->name_len) != 0)) {
				/* Inside script/style only its end tag
				 * counts. */
				h->state = H_TEXT;
				goto again;
			}
			h->state = H_TAG_REST;
			h->quote_dq = h->quote_sq = false;
			goto again;
		case H_TAG_REST:
			if (h->quote_dq) {
				h->quote_dq = c != '"';
			} else if (h->quote_sq) {
				h->quote_sq = c != '\'';
			} else if (c == '"') {
				h->quote_dq = true;
			} else if (c == '\'') {
				h->quote_sq = true;
			} else if (c == '>') {
				r = tag_done(h, out);
			}
			break;
		case H_BANG:
			if (c == '-' && h->dashes < 2) {
				if (++h->dashes == 2) {
					h->state = H_COMMENT;
					h->dashes = 0;
				}
			} else {
				h->state = c == '>' ? H_TEXT : H_DECL;
			}
			break;
		case H_COMMENT:
			if (c == '>' && h->dashes >= 2)
				h->state = H_TEXT;
			else if (c == '-')
				h->dashes++;
			else
				h->dashes = 0;
			break;
		case H_DECL:
			if (c == '>')
				h->state = H_TEXT;
			break;
		case H_ENT:
			if (c == ';') {
				r = ent_done(h, out);
			} else if ((is_alnum(c) || (c == '#' &&
						    h->ent_len == 0)) &&
				   h->ent_len < sizeof(h->ent) - 1) {
				h->ent[h->ent_len++] = (char)c;
			} else {
				h->state = H_TEXT;
				r = h_out(h, "&", 1, out);
				if (r == 0)
					r = h_out(h, h->ent, h->ent_len, out);
				if (r == 0)
					goto again;
			}
			break;
		}
		if (r < 0)
			return -1;
	}
	return 0;
}

int
mail_html2text_finish(struct mail_html2text *h, struct buf *out)
{
	int r = 0;

	if (h->state == H_ENT) {
		r = h_out(h, "&", 1, out);
		if (r == 0)
			r = h_out(h, h->ent, h->ent_len, out);
	} else if (h->state == H_TAG_OPEN && !h->skip) {
		r = h_out(h, h->end_tag ? "</" : "<", h->end_tag ? 2 : 1, out);
	}
	mail_html2text_init(h);
	return r;
}

/* --- text parts ------------------------------------------------------------ */

static bool
is_text_part(const struct mail_part *p)
{
	return (p->flags & (MAIL_PART_MULTIPART | MAIL_PART_MESSAGE |
			    MAIL_PART_OPAQUE)) == 0 &&
		p->ct.type != NULL && strcmp(p->ct.type, "text") == 0;
}

/* The decoded, converted (and HTML-stripped) text in conv/html, out. */
static void
pipe_out(struct tn *tn, bool is_html, struct mail_html2text *h)
{
	if (is_html) {
		(void)mail_html2text_push(h, buf_data(tn->conv),
					  buf_len(tn->conv), tn->html);
		emit(tn, buf_data(tn->html), buf_len(tn->html));
		buf_reset(tn->html);
	} else {
		emit(tn, buf_data(tn->conv), buf_len(tn->conv));
	}
	buf_reset(tn->conv);
}

static int
text_part(struct tn *tn, const struct mail_part *p, uint32_t idx)
{
	const struct mail_param *cs = mail_param_find(p->ct.params,
						      p->ct.n_params,
						      "charset");
	bool is_html = p->ct.subtype != NULL &&
		strcmp(p->ct.subtype, "html") == 0;
	struct mail_charset_conv *conv = NULL;
	struct mail_decoder dec;
	struct mail_html2text h;
	uint64_t pos = 0;
	int ret = 0;

	seg_start(tn, MAIL_TEXTNORM_BODY, idx, NULL, 0);
	if (tn->skip || tn->stop)
		goto out;
	if (cs != NULL && cs->value != NULL)
		conv = mail_charset_conv_new(cs->value);
	if (conv == NULL)
		conv = mail_charset_conv_new(NULL);
	if (mail_decoder_init(&dec, p->cte) < 0)
		(void)mail_decoder_init(&dec, MAIL_CTE_8BIT);
	if (tn->raw == NULL)
		tn->raw = xmalloc(TN_READ);	/* a header-only run needs none */
	mail_html2text_init(&h);
	buf_reset(tn->dec);
	buf_reset(tn->conv);
	buf_reset(tn->html);
	while (pos < p->body_size && !tn->skip && !tn->stop) {
		uint64_t left = p->body_size - pos;
		size_t n = left < TN_READ ? (size_t)left : TN_READ;

		if (src_read(tn->src, p->body_offset + pos, tn->raw, n) < 0) {
			ret = -1;
			break;
		}
		pos += n;
		for (size_t i = 0; i < n && !tn->skip && !tn->stop;
		     i += TN_SLICE) {
			size_t m = n - i < TN_SLICE ? n - i : TN_SLICE;

			(void)mail_decoder_push(&dec, tn->raw + i, m, tn->dec);
			(void)mail_charset_conv_feed(conv, buf_data(tn->dec),
						     buf_len(tn->dec),
						     tn->conv);
			buf_reset(tn->dec);
			pipe_out(tn, is_html, &h);
		}
	}
	if (ret == 0 && !tn->skip && !tn->stop) {
		(void)mail_decoder_finish(&dec, tn->dec);
		(void)mail_charset_conv_feed(conv, buf_data(tn->dec),
					     buf_len(tn->dec), tn->conv);
		(void)mail_charset_conv_finish(conv, tn->conv);
		pipe_out(tn, is_html, &h);
		if (is_html) {
			(void)mail_html2text_finish(&h, tn->html);
			emit(tn, buf_data(tn->html), buf_len(tn->html));
		}
	}
	mail_charset_conv_free(&conv);
out:
	seg_end(tn);
	return ret;
}

/* --- the run ------------------------------------------------------------------ */

int
mail_textnorm_run(const struct mail_textnorm_src *src,
		  const struct mail_tree *tree, unsigned int want,
		  mail_textnorm_cb *cb, void *ctx)
{
	/* The message's own header needs no MIME tree: its fields are the
	 * first block (the header iterator stops at the empty line). */
	bool header_only = tree == NULL && want == MAIL_TEXTNORM_HEADER;
	struct mail_tree *own = NULL;
	struct mail_part top;
	struct tn tn;
	int ret = 0;

	if (tree == NULL && !header_only) {
		own = src->fd < 0 ? mail_mime_parse(src->data, src->size) :
			mail_mime_parse_fd(src->fd, src->offset, src->size);
		if (own == NULL)
			return -1;
		tree = own;
	}
	memset(&tn, 0, sizeof(tn));
	tn.src = src;
	tn.cb = cb;
	tn.ctx = ctx;
	tn.dec = buf_new(2 * TN_SLICE + MAIL_QP_MAX_WSP);
	tn.conv = buf_new(16 * TN_SLICE);
	tn.html = buf_new(16 * TN_SLICE + 64);
	tn.cm = buf_new(64 * TN_CASEMAP_SLICE);
	tn.hdr = buf_new(MAIL_TEXTNORM_HEADER_MAX);
	tn.val = buf_new(MAIL_TEXTNORM_FIELD_MAX);
	tn.txt = buf_new(4 * MAIL_TEXTNORM_FIELD_MAX);

	if (header_only) {
		memset(&top, 0, sizeof(top));
		top.hdr_size = src->size;
		ret = header_block(&tn, &top, 0, MAIL_TEXTNORM_HEADER);
	}
	for (size_t i = 0; !header_only && i < tree->n_parts && !tn.stop &&
	     ret == 0; i++) {
		const struct mail_part *p = &tree->parts[i];
		enum mail_textnorm_kind hk = i == 0 ? MAIL_TEXTNORM_HEADER :
			MAIL_TEXTNORM_PART_HEADER;

		if ((want & hk) != 0 && p->hdr_size > 0)
			ret = header_block(&tn, p, (uint32_t)i, hk);
		if (ret == 0 && !tn.stop && (want & MAIL_TEXTNORM_BODY) != 0 &&
		    is_text_part(p))
			ret = text_part(&tn, p, (uint32_t)i);
	}

	pool_free(&tn.pool);
	buf_free(&tn.txt);
	buf_free(&tn.val);
	buf_free(&tn.hdr);
	buf_free(&tn.cm);
	buf_free(&tn.html);
	buf_free(&tn.conv);
	buf_free(&tn.dec);
	free(tn.raw);
	if (own != NULL)
		mail_tree_free(&own);
	return ret;
}

/* --- the collected form ---------------------------------------------------------- */

struct collect {
	struct buf *out;
	size_t left;            /* bytes we may still add, NUL included */
	bool truncated;
	bool dropped;           /* this segment did not fit at all */
};

static int
collect_add(struct collect *c, const uint8_t *s, size_t len)
{
	size_t n = len;

	/* One byte stays for the segment's NUL. */
	if (n + 1 > c->left) {
		n = c->left > 0 ? c->left - 1 : 0;
		while (n > 0 && n < len && (s[n] & 0xc0) == 0x80)
			n--;
		c->truncated = true;
	}
	if (n > 0 && buf_append(c->out, s, n) < 0) {
		c->truncated = true;
		return MAIL_TEXTNORM_STOP;
	}
	c->left -= n;
	return n < len ? MAIL_TEXTNORM_STOP : MAIL_TEXTNORM_CONTINUE;
}

static int
collect_cb(void *ctx, enum mail_textnorm_event ev,
	   const struct mail_textnorm_seg *seg, const uint8_t *data,
	   size_t len)
{
	struct collect *c = ctx;
	struct buf *nb;
	int r;

	switch (ev) {
	case MAIL_TEXTNORM_START:
		c->dropped = false;
		if (seg->name == NULL) {
			if (c->left > 1)
				return MAIL_TEXTNORM_CONTINUE;
			c->dropped = c->truncated = true;
			return MAIL_TEXTNORM_STOP;
		}
		/* "NAME: " in the casemapped form the value has; a segment
		 * whose name does not fit is left out whole. */
		nb = buf_new(seg->name_len + 8);    /* names are ASCII */
		(void)mail_casemap(seg->name, seg->name_len, nb);
		(void)buf_append_str(nb, ": ");
		if (buf_len(nb) + 1 > c->left) {
			c->dropped = c->truncated = true;
			r = MAIL_TEXTNORM_STOP;
		} else {
			r = collect_add(c, buf_data(nb), buf_len(nb));
		}
		buf_free(&nb);
		return r;
	case MAIL_TEXTNORM_DATA:
		return collect_add(c, data, len);
	case MAIL_TEXTNORM_END:
		/* collect_add kept the room for it */
		if (c->dropped)
			return MAIL_TEXTNORM_STOP;
		if (c->left == 0 || buf_append_byte(c->out, 0) < 0) {
			c->truncated = true;
			return MAIL_TEXTNORM_STOP;
		}
		c->left--;
		return c->truncated ? MAIL_TEXTNORM_STOP :
			MAIL_TEXTNORM_CONTINUE;
	}
	return MAIL_TEXTNORM_CONTINUE;
}

int
mail_textnorm_collect(const struct mail_textnorm_src *src,
		      const struct mail_tree *tree, unsigned int want,
		      size_t max, struct buf *out, bool *truncated)
{
	struct collect c;
	int r;

	c.out = out;
	c.left = max < buf_avail(out) ? max : buf_avail(out);
	c.truncated = false;
	r = mail_textnorm_run(src, tree, want, collect_cb, &c);
	*truncated = c.truncated;
	return r;
}
