/*
 * index expunged UIDs: the tombstones QRESYNC (RFC 7162 §3.2.5.2) needs
 * to tell a reconnecting client which of its UIDs vanished since a
 * modseq. Kept in meta under two key ranges per mailbox:
 *   'X' be32 id be64 modseq be32 uid -> u8 1        (one per expunge)
 *   'x' be32 id -> u8 1 | u32 count | u64 floor     (the summary)
 * Every expunge with a modseq above floor is remembered. At most
 * IDX_EXPUNGED_MAX (idx_env_opts.expunged_max) are kept: one more drops
 * the oldest down to 90% of that and raises floor to the last dropped
 * one's modseq. A mailbox without a summary (made before these
 * records existed) has floor = its highestmodseq until its first
 * expunge. Callers: idx_msg_delete (msg.c), the mailbox delete and reset
 * (mailbox.c), and the storage layer through idx_expunged_since.
 */
#include <string.h>

#include "core/log.h"
#include "index/private.h"

#define XKEY_LEN 17	/* 'X' id modseq uid */
#define XSUM_LEN 13	/* u8 1, u32 count, u64 floor */

struct xsum {
	uint32_t count;
	uint64_t floor;
};

static size_t
sum_key(uint8_t key[5], uint32_t id)
{
	key[0] = IDX_META_XSUM;
	idx_be32_put(key + 1, id);
	return 5;
}

static void
x_key(uint8_t key[XKEY_LEN], uint32_t id, uint64_t modseq, uint32_t uid)
{
	key[0] = IDX_META_XUID;
	idx_be32_put(key + 1, id);
	idx_be64_put(key + 5, modseq);
	idx_be32_put(key + 13, uid);
}

/* IDX_NOTFOUND when the mailbox has no summary yet. */
static int
sum_read(struct idx_txn *txn, uint32_t id, struct xsum *out, uint32_t flags)
{
	uint8_t key[5], val[XSUM_LEN];
	size_t len;
	int r;

	r = idx_get(txn, IDX_DB_META, key, sum_key(key, id), val,
		    sizeof(val), &len, flags);
	if (r == IDX_LIMIT || (r == IDX_OK &&
			       (len != XSUM_LEN || val[0] != 1))) {
		log_error("index: expunge summary of mailbox %u is corrupt",
			  id);
		return IDX_CORRUPT;
	}
	if (r != IDX_OK)
		return r;
	out->count = idx_be32_get(val + 1);
	out->floor = idx_be64_get(val + 5);
	if (out->count > IDX_EXPUNGED_MAX) {
		log_error("index: expunge summary of mailbox %u is corrupt",
			  id);
		return IDX_CORRUPT;
	}
	return IDX_OK;
}

static int
sum_write(struct idx_txn *txn, uint32_t id, const struct xsum *s)
{
	uint8_t key[5], val[XSUM_LEN];

	val[0] = 1;
	idx_be32_put(val + 1, s->count);
	idx_be64_put(val + 5, s->floor);
	return idx_put(txn, IDX_DB_META, key, sum_key(key, id), val,
		       sizeof(val), 0);
}

int
idx_expunged_start(struct idx_txn *txn, uint32_t id, uint64_t floor)
{
	struct xsum s = { 0, floor };

	return sum_write(txn, id, &s);
}

int
idx_expunged_clear(struct idx_txn *txn, uint32_t id)
{
	uint8_t key[5];
	int r;

	sum_key(key, id);
	key[0] = IDX_META_XUID;
	if ((r = idx_del_prefix(txn, IDX_DB_META, key, 5)) != IDX_OK)
		return r;
	r = idx_del(txn, IDX_DB_META, key, sum_key(key, id));
	return r == IDX_NOTFOUND ? IDX_OK : r;
}

/* Deletes the oldest `left` tombstones (the first keys of the range)
 * and notes the last one's modseq. */
struct trim_ctx {
	struct idx_txn *txn;
	uint64_t modseq;
	uint32_t left;
};

static int
trim_cb(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
	void *ctx)
{
	struct trim_ctx *tc = ctx;
	int r;

	(void)val;
	(void)vlen;
	if (klen != XKEY_LEN) {
		log_error("index: an expunge record is corrupt");
		return IDX_CORRUPT;
	}
	if ((r = idx_del(tc->txn, IDX_DB_META, key, klen)) != IDX_OK)
		return r;
	tc->modseq = idx_be64_get(key + 5);
	return --tc->left == 0 ? IDX_I_XSTOP : 0;
}

int
idx_expunged_add(struct idx_txn *txn, uint32_t id, uint32_t uid,
		 uint64_t modseq, uint64_t modseq_before)
{
	uint8_t key[XKEY_LEN], one = 1;
	struct xsum s;
	int r;

	r = sum_read(txn, id, &s, DB_RMW);
	if (r == IDX_NOTFOUND) {
		/* Older expunges of this mailbox were never recorded. */
		s.count = 0;
		s.floor = modseq_before;
	} else if (r != IDX_OK) {
		return r;
	}
	x_key(key, id, modseq, uid);
	if ((r = idx_put(txn, IDX_DB_META, key, sizeof(key), &one, 1, 0)) !=
	    IDX_OK)
		return r;
	s.count++;
	if (s.count > txn->env->opts.expunged_max) {
		/* Down to 90% of the bound in one walk, so a large EXPUNGE
		 * does not walk once per message. */
		uint32_t max = txn->env->opts.expunged_max;
		struct trim_ctx tc = { txn, 0, s.count - (max - max / 10) };
		uint8_t start[XKEY_LEN];

		x_key(start, id, 0, 0);
		r = idx_walk(txn, IDX_DB_META, start, sizeof(start), 5,
			     trim_cb, &tc);
		if (r != IDX_I_XSTOP)
			return r == IDX_OK ? IDX_CORRUPT : r;
		s.count = max - max / 10;
		if (tc.modseq > s.floor)
			s.floor = tc.modseq;
	}
	return sum_write(txn, id, &s);
}

struct since_ctx {
	idx_expunged_cb *cb;
	void *ctx;
};

static int
since_cb(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
	 void *ctx)
{
	struct since_ctx *sc = ctx;
	uint32_t uid;

	if (klen != XKEY_LEN || vlen != 1 || val[0] != 1 ||
	    (uid = idx_be32_get(key + 13)) == 0) {
		log_error("index: an expunge record is corrupt");
		return IDX_CORRUPT;
	}
	return sc->cb(uid, idx_be64_get(key + 5), sc->ctx);
}

int
idx_expunged_since(struct idx_txn *txn, uint32_t id, uint64_t since,
		   idx_expunged_cb *cb, void *ctx, uint64_t *floor)
{
	struct since_ctx sc = { cb, ctx };
	struct idx_mbox m;
	uint8_t start[XKEY_LEN];
	struct xsum s;
	int r;

	r = sum_read(txn, id, &s, 0);
	if (r == IDX_NOTFOUND) {
		/* Nothing was ever recorded: only what comes after now. */
		if ((r = idx_mbox_get_by_id(txn, id, NULL, 0, &m)) != IDX_OK)
			return r;
		*floor = m.highestmodseq;
		return IDX_OK;
	}
	if (r != IDX_OK)
		return r;
	*floor = s.floor;
	if (since == UINT64_MAX)
		return IDX_OK;
	x_key(start, id, since + 1, 0);
	return idx_walk(txn, IDX_DB_META, start, sizeof(start), 5, since_cb,
			&sc);
}
