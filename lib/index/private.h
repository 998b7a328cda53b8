/*
 * index internals shared by the lib/index sources; nothing outside lib/index
 * includes this (it pulls in <db.h>).
 */
#ifndef MOAT_INDEX_PRIVATE_H
#define MOAT_INDEX_PRIVATE_H

#include <db.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "index/index.h"

/* Schema of the databases below; another value means rebuild. */
#define IDX_SCHEMA_VERSION 1u

enum idx_db {
	IDX_DB_MAILBOXES,
	IDX_DB_MSGS,
	IDX_DB_NAMES,
	IDX_DB_KEYWORDS,
	IDX_DB_CACHE,
	IDX_DB_FTS_TEXT,	/* fts.c; created when missing (see env.c) */
	IDX_DB_FTS_POST,
	IDX_DB_FTS_STATE,
	IDX_DB_META,	/* last: its existence marks a complete index */
	IDX_DB_COUNT
};
extern const char *const idx_db_files[IDX_DB_COUNT];

/* meta keys: one type byte, then the rest. */
#define IDX_META_SCHEMA	'V'	/* -> u32 schema version */
#define IDX_META_NEXTID	'N'	/* -> u32 next mailbox id */
#define IDX_META_LASTUV	'U'	/* -> u32 greatest UIDVALIDITY handed out */
#define IDX_META_TOMB	'T'	/* + name -> u32 UIDVALIDITY last used */
#define IDX_META_IDNAME	'I'	/* + be32 id -> name */
#define IDX_META_JOURNAL 'J'	/* + key -> blob */
#define IDX_META_LOGEND	'L'	/* -> be32 file, be32 offset: a log
				   position known to exist (see env.c) */
#define IDX_META_XUID	'X'	/* + be32 id, be64 modseq, be32 uid -> u8 1:
				   an expunged UID (expunged.c) */
#define IDX_META_XSUM	'x'	/* + be32 id -> u8 1, u32 count, u64 floor */

/* keywords keys: be32 id + type byte + ... */
#define IDX_KW_BYNAME	'n'	/* + folded name -> u8 kw + name */
#define IDX_KW_BYID	'i'	/* + u8 kw -> name */

/* Longest key of any database (a mailbox name, or meta's T + name). */
#define IDX_KEY_MAX (IDX_NAME_MAX + 8)

/* Internal failure kinds recorded in idx_txn.fail (negative: never a
 * public status). */
#define IDX_I_BUSY	(-1)
#define IDX_I_PANIC	(-2)

struct idx_env {
	char *dir;
	struct idx_env_opts opts;
	DB_ENV *dbenv;
	DB *db[IDX_DB_COUNT];
	int lock_fd;		/* dir/lock, flock()ed shared while open */
	int log_fd;		/* a log file, for IDX_TXN_SYNC; or -1 */
	uint32_t log_fd_file;	/* its number */
	pid_t pid;		/* the opener; a forked child must not use it */
	bool open;		/* dbenv and db[] are usable */
	bool panicked;		/* DB_EVENT_PANIC / REG_PANIC seen */
	bool in_txn;
	bool released;		/* closed by idx_env_release, not a failure */
	dev_t meta_dev;		/* the meta database last attached: a */
	ino_t meta_ino;		/* rebuild elsewhere changes it */
	bool force_recover;	/* escaped from a stuck call: recover at the
				   next open unless someone else did */
	dev_t reg_dev;		/* __db.001 as this process opened it */
	ino_t reg_ino;
	int open_lock_fd;	/* dir/open.lock while DB_ENV->open runs */
	struct sigaction open_sigs[2];	/* SIGSEGV, SIGBUS saved around the open */
	bool open_sigs_set;	/* open_fault's handlers are installed */
	DB_ENV *opening;	/* the handle inside DB_ENV->open */
	char *opening_marker;	/* its dir/opening.<pid> path meanwhile */
	struct timespec last_tick, last_ckp;
	uint64_t logend_saved;	/* last IDX_META_LOGEND written */
	struct idx_stats stats;
};

/* The mailbox record a write transaction works on, loaded once (with a
 * write lock) and written back before commit, so that a batch of
 * message changes costs one mailbox update. */
struct idx_slot {
	bool valid, dirty, modseq_set;
	uint32_t id;
	uint64_t modseq;	/* this transaction's modseq, once set */
	struct idx_mbox rec;
	char name[IDX_NAME_MAX + 1];
};

struct idx_txn {
	struct idx_env *env;
	DB_TXN *t;
	unsigned flags;
	int fail;		/* first failure that dooms the attempt */
	struct idx_slot slot;
	unsigned fts_keys;	/* full-text posting keys written in this
				   attempt (fts.c bounds it: lock table) */
};

/* env.c */
void idx_watchdog_arm(const struct idx_env *env);
void idx_watchdog_disarm(void);
/* While set, a SIGALRM that finds the process blocked on a Berkeley DB
 * mutex for IDX_STALL_SECS siglongjmp()s to jb (once); NULL clears it. */
void idx_watchdog_escape(sigjmp_buf *jb);
#define IDX_STALL_SECS 2
/* After such an escape: drops the handles without touching the regions
 * again (their memory is lost until exit) and makes the next open
 * recover, unless another process has already recreated the regions. */
void idx_env_abandon(struct idx_env *env);
/* DB_ENV->failchk serialized across processes by open.lock (skipped,
 * returning 0, while another process holds it); IDX_FAILCHK_STALE
 * instead of running it when a process died inside an open or a
 * failchk (recovery is needed: detach, and the reopen forces it). */
#define IDX_FAILCHK_STALE (-1)	/* no Berkeley DB code or errno */
int idx_env_failchk(struct idx_env *env);
/* Closes all handles and releases the flock. failed: the environment
 * is broken; mark it panicked for all and skip the flushing closes. */
void idx_env_detach(struct idx_env *env, bool failed);
/* Opens handles again after idx_env_detach: *rebuilt when the index
 * had to be recreated. */
int idx_env_attach(struct idx_env *env, bool *rebuilt);
double idx_now(void);
void idx_sleep_ms(double ms);

/* txn.c: maps a Berkeley DB return value to a status, and records in
 * txn (may be NULL) the failures that doom the attempt. */
int idx_dberr(struct idx_txn *txn, int ret, const char *what);
int idx_require_write(struct idx_txn *txn);

/* db.c: raw access. Values longer than cap give IDX_LIMIT with *len set
 * to the real length. flags: DB_RMW for get, DB_NOOVERWRITE for put. */
int idx_get(struct idx_txn *txn, enum idx_db which, const void *key,
	    size_t klen, void *buf, size_t cap, size_t *len, uint32_t flags);
int idx_put(struct idx_txn *txn, enum idx_db which, const void *key,
	    size_t klen, const void *val, size_t vlen, uint32_t flags);
/* IDX_NOTFOUND if absent. */
int idx_del(struct idx_txn *txn, enum idx_db which, const void *key,
	    size_t klen);
/* Walks keys >= start that begin with start's first plen bytes, in
 * order. The cursor is closed while fn runs, so fn may change the
 * database. Nonzero from fn stops the walk and is returned. */
typedef int idx_walk_fn(const uint8_t *key, size_t klen, const uint8_t *val,
			size_t vlen, void *ctx);
int idx_walk(struct idx_txn *txn, enum idx_db which, const void *start,
	     size_t slen, size_t plen, idx_walk_fn *fn, void *ctx);
/* Deletes every key that starts with prefix. */
int idx_del_prefix(struct idx_txn *txn, enum idx_db which,
		   const void *prefix, size_t plen);
int idx_get_u32(struct idx_txn *txn, enum idx_db which, const void *key,
		size_t klen, uint32_t *v, uint32_t flags);
int idx_put_u32(struct idx_txn *txn, enum idx_db which, const void *key,
		size_t klen, uint32_t v);

/* record.c: big-endian helpers. */
void idx_be32_put(uint8_t *p, uint32_t v);
uint32_t idx_be32_get(const uint8_t *p);
void idx_be64_put(uint8_t *p, uint64_t v);
uint64_t idx_be64_get(const uint8_t *p);
/* be32(id) | be32(uid) */
void idx_msg_key(uint8_t key[8], uint32_t id, uint32_t uid);

/* fts.c: forgets all full-text records of mailbox id (they become
 * garbage, removed in bounded steps by later writes). */
int idx_fts_drop(struct idx_txn *txn, uint32_t id);

/* mailbox.c */
int idx_slot_load(struct idx_txn *txn, uint32_t id);
int idx_slot_flush(struct idx_txn *txn);
/* This transaction's modseq for the loaded mailbox (bumps
 * highestmodseq on first use). */
uint64_t idx_slot_modseq(struct idx_txn *txn);

/* expunged.c: tombstones of expunged UIDs. _start records that the
 * mailbox's history is complete above floor (creation, reset: the
 * modseq they start from); _clear
 * drops all of them (delete, reset); _add records one expunge with its
 * modseq (modseq_before: highestmodseq before this transaction, the
 * floor for a mailbox that had no records yet). */
int idx_expunged_start(struct idx_txn *txn, uint32_t id, uint64_t floor);
int idx_expunged_clear(struct idx_txn *txn, uint32_t id);
int idx_expunged_add(struct idx_txn *txn, uint32_t id, uint32_t uid,
		     uint64_t modseq, uint64_t modseq_before);
/* A walk callback's private "stop here" (negative: never a status). */
#define IDX_I_XSTOP (-11)

#endif
