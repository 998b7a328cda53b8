/*
 * index: the per-user Berkeley DB 5.3 index (prefix idx_). The only
 * module that includes <db.h>; storage backends and commands see this
 * header only.
 *
 * One transactional environment per user, in a directory the caller
 * names, shared by that user's concurrent sessions (separate processes,
 * same uid). It holds derived state: if it is missing or damaged it is
 * moved aside and recreated empty (idx_env_open reports it), and the
 * storage layer rebuilds it from the mail files. doc/design.md "Index
 * layout" describes the files, the record layouts and the crash cases.
 *
 * Rules for callers:
 *  - One idx_env per process (DB_REGISTER allows no more). Never fork()
 *    while it is open: the child would share its locks and registry slot.
 *  - Every read or write happens inside idx_txn_run(), through the
 *    functions below that take a struct idx_txn. A transaction is short:
 *    never hold one across client I/O, a file-lock wait, a file copy or
 *    an fsync of mail data. Do the slow work first, then record it.
 *  - The callback of idx_txn_run may run several times (lock conflicts,
 *    a reopen after a crashed peer). It must be restartable: reset its
 *    own context at entry, and have no side effects outside the index
 *    (no client output, no file changes) before it returns.
 *  - Every function returns an enum idx_status value (0 = IDX_OK). When a
 *    function inside a callback returns IDX_RETRY, return it from the
 *    callback at once; the wrapper aborts and runs it again. The wrapper
 *    remembers the failure, so even a callback that ignores it cannot
 *    commit a doomed transaction.
 *  - Strings (mailbox names, keywords, Maildir base names) are
 *    NUL-terminated byte strings; the index does not interpret UTF-8.
 *  - Pointers to records passed to callbacks are valid only during the
 *    call.
 *
 * SIGALRM belongs to the index in a process that opens it: each index
 * call arms alarm() as a watchdog and disarms it on return (see
 * idx_env_opts.watchdog_secs).
 */
#ifndef MOAT_INDEX_H
#define MOAT_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum idx_status {
	IDX_OK = 0,
	IDX_NOTFOUND,	/* no such record */
	IDX_EXISTS,	/* the name is taken */
	IDX_LIMIT,	/* a size or count limit: 64 keywords per mailbox,
			   UID or mailbox-id space exhausted, oversized blob
			   (the command layer answers NO [LIMIT]) */
	IDX_CORRUPT,	/* a stored record failed validation (logged) */
	IDX_INVAL,	/* bad argument, or a write in a read-only txn */
	IDX_RETRY,	/* abort this attempt: lock conflict or failed
			   environment; return it from the callback */
	IDX_BUSY,	/* lock conflicts did not clear within busy_ms */
	IDX_REBUILT,	/* the environment failed and, when reopened, was
			   found damaged and recreated empty: drop every
			   cached mailbox id and UID, resync from the files */
	IDX_NOSPACE,	/* ENOSPC or EDQUOT on the index files */
	IDX_FAILED,	/* environment failure a reopen did not fix, bad
			   directory, I/O error; the detail is logged */
	IDX_USER = 100	/* callbacks may return their own codes >= this;
			   they abort the transaction and are passed back */
};

/* A short English text for a status, for logs. */
const char *idx_strerror(int status);

/* ---- environment --------------------------------------------------- */

struct idx_env;

/* Exit status of a process whose index call outlived the watchdog
 * (EX_TEMPFAIL: the client may reconnect). */
#define IDX_WATCHDOG_EXIT 75

struct idx_env_opts {
	/* mpool cache in kB, used when the environment is created;
	 * 0 = 256. Every session maps it, so it is kept small. */
	unsigned cache_kb;
	/* A single idx_* call (open, one idx_txn_run with all its retries,
	 * tick, checkpoint, close) that takes longer than this makes the
	 * process write a log line and _exit(IDX_WATCHDOG_EXIT): a Berkeley
	 * DB call blocked on a mutex of a killed peer never returns, and
	 * the next opener recovers. 0 = 15. */
	unsigned watchdog_secs;
	/* How long idx_txn_run retries lock conflicts before IDX_BUSY,
	 * in ms; 0 = 5000. Must stay below the watchdog. */
	unsigned busy_ms;
	/* Expunged-UID tombstones kept per mailbox (QRESYNC);
	 * 0 = IDX_EXPUNGED_MAX. Tests make it small. */
	unsigned expunged_max;
};

/* Opens the index in dir, creating dir (0700, one level) and the
 * environment if needed. dir must be owned by the caller's uid and on a
 * local file system (NFS, SMB/CIFS, AFS, Coda and 9p are refused: Berkeley
 * DB's shared regions need coherent mmap and mutexes). Files are 0600.
 * opts may be NULL for the defaults.
 *
 * A damaged index (failed recovery, LSN past the end of the log, a file
 * that is not a database, a missing database or log file, another schema
 * version) is moved aside as <file>.broken-<unix time> (one generation
 * kept), logged, and recreated empty; *rebuilt (if not NULL) is then
 * true. Creation and rebuild take an exclusive flock on dir/lock that
 * every open session holds shared, so a rebuild never pulls files from
 * under a live session; if others hold it, the open fails (IDX_BUSY).
 *
 * Opens are serialized per index (dir/open.lock); one that finds that
 * an earlier open died inside Berkeley DB forces full recovery.
 *
 * Returns IDX_OK with *envp set, or IDX_INVAL (bad directory, network
 * file system), IDX_BUSY (a rebuild is needed but other sessions have
 * the index open; or another session is stuck in its open), IDX_NOSPACE,
 * IDX_FAILED; errors are logged. */
int idx_env_open(const char *dir, const struct idx_env_opts *opts,
		 struct idx_env **envp, bool *rebuilt);

/* Checkpoints when enough log was written, closes all handles and the
 * environment, releases the lock and frees *envp (NULL-safe; sets *envp
 * to NULL). Call it on every exit path (logout, EOF, SIGTERM, SIGHUP); an
 * atexit() handler closes a forgotten environment too. */
void idx_env_close(struct idx_env **envp);

/* Call from the event loop about once a second (calls in between are
 * cheap no-ops). Expires timed-out lock requests (lock_detect with
 * DB_LOCK_EXPIRE), notices a panicked environment (a peer's recovery)
 * and then closes it so the flock is released and the next call reopens,
 * and takes a checkpoint after write bursts. */
void idx_env_tick(struct idx_env *env);

/* Closes the Berkeley DB environment of a session that waits (IDLE)
 * and keeps env: the next transaction attaches it again, as after a
 * failure but without counting one. Its regions (cache, lock and log
 * buffers, ~180 kB touched) are most of an idle session's memory, and
 * each user has their own; attaching again costs a few milliseconds.
 * A no-op inside a transaction or when already closed; true if it
 * closed the environment now. */
bool idx_env_release(struct idx_env *env);

/* Checkpoint if at least 256 kB of log was written or 5 minutes passed
 * since the last one (otherwise a no-op); old log files are then
 * removed automatically. Call after a burst of writes. */
int idx_env_checkpoint(struct idx_env *env);

/* Moves the whole index aside and recreates it empty, as the open does
 * for damage, e.g. after IDX_CORRUPT records or an IDX_FAILED that a
 * reopen did not fix. Needs every other session to have closed it
 * (IDX_BUSY otherwise). */
int idx_env_reset(struct idx_env *env);

/* Counters for tests and logs. */
struct idx_stats {
	unsigned long txns;	/* idx_txn_run calls that committed */
	unsigned long retries;	/* attempts aborted for lock conflicts */
	unsigned long failchks;	/* failchk runs during conflicts */
	unsigned long reopens;	/* environment reopened after a failure */
	unsigned long releases;	/* closed by idx_env_release */
	unsigned long reattaches; /* opened again after a release */
	unsigned long rebuilds;	/* index recreated empty */
	unsigned long recoveries; /* full recoveries forced at open (after
				     an open that died, or a restart) */
	unsigned long escapes;	/* calls that left a Berkeley DB mutex wait
				   whose holder had died (env.c) */
};
void idx_env_stats(const struct idx_env *env, struct idx_stats *out);

/* ---- transactions -------------------------------------------------- */

struct idx_txn;

/* Read only: degree-2 isolation (read locks are released as cursors
 * move), so a long scan never holds more than the page it is on and does
 * not stall writers. Writes in such a transaction return IDX_INVAL. */
#define IDX_TXN_READ	0x01u
/* Commit durably: the log is fdatasync()ed before idx_txn_run returns
 * (by the index itself, outside Berkeley DB's mutexes). Use it for UID
 * and UIDVALIDITY allocation, APPEND/COPY/MOVE results and journals,
 * which must be on disk before a client hears of them. Without it
 * commits are written to the OS (they survive a kill -9 of any process)
 * but not flushed (the latest may be lost on power loss). */
#define IDX_TXN_SYNC	0x02u

/* Returns IDX_OK to commit, anything else to abort. */
typedef int idx_txn_fn(struct idx_txn *txn, void *ctx);

/* Runs fn(txn, ctx) in a transaction and commits it if fn returns
 * IDX_OK. Lock waits never block: a conflict aborts the attempt, which
 * is retried after a random, growing back-off; while conflicts persist
 * the wrapper runs failchk, which aborts the transactions of killed
 * peers. If the environment fails (DB_RUNRECOVERY, a panic event, a
 * peer's recovery), all handles are closed, the environment is reopened
 * (with recovery) and fn runs once more; a second failure is IDX_FAILED
 * (the next call tries to reopen again).
 *
 * Returns IDX_OK, fn's own status, IDX_BUSY, IDX_REBUILT, IDX_NOSPACE or
 * IDX_FAILED. If the commit itself fails the transaction may or may not
 * be on disk; fn must therefore be idempotent or derive everything from
 * what it reads (as idx_uid_alloc does). Nested calls are a bug (panic). */
int idx_txn_run(struct idx_env *env, unsigned flags, idx_txn_fn *fn,
		void *ctx);

/* ---- records: explicit, versioned layouts -------------------------- */

/* Longest mailbox name in bytes (without the NUL). */
#define IDX_NAME_MAX 1024
/* Largest backend "sync stamp" (dev/ino/size/mtime_ns of files). */
#define IDX_STAMP_MAX 128

/* A mailbox. id, uidvalidity, uidnext, highestmodseq and the counters
 * are owned by the index and kept consistent with the messages by
 * idx_msg_put/idx_msg_delete; the storage layer sets recent_uid and
 * stamp through idx_mbox_update. */
struct idx_mbox {
	uint32_t id;		/* never reused in this index */
	uint32_t uidvalidity;	/* > 0 */
	uint32_t uidnext;	/* >= 1; every stored UID is below it */
	uint32_t recent_uid;	/* messages with uid >= this are \Recent
				   for the next session that claims them */
	uint64_t highestmodseq;
	uint32_t messages;
	uint32_t unseen;	/* without \Seen */
	uint32_t deleted;	/* with \Deleted */
	uint64_t size;		/* sum of rfc822 sizes */
	uint16_t stamp_len;
	uint8_t stamp[IDX_STAMP_MAX];
};

/* Value layout v1: u8 version(1) | u8 0 | u32 id | u32 uidvalidity |
 * u32 uidnext | u32 recent_uid | u64 highestmodseq | u32 messages |
 * u32 unseen | u32 deleted | u64 size | u16 stamp_len | stamp.
 * All integers big-endian. */
#define IDX_MBOX_FIXED 48
#define IDX_MBOX_REC_MAX (IDX_MBOX_FIXED + IDX_STAMP_MAX)
/* Returns the encoded length (<= cap), or 0 if the record is invalid
 * (stamp_len too big) or cap too small. */
size_t idx_mbox_encode(const struct idx_mbox *m, uint8_t *out, size_t cap);
/* IDX_OK, or IDX_CORRUPT for a wrong version, a length that does not
 * match exactly, or values that break the invariants (uidvalidity 0,
 * uidnext 0, unseen or deleted > messages). Never reads past len. */
int idx_mbox_decode(const void *data, size_t len, struct idx_mbox *m);

/* System flags. \Recent is not stored per message: see recent_uid. */
#define IDX_F_SEEN	0x01u
#define IDX_F_ANSWERED	0x02u
#define IDX_F_FLAGGED	0x04u
#define IDX_F_DELETED	0x08u
#define IDX_F_DRAFT	0x10u
#define IDX_F_ALL	0x1fu

/* Largest backend blob of a message: Maildir keeps the base file name
 * (<= NAME_MAX), mbox offset, length and a 16-byte fingerprint. */
#define IDX_BLOB_MAX 255

struct idx_msg {
	uint64_t modseq;	/* assigned by idx_msg_put */
	uint64_t keywords;	/* bit n = keyword id n (idx_kw_*) */
	int64_t internaldate;	/* seconds since the epoch */
	int64_t savedate;	/* seconds since the epoch */
	uint64_t size;		/* RFC822.SIZE */
	uint8_t flags;		/* IDX_F_* */
	uint16_t blob_len;
	uint8_t blob[IDX_BLOB_MAX];
};

/* Value layout v1: u8 version(1) | u8 flags | u64 modseq | u64 keywords |
 * i64 internaldate | i64 savedate | u64 size | u16 blob_len | blob. */
#define IDX_MSG_FIXED 44
#define IDX_MSG_REC_MAX (IDX_MSG_FIXED + IDX_BLOB_MAX)
size_t idx_msg_encode(const struct idx_msg *m, uint8_t *out, size_t cap);
/* IDX_CORRUPT for a wrong version, unknown flag bits, or a length that
 * does not match exactly. */
int idx_msg_decode(const void *data, size_t len, struct idx_msg *m);

/* ---- mailboxes ------------------------------------------------------ */

/* Creates name with a new id. uidvalidity 0 means allocate one: the
 * current time, forced above every UIDVALIDITY this index handed out and
 * above the tombstone of a deleted or renamed-away mailbox of that name.
 * A non-zero uidvalidity (migration from another server) is used if it
 * is above the tombstone; otherwise one is allocated. uidnext starts at
 * 1, recent_uid at 1. IDX_EXISTS if name is taken; IDX_LIMIT when the
 * mailbox ids are exhausted. out may be NULL. */
int idx_mbox_create(struct idx_txn *txn, const char *name,
		    uint32_t uidvalidity, struct idx_mbox *out);
int idx_mbox_get(struct idx_txn *txn, const char *name, struct idx_mbox *out);
/* name (may be NULL) receives the current name, NUL-terminated; namecap
 * must be > IDX_NAME_MAX to be sure it fits (IDX_LIMIT otherwise). */
int idx_mbox_get_by_id(struct idx_txn *txn, uint32_t id, char *name,
		       size_t namecap, struct idx_mbox *out);
/* Stores the fields the storage layer owns, recent_uid and the stamp,
 * from rec into mailbox id; every other field of rec is ignored. */
int idx_mbox_update(struct idx_txn *txn, uint32_t id,
		    const struct idx_mbox *rec);
/* Deletes the mailbox and all its messages, names, keywords and cache
 * records (one transaction: keep very large mailboxes in mind), and
 * records a tombstone so that a new mailbox of that name gets a greater
 * UIDVALIDITY. */
int idx_mbox_delete(struct idx_txn *txn, const char *name);
/* Renames one mailbox (children are the caller's business). It keeps
 * its id, UIDs and messages; its UIDVALIDITY changes only if a mailbox
 * once called `to` had the same or a greater one. The old name gets a
 * tombstone. IDX_NOTFOUND, IDX_EXISTS. */
int idx_mbox_rename(struct idx_txn *txn, const char *from, const char *to);
/* Forgets every message of the mailbox (msgs, names, cache) and gives
 * it a new UIDVALIDITY (as idx_mbox_create allocates) with uidnext 1:
 * for a store whose UIDs cannot be matched any more. Keywords stay. */
int idx_mbox_reset(struct idx_txn *txn, uint32_t id);
/* Callback: nonzero stops the walk and is returned. */
typedef int idx_mbox_cb(const char *name, const struct idx_mbox *m,
			void *ctx);
/* Walks mailboxes in byte order of their names, only those starting with
 * prefix (NULL or "" = all). */
int idx_mbox_list(struct idx_txn *txn, const char *prefix, idx_mbox_cb *cb,
		  void *ctx);

/* Allocates n >= 1 consecutive UIDs in mailbox id: *first receives the
 * first, uidnext grows by n. Commit with IDX_TXN_SYNC before any client
 * hears of them. IDX_LIMIT if the UID space would overflow (the storage
 * layer then resets the mailbox). */
int idx_uid_alloc(struct idx_txn *txn, uint32_t id, uint32_t n,
		  uint32_t *first);
/* Raises uidnext to at least uidnext (importing another server's UIDs);
 * never lowers it. */
int idx_uid_raise(struct idx_txn *txn, uint32_t id, uint32_t uidnext);
/* Claims \Recent: *first_recent receives recent_uid and recent_uid
 * becomes uidnext, so messages in [*first_recent, uidnext) are \Recent
 * for this session only (RFC 3501 §2.3.2). For SELECT, not EXAMINE. */
int idx_mbox_claim_recent(struct idx_txn *txn, uint32_t id,
			  uint32_t *first_recent);

/* ---- messages ------------------------------------------------------- */

/* Keep rec->modseq as given instead of assigning a new one: for changes
 * clients cannot see (an mbox offset after compaction). */
#define IDX_MSG_KEEP_MODSEQ 0x01u

int idx_msg_get(struct idx_txn *txn, uint32_t id, uint32_t uid,
		struct idx_msg *out);
/* Inserts or replaces message uid (1 <= uid < uidnext: allocate first).
 * Unless IDX_MSG_KEEP_MODSEQ, rec->modseq is set to the transaction's
 * modseq for this mailbox: highestmodseq + 1, the same for every change
 * in one transaction. The mailbox counters follow. */
int idx_msg_put(struct idx_txn *txn, uint32_t id, uint32_t uid,
		struct idx_msg *rec, unsigned flags);
/* Deletes message uid and its cache record (expunge); raises
 * highestmodseq. Its Maildir name is the caller's (idx_name_delete). */
int idx_msg_delete(struct idx_txn *txn, uint32_t id, uint32_t uid);
/* Callback: nonzero stops the walk and is returned. It may put or
 * delete the message it is given. */
typedef int idx_msg_cb(uint32_t uid, const struct idx_msg *m, void *ctx);
/* Calls cb for each message with lo <= uid <= hi in UID order (a cursor
 * walk from DB_SET_RANGE). */
int idx_msg_foreach(struct idx_txn *txn, uint32_t id, uint32_t lo,
		    uint32_t hi, idx_msg_cb *cb, void *ctx);
/* Deletes every message, name and cache record of mailbox id and zeroes
 * its counters (uidnext, UIDVALIDITY and keywords stay). */
int idx_msg_delete_all(struct idx_txn *txn, uint32_t id);

/* Maildir base names (without ":2,..."), <= IDX_BLOB_MAX bytes, mapped
 * to UIDs. Keep them in the same transaction as the messages. */
int idx_name_get(struct idx_txn *txn, uint32_t id, const char *base,
		 uint32_t *uid);
int idx_name_put(struct idx_txn *txn, uint32_t id, const char *base,
		 uint32_t uid);
int idx_name_delete(struct idx_txn *txn, uint32_t id, const char *base);

/* ---- keywords ------------------------------------------------------- */

/* At most 64 keywords per mailbox (ids 0..63, bits of idx_msg.keywords);
 * ids are never reused while the mailbox exists. Names are matched
 * ASCII-case-insensitively and keep the spelling first stored. */
#define IDX_KEYWORDS_MAX 64
#define IDX_KEYWORD_LEN_MAX 128

int idx_kw_lookup(struct idx_txn *txn, uint32_t id, const char *name,
		  unsigned *kw);
/* Looks name up, adding it if new. IDX_LIMIT when all 64 are taken. */
int idx_kw_intern(struct idx_txn *txn, uint32_t id, const char *name,
		  unsigned *kw);
/* buf receives the name; cap > IDX_KEYWORD_LEN_MAX always suffices. */
int idx_kw_name(struct idx_txn *txn, uint32_t id, unsigned kw, char *buf,
		size_t cap);
typedef int idx_kw_cb(unsigned kw, const char *name, void *ctx);
/* In id order; nonzero from cb stops and is returned. */
int idx_kw_list(struct idx_txn *txn, uint32_t id, idx_kw_cb *cb, void *ctx);

/* ---- expunged UIDs (QRESYNC) ---------------------------------------- */

/* Every expunge (idx_msg_delete) leaves a tombstone (uid, modseq) so
 * that QRESYNC (RFC 7162 §3.2.5.2) can tell a reconnecting client what
 * vanished since its modseq. At most IDX_EXPUNGED_MAX (or
 * idx_env_opts.expunged_max) per mailbox are kept; past that the oldest
 * are dropped (down to 90%) and the mailbox's floor rises to the modseq
 * of the last one dropped. DELETE and reset drop them all. */
#define IDX_EXPUNGED_MAX 20000u
/* uid, and the modseq of its expunge; nonzero stops the walk. */
typedef int idx_expunged_cb(uint32_t uid, uint64_t modseq, void *ctx);
/* Calls cb, in modseq order, for each remembered expunge of mailbox id
 * with a modseq > since (none for since UINT64_MAX). *floor receives
 * the mailbox's floor: every expunge with a modseq above it is
 * remembered, so the answer is complete only if since >= *floor. */
int idx_expunged_since(struct idx_txn *txn, uint32_t id, uint64_t since,
		       idx_expunged_cb *cb, void *ctx, uint64_t *floor);

/* ---- journal and cache ---------------------------------------------- */

/* Small named records for crash-safe multi-step operations (the mbox
 * expunge journal): key 1..IDX_JOURNAL_KEY_MAX bytes, value up to
 * IDX_JOURNAL_MAX bytes. Write with IDX_TXN_SYNC. */
#define IDX_JOURNAL_KEY_MAX 64
#define IDX_JOURNAL_MAX (1024 * 1024)
int idx_journal_put(struct idx_txn *txn, const void *key, size_t klen,
		    const void *data, size_t len);
/* *len receives the value's length; IDX_LIMIT if it exceeds cap. */
int idx_journal_get(struct idx_txn *txn, const void *key, size_t klen,
		    void *buf, size_t cap, size_t *len);
int idx_journal_delete(struct idx_txn *txn, const void *key, size_t klen);
typedef int idx_journal_cb(const void *key, size_t klen, const void *data,
			   size_t len, void *ctx);
int idx_journal_list(struct idx_txn *txn, idx_journal_cb *cb, void *ctx);
/* The records whose key starts with prefix[0..plen-1], in key order, in
 * bulk reads; nonzero from cb stops and is returned. */
int idx_journal_walk(struct idx_txn *txn, const void *prefix, size_t plen,
		     idx_journal_cb *cb, void *ctx);

/* Parsed-field cache: values opaque to the index (the message-structure
 * code defines them), one of each kind per message. Kinds are separate
 * key ranges, so a walk over one reads no page of the other:
 * IDX_CACHE_STRUCT is keyed like messages (be32 id, be32 uid: the layout
 * of every index made before kinds), the others by ff ff ff ff, the
 * kind (01 to 05), be32 id, be32 uid (mailbox id UINT32_MAX is never
 * handed out). */
#define IDX_CACHE_MAX (64 * 1024)
enum idx_cache_kind {
	IDX_CACHE_STRUCT,	/* FETCH's tree and header fields */
	IDX_CACHE_SORT,		/* SORT/THREAD's compared keys */
	IDX_CACHE_ENVELOPE,	/* FETCH ENVELOPE's text */
	IDX_CACHE_BODYSTRUCTURE, /* FETCH BODYSTRUCTURE's text */
	IDX_CACHE_SEARCH,	/* SEARCH's normalized header fields */
	IDX_CACHE_DATE,		/* SORT (DATE)'s sent date */
	IDX_CACHE_KINDS
};
int idx_cache_put(struct idx_txn *txn, enum idx_cache_kind kind, uint32_t id,
		  uint32_t uid, const void *data, size_t len);
int idx_cache_get(struct idx_txn *txn, enum idx_cache_kind kind, uint32_t id,
		  uint32_t uid, void *buf, size_t cap, size_t *len);
int idx_cache_delete(struct idx_txn *txn, enum idx_cache_kind kind,
		     uint32_t id, uint32_t uid);
/* Deletes every cache record of mailbox id, of each kind. */
int idx_cache_delete_all(struct idx_txn *txn, uint32_t id);
/* Calls cb for each cache record of kind with lo <= uid <= hi, in UID
 * order, in bulk cursor reads (one read-ahead instead of a point read
 * per message); nonzero from cb stops the walk and is returned. */
typedef int idx_cache_cb(uint32_t uid, const void *data, size_t len,
			 void *ctx);
int idx_cache_foreach(struct idx_txn *txn, enum idx_cache_kind kind,
		      uint32_t id, uint32_t lo, uint32_t hi, idx_cache_cb *cb,
		      void *ctx);

/* ---- full-text ------------------------------------------------------ */

/* An exact n-gram index over the normalized text of each message, with
 * a token layer (runs of ASCII letters, digits and bytes >= 0x80, up to
 * 32 bytes, and a trigram dictionary of them) that answers a needle
 * inside one token from postings alone (lib/index/fts.c, doc/design.md
 * "Full-text index").
 *
 * Input contract: the text of one message is already normalized
 * (decoded, charset-converted, i;unicode-casemap) UTF-8, given as
 * segments (the headers, each text part) separated by one NUL byte; a
 * segment never contains NUL, so no match spans two segments. The index
 * treats the text as bytes: a needle matches a message iff it is a
 * substring (memmem) of one of its segments.
 *
 * Coverage: idx_fts_unindexed names the messages that have no text here
 * (never added, over IDX_FTS_TEXT_MAX, or dropped as corrupt); the
 * caller scans those itself, so an answer is never missing a message.
 *
 * Heap of a search: two UID arrays of at most 4 bytes per indexed (and
 * tombstoned) message of the mailbox plus the result, and one text
 * buffer of at most IDX_FTS_TEXT_MAX plus its compressed record; a
 * needle of 4 or more bytes with letters or digits adds the dictionary
 * tokens it matches (<= 65,536 of 33 bytes: 2.2 MB) and two more UID
 * arrays. Heap of a write: a segment step holds up to 8 bytes per
 * distinct gram of each of its messages (<= 512 kB of text: <= 12 MB),
 * a 2 MB bitmap, its tokens (<= 1 byte + 16 per token occurrence:
 * <= 9 bytes per byte of text) and its token pairs (<= 16 bytes + the
 * pair's 2 + up to 72 bytes per adjacent pair: <= 15 bytes per byte of
 * text, with their 8-byte sort entries). A phrase search adds the
 * dictionary tokens of one end (< 16 of 33 bytes). */

/* Largest normalized text of one message (bytes); larger: IDX_LIMIT. */
#define IDX_FTS_TEXT_MAX (1024u * 1024)
/* New text goes to a tail that searches scan; once it holds this many
 * messages, writes move them into a posting segment, a bounded number
 * of keys per transaction. */
#define IDX_FTS_TAIL_MAX 64
/* A message with more distinct 1-3 byte grams than this (binary-like
 * text) is kept out of the postings and always scanned. */
#define IDX_FTS_GRAMS_MAX 65536

/* Stores the text of message uid (which must have an idx_msg record:
 * IDX_NOTFOUND otherwise), queues it in the tail, and does a bounded
 * share of the segment writing and garbage removal. IDX_EXISTS if uid
 * already has text, or was deleted after it was posted (UIDs are never
 * reused). IDX_LIMIT if len > IDX_FTS_TEXT_MAX. */
int idx_fts_add(struct idx_txn *txn, uint32_t id, uint32_t uid,
		const void *text, size_t len);
/* Moves the tail into segments, however short it is, and removes
 * garbage, within this transaction's budget; *more is set if tail is
 * left (call again in a new transaction). For idle time or the end of a
 * batch. */
int idx_fts_flush(struct idx_txn *txn, uint32_t id, bool *more);
/* Forgets message uid's text (no-op if none). idx_msg_delete,
 * idx_msg_delete_all, idx_mbox_delete and idx_mbox_reset call this
 * themselves. */
int idx_fts_delete(struct idx_txn *txn, uint32_t id, uint32_t uid);

struct idx_fts_result {
	uint32_t *uids;		/* ascending */
	size_t count, cap;
};
void idx_fts_result_free(struct idx_fts_result *res);
/* res receives (replacing its contents) the UIDs of the indexed
 * messages whose text contains needle[0..len-1] exactly. A needle with
 * a NUL matches nothing; len 0 is IDX_INVAL (every message matches).
 * IDX_CORRUPT if a record fails validation. */
int idx_fts_search(struct idx_txn *txn, uint32_t id, const void *needle,
		   size_t len, struct idx_fts_result *res);

typedef int idx_fts_uid_cb(uint32_t uid, void *ctx);
/* Calls cb, in UID order, for every message of mailbox id that has no
 * text in the index (nonzero from cb stops and is returned). Free when
 * every message is indexed. */
int idx_fts_unindexed(struct idx_txn *txn, uint32_t id, idx_fts_uid_cb *cb,
		      void *ctx);

/* For tests: posting keys one transaction writes at most (0: the
 * default, 16384), so that segments span several transactions. */
void idx_fts_set_txn_keys(unsigned n);
/* For tests and benchmarks: whether mailboxes that get full-text
 * records from now on (a new generation) also post token pairs, which
 * answer phrases of two pieces exactly (default off: as built they
 * cost about 5x the postings and 2x the indexing CPU; doc/design.md
 * "Full-text index"). A generation keeps what it started with. */
void idx_fts_set_pairs(bool on);
/* For tests and benchmarks: the texts this process's searches read (to
 * check candidates or scan the tail) since the last call. */
unsigned long idx_fts_texts_read(void);

struct idx_fts_info {
	uint32_t docs;		/* messages with text */
	uint32_t tail;		/* of which in the tail */
	uint32_t scan;		/* of which always scanned */
	uint32_t tombs;		/* deleted UIDs still in postings */
	uint32_t segments;	/* segments written */
	uint32_t job;		/* tail messages of a segment being written */
	uint32_t longs;		/* with a run of word bytes over the token
				   cap: found by grams and checking */
};
int idx_fts_info(struct idx_txn *txn, uint32_t id, struct idx_fts_info *out);

/* Record codecs (exposed for tests and fuzzing). A posting value is a
 * varint count then the ascending UIDs as varint deltas (first from 0,
 * every delta >= 1). encode returns the length, 0 if uids is empty, not
 * strictly ascending, contains 0, or cap < 5 + 5 n. decode: IDX_CORRUPT
 * unless the value is exactly such a list of at most cap UIDs. */
size_t idx_fts_postings_encode(const uint32_t *uids, size_t n, uint8_t *out,
			       size_t cap);
int idx_fts_postings_decode(const void *data, size_t len, uint32_t *out,
			    size_t cap, size_t *n);
/* A text value: u8 layout 1 | u8 method (0 raw, 1 zlib) | be32 length |
 * payload. IDX_CORRUPT unless it decodes to exactly that length (<=
 * IDX_FTS_TEXT_MAX); IDX_LIMIT if the length exceeds cap. */
int idx_fts_text_decode(const void *data, size_t len, uint8_t *out,
			size_t cap, size_t *textlen);
/* A dictionary key: be32 gen | ff ff ff ff | trigram[3] | token, the
 * token 4..32 word bytes (ASCII letters, digits, bytes >= 0x80) that
 * contain the trigram. IDX_OK with the token copied to tok (room for
 * 32 bytes) and its length, else IDX_CORRUPT. */
int idx_fts_dict_key_decode(const void *key, size_t klen, uint8_t *tok,
			    size_t *toklen);
/* A token-pair posting key: be32 gen | be32 block (of 64 UIDs, below
 * 2^26) | 04 | u8 alen | token a | u8 seplen | separator | token b: two
 * adjacent tokens of a segment (1..32 word bytes each) and the whole run
 * of 1..8 other bytes (never NUL) between them. IDX_OK with the parts, else IDX_CORRUPT. */
struct idx_fts_pair {
	uint32_t block;
	uint8_t a[32], sep[8], b[32];
	size_t alen, seplen, blen;
};
int idx_fts_pair_key_decode(const void *key, size_t klen,
			    struct idx_fts_pair *out);

/* ---- full-text: dropping a mailbox's text (fts-wire) ---------------- */

/* Forgets every full-text record of mailbox id at once (they become
 * garbage that later writes remove; every message is unindexed again
 * and may be added anew). For a change of the text normalization's
 * version (lib/storage/store-fts.c). */
int idx_fts_drop(struct idx_txn *txn, uint32_t id);

#endif
