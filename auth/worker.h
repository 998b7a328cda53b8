/*
 * worker: the body of an auth worker process. A worker is forked by the
 * main auth process (wpool.c), serves one request at a time over a
 * SOCK_SEQPACKET socket (IPC_WORKER_REQ in, IPC_WORKER_RESULT out), and
 * runs the configured backends in order. It is long-lived: the passwd
 * file stays parsed between requests and nothing is forked per login.
 */
#ifndef MOAT_AUTH_WORKER_H
#define MOAT_AUTH_WORKER_H

#include "auth.h"
#include "core/config.h"

struct pwfile_cache;

/* Runs the backends of cfg in order for one login: the first backend
 * that knows the user decides; if none does the result is FAIL. On OK
 * it also fills out's supplementary groups (auth_getgroups); a user in
 * more than IPC_GROUPS_MAX groups is TEMPFAIL. An account pol refuses
 * is FAIL, as for a wrong password. With auth_pam_session, PAM's
 * session stack runs for an accepted PAM login before OK is returned.
 * pwc is the worker's passwd-file cache (may be NULL if passwd-file is
 * not configured). */
enum auth_result worker_authenticate(const struct moat_config *cfg,
				     const struct auth_policy *pol,
				     struct pwfile_cache *pwc,
				     const char *user, const char *password,
				     const char *rip, struct auth_user *out);

/* Serves requests on sock until the main process closes it, then exits
 * the process. A malformed request is logged and ends the worker (the
 * main process respawns it). Never returns. */
void worker_main(const struct moat_config *cfg, int sock)
	__attribute__((noreturn));

#endif
