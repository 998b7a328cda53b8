/*
 * imap-search-fts: SEARCH's text keys answered from the full-text index
 * (lib/storage store-fts.c over lib/index/fts.c) where it gives the
 * scan's answer, so imap-search-text.c reads only what the index cannot
 * tell. Callers: imap-search.c (search_prepare, eval). doc/design.md
 * "SEARCH" has the rules:
 *  - each BODY, TEXT and HEADER key with a non-empty needle asks the
 *    index for the needle normalized as the text is (mail_casemap);
 *  - a message the index does not cover (idx_fts_unindexed) is
 *    scanned;
 *  - a covered message the index does not name cannot match (its
 *    collected text lacks the needle in every segment, and BODY and
 *    HEADER look at a subset of those segments);
 *  - a covered message it names matches TEXT (the collected text is
 *    exactly what TEXT scans: same segments, "NAME: value"), and is a
 *    candidate for BODY and HEADER that the scan then checks.
 * Each key is decided exactly for every message, so AND, OR and NOT
 * compose as they do over the scan.
 */
#ifndef MOAT_IMAP_SEARCH_FTS_H
#define MOAT_IMAP_SEARCH_FTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/pool.h"

struct search_env;
struct search_key;
struct search_program;

/* Messages one SEARCH indexes before it runs (those it would scan
 * anyway), and the time it may spend doing so; the rest is scanned. */
#define SEARCH_FTS_FILL_MAX 5000
#define SEARCH_FTS_FILL_MS 1000

/* Fills env's and the keys' index answers (in pool) for p's text keys;
 * without any, or when the index is off or fails, the keys stay as
 * they are and every message is scanned. */
void search_fts_prepare(struct pool *pool, struct search_env *env,
			struct search_program *p);

#define SEARCH_FTS_NO 0        /* cannot match */
#define SEARCH_FTS_YES 1       /* matches */
#define SEARCH_FTS_SCAN 2      /* read the message to know */
/* What the index says of key k for message uid. */
int search_fts_check(const struct search_env *env,
		     const struct search_key *k, uint32_t uid);

#endif
