/*
 * index environment: opening, closing, recovering and rebuilding the
 * per-user Berkeley DB environment. Callers: the storage layer in each
 * session process (through index.h). Inputs: a directory path from the
 * configuration, and files that only the user's own sessions write;
 * damage is expected (kill -9, disk full, hand edits) and leads to the
 * rebuild path, never to a crash.
 *
 * The facts this follows are measured in doc/design.md "Index layout":
 * DB_REGISTER|DB_FAILCHK|DB_RECOVER with set_isalive and
 * set_thread_count cleans up after a killed idle session in place; a
 * session killed inside a transaction is cleaned up by failchk (run by
 * the next opener, or by a peer whose lock request conflicts, txn.c); a
 * failed environment is closed and reopened with recovery.
 *
 * dir/lock is flock()ed shared by every session that has the
 * environment open and exclusively by a process that creates or
 * rebuilds it, so files are never moved from under a live session;
 * dir/open.lock is held exclusively around each DB_ENV->open, so two
 * recoveries never run at once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <ucontext.h>
#include <unistd.h>

#include "core/log.h"
#include "core/rand.h"
#include "core/str.h"
#include "index/private.h"

const char *const idx_db_files[IDX_DB_COUNT] = {
	[IDX_DB_MAILBOXES] = "mailboxes.db",
	[IDX_DB_MSGS] = "msgs.db",
	[IDX_DB_NAMES] = "names.db",
	[IDX_DB_KEYWORDS] = "keywords.db",
	[IDX_DB_CACHE] = "cache.db",
	[IDX_DB_FTS_TEXT] = "fts-text.db",
	[IDX_DB_FTS_POST] = "fts-post.db",
	[IDX_DB_FTS_STATE] = "fts-state.db",
	[IDX_DB_META] = "meta.db",
};

#define IDX_ENV_FLAGS (DB_CREATE | DB_INIT_MPOOL | DB_INIT_LOCK | \
		       DB_INIT_LOG | DB_INIT_TXN | DB_REGISTER | DB_FAILCHK | \
		       DB_RECOVER)

/* Sizing (see DB_CONFIG below; every session maps the regions). */
#define IDX_THREADS 8		/* thread table hint; it grows */
#define IDX_LOG_FILE_MAX (1024 * 1024)
#define IDX_LOG_BUF (32 * 1024)
#define IDX_LOCK_BUCKETS 256
#define IDX_LOCK_TIMEOUT_US 5000000u
#define IDX_TXN_TIMEOUT_US 10000000u
#define IDX_CKP_KB 256
#define IDX_CKP_MIN 5

#define IDX_DEFAULT_CACHE_KB 256
#define IDX_DEFAULT_WATCHDOG 15
#define IDX_DEFAULT_BUSY_MS 5000
/* How long a creator or rebuilder waits for the exclusive lock. Idle
 * sessions of a failed environment drop their shared lock at their next
 * tick, so this covers a few ticks. */
#define IDX_EXCL_WAIT_MS 3000.0
#define IDX_DIR_ENTRIES_MAX 4096

/* open_existing: the files are damaged, rebuild. */
#define IDX_I_DAMAGED (-3)

static struct idx_env *open_env;	/* for the atexit handler */

double
idx_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
idx_sleep_ms(double ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ms / 1000.0);
	ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1000.0) * 1e6);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- watchdog -------------------------------------------------------- */

/* SIGALRM comes every IDX_STALL_SECS while an index call runs. If the
 * call is then blocked in a futex wait (a Berkeley DB mutex: the process
 * is single-threaded, so nothing else of ours waits on one) and an
 * escape is armed, the handler jumps out of the library to the caller
 * (idx_watchdog_escape), which abandons the environment and reopens it
 * with recovery. A mutex whose holder was killed never wakes its
 * waiters in Berkeley DB 5.3 (its failchk only frees mutexes for the
 * one thread running failchk), so without this they would wait for the
 * watchdog, which still ends any call that runs past watchdog_secs. */
static sigjmp_buf *volatile escape_to;
static volatile sig_atomic_t watchdog_left;
static volatile sig_atomic_t stalled;	/* a stall period passed */

static bool
in_futex_wait(const void *uctx)
{
#if defined(__x86_64__) && defined(REG_RIP)
	const ucontext_t *uc = uctx;
	const unsigned char *ip;

	/* Interrupted with SA_RESTART, the kernel set RAX back to the
	 * syscall number and RIP back to the syscall instruction. */
	if (uc->uc_mcontext.gregs[REG_RAX] != SYS_futex)
		return false;
	ip = (const unsigned char *)uc->uc_mcontext.gregs[REG_RIP];
	return ip[0] == 0x0f && ip[1] == 0x05;
#else
	(void)uctx;
	return false;
#endif
}

static void
watchdog_fire(int sig, siginfo_t *si, void *uctx)
{
	static const char msg[] = "<E>index: a Berkeley DB call did not "
		"return before the watchdog; exiting\n";
	sigjmp_buf *jb = escape_to;

	(void)sig;
	(void)si;
	if (jb != NULL && in_futex_wait(uctx)) {
		escape_to = NULL;
		siglongjmp(*jb, 1);
	}
	/* Or spinning: 5.3 spins on a mutex whose holder it cannot see
	 * (is_alive is called in the loop: bdb_isalive takes the escape). */
	stalled = 1;
	if (watchdog_left > IDX_STALL_SECS) {
		watchdog_left -= IDX_STALL_SECS;
		alarm(IDX_STALL_SECS);
		return;
	}
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(IDX_WATCHDOG_EXIT);
}

void
idx_watchdog_arm(const struct idx_env *env)
{
	static bool installed;
	unsigned secs = env->opts.watchdog_secs;

	if (!installed) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = watchdog_fire;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGALRM, &sa, NULL) < 0)
			log_fatal("index: sigaction(SIGALRM): %m");
		installed = true;
	}
	watchdog_left = (sig_atomic_t)secs;
	stalled = 0;
	alarm(secs > IDX_STALL_SECS ? IDX_STALL_SECS : secs);
}

void
idx_watchdog_escape(sigjmp_buf *jb)
{
	escape_to = jb;
}

/* Called by Berkeley DB from its mutex loops (a plain call, not a signal
 * handler, so leaving through it is safe for libc): a call stalled for
 * IDX_STALL_SECS that asks about a holder is stuck behind it. */
static void
escape_if_stalled(void)
{
	sigjmp_buf *jb = escape_to;

	if (stalled && jb != NULL) {
		escape_to = NULL;
		stalled = 0;
		siglongjmp(*jb, 1);
	}
}

/* A fault inside DB_ENV->open: its failchk walks lock tables that a
 * process killed in the middle of them left inconsistent (seen under
 * the crash test's kill storms: SEGV in __lock_detect and
 * __lock_promote). The regions are what is broken, not this process,
 * so with an escape armed the open leaves as from a stall and the next
 * one recovers into new regions. Installed only around DB_ENV->open, so
 * that a fault anywhere else still crashes (and ASan still reports). */
static volatile sig_atomic_t open_faulted;

static void
open_fault(int sig)
{
	sigjmp_buf *jb = escape_to;

	if (jb != NULL) {
		escape_to = NULL;
		open_faulted = 1;
		siglongjmp(*jb, 1);
	}
	signal(sig, SIG_DFL);	/* returning re-faults, now fatally */
}

static void
open_fault_catch(struct idx_env *env)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = open_fault;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGSEGV, &sa, &env->open_sigs[0]);
	(void)sigaction(SIGBUS, &sa, &env->open_sigs[1]);
	env->open_sigs_set = true;
}

/* After the open, or after an escape out of it. */
static void
open_fault_release(struct idx_env *env)
{
	if (!env->open_sigs_set)
		return;
	(void)sigaction(SIGSEGV, &env->open_sigs[0], NULL);
	(void)sigaction(SIGBUS, &env->open_sigs[1], NULL);
	env->open_sigs_set = false;
}

void
idx_watchdog_disarm(void)
{
	escape_to = NULL;
	alarm(0);
}

/* ---- Berkeley DB callbacks ------------------------------------------- */

static void
bdb_errcall(const DB_ENV *e, const char *pfx, const char *msg)
{
	(void)e;
	(void)pfx;
	log_warn("index: %s", msg);
}

static void
bdb_msgcall(const DB_ENV *e, const char *msg)
{
	(void)e;
	log_info("index: %s", msg);
}

static void
bdb_event(DB_ENV *e, u_int32_t event, void *info)
{
	struct idx_env *env = e->app_private;

	switch (event) {
	case DB_EVENT_PANIC:
	case DB_EVENT_REG_PANIC:
		/* Another process recovered the environment, or ours is
		 * broken: every handle is dead; the wrapper reopens. */
		if (env != NULL)
			env->panicked = true;
		break;
	case DB_EVENT_REG_ALIVE:
		log_info("index: recovering while process %ld has it open",
			 (long)*(pid_t *)info);
		break;
	case DB_EVENT_WRITE_FAILED:
		log_error("index: a write to the index failed");
		break;
	default:
		break;
	}
}

/* For failchk: is the process that holds a lock or a mutex still one of
 * ours? Sessions are single-threaded, so the thread id does not matter.
 * Alive means: kill(pid, 0) succeeds, so a process exists that we may
 * signal -- one of our uid (EPERM: someone else's, so our process is
 * gone and its pid reused) -- and it is not a zombie (a zombie answers
 * kill() too; /proc/PID/stat is readable for every process).
 * /proc/PID/exe or the owner of /proc/PID cannot be used: a session is
 * non-dumpable (it changed uid, and sets it explicitly), which makes
 * those root's and unreadable to its peers, so every live peer would
 * look dead and failchk would free its locks under it. A pid reused by
 * another process of the same user keeps a dead session's locks until
 * that process exits; the lock timeout and the watchdog cover that. */
static bool
pid_alive(pid_t pid)
{
	char path[64], buf[256], *p;
	ssize_t n;
	int fd;

	if (pid <= 0 || kill(pid, 0) < 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;	/* no /proc: kill() is all we have */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	/* "pid (comm) S ...": comm may hold ')' and spaces, so the state is
	 * after the last ')'. */
	p = strrchr(buf, ')');
	return p == NULL || p[1] != ' ' || (p[2] != 'Z' && p[2] != 'X');
}

static int
bdb_isalive(DB_ENV *e, pid_t pid, db_threadid_t tid, u_int32_t flags)
{
	(void)e;
	(void)tid;
	(void)flags;
	escape_if_stalled();
	return pid == getpid() || pid_alive(pid);
}

/* ---- directory, lock, DB_CONFIG --------------------------------------- */

/* Remote file systems: Berkeley DB's regions need coherent shared mmap
 * and working mutexes across processes, which none of them give. */
static const struct {
	unsigned long magic;
	const char *name;
} remote_fs[] = {
	{ 0x6969, "NFS" },
	{ 0x517B, "SMB" },
	{ 0xFE534D42, "SMB2" },
	{ 0xFF534D42, "CIFS" },
	{ 0x5346414F, "AFS" },
	{ 0x73757245, "Coda" },
	{ 0x01021997, "9p" },
};

static int
prepare_dir(const char *dir)
{
	struct stat st;
	struct statfs sf;
	size_t i;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_error("index: mkdir %s: %m", dir);
		return errno == ENOSPC || errno == EDQUOT ? IDX_NOSPACE :
		       IDX_INVAL;
	}
	if (stat(dir, &st) < 0) {
		log_error("index: stat %s: %m", dir);
		return IDX_INVAL;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_error("index: %s is not a directory", dir);
		return IDX_INVAL;
	}
	if (st.st_uid != geteuid()) {
		log_error("index: %s belongs to uid %lu, not to this user",
			  dir, (unsigned long)st.st_uid);
		return IDX_INVAL;
	}
	if ((st.st_mode & 077) != 0 && chmod(dir, 0700) < 0) {
		log_error("index: chmod %s: %m", dir);
		return IDX_INVAL;
	}
	if (statfs(dir, &sf) < 0) {
		log_error("index: statfs %s: %m", dir);
		return IDX_INVAL;
	}
	for (i = 0; i < sizeof(remote_fs) / sizeof(remote_fs[0]); i++) {
		if ((unsigned long)sf.f_type == remote_fs[i].magic) {
			log_error("index: %s is on %s; the index must be on a "
				  "local file system (set the index location)",
				  dir, remote_fs[i].name);
			return IDX_INVAL;
		}
	}
	return IDX_OK;
}

static char *
path_in(const struct idx_env *env, const char *name)
{
	return xasprintf("%s/%s", env->dir, name);
}

static bool
file_exists(const struct idx_env *env, const char *name)
{
	char *p = path_in(env, name);
	struct stat st;
	bool ok = lstat(p, &st) == 0;

	free(p);
	return ok;
}

/* stat of meta.db, whose existence marks a complete index. */
static bool
meta_stat(const struct idx_env *env, struct stat *st)
{
	char *p = path_in(env, idx_db_files[IDX_DB_META]);
	bool ok = lstat(p, st) == 0;

	free(p);
	return ok;
}

/* flock op (LOCK_SH or LOCK_EX) without blocking, retried with a short
 * random back-off for up to ms. */
static int
flock_take(const struct idx_env *env, int fd, int op, double ms)
{
	double start = idx_now();

	for (;;) {
		if (flock(fd, op | LOCK_NB) == 0)
			return IDX_OK;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			log_error("index: flock in %s: %m", env->dir);
			return IDX_FAILED;
		}
		if ((idx_now() - start) * 1000.0 >= ms)
			return IDX_BUSY;
		idx_sleep_ms(1.0 + (double)(rand_u32() % 20));
	}
}

static int
lock_take(struct idx_env *env, int op, double ms)
{
	return flock_take(env, env->lock_fd, op, ms);
}

static void
lock_release(struct idx_env *env)
{
	(void)flock(env->lock_fd, LOCK_UN);
}

/* Written when the environment is created so that every opener (and
 * Berkeley DB's own utilities) uses the same settings: DB_CONFIG
 * overrides the API calls in bdb_open_env. */
static int
write_db_config(const struct idx_env *env)
{
	char *tmp = xasprintf("%s/DB_CONFIG.tmp.%ld", env->dir,
			      (long)getpid());
	char *dst = path_in(env, "DB_CONFIG");
	char text[1024];
	int fd, n, rc = IDX_OK;

	n = snprintf(text, sizeof(text),
		     "# Moat index environment (doc/design.md, Index layout).\n"
		     "set_thread_count %u\n"
		     "set_cachesize 0 %u 1\n"
		     "set_lg_max %u\n"
		     "set_lg_bsize %u\n"
		     "set_lk_partitions 1\n"
		     "set_lk_tablesize %u\n"
		     "set_lk_detect DB_LOCK_DEFAULT\n"
		     "set_lock_timeout %u\n"
		     "set_txn_timeout %u\n"
		     "set_flags DB_TXN_WRITE_NOSYNC\n"
		     "set_flags DB_TXN_NOWAIT\n"
		     "log_set_config DB_LOG_AUTO_REMOVE\n",
		     IDX_THREADS, env->opts.cache_kb * 1024u,
		     IDX_LOG_FILE_MAX, IDX_LOG_BUF, IDX_LOCK_BUCKETS,
		     IDX_LOCK_TIMEOUT_US, IDX_TXN_TIMEOUT_US);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0 || write(fd, text, (size_t)n) != n || fsync(fd) < 0 ||
	    close(fd) < 0 || rename(tmp, dst) < 0) {
		log_error("index: writing %s: %m", dst);
		rc = errno == ENOSPC || errno == EDQUOT ? IDX_NOSPACE :
		     IDX_FAILED;
		if (fd >= 0)
			(void)close(fd);
		(void)unlink(tmp);
	}
	free(tmp);
	free(dst);
	return rc;
}

/* Moves every file of the index aside (regions are deleted: they are
 * worthless), keeping one generation of *.broken-<time> copies so the
 * directory cannot fill up with them. Only with the exclusive lock.
 * Returns true if there was a database or log file (not just leftovers
 * of a creation that failed early). */
static bool
move_aside(struct idx_env *env)
{
	char **names = NULL;
	size_t n = 0, i;
	long now = (long)time(NULL);
	bool data = false;
	DIR *d;
	struct dirent *de;

	if ((d = opendir(env->dir)) == NULL) {
		log_error("index: opendir %s: %m", env->dir);
		return false;
	}
	/* Read the whole list first: renaming while reading could make
	 * readdir return the new names. */
	while ((de = readdir(d)) != NULL && n < IDX_DIR_ENTRIES_MAX) {
		if (str_eq(de->d_name, ".") || str_eq(de->d_name, "..") ||
		    str_eq(de->d_name, "lock") || str_eq(de->d_name, "open.lock") ||
		    str_eq(de->d_name, "boot_id"))
			continue;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	for (i = 0; i < n; i++) {
		char *p = path_in(env, names[i]);

		if (strstr(names[i], ".broken-") != NULL ||
		    str_has_prefix(names[i], "__db.") ||
		    str_has_prefix(names[i], "opening.") ||
		    str_has_prefix(names[i], "DB_CONFIG.tmp")) {
			if (unlink(p) < 0)
				log_warn("index: unlink %s: %m", p);
		} else {
			char *q = xasprintf("%s.broken-%ld", p, now);

			if (str_has_prefix(names[i], "log.") ||
			    strstr(names[i], ".db") != NULL)
				data = true;
			if (rename(p, q) < 0)
				log_warn("index: rename %s: %m", p);
			free(q);
		}
		free(p);
		free(names[i]);
	}
	free(names);
	if (data)
		log_error("index %s: moved the old index aside as "
			  "*.broken-%ld; it will be rebuilt from the mail",
			  env->dir, now);
	return data;
}

/* ---- Berkeley DB handles --------------------------------------------- */

/* Errors at open that mean the files, not the system, are broken. */
static bool
is_damage(int r)
{
	return r == DB_RUNRECOVERY || r == DB_VERSION_MISMATCH ||
	       r == DB_VERIFY_BAD || r == DB_OLD_VERSION || r == EINVAL ||
	       r == ENOENT || r == DB_NOTFOUND || r == DB_PAGE_NOTFOUND;
}

static int
open_status(int r, const char *what, const char *dir)
{
	log_error("index %s: %s: %s", dir, what, db_strerror(r));
	if (is_damage(r))
		return IDX_I_DAMAGED;
	if (r == ENOSPC || r == EDQUOT)
		return IDX_NOSPACE;
	return IDX_FAILED;
}

/* Closes every handle. failed: the environment is broken (a Berkeley DB
 * call returned DB_RUNRECOVERY, or failchk found a process that died
 * inside the library): mark it panicked for every process, so that the
 * others reopen (and the first of them recovers) instead of running into
 * what the dead one left, and do not close the database handles, whose
 * close would flush the cache through the very mutexes a dead process
 * may hold. Their memory is lost until exit; this is rare. */
static void
bdb_close(struct idx_env *env, bool failed)
{
	size_t i;

	if (failed && env->dbenv != NULL && !env->panicked)
		(void)env->dbenv->set_flags(env->dbenv, DB_PANIC_ENVIRONMENT, 1);
	/* DB_NOSYNC: everything committed is in the log, and the pages
	 * reach the files at checkpoints; flushing here would cost six
	 * fsyncs per logout (new_boot covers a machine restart). */
	for (i = 0; i < IDX_DB_COUNT; i++) {
		if (env->db[i] != NULL && !failed)
			(void)env->db[i]->close(env->db[i], DB_NOSYNC);
		env->db[i] = NULL;
	}
	if (env->dbenv != NULL)
		(void)env->dbenv->close(env->dbenv, 0);
	env->dbenv = NULL;
	env->open = false;
	env->panicked = false;
	if (env->log_fd >= 0)
		close(env->log_fd);
	env->log_fd = -1;
}

/* Each open leaves dir/opening.<pid> while DB_ENV->open runs (and each
 * idx_env_failchk while failchk runs). One whose process is gone means
 * an open died inside Berkeley DB: killed, or its
 * watchdog fired because failchk waited on a mutex that a dead process
 * (or a live one blocked behind it) holds. Opening with DB_FAILCHK again
 * would wait on the same mutex, and every opener that dies there adds
 * another dead holder (measured: the index then stays wedged for good),
 * while failchk may also have declared the dead process clean already,
 * so DB_REGISTER would see nothing to recover. The one process that
 * removes the stale marker therefore forces recovery: it leaves
 * DB_FAILCHK out and removes __db.register, which DB_REGISTER treats as
 * "recovery needed" (as on first use). Recovery marks the old regions
 * panicked, so live sessions reopen into the new ones; sessions blocked
 * inside the old ones end by their watchdog. claim: unlink the marker
 * (the caller then forces recovery); otherwise only report it. */
static bool
stale_marker(struct idx_env *env, bool claim)
{
	DIR *d = opendir(env->dir);
	struct dirent *de;
	bool stale = false;

	if (d == NULL)
		return false;
	while ((de = readdir(d)) != NULL) {
		char *end;
		long pid;

		if (!str_has_prefix(de->d_name, "opening."))
			continue;
		pid = strtol(de->d_name + 8, &end, 10);
		if (*end != '\0' || pid <= 0 || pid == (long)getpid())
			continue;
		/* A zombie is dead too: its flocks are gone already. */
		if (pid_alive((pid_t)pid))
			continue;
		/* Only one process wins this unlink. */
		if (!claim || unlinkat(dirfd(d), de->d_name, 0) == 0)
			stale = true;
	}
	closedir(d);
	return stale;
}

/* After an escape from a mutex wait (idx_env_abandon): true if the
 * regions are still the ones this process had open, so that its open
 * must recover; false once another process has recovered already
 * (recovering again would only panic that one's fresh environment). */
static bool
regions_unchanged_after_escape(struct idx_env *env)
{
	struct stat st;
	char *path;
	bool same;

	if (!env->force_recover)
		return false;
	env->force_recover = false;
	path = path_in(env, "__db.001");
	same = stat(path, &st) == 0 && st.st_dev == env->reg_dev &&
	       st.st_ino == env->reg_ino;
	free(path);
	return same;
}

/* The regions of an environment whose mutexes a dead process holds
 * (already marked panicked by idx_env_abandon): with the files gone,
 * the forced open builds new regions instead of attaching these, where
 * DB_REGISTER would meet the same dead holder. Processes still mapping
 * them see the panic at their next call and reopen; those blocked in
 * them leave through their own escape. Called with open.lock held. */
static void
remove_regions(struct idx_env *env)
{
	for (int i = 1; i <= 9; i++) {
		char name[16], *path;

		snprintf(name, sizeof(name), "__db.%03d", i);
		path = path_in(env, name);
		(void)unlink(path);
		free(path);
	}
}

/* An abandoned handle stays registered in __db.register: Berkeley DB
 * 5.3 (env/env_register.c) keeps one 25-byte line per process,
 * "%24lu\n" with its pid, "X" and spaces and "0\n" when free, each
 * fcntl-locked by its process. The next open in this process would
 * find its own pid there and refuse ("BDB1528 DB_REGISTER limits
 * processes to one open DB_ENV handle"), which happened when the
 * escape came from inside DB_ENV->open after another process had made
 * new regions (then no forced recovery recreates the file). Mark the
 * slot free, as the handle's close would have; closing our descriptor
 * also drops the old handle's fcntl locks on the file. */
static void
unregister_self(struct idx_env *env)
{
	static const char empty[] = "X                      0\n";
	char *path = path_in(env, "__db.register");
	char want[32], line[25];
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);

	free(path);
	if (fd < 0)
		return;
	snprintf(want, sizeof(want), "%24lu\n", (unsigned long)getpid());
	/* Bounded: one line per process that ever registered. */
	for (off_t off = 0; off < (off_t)sizeof(line) * 65536;
	     off += (off_t)sizeof(line)) {
		if (pread(fd, line, sizeof(line), off) != (ssize_t)sizeof(line))
			break;
		if (memcmp(line, want, sizeof(line)) == 0)
			(void)!pwrite(fd, empty, sizeof(line), off);
	}
	close(fd);
}

/* Abandoned handles are kept reachable on purpose: closing one would
 * wait on the dead holder's mutex, and its memory (a few kB, and the
 * database handles it links) is lost until exit by design; LeakSanitizer
 * should not report them, so that a forgotten close still shows. A
 * handful per process at most (each escape costs seconds). */
#define ABANDONED_KEPT 16
static DB_ENV *abandoned[ABANDONED_KEPT];
static unsigned n_abandoned;

void
idx_env_abandon(struct idx_env *env)
{
	DB_ENV *old = env->dbenv != NULL ? env->dbenv : env->opening;
	char marker[32], *path;

	if (old != NULL)
		abandoned[n_abandoned++ % ABANDONED_KEPT] = old;
	free(env->opening_marker);	/* left by an escape out of the open */
	env->opening_marker = NULL;

	open_fault_release(env);
	open_faulted = 0;
	/* Tell every process of the old regions (a plain store in the
	 * region, no mutex). */
	if (old != NULL)
		(void)old->set_flags(old, DB_PANIC_ENVIRONMENT, 1);
	unregister_self(env);
	env->opening = NULL;
	for (size_t i = 0; i < IDX_DB_COUNT; i++)
		env->db[i] = NULL;
	env->dbenv = NULL;
	env->open = false;
	env->panicked = false;
	env->force_recover = true;
	env->stats.escapes++;
	if (env->log_fd >= 0)
		close(env->log_fd);
	env->log_fd = -1;
	if (env->open_lock_fd >= 0) {
		/* Escaped from inside DB_ENV->open or failchk. */
		close(env->open_lock_fd);
		env->open_lock_fd = -1;
		snprintf(marker, sizeof(marker), "opening.%ld",
			 (long)getpid());
		path = path_in(env, marker);
		(void)unlink(path);
		free(path);
	}
}

/* True once per boot: the machine restarted since the index was last
 * opened (dir/boot_id differs from the kernel's). DB_REGISTER cannot see
 * that: the sessions of the previous boot closed cleanly or not, their
 * slots are free either way, and the region files may hold whatever the
 * page cache had written of them. So the first open of each boot forces
 * recovery, which recreates the regions and replays the log. That also
 * lets database handles be closed without flushing. Called with
 * open.lock held. */
static bool
new_boot(struct idx_env *env)
{
	char now[64], seen[64], *path, *tmp;
	ssize_t n, m = -1;
	int fd;

	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, now, sizeof(now) - 1);
	close(fd);
	if (n <= 0)
		return false;
	path = path_in(env, "boot_id");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) >= 0) {
		m = read(fd, seen, sizeof(seen) - 1);
		close(fd);
	}
	if (m == n && memcmp(now, seen, (size_t)n) == 0) {
		free(path);
		return false;
	}
	tmp = xasprintf("%s.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0 || write(fd, now, (size_t)n) != n || close(fd) < 0 ||
	    rename(tmp, path) < 0)
		(void)unlink(tmp);
	free(tmp);
	free(path);
	/* A new directory has nothing to recover. */
	return file_exists(env, "__db.register");
}

static int
bdb_open_env(struct idx_env *env)
{
	DB_ENV *e;
	mode_t old;
	char marker[32], *mpath;
	u_int32_t flags = IDX_ENV_FLAGS;
	struct stat st;
	bool escaped;
	int r, fd, ofd;

	if ((r = db_env_create(&e, 0)) != 0) {
		log_error("index: db_env_create: %s", db_strerror(r));
		return IDX_FAILED;
	}
	e->app_private = env;
	e->set_errcall(e, bdb_errcall);
	e->set_msgcall(e, bdb_msgcall);
	if ((r = e->set_event_notify(e, bdb_event)) != 0 ||
	    (r = e->set_isalive(e, bdb_isalive)) != 0 ||
	    (r = e->set_thread_count(e, IDX_THREADS)) != 0 ||
	    (r = e->set_cachesize(e, 0, env->opts.cache_kb * 1024u, 1)) != 0 ||
	    (r = e->set_lg_max(e, IDX_LOG_FILE_MAX)) != 0 ||
	    (r = e->set_lg_bsize(e, IDX_LOG_BUF)) != 0 ||
	    (r = e->set_lk_partitions(e, 1)) != 0 ||
	    (r = e->set_lk_tablesize(e, IDX_LOCK_BUCKETS)) != 0 ||
	    (r = e->set_lk_detect(e, DB_LOCK_DEFAULT)) != 0 ||
	    (r = e->set_timeout(e, IDX_LOCK_TIMEOUT_US,
				DB_SET_LOCK_TIMEOUT)) != 0 ||
	    (r = e->set_timeout(e, IDX_TXN_TIMEOUT_US,
				DB_SET_TXN_TIMEOUT)) != 0 ||
	    (r = e->set_flags(e, DB_TXN_WRITE_NOSYNC, 1)) != 0 ||
	    (r = e->set_flags(e, DB_TXN_NOWAIT, 1)) != 0 ||
	    (r = e->log_set_config(e, DB_LOG_AUTO_REMOVE, 1)) != 0) {
		log_error("index: configuring the environment: %s",
			  db_strerror(r));
		(void)e->close(e, 0);
		return IDX_FAILED;
	}
	env->panicked = false;
	/* One DB_ENV->open at a time per index: recovery (DB_REGISTER's,
	 * or the forced one below) must never run in two processes at
	 * once. A session stuck in its open (see stale_marker) holds
	 * this until its watchdog ends it; wait a little less than ours. */
	mpath = path_in(env, "open.lock");
	ofd = open(mpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	free(mpath);
	env->open_lock_fd = ofd;
	if (ofd < 0) {
		log_error("index %s: open.lock: %m", env->dir);
		(void)e->close(e, 0);
		return errno == ENOSPC || errno == EDQUOT ? IDX_NOSPACE :
		       IDX_FAILED;
	}
	r = flock_take(env, ofd, LOCK_EX, env->opts.watchdog_secs > 3 ?
		       (env->opts.watchdog_secs - 2) * 1000.0 : 1000.0);
	if (r != IDX_OK) {
		if (r == IDX_BUSY)
			log_error("index %s: another session is stuck opening "
				  "the index", env->dir);
		close(ofd);
		env->open_lock_fd = -1;
		(void)e->close(e, 0);
		return r;
	}
	escaped = regions_unchanged_after_escape(env);
	if (escaped || stale_marker(env, true) || new_boot(env)) {
		char *reg = path_in(env, "__db.register");

		log_warn("index %s: an earlier open died inside Berkeley DB, "
			 "a call was stuck behind a dead process, or the "
			 "machine restarted; forcing recovery", env->dir);
		env->stats.recoveries++;
		flags &= ~(u_int32_t)DB_FAILCHK;
		(void)unlink(reg);
		free(reg);
		if (escaped)
			remove_regions(env);
	}
	snprintf(marker, sizeof(marker), "opening.%ld", (long)getpid());
	mpath = path_in(env, marker);
	fd = open(mpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd >= 0)
		close(fd);
	old = umask(077);
	env->opening = e;
	env->opening_marker = mpath;	/* an escape frees it */
	open_fault_catch(env);
	r = e->open(e, env->dir, flags, 0600);
	open_fault_release(env);
	env->opening = NULL;
	env->opening_marker = NULL;
	umask(old);
	(void)unlink(mpath);
	free(mpath);
	close(ofd);
	env->open_lock_fd = -1;
	if (r != 0) {
		(void)e->close(e, 0);
		return open_status(r, "opening the environment", env->dir);
	}
	env->dbenv = e;
	mpath = path_in(env, "__db.001");
	if (stat(mpath, &st) == 0) {
		env->reg_dev = st.st_dev;
		env->reg_ino = st.st_ino;
	}
	free(mpath);
	return IDX_OK;
}

/* A new index: schema version and the first mailbox id, durably. */
static int
init_meta(struct idx_env *env)
{
	DB *meta = env->db[IDX_DB_META];
	uint8_t k[2] = { IDX_META_SCHEMA, IDX_META_NEXTID }, v[4];
	DB_TXN *t;
	DBT kd, vd;
	int r;

	if ((r = env->dbenv->txn_begin(env->dbenv, NULL, &t, 0)) != 0)
		return r;
	memset(&kd, 0, sizeof(kd));
	memset(&vd, 0, sizeof(vd));
	kd.size = 1;
	vd.data = v;
	vd.size = 4;
	kd.data = &k[0];
	idx_be32_put(v, IDX_SCHEMA_VERSION);
	r = meta->put(meta, t, &kd, &vd, DB_NOOVERWRITE);
	if (r == 0) {
		kd.data = &k[1];
		idx_be32_put(v, 1);
		r = meta->put(meta, t, &kd, &vd, DB_NOOVERWRITE);
	}
	if (r != 0) {
		(void)t->abort(t);
		return r;
	}
	return t->commit(t, DB_TXN_SYNC);
}

/* Opens (create: creates) every database, meta last: its existence
 * marks a complete index, and its schema record makes it valid. Each
 * open is its own auto-commit transaction, which with the environment's
 * DB_TXN_NOWAIT returns at once on a lock conflict; the handle is then
 * closed (as a failed open requires) and the open retried. (Opening
 * inside one explicit transaction would leave unclear who closes the
 * handles when it aborts.) */
/* failchk while opening the databases: a stale marker (someone died
 * inside failchk after our DB_ENV->open) is left for the next open to
 * recover; meanwhile the conflict just runs out its budget. */
static int
open_failchk(struct idx_env *env)
{
	int r = idx_env_failchk(env);

	return r == IDX_FAILCHK_STALE ? 0 : r;
}

static int
bdb_open_dbs(struct idx_env *env, bool create)
{
	double start = idx_now();
	size_t i;
	int r = 0;

	for (i = 0; i < IDX_DB_COUNT; i++) {
		DB *db;

		for (;;) {
			if ((r = db_create(&db, env->dbenv, 0)) != 0)
				break;
			/* The full-text databases came later: an index
			 * without them gets them empty (nothing indexed,
			 * which is always a correct state). */
			bool mk = create || i == IDX_DB_FTS_TEXT ||
				  i == IDX_DB_FTS_POST || i == IDX_DB_FTS_STATE;

			if (mk && (r = db->set_flags(db, DB_CHKSUM)) != 0) {
				(void)db->close(db, 0);
				break;
			}
			r = db->open(db, NULL, idx_db_files[i], NULL, DB_BTREE,
				     DB_AUTO_COMMIT | (mk ? DB_CREATE : 0),
				     0600);
			if (r == 0) {
				env->db[i] = db;
				break;
			}
			(void)db->close(db, 0);
			if ((r != DB_LOCK_DEADLOCK && r != DB_LOCK_NOTGRANTED) ||
			    (idx_now() - start) * 1000.0 >= env->opts.busy_ms)
				break;
			if ((r = open_failchk(env)) != 0)
				break;
			idx_sleep_ms(1.0 + (double)(rand_u32() % 10));
		}
		if (r != 0) {
			log_error("index %s: opening %s: %s", env->dir,
				  idx_db_files[i], db_strerror(r));
			break;
		}
	}
	if (r == 0 && create)
		r = init_meta(env);
	if (r == 0) {
		env->open = true;
		return IDX_OK;
	}
	for (i = 0; i < IDX_DB_COUNT; i++) {
		if (env->db[i] != NULL)
			(void)env->db[i]->close(env->db[i], 0);
		env->db[i] = NULL;
	}
	return open_status(r, "opening the databases", env->dir);
}

/* DB_ENV->failchk, never in two processes at once: Berkeley DB 5.3's
 * __lock_failchk drops the lockers mutex between finding a dead locker
 * and freeing it, so two processes cleaning up after the same dead one
 * free its locker twice and corrupt the lock region (seen in the crash
 * test: the same locker freed by two pids, then a SEGV in
 * __lock_detect). The failchk inside DB_ENV->open already runs under
 * open.lock; this takes the same lock, without waiting: if another
 * process holds it, that one is opening (and checking) or running
 * failchk itself, so this round is skipped. Like an open, it leaves
 * dir/opening.<pid> while it runs (see stale_marker). */
int
idx_env_failchk(struct idx_env *env)
{
	char marker[32], *path = path_in(env, "open.lock");
	int fd, mfd, r;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	free(path);
	if (fd < 0)
		return 0;	/* cannot serialize: skip, the next try runs */
	while ((r = flock(fd, LOCK_EX | LOCK_NB)) < 0 && errno == EINTR)
		;
	if (r < 0) {
		close(fd);
		return 0;
	}
	/* A process killed inside failchk (or an open) left the lock
	 * region half-cleaned: running failchk over it again frees what is
	 * already free. Only recovery helps: the next open claims the
	 * marker and forces it. */
	if (stale_marker(env, false)) {
		close(fd);
		return IDX_FAILCHK_STALE;
	}
	snprintf(marker, sizeof(marker), "opening.%ld", (long)getpid());
	path = path_in(env, marker);
	mfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
		   O_NOFOLLOW, 0600);
	if (mfd >= 0)
		close(mfd);
	env->stats.failchks++;
	/* The watchdog's escape can leave failchk (through is_alive):
	 * idx_env_abandon then closes this and removes the marker, as
	 * for an escape out of DB_ENV->open; a leaked flock here would
	 * keep every later open waiting. */
	env->open_lock_fd = fd;
	r = env->dbenv->failchk(env->dbenv, 0);
	env->open_lock_fd = -1;
	(void)unlink(path);
	free(path);
	close(fd);	/* releases the flock */
	return r;
}

/* The end of the log as (file << 32 | offset). */
static int
log_end(struct idx_env *env, uint64_t *end)
{
	DB_LOG_STAT *ls = NULL;
	int r;

	if ((r = env->dbenv->log_stat(env->dbenv, &ls, 0)) != 0)
		return r;
	*end = (uint64_t)ls->st_cur_file << 32 | ls->st_cur_offset;
	free(ls);
	return 0;
}

/* Reads a meta record in its own NOWAIT transaction, retrying lock
 * conflicts (with failchk, for a dead holder) for up to busy_ms. */
static int
meta_get(struct idx_env *env, uint8_t key, uint8_t *buf, size_t cap,
	 size_t *len)
{
	DB *meta = env->db[IDX_DB_META];
	double start = idx_now();

	for (;;) {
		DB_TXN *t;
		DBT kd, vd;
		int r;

		if ((r = env->dbenv->txn_begin(env->dbenv, NULL, &t,
					       DB_TXN_NOWAIT |
					       DB_READ_COMMITTED)) != 0)
			return r;
		memset(&kd, 0, sizeof(kd));
		memset(&vd, 0, sizeof(vd));
		kd.data = &key;
		kd.size = 1;
		vd.data = buf;
		vd.ulen = (u_int32_t)cap;
		vd.flags = DB_DBT_USERMEM;
		r = meta->get(meta, t, &kd, &vd, 0);
		*len = vd.size;
		(void)t->abort(t);
		if ((r != DB_LOCK_DEADLOCK && r != DB_LOCK_NOTGRANTED) ||
		    (idx_now() - start) * 1000.0 >= env->opts.busy_ms)
			return r;
		if ((r = open_failchk(env)) != 0)
			return r;
		idx_sleep_ms(1.0 + (double)(rand_u32() % 10));
	}
}

static bool
any_log_file(struct idx_env *env)
{
	DIR *d = opendir(env->dir);
	struct dirent *de;
	bool found = false;

	if (d == NULL)
		return true;	/* cannot tell: do not call it damage */
	while (!found && (de = readdir(d)) != NULL)
		found = str_has_prefix(de->d_name, "log.");
	closedir(d);
	return found;
}

/* Checks an opened index: schema version, that log files exist, and
 * that the log does not end before a position it once reached. Removed
 * log files are otherwise not noticed by Berkeley DB until it next
 * writes the log or flushes a page newer than it, and then it panics.
 * (The current log file alone may legitimately be missing: its first
 * records can still be in the shared log buffer.) */
static int
check_opened(struct idx_env *env)
{
	uint8_t v[8];
	uint64_t end, saved;
	size_t len;
	int r;

	r = meta_get(env, IDX_META_SCHEMA, v, sizeof(v), &len);
	if (r == DB_LOCK_DEADLOCK || r == DB_LOCK_NOTGRANTED)
		return IDX_BUSY;
	if (r != 0 || len != 4 || idx_be32_get(v) != IDX_SCHEMA_VERSION) {
		log_error("index %s: schema version %s (want %u)", env->dir,
			  r != 0 ? db_strerror(r) : len != 4 ? "malformed" :
			  "differs", IDX_SCHEMA_VERSION);
		return r == DB_RUNRECOVERY ? IDX_FAILED : IDX_I_DAMAGED;
	}
	if (!any_log_file(env)) {
		log_error("index %s: there are no log files", env->dir);
		return IDX_I_DAMAGED;
	}
	if ((r = log_end(env, &end)) != 0)
		return open_status(r, "log_stat", env->dir);
	r = meta_get(env, IDX_META_LOGEND, v, sizeof(v), &len);
	if (r != 0 || len != 8)
		return IDX_OK;	/* not recorded yet, or busy: skip */
	saved = idx_be64_get(v);
	if (saved > end) {
		log_error("index %s: the log ends at %u/%u, before %u/%u that "
			  "it reached earlier (log files removed?)", env->dir,
			  (unsigned)(end >> 32), (unsigned)end,
			  (unsigned)(saved >> 32), (unsigned)saved);
		return IDX_I_DAMAGED;
	}
	env->logend_saved = saved;
	return IDX_OK;
}

/* Remembers in meta a position the log has reached. Log files are only
 * ever removed below the current one, so the end of the log can never
 * be found before this again, unless log files were deleted by hand:
 * check_opened compares. Best effort (a busy or failed write is simply
 * skipped: the older value stays valid). */
static void
save_log_end(struct idx_env *env)
{
	DB *meta = env->db[IDX_DB_META];
	uint8_t k = IDX_META_LOGEND, v[8];
	uint64_t end;
	DB_TXN *t;
	DBT kd, vd;

	if (!env->open || env->panicked || log_end(env, &end) != 0 ||
	    end == env->logend_saved)
		return;
	if (env->dbenv->txn_begin(env->dbenv, NULL, &t, DB_TXN_NOWAIT) != 0)
		return;
	memset(&kd, 0, sizeof(kd));
	memset(&vd, 0, sizeof(vd));
	kd.data = &k;
	kd.size = 1;
	idx_be64_put(v, end);
	vd.data = v;
	vd.size = sizeof(v);
	if (meta->put(meta, t, &kd, &vd, 0) != 0) {
		(void)t->abort(t);
		return;
	}
	if (t->commit(t, DB_TXN_WRITE_NOSYNC) == 0)
		env->logend_saved = end;
}

/* Removed log files (or database files from elsewhere): a database
 * whose meta page carries an LSN past the end of the log. Berkeley DB
 * finds out only when it next flushes such a page, and panics then, so
 * look at the first 8 bytes of each file (the meta page's LSN, in host
 * order) before opening them. Pages on disk are never ahead of the log
 * (write-ahead logging), so a live index never fails this. */
static int
check_lsns(struct idx_env *env)
{
	DB_LOG_STAT *ls = NULL;
	u_int32_t efile, eoff;
	size_t i;
	int r;

	if ((r = env->dbenv->log_stat(env->dbenv, &ls, 0)) != 0)
		return open_status(r, "log_stat", env->dir);
	efile = ls->st_cur_file;
	eoff = ls->st_cur_offset;
	free(ls);
	for (i = 0; i < IDX_DB_COUNT; i++) {
		char *p = path_in(env, idx_db_files[i]);
		int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		DB_LSN lsn;
		ssize_t n = -1;

		if (fd >= 0) {
			n = pread(fd, &lsn, sizeof(lsn), 0);
			close(fd);
		}
		free(p);
		/* Missing or short files: the open below reports them. */
		if (n != (ssize_t)sizeof(lsn))
			continue;
		if (lsn.file > efile || (lsn.file == efile && lsn.offset > eoff)) {
			log_error("index %s: %s has LSN %u/%u, past the end of "
				  "the log at %u/%u (log files removed?)",
				  env->dir, idx_db_files[i], lsn.file,
				  lsn.offset, efile, eoff);
			return IDX_I_DAMAGED;
		}
	}
	return IDX_OK;
}

/* Opens an index that exists: IDX_OK, IDX_I_DAMAGED or an error, with
 * nothing left open unless IDX_OK. */
static int
open_existing(struct idx_env *env)
{
	int r;

	if (!file_exists(env, "DB_CONFIG") &&
	    (r = write_db_config(env)) != IDX_OK)
		return r;
	if ((r = bdb_open_env(env)) != IDX_OK)
		return r;
	if ((r = check_lsns(env)) == IDX_OK &&
	    (r = bdb_open_dbs(env, false)) == IDX_OK &&
	    (r = check_opened(env)) == IDX_OK)
		return IDX_OK;
	bdb_close(env, false);
	return r;
}

/* With the exclusive lock: moves leftovers aside and creates an empty
 * index. *moved: there was something to move. */
static int
create_fresh(struct idx_env *env, bool *moved)
{
	int r;

	*moved = move_aside(env);
	if ((r = write_db_config(env)) != IDX_OK ||
	    (r = bdb_open_env(env)) != IDX_OK)
		return r == IDX_I_DAMAGED ? IDX_FAILED : r;
	if ((r = bdb_open_dbs(env, true)) != IDX_OK) {
		bdb_close(env, false);
		return r == IDX_I_DAMAGED ? IDX_FAILED : r;
	}
	return IDX_OK;
}

static int
attach_files(struct idx_env *env, bool *rebuilt)
{
	double start = idx_now();
	int r;

	*rebuilt = false;
	for (;;) {
		struct stat seen = { 0 };
		bool fresh, moved;

		if ((r = lock_take(env, LOCK_SH, env->opts.busy_ms)) != IDX_OK)
			return r;
		fresh = !meta_stat(env, &seen);
		if (!fresh) {
			r = open_existing(env);
			if (r != IDX_I_DAMAGED) {
				if (r != IDX_OK)
					lock_release(env);
				return r;
			}
		}
		/* Creating or rebuilding needs every other session gone.
		 * Wait in short slices, looking again in between: another
		 * session may be doing it right now. */
		lock_release(env);
		r = lock_take(env, LOCK_EX, 200.0);
		if (r == IDX_OK) {
			struct stat now;
			bool same;

			/* Not the files we judged: someone else created or
			 * rebuilt the index meanwhile. (Opening ours again
			 * would not do: recovery of a panicked environment
			 * can hide what was wrong.) */
			fresh = !meta_stat(env, &now);
			same = !fresh && seen.st_ino != 0 &&
			       now.st_dev == seen.st_dev &&
			       now.st_ino == seen.st_ino;
			if (!fresh && !same &&
			    (r = open_existing(env)) != IDX_I_DAMAGED) {
				/* Use theirs (or report its error). */
			} else {
				r = create_fresh(env, &moved);
				if (r == IDX_OK && (moved || !fresh)) {
					*rebuilt = true;
					env->stats.rebuilds++;
				}
			}
			if (r == IDX_OK) {
				/* Downgrade: keep it shared while open. */
				if (flock(env->lock_fd, LOCK_SH) < 0) {
					log_error("index: flock: %m");
					bdb_close(env, false);
					r = IDX_FAILED;
				}
				return r;
			}
			lock_release(env);
			return r;
		}
		if (r != IDX_BUSY)
			return r;
		if ((idx_now() - start) * 1000.0 >= IDX_EXCL_WAIT_MS) {
			log_error("index %s: needs rebuilding, but other sessions "
				  "have it open", env->dir);
			return IDX_BUSY;
		}
	}
}

/* Attaches, and tells whether the index is still the one this process
 * saw last: while it was closed (released, or failed) another process
 * may have rebuilt it, and mailbox ids, UIDs and caches of the old one
 * must not be read as the new one's. The meta database's inode tells
 * (a rebuild moves the old files aside, so it cannot be reused). */
int
idx_env_attach(struct idx_env *env, bool *rebuilt)
{
	struct stat st;
	int r = attach_files(env, rebuilt);

	if (r != IDX_OK || !meta_stat(env, &st))
		return r;
	if (env->meta_ino != 0 && !*rebuilt &&
	    (st.st_ino != env->meta_ino || st.st_dev != env->meta_dev)) {
		log_warn("index %s: rebuilt by another process while this "
			 "one had it closed", env->dir);
		*rebuilt = true;
		env->stats.rebuilds++;
	}
	env->meta_dev = st.st_dev;
	env->meta_ino = st.st_ino;
	return r;
}

static void
remember_meta(struct idx_env *env)
{
	struct stat st;

	if (meta_stat(env, &st)) {
		env->meta_dev = st.st_dev;
		env->meta_ino = st.st_ino;
	}
}

void
idx_env_detach(struct idx_env *env, bool failed)
{
	bdb_close(env, failed);
	lock_release(env);
}

/* ---- public ----------------------------------------------------------- */

static void
close_at_exit(void)
{
	if (open_env != NULL && open_env->pid == getpid())
		idx_env_close(&open_env);
}

/* idx_env_attach, leaving a mutex wait whose holder died as
 * idx_txn_run does (txn.c). */
static int
attach_escaping(struct idx_env *env, bool *rebuilt)
{
	sigjmp_buf jb;
	int r;

	if (sigsetjmp(jb, 1) != 0) {
		if (open_faulted) {
			log_warn("index %s: opening faulted inside Berkeley DB "
				 "(damaged regions); recovering", env->dir);
		} else {
			log_warn("index %s: opening stalled on a Berkeley DB "
				 "mutex for %d s; recovering", env->dir,
				 IDX_STALL_SECS);
		}
		idx_env_abandon(env);
		idx_watchdog_arm(env);
		return idx_env_attach(env, rebuilt);
	}
	idx_watchdog_escape(&jb);
	r = idx_env_attach(env, rebuilt);
	idx_watchdog_escape(NULL);
	return r;
}

int
idx_env_open(const char *dir, const struct idx_env_opts *opts,
	     struct idx_env **envp, bool *rebuilt)
{
	static bool atexit_done;
	struct idx_env *env;
	bool rb = false;
	char *lockpath;
	int maj, min, patch, r;

	*envp = NULL;
	if (rebuilt != NULL)
		*rebuilt = false;
	(void)db_version(&maj, &min, &patch);
	if (maj != DB_VERSION_MAJOR || min != DB_VERSION_MINOR ||
	    patch != DB_VERSION_PATCH) {
		log_error("index: Berkeley DB %d.%d.%d is linked, %d.%d.%d "
			  "was compiled in", maj, min, patch, DB_VERSION_MAJOR,
			  DB_VERSION_MINOR, DB_VERSION_PATCH);
		return IDX_FAILED;
	}
	if (dir == NULL || *dir == '\0') {
		log_error("index: no index directory");
		return IDX_INVAL;
	}
	if (open_env != NULL) {
		/* DB_REGISTER allows one environment handle per process. */
		log_error("index: an index is already open in this process");
		return IDX_INVAL;
	}
	env = xcalloc(1, sizeof(*env));
	env->dir = xstrdup(dir);
	env->lock_fd = -1;
	env->log_fd = -1;
	env->open_lock_fd = -1;
	env->pid = getpid();
	if (opts != NULL)
		env->opts = *opts;
	if (env->opts.cache_kb == 0)
		env->opts.cache_kb = IDX_DEFAULT_CACHE_KB;
	if (env->opts.cache_kb < 64)
		env->opts.cache_kb = 64;
	if (env->opts.watchdog_secs == 0)
		env->opts.watchdog_secs = IDX_DEFAULT_WATCHDOG;
	if (env->opts.busy_ms == 0)
		env->opts.busy_ms = IDX_DEFAULT_BUSY_MS;
	if (env->opts.expunged_max == 0 ||
	    env->opts.expunged_max > IDX_EXPUNGED_MAX)
		env->opts.expunged_max = IDX_EXPUNGED_MAX;
	if (env->opts.busy_ms > env->opts.watchdog_secs * 500u)
		env->opts.busy_ms = env->opts.watchdog_secs * 500u;

	idx_watchdog_arm(env);
	if ((r = prepare_dir(dir)) != IDX_OK)
		goto fail;
	lockpath = path_in(env, "lock");
	env->lock_fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
			    0600);
	if (env->lock_fd < 0) {
		log_error("index: open %s: %m", lockpath);
		r = errno == ENOSPC || errno == EDQUOT ? IDX_NOSPACE : IDX_FAILED;
		free(lockpath);
		goto fail;
	}
	free(lockpath);
	if ((r = attach_escaping(env, &rb)) != IDX_OK)
		goto fail;
	idx_watchdog_disarm();
	env->last_tick = env->last_ckp = (struct timespec){ 0 };
	if (rebuilt != NULL)
		*rebuilt = rb;
	open_env = env;
	if (!atexit_done) {
		atexit(close_at_exit);
		atexit_done = true;
	}
	*envp = env;
	return IDX_OK;
fail:
	idx_watchdog_disarm();
	if (env->lock_fd >= 0)
		close(env->lock_fd);
	free(env->dir);
	free(env);
	return r;
}

int
idx_env_checkpoint(struct idx_env *env)
{
	int r;

	if (env == NULL || !env->open)
		return IDX_OK;
	r = env->dbenv->txn_checkpoint(env->dbenv, IDX_CKP_KB, IDX_CKP_MIN, 0);
	if (r == DB_RUNRECOVERY || env->panicked) {
		log_warn("index %s: environment failed; closing it", env->dir);
		idx_env_detach(env, true);
		return IDX_FAILED;
	}
	return idx_dberr(NULL, r, "checkpoint");
}

void
idx_env_tick(struct idx_env *env)
{
	double now;
	int r;

	if (env == NULL || env->in_txn || !env->open)
		return;
	now = idx_now();
	if (now - ((double)env->last_tick.tv_sec +
		   (double)env->last_tick.tv_nsec / 1e9) < 1.0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &env->last_tick);
	idx_watchdog_arm(env);
	r = env->dbenv->lock_detect(env->dbenv, 0, DB_LOCK_EXPIRE, NULL);
	if (r == DB_RUNRECOVERY || env->panicked) {
		/* Release the flock now: a rebuild may be waiting for it. */
		log_warn("index %s: environment failed; closing it until "
			 "the next use", env->dir);
		idx_env_detach(env, true);
	} else if (now - ((double)env->last_ckp.tv_sec +
			  (double)env->last_ckp.tv_nsec / 1e9) >= 30.0) {
		clock_gettime(CLOCK_MONOTONIC, &env->last_ckp);
		(void)idx_env_checkpoint(env);
		save_log_end(env);
	}
	idx_watchdog_disarm();
}

bool
idx_env_release(struct idx_env *env)
{
	if (env == NULL || env->in_txn || !env->open || env->pid != getpid())
		return false;
	/* DB_NOSYNC close: what was committed is in the log (bdb_close). */
	idx_watchdog_arm(env);
	save_log_end(env);
	idx_env_detach(env, false);
	idx_watchdog_disarm();
	env->released = true;
	env->stats.releases++;
	return true;
}

int
idx_env_reset(struct idx_env *env)
{
	bool moved, rb;
	int r;

	if (env->in_txn)
		log_panic("idx_env_reset inside a transaction");
	idx_watchdog_arm(env);
	idx_env_detach(env, false);
	r = lock_take(env, LOCK_EX, IDX_EXCL_WAIT_MS);
	if (r == IDX_OK) {
		r = create_fresh(env, &moved);
		if (r == IDX_OK) {
			env->stats.rebuilds++;
			remember_meta(env);
			if (flock(env->lock_fd, LOCK_SH) < 0) {
				log_error("index: flock: %m");
				idx_env_detach(env, false);
				r = IDX_FAILED;
			}
		} else {
			lock_release(env);
		}
	} else if (idx_env_attach(env, &rb) == IDX_OK) {
		log_warn("index %s: not reset: other sessions have it open",
			 env->dir);
	}
	idx_watchdog_disarm();
	return r;
}

void
idx_env_stats(const struct idx_env *env, struct idx_stats *out)
{
	*out = env->stats;
}

void
idx_env_close(struct idx_env **envp)
{
	struct idx_env *env = *envp;

	if (env == NULL)
		return;
	*envp = NULL;
	if (env->pid == getpid()) {
		idx_watchdog_arm(env);
		save_log_end(env);
		if (env->open)
			(void)env->dbenv->txn_checkpoint(env->dbenv, IDX_CKP_KB,
							 IDX_CKP_MIN, 0);
		bdb_close(env, false);
		idx_watchdog_disarm();
	}
	if (env->lock_fd >= 0)
		close(env->lock_fd);
	if (open_env == env)
		open_env = NULL;
	free(env->dir);
	free(env);
}
