/*
 * ENABLE (RFC 5161): the client asks for extensions that change how the
 * server talks to it. UTF8=ACCEPT (RFC 6855 §3: mailbox names in UTF-8
 * on the wire, both ways) is the one this session can enable; RFC 5161
 * §3.1 says unknown capabilities are ignored, not refused, and the
 * ENABLED response lists only what this command enabled. Caller:
 * imap_command_execute. Arguments are untrusted; only their syntax is
 * checked.
 */
#include <strings.h>

#include "imap/client.h"
#include "imap/imap-commands.h"
#include "imap/parser.h"

void
cmd_enable(struct client_command *cmd)
{
	const char *name;
	bool utf8 = false;
	size_t i;

	/* RFC 5161 §4: "ENABLE" 1*(SP capability), capability = atom. */
	if (cmd->n_args == 0) {
		imap_reply_bad(cmd, "Missing capability.");
		return;
	}
	for (i = 0; i < cmd->n_args; i++) {
		if (!imap_arg_get_atom(&cmd->args[i], &name)) {
			imap_reply_bad(cmd, "Invalid capability.");
			return;
		}
		if (strcasecmp(name, "UTF8=ACCEPT") == 0)
			utf8 = true;
	}
	/* RFC 5161 §3.1: valid only before a mailbox is selected. */
	if (cmd->client->mailbox != NULL) {
		imap_reply_bad(cmd, "ENABLE is not allowed while a mailbox is "
			       "selected.");
		return;
	}
	if (utf8 && !cmd->client->utf8) {
		cmd->client->utf8 = true;
		client_send_line(cmd->client, "* ENABLED UTF8=ACCEPT");
	} else {
		client_send_line(cmd->client, "* ENABLED");
	}
	imap_reply_ok(cmd, "ENABLE completed.");
}
