/*
 * libFuzzer harness for lib/core/ipc.c: hostile frames from another
 * process. The first input byte picks the mode: the frame as is (header
 * validation), or with payload_len/nfields patched to match (so the
 * fuzzer gets past the header into the fields). Each frame goes through
 * ipc_decode; an accepted frame is then
 * read (1) with the exact field schema its type has in ipc-proto.h, as
 * the receiving process will (both schemas for AUTH_REQ, which differs
 * by direction), and (2) generically, picking each getter by peeking at
 * the kind byte. Invariants that must hold for any accepted frame are
 * checked with abort() so the fuzzer reports them.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * One decoder per message, written the way its receiver decodes it
 * (straight-line getters in the order of ipc-proto.h, then the value
 * checks a receiver makes, then ipc_rd_end). Separate code per type
 * gives the fuzzer separate coverage to climb, field by field.
 */
struct addr {
	uint32_t flags, rport, lport;
	char rip[IPC_IP_MAX], lip[IPC_IP_MAX];
};

static int
get_addr(struct ipc_rd *r, struct addr *a)
{
	if (ipc_get_u32(r, &a->flags) < 0 ||
	    ipc_get_str(r, a->rip, sizeof(a->rip)) < 0 ||
	    ipc_get_u32(r, &a->rport) < 0 ||
	    ipc_get_str(r, a->lip, sizeof(a->lip)) < 0 ||
	    ipc_get_u32(r, &a->lport) < 0)
		return -1;
	return 0;
}

/* The value checks a receiver makes once the fields are read. */
static bool
addr_ok(const struct addr *a)
{
	return (a->flags & ~IPC_CONN_FLAGS_ALL) == 0 && a->rport <= 65535 &&
	       a->lport <= 65535;
}

/* rc is the getters' verdict, valid the receiver's value checks. */
static int
finish(struct ipc_rd *r, int rc, bool valid)
{
	/* A failed get is sticky: rd_end must refuse too. */
	if (rc != 0 && ipc_rd_end(r) == 0)
		abort();
	if (rc != 0 || ipc_rd_end(r) != 0)
		return -1;
	return valid ? 0 : -1;
}

static int
dec_conn(const struct ipc_msg *m)
{
	struct ipc_rd r;
	struct addr a;

	ipc_rd_init(&r, m);
	if (get_addr(&r, &a) < 0)
		return finish(&r, -1, false);
	return finish(&r, 0, addr_ok(&a));
}

static int
dec_empty(const struct ipc_msg *m)
{
	struct ipc_rd r;

	ipc_rd_init(&r, m);
	return finish(&r, 0, true);
}

/* AUTH_REQ as imap-login sends it: the connection, not an address. */
static int
dec_auth_req_login(const struct ipc_msg *m)
{
	struct ipc_rd r;
	char user[IPC_USER_MAX + 1], pass[IPC_PASS_MAX + 1];
	uint32_t conn_id;
	int rc;

	ipc_rd_init(&r, m);
	rc = ipc_get_u32(&r, &conn_id);
	if (rc == 0)
		rc = ipc_get_str(&r, user, sizeof(user));
	if (rc == 0)
		rc = ipc_get_str(&r, pass, sizeof(pass));
	return finish(&r, rc, true);
}

static int
dec_worker_req(const struct ipc_msg *m)
{
	struct ipc_rd r;
	char user[IPC_USER_MAX + 1], pass[IPC_PASS_MAX + 1], ip[IPC_IP_MAX];
	int rc;

	ipc_rd_init(&r, m);
	rc = ipc_get_str(&r, user, sizeof(user));
	if (rc == 0)
		rc = ipc_get_str(&r, pass, sizeof(pass));
	if (rc == 0)
		rc = ipc_get_str(&r, ip, sizeof(ip));
	return finish(&r, rc, true);
}

static int
dec_auth_req_moatd(const struct ipc_msg *m)
{
	struct ipc_rd r;
	char user[IPC_USER_MAX + 1], pass[IPC_PASS_MAX + 1], ip[IPC_IP_MAX];
	uint64_t login_id;
	uint32_t conn_id;
	int rc;

	ipc_rd_init(&r, m);
	rc = ipc_get_u64(&r, &login_id);
	if (rc == 0)
		rc = ipc_get_u32(&r, &conn_id);
	if (rc == 0)
		rc = ipc_get_str(&r, user, sizeof(user));
	if (rc == 0)
		rc = ipc_get_str(&r, pass, sizeof(pass));
	if (rc == 0)
		rc = ipc_get_str(&r, ip, sizeof(ip));
	return finish(&r, rc, true);
}

static int
dec_auth_result(const struct ipc_msg *m)
{
	struct ipc_rd r;
	uint8_t cookie[IPC_COOKIE_LEN];
	char user[IPC_USER_MAX + 1];
	uint32_t st, delay;
	int rc;

	ipc_rd_init(&r, m);
	rc = ipc_get_u32(&r, &st);
	if (rc == 0)
		rc = ipc_get_fixed(&r, cookie, sizeof(cookie));
	if (rc == 0)
		rc = ipc_get_str(&r, user, sizeof(user));
	if (rc == 0)
		rc = ipc_get_u32(&r, &delay);
	return finish(&r, rc, rc == 0 && st <= IPC_ST_STATUS_MAX &&
		      delay <= IPC_AUTH_DELAY_MAX);
}

static int
dec_session_req(const struct ipc_msg *m)
{
	struct ipc_rd r;
	uint8_t cookie[IPC_COOKIE_LEN];
	char tag[IPC_TAG_MAX + 1];
	const uint8_t *pl;
	size_t pllen;
	struct addr a;
	int rc;

	ipc_rd_init(&r, m);
	rc = ipc_get_fixed(&r, cookie, sizeof(cookie));
	if (rc == 0)
		rc = ipc_get_str(&r, tag, sizeof(tag));
	if (rc == 0)
		rc = ipc_get_bytes(&r, &pl, &pllen, IPC_PIPELINED_MAX);
	if (rc == 0 && (pllen > IPC_PIPELINED_MAX || pl < m->payload ||
			pl + pllen > m->payload + m->payload_len))
		abort();
	if (rc == 0)
		rc = get_addr(&r, &a);
	return finish(&r, rc, rc == 0 && addr_ok(&a));
}

static int
dec_status(const struct ipc_msg *m)
{
	struct ipc_rd r;
	uint32_t st;
	int rc;

	ipc_rd_init(&r, m);
	rc = ipc_get_u32(&r, &st);
	return finish(&r, rc, rc == 0 && st <= IPC_ST_STATUS_MAX);
}

static int
dec_cookie_redeem(const struct ipc_msg *m)
{
	struct ipc_rd r;
	uint8_t cookie[IPC_COOKIE_LEN];
	uint64_t login_id;
	uint32_t conn_id;
	int rc;

	ipc_rd_init(&r, m);
	rc = ipc_get_u64(&r, &login_id);
	if (rc == 0)
		rc = ipc_get_u32(&r, &conn_id);
	if (rc == 0)
		rc = ipc_get_fixed(&r, cookie, sizeof(cookie));
	return finish(&r, rc, true);
}

/* COOKIE_USER and WORKER_RESULT: the record ends with the groups, BE
 * u32 gids. Both receivers want a whole number of them, at most
 * IPC_GROUPS_MAX; moatd also wants none unless OK and no gid 0 or
 * (gid_t)-1 (it refuses the session, which is a value check here). */
static int
dec_user_record(const struct ipc_msg *m)
{
	struct ipc_rd r;
	char user[IPC_USER_MAX + 1], home[IPC_PATH_MAX + 1];
	char mail[IPC_PATH_MAX + 1];
	uint32_t st, uid, gid;
	const uint8_t *gp = NULL;
	size_t glen = 0;
	bool valid;
	int rc;

	ipc_rd_init(&r, m);
	rc = ipc_get_u32(&r, &st);
	if (rc == 0)
		rc = ipc_get_str(&r, user, sizeof(user));
	if (rc == 0)
		rc = ipc_get_u32(&r, &uid);
	if (rc == 0)
		rc = ipc_get_u32(&r, &gid);
	if (rc == 0)
		rc = ipc_get_str(&r, home, sizeof(home));
	if (rc == 0)
		rc = ipc_get_str(&r, mail, sizeof(mail));
	if (rc == 0)
		rc = ipc_get_bytes(&r, &gp, &glen, 4 * IPC_GROUPS_MAX);
	if (rc == 0 && glen > 4 * IPC_GROUPS_MAX)
		abort();        /* the getter's bound did not hold */
	valid = rc == 0 && st <= IPC_ST_STATUS_MAX && glen % 4 == 0 &&
	    (st == IPC_ST_OK || glen == 0);
	for (size_t i = 0; valid && i < glen / 4; i++) {
		uint32_t g = (uint32_t)gp[4 * i] << 24 |
		    (uint32_t)gp[4 * i + 1] << 16 |
		    (uint32_t)gp[4 * i + 2] << 8 | (uint32_t)gp[4 * i + 3];

		valid = g != 0 && g != UINT32_MAX;
	}
	return finish(&r, rc, valid);
}

static int
dec_session_init(const struct ipc_msg *m)
{
	struct ipc_rd r;
	char user[IPC_USER_MAX + 1], home[IPC_PATH_MAX + 1];
	char mail[IPC_PATH_MAX + 1], tag[IPC_TAG_MAX + 1];
	const uint8_t *pl;
	size_t pllen;
	struct addr a;
	int rc;

	ipc_rd_init(&r, m);
	rc = ipc_get_str(&r, user, sizeof(user));
	if (rc == 0)
		rc = ipc_get_str(&r, home, sizeof(home));
	if (rc == 0)
		rc = ipc_get_str(&r, mail, sizeof(mail));
	if (rc == 0)
		rc = ipc_get_str(&r, tag, sizeof(tag));
	if (rc == 0)
		rc = ipc_get_bytes(&r, &pl, &pllen, IPC_PIPELINED_MAX);
	if (rc == 0 && pllen > IPC_PIPELINED_MAX)
		abort();
	if (rc == 0)
		rc = get_addr(&r, &a);
	if (rc == 0 && (strlen(user) > IPC_USER_MAX ||
			strlen(tag) > IPC_TAG_MAX))
		abort();
	return finish(&r, rc, rc == 0 && addr_ok(&a));
}

/* moat-lmtp's front <-> monitor messages (lmtp/front.c, main.c), read
 * as their receivers read them. */
static int
dec_lmtp(const struct ipc_msg *m)
{
	struct ipc_rd r;
	char a[1024], b[1024], c[1024];
	uint32_t st;
	int rc;

	ipc_rd_init(&r, m);
	switch (m->type) {
	case IPC_LMTP_LOOKUP:
		rc = ipc_get_str(&r, a, sizeof(a));
		return finish(&r, rc, true);
	case IPC_LMTP_LOOKUP_RESULT:
		rc = ipc_get_u32(&r, &st);
		if (rc == 0)
			rc = ipc_get_str(&r, a, sizeof(a));
		return finish(&r, rc, true);
	case IPC_LMTP_DELIVER:
		rc = ipc_get_str(&r, a, sizeof(a));
		if (rc == 0)
			rc = ipc_get_str(&r, b, sizeof(b));
		if (rc == 0)
			rc = ipc_get_str(&r, c, sizeof(c));
		return finish(&r, rc, true);
	default:	/* IPC_LMTP_DELIVER_RESULT */
		rc = ipc_get_u32(&r, &st);
		return finish(&r, rc, true);
	}
}

static int
dispatch(const struct ipc_msg *m)
{
	switch (m->type) {
	case IPC_CONN:
		return dec_conn(m);
	case IPC_CONN_DONE:
	case IPC_CONN_DROP:
	case IPC_SHUTDOWN:
		return dec_empty(m);
	case IPC_AUTH_REQ:
		/* Same type, two directions, two layouts. */
		(void)dec_auth_req_moatd(m);
		return dec_auth_req_login(m);
	case IPC_WORKER_REQ:
		return dec_worker_req(m);
	case IPC_AUTH_RESULT:
		return dec_auth_result(m);
	case IPC_SESSION_REQ:
		return dec_session_req(m);
	case IPC_SESSION_RESULT:
		return dec_status(m);
	case IPC_COOKIE_REDEEM:
		return dec_cookie_redeem(m);
	case IPC_COOKIE_USER:
	case IPC_WORKER_RESULT:
		return dec_user_record(m);
	case IPC_SESSION_INIT:
		return dec_session_init(m);
	case IPC_LMTP_LOOKUP:
	case IPC_LMTP_LOOKUP_RESULT:
	case IPC_LMTP_DELIVER:
	case IPC_LMTP_DELIVER_RESULT:
		return dec_lmtp(m);
	case IPC_CTL_REQ:
	case IPC_CTL_SESSION:
	case IPC_CTL_STAT:
	case IPC_CTL_DONE:
		/* moatctl's messages: fuzz-control checks their decoder;
		 * here walk_generic reads their fields. */
		return 0;
	default:
		abort();        /* ipc_decode let an unknown type by */
	}
}

/* Read every field with the getter its kind byte asks for. Validation
 * in ipc_decode promises that this never fails. */
static void
walk_generic(const struct ipc_msg *m)
{
	struct ipc_rd r;
	uint32_t u32;
	uint64_t u64;
	const uint8_t *p;
	size_t len;
	static char big[IPC_MSG_MAX];
	int rc = 0;

	ipc_rd_init(&r, m);
	while (r.r.left > 0 && rc == 0) {
		switch (r.r.p[0]) {
		case IPC_F_U32:
			rc = ipc_get_u32(&r, &u32);
			break;
		case IPC_F_U64:
			rc = ipc_get_u64(&r, &u64);
			break;
		case IPC_F_STR:
			rc = ipc_get_str(&r, big, sizeof(big));
			break;
		case IPC_F_BYTES:
			rc = ipc_get_bytes(&r, &p, &len, SIZE_MAX);
			break;
		default:
			abort();        /* ipc_decode let an unknown kind by */
		}
	}
	if (rc != 0 || ipc_rd_end(&r) != 0)
		abort();
}

/*
 * Patch payload_len and nfields to match the bytes, so that mutations
 * spend their time on fields and schemas instead of on keeping two
 * header counters in step. Counts fields leniently (stops at the first
 * bad one); ipc_decode still judges the result.
 */
static void
fix_header(uint8_t *f, size_t len)
{
	size_t off = IPC_HDR_LEN, vlen;
	unsigned int n = 0;

	if (len < IPC_HDR_LEN)
		return;
	while (off < len) {
		switch (f[off]) {
		case IPC_F_U32:
			vlen = 4;
			break;
		case IPC_F_U64:
			vlen = 8;
			break;
		case IPC_F_STR:
		case IPC_F_BYTES:
			if (len - off < 5)
				goto done;
			vlen = 4 + ((size_t)f[off + 1] << 24 |
				    (size_t)f[off + 2] << 16 |
				    (size_t)f[off + 3] << 8 | f[off + 4]);
			break;
		default:
			goto done;
		}
		if (vlen > len - off - 1)
			goto done;
		off += 1 + vlen;
		n++;
	}
done:
	f[2] = (uint8_t)(n >> 8);
	f[3] = (uint8_t)n;
	f[8] = (uint8_t)((len - IPC_HDR_LEN) >> 24);
	f[9] = (uint8_t)((len - IPC_HDR_LEN) >> 16);
	f[10] = (uint8_t)((len - IPC_HDR_LEN) >> 8);
	f[11] = (uint8_t)(len - IPC_HDR_LEN);
}

/* Input: one mode byte (bit 0: fix the header up), then the frame. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t copy[IPC_MSG_MAX + 1];
	const uint8_t *frame;
	struct ipc_msg m;

	if (size < 1)
		return 0;
	frame = data + 1;
	size--;
	if ((data[0] & 1) != 0 && size <= sizeof(copy)) {
		memcpy(copy, frame, size);
		fix_header(copy, size);
		frame = copy;
	}
	if (ipc_decode(frame, size, -1, &m) < 0)
		return 0;
	/* Header promises of an accepted frame. */
	if (m.type < 1 || m.type > IPC_TYPE_MAX || m.fd != -1 ||
	    m.payload != frame + IPC_HDR_LEN ||
	    m.payload_len != size - IPC_HDR_LEN)
		abort();
	/* A second reader over the same message must come to the same
	 * verdict: the getters never modify the payload. */
	if (dispatch(&m) != dispatch(&m))
		abort();
	walk_generic(&m);
	return 0;
}
