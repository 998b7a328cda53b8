/* Tests for lib/storage/mbox-lock.c: Debian Policy 11.6 locking (fcntl,
 * then a liblockfile dotlock, non-blocking with back-off) against other
 * programs holding either lock, in both orders, and liblockfile's
 * setgid helper in a root:mail 2775 spool as a real non-root user, with
 * and without PR_SET_NO_NEW_PRIVS, and what the dotlock helper refuses
 * (another account's spool file). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <lockfile.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../index/util.h"
#include "storage/mbox-lock.h"

static char *dir, *mbox, *dotlock;

static void
setup(void)
{
	int fd;

	dir = tu_tmpdir();
	mbox = tu_path(dir, "inbox");
	dotlock = tu_path(dir, "inbox.lock");
	fd = open(mbox, O_CREAT | O_RDWR, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
}

static void
teardown(void)
{
	tu_rmrf(dir);
	free(dir);
	free(mbox);
	free(dotlock);
}

TestSuite(mbox_lock, .init = setup, .fini = teardown, .timeout = 60);

static bool
exists(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0;
}

/* Whether another process could take a classic fcntl lock of type
 * type on path now (what postfix, mutt and procmail do). */
static bool
other_can_lock(const char *path, short type)
{
	pid_t pid = fork();
	int st;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd = open(path, O_RDWR);
		struct flock fl = { .l_type = type, .l_whence = SEEK_SET };

		_exit(fd >= 0 && fcntl(fd, F_SETLK, &fl) == 0 ? 0 : 1);
	}
	waitpid(pid, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* A child that holds a lock until its pipe closes. */
struct holder {
	pid_t pid;
	int ctl;   /* close to release */
};

enum hold_kind { HOLD_FCNTL, HOLD_DOTLOCK };

static struct holder
hold(enum hold_kind kind)
{
	int go[2], ready[2];
	struct holder h;
	char c;

	cr_assert_eq(pipe(go), 0);
	cr_assert_eq(pipe(ready), 0);
	h.pid = fork();
	cr_assert_geq(h.pid, 0);
	if (h.pid == 0) {
		close(go[1]);
		close(ready[0]);
		if (kind == HOLD_FCNTL) {
			int fd = open(mbox, O_RDWR);
			struct flock fl = { .l_type = F_WRLCK,
					    .l_whence = SEEK_SET };

			TU_CHECK(fd >= 0 && fcntl(fd, F_SETLK, &fl) == 0,
				 "holder fcntl: %m");
		} else {
			TU_CHECK(lockfile_create(dotlock, 0, L_PID) == 0,
				 "holder dotlock: %m");
		}
		TU_CHECK(write(ready[1], "r", 1) == 1, "ready");
		if (read(go[0], &c, 1) < 0)
			_exit(1);
		if (kind == HOLD_DOTLOCK)
			lockfile_remove(dotlock);
		_exit(0);
	}
	close(go[0]);
	close(ready[1]);
	cr_assert_eq(read(ready[0], &c, 1), 1);
	close(ready[0]);
	h.ctl = go[1];
	return h;
}

static void
unhold(struct holder *h)
{
	close(h->ctl);
	cr_assert_eq(tu_wait(h->pid, 10), 0);
}

static int
open_mbox(void)
{
	int fd = open(mbox, O_RDWR | O_CLOEXEC);

	cr_assert_geq(fd, 0);
	return fd;
}

Test(mbox_lock, write_takes_fcntl_then_dotlock_and_releases_both)
{
	struct mbox_lock l;
	int fd = open_mbox(), lfd;
	char buf[32] = { 0 };

	mbox_lock_init(&l, fd, mbox);
	cr_assert_eq(mbox_lock_take(&l, MBOX_LOCK_WRITE), 0, "%s", l.detail);
	cr_assert(exists(dotlock), "the dotlock is there while held");
	lfd = open(dotlock, O_RDONLY);
	cr_assert_geq(lfd, 0);
	cr_assert_gt(read(lfd, buf, sizeof(buf) - 1), 0);
	close(lfd);
	cr_assert_eq(atoi(buf), getpid(), "L_PID: got %s, want our pid", buf);
	cr_assert_not(other_can_lock(mbox, F_RDLCK),
		      "an fcntl reader is kept out while we write");
	/* Closing another descriptor of the file must not drop an OFD
	 * lock (it would drop a POSIX one). */
	close(open_mbox());
	cr_assert_not(other_can_lock(mbox, F_WRLCK));
	mbox_lock_release(&l);
	cr_assert_not(exists(dotlock));
	cr_assert(other_can_lock(mbox, F_WRLCK));
	mbox_lock_deinit(&l);
	close(fd);
}

Test(mbox_lock, read_lock_is_shared_and_takes_no_dotlock)
{
	struct mbox_lock a, b;
	int fa = open_mbox(), fb = open_mbox();

	mbox_lock_init(&a, fa, mbox);
	mbox_lock_init(&b, fb, mbox);
	cr_assert_eq(mbox_lock_take(&a, MBOX_LOCK_READ), 0);
	cr_assert_eq(mbox_lock_take(&b, MBOX_LOCK_READ), 0);
	cr_assert_not(exists(dotlock));
	cr_assert(other_can_lock(mbox, F_RDLCK));
	cr_assert_not(other_can_lock(mbox, F_WRLCK),
		      "an MDA cannot write while we read");
	/* Our own writer waits for our readers too (OFD locks of two
	 * descriptions conflict even in one process). */
	b.timeout_ms = 200;
	cr_assert_eq(mbox_lock_take(&b, MBOX_LOCK_WRITE), -1);
	cr_assert_eq(errno, EAGAIN);
	mbox_lock_release(&a);
	cr_assert_eq(mbox_lock_take(&b, MBOX_LOCK_WRITE), 0, "%s", b.detail);
	mbox_lock_deinit(&a);
	mbox_lock_deinit(&b);
	close(fa);
	close(fb);
}

Test(mbox_lock, fcntl_holder_gives_eagain_then_lock)
{
	struct holder h = hold(HOLD_FCNTL);
	struct mbox_lock l;
	int fd = open_mbox();

	mbox_lock_init(&l, fd, mbox);
	l.timeout_ms = 300;
	cr_assert_eq(mbox_lock_take(&l, MBOX_LOCK_WRITE), -1);
	cr_assert_eq(errno, EAGAIN);
	cr_assert(strstr(l.detail, "fcntl") != NULL, "detail: %s", l.detail);
	cr_assert_gt(l.waits, 0u, "it backed off and retried");
	cr_assert_not(exists(dotlock), "no dotlock left behind");
	unhold(&h);
	cr_assert_eq(mbox_lock_take(&l, MBOX_LOCK_WRITE), 0, "%s", l.detail);
	mbox_lock_deinit(&l);
	close(fd);
}

Test(mbox_lock, dotlock_holder_gives_eagain_and_fcntl_is_dropped)
{
	struct holder h = hold(HOLD_DOTLOCK);
	struct mbox_lock l;
	int fd = open_mbox();

	mbox_lock_init(&l, fd, mbox);
	l.timeout_ms = 300;
	cr_assert_eq(mbox_lock_take(&l, MBOX_LOCK_WRITE), -1);
	cr_assert_eq(errno, EAGAIN);
	cr_assert(strstr(l.detail, "dotlock") != NULL, "detail: %s", l.detail);
	/* Policy 11.6: the first lock is dropped when the second fails. */
	cr_assert(other_can_lock(mbox, F_WRLCK));
	cr_assert(exists(dotlock), "the holder's dotlock is not broken");
	unhold(&h);
	cr_assert_eq(mbox_lock_take(&l, MBOX_LOCK_WRITE), 0, "%s", l.detail);
	mbox_lock_deinit(&l);
	close(fd);
}

Test(mbox_lock, stale_dotlock_of_dead_pid_is_broken)
{
	struct mbox_lock l;
	int fd = open_mbox(), lfd;
	pid_t dead = fork();
	char buf[32];

	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	lfd = open(dotlock, O_CREAT | O_WRONLY, 0644);
	snprintf(buf, sizeof(buf), "%d\n", (int)dead);
	cr_assert_eq(write(lfd, buf, strlen(buf)), (ssize_t)strlen(buf));
	close(lfd);
	mbox_lock_init(&l, fd, mbox);
	l.timeout_ms = 2000;
	cr_assert_eq(mbox_lock_take(&l, MBOX_LOCK_WRITE), 0, "%s", l.detail);
	mbox_lock_deinit(&l);
	close(fd);
}

Test(mbox_lock, touch_refreshes_a_long_held_dotlock)
{
	struct mbox_lock l;
	int fd = open_mbox();
	struct timespec old[2] = { { 1000, 0 }, { 1000, 0 } };
	struct stat st;

	mbox_lock_init(&l, fd, mbox);
	cr_assert_eq(mbox_lock_take(&l, MBOX_LOCK_WRITE), 0);
	cr_assert_eq(utimensat(AT_FDCWD, dotlock, old, 0), 0);
	mbox_lock_touch(&l);   /* too soon: a no-op */
	cr_assert_eq(stat(dotlock, &st), 0);
	cr_assert_eq(st.st_mtime, 1000);
	l.touched -= MBOX_LOCK_TOUCH_SECS;
	mbox_lock_touch(&l);
	cr_assert_eq(stat(dotlock, &st), 0);
	cr_assert_gt(st.st_mtime, time(NULL) - 60);
	mbox_lock_deinit(&l);
	close(fd);
}

Test(mbox_lock, read_to_write_releases_first)
{
	struct mbox_lock l;
	int fd = open_mbox();

	mbox_lock_init(&l, fd, mbox);
	cr_assert_eq(mbox_lock_take(&l, MBOX_LOCK_READ), 0);
	cr_assert_eq(mbox_lock_take(&l, MBOX_LOCK_WRITE), 0, "%s", l.detail);
	cr_assert(exists(dotlock));
	cr_assert_eq(mbox_lock_take(&l, MBOX_LOCK_READ), 0);
	cr_assert_not(exists(dotlock));
	cr_assert(other_can_lock(mbox, F_RDLCK));
	mbox_lock_deinit(&l);
	close(fd);
}

/* Another program in a loop: exim/postfix order (dotlock first, then a
 * BLOCKING fcntl lock) or mutt order (fcntl first, blocking, then the
 * dotlock, retried). Each round writes a byte under both locks. */
struct other_args {
	bool dotlock_first;
	int rounds;
};

static void
other_locker(void *arg)
{
	const struct other_args *a = arg;
	int fd = open(mbox, O_RDWR | O_APPEND);

	TU_CHECK(fd >= 0, "open: %m");
	alarm(40);
	for (int i = 0; i < a->rounds; i++) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

		/* The pause between the two locks makes it likely that we
		 * hold the other one then: the case that deadlocks unless
		 * we let go. */
		if (a->dotlock_first) {
			while (lockfile_create(dotlock, 0, L_PID) != 0)
				usleep(1000);
			usleep(3000);
			TU_CHECK(fcntl(fd, F_SETLKW, &fl) == 0, "fcntl: %m");
		} else {
			TU_CHECK(fcntl(fd, F_SETLKW, &fl) == 0, "fcntl: %m");
			usleep(3000);
			while (lockfile_create(dotlock, 0, L_PID) != 0)
				usleep(1000);
		}
		TU_CHECK(write(fd, "o", 1) == 1, "write");
		usleep(1000);
		lockfile_remove(dotlock);
		fl.l_type = F_UNLCK;
		fcntl(fd, F_SETLK, &fl);
		usleep(500);
	}
	_exit(0);
}

static void
mixed_orders(bool dotlock_first)
{
	struct other_args a = { dotlock_first, 40 };
	struct mbox_lock l;
	int fd = open_mbox(), wfd = open(mbox, O_WRONLY | O_APPEND);
	double t0 = tu_now();
	pid_t pid = tu_fork(other_locker, &a);
	struct stat st;

	mbox_lock_init(&l, fd, mbox);
	l.timeout_ms = 20000;
	for (int i = 0; i < 40; i++) {
		cr_assert_eq(mbox_lock_take(&l, MBOX_LOCK_WRITE), 0,
			     "round %d: %s", i, l.detail);
		cr_assert_eq(write(wfd, "m", 1), 1);
		usleep(1000);
		mbox_lock_release(&l);
		usleep(500);
	}
	cr_assert_eq(tu_wait(pid, 30), 0, "the other program finished");
	cr_assert_lt(tu_now() - t0, 30.0);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq(st.st_size, 80, "every round of both wrote");
	mbox_lock_deinit(&l);
	close(fd);
	close(wfd);
}

Test(mbox_lock, no_deadlock_with_dotlock_first_blocking_writer)
{
	mixed_orders(true);
}

Test(mbox_lock, no_deadlock_with_fcntl_first_blocking_writer)
{
	mixed_orders(false);
}

/* ---- as root: the spool, a real user, liblockfile's setgid helper ---- */

struct spool {
	char *dir, *mbox, *lock;
	uid_t uid;
	gid_t gid;
};

/* <tmp>/spool, root:mail 2775 like /var/mail, with "<user>" owned by a
 * real non-root account (dotlockfile(1) uses group mail only for
 * "<mbox>.lock" when the mbox is a regular file of the caller's real
 * uid in a group-mail, group-writable directory). */
static bool
spool_setup(struct spool *sp)
{
	struct passwd *pw = getpwnam("nobody");
	struct group *gr = getgrnam("mail");
	int fd;

	if (geteuid() != 0 || pw == NULL || gr == NULL)
		return false;
	sp->uid = pw->pw_uid;
	sp->gid = pw->pw_gid;
	cr_assert_eq(chmod(dir, 0755), 0);
	sp->dir = tu_path(dir, "spool");
	cr_assert_eq(mkdir(sp->dir, 0755), 0);
	cr_assert_eq(chown(sp->dir, 0, gr->gr_gid), 0);
	cr_assert_eq(chmod(sp->dir, 02775), 0);
	sp->mbox = tu_path(sp->dir, pw->pw_name);
	if (asprintf(&sp->lock, "%s.lock", sp->mbox) < 0)
		abort();
	fd = open(sp->mbox, O_CREAT | O_RDWR, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fchown(fd, sp->uid, gr->gr_gid), 0);
	close(fd);
	return true;
}

static void
spool_free(struct spool *sp)
{
	free(sp->dir);
	free(sp->mbox);
	free(sp->lock);
}

static void
become(const struct spool *sp)
{
	TU_CHECK(setgroups(0, NULL) == 0 && setresgid(sp->gid, sp->gid,
		 sp->gid) == 0 && setresuid(sp->uid, sp->uid, sp->uid) == 0,
		 "drop: %m");
	/* As the imap session does after its drop (dumpable off). */
	TU_CHECK(prctl(PR_SET_DUMPABLE, 0L, 0L, 0L, 0L) == 0, "dumpable");
}

enum spool_case { SP_PLAIN, SP_NNP, SP_NNP_HELPER };

struct spool_args {
	struct spool *sp;
	enum spool_case c;
	int report;    /* pipe: the child writes its result here */
};

static void
spool_child(void *arg)
{
	struct spool_args *a = arg;
	struct mbox_lock l;
	struct stat st;
	int fd, r, e;
	char line[256];

	become(a->sp);
	if (a->c == SP_NNP_HELPER)
		TU_CHECK(mbox_lock_helper_start() == 0, "helper: %m");
	if (a->c != SP_PLAIN)
		TU_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) == 0,
			 "nnp");
	fd = open(a->sp->mbox, O_RDWR | O_CLOEXEC);
	TU_CHECK(fd >= 0, "open as user: %m");
	TU_CHECK(access(a->sp->dir, W_OK) != 0, "the spool is not ours");
	mbox_lock_init(&l, fd, a->sp->mbox);
	l.timeout_ms = 2000;
	r = mbox_lock_take(&l, MBOX_LOCK_WRITE);
	e = errno;
	snprintf(line, sizeof(line), "%d %d %d %s", r, e,
		 stat(a->sp->lock, &st) == 0 ? (int)st.st_uid : -1, l.detail);
	TU_CHECK(write(a->report, line, strlen(line)) > 0, "report");
	close(a->report);
	if (a->c == SP_NNP_HELPER && r == 0)
		pause();   /* killed by the test while holding the lock */
	mbox_lock_deinit(&l);
	TU_CHECK(stat(a->sp->lock, &st) != 0, "released");
	_exit(0);
}

static void
spool_run(struct spool *sp, enum spool_case c, char *out, size_t cap,
	  pid_t *pidp)
{
	int p[2];
	struct spool_args a = { sp, c, -1 };
	ssize_t n;

	cr_assert_eq(pipe(p), 0);
	a.report = p[1];
	*pidp = tu_fork(spool_child, &a);
	close(p[1]);
	n = read(p[0], out, cap - 1);
	close(p[0]);
	cr_assert_gt(n, 0, "the child reported");
	out[n] = '\0';
}

Test(mbox_lock, spool_dotlock_through_setgid_helper_as_user)
{
	struct spool sp;
	char out[256];
	pid_t pid;
	int r, e, owner;

	if (!spool_setup(&sp))
		cr_skip_test("needs root and the nobody user and mail group");
	spool_run(&sp, SP_PLAIN, out, sizeof(out), &pid);
	cr_assert_eq(sscanf(out, "%d %d %d", &r, &e, &owner), 3);
	cr_assert_eq(r, 0, "locked through dotlockfile(1): %s", out);
	cr_assert_eq(owner, (int)sp.uid, "the lock belongs to the user");
	cr_assert_eq(tu_wait(pid, 10), 0);
	cr_assert_not(exists(sp.lock));
	spool_free(&sp);
}

Test(mbox_lock, spool_dotlock_under_no_new_privs_fails_clearly)
{
	struct spool sp;
	char out[256];
	pid_t pid;
	int r, e, owner;

	if (!spool_setup(&sp))
		cr_skip_test("needs root and the nobody user and mail group");
	spool_run(&sp, SP_NNP, out, sizeof(out), &pid);
	cr_assert_eq(sscanf(out, "%d %d %d", &r, &e, &owner), 3);
	cr_assert_eq(r, -1, "NO_NEW_PRIVS: the setgid helper gains no group");
	cr_assert_eq(e, EACCES, "%s", out);
	cr_assert(strstr(out, "NO_NEW_PRIVS") != NULL, "says why: %s", out);
	cr_assert_eq(owner, -1);
	cr_assert_eq(tu_wait(pid, 10), 0);
	spool_free(&sp);
}

Test(mbox_lock, spool_dotlock_under_no_new_privs_with_helper)
{
	struct spool sp;
	char out[256];
	pid_t pid;
	int r, e, owner;
	double end;

	if (!spool_setup(&sp))
		cr_skip_test("needs root and the nobody user and mail group");
	spool_run(&sp, SP_NNP_HELPER, out, sizeof(out), &pid);
	cr_assert_eq(sscanf(out, "%d %d %d", &r, &e, &owner), 3);
	cr_assert_eq(r, 0, "the helper started before NO_NEW_PRIVS locks: %s",
		     out);
	cr_assert_eq(owner, (int)sp.uid);
	/* A session killed while holding it: the helper sees its end of
	 * the socket close and removes the dotlock. */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	end = tu_now() + 10;
	while (exists(sp.lock) && tu_now() < end)
		usleep(5000);
	cr_assert_not(exists(sp.lock), "the helper cleaned up");
	spool_free(&sp);
}

/* What the helper grants is what dotlockfile(1) grants the user from a
 * shell: a dotlock for its own mbox, not for another account's spool
 * file, even one the user can open for writing. */
static void
other_child(void *arg)
{
	struct spool *sp = arg;
	struct mbox_lock l;
	char *other = tu_path(sp->dir, "other");
	int fd;

	become(sp);
	TU_CHECK(mbox_lock_helper_start() == 0, "helper: %m");
	TU_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) == 0, "nnp");
	fd = open(other, O_RDWR | O_CLOEXEC);
	TU_CHECK(fd >= 0, "open: %m");
	mbox_lock_init(&l, fd, other);
	l.timeout_ms = 1000;
	TU_CHECK(mbox_lock_take(&l, MBOX_LOCK_WRITE) < 0 && errno == EACCES,
		 "another account's dotlock was granted");
	TU_CHECK(access(l.dotlock, F_OK) != 0, "no lock file made");
	/* Our own still works through the same helper. */
	mbox_lock_deinit(&l);
	close(fd);
	fd = open(sp->mbox, O_RDWR | O_CLOEXEC);
	TU_CHECK(fd >= 0, "open own: %m");
	mbox_lock_init(&l, fd, sp->mbox);
	TU_CHECK(mbox_lock_take(&l, MBOX_LOCK_WRITE) == 0, "own: %s",
		 l.detail);
	mbox_lock_deinit(&l);
	close(fd);
	mbox_lock_helper_stop();
	free(other);
	_exit(0);
}

Test(mbox_lock, spool_helper_refuses_another_accounts_dotlock)
{
	struct spool sp;
	char *other;
	int fd;

	if (!spool_setup(&sp))
		cr_skip_test("needs root and the nobody user and mail group");
	other = tu_path(sp.dir, "other");
	fd = open(other, O_CREAT | O_RDWR, 0666);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fchown(fd, 0, getgrnam("mail")->gr_gid), 0);
	cr_assert_eq(fchmod(fd, 0666), 0);
	close(fd);
	cr_assert_eq(tu_wait(tu_fork(other_child, &sp), 10), 0);
	cr_assert_not(exists(sp.lock));
	free(other);
	spool_free(&sp);
}
