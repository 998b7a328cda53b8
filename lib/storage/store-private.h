/*
 * store-private: what store.c (the generic part) and the backends
 * (maildir.c, mbox.c) share. Not for the imap session (it uses store.h).
 *
 * Division of work:
 *  - store.c owns the index: mailbox records, UIDs, flags, keywords,
 *    modseqs, \Recent, the session's view and its changes, errors,
 *    the namespace rules (hierarchy, INBOX, subscriptions, special use).
 *  - A backend owns the files: it finds mailboxes on disk, creates and
 *    removes them, reads and writes messages, and tells store.c what it
 *    did or found through a struct store_txn ("change set"), which
 *    store.c records in ONE index transaction (store_txn_commit).
 *
 * A backend never calls idx_txn_run itself, except inside the optional
 * hooks below that store.c calls from within its own transactions
 * (idx_find/idx_add/idx_remove: index-only, restartable), and for its
 * own journal records (the mbox expunge journal: idx_journal_*, in short
 * transactions of their own, never inside store.c's).
 *
 * Every backend function returns 0 or -1; on -1 it has set the store's
 * error with store_set_error() / store_set_errno().
 */
#ifndef MOAT_STORE_PRIVATE_H
#define MOAT_STORE_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>

#include "core/arr.h"
#include "index/index.h"
#include "storage/store.h"

struct store_txn;

/* ---- location ---------------------------------------------------- */

/* "KIND:PATH[:KEY=VALUE]..." split by store.c. PATH is absolute and
 * cannot contain ':' (nor can values); keys are what the backend
 * accepts (mbox: INBOX); a backend refuses any other key
 * (STORE_ERR_SERVERBUG with a detail naming it: a configuration error). */
#define STORE_LOCATION_PARAMS_MAX 4

/* A UIDVALIDITY left by another server (dovecot-uidlist,
 * courierimapuiddb, X-IMAPbase) is believed only below this: one that
 * high would leave the index no greater one to hand out after a reset
 * (it raises the index-wide maximum, so every later CREATE would fail).
 * Anyone who can mail the user can write an X-IMAPbase. Foreign UIDs
 * are believed only below 2^31 (UIDLIST_UID_LIMIT, MBOX_XUID_MAX), so
 * they never use up the UID space. */
#define STORE_UIDVALIDITY_IMPORT_LIMIT 0xf0000000u
struct store_location {
	const char *path;
	size_t n_params;
	struct {
		const char *key;
		const char *value;
	} params[STORE_LOCATION_PARAMS_MAX];
};

/* ---- a backend ----------------------------------------------------- */

/* An index record as store.c hands it to a backend (store_txn_load and
 * the per-message ops): the fields a backend may need. */
struct store_rec {
	uint32_t uid;
	uint8_t flags;           /* IDX_F_* */
	uint64_t keywords;       /* keyword id bits */
	uint64_t modseq;
	int64_t internaldate;
	uint64_t size;
	uint16_t blob_len;
	const uint8_t *blob;     /* the backend's blob; valid while the
				  * array or call it came with lives */
};

/* r from an index record, its blob not yet placed: blob holds
 * blob_off, the blob's offset in the caller's arena, until the arena
 * stops moving (store-txn.c). */
struct idx_msg;
void store_rec_from_idx(struct store_rec *r, uint32_t uid,
			const struct idx_msg *m, size_t blob_off);

struct store_backend {
	const char *name;        /* "maildir", "mbox" */
	enum store_kind kind;
	/* Files store.c keeps under the root (root_fd): the subscription
	 * list in Dovecot's format ("subscriptions" for Maildir,
	 * ".subscriptions" for mbox, where a name starting with '.' is
	 * never a mailbox) and the special-use attributes. */
	const char *subscriptions_file;
	const char *special_use_file;

	/* Parses the location (path + params), opens the root
	 * (s->root_fd) and sets s->be. Called once from store_open. */
	int (*init)(struct store *s, const struct store_location *loc);
	void (*deinit)(struct store *s);
	/* store_needs_lock_helper for this kind of location (optional:
	 * absent means never). */
	bool (*needs_lock_helper)(const struct store_location *loc);

	/* Calls cb for every selectable mailbox on disk (canonical names,
	 * INBOX included), any order; entries that do not map to a valid
	 * name are skipped (logged once). cb returns 0 or -1 (stop; the
	 * walk then returns -1 with the store error as cb left it). */
	int (*list)(struct store *s,
		    int (*cb)(struct store *s, const char *name, void *ctx),
		    void *ctx);
	/* Creates the mailbox on disk; STORE_ERR_EXISTS if it is there.
	 * Parents are implicit (Maildir++) or created as needed (mbox). */
	int (*create)(struct store *s, const char *name);
	/* Removes the mailbox and its messages from disk (not INBOX; not
	 * its children, which store.c handles). */
	int (*delete)(struct store *s, const char *name);
	/* Renames one mailbox on disk (store.c calls it for the mailbox
	 * and for each child, parents first; not for INBOX, whose rename
	 * store.c does with create + copy + expunge). STORE_ERR_EXISTS if
	 * to exists. */
	int (*rename)(struct store *s, const char *from, const char *to);

	/* For a handle kept between operations (the last APPEND/COPY
	 * target): true while its files are still the mailbox of its name
	 * (not deleted, not renamed away). NULL: handles are not kept. */
	bool (*box_valid)(struct mailbox *box);

	/* Per mailbox state (struct mailbox.be): opens the mailbox's files
	 * (directory fd, ...). STORE_ERR_NONEXISTENT if it is not on disk.
	 * box_close is NULL-safe on a box whose box_open failed. */
	int (*box_open)(struct mailbox *box);
	void (*box_close)(struct mailbox *box);

	/* The UIDVALIDITY another server left (dovecot-uidlist,
	 * courierimapuiddb, X-IMAPbase) for a mailbox without an index
	 * record: store.c creates the record with it. *uidvalidity = 0 if
	 * none. May be NULL. Values from STORE_UIDVALIDITY_IMPORT_LIMIT up
	 * are ignored (store.c). */
	int (*import_uidvalidity)(struct mailbox *box, uint32_t *uidvalidity);

	/* Brings the index in line with the files: if the files are
	 * unchanged since the stamp in t's record (store_txn_rec), and
	 * !store_txn_forced(t), returns 0 without commit. Otherwise it
	 * scans, loads the index records it needs (store_txn_load),
	 * reports new messages in the UID order they must get, vanished
	 * ones, external flag changes and moved blobs, sets the new stamp,
	 * and calls store_txn_commit (while holding any file lock its scan
	 * needs). With store_txn_readonly(t) it changes no file (EXAMINE,
	 * STATUS: Maildir leaves new/ alone). */
	int (*sync)(struct mailbox *box, struct store_txn *t);

	/* For FETCH: fd (caller closes), offset and size of the message
	 * rec describes. If it was found under another name, the backend
	 * reports it (store_txn_changed) in t, which store.c commits.
	 * STORE_ERR_EXPUNGED if it is gone. want > 0: the caller reads
	 * only the first want bytes (a header), which is all the fd must
	 * hold then; *size is still the whole message's. */
	int (*msg_open)(struct mailbox *box, const struct store_rec *rec,
			struct store_txn *t, uint64_t want, int *fd,
			off_t *offset, uint64_t *size);
	/* The same, whole (want 0), but a message of at most max bytes may
	 * come in mem (the caller's, room for 2 max; *fd is then -1) where
	 * that saves a copy. head: only the first max bytes are wanted,
	 * always in mem, and *size is the whole message's if they are all
	 * of it, else possibly 0 (not known: nothing is learnt). NULL:
	 * msg_open. */
	int (*msg_read)(struct mailbox *box, const struct store_rec *rec,
			struct store_txn *t, uint64_t max, bool head, int *fd,
			off_t *offset, struct buf *mem, uint64_t *size);

	/* FETCH INTERNALDATE / RFC822.SIZE when the record may not hold
	 * them exactly (Maildir computes them lazily: a stat, a read to
	 * count CRLF); reports what it learnt with store_txn_info. NULL:
	 * the record's values are exact. */
	int (*msg_info)(struct mailbox *box, const struct store_rec *rec,
			struct store_txn *t, int64_t *internaldate,
			uint64_t *size);

	/* STORE: applies op/flags/keywords to the message's current flags
	 * (the file's, which may be newer than rec's), writes them through
	 * (Maildir: rename; mbox: nothing) and reports the result with
	 * store_txn_changed. A message that is gone: report it vanished,
	 * return 0. store.c commits. */
	int (*write_flags)(struct mailbox *box, const struct store_rec *rec,
			   enum store_flag_op op, unsigned flags,
			   uint64_t keywords, struct store_txn *t);

	/* APPEND: writes msgs[0..n-1] durably (file + directory fsync when
	 * s->set.fsync), reports each with store_txn_new in order and calls
	 * store_txn_commit; all or nothing: on failure nothing written
	 * stays. keywords[i] are the resolved keyword bits of msgs[i]. */
	int (*append)(struct mailbox *box, const struct store_new_msg *msgs,
		      const uint64_t *keywords, size_t n, struct store_txn *t);

	/* EXPUNGE of recs[0..n-1] (store.c checked \Deleted in the index
	 * and the files were synced just before): removes them from the
	 * files, reports each with store_txn_vanished (and moved blobs, for
	 * mbox), commits. */
	int (*expunge)(struct mailbox *box, const struct store_rec *recs,
		       size_t n, struct store_txn *t);

	/* COPY: puts copies of recs[0..n-1] of src into dst durably,
	 * reports each with store_txn_new (flags and keywords as given in
	 * the recs, keywords already mapped to dst's ids) in order, commits
	 * t (dst's). On failure no copy stays. */
	int (*copy)(struct mailbox *src, struct mailbox *dst,
		    const struct store_rec *recs, size_t n,
		    struct store_txn *t);

	/* The files of box to watch for changes (mailbox_watches): fills
	 * w[*n], w[*n + 1]... (below max), bumping *n. May be NULL. */
	int (*watches)(struct mailbox *box, struct store_watch *w,
		       size_t max, size_t *n);
	/* Optional index hooks, called by store.c inside its transactions
	 * (index only, restartable; return IDX_* codes):
	 * idx_find: the UID already recorded for this blob (a concurrent
	 *   sync may have adopted a file before its writer recorded it),
	 *   IDX_NOTFOUND if none; called for store_txn_new messages when
	 *   the mailbox's uidnext moved since the txn began. since: the
	 *   uidnext the change set was built against (not box->rec, which
	 *   a nested txn may have refreshed meanwhile): any UID from there
	 *   on may already be one of our "new" messages.
	 * idx_add: after a new message uid was put (Maildir: idx_name_put).
	 * idx_remove: before message rec is deleted (idx_name_delete). */
	int (*idx_find)(struct idx_txn *txn, struct mailbox *box,
			uint32_t since, const uint8_t *blob, size_t len,
			uint32_t *uid);
	int (*idx_add)(struct idx_txn *txn, struct mailbox *box, uint32_t uid,
		       const uint8_t *blob, size_t len);
	int (*idx_remove)(struct idx_txn *txn, struct mailbox *box,
			  const struct store_rec *rec);
	/* Optional, outside the transaction: before a commit that may
	 * allocate UIDs below need, make them safe from reuse by a
	 * rebuild (Maildir: dovecot-uidlist's N); *limit: the commit
	 * allocates below it, or stops and asks again. */
	void (*uid_reserve)(struct mailbox *box, uint32_t need,
			    uint32_t *limit);
};

extern const struct store_backend maildir_backend;
extern const struct store_backend mbox_backend;

/* ---- the store and a mailbox --------------------------------------- */

struct store_view_msg;

struct store {
	const struct store_backend *be;
	void *be_data;           /* backend's */
	struct store_settings set;  /* strings owned (copies) */
	char *location;          /* the location as given */
	char *root;              /* the mail root path (for logs) */
	int root_fd;             /* O_DIRECTORY of the root, or -1 */
	struct idx_env *env;
	struct store_error err;
	/* bumped when the index was rebuilt: cached ids are stale */
	uint64_t index_gen;
	/* the last commit failed because the mailbox was reset meanwhile */
	bool txn_stale;
	/* idx_stats.rebuilds when index_gen was last brought up to date */
	unsigned long seen_rebuilds;
	/* views loaded from the view map / by walking every message (for
	 * tests and logs) */
	unsigned long vmap_hits, vmap_walks;
	struct mailbox *selected;   /* the session's view, if any */
	struct mailbox *target;     /* the last APPEND/COPY target, kept */
	bool defaults_done;
};

struct store_cwin_ent {
	uint32_t uid;
	size_t off, len;
};

/* Every UID in lo..hi was looked at; those with a value are in ents
 * (UID order, bytes in arena); hi == 0: no window. */
struct store_cwin {
	ARRAY(struct store_cwin_ent) ents;
	ARRAY(uint8_t) arena;
	uint32_t lo, hi;
};

struct mailbox {
	struct store *store;
	char *name;              /* canonical UTF-8 */
	void *be;                /* backend's per-mailbox state */
	uint32_t id;             /* index mailbox id */
	uint64_t index_gen;      /* store->index_gen when id was read */
	struct idx_mbox rec;     /* as of the last sync or commit */
	bool readonly;           /* EXAMINE / STATUS / append target */
	bool selected;           /* has a view (mailbox_open) */

	/* keyword id -> name (n_keywords entries), for views and backends */
	char *keywords[IDX_KEYWORDS_MAX];
	size_t n_keywords;

	bool keywords_changed;   /* box->keywords changed since reported */

	/* the selected view (store-view.c) */
	ARRAY(struct store_msg) msgs;
	struct mailbox_view view;
	struct mailbox_changes changes;
	ARRAY(uint32_t) ch_expunged;
	ARRAY(uint32_t) ch_expunged_uids;
	ARRAY(uint32_t) ch_flags;
	ARRAY(uint32_t) cond_failed;   /* mailbox_store_flags_cond's answer */
	ARRAY(uint32_t) vanished_since; /* mailbox_expunged_since's answer */
	/* a NOOP on an unchanged mailbox looks at none of msgs: */
	bool view_expunged;      /* some msgs are marked expunged */
	bool view_recent_ok;     /* view_recent counts them */
	uint32_t view_recent;    /* msgs with recent and not expunged */
	uint64_t view_modseq;    /* the index highestmodseq msgs reflect */
	uint32_t view_uidnext;   /* ... and its uidnext */
	/* mailbox_fts_fill found nothing left to index below this
	 * uidnext (0: not known): idle ticks then cost nothing. */
	uint32_t fts_done_uidnext;
	/* UIDs whose text cannot be indexed (over IDX_FTS_TEXT_MAX,
	 * unreadable), ascending: not tried again by this process. */
	ARRAY(uint32_t) fts_skip;
	/* a window of full records (blob, date, size) for FETCH */
	ARRAY(struct store_rec) win_recs;
	ARRAY(uint8_t) win_arena;
	ARRAY(uint8_t) win_exact;   /* msg_info answered for this entry */
	/* what msg_info learnt, not committed yet */
	struct store_txn *info_t;
	size_t info_n;
	/* cache values read ahead in one cursor walk, per kind */
	struct store_cwin cwin[STORE_CACHE_KINDS];
};

/* ---- change notification (store-notify.c) ------------------------- */

/* After a commit that changed box: tells the sessions watching it. */
void store_notify_touch(struct store *s, const struct mailbox *box);

/* ---- errors -------------------------------------------------------- */

void store_set_error(struct store *s, enum store_error_code code,
		     const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Maps errno e (ENOSPC/EDQUOT -> OVERQUOTA, EACCES/EPERM -> NOPERM,
 * ENOENT -> NONEXISTENT, EEXIST -> EXISTS, ELOOP/ENOTDIR -> CANNOT
 * (a symlink or file where a directory must be), others -> SERVERBUG)
 * and logs what failed; the detail is "<what>: strerror". */
void store_set_errno(struct store *s, int e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The code store_set_errno gives errno e (EAGAIN/EBUSY -> INUSE, ...),
 * for callers with a detail of their own. */
enum store_error_code store_errno_code(int e);
/* Maps an idx_* status (IDX_NOSPACE -> OVERQUOTA, IDX_BUSY/IDX_FAILED
 * -> TEMP, IDX_LIMIT -> LIMIT, IDX_REBUILT -> TEMP after scheduling a
 * full resync, ...). */
void store_set_idx_error(struct store *s, int status, const char *what);

/* ---- the change set ------------------------------------------------ */

/* What a backend reports; store.c records it in one transaction
 * (IDX_TXN_SYNC when it allocates UIDs or removes messages). */
struct store_txn_new {
	uint8_t flags;           /* IDX_F_* */
	uint64_t keywords;       /* keyword ids (store_txn_keyword) */
	int64_t internaldate;
	uint64_t size;           /* RFC822.SIZE (CRLF counted) */
	uint32_t uid;            /* 0: allocate; else a UID another server
				  * gave (migration): must be >= uidnext at
				  * commit and increasing, else reallocated */
	const uint8_t *blob;     /* copied */
	size_t blob_len;
};

/* The mailbox record as store.c read it when the txn began (stamp,
 * uidnext, uidvalidity, counts). */
const struct idx_mbox *store_txn_rec(const struct store_txn *t);
/* True: ignore the stamp, rescan everything (rebuild, first sight). */
bool store_txn_forced(const struct store_txn *t);
/* True: the mailbox record was just created (no index history): a
 * Maildir may import dovecot-uidlist UIDs. */
bool store_txn_fresh(const struct store_txn *t);
bool store_txn_readonly(const struct store_txn *t);
/* True: nothing is recorded (STORE_TXN_DRYRUN): write no side files. */
bool store_txn_dryrun(const struct store_txn *t);

/* Loads every index record of the mailbox (UID order) into an array
 * owned by t (freed with it): *recs, *n. For a 100,000-message mailbox
 * that is a few MB, for the duration of the sync. Load BEFORE scanning
 * the files: a flag change another session makes renames the file
 * first and records it second, so a scan that follows the load sees
 * every change the loaded records show (seen_modseq then tells a scan
 * result older than a record). It also refreshes store_txn_rec. */
int store_txn_load(struct store_txn *t, const struct store_rec **recs,
		   size_t *n);
/* Keyword id for name in this mailbox, interning it (its own short
 * transaction) if new: STORE_ERR_LIMIT past 64. */
int store_txn_keyword(struct store_txn *t, const char *name, unsigned *id);

/* Reports, any number, in any mix (copied into t): */
int store_txn_new(struct store_txn *t, const struct store_txn_new *m);
/* uid's file is gone (expunged by someone, or by the backend's
 * expunge). */
int store_txn_vanished(struct store_txn *t, uint32_t uid);
/* uid's flags/keywords on disk differ from the index (external change,
 * or write_flags' result) and/or its blob changed (renamed file). If
 * seen_modseq != 0 and the record's modseq is no longer seen_modseq at
 * commit (another session changed it meanwhile), the flag part is not
 * applied (the blob is). */
int store_txn_changed(struct store_txn *t, uint32_t uid, uint8_t flags,
		      uint64_t keywords, uint64_t seen_modseq,
		      const uint8_t *blob, size_t blob_len);
/* What msg_info learnt: the exact INTERNALDATE and RFC822.SIZE, and the
 * blob that now says so; modseq kept (the message did not change). */
int store_txn_info(struct store_txn *t, uint32_t uid, int64_t internaldate,
		   uint64_t size, const uint8_t *blob, size_t blob_len);
/* How many changes t holds; and whether those after the first from are
 * all store_txn_info of uid and nothing else was reported (then true;
 * *found if there was one, with the last one's values): a message open
 * that only learnt its exact size and date can wait in the info batch. */
size_t store_txn_n_changes(const struct store_txn *t);
bool store_txn_info_only(const struct store_txn *t, size_t from, uint32_t uid,
			 bool *found, int64_t *internaldate, uint64_t *size);
/* Only the blob moved (mbox offsets after a rewrite): modseq kept. */
int store_txn_moved(struct store_txn *t, uint32_t uid, const uint8_t *blob,
		    size_t blob_len);
/* Raise uidnext to at least next (migration: UIDs another server handed
 * out and clients may remember, even for messages now gone). */
int store_txn_uidnext(struct store_txn *t, uint32_t next);
/* The stamp as it stands in t: the one set by store_txn_stamp, else
 * the record's (store_txn_rec); NULL with *len 0 if none. */
const uint8_t *store_txn_stamp_now(const struct store_txn *t, size_t *len);
bool store_txn_quick(const struct store_txn *t);
/* The new stamp to store in the mailbox record. */
int store_txn_stamp(struct store_txn *t, const void *stamp, size_t len);

/* Records everything reported so far in one transaction and empties
 * the lists (a backend may commit in several rounds, e.g. a huge first
 * sync). UIDs given to store_txn_new messages are then available with
 * store_txn_uids. */
int store_txn_commit(struct store_txn *t);
/* The UIDs assigned to the new messages, in report order. */
const uint32_t *store_txn_uids(const struct store_txn *t, size_t *n);

/* ---- store.c's side of the change set (backends do not call these,
 * except that a backend may run a sync of its own with begin/commit/free
 * before the caller's work, so that t reports only that work: the mbox
 * backend syncs that way under its write lock before APPEND, COPY and
 * EXPUNGE, since store.c takes every UID t assigns as APPENDUID) ----- */

#define STORE_TXN_FORCED   0x01u
#define STORE_TXN_FRESH    0x02u
#define STORE_TXN_READONLY 0x04u
/* Take the mailbox record from box->rec instead of reading it (for the
 * per-message operations of a selected mailbox). */
#define STORE_TXN_CACHED   0x08u
/* With READONLY: a commit records nothing and keeps what was reported,
 * for store_txn_counts (moatctl index check). */
#define STORE_TXN_DRYRUN   0x10u
/* mailbox_sync(MAILBOX_SYNC_QUICK): the backend may leave for the next
 * sync what its stamp says only its own recent change could hide. */
#define STORE_TXN_QUICK    0x20u
/* Reads the mailbox record (a short read transaction) and starts an
 * empty change set. NULL with the store error set on failure. */
struct store_txn *store_txn_begin(struct mailbox *box, unsigned flags);
void store_txn_free(struct store_txn **t);
/* Something was reported and not committed yet. */
bool store_txn_pending(const struct store_txn *t);
/* How many records were loaded, and new / changed / vanished messages
 * reported so far, committed or not (store_mailbox_check). */
void store_txn_counts(const struct store_txn *t, size_t *loaded,
		      size_t *news, size_t *changes, size_t *vanished);
/* What the commits changed, for the session's view: the index
 * highestmodseq before the first and after the last commit, and
 * whether every modseq in between was ours (no other writer). */
void store_txn_modseqs(const struct store_txn *t, uint64_t *before,
		       uint64_t *after, bool *only_ours);
/* The results of every store_txn_changed/info committed so far, for
 * updating a view after STORE: uid, flags, keywords and the modseq the
 * change got (0 if it was not applied). */
struct store_txn_result {
	uint32_t uid;
	uint8_t flags;
	uint64_t keywords;
	uint64_t modseq;
};
const struct store_txn_result *store_txn_results(const struct store_txn *t,
						 size_t *n);
/* UIDs the commits removed (vanished), in report order. */
const uint32_t *store_txn_removed(const struct store_txn *t, size_t *n);
/* CONDSTORE UNCHANGEDSINCE (RFC 7162 §3.1.3): from now on a flag change
 * is applied only if the record's modseq is still <= since when the
 * commit reads it (in the same transaction as the write); the others
 * are left alone and listed by store_txn_cond_failed. */
void store_txn_condition(struct store_txn *t, uint64_t since);
const uint32_t *store_txn_cond_failed(const struct store_txn *t, size_t *n);

/* ---- store.c internals shared by store-*.c --------------------------- */

/* A mailbox handle for one operation (or the selected view): resolves
 * the name on disk (backend box_open) and in the index (creating the
 * record at first sight, with an imported UIDVALIDITY), and syncs it
 * when it is new to the index (so migrated UIDs are in before anything
 * else happens). */
int store_box_get(struct store *s, const char *name, bool readonly,
		  struct mailbox **out);
void store_box_free(struct mailbox **box);
/* Notices an index rebuilt in this process (bumps index_gen), and
 * then whether box still holds a current mailbox id: -1 with
 * STORE_ERR_TEMP if not (mailbox_sync finds the mailbox again). */
void store_gen_refresh(struct store *s);
int store_box_current(struct mailbox *box);
/* Runs the backend's sync (cheap when unchanged); flags STORE_TXN_*. */
int store_box_sync(struct mailbox *box, unsigned flags);
/* Reloads box->keywords from the index. */
int store_box_load_keywords(struct mailbox *box);
/* Commits what mailbox_msg_info learnt (before other changes). */
/* The backend's msg_read where it has one and mem is given, else its
 * msg_open (mailbox_msg_open_prefix/read/read_head, the full-text fill). */
int store_be_serve(struct mailbox *box, const struct store_rec *rec,
		   struct store_txn *t, uint64_t want, uint64_t max, bool head,
		   int *fd, off_t *offset, struct buf *mem, uint64_t *size);
void store_box_info_flush(struct mailbox *box);
/* Keyword id of name in box (case-insensitive), interning it. */
int store_box_keyword(struct mailbox *box, const char *name, unsigned *id);
/* NULL-terminated names (NULL = none) to a bitmap, interning. */
int store_box_keyword_mask(struct mailbox *box, const char *const *names,
			   uint64_t *mask);
/* Copies recs[0..n-1] of src into dst (keywords mapped by name), on
 * disk and in the index; dst_uids[0..n-1] receive the new UIDs. */
int store_copy_recs(struct mailbox *src, struct mailbox *dst,
		    const struct store_rec *recs, size_t n,
		    uint32_t *dst_uids);
/* Removes recs[0..n-1] from box (files, index, the view if selected). */
int store_expunge_recs(struct mailbox *box, const struct store_rec *recs,
		       size_t n);
/* store_box_get for an APPEND/COPY target: STORE_ERR_TRYCREATE when it
 * does not exist. Give it back with store_box_put_target (it may be
 * kept for the next one). */
int store_box_get_target(struct store *s, const char *name,
			 struct mailbox **out);
void store_box_put_target(struct store *s, struct mailbox **box);
/* Commits what a msg_open (or msg_info) of t reported, if anything,
 * logging a failure, and drops the FETCH window it made stale. */
void store_box_commit_quietly(struct mailbox *box, struct store_txn *t);

/* ---- the full-text index (store-fts.c) ------------------------------ */

/* At store_open: the text stored was normalized by this
 * MAIL_TEXTNORM_VERSION, else every mailbox's full-text records are
 * dropped (they are rebuilt lazily). Failures are logged only. */
void store_fts_open(struct store *s);
/* After APPEND or COPY committed uids[0..n-1] into box: indexes their
 * text (a bounded number; the rest stay for SEARCH and idle time). A
 * failure is logged and leaves them unindexed, never wrong. */
void store_fts_index_new(struct mailbox *box, const uint32_t *uids,
			 size_t n);
/* Forgets the kept target (namespace changes). */
void store_box_drop_target(struct store *s);

/* ---- the view map (store-vmap.c) -------------------------------------- */

/* It keeps its records in the index's journal space under the keys
 * "V" be32(id) [be32(chunk)] and "L" be32(id); other journal users
 * (the mbox expunge journal: "mbox-expunge:...") keep away from them. */

/* A message as a view shows it (del: it is gone). seq orders several
 * changes of one UID in one commit. */
struct store_vmap_change {
	uint32_t uid;
	uint32_t seq;
	bool del;
	uint8_t flags;
	uint64_t keywords, modseq;
};
/* Inside a commit: brings mailbox id's map from `before` to `after`
 * (the mailbox record around the commit) with the changes ch[0..n-1]
 * (sorted in place). A map that was already stale stays stale. */
int store_vmap_apply(struct idx_txn *txn, uint32_t id,
		     const struct idx_mbox *before, const struct idx_mbox *after,
		     struct store_vmap_change *ch, size_t n);
/* Calls cb for each message in UID order from the map, if the map
 * matches rec; IDX_NOTFOUND when there is none or it is stale (the
 * caller walks the messages; cb may have been called: start over). */
int store_vmap_load(struct idx_txn *txn, uint32_t id, const struct idx_mbox *rec,
		    int (*cb)(uint32_t uid, uint8_t flags, uint64_t keywords,
			      uint64_t modseq, void *ctx),
		    void *ctx);
/* Writes a whole new map from msgs[0..n-1] (UID order) for rec. */
int store_vmap_build(struct idx_txn *txn, uint32_t id, const struct idx_mbox *rec,
		     const struct store_vmap_change *msgs, size_t n);
/* Removes mailbox id's map (before the mailbox record goes). */
int store_vmap_drop(struct idx_txn *txn, uint32_t id);

/* ---- helpers for backends ------------------------------------------ */

/* qsort(3) and qsort_r(3) that take an empty (maybe NULL) array. */
static inline void
store_qsort(void *base, size_t n, size_t size,
	    int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

static inline void
store_qsort_r(void *base, size_t n, size_t size,
	      int (*cmp)(const void *, const void *, void *), void *ctx)
{
	if (n > 1)
		qsort_r(base, n, size, cmp, ctx);
}

struct store *store_of(const struct mailbox *box);
/* New flags after op (IDX_F_* bits). */
unsigned store_flags_apply(enum store_flag_op op, unsigned old,
			   unsigned flags);
uint64_t store_keywords_apply(enum store_flag_op op, uint64_t old,
			      uint64_t kw);
/* Keyword name of id in box, or NULL. */
const char *store_keyword_name(const struct mailbox *box, unsigned id);

/* Opens the directory rel (a relative path of one or more components,
 * no "..") under dirfd, one component at a time with
 * O_DIRECTORY|O_NOFOLLOW, so no symlink below the root is followed.
 * Returns the fd or -1 with errno (ELOOP for a symlink). */
int store_openat_dir(int dirfd, const char *rel);
/* fsync of a directory fd, honouring s->set.fsync. */
int store_fsync(const struct store *s, int fd);

#endif
