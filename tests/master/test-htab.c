/*
 * test-htab: tests for master/htab.c, the hash table and counters moatd
 * keys its per-IP and per-user limits on. Hostile inputs: binary keys
 * with NULs, keys that differ only in length, many keys (growth),
 * counters driven below 0.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "master/htab.h"

Test(htab, put_get_del)
{
	struct htab *h = htab_new();
	static const struct {
		const char *key;
		size_t len;
	} keys[] = {
		{ "", 0 }, { "a", 1 }, { "a\0", 2 }, { "a\0b", 3 },
		{ "127.0.0.1", 9 }, { "::1", 3 }, { "user\0" "1.2.3.4", 12 },
	};
	size_t n = sizeof(keys) / sizeof(keys[0]);
	int vals[sizeof(keys) / sizeof(keys[0])];

	for (size_t i = 0; i < n; i++)
		htab_put(h, keys[i].key, keys[i].len, &vals[i]);
	cr_assert_eq(htab_count(h), n, "count: got %zu, want %zu",
		     htab_count(h), n);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(htab_get(h, keys[i].key, keys[i].len), &vals[i],
			     "key %zu: wrong value", i);
	cr_assert_null(htab_get(h, "b", 1));
	cr_assert_eq(htab_del(h, "a\0", 2), &vals[2]);
	cr_assert_null(htab_get(h, "a\0", 2), "deleted key still found");
	cr_assert_eq(htab_get(h, "a", 1), &vals[1], "neighbour lost");
	cr_assert_null(htab_del(h, "a\0", 2), "second delete found a value");
	cr_assert_eq(htab_count(h), n - 1);
	htab_free(&h);
	cr_assert_null(h);
}

Test(htab, replace_keeps_count)
{
	struct htab *h = htab_new();
	int a, b;

	htab_put(h, "k", 1, &a);
	htab_put(h, "k", 1, &b);
	cr_assert_eq(htab_count(h), 1, "got %zu entries, want 1",
		     htab_count(h));
	cr_assert_eq(htab_get(h, "k", 1), &b);
	htab_free(&h);
}

Test(htab, many_keys_survive_growth)
{
	struct htab *h = htab_new();
	char key[32];
	enum { N = 20000 };

	for (uintptr_t i = 1; i <= N; i++) {
		snprintf(key, sizeof(key), "10.%u.%u.%u",
			 (unsigned int)(i >> 16), (unsigned int)(i >> 8) & 255,
			 (unsigned int)i & 255);
		htab_put(h, key, strlen(key), (void *)i);
	}
	cr_assert_eq(htab_count(h), N);
	for (uintptr_t i = 1; i <= N; i++) {
		snprintf(key, sizeof(key), "10.%u.%u.%u",
			 (unsigned int)(i >> 16), (unsigned int)(i >> 8) & 255,
			 (unsigned int)i & 255);
		cr_assert_eq((uintptr_t)htab_get(h, key, strlen(key)), i,
			     "key %s: got %p, want %zu", key,
			     htab_get(h, key, strlen(key)), (size_t)i);
		if (i % 2 == 0)
			htab_del(h, key, strlen(key));
	}
	cr_assert_eq(htab_count(h), N / 2);
	htab_free(&h);
}

Test(htab, counters)
{
	struct htab *h = htab_new();

	cr_assert_eq(htab_counter_get(h, "ip", 2), 0);
	cr_assert_eq(htab_counter_add(h, "ip", 2, 1), 1);
	cr_assert_eq(htab_counter_add(h, "ip", 2, 1), 2);
	cr_assert_eq(htab_counter_add(h, "ip", 2, -1), 1);
	cr_assert_eq(htab_counter_add(h, "ip", 2, -1), 0);
	cr_assert_eq(htab_count(h), 0, "a zero counter must not keep a key");
	/* Below zero clamps at zero instead of wrapping to a huge count
	 * that would lock the address out. */
	cr_assert_eq(htab_counter_add(h, "ip", 2, -1), 0);
	cr_assert_eq(htab_counter_add(h, "ip", 2, -5), 0);
	cr_assert_eq(htab_count(h), 0);
	cr_assert_eq(htab_counter_add(h, "ip", 2, 3), 3);
	cr_assert_eq(htab_counter_add(h, "ip", 2, -5), 0);
	cr_assert_eq(htab_counter_get(h, "ip", 2), 0);
	htab_free(&h);
}
