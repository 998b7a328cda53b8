/*
 * throttle: per-address failure counting with a fixed window (rules in
 * throttle.h). Callers: auth/main.c. The addresses come from moatd (it
 * took them from accept(), and auth validated them again), but which
 * addresses appear is chosen by whoever connects, so the table is
 * bounded and hashed with a secret key (SipHash-2-4, core/siphash.h).
 *
 * Entries sit on a list ordered by window start (an entry moves to the
 * end whenever its window restarts), so expiry and eviction take from
 * the front.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/siphash.h"
#include "core/str.h"
#include "throttle.h"

struct thr_ent {
	uint8_t key[THROTTLE_KEY_LEN];
	uint64_t start_ms;          /* window start: first failure in it */
	unsigned int failures;      /* failures since start_ms */
	struct thr_ent *chain;
	struct thr_ent *prev, *next;  /* ordered by start_ms */
};

struct throttle {
	unsigned int max_failures;
	uint64_t window_ms;
	struct thr_ent **buckets;
	size_t nbuckets;            /* power of two */
	size_t count, max;
	struct thr_ent *first, *last;
	uint8_t hkey[SIPHASH_KEY_LEN];
};

/* throttle.h promises callers a hash key of THROTTLE_KEY_LEN bytes. */
_Static_assert(THROTTLE_KEY_LEN == SIPHASH_KEY_LEN,
	       "throttle hash key size differs from SipHash's");

/* ---- keys ---- */

int
throttle_key(const char *ip, uint8_t *key)
{
	struct in_addr a4;
	struct in6_addr a6;

	memset(key, 0, THROTTLE_KEY_LEN);
	if (ip == NULL)
		return -1;
	if (inet_pton(AF_INET, ip, &a4) == 1) {
		key[10] = 0xff;
		key[11] = 0xff;
		memcpy(key + 12, &a4, 4);
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &a6) != 1)
		return -1;
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		memcpy(key, &a6, 16);
		return 0;
	}
	/* The /64 prefix. The low half stays zero, which no IPv4-mapped
	 * key has (bytes 10-11 are 0xff there), so the two never meet. */
	memcpy(key, &a6, 8);
	return 0;
}

/* ---- table ---- */

struct throttle *
throttle_new(unsigned int max_failures, uint64_t window_ms,
	     size_t max_entries, const uint8_t *hash_key)
{
	struct throttle *t = xcalloc(1, sizeof(*t));
	size_t nb = 64;

	if (max_entries == 0)
		max_entries = 1;
	while (nb < max_entries / 2 && nb < ((size_t)1 << 20))
		nb <<= 1;
	t->buckets = xcalloc(nb, sizeof(*t->buckets));
	t->nbuckets = nb;
	t->max = max_entries;
	memcpy(t->hkey, hash_key, sizeof(t->hkey));
	throttle_configure(t, max_failures, window_ms);
	return t;
}

void
throttle_configure(struct throttle *t, unsigned int max_failures,
		   uint64_t window_ms)
{
	/* config.c enforces >= 1 for both; guard anyway so a zero never
	 * throttles everybody. 0 failures would mean "always throttled". */
	t->max_failures = max_failures == 0 ? 1 : max_failures;
	t->window_ms = window_ms == 0 ? 1 : window_ms;
}

void
throttle_free(struct throttle **tp)
{
	struct throttle *t;
	struct thr_ent *e, *next;

	if (tp == NULL || *tp == NULL)
		return;
	t = *tp;
	for (e = t->first; e != NULL; e = next) {
		next = e->next;
		free(e);
	}
	free(t->buckets);
	explicit_bzero(t, sizeof(*t));
	free(t);
	*tp = NULL;
}

static size_t
bucket_of(const struct throttle *t, const uint8_t *key)
{
	return (size_t)(siphash24(t->hkey, key, THROTTLE_KEY_LEN) &
	    (t->nbuckets - 1));
}

static struct thr_ent *
find(const struct throttle *t, const uint8_t *key)
{
	struct thr_ent *e;

	for (e = t->buckets[bucket_of(t, key)]; e != NULL; e = e->chain) {
		if (memcmp(e->key, key, THROTTLE_KEY_LEN) == 0)
			return e;
	}
	return NULL;
}

static void
list_unlink(struct throttle *t, struct thr_ent *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		t->first = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		t->last = e->prev;
	e->prev = e->next = NULL;
}

static void
list_append(struct throttle *t, struct thr_ent *e)
{
	e->prev = t->last;
	e->next = NULL;
	if (t->last != NULL)
		t->last->next = e;
	else
		t->first = e;
	t->last = e;
}

static void
ent_remove(struct throttle *t, struct thr_ent *e)
{
	struct thr_ent **pp = &t->buckets[bucket_of(t, e->key)];

	while (*pp != e)
		pp = &(*pp)->chain;
	*pp = e->chain;
	list_unlink(t, e);
	t->count--;
	free(e);
}

static bool
window_over(const struct throttle *t, const struct thr_ent *e,
	    uint64_t now_ms)
{
	return now_ms >= e->start_ms && now_ms - e->start_ms >= t->window_ms;
}

bool
throttle_check(struct throttle *t, const char *ip, uint64_t now_ms)
{
	uint8_t key[THROTTLE_KEY_LEN];
	struct thr_ent *e;

	if (throttle_key(ip, key) < 0)
		return false;
	e = find(t, key);
	if (e == NULL || window_over(t, e, now_ms))
		return false;
	return e->failures >= t->max_failures;
}

bool
throttle_fail(struct throttle *t, const char *ip, uint64_t now_ms)
{
	uint8_t key[THROTTLE_KEY_LEN];
	struct thr_ent *e;
	size_t b;

	if (throttle_key(ip, key) < 0)
		return false;
	e = find(t, key);
	if (e != NULL && window_over(t, e, now_ms)) {
		/* A new window starts with this failure. */
		e->start_ms = now_ms;
		e->failures = 0;
		list_unlink(t, e);
		list_append(t, e);
	}
	if (e == NULL) {
		if (t->count >= t->max)
			(void)throttle_expire(t, now_ms);
		if (t->count >= t->max)
			ent_remove(t, t->first);
		e = xcalloc(1, sizeof(*e));
		memcpy(e->key, key, sizeof(key));
		e->start_ms = now_ms;
		b = bucket_of(t, key);
		e->chain = t->buckets[b];
		t->buckets[b] = e;
		list_append(t, e);
		t->count++;
	}
	if (e->failures < t->max_failures) {
		e->failures++;
		return e->failures == t->max_failures;
	}
	return false;
}

size_t
throttle_expire(struct throttle *t, uint64_t now_ms)
{
	struct thr_ent *e, *next;
	size_t n = 0;

	/* Ordered by window start and one window length for all, so the
	 * first entry whose window is still open ends the sweep. */
	for (e = t->first; e != NULL && window_over(t, e, now_ms); e = next) {
		next = e->next;
		ent_remove(t, e);
		n++;
	}
	return n;
}

size_t
throttle_count(const struct throttle *t)
{
	return t->count;
}
