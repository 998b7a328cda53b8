/* Tests for lib/core/str.c. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/str.h"

/* The fatal-on-huge-allocation tests need malloc to return NULL under
 * ASan instead of ASan aborting first. */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}


Test(str, copy_table)
{
	static const struct {
		const char *src;
		size_t size;
		int ret;
		const char *want;
	} t[] = {
		{ "abc", 4, 0, "abc" },
		{ "abc", 10, 0, "abc" },
		{ "abcd", 4, -1, "abc" },
		{ "abcdef", 1, -1, "" },
		{ "", 1, 0, "" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char dst[16];
		int r;

		memset(dst, 'Z', sizeof(dst));
		r = str_copy(dst, t[i].src, t[i].size);
		cr_assert_eq(r, t[i].ret, "[%zu] ret: got %d, want %d", i, r,
			     t[i].ret);
		cr_assert_str_eq(dst, t[i].want, "[%zu] got \"%s\", want \"%s\"",
				 i, dst, t[i].want);
		cr_assert_eq(dst[t[i].size], 'Z', "[%zu] wrote past dstsize", i);
	}
	cr_assert_eq(str_copy(NULL, "x", 0), -1, "size 0 must fail");
}

Test(str, eq_and_eq_ci)
{
	cr_assert(str_eq("abc", "abc"));
	cr_assert(!str_eq("abc", "abd"));
	cr_assert(!str_eq("abc", "ab"));
	cr_assert(str_eq_ci("LOGIN", "login"));
	cr_assert(str_eq_ci("AuThEnTiCaTe", "AUTHENTICATE"));
	cr_assert(!str_eq_ci("login", "logi"));
	cr_assert(!str_eq_ci("logi", "login"));
	cr_assert(str_eq_ci("", ""));
	/* Only ASCII folds: Latin-1 bytes stay distinct. */
	cr_assert(!str_eq_ci("\xc9", "\xe9"), "non-ASCII must not fold");
	/* '@' and '`' differ from 'A'/'a' by 0x20 tricks: must not match. */
	cr_assert(!str_eq_ci("[", "{"));
}

Test(str, prefix_upper_trim)
{
	char s1[] = "select inbox";
	char s2[] = "  \t a b \r\n";
	char s3[] = "   ";
	char s4[] = "x";

	cr_assert(str_has_prefix("STARTTLS", "START"));
	cr_assert(str_has_prefix("abc", ""));
	cr_assert(!str_has_prefix("ST", "START"));
	str_upper(s1);
	cr_assert_str_eq(s1, "SELECT INBOX");
	cr_assert_str_eq(str_trim(s2), "a b", "got \"%s\"", s2);
	cr_assert_str_eq(str_trim(s3), "");
	cr_assert_str_eq(str_trim(s4), "x");
}

Test(str, ct_eq)
{
	cr_assert(str_ct_eq("abcdef", "abcdef", 6));
	cr_assert(!str_ct_eq("abcdef", "abcdeg", 6));
	cr_assert(!str_ct_eq("xbcdef", "abcdef", 6));
	cr_assert(str_ct_eq("a", "b", 0), "zero length compares equal");
}

Test(str, has_ctl)
{
	static const struct {
		const char *s;
		bool want;
	} t[] = {
		{ "", false },
		{ "alice", false },
		{ "/home/a b/Mail", false },
		{ "~!@#$%^&*()_+{}|:\"<>?", false },
		{ "j\xc3\xbcrgen", false },        /* UTF-8 is not a control */
		{ "\x80\xff", false },
		{ "a\tb", true },
		{ "a\r\nb", true },
		{ "\n", true },
		{ "x\x1f", true },
		{ "\x01x", true },
		{ "del\x7f", true },
		{ "\x1b[31m", true },               /* terminal escape in a log */
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		bool got = str_has_ctl(t[i].s);

		cr_assert_eq(got, t[i].want, "[%zu] got %d, want %d", i, got,
			     t[i].want);
	}
}

Test(str, alloc_helpers)
{
	char *s = xstrdup("hello");
	char *n = xstrndup("hello", 3);
	char *m = xstrndup("hi", 10);
	char *f = xasprintf("%s=%d", "x", 5);
	int *v = xcalloc(4, sizeof(int));
	int *w;

	cr_assert_str_eq(s, "hello");
	cr_assert_str_eq(n, "hel");
	cr_assert_str_eq(m, "hi");
	cr_assert_str_eq(f, "x=5");
	for (int i = 0; i < 4; i++)
		cr_assert_eq(v[i], 0);
	w = xreallocarray(v, 1000, sizeof(int));
	w[999] = 1;
	free(w);
	free(f);
	free(m);
	free(n);
	free(s);
	cr_assert_not_null(s = xmalloc(0), "xmalloc(0) must not be NULL");
	free(s);
}

Test(str, free_wipe)
{
	char *s = xstrdup("password");

	str_free_wipe(&s);
	cr_assert_null(s);
	str_free_wipe(&s);
	str_free_wipe(NULL);
}

Test(str, reallocarray_overflow_is_fatal, .exit_code = LOG_FATAL_EXIT)
{
	void *p = xreallocarray(NULL, SIZE_MAX / 2, 3);

	free(p);
}

Test(str, huge_malloc_is_fatal, .exit_code = LOG_FATAL_EXIT)
{
	void *p = xmalloc(SIZE_MAX - 16);

	free(p);
}
