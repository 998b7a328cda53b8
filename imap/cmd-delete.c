/*
 * DELETE (RFC 9051 §6.3.5): the store removes the mailbox and its
 * messages; one with children becomes \Noselect; INBOX cannot go
 * (NO [CANNOT] from the store). Deleting the selected mailbox closes it
 * first, so the session is back in the authenticated state (RFC 2180 §3
 * leaves the choice to the server). Caller: imap_command_execute.
 */
#include "core/str.h"
#include "imap/client.h"
#include "imap/imap-args.h"
#include "imap/imap-commands.h"
#include "storage/store.h"

void
cmd_delete(struct client_command *cmd)
{
	const char *name;
	struct store *s;

	if (cmd->n_args != 1) {
		imap_reply_bad(cmd, "Expected a mailbox name.");
		return;
	}
	name = imap_args_mailbox(cmd, &cmd->args[0], IMAP_MBNAME_EXISTING);
	if (name == NULL)
		return;
	s = client_store(cmd);
	if (s == NULL)
		return;
	if (cmd->client->mailbox_name != NULL &&
	    str_eq(cmd->client->mailbox_name, name))
		client_mailbox_close(cmd->client);
	if (store_delete(s, name) < 0) {
		imap_reply_store_error(cmd, store_error(s), "DELETE");
		return;
	}
	imap_reply_ok(cmd, "DELETE completed.");
}
