/*
 * store-bench: times the store on a large Maildir, without the IMAP
 * layer: the first SELECT (index build), a warm SELECT, a NOOP, a
 * FETCH-like walk of the view (UID FLAGS), INTERNALDATE/RFC822.SIZE of
 * every message, STORE +FLAGS \Seen on all, and APPEND with fsync.
 *
 *   store-bench [-n COUNT] [-p] [-a APPENDS] [-s] DIR
 *     -n  messages to generate (default 100000) into DIR/Maildir/cur,
 *         unless DIR/Maildir exists already (then it is used as it is)
 *     -p  plain names (no ,S=/,W=: every file must be stat'ed)
 *     -a  APPENDs to time with fsync on (default 200)
 *     -s  also time STORE 1:* +FLAGS \Seen (renames every file)
 *
 * Each step runs in a fresh process where it matters (the first and the
 * warm SELECT), so the index cache starts as a new session's would.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "storage/store.h"

static char maildir[4096], index_dir[4096], location[4200];

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what, const char *detail)
{
	fprintf(stderr, "store-bench: %s: %s\n", what, detail);
	exit(1);
}

static struct store *
open_store(bool fsync_on)
{
	struct store_settings set = {
		.location = location, .index_dir = index_dir, .user = "bench",
		.fsync = fsync_on, .max_message_size = 64 << 20,
	};
	struct store_error err;
	struct store *s;

	if (store_open(&set, &s, &err) < 0)
		die("store_open", err.detail);
	return s;
}

static void
generate(unsigned n, bool plain)
{
	char path[8300], body[2048];
	unsigned long t0 = 1600000000;

	snprintf(path, sizeof(path), "%s", maildir);
	if (mkdir(path, 0700) < 0)
		die("mkdir", strerror(errno));
	for (const char *sub = "cur"; sub != NULL;
	     sub = strcmp(sub, "cur") == 0 ? "new" :
		   strcmp(sub, "new") == 0 ? "tmp" : NULL) {
		snprintf(path, sizeof(path), "%s/%s", maildir, sub);
		if (mkdir(path, 0700) < 0)
			die("mkdir", strerror(errno));
	}
	for (unsigned i = 0; i < n; i++) {
		size_t len, lines = 0;
		FILE *f;

		len = (size_t)snprintf(body, sizeof(body),
			"Return-Path: <sender%u@example.org>\n"
			"From: Sender %u <sender%u@example.org>\n"
			"To: user@example.org\n"
			"Subject: message number %u\n"
			"Date: Mon, 1 Jan 2024 00:00:00 +0000\n"
			"Message-ID: <%u@example.org>\n"
			"\n"
			"This is the body of message %u.\n"
			"It has a few lines of text, like most mail does.\n"
			"-- \nsender\n", i % 97, i % 97, i % 97, i, i, i);
		for (size_t k = 0; k < len; k++)
			lines += body[k] == '\n';
		if (plain)
			snprintf(path, sizeof(path),
				 "%s/cur/%lu.M%uP1234Q%u.bench:2,%s", maildir,
				 t0 + i, i % 1000000, i, i % 3 ? "S" : "");
		else
			snprintf(path, sizeof(path),
				 "%s/cur/%lu.M%uP1234Q%u.bench,S=%zu,W=%zu:2,%s",
				 maildir, t0 + i, i % 1000000, i, len,
				 len + lines, i % 3 ? "S" : "");
		if ((f = fopen(path, "w")) == NULL)
			die("create", strerror(errno));
		fwrite(body, 1, len, f);
		fclose(f);
	}
}

static long
rss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* SELECT INBOX in a fresh process; prints the time. */
static void
time_select(const char *label)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	int st;

	if (pid == 0) {
		double t0 = now(), t1, t2;
		struct store *s = open_store(false);
		struct mailbox *mb;

		t1 = now();
		if (mailbox_open(s, "INBOX", false, &mb) < 0)
			die("select", store_error(s)->detail);
		t2 = now();
		printf("%-28s %9.1f ms (store_open %.1f ms, SELECT %.1f ms, "
		       "%zu messages, max RSS %ld kB)\n", label,
		       (t2 - t0) * 1e3, (t1 - t0) * 1e3, (t2 - t1) * 1e3,
		       mailbox_view(mb)->n, rss_kb());
		mailbox_close(&mb);
		store_free(&s);
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		exit(1);
}

static void
time_session(unsigned appends, bool do_store)
{
	struct store *s = open_store(false);
	const struct mailbox_changes *ch;
	const struct mailbox_view *v;
	struct mailbox *mb;
	struct buf *out = buf_new(64 << 20);
	double t0;
	uint64_t total = 0;

	if (mailbox_open(s, "INBOX", false, &mb) < 0)
		die("select", store_error(s)->detail);
	v = mailbox_view(mb);

	t0 = now();
	if (mailbox_sync(mb, MAILBOX_SYNC_EXPUNGES, &ch) < 0)
		die("sync", store_error(s)->detail);
	printf("%-28s %9.3f ms\n", "NOOP (unchanged)", (now() - t0) * 1e3);

	t0 = now();
	for (size_t i = 0; i < v->n; i++) {
		const struct store_msg *m = &v->msgs[i];

		buf_printf(out, "* %zu FETCH (UID %u FLAGS (%s%s%s))\r\n",
			   i + 1, m->uid,
			   m->flags & STORE_F_SEEN ? "\\Seen" : "",
			   m->flags & STORE_F_FLAGGED ? " \\Flagged" : "",
			   m->recent ? " \\Recent" : "");
	}
	printf("%-28s %9.1f ms (%zu bytes of responses)\n",
	       "FETCH 1:* (UID FLAGS)", (now() - t0) * 1e3, buf_len(out));
	buf_reset(out);

	t0 = now();
	for (size_t i = 0; i < v->n; i++) {
		time_t d;
		uint64_t sz;

		if (mailbox_msg_info(mb, (uint32_t)(i + 1), &d, &sz) < 0)
			die("msg_info", store_error(s)->detail);
		total += sz;
	}
	printf("%-28s %9.1f ms (%" PRIu64 " bytes in all)\n",
	       "FETCH 1:* (INTERNALDATE RFC822.SIZE), first", (now() - t0) * 1e3,
	       total);
	t0 = now();
	for (size_t i = 0; i < v->n; i++) {
		time_t d;
		uint64_t sz;

		if (mailbox_msg_info(mb, (uint32_t)(i + 1), &d, &sz) < 0)
			die("msg_info", store_error(s)->detail);
	}
	printf("%-28s %9.1f ms\n", "  ... again", (now() - t0) * 1e3);

	if (do_store) {
		uint32_t *seqs = malloc(v->n * sizeof(*seqs));

		for (size_t i = 0; i < v->n; i++)
			seqs[i] = (uint32_t)(i + 1);
		t0 = now();
		if (mailbox_store_flags(mb, seqs, v->n, STORE_FLAGS_ADD,
					STORE_F_FLAGGED, NULL) < 0)
			die("store", store_error(s)->detail);
		printf("%-28s %9.1f ms\n", "STORE 1:* +FLAGS \\Flagged",
		       (now() - t0) * 1e3);
		t0 = now();
		if (mailbox_sync(mb, MAILBOX_SYNC_EXPUNGES, &ch) < 0)
			die("sync", store_error(s)->detail);
		printf("%-28s %9.1f ms (%zu flag changes reported)\n",
		       "NOOP after it", (now() - t0) * 1e3,
		       ch->n_flag_changes);
		free(seqs);
	}
	mailbox_close(&mb);
	store_free(&s);
	buf_free(&out);

	if (appends > 0) {
		static const char msg[] =
			"From: a@example.org\r\nTo: b@example.org\r\n"
			"Subject: appended\r\n\r\nA short appended message.\r\n";
		struct store_new_msg m = { .data = msg, .len = sizeof(msg) - 1 };
		uint32_t uv, uid;

		s = open_store(true);
		t0 = now();
		for (unsigned i = 0; i < appends; i++)
			if (store_append(s, "INBOX", &m, 1, &uv, &uid) < 0)
				die("append", store_error(s)->detail);
		printf("%-28s %9.0f /s (%u with fsync)\n", "APPEND",
		       appends / (now() - t0), appends);
		store_free(&s);
	}
}

int
main(int argc, char **argv)
{
	unsigned n = 100000, appends = 200;
	bool plain = false, do_store = false;
	struct stat st;
	double t0;
	int c;

	while ((c = getopt(argc, argv, "n:pa:s")) != -1) {
		switch (c) {
		case 'n':
			n = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'p':
			plain = true;
			break;
		case 'a':
			appends = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 's':
			do_store = true;
			break;
		default:
			fprintf(stderr, "usage: store-bench [-n COUNT] [-p] "
				"[-a APPENDS] [-s] DIR\n");
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: store-bench [-n COUNT] [-p] "
			"[-a APPENDS] [-s] DIR\n");
		return 2;
	}
	snprintf(maildir, sizeof(maildir), "%s/Maildir", argv[optind]);
	snprintf(index_dir, sizeof(index_dir), "%s/index", argv[optind]);
	snprintf(location, sizeof(location), "maildir:%s", maildir);
	if (stat(maildir, &st) < 0) {
		t0 = now();
		generate(n, plain);
		printf("%-28s %9.1f ms (%u files)\n", "generate", (now() - t0) *
		       1e3, n);
	}
	time_select("first SELECT (index build)");
	time_select("warm SELECT");
	time_session(appends, do_store);
	return 0;
}
