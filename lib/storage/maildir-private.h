/*
 * maildir-private: what the Maildir++ backend's files share (maildir.c:
 * folders and messages; maildir-sync.c: the scan; maildir-uidlist.c:
 * dovecot-uidlist and dovecot-keywords).
 */
#ifndef MOAT_MAILDIR_PRIVATE_H
#define MOAT_MAILDIR_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "storage/maildir-name.h"
#include "storage/store-private.h"

/* The backend blob of a message: one byte of MD_BLOB_* bits, then the
 * file name as last seen (so at most 254 bytes of name). */
#define MD_BLOB_NEW   0x01u  /* the file is in new/ (else cur/) */
#define MD_BLOB_VSIZE 0x02u  /* the record's size is the exact RFC822.SIZE */
#define MD_BLOB_DATE  0x04u  /* the record's date is the file's mtime */
#define MD_BLOB_NAME_MAX (IDX_BLOB_MAX - 1)

/* Rescans when a file keeps changing its name under us. */
#define MD_RETRIES 10
/* Files in tmp/ untouched this long are removed (qmail's rule). */
#define MD_TMP_MAX_AGE (36 * 3600)

struct maildir_store {
	char host[64];
	uint64_t seq;            /* deliveries by this process */
};

struct maildir_box {
	int dir_fd, cur_fd, new_fd, tmp_fd;
	/* dovecot-keywords: letter 'a'+i names a keyword */
	char *letter_name[26];
	/* resolved against the mailbox's keyword ids */
	bool kwmap_ok;
	size_t kwmap_n_keywords;
	int letter_kw[26];              /* -1: none */
	int kw_letter[IDX_KEYWORDS_MAX];  /* -1: none */
};

static inline struct maildir_box *
md_box(const struct mailbox *box)
{
	return box->be;
}

/* IDX_F_* from Maildir flag letters and back (P, unknown letters and
 * the tail are the caller's to keep). */
unsigned md_flags_to_idx(unsigned mf);
unsigned md_flags_from_idx(unsigned f, unsigned old_mf);

/* Blob <-> (bits, name). blob_name copies the name NUL-terminated into
 * name[MD_BLOB_NAME_MAX + 1]; false for a malformed blob. */
size_t md_blob_make(uint8_t *out, unsigned bits, const char *name,
		    size_t len);
bool md_blob_name(const uint8_t *blob, size_t len, unsigned *bits,
		  char *name);

/* Keyword letters: (re)reads dovecot-keywords of the folder. */
/* Our own renames, links and unlinks in new/ and cur/ (maildir-sync.c):
 * md_own_pre right before each, md_own_post right after it succeeded
 * (which directories it changed), md_own_end in the transaction that
 * records them: the stamp follows them when nothing else changed, so
 * the next command's sync need not read the folder. Zeroed to start. */
struct md_own {
	bool broken;             /* something else changed in between */
	bool started;
	struct timespec pre_new, pre_cur;   /* before the current one */
	struct timespec b_new, b_cur;       /* before the first */
	struct timespec a_new, a_cur;       /* after the last */
};
void md_own_pre(struct mailbox *box, struct md_own *o);
void md_own_post(struct mailbox *box, struct md_own *o, bool in_new,
		 bool in_cur);
void md_own_end(struct store_txn *t, const struct md_own *o);
int md_keywords_read(struct mailbox *box);
/* Resolves the letters to keyword ids; intern (through t) the names not
 * known yet when t != NULL, else leave them unmapped. */
int md_kwmap(struct mailbox *box, struct store_txn *t);
/* Keyword bits of letter mask (bit i = 'a'+i) and the reverse. */
uint64_t md_letters_to_kw(const struct maildir_box *mb, uint32_t letters);
uint32_t md_kw_to_letters(const struct maildir_box *mb, uint64_t kw);
/* Keyword ids that have a letter (the file is their truth). */
uint64_t md_lettered_kw(const struct maildir_box *mb);

/* Finds the message whose last known file name is name (in new/ when
 * in_new): tries both directories, then rescans them for its base, up
 * to MD_RETRIES times. *found_new and found (MAILDIR_NAME_MAX + 1) get
 * where it is now. -1 with errno ENOENT when it is gone. */
int md_locate(struct mailbox *box, const char *name, bool in_new,
	      char *found, bool *found_new);
/* Opens the message (O_NOFOLLOW, a regular file only), following a
 * rename. */
int md_open_msg(struct mailbox *box, const char *name, bool in_new,
		char *found, bool *found_new, struct stat *st);

/* The scan (maildir-sync.c). */
int md_sync(struct mailbox *box, struct store_txn *t);

/* A whole small file of the folder (cap bytes at most); *data NULL if
 * absent. */
int md_read_file(struct mailbox *box, const char *file, size_t cap,
		 char **data, size_t *len);

/* dovecot-uidlist kept up to date (maildir-uidlist.c). */
struct md_uidmap;
/* Reads dovecot-uidlist (or courierimapuiddb): NULL if none usable. */
struct md_uidmap *md_uidmap_read(struct mailbox *box);
void md_uidmap_free(struct md_uidmap **m);
uint32_t md_uidmap_uidvalidity(const struct md_uidmap *m);
uint32_t md_uidmap_nextuid(const struct md_uidmap *m);
/* The UID the map gives base (0 if none). */
uint32_t md_uidmap_get(const struct md_uidmap *m, const char *base,
		       size_t len);
/* After a sync committed: appends "uid :name" lines for the new UIDs,
 * or rewrites dovecot-uidlist from the index when it is missing, has
 * another UIDVALIDITY or is mostly lines of expunged messages (recs:
 * the records the scan loaded, for that estimate). Best effort: a
 * failure is logged. */
void md_uidlist_sync(struct mailbox *box, struct store_txn *t,
		     const struct store_rec *recs, size_t n_recs,
		     const uint32_t *uids, char *const *names, size_t n);
/* After APPEND/COPY committed: appends the lines (if the file exists;
 * the next sync creates it otherwise). */
void md_uidlist_reserve(struct mailbox *box, uint32_t need,
			uint32_t *limit);
void md_uidlist_append(struct mailbox *box, const uint32_t *uids,
		       char *const *names, size_t n);

/* Test hook: called by APPEND and COPY right after a message file was
 * renamed into cur/, before the index commit. For the tests only. */
extern void (*maildir_test_after_rename)(void);

#endif
