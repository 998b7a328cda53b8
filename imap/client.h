/*
 * client: one authenticated IMAP session on a non-blocking stream socket
 * (the client's TCP connection, or imap-login's TLS proxy socketpair;
 * both are treated the same). Owns the input and output buffers, the
 * command reader, the per-command pool and the idle timer; hands every
 * complete command to imap_command_execute() (imap-commands.c).
 *
 * Input is the authenticated but possibly hostile client: every size is
 * bounded (imap-settings.h).
 */
#ifndef MOAT_IMAP_CLIENT_H
#define MOAT_IMAP_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include "core/buf.h"
#include "core/ev.h"
#include "core/pool.h"
#include "imap/reader.h"

struct session_info;

struct client {
	struct ev *ev;
	int fd;                   /* -1 once closed */
	struct ev_io *io;
	struct ev_timer *idle;
	uint64_t idle_ms;

	struct buf *in;           /* read, not yet given to the reader */
	struct buf *out;          /* responses not yet written */
	size_t in_peak, out_peak; /* high-water marks, for shrinking */
	struct imap_reader *reader;
	struct pool *cmd_pool;    /* cleared after every command */

	char *user;
	char *home;
	char *mail;               /* mail location, "~" expanded */

	uint64_t bytes_in, bytes_out;

	/* Set by SELECT/EXAMINE (a later issue); gates the selected-state
	 * commands (RFC 9051 §6.4). */
	bool selected;
	/* No more commands: flush the output, then close. */
	bool closing;
	/* The connection is closed and the loop told to stop. */
	bool closed;
	/* A response did not fit IMAP_OUTPUT_MAX. */
	bool out_overflow;
	/* Logged when a closing session finally closes (static text). */
	const char *close_reason;
};

/* Takes ownership of si->fd (already non-blocking), sends
 * "<tag> OK [CAPABILITY ...] Logged in", runs the pipelined bytes and
 * starts watching the socket on ev. When the session ends the fd is
 * closed and ev_stop(ev) called; free the client afterwards. */
struct client *client_new(struct ev *ev, const struct session_info *si);
/* Closes the connection if still open (reason "Disconnected") and
 * frees. NULL-safe; sets *c to NULL. */
void client_free(struct client **c);

/* A server-side end of the session (moatd gone, SIGTERM): sends
 * "* BYE <text>" as far as the socket takes it without blocking, logs
 * reason and closes. */
void client_shutdown(struct client *c, const char *bye_text,
		     const char *reason);
/* Tests only: shorten the idle timeout. */
void client_set_idle_timeout(struct client *c, uint64_t ms);

/* Response helpers for command handlers. Each appends one line and its
 * CRLF to the output; a line that does not fit IMAP_OUTPUT_MAX marks the
 * client for disconnection (out_overflow), so handlers need not check. */
void client_send_line(struct client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "<tag> <text>" or "* <text>" when tag is NULL. */
void client_send_tagline(struct client *c, const char *tag,
			 const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Call after writing to c->out directly (e.g. imap_id_write_reply):
 * a failed append there means overflow. */
void client_out_check(struct client *c, int append_result);
/* End the session after what is queued has been written (LOGOUT, BYE):
 * no further commands are read. reason is logged with the byte counts. */
void client_close_after_output(struct client *c, const char *reason);

#endif
