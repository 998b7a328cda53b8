/*
 * imap-search-text: the ONE matcher behind every SEARCH key that needs a
 * message's bytes: HEADER (and FROM, TO, CC, BCC, SUBJECT), BODY, TEXT,
 * and SENTBEFORE/SENTON/SENTSINCE (the Date header). Caller:
 * imap-search.c, only after every cheaper key let the message through.
 *
 * It matches on the normalized text of lib/mail/textnorm (RFC 9051
 * §6.4.4 substrings of decoded text, RFC 5051 i;unicode-casemap on both
 * the text and the needle, which the caller has already converted from
 * the CHARSET to UTF-8): HEADER, FROM, TO, CC, BCC, SUBJECT on the
 * message's own header fields by name, unfolded and RFC 2047-decoded
 * (address fields as "name <mailbox@host>"; an empty needle means the
 * field exists); BODY on the text parts (transfer-decoded, charset-
 * converted, HTML reduced to text; attachments skipped; message/rfc822
 * parts entered); TEXT on both plus every part header, header segments
 * read as "NAME: value". No match spans two segments (two fields, two
 * parts). SENT* read the first Date field with lib/mail/date.c, the day
 * as the sender wrote it (RFC 9051 disregards time and timezone).
 *
 * Memory is bounded whatever the message: the MIME tree is parsed once
 * per message (bounded, mime.h), the text streamed through textnorm in
 * 64 KB reads and matched by a KMP automaton over the normalized needle
 * (so a match across read boundaries is found). The message file is
 * untrusted (anyone can mail the user). The full-text index
 * (imap-search-fts.h) answers first; what it does not cover (messages
 * not indexed yet, or over IDX_FTS_TEXT_MAX) and the candidates it
 * names for BODY and HEADER come here.
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

/* Per-SEARCH state (the needle's tables, the open message and its MIME
 * tree) in pool and the heap; free with search_text_end. */
struct search_text *search_text_new(struct pool *pool, struct store *store,
				    struct mailbox *mb);
/* Closes the message kept open and frees the matcher's buffers (call
 * before the command ends, also when it ends early). NULL-safe. */
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
