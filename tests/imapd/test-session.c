/*
 * Tests for imap/session.c: moatd's argv and the drop to the user (as
 * root, in a child), the process limits, SESSION_INIT decoding and
 * validation (moatd is trusted more than a client, but a malformed
 * message must never start a session), "~" expansion of the mail
 * location, the home directory and the refusal when it cannot be
 * entered, and the session's reaction to moatd going away, a stray IPC
 * message and SIGTERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "core/ipc.h"
#include "core/log.h"
#include "core/str.h"
#include "imap/imap-settings.h"
#include "imap/parser.h"
#include "imap/session.h"
#include "storage/mbox-lock.h"
#include "harness.h"

#define T_TIMEOUT .timeout = 20

static uint8_t pipe_bytes[IPC_PIPELINED_MAX + 2];

/* SESSION_INIT's fields, all overridable; NULL pipelined = none. */
struct init_fields {
	uint16_t type;
	uint32_t id;
	const char *user, *home, *mail, *tag;
	size_t pipelined_len;
	uint32_t flags;
	const char *remote_ip;
	uint32_t remote_port;
	const char *local_ip;
	uint32_t local_port;
	const char *index;
	uint32_t sflags;
	uint64_t max_line, max_literal, idle_ms, max_message, output_ms;
	bool no_fd;
	bool extra_field;
	bool drop_last;
};

static const struct init_fields good = {
	.type = IPC_SESSION_INIT, .id = 0, .user = "demo",
	.home = "/home/demo", .mail = "maildir:~/Maildir", .tag = "a001",
	.pipelined_len = 9, .flags = IPC_CONN_SECURED,
	.remote_ip = "192.0.2.7", .remote_port = 40000,
	.local_ip = "::1", .local_port = 143,
	.index = "/var/lib/moat/index/demo", .sflags = IPC_SESS_FSYNC,
	.max_line = 8192, .max_literal = 1000000, .idle_ms = 60000,
	.max_message = 500000, .output_ms = 90000,
};

/* The fields in SESSION_INIT's order (lib/core/ipc-proto.h). */
static void
put_fields(struct ipc_out *o, const struct init_fields *f)
{
	ipc_put_str(o, f->user);
	ipc_put_str(o, f->home);
	ipc_put_str(o, f->mail);
	ipc_put_str(o, f->tag);
	ipc_put_bytes(o, pipe_bytes, f->pipelined_len);
	ipc_put_u32(o, f->flags);
	ipc_put_str(o, f->remote_ip);
	ipc_put_u32(o, f->remote_port);
	ipc_put_str(o, f->local_ip);
	ipc_put_u32(o, f->local_port);
	ipc_put_str(o, f->index);
	ipc_put_u32(o, f->sflags);
	ipc_put_u64(o, f->max_line);
	ipc_put_u64(o, f->max_literal);
	ipc_put_u64(o, f->idle_ms);
	ipc_put_u64(o, f->max_message);
	if (!f->drop_last)
		ipc_put_u64(o, f->output_ms);
}

/* Sends f over a fresh seqpacket pair and receives it back. */
static void
roundtrip(const struct init_fields *f, struct ipc_msg *msg, uint8_t *buf,
	  int *sock_out)
{
	struct ipc_out o;
	int sv[2], passfd = -1;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	ipc_out_init(&o, f->type, f->id);
	put_fields(&o, f);
	if (f->extra_field)
		ipc_put_u32(&o, 1);
	if (!f->no_fd)
		passfd = sv[0];
	cr_assert_eq(ipc_send(sv[0], &o, passfd), 0, "ipc_send: %s",
		     strerror(errno));
	ipc_out_free(&o);
	cr_assert_eq(ipc_recv(sv[1], buf, IPC_MSG_MAX, msg), IPC_RECV_OK);
	close(sv[0]);
	*sock_out = sv[1];
}

Test(session, decode_good)
{
	uint8_t *buf = xmalloc(IPC_MSG_MAX);
	struct session_info si;
	struct ipc_msg msg;
	const char *error = NULL;
	int sock;

	memcpy(pipe_bytes, "a1 NOOP\r\n", 9);
	roundtrip(&good, &msg, buf, &sock);
	cr_assert_eq(session_info_decode(&msg, &si, &error), 0,
		     "got error %s", error);
	cr_expect_str_eq(si.user, "demo");
	cr_expect_str_eq(si.home, "/home/demo");
	cr_expect_str_eq(si.mail, "maildir:~/Maildir");
	cr_expect_str_eq(si.tag, "a001");
	cr_expect_eq(si.pipelined_len, 9);
	cr_expect_eq(memcmp(si.pipelined, "a1 NOOP\r\n", 9), 0);
	cr_expect_eq(si.flags, IPC_CONN_SECURED);
	cr_expect_str_eq(si.remote_ip, "192.0.2.7");
	cr_expect_eq(si.remote_port, 40000);
	cr_expect_str_eq(si.local_ip, "::1");
	cr_expect_eq(si.local_port, 143);
	cr_expect_str_eq(si.index, "/var/lib/moat/index/demo");
	cr_expect_eq(si.fsync, true);
	cr_expect_eq(si.max_line, 8192);
	cr_expect_eq(si.max_literal, 1000000);
	cr_expect_eq(si.idle_timeout_ms, 60000);
	cr_expect_eq(si.max_message_size, 500000);
	cr_expect_eq(si.output_timeout_ms, 90000);
	cr_expect_eq(si.fd, msg.fd);
	close(msg.fd);
	close(sock);
	free(buf);
}

Test(session, decode_rejects)
{
	char longpath[IPC_PATH_MAX + 1];
	struct {
		const char *name;
		struct init_fields f;
		const char *error;
	} tab[] = {
		{ "type", good, "unexpected message type" },
		{ "id", good, "non-zero message id" },
		{ "no fd", good, "no client descriptor" },
		{ "empty user", good, "invalid user" },
		{ "user with LF", good, "invalid user" },
		{ "relative home", good, "home is not an absolute path" },
		{ "empty home", good, "home is not an absolute path" },
		{ "mail with CR", good, "invalid mail location" },
		{ "mail too long expanded", good, "mail location too long" },
		{ "empty tag", good, "invalid tag" },
		{ "tag with space", good, "invalid tag" },
		{ "tag with +", good, "invalid tag" },
		{ "tag with quote", good, "invalid tag" },
		{ "pipelined too long", good, "malformed fields" },
		{ "unknown flag", good, "unknown flags" },
		{ "remote ip", good, "invalid address" },
		{ "empty remote ip", good, "invalid address" },
		{ "local ip", good, "invalid address" },
		{ "remote port", good, "invalid port" },
		{ "local port", good, "invalid port" },
		{ "extra field", good, "malformed fields" },
		{ "missing field", good, "malformed fields" },
		{ "relative index", good, "invalid index location" },
		{ "index ~user", good, "invalid index location" },
		{ "index with LF", good, "invalid index location" },
		{ "index too long expanded", good, "index location too long" },
		{ "unknown session flag", good, "unknown session flags" },
		{ "max_line 1023", good, "limit out of range" },
		{ "max_line 16m+1", good, "limit out of range" },
		{ "max_literal 0", good, "limit out of range" },
		{ "max_literal 2g+1", good, "limit out of range" },
		{ "idle 0", good, "limit out of range" },
		{ "idle 24h+1", good, "limit out of range" },
		{ "output 0", good, "limit out of range" },
		{ "output 24h+1", good, "limit out of range" },
		{ "max_message 1023", good, "limit out of range" },
		{ "max_message 2g+1", good, "limit out of range" },
	};
	size_t i = 0;

	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[2] = '~';
	longpath[3] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	tab[i++].f.type = IPC_SESSION_REQ;
	tab[i++].f.id = 7;
	tab[i++].f.no_fd = true;
	tab[i++].f.user = "";
	tab[i++].f.user = "demo\nfake";
	tab[i++].f.home = "home/demo";
	tab[i++].f.home = "";
	tab[i++].f.mail = "maildir:~/Mail\rdir";
	tab[i++].f.mail = longpath + 2;  /* fits, but not after "~" */
	tab[i++].f.tag = "";
	tab[i++].f.tag = "a 1";
	tab[i++].f.tag = "a+1";
	tab[i++].f.tag = "a\"1";
	tab[i++].f.pipelined_len = IPC_PIPELINED_MAX + 1;
	tab[i++].f.flags = 0x80;
	tab[i++].f.remote_ip = "999.1.1.1";
	tab[i++].f.remote_ip = "";
	tab[i++].f.local_ip = "localhost";
	tab[i++].f.remote_port = 65536;
	tab[i++].f.local_port = 0xffffffffu;
	tab[i++].f.extra_field = true;
	tab[i++].f.drop_last = true;
	tab[i++].f.index = "index";
	tab[i++].f.index = "~demo/index";
	tab[i++].f.index = "/var/lib/\nx";
	tab[i++].f.index = longpath + 2;
	tab[i++].f.sflags = 0x4;
	tab[i++].f.max_line = 1023;
	tab[i++].f.max_line = 16 * 1024 * 1024 + 1;
	tab[i++].f.max_literal = 0;
	tab[i++].f.max_literal = 2ull * 1024 * 1024 * 1024 + 1;
	tab[i++].f.idle_ms = 0;
	tab[i++].f.idle_ms = 24ull * 3600 * 1000 + 1;
	tab[i++].f.output_ms = 0;
	tab[i++].f.output_ms = 24ull * 3600 * 1000 + 1;
	tab[i++].f.max_message = 1023;
	tab[i++].f.max_message = 2ull * 1024 * 1024 * 1024 + 1;
	cr_assert_eq(i, sizeof(tab) / sizeof(tab[0]));

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		uint8_t *buf = xmalloc(IPC_MSG_MAX);
		struct session_info si;
		struct ipc_msg msg;
		const char *error = NULL;
		int sock;

		roundtrip(&tab[i].f, &msg, buf, &sock);
		cr_expect_eq(session_info_decode(&msg, &si, &error), -1,
			     "%s: accepted, want refused", tab[i].name);
		cr_expect(error != NULL && str_eq(error, tab[i].error),
			  "%s: error got %s, want %s", tab[i].name,
			  error != NULL ? error : "NULL", tab[i].error);
		cr_expect_eq(si.fd, -1, "%s: fd handed out", tab[i].name);
		if (msg.fd >= 0)
			close(msg.fd);
		close(sock);
		free(buf);
	}
}

Test(session, long_tag)
{
	/* imap-login checks tags with the parser's rule (IMAP_TAG_MAX); a
	 * tag it accepted must be accepted here, one longer must not. */
	char tag[IPC_TAG_MAX + 1];
	struct init_fields f = good;
	uint8_t *buf = xmalloc(IPC_MSG_MAX);
	struct session_info si;
	struct ipc_msg msg;
	const char *error = NULL;
	int sock, rc;

	for (size_t len = IMAP_TAG_MAX; len <= IMAP_TAG_MAX + 1; len++) {
		memset(tag, 'T', len);
		tag[len] = '\0';
		f.tag = tag;
		roundtrip(&f, &msg, buf, &sock);
		rc = session_info_decode(&msg, &si, &error);
		cr_expect_eq(rc, len <= IMAP_TAG_MAX ? 0 : -1,
			     "%zu-byte tag: got %d", len, rc);
		close(msg.fd);
		close(sock);
	}
	free(buf);
}

Test(session, expand_index)
{
	static const struct {
		const char *index, *home, *want;
	} tab[] = {
		{ "~/.moat/index", "/home/u", "/home/u/.moat/index" },
		{ "~/.moat/index", "/home/u//", "/home/u/.moat/index" },
		{ "~/i", "/", "/i" },
		{ "/var/lib/moat/index/u", "/home/u", "/var/lib/moat/index/u" },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		char *got = session_expand_index(tab[i].index, tab[i].home);

		cr_expect_str_eq(got, tab[i].want, "%s in %s: got %s, want %s",
				 tab[i].index, tab[i].home, got, tab[i].want);
		free(got);
	}
}

Test(session, expand_home)
{
	static const struct {
		const char *mail, *home, *want;
	} tab[] = {
		{ "maildir:~/Maildir", "/home/u", "maildir:/home/u/Maildir" },
		{ "maildir:~/Maildir", "/home/u/", "maildir:/home/u/Maildir" },
		{ "~/Maildir", "/home/u", "/home/u/Maildir" },
		{ "maildir:~", "/home/u", "maildir:/home/u" },
		{ "mbox:~/mail:INBOX=/var/mail/u", "/home/u",
		  "mbox:/home/u/mail:INBOX=/var/mail/u" },
		{ "mbox:~/mail:INBOX=~/inbox", "/h", "mbox:/h/mail:INBOX=/h/inbox" },
		{ "maildir:~/M", "/", "maildir:/M" },
		{ "maildir:~", "/", "maildir:/" },
		{ "maildir:/x/~/y", "/h", "maildir:/x/~/y" },
		{ "maildir:~user/M", "/h", "maildir:~user/M" },
		{ "maildir:/a~/b", "/h", "maildir:/a~/b" },
		{ "", "/h", "" },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		char *got = session_expand_home(tab[i].mail, tab[i].home);

		cr_expect(got != NULL && str_eq(got, tab[i].want),
			  "(%s, %s): got %s, want %s", tab[i].mail,
			  tab[i].home, got != NULL ? got : "NULL",
			  tab[i].want);
		free(got);
	}
}

Test(session, expand_home_bounded)
{
	char mail[IPC_PATH_MAX + 1], home[IPC_PATH_MAX + 1];
	char *got;

	memset(home, 'h', sizeof(home) - 1);
	home[0] = '/';
	home[sizeof(home) - 1] = '\0';
	got = session_expand_home("~/x", home);
	cr_expect_null(got, "got %zu bytes, want NULL (over IPC_PATH_MAX)",
		       got != NULL ? strlen(got) : 0);
	free(got);
	/* Exactly at the limit. */
	memset(mail, 'm', sizeof(mail) - 1);
	mail[sizeof(mail) - 1] = '\0';
	got = session_expand_home(mail, "/h");
	cr_expect(got != NULL && strlen(got) == IPC_PATH_MAX);
	free(got);
}

/* session_init_recv in a child: it exits on anything wrong. */
static int
init_recv_child(const struct init_fields *f, int passfd_kind)
{
	struct ipc_out o;
	int sv[2], pfd[2], status, passfd = -1;
	pid_t pid;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	if (passfd_kind == 1) {
		cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, pfd), 0);
		passfd = pfd[0];
	} else if (passfd_kind == 2) {
		cr_assert_eq(pipe(pfd), 0);
		passfd = pfd[0];
	}
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		struct session_info si;
		int fl;

		close(sv[0]);
		log_init_child("imap");
		session_init_recv(sv[1], &si);
		fl = fcntl(si.fd, F_GETFL);
		if (fl < 0 || (fl & O_NONBLOCK) == 0)
			_exit(3);
		if ((fcntl(si.fd, F_GETFD) & FD_CLOEXEC) == 0)
			_exit(4);
		if (si.pipelined_len != f->pipelined_len ||
		    (si.pipelined_len > 0 &&
		     memcmp(si.pipelined, pipe_bytes, si.pipelined_len) != 0))
			_exit(5);
		_exit(0);
	}
	close(sv[1]);
	if (f != NULL) {
		ipc_out_init(&o, f->type, f->id);
		put_fields(&o, f);
		cr_assert_eq(ipc_send(sv[0], &o, passfd), 0);
		ipc_out_free(&o);
	}
	close(sv[0]);
	if (passfd_kind != 0) {
		close(pfd[0]);
		close(pfd[1]);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Test(session, init_recv, T_TIMEOUT)
{
	struct init_fields f = good;
	int st;

	memcpy(pipe_bytes, "a1 NOOP\r\n", 9);
	st = init_recv_child(&good, 1);
	cr_expect_eq(st, 0, "good message: exit status got %d, want 0", st);
	f.pipelined_len = 0;
	st = init_recv_child(&f, 1);
	cr_expect_eq(st, 0, "no pipelined bytes: got %d, want 0", st);
	f.pipelined_len = IPC_PIPELINED_MAX;
	st = init_recv_child(&f, 1);
	cr_expect_eq(st, 0, "max pipelined bytes: got %d, want 0", st);

	st = init_recv_child(&good, 2);
	cr_expect_eq(st, LOG_FATAL_EXIT, "a pipe as client fd: got %d", st);
	st = init_recv_child(&good, 0);
	cr_expect_eq(st, LOG_FATAL_EXIT, "no fd: got %d", st);
	st = init_recv_child(NULL, 0);
	cr_expect_eq(st, LOG_FATAL_EXIT, "EOF: got %d", st);
	f = good;
	f.user = "";
	st = init_recv_child(&f, 1);
	cr_expect_eq(st, LOG_FATAL_EXIT, "invalid message: got %d", st);
}

Test(session, moatd_eof_ends_session, T_TIMEOUT)
{
	struct sess s;
	const char *want = SESS_GREETING "a1 OK NOOP completed.\r\n"
		"* BYE Server shutting down.\r\n";

	sess_start(&s, NULL);
	sess_send(&s, "a1 NOOP\r\n", 0);
	cr_assert(sess_read_until(&s, "a1 OK", 5000));
	close(s.ipc);
	s.ipc = -1;
	cr_assert(sess_read_eof(&s, 5000), "no close; got %s", s.got);
	cr_assert_str_eq(s.got, want, "got %s, want %s", s.got, want);
	cr_assert_eq(sess_wait(&s, 5000), 0);
	cr_assert(strstr(s.log, "Disconnected: moatd went away in=9 ") != NULL,
		  "log got %s", s.log);
	sess_free(&s);
}

Test(session, moatd_message_is_protocol_error, T_TIMEOUT)
{
	struct sess s;
	struct ipc_out o;
	int st;

	sess_start(&s, NULL);
	cr_assert(sess_read_until(&s, SESS_GREETING, 5000));
	ipc_out_init(&o, IPC_SHUTDOWN, 0);
	cr_assert_eq(ipc_send(s.ipc, &o, -1), 0);
	ipc_out_free(&o);
	cr_assert(sess_read_eof(&s, 5000), "no close; got %s", s.got);
	cr_assert_str_eq(s.got, SESS_GREETING "* BYE Server shutting down.\r\n");
	st = sess_wait(&s, 5000);
	cr_assert_neq(st, 0, "exit status got 0, want failure");
	cr_assert(strstr(s.log, "<E>Unexpected message from moatd") != NULL,
		  "log got %s", s.log);
	sess_free(&s);
}

Test(session, sigterm_says_bye, T_TIMEOUT)
{
	struct sess s;

	sess_start(&s, NULL);
	cr_assert(sess_read_until(&s, SESS_GREETING, 5000));
	kill(s.pid, SIGTERM);
	cr_assert(sess_read_eof(&s, 5000), "no close; got %s", s.got);
	cr_assert_str_eq(s.got, SESS_GREETING "* BYE Server shutting down.\r\n");
	cr_assert_eq(sess_wait(&s, 5000), 0);
	sess_free(&s);
}

/* The session enters the home itself (moatd no longer does, so that a
 * hung home cannot stall it); a home it cannot enter fails the session
 * instead of leaving it in "/" (issue 5, finding 10). */
Test(session, enter_home)
{
	char dir[] = "/tmp/moat-home-XXXXXX";
	char cwd[512];

	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(session_enter_home(dir), 0);
	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
	cr_assert_str_eq(cwd, dir, "cwd: got %s, want %s", cwd, dir);

	errno = 0;
	cr_assert_eq(session_enter_home("/nonexistent/moat-home"), -1);
	cr_assert_eq(errno, ENOENT, "errno: got %d, want ENOENT", errno);
	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
	cr_assert_str_eq(cwd, dir, "cwd after a missing home: got %s, want "
			 "%s (unchanged)", cwd, dir);
	cr_assert_eq(chdir("/"), 0);
	rmdir(dir);
}

/* The refusal answers the LOGIN's tag, then announces the close. */
Test(session, refuse)
{
	struct session_info si;
	char got[512];
	ssize_t n;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	memset(&si, 0, sizeof(si));
	si.fd = sv[0];
	str_copy(si.tag, "a001", sizeof(si.tag));
	session_refuse(&si);
	close(sv[0]);
	n = read(sv[1], got, sizeof(got) - 1);
	cr_assert_gt(n, 0);
	got[n] = '\0';
	cr_assert_str_eq(got, "a001 NO [UNAVAILABLE] Your mail is not "
			 "available right now.\r\n* BYE [UNAVAILABLE] Your mail "
			 "is not available right now.\r\n", "got %s", got);
	close(sv[1]);
}

/* moatd's argv (master/spawn.c, spawn_session_argv): one fixed form. */
Test(session, args_parse)
{
	static const struct {
		const char *args;   /* after argv[0], '|'-separated */
		const char *error;  /* NULL: accepted */
	} tab[] = {
		{ "", NULL },
		{ "-u|5001|-g|5002|-G|5002,4242|-p|77", NULL },
		{ "-u|5001|-g|5002|-G||-p|77", NULL },
		{ "-u|4294967294|-g|4294967294|-G|4294967294|-p|2147483647",
		  NULL },
		{ "-u|0|-g|5002|-G|5002|-p|77", "invalid uid" },
		{ "-u|4294967295|-g|5002|-G|5002|-p|77", "invalid uid" },
		{ "-u|-1|-g|5002|-G|5002|-p|77", "invalid uid" },
		{ "-u|+5|-g|5002|-G|5002|-p|77", "invalid uid" },
		{ "-u| 5|-g|5002|-G|5002|-p|77", "invalid uid" },
		{ "-u||-g|5002|-G|5002|-p|77", "invalid uid" },
		{ "-u|5001|-g|0|-G|5002|-p|77", "invalid gid" },
		{ "-u|5001|-g|4294967295|-G|5002|-p|77", "invalid gid" },
		{ "-u|5001|-g|5002|-G|0|-p|77", "invalid supplementary groups" },
		{ "-u|5001|-g|5002|-G|5002,0|-p|77",
		  "invalid supplementary groups" },
		{ "-u|5001|-g|5002|-G|5002,|-p|77",
		  "invalid supplementary groups" },
		{ "-u|5001|-g|5002|-G|,5002|-p|77",
		  "invalid supplementary groups" },
		{ "-u|5001|-g|5002|-G|5002,,1|-p|77",
		  "invalid supplementary groups" },
		{ "-u|5001|-g|5002|-G|4294967295|-p|77",
		  "invalid supplementary groups" },
		{ "-u|5001|-g|5002|-G|5002 1|-p|77",
		  "invalid supplementary groups" },
		{ "-u|5001|-g|5002|-G|5002|-p|0", "invalid parent pid" },
		{ "-u|5001|-g|5002|-G|5002|-p|2147483648",
		  "invalid parent pid" },
		{ "-g|5002|-u|5001|-G|5002|-p|77", "expected no arguments or "
		  "-u UID -g GID -G GROUPS -p PPID" },
		{ "-u|5001|-g|5002|-G|5002", "expected no arguments or -u UID "
		  "-g GID -G GROUPS -p PPID" },
		{ "-u|5001|-g|5002|-G|5002|-p|77|-x", "expected no arguments "
		  "or -u UID -g GID -G GROUPS -p PPID" },
		{ "-c|/etc/moat.conf", "expected no arguments or -u UID -g GID "
		  "-G GROUPS -p PPID" },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		char copy[256];
		char *argv[16] = { "imap" };
		int argc = 1;
		struct session_ids ids;
		const char *error = NULL;
		int rc;

		str_copy(copy, tab[i].args, sizeof(copy));
		if (copy[0] != '\0') {
			for (char *p = copy, *bar;; p = bar + 1) {
				argv[argc++] = p;
				bar = strchr(p, '|');
				if (bar == NULL)
					break;
				*bar = '\0';
			}
		}
		argv[argc] = NULL;
		rc = session_args_parse(argc, argv, &ids, &error);
		if (tab[i].error == NULL) {
			cr_expect_eq(rc, 0, "%s: refused (%s), want accepted",
				     tab[i].args, error);
		} else {
			cr_expect_eq(rc, -1, "%s: accepted, want refused",
				     tab[i].args);
			cr_expect(rc == 0 || (error != NULL &&
					      str_eq(error, tab[i].error)),
				  "%s: error got %s, want %s", tab[i].args,
				  error != NULL ? error : "NULL",
				  tab[i].error);
		}
	}
}

Test(session, args_parse_fields)
{
	char *argv[] = { "imap", "-u", "5001", "-g", "5002", "-G",
			 "5002,4242,7", "-p", "77", NULL };
	char *none[] = { "imap", NULL };
	struct session_ids ids;
	const char *error = NULL;

	cr_assert_eq(session_args_parse(9, argv, &ids, &error), 0, "%s",
		     error);
	cr_expect(ids.change);
	cr_expect_eq(ids.uid, 5001);
	cr_expect_eq(ids.gid, 5002);
	cr_assert_eq(ids.n_groups, 3);
	cr_expect(ids.groups[0] == 5002 && ids.groups[1] == 4242 &&
		  ids.groups[2] == 7);
	cr_expect_eq(ids.ppid, 77);
	cr_assert_eq(session_args_parse(1, none, &ids, &error), 0);
	cr_expect(!ids.change, "no arguments: ids changed");
}

Test(session, args_parse_many_groups)
{
	/* IPC_GROUPS_MAX groups are taken, one more is not. */
	char list[IPC_GROUPS_MAX * 6 + 8] = "";
	char *argv[] = { "imap", "-u", "5001", "-g", "5001", "-G", list,
			 "-p", "77", NULL };
	struct session_ids ids;
	const char *error = NULL;

	for (int i = 0; i < IPC_GROUPS_MAX; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
			 i == 0 ? "%d" : ",%d", 1000 + i);
	cr_expect_eq(session_args_parse(9, argv, &ids, &error), 0, "%d "
		     "groups refused: %s", IPC_GROUPS_MAX, error);
	cr_expect_eq(ids.n_groups, IPC_GROUPS_MAX);
	strcat(list, ",9");
	cr_expect_eq(session_args_parse(9, argv, &ids, &error), -1,
		     "%d groups accepted", IPC_GROUPS_MAX + 1);
}

/* The value of "Name:" in /proc/self/status, inner tabs kept. */
static void
self_status(const char *name, char *buf, size_t size)
{
	char line[512];
	size_t nl = strlen(name);
	FILE *f = fopen("/proc/self/status", "r");

	buf[0] = '\0';
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, name, nl) == 0 && line[nl] == ':') {
			snprintf(buf, size, "%s", line + nl + 1 +
				 strspn(line + nl + 1, " \t"));
			buf[strcspn(buf, "\n")] = '\0';
			for (size_t n = strlen(buf); n > 0 &&
			     (buf[n - 1] == ' ' || buf[n - 1] == '\t'); n--)
				buf[n - 1] = '\0';
			break;
		}
	}
	fclose(f);
}

/* session_become and session_restrict in a child, which reports what it
 * sees of itself as its exit status: 0 all as wanted, else the number of
 * the first check that failed. */
static int
become_child(const struct session_ids *ids, bool restrict_too)
{
	int status;
	pid_t pid = fork();

	cr_assert_neq(pid, -1);
	if (pid == 0) {
		const char *error = NULL;
		struct rlimit rl;
		char buf[256];

		log_init_child("imap");
		if (session_become(ids, &error) < 0)
			_exit(1);
		self_status("Uid", buf, sizeof(buf));
		if (strcmp(buf, "65534\t65534\t65534\t65534") != 0)
			_exit(2);
		self_status("Gid", buf, sizeof(buf));
		if (strcmp(buf, "65533\t65533\t65533\t65533") != 0)
			_exit(3);
		self_status("Groups", buf, sizeof(buf));
		if (strcmp(buf, "4242 65533") != 0)
			_exit(4);
		self_status("CapEff", buf, sizeof(buf));
		if (strcmp(buf, "0000000000000000") != 0)
			_exit(5);
		if (prctl(PR_GET_DUMPABLE, 0L, 0L, 0L, 0L) != 0)
			_exit(6);
		if (prctl(PR_GET_PDEATHSIG, &status, 0L, 0L, 0L) < 0 ||
		    status != SIGTERM)
			_exit(7);
		if (!restrict_too)
			_exit(0);
		if (session_restrict(false, &error) < 0)
			_exit(8);
		if (prctl(PR_GET_NO_NEW_PRIVS, 0L, 0L, 0L, 0L) != 1)
			_exit(9);
		if (getrlimit(RLIMIT_CORE, &rl) < 0 || rl.rlim_cur != 0 ||
		    rl.rlim_max != 0)
			_exit(10);
		if (getrlimit(RLIMIT_NOFILE, &rl) < 0 ||
		    rl.rlim_max > IMAP_RLIMIT_NOFILE ||
		    rl.rlim_cur != rl.rlim_max)
			_exit(11);
		if (getrlimit(RLIMIT_NPROC, &rl) < 0 ||
		    rl.rlim_max > IMAP_RLIMIT_NPROC || rl.rlim_max == 0 ||
		    rl.rlim_cur != rl.rlim_max)
			_exit(12);
		/* A hard limit lowered is lowered for good. */
		rl.rlim_cur = rl.rlim_max = IMAP_RLIMIT_NPROC + 1;
		if (setrlimit(RLIMIT_NPROC, &rl) == 0)
			_exit(13);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Test(session, become_user, T_TIMEOUT)
{
	struct session_ids ids = { .change = true, .uid = 65534,
				   .gid = 65533, .groups = { 65533, 4242 },
				   .n_groups = 2 };
	int st;

	if (geteuid() != 0)
		cr_skip_test("needs root");
	ids.ppid = getpid();
	st = become_child(&ids, true);
	cr_expect_eq(st, 0, "check %d of become_child failed", st);
	/* Our parent is not this one: moatd died before the death signal
	 * was armed again. */
	ids.ppid = getpid() + 1;
	st = become_child(&ids, false);
	cr_expect_eq(st, 1, "wrong parent: got %d, want 1 (refused)", st);
	/* (uid_t)-1 means "unchanged" to setresuid: parsing never lets it
	 * through, but if it came, the verification must catch the uid
	 * that stayed 0. */
	ids.ppid = getpid();
	ids.n_groups = 0;
	ids.uid = (uid_t)-1;
	st = become_child(&ids, false);
	cr_expect_eq(st, 1, "uid -1: got %d, want 1 (refused)", st);
}

Test(session, become_without_ids_keeps_them, T_TIMEOUT)
{
	struct session_ids ids = { .change = false };
	const char *error = NULL;
	uid_t before = getuid();
	int status;
	pid_t pid = fork();

	cr_assert_neq(pid, -1);
	if (pid == 0) {
		if (session_become(&ids, &error) < 0 || getuid() != before ||
		    session_restrict(false, &error) < 0 ||
		    prctl(PR_GET_NO_NEW_PRIVS, 0L, 0L, 0L, 0L) != 1)
			_exit(1);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "status %#x", status);
}

Test(session, become_needs_root, T_TIMEOUT)
{
	struct session_ids ids = { .change = true, .uid = 65534,
				   .gid = 65534, .n_groups = 0 };
	int status;
	pid_t pid;

	ids.ppid = getpid();
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		const char *error = NULL;

		/* Not root (any more): told to change ids, it must refuse
		 * rather than carry on as whoever it is. */
		if (geteuid() == 0 && setresuid(65534, 65534, 65534) < 0)
			_exit(2);
		if (session_become(&ids, &error) == 0)
			_exit(3);
		_exit(str_eq(error, "given ids to take, but not started as "
			     "root") && errno == EPERM ? 0 : 4);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "status %#x", status);
}

/* The helper's status as "NAME NNP UID" from /proc/<pid>/status. */
static bool
child_status(pid_t pid, char *buf, size_t size)
{
	char path[64], line[256], name[32] = "", nnp[8] = "", uid[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "Name:\t", 6) == 0)
			str_copy(name, line + 6, sizeof(name));
		else if (strncmp(line, "NoNewPrivs:\t", 12) == 0)
			str_copy(nnp, line + 12, sizeof(nnp));
		else if (strncmp(line, "Uid:\t", 5) == 0)
			str_copy(uid, line + 5, sizeof(uid));
	}
	fclose(f);
	snprintf(buf, size, "%s %s %s", name, nnp, uid);
	return true;
}

/* Our only child, from /proc (the helper), or -1. */
static pid_t
only_child(void)
{
	char path[64], buf[64];
	long pid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/children",
		 (long)getpid());
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), f) == NULL || sscanf(buf, "%ld", &pid) != 1
	    || strchr(buf, ' ') != strrchr(buf, ' '))
		pid = -1;
	fclose(f);
	return (pid_t)pid;
}

static bool
needs_helper(const char *home, const char *mail)
{
	struct session_info si;

	memset(&si, 0, sizeof(si));
	str_copy(si.user, "nobody", sizeof(si.user));
	str_copy(si.home, home, sizeof(si.home));
	str_copy(si.mail, mail, sizeof(si.mail));
	return session_needs_lock_helper(&si);
}

/* As the user: only an mbox INBOX in a directory the user cannot write
 * (the spool, root:mail 2775) asks for the dotlock helper; with it,
 * session_restrict leaves the session with NO_NEW_PRIVS and a helper
 * child ("mbox-dotlock", same uid) without it, so that dotlockfile(1)
 * still gains group mail. */
Test(session, lock_helper_only_for_a_spool_inbox, T_TIMEOUT)
{
	char dir[] = "/tmp/moat-spool-XXXXXX";
	char *home, *spool, *in_spool, *in_gone;
	struct group *gr = getgrnam("mail");
	int status;
	pid_t pid;

	if (geteuid() != 0 || gr == NULL)
		cr_skip_test("needs root and the mail group");
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(chmod(dir, 0755), 0);
	cr_assert_geq(asprintf(&home, "%s/home", dir), 0);
	cr_assert_geq(asprintf(&spool, "%s/spool", dir), 0);
	cr_assert_geq(asprintf(&in_spool, "mbox:~/mail:INBOX=%s/nobody",
			       spool), 0);
	cr_assert_geq(asprintf(&in_gone, "mbox:~/mail:INBOX=%s/gone/nobody",
			       spool), 0);
	cr_assert_eq(mkdir(home, 0700), 0);
	cr_assert_eq(chown(home, 65534, 65534), 0);
	cr_assert_eq(mkdir(spool, 0755), 0);
	cr_assert_eq(chown(spool, 0, gr->gr_gid), 0);
	cr_assert_eq(chmod(spool, 02775), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		struct session_ids ids = { .change = true, .uid = 65534,
					   .gid = 65534, .n_groups = 0 };
		const char *error = NULL;
		char buf[128];
		pid_t helper;

		log_init_child("imap");
		ids.ppid = getppid();
		if (session_become(&ids, &error) < 0)
			_exit(1);
		if (!needs_helper(home, in_spool))
			_exit(2);
		if (needs_helper(home, "mbox:~/mail:INBOX=~/inbox") ||
		    needs_helper(home, "mbox:~/mail") ||
		    needs_helper(home, "maildir:~/Maildir") ||
		    needs_helper(home, in_gone) || needs_helper(home, "nonsense"))
			_exit(3);
		if (session_restrict(true, &error) < 0)
			_exit(4);
		if (prctl(PR_GET_NO_NEW_PRIVS, 0L, 0L, 0L, 0L) != 1)
			_exit(5);
		if ((helper = only_child()) < 0)
			_exit(6);
		/* The helper names itself after the fork: give it a moment. */
		for (int i = 0; i < 200; i++) {
			if (!child_status(helper, buf, sizeof(buf)))
				_exit(7);
			if (str_has_prefix(buf, "mbox-dotlock "))
				break;
			usleep(10000);
		}
		if (strcmp(buf, "mbox-dotlock 0 65534\t65534\t65534\t65534")
		    != 0)
			_exit(7);
		mbox_lock_helper_stop();
		if (only_child() != -1)
			_exit(8);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "check %d failed", WIFEXITED(status) ? WEXITSTATUS(status)
		  : -1);
	rmdir(home);
	rmdir(spool);
	rmdir(dir);
	free(home);
	free(spool);
	free(in_spool);
	free(in_gone);
}
