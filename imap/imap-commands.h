/*
 * imap-commands: the table of IMAP commands an authenticated session
 * knows, their state rules, the tagged reply, and the handlers (one
 * cmd-<name>.c each). Callers: client.c for every parsed command.
 * Arguments are untrusted client input already parsed into an imap_arg
 * tree.
 *
 * A command's life (doc/design.md, "Commands"): imap_command_execute()
 * checks the state rules and calls the handler. The handler either
 * answers (imap_reply_*) or, when it has more output than should wait in
 * memory, sets cmd->resume and returns; client.c calls resume again each
 * time the output has drained below IMAP_OUTPUT_PAUSE, until it answers.
 * The answer is not written at once: first the untagged updates of the
 * selected mailbox (imap-sync.c, at the moments RFC 9051 §7.5.1 allows,
 * also in pieces), then the tagged line. Commands pipelined behind it
 * wait, so replies come in order.
 */
#ifndef MOAT_IMAP_COMMANDS_H
#define MOAT_IMAP_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include "core/pool.h"
#include "imap/imap-sync.h"
#include "imap/parser.h"

struct client;
struct store_error;

struct client_command;
typedef void imap_command_func(struct client_command *cmd);

/* One command being executed. Everything in it lives in pool, which is
 * cleared when the command is done. */
struct client_command {
	struct client *client;
	struct pool *pool;
	const char *tag;             /* valid tag, never NULL */
	const char *name;            /* uppercased; "UID FETCH" etc. */
	const struct imap_arg *args;
	size_t n_args;
	bool uid;                    /* the UID form (RFC 9051 §6.4.9) */

	/* Set by a handler with more to do: called again once the output
	 * has drained; it sets itself again or answers. */
	imap_command_func *resume;
	/* Called once when the command ends, finished or not (the session
	 * may close under it): closes descriptors it holds. */
	void (*cleanup)(struct client_command *cmd);
	void *ctx;                   /* the handler's state (pool memory) */

	/* The answer, once given: the tagged line's text after the tag,
	 * and the updates to send before it. */
	const char *reply;
	bool sync;                   /* send untagged updates first */
	unsigned int sync_flags;     /* MAILBOX_SYNC_* (EXPUNGES or 0) */
	bool sync_begun;
	struct imap_sync sync_state;
};

enum imap_command_flags {
	/* Valid only in the selected state (RFC 9051 §6.4); answered BAD
	 * before the handler runs when no mailbox is selected. */
	IMAP_CMD_NEEDS_SELECTED = 0x01,
	/* Takes message sequence numbers. */
	IMAP_CMD_USES_SEQS = 0x02,
	/* May expunge, so sequence numbers change. */
	IMAP_CMD_BREAKS_SEQS = 0x04,
	/* Valid only before authentication (RFC 9051 §6.2): answered BAD,
	 * the session is authenticated. */
	IMAP_CMD_NOT_AUTHENTICATED = 0x08,
	/* RFC 9051 §7.5.1: no EXPUNGE may be sent while it runs (FETCH,
	 * STORE, SEARCH; not their UID forms). */
	IMAP_CMD_NO_EXPUNGES = 0x10,
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
/* The UID subcommands (FETCH, STORE, COPY, MOVE, EXPUNGE, SEARCH). */
const struct imap_command_def *imap_uid_command_find(const char *name);
/* Applies the state rules and runs the handler. */
void imap_command_execute(struct client_command *cmd);
/* For commands the grammar gives no arguments: true if there are none,
 * else answers "BAD Unexpected arguments." and returns false. */
bool imap_command_no_args(struct client_command *cmd);

/* The tagged answer, built in this one place: text is what follows
 * "<tag> ", e.g. "OK [APPENDUID 1 2] Append completed.". OK and NO are
 * preceded by the selected mailbox's untagged updates (with EXPUNGE
 * unless the command is one of those RFC 9051 §7.5.1 names); BAD by
 * nothing: a command that was not understood changed nothing the
 * client could expect to hear about. */
void imap_reply_ok(struct client_command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void imap_reply_no(struct client_command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void imap_reply_bad(struct client_command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Answers without untagged updates (SELECT, CLOSE, LOGOUT: the mailbox
 * they leave or just opened has nothing to report). */
void imap_reply_nosync(struct client_command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* NO [CODE] for a store error (imap-store-error.c), its detail logged
 * with what (e.g. "CREATE Sent"), never sent. */
void imap_reply_store_error(struct client_command *cmd,
			    const struct store_error *err, const char *what);

/* Handlers. */
imap_command_func cmd_append;
imap_command_func cmd_capability;
imap_command_func cmd_check;
imap_command_func cmd_close;
imap_command_func cmd_compress;
imap_command_func cmd_copy;          /* COPY, MOVE */
imap_command_func cmd_create;
imap_command_func cmd_delete;
imap_command_func cmd_enable;
imap_command_func cmd_expunge;
imap_command_func cmd_fetch;
imap_command_func cmd_id;
imap_command_func cmd_idle;
imap_command_func cmd_list;          /* LIST, LSUB */
imap_command_func cmd_logout;
imap_command_func cmd_namespace;
imap_command_func cmd_noop;
imap_command_func cmd_rename;
imap_command_func cmd_search;        /* SEARCH, UID SEARCH */
imap_command_func cmd_sort;          /* SORT, UID SORT */
imap_command_func cmd_thread;        /* THREAD, UID THREAD */
imap_command_func cmd_select;        /* SELECT, EXAMINE */
imap_command_func cmd_status;
imap_command_func cmd_store;
imap_command_func cmd_subscribe;     /* SUBSCRIBE, UNSUBSCRIBE */
imap_command_func cmd_uid;
imap_command_func cmd_unselect;

/* IDLE's life after its "+ idling" (cmd-idle.c), for client.c: one step
 * of the loop while c->idling (finish written updates, read DONE, push
 * what changed), and its end however the command ends. */
void imap_idle_step(struct client *c);
void imap_idle_end(struct client *c);

#endif
