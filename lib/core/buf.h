/*
 * buf: a growing byte buffer with a hard maximum size.
 *
 * Every append that would exceed the maximum fails (returns -1, errno
 * EMSGSIZE) and leaves the buffer unchanged, so a peer cannot make us
 * grow without bound. Data is always followed by a NUL byte that is not
 * counted in buf_len(), so text can be used as a C string.
 *
 * Also: struct rd, a bounded reader over borrowed bytes (sshbuf style):
 * every get fails on short input instead of over-reading.
 */
#ifndef MOAT_BUF_H
#define MOAT_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/* New empty buffer that may hold at most max bytes. Never returns NULL
 * (allocation failure is fatal). */
struct buf *buf_new(size_t max);
/* Frees *b and sets it to NULL; NULL-safe. */
void buf_free(struct buf **b);
/* Like buf_free, but explicit_bzero()s the storage first (passwords). */
void buf_free_wipe(struct buf **b);

/* Borrowed pointer to the data, valid until the next change. */
const uint8_t *buf_data(const struct buf *b);
/* Writable pointer, same lifetime as buf_data(). */
uint8_t *buf_data_mut(struct buf *b);
size_t buf_len(const struct buf *b);
size_t buf_max(const struct buf *b);
/* Free space left before the maximum. */
size_t buf_avail(const struct buf *b);
/* The data as a NUL-terminated string (NUL bytes inside stay). */
const char *buf_str(const struct buf *b);

int buf_append(struct buf *b, const void *data, size_t len);
int buf_append_str(struct buf *b, const char *s);
int buf_append_byte(struct buf *b, uint8_t c);
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Reserve room for len more bytes and return a pointer to it; commit the
 * bytes actually written with buf_commit(). NULL if over the maximum. */
uint8_t *buf_reserve(struct buf *b, size_t len);
void buf_commit(struct buf *b, size_t len);

/* Remove the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
/* Truncate to len bytes (len <= current length). */
void buf_truncate(struct buf *b, size_t len);
void buf_reset(struct buf *b);
/* Overwrite the whole allocation with zeros (keeps length 0). */
void buf_wipe(struct buf *b);

/* Bounded reader over borrowed memory. */
struct rd {
	const uint8_t *p;
	size_t left;
};
void rd_init(struct rd *r, const void *data, size_t len);
int rd_get_u8(struct rd *r, uint8_t *v);
int rd_get_u16(struct rd *r, uint16_t *v);   /* big endian */
int rd_get_u32(struct rd *r, uint32_t *v);   /* big endian */
int rd_get_u64(struct rd *r, uint64_t *v);   /* big endian */
/* Borrow the next len bytes. */
int rd_get_bytes(struct rd *r, const uint8_t **p, size_t len);
bool rd_empty(const struct rd *r);

/* Big-endian writers into a buf (fail like buf_append). */
int buf_put_u8(struct buf *b, uint8_t v);
int buf_put_u16(struct buf *b, uint16_t v);
int buf_put_u32(struct buf *b, uint32_t v);
int buf_put_u64(struct buf *b, uint64_t v);

#endif
