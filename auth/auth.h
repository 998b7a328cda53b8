/*
 * auth: types shared by the modules of the auth program (main process,
 * worker pool, workers and their backends). Nothing here is used outside
 * auth/.
 */
#ifndef MOAT_AUTH_H
#define MOAT_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/ipc-proto.h"

/* The user record a successful authentication yields: what moatd needs
 * to start the session. Fixed-size so backends and workers fill it
 * without allocating; every field is NUL-terminated. mail may be empty
 * (the main process then substitutes the global mail_location). */
struct auth_user {
	char user[IPC_USER_MAX + 1];   /* canonical name */
	uint32_t uid;
	uint32_t gid;
	char home[IPC_PATH_MAX + 1];
	char mail[IPC_PATH_MAX + 1];
};

/* A backend's verdict. UNKNOWN means "this backend does not know the
 * user": the next backend in auth_backends decides; when none is left
 * the answer is FAIL. */
enum auth_result {
	AUTH_RES_OK,
	AUTH_RES_FAIL,
	AUTH_RES_TEMPFAIL,
	AUTH_RES_UNKNOWN,
};

/* True if s is 1..IPC_USER_MAX bytes without control characters (the
 * rule for every user name auth accepts from moatd, a worker, a PAM
 * module or a passwd-file). */
bool auth_user_name_valid(const char *s);

/* Looks name up in the system user database (getpwnam_r). Returns 1 and
 * fills uid, gid and home (homesize bytes incl. NUL), 0 if there is no
 * such user, -1 on a lookup error or a home too long (logged). */
int auth_getpw(const char *name, uint32_t *uid, uint32_t *gid, char *home,
	       size_t homesize);

#endif
