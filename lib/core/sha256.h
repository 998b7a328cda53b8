/*
 * sha256: SHA-256 (FIPS 180-4), streaming.
 *
 * Why our own and not OpenSSL's: the imap session is a static PIE,
 * exec'd once per login, and linking libcrypto's EVP layer into it took
 * the binary from 1.2 to 8.9 MB with ~400 kB of data that every session
 * relocates and so keeps as private memory, for two hashes over mbox
 * headers and byte ranges (fingerprints, the expunge journal). This file
 * is the few dozen lines of the standard; tests/core/test-sha256.c checks
 * it against the FIPS 180-4 / NIST CAVP vectors and against OpenSSL.
 * Processes that already link libcrypto (imap-login, auth) do not use it.
 */
#ifndef MOAT_SHA256_H
#define MOAT_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32

struct sha256 {
	uint32_t h[8];
	uint64_t bytes;          /* message length so far */
	uint8_t block[64];
	size_t fill;             /* bytes in block */
};

void sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *data, size_t len);
/* Writes the digest and wipes the state (reinitialise to reuse). */
void sha256_final(struct sha256 *c, uint8_t out[SHA256_LEN]);
/* One call: the digest of len bytes at data. */
void sha256(const void *data, size_t len, uint8_t out[SHA256_LEN]);

#endif
