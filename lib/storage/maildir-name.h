/*
 * maildir_name: Maildir message file names (cr.yp.to/proto/maildir.html,
 * Courier's and Dovecot's extensions).
 *
 *   <base>[:<info>]     info "2,<flags>[,<tail>]" carries the flags
 *
 * - base is the unique part, and what identifies a message across flag
 *   changes (the index, dovecot-uidlist and courierimapuiddb key by it).
 *   The info separator is the LAST ':' (as Dovecot and Courier find it;
 *   a host name in a base has its ':' escaped as "\072").
 * - flags are single characters in ASCII order. The six standard ones
 *   map to bits (D \Draft, F \Flagged, P passed, R \Answered, S \Seen,
 *   T \Deleted; P has no IMAP flag but must be kept). 'a'..'z' are
 *   Dovecot's keyword letters (their names in dovecot-keywords) and kept
 *   as a bit mask. Any other printable character ('!'..'~' except ','
 *   ':' '/') is kept as it is; an info with anything else is not
 *   understood as flags (see flags_valid).
 *   Nothing that another program put there is lost when Moat rewrites
 *   the flags; the rebuilt name lists them in ASCII order, once each (as
 *   the Maildir specification requires).
 * - Dovecot extends the flags with ",<fields>" after them; that tail is
 *   kept byte for byte.
 * - Dovecot's ",S=<size>" and ",W=<vsize>" fields in the base give the
 *   file size and the RFC822.SIZE (CRLF) size without a stat or a read;
 *   they are optional and only used if well-formed.
 *
 * Names are refused when empty, longer than MAILDIR_NAME_MAX (NAME_MAX),
 * starting with '.' (hidden files and "."/".." in a directory listing;
 * the Maildir specification reserves them), or containing '/' or NUL.
 *
 * Callers: the Maildir backend (directory scans, flag changes, delivery)
 * and uidlist.c. Inputs are directory entries other programs created:
 * untrusted. Parsing borrows from the caller's name; nothing allocates.
 */
#ifndef MOAT_STORAGE_MAILDIR_NAME_H
#define MOAT_STORAGE_MAILDIR_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define MAILDIR_NAME_MAX 255
/* Longest base maildir_name_new_base() makes: leaves room in a
 * MAILDIR_NAME_MAX name for ":2," and every flag letter. */
#define MAILDIR_NEW_BASE_MAX 160

enum {
	MAILDIR_FLAG_DRAFT   = 1 << 0,   /* 'D' \Draft */
	MAILDIR_FLAG_FLAGGED = 1 << 1,   /* 'F' \Flagged */
	MAILDIR_FLAG_PASSED  = 1 << 2,   /* 'P' forwarded; no IMAP flag */
	MAILDIR_FLAG_REPLIED = 1 << 3,   /* 'R' \Answered */
	MAILDIR_FLAG_SEEN    = 1 << 4,   /* 'S' \Seen */
	MAILDIR_FLAG_TRASHED = 1 << 5,   /* 'T' \Deleted */
};

/* Flag characters are '!'..'~' except ',' (starts the tail), ':' and
 * '/'; those that are neither standard flags nor 'a'..'z' are at most
 * 94 - 3 - 6 - 26 = 59. */
#define MAILDIR_OTHER_MAX 59

struct maildir_name {
	const char *base;          /* borrowed from the parsed name */
	size_t base_len;
	bool has_info;             /* a ':' separator was present */
	const char *info;          /* after the ':' (raw), if has_info */
	size_t info_len;
	/* The info is "2,<flags>[,<tail>]" with printable flag characters.
	 * If not (no info, "1,...", or junk), the fields below are empty and
	 * a rebuilt name gets a fresh ":2," info. */
	bool flags_valid;
	unsigned flags;            /* MAILDIR_FLAG_* */
	uint32_t keywords;         /* bit i: letter 'a' + i */
	char other[MAILDIR_OTHER_MAX + 1];  /* ASCII order, unique, NUL-ended */
	const char *tail;          /* ",..." after the flags, or NULL */
	size_t tail_len;
	/* Dovecot's ",S=" and ",W=" from the base. */
	bool has_size, has_vsize;
	uint64_t size, vsize;
};

/* Parses name (len bytes, need not be NUL-terminated). Returns 0, or -1
 * (errno EINVAL) for a name that is refused (see above). */
int maildir_name_parse(const char *name, size_t len, struct maildir_name *n);

/* Length of the base of name: up to the last ':' (or all of it). */
size_t maildir_name_base_len(const char *name, size_t len);

/* Sets *n to a name with this base (borrowed) and no flags, ready to have
 * flags set and be built. */
void maildir_name_init(struct maildir_name *n, const char *base,
		       size_t base_len);

/* Appends "<base>:2,<flags in ASCII order><tail>" to out: the standard
 * flags from n->flags, keyword letters from n->keywords, n->other, and
 * n->tail. Returns 0, or -1 (errno EINVAL: base invalid or other holds a
 * character that cannot be a flag; ENAMETOOLONG: longer than
 * MAILDIR_NAME_MAX; EMSGSIZE: out full); out unchanged on error. */
int maildir_name_build(const struct maildir_name *n, struct buf *out);

/* The delivery time at the start of a base ("1276528487.M36..." ->
 * 1276528487), used to order new messages before UIDs are assigned.
 * Returns false when the base does not start with 1..19 digits and '.'. */
bool maildir_name_time(const char *base, size_t len, uint64_t *sec);

/* Appends a new unique base, "<sec>.M<usec>P<pid>Q<seq>.<host>", to out.
 * Every host byte outside [A-Za-z0-9._-] is written as a backslash and
 * three octal digits, so '/' becomes "\057" and ':' "\072" as the
 * specification asks, and ',' cannot start a fake field. Uniqueness comes
 * from (sec, usec, pid, seq): the caller increments seq per delivery in
 * its process. Returns 0, or -1 (EINVAL: empty host or usec >= 10^6;
 * ENAMETOOLONG: longer than MAILDIR_NEW_BASE_MAX; EMSGSIZE). */
int maildir_name_new_base(struct buf *out, uint64_t sec, uint32_t usec,
			  uint32_t pid, uint64_t seq, const char *host);

/* Appends Dovecot's ",S=<size>,W=<vsize>" to a base being built. */
int maildir_name_add_sizes(struct buf *out, uint64_t size, uint64_t vsize);

#endif
