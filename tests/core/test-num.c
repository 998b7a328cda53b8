/* Tests for lib/core/num.c: boundaries, overflow, hostile forms. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "core/num.h"

#define FAIL (-1)

Test(num, u64_table)
{
	static const struct {
		const char *s;
		uint64_t max;
		int ret;
		uint64_t want;
	} t[] = {
		{ "0", UINT64_MAX, 0, 0 },
		{ "00042", UINT64_MAX, 0, 42 },
		{ "18446744073709551615", UINT64_MAX, 0, UINT64_MAX },
		{ "18446744073709551616", UINT64_MAX, FAIL, 0 },   /* max+1 */
		{ "18446744073709551620", UINT64_MAX, FAIL, 0 },
		{ "99999999999999999999", UINT64_MAX, FAIL, 0 },
		{ "184467440737095516150", UINT64_MAX, FAIL, 0 },
		{ "000000000000000000000000018446744073709551615", UINT64_MAX, 0,
		  UINT64_MAX },
		{ "100", 100, 0, 100 },
		{ "101", 100, FAIL, 0 },
		{ "4294967295", UINT32_MAX, 0, UINT32_MAX },
		{ "4294967296", UINT32_MAX, FAIL, 0 },
		{ "0", 0, 0, 0 },
		{ "1", 0, FAIL, 0 },
		{ "9", 5, FAIL, 0 },
		{ "", UINT64_MAX, FAIL, 0 },
		{ "+1", UINT64_MAX, FAIL, 0 },
		{ "-1", UINT64_MAX, FAIL, 0 },
		{ "-0", UINT64_MAX, FAIL, 0 },
		{ " 1", UINT64_MAX, FAIL, 0 },
		{ "1 ", UINT64_MAX, FAIL, 0 },
		{ "\t1", UINT64_MAX, FAIL, 0 },
		{ "1\n", UINT64_MAX, FAIL, 0 },
		{ "0x10", UINT64_MAX, FAIL, 0 },
		{ "1e3", UINT64_MAX, FAIL, 0 },
		{ "1.0", UINT64_MAX, FAIL, 0 },
		{ "1,000", UINT64_MAX, FAIL, 0 },
		{ "\xd9\xa1", UINT64_MAX, FAIL, 0 },  /* Arabic-Indic one */
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint64_t got = 12345;
		int r = num_parse_u64(t[i].s, t[i].max, &got);

		cr_assert_eq(r, t[i].ret, "[%zu] \"%s\": got %d, want %d", i,
			     t[i].s, r, t[i].ret);
		if (r == 0)
			cr_assert_eq(got, t[i].want,
				     "[%zu] \"%s\": got %llu, want %llu", i,
				     t[i].s, (unsigned long long)got,
				     (unsigned long long)t[i].want);
		else
			cr_assert_eq(got, 12345, "[%zu] out written on failure",
				     i);
	}
}

Test(num, u64_n_counted)
{
	uint64_t v;

	cr_assert_eq(num_parse_u64_n("123abc", 3, UINT64_MAX, &v), 0);
	cr_assert_eq(v, 123);
	cr_assert_eq(num_parse_u64_n("123abc", 4, UINT64_MAX, &v), FAIL);
	cr_assert_eq(num_parse_u64_n("123", 0, UINT64_MAX, &v), FAIL,
		     "empty range must fail");
	/* A NUL inside the counted range is not a digit. */
	cr_assert_eq(num_parse_u64_n("1\0002", 3, UINT64_MAX, &v), FAIL);
	cr_assert_eq(num_parse_u64_n("184467440737095516159", 20, UINT64_MAX,
				     &v), 0);
	cr_assert_eq(v, UINT64_MAX);
}

Test(num, uint)
{
	unsigned int v = 7;

	cr_assert_eq(num_parse_uint("4294967295", UINT_MAX, &v), 0);
	cr_assert_eq(v, UINT_MAX);
	cr_assert_eq(num_parse_uint("4294967296", UINT_MAX, &v), FAIL);
	cr_assert_eq(num_parse_uint("65535", 65535, &v), 0);
	cr_assert_eq(v, 65535);
	cr_assert_eq(num_parse_uint("65536", 65535, &v), FAIL);
	cr_assert_eq(num_parse_uint("", UINT_MAX, &v), FAIL);
	cr_assert_eq(num_parse_uint("+5", UINT_MAX, &v), FAIL);
}

Test(num, size_table)
{
	static const struct {
		const char *s;
		int ret;
		uint64_t want;
	} t[] = {
		{ "0", 0, 0 },
		{ "100", 0, 100 },
		{ "64k", 0, 64 * 1024 },
		{ "64K", 0, 64 * 1024 },
		{ "10m", 0, 10 * 1024 * 1024 },
		{ "10M", 0, 10 * 1024 * 1024 },
		{ "2g", 0, UINT64_C(2) << 30 },
		{ "2G", 0, UINT64_C(2) << 30 },
		{ "17179869183g", 0, UINT64_C(17179869183) << 30 },
		{ "17179869184g", FAIL, 0 },          /* 2^34 GiB overflows */
		{ "18014398509481984k", FAIL, 0 },    /* 2^54 KiB overflows */
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "18446744073709551616", FAIL, 0 },
		{ "", FAIL, 0 },
		{ "k", FAIL, 0 },
		{ "64kb", FAIL, 0 },
		{ "64 k", FAIL, 0 },
		{ "64t", FAIL, 0 },
		{ "-1k", FAIL, 0 },
		{ "+1k", FAIL, 0 },
		{ " 1", FAIL, 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint64_t got = 0;
		int r = num_parse_size(t[i].s, &got);

		cr_assert_eq(r, t[i].ret, "[%zu] \"%s\": got %d, want %d", i,
			     t[i].s, r, t[i].ret);
		if (r == 0)
			cr_assert_eq(got, t[i].want,
				     "[%zu] \"%s\": got %llu, want %llu", i,
				     t[i].s, (unsigned long long)got,
				     (unsigned long long)t[i].want);
	}
}

Test(num, duration_table)
{
	static const struct {
		const char *s;
		int ret;
		uint64_t want;
	} t[] = {
		{ "30m", 0, 1800000 },
		{ "500ms", 0, 500 },
		{ "10", 0, 10000 },
		{ "10s", 0, 10000 },
		{ "2h", 0, 7200000 },
		{ "0", 0, 0 },
		{ "0ms", 0, 0 },
		{ "18446744073709551615ms", 0, UINT64_MAX },
		{ "18446744073709551615", FAIL, 0 },  /* * 1000 overflows */
		{ "18446744073709551s", 0, UINT64_C(18446744073709551000) },
		{ "18446744073709552s", FAIL, 0 },
		{ "", FAIL, 0 },
		{ "s", FAIL, 0 },
		{ "ms", FAIL, 0 },
		{ "5d", FAIL, 0 },
		{ "5 s", FAIL, 0 },
		{ "5sec", FAIL, 0 },
		{ "5M", FAIL, 0 },
		{ "5mss", FAIL, 0 },
		{ "-5s", FAIL, 0 },
		{ "+5s", FAIL, 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint64_t got = 0;
		int r = num_parse_duration_ms(t[i].s, &got);

		cr_assert_eq(r, t[i].ret, "[%zu] \"%s\": got %d, want %d", i,
			     t[i].s, r, t[i].ret);
		if (r == 0)
			cr_assert_eq(got, t[i].want,
				     "[%zu] \"%s\": got %llu, want %llu", i,
				     t[i].s, (unsigned long long)got,
				     (unsigned long long)t[i].want);
	}
}

Test(num, bool_table)
{
	static const struct {
		const char *s;
		int ret, want;
	} t[] = {
		{ "yes", 0, 1 }, { "true", 0, 1 }, { "1", 0, 1 },
		{ "no", 0, 0 }, { "false", 0, 0 }, { "0", 0, 0 },
		{ "", FAIL, 0 }, { "YES", FAIL, 0 }, { "y", FAIL, 0 },
		{ "2", FAIL, 0 }, { "yes ", FAIL, 0 }, { "on", FAIL, 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int got = -7;
		int r = num_parse_bool(t[i].s, &got);

		cr_assert_eq(r, t[i].ret, "[%zu] \"%s\": got %d, want %d", i,
			     t[i].s, r, t[i].ret);
		if (r == 0)
			cr_assert_eq(got, t[i].want, "[%zu] \"%s\": got %d, want %d",
				     i, t[i].s, got, t[i].want);
	}
}
