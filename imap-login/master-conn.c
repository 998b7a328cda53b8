/*
 * master-conn: imap-login's IPC channel to moatd (fd 3, SOCK_SEQPACKET).
 * Receives CONN (with the client socket), CONN_DROP, AUTH_RESULT,
 * SESSION_RESULT and SHUTDOWN; sends CONN_DONE, AUTH_REQ and SESSION_REQ,
 * queueing them when the socket is full so the event loop never blocks.
 * Callers: main.c (init), client.c (sending, exit checks).
 * Trust: moatd is privileged and trusted not to be hostile, but every
 * message is still validated field by field (monitor style); a message
 * that is malformed or not allowed here means moatd and we disagree on
 * the protocol, which is fatal for this process.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/net.h"
#include "core/str.h"
#include "login.h"

/* Messages handled per wake-up before client work gets a turn. */
#define MASTER_RECV_BATCH 64

struct mq {
	struct mq *next;
	struct ipc_out o;
	int fd;
	bool close_fd;
};

static int master_fd = -1;
static struct ev_io *master_io;
static struct mq *mq_head, *mq_tail;
static uint8_t master_rbuf[IPC_MSG_MAX];

bool
master_queue_empty(void)
{
	return mq_head == NULL;
}

static void
master_update_io(void)
{
	ev_io_set(master_io, EV_READ | (mq_head != NULL ? EV_WRITE : 0));
}

static void
mq_free(struct mq *m)
{
	ipc_out_free(&m->o);
	if (m->close_fd && m->fd >= 0)
		close(m->fd);
	free(m);
}

/* Sends queued messages in order. Returns when the queue is empty or the
 * socket is full. */
static void
master_flush(void)
{
	struct mq *m;

	while ((m = mq_head) != NULL) {
		if (ipc_send(master_fd, &m->o, m->fd) < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR)
				break;
			if (errno == EMSGSIZE)
				log_panic("IPC message too large");
			/* moatd is gone; nothing here can go on. */
			log_fatal("IPC send to moatd failed: %m");
		}
		mq_head = m->next;
		if (mq_head == NULL)
			mq_tail = NULL;
		mq_free(m);
	}
	master_update_io();
}

void
master_send(struct ipc_out *o, int passfd, bool close_fd)
{
	struct mq *m;

	if (o->err)
		log_panic("IPC message overflow");
	if (mq_head == NULL) {
		if (ipc_send(master_fd, o, passfd) == 0) {
			ipc_out_free(o);
			if (close_fd && passfd >= 0)
				close(passfd);
			return;
		}
		if (errno == EMSGSIZE)
			log_panic("IPC message too large");
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			log_fatal("IPC send to moatd failed: %m");
	}
	m = xcalloc(1, sizeof(*m));
	m->o = *o;
	m->fd = passfd;
	m->close_fd = close_fd;
	/* The queue owns the buffer now. */
	o->b = NULL;
	if (mq_tail != NULL)
		mq_tail->next = m;
	else
		mq_head = m;
	mq_tail = m;
	master_update_io();
}

void
master_send_conn_done(uint32_t conn_id)
{
	struct ipc_out o;

	ipc_out_init(&o, IPC_CONN_DONE, conn_id);
	master_send(&o, -1, false);
}

void
login_check_exit(void)
{
	bool done;

	if (login.n_clients > 0)
		return;
	done = login.shutting_down ||
	       (login.cfg->login_per_connection && login.had_client);
	/* Our last CONN_DONE must reach moatd before we go. */
	if (done && master_queue_empty())
		ev_stop(login.ev);
}

static void __attribute__((noreturn))
master_malformed(const struct ipc_msg *msg, const char *what)
{
	if (msg->fd >= 0)
		close(msg->fd);
	log_fatal("malformed %s message from moatd (type %u, id %u)", what,
		  (unsigned int)msg->type, (unsigned int)msg->id);
}

static void
handle_conn(const struct ipc_msg *msg)
{
	char rip[IPC_IP_MAX], lip[IPC_IP_MAX];
	uint32_t flags, rport, lport;
	struct ipc_rd r;

	if (msg->fd < 0)
		master_malformed(msg, "CONN (no descriptor)");
	ipc_rd_init(&r, msg);
	if (ipc_get_u32(&r, &flags) < 0 ||
	    ipc_get_str(&r, rip, sizeof(rip)) < 0 ||
	    ipc_get_u32(&r, &rport) < 0 ||
	    ipc_get_str(&r, lip, sizeof(lip)) < 0 ||
	    ipc_get_u32(&r, &lport) < 0 || ipc_rd_end(&r) < 0 ||
	    (flags & ~IPC_CONN_FLAGS_ALL) != 0 ||
	    (flags & IPC_CONN_TLS_ACTIVE) != 0 ||
	    rport > 65535 || lport > 65535 ||
	    !net_ip_valid(rip) || !net_ip_valid(lip))
		master_malformed(msg, "CONN");
	if (client_find_conn(msg->id) != NULL)
		master_malformed(msg, "CONN (duplicate id)");
	if (login.shutting_down ||
	    (login.cfg->login_per_connection && login.had_client)) {
		/* Not ours to serve any more; moatd still counts it. */
		log_debug("rip=%s refusing the connection: shutting down",
			  rip);
		close(msg->fd);
		master_send_conn_done(msg->id);
		return;
	}
	client_create(msg->id, msg->fd, flags, rip, rport, lip, lport);
}

static void
handle_auth_result(const struct ipc_msg *msg)
{
	uint8_t cookie[IPC_COOKIE_LEN];
	char user[IPC_USER_MAX + 1];
	struct client *c;
	struct ipc_rd r;
	uint32_t status, delay;

	ipc_rd_init(&r, msg);
	if (msg->fd >= 0 || ipc_get_u32(&r, &status) < 0 ||
	    ipc_get_fixed(&r, cookie, sizeof(cookie)) < 0 ||
	    ipc_get_str(&r, user, sizeof(user)) < 0 ||
	    ipc_get_u32(&r, &delay) < 0 ||
	    ipc_rd_end(&r) < 0 || status > IPC_ST_STATUS_MAX ||
	    delay > IPC_AUTH_DELAY_MAX) {
		explicit_bzero(cookie, sizeof(cookie));
		master_malformed(msg, "AUTH_RESULT");
	}
	c = client_find_req(msg->id);
	if (c == NULL) {
		/* The client went away while auth was busy. */
		log_debug("auth result for a finished request %u",
			  (unsigned int)msg->id);
	} else {
		client_auth_result(c, status, cookie, user, delay);
	}
	explicit_bzero(cookie, sizeof(cookie));
}

static void
handle_session_result(const struct ipc_msg *msg)
{
	struct client *c;
	struct ipc_rd r;
	uint32_t status;

	ipc_rd_init(&r, msg);
	if (msg->fd >= 0 || ipc_get_u32(&r, &status) < 0 ||
	    ipc_rd_end(&r) < 0 || status > IPC_ST_STATUS_MAX)
		master_malformed(msg, "SESSION_RESULT");
	c = client_find_conn(msg->id);
	if (c == NULL) {
		log_warn("session result for unknown connection %u",
			 (unsigned int)msg->id);
		return;
	}
	if (c->state != CLIENT_SESSION_WAIT)
		log_fatal("unexpected SESSION_RESULT from moatd for "
			  "connection %u", (unsigned int)msg->id);
	client_session_result(c, status);
}

static void
handle_conn_drop(const struct ipc_msg *msg)
{
	struct ipc_rd r;
	struct client *c;

	ipc_rd_init(&r, msg);
	if (msg->fd >= 0 || msg->id == 0 || ipc_rd_end(&r) < 0)
		master_malformed(msg, "CONN_DROP");
	c = client_find_conn(msg->id);
	if (c == NULL) {
		/* Gone already; our CONN_DONE crossed moatd's drop. */
		log_debug("CONN_DROP for finished connection %u",
			  (unsigned int)msg->id);
		return;
	}
	client_drop(c);
}

static void
handle_shutdown(const struct ipc_msg *msg)
{
	struct ipc_rd r;

	ipc_rd_init(&r, msg);
	if (msg->fd >= 0 || ipc_rd_end(&r) < 0)
		master_malformed(msg, "SHUTDOWN");
	if (!login.shutting_down)
		log_debug("shutting down: %u connections left",
			  login.n_clients);
	login.shutting_down = true;
}

static void
master_dispatch(const struct ipc_msg *msg)
{
	switch (msg->type) {
	case IPC_CONN:
		handle_conn(msg);
		break;
	case IPC_CONN_DROP:
		handle_conn_drop(msg);
		break;
	case IPC_AUTH_RESULT:
		handle_auth_result(msg);
		break;
	case IPC_SESSION_RESULT:
		handle_session_result(msg);
		break;
	case IPC_SHUTDOWN:
		handle_shutdown(msg);
		break;
	default:
		if (msg->fd >= 0)
			close(msg->fd);
		log_fatal("unexpected IPC message type %u from moatd",
			  (unsigned int)msg->type);
	}
}

static void
master_io_cb(struct ev_io *io, int fd, unsigned int events, void *ctx)
{
	struct ipc_msg msg;

	if (events & EV_WRITE)
		master_flush();
	if (events & (EV_READ | EV_ERROR)) {
		for (int i = 0; i < MASTER_RECV_BATCH; i++) {
			enum ipc_recv_result r = ipc_recv(fd, master_rbuf,
							  sizeof(master_rbuf),
							  &msg);

			if (r == IPC_RECV_AGAIN)
				break;
			if (r == IPC_RECV_EOF) {
				/* moatd is gone: so are we (PDEATHSIG would
				 * follow anyway). */
				log_debug("moatd closed the IPC channel");
				exit(0);
			}
			if (r == IPC_RECV_ERROR)
				log_fatal("IPC receive from moatd: %m");
			if (r == IPC_RECV_MALFORMED)
				log_fatal("malformed IPC frame from moatd");
			master_dispatch(&msg);
		}
	}
	client_reap();
	login_check_exit();
}

void
master_init(int fd)
{
	master_fd = fd;
	if (net_set_nonblock(fd, true) < 0)
		log_fatal("IPC fd %d: %m", fd);
	master_io = ev_io_add(login.ev, fd, EV_READ, master_io_cb, NULL);
	if (master_io == NULL)
		log_fatal("IPC fd %d: cannot watch: %m", fd);
}

void
master_deinit(void)
{
	struct mq *m;

	while ((m = mq_head) != NULL) {
		mq_head = m->next;
		mq_free(m);
	}
	mq_tail = NULL;
	ev_io_del(&master_io);
}
