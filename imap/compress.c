/*
 * compress: raw DEFLATE (RFC 1951) both ways for COMPRESS=DEFLATE (RFC
 * 4978), with zlib. Caller: client.c, which owns the buffers. What
 * compress_in decodes comes from the client and is untrusted: zlib
 * checks the stream, and we bound its output by the caller's buffer.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/str.h"
#include "imap/compress.h"

/* Deflated bytes made per deflate() call (the wire buffer grows by at
 * most this beyond its limit check). */
#define COMPRESS_CHUNK (16u * 1024u)
/* RFC 4978 §4: raw deflate; a client may use any window up to 32 kB. */
#define COMPRESS_INFLATE_WINDOW_BITS 15

struct compress {
	z_stream d;            /* ours -> client */
	z_stream i;            /* client -> ours */
	bool unflushed;        /* deflate() took input since the last flush */
	bool in_ended;         /* the client's stream had its final block */
	/* inflate() filled all the room it had: it may hold more output
	 * even with no input left. */
	bool in_more;
	struct compress_stats st;
};

struct compress *
compress_new(void)
{
	struct compress *z = xcalloc(1, sizeof(*z));

	/* Negative windowBits: raw deflate, no zlib header (RFC 4978 §4). */
	if (deflateInit2(&z->d, COMPRESS_LEVEL, Z_DEFLATED,
			 -COMPRESS_WINDOW_BITS, COMPRESS_MEM_LEVEL,
			 Z_DEFAULT_STRATEGY) != Z_OK) {
		free(z);
		return NULL;
	}
	if (inflateInit2(&z->i, -COMPRESS_INFLATE_WINDOW_BITS) != Z_OK) {
		deflateEnd(&z->d);
		free(z);
		return NULL;
	}
	return z;
}

void
compress_free(struct compress **zp)
{
	struct compress *z;

	if (zp == NULL || *zp == NULL)
		return;
	z = *zp;
	deflateEnd(&z->d);
	inflateEnd(&z->i);
	free(z);
	*zp = NULL;
}

static uInt
compress_uint(size_t n)
{
	return n > UINT_MAX ? UINT_MAX : (uInt)n;
}

int
compress_out(struct compress *z, struct buf *plain, struct buf *wire,
	     size_t wire_limit)
{
	for (;;) {
		bool flush = buf_len(plain) == 0;
		size_t room, in_len, used, made;
		uint8_t *out;
		int ret;

		if (flush && !z->unflushed)
			return 0;
		if (buf_len(wire) >= wire_limit)
			return 0;
		room = wire_limit - buf_len(wire);
		if (room > COMPRESS_CHUNK)
			room = COMPRESS_CHUNK;
		out = buf_reserve(wire, room);
		if (out == NULL)
			return -1;
		in_len = buf_len(plain);
		z->d.next_in = buf_data_mut(plain);
		z->d.avail_in = compress_uint(in_len);
		z->d.next_out = out;
		z->d.avail_out = (uInt)room;
		ret = deflate(&z->d, flush ? Z_SYNC_FLUSH : Z_NO_FLUSH);
		if (ret != Z_OK && ret != Z_BUF_ERROR)
			return -1;
		used = compress_uint(in_len) - z->d.avail_in;
		made = room - z->d.avail_out;
		buf_consume(plain, used);
		buf_commit(wire, made);
		z->st.plain_out += used;
		z->st.wire_out += made;
		if (used > 0)
			z->unflushed = true;
		if (flush && z->d.avail_out != 0) {
			/* The flush is complete: all input is decodable. */
			z->unflushed = false;
			z->st.flushes++;
			return 0;
		}
		if (used == 0 && made == 0)
			return 0;   /* no progress possible now */
	}
}

bool
compress_out_pending(const struct compress *z)
{
	return z->unflushed;
}

ssize_t
compress_in(struct compress *z, struct buf *zin, struct buf *plain,
	    size_t max)
{
	size_t room = buf_avail(plain), in_len = buf_len(zin), used, made;
	uint8_t *out;
	int ret;

	if (z->in_ended)
		return -1;
	if (room > max)
		room = max;
	if (room == 0 || (in_len == 0 && !z->in_more))
		return 0;
	out = buf_reserve(plain, room);
	if (out == NULL)
		return 0;
	z->i.next_in = buf_data_mut(zin);
	z->i.avail_in = compress_uint(in_len);
	z->i.next_out = out;
	z->i.avail_out = compress_uint(room);
	ret = inflate(&z->i, Z_SYNC_FLUSH);
	z->in_more = z->i.avail_out == 0;
	used = compress_uint(in_len) - z->i.avail_in;
	made = compress_uint(room) - z->i.avail_out;
	buf_consume(zin, used);
	buf_commit(plain, made);
	z->st.plain_in += made;
	switch (ret) {
	case Z_OK:
		return (ssize_t)made;
	case Z_BUF_ERROR:
		/* No progress possible until more input arrives. */
		return (ssize_t)made;
	case Z_STREAM_END:
		/* A final block: what it held is used, nothing may follow. */
		z->in_ended = true;
		return made > 0 ? (ssize_t)made : -1;
	default:
		return -1;
	}
}

void
compress_get_stats(const struct compress *z, struct compress_stats *st)
{
	*st = z->st;
}
