/*
 * auth-util: small validation helpers shared by the auth modules.
 * Callers: main (AUTH_REQ from moatd), wpool (results from workers),
 * passwd-file and PAM backends, worker (group lists, which accounts may
 * log in). Inputs are
 * untrusted strings; the system user and group databases are trusted
 * but their answers are still bounded; a group list read from another
 * process is checked for shape (length) here, for content by moatd.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>
#include <unistd.h>

#include "core/config.h"
#include "core/ipc.h"
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
		log_error("getpwnam: user=%s: %m", LOG_Q(name));
		return -1;
	}
	if (r == 0)
		return 0;
	*uid = (uint32_t)pw.pw_uid;
	*gid = (uint32_t)pw.pw_gid;
	if (pw.pw_dir == NULL || str_copy(home, pw.pw_dir, homesize) < 0 ||
	    str_has_ctl(home)) {
		log_error("user=%s: home directory unusable (too long or "
			  "control characters)", LOG_Q(name));
		free(buf);
		return -1;
	}
	free(buf);
	return 1;
}

int
auth_getgroups(const char *user, uint32_t gid, uint32_t *groups, uint32_t *n)
{
	/* gid_t is what getgrouplist fills; on Linux it is the u32 the
	 * wire carries. */
	_Static_assert(sizeof(gid_t) == sizeof(uint32_t), "gid_t is 32 bits");
	gid_t *g = NULL;
	int room = 32, cnt;

	for (;;) {
		g = xreallocarray(g, (size_t)room, sizeof(*g));
		cnt = room;
		if (getgrouplist(user, (gid_t)gid, g, &cnt) >= 0)
			break;
		/* Too small: glibc says how many there are (cnt); a
		 * library that does not gets twice the room. Past
		 * IPC_GROUPS_MAX the answer cannot be sent whole. */
		if (room >= IPC_GROUPS_MAX || cnt > IPC_GROUPS_MAX) {
			log_error("user=%s is in more than %d groups; "
				  "refusing the login rather than dropping "
				  "some", LOG_Q(user), IPC_GROUPS_MAX);
			free(g);
			return -1;
		}
		room = cnt > room ? cnt : room * 2;
		if (room > IPC_GROUPS_MAX)
			room = IPC_GROUPS_MAX;
	}
	if (cnt < 1) {
		/* Not even gid: what initgroups would still set. */
		g[0] = (gid_t)gid;
		cnt = 1;
	}
	for (int i = 0; i < cnt; i++)
		groups[i] = (uint32_t)g[i];
	*n = (uint32_t)cnt;
	free(g);
	return 0;
}

void
auth_put_groups(struct ipc_out *o, const uint32_t *groups, uint32_t n)
{
	uint8_t b[4 * IPC_GROUPS_MAX];

	if (n > IPC_GROUPS_MAX)
		n = 0;    /* a caller bug; never send a cut list */
	for (uint32_t i = 0; i < n; i++) {
		b[4 * i] = (uint8_t)(groups[i] >> 24);
		b[4 * i + 1] = (uint8_t)(groups[i] >> 16);
		b[4 * i + 2] = (uint8_t)(groups[i] >> 8);
		b[4 * i + 3] = (uint8_t)groups[i];
	}
	ipc_put_bytes(o, b, 4 * (size_t)n);
}

int
auth_get_groups(struct ipc_rd *r, uint32_t *groups, uint32_t *n)
{
	const uint8_t *p;
	size_t len;

	if (ipc_get_bytes(r, &p, &len, 4 * IPC_GROUPS_MAX) < 0 ||
	    len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len / 4; i++)
		groups[i] = (uint32_t)p[4 * i] << 24 |
		    (uint32_t)p[4 * i + 1] << 16 |
		    (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
	*n = (uint32_t)(len / 4);
	return 0;
}

void
auth_policy_init(struct auth_policy *p, const struct moat_config *cfg)
{
	uid_t uid;
	gid_t gid;

	memset(p, 0, sizeof(*p));
	p->first_valid_uid = cfg->first_valid_uid;
	p->last_valid_uid = cfg->last_valid_uid;
	if (geteuid() != 0)
		return;
	if (privs_lookup_user(cfg->login_user, &uid, &gid) < 0) {
		log_warn("login_user %s: no such user; its uid cannot be "
			 "refused here", cfg->login_user);
		return;
	}
	p->refuse_login_uid = true;
	p->login_uid = (uint32_t)uid;
}

const char *
auth_policy_refuses(const struct auth_policy *p, uint32_t uid, uint32_t gid,
		    const uint32_t *groups, uint32_t n, char *buf, size_t len)
{
	/* The same rules as moatd's (master/session.c), so nothing auth
	 * accepts is refused there with a different answer. */
	if (uid == 0)
		return "uid 0";
	/* (uid_t)-1 and (gid_t)-1 mean "no change" to set*id(2). */
	if (uid == UINT32_MAX) {
		snprintf(buf, len, "uid %u", uid);
		return buf;
	}
	if (uid < p->first_valid_uid) {
		snprintf(buf, len, "uid %u is below first_valid_uid %u", uid,
			 p->first_valid_uid);
		return buf;
	}
	if (p->last_valid_uid != 0 && uid > p->last_valid_uid) {
		snprintf(buf, len, "uid %u is above last_valid_uid %u", uid,
			 p->last_valid_uid);
		return buf;
	}
	if (p->refuse_login_uid && uid == p->login_uid) {
		snprintf(buf, len, "uid %u is login_user's", uid);
		return buf;
	}
	if (gid == 0 || gid == UINT32_MAX) {
		snprintf(buf, len, "gid %u", gid);
		return buf;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (groups[i] == 0 || groups[i] == UINT32_MAX) {
			snprintf(buf, len, "supplementary group %u",
				 groups[i]);
			return buf;
		}
	}
	return NULL;
}

int
auth_become_user(const struct auth_user *u)
{
	gid_t groups[IPC_GROUPS_MAX];
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (geteuid() != 0)
		return 0;            /* not root: we are who we are */
	for (uint32_t i = 0; i < u->n_groups; i++)
		groups[i] = (gid_t)u->groups[i];
	if (u->uid == 0 || u->gid == 0 ||
	    setgroups(u->n_groups, groups) < 0 ||
	    setresgid(u->gid, u->gid, u->gid) < 0 ||
	    setresuid(u->uid, u->uid, u->uid) < 0)
		return -1;
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 ||
	    ru != u->uid || eu != u->uid || su != u->uid ||
	    rg != u->gid || eg != u->gid || sg != u->gid ||
	    setuid(0) == 0 || seteuid(0) == 0)
		return -1;
	return 0;
}
