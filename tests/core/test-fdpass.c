/* Tests for lib/core/fdpass.c: descriptors arrive cloexec, truncation is
 * reported, and a hostile peer cannot make us leak descriptors. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fdpass.h"

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

static void
seqpair(int sv[2])
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
}

static bool
same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	    sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

Test(fdpass, message_with_fd)
{
	int sv[2], p[2], fd = -2;
	bool trunc = true;
	char buf[64];
	ssize_t r;

	seqpair(sv);
	cr_assert_eq(pipe(p), 0);
	r = fdpass_send(sv[0], "hello", 5, p[1]);
	cr_assert_eq(r, 5, "send: got %zd, want 5 (%s)", r, strerror(errno));
	r = fdpass_recv(sv[1], buf, sizeof(buf), &fd, &trunc);
	cr_assert_eq(r, 5, "recv: got %zd, want 5", r);
	cr_assert_eq(memcmp(buf, "hello", 5), 0);
	cr_assert(!trunc, "truncated set on a message that fit");
	cr_assert_geq(fd, 0, "no fd received");
	cr_assert_neq(fd, p[1]);
	cr_assert(same_file(fd, p[1]), "received fd is a different file");
	cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC, "received fd not cloexec");
	/* It really is the pipe's write end. */
	cr_assert_eq(write(fd, "z", 1), 1);
	cr_assert_eq(read(p[0], buf, 1), 1);
	cr_assert_eq(buf[0], 'z');
	close(fd);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

Test(fdpass, message_without_fd)
{
	int sv[2], fd = 99;
	bool trunc = true;
	char buf[16];

	seqpair(sv);
	cr_assert_eq(fdpass_send(sv[0], "abc", 3, -1), 3);
	cr_assert_eq(fdpass_recv(sv[1], buf, sizeof(buf), &fd, &trunc), 3);
	cr_assert_eq(fd, -1, "fd_out: got %d, want -1", fd);
	cr_assert(!trunc);
	close(sv[0]);
	close(sv[1]);
}

Test(fdpass, truncated_message_reported_and_fd_closed)
{
	int sv[2], p[2], fd = 99, before;
	bool trunc = false;
	char buf[4];
	ssize_t r;

	seqpair(sv);
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(fdpass_send(sv[0], "0123456789", 10, p[0]), 10);
	before = count_fds();
	r = fdpass_recv(sv[1], buf, sizeof(buf), &fd, &trunc);
	cr_assert_geq(r, 0);
	cr_assert(trunc, "truncation not reported");
	cr_assert_eq(fd, -1, "fd handed out with a truncated message");
	cr_assert_eq(count_fds(), before, "descriptor leaked: %d open, want %d",
		     count_fds(), before);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

/* A hostile peer sends several descriptors in one message. */
Test(fdpass, extra_fds_closed)
{
	int sv[2], fds[5], fd = -1, before;
	bool trunc = true;
	char buf[16];
	union {
		struct cmsghdr a;
		char b[CMSG_SPACE(sizeof(fds))];
	} cbuf;
	struct iovec iov = { "m", 1 };
	struct msghdr msg;
	struct cmsghdr *c;

	seqpair(sv);
	for (int i = 0; i < 5; i++)
		fds[i] = open("/dev/null", O_RDONLY);
	memset(&msg, 0, sizeof(msg));
	memset(&cbuf, 0, sizeof(cbuf));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf.b;
	msg.msg_controllen = sizeof(cbuf.b);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	cr_assert_eq(sendmsg(sv[0], &msg, 0), 1);
	for (int i = 0; i < 5; i++)
		close(fds[i]);

	before = count_fds();
	cr_assert_eq(fdpass_recv(sv[1], buf, sizeof(buf), &fd, &trunc), 1);
	cr_assert(!trunc);
	cr_assert_geq(fd, 0);
	cr_assert_eq(count_fds(), before + 1,
		     "got %d new fds, want exactly 1 (extras must be closed)",
		     count_fds() - before);
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

/* More descriptors than our control buffer holds: MSG_CTRUNC. */
Test(fdpass, control_truncation_reported)
{
	enum { N = 64 };
	int sv[2], fds[N], fd = 99, before;
	bool trunc = false;
	char buf[16];
	union {
		struct cmsghdr a;
		char b[CMSG_SPACE(sizeof(fds))];
	} cbuf;
	struct iovec iov = { "m", 1 };
	struct msghdr msg;
	struct cmsghdr *c;

	seqpair(sv);
	for (int i = 0; i < N; i++)
		fds[i] = open("/dev/null", O_RDONLY);
	memset(&msg, 0, sizeof(msg));
	memset(&cbuf, 0, sizeof(cbuf));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf.b;
	msg.msg_controllen = sizeof(cbuf.b);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	cr_assert_eq(sendmsg(sv[0], &msg, 0), 1);
	for (int i = 0; i < N; i++)
		close(fds[i]);

	before = count_fds();
	cr_assert_eq(fdpass_recv(sv[1], buf, sizeof(buf), &fd, &trunc), 1);
	cr_assert(trunc, "MSG_CTRUNC not reported");
	cr_assert_eq(fd, -1);
	cr_assert_eq(count_fds(), before, "descriptors leaked: %d",
		     count_fds() - before);
	close(sv[0]);
	close(sv[1]);
}

Test(fdpass, eof_and_eagain)
{
	int sv[2], fd;
	bool trunc;
	char buf[8];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv),
		     0);
	errno = 0;
	cr_assert_eq(fdpass_recv(sv[1], buf, sizeof(buf), &fd, &trunc), -1);
	cr_assert_eq(errno, EAGAIN, "errno: got %d, want EAGAIN", errno);
	cr_assert_eq(fd, -1);
	close(sv[0]);
	cr_assert_eq(fdpass_recv(sv[1], buf, sizeof(buf), &fd, &trunc), 0,
		     "EOF must return 0");
	close(sv[1]);
}

Test(fdpass, send_to_closed_peer_is_error_not_sigpipe)
{
	int sv[2];

	seqpair(sv);
	close(sv[1]);
	errno = 0;
	cr_assert_eq(fdpass_send(sv[0], "x", 1, -1), -1);
	cr_assert_eq(errno, EPIPE, "errno: got %d, want EPIPE", errno);
	close(sv[0]);
}

Test(fdpass, send_full_socket_eagain)
{
	int sv[2];
	char big[4096];
	ssize_t r;
	int i;

	memset(big, 'a', sizeof(big));
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv),
		     0);
	for (i = 0; i < 100000; i++) {
		r = fdpass_send(sv[0], big, sizeof(big), -1);
		if (r < 0)
			break;
	}
	cr_assert_lt(i, 100000, "socket never filled");
	cr_assert_eq(errno, EAGAIN, "errno: got %d, want EAGAIN", errno);
	close(sv[0]);
	close(sv[1]);
}
