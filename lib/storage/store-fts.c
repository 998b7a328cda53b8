/*
 * store-fts: the full-text index (lib/index/fts.c) seen from the store:
 * who fills it and what SEARCH asks it (doc/design.md, "Full-text
 * index" and "SEARCH"). Callers: store.c (store_open), store_append and
 * store_copy_recs (new mail), the imap session (mailbox_fts_fill at
 * SEARCH and on idle ticks, mailbox_fts_search).
 *
 * The text indexed is mail_textnorm_collect's NUL-separated form of
 * MAIL_TEXTNORM_ALL of the message as the store serves it (the bytes
 * mailbox_msg_open gives SEARCH's scan: CRLF, mbox's hidden fields
 * left out), so an answer from the index is the scan's answer. A text
 * over IDX_FTS_TEXT_MAX (or a truncated collect) is not added: the
 * message stays unindexed and SEARCH scans it. Indexing is an
 * optimisation: every failure is logged and leaves messages
 * unindexed, never an error for the command that caused it, and a
 * crash between a message's commit and its indexing leaves it
 * unindexed too (the next fill picks it up).
 */
#include "config.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "mail/textnorm.h"
#include "storage/store-private.h"

/* Journal key of the normalization version the stored texts have. */
#define FTS_VERSION_KEY "fts-textnorm-version"
/* Messages APPEND or COPY index at once (a COPY of 10,000 leaves the
 * rest to the lazy fill), and the text one write transaction takes. */
#define FTS_NEW_MAX 256
#define FTS_BATCH_BYTES (2u * 1024 * 1024)
#define FTS_BATCH_MSGS 16
/* ... and in a fill bounded in time (a session's idle tick, SEARCH):
 * writing a batch is not bounded by the deadline and 16 took 175-470
 * ms with 10 sessions indexing at once, holding up their commands; one
 * per transaction costs about 8% more CPU (bench/RESULTS.md, token
 * pairs' table). */
#define FTS_BATCH_MSGS_TIMED 2

/* ---- the version ---------------------------------------------------- */

static int
drop_mbox_cb(const char *name, const struct idx_mbox *m, void *ctx)
{
	struct idx_txn *txn = ctx;
	int r;

	(void)name;
	r = idx_fts_drop(txn, m->id);
	return r == IDX_OK ? 0 : r;
}

static int
version_cb(struct idx_txn *txn, void *vctx)
{
	uint8_t want = MAIL_TEXTNORM_VERSION, have = 0;
	bool *dropped = vctx;
	size_t len = 0;
	int r;

	*dropped = false;
	r = idx_journal_get(txn, FTS_VERSION_KEY, strlen(FTS_VERSION_KEY),
			    &have, sizeof(have), &len);
	if (r == IDX_OK && len == 1 && have == want)
		return IDX_OK;
	if (r != IDX_OK && r != IDX_NOTFOUND && r != IDX_LIMIT)
		return r;
	if (r != IDX_NOTFOUND) {
		/* Another version (or a damaged record): no stored text
		 * may be compared with today's needles. */
		if ((r = idx_mbox_list(txn, NULL, drop_mbox_cb, txn)) != 0)
			return r;
		*dropped = true;
	}
	return idx_journal_put(txn, FTS_VERSION_KEY, strlen(FTS_VERSION_KEY),
			       &want, sizeof(want));
}

static int
version_read_cb(struct idx_txn *txn, void *vctx)
{
	uint8_t have = 0;
	size_t len = 0;
	int r;

	(void)vctx;
	r = idx_journal_get(txn, FTS_VERSION_KEY, strlen(FTS_VERSION_KEY),
			    &have, sizeof(have), &len);
	if (r == IDX_OK && len == 1 && have == MAIL_TEXTNORM_VERSION)
		return IDX_OK;
	return r == IDX_OK ? IDX_USER : r;
}

void
store_fts_open(struct store *s)
{
	bool dropped = false;
	int r;

	/* The common case reads one small record. */
	r = idx_txn_run(s->env, IDX_TXN_READ, version_read_cb, NULL);
	if (r == IDX_OK)
		return;
	r = idx_txn_run(s->env, 0, version_cb, &dropped);
	if (r != IDX_OK)
		log_warn("store: full-text version record: %s",
			 idx_strerror(r));
	else if (dropped)
		log_info("store: full-text index of another normalization "
			 "version dropped; it is rebuilt as mail is searched");
}

/* ---- filling ------------------------------------------------------------ */

/* The records of the UIDs to index, read in one transaction. */
struct fts_recs {
	uint32_t id;
	const uint32_t *uids;
	size_t n;
	struct store_rec *recs;
	uint8_t (*blobs)[IDX_BLOB_MAX];
	size_t got;
};

static int
recs_cb(struct idx_txn *txn, void *vctx)
{
	struct fts_recs *c = vctx;
	struct idx_msg m;
	int r;

	c->got = 0;
	for (size_t i = 0; i < c->n; i++) {
		struct store_rec *rec = &c->recs[c->got];

		r = idx_msg_get(txn, c->id, c->uids[i], &m);
		if (r == IDX_NOTFOUND)
			continue;       /* expunged meanwhile */
		if (r != IDX_OK)
			return r;
		memcpy(c->blobs[c->got], m.blob, m.blob_len);
		rec->uid = c->uids[i];
		rec->flags = m.flags;
		rec->keywords = m.keywords;
		rec->modseq = m.modseq;
		rec->internaldate = m.internaldate;
		rec->size = m.size;
		rec->blob_len = m.blob_len;
		rec->blob = c->blobs[c->got];
		c->got++;
	}
	return IDX_OK;
}

/* Texts waiting for one write transaction. */
struct fts_batch {
	uint32_t id;
	uint32_t uids[FTS_BATCH_MSGS];
	size_t offs[FTS_BATCH_MSGS + 1];
	size_t n;
	struct buf *text;
	size_t added;
};

static int
add_cb(struct idx_txn *txn, void *vctx)
{
	struct fts_batch *b = vctx;
	const uint8_t *t = buf_data(b->text);
	int r;

	b->added = 0;
	for (size_t i = 0; i < b->n; i++) {
		r = idx_fts_add(txn, b->id, b->uids[i], t + b->offs[i],
				b->offs[i + 1] - b->offs[i]);
		if (r == IDX_OK)
			b->added++;
		else if (r != IDX_EXISTS && r != IDX_NOTFOUND &&
			 r != IDX_LIMIT)
			return r;       /* IDX_RETRY among them */
	}
	return IDX_OK;
}

static int
batch_flush(struct mailbox *box, struct fts_batch *b)
{
	int r = IDX_OK;

	if (b->n > 0)
		r = idx_txn_run(box->store->env, 0, add_cb, b);
	/* Logged; IDX_REBUILT also makes the store resync. */
	if (r != IDX_OK) {
		log_warn("store: %s: full-text index: %s", box->name,
			 idx_strerror(r));
		store_set_idx_error(box->store, r, "full-text indexing");
	}
	b->n = 0;
	buf_reset(b->text);
	return r == IDX_OK ? 0 : -1;
}

static bool
skipped(const struct mailbox *box, uint32_t uid)
{
	size_t lo = 0, hi = box->fts_skip.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (box->fts_skip.v[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < box->fts_skip.n && box->fts_skip.v[lo] == uid;
}

/* Remembers that uid is not to be tried again (kept ascending). */
static void
skip_add(struct mailbox *box, uint32_t uid)
{
	size_t i;

	if (skipped(box, uid))
		return;
	arr_push(&box->fts_skip, uid);
	for (i = box->fts_skip.n - 1; i > 0 &&
	     box->fts_skip.v[i - 1] > uid; i--)
		box->fts_skip.v[i] = box->fts_skip.v[i - 1];
	box->fts_skip.v[i] = uid;
}

/* Up to this size a message is read into memory to be indexed (where
 * the backend can: an LF Maildir file then needs no converted copy). */
#define FTS_READ_MEM_MAX (1024u * 1024u)

/* Collects the text of rec into b; false if it is not to be indexed
 * (gone, unreadable, or too long: it stays unindexed). mem: room for
 * the message's bytes (2 FTS_READ_MEM_MAX). */
static bool
collect_one(struct mailbox *box, const struct store_rec *rec,
	    struct fts_batch *b, struct buf *one, struct buf *mem)
{
	struct mail_textnorm_src src;
	struct store_txn *t;
	bool truncated = false;
	off_t off = 0;
	uint64_t size = 0;
	int fd = -1, r;

	if ((t = store_txn_begin(box, STORE_TXN_CACHED)) == NULL)
		return false;
	r = store_be_serve(box, rec, t, 0, FTS_READ_MEM_MAX, false, &fd, &off,
			   mem, &size);
	store_box_commit_quietly(box, t);
	store_txn_free(&t);
	if (r < 0) {
		skip_add(box, rec->uid);
		return false;
	}
	memset(&src, 0, sizeof(src));
	src.fd = fd;
	src.offset = off;
	src.size = size;
	if (fd < 0) {
		src.data = buf_data(mem);
		src.size = buf_len(mem);
	}
	buf_reset(one);
	r = mail_textnorm_collect(&src, NULL, MAIL_TEXTNORM_ALL,
				  IDX_FTS_TEXT_MAX, one, &truncated);
	if (fd >= 0)
		close(fd);
	if (r < 0 || truncated || buf_len(one) == 0) {
		/* Scanned by every SEARCH; indexing it is not tried again
		 * (an empty text: nothing to index, also scanned). */
		skip_add(box, rec->uid);
		return false;
	}
	if (buf_append(b->text, buf_data(one), buf_len(one)) < 0)
		return false;
	b->uids[b->n] = rec->uid;
	b->offs[++b->n] = buf_len(b->text);
	return true;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Indexes uids[0..n-1] (ascending) of box, until deadline_ms (0: none).
 * *done receives how many were handled (indexed or found not to be
 * indexable). 0, or -1 after an index error. */
static int
index_uids(struct mailbox *box, const uint32_t *uids, size_t n,
	   uint64_t deadline_ms, size_t *done)
{
	struct fts_recs c;
	struct fts_batch b;
	struct buf *one, *mem;
	size_t batch_max = deadline_ms != 0 ? FTS_BATCH_MSGS_TIMED :
		FTS_BATCH_MSGS;
	int ret = 0, r;

	*done = 0;
	if (n == 0)
		return 0;
	memset(&c, 0, sizeof(c));
	c.id = box->id;
	c.uids = uids;
	c.n = n;
	c.recs = xreallocarray(NULL, n, sizeof(*c.recs));
	c.blobs = xreallocarray(NULL, n, sizeof(*c.blobs));
	r = idx_txn_run(box->store->env, IDX_TXN_READ, recs_cb, &c);
	if (r != IDX_OK) {
		log_warn("store: %s: full-text index: %s", box->name,
			 idx_strerror(r));
		store_set_idx_error(box->store, r, "full-text indexing");
		free(c.recs);
		free(c.blobs);
		return -1;
	}
	memset(&b, 0, sizeof(b));
	b.id = box->id;
	b.text = buf_new(FTS_BATCH_BYTES + IDX_FTS_TEXT_MAX);
	one = buf_new(IDX_FTS_TEXT_MAX);
	mem = buf_new(2 * FTS_READ_MEM_MAX);
	for (size_t i = 0; i < c.got && ret == 0; i++) {
		if (deadline_ms != 0 && now_ms() >= deadline_ms)
			break;
		(void)collect_one(box, &c.recs[i], &b, one, mem);
		if (b.n == batch_max || buf_len(b.text) >= FTS_BATCH_BYTES)
			ret = batch_flush(box, &b);
		if (ret == 0)
			*done = i + 1;
	}
	if (ret == 0)
		ret = batch_flush(box, &b);
	if (ret == 0 && *done == c.got)
		*done = n;      /* the expunged ones count as handled */
	buf_free(&one);
	buf_free(&mem);
	buf_free(&b.text);
	free(c.recs);
	free(c.blobs);
	return ret;
}

void
store_fts_index_new(struct mailbox *box, const uint32_t *uids, size_t n)
{
	uint32_t *sorted;
	size_t done;

	if (box->store->set.no_fts || n == 0)
		return;
	/* APPEND and COPY give ascending UIDs; keep a bounded share. */
	if (n > FTS_NEW_MAX)
		n = FTS_NEW_MAX;
	sorted = xreallocarray(NULL, n, sizeof(*sorted));
	memcpy(sorted, uids, n * sizeof(*sorted));
	for (size_t i = 1; i < n; i++) {
		uint32_t x = sorted[i];
		size_t j = i;

		while (j > 0 && sorted[j - 1] > x) {
			sorted[j] = sorted[j - 1];
			j--;
		}
		sorted[j] = x;
	}
	(void)index_uids(box, sorted, n, 0, &done);
	free(sorted);
}

/* ---- the unindexed UIDs --------------------------------------------------- */

struct unindexed {
	uint32_t *uids;
	size_t n, cap, max;
	bool more;
	const struct mailbox *skip;	/* leave out its fts_skip */
};

static int
unindexed_uid_cb(uint32_t uid, void *vctx)
{
	struct unindexed *u = vctx;

	if (u->skip != NULL && skipped(u->skip, uid))
		return 0;
	if (u->max != 0 && u->n == u->max) {
		u->more = true;
		return IDX_USER;
	}
	if (u->n == u->cap) {
		u->cap = u->cap == 0 ? 64 : 2 * u->cap;
		u->uids = xreallocarray(u->uids, u->cap, sizeof(*u->uids));
	}
	u->uids[u->n++] = uid;
	return 0;
}

struct fill_ctx {
	uint32_t id;
	struct unindexed u;
};

static int
fill_list_cb(struct idx_txn *txn, void *vctx)
{
	struct fill_ctx *f = vctx;
	int r;

	f->u.n = 0;
	f->u.more = false;
	r = idx_fts_unindexed(txn, f->id, unindexed_uid_cb, &f->u);
	return r == IDX_USER ? IDX_OK : r;
}

int
mailbox_fts_fill(struct mailbox *mb, size_t max_msgs, unsigned max_ms,
		 bool *more)
{
	struct fill_ctx f;
	uint64_t deadline = now_ms() + max_ms;
	size_t done = 0;
	int r;

	*more = false;
	if (mb->store->set.no_fts || max_msgs == 0)
		return 0;
	if (store_box_current(mb) < 0)
		return -1;
	if (mb->fts_done_uidnext != 0 &&
	    mb->fts_done_uidnext == mb->rec.uidnext)
		return 0;
	memset(&f, 0, sizeof(f));
	f.id = mb->id;
	f.u.max = max_msgs;
	f.u.skip = mb;
	r = idx_txn_run(mb->store->env, IDX_TXN_READ, fill_list_cb, &f);
	if (r != IDX_OK) {
		free(f.u.uids);
		store_set_idx_error(mb->store, r, "listing unindexed mail");
		return -1;
	}
	if (f.u.n == 0) {
		mb->fts_done_uidnext = mb->rec.uidnext;
		free(f.u.uids);
		return 0;
	}
	r = index_uids(mb, f.u.uids, f.u.n, deadline, &done);
	*more = f.u.more || done < f.u.n;
	free(f.u.uids);
	if (r < 0) {
		store_set_error(mb->store, STORE_ERR_TEMP,
				"full-text indexing failed");
		return -1;
	}
	return 0;
}

/* ---- searching ------------------------------------------------------------ */

struct search_ctx {
	uint32_t id;
	struct mailbox_fts_query *q;
	size_t nq;
	struct unindexed u;
};

static int
search_cb(struct idx_txn *txn, void *vctx)
{
	struct search_ctx *c = vctx;
	struct idx_fts_result res;
	int r;

	c->u.n = 0;
	r = idx_fts_unindexed(txn, c->id, unindexed_uid_cb, &c->u);
	if (r != IDX_OK)
		return r;
	for (size_t i = 0; i < c->nq; i++) {
		memset(&res, 0, sizeof(res));
		r = idx_fts_search(txn, c->id, c->q[i].needle, c->q[i].len,
				   &res);
		if (r != IDX_OK) {
			idx_fts_result_free(&res);
			return r;
		}
		free(c->q[i].uids);
		c->q[i].uids = res.uids;        /* taken over */
		c->q[i].n = res.count;
	}
	return IDX_OK;
}

int
mailbox_fts_search(struct mailbox *mb, struct mailbox_fts_query *q,
		   size_t nq, uint32_t **unindexed, size_t *n_unindexed)
{
	struct search_ctx c;
	int r;

	*unindexed = NULL;
	*n_unindexed = 0;
	for (size_t i = 0; i < nq; i++) {
		q[i].uids = NULL;
		q[i].n = 0;
	}
	if (mb->store->set.no_fts)
		return 1;
	if (store_box_current(mb) < 0)
		return -1;
	memset(&c, 0, sizeof(c));
	c.id = mb->id;
	c.q = q;
	c.nq = nq;
	r = idx_txn_run(mb->store->env, IDX_TXN_READ, search_cb, &c);
	if (r != IDX_OK) {
		free(c.u.uids);
		mailbox_fts_free(q, nq, NULL);
		store_set_idx_error(mb->store, r, "full-text search");
		return -1;
	}
	*unindexed = c.u.uids;
	*n_unindexed = c.u.n;
	return 0;
}

void
mailbox_fts_free(struct mailbox_fts_query *q, size_t nq,
		 uint32_t **unindexed)
{
	for (size_t i = 0; i < nq; i++) {
		free(q[i].uids);
		q[i].uids = NULL;
		q[i].n = 0;
	}
	if (unindexed != NULL) {
		free(*unindexed);
		*unindexed = NULL;
	}
}
