/*
 * seqset: parse, resolve, query and write IMAP sequence sets.
 * Callers: FETCH, STORE, COPY, MOVE, SEARCH, EXPUNGE (UID forms too),
 * and the COPYUID/APPENDUID/ESEARCH writers. Text comes from clients and
 * is untrusted; the element count is bounded before anything is
 * allocated. All memory is from the caller's pool.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/pool.h"
#include "imap/seqset.h"

#define INITIAL_CAP 8

static struct seqset *
set_alloc(struct pool *pool, size_t cap)
{
	struct seqset *s = pool_alloc(pool, sizeof(*s));

	s->pool = pool;
	s->cap = cap < INITIAL_CAP ? INITIAL_CAP : cap;
	s->r = pool_alloc(pool, s->cap * sizeof(*s->r));
	return s;
}

struct seqset *
seqset_new(struct pool *pool)
{
	struct seqset *s = set_alloc(pool, INITIAL_CAP);

	s->normalised = true;
	return s;
}

/* seq-number: nz-number / "*". nz-number = digit-nz *DIGIT, <= 2^32-1. */
static int
parse_number(const char *s, size_t len, size_t *pos, uint32_t *v)
{
	uint64_t x = 0;
	size_t p = *pos;

	if (p < len && s[p] == '*') {
		*v = SEQSET_STAR;
		*pos = p + 1;
		return 0;
	}
	if (p >= len || s[p] < '1' || s[p] > '9')
		return -1;
	while (p < len && s[p] >= '0' && s[p] <= '9') {
		x = x * 10 + (uint64_t)(s[p] - '0');
		if (x > UINT32_MAX)
			return -1;
		p++;
	}
	*v = (uint32_t)x;
	*pos = p;
	return 0;
}

struct seqset *
seqset_parse(struct pool *pool, const char *s, size_t len, size_t max_ranges,
	     const char **error)
{
	struct seqset *set;
	size_t n = 1, pos = 0;

	if (len == 0) {
		*error = "Empty sequence set";
		return NULL;
	}
	for (size_t i = 0; i < len; i++) {
		if (s[i] == ',' && ++n > max_ranges) {
			*error = "Too many ranges in sequence set";
			return NULL;
		}
	}
	set = set_alloc(pool, n);
	for (;;) {
		struct seqset_range r;

		if (s[pos] == '$') {
			/* Only as the last element: the grammar has
			 * sequence-set =/ seq-last-command, reached after
			 * a "," or on its own. */
			if (++pos != len)
				goto bad;
			set->has_last = true;
			break;
		}
		if (parse_number(s, len, &pos, &r.lo) < 0)
			goto bad;
		r.hi = r.lo;
		if (pos < len && s[pos] == ':') {
			pos++;
			if (parse_number(s, len, &pos, &r.hi) < 0)
				goto bad;
		}
		if (r.lo == SEQSET_STAR || r.hi == SEQSET_STAR)
			set->has_star = true;
		set->r[set->n++] = r;
		if (pos == len)
			break;
		if (s[pos] != ',' || ++pos == len)
			goto bad;
	}
	return set;
bad:
	*error = "Invalid sequence set";
	return NULL;
}

static int
range_cmp(const void *a, const void *b)
{
	const struct seqset_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Copies in with star replaced, orders endpoints, sorts and merges. */
static struct seqset *
normalise(struct pool *pool, const struct seqset *in, uint32_t star)
{
	struct seqset *out = set_alloc(pool, in->n);
	size_t k = 0;

	for (size_t i = 0; i < in->n; i++) {
		uint32_t lo = in->r[i].lo == SEQSET_STAR ? star : in->r[i].lo;
		uint32_t hi = in->r[i].hi == SEQSET_STAR ? star : in->r[i].hi;

		out->r[i].lo = lo < hi ? lo : hi;
		out->r[i].hi = lo < hi ? hi : lo;
	}
	if (in->n > 1)
		qsort(out->r, in->n, sizeof(*out->r), range_cmp);
	for (size_t i = 0; i < in->n; i++) {
		/* Merge overlapping and adjacent ranges (64-bit: hi may be
		 * 4294967295). */
		if (k > 0 && (uint64_t)out->r[k - 1].hi + 1 >= out->r[i].lo) {
			if (out->r[i].hi > out->r[k - 1].hi)
				out->r[k - 1].hi = out->r[i].hi;
			continue;
		}
		out->r[k++] = out->r[i];
	}
	out->n = k;
	out->has_last = in->has_last;
	out->normalised = true;
	return out;
}

struct seqset *
seqset_resolve_seq(struct pool *pool, const struct seqset *in,
		   uint32_t exists, const char **error)
{
	for (size_t i = 0; i < in->n; i++) {
		const struct seqset_range *r = &in->r[i];

		if ((r->lo == SEQSET_STAR || r->hi == SEQSET_STAR) &&
		    exists == 0) {
			*error = "Mailbox is empty: no message matches \"*\"";
			return NULL;
		}
		if (r->lo > exists || r->hi > exists) {
			*error = "Message sequence number out of range";
			return NULL;
		}
	}
	return normalise(pool, in, exists);
}

struct seqset *
seqset_resolve_uid(struct pool *pool, const struct seqset *in,
		   uint32_t highest_uid, uint32_t uidnext)
{
	uint32_t star = highest_uid != 0 ? highest_uid : uidnext;

	/* UIDNEXT is at least 1; guard against a caller passing 0. */
	return normalise(pool, in, star != 0 ? star : 1);
}

static void
need_normalised(const struct seqset *set, const char *fn)
{
	if (!set->normalised)
		log_panic("%s: sequence set not resolved", fn);
}

static void
grow(struct seqset *set)
{
	struct seqset_range *nr;

	if (set->n < set->cap)
		return;
	if (set->cap > SIZE_MAX / 2 / sizeof(*nr))
		log_panic("seqset: too many ranges");
	nr = pool_alloc(set->pool, 2 * set->cap * sizeof(*nr));
	memcpy(nr, set->r, set->n * sizeof(*nr));
	set->r = nr;
	set->cap *= 2;
}

void
seqset_add(struct seqset *set, uint32_t lo, uint32_t hi)
{
	size_t a, b, i, j;

	need_normalised(set, "seqset_add");
	if (lo > hi) {
		uint32_t t = lo;

		lo = hi;
		hi = t;
	}
	if (lo == 0)
		log_panic("seqset_add: 0 is not a message number");
	/* Fast path: strictly after the last range, not adjacent. */
	if (set->n == 0 || lo > (uint64_t)set->r[set->n - 1].hi + 1) {
		grow(set);
		set->r[set->n].lo = lo;
		set->r[set->n].hi = hi;
		set->n++;
		return;
	}
	/* i = first range that ends at or after lo - 1. */
	for (a = 0, b = set->n; a < b;) {
		size_t m = a + (b - a) / 2;

		if ((uint64_t)set->r[m].hi + 1 < lo)
			a = m + 1;
		else
			b = m;
	}
	i = a;
	/* j = first range that starts after hi + 1. */
	for (a = i, b = set->n; a < b;) {
		size_t m = a + (b - a) / 2;

		if (set->r[m].lo <= (uint64_t)hi + 1)
			a = m + 1;
		else
			b = m;
	}
	j = a;
	if (i == j) {
		/* Touches nothing: insert before i. */
		grow(set);
		memmove(&set->r[i + 1], &set->r[i],
			(set->n - i) * sizeof(*set->r));
		set->r[i].lo = lo;
		set->r[i].hi = hi;
		set->n++;
		return;
	}
	/* Ranges i..j-1 merge with lo:hi into one. */
	if (set->r[i].lo < lo)
		lo = set->r[i].lo;
	if (set->r[j - 1].hi > hi)
		hi = set->r[j - 1].hi;
	set->r[i].lo = lo;
	set->r[i].hi = hi;
	memmove(&set->r[i + 1], &set->r[j], (set->n - j) * sizeof(*set->r));
	set->n -= j - i - 1;
}

void
seqset_union(struct seqset *a, const struct seqset *b)
{
	need_normalised(b, "seqset_union");
	for (size_t i = 0; i < b->n; i++)
		seqset_add(a, b->r[i].lo, b->r[i].hi);
}

bool
seqset_contains(const struct seqset *set, uint32_t v)
{
	size_t a = 0, b;

	need_normalised(set, "seqset_contains");
	b = set->n;
	while (a < b) {
		size_t m = a + (b - a) / 2;

		if (set->r[m].hi < v)
			a = m + 1;
		else
			b = m;
	}
	return a < set->n && set->r[a].lo <= v;
}

uint64_t
seqset_count(const struct seqset *set)
{
	uint64_t n = 0;

	need_normalised(set, "seqset_count");
	for (size_t i = 0; i < set->n; i++)
		n += (uint64_t)set->r[i].hi - set->r[i].lo + 1;
	return n;
}

void
seqset_iter_init(struct seqset_iter *it, const struct seqset *set)
{
	need_normalised(set, "seqset_iter_init");
	it->set = set;
	it->i = 0;
	it->next = set->n > 0 ? set->r[0].lo : 0;
}

bool
seqset_iter_next(struct seqset_iter *it, uint32_t *v)
{
	const struct seqset *set = it->set;

	if (it->i >= set->n)
		return false;
	*v = (uint32_t)it->next;
	if (it->next >= set->r[it->i].hi) {
		it->i++;
		it->next = it->i < set->n ? set->r[it->i].lo : 0;
	} else {
		it->next++;
	}
	return true;
}

int
seqset_write(const struct seqset *set, struct buf *out)
{
	size_t start = buf_len(out);

	need_normalised(set, "seqset_write");
	for (size_t i = 0; i < set->n; i++) {
		const struct seqset_range *r = &set->r[i];
		int ret;

		if (r->lo == r->hi)
			ret = buf_printf(out, "%s%u", i > 0 ? "," : "", r->lo);
		else
			ret = buf_printf(out, "%s%u:%u", i > 0 ? "," : "",
					 r->lo, r->hi);
		if (ret < 0) {
			buf_truncate(out, start);
			errno = EMSGSIZE;
			return -1;
		}
	}
	return 0;
}
