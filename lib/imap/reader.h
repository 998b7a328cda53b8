/*
 * imap reader: frames an IMAP command from a byte stream (RFC 9051 §2.2,
 * §4.3; RFC 7888 for LITERAL+/LITERAL-). It collects one complete command
 * -- its lines and the literal data they announce -- into its own bounded
 * buffer, and tells the caller when a synchronizing literal needs a "+"
 * continuation. It does not interpret the command: imap_parse_command()
 * does that on the collected bytes.
 *
 * Limits: every line (the text between literals) is at most max_line
 * bytes; every literal at most max_literal; the whole command at most
 * max_command. A line over the limit is reported as soon as it passes
 * the limit, without waiting for its CRLF, and ends the stream: the
 * caller answers BAD (with the tag, if the first token was complete) and
 * closes, so a client cannot make us read an endless line. A
 * synchronizing literal over the limit is
 * refused before the client sends it. A non-synchronizing one cannot be
 * refused without reading it, so it is reported as fatal: the caller
 * answers BYE [TOOBIG] and closes (RFC 7888 §4, choice 2).
 *
 * Inputs are untrusted network bytes.
 */
#ifndef MOAT_IMAP_READER_H
#define MOAT_IMAP_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"

/* RFC 7888 §5: with LITERAL-, non-synchronizing literals are <= 4096. */
#define IMAP_LITERAL_MINUS_MAX 4096

struct imap_reader_limits {
	size_t max_line;
	size_t max_literal;
	size_t max_command;
	bool literal_minus;   /* advertise LITERAL- instead of LITERAL+ */
};

enum imap_reader_result {
	IMAP_RD_MORE,          /* all input consumed; read more */
	IMAP_RD_COMMAND,       /* a complete command is ready */
	IMAP_RD_CONTINUE,      /* send "+ ..." then call again */
	IMAP_RD_LINE_TOO_LONG, /* line over the limit: BAD, BYE and close */
	IMAP_RD_LITERAL_TOO_BIG, /* sync literal refused; answer BAD, go on */
	IMAP_RD_FATAL_TOO_BIG, /* non-sync literal too big: BYE and close */
};

struct imap_reader;

struct imap_reader *imap_reader_new(const struct imap_reader_limits *lim);
void imap_reader_free(struct imap_reader **r);
void imap_reader_set_limits(struct imap_reader *r,
			    const struct imap_reader_limits *lim);

/* Consumes bytes from the front of in (buf_consume) and advances. After
 * COMMAND the command stays available until the next call; the next call
 * starts a new command. LINE_TOO_LONG and FATAL_TOO_BIG are final: every
 * later call returns the same and consumes nothing (until reset). */
enum imap_reader_result imap_reader_step(struct imap_reader *r,
					 struct buf *in);
/* The complete command (lines with CRLF and literal bytes), valid after
 * COMMAND until the next step. */
const uint8_t *imap_reader_command(const struct imap_reader *r, size_t *len);
/* The tag of the current/refused command if one was seen and is a valid
 * tag, else NULL. Valid until the next step. */
const char *imap_reader_tag(const struct imap_reader *r);
/* Raw line mode for AUTHENTICATE continuations: returns true and the
 * line without CRLF when a whole line is in `in` (consumed). A line over
 * max_line is reported through *too_long as soon as it passes the limit;
 * as in imap_reader_step that is final (true and *too_long again). */
bool imap_reader_line(struct imap_reader *r, struct buf *in,
		      const uint8_t **line, size_t *len, bool *too_long);
/* Drop any partial command (e.g. after STARTTLS: the plaintext that was
 * pipelined behind it must not be executed). */
void imap_reader_reset(struct imap_reader *r);
/* True if the reader holds part of a command (used to decide whether
 * input is pipelined). */
bool imap_reader_busy(const struct imap_reader *r);

#endif
