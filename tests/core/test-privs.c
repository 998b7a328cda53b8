/* Tests for lib/core/privs.c. Privilege changes run in a fork()ed child
 * that reports failures over a pipe, so the test process keeps its ids.
 * As root both the real drop and the unprivileged error paths are
 * tested (the latter after dropping to nobody in a child); as non-root
 * only the error paths can run and the root-only tests are skipped. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/privs.h"

extern char **environ;

static int report_fd = -1;

/* In the child: report a failure and exit. */
static void __attribute__((format(printf, 1, 2), noreturn))
child_fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n > 0)
		(void)!write(report_fd, msg, (size_t)n < sizeof(msg) ?
			     (size_t)n : sizeof(msg) - 1);
	_exit(1);
}

#define CHECK(cond, ...) do { if (!(cond)) child_fail(__VA_ARGS__); } while (0)

/* Runs fn(arg) in a child; the test fails with the child's message. */
static void
in_child(void (*fn)(void *), void *arg)
{
	int p[2], st;
	char msg[512];
	ssize_t n;
	pid_t pid;

	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(p[0]);
		report_fd = p[1];
		fn(arg);
		_exit(0);
	}
	close(p[1]);
	n = read(p[0], msg, sizeof(msg) - 1);
	close(p[0]);
	msg[n > 0 ? n : 0] = '\0';
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "child failed (status %#x): %s", st, msg);
}

static void
need_root(void)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to change uid/gid or chroot");
}

static void
nobody(uid_t *uid, gid_t *gid)
{
	cr_assert_eq(privs_lookup_user("nobody", uid, gid), 0,
		     "user nobody missing");
	cr_assert_neq(*uid, 0);
}

static void
check_ids(uid_t uid, gid_t gid)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	getresuid(&ru, &eu, &su);
	getresgid(&rg, &eg, &sg);
	CHECK(ru == uid && eu == uid && su == uid,
	      "uids %d/%d/%d, want all %d", ru, eu, su, uid);
	CHECK(rg == gid && eg == gid && sg == gid,
	      "gids %d/%d/%d, want all %d", rg, eg, sg, gid);
	CHECK(setuid(0) == -1, "setuid(0) succeeded after drop");
	CHECK(seteuid(0) == -1, "seteuid(0) succeeded after drop");
	CHECK(setgid(0) == -1, "setgid(0) succeeded after drop");
}

/* Supplementary groups must be exactly {gid} or empty. */
static void
check_only_group(gid_t gid)
{
	gid_t g[64];
	int n = getgroups(64, g);

	CHECK(n >= 0 && n <= 1, "%d supplementary groups, want <= 1", n);
	CHECK(n == 0 || g[0] == gid, "group %d kept, want only %d", g[0], gid);
}

Test(privs, lookup_user)
{
	uid_t uid = 1;
	gid_t gid = 1;

	cr_assert_eq(privs_lookup_user("root", &uid, &gid), 0);
	cr_assert_eq(uid, 0, "root uid: got %d", uid);
	cr_assert_eq(gid, 0, "root gid: got %d", gid);
	errno = 0;
	cr_assert_eq(privs_lookup_user("moat-no-such-user-x", &uid, &gid), -1);
	cr_assert_eq(errno, ENOENT, "errno: got %d, want ENOENT", errno);
	cr_assert_eq(privs_lookup_user("", &uid, &gid), -1);
	cr_assert_eq(privs_lookup_user(NULL, &uid, &gid), -1);
}

Test(privs, getpwnam)
{
	struct passwd pw;
	char *buf = (char *)1;
	int r;

	r = privs_getpwnam("root", &pw, &buf);
	cr_assert_eq(r, 1, "root: got %d, want 1", r);
	cr_assert_not_null(buf);
	cr_assert_eq(pw.pw_uid, 0, "root uid: got %d, want 0", (int)pw.pw_uid);
	cr_assert_str_eq(pw.pw_name, "root");
	cr_assert_not_null(pw.pw_dir);
	free(buf);
	buf = (char *)1;
	r = privs_getpwnam("moat-no-such-user-x", &pw, &buf);
	cr_assert_eq(r, 0, "unknown user: got %d, want 0", r);
	cr_assert_null(buf, "buffer must be NULL when nothing was found");
}

/* The descriptors from lowfd up are closed, those below stay open. */
Test(privs, close_from)
{
	pid_t pid = fork();
	int st;

	cr_assert_neq(pid, -1, "fork: %s", strerror(errno));
	if (pid == 0) {
		int a = open("/dev/null", O_RDONLY);
		int b = open("/dev/null", O_RDONLY);
		int hi = dup2(a, 200);

		if (a < 0 || b < 0 || b <= a || hi != 200)
			_exit(2);
		privs_close_from(b);
		if (fcntl(a, F_GETFD) < 0)
			_exit(3);
		if (fcntl(b, F_GETFD) >= 0 || errno != EBADF)
			_exit(4);
		if (fcntl(200, F_GETFD) >= 0 || errno != EBADF)
			_exit(5);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "child: got status %d, want exit 0 (2 setup, 3 low fd "
		  "closed, 4/5 high fd left open)", st);
}

Test(privs, are_root)
{
	cr_assert_eq(privs_are_root(), geteuid() == 0);
}

struct drop_arg {
	const char *user;
	uid_t uid;
	gid_t gid;
};

static void
do_drop_initgroups(void *a)
{
	struct drop_arg *d = a;
	gid_t extra[2] = { 0, 4 };   /* root and adm: must not survive */
	gid_t g[64];
	int n;

	CHECK(setgroups(2, extra) == 0, "setup setgroups: %s", strerror(errno));
	CHECK(privs_drop(d->user, d->uid, d->gid) == 0, "privs_drop: %s",
	      strerror(errno));
	check_ids(d->uid, d->gid);
	n = getgroups(64, g);
	for (int i = 0; i < n; i++)
		CHECK(g[i] != 0 && g[i] != 4, "supplementary group %d kept", g[i]);
}

Test(privs, drop_to_nobody_with_initgroups)
{
	struct drop_arg d = { "nobody", 0, 0 };

	need_root();
	nobody(&d.uid, &d.gid);
	in_child(do_drop_initgroups, &d);
}

static void
do_drop_nouser(void *a)
{
	struct drop_arg *d = a;
	gid_t extra[2] = { 0, 4 };

	CHECK(setgroups(2, extra) == 0, "setup setgroups: %s", strerror(errno));
	CHECK(privs_drop(d->user, d->uid, d->gid) == 0, "privs_drop: %s",
	      strerror(errno));
	check_ids(d->uid, d->gid);
	check_only_group(d->gid);
}

Test(privs, drop_without_user_keeps_no_groups)
{
	/* A uid/gid with no passwd entry at all: virtual users. */
	struct drop_arg d = { NULL, 54321, 54322 };

	need_root();
	in_child(do_drop_nouser, &d);
}

Test(privs, drop_with_name_unknown_to_nss)
{
	/* auth may know a user (passwd-file) that NSS does not. */
	struct drop_arg d = { "moat-virtual-user-xyz", 54323, 54324 };

	need_root();
	in_child(do_drop_nouser, &d);
}

static void
do_nonroot_paths(void *a)
{
	const char *dir = a;
	uid_t nu;
	gid_t ng;

	if (geteuid() == 0) {
		/* Become an ordinary user first. */
		CHECK(privs_lookup_user("nobody", &nu, &ng) == 0, "no nobody");
		CHECK(setgroups(1, &ng) == 0 && setresgid(ng, ng, ng) == 0 &&
		      setresuid(nu, nu, nu) == 0, "setup drop: %s",
		      strerror(errno));
	}
	errno = 0;
	CHECK(privs_drop(NULL, 0, 0) == -1, "drop to root allowed as non-root");
	CHECK(errno == EPERM, "privs_drop errno %d, want EPERM", errno);
	errno = 0;
	CHECK(privs_drop(NULL, getuid() + 1, getgid() + 1) == -1,
	      "drop to another uid allowed as non-root");
	/* A directory we own is refused before chroot is even tried. */
	errno = 0;
	CHECK(privs_chroot(dir) == -1, "chroot to own dir succeeded");
	CHECK(errno == EPERM, "privs_chroot errno %d, want EPERM", errno);
	/* A correct root-owned directory still fails: not root. */
	errno = 0;
	CHECK(privs_chroot("/") == -1, "chroot as non-root succeeded");
	CHECK(!privs_are_root(), "privs_are_root true after drop");
}

Test(privs, nonroot_error_paths)
{
	char dir[] = "/tmp/moat-privs-XXXXXX";
	uid_t nu;
	gid_t ng;

	cr_assert_not_null(mkdtemp(dir));
	if (geteuid() == 0) {
		nobody(&nu, &ng);
		cr_assert_eq(chown(dir, nu, ng), 0);
	}
	in_child(do_nonroot_paths, dir);
	rmdir(dir);
}

static void
do_chroot(void *a)
{
	const char *dir = a;
	char cwd[256];

	CHECK(privs_chroot(dir) == 0, "privs_chroot: %s", strerror(errno));
	CHECK(access("/moat-marker", F_OK) == 0, "marker not at / after chroot");
	CHECK(getcwd(cwd, sizeof(cwd)) != NULL && strcmp(cwd, "/") == 0,
	      "cwd is not /");
	CHECK(access("/etc/passwd", F_OK) != 0, "still sees the real /etc");
}

Test(privs, chroot_good_dir)
{
	char dir[] = "/tmp/moat-chroot-XXXXXX", marker[64];
	int fd;

	need_root();
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(chmod(dir, 0755), 0);
	snprintf(marker, sizeof(marker), "%s/moat-marker", dir);
	fd = open(marker, O_CREAT | O_WRONLY, 0600);
	close(fd);
	in_child(do_chroot, dir);
	unlink(marker);
	rmdir(dir);
}

Test(privs, chroot_refuses_unsafe_dirs)
{
	char dir[] = "/tmp/moat-chroot-XXXXXX", path[80], link[80];
	static const mode_t bad_modes[] = { 0775, 0757, 0777, 01777, 0720 };
	uid_t nu;
	gid_t ng;
	int fd;

	need_root();
	cr_assert_not_null(mkdtemp(dir));
	for (size_t i = 0; i < sizeof(bad_modes) / sizeof(bad_modes[0]); i++) {
		cr_assert_eq(chmod(dir, bad_modes[i]), 0);
		errno = 0;
		cr_assert_eq(privs_chroot(dir), -1, "mode %o accepted",
			     bad_modes[i]);
		cr_assert_eq(errno, EPERM, "mode %o: errno %d, want EPERM",
			     bad_modes[i], errno);
	}
	/* Owned by someone else than root, even with a safe mode. */
	cr_assert_eq(chmod(dir, 0755), 0);
	nobody(&nu, &ng);
	cr_assert_eq(chown(dir, nu, 0), 0);
	errno = 0;
	cr_assert_eq(privs_chroot(dir), -1, "non-root owner accepted");
	cr_assert_eq(errno, EPERM);
	cr_assert_eq(chown(dir, 0, 0), 0);

	/* A symlink to a good directory: lstat sees a link, not a dir. */
	snprintf(link, sizeof(link), "%s-link", dir);
	cr_assert_eq(symlink(dir, link), 0);
	errno = 0;
	cr_assert_eq(privs_chroot(link), -1, "symlink accepted");
	cr_assert_eq(errno, ENOTDIR, "symlink errno %d, want ENOTDIR", errno);
	unlink(link);

	/* A regular file. */
	snprintf(path, sizeof(path), "%s/file", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	errno = 0;
	cr_assert_eq(privs_chroot(path), -1);
	cr_assert_eq(errno, ENOTDIR, "file errno %d, want ENOTDIR", errno);
	unlink(path);

	errno = 0;
	cr_assert_eq(privs_chroot("/nonexistent/moat/empty"), -1);
	cr_assert_eq(errno, ENOENT);
	rmdir(dir);
}

static size_t
env_count(void)
{
	size_t n = 0;

	while (environ != NULL && environ[n] != NULL)
		n++;
	return n;
}

Test(privs, clean_env_keeps_listed)
{
	static const char *const keep[] = { "TZ", "MOAT_MISSING", NULL };

	setenv("TZ", "UTC", 1);
	setenv("LD_PRELOAD", "/tmp/evil.so", 1);
	setenv("MOAT_OTHER", "x", 1);
	privs_clean_env(keep);
	cr_assert_str_eq(getenv("TZ"), "UTC");
	cr_assert_null(getenv("LD_PRELOAD"), "LD_PRELOAD survived");
	cr_assert_null(getenv("MOAT_OTHER"));
	cr_assert_null(getenv("MOAT_MISSING"));
	cr_assert_eq(env_count(), 1, "environment has %zu entries, want 1",
		     env_count());
}

Test(privs, clean_env_null_clears_all)
{
	setenv("TZ", "UTC", 1);
	setenv("PATH", "/bin", 1);
	privs_clean_env(NULL);
	cr_assert_eq(env_count(), 0, "environment has %zu entries, want 0",
		     env_count());
}
