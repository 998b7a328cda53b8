/*
 * compress: the two raw DEFLATE streams of COMPRESS=DEFLATE (RFC 4978)
 * between the session's plaintext buffers and the socket. Caller:
 * client.c only. The inflate side reads the client's bytes (untrusted):
 * a corrupt stream is an error, and its output never exceeds the room
 * left in the buffer the caller gives, so a deflate bomb costs CPU in
 * steps of that buffer, never memory (the command reader's limits then
 * apply to the inflated bytes as to plaintext ones).
 *
 * Memory (doc/design.md, "COMPRESS and flow control"): our deflate side
 * uses a small window and memLevel (COMPRESS_WINDOW_BITS/MEM_LEVEL, about
 * 70 kB instead of zlib's default 256 kB); the inflate side must take any
 * window a client uses (RFC 4978 §4), so it is 32 kB plus state.
 */
#ifndef MOAT_IMAP_COMPRESS_H
#define MOAT_IMAP_COMPRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "core/buf.h"

/* Our deflate window: 2^13 = 8 kB of history (responses repeat within
 * a few lines; a message body gains little from more). */
#define COMPRESS_WINDOW_BITS 13
#define COMPRESS_MEM_LEVEL 6
/* Speed over ratio (RFC 4978 §4 suggests levels 1-5). */
#define COMPRESS_LEVEL 5

struct compress;

/* NULL if zlib cannot allocate its state. */
struct compress *compress_new(void);
void compress_free(struct compress **z);

/* Deflates bytes from the front of plain (consumed) into wire, as far
 * as wire has room below wire_limit bytes. Once plain is empty, ends
 * what was deflated with a sync flush (Z_SYNC_FLUSH), so the client can
 * decode every response queued so far: the caller calls this at the end
 * of a burst of output, not per line. Returns 0, or -1 on a zlib error
 * or a full wire buffer. */
int compress_out(struct compress *z, struct buf *plain, struct buf *wire,
		 size_t wire_limit);
/* True when deflated bytes are not yet flushed (plain was not drained). */
bool compress_out_pending(const struct compress *z);

/* Inflates bytes from the front of zin (consumed) into plain, at most
 * max and buf_avail(plain). Returns the number of bytes added to plain, 0 if
 * none could be made now, or -1 when the stream is corrupt or has ended
 * (the client sent a final block: nothing may follow it). */
ssize_t compress_in(struct compress *z, struct buf *zin, struct buf *plain,
		    size_t max);

/* Counters, for the close log and the tests: plaintext in and out,
 * deflated bytes out, sync flushes made. */
struct compress_stats {
	uint64_t plain_in, plain_out, wire_out, flushes;
};
void compress_get_stats(const struct compress *z, struct compress_stats *st);

#endif
