/*
 * auth-util: small validation helpers shared by the auth modules.
 * Callers: main (AUTH_REQ from moatd), wpool (results from workers),
 * passwd-file and PAM backends. Inputs are untrusted strings; the
 * system user database is trusted but its fields are still checked.
 */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/privs.h"
#include "core/str.h"
#include "auth.h"

bool
auth_user_name_valid(const char *s)
{
	size_t len = strlen(s);

	return len >= 1 && len <= IPC_USER_MAX && !str_has_ctl(s);
}

int
auth_getpw(const char *name, uint32_t *uid, uint32_t *gid, char *home,
	   size_t homesize)
{
	struct passwd pw;
	char *buf;
	int r;

	r = privs_getpwnam(name, &pw, &buf);
	if (r < 0) {
		log_error("getpwnam(%s): %m", name);
		return -1;
	}
	if (r == 0)
		return 0;
	*uid = (uint32_t)pw.pw_uid;
	*gid = (uint32_t)pw.pw_gid;
	if (pw.pw_dir == NULL || str_copy(home, pw.pw_dir, homesize) < 0 ||
	    str_has_ctl(home)) {
		log_error("user %s: home directory unusable (too long or "
			  "control characters)", name);
		free(buf);
		return -1;
	}
	free(buf);
	return 1;
}
