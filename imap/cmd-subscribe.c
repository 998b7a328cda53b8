/*
 * SUBSCRIBE and UNSUBSCRIBE (RFC 9051 §6.3.7, §6.3.8): the store keeps
 * the subscription list; a subscription may name a mailbox that does not
 * exist (any more). Caller: imap_command_execute.
 */
#include "core/str.h"
#include "imap/client.h"
#include "imap/imap-args.h"
#include "imap/imap-commands.h"
#include "storage/store.h"

void
cmd_subscribe(struct client_command *cmd)
{
	bool on = str_eq(cmd->name, "SUBSCRIBE");
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
	if (store_subscribe(s, name, on) < 0) {
		imap_reply_store_error(cmd, store_error(s), cmd->name);
		return;
	}
	imap_reply_ok(cmd, "%s completed.", cmd->name);
}
