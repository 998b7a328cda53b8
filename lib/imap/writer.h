/*
 * imap writer: appends IMAP data items to a response buffer, choosing the
 * representation the grammar allows (RFC 9051 §4.3): an atom where the
 * caller asked for an astring and the text is a valid atom, a quoted
 * string when the text has no CR, LF, NUL or 8-bit bytes and is short,
 * otherwise a literal. Returns 0, or -1 if the buffer maximum is hit.
 */
#ifndef MOAT_IMAP_WRITER_H
#define MOAT_IMAP_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include "core/buf.h"

int imap_write_string(struct buf *b, const void *s, size_t len);
/* As imap_write_string, but 8-bit bytes may be quoted: for valid UTF-8
 * sent to a client that enabled UTF8=ACCEPT (RFC 6855 §3). */
int imap_write_utf8_string(struct buf *b, const void *s, size_t len);
int imap_write_astring(struct buf *b, const void *s, size_t len);
/* NULL writes NIL. */
int imap_write_nstring(struct buf *b, const char *s);
/* True if s can be sent as a quoted string. */
bool imap_can_quote(const void *s, size_t len);
/* True if s is a valid atom (ATOM-CHAR only, non-empty). */
bool imap_is_atom(const void *s, size_t len);
/* True if s is exactly one parenthesized list of the kinds this writer
 * makes: nested lists, atoms (NIL, numbers), quoted strings (8-bit only
 * with utf8) and literals with their exact octet count, no NUL and no
 * CR or LF but a literal's own. Text kept in the index and sent again
 * as it is (a cached ENVELOPE) is checked with it: whatever the bytes,
 * the client's parse of the response cannot get out of step. */
bool imap_list_valid(const void *s, size_t len, bool utf8);

#endif
