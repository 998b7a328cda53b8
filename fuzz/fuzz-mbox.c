/*
 * libFuzzer harness for lib/storage/mbox-parse.c: a hostile mbox file.
 * The first HDR bytes seed the feed sizes, where an incremental parse
 * starts, and the quoting mode. Checked for every input (abort() makes
 * the fuzzer report a violation):
 *   - messages are in file order, within the input, do not overlap, and
 *     tile it: junk, then from_offset..end of each message, then EOF;
 *     each starts with a From_ line of at most MBOX_FROM_LINE_MAX bytes,
 *     only the 0-2 bytes of a blank separator line lie between a
 *     message's content and the next From_ line, hdr_len <= length;
 *   - feeding the same bytes in random pieces gives identical messages;
 *   - parsing from any message's from_offset gives exactly the messages
 *     from there on, and parsing from an arbitrary offset keeps the
 *     invariants;
 *   - the input quoted with mbox_parse_quote(), behind a From_ line and
 *     followed by a blank line, parses back as one message holding
 *     exactly the quoted bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "storage/mbox-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR 4

static void
check(int cond)
{
	if (!cond)
		abort();
}

struct rec {
	uint64_t from_offset, offset, length, hdr_len, end;
	uint8_t fp[MBOX_FINGERPRINT_LEN];
	unsigned flags;
	uint32_t uid, uidvalidity, last_uid;
	bool has_imapbase;
	size_t kw_len, from_len;
};

struct run {
	const uint8_t *data;     /* the whole input, for content checks */
	size_t size;
	struct rec *r;
	size_t n, cap;
};

static int
collect(void *ctx, const struct mbox_msg *m)
{
	struct run *run = ctx;
	struct rec *x;

	/* Per-message invariants. */
	check(m->from_offset < m->offset);
	check(m->offset - m->from_offset <= MBOX_FROM_LINE_MAX);
	check(m->offset <= run->size);
	check(m->length <= run->size - m->offset);
	check(m->hdr_len <= m->length);
	check(m->end >= m->offset + m->length);
	check(m->end - (m->offset + m->length) <= 2);
	check(m->end <= run->size);
	check(memcmp(run->data + m->from_offset, "From ", 5) == 0);
	check(m->from_line_len <= m->offset - m->from_offset);
	check(memcmp(run->data + m->from_offset, m->from_line,
		     m->from_line_len) == 0);
	check(m->sender >= m->from_line + 5 &&
	      m->sender + m->sender_len <= m->from_line + m->from_line_len);
	check(m->keywords_len <= MBOX_VALUE_MAX);
	check(m->base_keywords_len <= MBOX_VALUE_MAX);
	check(m->date.mon >= 1 && m->date.mon <= 12);
	check(m->date.year >= 1900 && m->date.year <= 9999);
	if (run->n > 0)
		check(m->from_offset == run->r[run->n - 1].end);
	if (run->n == run->cap) {
		run->cap = run->cap == 0 ? 16 : 2 * run->cap;
		run->r = realloc(run->r, run->cap * sizeof(*run->r));
		check(run->r != NULL);
	}
	x = &run->r[run->n++];
	memset(x, 0, sizeof(*x));
	x->from_offset = m->from_offset;
	x->offset = m->offset;
	x->length = m->length;
	x->hdr_len = m->hdr_len;
	x->end = m->end;
	memcpy(x->fp, m->fingerprint, sizeof(x->fp));
	x->flags = m->flags;
	x->uid = m->uid;
	x->has_imapbase = m->has_imapbase;
	x->uidvalidity = m->uidvalidity;
	x->last_uid = m->last_uid;
	x->kw_len = m->keywords_len;
	x->from_len = m->from_line_len;
	return 0;
}

static uint32_t
next_rand(uint32_t *st)
{
	uint32_t x = *st;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*st = x;
	return x;
}

/* Parses data[start..size) with feeds of 1..max_chunk bytes (0: one). */
static uint64_t
run_parse(struct run *run, uint64_t start, uint32_t *st, size_t max_chunk)
{
	struct mbox_parser *p = mbox_parser_new(start, collect, run);
	size_t pos = (size_t)start;
	uint64_t junk;

	while (pos < run->size) {
		size_t n = max_chunk == 0 ? run->size - pos :
		    1 + next_rand(st) % max_chunk;

		if (n > run->size - pos)
			n = run->size - pos;
		check(mbox_parser_feed(p, run->data + pos, n) == 0);
		pos += n;
	}
	check(mbox_parser_finish(p) == 0);
	junk = mbox_parser_junk(p);
	mbox_parser_free(&p);
	return junk;
}

static void
same(const struct rec *a, const struct rec *b)
{
	check(memcmp(a, b, sizeof(*a)) == 0);
}

/* Quote, wrap, parse back: one message, the quoted bytes. */
static void
quote_roundtrip(const uint8_t *d, size_t n, bool strip_cr, uint32_t *st)
{
	struct buf *q = buf_new(2 * n + 64), *file = buf_new(4 * n + 256);
	struct mbox_quote qs;
	struct run run = { 0 };
	size_t pos = 0;

	mbox_parse_quote_init(&qs, strip_cr);
	while (pos < n) {
		size_t k = 1 + next_rand(st) % 97;

		if (k > n - pos)
			k = n - pos;
		check(mbox_parse_quote(&qs, d + pos, k, q) == 0);
		pos += k;
	}
	check(mbox_parse_quote_finish(&qs, q) == 0);
	if (!qs.bol)
		check(buf_append_byte(q, '\n') == 0);
	check(mbox_parse_from_line_build(file, "fuzz@example.org", 1007073232)
	      == 0);
	check(buf_append(file, buf_data(q), buf_len(q)) == 0);
	check(buf_append_byte(file, '\n') == 0);
	run.data = buf_data(file);
	run.size = buf_len(file);
	check(run_parse(&run, 0, st, 0) == 0);
	check(run.n == 1);
	check(run.r[0].length == buf_len(q));
	check(memcmp(buf_data(file) + run.r[0].offset, buf_data(q),
		     buf_len(q)) == 0);
	free(run.r);
	buf_free(&file);
	buf_free(&q);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole = { 0 }, piece = { 0 };
	uint32_t st;
	size_t max_chunk;
	uint64_t junk;

	if (size < HDR)
		return 0;
	st = (uint32_t)data[0] << 8 | data[1];
	if (st == 0)
		st = 0x2545;
	max_chunk = 1 + data[2] % 64;
	data += HDR;
	size -= HDR;

	whole.data = piece.data = data;
	whole.size = piece.size = size;
	junk = run_parse(&whole, 0, &st, 0);
	/* The messages tile the input after the junk. */
	if (whole.n == 0) {
		check(junk == size);
	} else {
		check(whole.r[0].from_offset == junk);
		check(whole.r[whole.n - 1].end == size);
	}

	/* Random feed sizes. */
	check(run_parse(&piece, 0, &st, max_chunk) == junk);
	check(piece.n == whole.n);
	for (size_t i = 0; i < whole.n; i++)
		same(&whole.r[i], &piece.r[i]);

	/* From a message boundary: the same messages from there on. */
	if (whole.n > 0) {
		size_t k = next_rand(&st) % whole.n;

		piece.n = 0;
		check(run_parse(&piece, whole.r[k].from_offset, &st,
				max_chunk) == 0);
		check(piece.n == whole.n - k);
		for (size_t i = 0; i < piece.n; i++)
			same(&whole.r[k + i], &piece.r[i]);
	}

	/* From anywhere: only the invariants. */
	if (size > 0) {
		uint64_t start = next_rand(&st) % size;

		piece.n = 0;
		junk = run_parse(&piece, start, &st, max_chunk);
		if (piece.n > 0)
			check(piece.r[0].from_offset == start + junk &&
			      piece.r[piece.n - 1].end == size);
	}

	quote_roundtrip(data, size, (data - HDR)[3] & 1, &st);

	free(whole.r);
	free(piece.r);
	return 0;
}
