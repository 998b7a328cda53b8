/*
 * lookup: an LMTP recipient's user record, without any password: the
 * passwd-file backend's entry (auth/passwd-file.c, pwfile_lookup) or,
 * for the PAM backend, the system user database (PAM's users are NSS
 * users), in auth_backends order; then the groups and the same policy
 * auth applies to logins (auth_policy: no uid 0, within
 * first_valid_uid..last_valid_uid, not login_user, no group 0). Runs in
 * lmtp's root monitor, with auth's own code.
 */
#ifndef MOAT_LMTP_LOOKUP_H
#define MOAT_LMTP_LOOKUP_H

#include "auth/auth.h"
#include "auth/passwd-file.h"
#include "core/config.h"

/* IPC_ST_OK (out filled, mail set: the record's or mail_location, %u
 * expanded), IPC_ST_FAIL (no such user, or one who gets no mail
 * here) or IPC_ST_TEMPFAIL. pwc: NULL without a passwd-file. */
unsigned int lmtp_lookup(const struct moat_config *cfg,
			 struct pwfile_cache *pwc, const char *user,
			 struct auth_user *out);

#endif
