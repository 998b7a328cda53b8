/*
 * moat-deliver: local delivery for procmail and Postfix's
 * mailbox_command (and Exim's pipe transport). Reads one message on
 * stdin and puts it into the invoking user's INBOX (or -m FOLDER, INBOX
 * if that does not exist) through the same code as moat-lmtp's
 * deliveries, so the index is updated at once. It runs as whoever runs
 * it and never gains privileges: it is not setuid, and refuses to run
 * as root (the MTA must run it as the recipient).
 *
 *   moat-deliver [-c CONFIG] [-f SENDER] [-a ADDRESS] [-m FOLDER]
 *
 * Exit codes (sysexits.h, which MTAs read): 0 delivered; 64 usage;
 * 65 (EX_DATAERR) message too big; 67 (EX_NOUSER) the invoking uid has
 * no passwd entry; 75 (EX_TEMPFAIL) any temporary failure (store, lock,
 * disk full, quota, unreadable config): the MTA keeps the message and
 * retries; 77 (EX_NOPERM) run as root.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "core/str.h"
#include "lmtp/deliver.h"
#include "lmtp/lmtp-proto.h"
#include "storage/mbox-lock.h"
#include "storage/store.h"

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: moat-deliver [-c CONFIG] [-f SENDER] "
		"[-a ADDRESS] [-m FOLDER]\n");
	exit(EX_USAGE);
}

/* A sender or address given on the command line goes into a header:
 * printable ASCII only, bounded. */
static const char *
arg_address(const char *s)
{
	if (strlen(s) > LMTP_PATH_MAX)
		usage();
	for (const char *p = s; *p != '\0'; p++)
		if ((unsigned char)*p < 33 || (unsigned char)*p > 126 ||
		    *p == '<' || *p == '>')
			usage();
	return s;
}

/* The whole of stdin, at most max bytes (one more says "too big"). */
static int
read_stdin(struct buf *b, uint64_t max, bool *too_big)
{
	*too_big = false;
	for (;;) {
		uint8_t chunk[65536];
		ssize_t n = read(0, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		if (buf_len(b) + (size_t)n > max) {
			*too_big = true;
			continue;    /* read to the end: the MTA's pipe */
		}
		if (buf_append(b, chunk, (size_t)n) < 0)
			*too_big = true;
	}
}

static int
exit_code(enum deliver_result r)
{
	switch (r) {
	case DELIVER_OK:
		return EX_OK;
	case DELIVER_TOOBIG:
		return EX_DATAERR;
	case DELIVER_NOUSER:
		return EX_NOUSER;
	case DELIVER_QUOTA:
	case DELIVER_TEMP:
		break;
	}
	return EX_TEMPFAIL;
}

/* Everything after the config: reads, delivers, returns the exit code. */
static int
deliver_stdin(const struct moat_config *cfg, const struct passwd *pw,
	      struct buf *msg, const char *sender, const char *addr,
	      const char *folder)
{
	struct store_settings set;
	struct deliver_req rq;
	enum deliver_result r;
	char why[512];
	bool too_big;
	char *loc;

	if (read_stdin(msg, cfg->max_message_size, &too_big) < 0) {
		fprintf(stderr, "moat-deliver: reading the message: %s\n",
			strerror(errno));
		return EX_TEMPFAIL;
	}
	if (too_big) {
		fprintf(stderr, "moat-deliver: message larger than "
			"max_message_size\n");
		return EX_DATAERR;
	}
	/* A home we cannot enter matters only if the store is in it (a
	 * system user such as nobody with absolute locations is fine). */
	if (chdir(pw->pw_dir) < 0 && (strchr(cfg->mail_location, '~') != NULL ||
				      cfg->mail_index[0] == '~')) {
		fprintf(stderr, "moat-deliver: cannot enter %s: %s\n",
			pw->pw_dir, strerror(errno));
		return EX_TEMPFAIL;
	}
	/* An mbox INBOX in the spool needs the setgid dotlock helper,
	 * as an imap session does (lib/storage/mbox-lock.h). */
	loc = deliver_expand(cfg->mail_location, pw->pw_dir, pw->pw_name);
	if (loc != NULL) {
		memset(&set, 0, sizeof(set));
		set.location = loc;
		set.user = pw->pw_name;
		if (store_needs_lock_helper(&set) &&
		    mbox_lock_helper_start() < 0)
			fprintf(stderr, "moat-deliver: cannot start the "
				"dotlock helper: %s\n", strerror(errno));
		free(loc);
	}
	memset(&rq, 0, sizeof(rq));
	rq.user = pw->pw_name;
	rq.home = pw->pw_dir;
	rq.mail = cfg->mail_location;
	rq.index = cfg->mail_index;
	rq.fsync = cfg->mail_fsync;
	rq.no_fts = !cfg->search_fts;
	rq.max_size = cfg->max_message_size;
	rq.sender = sender;
	rq.rcpt = addr;
	rq.folder = folder;
	rq.data = buf_data(msg);
	rq.len = buf_len(msg);
	r = deliver_message(&rq, why, sizeof(why));
	mbox_lock_helper_stop();
	if (r != DELIVER_OK)
		fprintf(stderr, "moat-deliver: %s: %s\n", deliver_reply(r), why);
	return exit_code(r);
}

int
main(int argc, char **argv)
{
	const char *cfg_path = config_default_path(), *sender = "MAILER-DAEMON";
	const char *addr = NULL, *folder = NULL, *envsender;
	struct moat_config *cfg = NULL;
	struct passwd *pw;
	char err[512];
	struct buf *msg;
	int opt, rc;

	/* Postfix's local(8) gives the sender in $SENDER. */
	envsender = getenv("SENDER");
	if (envsender != NULL && envsender[0] != '\0')
		sender = arg_address(envsender);
	while ((opt = getopt(argc, argv, "c:f:a:m:")) != -1) {
		switch (opt) {
		case 'c':
			cfg_path = optarg;
			break;
		case 'f':
			sender = optarg[0] == '\0' ? "" : arg_address(optarg);
			break;
		case 'a':
			addr = arg_address(optarg);
			break;
		case 'm':
			folder = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	log_init_child("moat-deliver");
	if (geteuid() == 0 || getuid() == 0) {
		fprintf(stderr, "moat-deliver: refusing to deliver as root; "
			"the MTA must run it as the recipient\n");
		return EX_NOPERM;
	}
	errno = 0;
	pw = getpwuid(getuid());
	if (pw == NULL) {
		fprintf(stderr, "moat-deliver: uid %u has no passwd entry\n",
			(unsigned int)getuid());
		return errno == 0 || errno == ENOENT ? EX_NOUSER : EX_TEMPFAIL;
	}
	if (config_load(cfg_path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "moat-deliver: %s\n", err);
		return EX_TEMPFAIL;
	}
	msg = buf_new(cfg->max_message_size + 1);
	rc = deliver_stdin(cfg, pw, msg, sender, addr, folder);
	buf_free(&msg);
	config_free(&cfg);
	return rc;
}

