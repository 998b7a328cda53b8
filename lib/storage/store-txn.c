/*
 * store_txn: the change set a backend fills while it works on the files
 * (new messages, vanished ones, flag changes, moved blobs, the new sync
 * stamp) and that store.c records in one short index transaction per
 * store_txn_commit. The rules that keep concurrent sessions and other
 * programs consistent live here, in one place:
 *  - the transaction first write-locks the mailbox record, so commits
 *    of one mailbox are serialised;
 *  - a UIDVALIDITY that changed since the change set began aborts it
 *    (the mailbox was reset: every UID the backend matched is stale);
 *  - if uidnext moved since the change set began, another session may
 *    already have adopted some of the "new" files: the backend's
 *    idx_find hook is asked first, and a message keeps the UID it got;
 *  - a scanned flag change is applied only if the record still has the
 *    modseq the scan was compared with (a concurrent STORE wins);
 *  - under a CONDSTORE condition a STORE's flag change is applied only
 *    if the record's modseq is still <= UNCHANGEDSINCE.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/str.h"
#include "storage/store-private.h"

#define TXN_STALE (IDX_USER + 1)
#define TXN_RESERVE (IDX_USER + 2)	/* a UID at uid_limit: reserve more */
#define RESERVE_TRIES 3

enum chg_kind { CHG_FLAGS, CHG_INFO, CHG_MOVED };

struct txn_new_rec {
	uint8_t flags;
	uint64_t keywords;
	int64_t internaldate;
	uint64_t size;
	uint32_t uid_req;
	size_t blob_off;
	uint16_t blob_len;
};

struct txn_change {
	uint8_t kind;
	uint8_t flags;
	bool has_blob;
	uint16_t blob_len;
	uint32_t uid;
	uint64_t keywords;
	uint64_t seen_modseq;
	int64_t internaldate;
	uint64_t size;
	size_t blob_off;
};

struct store_txn {
	struct mailbox *box;
	unsigned flags;
	struct idx_mbox rec;

	ARRAY(struct store_rec) recs;
	ARRAY(uint8_t) load_arena;

	ARRAY(struct txn_new_rec) news;
	ARRAY(struct txn_change) changes;
	ARRAY(uint32_t) vanished;
	ARRAY(uint8_t) arena;
	bool has_stamp;
	uint16_t stamp_len;
	uint8_t stamp[IDX_STAMP_MAX];
	uint32_t raise_uidnext;

	ARRAY(uint32_t) uids;
	ARRAY(struct store_txn_result) results;
	ARRAY(uint32_t) removed;
	ARRAY(uint32_t) cond_failed;
	bool has_cond;
	uint64_t cond;
	bool committed;
	/* what earlier commits of this txn recorded (store_txn_counts) */
	size_t done_news, done_changes, done_vanished;
	bool only_ours;
	uint64_t modseq_before, modseq_after;
};

/* ---- begin / free ------------------------------------------------------ */

struct get_ctx {
	uint32_t id;
	struct idx_mbox rec;
};

static int
get_cb(struct idx_txn *txn, void *vctx)
{
	struct get_ctx *c = vctx;

	return idx_mbox_get_by_id(txn, c->id, NULL, 0, &c->rec);
}

struct store_txn *
store_txn_begin(struct mailbox *box, unsigned flags)
{
	struct store *s = box->store;
	struct get_ctx c = { .id = box->id };
	struct store_txn *t;
	int r = IDX_OK;

	if (flags & STORE_TXN_CACHED)
		c.rec = box->rec;
	else
		r = idx_txn_run(s->env, IDX_TXN_READ, get_cb, &c);
	if (r != IDX_OK) {
		if (r == IDX_NOTFOUND)
			store_set_error(s, STORE_ERR_NONEXISTENT,
					"mailbox %s left the index", box->name);
		else
			store_set_idx_error(s, r, box->name);
		return NULL;
	}
	t = xcalloc(1, sizeof(*t));
	t->box = box;
	t->flags = flags;
	t->rec = c.rec;
	t->only_ours = true;
	box->rec = c.rec;
	return t;
}

void
store_txn_free(struct store_txn **tp)
{
	struct store_txn *t = *tp;

	if (t == NULL)
		return;
	*tp = NULL;
	arr_free(&t->recs);
	arr_free(&t->load_arena);
	arr_free(&t->news);
	arr_free(&t->changes);
	arr_free(&t->vanished);
	arr_free(&t->arena);
	arr_free(&t->uids);
	arr_free(&t->results);
	arr_free(&t->removed);
	arr_free(&t->cond_failed);
	free(t);
}

const struct idx_mbox *
store_txn_rec(const struct store_txn *t)
{
	return &t->rec;
}

void
store_txn_counts(const struct store_txn *t, size_t *loaded, size_t *news,
		 size_t *changes, size_t *vanished)
{
	*loaded = t->recs.n;
	*news = t->done_news + t->news.n;
	*changes = t->done_changes + t->changes.n;
	*vanished = t->done_vanished + t->vanished.n;
}

bool
store_txn_forced(const struct store_txn *t)
{
	return (t->flags & STORE_TXN_FORCED) != 0;
}

bool
store_txn_quick(const struct store_txn *t)
{
	return (t->flags & STORE_TXN_QUICK) != 0;
}

const uint8_t *
store_txn_stamp_now(const struct store_txn *t, size_t *len)
{
	const struct idx_mbox *rec = store_txn_rec(t);

	if (t->has_stamp) {
		*len = t->stamp_len;
		return t->stamp;
	}
	*len = rec != NULL ? rec->stamp_len : 0;
	return *len > 0 ? rec->stamp : NULL;
}

bool
store_txn_fresh(const struct store_txn *t)
{
	return (t->flags & STORE_TXN_FRESH) != 0;
}

bool
store_txn_dryrun(const struct store_txn *t)
{
	return (t->flags & STORE_TXN_DRYRUN) != 0;
}

bool
store_txn_readonly(const struct store_txn *t)
{
	return (t->flags & STORE_TXN_READONLY) != 0;
}

bool
store_txn_pending(const struct store_txn *t)
{
	return t->news.n > 0 || t->changes.n > 0 || t->vanished.n > 0 ||
	       t->has_stamp || t->raise_uidnext != 0;
}

size_t
store_txn_n_changes(const struct store_txn *t)
{
	return t->changes.n;
}

bool
store_txn_info_only(const struct store_txn *t, size_t from, uint32_t uid,
		    bool *found, int64_t *internaldate, uint64_t *size)
{
	*found = false;
	if (t->news.n > 0 || t->vanished.n > 0 || t->has_stamp ||
	    t->raise_uidnext != 0)
		return false;
	for (size_t i = from; i < t->changes.n; i++) {
		const struct txn_change *c = &t->changes.v[i];

		if (c->kind != CHG_INFO || c->uid != uid)
			return false;
		*internaldate = c->internaldate;
		*size = c->size;
		*found = true;
	}
	return true;
}

void
store_txn_modseqs(const struct store_txn *t, uint64_t *before,
		  uint64_t *after, bool *only_ours)
{
	*before = t->committed ? t->modseq_before : t->rec.highestmodseq;
	*after = t->committed ? t->modseq_after : t->rec.highestmodseq;
	*only_ours = t->only_ours;
}

const uint32_t *
store_txn_uids(const struct store_txn *t, size_t *n)
{
	*n = t->uids.n;
	return t->uids.v;
}

const struct store_txn_result *
store_txn_results(const struct store_txn *t, size_t *n)
{
	*n = t->results.n;
	return t->results.v;
}

const uint32_t *
store_txn_removed(const struct store_txn *t, size_t *n)
{
	*n = t->removed.n;
	return t->removed.v;
}

/* ---- load ---------------------------------------------------------------- */

struct load_ctx {
	struct store_txn *t;
	struct idx_mbox rec;
};

void
store_rec_from_idx(struct store_rec *r, uint32_t uid, const struct idx_msg *m,
		   size_t blob_off)
{
	r->uid = uid;
	r->flags = m->flags;
	r->keywords = m->keywords;
	r->modseq = m->modseq;
	r->internaldate = m->internaldate;
	r->size = m->size;
	r->blob_len = m->blob_len;
	/* an offset until the arena stops moving */
	r->blob = (const uint8_t *)(uintptr_t)blob_off;
}

static int
load_msg_cb(uint32_t uid, const struct idx_msg *m, void *vctx)
{
	struct store_txn *t = vctx;
	struct store_rec r;
	size_t off = t->load_arena.n;

	arr_reserve(&t->load_arena, off + m->blob_len + 1);
	memcpy(t->load_arena.v + off, m->blob, m->blob_len);
	t->load_arena.n += m->blob_len;
	store_rec_from_idx(&r, uid, m, off);
	arr_push(&t->recs, r);
	return 0;
}

static int
load_cb(struct idx_txn *txn, void *vctx)
{
	struct load_ctx *c = vctx;
	struct store_txn *t = c->t;
	int r;

	t->recs.n = 0;
	t->load_arena.n = 0;
	if ((r = idx_mbox_get_by_id(txn, t->box->id, NULL, 0, &c->rec)) !=
	    IDX_OK)
		return r;
	if (c->rec.messages > 0)
		arr_reserve(&t->recs, c->rec.messages);
	return idx_msg_foreach(txn, t->box->id, 1, UINT32_MAX, load_msg_cb, t);
}

int
store_txn_load(struct store_txn *t, const struct store_rec **recs, size_t *n)
{
	struct store *s = t->box->store;
	struct load_ctx c = { .t = t };
	int r;

	r = idx_txn_run(s->env, IDX_TXN_READ, load_cb, &c);
	if (r != IDX_OK) {
		store_set_idx_error(s, r, t->box->name);
		return -1;
	}
	for (size_t i = 0; i < t->recs.n; i++)
		t->recs.v[i].blob = t->load_arena.v +
				    (uintptr_t)t->recs.v[i].blob;
	t->rec = c.rec;
	t->box->rec = c.rec;
	*recs = t->recs.v;
	*n = t->recs.n;
	return 0;
}

int
store_txn_keyword(struct store_txn *t, const char *name, unsigned *id)
{
	return store_box_keyword(t->box, name, id);
}

/* ---- reports --------------------------------------------------------- */

static int
blob_check(struct store_txn *t, size_t len)
{
	if (len > IDX_BLOB_MAX) {
		store_set_error(t->box->store, STORE_ERR_SERVERBUG,
				"backend blob of %zu bytes", len);
		return -1;
	}
	return 0;
}

static size_t
arena_add(struct store_txn *t, const uint8_t *p, size_t len)
{
	size_t off = t->arena.n;

	arr_reserve(&t->arena, off + len + 1);
	if (len > 0)
		memcpy(t->arena.v + off, p, len);
	t->arena.n += len;
	return off;
}

int
store_txn_new(struct store_txn *t, const struct store_txn_new *m)
{
	struct txn_new_rec n;

	if (blob_check(t, m->blob_len) < 0)
		return -1;
	n.flags = m->flags & IDX_F_ALL;
	n.keywords = m->keywords;
	n.internaldate = m->internaldate;
	n.size = m->size;
	n.uid_req = m->uid;
	n.blob_len = (uint16_t)m->blob_len;
	n.blob_off = arena_add(t, m->blob, m->blob_len);
	arr_push(&t->news, n);
	return 0;
}

void
store_txn_condition(struct store_txn *t, uint64_t since)
{
	t->has_cond = true;
	t->cond = since;
}

const uint32_t *
store_txn_cond_failed(const struct store_txn *t, size_t *n)
{
	*n = t->cond_failed.n;
	return t->cond_failed.v;
}

int
store_txn_vanished(struct store_txn *t, uint32_t uid)
{
	arr_push(&t->vanished, uid);
	return 0;
}

static int
change_add(struct store_txn *t, struct txn_change *c, const uint8_t *blob,
	   size_t blob_len)
{
	if (blob != NULL) {
		if (blob_check(t, blob_len) < 0)
			return -1;
		c->has_blob = true;
		c->blob_len = (uint16_t)blob_len;
		c->blob_off = arena_add(t, blob, blob_len);
	}
	arr_push(&t->changes, *c);
	return 0;
}

int
store_txn_changed(struct store_txn *t, uint32_t uid, uint8_t flags,
		  uint64_t keywords, uint64_t seen_modseq,
		  const uint8_t *blob, size_t blob_len)
{
	struct txn_change c = {
		.kind = CHG_FLAGS, .uid = uid, .flags = flags & IDX_F_ALL,
		.keywords = keywords, .seen_modseq = seen_modseq,
	};

	return change_add(t, &c, blob, blob_len);
}

int
store_txn_info(struct store_txn *t, uint32_t uid, int64_t internaldate,
	       uint64_t size, const uint8_t *blob, size_t blob_len)
{
	struct txn_change c = {
		.kind = CHG_INFO, .uid = uid, .internaldate = internaldate,
		.size = size,
	};

	return change_add(t, &c, blob, blob_len);
}

int
store_txn_moved(struct store_txn *t, uint32_t uid, const uint8_t *blob,
		size_t blob_len)
{
	struct txn_change c = { .kind = CHG_MOVED, .uid = uid };

	return change_add(t, &c, blob, blob_len);
}

int
store_txn_uidnext(struct store_txn *t, uint32_t next)
{
	if (next > t->raise_uidnext)
		t->raise_uidnext = next;
	return 0;
}

int
store_txn_stamp(struct store_txn *t, const void *stamp, size_t len)
{
	if (len > IDX_STAMP_MAX) {
		store_set_error(t->box->store, STORE_ERR_SERVERBUG,
				"sync stamp of %zu bytes", len);
		return -1;
	}
	memcpy(t->stamp, stamp, len);
	t->stamp_len = (uint16_t)len;
	t->has_stamp = true;
	return 0;
}

/* ---- commit ---------------------------------------------------------- */

struct commit_ctx {
	struct store_txn *t;
	size_t uids_n0, results_n0, removed_n0, cond_n0;
	uint64_t pre_modseq;
	struct idx_mbox after;
	ARRAY(struct store_vmap_change) vm;
	uint32_t uid_limit;      /* new UIDs stay below (uid_reserve) */
	uint64_t uid_need;       /* after TXN_RESERVE: what to ask for */
};

static void
vm_add(struct commit_ctx *c, uint32_t uid, bool del, const struct idx_msg *m)
{
	struct store_vmap_change x = { .uid = uid, .seq = (uint32_t)c->vm.n,
				       .del = del };

	if (m != NULL) {
		x.flags = m->flags;
		x.keywords = m->keywords;
		x.modseq = m->modseq;
	}
	arr_push(&c->vm, x);
}

static void
rec_from_msg(struct store_rec *r, uint32_t uid, const struct idx_msg *m)
{
	store_rec_from_idx(r, uid, m, 0);
	r->blob = m->blob;
}

static bool
blob_differs(const struct idx_msg *m, const uint8_t *blob, size_t len)
{
	return m->blob_len != len || memcmp(m->blob, blob, len) != 0;
}

static int
commit_vanished(struct idx_txn *txn, struct commit_ctx *c)
{
	struct store_txn *t = c->t;
	struct mailbox *box = t->box;
	const struct store_backend *be = box->store->be;
	struct idx_msg m;
	int r;

	for (size_t i = 0; i < t->vanished.n; i++) {
		uint32_t uid = t->vanished.v[i];

		r = idx_msg_get(txn, box->id, uid, &m);
		if (r == IDX_NOTFOUND)
			continue;
		if (r != IDX_OK)
			return r;
		if (be->idx_remove != NULL) {
			struct store_rec rec;

			rec_from_msg(&rec, uid, &m);
			if ((r = be->idx_remove(txn, box, &rec)) != IDX_OK &&
			    r != IDX_NOTFOUND)
				return r;
		}
		if ((r = idx_msg_delete(txn, box->id, uid)) != IDX_OK)
			return r;
		vm_add(c, uid, true, NULL);
		arr_push(&t->removed, uid);
	}
	return IDX_OK;
}

static int
commit_changes(struct idx_txn *txn, struct commit_ctx *c)
{
	struct store_txn *t = c->t;
	struct mailbox *box = t->box;
	struct idx_msg m;
	int r;

	for (size_t i = 0; i < t->changes.n; i++) {
		const struct txn_change *ch = &t->changes.v[i];
		const uint8_t *blob = ch->has_blob ?
				      t->arena.v + ch->blob_off : NULL;
		bool put = false, keep = true;

		r = idx_msg_get(txn, box->id, ch->uid, &m);
		if (r == IDX_NOTFOUND)
			continue;
		if (r != IDX_OK)
			return r;
		switch (ch->kind) {
		case CHG_FLAGS:
			if (t->has_cond && m.modseq > t->cond) {
				arr_push(&t->cond_failed, ch->uid);
				goto result;
			}
			if (ch->seen_modseq != 0 &&
			    ch->seen_modseq != m.modseq) {
				/* a STORE came in between: keep its flags and
				 * its name together; the next scan looks at
				 * the file again */
				goto result;
			}
			if (m.flags != ch->flags ||
			    m.keywords != ch->keywords) {
				m.flags = ch->flags;
				m.keywords = ch->keywords;
				put = true;
				keep = false;
			}
			break;
		case CHG_INFO:
			if (m.internaldate != ch->internaldate ||
			    m.size != ch->size) {
				m.internaldate = ch->internaldate;
				m.size = ch->size;
				put = true;
			}
			break;
		case CHG_MOVED:
			break;
		}
		if (ch->has_blob && blob_differs(&m, blob, ch->blob_len)) {
			memcpy(m.blob, blob, ch->blob_len);
			m.blob_len = ch->blob_len;
			put = true;
		}
		if (put && (r = idx_msg_put(txn, box->id, ch->uid, &m,
					    keep ? IDX_MSG_KEEP_MODSEQ : 0)) !=
			   IDX_OK)
			return r;
		if (put && !keep)
			vm_add(c, ch->uid, false, &m);
result:
		if (ch->kind == CHG_FLAGS) {
			struct store_txn_result res = {
				.uid = ch->uid, .flags = m.flags,
				.keywords = m.keywords, .modseq = m.modseq,
			};

			arr_push(&t->results, res);
		}
	}
	return IDX_OK;
}

static uint32_t
sat_u32(uint64_t v)
{
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static int
commit_news(struct idx_txn *txn, struct commit_ctx *c, bool moved)
{
	struct store_txn *t = c->t;
	struct mailbox *box = t->box;
	const struct store_backend *be = box->store->be;
	int64_t now = (int64_t)time(NULL);
	struct idx_mbox cur;
	bool raised = false;
	int r;

	for (size_t i = 0; i < t->news.n; i++) {
		const struct txn_new_rec *n = &t->news.v[i];
		/* arena_add always leaves a non-NULL arena */
		const uint8_t *blob = t->arena.v + n->blob_off;
		struct idx_msg m;
		uint32_t uid = 0;

		if (moved && be->idx_find != NULL) {
			r = be->idx_find(txn, box, t->rec.uidnext, blob,
					 n->blob_len, &uid);
			if (r == IDX_OK && uid != 0) {
				/* Adopted by another session's scan before
				 * we committed (a Maildir APPEND's file is in
				 * cur/ first): it saw only what the file
				 * says, so add our flags and keywords, which
				 * may live in the index only. */
				r = idx_msg_get(txn, box->id, uid, &m);
				if (r != IDX_OK && r != IDX_NOTFOUND)
					return r;
				if (r == IDX_OK &&
				    ((m.flags | n->flags) != m.flags ||
				     (m.keywords | n->keywords) !=
				     m.keywords)) {
					m.flags |= n->flags;
					m.keywords |= n->keywords;
					if ((r = idx_msg_put(txn, box->id, uid,
							     &m, 0)) != IDX_OK)
						return r;
					vm_add(c, uid, false, &m);
				}
				arr_push(&t->uids, uid);
				continue;
			}
			if (r != IDX_NOTFOUND && r != IDX_OK)
				return r;
			uid = 0;
		}
		if ((r = idx_mbox_get_by_id(txn, box->id, NULL, 0, &cur)) !=
		    IDX_OK)
			return r;
		if (n->uid_req != 0 && n->uid_req >= cur.uidnext &&
		    n->uid_req < UINT32_MAX) {
			if ((r = idx_uid_raise(txn, box->id,
					       n->uid_req + 1)) != IDX_OK)
				return r;
			uid = n->uid_req;
		} else {
			/* Messages without a UID of their own come after
			 * every UID the other server handed out. */
			if (!raised && t->raise_uidnext != 0 &&
			    (r = idx_uid_raise(txn, box->id,
					       t->raise_uidnext)) != IDX_OK)
				return r;
			raised = true;
			if ((r = idx_uid_alloc(txn, box->id, 1, &uid)) !=
			    IDX_OK)
				return r;
		}
		if (uid >= c->uid_limit) {
			c->uid_need = (uint64_t)uid + (t->news.n - i) + 1;
			return TXN_RESERVE;
		}
		memset(&m, 0, sizeof(m));
		m.flags = n->flags;
		m.keywords = n->keywords;
		m.internaldate = n->internaldate;
		m.savedate = now;
		m.size = n->size;
		m.blob_len = n->blob_len;
		memcpy(m.blob, blob, n->blob_len);
		if ((r = idx_msg_put(txn, box->id, uid, &m, 0)) != IDX_OK)
			return r;
		vm_add(c, uid, false, &m);
		if (be->idx_add != NULL &&
		    (r = be->idx_add(txn, box, uid, blob, n->blob_len)) !=
		    IDX_OK)
			return r;
		arr_push(&t->uids, uid);
	}
	if (!raised && t->raise_uidnext != 0)
		return idx_uid_raise(txn, box->id, t->raise_uidnext);
	return IDX_OK;
}

static int
commit_cb(struct idx_txn *txn, void *vctx)
{
	struct commit_ctx *c = vctx;
	struct store_txn *t = c->t;
	struct mailbox *box = t->box;
	struct idx_mbox cur;
	bool moved;
	int r;

	t->uids.n = c->uids_n0;
	t->results.n = c->results_n0;
	t->removed.n = c->removed_n0;
	t->cond_failed.n = c->cond_n0;
	c->vm.n = 0;
	/* Write-locks the mailbox record: commits are serialised. */
	if ((r = idx_uid_raise(txn, box->id, 1)) != IDX_OK ||
	    (r = idx_mbox_get_by_id(txn, box->id, NULL, 0, &cur)) != IDX_OK)
		return r;
	if (cur.uidvalidity != t->rec.uidvalidity)
		return TXN_STALE;
	c->pre_modseq = cur.highestmodseq;
	moved = cur.uidnext != t->rec.uidnext;
	if ((r = commit_vanished(txn, c)) != IDX_OK ||
	    (r = commit_changes(txn, c)) != IDX_OK ||
	    (r = commit_news(txn, c, moved)) != IDX_OK)
		return r;
	if (t->has_stamp) {
		struct idx_mbox upd;

		if ((r = idx_mbox_get_by_id(txn, box->id, NULL, 0, &upd)) !=
		    IDX_OK)
			return r;
		upd.stamp_len = t->stamp_len;
		memcpy(upd.stamp, t->stamp, t->stamp_len);
		if ((r = idx_mbox_update(txn, box->id, &upd)) != IDX_OK)
			return r;
	}
	if ((r = idx_mbox_get_by_id(txn, box->id, NULL, 0, &c->after)) !=
	    IDX_OK)
		return r;
	return store_vmap_apply(txn, box->id, &cur, &c->after, c->vm.v,
				c->vm.n);
}

int
store_txn_commit(struct store_txn *t)
{
	struct store *s = t->box->store;
	struct commit_ctx c = {
		.t = t, .uids_n0 = t->uids.n, .results_n0 = t->results.n,
		.removed_n0 = t->removed.n, .cond_n0 = t->cond_failed.n,
	};
	unsigned flags = 0;
	int r;

	if (!store_txn_pending(t) || (t->flags & STORE_TXN_DRYRUN) != 0)
		return 0;
	/* UIDs and expunges are things a client hears of. */
	if (t->news.n > 0 || t->vanished.n > 0 || t->raise_uidnext != 0)
		flags |= IDX_TXN_SYNC;
	c.uid_limit = UINT32_MAX;
	if (t->news.n > 0 && s->be->uid_reserve != NULL)
		s->be->uid_reserve(t->box, sat_u32((uint64_t)t->rec.uidnext +
						   t->news.n), &c.uid_limit);
	for (int tries = 1;; tries++) {
		r = idx_txn_run(s->env, flags, commit_cb, &c);
		if (r != TXN_RESERVE)
			break;
		/* others allocated past the reservation meanwhile */
		if (tries < RESERVE_TRIES) {
			s->be->uid_reserve(t->box, sat_u32(c.uid_need),
					   &c.uid_limit);
		} else {
			log_warn("store: %s: UIDs not reserved after %d "
				 "tries; committing without", t->box->name,
				 tries);
			c.uid_limit = UINT32_MAX;
		}
	}
	arr_free(&c.vm);
	if (r != IDX_OK) {
		t->uids.n = c.uids_n0;
		t->results.n = c.results_n0;
		t->removed.n = c.removed_n0;
		t->cond_failed.n = c.cond_n0;
		if (r == TXN_STALE)
			s->txn_stale = true;
		if (r == TXN_STALE)
			store_set_error(s, STORE_ERR_TEMP,
					"mailbox %s was reset meanwhile",
					t->box->name);
		else if (r == IDX_NOTFOUND)
			store_set_error(s, STORE_ERR_NONEXISTENT,
					"mailbox %s left the index",
					t->box->name);
		else
			store_set_idx_error(s, r, t->box->name);
		return -1;
	}
	if (!t->committed)
		t->modseq_before = c.pre_modseq;
	else if (c.pre_modseq != t->modseq_after) {
		t->only_ours = false;
	}
	t->committed = true;
	t->modseq_after = c.after.highestmodseq;
	store_notify_touch(s, t->box);
	t->rec = c.after;
	t->box->rec = c.after;
	t->done_news += t->news.n;
	t->done_changes += t->changes.n;
	t->done_vanished += t->vanished.n;
	t->news.n = 0;
	t->changes.n = 0;
	t->vanished.n = 0;
	t->arena.n = 0;
	t->has_stamp = false;
	t->raise_uidnext = 0;
	return 0;
}
