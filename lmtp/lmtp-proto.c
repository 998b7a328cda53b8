/*
 * lmtp-proto: see lmtp-proto.h. The grammar is RFC 5321 4.1.2 (paths)
 * and 4.1.1 (commands), with the leniency every real MTA's server has:
 * verbs in any case, spaces after "FROM:"/"TO:", a recipient without a
 * domain. Callers: lmtp/front.c, tests/lmtp, fuzz/fuzz-lmtp.c.
 */
#include <string.h>

#include "core/num.h"
#include "core/str.h"
#include "lmtp/lmtp-proto.h"

#define R_UNKNOWN "500 5.5.1 Unknown command"
#define R_HELO "500 5.5.1 This is LMTP: use LHLO"
#define R_BADCHAR "500 5.5.2 Invalid characters in command"
#define R_LONG "500 5.5.2 Line too long"
#define R_NOARGS "501 5.5.4 No arguments allowed"
#define R_LHLO "501 5.5.4 Syntax: LHLO hostname"
#define R_MAIL "501 5.5.4 Syntax: MAIL FROM:<address>"
#define R_RCPT "501 5.5.4 Syntax: RCPT TO:<address>"
#define R_VRFY "501 5.5.4 Syntax: VRFY address"
#define R_SENDER "501 5.1.7 Bad sender address syntax"
#define R_RECIPIENT "501 5.1.3 Bad recipient address syntax"
#define R_PATHLONG "501 5.5.4 Path too long"
#define R_SIZE "501 5.5.4 Bad SIZE value"
#define R_BODY "501 5.5.4 Unsupported BODY value"
#define R_PARAM "555 5.5.4 Unsupported parameter"

/* RFC 5322 atext. */
static bool
is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' &&
				       strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static bool
is_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-';
}

/* Domain = sub-domain *("." sub-domain) / address-literal. Returns the
 * end of the domain, or NULL. */
static const char *
parse_domain(const char *p, const char *end)
{
	const char *start = p;

	if (p < end && *p == '[') {
		for (p++; p < end && *p != ']'; p++)
			if ((unsigned char)*p < 33 || (unsigned char)*p > 126 ||
			    *p == '[' || *p == '\\')
				return NULL;
		return p < end && p - start > 1 ? p + 1 : NULL;
	}
	for (;;) {
		const char *sub = p;

		while (p < end && is_ldh((unsigned char)*p))
			p++;
		if (p == sub || *sub == '-' || p[-1] == '-')
			return NULL;
		if (p < end && *p == '.') {
			p++;
			continue;
		}
		return p;
	}
}

/* Local-part = Dot-string / Quoted-string; the unquoted form goes to
 * local (LMTP_PATH_MAX + 1 bytes). Returns the end, or NULL. */
static const char *
parse_local(const char *p, const char *end, char *local)
{
	size_t n = 0;

	if (p < end && *p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			unsigned char c = (unsigned char)*p;

			if (c == '\\') {
				if (++p == end || (unsigned char)*p < 32 ||
				    (unsigned char)*p > 126)
					return NULL;
				c = (unsigned char)*p;
			} else if (c < 32 || c > 126) {
				return NULL;
			}
			if (n == LMTP_PATH_MAX)
				return NULL;
			local[n++] = (char)c;
		}
		if (p == end || n == 0)
			return NULL;
		local[n] = '\0';
		return p + 1;
	}
	for (;;) {
		const char *atom = p;

		while (p < end && is_atext((unsigned char)*p)) {
			if (n == LMTP_PATH_MAX)
				return NULL;
			local[n++] = *p++;
		}
		if (p == atom)
			return NULL;
		if (p < end && *p == '.') {
			if (n == LMTP_PATH_MAX)
				return NULL;
			local[n++] = *p++;
			continue;
		}
		local[n] = '\0';
		return p;
	}
}

/* Path = "<" [ A-d-l ":" ] Mailbox ">"; with allow_null also "<>".
 * need_domain: RFC 5321 asks for one; a recipient without it (as
 * "<Postmaster>") is accepted. Fills path (without "<>") and local.
 * Returns the end, or NULL. */
static const char *
parse_path(const char *p, const char *end, bool allow_null, bool need_domain,
	   char *path, char *local)
{
	const char *start, *q;

	if (p == end || *p != '<')
		return NULL;
	p++;
	if (allow_null && p < end && *p == '>') {
		path[0] = local[0] = '\0';
		return p + 1;
	}
	/* A-d-l = At-domain *( "," At-domain ): a source route, ignored
	 * (RFC 5321 4.1.2: MUST accept, SHOULD ignore). */
	if (p < end && *p == '@') {
		for (;;) {
			p = parse_domain(p + 1, end);
			if (p == NULL || p == end)
				return NULL;
			if (*p == ':')
				break;
			if (*p != ',' || p + 1 == end || p[1] != '@')
				return NULL;
			p++;
		}
		p++;
	}
	start = p;
	p = parse_local(p, end, local);
	if (p == NULL)
		return NULL;
	if (p < end && *p == '@') {
		p = parse_domain(p + 1, end);
		if (p == NULL)
			return NULL;
	} else if (need_domain) {
		return NULL;
	}
	if (p == end || *p != '>')
		return NULL;
	if ((size_t)(p - start) > LMTP_PATH_MAX)
		return NULL;
	memcpy(path, start, (size_t)(p - start));
	path[p - start] = '\0';
	q = p + 1;
	return q;
}

/* esmtp-value = 1*(%d33-60 / %d62-126) */
static bool
value_ok(const char *v, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)v[i] < 33 || (unsigned char)v[i] > 126 ||
		    v[i] == '=')
			return false;
	return true;
}

/* MAIL parameters: SIZE=, BODY=7BIT|8BITMIME (RFC 1870, RFC 6152). */
static int
parse_mail_params(const char *p, const char *end, struct lmtp_command *cmd,
		  const char **reply)
{
	while (p < end) {
		const char *kw, *eq, *val, *vend;
		size_t klen;

		if (*p != ' ') {
			*reply = R_MAIL;
			return -1;
		}
		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		kw = p;
		while (p < end && *p != ' ')
			p++;
		vend = p;
		eq = memchr(kw, '=', (size_t)(vend - kw));
		klen = (size_t)((eq != NULL ? eq : vend) - kw);
		val = eq != NULL ? eq + 1 : vend;
		if (klen == 4 && strncasecmp(kw, "SIZE", 4) == 0) {
			if (eq == NULL || cmd->has_size ||
			    num_parse_u64_n(val, (size_t)(vend - val),
					    UINT64_MAX / 2, &cmd->size) < 0) {
				*reply = R_SIZE;
				return -1;
			}
			cmd->has_size = true;
		} else if (klen == 4 && strncasecmp(kw, "BODY", 4) == 0) {
			size_t vlen = (size_t)(vend - val);

			if (eq != NULL && vlen == 4 &&
			    strncasecmp(val, "7BIT", 4) == 0)
				cmd->body = LMTP_BODY_7BIT;
			else if (eq != NULL && vlen == 8 &&
				 strncasecmp(val, "8BITMIME", 8) == 0)
				cmd->body = LMTP_BODY_8BITMIME;
			else {
				*reply = R_BODY;
				return -1;
			}
		} else {
			if (klen == 0 || (eq != NULL &&
					  !value_ok(val, (size_t)(vend - val))))
				*reply = R_MAIL;
			else
				*reply = R_PARAM;
			return -1;
		}
	}
	return 0;
}

static const struct {
	const char *verb;
	enum lmtp_cmd cmd;
} verbs[] = {
	{ "LHLO", LMTP_CMD_LHLO }, { "MAIL", LMTP_CMD_MAIL },
	{ "RCPT", LMTP_CMD_RCPT }, { "DATA", LMTP_CMD_DATA },
	{ "RSET", LMTP_CMD_RSET }, { "NOOP", LMTP_CMD_NOOP },
	{ "QUIT", LMTP_CMD_QUIT }, { "VRFY", LMTP_CMD_VRFY },
};

/* "FROM:" / "TO:" then optional spaces. */
static const char *
expect_keyword(const char *p, const char *end, const char *kw)
{
	size_t n = strlen(kw);

	if ((size_t)(end - p) < n || strncasecmp(p, kw, n) != 0)
		return NULL;
	p += n;
	while (p < end && *p == ' ')
		p++;
	return p;
}

int
lmtp_parse(const char *line, size_t len, struct lmtp_command *cmd,
	   const char **reply)
{
	const char *end = line + len, *p, *args;
	size_t vlen;
	bool found = false;

	memset(cmd, 0, sizeof(*cmd));
	if (len + 2 > LMTP_CMD_LINE_MAX) {
		*reply = R_LONG;
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c < 32 || c > 126) {
			*reply = R_BADCHAR;
			return -1;
		}
	}
	/* A trailing space is common (clients, hand-typed sessions). */
	while (end > line && end[-1] == ' ')
		end--;
	for (p = line; p < end && *p != ' '; p++)
		;
	vlen = (size_t)(p - line);
	args = p < end ? p + 1 : end;
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (vlen == 4 && strncasecmp(line, verbs[i].verb, 4) == 0) {
			cmd->cmd = verbs[i].cmd;
			found = true;
			break;
		}
	}
	if (!found) {
		*reply = (vlen == 4 && (strncasecmp(line, "HELO", 4) == 0 ||
					strncasecmp(line, "EHLO", 4) == 0)) ?
		    R_HELO : R_UNKNOWN;
		return -1;
	}
	switch (cmd->cmd) {
	case LMTP_CMD_LHLO:
		/* RFC 5321 4.1.1.1: a domain or an address literal. */
		if (args == end || parse_domain(args, end) != end) {
			*reply = R_LHLO;
			return -1;
		}
		if ((size_t)(end - args) > LMTP_PATH_MAX) {
			*reply = R_PATHLONG;
			return -1;
		}
		memcpy(cmd->path, args, (size_t)(end - args));
		cmd->path[end - args] = '\0';
		return 0;
	case LMTP_CMD_MAIL:
		p = expect_keyword(args, end, "FROM:");
		if (p == NULL || args == end) {
			*reply = R_MAIL;
			return -1;
		}
		p = parse_path(p, end, true, true, cmd->path, cmd->local);
		if (p == NULL) {
			*reply = R_SENDER;
			return -1;
		}
		return parse_mail_params(p, end, cmd, reply);
	case LMTP_CMD_RCPT:
		p = expect_keyword(args, end, "TO:");
		if (p == NULL || args == end) {
			*reply = R_RCPT;
			return -1;
		}
		p = parse_path(p, end, false, false, cmd->path, cmd->local);
		if (p == NULL) {
			*reply = R_RECIPIENT;
			return -1;
		}
		while (p < end && *p == ' ')
			p++;
		if (p != end) {
			/* We offer no RCPT parameters (no DSN). */
			*reply = R_PARAM;
			return -1;
		}
		return 0;
	case LMTP_CMD_VRFY:
		if (args == end) {
			*reply = R_VRFY;
			return -1;
		}
		return 0;
	case LMTP_CMD_NOOP:
		/* RFC 5321 4.1.1.9: NOOP [ SP String ], ignored. */
		return 0;
	case LMTP_CMD_DATA:
	case LMTP_CMD_RSET:
	case LMTP_CMD_QUIT:
		if (args != end || p != end) {
			*reply = R_NOARGS;
			return -1;
		}
		return 0;
	}
	*reply = R_UNKNOWN;
	return -1;
}

/* ---- DATA ---- */

void
lmtp_data_init(struct lmtp_data *d, uint64_t max_size)
{
	d->msg = buf_new(max_size + 2 > SIZE_MAX / 2 ? SIZE_MAX / 2 :
			 (size_t)max_size + 2);
	d->max_size = max_size;
	d->line_len = 0;
	d->too_big = d->line_too_long = d->done = false;
}

void
lmtp_data_free(struct lmtp_data *d)
{
	buf_free(&d->msg);
}

/* A whole line (without its end) has arrived. */
static void
data_line(struct lmtp_data *d)
{
	const char *l = d->line;
	size_t n = d->line_len;

	if (n == 1 && l[0] == '.') {
		d->done = true;
		return;
	}
	/* RFC 5321 4.5.2: a leading "." is removed. */
	if (n > 0 && l[0] == '.') {
		l++;
		n--;
	}
	if (d->too_big || d->line_too_long)
		return;
	if (buf_len(d->msg) + n + 2 > d->max_size) {
		d->too_big = true;
		buf_reset(d->msg);
		return;
	}
	if (buf_append(d->msg, l, n) < 0 || buf_append(d->msg, "\r\n", 2) < 0) {
		d->too_big = true;
		buf_reset(d->msg);
	}
}

size_t
lmtp_data_feed(struct lmtp_data *d, const void *data, size_t len)
{
	const char *p = data;
	size_t i;

	for (i = 0; i < len && !d->done; i++) {
		char c = p[i];

		if (c == '\n') {
			/* CRLF or a bare LF ends the line; a CR before it is
			 * not part of it. */
			if (d->line_len > 0 && d->line[d->line_len - 1] == '\r')
				d->line_len--;
			data_line(d);
			d->line_len = 0;
			continue;
		}
		if (d->line_len == LMTP_DATA_LINE_MAX + 1) {
			/* Past the limit: the rest of the line is dropped,
			 * the message refused (still read to its end). */
			if (!d->line_too_long)
				buf_reset(d->msg);
			d->line_too_long = true;
			continue;
		}
		d->line[d->line_len++] = c;
	}
	return i;
}
