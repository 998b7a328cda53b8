/*
 * net: sockets. Every fd we create is close-on-exec and, where it will
 * be used by an event loop, non-blocking.
 */
#ifndef MOAT_NET_H
#define MOAT_NET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest textual address incl. NUL (INET6_ADDRSTRLEN). */
#define NET_ADDR_MAX 46

/* Bind and listen on addr:port (addr is a numeric IPv4 or IPv6 address,
 * or "*" for all IPv4, "::" for all IPv6 with IPV6_V6ONLY set).
 * Returns the fd (non-blocking, cloexec, SO_REUSEADDR) or -1. port 0 picks
 * a free port; net_local_port() tells which. */
int net_listen(const char *addr, uint16_t port, int backlog);
/* accept4 non-blocking+cloexec; fills ip (NET_ADDR_MAX) and port of the
 * peer. Returns fd, or -1 (errno EAGAIN when none pending). IPv4-mapped
 * IPv6 addresses are reported as plain IPv4. */
int net_accept(int lfd, char *ip, uint16_t *port);
/* Local/peer address of a connected socket. */
int net_local_addr(int fd, char *ip, uint16_t *port);
int net_peer_addr(int fd, char *ip, uint16_t *port);
int net_local_port(int fd);
/* 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. Not parseable -> false. */
bool net_ip_is_loopback(const char *ip);
/* Numeric address check (IPv4 or IPv6). */
bool net_ip_valid(const char *ip);
int net_set_nonblock(int fd, bool on);
int net_set_cloexec(int fd);
/* socketpair(AF_UNIX, SOCK_SEQPACKET, cloexec) for IPC; non-blocking if
 * asked. */
int net_seqpacket_pair(int sv[2], bool nonblock);
/* socketpair(AF_UNIX, SOCK_STREAM, cloexec) for the TLS proxy. */
int net_stream_pair(int sv[2], bool nonblock);

#endif
