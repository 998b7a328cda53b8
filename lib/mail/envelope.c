/*
 * mail envelope: writes FETCH ENVELOPE from raw header values. Callers:
 * imap/cmd-fetch.c (and the cache fill). The values are untrusted; the
 * address parser bounds them (addr.h) and every string goes out through
 * lib/imap/writer.c, which picks quoted or literal safely.
 */
#include <string.h>

#include "core/pool.h"
#include "imap/writer.h"
#include "mail/addr.h"
#include "mail/envelope.h"
#include "mail/utf8.h"

#define MISSING_MAILBOX "MISSING_MAILBOX"
#define MISSING_DOMAIN "MISSING_DOMAIN"

static int
write_str(struct buf *out, const char *s, size_t len, bool utf8)
{
	struct buf *tmp = NULL;
	int r;

	if (s == NULL)
		return buf_append_str(out, "NIL");
	if (memchr(s, '\0', len) != NULL || memchr(s, '\r', len) != NULL ||
	    memchr(s, '\n', len) != NULL) {
		/* No IMAP string may hold NUL (RFC 9051 §4.3): a space. CR
		 * and LF of a value passed still folded go (unfolding, as
		 * Dovecot's nstring_nolf), so it can still be quoted. */
		tmp = buf_new(len + 1);
		for (size_t i = 0; i < len; i++) {
			if (s[i] != '\r' && s[i] != '\n')
				(void)buf_append_byte(tmp, s[i] == '\0' ? ' ' :
						      (uint8_t)s[i]);
		}
		s = buf_str(tmp);
		len = buf_len(tmp);
	}
	/* UTF8=ACCEPT allows 8-bit quoted strings only as UTF-8. */
	r = utf8 && mail_utf8_valid(s, len) ?
	    imap_write_utf8_string(out, s, len) :
	    imap_write_string(out, s, len);
	buf_free(&tmp);
	return r;
}

static int
write_cstr(struct buf *out, const char *s, bool utf8)
{
	return write_str(out, s, s == NULL ? 0 : strlen(s), utf8);
}

static int
write_nstring(struct buf *out, const struct mail_hdr_value *v, bool utf8)
{
	const char *p = v->p;
	size_t len = v->len;

	if (p == NULL)
		return buf_append_str(out, "NIL");
	while (len > 0 && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++, len--;
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t' ||
			   p[len - 1] == '\r' || p[len - 1] == '\n'))
		len--;
	return write_str(out, p, len, utf8);
}

static int
write_addr(struct buf *out, const char *name, const char *route,
	   const char *mailbox, const char *host, bool utf8)
{
	if (buf_append_byte(out, '(') < 0 || write_cstr(out, name, utf8) < 0 ||
	    buf_append_byte(out, ' ') < 0 || write_cstr(out, route, utf8) < 0 ||
	    buf_append_byte(out, ' ') < 0 ||
	    write_cstr(out, mailbox, utf8) < 0 ||
	    buf_append_byte(out, ' ') < 0 || write_cstr(out, host, utf8) < 0 ||
	    buf_append_byte(out, ')') < 0)
		return -1;
	return 0;
}

static int
write_list(struct buf *out, const struct mail_addr_list *l, bool utf8)
{
	bool in_group = false;

	if (l->head == NULL)
		return buf_append_str(out, "NIL");
	if (buf_append_byte(out, '(') < 0)
		return -1;
	for (const struct mail_addr *a = l->head; a != NULL; a = a->next) {
		int r;

		switch (a->kind) {
		case MAIL_ADDR_GROUP_START:
			r = write_addr(out, NULL, NULL, a->mailbox, NULL, utf8);
			in_group = true;
			break;
		case MAIL_ADDR_GROUP_END:
			r = write_addr(out, NULL, NULL, NULL, NULL, utf8);
			in_group = false;
			break;
		default:
			r = write_addr(out, a->name, a->route,
				       a->mailbox[0] != '\0' ? a->mailbox :
				       MISSING_MAILBOX,
				       a->host[0] != '\0' ? a->host :
				       MISSING_DOMAIN, utf8);
			break;
		}
		if (r < 0)
			return -1;
	}
	/* A group cut short by the entry limit is still closed. */
	if (in_group && write_addr(out, NULL, NULL, NULL, NULL, utf8) < 0)
		return -1;
	return buf_append_byte(out, ')');
}

static void
parse(struct pool *pool, const struct mail_hdr_value *v,
      struct mail_addr_list *l)
{
	if (v->p == NULL)
		memset(l, 0, sizeof(*l));
	else
		mail_addr_parse(pool, v->p, v->len, l);
}

int
mail_envelope_write(struct buf *out, const struct mail_envelope_fields *f,
		    bool utf8)
{
	struct pool *pool = pool_new(4096);
	struct mail_addr_list from, sender, reply_to, to, cc, bcc;
	int r = -1;

	parse(pool, &f->from, &from);
	parse(pool, &f->sender, &sender);
	parse(pool, &f->reply_to, &reply_to);
	parse(pool, &f->to, &to);
	parse(pool, &f->cc, &cc);
	parse(pool, &f->bcc, &bcc);
	/* RFC 9051 §7.5.2: absent or empty Sender/Reply-To = From. */
	if (sender.head == NULL)
		sender = from;
	if (reply_to.head == NULL)
		reply_to = from;
	if (buf_append_byte(out, '(') < 0 ||
	    write_nstring(out, &f->date, utf8) < 0 ||
	    buf_append_byte(out, ' ') < 0 ||
	    write_nstring(out, &f->subject, utf8) < 0 ||
	    buf_append_byte(out, ' ') < 0 || write_list(out, &from, utf8) < 0 ||
	    buf_append_byte(out, ' ') < 0 ||
	    write_list(out, &sender, utf8) < 0 ||
	    buf_append_byte(out, ' ') < 0 ||
	    write_list(out, &reply_to, utf8) < 0 ||
	    buf_append_byte(out, ' ') < 0 || write_list(out, &to, utf8) < 0 ||
	    buf_append_byte(out, ' ') < 0 || write_list(out, &cc, utf8) < 0 ||
	    buf_append_byte(out, ' ') < 0 || write_list(out, &bcc, utf8) < 0 ||
	    buf_append_byte(out, ' ') < 0 ||
	    write_nstring(out, &f->in_reply_to, utf8) < 0 ||
	    buf_append_byte(out, ' ') < 0 ||
	    write_nstring(out, &f->message_id, utf8) < 0 ||
	    buf_append_byte(out, ')') < 0)
		goto done;
	r = 0;
done:
	pool_free(&pool);
	return r;
}
