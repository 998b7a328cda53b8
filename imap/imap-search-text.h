/*
 * imap-search-text: the ONE matcher behind every SEARCH key that needs a
 * message's bytes: HEADER (and FROM, TO, CC, BCC, SUBJECT), BODY, TEXT,
 * and SENTBEFORE/SENTON/SENTSINCE (the Date header). Caller:
 * imap-search.c, only after every cheaper key let the message through.
 *
 * THIS IS THE INTERIM PATH. It matches on the raw message as the store
 * serves it (mailbox_msg_open): header fields unfolded (RFC 5322 §2.2.3)
 * and matched by field name, ASCII case-insensitive substrings, BODY on
 * the raw body after the first empty line, TEXT on the whole raw
 * message, and a minimal Date parse (day, month, year as the sender
 * wrote them: RFC 9051 disregards time and timezone). No transfer
 * decoding, no RFC 2047 words, no charset conversion, no Unicode case
 * mapping, no index. The lead replaces the body of search_text_match()
 * with lib/mail decoding + i;unicode-casemap + the full-text index; the
 * interface stays.
 *
 * Memory is bounded whatever the message: the bytes are read in 64 KB
 * chunks with pread and matched as a stream (a KMP automaton over the
 * folded needle, so a match across a chunk boundary is found), a header
 * field name longer than 256 bytes cannot match, and only the first
 * 256 bytes of the Date field are kept. The message file is untrusted
 * (anyone can mail the user).
 */
#ifndef MOAT_IMAP_SEARCH_TEXT_H
#define MOAT_IMAP_SEARCH_TEXT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/pool.h"

struct mailbox;
struct search_key;
struct store;

struct search_text;

/* Per-SEARCH state (one read buffer, the needle's tables, the open
 * message) in pool; free with search_text_end. */
struct search_text *search_text_new(struct pool *pool, struct store *store,
				    struct mailbox *mb);
/* Closes the message kept open (call before the command ends, also when
 * it ends early). NULL-safe. */
void search_text_end(struct search_text *t);

/* Does message seq match key (a SEARCH_KEY_HEADER, _BODY, _TEXT or
 * SENT* key)? Returns 1 or 0; SEARCH_TEXT_NO_DATE for a SENT* key when
 * the message has no Date header that can be parsed (the caller then
 * uses INTERNALDATE, as RFC 5256 §2.2 does for SORT); -1 when the
 * message could not be read (*expunged true if it is gone: not an
 * error, just no match). The
 * message is opened on the first call for seq and stays open for the
 * next keys of the same message. */
#define SEARCH_TEXT_NO_DATE 2
int search_text_match(struct search_text *t, uint32_t seq,
		      const struct search_key *key, bool *expunged);

/* The store's detail of the last failure, for the log. */
const char *search_text_error(const struct search_text *t);

/* RFC 5322 date (and its obsolete forms): the day as written, in days
 * since 1970-01-01. Returns 0, or -1 when no day, month and year can be
 * found. Exposed for the tests. */
int search_text_parse_date(const char *s, size_t len, int64_t *day);

#endif
