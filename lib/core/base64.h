/*
 * base64: RFC 4648 base64 for SASL, strict on decode (no whitespace, correct
 * padding, no trailing garbage). Wraps OpenSSL's EVP coder.
 */
#ifndef MOAT_BASE64_H
#define MOAT_BASE64_H
#include <stddef.h>
#include <stdint.h>
/* Encoded length for n bytes, excluding the terminating NUL. */
size_t base64_encoded_len(size_t n);
/* dst must hold base64_encoded_len(n) + 1 bytes; NUL-terminates. */
void base64_encode(char *dst, const void *src, size_t n);
/* Decodes len characters into dst (dstsize bytes). Returns the decoded
 * length, or -1 if the input is not strict base64 or does not fit. */
long base64_decode(uint8_t *dst, size_t dstsize, const char *src, size_t len);
/* Value 0-63 of a base64 alphabet character, or -1 (for the tolerant
 * MIME decoder in lib/mail/cte.c). */
int base64_char_value(char c);
#endif
