/* Tests for imap-login/sandbox-policy.c: doc/design.md lists exactly
 * the rules the code installs, the descriptor budget follows the
 * config, and under the real filter what imap-login does works while
 * what an attacker would try kills the process. Each confined case runs
 * in a fork()ed child and is judged by how it ended (exit 0: all
 * allowed calls worked; SIGSYS: killed by the filter; another exit code
 * names the failed step). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "sandbox-policy.h"

#define DIE(code) syscall(SYS_exit_group, (code))

/* ---- doc/design.md -------------------------------------------------- */

static char *
read_design(void)
{
	FILE *f = fopen(TOP_SRCDIR "/doc/design.md", "r");
	char *text;
	long n;

	cr_assert_not_null(f);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	cr_assert_gt(n, 0);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	cr_assert_not_null(text);
	cr_assert_eq(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return text;
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ')
		s++;
	e = s + strlen(s);
	while (e > s && e[-1] == ' ')
		*--e = '\0';
	return s;
}

/* Compares the table between <!-- sandbox:NAME --> and its closing
 * marker, row by row, with rules: "| `syscall` | args | why |". */
static void
check_table(const char *doc, const char *name,
	    const struct sandbox_rule *rules, size_t n)
{
	char open_mark[64], close_mark[64], line[512];
	const char *start, *end, *p;
	size_t row = 0;

	snprintf(open_mark, sizeof(open_mark), "<!-- sandbox:%s -->\n", name);
	snprintf(close_mark, sizeof(close_mark), "<!-- /sandbox:%s -->",
		 name);
	start = strstr(doc, open_mark);
	cr_assert_not_null(start, "doc/design.md has no %s", open_mark);
	start += strlen(open_mark);
	end = strstr(start, close_mark);
	cr_assert_not_null(end, "doc/design.md has no %s", close_mark);
	for (p = start; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		char *cells[4] = { NULL }, *save = NULL, *c;
		int nc = 0;

		cr_assert_lt(len, sizeof(line));
		memcpy(line, p, len);
		line[len] = '\0';
		p += len + 1;
		/* the header and the |---| line */
		if (strncmp(line, "| system call |", 15) == 0 ||
		    strncmp(line, "|---", 4) == 0)
			continue;
		for (c = strtok_r(line, "|", &save); c != NULL && nc < 4;
		     c = strtok_r(NULL, "|", &save))
			cells[nc++] = trim(c);
		cr_assert_geq(nc, 3, "%s: bad row %zu", name, row);
		cr_assert_lt(row, n, "%s: doc lists more than the %zu rules "
			     "of the code (extra: %s)", name, n, cells[0]);
		char want[80];

		snprintf(want, sizeof(want), "`%s`", rules[row].syscall);
		cr_assert_str_eq(cells[0], want, "%s row %zu: got %s, want %s",
				 name, row, cells[0], want);
		cr_assert_str_eq(cells[1], rules[row].args,
				 "%s: %s: doc says \"%s\", code says \"%s\"",
				 name, want, cells[1], rules[row].args);
		row++;
	}
	cr_assert_eq(row, n, "%s: doc lists %zu rules, code has %zu", name,
		     row, n);
}

Test(sandbox_policy, design_lists_the_rules)
{
	char *doc = read_design();

	check_table(doc, "imap-login", login_sandbox_rules,
		    login_sandbox_n_rules);
	/* This build's extras: none unless it has sanitizers, so the
	 * sanitizer build's test run checks the second table. */
#ifdef MOAT_SANITIZERS
	check_table(doc, "imap-login-sanitizers",
		    login_sandbox_sanitizer_rules,
		    login_sandbox_n_sanitizer_rules);
#else
	cr_assert_eq(login_sandbox_n_sanitizer_rules, 0);
	cr_assert_not_null(strstr(doc, "<!-- sandbox:imap-login-sanitizers"));
#endif
	free(doc);
}

/* ---- the descriptor budget ------------------------------------------ */

static struct moat_config *
parse(const char *text)
{
	struct moat_config *c = NULL;
	char err[256];

	cr_assert_eq(config_parse("t", text, strlen(text), &c, err,
				  sizeof(err)), 0, "%s", err);
	return c;
}

Test(sandbox_policy, files_follow_capacity)
{
	struct moat_config *small, *big, *single;
	struct sandbox_policy p;

	small = parse("listen = 127.0.0.1:143 none\n"
		      "login_max_connections = 10\n");
	big = parse("listen = 127.0.0.1:143 none\n"
		    "login_max_connections = 1000\n");
	single = parse("listen = 127.0.0.1:143 none\n"
		       "login_max_connections = 1000\n"
		       "login_per_connection = yes\nlogin_sandbox = no\n");
	/* Room for each connection's client socket and TLS socketpair,
	 * and not much more. */
	cr_assert_geq(login_sandbox_max_files(small), 10 * 3 + 4);
	cr_assert_leq(login_sandbox_max_files(small), 10 * 3 + 32);
	cr_assert_geq(login_sandbox_max_files(big), 1000 * 3);
	cr_assert_eq(login_sandbox_max_files(big) -
		     login_sandbox_max_files(small), 990 * 3);
	cr_assert_eq(login_sandbox_max_files(single),
		     login_sandbox_max_files(small) - 9 * 3);
	login_sandbox_policy(small, &p);
	cr_assert(p.seccomp, "login_sandbox defaults to yes");
	login_sandbox_policy(single, &p);
	cr_assert_not(p.seccomp);
	config_free(&small);
	config_free(&big);
	config_free(&single);
}

/* ---- the filter, for real ------------------------------------------- */

static int ipc_peer = -1, tcp_fd = -1, pair[2] = { -1, -1 };
static pid_t parent;

/* Before the filter: the descriptors imap-login would already hold
 * (fd 3 = moatd, a client TCP socket, a proxy socketpair). */
static void
child_setup(void)
{
	struct sandbox_policy p = {
		.max_files = 64, .seccomp = true,
		.rules = login_sandbox_rules, .n_rules = login_sandbox_n_rules,
		.extra = login_sandbox_sanitizer_rules,
		.n_extra = login_sandbox_n_sanitizer_rules,
	};
	int ipc[2];
	char err[256];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, ipc) < 0 ||
	    dup2(ipc[0], LOGIN_IPC_FD) < 0)
		DIE(90);
	ipc_peer = ipc[1];
	parent = getppid();
	tcp_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (tcp_fd < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, pair) < 0)
		DIE(91);
	if (sandbox_enter(&p, err, sizeof(err)) < 0)
		DIE(92);
}

static int
run_confined(void (*fn)(void))
{
	int status;
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		child_setup();
		fn();
		DIE(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return status;
}

/* What a login process does all day. */
static void
allowed_calls(void)
{
	struct timespec ts;
	struct timeval tv;
	unsigned char rnd[16];
	char buf[8];
	int one = 1, sp[2], fl;
	void *m;
	char *big;

	if (sendto(pair[0], "hi", 2, MSG_NOSIGNAL, NULL, 0) != 2)
		DIE(2);
	if (read(pair[1], buf, sizeof(buf)) != 2 || write(pair[1], "x", 1) != 1)
		DIE(3);
	if ((fl = fcntl(pair[0], F_GETFL)) < 0 ||
	    fcntl(pair[0], F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(pair[0], F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(pair[0], F_GETFD) != FD_CLOEXEC)
		DIE(4);
	if (setsockopt(tcp_fd, IPPROTO_TCP, TCP_NODELAY, &one,
		       sizeof(one)) < 0)
		DIE(5);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
		       sp) < 0 || close(sp[0]) < 0 || close(sp[1]) < 0)
		DIE(6);
	/* IPC on fd 3, both ways */
	{
		struct iovec iov = { buf, 1 };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

		if (sendmsg(LOGIN_IPC_FD, &msg, MSG_NOSIGNAL) != 1 ||
		    send(ipc_peer, "m", 1, 0) != 1 ||
		    recvmsg(LOGIN_IPC_FD, &msg, 0) != 1)
			DIE(7);
	}
	if (shutdown(pair[0], SHUT_WR) < 0)
		DIE(14);
	m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || munmap(m, 1 << 20) < 0)
		DIE(8);
	big = malloc(4 << 20);
	if (big == NULL)
		DIE(9);
	big[0] = 1;
	big = realloc(big, 8 << 20);
	if (big == NULL)
		DIE(10);
	free(big);
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		DIE(11);
	/* the raw calls the vDSO falls back to */
	if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) < 0 ||
	    syscall(SYS_gettimeofday, &tv, NULL) < 0 ||
	    syscall(SYS_time, NULL) < 0 || syscall(SYS_getpid) <= 0)
		DIE(12);
	if (close(tcp_fd) < 0)
		DIE(13);
}

Test(sandbox_policy, allowed_calls_work)
{
	int st = run_confined(allowed_calls);

	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "got %s %d, want exit 0", WIFEXITED(st) ? "exit" : "signal",
		  WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

/* What an attacker in the process would try; each must kill it. */
static void
try_socket(void)
{
	(void)socket(AF_INET, SOCK_STREAM, 0);
}

static void
try_open(void)
{
	(void)open("/dev/null", O_RDONLY);
}

static void
try_fork(void)
{
	if (fork() == 0)
		DIE(0);
}

static void
try_kill(void)
{
	(void)kill(parent, 0);
}

static void
try_exec(void)
{
	char *const argv[] = { "true", NULL };

	(void)execve("/bin/true", argv, NULL);
}

static void
try_ptrace(void)
{
	(void)ptrace(PTRACE_ATTACH, parent, 0, 0);
}

static void
try_prctl(void)
{
	(void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}

static void
try_exec_mem(void)
{
	(void)mmap(NULL, 4096, PROT_READ | PROT_EXEC,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static void
try_mprotect(void)
{
	static char page[8192];

	(void)mprotect(page, 4096, PROT_READ | PROT_EXEC);
}

static void
try_dup(void)
{
	(void)fcntl(pair[0], F_DUPFD, 0);
}

static void
try_dup2(void)
{
	(void)dup2(pair[0], 20);
}

static void
try_sockopt(void)
{
	int one = 1;

	(void)setsockopt(tcp_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
}

static void
try_dgram_pair(void)
{
	int sp[2];

	(void)socketpair(AF_UNIX, SOCK_DGRAM, 0, sp);
}
/* Passing a descriptor to the session behind moatd's back. */
static void
try_sendmsg_other(void)
{
	struct msghdr m = { 0 };
	struct iovec iov = { "x", 1 };

	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	(void)sendmsg(pair[0], &m, 0);
}

static void
try_sendto_addr(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };

	(void)sendto(tcp_fd, "x", 1, 0, (struct sockaddr *)&sin, sizeof(sin));
}

static void
try_connect(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };

	(void)connect(tcp_fd, (struct sockaddr *)&sin, sizeof(sin));
}

static void
try_getppid(void)
{
	(void)syscall(SYS_getppid);
}

#ifdef __x86_64__
/* An allowed call (getpid) through the other ABIs of an x86_64 kernel. */
static void
try_i386_abi(void)
{
	long ret = 20;          /* i386 __NR_getpid */

	__asm__ volatile("int $0x80" : "+a"(ret) : : "memory");
}

static void
try_x32_abi(void)
{
	(void)syscall(0x40000000L | SYS_getpid);   /* __X32_SYSCALL_BIT */
}
#endif

static const struct {
	const char *name;
	void (*fn)(void);
} forbidden[] = {
#ifdef __x86_64__
	{ "getpid via int 0x80", try_i386_abi },
	{ "getpid via x32", try_x32_abi },
#endif
	{ "socket", try_socket }, { "open", try_open }, { "fork", try_fork },
	{ "kill", try_kill }, { "execve", try_exec },
	{ "ptrace", try_ptrace }, { "prctl", try_prctl },
	{ "mmap PROT_EXEC", try_exec_mem }, { "mprotect", try_mprotect },
	{ "fcntl F_DUPFD", try_dup }, { "dup2", try_dup2 },
	{ "setsockopt SO_REUSEADDR", try_sockopt },
	{ "socketpair SOCK_DGRAM", try_dgram_pair },
	{ "sendmsg on a client socket", try_sendmsg_other },
	{ "sendto with an address", try_sendto_addr },
	{ "connect", try_connect }, { "getppid", try_getppid },
};

Test(sandbox_policy, forbidden_calls_kill)
{
	for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
		int st = run_confined(forbidden[i].fn);

		cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS,
			  "%s: got %s %d, want signal %d (SIGSYS)",
			  forbidden[i].name, WIFEXITED(st) ? "exit" : "signal",
			  WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
			  SIGSYS);
	}
}
