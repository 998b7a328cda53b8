/*
 * Tests for imap/compress.c: raw DEFLATE round trips against zlib used
 * as a client would (RFC 4978 §4: windowBits -15), one sync flush per
 * drained buffer, output bounded by the caller's limits (a deflate bomb
 * inflates only as far as the room given), a corrupt stream and a
 * final block are errors.
 */
#include <string.h>
#include <zlib.h>

#include <criterion/criterion.h>

#include "core/buf.h"
#include "imap/compress.h"

/* A client's deflater: full 32 kB window, raw. */
static size_t
client_deflate(const void *in, size_t len, uint8_t *out, size_t max,
	       int flush)
{
	static z_stream d;
	static bool init;

	if (!init) {
		cr_assert_eq(deflateInit2(&d, 9, Z_DEFLATED, -15, 9,
					  Z_DEFAULT_STRATEGY), Z_OK);
		init = true;
	}
	d.next_in = (Bytef *)(uintptr_t)in;
	d.avail_in = (uInt)len;
	d.next_out = out;
	d.avail_out = (uInt)max;
	cr_assert_neq(deflate(&d, flush), Z_STREAM_ERROR);
	cr_assert_eq(d.avail_in, 0);
	return max - d.avail_out;
}

Test(compress, output_decodes_after_each_flush)
{
	struct compress *z = compress_new();
	struct buf *plain = buf_new(1 << 20), *wire = buf_new(1 << 20);
	struct compress_stats st;
	uint8_t got[4096];
	z_stream i;

	cr_assert_not_null(z);
	memset(&i, 0, sizeof(i));
	cr_assert_eq(inflateInit2(&i, -15), Z_OK);
	for (int round = 0; round < 3; round++) {
		for (int line = 0; line < 50; line++)
			buf_printf(plain, "* %d FETCH (FLAGS (\\Seen))\r\n",
				   line);
		cr_assert_eq(compress_out(z, plain, wire, 1 << 20), 0);
		cr_assert_eq(buf_len(plain), 0);
		cr_assert_eq(compress_out_pending(z), false);
		/* Everything so far decodes without more input. */
		i.next_in = buf_data_mut(wire);
		i.avail_in = (uInt)buf_len(wire);
		i.next_out = got;
		i.avail_out = sizeof(got);
		cr_assert_eq(inflate(&i, Z_SYNC_FLUSH), Z_OK);
		cr_assert_eq(i.avail_in, 0);
		cr_assert_eq(sizeof(got) - i.avail_out, 10 * 27 + 40 * 28,
			     "round %d: got %zu bytes", round,
			     sizeof(got) - i.avail_out);
		cr_assert_eq(memcmp(got, "* 0 FETCH (FLAGS (\\Seen))\r\n", 27),
			     0);
		buf_reset(wire);
		/* Nothing new: no flush, no bytes. */
		cr_assert_eq(compress_out(z, plain, wire, 1 << 20), 0);
		cr_assert_eq(buf_len(wire), 0);
	}
	compress_get_stats(z, &st);
	cr_assert_eq(st.flushes, 3, "got %lu flushes, want one per drain",
		     (unsigned long)st.flushes);
	inflateEnd(&i);
	buf_free(&plain);
	buf_free(&wire);
	compress_free(&z);
}

Test(compress, output_respects_wire_limit)
{
	struct compress *z = compress_new();
	struct buf *plain = buf_new(1 << 20), *wire = buf_new(1 << 20);
	uint8_t noise[256 * 1024];
	uint32_t x = 1;

	/* Incompressible: the wire grows as fast as the input. */
	for (size_t k = 0; k < sizeof(noise); k++) {
		x = x * 1103515245u + 12345u;
		noise[k] = (uint8_t)(x >> 24);
	}
	buf_append(plain, noise, sizeof(noise));
	cr_assert_eq(compress_out(z, plain, wire, 64 * 1024), 0);
	cr_assert_geq(buf_len(wire), 64 * 1024);
	cr_assert_lt(buf_len(wire), 64 * 1024 + 16 * 1024 + 1,
		     "wire %zu bytes past a 64 kB limit", buf_len(wire));
	cr_assert_gt(buf_len(plain), 0, "should have stopped early");
	cr_assert(compress_out_pending(z) || buf_len(plain) > 0);
	buf_free(&plain);
	buf_free(&wire);
	compress_free(&z);
}

Test(compress, bomb_inflates_only_into_the_room_given)
{
	static uint8_t zeros[4 << 20];
	static uint8_t packed[64 * 1024];
	struct compress *z = compress_new();
	struct buf *zin = buf_new(sizeof(packed)), *plain = buf_new(1 << 20);
	size_t n, total = 0;
	ssize_t r;

	memset(zeros, 'A', sizeof(zeros));
	n = client_deflate(zeros, sizeof(zeros), packed, sizeof(packed),
			   Z_SYNC_FLUSH);
	cr_assert_lt(n, 8192, "4 MB packed into %zu bytes", n);
	buf_append(zin, packed, n);
	/* Each call adds at most max bytes; the caller decides the pace. */
	for (int k = 0; k < 2000; k++) {
		r = compress_in(z, zin, plain, 4096);
		cr_assert_geq(r, 0);
		cr_assert_leq(r, 4096);
		cr_assert_leq(buf_len(plain), 4096);
		total += (size_t)r;
		buf_reset(plain);
		if (r == 0)
			break;
	}
	cr_assert_eq(total, sizeof(zeros), "got %zu", total);
	cr_assert_eq(compress_in(z, zin, plain, 4096), 0);
	buf_free(&zin);
	buf_free(&plain);
	compress_free(&z);
}

Test(compress, corrupt_stream_is_an_error)
{
	struct compress *z = compress_new();
	struct buf *zin = buf_new(1024), *plain = buf_new(1024);

	/* BTYPE 11 is reserved (RFC 1951 §3.2.3). */
	buf_append(zin, "\xff\xff\xff\xff", 4);
	cr_assert_eq(compress_in(z, zin, plain, 1024), -1);
	buf_free(&zin);
	buf_free(&plain);
	compress_free(&z);
}

Test(compress, final_block_ends_the_stream)
{
	struct compress *z = compress_new();
	struct buf *zin = buf_new(1024), *plain = buf_new(1024);
	z_stream d;
	uint8_t out[256];

	memset(&d, 0, sizeof(d));
	cr_assert_eq(deflateInit2(&d, 6, Z_DEFLATED, -15, 8,
				  Z_DEFAULT_STRATEGY), Z_OK);
	d.next_in = (Bytef *)"a NOOP\r\n";
	d.avail_in = 8;
	d.next_out = out;
	d.avail_out = sizeof(out);
	cr_assert_eq(deflate(&d, Z_FINISH), Z_STREAM_END);
	buf_append(zin, out, sizeof(out) - d.avail_out);
	deflateEnd(&d);
	/* What the final block holds is delivered, then nothing more. */
	cr_assert_eq(compress_in(z, zin, plain, 1024), 8);
	cr_assert_eq(memcmp(buf_data(plain), "a NOOP\r\n", 8), 0);
	buf_append(zin, "x", 1);
	cr_assert_eq(compress_in(z, zin, plain, 1024), -1);
	buf_free(&zin);
	buf_free(&plain);
	compress_free(&z);
}
