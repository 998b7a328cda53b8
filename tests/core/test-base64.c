/* Tests for lib/core/base64.c: RFC 4648 §10 vectors and strictness on
 * hostile input (SASL data straight from the client). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/rand.h"

/* RFC 4648 §10 */
static const struct {
	const char *plain, *enc;
} vec[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

Test(base64, rfc4648_encode)
{
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		size_t n = strlen(vec[i].plain);
		char out[32];

		memset(out, 'Z', sizeof(out));
		cr_assert_eq(base64_encoded_len(n), strlen(vec[i].enc),
			     "[%zu] encoded_len: got %zu, want %zu", i,
			     base64_encoded_len(n), strlen(vec[i].enc));
		base64_encode(out, vec[i].plain, n);
		cr_assert_str_eq(out, vec[i].enc, "[%zu] got \"%s\", want \"%s\"",
				 i, out, vec[i].enc);
	}
}

Test(base64, rfc4648_decode)
{
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		uint8_t out[32];
		long r = base64_decode(out, sizeof(out), vec[i].enc,
				       strlen(vec[i].enc));

		cr_assert_eq(r, (long)strlen(vec[i].plain),
			     "[%zu] \"%s\": length got %ld, want %zu", i,
			     vec[i].enc, r, strlen(vec[i].plain));
		cr_assert_eq(memcmp(out, vec[i].plain, (size_t)r), 0, "[%zu]", i);
	}
}

Test(base64, sasl_plain_with_nuls)
{
	static const char plain[] = "\0user\0pass";
	uint8_t out[32];
	char enc[32];
	long r;

	base64_encode(enc, plain, sizeof(plain) - 1);
	cr_assert_str_eq(enc, "AHVzZXIAcGFzcw==");
	r = base64_decode(out, sizeof(out), enc, strlen(enc));
	cr_assert_eq(r, 10, "got %ld, want 10", r);
	cr_assert_eq(memcmp(out, plain, 10), 0);
}

Test(base64, hostile_inputs_rejected)
{
	static const char *const bad[] = {
		"Zg=",          /* length not a multiple of 4 */
		"Zg",
		"Z",
		"Zm9vY",
		"Zg= =",
		" Zg==",        /* whitespace anywhere */
		"Zg==\n",
		"Zm9v\r\nYmFy",
		"Zm9v YmFy",
		"\tZm9v",
		"Zm9vYmFy ",
		"Zg==Zg==",     /* padding in the middle */
		"Z===",         /* too much padding */
		"====",
		"=Zm9",
		"Zm=v",
		"Zh==",         /* non-zero bits under the padding */
		"Zm9=",
		"Zm-v",         /* base64url alphabet */
		"Zm_v",
		"Zm9v\0Zm9",    /* NUL (length counts it) */
		"Zm9v\xff\xff\xff\xff",
		"Zg==\0\0\0\0",
	};
	static const size_t badlen[] = { 3, 2, 1, 5, 5, 5, 5, 10, 9, 5, 9, 8, 4,
		4, 4, 4, 4, 4, 4, 4, 8, 8, 8 };

	cr_assert_eq(sizeof(bad) / sizeof(bad[0]),
		     sizeof(badlen) / sizeof(badlen[0]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t out[64];
		long r = base64_decode(out, sizeof(out), bad[i], badlen[i]);

		cr_assert_eq(r, -1, "[%zu] \"%s\": got %ld, want -1", i, bad[i],
			     r);
	}
}

Test(base64, dst_too_small)
{
	uint8_t out[8];

	/* "foobar" needs 6; padding must not count toward the need. */
	cr_assert_eq(base64_decode(out, 6, "Zm9vYmFy", 8), 6);
	cr_assert_eq(base64_decode(out, 5, "Zm9vYmFy", 8), -1);
	cr_assert_eq(base64_decode(out, 1, "Zg==", 4), 1,
		     "1 byte decoded must fit in 1");
	cr_assert_eq(base64_decode(out, 0, "Zg==", 4), -1);
	cr_assert_eq(base64_decode(out, 0, "", 0), 0, "empty decodes to 0");
	cr_assert_eq(base64_decode(NULL, 0, "", 0), 0);
}

Test(base64, decode_writes_no_more_than_decoded_len)
{
	uint8_t out[8];

	memset(out, 0xee, sizeof(out));
	cr_assert_eq(base64_decode(out, 1, "Zg==", 4), 1);
	cr_assert_eq(out[0], 'f');
	cr_assert_eq(out[1], 0xee, "wrote a padding byte past the result");
}

Test(base64, roundtrip_large_random)
{
	/* Larger than the internal chunks, at every length remainder. */
	for (size_t n = 20000; n < 20003; n++) {
		uint8_t *src = malloc(n), *back = malloc(n);
		char *enc = malloc(base64_encoded_len(n) + 1);
		long r;

		rand_bytes(src, n);
		base64_encode(enc, src, n);
		cr_assert_eq(strlen(enc), base64_encoded_len(n));
		r = base64_decode(back, n, enc, strlen(enc));
		cr_assert_eq(r, (long)n, "n=%zu: got %ld", n, r);
		cr_assert_eq(memcmp(src, back, n), 0, "n=%zu roundtrip differs",
			     n);
		/* Flip one character mid-stream to an invalid one. */
		enc[5000] = '*';
		cr_assert_eq(base64_decode(back, n, enc, strlen(enc)), -1);
		free(enc);
		free(back);
		free(src);
	}
}

Test(base64, encoded_len)
{
	cr_assert_eq(base64_encoded_len(0), 0);
	cr_assert_eq(base64_encoded_len(1), 4);
	cr_assert_eq(base64_encoded_len(3), 4);
	cr_assert_eq(base64_encoded_len(4), 8);
	cr_assert_eq(base64_encoded_len(300), 400);
}
