/*
 * mail_bodystructure: FETCH BODY and BODYSTRUCTURE (RFC 9051 §7.5.2
 * "body"; BODY is the same list without extension data, as in RFC 3501)
 * written from the MIME tree into a response buffer.
 *
 * Decisions where the tree is odd:
 * - a multipart without any body part (its boundary never appeared) is
 *   written with one empty text/plain part, since the grammar needs at
 *   least one (1*body);
 * - an opaque part (depth limit) and a message/rfc822 part whose content
 *   was not parsed (non-identity encoding) are written as basic bodies
 *   with their own type;
 * - RFC 2231 extended parameters are written under the name "name*"
 *   with the undecoded charset'lang'%XX value, as Dovecot does;
 * - type, subtype and parameter names are lower-case.
 * The ENVELOPE of a message/rfc822 part comes from the caller's callback
 * (lib/mail's envelope writer), which gets the encapsulated message.
 */
#ifndef MOAT_MAIL_BODYSTRUCTURE_H
#define MOAT_MAIL_BODYSTRUCTURE_H

#include <stdbool.h>

#include "core/buf.h"
#include "mail/mime.h"

/* Appends the ENVELOPE of message msg (its header is
 * msg->hdr_offset/hdr_size in the message). 0, or -1 to fail the whole
 * write. */
typedef int mail_envelope_fn(void *ctx, const struct mail_tree *t,
			     const struct mail_part *msg, struct buf *out);

/* Appends BODYSTRUCTURE (extended) or BODY (!extended) of t. A NULL
 * envelope callback writes envelopes with every field NIL. -1 (out
 * unchanged) if out is full or the callback failed. */
int mail_bodystructure_write(struct buf *out, const struct mail_tree *t,
			     bool extended, mail_envelope_fn *envelope,
			     void *ctx);

#endif
