/*
 * siphash: SipHash-2-4 (Aumasson & Bernstein, 2012), a keyed 64-bit hash
 * for hash tables whose keys an attacker picks (client IPs, user names).
 * With a secret random key nobody outside the process can aim many keys
 * at one bucket. It is a PRF for short inputs, not a MAC for long-term
 * secrets, and nothing here needs it to be more.
 */
#ifndef MOAT_SIPHASH_H
#define MOAT_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_LEN 16

/* SipHash-2-4 of len bytes at data (any length, data may be NULL when
 * len is 0) under a 16-byte key. The result is the 64-bit value the
 * reference implementation stores little-endian. */
uint64_t siphash24(const uint8_t key[SIPHASH_KEY_LEN], const void *data,
		   size_t len);

#endif
