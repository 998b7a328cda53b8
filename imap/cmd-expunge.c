/*
 * EXPUNGE (RFC 9051 §6.4.3) and UID EXPUNGE (RFC 4315 §2.1: only the
 * \Deleted messages among the given UIDs). The store removes them; the
 * EXPUNGE responses are the reply's untagged updates (imap-sync.c), so
 * expunges by others are reported in the same breath. Caller:
 * imap_command_execute.
 */
#include "imap/client.h"
#include "imap/imap-args.h"
#include "imap/imap-commands.h"
#include "storage/store.h"

void
cmd_expunge(struct client_command *cmd)
{
	struct client *c = cmd->client;
	uint32_t *seqs = NULL, *uids = NULL;
	size_t n = 0;
	const char *error;

	if (!cmd->uid && !imap_command_no_args(cmd))
		return;
	if (cmd->uid) {
		const struct mailbox_view *v = mailbox_view(c->mailbox);

		if (cmd->n_args != 1) {
			imap_reply_bad(cmd, "Expected a UID set.");
			return;
		}
		if (imap_args_seqs(cmd, &cmd->args[0], &seqs, &n,
				   &error) < 0) {
			imap_reply_bad(cmd, "%s", error);
			return;
		}
		uids = seqs;
		for (size_t i = 0; i < n; i++)
			uids[i] = v->msgs[seqs[i] - 1].uid;
	}
	if (c->readonly) {
		imap_reply_no(cmd, "[READ-ONLY] The mailbox is read-only.");
		return;
	}
	/* UID EXPUNGE of UIDs that do not exist: nothing to do. */
	if (!cmd->uid || n > 0) {
		if (mailbox_expunge(c->mailbox, uids, n) < 0) {
			imap_reply_store_error(cmd, store_error(c->store),
					       "EXPUNGE");
			return;
		}
	}
	imap_reply_ok(cmd, "EXPUNGE completed.");
}
