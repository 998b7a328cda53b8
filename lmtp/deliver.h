/*
 * deliver: puts one message into one user's mailbox through lib/storage
 * (store_append, so the index learns it at once and the same locks as
 * any MDA's are taken). Runs in a process that already is the user:
 * moat-lmtp's per-recipient delivery child, or moat-deliver. Returns
 * only when the message is on disk as the store's durability rules say
 * (mail_fsync): a DELIVER_OK may be acknowledged.
 */
#ifndef MOAT_LMTP_DELIVER_H
#define MOAT_LMTP_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum deliver_result {
	DELIVER_OK = 0,
	DELIVER_TEMP = 1,     /* store or lock error: 451 4.3.0, EX_TEMPFAIL */
	DELIVER_QUOTA = 2,    /* ENOSPC, EDQUOT: 452 4.2.2, EX_TEMPFAIL */
	DELIVER_TOOBIG = 3,   /* past max_message_size: 552 5.3.4, EX_DATAERR */
	DELIVER_NOUSER = 4,   /* 550 5.1.1, EX_NOUSER */
	DELIVER_RESULT_MAX = 4,
};

struct deliver_req {
	const char *user;
	const char *home;      /* absolute */
	const char *mail;      /* location, "~" not yet expanded */
	const char *index;     /* mail_index, "~" not yet expanded */
	bool fsync;
	bool no_fts;           /* search_fts = no: no indexing */
	uint64_t max_size;
	const char *sender;    /* reverse-path, "" for <> */
	const char *rcpt;      /* for Delivered-To; NULL: none */
	const char *folder;    /* NULL or "": INBOX */
	const void *data;      /* CRLF or LF lines, as store_append takes */
	size_t len;
};

/* why (whylen bytes) gets the reason of a failure, for the log. */
enum deliver_result deliver_message(const struct deliver_req *rq, char *why,
				    size_t whylen);

/* The LMTP reply line for a result (no CRLF). */
const char *deliver_reply(enum deliver_result r);

/* "~" of a location or index (at its start or after ':' / '=') becomes
 * home, "%u" the user name (NULL if it has ':' or '='), "%%" a "%".
 * NULL if too long. As imap/session.c's session_expand_home and
 * _index, which that static program keeps to itself. */
char *deliver_expand(const char *s, const char *home, const char *user);

#endif
