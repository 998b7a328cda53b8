/*
 * COMPRESS (RFC 4978 §3): turns on DEFLATE both ways, starting right
 * after the CRLF of our tagged OK and with the client's first command
 * after COMPRESS. Caller: imap_command_execute; the argument is client
 * input (an atom compared against "DEFLATE"). The streams themselves are
 * client.c's (client_compress_enable).
 */
#include <strings.h>

#include "imap/client.h"
#include "imap/imap-commands.h"

void
cmd_compress(struct client_command *cmd)
{
	const char *name;

	/* RFC 4978 §5: "COMPRESS" SP algorithm; only "DEFLATE" exists. */
	if (cmd->n_args != 1 || !imap_arg_get_atom(&cmd->args[0], &name)) {
		imap_reply_bad(cmd, "Expected COMPRESS DEFLATE.");
		return;
	}
	if (strcasecmp(name, "DEFLATE") != 0) {
		imap_reply_bad(cmd, "Unknown compression mechanism.");
		return;
	}
	/* §3: BAD when COMPRESS is already active. The code says why, as
	 * it does for the NO of §3's example (our TLS never compresses, so
	 * the NO case does not arise). */
	if (client_compressing(cmd->client)) {
		imap_reply_bad(cmd, "[COMPRESSIONACTIVE] DEFLATE is active "
			       "already.");
		return;
	}
	if (client_compress_enable(cmd->client) < 0) {
		imap_reply_no(cmd, "[UNAVAILABLE] Cannot start compression.");
		return;
	}
	imap_reply_ok(cmd, "DEFLATE active.");
}
