/*
 * RENAME (RFC 9051 §6.3.6): the store moves the mailbox with its
 * children, keeping UIDVALIDITY and UIDs; renaming INBOX moves its
 * messages to the new name and leaves INBOX empty. The new name is
 * checked as a name to create. Caller: imap_command_execute.
 */
#include "imap/client.h"
#include "imap/imap-args.h"
#include "imap/imap-commands.h"
#include "imap/mailbox-name.h"
#include "storage/store.h"

void
cmd_rename(struct client_command *cmd)
{
	const char *from, *to;
	struct store *s;

	if (cmd->n_args != 2) {
		imap_reply_bad(cmd, "Expected two mailbox names.");
		return;
	}
	from = imap_args_mailbox(cmd, &cmd->args[0], IMAP_MBNAME_EXISTING);
	if (from == NULL)
		return;
	to = imap_args_mailbox(cmd, &cmd->args[1], IMAP_MBNAME_NEW);
	if (to == NULL)
		return;
	if (mbname_is_inbox(to)) {
		imap_reply_no(cmd, "[ALREADYEXISTS] INBOX always exists.");
		return;
	}
	s = client_store(cmd);
	if (s == NULL)
		return;
	if (store_rename(s, from, to) < 0) {
		imap_reply_store_error(cmd, store_error(s), "RENAME");
		return;
	}
	imap_reply_ok(cmd, "RENAME completed.");
}
