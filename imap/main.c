/*
 * imap: one authenticated IMAP session, run as the user. Started by
 * moatd with no arguments, cwd = home, fd 2 = log pipe, fd 3 = IPC
 * socket to moatd; the client connection arrives in SESSION_INIT
 * (session.c). Everything else lives in session.c and client.c so the
 * tests can drive it without moatd.
 */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/log.h"
#include "imap/session.h"

int
main(void)
{
	struct session_info si;
	int status;

	log_init_child("imap");
	/* moatd never starts a session as root (it refuses uid 0); if we
	 * are root anyway, something upstream is broken, and a client must
	 * not get a root shell's worth of file access. */
	if (getuid() == 0 || geteuid() == 0)
		log_fatal("Refusing to run a session as root");
	/* Writes to a vanished client must fail with EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	session_init_recv(SESSION_IPC_FD, &si);
	status = session_run(SESSION_IPC_FD, &si);
	free((void *)si.pipelined);
	return status;
}
