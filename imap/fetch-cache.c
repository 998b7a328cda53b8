/*
 * fetch_cache: the FETCH structure cache (see fetch-cache.h). Value:
 *   u8 version | u64 message size | u32 tree length | serialized tree |
 *   u32 block count | count * (u32 part index | u32 length | block) |
 *   u32 preview length (0xffffffff: NIL) | preview
 * The store stamps it with its own view of the message (size, date) and
 * drops a stale one; we check the tree's size and every index and
 * length again, since the index's bytes are only as trusted as the
 * disk: mail_tree_deserialize is strict, and a block is reparsed like
 * any header.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/str.h"
#include "imap/fetch-cache.h"
#include "imap/fetch-msg.h"
#include "mail/header.h"

#define FETCH_CACHE_VERSION 2
#define PREVIEW_NIL 0xffffffffu

static const char *const env_names[] = {
	"date", "subject", "from", "sender", "reply-to", "to", "cc", "bcc",
	"in-reply-to", "message-id",
};
#define N_ENV_NAMES (sizeof(env_names) / sizeof(env_names[0]))

void
fetch_meta_clear(struct fetch_meta *m)
{
	mail_tree_free(&m->tree);
	for (size_t i = 0; i < m->n_env; i++)
		buf_free(&m->env[i]);
	free(m->env);
	free(m->env_part);
	buf_free(&m->preview);
	buf_free(&m->value);
	memset(m, 0, sizeof(*m));
}

const struct buf *
fetch_meta_envelope(const struct fetch_meta *m, uint32_t idx)
{
	for (size_t i = 0; i < m->n_env; i++)
		if (m->env_part[i] == idx)
			return m->env[i];
	return NULL;
}

static void
meta_add(struct fetch_meta *m, uint32_t idx, struct buf *b)
{
	m->env = xreallocarray(m->env, m->n_env + 1, sizeof(*m->env));
	m->env_part = xreallocarray(m->env_part, m->n_env + 1,
				    sizeof(*m->env_part));
	m->env[m->n_env] = b;
	m->env_part[m->n_env] = idx;
	m->n_env++;
}

int
fetch_cache_load(struct mailbox *mb, uint32_t seq, struct fetch_meta *m)
{
	uint8_t *val = xmalloc(STORE_CACHE_MAX);
	const uint8_t *p;
	struct rd r;
	uint64_t size;
	uint32_t tlen, n;
	uint8_t ver;
	size_t len;
	int rc;

	memset(m, 0, sizeof(*m));
	rc = mailbox_msg_cache_get(mb, seq, val, STORE_CACHE_MAX, &len);
	if (rc != 0)
		goto done;
	rc = 1;
	r.p = val;
	r.left = len;
	if (rd_get_u8(&r, &ver) < 0 || ver != FETCH_CACHE_VERSION ||
	    rd_get_u64(&r, &size) < 0 || rd_get_u32(&r, &tlen) < 0 ||
	    rd_get_bytes(&r, &p, tlen) < 0 ||
	    (m->tree = mail_tree_deserialize(p, tlen, size)) == NULL ||
	    m->tree->size != size || rd_get_u32(&r, &n) < 0)
		goto bad;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t idx, blen;
		struct buf *b;

		if (rd_get_u32(&r, &idx) < 0 || idx >= m->tree->n_parts ||
		    rd_get_u32(&r, &blen) < 0 ||
		    rd_get_bytes(&r, &p, blen) < 0)
			goto bad;
		b = buf_new(blen);
		(void)buf_append(b, p, blen);
		meta_add(m, idx, b);
	}
	if (rd_get_u32(&r, &n) < 0)
		goto bad;
	if (n != PREVIEW_NIL) {
		if (n > 4 * FETCH_PREVIEW_CHARS || rd_get_bytes(&r, &p, n) < 0)
			goto bad;
		m->preview = buf_new(n);
		(void)buf_append(m->preview, p, n);
	}
	if (r.left != 0)
		goto bad;
	rc = 0;
	goto done;
bad:
	/* a miss: the fill writes a good one */
	log_warn("FETCH: ignoring a malformed cache record of message %u",
		 seq);
	fetch_meta_clear(m);
done:
	free(val);
	return rc;
}

/* The ENVELOPE fields of a header block, first occurrences only (the
 * ones fetch_envelope_write takes), raw, each ending in CRLF. */
static struct buf *
envelope_block(const uint8_t *hdr, size_t len)
{
	struct buf *b = buf_new(STORE_CACHE_MAX);
	bool seen[N_ENV_NAMES] = { false };
	struct mail_header_iter it;
	struct mail_header_field f;

	mail_header_iter_init(&it, hdr, len);
	while (mail_header_next(&it, &f)) {
		for (size_t i = 0; i < N_ENV_NAMES; i++) {
			if (seen[i] || !mail_header_name_is(&f, env_names[i]))
				continue;
			seen[i] = true;
			/* too big is found by the caller (full buffer) */
			if (buf_append(b, f.raw, f.raw_len) < 0 ||
			    (f.raw_len > 0 && f.raw[f.raw_len - 1] != '\n' &&
			     buf_append_str(b, "\r\n") < 0)) {
				buf_free(&b);
				return NULL;
			}
		}
	}
	return b;
}

/* The cache value of m, or NULL if it does not fit. */
static struct buf *
encode(const struct fetch_meta *m)
{
	struct buf *v = buf_new(STORE_CACHE_MAX);
	size_t at;

	if (buf_put_u8(v, FETCH_CACHE_VERSION) < 0 ||
	    buf_put_u64(v, m->tree->size) < 0 || buf_put_u32(v, 0) < 0)
		goto done;
	at = buf_len(v);
	if (mail_tree_serialize(m->tree, v) < 0)
		goto done;
	{
		uint32_t tlen = (uint32_t)(buf_len(v) - at);
		uint8_t *d = buf_data_mut(v);

		d[at - 4] = (uint8_t)(tlen >> 24);
		d[at - 3] = (uint8_t)(tlen >> 16);
		d[at - 2] = (uint8_t)(tlen >> 8);
		d[at - 1] = (uint8_t)tlen;
	}
	if (buf_put_u32(v, (uint32_t)m->n_env) < 0)
		goto done;
	for (size_t i = 0; i < m->n_env; i++)
		if (buf_put_u32(v, m->env_part[i]) < 0 ||
		    buf_put_u32(v, (uint32_t)buf_len(m->env[i])) < 0 ||
		    buf_append(v, buf_data(m->env[i]), buf_len(m->env[i])) < 0)
			goto done;
	if (m->preview == NULL ? buf_put_u32(v, PREVIEW_NIL) < 0 :
	    buf_put_u32(v, (uint32_t)buf_len(m->preview)) < 0 ||
	    buf_append(v, buf_data(m->preview), buf_len(m->preview)) < 0)
		goto done;
	return v;
done:
	buf_free(&v);
	return NULL;
}

/* A message up to this size is read once, whole, and parsed from
 * memory (tree, envelope fields, preview): one read instead of one per
 * header block and one for the preview. Larger ones go by ranges. */
#define FILL_WHOLE_MAX (256u * 1024u)

int
fetch_cache_fill(int fd, off_t off, uint64_t size, struct fetch_meta *m)
{
	struct buf *whole = NULL;
	bool cacheable = true;

	memset(m, 0, sizeof(*m));
	if (size <= FILL_WHOLE_MAX) {
		if ((whole = fetch_read_range(fd, off, size)) == NULL)
			return -1;
		m->tree = mail_mime_parse(buf_data(whole), buf_len(whole));
	} else {
		m->tree = mail_mime_parse_fd(fd, off, size);
	}
	if (m->tree == NULL)
		goto fail;
	/* the message's header and every encapsulated one's */
	for (uint32_t i = 0; i < m->tree->n_parts; i++) {
		const struct mail_part *p = &m->tree->parts[i];
		uint64_t hlen = p->hdr_size < FETCH_HEADER_MAX ? p->hdr_size :
			FETCH_HEADER_MAX;
		const uint8_t *hdr;
		struct buf *h = NULL, *b;

		if (i != 0 && (p->parent == MAIL_PART_NONE ||
			       (m->tree->parts[p->parent].flags &
				MAIL_PART_MESSAGE) == 0))
			continue;
		if (whole != NULL) {
			if (p->hdr_offset > size || hlen > size - p->hdr_offset) {
				errno = EIO;
				goto fail;
			}
			hdr = buf_data(whole) + p->hdr_offset;
		} else {
			h = fetch_read_range(fd, off + (off_t)p->hdr_offset,
					     hlen);
			if (h == NULL)
				goto fail;
			hdr = buf_data(h);
		}
		b = envelope_block(hdr, (size_t)hlen);
		if (b == NULL) {
			/* too big for the cache: the envelope is read from
			 * the file whenever it is asked for */
			cacheable = false;
			b = buf_new(FETCH_HEADER_MAX);
			(void)buf_append(b, hdr, (size_t)hlen);
		}
		buf_free(&h);
		meta_add(m, i, b);
	}
	m->preview = whole != NULL ?
		fetch_preview_mem(buf_data(whole), size, m->tree) :
		fetch_preview(fd, off, m->tree);
	if (m->preview == NULL && errno != 0)
		goto fail;
	buf_free(&whole);
	if (cacheable)
		m->value = encode(m);
	return 0;
fail:
	{
		int e = errno;

		buf_free(&whole);
		fetch_meta_clear(m);
		errno = e;
	}
	return -1;
}
