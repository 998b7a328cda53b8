/*
 * client: one pre-authentication connection in imap-login. Owns the
 * socket, the optional TLS layer, the command reader, the bounded input
 * and output buffers, the pre-auth timer and the state machine from the
 * greeting to the hand-off (SESSION_REQ) or the TLS proxy.
 * Callers: master-conn.c (CONN, CONN_DROP, AUTH_RESULT, SESSION_RESULT),
 * commands.c (responses, auth, STARTTLS), proxy.c (teardown).
 *
 * Holding a slot: before login a connection is closed when idle for
 * preauth_timeout, when preauth_max_lifetime has passed since it
 * connected however busy it is, at its (preauth_max_commands + 1)th
 * command, and when moatd drops it to make room (CONN_DROP). One timer
 * serves both deadlines: it is armed for whichever comes first.
 * Trust: every byte read from the socket is hostile. Sizes are bounded by
 * LOGIN_IN_MAX / LOGIN_OUT_MAX and the reader's limits; nothing a client
 * sends reaches log_fatal or log_panic.
 *
 * Lifetime: client_destroy() closes everything at once but only moves the
 * struct to a zombie list; client_reap() at the end of each event
 * callback frees it. So code deep in a handler may destroy a client and
 * its callers can still look at c->state safely.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/net.h"
#include "core/str.h"
#include "login.h"

#define CLIENT_HASH_SIZE 1024u
/* Freed clients kept for reuse with their buffers and reader, so a busy
 * login process does not allocate per connection. */
#define CLIENT_CACHE_MAX 64

static struct client *clients;
static struct client *zombies;
static struct client *cache;
static unsigned int n_cache;
static struct client *conn_hash[CLIENT_HASH_SIZE];
static struct client *req_hash[CLIENT_HASH_SIZE];
static uint32_t next_req_id;

static void client_io_cb(struct ev_io *io, int fd, unsigned int events,
			 void *ctx);
static void client_timeout_cb(struct ev_timer *t, void *ctx);

/* ---- pre-auth deadlines ---- */

static bool
client_lifetime_over(const struct client *c)
{
	return ev_now_ms(login.ev) - c->start_ms >=
	       login.cfg->preauth_max_lifetime_ms;
}

/* The idle timeout, cut short by the absolute lifetime: activity
 * restarts the first, never the second. */
static uint64_t
client_deadline_ms(const struct client *c)
{
	uint64_t age = ev_now_ms(login.ev) - c->start_ms;
	uint64_t life = login.cfg->preauth_max_lifetime_ms;
	uint64_t idle = login.cfg->preauth_timeout_ms;

	if (age >= life)
		return 0;
	return life - age < idle ? life - age : idle;
}

static void
client_rearm(struct client *c)
{
	if (c->timer != NULL)
		ev_timer_reset(c->timer, client_deadline_ms(c));
}

/* ---- lookup tables ---- */

static unsigned int
hash_id(uint32_t id)
{
	return (unsigned int)((id * 2654435761u) >> 22) & (CLIENT_HASH_SIZE - 1);
}

struct client *
client_find_conn(uint32_t conn_id)
{
	struct client *c = conn_hash[hash_id(conn_id)];

	while (c != NULL && c->conn_id != conn_id)
		c = c->conn_hnext;
	return c;
}

struct client *
client_find_req(uint32_t req_id)
{
	struct client *c;

	if (req_id == 0)
		return NULL;
	c = req_hash[hash_id(req_id)];
	while (c != NULL && c->req_id != req_id)
		c = c->req_hnext;
	return c;
}

static void
conn_hash_remove(struct client *c)
{
	struct client **pp = &conn_hash[hash_id(c->conn_id)];

	while (*pp != NULL && *pp != c)
		pp = &(*pp)->conn_hnext;
	if (*pp == c)
		*pp = c->conn_hnext;
	c->conn_hnext = NULL;
}

static void
req_hash_remove(struct client *c)
{
	struct client **pp;

	if (c->req_id == 0)
		return;
	pp = &req_hash[hash_id(c->req_id)];
	while (*pp != NULL && *pp != c)
		pp = &(*pp)->req_hnext;
	if (*pp == c)
		*pp = c->req_hnext;
	c->req_hnext = NULL;
	c->req_id = 0;
}

/* ---- allocation ---- */

static struct client *
client_alloc(void)
{
	struct client *c;

	if (cache != NULL) {
		c = cache;
		cache = c->next;
		n_cache--;
		c->next = NULL;
		return c;
	}
	c = xcalloc(1, sizeof(*c));
	c->reader = imap_reader_new(&login.limits);
	c->in = buf_new(LOGIN_IN_MAX);
	c->out = buf_new(LOGIN_OUT_MAX);
	return c;
}

/* Wipes a destroyed client (its buffers may hold passwords) and keeps it
 * for reuse or frees it. */
static void
client_release(struct client *c)
{
	struct imap_reader *reader = c->reader;
	struct buf *in = c->in, *out = c->out;

	imap_reader_reset(reader);
	buf_wipe(in);
	buf_reset(out);
	if (n_cache >= CLIENT_CACHE_MAX) {
		imap_reader_free(&reader);
		buf_free_wipe(&in);
		buf_free(&out);
		explicit_bzero(c, sizeof(*c));
		free(c);
		return;
	}
	explicit_bzero(c, sizeof(*c));
	c->reader = reader;
	c->in = in;
	c->out = out;
	c->next = cache;
	cache = c;
	n_cache++;
}

void
client_reap(void)
{
	struct client *c;

	while ((c = zombies) != NULL) {
		zombies = c->next;
		client_release(c);
	}
	login_check_exit();
}

void
client_free_all(void)
{
	struct client *c;

	while (clients != NULL)
		client_destroy(clients, NULL);
	while ((c = zombies) != NULL) {
		zombies = c->next;
		client_release(c);
	}
	while ((c = cache) != NULL) {
		cache = c->next;
		imap_reader_free(&c->reader);
		buf_free_wipe(&c->in);
		buf_free(&c->out);
		free(c);
	}
	n_cache = 0;
}

/* ---- capabilities and security ---- */

bool
client_is_secured(const struct client *c)
{
	return c->tls_active || (c->flags & IPC_CONN_SECURED) != 0;
}

bool
client_plaintext_allowed(const struct client *c)
{
	return client_is_secured(c) || login.cfg->allow_plaintext_auth;
}

bool
client_starttls_offered(const struct client *c)
{
	return !c->tls_active && c->tls == NULL && login.ssl_ctx != NULL &&
	       (c->flags & IPC_CONN_TLS_IMPLICIT) == 0 &&
	       (c->flags & IPC_CONN_STARTTLS) != 0;
}

static void
client_caps(const struct client *c, char *dst, size_t size)
{
	/* RFC 9051 §6.2.3: LOGINDISABLED where plaintext auth is refused;
	 * then no AUTH= either (RFC 2595 §3.2 style). */
	snprintf(dst, size, "IMAP4rev1 SASL-IR ID ENABLE %s%s%s",
		 login.limits.literal_minus ? "LITERAL-" : "LITERAL+",
		 client_starttls_offered(c) ? " STARTTLS" : "",
		 client_plaintext_allowed(c) ? " AUTH=PLAIN AUTH=LOGIN" :
		 " LOGINDISABLED");
}

void
client_write_capabilities(struct client *c)
{
	char caps[256];

	client_caps(c, caps, sizeof(caps));
	client_printf(c, "* CAPABILITY %s\r\n", caps);
}

static void
client_greet(struct client *c)
{
	char caps[256];

	client_caps(c, caps, sizeof(caps));
	client_printf(c, "* OK [CAPABILITY %s] Moat ready.\r\n", caps);
}

/* ---- output ---- */

void
client_printf(struct client *c, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (c->state == CLIENT_DEAD)
		return;
	va_start(ap, fmt);
	r = buf_vprintf(c->out, fmt, ap);
	va_end(ap);
	if (r < 0)
		client_destroy(c, "Output buffer full");
}

void
client_tagged(struct client *c, const char *tag, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	client_printf(c, "%s %s\r\n", tag != NULL ? tag : "*", text);
}

void
client_bad(struct client *c, const char *tag, const char *text)
{
	unsigned int max = login.cfg->preauth_max_bad_commands;

	client_printf(c, "%s BAD %s\r\n", tag != NULL ? tag : "*", text);
	c->bad_commands++;
	if (max > 0 && c->bad_commands >= max &&
	    c->state != CLIENT_CLOSING && c->state != CLIENT_DEAD) {
		client_printf(c, "* BYE Too many invalid commands.\r\n");
		client_close_after_output(c, "Too many invalid commands");
	}
}

void
client_line_too_long(struct client *c, const char *tag)
{
	/* Reported once the limit is passed, not at the CRLF, and final
	 * (imap/reader.h): BAD for the command, BYE, close. */
	client_printf(c, "%s BAD [TOOBIG] Line too long.\r\n",
		      tag != NULL ? tag : "*");
	client_printf(c, "* BYE [TOOBIG] Line too long.\r\n");
	client_close_after_output(c, "Line too long");
}

/* ---- lifetime ---- */

static void
client_log_end(struct client *c, const char *reason)
{
	unsigned long long secs =
		(unsigned long long)(ev_now_ms(login.ev) - c->start_ms) / 1000;

	if (c->state == CLIENT_PROXY) {
		log_debug("rip=%s lip=%s TLS proxy finished: %s", c->rip,
			  c->lip, reason);
	} else if (c->auth_attempts == 0) {
		log_info("rip=%s lip=%s Disconnected (no auth attempts in "
			 "%llu secs): %s", c->rip, c->lip, secs, reason);
	} else if (c->failed_logins > 0) {
		/* mech is one of our names ("LOGIN", "PLAIN"), not the
		 * client's text. */
		log_info("rip=%s lip=%s Aborted login (auth failed, %u "
			 "attempts in %llu secs): user=%s method=%s: %s",
			 c->rip, c->lip, c->failed_logins, secs,
			 LOG_Q(c->user), c->mech != NULL ? c->mech : "?",
			 reason);
	} else {
		log_info("rip=%s lip=%s Aborted login (%u auth attempts in "
			 "%llu secs): user=%s: %s", c->rip, c->lip,
			 c->auth_attempts, secs, LOG_Q(c->user), reason);
	}
}

void
client_destroy(struct client *c, const char *reason)
{
	if (c->state == CLIENT_DEAD)
		return;
	if (reason != NULL)
		client_log_end(c, reason);
	c->state = CLIENT_DEAD;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	conn_hash_remove(c);
	req_hash_remove(c);

	ev_io_del(&c->io);
	ev_io_del(&c->sock_io);
	ev_timer_del(&c->timer);
	ev_timer_del(&c->delay_timer);
	if (c->tls != NULL) {
		/* A courtesy close_notify; never after a TLS error. */
		if (c->tls_active && !c->tls_failed)
			tls_conn_shutdown(c->tls);
		tls_conn_free(&c->tls);
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->sock >= 0)
		close(c->sock);
	c->sock = -1;
	explicit_bzero(c->cookie, sizeof(c->cookie));
	explicit_bzero(c->sasl_user, sizeof(c->sasl_user));
	if (!c->conn_done_sent) {
		c->conn_done_sent = true;
		master_send_conn_done(c->conn_id);
	}
	login.n_clients--;

	c->prev = NULL;
	c->next = zombies;
	zombies = c;
}

void
client_close_after_output(struct client *c, const char *reason)
{
	if (c->state == CLIENT_DEAD || c->state == CLIENT_CLOSING)
		return;
	str_copy(c->reason, reason, sizeof(c->reason));
	req_hash_remove(c);
	c->state = CLIENT_CLOSING;
	/* A client that does not read its BYE is not waited for long. */
	if (c->timer != NULL)
		ev_timer_reset(c->timer, LOGIN_CLOSE_TIMEOUT_MS);
}

void
client_create(uint32_t conn_id, int fd, uint32_t flags, const char *rip,
	      uint32_t rport, const char *lip, uint32_t lport)
{
	struct client *c = client_alloc();
	int one = 1;

	c->conn_id = conn_id;
	c->fd = fd;
	c->sock = -1;
	c->flags = flags;
	str_copy(c->rip, rip, sizeof(c->rip));
	str_copy(c->lip, lip, sizeof(c->lip));
	c->rport = rport;
	c->lport = lport;
	c->start_ms = ev_now_ms(login.ev);
	c->rd_want = EV_READ;
	c->wr_want = EV_WRITE;
	c->state = CLIENT_COMMANDS;

	c->next = clients;
	if (clients != NULL)
		clients->prev = c;
	clients = c;
	c->conn_hnext = conn_hash[hash_id(conn_id)];
	conn_hash[hash_id(conn_id)] = c;
	login.n_clients++;
	login.had_client = true;

	log_debug("rip=%s lip=%s Connect: rport=%u lport=%u%s", rip, lip,
		  (unsigned int)rport, (unsigned int)lport,
		  (flags & IPC_CONN_TLS_IMPLICIT) ? " (TLS)" : "");

	if (net_set_nonblock(fd, true) < 0) {
		log_error("rip=%s non-blocking mode: %m", rip);
		client_destroy(c, "Internal error");
		return;
	}
	/* We write whole responses (and whole TLS records when proxying):
	 * Nagle would only hold the second of two small writes back for a
	 * delayed ACK. Best effort: it fails on non-TCP sockets. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->io = ev_io_add(login.ev, fd, 0, client_io_cb, c);
	c->timer = ev_timer_add(login.ev, client_deadline_ms(c),
				client_timeout_cb, c);
	if (c->io == NULL) {
		log_error("rip=%s cannot watch the connection: %m", rip);
		client_destroy(c, "Internal error");
		return;
	}
	if (flags & IPC_CONN_TLS_IMPLICIT) {
		if (login.ssl_ctx == NULL) {
			log_error("rip=%s implicit TLS connection but no "
				  "tls_cert is configured", rip);
			client_destroy(c, "TLS not configured");
			return;
		}
		c->tls = tls_conn_new(login.ssl_ctx, fd);
		if (c->tls == NULL) {
			client_destroy(c, "TLS setup failed");
			return;
		}
		c->state = CLIENT_HANDSHAKE;
		c->hs_want = EV_READ;
	} else {
		client_greet(c);
	}
	client_run(c);
}

/* ---- authentication ---- */

void
client_auth_begin(struct client *c, const char *tag, const char *mech,
		  const char *user, const char *pass)
{
	struct ipc_out o;
	size_t ulen = strlen(user), plen = strlen(pass);

	str_copy(c->tag, tag, sizeof(c->tag));
	c->mech = mech;
	/* For the log; the log module escapes control characters. */
	str_copy(c->user, user, sizeof(c->user));
	if (ulen == 0 || ulen > IPC_USER_MAX || plen > IPC_PASS_MAX) {
		/* Nothing auth could accept: fail here without asking. */
		c->auth_attempts++;
		client_auth_failed(c, tag);
		return;
	}
	c->auth_attempts++;
	do
		next_req_id++;
	while (next_req_id == 0 || client_find_req(next_req_id) != NULL);
	c->req_id = next_req_id;
	c->req_hnext = req_hash[hash_id(c->req_id)];
	req_hash[hash_id(c->req_id)] = c;

	/* The connection, not an address: moatd takes the address from its
	 * own record and binds the cookie to this connection. */
	ipc_out_init(&o, IPC_AUTH_REQ, c->req_id);
	ipc_put_u32(&o, c->conn_id);
	ipc_put_str(&o, user);
	ipc_put_str(&o, pass);
	/* master_send wipes the message buffer once it is sent. */
	master_send(&o, -1, false);
	c->state = CLIENT_AUTH_WAIT;
}

static void
client_login_failed(struct client *c, const char *tag, const char *text)
{
	c->failed_logins++;
	c->state = CLIENT_COMMANDS;
	log_debug("rip=%s lip=%s authentication failed: user=%s method=%s",
		  c->rip, c->lip, LOG_Q(c->user),
		  c->mech != NULL ? c->mech : "?");
	client_tagged(c, tag, "%s", text);
	if (c->failed_logins >= LOGIN_MAX_FAILED) {
		client_printf(c, "* BYE Too many failed logins.\r\n");
		client_close_after_output(c, "Too many failed logins");
	}
}

void
client_auth_failed(struct client *c, const char *tag)
{
	client_login_failed(c, tag,
			    "NO [AUTHENTICATIONFAILED] Authentication failed.");
}

/* Tells the client its authentication failed (status is not OK). */
static void
client_auth_answer_failure(struct client *c, uint32_t status)
{
	switch (status) {
	case IPC_ST_FAIL:
		client_auth_failed(c, c->tag);
		break;
	case IPC_ST_THROTTLED:
		client_login_failed(c, c->tag, "NO [UNAVAILABLE] Too many "
				    "failed logins, try again later.");
		break;
	default:
		c->state = CLIENT_COMMANDS;
		client_tagged(c, c->tag, "NO [UNAVAILABLE] Authentication "
			      "service unavailable.");
		break;
	}
}

static void
client_auth_delay_cb(struct ev_timer *t, void *ctx)
{
	struct client *c = ctx;

	(void)t;
	ev_timer_del(&c->delay_timer);
	/* The client may be closing meanwhile (pre-auth timeout). */
	if (c->state == CLIENT_AUTH_DELAY) {
		client_auth_answer_failure(c, c->delayed_status);
		client_run(c);
	}
	client_reap();
}

void
client_auth_result(struct client *c, uint32_t status,
		   const uint8_t cookie[IPC_COOKIE_LEN], const char *user,
		   uint32_t delay_ms)
{
	req_hash_remove(c);
	if (c->state != CLIENT_AUTH_WAIT)
		log_panic("auth result for a client in state %d", c->state);
	if (status == IPC_ST_OK) {
		memcpy(c->cookie, cookie, IPC_COOKIE_LEN);
		if (user[0] != '\0')
			str_copy(c->user, user, sizeof(c->user));
		/* Our earlier responses must be out before anyone else
		 * writes to this client (see client_run). */
		c->state = CLIENT_SESSION_FLUSH;
	} else if (delay_ms > 0) {
		/* auth answered at once so that nothing on the relay path
		 * is held during the failure delay; it is ours to keep: the
		 * client hears no earlier than auth_failure_delay after its
		 * request (design.md, "The login path"). Meanwhile we read
		 * nothing from it. */
		c->state = CLIENT_AUTH_DELAY;
		c->delayed_status = status;
		c->delay_timer = ev_timer_add(login.ev, delay_ms,
					      client_auth_delay_cb, c);
	} else {
		client_auth_answer_failure(c, status);
	}
	client_run(c);
}

static void
client_send_session_req(struct client *c)
{
	struct ipc_out o;
	uint32_t flags = 0;
	int passfd, sv[2];
	bool close_after;

	if (buf_len(c->in) > IPC_PIPELINED_MAX) {
		/* Cannot happen with LOGIN_IN_MAX; refuse rather than cut. */
		client_printf(c, "* BYE Too much pipelined input.\r\n");
		client_close_after_output(c, "Too much pipelined input");
		return;
	}
	if (c->tls_active) {
		/* The TLS state stays here: the session gets one end of a
		 * socketpair and we proxy (design: "The login path"). */
		if (net_stream_pair(sv, true) < 0) {
			log_error("rip=%s socketpair: %m", c->rip);
			c->state = CLIENT_COMMANDS;
			client_tagged(c, c->tag, "NO [UNAVAILABLE] Internal "
				      "error, try again later.");
			explicit_bzero(c->cookie, sizeof(c->cookie));
			return;
		}
		c->sock = sv[0];
		passfd = sv[1];
		close_after = true;
		flags |= IPC_CONN_TLS_ACTIVE;
	} else {
		passfd = c->fd;
		close_after = false;
	}
	if (client_is_secured(c))
		flags |= IPC_CONN_SECURED;

	ipc_out_init(&o, IPC_SESSION_REQ, c->conn_id);
	ipc_put_bytes(&o, c->cookie, IPC_COOKIE_LEN);
	ipc_put_str(&o, c->tag);
	ipc_put_bytes(&o, buf_data(c->in), buf_len(c->in));
	ipc_put_u32(&o, flags);
	ipc_put_str(&o, c->rip);
	ipc_put_u32(&o, c->rport);
	ipc_put_str(&o, c->lip);
	ipc_put_u32(&o, c->lport);
	master_send(&o, passfd, close_after);
	explicit_bzero(c->cookie, sizeof(c->cookie));
	c->state = CLIENT_SESSION_WAIT;
}

void
client_session_result(struct client *c, uint32_t status)
{
	if (status == IPC_ST_OK) {
		/* moatd counts pre-auth connections only. */
		c->conn_done_sent = true;
		master_send_conn_done(c->conn_id);
		if (!c->tls_active) {
			/* The session owns the socket now; closing our copy
			 * does not touch the connection. */
			log_debug("rip=%s lip=%s session started: user=%s",
				  c->rip, c->lip, LOG_Q(c->user));
			client_destroy(c, NULL);
			return;
		}
		proxy_start(c);
		return;
	}
	if (c->sock >= 0) {
		close(c->sock);
		c->sock = -1;
	}
	c->state = CLIENT_COMMANDS;
	/* Past its lifetime, this fires at once. */
	client_rearm(c);
	if (status == IPC_ST_LIMIT)
		client_tagged(c, c->tag, "NO [LIMIT] Too many sessions.");
	else
		client_tagged(c, c->tag, "NO [UNAVAILABLE] Internal error, "
			      "try again later.");
	if (c->drop_pending)
		client_drop(c);
	client_run(c);
}

void
client_drop(struct client *c)
{
	switch (c->state) {
	case CLIENT_SESSION_WAIT:
		/* The descriptor is on its way to moatd with SESSION_REQ,
		 * which crossed the drop: the session decides. If it fails,
		 * the drop happens then (client_session_result). */
		c->drop_pending = true;
		return;
	case CLIENT_PROXY:
		/* Not pre-auth: moatd forgot it at CONN_DONE. */
		log_warn("CONN_DROP for connection %u, which is a session",
			 (unsigned int)c->conn_id);
		return;
	case CLIENT_CLOSING:
	case CLIENT_DEAD:
		return;
	case CLIENT_HANDSHAKE:
	case CLIENT_STARTTLS:
		/* No IMAP channel to say BYE on. */
		client_destroy(c, "Connection queue full");
		return;
	default:
		break;
	}
	/* Like Dovecot's "Connection queue full": every slot is taken and
	 * this connection is the oldest that has not logged in. */
	client_printf(c, "* BYE [UNAVAILABLE] Server is full, connection "
		      "closed to make room; try again.\r\n");
	client_close_after_output(c, "Connection queue full");
	client_run(c);
}

/* ---- STARTTLS ---- */

void
client_start_tls(struct client *c)
{
	/* RFC 2595 §3.1 / RFC 9051 §6.2.1: anything the client sent after
	 * STARTTLS, still in plaintext, must not be run once TLS is up --
	 * that is the command-injection attack. Drop it all. */
	imap_reader_reset(c->reader);
	buf_wipe(c->in);
	c->state = CLIENT_STARTTLS;
}

static void
client_handshake_done(struct client *c)
{
	char desc[128];

	c->tls_active = true;
	c->rd_want = EV_READ;
	c->wr_want = EV_WRITE;
	log_debug("rip=%s lip=%s TLS: %s", c->rip, c->lip,
		  tls_conn_describe(c->tls, desc, sizeof(desc)));
	c->state = CLIENT_COMMANDS;
	if (c->flags & IPC_CONN_TLS_IMPLICIT)
		client_greet(c);
}

/* ---- I/O ---- */

/* >0 bytes read, 0 EOF, -1 error, -2 nothing now. */
static ssize_t
client_read(struct client *c)
{
	size_t room = buf_avail(c->in);
	uint8_t *p;
	ssize_t n;

	if (room == 0 || (p = buf_reserve(c->in, room)) == NULL)
		return -2;
	if (c->tls_active) {
		n = tls_conn_read(c->tls, p, room);
		if (n == TLS_WANT_READ || n == TLS_WANT_WRITE) {
			c->rd_want = n == TLS_WANT_READ ? EV_READ : EV_WRITE;
			return -2;
		}
		if (n == TLS_ERR) {
			c->tls_failed = true;
			return -1;
		}
		c->rd_want = EV_READ;
	} else {
		n = read(c->fd, p, room);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ||
			       errno == EINTR ? -2 : -1;
	}
	if (n > 0)
		buf_commit(c->in, (size_t)n);
	return n;
}

/* >0 bytes written, -1 error, -2 nothing now. */
static ssize_t
client_write(struct client *c)
{
	const uint8_t *p = buf_data(c->out);
	size_t len = buf_len(c->out);
	ssize_t n;

	if (c->tls_active) {
		n = tls_conn_write(c->tls, p, len);
		if (n == TLS_WANT_READ || n == TLS_WANT_WRITE) {
			c->wr_want = n == TLS_WANT_READ ? EV_READ : EV_WRITE;
			return -2;
		}
		if (n <= 0) {
			c->tls_failed = true;
			return -1;
		}
		c->wr_want = EV_WRITE;
	} else {
		n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ||
			       errno == EINTR ? -2 : -1;
	}
	buf_consume(c->out, (size_t)n);
	return n;
}

static bool
client_wants_read(const struct client *c)
{
	return (c->state == CLIENT_COMMANDS ||
		c->state == CLIENT_AUTH_CONT) && !c->read_eof &&
	       buf_avail(c->in) > 0 && buf_len(c->out) < LOGIN_OUT_PAUSE;
}

/* Runs what is in the input buffer. Returns true if anything happened. */
static bool
client_process(struct client *c)
{
	bool progress = false;

	while ((c->state == CLIENT_COMMANDS ||
		c->state == CLIENT_AUTH_CONT) &&
	       buf_len(c->out) < LOGIN_OUT_PAUSE) {
		size_t before = buf_len(c->in);
		enum imap_reader_result r;
		const uint8_t *data;
		size_t len;

		if (c->state == CLIENT_AUTH_CONT) {
			bool too_long;

			if (!imap_reader_line(c->reader, c->in, &data, &len,
					      &too_long)) {
				progress |= buf_len(c->in) != before;
				break;
			}
			client_rearm(c);
			cmd_auth_line(c, data, len, too_long);
			progress = true;
			continue;
		}
		r = imap_reader_step(c->reader, c->in);
		progress |= buf_len(c->in) != before;
		if (r == IMAP_RD_MORE)
			break;
		progress = true;
		client_rearm(c);
		if ((r == IMAP_RD_COMMAND || r == IMAP_RD_LITERAL_TOO_BIG) &&
		    ++c->commands > login.cfg->preauth_max_commands) {
			/* NOOPs that keep a slot: a budget, not just the
			 * idle timer (issue 5). Not run, not answered. */
			client_printf(c, "* BYE [LIMIT] Too many commands "
				      "before login.\r\n");
			client_close_after_output(c, "Too many commands");
			break;
		}
		switch (r) {
		case IMAP_RD_COMMAND:
			data = imap_reader_command(c->reader, &len);
			cmd_run(c, data, len);
			break;
		case IMAP_RD_CONTINUE:
			client_printf(c, "+ OK\r\n");
			break;
		case IMAP_RD_LINE_TOO_LONG:
			client_line_too_long(c, imap_reader_tag(c->reader));
			break;
		case IMAP_RD_LITERAL_TOO_BIG:
			client_bad(c, imap_reader_tag(c->reader),
				   "[TOOBIG] Literal too big.");
			break;
		case IMAP_RD_FATAL_TOO_BIG:
			/* RFC 7888 §4: a non-synchronizing literal over the
			 * limit cannot be refused; hang up. */
			client_printf(c, "* BYE [TOOBIG] Literal too big.\r\n");
			client_close_after_output(c, "Literal too big");
			break;
		case IMAP_RD_MORE:
			break;
		}
	}
	return progress;
}

static void
client_update_io(struct client *c)
{
	unsigned int ev = 0;

	if (c->state == CLIENT_DEAD || c->state == CLIENT_PROXY)
		return;
	if (c->state == CLIENT_HANDSHAKE) {
		ev = c->hs_want;
	} else {
		if (buf_len(c->out) > 0)
			ev |= c->tls_active ? c->wr_want : EV_WRITE;
		if (client_wants_read(c))
			ev |= c->tls_active ? c->rd_want : EV_READ;
	}
	ev_io_set(c->io, ev);
}

static void
client_io_error(struct client *c, const char *what)
{
	char err[160];

	if (c->tls_failed) {
		tls_last_error(err, sizeof(err));
		snprintf(c->reason, sizeof(c->reason), "%s: TLS: %s", what,
			 err);
	} else {
		snprintf(c->reason, sizeof(c->reason), "%s: %s", what,
			 errno != 0 ? strerror(errno) : "error");
	}
	client_destroy(c, c->reason);
}

void
client_run(struct client *c)
{
	bool progress, drained = false;
	ssize_t n;
	int r;

	if (c->state == CLIENT_PROXY) {
		proxy_run(c);
		return;
	}
	do {
		progress = false;
		if (c->state == CLIENT_DEAD)
			return;
		if (c->state == CLIENT_HANDSHAKE) {
			r = tls_conn_handshake(c->tls);
			if (r == TLS_WANT_READ || r == TLS_WANT_WRITE) {
				c->hs_want = r == TLS_WANT_READ ? EV_READ :
					EV_WRITE;
				break;
			}
			if (r != 1) {
				char err[160];

				c->tls_failed = true;
				snprintf(c->reason, sizeof(c->reason),
					 "TLS handshake failed: %s",
					 tls_last_error(err, sizeof(err)));
				client_destroy(c, c->reason);
				return;
			}
			client_handshake_done(c);
			progress = true;
		}

		if (client_process(c))
			progress = true;
		if (c->state == CLIENT_DEAD)
			return;

		if (buf_len(c->out) > 0) {
			errno = 0;
			n = client_write(c);
			if (n == -1) {
				client_io_error(c, "Connection lost (write)");
				return;
			}
			if (n > 0)
				progress = true;
		}

		if (buf_len(c->out) == 0) {
			switch (c->state) {
			case CLIENT_CLOSING:
				client_destroy(c, c->reason);
				return;
			case CLIENT_STARTTLS:
				c->tls = tls_conn_new(login.ssl_ctx, c->fd);
				if (c->tls == NULL) {
					client_destroy(c, "TLS setup failed");
					return;
				}
				c->state = CLIENT_HANDSHAKE;
				c->hs_want = EV_READ;
				progress = true;
				continue;
			case CLIENT_SESSION_FLUSH:
				client_send_session_req(c);
				progress = true;
				continue;
			default:
				break;
			}
		}

		if (client_wants_read(c) && !drained) {
			size_t room = buf_avail(c->in);

			errno = 0;
			n = client_read(c);
			if (n == -1) {
				client_io_error(c, "Connection lost (read)");
				return;
			}
			if (n == 0) {
				c->read_eof = true;
				client_close_after_output(c,
							  "Connection closed");
				progress = true;
			} else if (n > 0) {
				progress = true;
				/* A short plain read emptied the socket; the
				 * loop will tell us when more arrives. TLS
				 * records give no such hint. */
				if (!c->tls_active && (size_t)n < room)
					drained = true;
			}
		}
	} while (progress);
	client_update_io(c);
}

static void
client_io_cb(struct ev_io *io, int fd, unsigned int events, void *ctx)
{
	struct client *c = ctx;

	client_run(c);
	client_reap();
}

static void
client_timeout_cb(struct ev_timer *t, void *ctx)
{
	struct client *c = ctx;

	switch (c->state) {
	case CLIENT_SESSION_WAIT:
	case CLIENT_DEAD:
		/* The session may own the socket already: do not write.
		 * The timer is re-armed if the hand-off fails. */
		break;
	case CLIENT_PROXY:
		/* Armed only once the session closed: the client does not
		 * take its last output. Otherwise the stale pre-auth timer. */
		if (c->sock_eof)
			client_destroy(c, "Timeout delivering the session's "
				       "last output");
		break;
	case CLIENT_CLOSING:
		client_destroy(c, c->reason);
		break;
	case CLIENT_HANDSHAKE:
	case CLIENT_STARTTLS:
		client_destroy(c, client_lifetime_over(c) ?
			       "Login time limit reached during TLS handshake" :
			       "Inactivity during TLS handshake");
		break;
	default:
		if (client_lifetime_over(c)) {
			client_printf(c, "* BYE Login time limit reached.\r\n");
			client_close_after_output(c, "Login time limit "
						  "reached");
		} else {
			client_printf(c, "* BYE Disconnected for "
				      "inactivity.\r\n");
			client_close_after_output(c, "Inactivity");
		}
		client_run(c);
		break;
	}
	client_reap();
}
