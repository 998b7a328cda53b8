/*
 * pool: allocate many, free once. A command's or a connection's
 * temporaries live in a pool and die with it, so handlers never free
 * piecemeal. Memory is zeroed. pool_clear() keeps the first block for
 * reuse (a per-command pool costs no malloc in the steady state).
 */
#ifndef MOAT_POOL_H
#define MOAT_POOL_H

#include <stddef.h>

struct pool;

struct pool *pool_new(size_t block_size);
void pool_free(struct pool **p);
/* Frees everything allocated so far; the pool stays usable. */
void pool_clear(struct pool *p);
/* Zeroed, aligned for any type. Never NULL. */
void *pool_alloc(struct pool *p, size_t n);
char *pool_strdup(struct pool *p, const char *s);
char *pool_strndup(struct pool *p, const char *s, size_t n);
char *pool_printf(struct pool *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Total bytes handed out since creation or the last clear. */
size_t pool_used(const struct pool *p);

#endif
