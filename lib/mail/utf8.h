/*
 * mail utf8: strict UTF-8 (RFC 3629) decoding and repair for the header
 * and body decoders. Input is untrusted message bytes.
 */
#ifndef MOAT_MAIL_UTF8_H
#define MOAT_MAIL_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"

/* The UTF-8 form of U+FFFD REPLACEMENT CHARACTER. */
#define MAIL_UTF8_REPLACEMENT "\xef\xbf\xbd"

/* Decodes one character at p (n > 0 bytes available). Returns its length
 * (1-4) and sets *cp; 0 if p holds a valid but incomplete prefix of a
 * sequence (more bytes needed); -1 if p[0] starts no valid sequence
 * (overlong forms, surrogates and values above U+10FFFF are invalid). */
int mail_utf8_decode(const uint8_t *p, size_t n, uint32_t *cp);
/* Writes cp (<= U+10FFFF, not a surrogate) as UTF-8 into dst (4 bytes);
 * returns the length. Other values write U+FFFD. */
size_t mail_utf8_encode(uint32_t cp, uint8_t dst[4]);
/* True if the len bytes are entirely valid UTF-8. */
bool mail_utf8_valid(const void *s, size_t len);
/* Appends s to out with each invalid byte replaced by U+FFFD. */
int mail_utf8_sanitize(const void *s, size_t len, struct buf *out);
/* Appends the Windows-1252 byte c as UTF-8 (0x81, 0x8d, 0x8f, 0x90 and
 * 0x9d, unassigned there, become the C1 controls of the same value, as
 * WHATWG's decoder does). */
int mail_utf8_append_cp1252(uint8_t c, struct buf *out);

#endif
