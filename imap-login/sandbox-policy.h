/*
 * sandbox-policy: what imap-login may do once it serves clients (the
 * system call allow-list and the descriptor budget), applied with
 * lib/core/sandbox.c. doc/design.md ("What each process may do") lists
 * the same rules; tests/login/test-sandbox-policy.c checks that it does.
 */
#ifndef MOAT_LOGIN_SANDBOX_POLICY_H
#define MOAT_LOGIN_SANDBOX_POLICY_H

#include <stddef.h>

#include "core/config.h"
#include "core/sandbox.h"

/* fd 3, the IPC socket to moatd (start-up conventions in design.md). */
#define LOGIN_IPC_FD 3

extern const struct sandbox_rule login_sandbox_rules[];
extern const size_t login_sandbox_n_rules;
/* What the ASan/UBSan runtimes need on top (sanitizer builds only;
 * empty otherwise). */
extern const struct sandbox_rule login_sandbox_sanitizer_rules[];
extern const size_t login_sandbox_n_sanitizer_rules;

/* Descriptors imap-login needs to serve its connection capacity. */
rlim_t login_sandbox_max_files(const struct moat_config *cfg);
/* Fills p for cfg (login_sandbox decides the seccomp part). */
void login_sandbox_policy(const struct moat_config *cfg,
			  struct sandbox_policy *p);
/* Confines this process; a failure is fatal. */
void login_sandbox_enter(const struct moat_config *cfg);

#endif
