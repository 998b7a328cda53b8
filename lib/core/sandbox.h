/*
 * sandbox: confines a process once its start-up is done, the way
 * OpenSSH confines its pre-auth child: resource limits (no fork, no
 * file growth, a bounded number of descriptors), PR_SET_NO_NEW_PRIVS,
 * and a seccomp-bpf allow-list of system calls that kills the whole
 * process on anything else. The filter is built with libseccomp for the
 * native architecture, so system call numbers and the architecture
 * check are right by construction; on an architecture the allow-lists
 * were not written for, sandbox_enter() fails rather than guess.
 *
 * The generic part lives here; each program states its own policy
 * (imap-login: imap-login/sandbox-policy.c).
 */
#ifndef MOAT_SANDBOX_H
#define MOAT_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>

#define SANDBOX_MAX_CONDS 3
#define SANDBOX_MAX_VALUES 4

/* An int argument: the kernel reads only its low 32 bits. */
#define SANDBOX_INT_MASK UINT64_C(0xffffffff)

/* The argument passes if (arg & mask) equals one of values. */
struct sandbox_cond {
	unsigned int arg;                 /* argument index, 0-5 */
	uint64_t mask;
	unsigned int n_values;            /* 1..SANDBOX_MAX_VALUES */
	uint64_t values[SANDBOX_MAX_VALUES];
};

/* One allowed system call; every condition must hold. */
struct sandbox_rule {
	const char *syscall;              /* name, as libseccomp knows it */
	const char *args;                 /* the restriction in words ("any"):
					   * doc/design.md lists these */
	unsigned int n_conds;             /* 0: any arguments */
	struct sandbox_cond conds[SANDBOX_MAX_CONDS];
	int fail_errno;                   /* 0: allowed; else the call fails
					   * with this errno instead */
};

struct sandbox_policy {
	rlim_t max_files;                 /* RLIMIT_NOFILE, soft and hard;
					   * clipped to the current hard one */
	bool seccomp;                     /* false: limits and NNP only */
	const struct sandbox_rule *rules;
	size_t n_rules;
	const struct sandbox_rule *extra; /* appended (sanitizer builds) */
	size_t n_extra;
};

/* Applies the policy to the calling (single-threaded) process, in this
 * order: RLIMIT_NOFILE, RLIMIT_FSIZE 0, RLIMIT_NPROC 0,
 * PR_SET_NO_NEW_PRIVS, then the filter (default action: kill the
 * process). A rule naming a system call libseccomp does not know is an
 * error, so a typo cannot silently drop a rule. Returns 0, or -1 with a
 * message in err; the caller must treat -1 as fatal (the process may be
 * partly confined). */
int sandbox_enter(const struct sandbox_policy *p, char *err, size_t errlen);
/* True once sandbox_enter() installed a seccomp filter here. */
bool sandbox_active(void);
/* The RLIMIT_NOFILE value sandbox_enter() will set for max_files. */
rlim_t sandbox_files_limit(rlim_t max_files);

#endif
