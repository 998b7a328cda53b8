/*
 * sandbox: resource limits, NO_NEW_PRIVS and a libseccomp allow-list
 * (interface and order in core/sandbox.h). Callers: imap-login, after
 * chroot and privilege drop, before its first client byte.
 * Inputs: the caller's compiled-in policy (trusted). The point is what
 * comes after: once the filter is loaded, code that an attacker took
 * over in this process can make only the listed system calls, and any
 * other kills the process (moatd logs the signal and starts another).
 *
 * DIAGNOSTICS: every failure is returned as a message for a fatal
 * error; nothing here falls back to running unconfined.
 */
#include <errno.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "core/sandbox.h"

static bool sandbox_on;

/* The architectures whose allow-lists were written against a trace of
 * the real process. Elsewhere the C library may make other calls (no
 * epoll_wait on aarch64, say), and guessing would mean either a
 * process killed in production or a list nobody checked. */
static const uint32_t tested_arches[] = { SCMP_ARCH_X86_64 };

static int __attribute__((format(printf, 3, 4)))
serr(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && len > 0) {
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return -1;
}

bool
sandbox_active(void)
{
	return sandbox_on;
}

rlim_t
sandbox_files_limit(rlim_t max_files)
{
	struct rlimit rl;

	/* Raising the hard limit needs privilege and would override what
	 * the admin (systemd's LimitNOFILE=) chose for moatd. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max !=
	    RLIM_INFINITY && max_files > rl.rlim_max)
		return rl.rlim_max;
	return max_files;
}

static int
set_limit(int resource, const char *name, rlim_t value, char *err,
	  size_t errlen)
{
	struct rlimit rl = { value, value };

	if (setrlimit(resource, &rl) < 0)
		return serr(err, errlen, "setrlimit(%s, %llu): %s", name,
			    (unsigned long long)value, strerror(errno));
	return 0;
}

static int
check_rule(const struct sandbox_rule *r, char *err, size_t errlen)
{
	if (r->syscall == NULL || r->n_conds > SANDBOX_MAX_CONDS ||
	    r->fail_errno < 0 || r->fail_errno > 4095)
		return serr(err, errlen, "sandbox: malformed rule");
	for (unsigned int i = 0; i < r->n_conds; i++) {
		const struct sandbox_cond *c = &r->conds[i];

		if (c->arg > 5 || c->n_values == 0 ||
		    c->n_values > SANDBOX_MAX_VALUES)
			return serr(err, errlen, "sandbox: malformed rule for "
				    "%s", r->syscall);
	}
	return 0;
}

/* One libseccomp rule per combination of allowed values: its rules are
 * ORed, the comparisons inside one rule ANDed. */
static int
add_rule(scmp_filter_ctx ctx, const struct sandbox_rule *r, char *err,
	 size_t errlen)
{
	unsigned int pick[SANDBOX_MAX_CONDS] = { 0 };
	struct scmp_arg_cmp cmp[SANDBOX_MAX_CONDS];
	uint32_t action;
	int nr, rc;

	if (check_rule(r, err, errlen) < 0)
		return -1;
	nr = seccomp_syscall_resolve_name(r->syscall);
	if (nr == __NR_SCMP_ERROR)
		return serr(err, errlen, "sandbox: unknown system call '%s'",
			    r->syscall);
	action = r->fail_errno == 0 ? SCMP_ACT_ALLOW :
		SCMP_ACT_ERRNO((uint32_t)r->fail_errno);
	for (;;) {
		unsigned int i;

		for (i = 0; i < r->n_conds; i++) {
			cmp[i].arg = r->conds[i].arg;
			cmp[i].op = SCMP_CMP_MASKED_EQ;
			cmp[i].datum_a = r->conds[i].mask;
			cmp[i].datum_b = r->conds[i].values[pick[i]];
		}
		rc = seccomp_rule_add_array(ctx, action, nr, r->n_conds,
					    cmp);
		if (rc < 0)
			return serr(err, errlen, "sandbox: rule for %s: %s",
				    r->syscall, strerror(-rc));
		for (i = 0; i < r->n_conds; i++) {
			if (++pick[i] < r->conds[i].n_values)
				break;
			pick[i] = 0;
		}
		if (i == r->n_conds)
			return 0;
	}
}

static int
load_filter(const struct sandbox_policy *p, char *err, size_t errlen)
{
	uint32_t arch = seccomp_arch_native();
	scmp_filter_ctx ctx;
	bool tested = false;
	int rc;

	for (size_t i = 0; i < sizeof(tested_arches) /
	     sizeof(tested_arches[0]); i++)
		tested = tested || arch == tested_arches[i];
	if (!tested)
		return serr(err, errlen, "sandbox: no system call allow-list "
			    "for this architecture (seccomp arch 0x%x; only "
			    "x86_64 has one)", (unsigned int)arch);
	/* SECCOMP_RET_KILL_PROCESS is API level 3 (Linux 4.14): older
	 * kernels could only kill the thread. */
	if (seccomp_api_get() < 3)
		return serr(err, errlen, "sandbox: the kernel's seccomp "
			    "cannot kill a process (Linux >= 4.14 needed)");
	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (ctx == NULL)
		return serr(err, errlen, "sandbox: seccomp_init failed");
	/* A system call through another ABI (int 0x80, x32) is not on
	 * the list either. */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
			      SCMP_ACT_KILL_PROCESS);
	if (rc < 0) {
		seccomp_release(ctx);
		return serr(err, errlen, "sandbox: seccomp_attr_set: %s",
			    strerror(-rc));
	}
	/* A binary search over system call numbers instead of a linear
	 * scan: every call the process makes runs the filter. */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	for (size_t i = 0; i < p->n_rules + p->n_extra; i++) {
		const struct sandbox_rule *r = i < p->n_rules ? &p->rules[i] :
			&p->extra[i - p->n_rules];

		if (add_rule(ctx, r, err, errlen) < 0) {
			seccomp_release(ctx);
			return -1;
		}
	}
	rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0)
		return serr(err, errlen, "sandbox: loading the seccomp "
			    "filter: %s", strerror(-rc));
	sandbox_on = true;
	return 0;
}

int
sandbox_enter(const struct sandbox_policy *p, char *err, size_t errlen)
{
	if (set_limit(RLIMIT_NOFILE, "RLIMIT_NOFILE",
		      sandbox_files_limit(p->max_files), err, errlen) < 0 ||
	    set_limit(RLIMIT_FSIZE, "RLIMIT_FSIZE", 0, err, errlen) < 0 ||
	    set_limit(RLIMIT_NPROC, "RLIMIT_NPROC", 0, err, errlen) < 0)
		return -1;
	/* No exec can gain privileges (setuid files, file capabilities);
	 * also what lets an unprivileged process load a filter. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return serr(err, errlen, "prctl(PR_SET_NO_NEW_PRIVS): %s",
			    strerror(errno));
	if (!p->seccomp)
		return 0;
	return load_filter(p, err, errlen);
}

#ifdef MOAT_SANITIZERS
/* LeakSanitizer's exit-time check stops the process from a tracer
 * thread (clone, ptrace) and reads /proc: a sandboxed process may do
 * none of that (and a chrooted one has no /proc, so as root the check
 * could not run before the sandbox either). */
int __lsan_is_turned_off(void);

int
__lsan_is_turned_off(void)
{
	return sandbox_on;
}
#endif
