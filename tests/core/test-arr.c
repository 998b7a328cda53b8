/* Tests for lib/core/arr.c and the ARRAY macros. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/arr.h"
#include "core/log.h"

struct item { int a; char b; };

Test(arr, push_many_keeps_values)
{
	ARRAY(int) a = ARRAY_INIT;

	for (int i = 0; i < 10000; i++)
		arr_push(&a, i * 3);
	cr_assert_eq(a.n, 10000, "n: got %zu, want 10000", a.n);
	cr_assert_geq(a.cap, a.n);
	for (int i = 0; i < 10000; i++)
		cr_assert_eq(a.v[i], i * 3, "v[%d]: got %d, want %d", i, a.v[i],
			     i * 3);
	arr_free(&a);
	cr_assert_null(a.v);
	cr_assert_eq(a.n, 0);
	cr_assert_eq(a.cap, 0);
}

Test(arr, structs_and_reserve)
{
	ARRAY(struct item) a = ARRAY_INIT;
	struct item it = { 7, 'x' };

	arr_reserve(&a, 100);
	cr_assert_geq(a.cap, 100);
	cr_assert_eq(a.n, 0);
	arr_push(&a, it);
	cr_assert_eq(a.v[0].a, 7);
	cr_assert_eq(a.v[0].b, 'x');
	arr_free(&a);
}

Test(arr, del_keeps_order)
{
	ARRAY(int) a = ARRAY_INIT;
	static const int want[] = { 0, 2, 3 };

	for (int i = 0; i < 5; i++)
		arr_push(&a, i);
	arr_del(&a, 1);
	arr_del(&a, 3); /* last */
	cr_assert_eq(a.n, 3);
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(a.v[i], want[i], "v[%zu]: got %d, want %d", i,
			     a.v[i], want[i]);
	arr_free(&a);
}

Test(arr, del_fast_moves_last)
{
	ARRAY(int) a = ARRAY_INIT;

	for (int i = 0; i < 5; i++)
		arr_push(&a, i);
	arr_del_fast(&a, 1);
	cr_assert_eq(a.n, 4);
	cr_assert_eq(a.v[1], 4, "got %d, want 4", a.v[1]);
	arr_del_fast(&a, 3); /* deleting the last element itself */
	cr_assert_eq(a.n, 3);
	cr_assert_eq(a.v[2], 2);
	arr_free(&a);
}

Test(arr, growth_overflow_is_fatal, .exit_code = LOG_FATAL_EXIT)
{
	ARRAY(uint64_t) a = ARRAY_INIT;

	/* SIZE_MAX / 4 elements of 8 bytes overflows size_t. */
	arr_reserve(&a, SIZE_MAX / 4);
	arr_free(&a);
}

Test(arr, huge_need_is_fatal, .exit_code = LOG_FATAL_EXIT)
{
	ARRAY(char) a = ARRAY_INIT;

	arr_reserve(&a, SIZE_MAX);
	arr_free(&a);
}
