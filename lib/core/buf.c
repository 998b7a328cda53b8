/*
 * buf: growing byte buffer with a hard maximum, and rd, a bounded reader.
 * Callers: everything that builds output (IMAP responses, IPC messages)
 * or parses untrusted bytes (rd_*). The data appended may be hostile;
 * the sizes are checked here so that no caller can make a buffer grow
 * past its maximum or read past the end of its input.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"

struct buf {
	uint8_t *data;  /* cap + 1 bytes: room for the trailing NUL */
	size_t len;
	size_t cap;
	size_t max;
};

#define BUF_INITIAL 64

struct buf *
buf_new(size_t max)
{
	struct buf *b = xcalloc(1, sizeof(*b));

	/* Keep cap + 1 and doubling free of overflow. */
	if (max > SIZE_MAX / 2)
		max = SIZE_MAX / 2;
	b->max = max;
	b->cap = max < BUF_INITIAL ? max : BUF_INITIAL;
	b->data = xmalloc(b->cap + 1);
	b->data[0] = '\0';
	return b;
}

void
buf_free(struct buf **b)
{
	if (b == NULL || *b == NULL)
		return;
	free((*b)->data);
	free(*b);
	*b = NULL;
}

void
buf_free_wipe(struct buf **b)
{
	if (b == NULL || *b == NULL)
		return;
	explicit_bzero((*b)->data, (*b)->cap + 1);
	buf_free(b);
}

const uint8_t *
buf_data(const struct buf *b)
{
	return b->data;
}

uint8_t *
buf_data_mut(struct buf *b)
{
	return b->data;
}

size_t
buf_len(const struct buf *b)
{
	return b->len;
}

size_t
buf_max(const struct buf *b)
{
	return b->max;
}

size_t
buf_avail(const struct buf *b)
{
	return b->max - b->len;
}

const char *
buf_str(const struct buf *b)
{
	return (const char *)b->data;
}

/* Make room for need more bytes; -1 (EMSGSIZE) past the maximum. */
static int
buf_ensure(struct buf *b, size_t need)
{
	size_t want, ncap;
	uint8_t *nd;

	if (need > b->max - b->len) {
		errno = EMSGSIZE;
		return -1;
	}
	want = b->len + need;
	if (want <= b->cap)
		return 0;
	ncap = b->cap < BUF_INITIAL ? BUF_INITIAL : b->cap;
	while (ncap < want)
		ncap *= 2;
	if (ncap > b->max)
		ncap = b->max;
	/* Not realloc: a buffer may hold a password, and realloc could leave
	 * a copy behind in freed memory. */
	nd = xmalloc(ncap + 1);
	memcpy(nd, b->data, b->len + 1);
	explicit_bzero(b->data, b->cap + 1);
	free(b->data);
	b->data = nd;
	b->cap = ncap;
	return 0;
}

int
buf_append(struct buf *b, const void *data, size_t len)
{
	if (buf_ensure(b, len) < 0)
		return -1;
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_append_byte(struct buf *b, uint8_t c)
{
	return buf_append(b, &c, 1);
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf((char *)b->data + b->len, b->cap - b->len + 1, fmt, ap2);
	va_end(ap2);
	if (n < 0) {
		b->data[b->len] = '\0';
		return -1;
	}
	if ((size_t)n <= b->cap - b->len) {
		/* cap <= max, so this is within the maximum too. */
		b->len += (size_t)n;
		return 0;
	}
	/* Did not fit: the partial output is past len, so the visible
	 * contents are unchanged. Restore the terminator and retry. */
	b->data[b->len] = '\0';
	if (buf_ensure(b, (size_t)n) < 0)
		return -1;
	va_copy(ap2, ap);
	n = vsnprintf((char *)b->data + b->len, b->cap - b->len + 1, fmt, ap2);
	va_end(ap2);
	if (n < 0 || (size_t)n > b->cap - b->len) {
		b->data[b->len] = '\0';
		return -1;
	}
	b->len += (size_t)n;
	return 0;
}

uint8_t *
buf_reserve(struct buf *b, size_t len)
{
	if (buf_ensure(b, len) < 0)
		return NULL;
	return b->data + b->len;
}

void
buf_commit(struct buf *b, size_t len)
{
	if (len > b->cap - b->len)
		log_panic("buf_commit: %zu bytes past the reserved space", len);
	b->len += len;
	b->data[b->len] = '\0';
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n > b->len)
		log_panic("buf_consume: %zu > length %zu", n, b->len);
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

void
buf_truncate(struct buf *b, size_t len)
{
	if (len > b->len)
		log_panic("buf_truncate: %zu > length %zu", len, b->len);
	b->len = len;
	b->data[len] = '\0';
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	b->data[0] = '\0';
}

void
buf_wipe(struct buf *b)
{
	explicit_bzero(b->data, b->cap + 1);
	b->len = 0;
}

void
rd_init(struct rd *r, const void *data, size_t len)
{
	r->p = data;
	r->left = len;
}

int
rd_get_bytes(struct rd *r, const uint8_t **p, size_t len)
{
	if (len > r->left)
		return -1;
	*p = r->p;
	r->p += len;
	r->left -= len;
	return 0;
}

int
rd_get_u8(struct rd *r, uint8_t *v)
{
	const uint8_t *p;

	if (rd_get_bytes(r, &p, 1) < 0)
		return -1;
	*v = p[0];
	return 0;
}

int
rd_get_u16(struct rd *r, uint16_t *v)
{
	const uint8_t *p;

	if (rd_get_bytes(r, &p, 2) < 0)
		return -1;
	*v = (uint16_t)((uint16_t)p[0] << 8 | p[1]);
	return 0;
}

int
rd_get_u32(struct rd *r, uint32_t *v)
{
	const uint8_t *p;

	if (rd_get_bytes(r, &p, 4) < 0)
		return -1;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
	return 0;
}

int
rd_get_u64(struct rd *r, uint64_t *v)
{
	const uint8_t *p;
	uint64_t x = 0;

	if (rd_get_bytes(r, &p, 8) < 0)
		return -1;
	for (int i = 0; i < 8; i++)
		x = x << 8 | p[i];
	*v = x;
	return 0;
}

bool
rd_empty(const struct rd *r)
{
	return r->left == 0;
}

int
buf_put_u8(struct buf *b, uint8_t v)
{
	return buf_append(b, &v, 1);
}

int
buf_put_u16(struct buf *b, uint16_t v)
{
	uint8_t p[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	return buf_append(b, p, sizeof(p));
}

int
buf_put_u32(struct buf *b, uint32_t v)
{
	uint8_t p[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
			 (uint8_t)(v >> 8), (uint8_t)v };

	return buf_append(b, p, sizeof(p));
}

int
buf_put_u64(struct buf *b, uint64_t v)
{
	uint8_t p[8];

	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
	return buf_append(b, p, sizeof(p));
}
