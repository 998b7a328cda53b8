/*
 * imap-search-fts: see imap-search-fts.h. Input: the parsed program
 * (needles already UTF-8 from the CHARSET) and the index's answers.
 */
#include "config.h"

#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "imap/imap-search-fts.h"
#include "imap/imap-search.h"
#include "mail/casemap.h"
#include "storage/store.h"

/* As imap-search-text.c's bound on a normalized needle. */
#define FTS_NEEDLE_MAX (SEARCH_MAX_STRING * 24 + 64)

static bool
eligible(const struct search_key *k)
{
	return (k->type == SEARCH_KEY_BODY || k->type == SEARCH_KEY_TEXT ||
		k->type == SEARCH_KEY_HEADER) && k->str_len > 0;
}

static size_t
count_keys(const struct search_key *k)
{
	size_t n = eligible(k) ? 1 : 0;

	for (size_t i = 0; i < k->n_children; i++)
		n += count_keys(k->children[i]);
	return n;
}

static void
gather(struct search_key *k, struct search_key **out, size_t *n)
{
	if (eligible(k))
		out[(*n)++] = k;
	for (size_t i = 0; i < k->n_children; i++)
		gather(k->children[i], out, n);
}

static uint32_t *
pool_copy_u32(struct pool *pool, const uint32_t *v, size_t n)
{
	uint32_t *c = pool_alloc(pool, (n + 1) * sizeof(*c));

	if (n > 0)
		memcpy(c, v, n * sizeof(*c));
	return c;
}

void
search_fts_prepare(struct pool *pool, struct search_env *env,
		   struct search_program *p)
{
	struct mailbox_fts_query *q;
	struct search_key **keys;
	uint32_t *unindexed;
	size_t nk = count_keys(p->root), nq = 0, nu;
	struct buf *b;
	bool more;
	int r;

	if (nk == 0 || env->n == 0)
		return;
	/* Index what this SEARCH would scan anyway, up to a bound: the
	 * next one then finds it in the index. */
	if (mailbox_fts_fill(env->mb, SEARCH_FTS_FILL_MAX, SEARCH_FTS_FILL_MS,
			     &more) < 0)
		log_warn("SEARCH: full-text indexing: %s",
			 store_error(env->store)->detail);
	keys = pool_alloc(pool, nk * sizeof(*keys));
	q = pool_alloc(pool, nk * sizeof(*q));
	gather(p->root, keys, &nq);
	b = buf_new(FTS_NEEDLE_MAX);
	for (size_t i = 0; i < nk; i++) {
		char *s;

		/* The needle as the scan normalizes it (needle_set). */
		buf_reset(b);
		(void)mail_casemap(keys[i]->str, keys[i]->str_len, b);
		s = pool_alloc(pool, buf_len(b) + 1);
		memcpy(s, buf_data(b), buf_len(b));
		q[i].needle = s;
		q[i].len = buf_len(b);
	}
	buf_free(&b);
	for (size_t i = 0; i < nk; i++)
		if (q[i].len == 0)
			return;   /* only the scan knows (cannot happen) */
	r = mailbox_fts_search(env->mb, q, nk, &unindexed, &nu);
	if (r != 0) {
		if (r < 0)
			log_warn("SEARCH: full-text index not used: %s",
				 store_error(env->store)->detail);
		return;
	}
	env->fts = true;
	env->fts_unindexed = pool_copy_u32(pool, unindexed, nu);
	env->fts_n_unindexed = nu;
	for (size_t i = 0; i < nk; i++) {
		keys[i]->fts = true;
		keys[i]->fts_uids = pool_copy_u32(pool, q[i].uids, q[i].n);
		keys[i]->fts_n = q[i].n;
	}
	mailbox_fts_free(q, nk, &unindexed);
}

static bool
has_uid(const uint32_t *v, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && v[lo] == uid;
}

int
search_fts_check(const struct search_env *env, const struct search_key *k,
		 uint32_t uid)
{
	if (!env->fts || !k->fts ||
	    has_uid(env->fts_unindexed, env->fts_n_unindexed, uid))
		return SEARCH_FTS_SCAN;
	if (!has_uid(k->fts_uids, k->fts_n, uid))
		return SEARCH_FTS_NO;
	return k->type == SEARCH_KEY_TEXT ? SEARCH_FTS_YES : SEARCH_FTS_SCAN;
}
