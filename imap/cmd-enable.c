/*
 * ENABLE (RFC 5161): the client asks for extensions that change how the
 * server talks to it: UTF8=ACCEPT (RFC 6855 §3: mailbox names in UTF-8
 * on the wire, both ways), CONDSTORE and QRESYNC (RFC 7162 §3.1, §3.2.3:
 * QRESYNC implies CONDSTORE). RFC 5161 §3.1 says unknown capabilities
 * are ignored, not refused, and the ENABLED response lists only what
 * this command enabled. Caller: imap_command_execute. Arguments are
 * untrusted; only their syntax is checked.
 */
#include <strings.h>

#include "imap/client.h"
#include "imap/imap-commands.h"
#include "imap/imap-condstore.h"
#include "imap/parser.h"

void
cmd_enable(struct client_command *cmd)
{
	struct client *c = cmd->client;
	const char *name;
	bool utf8 = false, condstore = false, qresync = false;
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
		else if (strcasecmp(name, "CONDSTORE") == 0)
			condstore = true;
		else if (strcasecmp(name, "QRESYNC") == 0)
			qresync = true;
	}
	/* RFC 5161 §3.1: valid only before a mailbox is selected. */
	if (c->mailbox != NULL) {
		imap_reply_bad(cmd, "ENABLE is not allowed while a mailbox is "
			       "selected.");
		return;
	}
	/* Only what this command newly enabled is listed (§3.1). */
	utf8 = utf8 && !c->utf8;
	condstore = condstore && !c->condstore;
	qresync = qresync && !c->qresync;
	if (utf8)
		c->utf8 = true;
	if (condstore || qresync)
		condstore_enable(c);
	if (qresync)
		c->qresync = true;
	client_send_line(c, "* ENABLED%s%s%s", utf8 ? " UTF8=ACCEPT" : "",
			 condstore ? " CONDSTORE" : "",
			 qresync ? " QRESYNC" : "");
	imap_reply_ok(cmd, "ENABLE completed.");
}
