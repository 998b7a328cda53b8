/*
 * imap-args: the argument types several commands share, turned from the
 * parser's argument tree into what the store takes: mailbox names,
 * flag lists, date-times, sequence sets. Callers: the command handlers.
 * Every input is untrusted client text; memory comes from the command's
 * pool.
 */
#ifndef MOAT_IMAP_ARGS_H
#define MOAT_IMAP_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/pool.h"
#include "imap/parser.h"

struct client_command;

/* What a mailbox argument names: decides the NO code for a name that is
 * not valid (RFC 5530): an existing mailbox ([NONEXISTENT]: no such
 * mailbox can exist), or a new one or a target ([CANNOT]). */
enum imap_mbname_use {
	IMAP_MBNAME_EXISTING,
	IMAP_MBNAME_NEW,          /* CREATE, RENAME's target: no % or * */
	IMAP_MBNAME_TARGET,       /* APPEND, COPY, MOVE */
};

/* A mailbox argument (RFC 9051 mailbox = "INBOX" / astring): modified
 * UTF-7 decoded (UTF-8 taken as is with UTF8=ACCEPT), validated for the
 * store's separator (mbname_from_wire), INBOX normalised. Returns the
 * canonical name in the command's pool, or NULL when it answered: BAD
 * for something that is not an astring, NO [NONEXISTENT]/[CANNOT] for a
 * name that is not valid. */
const char *imap_args_mailbox(struct client_command *cmd,
			      const struct imap_arg *a,
			      enum imap_mbname_use use);

/* A LIST pattern (RFC 9051 list-mailbox: 1*list-char / string). Returns
 * true and the raw bytes (still modified UTF-7). */
bool imap_args_list_mailbox(const struct imap_arg *a, const char **s);

/* Flags for STORE and APPEND (RFC 9051 flag, flag-keyword): the five
 * system flags (any case) and keywords (atoms). \Recent cannot be set
 * (it is not a "flag" in the grammar, only a "flag-fetch") and other
 * \-flags do not exist here: both are errors, as is a keyword that is
 * not an atom. Keywords are kept in the order given, duplicates removed
 * (case-insensitively, RFC 9051 §2.3.2). */
#define IMAP_ARGS_MAX_KEYWORDS 64
/* Longest keyword. The grammar has no limit, but every FLAGS and FETCH
 * response carries them: 64 keywords of a line's length each would make
 * responses the session cannot send (IMAP_OUTPUT_MAX), so the mailbox
 * could never be selected again. Real ones ("$Junk", "$label1",
 * "NonJunk") are short. */
#define IMAP_ARGS_KEYWORD_MAX 128
struct imap_flags {
	unsigned int flags;            /* STORE_F_* */
	const char **keywords;         /* NULL-terminated */
	size_t n_keywords;
};
/* Parses the n flags in list (atoms). Returns 0, or -1 with *error set
 * to a text for BAD. */
int imap_args_flags(struct pool *pool, const struct imap_arg *list,
		    size_t n, struct imap_flags *out, const char **error);

/* RFC 9051 date-time: "dd-Mon-yyyy hh:mm:ss +zzzz" (day " d" or "dd",
 * month in any case) as a time_t. Returns 0 or -1 (not that form, or
 * not a real date). */
int imap_args_date_time(const char *s, size_t len, time_t *out);

/* The sequence set of a FETCH/STORE/COPY/MOVE (cmd->uid: UIDs) as the
 * ascending sequence numbers of the messages it names in the selected
 * mailbox (RFC 9051 §9 sequence-set; "*" and ranges in either order).
 * Sequence numbers beyond the mailbox are BAD (RFC 9051 §9 seq-number);
 * UIDs that do not exist are skipped (§6.4.9). Returns 0 with *seqs
 * (pool) and *n (maybe 0), or -1 with *error for BAD. */
int imap_args_seqs(struct client_command *cmd, const struct imap_arg *a,
		   uint32_t **seqs, size_t *n, const char **error);

/* The sequence number of uid in the selected mailbox's view, or 0. */
uint32_t imap_args_uid_to_seq(struct client_command *cmd, uint32_t uid);

#endif
