/* Tests for lib/core/sandbox.c. Each case confines a fork()ed child
 * (a sandbox cannot be left) and judges it by how it ended: exit 0 for
 * "everything allowed worked", SIGSYS for "the filter killed it", any
 * other exit code names the check that failed. The children make raw
 * system calls after the filter is in, so no library code runs there
 * that the tiny test policies do not allow. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/sandbox.h"

#define DIE(code) syscall(SYS_exit_group, (code))

static const struct sandbox_rule exit_only[] = {
	{ .syscall = "exit_group", .args = "any" },
};

static int
run_child(void (*fn)(void))
{
	int status;
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		fn();
		DIE(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static void
assert_exit0(int status)
{
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "got %s %d, want exit 0", WIFEXITED(status) ? "exit" :
		  "signal", WIFEXITED(status) ? WEXITSTATUS(status) :
		  WTERMSIG(status));
}

static void
assert_sigsys(int status)
{
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS,
		  "got %s %d, want signal %d (SIGSYS)", WIFEXITED(status) ?
		  "exit" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) :
		  WTERMSIG(status), SIGSYS);
}

static void
enter(const struct sandbox_rule *rules, size_t n, bool seccomp)
{
	struct sandbox_policy p = { .max_files = 32, .seccomp = seccomp,
				    .rules = rules, .n_rules = n };
	char err[256];

	if (sandbox_enter(&p, err, sizeof(err)) < 0)
		DIE(10);
	if (sandbox_active() != seccomp)
		DIE(11);
}

static void
limits_child(void)
{
	struct rlimit rl;

	enter(NULL, 0, false);
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur != 32 ||
	    rl.rlim_max != 32)
		DIE(2);
	if (getrlimit(RLIMIT_NPROC, &rl) < 0 || rl.rlim_cur != 0 ||
	    rl.rlim_max != 0)
		DIE(3);
	if (getrlimit(RLIMIT_FSIZE, &rl) < 0 || rl.rlim_cur != 0 ||
	    rl.rlim_max != 0)
		DIE(4);
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		DIE(5);
	/* A hard limit, so it cannot be raised again. */
	rl.rlim_cur = rl.rlim_max = 64;
	if (getuid() != 0 && setrlimit(RLIMIT_NOFILE, &rl) == 0)
		DIE(6);
}

Test(sandbox, limits_and_no_new_privs)
{
	assert_exit0(run_child(limits_child));
}

static void
unlisted_child(void)
{
	enter(exit_only, 1, true);
	syscall(SYS_getppid);
	DIE(1);
}

Test(sandbox, unlisted_call_kills)
{
	assert_sigsys(run_child(unlisted_child));
}

static void
exit_child(void)
{
	enter(exit_only, 1, true);
	DIE(0);
}

Test(sandbox, listed_call_runs)
{
	assert_exit0(run_child(exit_child));
}

/* getpriority(which, who): two int arguments, two allowed values each:
 * all four combinations pass, anything else kills. */
static const struct sandbox_rule prio_rules[] = {
	{ .syscall = "exit_group", .args = "any" },
	{ .syscall = "getpriority", .args = "test", .n_conds = 2,
	  .conds = { { .arg = 0, .mask = SANDBOX_INT_MASK, .n_values = 2,
		       .values = { PRIO_PROCESS, PRIO_PGRP } },
		     { .arg = 1, .mask = SANDBOX_INT_MASK, .n_values = 2,
		       .values = { 0, 1 } } } },
};

static void
prio_combinations_child(void)
{
	int which[] = { PRIO_PROCESS, PRIO_PGRP };

	enter(prio_rules, 2, true);
	for (int i = 0; i < 2; i++) {
		for (int who = 0; who < 2; who++)
			syscall(SYS_getpriority, which[i], who);
	}
}

static void
prio_other_which_child(void)
{
	enter(prio_rules, 2, true);
	syscall(SYS_getpriority, PRIO_USER, 0);
}

static void
prio_other_who_child(void)
{
	enter(prio_rules, 2, true);
	syscall(SYS_getpriority, PRIO_PROCESS, 2);
}

Test(sandbox, argument_values)
{
	assert_exit0(run_child(prio_combinations_child));
	assert_sigsys(run_child(prio_other_which_child));
	assert_sigsys(run_child(prio_other_who_child));
}

/* A masked comparison: only the bits outside the mask are free. */
static const struct sandbox_rule mask_rules[] = {
	{ .syscall = "exit_group", .args = "any" },
	{ .syscall = "getpriority", .args = "test", .n_conds = 1,
	  .conds = { { .arg = 1, .mask = ~UINT64_C(0xff), .n_values = 1,
		       .values = { 0 } } } },
};

static void
mask_in_child(void)
{
	enter(mask_rules, 2, true);
	syscall(SYS_getpriority, PRIO_PROCESS, 0xff);
}

static void
mask_out_child(void)
{
	enter(mask_rules, 2, true);
	syscall(SYS_getpriority, PRIO_PROCESS, 0x100);
}

Test(sandbox, argument_mask)
{
	assert_exit0(run_child(mask_in_child));
	assert_sigsys(run_child(mask_out_child));
}

/* A rule with fail_errno answers instead of killing. */
static void
errno_child(void)
{
	static const struct sandbox_rule rules[] = {
		{ .syscall = "exit_group", .args = "any" },
		{ .syscall = "getppid", .args = "fails", .fail_errno = EPERM },
	};

	enter(rules, 2, true);
	if (syscall(SYS_getppid) != -1 || errno != EPERM)
		DIE(2);
}

Test(sandbox, fail_errno_answers)
{
	assert_exit0(run_child(errno_child));
}

/* A typo in a policy must not silently drop its rule. */
static void
unknown_name_child(void)
{
	static const struct sandbox_rule bad[] = {
		{ .syscall = "exit_group", .args = "any" },
		{ .syscall = "no_such_call", .args = "any" },
	};
	struct sandbox_policy p = { .max_files = 32, .seccomp = true,
				    .rules = bad, .n_rules = 2 };
	char err[256];

	if (sandbox_enter(&p, err, sizeof(err)) == 0)
		DIE(2);
	if (strcmp(err, "sandbox: unknown system call 'no_such_call'") != 0)
		DIE(3);
	if (sandbox_active())
		DIE(4);
}

Test(sandbox, unknown_name_fails_closed)
{
	assert_exit0(run_child(unknown_name_child));
}

static void
malformed_child(void)
{
	static const struct sandbox_rule bad[] = {
		{ .syscall = "getpriority", .args = "x", .n_conds = 1,
		  .conds = { { .arg = 6, .n_values = 1 } } },
	};
	struct sandbox_policy p = { .max_files = 32, .seccomp = true,
				    .rules = bad, .n_rules = 1 };
	char err[256];

	if (sandbox_enter(&p, err, sizeof(err)) == 0)
		DIE(2);
	if (strcmp(err, "sandbox: malformed rule for getpriority") != 0)
		DIE(3);
}

Test(sandbox, malformed_rule_fails_closed)
{
	assert_exit0(run_child(malformed_child));
}

Test(sandbox, files_limit_clipped_to_hard)
{
	struct rlimit rl;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	cr_assert_eq(sandbox_files_limit(8), 8);
	if (rl.rlim_max != RLIM_INFINITY)
		cr_assert_eq(sandbox_files_limit(rl.rlim_max + 1), rl.rlim_max);
}
