/*
 * index full-text: an exact n-gram index over the normalized text of each
 * message (doc/design.md "Full-text index").
 *
 * A mailbox's full-text records are keyed by a generation number (gen)
 * that its state record names, so that dropping them (expunge-all,
 * reset, delete) is one small write; the old generation's records are
 * garbage, deleted a bounded number of keys at a time by later writes.
 *
 *  fts-text   be32 gen | be32 uid -> the message's normalized text, zlib
 *             compressed when that is smaller (idx_fts_text_decode);
 *  fts-post   be32 gen | be32 block | u8 n | gram[3] -> the ascending
 *             UIDs of one block of 1024 UIDs whose text holds the n-byte
 *             gram (n = 1, 2, 3; shorter grams zero-padded);
 *             be32 gen | be32 block | 00 | token -> the same for a token
 *             (a maximal run of word bytes, 1..FTS_TOKEN_MAX of them);
 *             be32 gen | be32 pair block (2^FTS_PAIR_BITS UIDs) | 04 |
 *             u8 alen | token a | u8 slen | separator | token b -> the
 *             same for two adjacent tokens of a segment and the run of
 *             1..FTS_SEP_MAX other bytes between them, in generations
 *             that post pairs (idx_fts_pair_key_decode);
 *             be32 gen | ff ff ff ff | tri[3] | token -> empty: the
 *             dictionary, one key per trigram of every posted token of
 *             FTS_DICT_MIN bytes or more (idx_fts_dict_key_decode);
 *  fts-state  ff ff ff ff 'S' be32 id -> mailbox id's state (struct
 *             fts_state);
 *             be32 gen | type | be32 uid -> markers: 'P' tail (stored,
 *             no postings; value be32 text length), 'J' tail messages of
 *             the segment being written, 'X' always scanned (too many
 *             grams), 'D' tombstone (deleted, may be in postings), 'L'
 *             a run of word bytes longer than FTS_TOKEN_MAX (no token
 *             postings: token searches check it by its grams and text);
 *             ff ff ff ff 'N' -> next gen; ff ff ff ff 'G' be32 gen ->
 *             garbage.
 *
 * Exactness: every 1-3 byte string of every segment of a posted message
 * is one of its grams, so a needle of <= 3 bytes is answered by one
 * gram's postings minus tombstones, and a longer needle's candidates
 * (the intersection of some of its trigrams' postings) are a superset
 * that memmem on the stored text filters. 'P', 'J' and 'X' messages are
 * scanned, so a segment's postings may be written over several
 * transactions (bounded lock use) without an answer ever changing.
 * Tokens: a needle of word bytes only lies inside one token of every
 * message that holds it, so the union of the postings of the dictionary
 * tokens that contain it is exact for the posted messages without 'L'
 * (no text read); a needle with separators needs its pieces to end,
 * start or be tokens, which shrinks the candidates that are checked;
 * token pairs make a needle of two pieces around one separator exact
 * (the messages with a pair whose first token ends with the first
 * piece, whose separator is the needle's, whose second token starts
 * with the second piece), and narrow longer phrases pair by pair.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/log.h"
#include "core/str.h"
#include "index/private.h"

#define FTS_TEXT_LAYOUT 1u
/* 2: token postings, the dictionary and 'L' markers (a layout-1 state
 * is an index without them: dropped, its messages reported unindexed);
 * 3: the same with token pairs (a generation posts them or not from
 * its start: idx_fts_set_pairs). */
#define FTS_STATE_LAYOUT 2u
#define FTS_STATE_LAYOUT_PAIRS 3u
#define FTS_STATE_LAYOUT_OLD 1u
#define FTS_STATE_LEN_OLD 41
#define FTS_METHOD_RAW 0u
#define FTS_METHOD_ZLIB 1u
#define FTS_TEXT_HDR 6		/* u8 layout | u8 method | be32 raw length */
#define FTS_STATE_LEN 49	/* u8 layout | 12 x be32 */
#define FTS_STATE_FIELDS 12
#define FTS_POST_KEY 12		/* be32 gen | be32 block | u8 n | gram[3] */
/* A posting record holds the UIDs of one gram in one block of 1024
 * consecutive UIDs: at most ~1 kB when dense, below Berkeley DB's
 * overflow size for 8 kB pages, so adding to it rewrites one small item
 * in place. Keys are ordered by block first, so a segment's writes (new
 * UIDs: one or two blocks) land on neighbouring pages. */
#define FTS_BLOCK_BITS 10
#define FTS_BLOCK_UIDS (1u << FTS_BLOCK_BITS)
#define FTS_POST_VAL_MAX (5 + 5 * FTS_BLOCK_UIDS)
/* Posting keys one transaction writes at most, and garbage keys it
 * deletes: neighbours, a few hundred per page, so the pages (and page
 * locks: the lock region holds about 4,000) stay in the hundreds. */
#define FTS_TXN_KEYS_DEFAULT 16384u
#define FTS_GC_KEYS 16384u
/* A segment takes tail messages up to this much text (at least one):
 * it bounds the gram pairs in memory (3 per byte at most). */
#define FTS_JOB_TEXT (512u * 1024)
/* Trigram lists read for a longer needle, and the candidate count below
 * which further lists are not worth reading (the check is cheaper). */
#define FTS_QUERY_GRAMS 8
#define FTS_QUERY_ENOUGH 32
/* zlib level of the stored text (design.md: measured). */
#define FTS_ZLIB_LEVEL 1
#ifndef FTS_COMPRESS
#define FTS_COMPRESS 1
#endif
#define FTS_GLOBAL 0xffffffffu
/* Tokens: runs of word bytes (ASCII letters and digits, bytes >= 0x80)
 * of at most FTS_TOKEN_MAX bytes (a message with a longer run is 'L');
 * those of FTS_DICT_MIN bytes or more are in the dictionary, under the
 * block number FTS_DICT_BLOCK, which no UID block reaches. */
#define FTS_TOKEN_MAX 32
#define FTS_DICT_MIN 4
#define FTS_DICT_BLOCK 0xffffffffu
#define FTS_TOK_KEY_MAX (9 + FTS_TOKEN_MAX)
#define FTS_DICT_KEY_MAX (11 + FTS_TOKEN_MAX)
/* A job step's dictionary writes land anywhere in the btree (one page
 * each, and its lock): their share of the transaction's key budget. */
#define FTS_DICT_KEYS (FTS_TXN_KEYS / 8 ? FTS_TXN_KEYS / 8 : 1)
/* Dictionary tokens a search takes for one piece of a needle at most;
 * beyond, it falls back to grams and checking (bounded heap). */
#define FTS_MATCH_MAX 65536
/* Token pairs: separators of at most FTS_SEP_MAX bytes (longer runs
 * make no pair; a needle with one takes the other paths); byte 8 of a
 * pair key; its body (alen | a | slen | sep | b) at most. A phrase
 * whose first piece must end a token takes at most FTS_PAIR_SIDES
 * dictionary tokens for it, else that pair adds no condition. */
#define FTS_SEP_MAX 8
#define FTS_PAIR_TAG 4
#define FTS_PAIR_BODY_MAX (2 + 2 * FTS_TOKEN_MAX + FTS_SEP_MAX)
#define FTS_PAIR_KEY_MAX (9 + FTS_PAIR_BODY_MAX)
#define FTS_PAIR_SIDES 16
/* Pair keys are far more varied than gram and token keys (hundreds of
 * thousands in a block of 1024 UIDs), so a step's pair keys in such a
 * block would touch more pages (and page locks) than the lock region
 * holds (measured: BDB2055 out of lock entries, with blocks of 1024 and
 * of 256 UIDs). Their blocks are of 64 UIDs, a segment's worth: its
 * pair keys are mostly new neighbours in one or two blocks. */
#define FTS_PAIR_BITS 6

#define ST_COUNTERS 'S'
#define ST_TAIL 'P'
#define ST_JOB 'J'
#define ST_SCAN 'X'
#define ST_TOMB 'D'
#define ST_NEXTGEN 'N'
#define ST_GARBAGE 'G'
#define ST_LONG 'L'

/* Walk callbacks end a walk early with this (never a public status). */
#define FTS_I_STOP (-20)

static unsigned fts_txn_keys = FTS_TXN_KEYS_DEFAULT;
#define FTS_TXN_KEYS fts_txn_keys
/* Whether new generations post token pairs (off: see design.md, they
 * cost 5x the postings and 2x the CPU as built). */
static bool fts_pairs;

void
idx_fts_set_pairs(bool on)
{
	fts_pairs = on;
}

void
idx_fts_set_txn_keys(unsigned n)
{
	fts_txn_keys = n == 0 ? FTS_TXN_KEYS_DEFAULT : n;
}

struct fts_state {
	uint32_t gen;		/* key prefix of the records; 0 = none yet */
	uint32_t segs;		/* segments written */
	uint32_t docs;		/* text records */
	uint32_t tail;		/* 'P' and 'J' records */
	uint32_t scan;		/* 'X' records */
	uint32_t tombs;		/* 'D' records */
	uint32_t job;		/* 'J' records: a segment is being written */
	uint32_t blocks;	/* 1 + the highest block in postings */
	uint32_t job_block;	/* written up to this key: block, */
	uint32_t job_code;	/* kind (0 token, 1 gram, 2 pair) << 26 |
				   26-bit gram code or index of the job's
				   token or pair */
	uint32_t longs;		/* 'L' records */
	uint32_t job_dict;	/* dictionary done for the job's tokens
				   below this index */
	uint32_t stale;		/* not stored: the gen of a layout-1 state */
	bool pairs;		/* layout 3: posts token pairs */
};

/* ---- encodings ----------------------------------------------------- */

static size_t
varint_put(uint8_t *p, uint32_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* Strict: at most 5 bytes, no value above 2^32 - 1, no redundant
 * trailing zero group. Returns the bytes used, 0 if invalid. */
static size_t
varint_get(const uint8_t *p, size_t len, uint32_t *v)
{
	uint32_t x = 0;
	size_t i;

	for (i = 0; i < len && i < 5; i++) {
		uint8_t b = p[i];

		if (i == 4 && b > 0x0f)
			return 0;
		x |= (uint32_t)(b & 0x7f) << (7 * i);
		if ((b & 0x80) == 0) {
			if (b == 0 && i > 0)
				return 0;
			*v = x;
			return i + 1;
		}
	}
	return 0;
}

size_t
idx_fts_postings_encode(const uint32_t *uids, size_t n, uint8_t *out,
			size_t cap)
{
	size_t len = 0, i;

	if (n == 0 || n > UINT32_MAX || cap < 5 + 5 * n)
		return 0;
	len += varint_put(out, (uint32_t)n);
	for (i = 0; i < n; i++) {
		if (i > 0 && uids[i] <= uids[i - 1])
			return 0;
		if (uids[i] == 0)
			return 0;
		len += varint_put(out + len, i == 0 ? uids[0] :
				  uids[i] - uids[i - 1]);
	}
	return len;
}

int
idx_fts_postings_decode(const void *data, size_t len, uint32_t *out,
			size_t cap, size_t *n)
{
	const uint8_t *p = data;
	uint32_t count, v, prev = 0;
	size_t off, used, i;

	if ((off = varint_get(p, len, &count)) == 0 || count == 0 ||
	    count > cap || count > len - off)
		return IDX_CORRUPT;
	for (i = 0; i < count; i++) {
		if ((used = varint_get(p + off, len - off, &v)) == 0 || v == 0 ||
		    v > UINT32_MAX - prev)
			return IDX_CORRUPT;
		off += used;
		prev += v;
		out[i] = prev;
	}
	if (off != len)
		return IDX_CORRUPT;
	*n = count;
	return IDX_OK;
}

int
idx_fts_text_decode(const void *data, size_t len, uint8_t *out, size_t cap,
		    size_t *textlen)
{
	const uint8_t *p = data;
	uint32_t raw;
	uLongf dlen;

	if (len < FTS_TEXT_HDR || p[0] != FTS_TEXT_LAYOUT)
		return IDX_CORRUPT;
	raw = idx_be32_get(p + 2);
	if (raw > IDX_FTS_TEXT_MAX)
		return IDX_CORRUPT;
	if (raw > cap)
		return IDX_LIMIT;
	switch (p[1]) {
	case FTS_METHOD_RAW:
		if (len - FTS_TEXT_HDR != raw)
			return IDX_CORRUPT;
		if (raw > 0)
			memcpy(out, p + FTS_TEXT_HDR, raw);
		break;
	case FTS_METHOD_ZLIB:
		dlen = raw;
		if (raw == 0 || uncompress(out, &dlen, p + FTS_TEXT_HDR,
					   (uLong)(len - FTS_TEXT_HDR)) != Z_OK ||
		    dlen != raw)
			return IDX_CORRUPT;
		break;
	default:
		return IDX_CORRUPT;
	}
	*textlen = raw;
	return IDX_OK;
}

static void
post_key(uint8_t key[FTS_POST_KEY], uint32_t gen, uint32_t code,
	 uint32_t block)
{
	idx_be32_put(key, gen);
	idx_be32_put(key + 4, block);
	idx_be32_put(key + 8, code);
}

/* A token's posting key in one block; returns its length. */
static size_t
tok_key(uint8_t key[FTS_TOK_KEY_MAX], uint32_t gen, uint32_t block,
	const uint8_t *tok, size_t len)
{
	idx_be32_put(key, gen);
	idx_be32_put(key + 4, block);
	key[8] = 0;
	memcpy(key + 9, tok, len);
	return 9 + len;
}

/* A dictionary key: token tok under its trigram at offset i. */
static size_t
dict_key(uint8_t key[FTS_DICT_KEY_MAX], uint32_t gen, const uint8_t *tri,
	 const uint8_t *tok, size_t len)
{
	idx_be32_put(key, gen);
	idx_be32_put(key + 4, FTS_DICT_BLOCK);
	memcpy(key + 8, tri, 3);
	memcpy(key + 11, tok, len);
	return 11 + len;
}

/* A gram code in 26 bits (n in 1..3, then 24 bits), and a job pair:
 * block | kind (2 bits) | code | low UID bits, so pairs sort by key,
 * then UID. Kind 0 is a token (code: its index in the job's sorted
 * token list; token keys sort before gram keys in a block), kind 1 a
 * gram, kind 2 a token pair (its index in the job's pair list). */
static uint32_t
code26(uint32_t code)
{
	return (code >> 24) << 24 | (code & 0xffffffu);
}

static uint64_t
pair_make(uint32_t kind, uint32_t code, uint32_t uid)
{
	return (uint64_t)(uid >> FTS_BLOCK_BITS) << 38 |
	       (uint64_t)kind << 36 |
	       (uint64_t)code << FTS_BLOCK_BITS |
	       (uid & (FTS_BLOCK_UIDS - 1));
}

/* (block << 28 | kind << 26 | code): the position of a pair's key. */
static uint64_t
pair_pos(uint64_t p)
{
	return p >> FTS_BLOCK_BITS;
}

static uint32_t
pair_uid(uint64_t p)
{
	return (uint32_t)(p >> 38) << FTS_BLOCK_BITS |
	       (uint32_t)(p & (FTS_BLOCK_UIDS - 1));
}

/* ---- tokens ---------------------------------------------------------- */

static bool
is_word(uint8_t c)
{
	return c >= 0x80 || (c >= '0' && c <= '9') ||
	       ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

/* Does text have a run of word bytes longer than FTS_TOKEN_MAX? */
static bool
long_run(const uint8_t *t, size_t len)
{
	size_t i, run = 0;

	for (i = 0; i < len; i++) {
		run = is_word(t[i]) ? run + 1 : 0;
		if (run > FTS_TOKEN_MAX)
			return true;
	}
	return false;
}

int
idx_fts_dict_key_decode(const void *key, size_t klen, uint8_t *tok,
			size_t *toklen)
{
	const uint8_t *k = key;
	size_t n, i;
	bool tri = false;

	if (klen < 11 + FTS_DICT_MIN || klen > FTS_DICT_KEY_MAX ||
	    idx_be32_get(k + 4) != FTS_DICT_BLOCK)
		return IDX_CORRUPT;
	n = klen - 11;
	for (i = 0; i < n; i++)
		if (!is_word(k[11 + i]))
			return IDX_CORRUPT;
	for (i = 0; i + 3 <= n && !tri; i++)
		tri = memcmp(k + 11 + i, k + 8, 3) == 0;
	if (!tri)
		return IDX_CORRUPT;
	memcpy(tok, k + 11, n);
	*toklen = n;
	return IDX_OK;
}

/* A token pair's key body: alen | a | slen | sep | b; returns its
 * length. */
static size_t
pair_body(uint8_t *out, const uint8_t *a, size_t alen, const uint8_t *sep,
	  size_t slen, const uint8_t *b, size_t blen)
{
	size_t n = 0;

	out[n++] = (uint8_t)alen;
	memcpy(out + n, a, alen);
	n += alen;
	out[n++] = (uint8_t)slen;
	memcpy(out + n, sep, slen);
	n += slen;
	memcpy(out + n, b, blen);
	return n + blen;
}

/* A pair's posting key in one block from its body; returns its length. */
static size_t
pair_key(uint8_t key[FTS_PAIR_KEY_MAX], uint32_t gen, uint32_t block,
	 const uint8_t *body, size_t len)
{
	idx_be32_put(key, gen);
	idx_be32_put(key + 4, block);
	key[8] = FTS_PAIR_TAG;
	memcpy(key + 9, body, len);
	return 9 + len;
}

int
idx_fts_pair_key_decode(const void *key, size_t klen,
			struct idx_fts_pair *out)
{
	const uint8_t *k = key;
	size_t alen, slen, blen, i;

	if (klen < 9 + 5 || klen > FTS_PAIR_KEY_MAX || k[8] != FTS_PAIR_TAG ||
	    idx_be32_get(k + 4) > (UINT32_MAX >> FTS_PAIR_BITS))
		return IDX_CORRUPT;
	alen = k[9];
	if (alen == 0 || alen > FTS_TOKEN_MAX || 9 + 1 + alen + 1 >= klen)
		return IDX_CORRUPT;
	slen = k[10 + alen];
	if (slen == 0 || slen > FTS_SEP_MAX || 11 + alen + slen >= klen)
		return IDX_CORRUPT;
	blen = klen - 11 - alen - slen;
	if (blen > FTS_TOKEN_MAX)
		return IDX_CORRUPT;
	for (i = 0; i < alen; i++)
		if (!is_word(k[10 + i]))
			return IDX_CORRUPT;
	for (i = 0; i < slen; i++)
		if (is_word(k[11 + alen + i]) || k[11 + alen + i] == 0)
			return IDX_CORRUPT;
	for (i = 0; i < blen; i++)
		if (!is_word(k[11 + alen + slen + i]))
			return IDX_CORRUPT;
	out->block = idx_be32_get(k + 4);
	memcpy(out->a, k + 10, alen);
	memcpy(out->sep, k + 11 + alen, slen);
	memcpy(out->b, k + 11 + alen + slen, blen);
	out->alen = alen;
	out->seplen = slen;
	out->blen = blen;
	return IDX_OK;
}

/* A gram as the middle four bytes of its posting key: n, then the bytes
 * zero-padded, so codes sort like keys. */
static uint32_t
gram_code(const uint8_t *g, size_t n)
{
	uint32_t c = (uint32_t)n << 24;

	c |= (uint32_t)g[0] << 16;
	if (n > 1)
		c |= (uint32_t)g[1] << 8;
	if (n > 2)
		c |= g[2];
	return c;
}

static void
state_key(uint8_t key[9], uint32_t id, uint8_t type, uint32_t uid)
{
	idx_be32_put(key, id);
	key[4] = type;
	idx_be32_put(key + 5, uid);
}

static int
state_get(struct idx_txn *txn, uint32_t id, struct fts_state *st,
	  uint32_t flags)
{
	uint8_t key[9], v[FTS_STATE_LEN];
	uint32_t *f[FTS_STATE_FIELDS] = {
		&st->gen, &st->segs, &st->docs, &st->tail, &st->scan,
		&st->tombs, &st->job, &st->blocks, &st->job_block,
		&st->job_code, &st->longs, &st->job_dict
	};
	size_t len, i;
	int r;

	state_key(key, FTS_GLOBAL, ST_COUNTERS, id);
	r = idx_get(txn, IDX_DB_FTS_STATE, key, sizeof(key), v, sizeof(v), &len,
		    flags);
	if (r == IDX_NOTFOUND) {
		*st = (struct fts_state){ 0 };
		return IDX_OK;
	}
	if (r == IDX_OK && len == FTS_STATE_LEN_OLD &&
	    v[0] == FTS_STATE_LAYOUT_OLD) {
		/* Without tokens: treated as no index (write paths drop it). */
		*st = (struct fts_state){ .stale = idx_be32_get(v + 1) };
		return IDX_OK;
	}
	if (r == IDX_LIMIT || (r == IDX_OK && (len != FTS_STATE_LEN ||
					      (v[0] != FTS_STATE_LAYOUT &&
					       v[0] != FTS_STATE_LAYOUT_PAIRS)))) {
		log_error("index: full-text state of mailbox %u is corrupt", id);
		return IDX_CORRUPT;
	}
	if (r != IDX_OK)
		return r;
	for (i = 0; i < FTS_STATE_FIELDS; i++)
		*f[i] = idx_be32_get(v + 1 + 4 * i);
	st->stale = 0;
	st->pairs = v[0] == FTS_STATE_LAYOUT_PAIRS;
	if (st->gen == 0 || st->gen == FTS_GLOBAL || st->job > st->tail ||
	    st->blocks > (UINT32_MAX >> FTS_BLOCK_BITS) + 1 ||
	    st->tail + st->scan > st->docs || st->longs > st->docs ||
	    st->job_code >= 3u << 26) {
		log_error("index: full-text state of mailbox %u is corrupt", id);
		return IDX_CORRUPT;
	}
	return IDX_OK;
}

static int
state_put(struct idx_txn *txn, uint32_t id, const struct fts_state *st)
{
	uint8_t key[9], v[FTS_STATE_LEN];
	const uint32_t f[FTS_STATE_FIELDS] = {
		st->gen, st->segs, st->docs, st->tail, st->scan, st->tombs,
		st->job, st->blocks, st->job_block, st->job_code, st->longs,
		st->job_dict
	};
	size_t i;

	state_key(key, FTS_GLOBAL, ST_COUNTERS, id);
	v[0] = st->pairs ? FTS_STATE_LAYOUT_PAIRS : FTS_STATE_LAYOUT;
	for (i = 0; i < FTS_STATE_FIELDS; i++)
		idx_be32_put(v + 1 + 4 * i, f[i]);
	return idx_put(txn, IDX_DB_FTS_STATE, key, sizeof(key), v, sizeof(v), 0);
}

/* Gives a mailbox without full-text records its generation. */
static int
state_init(struct idx_txn *txn, struct fts_state *st)
{
	uint8_t key[5];
	uint32_t gen;
	int r;

	if (st->gen != 0)
		return IDX_OK;
	idx_be32_put(key, FTS_GLOBAL);
	key[4] = ST_NEXTGEN;
	r = idx_get_u32(txn, IDX_DB_FTS_STATE, key, sizeof(key), &gen, DB_RMW);
	if (r == IDX_NOTFOUND)
		gen = 1;
	else if (r != IDX_OK)
		return r;
	if (gen == 0 || gen >= FTS_GLOBAL - 1)
		return IDX_LIMIT;
	if ((r = idx_put_u32(txn, IDX_DB_FTS_STATE, key, sizeof(key),
			     gen + 1)) != IDX_OK)
		return r;
	*st = (struct fts_state){ .gen = gen, .pairs = fts_pairs };
	return IDX_OK;
}

static int
marker_put(struct idx_txn *txn, uint32_t gen, uint8_t type, uint32_t uid,
	   uint32_t textlen)
{
	uint8_t key[9], v[4];

	state_key(key, gen, type, uid);
	idx_be32_put(v, textlen);
	return idx_put(txn, IDX_DB_FTS_STATE, key, sizeof(key), v,
		       type == ST_TAIL || type == ST_JOB ? 4 : 0, 0);
}

static int
marker_del(struct idx_txn *txn, uint32_t id, uint8_t type, uint32_t uid)
{
	uint8_t key[9];

	state_key(key, id, type, uid);
	return idx_del(txn, IDX_DB_FTS_STATE, key, sizeof(key));
}

static int
marker_has(struct idx_txn *txn, uint32_t id, uint8_t type, uint32_t uid)
{
	uint8_t key[9], b;
	size_t len;
	int r;

	state_key(key, id, type, uid);
	r = idx_get(txn, IDX_DB_FTS_STATE, key, sizeof(key), &b, sizeof(b),
		    &len, 0);
	return r == IDX_LIMIT ? IDX_OK : r;
}

/* ---- text records -------------------------------------------------- */

/* A reusable buffer pair for reading text records. */
struct fts_reader {
	uint8_t *rec, *text;
	size_t rec_cap, text_cap;
};

static void
reader_free(struct fts_reader *rd)
{
	free(rd->rec);
	free(rd->text);
	*rd = (struct fts_reader){ 0 };
}

/* Reads message uid's text into rd->text (*len bytes). IDX_NOTFOUND if
 * it has none. */
static int
text_read(struct idx_txn *txn, uint32_t id, uint32_t uid,
	  struct fts_reader *rd, size_t *len)
{
	uint8_t key[8];
	size_t vlen;
	int r;

	idx_msg_key(key, id, uid);
	for (;;) {
		r = idx_get(txn, IDX_DB_FTS_TEXT, key, sizeof(key), rd->rec,
			    rd->rec_cap, &vlen, 0);
		if (r != IDX_LIMIT)
			break;
		if (vlen > FTS_TEXT_HDR + compressBound(IDX_FTS_TEXT_MAX) ||
		    vlen <= rd->rec_cap) {
			r = IDX_CORRUPT;
			break;
		}
		rd->rec_cap = vlen;
		rd->rec = xrealloc(rd->rec, rd->rec_cap);
	}
	if (r == IDX_OK) {
		if (vlen >= FTS_TEXT_HDR &&
		    idx_be32_get(rd->rec + 2) <= IDX_FTS_TEXT_MAX &&
		    idx_be32_get(rd->rec + 2) > rd->text_cap) {
			rd->text_cap = idx_be32_get(rd->rec + 2);
			rd->text = xrealloc(rd->text, rd->text_cap);
		}
		r = idx_fts_text_decode(rd->rec, vlen, rd->text, rd->text_cap,
					len);
	}
	if (r == IDX_CORRUPT || r == IDX_LIMIT) {
		log_error("index: full-text record of message %u in mailbox "
			  "%u is corrupt", uid, id);
		return IDX_CORRUPT;
	}
	return r;
}

/* ---- grams --------------------------------------------------------- */

/* The distinct grams of one message: bitmaps dedupe, the list
 * enumerates (so clearing costs what filling did). */
struct fts_grams {
	uint8_t *tri;		/* 2^24 bits */
	uint8_t bi[8192];	/* 2^16 bits */
	uint8_t uni[32];
	uint32_t *codes;
	size_t n, cap;
};

static bool
bit_set(uint8_t *map, uint32_t i)
{
	uint8_t m = (uint8_t)(1u << (i & 7));

	if (map[i >> 3] & m)
		return false;
	map[i >> 3] |= m;
	return true;
}

static void
grams_add(struct fts_grams *g, uint32_t code)
{
	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 4096;
		g->codes = xreallocarray(g->codes, g->cap, sizeof(*g->codes));
	}
	g->codes[g->n++] = code;
}

static void
grams_clear(struct fts_grams *g)
{
	size_t i;

	for (i = 0; i < g->n; i++) {
		uint32_t c = g->codes[i], n = c >> 24, v = c & 0xffffffu;

		if (n == 3)
			g->tri[v >> 3] = 0;
		else if (n == 2)
			g->bi[(v >> 8) >> 3] = 0;
		else
			g->uni[(v >> 16) >> 3] = 0;
	}
	g->n = 0;
}

/* Collects the grams of text (segments separated by NUL). Returns false
 * when there are more than IDX_FTS_GRAMS_MAX. */
static bool
grams_collect(struct fts_grams *g, const uint8_t *t, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		uint8_t a = t[i], b, c;

		if (a == 0)
			continue;
		if (bit_set(g->uni, a))
			grams_add(g, gram_code(t + i, 1));
		if (i + 1 >= len || (b = t[i + 1]) == 0)
			continue;
		if (bit_set(g->bi, (uint32_t)a << 8 | b))
			grams_add(g, gram_code(t + i, 2));
		if (i + 2 >= len || (c = t[i + 2]) == 0)
			continue;
		if (bit_set(g->tri, (uint32_t)a << 16 | (uint32_t)b << 8 | c))
			grams_add(g, gram_code(t + i, 3));
		if (g->n > IDX_FTS_GRAMS_MAX)
			return false;
	}
	return true;
}

/* ---- flush: the tail into a new segment ------------------------------ */

struct uid_list {
	uint32_t *v;
	size_t n, cap;
};

static void
uids_push(struct uid_list *l, uint32_t uid)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n++] = uid;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct marker_walk {
	struct uid_list *out;
	size_t max;
	uint32_t *lens;		/* 'P'/'J': text lengths, or NULL */
	uint64_t text_max;	/* stop before exceeding (after one) */
	uint64_t text;
};

static int
marker_cb(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
	  void *ctx)
{
	struct marker_walk *mw = ctx;
	bool lens = key[4] == ST_TAIL || key[4] == ST_JOB;
	uint32_t tl = 0;

	if (klen != 9 || vlen != (lens ? 4u : 0u)) {
		log_error("index: a full-text state record is corrupt");
		return IDX_CORRUPT;
	}
	if (lens)
		tl = idx_be32_get(val);
	if (mw->out->n >= mw->max ||
	    (mw->out->n > 0 && mw->text + tl > mw->text_max))
		return FTS_I_STOP;
	mw->text += tl;
	uids_push(mw->out, idx_be32_get(key + 5));
	return IDX_OK;
}

/* The UIDs of markers of one type, ascending: at most max, and (after
 * the first) no more than text_max bytes of text. */
static int
markers_list(struct idx_txn *txn, uint32_t gen, uint8_t type, size_t max,
	     uint64_t text_max, struct uid_list *out)
{
	struct marker_walk mw = { out, max, NULL, text_max, 0 };
	uint8_t start[5];
	int r;

	idx_be32_put(start, gen);
	start[4] = type;
	r = idx_walk(txn, IDX_DB_FTS_STATE, start, sizeof(start), sizeof(start),
		     marker_cb, &mw);
	return r == FTS_I_STOP ? IDX_OK : r;
}

/* Starts a segment: moves tail messages ('P') to the job ('J'). */
static int
job_start(struct idx_txn *txn, struct fts_state *st)
{
	struct uid_list l = { 0 };
	size_t i;
	int r;

	if ((r = markers_list(txn, st->gen, ST_TAIL, IDX_FTS_TAIL_MAX,
			      FTS_JOB_TEXT, &l)) != IDX_OK)
		goto out;
	for (i = 0; i < l.n; i++) {
		uint8_t key[9], v[4];
		size_t len;

		state_key(key, st->gen, ST_TAIL, l.v[i]);
		if ((r = idx_get(txn, IDX_DB_FTS_STATE, key, sizeof(key), v,
				 sizeof(v), &len, 0)) != IDX_OK ||
		    (r = idx_del(txn, IDX_DB_FTS_STATE, key, sizeof(key))) !=
		    IDX_OK ||
		    (r = marker_put(txn, st->gen, ST_JOB, l.v[i],
				    idx_be32_get(v))) != IDX_OK)
			goto out;
	}
	st->job = (uint32_t)l.n;
	st->job_block = st->job_code = st->job_dict = 0;
out:
	free(l.v);
	return r;
}

/* Adds the UIDs of pairs[0..n-1] (one key, one block of 2^bits UIDs,
 * ascending) to the record of key (a gram's, token's or pair's) in that
 * block. */
static int
post_merge(struct idx_txn *txn, const uint8_t *key, size_t klen,
	   uint32_t block, unsigned bits, const uint64_t *pairs, size_t n)
{
	uint8_t val[FTS_POST_VAL_MAX];
	uint32_t old[FTS_BLOCK_UIDS], out[FTS_BLOCK_UIDS];
	size_t vlen, nold = 0, k = 0, i = 0, j = 0;
	int r;

	r = idx_get(txn, IDX_DB_FTS_POST, key, klen, val, sizeof(val),
		    &vlen, DB_RMW);
	if (r == IDX_LIMIT || (r == IDX_OK &&
			       idx_fts_postings_decode(val, vlen, old,
						       FTS_BLOCK_UIDS, &nold) !=
			       IDX_OK)) {
		log_error("index: a full-text posting record is corrupt");
		return IDX_CORRUPT;
	}
	if (r != IDX_OK && r != IDX_NOTFOUND)
		return r;
	while (i < nold || j < n) {
		uint32_t a = i < nold ? old[i] : UINT32_MAX;
		uint32_t b = j < n ? pair_uid(pairs[j]) : UINT32_MAX;

		if (k == FTS_BLOCK_UIDS)
			break;
		if (a < b) {
			out[k++] = a;
			i++;
		} else {
			out[k++] = b;
			j++;
			i += a == b;
		}
	}
	for (i = 0; i < k; i++)
		if (out[i] >> bits != block)
			log_panic("index: full-text UID outside its block");
	vlen = idx_fts_postings_encode(out, k, val, sizeof(val));
	if (vlen == 0)
		log_panic("index: full-text segment with a bad list");
	return idx_put(txn, IDX_DB_FTS_POST, key, klen, val, vlen, 0);
}

/* The tokens of a job: every (token, uid) occurrence, then sorted and
 * deduplicated; tokens[] are the distinct ones in key order. */
struct fts_tok {
	const uint8_t *p;
	uint32_t uid;
	uint8_t len;
};

struct job_tokens {
	uint8_t *pool;		/* token bytes */
	size_t pool_n, pool_cap;
	struct fts_tok *occ;	/* p: offset into pool until sorted */
	size_t nocc, occ_cap;
	struct fts_tok *tok;	/* distinct, sorted */
	size_t ntok;
};

static int
tok_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int
cmp_occ(const void *x, const void *y)
{
	const struct fts_tok *a = x, *b = y;
	int c = tok_cmp(a->p, a->len, b->p, b->len);

	if (c != 0)
		return c;
	return a->uid < b->uid ? -1 : a->uid > b->uid;
}

/* Adds one occurrence of the n <= 255 bytes s in message uid. */
static void
occ_add(struct job_tokens *jt, const uint8_t *s, size_t n, uint32_t uid)
{
	if (jt->pool_n + n > jt->pool_cap) {
		jt->pool_cap = (jt->pool_cap + n) * 2;
		jt->pool = xrealloc(jt->pool, jt->pool_cap);
	}
	if (jt->nocc == jt->occ_cap) {
		jt->occ_cap = jt->occ_cap ? jt->occ_cap * 2 : 4096;
		jt->occ = xreallocarray(jt->occ, jt->occ_cap, sizeof(*jt->occ));
	}
	memcpy(jt->pool + jt->pool_n, s, n);
	jt->occ[jt->nocc++] = (struct fts_tok){
		.p = (const uint8_t *)(uintptr_t)jt->pool_n,
		.uid = uid, .len = (uint8_t)n
	};
	jt->pool_n += n;
}

/* Adds the tokens of one message (which has no run over the cap). */
static void
tokens_collect(struct job_tokens *jt, const uint8_t *t, size_t len,
	       uint32_t uid)
{
	size_t i = 0, s;

	while (i < len) {
		if (!is_word(t[i])) {
			i++;
			continue;
		}
		for (s = i; i < len && is_word(t[i]); i++)
			;
		occ_add(jt, t + s, i - s, uid);
	}
}

/* Adds the token pairs of one message (no run over the cap): every two
 * tokens with a run of 1..FTS_SEP_MAX other bytes between them that
 * holds no NUL (no pair spans two segments). */
static void
pairs_collect(struct job_tokens *jp, const uint8_t *t, size_t len,
	      uint32_t uid)
{
	uint8_t body[FTS_PAIR_BODY_MAX];
	size_t i = 0, s, sep, ps = 0, pl = 0;

	while (i < len) {
		for (sep = i; i < len && !is_word(t[i]); i++)
			;
		if (i == len)
			break;
		for (s = i; i < len && is_word(t[i]); i++)
			;
		if (pl > 0 && s - sep <= FTS_SEP_MAX &&
		    memchr(t + sep, 0, s - sep) == NULL)
			occ_add(jp, body, pair_body(body, t + ps, pl, t + sep,
						    s - sep, t + s, i - s),
				uid);
		ps = s;
		pl = i - s;
	}
}

/* Sorts the occurrences, drops duplicates, lists the distinct tokens. */
static void
tokens_finish(struct job_tokens *jt)
{
	size_t i, k = 0;

	for (i = 0; i < jt->nocc; i++)
		jt->occ[i].p = jt->pool + (uintptr_t)jt->occ[i].p;
	if (jt->nocc > 1)
		qsort(jt->occ, jt->nocc, sizeof(*jt->occ), cmp_occ);
	for (i = 0; i < jt->nocc; i++)
		if (k == 0 || cmp_occ(&jt->occ[k - 1], &jt->occ[i]) != 0)
			jt->occ[k++] = jt->occ[i];
	jt->nocc = k;
	jt->tok = xreallocarray(NULL, k ? k : 1, sizeof(*jt->tok));
	jt->ntok = 0;
	for (i = 0; i < k; i++) {
		const struct fts_tok *o = &jt->occ[i];

		if (jt->ntok == 0 ||
		    tok_cmp(jt->tok[jt->ntok - 1].p, jt->tok[jt->ntok - 1].len,
			    o->p, o->len) != 0)
				jt->tok[jt->ntok++] = *o;
	}
}

static void
tokens_free(struct job_tokens *jt)
{
	free(jt->pool);
	free(jt->occ);
	free(jt->tok);
	*jt = (struct job_tokens){ 0 };
}

/* The dictionary part of a job step: from st->job_dict on, adds every
 * job token of FTS_DICT_MIN bytes or more that is not yet there, within
 * FTS_DICT_KEYS keys (at least one token). Returns IDX_OK with
 * st->job_dict == jt->ntok when done. */
static int
dict_step(struct idx_txn *txn, struct fts_state *st,
	  const struct job_tokens *jt)
{
	uint8_t key[FTS_DICT_KEY_MAX], b;
	size_t klen, vlen, i, j;
	unsigned start = txn->fts_keys;
	int r;

	for (i = st->job_dict; i < jt->ntok; i++) {
		const struct fts_tok *t = &jt->tok[i];

		if (i > st->job_dict && txn->fts_keys - start >= FTS_DICT_KEYS)
			break;
		if (t->len < FTS_DICT_MIN)
			continue;
		/* Lookups go in key order (neighbouring pages): sixteen
		 * count as one key. */
		if ((i - st->job_dict) % 16 == 0)
			txn->fts_keys++;
		/* All of a token's keys are written together: the first
		 * trigram's says whether it is there. */
		klen = dict_key(key, st->gen, t->p, t->p, t->len);
		r = idx_get(txn, IDX_DB_FTS_POST, key, klen, &b, 0, &vlen, 0);
		if (r == IDX_OK || r == IDX_LIMIT)
			continue;
		if (r != IDX_NOTFOUND)
			return r;
		for (j = 0; j + 3 <= t->len; j++) {
			klen = dict_key(key, st->gen, t->p + j, t->p, t->len);
			if ((r = idx_put(txn, IDX_DB_FTS_POST, key, klen, "",
					 0, 0)) != IDX_OK)
				return r;
			txn->fts_keys++;
		}
	}
	st->job_dict = (uint32_t)i;
	return IDX_OK;
}

/* One bounded step of the current segment: recollects the grams and
 * tokens of its messages, completes the dictionary for its tokens, then
 * writes the posting keys from (job_block, job_code) on until the
 * transaction's budget is spent, and ends the job when all are
 * written. */
static int
job_step(struct idx_txn *txn, struct fts_state *st)
{
	struct uid_list job = { 0 };
	struct fts_reader rd = { 0 };
	struct fts_grams g = { 0 };
	struct job_tokens jt = { 0 }, jp = { 0 };
	uint64_t *pairs = NULL, from;
	size_t npairs = 0, cap = 0, i, j, len;
	int r;

	if ((r = markers_list(txn, st->gen, ST_JOB, SIZE_MAX, UINT64_MAX,
			      &job)) != IDX_OK)
		goto out;
	if (job.n != st->job || job.n > IDX_FTS_TAIL_MAX) {
		log_error("index: full-text job of generation %u is corrupt",
			  st->gen);
		r = IDX_CORRUPT;
		goto out;
	}
	from = (uint64_t)st->job_block << 28 | st->job_code;
	g.tri = xcalloc(1, (size_t)1 << 21);
	for (i = 0; i < job.n; i++) {
		r = text_read(txn, st->gen, job.v[i], &rd, &len);
		if (r == IDX_NOTFOUND)
			r = IDX_CORRUPT;	/* markers go with the text */
		if (r != IDX_OK)
			goto out;
		/* 'L' texts ('long_run') get no token postings. */
		if (!long_run(rd.text, len)) {
			tokens_collect(&jt, rd.text, len, job.v[i]);
			if (st->pairs)
				pairs_collect(&jp, rd.text, len, job.v[i]);
		}
		/* idx_fts_add sent texts with too many grams to 'X'. */
		(void)grams_collect(&g, rd.text, len);
		if (npairs + g.n > cap) {
			cap = npairs + g.n + cap;
			pairs = xreallocarray(pairs, cap, sizeof(*pairs));
		}
		for (j = 0; j < g.n; j++) {
			uint64_t p = pair_make(1, code26(g.codes[j]),
					       job.v[i]);

			if (pair_pos(p) >= from)
				pairs[npairs++] = p;
		}
		grams_clear(&g);
	}
	tokens_finish(&jt);
	tokens_finish(&jp);
	if (jt.ntok >= 1u << 26 || jp.ntok >= 1u << 26) {
		r = IDX_LIMIT;	/* cannot be: <= 1.5 MB of text */
		goto out;
	}
	if (st->job_dict > jt.ntok) {
		log_error("index: full-text job of generation %u is corrupt",
			  st->gen);
		r = IDX_CORRUPT;
		goto out;
	}
	if (st->job_dict < jt.ntok) {
		if ((r = dict_step(txn, st, &jt)) != IDX_OK)
			goto out;
		if (st->job_dict < jt.ntok) {
			/* The dictionary's share is spent: next time. */
			if (txn->fts_keys < FTS_TXN_KEYS)
				txn->fts_keys = FTS_TXN_KEYS;
			goto out;
		}
	}
	if (npairs + jt.nocc + jp.nocc > cap) {
		cap = npairs + jt.nocc + jp.nocc;
		pairs = xreallocarray(pairs, cap, sizeof(*pairs));
	}
	for (i = j = 0; i < jt.nocc; i++) {
		uint64_t p;

		while (tok_cmp(jt.tok[j].p, jt.tok[j].len, jt.occ[i].p,
			       jt.occ[i].len) != 0)
			j++;
		p = pair_make(0, (uint32_t)j, jt.occ[i].uid);
		if (pair_pos(p) >= from)
			pairs[npairs++] = p;
	}
	for (i = j = 0; i < jp.nocc; i++) {
		uint64_t p;

		while (tok_cmp(jp.tok[j].p, jp.tok[j].len, jp.occ[i].p,
			       jp.occ[i].len) != 0)
			j++;
		p = pair_make(2, (uint32_t)j, jp.occ[i].uid);
		if (pair_pos(p) >= from)
			pairs[npairs++] = p;
	}
	if (npairs > 1)
		qsort(pairs, npairs, sizeof(*pairs), cmp_u64);
	for (i = 0; i < npairs; i = j) {
		uint64_t pos = pair_pos(pairs[i]);
		uint32_t block = (uint32_t)(pos >> 28);
		uint32_t c = (uint32_t)pos & 0xfffffffu;
		uint8_t key[FTS_PAIR_KEY_MAX];
		size_t klen;

		if (txn->fts_keys >= FTS_TXN_KEYS) {
			/* The next step goes on from this key. */
			st->job_block = block;
			st->job_code = c;
			r = IDX_OK;
			goto out;
		}
		for (j = i; j < npairs && pair_pos(pairs[j]) == pos; j++)
			;
		if (c >> 26 == 2) {
			/* One key per pair block in this block. */
			const struct fts_tok *t = &jp.tok[c & 0x3ffffffu];
			size_t a, e;

			for (a = i; a < j; a = e) {
				uint32_t pb = pair_uid(pairs[a]) >>
					      FTS_PAIR_BITS;

				for (e = a; e < j && pair_uid(pairs[e]) >>
				     FTS_PAIR_BITS == pb; e++)
					;
				klen = pair_key(key, st->gen, pb, t->p,
						t->len);
				if ((r = post_merge(txn, key, klen, pb,
						    FTS_PAIR_BITS, pairs + a,
						    e - a)) != IDX_OK)
					goto out;
				txn->fts_keys += a > i;
			}
		} else {
			if (c >> 26 == 1) {
				post_key(key, st->gen, c & 0x3ffffffu, block);
				klen = FTS_POST_KEY;
			} else {
				const struct fts_tok *t = &jt.tok[c];

				klen = tok_key(key, st->gen, block, t->p,
					       t->len);
			}
			if ((r = post_merge(txn, key, klen, block,
					    FTS_BLOCK_BITS, pairs + i,
					    j - i)) != IDX_OK)
				goto out;
		}
		if (block >= st->blocks)
			st->blocks = block + 1;
		txn->fts_keys++;
	}
	/* All written: the job's messages are posted. */
	for (i = 0; i < job.n; i++)
		if ((r = marker_del(txn, st->gen, ST_JOB, job.v[i])) != IDX_OK)
			goto out;
	st->tail -= st->job;
	st->job = st->job_block = st->job_code = st->job_dict = 0;
	st->segs++;
	r = IDX_OK;
out:
	free(job.v);
	free(g.tri);
	free(g.codes);
	free(pairs);
	tokens_free(&jt);
	tokens_free(&jp);
	reader_free(&rd);
	return r;
}

/* Moves the tail into segments while this transaction's budget lasts;
 * force: even if the tail is below IDX_FTS_TAIL_MAX. */
static int
advance(struct idx_txn *txn, struct fts_state *st, bool force)
{
	int r;

	while (txn->fts_keys < FTS_TXN_KEYS) {
		if (st->job == 0) {
			if (st->tail == 0 ||
			    (!force && st->tail < IDX_FTS_TAIL_MAX))
				break;
			if ((r = job_start(txn, st)) != IDX_OK)
				return r;
			if (st->job == 0)
				break;
		}
		if ((r = job_step(txn, st)) != IDX_OK)
			return r;
	}
	return IDX_OK;
}

struct gc_walk {
	struct idx_txn *txn;
	enum idx_db which;
	unsigned n;
};

static int
gc_cb(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
      void *ctx)
{
	struct gc_walk *gw = ctx;
	int r;

	(void)val;
	(void)vlen;
	if (gw->n >= FTS_GC_KEYS)
		return FTS_I_STOP;
	if ((r = idx_del(gw->txn, gw->which, key, klen)) != IDX_OK)
		return r;
	gw->n++;
	return IDX_OK;
}

/* Deletes up to FTS_GC_KEYS records of the first garbage generation;
 * forgets it once none are left. */
static int
gc_step(struct idx_txn *txn)
{
	static const enum idx_db dbs[3] = {
		IDX_DB_FTS_TEXT, IDX_DB_FTS_POST, IDX_DB_FTS_STATE
	};
	struct uid_list l = { 0 };
	struct gc_walk gw = { txn, IDX_DB_FTS_TEXT, 0 };
	uint8_t prefix[4];
	size_t i;
	int r;

	if ((r = markers_list(txn, FTS_GLOBAL, ST_GARBAGE, 1, UINT64_MAX,
			      &l)) != IDX_OK || l.n == 0)
		goto out;
	idx_be32_put(prefix, l.v[0]);
	for (i = 0; i < 3 && gw.n < FTS_GC_KEYS; i++) {
		gw.which = dbs[i];
		r = idx_walk(txn, dbs[i], prefix, 4, 4, gc_cb, &gw);
		if (r != IDX_OK && r != FTS_I_STOP)
			goto out;
	}
	r = IDX_OK;
	if (gw.n < FTS_GC_KEYS)
		r = marker_del(txn, FTS_GLOBAL, ST_GARBAGE, l.v[0]);
out:
	free(l.v);
	return r;
}

/* ---- public: writes -------------------------------------------------- */

/* A layout-1 state (no tokens): its records become garbage and the
 * mailbox starts again with none (its messages are unindexed). */
static int
stale_drop(struct idx_txn *txn, uint32_t id, struct fts_state *st)
{
	uint8_t key[9];
	int r;

	if (st->stale == 0)
		return IDX_OK;
	if (st->stale != FTS_GLOBAL &&
	    (r = marker_put(txn, FTS_GLOBAL, ST_GARBAGE, st->stale, 0)) !=
	    IDX_OK)
		return r;
	state_key(key, FTS_GLOBAL, ST_COUNTERS, id);
	if ((r = idx_del(txn, IDX_DB_FTS_STATE, key, sizeof(key))) != IDX_OK &&
	    r != IDX_NOTFOUND)
		return r;
	*st = (struct fts_state){ 0 };
	return IDX_OK;
}

/* Too many distinct grams for the postings? Only texts longer than a
 * third of the limit can be (at most 3 grams start at each byte). */
static bool
too_many_grams(const uint8_t *text, size_t len)
{
	struct fts_grams g = { 0 };
	bool over;

	if (len <= IDX_FTS_GRAMS_MAX / 3)
		return false;
	g.tri = xcalloc(1, (size_t)1 << 21);
	over = !grams_collect(&g, text, len);
	free(g.tri);
	free(g.codes);
	return over;
}

int
idx_fts_add(struct idx_txn *txn, uint32_t id, uint32_t uid, const void *text,
	    size_t len)
{
	struct fts_state st;
	struct idx_msg m;
	uint8_t key[8], *rec;
	uLongf clen;
	size_t rlen;
	bool scan;
	int r;

	if ((r = idx_require_write(txn)) != IDX_OK)
		return r;
	if (uid == 0 || (text == NULL && len > 0))
		return IDX_INVAL;
	if (len > IDX_FTS_TEXT_MAX)
		return IDX_LIMIT;
	if ((r = idx_msg_get(txn, id, uid, &m)) != IDX_OK ||
	    (r = state_get(txn, id, &st, DB_RMW)) != IDX_OK ||
	    (r = stale_drop(txn, id, &st)) != IDX_OK ||
	    (r = state_init(txn, &st)) != IDX_OK)
		return r;
	r = marker_has(txn, st.gen, ST_TOMB, uid);
	if (r == IDX_OK)
		return IDX_EXISTS;
	if (r != IDX_NOTFOUND)
		return r;
	clen = compressBound((uLong)len);
	rec = xmalloc(FTS_TEXT_HDR + (len > clen ? len : clen));
	rec[0] = FTS_TEXT_LAYOUT;
	idx_be32_put(rec + 2, (uint32_t)len);
	if (FTS_COMPRESS && len > 0 && compress2(rec + FTS_TEXT_HDR, &clen, text, (uLong)len,
				 FTS_ZLIB_LEVEL) == Z_OK && clen < len) {
		rec[1] = FTS_METHOD_ZLIB;
		rlen = FTS_TEXT_HDR + clen;
	} else {
		rec[1] = FTS_METHOD_RAW;
		if (len > 0)
			memcpy(rec + FTS_TEXT_HDR, text, len);
		rlen = FTS_TEXT_HDR + len;
	}
	idx_msg_key(key, st.gen, uid);
	r = idx_put(txn, IDX_DB_FTS_TEXT, key, sizeof(key), rec, rlen,
		    DB_NOOVERWRITE);
	free(rec);
	if (r != IDX_OK)
		return r;
	scan = too_many_grams(text, len);
	if ((r = marker_put(txn, st.gen, scan ? ST_SCAN : ST_TAIL, uid,
			    (uint32_t)len)) != IDX_OK)
		return r;
	if (!scan && long_run(text, len)) {
		if ((r = marker_put(txn, st.gen, ST_LONG, uid, 0)) != IDX_OK)
			return r;
		st.longs++;
	}
	st.docs++;
	if (scan)
		st.scan++;
	else
		st.tail++;
	if ((r = advance(txn, &st, false)) != IDX_OK ||
	    (r = state_put(txn, id, &st)) != IDX_OK)
		return r;
	if (txn->fts_keys < FTS_TXN_KEYS)
		return gc_step(txn);
	return IDX_OK;
}

int
idx_fts_flush(struct idx_txn *txn, uint32_t id, bool *more)
{
	struct fts_state st;
	int r;

	*more = false;
	if ((r = idx_require_write(txn)) != IDX_OK ||
	    (r = state_get(txn, id, &st, DB_RMW)) != IDX_OK ||
	    (r = stale_drop(txn, id, &st)) != IDX_OK)
		return r;
	if (st.gen != 0 && st.tail > 0) {
		if ((r = advance(txn, &st, true)) != IDX_OK ||
		    (r = state_put(txn, id, &st)) != IDX_OK)
			return r;
		*more = st.tail > 0;
	}
	if (txn->fts_keys < FTS_TXN_KEYS && (r = gc_step(txn)) != IDX_OK)
		return r;
	return IDX_OK;
}

int
idx_fts_delete(struct idx_txn *txn, uint32_t id, uint32_t uid)
{
	struct fts_state st;
	uint8_t key[8];
	bool tomb = true;
	int r;

	if ((r = idx_require_write(txn)) != IDX_OK ||
	    (r = state_get(txn, id, &st, DB_RMW)) != IDX_OK)
		return r;
	if (st.gen == 0)
		return IDX_OK;
	idx_msg_key(key, st.gen, uid);
	r = idx_del(txn, IDX_DB_FTS_TEXT, key, sizeof(key));
	if (r == IDX_NOTFOUND)
		return IDX_OK;
	if (r != IDX_OK)
		return r;
	st.docs = st.docs > 0 ? st.docs - 1 : 0;
	/* Only a 'P' message is surely in no posting list; the others
	 * ('J' partly written, 'X' from older versions, posted) get a
	 * tombstone. */
	if ((r = marker_del(txn, st.gen, ST_TAIL, uid)) == IDX_OK) {
		st.tail--;
		tomb = false;
	} else if (r == IDX_NOTFOUND &&
		   (r = marker_del(txn, st.gen, ST_JOB, uid)) == IDX_OK) {
		st.tail--;
		st.job--;
		/* The job's token list changed, and with it the indexes
		 * job_code and job_dict count in: start the job again
		 * (merging is idempotent). */
		st.job_block = st.job_code = st.job_dict = 0;
	} else if (r == IDX_NOTFOUND &&
		   (r = marker_del(txn, st.gen, ST_SCAN, uid)) == IDX_OK) {
		st.scan--;
	}
	if (r != IDX_OK && r != IDX_NOTFOUND)
		return r;
	if (tomb) {
		if ((r = marker_put(txn, st.gen, ST_TOMB, uid, 0)) != IDX_OK)
			return r;
		st.tombs++;
	}
	if ((r = marker_del(txn, st.gen, ST_LONG, uid)) == IDX_OK)
		st.longs--;
	else if (r != IDX_NOTFOUND)
		return r;
	if (st.job == 0)	/* all job messages gone */
		st.job_block = st.job_code = st.job_dict = 0;
	return state_put(txn, id, &st);
}

int
idx_fts_drop(struct idx_txn *txn, uint32_t id)
{
	struct fts_state st;
	uint8_t key[9];
	int r;

	state_key(key, FTS_GLOBAL, ST_COUNTERS, id);
	if ((r = state_get(txn, id, &st, DB_RMW)) == IDX_CORRUPT)
		return idx_del(txn, IDX_DB_FTS_STATE, key, sizeof(key));
	if (r != IDX_OK)
		return r;
	if (st.stale != 0)
		return stale_drop(txn, id, &st);
	if (st.gen == 0)
		return r;
	if ((r = marker_put(txn, FTS_GLOBAL, ST_GARBAGE, st.gen, 0)) != IDX_OK)
		return r;
	return idx_del(txn, IDX_DB_FTS_STATE, key, sizeof(key));
}

/* ---- public: reads --------------------------------------------------- */

int
idx_fts_info(struct idx_txn *txn, uint32_t id, struct idx_fts_info *out)
{
	struct fts_state st;
	int r;

	if ((r = state_get(txn, id, &st, 0)) != IDX_OK)
		return r;
	out->docs = st.docs;
	out->tail = st.tail;
	out->scan = st.scan;
	out->tombs = st.tombs;
	out->segments = st.segs;
	out->job = st.job;
	out->longs = st.longs;
	return IDX_OK;
}

struct missing_ctx {
	struct idx_txn *txn;
	uint32_t gen;
	idx_fts_uid_cb *cb;
	void *ctx;
};

static int
missing_cb(uint32_t uid, const struct idx_msg *m, void *ctx)
{
	struct missing_ctx *mc = ctx;
	uint8_t key[8], b;
	size_t len;
	int r;

	(void)m;
	idx_msg_key(key, mc->gen, uid);
	r = idx_get(mc->txn, IDX_DB_FTS_TEXT, key, sizeof(key), &b, 0, &len, 0);
	if (r == IDX_NOTFOUND)
		return mc->cb(uid, mc->ctx);
	return r == IDX_LIMIT ? IDX_OK : r;
}

int
idx_fts_unindexed(struct idx_txn *txn, uint32_t id, idx_fts_uid_cb *cb,
		  void *ctx)
{
	struct missing_ctx mc = { txn, 0, cb, ctx };
	struct idx_mbox mb;
	struct fts_state st;
	int r;

	if ((r = idx_mbox_get_by_id(txn, id, NULL, 0, &mb)) != IDX_OK ||
	    (r = state_get(txn, id, &st, 0)) != IDX_OK)
		return r;
	/* Every text record belongs to a message (idx_fts_add checks, and
	 * idx_msg_delete removes it), so equal counts mean equal sets. */
	if (st.docs == mb.messages)
		return IDX_OK;
	mc.gen = st.gen;	/* 0: no text records at all */
	return idx_msg_foreach(txn, id, 1, UINT32_MAX, missing_cb, &mc);
}

void
idx_fts_result_free(struct idx_fts_result *res)
{
	free(res->uids);
	res->uids = NULL;
	res->count = res->cap = 0;
}

static void
result_push(struct idx_fts_result *res, uint32_t uid)
{
	if (res->count == res->cap) {
		res->cap = res->cap ? res->cap * 2 : 256;
		res->uids = xreallocarray(res->uids, res->cap, sizeof(uint32_t));
	}
	res->uids[res->count++] = uid;
}

/* a := a ∩ b (both sorted). */
static void
uids_and(struct uid_list *a, const struct uid_list *b)
{
	size_t i = 0, j = 0, k = 0;

	while (i < a->n && j < b->n) {
		if (a->v[i] < b->v[j])
			i++;
		else if (a->v[i] > b->v[j])
			j++;
		else {
			a->v[k++] = a->v[i++];
			j++;
		}
	}
	a->n = k;
}

/* a := a \ b (both sorted). */
static void
uids_minus(struct uid_list *a, const struct uid_list *b)
{
	size_t i, j = 0, k = 0;

	for (i = 0; i < a->n; i++) {
		while (j < b->n && b->v[j] < a->v[i])
			j++;
		if (j < b->n && b->v[j] == a->v[i])
			continue;
		a->v[k++] = a->v[i];
	}
	a->n = k;
}

/* a := a ∪ b (both sorted). */
static void
uids_or(struct uid_list *a, const struct uid_list *b)
{
	struct uid_list o = { 0 };
	size_t i = 0, j = 0;

	if (b->n == 0)
		return;
	while (i < a->n || j < b->n) {
		if (j == b->n || (i < a->n && a->v[i] < b->v[j]))
			uids_push(&o, a->v[i++]);
		else if (i == a->n || b->v[j] < a->v[i])
			uids_push(&o, b->v[j++]);
		else {
			uids_push(&o, a->v[i++]);
			j++;
		}
	}
	free(a->v);
	*a = o;
}

/* Appends the UIDs of the posting record key (in block) to out. */
static int
rec_uids(struct idx_txn *txn, const uint8_t *key, size_t klen,
	 uint32_t block, unsigned bits, uint8_t *val, uint32_t *buf,
	 struct uid_list *out)
{
	size_t vlen, n, i;
	int r;

	r = idx_get(txn, IDX_DB_FTS_POST, key, klen, val, FTS_POST_VAL_MAX,
		    &vlen, 0);
	if (r == IDX_NOTFOUND)
		return IDX_OK;
	if (r == IDX_LIMIT || (r == IDX_OK &&
			       (idx_fts_postings_decode(val, vlen, buf,
							FTS_BLOCK_UIDS, &n) !=
				IDX_OK || buf[0] >> bits != block ||
				buf[n - 1] >> bits != block))) {
		log_error("index: a full-text posting record is corrupt");
		return IDX_CORRUPT;
	}
	if (r != IDX_OK)
		return r;
	for (i = 0; i < n; i++)
		uids_push(out, buf[i]);
	return IDX_OK;
}

/* Steps through the blocks of 2^bits UIDs to read: all below blocks
 * (counted in blocks of 1024), or only those that hold a UID of filter
 * (if not NULL). *i starts at 0. */
static bool
block_next_bits(const struct uid_list *filter, uint32_t blocks,
		unsigned bits, size_t *i, uint32_t *b)
{
	if (filter == NULL) {
		if (*i >= (size_t)blocks << (FTS_BLOCK_BITS - bits))
			return false;
		*b = (uint32_t)(*i)++;
		return true;
	}
	if (*i >= filter->n)
		return false;
	*b = filter->v[*i] >> bits;
	while (*i < filter->n && filter->v[*i] >> bits == *b)
		(*i)++;
	return true;
}

static bool
block_next(const struct uid_list *filter, uint32_t blocks, size_t *i,
	   uint32_t *b)
{
	return block_next_bits(filter, blocks, FTS_BLOCK_BITS, i, b);
}

/* The UIDs (ascending) of gram code in every block below blocks, or
 * only in the blocks that hold a UID of filter (if not NULL). */
static int
gram_uids(struct idx_txn *txn, uint32_t gen, uint32_t code, uint32_t blocks,
	  const struct uid_list *filter, struct uid_list *out)
{
	uint8_t *val = xmalloc(FTS_POST_VAL_MAX), key[FTS_POST_KEY];
	uint32_t *buf = xreallocarray(NULL, FTS_BLOCK_UIDS, sizeof(*buf));
	uint32_t b;
	size_t i = 0;
	int r = IDX_OK;

	out->n = 0;
	while (r == IDX_OK && block_next(filter, blocks, &i, &b)) {
		post_key(key, gen, code, b);
		r = rec_uids(txn, key, sizeof(key), b, FTS_BLOCK_BITS, val,
			     buf, out);
	}
	free(val);
	free(buf);
	return r;
}

/* A token as a search holds it. */
struct tok_match {
	uint8_t len;
	uint8_t s[FTS_TOKEN_MAX];
};

struct tok_matches {
	struct tok_match *v;
	size_t n, cap;
	size_t max;		/* at most (0: FTS_MATCH_MAX) */
	bool over;		/* more than max */
};

static void
matches_push(struct tok_matches *m, const uint8_t *s, size_t len)
{
	if (m->n >= (m->max ? m->max : FTS_MATCH_MAX)) {
		m->over = true;
		return;
	}
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 16;
		m->v = xreallocarray(m->v, m->cap, sizeof(*m->v));
	}
	m->v[m->n].len = (uint8_t)len;
	memcpy(m->v[m->n].s, s, len);
	m->n++;
}

/* The UIDs (ascending) of the messages in the postings of any of the
 * tokens m, in every block below blocks or only in those of filter
 * (and then only filter's UIDs). */
static int
tokens_uids(struct idx_txn *txn, uint32_t gen, uint32_t blocks,
	    const struct tok_matches *m, const struct uid_list *filter,
	    struct uid_list *out)
{
	uint8_t *val = xmalloc(FTS_POST_VAL_MAX), key[FTS_TOK_KEY_MAX];
	uint32_t *buf = xreallocarray(NULL, FTS_BLOCK_UIDS, sizeof(*buf));
	uint32_t b;
	size_t i = 0, k, start, klen;
	int r = IDX_OK;

	out->n = 0;
	while (r == IDX_OK && block_next(filter, blocks, &i, &b)) {
		start = out->n;
		for (k = 0; k < m->n && r == IDX_OK; k++) {
			klen = tok_key(key, gen, b, m->v[k].s, m->v[k].len);
			r = rec_uids(txn, key, klen, b, FTS_BLOCK_BITS, val,
				     buf, out);
		}
		if (m->n > 1 && out->n - start > 1) {
			size_t j, w = start + 1;

			qsort(out->v + start, out->n - start,
			      sizeof(*out->v), cmp_u32);
			for (j = start + 1; j < out->n; j++)
				if (out->v[j] != out->v[w - 1])
					out->v[w++] = out->v[j];
			out->n = w;
		}
	}
	free(val);
	free(buf);
	if (r == IDX_OK && filter != NULL)
		uids_and(out, filter);
	return r;
}

/* ---- the dictionary --------------------------------------------------- */

enum tok_mode { TOK_IN, TOK_PREFIX, TOK_SUFFIX };

struct dict_walk {
	uint8_t tok[FTS_TOKEN_MAX];
	size_t len;
	bool found;
	struct tok_matches *m;	/* prefix walk: every token */
};

static int
dict_cb(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
	void *ctx)
{
	struct dict_walk *dw = ctx;

	if (vlen != 0 || idx_fts_dict_key_decode(key, klen, dw->tok,
						 &dw->len) != IDX_OK) {
		log_error("index: a full-text dictionary record is corrupt");
		return IDX_CORRUPT;
	}
	(void)val;
	dw->found = true;
	if (dw->m == NULL)
		return FTS_I_STOP;
	matches_push(dw->m, dw->tok, dw->len);
	return dw->m->over ? FTS_I_STOP : IDX_OK;
}

/* The smallest token >= from in trigram tri's part of the dictionary. */
static int
dict_seek(struct idx_txn *txn, uint32_t gen, const uint8_t *tri,
	  const uint8_t *from, size_t flen, struct dict_walk *dw)
{
	uint8_t key[FTS_DICT_KEY_MAX + 1];
	size_t klen = dict_key(key, gen, tri, from, flen);
	int r;

	dw->found = false;
	dw->m = NULL;
	r = idx_walk(txn, IDX_DB_FTS_POST, key, klen, 11, dict_cb, dw);
	return r == FTS_I_STOP ? IDX_OK : r;
}

/* The dictionary tokens that contain w (TOK_IN), start with it or end
 * with it; w is FTS_DICT_MIN..FTS_TOKEN_MAX word bytes. A prefix is one
 * range of its first trigram's tokens; otherwise a leapfrog over the
 * sorted token lists of up to FTS_QUERY_GRAMS of w's trigrams finds the
 * tokens in all of them, then each is checked. */
static int
dict_match(struct idx_txn *txn, uint32_t gen, const uint8_t *w, size_t len,
	   enum tok_mode mode, struct tok_matches *m)
{
	const uint8_t *tri[FTS_QUERY_GRAMS];
	uint8_t cur[FTS_TOKEN_MAX + 1];
	struct dict_walk dw = { .m = m };
	size_t ntri = 0, slots, i, k, curlen = 0, agree = 0;
	int r;

	m->n = 0;
	m->over = false;
	if (mode == TOK_PREFIX) {
		uint8_t key[FTS_DICT_KEY_MAX];
		size_t klen = dict_key(key, gen, w, w, len);

		r = idx_walk(txn, IDX_DB_FTS_POST, key, klen, klen, dict_cb,
			     &dw);
		return r == FTS_I_STOP ? IDX_OK : r;
	}
	slots = len - 2 < FTS_QUERY_GRAMS ? len - 2 : FTS_QUERY_GRAMS;
	for (i = 0; i < slots; i++) {
		size_t pos = slots == 1 ? 0 : i * (len - 3) / (slots - 1);

		for (k = 0; k < ntri && memcmp(tri[k], w + pos, 3) != 0; k++)
			;
		if (k == ntri)
			tri[ntri++] = w + pos;
	}
	for (i = 0;; i = (i + 1) % ntri) {
		if ((r = dict_seek(txn, gen, tri[i], cur, curlen, &dw)) !=
		    IDX_OK)
			return r;
		if (!dw.found)
			break;
		if (dw.len == curlen && memcmp(dw.tok, cur, curlen) == 0) {
			agree++;
		} else {
			memcpy(cur, dw.tok, dw.len);
			curlen = dw.len;
			agree = 1;
		}
		if (agree < ntri)
			continue;
		if (mode == TOK_IN ?
		    memmem(cur, curlen, w, len) != NULL :
		    curlen >= len && memcmp(cur + curlen - len, w, len) == 0)
			matches_push(m, cur, curlen);
		if (m->over)
			break;
		/* Next: the smallest string after cur. */
		cur[curlen++] = 0;
		agree = 0;
	}
	return IDX_OK;
}

/* Candidates from gram postings: exact for <= 3 bytes, a superset
 * beyond; only UIDs of within if not NULL. */
static int
candidates(struct idx_txn *txn, uint32_t gen, uint32_t blocks,
	   const uint8_t *needle, size_t len, const struct uid_list *within,
	   struct uid_list *cand)
{
	struct uid_list next = { 0 };
	uint32_t codes[FTS_QUERY_GRAMS];
	size_t ncodes = 0, i, k, slots;
	int r = IDX_OK;

	cand->n = 0;
	if (within != NULL && within->n == 0)
		return IDX_OK;
	if (len <= 3) {
		codes[ncodes++] = gram_code(needle, len);
	} else {
		/* Trigrams spread over the needle, first and last
		 * included; duplicates skipped. */
		slots = len - 2 < FTS_QUERY_GRAMS ? len - 2 : FTS_QUERY_GRAMS;
		for (i = 0; i < slots; i++) {
			size_t pos = slots == 1 ? 0 :
				     i * (len - 3) / (slots - 1);
			uint32_t c = gram_code(needle + pos, 3);

			for (k = 0; k < ncodes && codes[k] != c; k++)
				;
			if (k == ncodes)
				codes[ncodes++] = c;
		}
	}
	for (i = 0; i < ncodes; i++) {
		const struct uid_list *f = i == 0 ? within : cand;

		if ((r = gram_uids(txn, gen, codes[i], blocks, f,
				   i == 0 ? cand : &next)) != IDX_OK)
			break;
		if (f != NULL)
			uids_and(i == 0 ? cand : &next, f);
		if (i > 0) {
			struct uid_list t = *cand;

			*cand = next;
			next = t;
		}
		if (cand->n <= FTS_QUERY_ENOUGH)
			break;
	}
	free(next.v);
	return r;
}

/* Texts searches read to check or scan (tests, benchmarks). */
static unsigned long fts_texts_read;

unsigned long
idx_fts_texts_read(void)
{
	unsigned long n = fts_texts_read;

	fts_texts_read = 0;
	return n;
}

static bool
text_has(const uint8_t *t, size_t tlen, const uint8_t *needle, size_t len)
{
	fts_texts_read++;
	return tlen >= len && memmem(t, tlen, needle, len) != NULL;
}

/* Keeps the UIDs of l whose stored text holds needle. */
static int
check_texts(struct idx_txn *txn, uint32_t gen, const uint8_t *needle,
	    size_t len, struct fts_reader *rd, struct uid_list *l)
{
	size_t i, j, tlen;
	int r;

	for (i = j = 0; i < l->n; i++) {
		r = text_read(txn, gen, l->v[i], rd, &tlen);
		if (r == IDX_NOTFOUND)
			continue;
		if (r != IDX_OK)
			return r;
		if (text_has(rd->text, tlen, needle, len))
			l->v[j++] = l->v[i];
	}
	l->n = j;
	return IDX_OK;
}

/* Scans the messages of one marker type, appending matches to out. */
static int
scan_markers(struct idx_txn *txn, uint32_t id, uint8_t type,
	     const uint8_t *needle, size_t len, struct fts_reader *rd,
	     struct uid_list *out)
{
	struct uid_list l = { 0 };
	size_t i, tlen;
	int r;

	if ((r = markers_list(txn, id, type, SIZE_MAX, UINT64_MAX, &l)) !=
	    IDX_OK)
		goto out;
	for (i = 0; i < l.n; i++) {
		r = text_read(txn, id, l.v[i], rd, &tlen);
		if (r == IDX_NOTFOUND)
			continue;
		if (r != IDX_OK)
			goto out;
		if (text_has(rd->text, tlen, needle, len))
			uids_push(out, l.v[i]);
	}
	r = IDX_OK;
out:
	free(l.v);
	return r;
}

/* Adds to cand the posted 'L' messages (no token postings) whose grams
 * and, if check, text hold needle. */
static int
add_longs(struct idx_txn *txn, const struct fts_state *st,
	  const uint8_t *needle, size_t len, bool check,
	  struct fts_reader *rd, struct uid_list *cand)
{
	struct uid_list longs = { 0 }, g = { 0 };
	int r;

	if (st->longs == 0)
		return IDX_OK;
	if ((r = markers_list(txn, st->gen, ST_LONG, SIZE_MAX, UINT64_MAX,
			      &longs)) == IDX_OK &&
	    (r = candidates(txn, st->gen, st->blocks, needle, len, &longs,
			    &g)) == IDX_OK &&
	    (!check || (r = check_texts(txn, st->gen, needle, len, rd,
					&g)) == IDX_OK))
		uids_or(cand, &g);
	free(longs.v);
	free(g.v);
	return r;
}

/* A needle of word bytes only (>= 4): the postings of the dictionary
 * tokens that contain it, plus the 'L' messages checked. Exact;
 * FTS_I_STOP if it matches too many tokens (use the grams). */
static int
search_in_token(struct idx_txn *txn, const struct fts_state *st,
		const uint8_t *needle, size_t len, struct fts_reader *rd,
		struct uid_list *cand)
{
	struct tok_matches m = { 0 };
	int r;

	cand->n = 0;
	if (len > FTS_TOKEN_MAX) {
		/* In no token: only in 'L' messages. */
		r = IDX_OK;
	} else if ((r = dict_match(txn, st->gen, needle, len, TOK_IN,
				   &m)) == IDX_OK) {
		if (m.over)
			r = FTS_I_STOP;
		else if (m.n > 0)
			r = tokens_uids(txn, st->gen, st->blocks, &m, NULL,
					cand);
	}
	if (r == IDX_OK)
		r = add_longs(txn, st, needle, len, true, rd, cand);
	free(m.v);
	return r;
}

/* ---- token pairs ------------------------------------------------------ */

struct pair_walk {
	uint32_t block;
	uint32_t *buf;
	struct uid_list *out;
};

static int
pair_cb(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
	void *ctx)
{
	struct pair_walk *pw = ctx;
	struct idx_fts_pair pk;
	size_t n, i;

	if (idx_fts_pair_key_decode(key, klen, &pk) != IDX_OK ||
	    pk.block != pw->block ||
	    idx_fts_postings_decode(val, vlen, pw->buf, FTS_BLOCK_UIDS, &n) !=
	    IDX_OK || pw->buf[0] >> FTS_PAIR_BITS != pw->block ||
	    pw->buf[n - 1] >> FTS_PAIR_BITS != pw->block) {
		log_error("index: a full-text pair record is corrupt");
		return IDX_CORRUPT;
	}
	for (i = 0; i < n; i++)
		uids_push(pw->out, pw->buf[i]);
	return IDX_OK;
}

/* The UIDs (ascending) of the messages with a token pair (a, sep, b):
 * a any of the tokens as, b the word bytes w (whole) or any token that
 * starts with them (!whole); in every block below blocks, or only in
 * those of filter (and then only filter's UIDs). */
static int
pairs_uids(struct idx_txn *txn, uint32_t gen, uint32_t blocks,
	   const struct tok_matches *as, const uint8_t *sep, size_t slen,
	   const uint8_t *w, size_t wlen, bool whole,
	   const struct uid_list *filter, struct uid_list *out)
{
	uint8_t *val = xmalloc(FTS_POST_VAL_MAX), key[FTS_PAIR_KEY_MAX];
	uint8_t body[FTS_PAIR_BODY_MAX];
	uint32_t *buf = xreallocarray(NULL, FTS_BLOCK_UIDS, sizeof(*buf));
	struct pair_walk pw = { 0, buf, out };
	uint32_t b;
	size_t i = 0, k, start, klen;
	int r = IDX_OK;

	out->n = 0;
	while (r == IDX_OK &&
	       block_next_bits(filter, blocks, FTS_PAIR_BITS, &i, &b)) {
		start = out->n;
		pw.block = b;
		for (k = 0; k < as->n && r == IDX_OK; k++) {
			klen = pair_key(key, gen, b, body,
					pair_body(body, as->v[k].s,
						  as->v[k].len, sep, slen, w,
						  wlen));
			if (whole) {
				r = rec_uids(txn, key, klen, b, FTS_PAIR_BITS,
					     val, buf, out);
			} else {
				r = idx_walk(txn, IDX_DB_FTS_POST, key, klen,
					     klen, pair_cb, &pw);
			}
		}
		if (out->n - start > 1) {
			size_t j, x = start + 1;

			qsort(out->v + start, out->n - start,
			      sizeof(*out->v), cmp_u32);
			for (j = start + 1; j < out->n; j++)
				if (out->v[j] != out->v[x - 1])
					out->v[x++] = out->v[j];
			out->n = x;
		}
	}
	free(val);
	free(buf);
	if (r == IDX_OK && filter != NULL)
		uids_and(out, filter);
	return r;
}

/* The pair conditions of a needle with word bytes and separators: for
 * every two neighbouring runs of word bytes p and q with the
 * separator s between them (1..FTS_SEP_MAX bytes), the messages
 * (without 'L') with a token pair (a, s, b) where a is p if a
 * separator is before p in the needle, else a token that ends with p
 * (from the dictionary: p of 3 bytes or more, at most FTS_PAIR_SIDES
 * tokens, else no condition), and b is q if a separator is after q,
 * else a token that starts with q. *t is the intersection (*have if
 * there was a condition). *exact: the needle is p s q alone and its
 * pair made a condition, so *t is the answer for the posted messages
 * without 'L'. */
static int
search_pairs(struct idx_txn *txn, const struct fts_state *st,
	     const uint8_t *needle, size_t len, struct uid_list *t,
	     bool *have, bool *exact)
{
	struct uid_list u = { 0 };
	struct tok_matches m = { .max = FTS_PAIR_SIDES };
	size_t i = 0, ps = 0, pl = 0, s, sep, runs = 0;
	bool lead = !is_word(needle[0]), trail = !is_word(needle[len - 1]);
	bool used = false;
	int r = IDX_OK;

	*have = *exact = false;
	t->n = 0;
	while (i < len && r == IDX_OK) {
		for (sep = i; i < len && !is_word(needle[i]); i++)
			;
		if (i == len)
			break;
		for (s = i; i < len && is_word(needle[i]); i++)
			;
		runs++;
		if (pl == 0 || s - sep > FTS_SEP_MAX)
			goto next;
		m.n = 0;
		m.over = false;
		if (pl > FTS_TOKEN_MAX || i - s > FTS_TOKEN_MAX) {
			/* No such token outside 'L': no pair. */
		} else if (ps > 0 || lead) {
			matches_push(&m, needle + ps, pl);
		} else if (pl < 3) {
			goto next;	/* too many tokens end with it */
		} else {
			if ((r = dict_match(txn, st->gen, needle + ps, pl,
					    TOK_SUFFIX, &m)) != IDX_OK)
				break;
			if (m.over || m.n >= FTS_PAIR_SIDES)
				goto next;	/* too many: no condition */
			/* The dictionary holds tokens of 4 bytes or more. */
			if (pl < FTS_DICT_MIN)
				matches_push(&m, needle + ps, pl);
		}
		if (m.n == 0)
			u.n = 0;
		else if ((r = pairs_uids(txn, st->gen, st->blocks, &m,
					 needle + sep, s - sep, needle + s,
					 i - s, i < len, *have ? t : NULL,
					 &u)) != IDX_OK)
			break;
		if (*have)
			uids_and(t, &u);
		else {
			struct uid_list x = *t;

			*t = u;
			u = x;
			*have = true;
		}
		used = runs == 2;
		if (t->n == 0)
			break;
next:
		ps = s;
		pl = i - s;
	}
	if (r == IDX_OK && *have && t->n == 0) {
		/* Empty: exact whatever the rest of the needle. */
		*exact = true;
	} else if (r == IDX_OK && used && runs == 2 && !lead && !trail) {
		*exact = true;
	}
	free(u.v);
	free(m.v);
	return r;
}

/* A needle with word bytes and separators: each maximal run of word
 * bytes w in it that has a separator after it ends a token, one with a
 * separator before starts one, one with both is one; the messages
 * (without 'L') that have such tokens for every run, and their grams,
 * are the candidates, plus the 'L' messages by grams. Runs of fewer
 * than FTS_DICT_MIN bytes that only start or end a token, or that
 * match too many tokens, add no condition. Not exact: to be checked. */
static int
search_span(struct idx_txn *txn, const struct fts_state *st,
	    const uint8_t *needle, size_t len, struct fts_reader *rd,
	    struct uid_list *cand, bool *exact)
{
	struct uid_list t = { 0 }, u = { 0 };
	struct tok_matches m = { 0 };
	bool have = false;
	size_t i, s, pass;
	int r = IDX_OK;

	/* Token pairs first: exact for "p s q", else a filter. */
	*exact = false;
	if (st->pairs && (r = search_pairs(txn, st, needle, len, &t, &have,
					    exact)) != IDX_OK)
		goto out;
	if (*exact) {
		struct uid_list x = *cand;

		*cand = t;
		t = x;
		r = add_longs(txn, st, needle, len, true, rd, cand);
		goto out;
	}

	/* Whole tokens first (one posting list each), then the others. */
	for (pass = 0; pass < 2 && r == IDX_OK; pass++) {
		for (i = 0; i < len && r == IDX_OK;) {
			bool left, right;
			size_t wl;

			if (!is_word(needle[i])) {
				i++;
				continue;
			}
			for (s = i; i < len && is_word(needle[i]); i++)
				;
			left = s > 0;
			right = i < len;
			wl = i - s;
			if ((left && right) != (pass == 0))
				continue;
			m.n = 0;
			m.over = false;
			if (wl > FTS_TOKEN_MAX) {
				/* No token that long outside 'L'. */
			} else if (left && right) {
				matches_push(&m, needle + s, wl);
			} else if (wl < FTS_DICT_MIN) {
				continue;
			} else if ((r = dict_match(txn, st->gen, needle + s,
						   wl, left ? TOK_PREFIX :
						   right ? TOK_SUFFIX : TOK_IN,
						   &m)) !=
				   IDX_OK) {
				break;
			} else if (m.over) {
				continue;
			}
			if (m.n == 0)
				u.n = 0;
			else if ((r = tokens_uids(txn, st->gen, st->blocks, &m,
						  have ? &t : NULL, &u)) !=
				 IDX_OK)
				break;
			if (have)
				uids_and(&t, &u);
			else {
				struct uid_list x = t;

				t = u;
				u = x;
				have = true;
			}
			if (t.n == 0)
				break;
		}
		if (have && t.n == 0)
			break;
	}
	if (r == IDX_OK)
		r = candidates(txn, st->gen, st->blocks, needle, len,
			       have ? &t : NULL, cand);
	if (r == IDX_OK && have)
		r = add_longs(txn, st, needle, len, false, NULL, cand);
out:
	free(t.v);
	free(u.v);
	free(m.v);
	return r;
}

int
idx_fts_search(struct idx_txn *txn, uint32_t id, const void *needle,
	       size_t len, struct idx_fts_result *res)
{
	struct uid_list cand = { 0 }, tombs = { 0 }, extra = { 0 };
	struct fts_reader rd = { 0 };
	struct fts_state st;
	const uint8_t *nd = needle;
	size_t i, j, words = 0;
	bool exact = len <= 3;
	int r;

	res->count = 0;
	if (len == 0 || needle == NULL)
		return IDX_INVAL;
	if ((r = state_get(txn, id, &st, 0)) != IDX_OK)
		return r;
	/* No segment holds a NUL or more than the largest text. */
	if (memchr(needle, 0, len) != NULL || len > IDX_FTS_TEXT_MAX)
		return IDX_OK;
	if (st.gen == 0)
		return IDX_OK;
	for (i = 0; i < len; i++)
		words += is_word(nd[i]);
	if (st.blocks > 0) {
		r = FTS_I_STOP;
		if (len > 3 && words == len) {
			r = search_in_token(txn, &st, nd, len, &rd, &cand);
			exact = r == IDX_OK;
		} else if (len > 3 && words > 0) {
			r = search_span(txn, &st, nd, len, &rd, &cand, &exact);
		}
		if (r == FTS_I_STOP)
			r = candidates(txn, st.gen, st.blocks, nd, len, NULL,
				       &cand);
		if (r != IDX_OK)
			goto out;
	}
	if (cand.n > 0 && st.tombs > 0) {
		if ((r = markers_list(txn, st.gen, ST_TOMB, SIZE_MAX,
				      UINT64_MAX, &tombs)) != IDX_OK)
			goto out;
		uids_minus(&cand, &tombs);
	}
	if (!exact &&
	    (r = check_texts(txn, st.gen, nd, len, &rd, &cand)) != IDX_OK)
		goto out;
	if ((st.tail > 0 && (r = scan_markers(txn, st.gen, ST_TAIL, nd,
					      len, &rd, &extra)) != IDX_OK) ||
	    (st.job > 0 && (r = scan_markers(txn, st.gen, ST_JOB, nd,
					     len, &rd, &extra)) != IDX_OK) ||
	    (st.scan > 0 && (r = scan_markers(txn, st.gen, ST_SCAN, nd,
					      len, &rd, &extra)) != IDX_OK))
		goto out;
	if (extra.n > 1)
		qsort(extra.v, extra.n, sizeof(*extra.v), cmp_u32);
	/* Merge: a job message may be both posted and scanned. */
	for (i = j = 0; i < cand.n || j < extra.n;) {
		if (j == extra.n || (i < cand.n && cand.v[i] < extra.v[j]))
			result_push(res, cand.v[i++]);
		else if (i == cand.n || extra.v[j] < cand.v[i])
			result_push(res, extra.v[j++]);
		else {
			result_push(res, cand.v[i++]);
			j++;
		}
	}
	r = IDX_OK;
out:
	free(cand.v);
	free(tombs.v);
	free(extra.v);
	reader_free(&rd);
	return r;
}
