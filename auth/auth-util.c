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
#include "core/str.h"
#include "auth.h"

bool
auth_str_printable(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

bool
auth_user_name_valid(const char *s)
{
	size_t len = strlen(s);

	return len >= 1 && len <= IPC_USER_MAX && auth_str_printable(s);
}

int
auth_getpw(const char *name, uint32_t *uid, uint32_t *gid, char *home,
	   size_t homesize)
{
	struct passwd pw, *res = NULL;
	size_t size = 4096;
	char *buf;
	int err;

	/* Grow the buffer on ERANGE; NSS entries are small, 1 MiB is
	 * far more than any sane one needs. */
	for (;;) {
		buf = xmalloc(size);
		err = getpwnam_r(name, &pw, buf, size, &res);
		if (err != ERANGE || size >= 1024 * 1024)
			break;
		free(buf);
		size *= 2;
	}
	if (err != 0) {
		free(buf);
		errno = err;
		log_error("getpwnam(%s): %m", name);
		return -1;
	}
	if (res == NULL) {
		free(buf);
		return 0;
	}
	*uid = (uint32_t)pw.pw_uid;
	*gid = (uint32_t)pw.pw_gid;
	if (pw.pw_dir == NULL || str_copy(home, pw.pw_dir, homesize) < 0 ||
	    !auth_str_printable(home)) {
		log_error("user %s: home directory unusable (too long or "
			  "control characters)", name);
		free(buf);
		return -1;
	}
	free(buf);
	return 1;
}
