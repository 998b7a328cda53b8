/*
 * LOGOUT (RFC 9051 §6.1.3): BYE, the tagged OK, then the connection is
 * closed once both are written; commands pipelined behind it are not
 * run. Caller: imap_command_execute. No arguments are accepted.
 */
#include "imap/client.h"
#include "imap/imap-commands.h"

void
cmd_logout(struct client_command *cmd)
{
	if (!imap_command_no_args(cmd))
		return;
	client_send_line(cmd->client, "* BYE Logging out");
	imap_reply_nosync(cmd, "OK Logout completed.");
	client_close_after_output(cmd->client, "Logged out");
}
