/*
 * htab: a hash table from byte-string keys to pointers, plus counters
 * built on it. moatd keys children by pid, connections and pending
 * requests by id, and counts connections per client IP and sessions per
 * (user, IP). Client IPs are attacker-chosen (an IPv6 /64 is a lot of
 * keys), so buckets are picked with SipHash under a random key: nobody
 * can aim many keys at one chain.
 */
#ifndef MOAT_MASTER_HTAB_H
#define MOAT_MASTER_HTAB_H

#include <stddef.h>
#include <stdint.h>

struct htab;

struct htab *htab_new(void);
/* Frees the table (not the values); NULL-safe, sets *h to NULL. */
void htab_free(struct htab **h);
size_t htab_count(const struct htab *h);
/* NULL when absent. */
void *htab_get(const struct htab *h, const void *key, size_t klen);
/* Inserts or replaces; val must not be NULL. */
void htab_put(struct htab *h, const void *key, size_t klen, void *val);
/* Removes the key; returns the old value or NULL. */
void *htab_del(struct htab *h, const void *key, size_t klen);

/* Counters: the value is a count, the key disappears at 0. */
unsigned int htab_counter_get(const struct htab *h, const void *key,
			      size_t klen);
/* Adds delta (which may be negative; the count never goes below 0) and
 * returns the new count. */
unsigned int htab_counter_add(struct htab *h, const void *key, size_t klen,
			      int delta);

/* Convenience keys. */
#define htab_u32_key(v) (&(uint32_t){ (v) }), sizeof(uint32_t)

#endif
