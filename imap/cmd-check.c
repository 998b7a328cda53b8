/*
 * CHECK (RFC 3501 §6.4.1): a checkpoint of the selected mailbox. Every
 * change is on disk when its command answers, so there is nothing to
 * write; like NOOP it reports the mailbox's changes (RFC 9051 drops
 * CHECK for NOOP). Caller: imap_command_execute.
 */
#include "imap/client.h"
#include "imap/imap-commands.h"

void
cmd_check(struct client_command *cmd)
{
	if (!imap_command_no_args(cmd))
		return;
	imap_reply_ok(cmd, "CHECK completed.");
}
