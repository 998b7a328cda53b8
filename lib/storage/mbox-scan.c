/*
 * mbox_scan: the parse loop of the mbox backend (mbox-scan.h). Reads a
 * window at a time; the parser reports a message only after its last
 * byte was fed, so the message's range is in the current window, or
 * partly before it (then re-read from the page cache).
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/str.h"
#include "storage/mbox-scan.h"
#include "storage/mbox-serve.h"

#define REREAD_CHUNK (64 * 1024)

size_t mbox_scan_window = 256 * 1024;

struct scan {
	int fd;
	mbox_scan_cb *cb;
	void *ctx;
	const char *win;          /* the bytes being fed */
	uint64_t win_start, win_len;
	char *scratch;
	int err;
};

/* Feeds [from, to) of the file into v by pread. */
static int
serve_pread(int fd, char *scratch, uint64_t from, uint64_t to,
	    struct mbox_serve *v)
{
	while (from < to) {
		size_t want = to - from > REREAD_CHUNK ? REREAD_CHUNK :
		    (size_t)(to - from);
		ssize_t n = pread(fd, scratch, want, (off_t)from);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO;   /* the file shrank under a lock */
			return -1;
		}
		(void)mbox_serve_feed(v, scratch, (size_t)n, NULL);
		from += (uint64_t)n;
	}
	return 0;
}

static int
on_msg(void *ctx, const struct mbox_msg *m)
{
	struct scan *s = ctx;
	struct mbox_serve v;
	uint64_t a = m->offset, b = m->offset + m->length;

	mbox_serve_init(&v);
	if (a < s->win_start) {
		uint64_t to = b < s->win_start ? b : s->win_start;

		if (serve_pread(s->fd, s->scratch, a, to, &v) < 0) {
			s->err = errno;
			return -1;
		}
		a = to;
	}
	if (a < b)
		(void)mbox_serve_feed(&v, s->win + (a - s->win_start),
				      (size_t)(b - a), NULL);
	(void)mbox_serve_finish(&v, NULL);
	return s->cb(s->ctx, m, v.produced);
}

int
mbox_scan_fd(int fd, uint64_t start, mbox_scan_cb *cb, void *ctx,
	     uint64_t *eof, uint64_t *junk)
{
	struct scan s = { .fd = fd, .cb = cb, .ctx = ctx };
	struct mbox_parser *p;
	char *buf;
	uint64_t off = start;
	size_t window;
	int ret = 0;

	if (start > INT64_MAX) {
		errno = EINVAL;
		return -1;
	}
	window = mbox_scan_window > 0 ? mbox_scan_window : 1;
	buf = xmalloc(window);
	s.scratch = xmalloc(REREAD_CHUNK);
	p = mbox_parser_new(start, on_msg, &s);
	for (;;) {
		ssize_t n = pread(fd, buf, window, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			s.err = errno;
			ret = -1;
			break;
		}
		if (n == 0) {
			/* The last window is still in buf for the last
			 * message. */
			ret = mbox_parser_finish(p);
			break;
		}
		s.win = buf;
		s.win_start = off;
		s.win_len = (uint64_t)n;
		off += (uint64_t)n;
		if ((ret = mbox_parser_feed(p, buf, (size_t)n)) != 0)
			break;
	}
	if (eof != NULL)
		*eof = off;
	if (junk != NULL)
		*junk = mbox_parser_junk(p);
	mbox_parser_free(&p);
	free(buf);
	free(s.scratch);
	if (ret == -1 && s.err != 0)
		errno = s.err;
	return ret;
}

int
mbox_scan_size(int fd, uint64_t offset, uint64_t length, uint64_t *size)
{
	struct mbox_serve v;
	char *scratch = xmalloc(REREAD_CHUNK);
	int r;

	mbox_serve_init(&v);
	r = serve_pread(fd, scratch, offset, offset + length, &v);
	free(scratch);
	if (r < 0)
		return -1;
	(void)mbox_serve_finish(&v, NULL);
	*size = v.produced;
	return 0;
}
