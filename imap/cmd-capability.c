/*
 * CAPABILITY (RFC 9051 §6.1.1): lists what this session supports.
 * Caller: imap_command_execute. No arguments are accepted.
 */
#include "imap/client.h"
#include "imap/imap-commands.h"
#include "imap/imap-settings.h"

void
cmd_capability(struct client_command *cmd)
{
	if (!imap_command_no_args(cmd))
		return;
	client_send_line(cmd->client, "* CAPABILITY " IMAP_CAPABILITIES);
	client_send_tagline(cmd->client, cmd->tag, "OK Capability completed.");
}
