/*
 * throttle: per-address failure counting with a fixed window, counted
 * when a request arrives (rules in throttle.h). Callers: auth/main.c.
 * The addresses come from moatd (it took them from accept(), and auth
 * validated them again), but which addresses appear is chosen by
 * whoever connects, so the table is bounded and hashed with a secret
 * key (SipHash-2-4, core/siphash.h).
 *
 * Every entry is on one of two lists: "held" (throttled, or with
 * requests in flight or waiting: never evicted) or "lru" (the others,
 * least recently active first: eviction takes the front). An entry that
 * would hold nothing (no failure in an open window, nothing in flight)
 * is deleted at once.
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
	unsigned int inflight;      /* checks begun and not yet ended */
	struct throttle_waiter *wq, *wq_tail;   /* FIFO of waiters */
	bool held;                  /* on t->held, else on t->lru */
	struct thr_ent *chain;
	struct thr_ent *prev, *next;
};

struct thr_list {
	struct thr_ent *first, *last;
};

struct throttle {
	unsigned int max_failures;
	uint64_t window_ms;
	struct thr_ent **buckets;
	size_t nbuckets;            /* power of two */
	size_t count, max;
	struct thr_list lru, held;
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

static void
free_list(struct thr_list *l)
{
	struct thr_ent *e, *next;

	for (e = l->first; e != NULL; e = next) {
		next = e->next;
		free(e);
	}
	l->first = l->last = NULL;
}

void
throttle_free(struct throttle **tp)
{
	struct throttle *t;

	if (tp == NULL || *tp == NULL)
		return;
	t = *tp;
	/* Waiters belong to the caller: not touched. */
	free_list(&t->lru);
	free_list(&t->held);
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

static struct thr_list *
list_of(struct throttle *t, const struct thr_ent *e)
{
	return e->held ? &t->held : &t->lru;
}

static void
list_unlink(struct throttle *t, struct thr_ent *e)
{
	struct thr_list *l = list_of(t, e);

	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		l->first = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		l->last = e->prev;
	e->prev = e->next = NULL;
}

static void
list_append(struct throttle *t, struct thr_ent *e)
{
	struct thr_list *l = list_of(t, e);

	e->prev = l->last;
	e->next = NULL;
	if (l->last != NULL)
		l->last->next = e;
	else
		l->first = e;
	l->last = e;
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

/* Forgets failures of a window that has ended. */
static void
roll_window(const struct throttle *t, struct thr_ent *e, uint64_t now_ms)
{
	if (e->failures > 0 && window_over(t, e, now_ms))
		e->failures = 0;
}

static bool
throttled(const struct throttle *t, const struct thr_ent *e)
{
	return e->failures >= t->max_failures;
}

/* After any change to e: delete it if it holds nothing, else put it at
 * the end of the list it belongs on (the end of lru = most recently
 * active). Returns false if e was deleted. */
static bool
place(struct throttle *t, struct thr_ent *e, uint64_t now_ms)
{
	bool held;

	roll_window(t, e, now_ms);
	if (e->failures == 0 && e->inflight == 0 && e->wq == NULL) {
		ent_remove(t, e);
		return false;
	}
	held = e->inflight > 0 || e->wq != NULL || throttled(t, e);
	list_unlink(t, e);
	e->held = held;
	list_append(t, e);
	return true;
}

/* A new entry for key, evicting the least recently active evictable
 * entry if the table is full. NULL if every entry is protected. */
static struct thr_ent *
ent_new(struct throttle *t, const uint8_t *key)
{
	struct thr_ent *e;
	size_t b;

	if (t->count >= t->max) {
		if (t->lru.first == NULL)
			return NULL;
		ent_remove(t, t->lru.first);
	}
	e = xcalloc(1, sizeof(*e));
	memcpy(e->key, key, THROTTLE_KEY_LEN);
	b = bucket_of(t, key);
	e->chain = t->buckets[b];
	t->buckets[b] = e;
	e->held = false;
	list_append(t, e);
	t->count++;
	return e;
}

void
throttle_configure(struct throttle *t, unsigned int max_failures,
		   uint64_t window_ms)
{
	struct thr_ent *e, *next;

	/* config.c enforces >= 1 for both; guard anyway so a zero never
	 * throttles everybody. 0 failures would mean "always throttled". */
	t->max_failures = max_failures == 0 ? 1 : max_failures;
	t->window_ms = window_ms == 0 ? 1 : window_ms;
	/* A new limit can make entries throttled or free: sort them
	 * again (lru first, so held entries moved there are not seen
	 * twice). */
	for (e = t->lru.first; e != NULL; e = next) {
		next = e->next;
		if (throttled(t, e)) {
			list_unlink(t, e);
			e->held = true;
			list_append(t, e);
		}
	}
	for (e = t->held.first; e != NULL; e = next) {
		next = e->next;
		if (e->inflight == 0 && e->wq == NULL && !throttled(t, e)) {
			list_unlink(t, e);
			e->held = false;
			list_append(t, e);
		}
	}
}

/* Counts one failure; true if it made the address throttled. */
static bool
record_failure(struct throttle *t, struct thr_ent *e, uint64_t now_ms)
{
	roll_window(t, e, now_ms);
	if (e->failures == 0)
		e->start_ms = now_ms;     /* a new window starts with it */
	if (e->failures < t->max_failures) {
		e->failures++;
		return e->failures == t->max_failures;
	}
	return false;
}

enum throttle_verdict
throttle_begin(struct throttle *t, const char *ip, uint64_t now_ms,
	       struct throttle_waiter *w)
{
	uint8_t key[THROTTLE_KEY_LEN];
	struct thr_ent *e;

	if (throttle_key(ip, key) < 0)
		return THROTTLE_GO;
	e = find(t, key);
	if (e != NULL) {
		roll_window(t, e, now_ms);
		if (throttled(t, e))
			return THROTTLE_REFUSE;
	} else {
		e = ent_new(t, key);
		if (e == NULL)
			return THROTTLE_FULL;
	}
	/* Behind earlier waiters, or no slot left: wait, in order. */
	if (e->wq != NULL || e->failures + e->inflight >= t->max_failures) {
		w->next = NULL;
		if (e->wq_tail != NULL)
			e->wq_tail->next = w;
		else
			e->wq = w;
		e->wq_tail = w;
		(void)place(t, e, now_ms);
		return THROTTLE_WAIT;
	}
	e->inflight++;
	(void)place(t, e, now_ms);
	return THROTTLE_GO;
}

bool
throttle_end(struct throttle *t, const char *ip, uint64_t now_ms,
	     bool failed, throttle_wake_cb *wake, void *ctx)
{
	uint8_t key[THROTTLE_KEY_LEN];
	struct throttle_waiter *woken = NULL, **tail = &woken, *w, *next;
	struct thr_ent *e;
	bool now_throttled = false;

	if (throttle_key(ip, key) < 0 || (e = find(t, key)) == NULL)
		return false;
	if (e->inflight > 0)
		e->inflight--;
	if (failed)
		now_throttled = record_failure(t, e, now_ms);
	/* Decide waiters in order while their fate is known: refused once
	 * the limit is reached, let go while a slot is free. */
	while ((w = e->wq) != NULL) {
		roll_window(t, e, now_ms);
		if (throttled(t, e)) {
			w->verdict = THROTTLE_REFUSE;
		} else if (e->failures + e->inflight < t->max_failures) {
			w->verdict = THROTTLE_GO;
			e->inflight++;
		} else {
			break;
		}
		e->wq = w->next;
		if (e->wq == NULL)
			e->wq_tail = NULL;
		w->next = NULL;
		*tail = w;
		tail = &w->next;
	}
	(void)place(t, e, now_ms);
	/* e may be gone now; the table is consistent for re-entry. */
	for (w = woken; w != NULL; w = next) {
		next = w->next;
		w->next = NULL;
		if (wake != NULL)
			wake(w, w->verdict, ctx);
	}
	return now_throttled;
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
	return throttled(t, e);
}

static size_t
expire_list(struct throttle *t, struct thr_list *l, uint64_t now_ms)
{
	struct thr_ent *e, *next;
	size_t n = 0;

	for (e = l->first; e != NULL; e = next) {
		next = e->next;
		if (e->inflight > 0 || e->wq != NULL)
			continue;
		roll_window(t, e, now_ms);
		if (e->failures == 0) {
			ent_remove(t, e);
			n++;
		}
	}
	return n;
}

size_t
throttle_expire(struct throttle *t, uint64_t now_ms)
{
	return expire_list(t, &t->lru, now_ms) +
	    expire_list(t, &t->held, now_ms);
}

size_t
throttle_count(const struct throttle *t)
{
	return t->count;
}
