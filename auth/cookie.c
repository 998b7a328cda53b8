/*
 * cookie: outstanding session cookies (see cookie.h).
 * Callers: auth/main.c (AUTH_RESULT creates, COOKIE_REDEEM redeems, a
 * periodic timer expires). Cookies to redeem come from moatd, which got
 * them from a login process that may be compromised: they are treated as
 * attacker-chosen bytes.
 *
 * Layout: a chained hash table indexed by the cookie's first bytes (our
 * cookies are uniformly random, so no keyed hash is needed to spread
 * them; an attacker-chosen lookup key only picks which chain we walk,
 * and chains stay short because the entries themselves are random).
 * Every candidate in a chain is compared in constant time over the whole
 * cookie. A second, doubly linked list keeps insertion order so expiry
 * walks only the entries that are due.
 */
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "cookie.h"

struct cookie_ent {
	uint8_t cookie[IPC_COOKIE_LEN];
	uint64_t login_id;
	uint32_t conn_id;
	uint64_t expires_ms;
	uint32_t uid, gid;
	char *user, *home, *mail;
	uint32_t *groups;
	uint32_t n_groups;
	struct cookie_ent *chain;          /* next in bucket */
	struct cookie_ent *older, *newer;  /* insertion order */
};

struct cookie_table {
	struct cookie_ent **buckets;
	size_t nbuckets;                   /* power of two */
	size_t count, max;
	struct cookie_ent *oldest, *newest;
};

struct cookie_table *
cookie_table_new(size_t max)
{
	struct cookie_table *t = xcalloc(1, sizeof(*t));
	size_t nb = 64;

	if (max == 0)
		max = 1;
	/* About two entries per bucket at capacity. */
	while (nb < max / 2 && nb < ((size_t)1 << 20))
		nb <<= 1;
	t->buckets = xcalloc(nb, sizeof(*t->buckets));
	t->nbuckets = nb;
	t->max = max;
	return t;
}

static size_t
bucket_of(const struct cookie_table *t, const uint8_t *cookie)
{
	uint64_t h = 0;

	memcpy(&h, cookie, sizeof(h));
	return (size_t)(h & (t->nbuckets - 1));
}

static void
ent_free(struct cookie_ent *e)
{
	explicit_bzero(e->cookie, sizeof(e->cookie));
	free(e->user);
	free(e->home);
	free(e->mail);
	free(e->groups);
	explicit_bzero(e, sizeof(*e));
	free(e);
}

/* Unlinks e from both lists and frees it. */
static void
ent_remove(struct cookie_table *t, struct cookie_ent *e)
{
	struct cookie_ent **pp = &t->buckets[bucket_of(t, e->cookie)];

	while (*pp != e)
		pp = &(*pp)->chain;
	*pp = e->chain;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		t->oldest = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		t->newest = e->older;
	t->count--;
	ent_free(e);
}

void
cookie_table_free(struct cookie_table **tp)
{
	struct cookie_table *t;
	struct cookie_ent *e, *next;

	if (tp == NULL || *tp == NULL)
		return;
	t = *tp;
	for (e = t->oldest; e != NULL; e = next) {
		next = e->newer;
		ent_free(e);
	}
	free(t->buckets);
	free(t);
	*tp = NULL;
}

static struct cookie_ent *
find(const struct cookie_table *t, const uint8_t *cookie)
{
	struct cookie_ent *e, *hit = NULL;

	/* Walk the whole chain so the time does not tell where (or
	 * whether) a cookie sits in it. */
	for (e = t->buckets[bucket_of(t, cookie)]; e != NULL; e = e->chain) {
		if (str_ct_eq(e->cookie, cookie, IPC_COOKIE_LEN))
			hit = e;
	}
	return hit;
}

size_t
cookie_table_expire(struct cookie_table *t, uint64_t now_ms)
{
	struct cookie_ent *e, *next;
	size_t n = 0;

	/* Insertion order is expiry order while the lifetime stays the
	 * same. After a reload that shortens it, a few entries may sit
	 * behind a later-expiring one until that one goes; redeem checks
	 * the expiry itself, so this only delays freeing memory. */
	for (e = t->oldest; e != NULL && e->expires_ms <= now_ms; e = next) {
		next = e->newer;
		ent_remove(t, e);
		n++;
	}
	return n;
}

int
cookie_table_add(struct cookie_table *t, const uint8_t *cookie,
		 uint64_t login_id, uint32_t conn_id,
		 const struct auth_user *user, uint64_t now_ms,
		 uint64_t expires_ms)
{
	struct cookie_ent *e;
	size_t b;

	if (t->count >= t->max)
		(void)cookie_table_expire(t, now_ms);
	if (t->count >= t->max)
		return -1;
	if (find(t, cookie) != NULL)
		return -1;
	e = xcalloc(1, sizeof(*e));
	memcpy(e->cookie, cookie, IPC_COOKIE_LEN);
	e->login_id = login_id;
	e->conn_id = conn_id;
	e->expires_ms = expires_ms;
	e->uid = user->uid;
	e->gid = user->gid;
	e->user = xstrdup(user->user);
	e->home = xstrdup(user->home);
	e->mail = xstrdup(user->mail);
	/* Only as many as the user has: most have a handful. A count
	 * over the maximum is a caller bug; keep none rather than cut. */
	if (user->n_groups > 0 && user->n_groups <= IPC_GROUPS_MAX) {
		e->groups = xreallocarray(NULL, user->n_groups,
					  sizeof(*e->groups));
		memcpy(e->groups, user->groups,
		       user->n_groups * sizeof(*e->groups));
		e->n_groups = user->n_groups;
	}
	b = bucket_of(t, cookie);
	e->chain = t->buckets[b];
	t->buckets[b] = e;
	e->older = t->newest;
	if (t->newest != NULL)
		t->newest->newer = e;
	else
		t->oldest = e;
	t->newest = e;
	t->count++;
	return 0;
}

enum cookie_result
cookie_table_redeem(struct cookie_table *t, const uint8_t *cookie,
		    uint64_t login_id, uint32_t conn_id, uint64_t now_ms,
		    struct auth_user *out)
{
	struct cookie_ent *e = find(t, cookie);
	enum cookie_result r;

	if (e == NULL)
		return COOKIE_UNKNOWN;
	if (e->login_id != login_id)
		r = COOKIE_FOREIGN;
	else if (e->conn_id != conn_id)
		r = COOKIE_OTHER_CONN;
	else if (now_ms >= e->expires_ms)
		r = COOKIE_EXPIRED;
	else
		r = COOKIE_OK;
	if (r == COOKIE_OK) {
		memset(out, 0, sizeof(*out));
		/* The strings were validated to fit when the cookie was
		 * made; str_copy cannot cut them. */
		(void)str_copy(out->user, e->user, sizeof(out->user));
		(void)str_copy(out->home, e->home, sizeof(out->home));
		(void)str_copy(out->mail, e->mail, sizeof(out->mail));
		out->uid = e->uid;
		out->gid = e->gid;
		if (e->n_groups > 0)
			memcpy(out->groups, e->groups,
			       e->n_groups * sizeof(*out->groups));
		out->n_groups = e->n_groups;
	}
	ent_remove(t, e);
	return r;
}

size_t
cookie_table_count(const struct cookie_table *t)
{
	return t->count;
}

const char *
cookie_result_str(enum cookie_result r)
{
	switch (r) {
	case COOKIE_OK:
		return "ok";
	case COOKIE_UNKNOWN:
		return "unknown cookie";
	case COOKIE_EXPIRED:
		return "expired cookie";
	case COOKIE_FOREIGN:
		return "cookie of another login process";
	case COOKIE_OTHER_CONN:
		return "cookie of another connection";
	}
	return "?";
}
