/*
 * control-req: see control-req.h. Callers: control.c, the unit test and
 * the fuzzer. Trust: the bytes come from a root process (the peer's uid
 * was checked), but are still checked as any IPC message: a broken or
 * hostile tool must not make moatd act on part of a request.
 */
#include <string.h>

#include "core/str.h"
#include "master/control-req.h"

int
control_req_decode(const struct ipc_msg *msg, struct control_req *out)
{
	struct ipc_rd r;

	memset(out, 0, sizeof(*out));
	if (msg->type != IPC_CTL_REQ || msg->fd >= 0 ||
	    IPC_HDR_LEN + msg->payload_len > IPC_CTL_REQ_MAX)
		return -1;
	ipc_rd_init(&r, msg);
	if (ipc_get_u32(&r, &out->cmd) < 0 ||
	    ipc_get_u64(&r, &out->session) < 0 ||
	    ipc_get_str(&r, out->user, sizeof(out->user)) < 0 ||
	    ipc_rd_end(&r) < 0)
		goto bad;
	if (out->cmd < 1 || out->cmd > IPC_CTL_CMD_MAX ||
	    str_has_ctl(out->user) ||
	    (out->cmd == IPC_CTL_KICK_USER) != (out->user[0] != '\0') ||
	    (out->cmd == IPC_CTL_KICK_SESSION) != (out->session != 0))
		goto bad;
	out->id = msg->id;
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	return -1;
}
