/*
 * sha256: the FIPS 180-4 examples (NIST CSRC "SHA256.pdf", also in
 * RFC 6234 §8.5), the million-'a' vector, and agreement with OpenSSL for
 * random inputs fed in random pieces (the streaming boundaries are where
 * a hand-written hash goes wrong: 55, 56, 63, 64 bytes).
 */
#include <criterion/criterion.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sha256.h"

static void
hex(const uint8_t *d, char *out)
{
	for (int i = 0; i < SHA256_LEN; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void
check(const char *msg, size_t len, const char *want)
{
	uint8_t d[SHA256_LEN];
	char h[2 * SHA256_LEN + 1];

	sha256(msg, len, d);
	hex(d, h);
	cr_assert_str_eq(h, want, "sha256 of %zu bytes", len);
}

Test(sha256, fips_examples)
{
	check("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	check("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
	      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

Test(sha256, million_a)
{
	struct sha256 c;
	uint8_t d[SHA256_LEN];
	char h[2 * SHA256_LEN + 1], chunk[1000];

	memset(chunk, 'a', sizeof(chunk));
	sha256_init(&c);
	for (int i = 0; i < 1000; i++)
		sha256_update(&c, chunk, sizeof(chunk));
	sha256_final(&c, d);
	hex(d, h);
	cr_assert_str_eq(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

Test(sha256, agrees_with_openssl_in_pieces)
{
	static uint8_t buf[4096];
	uint8_t ours[SHA256_LEN], theirs[SHA256_LEN];

	srand(12345);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rand();
	for (int round = 0; round < 2000; round++) {
		size_t len = round < 200 ? (size_t)round : (size_t)rand() % sizeof(buf);
		struct sha256 c;
		size_t off = 0;

		sha256_init(&c);
		while (off < len) {
			size_t n = (size_t)rand() % 130;

			if (n > len - off)
				n = len - off;
			sha256_update(&c, buf + off, n);
			off += n;
		}
		sha256_final(&c, ours);
		SHA256(buf, len, theirs);
		cr_assert(memcmp(ours, theirs, SHA256_LEN) == 0, "length %zu", len);
	}
}
