/*
 * index mailboxes: the mailboxes database (name -> record), mailbox id
 * and UIDVALIDITY allocation, tombstones, UID allocation and \Recent.
 * Callers: the storage layer, inside idx_txn_run. Names come from the
 * storage layer, which has validated them; here only their length is
 * checked.
 *
 * UIDVALIDITY rules (RFC 9051 §2.3.1.1): a mailbox name that is deleted
 * (or renamed away) and created again must get a different value. Each
 * new value is the current time forced above the greatest value this
 * index handed out (meta U) and above the name's tombstone (meta T+name),
 * so values are also unique across mailboxes.
 */
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/str.h"
#include "index/private.h"

static int
name_check(const char *name, size_t *len)
{
	if (name == NULL)
		return IDX_INVAL;
	*len = strlen(name);
	return *len == 0 || *len > IDX_NAME_MAX ? IDX_INVAL : IDX_OK;
}

/* meta key type + bytes */
static size_t
meta_key(uint8_t *key, uint8_t type, const void *rest, size_t len)
{
	key[0] = type;
	memcpy(key + 1, rest, len);
	return len + 1;
}

static size_t
idname_key(uint8_t key[5], uint32_t id)
{
	key[0] = IDX_META_IDNAME;
	idx_be32_put(key + 1, id);
	return 5;
}

static int
mbox_read(struct idx_txn *txn, const char *name, struct idx_mbox *out,
	  uint32_t flags)
{
	uint8_t buf[IDX_MBOX_REC_MAX];
	size_t len;
	int r;

	r = idx_get(txn, IDX_DB_MAILBOXES, name, strlen(name), buf,
		    sizeof(buf), &len, flags);
	if (r == IDX_LIMIT || (r == IDX_OK &&
			       (r = idx_mbox_decode(buf, len, out)) != IDX_OK)) {
		log_error("index: mailbox record of %s is corrupt", name);
		return IDX_CORRUPT;
	}
	return r;
}

static int
mbox_write(struct idx_txn *txn, const char *name, const struct idx_mbox *m,
	   uint32_t flags)
{
	uint8_t buf[IDX_MBOX_REC_MAX];
	size_t len = idx_mbox_encode(m, buf, sizeof(buf));

	if (len == 0)
		return IDX_INVAL;
	return idx_put(txn, IDX_DB_MAILBOXES, name, strlen(name), buf, len,
		       flags);
}

/* The name of mailbox id into name[IDX_NAME_MAX + 1]. */
static int
id_to_name(struct idx_txn *txn, uint32_t id, char *name, uint32_t flags)
{
	uint8_t key[5];
	size_t len;
	int r;

	r = idx_get(txn, IDX_DB_META, key, idname_key(key, id), name,
		    IDX_NAME_MAX, &len, flags);
	if (r == IDX_OK && (len == 0 || memchr(name, '\0', len) != NULL))
		r = IDX_CORRUPT;
	if (r == IDX_LIMIT)
		r = IDX_CORRUPT;
	if (r == IDX_CORRUPT)
		log_error("index: name of mailbox %u is corrupt", id);
	if (r == IDX_OK)
		name[len] = '\0';
	return r;
}

static int
tomb_get(struct idx_txn *txn, const char *name, uint32_t *v)
{
	uint8_t key[IDX_KEY_MAX];
	size_t klen = meta_key(key, IDX_META_TOMB, name, strlen(name));
	int r = idx_get_u32(txn, IDX_DB_META, key, klen, v, 0);

	if (r == IDX_NOTFOUND) {
		*v = 0;
		r = IDX_OK;
	}
	return r;
}

static int
tomb_raise(struct idx_txn *txn, const char *name, uint32_t v)
{
	uint8_t key[IDX_KEY_MAX];
	size_t klen = meta_key(key, IDX_META_TOMB, name, strlen(name));
	uint32_t old;
	int r;

	if ((r = tomb_get(txn, name, &old)) != IDX_OK || old >= v)
		return r;
	return idx_put_u32(txn, IDX_DB_META, key, klen, v);
}

/* A new UIDVALIDITY for name (see the file comment). want != 0 is used
 * when it is above the name's tombstone. */
static int
uidvalidity_alloc(struct idx_txn *txn, const char *name, uint32_t want,
		  uint32_t *out)
{
	uint8_t key = IDX_META_LASTUV;
	uint32_t tomb, last = 0;
	uint64_t v, now;
	int r;

	if ((r = tomb_get(txn, name, &tomb)) != IDX_OK)
		return r;
	r = idx_get_u32(txn, IDX_DB_META, &key, 1, &last, DB_RMW);
	if (r != IDX_OK && r != IDX_NOTFOUND)
		return r;
	if (want != 0 && want > tomb) {
		v = want;
	} else {
		now = (uint64_t)time(NULL);
		v = now > UINT32_MAX ? UINT32_MAX : now;
		if (v < (uint64_t)last + 1)
			v = (uint64_t)last + 1;
		if (v < (uint64_t)tomb + 1)
			v = (uint64_t)tomb + 1;
		if (v > UINT32_MAX)
			return IDX_LIMIT;
	}
	if (v > last && (r = idx_put_u32(txn, IDX_DB_META, &key, 1,
					 (uint32_t)v)) != IDX_OK)
		return r;
	*out = (uint32_t)v;
	return IDX_OK;
}

/* ---- the per-transaction mailbox slot --------------------------------- */

int
idx_slot_flush(struct idx_txn *txn)
{
	struct idx_slot *s = &txn->slot;
	int r;

	if (!s->valid || !s->dirty)
		return IDX_OK;
	if ((r = mbox_write(txn, s->name, &s->rec, 0)) != IDX_OK)
		return r;
	s->dirty = false;
	return IDX_OK;
}

/* Flushes and forgets the slot (before renames and deletes). */
static int
slot_drop(struct idx_txn *txn)
{
	int r = idx_slot_flush(txn);

	txn->slot.valid = false;
	return r;
}

int
idx_slot_load(struct idx_txn *txn, uint32_t id)
{
	struct idx_slot *s = &txn->slot;
	int r;

	if ((r = idx_require_write(txn)) != IDX_OK)
		return r;
	if (s->valid && s->id == id)
		return IDX_OK;
	if ((r = slot_drop(txn)) != IDX_OK)
		return r;
	if (id == 0)
		return IDX_NOTFOUND;
	if ((r = id_to_name(txn, id, s->name, DB_RMW)) != IDX_OK)
		return r;
	r = mbox_read(txn, s->name, &s->rec, DB_RMW);
	if (r == IDX_NOTFOUND || (r == IDX_OK && s->rec.id != id)) {
		log_error("index: mailbox %u (%s) does not match its record",
			  id, s->name);
		return IDX_CORRUPT;
	}
	if (r != IDX_OK)
		return r;
	s->valid = true;
	s->dirty = false;
	s->modseq_set = false;
	s->id = id;
	return IDX_OK;
}

uint64_t
idx_slot_modseq(struct idx_txn *txn)
{
	struct idx_slot *s = &txn->slot;

	if (!s->modseq_set) {
		s->rec.highestmodseq++;
		s->modseq = s->rec.highestmodseq;
		s->modseq_set = true;
		s->dirty = true;
	}
	return s->modseq;
}

/* ---- public ----------------------------------------------------------- */

int
idx_mbox_create(struct idx_txn *txn, const char *name, uint32_t uidvalidity,
		struct idx_mbox *out)
{
	struct idx_mbox m;
	uint8_t nkey = IDX_META_NEXTID, key[5];
	uint32_t id;
	size_t len;
	int r;

	if ((r = idx_require_write(txn)) != IDX_OK ||
	    (r = name_check(name, &len)) != IDX_OK)
		return r;
	r = mbox_read(txn, name, &m, DB_RMW);
	if (r == IDX_OK)
		return IDX_EXISTS;
	if (r != IDX_NOTFOUND)
		return r;
	r = idx_get_u32(txn, IDX_DB_META, &nkey, 1, &id, DB_RMW);
	if (r == IDX_NOTFOUND)
		r = IDX_CORRUPT;
	if (r != IDX_OK)
		return r;
	if (id == 0 || id == UINT32_MAX)
		return IDX_LIMIT;
	if ((r = idx_put_u32(txn, IDX_DB_META, &nkey, 1, id + 1)) != IDX_OK)
		return r;
	memset(&m, 0, sizeof(m));
	m.id = id;
	m.uidnext = 1;
	m.recent_uid = 1;
	/* Modseqs start at the time << 20, not at 1: an index rebuilt
	 * under a client that keeps UIDVALIDITY (dovecot-uidlist, X-UID)
	 * must never hand out a modseq the client already holds for other
	 * data (RFC 7162 §3.1: they only grow), and the old index's
	 * modseqs stay below this as long as it made fewer than 2^20
	 * changes a second. The expunge history is complete from here. */
	m.highestmodseq = (uint64_t)(time(NULL) > 0 ? time(NULL) : 1) << 20;
	if ((r = uidvalidity_alloc(txn, name, uidvalidity,
				   &m.uidvalidity)) != IDX_OK ||
	    (r = mbox_write(txn, name, &m, DB_NOOVERWRITE)) != IDX_OK ||
	    (r = idx_put(txn, IDX_DB_META, key, idname_key(key, id), name, len,
			 0)) != IDX_OK ||
	    (r = idx_expunged_start(txn, id, m.highestmodseq)) != IDX_OK)
		return r;
	if (out != NULL)
		*out = m;
	return IDX_OK;
}

int
idx_mbox_get(struct idx_txn *txn, const char *name, struct idx_mbox *out)
{
	size_t len;
	int r;

	if ((r = name_check(name, &len)) != IDX_OK)
		return r;
	if (txn->slot.valid && str_eq(txn->slot.name, name)) {
		*out = txn->slot.rec;
		return IDX_OK;
	}
	return mbox_read(txn, name, out, 0);
}

int
idx_mbox_get_by_id(struct idx_txn *txn, uint32_t id, char *name,
		   size_t namecap, struct idx_mbox *out)
{
	char buf[IDX_NAME_MAX + 1];
	struct idx_mbox m;
	int r;

	if (txn->slot.valid && txn->slot.id == id) {
		memcpy(buf, txn->slot.name, sizeof(buf));
		m = txn->slot.rec;
	} else {
		if ((r = id_to_name(txn, id, buf, 0)) != IDX_OK)
			return r;
		r = mbox_read(txn, buf, &m, 0);
		if (r == IDX_NOTFOUND || (r == IDX_OK && m.id != id))
			r = IDX_CORRUPT;
		if (r != IDX_OK)
			return r;
	}
	if (name != NULL && str_copy(name, buf, namecap) < 0)
		return IDX_LIMIT;
	if (out != NULL)
		*out = m;
	return IDX_OK;
}

int
idx_mbox_update(struct idx_txn *txn, uint32_t id, const struct idx_mbox *rec)
{
	struct idx_slot *s = &txn->slot;
	int r;

	if ((r = idx_slot_load(txn, id)) != IDX_OK)
		return r;
	if (rec->stamp_len > IDX_STAMP_MAX || rec->recent_uid == 0 ||
	    rec->recent_uid > s->rec.uidnext)
		return IDX_INVAL;
	s->rec.recent_uid = rec->recent_uid;
	s->rec.stamp_len = rec->stamp_len;
	memcpy(s->rec.stamp, rec->stamp, rec->stamp_len);
	s->dirty = true;
	return IDX_OK;
}

/* Every record keyed by be32(id) in the per-message databases. */
static int
delete_messages(struct idx_txn *txn, uint32_t id)
{
	uint8_t prefix[4];
	int r;

	idx_be32_put(prefix, id);
	if ((r = idx_del_prefix(txn, IDX_DB_MSGS, prefix, 4)) != IDX_OK ||
	    (r = idx_del_prefix(txn, IDX_DB_NAMES, prefix, 4)) != IDX_OK ||
	    (r = idx_cache_delete_all(txn, id)) != IDX_OK ||
	    (r = idx_fts_drop(txn, id)) != IDX_OK)
		return r;
	return idx_expunged_clear(txn, id);
}

int
idx_mbox_delete(struct idx_txn *txn, const char *name)
{
	struct idx_mbox m;
	uint8_t prefix[4], key[5];
	size_t len;
	int r;

	if ((r = idx_require_write(txn)) != IDX_OK ||
	    (r = name_check(name, &len)) != IDX_OK ||
	    (r = slot_drop(txn)) != IDX_OK ||
	    (r = mbox_read(txn, name, &m, DB_RMW)) != IDX_OK)
		return r;
	idx_be32_put(prefix, m.id);
	if ((r = delete_messages(txn, m.id)) != IDX_OK ||
	    (r = idx_del_prefix(txn, IDX_DB_KEYWORDS, prefix, 4)) != IDX_OK ||
	    (r = idx_del(txn, IDX_DB_MAILBOXES, name, len)) != IDX_OK)
		return r;
	r = idx_del(txn, IDX_DB_META, key, idname_key(key, m.id));
	if (r != IDX_OK && r != IDX_NOTFOUND)
		return r;
	return tomb_raise(txn, name, m.uidvalidity);
}

int
idx_mbox_rename(struct idx_txn *txn, const char *from, const char *to)
{
	struct idx_mbox m, other;
	uint8_t key[5];
	uint32_t tomb, old_uv;
	size_t flen, tlen;
	int r;

	if ((r = idx_require_write(txn)) != IDX_OK ||
	    (r = name_check(from, &flen)) != IDX_OK ||
	    (r = name_check(to, &tlen)) != IDX_OK)
		return r;
	if (str_eq(from, to))
		return IDX_EXISTS;
	if ((r = slot_drop(txn)) != IDX_OK ||
	    (r = mbox_read(txn, from, &m, DB_RMW)) != IDX_OK)
		return r;
	r = mbox_read(txn, to, &other, DB_RMW);
	if (r == IDX_OK)
		return IDX_EXISTS;
	if (r != IDX_NOTFOUND || (r = tomb_get(txn, to, &tomb)) != IDX_OK)
		return r;
	old_uv = m.uidvalidity;
	/* A client may remember an old mailbox called `to` with this
	 * UIDVALIDITY; it must not take our UIDs for that one's. */
	if (m.uidvalidity <= tomb &&
	    (r = uidvalidity_alloc(txn, to, 0, &m.uidvalidity)) != IDX_OK)
		return r;
	if ((r = idx_del(txn, IDX_DB_MAILBOXES, from, flen)) != IDX_OK ||
	    (r = mbox_write(txn, to, &m, DB_NOOVERWRITE)) != IDX_OK ||
	    (r = idx_put(txn, IDX_DB_META, key, idname_key(key, m.id), to, tlen,
			 0)) != IDX_OK)
		return r;
	return tomb_raise(txn, from, old_uv);
}

int
idx_mbox_reset(struct idx_txn *txn, uint32_t id)
{
	struct idx_slot *s = &txn->slot;
	uint32_t uv;
	int r;

	if ((r = idx_slot_load(txn, id)) != IDX_OK ||
	    (r = delete_messages(txn, id)) != IDX_OK ||
	    (r = tomb_raise(txn, s->name, s->rec.uidvalidity)) != IDX_OK ||
	    (r = uidvalidity_alloc(txn, s->name, 0, &uv)) != IDX_OK ||
	    (r = idx_expunged_start(txn, id, idx_slot_modseq(txn))) !=
	    IDX_OK)
		return r;
	s->rec.uidvalidity = uv;
	s->rec.uidnext = 1;
	s->rec.recent_uid = 1;
	s->rec.messages = s->rec.unseen = s->rec.deleted = 0;
	s->rec.size = 0;
	s->dirty = true;
	return IDX_OK;
}

struct list_ctx {
	idx_mbox_cb *cb;
	void *ctx;
};

static int
list_cb(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
	void *ctx)
{
	struct list_ctx *lc = ctx;
	char name[IDX_NAME_MAX + 1];
	struct idx_mbox m;

	if (klen == 0 || klen > IDX_NAME_MAX || memchr(key, '\0', klen) ||
	    idx_mbox_decode(val, vlen, &m) != IDX_OK) {
		log_error("index: a mailbox record is corrupt");
		return IDX_CORRUPT;
	}
	memcpy(name, key, klen);
	name[klen] = '\0';
	return lc->cb(name, &m, lc->ctx);
}

int
idx_mbox_list(struct idx_txn *txn, const char *prefix, idx_mbox_cb *cb,
	      void *ctx)
{
	struct list_ctx lc = { cb, ctx };
	size_t plen = prefix == NULL ? 0 : strlen(prefix);
	int r;

	if (plen > IDX_NAME_MAX)
		return IDX_INVAL;
	/* The walk reads the database: write our pending changes first. */
	if ((r = idx_slot_flush(txn)) != IDX_OK)
		return r;
	return idx_walk(txn, IDX_DB_MAILBOXES, plen ? prefix : "", plen, plen,
			list_cb, &lc);
}

int
idx_uid_alloc(struct idx_txn *txn, uint32_t id, uint32_t n, uint32_t *first)
{
	struct idx_slot *s = &txn->slot;
	int r;

	if (n == 0)
		return IDX_INVAL;
	if ((r = idx_slot_load(txn, id)) != IDX_OK)
		return r;
	if ((uint64_t)s->rec.uidnext + n > UINT32_MAX)
		return IDX_LIMIT;
	*first = s->rec.uidnext;
	s->rec.uidnext += n;
	s->dirty = true;
	return IDX_OK;
}

int
idx_uid_raise(struct idx_txn *txn, uint32_t id, uint32_t uidnext)
{
	struct idx_slot *s = &txn->slot;
	int r;

	if (uidnext == 0)
		return IDX_INVAL;
	if ((r = idx_slot_load(txn, id)) != IDX_OK)
		return r;
	if (uidnext > s->rec.uidnext) {
		s->rec.uidnext = uidnext;
		s->dirty = true;
	}
	return IDX_OK;
}

int
idx_mbox_claim_recent(struct idx_txn *txn, uint32_t id, uint32_t *first)
{
	struct idx_slot *s = &txn->slot;
	int r;

	if ((r = idx_slot_load(txn, id)) != IDX_OK)
		return r;
	*first = s->rec.recent_uid;
	if (s->rec.recent_uid != s->rec.uidnext) {
		s->rec.recent_uid = s->rec.uidnext;
		s->dirty = true;
	}
	return IDX_OK;
}
