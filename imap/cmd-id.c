/*
 * ID (RFC 2971): logs what the client says it is and answers with our
 * own identification. Caller: imap_command_execute. The parameter list
 * is untrusted; imap_id_parse() bounds and escapes it before it reaches
 * the log.
 */
#include "core/log.h"
#include "imap/client.h"
#include "imap/id.h"
#include "imap/imap-commands.h"

void
cmd_id(struct client_command *cmd)
{
	const char *logtext, *error;

	if (imap_id_parse(cmd->pool, cmd->args, cmd->n_args, &logtext,
			  &error) < 0) {
		imap_reply_bad(cmd, "%s", error);
		return;
	}
	if (logtext != NULL && logtext[0] != '\0')
		log_info("ID %s", logtext);
	client_out_check(cmd->client, imap_id_write_reply(cmd->client->out));
	imap_reply_ok(cmd, "ID completed.");
}
