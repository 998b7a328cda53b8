/*
 * evil-login: plays a compromised imap-login process against a real
 * moatd (test_evil_login.py installs it as libexec/imap-login).
 *
 * It speaks the IPC protocol directly on fd 3, so it can send what a
 * real login process never would: made-up cookies, replayed cookies,
 * another login process's cookie, expired cookies, malformed frames.
 * Results go to <config dir>/evil-results, one "name STATUS" line each;
 * the test asserts on them and on moatd's log and process table.
 *
 * The test connects real clients first, so each copy holds pre-auth
 * connections that moatd gave it: its requests use their ids and
 * addresses, as a compromised process would, and moatd's per-connection
 * checks are exercised too.
 *
 * Roles, decided by who creates the marker file first:
 *   primary:   forged, legit, replay, cross-connection (authenticates
 *              on one connection and presents the cookie on another),
 *              expired, then waits for the secondary to try its
 *              cookie, then reuses it itself, then sends a malformed
 *              frame (moatd must kill it).
 *   secondary: uses the primary's cookie (foreign), then asks to
 *              authenticate on the primary's connection, which is not
 *              one of its own (must be killed).
 *   tertiary:  (a respawned copy) sends a session request without a
 *              descriptor (must be killed).
 * Later copies find every role taken and just wait for EOF.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/ipc.h"
#include "core/rand.h"

static char dir[4096];
static uint8_t rbuf[IPC_MSG_MAX];

/* Connections moatd handed us (kept open, never served). */
struct conn {
	uint32_t id, flags, rport, lport;
	char rip[IPC_IP_MAX], lip[IPC_IP_MAX];
	int fd;
};
static struct conn conns[16];
static size_t n_conns;

/* Keeps a CONN; returns true if msg was one. */
static bool keep_conn(const struct ipc_msg *msg)
{
	if (msg->type != IPC_CONN)
		return false;
	struct ipc_rd rd;
	struct conn c = { .id = msg->id, .fd = msg->fd };
	ipc_rd_init(&rd, msg);
	if (n_conns < 16 && ipc_get_u32(&rd, &c.flags) == 0 &&
	    ipc_get_str(&rd, c.rip, sizeof(c.rip)) == 0 &&
	    ipc_get_u32(&rd, &c.rport) == 0 &&
	    ipc_get_str(&rd, c.lip, sizeof(c.lip)) == 0 &&
	    ipc_get_u32(&rd, &c.lport) == 0)
		conns[n_conns++] = c;
	else if (msg->fd >= 0)
		close(msg->fd);
	return true;
}

static void result(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void result(const char *fmt, ...)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/evil-results", dir);
	FILE *f = fopen(path, "a");
	if (f == NULL)
		exit(2);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fclose(f);
}

/* Wait up to ms for a message of the given type; returns its status
 * field (first u32), or -1 on timeout/EOF. Copies a cookie if present. */
static int wait_reply(uint16_t type, uint8_t *cookie, int ms)
{
	struct pollfd pfd = { .fd = 3, .events = POLLIN };
	for (;;) {
		if (poll(&pfd, 1, ms) <= 0)
			return -1;
		struct ipc_msg msg;
		enum ipc_recv_result r = ipc_recv(3, rbuf, sizeof(rbuf), &msg);
		if (r == IPC_RECV_AGAIN)
			continue;
		if (r != IPC_RECV_OK)
			return -1;
		if (keep_conn(&msg))
			continue;
		if (msg.fd >= 0)
			close(msg.fd);
		if (msg.type != type)
			continue;
		struct ipc_rd rd;
		uint32_t status;
		ipc_rd_init(&rd, &msg);
		if (ipc_get_u32(&rd, &status) < 0)
			return -1;
		if (cookie != NULL &&
		    ipc_get_fixed(&rd, cookie, IPC_COOKIE_LEN) < 0)
			return -1;
		return (int)status;
	}
}

/* The i-th connection moatd gave us, waiting up to 15 s for it. */
static struct conn *get_conn(size_t i)
{
	for (int waited = 0; n_conns <= i && waited < 150; waited++)
		(void)wait_reply(IPC_NONE, NULL, 100);
	if (n_conns <= i) {
		fprintf(stderr, "evil-login: no connection %zu\n", i);
		exit(3);
	}
	return &conns[i];
}

/* Authenticates on connection cn (moatd takes its address). */
static int auth(struct conn *cn, const char *user, const char *pass,
		uint8_t *cookie)
{
	static uint32_t reqid = 100;
	struct ipc_out o;
	ipc_out_init(&o, IPC_AUTH_REQ, ++reqid);
	ipc_put_u32(&o, cn->id);
	ipc_put_str(&o, user);
	ipc_put_str(&o, pass);
	int r = ipc_send(3, &o, -1);
	ipc_out_free(&o);
	if (r < 0)
		return -1;
	return wait_reply(IPC_AUTH_RESULT, cookie, 10000);
}

/* Sends SESSION_REQ with the cookie and a socketpair end as the client
 * fd. Returns the SESSION_RESULT status; *peer gets our end. */
static int session(struct conn *cn, const uint8_t *cookie, const char *tag,
		   int *peer)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	struct ipc_out o;
	ipc_out_init(&o, IPC_SESSION_REQ, cn->id);
	ipc_put_bytes(&o, cookie, IPC_COOKIE_LEN);
	ipc_put_str(&o, tag);
	ipc_put_bytes(&o, "", 0);
	ipc_put_u32(&o, cn->flags & IPC_CONN_SECURED);
	ipc_put_str(&o, cn->rip);
	ipc_put_u32(&o, cn->rport);
	ipc_put_str(&o, cn->lip);
	ipc_put_u32(&o, cn->lport);
	int r = ipc_send(3, &o, sv[1]);
	ipc_out_free(&o);
	close(sv[1]);
	if (r < 0) {
		close(sv[0]);
		return -1;
	}
	int st = wait_reply(IPC_SESSION_RESULT, NULL, 10000);
	if (peer != NULL)
		*peer = sv[0];
	else
		close(sv[0]);
	return st;
}

static const char *st_name(int st)
{
	switch (st) {
	case IPC_ST_OK: return "OK";
	case IPC_ST_FAIL: return "FAIL";
	case IPC_ST_TEMPFAIL: return "TEMPFAIL";
	case IPC_ST_THROTTLED: return "THROTTLED";
	case IPC_ST_LIMIT: return "LIMIT";
	default: return "NONE";
	}
}

static bool take(const char *name)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static void idle_until_eof(void)
{
	for (;;) {
		struct ipc_msg msg;
		struct pollfd pfd = { .fd = 3, .events = POLLIN };
		poll(&pfd, 1, -1);
		enum ipc_recv_result r = ipc_recv(3, rbuf, sizeof(rbuf), &msg);
		if (r == IPC_RECV_OK && msg.fd >= 0)
			close(msg.fd);
		if (r == IPC_RECV_EOF || r == IPC_RECV_ERROR)
			exit(0);
	}
}

static int read_file(const char *name, void *buf, size_t len, int wait_ms)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	for (int waited = 0; waited <= wait_ms; waited += 50) {
		int fd = open(path, O_RDONLY);
		if (fd >= 0) {
			ssize_t n = read(fd, buf, len);
			close(fd);
			if (n == (ssize_t)len)
				return 0;
		}
		usleep(50000);
	}
	return -1;
}

static void write_file(const char *name, const void *buf, size_t len)
{
	char path[4200], tmp[4300];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd < 0 || write(fd, buf, len) != (ssize_t)len)
		exit(2);
	close(fd);
	rename(tmp, path);
}

static void primary(void)
{
	uint8_t cookie[IPC_COOKIE_LEN], c2[IPC_COOKIE_LEN];
	int peer = -1;
	struct conn *a = get_conn(0), *b = get_conn(1), *c = get_conn(2);

	rand_bytes(cookie, sizeof(cookie));
	result("forged %s", st_name(session(a, cookie, "f1", NULL)));

	memset(cookie, 0, sizeof(cookie));
	result("zero %s", st_name(session(a, cookie, "z1", NULL)));

	int st = auth(a, "alice", "secret-a", cookie);
	result("auth %s", st_name(st));
	st = session(a, cookie, "L1", &peer);
	result("legit %s", st_name(st));
	if (peer >= 0) {
		/* The session answers the tag itself. */
		char line[256] = "";
		struct pollfd pfd = { .fd = peer, .events = POLLIN };
		if (poll(&pfd, 1, 5000) > 0) {
			ssize_t n = read(peer, line, sizeof(line) - 1);
			line[n > 0 ? n : 0] = '\0';
		}
		result("legit-greeting %s", strncmp(line, "L1 OK", 5) == 0 ?
		       "OK" : "NONE");
		close(peer);
	}
	result("replay %s", st_name(session(b, cookie, "R1", NULL)));

	/* The password came in on b; the session is asked for on c (which
	 * would run, and be logged, with c's client's address). */
	st = auth(b, "alice", "secret-a", cookie);
	result("cross-auth %s", st_name(st));
	result("cross %s", st_name(session(c, cookie, "C1", NULL)));
	/* Burned by the attempt, like any refused cookie. */
	result("cross-then-own %s", st_name(session(b, cookie, "C2", NULL)));

	st = auth(b, "alice", "secret-a", c2);
	write_file("conn-a", &a->id, sizeof(a->id));
	write_file("cookie2", c2, sizeof(c2));
	/* Wait until the secondary has tried it. */
	char done;
	read_file("secondary-done", &done, 1, 15000);
	result("foreign-then-owner %s", st_name(session(b, c2, "O1", NULL)));

	st = auth(b, "alice", "secret-a", cookie);
	sleep(2);   /* auth_cookie_lifetime = 1s in the test config */
	result("expired %s", st_name(session(b, cookie, "E1", NULL)));

	/* Wrong password must not yield a cookie at all. */
	st = auth(b, "bob", "wrong", cookie);
	result("badpass-auth %s", st_name(st));

	result("primary-malformed sent");
	uint8_t junk[40];
	rand_bytes(junk, sizeof(junk));
	memcpy(junk, "\x00\x05\xff\xff", 4);   /* SESSION_REQ, bogus fields */
	send(3, junk, sizeof(junk), 0);
	sleep(10);
	result("primary-survived");
	exit(0);
}

static void secondary(void)
{
	uint8_t cookie[IPC_COOKIE_LEN];
	uint32_t primary_conn;
	if (read_file("cookie2", cookie, sizeof(cookie), 15000) < 0 ||
	    read_file("conn-a", &primary_conn, sizeof(primary_conn), 0) < 0) {
		result("foreign NOCOOKIE");
		exit(1);
	}
	result("foreign %s", st_name(session(get_conn(0), cookie, "F1", NULL)));
	write_file("secondary-done", "1", 1);

	/* Authenticate on a connection that is not ours (the primary's). */
	struct ipc_out o;
	ipc_out_init(&o, IPC_AUTH_REQ, 9);
	ipc_put_u32(&o, primary_conn);
	ipc_put_str(&o, "alice");
	ipc_put_str(&o, "guess");
	result("secondary-spoof sent");   /* before: it may die at once */
	ipc_send(3, &o, -1);
	ipc_out_free(&o);
	sleep(10);
	result("secondary-survived");
	exit(0);
}

static void tertiary(void)
{
	/* A session request without a descriptor. */
	uint8_t cookie[IPC_COOKIE_LEN] = { 0 };
	struct ipc_out o;
	ipc_out_init(&o, IPC_SESSION_REQ, 7);
	ipc_put_bytes(&o, cookie, IPC_COOKIE_LEN);
	ipc_put_str(&o, "X1");
	ipc_put_bytes(&o, "", 0);
	ipc_put_u32(&o, 0);
	ipc_put_str(&o, "127.0.0.1");
	ipc_put_u32(&o, 1);
	ipc_put_str(&o, "127.0.0.1");
	ipc_put_u32(&o, 143);
	result("tertiary-nofd sent");     /* before: it may die at once */
	ipc_send(3, &o, -1);
	ipc_out_free(&o);
	sleep(10);
	result("tertiary-survived");
	exit(0);
}

int main(int argc, char **argv)
{
	const char *conf = NULL;
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "-c") == 0)
			conf = argv[i + 1];
	if (conf == NULL)
		return 2;
	snprintf(dir, sizeof(dir), "%s", conf);
	char *slash = strrchr(dir, '/');
	if (slash == NULL)
		return 2;
	*slash = '\0';

	if (take("role-primary"))
		primary();
	else if (take("role-secondary"))
		secondary();
	else if (take("role-tertiary"))
		tertiary();
	idle_until_eof();
	return 0;
}
