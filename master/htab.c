/*
 * htab: chained hash table with SipHash-2-4 bucket selection
 * (core/siphash.h).
 *
 * Callers: every moatd module. Keys may come from other processes or the
 * network (client IPs, user names from auth), so the hash is keyed with
 * random bytes drawn once per process; the table doubles when the load
 * passes 1 so chains stay short whatever the count.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/rand.h"
#include "core/siphash.h"
#include "core/str.h"
#include "master/htab.h"

struct hent {
	struct hent *next;
	uint64_t hash;
	void *val;
	size_t klen;
	unsigned char key[];
};

struct htab {
	struct hent **b;
	size_t nb;      /* power of two */
	size_t n;
};

/* One secret key for every table of the process, drawn when the first
 * table is made (at startup). */
static uint8_t sip_key[SIPHASH_KEY_LEN];
static bool sip_keyed;

static uint64_t
key_hash(const void *key, size_t klen)
{
	return siphash24(sip_key, key, klen);
}

struct htab *
htab_new(void)
{
	struct htab *h = xcalloc(1, sizeof(*h));

	if (!sip_keyed) {
		rand_bytes(sip_key, sizeof(sip_key));
		sip_keyed = true;
	}
	h->nb = 64;
	h->b = xcalloc(h->nb, sizeof(*h->b));
	return h;
}

void
htab_free(struct htab **hp)
{
	struct htab *h = *hp;

	if (h == NULL)
		return;
	for (size_t i = 0; i < h->nb; i++) {
		struct hent *e = h->b[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(h->b);
	free(h);
	*hp = NULL;
}

size_t
htab_count(const struct htab *h)
{
	return h->n;
}

static struct hent **
find(const struct htab *h, const void *key, size_t klen, uint64_t hash)
{
	struct hent **pp = &h->b[hash & (h->nb - 1)];

	for (; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->hash == hash && (*pp)->klen == klen &&
		    memcmp((*pp)->key, key, klen) == 0)
			return pp;
	}
	return pp;
}

void *
htab_get(const struct htab *h, const void *key, size_t klen)
{
	struct hent **pp = find(h, key, klen, key_hash(key, klen));

	return *pp != NULL ? (*pp)->val : NULL;
}

static void
grow(struct htab *h)
{
	size_t nnb = h->nb * 2;
	struct hent **nb = xcalloc(nnb, sizeof(*nb));

	for (size_t i = 0; i < h->nb; i++) {
		struct hent *e = h->b[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			e->next = nb[e->hash & (nnb - 1)];
			nb[e->hash & (nnb - 1)] = e;
		}
	}
	free(h->b);
	h->b = nb;
	h->nb = nnb;
}

void
htab_put(struct htab *h, const void *key, size_t klen, void *val)
{
	uint64_t hash = key_hash(key, klen);
	struct hent **pp = find(h, key, klen, hash), *e;

	if (*pp != NULL) {
		(*pp)->val = val;
		return;
	}
	if (klen > SIZE_MAX - sizeof(*e))
		abort();
	e = xmalloc(sizeof(*e) + klen);
	e->hash = hash;
	e->val = val;
	e->klen = klen;
	memcpy(e->key, key, klen);
	e->next = NULL;
	*pp = e;
	h->n++;
	if (h->n > h->nb && h->nb < SIZE_MAX / 2 / sizeof(*h->b))
		grow(h);
}

void *
htab_del(struct htab *h, const void *key, size_t klen)
{
	struct hent **pp = find(h, key, klen, key_hash(key, klen)), *e;
	void *val;

	if (*pp == NULL)
		return NULL;
	e = *pp;
	*pp = e->next;
	val = e->val;
	free(e);
	h->n--;
	return val;
}

unsigned int
htab_counter_get(const struct htab *h, const void *key, size_t klen)
{
	return (unsigned int)(uintptr_t)htab_get(h, key, klen);
}

unsigned int
htab_counter_add(struct htab *h, const void *key, size_t klen, int delta)
{
	uintptr_t v = (uintptr_t)htab_get(h, key, klen);

	if (delta < 0 && (uintptr_t)-(intmax_t)delta >= v)
		v = 0;
	else
		v += (uintptr_t)(intmax_t)delta;
	if (v > UINT32_MAX)
		v = UINT32_MAX;
	if (v == 0)
		htab_del(h, key, klen);
	else
		htab_put(h, key, klen, (void *)v);
	return (unsigned int)v;
}
