/*
 * fdpass: one message plus at most one descriptor over a Unix socket.
 * Caller: ipc.c only. The peer may be a compromised child, so receive
 * assumes nothing: truncation is reported, surplus descriptors are
 * closed, and every received descriptor is close-on-exec from the start
 * (MSG_CMSG_CLOEXEC) so none can leak into an exec'd child.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/fdpass.h"

/* Room for more descriptors than we accept, so that a peer sending
 * several gets them all closed here instead of relying on truncation. */
#define FDPASS_MAX_FDS 16

ssize_t
fdpass_send(int sock, const void *data, size_t len, int passfd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct iovec iov = { (void *)data, len };
	struct msghdr msg;
	ssize_t r;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (passfd >= 0) {
		struct cmsghdr *c;

		memset(&cbuf, 0, sizeof(cbuf));
		msg.msg_control = cbuf.buf;
		msg.msg_controllen = sizeof(cbuf.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &passfd, sizeof(int));
	}
	/* MSG_NOSIGNAL: a dead peer is an error to handle, not SIGPIPE. */
	do
		r = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	return r;
}

ssize_t
fdpass_recv(int sock, void *buf, size_t size, int *fd_out, bool *truncated)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * FDPASS_MAX_FDS)];
	} cbuf;
	struct iovec iov = { buf, size };
	struct msghdr msg;
	struct cmsghdr *c;
	ssize_t r;
	int fd = -1;

	*fd_out = -1;
	*truncated = false;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf.buf;
	msg.msg_controllen = sizeof(cbuf.buf);
	do
		r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;

	for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int x;

			memcpy(&x, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (fd < 0)
				fd = x;
			else
				close(x);
		}
	}
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		/* The caller must drop this message; close the descriptor
		 * here so dropping it cannot leak one. */
		*truncated = true;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	*fd_out = fd;
	return r;
}
