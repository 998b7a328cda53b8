/*
 * client: one authenticated IMAP session on a non-blocking stream socket
 * (the client's TCP connection, or imap-login's TLS proxy socketpair;
 * both are treated the same). Owns the input and output buffers, the
 * command reader, the per-command pool, the idle timer, the user's mail
 * store (opened on first use) and the selected mailbox; hands every
 * complete command to imap_command_execute() (imap-commands.c) and runs
 * it to its end, in pieces when its output is large (doc/design.md,
 * "Commands").
 *
 * Input is the authenticated but possibly hostile client: every size is
 * bounded (imap-settings.h and the session's limits).
 */
#ifndef MOAT_IMAP_CLIENT_H
#define MOAT_IMAP_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "core/buf.h"
#include "core/ev.h"
#include "core/pool.h"
#include "imap/imap-sync.h"
#include "imap/reader.h"

struct session_info;
struct client_command;
struct store;
struct mailbox;
struct compress;

/* A literal being copied from a message file into the output. */
struct client_stream {
	int fd;                   /* borrowed from the command; -1: none */
	off_t off;                /* next byte to read */
	uint64_t left;            /* bytes still owed to the client */
};

struct client {
	struct ev *ev;
	int fd;                   /* -1 once closed */
	struct ev_io *io;
	struct ev_timer *idle;
	uint64_t idle_ms;
	/* Armed while output waits for the client; reset whenever the
	 * socket takes some. Its expiry drops a client that stopped
	 * reading (config output_timeout). */
	struct ev_timer *stall;
	uint64_t output_timeout_ms;
	/* An IDLE command is running (RFC 2177): the idle timer then does
	 * not log out (IDLE counts as activity) but sends "* OK Still
	 * here", so a dead peer shows as a failed or stuck write. */
	bool idling;
	/* Ticks since the last command ended or IDLE pushed a change: a
	 * session quiet for CLIENT_QUIET_TICKS (CLIENT_IDLE_QUIET_TICKS
	 * in IDLE) releases its index environment. */
	unsigned quiet_ticks;

	struct buf *in;           /* read, not yet given to the reader */
	struct buf *out;          /* responses not yet written */
	size_t in_peak, out_peak; /* high-water marks, for shrinking */
	/* COMPRESS=DEFLATE (RFC 4978) once active: `in` and `out` stay
	 * plaintext; zin holds the client's deflated bytes not yet
	 * inflated, zout our deflated bytes not yet sent. */
	struct compress *z;
	bool z_start;             /* begin after the tagged OK is queued */
	struct buf *zin, *zout;
	size_t zout_peak;
	struct imap_reader *reader;
	struct pool *cmd_pool;    /* cleared after every command */
	/* The command being run, until its tagged reply is queued; no
	 * other command starts before (pipelined ones wait in order). */
	struct client_command *cmd;
	struct client_stream stream;

	char *user;
	char *home;
	char *mail;               /* mail location, "~" expanded */
	char *index_dir;          /* index directory, "~" expanded */
	bool index_in_home;       /* its parents are ours to create */
	bool fsync;
	bool no_fts;               /* search_fts = no */
	uint64_t max_message_size;
	/* APPENDLIMIT (RFC 7889): the smaller of max_message_size and
	 * max_literal, since a message arrives as one literal. */
	uint64_t append_limit;

	/* The store, once a command needed it (client_store). */
	struct store *store;
	struct ev_timer *tick;    /* store_tick once a second */

	/* The selected mailbox (RFC 9051 §6.4 selected state) or NULL. */
	struct mailbox *mailbox;
	char *mailbox_name;       /* canonical UTF-8 name */
	bool readonly;            /* EXAMINE, or selected read-only */
	/* What the client was told about it (EXISTS, RECENT), so that
	 * untagged updates send only changes (imap-sync.c). */
	uint32_t known_exists, known_recent;
	size_t known_n_keywords;
	/* SEARCHRES "$" (RFC 5182): the UIDs of the last SEARCH ... SAVE,
	 * ascending (malloc'd); emptied when the mailbox is closed, so a
	 * SELECT or EXAMINE starts with the empty set (§2.1). */
	uint32_t *search_saved;
	size_t n_search_saved;
	/* Text-key decisions of SEARCH, SORT and THREAD: by the full-text
	 * index alone, and by reading the message (logged at close). */
	uint64_t search_index_msgs, search_read_msgs;

	/* UTF8=ACCEPT enabled (RFC 6855): names are UTF-8 on the wire.
	 * Not advertised yet, so never set. */
	bool utf8;
	/* Send "OK [CLOSED]" when SELECT replaces a mailbox: RFC 9051
	 * §6.3.2 (IMAP4rev2) and RFC 7162 §3.2.11 (CONDSTORE/QRESYNC)
	 * demand it; RFC 7162 §3.2.11 even from a server that merely
	 * advertises CONDSTORE, so it is always set (client_new). */
	bool send_closed;
	/* RFC 7162 (imap-condstore.h): a CONDSTORE-enabling command was
	 * seen (MODSEQ in every untagged FETCH from then on); ENABLE
	 * QRESYNC was answered (VANISHED instead of EXPUNGE, UID in every
	 * untagged FETCH). qresync implies condstore. */
	bool condstore, qresync;

	/* Change notification while a mailbox is selected
	 * (imap-notify.c). */
	struct imap_notify *notify;
	/* (idling, above: set by cmd-idle.c while the command waits for
	 * DONE and changes are pushed as they happen.) */
	bool idle_push;           /* a change was seen: sync and write */
	struct imap_sync idle_sync;  /* updates being written in IDLE */

	uint64_t bytes_in, bytes_out;

	/* No more commands: flush the output, then close. */
	bool closing;
	/* The client sent EOF: the commands it sent before still run, in
	 * order; closing follows once no complete one is left. */
	bool input_eof;
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
/* Closes the connection if still open (reason "Disconnected"), ends a
 * running command, closes the mailbox and the store, and frees.
 * NULL-safe; sets *c to NULL. */
void client_free(struct client **c);

/* A server-side end of the session (moatd gone, SIGTERM): sends
 * "* BYE <text>" as far as the socket takes it without blocking, logs
 * reason and closes. */
void client_shutdown(struct client *c, const char *bye_text,
		     const char *reason);
/* Tests only: shorten the idle timeout, the output timeout. */
void client_set_idle_timeout(struct client *c, uint64_t ms);
void client_set_output_timeout(struct client *c, uint64_t ms);

/* The capability list after login (RFC 9051 §7.2.2), without a
 * "CAPABILITY" prefix; static storage, valid until the next call. */
const char *client_capabilities(const struct client *c);

/* Response helpers for command handlers. Each appends one line and its
 * CRLF to the output; a line that does not fit IMAP_OUTPUT_MAX marks the
 * client for disconnection (out_overflow), so handlers need not check.
 * The tagged reply goes through imap_reply_*() (imap-commands.h). */
void client_send_line(struct client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "<tag> <text>" or "* <text>" when tag is NULL. */
void client_send_tagline(struct client *c, const char *tag,
			 const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Call after writing to c->out directly (e.g. imap_id_write_reply):
 * a failed append there means overflow. */
void client_out_check(struct client *c, int append_result);
/* True once enough output waits that a long command should stop and
 * let the client catch up (IMAP_OUTPUT_PAUSE); it is called again when
 * the output drained. */
bool client_output_full(const struct client *c);
/* Queues len bytes of fd from off as the next bytes of the output (the
 * body of a literal whose "{len}\r\n" was just written). fd stays the
 * caller's and must stay open until the command's next resume or its
 * cleanup. The client copies it in chunks as the output drains; if the
 * file ends early the client is disconnected (the length was promised). */
void client_stream_fd(struct client *c, int fd, off_t off, uint64_t len);
/* COMPRESS: true once DEFLATE is on (or about to be). enable prepares
 * the streams and turns them on right after the current command's tagged
 * reply; -1 if zlib cannot allocate (nothing changes). */
bool client_compressing(const struct client *c);
int client_compress_enable(struct client *c);
/* End the session after what is queued has been written (LOGOUT, BYE):
 * no further commands are read. reason is logged with the byte counts. */
void client_close_after_output(struct client *c, const char *reason);

/* The user's store, opened (and its default folders made) on the first
 * call; NULL if it cannot be opened: the error is logged and the
 * command answered (NO [UNAVAILABLE] or the store's code). */
struct store *client_store(struct client_command *cmd);
/* The selected mailbox may have changed (imap-notify.c): in IDLE, sync
 * and send the updates now. */
void client_wake(struct client *c);
/* Closes the selected mailbox, if any (CLOSE, UNSELECT, SELECT). */
void client_mailbox_close(struct client *c);

#endif
