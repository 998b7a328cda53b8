/*
 * imap-resp: the pieces of responses several commands write: a message's
 * flags, a mailbox's FLAGS and PERMANENTFLAGS, mailbox names on the wire,
 * INTERNALDATE. Callers: the command handlers and imap-sync.c. Inputs
 * are the store's (names and keywords the store validated); the output
 * is a buf with a maximum, so every function returns 0 or -1 (full).
 */
#ifndef MOAT_IMAP_RESP_H
#define MOAT_IMAP_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "core/buf.h"

struct client;
struct mailbox_view;
struct store_msg;

/* "(\Seen \Deleted $Junk \Recent)": system flags, keywords, and \Recent
 * when the message is recent in this session. */
int imap_resp_msg_flags(struct buf *b, const struct mailbox_view *v,
			const struct store_msg *m);
/* "* FLAGS (...)" and "* OK [PERMANENTFLAGS (...)] ..." for the selected
 * mailbox (RFC 9051 §7.3.5, §7.1): every system flag and known keyword;
 * PERMANENTFLAGS adds \* while keywords can still be created, and is
 * () read-only (RFC 3501 §6.3.2 example). */
void imap_resp_flags_lines(struct client *c);
/* The mailbox name in its wire form (modified UTF-7, or UTF-8 with
 * UTF8=ACCEPT) as a quoted string, or a literal if it cannot be quoted. */
int imap_resp_mailbox(struct buf *b, const char *name, bool utf8);
/* uids[0..n-1] as a uid-set in their order (RFC 4315 COPYUID pairs a
 * source and a destination set position by position): runs of
 * consecutive ascending UIDs become "a:b", the rest is listed. */
int imap_resp_uidset(struct buf *b, const uint32_t *uids, size_t n);
/* "dd-Mon-yyyy hh:mm:ss +0000" with quotes (RFC 9051 date-time), in UTC:
 * the store keeps a time, not the zone it was given in. */
int imap_resp_date(struct buf *b, time_t t);

#endif
