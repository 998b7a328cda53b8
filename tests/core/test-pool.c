/* Tests for lib/core/pool.c: zeroed, aligned, overflow-checked. */
#include <criterion/criterion.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/log.h"
#include "core/pool.h"

/* The fatal-on-huge-allocation tests need malloc to return NULL under
 * ASan instead of ASan aborting first. */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}


static bool
aligned(const void *p)
{
	return ((uintptr_t)p % alignof(max_align_t)) == 0;
}

Test(pool, zeroed_and_aligned)
{
	struct pool *p = pool_new(1024);

	for (size_t n = 0; n < 2000; n += 7) {
		unsigned char *m = pool_alloc(p, n);

		cr_assert_not_null(m);
		cr_assert(aligned(m), "size %zu: %p not max_align_t aligned", n,
			  (void *)m);
		for (size_t i = 0; i < n; i++)
			cr_assert_eq(m[i], 0, "size %zu byte %zu not zero", n, i);
		memset(m, 0xaa, n);
	}
	pool_free(&p);
	cr_assert_null(p);
	pool_free(&p);
}

Test(pool, allocations_do_not_overlap)
{
	struct pool *p = pool_new(256);
	unsigned char *m[200];

	for (int i = 0; i < 200; i++) {
		size_t n = (size_t)(i % 3 == 0 ? 200 : 10);

		m[i] = pool_alloc(p, n);
		memset(m[i], i, n);
	}
	for (int i = 0; i < 200; i++) {
		size_t n = (size_t)(i % 3 == 0 ? 200 : 10);

		for (size_t j = 0; j < n; j++)
			cr_assert_eq(m[i][j], (unsigned char)i,
				     "alloc %d byte %zu overwritten", i, j);
	}
	pool_free(&p);
}

Test(pool, large_allocation)
{
	struct pool *p = pool_new(256);
	unsigned char *small1 = pool_alloc(p, 16);
	unsigned char *big = pool_alloc(p, 1 << 20);
	unsigned char *small2 = pool_alloc(p, 16);

	cr_assert(aligned(big));
	cr_assert_eq(big[0], 0);
	cr_assert_eq(big[(1 << 20) - 1], 0);
	memset(big, 1, 1 << 20);
	/* The big block does not steal the current block: the next small
	 * allocation follows the first. */
	cr_assert_eq(small2 - small1, (ptrdiff_t)alignof(max_align_t) *
		     ((16 + alignof(max_align_t) - 1) / alignof(max_align_t)),
		     "small allocations not contiguous after a large one");
	pool_free(&p);
}

Test(pool, clear_reuses_and_rezeroes)
{
	struct pool *p = pool_new(512);
	unsigned char *a, *b;

	a = pool_alloc(p, 64);
	memset(a, 0xff, 64);
	for (int i = 0; i < 100; i++)
		(void)pool_alloc(p, 100);
	(void)pool_alloc(p, 100000);
	cr_assert_geq(pool_used(p), 64 + 100 * 100 + 100000);
	pool_clear(p);
	cr_assert_eq(pool_used(p), 0, "used after clear: got %zu", pool_used(p));
	b = pool_alloc(p, 64);
	cr_assert_eq(a, b, "first block not reused after clear");
	for (int i = 0; i < 64; i++)
		cr_assert_eq(b[i], 0, "byte %d not zero after clear", i);
	pool_free(&p);
}

Test(pool, used_counts_bytes)
{
	struct pool *p = pool_new(0);

	cr_assert_eq(pool_used(p), 0);
	(void)pool_alloc(p, 10);
	(void)pool_alloc(p, 5);
	cr_assert_eq(pool_used(p), 15, "got %zu, want 15", pool_used(p));
	pool_free(&p);
}

Test(pool, strings)
{
	struct pool *p = pool_new(128);
	char *s = pool_strdup(p, "hello");
	char *n = pool_strndup(p, "hello", 2);
	char *m = pool_strndup(p, "hi", 100);
	char *f = pool_printf(p, "%s %d %0300d", "a", 1, 2);

	cr_assert_str_eq(s, "hello");
	cr_assert_str_eq(n, "he");
	cr_assert_str_eq(m, "hi");
	cr_assert_eq(strlen(f), 4 + 300, "printf len: got %zu", strlen(f));
	cr_assert_eq(strncmp(f, "a 1 000", 7), 0);
	pool_free(&p);
}

Test(pool, overflow_size_is_fatal, .exit_code = LOG_FATAL_EXIT)
{
	struct pool *p = pool_new(128);

	(void)pool_alloc(p, SIZE_MAX - 3);
}

Test(pool, overflow_size_near_max_is_fatal, .exit_code = LOG_FATAL_EXIT)
{
	struct pool *p = pool_new(128);

	(void)pool_alloc(p, SIZE_MAX / 2);
}
