/*
 * libFuzzer harness for the name parsers clients and other programs
 * feed us: lib/imap/mutf7.c, mailbox-name.c, seqset.c and
 * lib/storage/maildir-name.c. The same bytes go to each; the first HDR
 * bytes pick the hierarchy separator, UTF-8 mode and the mailbox sizes
 * for sequence-set resolution. Round trips must hold (abort() otherwise):
 *   - mUTF-7 accepted only in canonical form: decode then encode gives
 *     the input back; encoding valid UTF-8 decodes back to it;
 *   - a mailbox name that passes is canonical (checking it again changes
 *     nothing), and its Maildir++ and mbox forms map back to it;
 *     a disk name accepted by the reverse mappings maps forward to
 *     itself;
 *   - a sequence set, resolved and written, parses to the same set; the
 *     set is sorted, disjoint, non-adjacent, and its queries agree;
 *   - a Maildir name rebuilt from its parse parses to the same fields.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/pool.h"
#include "imap/mailbox-name.h"
#include "imap/mutf7.h"
#include "imap/seqset.h"
#include "storage/maildir-name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR 6

static void
check(int cond)
{
	if (!cond)
		abort();
}

static bool
buf_is(const struct buf *b, const void *s, size_t len)
{
	return buf_len(b) == len && memcmp(buf_data(b), s, len) == 0;
}

static void
fuzz_mutf7(const char *s, size_t len)
{
	struct buf *a = buf_new(8 * len + 16), *b = buf_new(8 * len + 16);
	bool ok = mutf7_to_utf8(s, len, a) == 0;

	check(ok == mutf7_valid(s, len));
	if (ok) {
		check(mutf7_utf8_valid(buf_str(a), buf_len(a)));
		check(mutf7_from_utf8(buf_str(a), buf_len(a), b) == 0);
		check(buf_is(b, s, len));
	} else {
		check(buf_len(a) == 0);
	}
	buf_reset(a);
	buf_reset(b);
	if (mutf7_from_utf8(s, len, a) == 0) {
		check(mutf7_utf8_valid(s, len));
		check(mutf7_valid(buf_str(a), buf_len(a)));
		check(mutf7_to_utf8(buf_str(a), buf_len(a), b) == 0);
		check(buf_is(b, s, len));
	} else {
		check(!mutf7_utf8_valid(s, len) && buf_len(a) == 0);
	}
	buf_free(&a);
	buf_free(&b);
}

static void
fuzz_mbname(const char *s, size_t len, char sep, bool utf8, unsigned flags)
{
	struct buf *name = buf_new(4096), *t = buf_new(8192),
		*back = buf_new(4096);
	enum mbname_error err;

	if (mbname_from_wire(s, len, utf8, sep, flags, name, &err) == 0) {
		const char *n = buf_str(name);

		check(mbname_check(n, buf_len(name), sep, flags) == MBNAME_OK);
		check(strlen(n) == buf_len(name));
		/* Canonical: a second pass changes nothing. */
		check(mbname_from_wire(n, buf_len(name), true, sep, flags, t,
				       &err) == 0 && buf_is(t, n, buf_len(name)));
		buf_reset(t);
		check(mbname_to_wire(n, false, t) == 0);
		check(mbname_from_wire(buf_str(t), buf_len(t), false, sep, flags,
				       back, &err) == 0);
		check(buf_is(back, n, buf_len(name)));
		buf_reset(t);
		buf_reset(back);
		if (mbname_to_maildir(n, sep, t, &err) == 0 && buf_len(t) > 0) {
			check(buf_str(t)[0] == '.' && buf_len(t) <= 255);
			check(memchr(buf_str(t), '/', buf_len(t)) == NULL);
			check(mbname_from_maildir(buf_str(t), buf_len(t), sep,
						  back, &err) == 0);
			check(buf_is(back, n, buf_len(name)));
		}
		buf_reset(t);
		buf_reset(back);
		if (mbname_to_mbox_path(n, sep, "", t, &err) == 0) {
			const char *p = buf_str(t);

			check(p[0] != '/' && p[0] != '.' && p[0] != '~');
			check(strstr(p, "/.") == NULL && strstr(p, "//") == NULL);
			check(mbname_from_mbox_path(p, buf_len(t), sep, back,
						    &err) == 0);
			check(buf_is(back, n, buf_len(name)));
		}
	} else {
		check(buf_len(name) == 0 && err != MBNAME_OK);
	}
	/* The raw bytes as directory entries. */
	buf_reset(name);
	buf_reset(t);
	if (mbname_from_maildir(s, len, sep, name, &err) == 0) {
		check(mbname_to_maildir(buf_str(name), sep, t, &err) == 0);
		check(buf_is(t, s, len));
	}
	buf_reset(name);
	buf_reset(t);
	if (mbname_from_mbox_path(s, len, sep, name, &err) == 0) {
		check(mbname_to_mbox_path(buf_str(name), sep, "", t, &err) == 0);
		check(buf_is(t, s, len));
	}
	buf_free(&back);
	buf_free(&t);
	buf_free(&name);
}

static void
check_normalised(const struct seqset *set)
{
	uint64_t count = 0;

	check(set->normalised);
	for (size_t i = 0; i < set->n; i++) {
		const struct seqset_range *r = &set->r[i];

		check(r->lo >= 1 && r->lo <= r->hi);
		if (i > 0)
			check(r->lo > (uint64_t)set->r[i - 1].hi + 1);
		check(seqset_contains(set, r->lo) && seqset_contains(set, r->hi));
		check(!seqset_contains(set, r->lo - 1));
		if (r->hi < UINT32_MAX)
			check(!seqset_contains(set, r->hi + 1));
		count += (uint64_t)r->hi - r->lo + 1;
	}
	check(seqset_count(set) == count);
	if (count <= 100000) {
		struct seqset_iter it;
		uint32_t v, prev = 0;
		uint64_t k = 0;

		seqset_iter_init(&it, set);
		while (seqset_iter_next(&it, &v)) {
			check(k == 0 || v > prev);
			check(seqset_contains(set, v));
			prev = v;
			k++;
		}
		check(k == count);
	}
}

static void
fuzz_seqset(const char *s, size_t len, uint32_t exists, uint32_t uidnext)
{
	struct pool *pool = pool_new(4096);
	const char *error;
	struct seqset *p, *r, *p2, *r2, *sq;
	struct buf *w = buf_new(1 << 20), *w2 = buf_new(1 << 20);

	p = seqset_parse(pool, s, len, 1000, &error);
	if (p == NULL)
		goto done;
	check(!p->normalised);
	r = seqset_resolve_uid(pool, p, exists, uidnext);
	check_normalised(r);
	check(seqset_write(r, w) == 0);
	if (r->n > 0) {
		p2 = seqset_parse(pool, buf_str(w), buf_len(w), 1000, &error);
		check(p2 != NULL);
		r2 = seqset_resolve_uid(pool, p2, exists, uidnext);
		check(seqset_write(r2, w2) == 0);
		check(buf_is(w2, buf_data(w), buf_len(w)));
	} else {
		check(p->has_last && buf_len(w) == 0);
	}
	sq = seqset_resolve_seq(pool, p, exists, &error);
	if (sq != NULL) {
		check_normalised(sq);
		if (sq->n > 0)
			check(sq->r[sq->n - 1].hi <= exists);
	}
	/* Building a set range by range gives the same set. */
	{
		struct seqset *b = seqset_new(pool);

		for (size_t i = 0; i < r->n; i++)
			seqset_add(b, r->r[i].hi, r->r[i].lo);
		check(b->n == r->n && memcmp(b->r, r->r,
					     r->n * sizeof(r->r[0])) == 0);
		seqset_union(b, r);
		check(b->n == r->n);
	}
done:
	buf_free(&w2);
	buf_free(&w);
	pool_free(&pool);
}

static void
fuzz_maildir_name(const char *s, size_t len)
{
	struct maildir_name a, b;
	struct buf *o = buf_new(1024), *o2 = buf_new(1024);
	char host[64];
	size_t hl = len < sizeof(host) - 1 ? len : sizeof(host) - 1;

	if (maildir_name_parse(s, len, &a) == 0) {
		check(a.base_len > 0 && a.base_len <= len);
		check(a.base == s);
		check(strlen(a.other) <= MAILDIR_OTHER_MAX);
		if (maildir_name_build(&a, o) == 0) {
			check(maildir_name_parse(buf_str(o), buf_len(o), &b) == 0);
			check(b.base_len == a.base_len &&
			      memcmp(b.base, a.base, a.base_len) == 0);
			check(b.flags_valid && b.flags == a.flags &&
			      b.keywords == a.keywords);
			check(strcmp(b.other, a.other) == 0);
			check(b.tail_len == a.tail_len);
			check(maildir_name_build(&b, o2) == 0);
			check(buf_is(o2, buf_data(o), buf_len(o)));
		}
	}
	memcpy(host, s, hl);
	host[hl] = '\0';
	buf_reset(o);
	if (maildir_name_new_base(o, 1700000000, 1, 2, 3, host) == 0) {
		check(buf_len(o) <= MAILDIR_NEW_BASE_MAX);
		check(maildir_name_parse(buf_str(o), buf_len(o), &a) == 0);
		check(!a.has_info && !a.has_size && !a.has_vsize);
		check(a.base_len == buf_len(o));
	}
	buf_free(&o2);
	buf_free(&o);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s;
	char sep;
	uint32_t exists, uidnext;

	if (size < HDR || size > HDR + 4096)
		return 0;
	sep = (data[0] & 1) ? '.' : '/';
	exists = (uint32_t)data[2] << 8 | data[3];
	if (data[1] & 4)
		exists = UINT32_MAX - exists;
	uidnext = exists + 1 + data[4];
	s = (const char *)data + HDR;
	size -= HDR;

	fuzz_mutf7(s, size);
	fuzz_mbname(s, size, sep, (data[1] & 1) != 0,
		    (data[1] & 2) ? MBNAME_FOR_CREATE : 0);
	fuzz_seqset(s, size, exists, uidnext);
	fuzz_maildir_name(s, size);
	return 0;
}
