/*
 * libFuzzer harness for lib/mail/subject.c and thread.c. The first byte
 * picks the test, the rest is the input:
 *   0: base subject and key of a Subject value: valid UTF-8, bounded,
 *      the same reply flag both ways, deterministic;
 *   1: msg-ids of a References value: each holds an "@", no
 *      whitespace, at most MAIL_MSGID_MAX bytes, and the scan advances;
 *   2: both THREAD algorithms over up to 64 messages whose dates,
 *      subjects, Message-IDs and references (from a small alphabet, so
 *      duplicates, loops and missing parents are common) come from the
 *      input: every message appears exactly once in the answer and the
 *      parentheses balance.
 * abort() on a broken invariant.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/pool.h"
#include "mail/subject.h"
#include "mail/thread.h"
#include "mail/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond)
{
	if (!cond)
		abort();
}

static void
fuzz_subject(const uint8_t *p, size_t n)
{
	struct buf *a = buf_new(1 << 20), *b = buf_new(1 << 20);
	struct buf *c = buf_new(1 << 20);
	bool ra, rb, rc;

	check(mail_subject_base(p, n, a, &ra) == 0);
	check(mail_subject_key(p, n, b, &rb) == 0);
	check(mail_subject_key(p, n, c, &rc) == 0);
	check(ra == rb && rb == rc);
	check(mail_utf8_valid(buf_data(a), buf_len(a)));
	check(mail_utf8_valid(buf_data(b), buf_len(b)));
	check(buf_len(a) <= 4 * MAIL_SUBJECT_MAX);
	check(buf_len(b) == buf_len(c) &&
	      memcmp(buf_data(b), buf_data(c), buf_len(b)) == 0);
	buf_free(&a);
	buf_free(&b);
	buf_free(&c);
}

static void
fuzz_msgid(const uint8_t *p, size_t n)
{
	struct pool *pool = pool_new(4096);
	size_t pos = 0, last = 0;
	const char *id;

	while ((id = mail_msgid_next(pool, (const char *)p, n, &pos)) !=
	       NULL) {
		size_t len = strlen(id);

		check(pos > last && pos <= n);
		last = pos;
		check(len > 0 && len <= MAIL_MSGID_MAX);
		check(strchr(id, '@') != NULL);
		for (size_t i = 0; i < len; i++)
			check((unsigned char)id[i] > 0x20);
	}
	check(pos == n);
	pool_free(&pool);
}

#define FT_MAX 64

static const char *const ids[] = {
	"a@x", "b@x", "c@x", "d@x", "e@x", "f@x", "g@x", "h@x",
};
static const char *const subjects[] = { "", "A", "B", "C" };

static void
check_answer(const char *s, size_t n)
{
	unsigned int seen[FT_MAX + 1] = { 0 };
	long depth = 0;

	for (; *s != '\0'; s++) {
		if (*s == '(') {
			depth++;
		} else if (*s == ')') {
			check(--depth >= 0);
		} else if (*s >= '0' && *s <= '9') {
			unsigned long v = strtoul(s, (char **)&s, 10);

			check(v >= 1 && v <= n);
			seen[v]++;
			s--;
		} else {
			check(*s == ' ');
		}
	}
	check(depth == 0);
	for (size_t i = 1; i <= n; i++)
		check(seen[i] == 1);
}

static void
fuzz_thread(const uint8_t *p, size_t n)
{
	struct mail_thread_msg m[FT_MAX];
	const char *refs[FT_MAX][4];
	size_t k = 0;
	struct buf *out;

	/* 3 bytes a message: date, subject/reply/msgid, references. */
	for (size_t i = 0; i + 3 <= n && k < FT_MAX; i += 3, k++) {
		uint8_t b = p[i + 1], r = p[i + 2];
		size_t nr = r & 3;

		for (size_t j = 0; j < nr; j++)
			refs[k][j] = ids[(r >> (2 + j * 2)) & 7];
		m[k] = (struct mail_thread_msg){
			.seq = (uint32_t)k + 1, .num = (uint32_t)k + 1,
			.date = p[i] % 8, .subject = subjects[b & 3],
			.reply = (b & 4) != 0,
			.msgid = (b & 0x80) ? NULL : ids[(b >> 3) & 7],
			.refs = refs[k], .n_refs = nr,
		};
	}
	for (int alg = 0; alg < 2; alg++) {
		out = buf_new(1 << 16);
		check(mail_thread(alg == 0 ? MAIL_THREAD_ORDEREDSUBJECT :
				  MAIL_THREAD_REFERENCES, m, k, out) == 0);
		check_answer(buf_str(out), k);
		buf_free(&out);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fuzz_subject(data + 1, size - 1);
		break;
	case 1:
		fuzz_msgid(data + 1, size - 1);
		break;
	case 2:
		fuzz_thread(data + 1, size - 1);
		break;
	}
	return 0;
}
