/*
 * index records: the versioned binary layouts of mailbox and message
 * values (documented in index.h and doc/design.md "Index layout").
 *
 * Trust: the index files are written by the same user's sessions, but a
 * damaged or hand-edited file must give IDX_CORRUPT, never a crash or a
 * read past the value: every decoder uses the bounded reader and insists
 * that the value is consumed exactly.
 */
#include <stddef.h>
#include <string.h>

#include "core/buf.h"
#include "index/private.h"

#define IDX_MBOX_LAYOUT 1u
#define IDX_MSG_LAYOUT 1u

void
idx_be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

uint32_t
idx_be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

void
idx_be64_put(uint8_t *p, uint64_t v)
{
	idx_be32_put(p, (uint32_t)(v >> 32));
	idx_be32_put(p + 4, (uint32_t)v);
}

uint64_t
idx_be64_get(const uint8_t *p)
{
	return (uint64_t)idx_be32_get(p) << 32 | idx_be32_get(p + 4);
}

void
idx_msg_key(uint8_t key[8], uint32_t id, uint32_t uid)
{
	idx_be32_put(key, id);
	idx_be32_put(key + 4, uid);
}

size_t
idx_mbox_encode(const struct idx_mbox *m, uint8_t *out, size_t cap)
{
	size_t len = IDX_MBOX_FIXED + (size_t)m->stamp_len;
	uint8_t *p = out;

	if (m->stamp_len > IDX_STAMP_MAX || cap < len)
		return 0;
	*p++ = IDX_MBOX_LAYOUT;
	*p++ = 0;
	idx_be32_put(p, m->id); p += 4;
	idx_be32_put(p, m->uidvalidity); p += 4;
	idx_be32_put(p, m->uidnext); p += 4;
	idx_be32_put(p, m->recent_uid); p += 4;
	idx_be64_put(p, m->highestmodseq); p += 8;
	idx_be32_put(p, m->messages); p += 4;
	idx_be32_put(p, m->unseen); p += 4;
	idx_be32_put(p, m->deleted); p += 4;
	idx_be64_put(p, m->size); p += 8;
	*p++ = (uint8_t)(m->stamp_len >> 8);
	*p++ = (uint8_t)m->stamp_len;
	memcpy(p, m->stamp, m->stamp_len);
	return len;
}

int
idx_mbox_decode(const void *data, size_t len, struct idx_mbox *m)
{
	struct rd r;
	uint8_t version, pad;
	const uint8_t *stamp;

	memset(m, 0, sizeof(*m));
	rd_init(&r, data, len);
	if (rd_get_u8(&r, &version) < 0 || version != IDX_MBOX_LAYOUT ||
	    rd_get_u8(&r, &pad) < 0 || pad != 0 ||
	    rd_get_u32(&r, &m->id) < 0 ||
	    rd_get_u32(&r, &m->uidvalidity) < 0 ||
	    rd_get_u32(&r, &m->uidnext) < 0 ||
	    rd_get_u32(&r, &m->recent_uid) < 0 ||
	    rd_get_u64(&r, &m->highestmodseq) < 0 ||
	    rd_get_u32(&r, &m->messages) < 0 ||
	    rd_get_u32(&r, &m->unseen) < 0 ||
	    rd_get_u32(&r, &m->deleted) < 0 ||
	    rd_get_u64(&r, &m->size) < 0 ||
	    rd_get_u16(&r, &m->stamp_len) < 0 ||
	    m->stamp_len > IDX_STAMP_MAX ||
	    rd_get_bytes(&r, &stamp, m->stamp_len) < 0 || !rd_empty(&r))
		goto bad;
	if (m->id == 0 || m->uidvalidity == 0 || m->uidnext == 0 ||
	    m->unseen > m->messages || m->deleted > m->messages)
		goto bad;
	memcpy(m->stamp, stamp, m->stamp_len);
	return IDX_OK;
bad:
	memset(m, 0, sizeof(*m));
	return IDX_CORRUPT;
}

size_t
idx_msg_encode(const struct idx_msg *m, uint8_t *out, size_t cap)
{
	size_t len = IDX_MSG_FIXED + (size_t)m->blob_len;
	uint8_t *p = out;

	if (m->blob_len > IDX_BLOB_MAX || (m->flags & ~IDX_F_ALL) != 0 ||
	    cap < len)
		return 0;
	*p++ = IDX_MSG_LAYOUT;
	*p++ = m->flags;
	idx_be64_put(p, m->modseq); p += 8;
	idx_be64_put(p, m->keywords); p += 8;
	idx_be64_put(p, (uint64_t)m->internaldate); p += 8;
	idx_be64_put(p, (uint64_t)m->savedate); p += 8;
	idx_be64_put(p, m->size); p += 8;
	*p++ = (uint8_t)(m->blob_len >> 8);
	*p++ = (uint8_t)m->blob_len;
	memcpy(p, m->blob, m->blob_len);
	return len;
}

int
idx_msg_decode(const void *data, size_t len, struct idx_msg *m)
{
	struct rd r;
	uint8_t version;
	uint64_t idate, sdate;
	const uint8_t *blob;

	/* Only the fixed part is cleared: callers walking 100k records
	 * should not pay for zeroing 255 blob bytes each. */
	memset(m, 0, offsetof(struct idx_msg, blob));
	rd_init(&r, data, len);
	if (rd_get_u8(&r, &version) < 0 || version != IDX_MSG_LAYOUT ||
	    rd_get_u8(&r, &m->flags) < 0 || (m->flags & ~IDX_F_ALL) != 0 ||
	    rd_get_u64(&r, &m->modseq) < 0 ||
	    rd_get_u64(&r, &m->keywords) < 0 ||
	    rd_get_u64(&r, &idate) < 0 ||
	    rd_get_u64(&r, &sdate) < 0 ||
	    rd_get_u64(&r, &m->size) < 0 ||
	    rd_get_u16(&r, &m->blob_len) < 0 ||
	    m->blob_len > IDX_BLOB_MAX ||
	    rd_get_bytes(&r, &blob, m->blob_len) < 0 || !rd_empty(&r)) {
		memset(m, 0, offsetof(struct idx_msg, blob));
		return IDX_CORRUPT;
	}
	m->internaldate = (int64_t)idate;
	m->savedate = (int64_t)sdate;
	memcpy(m->blob, blob, m->blob_len);
	return IDX_OK;
}
