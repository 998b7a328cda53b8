/*
 * sandbox-policy: imap-login's confinement after start-up (design: "What
 * each process may do"). By then the config is read, the TLS key loaded,
 * the process chrooted and running as login_user, the event loop and
 * the IPC socket set up; what is left is moving bytes between clients,
 * moatd and (for TLS logins) the session's socketpair. The list below
 * is what strace -f showed a login process doing under the whole
 * integration suite (plaintext, STARTTLS, implicit TLS, LOGIN,
 * AUTHENTICATE, the TLS proxy, SIGHUP retirement, shutdown, logging),
 * plus the C library's fallbacks for the vDSO clocks. Everything else
 * kills the process: socket, connect, open, execve, clone/fork, kill,
 * ptrace, ioctl, prctl...
 * Callers: main.c (login_sandbox_enter), the policy test.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "core/log.h"
#include "sandbox-policy.h"

/* Fixed descriptors: 0-2, the IPC socket, the epoll fd, a CONN's
 * descriptor being received, and room to spare. */
#define LOGIN_FILES_FIXED 16
/* Per connection: the client socket; for a TLS login also both ends of
 * the session's socketpair until the SESSION_REQ carrying one is sent
 * (it may wait in the IPC queue), then the proxy's end. */
#define LOGIN_FILES_PER_CONN 3

#define ANY(name) { .syscall = (name), .args = "any" }
/* One int argument with one of the listed values. */
#define INT_ARG(idx, ...) { .arg = (idx), .mask = SANDBOX_INT_MASK, \
	.n_values = sizeof((uint64_t[]){ __VA_ARGS__ }) / sizeof(uint64_t), \
	.values = { __VA_ARGS__ } }

const struct sandbox_rule login_sandbox_rules[] = {
	/* the event loop */
	ANY("epoll_wait"),
	ANY("epoll_ctl"),
	/* client sockets (plain or TLS), the proxy's socketpair, fd 2 */
	ANY("read"),
	ANY("write"),
	{ .syscall = "sendto", .args = "`dest_addr` NULL (send(2))",
	  .n_conds = 1, .conds = { { .arg = 4, .mask = ~UINT64_C(0),
				     .n_values = 1, .values = { 0 } } } },
	ANY("shutdown"),
	ANY("close"),
	{ .syscall = "setsockopt", .args = "`IPPROTO_TCP`, `TCP_NODELAY`",
	  .n_conds = 2, .conds = { INT_ARG(1, IPPROTO_TCP),
				   INT_ARG(2, TCP_NODELAY) } },
	{ .syscall = "fcntl",
	  .args = "`F_GETFD`, `F_SETFD`, `F_GETFL`, `F_SETFL`",
	  .n_conds = 1, .conds = { INT_ARG(1, F_GETFD, F_SETFD, F_GETFL,
					   F_SETFL) } },
	/* the session's end of a TLS login, passed to moatd */
	{ .syscall = "socketpair",
	  .args = "`AF_UNIX`, `SOCK_STREAM` (`SOCK_CLOEXEC`, "
		  "`SOCK_NONBLOCK`), protocol 0",
	  .n_conds = 3, .conds = {
		  INT_ARG(0, AF_UNIX),
		  { .arg = 1, .n_values = 1, .values = { SOCK_STREAM },
		    .mask = SANDBOX_INT_MASK &
			    ~(uint64_t)(SOCK_CLOEXEC | SOCK_NONBLOCK) },
		  INT_ARG(2, 0) } },
	/* IPC with moatd, on its socket only: no descriptor can be
	 * passed to a client's session behind moatd's back */
	{ .syscall = "sendmsg", .args = "fd 3 (moatd) only",
	  .n_conds = 1, .conds = { INT_ARG(0, LOGIN_IPC_FD) } },
	{ .syscall = "recvmsg", .args = "fd 3 (moatd) only",
	  .n_conds = 1, .conds = { INT_ARG(0, LOGIN_IPC_FD) } },
	/* malloc; no executable memory */
	ANY("brk"),
	{ .syscall = "mmap", .args = "`prot` without `PROT_EXEC`",
	  .n_conds = 1, .conds = { { .arg = 2, .n_values = 1,
				     .values = { 0 },
				     .mask = ~(uint64_t)(PROT_READ |
							 PROT_WRITE) } } },
	ANY("munmap"),
	ANY("mremap"),
	/* OpenSSL: reseeding, fork detection, locks */
	ANY("getrandom"),
	ANY("getpid"),
	{ .syscall = "futex",
	  .args = "`FUTEX_WAIT`, `FUTEX_WAKE`, `FUTEX_WAIT_BITSET`, "
		  "`FUTEX_WAKE_BITSET`",
	  .n_conds = 1, .conds = { { .arg = 1, .n_values = 4,
		  .values = { FUTEX_WAIT, FUTEX_WAKE, FUTEX_WAIT_BITSET,
			      FUTEX_WAKE_BITSET },
		  .mask = SANDBOX_INT_MASK &
			  ~(uint64_t)(FUTEX_PRIVATE_FLAG |
				      FUTEX_CLOCK_REALTIME) } } },
	/* clocks (the vDSO's fallbacks) */
	ANY("clock_gettime"),
	ANY("gettimeofday"),
	ANY("time"),
	/* the kernel restarts an interrupted epoll_wait after SIGSTOP and
	 * SIGCONT with this */
	ANY("restart_syscall"),
	ANY("exit"),
	ANY("exit_group"),
};
const size_t login_sandbox_n_rules = sizeof(login_sandbox_rules) /
	sizeof(login_sandbox_rules[0]);

/* An error report must get out whole, or the sanitizer build would
 * trade a readable report for a bare SIGSYS: the runtimes look for
 * /proc/self/maps and a symbolizer (raw open and stat, which fail in the
 * chroot anyway) and ask whether stderr is a terminal. glibc's open()
 * is openat, which stays forbidden. */
const struct sandbox_rule login_sandbox_sanitizer_rules[] = {
#ifdef MOAT_SANITIZERS
	/* the ASan allocator hands freed pages back (MADV_DONTNEED) */
	ANY("madvise"),
	/* ASan takes down its signal stack at exit */
	ANY("sigaltstack"),
	{ .syscall = "open", .args = "fails with `ENOENT`",
	  .fail_errno = ENOENT },
	{ .syscall = "stat", .args = "fails with `ENOENT`",
	  .fail_errno = ENOENT },
	{ .syscall = "ioctl", .args = "fails with `ENOTTY`",
	  .fail_errno = ENOTTY },
#else
	{ .syscall = NULL },
#endif
};
#ifdef MOAT_SANITIZERS
const size_t login_sandbox_n_sanitizer_rules =
	sizeof(login_sandbox_sanitizer_rules) /
	sizeof(login_sandbox_sanitizer_rules[0]);
#else
const size_t login_sandbox_n_sanitizer_rules = 0;
#endif

rlim_t
login_sandbox_max_files(const struct moat_config *cfg)
{
	rlim_t conns = cfg->login_per_connection ? 1 :
		cfg->login_max_connections;

	return LOGIN_FILES_FIXED + LOGIN_FILES_PER_CONN * conns;
}

void
login_sandbox_policy(const struct moat_config *cfg, struct sandbox_policy *p)
{
	p->max_files = login_sandbox_max_files(cfg);
	p->seccomp = cfg->login_sandbox;
	p->rules = login_sandbox_rules;
	p->n_rules = login_sandbox_n_rules;
	p->extra = login_sandbox_sanitizer_rules;
	p->n_extra = login_sandbox_n_sanitizer_rules;
}

void
login_sandbox_enter(const struct moat_config *cfg)
{
	struct sandbox_policy p;
	char err[256];

	login_sandbox_policy(cfg, &p);
	if (sandbox_files_limit(p.max_files) < p.max_files)
		log_warn("login_max_connections = %u needs %llu descriptors, "
			 "but the hard RLIMIT_NOFILE is %llu: fewer "
			 "connections fit", cfg->login_max_connections,
			 (unsigned long long)p.max_files,
			 (unsigned long long)sandbox_files_limit(p.max_files));
	if (sandbox_enter(&p, err, sizeof(err)) < 0)
		log_fatal("%s%s", err, p.seccomp ? " (login_sandbox = no "
			  "runs imap-login without the seccomp filter)" : "");
	if (!p.seccomp)
		log_warn("login_sandbox = no: imap-login runs without its "
			 "seccomp filter");
	else
		log_debug("sandbox: %zu system call rules installed",
			  p.n_rules + p.n_extra);
}
