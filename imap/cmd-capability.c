/*
 * CAPABILITY (RFC 9051 §6.1.1): lists what this session supports.
 * Caller: imap_command_execute. No arguments are accepted.
 */
#include "imap/client.h"
#include "imap/imap-commands.h"

void
cmd_capability(struct client_command *cmd)
{
	if (!imap_command_no_args(cmd))
		return;
	client_send_line(cmd->client, "* CAPABILITY %s",
			 client_capabilities(cmd->client));
	imap_reply_ok(cmd, "Capability completed.");
}
