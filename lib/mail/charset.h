/*
 * mail charset: conversion of message text to UTF-8 through iconv.
 *
 * Charset labels are those of MIME (RFC 2045 §5.1, RFC 2047, RFC 2231),
 * matched case-insensitively, with the aliases real mail uses mapped to
 * what glibc's iconv knows, and the Latin-1, GB2312, Shift_JIS, EUC-KR
 * families widened to the Windows supersets senders really use (as
 * browsers do per WHATWG Encoding). Invalid input sequences become
 * U+FFFD; output only grows up to the struct buf's maximum (the call then
 * fails with errno EMSGSIZE), so a conversion is never unbounded.
 *
 * Three kinds of labels:
 *   - UTF-8 ("utf-8", "utf8"): validated here, invalid bytes -> U+FFFD;
 *   - undeclared ("us-ascii", "x-unknown", "unknown-8bit", and
 *     mail_charset_conv_new(NULL)): valid UTF-8 sequences are kept and
 *     every other byte is read as Windows-1252 (mail mislabelled
 *     us-ascii is nearly always Latin-1 or UTF-8);
 *   - anything else iconv knows.
 *
 * Not thread-safe: iconv handles are cached in static storage (each
 * Moat process that converts text is single-threaded).
 */
#ifndef MOAT_MAIL_CHARSET_H
#define MOAT_MAIL_CHARSET_H

#include <stdbool.h>
#include <stddef.h>
#include "core/buf.h"

/* Longest charset label we look at (RFC 2978 names are <= 40). */
#define MAIL_CHARSET_NAME_MAX 64

struct mail_charset_conv;

/* True if text labelled name can be converted (SEARCH CHARSET: false
 * means [BADCHARSET], RFC 9051 §6.4.4). */
bool mail_charset_supported(const char *name);
/* True if name is a label of UTF-8 or of plain ASCII (no conversion
 * needed for valid input). */
bool mail_charset_is_utf8(const char *name);

/* A streaming converter from charset name (NULL: undeclared 8-bit) to
 * UTF-8. NULL if the charset is not supported. */
struct mail_charset_conv *mail_charset_conv_new(const char *name);
/* Converts len bytes, appending UTF-8 to out. A multibyte sequence cut
 * at the end of in is kept and completed by the next call, so the result
 * does not depend on the chunking (except the number of U+FFFD for
 * malformed input in the stateful UTF-7 and ISO-2022-*). Returns 0,
 * or -1 with errno EMSGSIZE when out is full (its content is then
 * partial; the converter may be freed or reset). */
int mail_charset_conv_feed(struct mail_charset_conv *c, const void *in,
			   size_t len, struct buf *out);
/* Ends the input: a sequence left incomplete becomes U+FFFD. The
 * converter is reset and may convert another text. */
int mail_charset_conv_finish(struct mail_charset_conv *c, struct buf *out);
void mail_charset_conv_free(struct mail_charset_conv **c);

/* One-shot: converts in to UTF-8 and appends to out. Returns 0; -1 with
 * errno EINVAL if the charset is not supported (nothing appended), or
 * EMSGSIZE if out filled up. */
int mail_charset_to_utf8(const char *name, const void *in, size_t len,
			 struct buf *out);
/* As mail_charset_to_utf8 for a label that is not NUL-terminated. */
int mail_charset_n_to_utf8(const char *name, size_t name_len,
			   const void *in, size_t len, struct buf *out);

#endif
