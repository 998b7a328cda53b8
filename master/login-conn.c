/*
 * login-conn: moatd's side of the imap-login processes: handing them
 * accepted connections (CONN), tracking those connections until
 * CONN_DONE, relaying their AUTH_REQ to auth (with the login id moatd
 * assigned and the connection's address from moatd's own record, which
 * the login process can choose neither of), and telling them to wind
 * down (SHUTDOWN).
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
		if (max > 0 && c->n_conns >= max)
			continue;
		if (best == NULL || c->n_conns < best->n_conns)
			best = c;
	}
	return best;
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
		log_warn("could not hand connection from %s to %s", rip,
			 child_name(login));
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
	(void)htab_counter_add(master.preauth_per_ip, cn->group,
			       strlen(cn->group), 1);
	list_add_tail(&login->conns, &cn->login_link);
	login->n_conns++;
	htab_put(master.conns, htab_u32_key(id), cn);
	log_debug("connection %u from %s:%u to %s", id, rip,
		  (unsigned int)rport, child_name(login));
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
	log_debug("connection %u from %s done", cn->id, cn->rip);
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
		log_warn("authentication for %s failed: auth is not running",
			 cn->rip);
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
