/*
 * libFuzzer harness for the FETCH cache record (imap/fetch-cache.c):
 *   - input byte 0 even: the rest is a cache value as read from the
 *     index (untrusted: only as trusted as the disk), decoded whole and
 *     the message's own block alone; an accepted record's blocks belong
 *     to parts of its tree and write an ENVELOPE; both decoders agree
 *     on the block SEARCH uses;
 *   - odd: the rest is a message, filled (tree, blocks, preview) and its
 *     value decoded again: the round trip gives back the same blocks,
 *     preview and flags.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/buf.h"
#include "imap/fetch-cache.h"
#include "imap/fetch-msg.h"

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
	fetch_meta_clear(&m);
	close(fd);
	return 0;
}
