/*
 * auth-pam: the PAM backend. Runs pam_authenticate and pam_acct_mgmt for
 * one login in the calling (worker) process; the canonical user name is
 * whatever PAM_USER holds afterwards (a module may rewrite it), and uid,
 * gid and home come from the system user database.
 */
#ifndef MOAT_AUTH_PAM_H
#define MOAT_AUTH_PAM_H

#include "auth.h"

/* service: the PAM service name (auth_pam_service, /etc/pam.d/SERVICE).
 * rip: the client address, given to modules as PAM_RHOST.
 * Returns AUTH_RES_OK with *out filled, AUTH_RES_FAIL (bad credentials,
 * account refused), AUTH_RES_UNKNOWN (PAM_USER_UNKNOWN: the next
 * backend may know the user) or AUTH_RES_TEMPFAIL (PAM could not
 * decide). */
enum auth_result auth_pam(const char *service, const char *user,
			  const char *password, const char *rip,
			  struct auth_user *out);

/* Maps a PAM return code to a verdict (exposed for tests). */
enum auth_result auth_pam_result(int pam_status);

#endif
