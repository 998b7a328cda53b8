/*
 * proxy: after a TLS login the TLS state cannot move to the imap process,
 * so imap-login relays between the client's TLS connection and its end
 * of the socketpair whose other end the session got.
 *
 *   client --TLS--> c->in  --> c->sock   (client -> session)
 *   client <--TLS-- c->out <-- c->sock   (session -> client)
 *
 * Both buffers are bounded; a side is not read while the buffer it feeds
 * is full, so a slow reader throttles the writer (TCP back-pressure on
 * both ends) and memory stays fixed per connection.
 * Callers: client.c (proxy_start on SESSION_RESULT OK, then events).
 * Trust: the client is authenticated but still hostile; the session is
 * the user's own process. Neither side's bytes are interpreted here.
 */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "login.h"

static void
proxy_sock_cb(struct ev_io *io, int fd, unsigned int events, void *ctx)
{
	struct client *c = ctx;

	proxy_run(c);
	client_reap();
}

void
proxy_start(struct client *c)
{
	c->state = CLIENT_PROXY;
	/* The session has its own idle timeout; the proxy lives as long as
	 * both ends do. The client timer only fires again (armed below)
	 * when the session is gone and its last output is not drained. */
	/* The pipelined bytes went to the session in SESSION_REQ. */
	buf_wipe(c->in);
	imap_reader_reset(c->reader);
	c->sock_io = ev_io_add(login.ev, c->sock, 0, proxy_sock_cb, c);
	if (c->sock_io == NULL) {
		log_error("rip=%s proxy: cannot watch the socket: %m",
			  c->rip);
		client_destroy(c, "Internal error");
		return;
	}
	log_debug("rip=%s lip=%s TLS proxy started: user=%s", c->rip, c->lip,
		  LOG_Q(c->user));
	proxy_run(c);
}

/* client -> session. Returns false if the client was destroyed. */
static bool
proxy_from_client(struct client *c, bool *progress)
{
	size_t room, len;
	uint8_t *p;
	ssize_t n;

	room = buf_avail(c->in);
	if (!c->tls_eof && room > 0 &&
	    (p = buf_reserve(c->in, room)) != NULL) {
		n = tls_conn_read(c->tls, p, room);
		if (n > 0) {
			buf_commit(c->in, (size_t)n);
			c->rd_want = EV_READ;
			*progress = true;
		} else if (n == 0) {
			/* close_notify: the client sends no more, but may
			 * still read the session's last responses. */
			c->tls_eof = true;
			*progress = true;
		} else if (n == TLS_WANT_READ) {
			c->rd_want = EV_READ;
		} else if (n == TLS_WANT_WRITE) {
			c->rd_want = EV_WRITE;
		} else {
			/* Abrupt close or a TLS error: nobody is left to
			 * talk to. */
			c->tls_failed = true;
			client_destroy(c, "Client disconnected");
			return false;
		}
	}
	len = buf_len(c->in);
	if (len > 0 && !c->sock_shut) {
		n = send(c->sock, buf_data(c->in), len, MSG_NOSIGNAL);
		if (n > 0) {
			buf_consume(c->in, (size_t)n);
			*progress = true;
		} else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
			   errno != EINTR) {
			/* The session stopped reading for good; what it
			 * still writes is delivered below. */
			c->sock_shut = true;
			buf_wipe(c->in);
			*progress = true;
		}
	}
	if (c->tls_eof && buf_len(c->in) == 0 && !c->sock_shut) {
		/* Pass the client's EOF on; the session ends and closes. */
		(void)shutdown(c->sock, SHUT_WR);
		c->sock_shut = true;
		*progress = true;
	}
	return true;
}

/* session -> client. Returns false if the client was destroyed. */
static bool
proxy_to_client(struct client *c, bool *progress)
{
	size_t room, len;
	uint8_t *p;
	ssize_t n;

	room = buf_avail(c->out);
	if (!c->sock_eof && room > 0 &&
	    (p = buf_reserve(c->out, room)) != NULL) {
		n = read(c->sock, p, room);
		if (n > 0) {
			buf_commit(c->out, (size_t)n);
			*progress = true;
		} else if (n == 0 || (errno != EAGAIN &&
				      errno != EWOULDBLOCK &&
				      errno != EINTR)) {
			c->sock_eof = true;
			*progress = true;
			if (c->timer != NULL)
				ev_timer_reset(c->timer, LOGIN_DRAIN_TIMEOUT_MS);
		}
	}
	len = buf_len(c->out);
	if (len > 0) {
		n = tls_conn_write(c->tls, buf_data(c->out), len);
		if (n > 0) {
			buf_consume(c->out, (size_t)n);
			c->wr_want = EV_WRITE;
			*progress = true;
		} else if (n == TLS_WANT_READ) {
			c->wr_want = EV_READ;
		} else if (n == TLS_WANT_WRITE) {
			c->wr_want = EV_WRITE;
		} else {
			c->tls_failed = true;
			client_destroy(c, "Client disconnected (write)");
			return false;
		}
	}
	return true;
}

void
proxy_run(struct client *c)
{
	unsigned int cev = 0, sev = 0;
	bool progress;

	if (c->state != CLIENT_PROXY)
		return;
	/* Move bytes until neither direction can: OpenSSL may hold
	 * decrypted data that no epoll event will announce, so a read that
	 * stopped on a full buffer is retried here once the buffer
	 * drains. */
	do {
		progress = false;
		if (!proxy_from_client(c, &progress))
			return;
		if (!proxy_to_client(c, &progress))
			return;
	} while (progress);

	if (c->sock_eof && buf_len(c->out) == 0) {
		/* The session is over and everything it said is out. */
		client_destroy(c, "Session closed");
		return;
	}
	if (!c->tls_eof && buf_avail(c->in) > 0)
		cev |= c->rd_want;
	if (buf_len(c->out) > 0)
		cev |= c->wr_want;
	if (!c->sock_eof && buf_avail(c->out) > 0)
		sev |= EV_READ;
	if (buf_len(c->in) > 0 && !c->sock_shut)
		sev |= EV_WRITE;
	ev_io_set(c->io, cev);
	ev_io_set(c->sock_io, sev);
}
