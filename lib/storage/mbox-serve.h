/*
 * mbox_serve: a message as IMAP serves it, from the bytes an mbox stores
 * (the message without its From_ line and separator, see mbox-parse.h).
 *
 *  - Header fields that mbox programs rewrite in place are hidden:
 *    Status, X-Status, X-Keywords, X-UID, X-IMAP, X-IMAPbase,
 *    Content-Length and Lines, every occurrence, with their continuation
 *    lines: exactly the fields the fingerprint leaves out. Dovecot hides
 *    the same (mbox_hide_headers, all but Lines; mutt adds Lines when it
 *    rewrites a message). So the served bytes, and RFC822.SIZE, depend
 *    only on what the fingerprint covers plus the body: when mutt marks
 *    a message read, the message a client cached stays the same (RFC
 *    9051 §2.3.1.1: the content of a UID never changes).
 *  - Line ends: every LF not preceded by CR becomes CRLF (RFC 5322 and
 *    RFC 9051 §6.3.12 expect CRLF on the wire; Debian's mbox files are
 *    LF-only). A lone CR is served as it is.
 *  - mboxo ">From " quoting is served as stored, never undone (nobody
 *    sharing the file unquotes, and the quoting is ambiguous).
 *
 * The header ends at the first empty line; fields are recognised as
 * mbox_parse does (name before ':' in the first 64 bytes, trailing
 * blanks of the name ignored, case-insensitive). Streaming: a few
 * dozen bytes of state, input cut anywhere.
 *
 * Callers: the mbox scan (RFC822.SIZE of every message), FETCH copies
 * and APPEND (the size of what was written). Input: mail bytes anyone
 * may have written; any byte sequence is valid input.
 */
#ifndef MOAT_STORAGE_MBOX_SERVE_H
#define MOAT_STORAGE_MBOX_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define MBOX_SERVE_PEEK 64

struct mbox_serve {
	bool in_hdr;              /* still in the header block */
	bool bol;                 /* at the start of a line */
	bool undecided;           /* a header line's fate not known yet */
	bool drop;                /* the current line is hidden */
	bool drop_field;          /* the current field is hidden (for its
				   * continuation lines) */
	bool prev_cr;             /* the last byte seen was CR */
	size_t pend_len;          /* bytes of an undecided line */
	char pend[MBOX_SERVE_PEEK + 1];
	uint64_t produced;        /* bytes served so far */
};

void mbox_serve_init(struct mbox_serve *v);
/* Converts len bytes; appends the result to out unless out is NULL
 * (counting only). Returns 0, or -1 (EMSGSIZE from out; the state is
 * then undefined). */
int mbox_serve_feed(struct mbox_serve *v, const void *data, size_t len,
		    struct buf *out);
/* End of the message: flushes an undecided last line. */
int mbox_serve_finish(struct mbox_serve *v, struct buf *out);
/* The served size of data[0..len) as a whole message. */
uint64_t mbox_serve_size(const void *data, size_t len);

#endif
