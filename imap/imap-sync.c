/*
 * imap-sync: see imap-sync.h for the rules. Callers: imap-commands.c
 * (the reply path). The changes come from the store, which derived them
 * from files other programs write; the sequence numbers in them are
 * still checked against what the client was told before they are used,
 * so a store bug cannot make us send an EXPUNGE for a message the client
 * never heard of.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "imap/client.h"
#include "imap/imap-resp.h"
#include "imap/imap-sync.h"
#include "storage/store.h"

enum {
	PHASE_EXPUNGE,
	PHASE_FLAGS,
	PHASE_EXISTS,
	PHASE_FETCH,
	PHASE_DONE,
};

void
imap_sync_begin(struct client *c, struct imap_sync *st, unsigned int flags)
{
	const struct mailbox_changes *ch = NULL;

	st->ch = NULL;
	st->phase = PHASE_EXPUNGE;
	st->i = 0;
	if (c->mailbox == NULL)
		return;
	if (mailbox_sync(c->mailbox, flags, &ch) < 0) {
		const struct store_error *err = store_error(c->store);
		struct store_status status;

		if (err->code == STORE_ERR_NONEXISTENT) {
			/* Deleted or renamed away by another session or
			 * program: there is nothing left to be selected. */
			log_info("Selected mailbox %s vanished: %s",
				 c->mailbox_name, err->detail);
			client_send_line(c, "* BYE [UNAVAILABLE] The selected "
					 "mailbox was deleted or renamed.");
			client_close_after_output(c, "Disconnected: selected "
						  "mailbox vanished");
			client_mailbox_close(c);
			return;
		}
		log_error("Syncing mailbox %s: %s", c->mailbox_name,
			  err->detail);
		/* A rebuilt index that could not keep the UIDs has a new
		 * UIDVALIDITY (store.h): every UID and sequence number the
		 * client holds is void, and the only way to tell it is to
		 * make it start over (RFC 9051 §2.3.1.1). */
		memset(&status, 0, sizeof(status));
		if (err->code == STORE_ERR_TEMP &&
		    store_status(c->store, c->mailbox_name, &status) == 0 &&
		    status.uidvalidity != mailbox_view(c->mailbox)->uidvalidity) {
			client_send_line(c, "* BYE [UNAVAILABLE] The mailbox's "
					 "UIDVALIDITY changed; please "
					 "reconnect.");
			client_close_after_output(c, "Disconnected: "
						  "UIDVALIDITY changed");
			client_mailbox_close(c);
		}
		return;
	}
	st->ch = ch;
}

/* "* 3 FETCH (UID 17 FLAGS (\Seen))" for a changed message, with
 * "MODSEQ (n)" for a CONDSTORE-aware client (RFC 7162 §3.1). */
static void
write_fetch_flags(struct client *c, uint32_t seq)
{
	const struct mailbox_view *v = mailbox_view(c->mailbox);
	const struct store_msg *m;
	size_t mark = buf_len(c->out);
	int rc;

	if (seq == 0 || seq > v->n || seq > c->known_exists)
		return;
	m = &v->msgs[seq - 1];
	rc = buf_printf(c->out, "* %" PRIu32 " FETCH (UID %" PRIu32 " FLAGS ",
			seq, m->uid);
	if (rc == 0)
		rc = imap_resp_msg_flags(c->out, v, m);
	if (rc == 0 && c->condstore)
		rc = buf_printf(c->out, " MODSEQ (%" PRIu64 ")", m->modseq);
	if (rc == 0)
		rc = buf_append_str(c->out, ")\r\n");
	if (rc < 0)
		buf_truncate(c->out, mark);
	client_out_check(c, rc);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* QRESYNC (RFC 7162 §3.2.10.2): "* VANISHED 3:5,9" instead of EXPUNGE
 * lines, up to VANISHED_CHUNK UIDs per line. Each UID counts as one
 * EXPUNGE for the message count. */
#define VANISHED_CHUNK 1000

static void
write_vanished(struct client *c, struct imap_sync *st)
{
	const struct mailbox_changes *ch = st->ch;
	uint32_t uids[VANISHED_CHUNK];
	size_t n = 0, mark = buf_len(c->out);
	int rc;

	while (st->i < ch->n_expunged && n < VANISHED_CHUNK) {
		uint32_t seq = ch->expunged_seqs[st->i];

		if (seq == 0 || seq > c->known_exists) {
			log_error("Store reported expunge of message %" PRIu32
				  " of %" PRIu32, seq, c->known_exists);
		} else {
			uids[n++] = ch->expunged_uids[st->i];
			c->known_exists--;
		}
		st->i++;
	}
	if (n == 0)
		return;
	qsort(uids, n, sizeof(uids[0]), cmp_u32);
	rc = buf_append_str(c->out, "* VANISHED ");
	if (rc == 0)
		rc = imap_resp_uidset(c->out, uids, n);
	if (rc == 0)
		rc = buf_append_str(c->out, "\r\n");
	if (rc < 0)
		buf_truncate(c->out, mark);
	client_out_check(c, rc);
}

static uint32_t
count_recent(const struct mailbox_view *v)
{
	uint32_t n = 0;

	for (size_t i = 0; i < v->n; i++)
		n += v->msgs[i].recent ? 1 : 0;
	return n;
}

bool
imap_sync_write(struct client *c, struct imap_sync *st)
{
	const struct mailbox_changes *ch = st->ch;
	const struct mailbox_view *v;

	if (ch == NULL || c->mailbox == NULL)
		return true;
	v = mailbox_view(c->mailbox);
	while (st->phase != PHASE_DONE) {
		if (client_output_full(c) || c->out_overflow || c->closed)
			return false;
		switch (st->phase) {
		case PHASE_EXPUNGE:
			if (st->i < ch->n_expunged && c->qresync) {
				write_vanished(c, st);
				continue;
			}
			if (st->i < ch->n_expunged) {
				uint32_t seq = ch->expunged_seqs[st->i++];

				if (seq == 0 || seq > c->known_exists) {
					log_error("Store reported expunge of "
						  "message %" PRIu32 " of %"
						  PRIu32, seq,
						  c->known_exists);
					continue;
				}
				client_send_line(c, "* %" PRIu32 " EXPUNGE",
						 seq);
				c->known_exists--;
				continue;
			}
			st->phase = PHASE_FLAGS;
			break;
		case PHASE_FLAGS:
			/* Keyword ids only ever grow (store.h), so the count
			 * says whether the client knows them all; the
			 * store's keywords_changed is also set for the ones
			 * this session's STORE created and already sent. */
			if (v->n_keywords != c->known_n_keywords) {
				imap_resp_flags_lines(c);
				c->known_n_keywords = v->n_keywords;
			}
			st->phase = PHASE_EXISTS;
			break;
		case PHASE_EXISTS:
			/* The view is the truth: EXISTS may only grow here
			 * (the count falls only through EXPUNGE lines). */
			if (v->n > c->known_exists) {
				c->known_exists = (uint32_t)v->n;
				client_send_line(c, "* %" PRIu32 " EXISTS",
						 c->known_exists);
				c->known_recent = count_recent(v);
				client_send_line(c, "* %" PRIu32 " RECENT",
						 c->known_recent);
			} else if (v->n < c->known_exists) {
				log_error("Mailbox %s shrank from %" PRIu32
					  " to %zu messages without expunges",
					  c->mailbox_name, c->known_exists,
					  v->n);
			}
			st->i = 0;
			st->phase = PHASE_FETCH;
			break;
		case PHASE_FETCH:
			if (st->i < ch->n_flag_changes) {
				write_fetch_flags(c, ch->flag_seqs[st->i++]);
				continue;
			}
			st->phase = PHASE_DONE;
			break;
		}
	}
	st->ch = NULL;
	return true;
}
