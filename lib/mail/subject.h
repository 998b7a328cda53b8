/*
 * mail subject: the RFC 5256 §2.1 "base subject" that SORT SUBJECT and
 * both THREAD algorithms compare, and its i;unicode-casemap key.
 */
#ifndef MOAT_MAIL_SUBJECT_H
#define MOAT_MAIL_SUBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include "core/buf.h"

/* A Subject longer than this (raw) is cut there before extraction: the
 * key of a hostile megabyte subject stays small. */
#define MAIL_SUBJECT_MAX 4096

/* Appends the base subject of the raw Subject value (folded or not,
 * RFC 2047 words allowed) to out: (1) encoded words decoded to UTF-8,
 * tabs, CR and LF made spaces, runs of spaces one; (2) trailing
 * "(fwd)" and spaces removed; (3) leading "re:", "fw:", "fwd:" (each
 * optionally preceded by [blobs] and followed by one "[blob]" before
 * the colon) and spaces removed; (4) a leading "[blob]" removed when
 * text remains; (3)-(4) repeated; (6) a "[fwd: ... ]" wrapping removed
 * and all from (2) again. Prefix matches ignore ASCII case. *reply (if
 * not NULL) is set when a re/fwd leader, a "(fwd)" trailer or a
 * "[fwd:" wrapping was removed (the "reply or forward" of REFERENCES).
 * Returns 0 or -1 (out full). */
int mail_subject_base(const void *raw, size_t len, struct buf *out,
		      bool *reply);

/* The comparison key: the base subject in i;unicode-casemap form (RFC
 * 5051 §2), so two subjects sort and thread together iff their keys are
 * equal bytes. Returns 0 or -1 (out full). */
int mail_subject_key(const void *raw, size_t len, struct buf *out,
		     bool *reply);

#endif
