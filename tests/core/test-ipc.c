/*
 * Tests for lib/core/ipc.c: round trips over a real SOCK_SEQPACKET pair
 * (with and without a passed descriptor), hostile frames into
 * ipc_decode, the typed getters' failure modes, the size cap, and
 * receive-side truncation.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/ipc.h"

static uint8_t rxbuf[IPC_MSG_MAX];

static void
pair(int sv[2])
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv),
		     0, "socketpair: %s", strerror(errno));
}

/* Send raw bytes (and optionally a descriptor) without ipc.c, so hostile
 * frames reach the receiver exactly as written. */
static void
raw_send(int sock, const void *data, size_t len, int fd)
{
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} cm;
	struct msghdr mh;
	struct cmsghdr *c;

	memset(&mh, 0, sizeof(mh));
	memset(&cm, 0, sizeof(cm));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fd >= 0) {
		mh.msg_control = cm.space;
		mh.msg_controllen = sizeof(cm.space);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	cr_assert_eq(sendmsg(sock, &mh, 0), (ssize_t)len, "sendmsg: %s",
		     strerror(errno));
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
hdr(uint8_t *p, uint16_t type, uint16_t nf, uint32_t id, uint32_t plen)
{
	put16(p, type);
	put16(p + 2, nf);
	put32(p + 4, id);
	put32(p + 8, plen);
}

/* ---- round trips ---- */

static const uint8_t cookie[IPC_COOKIE_LEN] = {
	0x00, 0x01, 0xff, 0x80, 0x7f, 0x00, 0x00, 0x10,
	0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90,
	0xa0, 0xb0, 0xc0, 0xd0, 0xe0, 0xf0, 0x00, 0x00,
	0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04,
};

static void
build_all_kinds(struct ipc_out *o)
{
	static const uint8_t bin[] = { 0, 1, 0, 0xff, '\n', 0 };

	ipc_out_init(o, IPC_AUTH_RESULT, 0xdeadbeef);
	ipc_put_u32(o, 0);
	ipc_put_u32(o, UINT32_MAX);
	ipc_put_u64(o, 0);
	ipc_put_u64(o, UINT64_MAX);
	ipc_put_u64(o, 0x0102030405060708ull);
	ipc_put_str(o, "");
	ipc_put_str(o, "user@example.org");
	ipc_put_bytes(o, NULL, 0);
	ipc_put_bytes(o, bin, sizeof(bin));
	ipc_put_bytes(o, cookie, sizeof(cookie));
}

static void
check_all_kinds(const struct ipc_msg *m)
{
	struct ipc_rd r;
	uint32_t u32;
	uint64_t u64;
	char s[64];
	const uint8_t *p;
	size_t len;
	uint8_t ck[IPC_COOKIE_LEN];

	cr_assert_eq(m->type, IPC_AUTH_RESULT, "type: got %u, want %u",
		     m->type, IPC_AUTH_RESULT);
	cr_assert_eq(m->id, 0xdeadbeefu, "id: got %#x, want 0xdeadbeef", m->id);
	cr_assert_eq(m->nfields, 10, "nfields: got %u, want 10", m->nfields);
	ipc_rd_init(&r, m);
	cr_assert_eq(ipc_get_u32(&r, &u32), 0);
	cr_assert_eq(u32, 0u, "u32: got %u, want 0", u32);
	cr_assert_eq(ipc_get_u32(&r, &u32), 0);
	cr_assert_eq(u32, UINT32_MAX, "u32: got %u, want max", u32);
	cr_assert_eq(ipc_get_u64(&r, &u64), 0);
	cr_assert_eq(u64, 0u);
	cr_assert_eq(ipc_get_u64(&r, &u64), 0);
	cr_assert_eq(u64, UINT64_MAX);
	cr_assert_eq(ipc_get_u64(&r, &u64), 0);
	cr_assert_eq(u64, 0x0102030405060708ull, "u64: got %#llx",
		     (unsigned long long)u64);
	cr_assert_eq(ipc_get_str(&r, s, sizeof(s)), 0);
	cr_assert_str_eq(s, "");
	cr_assert_eq(ipc_get_str(&r, s, sizeof(s)), 0);
	cr_assert_str_eq(s, "user@example.org", "str: got '%s'", s);
	cr_assert_eq(ipc_get_bytes(&r, &p, &len, 100), 0);
	cr_assert_eq(len, 0u, "empty bytes: got len %zu, want 0", len);
	cr_assert_eq(ipc_get_bytes(&r, &p, &len, 6), 0);
	cr_assert_eq(len, 6u, "bytes: got len %zu, want 6", len);
	cr_assert_eq(memcmp(p, "\0\1\0\xff\n\0", 6), 0);
	cr_assert_eq(ipc_get_fixed(&r, ck, sizeof(ck)), 0);
	cr_assert_eq(memcmp(ck, cookie, sizeof(ck)), 0, "cookie differs");
	cr_assert_eq(ipc_rd_end(&r), 0, "rd_end after all fields");
}

Test(ipc, roundtrip_all_kinds)
{
	struct ipc_out o;
	struct ipc_msg m;
	int sv[2];

	pair(sv);
	build_all_kinds(&o);
	cr_assert(!o.err);
	cr_assert_eq(ipc_send(sv[0], &o, -1), 0, "send: %s", strerror(errno));
	ipc_out_free(&o);
	cr_assert_eq(o.b, NULL, "ipc_out_free leaves the buffer");
	cr_assert_eq(ipc_recv(sv[1], rxbuf, sizeof(rxbuf), &m), IPC_RECV_OK);
	cr_assert_eq(m.fd, -1, "fd: got %d, want -1", m.fd);
	check_all_kinds(&m);
	close(sv[0]);
	close(sv[1]);
}

Test(ipc, roundtrip_with_fd)
{
	struct ipc_out o;
	struct ipc_msg m;
	int sv[2], pfd[2];
	char c = 0;

	pair(sv);
	cr_assert_eq(pipe(pfd), 0);
	build_all_kinds(&o);
	cr_assert_eq(ipc_send(sv[0], &o, pfd[0]), 0, "send: %s",
		     strerror(errno));
	ipc_out_free(&o);
	close(pfd[0]);
	cr_assert_eq(ipc_recv(sv[1], rxbuf, sizeof(rxbuf), &m), IPC_RECV_OK);
	check_all_kinds(&m);
	cr_assert_geq(m.fd, 0, "no fd received");
	/* The received descriptor is the same pipe. */
	cr_assert_eq(write(pfd[1], "x", 1), 1);
	cr_assert_eq(read(m.fd, &c, 1), 1);
	cr_assert_eq(c, 'x');
	cr_assert_eq(fcntl(m.fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC,
		     "received fd is not close-on-exec");
	close(m.fd);
	close(pfd[1]);
	close(sv[0]);
	close(sv[1]);
}

/* Every message of ipc-proto.h, built and decoded by its schema. */
Test(ipc, roundtrip_session_init_schema)
{
	struct ipc_out o;
	struct ipc_msg m;
	struct ipc_rd r;
	int sv[2];
	char user[IPC_USER_MAX + 1], home[IPC_PATH_MAX + 1];
	char mail[IPC_PATH_MAX + 1], tag[IPC_TAG_MAX + 1], rip[IPC_IP_MAX];
	char lip[IPC_IP_MAX];
	const uint8_t *pl;
	size_t pllen;
	uint32_t flags, rport, lport;
	static const char pipelined[] = "a2 SELECT INBOX\r\na3 FETCH 1 BODY[]\r\n";

	pair(sv);
	ipc_out_init(&o, IPC_SESSION_INIT, 0);
	ipc_put_str(&o, "alice");
	ipc_put_str(&o, "/home/alice");
	ipc_put_str(&o, "maildir:~/Maildir");
	ipc_put_str(&o, "a1");
	ipc_put_bytes(&o, pipelined, sizeof(pipelined) - 1);
	ipc_put_u32(&o, IPC_CONN_SECURED);
	ipc_put_str(&o, "127.0.0.1");
	ipc_put_u32(&o, 50000);
	ipc_put_str(&o, "::1");
	ipc_put_u32(&o, 143);
	cr_assert_eq(ipc_send(sv[0], &o, -1), 0);
	ipc_out_free(&o);
	cr_assert_eq(ipc_recv(sv[1], rxbuf, sizeof(rxbuf), &m), IPC_RECV_OK);
	cr_assert_eq(m.type, IPC_SESSION_INIT);
	ipc_rd_init(&r, &m);
	cr_assert_eq(ipc_get_str(&r, user, sizeof(user)), 0);
	cr_assert_eq(ipc_get_str(&r, home, sizeof(home)), 0);
	cr_assert_eq(ipc_get_str(&r, mail, sizeof(mail)), 0);
	cr_assert_eq(ipc_get_str(&r, tag, sizeof(tag)), 0);
	cr_assert_eq(ipc_get_bytes(&r, &pl, &pllen, IPC_PIPELINED_MAX), 0);
	cr_assert_eq(ipc_get_u32(&r, &flags), 0);
	cr_assert_eq(ipc_get_str(&r, rip, sizeof(rip)), 0);
	cr_assert_eq(ipc_get_u32(&r, &rport), 0);
	cr_assert_eq(ipc_get_str(&r, lip, sizeof(lip)), 0);
	cr_assert_eq(ipc_get_u32(&r, &lport), 0);
	cr_assert_eq(ipc_rd_end(&r), 0);
	cr_assert_str_eq(user, "alice");
	cr_assert_str_eq(home, "/home/alice");
	cr_assert_str_eq(mail, "maildir:~/Maildir");
	cr_assert_str_eq(tag, "a1");
	cr_assert_eq(pllen, sizeof(pipelined) - 1);
	cr_assert_eq(memcmp(pl, pipelined, pllen), 0);
	cr_assert_eq(flags, IPC_CONN_SECURED);
	cr_assert_str_eq(rip, "127.0.0.1");
	cr_assert_eq(rport, 50000u);
	cr_assert_str_eq(lip, "::1");
	cr_assert_eq(lport, 143u);
	close(sv[0]);
	close(sv[1]);
}

/* A message with no fields (CONN_DONE, SHUTDOWN) for every valid type. */
Test(ipc, roundtrip_every_type_empty)
{
	struct ipc_out o;
	struct ipc_msg m;
	struct ipc_rd r;
	int sv[2];
	uint16_t t;

	pair(sv);
	for (t = 1; t <= IPC_TYPE_MAX; t++) {
		ipc_out_init(&o, t, 1000u + t);
		cr_assert_eq(ipc_send(sv[0], &o, -1), 0);
		ipc_out_free(&o);
		cr_assert_eq(ipc_recv(sv[1], rxbuf, sizeof(rxbuf), &m),
			     IPC_RECV_OK, "type %u refused", t);
		cr_assert_eq(m.type, t, "type: got %u, want %u", m.type, t);
		cr_assert_eq(m.id, 1000u + t);
		cr_assert_eq(m.nfields, 0);
		cr_assert_eq(m.payload_len, 0u);
		ipc_rd_init(&r, &m);
		cr_assert_eq(ipc_rd_end(&r), 0);
	}
	close(sv[0]);
	close(sv[1]);
}

/* The wire format documented in ipc.h, byte for byte. */
Test(ipc, wire_format)
{
	struct ipc_out o;
	int sv[2];
	ssize_t n;
	static const uint8_t want[] = {
		0x00, 0x03, 0x00, 0x04, 0x01, 0x02, 0x03, 0x04,
		0x00, 0x00, 0x00, 0x1b,
		IPC_F_U32, 0x0a, 0x0b, 0x0c, 0x0d,
		IPC_F_U64, 0, 0, 0, 0, 0, 0, 0x01, 0x00,
		IPC_F_STR, 0, 0, 0, 2, 'h', 'i',
		IPC_F_BYTES, 0, 0, 0, 1, 0x00,
	};

	pair(sv);
	ipc_out_init(&o, IPC_AUTH_REQ, 0x01020304);
	ipc_put_u32(&o, 0x0a0b0c0d);
	ipc_put_u64(&o, 256);
	ipc_put_str(&o, "hi");
	ipc_put_bytes(&o, "", 1);
	cr_assert_eq(ipc_send(sv[0], &o, -1), 0);
	ipc_out_free(&o);
	n = recv(sv[1], rxbuf, sizeof(rxbuf), 0);
	cr_assert_eq(n, (ssize_t)sizeof(want), "length: got %zd, want %zu", n,
		     sizeof(want));
	cr_assert_eq(memcmp(rxbuf, want, sizeof(want)), 0, "bytes differ");
	close(sv[0]);
	close(sv[1]);
}

/* ---- size cap ---- */

Test(ipc, largest_message_fits)
{
	struct ipc_out o;
	struct ipc_msg m;
	struct ipc_rd r;
	int sv[2];
	size_t n = IPC_MSG_MAX - IPC_HDR_LEN - 5;
	uint8_t *big = malloc(n);
	const uint8_t *p;
	size_t len;

	cr_assert_not_null(big);
	memset(big, 'A', n);
	pair(sv);
	ipc_out_init(&o, IPC_SESSION_REQ, 1);
	ipc_put_bytes(&o, big, n);
	cr_assert(!o.err, "a frame of exactly IPC_MSG_MAX refused");
	cr_assert_eq(ipc_send(sv[0], &o, -1), 0, "send: %s", strerror(errno));
	ipc_out_free(&o);
	cr_assert_eq(ipc_recv(sv[1], rxbuf, sizeof(rxbuf), &m), IPC_RECV_OK);
	ipc_rd_init(&r, &m);
	cr_assert_eq(ipc_get_bytes(&r, &p, &len, n), 0);
	cr_assert_eq(len, n);
	cr_assert_eq(ipc_rd_end(&r), 0);
	free(big);
	close(sv[0]);
	close(sv[1]);
}

Test(ipc, oversize_refused_emsgsize)
{
	struct ipc_out o;
	int sv[2];
	size_t n = IPC_MSG_MAX - IPC_HDR_LEN - 5 + 1;
	uint8_t *big = calloc(1, n);
	uint8_t c;

	cr_assert_not_null(big);
	pair(sv);
	ipc_out_init(&o, IPC_SESSION_REQ, 1);
	ipc_put_u32(&o, 7);
	ipc_put_bytes(&o, big, n);
	cr_assert(o.err, "overflowing put did not set err");
	/* Sticky: a later small put does not clear it. */
	ipc_put_u32(&o, 1);
	cr_assert(o.err);
	errno = 0;
	cr_assert_eq(ipc_send(sv[0], &o, -1), -1);
	cr_assert_eq(errno, EMSGSIZE, "errno: got %d, want EMSGSIZE", errno);
	ipc_out_free(&o);
	/* Nothing was sent. */
	cr_assert_eq(recv(sv[1], &c, 1, MSG_DONTWAIT), -1);
	cr_assert_eq(errno, EAGAIN);
	free(big);
	close(sv[0]);
	close(sv[1]);
}

Test(ipc, many_small_fields_overflow)
{
	struct ipc_out o;
	int i;

	ipc_out_init(&o, IPC_CONN, 1);
	/* 5 bytes each: (65536 - 12) / 5 = 13104 fit, the next does not. */
	for (i = 0; i < 13104; i++)
		ipc_put_u32(&o, (uint32_t)i);
	cr_assert(!o.err, "13104 u32 fields should fit");
	ipc_put_u32(&o, 0);
	cr_assert(o.err, "field past IPC_MSG_MAX accepted");
	errno = 0;
	cr_assert_eq(ipc_send(-1, &o, -1), -1);
	cr_assert_eq(errno, EMSGSIZE);
	ipc_out_free(&o);
}

/* ---- receive side ---- */

/* True if the pipe's write end has been closed everywhere. */
static bool
pipe_writer_gone(int rfd)
{
	char c;
	int fl = fcntl(rfd, F_GETFL);

	fcntl(rfd, F_SETFL, fl | O_NONBLOCK);
	return read(rfd, &c, 1) == 0;
}

Test(ipc, truncated_receive_malformed)
{
	struct ipc_msg m;
	int sv[2], pfd[2];
	size_t n = IPC_MSG_MAX + 100;
	uint8_t *big = calloc(1, n);

	cr_assert_not_null(big);
	pair(sv);
	cr_assert_eq(pipe(pfd), 0);
	/* A plausible header: only the size gives it away. */
	hdr(big, IPC_CONN_DONE, 1, 1, (uint32_t)(n - IPC_HDR_LEN));
	big[IPC_HDR_LEN] = IPC_F_BYTES;
	put32(big + IPC_HDR_LEN + 1, (uint32_t)(n - IPC_HDR_LEN - 5));
	raw_send(sv[0], big, n, pfd[1]);
	close(pfd[1]);
	cr_assert_eq(ipc_recv(sv[1], rxbuf, sizeof(rxbuf), &m),
		     IPC_RECV_MALFORMED, "oversized record accepted");
	cr_assert_eq(m.fd, -1);
	cr_assert(pipe_writer_gone(pfd[0]), "passed fd was not closed");
	close(pfd[0]);
	free(big);
	close(sv[0]);
	close(sv[1]);
}

Test(ipc, malformed_closes_fd)
{
	struct ipc_msg m;
	uint8_t f[IPC_HDR_LEN];
	int sv[2], pfd[2];

	pair(sv);
	cr_assert_eq(pipe(pfd), 0);
	hdr(f, 0, 0, 1, 0);    /* type 0 */
	raw_send(sv[0], f, sizeof(f), pfd[1]);
	close(pfd[1]);
	cr_assert_eq(ipc_recv(sv[1], rxbuf, sizeof(rxbuf), &m),
		     IPC_RECV_MALFORMED);
	cr_assert_eq(m.fd, -1);
	cr_assert(pipe_writer_gone(pfd[0]), "passed fd was not closed");
	close(pfd[0]);
	close(sv[0]);
	close(sv[1]);
}

Test(ipc, recv_again_and_eof)
{
	struct ipc_msg m;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv),
		     0);
	cr_assert_eq(ipc_recv(sv[1], rxbuf, sizeof(rxbuf), &m), IPC_RECV_AGAIN);
	close(sv[0]);
	cr_assert_eq(ipc_recv(sv[1], rxbuf, sizeof(rxbuf), &m), IPC_RECV_EOF);
	close(sv[1]);
}

Test(ipc, recv_error_on_bad_socket)
{
	struct ipc_msg m;

	cr_assert_eq(ipc_recv(-1, rxbuf, sizeof(rxbuf), &m), IPC_RECV_ERROR);
}

/* ---- hostile frames into ipc_decode ---- */

struct hostile {
	const char *name;
	uint8_t f[48];
	size_t len;
};

#define H(t, nf, plen) (uint8_t)((t) >> 8), (uint8_t)(t), \
	(uint8_t)((nf) >> 8), (uint8_t)(nf), 0, 0, 0, 7, \
	(uint8_t)((plen) >> 24), (uint8_t)((plen) >> 16), \
	(uint8_t)((plen) >> 8), (uint8_t)(plen)

static const struct hostile hostile[] = {
	{ "type 0", { H(0, 0, 0) }, 12 },
	{ "type IPC_TYPE_MAX+1", { H(IPC_TYPE_MAX + 1, 0, 0) }, 12 },
	{ "type 0xffff", { H(0xffff, 0, 0) }, 12 },
	{ "payload_len too big", { H(1, 1, 6), IPC_F_U32, 0, 0, 0, 1 }, 17 },
	{ "payload_len too small", { H(1, 1, 4), IPC_F_U32, 0, 0, 0, 1 }, 17 },
	{ "payload_len huge", { H(1, 0, 0xffffffffu) }, 12 },
	{ "payload_len without payload", { H(1, 0, 5) }, 12 },
	{ "nfields too many", { H(1, 2, 5), IPC_F_U32, 0, 0, 0, 1 }, 17 },
	{ "nfields too few", { H(1, 0, 5), IPC_F_U32, 0, 0, 0, 1 }, 17 },
	{ "nfields on empty", { H(1, 1, 0) }, 12 },
	{ "nfields 0xffff", { H(1, 0xffff, 5), IPC_F_U32, 0, 0, 0, 1 }, 17 },
	{ "string with NUL", { H(1, 1, 8), IPC_F_STR, 0, 0, 0, 3,
			       'a', 0, 'b' }, 20 },
	{ "string only NUL", { H(1, 1, 6), IPC_F_STR, 0, 0, 0, 1, 0 }, 18 },
	{ "string len past end", { H(1, 1, 7), IPC_F_STR, 0, 0, 0, 3,
				   'a', 'b' }, 19 },
	{ "string len 2^32-1", { H(1, 1, 7), IPC_F_STR, 0xff, 0xff, 0xff,
				 0xff, 'a', 'b' }, 19 },
	{ "bytes len past end", { H(1, 1, 6), IPC_F_BYTES, 0, 0, 0, 2,
				  'a' }, 18 },
	{ "bytes len cut", { H(1, 1, 3), IPC_F_BYTES, 0, 0 }, 15 },
	{ "u32 cut", { H(1, 1, 4), IPC_F_U32, 0, 0, 0 }, 16 },
	{ "u64 cut", { H(1, 1, 8), IPC_F_U64, 0, 0, 0, 0, 0, 0, 0 }, 20 },
	{ "kind 0", { H(1, 1, 5), 0, 0, 0, 0, 1 }, 17 },
	{ "kind 5", { H(1, 1, 5), 5, 0, 0, 0, 1 }, 17 },
	{ "kind 0xff", { H(1, 1, 5), 0xff, 0, 0, 0, 1 }, 17 },
	{ "good then unknown kind", { H(1, 2, 6), IPC_F_U32, 0, 0, 0, 1,
				      9 }, 18 },
	{ "good then cut field", { H(1, 2, 7), IPC_F_U32, 0, 0, 0, 1,
				   IPC_F_U32, 0 }, 19 },
};

Test(ipc_decode, hostile_frames)
{
	struct ipc_msg m;
	size_t i;

	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		cr_expect_eq(ipc_decode(hostile[i].f, hostile[i].len, -1, &m),
			     -1, "row %zu (%s): got accepted, want -1", i,
			     hostile[i].name);
	}
}

/* Control rows: the same shapes, made valid, are accepted; so the
 * hostile table fails for the reason its name gives. */
static const struct hostile good[] = {
	{ "type 1", { H(1, 0, 0) }, 12 },
	{ "type IPC_TYPE_MAX", { H(IPC_TYPE_MAX, 0, 0) }, 12 },
	{ "one u32", { H(1, 1, 5), IPC_F_U32, 0, 0, 0, 1 }, 17 },
	{ "string", { H(1, 1, 8), IPC_F_STR, 0, 0, 0, 3, 'a', 'x', 'b' }, 20 },
	{ "empty string", { H(1, 1, 5), IPC_F_STR, 0, 0, 0, 0 }, 17 },
	{ "bytes with NUL", { H(1, 1, 7), IPC_F_BYTES, 0, 0, 0, 2, 0, 0 }, 19 },
	{ "u64", { H(1, 1, 9), IPC_F_U64, 0, 0, 0, 0, 0, 0, 0, 9 }, 21 },
	{ "two fields", { H(1, 2, 10), IPC_F_U32, 0, 0, 0, 1, IPC_F_U32,
			  0, 0, 0, 2 }, 22 },
};

Test(ipc_decode, control_frames)
{
	struct ipc_msg m;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		cr_expect_eq(ipc_decode(good[i].f, good[i].len, 5, &m), 0,
			     "row %zu (%s): got refused, want 0", i,
			     good[i].name);
		cr_expect_eq(m.fd, 5, "row %zu: fd not passed through", i);
		cr_expect_eq(m.id, 7u, "row %zu: id got %u, want 7", i, m.id);
	}
}

Test(ipc_decode, short_header)
{
	struct ipc_msg m;
	uint8_t f[IPC_HDR_LEN];
	size_t len;

	hdr(f, 1, 0, 0, 0);
	cr_assert_eq(ipc_decode(f, sizeof(f), -1, &m), 0);
	for (len = 0; len < IPC_HDR_LEN; len++)
		cr_expect_eq(ipc_decode(f, len, -1, &m), -1,
			     "header of %zu bytes accepted", len);
}

Test(ipc_decode, frame_over_max)
{
	struct ipc_msg m;
	size_t n = IPC_MSG_MAX + 1;
	uint8_t *f = calloc(1, n);

	cr_assert_not_null(f);
	hdr(f, 1, 1, 0, (uint32_t)(n - IPC_HDR_LEN));
	f[IPC_HDR_LEN] = IPC_F_BYTES;
	put32(f + IPC_HDR_LEN + 1, (uint32_t)(n - IPC_HDR_LEN - 5));
	cr_assert_eq(ipc_decode(f, n, -1, &m), -1, "frame over max accepted");
	/* One byte less is the largest legal frame. */
	hdr(f, 1, 1, 0, (uint32_t)(n - 1 - IPC_HDR_LEN));
	put32(f + IPC_HDR_LEN + 1, (uint32_t)(n - 1 - IPC_HDR_LEN - 5));
	cr_assert_eq(ipc_decode(f, n - 1, -1, &m), 0);
	free(f);
}

/* Every single-byte truncation of a valid multi-field frame fails. */
Test(ipc_decode, every_truncation)
{
	struct ipc_out o;
	struct ipc_msg m;
	uint8_t frame[IPC_MSG_MAX];
	size_t len, cut;

	build_all_kinds(&o);
	/* Let ipc_send patch the header, via a socket. */
	{
		int sv[2];

		pair(sv);
		cr_assert_eq(ipc_send(sv[0], &o, -1), 0);
		len = (size_t)recv(sv[1], frame, sizeof(frame), 0);
		close(sv[0]);
		close(sv[1]);
	}
	ipc_out_free(&o);
	cr_assert_eq(ipc_decode(frame, len, -1, &m), 0);
	check_all_kinds(&m);
	for (cut = 0; cut < len; cut++)
		cr_expect_eq(ipc_decode(frame, cut, -1, &m), -1,
			     "frame cut to %zu of %zu accepted", cut, len);
}

/* ---- getters ---- */

/* Build a message from raw payload without ipc_decode, to reach the
 * getters' own checks. */
static struct ipc_msg
rawmsg(const uint8_t *payload, size_t len, uint16_t nfields)
{
	struct ipc_msg m = { .type = 1, .nfields = nfields, .id = 0,
			     .payload = payload, .payload_len = len, .fd = -1 };

	return m;
}

Test(ipc_get, kind_mismatch_is_sticky)
{
	static const uint8_t pl[] = { IPC_F_U32, 0, 0, 0, 1,
				      IPC_F_U32, 0, 0, 0, 2 };
	struct ipc_msg m = rawmsg(pl, sizeof(pl), 2);
	struct ipc_rd r;
	uint64_t u64;
	uint32_t u32;
	char s[8];
	const uint8_t *p;
	size_t len;
	uint8_t fixed[4];

	ipc_rd_init(&r, &m);
	cr_assert_eq(ipc_get_u64(&r, &u64), -1, "u64 getter read a u32");
	cr_assert(r.err);
	cr_assert_eq(ipc_get_u32(&r, &u32), -1, "error not sticky");
	cr_assert_eq(ipc_rd_end(&r), -1);

	ipc_rd_init(&r, &m);
	cr_assert_eq(ipc_get_str(&r, s, sizeof(s)), -1, "str getter read a u32");
	ipc_rd_init(&r, &m);
	cr_assert_eq(ipc_get_bytes(&r, &p, &len, 100), -1);
	ipc_rd_init(&r, &m);
	cr_assert_eq(ipc_get_fixed(&r, fixed, sizeof(fixed)), -1);
	ipc_rd_init(&r, &m);
	cr_assert_eq(ipc_get_u32(&r, &u32), 0);
	cr_assert_eq(u32, 1u);
}

Test(ipc_get, bytes_is_not_str)
{
	static const uint8_t pl[] = { IPC_F_BYTES, 0, 0, 0, 1, 'a',
				      IPC_F_STR, 0, 0, 0, 1, 'b' };
	struct ipc_msg m = rawmsg(pl, sizeof(pl), 2);
	struct ipc_rd r;
	char s[8];
	const uint8_t *p;
	size_t len;

	ipc_rd_init(&r, &m);
	cr_assert_eq(ipc_get_str(&r, s, sizeof(s)), -1);
	ipc_rd_init(&r, &m);
	cr_assert_eq(ipc_get_bytes(&r, &p, &len, 10), 0);
	cr_assert_eq(ipc_get_bytes(&r, &p, &len, 10), -1,
		     "bytes getter read a string");
}

Test(ipc_get, short_data)
{
	/* Claims a u64 but only 3 bytes follow. */
	static const uint8_t pl_u64[] = { IPC_F_U64, 0, 0, 1 };
	static const uint8_t pl_u32[] = { IPC_F_U32, 0, 0 };
	static const uint8_t pl_str[] = { IPC_F_STR, 0, 0, 0, 9, 'a', 'b' };
	static const uint8_t pl_len[] = { IPC_F_BYTES, 0, 0 };
	static const uint8_t pl_none[] = { 0 };
	struct ipc_msg m;
	struct ipc_rd r;
	uint64_t u64;
	uint32_t u32;
	char s[16];
	const uint8_t *p;
	size_t len;

	m = rawmsg(pl_u64, sizeof(pl_u64), 1);
	ipc_rd_init(&r, &m);
	cr_assert_eq(ipc_get_u64(&r, &u64), -1);
	m = rawmsg(pl_u32, sizeof(pl_u32), 1);
	ipc_rd_init(&r, &m);
	cr_assert_eq(ipc_get_u32(&r, &u32), -1);
	m = rawmsg(pl_str, sizeof(pl_str), 1);
	ipc_rd_init(&r, &m);
	cr_assert_eq(ipc_get_str(&r, s, sizeof(s)), -1);
	m = rawmsg(pl_len, sizeof(pl_len), 1);
	ipc_rd_init(&r, &m);
	cr_assert_eq(ipc_get_bytes(&r, &p, &len, 100), -1);
	/* Empty payload, a field asked for. */
	m = rawmsg(pl_none, 0, 1);
	ipc_rd_init(&r, &m);
	cr_assert_eq(ipc_get_u32(&r, &u32), -1);
}

Test(ipc_get, more_fields_than_sent)
{
	static const uint8_t pl[] = { IPC_F_U32, 0, 0, 0, 1 };
	struct ipc_msg m = rawmsg(pl, sizeof(pl), 1);
	struct ipc_rd r;
	uint32_t u32;

	ipc_rd_init(&r, &m);
	cr_assert_eq(ipc_get_u32(&r, &u32), 0);
	cr_assert_eq(ipc_get_u32(&r, &u32), -1, "read past the last field");
	cr_assert_eq(ipc_rd_end(&r), -1, "rd_end ok after a failed get");
}

Test(ipc_get, nfields_limits_reads)
{
	/* Two fields in the bytes, but the header said one. */
	static const uint8_t pl[] = { IPC_F_U32, 0, 0, 0, 1,
				      IPC_F_U32, 0, 0, 0, 2 };
	struct ipc_msg m = rawmsg(pl, sizeof(pl), 1);
	struct ipc_rd r;
	uint32_t u32;

	ipc_rd_init(&r, &m);
	cr_assert_eq(ipc_get_u32(&r, &u32), 0);
	cr_assert_eq(ipc_get_u32(&r, &u32), -1);
	ipc_rd_init(&r, &m);
	cr_assert_eq(ipc_get_u32(&r, &u32), 0);
	cr_assert_eq(ipc_rd_end(&r), -1, "bytes left over but rd_end ok");
}

struct str_row {
	const char *val;
	size_t dstsize;
	int want;
};

Test(ipc_get, str_fits_dst)
{
	static const struct str_row rows[] = {
		{ "hello", 6, 0 },
		{ "hello", 5, -1 },     /* no room for the NUL */
		{ "hello", 1, -1 },
		{ "hello", 0, -1 },
		{ "", 1, 0 },
		{ "", 0, -1 },
		{ "x", 2, 0 },
	};
	struct ipc_out o;
	struct ipc_msg m;
	struct ipc_rd r;
	char dst[16];
	size_t i;
	int sv[2], got;

	pair(sv);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		ipc_out_init(&o, IPC_CONN, 0);
		ipc_put_str(&o, rows[i].val);
		cr_assert_eq(ipc_send(sv[0], &o, -1), 0);
		ipc_out_free(&o);
		cr_assert_eq(ipc_recv(sv[1], rxbuf, sizeof(rxbuf), &m),
			     IPC_RECV_OK);
		ipc_rd_init(&r, &m);
		memset(dst, 'Z', sizeof(dst));
		got = ipc_get_str(&r, dst, rows[i].dstsize);
		cr_expect_eq(got, rows[i].want,
			     "row %zu ('%s' into %zu): got %d, want %d", i,
			     rows[i].val, rows[i].dstsize, got, rows[i].want);
		if (got == 0)
			cr_expect_str_eq(dst, rows[i].val, "row %zu", i);
		else if (rows[i].dstsize > 0)
			cr_expect_eq(dst[0], '\0',
				     "row %zu: dst not emptied on failure", i);
		else
			cr_expect_eq(dst[0], 'Z', "row %zu: wrote to size 0", i);
		cr_expect_eq(ipc_rd_end(&r), got == 0 ? 0 : -1, "row %zu", i);
	}
	close(sv[0]);
	close(sv[1]);
}

Test(ipc_get, bytes_maxlen_and_fixed)
{
	static const uint8_t pl[] = { IPC_F_BYTES, 0, 0, 0, 4, 1, 2, 3, 4 };
	struct ipc_msg m = rawmsg(pl, sizeof(pl), 1);
	struct ipc_rd r;
	const uint8_t *p;
	size_t len;
	uint8_t d[8];

	ipc_rd_init(&r, &m);
	cr_assert_eq(ipc_get_bytes(&r, &p, &len, 3), -1, "maxlen 3 took 4");
	ipc_rd_init(&r, &m);
	cr_assert_eq(ipc_get_bytes(&r, &p, &len, 4), 0);
	cr_assert_eq(len, 4u);
	cr_assert_eq(ipc_rd_end(&r), 0);
	ipc_rd_init(&r, &m);
	cr_assert_eq(ipc_get_fixed(&r, d, 3), -1, "fixed 3 took 4");
	ipc_rd_init(&r, &m);
	cr_assert_eq(ipc_get_fixed(&r, d, 5), -1, "fixed 5 took 4");
	ipc_rd_init(&r, &m);
	cr_assert_eq(ipc_get_fixed(&r, d, 4), 0);
	cr_assert_eq(memcmp(d, "\1\2\3\4", 4), 0);
	cr_assert_eq(ipc_rd_end(&r), 0);
}

Test(ipc_get, str_with_nul_refused_by_getter)
{
	/* Bypasses ipc_decode: the getter must still not cut the string. */
	static const uint8_t pl[] = { IPC_F_STR, 0, 0, 0, 3, 'a', 0, 'b' };
	struct ipc_msg m = rawmsg(pl, sizeof(pl), 1);
	struct ipc_rd r;
	char s[8];

	ipc_rd_init(&r, &m);
	cr_assert_eq(ipc_get_str(&r, s, sizeof(s)), -1);
}

Test(ipc_get, rd_end_leftover_fields)
{
	struct ipc_out o;
	struct ipc_msg m;
	struct ipc_rd r;
	uint32_t v;
	int sv[2];

	pair(sv);
	ipc_out_init(&o, IPC_SESSION_RESULT, 9);
	ipc_put_u32(&o, IPC_ST_OK);
	ipc_put_u32(&o, 99);
	cr_assert_eq(ipc_send(sv[0], &o, -1), 0);
	ipc_out_free(&o);
	cr_assert_eq(ipc_recv(sv[1], rxbuf, sizeof(rxbuf), &m), IPC_RECV_OK);
	ipc_rd_init(&r, &m);
	cr_assert_eq(ipc_rd_end(&r), -1, "no field read, rd_end ok");
	cr_assert_eq(ipc_get_u32(&r, &v), 0);
	cr_assert_eq(ipc_rd_end(&r), -1, "one field left, rd_end ok");
	cr_assert_eq(ipc_get_u32(&r, &v), 0);
	cr_assert_eq(v, 99u);
	cr_assert_eq(ipc_rd_end(&r), 0);
	close(sv[0]);
	close(sv[1]);
}

Test(ipc_out, put_str_null_sets_err)
{
	struct ipc_out o;

	ipc_out_init(&o, IPC_CONN, 0);
	ipc_put_str(&o, NULL);
	cr_assert(o.err);
	ipc_out_free(&o);
	ipc_out_free(&o);       /* twice is harmless */
}
