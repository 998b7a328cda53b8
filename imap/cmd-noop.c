/*
 * NOOP (RFC 9051 §6.1.2): does nothing but answer, which reports the
 * selected mailbox's changes (imap-sync.c: the reply does it); the way
 * clients poll for new mail. Caller: imap_command_execute. No arguments
 * are accepted.
 */
#include "imap/client.h"
#include "imap/imap-commands.h"

void
cmd_noop(struct client_command *cmd)
{
	if (!imap_command_no_args(cmd))
		return;
	imap_reply_ok(cmd, "NOOP completed.");
}
