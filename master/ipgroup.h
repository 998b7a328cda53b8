/*
 * ipgroup: the unit moatd counts a client address in for its per-address
 * limits (max_connections_per_ip, requests waiting for auth). An IPv4
 * address counts alone; an IPv6 address counts as its /64, because one
 * subscriber usually gets a whole /64 and could otherwise multiply every
 * per-address limit by as many addresses as it cares to use. This is the
 * grouping auth's throttle uses too (auth/throttle.c).
 */
#ifndef MOAT_MASTER_IPGROUP_H
#define MOAT_MASTER_IPGROUP_H

/* "ffff:ffff:ffff:ffff::/64" is the longest group text; an address that
 * does not parse is kept whole (at most NET_ADDR_MAX - 1 bytes). */
#define IPGROUP_MAX 48

/* Writes ip's group as text into out (IPGROUP_MAX bytes): "192.0.2.1"
 * for IPv4 and IPv4-mapped IPv6 (so both spellings of one address meet),
 * "2001:db8:1:2::/64" for other IPv6. Anything else is copied as is,
 * cut to fit. */
void ipgroup_of(const char *ip, char *out);

#endif
