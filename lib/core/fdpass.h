/*
 * fdpass: one message plus at most one file descriptor over a Unix
 * socket (SCM_RIGHTS). Used by ipc.c; nothing else should need it.
 */
#ifndef MOAT_FDPASS_H
#define MOAT_FDPASS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Sends len bytes and, if passfd >= 0, the descriptor. Retries EINTR.
 * Returns bytes sent or -1 (errno EAGAIN if the socket is full). */
ssize_t fdpass_send(int sock, const void *data, size_t len, int passfd);
/* Receives one message into buf. *fd_out gets a received descriptor
 * (cloexec) or -1. Extra descriptors are closed. *truncated is set if
 * the message or its control data did not fit (the caller must treat the
 * message as malformed). Returns bytes received, 0 on EOF, -1 on error
 * (errno EAGAIN if nothing is pending). */
ssize_t fdpass_recv(int sock, void *buf, size_t size, int *fd_out,
		    bool *truncated);

#endif
