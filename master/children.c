/*
 * children: starting, watching and reaping moatd's child processes.
 *
 * Every child gets the same descriptor layout (design, "Process start-up
 * conventions"): 0 and 1 /dev/null, 2 a pipe to moatd for its log
 * records, 3 a SOCK_SEQPACKET IPC socket to moatd; nothing else survives
 * the exec. The environment is cleared to import_environment, the signal
 * mask and SIGPIPE disposition are reset (the event loop blocks signals
 * for its signalfd, and a blocked mask survives exec), and
 * PR_SET_PDEATHSIG is set, so no child outlives moatd. Every child is
 * exec'd as root; an imap session gets the user's ids in its argv and
 * drops to them itself (re-arming the death signal, which the drop
 * clears). The child itself is started by spawn.c without fork()ing
 * moatd (see there for why); everything it needs is prepared here
 * first.
 *
 * Callers: main.c (start-up, signals), login-conn.c, session.c.
 * Trust: children are untrusted peers. Their messages arrive here and
 * are checked against a per-kind table of allowed types before any
 * module reads a field; anything else kills the child.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "core/str.h"
#include "master/master.h"
#include "master/spawn.h"

static uint8_t rxbuf[IPC_MSG_MAX];

static const char *const kind_prog[] = {
	[CHILD_AUTH] = "auth",
	[CHILD_LOGIN] = "imap-login",
	[CHILD_IMAP] = "imap",
	[CHILD_LMTP] = "lmtp",
};

/* What each kind of child may send us (OpenSSH monitor style). */
#define TBIT(t) (1u << (t))
static const unsigned int kind_allowed[] = {
	[CHILD_AUTH] = TBIT(IPC_AUTH_RESULT) | TBIT(IPC_COOKIE_USER),
	[CHILD_LOGIN] = TBIT(IPC_CONN_DONE) | TBIT(IPC_AUTH_REQ) |
			TBIT(IPC_SESSION_REQ),
	[CHILD_IMAP] = 0,
	/* moat-lmtp needs nothing from moatd but supervision. */
	[CHILD_LMTP] = 0,
};

const char *
child_name(const struct child *c)
{
	/* A few rotating buffers so one log call can name two children. */
	static char bufs[4][LOG_QUOTED_MAX + NET_ADDR_MAX + 64];
	static unsigned int next;
	char *b = bufs[next++ % 4];

	/* As in the prefix of the child's own lines (log_forward_line):
	 * the address, then the user, quoted. */
	if (c->kind == CHILD_IMAP)
		snprintf(b, sizeof(bufs[0]), "imap[%ld] rip=%s user=%s",
			 (long)c->pid, c->rip[0] != '\0' ? c->rip : "-",
			 LOG_Q(c->user));
	else
		snprintf(b, sizeof(bufs[0]), "%s[%ld]", kind_prog[c->kind],
			 (long)c->pid);
	return b;
}

bool
child_ipc_alive(const struct child *c)
{
	return c != NULL && c->ipc_fd >= 0;
}

/* ---- in moatd ---- */

static void child_ipc_cb(struct ev_io *io, int fd, unsigned int events,
			 void *ctx);

/* Opened once and kept (close-on-exec): every child's 0 and 1. */
static int
devnull_fd(void)
{
	static int fd = -1;

	if (fd < 0)
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	return fd;
}

struct child *
child_spawn(enum child_kind kind, const char *prog, char *const argv[],
	    const char *user, const char *rip, const struct spawn_as *as)
{
	char *path = xasprintf("%s/%s", master.cfg->libexec_dir, prog);
	int sv[2], lp[2], devnull;
	struct spawn_req rq;
	char **envp, **sargv = NULL;
	struct child *c;
	pid_t pid;

	devnull = devnull_fd();
	if (devnull < 0) {
		log_error("cannot start %s: /dev/null: %m", prog);
		free(path);
		return NULL;
	}
	/* A session is started as root and told whom to become: the
	 * spawned child, which moatd waits for, must not be the user's to
	 * stop (spawn.c). */
	if (as != NULL && as->change_ids) {
		sargv = spawn_session_argv(argv, as, master.pid);
		if (sargv == NULL) {
			log_error("cannot start %s for user=%s: %m", prog,
				  LOG_Q(as->user));
			free(path);
			return NULL;
		}
		argv = sargv;
	}
	if (net_seqpacket_pair(sv, false) < 0) {
		log_error("cannot start %s: socketpair: %m", prog);
		spawn_argv_free(&sargv);
		free(path);
		return NULL;
	}
	if (pipe2(lp, O_CLOEXEC) < 0) {
		log_error("cannot start %s: pipe: %m", prog);
		close(sv[0]);
		close(sv[1]);
		spawn_argv_free(&sargv);
		free(path);
		return NULL;
	}
	envp = spawn_env_new(master.cfg->import_environment);
	rq.path = path;
	rq.argv = argv;
	rq.envp = envp;
	rq.fds[0] = devnull;
	rq.fds[1] = devnull;
	rq.fds[2] = lp[1];
	rq.fds[3] = sv[1];
	rq.chdir_root = as != NULL;
	rq.ppid = master.pid;
	pid = spawn_run(&rq);
	spawn_env_free(&envp);
	spawn_argv_free(&sargv);
	if (pid < 0) {
		log_error("cannot start %s: %m", prog);
		close(sv[0]);
		close(sv[1]);
		close(lp[0]);
		close(lp[1]);
		free(path);
		return NULL;
	}
	free(path);
	close(sv[1]);
	close(lp[1]);
	/* Only our ends: the child keeps blocking descriptors and decides
	 * for itself. */
	(void)net_set_nonblock(sv[0], true);
	(void)net_set_nonblock(lp[0], true);

	c = xcalloc(1, sizeof(*c));
	c->kind = kind;
	c->pid = pid;
	c->started_ms = ev_now_ms(master.ev);
	c->ipc_fd = sv[0];
	list_init(&c->conns);
	list_init(&c->pending);
	if (user != NULL)
		c->user = xstrdup(user);
	if (rip != NULL)
		str_copy(c->rip, rip, sizeof(c->rip));
	c->ipc_io = ev_io_add(master.ev, c->ipc_fd, EV_READ, child_ipc_cb, c);
	c->lp = logpipe_new(lp[0], kind_prog[kind], user, rip);
	logpipe_set_pid(c->lp, pid);
	logpipe_set_owner(c->lp, &c->lp);
	list_add_tail(&master.children, &c->link);
	htab_put(master.by_pid, htab_u32_key((uint32_t)pid), c);
	master.n_children++;
	log_debug("started %s", child_name(c));
	return c;
}

struct child *
child_spawn_auth(void)
{
	char *argv[] = { "auth", "-c", master.config_path, NULL };
	struct child *c;

	c = child_spawn(CHILD_AUTH, "auth", argv, NULL, NULL, NULL);
	if (c == NULL)
		return NULL;
	c->slot = &master.auth_slot;
	master.auth_first_id = master.next_req_id;
	return c;
}

struct child *
child_spawn_login(struct slot *slot)
{
	char *argv[] = { "imap-login", "-c", master.config_path, NULL };
	struct child *c;

	c = child_spawn(CHILD_LOGIN, "imap-login", argv, NULL, NULL, NULL);
	if (c == NULL)
		return NULL;
	c->slot = slot;
	c->login_id = ++master.next_login_id;
	return c;
}

/* moat-lmtp: root, like auth; it drops its own privileges (lmtp/main.c). */
struct child *
child_spawn_lmtp(void)
{
	char *argv[] = { "lmtp", "-c", master.config_path, NULL };
	struct child *c;

	c = child_spawn(CHILD_LMTP, "lmtp", argv, NULL, NULL, NULL);
	if (c == NULL)
		return NULL;
	c->slot = &master.lmtp_slot;
	return c;
}

static void slot_died(struct slot *s, uint64_t lived_ms);

static void
slot_timer_cb(struct ev_timer *t, void *ctx)
{
	struct slot *s = ctx;

	ev_timer_del(&s->timer);
	if (!master.stopping && s->c == NULL)
		slot_start(s);
}

void
slot_start(struct slot *s)
{
	struct child *c;

	c = s->kind == CHILD_AUTH ? child_spawn_auth() :
	    s->kind == CHILD_LMTP ? child_spawn_lmtp() : child_spawn_login(s);
	s->c = c;
	if (c == NULL)
		slot_died(s, 0);
}

/* Respawn policy: at once after a process that ran long enough to be
 * called stable, otherwise after a back-off that doubles from 100 ms up
 * to 30 s, so a child that crashes at start-up cannot make moatd fork in
 * a tight loop. */
static void
slot_died(struct slot *s, uint64_t lived_ms)
{
	if (lived_ms >= MASTER_RESPAWN_STABLE_MS)
		s->backoff_ms = 0;
	else if (s->backoff_ms == 0)
		s->backoff_ms = MASTER_BACKOFF_MIN_MS;
	else if (s->backoff_ms < MASTER_BACKOFF_MAX_MS / 2)
		s->backoff_ms *= 2;
	else
		s->backoff_ms = MASTER_BACKOFF_MAX_MS;

	if (master.stopping)
		return;
	if (s->backoff_ms == 0) {
		slot_start(s);
		return;
	}
	log_info("restarting %s in %llu ms", kind_prog[s->kind],
		 (unsigned long long)s->backoff_ms);
	ev_timer_del(&s->timer);
	s->timer = ev_timer_add(master.ev, s->backoff_ms, slot_timer_cb, s);
}

/* The slot is retired (reload): its process, if any, stays alive but is
 * no longer respawned. */
void
slot_free(struct slot **sp)
{
	struct slot *s = *sp;

	if (s == NULL)
		return;
	ev_timer_del(&s->timer);
	if (s->c != NULL)
		s->c->slot = NULL;
	if (s != &master.auth_slot && s != &master.lmtp_slot)
		free(s);
	*sp = NULL;
}

static void
outq_clear(struct child *c)
{
	while (c->outq_len > 0) {
		struct outmsg *m = &c->outq[c->outq_head];

		ipc_out_free(&m->o);
		if (m->fd >= 0)
			close(m->fd);
		c->outq_head = (c->outq_head + 1) % MASTER_OUTQ_MAX;
		c->outq_len--;
	}
	free(c->outq);
	c->outq = NULL;
	c->outq_head = 0;
}

void
child_ipc_close(struct child *c)
{
	if (c->ipc_fd < 0)
		return;
	ev_io_del(&c->ipc_io);
	close(c->ipc_fd);
	c->ipc_fd = -1;
	outq_clear(c);
	switch (c->kind) {
	case CHILD_LOGIN:
		login_gone(c);
		break;
	case CHILD_AUTH:
		auth_gone();
		break;
	case CHILD_IMAP:
	case CHILD_LMTP:
		break;
	}
}

void
child_violation(struct child *c, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_error("%s: %s; killing it", child_name(c), why);
	if (c->pid > 0)
		(void)kill(c->pid, SIGKILL);
	child_ipc_close(c);
}

int
child_send(struct child *c, struct ipc_out *o, int fd)
{
	struct outmsg *m;

	if (c->ipc_fd < 0) {
		ipc_out_free(o);
		if (fd >= 0)
			close(fd);
		errno = EPIPE;
		return -1;
	}
	if (c->outq_len == 0) {
		if (ipc_send(c->ipc_fd, o, fd) == 0) {
			ipc_out_free(o);
			if (fd >= 0)
				close(fd);
			return 0;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			if (errno == EMSGSIZE)
				log_error("message to %s too large",
					  child_name(c));
			else
				log_debug("sending to %s: %m", child_name(c));
			ipc_out_free(o);
			if (fd >= 0)
				close(fd);
			return -1;
		}
	}
	if (c->outq_len >= MASTER_OUTQ_MAX) {
		ipc_out_free(o);
		if (fd >= 0)
			close(fd);
		child_violation(c, "not reading its IPC socket (%u messages "
				"queued)", c->outq_len);
		errno = ENOBUFS;
		return -1;
	}
	if (c->outq == NULL)
		c->outq = xcalloc(MASTER_OUTQ_MAX, sizeof(*c->outq));
	m = &c->outq[(c->outq_head + c->outq_len) % MASTER_OUTQ_MAX];
	m->o = *o;
	m->fd = fd;
	o->b = NULL;
	c->outq_len++;
	ev_io_set(c->ipc_io, EV_READ | EV_WRITE);
	return 0;
}

static void
child_flush(struct child *c)
{
	while (c->outq_len > 0) {
		struct outmsg *m = &c->outq[c->outq_head];

		if (ipc_send(c->ipc_fd, &m->o, m->fd) < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* The peer is gone; its EOF will clean up. */
			log_debug("sending to %s: %m", child_name(c));
		}
		ipc_out_free(&m->o);
		if (m->fd >= 0)
			close(m->fd);
		m->fd = -1;
		c->outq_head = (c->outq_head + 1) % MASTER_OUTQ_MAX;
		c->outq_len--;
	}
	c->outq_head = 0;
	ev_io_set(c->ipc_io, EV_READ);
}

static void
child_dispatch(struct child *c, const struct ipc_msg *msg)
{
	if (msg->type >= 32 || (kind_allowed[c->kind] & TBIT(msg->type)) == 0) {
		if (msg->fd >= 0)
			close(msg->fd);
		child_violation(c, "unexpected message type %u",
				(unsigned int)msg->type);
		return;
	}
	switch (c->kind) {
	case CHILD_LOGIN:
		login_msg(c, msg);
		break;
	case CHILD_AUTH:
		auth_msg(c, msg);
		break;
	case CHILD_IMAP:
	case CHILD_LMTP:
		/* No type is allowed: unreachable. */
		break;
	}
}

static void
child_ipc_cb(struct ev_io *io, int fd, unsigned int events, void *ctx)
{
	struct child *c = ctx;
	struct ipc_msg msg;

	if ((events & EV_WRITE) != 0 && c->outq_len > 0)
		child_flush(c);
	/* A bounded batch per wake-up, so one chatty child cannot starve
	 * the others. */
	for (int i = 0; i < 64 && c->ipc_fd >= 0; i++) {
		enum ipc_recv_result r;

		r = ipc_recv(c->ipc_fd, rxbuf, sizeof(rxbuf), &msg);
		switch (r) {
		case IPC_RECV_AGAIN:
			return;
		case IPC_RECV_EOF:
			log_debug("%s closed its IPC socket", child_name(c));
			child_ipc_close(c);
			return;
		case IPC_RECV_ERROR:
			log_error("reading from %s: %m", child_name(c));
			child_ipc_close(c);
			return;
		case IPC_RECV_MALFORMED:
			child_violation(c, "malformed message");
			return;
		case IPC_RECV_OK:
			break;
		}
		child_dispatch(c, &msg);
		/* Requests may carry passwords and cookies. */
		explicit_bzero(rxbuf, IPC_HDR_LEN + msg.payload_len);
	}
}

void
children_signal_all(int signo)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &master.children) {
		struct child *c = list_entry(pos, struct child, link);

		c->term_sent = true;
		(void)kill(c->pid, signo);
	}
}

static void
log_exit(struct child *c, int status)
{
	bool expected = c->term_sent || master.stopping;

	if (WIFEXITED(status)) {
		int code = WEXITSTATUS(status);

		if (code == 0 || (expected && c->kind != CHILD_IMAP))
			log_info("%s exited with status %d", child_name(c),
				 code);
		else
			log_error("%s exited with status %d", child_name(c),
				  code);
	} else if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);

		if (expected && (sig == SIGTERM || sig == SIGKILL))
			log_info("%s killed by signal %d", child_name(c), sig);
		else
			log_error("%s killed by signal %d%s", child_name(c),
				  sig, WCOREDUMP(status) ? " (core dumped)" :
				  "");
	}
}

static void
child_exited(struct child *c, int status)
{
	uint64_t lived = ev_now_ms(master.ev) - c->started_ms;
	struct slot *s;

	/* Messages it sent before dying (auth's last answers, a login's
	 * CONN_DONE) are still in the socket; handle them before the
	 * close answers whatever is left as failed. */
	if (c->ipc_fd >= 0)
		child_ipc_cb(c->ipc_io, c->ipc_fd, EV_READ, c);
	child_ipc_close(c);
	s = c->slot;
	if (c->lp != NULL) {
		logpipe_detach(c->lp);
		c->lp = NULL;
	}
	log_exit(c, status);
	if (c->kind == CHILD_IMAP)
		session_imap_gone(c);
	list_del(&c->link);
	master.n_children--;
	if (s != NULL) {
		s->c = NULL;
		c->slot = NULL;
		slot_died(s, lived);
	}
	free(c->user);
	free(c);
}

void
children_reap(void)
{
	for (;;) {
		struct child *c;
		int status;
		pid_t pid;

		pid = waitpid(-1, &status, WNOHANG);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid <= 0)
			break;
		c = htab_del(master.by_pid, htab_u32_key((uint32_t)pid));
		if (c == NULL) {
			log_debug("reaped unknown process %ld", (long)pid);
			continue;
		}
		child_exited(c, status);
	}
	master_maybe_finish();
}
