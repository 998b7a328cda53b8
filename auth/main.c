/*
 * auth: the credential checker (design.md, "The login path").
 *
 * Started by moatd as root: `auth -c CONFIG`, fd 3 = SOCK_SEQPACKET IPC
 * socket to moatd (its only peer), fd 2 = log pipe. The main process
 * keeps the state that must outlive a request -- the cookie table and
 * per-address failure counts -- and hands the slow work (crypt, PAM) to
 * a pool of worker processes (wpool.c, worker.c).
 *
 * Trust: moatd is trusted to have attached the right login id, but the
 * user name, password and (through a compromised login process) the
 * cookies in its messages come from outside; every field is bounded and
 * validated. A frame that breaks the protocol (unknown type, wrong field
 * kinds, a descriptor) means moatd is broken: log_fatal, moatd restarts
 * us. Bad content inside a well-formed request (an empty or unprintable
 * user name, an overlong password) is a failed login, not a crash, so a
 * client cannot take auth down by typing odd bytes.
 *
 * Replies: every answer is sent as soon as it is known, so no request
 * sits in moatd's relay while a failure is delayed. FAIL, TEMPFAIL and
 * THROTTLED carry the part of auth_failure_delay still to run since the
 * request arrived, whatever the reason; the login process waits that
 * out before answering its client, so the client's timing does not tell
 * a wrong password from an unknown user, or from a right one for an
 * account that may not log in (the worker refuses those as FAIL).
 * Throttling (throttle.h) counts a request when it arrives: it takes a
 * slot of its address before a worker sees it, waits if the address has
 * no slot left, and is refused without asking a worker once the address
 * is throttled. A check that timed out (a hung PAM module) counts as a
 * failure: it held a worker for auth_worker_timeout.
 * Mail location: an empty per-user location is replaced with the global
 * mail_location here, so COOKIE_USER always carries a usable one.
 * Groups: the worker looked up the user's supplementary groups; they
 * are kept with the cookie and sent in COOKIE_USER, so moatd does no
 * NSS lookup of its own.
 * Cookies are bound to moatd's login id and connection id from the
 * AUTH_REQ and redeemed only for the same pair.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/ev.h"
#include "core/ipc.h"
#include "core/log.h"
#include "core/net.h"
#include "core/rand.h"
#include "core/str.h"
#include "cookie.h"
#include "throttle.h"
#include "wpool.h"

#define MOATD_FD 3
/* Requests in flight at once (at a worker or queued for one). Beyond
 * that, answer TEMPFAIL at once: memory stays bounded even if moatd
 * forwards without limit. */
#define AUTH_PENDING_MAX 32768
/* Replies waiting for moatd to read; a moatd that stops reading for
 * this long is broken. */
#define OUTQ_MAX 65536
/* Messages handled per wake-up before looking at other descriptors. */
#define RECV_BATCH 64
#define SWEEP_MS 1000

struct auth_req {
	struct wpool_job job;        /* first: see req_of() */
	struct throttle_waiter tw;   /* while waiting for a throttle slot */
	uint32_t id;                 /* moatd's request id */
	uint64_t login_id;
	uint32_t conn_id;            /* moatd's id of the client connection */
	uint64_t arrived_ms;
	const char *unusable;        /* why it fails without a check */
	bool has_slot;               /* throttle_begin said GO */
	char user[IPC_USER_MAX + 1];
	char rip[IPC_IP_MAX];
	struct auth_req *prev, *next;
	struct auth_req *ready_next; /* woken, to be started */
};

struct outmsg {
	struct ipc_out o;
	struct outmsg *next;
};

static struct {
	const char *cfg_path;
	struct moat_config *cfg;
	struct ev *ev;
	struct ev_io *io;
	struct ev_timer *sweep;
	struct cookie_table *cookies;
	struct throttle *thr;
	struct wpool *pool;
	struct auth_req *reqs;       /* every request in flight */
	size_t nreqs;
	struct auth_req *ready, *ready_tail;   /* woken by the throttle */
	bool starting;               /* start_ready() is running */
	uint64_t full_logged_ms;     /* last "throttle table full" line */
	struct outmsg *outq, *outq_tail;
	size_t outq_len;
	bool stopping;
} A;

/* Receive buffer for moatd's messages (they carry passwords: wiped
 * after each message), and scratch space big enough for any string a
 * well-formed frame can hold, so over-long fields are checked by us
 * (failed login) rather than by the decoder (fatal). */
static uint8_t rbuf[IPC_MSG_MAX];
static char scratch_user[IPC_MSG_MAX];
static char scratch_pass[IPC_MSG_MAX];

static void shutdown_auth(void);
static void start_check(struct auth_req *r);

/* ---- sending to moatd ---- */

static void
outq_flush(void)
{
	struct outmsg *m;

	while ((m = A.outq) != NULL) {
		if (ipc_send(MOATD_FD, &m->o, -1) < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR)
				return;
			log_error("send to moatd: %m");
			shutdown_auth();
			return;
		}
		A.outq = m->next;
		if (A.outq == NULL)
			A.outq_tail = NULL;
		A.outq_len--;
		ipc_out_free(&m->o);
		free(m);
	}
	if (A.io != NULL)
		ev_io_set(A.io, EV_READ);
}

/* Sends o to moatd or queues it; takes ownership of o. */
static void
moatd_send(struct ipc_out *o)
{
	struct outmsg *m;

	if (A.stopping) {
		ipc_out_free(o);
		return;
	}
	if (A.outq == NULL) {
		if (ipc_send(MOATD_FD, o, -1) == 0) {
			ipc_out_free(o);
			return;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR) {
			log_error("send to moatd: %m");
			ipc_out_free(o);
			shutdown_auth();
			return;
		}
	}
	if (A.outq_len >= OUTQ_MAX)
		log_fatal("moatd does not read its replies (%u queued)",
			  OUTQ_MAX);
	m = xcalloc(1, sizeof(*m));
	m->o = *o;
	if (A.outq_tail != NULL)
		A.outq_tail->next = m;
	else
		A.outq = m;
	A.outq_tail = m;
	A.outq_len++;
	ev_io_set(A.io, EV_READ | EV_WRITE);
}

/* delay_ms: how long the login process must still wait before it
 * answers its client (0 with OK). */
static void
send_auth_result(uint32_t id, uint32_t status, const uint8_t *cookie,
		 const char *user, uint64_t delay_ms)
{
	static const uint8_t zeros[IPC_COOKIE_LEN];
	struct ipc_out o;

	if (delay_ms > IPC_AUTH_DELAY_MAX)
		delay_ms = IPC_AUTH_DELAY_MAX;
	ipc_out_init(&o, IPC_AUTH_RESULT, id);
	ipc_put_u32(&o, status);
	ipc_put_bytes(&o, cookie != NULL ? cookie : zeros, IPC_COOKIE_LEN);
	ipc_put_str(&o, user != NULL ? user : "");
	ipc_put_u32(&o, (uint32_t)delay_ms);
	moatd_send(&o);
}

/* ---- requests ---- */

static struct auth_req *
req_of(struct wpool_job *job)
{
	return (struct auth_req *)(void *)((char *)job -
					   offsetof(struct auth_req, job));
}

static struct auth_req *
req_new(uint32_t id, uint64_t login_id, uint32_t conn_id, const char *user,
	const char *rip)
{
	struct auth_req *r = xcalloc(1, sizeof(*r));

	r->id = id;
	r->login_id = login_id;
	r->conn_id = conn_id;
	r->arrived_ms = ev_now_ms(A.ev);
	/* Both fit: the caller checked the lengths. */
	(void)str_copy(r->user, user, sizeof(r->user));
	(void)str_copy(r->rip, rip, sizeof(r->rip));
	r->job.user = r->user;
	r->job.rip = r->rip;
	r->next = A.reqs;
	if (A.reqs != NULL)
		A.reqs->prev = r;
	A.reqs = r;
	A.nreqs++;
	return r;
}

static void
req_free(struct auth_req *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		A.reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	A.nreqs--;
	str_free_wipe(&r->job.password);
	explicit_bzero(r, sizeof(*r));
	free(r);
}

/* Answers r with a non-OK status now, and frees it. The answer says how
 * much of auth_failure_delay is left since the request arrived: the
 * login process holds the client's answer back that long (design.md,
 * "The login path"). Holding it here instead would keep moatd's relay
 * slot for the request busy for the whole delay, which is how a flood
 * of wrong passwords locked everybody out. */
static void
reply_later(struct auth_req *r, uint32_t status)
{
	uint64_t due = r->arrived_ms + A.cfg->auth_failure_delay_ms;
	uint64_t now = ev_now_ms(A.ev);

	send_auth_result(r->id, status, NULL, NULL, due > now ? due - now : 0);
	req_free(r);
}

/* ---- throttle slots ---- */

static struct auth_req *
req_of_waiter(struct throttle_waiter *w)
{
	return (struct auth_req *)(void *)((char *)w -
					   offsetof(struct auth_req, tw));
}

/* Runs the requests the throttle has decided. Not recursive: a request
 * started here may end at once (an unusable name) and wake the next
 * one, which is queued and run by the same loop. */
static void
start_ready(void)
{
	struct auth_req *r;

	if (A.starting)
		return;
	A.starting = true;
	while ((r = A.ready) != NULL) {
		A.ready = r->ready_next;
		if (A.ready == NULL)
			A.ready_tail = NULL;
		r->ready_next = NULL;
		if (r->has_slot) {
			start_check(r);
		} else {
			log_debug("rip=%s throttled: user=%s", r->rip,
				  LOG_Q(r->user));
			str_free_wipe(&r->job.password);
			reply_later(r, IPC_ST_THROTTLED);
		}
	}
	A.starting = false;
}

static void
throttle_woken(struct throttle_waiter *w, enum throttle_verdict v, void *ctx)
{
	struct auth_req *r = req_of_waiter(w);

	(void)ctx;
	r->has_slot = v == THROTTLE_GO;
	if (A.ready_tail != NULL)
		A.ready_tail->ready_next = r;
	else
		A.ready = r;
	A.ready_tail = r;
}

/* The check of r has ended; returns its slot, counting a failure. */
static void
slot_done(struct auth_req *r, bool failed)
{
	if (!r->has_slot)
		return;
	r->has_slot = false;
	if (throttle_end(A.thr, r->rip, ev_now_ms(A.ev), failed,
			 throttle_woken, NULL))
		log_warn("rip=%s address throttled: %u failed logins "
			 "within %llu s", r->rip, A.cfg->auth_throttle_failures,
			 (unsigned long long)(A.cfg->auth_throttle_window_ms /
					      1000));
	start_ready();
}

static void
login_failed(struct auth_req *r, const char *why)
{
	/* The line doc/fail2ban.md's failregex matches: the address first,
	 * the user quoted (log.h). */
	log_info("rip=%s authentication failed: user=%s (%s)", r->rip,
		 LOG_Q(r->user), why);
	/* The slot first: reply_later frees r. */
	slot_done(r, true);
	reply_later(r, IPC_ST_FAIL);
}

static void
login_ok(struct auth_req *r, const struct auth_user *u)
{
	uint8_t cookie[IPC_COOKIE_LEN];
	struct auth_user rec = *u;
	uint64_t now = ev_now_ms(A.ev);

	if (rec.mail[0] == '\0')
		(void)str_copy(rec.mail, A.cfg->mail_location,
			       sizeof(rec.mail));
	rand_bytes(cookie, sizeof(cookie));
	/* The password was right: the slot goes back uncounted. r stays
	 * valid (slot_done only queues and starts others). */
	slot_done(r, false);
	if (cookie_table_add(A.cookies, cookie, r->login_id, r->conn_id, &rec,
			     now, now + A.cfg->auth_cookie_lifetime_ms) < 0) {
		explicit_bzero(cookie, sizeof(cookie));
		log_warn("rip=%s cookie table full (%zu): login refused: "
			 "user=%s", r->rip, cookie_table_count(A.cookies),
			 LOG_Q(rec.user));
		reply_later(r, IPC_ST_TEMPFAIL);
		return;
	}
	log_debug("rip=%s authenticated: user=%s login=%llu conn=%u",
		  r->rip, LOG_Q(rec.user), (unsigned long long)r->login_id,
		  r->conn_id);
	send_auth_result(r->id, IPC_ST_OK, cookie, rec.user, 0);
	explicit_bzero(cookie, sizeof(cookie));
	req_free(r);
}

static void
temp_failed(struct auth_req *r, bool count_as_failure)
{
	slot_done(r, count_as_failure);
	reply_later(r, IPC_ST_TEMPFAIL);
}

static void
job_done(struct wpool_job *job, enum auth_result res,
	 const struct auth_user *u, void *ctx)
{
	struct auth_req *r = req_of(job);

	(void)ctx;
	switch (res) {
	case AUTH_RES_OK:
		login_ok(r, u);
		break;
	case AUTH_RES_FAIL:
	case AUTH_RES_UNKNOWN:
		login_failed(r, "bad credentials");
		break;
	case AUTH_RES_TIMEOUT:
		log_info("rip=%s authentication timed out: user=%s", r->rip,
			 LOG_Q(r->user));
		temp_failed(r, true);
		break;
	case AUTH_RES_TEMPFAIL:
	default:
		log_info("rip=%s authentication temporarily failed: user=%s",
			 r->rip, LOG_Q(r->user));
		temp_failed(r, false);
		break;
	}
}

/* r holds a throttle slot: fail it at once if it cannot be checked,
 * else hand it to a worker. */
static void
start_check(struct auth_req *r)
{
	if (r->unusable != NULL) {
		login_failed(r, r->unusable);
		return;
	}
	if (wpool_submit(A.pool, &r->job) < 0) {
		str_free_wipe(&r->job.password);
		log_warn("rip=%s auth queue full (%d): user=%s answered "
			 "TEMPFAIL", r->rip, WPOOL_QUEUE_MAX, LOG_Q(r->user));
		temp_failed(r, false);
	}
}

/* ---- handlers for moatd's messages ---- */

static void
handle_auth_req(const struct ipc_msg *msg)
{
	char rip[256];
	uint64_t login_id;
	uint32_t conn_id;
	struct ipc_rd rd;
	struct auth_req *r;
	size_t plen;
	bool user_ok;

	ipc_rd_init(&rd, msg);
	if (ipc_get_u64(&rd, &login_id) < 0 ||
	    ipc_get_u32(&rd, &conn_id) < 0 ||
	    ipc_get_str(&rd, scratch_user, sizeof(scratch_user)) < 0 ||
	    ipc_get_str(&rd, scratch_pass, sizeof(scratch_pass)) < 0 ||
	    ipc_get_str(&rd, rip, sizeof(rip)) < 0 || ipc_rd_end(&rd) < 0)
		log_fatal("malformed AUTH_REQ from moatd");
	plen = strlen(scratch_pass);

	/* The address is moatd's own (from accept); a bad one is its bug. */
	if (strlen(rip) >= IPC_IP_MAX || !net_ip_valid(rip))
		log_fatal("AUTH_REQ from moatd with an invalid address");

	if (A.nreqs >= AUTH_PENDING_MAX) {
		log_warn("%zu authentications in flight: refusing more",
			 A.nreqs);
		send_auth_result(msg->id, IPC_ST_TEMPFAIL, NULL, NULL,
				 A.cfg->auth_failure_delay_ms);
		goto wipe;
	}
	/* An unusable name is kept out of the logs, not echoed. */
	user_ok = auth_user_name_valid(scratch_user);
	r = req_new(msg->id, login_id, conn_id,
		    user_ok ? scratch_user : "(invalid)", rip);
	/* Requests that fail without a check still count as failures
	 * (and take a slot like the others). */
	r->unusable = !user_ok ? "invalid user name" :
	    plen == 0 ? "empty password" :
	    plen > IPC_PASS_MAX ? "password too long" : NULL;
	if (r->unusable == NULL)
		r->job.password = xstrndup(scratch_pass, plen);
	switch (throttle_begin(A.thr, rip, r->arrived_ms, &r->tw)) {
	case THROTTLE_GO:
		r->has_slot = true;
		start_check(r);
		break;
	case THROTTLE_WAIT:
		/* Decided when a check from this address ends: r->tw is
		 * queued, and the password kept until then. */
		break;
	case THROTTLE_REFUSE:
		log_debug("rip=%s throttled: user=%s", rip, LOG_Q(r->user));
		str_free_wipe(&r->job.password);
		reply_later(r, IPC_ST_THROTTLED);
		break;
	case THROTTLE_FULL:
		if (r->arrived_ms - A.full_logged_ms >= 10000 ||
		    A.full_logged_ms == 0) {
			A.full_logged_ms = r->arrived_ms;
			log_warn("throttle table full of throttled or busy "
				 "addresses (%zu): refusing logins from new "
				 "addresses", throttle_count(A.thr));
		}
		str_free_wipe(&r->job.password);
		reply_later(r, IPC_ST_TEMPFAIL);
		break;
	}
wipe:
	explicit_bzero(scratch_pass, plen + 1);
}

static void
handle_cookie_redeem(const struct ipc_msg *msg)
{
	uint8_t cookie[IPC_COOKIE_LEN];
	uint64_t login_id;
	uint32_t conn_id;
	struct auth_user u;
	struct ipc_rd rd;
	struct ipc_out o;
	enum cookie_result res;

	ipc_rd_init(&rd, msg);
	if (ipc_get_u64(&rd, &login_id) < 0 ||
	    ipc_get_u32(&rd, &conn_id) < 0 ||
	    ipc_get_fixed(&rd, cookie, sizeof(cookie)) < 0 ||
	    ipc_rd_end(&rd) < 0)
		log_fatal("malformed COOKIE_REDEEM from moatd");
	memset(&u, 0, sizeof(u));
	res = cookie_table_redeem(A.cookies, cookie, login_id, conn_id,
				  ev_now_ms(A.ev), &u);
	explicit_bzero(cookie, sizeof(cookie));
	if (res != COOKIE_OK) {
		log_warn("cookie redemption for login process %llu connection "
			 "%u refused: %s", (unsigned long long)login_id,
			 conn_id, cookie_result_str(res));
		memset(&u, 0, sizeof(u));
	}
	ipc_out_init(&o, IPC_COOKIE_USER, msg->id);
	ipc_put_u32(&o, res == COOKIE_OK ? IPC_ST_OK : IPC_ST_FAIL);
	ipc_put_str(&o, u.user);
	ipc_put_u32(&o, u.uid);
	ipc_put_u32(&o, u.gid);
	ipc_put_str(&o, u.home);
	ipc_put_str(&o, u.mail);
	/* Empty unless OK (u was cleared). */
	auth_put_groups(&o, u.groups, u.n_groups);
	moatd_send(&o);
}

/* What moatd may send us; anything else is a protocol violation. */
static const struct {
	enum ipc_type type;
	void (*handle)(const struct ipc_msg *msg);
} handlers[] = {
	{ IPC_AUTH_REQ, handle_auth_req },
	{ IPC_COOKIE_REDEEM, handle_cookie_redeem },
};

static void
dispatch_msg(const struct ipc_msg *msg)
{
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		if (handlers[i].type == msg->type) {
			handlers[i].handle(msg);
			return;
		}
	}
	log_fatal("unexpected message type %u from moatd", msg->type);
}

static void
moatd_io(struct ev_io *io, int fd, unsigned int events, void *ctx)
{
	struct ipc_msg msg;

	(void)io;
	(void)ctx;
	if (events & EV_WRITE)
		outq_flush();
	if (!(events & EV_READ))
		return;
	for (int i = 0; i < RECV_BATCH && !A.stopping; i++) {
		switch (ipc_recv(fd, rbuf, sizeof(rbuf), &msg)) {
		case IPC_RECV_AGAIN:
			return;
		case IPC_RECV_EOF:
			log_info("moatd closed the IPC socket; exiting");
			shutdown_auth();
			return;
		case IPC_RECV_ERROR:
			log_error("receive from moatd: %m");
			shutdown_auth();
			return;
		case IPC_RECV_MALFORMED:
			log_fatal("malformed message from moatd");
		case IPC_RECV_OK:
			break;
		}
		if (msg.fd >= 0) {
			close(msg.fd);
			log_fatal("message type %u from moatd carried a "
				  "descriptor", msg.type);
		}
		dispatch_msg(&msg);
		explicit_bzero(rbuf, IPC_HDR_LEN + msg.payload_len);
	}
}

/* ---- timers, signals, life cycle ---- */

static void
sweep_cb(struct ev_timer *t, void *ctx)
{
	uint64_t now = ev_now_ms(A.ev);

	(void)ctx;
	(void)cookie_table_expire(A.cookies, now);
	(void)throttle_expire(A.thr, now);
	ev_timer_reset(t, SWEEP_MS);
}

static void
reload(void)
{
	struct moat_config *nc = NULL, *old;
	char err[512];

	if (config_load(A.cfg_path, &nc, err, sizeof(err)) < 0) {
		log_error("config reload failed, keeping the old config: %s",
			  err);
		return;
	}
	old = A.cfg;
	A.cfg = nc;
	log_set_debug(nc->log_debug);
	throttle_configure(A.thr, nc->auth_throttle_failures,
			   nc->auth_throttle_window_ms);
	wpool_reload(A.pool, nc);
	config_free(&old);
	log_info("configuration reloaded");
}

static void
on_signal(int signo, void *ctx)
{
	(void)ctx;
	switch (signo) {
	case SIGHUP:
		reload();
		break;
	case SIGCHLD:
		wpool_reap(A.pool);
		break;
	default:
		log_info("signal %d: exiting", signo);
		shutdown_auth();
		break;
	}
}

static void
shutdown_auth(void)
{
	A.stopping = true;
	ev_stop(A.ev);
}

/* In a freshly forked worker: wipe what only the main process should
 * hold. The event loop is left alone: its epoll set is shared with the
 * parent, and touching it would disturb the parent's watchers. */
static void
child_wipe(void *ctx)
{
	struct outmsg *m, *next;

	(void)ctx;
	cookie_table_free(&A.cookies);
	throttle_free(&A.thr);
	for (m = A.outq; m != NULL; m = next) {
		next = m->next;
		ipc_out_free(&m->o);
		free(m);
	}
	A.outq = A.outq_tail = NULL;
	for (struct auth_req *r = A.reqs; r != NULL; r = r->next)
		str_free_wipe(&r->job.password);
	explicit_bzero(rbuf, sizeof(rbuf));
	explicit_bzero(scratch_pass, sizeof(scratch_pass));
}

static void
cleanup(void)
{
	struct outmsg *m, *next;

	wpool_free(&A.pool);
	while (A.reqs != NULL)
		req_free(A.reqs);
	for (m = A.outq; m != NULL; m = next) {
		next = m->next;
		ipc_out_free(&m->o);
		free(m);
	}
	A.outq = A.outq_tail = NULL;
	cookie_table_free(&A.cookies);
	throttle_free(&A.thr);
	ev_timer_del(&A.sweep);
	ev_io_del(&A.io);
	ev_free(&A.ev);
	config_free(&A.cfg);
}

static void __attribute__((noreturn))
usage(void)
{
	log_fatal("usage: auth [-c CONFIG]");
}

int
main(int argc, char **argv)
{
	uint8_t key[THROTTLE_KEY_LEN];
	char err[512];
	struct stat st;
	int c;

	log_init_child("auth");
	A.cfg_path = config_default_path();
	while ((c = getopt(argc, argv, "c:")) != -1) {
		switch (c) {
		case 'c':
			A.cfg_path = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (config_load(A.cfg_path, &A.cfg, err, sizeof(err)) < 0)
		log_fatal("%s", err);
	log_set_debug(A.cfg->log_debug);

	if (fstat(MOATD_FD, &st) < 0 || !S_ISSOCK(st.st_mode))
		log_fatal("fd %d is not the IPC socket to moatd (auth is "
			  "started by moatd)", MOATD_FD);
	if (net_set_nonblock(MOATD_FD, true) < 0)
		log_fatal("fd %d: %m", MOATD_FD);
	(void)signal(SIGPIPE, SIG_IGN);
	if (geteuid() != 0) {
		for (size_t i = 0; i < A.cfg->n_auth_backends; i++) {
			if (A.cfg->auth_backends[i] == CONFIG_AUTH_PAM)
				log_warn("not running as root: PAM modules "
					 "may not be able to check passwords");
		}
	}

	A.ev = ev_new();
	if (A.ev == NULL)
		log_fatal("event loop: %m");
	if (ev_signal_add(A.ev, SIGHUP, on_signal, NULL) < 0 ||
	    ev_signal_add(A.ev, SIGTERM, on_signal, NULL) < 0 ||
	    ev_signal_add(A.ev, SIGINT, on_signal, NULL) < 0 ||
	    ev_signal_add(A.ev, SIGCHLD, on_signal, NULL) < 0)
		log_fatal("signals: %m");

	rand_bytes(key, sizeof(key));
	A.thr = throttle_new(A.cfg->auth_throttle_failures,
			     A.cfg->auth_throttle_window_ms,
			     THROTTLE_TABLE_MAX, key);
	explicit_bzero(key, sizeof(key));
	A.cookies = cookie_table_new(COOKIE_TABLE_MAX);
	A.io = ev_io_add(A.ev, MOATD_FD, EV_READ, moatd_io, NULL);
	if (A.io == NULL)
		log_fatal("watch fd %d: %m", MOATD_FD);
	A.sweep = ev_timer_add(A.ev, SWEEP_MS, sweep_cb, NULL);
	A.pool = wpool_new(A.ev, A.cfg, job_done, child_wipe, NULL);
	log_debug("auth ready: %u workers", A.cfg->auth_workers);

	if (ev_run(A.ev) < 0)
		log_error("event loop: %m");
	cleanup();
	return 0;
}
