/*
 * listeners: the listening sockets. moatd, not the login processes,
 * accepts: it enforces max_connections_per_ip (pre-auth connections,
 * counted per address group: IPv6 per /64, see ipgroup.h) and
 * max_processes before any login process sees a byte, then hands the
 * socket to the least-loaded login process (or a fresh one with
 * login_per_connection). When the login processes are full (every pool
 * process at login_max_connections, or max_processes reached with
 * login_per_connection), the oldest pre-auth connection is dropped to
 * make room (login-conn.c) rather than the new one refused: otherwise
 * whoever holds the slots locks everyone else out.
 *
 * Callers: main.c (start-up, reload, shutdown).
 * Trust: the client is anonymous and hostile; all it controls here is
 * its address and how fast it connects. Accepting is batched per
 * wake-up, and running out of descriptors pauses a listener for a while
 * instead of spinning.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/arr.h"
#include "core/log.h"
#include "core/str.h"
#include "master/master.h"

#define ACCEPT_BATCH 64
#define ACCEPT_PAUSE_MS 1000

static const char bye_busy[] =
	"* BYE [UNAVAILABLE] Too many connections, try later.\r\n";

struct listener {
	int fd;
	struct ev_io *io;
	struct ev_timer *pause;
	char *address;
	uint16_t port;
	enum config_tls_mode tls;
};

static ARRAY(struct listener *) listeners = ARRAY_INIT;

static const char *
mode_name(enum config_tls_mode m)
{
	switch (m) {
	case CONFIG_TLS_STARTTLS:
		return "starttls";
	case CONFIG_TLS_IMPLICIT:
		return "tls";
	case CONFIG_TLS_NONE:
		break;
	}
	return "none";
}

bool
log_limit_pass(struct log_limit *l, unsigned long *suppressed)
{
	uint64_t now = ev_now_ms(master.ev);

	if (l->last_ms != 0 && now - l->last_ms < 1000) {
		l->suppressed++;
		return false;
	}
	*suppressed = l->suppressed;
	l->last_ms = now;
	l->suppressed = 0;
	return true;
}

/* A connection flood must not become a log flood. */
static void
refuse_log(const char *ip, const char *why)
{
	static struct log_limit ll;
	unsigned long suppressed;

	if (!log_limit_pass(&ll, &suppressed))
		return;
	if (suppressed > 0)
		log_warn("rip=%s refused connection: %s (and %lu more "
			 "refusals not logged)", ip, why, suppressed);
	else
		log_warn("rip=%s refused connection: %s", ip, why);
}

static void
refuse(const struct listener *l, int fd, const char *ip, const char *why)
{
	/* Best effort, never blocking: the socket is non-blocking and a
	 * short write just means the client misses the courtesy line. A
	 * TLS client would read it as garbage, so it gets a plain close. */
	if (l->tls != CONFIG_TLS_IMPLICIT) {
		ssize_t n = write(fd, bye_busy, sizeof(bye_busy) - 1);
		(void)n;
	}
	close(fd);
	refuse_log(ip, why);
}

static void listener_cb(struct ev_io *io, int fd, unsigned int events,
			void *ctx);

static void
pause_done(struct ev_timer *t, void *ctx)
{
	struct listener *l = ctx;

	ev_timer_del(&l->pause);
	if (l->io == NULL && l->fd >= 0)
		l->io = ev_io_add(master.ev, l->fd, EV_READ, listener_cb, l);
}

static void
accept_one(struct listener *l, int fd, const char *rip, uint16_t rport)
{
	const struct moat_config *cfg = master.cfg;
	char lip[NET_ADDR_MAX], group[IPGROUP_MAX];
	uint16_t lport = 0;
	uint32_t flags = 0;
	struct child *login;
	unsigned int n_ip;

	/* Counted as login-conn.c counts them: per address group. */
	ipgroup_of(rip, group);
	n_ip = htab_counter_get(master.preauth_per_ip, group, strlen(group));
	if (cfg->max_connections_per_ip > 0 &&
	    n_ip >= cfg->max_connections_per_ip) {
		refuse(l, fd, rip, "max_connections_per_ip reached");
		return;
	}
	if (net_local_addr(fd, lip, &lport) < 0) {
		log_debug("rip=%s getsockname: %m", rip);
		close(fd);
		return;
	}
	if (!login_process_room()) {
		refuse(l, fd, rip, "max_processes reached");
		return;
	}

	if (l->tls == CONFIG_TLS_IMPLICIT)
		flags |= IPC_CONN_TLS_IMPLICIT;
	else if (l->tls == CONFIG_TLS_STARTTLS)
		flags |= IPC_CONN_STARTTLS;
	if (cfg->loopback_is_secure && net_ip_is_loopback(rip))
		flags |= IPC_CONN_SECURED;

	if (cfg->login_per_connection) {
		login = child_spawn_login(NULL);
		if (login == NULL) {
			refuse(l, fd, rip, "cannot start imap-login");
			return;
		}
		login->per_conn = true;
		master.connections++;
		/* It serves this one connection and then exits. */
		(void)login_give_conn(login, fd, flags, rip, rport, lip,
				      lport);
		login_send_shutdown(login);
		return;
	}
	login = login_pick();
	if (login == NULL && login_make_room())
		login = login_pick();
	if (login == NULL) {
		refuse(l, fd, rip, "no imap-login process available");
		return;
	}
	master.connections++;
	(void)login_give_conn(login, fd, flags, rip, rport, lip, lport);
}

static void
listener_cb(struct ev_io *io, int lfd, unsigned int events, void *ctx)
{
	struct listener *l = ctx;

	for (int i = 0; i < ACCEPT_BATCH; i++) {
		char rip[NET_ADDR_MAX];
		uint16_t rport = 0;
		int fd;

		fd = net_accept(l->fd, rip, &rport);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR || errno == ECONNABORTED ||
			    errno == EPROTO)
				return;
			log_error("accept on %s:%u: %m", l->address,
				  (unsigned int)l->port);
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* Level-triggered: without a pause we would
				 * spin on the pending connection. */
				ev_io_del(&l->io);
				l->pause = ev_timer_add(master.ev,
							ACCEPT_PAUSE_MS,
							pause_done, l);
			}
			return;
		}
		accept_one(l, fd, rip, rport);
		if (master.stopping || l->io == NULL)
			return;
	}
}

static struct listener *
listener_new(const struct config_listener *cl, char *err, size_t errlen)
{
	struct listener *l;
	int fd;

	fd = net_listen(cl->address, cl->port, 128);
	if (fd < 0) {
		snprintf(err, errlen, "cannot listen on %s:%u: %s",
			 cl->address, (unsigned int)cl->port, strerror(errno));
		return NULL;
	}
	l = xcalloc(1, sizeof(*l));
	l->fd = fd;
	l->address = xstrdup(cl->address);
	l->port = cl->port;
	if (cl->port == 0) {
		int p = net_local_port(fd);

		if (p > 0)
			l->port = (uint16_t)p;
	}
	l->tls = cl->tls;
	l->io = ev_io_add(master.ev, fd, EV_READ, listener_cb, l);
	log_info("listening on %s:%u (%s)", l->address, (unsigned int)l->port,
		 mode_name(l->tls));
	return l;
}

static void
listener_free(struct listener *l)
{
	ev_io_del(&l->io);
	ev_timer_del(&l->pause);
	if (l->fd >= 0)
		close(l->fd);
	free(l->address);
	free(l);
}

int
listeners_open(const struct moat_config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < cfg->n_listeners; i++) {
		struct listener *l = listener_new(&cfg->listeners[i], err,
						  errlen);

		if (l == NULL) {
			listeners_close_all();
			return -1;
		}
		arr_push(&listeners, l);
	}
	return 0;
}

/* A socket is kept when the new config has the same address and port:
 * clients queued in its backlog are not lost, and there is no window in
 * which the port is closed. Only the mode (plain/starttls/tls) may
 * change, and that is moatd's own bookkeeping. Listeners that go away
 * are closed before new ones are bound, so moving a port from one
 * address to a wildcard works. */
void
listeners_reload(const struct moat_config *cfg)
{
	struct listener *keep[CONFIG_MAX_LISTENERS] = { NULL };
	char err[512];

	for (size_t i = 0; i < listeners.n; ) {
		struct listener *l = listeners.v[i];
		bool found = false;

		for (size_t j = 0; j < cfg->n_listeners; j++) {
			const struct config_listener *cl = &cfg->listeners[j];

			if (keep[j] == NULL && str_eq(cl->address, l->address) &&
			    cl->port != 0 && cl->port == l->port) {
				keep[j] = l;
				found = true;
				break;
			}
		}
		if (found) {
			i++;
			continue;
		}
		log_info("closing listener %s:%u", l->address,
			 (unsigned int)l->port);
		arr_del(&listeners, i);
		listener_free(l);
	}
	listeners.n = 0;
	for (size_t j = 0; j < cfg->n_listeners; j++) {
		struct listener *l = keep[j];

		if (l != NULL) {
			if (l->tls != cfg->listeners[j].tls)
				log_info("listener %s:%u is now %s",
					 l->address, (unsigned int)l->port,
					 mode_name(cfg->listeners[j].tls));
			l->tls = cfg->listeners[j].tls;
		} else {
			l = listener_new(&cfg->listeners[j], err, sizeof(err));
			if (l == NULL) {
				log_error("%s", err);
				continue;
			}
		}
		arr_push(&listeners, l);
	}
}

void
listeners_close_all(void)
{
	for (size_t i = 0; i < listeners.n; i++)
		listener_free(listeners.v[i]);
	arr_free(&listeners);
}
