/*
 * ipc: the only framing code for messages between Moat's processes.
 *
 * Transport: AF_UNIX SOCK_SEQPACKET socketpairs made by moatd, so one
 * send is one message and a descriptor rides with it (SCM_RIGHTS).
 * Frame:  header  u16 type | u16 nfields | u32 id | u32 payload_len
 *         payload fields, each: u8 kind | value
 *             IPC_F_U32  4 bytes BE
 *             IPC_F_U64  8 bytes BE
 *             IPC_F_STR  u32 len | len bytes, no NUL inside
 *             IPC_F_BYTES u32 len | len bytes
 * Hard limit IPC_MSG_MAX for the whole frame. The receiver validates the
 * header (type known, length equals what arrived, no truncation, at most
 * one fd), then reads with typed getters that fail on a kind mismatch or
 * short data; ipc_rd_end() checks the payload was consumed exactly.
 * A peer that sends a malformed message is broken or hostile: callers
 * log it and drop that peer (kill the child / exit), never trust part.
 */
#ifndef MOAT_IPC_H
#define MOAT_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"
#include "core/ipc-proto.h"

#define IPC_MSG_MAX (64 * 1024)
#define IPC_HDR_LEN 12

enum ipc_field_kind { IPC_F_U32 = 1, IPC_F_U64 = 2, IPC_F_STR = 3,
		      IPC_F_BYTES = 4 };

/* A message being built. */
struct ipc_out {
	struct buf *b;
	uint16_t nfields;
	bool err;          /* a put overflowed IPC_MSG_MAX */
};
void ipc_out_init(struct ipc_out *o, uint16_t type, uint32_t id);
void ipc_out_free(struct ipc_out *o);   /* wipes: may carry secrets */
void ipc_put_u32(struct ipc_out *o, uint32_t v);
void ipc_put_u64(struct ipc_out *o, uint64_t v);
/* s must not contain NUL (it cannot: it is a C string). */
void ipc_put_str(struct ipc_out *o, const char *s);
void ipc_put_bytes(struct ipc_out *o, const void *p, size_t len);
/* Sends the message (and passfd if >= 0) on a blocking or non-blocking
 * socket. Returns 0, or -1 (errno EMSGSIZE if too big, EAGAIN if the
 * socket buffer is full, other errno from sendmsg). Does not free o. */
int ipc_send(int sock, struct ipc_out *o, int passfd);

/* A received, header-validated message. data points into the caller's
 * receive buffer (at least IPC_MSG_MAX bytes). */
struct ipc_msg {
	uint16_t type;
	uint16_t nfields;
	uint32_t id;
	const uint8_t *payload;
	size_t payload_len;
	int fd;            /* received descriptor or -1; caller owns it */
};

enum ipc_recv_result { IPC_RECV_OK = 1, IPC_RECV_AGAIN = 0,
		       IPC_RECV_EOF = -1, IPC_RECV_ERROR = -2,
		       IPC_RECV_MALFORMED = -3 };
/* Receives one message into buf (size >= IPC_MSG_MAX). On MALFORMED any
 * received fd has already been closed. */
enum ipc_recv_result ipc_recv(int sock, uint8_t *buf, size_t size,
			      struct ipc_msg *msg);
/* Validates a frame already in memory (used by ipc_recv and the fuzzer).
 * fd is stored in msg->fd unchanged. Returns 0 or -1. */
int ipc_decode(const uint8_t *frame, size_t len, int fd, struct ipc_msg *msg);

/* Typed reader over a message's payload. */
struct ipc_rd {
	struct rd r;
	uint16_t fields_left;
	bool err;          /* sticky: once set every get fails */
};
void ipc_rd_init(struct ipc_rd *r, const struct ipc_msg *msg);
int ipc_get_u32(struct ipc_rd *r, uint32_t *v);
int ipc_get_u64(struct ipc_rd *r, uint64_t *v);
/* Copies a string field into dst (dstsize incl. NUL); fails if it does
 * not fit or is longer than maxlen (pass dstsize-1 normally). */
int ipc_get_str(struct ipc_rd *r, char *dst, size_t dstsize);
/* Borrows a bytes field of at most maxlen bytes. */
int ipc_get_bytes(struct ipc_rd *r, const uint8_t **p, size_t *len,
		  size_t maxlen);
/* Copies a bytes field that must be exactly len bytes long. */
int ipc_get_fixed(struct ipc_rd *r, void *dst, size_t len);
/* 0 if no error happened and every field was consumed exactly. */
int ipc_rd_end(struct ipc_rd *r);

#endif
