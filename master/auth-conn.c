/*
 * auth-conn: moatd's side of the auth process. Requests from login
 * processes (AUTH_REQ) and moatd's own cookie checks (COOKIE_REDEEM) are
 * sent to auth under moatd's request ids; each id is pending until auth
 * answers it, the request times out, or auth dies (then the requester
 * gets TEMPFAIL).
 *
 * A pending request is a bounded resource (in all, per login process,
 * per client address group): auth answers failures at once, with the
 * delay the login process is to wait out before it answers its client,
 * so a request holds its slot only while auth checks it and a flood of
 * wrong passwords cannot keep everybody else's logins waiting.
 *
 * Callers: login-conn.c and session.c (requests), children.c (messages,
 * death of auth).
 * Trust: auth runs as root but is still a separate process that parses
 * PAM and passwd-file data; its answers must be of the type the request
 * expects, carry an id moatd issued, and decode exactly, or it is
 * killed (and respawned).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/str.h"
#include "master/master.h"

struct child *
auth_child(void)
{
	return master.auth_slot.c;
}

bool
auth_available(void)
{
	return child_ipc_alive(master.auth_slot.c);
}

static void pending_timeout(struct ev_timer *t, void *ctx);

uint32_t
auth_delay_left(uint64_t since_ms)
{
	uint64_t due = since_ms + master.cfg->auth_failure_delay_ms;
	uint64_t now = ev_now_ms(master.ev);

	if (due <= now)
		return 0;
	return due - now > IPC_AUTH_DELAY_MAX ? IPC_AUTH_DELAY_MAX :
	       (uint32_t)(due - now);
}

/* A flood is what fills these limits: one line a second for all of
 * them, or the log becomes the next thing to fill. */
static void
pending_refused(const char *who, const char *limit, unsigned int n)
{
	static struct log_limit ll;
	unsigned long dropped;

	if (!log_limit_pass(&ll, &dropped))
		return;
	if (dropped > 0)
		log_warn("too many requests waiting for auth %s%s (%u, %s): "
			 "refused (and %lu more refusals not logged)",
			 who[0] != '\0' ? "from " : "", who, n, limit,
			 dropped);
	else
		log_warn("too many requests waiting for auth %s%s (%u, %s): "
			 "refused", who[0] != '\0' ? "from " : "", who, n,
			 limit);
}

struct pending *
pending_new(enum pending_kind kind, struct child *login, uint32_t login_req_id,
	    const char *group)
{
	struct pending *p;
	unsigned int n_ip = 0;
	uint32_t id;

	if (master.n_pending >= MASTER_PENDING_MAX) {
		pending_refused("", "in all", master.n_pending);
		return NULL;
	}
	if (login != NULL && login->n_pending >= MASTER_PENDING_PER_LOGIN) {
		pending_refused(child_name(login), "per login process",
				login->n_pending);
		return NULL;
	}
	if (group != NULL) {
		n_ip = htab_counter_get(master.pending_per_ip, group,
					strlen(group));
		if (n_ip >= MASTER_PENDING_PER_IP &&
		    master.n_pending >= MASTER_PENDING_BUSY) {
			pending_refused(group, "per address", n_ip);
			return NULL;
		}
	}
	do
		id = master.next_req_id++;
	while (id == 0 || htab_get(master.pending, htab_u32_key(id)) != NULL);

	p = xcalloc(1, sizeof(*p));
	p->id = id;
	p->kind = kind;
	p->login = login;
	p->login_req_id = login_req_id;
	p->arrived_ms = ev_now_ms(master.ev);
	if (group != NULL) {
		(void)str_copy(p->group, group, sizeof(p->group));
		(void)htab_counter_add(master.pending_per_ip, p->group,
				       strlen(p->group), 1);
	}
	p->timer = ev_timer_add(master.ev, MASTER_AUTH_TIMEOUT_MS,
				pending_timeout, p);
	if (login != NULL) {
		list_add_tail(&login->pending, &p->login_link);
		login->n_pending++;
	} else {
		list_init(&p->login_link);
	}
	list_add_tail(&master.pending_all, &p->all_link);
	htab_put(master.pending, htab_u32_key(id), p);
	master.n_pending++;
	return p;
}

void
pending_free(struct pending *p)
{
	(void)htab_del(master.pending, htab_u32_key(p->id));
	ev_timer_del(&p->timer);
	if (p->login != NULL) {
		list_del(&p->login_link);
		p->login->n_pending--;
	}
	list_del(&p->all_link);
	if (p->sr != NULL)
		session_req_free(p->sr);
	if (p->group[0] != '\0')
		(void)htab_counter_add(master.pending_per_ip, p->group,
				       strlen(p->group), -1);
	master.n_pending--;
	free(p);
}

void
auth_reply_login(struct child *login, uint32_t req_id, uint32_t status,
		 const uint8_t *cookie, const char *user, uint32_t delay_ms)
{
	static const uint8_t zero[IPC_COOKIE_LEN];
	struct ipc_out o;

	ipc_out_init(&o, IPC_AUTH_RESULT, req_id);
	ipc_put_u32(&o, status);
	ipc_put_bytes(&o, cookie != NULL ? cookie : zero, IPC_COOKIE_LEN);
	ipc_put_str(&o, user);
	ipc_put_u32(&o, delay_ms);
	(void)child_send(login, &o, -1);
}

/* Answers p's requester with a failure and frees p. */
static void
pending_fail(struct pending *p, uint32_t status, const char *why)
{
	struct child *login = p->login;
	struct session_req *sr = p->sr;
	uint32_t req_id = p->login_req_id;
	uint32_t delay = auth_delay_left(p->arrived_ms);

	p->sr = NULL;
	pending_free(p);
	if (login == NULL)
		return;
	if (sr != NULL)
		session_req_fail(sr, login, status, why);
	else
		auth_reply_login(login, req_id, status, NULL, "", delay);
}

static void
pending_timeout(struct ev_timer *t, void *ctx)
{
	struct pending *p = ctx;

	log_warn("auth did not answer request %u within %d s", p->id,
		 MASTER_AUTH_TIMEOUT_MS / 1000);
	pending_fail(p, IPC_ST_TEMPFAIL, "auth did not answer in time");
}

void
auth_send(struct pending *p, struct ipc_out *o)
{
	uint32_t id = p->id;
	struct pending *still;

	if (!auth_available()) {
		ipc_out_free(o);
		pending_fail(p, IPC_ST_TEMPFAIL, "auth is not running");
		return;
	}
	if (child_send(master.auth_slot.c, o, -1) == 0)
		return;
	/* A failed send may have torn auth down and with it every pending
	 * request; only answer p if it still exists. */
	still = htab_get(master.pending, htab_u32_key(id));
	if (still != NULL)
		pending_fail(still, IPC_ST_TEMPFAIL, "cannot reach auth");
}

/* auth's IPC is closed: nobody will answer what is pending. */
void
auth_gone(void)
{
	struct list *pos, *tmp;

	if (!list_empty(&master.pending_all))
		log_warn("auth went away with %u requests pending",
			 master.n_pending);
	list_for_each_safe(pos, tmp, &master.pending_all)
		pending_fail(list_entry(pos, struct pending, all_link),
			     IPC_ST_TEMPFAIL, "auth went away");
}

/* An id moatd sent to this auth process but no longer tracks (it timed
 * out) is a late answer, not a protocol error. */
static bool
id_was_issued(uint32_t id)
{
	return (uint32_t)(id - master.auth_first_id) <
	       (uint32_t)(master.next_req_id - master.auth_first_id);
}

static void
handle_auth_result(struct child *c, struct pending *p,
		   const struct ipc_msg *msg)
{
	uint8_t cookie[IPC_COOKIE_LEN];
	char user[IPC_USER_MAX + 1];
	struct child *login;
	uint32_t status, req_id, delay;
	struct ipc_rd r;

	ipc_rd_init(&r, msg);
	if (ipc_get_u32(&r, &status) < 0 ||
	    ipc_get_fixed(&r, cookie, sizeof(cookie)) < 0 ||
	    ipc_get_str(&r, user, sizeof(user)) < 0 ||
	    ipc_get_u32(&r, &delay) < 0 || ipc_rd_end(&r) < 0 ||
	    status > IPC_ST_STATUS_MAX || delay > IPC_AUTH_DELAY_MAX ||
	    (status == IPC_ST_OK && user[0] == '\0')) {
		explicit_bzero(cookie, sizeof(cookie));
		child_violation(c, "malformed AUTH_RESULT");
		return;
	}
	login = p->login;
	req_id = p->login_req_id;
	/* Counters for moatctl stats; OK is counted when the session
	 * starts (session.c). */
	if (status == IPC_ST_FAIL)
		master.logins_failed++;
	else if (status == IPC_ST_TEMPFAIL)
		master.logins_tempfail++;
	else if (status == IPC_ST_THROTTLED) {
		master.logins_throttled++;
		control_note_throttled(p->group);
	}
	pending_free(p);
	if (login != NULL) {
		if (status != IPC_ST_OK) {
			explicit_bzero(cookie, sizeof(cookie));
			user[0] = '\0';
		} else {
			delay = 0;
		}
		auth_reply_login(login, req_id, status, cookie, user, delay);
	}
	explicit_bzero(cookie, sizeof(cookie));
}

static void
handle_cookie_user(struct child *c, struct pending *p,
		   const struct ipc_msg *msg)
{
	struct user_record rec;
	struct session_req *sr;
	struct child *login;
	struct ipc_rd r;
	const uint8_t *gp = NULL;
	size_t glen = 0;

	memset(&rec, 0, sizeof(rec));
	ipc_rd_init(&r, msg);
	/* groups: BE u32 gids, a whole number of them, at most
	 * IPC_GROUPS_MAX, none unless OK. Their values are session.c's
	 * check. */
	if (ipc_get_u32(&r, &rec.status) < 0 ||
	    ipc_get_str(&r, rec.user, sizeof(rec.user)) < 0 ||
	    ipc_get_u32(&r, &rec.uid) < 0 || ipc_get_u32(&r, &rec.gid) < 0 ||
	    ipc_get_str(&r, rec.home, sizeof(rec.home)) < 0 ||
	    ipc_get_str(&r, rec.mail, sizeof(rec.mail)) < 0 ||
	    ipc_get_bytes(&r, &gp, &glen, 4 * IPC_GROUPS_MAX) < 0 ||
	    ipc_rd_end(&r) < 0 || rec.status > IPC_ST_STATUS_MAX ||
	    glen % 4 != 0 || (rec.status != IPC_ST_OK && glen != 0)) {
		child_violation(c, "malformed COOKIE_USER");
		return;
	}
	rec.n_groups = glen / 4;
	for (size_t i = 0; i < rec.n_groups; i++)
		rec.groups[i] = (uint32_t)gp[4 * i] << 24 |
		    (uint32_t)gp[4 * i + 1] << 16 |
		    (uint32_t)gp[4 * i + 2] << 8 | (uint32_t)gp[4 * i + 3];
	login = p->login;
	sr = p->sr;
	p->sr = NULL;
	pending_free(p);
	if (sr == NULL)
		return;     /* the login process went away meanwhile */
	session_redeemed(sr, login, &rec);
}

void
auth_msg(struct child *c, const struct ipc_msg *msg)
{
	struct pending *p;

	if (msg->fd >= 0) {
		close(msg->fd);
		child_violation(c, "unexpected descriptor with message "
				"type %u", (unsigned int)msg->type);
		return;
	}
	if (c != master.auth_slot.c) {
		/* An auth process that is no longer current (cannot happen
		 * while only one runs, but never trust an old one). */
		child_violation(c, "message from a retired auth process");
		return;
	}
	p = htab_get(master.pending, htab_u32_key(msg->id));
	if (p == NULL) {
		if (id_was_issued(msg->id)) {
			log_warn("auth answered request %u after it timed "
				 "out; ignored", msg->id);
			return;
		}
		child_violation(c, "answer to request %u, which moatd never "
				"sent", msg->id);
		return;
	}
	if (msg->type == IPC_AUTH_RESULT && p->kind == PENDING_AUTH)
		handle_auth_result(c, p, msg);
	else if (msg->type == IPC_COOKIE_USER && p->kind == PENDING_REDEEM)
		handle_cookie_user(c, p, msg);
	else
		child_violation(c, "answer of type %u to request %u of the "
				"other kind", (unsigned int)msg->type,
				msg->id);
}
