/*
 * mutf7: RFC 3501 §5.1.3 modified UTF-7 (IMAP4rev1 mailbox names on the
 * wire, and Maildir++/mbox folder names on disk as Courier and Dovecot
 * write them) to and from UTF-8.
 *
 * Both directions are strict, because a mailbox name is a key: two
 * spellings of one name would be two mailboxes, or one mailbox reached
 * under a name the checks never saw. Decoding accepts only the one
 * canonical encoding of each string:
 *   - printable ASCII (0x20-0x7e) other than "&" stands for itself and
 *     must not be base64-encoded; "&" is written "&-";
 *   - every other character is in a "&...-" run of modified base64
 *     ("," instead of "/") of UTF-16 big-endian, which must end with "-",
 *     must not be empty, must use the fewest base64 characters and
 *     leave the padding bits zero, and must not follow another run
 *     directly ("&AGE-&AGI-" is one run spelled twice);
 *   - UTF-16 surrogates must pair up; U+0000 is refused (names are C
 *     strings everywhere after this point).
 * Encoding accepts only well-formed UTF-8 (RFC 3629: no overlong forms,
 * no surrogates, nothing above U+10FFFF, no NUL).
 *
 * Callers: mailbox-name.c (client names, on-disk folder names), LIST
 * output. Inputs are untrusted bytes; output goes to a buf with a
 * maximum, so a long name fails instead of growing memory.
 */
#ifndef MOAT_IMAP_MUTF7_H
#define MOAT_IMAP_MUTF7_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/* Decodes len bytes of modified UTF-7 at src and appends the UTF-8 text
 * to out. Returns 0, or -1 with errno EINVAL (not canonical modified
 * UTF-7) or EMSGSIZE (out's maximum reached); on error out is left as it
 * was before the call. */
int mutf7_to_utf8(const char *src, size_t len, struct buf *out);

/* Encodes len bytes of UTF-8 at src as modified UTF-7 appended to out.
 * Returns 0, or -1 with errno EINVAL (not well-formed UTF-8, or NUL) or
 * EMSGSIZE; on error out is unchanged. */
int mutf7_from_utf8(const char *src, size_t len, struct buf *out);

/* True when src is canonical modified UTF-7 (what mutf7_to_utf8 would
 * accept), without producing output. */
bool mutf7_valid(const char *src, size_t len);

/* True when src is well-formed UTF-8 without NUL (RFC 3629 §4). The one
 * UTF-8 check of lib/imap, shared with mailbox-name.c. */
bool mutf7_utf8_valid(const char *src, size_t len);

/* Decodes one UTF-8 character at src (len bytes available): returns its
 * length (1-4) and sets *cp, or 0 when the bytes there are not
 * well-formed UTF-8 (or are NUL). */
size_t mutf7_utf8_next(const char *src, size_t len, unsigned long *cp);

#endif
