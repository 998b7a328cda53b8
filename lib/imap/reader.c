/*
 * imap reader: frames IMAP commands out of a byte stream (RFC 9051 §2.2,
 * §4.3; RFC 7888). A state machine over the caller's input buffer: it
 * copies one command -- lines and the literal octets they announce --
 * into its own bounded buffer and says when a "+" continuation is due.
 * Callers: imap-login (pre-auth) and imap (post-auth) connection code.
 * Trust: every byte is from the network and hostile. Nothing is buffered
 * past max_line / max_literal / max_command; a line over the limit ends
 * the stream, and a literal count is checked before a single octet of it
 * is accepted.
 *
 * Choices:
 * - A bare LF ends a line like CRLF. RFC 9051 requires CRLF, but some
 *   clients and scripts send LF alone, and accepting it costs nothing:
 *   the parser treats a CR before the LF as part of the line end.
 * - A literal is announced by "{N}", "{N+}", "~{N}" or "~{N+}" at the
 *   very end of a line (RFC 9051 §9, RFC 7888; literal8 from RFC 3516).
 *   "{N-}" or a signed count is no announcement: the line is handed on
 *   as it is and the parser rejects it. Where the literal stands in the
 *   line (after an atom, inside quotes) is the parser's business too.
 * - Limits: a line is the text between literals without its CRLF; the
 *   command total counts everything, CRLFs and literal octets included.
 *   A line that would push the command past max_command is reported as
 *   too long.
 * - A line over the limit is final, reported as soon as its bytes pass
 *   the limit rather than at its CRLF: skipping to the CRLF would let a
 *   client stream without end (and, after a non-synchronizing literal
 *   announcement we never saw, run literal octets as commands). The
 *   caller answers BAD and closes the connection.
 */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"
#include "imap/parser.h"
#include "imap/reader.h"

/* Enough of a line's end to see "~{" 20-digit-count "+}" and more; a
 * count whose digits run past this is taken as too big rather than
 * missed (missing it would run literal octets as commands). */
#define TAIL_MAX 64
/* Counts above this are too big whatever the limits (RFC 9051 number64
 * allows more; no sane client sends a 4 GiB literal). */
#define LITERAL_ABS_MAX 0xffffffffULL
/* A command buffer that grew past this (APPEND) is given back to the
 * allocator when the next command starts. */
#define CMD_KEEP_MAX (64 * 1024)

enum tag_state { TAG_COLLECTING, TAG_ENDED, TAG_BAD };

struct imap_reader {
	struct imap_reader_limits lim;
	struct buf *cmd;        /* the command being collected */

	bool in_literal;        /* collecting literal octets */
	uint64_t lit_left;
	bool done;              /* a result ended the command */
	bool ready;             /* ... and it was COMMAND */
	/* A final result (LINE_TOO_LONG, FATAL_TOO_BIG), returned again by
	 * every later call; IMAP_RD_MORE while the stream is sound. */
	enum imap_reader_result fatal;
	bool started;           /* some byte of the command was seen */

	size_t line_len;        /* raw bytes of the current line, no LF */
	bool first_line;
	uint8_t tail[TAIL_MAX]; /* last bytes of the current line */
	size_t tail_len;

	char tag[IMAP_TAG_MAX + 1];
	size_t tag_len;
	enum tag_state tag_state;

	/* imap_reader_line() */
	struct buf *line;
	bool line_has_data;
};

struct imap_reader *
imap_reader_new(const struct imap_reader_limits *lim)
{
	struct imap_reader *r = xcalloc(1, sizeof(*r));

	r->lim = *lim;
	/* The limits are enforced here, not by the buffer's maximum, so
	 * that set_limits() can change them mid-connection. */
	r->cmd = buf_new(SIZE_MAX);
	r->line = buf_new(SIZE_MAX);
	r->first_line = true;
	return r;
}

void
imap_reader_free(struct imap_reader **rp)
{
	struct imap_reader *r;

	if (rp == NULL || *rp == NULL)
		return;
	r = *rp;
	/* Commands carry passwords (LOGIN) and SASL responses. */
	buf_free_wipe(&r->cmd);
	buf_free_wipe(&r->line);
	explicit_bzero(r, sizeof(*r));
	free(r);
	*rp = NULL;
}

void
imap_reader_set_limits(struct imap_reader *r,
		       const struct imap_reader_limits *lim)
{
	r->lim = *lim;
}

static void
wipe_cmd(struct imap_reader *r)
{
	size_t len = buf_len(r->cmd);

	if (len > CMD_KEEP_MAX) {
		buf_free_wipe(&r->cmd);
		r->cmd = buf_new(SIZE_MAX);
		return;
	}
	explicit_bzero(buf_data_mut(r->cmd), len);
	buf_reset(r->cmd);
}

/* Forget the current command; the next byte starts a new one. */
static void
start_command(struct imap_reader *r)
{
	wipe_cmd(r);
	r->in_literal = false;
	r->lit_left = 0;
	r->done = false;
	r->ready = false;
	r->started = false;
	r->line_len = 0;
	r->first_line = true;
	r->tail_len = 0;
	r->tag_len = 0;
	r->tag[0] = '\0';
	r->tag_state = TAG_COLLECTING;
}

void
imap_reader_reset(struct imap_reader *r)
{
	start_command(r);
	r->fatal = IMAP_RD_MORE;
	buf_wipe(r->line);
	r->line_has_data = false;
}

bool
imap_reader_busy(const struct imap_reader *r)
{
	return r->started && !r->done && r->fatal == IMAP_RD_MORE;
}

const uint8_t *
imap_reader_command(const struct imap_reader *r, size_t *len)
{
	if (!r->ready) {
		*len = 0;
		return NULL;
	}
	*len = buf_len(r->cmd);
	return buf_data(r->cmd);
}

const char *
imap_reader_tag(const struct imap_reader *r)
{
	/* Only a whole first token: a prefix of a longer one is no tag. */
	if (r->tag_state != TAG_ENDED || r->tag_len == 0)
		return NULL;
	if (!imap_tag_valid(r->tag, r->tag_len))
		return NULL;
	return r->tag;
}

/* The first token of the command's first line, whether or not the line
 * is buffered (a skipped line still yields its tag). */
static void
tag_feed(struct imap_reader *r, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n && r->tag_state == TAG_COLLECTING; i++) {
		if (p[i] == ' ' || p[i] == '\r') {
			r->tag_state = TAG_ENDED;
		} else if (r->tag_len >= IMAP_TAG_MAX) {
			r->tag_state = TAG_BAD;
		} else {
			r->tag[r->tag_len++] = (char)p[i];
			r->tag[r->tag_len] = '\0';
		}
	}
}

static void
tail_feed(struct imap_reader *r, const uint8_t *p, size_t n)
{
	if (n >= TAIL_MAX) {
		memcpy(r->tail, p + n - TAIL_MAX, TAIL_MAX);
		r->tail_len = TAIL_MAX;
		return;
	}
	if (r->tail_len + n > TAIL_MAX) {
		size_t drop = r->tail_len + n - TAIL_MAX;

		memmove(r->tail, r->tail + drop, r->tail_len - drop);
		r->tail_len -= drop;
	}
	memcpy(r->tail + r->tail_len, p, n);
	r->tail_len += n;
}

enum lit_kind { LIT_NONE, LIT_SYNC, LIT_NONSYNC };

/* Looks for a literal announcement at the end of the finished line held
 * in the tail window (CR already removed). *n is the count, or
 * UINT64_MAX when it is out of any range. */
static enum lit_kind
tail_literal(const struct imap_reader *r, size_t line_len, uint64_t *n)
{
	const uint8_t *t = r->tail;
	size_t i = r->tail_len, digits_end, k;
	bool nonsync = false;
	uint64_t v = 0;

	if (i == 0 || t[i - 1] != '}')
		return LIT_NONE;
	i--;
	if (i > 0 && t[i - 1] == '+') {
		nonsync = true;
		i--;
	}
	digits_end = i;
	while (i > 0 && t[i - 1] >= '0' && t[i - 1] <= '9')
		i--;
	if (i == 0 && line_len > r->tail_len && digits_end > 0) {
		/* Digits run off the window: a count this long (leading
		 * zeros or not) is refused, never ignored. */
		*n = UINT64_MAX;
		return nonsync ? LIT_NONSYNC : LIT_SYNC;
	}
	if (i == digits_end || i == 0 || t[i - 1] != '{')
		return LIT_NONE;
	for (k = i; k < digits_end; k++) {
		v = v * 10 + (uint64_t)(t[k] - '0');
		if (v > LITERAL_ABS_MAX) {
			v = UINT64_MAX;
			break;
		}
	}
	*n = v;
	return nonsync ? LIT_NONSYNC : LIT_SYNC;
}

/* A literal of n octets may be accepted into the command buffer now. */
static bool
literal_fits(const struct imap_reader *r, uint64_t n, bool nonsync)
{
	size_t used = buf_len(r->cmd);

	if (n > LITERAL_ABS_MAX || n > r->lim.max_literal)
		return false;
	if (nonsync && r->lim.literal_minus && n > IMAP_LITERAL_MINUS_MAX)
		return false;
	/* The octets and at least the final CRLF must fit. */
	if (used > r->lim.max_command || r->lim.max_command - used < 2 ||
	    n > r->lim.max_command - used - 2)
		return false;
	return true;
}

/* Whether chunk more bytes fit in a line of which len are there. The
 * limit is max_line + 1 raw bytes: a CR before the LF is not content,
 * and the final length is checked again at the LF. */
static bool
line_room(const struct imap_reader *r, size_t len, size_t chunk)
{
	size_t lim = r->lim.max_line < SIZE_MAX ? r->lim.max_line + 1 :
		SIZE_MAX;

	return len <= lim && chunk <= lim - len;
}

/* Whether chunk line bytes and the line's LF fit in the command. */
static bool
cmd_room(const struct imap_reader *r, size_t chunk)
{
	size_t used = buf_len(r->cmd);

	return used < r->lim.max_command &&
	       chunk < r->lim.max_command - used;
}

/* Line over the limit: the stream is given up (see "Choices"). */
static enum imap_reader_result
line_overflow(struct imap_reader *r)
{
	r->fatal = IMAP_RD_LINE_TOO_LONG;
	wipe_cmd(r);
	return IMAP_RD_LINE_TOO_LONG;
}

enum imap_reader_result
imap_reader_step(struct imap_reader *r, struct buf *in)
{
	const uint8_t *data = buf_data(in);
	size_t avail = buf_len(in), pos = 0;
	enum imap_reader_result res = IMAP_RD_MORE;

	if (r->fatal != IMAP_RD_MORE)
		return r->fatal;
	if (r->done)
		start_command(r);

	while (pos < avail) {
		const uint8_t *p = data + pos, *lf;
		size_t n, chunk;
		enum lit_kind kind;
		uint64_t litn = 0;

		r->started = true;
		if (r->in_literal) {
			n = avail - pos;
			if ((uint64_t)n > r->lit_left)
				n = (size_t)r->lit_left;
			/* literal_fits() reserved the room already. */
			if (buf_append(r->cmd, p, n) < 0)
				log_panic("imap reader: literal overflow");
			pos += n;
			r->lit_left -= n;
			if (r->lit_left == 0) {
				r->in_literal = false;
				r->line_len = 0;
				r->tail_len = 0;
			}
			continue;
		}

		lf = memchr(p, '\n', avail - pos);
		chunk = lf != NULL ? (size_t)(lf - p) : avail - pos;
		if (r->first_line)
			tag_feed(r, p, chunk);
		pos += chunk;
		if (!line_room(r, r->line_len, chunk) || !cmd_room(r, chunk)) {
			/* Over the limit with or without its LF in sight:
			 * report it now, never wait for the rest. */
			res = line_overflow(r);
			break;
		}
		tail_feed(r, p, chunk);
		if (buf_append(r->cmd, p, chunk) < 0)
			log_panic("imap reader: line overflow");
		r->line_len += chunk;
		if (lf == NULL)
			break;
		pos++;                  /* the LF */

		if (r->first_line && r->tag_state == TAG_COLLECTING)
			r->tag_state = TAG_ENDED;
		r->first_line = false;
		if (r->tail_len > 0 && r->tail[r->tail_len - 1] == '\r') {
			r->tail_len--;
			r->line_len--;
		}
		if (r->line_len > r->lim.max_line) {
			res = line_overflow(r);
			break;
		}
		kind = tail_literal(r, r->line_len, &litn);
		r->line_len = 0;
		r->tail_len = 0;

		if (buf_append_byte(r->cmd, '\n') < 0)
			log_panic("imap reader: line overflow");
		if (kind == LIT_NONE) {
			r->done = true;
			r->ready = true;
			res = IMAP_RD_COMMAND;
			break;
		}
		if (!literal_fits(r, litn, kind == LIT_NONSYNC)) {
			if (kind == LIT_NONSYNC) {
				/* Already on its way: cannot be refused
				 * (RFC 7888 §4, choice 2). */
				r->fatal = IMAP_RD_FATAL_TOO_BIG;
				res = IMAP_RD_FATAL_TOO_BIG;
			} else {
				r->done = true;
				res = IMAP_RD_LITERAL_TOO_BIG;
			}
			break;
		}
		r->in_literal = true;
		r->lit_left = litn;
		if (kind == LIT_SYNC) {
			res = IMAP_RD_CONTINUE;
			break;
		}
	}
	buf_consume(in, pos);
	/* A literal of 0 octets after a "+" or within a non-sync
	 * announcement completes without any input. */
	if (res == IMAP_RD_MORE && r->in_literal && r->lit_left == 0) {
		r->in_literal = false;
		r->line_len = 0;
		r->tail_len = 0;
	}
	return res;
}

bool
imap_reader_line(struct imap_reader *r, struct buf *in,
		 const uint8_t **line, size_t *len, bool *too_long)
{
	const uint8_t *data = buf_data(in), *lf;
	size_t avail = buf_len(in), chunk, n;

	*line = NULL;
	*len = 0;
	*too_long = false;
	if (r->line_has_data) {
		/* The previous line may have been a SASL response. */
		explicit_bzero(buf_data_mut(r->line), buf_len(r->line));
		buf_reset(r->line);
		r->line_has_data = false;
	}
	if (r->fatal != IMAP_RD_MORE) {
		*too_long = true;
		return true;
	}
	if (avail == 0)
		return false;
	lf = memchr(data, '\n', avail);
	chunk = lf != NULL ? (size_t)(lf - data) : avail;
	if (!line_room(r, buf_len(r->line), chunk)) {
		/* As in imap_reader_step: final, and reported at once. */
		buf_consume(in, chunk);
		explicit_bzero(buf_data_mut(r->line), buf_len(r->line));
		buf_reset(r->line);
		r->fatal = IMAP_RD_LINE_TOO_LONG;
		*too_long = true;
		return true;
	}
	if (buf_append(r->line, data, chunk) < 0)
		log_panic("imap reader: line overflow");
	buf_consume(in, lf != NULL ? chunk + 1 : chunk);
	if (lf == NULL)
		return false;

	r->line_has_data = true;
	n = buf_len(r->line);
	if (n > 0 && buf_data(r->line)[n - 1] == '\r')
		n--;
	if (n > r->lim.max_line) {
		explicit_bzero(buf_data_mut(r->line), buf_len(r->line));
		buf_reset(r->line);
		r->line_has_data = false;
		r->fatal = IMAP_RD_LINE_TOO_LONG;
		*too_long = true;
		return true;
	}
	*line = buf_data(r->line);
	*len = n;
	return true;
}
