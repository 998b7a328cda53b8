/*
 * index raw access: get/put/delete and ordered walks on one database,
 * inside a transaction. Every value is read into caller memory with a
 * hard size (DB_DBT_USERMEM), so a record larger than its type allows
 * is an error, not an allocation; walks read in bulk (DB_MULTIPLE_KEY)
 * into a bounded buffer and close the cursor before calling back.
 */
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "index/private.h"

/* Bulk buffer of a walk: a multiple of 1 kB and at least one page; it
 * grows (up to the largest record plus slack) only for big values. */
#define IDX_WALK_BUF (8 * 1024)
#define IDX_WALK_BUF_MAX (IDX_JOURNAL_MAX + 64 * 1024)

static void
dbt_in(DBT *d, const void *data, size_t len)
{
	memset(d, 0, sizeof(*d));
	d->data = (void *)data;
	d->size = (u_int32_t)len;
}

int
idx_get(struct idx_txn *txn, enum idx_db which, const void *key,
	size_t klen, void *buf, size_t cap, size_t *len, uint32_t flags)
{
	DB *db = txn->env->db[which];
	DBT k, d;
	int r;

	if (txn->fail != 0)
		return IDX_RETRY;
	dbt_in(&k, key, klen);
	memset(&d, 0, sizeof(d));
	d.data = buf;
	d.ulen = (u_int32_t)cap;
	d.flags = DB_DBT_USERMEM;
	r = db->get(db, txn->t, &k, &d, flags);
	if (r == 0 || r == DB_BUFFER_SMALL)
		*len = d.size;
	return idx_dberr(txn, r, idx_db_files[which]);
}

int
idx_put(struct idx_txn *txn, enum idx_db which, const void *key,
	size_t klen, const void *val, size_t vlen, uint32_t flags)
{
	DB *db = txn->env->db[which];
	DBT k, d;
	int r;

	if ((r = idx_require_write(txn)) != IDX_OK)
		return r;
	dbt_in(&k, key, klen);
	dbt_in(&d, val, vlen);
	return idx_dberr(txn, db->put(db, txn->t, &k, &d, flags),
			 idx_db_files[which]);
}

int
idx_del(struct idx_txn *txn, enum idx_db which, const void *key,
	size_t klen)
{
	DB *db = txn->env->db[which];
	DBT k;
	int r;

	if ((r = idx_require_write(txn)) != IDX_OK)
		return r;
	dbt_in(&k, key, klen);
	return idx_dberr(txn, db->del(db, txn->t, &k, 0), idx_db_files[which]);
}

int
idx_get_u32(struct idx_txn *txn, enum idx_db which, const void *key,
	    size_t klen, uint32_t *v, uint32_t flags)
{
	uint8_t b[4];
	size_t len;
	int r;

	r = idx_get(txn, which, key, klen, b, sizeof(b), &len, flags);
	if (r == IDX_LIMIT || (r == IDX_OK && len != 4))
		return IDX_CORRUPT;
	if (r == IDX_OK)
		*v = idx_be32_get(b);
	return r;
}

int
idx_put_u32(struct idx_txn *txn, enum idx_db which, const void *key,
	    size_t klen, uint32_t v)
{
	uint8_t b[4];

	idx_be32_put(b, v);
	return idx_put(txn, which, key, klen, b, sizeof(b), 0);
}

int
idx_walk(struct idx_txn *txn, enum idx_db which, const void *start,
	 size_t slen, size_t plen, idx_walk_fn *fn, void *ctx)
{
	DB *db = txn->env->db[which];
	uint8_t key[IDX_KEY_MAX + 1];
	size_t klen = slen, bufsz = IDX_WALK_BUF;
	uint8_t *buf;
	int rc = IDX_OK;

	if (txn->fail != 0)
		return IDX_RETRY;
	if (slen > IDX_KEY_MAX || plen > slen)
		return IDX_INVAL;
	memcpy(key, start, slen);
	buf = xmalloc(bufsz);
	for (;;) {
		/* BDB writes the key it found into the key DBT, also when it
		 * says the buffer is too small: the position stays in key,
		 * BDB gets a copy (else the retry below started after the
		 * big record and skipped it) */
		uint8_t kout[IDX_KEY_MAX + 1];
		DBC *c;
		DBT k, d;
		void *p, *kp, *vp;
		u_int32_t kl, vl;
		const uint8_t *last = NULL;
		size_t lastlen = 0;
		bool done = false;
		int r;

		if ((r = db->cursor(db, txn->t, &c, 0)) != 0) {
			rc = idx_dberr(txn, r, "cursor");
			break;
		}
		memset(&k, 0, sizeof(k));
		memcpy(kout, key, klen);
		k.data = kout;
		k.size = (u_int32_t)klen;
		k.ulen = sizeof(kout);
		k.flags = DB_DBT_USERMEM;
		memset(&d, 0, sizeof(d));
		d.data = buf;
		d.ulen = (u_int32_t)bufsz;
		d.flags = DB_DBT_USERMEM;
		r = c->get(c, &k, &d, DB_SET_RANGE | DB_MULTIPLE_KEY);
		(void)c->close(c);
		if (r == DB_NOTFOUND)
			break;
		if (r == DB_BUFFER_SMALL && d.size > bufsz &&
		    d.size <= IDX_WALK_BUF_MAX) {
			/* One record larger than the buffer: grow and read
			 * the same position again. */
			bufsz = ((size_t)d.size + 1023) / 1024 * 1024;
			buf = xrealloc(buf, bufsz);
			continue;
		}
		if (r != 0) {
			rc = r == DB_BUFFER_SMALL ? IDX_CORRUPT :
			     idx_dberr(txn, r, idx_db_files[which]);
			break;
		}
		DB_MULTIPLE_INIT(p, &d);
		for (;;) {
			DB_MULTIPLE_KEY_NEXT(p, &d, kp, kl, vp, vl);
			if (p == NULL)
				break;
			if (kl < plen || memcmp(kp, start, plen) != 0 ||
			    kl > IDX_KEY_MAX) {
				done = true;
				break;
			}
			last = kp;
			lastlen = kl;
			if ((rc = fn(kp, kl, vp, vl, ctx)) != IDX_OK) {
				done = true;
				break;
			}
		}
		if (done || last == NULL)
			break;
		/* Continue after the last key: its smallest successor in
		 * byte order is the key followed by a NUL byte. */
		memmove(key, last, lastlen);
		key[lastlen] = 0;
		klen = lastlen + 1;
	}
	free(buf);
	return rc;
}

struct del_ctx {
	struct idx_txn *txn;
	enum idx_db which;
};

static int
del_cb(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
       void *ctx)
{
	struct del_ctx *dc = ctx;

	(void)val;
	(void)vlen;
	return idx_del(dc->txn, dc->which, key, klen);
}

int
idx_del_prefix(struct idx_txn *txn, enum idx_db which, const void *prefix,
	       size_t plen)
{
	struct del_ctx dc = { txn, which };
	int r;

	if ((r = idx_require_write(txn)) != IDX_OK)
		return r;
	return idx_walk(txn, which, prefix, plen, plen, del_cb, &dc);
}
