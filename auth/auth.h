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
 * without allocating; every string is NUL-terminated. mail may be empty
 * (the main process then substitutes the global mail_location). groups
 * is filled by the worker after a backend said OK (auth_getgroups), so
 * moatd needs no NSS lookup of its own. */
struct auth_user {
	char user[IPC_USER_MAX + 1];   /* canonical name */
	uint32_t uid;
	uint32_t gid;
	char home[IPC_PATH_MAX + 1];
	char mail[IPC_PATH_MAX + 1];
	uint32_t groups[IPC_GROUPS_MAX]; /* supplementary, gid included */
	uint32_t n_groups;
};

struct ipc_out;
struct ipc_rd;
struct moat_config;

/* Which accounts may log in at all, whatever their password: the rules
 * moatd enforces before it starts a session (uid 0, the uid range), and
 * the login processes' own uid. auth applies them with the password
 * check and answers a refused account exactly like a wrong password, so
 * a client cannot use Moat to confirm root's password (issue 5,
 * finding 2); moatd keeps its check as a backstop. */
struct auth_policy {
	uint32_t first_valid_uid;
	uint32_t last_valid_uid;        /* 0 = no upper limit */
	bool refuse_login_uid;
	uint32_t login_uid;
};

/* From cfg. login_user's uid is refused only when running as root:
 * without privilege separation every process, sessions included, runs
 * as the invoking user. A login_user that cannot be looked up is logged
 * (moatd refuses to start without it). */
void auth_policy_init(struct auth_policy *p, const struct moat_config *cfg);
/* NULL if an account with these ids may log in, else the reason (in buf
 * of len bytes). groups may be NULL (n 0) before they are known. */
const char *auth_policy_refuses(const struct auth_policy *p, uint32_t uid,
				uint32_t gid, const uint32_t *groups,
				uint32_t n, char *buf, size_t len);

/* A backend's verdict. UNKNOWN means "this backend does not know the
 * user": the next backend in auth_backends decides; when none is left
 * the answer is FAIL. TIMEOUT is the pool's own: the worker did not
 * answer within auth_worker_timeout and was killed. */
enum auth_result {
	AUTH_RES_OK,
	AUTH_RES_FAIL,
	AUTH_RES_TEMPFAIL,
	AUTH_RES_UNKNOWN,
	AUTH_RES_TIMEOUT,
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

/* The supplementary groups of user with primary group gid, as
 * initgroups(3) would set them (getgrouplist; just gid for a user NSS
 * does not know). Fills groups (room for IPC_GROUPS_MAX) and *n.
 * Returns 0, or -1 (logged) if the user has more than IPC_GROUPS_MAX
 * groups: a session must not run with a silently shortened list. */
int auth_getgroups(const char *user, uint32_t gid, uint32_t *groups,
		   uint32_t *n);

/* Writes groups as the bytes field of WORKER_RESULT / COOKIE_USER
 * (big-endian u32 each). n <= IPC_GROUPS_MAX. */
void auth_put_groups(struct ipc_out *o, const uint32_t *groups, uint32_t n);
/* Reads that field into groups (room for IPC_GROUPS_MAX) and *n.
 * Returns 0, or -1 if it is missing, of the wrong kind, longer than
 * IPC_GROUPS_MAX gids or not a multiple of 4 bytes long. */
int auth_get_groups(struct ipc_rd *r, uint32_t *groups, uint32_t *n);

/* Becomes u for good, as root (a no-op when not root): its groups, gid
 * and uid, real, effective and saved, checked after, and root cannot be
 * regained. -1 on any failure, and for uid or gid 0. For the processes
 * that write a user's mail (lmtp's delivery, moatctl's store work). */
int auth_become_user(const struct auth_user *u);

#endif
