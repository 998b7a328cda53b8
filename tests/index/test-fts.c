/* Tests for the full-text index (lib/index/fts.c): the record codecs,
 * add/delete/search basics, and the equivalence test of issue 7 "Done
 * means" 3 at this layer: a few hundred queries (random substrings,
 * 1-2 byte, non-ASCII, CJK, across segment boundaries, absent strings)
 * answer exactly what a brute-force memmem over the texts answers,
 * before and after adds, deletes and flushes, and after a writer is
 * SIGKILLed in the middle of indexing. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "index/index.h"
#include "index/private.h"
#include "util.h"

/* ---- a deterministic corpus -------------------------------------------- */

static uint64_t rng_state;

static uint32_t
rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

static const char *const words[] = {
	/* gen-corpus.py's vocabulary, lower-cased */
	"the", "of", "and", "to", "in", "is", "for", "on", "that", "with",
	"as", "are", "this", "be", "by", "from", "at", "mail", "server",
	"client", "folder", "message", "inbox", "sync", "protocol", "update",
	"meeting", "report", "quarterly", "budget", "release", "patch",
	"review", "deploy", "kernel", "network", "storage", "index", "cache",
	"thread", "search", "fetch",
	/* rarer words, non-ASCII and CJK (normalized text is UTF-8) */
	"zebra", "quixotic", "müller", "straße", "café", "naïve", "ελληνικά",
	"русский", "日本語", "東京", "中文", "检索", "テスト", "メール", "한국어",
	"emoji😀", "x", "q", "zz", "résumé",
	/* numbers, addresses, separators inside words, a 32-byte token
	 * (the cap) */
	"2026", "10:30", "3.14159", "john.doe@example.com", "foo_bar-baz",
	"re:", "(draft)", "messages", "premeeting", "東京都渋谷区",
	"thirtytwobytesexactlyatthecap123",
};
#define NWORDS (sizeof(words) / sizeof(words[0]))

/* Runs of word bytes over the token cap (32 bytes): every fifth
 * message has one (its tokens are not posted: 'L'). */
static const char *const longs[] = {
	"pneumonoultramicroscopicsilicovolcanoconiosis",
	"thirtythreebytesjustoverthecap123",
	"日本語のテキストは空白がありません",
	"0123456789abcdef0123456789abcdef0123456789abcdef",
};
#define NLONGS (sizeof(longs) / sizeof(longs[0]))

/* Separators between body words: mostly one space, else punctuation,
 * newlines, several spaces, and runs longer than the index's pair
 * separators (8 bytes). */
static const char *const seps[] = {
	" ", " ", " ", " ", " ", " ", ", ", ". ", "\n", "  ", " - ", ".\n",
	"\n\n", ":", "/", " (", ") ", "\t", "...\n\n    ", " -- \n> > ",
};
#define NSEPS (sizeof(seps) / sizeof(seps[0]))

#define NMSG 300
#define TEXT_CAP 8192

struct doc {
	char text[TEXT_CAP];
	size_t len;
	bool live;	/* should be in the index */
};

static struct doc docs[NMSG + 1];	/* by uid */

/* headers \0 part 1 [\0 part 2 ...] */
static void
gen_doc(uint32_t uid, struct doc *d)
{
	size_t n = 0, parts, p, w, nw;

	rng_state = 0x9e3779b97f4a7c15ull ^ ((uint64_t)uid * 0x100000001b3ull);
	(void)rnd();
	n += (size_t)snprintf(d->text + n, TEXT_CAP - n,
			      "from: user%u <user%u@example.org>\nsubject:",
			      rnd() % 20, rnd() % 20);
	for (w = 0; w < 2 + rnd() % 5; w++)
		n += (size_t)snprintf(d->text + n, TEXT_CAP - n, " %s",
				      words[rnd() % NWORDS]);
	parts = 1 + rnd() % 3;
	for (p = 0; p < parts; p++) {
		d->text[n++] = '\0';
		nw = 10 + rnd() % 120;
		for (w = 0; w < nw && n < TEXT_CAP - 64; w++) {
			const char *wd = words[rnd() % NWORDS];

			n += (size_t)snprintf(d->text + n, TEXT_CAP - n, "%s%s",
					      w ? seps[rnd() % NSEPS] : "",
					      wd);
			/* Repeated words ("the the"). */
			if (rnd() % 16 == 0)
				n += (size_t)snprintf(d->text + n, TEXT_CAP - n,
						      " %s", wd);
		}
		if (uid % 5 == 0 && p == 0)
			n += (size_t)snprintf(d->text + n, TEXT_CAP - n,
					      " %s", longs[rnd() % NLONGS]);
	}
	d->len = n;
}

static void
gen_all(void)
{
	for (uint32_t uid = 1; uid <= NMSG; uid++) {
		gen_doc(uid, &docs[uid]);
		docs[uid].live = false;
	}
}

/* A word byte as the index's tokens count them. */
static bool
is_wordc(char ch)
{
	unsigned char c = (unsigned char)ch;

	return c >= 0x80 || (c >= '0' && c <= '9') ||
	       (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The brute-force answer: memmem over every live text (a needle
 * without NUL cannot match across a segment's NUL). */
static size_t
oracle(const void *needle, size_t len, uint32_t *out)
{
	size_t n = 0;

	for (uint32_t uid = 1; uid <= NMSG; uid++)
		if (docs[uid].live && memchr(needle, 0, len) == NULL &&
		    memmem(docs[uid].text, docs[uid].len, needle, len) != NULL)
			out[n++] = uid;
	return n;
}

/* ---- index helpers ------------------------------------------------------ */

static char *base, *dir;
static struct idx_env *env;
static uint32_t mbox_id;

struct op {
	uint32_t id, uid, n;
	const void *needle;
	size_t len;
	struct idx_fts_result res;
	struct idx_fts_info info;
	int flags;
};

static int
create_cb(struct idx_txn *txn, void *ctx)
{
	struct idx_mbox m;
	int r;

	if ((r = idx_mbox_create(txn, "INBOX", 0, &m)) != IDX_OK)
		return r;
	*(uint32_t *)ctx = m.id;
	return IDX_OK;
}

/* Allocates UIDs 1..n (with message records). */
static int
alloc_cb(struct idx_txn *txn, void *ctx)
{
	struct op *o = ctx;
	uint32_t first, i;
	int r;

	if ((r = idx_uid_alloc(txn, o->id, o->n, &first)) != IDX_OK)
		return r;
	for (i = 0; i < o->n; i++) {
		struct idx_msg m;

		memset(&m, 0, sizeof(m));
		m.size = 100;
		if ((r = idx_msg_put(txn, o->id, first + i, &m, 0)) != IDX_OK)
			return r;
	}
	return IDX_OK;
}

static int
add_cb(struct idx_txn *txn, void *ctx)
{
	struct op *o = ctx;

	return idx_fts_add(txn, o->id, o->uid, docs[o->uid].text,
			   docs[o->uid].len);
}

static int
addrange_cb(struct idx_txn *txn, void *ctx)
{
	struct op *o = ctx;
	int r;

	for (uint32_t u = o->uid; u < o->uid + o->n; u++)
		if ((r = idx_fts_add(txn, o->id, u, docs[u].text,
				     docs[u].len)) != IDX_OK)
			return r;
	return IDX_OK;
}

/* Adds o->needle[0..len-1] as the text of o->uid. */
static int
addtext_cb(struct idx_txn *txn, void *ctx)
{
	struct op *o = ctx;

	return idx_fts_add(txn, o->id, o->uid, o->needle, o->len);
}

static int
msgdel_cb(struct idx_txn *txn, void *ctx)
{
	struct op *o = ctx;

	return idx_msg_delete(txn, o->id, o->uid);
}

static int
ftsdel_cb(struct idx_txn *txn, void *ctx)
{
	struct op *o = ctx;

	return idx_fts_delete(txn, o->id, o->uid);
}

static int
flush_cb(struct idx_txn *txn, void *ctx)
{
	struct op *o = ctx;
	bool more;
	int r = idx_fts_flush(txn, o->id, &more);

	o->flags = more;
	return r;
}

static int
search_cb(struct idx_txn *txn, void *ctx)
{
	struct op *o = ctx;

	return idx_fts_search(txn, o->id, o->needle, o->len, &o->res);
}

static int
info_cb(struct idx_txn *txn, void *ctx)
{
	struct op *o = ctx;

	return idx_fts_info(txn, o->id, &o->info);
}

static void
open_env(void)
{
	struct idx_env_opts o = { .watchdog_secs = 30 };

	cr_assert_eq(idx_env_open(dir, &o, &env, NULL), IDX_OK);
}

static void
setup(void)
{
	base = tu_tmpdir();
	dir = tu_path(base, "idx");
	gen_all();
	open_env();
	cr_assert_eq(idx_txn_run(env, IDX_TXN_SYNC, create_cb, &mbox_id),
		     IDX_OK);
}

static void
teardown(void)
{
	tu_kill_children();
	idx_env_close(&env);
	tu_rmrf(base);
	free(dir);
	free(base);
}

TestSuite(fts, .init = setup, .fini = teardown, .timeout = 120);

static void
alloc_msgs(uint32_t n)
{
	struct op o = { .id = mbox_id, .n = n };

	cr_assert_eq(idx_txn_run(env, IDX_TXN_SYNC, alloc_cb, &o), IDX_OK);
}

static int
add_doc(uint32_t uid)
{
	struct op o = { .id = mbox_id, .uid = uid };
	int r = idx_txn_run(env, 0, add_cb, &o);

	if (r == IDX_OK)
		docs[uid].live = true;
	return r;
}

static void
del_msg(uint32_t uid)
{
	struct op o = { .id = mbox_id, .uid = uid };

	cr_assert_eq(idx_txn_run(env, 0, msgdel_cb, &o), IDX_OK);
	docs[uid].live = false;
}

static struct idx_fts_info
info(void)
{
	struct op o = { .id = mbox_id };

	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, info_cb, &o), IDX_OK);
	return o.info;
}

/* Searches and returns the result (the caller frees it). */
static struct idx_fts_result
search(const void *needle, size_t len)
{
	struct op o = { .id = mbox_id, .needle = needle, .len = len };
	int r = idx_txn_run(env, IDX_TXN_READ, search_cb, &o);

	cr_assert_eq(r, IDX_OK, "search: %s", idx_strerror(r));
	return o.res;
}

static void
expect_exact(const void *needle, size_t len)
{
	static uint32_t want[NMSG];
	struct idx_fts_result res = search(needle, len);
	size_t n = oracle(needle, len, want);

	cr_assert_eq(res.count, n, "needle '%.*s' (%zu bytes): %zu results, "
		     "brute force %zu", (int)len, (const char *)needle, len,
		     res.count, n);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(res.uids[i], want[i], "needle '%.*s': result %zu "
			     "is %u, brute force %u", (int)len,
			     (const char *)needle, i, res.uids[i], want[i]);
	idx_fts_result_free(&res);
}

/* ---- codecs --------------------------------------------------------------- */

Test(fts, postings_codec)
{
	uint32_t in[] = { 1, 2, 130, 131, 70000, 4000000000u }, out[8];
	uint8_t buf[64];
	size_t len, n;

	len = idx_fts_postings_encode(in, 6, buf, sizeof(buf));
	cr_assert_gt(len, 0);
	cr_assert_eq(idx_fts_postings_decode(buf, len, out, 8, &n), IDX_OK);
	cr_assert_eq(n, 6);
	cr_assert_arr_eq(out, in, sizeof(in));
	/* Every truncation, and a trailing byte, is corrupt. */
	for (size_t l = 0; l < len; l++)
		cr_assert_eq(idx_fts_postings_decode(buf, l, out, 8, &n),
			     IDX_CORRUPT, "truncated to %zu", l);
	buf[len] = 0x01;
	cr_assert_eq(idx_fts_postings_decode(buf, len + 1, out, 8, &n),
		     IDX_CORRUPT);
	/* More UIDs than the caller's room. */
	cr_assert_eq(idx_fts_postings_decode(buf, len, out, 5, &n),
		     IDX_CORRUPT);
	/* Count 0; a zero delta (not ascending); a redundant zero group;
	 * a value above 2^32 - 1; a sum that overflows. */
	cr_assert_eq(idx_fts_postings_decode("\x00", 1, out, 8, &n),
		     IDX_CORRUPT);
	cr_assert_eq(idx_fts_postings_decode("\x02\x05\x00", 3, out, 8, &n),
		     IDX_CORRUPT);
	cr_assert_eq(idx_fts_postings_decode("\x01\x85\x00", 3, out, 8, &n),
		     IDX_CORRUPT);
	cr_assert_eq(idx_fts_postings_decode("\x01\xff\xff\xff\xff\x1f", 6,
					     out, 8, &n), IDX_CORRUPT);
	cr_assert_eq(idx_fts_postings_decode("\x02\xff\xff\xff\xff\x0f\x01",
					     7, out, 8, &n), IDX_CORRUPT);
	cr_assert_eq(idx_fts_postings_decode("\x01\xff\xff\xff\xff\x0f", 6,
					     out, 8, &n), IDX_OK);
	cr_assert_eq(out[0], UINT32_MAX);
	/* The encoder refuses what the decoder would refuse. */
	cr_assert_eq(idx_fts_postings_encode(in, 0, buf, sizeof(buf)), 0);
	cr_assert_eq(idx_fts_postings_encode((uint32_t[]){ 3, 3 }, 2, buf,
					     sizeof(buf)), 0);
	cr_assert_eq(idx_fts_postings_encode((uint32_t[]){ 0 }, 1, buf,
					     sizeof(buf)), 0);
}

Test(fts, text_codec)
{
	uint8_t out[16];
	size_t n;

	cr_assert_eq(idx_fts_text_decode("\x01\x00\x00\x00\x00\x03" "abc", 9,
					 out, sizeof(out), &n), IDX_OK);
	cr_assert_eq(n, 3);
	cr_assert_eq(memcmp(out, "abc", 3), 0);
	/* wrong length, layout, method; more than the caller's room */
	cr_assert_eq(idx_fts_text_decode("\x01\x00\x00\x00\x00\x04" "abc", 9,
					 out, sizeof(out), &n), IDX_CORRUPT);
	cr_assert_eq(idx_fts_text_decode("\x02\x00\x00\x00\x00\x03" "abc", 9,
					 out, sizeof(out), &n), IDX_CORRUPT);
	cr_assert_eq(idx_fts_text_decode("\x01\x07\x00\x00\x00\x03" "abc", 9,
					 out, sizeof(out), &n), IDX_CORRUPT);
	cr_assert_eq(idx_fts_text_decode("\x01\x00\x00\x00\x00\x03" "abc", 9,
					 out, 2, &n), IDX_LIMIT);
	cr_assert_eq(idx_fts_text_decode("\x01\x00\x00", 3, out, sizeof(out),
					 &n), IDX_CORRUPT);
	/* zlib garbage, and a stream shorter than its stated length */
	cr_assert_eq(idx_fts_text_decode("\x01\x01\x00\x00\x00\x03" "abc", 9,
					 out, sizeof(out), &n), IDX_CORRUPT);
	cr_assert_eq(idx_fts_text_decode("\x01\x01\x00\x00\x00\x05"
					 "\x78\x01\x4b\x4c\x4a\x06\x00\x02"
					 "\x4d\x01\x27", 17, out, sizeof(out),
					 &n), IDX_CORRUPT);
}

/* ---- basics ----------------------------------------------------------------- */

Test(fts, add_search_delete)
{
	static const char t1[] = "subject: hello world\0body text with café";
	static const char t2[] = "subject: other\0hello there";
	struct idx_fts_result res;
	struct op o = { .id = mbox_id };

	alloc_msgs(3);
	memcpy(docs[1].text, t1, sizeof(t1) - 1);
	docs[1].len = sizeof(t1) - 1;
	memcpy(docs[2].text, t2, sizeof(t2) - 1);
	docs[2].len = sizeof(t2) - 1;
	cr_assert_eq(add_doc(1), IDX_OK);
	cr_assert_eq(add_doc(2), IDX_OK);
	/* In the tail, then after a flush into a segment. */
	for (int round = 0; round < 2; round++) {
		res = search("hello", 5);
		cr_assert_eq(res.count, 2);
		cr_assert_eq(res.uids[0], 1);
		cr_assert_eq(res.uids[1], 2);
		idx_fts_result_free(&res);
		res = search("café", strlen("café"));
		cr_assert_eq(res.count, 1);
		cr_assert_eq(res.uids[0], 1);
		idx_fts_result_free(&res);
		/* "world" ends segment 1, "body" starts segment 2: no
		 * match across the NUL. */
		res = search("worldbody", 9);
		cr_assert_eq(res.count, 0);
		idx_fts_result_free(&res);
		res = search("d\0b", 3);
		cr_assert_eq(res.count, 0);
		idx_fts_result_free(&res);
		expect_exact("e", 1);
		expect_exact("th", 2);
		expect_exact("é", 2);
		expect_exact("ldb", 3);
		expect_exact("zzz", 3);
		cr_assert_eq(idx_txn_run(env, 0, flush_cb, &o), IDX_OK);
		cr_assert_eq(info().tail, 0);
		cr_assert_eq(info().segments, 1);
	}
	/* Empty needle: invalid; a re-add: exists; a UID without a
	 * message record: not found; too long: limit. */
	o.needle = "";
	o.len = 0;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, search_cb, &o), IDX_INVAL);
	cr_assert_eq(add_doc(1), IDX_EXISTS);
	cr_assert_eq(add_doc(7), IDX_NOTFOUND);
	/* The expunge path removes the text and hides the UID. */
	del_msg(1);
	res = search("hello", 5);
	cr_assert_eq(res.count, 1);
	cr_assert_eq(res.uids[0], 2);
	idx_fts_result_free(&res);
	expect_exact("e", 1);
	cr_assert_eq(info().docs, 1);
	cr_assert_eq(info().tombs, 1);
	/* An expunged message cannot be indexed again. */
	o.uid = 1;
	cr_assert_eq(idx_txn_run(env, 0, add_cb, &o), IDX_NOTFOUND);
	/* Dropping only the text: the posted UID is hidden, and stays
	 * out (UIDs are never reused). */
	o.uid = 2;
	cr_assert_eq(idx_txn_run(env, 0, ftsdel_cb, &o), IDX_OK);
	docs[2].live = false;
	res = search("hello", 5);
	cr_assert_eq(res.count, 0);
	idx_fts_result_free(&res);
	expect_exact("e", 1);
	cr_assert_eq(add_doc(2), IDX_EXISTS);
	cr_assert_eq(info().docs, 0);
}

static int
collect_cb(uint32_t uid, void *ctx)
{
	struct idx_fts_result *r = ctx;

	r->uids[r->count++] = uid;
	return 0;
}

static int
unindexed_cb(struct idx_txn *txn, void *ctx)
{
	struct op *o = ctx;

	o->res.count = 0;
	return idx_fts_unindexed(txn, o->id, collect_cb, &o->res);
}

static size_t
unindexed(uint32_t *out)
{
	struct op o = { .id = mbox_id };

	o.res.uids = out;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, unindexed_cb, &o), IDX_OK);
	return o.res.count;
}

static int
add_text(uint32_t uid, const void *text, size_t len)
{
	struct op o = { .id = mbox_id, .uid = uid, .needle = text, .len = len };

	return idx_txn_run(env, 0, addtext_cb, &o);
}

Test(fts, unindexed_and_limits)
{
	static uint32_t u[NMSG];
	static char big[IDX_FTS_TEXT_MAX + 1], junk[200000];
	struct idx_fts_result res;
	struct op f = { .id = mbox_id };

	alloc_msgs(5);
	cr_assert_eq(unindexed(u), 5);
	cr_assert_eq(add_doc(2), IDX_OK);
	cr_assert_eq(add_doc(4), IDX_OK);
	cr_assert_eq(unindexed(u), 3);
	cr_assert_eq(u[0], 1);
	cr_assert_eq(u[1], 3);
	cr_assert_eq(u[2], 5);
	/* Too long: refused, so it stays unindexed (the caller scans). */
	memset(big, 'a', sizeof(big));
	cr_assert_eq(add_text(3, big, sizeof(big)), IDX_LIMIT);
	cr_assert_eq(unindexed(u), 3);
	/* Empty text is a valid (unmatchable) text. */
	cr_assert_eq(add_text(3, "", 0), IDX_OK);
	cr_assert_eq(unindexed(u), 2);
	/* Binary-like text with more than IDX_FTS_GRAMS_MAX grams is kept
	 * out of the postings and always scanned, still exactly. */
	rng_state = 12345;
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(1 + rnd() % 255);
	memcpy(junk + 5000, "xyzneedle", 9);
	cr_assert_eq(add_text(5, junk, sizeof(junk)), IDX_OK);
	cr_assert_eq(idx_txn_run(env, 0, flush_cb, &f), IDX_OK);
	cr_assert_eq(info().scan, 1);
	cr_assert_eq(info().tail, 0);
	res = search("xyzneedle", 9);
	cr_assert_eq(res.count, 1);
	cr_assert_eq(res.uids[0], 5);
	idx_fts_result_free(&res);
	res = search("xyz", 3);
	cr_assert_geq(res.count, 1);
	cr_assert_eq(res.uids[res.count - 1], 5);
	idx_fts_result_free(&res);
	cr_assert_eq(unindexed(u), 1);
	cr_assert_eq(u[0], 1);
	del_msg(5);
	cr_assert_eq(info().scan, 0);
	cr_assert_eq(info().docs, 3);
}

/* ---- equivalence with brute force ----------------------------------------- */

#define NQUERIES 300

/* The query set: random substrings of live texts (1..24 bytes, so
 * some split UTF-8 characters), every word, fixed short, non-ASCII,
 * CJK and absent strings, and strings across segment boundaries. */
static void
check_queries(unsigned seed)
{
	static const char *const fixed[] = {
		"a", "e", "z", "\xc3", "é", "ß", "日", "本語", "東京", "检",
		"😀", "th", "zq", "qq", "xx", "the", "zebra quixotic",
		"not-in-any-message", "日本語 テスト", "müller straße",
		"subject:", "@example.org", "user1", "\n", ">\nsub", "qxj",
		/* inside, at the start and end of tokens; spanning */
		"essag", "messag", "essage", "ssages", "premeet", "eeting",
		"2026", "202", "026 ", " 2026", "10:3", "0:30", "3.14", "14159",
		"john", "john.", ".doe@", "doe@example", "@example.com",
		"example.com", "foo_", "_bar-", "bar-baz", "baz ", "re: ",
		"(draft", "draft)", "e meeting", "meeting r", "g report q",
		" the ", "the mail server", "京都渋谷", "都渋谷区 ", "東京都渋谷区",
		/* the token cap: 32 bytes is a token, 33 is not */
		"thirtytwobytesexactlyatthecap123", "hirtytwobytesexactlyatthecap12",
		"thirtythreebytesjustoverthecap123", "thirtythreebytes",
		"overthecap123", "pneumonoultramicroscopicsilicovolcanoconiosis",
		"ultramicroscopic", "coniosis", " pneumono", "89abcdef0123",
		"テキスト", "のテキストは空白", "日本語の", "ません",
		"0123456789abcdef0123456789abcdef0123456789abcdef",
		/* phrases: common words, partial ends, repeats, kinds of
		 * separators, tokens at and over the cap, long separators */
		"meeting report", "report meeting", "the the", "the the the",
		"meeting report budget", "eting repo", "g r", "e m",
		"meeting, report", "meeting. report", "meeting\nreport",
		"meeting  report", "meeting - report", "meeting:report",
		"report.\nthe", "the\n\nmail", "mail server kernel network",
		"straße café", "日本語 東京", "東京 日本語", "x q", "q x",
		"zz zz", "review\tdeploy", "release (patch", "patch) review",
		"cap123 the", "thirtytwobytesexactlyatthecap123 the",
		"the thirtytwobytesexactlyatthecap123",
		"thirtythreebytesjustoverthecap123 the", "coniosis the",
		"the...\n\n    mail", "...\n\n    mail", "mail -- \n> > the",
		"the -- \n> > ", "subject: the", "org>\nsubject", " report ",
		" report meeting", "meeting report ", "messages premeeting",
		"meeting messages", "john.doe@example.com the", "2026 10:30",
	};
	char q[128];
	size_t i;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		expect_exact(fixed[i], strlen(fixed[i]));
	for (i = 0; i < NWORDS; i++)
		expect_exact(words[i], strlen(words[i]));
	rng_state = 0xabcdef12345ull + seed;
	for (i = 0; i < NQUERIES; i++) {
		uint32_t uid = 1 + rnd() % NMSG;
		const struct doc *d = &docs[uid];
		size_t len = 1 + rnd() % 24, off;

		if (d->len <= len)
			continue;
		off = rnd() % (d->len - len);
		memcpy(q, d->text + off, len);
		if (i % 10 == 0) {
			/* Across a segment boundary: the bytes around a
			 * NUL, without it. */
			const char *z = memchr(d->text + 1, 0, d->len - 1);
			size_t zo;

			if (z == NULL)
				continue;
			zo = (size_t)(z - d->text);
			if (zo < 4 || zo + 5 > d->len)
				continue;
			memcpy(q, z - 4, 4);
			memcpy(q + 4, z + 1, 4);
			len = 8;
		} else if (memchr(q, 0, len) != NULL) {
			continue;
		}
		expect_exact(q, len);
	}
	/* Anchored at a token's start or end (inside a token, or
	 * spanning into the next ones). */
	for (i = 0; i < NQUERIES / 2; i++) {
		uint32_t uid = 1 + rnd() % NMSG;
		const struct doc *d = &docs[uid];
		size_t len = 2 + rnd() % 20, off;
		bool end = i % 2;

		if (d->len <= len + 2)
			continue;
		off = rnd() % (d->len - len);
		if (end) {
			/* Move the end to a token's end. */
			while (off + len < d->len &&
			       (is_wordc(d->text[off + len - 1]) == false ||
				is_wordc(d->text[off + len])))
				off++;
		} else {
			while (off + len < d->len &&
			       (!is_wordc(d->text[off]) ||
				(off > 0 && is_wordc(d->text[off - 1]))))
				off++;
		}
		if (off + len > d->len)
			continue;
		memcpy(q, d->text + off, len);
		if (memchr(q, 0, len) != NULL)
			continue;
		expect_exact(q, len);
	}
	/* Phrases: two or three tokens and what is between them, the first
	 * cut at its start and the last at its end by 0..3 bytes; some with
	 * the separator before or after; some across a segment boundary
	 * (its NUL made a space: matches only where the pair is inside a
	 * segment). */
	for (i = 0; i < NQUERIES / 5; i++) {
		uint32_t uid = 1 + rnd() % NMSG;
		const struct doc *d = &docs[uid];
		size_t ntok = 2 + rnd() % 2, off, end, k, t0, t1, cut, len;
		unsigned how = rnd() % 8;

		if (d->len < 16)
			continue;
		off = rnd() % d->len;
		if (how == 7) {
			const char *z = memchr(d->text + off, 0, d->len - off);

			if (z == NULL)
				continue;
			off = (size_t)(z - d->text);
			while (off > 0 && !is_wordc(d->text[off - 1]))
				off--;
			while (off > 0 && is_wordc(d->text[off - 1]))
				off--;
		}
		while (off < d->len && (!is_wordc(d->text[off]) ||
					(off > 0 && is_wordc(d->text[off - 1]))))
			off++;
		for (k = 0, end = t0 = t1 = off; k < ntok && end < d->len; k++) {
			while (k > 0 && end < d->len && !is_wordc(d->text[end]))
				end++;
			t1 = end;
			while (end < d->len && is_wordc(d->text[end]))
				end++;
			if (k == 0)
				t0 = end;
		}
		if (k < ntok || end == t1 || end - off > sizeof(q) - 2)
			continue;
		if (how == 5 && off > 0)
			off--;		/* the separator before */
		else if (how == 6 && end < d->len)
			end++;		/* the separator after */
		else {
			cut = rnd() % 4;
			off += cut < t0 - off ? cut : 0;
			cut = rnd() % 4;
			end -= cut < end - t1 ? cut : 0;
		}
		len = end - off;
		memcpy(q, d->text + off, len);
		for (k = 0; k < len; k++)
			if (q[k] == 0)
				q[k] = ' ';
		expect_exact(q, len);
	}
}

static void
equivalence(bool pairs)
{
	struct op f = { .id = mbox_id };
	uint32_t uid;

	idx_fts_set_pairs(pairs);

	alloc_msgs(NMSG);
	bool mid_job = false;

	/* Small steps: a segment's keys take several transactions. */
	idx_fts_set_txn_keys(600);
	/* Half of them, one per transaction; once, while a segment is
	 * half written (its keys span transactions), compare. */
	for (uid = 1; uid <= NMSG / 2; uid++) {
		cr_assert_eq(add_doc(uid), IDX_OK);
		if (!mid_job && info().job > 0) {
			mid_job = true;
			check_queries(0);
		}
	}
	cr_assert(mid_job, "no segment took more than one transaction");
	cr_assert_leq(info().tail, IDX_FTS_TAIL_MAX + 4);
	cr_assert_gt(info().segments, 0);
	check_queries(1);
	/* The rest in batches of 50 in one transaction. */
	for (uid = NMSG / 2 + 1; uid <= NMSG; uid += 50) {
		struct op o = { .id = mbox_id, .uid = uid, .n = 50 };

		cr_assert_eq(idx_txn_run(env, 0, addrange_cb, &o), IDX_OK);
		for (uint32_t u = uid; u < uid + 50; u++)
			docs[u].live = true;
	}
	check_queries(2);
	/* The generation keeps what it started with (pairs or not). */
	idx_fts_set_pairs(!pairs);
	/* Expunges: in segments (tombstones) and in the tail. */
	for (uid = 3; uid <= NMSG; uid += 7)
		del_msg(uid);
	cr_assert_gt(info().tombs, 0);
	check_queries(3);
	while (info().tail > 0)
		cr_assert_eq(idx_txn_run(env, 0, flush_cb, &f), IDX_OK);
	check_queries(4);
	cr_assert_eq(info().docs, NMSG - (NMSG - 3) / 7 - 1);
}

Test(fts, equivalence)
{
	equivalence(false);
}

/* The same with token pairs (phrases of two pieces answered from
 * postings). */
Test(fts, equivalence_pairs)
{
	equivalence(true);
}

/* ---- kill -9 in the middle of indexing ----------------------------------- */

struct writer_arg {
	const char *dir;
	uint32_t id;
	int fd;		/* reports progress */
};

/* Adds every message not yet indexed, one or a few per transaction,
 * telling the parent after the first commit. */
static void
writer(void *arg)
{
	idx_fts_set_txn_keys(500);
	struct writer_arg *w = arg;
	struct idx_env *e = tu_open(w->dir, 30);
	static uint32_t todo[NMSG];
	struct op o = { .id = w->id };
	size_t n, i;
	char c = 'x';

	o.res.uids = todo;
	TU_CHECK(idx_txn_run(e, IDX_TXN_READ, unindexed_cb, &o) == IDX_OK,
		 "unindexed");
	n = o.res.count;
	for (i = 0; i < n; i++) {
		struct op a = { .id = w->id, .uid = todo[i], .n = 1 };

		if (i % 3 == 0 && i + 3 <= n && todo[i + 2] == todo[i] + 2)
			a.n = 3;
		TU_CHECK(idx_txn_run(e, IDX_TXN_SYNC, addrange_cb, &a) ==
			 IDX_OK, "add");
		i += a.n - 1;
		if (i < a.n)
			TU_CHECK(write(w->fd, &c, 1) == 1, "pipe");
	}
	idx_env_close(&e);
}

static int
newbox_cb(struct idx_txn *txn, void *ctx)
{
	struct op *o = ctx;
	struct idx_mbox m;
	char name[32];
	int r;

	snprintf(name, sizeof(name), "box%u", o->uid);
	if ((r = idx_mbox_create(txn, name, 0, &m)) != IDX_OK)
		return r;
	o->id = m.id;
	return alloc_cb(txn, o);
}

Test(fts, kill_during_indexing)
{
	uint32_t u[NMSG];
	int round, killed = 0;

	/* Rounds 0 and 2 without token pairs, 1 and 3 with. */
	for (round = 0; round < 4; round++) {
		struct op b = { .uid = (uint32_t)round, .n = NMSG };
		struct writer_arg w = { dir, 0, -1 };
		int p[2], st;
		pid_t pid;
		char c;

		/* A fresh mailbox per round: the writer starts from zero. */
		cr_assert_eq(idx_txn_run(env, IDX_TXN_SYNC, newbox_cb, &b),
			     IDX_OK);
		idx_fts_set_pairs(round % 2 == 1);
		mbox_id = w.id = b.id;
		idx_env_close(&env);
		cr_assert_eq(pipe(p), 0);
		w.fd = p[1];
		pid = tu_fork(writer, &w);
		close(p[1]);
		cr_assert_eq(read(p[0], &c, 1), 1, "the writer started");
		close(p[0]);
		/* Somewhere inside the writes (and flushes). */
		usleep(5000 + 20000 * (unsigned)round);
		kill(pid, SIGKILL);
		st = tu_wait(pid, 10);
		cr_assert(st == 128 + SIGKILL || st == 0, "writer: %d", st);
		killed += st != 0;
		/* Reopen (the open recovers) and compare. */
		open_env();
		{
			size_t n = unindexed(u), k = 0;

			for (uint32_t uid = 1; uid <= NMSG; uid++) {
				bool missing = k < n && u[k] == uid;

				docs[uid].live = !missing;
				if (missing)
					k++;
			}
			cr_assert_eq(info().docs, NMSG - n);
			cr_assert_lt(n, NMSG, "round %d: nothing indexed", round);
		}
		check_queries(10 + (unsigned)round);
	}
	cr_assert_geq(killed, 2, "the writer was killed mid-indexing only "
		      "%d times", killed);
}

static int
delall_cb(struct idx_txn *txn, void *ctx)
{
	struct op *o = ctx;

	return idx_msg_delete_all(txn, o->id);
}

/* Expunging everything drops the records at once (a new generation);
 * the old ones are removed later and never leak into answers. */
Test(fts, delete_all_and_reuse)
{
	struct op o = { .id = mbox_id };
	struct idx_fts_result res;
	static uint32_t u[NMSG];
	uint32_t uid;

	alloc_msgs(100);
	for (uid = 1; uid <= 100; uid++)
		cr_assert_eq(add_doc(uid), IDX_OK);
	do
		cr_assert_eq(idx_txn_run(env, 0, flush_cb, &o), IDX_OK);
	while (o.flags);
	cr_assert_eq(idx_txn_run(env, 0, delall_cb, &o), IDX_OK);
	for (uid = 1; uid <= 100; uid++)
		docs[uid].live = false;
	cr_assert_eq(info().docs, 0);
	res = search("e", 1);
	cr_assert_eq(res.count, 0);
	idx_fts_result_free(&res);
	cr_assert_eq(unindexed(u), 0);
	/* New messages (the store would reset UIDs; here: new ones) with
	 * other texts: only they match. */
	alloc_msgs(50);
	for (uid = 101; uid <= 150; uid++)
		cr_assert_eq(add_doc(uid), IDX_OK);
	check_queries(20);
	do
		cr_assert_eq(idx_txn_run(env, 0, flush_cb, &o), IDX_OK);
	while (o.flags);
	check_queries(21);
}

/* Once everything is posted, a needle inside one token is answered from
 * the token postings: no text is read but those of the 'L' messages
 * (runs over the token cap) that its grams leave; a needle spanning
 * tokens reads fewer texts than its grams alone would give. */
Test(fts, tokens_read_no_text)
{
	static const char *const in[] = {
		"message", "essag", "meeting", "quarterly", "2026", "john",
		"example", "straße", "東京都渋谷区", "thirtytwobytesexactlyatthecap123",
		"releas", "ocol",
	};
	struct op f = { .id = mbox_id };
	struct idx_fts_info fi;
	uint32_t uid;
	size_t i;

	idx_fts_set_pairs(true);
	alloc_msgs(NMSG);
	for (uid = 1; uid <= NMSG; uid += 50) {
		struct op o = { .id = mbox_id, .uid = uid, .n = 50 };

		cr_assert_eq(idx_txn_run(env, 0, addrange_cb, &o), IDX_OK);
		for (uint32_t u = uid; u < uid + 50; u++)
			docs[u].live = true;
	}
	do
		cr_assert_eq(idx_txn_run(env, 0, flush_cb, &f), IDX_OK);
	while (f.flags);
	fi = info();
	cr_assert_eq(fi.tail, 0);
	cr_assert_eq(fi.longs, NMSG / 5, "'L' messages: %u", fi.longs);
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		static uint32_t want[NMSG];
		size_t n = oracle(in[i], strlen(in[i]), want);
		unsigned long read;

		(void)idx_fts_texts_read();
		expect_exact(in[i], strlen(in[i]));
		read = idx_fts_texts_read();
		cr_assert_geq(n, 10, "'%s' is too rare for this test", in[i]);
		cr_assert_leq(read, fi.longs, "'%s': %lu texts read, %zu "
			      "matches", in[i], read, n);
		cr_assert_lt(read, n, "'%s': %lu texts read, %zu matches",
			     in[i], read, n);
	}
	/* Two pieces around one separator (the first ends a token, the
	 * second starts one) are answered by the token pairs (on for this
	 * mailbox): no posted text is read. */
	static const char *const two[] = {
		"meeting report", "the the", "eting repo", "report, the",
		"the\nmail", "2026 10", "ssage.\nthe", "the  mail",
		"thirtytwobytesexactlyatthecap123 the",
	};
	for (i = 0; i < sizeof(two) / sizeof(two[0]); i++) {
		static uint32_t want[NMSG];
		size_t n = oracle(two[i], strlen(two[i]), want);
		unsigned long read;

		(void)idx_fts_texts_read();
		expect_exact(two[i], strlen(two[i]));
		read = idx_fts_texts_read();
		cr_assert_leq(read, fi.longs, "'%s': %lu texts read, %zu "
			      "matches", two[i], read, n);
	}
	/* A needle whose first piece is 1-2 bytes, or a separator longer
	 * than 8 bytes, is still checked. */
	(void)idx_fts_texts_read();
	expect_exact("e meeting", 9);
	cr_assert_gt(idx_fts_texts_read(), fi.longs);
	/* After expunges (tombstones subtract from token postings too). */
	for (uid = 2; uid <= NMSG; uid += 3)
		del_msg(uid);
	check_queries(30);
}

/* A state of layout 1 (before tokens) is not misread: the mailbox has no index then (every message is reported
 * unindexed, searches find nothing indexed), the next write drops the
 * old records as garbage, and messages are indexed again. */
static int
oldstate_cb(struct idx_txn *txn, void *ctx)
{
	struct op *o = ctx;
	uint8_t key[9], v[49] = { (uint8_t)o->flags };

	idx_be32_put(key, 0xffffffffu);
	key[4] = 'S';
	idx_be32_put(key + 5, o->id);
	idx_be32_put(v + 1, o->uid);	/* gen */
	idx_be32_put(v + 9, o->n);	/* docs */
	return idx_put(txn, IDX_DB_FTS_STATE, key, sizeof(key), v,
		       o->flags == 1 ? 41 : 49, 0);
}

static int
oldtext_cb(struct idx_txn *txn, void *ctx)
{
	struct op *o = ctx;
	uint8_t key[8], b;
	size_t len;
	int r;

	idx_be32_put(key, o->uid);
	idx_be32_put(key + 4, 1);
	r = idx_get(txn, IDX_DB_FTS_TEXT, key, sizeof(key), &b, 0, &len, 0);
	return r == IDX_LIMIT ? IDX_OK : r;
}

static void
old_layout(int layout)
{
	static uint32_t u[NMSG];
	struct op o = { .id = mbox_id };
	struct idx_fts_result res;
	uint32_t uid, oldgen = 1;

	alloc_msgs(20);
	for (uid = 1; uid <= 20; uid++)
		cr_assert_eq(add_doc(uid), IDX_OK);
	do
		cr_assert_eq(idx_txn_run(env, 0, flush_cb, &o), IDX_OK);
	while (o.flags);
	/* What an index written before tokens holds: layout 1. */
	o.uid = oldgen;
	o.n = 20;
	o.flags = layout;
	cr_assert_eq(idx_txn_run(env, 0, oldstate_cb, &o), IDX_OK);
	cr_assert_eq(info().docs, 0);
	cr_assert_eq(unindexed(u), 20);
	res = search("e", 1);
	cr_assert_eq(res.count, 0);
	idx_fts_result_free(&res);
	for (uid = 1; uid <= 20; uid++)
		docs[uid].live = false;
	/* Indexed again (not IDX_EXISTS), under a new generation. */
	for (uid = 1; uid <= 10; uid++)
		cr_assert_eq(add_doc(uid), IDX_OK);
	cr_assert_eq(info().docs, 10);
	cr_assert_eq(unindexed(u), 10);
	check_queries(40);
	/* The old generation's records are garbage, removed by writes. */
	o.uid = oldgen;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, oldtext_cb, &o),
		     IDX_NOTFOUND);
}

Test(fts, old_layout_dropped)
{
	old_layout(1);
}

/* Dictionary keys: only the canonical form decodes. */
Test(fts, dict_key_codec)
{
	uint8_t k[64], tok[32];
	size_t n;

	memcpy(k, "\0\0\0\1\xff\xff\xff\xff" "ssamessage", 18);
	cr_assert_eq(idx_fts_dict_key_decode(k, 18, tok, &n), IDX_OK);
	cr_assert_eq(n, 7);
	cr_assert_eq(memcmp(tok, "message", 7), 0);
	/* trigram not in the token */
	memcpy(k + 8, "xyz", 3);
	cr_assert_eq(idx_fts_dict_key_decode(k, 18, tok, &n), IDX_CORRUPT);
	memcpy(k + 8, "ess", 3);
	/* not a dictionary block, too short, too long, a separator */
	k[7] = 0xfe;
	cr_assert_eq(idx_fts_dict_key_decode(k, 18, tok, &n), IDX_CORRUPT);
	k[7] = 0xff;
	cr_assert_eq(idx_fts_dict_key_decode(k, 14, tok, &n), IDX_CORRUPT);
	memset(k + 11, 'e', 33);
	memcpy(k + 8, "eee", 3);
	cr_assert_eq(idx_fts_dict_key_decode(k, 11 + 32, tok, &n), IDX_OK);
	cr_assert_eq(idx_fts_dict_key_decode(k, 11 + 33, tok, &n),
		     IDX_CORRUPT);
	k[13] = ' ';
	cr_assert_eq(idx_fts_dict_key_decode(k, 20, tok, &n), IDX_CORRUPT);
}
