/*
 * ipgroup: client addresses to the groups per-address limits count in
 * (see ipgroup.h). Callers: listeners.c, login-conn.c, auth-conn.c.
 * Input: addresses moatd got from accept(), so numeric; a string that
 * is not one is still handled (kept as is), never trusted to parse.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "core/str.h"
#include "master/ipgroup.h"

/* The longest /64 text; and any address moatd accepted fits whole. */
_Static_assert(sizeof("ffff:ffff:ffff:ffff::/64") <= IPGROUP_MAX &&
	       INET6_ADDRSTRLEN <= IPGROUP_MAX,
	       "a group's text must fit IPGROUP_MAX");

void
ipgroup_of(const char *ip, char *out)
{
	struct in6_addr a6;
	char text[INET6_ADDRSTRLEN];

	if (inet_pton(AF_INET6, ip, &a6) != 1) {
		/* IPv4 (its own group) or not an address at all. */
		(void)str_copy(out, ip, IPGROUP_MAX);
		return;
	}
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		if (inet_ntop(AF_INET, &a6.s6_addr[12], text,
			      sizeof(text)) == NULL)
			text[0] = '\0';
		(void)str_copy(out, text, IPGROUP_MAX);
		return;
	}
	memset(&a6.s6_addr[8], 0, 8);
	if (inet_ntop(AF_INET6, &a6, text, sizeof(text)) == NULL)
		text[0] = '\0';
	snprintf(out, IPGROUP_MAX, "%s/64", text);
}
