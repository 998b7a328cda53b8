/*
 * client: the I/O and command loop of one authenticated session.
 * Callers: session.c (one client per process) and the tests, which run
 * it on a socketpair. Everything read from the socket is untrusted
 * client input; the session_info it starts from was validated by
 * session.c (moatd's message) or built by a test.
 *
 * Flow: read(2) into a small stack chunk, append to `in`, let the reader
 * frame commands out of it, parse each into the per-command pool and
 * execute it. A command runs until it has queued its tagged reply, in
 * pieces when its output is large: once IMAP_OUTPUT_PAUSE bytes wait for
 * the client the command is paused (cmd->resume, or a literal streamed
 * from a message file) and continued when the socket has taken them, so
 * FETCH 1:* of 100,000 messages or the body of a 50 MB message never
 * waits in memory whole. Only then is the pool cleared and the next
 * command framed: pipelined commands are answered in order. A client
 * that pipelines without reading is held back by TCP, not by our memory.
 *
 * The store is opened on the first command that needs it and closed
 * with the client; store_tick runs once a second while it is open.
 *
 * COMPRESS=DEFLATE (RFC 4978) sits between the buffers and the socket:
 * commands still read plaintext from `in` and write plaintext to `out`;
 * client_flush deflates `out` into `zout` (ending each burst of output
 * with one sync flush, not one per line) and sends that, client_read
 * fills `zin` and client_process inflates it into `in` a chunk at a
 * time, only when the reader wants more. The pause mark counts both
 * output buffers, so compression keeps the same bound. A client that
 * takes none of what waits for output_timeout is dropped (`stall`).
 */
#include <errno.h>
#include <malloc.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/str.h"
#include "imap/client.h"
#include "imap/compress.h"
#include "imap/imap-commands.h"
#include "imap/imap-notify.h"
#include "imap/imap-settings.h"
#include "imap/parser.h"
#include "imap/session.h"
#include "storage/store.h"

/* Bytes copied from a message file into the output per step. */
#define CLIENT_STREAM_CHUNK (64u * 1024u)
/* What one tick indexes at most (mailbox_fts_fill): a command that
 * arrives meanwhile waits for the slice, so it is small (the bound
 * covers collecting the texts, not writing them: 64 messages or 200 ms
 * took 450-650 ms with 10 users indexing and held up their commands in
 * the paced benchmark). A next slice 20 ms later instead of a second
 * was tried: the background work then held up the sessions' commands
 * (paced p99 209 ms against 11), and test_crash's bystanders hung in
 * 3 of 7 runs (none in 12 runs with a tick a second). */
#define CLIENT_FTS_TICK_MSGS 8
#define CLIENT_FTS_TICK_MS 20
/* store_tick interval (store.h: about once a second). */
#define CLIENT_TICK_MS 1000u
/* A selected session with no command for this many ticks closes its
 * index environment until the next command (clients that keep extra
 * connections open without IDLE); attaching again costs a few ms. */
#define CLIENT_QUIET_TICKS 10u
/* In IDLE, at the first tick with no change since the one before (a
 * burst of deliveries keeps it attached; a waiting session lets go
 * within 1 s). */
#define CLIENT_IDLE_QUIET_TICKS 1u

static void client_process(struct client *c);
static void client_command_end(struct client *c);

static void
client_close(struct client *c, const char *reason)
{
	struct compress_stats st;

	if (c->closed)
		return;
	/* What SEARCH's text keys cost this session: messages the
	 * full-text index decided, and messages read (tests check it). */
	if (c->search_index_msgs != 0 || c->search_read_msgs != 0)
		log_info("search: index=%" PRIu64 " read=%" PRIu64,
			 c->search_index_msgs, c->search_read_msgs);
	if (c->z != NULL) {
		/* The deflate figures: plaintext and wire bytes, and how
		 * many sync flushes it took (one per burst, not per line). */
		compress_get_stats(c->z, &st);
		log_info("%s in=%" PRIu64 " out=%" PRIu64 " deflate: in=%"
			 PRIu64 " out=%" PRIu64 "/%" PRIu64 " flushes=%"
			 PRIu64, reason, c->bytes_in, c->bytes_out,
			 st.plain_in, st.plain_out, st.wire_out, st.flushes);
	} else {
		log_info("%s in=%" PRIu64 " out=%" PRIu64, reason,
			 c->bytes_in, c->bytes_out);
	}
	ev_io_del(&c->io);
	ev_timer_del(&c->idle);
	ev_timer_del(&c->stall);
	ev_timer_del(&c->tick);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->closing = true;
	c->closed = true;
	ev_stop(c->ev);
}

/* A buffer that grew large for one command is replaced by a fresh small
 * one once empty: an idle session should not keep its largest response
 * resident. */
static void
buf_maybe_shrink(struct buf **b, size_t *peak)
{
	size_t max;

	if (buf_len(*b) != 0 || *peak <= IMAP_BUF_SHRINK)
		return;
	max = buf_max(*b);
	buf_free(b);
	*b = buf_new(max);
	*peak = 0;
}

/* Output bytes waiting for the client: plaintext and, with COMPRESS,
 * deflated. */
static size_t
client_out_pending(const struct client *c)
{
	return buf_len(c->out) + (c->zout != NULL ? buf_len(c->zout) : 0);
}

/* Writes what the socket takes now. Returns -1 if the client was closed
 * (write error, or a closing session whose output is all sent). */
static int
client_flush(struct client *c)
{
	bool progress = false;
	struct buf *wire;
	ssize_t n;
	char why[128];

	if (c->closed)
		return -1;
	if (buf_len(c->out) > c->out_peak)
		c->out_peak = buf_len(c->out);
	for (;;) {
		wire = c->out;
		if (c->z != NULL) {
			/* Deflate only as much as may wait: zout never
			 * holds more than about the pause mark. */
			if (compress_out(c->z, c->out, c->zout,
					 IMAP_OUTPUT_PAUSE) < 0) {
				log_error("Deflating the output failed");
				client_close(c, "Disconnected: compression "
					     "failed");
				return -1;
			}
			wire = c->zout;
			if (buf_len(wire) > c->zout_peak)
				c->zout_peak = buf_len(wire);
		}
		if (buf_len(wire) == 0)
			break;
		n = send(c->fd, buf_data(wire), buf_len(wire),
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			snprintf(why, sizeof(why), "Disconnected: %s",
				 strerror(errno));
			client_close(c, why);
			return -1;
		}
		buf_consume(wire, (size_t)n);
		c->bytes_out += (uint64_t)n;
		progress = true;
	}
	/* A client that is slowly downloading a large response is not
	 * idle, nor stuck. */
	if (progress && c->idle != NULL)
		ev_timer_reset(c->idle, c->idle_ms);
	if (progress && c->stall != NULL)
		ev_timer_reset(c->stall, c->output_timeout_ms);
	buf_maybe_shrink(&c->out, &c->out_peak);
	if (c->zout != NULL)
		buf_maybe_shrink(&c->zout, &c->zout_peak);
	/* A command still running (its output paused) finishes first. */
	if (c->closing && client_out_pending(c) == 0 && c->cmd == NULL) {
		client_close(c, c->close_reason != NULL ? c->close_reason :
			     "Disconnected");
		return -1;
	}
	return 0;
}

static bool
client_wants_read(const struct client *c)
{
	return !c->closing && !c->input_eof &&
		client_out_pending(c) < IMAP_OUTPUT_PAUSE &&
		buf_avail(c->zin != NULL ? c->zin : c->in) > 0;
}

static void
client_stall_cb(struct ev_timer *t, void *ctx)
{
	struct client *c = ctx;

	(void)t;
	/* Nothing more can reach it: no BYE, just the close. */
	log_info("No output taken for %" PRIu64 " ms with %zu bytes "
		 "waiting", c->output_timeout_ms, client_out_pending(c));
	client_close(c, "Disconnected: client stopped reading");
}

static void
client_update_io(struct client *c)
{
	unsigned int want = 0;

	if (c->closed)
		return;
	if (client_wants_read(c))
		want |= EV_READ;
	if (client_out_pending(c) > 0) {
		want |= EV_WRITE;
		if (c->stall == NULL)
			c->stall = ev_timer_add(c->ev, c->output_timeout_ms,
						client_stall_cb, c);
	} else {
		ev_timer_del(&c->stall);
	}
	ev_io_set(c->io, want);
}

static void client_vsend(struct client *c, const char *prefix,
			 const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void
client_vsend(struct client *c, const char *prefix, const char *fmt,
	     va_list ap)
{
	size_t mark;

	if (c->out_overflow || c->closed)
		return;
	/* All or nothing: a line cut in half must never reach the client,
	 * and overflow disconnects anyway. */
	mark = buf_len(c->out);
	if ((prefix != NULL && (buf_append_str(c->out, prefix) < 0 ||
				buf_append_byte(c->out, ' ') < 0)) ||
	    buf_vprintf(c->out, fmt, ap) < 0 ||
	    buf_append(c->out, "\r\n", 2) < 0) {
		buf_truncate(c->out, mark);
		c->out_overflow = true;
	}
}

void
client_send_line(struct client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	client_vsend(c, NULL, fmt, ap);
	va_end(ap);
}

void
client_send_tagline(struct client *c, const char *tag, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	client_vsend(c, tag != NULL ? tag : "*", fmt, ap);
	va_end(ap);
}

void
client_out_check(struct client *c, int append_result)
{
	if (append_result < 0)
		c->out_overflow = true;
}

void
client_close_after_output(struct client *c, const char *reason)
{
	c->closing = true;
	c->close_reason = reason;
}

void
client_shutdown(struct client *c, const char *bye_text, const char *reason)
{
	if (c->closed)
		return;
	/* In the middle of a literal a BYE would become message text: the
	 * client gets the close alone. */
	if (c->stream.left == 0)
		client_send_line(c, "* BYE %s", bye_text);
	client_close_after_output(c, reason);
	c->stream.left = 0;
	c->stream.fd = -1;
	client_command_end(c);
	/* One attempt without blocking: a server going away does not wait
	 * for a slow client. */
	if (client_flush(c) == 0)
		client_close(c, reason);
}

void
client_set_idle_timeout(struct client *c, uint64_t ms)
{
	c->idle_ms = ms;
	if (c->idle != NULL)
		ev_timer_reset(c->idle, ms);
}

void
client_set_output_timeout(struct client *c, uint64_t ms)
{
	c->output_timeout_ms = ms;
	if (c->stall != NULL)
		ev_timer_reset(c->stall, ms);
}

/* --- COMPRESS ---------------------------------------------------------- */

bool
client_compressing(const struct client *c)
{
	return c->z != NULL;
}

int
client_compress_enable(struct client *c)
{
	if (c->z != NULL)
		return -1;
	c->z = compress_new();
	if (c->z == NULL) {
		log_error("Cannot allocate the DEFLATE streams");
		return -1;
	}
	c->z_start = true;
	return 0;
}

/* Right after the CRLF of COMPRESS's tagged OK (RFC 4978 §3): what is
 * queued so far goes out as it is, everything later deflated; what the
 * client sent after its COMPRESS line is already deflated. */
static void
client_compress_begin(struct client *c)
{
	c->z_start = false;
	c->zout = buf_new(IMAP_OUTPUT_MAX);
	c->zin = buf_new(IMAP_INPUT_MAX);
	/* Both fit: out holds less than the maximum of zout, in exactly
	 * what zin may hold. */
	if (buf_append(c->zout, buf_data(c->out), buf_len(c->out)) < 0 ||
	    buf_append(c->zin, buf_data(c->in), buf_len(c->in)) < 0)
		log_panic("COMPRESS: pending bytes larger than the buffers");
	buf_reset(c->out);
	buf_reset(c->in);
}

/* Inflates the next chunk of the client's input into `in` (the reader
 * has used all of it). Returns true if there is new input to read. A
 * stream we cannot decode ends the session. */
static bool
client_inflate(struct client *c)
{
	struct buf *in = c->in;
	ssize_t n;

	if (c->z == NULL)
		return false;
	/* One read's worth at a time, as from the socket: `in` stays as
	 * small as without COMPRESS, and a deflate bomb is inflated only
	 * as fast as the reader consumes it (its limits apply to the
	 * inflated bytes). */
	n = compress_in(c->z, c->zin, in, IMAP_READ_CHUNK);
	if (n < 0) {
		log_info("Invalid compressed input");
		client_send_line(c, "* BYE Invalid compressed data.");
		client_close_after_output(c, "Disconnected: invalid "
					  "compressed input");
		return false;
	}
	if (buf_len(in) > c->in_peak)
		c->in_peak = buf_len(in);
	return n > 0;
}

/* --- running commands ------------------------------------------------ */

bool
client_output_full(const struct client *c)
{
	return client_out_pending(c) >= IMAP_OUTPUT_PAUSE;
}

void
client_stream_fd(struct client *c, int fd, off_t off, uint64_t len)
{
	if (c->stream.fd >= 0 && c->stream.left > 0)
		log_panic("a second literal streamed before the first ended");
	c->stream.fd = fd;
	c->stream.off = off;
	c->stream.left = len;
	if (len == 0)
		c->stream.fd = -1;
}

/* Copies the next chunk of the streamed literal into the output. A file
 * that ends early (changed under us by another program) cannot be
 * padded into a message the client would keep: we promised the length,
 * so the connection has to go, and the client will fetch again. */
static void
client_stream_step(struct client *c)
{
	size_t want = CLIENT_STREAM_CHUNK;
	uint8_t *p;
	ssize_t n;

	if (want > c->stream.left)
		want = (size_t)c->stream.left;
	p = buf_reserve(c->out, want);
	if (p == NULL) {
		c->out_overflow = true;
		return;
	}
	do {
		n = pread(c->stream.fd, p, want, c->stream.off);
	} while (n < 0 && errno == EINTR);
	if (n <= 0) {
		if (n < 0)
			log_error("Reading a message: %m");
		else
			log_error("A message got shorter while it was sent "
				  "(%" PRIu64 " bytes missing)",
				  c->stream.left);
		c->stream.fd = -1;
		c->stream.left = 0;
		client_close_after_output(c, "Disconnected: message changed "
					  "while it was sent");
		c->out_overflow = true;
		return;
	}
	buf_commit(c->out, (size_t)n);
	c->stream.off += n;
	c->stream.left -= (uint64_t)n;
	if (c->stream.left == 0)
		c->stream.fd = -1;
}

/* The command is over (answered, or the session is closing under it). */
static void
client_command_end(struct client *c)
{
	struct client_command *cmd = c->cmd;

	if (cmd == NULL)
		return;
	imap_idle_end(c);
	if (cmd->cleanup != NULL)
		cmd->cleanup(cmd);
	c->stream.fd = -1;
	c->stream.left = 0;
	c->cmd = NULL;
	c->quiet_ticks = 0;
	pool_clear(c->cmd_pool);
}

/* Runs the current command as far as the output allows. Returns true
 * once its tagged reply is queued. */
static bool
client_command_step(struct client *c)
{
	struct client_command *cmd = c->cmd;
	imap_command_func *resume;

	for (;;) {
		if (c->closed || c->out_overflow || client_output_full(c))
			return false;
		if (c->stream.left > 0) {
			client_stream_step(c);
			continue;
		}
		if (cmd->reply == NULL) {
			resume = cmd->resume;
			if (resume == NULL)
				log_panic("command %s neither answered nor "
					  "continues", cmd->name);
			cmd->resume = NULL;
			resume(cmd);
			continue;
		}
		if (cmd->sync && !cmd->sync_begun) {
			cmd->sync_begun = true;
			/* QUICK: after our own STORE a command need not read
			 * a big Maildir again (IDLE's syncs do not wait) */
			imap_sync_begin(c, &cmd->sync_state,
					cmd->sync_flags | MAILBOX_SYNC_QUICK);
		}
		if (cmd->sync && !imap_sync_write(c, &cmd->sync_state))
			return false;
		client_send_tagline(c, cmd->tag, "%s", cmd->reply);
		if (c->z_start)
			client_compress_begin(c);
		return true;
	}
}

static void
client_run_command(struct client *c)
{
	struct imap_command pc;
	struct client_command *cmd;
	const uint8_t *data;
	const char *error = NULL;
	size_t len;

	data = imap_reader_command(c->reader, &len);
	memset(&pc, 0, sizeof(pc));
	if (imap_parse_command(c->cmd_pool, data, len, &pc, &error) < 0) {
		client_send_tagline(c, pc.tag, "BAD %s",
				    error != NULL ? error : "Syntax error.");
		return;
	}
	if (pc.tag == NULL) {
		client_send_tagline(c, NULL, "BAD Missing tag.");
		return;
	}
	if (pc.name == NULL) {
		client_send_tagline(c, pc.tag, "BAD Missing command.");
		return;
	}
	cmd = pool_alloc(c->cmd_pool, sizeof(*cmd));
	cmd->client = c;
	cmd->pool = c->cmd_pool;
	cmd->tag = pc.tag;
	cmd->name = pc.name;
	cmd->args = pc.args;
	cmd->n_args = pc.n_args;
	c->cmd = cmd;
	imap_command_execute(cmd);
}

static void
client_reader_result(struct client *c, enum imap_reader_result r)
{
	const char *tag;

	switch (r) {
	case IMAP_RD_MORE:
		break;
	case IMAP_RD_COMMAND:
		client_run_command(c);
		if (c->cmd == NULL)
			pool_clear(c->cmd_pool);
		break;
	case IMAP_RD_CONTINUE:
		/* RFC 9051 §7.5: the client may send the literal now. */
		client_send_line(c, "+ OK");
		break;
	case IMAP_RD_LINE_TOO_LONG:
		/* Answered once the limit is passed, not at the CRLF, and
		 * final (imap/reader.h): reading on to the CRLF would let
		 * the client stream without end. */
		tag = imap_reader_tag(c->reader);
		client_send_tagline(c, tag, "BAD [TOOBIG] Line too long.");
		client_send_line(c, "* BYE [TOOBIG] Line too long.");
		client_close_after_output(c, "Disconnected: line too long");
		break;
	case IMAP_RD_LITERAL_TOO_BIG:
		tag = imap_reader_tag(c->reader);
		client_send_tagline(c, tag, "BAD [TOOBIG] Literal too big.");
		break;
	case IMAP_RD_FATAL_TOO_BIG:
		/* RFC 7888 §4: a non-synchronizing literal we will not take
		 * cannot be skipped safely; end the session. */
		client_send_line(c, "* BYE [TOOBIG] Literal too big.");
		client_close_after_output(c, "Disconnected: literal too big");
		break;
	}
}

/* Runs the current command and then what is in `in`, until input is
 * used up, the session closes, or enough output waits that we should
 * let the client catch up. */
static void
client_process(struct client *c)
{
	enum imap_reader_result r;

	for (;;) {
		if (c->cmd != NULL && c->idling) {
			imap_idle_step(c);
			if (c->closing && c->idling) {
				/* EOF, or BYE during IDLE (mailbox gone):
				 * no tagged answer follows. */
				client_command_end(c);
				break;
			}
			if (c->closed || c->out_overflow)
				break;
			/* Under COMPRESS, DONE may still wait in zin. */
			if (c->idling && !client_inflate(c))
				break;
			continue;
		}
		if (c->cmd != NULL) {
			if (!client_command_step(c)) {
				if (c->closed || c->out_overflow)
					break;
				if (client_flush(c) < 0)
					return;
				/* The socket took it all: no event would
				 * wake a paused command, so go on now. */
				if (!client_output_full(c))
					continue;
				break;
			}
			client_command_end(c);
			continue;
		}
		if (c->closing || client_output_full(c))
			break;
		r = imap_reader_step(c->reader, c->in);
		if (r == IMAP_RD_MORE) {
			if (client_inflate(c))
				continue;
			if (c->closing)
				break;
			if (c->input_eof)
				client_close_after_output(c, "Disconnected");
			break;
		}
		client_reader_result(c, r);
		if (c->out_overflow)
			break;
	}
	if (c->closed)
		return;
	if (c->out_overflow) {
		client_close(c, c->close_reason != NULL ? c->close_reason :
			     "Disconnected: output buffer full");
		return;
	}
	if (buf_len(c->in) == 0 && c->in_peak > 0)
		buf_maybe_shrink(&c->in, &c->in_peak);
	if (client_flush(c) < 0)
		return;
	client_update_io(c);
}

static void
client_read(struct client *c)
{
	uint8_t chunk[IMAP_READ_CHUNK];
	/* With COMPRESS, the socket's bytes are deflated. */
	struct buf *in = c->zin != NULL ? c->zin : c->in;
	size_t want = buf_avail(in);
	ssize_t n;
	char why[128];

	if (want > sizeof(chunk))
		want = sizeof(chunk);
	n = read(c->fd, chunk, want);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		snprintf(why, sizeof(why), "Disconnected: %s",
			 strerror(errno));
		client_close(c, why);
		return;
	}
	if (n == 0) {
		/* The client may have half-closed: the commands it sent
		 * are answered in order (a command under way first), then
		 * the session closes (client_process). */
		c->input_eof = true;
		client_process(c);
		return;
	}
	c->bytes_in += (uint64_t)n;
	if (buf_append(in, chunk, (size_t)n) < 0)
		log_panic("imap input buffer overrun (%zd bytes)", n);
	if (in == c->in && buf_len(in) > c->in_peak)
		c->in_peak = buf_len(in);
	ev_timer_reset(c->idle, c->idle_ms);
	client_process(c);
}

static void
client_io_cb(struct ev_io *io, int fd, unsigned int events, void *ctx)
{
	struct client *c = ctx;
	uint64_t moved = c->bytes_in + c->bytes_out;

	(void)io;
	(void)fd;
	if ((events & (EV_WRITE | EV_ERROR)) != 0 && client_out_pending(c) > 0) {
		if (client_flush(c) < 0)
			return;
		/* Output drained below the pause mark: continue the
		 * command, then run what waits. */
		if (!client_output_full(c)) {
			client_process(c);
			if (c->closed)
				return;
		}
	}
	if ((events & (EV_READ | EV_ERROR)) != 0 && client_wants_read(c)) {
		client_read(c);
		if (c->closed)
			return;
	}
	/* EPOLLHUP/ERR is reported whatever the interest set: if it moved
	 * nothing, it would be reported again forever. */
	if ((events & EV_ERROR) != 0 && moved == c->bytes_in + c->bytes_out) {
		client_close(c, "Disconnected: connection error");
		return;
	}
	client_update_io(c);
}

static void
client_idle_cb(struct ev_timer *t, void *ctx)
{
	struct client *c = ctx;

	(void)t;
	/* RFC 2177 lets a server log out an idling client, RFC 9051 §5.4
	 * asks for 30 minutes at least; we count IDLE as activity and
	 * only check the peer is there (a dead one makes the write fail
	 * or stall: client_stall_cb). */
	if (c->idling) {
		client_send_line(c, "* OK Still here");
		ev_timer_reset(c->idle, c->idle_ms);
		if (client_flush(c) == 0)
			client_update_io(c);
		return;
	}
	client_shutdown(c, "Disconnected for inactivity.",
			"Disconnected for inactivity");
}

/* --- the store --------------------------------------------------------- */

static void
client_tick_cb(struct ev_timer *t, void *ctx)
{
	struct client *c = ctx;

	bool more = false;

	if (c->store != NULL)
		store_tick(c->store);
	/* Mail that arrived without indexing (another MDA, a mailbox
	 * first seen) is indexed in small steps while the session waits
	 * for its client; a no-op once all of it is. Never under a
	 * running command (it may hold the store's FETCH window), but
	 * IDLE is waiting too. */
	if (c->mailbox != NULL && (c->cmd == NULL || c->idling) &&
	    mailbox_fts_fill(c->mailbox, CLIENT_FTS_TICK_MSGS,
			     CLIENT_FTS_TICK_MS, &more) < 0)
		more = false;	/* a failed fill is tried again a tick later */
	/* An idling session may wait for hours: its index environment
	 * need not stay mapped meanwhile (the next sync opens it); nor
	 * that of a session without a command for a while. */
	if (c->cmd == NULL || c->idling) {
		unsigned need = c->idling ? CLIENT_IDLE_QUIET_TICKS :
				CLIENT_QUIET_TICKS;

		if (c->quiet_ticks < need)
			c->quiet_ticks++;
		if (c->store != NULL && !more && c->quiet_ticks >= need &&
		    store_release_index(c->store))
			malloc_trim(0);
	}
	ev_timer_reset(t, CLIENT_TICK_MS);
}

struct store *
client_store(struct client_command *cmd)
{
	struct client *c = cmd->client;
	struct store_settings set;
	struct store_error err;

	if (c->store != NULL)
		return c->store;
	memset(&set, 0, sizeof(set));
	set.location = c->mail;
	set.index_dir = c->index_dir;
	set.user = c->user;
	set.fsync = c->fsync;
	set.no_fts = c->no_fts;
	set.max_message_size = c->append_limit;
	memset(&err, 0, sizeof(err));
	if (c->index_in_home)
		store_index_parents(c->index_dir, c->home);
	if (store_open(&set, &c->store, &err) < 0) {
		c->store = NULL;
		log_error("Opening the mail store %s (index %s): %s", c->mail,
			  c->index_dir, err.detail);
		if (err.code == STORE_ERR_SERVERBUG)
			err.code = STORE_ERR_TEMP;
		err.detail[0] = '\0';
		imap_reply_store_error(cmd, &err, "opening the store");
		return NULL;
	}
	if (store_ensure_defaults(c->store) < 0)
		log_error("Creating the default mailboxes: %s",
			  store_error(c->store)->detail);
	c->tick = ev_timer_add(c->ev, CLIENT_TICK_MS, client_tick_cb, c);
	return c->store;
}

void
client_wake(struct client *c)
{
	if (c->closed || !c->idling)
		return;
	c->idle_push = true;
	client_process(c);
}

void
client_mailbox_close(struct client *c)
{
	if (c->mailbox == NULL)
		return;
	imap_notify_stop(c);
	mailbox_close(&c->mailbox);
	free(c->mailbox_name);
	c->mailbox_name = NULL;
	c->readonly = false;
	c->known_exists = c->known_recent = 0;
	c->known_n_keywords = 0;
	free(c->search_saved);
	c->search_saved = NULL;
	c->n_search_saved = 0;
}

const char *
client_capabilities(const struct client *c)
{
	static char caps[sizeof(IMAP_CAPABILITIES) + 32];

	snprintf(caps, sizeof(caps), "%s APPENDLIMIT=%" PRIu64,
		 IMAP_CAPABILITIES, c->append_limit);
	return caps;
}

/* --- life ---------------------------------------------------------------- */

struct client *
client_new(struct ev *ev, const struct session_info *si)
{
	struct imap_reader_limits lim = {
		.max_line = si->max_line,
		.max_literal = si->max_literal,
		.max_command = si->max_literal +
			IMAP_MAX_COMMAND_LINES * si->max_line,
		.literal_minus = false,
	};
	struct client *c = xcalloc(1, sizeof(*c));

	c->ev = ev;
	c->fd = si->fd;
	c->stream.fd = -1;
	c->send_closed = true;
	c->idle_ms = si->idle_timeout_ms;
	c->output_timeout_ms = si->output_timeout_ms;
	c->in = buf_new(IMAP_INPUT_MAX);
	c->out = buf_new(IMAP_OUTPUT_MAX);
	c->reader = imap_reader_new(&lim);
	c->cmd_pool = pool_new(IMAP_CMD_POOL_BLOCK);
	c->user = xstrdup(si->user);
	c->home = xstrdup(si->home);
	c->mail = session_expand_home(si->mail, si->home);
	if (c->mail == NULL) {
		/* session.c refuses such a SESSION_INIT; only a test can get
		 * here. Keep the location unexpanded rather than guess. */
		log_warn("Mail location too long after expanding ~");
		c->mail = xstrdup(si->mail);
	}
	c->index_in_home = si->index[0] == '~';
	c->index_dir = session_expand_index(si->index, si->home);
	if (c->index_dir == NULL) {
		log_warn("Index location too long after expanding ~");
		c->index_dir = xstrdup(si->index);
		c->index_in_home = false;
	}
	c->fsync = si->fsync;
	c->no_fts = si->no_fts;
	c->max_message_size = si->max_message_size;
	c->append_limit = si->max_message_size < si->max_literal ?
		si->max_message_size : si->max_literal;

	c->io = ev_io_add(ev, c->fd, EV_READ, client_io_cb, c);
	c->idle = ev_timer_add(ev, c->idle_ms, client_idle_cb, c);

	/* doc/design.md: the imap process answers the LOGIN itself, then
	 * runs what the client pipelined behind it. */
	client_send_tagline(c, si->tag, "OK [CAPABILITY %s] Logged in",
			    client_capabilities(c));
	if (si->pipelined_len > 0) {
		c->bytes_in += si->pipelined_len;
		if (buf_append(c->in, si->pipelined, si->pipelined_len) < 0)
			log_panic("pipelined input larger than the input "
				  "buffer (%zu bytes)", si->pipelined_len);
		c->in_peak = buf_len(c->in);
	}
	client_process(c);
	return c;
}

void
client_free(struct client **cp)
{
	struct client *c;

	if (cp == NULL || *cp == NULL)
		return;
	c = *cp;
	client_close(c, "Disconnected");
	client_command_end(c);
	client_mailbox_close(c);
	store_free(&c->store);
	ev_timer_del(&c->tick);
	buf_free(&c->in);
	buf_free(&c->out);
	buf_free(&c->zin);
	buf_free(&c->zout);
	compress_free(&c->z);
	imap_reader_free(&c->reader);
	pool_free(&c->cmd_pool);
	free(c->user);
	free(c->home);
	free(c->mail);
	free(c->index_dir);
	free(c);
	*cp = NULL;
}
