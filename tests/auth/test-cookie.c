/*
 * Tests for auth/cookie.c: single use, expiry, binding to the login
 * process, bounded size, and lookups with hostile cookies.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "auth/cookie.h"

static struct auth_user
user_rec(const char *name, uint32_t uid)
{
	struct auth_user u;

	memset(&u, 0, sizeof(u));
	strcpy(u.user, name);
	u.uid = uid;
	u.gid = uid + 1;
	strcpy(u.home, "/home/x");
	strcpy(u.mail, "maildir:~/Maildir");
	return u;
}

/* Deterministic distinct cookies; tests need no real randomness. */
static void
cookie_n(uint8_t *c, uint32_t n)
{
	for (int i = 0; i < IPC_COOKIE_LEN; i++)
		c[i] = (uint8_t)((n * 2654435761u) >> ((i % 4) * 8)) ^
		    (uint8_t)(i * 37);
	memcpy(c + 28, &n, 4);
}

Test(cookie, redeem_once)
{
	struct cookie_table *t = cookie_table_new(16);
	struct auth_user u = user_rec("alice", 1000), out;
	uint8_t c[IPC_COOKIE_LEN];
	enum cookie_result r;

	cookie_n(c, 1);
	cr_assert_eq(cookie_table_add(t, c, 7, &u, 100, 10100), 0);
	cr_assert_eq(cookie_table_count(t), 1);
	r = cookie_table_redeem(t, c, 7, 5000, &out);
	cr_assert_eq(r, COOKIE_OK, "got %s, want ok", cookie_result_str(r));
	cr_assert_str_eq(out.user, "alice");
	cr_assert_eq(out.uid, 1000);
	cr_assert_eq(out.gid, 1001);
	cr_assert_str_eq(out.home, "/home/x");
	cr_assert_str_eq(out.mail, "maildir:~/Maildir");
	cr_assert_eq(cookie_table_count(t), 0);
	r = cookie_table_redeem(t, c, 7, 5000, &out);
	cr_assert_eq(r, COOKIE_UNKNOWN, "second redeem: got %s, want "
		     "unknown", cookie_result_str(r));
	cookie_table_free(&t);
	cr_assert_null(t);
}

Test(cookie, expiry_boundary)
{
	struct cookie_table *t = cookie_table_new(16);
	struct auth_user u = user_rec("bob", 1), out;
	uint8_t a[IPC_COOKIE_LEN], b[IPC_COOKIE_LEN];

	cookie_n(a, 1);
	cookie_n(b, 2);
	cr_assert_eq(cookie_table_add(t, a, 1, &u, 0, 1000), 0);
	cr_assert_eq(cookie_table_add(t, b, 1, &u, 0, 1000), 0);
	cr_assert_eq(cookie_table_redeem(t, a, 1, 999, &out), COOKIE_OK,
		     "1 ms before expiry: want ok");
	cr_assert_eq(cookie_table_redeem(t, b, 1, 1000, &out),
		     COOKIE_EXPIRED, "at expiry: want expired");
	cr_assert_eq(cookie_table_redeem(t, b, 1, 1000, &out),
		     COOKIE_UNKNOWN, "an expired cookie is deleted too");
	cookie_table_free(&t);
}

Test(cookie, foreign_login_id_burns_cookie)
{
	struct cookie_table *t = cookie_table_new(16);
	struct auth_user u = user_rec("carol", 5), out;
	uint8_t c[IPC_COOKIE_LEN];

	cookie_n(c, 3);
	cr_assert_eq(cookie_table_add(t, c, 42, &u, 0, 1000), 0);
	memset(&out, 0x55, sizeof(out));
	cr_assert_eq(cookie_table_redeem(t, c, 43, 1, &out), COOKIE_FOREIGN);
	cr_assert_eq(out.user[0], 0x55, "a refused redeem must not fill "
		     "the record");
	cr_assert_eq(cookie_table_redeem(t, c, 42, 1, &out), COOKIE_UNKNOWN,
		     "after a foreign attempt the cookie must be gone");
	cookie_table_free(&t);
}

Test(cookie, near_misses_are_unknown)
{
	struct cookie_table *t = cookie_table_new(16);
	struct auth_user u = user_rec("dan", 5), out;
	uint8_t c[IPC_COOKIE_LEN], x[IPC_COOKIE_LEN];

	cookie_n(c, 9);
	cr_assert_eq(cookie_table_add(t, c, 1, &u, 0, 1000), 0);
	/* Same bucket (same first bytes), one bit off at the end. */
	memcpy(x, c, sizeof(x));
	x[IPC_COOKIE_LEN - 1] ^= 1;
	cr_assert_eq(cookie_table_redeem(t, x, 1, 1, &out), COOKIE_UNKNOWN);
	memset(x, 0, sizeof(x));
	cr_assert_eq(cookie_table_redeem(t, x, 1, 1, &out), COOKIE_UNKNOWN);
	memset(x, 0xff, sizeof(x));
	cr_assert_eq(cookie_table_redeem(t, x, 1, 1, &out), COOKIE_UNKNOWN);
	cr_assert_eq(cookie_table_count(t), 1, "misses must not delete "
		     "other cookies");
	cr_assert_eq(cookie_table_redeem(t, c, 1, 1, &out), COOKIE_OK);
	cookie_table_free(&t);
}

Test(cookie, duplicate_rejected)
{
	struct cookie_table *t = cookie_table_new(16);
	struct auth_user u = user_rec("eve", 5);
	uint8_t c[IPC_COOKIE_LEN];

	cookie_n(c, 4);
	cr_assert_eq(cookie_table_add(t, c, 1, &u, 0, 1000), 0);
	cr_assert_eq(cookie_table_add(t, c, 2, &u, 0, 1000), -1,
		     "same cookie twice: want -1");
	cr_assert_eq(cookie_table_count(t), 1);
	cookie_table_free(&t);
}

Test(cookie, table_full)
{
	struct cookie_table *t = cookie_table_new(4);
	struct auth_user u = user_rec("f", 5), out;
	uint8_t c[IPC_COOKIE_LEN];

	for (uint32_t i = 0; i < 4; i++) {
		cookie_n(c, i);
		cr_assert_eq(cookie_table_add(t, c, 1, &u, 0, 1000 + i), 0);
	}
	cookie_n(c, 100);
	cr_assert_eq(cookie_table_add(t, c, 1, &u, 500, 2000), -1,
		     "full table, nothing expired: want -1");
	cr_assert_eq(cookie_table_count(t), 4);
	/* At 1001 the first two have expired and make room. */
	cr_assert_eq(cookie_table_add(t, c, 1, &u, 1001, 3000), 0);
	cr_assert_eq(cookie_table_count(t), 3, "got %zu, want 3",
		     cookie_table_count(t));
	cookie_n(c, 0);
	cr_assert_eq(cookie_table_redeem(t, c, 1, 1001, &out),
		     COOKIE_UNKNOWN, "swept cookie: want unknown");
	cookie_n(c, 3);
	cr_assert_eq(cookie_table_redeem(t, c, 1, 1001, &out), COOKIE_OK);
	cookie_table_free(&t);
}

Test(cookie, expire_sweep)
{
	struct cookie_table *t = cookie_table_new(100);
	struct auth_user u = user_rec("g", 5);
	uint8_t c[IPC_COOKIE_LEN];

	for (uint32_t i = 0; i < 10; i++) {
		cookie_n(c, i);
		cr_assert_eq(cookie_table_add(t, c, i, &u, 0, 100 * (i + 1)),
			     0);
	}
	cr_assert_eq(cookie_table_expire(t, 99), 0);
	cr_assert_eq(cookie_table_expire(t, 300), 3, "want cookies due at "
		     "100, 200, 300 gone");
	cr_assert_eq(cookie_table_count(t), 7);
	cr_assert_eq(cookie_table_expire(t, 100000), 7);
	cr_assert_eq(cookie_table_count(t), 0);
	cookie_table_free(&t);
}

Test(cookie, many)
{
	size_t n = 20000;
	struct cookie_table *t = cookie_table_new(n);
	struct auth_user u = user_rec("h", 5), out;
	uint8_t c[IPC_COOKIE_LEN];

	for (uint32_t i = 0; i < n; i++) {
		cookie_n(c, i);
		cr_assert_eq(cookie_table_add(t, c, i, &u, 0, 1000), 0,
			     "add %u", i);
	}
	cookie_n(c, (uint32_t)n);
	cr_assert_eq(cookie_table_add(t, c, 0, &u, 0, 1000), -1);
	for (uint32_t i = 0; i < n; i++) {
		cookie_n(c, i);
		cr_assert_eq(cookie_table_redeem(t, c, i, 1, &out), COOKIE_OK,
			     "redeem %u", i);
	}
	cr_assert_eq(cookie_table_count(t), 0);
	cookie_table_free(&t);
}

Test(cookie, result_names)
{
	cr_assert_str_eq(cookie_result_str(COOKIE_OK), "ok");
	cr_assert_str_eq(cookie_result_str(COOKIE_UNKNOWN), "unknown cookie");
	cr_assert_str_eq(cookie_result_str(COOKIE_EXPIRED), "expired cookie");
	cr_assert_not_null(strstr(cookie_result_str(COOKIE_FOREIGN),
				  "another login"));
}
