/*
 * mbox_lock: fcntl (OFD) lock, then the liblockfile dotlock, both
 * non-blocking with random back-off (mbox-lock.h has the rules and the
 * reasons). Callers: mbox.c. Inputs: the mbox path the backend built
 * under its root (trusted); the lock files belong to whoever wrote them
 * and are only judged by liblockfile (a pid or their age).
 *
 * The optional helper process (mbox_lock_helper_start) answers requests
 * from its parent over a SOCK_SEQPACKET socketpair; it trusts nothing in
 * them beyond what liblockfile and dotlockfile(1) check themselves.
 */
#include <errno.h>
#include <fcntl.h>
#include <lockfile.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/privs.h"
#include "core/rand.h"
#include "core/str.h"
#include "storage/mbox-lock.h"

/* Back-off between attempts: random in [d/2, d], d doubling from
 * BACKOFF_MIN_MS to BACKOFF_MAX_MS. */
#define BACKOFF_MIN_MS 10u
#define BACKOFF_MAX_MS 250u
/* Longest dotlock path the helper accepts. */
#define HELPER_PATH_MAX 4096
/* Dotlocks the helper remembers to clean up when its parent dies. */
#define HELPER_HELD_MAX 16
/* How long the parent waits for the helper's answer (dotlockfile on a
 * slow file system). */
#define HELPER_TIMEOUT_MS 15000

enum dl_result { DL_TAKEN, DL_BUSY, DL_ERROR };

unsigned mbox_lock_default_timeout_ms = MBOX_LOCK_TIMEOUT_MS;

static int helper_fd = -1;
static pid_t helper_pid = -1;

static time_t
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- liblockfile, in this process ---------------------------------- */

/* liblockfile ignores the error of its link(2) and reports a lock it
 * could not make as one held by someone else (L_MAXTRYS, errno EAGAIN).
 * When there is no lock at all and the file system has (almost) no
 * inode or block left, the link failed for want of space (tmpfs also
 * charges an inode per link): that is ENOSPC now, not a "held" lock
 * waited for until a false INUSE. A lock released just then (a race)
 * is still retried unless the disk is full anyway. */
static bool
dl_no_room(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	struct statvfs vfs;
	struct stat st;

	if (lstat(path, &st) == 0 || errno != ENOENT || slash == NULL ||
	    (size_t)(slash - path) >= sizeof(dir))
		return false;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	if (statvfs(dir[0] != '\0' ? dir : "/", &vfs) < 0)
		return false;
	return vfs.f_bavail < 2 || (vfs.f_files > 0 && vfs.f_favail < 2);
}

/* lockfile_create() forks dotlockfile(1) with SIGCHLD blocked and does
 * not restore the mask on every path: keep ours. retries 0 = one try
 * (plus one more after removing a stale lock), never liblockfile's own
 * 5..60 s sleeps: the back-off is ours. */
static enum dl_result
dl_create_local(const char *path, int *err)
{
	sigset_t saved;
	int r, e;

	sigprocmask(SIG_SETMASK, NULL, &saved);
	errno = 0;
	r = lockfile_create(path, 0, L_PID);
	e = errno;
	sigprocmask(SIG_SETMASK, &saved, NULL);
	switch (r) {
	case L_SUCCESS:
		return DL_TAKEN;
	case L_MAXTRYS:
		if (dl_no_room(path)) {
			*err = ENOSPC;
			return DL_ERROR;
		}
		return DL_BUSY;
	case L_TMPLOCK:
	case L_TMPWRITE:
		*err = e != 0 ? e : EACCES;
		return DL_ERROR;
	case L_NAMELEN:
		*err = ENAMETOOLONG;
		return DL_ERROR;
	default:
		*err = e != 0 && e != EINTR ? e : EIO;
		return DL_ERROR;
	}
}

static int
dl_remove_local(const char *path)
{
	sigset_t saved;
	int r;

	sigprocmask(SIG_SETMASK, NULL, &saved);
	r = lockfile_remove(path);
	sigprocmask(SIG_SETMASK, &saved, NULL);
	return r;
}

/* ---- the helper ------------------------------------------------------ */

/* Request: op byte ('C' create, 'R' remove, 'T' touch) + path, no NUL.
 * Answer: int32 result (enum dl_result, or 0/-1 for R/T) + int32 errno. */
struct helper_answer {
	int32_t result;
	int32_t err;
};

static bool
helper_path_ok(const char *p, size_t n)
{
	return n > 6 && n < HELPER_PATH_MAX && p[0] == '/' &&
	    memchr(p, '\0', n) == NULL && memcmp(p + n - 5, ".lock", 5) == 0;
}

static void
helper_remember(char held[][HELPER_PATH_MAX], const char *path, bool add)
{
	for (size_t i = 0; i < HELPER_HELD_MAX; i++) {
		if (add && held[i][0] == '\0') {
			str_copy(held[i], path, HELPER_PATH_MAX);
			return;
		}
		if (!add && strcmp(held[i], path) == 0) {
			held[i][0] = '\0';
			return;
		}
	}
}

static void __attribute__((noreturn))
helper_main(int fd)
{
	static char held[HELPER_HELD_MAX][HELPER_PATH_MAX];
	char req[1 + HELPER_PATH_MAX];
	char path[HELPER_PATH_MAX];

	for (;;) {
		struct helper_answer a = { DL_ERROR, EINVAL };
		ssize_t n = recv(fd, req, sizeof(req), 0);
		size_t plen;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		plen = (size_t)n - 1;
		if (helper_path_ok(req + 1, plen)) {
			int e = 0;

			memcpy(path, req + 1, plen);
			path[plen] = '\0';
			switch (req[0]) {
			case 'C':
				a.result = (int32_t)dl_create_local(path, &e);
				a.err = e;
				if (a.result == DL_TAKEN)
					helper_remember(held, path, true);
				break;
			case 'R':
				a.result = dl_remove_local(path);
				a.err = a.result < 0 ? errno : 0;
				helper_remember(held, path, false);
				break;
			case 'T':
				a.result = lockfile_touch(path);
				a.err = a.result < 0 ? errno : 0;
				break;
			default:
				a.result = -1;
				break;
			}
		}
		if (send(fd, &a, sizeof(a), MSG_NOSIGNAL) < 0)
			break;
	}
	/* The session is gone: its dotlocks must not outlive it. */
	for (size_t i = 0; i < HELPER_HELD_MAX; i++)
		if (held[i][0] != '\0')
			(void)dl_remove_local(held[i]);
	_exit(0);
}

int
mbox_lock_helper_start(void)
{
	int sv[2];
	pid_t pid;

	if (helper_fd >= 0)
		return 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(sv[0]);
		close(sv[1]);
		errno = e;
		return -1;
	}
	if (pid == 0) {
		/* Only the log (fd 2) and our end stay open: the helper must
		 * hold nothing of the session (client socket, index, mail),
		 * and none of its signal handlers may run here. */
		static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGALRM,
					    SIGUSR1, SIGUSR2, SIGCHLD };
		sigset_t none;
		int null;

		close(sv[0]);
		if (sv[1] != 3) {
			if (dup2(sv[1], 3) < 0)
				_exit(1);
			close(sv[1]);
		}
		privs_close_from(4);
		null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0)
			_exit(1);
		if (null > 3)
			close(null);
		alarm(0);
		/* Told apart from the session in ps and /proc (same uid). */
		(void)prctl(PR_SET_NAME, "mbox-dotlock", 0L, 0L, 0L);
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], SIG_DFL);
		signal(SIGPIPE, SIG_IGN);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		helper_main(3);
	}
	close(sv[1]);
	helper_fd = sv[0];
	helper_pid = pid;
	return 0;
}

void
mbox_lock_helper_stop(void)
{
	if (helper_fd < 0)
		return;
	close(helper_fd);
	helper_fd = -1;
	while (waitpid(helper_pid, NULL, 0) < 0 && errno == EINTR)
		;
	helper_pid = -1;
}

bool
mbox_lock_helper_running(void)
{
	return helper_fd >= 0;
}

static int
helper_call(char op, const char *path, struct helper_answer *a)
{
	char req[1 + HELPER_PATH_MAX];
	size_t n = strlen(path);
	struct pollfd pfd = { .fd = helper_fd, .events = POLLIN };
	ssize_t r;

	if (!helper_path_ok(path, n)) {
		errno = EINVAL;
		return -1;
	}
	req[0] = op;
	memcpy(req + 1, path, n);
	if (send(helper_fd, req, n + 1, MSG_NOSIGNAL) < 0)
		return -1;
	for (;;) {
		int p = poll(&pfd, 1, HELPER_TIMEOUT_MS);

		if (p < 0 && errno == EINTR)
			continue;
		if (p <= 0) {
			errno = p == 0 ? ETIMEDOUT : errno;
			return -1;
		}
		break;
	}
	do
		r = recv(helper_fd, a, sizeof(*a), 0);
	while (r < 0 && errno == EINTR);
	if (r != (ssize_t)sizeof(*a)) {
		errno = r < 0 ? errno : EPROTO;
		return -1;
	}
	return 0;
}

/* ---- dotlock operations --------------------------------------------- */

static enum dl_result
dl_create(const char *path, int *err)
{
	struct helper_answer a;

	if (helper_fd < 0)
		return dl_create_local(path, err);
	if (helper_call('C', path, &a) < 0) {
		*err = errno;
		return DL_ERROR;
	}
	if (a.result != DL_TAKEN && a.result != DL_BUSY) {
		*err = a.err != 0 ? a.err : EIO;
		return DL_ERROR;
	}
	return (enum dl_result)a.result;
}

static void
dl_remove(const char *path)
{
	struct helper_answer a;

	if (helper_fd < 0) {
		if (dl_remove_local(path) < 0)
			log_warn("mbox: cannot remove dotlock %s: %m", path);
		return;
	}
	if (helper_call('R', path, &a) < 0 || a.result != 0)
		log_warn("mbox: cannot remove dotlock %s through the helper",
			 path);
}

static void
dl_touch(const char *path)
{
	struct helper_answer a;

	/* utime() needs write permission on the lock file, which is ours
	 * (dotlockfile creates it with our uid), so try it here first. */
	if (lockfile_touch(path) == 0)
		return;
	if (helper_fd >= 0 && helper_call('T', path, &a) == 0 &&
	    a.result == 0)
		return;
	log_warn("mbox: cannot touch dotlock %s: %m", path);
}

/* ---- kernel locks ------------------------------------------------------ */

/* 0 taken, 1 busy, -1 error. */
static int
ofd_lock(int fd, short type)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 0;
	for (;;) {
		if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EACCES)
			return 1;
		return -1;
	}
}

static void
ofd_unlock(int fd)
{
	int e = errno;

	(void)ofd_lock(fd, F_UNLCK);
	errno = e;
}

/* ---- the lock ---------------------------------------------------------- */

void
mbox_lock_init(struct mbox_lock *l, int fd, const char *path)
{
	memset(l, 0, sizeof(*l));
	l->fd = fd;
	l->dotlock = xasprintf("%s.lock", path);
	l->use_dotlock = true;
	l->timeout_ms = mbox_lock_default_timeout_ms;
}

void
mbox_lock_deinit(struct mbox_lock *l)
{
	if (l->dotlock == NULL)
		return;
	mbox_lock_release(l);
	free(l->dotlock);
	l->dotlock = NULL;
}

static void
backoff(struct mbox_lock *l, unsigned *delay)
{
	unsigned half = *delay / 2, ms = half + rand_u32() % (half + 1);
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	l->waits++;
	if (*delay < BACKOFF_MAX_MS)
		*delay = *delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
		    *delay * 2;
}

static void
explain_eacces(struct mbox_lock *l)
{
	if (prctl(PR_GET_NO_NEW_PRIVS, 0L, 0L, 0L, 0L) == 1 &&
	    helper_fd < 0)
		snprintf(l->detail, sizeof(l->detail),
			 "dotlock %s: no permission, and NO_NEW_PRIVS stops "
			 "dotlockfile(1) from gaining group mail (start "
			 "mbox_lock_helper before NO_NEW_PRIVS)", l->dotlock);
	else
		snprintf(l->detail, sizeof(l->detail),
			 "dotlock %s: no permission to create it", l->dotlock);
}

int
mbox_lock_take(struct mbox_lock *l, enum mbox_lock_mode mode)
{
	uint64_t deadline;
	unsigned delay = BACKOFF_MIN_MS;
	bool want_dot = mode == MBOX_LOCK_WRITE && l->use_dotlock;

	if (mode == MBOX_LOCK_NONE) {
		mbox_lock_release(l);
		return 0;
	}
	if (l->mode == mode)
		return 0;
	mbox_lock_release(l);
	l->detail[0] = '\0';
	deadline = mono_ms() + l->timeout_ms;
	for (;;) {
		int r = ofd_lock(l->fd, mode == MBOX_LOCK_WRITE ? F_WRLCK :
				 F_RDLCK);

		if (r < 0) {
			snprintf(l->detail, sizeof(l->detail), "fcntl: %s",
				 strerror(errno));
			return -1;
		}
		if (r == 0 && !want_dot) {
			l->mode = mode;
			return 0;
		}
		if (r == 0) {
			int e = 0;
			enum dl_result d = dl_create(l->dotlock, &e);

			if (d == DL_TAKEN) {
				l->mode = mode;
				l->dotlocked = true;
				l->touched = mono_now();
				return 0;
			}
			ofd_unlock(l->fd);
			if (d == DL_ERROR) {
				if (e == EACCES || e == EPERM || e == EROFS)
					explain_eacces(l);
				else
					snprintf(l->detail, sizeof(l->detail),
						 "dotlock %s: %s", l->dotlock,
						 strerror(e));
				errno = e == EPERM || e == EROFS ? EACCES : e;
				return -1;
			}
			snprintf(l->detail, sizeof(l->detail),
				 "dotlock %s is held", l->dotlock);
		} else {
			str_copy(l->detail, "fcntl lock is held",
				 sizeof(l->detail));
		}
		if (mono_ms() >= deadline) {
			errno = EAGAIN;
			return -1;
		}
		backoff(l, &delay);
	}
}

void
mbox_lock_touch(struct mbox_lock *l)
{
	time_t now;

	if (!l->dotlocked)
		return;
	now = mono_now();
	if (now - l->touched < MBOX_LOCK_TOUCH_SECS)
		return;
	dl_touch(l->dotlock);
	l->touched = now;
}

void
mbox_lock_release(struct mbox_lock *l)
{
	if (l->dotlocked) {
		dl_remove(l->dotlock);
		l->dotlocked = false;
	}
	if (l->mode != MBOX_LOCK_NONE) {
		ofd_unlock(l->fd);
		l->mode = MBOX_LOCK_NONE;
	}
}
