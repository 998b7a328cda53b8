/*
 * imap: one authenticated IMAP session, run as the user. Started by
 * moatd as root with the user's ids in argv (session.c: moatd's
 * vfork-style child must not run as the user, who could stop it while
 * moatd waits), fd 2 = log pipe, fd 3 = IPC socket to moatd; the client
 * connection arrives in SESSION_INIT. Everything else lives in session.c
 * and client.c so the tests can drive it without moatd.
 */
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/log.h"
#include "imap/session.h"
#include "storage/mbox-lock.h"

int
main(int argc, char **argv)
{
	struct session_ids ids;
	struct session_info si;
	const char *error;
	int status;

	log_init_child("imap");
	/* Fixed thresholds: glibc's adaptive ones rise after the first
	 * large block is freed (a 1 MB literal, a FETCH's output), and
	 * from then on such blocks come from the heap and stay resident
	 * after the command (measured: +1.6 MB of PSS for the rest of an
	 * idle session after one 1 MB APPEND). Large blocks are mapped
	 * and unmapped, the heap top is given back above 128 kB. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	mallopt(M_TRIM_THRESHOLD, 128 * 1024);
	/* First, before reading anything: become the user moatd names. */
	if (session_args_parse(argc, argv, &ids, &error) < 0)
		log_fatal("Invalid arguments from moatd: %s", error);
	if (session_become(&ids, &error) < 0)
		log_fatal("Cannot become uid %lu gid %lu: %s: %m",
			  (unsigned long)ids.uid, (unsigned long)ids.gid, error);
	/* moatd never starts a session as root (it refuses uid 0); if we
	 * are root anyway, something upstream is broken, and a client must
	 * not get a root shell's worth of file access. */
	if (getuid() == 0 || geteuid() == 0)
		log_fatal("Refusing to run a session as root");
	/* Writes to a vanished client must fail with EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	/* SESSION_INIT before the restrictions: they depend on the mail
	 * location (a spool INBOX needs the dotlock helper, which must be
	 * started before NO_NEW_PRIVS). Nothing is exec'd until then. */
	session_init_recv(SESSION_IPC_FD, &si);
	if (session_restrict(session_needs_lock_helper(&si), &error) < 0)
		log_fatal("Restricting the session: %s: %m", error);
	if (session_enter_home(si.home) < 0) {
		session_refuse(&si);
		status = 1;
	} else {
		status = session_run(SESSION_IPC_FD, &si);
	}
	/* Its dotlocks went with the store; the helper exits on EOF. */
	mbox_lock_helper_stop();
	free((void *)si.pipelined);
	return status;
}
