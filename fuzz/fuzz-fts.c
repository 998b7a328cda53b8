/*
 * libFuzzer harness for the full-text index's record decoders
 * (lib/index/fts.c): posting lists, stored-text records, dictionary
 * keys and token-pair keys, as a damaged or hostile index file would
 * hold them. Every input goes through all four. Checked (abort() on a
 * violation):
 *   - a posting list that decodes has 1..cap strictly ascending non-zero
 *     UIDs, and encoding them again gives exactly the input (the
 *     decoder accepts only the canonical form, so a record means one
 *     thing);
 *   - encoding any ascending list decodes back to it;
 *   - a text record that decodes gives exactly its stated length, never
 *     more than the caller's room; a smaller room gives IDX_LIMIT or
 *     IDX_CORRUPT, never a write past it;
 *   - a dictionary key that decodes holds a token of 4..32 word bytes
 *     (ASCII letters and digits, bytes >= 0x80) in which its trigram
 *     occurs, under the dictionary's block number, and the token is
 *     exactly the key's tail;
 *   - a token-pair key that decodes has two tokens of 1..32 word bytes
 *     and a separator of 1..8 other bytes (no NUL), a UID block
 *     (of 64 UIDs) below 2^26, and re-encoding its parts gives exactly
 *     the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "index/index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAP 1024

static void
check(int cond)
{
	if (!cond)
		abort();
}

static void
postings(const uint8_t *data, size_t size)
{
	static uint32_t uids[CAP];
	static uint8_t again[5 + 5 * CAP];
	size_t n = 0, len, i;

	if (idx_fts_postings_decode(data, size, uids, CAP, &n) != IDX_OK)
		return;
	check(n >= 1 && n <= CAP);
	for (i = 0; i < n; i++)
		check(uids[i] != 0 && (i == 0 || uids[i] > uids[i - 1]));
	len = idx_fts_postings_encode(uids, n, again, sizeof(again));
	check(len == size && memcmp(again, data, size) == 0);
}

/* The input's bytes as deltas of an ascending list: encode, decode. */
static void
roundtrip(const uint8_t *data, size_t size)
{
	static uint32_t in[CAP], out[CAP];
	static uint8_t enc[5 + 5 * CAP];
	uint32_t uid = 0;
	size_t n = 0, m = 0, len, i;

	for (i = 0; i + 1 < size && n < CAP; i += 2) {
		uint32_t d = (uint32_t)data[i] << 8 | data[i + 1];

		if (d == 0 || uid > UINT32_MAX - d)
			break;
		uid += d;
		in[n++] = uid;
	}
	if (n == 0)
		return;
	len = idx_fts_postings_encode(in, n, enc, sizeof(enc));
	check(len > 0);
	check(idx_fts_postings_decode(enc, len, out, CAP, &m) == IDX_OK);
	check(m == n && memcmp(in, out, n * sizeof(*in)) == 0);
}

static void
text(const uint8_t *data, size_t size)
{
	static uint8_t out[IDX_FTS_TEXT_MAX + 16];
	size_t n = 0, small;
	int r;

	out[IDX_FTS_TEXT_MAX] = 0xa5;
	r = idx_fts_text_decode(data, size, out, IDX_FTS_TEXT_MAX, &n);
	check(out[IDX_FTS_TEXT_MAX] == 0xa5);
	if (r != IDX_OK)
		return;
	check(n <= IDX_FTS_TEXT_MAX && size >= 6 &&
	      n == ((size_t)data[2] << 24 | (size_t)data[3] << 16 |
		    (size_t)data[4] << 8 | data[5]));
	if (n == 0)
		return;
	/* Too little room: never written past, never IDX_OK. */
	small = n - 1;
	out[small] = 0x5a;
	r = idx_fts_text_decode(data, size, out, small, &n);
	check(r == IDX_LIMIT || r == IDX_CORRUPT);
	check(out[small] == 0x5a);
}

static int
word(uint8_t c)
{
	return c >= 0x80 || (c >= '0' && c <= '9') ||
	       (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static void
dict_key(const uint8_t *data, size_t size)
{
	uint8_t tok[40];
	size_t n = 99, i;
	int found = 0;

	memset(tok, 0xa5, sizeof(tok));
	if (idx_fts_dict_key_decode(data, size, tok, &n) != IDX_OK) {
		check(n == 99);
		return;
	}
	check(n >= 4 && n <= 32 && size == 11 + n);
	check(tok[32] == 0xa5);
	check(memcmp(data + 4, "\xff\xff\xff\xff", 4) == 0);
	check(memcmp(tok, data + 11, n) == 0);
	for (i = 0; i < n; i++)
		check(word(tok[i]));
	for (i = 0; i + 3 <= n; i++)
		found |= memcmp(tok + i, data + 8, 3) == 0;
	check(found);
}

/* A token-pair key that decodes is exactly its parts, canonical. */
static void
pair_key(const uint8_t *data, size_t size)
{
	struct idx_fts_pair p;
	uint8_t k[128];
	size_t i, n = 0;

	memset(&p, 0xa5, sizeof(p));
	if (idx_fts_pair_key_decode(data, size, &p) != IDX_OK)
		return;
	check(p.alen >= 1 && p.alen <= 32 && p.blen >= 1 && p.blen <= 32 &&
	      p.seplen >= 1 && p.seplen <= 8);
	check(size == 11 + p.alen + p.seplen + p.blen);
	check(data[8] == 4 && p.block == ((uint32_t)data[4] << 24 |
					  (uint32_t)data[5] << 16 |
					  (uint32_t)data[6] << 8 | data[7]));
	check(p.block <= 0x3ffffff);
	for (i = 0; i < p.alen; i++)
		check(word(p.a[i]));
	for (i = 0; i < p.blen; i++)
		check(word(p.b[i]));
	for (i = 0; i < p.seplen; i++)
		check(!word(p.sep[i]) && p.sep[i] != 0);
	memcpy(k, data, 9);
	n = 9;
	k[n++] = (uint8_t)p.alen;
	memcpy(k + n, p.a, p.alen);
	n += p.alen;
	k[n++] = (uint8_t)p.seplen;
	memcpy(k + n, p.sep, p.seplen);
	n += p.seplen;
	memcpy(k + n, p.b, p.blen);
	n += p.blen;
	check(n == size && memcmp(k, data, size) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	postings(data, size);
	roundtrip(data, size);
	text(data, size);
	dict_key(data, size);
	pair_key(data, size);
	return 0;
}
