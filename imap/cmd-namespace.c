/*
 * NAMESPACE (RFC 2342, RFC 9051 §6.3.10): one personal namespace with
 * the empty prefix and the store's separator; no other users' or shared
 * namespaces. Caller: imap_command_execute. No arguments are accepted.
 */
#include "imap/client.h"
#include "imap/imap-commands.h"
#include "storage/store.h"

void
cmd_namespace(struct client_command *cmd)
{
	if (!imap_command_no_args(cmd))
		return;
	client_send_line(cmd->client, "* NAMESPACE ((\"\" \"%c\")) NIL NIL",
			 STORE_SEPARATOR);
	imap_reply_ok(cmd, "NAMESPACE completed.");
}
