/*
 * libFuzzer harness for moatd's check of moatctl requests
 * (master/control-req.c) behind the IPC framing (lib/core/ipc.c), all
 * of what moatd does with the bytes of a control-socket peer before it
 * acts. Checks (abort() otherwise): an accepted request has a known
 * command with exactly its arguments, a NUL-terminated user name
 * without control characters, and encodes back to the very frame it
 * came from (nothing in it was ignored).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/ipc.h"
#include "core/str.h"
#include "master/control-req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct control_req rq;
	struct ipc_out o;
	struct ipc_msg m;

	if (ipc_decode(data, size, -1, &m) < 0)
		return 0;
	if (control_req_decode(&m, &rq) < 0) {
		if (rq.cmd != 0 || rq.user[0] != '\0')
			abort();
		return 0;
	}
	if (rq.cmd < 1 || rq.cmd > IPC_CTL_CMD_MAX ||
	    strnlen(rq.user, sizeof(rq.user)) >= sizeof(rq.user) ||
	    str_has_ctl(rq.user) ||
	    (rq.cmd == IPC_CTL_KICK_USER) != (rq.user[0] != '\0') ||
	    (rq.cmd == IPC_CTL_KICK_SESSION) != (rq.session != 0) ||
	    size > IPC_CTL_REQ_MAX)
		abort();
	ipc_out_init(&o, IPC_CTL_REQ, rq.id);
	ipc_put_u32(&o, rq.cmd);
	ipc_put_u64(&o, rq.session);
	ipc_put_str(&o, rq.user);
	/* The header as ipc_send completes it: field count, length. */
	if (buf_len(o.b) != size || o.nfields != m.nfields ||
	    memcmp(buf_data(o.b), data, 2) != 0 ||
	    memcmp(buf_data(o.b) + 4, data + 4, 4) != 0 ||
	    memcmp(buf_data(o.b) + IPC_HDR_LEN, data + IPC_HDR_LEN,
		   size - IPC_HDR_LEN) != 0)
		abort();
	ipc_out_free(&o);
	return 0;
}
