/* Tests for control-req.c: which moatctl requests moatd acts on. Each
 * row is a frame built with lib/core/ipc and the verdict; the hostile
 * rows are requests moatctl never sends. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/ipc.h"
#include "master/control-req.h"

enum f { END, U32, U64, STR };

struct field {
	enum f kind;
	uint64_t num;
	const char *str;
};

#define F32(v) { U32, (v), NULL }
#define F64(v) { U64, (v), NULL }
#define FS(v) { STR, 0, (v) }

struct row {
	const char *name;
	uint16_t type;
	struct field fields[6];
	int fd;
	int want;               /* 0 accepted, -1 refused */
};

static const char long_user[IPC_USER_MAX + 2] =
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

static const struct row rows[] = {
	{ "who", IPC_CTL_REQ, { F32(IPC_CTL_WHO), F64(0),
	  FS("") }, -1, 0 },
	{ "stats", IPC_CTL_REQ, { F32(IPC_CTL_STATS), F64(0),
	  FS("") }, -1, 0 },
	{ "kick user", IPC_CTL_REQ, { F32(IPC_CTL_KICK_USER), F64(0),
	  FS("alice") }, -1, 0 },
	{ "kick session", IPC_CTL_REQ, { F32(IPC_CTL_KICK_SESSION),
	  F64(7), FS("") }, -1, 0 },
	{ "another type", IPC_CTL_DONE, { F32(IPC_CTL_WHO), F64(0),
	  FS("") }, -1, -1 },
	{ "command 0", IPC_CTL_REQ, { F32(0), F64(0), FS("") },
	  -1, -1 },
	{ "unknown command", IPC_CTL_REQ, { F32(IPC_CTL_CMD_MAX + 1),
	  F64(0), FS("") }, -1, -1 },
	{ "who with a user", IPC_CTL_REQ, { F32(IPC_CTL_WHO), F64(0),
	  FS("alice") }, -1, -1 },
	{ "who with a number", IPC_CTL_REQ, { F32(IPC_CTL_WHO), F64(1),
	  FS("") }, -1, -1 },
	{ "kick user without one", IPC_CTL_REQ, { F32(IPC_CTL_KICK_USER),
	  F64(0), FS("") }, -1, -1 },
	{ "kick user and session", IPC_CTL_REQ, { F32(IPC_CTL_KICK_USER),
	  F64(3), FS("alice") }, -1, -1 },
	{ "kick session 0", IPC_CTL_REQ, { F32(IPC_CTL_KICK_SESSION),
	  F64(0), FS("") }, -1, -1 },
	{ "user with a newline", IPC_CTL_REQ, { F32(IPC_CTL_KICK_USER),
	  F64(0), FS("alice\nroot") }, -1, -1 },
	{ "user too long", IPC_CTL_REQ, { F32(IPC_CTL_KICK_USER),
	  F64(0), FS(long_user) }, -1, -1 },
	{ "fields in the wrong kinds", IPC_CTL_REQ, { F64(IPC_CTL_WHO),
	  F32(0), FS("") }, -1, -1 },
	{ "a field missing", IPC_CTL_REQ, { F32(IPC_CTL_WHO), F64(0) },
	  -1, -1 },
	{ "a field too many", IPC_CTL_REQ, { F32(IPC_CTL_WHO), F64(0),
	  FS(""), F32(1) }, -1, -1 },
	{ "with a descriptor", IPC_CTL_REQ, { F32(IPC_CTL_WHO),
	  F64(0), FS("") }, 5, -1 },
};

static uint8_t frame[IPC_MSG_MAX];

/* Copies o's frame into frame[] with the header ipc_send would write
 * (field count, payload length). */
static size_t
frame_of(struct ipc_out *o)
{
	size_t len = buf_len(o->b);
	uint32_t plen = (uint32_t)(len - IPC_HDR_LEN);

	cr_assert_leq(len, sizeof(frame));
	memcpy(frame, buf_data(o->b), len);
	frame[2] = (uint8_t)(o->nfields >> 8);
	frame[3] = (uint8_t)o->nfields;
	frame[8] = (uint8_t)(plen >> 24);
	frame[9] = (uint8_t)(plen >> 16);
	frame[10] = (uint8_t)(plen >> 8);
	frame[11] = (uint8_t)plen;
	ipc_out_free(o);
	return len;
}

static void
check_row(const struct row *row)
{
	struct control_req rq;
	struct ipc_out o;
	struct ipc_msg m;
	size_t len;

	ipc_out_init(&o, row->type, 42);
	for (size_t i = 0; i < 6 && row->fields[i].kind != END; i++) {
		const struct field *f = &row->fields[i];

		if (f->kind == U32)
			ipc_put_u32(&o, (uint32_t)f->num);
		else if (f->kind == U64)
			ipc_put_u64(&o, f->num);
		else
			ipc_put_str(&o, f->str);
	}
	len = frame_of(&o);
	cr_assert_eq(ipc_decode(frame, len, row->fd, &m), 0, "%s: framing",
		     row->name);
	cr_assert_eq(control_req_decode(&m, &rq), row->want,
		     "%s: got %s, want %s", row->name,
		     row->want == 0 ? "refused" : "accepted",
		     row->want == 0 ? "accepted" : "refused");
	if (row->want == 0) {
		cr_assert_eq(rq.id, 42u);
		cr_assert_eq(rq.cmd, (uint32_t)row->fields[0].num);
		cr_assert_str_eq(rq.user, row->fields[2].str);
	} else {
		cr_assert_eq(rq.cmd, 0u, "%s: a refused request is cleared",
			     row->name);
	}
}

Test(control_req, table)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		check_row(&rows[i]);
}

/* The size bound holds before any field is read. */
Test(control_req, oversized_frame_refused)
{
	char user[IPC_CTL_REQ_MAX];
	struct control_req rq;
	struct ipc_out o;
	struct ipc_msg m;
	size_t len;

	memset(user, 'a', sizeof(user) - 1);
	user[sizeof(user) - 1] = '\0';
	ipc_out_init(&o, IPC_CTL_REQ, 1);
	ipc_put_u32(&o, IPC_CTL_KICK_USER);
	ipc_put_u64(&o, 0);
	ipc_put_str(&o, user);
	len = frame_of(&o);
	cr_assert_gt(len, IPC_CTL_REQ_MAX);
	cr_assert_eq(ipc_decode(frame, len, -1, &m), 0);
	cr_assert_eq(control_req_decode(&m, &rq), -1);
}
