/* Tests for lib/core/rand.c. Randomness cannot be proven by a test;
 * these catch the real bugs: unfilled bytes, short reads not looped,
 * constant output. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/log.h"
#include "core/rand.h"

/*
 * This program's own getrandom() takes precedence over libc's, which
 * lets the tests make the kernel misbehave: short reads, EINTR, errors.
 * FAKE_PASS forwards to the real system call.
 */
enum fake_mode { FAKE_PASS, FAKE_SHORT_EINTR, FAKE_EIO, FAKE_ZERO };
static enum fake_mode fake_mode = FAKE_PASS;
static unsigned fake_calls;

ssize_t
getrandom(void *buf, size_t len, unsigned int flags)
{
	fake_calls++;
	switch (fake_mode) {
	case FAKE_SHORT_EINTR:
		if (fake_calls % 2 == 1) {
			errno = EINTR;
			return -1;
		}
		if (len > 7)
			len = 7;
		break;
	case FAKE_EIO:
		errno = EIO;
		return -1;
	case FAKE_ZERO:
		return 0;
	case FAKE_PASS:
		break;
	}
	return syscall(SYS_getrandom, buf, len, flags);
}

Test(rand, short_reads_and_eintr_are_retried)
{
	uint8_t b[100], seen = 0;
	size_t zeros = 0;

	memset(b, 0, sizeof(b));
	fake_mode = FAKE_SHORT_EINTR;
	fake_calls = 0;
	rand_bytes(b, sizeof(b));
	/* 100 bytes at 7 per call = 15 reads, each after one EINTR. */
	cr_assert_eq(fake_calls, 30, "getrandom calls: got %u, want 30",
		     fake_calls);
	for (size_t i = 90; i < sizeof(b); i++) {
		seen |= b[i];
		zeros += b[i] == 0;
	}
	cr_assert(seen != 0 && zeros < 5, "tail of buffer not filled");
}

Test(rand, error_is_fatal, .exit_code = LOG_FATAL_EXIT)
{
	uint8_t b[16];

	fake_mode = FAKE_EIO;
	rand_bytes(b, sizeof(b));
}

Test(rand, zero_return_is_fatal, .exit_code = LOG_FATAL_EXIT)
{
	uint8_t b[16];

	/* Cannot happen per the man page; must not spin forever if it does. */
	fake_mode = FAKE_ZERO;
	rand_bytes(b, sizeof(b));
}

Test(rand, fills_every_byte)
{
	/* Each position must be non-zero in at least one of 64 draws; an
	 * unfilled tail would stay zero (chance of a false failure:
	 * 256^-64 per byte). */
	uint8_t seen[257];

	memset(seen, 0, sizeof(seen));
	for (int k = 0; k < 64; k++) {
		uint8_t b[257];

		memset(b, 0, sizeof(b));
		rand_bytes(b, sizeof(b));
		for (size_t i = 0; i < sizeof(b); i++)
			seen[i] |= b[i];
	}
	for (size_t i = 0; i < sizeof(seen); i++)
		cr_assert_neq(seen[i], 0, "byte %zu never written", i);
}

Test(rand, zero_length_ok)
{
	uint8_t b = 0x5a;

	rand_bytes(&b, 0);
	cr_assert_eq(b, 0x5a, "zero-length request wrote a byte");
}

Test(rand, large_request_loops_over_short_reads)
{
	/* Older kernels return at most 32 MiB - 1 per call: a larger request
	 * only completes if the loop handles short reads. */
	size_t n = (33u << 20);
	uint8_t *b = calloc(1, n);
	size_t zeros = 0;

	cr_assert_not_null(b);
	rand_bytes(b, n);
	/* The last MiB lies past the first getrandom call's limit. */
	for (size_t i = n - (1u << 20); i < n; i++)
		zeros += b[i] == 0;
	/* Expect ~4096 zero bytes in 1 MiB; all-zero would be 1048576. */
	cr_assert_lt(zeros, 8192, "tail looks unfilled: %zu zero bytes", zeros);
	free(b);
}

Test(rand, u32_varies)
{
	uint32_t first = rand_u32();
	int same = 0;
	uint32_t ones = 0, zeros = 0;

	for (int i = 0; i < 100; i++) {
		uint32_t v = rand_u32();

		same += v == first;
		ones |= v;
		zeros |= ~v;
	}
	cr_assert_lt(same, 3, "rand_u32 repeats: %d of 100 equal", same);
	cr_assert_eq(ones, UINT32_MAX, "some bit never set: %#x", ones);
	cr_assert_eq(zeros, UINT32_MAX, "some bit never clear: %#x", ~zeros);
}

Test(rand, two_draws_differ)
{
	uint8_t a[32], b[32];

	rand_bytes(a, sizeof(a));
	rand_bytes(b, sizeof(b));
	cr_assert_neq(memcmp(a, b, sizeof(a)), 0, "two 32-byte draws equal");
}
