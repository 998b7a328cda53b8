/*
 * mail_tree_serialize / mail_tree_deserialize: the MIME tree in a compact
 * form for the index's cache database (see mime.h). The decoder trusts
 * nothing: the cache is on disk, may be stale, truncated or written by
 * another version, so every length is exact, every offset lies inside
 * the message and inside its parent, and the links are rebuilt from the
 * parent indices rather than read.
 *
 * Format (big endian): u8 version, u32 n_parts, u64 size, then per part:
 * u32 parent, u32 flags, u8 cte, u64 hdr_offset, hdr_size, body_size,
 * body_lines, strings type, subtype, cte_name, id, description, md5,
 * location, u16 n_params + params, u8 has_disposition [+ string type,
 * u16 n + params], u16 n_language + strings. A string is u32 length
 * (0xffffffff for NULL) and its bytes (no NUL); a param is two strings
 * and a u8 extended flag.
 */
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "mail/mime.h"

#define NULL_STR UINT32_MAX
#define KNOWN_FLAGS (MAIL_PART_MULTIPART | MAIL_PART_MESSAGE | \
		     MAIL_PART_OPAQUE | MAIL_PART_NO_HEADER_END | \
		     MAIL_PART_CTYPE_DEFAULT | MAIL_PART_CLOSED)

static int
put_str(struct buf *b, const char *s)
{
	size_t n;

	if (s == NULL)
		return buf_put_u32(b, NULL_STR);
	n = strlen(s);
	if (n >= NULL_STR)
		return -1;
	if (buf_put_u32(b, (uint32_t)n) < 0)
		return -1;
	return buf_append(b, s, n);
}

static int
put_params(struct buf *b, const struct mail_param *ps, size_t n)
{
	if (n > UINT16_MAX || buf_put_u16(b, (uint16_t)n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (put_str(b, ps[i].name) < 0 || put_str(b, ps[i].value) < 0 ||
		    buf_put_u8(b, ps[i].extended) < 0)
			return -1;
	return 0;
}

int
mail_tree_serialize(const struct mail_tree *t, struct buf *out)
{
	size_t start = buf_len(out);

	if (buf_put_u8(out, MAIL_TREE_VERSION) < 0 ||
	    buf_put_u32(out, (uint32_t)t->n_parts) < 0 ||
	    buf_put_u64(out, t->size) < 0)
		goto fail;
	for (size_t i = 0; i < t->n_parts; i++) {
		const struct mail_part *p = &t->parts[i];

		if (buf_put_u32(out, p->parent) < 0 ||
		    buf_put_u32(out, p->flags) < 0 ||
		    buf_put_u8(out, (uint8_t)p->cte) < 0 ||
		    buf_put_u64(out, p->hdr_offset) < 0 ||
		    buf_put_u64(out, p->hdr_size) < 0 ||
		    buf_put_u64(out, p->body_size) < 0 ||
		    buf_put_u64(out, p->body_lines) < 0 ||
		    put_str(out, p->ct.type) < 0 ||
		    put_str(out, p->ct.subtype) < 0 ||
		    put_str(out, p->cte_name) < 0 ||
		    put_str(out, p->id) < 0 ||
		    put_str(out, p->description) < 0 ||
		    put_str(out, p->md5) < 0 ||
		    put_str(out, p->location) < 0 ||
		    put_params(out, p->ct.params, p->ct.n_params) < 0 ||
		    buf_put_u8(out, p->has_disposition) < 0)
			goto fail;
		if (p->has_disposition &&
		    (put_str(out, p->disp.type) < 0 ||
		     put_params(out, p->disp.params, p->disp.n_params) < 0))
			goto fail;
		if (buf_put_u16(out, (uint16_t)p->n_language) < 0)
			goto fail;
		for (size_t k = 0; k < p->n_language; k++)
			if (put_str(out, p->language[k]) < 0)
				goto fail;
	}
	return 0;
fail:
	buf_truncate(out, start);
	return -1;
}

/* A string: *s is NULL or a pool copy; -1 on short input or a NUL. */
static int
get_str(struct rd *r, struct pool *pool, const char **s, bool nullable)
{
	uint32_t n;
	const uint8_t *p;

	if (rd_get_u32(r, &n) < 0)
		return -1;
	if (n == NULL_STR) {
		*s = NULL;
		return nullable ? 0 : -1;
	}
	if (rd_get_bytes(r, &p, n) < 0 || memchr(p, '\0', n) != NULL)
		return -1;
	*s = pool_strndup(pool, (const char *)p, n);
	return 0;
}

static int
get_params(struct rd *r, struct pool *pool, struct mail_param **ps,
	   size_t *n)
{
	uint16_t cnt;

	if (rd_get_u16(r, &cnt) < 0 || cnt > MAIL_PARAM_MAX)
		return -1;
	*ps = pool_alloc(pool, ((size_t)cnt + 1) * sizeof(**ps));
	*n = cnt;
	for (size_t i = 0; i < cnt; i++) {
		uint8_t ext;

		if (get_str(r, pool, &(*ps)[i].name, false) < 0 ||
		    get_str(r, pool, &(*ps)[i].value, false) < 0 ||
		    rd_get_u8(r, &ext) < 0 || ext > 1)
			return -1;
		(*ps)[i].extended = ext;
	}
	return 0;
}

static bool
range_ok(uint64_t off, uint64_t len, uint64_t lo, uint64_t hi)
{
	return off >= lo && off <= hi && len <= hi - off;
}

/* Checks part i against its parent and its previous sibling, and links
 * it in. */
static int
link_part(struct mail_tree *t, uint32_t i, uint32_t *last_child)
{
	struct mail_part *p = &t->parts[i], *par;
	uint64_t lo, hi;

	if (i == 0)
		return p->parent == MAIL_PART_NONE ? 0 : -1;
	if (p->parent >= i)
		return -1;
	par = &t->parts[p->parent];
	if ((par->flags & (MAIL_PART_MULTIPART | MAIL_PART_MESSAGE)) == 0 ||
	    ((par->flags & MAIL_PART_MESSAGE) != 0 && par->n_children > 0) ||
	    par->depth >= MAIL_MIME_MAX_DEPTH)
		return -1;
	p->depth = par->depth + 1;
	lo = par->body_offset;
	hi = par->body_offset + par->body_size;
	if (last_child[p->parent] != MAIL_PART_NONE) {
		const struct mail_part *prev = &t->parts[last_child[p->parent]];

		lo = prev->body_offset + prev->body_size;
	}
	/* A part may end where its parent's body ends, plus the line end
	 * that belongs to the boundary after it: offsets stay inside. */
	if (!range_ok(p->hdr_offset, p->hdr_size + p->body_size, lo,
		      t->size) ||
	    p->hdr_offset + p->hdr_size + p->body_size > hi + 2)
		return -1;
	if (last_child[p->parent] == MAIL_PART_NONE)
		par->first_child = i;
	else
		t->parts[last_child[p->parent]].next = i;
	last_child[p->parent] = i;
	par->n_children++;
	return 0;
}

struct mail_tree *
mail_tree_deserialize(const void *data, size_t len, uint64_t msg_size)
{
	struct mail_tree *t;
	uint32_t *last_child = NULL;
	uint32_t n;
	uint8_t v;
	struct rd r;

	rd_init(&r, data, len);
	if (rd_get_u8(&r, &v) < 0 || v != MAIL_TREE_VERSION ||
	    rd_get_u32(&r, &n) < 0 || n == 0 || n > MAIL_MIME_MAX_PARTS)
		return NULL;
	t = xcalloc(1, sizeof(*t));
	t->pool = pool_new(4096);
	t->parts = xcalloc(n, sizeof(*t->parts));
	last_child = xcalloc(n, sizeof(*last_child));
	if (rd_get_u64(&r, &t->size) < 0 || t->size != msg_size)
		goto fail;
	for (uint32_t i = 0; i < n; i++) {
		struct mail_part *p = &t->parts[i];
		uint8_t cte, hasd;
		uint16_t nl;

		last_child[i] = MAIL_PART_NONE;
		p->first_child = p->next = MAIL_PART_NONE;
		if (rd_get_u32(&r, &p->parent) < 0 ||
		    rd_get_u32(&r, &p->flags) < 0 ||
		    (p->flags & ~(uint32_t)KNOWN_FLAGS) != 0 ||
		    rd_get_u8(&r, &cte) < 0 || cte > MAIL_CTE_UNKNOWN ||
		    rd_get_u64(&r, &p->hdr_offset) < 0 ||
		    rd_get_u64(&r, &p->hdr_size) < 0 ||
		    rd_get_u64(&r, &p->body_size) < 0 ||
		    rd_get_u64(&r, &p->body_lines) < 0 ||
		    p->body_lines > p->body_size ||
		    !range_ok(p->hdr_offset, p->hdr_size, 0, t->size) ||
		    !range_ok(p->hdr_offset + p->hdr_size, p->body_size, 0,
			      t->size))
			goto fail;
		p->cte = (enum mail_cte)cte;
		p->body_offset = p->hdr_offset + p->hdr_size;
		if (get_str(&r, t->pool, &p->ct.type, false) < 0 ||
		    get_str(&r, t->pool, &p->ct.subtype, false) < 0 ||
		    get_str(&r, t->pool, &p->cte_name, true) < 0 ||
		    get_str(&r, t->pool, &p->id, true) < 0 ||
		    get_str(&r, t->pool, &p->description, true) < 0 ||
		    get_str(&r, t->pool, &p->md5, true) < 0 ||
		    get_str(&r, t->pool, &p->location, true) < 0 ||
		    get_params(&r, t->pool, &p->ct.params,
			       &p->ct.n_params) < 0 ||
		    rd_get_u8(&r, &hasd) < 0 || hasd > 1)
			goto fail;
		p->has_disposition = hasd;
		if (hasd && (get_str(&r, t->pool, &p->disp.type, false) < 0 ||
			     get_params(&r, t->pool, &p->disp.params,
					&p->disp.n_params) < 0))
			goto fail;
		if (rd_get_u16(&r, &nl) < 0 || nl > 16)
			goto fail;
		p->n_language = nl;
		p->language = pool_alloc(t->pool, ((size_t)nl + 1) *
					 sizeof(*p->language));
		for (size_t k = 0; k < nl; k++)
			if (get_str(&r, t->pool, &p->language[k], false) < 0)
				goto fail;
		if (link_part(t, i, last_child) < 0)
			goto fail;
		t->n_parts = i + 1;
	}
	if (!rd_empty(&r))
		goto fail;
	for (uint32_t i = 0; i < n; i++)
		if ((t->parts[i].flags & MAIL_PART_MESSAGE) != 0 &&
		    t->parts[i].n_children != 1)
			goto fail;
	free(last_child);
	return t;
fail:
	free(last_child);
	mail_tree_free(&t);
	return NULL;
}
