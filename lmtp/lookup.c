/*
 * lookup: see lookup.h. Callers: lmtp/main.c (the connection monitor).
 */
#include <string.h>

#include "core/log.h"
#include "core/str.h"
#include "lmtp/lookup.h"

/* "%u" -> user, "%%" -> "%" in a location; -1 if too long or the name
 * has ':' or '=' (which separate a location's parts), as moatd's
 * session_expand_user. */
static int
expand_user(const char *tmpl, const char *user, char *out, size_t size)
{
	size_t n = 0;

	for (const char *p = tmpl; *p != '\0'; p++) {
		const char *add = p;
		size_t alen = 1;

		if (p[0] == '%' && p[1] == 'u') {
			if (strpbrk(user, ":=") != NULL)
				return -1;
			add = user;
			alen = strlen(user);
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			p++;
		}
		if (n + alen + 1 > size)
			return -1;
		memcpy(out + n, add, alen);
		n += alen;
	}
	out[n] = '\0';
	return 0;
}

unsigned int
lmtp_lookup(const struct moat_config *cfg, struct pwfile_cache *pwc,
	    const char *user, struct auth_user *out)
{
	enum auth_result r = AUTH_RES_UNKNOWN;
	struct auth_policy pol;
	char why[128], mail[IPC_PATH_MAX + 1];
	const char *refused;

	memset(out, 0, sizeof(*out));
	if (!auth_user_name_valid(user) || strchr(user, '/') != NULL ||
	    str_eq(user, ".") || str_eq(user, ".."))
		return IPC_ST_FAIL;
	for (size_t i = 0; i < cfg->n_auth_backends && r == AUTH_RES_UNKNOWN;
	     i++) {
		uint32_t uid, gid;
		char home[IPC_PATH_MAX + 1];
		int found;

		switch (cfg->auth_backends[i]) {
		case CONFIG_AUTH_PASSWD_FILE:
			r = pwc != NULL ? pwfile_lookup(pwc, user, out) :
			    AUTH_RES_TEMPFAIL;
			break;
		case CONFIG_AUTH_PAM:
			found = auth_getpw(user, &uid, &gid, home,
					   sizeof(home));
			if (found < 0) {
				r = AUTH_RES_TEMPFAIL;
			} else if (found > 0) {
				(void)str_copy(out->user, user,
					       sizeof(out->user));
				out->uid = uid;
				out->gid = gid;
				(void)str_copy(out->home, home,
					       sizeof(out->home));
				r = AUTH_RES_OK;
			}
			break;
		}
	}
	if (r == AUTH_RES_TEMPFAIL)
		return IPC_ST_TEMPFAIL;
	if (r != AUTH_RES_OK)
		return IPC_ST_FAIL;
	if (auth_getgroups(out->user, out->gid, out->groups,
			   &out->n_groups) < 0)
		return IPC_ST_TEMPFAIL;
	auth_policy_init(&pol, cfg);
	refused = auth_policy_refuses(&pol, out->uid, out->gid, out->groups,
				      out->n_groups, why, sizeof(why));
	if (refused == NULL && out->home[0] != '/')
		refused = "home is not an absolute path";
	if (refused != NULL) {
		log_info("recipient refused (%s): user=%s", refused,
			 LOG_Q(out->user));
		return IPC_ST_FAIL;
	}
	if (expand_user(out->mail[0] != '\0' ? out->mail :
			cfg->mail_location, out->user, mail,
			sizeof(mail)) < 0) {
		log_error("mail location too long or unusable for user=%s",
			  LOG_Q(out->user));
		return IPC_ST_TEMPFAIL;
	}
	(void)str_copy(out->mail, mail, sizeof(out->mail));
	return IPC_ST_OK;
}
