/*
 * mail envelope: the IMAP ENVELOPE structure (RFC 9051 §7.5.2, RFC 3501
 * §7.4.2) from a message's raw header field values.
 */
#ifndef MOAT_MAIL_ENVELOPE_H
#define MOAT_MAIL_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include "core/buf.h"

/* A header field value: p NULL means the field is absent. Values are
 * unfolded and raw (RFC 2047 words are not decoded: ENVELOPE carries
 * them as they are, clients decode). */
struct mail_hdr_value {
	const char *p;
	size_t len;
};

struct mail_envelope_fields {
	struct mail_hdr_value date, subject, from, sender, reply_to, to, cc,
		bcc, in_reply_to, message_id;
};

/* Appends the parenthesised ENVELOPE list to out:
 *   (date subject from sender reply-to to cc bcc in-reply-to message-id)
 * Date, Subject, In-Reply-To and Message-ID are nstrings (NIL if absent,
 * surrounding whitespace trimmed); the address fields are lists of
 * (name adl mailbox host), NIL if absent or empty. Sender and Reply-To
 * default to From when absent or empty (§7.5.2). A group is
 * (NIL NIL "name" NIL) ... (NIL NIL NIL NIL) (RFC 3501 §7.4.2); a missing
 * local part or domain is sent as MISSING_MAILBOX / MISSING_DOMAIN,
 * never NIL (a NIL host would mean group syntax), as Dovecot does. CR
 * and LF are removed (a value passed folded is unfolded), NUL becomes a
 * space (no IMAP string may hold it).
 * Strings are quoted or literals as lib/imap/writer.c decides; 8-bit
 * text goes as a literal unless utf8 (the client enabled UTF8=ACCEPT,
 * RFC 6855 §3) and it is valid UTF-8. Returns 0, or -1 if out is full. */
int mail_envelope_write(struct buf *out, const struct mail_envelope_fields *f,
			bool utf8);

#endif
