/*
 * imap-search: the SEARCH program (RFC 9051 §6.4.4, RFC 3501 §6.4.4)
 * with the keys of WITHIN (RFC 5032), SAVEDATE (RFC 8514), CONDSTORE's
 * MODSEQ (RFC 7162 §3.1.5) and SEARCHRES's "$" (RFC 5182), parsed from
 * the command's argument tree into a key tree, and evaluated message by
 * message over the selected mailbox's view. Callers: cmd-search.c (and
 * later SORT and THREAD, which take the same program).
 *
 * The arguments are untrusted client input: the number of keys, their
 * nesting and the length of every string are bounded (SEARCH_MAX_*),
 * and anything outside the grammar is a BAD with a text saying what.
 * All memory comes from the command's pool.
 *
 * Evaluation order (doc/design.md, "SEARCH"): every AND list is sorted
 * cheapest key first and every OR tries its cheaper side first, so the
 * keys that need the message's bytes (imap-search-text.h) run only on
 * messages that every cheaper key let through.
 */
#ifndef MOAT_IMAP_SEARCH_H
#define MOAT_IMAP_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/pool.h"
#include "imap/parser.h"
#include "imap/seqset.h"

struct mailbox;
struct mailbox_view;
struct search_text;
struct store;

/* More keys than this in one program is not a real client (a long
 * "OR OR OR ... KEYWORD a KEYWORD b ..." chain of a filter UI included). */
#define SEARCH_MAX_KEYS 2000
/* Nesting of parentheses, OR and NOT together: each level is a stack
 * frame of the parser and of the evaluator. */
#define SEARCH_MAX_DEPTH 64
/* A search string (needle, header field name). */
#define SEARCH_MAX_STRING 4096
/* Keys that read the message: each may mean a pass over a 50 MB file. */
#define SEARCH_MAX_TEXT_KEYS 64

enum search_key_type {
	SEARCH_KEY_ALL,
	SEARCH_KEY_AND,          /* children[0..n-1] */
	SEARCH_KEY_OR,           /* children[0], children[1] */
	SEARCH_KEY_NOT,          /* children[0] */
	SEARCH_KEY_SEQSET,       /* set (sequence numbers), last ($) */
	SEARCH_KEY_UIDSET,       /* set (UIDs), last ($) */
	SEARCH_KEY_FLAGS_SET,    /* every bit of flags set */
	SEARCH_KEY_FLAGS_CLEAR,  /* every bit of flags clear */
	SEARCH_KEY_RECENT,
	SEARCH_KEY_NEW,          /* \Recent and not \Seen */
	SEARCH_KEY_OLD,          /* not \Recent */
	SEARCH_KEY_KEYWORD,      /* str names it */
	SEARCH_KEY_UNKEYWORD,
	SEARCH_KEY_BEFORE,       /* INTERNALDATE's day < day (UTC) */
	SEARCH_KEY_ON,
	SEARCH_KEY_SINCE,
	SEARCH_KEY_SAVEDBEFORE,  /* the save date: INTERNALDATE here */
	SEARCH_KEY_SAVEDON,
	SEARCH_KEY_SAVEDSINCE,
	SEARCH_KEY_SAVEDATESUPPORTED,
	SEARCH_KEY_OLDER,        /* INTERNALDATE < now - num seconds */
	SEARCH_KEY_YOUNGER,      /* INTERNALDATE >= now - num */
	SEARCH_KEY_LARGER,       /* RFC822.SIZE > num */
	SEARCH_KEY_SMALLER,      /* RFC822.SIZE < num */
	SEARCH_KEY_MODSEQ,       /* modseq >= num */
	/* The keys of imap-search-text.h: the message's bytes. */
	SEARCH_KEY_HEADER,       /* field contains str */
	SEARCH_KEY_BODY,
	SEARCH_KEY_TEXT,
	SEARCH_KEY_SENTBEFORE,   /* Date header's day < day */
	SEARCH_KEY_SENTON,
	SEARCH_KEY_SENTSINCE,
};

struct search_key {
	enum search_key_type type;
	struct search_key **children;
	size_t n_children;
	unsigned int cost;       /* relative, for the evaluation order */

	const char *field;       /* HEADER: the field name */
	const char *str;         /* needle (UTF-8) or keyword */
	size_t str_len;
	uint64_t num;            /* size, seconds, modseq */
	int64_t day;             /* dates: days since 1970-01-01 */
	unsigned int flags;      /* STORE_F_* */
	struct seqset *set;      /* SEQSET, UIDSET: ranges as written */
	bool last;               /* "$" in the set */
	/* The full-text index's answer for a text key
	 * (imap-search-fts.h): the indexed messages whose text has the
	 * needle, ascending UIDs. */
	bool fts;
	const uint32_t *fts_uids;
	size_t fts_n;
};

/* RFC 4731 RETURN options (RFC 5182 SAVE). */
#define SEARCH_RETURN_MIN   0x01u
#define SEARCH_RETURN_MAX   0x02u
#define SEARCH_RETURN_ALL   0x04u
#define SEARCH_RETURN_COUNT 0x08u
#define SEARCH_RETURN_SAVE  0x10u

struct search_program {
	struct search_key *root;
	/* A RETURN (...) was given: answer with ESEARCH (RFC 4731 §3.1);
	 * an empty list means ALL. */
	bool esearch;
	unsigned int ret;        /* SEARCH_RETURN_* */
	bool uses_modseq;        /* answer with (MODSEQ n), RFC 7162 */
	bool uses_last;          /* "$" somewhere */
	const char *charset;     /* as given after CHARSET, or NULL */
	size_t n_text_keys;
};

/* Parses args[0..n-1] (what follows "SEARCH"). Returns 0; or -1 with
 * *error set to a text for BAD; or -2 when the charset is not one the
 * strings can be converted from (NO [BADCHARSET ...], *error the text
 * after the code). BAD wins: the whole program is checked first. */
int search_parse(struct pool *pool, const struct imap_arg *args, size_t n,
		 struct search_program *out, const char **error);

/* The same for SORT and THREAD (RFC 5256 §3): args[0..n-1] is the
 * search program after the (mandatory) charset; no RETURN, no CHARSET. */
int search_parse_charset(struct pool *pool, const char *charset,
			 const struct imap_arg *args, size_t n,
			 struct search_program *out, const char **error);

/* Named in [BADCHARSET (...)] (RFC 9051 §6.4.4): the common ones of
 * what lib/mail/charset converts (every label iconv knows is accepted). */
#define SEARCH_CHARSETS "UTF-8 US-ASCII ISO-8859-1 ISO-8859-2 " \
	"ISO-8859-15 WINDOWS-1250 WINDOWS-1251 WINDOWS-1252 KOI8-R " \
	"ISO-2022-JP SHIFT_JIS EUC-JP GB18030 BIG5 EUC-KR"

/* What the evaluator sees of the session. */
struct search_env {
	struct store *store;
	struct mailbox *mb;
	const struct mailbox_view *view;
	size_t n;                /* messages the client knows (seq 1..n) */
	const uint32_t *saved;   /* "$": ascending UIDs, n_saved */
	size_t n_saved;
	time_t now;              /* for OLDER/YOUNGER */
	struct search_text *text; /* the text matcher's state */
	/* The full-text index was asked (search_prepare): the messages
	 * it does not cover, ascending UIDs. */
	bool fts;
	const uint32_t *fts_unindexed;
	size_t fts_n_unindexed;
	/* Text-key decisions: by the index alone, by reading the message
	 * (counted once per message). */
	uint64_t n_index, n_read;
	/* Set when a message could not be read or its date and size not
	 * found (the store's detail is logged once): the caller answers
	 * NO [SERVERBUG]. */
	bool failed;
};

/* Resolves the sequence sets of p against env ("*", the client's
 * message count; a sequence number beyond it matches nothing rather
 * than being an error: a search key is a condition, not a reference).
 * Call once before search_match. Then asks the full-text index for
 * the text keys (imap-search-fts.h). */
void search_prepare(struct pool *pool, struct search_env *env,
		    struct search_program *p);

/* Does message seq (1-based) match the program? Keys that need what the
 * store cannot tell (a message gone meanwhile) do not match. */
bool search_match(struct search_env *env, const struct search_program *p,
		  uint32_t seq);

/* Days since 1970-01-01 of a proleptic Gregorian date (shared with the
 * text matcher's Date header parse). */
int64_t search_days_from_civil(int64_t y, unsigned int m, unsigned int d);

#endif
