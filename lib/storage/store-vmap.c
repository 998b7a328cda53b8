/*
 * store-vmap: the "view map", a compact copy of what a session's view
 * holds (UID, flags, keywords, modseq) for every message of a mailbox,
 * so that SELECT and NOOP read about 10 bytes a message in a few large
 * records instead of walking every message record (which carries the
 * backend's blob and costs a B-tree page per ~30 messages). It lives in
 * the index's journal space (meta.db) and is derived from the message
 * records; store_txn_commit keeps it in step in the same transaction.
 *
 *   key "V" be32(id)            header: u8 version | u32 messages |
 *                               u64 highestmodseq (written by every
 *                               commit: small, so it stays in a page)
 *   key "L" be32(id)            the chunks present: be32 c, ascending
 *                               (written when a chunk comes or goes)
 *   key "V" be32(id) be32(c)    chunk c (UIDs c*128 .. c*128+127, under
 *                               4 kB: no overflow pages to rewrite):
 *                               u8 version | u16 count | entries, each
 *                               u16 uid-c*1024 | u8 flags |
 *                               varint keywords | varint modseq
 *
 * The map is trusted only when its header matches the mailbox record
 * (message count and highestmodseq): anything that changes messages
 * outside store_txn_commit leaves it stale, and a stale or missing map
 * makes the next load walk the messages and rebuild it. Both checks are
 * on every load, so a wrong map is never served.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/str.h"
#include "storage/store-private.h"

#define VMAP_VERSION 1
#define VMAP_SHIFT 7	/* a change of the layout needs a new VMAP_VERSION */
#define VMAP_CHUNK (1u << VMAP_SHIFT)
/* 2 + 1 + 10 + 10 bytes per entry at most */
#define VMAP_CHUNK_MAX (3 + VMAP_CHUNK * 23)
#define VMAP_HDR_LEN 13

static size_t
hdr_key(uint8_t *k, uint32_t id)
{
	k[0] = 'V';
	k[1] = (uint8_t)(id >> 24);
	k[2] = (uint8_t)(id >> 16);
	k[3] = (uint8_t)(id >> 8);
	k[4] = (uint8_t)id;
	return 5;
}

static size_t
chunk_key(uint8_t *k, uint32_t id, uint32_t c)
{
	hdr_key(k, id);
	k[5] = (uint8_t)(c >> 24);
	k[6] = (uint8_t)(c >> 16);
	k[7] = (uint8_t)(c >> 8);
	k[8] = (uint8_t)c;
	return 9;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static size_t
varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static bool
varint_get(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;

	for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;

		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return true;
		}
	}
	return false;
}

/* ---- the header ------------------------------------------------------ */

struct vhdr {
	uint32_t messages;
	uint64_t modseq;
	ARRAY(uint32_t) chunks;  /* sorted */
};

static size_t
list_key(uint8_t *k, uint32_t id)
{
	hdr_key(k, id);
	k[0] = 'L';
	return 5;
}

/* IDX_OK, IDX_NOTFOUND, or IDX_CORRUPT for a bad header or list. */
static int
hdr_read(struct idx_txn *txn, uint32_t id, struct vhdr *h)
{
	uint8_t key[9], hb[VMAP_HDR_LEN], *buf;
	size_t len, cap = 16384;
	int r;

	memset(h, 0, sizeof(*h));
	r = idx_journal_get(txn, key, hdr_key(key, id), hb, sizeof(hb), &len);
	if (r == IDX_LIMIT)
		return IDX_CORRUPT;
	if (r != IDX_OK)
		return r;
	if (len != VMAP_HDR_LEN || hb[0] != VMAP_VERSION)
		return IDX_CORRUPT;
	h->messages = get32(hb + 1);
	h->modseq = (uint64_t)get32(hb + 5) << 32 | get32(hb + 9);
	buf = xmalloc(cap);
	r = idx_journal_get(txn, key, list_key(key, id), buf, cap, &len);
	if (r == IDX_LIMIT && len <= IDX_JOURNAL_MAX) {
		cap = len;
		buf = xrealloc(buf, cap);
		r = idx_journal_get(txn, key, list_key(key, id), buf, cap,
				    &len);
	}
	if (r == IDX_NOTFOUND) {
		len = 0;
		r = IDX_OK;
	}
	if (r == IDX_OK && len % 4 != 0)
		r = IDX_CORRUPT;
	for (size_t i = 0; r == IDX_OK && i < len; i += 4) {
		uint32_t c = get32(buf + i);

		if (h->chunks.n > 0 && h->chunks.v[h->chunks.n - 1] >= c)
			r = IDX_CORRUPT;
		else
			arr_push(&h->chunks, c);
	}
	free(buf);
	if (r != IDX_OK)
		arr_free(&h->chunks);
	return r;
}

static int
hdr_write(struct idx_txn *txn, uint32_t id, const struct vhdr *h,
	  bool list_changed)
{
	uint8_t key[9], hb[VMAP_HDR_LEN], *buf;
	size_t len = 4 * h->chunks.n;
	int r;

	hb[0] = VMAP_VERSION;
	put32(hb + 1, h->messages);
	put32(hb + 5, (uint32_t)(h->modseq >> 32));
	put32(hb + 9, (uint32_t)h->modseq);
	if ((r = idx_journal_put(txn, key, hdr_key(key, id), hb,
				 sizeof(hb))) != IDX_OK || !list_changed)
		return r;
	if (len == 0) {
		r = idx_journal_delete(txn, key, list_key(key, id));
		return r == IDX_NOTFOUND ? IDX_OK : r;
	}
	if (len > IDX_JOURNAL_MAX)
		return IDX_LIMIT;
	buf = xmalloc(len);
	for (size_t i = 0; i < h->chunks.n; i++)
		put32(buf + 4 * i, h->chunks.v[i]);
	r = idx_journal_put(txn, key, list_key(key, id), buf, len);
	free(buf);
	return r;
}

/* ---- chunks ------------------------------------------------------------ */

struct ventry {
	uint32_t uid;
	uint8_t flags;
	uint64_t keywords, modseq;
};
typedef ARRAY(struct ventry) ventries;

/* Calls fn for each entry of chunk c (UIDs ascending and above *last,
 * which it advances). */
static int
chunk_each(const uint8_t *p, size_t len, uint32_t c, uint32_t *last,
	   int (*fn)(const struct ventry *e, void *ctx), void *ctx)
{
	const uint8_t *end = p + len;
	uint16_t n;
	int r;

	if (len < 3 || p[0] != VMAP_VERSION)
		return IDX_CORRUPT;
	n = (uint16_t)(p[1] << 8 | p[2]);
	p += 3;
	for (uint16_t i = 0; i < n; i++) {
		struct ventry e;
		uint32_t off;

		if (end - p < 3)
			return IDX_CORRUPT;
		off = (uint32_t)(p[0] << 8 | p[1]);
		e.flags = p[2];
		p += 3;
		if (off >= VMAP_CHUNK || (e.flags & ~IDX_F_ALL) ||
		    !varint_get(&p, end, &e.keywords) ||
		    !varint_get(&p, end, &e.modseq))
			return IDX_CORRUPT;
		e.uid = (c << VMAP_SHIFT) | off;
		if (e.uid == 0 || e.uid <= *last)
			return IDX_CORRUPT;
		*last = e.uid;
		if ((r = fn(&e, ctx)) != IDX_OK)
			return r;
	}
	return p == end ? IDX_OK : IDX_CORRUPT;
}

static int
push_entry(const struct ventry *e, void *ctx)
{
	arr_push((ventries *)ctx, *e);
	return IDX_OK;
}

static int
chunk_decode(const uint8_t *p, size_t len, uint32_t c, ventries *out)
{
	uint32_t last = 0;

	return chunk_each(p, len, c, &last, push_entry, out);
}

static int
chunk_read(struct idx_txn *txn, uint32_t id, uint32_t c, ventries *out,
	   uint8_t *buf)
{
	uint8_t key[9];
	size_t len;
	int r;

	r = idx_journal_get(txn, key, chunk_key(key, id, c), buf,
			    VMAP_CHUNK_MAX, &len);
	if (r == IDX_LIMIT)
		return IDX_CORRUPT;
	if (r != IDX_OK)
		return r;
	return chunk_decode(buf, len, c, out);
}

static int
chunk_write(struct idx_txn *txn, uint32_t id, uint32_t c,
	    const struct ventry *v, size_t n, uint8_t *buf)
{
	uint8_t key[9];
	size_t len = 3;

	if (n == 0) {
		int r = idx_journal_delete(txn, key, chunk_key(key, id, c));

		return r == IDX_NOTFOUND ? IDX_OK : r;
	}
	buf[0] = VMAP_VERSION;
	buf[1] = (uint8_t)(n >> 8);
	buf[2] = (uint8_t)n;
	for (size_t i = 0; i < n; i++) {
		uint32_t off = v[i].uid & (VMAP_CHUNK - 1);

		buf[len++] = (uint8_t)(off >> 8);
		buf[len++] = (uint8_t)off;
		buf[len++] = v[i].flags;
		len += varint_put(buf + len, v[i].keywords);
		len += varint_put(buf + len, v[i].modseq);
	}
	return idx_journal_put(txn, key, chunk_key(key, id, c), buf, len);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y ? 1 : 0;
}

static bool
hdr_has(const struct vhdr *h, uint32_t c)
{
	return h->chunks.n > 0 && bsearch(&c, h->chunks.v, h->chunks.n,
					  sizeof(uint32_t), cmp_u32) != NULL;
}

/* ---- applying a commit ---------------------------------------------- */

static int
cmp_change(const void *a, const void *b)
{
	const struct store_vmap_change *x = a, *y = b;

	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq ? 1 : 0;
}

int
store_vmap_apply(struct idx_txn *txn, uint32_t id,
		 const struct idx_mbox *before, const struct idx_mbox *after,
		 struct store_vmap_change *ch, size_t n)
{
	struct vhdr h;
	ventries cur = ARRAY_INIT, out = ARRAY_INIT;
	uint8_t *buf = NULL;
	bool chunks_changed = false, hdr_missing = false;
	size_t i = 0;
	int r;

	if (n == 0 && before->messages == after->messages &&
	    before->highestmodseq == after->highestmodseq)
		return IDX_OK;
	r = hdr_read(txn, id, &h);
	if (r == IDX_NOTFOUND) {
		/* no map yet: start one only for an empty mailbox */
		if (before->messages != 0)
			return IDX_OK;
		hdr_missing = true;
	} else if (r == IDX_CORRUPT) {
		arr_free(&h.chunks);
		return IDX_OK;	/* the next load rebuilds it */
	} else if (r != IDX_OK) {
		return r;
	} else if (h.messages != before->messages ||
		   h.modseq != before->highestmodseq) {
		arr_free(&h.chunks);
		return IDX_OK;	/* stale already */
	}
	store_qsort(ch, n, sizeof(*ch), cmp_change);
	buf = xmalloc(VMAP_CHUNK_MAX);
	while (i < n) {
		uint32_t c = ch[i].uid >> VMAP_SHIFT;
		size_t j = i, k = 0;

		while (j < n && (ch[j].uid >> VMAP_SHIFT) == c)
			j++;
		cur.n = 0;
		out.n = 0;
		if (hdr_has(&h, c) &&
		    (r = chunk_read(txn, id, c, &cur, buf)) != IDX_OK) {
			if (r == IDX_CORRUPT || r == IDX_NOTFOUND)
				r = IDX_OK;	/* leave the map stale */
			goto out;
		}
		/* merge the sorted changes (the last for a UID wins) */
		for (size_t q = i; q < j; q++) {
			const struct store_vmap_change *x = &ch[q];

			if (q + 1 < j && ch[q + 1].uid == x->uid)
				continue;
			while (k < cur.n && cur.v[k].uid < x->uid)
				arr_push(&out, cur.v[k++]);
			if (k < cur.n && cur.v[k].uid == x->uid)
				k++;
			if (!x->del) {
				struct ventry e = { x->uid, x->flags,
						    x->keywords, x->modseq };

				arr_push(&out, e);
			}
		}
		while (k < cur.n)
			arr_push(&out, cur.v[k++]);
		if ((r = chunk_write(txn, id, c, out.v, out.n, buf)) != IDX_OK)
			goto out;
		if ((out.n > 0) != hdr_has(&h, c)) {
			chunks_changed = true;
			if (out.n > 0) {
				arr_push(&h.chunks, c);
				store_qsort(h.chunks.v, h.chunks.n, sizeof(uint32_t),
				      cmp_u32);
			} else {
				uint32_t *p = bsearch(&c, h.chunks.v,
						      h.chunks.n,
						      sizeof(uint32_t),
						      cmp_u32);

				arr_del(&h.chunks, (size_t)(p - h.chunks.v));
			}
		}
		i = j;
	}
	h.messages = after->messages;
	h.modseq = after->highestmodseq;
	r = hdr_write(txn, id, &h, chunks_changed || hdr_missing);
out:
	free(buf);
	arr_free(&cur);
	arr_free(&out);
	arr_free(&h.chunks);
	return r;
}

/* ---- loading and rebuilding --------------------------------------------- */

/* One cursor walk over the map's records (the header, then the chunks
 * in key order, i.e. ascending) instead of a look-up per chunk: a
 * 100,000-message map is ~780 chunks. */
struct vload {
	const struct vhdr *h;
	size_t next;             /* h->chunks[next] is the chunk due */
	uint32_t last;           /* the last UID handed out */
	size_t total;
	int (*cb)(uint32_t uid, uint8_t flags, uint64_t keywords,
		  uint64_t modseq, void *ctx);
	void *ctx;
};

static int
vload_entry(const struct ventry *e, void *vctx)
{
	struct vload *l = vctx;

	l->total++;
	return l->cb(e->uid, e->flags, e->keywords, e->modseq, l->ctx);
}

static int
vload_cb(const void *key, size_t klen, const void *data, size_t len,
	 void *vctx)
{
	struct vload *l = vctx;
	uint32_t c;

	if (klen == 5)
		return IDX_OK;          /* the header, read already */
	if (klen != 9)
		return IDX_CORRUPT;
	c = get32((const uint8_t *)key + 5);
	/* every chunk the list names, and no other */
	if (l->next >= l->h->chunks.n || l->h->chunks.v[l->next] != c)
		return IDX_CORRUPT;
	l->next++;
	return chunk_each(data, len, c, &l->last, vload_entry, l);
}

int
store_vmap_load(struct idx_txn *txn, uint32_t id, const struct idx_mbox *rec,
		int (*cb)(uint32_t uid, uint8_t flags, uint64_t keywords,
			  uint64_t modseq, void *ctx),
		void *ctx)
{
	struct vhdr h;
	struct vload l = { .h = &h, .cb = cb, .ctx = ctx };
	uint8_t key[9];
	int r;

	if ((r = hdr_read(txn, id, &h)) != IDX_OK)
		return r == IDX_CORRUPT ? IDX_NOTFOUND : r;
	if (h.messages != rec->messages || h.modseq != rec->highestmodseq) {
		arr_free(&h.chunks);
		return IDX_NOTFOUND;
	}
	r = idx_journal_walk(txn, key, hdr_key(key, id), vload_cb, &l);
	if (r == IDX_OK && l.next != h.chunks.n)
		r = IDX_CORRUPT;
	arr_free(&h.chunks);
	if (r == IDX_CORRUPT || (r == IDX_OK && l.total != rec->messages))
		return IDX_NOTFOUND;
	return r;
}

int
store_vmap_build(struct idx_txn *txn, uint32_t id, const struct idx_mbox *rec,
		 const struct store_vmap_change *msgs, size_t n)
{
	struct vhdr h;
	uint8_t *buf = xmalloc(VMAP_CHUNK_MAX);
	ventries v = ARRAY_INIT;
	size_t i = 0;
	int r = IDX_OK;

	if ((r = store_vmap_drop(txn, id)) != IDX_OK) {
		free(buf);
		return r;
	}
	memset(&h, 0, sizeof(h));
	while (i < n && r == IDX_OK) {
		uint32_t c = msgs[i].uid >> VMAP_SHIFT;

		v.n = 0;
		for (; i < n && (msgs[i].uid >> VMAP_SHIFT) == c; i++) {
			struct ventry e = { msgs[i].uid, msgs[i].flags,
					    msgs[i].keywords, msgs[i].modseq };

			arr_push(&v, e);
		}
		r = chunk_write(txn, id, c, v.v, v.n, buf);
		arr_push(&h.chunks, c);
	}
	if (r == IDX_OK) {
		h.messages = rec->messages;
		h.modseq = rec->highestmodseq;
		r = hdr_write(txn, id, &h, true);
	}
	free(buf);
	arr_free(&v);
	arr_free(&h.chunks);
	return r;
}

int
store_vmap_drop(struct idx_txn *txn, uint32_t id)
{
	struct vhdr h;
	uint8_t key[9];
	int r = hdr_read(txn, id, &h);

	if (r == IDX_NOTFOUND)
		return IDX_OK;
	if (r == IDX_OK) {
		for (size_t i = 0; i < h.chunks.n && r == IDX_OK; i++) {
			r = idx_journal_delete(txn, key,
					       chunk_key(key, id, h.chunks.v[i]));
			if (r == IDX_NOTFOUND)
				r = IDX_OK;
		}
		arr_free(&h.chunks);
	} else if (r != IDX_CORRUPT) {
		return r;
	}
	/* A corrupt header: its chunks are orphans (never read without a
	 * header naming them; overwritten when named again). */
	if (r != IDX_OK && r != IDX_CORRUPT)
		return r;
	r = idx_journal_delete(txn, key, list_key(key, id));
	if (r != IDX_OK && r != IDX_NOTFOUND)
		return r;
	r = idx_journal_delete(txn, key, hdr_key(key, id));
	return r == IDX_NOTFOUND ? IDX_OK : r;
}
