/*
 * NOOP (RFC 9051 §6.1.2): does nothing but answer; once a mailbox can be
 * selected this is where pending changes get reported. Caller:
 * imap_command_execute. No arguments are accepted.
 */
#include "imap/client.h"
#include "imap/imap-commands.h"

void
cmd_noop(struct client_command *cmd)
{
	if (!imap_command_no_args(cmd))
		return;
	client_send_tagline(cmd->client, cmd->tag, "OK NOOP completed.");
}
