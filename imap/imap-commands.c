/*
 * imap-commands: the command table of the authenticated session, the
 * state checks every command passes before its handler runs, the UID
 * prefix, and the tagged reply. Callers: client.c, once per parsed
 * command; the handlers, for their answer. The command name and
 * arguments come from the client; the name is only compared against the
 * table.
 *
 * Commands without a handler yet (none at the moment) are in the
 * table so that a client gets the answer the RFC state machine demands
 * (BAD outside the selected state) rather than "Unknown command".
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/str.h"
#include "imap/client.h"
#include "imap/imap-commands.h"
#include "imap/imap-store-error.h"
#include "storage/store.h"

#define SEL IMAP_CMD_NEEDS_SELECTED
#define SEQS IMAP_CMD_USES_SEQS
#define BREAKS IMAP_CMD_BREAKS_SEQS
#define NOEXP IMAP_CMD_NO_EXPUNGES

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
	{ "APPEND", cmd_append, 0 },           /* + RFC 3502 MULTIAPPEND */
	{ "COMPRESS", cmd_compress, 0 },       /* RFC 4978 */
	{ "CREATE", cmd_create, 0 },
	{ "DELETE", cmd_delete, 0 },
	{ "ENABLE", cmd_enable, 0 },           /* RFC 5161 */
	{ "EXAMINE", cmd_select, 0 },
	{ "IDLE", cmd_idle, 0 },               /* RFC 2177 */
	{ "LIST", cmd_list, 0 },               /* + RFC 5258, 5819, 6154 */
	{ "LSUB", cmd_list, 0 },
	{ "NAMESPACE", cmd_namespace, 0 },     /* RFC 2342 */
	{ "RENAME", cmd_rename, 0 },
	{ "SELECT", cmd_select, 0 },
	{ "STATUS", cmd_status, 0 },
	{ "SUBSCRIBE", cmd_subscribe, 0 },
	{ "UNSUBSCRIBE", cmd_subscribe, 0 },

	/* Selected state (RFC 9051 §6.4). */
	{ "CHECK", cmd_check, SEL },           /* RFC 3501 §6.4.1 */
	{ "CLOSE", cmd_close, SEL | BREAKS },
	{ "COPY", cmd_copy, SEL | SEQS },
	{ "EXPUNGE", cmd_expunge, SEL | BREAKS },
	{ "FETCH", cmd_fetch, SEL | SEQS | NOEXP },
	{ "MOVE", cmd_copy, SEL | SEQS | BREAKS },  /* RFC 6851 */
	{ "SEARCH", cmd_search, SEL | SEQS | NOEXP },
	{ "SORT", cmd_sort, SEL | SEQS | NOEXP },      /* RFC 5256 */
	{ "STORE", cmd_store, SEL | SEQS | NOEXP },
	{ "THREAD", cmd_thread, SEL | SEQS | NOEXP },  /* RFC 5256 */
	/* UID FETCH/STORE/...: the subcommand decides (uid_commands). */
	{ "UID", cmd_uid, SEL },
	{ "UNSELECT", cmd_unselect, SEL },          /* RFC 3691 */
};

/* RFC 9051 §6.4.9. EXPUNGE may be sent during all of them; UID EXPUNGE
 * is RFC 4315's. */
static const struct imap_command_def uid_commands[] = {
	{ "COPY", cmd_copy, SEL },
	{ "EXPUNGE", cmd_expunge, SEL | BREAKS },
	{ "FETCH", cmd_fetch, SEL },
	{ "MOVE", cmd_copy, SEL | BREAKS },
	{ "SEARCH", cmd_search, SEL },
	{ "SORT", cmd_sort, SEL },
	{ "STORE", cmd_store, SEL },
	{ "THREAD", cmd_thread, SEL },
};

#define N_COMMANDS (sizeof(imap_commands) / sizeof(imap_commands[0]))
#define N_UID_COMMANDS (sizeof(uid_commands) / sizeof(uid_commands[0]))

static const struct imap_command_def *
find_in(const struct imap_command_def *tab, size_t n, const char *name)
{
	/* Thirty-odd entries: a scan costs less than keeping a sorted
	 * table honest. */
	for (size_t i = 0; i < n; i++) {
		if (str_eq(tab[i].name, name))
			return &tab[i];
	}
	return NULL;
}

const struct imap_command_def *
imap_command_find(const char *name)
{
	return find_in(imap_commands, N_COMMANDS, name);
}

const struct imap_command_def *
imap_uid_command_find(const char *name)
{
	return find_in(uid_commands, N_UID_COMMANDS, name);
}

const struct imap_command_def *
imap_commands_all(size_t *n)
{
	*n = N_COMMANDS;
	return imap_commands;
}

static void
run_def(struct client_command *cmd, const struct imap_command_def *def)
{
	struct client *c = cmd->client;

	if ((def->flags & IMAP_CMD_NOT_AUTHENTICATED) != 0) {
		imap_reply_bad(cmd, "Already authenticated.");
		return;
	}
	if ((def->flags & IMAP_CMD_NEEDS_SELECTED) != 0 &&
	    c->mailbox == NULL) {
		imap_reply_bad(cmd, "No mailbox selected.");
		return;
	}
	cmd->sync_flags = (def->flags & IMAP_CMD_NO_EXPUNGES) != 0 ? 0 :
		MAILBOX_SYNC_EXPUNGES;
	if (def->func == NULL) {
		imap_reply_no(cmd, "[UNAVAILABLE] %s%s is not implemented "
			      "yet.", cmd->uid ? "UID " : "", def->name);
		return;
	}
	def->func(cmd);
}

void
imap_command_execute(struct client_command *cmd)
{
	const struct imap_command_def *def = imap_command_find(cmd->name);

	if (def == NULL) {
		imap_reply_bad(cmd, "Unknown command.");
		return;
	}
	run_def(cmd, def);
}

void
cmd_uid(struct client_command *cmd)
{
	const struct imap_command_def *def;
	const char *sub;
	char *up;

	if (cmd->n_args == 0 || !imap_arg_get_atom(&cmd->args[0], &sub)) {
		imap_reply_bad(cmd, "Missing UID command.");
		return;
	}
	up = pool_strdup(cmd->pool, sub);
	str_upper(up);
	def = imap_uid_command_find(up);
	if (def == NULL) {
		imap_reply_bad(cmd, "Unknown UID command.");
		return;
	}
	cmd->uid = true;
	cmd->name = def->name;
	cmd->args++;
	cmd->n_args--;
	run_def(cmd, def);
}

bool
imap_command_no_args(struct client_command *cmd)
{
	if (cmd->n_args == 0)
		return true;
	imap_reply_bad(cmd, "Unexpected arguments.");
	return false;
}

static void reply_v(struct client_command *cmd, bool sync, const char *kind,
		    const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

static void
reply_v(struct client_command *cmd, bool sync, const char *kind,
	const char *fmt, va_list ap)
{
	va_list copy;
	size_t klen = strlen(kind);
	char *text;
	int n;

	if (cmd->reply != NULL)
		log_panic("command %s answered twice", cmd->name);
	va_copy(copy, ap);
	n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		log_panic("reply format for %s failed", cmd->name);
	text = pool_alloc(cmd->pool, klen + 1 + (size_t)n + 1);
	memcpy(text, kind, klen);
	text[klen] = ' ';
	vsnprintf(text + klen + 1, (size_t)n + 1, fmt, ap);
	cmd->reply = text;
	cmd->sync = sync && cmd->client->mailbox != NULL;
	cmd->resume = NULL;
}

void
imap_reply_ok(struct client_command *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_v(cmd, true, "OK", fmt, ap);
	va_end(ap);
}

void
imap_reply_no(struct client_command *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_v(cmd, true, "NO", fmt, ap);
	va_end(ap);
}

void
imap_reply_bad(struct client_command *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_v(cmd, false, "BAD", fmt, ap);
	va_end(ap);
}

void
imap_reply_nosync(struct client_command *cmd, const char *fmt, ...)
{
	va_list ap;

	/* fmt carries its own OK/NO. */
	va_start(ap, fmt);
	reply_v(cmd, false, "", fmt, ap);
	va_end(ap);
	/* reply_v put "" + ' ' in front. */
	cmd->reply++;
}

void
imap_reply_store_error(struct client_command *cmd,
		       const struct store_error *err, const char *what)
{
	if (err->code == STORE_ERR_SERVERBUG || err->code == STORE_ERR_TEMP ||
	    err->code == STORE_ERR_NOPERM || err->code == STORE_ERR_OVERQUOTA)
		log_error("%s%s: %s", cmd->uid ? "UID " : "", what,
			  err->detail[0] != '\0' ? err->detail :
			  "(no detail)");
	else if (err->detail[0] != '\0')
		log_debug("%s%s: %s", cmd->uid ? "UID " : "", what,
			  err->detail);
	imap_reply_no(cmd, "%s", imap_store_error_text(err->code));
}
