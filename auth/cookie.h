/*
 * cookie: the table of session cookies auth has handed out and moatd has
 * not yet redeemed. A cookie is IPC_COOKIE_LEN random bytes bound to the
 * login process that asked (login_id, assigned by moatd) and to the
 * connection the password came in on (conn_id, also moatd's), with the
 * user record and an expiry time. Redeeming deletes the cookie whatever the outcome,
 * so each one is good for one attempt at most.
 *
 * Pure data structure: the caller supplies the random bytes and the
 * clock (monotonic milliseconds), so tests need no event loop.
 */
#ifndef MOAT_AUTH_COOKIE_H
#define MOAT_AUTH_COOKIE_H

#include <stddef.h>
#include <stdint.h>
#include "auth.h"

/* Default bound on outstanding cookies: a cookie lives seconds, so this
 * is far above any real login rate, yet caps memory (~100 bytes each
 * plus strings and 4 bytes per group) if moatd stops redeeming. */
#define COOKIE_TABLE_MAX 65536

enum cookie_result {
	COOKIE_OK,
	COOKIE_UNKNOWN,      /* never issued, already redeemed, or swept */
	COOKIE_EXPIRED,
	COOKIE_FOREIGN,      /* issued to another login process */
	COOKIE_OTHER_CONN,   /* issued for another connection */
};

struct cookie_table;

/* max: most cookies held at once (>= 1). */
struct cookie_table *cookie_table_new(size_t max);
/* Wipes every cookie and frees; sets *t to NULL. NULL-safe. */
void cookie_table_free(struct cookie_table **t);

/* Stores cookie (IPC_COOKIE_LEN bytes) for (login_id, conn_id) and user
 * (its strings, ids and group list), valid until expires_ms. When the table is full, entries expired at now_ms
 * are swept first. Returns 0, or -1 if the table is still full or the
 * cookie is already present (a caller bug or a broken RNG). */
int cookie_table_add(struct cookie_table *t, const uint8_t *cookie,
		     uint64_t login_id, uint32_t conn_id,
		     const struct auth_user *user,
		     uint64_t now_ms, uint64_t expires_ms);

/* Looks the cookie up and deletes it if present. Fills *out only on
 * COOKIE_OK: the login id and the connection id match and
 * now_ms < expiry. */
enum cookie_result cookie_table_redeem(struct cookie_table *t,
				       const uint8_t *cookie,
				       uint64_t login_id, uint32_t conn_id,
				       uint64_t now_ms,
				       struct auth_user *out);

/* Deletes every cookie with expiry <= now_ms; returns how many. */
size_t cookie_table_expire(struct cookie_table *t, uint64_t now_ms);
size_t cookie_table_count(const struct cookie_table *t);

/* A short name for a result, for logs ("unknown", "expired", ...). */
const char *cookie_result_str(enum cookie_result r);

#endif
