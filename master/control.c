/*
 * control: moatctl's control socket (doc/design.md, "Control socket").
 * A SOCK_SEQPACKET UNIX socket at control_socket, mode 0600, in a
 * directory that only root may write; each message is one lib/core/ipc
 * frame (CTL_REQ in, CTL_SESSION / CTL_STAT / CTL_DONE out, ipc-proto.h).
 * Commands: who, kick a user or a session, reload, stop, stats. The
 * per-user store work of moatctl does not come here: moatctl does it
 * itself in a child that becomes the user, so moatd's event loop never
 * waits on a user's files.
 *
 * Callers: main.c (open, shutdown, exit), session.c / children.c /
 * auth-conn.c (counters, a session that ended).
 * Trust: the file mode keeps other users out, and the peer's
 * credentials (SO_PEERCRED) are checked at accept as well, so a wrong
 * mode on the socket or its directory does not open it to them: only
 * uid 0 (or moatd's own uid when moatd is not root) is served. Even
 * root's requests are validated as any IPC message: a bounded size
 * (IPC_CTL_REQ_MAX), only CTL_REQ, known commands, exact decoding; a
 * bad one gets a CTL_DONE failure and the connection is closed. At most
 * CONTROL_CLIENTS_MAX clients at a time, each closed after
 * CONTROL_IDLE_MS without a request, and the answers queued for one are
 * bounded by the number of sessions (one CTL_SESSION each).
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/arr.h"
#include "core/log.h"
#include "core/str.h"
#include "master/control-req.h"
#include "master/master.h"

#define CONTROL_CLIENTS_MAX 8
#define CONTROL_IDLE_MS 10000
#define CONTROL_REFUSED_MS 1000
/* A kicked session that has not exited after this is killed. */
#define CONTROL_KICK_GRACE_MS 5000
/* Address groups remembered as throttled (stats); beyond this the
 * oldest entry is forgotten. */
#define CONTROL_THROTTLED_MAX 1024

struct ctl_client {
	struct list link;
	int fd;
	struct ev_io *io;
	struct ev_timer *idle;
	ARRAY(struct ipc_out) outq;
	size_t out_head;
	bool close_after;           /* close once the queue is sent */
	bool stop_after;            /* then stop moatd (CTL_STOP) */
	/* KICK: sessions still to end before the answer is complete. */
	unsigned int kicks_pending, kicks_done, kicks_killed;
	uint32_t kick_id;
	/* Refused peer: after the answer, input is discarded until its
	 * EOF (or CONTROL_REFUSED_MS), so that closing with its request
	 * unread does not reset the connection before it read why. */
	bool refused;
};

struct throttled {
	char group[IPGROUP_MAX];
	uint64_t ms;
};

static int listen_fd = -1;
static struct ev_io *listen_io;
static char *sock_path;
static dev_t sock_dev;
static ino_t sock_ino;
static struct list clients = LIST_INIT(clients);
static unsigned int n_clients, n_refused;
static uint8_t rxbuf[IPC_MSG_MAX];
static struct throttled throttled[CONTROL_THROTTLED_MAX];
static struct log_limit refuse_ll;

/* ---- the socket ---- */

/* The directory must be root's (ours) and writable by nobody else, or
 * someone could put their own socket in the path moatctl trusts. A
 * missing last component is created 0700. */
static int
control_dir_check(const char *path, char *err, size_t len)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (slash == NULL || slash == path) {
		snprintf(err, len, "control_socket %s must be in a directory "
			 "of its own, e.g. /run/moat/control", path);
		return -1;
	}
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	if (lstat(dir, &st) < 0 && errno == ENOENT && mkdir(dir, 0700) < 0) {
		snprintf(err, len, "control_socket directory %s: %s", dir,
			 strerror(errno));
		return -1;
	}
	if (lstat(dir, &st) < 0) {
		snprintf(err, len, "control_socket directory %s: %s", dir,
			 strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		snprintf(err, len, "control_socket directory %s must be a "
			 "directory owned by uid %u and not writable by group "
			 "or others", dir, (unsigned int)geteuid());
		return -1;
	}
	return 0;
}

/* A socket left by a moatd that died is replaced; one that answers is
 * another moatd's, and anything else is not ours to remove. */
static int
control_clear_stale(const char *path, const struct sockaddr_un *sa,
		    char *err, size_t len)
{
	struct stat st;
	int fd;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, len, "control_socket %s exists and is not a "
			 "socket", path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (const struct sockaddr *)sa,
			       sizeof(*sa)) == 0) {
		close(fd);
		snprintf(err, len, "control_socket %s is in use: is another "
			 "moatd running?", path);
		return -1;
	}
	if (fd >= 0)
		close(fd);
	if (unlink(path) < 0 && errno != ENOENT) {
		snprintf(err, len, "removing stale control_socket %s: %s",
			 path, strerror(errno));
		return -1;
	}
	return 0;
}

static void control_accept_cb(struct ev_io *io, int fd, unsigned int events,
			      void *ctx);

int
control_open(const struct moat_config *cfg, char *err, size_t len)
{
	struct sockaddr_un sa;
	struct stat st;
	mode_t old;
	int fd;

	if (cfg->control_socket == NULL)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(cfg->control_socket) >= sizeof(sa.sun_path)) {
		snprintf(err, len, "control_socket %s: path too long",
			 cfg->control_socket);
		return -1;
	}
	memcpy(sa.sun_path, cfg->control_socket, strlen(cfg->control_socket));
	if (control_dir_check(cfg->control_socket, err, len) < 0 ||
	    control_clear_stale(cfg->control_socket, &sa, err, len) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, len, "control_socket: %s", strerror(errno));
		return -1;
	}
	/* Created 0600: there is no moment in which others may connect. */
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		umask(old);
		snprintf(err, len, "cannot bind control_socket %s: %s",
			 cfg->control_socket, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if (listen(fd, 16) < 0 || lstat(cfg->control_socket, &st) < 0) {
		snprintf(err, len, "control_socket %s: %s",
			 cfg->control_socket, strerror(errno));
		close(fd);
		return -1;
	}
	listen_fd = fd;
	sock_path = xstrdup(cfg->control_socket);
	sock_dev = st.st_dev;
	sock_ino = st.st_ino;
	listen_io = ev_io_add(master.ev, fd, EV_READ, control_accept_cb, NULL);
	log_info("control socket %s", sock_path);
	return 0;
}

void
control_close_listener(void)
{
	ev_io_del(&listen_io);
	if (listen_fd >= 0)
		close(listen_fd);
	listen_fd = -1;
}

void
control_cleanup(void)
{
	struct stat st;

	control_close_listener();
	/* Only the socket we made: a newer moatd may have replaced it. */
	if (sock_path != NULL && lstat(sock_path, &st) == 0 &&
	    st.st_dev == sock_dev && st.st_ino == sock_ino)
		(void)unlink(sock_path);
	free(sock_path);
	sock_path = NULL;
}

/* ---- counters ---- */

void
control_note_throttled(const char *group)
{
	size_t slot = 0;

	if (group == NULL || group[0] == '\0')
		return;
	/* The entry of this group, else an empty one, else the oldest. */
	for (size_t i = 0; i < CONTROL_THROTTLED_MAX; i++) {
		if (str_eq(throttled[i].group, group)) {
			slot = i;
			break;
		}
		if (throttled[slot].group[0] != '\0' &&
		    (throttled[i].group[0] == '\0' ||
		     throttled[i].ms < throttled[slot].ms))
			slot = i;
	}
	(void)str_copy(throttled[slot].group, group,
		       sizeof(throttled[slot].group));
	throttled[slot].ms = ev_now_ms(master.ev);
}

/* Address groups auth refused as throttled within its window: auth's
 * throttle forgets an address auth_throttle_window after its last
 * failure, so this is a close (and never lower) count of the addresses
 * throttled now. */
static unsigned int
throttled_now(void)
{
	uint64_t now = ev_now_ms(master.ev);
	uint64_t window = master.cfg->auth_throttle_window_ms;
	unsigned int n = 0;

	for (size_t i = 0; i < CONTROL_THROTTLED_MAX; i++)
		if (throttled[i].group[0] != '\0' &&
		    now - throttled[i].ms < window)
			n++;
	return n;
}

/* ---- clients ---- */

static void control_client_cb(struct ev_io *io, int fd, unsigned int events,
			      void *ctx);

static void
client_free(struct ctl_client *cl)
{
	if (cl->kicks_pending > 0) {
		struct list *pos, *tmp;

		list_for_each_safe(pos, tmp, &master.children) {
			struct child *c = list_entry(pos, struct child, link);

			if (c->kicker == cl)
				c->kicker = NULL;
		}
	}
	list_del(&cl->link);
	if (cl->refused)
		n_refused--;
	else
		n_clients--;
	ev_io_del(&cl->io);
	ev_timer_del(&cl->idle);
	close(cl->fd);
	for (size_t i = cl->out_head; i < cl->outq.n; i++)
		ipc_out_free(&cl->outq.v[i]);
	arr_free(&cl->outq);
	free(cl);
}

static void
client_idle_cb(struct ev_timer *t, void *ctx)
{
	struct ctl_client *cl = ctx;

	log_debug("control client idle for %d s; closed",
		  CONTROL_IDLE_MS / 1000);
	client_free(cl);
}

/* Sends what is queued; false if cl was freed. */
static bool
client_flush(struct ctl_client *cl)
{
	while (cl->out_head < cl->outq.n) {
		struct ipc_out *o = &cl->outq.v[cl->out_head];

		if (ipc_send(cl->fd, o, -1) < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				ev_io_set(cl->io, EV_WRITE);
				return true;
			}
			log_debug("control client: send: %m");
			client_free(cl);
			return false;
		}
		ipc_out_free(o);
		cl->out_head++;
	}
	cl->outq.n = 0;
	cl->out_head = 0;
	if (cl->stop_after) {
		/* The answer is out; moatd's exit closes the connection,
		 * which is how moatctl stop learns that moatd is gone. */
		cl->stop_after = false;
		ev_io_set(cl->io, 0);
		master_stop("moatctl stop");
		return true;
	}
	if (cl->refused) {
		(void)shutdown(cl->fd, SHUT_WR);
		ev_io_set(cl->io, EV_READ);
		return true;
	}
	if (cl->close_after) {
		client_free(cl);
		return false;
	}
	/* The next request waits until this one is answered in full. */
	ev_io_set(cl->io, cl->kicks_pending > 0 ? 0 : EV_READ);
	return true;
}

static void
client_queue(struct ctl_client *cl, struct ipc_out *o)
{
	arr_push(&cl->outq, *o);
	o->b = NULL;
}

static void
client_done(struct ctl_client *cl, uint32_t id, uint32_t status,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
client_done(struct ctl_client *cl, uint32_t id, uint32_t status,
	    const char *fmt, ...)
{
	char text[IPC_CTL_TEXT_MAX];
	struct ipc_out o;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	ipc_out_init(&o, IPC_CTL_DONE, id);
	ipc_put_u32(&o, status);
	ipc_put_str(&o, text);
	client_queue(cl, &o);
}

static void
queue_session(struct ctl_client *cl, uint32_t id, const struct child *c)
{
	struct ipc_out o;

	ipc_out_init(&o, IPC_CTL_SESSION, id);
	ipc_put_u64(&o, c->session_id);
	ipc_put_u32(&o, (uint32_t)c->pid);
	ipc_put_str(&o, c->user);
	ipc_put_str(&o, c->rip);
	ipc_put_u32(&o, c->rport);
	ipc_put_u64(&o, (uint64_t)c->since);
	ipc_put_u32(&o, c->conn_flags);
	client_queue(cl, &o);
}

static void
queue_stat(struct ctl_client *cl, uint32_t id, const char *name,
	   uint64_t value)
{
	struct ipc_out o;

	ipc_out_init(&o, IPC_CTL_STAT, id);
	ipc_put_str(&o, name);
	ipc_put_u64(&o, value);
	client_queue(cl, &o);
}

/* Sessions are imap children that got their connection. */
static bool
is_session(const struct child *c)
{
	return c->kind == CHILD_IMAP && c->session_id != 0 && c->user != NULL;
}

static void
cmd_who(struct ctl_client *cl, uint32_t id)
{
	struct list *pos, *tmp;
	unsigned int n = 0;

	list_for_each_safe(pos, tmp, &master.children) {
		struct child *c = list_entry(pos, struct child, link);

		if (is_session(c)) {
			queue_session(cl, id, c);
			n++;
		}
	}
	client_done(cl, id, IPC_ST_OK, "%u session%s", n, n == 1 ? "" : "s");
}

static void
kick_timer_cb(struct ev_timer *t, void *ctx)
{
	struct child *c = ctx;

	ev_timer_del(&c->kick_timer);
	log_warn("%s did not end %d s after it was kicked; killing it",
		 child_name(c), CONTROL_KICK_GRACE_MS / 1000);
	c->kick_killed = true;
	(void)kill(c->pid, SIGKILL);
}

static void
kick_answer(struct ctl_client *cl)
{
	unsigned int n = cl->kicks_done;

	client_done(cl, cl->kick_id, IPC_ST_OK, "%u session%s ended: %u "
		    "logged out with * BYE, %u killed after %d s", n,
		    n == 1 ? "" : "s", n - cl->kicks_killed, cl->kicks_killed,
		    CONTROL_KICK_GRACE_MS / 1000);
	cl->kicks_done = cl->kicks_killed = 0;
}

void
control_session_gone(struct child *c)
{
	struct ctl_client *cl = c->kicker;

	ev_timer_del(&c->kick_timer);
	if (cl == NULL)
		return;
	c->kicker = NULL;
	c->conn_flags |= IPC_CTL_ENDED | (c->kick_killed ? IPC_CTL_KILLED : 0);
	queue_session(cl, c->kick_req, c);
	cl->kicks_done++;
	if (c->kick_killed)
		cl->kicks_killed++;
	if (--cl->kicks_pending == 0) {
		kick_answer(cl);
		(void)client_flush(cl);
	}
}

/* SIGUSR1: imap says "* BYE" and logs out (imap/session.c); one that
 * does not within CONTROL_KICK_GRACE_MS is killed. The answer waits for
 * the session to be gone and says which of the two it was; a session
 * another client is already kicking is only counted. */
static bool
kick(struct ctl_client *cl, uint32_t id, struct child *c)
{
	log_info("moatctl kick: %s (session %llu)", child_name(c),
		 (unsigned long long)c->session_id);
	c->term_sent = true;
	(void)kill(c->pid, SIGUSR1);
	if (c->kick_timer == NULL)
		c->kick_timer = ev_timer_add(master.ev, CONTROL_KICK_GRACE_MS,
					     kick_timer_cb, c);
	if (c->kicker != NULL)
		return false;
	c->kicker = cl;
	c->kick_req = id;
	cl->kicks_pending++;
	return true;
}

static void
cmd_kick(struct ctl_client *cl, uint32_t id, uint32_t cmd, uint64_t sid,
	 const char *user)
{
	struct list *pos, *tmp;
	unsigned int n = 0;

	unsigned int others = 0;

	cl->kick_id = id;
	cl->kicks_done = cl->kicks_killed = 0;
	list_for_each_safe(pos, tmp, &master.children) {
		struct child *c = list_entry(pos, struct child, link);

		if (!is_session(c))
			continue;
		if (cmd == IPC_CTL_KICK_USER ? str_eq(c->user, user) :
		    c->session_id == sid) {
			if (!kick(cl, id, c))
				others++;
			n++;
		}
	}
	if (n == 0)
		client_done(cl, id, IPC_ST_FAIL, "no such session");
	else if (cl->kicks_pending == 0)
		client_done(cl, id, IPC_ST_OK, "%u session%s already being "
			    "ended", others, others == 1 ? "" : "s");
	/* else kick_answer once the last one is gone */
}

static void
cmd_stats(struct ctl_client *cl, uint32_t id)
{
	int64_t now = (int64_t)time(NULL);

	queue_stat(cl, id, "uptime", now > master.started_at ?
		   (uint64_t)(now - master.started_at) : 0);
	queue_stat(cl, id, "sessions", master.n_sessions);
	queue_stat(cl, id, "logins_ok", master.logins_ok);
	queue_stat(cl, id, "logins_failed", master.logins_failed);
	queue_stat(cl, id, "logins_tempfail", master.logins_tempfail);
	queue_stat(cl, id, "logins_throttled", master.logins_throttled);
	queue_stat(cl, id, "throttled_addresses", throttled_now());
	queue_stat(cl, id, "connections", master.connections);
	queue_stat(cl, id, "preauth_connections", htab_count(master.conns));
	queue_stat(cl, id, "processes", master.n_children);
	client_done(cl, id, IPC_ST_OK, "ok");
}

/* A malformed request is answered and the connection closed: moatctl
 * never sends one, so whatever did is not to be talked to further. */
static void
client_request(struct ctl_client *cl, const struct ipc_msg *msg)
{
	char err[IPC_CTL_TEXT_MAX];
	struct control_req rq;

	if (control_req_decode(msg, &rq) < 0) {
		if (msg->fd >= 0)
			close(msg->fd);
		log_warn("control client: malformed request; closing");
		client_done(cl, msg->id, IPC_ST_FAIL, "malformed request");
		cl->close_after = true;
		return;
	}
	switch ((enum ipc_ctl_cmd)rq.cmd) {
	case IPC_CTL_WHO:
		cmd_who(cl, rq.id);
		break;
	case IPC_CTL_KICK_USER:
	case IPC_CTL_KICK_SESSION:
		cmd_kick(cl, rq.id, rq.cmd, rq.session, rq.user);
		break;
	case IPC_CTL_RELOAD:
		log_info("moatctl reload");
		if (master_reload(err, sizeof(err)) < 0)
			client_done(cl, rq.id, IPC_ST_FAIL, "reload failed, "
				    "the old configuration stays: %s", err);
		else
			client_done(cl, rq.id, IPC_ST_OK, "reloaded");
		break;
	case IPC_CTL_STOP:
		client_done(cl, rq.id, IPC_ST_OK, "stopping");
		cl->stop_after = true;
		break;
	case IPC_CTL_STATS:
		cmd_stats(cl, rq.id);
		break;
	}
}

static void
control_client_cb(struct ev_io *io, int fd, unsigned int events, void *ctx)
{
	struct ctl_client *cl = ctx;
	struct ipc_msg msg;

	if (cl->outq.n > cl->out_head) {
		(void)client_flush(cl);
		return;
	}
	if ((events & EV_READ) == 0)
		return;
	if (cl->refused) {
		uint8_t junk[512];
		ssize_t n = recv(cl->fd, junk, sizeof(junk), MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN &&
			       errno != EWOULDBLOCK && errno != EINTR))
			client_free(cl);
		return;
	}
	switch (ipc_recv(cl->fd, rxbuf, sizeof(rxbuf), &msg)) {
	case IPC_RECV_AGAIN:
		return;
	case IPC_RECV_OK:
		break;
	case IPC_RECV_MALFORMED:
		log_warn("control client: malformed message; closing");
		client_free(cl);
		return;
	case IPC_RECV_EOF:
	case IPC_RECV_ERROR:
		client_free(cl);
		return;
	}
	ev_timer_reset(cl->idle, CONTROL_IDLE_MS);
	client_request(cl, &msg);
	(void)client_flush(cl);
}

/* Who may talk to moatd: root, or whoever moatd runs as when it is not
 * root (then there is no privilege separation to protect). */
static bool
peer_allowed(int fd, struct ucred *uc)
{
	socklen_t len = sizeof(*uc);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, uc, &len) < 0 ||
	    len != sizeof(*uc))
		return false;
	return uc->uid == 0 || uc->uid == geteuid();
}

static void
refuse(int fd, const char *why, const struct ucred *uc)
{
	unsigned long suppressed = 0;
	struct ctl_client *cl;
	struct ipc_out o;

	ipc_out_init(&o, IPC_CTL_DONE, 0);
	ipc_put_u32(&o, IPC_ST_FAIL);
	ipc_put_str(&o, why);
	if (n_refused >= CONTROL_CLIENTS_MAX) {
		/* A courtesy answer, never waited for. */
		(void)ipc_send(fd, &o, -1);
		ipc_out_free(&o);
		close(fd);
	} else {
		cl = xcalloc(1, sizeof(*cl));
		cl->fd = fd;
		cl->refused = true;
		cl->io = ev_io_add(master.ev, fd, EV_WRITE, control_client_cb,
				   cl);
		cl->idle = ev_timer_add(master.ev, CONTROL_REFUSED_MS,
					client_idle_cb, cl);
		list_add_tail(&clients, &cl->link);
		n_refused++;
		client_queue(cl, &o);
	}
	if (log_limit_pass(&refuse_ll, &suppressed))
		log_warn("control socket: refused pid %ld uid %ld: %s%s",
			 uc != NULL ? (long)uc->pid : -1L,
			 uc != NULL ? (long)uc->uid : -1L, why,
			 suppressed > 0 ? " (and more not logged)" : "");
}

static void
control_accept_cb(struct ev_io *io, int lfd, unsigned int events, void *ctx)
{
	for (int i = 0; i < CONTROL_CLIENTS_MAX; i++) {
		struct ctl_client *cl;
		struct ucred uc;
		int fd;

		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_error("control socket: accept: %m");
			return;
		}
		memset(&uc, 0, sizeof(uc));
		if (!peer_allowed(fd, &uc)) {
			refuse(fd, "permission denied", &uc);
			continue;
		}
		if (n_clients >= CONTROL_CLIENTS_MAX) {
			refuse(fd, "too many control clients", &uc);
			continue;
		}
		cl = xcalloc(1, sizeof(*cl));
		cl->fd = fd;
		cl->io = ev_io_add(master.ev, fd, EV_READ, control_client_cb,
				   cl);
		cl->idle = ev_timer_add(master.ev, CONTROL_IDLE_MS,
					client_idle_cb, cl);
		list_add_tail(&clients, &cl->link);
		n_clients++;
	}
}
