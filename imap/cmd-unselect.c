/*
 * UNSELECT (RFC 3691): leaves the selected state without expunging.
 * Caller: imap_command_execute.
 */
#include "imap/client.h"
#include "imap/imap-commands.h"

void
cmd_unselect(struct client_command *cmd)
{
	if (!imap_command_no_args(cmd))
		return;
	client_mailbox_close(cmd->client);
	imap_reply_nosync(cmd, "OK UNSELECT completed.");
}
