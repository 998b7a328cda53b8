/*
 * throttle: per-address authentication failure tracking.
 *
 * Rule (design.md, "The login path"): an address gets at most
 * max_failures password checks that fail inside a window of window_ms;
 * after that, its requests are refused without checking the password
 * until the window has passed. The window is fixed and starts at the
 * first failure after the previous window ended.
 *
 * A request is counted when it arrives, not when its check ends:
 * throttle_begin() reserves a slot ("in flight") that throttle_end()
 * turns into a failure or releases. An address never has more checks in
 * flight than it has failures left, so a burst of parallel guesses
 * cannot overtake the limit. A request that finds every remaining slot
 * taken waits (THROTTLE_WAIT) instead of being refused: when the checks
 * in flight end, it goes ahead if they succeeded and is refused if they
 * used up the limit. The outcome is that of checking one at a time,
 * so many simultaneous logins from one busy address (a webmail host, a
 * NAT) are not mistaken for an attack.
 *
 * Choices, documented here because callers rely on them:
 * - IPv6 addresses are grouped by /64: one host usually owns a whole /64
 *   and could otherwise step through 2^64 addresses. IPv4-mapped IPv6
 *   addresses count as the IPv4 address.
 * - A successful login does not reset the count: behind a NAT the
 *   attacker and a legitimate user share an address, and an attacker
 *   with one valid account must not be able to wash away failures.
 * - Refused (throttled) requests are not failures: they do not extend
 *   the window.
 * - The table is bounded. An entry that is throttled (window open) or
 *   has requests in flight or waiting is never evicted: otherwise an
 *   attacker with many /64s could flush its own throttled entry by
 *   failing from enough fresh addresses. When the table is full, the
 *   entry evicted is the least recently active of the others -- an
 *   address below the limit with nothing in flight. Evicting such an
 *   entry returns fewer than max_failures checks to one address, and
 *   costs the evictor a failed check from a fresh address per entry, so
 *   it buys nothing that fresh addresses would not. If every entry is
 *   protected, a request from an address not in the table is refused
 *   (THROTTLE_FULL): failing closed, because an untracked address would
 *   have no limit at all. Reaching that takes failures from more
 *   addresses within one window than the table holds.
 *
 * Pure data structure: the caller passes the clock (monotonic ms) and
 * the hash key, so tests need no event loop.
 */
#ifndef MOAT_AUTH_THROTTLE_H
#define MOAT_AUTH_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define THROTTLE_TABLE_MAX 65536
#define THROTTLE_KEY_LEN 16

struct throttle;

enum throttle_verdict {
	THROTTLE_GO,      /* check the password; a slot is now in flight */
	THROTTLE_WAIT,    /* queued; decided later through the wake callback */
	THROTTLE_REFUSE,  /* the address is throttled */
	THROTTLE_FULL,    /* untracked address and no room to track it */
};

/* A request waiting for a slot, embedded in the caller's request. The
 * throttle links it until it calls the wake callback; it never frees it
 * and never touches it from throttle_free. */
struct throttle_waiter {
	struct throttle_waiter *next;   /* private */
	enum throttle_verdict verdict;  /* private */
};

/* Called for each waiter that has been decided: GO (it holds a slot now
 * and must be ended with throttle_end) or REFUSE. Called after the
 * table is consistent again, so it may call back into the throttle. */
typedef void throttle_wake_cb(struct throttle_waiter *w,
			      enum throttle_verdict v, void *ctx);

/* hash_key: THROTTLE_KEY_LEN random bytes (keyed hashing keeps an
 * attacker who picks source addresses from piling them into one chain).
 * max_entries: addresses tracked at most (>= 1). */
struct throttle *throttle_new(unsigned int max_failures, uint64_t window_ms,
			      size_t max_entries, const uint8_t *hash_key);
void throttle_free(struct throttle **t);
/* New limits (config reload). Existing windows keep their start;
 * waiting requests are reconsidered when a check from their address
 * ends. */
void throttle_configure(struct throttle *t, unsigned int max_failures,
			uint64_t window_ms);

/* A request from ip arrives at now_ms. GO: check it, then call
 * throttle_end. WAIT: w is queued and the wake callback of a later
 * throttle_end decides it. REFUSE, FULL: refuse it (nothing to end).
 * An address that is not a numeric IPv4/IPv6 address is never
 * throttled (GO, untracked; callers validate addresses first). */
enum throttle_verdict throttle_begin(struct throttle *t, const char *ip,
				     uint64_t now_ms,
				     struct throttle_waiter *w);
/* The check of a request that got GO has ended; failed says whether it
 * counts as a failure. Decides waiting requests of the address and
 * calls wake (may be NULL if nothing can wait) for each. Returns true
 * if this failure made the address throttled (for a log line at the
 * transition). */
bool throttle_end(struct throttle *t, const char *ip, uint64_t now_ms,
		  bool failed, throttle_wake_cb *wake, void *ctx);
/* True if a new request from ip would be refused at now_ms. */
bool throttle_check(struct throttle *t, const char *ip, uint64_t now_ms);
/* Drops entries that hold nothing any more (window over, nothing in
 * flight); returns how many. Walks the whole table: call it from a
 * periodic sweep, not per request. */
size_t throttle_expire(struct throttle *t, uint64_t now_ms);
size_t throttle_count(const struct throttle *t);

/* The grouping key for ip (exposed for tests): 16 bytes, IPv4 as
 * ::ffff:a.b.c.d, IPv6 as its /64 prefix followed by zeros. Returns 0,
 * or -1 if ip is not a numeric address. */
int throttle_key(const char *ip, uint8_t *key);

#endif
