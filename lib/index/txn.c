/*
 * index transactions: idx_txn_run, the one wrapper every call site
 * uses, and the mapping of Berkeley DB errors to idx statuses.
 *
 * Why lock requests never wait: a session killed while holding a write
 * lock leaves every waiter asleep inside Berkeley DB with no deadline
 * (lock timeouts are only checked when someone runs the detector), and
 * a blocked process cannot run it. So transactions begin with
 * DB_TXN_NOWAIT: a conflict returns at once, the attempt is aborted and
 * retried after a random, growing back-off, and while conflicts persist
 * the wrapper runs failchk, which aborts the transactions of dead
 * processes and frees their locks (is_alive in env.c). A failure of the
 * environment itself (DB_RUNRECOVERY, a panic event) closes every handle
 * and reopens with recovery, once per call. What remains is a peer that
 * died holding a Berkeley DB mutex (not a lock): that wait cannot be
 * interrupted, and the watchdog ends the process (env.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/rand.h"
#include "index/private.h"

/* Back-off between attempts: from 0.5 ms, doubling, to 32 ms, each
 * multiplied by a random factor in [0.5, 1.5) so that colliding
 * sessions drift apart. */
#define BACKOFF_FIRST_MS 0.5
#define BACKOFF_MAX_MS 32.0
/* failchk after this many conflicts in a row, then at most this often. */
#define FAILCHK_AFTER 3
#define FAILCHK_EVERY_MS 100.0
/* Reopens in one call at most (and within the busy budget). */
#define REOPENS_MAX 12

const char *
idx_strerror(int status)
{
	switch (status) {
	case IDX_OK: return "ok";
	case IDX_NOTFOUND: return "not found";
	case IDX_EXISTS: return "already exists";
	case IDX_LIMIT: return "index limit reached";
	case IDX_CORRUPT: return "corrupt index record";
	case IDX_INVAL: return "invalid index request";
	case IDX_RETRY: return "index transaction must be retried";
	case IDX_BUSY: return "index busy";
	case IDX_REBUILT: return "index was rebuilt";
	case IDX_NOSPACE: return "no space for the index";
	case IDX_FAILED: return "index failure";
	default: return status >= IDX_USER ? "caller status" : "unknown";
	}
}

static void
txn_fail(struct idx_txn *txn, int kind)
{
	if (txn == NULL)
		return;
	if (txn->fail == 0 || kind == IDX_I_PANIC)
		txn->fail = kind;
}

int
idx_dberr(struct idx_txn *txn, int ret, const char *what)
{
	switch (ret) {
	case 0:
		return IDX_OK;
	case DB_NOTFOUND:
	case DB_KEYEMPTY:
		return IDX_NOTFOUND;
	case DB_KEYEXIST:
		return IDX_EXISTS;
	case DB_BUFFER_SMALL:
		return IDX_LIMIT;
	case DB_LOCK_DEADLOCK:
	case DB_LOCK_NOTGRANTED:
		txn_fail(txn, IDX_I_BUSY);
		return IDX_RETRY;
	case DB_RUNRECOVERY:
		log_warn("index: %s: %s", what, db_strerror(ret));
		txn_fail(txn, IDX_I_PANIC);
		return IDX_RETRY;
	case ENOSPC:
	case EDQUOT:
		log_error("index: %s: %s", what, db_strerror(ret));
		txn_fail(txn, IDX_NOSPACE);
		return IDX_NOSPACE;
	default:
		log_error("index: %s: %s", what, db_strerror(ret));
		txn_fail(txn, IDX_FAILED);
		return IDX_FAILED;
	}
}

int
idx_require_write(struct idx_txn *txn)
{
	if (txn->fail != 0)
		return IDX_RETRY;
	if (txn->flags & IDX_TXN_READ)
		return IDX_INVAL;
	return IDX_OK;
}

static int
log_file_now(struct idx_env *env, uint32_t *file)
{
	DB_LOG_STAT *ls = NULL;
	int r;

	if ((r = env->dbenv->log_stat(env->dbenv, &ls, 0)) != 0)
		return r;
	*file = ls->st_cur_file;
	free(ls);
	return 0;
}

static int
fsync_path(const char *path, bool dir)
{
	int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
	int r;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	r = dir ? fsync(fd) : fdatasync(fd);
	close(fd);
	return r;
}

/* Makes the log durable up to this process's last commit: fdatasync of
 * log files first..now (the commit record is in one of them; a removed
 * one was checkpointed, so its records are in the databases) and of the
 * directory when a new file appeared. This replaces DB_TXN_SYNC because
 * Berkeley DB fsyncs while holding its log flush mutex: a session killed
 * during that fsync (the slow part, so the likeliest moment) left every
 * other session of the user blocked on the mutex for good. */
static int
log_sync(struct idx_env *env, uint32_t first)
{
	uint32_t now, f;
	char path[64 + 4096];
	int r;

	if ((r = log_file_now(env, &now)) != 0)
		return idx_dberr(NULL, r, "log_stat");
	for (f = first; f <= now && f >= first; f++) {
		if (f == now && env->log_fd >= 0 && env->log_fd_file == f) {
			struct stat st;

			if (fdatasync(env->log_fd) < 0 ||
			    fstat(env->log_fd, &st) < 0)
				goto fail;
			/* Someone removed the log under us: the records are
			 * in a file that no longer exists. */
			if (st.st_nlink == 0) {
				errno = ENOENT;
				goto fail;
			}
			continue;
		}
		snprintf(path, sizeof(path), "%s/log.%010u", env->dir, f);
		if (f == now) {
			/* Keep the current file open: most commits land in
			 * the same one. */
			if (env->log_fd >= 0)
				close(env->log_fd);
			env->log_fd = open(path, O_RDWR | O_CLOEXEC);
			env->log_fd_file = f;
			if (env->log_fd < 0 || fdatasync(env->log_fd) < 0)
				goto fail;
		} else if (fsync_path(path, false) < 0) {
			goto fail;
		}
	}
	if (now != first && fsync_path(env->dir, true) < 0)
		goto fail;
	return IDX_OK;
fail:
	r = errno;
	log_error("index %s: syncing the log: %s", env->dir, strerror(r));
	if (r == ENOENT) {
		/* The environment is damaged: reopen (and rebuild) at the
		 * next call. */
		idx_env_detach(env, true);
	}
	return r == ENOSPC || r == EDQUOT ? IDX_NOSPACE : IDX_FAILED;
}

/* One attempt: IDX_I_BUSY, IDX_I_PANIC, or the final status. */
static int
attempt(struct idx_env *env, unsigned flags, idx_txn_fn *fn, void *ctx)
{
	struct idx_txn txn;
	u_int32_t bflags = DB_TXN_NOWAIT;
	uint32_t first = 0;
	int rc, r;

	memset(&txn, 0, sizeof(txn));
	txn.env = env;
	txn.flags = flags;
	if (flags & IDX_TXN_READ)
		bflags |= DB_READ_COMMITTED;
	r = env->dbenv->txn_begin(env->dbenv, NULL, &txn.t, bflags);
	if (r != 0) {
		(void)idx_dberr(&txn, r, "txn_begin");
		return txn.fail;
	}
	rc = fn(&txn, ctx);
	if (rc == IDX_OK && txn.fail == 0 && !(flags & IDX_TXN_READ))
		rc = idx_slot_flush(&txn);
	if (env->panicked)
		txn_fail(&txn, IDX_I_PANIC);
	if (rc == IDX_OK && txn.fail == 0 && (flags & IDX_TXN_SYNC) &&
	    (r = log_file_now(env, &first)) != 0)
		(void)idx_dberr(&txn, r, "log_stat");
	if (rc == IDX_OK && txn.fail == 0) {
		/* Written to the OS, not flushed; log_sync flushes. */
		r = txn.t->commit(txn.t, DB_TXN_WRITE_NOSYNC);
		/* The handle is gone either way. */
		txn.t = NULL;
		if (r != 0)
			(void)idx_dberr(&txn, r, "commit");
		if (env->panicked)
			txn_fail(&txn, IDX_I_PANIC);
		if (txn.fail != 0)
			return txn.fail;
		if ((flags & IDX_TXN_SYNC) &&
		    (rc = log_sync(env, first)) != IDX_OK)
			return rc;
		env->stats.txns++;
		return IDX_OK;
	}
	r = txn.t->abort(txn.t);
	if (r == DB_RUNRECOVERY || env->panicked)
		txn_fail(&txn, IDX_I_PANIC);
	if (txn.fail != 0)
		return txn.fail;
	/* A callback may ask for a retry itself. */
	return rc == IDX_RETRY ? IDX_I_BUSY : rc;
}

struct busy {
	double first, last_failchk, delay;
	unsigned streak;
};

/* After a conflict: false when the budget is spent; otherwise sleeps,
 * maybe runs failchk, and returns true. */
static bool
busy_wait(struct idx_env *env, struct busy *b)
{
	double now = idx_now(), ms;

	env->stats.retries++;
	if (b->streak++ == 0) {
		b->first = now;
		b->delay = BACKOFF_FIRST_MS;
	}
	if ((now - b->first) * 1000.0 >= env->opts.busy_ms)
		return false;
	if (b->streak >= FAILCHK_AFTER && env->open &&
	    (now - b->last_failchk) * 1000.0 >= FAILCHK_EVERY_MS) {
		int r;

		b->last_failchk = now;
		r = idx_env_failchk(env);
		if (r != 0) {
			/* A dead process held a mutex or the environment
			 * is panicked: only recovery helps. */
			log_warn("index: failchk: %s", r == IDX_FAILCHK_STALE ?
				 "a process died inside Berkeley DB; "
				 "recovering" : db_strerror(r));
			idx_env_detach(env, true);
			return true;
		}
	}
	ms = b->delay * (0.5 + (double)rand_u32() / 4294967296.0);
	idx_sleep_ms(ms);
	b->delay *= 2;
	if (b->delay > BACKOFF_MAX_MS)
		b->delay = BACKOFF_MAX_MS;
	return true;
}

static int
run_loop(struct idx_env *env, unsigned flags, idx_txn_fn *fn, void *ctx)
{
	struct busy b;
	unsigned reopens = 0;
	double first_reopen = 0;
	int rc;

	memset(&b, 0, sizeof(b));
	for (;;) {
		if (!env->open && env->released) {
			bool rebuilt = false;

			/* Released while the session waited: not a
			 * failure, so the one reopen stays available. */
			env->released = false;
			env->stats.reattaches++;
			rc = idx_env_attach(env, &rebuilt);
			if (rc != IDX_OK)
				break;
			if (rebuilt) {
				rc = IDX_REBUILT;
				break;
			}
		}
		if (!env->open) {
			bool rebuilt = false;

			/* A kill storm can panic the regions again right
			 * after our reopen (another process recovering, or
			 * finding a dead holder): reopen again, with
			 * back-off, within the busy budget. Failing every
			 * time for that long is not a transient. */
			if (reopens == 0) {
				first_reopen = idx_now();
			} else if (reopens >= REOPENS_MAX ||
				   (idx_now() - first_reopen) * 1000.0 >=
				   env->opts.busy_ms) {
				log_error("index %s: failed again after %u "
					  "reopens", env->dir, reopens);
				rc = IDX_FAILED;
				break;
			} else {
				idx_sleep_ms((double)(5u << (reopens < 4 ?
							     reopens : 4)) *
					     (0.5 + (double)rand_u32() /
					      4294967296.0));
			}
			reopens++;
			env->stats.reopens++;
			rc = idx_env_attach(env, &rebuilt);
			if (rc != IDX_OK)
				break;
			if (rebuilt) {
				rc = IDX_REBUILT;
				break;
			}
		}
		rc = attempt(env, flags, fn, ctx);
		if (rc == IDX_I_BUSY) {
			if (busy_wait(env, &b))
				continue;
			log_warn("index %s: still busy after %u ms",
				 env->dir, env->opts.busy_ms);
			rc = IDX_BUSY;
			break;
		}
		if (rc == IDX_I_PANIC) {
			log_warn("index %s: environment failed; reopening",
				 env->dir);
			idx_env_detach(env, true);
			continue;
		}
		break;
	}
	return rc;
}

/* run_loop, leaving a Berkeley DB mutex wait whose holder died through
 * the watchdog's escape (env.c): the environment is abandoned and the
 * call runs once more in a recovered one, callbacks being restartable.
 * A second stall in the same call is left to the watchdog. */
static int
run_escaping(struct idx_env *env, unsigned flags, idx_txn_fn *fn, void *ctx)
{
	sigjmp_buf jb;
	int rc;

	if (sigsetjmp(jb, 1) != 0) {
		log_warn("index %s: stalled on a Berkeley DB mutex for %d s; "
			 "reopening with recovery", env->dir, IDX_STALL_SECS);
		idx_env_abandon(env);
		idx_watchdog_arm(env);
		return run_loop(env, flags, fn, ctx);
	}
	idx_watchdog_escape(&jb);
	rc = run_loop(env, flags, fn, ctx);
	idx_watchdog_escape(NULL);
	return rc;
}

int
idx_txn_run(struct idx_env *env, unsigned flags, idx_txn_fn *fn, void *ctx)
{
	int rc;

	if (env->in_txn)
		log_panic("idx_txn_run: nested transaction");
	if (env->pid != getpid())
		log_panic("idx_txn_run: index opened by another process");
	env->in_txn = true;
	idx_watchdog_arm(env);
	rc = run_escaping(env, flags, fn, ctx);
	idx_watchdog_disarm();
	env->in_txn = false;
	return rc;
}
