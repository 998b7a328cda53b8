/*
 * Tests for auth/throttle.c: the fixed window, counting on arrival
 * (slots in flight, waiting requests), address grouping (IPv6 /64,
 * IPv4-mapped), independence of addresses, expiry and the bounded
 * table's eviction policy. The clock is passed in, so no sleeping.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "auth/throttle.h"

static const uint8_t hkey[THROTTLE_KEY_LEN] = "0123456789abcdef";

/* One complete failed check: begin (must be GO), end as failure.
 * Returns what throttle_end says about the transition. */
static bool
fail(struct throttle *t, const char *ip, uint64_t now)
{
	struct throttle_waiter w;
	enum throttle_verdict v = throttle_begin(t, ip, now, &w);

	cr_assert_eq(v, THROTTLE_GO, "%s at %llu: begin got %d, want GO", ip,
		     (unsigned long long)now, v);
	return throttle_end(t, ip, now, true, NULL, NULL);
}

/* Records the wake-ups a test expects. */
struct woken {
	struct throttle_waiter *w[64];
	enum throttle_verdict v[64];
	size_t n;
};

static void
record_wake(struct throttle_waiter *w, enum throttle_verdict v, void *ctx)
{
	struct woken *k = ctx;

	cr_assert_lt(k->n, 64);
	k->w[k->n] = w;
	k->v[k->n] = v;
	k->n++;
}

Test(throttle, window)
{
	struct throttle *t = throttle_new(3, 1000, 100, hkey);

	cr_assert_not(throttle_check(t, "192.0.2.1", 0));
	cr_assert_not(fail(t, "192.0.2.1", 0));
	cr_assert_not(fail(t, "192.0.2.1", 100));
	cr_assert_not(throttle_check(t, "192.0.2.1", 100),
		      "2 of 3 failures: want not throttled");
	cr_assert(fail(t, "192.0.2.1", 200),
		  "3rd failure: want the transition reported");
	cr_assert(throttle_check(t, "192.0.2.1", 200));
	cr_assert(throttle_check(t, "192.0.2.1", 999),
		  "inside the window (started at 0): want throttled");
	{
		struct throttle_waiter w;

		cr_assert_eq(throttle_begin(t, "192.0.2.1", 500, &w),
			     THROTTLE_REFUSE, "throttled: want REFUSE");
	}
	cr_assert_not(throttle_check(t, "192.0.2.1", 1000),
		      "window over at 1000: want free again");
	/* A new window starts with the next failure. */
	cr_assert_not(fail(t, "192.0.2.1", 1500));
	cr_assert_not(fail(t, "192.0.2.1", 1600));
	cr_assert_not(throttle_check(t, "192.0.2.1", 1700));
	cr_assert(fail(t, "192.0.2.1", 2400));
	cr_assert(throttle_check(t, "192.0.2.1", 2499));
	cr_assert_not(throttle_check(t, "192.0.2.1", 2500));
	throttle_free(&t);
	cr_assert_null(t);
}

Test(throttle, failures_spread_over_windows_never_throttle)
{
	struct throttle *t = throttle_new(3, 1000, 100, hkey);

	for (uint64_t now = 0; now < 20000; now += 600) {
		(void)fail(t, "198.51.100.7", now);
		cr_assert_not(throttle_check(t, "198.51.100.7", now),
			      "at %llu: 2 failures per window at most",
			      (unsigned long long)now);
	}
	throttle_free(&t);
}

Test(throttle, addresses_are_independent)
{
	struct throttle *t = throttle_new(2, 1000, 100, hkey);

	(void)fail(t, "10.0.0.1", 0);
	(void)fail(t, "10.0.0.1", 0);
	cr_assert(throttle_check(t, "10.0.0.1", 1));
	cr_assert_not(throttle_check(t, "10.0.0.2", 1));
	cr_assert_not(throttle_check(t, "2001:db8::1", 1));
	throttle_free(&t);
}

Test(throttle, ipv6_grouped_by_64)
{
	struct throttle *t = throttle_new(2, 1000, 100, hkey);

	(void)fail(t, "2001:db8:1:2::1", 0);
	(void)fail(t, "2001:db8:1:2:ffff:ffff:ffff:fffe", 0);
	cr_assert(throttle_check(t, "2001:db8:1:2:abcd::9", 1),
		  "same /64: want throttled");
	cr_assert_not(throttle_check(t, "2001:db8:1:3::1", 1),
		      "other /64: want free");
	throttle_free(&t);
}

Test(throttle, mapped_ipv4_is_ipv4)
{
	struct throttle *t = throttle_new(2, 1000, 100, hkey);

	(void)fail(t, "::ffff:192.0.2.9", 0);
	(void)fail(t, "192.0.2.9", 0);
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
		cr_assert_not(fail(t, bad[i], 0));
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

	(void)fail(t, "10.0.0.1", 0);
	(void)fail(t, "10.0.0.2", 300);
	(void)fail(t, "10.0.0.3", 600);
	cr_assert_eq(throttle_count(t), 3);
	cr_assert_eq(throttle_expire(t, 999), 0);
	cr_assert_eq(throttle_expire(t, 1300), 2, "windows from 0 and 300 "
		     "are over at 1300");
	cr_assert_eq(throttle_count(t), 1);
	/* A restarted window moves the entry to the back. */
	(void)fail(t, "10.0.0.4", 1400);
	(void)fail(t, "10.0.0.3", 1700);   /* new window */
	cr_assert_eq(throttle_expire(t, 2500), 1, "only 10.0.0.4 is over");
	cr_assert_eq(throttle_count(t), 1);
	throttle_free(&t);
}

/* Counting on arrival (issue 5, finding 5): 45 parallel requests from
 * one address with a limit of 10 -- only 10 may reach the password
 * check; the others wait and are refused once those 10 have failed. */
Test(throttle, parallel_requests_cannot_overtake_the_limit)
{
	enum { N = 45, LIMIT = 10 };
	struct throttle *t = throttle_new(LIMIT, 60000, 100, hkey);
	struct throttle_waiter w[N];
	struct woken k = { .n = 0 };
	size_t go = 0, waiting = 0;

	for (size_t i = 0; i < N; i++) {
		enum throttle_verdict v = throttle_begin(t, "192.0.2.7", 5,
							 &w[i]);

		cr_assert(v == THROTTLE_GO || v == THROTTLE_WAIT, "request "
			  "%zu: got %d, want GO or WAIT", i, v);
		if (v == THROTTLE_GO)
			go++;
		else
			waiting++;
	}
	cr_assert_eq(go, LIMIT, "got %zu checks in flight, want %d", go,
		     LIMIT);
	for (size_t i = 0; i < LIMIT; i++) {
		bool tr = throttle_end(t, "192.0.2.7", 6, true, record_wake,
				       &k);

		cr_assert_eq(tr, i == LIMIT - 1, "failure %zu: transition "
			     "%d", i + 1, tr);
		if (i < LIMIT - 1)
			cr_assert_eq(k.n, 0, "after %zu failures with %zu in "
				     "flight: nobody may go yet", i + 1,
				     LIMIT - 1 - i);
	}
	cr_assert_eq(k.n, waiting, "got %zu wake-ups, want %zu", k.n,
		     waiting);
	for (size_t i = 0; i < k.n; i++) {
		cr_assert_eq(k.v[i], THROTTLE_REFUSE, "waiter %zu: got %d, "
			     "want REFUSE", i, k.v[i]);
		cr_assert_eq(k.w[i], &w[LIMIT + i], "waiters must be decided "
			     "in arrival order");
	}
	cr_assert(throttle_check(t, "192.0.2.7", 7));
	throttle_free(&t);
}

/* Many simultaneous good logins from one address (webmail, NAT) are
 * not refused: waiters go ahead as earlier checks succeed. */
Test(throttle, waiters_go_when_checks_succeed)
{
	struct throttle *t = throttle_new(2, 60000, 100, hkey);
	struct throttle_waiter w[5];
	struct woken k = { .n = 0 };

	cr_assert_eq(throttle_begin(t, "10.0.0.1", 0, &w[0]), THROTTLE_GO);
	cr_assert_eq(throttle_begin(t, "10.0.0.1", 0, &w[1]), THROTTLE_GO);
	for (int i = 2; i < 5; i++)
		cr_assert_eq(throttle_begin(t, "10.0.0.1", 0, &w[i]),
			     THROTTLE_WAIT, "request %d", i);
	cr_assert_not(throttle_end(t, "10.0.0.1", 1, false, record_wake, &k));
	cr_assert_eq(k.n, 1);
	cr_assert_eq(k.w[0], &w[2]);
	cr_assert_eq(k.v[0], THROTTLE_GO);
	/* One failure: 1 failure + 2 in flight = the limit, nobody goes. */
	(void)throttle_end(t, "10.0.0.1", 2, true, record_wake, &k);
	cr_assert_eq(k.n, 1, "a failure left no free slot");
	(void)throttle_end(t, "10.0.0.1", 3, false, record_wake, &k);
	cr_assert_eq(k.n, 2);
	cr_assert_eq(k.w[1], &w[3]);
	cr_assert_eq(k.v[1], THROTTLE_GO);
	/* w[3]'s check fails too: limit reached, w[4] is refused. */
	(void)throttle_end(t, "10.0.0.1", 4, true, record_wake, &k);
	cr_assert_eq(k.n, 3);
	cr_assert_eq(k.w[2], &w[4]);
	cr_assert_eq(k.v[2], THROTTLE_REFUSE);
	/* The last one in flight (w[2]) ends: nothing left to decide. */
	(void)throttle_end(t, "10.0.0.1", 5, false, record_wake, &k);
	cr_assert_eq(k.n, 3);
	throttle_free(&t);
}

/* A new request queues behind earlier waiters even if a slot is free
 * for a moment, so waiters are served in order. */
Test(throttle, new_requests_queue_behind_waiters)
{
	struct throttle *t = throttle_new(1, 60000, 100, hkey);
	struct throttle_waiter a, b, c;
	struct woken k = { .n = 0 };

	cr_assert_eq(throttle_begin(t, "10.0.0.9", 0, &a), THROTTLE_GO);
	cr_assert_eq(throttle_begin(t, "10.0.0.9", 0, &b), THROTTLE_WAIT);
	cr_assert_eq(throttle_begin(t, "10.0.0.9", 0, &c), THROTTLE_WAIT);
	(void)throttle_end(t, "10.0.0.9", 1, false, record_wake, &k);
	cr_assert_eq(k.n, 1);
	cr_assert_eq(k.w[0], &b, "b arrived first");
	throttle_free(&t);
}

/* The wake callback may end the woken request at once (auth main does
 * for an unusable user name): re-entry must see a consistent table. */
struct reenter {
	struct throttle *t;
	size_t ended;
};

static void
end_at_once(struct throttle_waiter *w, enum throttle_verdict v, void *ctx)
{
	struct reenter *r = ctx;

	(void)w;
	if (v == THROTTLE_GO) {
		r->ended++;
		(void)throttle_end(r->t, "10.0.0.5", 1, false, end_at_once,
				   r);
	}
}

Test(throttle, wake_callback_may_reenter)
{
	struct throttle *t = throttle_new(1, 60000, 100, hkey);
	struct throttle_waiter w[20];
	struct reenter r = { t, 0 };

	cr_assert_eq(throttle_begin(t, "10.0.0.5", 0, &w[0]), THROTTLE_GO);
	for (int i = 1; i < 20; i++)
		cr_assert_eq(throttle_begin(t, "10.0.0.5", 0, &w[i]),
			     THROTTLE_WAIT);
	(void)throttle_end(t, "10.0.0.5", 1, false, end_at_once, &r);
	cr_assert_eq(r.ended, 19, "got %zu, want every waiter run", r.ended);
	cr_assert_eq(throttle_count(t), 0, "no failures, nothing in flight: "
		     "nothing to keep");
	throttle_free(&t);
}

/* Eviction must not favour an attacker: a throttled address stays
 * throttled however many fresh addresses fill the table. */
Test(throttle, throttled_entry_is_never_evicted)
{
	struct throttle *t = throttle_new(2, 100000, 4, hkey);
	char ip[32];

	(void)fail(t, "203.0.113.1", 0);
	(void)fail(t, "203.0.113.1", 0);
	cr_assert(throttle_check(t, "203.0.113.1", 1));
	/* The attacker's other addresses, one failure each: they push out
	 * each other, never the throttled entry. */
	for (int i = 0; i < 1000; i++) {
		snprintf(ip, sizeof(ip), "2001:db8:%x::1", i);
		(void)fail(t, ip, 10 + (uint64_t)i);
		cr_assert_leq(throttle_count(t), 4);
	}
	cr_assert(throttle_check(t, "203.0.113.1", 2000), "flushed out of "
		  "the table by fresh addresses");
	throttle_free(&t);
}

/* Among evictable entries the least recently active goes first. */
Test(throttle, evicts_least_recently_active)
{
	struct throttle *t = throttle_new(3, 100000, 3, hkey);

	(void)fail(t, "10.0.0.1", 0);
	(void)fail(t, "10.0.0.2", 1);
	(void)fail(t, "10.0.0.3", 2);
	(void)fail(t, "10.0.0.1", 3);   /* .1 active again: .2 is oldest */
	(void)fail(t, "10.0.0.4", 4);
	cr_assert_eq(throttle_count(t), 3);
	(void)fail(t, "10.0.0.1", 5);
	cr_assert(throttle_check(t, "10.0.0.1", 6), "10.0.0.1 kept its two "
		  "earlier failures: 3 now");
	(void)fail(t, "10.0.0.2", 6);
	(void)fail(t, "10.0.0.2", 6);
	cr_assert_not(throttle_check(t, "10.0.0.2", 7), "10.0.0.2 was "
		      "evicted: 2 failures only");
	throttle_free(&t);
}

/* Entries with checks in flight are not evicted either; a table full
 * of protected entries refuses newcomers (fails closed) until one
 * frees up. */
Test(throttle, full_of_protected_entries_fails_closed)
{
	struct throttle *t = throttle_new(1, 1000, 2, hkey);
	struct throttle_waiter w1, w2, w3;

	cr_assert_eq(throttle_begin(t, "10.0.0.1", 0, &w1), THROTTLE_GO);
	(void)fail(t, "10.0.0.2", 0);            /* throttled */
	cr_assert_eq(throttle_count(t), 2);
	cr_assert_eq(throttle_begin(t, "10.0.0.3", 1, &w2), THROTTLE_FULL,
		     "full of protected entries: want FULL");
	/* 10.0.0.1's check succeeds: it holds nothing and is dropped. */
	(void)throttle_end(t, "10.0.0.1", 2, false, NULL, NULL);
	cr_assert_eq(throttle_count(t), 1);
	cr_assert_eq(throttle_begin(t, "10.0.0.3", 3, &w2), THROTTLE_GO);
	(void)throttle_end(t, "10.0.0.3", 3, false, NULL, NULL);
	/* A throttled entry's window ends: the sweep frees it. */
	(void)fail(t, "10.0.0.4", 4);
	cr_assert_eq(throttle_begin(t, "10.0.0.5", 5, &w3), THROTTLE_FULL);
	cr_assert_eq(throttle_expire(t, 1000), 1, "10.0.0.2's window is over");
	cr_assert_eq(throttle_begin(t, "10.0.0.5", 1001, &w3), THROTTLE_GO);
	throttle_free(&t);
}

Test(throttle, success_releases_the_slot)
{
	struct throttle *t = throttle_new(2, 1000, 10, hkey);
	struct throttle_waiter w;

	for (int i = 0; i < 100; i++) {
		cr_assert_eq(throttle_begin(t, "10.0.0.1", (uint64_t)i, &w),
			     THROTTLE_GO, "login %d", i);
		cr_assert_not(throttle_end(t, "10.0.0.1", (uint64_t)i, false,
					   NULL, NULL));
	}
	cr_assert_eq(throttle_count(t), 0);
	throttle_free(&t);
}

Test(throttle, reconfigure)
{
	struct throttle *t = throttle_new(5, 1000, 100, hkey);

	(void)fail(t, "10.0.0.1", 0);
	(void)fail(t, "10.0.0.1", 0);
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
		(void)fail(t, ip, 0);
	}
	cr_assert_eq(throttle_count(t), 30000);
	for (int i = 0; i < 30000; i += 97) {
		snprintf(ip, sizeof(ip), "2001:db8:%x:%x::2", i / 65536,
			 i % 65536);
		cr_assert_not(throttle_check(t, ip, 1));
		(void)fail(t, ip, 1);
		cr_assert(throttle_check(t, ip, 1), "%s: want throttled", ip);
	}
	throttle_free(&t);
}
