/*
 * libFuzzer harness for the FETCH cache record (imap/fetch-cache.c):
 *   - input byte 0 even: the rest is a cache value as read from the
 *     index (untrusted: only as trusted as the disk), decoded whole and
 *     the message's own block alone; an accepted record's blocks belong
 *     to parts of its tree and write an ENVELOPE; both decoders agree
 *     on the block SEARCH uses;
 *     The same bytes as a text record (the ENVELOPE and BODYSTRUCTURE
 *     kinds): an accepted one's text is one valid list;
 *   - odd: the rest is a message, filled (tree, blocks, preview) and its
 *     value decoded again: the round trip gives back the same blocks,
 *     preview and flags. Its ENVELOPE and BODYSTRUCTURE, in both modes,
 *     make text records (whatever the writers write, the reader's check
 *     accepts) that decode to the same text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/buf.h"
#include "imap/fetch-cache.h"
#include "imap/fetch-msg.h"
#include "imap/writer.h"
#include "mail/bodystructure.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fetch_cache_load/top read the store; not used here */
int
mailbox_msg_cache_get(struct mailbox *mb, enum store_cache_kind kind,
		      uint32_t seq, void *buf, size_t cap, size_t *len)
{
	(void)mb;
	(void)kind;
	(void)seq;
	(void)buf;
	(void)cap;
	*len = 0;
	return 1;
}

int
mailbox_msg_cache_put_n(struct mailbox *mb, enum store_cache_kind kind,
			const struct store_cache_put *puts, size_t n)
{
	(void)mb;
	(void)kind;
	(void)puts;
	(void)n;
	return 0;
}

const struct store_error *
store_error(const struct store *s)
{
	static const struct store_error e = { STORE_OK, "" };

	(void)s;
	return &e;
}

static void
check(int cond)
{
	if (!cond)
		abort();
}

static void
decode_checked(const uint8_t *v, size_t len, struct fetch_meta *m)
{
	struct buf *top = NULL, *out;
	const struct buf *first0;
	int rt = fetch_cache_decode_top(v, len, FETCH_TOP_SEARCH, &top);

	if (fetch_cache_decode(v, len, m) < 0) {
		check(m->tree == NULL && m->n_env == 0);
		buf_free(&top);
		return;
	}
	out = buf_new(1u << 20);
	for (size_t i = 0; i < m->n_env; i++) {
		check(m->env_part[i] < m->tree->n_parts);
		buf_reset(out);
		(void)fetch_envelope_write(out, buf_data(m->env[i]),
					   buf_len(m->env[i]), false);
	}
	buf_free(&out);
	first0 = fetch_meta_envelope(m, 0);
	if (m->top_exact && first0 != NULL) {
		check(rt == 0 && top != NULL);
		check(buf_len(top) == buf_len(first0) &&
		      memcmp(buf_data(top), buf_data(first0),
			     buf_len(top)) == 0);
	} else {
		check(rt == 1 && top == NULL);
	}
	buf_free(&top);
}

static void
text_checked(const uint8_t *v, size_t len, bool utf8)
{
	const uint8_t *text;
	size_t tlen;
	uint64_t size;

	if (fetch_text_decode(v, len, utf8, &text, &tlen, &size) == 0)
		check(imap_list_valid(text, tlen, utf8));
}

struct env_ctx {
	const struct fetch_meta *m;
	bool utf8;
};

static int
env_cb(void *ctx, const struct mail_tree *t, const struct mail_part *msg,
       struct buf *out)
{
	const struct env_ctx *e = ctx;
	const struct buf *blk = fetch_meta_envelope(e->m,
						    (uint32_t)(msg - t->parts));

	if (blk == NULL)
		return buf_append_str(out, "(NIL NIL NIL NIL NIL NIL NIL NIL "
				      "NIL NIL)");
	return fetch_envelope_write(out, buf_data(blk), buf_len(blk),
				    e->utf8);
}

/* A text written for a client makes a record that gives it back. */
static void
text_round_trip(const struct buf *text, bool utf8, uint64_t size)
{
	struct buf *v = fetch_text_encode(buf_data(text), buf_len(text), utf8,
					  size);
	const uint8_t *back;
	size_t blen;
	uint64_t bsize;

	check(v != NULL || buf_len(text) > STORE_CACHE_MAX - 10);
	if (v == NULL)
		return;
	check(fetch_text_decode(buf_data(v), buf_len(v), utf8, &back, &blen,
				&bsize) == 0);
	check(blen == buf_len(text) && bsize == size &&
	      memcmp(back, buf_data(text), blen) == 0);
	check(fetch_text_decode(buf_data(v), buf_len(v), !utf8, &back, &blen,
				&bsize) == 1);
	buf_free(&v);
}

static void
texts_checked(const struct fetch_meta *m)
{
	struct buf *out = buf_new(1u << 22);

	for (int mode = 0; mode < 2; mode++) {
		struct env_ctx e = { m, mode == 1 };

		buf_reset(out);
		if (env_cb(&e, m->tree, &m->tree->parts[0], out) == 0)
			text_round_trip(out, e.utf8, m->tree->size);
		buf_reset(out);
		if (mail_bodystructure_write(out, m->tree, true, env_cb,
					     &e) == 0)
			text_round_trip(out, e.utf8, m->tree->size);
	}
	buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fetch_meta m, back;
	int fd;

	if (size == 0)
		return 0;
	if ((data[0] & 1) == 0) {
		decode_checked(data + 1, size - 1, &m);
		fetch_meta_clear(&m);
		text_checked(data + 1, size - 1, (data[0] & 2) != 0);
		return 0;
	}
	if ((fd = memfd_create("fuzz-fetch-cache", MFD_CLOEXEC)) < 0)
		return 0;
	if (size > 1 && write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) {
		close(fd);
		return 0;
	}
	if (fetch_cache_fill(fd, 0, size - 1, &m) == 0 && m.value != NULL) {
		decode_checked(buf_data(m.value), buf_len(m.value), &back);
		check(back.tree != NULL && back.n_env == m.n_env &&
		      back.top_exact == m.top_exact &&
		      back.top_sort == m.top_sort);
		for (size_t i = 0; i < m.n_env; i++)
			check(back.env_part[i] == m.env_part[i] &&
			      buf_len(back.env[i]) == buf_len(m.env[i]) &&
			      memcmp(buf_data(back.env[i]), buf_data(m.env[i]),
				     buf_len(m.env[i])) == 0);
		check((back.preview == NULL) == (m.preview == NULL));
		check(m.preview == NULL ||
		      (buf_len(back.preview) == buf_len(m.preview) &&
		       memcmp(buf_data(back.preview), buf_data(m.preview),
			      buf_len(m.preview)) == 0));
		fetch_meta_clear(&back);
	}
	if (m.tree != NULL)
		texts_checked(&m);
	fetch_meta_clear(&m);
	close(fd);
	return 0;
}
