/*
 * deliver: see deliver.h. The headers prepended are what Dovecot's LMTP
 * and dovecot-lda write: "Return-Path: <sender>" (RFC 5321 4.4: the
 * final delivery adds it) and "Delivered-To: <recipient>" (the address
 * the message was delivered to, which loop detection in MUAs and
 * procmail recipes look at). Callers: lmtp/deliverer.c, lmtp/moat-deliver.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/str.h"
#include "imap/mailbox-name.h"
#include "lmtp/deliver.h"
#include "storage/store.h"

#define DELIVER_PATH_MAX 4096

char *
deliver_expand(const char *s, const char *home, const char *user)
{
	struct buf *b = buf_new(DELIVER_PATH_MAX);
	size_t hlen = strlen(home);
	char *out = NULL;
	int rc = 0;

	while (hlen > 0 && home[hlen - 1] == '/')
		hlen--;
	for (const char *p = s; *p != '\0' && rc == 0; p++) {
		if (p[0] == '%' && p[1] == 'u') {
			rc = strpbrk(user, ":=") != NULL ? -1 :
			    buf_append_str(b, user);
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			rc = buf_append_byte(b, '%');
			p++;
		} else if (*p == '~' && (p == s || p[-1] == ':' || p[-1] == '=') &&
		    (p[1] == '/' || p[1] == ':' || p[1] == '\0')) {
			rc = buf_append(b, home, hlen);
			if (rc == 0 && hlen == 0 && p[1] != '/')
				rc = buf_append_byte(b, '/');
		} else {
			rc = buf_append_byte(b, (uint8_t)*p);
		}
	}
	if (rc == 0)
		out = xstrdup(buf_str(b));
	buf_free(&b);
	return out;
}

const char *
deliver_reply(enum deliver_result r)
{
	switch (r) {
	case DELIVER_OK:
		return "250 2.0.0 Delivered";
	case DELIVER_QUOTA:
		return "452 4.2.2 Mailbox full or disk full, try again later";
	case DELIVER_TOOBIG:
		return "552 5.3.4 Message too big for this mailbox";
	case DELIVER_NOUSER:
		return "550 5.1.1 No such user here";
	case DELIVER_TEMP:
		break;
	}
	return "451 4.3.0 Temporary failure storing the message";
}

static enum deliver_result
from_store_error(const struct store_error *e)
{
	switch (e->code) {
	case STORE_ERR_OVERQUOTA:
		return DELIVER_QUOTA;
	case STORE_ERR_LIMIT:
		return DELIVER_TOOBIG;
	default:
		return DELIVER_TEMP;
	}
}

/* The message with our headers in front. Header values are the paths
 * the parser accepted (printable ASCII, no CR/LF), so they cannot add
 * header lines of their own. */
static struct buf *
build_message(const struct deliver_req *rq)
{
	size_t extra = strlen(rq->sender) + 64 +
	    (rq->rcpt != NULL ? strlen(rq->rcpt) + 32 : 0);
	struct buf *b = buf_new(rq->len + extra);

	if (buf_printf(b, "Return-Path: <%s>\r\n", rq->sender) < 0 ||
	    (rq->rcpt != NULL && rq->rcpt[0] != '\0' &&
	     buf_printf(b, "Delivered-To: <%s>\r\n", rq->rcpt) < 0) ||
	    buf_append(b, rq->data, rq->len) < 0)
		buf_free(&b);
	return b;
}

static bool
missing(const struct store_error *e)
{
	return e->code == STORE_ERR_TRYCREATE ||
	    e->code == STORE_ERR_NONEXISTENT;
}

static bool
header_value_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 32 || (unsigned char)*s > 126)
			return false;
	return true;
}

enum deliver_result
deliver_message(const struct deliver_req *rq, char *why, size_t whylen)
{
	struct store_settings set;
	struct store_new_msg nm;
	struct store *st = NULL;
	struct store_error err;
	const char *folder = rq->folder != NULL && rq->folder[0] != '\0' ?
	    rq->folder : "INBOX";
	enum deliver_result res = DELIVER_OK;
	char *loc = NULL, *index = NULL;
	struct buf *msg = NULL;
	uint32_t uidv = 0, uid = 0;
	int rc;

	why[0] = '\0';
	if (!header_value_ok(rq->sender) ||
	    (rq->rcpt != NULL && !header_value_ok(rq->rcpt))) {
		snprintf(why, whylen, "invalid sender or recipient");
		return DELIVER_TEMP;
	}
	if (rq->len > rq->max_size) {
		snprintf(why, whylen, "message of %zu bytes is over "
			 "max_message_size", rq->len);
		return DELIVER_TOOBIG;
	}
	if (!str_eq(folder, "INBOX") &&
	    mbname_check(folder, strlen(folder), STORE_SEPARATOR, 0) !=
	    MBNAME_OK) {
		snprintf(why, whylen, "invalid folder name");
		return DELIVER_TEMP;
	}
	loc = deliver_expand(rq->mail, rq->home, rq->user);
	index = deliver_expand(rq->index, rq->home, rq->user);
	msg = build_message(rq);
	if (loc == NULL || index == NULL || msg == NULL) {
		snprintf(why, whylen, "mail location or index too long");
		res = DELIVER_TEMP;
		goto out;
	}
	if (rq->index[0] == '~')
		store_index_parents(index, rq->home);
	memset(&set, 0, sizeof(set));
	set.location = loc;
	set.index_dir = index;
	set.user = rq->user;
	set.fsync = rq->fsync;
	set.no_fts = rq->no_fts;
	/* Our headers are ours: the limit is the client's message. */
	set.max_message_size = rq->max_size + (buf_len(msg) - rq->len);
	memset(&err, 0, sizeof(err));
	if (store_open(&set, &st, &err) < 0) {
		snprintf(why, whylen, "opening the store: %s", err.detail);
		res = from_store_error(&err);
		goto out;
	}
	memset(&nm, 0, sizeof(nm));
	nm.data = buf_data(msg);
	nm.len = buf_len(msg);
	/* mbox's From_ line names the envelope sender, as every MDA
	 * writes it; one it cannot hold (a quoted local part with a
	 * space, the null path) is MAILER-DAEMON there. */
	if (rq->sender[0] != '\0' && strchr(rq->sender, ' ') == NULL)
		nm.envelope_from = rq->sender;
	rc = store_append(st, folder, &nm, 1, &uidv, &uid);
	if (rc < 0 && missing(store_error(st)) && !str_eq(folder, "INBOX")) {
		/* A folder that is not there: INBOX gets it, as
		 * dovecot-lda does without lda_mailbox_autocreate. */
		folder = "INBOX";
		rc = store_append(st, folder, &nm, 1, &uidv, &uid);
	}
	if (rc < 0 && missing(store_error(st)) &&
	    store_ensure_defaults(st) == 0)
		/* A new user: the store is made as the first login makes
		 * it (INBOX and the special-use folders), as an MDA makes
		 * the Maildir it delivers to. */
		rc = store_append(st, folder, &nm, 1, &uidv, &uid);
	if (rc < 0) {
		const struct store_error *e = store_error(st);

		snprintf(why, whylen, "appending to %s: %s", folder, e->detail);
		res = from_store_error(e);
		goto out;
	}

	snprintf(why, whylen, "uid=%u uidvalidity=%u", uid, uidv);
out:
	store_free(&st);
	buf_free(&msg);
	free(loc);
	free(index);
	return res;
}
