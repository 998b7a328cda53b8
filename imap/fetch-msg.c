/*
 * fetch_msg: bounded reads of header blocks and decoded sizes for FETCH
 * (see fetch-msg.h). The message bytes are untrusted: every read is
 * bounded by the caller's size and FETCH_HEADER_MAX, a short file is an
 * error, and the header parser bounds its own work (header.h).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "core/str.h"
#include "imap/fetch-msg.h"
#include "mail/charset.h"
#include "mail/envelope.h"
#include "mail/header.h"
#include "mail/mime.h"

static ssize_t
pread_full(int fd, void *p, size_t len, off_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (uint8_t *)p + got, len - got,
				  off + (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

struct buf *
fetch_read_range(int fd, off_t off, uint64_t len)
{
	struct buf *b;
	uint8_t *p;
	ssize_t n;

	if (len > FETCH_HEADER_MAX) {
		errno = EMSGSIZE;
		return NULL;
	}
	b = buf_new((size_t)len);
	if (len == 0)
		return b;
	p = buf_reserve(b, (size_t)len);
	n = pread_full(fd, p, (size_t)len, off);
	if (n != (ssize_t)len) {
		if (n >= 0)
			errno = EIO;
		buf_free(&b);
		return NULL;
	}
	buf_commit(b, (size_t)len);
	return b;
}

static void
take(struct mail_hdr_value *v, const struct mail_header_field *f)
{
	/* The first occurrence counts (RFC 5322 §3.6 allows one). */
	if (v->p == NULL) {
		v->p = (const char *)f->value;
		v->len = f->value_len;
	}
}

int
fetch_envelope_write(struct buf *out, const uint8_t *hdr, size_t len,
		     bool utf8)
{
	struct mail_envelope_fields e;
	struct mail_header_iter it;
	struct mail_header_field f;

	memset(&e, 0, sizeof(e));
	mail_header_iter_init(&it, hdr, len);
	while (mail_header_next(&it, &f)) {
		if (mail_header_name_is(&f, "date"))
			take(&e.date, &f);
		else if (mail_header_name_is(&f, "subject"))
			take(&e.subject, &f);
		else if (mail_header_name_is(&f, "from"))
			take(&e.from, &f);
		else if (mail_header_name_is(&f, "sender"))
			take(&e.sender, &f);
		else if (mail_header_name_is(&f, "reply-to"))
			take(&e.reply_to, &f);
		else if (mail_header_name_is(&f, "to"))
			take(&e.to, &f);
		else if (mail_header_name_is(&f, "cc"))
			take(&e.cc, &f);
		else if (mail_header_name_is(&f, "bcc"))
			take(&e.bcc, &f);
		else if (mail_header_name_is(&f, "in-reply-to"))
			take(&e.in_reply_to, &f);
		else if (mail_header_name_is(&f, "message-id"))
			take(&e.message_id, &f);
	}
	return mail_envelope_write(out, &e, utf8);
}

int
fetch_decode_scan(int fd, off_t off, uint64_t len, enum mail_cte cte,
		  uint64_t origin, uint64_t count, uint64_t *size,
		  bool *has_nul)
{
	struct mail_decoder d;
	struct buf *out = buf_new(4 * FETCH_DECODE_CHUNK);
	uint8_t raw[FETCH_DECODE_CHUNK];
	uint64_t pos = 0;
	int rc = -1;

	*has_nul = false;
	if (mail_decoder_init(&d, cte) < 0) {
		errno = EINVAL;
		goto done;
	}
	for (bool last = false; !last;) {
		size_t want = sizeof(raw);
		uint64_t start = d.out_total;
		const uint8_t *o;
		ssize_t n;

		if (want > len - pos)
			want = (size_t)(len - pos);
		n = pread_full(fd, raw, want, off + (off_t)pos);
		if (n < 0)
			goto done;
		if ((size_t)n < want) {
			errno = EIO;
			goto done;
		}
		pos += (uint64_t)n;
		buf_reset(out);
		if (mail_decoder_push(&d, raw, (size_t)n, out) < 0)
			goto done;
		last = pos == len;
		if (last && mail_decoder_finish(&d, out) < 0)
			goto done;
		/* The part of this piece inside [origin, origin + count). */
		o = buf_data(out);
		for (size_t i = 0; count > 0 && !*has_nul &&
		     i < buf_len(out); i++) {
			uint64_t at = start + i;

			if (at >= origin && at - origin < count && o[i] == 0)
				*has_nul = true;
		}
	}
	*size = d.out_total;
	rc = 0;
done:
	buf_free(&out);
	return rc;
}

static const struct mail_part *
preview_part(const struct mail_tree *t)
{
	for (size_t i = 0; i < t->n_parts; i++) {
		const struct mail_part *p = &t->parts[i];

		if ((p->flags & (MAIL_PART_MULTIPART | MAIL_PART_MESSAGE |
				 MAIL_PART_OPAQUE)) != 0)
			continue;
		if (p->has_disposition && p->disp.type != NULL &&
		    str_eq(p->disp.type, "attachment"))
			continue;
		if (str_eq(p->ct.type, "text") &&
		    str_eq(p->ct.subtype, "plain"))
			return p;
	}
	return NULL;
}

static const char *
param(const struct mail_ctype *ct, const char *name)
{
	for (size_t i = 0; i < ct->n_params; i++)
		if (str_eq(ct->params[i].name, name) && !ct->params[i].extended)
			return ct->params[i].value;
	return NULL;
}

/* Collapses whitespace and controls, trims, cuts to FETCH_PREVIEW_CHARS
 * characters (the text is UTF-8 from the converter). */
static void
collapse(const struct buf *in, struct buf *out)
{
	const uint8_t *p = buf_data(in);
	size_t n = buf_len(in), chars = 0;
	bool space = false;

	for (size_t i = 0; i < n && chars < FETCH_PREVIEW_CHARS; i++) {
		if (p[i] < 0x20 || p[i] == 0x20 || p[i] == 0x7f) {
			space = buf_len(out) > 0;
			continue;
		}
		if (space) {
			(void)buf_append_byte(out, ' ');
			chars++;
			space = false;
			if (chars == FETCH_PREVIEW_CHARS)
				break;
		}
		/* a character: its lead byte and continuation bytes */
		(void)buf_append_byte(out, p[i]);
		while (i + 1 < n && (p[i + 1] & 0xc0) == 0x80)
			(void)buf_append_byte(out, p[++i]);
		chars++;
	}
}

/* The preview from raw[0..len), the first bytes of part p's body. */
static struct buf *
preview_of(const struct mail_part *p, const uint8_t *raw, size_t len)
{
	struct mail_charset_conv *conv;
	struct mail_decoder d;
	struct buf *dec, *utf, *out;

	dec = buf_new(2 * FETCH_PREVIEW_RAW);
	utf = buf_new(8 * FETCH_PREVIEW_RAW);
	out = buf_new(4 * FETCH_PREVIEW_CHARS + 4);
	if (mail_decoder_init(&d, p->cte) == 0) {
		(void)mail_decoder_push(&d, raw, len, dec);
		(void)mail_decoder_finish(&d, dec);
	}
	conv = mail_charset_conv_new(param(&p->ct, "charset"));
	if (conv == NULL)
		conv = mail_charset_conv_new(NULL);
	if (conv != NULL) {
		/* a full buffer keeps what fitted: enough for a preview */
		(void)mail_charset_conv_feed(conv, buf_data(dec), buf_len(dec),
					     utf);
		(void)mail_charset_conv_finish(conv, utf);
		mail_charset_conv_free(&conv);
	}
	collapse(utf, out);
	buf_free(&dec);
	buf_free(&utf);
	return out;
}

struct buf *
fetch_preview(int fd, off_t off, const struct mail_tree *t)
{
	const struct mail_part *p = preview_part(t);
	struct buf *raw, *out;
	uint64_t len;

	if (p == NULL) {
		errno = 0;
		return NULL;
	}
	len = p->body_size < FETCH_PREVIEW_RAW ? p->body_size :
		FETCH_PREVIEW_RAW;
	raw = fetch_read_range(fd, off + (off_t)p->body_offset, len);
	if (raw == NULL)
		return NULL;
	out = preview_of(p, buf_data(raw), buf_len(raw));
	buf_free(&raw);
	return out;
}

struct buf *
fetch_preview_mem(const uint8_t *msg, uint64_t size,
		  const struct mail_tree *t)
{
	const struct mail_part *p = preview_part(t);
	uint64_t len;

	errno = 0;
	if (p == NULL)
		return NULL;
	len = p->body_size < FETCH_PREVIEW_RAW ? p->body_size :
		FETCH_PREVIEW_RAW;
	if (p->body_offset > size || len > size - p->body_offset) {
		errno = EIO;
		return NULL;
	}
	return preview_of(p, msg + p->body_offset, (size_t)len);
}
