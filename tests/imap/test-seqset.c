/* Tests for lib/imap/seqset.c: RFC 9051 §9 sequence-set syntax, "*" for
 * sequence numbers and UIDs (§9 seq-number, §6.4.9), "$" (RFC 5182),
 * normalisation, membership, iteration, building and writing. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/buf.h"
#include "core/pool.h"
#include "imap/seqset.h"

static struct pool *pool;

static void
setup(void)
{
	pool = pool_new(4096);
}

static void
teardown(void)
{
	pool_free(&pool);
}

/* Parses s and resolves it as message sequence numbers against exists;
 * returns the written normalised set, or NULL on error. */
static const char *
seq(const char *s, uint32_t exists)
{
	const char *error = NULL;
	struct seqset *p = seqset_parse(pool, s, strlen(s), SEQSET_MAX_RANGES,
					&error);
	struct seqset *r;
	struct buf *b;
	const char *res;

	if (p == NULL) {
		cr_assert(error != NULL && *error != '\0');
		return NULL;
	}
	r = seqset_resolve_seq(pool, p, exists, &error);
	if (r == NULL) {
		cr_assert(error != NULL && *error != '\0');
		return NULL;
	}
	b = buf_new(1 << 20);
	cr_assert_eq(seqset_write(r, b), 0);
	res = pool_strdup(pool, buf_str(b));
	buf_free(&b);
	return res;
}

static const char *
uid(const char *s, uint32_t highest, uint32_t uidnext)
{
	const char *error = NULL;
	struct seqset *p = seqset_parse(pool, s, strlen(s), SEQSET_MAX_RANGES,
					&error);
	struct seqset *r;
	struct buf *b;
	const char *res;

	if (p == NULL)
		return NULL;
	r = seqset_resolve_uid(pool, p, highest, uidnext);
	b = buf_new(1 << 20);
	cr_assert_eq(seqset_write(r, b), 0);
	res = pool_strdup(pool, buf_str(b));
	buf_free(&b);
	return res;
}

#define EXPECT(got, want) do { \
	const char *g_ = (got), *w_ = (want); \
	if (w_ == NULL) \
		cr_assert_null(g_, "%s: got \"%s\", want an error", #got, g_); \
	else { \
		cr_assert_not_null(g_, "%s: got an error, want \"%s\"", #got, w_); \
		cr_assert_str_eq(g_, w_, "%s: got \"%s\", want \"%s\"", #got, g_, w_); \
	} \
} while (0)

TestSuite(seqset, .init = setup, .fini = teardown);

Test(seqset, syntax)
{
	EXPECT(seq("1", 10), "1");
	EXPECT(seq("1,3:5,7:*", 10), "1,3:5,7:10");
	EXPECT(seq("*", 10), "10");
	EXPECT(seq("4294967295", 4294967295u), "4294967295");
	EXPECT(seq("1:4294967295", 4294967295u), "1:4294967295");
	/* Refused: 0, leading zeros, > 2^32-1, empty elements, junk. */
	EXPECT(seq("", 10), NULL);
	EXPECT(seq("0", 10), NULL);
	EXPECT(seq("0:3", 10), NULL);
	EXPECT(seq("01", 10), NULL);
	EXPECT(seq("4294967296", 4294967295u), NULL);
	EXPECT(seq("99999999999999999999", 4294967295u), NULL);
	EXPECT(seq("1,", 10), NULL);
	EXPECT(seq(",1", 10), NULL);
	EXPECT(seq("1,,2", 10), NULL);
	EXPECT(seq("1:", 10), NULL);
	EXPECT(seq(":1", 10), NULL);
	EXPECT(seq("1:2:3", 10), NULL);
	EXPECT(seq("1 2", 10), NULL);
	EXPECT(seq(" 1", 10), NULL);
	EXPECT(seq("+1", 10), NULL);
	EXPECT(seq("-1", 10), NULL);
	EXPECT(seq("1.5", 10), NULL);
	EXPECT(seq("**", 10), NULL);
	EXPECT(seq("*1", 10), NULL);
	EXPECT(seq("1*", 10), NULL);
	EXPECT(seq("a", 10), NULL);
	EXPECT(seq("$$", 10), NULL);
	EXPECT(seq("$,1", 10), NULL);
	EXPECT(seq("1:$", 10), NULL);
	EXPECT(seq("$:1", 10), NULL);
}

Test(seqset, embedded_nul_is_refused)
{
	const char *error;

	cr_assert_null(seqset_parse(pool, "1\0" "2", 3, SEQSET_MAX_RANGES,
				    &error));
	/* Only len bytes are read: "12" with len 1 is "1". */
	cr_assert_not_null(seqset_parse(pool, "12", 1, SEQSET_MAX_RANGES,
					&error));
}

/* RFC 9051 §9 examples. */
Test(seqset, rfc_examples)
{
	/* "2,4:7,9,12:* for a mailbox with 15 messages is equivalent to
	 * 2,4,5,6,7,9,12,13,14,15" */
	EXPECT(seq("2,4:7,9,12:*", 15), "2,4:7,9,12:15");
	/* "*:4,5:7 for a mailbox with 10 messages ... MAY be reordered and
	 * overlap coalesced to be 4,5,6,7,8,9,10" */
	EXPECT(seq("*:4,5:7", 10), "4:10");
	/* "2:4 and 4:2 are equivalent" */
	EXPECT(seq("4:2", 10), "2:4");
	/* "a unique identifier sequence range of 3291:* includes the UID of
	 * the last message in the mailbox, even if that value is less than
	 * 3291" */
	EXPECT(uid("3291:*", 3000, 3001), "3000:3291");
}

Test(seqset, normalise)
{
	EXPECT(seq("5,4,3,2,1", 10), "1:5");
	EXPECT(seq("1,3,5", 10), "1,3,5");
	EXPECT(seq("1:3,4:6", 10), "1:6");            /* adjacent merge */
	EXPECT(seq("1:3,5:6", 10), "1:3,5:6");
	EXPECT(seq("7:9,1:8", 10), "1:9");
	EXPECT(seq("1,1,1", 10), "1");
	EXPECT(seq("3:1,2", 10), "1:3");
	EXPECT(seq("10,1:*", 10), "1:10");
	EXPECT(uid("4294967295,1:4294967294", 1, 2), "1:4294967295");
	EXPECT(uid("4294967294:4294967295,4294967295", 1, 2),
	       "4294967294:4294967295");
}

/* RFC 9051 §9 seq-number: "The server should respond with a tagged BAD
 * response to a command that uses a message sequence number greater than
 * the number of messages in the selected mailbox. This includes "*" if
 * the selected mailbox is empty." */
Test(seqset, seq_bounds)
{
	EXPECT(seq("11", 10), NULL);
	EXPECT(seq("1:11", 10), NULL);
	EXPECT(seq("*", 0), NULL);
	EXPECT(seq("1:*", 0), NULL);
	EXPECT(seq("1", 0), NULL);
	EXPECT(seq("10", 10), "10");
}

/* UIDs: "*" is the last UID, or UIDNEXT in an empty mailbox (§9); no
 * range is an error. */
Test(seqset, uid_star)
{
	EXPECT(uid("*", 42, 43), "42");
	EXPECT(uid("1:*", 42, 43), "1:42");
	EXPECT(uid("100:*", 42, 43), "42:100");
	EXPECT(uid("*", 0, 17), "17");
	EXPECT(uid("1:*", 0, 17), "1:17");
	EXPECT(uid("500", 42, 43), "500");
	EXPECT(uid("*", 0, 0), "1");
}

Test(seqset, searchres_marker)
{
	const char *error;
	struct seqset *p, *r, *saved;
	struct buf *b = buf_new(256);

	p = seqset_parse(pool, "$", 1, SEQSET_MAX_RANGES, &error);
	cr_assert_not_null(p);
	cr_assert(p->has_last);
	cr_assert_eq(p->n, 0);
	p = seqset_parse(pool, "1:2,$", 5, SEQSET_MAX_RANGES, &error);
	cr_assert_not_null(p);
	cr_assert(p->has_last);
	r = seqset_resolve_seq(pool, p, 10, &error);
	cr_assert_not_null(r);
	cr_assert(r->has_last);
	/* The caller resolves "$" with the saved result. */
	saved = seqset_new(pool);
	seqset_add(saved, 3, 3);
	seqset_add(saved, 7, 8);
	seqset_union(r, saved);
	cr_assert_eq(seqset_write(r, b), 0);
	cr_assert_str_eq(buf_str(b), "1:3,7:8");
	p = seqset_parse(pool, "1", 1, SEQSET_MAX_RANGES, &error);
	cr_assert(!p->has_last);
	buf_free(&b);
}

Test(seqset, max_ranges)
{
	const char *error = NULL;
	struct buf *b = buf_new(1 << 20);

	for (int i = 1; i <= 100; i++)
		buf_printf(b, "%s%d", i > 1 ? "," : "", 2 * i);
	cr_assert_not_null(seqset_parse(pool, buf_str(b), buf_len(b), 100,
					&error));
	cr_assert_null(seqset_parse(pool, buf_str(b), buf_len(b), 99, &error));
	cr_assert_str_eq(error, "Too many ranges in sequence set");
	buf_free(&b);
}

Test(seqset, contains_count_iter)
{
	const char *error;
	struct seqset *p = seqset_parse(pool, "2,4:7,9,12:*", 12,
					SEQSET_MAX_RANGES, &error);
	struct seqset *r = seqset_resolve_seq(pool, p, 15, &error);
	static const uint32_t want[] = { 2, 4, 5, 6, 7, 9, 12, 13, 14, 15 };
	struct seqset_iter it;
	uint32_t v;
	size_t k = 0;

	cr_assert_eq(seqset_count(r), 10);
	for (uint32_t x = 0; x <= 16; x++) {
		bool in = false;

		for (size_t i = 0; i < 10; i++)
			in = in || want[i] == x;
		cr_assert_eq(seqset_contains(r, x), in, "contains(%u)", x);
	}
	seqset_iter_init(&it, r);
	while (seqset_iter_next(&it, &v)) {
		cr_assert_lt(k, 10);
		cr_assert_eq(v, want[k], "value %zu: got %u, want %u", k, v,
			     want[k]);
		k++;
	}
	cr_assert_eq(k, 10);
	cr_assert(!seqset_iter_next(&it, &v));
}

/* Iterating up to 4294967295 must end, not wrap to 0. */
Test(seqset, iter_top)
{
	struct seqset *s = seqset_new(pool);
	struct seqset_iter it;
	uint32_t v, last = 0;
	int n = 0;

	seqset_add(s, 4294967293u, 4294967295u);
	cr_assert_eq(seqset_count(s), 3);
	seqset_iter_init(&it, s);
	while (seqset_iter_next(&it, &v)) {
		last = v;
		cr_assert_lt(++n, 4);
	}
	cr_assert_eq(n, 3);
	cr_assert_eq(last, 4294967295u);
	cr_assert(seqset_contains(s, 4294967295u));
	cr_assert(!seqset_contains(s, 4294967292u));
	seqset_add(s, 1, 4294967292u);
	cr_assert_eq(s->n, 1);
	cr_assert_eq(seqset_count(s), 4294967295ull);
}

Test(seqset, add_builds_normalised)
{
	struct seqset *s = seqset_new(pool);
	struct buf *b = buf_new(4096);

	seqset_add(s, 10, 12);
	seqset_add(s, 1, 1);
	seqset_add(s, 5, 5);
	seqset_add(s, 3, 3);
	cr_assert_eq(seqset_write(s, b), 0);
	cr_assert_str_eq(buf_str(b), "1,3,5,10:12");
	seqset_add(s, 2, 2);        /* joins 1 and 3 */
	seqset_add(s, 13, 13);      /* adjacent to 10:12 */
	seqset_add(s, 9, 4);        /* reversed; 4:9 bridges 1:3 and 10:13 */
	buf_reset(b);
	cr_assert_eq(seqset_write(s, b), 0);
	cr_assert_str_eq(buf_str(b), "1:13");
	cr_assert_eq(s->n, 1);
	/* Many appends in order grow the array (pool-backed). */
	s = seqset_new(pool);
	for (uint32_t i = 1; i <= 1000; i++)
		seqset_add(s, 3 * i, 3 * i);
	cr_assert_eq(s->n, 1000);
	cr_assert_eq(seqset_count(s), 1000);
	for (uint32_t i = 1; i <= 1000; i++)
		seqset_add(s, 3 * i + 1, 3 * i + 2);
	cr_assert_eq(s->n, 1);
	cr_assert_eq(s->r[0].lo, 3);
	cr_assert_eq(s->r[0].hi, 3002);
	buf_free(&b);
}

/* Random adds agree with a bitmap model. */
Test(seqset, add_model)
{
	uint32_t st = 12345;

	for (int round = 0; round < 200; round++) {
		struct seqset *s = seqset_new(pool);
		bool model[80] = { false };
		int nadd = 1 + round % 20;

		for (int k = 0; k < nadd; k++) {
			uint32_t lo, hi;

			st ^= st << 13; st ^= st >> 17; st ^= st << 5;
			lo = 1 + st % 70;
			st ^= st << 13; st ^= st >> 17; st ^= st << 5;
			hi = 1 + st % 70;
			seqset_add(s, lo, hi);
			for (uint32_t v = lo < hi ? lo : hi;
			     v <= (lo < hi ? hi : lo); v++)
				model[v] = true;
		}
		for (size_t i = 0; i < s->n; i++) {
			cr_assert_leq(s->r[i].lo, s->r[i].hi);
			if (i > 0)
				cr_assert_gt(s->r[i].lo,
					     (uint64_t)s->r[i - 1].hi + 1,
					     "round %d: ranges not disjoint and "
					     "apart", round);
		}
		for (uint32_t v = 0; v < 80; v++)
			cr_assert_eq(seqset_contains(s, v), model[v],
				     "round %d value %u", round, v);
		pool_clear(pool);
	}
}

Test(seqset, write_limit)
{
	struct seqset *s = seqset_new(pool);
	struct buf *b = buf_new(8);

	seqset_add(s, 1, 3);
	seqset_add(s, 100, 100);
	buf_append_str(b, "x");
	cr_assert_eq(seqset_write(s, b), 0);     /* "x1:3,100" = 8 bytes */
	cr_assert_str_eq(buf_str(b), "x1:3,100");
	buf_reset(b);
	buf_append_str(b, "xy");
	cr_assert_eq(seqset_write(s, b), -1);
	cr_assert_str_eq(buf_str(b), "xy");
	buf_free(&b);
}
