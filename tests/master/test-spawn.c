/* Tests for master/spawn.c: a spawned program is inspected from /proc
 * while it runs (/bin/sleep) or judged by its exit status and the log
 * record it left on the pipe that is its fd 2; and the argv that tells
 * a session whom to become. (The drop itself is imap's:
 * tests/imapd/test-session.c.) */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "master/spawn.h"

struct kid {
	pid_t pid;
	int logr;          /* our end of its fd 2 */
	int sock;          /* our end of its fd 3 */
	int devnull;
};

/* Starts path with the standard layout; argv[0] is the path. */
static pid_t
start(struct kid *k, const char *path, char *const argv[],
      char *const envp[], bool chdir_root, pid_t ppid)
{
	struct spawn_req rq;
	int lp[2], sv[2];

	cr_assert_eq(pipe2(lp, O_CLOEXEC), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
		     0);
	k->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	cr_assert_geq(k->devnull, 0);
	memset(&rq, 0, sizeof(rq));
	rq.path = path;
	rq.argv = argv;
	rq.envp = envp;
	rq.fds[0] = k->devnull;
	rq.fds[1] = k->devnull;
	rq.fds[2] = lp[1];
	rq.fds[3] = sv[1];
	rq.chdir_root = chdir_root;
	rq.ppid = ppid;
	k->pid = spawn_run(&rq);
	close(lp[1]);
	close(sv[1]);
	k->logr = lp[0];
	k->sock = sv[0];
	return k->pid;
}

static int
finish(struct kid *k)
{
	int st;

	cr_assert_eq(waitpid(k->pid, &st, 0), k->pid);
	close(k->logr);
	close(k->sock);
	close(k->devnull);
	return st;
}

/* Waits for the child; buf gets everything it wrote to its fd 2. */
static int
finish_log(struct kid *k, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;

	while (len < size - 1 &&
	       (n = read(k->logr, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	return finish(k);
}

/* What the child wrote to its fd 2 so far (it is still running). */
static void
peek_log(struct kid *k, char *buf, size_t size)
{
	ssize_t n;

	(void)fcntl(k->logr, F_SETFL, O_NONBLOCK);
	n = read(k->logr, buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
}

static const char *
proc_field(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[64], line[512];
	size_t nl = strlen(name);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	buf[0] = '\0';
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, name, nl) == 0 && line[nl] == ':') {
			char *v = line + nl + 1;

			size_t len;

			v += strspn(v, " \t");
			len = strcspn(v, "\n");
			while (len > 0 && (v[len - 1] == ' ' ||
					   v[len - 1] == '\t'))
				len--;
			v[len] = '\0';
			snprintf(buf, size, "%s", v);
			break;
		}
	}
	fclose(f);
	return buf;
}

/* Until the exec is complete and the program is asleep. */
static void
wait_sleeping(pid_t pid)
{
	char path[64], stat[512];
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	for (int i = 0; i < 300; i++) {
		FILE *f = fopen(path, "r");
		char *rp;

		cr_assert_not_null(f);
		if (fgets(stat, sizeof(stat), f) == NULL)
			stat[0] = '\0';
		fclose(f);
		rp = strrchr(stat, ')');
		if (strstr(stat, "(sleep)") != NULL && rp != NULL &&
		    rp[2] == 'S')
			return;
		nanosleep(&ts, NULL);
	}
	cr_assert_fail("pid %ld never got to sleep", (long)pid);
}

static void
fd_target(pid_t pid, int fd, char *buf, size_t size)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%ld/fd/%d", (long)pid, fd);
	n = readlink(path, buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
}

static void
stop(struct kid *k)
{
	(void)kill(k->pid, SIGKILL);
	(void)finish(k);
}

static void
usr1(int sig)
{
	(void)sig;
}

Test(spawn, layout_environment_signals)
{
	char *argv[] = { "sleep", "30", NULL };
	char *const keep[] = { "SPAWN_T_A", "SPAWN_T_UNSET", NULL };
	char buf[256], want[64], cwd[512], ccwd[512], path[64];
	struct sigaction sa;
	struct kid k;
	struct stat st;
	sigset_t block, now;
	unsigned long long ign, cign;
	char **envp;
	int fd, n;
	FILE *f;

	/* moatd's state: SIGPIPE ignored, a handler, signals blocked for
	 * a signalfd. */
	cr_assert_eq(setenv("SPAWN_T_A", "1", 1), 0);
	unsetenv("SPAWN_T_UNSET");
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, NULL);
	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));

	envp = spawn_env_new(keep);
	errno = EDOM;
	cr_assert_gt(start(&k, "/bin/sleep", argv, envp, false, getpid()), 0,
		     "spawn_run: %s", strerror(errno));
	cr_assert_eq(errno, EDOM, "errno after spawn_run: got %d, want %d",
		     errno, EDOM);
	spawn_env_free(&envp);
	cr_assert_null(envp);
	wait_sleeping(k.pid);

	/* Exactly 0..3: /dev/null twice, our pipe, our socket. */
	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)k.pid);
	n = 0;
	for (fd = 0; fd < 64; fd++) {
		char p[96];

		snprintf(p, sizeof(p), "%s/%d", path, fd);
		if (access(p, F_OK) == 0)
			n++;
	}
	cr_assert_eq(n, 4, "open descriptors: got %d, want 4", n);
	fd_target(k.pid, 0, buf, sizeof(buf));
	cr_assert_str_eq(buf, "/dev/null");
	fd_target(k.pid, 1, buf, sizeof(buf));
	cr_assert_str_eq(buf, "/dev/null");
	cr_assert_eq(fstat(k.logr, &st), 0);
	snprintf(want, sizeof(want), "pipe:[%lu]", (unsigned long)st.st_ino);
	fd_target(k.pid, 2, buf, sizeof(buf));
	cr_assert_str_eq(buf, want);
	fd_target(k.pid, 3, buf, sizeof(buf));
	cr_assert(strncmp(buf, "socket:", 7) == 0, "fd 3: got %s", buf);

	/* Only the kept variable that is set. */
	snprintf(path, sizeof(path), "/proc/%ld/environ", (long)k.pid);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	n = (int)fread(buf, 1, sizeof(buf), f);
	fclose(f);
	cr_assert_eq(n, 12, "environ length: got %d, want 12", n);
	cr_assert(memcmp(buf, "SPAWN_T_A=1", 12) == 0);

	cr_assert_str_eq(proc_field(k.pid, "SigBlk", buf, sizeof(buf)),
			 "0000000000000000");
	/* Ignores other than SIGPIPE are inherited, as across any exec
	 * (the test driver may have set some). */
	ign = strtoull(proc_field(getpid(), "SigIgn", buf, sizeof(buf)),
		       NULL, 16);
	cr_assert(ign & (1ULL << (SIGPIPE - 1)));
	ign &= ~(1ULL << (SIGPIPE - 1));
	cign = strtoull(proc_field(k.pid, "SigIgn", buf, sizeof(buf)), NULL,
			16);
	cr_assert_eq(cign, ign, "SigIgn: got %llx, want %llx", cign, ign);
	cr_assert_str_eq(proc_field(k.pid, "SigCgt", buf, sizeof(buf)),
			 "0000000000000000");
	snprintf(path, sizeof(path), "/proc/%ld/cwd", (long)k.pid);
	n = (int)readlink(path, ccwd, sizeof(ccwd) - 1);
	cr_assert_gt(n, 0);
	ccwd[n] = '\0';
	cr_assert_str_eq(ccwd, cwd);
	stop(&k);

	/* Ours are as they were. */
	sigprocmask(SIG_BLOCK, NULL, &now);
	cr_assert(sigismember(&now, SIGTERM) && sigismember(&now, SIGCHLD) &&
		  !sigismember(&now, SIGUSR1), "parent's mask changed");
	sigaction(SIGPIPE, NULL, &sa);
	cr_assert(sa.sa_handler == SIG_IGN, "parent's SIGPIPE changed");
	sigaction(SIGUSR1, NULL, &sa);
	cr_assert(sa.sa_handler == usr1, "parent's SIGUSR1 changed");
}

Test(spawn, exec_failure_is_logged)
{
	static const struct {
		const char *path, *want;
	} cases[] = {
		{ "/nonexistent/moat-prog", "<E>cannot execute "
		  "/nonexistent/moat-prog: No such file or directory\n" },
		/* A newline cannot start a forged record. */
		{ "/nonexistent/a\n<E>forged", "<E>cannot execute "
		  "/nonexistent/a?<E>forged: No such file or directory\n" },
		{ "/dev/null", "<E>cannot execute /dev/null: Permission "
		  "denied\n" },
	};
	char *argv[] = { "x", NULL };
	char *envp[] = { NULL };
	char log[1024];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kid k;
		int st;

		errno = EDOM;
		cr_assert_gt(start(&k, cases[i].path, argv, envp, false,
				   getpid()), 0);
		/* The child's failed execve wrote our errno (shared memory);
		 * spawn_run must put it back. */
		cr_assert_eq(errno, EDOM, "errno: got %d, want EDOM", errno);
		st = finish_log(&k, log, sizeof(log));
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 127,
			  "%s: status %#x, want exit 127", cases[i].path, st);
		cr_assert_str_eq(log, cases[i].want);
	}
}

static void
cwd_of(pid_t pid, char *buf, size_t size)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%ld/cwd", (long)pid);
	n = readlink(path, buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
}

/* A session's child leaves moatd's working directory for "/" and does
 * not try the user's home: imap enters it itself, so a hung home cannot
 * stall moatd. */
Test(spawn, leaves_cwd_for_root)
{
	char *argv[] = { "sleep", "30", NULL };
	char *envp[] = { NULL };
	char dir[] = "/tmp/moat-spawn-XXXXXX";
	char buf[512], log[1024];
	struct kid k;

	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(chdir(dir), 0);
	cr_assert_gt(start(&k, "/bin/sleep", argv, envp, true, getpid()), 0);
	wait_sleeping(k.pid);
	cwd_of(k.pid, buf, sizeof(buf));
	cr_assert_str_eq(buf, "/", "child cwd: got %s, want /", buf);
	peek_log(&k, log, sizeof(log));
	cr_assert_str_eq(log, "");
	stop(&k);
	cr_assert_eq(chdir("/"), 0);
	rmdir(dir);
}

/* A moatd that died before the death signal was armed: the child must
 * not exec. /bin/true would exit 0. */
Test(spawn, orphan_does_not_exec)
{
	char *argv[] = { "true", NULL };
	char *envp[] = { NULL };
	char log[256];
	struct kid k;
	int st;

	cr_assert_gt(start(&k, "/bin/true", argv, envp, false, getppid()), 0);
	st = finish_log(&k, log, sizeof(log));
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1,
		  "status %#x, want exit 1", st);
	cr_assert_str_eq(log, "");

	cr_assert_gt(start(&k, "/bin/true", argv, envp, false, getpid()), 0);
	st = finish_log(&k, log, sizeof(log));
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "status %#x, want exit 0", st);
}

/* Sources on 0..3 must not be overwritten before they are placed. */
Test(spawn, sources_on_low_descriptors)
{
	char *argv[] = { "sleep", "30", NULL };
	char *envp[] = { NULL };
	char buf[256], want[64];
	struct spawn_req rq;
	struct stat st;
	int lp[2], sv[2], devnull;
	pid_t pid;

	cr_assert_eq(pipe2(lp, O_CLOEXEC), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
		     0);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	/* The log pipe on 0, which /dev/null is to replace before the
	 * pipe is placed on 2. (Criterion's worker needs its 1..3.) */
	cr_assert_eq(dup3(lp[1], 0, O_CLOEXEC), 0);
	memset(&rq, 0, sizeof(rq));
	rq.path = "/bin/sleep";
	rq.argv = argv;
	rq.envp = envp;
	rq.fds[0] = devnull;
	rq.fds[1] = devnull;
	rq.fds[2] = 0;
	rq.fds[3] = sv[1];
	rq.ppid = getpid();
	pid = spawn_run(&rq);
	cr_assert_gt(pid, 0);
	wait_sleeping(pid);
	fd_target(pid, 0, buf, sizeof(buf));
	cr_assert_str_eq(buf, "/dev/null");
	fd_target(pid, 1, buf, sizeof(buf));
	cr_assert_str_eq(buf, "/dev/null");
	fstat(lp[0], &st);
	snprintf(want, sizeof(want), "pipe:[%lu]", (unsigned long)st.st_ino);
	fd_target(pid, 2, buf, sizeof(buf));
	cr_assert_str_eq(buf, want);
	fd_target(pid, 3, buf, sizeof(buf));
	cr_assert_eq(strncmp(buf, "socket:", 7), 0, "fd 3: got %s", buf);
	fd_target(pid, 4, buf, sizeof(buf));
	cr_assert_str_eq(buf, "", "fd 4 open: %s", buf);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* The ids travel in the session's argv, in the one form imap accepts
 * (imap/session.c, session_args_parse). */
Test(spawn, session_argv)
{
	static const struct {
		uid_t uid;
		gid_t gid;
		gid_t groups[3];
		size_t n;
		const char *want;
	} cases[] = {
		{ 5001, 5001, { 5001, 4242 }, 2,
		  "imap|-u|5001|-g|5001|-G|5001,4242|-p|77" },
		{ 1000, 100, { 0 }, 0, "imap|-u|1000|-g|100|-G||-p|77" },
		{ 4294967294u, 4294967294u, { 4294967294u, 1, 65534 }, 3,
		  "imap|-u|4294967294|-g|4294967294|-G|4294967294,1,65534|"
		  "-p|77" },
	};
	char *base[] = { "imap", NULL };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spawn_as as = { .user = "u", .change_ids = true,
				       .uid = cases[i].uid,
				       .gid = cases[i].gid,
				       .groups = cases[i].groups,
				       .n_groups = cases[i].n };
		char got[256] = "";
		char **argv = spawn_session_argv(base, &as, 77);

		cr_assert_not_null(argv, "case %zu: %s", i, strerror(errno));
		for (size_t j = 0; argv[j] != NULL; j++) {
			if (j > 0)
				strcat(got, "|");
			strcat(got, argv[j]);
		}
		cr_expect_str_eq(got, cases[i].want, "case %zu: got %s, want "
				 "%s", i, got, cases[i].want);
		spawn_argv_free(&argv);
		cr_assert_null(argv);
	}
}

Test(spawn, session_argv_refuses_bad_ids)
{
	gid_t g[SPAWN_GROUPS_MAX + 1];
	struct spawn_as ok = { .user = "t", .change_ids = true, .uid = 1000,
			       .gid = 1000, .groups = g, .n_groups = 1 };
	struct spawn_as as;
	char *base[] = { "imap", NULL };
	char **argv;

	for (size_t i = 0; i < SPAWN_GROUPS_MAX + 1; i++)
		g[i] = 1000;
	argv = spawn_session_argv(base, &ok, 1);
	cr_assert_not_null(argv);
	spawn_argv_free(&argv);
	for (int i = 0; i < 6; i++) {
		pid_t ppid = 1;

		as = ok;
		switch (i) {
		case 0: as.uid = (uid_t)-1; break;
		case 1: as.gid = (gid_t)-1; break;
		case 2: g[0] = (gid_t)-1; break;
		case 3: as.n_groups = SPAWN_GROUPS_MAX + 1; break;
		case 4: as.groups = NULL; break;
		case 5: ppid = 0; break;
		}
		errno = 0;
		argv = spawn_session_argv(base, &as, ppid);
		cr_expect_null(argv, "case %d: accepted", i);
		cr_expect_eq(errno, EINVAL, "case %d: errno got %d, want "
			     "EINVAL", i, errno);
		spawn_argv_free(&argv);
		g[0] = 1000;
	}
}

Test(spawn, env)
{
	char *const keep[] = { "SPAWN_T_B", "SPAWN_T_NOPE", "SPAWN_T_C",
			       NULL };
	char **env;

	setenv("SPAWN_T_B", "", 1);
	setenv("SPAWN_T_C", "x=y", 1);
	unsetenv("SPAWN_T_NOPE");
	env = spawn_env_new(keep);
	cr_assert_str_eq(env[0], "SPAWN_T_B=");
	cr_assert_str_eq(env[1], "SPAWN_T_C=x=y");
	cr_assert_null(env[2]);
	spawn_env_free(&env);

	env = spawn_env_new(NULL);
	cr_assert_null(env[0]);
	spawn_env_free(&env);
	spawn_env_free(&env);   /* NULL: a no-op */
}
