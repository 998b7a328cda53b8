/*
 * fetch_cache: the FETCH structure cache (see fetch-cache.h). Value:
 *   u8 version | u8 flags | u64 message size | u32 tree length |
 *   serialized tree |
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
#include "imap/writer.h"
#include "imap/fetch-msg.h"
#include "mail/header.h"
#include "mail/textnorm.h"

/* 3: every occurrence of the ENVELOPE fields in a block (2 had the
 * first only, which SEARCH cannot use), and the flags byte */
#define FETCH_CACHE_VERSION 3
#define PREVIEW_NIL 0xffffffffu
/* the message's own block holds every occurrence of its fields in the
 * bytes SEARCH's scan reads (fetch_meta.top_exact), and in those
 * SORT/THREAD read (fetch_meta.top_sort) */
#define FLAG_TOP_EXACT 0x01
#define FLAG_TOP_SORT 0x02
#define FLAGS_KNOWN (FLAG_TOP_EXACT | FLAG_TOP_SORT)
/* the text records; 2 when the ENVELOPE or BODYSTRUCTURE writers change
 * what they write (a record of 1 is then made again) */
#define FETCH_TEXT_VERSION 1
#define TEXT_MODE_UTF8 0x01
#define TEXT_HEAD 10	/* version, mode, size */

static const char *const env_names[] = {
	"date", "subject", "from", "sender", "reply-to", "to", "cc", "bcc",
	"in-reply-to", "message-id",
	/* not ENVELOPE's: for THREAD REFERENCES from the cache */
	"references",
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

bool
fetch_cache_field_kept(const char *name)
{
	for (size_t i = 0; i < N_ENV_NAMES; i++)
		if (str_eq_ci(name, env_names[i]))
			return true;
	return false;
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
fetch_cache_decode(const uint8_t *val, size_t len, struct fetch_meta *m)
{
	const uint8_t *p;
	struct rd r;
	uint64_t size;
	uint32_t tlen, n;
	uint8_t ver, flags;

	memset(m, 0, sizeof(*m));
	r.p = val;
	r.left = len;
	if (rd_get_u8(&r, &ver) < 0 || ver != FETCH_CACHE_VERSION ||
	    rd_get_u8(&r, &flags) < 0 || (flags & ~FLAGS_KNOWN) != 0 ||
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
	m->top_exact = (flags & FLAG_TOP_EXACT) != 0;
	m->top_sort = (flags & FLAG_TOP_SORT) != 0;
	return 0;
bad:
	fetch_meta_clear(m);
	return -1;
}

int
fetch_cache_load(struct mailbox *mb, uint32_t seq, struct fetch_meta *m)
{
	uint8_t *val = xmalloc(STORE_CACHE_MAX);
	size_t len;
	int rc;

	memset(m, 0, sizeof(*m));
	rc = mailbox_msg_cache_get(mb, STORE_CACHE_STRUCT, seq, val,
				   STORE_CACHE_MAX, &len);
	if (rc == 0 && fetch_cache_decode(val, len, m) < 0) {
		/* a miss: the fill writes a good one */
		log_warn("FETCH: ignoring a malformed cache record of "
			 "message %u", seq);
		rc = 1;
	}
	free(val);
	return rc;
}

int
fetch_cache_decode_top(const uint8_t *val, size_t len, unsigned int need,
		       struct buf **block)
{
	const uint8_t *p, *top = NULL;
	struct rd r;
	uint64_t size;
	uint32_t tlen, n, top_len = 0;
	uint8_t ver, flags;

	*block = NULL;
	/* the layout as fetch_cache_decode reads it, the tree skipped */
	r.p = val;
	r.left = len;
	if (rd_get_u8(&r, &ver) < 0 || ver != FETCH_CACHE_VERSION ||
	    rd_get_u8(&r, &flags) < 0 || (flags & ~FLAGS_KNOWN) != 0 ||
	    rd_get_u64(&r, &size) < 0 || rd_get_u32(&r, &tlen) < 0 ||
	    rd_get_bytes(&r, &p, tlen) < 0 || rd_get_u32(&r, &n) < 0)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t idx, blen;

		if (rd_get_u32(&r, &idx) < 0 || rd_get_u32(&r, &blen) < 0 ||
		    rd_get_bytes(&r, &p, blen) < 0)
			return -1;
		if (idx == 0 && top == NULL) {
			top = p;
			top_len = blen;
		}
	}
	if (rd_get_u32(&r, &n) < 0 ||
	    (n != PREVIEW_NIL && (n > 4 * FETCH_PREVIEW_CHARS ||
				  rd_get_bytes(&r, &p, n) < 0)) ||
	    r.left != 0)
		return -1;
	if (((need & FETCH_TOP_SEARCH) && !(flags & FLAG_TOP_EXACT)) ||
	    ((need & FETCH_TOP_SORT) && !(flags & FLAG_TOP_SORT)) ||
	    top == NULL)
		return 1;
	*block = buf_new(top_len);
	(void)buf_append(*block, top, top_len);
	return 0;
}

int
fetch_cache_top(struct mailbox *mb, uint32_t seq, unsigned int need,
		struct buf **block)
{
	uint8_t *val = xmalloc(STORE_CACHE_MAX);
	size_t len;
	int rc;

	*block = NULL;
	rc = mailbox_msg_cache_get(mb, STORE_CACHE_STRUCT, seq, val,
				   STORE_CACHE_MAX, &len);
	if (rc == 0 && fetch_cache_decode_top(val, len, need, block) != 0)
		rc = 1;
	free(val);
	return rc;
}

/* The ENVELOPE fields of a header block, raw, each ending in CRLF:
 * every occurrence, in order (fetch_envelope_write takes the first;
 * SEARCH HEADER looks at all, and iterating this block gives it the same
 * fields as iterating the header). */
static struct buf *
envelope_block(const uint8_t *hdr, size_t len)
{
	struct buf *b = buf_new(STORE_CACHE_MAX);
	struct mail_header_iter it;
	struct mail_header_field f;

	mail_header_iter_init(&it, hdr, len);
	while (mail_header_next(&it, &f)) {
		for (size_t i = 0; i < N_ENV_NAMES; i++) {
			if (!mail_header_name_is(&f, env_names[i]))
				continue;
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

/* The envelope block of part idx from its header hdr[0..len); false if
 * it is too big for the cache: the whole header is the block then, and
 * the envelope is read from the file whenever it is asked for. */
static bool
add_block(struct fetch_meta *m, uint32_t idx, const uint8_t *hdr, size_t len)
{
	struct buf *b = envelope_block(hdr, len);
	bool fits = b != NULL;

	if (!fits) {
		b = buf_new(FETCH_HEADER_MAX);
		(void)buf_append(b, hdr, len);
	}
	meta_add(m, idx, b);
	return fits;
}

void
fetch_meta_from_header(struct fetch_meta *m, const uint8_t *hdr, size_t len)
{
	memset(m, 0, sizeof(*m));
	(void)add_block(m, 0, hdr, len < FETCH_HEADER_MAX ? len :
			FETCH_HEADER_MAX);
}

/* The cache value of m, or NULL if it does not fit. */
static struct buf *
encode(const struct fetch_meta *m)
{
	struct buf *v = buf_new(STORE_CACHE_MAX);
	size_t at;

	if (buf_put_u8(v, FETCH_CACHE_VERSION) < 0 ||
	    buf_put_u8(v, (m->top_exact ? FLAG_TOP_EXACT : 0) |
		       (m->top_sort ? FLAG_TOP_SORT : 0)) < 0 ||
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

/* Whether hdr[0..len) ends with its first empty line. */
static bool
ends_at_empty_line(const uint8_t *hdr, size_t len)
{
	if (mail_header_block_len(hdr, len) != len || len == 0 ||
	    hdr[len - 1] != '\n')
		return false;
	return len == 1 || hdr[len - 2] == '\n' ||
	       (hdr[len - 2] == '\r' && (len == 2 || hdr[len - 3] == '\n'));
}

/* Whether the message's own header block, hlen bytes from its start,
 * has the fields a header scan sees that iterates the first
 * min(size, max) bytes up to the first empty line (SEARCH's with
 * MAIL_TEXTNORM_HEADER_MAX, SORT/THREAD's with
 * FETCH_CACHE_SORT_HEADER_MAX): the same bytes, or a prefix that ends
 * with that empty line. */
static bool
top_is_exact(const uint8_t *hdr, uint64_t hlen, uint64_t size, uint64_t max)
{
	uint64_t scan = size < max ? size : max;

	return hlen == scan ||
	       (hlen < scan && ends_at_empty_line(hdr, (size_t)hlen));
}

/* A message up to FETCH_CACHE_FILL_MAX is read once, whole, and parsed
 * from memory (tree, envelope fields, preview): one read instead of one
 * per header block and one for the preview. Larger ones go by ranges. */
#define FILL_WHOLE_MAX FETCH_CACHE_FILL_MAX

/* The fill from whole (size bytes) if not NULL, else by ranges of fd;
 * record: with the preview and the cache value. */
static int
fill(int fd, off_t off, const uint8_t *whole, uint64_t size, bool record,
     struct fetch_meta *m)
{
	bool cacheable = true;

	memset(m, 0, sizeof(*m));
	if (whole != NULL)
		m->tree = mail_mime_parse(whole, (size_t)size);
	else
		m->tree = mail_mime_parse_fd(fd, off, size);
	if (m->tree == NULL)
		goto fail;
	/* the message's header and every encapsulated one's */
	for (uint32_t i = 0; i < m->tree->n_parts; i++) {
		const struct mail_part *p = &m->tree->parts[i];
		uint64_t hlen = p->hdr_size < FETCH_HEADER_MAX ? p->hdr_size :
			FETCH_HEADER_MAX;
		const uint8_t *hdr;
		struct buf *h = NULL;

		if (i != 0 && (p->parent == MAIL_PART_NONE ||
			       (m->tree->parts[p->parent].flags &
				MAIL_PART_MESSAGE) == 0))
			continue;
		if (whole != NULL) {
			if (p->hdr_offset > size || hlen > size - p->hdr_offset) {
				errno = EIO;
				goto fail;
			}
			hdr = whole + p->hdr_offset;
		} else {
			h = fetch_read_range(fd, off + (off_t)p->hdr_offset,
					     hlen);
			if (h == NULL)
				goto fail;
			hdr = buf_data(h);
		}
		if (i == 0) {
			m->top_exact = top_is_exact(hdr, hlen, size,
						    MAIL_TEXTNORM_HEADER_MAX);
			m->top_sort = top_is_exact(hdr, hlen, size,
						   FETCH_CACHE_SORT_HEADER_MAX);
		}
		cacheable &= add_block(m, i, hdr, (size_t)hlen);
		buf_free(&h);
	}
	if (!record)
		return 0;
	m->preview = whole != NULL ? fetch_preview_mem(whole, size, m->tree) :
		fetch_preview(fd, off, m->tree);
	if (m->preview == NULL && errno != 0)
		goto fail;
	if (cacheable)
		m->value = encode(m);
	return 0;
fail:
	{
		int e = errno;

		fetch_meta_clear(m);
		errno = e;
	}
	return -1;
}

static int
fill_fd(int fd, off_t off, uint64_t size, bool record, struct fetch_meta *m)
{
	struct buf *whole;
	int r;

	if (size > FILL_WHOLE_MAX)
		return fill(fd, off, NULL, size, record, m);
	memset(m, 0, sizeof(*m));
	if ((whole = fetch_read_range(fd, off, size)) == NULL)
		return -1;
	r = fill(-1, 0, buf_data(whole), size, record, m);
	buf_free(&whole);
	return r;
}

int
fetch_cache_fill(int fd, off_t off, uint64_t size, struct fetch_meta *m)
{
	return fill_fd(fd, off, size, true, m);
}

int
fetch_cache_fill_from(int fd, off_t off, const uint8_t *msg, uint64_t size,
		      bool record, struct fetch_meta *m)
{
	return msg != NULL ? fill(-1, 0, msg, size, record, m) :
		fill_fd(fd, off, size, record, m);
}

void
fetch_cache_batch_flush(struct store *s, struct mailbox *mb,
			struct fetch_cache_batch *b, const char *who)
{
	if (b->n > 0 &&
	    mailbox_msg_cache_put_n(mb, b->kind, b->puts, b->n) < 0)
		log_warn("%s: caching: %s", who,
			 store_error(s)->detail);
	for (size_t i = 0; i < b->n; i++)
		buf_free(&b->vals[i]);
	b->n = 0;
}

void
fetch_cache_batch_queue(struct store *s, struct mailbox *mb,
			struct fetch_cache_batch *b, uint32_t seq,
			struct buf *val, const char *who)
{
	struct store_cache_put *p = &b->puts[b->n];

	p->seq = seq;
	p->data = buf_data(val);
	p->len = buf_len(val);
	b->vals[b->n++] = val;
	if (b->n == FETCH_CACHE_BATCH)
		fetch_cache_batch_flush(s, mb, b, who);
}

struct buf *
fetch_text_encode(const uint8_t *text, size_t len, bool utf8, uint64_t size)
{
	struct buf *v;

	/* what the reader would refuse is not kept (nor made each time) */
	if (len > STORE_CACHE_MAX - TEXT_HEAD ||
	    !imap_list_valid(text, len, utf8))
		return NULL;
	v = buf_new(len + TEXT_HEAD);
	(void)buf_put_u8(v, FETCH_TEXT_VERSION);
	(void)buf_put_u8(v, utf8 ? TEXT_MODE_UTF8 : 0);
	(void)buf_put_u64(v, size);
	(void)buf_append(v, text, len);
	return v;
}

int
fetch_text_decode(const uint8_t *val, size_t len, bool utf8,
		  const uint8_t **text, size_t *tlen, uint64_t *size)
{
	struct rd r;
	uint8_t ver, mode;

	*text = NULL;
	*tlen = 0;
	rd_init(&r, val, len);
	if (rd_get_u8(&r, &ver) < 0 || ver != FETCH_TEXT_VERSION ||
	    rd_get_u8(&r, &mode) < 0 || (mode & ~TEXT_MODE_UTF8) != 0 ||
	    rd_get_u64(&r, size) < 0 ||
	    !imap_list_valid(val + TEXT_HEAD, len - TEXT_HEAD,
			     (mode & TEXT_MODE_UTF8) != 0))
		return -1;
	if (((mode & TEXT_MODE_UTF8) != 0) != utf8)
		return 1;
	*text = val + TEXT_HEAD;
	*tlen = len - TEXT_HEAD;
	return 0;
}

int
fetch_text_load(struct mailbox *mb, enum store_cache_kind kind, uint32_t seq,
		bool utf8, uint8_t *val, struct buf *out, uint64_t *size)
{
	const uint8_t *text;
	size_t len, tlen;
	int rc;

	if (mailbox_msg_cache_get(mb, kind, seq, val, STORE_CACHE_MAX,
				  &len) != 0)
		return 1;
	rc = fetch_text_decode(val, len, utf8, &text, &tlen, size);
	if (rc < 0)
		log_warn("FETCH: ignoring a malformed cache record of "
			 "message %u", seq);
	if (rc != 0 || buf_append(out, text, tlen) < 0)
		return 1;
	return 0;
}
