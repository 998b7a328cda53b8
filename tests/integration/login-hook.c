/*
 * login-hook: the XTESTHOOK pre-auth command, compiled only into
 * tests/integration/imap-login-hook (imap-login's own sources built with
 * -DMOAT_TEST_HOOKS), never into the installed imap-login. It plays the
 * attacker who took over a login process, so test_sandbox.py can show
 * what the sandbox does to each attempt:
 *
 *   XTESTHOOK PID         "* HOOK pid=N" (getpid is allowed)
 *   XTESTHOOK SOCKET      socket(AF_INET, SOCK_STREAM, 0)
 *   XTESTHOOK OPEN        open("/etc/passwd", O_RDONLY)
 *   XTESTHOOK FORK        fork(); the child exits at once
 *   XTESTHOOK KILL PID    kill(PID, SIGTERM), e.g. a sibling login process
 *
 * A call that returns is answered "OK <call> = <result>" or
 * "NO <call>: <error>"; under the seccomp filter none of them returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/num.h"
#include "login.h"

void cmd_test_hook(struct client *c, const struct imap_command *cmd);

static void
answer(struct client *c, const char *tag, const char *call, long r, int err)
{
	if (r < 0)
		client_tagged(c, tag, "NO %s: %s", call, strerror(err));
	else
		client_tagged(c, tag, "OK %s = %ld", call, r);
}

void
cmd_test_hook(struct client *c, const struct imap_command *cmd)
{
	const char *what = NULL, *arg = NULL;
	unsigned int pid;
	long r;

	if (cmd->n_args < 1 || !imap_arg_get_atom(&cmd->args[0], &what)) {
		client_bad(c, cmd->tag, "XTESTHOOK what?");
		return;
	}
	if (cmd->n_args > 1)
		(void)imap_arg_get_atom(&cmd->args[1], &arg);
	if (strcmp(what, "PID") == 0) {
		client_printf(c, "* HOOK pid=%ld\r\n", (long)getpid());
		client_tagged(c, cmd->tag, "OK");
	} else if (strcmp(what, "SOCKET") == 0) {
		r = socket(AF_INET, SOCK_STREAM, 0);
		answer(c, cmd->tag, "socket", r, errno);
		if (r >= 0)
			close((int)r);
	} else if (strcmp(what, "OPEN") == 0) {
		r = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
		answer(c, cmd->tag, "open", r, errno);
		if (r >= 0)
			close((int)r);
	} else if (strcmp(what, "FORK") == 0) {
		r = fork();
		if (r == 0)
			_exit(0);
		answer(c, cmd->tag, "fork", r, errno);
	} else if (strcmp(what, "KILL") == 0 && arg != NULL &&
		   num_parse_uint(arg, 4194304, &pid) == 0 && pid > 1) {
		r = kill((pid_t)pid, SIGTERM);
		answer(c, cmd->tag, "kill", r, errno);
	} else {
		client_bad(c, cmd->tag, "XTESTHOOK: unknown action");
	}
}
