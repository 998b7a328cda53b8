/*
 * libFuzzer harness for the authenticated session's command layer
 * (imap/client.c, imap-commands.c, cmd-*.c, imap-args.c, imap-sync.c,
 * imap-list-match.c, imap-search*.c, cmd-search.c): the input is what a logged-in, hostile client
 * sends, run through a real session on a socketpair in this process,
 * against the in-memory store of the tests (tests/imapd/fake-store.c:
 * INBOX with three messages, a keyword, subfolders, a subscription, and
 * another session expunging and appending meanwhile). Every command and
 * argument parser is reached: FETCH items and partials, STORE flags,
 * sequence sets against the mailbox, LIST patterns and options, APPEND
 * dates and literals, mailbox names in modified UTF-7. A crash, a
 * sanitizer report or a hang (the session must always end at EOF) is a
 * finding; the output is only drained.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/ev.h"
#include "core/ipc-proto.h"
#include "core/log.h"
#include "core/str.h"
#include "imap/client.h"
#include "imap/session.h"
#include "../tests/imapd/fake-store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static int devnull = -1, saved_stderr = -1;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* The session logs every refusal to fd 2: that goes to /dev/null
	 * while a session runs, libFuzzer's own reports do not. */
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	saved_stderr = dup(2);
	if (devnull < 0 || saved_stderr < 0)
		abort();
	log_init_child("imap");
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void
setup_store(void)
{
	fake_store_reset();
	fake_store_add_box("INBOX", 0, true);
	fake_store_add_msg("INBOX", STORE_F_SEEN,
			   "Subject: one\r\n\r\nbody one\r\n", 1700000000);
	fake_store_add_msg("INBOX", 0, "Subject: two\r\n\r\nbody\r\n",
			   1700000000);
	fake_store_add_msg("INBOX", STORE_F_DELETED, "Subject: 3\r\n\r\nx\r\n",
			   1700000000);
	/* For the SEARCH header and date keys. */
	fake_store_add_msg("INBOX", STORE_F_ANSWERED,
			   "From: A <a@example.org>\r\nTo: b@example.org\r\n"
			   "Date: Mon, 1 Jan 2024 10:00:00 +0100\r\n"
			   "Subject: four\r\n folded\r\n\r\nbody four\r\n",
			   1600000000);
	fake_store_add_box("Archive", STORE_LIST_ARCHIVE, false);
	fake_store_add_box("a/b", 0, true);
	fake_store_subscribe("gone/x");
	fake_store_event(2, FAKE_EXPUNGE, "INBOX", 2, 0, NULL);
	fake_store_event(3, FAKE_APPEND, "INBOX", 0, 0, "Subject: new\r\n\r\n");
	fake_store_event(4, FAKE_FLAGS, "INBOX", 1, STORE_F_FLAGGED, NULL);
}

/* Reads and drops the session's output so it never blocks on us. */
static void
drain_cb(struct ev_io *io, int fd, unsigned int events, void *ctx)
{
	struct ev_io **self = ctx;
	char buf[65536];
	ssize_t n;

	(void)io;
	(void)events;
	n = read(fd, buf, sizeof(buf));
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		ev_io_del(self);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct session_info si;
	struct ev_io *drain;
	struct client *c;
	struct ev *ev;
	int sv[2];

	/* What fits the hand-off of pipelined bytes is what we feed. */
	if (size > IPC_PIPELINED_MAX)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       sv) < 0)
		abort();
	setup_store();
	memset(&si, 0, sizeof(si));
	session_info_defaults(&si);
	si.fd = sv[0];
	str_copy(si.user, "fuzz", sizeof(si.user));
	str_copy(si.home, "/nonexistent", sizeof(si.home));
	str_copy(si.mail, "maildir:~/Maildir", sizeof(si.mail));
	str_copy(si.index, "/nonexistent/index", sizeof(si.index));
	str_copy(si.tag, "a0", sizeof(si.tag));
	str_copy(si.remote_ip, "127.0.0.1", sizeof(si.remote_ip));
	str_copy(si.local_ip, "127.0.0.1", sizeof(si.local_ip));
	si.pipelined = data;
	si.pipelined_len = size;
	/* The client then sees EOF: the session must end by itself. */
	shutdown(sv[1], SHUT_WR);
	ev = ev_new();
	drain = ev_io_add(ev, sv[1], EV_READ, drain_cb, &drain);
	dup2(devnull, 2);
	c = client_new(ev, &si);
	if (!c->closed && ev_run(ev) < 0)
		abort();
	client_free(&c);
	dup2(saved_stderr, 2);
	ev_io_del(&drain);
	ev_free(&ev);
	close(sv[1]);
	fake_store_reset();
	return 0;
}
