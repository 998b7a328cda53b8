/*
 * End-to-end tests of the auth program: start the built auth binary the
 * way moatd does (fd 3 = seqpacket IPC socket, fd 2 = log), with a
 * passwd-file backend in a temp dir, and play moatd: AUTH_REQ,
 * COOKIE_REDEEM, protocol violations, signals. With nss_wrapper
 * installed, also the supplementary groups the worker looks up and
 * COOKIE_USER carries.
 */
#include <criterion/criterion.h>
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/ipc.h"
#include "core/log.h"

#ifndef AUTH_BIN
#define AUTH_BIN "auth/auth"
#endif

/* auth_failure_delay. auth answers failures at once with the delay left
 * (the login process waits it out), so a long one costs the tests
 * nothing and tells "answered at once" from "held" even on a loaded
 * machine. */
#define DELAY_MS 2000
/* The connection id (moatd's) the requests here are for. */
#define CONN_ID 77u
/* The passwd-file users' ids: valid for a session (not root, above the
 * default first_valid_uid), whoever runs the test. */
#define USER_UID 5001u
#define USER_GID 5001u

static char dir[64], conf[128], pwpath[128], logpath[128];
static char nsspw[128], nssgr[128];
static const char *nss_lib;     /* preload nss_wrapper into auth */
static pid_t auth_pid = -1;
static int sock = -1;
static uint8_t rbuf[IPC_MSG_MAX];

static char *
make_hash(const char *password)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	char *out;

	cr_assert_not_null(crypt_gensalt_rn("$6$", 1000, NULL, 0, setting,
					    sizeof(setting)));
	cr_assert_not_null(crypt_rn(password, setting, cd, sizeof(*cd)));
	out = strdup(cd->output);
	free(cd);
	return out;
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "fopen %s: %s", path, strerror(errno));
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

static void
write_conf(unsigned int delay_ms)
{
	char text[1024];

	snprintf(text, sizeof(text),
		 "listen = 127.0.0.1:1143 none\n"
		 "auth_backends = passwd-file\n"
		 "auth_passwd_file = %s\n"
		 "auth_workers = 2\n"
		 "auth_failure_delay = %ums\n"
		 "auth_throttle_failures = 3\n"
		 "auth_throttle_window = 1m\n"
		 "auth_cookie_lifetime = 1s\n"
		 "mail_location = maildir:~/Maildir\n"
		 /* Exists on Debian; its uid (65534) is refused when
		  * auth runs as root. */
		 "login_user = nobody\n",
		 pwpath, delay_ms);
	write_text(conf, text);
}

static void
start_auth(void)
{
	int sv[2], fd;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
				sv), 0);
	auth_pid = fork();
	cr_assert_neq(auth_pid, -1);
	if (auth_pid == 0) {
		fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd < 0 || dup2(fd, 2) < 0 || dup2(sv[1], 3) < 0)
			_exit(127);
		fd = open("/dev/null", O_RDWR);
		if (fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0)
			_exit(127);
		close_range(4, ~0u, 0);
		if (nss_lib != NULL) {
			const char *ao = getenv("ASAN_OPTIONS");
			char opts[512];

			/* nss_wrapper is preloaded ahead of ASan's runtime
			 * in a sanitizer build. */
			snprintf(opts, sizeof(opts), "%s%sverify_asan_link_"
				 "order=0", ao != NULL ? ao : "",
				 ao != NULL && *ao != '\0' ? ":" : "");
			if (setenv("LD_PRELOAD", nss_lib, 1) < 0 ||
			    setenv("NSS_WRAPPER_PASSWD", nsspw, 1) < 0 ||
			    setenv("NSS_WRAPPER_GROUP", nssgr, 1) < 0 ||
			    setenv("ASAN_OPTIONS", opts, 1) < 0)
				_exit(127);
		}
		execl(AUTH_BIN, "auth", "-c", conf, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	sock = sv[0];
}

static void
setup(void)
{
	char *h = make_hash("s3cret");
	char text[1024];

	signal(SIGPIPE, SIG_IGN);
	strcpy(dir, "/tmp/moat-authproc-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/moat.conf", dir);
	snprintf(pwpath, sizeof(pwpath), "%s/passwd", dir);
	snprintf(logpath, sizeof(logpath), "%s/log", dir);
	snprintf(text, sizeof(text),
		 "alice:{SHA512-CRYPT}%s:%u:%u::%s::userdb_mail=mbox:~/mail\n"
		 "bob:%s:%u:%u::%s\n",
		 h, USER_UID, USER_GID, dir, h, USER_UID, USER_GID, dir);
	write_text(pwpath, text);
	write_conf(DELAY_MS);
	free(h);
	start_auth();
}

static void
teardown(void)
{
	char cmd[256];

	if (sock >= 0)
		close(sock);
	if (auth_pid > 0) {
		kill(auth_pid, SIGKILL);
		waitpid(auth_pid, NULL, 0);
	}
	/* MOAT_TEST_SHOWLOG=1 shows what auth logged. */
	if (getenv("MOAT_TEST_SHOWLOG") != NULL) {
		snprintf(cmd, sizeof(cmd), "cat '%s' >&2", logpath);
		if (system(cmd) != 0)
			fprintf(stderr, "no log\n");
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", dir);
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
send_auth(uint32_t id, uint64_t login_id, const char *user,
	  const char *pass, const char *ip)
{
	struct ipc_out o;

	ipc_out_init(&o, IPC_AUTH_REQ, id);
	ipc_put_u64(&o, login_id);
	ipc_put_u32(&o, CONN_ID);
	ipc_put_str(&o, user);
	ipc_put_str(&o, pass);
	ipc_put_str(&o, ip);
	cr_assert_eq(ipc_send(sock, &o, -1), 0);
	ipc_out_free(&o);
}

static void
send_redeem_conn(uint32_t id, uint64_t login_id, uint32_t conn_id,
		 const uint8_t *cookie)
{
	struct ipc_out o;

	ipc_out_init(&o, IPC_COOKIE_REDEEM, id);
	ipc_put_u64(&o, login_id);
	ipc_put_u32(&o, conn_id);
	ipc_put_bytes(&o, cookie, IPC_COOKIE_LEN);
	cr_assert_eq(ipc_send(sock, &o, -1), 0);
	ipc_out_free(&o);
}

static void
send_redeem(uint32_t id, uint64_t login_id, const uint8_t *cookie)
{
	send_redeem_conn(id, login_id, CONN_ID, cookie);
}

/* Waits up to ms for a message; returns the ipc_recv result. */
static enum ipc_recv_result
recv_msg(struct ipc_msg *msg, int ms)
{
	struct pollfd pfd = { .fd = sock, .events = POLLIN };

	if (poll(&pfd, 1, ms) <= 0)
		return IPC_RECV_AGAIN;
	return ipc_recv(sock, rbuf, sizeof(rbuf), msg);
}

struct result {
	uint32_t id, status;
	uint32_t delay_ms;          /* failure delay left to the login */
	uint8_t cookie[IPC_COOKIE_LEN];
	char user[IPC_USER_MAX + 1];
};

static void
recv_result(struct result *r)
{
	struct ipc_msg msg;
	struct ipc_rd rd;

	cr_assert_eq(recv_msg(&msg, 10000), IPC_RECV_OK, "no AUTH_RESULT");
	cr_assert_eq(msg.type, IPC_AUTH_RESULT, "got type %u, want "
		     "AUTH_RESULT", msg.type);
	r->id = msg.id;
	ipc_rd_init(&rd, &msg);
	cr_assert_eq(ipc_get_u32(&rd, &r->status), 0);
	cr_assert_eq(ipc_get_fixed(&rd, r->cookie, IPC_COOKIE_LEN), 0);
	cr_assert_eq(ipc_get_str(&rd, r->user, sizeof(r->user)), 0);
	cr_assert_eq(ipc_get_u32(&rd, &r->delay_ms), 0);
	cr_assert_eq(ipc_rd_end(&rd), 0);
	if (r->status == IPC_ST_OK)
		cr_assert_eq(r->delay_ms, 0, "OK with a delay of %u ms",
			     r->delay_ms);
}

struct userrec {
	uint32_t status, uid, gid;
	char user[IPC_USER_MAX + 1], home[IPC_PATH_MAX + 1];
	char mail[IPC_PATH_MAX + 1];
	uint32_t groups[IPC_GROUPS_MAX];
	size_t n_groups;
};

static void
recv_user(uint32_t want_id, struct userrec *u)
{
	struct ipc_msg msg;
	struct ipc_rd rd;

	cr_assert_eq(recv_msg(&msg, 10000), IPC_RECV_OK, "no COOKIE_USER");
	cr_assert_eq(msg.type, IPC_COOKIE_USER, "got type %u, want "
		     "COOKIE_USER", msg.type);
	cr_assert_eq(msg.id, want_id);
	ipc_rd_init(&rd, &msg);
	cr_assert_eq(ipc_get_u32(&rd, &u->status), 0);
	cr_assert_eq(ipc_get_str(&rd, u->user, sizeof(u->user)), 0);
	cr_assert_eq(ipc_get_u32(&rd, &u->uid), 0);
	cr_assert_eq(ipc_get_u32(&rd, &u->gid), 0);
	cr_assert_eq(ipc_get_str(&rd, u->home, sizeof(u->home)), 0);
	cr_assert_eq(ipc_get_str(&rd, u->mail, sizeof(u->mail)), 0);
	{
		const uint8_t *p;
		size_t len;

		cr_assert_eq(ipc_get_bytes(&rd, &p, &len,
					   4 * IPC_GROUPS_MAX), 0,
			     "COOKIE_USER without a groups field");
		cr_assert_eq(len % 4, 0, "groups field of %zu bytes, want a "
			     "multiple of 4", len);
		u->n_groups = len / 4;
		for (size_t i = 0; i < u->n_groups; i++)
			u->groups[i] = (uint32_t)p[4 * i] << 24 |
			    (uint32_t)p[4 * i + 1] << 16 |
			    (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	}
	cr_assert_eq(ipc_rd_end(&rd), 0);
}

static bool
all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != 0)
			return false;
	}
	return true;
}

static int
wait_exit(int ms)
{
	int status;

	for (int i = 0; i < ms / 10; i++) {
		if (waitpid(auth_pid, &status, WNOHANG) == auth_pid) {
			auth_pid = -1;
			return status;
		}
		usleep(10000);
	}
	cr_assert_fail("auth did not exit within %d ms", ms);
	return -1;
}

TestSuite(auth_proc, .init = setup, .fini = teardown, .timeout = 30);

Test(auth_proc, login_and_redeem)
{
	struct result r;
	struct userrec u;

	send_auth(11, 500, "alice", "s3cret", "192.0.2.1");
	recv_result(&r);
	cr_assert_eq(r.id, 11);
	cr_assert_eq(r.status, IPC_ST_OK, "got status %u, want OK", r.status);
	cr_assert_str_eq(r.user, "alice");
	cr_assert_not(all_zero(r.cookie, IPC_COOKIE_LEN), "zero cookie");

	send_redeem(12, 500, r.cookie);
	recv_user(12, &u);
	cr_assert_eq(u.status, IPC_ST_OK, "got status %u, want OK", u.status);
	cr_assert_str_eq(u.user, "alice");
	cr_assert_eq(u.uid, USER_UID);
	cr_assert_eq(u.gid, USER_GID);
	cr_assert_str_eq(u.home, dir);
	cr_assert_str_eq(u.mail, "mbox:~/mail");
	/* A passwd-file user NSS does not know: just the primary gid. */
	cr_assert_eq(u.n_groups, 1, "got %zu groups, want 1", u.n_groups);
	cr_assert_eq(u.groups[0], USER_GID, "got group %u, want %u",
		     u.groups[0], USER_GID);

	send_redeem(13, 500, r.cookie);
	recv_user(13, &u);
	cr_assert_eq(u.status, IPC_ST_FAIL, "second redeem: got %u, want "
		     "FAIL", u.status);
	cr_assert_str_eq(u.user, "");
	cr_assert_eq(u.uid, 0);
	cr_assert_eq(u.n_groups, 0, "FAIL with %zu groups, want none",
		     u.n_groups);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Restarts auth with nss_wrapper preloaded: carol (5003) is also in
 * mailers (5100); dave is in more groups than COOKIE_USER may carry. */
static void
restart_with_nss_wrapper(void)
{
	static const char *const libs[] = {
		"/usr/lib/x86_64-linux-gnu/libnss_wrapper.so",
		"/usr/lib/aarch64-linux-gnu/libnss_wrapper.so",
		"/usr/lib64/libnss_wrapper.so",
		"/usr/lib/libnss_wrapper.so",
	};
	char *h = make_hash("s3cret");
	char line[320];
	FILE *f;

	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
		if (access(libs[i], R_OK) == 0) {
			nss_lib = libs[i];
			break;
		}
	}
	if (nss_lib == NULL) {
		free(h);
		cr_skip_test("nss_wrapper is not installed");
	}
	snprintf(nsspw, sizeof(nsspw), "%s/nss-passwd", dir);
	snprintf(nssgr, sizeof(nssgr), "%s/nss-group", dir);
	snprintf(line, sizeof(line), "carol:x:5003:5003::%s:/bin/false\n"
		 "dave:x:5004:5004::%s:/bin/false\n", dir, dir);
	write_text(nsspw, line);
	f = fopen(nssgr, "w");
	cr_assert_not_null(f);
	fputs("carol:x:5003:\nmailers:x:5100:carol\nother:x:5200:\n", f);
	for (int i = 0; i < IPC_GROUPS_MAX + 10; i++)
		fprintf(f, "g%d:x:%d:dave\n", i, 20000 + i);
	cr_assert_eq(fclose(f), 0);
	f = fopen(pwpath, "w");
	cr_assert_not_null(f);
	fprintf(f, "carol:%s:5003:5003::%s\ndave:%s:5004:5004::%s\n", h,
		dir, h, dir);
	cr_assert_eq(fclose(f), 0);
	free(h);

	close(sock);
	kill(auth_pid, SIGKILL);
	waitpid(auth_pid, NULL, 0);
	start_auth();
}

Test(auth_proc, cookie_user_carries_groups)
{
	struct result r;
	struct userrec u;

	restart_with_nss_wrapper();
	send_auth(1, 42, "carol", "s3cret", "192.0.2.9");
	recv_result(&r);
	cr_assert_eq(r.status, IPC_ST_OK, "got status %u, want OK", r.status);
	send_redeem(2, 42, r.cookie);
	recv_user(2, &u);
	cr_assert_eq(u.status, IPC_ST_OK);
	cr_assert_eq(u.gid, 5003);
	cr_assert_eq(u.n_groups, 2, "got %zu groups, want 2 (5003, 5100)",
		     u.n_groups);
	qsort(u.groups, u.n_groups, sizeof(u.groups[0]), cmp_u32);
	cr_assert_eq(u.groups[0], 5003, "got %u, want 5003", u.groups[0]);
	cr_assert_eq(u.groups[1], 5100, "got %u, want 5100", u.groups[1]);
}

Test(auth_proc, too_many_groups_is_tempfail)
{
	struct result r;

	restart_with_nss_wrapper();
	/* Never a session with a silently shortened list. */
	send_auth(1, 42, "dave", "s3cret", "192.0.2.9");
	recv_result(&r);
	cr_assert_eq(r.status, IPC_ST_TEMPFAIL, "got status %u, want "
		     "TEMPFAIL", r.status);
	cr_assert_str_eq(r.user, "");
}

Test(auth_proc, global_mail_location_when_unset)
{
	struct result r;
	struct userrec u;

	send_auth(1, 9, "bob", "s3cret", "2001:db8::5");
	recv_result(&r);
	cr_assert_eq(r.status, IPC_ST_OK);
	send_redeem(2, 9, r.cookie);
	recv_user(2, &u);
	cr_assert_eq(u.status, IPC_ST_OK);
	cr_assert_str_eq(u.mail, "maildir:~/Maildir", "got %s, want the "
			 "global mail_location", u.mail);
}

Test(auth_proc, cookie_bound_to_login_process)
{
	struct result r;
	struct userrec u;

	send_auth(1, 100, "alice", "s3cret", "192.0.2.1");
	recv_result(&r);
	cr_assert_eq(r.status, IPC_ST_OK);
	send_redeem(2, 101, r.cookie);
	recv_user(2, &u);
	cr_assert_eq(u.status, IPC_ST_FAIL, "foreign login id: want FAIL");
	send_redeem(3, 100, r.cookie);
	recv_user(3, &u);
	cr_assert_eq(u.status, IPC_ST_FAIL, "a cookie tried by another "
		     "login process must be burned");
}

/* Issue 5, finding 7: the cookie is good only for the connection the
 * password came in on. */
Test(auth_proc, cookie_bound_to_connection)
{
	struct result r;
	struct userrec u;

	send_auth(1, 100, "alice", "s3cret", "192.0.2.1");
	recv_result(&r);
	cr_assert_eq(r.status, IPC_ST_OK);
	send_redeem_conn(2, 100, CONN_ID + 1, r.cookie);
	recv_user(2, &u);
	cr_assert_eq(u.status, IPC_ST_FAIL, "other connection: want FAIL");
	cr_assert_str_eq(u.user, "");
	send_redeem(3, 100, r.cookie);
	recv_user(3, &u);
	cr_assert_eq(u.status, IPC_ST_FAIL, "a cookie tried on another "
		     "connection must be burned");
}

Test(auth_proc, cookie_expires)
{
	struct result r;
	struct userrec u;

	send_auth(1, 1, "alice", "s3cret", "192.0.2.1");
	recv_result(&r);
	cr_assert_eq(r.status, IPC_ST_OK);
	usleep(1200 * 1000);
	send_redeem(2, 1, r.cookie);
	recv_user(2, &u);
	cr_assert_eq(u.status, IPC_ST_FAIL, "expired cookie: want FAIL");
}

Test(auth_proc, failures_are_slow_and_uniform)
{
	static const struct {
		const char *user, *pass;
	} cases[] = {
		{ "alice", "wrong" },
		{ "nobody", "s3cret" },
		{ "alice", "" },
		{ "al\x01ice", "s3cret" },
	};
	struct result r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t t0 = now_ms(), dt;
		char ip[32];

		/* A fresh address each time: no throttling here. */
		snprintf(ip, sizeof(ip), "198.51.100.%zu", i + 1);
		send_auth((uint32_t)i, 1, cases[i].user, cases[i].pass, ip);
		recv_result(&r);
		dt = now_ms() - t0;
		cr_assert_eq(r.id, i);
		cr_assert_eq(r.status, IPC_ST_FAIL, "case %zu: got status %u, "
			     "want FAIL", i, r.status);
		cr_assert(all_zero(r.cookie, IPC_COOKIE_LEN));
		cr_assert_str_eq(r.user, "");
		/* Answered at once, telling the login process to wait out
		 * the rest of the delay (issue 5, finding 3: nothing on the
		 * relay path is held meanwhile). */
		cr_assert(dt < DELAY_MS, "case %zu: answered after %llu "
			  "ms, want at once", i, (unsigned long long)dt);
		cr_assert(dt + r.delay_ms >= DELAY_MS - 5 &&
			  r.delay_ms <= DELAY_MS, "case %zu: answered after "
			  "%llu ms with %u ms to wait, want %d in all", i,
			  (unsigned long long)dt, r.delay_ms, DELAY_MS);
	}
}

Test(auth_proc, long_password_is_a_failure_not_a_crash)
{
	char *pw = malloc(IPC_PASS_MAX + 2);
	struct result r;

	memset(pw, 'p', IPC_PASS_MAX + 1);
	pw[IPC_PASS_MAX + 1] = '\0';
	send_auth(1, 1, "alice", pw, "192.0.2.1");
	recv_result(&r);
	cr_assert_eq(r.status, IPC_ST_FAIL);
	send_auth(2, 1, "alice", "s3cret", "192.0.2.2");
	recv_result(&r);
	cr_assert_eq(r.status, IPC_ST_OK, "auth must still work");
	free(pw);
}

Test(auth_proc, throttling)
{
	struct result r;

	for (uint32_t i = 0; i < 3; i++) {
		send_auth(i, 1, "alice", "bad", "203.0.113.9");
		recv_result(&r);
		cr_assert_eq(r.status, IPC_ST_FAIL);
	}
	send_auth(10, 1, "alice", "s3cret", "203.0.113.9");
	recv_result(&r);
	cr_assert_eq(r.status, IPC_ST_THROTTLED, "after 3 failures: got %u, "
		     "want THROTTLED even with the right password", r.status);
	send_auth(11, 1, "alice", "s3cret", "203.0.113.10");
	recv_result(&r);
	cr_assert_eq(r.status, IPC_ST_OK, "another address is not "
		     "throttled");
}

Test(auth_proc, many_in_flight)
{
	enum { N = 40 };
	bool seen[N] = { false };
	struct result r;

	for (uint32_t i = 0; i < N; i++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "10.9.%u.1", i);
		send_auth(i, i, "alice", i % 4 == 3 ? "no" : "s3cret", ip);
	}
	for (uint32_t i = 0; i < N; i++) {
		recv_result(&r);
		cr_assert_lt(r.id, N);
		cr_assert_not(seen[r.id], "id %u answered twice", r.id);
		seen[r.id] = true;
		cr_assert_eq(r.status, r.id % 4 == 3 ? IPC_ST_FAIL : IPC_ST_OK,
			     "id %u: got status %u", r.id, r.status);
	}
}

Test(auth_proc, reload_on_sighup)
{
	struct result r;

	/* An answer means auth's signal handling is set up: a SIGHUP
	 * before that would kill it (seen on a loaded machine). */
	send_auth(9, 1, "alice", "s3cret", "192.0.2.50");
	recv_result(&r);
	cr_assert_eq(r.status, IPC_ST_OK);
	write_conf(0);
	/* Let the reload land before the request (both are async). */
	usleep(300 * 1000);
	kill(auth_pid, SIGHUP);
	usleep(300 * 1000);
	send_auth(1, 1, "alice", "bad", "192.0.2.50");
	recv_result(&r);
	cr_assert_eq(r.status, IPC_ST_FAIL);
	/* The delay is the login process's to wait out: what auth decides
	 * is how much of it is left. */
	cr_assert_eq(r.delay_ms, 0, "new delay 0 not applied: %u ms",
		     r.delay_ms);
	/* The renewed workers still work. */
	send_auth(2, 1, "alice", "s3cret", "192.0.2.50");
	recv_result(&r);
	cr_assert_eq(r.status, IPC_ST_OK);

	/* A broken config is refused and the old one kept. */
	write_text(conf, "no_such_setting = 1\n");
	kill(auth_pid, SIGHUP);
	usleep(200 * 1000);
	send_auth(3, 1, "alice", "s3cret", "192.0.2.51");
	recv_result(&r);
	cr_assert_eq(r.status, IPC_ST_OK);
}

Test(auth_proc, passwd_file_change_is_picked_up)
{
	char *h = make_hash("n3w");
	char text[512];
	struct result r;

	snprintf(text, sizeof(text), "carol:%s:%u:%u::/tmp\n", h,
		 USER_UID, USER_GID);
	write_text(pwpath, text);
	/* Two workers, each with its own cache: ask both. */
	for (uint32_t i = 0; i < 4; i++) {
		send_auth(i, 1, "carol", "n3w", "192.0.2.60");
		recv_result(&r);
		cr_assert_eq(r.status, IPC_ST_OK, "round %u: got %u", i,
			     r.status);
	}
	free(h);
}

Test(auth_proc, unexpected_type_is_fatal)
{
	struct ipc_out o;
	int status;

	ipc_out_init(&o, IPC_SESSION_REQ, 1);
	ipc_put_u32(&o, 0);
	cr_assert_eq(ipc_send(sock, &o, -1), 0);
	ipc_out_free(&o);
	status = wait_exit(5000);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == LOG_FATAL_EXIT,
		  "got status 0x%x, want exit %d", status, LOG_FATAL_EXIT);
}

Test(auth_proc, malformed_fields_are_fatal)
{
	struct ipc_out o;
	int status;

	/* AUTH_REQ without its login id. */
	ipc_out_init(&o, IPC_AUTH_REQ, 1);
	ipc_put_str(&o, "alice");
	ipc_put_str(&o, "s3cret");
	ipc_put_str(&o, "192.0.2.1");
	cr_assert_eq(ipc_send(sock, &o, -1), 0);
	ipc_out_free(&o);
	status = wait_exit(5000);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == LOG_FATAL_EXIT,
		  "got status 0x%x, want exit %d", status, LOG_FATAL_EXIT);
}

Test(auth_proc, short_cookie_is_fatal)
{
	struct ipc_out o;
	uint8_t c[IPC_COOKIE_LEN - 1] = { 0 };
	int status;

	ipc_out_init(&o, IPC_COOKIE_REDEEM, 1);
	ipc_put_u64(&o, 1);
	ipc_put_bytes(&o, c, sizeof(c));
	cr_assert_eq(ipc_send(sock, &o, -1), 0);
	ipc_out_free(&o);
	status = wait_exit(5000);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == LOG_FATAL_EXIT);
}

Test(auth_proc, sigterm_exits_cleanly)
{
	struct result r;
	int status;

	send_auth(1, 1, "alice", "s3cret", "192.0.2.1");
	recv_result(&r);
	kill(auth_pid, SIGTERM);
	status = wait_exit(5000);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "got status 0x%x, want exit 0", status);
}

Test(auth_proc, moatd_gone_exits_cleanly)
{
	int status;

	close(sock);
	sock = -1;
	status = wait_exit(5000);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "got status 0x%x, want exit 0", status);
}

/* ---- accounts that may not log in (issue 5, finding 2) ---- */

/* Adds passwd-file users with the right password ("s3cret") whose
 * accounts must never get a session: uid 0, a system uid below the
 * default first_valid_uid (1000), login_user's uid (when root), gid 0.
 * Returns how many it wrote into names. */
static size_t
add_refused_users(const char **names)
{
	char *h = make_hash("s3cret");
	size_t n = 0;
	FILE *f = fopen(pwpath, "a");

	cr_assert_not_null(f);
	fprintf(f, "toor:%s:0:0::%s\n", h, dir);
	names[n++] = "toor";
	fprintf(f, "sysacct:%s:500:500::%s\n", h, dir);
	names[n++] = "sysacct";
	fprintf(f, "wheelie:%s:5005:0::%s\n", h, dir);
	names[n++] = "wheelie";
	if (geteuid() == 0) {
		struct passwd *pw = getpwnam("nobody");

		cr_assert_not_null(pw, "the test needs user nobody");
		fprintf(f, "loginuser:%s:%u:%u::%s\n", h,
			(unsigned)pw->pw_uid, (unsigned)pw->pw_gid, dir);
		names[n++] = "loginuser";
	}
	cr_assert_eq(fclose(f), 0);
	free(h);
	return n;
}

/* The right password for such an account gets exactly what a wrong
 * password gets: FAIL, no cookie, no name, after the failure delay. */
Test(auth_proc, refused_accounts_answer_like_a_wrong_password)
{
	const char *names[8];
	size_t n = add_refused_users(names);
	struct result r, wrong;
	uint64_t t0, dt_wrong, dt;

	t0 = now_ms();
	send_auth(100, 1, "alice", "wrong", "198.51.100.200");
	recv_result(&wrong);
	dt_wrong = now_ms() - t0;
	cr_assert_eq(wrong.status, IPC_ST_FAIL);
	for (size_t i = 0; i < n; i++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "198.51.100.%zu", 201 + i);
		t0 = now_ms();
		send_auth((uint32_t)i, 1, names[i], "s3cret", ip);
		recv_result(&r);
		dt = now_ms() - t0;
		cr_assert_eq(r.id, i);
		cr_assert_eq(r.status, wrong.status, "%s with the right "
			     "password: got status %u, want %u (as for a "
			     "wrong password)", names[i], r.status,
			     wrong.status);
		cr_assert(all_zero(r.cookie, IPC_COOKIE_LEN), "%s: cookie "
			  "issued", names[i]);
		cr_assert_str_eq(r.user, "");
		/* auth answers at once with the delay still to run; the
		 * login process waits it out. Both together must be the
		 * whole failure delay, as for the wrong password. */
		cr_assert(dt + r.delay_ms >= DELAY_MS - 5 &&
			  r.delay_ms <= DELAY_MS, "%s: answered after %llu "
			  "ms with %u ms left, want the failure delay (%d ms; "
			  "a wrong password took %llu + %u)", names[i],
			  (unsigned long long)dt, r.delay_ms, DELAY_MS,
			  (unsigned long long)dt_wrong, wrong.delay_ms);
	}
}

Test(auth_proc, refused_accounts_count_as_failures)
{
	const char *names[8];
	struct result r;

	(void)add_refused_users(names);
	for (uint32_t i = 0; i < 3; i++) {
		send_auth(i, 1, names[i % 3], "s3cret", "203.0.113.77");
		recv_result(&r);
		cr_assert_eq(r.status, IPC_ST_FAIL);
	}
	send_auth(9, 1, "alice", "s3cret", "203.0.113.77");
	recv_result(&r);
	cr_assert_eq(r.status, IPC_ST_THROTTLED, "3 refused logins with "
		     "right passwords must throttle the address like 3 "
		     "wrong ones: got status %u", r.status);
}

/* ---- counting on arrival (issue 5, finding 5) ---- */

/* 45 wrong LOGINs from one address at once (throttle limit 3): only 3
 * may be checked; the rest are refused once those have failed. */
Test(auth_proc, parallel_wrong_logins_are_checked_at_most_limit_times)
{
	enum { N = 45 };
	bool seen[N] = { false };
	unsigned int failed = 0, throttled = 0;
	struct result r;

	for (uint32_t i = 0; i < N; i++)
		send_auth(i, 1, "alice", "guess", "192.0.2.99");
	for (uint32_t i = 0; i < N; i++) {
		recv_result(&r);
		cr_assert_lt(r.id, N);
		cr_assert_not(seen[r.id], "id %u answered twice", r.id);
		seen[r.id] = true;
		if (r.status == IPC_ST_FAIL)
			failed++;
		else if (r.status == IPC_ST_THROTTLED)
			throttled++;
		else
			cr_assert_fail("id %u: got status %u", r.id, r.status);
	}
	cr_assert_eq(failed, 3, "got %u password checks (FAIL), want the "
		     "throttle limit 3; %u throttled", failed, throttled);
	cr_assert_eq(throttled, N - 3);
}

/* Many good logins at once from one address (a webmail host) wait for
 * a slot rather than being mistaken for an attack. */
Test(auth_proc, parallel_good_logins_from_one_address_all_succeed)
{
	enum { N = 20 };
	struct result r;

	for (uint32_t i = 0; i < N; i++)
		send_auth(i, 1, "alice", "s3cret", "192.0.2.98");
	for (uint32_t i = 0; i < N; i++) {
		recv_result(&r);
		cr_assert_eq(r.status, IPC_ST_OK, "id %u: got status %u, want "
			     "OK", r.id, r.status);
	}
}

/* ---- passwd-file ownership (issue 5, finding 10) ---- */

static void
expect_status(uint32_t id, const char *ip, uint32_t want, const char *what)
{
	struct result r;

	send_auth(id, 1, "alice", "s3cret", ip);
	recv_result(&r);
	cr_assert_eq(r.status, want, "%s: got status %u, want %u", what,
		     r.status, want);
}

Test(auth_proc, insecure_passwd_file_is_refused)
{
	if (geteuid() != 0)
		cr_skip_test("ownership rules apply when auth runs as root");
	expect_status(1, "192.0.2.120", IPC_ST_OK, "root-owned 0644");
	cr_assert_eq(chmod(pwpath, 0664), 0);
	expect_status(2, "192.0.2.121", IPC_ST_TEMPFAIL, "group-writable");
	cr_assert_eq(chmod(pwpath, 0646), 0);
	expect_status(3, "192.0.2.122", IPC_ST_TEMPFAIL, "world-writable");
	cr_assert_eq(chmod(pwpath, 0644), 0);
	expect_status(4, "192.0.2.123", IPC_ST_OK, "fixed again");
	cr_assert_eq(chown(pwpath, 1234, 0), 0);
	expect_status(5, "192.0.2.124", IPC_ST_TEMPFAIL, "owned by uid 1234");
	cr_assert_eq(chown(pwpath, 0, 0), 0);
	expect_status(6, "192.0.2.125", IPC_ST_OK, "root's again");
	/* Whoever can write the directory can replace the file. */
	cr_assert_eq(chmod(dir, 0777), 0);
	cr_assert_eq(utimensat(AT_FDCWD, pwpath, NULL, 0), 0);
	expect_status(7, "192.0.2.126", IPC_ST_TEMPFAIL,
		      "world-writable directory");
	/* Sticky (like /tmp): only root can remove or rename root's
	 * file. */
	cr_assert_eq(chmod(dir, 01777), 0);
	cr_assert_eq(utimensat(AT_FDCWD, pwpath, NULL, 0), 0);
	expect_status(8, "192.0.2.127", IPC_ST_OK, "sticky directory");
	cr_assert_eq(chmod(dir, 0700), 0);
}
