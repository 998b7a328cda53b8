/*
 * net: socket helpers for moatd (listeners, accept), imap-login and the
 * IPC socketpairs. Address strings come from the config (trusted admin
 * input, but still validated) or from the kernel.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "core/net.h"
#include "core/str.h"

static void
close_keep_errno(int fd)
{
	int saved = errno;

	close(fd);
	errno = saved;
}

int
net_listen(const char *addr, uint16_t port, int backlog)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t sslen;
	int fd, on = 1;

	if (addr == NULL) {
		errno = EINVAL;
		return -1;
	}
	memset(&ss, 0, sizeof(ss));
	if (strcmp(addr, "*") == 0) {
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sin->sin_port = htons(port);
		sslen = sizeof(*sin);
	} else if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sslen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		/* "::" parses here too and means in6addr_any. */
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sslen = sizeof(*sin6);
	} else {
		errno = EINVAL;
		return -1;
	}

	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0)
		goto fail;
	/* IPv6 listeners are IPv6 only: "*" and "::" are separate
	 * listeners, and both can be configured without a bind clash. */
	if (ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0)
		goto fail;
	if (bind(fd, (struct sockaddr *)&ss, sslen) < 0)
		goto fail;
	if (listen(fd, backlog) < 0)
		goto fail;
	return fd;
fail:
	close_keep_errno(fd);
	return -1;
}

/* Formats a socket address; IPv4-mapped IPv6 is shown as IPv4. */
static int
sockaddr_format(const struct sockaddr_storage *ss, char *ip, uint16_t *port)
{
	char tmp[NET_ADDR_MAX];
	uint16_t p;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;

		if (inet_ntop(AF_INET, &sin->sin_addr, tmp, sizeof(tmp)) == NULL)
			return -1;
		p = ntohs(sin->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)ss;

		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			if (inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12],
				      tmp, sizeof(tmp)) == NULL)
				return -1;
		} else if (inet_ntop(AF_INET6, &sin6->sin6_addr, tmp,
				     sizeof(tmp)) == NULL) {
			return -1;
		}
		p = ntohs(sin6->sin6_port);
	} else if (ss->ss_family == AF_UNIX) {
		str_copy(tmp, "unix", sizeof(tmp));
		p = 0;
	} else {
		errno = EAFNOSUPPORT;
		return -1;
	}
	if (ip != NULL)
		str_copy(ip, tmp, NET_ADDR_MAX);
	if (port != NULL)
		*port = p;
	return 0;
}

int
net_accept(int lfd, char *ip, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	do {
		len = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -1;
	if (sockaddr_format(&ss, ip, port) < 0) {
		close_keep_errno(fd);
		return -1;
	}
	return fd;
}

int
net_local_addr(int fd, char *ip, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	return sockaddr_format(&ss, ip, port);
}

int
net_peer_addr(int fd, char *ip, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	return sockaddr_format(&ss, ip, port);
}

int
net_local_port(int fd)
{
	uint16_t port;

	if (net_local_addr(fd, NULL, &port) < 0)
		return -1;
	return port;
}

bool
net_ip_is_loopback(const char *ip)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (ip == NULL)
		return false;
	if (inet_pton(AF_INET, ip, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, ip, &a6) == 1) {
		if (IN6_IS_ADDR_LOOPBACK(&a6))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
	}
	return false;
}

bool
net_ip_valid(const char *ip)
{
	struct in6_addr a6;

	if (ip == NULL)
		return false;
	return inet_pton(AF_INET, ip, &a6) == 1 ||
	    inet_pton(AF_INET6, ip, &a6) == 1;
}

int
net_set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	return fcntl(fd, F_SETFL, fl) < 0 ? -1 : 0;
}

int
net_set_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl < 0)
		return -1;
	return fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0 ? -1 : 0;
}

static int
pair(int type, int sv[2], bool nonblock)
{
	return socketpair(AF_UNIX, type | SOCK_CLOEXEC |
			  (nonblock ? SOCK_NONBLOCK : 0), 0, sv) < 0 ? -1 : 0;
}

int
net_seqpacket_pair(int sv[2], bool nonblock)
{
	return pair(SOCK_SEQPACKET, sv, nonblock);
}

int
net_stream_pair(int sv[2], bool nonblock)
{
	return pair(SOCK_STREAM, sv, nonblock);
}
