/* Tests for lib/core/siphash.c: the 64 SipHash-2-4 outputs published
 * with the reference implementation (vectors.h: key 00..0f, message
 * 00 01 .. len-1 for len 0..63), the paper's worked example (Appendix
 * A), independence from alignment, sensitivity to every key and message
 * bit, and agreement with OpenSSL's SipHash on longer random inputs. */
#include <criterion/criterion.h>
#include <openssl/opensslv.h>
#include <stdint.h>
#include <string.h>

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#endif

#include "core/rand.h"
#include "core/siphash.h"

/* vectors_sip64 from the reference code, read as little-endian words. */
static const uint64_t ref[64] = {
	UINT64_C(0x726fdb47dd0e0e31), UINT64_C(0x74f839c593dc67fd),
	UINT64_C(0x0d6c8009d9a94f5a), UINT64_C(0x85676696d7fb7e2d),
	UINT64_C(0xcf2794e0277187b7), UINT64_C(0x18765564cd99a68d),
	UINT64_C(0xcbc9466e58fee3ce), UINT64_C(0xab0200f58b01d137),
	UINT64_C(0x93f5f5799a932462), UINT64_C(0x9e0082df0ba9e4b0),
	UINT64_C(0x7a5dbbc594ddb9f3), UINT64_C(0xf4b32f46226bada7),
	UINT64_C(0x751e8fbc860ee5fb), UINT64_C(0x14ea5627c0843d90),
	UINT64_C(0xf723ca908e7af2ee), UINT64_C(0xa129ca6149be45e5),
	UINT64_C(0x3f2acc7f57c29bdb), UINT64_C(0x699ae9f52cbe4794),
	UINT64_C(0x4bc1b3f0968dd39c), UINT64_C(0xbb6dc91da77961bd),
	UINT64_C(0xbed65cf21aa2ee98), UINT64_C(0xd0f2cbb02e3b67c7),
	UINT64_C(0x93536795e3a33e88), UINT64_C(0xa80c038ccd5ccec8),
	UINT64_C(0xb8ad50c6f649af94), UINT64_C(0xbce192de8a85b8ea),
	UINT64_C(0x17d835b85bbb15f3), UINT64_C(0x2f2e6163076bcfad),
	UINT64_C(0xde4daaaca71dc9a5), UINT64_C(0xa6a2506687956571),
	UINT64_C(0xad87a3535c49ef28), UINT64_C(0x32d892fad841c342),
	UINT64_C(0x7127512f72f27cce), UINT64_C(0xa7f32346f95978e3),
	UINT64_C(0x12e0b01abb051238), UINT64_C(0x15e034d40fa197ae),
	UINT64_C(0x314dffbe0815a3b4), UINT64_C(0x027990f029623981),
	UINT64_C(0xcadcd4e59ef40c4d), UINT64_C(0x9abfd8766a33735c),
	UINT64_C(0x0e3ea96b5304a7d0), UINT64_C(0xad0c42d6fc585992),
	UINT64_C(0x187306c89bc215a9), UINT64_C(0xd4a60abcf3792b95),
	UINT64_C(0xf935451de4f21df2), UINT64_C(0xa9538f0419755787),
	UINT64_C(0xdb9acddff56ca510), UINT64_C(0xd06c98cd5c0975eb),
	UINT64_C(0xe612a3cb9ecba951), UINT64_C(0xc766e62cfcadaf96),
	UINT64_C(0xee64435a9752fe72), UINT64_C(0xa192d576b245165a),
	UINT64_C(0x0a8787bf8ecb74b2), UINT64_C(0x81b3e73d20b49b6f),
	UINT64_C(0x7fa8220ba3b2ecea), UINT64_C(0x245731c13ca42499),
	UINT64_C(0xb78dbfaf3a8d83bd), UINT64_C(0xea1ad565322a1a0b),
	UINT64_C(0x60e61c23a3795013), UINT64_C(0x6606d7e446282b93),
	UINT64_C(0x6ca4ecb15c5f91e1), UINT64_C(0x9f626da15c9625f3),
	UINT64_C(0xe51b38608ef25f57), UINT64_C(0x958a324ceb064572),
};

static void
ref_key(uint8_t key[SIPHASH_KEY_LEN])
{
	for (int i = 0; i < SIPHASH_KEY_LEN; i++)
		key[i] = (uint8_t)i;
}

Test(siphash, reference_vectors)
{
	uint8_t key[SIPHASH_KEY_LEN], msg[64];

	ref_key(key);
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	for (size_t len = 0; len < 64; len++) {
		uint64_t got = siphash24(key, msg, len);

		cr_assert_eq(got, ref[len], "len %zu: got %016llx, "
			     "want %016llx", len, (unsigned long long)got,
			     (unsigned long long)ref[len]);
	}
}

/* The paper's worked example (Appendix A): the 15-byte message. */
Test(siphash, paper_example)
{
	uint8_t key[SIPHASH_KEY_LEN];
	const uint8_t msg[15] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
				  13, 14 };
	uint64_t got;

	ref_key(key);
	got = siphash24(key, msg, sizeof(msg));
	cr_assert_eq(got, UINT64_C(0xa129ca6149be45e5),
		     "got %016llx, want a129ca6149be45e5",
		     (unsigned long long)got);
}

Test(siphash, empty_null)
{
	uint8_t key[SIPHASH_KEY_LEN];
	uint64_t got;

	ref_key(key);
	got = siphash24(key, NULL, 0);
	cr_assert_eq(got, ref[0], "got %016llx, want %016llx",
		     (unsigned long long)got, (unsigned long long)ref[0]);
}

/* Unaligned data must hash the same: the loads are bytewise. */
Test(siphash, unaligned)
{
	uint8_t key[SIPHASH_KEY_LEN], buf[64 + 8];

	ref_key(key);
	for (size_t off = 1; off < 8; off++) {
		for (size_t i = 0; i < 64; i++)
			buf[off + i] = (uint8_t)i;
		for (size_t len = 0; len < 64; len++) {
			uint64_t got = siphash24(key, buf + off, len);

			cr_assert_eq(got, ref[len], "off %zu len %zu: "
				     "got %016llx, want %016llx", off, len,
				     (unsigned long long)got,
				     (unsigned long long)ref[len]);
		}
	}
}

/* Every key bit and every message bit matters (a bucket picker that
 * ignored part of the key or data would defeat the point). */
Test(siphash, bit_flips)
{
	uint8_t key[SIPHASH_KEY_LEN], msg[24];
	uint64_t base;

	ref_key(key);
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7);
	base = siphash24(key, msg, sizeof(msg));
	for (size_t bit = 0; bit < 8 * SIPHASH_KEY_LEN; bit++) {
		key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		cr_assert_neq(siphash24(key, msg, sizeof(msg)), base,
			      "key bit %zu: hash unchanged", bit);
		key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	for (size_t bit = 0; bit < 8 * sizeof(msg); bit++) {
		msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		cr_assert_neq(siphash24(key, msg, sizeof(msg)), base,
			      "message bit %zu: hash unchanged", bit);
		msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
}

/* Zero padding must not collide: the length is part of the last word,
 * so "" / "\0" and 8 / 9 zero bytes hash differently. */
Test(siphash, length_mixed_in)
{
	static const uint8_t zeros[16];
	uint8_t key[SIPHASH_KEY_LEN];

	ref_key(key);
	for (size_t len = 0; len < 15; len++) {
		cr_assert_neq(siphash24(key, zeros, len),
			      siphash24(key, zeros, len + 1),
			      "%zu and %zu zero bytes: same hash", len,
			      len + 1);
	}
}

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
static uint64_t
openssl_siphash(const uint8_t *key, const uint8_t *data, size_t len)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
	EVP_MAC_CTX *ctx;
	unsigned int size = 8;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_uint(OSSL_MAC_PARAM_SIZE, &size),
		OSSL_PARAM_construct_end(),
	};
	uint8_t out[8];
	size_t outlen = 0;
	uint64_t v = 0;

	cr_assert_not_null(mac, "OpenSSL has no SIPHASH");
	ctx = EVP_MAC_CTX_new(mac);
	cr_assert_not_null(ctx);
	cr_assert_eq(EVP_MAC_init(ctx, key, SIPHASH_KEY_LEN, params), 1);
	cr_assert_eq(EVP_MAC_update(ctx, data, len), 1);
	cr_assert_eq(EVP_MAC_final(ctx, out, &outlen, sizeof(out)), 1);
	cr_assert_eq(outlen, 8, "got %zu output bytes, want 8", outlen);
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	for (int i = 7; i >= 0; i--)
		v = v << 8 | out[i];
	return v;
}

/* Random keys and lengths past the table (long inputs, all remainders)
 * against an independent implementation. */
Test(siphash, matches_openssl)
{
	static uint8_t data[4096];
	uint8_t key[SIPHASH_KEY_LEN];

	rand_bytes(data, sizeof(data));
	for (int round = 0; round < 200; round++) {
		size_t len;
		uint64_t got, want;

		rand_bytes(key, sizeof(key));
		len = round < 100 ? (size_t)round + 60 :
		    rand_u32() % sizeof(data);
		got = siphash24(key, data, len);
		want = openssl_siphash(key, data, len);
		cr_assert_eq(got, want, "len %zu: got %016llx, want %016llx",
			     len, (unsigned long long)got,
			     (unsigned long long)want);
	}
}
#endif
