/*
 * imap-list-match: LIST and LSUB patterns (RFC 9051 §6.3.9, RFC 3501
 * §6.3.8): the reference and the mailbox argument joined, "*" matching
 * anything and "%" anything but the hierarchy separator, the INBOX part
 * of a name matched without regard to case (INBOX is case-insensitive,
 * RFC 9051 §5.1). Callers: cmd-list.c. Patterns are client input: the
 * matcher is a set-of-states walk, O(name length x pattern length) with
 * no backtracking, and the pattern is bounded (IMAP_LIST_PATTERN_MAX).
 */
#ifndef MOAT_IMAP_LIST_MATCH_H
#define MOAT_IMAP_LIST_MATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "core/pool.h"

/* A longer pattern (after joining and decoding) matches nothing: a name
 * is at most MBNAME_MAX_LEN bytes, and runs of wildcards collapse. */
#define IMAP_LIST_PATTERN_MAX 1024

struct imap_list_pattern {
	char *p;              /* UTF-8, wildcard runs collapsed */
	size_t len;
	bool none;            /* matches nothing (bad mUTF-7, too long) */
	bool ends_with_percent;
	char sep;
	unsigned char *cur, *next;  /* state sets, len + 1 each */
};

/* Joins reference and pattern (both as on the wire: modified UTF-7, or
 * UTF-8 when utf8) and prepares them for matching, in pool. */
void imap_list_pattern_init(struct imap_list_pattern *pat, struct pool *pool,
			    const char *reference, const char *pattern,
			    bool utf8, char sep);
/* True if the canonical UTF-8 name matches. */
bool imap_list_pattern_match(struct imap_list_pattern *pat, const char *name);

#endif
