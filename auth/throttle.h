/*
 * throttle: per-address authentication failure tracking.
 *
 * Rule (design.md, "The login path"): after max_failures failed logins
 * from one address inside a window of window_ms, requests from that
 * address are refused without checking the password until the window
 * has passed. The window is fixed and starts at the first failure after
 * the previous window ended, so an address gets at most max_failures
 * password checks per window.
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
 * - The table is bounded; when full, the entry whose window started
 *   first is dropped.
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

/* hash_key: THROTTLE_KEY_LEN random bytes (keyed hashing keeps an
 * attacker who picks source addresses from piling them into one chain).
 * max_entries: addresses tracked at most (>= 1). */
struct throttle *throttle_new(unsigned int max_failures, uint64_t window_ms,
			      size_t max_entries, const uint8_t *hash_key);
void throttle_free(struct throttle **t);
/* New limits (config reload). Existing windows keep their start. */
void throttle_configure(struct throttle *t, unsigned int max_failures,
			uint64_t window_ms);

/* True if requests from ip must be refused at now_ms. An address that is
 * not a numeric IPv4/IPv6 address is never throttled (callers validate
 * addresses before they get here). */
bool throttle_check(struct throttle *t, const char *ip, uint64_t now_ms);
/* Records one failure from ip at now_ms. Returns true if this failure
 * made the address throttled (for a log line at the transition). */
bool throttle_fail(struct throttle *t, const char *ip, uint64_t now_ms);
/* Drops entries whose window has ended; returns how many. */
size_t throttle_expire(struct throttle *t, uint64_t now_ms);
size_t throttle_count(const struct throttle *t);

/* The grouping key for ip (exposed for tests): 16 bytes, IPv4 as
 * ::ffff:a.b.c.d, IPv6 as its /64 prefix followed by zeros. Returns 0,
 * or -1 if ip is not a numeric address. */
int throttle_key(const char *ip, uint8_t *key);

#endif
