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
 * Two roles, decided by who creates the marker file first:
 *   primary:   forged, legit, replay, expired, then waits for the
 *              secondary to try its cookie, then reuses it itself,
 *              then sends a malformed frame (moatd must kill it).
 *   secondary: uses the primary's cookie (foreign), then sends a
 *              session request without a descriptor (must be killed).
 * Respawned copies find both roles taken and just wait for EOF.
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

static int auth(const char *user, const char *pass, uint8_t *cookie)
{
	static uint32_t reqid = 100;
	struct ipc_out o;
	ipc_out_init(&o, IPC_AUTH_REQ, ++reqid);
	ipc_put_str(&o, user);
	ipc_put_str(&o, pass);
	ipc_put_str(&o, "127.0.0.1");
	int r = ipc_send(3, &o, -1);
	ipc_out_free(&o);
	if (r < 0)
		return -1;
	return wait_reply(IPC_AUTH_RESULT, cookie, 10000);
}

/* Sends SESSION_REQ with the cookie and a socketpair end as the client
 * fd. Returns the SESSION_RESULT status; *peer gets our end. */
static int session(const uint8_t *cookie, const char *tag, int *peer)
{
	static uint32_t connid = 1000;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	struct ipc_out o;
	ipc_out_init(&o, IPC_SESSION_REQ, ++connid);
	ipc_put_bytes(&o, cookie, IPC_COOKIE_LEN);
	ipc_put_str(&o, tag);
	ipc_put_bytes(&o, "", 0);
	ipc_put_u32(&o, IPC_CONN_SECURED);
	ipc_put_str(&o, "127.0.0.1");
	ipc_put_u32(&o, 40000);
	ipc_put_str(&o, "127.0.0.1");
	ipc_put_u32(&o, 143);
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

	rand_bytes(cookie, sizeof(cookie));
	result("forged %s", st_name(session(cookie, "f1", NULL)));

	memset(cookie, 0, sizeof(cookie));
	result("zero %s", st_name(session(cookie, "z1", NULL)));

	int st = auth("alice", "secret-a", cookie);
	result("auth %s", st_name(st));
	st = session(cookie, "L1", &peer);
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
	result("replay %s", st_name(session(cookie, "R1", NULL)));

	st = auth("alice", "secret-a", c2);
	write_file("cookie2", c2, sizeof(c2));
	/* Wait until the secondary has tried it. */
	char done;
	read_file("secondary-done", &done, 1, 15000);
	result("foreign-then-owner %s", st_name(session(c2, "O1", NULL)));

	st = auth("alice", "secret-a", cookie);
	sleep(2);   /* auth_cookie_lifetime = 1s in the test config */
	result("expired %s", st_name(session(cookie, "E1", NULL)));

	/* Wrong password must not yield a cookie at all. */
	st = auth("bob", "wrong", cookie);
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
	if (read_file("cookie2", cookie, sizeof(cookie), 15000) < 0) {
		result("foreign NOCOOKIE");
		exit(1);
	}
	result("foreign %s", st_name(session(cookie, "F1", NULL)));
	write_file("secondary-done", "1", 1);

	/* A session request without a descriptor. */
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
	ipc_send(3, &o, -1);
	ipc_out_free(&o);
	result("secondary-nofd sent");
	sleep(10);
	result("secondary-survived");
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
	idle_until_eof();
	return 0;
}
