/*
 * harness: see harness.h. The child runs the real session code
 * (session_run, or client_new for timer tests) on one end of a stream
 * socketpair; the test is the client on the other end and moatd on a
 * seqpacket pair standing in for fd 3.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "core/ev.h"
#include "core/log.h"
#include "core/str.h"
#include "imap/client.h"
#include "imap/session.h"
#include "harness.h"

static void
child_run(int fd, int ipc, int logw, const struct sess_opts *o)
{
	struct session_info si;
	int status = 0;

	if (dup2(logw, 2) < 0)
		_exit(120);
	log_init_child("imap");
	signal(SIGPIPE, SIG_IGN);
	memset(&si, 0, sizeof(si));
	session_info_defaults(&si);
	si.fd = fd;
	str_copy(si.user, "demo", sizeof(si.user));
	str_copy(si.home, o != NULL && o->home != NULL ? o->home :
		 "/home/demo", sizeof(si.home));
	str_copy(si.mail, o != NULL && o->mail != NULL ? o->mail :
		 "maildir:~/Maildir", sizeof(si.mail));
	/* Nowhere unless asked: a test must not make directories in a
	 * home that is not its own. */
	str_copy(si.index, o != NULL && o->index != NULL ? o->index :
		 "/nonexistent/moat-test-index", sizeof(si.index));
	if (o != NULL && o->max_message_size != 0)
		si.max_message_size = o->max_message_size;
	str_copy(si.tag, SESS_TAG, sizeof(si.tag));
	str_copy(si.remote_ip, "127.0.0.1", sizeof(si.remote_ip));
	str_copy(si.local_ip, "127.0.0.1", sizeof(si.local_ip));
	si.remote_port = 40000;
	si.local_port = 143;
	if (o != NULL && o->pipelined != NULL) {
		si.pipelined = (const uint8_t *)o->pipelined;
		si.pipelined_len = o->pipelined_len != 0 ? o->pipelined_len :
			strlen(o->pipelined);
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		_exit(121);
	if (o != NULL && o->idle_ms != 0) {
		struct ev *ev = ev_new();
		struct client *c = client_new(ev, &si);

		client_set_idle_timeout(c, o->idle_ms);
		c->idling = o->idling;
		if (!c->closed)
			ev_run(ev);
		client_free(&c);
		ev_free(&ev);
	} else {
		status = session_run(ipc, &si);
	}
	/* _exit: the parent is a Criterion worker; its atexit handlers
	 * must not run twice. */
	_exit(status);
}

void
sess_start(struct sess *s, const struct sess_opts *o)
{
	int sv[2], ipc[2], lp[2];

	memset(s, 0, sizeof(*s));
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
		     0, "socketpair: %s", strerror(errno));
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
				ipc), 0);
	cr_assert_eq(pipe2(lp, O_CLOEXEC), 0);
	s->pid = fork();
	cr_assert_neq(s->pid, -1, "fork: %s", strerror(errno));
	if (s->pid == 0) {
		close(sv[1]);
		close(ipc[1]);
		close(lp[0]);
		child_run(sv[0], ipc[0], lp[1], o);
	}
	close(sv[0]);
	close(ipc[0]);
	close(lp[1]);
	s->fd = sv[1];
	s->ipc = ipc[1];
	s->logfd = lp[0];
}

void
sess_send(struct sess *s, const char *data, size_t len)
{
	ssize_t n;

	if (len == 0)
		len = strlen(data);
	while (len > 0) {
		n = send(s->fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		cr_assert_gt(n, 0, "send: %s", strerror(errno));
		data += n;
		len -= (size_t)n;
	}
}

void
sess_shut(struct sess *s)
{
	shutdown(s->fd, SHUT_WR);
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* One read with a deadline; false on timeout. */
static bool
read_some(struct sess *s, long deadline)
{
	char chunk[65536];
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
	long left = deadline - now_ms();
	ssize_t n;

	if (left < 0 || poll(&pfd, 1, (int)left) <= 0)
		return false;
	n = read(s->fd, chunk, sizeof(chunk));
	if (n <= 0) {
		s->eof = true;
		return true;
	}
	/* Doubling: a 50 MB response must not cost a copy per read. */
	if (s->got_len + (size_t)n + 1 > s->got_cap) {
		s->got_cap = s->got_cap == 0 ? 65536 : s->got_cap;
		while (s->got_len + (size_t)n + 1 > s->got_cap)
			s->got_cap *= 2;
		s->got = xrealloc(s->got, s->got_cap);
	}
	memcpy(s->got + s->got_len, chunk, (size_t)n);
	s->got_len += (size_t)n;
	s->got[s->got_len] = '\0';
	return true;
}

bool
sess_read_until(struct sess *s, const char *needle, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;

	for (;;) {
		if (s->got != NULL && strstr(s->got, needle) != NULL)
			return true;
		if (s->eof || !read_some(s, deadline))
			return false;
	}
}

bool
sess_read_once(struct sess *s, int timeout_ms)
{
	return read_some(s, now_ms() + timeout_ms);
}

bool
sess_read_eof(struct sess *s, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;

	while (!s->eof) {
		if (!read_some(s, deadline))
			return false;
	}
	return true;
}

int
sess_wait(struct sess *s, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	int status = 0, result = -1;
	size_t len = 0;
	char chunk[4096];
	ssize_t n;
	pid_t r;

	for (;;) {
		r = waitpid(s->pid, &status, WNOHANG);
		if (r == s->pid)
			break;
		if (now_ms() > deadline) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
			s->pid = 0;
			status = -1;
			break;
		}
		usleep(2000);
	}
	s->pid = 0;
	if (status != -1 && WIFEXITED(status))
		result = WEXITSTATUS(status);
	/* The child is gone, so the pipe reaches EOF. */
	s->log = xstrdup("");
	while ((n = read(s->logfd, chunk, sizeof(chunk))) > 0) {
		s->log = xrealloc(s->log, len + (size_t)n + 1);
		memcpy(s->log + len, chunk, (size_t)n);
		len += (size_t)n;
		s->log[len] = '\0';
	}
	return result;
}

void
sess_free(struct sess *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
	}
	if (s->fd >= 0)
		close(s->fd);
	close(s->ipc);
	close(s->logfd);
	free(s->got);
	free(s->log);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

int
sess_script(struct sess *s, const struct sess_opts *o, const char *input,
	    size_t len)
{
	int timeout = o != NULL && o->timeout_ms != 0 ? o->timeout_ms : 5000;

	sess_start(s, o);
	if (input != NULL)
		sess_send(s, input, len);
	sess_shut(s);
	cr_assert(sess_read_eof(s, timeout), "no EOF from the session; got "
		  "%.2000s", s->got != NULL ? s->got : "(nothing)");
	if (s->got == NULL)
		s->got = xstrdup("");
	return sess_wait(s, timeout);
}
