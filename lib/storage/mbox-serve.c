/*
 * mbox_serve: stored mbox message -> served IMAP message (hidden
 * rewritable header fields, LF -> CRLF). Rules and reasons in
 * mbox-serve.h. Callers: mbox-scan.c (sizes), mbox.c (FETCH, APPEND).
 * Input: untrusted mail bytes; state is bounded (MBOX_SERVE_PEEK).
 */
#include <string.h>
#include <strings.h>

#include "storage/mbox-serve.h"

/* The fields mbox_parse leaves out of the fingerprint (mbox-parse.c,
 * "fields"): keep the two lists equal. */
static const char *const hidden[] = {
	"Status", "X-Status", "X-Keywords", "X-UID", "X-IMAPbase", "X-IMAP",
	"Content-Length", "Lines",
};

static bool
is_hidden(const char *name, size_t len)
{
	while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t'))
		len--;
	for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++)
		if (strlen(hidden[i]) == len &&
		    strncasecmp(name, hidden[i], len) == 0)
			return true;
	return false;
}

void
mbox_serve_init(struct mbox_serve *v)
{
	memset(v, 0, sizeof(*v));
	v->in_hdr = true;
	v->bol = true;
}

/* Emits data[0..n) with bare LF -> CRLF. */
static int
emit(struct mbox_serve *v, const char *d, size_t n, struct buf *out)
{
	while (n > 0) {
		const char *nl = memchr(d, '\n', n);
		size_t k = nl != NULL ? (size_t)(nl - d) : n;
		bool cr_before;

		if (k > 0) {
			if (out != NULL && buf_append(out, d, k) < 0)
				return -1;
			v->produced += k;
			v->prev_cr = d[k - 1] == '\r';
		}
		if (nl == NULL)
			break;
		cr_before = v->prev_cr;
		if (out != NULL &&
		    buf_append(out, cr_before ? "\n" : "\r\n",
			       cr_before ? 1 : 2) < 0)
			return -1;
		v->produced += cr_before ? 1 : 2;
		v->prev_cr = false;
		d += k + 1;
		n -= k + 1;
	}
	return 0;
}

/* Decides an undecided header line from v->pend; complete: the line
 * ended (its '\n' is the last pend byte, or end of input). Returns
 * false when more bytes are needed. */
static bool
decide(struct mbox_serve *v, bool complete)
{
	const char *p = v->pend;
	size_t n = v->pend_len;
	const char *colon;

	if (n == 1 && p[0] == '\n') {
		v->in_hdr = false;       /* the empty line ends the header */
		v->drop = false;
		return true;
	}
	if (n >= 2 && p[0] == '\r' && p[1] == '\n') {
		v->in_hdr = false;
		v->drop = false;
		return true;
	}
	if (n == 1 && p[0] == '\r' && !complete)
		return false;
	if (p[0] == ' ' || p[0] == '\t') {
		v->drop = v->drop_field;
		return true;
	}
	colon = memchr(p, ':', n < MBOX_SERVE_PEEK ? n : MBOX_SERVE_PEEK);
	if (colon == NULL && !complete && n < MBOX_SERVE_PEEK)
		return false;
	v->drop_field = colon != NULL && is_hidden(p, (size_t)(colon - p));
	v->drop = v->drop_field;
	return true;
}

int
mbox_serve_feed(struct mbox_serve *v, const void *data, size_t len,
		struct buf *out)
{
	const char *d = data;

	while (len > 0) {
		if (v->in_hdr && v->bol) {
			v->bol = false;
			v->undecided = true;
			v->pend_len = 0;
		}
		if (v->undecided) {
			char c = *d++;

			len--;
			v->pend[v->pend_len++] = c;
			if (!decide(v, c == '\n'))
				continue;
			v->undecided = false;
			if (!v->drop && emit(v, v->pend, v->pend_len, out) < 0)
				return -1;
			if (c == '\n') {
				v->bol = true;
				v->drop = false;
				v->prev_cr = false;
			} else if (v->drop) {
				v->prev_cr = c == '\r';
			}
			continue;
		}
		if (!v->in_hdr && out == NULL) {
			/* Counting a body: a loop the compiler vectorises. */
			uint64_t bare = 0;

			bare += d[0] == '\n' && !v->prev_cr;
			for (size_t i = 1; i < len; i++)
				bare += d[i] == '\n' && d[i - 1] != '\r';
			v->produced += len + bare;
			v->prev_cr = d[len - 1] == '\r';
			return 0;
		}
		{
			const char *nl = v->in_hdr ? memchr(d, '\n', len) :
			    NULL;
			size_t k = nl != NULL ? (size_t)(nl - d) + 1 : len;

			if (!v->drop) {
				if (emit(v, d, k, out) < 0)
					return -1;
			}
			if (nl != NULL) {
				v->bol = true;
				v->drop = false;
				v->prev_cr = false;
			}
			d += k;
			len -= k;
		}
	}
	return 0;
}

int
mbox_serve_finish(struct mbox_serve *v, struct buf *out)
{
	if (v->undecided && v->pend_len > 0) {
		(void)decide(v, true);
		v->undecided = false;
		if (!v->drop && emit(v, v->pend, v->pend_len, out) < 0)
			return -1;
	}
	return 0;
}

uint64_t
mbox_serve_size(const void *data, size_t len)
{
	struct mbox_serve v;

	mbox_serve_init(&v);
	(void)mbox_serve_feed(&v, data, len, NULL);
	(void)mbox_serve_finish(&v, NULL);
	return v.produced;
}
