/*
 * index full-text: an exact n-gram index over the normalized text of each
 * message (doc/design.md "Full-text index").
 *
 * Three databases:
 *  fts-text   be32 id | be32 uid -> the message's normalized text, zlib
 *             compressed when that is smaller (idx_fts_text_decode);
 *  fts-post   be32 id | u8 n | gram[3] | be32 seg -> the sorted UIDs of
 *             one flushed batch ("segment") whose text contains the
 *             n-byte gram (n = 1, 2, 3; shorter grams zero-padded);
 *  fts-state  be32 id | 'S' -> counters; be32 id | 'P'/'X'/'D' | be32 uid
 *             -> "" for the tail (stored, not yet in postings), messages
 *             kept out of postings for good (too many grams: always
 *             scanned), and tombstones (deleted after being posted).
 *
 * Exactness: every 1-3 byte string of every segment of a posted message
 * is a gram of it, so a needle of <= 3 bytes is answered by one gram's
 * postings minus tombstones, and a longer needle's candidates (the
 * intersection of some of its trigrams' postings) are a superset that
 * memmem on the stored text filters. Tail and 'X' messages are scanned.
 * Every change happens inside the caller's transaction.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/log.h"
#include "core/str.h"
#include "index/private.h"

#define FTS_TEXT_LAYOUT 1u
#define FTS_STATE_LAYOUT 1u
#define FTS_METHOD_RAW 0u
#define FTS_METHOD_ZLIB 1u
#define FTS_TEXT_HDR 6		/* u8 layout | u8 method | be32 raw length */
#define FTS_STATE_LEN 21	/* u8 layout | 5 x be32 */
#define FTS_POST_KEY 12		/* be32 id | u8 n | gram[3] | be32 seg */
/* Largest posting value: a count and IDX_FTS_TAIL_MAX UIDs. */
#define FTS_POST_VAL_MAX (5 + 5 * IDX_FTS_TAIL_MAX)
/* Bounds of one flush's work: (gram, uid) pairs in memory and posting
 * records written in its transaction (Berkeley DB's lock table). */
#define FTS_FLUSH_PAIRS (256 * 1024)
/* Trigram lists read for a longer needle, and the candidate count below
 * which further lists are not worth reading (the check is cheaper). */
#define FTS_QUERY_GRAMS 8
#define FTS_QUERY_ENOUGH 32
/* zlib level of the stored text (design.md: measured). */
#define FTS_ZLIB_LEVEL 1

#define ST_COUNTERS 'S'
#define ST_TAIL 'P'
#define ST_SCAN 'X'
#define ST_TOMB 'D'

/* Walk callbacks end a walk early with this (never a public status). */
#define FTS_I_STOP (-20)

struct fts_state {
	uint32_t next_seg;	/* id of the next segment */
	uint32_t docs;		/* text records */
	uint32_t tail;		/* 'P' records */
	uint32_t scan;		/* 'X' records */
	uint32_t tombs;		/* 'D' records */
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
post_key(uint8_t key[FTS_POST_KEY], uint32_t id, uint32_t code, uint32_t seg)
{
	idx_be32_put(key, id);
	idx_be32_put(key + 4, code);
	idx_be32_put(key + 8, seg);
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
	uint8_t key[5], v[FTS_STATE_LEN];
	size_t len;
	int r;

	idx_be32_put(key, id);
	key[4] = ST_COUNTERS;
	r = idx_get(txn, IDX_DB_FTS_STATE, key, sizeof(key), v, sizeof(v), &len,
		    flags);
	if (r == IDX_NOTFOUND) {
		*st = (struct fts_state){ 0 };
		return IDX_OK;
	}
	if (r == IDX_LIMIT || (r == IDX_OK && (len != FTS_STATE_LEN ||
					      v[0] != FTS_STATE_LAYOUT))) {
		log_error("index: full-text state of mailbox %u is corrupt", id);
		return IDX_CORRUPT;
	}
	if (r != IDX_OK)
		return r;
	st->next_seg = idx_be32_get(v + 1);
	st->docs = idx_be32_get(v + 5);
	st->tail = idx_be32_get(v + 9);
	st->scan = idx_be32_get(v + 13);
	st->tombs = idx_be32_get(v + 17);
	return IDX_OK;
}

static int
state_put(struct idx_txn *txn, uint32_t id, const struct fts_state *st)
{
	uint8_t key[5], v[FTS_STATE_LEN];

	idx_be32_put(key, id);
	key[4] = ST_COUNTERS;
	v[0] = FTS_STATE_LAYOUT;
	idx_be32_put(v + 1, st->next_seg);
	idx_be32_put(v + 5, st->docs);
	idx_be32_put(v + 9, st->tail);
	idx_be32_put(v + 13, st->scan);
	idx_be32_put(v + 17, st->tombs);
	return idx_put(txn, IDX_DB_FTS_STATE, key, sizeof(key), v, sizeof(v), 0);
}

static int
marker_put(struct idx_txn *txn, uint32_t id, uint8_t type, uint32_t uid)
{
	uint8_t key[9];

	state_key(key, id, type, uid);
	return idx_put(txn, IDX_DB_FTS_STATE, key, sizeof(key), "", 0, 0);
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

static void
uids_sort_unique(struct uid_list *l)
{
	size_t i, j;
	bool sorted = true;

	for (i = 1; i < l->n && sorted; i++)
		sorted = l->v[i - 1] < l->v[i];
	if (sorted)
		return;
	qsort(l->v, l->n, sizeof(*l->v), cmp_u32);
	for (i = j = 0; i < l->n; i++)
		if (j == 0 || l->v[j - 1] != l->v[i])
			l->v[j++] = l->v[i];
	l->n = j;
}

struct marker_walk {
	struct uid_list *out;
	size_t max;
};

static int
marker_cb(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
	  void *ctx)
{
	struct marker_walk *mw = ctx;

	(void)val;
	if (klen != 9 || vlen != 0) {
		log_error("index: a full-text state record is corrupt");
		return IDX_CORRUPT;
	}
	if (mw->out->n >= mw->max)
		return FTS_I_STOP;
	uids_push(mw->out, idx_be32_get(key + 5));
	return IDX_OK;
}

/* The UIDs of markers of one type, ascending, at most max. */
static int
markers_list(struct idx_txn *txn, uint32_t id, uint8_t type, size_t max,
	     struct uid_list *out)
{
	struct marker_walk mw = { out, max };
	uint8_t start[5];
	int r;

	idx_be32_put(start, id);
	start[4] = type;
	r = idx_walk(txn, IDX_DB_FTS_STATE, start, sizeof(start), sizeof(start),
		     marker_cb, &mw);
	return r == FTS_I_STOP ? IDX_OK : r;
}

static int
flush(struct idx_txn *txn, uint32_t id, struct fts_state *st, size_t max)
{
	struct uid_list tail = { 0 };
	struct fts_reader rd = { 0 };
	struct fts_grams g = { 0 };
	uint64_t *pairs = NULL;
	uint32_t *uids = NULL;
	size_t npairs = 0, cap = 0, i, j, len;
	int r;

	if ((r = markers_list(txn, id, ST_TAIL, max, &tail)) != IDX_OK ||
	    tail.n == 0)
		goto out;
	g.tri = xcalloc(1, (size_t)1 << 21);
	for (i = 0; i < tail.n; i++) {
		uint32_t uid = tail.v[i];

		r = text_read(txn, id, uid, &rd, &len);
		if (r == IDX_NOTFOUND || r == IDX_CORRUPT) {
			/* A marker without (valid) text: drop it; the
			 * message then counts as not indexed. */
			if (r == IDX_CORRUPT) {
				uint8_t key[8];

				idx_msg_key(key, id, uid);
				if ((r = idx_del(txn, IDX_DB_FTS_TEXT, key,
						 sizeof(key))) != IDX_OK)
					goto out;
				st->docs = st->docs > 0 ? st->docs - 1 : 0;
			}
			if ((r = marker_del(txn, id, ST_TAIL, uid)) != IDX_OK)
				goto out;
			st->tail--;
			continue;
		}
		if (r != IDX_OK)
			goto out;
		if (!grams_collect(&g, rd.text, len)) {
			grams_clear(&g);
			if ((r = marker_del(txn, id, ST_TAIL, uid)) != IDX_OK ||
			    (r = marker_put(txn, id, ST_SCAN, uid)) != IDX_OK)
				goto out;
			st->tail--;
			st->scan++;
			continue;
		}
		if (npairs > 0 && npairs + g.n > FTS_FLUSH_PAIRS) {
			grams_clear(&g);
			break;
		}
		if (npairs + g.n > cap) {
			cap = npairs + g.n + cap;
			pairs = xreallocarray(pairs, cap, sizeof(*pairs));
		}
		for (j = 0; j < g.n; j++)
			pairs[npairs++] = (uint64_t)g.codes[j] << 32 | uid;
		grams_clear(&g);
		if ((r = marker_del(txn, id, ST_TAIL, uid)) != IDX_OK)
			goto out;
		st->tail--;
	}
	qsort(pairs, npairs, sizeof(*pairs), cmp_u64);
	uids = xreallocarray(NULL, IDX_FTS_TAIL_MAX, sizeof(*uids));
	for (i = 0; i < npairs; i = j) {
		uint8_t key[FTS_POST_KEY], val[FTS_POST_VAL_MAX];
		uint32_t code = (uint32_t)(pairs[i] >> 32);
		size_t n = 0, vlen;

		for (j = i; j < npairs && (uint32_t)(pairs[j] >> 32) == code;
		     j++)
			uids[n++] = (uint32_t)pairs[j];
		post_key(key, id, code, st->next_seg);
		vlen = idx_fts_postings_encode(uids, n, val, sizeof(val));
		if (vlen == 0)
			log_panic("index: full-text flush built a bad list");
		if ((r = idx_put(txn, IDX_DB_FTS_POST, key, sizeof(key), val,
				 vlen, 0)) != IDX_OK)
			goto out;
	}
	if (npairs > 0)
		st->next_seg++;
	r = IDX_OK;
out:
	free(tail.v);
	free(g.tri);
	free(g.codes);
	free(pairs);
	free(uids);
	reader_free(&rd);
	return r;
}

/* ---- public: writes -------------------------------------------------- */

int
idx_fts_add(struct idx_txn *txn, uint32_t id, uint32_t uid, const void *text,
	    size_t len)
{
	struct fts_state st;
	struct idx_msg m;
	uint8_t key[8], *rec;
	uLongf clen;
	size_t rlen;
	int r;

	if ((r = idx_require_write(txn)) != IDX_OK)
		return r;
	if (uid == 0 || (text == NULL && len > 0))
		return IDX_INVAL;
	if (len > IDX_FTS_TEXT_MAX)
		return IDX_LIMIT;
	if ((r = idx_msg_get(txn, id, uid, &m)) != IDX_OK)
		return r;
	if ((r = state_get(txn, id, &st, DB_RMW)) != IDX_OK)
		return r;
	idx_msg_key(key, id, uid);
	r = marker_has(txn, id, ST_TOMB, uid);
	if (r == IDX_OK)
		return IDX_EXISTS;
	if (r != IDX_NOTFOUND)
		return r;
	clen = compressBound((uLong)len);
	rec = xmalloc(FTS_TEXT_HDR + (len > clen ? len : clen));
	rec[0] = FTS_TEXT_LAYOUT;
	idx_be32_put(rec + 2, (uint32_t)len);
	if (len > 0 && compress2(rec + FTS_TEXT_HDR, &clen, text, (uLong)len,
				 FTS_ZLIB_LEVEL) == Z_OK && clen < len) {
		rec[1] = FTS_METHOD_ZLIB;
		rlen = FTS_TEXT_HDR + clen;
	} else {
		rec[1] = FTS_METHOD_RAW;
		if (len > 0)
			memcpy(rec + FTS_TEXT_HDR, text, len);
		rlen = FTS_TEXT_HDR + len;
	}
	r = idx_put(txn, IDX_DB_FTS_TEXT, key, sizeof(key), rec, rlen,
		    DB_NOOVERWRITE);
	free(rec);
	if (r != IDX_OK || (r = marker_put(txn, id, ST_TAIL, uid)) != IDX_OK)
		return r;
	st.docs++;
	st.tail++;
	if (st.tail >= IDX_FTS_TAIL_MAX &&
	    (r = flush(txn, id, &st, IDX_FTS_TAIL_MAX)) != IDX_OK)
		return r;
	return state_put(txn, id, &st);
}

int
idx_fts_flush(struct idx_txn *txn, uint32_t id)
{
	struct fts_state st;
	int r;

	if ((r = idx_require_write(txn)) != IDX_OK ||
	    (r = state_get(txn, id, &st, DB_RMW)) != IDX_OK)
		return r;
	if (st.tail == 0)
		return IDX_OK;
	if ((r = flush(txn, id, &st, IDX_FTS_TAIL_MAX)) != IDX_OK)
		return r;
	return state_put(txn, id, &st);
}

int
idx_fts_delete(struct idx_txn *txn, uint32_t id, uint32_t uid)
{
	struct fts_state st;
	uint8_t key[8];
	int r;

	if ((r = idx_require_write(txn)) != IDX_OK)
		return r;
	idx_msg_key(key, id, uid);
	r = idx_del(txn, IDX_DB_FTS_TEXT, key, sizeof(key));
	if (r == IDX_NOTFOUND)
		return IDX_OK;
	if (r != IDX_OK || (r = state_get(txn, id, &st, DB_RMW)) != IDX_OK)
		return r;
	st.docs = st.docs > 0 ? st.docs - 1 : 0;
	if ((r = marker_del(txn, id, ST_TAIL, uid)) == IDX_OK) {
		st.tail = st.tail > 0 ? st.tail - 1 : 0;
	} else if (r == IDX_NOTFOUND &&
		   (r = marker_del(txn, id, ST_SCAN, uid)) == IDX_OK) {
		st.scan = st.scan > 0 ? st.scan - 1 : 0;
	} else if (r == IDX_NOTFOUND) {
		/* In postings: they keep the UID, the tombstone hides it. */
		if ((r = marker_put(txn, id, ST_TOMB, uid)) != IDX_OK)
			return r;
		st.tombs++;
	} else {
		return r;
	}
	return state_put(txn, id, &st);
}

int
idx_fts_drop(struct idx_txn *txn, uint32_t id)
{
	uint8_t prefix[4];
	int r;

	idx_be32_put(prefix, id);
	if ((r = idx_del_prefix(txn, IDX_DB_FTS_TEXT, prefix, 4)) != IDX_OK ||
	    (r = idx_del_prefix(txn, IDX_DB_FTS_POST, prefix, 4)) != IDX_OK ||
	    (r = idx_del_prefix(txn, IDX_DB_FTS_STATE, prefix, 4)) != IDX_OK)
		return r;
	return IDX_OK;
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
	out->segments = st.next_seg;
	return IDX_OK;
}

struct missing_ctx {
	struct idx_txn *txn;
	uint32_t id;
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
	idx_msg_key(key, mc->id, uid);
	r = idx_get(mc->txn, IDX_DB_FTS_TEXT, key, sizeof(key), &b, 0, &len, 0);
	if (r == IDX_NOTFOUND)
		return mc->cb(uid, mc->ctx);
	return r == IDX_LIMIT ? IDX_OK : r;
}

int
idx_fts_unindexed(struct idx_txn *txn, uint32_t id, idx_fts_uid_cb *cb,
		  void *ctx)
{
	struct missing_ctx mc = { txn, id, cb, ctx };
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

struct post_walk {
	struct uid_list *out;
	uint32_t buf[IDX_FTS_TAIL_MAX];
};

static int
post_cb(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
	void *ctx)
{
	struct post_walk *pw = ctx;
	size_t n, i;

	if (klen != FTS_POST_KEY ||
	    idx_fts_postings_decode(val, vlen, pw->buf, IDX_FTS_TAIL_MAX, &n) !=
	    IDX_OK) {
		log_error("index: a full-text posting record is corrupt");
		return IDX_CORRUPT;
	}
	for (i = 0; i < n; i++)
		uids_push(pw->out, pw->buf[i]);
	return IDX_OK;
}

/* The UIDs of every segment's postings of one gram, sorted, unique. */
static int
gram_uids(struct idx_txn *txn, uint32_t id, uint32_t code,
	  struct uid_list *out)
{
	struct post_walk *pw = xmalloc(sizeof(*pw));
	uint8_t start[8];
	int r;

	out->n = 0;
	pw->out = out;
	idx_be32_put(start, id);
	idx_be32_put(start + 4, code);
	r = idx_walk(txn, IDX_DB_FTS_POST, start, sizeof(start), sizeof(start),
		     post_cb, pw);
	free(pw);
	if (r == IDX_OK)
		uids_sort_unique(out);
	return r;
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

/* Candidates from postings: exact for <= 3 bytes, a superset beyond. */
static int
candidates(struct idx_txn *txn, uint32_t id, const uint8_t *needle,
	   size_t len, struct uid_list *cand)
{
	struct uid_list next = { 0 };
	uint32_t codes[FTS_QUERY_GRAMS];
	size_t ncodes = 0, i, k, slots;
	int r = IDX_OK;

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
		if ((r = gram_uids(txn, id, codes[i], i == 0 ? cand : &next)) !=
		    IDX_OK)
			break;
		if (i > 0)
			uids_and(cand, &next);
		if (cand->n <= FTS_QUERY_ENOUGH)
			break;
	}
	free(next.v);
	return r;
}

static bool
text_has(const uint8_t *t, size_t tlen, const uint8_t *needle, size_t len)
{
	return tlen >= len && memmem(t, tlen, needle, len) != NULL;
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

	if ((r = markers_list(txn, id, type, SIZE_MAX, &l)) != IDX_OK)
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

int
idx_fts_search(struct idx_txn *txn, uint32_t id, const void *needle,
	       size_t len, struct idx_fts_result *res)
{
	struct uid_list cand = { 0 }, tombs = { 0 }, extra = { 0 };
	struct fts_reader rd = { 0 };
	struct fts_state st;
	size_t i, j, tlen;
	int r;

	res->count = 0;
	if (len == 0 || needle == NULL)
		return IDX_INVAL;
	if ((r = state_get(txn, id, &st, 0)) != IDX_OK)
		return r;
	/* No segment holds a NUL or more than the largest text. */
	if (memchr(needle, 0, len) != NULL || len > IDX_FTS_TEXT_MAX)
		return IDX_OK;
	if (st.next_seg > 0 &&
	    (r = candidates(txn, id, needle, len, &cand)) != IDX_OK)
		goto out;
	if (cand.n > 0 && st.tombs > 0) {
		if ((r = markers_list(txn, id, ST_TOMB, SIZE_MAX, &tombs)) !=
		    IDX_OK)
			goto out;
		uids_minus(&cand, &tombs);
	}
	if (len > 3) {
		for (i = j = 0; i < cand.n; i++) {
			r = text_read(txn, id, cand.v[i], &rd, &tlen);
			if (r == IDX_NOTFOUND)
				continue;
			if (r != IDX_OK)
				goto out;
			if (text_has(rd.text, tlen, needle, len))
				cand.v[j++] = cand.v[i];
		}
		cand.n = j;
	}
	if ((st.tail > 0 && (r = scan_markers(txn, id, ST_TAIL, needle, len,
					      &rd, &extra)) != IDX_OK) ||
	    (st.scan > 0 && (r = scan_markers(txn, id, ST_SCAN, needle, len,
					      &rd, &extra)) != IDX_OK))
		goto out;
	qsort(extra.v, extra.n, sizeof(*extra.v), cmp_u32);
	/* Merge: a UID is never both posted and in the tail. */
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
