/*
 * control-req: decoding and checking one moatctl request (CTL_REQ,
 * lib/core/ipc-proto.h) that arrived on moatd's control socket. Kept
 * apart from control.c, which owns sockets and state, so that the
 * check can be unit-tested and fuzzed (fuzz/fuzz-control.c).
 */
#ifndef MOAT_MASTER_CONTROL_REQ_H
#define MOAT_MASTER_CONTROL_REQ_H

#include <stdint.h>

#include "core/ipc.h"

struct control_req {
	uint32_t id;                    /* echoed in every answer */
	uint32_t cmd;                   /* enum ipc_ctl_cmd */
	uint64_t session;               /* KICK_SESSION: != 0; else 0 */
	char user[IPC_USER_MAX + 1];    /* KICK_USER: non-empty; else "" */
};

/* 0 and *out filled if msg is a CTL_REQ of at most IPC_CTL_REQ_MAX
 * bytes, without a descriptor, with exactly its three fields, a known
 * command and exactly the arguments that command takes (a user name
 * without control characters for KICK_USER, a session id for
 * KICK_SESSION, nothing else); -1 otherwise. */
int control_req_decode(const struct ipc_msg *msg, struct control_req *out);

#endif
