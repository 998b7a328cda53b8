/*
 * siphash: SipHash-2-4 (see siphash.h), written from the paper's
 * description: four 64-bit words of state, two compression rounds per
 * 8-byte message word, four finalisation rounds.
 * Callers: master/htab.c (moatd's tables), auth/throttle.c (the per-IP
 * failure table). The data is attacker-chosen, the key is process-secret
 * random bytes; every byte is read within [data, data + len).
 */
#include <stdint.h>

#include "core/siphash.h"

static inline uint64_t
rotl64(uint64_t x, unsigned int b)
{
	return (x << b) | (x >> (64 - b));
}

/* Little-endian load whatever the host order, so a table's layout does
 * not depend on the machine (and the test vectors hold everywhere). */
static inline uint64_t
load_le64(const uint8_t *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 |
	    (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
	    (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
	    (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

struct sip_state {
	uint64_t v0, v1, v2, v3;
};

static inline void
sip_round(struct sip_state *s)
{
	s->v0 += s->v1;
	s->v1 = rotl64(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = rotl64(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = rotl64(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = rotl64(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = rotl64(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = rotl64(s->v2, 32);
}

/* c = 2 compression rounds per message word. */
static inline void
sip_compress(struct sip_state *s, uint64_t m)
{
	s->v3 ^= m;
	sip_round(s);
	sip_round(s);
	s->v0 ^= m;
}

uint64_t
siphash24(const uint8_t key[SIPHASH_KEY_LEN], const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
	/* "somepseudorandomlygeneratedbytes" */
	struct sip_state s = {
		.v0 = k0 ^ UINT64_C(0x736f6d6570736575),
		.v1 = k1 ^ UINT64_C(0x646f72616e646f6d),
		.v2 = k0 ^ UINT64_C(0x6c7967656e657261),
		.v3 = k1 ^ UINT64_C(0x7465646279746573),
	};
	size_t full = len - len % 8;
	uint64_t last;

	for (size_t i = 0; i < full; i += 8)
		sip_compress(&s, load_le64(p + i));
	/* The final word: the 0-7 leftover bytes, and the length modulo
	 * 256 in the top byte. */
	last = (uint64_t)(len & 0xff) << 56;
	for (size_t j = 0; j < len % 8; j++)
		last |= (uint64_t)p[full + j] << (8 * j);
	sip_compress(&s, last);
	/* d = 4 finalisation rounds. */
	s.v2 ^= 0xff;
	sip_round(&s);
	sip_round(&s);
	sip_round(&s);
	sip_round(&s);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}
