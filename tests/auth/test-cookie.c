/*
 * Tests for auth/cookie.c: single use, expiry, binding to the login
 * process and to the connection, bounded size, lookups with hostile cookies, and the group
 * list kept with a cookie. Also auth-util.c's group helpers: the NSS
 * lookup and the wire codec of the groups field of WORKER_RESULT and
 * COOKIE_USER, with malformed fields.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/cookie.h"
#include "core/ipc.h"

/* The connection (moatd's id) most cookies here are issued for. */
#define CONN 17u

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
	cr_assert_eq(cookie_table_add(t, c, 7, CONN, &u, 100, 10100), 0);
	cr_assert_eq(cookie_table_count(t), 1);
	r = cookie_table_redeem(t, c, 7, CONN, 5000, &out);
	cr_assert_eq(r, COOKIE_OK, "got %s, want ok", cookie_result_str(r));
	cr_assert_str_eq(out.user, "alice");
	cr_assert_eq(out.uid, 1000);
	cr_assert_eq(out.gid, 1001);
	cr_assert_str_eq(out.home, "/home/x");
	cr_assert_str_eq(out.mail, "maildir:~/Maildir");
	cr_assert_eq(cookie_table_count(t), 0);
	r = cookie_table_redeem(t, c, 7, CONN, 5000, &out);
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
	cr_assert_eq(cookie_table_add(t, a, 1, CONN, &u, 0, 1000), 0);
	cr_assert_eq(cookie_table_add(t, b, 1, CONN, &u, 0, 1000), 0);
	cr_assert_eq(cookie_table_redeem(t, a, 1, CONN, 999, &out), COOKIE_OK,
		     "1 ms before expiry: want ok");
	cr_assert_eq(cookie_table_redeem(t, b, 1, CONN, 1000, &out),
		     COOKIE_EXPIRED, "at expiry: want expired");
	cr_assert_eq(cookie_table_redeem(t, b, 1, CONN, 1000, &out),
		     COOKIE_UNKNOWN, "an expired cookie is deleted too");
	cookie_table_free(&t);
}

Test(cookie, foreign_login_id_burns_cookie)
{
	struct cookie_table *t = cookie_table_new(16);
	struct auth_user u = user_rec("carol", 5), out;
	uint8_t c[IPC_COOKIE_LEN];

	cookie_n(c, 3);
	cr_assert_eq(cookie_table_add(t, c, 42, CONN, &u, 0, 1000), 0);
	memset(&out, 0x55, sizeof(out));
	cr_assert_eq(cookie_table_redeem(t, c, 43, CONN, 1, &out), COOKIE_FOREIGN);
	cr_assert_eq(out.user[0], 0x55, "a refused redeem must not fill "
		     "the record");
	cr_assert_eq(cookie_table_redeem(t, c, 42, CONN, 1, &out), COOKIE_UNKNOWN,
		     "after a foreign attempt the cookie must be gone");
	cookie_table_free(&t);
}

/* Issue 5, finding 7: a login process that got a cookie for one client's
 * connection must not start a session with it on another connection. */
Test(cookie, other_connection_burns_cookie)
{
	struct cookie_table *t = cookie_table_new(16);
	struct auth_user u = user_rec("carol", 5), out;
	uint8_t c[IPC_COOKIE_LEN];
	enum cookie_result r;

	cookie_n(c, 5);
	cr_assert_eq(cookie_table_add(t, c, 42, CONN, &u, 0, 1000), 0);
	memset(&out, 0x55, sizeof(out));
	r = cookie_table_redeem(t, c, 42, CONN + 1, 1, &out);
	cr_assert_eq(r, COOKIE_OTHER_CONN, "right login, other connection: "
		     "got %s, want %s", cookie_result_str(r),
		     cookie_result_str(COOKIE_OTHER_CONN));
	cr_assert_eq(out.user[0], 0x55, "a refused redeem must not fill "
		     "the record");
	r = cookie_table_redeem(t, c, 42, CONN, 1, &out);
	cr_assert_eq(r, COOKIE_UNKNOWN, "after an attempt on another "
		     "connection: got %s, want unknown", cookie_result_str(r));

	/* Both ids must match; the login id is checked first. */
	cr_assert_eq(cookie_table_add(t, c, 42, CONN, &u, 0, 1000), 0);
	cr_assert_eq(cookie_table_redeem(t, c, 43, CONN + 1, 1, &out),
		     COOKIE_FOREIGN);
	cookie_table_free(&t);
}

Test(cookie, near_misses_are_unknown)
{
	struct cookie_table *t = cookie_table_new(16);
	struct auth_user u = user_rec("dan", 5), out;
	uint8_t c[IPC_COOKIE_LEN], x[IPC_COOKIE_LEN];

	cookie_n(c, 9);
	cr_assert_eq(cookie_table_add(t, c, 1, CONN, &u, 0, 1000), 0);
	/* Same bucket (same first bytes), one bit off at the end. */
	memcpy(x, c, sizeof(x));
	x[IPC_COOKIE_LEN - 1] ^= 1;
	cr_assert_eq(cookie_table_redeem(t, x, 1, CONN, 1, &out), COOKIE_UNKNOWN);
	memset(x, 0, sizeof(x));
	cr_assert_eq(cookie_table_redeem(t, x, 1, CONN, 1, &out), COOKIE_UNKNOWN);
	memset(x, 0xff, sizeof(x));
	cr_assert_eq(cookie_table_redeem(t, x, 1, CONN, 1, &out), COOKIE_UNKNOWN);
	cr_assert_eq(cookie_table_count(t), 1, "misses must not delete "
		     "other cookies");
	cr_assert_eq(cookie_table_redeem(t, c, 1, CONN, 1, &out), COOKIE_OK);
	cookie_table_free(&t);
}

Test(cookie, duplicate_rejected)
{
	struct cookie_table *t = cookie_table_new(16);
	struct auth_user u = user_rec("eve", 5);
	uint8_t c[IPC_COOKIE_LEN];

	cookie_n(c, 4);
	cr_assert_eq(cookie_table_add(t, c, 1, CONN, &u, 0, 1000), 0);
	cr_assert_eq(cookie_table_add(t, c, 2, CONN, &u, 0, 1000), -1,
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
		cr_assert_eq(cookie_table_add(t, c, 1, CONN, &u, 0, 1000 + i), 0);
	}
	cookie_n(c, 100);
	cr_assert_eq(cookie_table_add(t, c, 1, CONN, &u, 500, 2000), -1,
		     "full table, nothing expired: want -1");
	cr_assert_eq(cookie_table_count(t), 4);
	/* At 1001 the first two have expired and make room. */
	cr_assert_eq(cookie_table_add(t, c, 1, CONN, &u, 1001, 3000), 0);
	cr_assert_eq(cookie_table_count(t), 3, "got %zu, want 3",
		     cookie_table_count(t));
	cookie_n(c, 0);
	cr_assert_eq(cookie_table_redeem(t, c, 1, CONN, 1001, &out),
		     COOKIE_UNKNOWN, "swept cookie: want unknown");
	cookie_n(c, 3);
	cr_assert_eq(cookie_table_redeem(t, c, 1, CONN, 1001, &out), COOKIE_OK);
	cookie_table_free(&t);
}

Test(cookie, expire_sweep)
{
	struct cookie_table *t = cookie_table_new(100);
	struct auth_user u = user_rec("g", 5);
	uint8_t c[IPC_COOKIE_LEN];

	for (uint32_t i = 0; i < 10; i++) {
		cookie_n(c, i);
		cr_assert_eq(cookie_table_add(t, c, i, CONN, &u, 0, 100 * (i + 1)),
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
		cr_assert_eq(cookie_table_add(t, c, i, CONN, &u, 0, 1000), 0,
			     "add %u", i);
	}
	cookie_n(c, (uint32_t)n);
	cr_assert_eq(cookie_table_add(t, c, 0, CONN, &u, 0, 1000), -1);
	for (uint32_t i = 0; i < n; i++) {
		cookie_n(c, i);
		cr_assert_eq(cookie_table_redeem(t, c, i, CONN, 1, &out), COOKIE_OK,
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
	cr_assert_not_null(strstr(cookie_result_str(COOKIE_OTHER_CONN),
				  "another connection"));
}

Test(cookie, stores_groups)
{
	struct cookie_table *t = cookie_table_new(16);
	struct auth_user u = user_rec("gina", 1000), out;
	uint8_t c[IPC_COOKIE_LEN], c2[IPC_COOKIE_LEN];
	enum cookie_result r;

	u.n_groups = IPC_GROUPS_MAX;
	for (uint32_t i = 0; i < u.n_groups; i++)
		u.groups[i] = 5000 + i * 7;
	cookie_n(c, 1);
	cr_assert_eq(cookie_table_add(t, c, 7, CONN, &u, 100, 10100), 0);
	/* The caller's copy may change once the cookie is made. */
	memset(u.groups, 0xee, sizeof(u.groups));
	u.n_groups = 1;
	u.groups[0] = 1001;
	cookie_n(c2, 2);
	cr_assert_eq(cookie_table_add(t, c2, 7, CONN, &u, 100, 10100), 0);

	memset(&out, 0xaa, sizeof(out));
	r = cookie_table_redeem(t, c, 7, CONN, 5000, &out);
	cr_assert_eq(r, COOKIE_OK, "got %s, want ok", cookie_result_str(r));
	cr_assert_eq(out.n_groups, IPC_GROUPS_MAX, "got %u groups, want %d",
		     out.n_groups, IPC_GROUPS_MAX);
	for (uint32_t i = 0; i < out.n_groups; i++)
		cr_assert_eq(out.groups[i], 5000 + i * 7, "group %u: got %u, "
			     "want %u", i, out.groups[i], 5000 + i * 7);
	r = cookie_table_redeem(t, c2, 7, CONN, 5000, &out);
	cr_assert_eq(r, COOKIE_OK);
	cr_assert_eq(out.n_groups, 1, "got %u groups, want 1", out.n_groups);
	cr_assert_eq(out.groups[0], 1001);
	cookie_table_free(&t);
}

Test(cookie, refused_redeem_returns_no_groups)
{
	struct cookie_table *t = cookie_table_new(16);
	struct auth_user u = user_rec("hal", 1000), out;
	uint8_t c[IPC_COOKIE_LEN];

	u.n_groups = 2;
	u.groups[0] = 1001;
	u.groups[1] = 5100;
	cookie_n(c, 3);
	cr_assert_eq(cookie_table_add(t, c, 7, CONN, &u, 100, 10100), 0);
	memset(&out, 0, sizeof(out));
	cr_assert_eq(cookie_table_redeem(t, c, 8, CONN, 5000, &out),
		     COOKIE_FOREIGN);
	cr_assert_eq(out.n_groups, 0, "got %u groups, want 0", out.n_groups);
	cookie_table_free(&t);
}

Test(groups, lookup)
{
	uint32_t g[IPC_GROUPS_MAX], n = 0;
	bool has0 = false;

	cr_assert_eq(auth_getgroups("root", 0, g, &n), 0);
	cr_assert_geq(n, 1);
	cr_assert_leq(n, IPC_GROUPS_MAX);
	for (uint32_t i = 0; i < n; i++)
		has0 |= g[i] == 0;
	cr_assert(has0, "root's groups lack gid 0");

	/* Unknown to NSS (a passwd-file user): only the gid, as
	 * initgroups would set. */
	cr_assert_eq(auth_getgroups("moat-no-such-user-4242", 4242, g, &n), 0);
	cr_assert_eq(n, 1, "got %u groups, want 1", n);
	cr_assert_eq(g[0], 4242, "got gid %u, want 4242", g[0]);
}

/* Sends o over a seqpacket pair (which finishes its header) and
 * receives it into frame as a peer would; frees o. */
static void
roundtrip(struct ipc_out *o, uint8_t *frame, struct ipc_msg *m)
{
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	cr_assert_eq(ipc_send(sv[0], o, -1), 0, "send failed");
	ipc_out_free(o);
	cr_assert_eq(ipc_recv(sv[1], frame, IPC_MSG_MAX, m), IPC_RECV_OK);
	close(sv[0]);
	close(sv[1]);
}

/* Builds a WORKER_RESULT-shaped message ending in the given raw groups
 * field, decodes it, and reads the groups with auth_get_groups. */
static int
decode_groups(const void *field, size_t len, uint32_t *g, uint32_t *n)
{
	static uint8_t frame[IPC_MSG_MAX];
	struct ipc_out o;
	struct ipc_msg m;
	struct ipc_rd r;
	int rc;

	ipc_out_init(&o, IPC_WORKER_RESULT, 9);
	ipc_put_u32(&o, IPC_ST_OK);
	ipc_put_bytes(&o, field, len);
	roundtrip(&o, frame, &m);
	ipc_rd_init(&r, &m);
	cr_assert_eq(ipc_get_u32(&r, &(uint32_t){ 0 }), 0);
	rc = auth_get_groups(&r, g, n);
	if (rc == 0)
		rc = ipc_rd_end(&r);
	return rc;
}

Test(groups, codec_round_trip)
{
	static const uint32_t want[] = { 5003, 5100, 0x01020304u,
					 0xfffffffeu };
	uint32_t g[IPC_GROUPS_MAX], n = 99;
	struct ipc_out o;
	static uint8_t frame[IPC_MSG_MAX];
	struct ipc_msg m;
	struct ipc_rd r;
	const uint8_t *p;
	size_t len;

	/* Big-endian on the wire. */
	ipc_out_init(&o, IPC_WORKER_RESULT, 1);
	auth_put_groups(&o, want, 4);
	roundtrip(&o, frame, &m);
	ipc_rd_init(&r, &m);
	cr_assert_eq(ipc_get_bytes(&r, &p, &len, 64), 0);
	cr_assert_eq(len, 16, "got %zu bytes, want 16", len);
	cr_assert_eq(memcmp(p + 8, "\x01\x02\x03\x04", 4), 0,
		     "gid not big-endian");
	cr_assert_eq(memcmp(p, "\x00\x00\x13\x8b", 4), 0);

	cr_assert_eq(decode_groups(p, 16, g, &n), 0);
	cr_assert_eq(n, 4, "got %u groups, want 4", n);
	cr_assert_eq(memcmp(g, want, sizeof(want)), 0);

	/* Empty (FAIL replies): zero groups. */
	cr_assert_eq(decode_groups("", 0, g, &n), 0);
	cr_assert_eq(n, 0, "got %u groups, want 0", n);
}

Test(groups, codec_rejects_malformed)
{
	static uint8_t big[4 * IPC_GROUPS_MAX + 4];
	uint32_t g[IPC_GROUPS_MAX], n;
	static const size_t bad_len[] = { 1, 2, 3, 5, 7, 4 * IPC_GROUPS_MAX + 1,
					  4 * IPC_GROUPS_MAX + 4 };

	for (size_t i = 0; i < sizeof(bad_len) / sizeof(bad_len[0]); i++)
		cr_assert_eq(decode_groups(big, bad_len[i], g, &n), -1,
			     "length %zu: accepted, want refused",
			     bad_len[i]);
	/* Exactly the maximum is fine. */
	cr_assert_eq(decode_groups(big, 4 * IPC_GROUPS_MAX, g, &n), 0);
	cr_assert_eq(n, IPC_GROUPS_MAX);
}

Test(groups, codec_wrong_kind_or_missing)
{
	static uint8_t frame[IPC_MSG_MAX];
	uint32_t g[IPC_GROUPS_MAX], n;
	struct ipc_out o;
	struct ipc_msg m;
	struct ipc_rd r;

	/* A u32 where the bytes field belongs. */
	ipc_out_init(&o, IPC_COOKIE_USER, 1);
	ipc_put_u32(&o, 5003);
	roundtrip(&o, frame, &m);
	ipc_rd_init(&r, &m);
	cr_assert_eq(auth_get_groups(&r, g, &n), -1);

	/* No field at all (an old peer). */
	ipc_out_init(&o, IPC_COOKIE_USER, 1);
	roundtrip(&o, frame, &m);
	ipc_rd_init(&r, &m);
	cr_assert_eq(auth_get_groups(&r, g, &n), -1);
}
