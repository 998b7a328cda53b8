/*
 * mail rfc2231: decoding of RFC 2231 §4 extended parameter values,
 * charset'language'%XX..., into UTF-8. Joining the continuations
 * (name*0*, name*1, ... §3) is the MIME parameter parser's job; it calls
 * these on the joined value.
 */
#ifndef MOAT_MAIL_RFC2231_H
#define MOAT_MAIL_RFC2231_H

#include <stddef.h>
#include "core/buf.h"

/* Decodes a whole extended value "charset'language'text" (the first
 * segment's prefix followed by the joined text): percent escapes are
 * decoded, the bytes converted from charset to UTF-8 (an empty or
 * unknown charset: undeclared text, see charset.h). A value without the
 * two quotes is percent-decoded and read as undeclared text. Returns 0,
 * or -1 with errno EMSGSIZE if out is full. */
int mail_rfc2231_decode(const char *value, size_t len, struct buf *out);

/* For parsers that join mixed segments themselves (name*1 is not
 * percent-encoded, name*1* is): the charset prefix of a first segment.
 * Sets *cs and *cs_len to the charset (may be empty) and returns the offset
 * of the text after the second quote, or 0 if there is no such prefix. */
size_t mail_rfc2231_prefix(const char *value, size_t len, const char **cs,
			   size_t *cs_len);
/* Appends the percent-decoded bytes of s to raw (a bad escape is kept
 * literally). Returns 0 or -1 (raw full). Convert raw afterwards with
 * mail_charset_n_to_utf8(). */
int mail_rfc2231_unpercent(const char *s, size_t len, struct buf *raw);

#endif
