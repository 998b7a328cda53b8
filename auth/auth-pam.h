/*
 * auth-pam: the PAM backend. Runs pam_authenticate and pam_acct_mgmt for
 * one login in the calling (worker) process; the canonical user name is
 * whatever PAM_USER holds afterwards (a module may rewrite it), and uid,
 * gid and home come from the system user database. Optionally (config
 * auth_pam_session) the credential and session stacks run too, once the
 * caller has accepted the account.
 */
#ifndef MOAT_AUTH_PAM_H
#define MOAT_AUTH_PAM_H

#include <security/pam_appl.h>
#include <stdbool.h>
#include "auth.h"

/* service: the PAM service name (auth_pam_service, /etc/pam.d/SERVICE).
 * rip: the client address, given to modules as PAM_RHOST.
 * Returns AUTH_RES_OK with *out filled, AUTH_RES_FAIL (bad credentials,
 * account refused), AUTH_RES_UNKNOWN (PAM_USER_UNKNOWN: the next
 * backend may know the user) or AUTH_RES_TEMPFAIL (PAM could not
 * decide).
 * keep: NULL, or where to leave the PAM handle open on AUTH_RES_OK, so
 * the caller can finish the login with auth_pam_finish once it has
 * decided whether the account may log in (*keep is NULL otherwise). */
enum auth_result auth_pam(const char *service, const char *user,
			  const char *password, const char *rip,
			  struct auth_user *out, pam_handle_t **keep);

/* Ends a transaction auth_pam kept open; r is the caller's verdict so
 * far. If r is AUTH_RES_OK and session is true, first runs the PAM
 * credential and session stacks -- pam_setcred(PAM_ESTABLISH_CRED),
 * pam_open_session, pam_close_session -- in a child process (so what
 * they do to the calling process, e.g. pam_limits' rlimits, does not
 * stay with the worker), and returns their verdict. Returns r
 * otherwise. *pamh is NULL afterwards; NULL-safe. */
enum auth_result auth_pam_finish(pam_handle_t **pamh, enum auth_result r,
				 bool session);

/* Maps a PAM return code to a verdict (exposed for tests). */
enum auth_result auth_pam_result(int pam_status);

#endif
