/*
 * uidlist: the UID maps that Dovecot and Courier-IMAP leave in a Maildir,
 * read once when Moat first opens a folder they served, so that existing
 * clients keep their UIDs (and do not download everything again).
 *
 *   dovecot-uidlist   (Dovecot's maildir-uidlist.c; its doc "Maildir
 *                      Mailbox Format")
 *     version 3: "3 V<uidvalidity> N<nextuid> G<guid hex> [<key><value>]"
 *                then "<uid> [<key><value> ...] :<filename>"
 *                (keys are A-Z; S<size> and W<vsize> are read)
 *     version 1: "1 <uidvalidity> <nextuid>" then "<uid> <filename>"
 *   courierimapuiddb  (Courier's imap/imapscanclient.c)
 *                "1 <uidvalidity> <nextuid>" then "<uid> <filename>",
 *                the filename being everything after the first space
 *   dovecot-keywords  "<id> <name>", id 0..25 standing for the Maildir
 *                flag letters 'a'..'z'
 *
 * The filename may carry ":2,<flags>" (Dovecot writes the last name it
 * knew); the entry gives its base length, which is what identifies the
 * message (maildir-name.h). Entries come to a callback in increasing UID
 * order: a line whose UID is not above the previous accepted one is
 * skipped, as are malformed lines, lines longer than UIDLIST_LINE_MAX,
 * names that maildir_name_parse() refuses, a UID of 0 or from 2^31 up
 * (UIDLIST_UID_LIMIT), and
 * an unterminated last line (a writer may be appending it). Skips are
 * counted in the stats, never fatal. A base may appear twice (Dovecot
 * logs it as an "unexpunge"): the caller keeps the later entry, as
 * Dovecot does. nextuid is raised above the highest UID accepted, so a
 * UID from the file is never handed out again.
 *
 * Keyword names must be IMAP atoms (RFC 9051 §9 flag-keyword, checked
 * with imap_is_atom_char) of at most UIDLIST_KEYWORD_MAX bytes; the
 * first line for an id wins.
 *
 * Inputs are whole files in memory (the caller reads them with a size
 * cap; a 100,000-message dovecot-uidlist is about 6 MB). They were
 * written by other programs, maybe by the user: untrusted. Nothing is
 * allocated; the callbacks get pointers into the caller's buffer.
 */
#ifndef MOAT_STORAGE_UIDLIST_H
#define MOAT_STORAGE_UIDLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UIDLIST_LINE_MAX 4096
#define UIDLIST_KEYWORD_MAX 128
#define UIDLIST_KEYWORD_IDS 26
/* Values believed (store-private.h says why): a UIDVALIDITY below
 * UIDLIST_UIDVALIDITY_LIMIT, UIDs below UIDLIST_UID_LIMIT, a NEXTUID of
 * at most UIDLIST_UID_LIMIT. */
#define UIDLIST_UIDVALIDITY_LIMIT 0xf0000000u
#define UIDLIST_UID_LIMIT 0x80000000u

struct uidlist_header {
	unsigned version;          /* 1 or 3 */
	uint32_t uidvalidity;      /* never 0 */
	uint32_t nextuid;          /* >= 1, > every accepted UID */
	bool has_guid;             /* v3 G: Dovecot's mailbox GUID */
	uint8_t guid[16];
};

struct uidlist_entry {
	uint32_t uid;
	const char *filename;      /* borrowed; as stored, not NUL-terminated */
	size_t filename_len;
	size_t base_len;           /* the base: filename[0..base_len) */
	bool has_size, has_vsize;  /* v3 S and W fields */
	uint64_t size, vsize;
};

struct uidlist_stats {
	size_t entries;            /* passed to the callback */
	size_t bad_lines;          /* malformed, bad name, bad UID, too long */
	size_t out_of_order;       /* UID not above the previous one */
	bool partial_tail;         /* the last line had no newline */
};

/* Return 0 to go on, anything else to stop (the parser returns it). */
typedef int uidlist_entry_cb(void *ctx, const struct uidlist_entry *e);
typedef int uidlist_keyword_cb(void *ctx, unsigned id, const char *name,
			       size_t len);

/* Parses a dovecot-uidlist (version 1 or 3). *hdr is filled before the
 * first callback, and its nextuid raised past the last accepted UID when
 * the parse ends (read it after the call). Returns 0; -1 with errno EINVAL when the header is not
 * usable (unknown version, missing, zero or too high UIDVALIDITY, bad
 * or too high NEXTUID), in
 * which case no entry was reported; or the callback's non-zero value. st
 * may be NULL. */
int uidlist_parse_dovecot(const char *data, size_t len,
			  struct uidlist_header *hdr, uidlist_entry_cb *cb,
			  void *ctx, struct uidlist_stats *st);

/* Parses a courierimapuiddb; same contract (version is 1). */
int uidlist_parse_courier(const char *data, size_t len,
			  struct uidlist_header *hdr, uidlist_entry_cb *cb,
			  void *ctx, struct uidlist_stats *st);

/* Parses a dovecot-keywords file; st->entries counts the keywords. */
int uidlist_parse_keywords(const char *data, size_t len,
			   uidlist_keyword_cb *cb, void *ctx,
			   struct uidlist_stats *st);

#endif
