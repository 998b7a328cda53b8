/*
 * login-conn: moatd's side of the imap-login processes: handing them
 * accepted connections (CONN), tracking those connections until
 * CONN_DONE, relaying their AUTH_REQ to auth (with the login id moatd
 * assigned and the connection's address from moatd's own record, which
 * the login process can choose neither of), telling them to wind down
 * (SHUTDOWN), and making room when they are full (CONN_DROP).
 *
 * Making room (issue 5): when every login slot is taken, the oldest
 * pre-auth connection is dropped for the new one, as Dovecot does
 * ("Connection queue full"), so that clients holding slots cannot lock
 * everyone else out. moatd picks the victim because only it sees every
 * login process's connections and their ages, and because a login
 * process (perhaps compromised) must not choose which of another
 * process's clients go. Candidates are kept in one list, oldest first;
 * a connection leaves it when its session starts or it is dropped. A
 * connection whose SESSION_REQ is being handled is never picked, and
 * sessions (handed off or TLS-proxied) are not in the table at all.
 *
 * Callers: listeners.c (new connections), children.c (messages, death),
 * auth-conn.c and session.c (answers).
 * Trust: a login process handles raw client traffic and may be
 * compromised. It may send only CONN_DONE, AUTH_REQ and SESSION_REQ;
 * each must decode exactly, name a connection that moatd gave to that
 * very process, and carry sane values. Anything else kills it.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/str.h"
#include "master/master.h"

/* Pre-auth connections that may be dropped, oldest first. */
static struct list preauth_age = LIST_INIT(preauth_age);
/* Dropped connections of login_per_connection processes: each such
 * process exits once its connection is gone. */
static unsigned int n_dropping_procs;

struct conn *
conn_find(uint32_t id)
{
	return htab_get(master.conns, htab_u32_key(id));
}

static uint32_t
conn_new_id(void)
{
	uint32_t id;

	do
		id = ++master.next_conn_id;
	while (id == 0 || conn_find(id) != NULL);
	return id;
}

static void
conn_free(struct conn *cn)
{
	if (cn->sr != NULL)
		session_req_conn_gone(cn->sr);
	list_del(&cn->login_link);
	list_del(&cn->age_link);
	if (cn->dropping) {
		cn->login->n_dropping--;
		if (cn->login->per_conn)
			n_dropping_procs--;
		ev_timer_del(&cn->drop_timer);
	}
	cn->login->n_conns--;
	if (cn->preauth)
		(void)htab_counter_add(master.preauth_per_ip, cn->group,
				       strlen(cn->group), -1);
	(void)htab_del(master.conns, htab_u32_key(cn->id));
	free(cn);
}

void
conn_session_started(struct conn *cn)
{
	if (!cn->preauth)
		return;
	cn->preauth = false;
	list_del(&cn->age_link);
	(void)htab_counter_add(master.preauth_per_ip, cn->group,
			       strlen(cn->group), -1);
}

struct child *
login_pick(void)
{
	unsigned int max = master.cfg->login_max_connections;
	struct child *best = NULL;

	for (size_t i = 0; i < master.pool_n; i++) {
		struct child *c = master.pool[i]->c;

		if (c == NULL || !child_ipc_alive(c) || c->shutting_down)
			continue;
		/* Dropped connections are leaving: they hold no slot. */
		if (max > 0 && c->n_conns - c->n_dropping >= max)
			continue;
		if (best == NULL || c->n_conns - c->n_dropping <
		    best->n_conns - best->n_dropping)
			best = c;
	}
	return best;
}

/* One line a second at most: under a flood every accept drops one. */
static void
drop_log(const struct conn *cn, const char *why)
{
	static uint64_t last_ms;
	static unsigned long suppressed;
	uint64_t now = ev_now_ms(master.ev);

	if (last_ms != 0 && now - last_ms < 1000) {
		suppressed++;
		return;
	}
	log_warn("rip=%s lip=%s %s: dropping the oldest pre-auth "
		 "connection (%llu s old) to make room%s", cn->rip, cn->lip,
		 why, (unsigned long long)((now - cn->start_ms) / 1000),
		 suppressed > 0 ? " (and more not logged)" : "");
	last_ms = now;
	suppressed = 0;
}

static void
drop_timeout_cb(struct ev_timer *t, void *ctx)
{
	struct conn *cn = ctx;

	/* Frees cn (login_gone). */
	child_violation(cn->login, "kept connection %u for %u s after "
			"CONN_DROP", cn->id, MASTER_DROP_TIMEOUT_MS / 1000);
}

/* For whom a victim must make room. */
enum room { ROOM_POOL, ROOM_PROCESS };

static bool
conn_may_go(const struct conn *cn, enum room room)
{
	const struct child *c = cn->login;

	/* Its SESSION_REQ is being handled: the session decides. */
	if (cn->sr != NULL || !child_ipc_alive(c))
		return false;
	if (room == ROOM_POOL)
		/* A slot login_pick() can give out again. */
		return !c->shutting_down;
	/* A process that exits once this connection is gone. */
	return c->per_conn && c->n_conns == 1;
}

static bool
login_drop_oldest(enum room room, const char *why)
{
	struct list *pos;
	struct ipc_out o;
	struct conn *cn = NULL;

	for (pos = preauth_age.next; pos != &preauth_age; pos = pos->next) {
		struct conn *x = list_entry(pos, struct conn, age_link);

		if (conn_may_go(x, room)) {
			cn = x;
			break;
		}
	}
	if (cn == NULL)
		return false;
	drop_log(cn, why);
	list_del(&cn->age_link);
	cn->dropping = true;
	cn->login->n_dropping++;
	if (cn->login->per_conn)
		n_dropping_procs++;
	cn->drop_timer = ev_timer_add(master.ev, MASTER_DROP_TIMEOUT_MS,
				      drop_timeout_cb, cn);
	ipc_out_init(&o, IPC_CONN_DROP, cn->id);
	/* On failure the process is dead or being killed; either way the
	 * connection goes. Do not touch cn after this. */
	(void)child_send(cn->login, &o, -1);
	return true;
}

bool
login_make_room(void)
{
	return login_drop_oldest(ROOM_POOL, "all login processes are at "
				 "login_max_connections");
}

bool
login_process_room(void)
{
	const struct moat_config *cfg = master.cfg;

	if (master.n_children < cfg->max_processes + n_dropping_procs)
		return true;
	/* In a pool, a pre-auth connection holds no process of its own. */
	if (!cfg->login_per_connection)
		return false;
	return login_drop_oldest(ROOM_PROCESS, "max_processes reached");
}

int
login_give_conn(struct child *login, int fd, uint32_t flags, const char *rip,
		uint16_t rport, const char *lip, uint16_t lport)
{
	struct ipc_out o;
	struct conn *cn;
	uint32_t id = conn_new_id();

	ipc_out_init(&o, IPC_CONN, id);
	ipc_put_u32(&o, flags);
	ipc_put_str(&o, rip);
	ipc_put_u32(&o, rport);
	ipc_put_str(&o, lip);
	ipc_put_u32(&o, lport);
	/* child_send closes our copy of the client socket once it is sent:
	 * from here on only the login process holds it. */
	if (child_send(login, &o, fd) < 0) {
		log_warn("rip=%s lip=%s could not hand the connection to %s",
			 rip, lip, child_name(login));
		return -1;
	}
	cn = xcalloc(1, sizeof(*cn));
	cn->id = id;
	cn->login = login;
	str_copy(cn->rip, rip, sizeof(cn->rip));
	str_copy(cn->lip, lip, sizeof(cn->lip));
	ipgroup_of(rip, cn->group);
	cn->rport = rport;
	cn->lport = lport;
	cn->preauth = true;
	cn->start_ms = ev_now_ms(master.ev);
	(void)htab_counter_add(master.preauth_per_ip, cn->group,
			       strlen(cn->group), 1);
	list_add_tail(&login->conns, &cn->login_link);
	list_add_tail(&preauth_age, &cn->age_link);
	login->n_conns++;
	htab_put(master.conns, htab_u32_key(id), cn);
	log_debug("rip=%s lip=%s connection %u (rport=%u lport=%u) to %s",
		  rip, lip, id, (unsigned int)rport, (unsigned int)lport,
		  child_name(login));
	return 0;
}

void
login_send_shutdown(struct child *c)
{
	struct ipc_out o;

	if (c->shutting_down)
		return;
	c->shutting_down = true;
	ipc_out_init(&o, IPC_SHUTDOWN, 0);
	(void)child_send(c, &o, -1);
}

void
login_reply_session(struct child *login, uint32_t conn_id, uint32_t status)
{
	struct ipc_out o;

	ipc_out_init(&o, IPC_SESSION_RESULT, conn_id);
	ipc_put_u32(&o, status);
	(void)child_send(login, &o, -1);
}

/* The login process is gone (EOF, error, or killed): forget its
 * connections and requests. Requests already sent to auth stay in the
 * table without an owner so auth's answer is still recognised. */
void
login_gone(struct child *c)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &c->pending) {
		struct pending *p = list_entry(pos, struct pending,
					       login_link);

		list_del(&p->login_link);
		p->login = NULL;
		if (p->sr != NULL) {
			session_req_free(p->sr);
			p->sr = NULL;
		}
	}
	c->n_pending = 0;
	if (!list_empty(&c->conns))
		log_debug("%s gone with %u connections", child_name(c),
			  c->n_conns);
	list_for_each_safe(pos, tmp, &c->conns)
		conn_free(list_entry(pos, struct conn, login_link));
}

static void
handle_conn_done(struct child *c, const struct ipc_msg *msg)
{
	struct ipc_rd r;
	struct conn *cn;

	ipc_rd_init(&r, msg);
	if (ipc_rd_end(&r) < 0) {
		child_violation(c, "malformed CONN_DONE");
		return;
	}
	cn = conn_find(msg->id);
	if (cn == NULL || cn->login != c) {
		child_violation(c, "CONN_DONE for connection %u, which is "
				"not its own", msg->id);
		return;
	}
	log_debug("rip=%s lip=%s connection %u done", cn->rip, cn->lip,
		  cn->id);
	conn_free(cn);
}

/* An AUTH_REQ names the connection its credentials came in on, which
 * must be one of this process's pre-auth connections. The address auth
 * throttles on and the connection the cookie is bound to are then
 * moatd's own record: a compromised login process can neither spread
 * guesses over made-up addresses (escaping auth's per-IP throttle) nor
 * authenticate as one client and start the session on another. */
static void
handle_auth_req(struct child *c, const struct ipc_msg *msg)
{
	char user[IPC_USER_MAX + 1], pass[IPC_PASS_MAX + 1];
	uint32_t conn_id;
	struct ipc_out o;
	struct ipc_rd r;
	struct pending *p;
	struct conn *cn;

	ipc_rd_init(&r, msg);
	if (ipc_get_u32(&r, &conn_id) < 0 ||
	    ipc_get_str(&r, user, sizeof(user)) < 0 ||
	    ipc_get_str(&r, pass, sizeof(pass)) < 0 || ipc_rd_end(&r) < 0) {
		explicit_bzero(pass, sizeof(pass));
		child_violation(c, "malformed AUTH_REQ");
		return;
	}
	cn = conn_find(conn_id);
	if (cn == NULL || cn->login != c || !cn->preauth) {
		explicit_bzero(pass, sizeof(pass));
		child_violation(c, "AUTH_REQ for connection %u, which is not "
				"one of its pre-auth connections", conn_id);
		return;
	}
	if (master.stopping || !auth_available()) {
		explicit_bzero(pass, sizeof(pass));
		log_warn("rip=%s lip=%s cannot authenticate: auth is not "
			 "running", cn->rip, cn->lip);
		auth_reply_login(c, msg->id, IPC_ST_TEMPFAIL, NULL, "",
				 auth_delay_left(ev_now_ms(master.ev)));
		return;
	}
	p = pending_new(PENDING_AUTH, c, msg->id, cn->group);
	if (p == NULL) {
		explicit_bzero(pass, sizeof(pass));
		auth_reply_login(c, msg->id, IPC_ST_TEMPFAIL, NULL, "",
				 auth_delay_left(ev_now_ms(master.ev)));
		return;
	}
	ipc_out_init(&o, IPC_AUTH_REQ, p->id);
	ipc_put_u64(&o, c->login_id);
	ipc_put_u32(&o, cn->id);
	ipc_put_str(&o, user);
	ipc_put_str(&o, pass);
	ipc_put_str(&o, cn->rip);
	explicit_bzero(pass, sizeof(pass));
	auth_send(p, &o);
}

void
login_msg(struct child *c, const struct ipc_msg *msg)
{
	if (msg->type != IPC_SESSION_REQ && msg->fd >= 0) {
		close(msg->fd);
		child_violation(c, "unexpected descriptor with message "
				"type %u", (unsigned int)msg->type);
		return;
	}
	switch (msg->type) {
	case IPC_CONN_DONE:
		handle_conn_done(c, msg);
		break;
	case IPC_AUTH_REQ:
		handle_auth_req(c, msg);
		break;
	case IPC_SESSION_REQ:
		(void)session_req_handle(c, msg);
		break;
	default:
		/* children.c only passes the types above. */
		child_violation(c, "unexpected message type %u",
				(unsigned int)msg->type);
		break;
	}
}
