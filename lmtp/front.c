/*
 * front: see front.h. The connection is blocking with poll() for the
 * timeout; the monitor is asked synchronously (one question at a time:
 * LMTP replies are ordered anyway). Callers: lmtp/main.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/ipc.h"
#include "core/log.h"
#include "core/str.h"
#include "lmtp/deliver.h"
#include "lmtp/front.h"
#include "lmtp/lmtp-proto.h"

/* Bad commands after which the connection is closed. */
#define FRONT_MAX_ERRORS 20
#define FRONT_IN_MAX (64 * 1024)
#define FRONT_OUT_MAX (256 * 1024)

struct rcpt {
	char user[IPC_USER_MAX + 1];
	char addr[LMTP_PATH_MAX + 1];
};

struct front {
	int fd, mon;
	const struct front_settings *set;
	struct buf *in, *out;
	bool greeted, has_mail, closing;
	char sender[LMTP_PATH_MAX + 1];
	struct rcpt *rcpts;
	unsigned int n_rcpts;
	unsigned int errors;
	uint32_t next_id;
	struct lmtp_data *data;      /* set while reading DATA */
	uint8_t rbuf[IPC_MSG_MAX];
};

static void
reply(struct front *f, const char *line)
{
	if (buf_len(f->out) + strlen(line) + 2 > FRONT_OUT_MAX) {
		f->closing = true;       /* a client that never reads */
		return;
	}
	(void)buf_append_str(f->out, line);
	(void)buf_append(f->out, "\r\n", 2);
}

static int
flush(struct front *f)
{
	size_t off = 0, len = buf_len(f->out);

	while (off < len) {
		ssize_t n = send(f->fd, buf_data(f->out) + off, len - off,
				 MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	buf_reset(f->out);
	return 0;
}

static void
reset_transaction(struct front *f)
{
	f->has_mail = false;
	f->sender[0] = '\0';
	f->n_rcpts = 0;
}

/* One question to the monitor and its answer; -1 if it is gone or
 * broke the protocol (the front then answers 4xx and closes). */
static int
ask(struct front *f, struct ipc_out *o, int passfd, uint16_t want,
    struct ipc_msg *msg)
{
	uint32_t id = f->next_id - 1;
	enum ipc_recv_result rr;

	if (ipc_send(f->mon, o, passfd) < 0) {
		ipc_out_free(o);
		return -1;
	}
	ipc_out_free(o);
	do
		rr = ipc_recv(f->mon, f->rbuf, sizeof(f->rbuf), msg);
	while (rr == IPC_RECV_AGAIN);
	if (rr != IPC_RECV_OK)
		return -1;
	if (msg->fd >= 0) {
		close(msg->fd);
		return -1;
	}
	if (msg->type != want || msg->id != id)
		return -1;
	return 0;
}

/* IPC_ST_OK, IPC_ST_FAIL (no such user) or IPC_ST_TEMPFAIL. */
static uint32_t
lookup(struct front *f, const char *local, char *user, size_t usize)
{
	struct ipc_out o;
	struct ipc_msg msg;
	struct ipc_rd rd;
	uint32_t st;

	ipc_out_init(&o, IPC_LMTP_LOOKUP, f->next_id++);
	ipc_put_str(&o, local);
	if (ask(f, &o, -1, IPC_LMTP_LOOKUP_RESULT, &msg) < 0)
		return IPC_ST_TEMPFAIL;
	ipc_rd_init(&rd, &msg);
	if (ipc_get_u32(&rd, &st) < 0 || ipc_get_str(&rd, user, usize) < 0 ||
	    ipc_rd_end(&rd) < 0 || st > IPC_ST_TEMPFAIL ||
	    (st == IPC_ST_OK && user[0] == '\0'))
		return IPC_ST_TEMPFAIL;
	return st;
}

static enum deliver_result
deliver_one(struct front *f, int mfd, const struct rcpt *r)
{
	struct ipc_out o;
	struct ipc_msg msg;
	struct ipc_rd rd;
	uint32_t res;

	ipc_out_init(&o, IPC_LMTP_DELIVER, f->next_id++);
	ipc_put_str(&o, r->user);
	ipc_put_str(&o, f->sender);
	ipc_put_str(&o, r->addr);
	if (ask(f, &o, mfd, IPC_LMTP_DELIVER_RESULT, &msg) < 0)
		return DELIVER_TEMP;
	ipc_rd_init(&rd, &msg);
	if (ipc_get_u32(&rd, &res) < 0 || ipc_rd_end(&rd) < 0 ||
	    res > DELIVER_RESULT_MAX)
		return DELIVER_TEMP;
	return (enum deliver_result)res;
}

/* The message into a sealed memfd, so what the monitor and the
 * delivery processes read cannot change under them. */
static int
message_fd(const struct buf *msg)
{
	size_t off = 0, len = buf_len(msg);
	int fd = memfd_create("lmtp-message", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -1;
	while (off < len) {
		ssize_t n = write(fd, buf_data(msg) + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
		  F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The "." arrived: one reply per accepted recipient (RFC 2033 4.2), in
 * RCPT order, each sent as soon as its delivery is on disk. */
static void
data_done(struct front *f)
{
	struct lmtp_data *d = f->data;
	char line[LMTP_PATH_MAX + 128];
	int mfd = -1;

	if (!d->too_big && !d->line_too_long) {
		mfd = message_fd(d->msg);
		if (mfd < 0)
			log_error("memfd for the message: %m");
	}
	for (unsigned int i = 0; i < f->n_rcpts && !f->closing; i++) {
		enum deliver_result r;

		if (d->too_big || d->line_too_long)
			r = DELIVER_TOOBIG;
		else if (mfd < 0)
			r = DELIVER_TEMP;
		else
			r = deliver_one(f, mfd, &f->rcpts[i]);
		snprintf(line, sizeof(line), "%s <%s>", deliver_reply(r),
			 f->rcpts[i].addr);
		reply(f, line);
		/* Each answer as soon as it is known: a client that times
		 * out later still has the earlier ones. */
		if (flush(f) < 0)
			f->closing = true;
	}
	if (mfd >= 0)
		close(mfd);
	lmtp_data_free(d);
	free(d);
	f->data = NULL;
	reset_transaction(f);
}

static void
cmd_rcpt(struct front *f, const struct lmtp_command *c)
{
	char line[LMTP_PATH_MAX + 128];
	struct rcpt *r;
	uint32_t st;

	if (!f->has_mail) {
		reply(f, "503 5.5.1 MAIL first");
		return;
	}
	if (f->n_rcpts >= f->set->max_rcpts) {
		reply(f, "452 4.5.3 Too many recipients");
		return;
	}
	r = &f->rcpts[f->n_rcpts];
	st = lookup(f, c->local, r->user, sizeof(r->user));
	if (st == IPC_ST_FAIL) {
		snprintf(line, sizeof(line), "550 5.1.1 <%s> User unknown",
			 c->path);
		reply(f, line);
		return;
	}
	if (st != IPC_ST_OK) {
		snprintf(line, sizeof(line), "451 4.3.0 <%s> Cannot look up "
			 "the user now, try again later", c->path);
		reply(f, line);
		return;
	}
	(void)str_copy(r->addr, c->path, sizeof(r->addr));
	f->n_rcpts++;
	snprintf(line, sizeof(line), "250 2.1.5 <%s> Recipient OK", c->path);
	reply(f, line);
}

static void
command(struct front *f, const char *line, size_t len)
{
	struct lmtp_command c;
	const char *err;
	char buf[128];

	if (lmtp_parse(line, len, &c, &err) < 0) {
		reply(f, err);
		if (++f->errors >= FRONT_MAX_ERRORS) {
			reply(f, "421 4.7.0 Too many errors, closing");
			f->closing = true;
		}
		return;
	}
	switch (c.cmd) {
	case LMTP_CMD_LHLO:
		reset_transaction(f);
		f->greeted = true;
		snprintf(buf, sizeof(buf), "250-%s", f->set->hostname);
		reply(f, buf);
		reply(f, "250-PIPELINING");
		reply(f, "250-ENHANCEDSTATUSCODES");
		reply(f, "250-8BITMIME");
		snprintf(buf, sizeof(buf), "250 SIZE %llu",
			 (unsigned long long)f->set->max_size);
		reply(f, buf);
		return;
	case LMTP_CMD_MAIL:
		if (!f->greeted)
			reply(f, "503 5.5.1 LHLO first");
		else if (f->has_mail)
			reply(f, "503 5.5.1 Nested MAIL command");
		else if (c.has_size && c.size > f->set->max_size)
			reply(f, "552 5.3.4 Message size exceeds fixed "
			      "maximum message size");
		else {
			(void)str_copy(f->sender, c.path, sizeof(f->sender));
			f->has_mail = true;
			reply(f, "250 2.1.0 Sender OK");
		}
		return;
	case LMTP_CMD_RCPT:
		cmd_rcpt(f, &c);
		return;
	case LMTP_CMD_DATA:
		if (!f->has_mail) {
			reply(f, "503 5.5.1 MAIL first");
		} else if (f->n_rcpts == 0) {
			/* RFC 2033 4.2: no recipient was accepted. */
			reply(f, "503 5.5.1 No valid recipients");
		} else {
			f->data = xcalloc(1, sizeof(*f->data));
			lmtp_data_init(f->data, f->set->max_size);
			reply(f, "354 End data with <CR><LF>.<CR><LF>");
		}
		return;
	case LMTP_CMD_RSET:
		reset_transaction(f);
		reply(f, "250 2.0.0 OK");
		return;
	case LMTP_CMD_NOOP:
		reply(f, "250 2.0.0 OK");
		return;
	case LMTP_CMD_VRFY:
		/* RFC 5321 3.5.3: we do not tell who exists. */
		reply(f, "252 2.5.0 Cannot VRFY user, but will accept message");
		return;
	case LMTP_CMD_QUIT:
		reply(f, "221 2.0.0 Bye");
		f->closing = true;
		return;
	}
}

/* Runs what is complete in f->in. */
static void
process(struct front *f)
{
	while (!f->closing && buf_len(f->in) > 0) {
		const uint8_t *p = buf_data(f->in);
		size_t len = buf_len(f->in);
		const uint8_t *lf;
		size_t n;

		if (f->data != NULL) {
			/* The 354 goes out before we wait for the data. */
			n = lmtp_data_feed(f->data, p, len);
			buf_consume(f->in, n);
			if (f->data->done) {
				if (flush(f) < 0) {
					f->closing = true;
					return;
				}
				data_done(f);
			}
			continue;
		}
		lf = memchr(p, '\n', len);
		n = lf != NULL ? (size_t)(lf - p) + 1 : len;
		if (n > LMTP_CMD_LINE_MAX) {
			/* RFC 5321 4.5.3.1.4; whether its LF has come yet
			 * or not: what follows could be anything. */
			reply(f, "500 5.5.2 Line too long");
			reply(f, "421 4.7.0 Closing connection");
			f->closing = true;
			return;
		}
		if (lf == NULL)
			return;
		n = (size_t)(lf - p);
		command(f, (const char *)p, n > 0 && p[n - 1] == '\r' ?
			n - 1 : n);
		buf_consume(f->in, n + 1);
	}
}

void
front_run(int fd, int mon, const struct front_settings *set)
{
	struct front *f = xcalloc(1, sizeof(*f));
	char greet[300];

	f->fd = fd;
	f->mon = mon;
	f->set = set;
	f->in = buf_new(FRONT_IN_MAX);
	f->out = buf_new(FRONT_OUT_MAX);
	f->rcpts = xcalloc(set->max_rcpts, sizeof(*f->rcpts));
	snprintf(greet, sizeof(greet), "220 %s Moat LMTP ready",
		 set->hostname);
	reply(f, greet);
	while (!f->closing) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint8_t *w;
		ssize_t n;
		int pr;

		/* PIPELINING: the queued replies go out before we block. */
		if (flush(f) < 0)
			break;
		pr = poll(&pfd, 1, (int)set->timeout_ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			reply(f, "421 4.4.2 Timeout, closing connection");
			break;
		}
		w = buf_reserve(f->in, 16384);
		if (w == NULL) {
			/* Full without a complete line: process() said so. */
			break;
		}
		n = recv(fd, w, 16384, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		buf_commit(f->in, (size_t)n);
		process(f);
	}
	(void)flush(f);
	if (f->data != NULL) {
		lmtp_data_free(f->data);
		free(f->data);
	}
	buf_free(&f->in);
	buf_free(&f->out);
	free(f->rcpts);
	free(f);
}
