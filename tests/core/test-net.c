/* Tests for lib/core/net.c on loopback sockets. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/net.h"

static bool
is_nonblock(int fd)
{
	return (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0;
}

static bool
is_cloexec(int fd)
{
	return (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
}

static bool
have_ipv6(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 s;

	if (fd < 0)
		return false;
	memset(&s, 0, sizeof(s));
	s.sin6_family = AF_INET6;
	s.sin6_addr = in6addr_loopback;
	bool ok = bind(fd, (struct sockaddr *)&s, sizeof(s)) == 0;
	close(fd);
	return ok;
}

static int
connect_to(int family, const char *ip, int port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = socket(family, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		s->sin_family = AF_INET;
		s->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, ip, &s->sin_addr);
		len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, ip, &s->sin6_addr);
		len = sizeof(*s);
	}
	cr_assert_eq(connect(fd, (struct sockaddr *)&ss, len), 0,
		     "connect %s:%d: %s", ip, port, strerror(errno));
	return fd;
}

Test(net, listen_accept_ipv4)
{
	char ip[NET_ADDR_MAX], lip[NET_ADDR_MAX];
	uint16_t port = 0, lport = 0, cport;
	int lfd, cfd, afd, p, on = 0;
	socklen_t ol = sizeof(on);
	struct sockaddr_in me;
	socklen_t ml = sizeof(me);

	lfd = net_listen("127.0.0.1", 0, 16);
	cr_assert_geq(lfd, 0, "net_listen: %s", strerror(errno));
	cr_assert(is_nonblock(lfd), "listener not non-blocking");
	cr_assert(is_cloexec(lfd), "listener not cloexec");
	getsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &on, &ol);
	cr_assert(on, "SO_REUSEADDR not set");
	p = net_local_port(lfd);
	cr_assert_gt(p, 0, "local port: got %d", p);

	errno = 0;
	cr_assert_eq(net_accept(lfd, ip, &port), -1, "accept with none pending");
	cr_assert(errno == EAGAIN || errno == EWOULDBLOCK, "errno: got %d", errno);

	cfd = connect_to(AF_INET, "127.0.0.1", p);
	getsockname(cfd, (struct sockaddr *)&me, &ml);
	cport = ntohs(me.sin_port);
	afd = net_accept(lfd, ip, &port);
	cr_assert_geq(afd, 0, "accept: %s", strerror(errno));
	cr_assert_str_eq(ip, "127.0.0.1");
	cr_assert_eq(port, cport, "peer port: got %u, want %u", port, cport);
	cr_assert(is_nonblock(afd), "accepted fd not non-blocking");
	cr_assert(is_cloexec(afd), "accepted fd not cloexec");

	cr_assert_eq(net_peer_addr(afd, ip, &port), 0);
	cr_assert_str_eq(ip, "127.0.0.1");
	cr_assert_eq(port, cport);
	cr_assert_eq(net_local_addr(afd, lip, &lport), 0);
	cr_assert_str_eq(lip, "127.0.0.1");
	cr_assert_eq(lport, p);
	close(afd);
	close(cfd);
	close(lfd);
}

Test(net, listen_star_is_ipv4_any)
{
	char ip[NET_ADDR_MAX];
	uint16_t port;
	int lfd = net_listen("*", 0, 4);

	cr_assert_geq(lfd, 0, "net_listen(*): %s", strerror(errno));
	cr_assert_eq(net_local_addr(lfd, ip, &port), 0);
	cr_assert_str_eq(ip, "0.0.0.0");
	cr_assert_gt(port, 0);
	close(lfd);
}

Test(net, listen_ipv6_any_is_v6only)
{
	char ip[NET_ADDR_MAX];
	uint16_t port;
	int lfd, v6only = 0, lfd4;
	socklen_t l = sizeof(v6only);

	if (!have_ipv6())
		cr_skip_test("no IPv6 on this host");
	/* Because it is v6-only, "*" can share the port. The kernel picks
	 * the port among those free for IPv6 only, so another process may
	 * hold it for IPv4 (EADDRINUSE): try a few ports. Without v6-only
	 * every try fails. */
	for (int tries = 0;; tries++) {
		lfd = net_listen("::", 0, 4);
		cr_assert_geq(lfd, 0, "net_listen(::): %s", strerror(errno));
		l = sizeof(v6only);
		cr_assert_eq(getsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY,
					&v6only, &l), 0);
		cr_assert_eq(v6only, 1, "IPV6_V6ONLY: got %d, want 1", v6only);
		cr_assert_eq(net_local_addr(lfd, ip, &port), 0);
		cr_assert_str_eq(ip, "::");
		lfd4 = net_listen("*", port, 4);
		if (lfd4 >= 0 || errno != EADDRINUSE || tries == 20)
			break;
		close(lfd);
	}
	cr_assert_geq(lfd4, 0, "v4 bind on same port: %s", strerror(errno));
	close(lfd4);
	close(lfd);
}

Test(net, listen_accept_ipv6_loopback)
{
	char ip[NET_ADDR_MAX];
	uint16_t port;
	int lfd, cfd, afd;

	if (!have_ipv6())
		cr_skip_test("no IPv6 on this host");
	lfd = net_listen("::1", 0, 4);
	cr_assert_geq(lfd, 0, "net_listen(::1): %s", strerror(errno));
	cfd = connect_to(AF_INET6, "::1", net_local_port(lfd));
	afd = net_accept(lfd, ip, &port);
	cr_assert_geq(afd, 0);
	cr_assert_str_eq(ip, "::1");
	close(afd);
	close(cfd);
	close(lfd);
}

Test(net, accept_reports_mapped_as_ipv4)
{
	struct sockaddr_in6 s;
	socklen_t sl = sizeof(s);
	char ip[NET_ADDR_MAX];
	uint16_t port;
	int lfd, cfd, afd, off = 0;

	if (!have_ipv6())
		cr_skip_test("no IPv6 on this host");
	/* A dual-stack listener made by hand: net_listen never makes one,
	 * but net_accept must still report v4 peers as plain IPv4. */
	lfd = socket(AF_INET6, SOCK_STREAM, 0);
	setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	memset(&s, 0, sizeof(s));
	s.sin6_family = AF_INET6;
	s.sin6_addr = in6addr_any;
	cr_assert_eq(bind(lfd, (struct sockaddr *)&s, sizeof(s)), 0);
	cr_assert_eq(listen(lfd, 4), 0);
	getsockname(lfd, (struct sockaddr *)&s, &sl);
	cfd = connect_to(AF_INET, "127.0.0.1", ntohs(s.sin6_port));
	afd = net_accept(lfd, ip, &port);
	cr_assert_geq(afd, 0);
	cr_assert_str_eq(ip, "127.0.0.1", "got \"%s\", want 127.0.0.1", ip);
	cr_assert(net_ip_is_loopback(ip));
	close(afd);
	close(cfd);
	close(lfd);
}

Test(net, listen_bad_addresses)
{
	static const char *const bad[] = { "", "localhost", "[::1]", "1.2.3",
		"256.1.1.1", "127.0.0.1 ", " ::1", "::1%lo", "0x7f000001",
		"*:143", "1.2.3.4/24" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		int fd = net_listen(bad[i], 0, 4);

		cr_assert_eq(fd, -1, "[%zu] \"%s\" accepted", i, bad[i]);
		cr_assert_eq(errno, EINVAL, "[%zu] errno: got %d, want EINVAL", i,
			     errno);
	}
	cr_assert_eq(net_listen(NULL, 0, 4), -1);
}

Test(net, listen_port_in_use)
{
	int a = net_listen("127.0.0.1", 0, 4), b;

	cr_assert_geq(a, 0);
	errno = 0;
	b = net_listen("127.0.0.1", (uint16_t)net_local_port(a), 4);
	cr_assert_eq(b, -1, "second bind to the same port succeeded");
	cr_assert_eq(errno, EADDRINUSE, "errno: got %d, want EADDRINUSE", errno);
	close(a);
}

Test(net, loopback_table)
{
	static const struct {
		const char *ip;
		bool want;
	} t[] = {
		{ "127.0.0.1", true }, { "127.255.255.254", true },
		{ "127.1.2.3", true }, { "::1", true },
		{ "::ffff:127.0.0.1", true }, { "::ffff:127.9.9.9", true },
		{ "128.0.0.1", false }, { "126.255.255.255", false },
		{ "10.0.0.1", false }, { "0.0.0.0", false }, { "::", false },
		{ "::2", false }, { "::ffff:10.0.0.1", false },
		{ "::127.0.0.1", false },  /* IPv4-compatible, not mapped */
		{ "fe80::1", false }, { "localhost", false }, { "", false },
		{ "[::1]", false }, { "127.0.0.1 ", false },
		{ "127.0.0.1\n", false },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		cr_assert_eq(net_ip_is_loopback(t[i].ip), t[i].want,
			     "[%zu] \"%s\": got %d, want %d", i, t[i].ip,
			     !t[i].want, t[i].want);
	cr_assert(!net_ip_is_loopback(NULL));
}

Test(net, ip_valid_table)
{
	static const struct {
		const char *ip;
		bool want;
	} t[] = {
		{ "1.2.3.4", true }, { "255.255.255.255", true }, { "::", true },
		{ "2001:db8::1", true }, { "::ffff:1.2.3.4", true },
		{ "", false }, { "1.2.3", false }, { "1.2.3.4.5", false },
		{ "256.0.0.0", false }, { "[::1]", false }, { "::1]", false },
		{ "host.example", false }, { "1.2.3.4\r\n", false },
		{ "2001:db8:::1", false }, { "01.2.3.4", false },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		cr_assert_eq(net_ip_valid(t[i].ip), t[i].want,
			     "[%zu] \"%s\": got %d, want %d", i, t[i].ip,
			     !t[i].want, t[i].want);
	cr_assert(!net_ip_valid(NULL));
}

Test(net, flags_helpers)
{
	int p[2];

	cr_assert_eq(pipe(p), 0);
	cr_assert(!is_nonblock(p[0]));
	cr_assert_eq(net_set_nonblock(p[0], true), 0);
	cr_assert(is_nonblock(p[0]));
	cr_assert_eq(net_set_nonblock(p[0], false), 0);
	cr_assert(!is_nonblock(p[0]));
	cr_assert(!is_cloexec(p[1]));
	cr_assert_eq(net_set_cloexec(p[1]), 0);
	cr_assert(is_cloexec(p[1]));
	close(p[0]);
	close(p[1]);
	cr_assert_eq(net_set_nonblock(p[0], true), -1, "closed fd accepted");
	cr_assert_eq(net_set_cloexec(p[0]), -1);
}

static void
check_pair(int (*mk)(int[2], bool), int type)
{
	for (int nb = 0; nb < 2; nb++) {
		int sv[2], t = 0;
		socklen_t l = sizeof(t);

		cr_assert_eq(mk(sv, nb), 0);
		for (int i = 0; i < 2; i++) {
			cr_assert(is_cloexec(sv[i]), "pair fd not cloexec");
			cr_assert_eq(is_nonblock(sv[i]), nb != 0,
				     "nonblock: got %d, want %d",
				     is_nonblock(sv[i]), nb);
			getsockopt(sv[i], SOL_SOCKET, SO_TYPE, &t, &l);
			cr_assert_eq(t, type, "type: got %d, want %d", t, type);
		}
		cr_assert_eq(write(sv[0], "x", 1), 1);
		char c;
		cr_assert_eq(read(sv[1], &c, 1), 1);
		close(sv[0]);
		close(sv[1]);
	}
}

Test(net, socketpairs)
{
	check_pair(net_seqpacket_pair, SOCK_SEQPACKET);
	check_pair(net_stream_pair, SOCK_STREAM);
}
