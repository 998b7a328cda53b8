/*
 * mail encword: RFC 2047 encoded words in header values -> UTF-8.
 *
 * Decodes every "=?charset?B|Q?text?=" in the value (also inside words
 * and phrases, as real MUAs write them), with the RFC 2231 §5 language
 * suffix "=?charset*lang?...?=" accepted and ignored. Whitespace between
 * two adjacent encoded words is dropped (RFC 2047 §6.2); the decoded
 * bytes of adjacent words in the same charset are joined before the
 * conversion, so a multibyte character split across two words (common
 * breakage) comes out whole. A malformed word (no "?=", bad encoding
 * letter, a space inside) is kept literally. A charset iconv does not
 * know is decoded as undeclared text. Text outside encoded words that
 * holds 8-bit bytes (RFC 6532, or undeclared legacy mail) is kept if the
 * whole value is valid UTF-8, otherwise read as Windows-1252. CR and LF
 * outside encoded words are dropped (unfolding). Output is
 * always valid UTF-8 and at most the struct buf's maximum.
 */
#ifndef MOAT_MAIL_ENCWORD_H
#define MOAT_MAIL_ENCWORD_H

#include <stddef.h>
#include "core/buf.h"

/* Appends the decoded value to out. Returns 0, or -1 with errno
 * EMSGSIZE if out is full (out then holds a partial result). */
int mail_encword_decode(const void *in, size_t len, struct buf *out);

/* Decodes the text of one B (base64) or Q encoded word, appending raw
 * bytes to out; lenient: invalid characters are skipped and decoding goes
 * on after "=" padding (B), a bad "="
 * escape is kept literally (Q). Returns 0 or -1 (out full). */
int mail_encword_decode_b(const char *s, size_t len, struct buf *out);
int mail_encword_decode_q(const char *s, size_t len, struct buf *out);

#endif
