/*
 * IDLE (RFC 2177): "+ idling", then the selected mailbox's changes as
 * they happen (imap-notify.c wakes us; the updates are imap-sync.c's,
 * the same path as after every command, expunges included: a command
 * is in progress, RFC 9051 §7.5.1), until the client's "DONE". The
 * continuation line is untrusted input: exactly DONE (any case) ends
 * IDLE with OK; any other line ends it with BAD (RFC 2177: DONE is the
 * only thing the client may send). Without a selected mailbox IDLE only
 * waits for DONE or the timeout. Callers: imap-commands.c (cmd_idle),
 * client.c (imap_idle_step, from its loop while c->idling).
 */
#include <malloc.h>
#include <strings.h>

#include "imap/client.h"
#include "imap/imap-commands.h"
#include "imap/imap-notify.h"
#include "imap/imap-sync.h"
#include "imap/reader.h"
#include "storage/store.h"

void
cmd_idle(struct client_command *cmd)
{
	struct client *c = cmd->client;

	if (!imap_command_no_args(cmd))
		return;
	client_send_line(c, "+ idling");
	c->idling = true;
	/* What changed since the last command goes out at once. */
	c->idle_push = true;
	c->idle_sync.ch = NULL;
	imap_notify_arm(c, true);
	/* A session spends most of its life here: give back the heap pages
	 * the commands before freed. */
	malloc_trim(0);
}

void
imap_idle_end(struct client *c)
{
	if (!c->idling)
		return;
	c->idling = false;
	c->idle_push = false;
	c->idle_sync.ch = NULL;
	imap_notify_arm(c, false);
}

void
imap_idle_step(struct client *c)
{
	struct client_command *cmd = c->cmd;
	const uint8_t *line;
	size_t len;
	bool too_long = false;

	/* Updates already begun are written whole before anything else:
	 * the next sync would replace them. */
	if (c->idle_sync.ch != NULL && !imap_sync_write(c, &c->idle_sync))
		return;
	if (imap_reader_line(c->reader, c->in, &line, &len, &too_long)) {
		imap_idle_end(c);
		if (too_long) {
			imap_reply_bad(cmd, "[TOOBIG] Line too long.");
			client_send_line(c, "* BYE [TOOBIG] Line too long.");
			client_close_after_output(c, "Disconnected: line too "
						  "long");
		} else if (len == 4 && strncasecmp((const char *)line,
						   "DONE", 4) == 0) {
			imap_reply_ok(cmd, "IDLE terminated.");
		} else {
			imap_reply_bad(cmd, "Expected DONE.");
		}
		return;
	}
	if (c->input_eof) {
		/* No tagged answer: client.c ends the command (still
		 * idling) once it sees the session closing. */
		client_close_after_output(c, "Disconnected in IDLE");
		return;
	}
	if (c->idle_push && c->mailbox != NULL) {
		c->idle_push = false;
		/* A change: the index stays attached while they come
		 * (client.c releases it after CLIENT_IDLE_QUIET_TICKS). */
		c->quiet_ticks = 0;
		imap_sync_begin(c, &c->idle_sync, MAILBOX_SYNC_EXPUNGES);
		if (c->mailbox != NULL)
			imap_notify_synced(c);
		(void)imap_sync_write(c, &c->idle_sync);
	}
	c->idle_push = false;
}
