/*
 * spawn: starting moatd's children with clone(CLONE_VM | CLONE_VFORK)
 * instead of fork().
 *
 * Why: fork() copies moatd's page tables, and then moatd and the child
 * take a copy-on-write fault on every page either of them writes before
 * the exec, so a fork costs more the more memory moatd holds, and moatd
 * holds a table entry for every connection and session. Profiling the
 * login benchmark showed the fork of moatd as a large share of a login;
 * fork+exec of imap from an 8 MB process measured 772 us, vfork+exec
 * 407 us. A child that borrows moatd's memory until it execs costs the
 * same whatever moatd's size.
 *
 * The price is discipline in the child. It runs on a stack of its own
 * but in moatd's address space, while moatd waits (CLONE_VFORK) until it
 * execs or exits, so it must not change anything moatd relies on: no
 * malloc, no stdio, no log_*, no snprintf, no locks, no libc wrapper
 * that keeps state or is intercepted (setresuid's broadcast to other
 * threads, sigaction, _exit's sanitizer hooks). It makes raw system
 * calls through syscall(2) and nothing else; its only write to shared
 * memory is errno (moatd's), which spawn_run restores. Everything it
 * needs is prepared by the parent: the absolute path, argv, the cleaned
 * envp, the descriptors (all >= 4, so placing them on 0..3 cannot
 * clobber a source), the text of every errno. Its log records
 * ("<E>...", "<W>...") are assembled in a buffer on its own stack and
 * written to the log pipe with one write().
 *
 * Signals: spawn_run blocks every signal around clone(), so the child
 * starts with all of them blocked. It resets to SIG_DFL each signal
 * moatd catches (a handler would run against moatd's data) and SIGPIPE
 * (ignored in moatd; an ignore survives exec), and unblocks everything
 * just before execve. Without CLONE_SIGHAND the dispositions it changes
 * are its own copy.
 *
 * moatd waits while the child runs, so the child must do nothing that
 * anyone but root can hold up. It does not enter the user's home (a
 * hung network file system; imap does that), and it changes no ids:
 * the kernel lets a process signal any process whose real or saved uid
 * is its own, so a child that took the user's ids before its exec could
 * be sent SIGSTOP by any process of that user, and moatd, waiting in
 * clone(), would be stuck with it: in uninterruptible sleep, serving
 * nobody, deaf to SIGTERM (issue 5). The child execs imap as root and
 * imap drops to the user as its first act, when moatd waits for
 * nothing; the ids travel in imap's argv, which moatd builds
 * (spawn_session_argv) and imap checks (imap/session.c).
 *
 * Callers: children.c (child_spawn).
 * Trust: the request is built by moatd from its config and from auth's
 * user record, which session.c checked; imap checks the ids again and
 * verifies that the drop took.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"
#include "master/spawn.h"

/* The child needs little: its frames and one log record. */
#define SPAWN_STACK_SIZE (64 * 1024)
/* Linux's errno values end at EHWPOISON (133). */
#define SPAWN_ERRTAB_N 134
/* The kernel's sigset_t, which rt_sigprocmask and rt_sigaction want
 * the size of: 64 signals on most architectures, 128 on MIPS. */
#define SPAWN_KSIGSET_BYTES ((_NSIG - 1) / 8)

/* Code that runs in the child: no sanitizer instrumentation, whose
 * shadow memory and reports belong to moatd. */
#if defined(__has_attribute)
#if __has_attribute(no_sanitize)
#define SPAWN_CHILD __attribute__((no_sanitize("address", "undefined")))
#endif
#endif
#ifndef SPAWN_CHILD
#define SPAWN_CHILD
#endif

/* Set up once by spawn_init; the child only reads them. */
static char *spawn_stack_top;
static char *spawn_errtab[SPAWN_ERRTAB_N];
static uint64_t spawn_sig_reset;    /* bit sig-1: reset to SIG_DFL */
static sigset_t spawn_nomask;
/* A kernel struct sigaction of zeros is SIG_DFL, no flags, no mask,
 * whatever the architecture's field order. */
static const unsigned long spawn_sa_dfl[16];

/* Read by the child, on the parent's stack while the child runs. */
struct spawn_ctx {
	const struct spawn_req *rq;
	int src[4];
};

/* ---- in the child: raw system calls only ---- */

struct spawn_rec {
	char b[LOG_LINE_MAX];
	size_t len;
};

static SPAWN_CHILD __attribute__((noreturn)) void
sc_exit(int code)
{
	/* Not _exit(): sanitizers hook it to run their exit-time checks. */
	for (;;)
		(void)syscall(SYS_exit_group, code);
}

static SPAWN_CHILD void
rec_str(struct spawn_rec *r, const char *s)
{
	/* One byte stays free for the newline. A control character would
	 * end the record early or start a forged one. */
	for (; s != NULL && *s != '\0' && r->len < sizeof(r->b) - 1; s++) {
		unsigned char c = (unsigned char)*s;

		r->b[r->len++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
}

static SPAWN_CHILD void
rec_start(struct spawn_rec *r, char level, const char *text)
{
	r->b[0] = '<';
	r->b[1] = level;
	r->b[2] = '>';
	r->len = 3;
	rec_str(r, text);
}

static SPAWN_CHILD void
rec_uint(struct spawn_rec *r, unsigned long v)
{
	char d[24];
	size_t n = 0;

	do {
		d[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	while (n > 0 && r->len < sizeof(r->b) - 1)
		r->b[r->len++] = d[--n];
}

static SPAWN_CHILD void
rec_err(struct spawn_rec *r, int e)
{
	if (e > 0 && e < SPAWN_ERRTAB_N && spawn_errtab[e] != NULL) {
		rec_str(r, spawn_errtab[e]);
	} else {
		rec_str(r, "error ");
		rec_uint(r, (unsigned long)e);
	}
}

static SPAWN_CHILD void
rec_send(int fd, struct spawn_rec *r)
{
	/* One write: a pipe write up to PIPE_BUF is atomic. */
	r->b[r->len++] = '\n';
	while (syscall(SYS_write, fd, r->b, r->len) < 0 && errno == EINTR)
		;
}

/* "<E>" text arg ": " strerror(e), then exit. */
static SPAWN_CHILD __attribute__((noreturn)) void
sc_fail(int logfd, int code, const char *text, const char *arg, int e)
{
	struct spawn_rec r;

	rec_start(&r, 'E', text);
	rec_str(&r, arg);
	rec_str(&r, ": ");
	rec_err(&r, e);
	rec_send(logfd, &r);
	sc_exit(code);
}

static SPAWN_CHILD void
sc_close_from(int lowfd)
{
	uint64_t lim[2];
	uint64_t max = 1048576;

#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned int)lowfd, ~0U, 0U) == 0)
		return;
#endif
	/* Kernels before 5.9: one by one up to the descriptor limit,
	 * capped so a huge limit cannot stall moatd, which is waiting. */
	if (syscall(SYS_prlimit64, 0L, (long)RLIMIT_NOFILE, NULL, lim) == 0 &&
	    lim[0] < max)
		max = lim[0];
	for (uint64_t fd = (uint64_t)lowfd; fd < max; fd++)
		(void)syscall(SYS_close, (long)fd);
}

static SPAWN_CHILD int
spawn_child(void *arg)
{
	const struct spawn_ctx *x = arg;
	const struct spawn_req *rq = x->rq;

	/* Every signal is blocked (spawn_run); no handler of moatd's may
	 * run here once they are unblocked. */
	for (int sig = 1; sig <= 64 && sig < _NSIG; sig++) {
		if ((spawn_sig_reset & ((uint64_t)1 << (sig - 1))) != 0)
			(void)syscall(SYS_rt_sigaction, (long)sig, spawn_sa_dfl,
				      NULL, (long)SPAWN_KSIGSET_BYTES);
	}

	/* The sources are >= 4, so no dup3 overwrites one still to be
	 * placed; dup3 clears close-on-exec on the copy. Until fd 2 is the
	 * log pipe, errors go to the pipe's original descriptor. */
	for (int i = 0; i < 4; i++) {
		if (syscall(SYS_dup3, (long)x->src[i], (long)i, 0L) < 0)
			sc_fail(x->src[2], 126, "cannot set up descriptors",
				NULL, errno);
	}
	sc_close_from(4);

	/* moatd's working directory is none of a session's business; the
	 * session enters the user's home itself (imap/session.c). */
	if (rq->chdir_root && syscall(SYS_chdir, "/") < 0)
		sc_fail(2, 1, "cannot change to /", NULL, errno);

	/* A session re-arms it after its own drop, which clears it. */
	if (syscall(SYS_prctl, (long)PR_SET_PDEATHSIG, (long)SIGTERM, 0L, 0L,
		    0L) < 0)
		sc_fail(2, 1, "prctl(PR_SET_PDEATHSIG)", NULL, errno);
	if (syscall(SYS_getppid) != (long)rq->ppid)
		sc_exit(1); /* moatd died before the death signal was armed */

	(void)syscall(SYS_rt_sigprocmask, (long)SIG_SETMASK, &spawn_nomask,
		      NULL, (long)SPAWN_KSIGSET_BYTES);
	(void)syscall(SYS_execve, rq->path, rq->argv, rq->envp);
	sc_fail(2, 127, "cannot execute ", rq->path, errno);
}

/* ---- in moatd ---- */

static int
spawn_init(void)
{
	static bool done;
	long page;
	char *p;

	if (done)
		return 0;
	page = sysconf(_SC_PAGESIZE);
	if (page <= 0)
		page = 4096;
	/* One stack for every child: CLONE_VFORK means the previous child
	 * has left it (exec or exit) before the next one starts. A guard
	 * page below makes an overflow fault instead of scribbling. */
	p = mmap(NULL, SPAWN_STACK_SIZE + (size_t)page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	if (mprotect(p, (size_t)page, PROT_NONE) < 0) {
		int e = errno;

		(void)munmap(p, SPAWN_STACK_SIZE + (size_t)page);
		errno = e;
		return -1;
	}
	/* The top of the mapping: 16-byte aligned, as every ABI wants. */
	spawn_stack_top = p + page + SPAWN_STACK_SIZE;

	/* The child cannot call strerror (locale, static buffers). */
	for (int e = 1; e < SPAWN_ERRTAB_N; e++)
		spawn_errtab[e] = xstrdup(strerror(e));

	/* moatd sets its dispositions at start-up (SIGPIPE ignored, the
	 * rest through signalfd; sanitizers before main) and never after,
	 * so they are read once rather than on every spawn, where the 64
	 * sigaction calls would cost about as much as the saving of a
	 * small moatd. */
	for (int sig = 1; sig <= 64 && sig < _NSIG; sig++) {
		struct sigaction sa;

		if (sig == SIGKILL || sig == SIGSTOP ||
		    sigaction(sig, NULL, &sa) < 0)
			continue;
		if ((sa.sa_flags & SA_SIGINFO) != 0 ||
		    (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN))
			spawn_sig_reset |= (uint64_t)1 << (sig - 1);
	}
	spawn_sig_reset |= (uint64_t)1 << (SIGPIPE - 1);
	sigemptyset(&spawn_nomask);
	done = true;
	return 0;
}

pid_t
spawn_run(const struct spawn_req *rq)
{
	struct spawn_ctx x;
	int own[4] = { -1, -1, -1, -1 };
	sigset_t all, old;
	int saved = errno, e;
	pid_t pid;

	if (spawn_init() < 0)
		return -1;
	x.rq = rq;
	for (int i = 0; i < 4; i++) {
		x.src[i] = rq->fds[i];
		if (x.src[i] >= 4)
			continue;
		/* On 0..3 a source could be overwritten before its turn,
		 * and dup3 onto itself fails: place a copy above. */
		own[i] = fcntl(rq->fds[i], F_DUPFD_CLOEXEC, 4);
		if (own[i] < 0) {
			e = errno;
			for (int j = 0; j < i; j++)
				if (own[j] >= 0)
					close(own[j]);
			errno = e;
			return -1;
		}
		x.src[i] = own[i];
	}

	memset(&all, 0xff, sizeof(all));
	sigemptyset(&old);
	(void)syscall(SYS_rt_sigprocmask, (long)SIG_SETMASK, &all, &old,
		      (long)SPAWN_KSIGSET_BYTES);
	pid = clone(spawn_child, spawn_stack_top,
		    CLONE_VM | CLONE_VFORK | SIGCHLD, &x);
	e = errno;
	(void)syscall(SYS_rt_sigprocmask, (long)SIG_SETMASK, &old, NULL,
		      (long)SPAWN_KSIGSET_BYTES);
	for (int i = 0; i < 4; i++)
		if (own[i] >= 0)
			close(own[i]);
	/* The child's failed calls wrote moatd's errno. */
	errno = pid < 0 ? e : saved;
	return pid;
}

char **
spawn_env_new(char *const *keep)
{
	size_t n = 0, k = 0;
	char **env;

	while (keep != NULL && keep[n] != NULL)
		n++;
	env = xcalloc(n + 1, sizeof(*env));
	for (size_t i = 0; i < n; i++) {
		const char *name = keep[i], *v;
		bool seen = false;

		/* As setenv would refuse them. */
		if (*name == '\0' || strchr(name, '=') != NULL)
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(keep[j], name) == 0;
		if (seen || (v = getenv(name)) == NULL)
			continue;
		env[k++] = xasprintf("%s=%s", name, v);
	}
	return env;
}

void
spawn_env_free(char ***envp)
{
	char **env = *envp;

	if (env == NULL)
		return;
	for (size_t i = 0; env[i] != NULL; i++)
		free(env[i]);
	free(env);
	*envp = NULL;
}

char **
spawn_session_argv(char *const *base, const struct spawn_as *as, pid_t ppid)
{
	/* Each group at most 10 digits and a comma. */
	struct buf *groups = buf_new(SPAWN_GROUPS_MAX * 11 + 1);
	size_t n = 0, k;
	char **argv;

	/* (uid_t)-1 would mean "leave unchanged" to setresuid. */
	if (as->uid == (uid_t)-1 || as->gid == (gid_t)-1 ||
	    as->n_groups > SPAWN_GROUPS_MAX ||
	    (as->n_groups > 0 && as->groups == NULL) || ppid <= 0) {
		buf_free(&groups);
		errno = EINVAL;
		return NULL;
	}
	for (size_t i = 0; i < as->n_groups; i++) {
		if (as->groups[i] == (gid_t)-1 ||
		    buf_printf(groups, i == 0 ? "%lu" : ",%lu",
			       (unsigned long)as->groups[i]) < 0) {
			buf_free(&groups);
			errno = EINVAL;
			return NULL;
		}
	}
	while (base[n] != NULL)
		n++;
	argv = xcalloc(n + 9, sizeof(*argv));
	for (k = 0; k < n; k++)
		argv[k] = xstrdup(base[k]);
	argv[k++] = xstrdup("-u");
	argv[k++] = xasprintf("%lu", (unsigned long)as->uid);
	argv[k++] = xstrdup("-g");
	argv[k++] = xasprintf("%lu", (unsigned long)as->gid);
	argv[k++] = xstrdup("-G");
	argv[k++] = xstrdup(buf_str(groups));
	argv[k++] = xstrdup("-p");
	argv[k++] = xasprintf("%ld", (long)ppid);
	buf_free(&groups);
	return argv;
}

void
spawn_argv_free(char ***argvp)
{
	char **argv = *argvp;

	if (argv == NULL)
		return;
	for (size_t i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
	*argvp = NULL;
}
