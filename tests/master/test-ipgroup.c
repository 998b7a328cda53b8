/*
 * test-ipgroup: tests for master/ipgroup.c, the grouping behind moatd's
 * per-address limits (issue 5, finding 3: IPv6 counts per /64, so one
 * client cannot escape max_connections_per_ip or the per-address auth
 * limit by using many addresses of its /64).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "master/ipgroup.h"

static const struct {
	const char *ip, *want;
} cases[] = {
	{ "192.0.2.1", "192.0.2.1" },
	{ "127.0.0.10", "127.0.0.10" },
	/* IPv4-mapped IPv6 is the IPv4 address. */
	{ "::ffff:192.0.2.1", "192.0.2.1" },
	{ "::FFFF:c000:0201", "192.0.2.1" },
	/* IPv6: the /64, whatever the interface id and spelling. */
	{ "2001:db8:1:2::1", "2001:db8:1:2::/64" },
	{ "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64" },
	{ "2001:0DB8:0001:0002:0:0:0:7", "2001:db8:1:2::/64" },
	{ "2001:db8:1:3::1", "2001:db8:1:3::/64" },
	{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	  "ffff:ffff:ffff:ffff::/64" },
	{ "::1", "::/64" },
	{ "fe80::1", "fe80::/64" },
	/* Not an address: kept as is, never parsed into something else. */
	{ "", "" },
	{ "not-an-address", "not-an-address" },
	{ "2001:db8::1%eth0", "2001:db8::1%eth0" },
};

Test(ipgroup, table)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[IPGROUP_MAX];

		memset(out, 'x', sizeof(out));
		ipgroup_of(cases[i].ip, out);
		cr_assert_str_eq(out, cases[i].want, "case %zu (%s): got %s, "
				 "want %s", i, cases[i].ip, out,
				 cases[i].want);
	}
}

Test(ipgroup, long_garbage_is_cut_not_overrun)
{
	char in[200], out[IPGROUP_MAX + 8];

	memset(in, 'a', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	memset(out, 'Z', sizeof(out));
	ipgroup_of(in, out);
	cr_assert_eq(strlen(out), IPGROUP_MAX - 1, "got length %zu",
		     strlen(out));
	for (size_t i = IPGROUP_MAX; i < sizeof(out); i++)
		cr_assert_eq(out[i], 'Z', "wrote past IPGROUP_MAX at %zu", i);
}
