/*
 * lmtp-proto: the LMTP command parser and DATA decoder (RFC 2033 on RFC
 * 5321). Pure functions over bytes the client sent: no I/O, no state
 * beyond what the caller passes, so the unit tests and the fuzzer drive
 * exactly what moat-lmtp runs. Every reply text the parser chooses for a
 * bad command comes with its RFC 3463 enhanced status code.
 */
#ifndef MOAT_LMTP_PROTO_H
#define MOAT_LMTP_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* RFC 5321 4.5.3.1.4: a command line is at most 512 octets with its
 * CRLF; 4.5.3.1.3: a path at most 256. A text line of DATA is at most
 * 1000 with CRLF, but real mail breaks that: we accept up to
 * LMTP_DATA_LINE_MAX and refuse the message (552) past it. */
#define LMTP_CMD_LINE_MAX 512
#define LMTP_PATH_MAX 256
#define LMTP_DATA_LINE_MAX (64 * 1024)

enum lmtp_cmd {
	LMTP_CMD_LHLO, LMTP_CMD_MAIL, LMTP_CMD_RCPT, LMTP_CMD_DATA,
	LMTP_CMD_RSET, LMTP_CMD_NOOP, LMTP_CMD_QUIT, LMTP_CMD_VRFY,
};

enum lmtp_body { LMTP_BODY_7BIT, LMTP_BODY_8BITMIME };

struct lmtp_command {
	enum lmtp_cmd cmd;
	/* MAIL: the reverse-path without <> ("" for the null path);
	 * RCPT: the forward-path's mailbox; LHLO: the client's name. */
	char path[LMTP_PATH_MAX + 1];
	/* RCPT: the local part, unquoted (what names the user). */
	char local[LMTP_PATH_MAX + 1];
	bool has_size;               /* MAIL SIZE= */
	uint64_t size;
	enum lmtp_body body;         /* MAIL BODY= */
};

/* Parses one command line (without its CRLF or LF). Returns 0 and
 * fills *cmd, or -1 and points *reply at the full reply line (code,
 * enhanced code, text; no CRLF) to send. */
int lmtp_parse(const char *line, size_t len, struct lmtp_command *cmd,
	       const char **reply);

/* The DATA decoder: feed it the message octet stream as it arrives; it
 * ends at the "." line, removes dot-stuffing (RFC 5321 4.5.2), ends
 * every line with CRLF (a bare LF ends a line too: Postfix and Exim
 * never send one, but a local client may), and stops collecting, but
 * keeps reading to the end, when the message passes max_size or a line
 * passes LMTP_DATA_LINE_MAX. */
struct lmtp_data {
	struct buf *msg;             /* the decoded message */
	uint64_t max_size;
	char line[LMTP_DATA_LINE_MAX + 2];
	size_t line_len;
	bool too_big;                /* past max_size: answer 552 5.3.4 */
	bool line_too_long;          /* a line past the limit: 552 too */
	bool done;                   /* the "." line was seen */
};
void lmtp_data_init(struct lmtp_data *d, uint64_t max_size);
void lmtp_data_free(struct lmtp_data *d);
/* Consumes bytes up to and including the end-of-data line; returns how
 * many were used (less than len only once done: the rest is the
 * client's next pipelined command). */
size_t lmtp_data_feed(struct lmtp_data *d, const void *data, size_t len);

#endif
