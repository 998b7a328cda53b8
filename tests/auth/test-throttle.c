/*
 * Tests for auth/throttle.c: the fixed window, address grouping (IPv6
 * /64, IPv4-mapped), independence of addresses, expiry and the bound on
 * tracked addresses. The clock is passed in, so no sleeping.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "auth/throttle.h"

static const uint8_t hkey[THROTTLE_KEY_LEN] = "0123456789abcdef";

Test(throttle, window)
{
	struct throttle *t = throttle_new(3, 1000, 100, hkey);

	cr_assert_not(throttle_check(t, "192.0.2.1", 0));
	cr_assert_not(throttle_fail(t, "192.0.2.1", 0));
	cr_assert_not(throttle_fail(t, "192.0.2.1", 100));
	cr_assert_not(throttle_check(t, "192.0.2.1", 100),
		      "2 of 3 failures: want not throttled");
	cr_assert(throttle_fail(t, "192.0.2.1", 200),
		  "3rd failure: want the transition reported");
	cr_assert(throttle_check(t, "192.0.2.1", 200));
	cr_assert(throttle_check(t, "192.0.2.1", 999),
		  "inside the window (started at 0): want throttled");
	/* More failures while throttled (requests already in flight) do
	 * not extend the window or report again. */
	cr_assert_not(throttle_fail(t, "192.0.2.1", 500));
	cr_assert_not(throttle_check(t, "192.0.2.1", 1000),
		      "window over at 1000: want free again");
	/* A new window starts with the next failure. */
	cr_assert_not(throttle_fail(t, "192.0.2.1", 1500));
	cr_assert_not(throttle_fail(t, "192.0.2.1", 1600));
	cr_assert_not(throttle_check(t, "192.0.2.1", 1700));
	cr_assert(throttle_fail(t, "192.0.2.1", 2400));
	cr_assert(throttle_check(t, "192.0.2.1", 2499));
	cr_assert_not(throttle_check(t, "192.0.2.1", 2500));
	throttle_free(&t);
	cr_assert_null(t);
}

Test(throttle, failures_spread_over_windows_never_throttle)
{
	struct throttle *t = throttle_new(3, 1000, 100, hkey);

	for (uint64_t now = 0; now < 20000; now += 600) {
		(void)throttle_fail(t, "198.51.100.7", now);
		cr_assert_not(throttle_check(t, "198.51.100.7", now),
			      "at %llu: 2 failures per window at most",
			      (unsigned long long)now);
	}
	throttle_free(&t);
}

Test(throttle, addresses_are_independent)
{
	struct throttle *t = throttle_new(2, 1000, 100, hkey);

	(void)throttle_fail(t, "10.0.0.1", 0);
	(void)throttle_fail(t, "10.0.0.1", 0);
	cr_assert(throttle_check(t, "10.0.0.1", 1));
	cr_assert_not(throttle_check(t, "10.0.0.2", 1));
	cr_assert_not(throttle_check(t, "2001:db8::1", 1));
	throttle_free(&t);
}

Test(throttle, ipv6_grouped_by_64)
{
	struct throttle *t = throttle_new(2, 1000, 100, hkey);

	(void)throttle_fail(t, "2001:db8:1:2::1", 0);
	(void)throttle_fail(t, "2001:db8:1:2:ffff:ffff:ffff:fffe", 0);
	cr_assert(throttle_check(t, "2001:db8:1:2:abcd::9", 1),
		  "same /64: want throttled");
	cr_assert_not(throttle_check(t, "2001:db8:1:3::1", 1),
		      "other /64: want free");
	throttle_free(&t);
}

Test(throttle, mapped_ipv4_is_ipv4)
{
	struct throttle *t = throttle_new(2, 1000, 100, hkey);

	(void)throttle_fail(t, "::ffff:192.0.2.9", 0);
	(void)throttle_fail(t, "192.0.2.9", 0);
	cr_assert(throttle_check(t, "192.0.2.9", 1));
	cr_assert(throttle_check(t, "::ffff:192.0.2.9", 1));
	cr_assert_not(throttle_check(t, "::", 1));
	throttle_free(&t);
}

Test(throttle, invalid_addresses)
{
	static const char *const bad[] = {
		"", "localhost", "1.2.3", "1.2.3.4.5", "256.1.1.1",
		"1.2.3.4 ", "::g", "1.2.3.4/32", "fe80::1%eth0",
	};
	struct throttle *t = throttle_new(1, 1000, 100, hkey);
	uint8_t key[THROTTLE_KEY_LEN];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(throttle_key(bad[i], key), -1, "\"%s\": got a "
			     "key, want -1", bad[i]);
		cr_assert_not(throttle_fail(t, bad[i], 0));
		cr_assert_not(throttle_check(t, bad[i], 0));
	}
	cr_assert_eq(throttle_key(NULL, key), -1);
	cr_assert_eq(throttle_count(t), 0, "invalid addresses must not be "
		     "tracked");
	throttle_free(&t);
}

Test(throttle, keys)
{
	static const struct {
		const char *a, *b;
		bool same;
	} cases[] = {
		{ "192.0.2.1", "::ffff:192.0.2.1", true },
		{ "192.0.2.1", "192.0.2.2", false },
		{ "2001:db8::1", "2001:db8::2", true },
		{ "2001:db8::1", "2001:db8:0:1::1", false },
		{ "::1", "::2", true },
		{ "::1", "0.0.0.1", false },
		{ "::ffff:0:0", "0.0.0.0", true },
		{ "::", "0.0.0.0", false },
	};
	uint8_t ka[THROTTLE_KEY_LEN], kb[THROTTLE_KEY_LEN];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(throttle_key(cases[i].a, ka), 0);
		cr_assert_eq(throttle_key(cases[i].b, kb), 0);
		cr_assert_eq(memcmp(ka, kb, sizeof(ka)) == 0, cases[i].same,
			     "%s vs %s: got same=%d, want %d", cases[i].a,
			     cases[i].b, !cases[i].same, cases[i].same);
	}
}

Test(throttle, expire)
{
	struct throttle *t = throttle_new(5, 1000, 100, hkey);

	(void)throttle_fail(t, "10.0.0.1", 0);
	(void)throttle_fail(t, "10.0.0.2", 300);
	(void)throttle_fail(t, "10.0.0.3", 600);
	cr_assert_eq(throttle_count(t), 3);
	cr_assert_eq(throttle_expire(t, 999), 0);
	cr_assert_eq(throttle_expire(t, 1300), 2, "windows from 0 and 300 "
		     "are over at 1300");
	cr_assert_eq(throttle_count(t), 1);
	/* A restarted window moves the entry to the back. */
	(void)throttle_fail(t, "10.0.0.4", 1400);
	(void)throttle_fail(t, "10.0.0.3", 1700);   /* new window */
	cr_assert_eq(throttle_expire(t, 2500), 1, "only 10.0.0.4 is over");
	cr_assert_eq(throttle_count(t), 1);
	throttle_free(&t);
}

Test(throttle, bounded_table_evicts_oldest)
{
	struct throttle *t = throttle_new(1, 100000, 3, hkey);
	char ip[32];

	(void)throttle_fail(t, "10.0.0.1", 0);
	(void)throttle_fail(t, "10.0.0.2", 1);
	(void)throttle_fail(t, "10.0.0.3", 2);
	cr_assert_eq(throttle_count(t), 3);
	(void)throttle_fail(t, "10.0.0.4", 3);
	cr_assert_eq(throttle_count(t), 3, "got %zu entries, want the bound",
		     throttle_count(t));
	cr_assert_not(throttle_check(t, "10.0.0.1", 4), "oldest evicted");
	cr_assert(throttle_check(t, "10.0.0.2", 4));
	cr_assert(throttle_check(t, "10.0.0.4", 4));

	for (int i = 0; i < 5000; i++) {
		snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 256, i % 256);
		(void)throttle_fail(t, ip, 10 + (uint64_t)i);
	}
	cr_assert_eq(throttle_count(t), 3);
	throttle_free(&t);
}

Test(throttle, reconfigure)
{
	struct throttle *t = throttle_new(5, 1000, 100, hkey);

	(void)throttle_fail(t, "10.0.0.1", 0);
	(void)throttle_fail(t, "10.0.0.1", 0);
	cr_assert_not(throttle_check(t, "10.0.0.1", 1));
	throttle_configure(t, 2, 1000);
	cr_assert(throttle_check(t, "10.0.0.1", 1), "lower limit applies "
		  "to the running window");
	throttle_configure(t, 2, 10);
	cr_assert_not(throttle_check(t, "10.0.0.1", 10), "shorter window "
		      "applies too");
	throttle_free(&t);
}

Test(throttle, many_addresses)
{
	struct throttle *t = throttle_new(2, 1000, 65536, hkey);
	char ip[64];

	for (int i = 0; i < 30000; i++) {
		snprintf(ip, sizeof(ip), "2001:db8:%x:%x::1", i / 65536,
			 i % 65536);
		(void)throttle_fail(t, ip, 0);
	}
	cr_assert_eq(throttle_count(t), 30000);
	for (int i = 0; i < 30000; i += 97) {
		snprintf(ip, sizeof(ip), "2001:db8:%x:%x::2", i / 65536,
			 i % 65536);
		cr_assert_not(throttle_check(t, ip, 1));
		(void)throttle_fail(t, ip, 1);
		cr_assert(throttle_check(t, ip, 1), "%s: want throttled", ip);
	}
	throttle_free(&t);
}
