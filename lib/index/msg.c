/*
 * index messages: per-message records keyed be32(mailbox id) |
 * be32(uid), so a UID range is one cursor walk; the Maildir name map;
 * the parsed-field cache. Callers: the storage layer, inside
 * idx_txn_run. The mailbox counters (messages, unseen, deleted, size)
 * and highestmodseq follow every put and delete through the
 * transaction's mailbox slot (mailbox.c).
 */
#include <string.h>

#include "core/log.h"
#include "index/private.h"

/* Returned by walk callbacks to end a walk early without an error. */
#define IDX_I_STOP (-10)

static int
msg_read(struct idx_txn *txn, uint32_t id, uint32_t uid, struct idx_msg *out,
	 uint32_t flags)
{
	uint8_t key[8], buf[IDX_MSG_REC_MAX];
	size_t len;
	int r;

	idx_msg_key(key, id, uid);
	r = idx_get(txn, IDX_DB_MSGS, key, sizeof(key), buf, sizeof(buf), &len,
		    flags);
	if (r == IDX_LIMIT || (r == IDX_OK &&
			       idx_msg_decode(buf, len, out) != IDX_OK)) {
		log_error("index: record of message %u in mailbox %u is corrupt",
			  uid, id);
		return IDX_CORRUPT;
	}
	return r;
}

static uint32_t
sub32(uint32_t a, uint32_t b, uint32_t id, const char *what)
{
	if (a < b) {
		log_warn("index: mailbox %u: %s count was wrong; fixed", id, what);
		return 0;
	}
	return a - b;
}

/* Adds (sign 1) or removes (sign -1) a message's share of the counters
 * of the slot's mailbox. */
static void
count(struct idx_slot *s, const struct idx_msg *m, int sign)
{
	uint32_t unseen = (m->flags & IDX_F_SEEN) ? 0 : 1;
	uint32_t deleted = (m->flags & IDX_F_DELETED) ? 1 : 0;

	if (sign > 0) {
		s->rec.messages++;
		s->rec.unseen += unseen;
		s->rec.deleted += deleted;
		s->rec.size += m->size;
	} else {
		s->rec.messages = sub32(s->rec.messages, 1, s->id, "message");
		s->rec.unseen = sub32(s->rec.unseen, unseen, s->id, "unseen");
		s->rec.deleted = sub32(s->rec.deleted, deleted, s->id,
				       "deleted");
		s->rec.size = s->rec.size >= m->size ? s->rec.size - m->size : 0;
	}
	s->dirty = true;
}

int
idx_msg_get(struct idx_txn *txn, uint32_t id, uint32_t uid,
	    struct idx_msg *out)
{
	return msg_read(txn, id, uid, out, 0);
}

int
idx_msg_put(struct idx_txn *txn, uint32_t id, uint32_t uid,
	    struct idx_msg *rec, unsigned flags)
{
	struct idx_slot *s = &txn->slot;
	struct idx_msg old;
	uint8_t key[8], buf[IDX_MSG_REC_MAX];
	size_t len;
	bool had;
	int r;

	if ((rec->flags & ~IDX_F_ALL) != 0 || rec->blob_len > IDX_BLOB_MAX)
		return IDX_INVAL;
	if ((r = idx_slot_load(txn, id)) != IDX_OK)
		return r;
	if (uid == 0 || uid >= s->rec.uidnext)
		return IDX_INVAL;
	r = msg_read(txn, id, uid, &old, DB_RMW);
	if (r != IDX_OK && r != IDX_NOTFOUND && r != IDX_CORRUPT)
		return r;
	/* A corrupt old record is replaced; its share of the counters is
	 * unknown and left as it was. */
	had = r == IDX_OK;
	if (flags & IDX_MSG_KEEP_MODSEQ) {
		if (rec->modseq > s->rec.highestmodseq) {
			s->rec.highestmodseq = rec->modseq;
			s->dirty = true;
		}
	} else {
		rec->modseq = idx_slot_modseq(txn);
	}
	if ((len = idx_msg_encode(rec, buf, sizeof(buf))) == 0)
		return IDX_INVAL;
	idx_msg_key(key, id, uid);
	if ((r = idx_put(txn, IDX_DB_MSGS, key, sizeof(key), buf, len, 0)) !=
	    IDX_OK)
		return r;
	if (had)
		count(s, &old, -1);
	count(s, rec, 1);
	return IDX_OK;
}

static int cache_delete_msg(struct idx_txn *txn, uint32_t id, uint32_t uid);

int
idx_msg_delete(struct idx_txn *txn, uint32_t id, uint32_t uid)
{
	struct idx_msg old;
	uint8_t key[8];
	uint64_t before;
	int r, rr;

	if ((r = idx_slot_load(txn, id)) != IDX_OK)
		return r;
	rr = msg_read(txn, id, uid, &old, DB_RMW);
	if (rr != IDX_OK && rr != IDX_CORRUPT)
		return rr;
	idx_msg_key(key, id, uid);
	if ((r = idx_del(txn, IDX_DB_MSGS, key, sizeof(key))) != IDX_OK)
		return r;
	if ((r = cache_delete_msg(txn, id, uid)) != IDX_OK)
		return r;
	if ((r = idx_fts_delete(txn, id, uid)) != IDX_OK)
		return r;
	if (rr == IDX_OK)
		count(&txn->slot, &old, -1);
	/* An expunge is a change QRESYNC clients learn from the modseq,
	 * and from the tombstone that says which UID went. */
	before = txn->slot.modseq_set ? txn->slot.modseq - 1 :
		 txn->slot.rec.highestmodseq;
	return idx_expunged_add(txn, id, uid, idx_slot_modseq(txn), before);
}

struct foreach_ctx {
	uint32_t hi;
	idx_msg_cb *cb;
	void *ctx;
};

static int
foreach_cb(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
	   void *ctx)
{
	struct foreach_ctx *fc = ctx;
	struct idx_msg m;
	uint32_t uid;

	if (klen != 8) {
		log_error("index: a message key is corrupt");
		return IDX_CORRUPT;
	}
	uid = idx_be32_get(key + 4);
	if (uid > fc->hi)
		return IDX_I_STOP;
	if (idx_msg_decode(val, vlen, &m) != IDX_OK) {
		log_error("index: record of message %u in mailbox %u is corrupt",
			  uid, idx_be32_get(key));
		return IDX_CORRUPT;
	}
	return fc->cb(uid, &m, fc->ctx);
}

int
idx_msg_foreach(struct idx_txn *txn, uint32_t id, uint32_t lo, uint32_t hi,
		idx_msg_cb *cb, void *ctx)
{
	struct foreach_ctx fc = { hi, cb, ctx };
	uint8_t start[8];
	int r;

	if (lo > hi)
		return IDX_OK;
	idx_msg_key(start, id, lo);
	r = idx_walk(txn, IDX_DB_MSGS, start, sizeof(start), 4, foreach_cb,
		     &fc);
	return r == IDX_I_STOP ? IDX_OK : r;
}

int
idx_msg_delete_all(struct idx_txn *txn, uint32_t id)
{
	struct idx_slot *s = &txn->slot;
	uint8_t prefix[4];
	int r;

	if ((r = idx_slot_load(txn, id)) != IDX_OK)
		return r;
	idx_be32_put(prefix, id);
	if ((r = idx_del_prefix(txn, IDX_DB_MSGS, prefix, 4)) != IDX_OK ||
	    (r = idx_del_prefix(txn, IDX_DB_NAMES, prefix, 4)) != IDX_OK ||
	    (r = idx_cache_delete_all(txn, id)) != IDX_OK ||
	    (r = idx_fts_drop(txn, id)) != IDX_OK)
		return r;
	s->rec.messages = s->rec.unseen = s->rec.deleted = 0;
	s->rec.size = 0;
	s->dirty = true;
	/* No tombstone per message: QRESYNC clients older than this fall
	 * back to their known UIDs. */
	if ((r = idx_expunged_clear(txn, id)) != IDX_OK)
		return r;
	return idx_expunged_start(txn, id, idx_slot_modseq(txn));
}

/* ---- Maildir names ----------------------------------------------------- */

static int
name_key(uint8_t *key, uint32_t id, const char *base, size_t *klen)
{
	size_t len;

	if (base == NULL || (len = strlen(base)) == 0 || len > IDX_BLOB_MAX)
		return IDX_INVAL;
	idx_be32_put(key, id);
	memcpy(key + 4, base, len);
	*klen = len + 4;
	return IDX_OK;
}

int
idx_name_get(struct idx_txn *txn, uint32_t id, const char *base,
	     uint32_t *uid)
{
	uint8_t key[4 + IDX_BLOB_MAX];
	size_t klen;
	int r;

	if ((r = name_key(key, id, base, &klen)) != IDX_OK)
		return r;
	return idx_get_u32(txn, IDX_DB_NAMES, key, klen, uid, 0);
}

int
idx_name_put(struct idx_txn *txn, uint32_t id, const char *base,
	     uint32_t uid)
{
	uint8_t key[4 + IDX_BLOB_MAX];
	size_t klen;
	int r;

	if ((r = name_key(key, id, base, &klen)) != IDX_OK)
		return r;
	if (uid == 0)
		return IDX_INVAL;
	return idx_put_u32(txn, IDX_DB_NAMES, key, klen, uid);
}

int
idx_name_delete(struct idx_txn *txn, uint32_t id, const char *base)
{
	uint8_t key[4 + IDX_BLOB_MAX];
	size_t klen;
	int r;

	if ((r = name_key(key, id, base, &klen)) != IDX_OK)
		return r;
	return idx_del(txn, IDX_DB_NAMES, key, klen);
}

/* ---- cache ------------------------------------------------------------- */

#define CACHE_KEY_MAX 13

/* The key of (kind, id, uid) in key; returns its length. With
 * uid_too false only the mailbox's prefix (for walks and deletes). */
static size_t
cache_key(uint8_t *key, enum idx_cache_kind kind, uint32_t id, uint32_t uid,
	  bool uid_too)
{
	size_t n = 0;

	if (kind != IDX_CACHE_STRUCT) {
		idx_be32_put(key, UINT32_MAX);
		key[4] = (uint8_t)kind;
		n = 5;
	}
	idx_be32_put(key + n, id);
	n += 4;
	if (uid_too) {
		idx_be32_put(key + n, uid);
		n += 4;
	}
	return n;
}

int
idx_cache_put(struct idx_txn *txn, enum idx_cache_kind kind, uint32_t id,
	      uint32_t uid, const void *data, size_t len)
{
	uint8_t key[CACHE_KEY_MAX];

	if (len > IDX_CACHE_MAX)
		return IDX_LIMIT;
	return idx_put(txn, IDX_DB_CACHE, key,
		       cache_key(key, kind, id, uid, true), data, len, 0);
}

int
idx_cache_get(struct idx_txn *txn, enum idx_cache_kind kind, uint32_t id,
	      uint32_t uid, void *buf, size_t cap, size_t *len)
{
	uint8_t key[CACHE_KEY_MAX];

	return idx_get(txn, IDX_DB_CACHE, key,
		       cache_key(key, kind, id, uid, true), buf, cap, len, 0);
}

int
idx_cache_delete(struct idx_txn *txn, enum idx_cache_kind kind, uint32_t id,
		 uint32_t uid)
{
	uint8_t key[CACHE_KEY_MAX];

	return idx_del(txn, IDX_DB_CACHE, key,
		       cache_key(key, kind, id, uid, true));
}

int
idx_cache_delete_all(struct idx_txn *txn, uint32_t id)
{
	uint8_t key[CACHE_KEY_MAX];
	int r;

	for (int k = 0; k < IDX_CACHE_KINDS; k++)
		if ((r = idx_del_prefix(txn, IDX_DB_CACHE, key,
					cache_key(key, (enum idx_cache_kind)k,
						  id, 0, false))) != IDX_OK)
			return r;
	return IDX_OK;
}

/* Deletes the cache records of message uid, of each kind. */
static int
cache_delete_msg(struct idx_txn *txn, uint32_t id, uint32_t uid)
{
	for (int k = 0; k < IDX_CACHE_KINDS; k++) {
		int r = idx_cache_delete(txn, (enum idx_cache_kind)k, id, uid);

		if (r != IDX_OK && r != IDX_NOTFOUND)
			return r;
	}
	return IDX_OK;
}

struct cache_foreach_ctx {
	size_t klen;
	uint32_t hi;
	idx_cache_cb *cb;
	void *ctx;
};

static int
cache_foreach_cb(const uint8_t *key, size_t klen, const uint8_t *val,
		 size_t vlen, void *ctx)
{
	struct cache_foreach_ctx *fc = ctx;
	uint32_t uid;

	if (klen != fc->klen) {
		log_error("index: a cache key is corrupt");
		return IDX_CORRUPT;
	}
	uid = idx_be32_get(key + klen - 4);
	if (uid > fc->hi)
		return IDX_I_STOP;
	return fc->cb(uid, val, vlen, fc->ctx);
}

int
idx_cache_foreach(struct idx_txn *txn, enum idx_cache_kind kind, uint32_t id,
		  uint32_t lo, uint32_t hi, idx_cache_cb *cb, void *ctx)
{
	struct cache_foreach_ctx fc = { 0, hi, cb, ctx };
	uint8_t start[CACHE_KEY_MAX];
	int r;

	if (lo > hi)
		return IDX_OK;
	fc.klen = cache_key(start, kind, id, lo, true);
	r = idx_walk(txn, IDX_DB_CACHE, start, fc.klen, fc.klen - 4,
		     cache_foreach_cb, &fc);
	return r == IDX_I_STOP ? IDX_OK : r;
}
