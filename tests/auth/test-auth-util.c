/*
 * Tests for auth/auth-util.c's account policy: which accounts auth
 * refuses whatever their password (uid 0, (uid_t)-1, outside
 * first_valid_uid..last_valid_uid, login_user's uid when running as
 * root, gid 0 primary or supplementary) -- the same rules moatd applies
 * before starting a session, so auth can answer them as a wrong
 * password (issue 5, finding 2).
 */
#include <criterion/criterion.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "core/config.h"

static struct moat_config *
conf(const char *extra)
{
	struct moat_config *c = NULL;
	char text[512], err[256];

	snprintf(text, sizeof(text), "listen = 127.0.0.1:143 none\n%s",
		 extra);
	cr_assert_eq(config_parse("t.conf", text, strlen(text), &c, err,
				  sizeof(err)), 0, "%s", err);
	return c;
}

Test(auth_policy, table)
{
	static const uint32_t g_ok[] = { 5000, 100 };
	static const uint32_t g_root[] = { 5000, 0 };
	static const uint32_t g_neg[] = { 4294967295u };
	static const struct {
		uint32_t uid, gid;
		const uint32_t *groups;
		uint32_t n;
		bool refused;
	} cases[] = {
		{ 5000, 5000, NULL, 0, false },
		{ 1000, 1000, NULL, 0, false },        /* first_valid_uid */
		{ 60000, 60000, NULL, 0, false },      /* last_valid_uid */
		{ 5000, 5000, g_ok, 2, false },
		{ 0, 0, NULL, 0, true },
		{ 0, 5000, NULL, 0, true },
		{ 999, 999, NULL, 0, true },
		{ 1, 1, NULL, 0, true },
		{ 60001, 60001, NULL, 0, true },
		{ 4294967295u, 5000, NULL, 0, true },
		{ 5000, 0, NULL, 0, true },
		{ 5000, 4294967295u, NULL, 0, true },
		{ 5000, 5000, g_root, 2, true },
		{ 5000, 5000, g_neg, 1, true },
	};
	struct moat_config *c = conf("first_valid_uid = 1000\n"
				     "last_valid_uid = 60000\n");
	struct auth_policy p;
	char buf[128];

	auth_policy_init(&p, c);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why = auth_policy_refuses(&p, cases[i].uid,
						      cases[i].gid,
						      cases[i].groups,
						      cases[i].n, buf,
						      sizeof(buf));

		cr_assert_eq(why != NULL, cases[i].refused, "case %zu (uid "
			     "%u gid %u): got %s, want %s", i, cases[i].uid,
			     cases[i].gid, why != NULL ? why : "allowed",
			     cases[i].refused ? "refused" : "allowed");
	}
	config_free(&c);
}

Test(auth_policy, default_first_valid_uid_is_1000)
{
	struct moat_config *c = conf("");
	struct auth_policy p;
	char buf[128];

	auth_policy_init(&p, c);
	cr_assert_not_null(auth_policy_refuses(&p, 999, 999, NULL, 0, buf,
					       sizeof(buf)),
			   "uid 999 is a Debian system uid: want refused");
	cr_assert_null(auth_policy_refuses(&p, 1000, 1000, NULL, 0, buf,
					   sizeof(buf)));
	cr_assert_null(auth_policy_refuses(&p, 4000000000u, 1000, NULL, 0,
					   buf, sizeof(buf)),
		       "no last_valid_uid: no upper limit");
	config_free(&c);
}

Test(auth_policy, login_users_uid)
{
	struct moat_config *c = conf("login_user = nobody\n");
	struct passwd *pw = getpwnam("nobody");
	struct auth_policy p;
	const char *why;
	char buf[128];

	cr_assert_not_null(pw, "the test needs user nobody");
	auth_policy_init(&p, c);
	why = auth_policy_refuses(&p, (uint32_t)pw->pw_uid, 5000, NULL, 0,
				  buf, sizeof(buf));
	if (geteuid() == 0)
		cr_assert_not_null(why, "root: login_user's uid %u must be "
				   "refused", (unsigned)pw->pw_uid);
	else
		cr_assert_null(why, "not root (no privilege separation): "
			       "got %s", why);
	config_free(&c);
}

Test(auth_policy, unknown_login_user_is_not_fatal)
{
	struct moat_config *c = conf("login_user = no-such-moat-user\n");
	struct auth_policy p;
	char buf[128];

	auth_policy_init(&p, c);
	cr_assert_not(p.refuse_login_uid);
	cr_assert_null(auth_policy_refuses(&p, 5000, 5000, NULL, 0, buf,
					   sizeof(buf)));
	config_free(&c);
}
