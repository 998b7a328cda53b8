/*
 * imap-commands: the table of IMAP commands an authenticated session
 * knows, their state rules, and the handlers (one cmd-<name>.c each).
 * Callers: client.c for every parsed command. Arguments are untrusted
 * client input already parsed into an imap_arg tree.
 */
#ifndef MOAT_IMAP_COMMANDS_H
#define MOAT_IMAP_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include "core/pool.h"
#include "imap/parser.h"

struct client;

/* One command being executed. Everything in it lives in pool, which is
 * cleared when the command is done. */
struct client_command {
	struct client *client;
	struct pool *pool;
	const char *tag;             /* valid tag, never NULL */
	const char *name;            /* uppercased */
	const struct imap_arg *args;
	size_t n_args;
};

/* A handler queues its untagged data and exactly one tagged reply. */
typedef void imap_command_func(struct client_command *cmd);

enum imap_command_flags {
	/* Valid only in the selected state (RFC 9051 §6.4); answered BAD
	 * before the handler runs when no mailbox is selected. */
	IMAP_CMD_NEEDS_SELECTED = 0x01,
	/* Takes message sequence numbers: may not run while a command that
	 * breaks them is in progress (RFC 9051 §5.5). */
	IMAP_CMD_USES_SEQS = 0x02,
	/* May expunge, so sequence numbers change. */
	IMAP_CMD_BREAKS_SEQS = 0x04,
	/* Valid only before authentication (RFC 9051 §6.2): answered BAD,
	 * the session is authenticated. */
	IMAP_CMD_NOT_AUTHENTICATED = 0x08,
};

struct imap_command_def {
	const char *name;            /* uppercase */
	/* NULL: known but not implemented yet, answered
	 * NO [UNAVAILABLE] once the state checks pass. */
	imap_command_func *func;
	unsigned int flags;
};

/* The definition for an uppercased name, or NULL. */
const struct imap_command_def *imap_command_find(const char *name);
/* The whole table (for tests), *n set to its length. */
const struct imap_command_def *imap_commands_all(size_t *n);
/* Applies the state rules and runs the handler. */
void imap_command_execute(struct client_command *cmd);
/* For commands the grammar gives no arguments: true if there are none,
 * else answers "BAD Unexpected arguments." and returns false. */
bool imap_command_no_args(struct client_command *cmd);

/* Handlers. */
imap_command_func cmd_capability;
imap_command_func cmd_enable;
imap_command_func cmd_id;
imap_command_func cmd_logout;
imap_command_func cmd_noop;

#endif
