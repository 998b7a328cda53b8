/*
 * privs-fd: privs_close_from, in a file of its own so that a program
 * that needs only it (the static imap session, through the mbox lock
 * helper) does not link privs.o and with it glibc's NSS (getpwnam_r,
 * initgroups), which a static binary cannot use safely.
 */
#include <unistd.h>

#include "core/privs.h"

void
privs_close_from(int lowfd)
{
	long max;

	if (close_range((unsigned int)lowfd, ~0U, 0) == 0)
		return;
	/* Kernels before 5.9 lack close_range: close one by one up to the
	 * descriptor limit, capped so a huge limit cannot stall a child. */
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 1048576)
		max = 1048576;
	for (int fd = lowfd; fd < max; fd++)
		(void)close(fd);
}
