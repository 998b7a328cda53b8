/* Tests for lib/core/buf.c: the maximum is hard, failures leave the
 * buffer unchanged, the reader never over-reads. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "core/buf.h"

Test(buf, append_and_nul_terminated)
{
	struct buf *b = buf_new(100);

	cr_assert_eq(buf_len(b), 0, "empty len: got %zu, want 0", buf_len(b));
	cr_assert_str_eq(buf_str(b), "");
	cr_assert_eq(buf_append(b, "abc", 3), 0);
	cr_assert_eq(buf_append_str(b, "def"), 0);
	cr_assert_eq(buf_append_byte(b, 'g'), 0);
	cr_assert_eq(buf_len(b), 7, "len: got %zu, want 7", buf_len(b));
	cr_assert_str_eq(buf_str(b), "abcdefg");
	cr_assert_eq(buf_data(b)[7], '\0', "data not NUL-terminated");
	cr_assert_eq(buf_avail(b), 93, "avail: got %zu, want 93", buf_avail(b));
	cr_assert_eq(buf_max(b), 100);
	buf_free(&b);
	cr_assert_null(b, "buf_free must NULL the pointer");
	buf_free(&b); /* NULL-safe */
}

Test(buf, embedded_nul_kept)
{
	struct buf *b = buf_new(16);

	cr_assert_eq(buf_append(b, "a\0b", 3), 0);
	cr_assert_eq(buf_len(b), 3);
	cr_assert_eq(memcmp(buf_data(b), "a\0b", 4), 0);
	buf_free(&b);
}

Test(buf, max_is_hard_and_failure_leaves_unchanged)
{
	struct buf *b = buf_new(10);

	cr_assert_eq(buf_append(b, "0123456789", 10), 0, "exactly max must fit");
	errno = 0;
	cr_assert_eq(buf_append_byte(b, 'x'), -1, "one past max must fail");
	cr_assert_eq(errno, EMSGSIZE, "errno: got %d, want EMSGSIZE", errno);
	cr_assert_str_eq(buf_str(b), "0123456789");
	buf_reset(b);
	cr_assert_eq(buf_append(b, "01234", 5), 0);
	cr_assert_eq(buf_append(b, "abcdef", 6), -1);
	cr_assert_eq(buf_len(b), 5, "len after failed append: got %zu, want 5",
		     buf_len(b));
	cr_assert_str_eq(buf_str(b), "01234");
	/* A huge length must not wrap the size check. */
	cr_assert_eq(buf_append(b, "x", SIZE_MAX), -1);
	cr_assert_eq(buf_len(b), 5);
	buf_free(&b);
}

Test(buf, zero_max)
{
	struct buf *b = buf_new(0);

	cr_assert_eq(buf_append(b, "", 0), 0);
	cr_assert_eq(buf_append_byte(b, 'a'), -1);
	cr_assert_str_eq(buf_str(b), "");
	cr_assert_eq(buf_printf(b, "%s", ""), 0);
	cr_assert_eq(buf_printf(b, "%d", 1), -1);
	buf_free(&b);
}

Test(buf, growth_many_appends)
{
	struct buf *b = buf_new(100000);

	for (int i = 0; i < 10000; i++)
		cr_assert_eq(buf_append(b, "0123456789", 10), 0, "append %d", i);
	cr_assert_eq(buf_append_byte(b, 'x'), -1);
	cr_assert_eq(buf_len(b), 100000);
	for (size_t i = 0; i < 100000; i++)
		cr_assert_eq(buf_data(b)[i], '0' + i % 10, "byte %zu", i);
	buf_free(&b);
}

Test(buf, printf)
{
	struct buf *b = buf_new(1000);

	cr_assert_eq(buf_printf(b, "%s-%d", "a", 42), 0);
	cr_assert_eq(buf_printf(b, "/%0200d", 7), 0); /* forces growth */
	cr_assert_eq(buf_len(b), 4 + 201, "len: got %zu, want 205", buf_len(b));
	cr_assert_eq(strncmp(buf_str(b), "a-42/000", 8), 0, "got %.8s",
		     buf_str(b));
	cr_assert_eq(buf_str(b)[buf_len(b) - 1], '7');
	buf_free(&b);
}

Test(buf, printf_over_max_unchanged)
{
	struct buf *b = buf_new(20);

	cr_assert_eq(buf_append_str(b, "hello"), 0);
	errno = 0;
	cr_assert_eq(buf_printf(b, "%020d", 1), -1, "must not exceed max");
	cr_assert_eq(errno, EMSGSIZE);
	cr_assert_eq(buf_len(b), 5, "len: got %zu, want 5", buf_len(b));
	cr_assert_str_eq(buf_str(b), "hello");
	cr_assert_eq(buf_printf(b, "%015d", 1), 0, "exactly to max must fit");
	cr_assert_eq(buf_len(b), 20);
	buf_free(&b);
}

Test(buf, reserve_commit)
{
	struct buf *b = buf_new(50);
	uint8_t *p;

	cr_assert_eq(buf_append_str(b, "ab"), 0);
	p = buf_reserve(b, 40);
	cr_assert_not_null(p);
	memcpy(p, "cdef", 4);
	buf_commit(b, 4);
	cr_assert_str_eq(buf_str(b), "abcdef");
	cr_assert_null(buf_reserve(b, 45), "reserve past max must fail");
	cr_assert_eq(buf_len(b), 6);
	buf_free(&b);
}

Test(buf, commit_past_reserve_panics, .signal = SIGABRT)
{
	struct buf *b = buf_new(1 << 20);

	(void)buf_reserve(b, 4);
	buf_commit(b, 1 << 20);
}

Test(buf, consume_truncate_reset)
{
	struct buf *b = buf_new(50);

	buf_append_str(b, "hello world");
	buf_consume(b, 6);
	cr_assert_str_eq(buf_str(b), "world");
	buf_truncate(b, 3);
	cr_assert_str_eq(buf_str(b), "wor");
	buf_consume(b, 3);
	cr_assert_eq(buf_len(b), 0);
	cr_assert_str_eq(buf_str(b), "");
	buf_append_str(b, "x");
	buf_reset(b);
	cr_assert_eq(buf_len(b), 0);
	cr_assert_str_eq(buf_str(b), "");
	buf_free(&b);
}

Test(buf, consume_too_much_panics, .signal = SIGABRT)
{
	struct buf *b = buf_new(50);

	buf_append_str(b, "abc");
	buf_consume(b, 4);
}

Test(buf, wipe)
{
	struct buf *b = buf_new(64);

	buf_append_str(b, "secret");
	buf_wipe(b);
	cr_assert_eq(buf_len(b), 0);
	for (size_t i = 0; i < 7; i++)
		cr_assert_eq(buf_data(b)[i], 0, "byte %zu not wiped", i);
	buf_append_str(b, "pw");
	buf_free_wipe(&b);
	cr_assert_null(b);
	buf_free_wipe(&b);
}

Test(buf, put_and_read_big_endian)
{
	static const uint8_t want[] = { 0xab, 0x12, 0x34, 0xde, 0xad, 0xbe,
		0xef, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08 };
	struct buf *b = buf_new(64);
	struct rd r;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;

	cr_assert_eq(buf_put_u8(b, 0xab), 0);
	cr_assert_eq(buf_put_u16(b, 0x1234), 0);
	cr_assert_eq(buf_put_u32(b, 0xdeadbeef), 0);
	cr_assert_eq(buf_put_u64(b, 0x0102030405060708ULL), 0);
	cr_assert_eq(buf_len(b), sizeof(want));
	cr_assert_eq(memcmp(buf_data(b), want, sizeof(want)), 0,
		     "wire bytes are not big endian");

	rd_init(&r, buf_data(b), buf_len(b));
	cr_assert_eq(rd_get_u8(&r, &u8), 0);
	cr_assert_eq(u8, 0xab);
	cr_assert_eq(rd_get_u16(&r, &u16), 0);
	cr_assert_eq(u16, 0x1234, "got %#x, want 0x1234", u16);
	cr_assert_eq(rd_get_u32(&r, &u32), 0);
	cr_assert_eq(u32, 0xdeadbeef, "got %#x, want 0xdeadbeef", u32);
	cr_assert_eq(rd_get_u64(&r, &u64), 0);
	cr_assert_eq(u64, 0x0102030405060708ULL);
	cr_assert(rd_empty(&r));
	cr_assert_eq(rd_get_u8(&r, &u8), -1, "read past end must fail");
	buf_free(&b);
}

Test(buf, put_over_max_fails)
{
	struct buf *b = buf_new(7);

	cr_assert_eq(buf_put_u32(b, 1), 0);
	cr_assert_eq(buf_put_u32(b, 2), -1);
	cr_assert_eq(buf_put_u16(b, 2), 0);
	cr_assert_eq(buf_put_u64(b, 2), -1);
	cr_assert_eq(buf_len(b), 6);
	buf_free(&b);
}

/* Short input: each getter fails and consumes nothing. */
Test(buf, rd_short_input_table)
{
	static const uint8_t data[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	for (size_t have = 0; have < 8; have++) {
		struct rd r;
		uint16_t u16;
		uint32_t u32;
		uint64_t u64;
		const uint8_t *p = NULL;

		rd_init(&r, data, have);
		cr_assert_eq(rd_get_u64(&r, &u64), -1, "u64 from %zu bytes", have);
		cr_assert_eq(r.left, have, "failed read consumed bytes");
		cr_assert_eq(rd_get_u32(&r, &u32), have >= 4 ? 0 : -1,
			     "u32 from %zu bytes", have);
		rd_init(&r, data, have);
		cr_assert_eq(rd_get_u16(&r, &u16), have >= 2 ? 0 : -1,
			     "u16 from %zu bytes", have);
		rd_init(&r, data, have);
		cr_assert_eq(rd_get_bytes(&r, &p, have + 1), -1);
		cr_assert_eq(rd_get_bytes(&r, &p, SIZE_MAX), -1,
			     "huge length must not wrap");
		cr_assert_eq(rd_get_bytes(&r, &p, have), 0);
		cr_assert_eq(p, data);
		cr_assert(rd_empty(&r));
	}
}
