/*
 * imap-commands: the command table of the authenticated session and the
 * state checks every command passes before its handler runs. Callers:
 * client.c, once per parsed command. The command name and arguments come
 * from the client; the name is only compared against the table.
 *
 * The mail store arrives in a later issue; until then the commands that
 * need it are in the table without a handler, so that a client gets the
 * answer the RFC state machine demands (BAD outside the selected state)
 * rather than "Unknown command".
 */
#include <stddef.h>

#include "core/str.h"
#include "imap/client.h"
#include "imap/imap-commands.h"

static const struct imap_command_def imap_commands[] = {
	/* Any state (RFC 9051 §6.1). */
	{ "CAPABILITY", cmd_capability, 0 },
	{ "ID", cmd_id, 0 },                   /* RFC 2971 */
	{ "LOGOUT", cmd_logout, 0 },
	{ "NOOP", cmd_noop, 0 },

	/* Not authenticated state (RFC 9051 §6.2). */
	{ "AUTHENTICATE", NULL, IMAP_CMD_NOT_AUTHENTICATED },
	{ "LOGIN", NULL, IMAP_CMD_NOT_AUTHENTICATED },
	{ "STARTTLS", NULL, IMAP_CMD_NOT_AUTHENTICATED },

	/* Authenticated state (RFC 9051 §6.3). */
	{ "APPEND", NULL, 0 },
	{ "CREATE", NULL, 0 },
	{ "DELETE", NULL, 0 },
	{ "ENABLE", cmd_enable, 0 },           /* RFC 5161 */
	{ "EXAMINE", NULL, 0 },
	{ "IDLE", NULL, 0 },                   /* RFC 2177 */
	{ "LIST", NULL, 0 },
	{ "LSUB", NULL, 0 },
	{ "NAMESPACE", NULL, 0 },              /* RFC 2342 */
	{ "RENAME", NULL, 0 },
	{ "SELECT", NULL, 0 },
	{ "STATUS", NULL, 0 },
	{ "SUBSCRIBE", NULL, 0 },
	{ "UNSUBSCRIBE", NULL, 0 },

	/* Selected state (RFC 9051 §6.4). */
	{ "CHECK", NULL, IMAP_CMD_NEEDS_SELECTED },  /* RFC 3501 §6.4.1 */
	{ "CLOSE", NULL, IMAP_CMD_NEEDS_SELECTED | IMAP_CMD_BREAKS_SEQS },
	{ "COPY", NULL, IMAP_CMD_NEEDS_SELECTED | IMAP_CMD_USES_SEQS },
	{ "EXPUNGE", NULL, IMAP_CMD_NEEDS_SELECTED | IMAP_CMD_BREAKS_SEQS },
	{ "FETCH", NULL, IMAP_CMD_NEEDS_SELECTED | IMAP_CMD_USES_SEQS },
	{ "MOVE", NULL, IMAP_CMD_NEEDS_SELECTED | IMAP_CMD_USES_SEQS |
			IMAP_CMD_BREAKS_SEQS },      /* RFC 6851 */
	{ "SEARCH", NULL, IMAP_CMD_NEEDS_SELECTED | IMAP_CMD_USES_SEQS },
	{ "STORE", NULL, IMAP_CMD_NEEDS_SELECTED | IMAP_CMD_USES_SEQS },
	/* UID FETCH/STORE/... name UIDs, not sequence numbers; UID EXPUNGE
	 * breaks them, which the UID handler will decide per subcommand. */
	{ "UID", NULL, IMAP_CMD_NEEDS_SELECTED },
	{ "UNSELECT", NULL, IMAP_CMD_NEEDS_SELECTED },  /* RFC 3691 */
};

#define N_COMMANDS (sizeof(imap_commands) / sizeof(imap_commands[0]))

const struct imap_command_def *
imap_command_find(const char *name)
{
	size_t i;

	/* Thirty-odd entries: a scan costs less than keeping a sorted
	 * table honest. */
	for (i = 0; i < N_COMMANDS; i++) {
		if (str_eq(imap_commands[i].name, name))
			return &imap_commands[i];
	}
	return NULL;
}

const struct imap_command_def *
imap_commands_all(size_t *n)
{
	*n = N_COMMANDS;
	return imap_commands;
}

void
imap_command_execute(struct client_command *cmd)
{
	struct client *c = cmd->client;
	const struct imap_command_def *def = imap_command_find(cmd->name);

	if (def == NULL) {
		client_send_tagline(c, cmd->tag, "BAD Unknown command.");
		return;
	}
	if ((def->flags & IMAP_CMD_NOT_AUTHENTICATED) != 0) {
		client_send_tagline(c, cmd->tag, "BAD Already authenticated.");
		return;
	}
	if ((def->flags & IMAP_CMD_NEEDS_SELECTED) != 0 && !c->selected) {
		client_send_tagline(c, cmd->tag, "BAD No mailbox selected.");
		return;
	}
	if (def->func == NULL) {
		client_send_tagline(c, cmd->tag, "NO [UNAVAILABLE] "
				    "Mailbox access is not implemented yet.");
		return;
	}
	def->func(cmd);
}

bool
imap_command_no_args(struct client_command *cmd)
{
	if (cmd->n_args == 0)
		return true;
	client_send_tagline(cmd->client, cmd->tag, "BAD Unexpected arguments.");
	return false;
}
