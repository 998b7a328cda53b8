/*
 * mail casemap: the i;unicode-casemap collation's string preparation
 * (RFC 5051 §2), the form SEARCH, SORT and the full-text index compare.
 */
#ifndef MOAT_MAIL_CASEMAP_H
#define MOAT_MAIL_CASEMAP_H

#include <stddef.h>
#include "core/buf.h"

/* Appends the "titlecased canonicalized UTF-8" form of the UTF-8 text in
 * to out: each character is mapped to its titlecase (UnicodeData simple
 * titlecase, via utf8proc) and then fully decomposed, canonical and
 * compatibility mappings applied recursively (§2 step 2b, "effectively
 * NFKD"; no canonical reordering, exactly as the RFC's per-character
 * algorithm). Invalid UTF-8 bytes become U+FFFD each (the RFC would fall
 * back to i;octet; a deterministic replacement keeps substring matching
 * meaningful on broken mail). ASCII takes a fast path. Returns 0, or -1
 * with errno EMSGSIZE if out is full. */
int mail_casemap(const void *in, size_t len, struct buf *out);

#endif
