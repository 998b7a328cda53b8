/*
 * mail thread: the THREAD algorithms of RFC 5256 §2.1 (ORDEREDSUBJECT
 * and REFERENCES) over per-message facts the caller extracted, and the
 * §4 thread-list output; plus the msg-id normalization REFERENCES needs.
 *
 * Bounds: a message contributes at most MAIL_THREAD_MAX_REFS references
 * (the last ones: the nearest ancestors); the loop check of step 1 walks
 * at most MAIL_THREAD_MAX_DEPTH ancestors and takes a longer walk as a
 * loop (no link), so linking is O(n * depth) at worst; every traversal
 * is iterative, so a deep tree cannot exhaust the stack.
 */
#ifndef MOAT_MAIL_THREAD_H
#define MOAT_MAIL_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "core/buf.h"
#include "core/pool.h"

#define MAIL_THREAD_MAX_REFS 64
#define MAIL_THREAD_MAX_DEPTH 10000
/* A msg-id longer than this is not one (RFC 5322 §2.1.1's 998). */
#define MAIL_MSGID_MAX 998

struct mail_thread_msg {
	uint32_t seq;            /* sequence number: the tie-break */
	uint32_t num;            /* what the answer names: seq or UID */
	time_t date;             /* sent date, INTERNALDATE fallback */
	const char *subject;     /* base-subject key (mail_subject_key) */
	bool reply;              /* the subject was a reply or forward */
	const char *msgid;       /* normalized Message-ID, NULL if none */
	const char *const *refs; /* normalized references, oldest first */
	size_t n_refs;
};

enum mail_thread_alg {
	MAIL_THREAD_ORDEREDSUBJECT,
	MAIL_THREAD_REFERENCES,
};

/* Threads msgs[0..n) (any order; distinct seqs) and appends the threads
 * as "(1 2)(3 (4)(5))" (the part of "* THREAD" after its SP, nothing
 * for n == 0) to out. Returns 0, or -1 if out is full. */
int mail_thread(enum mail_thread_alg alg, const struct mail_thread_msg *msgs,
		size_t n, struct buf *out);

/* Reads the next msg-id (RFC 5322 §3.6.4, with its obsolete forms) in
 * s[*pos..len), skipping what is not one, and returns it normalized
 * (RFC 5256 §2.1: quoting and quoted-pairs removed, CFWS dropped,
 * without the angle brackets) from pool; NULL when there is none left.
 * A valid msg-id holds an "@" and is at most MAIL_MSGID_MAX bytes. */
const char *mail_msgid_next(struct pool *pool, const char *s, size_t len,
			    size_t *pos);

#endif
