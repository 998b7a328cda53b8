/*
 * test-lmtp-proto: the LMTP command parser (RFC 2033 on RFC 5321 4.1)
 * and the DATA decoder (RFC 5321 4.5.2 dot-stuffing), table-driven.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmtp/lmtp-proto.h"

struct pcase {
	const char *line;
	int rc;                 /* 0 or -1 */
	enum lmtp_cmd cmd;      /* when 0 */
	const char *path;       /* when 0 and not NULL */
	const char *local;      /* RCPT's user, when not NULL */
	const char *reply;      /* prefix of the reply, when -1 */
};

static const struct pcase pcases[] = {
	{ "LHLO mx.example.org", 0, LMTP_CMD_LHLO, "mx.example.org", NULL, NULL },
	{ "lhlo [127.0.0.1]", 0, LMTP_CMD_LHLO, "[127.0.0.1]", NULL, NULL },
	{ "LHLO", -1, 0, NULL, NULL, "501 5.5.4" },
	{ "LHLO bad_host!", -1, 0, NULL, NULL, "501 5.5.4" },
	/* RFC 2033 4.1: HELO/EHLO are SMTP's, not LMTP's. */
	{ "HELO x", -1, 0, NULL, NULL, "500 5.5.1" },
	{ "EHLO x", -1, 0, NULL, NULL, "500 5.5.1" },
	{ "MAIL FROM:<a@b.c>", 0, LMTP_CMD_MAIL, "a@b.c", NULL, NULL },
	{ "mail from: <a@b.c>", 0, LMTP_CMD_MAIL, "a@b.c", NULL, NULL },
	/* The null reverse-path (bounces), RFC 5321 4.5.5. */
	{ "MAIL FROM:<>", 0, LMTP_CMD_MAIL, "", NULL, NULL },
	{ "MAIL FROM:<a@b.c> SIZE=1000 BODY=8BITMIME", 0, LMTP_CMD_MAIL,
	  "a@b.c", NULL, NULL },
	{ "MAIL FROM:<a@b.c> BODY=7BIT", 0, LMTP_CMD_MAIL, "a@b.c", NULL, NULL },
	/* A source route is accepted and dropped (RFC 5321 4.1.2). */
	{ "MAIL FROM:<@r1.org,@r2.org:a@b.c>", 0, LMTP_CMD_MAIL, "a@b.c",
	  NULL, NULL },
	{ "MAIL FROM:a@b.c", -1, 0, NULL, NULL, "501 5.1.7" },
	{ "MAIL FROM:<a@b.c", -1, 0, NULL, NULL, "501 5.1.7" },
	{ "MAIL FROM:<a>", -1, 0, NULL, NULL, "501 5.1.7" },
	{ "MAIL FROM:<a@-b.c>", -1, 0, NULL, NULL, "501 5.1.7" },
	{ "MAIL FROM:<a..b@c>", -1, 0, NULL, NULL, "501 5.1.7" },
	{ "MAIL TO:<a@b.c>", -1, 0, NULL, NULL, "501 5.5.4" },
	{ "MAIL", -1, 0, NULL, NULL, "501 5.5.4" },
	{ "MAIL FROM:<a@b.c> SIZE=x", -1, 0, NULL, NULL, "501 5.5.4" },
	{ "MAIL FROM:<a@b.c> SIZE=", -1, 0, NULL, NULL, "501 5.5.4" },
	{ "MAIL FROM:<a@b.c> SIZE=1 SIZE=2", -1, 0, NULL, NULL, "501 5.5.4" },
	{ "MAIL FROM:<a@b.c> BODY=BINARYMIME", -1, 0, NULL, NULL, "501 5.5.4" },
	{ "MAIL FROM:<a@b.c> SMTPUTF8", -1, 0, NULL, NULL, "555 5.5.4" },
	{ "MAIL FROM:<a@b.c> RET=FULL", -1, 0, NULL, NULL, "555 5.5.4" },
	{ "RCPT TO:<alice@example.org>", 0, LMTP_CMD_RCPT,
	  "alice@example.org", "alice", NULL },
	{ "rcpt to:<Alice.Smith@example.org>", 0, LMTP_CMD_RCPT,
	  "Alice.Smith@example.org", "Alice.Smith", NULL },
	/* A quoted local part is unquoted for the user lookup. */
	{ "RCPT TO:<\"al\\\"ice\"@x.org>", 0, LMTP_CMD_RCPT,
	  "\"al\\\"ice\"@x.org", "al\"ice", NULL },
	{ "RCPT TO:<postmaster>", 0, LMTP_CMD_RCPT, "postmaster",
	  "postmaster", NULL },
	{ "RCPT TO:<>", -1, 0, NULL, NULL, "501 5.1.3" },
	{ "RCPT TO:alice", -1, 0, NULL, NULL, "501 5.1.3" },
	{ "RCPT TO:<a b@c>", -1, 0, NULL, NULL, "501 5.1.3" },
	{ "RCPT TO:<a@b.c> NOTIFY=NEVER", -1, 0, NULL, NULL, "555 5.5.4" },
	{ "RCPT FROM:<a@b.c>", -1, 0, NULL, NULL, "501 5.5.4" },
	{ "DATA", 0, LMTP_CMD_DATA, NULL, NULL, NULL },
	{ "data ", 0, LMTP_CMD_DATA, NULL, NULL, NULL },
	{ "DATA x", -1, 0, NULL, NULL, "501 5.5.4" },
	{ "RSET", 0, LMTP_CMD_RSET, NULL, NULL, NULL },
	{ "RSET now", -1, 0, NULL, NULL, "501 5.5.4" },
	{ "NOOP", 0, LMTP_CMD_NOOP, NULL, NULL, NULL },
	{ "NOOP anything at all", 0, LMTP_CMD_NOOP, NULL, NULL, NULL },
	{ "QUIT", 0, LMTP_CMD_QUIT, NULL, NULL, NULL },
	{ "VRFY alice", 0, LMTP_CMD_VRFY, NULL, NULL, NULL },
	{ "VRFY", -1, 0, NULL, NULL, "501 5.5.4" },
	{ "EXPN staff", -1, 0, NULL, NULL, "500 5.5.1" },
	{ "", -1, 0, NULL, NULL, "500 5.5.1" },
	{ "MAILX FROM:<a@b.c>", -1, 0, NULL, NULL, "500 5.5.1" },
	{ "NOOP \x01", -1, 0, NULL, NULL, "500 5.5.2" },
	{ "NOOP \xc3\xa9", -1, 0, NULL, NULL, "500 5.5.2" },
};

Test(lmtp_parse, table)
{
	for (size_t i = 0; i < sizeof(pcases) / sizeof(pcases[0]); i++) {
		const struct pcase *t = &pcases[i];
		struct lmtp_command c;
		const char *reply = NULL;
		int rc = lmtp_parse(t->line, strlen(t->line), &c, &reply);

		cr_assert_eq(rc, t->rc, "<<%s>>: rc %d, want %d (reply %s)",
			     t->line, rc, t->rc, reply ? reply : "-");
		if (rc == 0) {
			cr_assert_eq(c.cmd, t->cmd, "<<%s>>: command", t->line);
			if (t->path != NULL)
				cr_assert_str_eq(c.path, t->path, "<<%s>>",
						 t->line);
			if (t->local != NULL)
				cr_assert_str_eq(c.local, t->local, "<<%s>>",
						 t->line);
		} else {
			cr_assert_not_null(reply);
			cr_assert(strncmp(reply, t->reply, strlen(t->reply)) == 0,
				  "<<%s>>: reply \"%s\", want \"%s...\"",
				  t->line, reply, t->reply);
		}
	}
}

Test(lmtp_parse, mail_parameters)
{
	struct lmtp_command c;
	const char *reply;
	const char *l = "MAIL FROM:<a@b.c> size=12345 body=8bitmime";

	cr_assert_eq(lmtp_parse(l, strlen(l), &c, &reply), 0);
	cr_assert(c.has_size);
	cr_assert_eq(c.size, 12345);
	cr_assert_eq(c.body, LMTP_BODY_8BITMIME);
}

/* RFC 5321 4.5.3.1.4: 512 octets with the CRLF. */
Test(lmtp_parse, line_limit)
{
	char line[600];
	struct lmtp_command c;
	const char *reply;

	memset(line, 'a', sizeof(line));
	memcpy(line, "NOOP ", 5);
	cr_assert_eq(lmtp_parse(line, 510, &c, &reply), 0);
	cr_assert_eq(lmtp_parse(line, 511, &c, &reply), -1);
	cr_assert_str_eq(reply, "500 5.5.2 Line too long");
}

/* RFC 5321 4.1.2 / 4.5.3.1.3: a path of more than 256 octets. */
Test(lmtp_parse, path_limit)
{
	char line[400], *p;
	struct lmtp_command c;
	const char *reply;

	p = line + sprintf(line, "RCPT TO:<");
	memset(p, 'a', 260);
	strcpy(p + 260, "@b.c>");
	cr_assert_eq(lmtp_parse(line, strlen(line), &c, &reply), -1);
	cr_assert(strncmp(reply, "501 5.1.3", 9) == 0);
}

/* ---- DATA ---- */

struct dcase {
	const char *in;
	const char *msg;        /* decoded, NULL: too big */
	size_t rest;            /* bytes left after the "." line */
	bool done;
	uint64_t max;
};

static const struct dcase dcases[] = {
	{ "a\r\nb\r\n.\r\n", "a\r\nb\r\n", 0, true, 1000 },
	/* Dot-stuffing removed, RFC 5321 4.5.2. */
	{ "..a\r\n.\r\n", ".a\r\n", 0, true, 1000 },
	{ "...\r\n.\r\n", "..\r\n", 0, true, 1000 },
	/* A bare LF ends a line; lines come out with CRLF. */
	{ "a\nb\n.\n", "a\r\nb\r\n", 0, true, 1000 },
	/* A dot not alone on its line does not end the data. */
	{ ".x\r\n. \r\n.\r\n", "x\r\n \r\n", 0, true, 1000 },
	/* The next pipelined command is left for the caller. */
	{ "a\r\n.\r\nQUIT\r\n", "a\r\n", 6, true, 1000 },
	/* Empty message. */
	{ ".\r\n", "", 0, true, 1000 },
	/* Not ended yet. */
	{ "a\r\n.", "a\r\n", 0, false, 1000 },
	{ "a\r\n", "a\r\n", 0, false, 1000 },
	/* Past the limit: nothing kept, still read to the end. */
	{ "0123456789\r\n.\r\nRSET\r\n", NULL, 6, true, 8 },
};

Test(lmtp_data, table)
{
	for (size_t i = 0; i < sizeof(dcases) / sizeof(dcases[0]); i++) {
		const struct dcase *t = &dcases[i];
		struct lmtp_data *d = calloc(1, sizeof(*d));
		size_t len = strlen(t->in), used;

		lmtp_data_init(d, t->max);
		used = lmtp_data_feed(d, t->in, len);
		cr_assert_eq(d->done, t->done, "case %zu: done", i);
		cr_assert_eq(len - used, t->rest, "case %zu: rest %zu", i,
			     len - used);
		if (t->msg == NULL) {
			cr_assert(d->too_big, "case %zu: too big", i);
			cr_assert_eq(buf_len(d->msg), 0);
		} else {
			cr_assert_not(d->too_big, "case %zu", i);
			cr_assert_eq(buf_len(d->msg), strlen(t->msg),
				     "case %zu: length", i);
			cr_assert(memcmp(buf_data(d->msg), t->msg,
					 strlen(t->msg)) == 0, "case %zu", i);
		}
		lmtp_data_free(d);
		free(d);
	}
}

/* Byte by byte gives the same as all at once (the data comes in pieces
 * of any size off the socket). */
Test(lmtp_data, split_anywhere)
{
	const char *in = "Subject: x\r\n\r\n..dot\r\nbare\nend\r\n.\r\nNOOP\r\n";
	const char *want = "Subject: x\r\n\r\n.dot\r\nbare\r\nend\r\n";
	struct lmtp_data *d = calloc(1, sizeof(*d));
	size_t used = 0;

	lmtp_data_init(d, 1000);
	for (size_t i = 0; i < strlen(in) && !d->done; i++)
		used += lmtp_data_feed(d, in + i, 1);
	cr_assert(d->done);
	cr_assert_eq(strlen(in) - used, 6);
	cr_assert_eq(buf_len(d->msg), strlen(want));
	cr_assert(memcmp(buf_data(d->msg), want, strlen(want)) == 0);
	lmtp_data_free(d);
	free(d);
}

Test(lmtp_data, line_too_long)
{
	struct lmtp_data *d = calloc(1, sizeof(*d));
	size_t n = LMTP_DATA_LINE_MAX + 10;
	char *in = malloc(n + 8);

	memset(in, 'x', n);
	memcpy(in + n, "\r\n.\r\n", 5);
	lmtp_data_init(d, 10 * 1024 * 1024);
	cr_assert_eq(lmtp_data_feed(d, in, n + 5), n + 5);
	cr_assert(d->done);
	cr_assert(d->line_too_long);
	cr_assert_eq(buf_len(d->msg), 0);
	lmtp_data_free(d);
	free(d);
	free(in);
}
