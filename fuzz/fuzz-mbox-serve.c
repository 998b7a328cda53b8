/*
 * libFuzzer harness for lib/storage/mbox-serve.c and mbox-scan.c: the
 * served form of a hostile mbox message, and sizes computed while
 * scanning a hostile mbox file. The first HDR bytes seed the feed sizes
 * and the scan window. Checked for every input (abort() reports it):
 *   - the served form equals a plain line-by-line model of the rules in
 *     mbox-serve.h (hidden fields and their continuations in the header
 *     block, LF -> CRLF where no CR precedes), however the input is cut,
 *     and the counted size equals the length of that form;
 *   - it holds no bare LF;
 *   - mbox_scan_fd over the input as a file, with a tiny window so that
 *     messages start before the bytes in memory, reports the messages
 *     mbox_parse reports in memory, with the served size of each.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/buf.h"
#include "storage/mbox-parse.h"
#include "storage/mbox-scan.h"
#include "storage/mbox-serve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR 3
#define MAXMSG 256

static void
check(int cond)
{
	if (!cond)
		abort();
}

static const char *const hidden[] = {
	"Status", "X-Status", "X-Keywords", "X-UID", "X-IMAPbase", "X-IMAP",
	"Content-Length", "Lines",
};

static int
model_hidden(const char *p, size_t n)
{
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++)
		if (strlen(hidden[i]) == n && strncasecmp(p, hidden[i], n) == 0)
			return 1;
	return 0;
}

/* The rules of mbox-serve.h, one whole line at a time. */
static void
model(const char *in, size_t n, struct buf *out)
{
	size_t i = 0;
	int in_hdr = 1, drop_field = 0;

	while (i < n) {
		const char *nl = memchr(in + i, '\n', n - i);
		size_t len = nl != NULL ? (size_t)(nl - (in + i)) + 1 : n - i;
		const char *l = in + i;
		int keep = 1;

		if (in_hdr) {
			if ((len == 1 && l[0] == '\n') ||
			    (len == 2 && l[0] == '\r' && l[1] == '\n')) {
				in_hdr = 0;
			} else if (l[0] == ' ' || l[0] == '\t') {
				keep = !drop_field;
			} else {
				const char *c = memchr(l, ':', len < 64 ? len :
						       64);

				drop_field = c != NULL &&
				    model_hidden(l, (size_t)(c - l));
				keep = !drop_field;
			}
		}
		for (size_t k = 0; keep && k < len; k++) {
			size_t j = i + k;

			if (in[j] == '\n' && (j == 0 || in[j - 1] != '\r'))
				check(buf_append_byte(out, '\r') == 0);
			check(buf_append_byte(out, (uint8_t)in[j]) == 0);
		}
		i += len;
	}
}

struct msgs {
	size_t n;
	uint64_t from[MAXMSG], size[MAXMSG];
	const uint8_t *data;
};

static int
on_parse(void *ctx, const struct mbox_msg *m)
{
	struct msgs *s = ctx;

	if (s->n < MAXMSG) {
		s->from[s->n] = m->from_offset;
		s->size[s->n] = mbox_serve_size(s->data + m->offset,
						(size_t)m->length);
		s->n++;
	}
	return 0;
}

static int
on_scan(void *ctx, const struct mbox_msg *m, uint64_t size)
{
	struct msgs *s = ctx;

	if (s->n < MAXMSG) {
		s->from[s->n] = m->from_offset;
		s->size[s->n] = size;
		s->n++;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in;
	size_t n, pos = 0;
	unsigned seed;
	struct buf *want, *got;
	struct mbox_serve v;

	if (size < HDR || size > (1u << 20))
		return 0;
	seed = (unsigned)data[0] << 8 | data[1];
	mbox_scan_window = 1 + data[2] % 64;
	in = (const char *)data + HDR;
	n = size - HDR;

	want = buf_new(4 * n + 16);
	got = buf_new(4 * n + 16);
	model(in, n, want);
	mbox_serve_init(&v);
	while (pos < n) {
		size_t k = 1 + (seed = seed * 1103515245u + 12345u) % 97;

		if (k > n - pos)
			k = n - pos;
		check(mbox_serve_feed(&v, in + pos, k, got) == 0);
		pos += k;
	}
	check(mbox_serve_finish(&v, got) == 0);
	check(buf_len(got) == buf_len(want));
	check(memcmp(buf_data(got), buf_data(want), buf_len(want)) == 0);
	check(v.produced == buf_len(got));
	check(mbox_serve_size(in, n) == buf_len(got));
	for (size_t i = 0; i < buf_len(got); i++)
		check(buf_data(got)[i] != '\n' ||
		      (i > 0 && buf_data(got)[i - 1] == '\r'));
	buf_free(&want);
	buf_free(&got);

	/* The scan over a file agrees with a parse in memory. */
	{
		struct msgs a = { .data = (const uint8_t *)in };
		struct msgs b = { .data = (const uint8_t *)in };
		struct mbox_parser *p = mbox_parser_new(0, on_parse, &a);
		int fd = memfd_create("fuzz", MFD_CLOEXEC);
		uint64_t eof = 0;

		mbox_parser_feed(p, in, n);
		mbox_parser_finish(p);
		mbox_parser_free(&p);
		check(fd >= 0);
		check(n == 0 || write(fd, in, n) == (ssize_t)n);
		check(mbox_scan_fd(fd, 0, on_scan, &b, &eof, NULL) == 0);
		check(eof == n);
		check(a.n == b.n);
		for (size_t i = 0; i < a.n; i++)
			check(a.from[i] == b.from[i] && a.size[i] == b.size[i]);
		close(fd);
	}
	return 0;
}
