/*
 * CLOSE (RFC 9051 §6.4.1): expunges the \Deleted messages of a
 * read-write mailbox silently (no EXPUNGE responses) and leaves the
 * selected state. A failed expunge is logged and the mailbox closed
 * anyway: the client asked to leave, and the messages stay \Deleted for
 * the next time. Caller: imap_command_execute.
 */
#include "core/log.h"
#include "imap/client.h"
#include "imap/imap-commands.h"
#include "storage/store.h"

void
cmd_close(struct client_command *cmd)
{
	struct client *c = cmd->client;

	if (!imap_command_no_args(cmd))
		return;
	if (!c->readonly && mailbox_expunge(c->mailbox, NULL, 0) < 0)
		log_error("CLOSE of %s: expunge failed: %s", c->mailbox_name,
			  store_error(c->store)->detail);
	client_mailbox_close(c);
	imap_reply_nosync(cmd, "OK CLOSE completed.");
}
