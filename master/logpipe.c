/*
 * logpipe: children's stderr. Each child writes one record per line,
 * "<L>text" (log.h), into a pipe whose read end moatd watches; moatd
 * forwards every line with log_forward_line, which adds the program,
 * pid and, for imap sessions, the user and client address, and escapes
 * control characters.
 *
 * Callers: children.c (one logpipe per child).
 * Trust: the bytes come from children that may be compromised. Lines are
 * cut at LOG_LINE_MAX (the rest up to the newline is dropped), and each
 * wake-up reads a bounded amount, so a child can neither grow moatd's
 * memory nor starve other children by logging.
 *
 * A pipe can outlive its child (a grandchild still holds it, or the exit
 * was reaped before the last lines were read), so it lives until EOF.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/str.h"
#include "master/master.h"

struct logpipe {
	struct list link;
	int fd;
	struct ev_io *io;
	struct logpipe **owner;     /* the child's pointer to us, or NULL */
	pid_t pid;
	char procname[32];
	char *user;
	char rip[NET_ADDR_MAX];
	bool skipping;              /* dropping the tail of a long line */
	size_t len;
	char buf[LOG_LINE_MAX];
};

static struct list logpipes = LIST_INIT(logpipes);

static void
lp_forward(struct logpipe *lp, const char *line, size_t len)
{
	if (len == 0)
		return;
	log_forward_line(lp->procname, lp->pid, lp->user,
			 lp->rip[0] != '\0' ? lp->rip : NULL, line, len);
}

/* Forwards every complete line in the buffer and keeps the rest. */
static void
lp_lines(struct logpipe *lp)
{
	size_t start = 0;
	char *nl;

	while (start < lp->len &&
	       (nl = memchr(lp->buf + start, '\n', lp->len - start)) != NULL) {
		size_t end = (size_t)(nl - lp->buf);

		if (lp->skipping)
			lp->skipping = false;
		else
			lp_forward(lp, lp->buf + start, end - start);
		start = end + 1;
	}
	if (start > 0) {
		memmove(lp->buf, lp->buf + start, lp->len - start);
		lp->len -= start;
	}
	if (lp->len == sizeof(lp->buf)) {
		/* A line longer than allowed: keep its head, drop the rest. */
		if (!lp->skipping)
			lp_forward(lp, lp->buf, lp->len);
		lp->skipping = true;
		lp->len = 0;
	}
}

static void
lp_free(struct logpipe *lp)
{
	if (lp->len > 0 && !lp->skipping)
		lp_forward(lp, lp->buf, lp->len);
	ev_io_del(&lp->io);
	close(lp->fd);
	if (lp->owner != NULL)
		*lp->owner = NULL;
	list_del(&lp->link);
	free(lp->user);
	free(lp);
}

/* Reads up to max times; returns false when the pipe was freed. */
static bool
lp_read(struct logpipe *lp, int max)
{
	for (int i = 0; i < max; i++) {
		ssize_t n = read(lp->fd, lp->buf + lp->len,
				 sizeof(lp->buf) - lp->len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n <= 0) {
			lp_free(lp);
			return false;
		}
		lp->len += (size_t)n;
		lp_lines(lp);
	}
	return true;
}

static void
lp_cb(struct ev_io *io, int fd, unsigned int events, void *ctx)
{
	(void)lp_read(ctx, 16);
}

struct logpipe *
logpipe_new(int rfd, const char *procname, const char *user,
	    const char *rip)
{
	struct logpipe *lp = xcalloc(1, sizeof(*lp));

	lp->fd = rfd;
	str_copy(lp->procname, procname, sizeof(lp->procname));
	if (user != NULL)
		lp->user = xstrdup(user);
	if (rip != NULL)
		str_copy(lp->rip, rip, sizeof(lp->rip));
	lp->io = ev_io_add(master.ev, rfd, EV_READ, lp_cb, lp);
	list_add_tail(&logpipes, &lp->link);
	return lp;
}

void
logpipe_set_pid(struct logpipe *lp, pid_t pid)
{
	lp->pid = pid;
}

void
logpipe_set_owner(struct logpipe *lp, struct logpipe **owner)
{
	lp->owner = owner;
}

void
logpipe_detach(struct logpipe *lp)
{
	lp->owner = NULL;
	/* Pick up the last records now, so they are logged before the
	 * exit status. */
	(void)lp_read(lp, 64);
}

void
logpipe_drain_all(void)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &logpipes) {
		struct logpipe *lp = list_entry(pos, struct logpipe, link);

		if (lp_read(lp, 64))
			lp_free(lp);
	}
}
