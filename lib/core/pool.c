/*
 * pool: region allocator. A command's or connection's temporaries come
 * from one pool and are released together. Callers: imap, imap-login,
 * parsers. Sizes may be derived from client input (literal lengths,
 * string lengths), so every size computation is overflow-checked.
 */
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/pool.h"
#include "core/str.h"

#define POOL_ALIGN alignof(max_align_t)
#define POOL_MIN_BLOCK 256

struct pool_block {
	struct pool_block *next;
	size_t size;    /* usable bytes in data */
	size_t used;
	alignas(max_align_t) unsigned char data[];
};

struct pool {
	/* Small allocations come from blocks[0]; the first block ever made
	 * is the tail of that list and survives pool_clear(), so a
	 * per-command pool costs no malloc in the steady state. */
	struct pool_block *blocks;
	struct pool_block *first;
	/* Allocations larger than a quarter block get a block each, so one
	 * big string does not waste the rest of a standard block. */
	struct pool_block *large;
	size_t block_size;
	size_t handed_out;
};

static struct pool_block *
block_new(size_t size)
{
	struct pool_block *b;

	if (size > SIZE_MAX - sizeof(*b))
		log_fatal("pool block too large (%zu bytes)", size);
	b = xmalloc(sizeof(*b) + size);
	b->next = NULL;
	b->size = size;
	b->used = 0;
	return b;
}

static void
block_list_free(struct pool_block *b, const struct pool_block *stop)
{
	struct pool_block *next;

	for (; b != stop; b = next) {
		next = b->next;
		free(b);
	}
}

struct pool *
pool_new(size_t block_size)
{
	struct pool *p = xcalloc(1, sizeof(*p));

	if (block_size < POOL_MIN_BLOCK)
		block_size = POOL_MIN_BLOCK;
	if (block_size > SIZE_MAX / 2)
		block_size = SIZE_MAX / 2;
	block_size = (block_size + POOL_ALIGN - 1) & ~(POOL_ALIGN - 1);
	p->block_size = block_size;
	p->first = p->blocks = block_new(block_size);
	return p;
}

void
pool_free(struct pool **pp)
{
	if (pp == NULL || *pp == NULL)
		return;
	block_list_free((*pp)->blocks, NULL);
	block_list_free((*pp)->large, NULL);
	free(*pp);
	*pp = NULL;
}

void
pool_clear(struct pool *p)
{
	block_list_free(p->blocks, p->first);
	block_list_free(p->large, NULL);
	p->blocks = p->first;
	p->first->used = 0;
	p->large = NULL;
	p->handed_out = 0;
}

void *
pool_alloc(struct pool *p, size_t n)
{
	struct pool_block *b;
	size_t rounded;
	void *mem;

	if (n > SIZE_MAX - POOL_ALIGN - sizeof(struct pool_block))
		log_fatal("pool allocation overflow (%zu bytes)", n);
	rounded = (n + POOL_ALIGN - 1) & ~(POOL_ALIGN - 1);
	if (rounded == 0)
		rounded = POOL_ALIGN;

	if (rounded > p->block_size / 4) {
		b = block_new(rounded);
		b->next = p->large;
		p->large = b;
		b->used = rounded;
		mem = b->data;
	} else {
		b = p->blocks;
		if (b->size - b->used < rounded) {
			b = block_new(p->block_size);
			b->next = p->blocks;
			p->blocks = b;
		}
		mem = b->data + b->used;
		b->used += rounded;
	}
	memset(mem, 0, rounded);
	p->handed_out += n;
	return mem;
}

/* The copy is zero-filled by pool_alloc, so the NUL is already there. */
static char *
pool_memdup_str(struct pool *p, const char *s, size_t len)
{
	char *d = pool_alloc(p, len + 1);

	memcpy(d, s, len);
	return d;
}

char *
pool_strndup(struct pool *p, const char *s, size_t n)
{
	return pool_memdup_str(p, s, strnlen(s, n));
}

char *
pool_strdup(struct pool *p, const char *s)
{
	return pool_memdup_str(p, s, strlen(s));
}

char *
pool_printf(struct pool *p, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		log_panic("pool_printf: bad format \"%s\"", fmt);
	s = pool_alloc(p, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

size_t
pool_used(const struct pool *p)
{
	return p->handed_out;
}
