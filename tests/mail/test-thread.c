/* Tests for lib/mail/thread.c: RFC 5256 §2.1 ORDEREDSUBJECT and
 * REFERENCES (links, dummies, loops, duplicate IDs, subject merging),
 * the §4 output forms, msg-id normalization, and a 100,000-message run
 * in bounded time. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/pool.h"
#include "mail/thread.h"

#define MAXREFS 4

struct spec {
	const char *subject;     /* already a key */
	bool reply;
	time_t date;
	const char *msgid;
	const char *refs[MAXREFS];
};

static char *
run(enum mail_thread_alg alg, const struct spec *s, size_t n)
{
	struct mail_thread_msg m[32];
	struct buf *b = buf_new(1 << 20);
	char *r;

	cr_assert(n <= 32);
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;

		while (k < MAXREFS && s[i].refs[k] != NULL)
			k++;
		m[i] = (struct mail_thread_msg){
			.seq = (uint32_t)(i + 1), .num = (uint32_t)(i + 1),
			.date = s[i].date, .subject = s[i].subject,
			.reply = s[i].reply, .msgid = s[i].msgid,
			.refs = s[i].refs, .n_refs = k,
		};
	}
	cr_assert_eq(mail_thread(alg, m, n, b), 0);
	r = strdup(buf_str(b));
	buf_free(&b);
	return r;
}

#define N(a) (sizeof(a) / sizeof(a[0]))

Test(thread, orderedsubject)
{
	static const struct spec s[] = {
		{ "B", false, 10, NULL, {0} },
		{ "A", false, 20, NULL, {0} },
		{ "B", true, 5, NULL, {0} },
		{ "A", true, 30, NULL, {0} },
		{ "A", true, 25, NULL, {0} },
		{ "C", false, 1, NULL, {0} },
		{ "D", false, 40, NULL, {0} },
		{ "D", false, 41, NULL, {0} },
	};
	char *r = run(MAIL_THREAD_ORDEREDSUBJECT, s, N(s));

	/* threads by their first date: C(1), B(5: 3 then 1), A(20: 2,5,4),
	 * D(40) */
	cr_expect_str_eq(r, "(6)(3 1)(2 (5)(4))(7 8)");
	free(r);
}

Test(thread, references_chain_and_branches)
{
	static const struct spec s[] = {
		{ "X", false, 1, "a@x", {0} },
		{ "X", true, 2, "b@x", { "a@x" } },
		{ "X", true, 3, "c@x", { "a@x", "b@x" } },
		{ "X", true, 4, "d@x", { "a@x" } },
		{ "Y", false, 5, "e@x", {0} },
	};
	char *r = run(MAIL_THREAD_REFERENCES, s, N(s));

	cr_expect_str_eq(r, "(1 (2 3)(4))(5)");
	free(r);
}

Test(thread, references_dummies)
{
	/* 1 and 2 reply to a missing parent: a dummy with two children
	 * stays at the root; 3 alone under a missing parent is promoted;
	 * different subjects so step 5 does not merge. */
	static const struct spec s[] = {
		{ "P", true, 2, "b@x", { "missing@x" } },
		{ "Q", true, 1, "c@x", { "missing@x" } },
		{ "R", true, 3, "d@x", { "other@x" } },
	};
	char *r = run(MAIL_THREAD_REFERENCES, s, N(s));

	cr_expect_str_eq(r, "((2)(1))(3)");
	free(r);
}

Test(thread, references_nested_dummies_collapse)
{
	/* missing1 -> missing2 -> 1: both dummies go, 1 is a root. */
	static const struct spec s[] = {
		{ "S", true, 1, "m@x", { "missing1@x", "missing2@x" } },
	};
	char *r = run(MAIL_THREAD_REFERENCES, s, N(s));

	cr_expect_str_eq(r, "(1)");
	free(r);
}

Test(thread, references_loop_and_duplicates)
{
	/* 1 says its parent is 2, 2 says its parent is 1: the second link
	 * would make a loop and is not made. 3 duplicates 1's ID: it gets
	 * a unique one, so 4 (replying to a@x) goes under 1. */
	static const struct spec s[] = {
		{ "A", false, 1, "a@x", { "b@x" } },
		{ "B", false, 2, "b@x", { "a@x" } },
		{ "C", false, 3, "a@x", {0} },
		{ "D", true, 4, "d@x", { "a@x" } },
	};
	char *r = run(MAIL_THREAD_REFERENCES, s, N(s));

	cr_expect_str_eq(r, "(2 1 4)(3)");
	free(r);
}

Test(thread, references_last_reference_wins)
{
	/* 2's References was cut: it names only a@x; 3 says 2's parent is
	 * b@x... but the parent of 3 is 2 (step 1B), and 2 keeps the
	 * parent its own references gave (1). */
	static const struct spec s[] = {
		{ "A", false, 1, "a@x", {0} },
		{ "A", true, 2, "c@x", { "a@x" } },
		{ "A", true, 3, "e@x", { "b@x", "c@x" } },
	};
	char *r = run(MAIL_THREAD_REFERENCES, s, N(s));

	cr_expect_str_eq(r, "(1 2 3)");
	free(r);
}

Test(thread, references_subject_merge)
{
	/* No references at all: 5 (A) rules, its reply 2 goes under it;
	 * two non-replies with subject B get a dummy; empty subjects are
	 * never merged. */
	static const struct spec s[] = {
		{ "A", false, 2, "1@x", {0} },
		{ "A", true, 3, "2@x", {0} },
		{ "B", false, 4, "3@x", {0} },
		{ "B", false, 5, "4@x", {0} },
		{ "", false, 6, "5@x", {0} },
		{ "", false, 7, "6@x", {0} },
	};
	char *r = run(MAIL_THREAD_REFERENCES, s, N(s));

	cr_expect_str_eq(r, "(1 2)((3)(4))(5)(6)");
	free(r);
}

Test(thread, references_reply_first_then_original)
{
	/* The reply arrived first (earlier date) and the original later:
	 * the original is the table entry, the reply goes under it. */
	static const struct spec s[] = {
		{ "A", true, 1, "1@x", {0} },
		{ "A", false, 2, "2@x", {0} },
	};
	char *r = run(MAIL_THREAD_REFERENCES, s, N(s));

	cr_expect_str_eq(r, "(2 1)");
	free(r);
}

Test(thread, ties_by_sequence)
{
	static const struct spec s[] = {
		{ "B", false, 7, NULL, {0} },
		{ "A", false, 7, NULL, {0} },
	};
	char *r = run(MAIL_THREAD_REFERENCES, s, N(s));

	cr_expect_str_eq(r, "(1)(2)");
	free(r);
}

Test(thread, msgid_normalized)
{
	struct pool *p = pool_new(4096);
	const char *s = "(comment <no@x>) <\"01KF8JCEOCBS0045PS\"@xxx.yyy.com>"
		" junk <noat> <a\\b@c\r\n d> <unclosed@x <last@x>";
	size_t pos = 0;
	const char *id;

	id = mail_msgid_next(p, s, strlen(s), &pos);
	cr_assert_str_eq(id, "01KF8JCEOCBS0045PS@xxx.yyy.com");
	id = mail_msgid_next(p, s, strlen(s), &pos);
	cr_assert_str_eq(id, "ab@cd");
	id = mail_msgid_next(p, s, strlen(s), &pos);
	cr_assert_str_eq(id, "last@x");
	cr_assert_null(mail_msgid_next(p, s, strlen(s), &pos));
	pool_free(&p);
}

/* 100,000 messages in chains of 10 under missing roots, plus one chain
 * 20,000 deep (the loop-check bound): must end in seconds. */
Test(thread, hundred_thousand, .timeout = 60)
{
	size_t n = 100000;
	struct mail_thread_msg *m = calloc(n, sizeof(*m));
	char (*ids)[32] = calloc(n, 32);
	const char **refs = calloc(n, sizeof(*refs));
	struct buf *b = buf_new(64u << 20);
	clock_t t0 = clock();

	for (size_t i = 0; i < n; i++) {
		snprintf(ids[i], 32, "%zu@x", i);
		m[i] = (struct mail_thread_msg){ .seq = (uint32_t)i + 1,
			.num = (uint32_t)i + 1, .date = (time_t)(i % 977),
			.subject = i < 20000 ? "deep" : "s", .msgid = ids[i] };
		if (i > 0 && (i < 20000 || i % 10 != 0)) {
			refs[i] = ids[i - 1];
			m[i].refs = &refs[i];
			m[i].n_refs = 1;
		}
	}
	cr_assert_eq(mail_thread(MAIL_THREAD_REFERENCES, m, n, b), 0);
	cr_assert_gt(buf_len(b), n);
	buf_reset(b);
	cr_assert_eq(mail_thread(MAIL_THREAD_ORDEREDSUBJECT, m, n, b), 0);
	printf("thread: 2 x 100000 messages in %.2f s CPU\n",
	       (double)(clock() - t0) / CLOCKS_PER_SEC);
	buf_free(&b);
	free(refs);
	free(ids);
	free(m);
}
