/*
 * ipc: framing, validation and typed access for messages between Moat's
 * processes (frame format in ipc.h, message list in ipc-proto.h).
 *
 * Callers: every process (moatd, auth, imap-login, imap) sends with
 * ipc_out/ipc_send and receives with ipc_recv plus the typed getters.
 * Trust: every received byte comes from another process that may be
 * compromised (a login process handles raw client traffic), so nothing
 * in a frame is believed until ipc_decode has checked the header and
 * walked every field; the getters check bounds again on each read.
 * Outgoing messages may carry passwords (AUTH_REQ, WORKER_REQ): the
 * builder's storage is wiped when it is freed.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/fdpass.h"
#include "core/ipc.h"

/* Header offsets (all fields big endian). */
#define HDR_OFF_TYPE 0
#define HDR_OFF_NFIELDS 2
#define HDR_OFF_ID 4
#define HDR_OFF_PLEN 8

/* Bytes of framing in front of a field's value: the kind byte, plus the
 * u32 length for STR and BYTES. */
#define FIELD_HDR_FIXED 1
#define FIELD_HDR_VAR 5

static void
put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint16_t
get_be16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* ---- building ---- */

void
ipc_out_init(struct ipc_out *o, uint16_t type, uint32_t id)
{
	uint8_t hdr[IPC_HDR_LEN];

	o->b = buf_new(IPC_MSG_MAX);
	o->nfields = 0;
	o->err = false;
	/* nfields and payload_len are patched in by ipc_send. */
	memset(hdr, 0, sizeof(hdr));
	put_be16(hdr + HDR_OFF_TYPE, type);
	put_be32(hdr + HDR_OFF_ID, id);
	if (buf_append(o->b, hdr, sizeof(hdr)) < 0)
		o->err = true;
}

void
ipc_out_free(struct ipc_out *o)
{
	if (o == NULL)
		return;
	buf_free_wipe(&o->b);
	o->nfields = 0;
	o->err = false;
}

/*
 * Reserve room for one whole field of need bytes, so that a field is
 * either written completely or not at all, and count it. false (and the
 * sticky error) when it would pass IPC_MSG_MAX or nfields would wrap.
 */
static bool
out_room(struct ipc_out *o, size_t need)
{
	if (o->err || o->b == NULL)
		return false;
	if (need > buf_avail(o->b) || o->nfields == UINT16_MAX) {
		o->err = true;
		return false;
	}
	o->nfields++;
	return true;
}

void
ipc_put_u32(struct ipc_out *o, uint32_t v)
{
	if (!out_room(o, FIELD_HDR_FIXED + 4))
		return;
	(void)buf_put_u8(o->b, IPC_F_U32);
	(void)buf_put_u32(o->b, v);
}

void
ipc_put_u64(struct ipc_out *o, uint64_t v)
{
	if (!out_room(o, FIELD_HDR_FIXED + 8))
		return;
	(void)buf_put_u8(o->b, IPC_F_U64);
	(void)buf_put_u64(o->b, v);
}

static void
put_var(struct ipc_out *o, uint8_t kind, const void *p, size_t len)
{
	if (len > IPC_MSG_MAX) {
		/* Also keeps len + FIELD_HDR_VAR and the u32 cast exact. */
		o->err = true;
		return;
	}
	if (!out_room(o, FIELD_HDR_VAR + len))
		return;
	(void)buf_put_u8(o->b, kind);
	(void)buf_put_u32(o->b, (uint32_t)len);
	(void)buf_append(o->b, p, len);
}

void
ipc_put_str(struct ipc_out *o, const char *s)
{
	if (s == NULL) {
		/* A missing string is a caller bug; refuse rather than send
		 * something the receiver would read as "". */
		o->err = true;
		return;
	}
	put_var(o, IPC_F_STR, s, strlen(s));
}

void
ipc_put_bytes(struct ipc_out *o, const void *p, size_t len)
{
	if (p == NULL && len > 0) {
		o->err = true;
		return;
	}
	put_var(o, IPC_F_BYTES, p, len);
}

int
ipc_send(int sock, struct ipc_out *o, int passfd)
{
	uint8_t *hdr;
	size_t len;
	ssize_t n;

	if (o->err || o->b == NULL) {
		errno = EMSGSIZE;
		return -1;
	}
	len = buf_len(o->b);
	hdr = buf_data_mut(o->b);
	put_be16(hdr + HDR_OFF_NFIELDS, o->nfields);
	put_be32(hdr + HDR_OFF_PLEN, (uint32_t)(len - IPC_HDR_LEN));
	n = fdpass_send(sock, hdr, len, passfd);
	if (n < 0)
		return -1;
	if ((size_t)n != len) {
		/* Cannot happen on SOCK_SEQPACKET; never let a short record
		 * pass as success. */
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

/* ---- receiving and validation ---- */

/*
 * Walk the payload field by field: every kind known, every length inside
 * the payload, no NUL inside a string. Returns the number of fields, or
 * -1. At most IPC_MSG_MAX / 5 fields fit, so the count fits in a long.
 */
static long
count_fields(const uint8_t *p, size_t len)
{
	size_t off = 0, vlen;
	long n = 0;
	uint8_t kind;

	while (off < len) {
		kind = p[off++];
		switch (kind) {
		case IPC_F_U32:
			vlen = 4;
			break;
		case IPC_F_U64:
			vlen = 8;
			break;
		case IPC_F_STR:
		case IPC_F_BYTES:
			if (len - off < 4)
				return -1;
			vlen = get_be32(p + off);
			off += 4;
			if (kind == IPC_F_STR && vlen <= len - off &&
			    memchr(p + off, '\0', vlen) != NULL)
				return -1;
			break;
		default:
			return -1;
		}
		if (vlen > len - off)
			return -1;
		off += vlen;
		n++;
	}
	return n;
}

int
ipc_decode(const uint8_t *frame, size_t len, int fd, struct ipc_msg *msg)
{
	uint16_t type, nfields;
	uint32_t plen;
	long n;

	memset(msg, 0, sizeof(*msg));
	msg->fd = fd;
	if (frame == NULL || len < IPC_HDR_LEN || len > IPC_MSG_MAX)
		return -1;
	type = get_be16(frame + HDR_OFF_TYPE);
	nfields = get_be16(frame + HDR_OFF_NFIELDS);
	plen = get_be32(frame + HDR_OFF_PLEN);
	if (type < 1 || type > IPC_TYPE_MAX)
		return -1;
	if (plen != len - IPC_HDR_LEN)
		return -1;
	n = count_fields(frame + IPC_HDR_LEN, plen);
	if (n < 0 || n != nfields)
		return -1;
	msg->type = type;
	msg->nfields = nfields;
	msg->id = get_be32(frame + HDR_OFF_ID);
	msg->payload = frame + IPC_HDR_LEN;
	msg->payload_len = plen;
	return 0;
}

enum ipc_recv_result
ipc_recv(int sock, uint8_t *buf, size_t size, struct ipc_msg *msg)
{
	bool truncated = false;
	int fd = -1;
	ssize_t n;

	memset(msg, 0, sizeof(*msg));
	msg->fd = -1;
	n = fdpass_recv(sock, buf, size, &fd, &truncated);
	if (n < 0) {
		if (fd >= 0)
			close(fd);
		/* EINTR: the loop is level-triggered, so the message is
		 * picked up on the next round. */
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return IPC_RECV_AGAIN;
		return IPC_RECV_ERROR;
	}
	if (truncated) {
		if (fd >= 0)
			close(fd);
		return IPC_RECV_MALFORMED;
	}
	if (n == 0) {
		/* SOCK_SEQPACKET reports EOF as a zero-length read; a real
		 * empty record would be malformed anyway, so either way the
		 * peer is finished. */
		if (fd >= 0)
			close(fd);
		return IPC_RECV_EOF;
	}
	if (ipc_decode(buf, (size_t)n, fd, msg) < 0) {
		if (fd >= 0)
			close(fd);
		msg->fd = -1;
		return IPC_RECV_MALFORMED;
	}
	return IPC_RECV_OK;
}

/* ---- typed reading ---- */

void
ipc_rd_init(struct ipc_rd *r, const struct ipc_msg *msg)
{
	rd_init(&r->r, msg->payload, msg->payload_len);
	r->fields_left = msg->nfields;
	r->err = false;
}

/* Consume the kind byte of the next field, which must be want. */
static int
rd_kind(struct ipc_rd *r, uint8_t want)
{
	uint8_t kind;

	if (r->err)
		return -1;
	if (r->fields_left == 0 || rd_get_u8(&r->r, &kind) < 0 ||
	    kind != want) {
		r->err = true;
		return -1;
	}
	r->fields_left--;
	return 0;
}

/* Borrow the value of a STR or BYTES field. */
static int
rd_var(struct ipc_rd *r, uint8_t kind, const uint8_t **p, size_t *len)
{
	uint32_t l;

	if (rd_kind(r, kind) < 0)
		return -1;
	if (rd_get_u32(&r->r, &l) < 0 || rd_get_bytes(&r->r, p, l) < 0) {
		r->err = true;
		return -1;
	}
	*len = l;
	return 0;
}

int
ipc_get_u32(struct ipc_rd *r, uint32_t *v)
{
	if (rd_kind(r, IPC_F_U32) < 0)
		return -1;
	if (rd_get_u32(&r->r, v) < 0) {
		r->err = true;
		return -1;
	}
	return 0;
}

int
ipc_get_u64(struct ipc_rd *r, uint64_t *v)
{
	if (rd_kind(r, IPC_F_U64) < 0)
		return -1;
	if (rd_get_u64(&r->r, v) < 0) {
		r->err = true;
		return -1;
	}
	return 0;
}

int
ipc_get_str(struct ipc_rd *r, char *dst, size_t dstsize)
{
	const uint8_t *p;
	size_t len;

	if (dstsize > 0)
		dst[0] = '\0';
	if (rd_var(r, IPC_F_STR, &p, &len) < 0)
		return -1;
	/* The NUL check repeats ipc_decode's so that a reader over any
	 * payload can never hand out a string that is silently cut. */
	if (dstsize == 0 || len > dstsize - 1 ||
	    memchr(p, '\0', len) != NULL) {
		r->err = true;
		return -1;
	}
	memcpy(dst, p, len);
	dst[len] = '\0';
	return 0;
}

int
ipc_get_bytes(struct ipc_rd *r, const uint8_t **p, size_t *len,
	      size_t maxlen)
{
	const uint8_t *vp;
	size_t vlen;

	if (rd_var(r, IPC_F_BYTES, &vp, &vlen) < 0)
		return -1;
	if (vlen > maxlen) {
		r->err = true;
		return -1;
	}
	*p = vp;
	*len = vlen;
	return 0;
}

int
ipc_get_fixed(struct ipc_rd *r, void *dst, size_t len)
{
	const uint8_t *vp;
	size_t vlen;

	if (rd_var(r, IPC_F_BYTES, &vp, &vlen) < 0)
		return -1;
	if (vlen != len) {
		r->err = true;
		return -1;
	}
	if (len > 0)
		memcpy(dst, vp, len);
	return 0;
}

int
ipc_rd_end(struct ipc_rd *r)
{
	if (r->err || r->fields_left != 0 || !rd_empty(&r->r))
		return -1;
	return 0;
}
