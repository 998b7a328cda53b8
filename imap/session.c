/*
 * session: start-up of the imap process and its link to moatd.
 * Callers: main.c (and the tests, for decoding and running). The
 * SESSION_INIT message comes from moatd, which is trusted more than the
 * client but is still checked field by field: a malformed message means
 * moatd is broken, and we refuse to serve rather than guess.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/ev.h"
#include "core/log.h"
#include "core/net.h"
#include "core/str.h"
#include "imap/client.h"
#include "imap/parser.h"
#include "imap/session.h"

/* The session enters the home itself, as the user: a hung network home
 * then stalls only this session, never moatd (which starts us with a
 * vfork-style clone and waits until we exec). */
int
session_enter_home(const char *home)
{
	if (chdir(home) == 0)
		return 0;
	log_warn("cannot change to home directory %s: %m; using /", home);
	return chdir("/");
}

int
session_info_decode(const struct ipc_msg *msg, struct session_info *si,
		    const char **error)
{
	struct ipc_rd rd;
	uint32_t rport, lport;
	const uint8_t *pipelined;
	size_t plen;
	char *expanded;

	memset(si, 0, sizeof(*si));
	si->fd = -1;
	if (msg->type != IPC_SESSION_INIT) {
		*error = "unexpected message type";
		return -1;
	}
	if (msg->id != 0) {
		*error = "non-zero message id";
		return -1;
	}
	if (msg->fd < 0) {
		*error = "no client descriptor";
		return -1;
	}
	ipc_rd_init(&rd, msg);
	if (ipc_get_str(&rd, si->user, sizeof(si->user)) < 0 ||
	    ipc_get_str(&rd, si->home, sizeof(si->home)) < 0 ||
	    ipc_get_str(&rd, si->mail, sizeof(si->mail)) < 0 ||
	    ipc_get_str(&rd, si->tag, sizeof(si->tag)) < 0 ||
	    ipc_get_bytes(&rd, &pipelined, &plen, IPC_PIPELINED_MAX) < 0 ||
	    ipc_get_u32(&rd, &si->flags) < 0 ||
	    ipc_get_str(&rd, si->remote_ip, sizeof(si->remote_ip)) < 0 ||
	    ipc_get_u32(&rd, &rport) < 0 ||
	    ipc_get_str(&rd, si->local_ip, sizeof(si->local_ip)) < 0 ||
	    ipc_get_u32(&rd, &lport) < 0 ||
	    ipc_rd_end(&rd) < 0) {
		*error = "malformed fields";
		return -1;
	}
	if (si->user[0] == '\0' || str_has_ctl(si->user)) {
		*error = "invalid user";
		return -1;
	}
	if (si->home[0] != '/' || str_has_ctl(si->home)) {
		*error = "home is not an absolute path";
		return -1;
	}
	/* An empty location is passed on: choosing a default is moatd's
	 * business (config mail_location), not ours. */
	if (str_has_ctl(si->mail)) {
		*error = "invalid mail location";
		return -1;
	}
	expanded = session_expand_home(si->mail, si->home);
	if (expanded == NULL) {
		*error = "mail location too long";
		return -1;
	}
	free(expanded);
	/* The tag is echoed to the client in our first line. */
	if (!imap_tag_valid(si->tag, strlen(si->tag))) {
		*error = "invalid tag";
		return -1;
	}
	if ((si->flags & ~IPC_CONN_FLAGS_ALL) != 0) {
		*error = "unknown flags";
		return -1;
	}
	if (!net_ip_valid(si->remote_ip) || !net_ip_valid(si->local_ip)) {
		*error = "invalid address";
		return -1;
	}
	if (rport > 65535 || lport > 65535) {
		*error = "invalid port";
		return -1;
	}
	si->remote_port = (uint16_t)rport;
	si->local_port = (uint16_t)lport;
	si->pipelined = pipelined;
	si->pipelined_len = plen;
	si->fd = msg->fd;
	return 0;
}

void
session_init_recv(int sock, struct session_info *si)
{
	uint8_t *buf = xmalloc(IPC_MSG_MAX);
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	enum ipc_recv_result r;
	struct ipc_msg msg;
	const char *error;
	uint8_t *copy = NULL;
	int type, flags;
	socklen_t len = sizeof(type);

	for (;;) {
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			log_fatal("poll on the moatd socket: %m");
		r = ipc_recv(sock, buf, IPC_MSG_MAX, &msg);
		if (r != IPC_RECV_AGAIN)
			break;
	}
	switch (r) {
	case IPC_RECV_OK:
		break;
	case IPC_RECV_EOF:
		log_fatal("moatd closed the connection before SESSION_INIT");
	case IPC_RECV_MALFORMED:
		log_fatal("Malformed message from moatd");
	default:
		log_fatal("Receiving SESSION_INIT: %m");
	}
	if (session_info_decode(&msg, si, &error) < 0) {
		if (msg.fd >= 0)
			close(msg.fd);
		log_fatal("Invalid SESSION_INIT from moatd (type %u): %s",
			  (unsigned int)msg.type, error);
	}
	if (session_enter_home(si->home) < 0)
		log_fatal("Cannot change to / either: %m");
	if (getsockopt(si->fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    len != sizeof(type) || type != SOCK_STREAM)
		log_fatal("SESSION_INIT descriptor is not a stream socket");
	flags = fcntl(si->fd, F_GETFL);
	if (flags < 0 || fcntl(si->fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    fcntl(si->fd, F_SETFD, FD_CLOEXEC) < 0)
		log_fatal("Setting up the client descriptor: %m");

	/* Keep only the bytes, not the whole receive buffer. */
	if (si->pipelined_len > 0) {
		copy = xmalloc(si->pipelined_len);
		memcpy(copy, si->pipelined, si->pipelined_len);
	}
	si->pipelined = copy;
	free(buf);
}

struct session_run {
	struct client *client;
	struct ev_io *ipc_io;
	int status;
};

static void
session_ipc_cb(struct ev_io *io, int fd, unsigned int events, void *ctx)
{
	struct session_run *run = ctx;
	uint8_t byte;
	ssize_t n;

	(void)events;
	/* Nothing is expected from moatd after SESSION_INIT yet: EOF means
	 * it is gone (or shutting down), anything else is a protocol
	 * error. One byte is enough to tell; the rest of the record and any
	 * descriptor in it are discarded by the kernel. */
	n = recv(fd, &byte, 1, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		      errno == EINTR))
		return;
	if (n == 0) {
		client_shutdown(run->client, "Server shutting down.",
				"Disconnected: moatd went away");
	} else {
		if (n < 0)
			log_error("Reading from moatd: %m");
		else
			log_error("Unexpected message from moatd");
		run->status = 1;
		client_shutdown(run->client, "Server shutting down.",
				"Disconnected: moatd protocol error");
	}
	ev_io_del(&run->ipc_io);
	(void)io;
}

static void
session_sigterm_cb(int signo, void *ctx)
{
	struct session_run *run = ctx;

	(void)signo;
	client_shutdown(run->client, "Server shutting down.",
			"Disconnected: shutting down");
}

int
session_run(int ipc_fd, const struct session_info *si)
{
	struct session_run run = { .status = 0 };
	struct ev *ev = ev_new();

	/* Before the greeting: a SIGTERM from then on gets its BYE (it is
	 * blocked until the loop reads it from the signalfd). */
	if (ev_signal_add(ev, SIGTERM, session_sigterm_cb, &run) < 0)
		log_error("Handling SIGTERM: %m");
	run.client = client_new(ev, si);
	if (!run.client->closed) {
		run.ipc_io = ev_io_add(ev, ipc_fd, EV_READ, session_ipc_cb,
				       &run);
		if (ev_run(ev) < 0) {
			log_error("Event loop failed: %m");
			run.status = 1;
		}
		ev_io_del(&run.ipc_io);
	}
	client_free(&run.client);
	ev_free(&ev);
	return run.status;
}

char *
session_expand_home(const char *mail, const char *home)
{
	struct buf *b = buf_new(IPC_PATH_MAX);
	size_t hlen = strlen(home);
	const char *p;
	char *s;
	int rc = 0;

	/* "/home/u/" + "~/Maildir" must not give a double slash. */
	while (hlen > 0 && home[hlen - 1] == '/')
		hlen--;
	for (p = mail; *p != '\0' && rc == 0; p++) {
		if (*p == '~' && (p == mail || p[-1] == ':' || p[-1] == '=') &&
		    (p[1] == '/' || p[1] == ':' || p[1] == '\0')) {
			rc = buf_append(b, home, hlen);
			/* home "/" with nothing after "~". */
			if (rc == 0 && hlen == 0 && p[1] != '/')
				rc = buf_append_byte(b, '/');
		} else {
			rc = buf_append_byte(b, (uint8_t)*p);
		}
	}
	if (rc < 0) {
		buf_free(&b);
		return NULL;
	}
	s = xstrdup(buf_str(b));
	buf_free(&b);
	return s;
}
