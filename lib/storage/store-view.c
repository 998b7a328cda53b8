/*
 * store-view: the selected mailbox (store.h "A selected mailbox"). The
 * view is an array of small records in UID order (sequence number =
 * index + 1); mailbox_sync merges what the index says now into it and
 * reports the difference at the moments the session may send it:
 * messages expunged by anyone stay in the view, flagged, until a sync
 * with MAILBOX_SYNC_EXPUNGES (RFC 9051 §7.5.1, RFC 2180 §4.1). Bodies,
 * dates and sizes are not in the view; FETCH reads them through a small
 * window of full index records.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/fdio.h"
#include "core/log.h"
#include "core/str.h"
#include "storage/store-private.h"

/* Full records kept for FETCH, and messages per STORE commit. */
#define WIN_MSGS 256
#define STORE_BATCH 4096

/* The index's idea of a message, as a view entry (recent and expunged
 * are the view's own). */
#define view_rec store_msg
_Static_assert(sizeof(struct store_msg) == 24, "a view entry grew");

/* ---- loading ----------------------------------------------------------- */

struct walk_ctx {
	uint32_t id;
	struct idx_mbox rec;
	ARRAY(struct view_rec) v;
	bool walked;             /* the map was stale: the messages walked */
};

static int
walk_msg_cb(uint32_t uid, const struct idx_msg *m, void *vctx)
{
	struct walk_ctx *c = vctx;
	struct view_rec r = {
		.uid = uid, .flags = m->flags, .keywords = m->keywords,
		.modseq = m->modseq,
	};

	arr_push(&c->v, r);
	return 0;
}

static int
map_msg_cb(uint32_t uid, uint8_t flags, uint64_t keywords, uint64_t modseq,
	   void *vctx)
{
	struct walk_ctx *c = vctx;
	struct view_rec r = {
		.uid = uid, .flags = flags, .keywords = keywords,
		.modseq = modseq,
	};

	arr_push(&c->v, r);
	return 0;
}

static int
walk_cb(struct idx_txn *txn, void *vctx)
{
	struct walk_ctx *c = vctx;
	int r;

	c->v.n = 0;
	c->walked = false;
	if ((r = idx_mbox_get_by_id(txn, c->id, NULL, 0, &c->rec)) != IDX_OK)
		return r;
	if (c->rec.messages > c->v.cap)
		arr_reserve(&c->v, c->rec.messages);
	/* the view map: a few large records */
	r = store_vmap_load(txn, c->id, &c->rec, map_msg_cb, c);
	if (r != IDX_NOTFOUND)
		return r;
	/* stale or missing: every message record */
	c->v.n = 0;
	c->walked = true;
	return idx_msg_foreach(txn, c->id, 1, UINT32_MAX, walk_msg_cb, c);
}

struct rebuild_ctx {
	const struct walk_ctx *w;
	struct store_vmap_change *msgs;
};

static int
rebuild_cb(struct idx_txn *txn, void *vctx)
{
	struct rebuild_ctx *c = vctx;
	struct idx_mbox m;
	int r;

	/* only if nothing changed since the walk */
	if ((r = idx_uid_raise(txn, c->w->id, 1)) != IDX_OK ||
	    (r = idx_mbox_get_by_id(txn, c->w->id, NULL, 0, &m)) != IDX_OK)
		return r;
	if (m.messages != c->w->rec.messages ||
	    m.highestmodseq != c->w->rec.highestmodseq)
		return IDX_OK;
	return store_vmap_build(txn, c->w->id, &m, c->msgs, c->w->v.n);
}

/* After a walk: write the map so that the next load is cheap. */
static void
map_rebuild(struct mailbox *box, const struct walk_ctx *w)
{
	struct rebuild_ctx c = { .w = w };
	int r;

	c.msgs = xreallocarray(NULL, w->v.n + 1, sizeof(*c.msgs));
	for (size_t i = 0; i < w->v.n; i++) {
		c.msgs[i].uid = w->v.v[i].uid;
		c.msgs[i].seq = 0;
		c.msgs[i].del = false;
		c.msgs[i].flags = w->v.v[i].flags;
		c.msgs[i].keywords = w->v.v[i].keywords;
		c.msgs[i].modseq = w->v.v[i].modseq;
	}
	r = idx_txn_run(box->store->env, 0, rebuild_cb, &c);
	if (r != IDX_OK)
		log_warn("store: %s: view map not rebuilt: %s", box->name,
			 idx_strerror(r));
	free(c.msgs);
}

static int
walk(struct mailbox *box, struct walk_ctx *c)
{
	int r;

	c->id = box->id;
	r = idx_txn_run(box->store->env, IDX_TXN_READ, walk_cb, c);
	if (r != IDX_OK) {
		arr_free(&c->v);
		store_set_idx_error(box->store, r, box->name);
		return -1;
	}
	if (c->walked) {
		box->store->vmap_walks++;
		if (!box->readonly)
			map_rebuild(box, c);
	} else {
		box->store->vmap_hits++;
	}
	return 0;
}

struct claim_ctx {
	uint32_t id;
	uint32_t first, hi;
};

static int
claim_cb(struct idx_txn *txn, void *vctx)
{
	struct claim_ctx *c = vctx;
	struct idx_mbox m;
	int r;

	if ((r = idx_mbox_claim_recent(txn, c->id, &c->first)) != IDX_OK ||
	    (r = idx_mbox_get_by_id(txn, c->id, NULL, 0, &m)) != IDX_OK)
		return r;
	c->hi = m.uidnext;
	return IDX_OK;
}

/* \Recent for [*first, *hi) goes to this session (RFC 3501 §2.3.2). */
static int
claim_recent(struct mailbox *box, uint32_t *first, uint32_t *hi)
{
	struct claim_ctx c = { .id = box->id };
	int r;

	*first = *hi = 0;
	if (box->readonly) {
		/* EXAMINE shows \Recent without taking it away from the
		 * next SELECT (RFC 3501 §6.3.2) */
		*first = box->rec.recent_uid;
		*hi = box->rec.uidnext;
		return 0;
	}
	if (box->rec.recent_uid >= box->rec.uidnext)
		return 0;
	r = idx_txn_run(box->store->env, 0, claim_cb, &c);
	if (r != IDX_OK) {
		store_set_idx_error(box->store, r, box->name);
		return -1;
	}
	*first = c.first;
	*hi = c.hi;
	return 0;
}

static void
view_publish(struct mailbox *box)
{
	box->view.msgs = box->msgs.v;
	box->view.n = box->msgs.n;
	box->view.uidvalidity = box->rec.uidvalidity;
	box->view.uidnext = box->view_uidnext;
	box->view.highestmodseq = box->view_modseq;
	box->view.keywords = (const char *const *)box->keywords;
	box->view.n_keywords = box->n_keywords;
	box->view.readonly = box->readonly;
}

/* Freed, not kept: up to 512 kB that an idle session should not hold
 * after its FETCH (every sync drops it). */
static void
cwin_drop_kind(struct mailbox *box, enum store_cache_kind kind)
{
	struct store_cwin *w = &box->cwin[kind];

	arr_free(&w->ents);
	arr_free(&w->arena);
	w->lo = w->hi = 0;
}

static void
cwin_drop(struct mailbox *box)
{
	for (int k = 0; k < STORE_CACHE_KINDS; k++)
		cwin_drop_kind(box, (enum store_cache_kind)k);
}

static void
win_drop(struct mailbox *box)
{
	box->win_recs.n = 0;
	box->win_arena.n = 0;
	box->win_exact.n = 0;
	cwin_drop(box);
}

int
mailbox_open(struct store *s, const char *name, bool readonly,
	     struct mailbox **out)
{
	struct mailbox *box;
	struct walk_ctx c;
	uint32_t first = 0, hi = 0;

	*out = NULL;
	if (store_box_get(s, name, readonly, &box) < 0)
		return -1;
	memset(&c, 0, sizeof(c));
	if (store_box_sync(box, 0) < 0 || claim_recent(box, &first, &hi) < 0 ||
	    walk(box, &c) < 0) {
		store_box_free(&box);
		return -1;
	}
	box->rec = c.rec;
	/* the walk's array becomes the view */
	arr_free(&box->msgs);
	box->msgs.v = c.v.v;
	box->msgs.n = c.v.n;
	box->msgs.cap = c.v.cap;
	for (size_t i = 0; i < box->msgs.n && first < hi; i++)
		box->msgs.v[i].recent = box->msgs.v[i].uid >= first &&
					box->msgs.v[i].uid < hi;
	box->view_modseq = c.rec.highestmodseq;
	box->view_uidnext = c.rec.uidnext;
	box->view_expunged = false;
	box->view_recent_ok = false;
	box->selected = true;
	box->keywords_changed = false;
	view_publish(box);
	s->selected = box;
	*out = box;
	return 0;
}

void
mailbox_close(struct mailbox **mb)
{
	struct mailbox *box = *mb;

	if (box == NULL)
		return;
	if (box->store->selected == box)
		box->store->selected = NULL;
	store_box_info_flush(box);
	store_box_free(mb);
}

const struct mailbox_view *
mailbox_view(const struct mailbox *mb)
{
	return &mb->view;
}

/* ---- sync ---------------------------------------------------------------- */

static struct store_msg *
view_find(struct mailbox *box, uint32_t uid)
{
	size_t lo = 0, hi = box->msgs.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (box->msgs.v[mid].uid < uid)
			lo = mid + 1;
		else if (box->msgs.v[mid].uid > uid)
			hi = mid;
		else
			return &box->msgs.v[mid];
	}
	return NULL;
}

/* Merges the index's records (c->v, UID order) into the view. Changed
 * flags are collected as UIDs in *flag_uids. */
typedef ARRAY(uint32_t) u32_array;

static void
view_merge(struct mailbox *box, const struct walk_ctx *c, uint32_t first,
	   uint32_t hi, u32_array *flag_uids)
{
	size_t i = 0, j = 0, n_old = box->msgs.n;
	uint32_t last = n_old > 0 ? box->msgs.v[n_old - 1].uid : 0;

	while (i < n_old || j < c->v.n) {
		struct store_msg *m = i < n_old ? &box->msgs.v[i] : NULL;
		const struct view_rec *r = j < c->v.n ? &c->v.v[j] : NULL;

		if (m != NULL && r != NULL && m->uid == r->uid) {
			if (!m->expunged && (m->flags != r->flags ||
					     m->keywords != r->keywords))
				arr_push(flag_uids, m->uid);
			m->flags = r->flags;
			m->keywords = r->keywords;
			m->modseq = r->modseq;
			i++;
			j++;
		} else if (m != NULL && (r == NULL || m->uid < r->uid)) {
			m->expunged = true;
			box->view_expunged = true;
			i++;
		} else {
			if (r->uid > last) {
				struct store_msg nm = {
					.uid = r->uid, .flags = r->flags,
					.keywords = r->keywords,
					.modseq = r->modseq,
					.recent = r->uid >= first &&
						  r->uid < hi,
				};

				arr_push(&box->msgs, nm);
			} else {
				log_warn("store: %s: UID %u appeared below "
					 "UID %u; not shown until the next "
					 "SELECT", box->name, r->uid, last);
			}
			j++;
		}
	}
}

int
mailbox_sync(struct mailbox *mb, unsigned int flags,
	     const struct mailbox_changes **changes)
{
	struct mailbox *box = mb;
	struct store *s = box->store;
	u32_array flag_uids = ARRAY_INIT;
	struct mailbox_changes *ch = &box->changes;
	uint32_t view_uidvalidity = box->view.uidvalidity;
	uint32_t recent = 0;

	memset(ch, 0, sizeof(*ch));
	box->ch_expunged.n = 0;
	box->ch_expunged_uids.n = 0;
	box->ch_flags.n = 0;
	*changes = ch;
	store_box_info_flush(box);
	win_drop(box);
	if (store_box_sync(box, (flags & MAILBOX_SYNC_QUICK) != 0 ?
			   STORE_TXN_QUICK : 0) < 0)
		return -1;
	if (box->rec.uidvalidity != view_uidvalidity) {
		store_set_error(s, STORE_ERR_TEMP,
				"UIDVALIDITY of %s changed (%u -> %u): the "
				"session must start over", box->name,
				view_uidvalidity, box->rec.uidvalidity);
		return -1;
	}
	if (box->rec.highestmodseq != box->view_modseq ||
	    box->rec.uidnext != box->view_uidnext || box->keywords_changed) {
		struct walk_ctx c;
		uint32_t first = 0, hi = 0;

		memset(&c, 0, sizeof(c));
		if (store_box_load_keywords(box) < 0)
			return -1;
		if (box->rec.uidnext != box->view_uidnext &&
		    claim_recent(box, &first, &hi) < 0)
			return -1;
		if (walk(box, &c) < 0)
			return -1;
		if (c.rec.uidvalidity != view_uidvalidity) {
			arr_free(&c.v);
			store_set_error(s, STORE_ERR_TEMP,
					"UIDVALIDITY of %s changed",
					box->name);
			return -1;
		}
		view_merge(box, &c, first, hi, &flag_uids);
		box->view_recent_ok = false;
		box->rec = c.rec;
		box->view_modseq = c.rec.highestmodseq;
		box->view_uidnext = c.rec.uidnext;
		arr_free(&c.v);
	}
	if ((flags & MAILBOX_SYNC_EXPUNGES) && box->view_expunged) {
		size_t k = 0;

		for (size_t i = box->msgs.n; i-- > 0;) {
			if (box->msgs.v[i].expunged) {
				arr_push(&box->ch_expunged, (uint32_t)(i + 1));
				arr_push(&box->ch_expunged_uids,
					 box->msgs.v[i].uid);
			}
		}
		for (size_t i = 0; i < box->msgs.n; i++)
			if (!box->msgs.v[i].expunged)
				box->msgs.v[k++] = box->msgs.v[i];
		box->msgs.n = k;
		box->view_expunged = false;
	}
	for (size_t i = 0; i < flag_uids.n; i++) {
		struct store_msg *m = view_find(box, flag_uids.v[i]);

		if (m != NULL && !m->expunged)
			arr_push(&box->ch_flags,
				 (uint32_t)(m - box->msgs.v) + 1);
	}
	arr_free(&flag_uids);
	if (!box->view_recent_ok) {
		for (size_t i = 0; i < box->msgs.n; i++)
			if (box->msgs.v[i].recent && !box->msgs.v[i].expunged)
				recent++;
		box->view_recent = recent;
		box->view_recent_ok = true;
	}
	recent = box->view_recent;
	ch->expunged_seqs = box->ch_expunged.v;
	ch->expunged_uids = box->ch_expunged_uids.v;
	ch->n_expunged = box->ch_expunged.n;
	ch->exists = box->msgs.n;
	ch->recent = recent;
	ch->flag_seqs = box->ch_flags.v;
	ch->n_flag_changes = box->ch_flags.n;
	ch->keywords_changed = box->keywords_changed;
	box->keywords_changed = false;
	view_publish(box);
	return 0;
}

/* ---- records for a set of UIDs ------------------------------------------ */

/* Full records of the UIDs in uids[0..n-1] (ascending), in that order;
 * UIDs the index no longer has are left out. */
struct recs_ctx {
	uint32_t id;
	const uint32_t *uids;
	size_t n, pos;
	ARRAY(struct store_rec) recs;
	ARRAY(uint8_t) arena;
};

static int
recs_msg_cb(uint32_t uid, const struct idx_msg *m, void *vctx)
{
	struct recs_ctx *c = vctx;
	struct store_rec r;
	size_t off;

	while (c->pos < c->n && c->uids[c->pos] < uid)
		c->pos++;
	if (c->pos >= c->n)
		return IDX_USER;	/* past the last: stop */
	if (c->uids[c->pos] != uid)
		return 0;
	off = c->arena.n;
	arr_reserve(&c->arena, off + m->blob_len + 1);
	memcpy(c->arena.v + off, m->blob, m->blob_len);
	c->arena.n += m->blob_len;
	store_rec_from_idx(&r, uid, m, off);
	arr_push(&c->recs, r);
	return 0;
}

static int
recs_cb(struct idx_txn *txn, void *vctx)
{
	struct recs_ctx *c = vctx;
	int r;

	c->pos = 0;
	c->recs.n = 0;
	c->arena.n = 0;
	r = idx_msg_foreach(txn, c->id, c->uids[0], c->uids[c->n - 1],
			    recs_msg_cb, c);
	return r == IDX_USER ? IDX_OK : r;
}

static int
recs_load(struct mailbox *box, struct recs_ctx *c, const uint32_t *uids,
	  size_t n)
{
	int r;

	memset(c, 0, sizeof(*c));
	if (n == 0)
		return 0;
	c->id = box->id;
	c->uids = uids;
	c->n = n;
	r = idx_txn_run(box->store->env, IDX_TXN_READ, recs_cb, c);
	if (r != IDX_OK) {
		arr_free(&c->recs);
		arr_free(&c->arena);
		store_set_idx_error(box->store, r, box->name);
		return -1;
	}
	for (size_t i = 0; i < c->recs.n; i++)
		c->recs.v[i].blob = c->arena.v +
				    (uintptr_t)c->recs.v[i].blob;
	return 0;
}

static void
recs_free(struct recs_ctx *c)
{
	arr_free(&c->recs);
	arr_free(&c->arena);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* The UIDs of sequence numbers seqs[0..n-1], ascending and unique.
 * Expunged messages: skipped, or an error if !skip_expunged. */
static uint32_t *
seqs_to_uids(struct mailbox *box, const uint32_t *seqs, size_t n,
	     bool skip_expunged, size_t *nout)
{
	uint32_t *uids = xreallocarray(NULL, n > 0 ? n : 1, sizeof(*uids));
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		const struct store_msg *m;

		if (seqs[i] == 0 || seqs[i] > box->msgs.n) {
			store_set_error(box->store, STORE_ERR_SERVERBUG,
					"sequence number %u out of range",
					seqs[i]);
			free(uids);
			return NULL;
		}
		m = &box->msgs.v[seqs[i] - 1];
		if (m->expunged) {
			if (skip_expunged)
				continue;
			store_set_error(box->store, STORE_ERR_EXPUNGED,
					"message %u was expunged", m->uid);
			free(uids);
			return NULL;
		}
		uids[k++] = m->uid;
	}
	store_qsort(uids, k, sizeof(*uids), cmp_u32);
	{
		size_t w = 0;

		for (size_t i = 0; i < k; i++)
			if (w == 0 || uids[w - 1] != uids[i])
				uids[w++] = uids[i];
		k = w;
	}
	*nout = k;
	return uids;
}

/* After our own commits: the view follows, and if no other writer came
 * in between, it is as new as the index. The UIDs in skip[0..n_skip-1]
 * (ascending: conditional changes that lost) keep what the view had, so
 * the next sync reports the other session's change to the client. */
static void
view_follow_except(struct mailbox *box, struct store_txn *t,
		   const uint32_t *skip, size_t n_skip)
{
	const struct store_txn_result *res;
	const uint32_t *removed;
	uint64_t before, after, kw_seen = 0;
	bool only_ours;
	size_t n;

	res = store_txn_results(t, &n);
	for (size_t i = 0; i < n; i++) {
		struct store_msg *m = view_find(box, res[i].uid);

		if (n_skip > 0 && bsearch(&res[i].uid, skip, n_skip,
					  sizeof(*skip), cmp_u32) != NULL)
			continue;
		if (m != NULL) {
			m->flags = res[i].flags;
			m->keywords = res[i].keywords;
			m->modseq = res[i].modseq;
			kw_seen |= res[i].keywords;
		}
	}
	/* A keyword another session created meanwhile came with the
	 * message's flags: its name must be in the view before the
	 * session shows those flags (found by test_soak: the FETCH
	 * left it out, and the sync after saw no change to report). */
	if (box->n_keywords < 64 &&
	    (kw_seen >> box->n_keywords) != 0 &&
	    store_box_load_keywords(box) < 0)
		log_warn("Reloading the keywords of %s: %s", box->name,
			 box->store->err.detail);
	removed = store_txn_removed(t, &n);
	for (size_t i = 0; i < n; i++) {
		struct store_msg *m = view_find(box, removed[i]);

		if (m != NULL) {
			m->expunged = true;
			box->view_expunged = true;
			box->view_recent_ok = false;
		}
	}
	store_txn_modseqs(t, &before, &after, &only_ours);
	if (only_ours && n_skip == 0 && before == box->view_modseq &&
	    box->rec.uidnext == box->view_uidnext)
		box->view_modseq = after;
	view_publish(box);
}

static void
view_follow(struct mailbox *box, struct store_txn *t)
{
	view_follow_except(box, t, NULL, 0);
}

/* ---- FETCH ------------------------------------------------------------- */

static const struct store_rec *
win_get(struct mailbox *box, uint32_t seq)
{
	uint32_t uid = box->msgs.v[seq - 1].uid;
	struct recs_ctx c;
	uint32_t *uids;
	size_t n = 0;

	for (int pass = 0; pass < 2; pass++) {
		size_t lo = 0, hi = box->win_recs.n;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (box->win_recs.v[mid].uid < uid)
				lo = mid + 1;
			else if (box->win_recs.v[mid].uid > uid)
				hi = mid;
			else
				return &box->win_recs.v[mid];
		}
		if (pass == 1)
			break;
		/* Load the window starting at seq. */
		uids = xreallocarray(NULL, WIN_MSGS, sizeof(*uids));
		for (size_t i = seq - 1; i < box->msgs.n && n < WIN_MSGS; i++)
			if (!box->msgs.v[i].expunged)
				uids[n++] = box->msgs.v[i].uid;
		if (n == 0 || uids[0] != uid)
			uids[n > 0 ? 0 : n++] = uid;
		if (recs_load(box, &c, uids, n) < 0) {
			free(uids);
			return NULL;
		}
		free(uids);
		arr_free(&box->win_recs);
		arr_free(&box->win_arena);
		box->win_recs.v = c.recs.v;
		box->win_recs.n = c.recs.n;
		box->win_recs.cap = c.recs.cap;
		box->win_arena.v = c.arena.v;
		box->win_arena.n = c.arena.n;
		box->win_arena.cap = c.arena.cap;
		box->win_exact.n = 0;
	}
	store_set_error(box->store, STORE_ERR_EXPUNGED,
			"message %u is no longer in the index", uid);
	return NULL;
}

static int
seq_check(struct mailbox *box, uint32_t seq)
{
	if (seq == 0 || seq > box->msgs.n) {
		store_set_error(box->store, STORE_ERR_SERVERBUG,
				"sequence number %u out of range", seq);
		return -1;
	}
	return 0;
}

/* Only a commit can make the window stale: a read-only open keeps it,
 * so reading every message in order (SORT, THREAD, SEARCH BODY) loads
 * each window once, not once per message. */
void
store_box_commit_quietly(struct mailbox *box, struct store_txn *t)
{
	if (!store_txn_pending(t))
		return;
	if (store_txn_commit(t) < 0)
		log_warn("store: %s: %s", box->name, box->store->err.detail);
	win_drop(box);
}

/* The exact date and size of message seq learnt: the window answers
 * from now on (the index once the info batch is committed). */
static void
win_learnt(struct mailbox *box, uint32_t seq, int64_t date, uint64_t size)
{
	const struct store_rec *rec = win_get(box, seq);
	size_t wi;

	if (rec == NULL)
		return;
	wi = (size_t)(rec - box->win_recs.v);
	arr_reserve(&box->win_exact, box->win_recs.n);
	while (box->win_exact.n < box->win_recs.n)
		box->win_exact.v[box->win_exact.n++] = 0;
	box->win_recs.v[wi].internaldate = date;
	box->win_recs.v[wi].size = size;
	box->win_exact.v[wi] = 1;
}

static void info_counted(struct mailbox *box);
static int msg_serve(struct mailbox *mb, uint32_t seq, uint64_t want,
		     uint64_t max, bool head, int *fd, off_t *offset,
		     struct buf *mem, uint64_t *size);

int
mailbox_msg_open(struct mailbox *mb, uint32_t seq, int *fd, off_t *offset,
		 uint64_t *size)
{
	return mailbox_msg_open_prefix(mb, seq, 0, fd, offset, size);
}

int
mailbox_msg_open_prefix(struct mailbox *mb, uint32_t seq, uint64_t want,
			int *fd, off_t *offset, uint64_t *size)
{
	return msg_serve(mb, seq, want, 0, false, fd, offset, NULL, size);
}

int
mailbox_msg_read(struct mailbox *mb, uint32_t seq, uint64_t max, int *fd,
		 off_t *offset, struct buf *mem, uint64_t *size)
{
	return msg_serve(mb, seq, 0, max, false, fd, offset, mem, size);
}

int
mailbox_msg_read_head(struct mailbox *mb, uint32_t seq, size_t max,
		      struct buf *head, bool *whole)
{
	uint64_t size, n;
	off_t off;
	int fd;

	*whole = false;
	if (msg_serve(mb, seq, max, max, true, &fd, &off, head, &size) < 0)
		return -1;
	if (fd < 0) {
		*whole = size == buf_len(head);
		return 0;
	}
	/* a backend without msg_read: the head out of its fd */
	n = size < max ? size : max;
	buf_reset(head);
	if (n > 0 && (buf_reserve(head, (size_t)n) == NULL ||
		      fd_pread_full(fd, buf_data_mut(head), (size_t)n,
				    (uint64_t)off) < 0)) {
		store_set_errno(mb->store, errno != 0 ? errno : EMSGSIZE,
				"%s: read UID %u", mb->name,
				mb->msgs.v[seq - 1].uid);
		close(fd);
		return -1;
	}
	buf_commit(head, (size_t)n);
	close(fd);
	*whole = n == size;
	return 0;
}

int
store_be_serve(struct mailbox *box, const struct store_rec *rec,
	       struct store_txn *t, uint64_t want, uint64_t max, bool head,
	       int *fd, off_t *offset, struct buf *mem, uint64_t *size)
{
	if (mem != NULL && box->store->be->msg_read != NULL)
		return box->store->be->msg_read(box, rec, t, max, head, fd,
						offset, mem, size);
	return box->store->be->msg_open(box, rec, t, want, fd, offset, size);
}

/* mailbox_msg_open_prefix, mailbox_msg_read and mailbox_msg_read_head. */
static int
msg_serve(struct mailbox *mb, uint32_t seq, uint64_t want, uint64_t max,
	  bool head, int *fd, off_t *offset, struct buf *mem, uint64_t *size)
{
	struct mailbox *box = mb;
	const struct store_rec *rec;
	struct store_rec copy;
	uint8_t blob[IDX_BLOB_MAX];
	uint64_t learnt_size;
	int64_t learnt_date;
	size_t mark;
	bool learnt;
	int r;

	*fd = -1;
	*offset = 0;
	*size = 0;
	if (seq_check(box, seq) < 0 || store_box_current(box) < 0)
		return -1;
	if (box->msgs.v[seq - 1].expunged) {
		store_set_error(box->store, STORE_ERR_EXPUNGED,
				"message %u was expunged",
				box->msgs.v[seq - 1].uid);
		return -1;
	}
	if ((rec = win_get(box, seq)) == NULL)
		return -1;
	/* The window may be dropped by a commit: work on a copy. */
	copy = *rec;
	memcpy(blob, rec->blob, rec->blob_len);
	copy.blob = blob;
	/* What the backend learns goes to the info batch: a first open
	 * (the exact size of a Maildir file) then costs no index commit
	 * and no window reload per message. Anything else it reports (a
	 * file renamed by another program) is committed at once. */
	if (box->info_t == NULL &&
	    (box->info_t = store_txn_begin(box, STORE_TXN_CACHED)) == NULL)
		return -1;
	mark = store_txn_n_changes(box->info_t);
	r = store_be_serve(box, &copy, box->info_t, want, max, head, fd,
			   offset, mem, size);
	if (store_txn_info_only(box->info_t, mark, copy.uid, &learnt,
				&learnt_date, &learnt_size)) {
		if (learnt) {
			win_learnt(box, seq, learnt_date, learnt_size);
			info_counted(box);
		}
	} else {
		store_box_info_flush(box);
		win_drop(box);
	}
	return r;
}

/* What msg_info learnt is written in batches (it changes nothing a
 * client sees), and before any other change of the mailbox. */
#define INFO_BATCH 512

void
store_box_info_flush(struct mailbox *box)
{
	if (box->info_t == NULL)
		return;
	if (store_txn_pending(box->info_t) && store_txn_commit(box->info_t) < 0)
		log_warn("store: %s: %s", box->name, box->store->err.detail);
	store_txn_free(&box->info_t);
	box->info_n = 0;
}

int
mailbox_msg_info(struct mailbox *mb, uint32_t seq, time_t *internaldate,
		 uint64_t *size)
{
	struct mailbox *box = mb;
	const struct store_rec *rec;
	struct store_rec copy;
	uint8_t blob[IDX_BLOB_MAX];
	size_t wi;
	int64_t date;
	int r;

	*internaldate = 0;
	*size = 0;
	if (seq_check(box, seq) < 0 || store_box_current(box) < 0 ||
	    (rec = win_get(box, seq)) == NULL)
		return -1;
	wi = (size_t)(rec - box->win_recs.v);
	if (box->store->be->msg_info == NULL ||
	    (wi < box->win_exact.n && box->win_exact.v[wi])) {
		*internaldate = (time_t)rec->internaldate;
		*size = rec->size;
		return 0;
	}
	copy = *rec;
	memcpy(blob, rec->blob, rec->blob_len);
	copy.blob = blob;
	if (box->info_t == NULL &&
	    (box->info_t = store_txn_begin(box, STORE_TXN_CACHED)) == NULL)
		return -1;
	r = box->store->be->msg_info(box, &copy, box->info_t, &date, size);
	if (r == 0) {
		win_learnt(box, seq, date, *size);
		*internaldate = (time_t)date;
		info_counted(box);
	}
	return r;
}

/* One more message in the info batch: committed every INFO_BATCH. */
static void
info_counted(struct mailbox *box)
{
	struct store_txn *t = box->info_t;

	if (++box->info_n < INFO_BATCH)
		return;
	box->info_t = NULL;
	box->info_n = 0;
	if (store_txn_pending(t) && store_txn_commit(t) < 0)
		log_warn("store: %s: %s", box->name, box->store->err.detail);
	store_txn_free(&t);
}

/* ---- STORE ------------------------------------------------------------- */

/* The bits of the keyword names box knows; true if one is unknown. */
static bool
remove_mask(const struct mailbox *box, const char *const *keywords,
	    uint64_t *kw)
{
	bool unknown = false;

	*kw = 0;
	for (size_t i = 0; keywords != NULL && keywords[i]; i++) {
		bool found = false;

		for (size_t k = 0; k < box->n_keywords; k++)
			if (str_eq_ci(box->keywords[k], keywords[i])) {
				*kw |= UINT64_C(1) << k;
				found = true;
			}
		unknown = unknown || !found;
	}
	return unknown;
}

/* Puts the flags the index holds back into the files of the UIDs
 * whose conditional change lost at commit (Maildir renamed the file
 * first; mbox keeps flags in the index, so this changes nothing). */
static void
store_flags_restore(struct mailbox *box, const uint32_t *uids, size_t n)
{
	struct store *s = box->store;
	struct store_error e = s->err;
	struct store_txn *t;
	struct recs_ctx c;

	if (n == 0 || recs_load(box, &c, uids, n) < 0) {
		s->err = e;
		return;
	}
	if ((t = store_txn_begin(box, STORE_TXN_CACHED)) != NULL) {
		for (size_t i = 0; i < c.recs.n; i++) {
			const struct store_rec *r = &c.recs.v[i];

			if (s->be->write_flags(box, r, STORE_FLAGS_SET,
					       r->flags, r->keywords, t) < 0)
				break;
		}
		if (store_txn_pending(t) && store_txn_commit(t) < 0)
			log_warn("store: %s: %s", box->name, s->err.detail);
		view_follow_except(box, t, uids, n);
		store_txn_free(&t);
	}
	recs_free(&c);
	s->err = e;
}

static int
store_flags(struct mailbox *box, const uint32_t *seqs, size_t n,
	    enum store_flag_op op, unsigned flags,
	    const char *const *keywords, bool cond, uint64_t since)
{
	struct store *s = box->store;
	struct recs_ctx c;
	struct store_txn *t = NULL;
	uint64_t kw = 0;
	uint32_t *uids;
	size_t nu, n_pre = 0;
	int ret = -1;

	box->cond_failed.n = 0;
	if (box->readonly) {
		store_set_error(s, STORE_ERR_CANNOT, "%s is read-only",
				box->name);
		return -1;
	}
	if (store_box_current(box) < 0)
		return -1;
	if (op == STORE_FLAGS_REMOVE) {
		/* Unknown keywords are simply not set anywhere -- once the
		 * names are current: another session may have created one
		 * since we loaded them (found by test_soak). */
		if (remove_mask(box, keywords, &kw) &&
		    store_box_load_keywords(box) == 0)
			(void)remove_mask(box, keywords, &kw);
	} else if (store_box_keyword_mask(box, keywords, &kw) < 0) {
		return -1;
	}
	if ((uids = seqs_to_uids(box, seqs, n, true, &nu)) == NULL)
		return -1;
	store_box_info_flush(box);
	win_drop(box);
	if (recs_load(box, &c, uids, nu) < 0) {
		free(uids);
		return -1;
	}
	if ((t = store_txn_begin(box, STORE_TXN_CACHED)) == NULL)
		goto out;
	if (cond)
		store_txn_condition(t, since);
	for (size_t i = 0; i < c.recs.n; i++) {
		if (cond && c.recs.v[i].modseq > since) {
			/* failed before any file was touched */
			arr_push(&box->cond_failed, c.recs.v[i].uid);
			continue;
		}
		if (s->be->write_flags(box, &c.recs.v[i], op, flags & IDX_F_ALL,
				       kw, t) < 0)
			goto out;
		if ((i + 1) % STORE_BATCH == 0 && store_txn_commit(t) < 0)
			goto out;
	}
	if (store_txn_commit(t) < 0)
		goto out;
	ret = 0;
out:
	if (t != NULL) {
		const uint32_t *lost;
		size_t n_lost;

		if (ret < 0 && store_txn_pending(t)) {
			/* keep what reached the files */
			struct store_error e = s->err;

			(void)store_txn_commit(t);
			s->err = e;
		}
		n_pre = box->cond_failed.n;
		lost = store_txn_cond_failed(t, &n_lost);
		for (size_t i = 0; i < n_lost; i++)
			arr_push(&box->cond_failed, lost[i]);
		if (n_lost > 0) {
			store_qsort(box->cond_failed.v + n_pre, n_lost,
				    sizeof(uint32_t), cmp_u32);
			view_follow_except(box, t, box->cond_failed.v + n_pre,
					   n_lost);
		} else {
			view_follow(box, t);
		}
		store_txn_free(&t);
		if (n_lost > 0)
			store_flags_restore(box, box->cond_failed.v + n_pre,
					    n_lost);
		store_qsort(box->cond_failed.v, box->cond_failed.n,
			    sizeof(uint32_t), cmp_u32);
	}
	recs_free(&c);
	free(uids);
	return ret;
}

int
mailbox_store_flags(struct mailbox *mb, const uint32_t *seqs, size_t n,
		    enum store_flag_op op, unsigned flags,
		    const char *const *keywords)
{
	return store_flags(mb, seqs, n, op, flags, keywords, false, 0);
}

int
mailbox_store_flags_cond(struct mailbox *mb, const uint32_t *seqs, size_t n,
			 enum store_flag_op op, unsigned flags,
			 const char *const *keywords, uint64_t unchangedsince,
			 const uint32_t **failed_uids, size_t *n_failed)
{
	int r = store_flags(mb, seqs, n, op, flags, keywords, true,
			    unchangedsince);

	*failed_uids = mb->cond_failed.v;
	*n_failed = mb->cond_failed.n;
	return r;
}

/* ---- QRESYNC ----------------------------------------------------------- */

struct since_ctx {
	struct mailbox *box;
	uint64_t since, floor;
};

static int
since_uid_cb(uint32_t uid, uint64_t modseq, void *vctx)
{
	struct since_ctx *c = vctx;

	(void)modseq;
	arr_push(&c->box->vanished_since, uid);
	return 0;
}

static int
since_cb(struct idx_txn *txn, void *vctx)
{
	struct since_ctx *c = vctx;

	c->box->vanished_since.n = 0;
	return idx_expunged_since(txn, c->box->id, c->since, since_uid_cb, c,
				  &c->floor);
}

int
mailbox_expunged_since(struct mailbox *mb, uint64_t since,
		       const uint32_t **uids, size_t *n, bool *complete)
{
	struct since_ctx c = { .box = mb, .since = since };
	int r;

	*uids = NULL;
	*n = 0;
	*complete = false;
	r = idx_txn_run(mb->store->env, IDX_TXN_READ, since_cb, &c);
	if (r != IDX_OK) {
		mb->vanished_since.n = 0;
		store_set_idx_error(mb->store, r, mb->name);
		return -1;
	}
	store_qsort(mb->vanished_since.v, mb->vanished_since.n,
		    sizeof(uint32_t), cmp_u32);
	*uids = mb->vanished_since.v;
	*n = mb->vanished_since.n;
	*complete = since >= c.floor;
	return 0;
}

/* ---- EXPUNGE ----------------------------------------------------------- */

int
store_expunge_recs(struct mailbox *box, const struct store_rec *recs,
		   size_t n)
{
	struct store_txn *t;
	int r;

	if (n == 0)
		return 0;
	store_box_info_flush(box);
	if ((t = store_txn_begin(box, STORE_TXN_CACHED)) == NULL)
		return -1;
	r = box->store->be->expunge(box, recs, n, t);
	if (r == 0 && store_txn_pending(t))
		r = store_txn_commit(t);
	else if (r < 0 && store_txn_pending(t)) {
		struct store_error e = box->store->err;

		(void)store_txn_commit(t);
		box->store->err = e;
	}
	view_follow(box, t);
	store_txn_free(&t);
	win_drop(box);
	return r;
}

int
mailbox_expunge(struct mailbox *mb, const uint32_t *uids, size_t n)
{
	struct mailbox *box = mb;
	struct recs_ctx c;
	u32_array cand = ARRAY_INIT;
	size_t k = 0;
	int r;

	if (box->readonly) {
		store_set_error(box->store, STORE_ERR_CANNOT,
				"%s is read-only", box->name);
		return -1;
	}
	/* The files may have changed flags since the view was made; expunge
	 * what they say now. */
	if (store_box_sync(box, 0) < 0)
		return -1;
	if (uids != NULL) {
		uint32_t *sorted = xreallocarray(NULL, n > 0 ? n : 1,
						 sizeof(*sorted));

		memcpy(sorted, uids, n * sizeof(*sorted));
		store_qsort(sorted, n, sizeof(*sorted), cmp_u32);
		for (size_t i = 0; i < box->msgs.n; i++) {
			const struct store_msg *m = &box->msgs.v[i];

			while (k < n && sorted[k] < m->uid)
				k++;
			if (k < n && sorted[k] == m->uid && !m->expunged)
				arr_push(&cand, m->uid);
		}
		free(sorted);
	} else {
		for (size_t i = 0; i < box->msgs.n; i++)
			if (!box->msgs.v[i].expunged)
				arr_push(&cand, box->msgs.v[i].uid);
	}
	if (recs_load(box, &c, cand.v, cand.n) < 0) {
		arr_free(&cand);
		return -1;
	}
	arr_free(&cand);
	k = 0;
	for (size_t i = 0; i < c.recs.n; i++)
		if (c.recs.v[i].flags & IDX_F_DELETED)
			c.recs.v[k++] = c.recs.v[i];
	c.recs.n = k;
	r = store_expunge_recs(box, c.recs.v, c.recs.n);
	recs_free(&c);
	return r;
}

/* ---- COPY / MOVE ------------------------------------------------------- */

int
store_copy_recs(struct mailbox *src, struct mailbox *dst,
		const struct store_rec *recs, size_t n, uint32_t *dst_uids)
{
	struct store *s = src->store;
	struct store_rec *copies;
	struct store_txn *t = NULL;
	const uint32_t *got;
	size_t ngot;
	int ret = -1;

	if (n == 0)
		return 0;
	/* A keyword another session created since we loaded the names
	 * must not be dropped from the copy (found by test_soak). */
	for (size_t i = 0; i < n; i++) {
		if (src->n_keywords < 64 &&
		    (recs[i].keywords >> src->n_keywords) != 0) {
			if (store_box_load_keywords(src) < 0)
				return -1;
			break;
		}
	}
	copies = xreallocarray(NULL, n, sizeof(*copies));
	for (size_t i = 0; i < n; i++) {
		uint64_t kw = 0, src_kw = recs[i].keywords;

		copies[i] = recs[i];
		for (unsigned b = 0; b < IDX_KEYWORDS_MAX; b++) {
			unsigned id;

			if (!(src_kw & (UINT64_C(1) << b)) ||
			    b >= src->n_keywords)
				continue;
			if (store_box_keyword(dst, src->keywords[b], &id) < 0)
				goto out;
			kw |= UINT64_C(1) << id;
		}
		copies[i].keywords = kw;
	}
	if ((t = store_txn_begin(dst, STORE_TXN_READONLY)) == NULL ||
	    s->be->copy(src, dst, copies, n, t) < 0)
		goto out;
	if (store_txn_pending(t) && store_txn_commit(t) < 0)
		goto out;
	got = store_txn_uids(t, &ngot);
	if (ngot != n) {
		store_set_error(s, STORE_ERR_SERVERBUG,
				"copy recorded %zu of %zu messages", ngot, n);
		goto out;
	}
	memcpy(dst_uids, got, n * sizeof(*got));
	store_fts_index_new(dst, dst_uids, n);
	ret = 0;
out:
	store_txn_free(&t);
	free(copies);
	return ret;
}

int
mailbox_copy(struct mailbox *mb, const uint32_t *seqs, size_t n,
	     const char *dest, bool move, uint32_t *uidvalidity,
	     uint32_t *src_uids, uint32_t *dst_uids)
{
	struct mailbox *box = mb, *dst = NULL;
	struct store *s = box->store;
	struct recs_ctx c;
	uint32_t *uids;
	size_t nu;
	int ret = -1;

	memset(&c, 0, sizeof(c));
	if (move && box->readonly) {
		store_set_error(s, STORE_ERR_CANNOT, "%s is read-only",
				box->name);
		return -1;
	}
	if (store_box_current(box) < 0)
		return -1;
	if ((uids = seqs_to_uids(box, seqs, n, false, &nu)) == NULL)
		return -1;
	if (nu != n) {
		store_set_error(s, STORE_ERR_SERVERBUG,
				"COPY of a message twice");
		goto out;
	}
	if (store_box_get_target(s, dest, &dst) < 0 ||
	    recs_load(box, &c, uids, nu) < 0)
		goto out;
	if (c.recs.n != nu) {
		store_set_error(s, STORE_ERR_EXPUNGED,
				"%zu of the messages were expunged",
				nu - c.recs.n);
		goto out;
	}
	if (store_copy_recs(box, dst, c.recs.v, nu, dst_uids) < 0)
		goto out;
	*uidvalidity = dst->rec.uidvalidity;
	memcpy(src_uids, uids, nu * sizeof(*uids));
	/* RFC 6851: the copies are on disk; now the originals go. */
	if (move && store_expunge_recs(box, c.recs.v, c.recs.n) < 0)
		goto out;
	ret = 0;
out:
	store_box_put_target(s, &dst);
	recs_free(&c);
	free(uids);
	return ret;
}

/* ---- the parsed-structure cache ---------------------------------------
 * Value: u8 version | u64 size | i64 internaldate | the caller's bytes.
 * The stamp is the record's as the view has it, so a message whose
 * file the store saw change (size or date) misses. */
#define CACHE_VERSION 1
#define CACHE_STAMP 17

struct cache_ctx {
	enum idx_cache_kind kind;
	uint32_t id, uid;
	uint8_t *buf;
	size_t cap, len;
};

static int
cache_put_cb(struct idx_txn *txn, void *vctx)
{
	struct cache_ctx *c = vctx;

	return idx_cache_put(txn, c->kind, c->id, c->uid, c->buf, c->len);
}

struct cache_many {
	enum idx_cache_kind kind;
	uint32_t id;
	uint32_t *uids;
	uint8_t **vals;
	size_t *lens;
	size_t n;
};

static int
cache_put_many_cb(struct idx_txn *txn, void *vctx)
{
	struct cache_many *c = vctx;
	int r;

	for (size_t i = 0; i < c->n; i++)
		if ((r = idx_cache_put(txn, c->kind, c->id, c->uids[i],
				       c->vals[i], c->lens[i])) != IDX_OK)
			return r;
	return IDX_OK;
}

_Static_assert((int)STORE_CACHE_STRUCT == (int)IDX_CACHE_STRUCT &&
	       (int)STORE_CACHE_SORT == (int)IDX_CACHE_SORT &&
	       (int)STORE_CACHE_ENVELOPE == (int)IDX_CACHE_ENVELOPE &&
	       (int)STORE_CACHE_BODYSTRUCTURE == (int)IDX_CACHE_BODYSTRUCTURE &&
	       (int)STORE_CACHE_SEARCH == (int)IDX_CACHE_SEARCH &&
	       (int)STORE_CACHE_DATE == (int)IDX_CACHE_DATE &&
	       (int)STORE_CACHE_KINDS == (int)IDX_CACHE_KINDS,
	       "the store's cache kinds are the index's");

static void
cache_stamp(uint8_t *p, const struct store_rec *rec)
{
	uint64_t v[2] = { rec->size, (uint64_t)rec->internaldate };

	p[0] = CACHE_VERSION;
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < 8; i++)
			p[1 + 8 * k + i] = (uint8_t)(v[k] >> (56 - 8 * i));
}

/* The cache window: the values of one kind of up to WIN_MSGS messages
 * from seq on, at most CWIN_BYTES of them, read in one cursor walk, so
 * a FETCH of many messages costs a read transaction per window, not
 * one per message (the profile's idx_txn_run per message: alarm,
 * sigprocmask, a btree descent each). */
#define CWIN_BYTES (512u * 1024u)

struct cwin_ctx {
	struct store_cwin *w;
	uint32_t hi;       /* the last UID looked at */
	bool full;
};

static int
cwin_cb(uint32_t uid, const void *data, size_t len, void *vctx)
{
	struct cwin_ctx *c = vctx;
	struct store_cwin *w = c->w;
	struct store_cwin_ent *e;

	if (len > CACHE_STAMP + STORE_CACHE_MAX)
		return IDX_OK;	/* never written so: a miss */
	if (w->ents.n > 0 && w->arena.n + len > CWIN_BYTES) {
		c->full = true;
		return IDX_LIMIT;	/* the window ends before uid */
	}
	arr_reserve(&w->ents, w->ents.n + 1);
	arr_reserve(&w->arena, w->arena.n + len);
	e = &w->ents.v[w->ents.n++];
	e->uid = uid;
	e->off = w->arena.n;
	e->len = len;
	memcpy(w->arena.v + w->arena.n, data, len);
	w->arena.n += len;
	c->hi = uid;
	return IDX_OK;
}

struct cwin_load {
	struct cwin_ctx *c;
	struct mailbox *box;
	enum store_cache_kind kind;
	uint32_t id, lo, hi;
};

static int
cwin_load_cb(struct idx_txn *txn, void *vctx)
{
	struct cwin_load *l = vctx;
	int r;

	/* a retried transaction starts over */
	cwin_drop_kind(l->box, l->kind);
	l->c->full = false;
	l->c->hi = l->hi;
	r = idx_cache_foreach(txn, (enum idx_cache_kind)l->kind, l->id, l->lo,
			      l->hi, cwin_cb, l->c);
	return r == IDX_LIMIT && l->c->full ? IDX_OK : r;
}

static int
cwin_load(struct mailbox *box, enum store_cache_kind kind, uint32_t seq)
{
	struct store_cwin *w = &box->cwin[kind];
	struct cwin_ctx c = { w, 0, false };
	struct cwin_load l;
	uint32_t hi = box->msgs.v[seq - 1].uid;
	int r;

	for (size_t i = seq - 1, n = 0; i < box->msgs.n && n < WIN_MSGS; i++)
		if (!box->msgs.v[i].expunged) {
			hi = box->msgs.v[i].uid;
			n++;
		}
	l.c = &c;
	l.box = box;
	l.kind = kind;
	l.id = box->id;
	l.lo = box->msgs.v[seq - 1].uid;
	l.hi = hi < l.lo ? l.lo : hi;
	r = idx_txn_run(box->store->env, IDX_TXN_READ, cwin_load_cb, &l);
	if (r != IDX_OK) {
		cwin_drop_kind(box, kind);
		store_set_idx_error(box->store, r, "reading the cache");
		return -1;
	}
	/* stopped by the byte bound: what follows c.hi was not read */
	w->lo = l.lo;
	w->hi = c.full ? c.hi : l.hi;
	return 0;
}

/* uid's value in the window (NULL: it has none); the window must
 * cover uid. */
static const struct store_cwin_ent *
cwin_find(const struct store_cwin *w, uint32_t uid)
{
	size_t lo = 0, hi = w->ents.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (w->ents.v[mid].uid < uid)
			lo = mid + 1;
		else if (w->ents.v[mid].uid > uid)
			hi = mid;
		else
			return &w->ents.v[mid];
	}
	return NULL;
}

static bool
cache_kind_ok(struct mailbox *mb, enum store_cache_kind kind)
{
	if ((int)kind >= 0 && kind < STORE_CACHE_KINDS)
		return true;
	store_set_error(mb->store, STORE_ERR_SERVERBUG, "no such cache kind");
	return false;
}

int
mailbox_msg_cache_get(struct mailbox *mb, enum store_cache_kind kind,
		      uint32_t seq, void *buf, size_t cap, size_t *len)
{
	const struct store_rec *rec;
	const struct store_cwin_ent *e;
	const struct store_cwin *w;
	const uint8_t *val;
	uint8_t stamp[CACHE_STAMP];
	uint32_t uid;

	*len = 0;
	if (!cache_kind_ok(mb, kind) || seq_check(mb, seq) < 0 ||
	    store_box_current(mb) < 0 || (rec = win_get(mb, seq)) == NULL)
		return -1;
	cache_stamp(stamp, rec);
	uid = rec->uid;
	w = &mb->cwin[kind];
	if ((w->hi == 0 || uid < w->lo || uid > w->hi) &&
	    cwin_load(mb, kind, seq) < 0)
		return -1;
	if ((e = cwin_find(w, uid)) == NULL)
		return 1;
	val = w->arena.v + e->off;
	if (e->len < CACHE_STAMP || memcmp(val, stamp, CACHE_STAMP) != 0 ||
	    e->len - CACHE_STAMP > cap)
		return 1;
	*len = e->len - CACHE_STAMP;
	memcpy(buf, val + CACHE_STAMP, *len);
	return 0;
}

int
mailbox_msg_cache_put(struct mailbox *mb, enum store_cache_kind kind,
		      uint32_t seq, const void *data, size_t len)
{
	const struct store_rec *rec;
	uint8_t val[CACHE_STAMP + STORE_CACHE_MAX];
	struct cache_ctx c;
	int r;

	if (!cache_kind_ok(mb, kind) || len > STORE_CACHE_MAX ||
	    seq_check(mb, seq) < 0 || store_box_current(mb) < 0)
		return -1;
	store_box_info_flush(mb);
	if ((rec = win_get(mb, seq)) == NULL)
		return -1;
	/* a put changes only its kind: the others' windows stay */
	cwin_drop_kind(mb, kind);
	cache_stamp(val, rec);
	memcpy(val + CACHE_STAMP, data, len);
	c.kind = (enum idx_cache_kind)kind;
	c.id = mb->id;
	c.uid = rec->uid;
	c.buf = val;
	c.len = CACHE_STAMP + len;
	r = idx_txn_run(mb->store->env, 0, cache_put_cb, &c);
	if (r != IDX_OK) {
		store_set_idx_error(mb->store, r, "writing the cache");
		return -1;
	}
	return 0;
}

int
mailbox_msg_cache_put_n(struct mailbox *mb, enum store_cache_kind kind,
			const struct store_cache_put *puts, size_t n)
{
	struct cache_many c;
	const struct store_rec *rec;
	int r = 0;

	if (n == 0)
		return 0;
	if (!cache_kind_ok(mb, kind) || store_box_current(mb) < 0)
		return -1;
	/* the stamps are the index's once the sizes learnt are in it */
	store_box_info_flush(mb);
	c.kind = (enum idx_cache_kind)kind;
	c.id = mb->id;
	c.n = 0;
	c.uids = xcalloc(n, sizeof(*c.uids));
	c.vals = xcalloc(n, sizeof(*c.vals));
	c.lens = xcalloc(n, sizeof(*c.lens));
	for (size_t i = 0; i < n; i++) {
		if (puts[i].len > STORE_CACHE_MAX ||
		    seq_check(mb, puts[i].seq) < 0 ||
		    (rec = win_get(mb, puts[i].seq)) == NULL)
			continue;
		c.uids[c.n] = rec->uid;
		c.vals[c.n] = xmalloc(CACHE_STAMP + puts[i].len);
		cache_stamp(c.vals[c.n], rec);
		memcpy(c.vals[c.n] + CACHE_STAMP, puts[i].data, puts[i].len);
		c.lens[c.n] = CACHE_STAMP + puts[i].len;
		c.n++;
	}
	cwin_drop_kind(mb, kind);
	r = idx_txn_run(mb->store->env, 0, cache_put_many_cb, &c);
	if (r != IDX_OK) {
		store_set_idx_error(mb->store, r, "writing the cache");
		r = -1;
	}
	for (size_t i = 0; i < c.n; i++)
		free(c.vals[i]);
	free(c.uids);
	free(c.vals);
	free(c.lens);
	return r;
}
