/* Tests for the mbox backend (lib/storage/mbox*.c) through store.h:
 * APPEND and FETCH (LF on disk, CRLF served, mboxo quoting), sync with
 * an MDA appending and mutt-like programs rewriting the file (UIDs
 * kept, Status merged), X-UID/X-IMAPbase migration, EXPUNGE in place
 * with crashes (SIGKILL) at every step and mail delivered meanwhile,
 * ENOSPC-like failures before the mbox is touched, and the root:mail
 * spool as a real user under NO_NEW_PRIVS with the dotlock helper. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <lockfile.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../index/util.h"
#include "store-util.h"
#include "storage/mbox-lock.h"
#include "storage/mbox-parse.h"
#include "storage/mbox-private.h"
#include "storage/mbox-serve.h"
#include "storage/store.h"
#include "storage/store-private.h"

static char *dir, *root, *spool, *inbox, *idxdir, *loc;

static void
setup(void)
{
	dir = tu_tmpdir();
	root = tu_path(dir, "mail");
	spool = tu_path(dir, "spool");
	inbox = tu_path(spool, "user");
	idxdir = tu_path(dir, "index");
	cr_assert_eq(mkdir(spool, 0700), 0);
	if (asprintf(&loc, "mbox:%s:INBOX=%s", root, inbox) < 0)
		abort();
	mbox_lock_default_timeout_ms = 3000;
}

static void
teardown(void)
{
	tu_rmrf(dir);
	free(dir);
	free(root);
	free(spool);
	free(inbox);
	free(idxdir);
	free(loc);
}

TestSuite(mbox, .init = setup, .fini = teardown, .timeout = 120);

/* ---- helpers ------------------------------------------------------- */

static struct store *
open_store_as(const char *location, const char *index, const char *user,
	      struct store_error *err)
{
	struct store_settings set = {
		.location = location, .index_dir = index, .user = user,
		.fsync = true, .max_message_size = 0,
	};
	struct store *s = NULL;

	if (store_open(&set, &s, err) < 0)
		return NULL;
	return s;
}

static struct store *
open_store(void)
{
	struct store_error err;
	struct store *s = open_store_as(loc, idxdir, "user", &err);

	cr_assert_not_null(s, "store_open: %s", err.detail);
	return s;
}

static char *
slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	char *b;

	if (fd < 0)
		return NULL;
	fstat(fd, &st);
	b = malloc((size_t)st.st_size + 1);
	if (tu_read_all(fd, b, (size_t)st.st_size) < 0 && st.st_size > 0)
		abort();
	b[st.st_size] = '\0';
	close(fd);
	if (len != NULL)
		*len = (size_t)st.st_size;
	return b;
}

static void
spit(const char *path, const char *text)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);

	cr_assert_geq(fd, 0);
	cr_assert_eq(tu_write_all(fd, text, strlen(text)), 0);
	close(fd);
}

/* LF -> CRLF, as an IMAP client sends it. */
static char *
crlf(const char *lf)
{
	size_t n = strlen(lf), k = 0;
	char *o = malloc(2 * n + 1);

	for (size_t i = 0; i < n; i++) {
		if (lf[i] == '\n' && (i == 0 || lf[i - 1] != '\r'))
			o[k++] = '\r';
		o[k++] = lf[i];
	}
	o[k] = '\0';
	return o;
}

/* An MDA (postfix local order: dotlock first, then a blocking fcntl
 * lock) appending one message, already mboxo-quoted, LF. */
static void
mda_deliver(const char *path, const char *from_line, const char *msg)
{
	char lock[4096];
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	size_t n = strlen(msg);

	snprintf(lock, sizeof(lock), "%s.lock", path);
	TU_CHECK(fd >= 0, "mda open: %m");
	TU_CHECK(lockfile_create(lock, 10, L_PID) == 0, "mda dotlock");
	TU_CHECK(fcntl(fd, F_SETLKW, &fl) == 0, "mda fcntl: %m");
	TU_CHECK(tu_write_all(fd, from_line, strlen(from_line)) == 0 &&
		 tu_write_all(fd, "\n", 1) == 0 &&
		 tu_write_all(fd, msg, n) == 0 &&
		 (n > 0 && msg[n - 1] == '\n' ? 0 :
		  tu_write_all(fd, "\n", 1)) == 0 &&
		 tu_write_all(fd, "\n", 1) == 0, "mda write");
	fl.l_type = F_UNLCK;
	fcntl(fd, F_SETLK, &fl);
	lockfile_remove(lock);
	close(fd);
}

static char *
fetch(struct mailbox *mb, uint32_t seq, uint64_t *sizep)
{
	int fd;
	off_t off;
	uint64_t size;
	char *b;

	if (mailbox_msg_open(mb, seq, &fd, &off, &size) < 0)
		return NULL;
	b = malloc(size + 1);
	for (uint64_t done = 0; done < size;) {
		ssize_t r = pread(fd, b + done, size - done, off + (off_t)done);

		if (r <= 0)
			abort();
		done += (uint64_t)r;
	}
	b[size] = '\0';
	close(fd);
	if (sizep != NULL)
		*sizep = size;
	return b;
}

static const char *const M[] = {
	"From: a@example.org\nTo: u@example.org\nSubject: one\n"
	"Message-ID: <1@example.org>\n\nbody one\n",
	"From: b@example.org\nTo: u@example.org\nSubject: two\n"
	"Message-ID: <2@example.org>\n\nbody two\nFrom here on\n>From there\n",
	"From: c@example.org\nTo: u@example.org\nSubject: three\n"
	"Message-ID: <3@example.org>\n\nbody three\n\nwith a blank line\n",
	"From: d@example.org\nTo: u@example.org\nSubject: four\n"
	"Message-ID: <4@example.org>\n\nbody four\n",
	"From: e@example.org\nTo: u@example.org\nSubject: five\n"
	"Message-ID: <5@example.org>\n\nbody five\n",
	"From: f@example.org\nTo: u@example.org\nSubject: six\n"
	"Message-ID: <6@example.org>\n\nbody six\n",
};
#define NM (sizeof(M) / sizeof(M[0]))
#define FROM_LINE "From sender@example.org Mon Jan  1 10:00:00 2024"

/* The bodies as mboxo stores them (M[1] has a "From " line). */
static const char *
stored(int i)
{
	static char q[NM][512];
	const char *p = M[i];
	size_t k = 0;
	bool bol = true;

	for (; *p != '\0'; p++) {
		if (bol && strncmp(p, "From ", 5) == 0)
			q[i][k++] = '>';
		q[i][k++] = *p;
		bol = *p == '\n';
	}
	q[i][k] = '\0';
	return q[i];
}

/* An mbox of messages idx[0..n-1] as an MDA writes it. */
static void
write_mbox(const char *path, const int *idx, size_t n)
{
	char buf[8192];
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += (size_t)snprintf(buf + k, sizeof(buf) - k, "%s\n%s\n",
				      FROM_LINE, stored(idx[i]));
	buf[k] = '\0';
	spit(path, buf);
}

static uint32_t
uid_at(struct mailbox *mb, size_t seq)
{
	const struct mailbox_view *v = mailbox_view(mb);

	cr_assert_leq(seq, v->n);
	return v->msgs[seq - 1].uid;
}

/* The served form of M[i]: CRLF. */
static void
assert_served(struct mailbox *mb, uint32_t seq, int i)
{
	uint64_t size;
	char *got = fetch(mb, seq, &size), *want = crlf(stored(i));

	cr_assert_not_null(got, "fetch %u: %s", seq,
			   store_error(mb->store)->detail);
	cr_assert_str_eq(got, want, "message %u: got\n%s\nwant\n%s", seq, got,
			 want);
	cr_assert_eq(size, strlen(want));
	free(got);
	free(want);
}

/* Indexes (into M) of the file's messages, in file order; -1 for a
 * message that is none of them (a torn file). */
struct file_msgs {
	size_t n;
	int idx[64];
	const char *data;
};

static int
on_file_msg(void *ctx, const struct mbox_msg *m)
{
	struct file_msgs *f = ctx;
	int which = -1;

	for (int i = 0; i < (int)NM; i++) {
		const char *s = stored(i);
		size_t l = strlen(s);

		/* length excludes the blank separator line only */
		if (m->length == l && memcmp(f->data + m->offset, s, l) == 0)
			which = i;
	}
	if (f->n < 64)
		f->idx[f->n++] = which;
	return 0;
}

static void
file_msgs(const char *path, struct file_msgs *f)
{
	size_t len;
	char *data = slurp(path, &len);
	struct mbox_parser *p;

	memset(f, 0, sizeof(*f));
	TU_CHECK(data != NULL, "read %s", path);
	f->data = data;
	p = mbox_parser_new(0, on_file_msg, f);
	mbox_parser_feed(p, data, len);
	mbox_parser_finish(p);
	mbox_parser_free(&p);
	free(data);
	f->data = NULL;
}

/* ---- the served form (mbox_serve) --------------------------------- */

static const struct {
	const char *in, *out;
} serve_cases[] = {
	{ "", "" },
	{ "A: 1\nStatus: RO\nB: 2\n\nbody\n",
	  "A: 1\r\nB: 2\r\n\r\nbody\r\n" },
	/* continuation lines go with their field */
	{ "X-UID: 5\n  more\n\tmore\nA: x\n  kept\n\nb",
	  "A: x\r\n  kept\r\n\r\nb" },
	/* names case-insensitive, blanks before the colon, repeats */
	{ "status : R\nSTATUS: O\nx-keywords: a\nX-IMAPbase: 1 2\n"
	  "X-IMAP: 1 2\nContent-Length: 3\nLines: 1\nX-Status: F\n\n",
	  "\r\n" },
	{ "X-Status2: a\nX-UIDs: 1\nStatu: 2\n\n",
	  "X-Status2: a\r\nX-UIDs: 1\r\nStatu: 2\r\n\r\n" },
	/* already CRLF, and a lone CR */
	{ "A: 1\r\nStatus: R\r\n\r\nb\r\n", "A: 1\r\n\r\nb\r\n" },
	{ "A: 1\rx\n\nb\r", "A: 1\rx\r\n\r\nb\r" },
	/* only the header: the body keeps such lines */
	{ "A: 1\n\nStatus: RO\nX-UID: 1\n", "A: 1\r\n\r\nStatus: RO\r\n"
	  "X-UID: 1\r\n" },
	/* a header that runs to the end, without a final line break */
	{ "Status: R\nA: b", "A: b" },
	{ "A: b\nStatus: R", "A: b\r\n" },
	/* a continuation before any field is shown (as mbox_parse hashes
	 * it); a name longer than 64 bytes is no field we know */
	{ " lead\nA: 1\n\n", " lead\r\nA: 1\r\n\r\n" },
	{ "Xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xStatus: 1\n\n",
	  "Xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xStatus: 1\r\n\r\n" },
	/* ">From " stays quoted */
	{ "A: 1\n\n>From x\n", "A: 1\r\n\r\n>From x\r\n" },
	/* "\r\n" ends the header as "\n" does */
	{ "A: 1\n\r\nStatus: 1\n", "A: 1\r\n\r\nStatus: 1\r\n" },
};

Test(mbox, serve_hides_rewritable_fields_and_serves_crlf)
{
	for (size_t i = 0; i < sizeof(serve_cases) / sizeof(serve_cases[0]);
	     i++) {
		const char *in = serve_cases[i].in, *want = serve_cases[i].out;
		size_t n = strlen(in);
		struct buf *a = buf_new(4096), *b = buf_new(4096);
		struct mbox_serve v;

		mbox_serve_init(&v);
		cr_assert_eq(mbox_serve_feed(&v, in, n, a), 0);
		cr_assert_eq(mbox_serve_finish(&v, a), 0);
		cr_assert_eq(buf_len(a), strlen(want), "case %zu: got \"%s\"",
			     i, buf_str(a));
		cr_assert_eq(memcmp(buf_data(a), want, strlen(want)), 0,
			     "case %zu: got \"%s\"", i, buf_str(a));
		cr_assert_eq(v.produced, strlen(want));
		cr_assert_eq(mbox_serve_size(in, n), strlen(want), "case %zu",
			     i);
		/* one byte at a time: the same */
		mbox_serve_init(&v);
		for (size_t k = 0; k < n; k++)
			cr_assert_eq(mbox_serve_feed(&v, in + k, 1, b), 0);
		cr_assert_eq(mbox_serve_finish(&v, b), 0);
		cr_assert_str_eq(buf_str(b), buf_str(a), "case %zu bytewise", i);
		buf_free(&a);
		buf_free(&b);
	}
}

/* ---- APPEND and FETCH -------------------------------------------- */

Test(mbox, append_then_fetch_serves_crlf_and_stores_lf)
{
	struct store *s = open_store();
	struct store_new_msg nm[2];
	uint32_t uv = 0, uids[2];
	struct mailbox *mb;
	char *m0 = crlf(M[0]), *m1 = crlf(M[1]), *file;
	uint64_t size;

	memset(nm, 0, sizeof(nm));
	nm[0].data = m0;
	nm[0].len = strlen(m0);
	nm[0].flags = STORE_F_SEEN;
	nm[0].internaldate = 1700000000;
	nm[1].data = m1;
	nm[1].len = strlen(m1);
	cr_assert_eq(store_append(s, "INBOX", nm, 2, &uv, uids), 0, "%s",
		     store_error(s)->detail);
	cr_assert_neq(uv, 0u);
	cr_assert_eq(uids[0], 1u);
	cr_assert_eq(uids[1], 2u);

	/* On disk: From_ lines, LF, mboxo quoting, blank separators. */
	file = slurp(inbox, NULL);
	cr_assert(strncmp(file, "From MAILER-DAEMON ", 19) == 0, "%s", file);
	cr_assert_null(strchr(file, '\r'), "LF only on disk");
	cr_assert(strstr(file, "\n>From here on\n") != NULL, "quoted");
	cr_assert(strstr(file, "\n>From there\n") != NULL, "kept as is");
	cr_assert_null(strstr(file, "X-UID"));
	cr_assert_null(strstr(file, "Status:"));
	free(file);

	cr_assert_eq(mailbox_open(s, "INBOX", false, &mb), 0, "%s",
		     store_error(s)->detail);
	cr_assert_eq(mailbox_view(mb)->n, 2u);
	cr_assert_eq(mailbox_view(mb)->uidvalidity, uv);
	cr_assert_eq(mailbox_view(mb)->msgs[0].flags, STORE_F_SEEN);
	assert_served(mb, 1, 0);
	assert_served(mb, 2, 1);
	{
		time_t date;

		cr_assert_eq(mailbox_msg_info(mb, 1, &date, &size), 0);
		cr_assert_eq(date, 1700000000);
		cr_assert_eq(size, strlen(m0), "RFC822.SIZE counts CRLF");
	}
	/* mbox has no in-memory read: mailbox_msg_read gives the fd, and a
	 * head comes out of it (the served bytes, hidden fields hidden) */
	{
		struct buf *mem = buf_new(2 << 20);
		off_t off;
		int fd;

		cr_assert_eq(mailbox_msg_read(mb, 1, 1 << 20, &fd, &off, mem,
					      &size), 0);
		cr_assert_geq(fd, 0);
		cr_assert_eq(size, strlen(m0));
		close(fd);
		buf_free(&mem);
		su_assert_head(mb, 1, 10, m0, strlen(m0));
		su_assert_head(mb, 1, 1 << 20, m0, strlen(m0));
	}
	mailbox_close(&mb);
	store_free(&s);
	free(m0);
	free(m1);
}

/* A CR right before a CRLF is part of the message (a bare CR is not
 * valid RFC 5322, but the store must not change bytes): it comes back as
 * it was sent, and RFC822.SIZE is the length sent. */
Test(mbox, cr_before_crlf_comes_back_unchanged)
{
	static const char msg[] = "Subject: cr\r\n\r\nab\r\r\ncd\r\r\r\n"
				  "ef\r\n";
	struct store *s = open_store();
	struct store_new_msg nm = { .data = msg, .len = sizeof(msg) - 1 };
	uint32_t uv = 0, uid;
	struct mailbox *mb;
	uint64_t size;
	char *got;

	cr_assert_eq(store_append(s, "INBOX", &nm, 1, &uv, &uid), 0, "%s",
		     store_error(s)->detail);
	cr_assert_eq(mailbox_open(s, "INBOX", false, &mb), 0, "%s",
		     store_error(s)->detail);
	got = fetch(mb, 1, &size);
	cr_assert_not_null(got);
	cr_assert_str_eq(got, msg);
	cr_assert_eq(size, sizeof(msg) - 1);
	{
		time_t date;

		cr_assert_eq(mailbox_msg_info(mb, 1, &date, &size), 0);
		cr_assert_eq(size, sizeof(msg) - 1, "RFC822.SIZE");
	}
	free(got);
	mailbox_close(&mb);
	store_free(&s);
}

Test(mbox, empty_and_missing_inbox)
{
	struct store *s = open_store();
	struct mailbox *mb;

	cr_assert_eq(mailbox_open(s, "INBOX", false, &mb), 0, "%s",
		     store_error(s)->detail);
	cr_assert_eq(mailbox_view(mb)->n, 0u);
	mailbox_close(&mb);
	store_free(&s);
}

/* ---- external changes --------------------------------------------- */

Test(mbox, mda_append_is_seen_after_sync_with_uids_kept)
{
	const int idx[] = { 0, 1 };
	struct store *s;
	struct mailbox *mb;
	const struct mailbox_changes *ch;

	write_mbox(inbox, idx, 2);
	s = open_store();
	cr_assert_eq(mailbox_open(s, "INBOX", false, &mb), 0, "%s",
		     store_error(s)->detail);
	cr_assert_eq(mailbox_view(mb)->n, 2u);
	cr_assert_eq(uid_at(mb, 1), 1u);
	mda_deliver(inbox, FROM_LINE, stored(2));
	mda_deliver(inbox, FROM_LINE,
		    "From: x@example.org\nStatus: RO\nX-Status: AF\n"
		    "Subject: flagged\n\nhi\n");
	cr_assert_eq(mailbox_sync(mb, MAILBOX_SYNC_EXPUNGES, &ch), 0, "%s",
		     store_error(s)->detail);
	cr_assert_eq(ch->exists, 4u);
	cr_assert_eq(uid_at(mb, 1), 1u);
	cr_assert_eq(uid_at(mb, 2), 2u);
	cr_assert_eq(uid_at(mb, 3), 3u);
	cr_assert_eq(uid_at(mb, 4), 4u);
	cr_assert_eq(mailbox_view(mb)->msgs[3].flags,
		     STORE_F_SEEN | STORE_F_ANSWERED | STORE_F_FLAGGED,
		     "Status/X-Status imported for a new message");
	assert_served(mb, 3, 2);
	{
		char *got = fetch(mb, 4, NULL);

		cr_assert_str_eq(got, "From: x@example.org\r\nSubject: flagged"
				 "\r\n\r\nhi\r\n", "Status hidden: %s", got);
		free(got);
	}
	mailbox_close(&mb);
	store_free(&s);
}

/* mutt marks message 1 read and flagged: it rewrites the file with
 * Status/X-Status/Content-Length/Lines headers, which moves every
 * message after it. */
Test(mbox, mutt_rewrite_keeps_uids_and_merges_status)
{
	const int idx[] = { 0, 1, 2 };
	struct store *s;
	struct mailbox *mb;
	const struct mailbox_changes *ch;
	char buf[8192];
	uint64_t size_before, size_after;
	time_t d;

	write_mbox(inbox, idx, 3);
	s = open_store();
	cr_assert_eq(mailbox_open(s, "INBOX", false, &mb), 0);
	cr_assert_eq(mailbox_msg_info(mb, 1, &d, &size_before), 0);
	{
		/* Our own STORE: \Answered on 1 (index only). */
		uint32_t seq = 1;

		cr_assert_eq(mailbox_store_flags(mb, &seq, 1, STORE_FLAGS_ADD,
						 STORE_F_ANSWERED, NULL), 0);
	}
	snprintf(buf, sizeof(buf),
		 "%s\nFrom: a@example.org\nTo: u@example.org\nSubject: one\n"
		 "Message-ID: <1@example.org>\nStatus: RO\nX-Status: F\n"
		 "Content-Length: 9\nLines: 1\n\nbody one\n\n%s\n%s\n%s\n%s\n",
		 FROM_LINE, FROM_LINE, stored(1), FROM_LINE, stored(2));
	spit(inbox, buf);
	/* FETCH before any NOOP finds message 3 where it is now. */
	assert_served(mb, 3, 2);
	cr_assert_eq(mailbox_sync(mb, MAILBOX_SYNC_EXPUNGES, &ch), 0, "%s",
		     store_error(s)->detail);
	cr_assert_eq(ch->n_expunged, 0u, "no UID lost");
	cr_assert_eq(mailbox_view(mb)->n, 3u);
	for (uint32_t i = 1; i <= 3; i++)
		cr_assert_eq(uid_at(mb, i), i);
	cr_assert_eq(mailbox_view(mb)->msgs[0].flags,
		     STORE_F_SEEN | STORE_F_FLAGGED | STORE_F_ANSWERED,
		     "mutt's R and F merged, our \\Answered kept: %x",
		     mailbox_view(mb)->msgs[0].flags);
	/* The served message did not change (RFC 9051 §2.3.1.1). */
	assert_served(mb, 1, 0);
	assert_served(mb, 2, 1);
	cr_assert_eq(mailbox_msg_info(mb, 1, &d, &size_after), 0);
	cr_assert_eq(size_after, size_before);

	/* mutt clears F again: only that flag follows. */
	snprintf(buf, sizeof(buf),
		 "%s\nFrom: a@example.org\nTo: u@example.org\nSubject: one\n"
		 "Message-ID: <1@example.org>\nStatus: RO\nX-Status: \n"
		 "Content-Length: 9\nLines: 1\n\nbody one\n\n%s\n%s\n%s\n%s\n",
		 FROM_LINE, FROM_LINE, stored(1), FROM_LINE, stored(2));
	spit(inbox, buf);
	cr_assert_eq(mailbox_sync(mb, MAILBOX_SYNC_EXPUNGES, &ch), 0);
	cr_assert_eq(mailbox_view(mb)->msgs[0].flags,
		     STORE_F_SEEN | STORE_F_ANSWERED);
	mailbox_close(&mb);
	store_free(&s);
}

Test(mbox, message_removed_by_another_program)
{
	const int idx[] = { 0, 1, 2, 3 };
	const int rest[] = { 0, 2, 3 };
	struct store *s;
	struct mailbox *mb;
	const struct mailbox_changes *ch;

	write_mbox(inbox, idx, 4);
	s = open_store();
	cr_assert_eq(mailbox_open(s, "INBOX", false, &mb), 0);
	write_mbox(inbox, rest, 3);
	cr_assert_eq(mailbox_sync(mb, MAILBOX_SYNC_EXPUNGES, &ch), 0, "%s",
		     store_error(s)->detail);
	cr_assert_eq(ch->n_expunged, 1u);
	cr_assert_eq(ch->expunged_seqs[0], 2u);
	cr_assert_eq(mailbox_view(mb)->n, 3u);
	cr_assert_eq(uid_at(mb, 1), 1u);
	cr_assert_eq(uid_at(mb, 2), 3u);
	cr_assert_eq(uid_at(mb, 3), 4u);
	assert_served(mb, 2, 2);
	assert_served(mb, 3, 3);
	mailbox_close(&mb);
	store_free(&s);
}

Test(mbox, unchanged_file_is_not_scanned_again)
{
	const int idx[] = { 0, 1 };
	struct store *s;
	struct mailbox *mb;
	const struct mailbox_changes *ch;
	struct timespec old[2] = { { 0, UTIME_OMIT }, { 1000000, 0 } };

	write_mbox(inbox, idx, 2);
	s = open_store();
	cr_assert_eq(mailbox_open(s, "INBOX", false, &mb), 0);
	/* Replace a byte of a body without changing size or times: an
	 * unchanged stamp means no rescan, so the change stays unseen
	 * (the FETCH check catches a real rewrite, see above). */
	cr_assert_eq(utimensat(AT_FDCWD, inbox, old, 0), 0);
	cr_assert_eq(mailbox_sync(mb, MAILBOX_SYNC_EXPUNGES, &ch), 0);
	cr_assert_eq(ch->n_expunged, 0u);
	cr_assert_eq(mailbox_view(mb)->n, 2u);
	mailbox_close(&mb);
	store_free(&s);
}

/* ---- migration ------------------------------------------------------ */

Test(mbox, dovecot_x_uid_headers_give_uidvalidity_and_uids)
{
	char buf[8192];
	struct store *s;
	struct mailbox *mb;
	struct store_status st;
	char *got;

	snprintf(buf, sizeof(buf),
		 "%s\nX-IMAPbase: 1234567 10 $Junk Work\nFrom: a@example.org\n"
		 "Subject: one\nX-UID: 3\nStatus: RO\nX-Keywords: Work\n\n"
		 "body one\n\n"
		 "%s\nFrom: b@example.org\nSubject: two\nX-UID: 7\n"
		 "X-Keywords: $Junk Forged\n\nbody two\n\n"
		 "%s\nFrom: c@example.org\nSubject: three\n\nbody three\n\n",
		 FROM_LINE, FROM_LINE, FROM_LINE);
	spit(inbox, buf);
	s = open_store();
	cr_assert_eq(mailbox_open(s, "INBOX", false, &mb), 0, "%s",
		     store_error(s)->detail);
	cr_assert_eq(mailbox_view(mb)->uidvalidity, 1234567u);
	cr_assert_eq(mailbox_view(mb)->n, 3u);
	cr_assert_eq(uid_at(mb, 1), 3u);
	cr_assert_eq(uid_at(mb, 2), 7u);
	cr_assert_eq(uid_at(mb, 3), 11u, "after X-IMAPbase's last UID");
	cr_assert_eq(mailbox_view(mb)->msgs[0].flags, STORE_F_SEEN);
	{
		const struct mailbox_view *v = mailbox_view(mb);
		bool work = false, junk = false, forged = false;

		for (size_t k = 0; k < v->n_keywords; k++) {
			if (strcmp(v->keywords[k], "Work") == 0)
				work = v->msgs[0].keywords >> k & 1;
			if (strcmp(v->keywords[k], "$Junk") == 0)
				junk = v->msgs[1].keywords >> k & 1;
			if (strcmp(v->keywords[k], "Forged") == 0)
				forged = true;
		}
		cr_assert(work && junk, "X-Keywords imported");
		cr_assert_not(forged, "only keywords X-IMAPbase declares");
	}
	got = fetch(mb, 1, NULL);
	cr_assert_str_eq(got, "From: a@example.org\r\nSubject: one\r\n\r\n"
			 "body one\r\n", "Dovecot's headers hidden: %s", got);
	free(got);
	cr_assert_eq(store_status(s, "INBOX", &st), 0);
	cr_assert_eq(st.uidnext, 12u);
	mailbox_close(&mb);
	store_free(&s);
}

/* Anyone can mail the user: the first message into an empty mbox may
 * carry an X-IMAPbase. A UIDVALIDITY so high that the index could never
 * hand out a greater one (every later CREATE would fail) is not
 * believed, nor is an X-IMAPbase in any message but the first. */
Test(mbox, hostile_x_imapbase_not_believed)
{
	char buf[4096];
	struct store *s;
	struct mailbox *mb;

	snprintf(buf, sizeof(buf),
		 "%s\nX-IMAPbase: 4294967295 0000000005\nX-UID: 3\n"
		 "Subject: one\n\nbody one\n\n"
		 "%s\nX-IMAPbase: 777 50\nX-UID: 40\nSubject: two\n\n"
		 "body two\n\n", FROM_LINE, FROM_LINE);
	spit(inbox, buf);
	s = open_store();
	cr_assert_eq(mailbox_open(s, "INBOX", false, &mb), 0, "%s",
		     store_error(s)->detail);
	cr_assert_neq(mailbox_view(mb)->uidvalidity, 4294967295u);
	cr_assert_eq(mailbox_view(mb)->n, 2u);
	mailbox_close(&mb);
	cr_assert_eq(store_create(s, "Other", 0), 0, "%s",
		     store_error(s)->detail);
	store_free(&s);

	/* X-IMAPbase only in the second message: nothing is imported. */
	tu_rmrf(idxdir);
	snprintf(buf, sizeof(buf),
		 "%s\nSubject: one\n\nbody one\n\n"
		 "%s\nX-IMAPbase: 777 50\nX-UID: 40\nSubject: two\n\n"
		 "body two\n\n", FROM_LINE, FROM_LINE);
	spit(inbox, buf);
	s = open_store();
	cr_assert_eq(mailbox_open(s, "INBOX", false, &mb), 0);
	cr_assert_neq(mailbox_view(mb)->uidvalidity, 777u);
	cr_assert_eq(uid_at(mb, 1), 1u);
	cr_assert_eq(uid_at(mb, 2), 2u);
	mailbox_close(&mb);
	store_free(&s);
}

/* More keywords than the index holds (64), and names longer than IMAP
 * keywords may be here (128): the first 64 valid ones are imported,
 * the rest ignored, and the mailbox opens with its UIDs. */
Test(mbox, absurd_x_keywords_are_bounded)
{
	size_t cap = 64 * 1024, n = 0;
	char *buf = malloc(cap), *kw = malloc(8192);
	struct store *s;
	struct mailbox *mb;
	size_t k = 0;

	for (int i = 0; i < 100; i++)
		k += (size_t)snprintf(kw + k, 8192 - k, "k%d ", i);
	memset(kw + k, 'L', 200);                 /* one 200-byte name */
	k += 200;
	kw[k] = '\0';
	n += (size_t)snprintf(buf + n, cap - n, "%s\nX-IMAPbase: 1000 9 %s\n"
			      "X-UID: 5\nX-Keywords: %s\nSubject: one\n\n"
			      "body\n\n", FROM_LINE, kw, kw);
	n += (size_t)snprintf(buf + n, cap - n, "%s\nX-UID: 9\nX-Keywords: "
			      "k99 k98 k0\nSubject: two\n\nbody\n\n",
			      FROM_LINE);
	spit(inbox, buf);
	s = open_store();
	cr_assert_eq(mailbox_open(s, "INBOX", false, &mb), 0, "%s",
		     store_error(s)->detail);
	cr_assert_eq(mailbox_view(mb)->uidvalidity, 1000u);
	cr_assert_eq(mailbox_view(mb)->n, 2u);
	cr_assert_eq(uid_at(mb, 1), 5u);
	cr_assert_eq(uid_at(mb, 2), 9u);
	cr_assert_leq(mailbox_view(mb)->n_keywords, 64u);
	for (size_t i = 0; i < mailbox_view(mb)->n_keywords; i++)
		cr_assert_leq(strlen(mailbox_view(mb)->keywords[i]), 128u);
	cr_assert_neq(mailbox_view(mb)->msgs[0].keywords, 0);
	mailbox_close(&mb);
	store_free(&s);
	free(buf);
	free(kw);
}

Test(mbox, uw_pseudo_message_is_hidden)
{
	char buf[8192];
	struct store *s;
	struct mailbox *mb;

	snprintf(buf, sizeof(buf),
		 "From MAILER-DAEMON Mon Jan  1 10:00:00 2024\n"
		 "Subject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\n"
		 "X-IMAP: 1111 5\n\nThis text is part of the internal format "
		 "of your mail folder.\n\n"
		 "%s\nFrom: a@example.org\nSubject: one\nX-UID: 4\n\nbody one\n\n",
		 FROM_LINE);
	spit(inbox, buf);
	s = open_store();
	cr_assert_eq(mailbox_open(s, "INBOX", false, &mb), 0);
	cr_assert_eq(mailbox_view(mb)->n, 1u);
	cr_assert_eq(mailbox_view(mb)->uidvalidity, 1111u);
	cr_assert_eq(uid_at(mb, 1), 4u);
	mailbox_close(&mb);
	store_free(&s);
}

Test(mbox, forged_x_uid_without_x_imapbase_is_ignored)
{
	char buf[4096];
	struct store *s;
	struct mailbox *mb;

	snprintf(buf, sizeof(buf),
		 "%s\nFrom: a@example.org\nX-UID: 999\n\nbody\n\n", FROM_LINE);
	spit(inbox, buf);
	s = open_store();
	cr_assert_eq(mailbox_open(s, "INBOX", false, &mb), 0);
	cr_assert_eq(uid_at(mb, 1), 1u);
	mailbox_close(&mb);
	store_free(&s);
}

Test(mbox, lost_index_rebuilds_from_the_file)
{
	const int idx[] = { 0, 1, 2 };
	struct store *s;
	struct mailbox *mb;

	write_mbox(inbox, idx, 3);
	s = open_store();
	cr_assert_eq(mailbox_open(s, "INBOX", false, &mb), 0);
	mailbox_close(&mb);
	store_free(&s);
	tu_rmrf(idxdir);
	s = open_store();
	cr_assert_eq(mailbox_open(s, "INBOX", false, &mb), 0);
	cr_assert_eq(mailbox_view(mb)->n, 3u);
	for (uint32_t i = 1; i <= 3; i++) {
		cr_assert_eq(uid_at(mb, i), i, "file order");
		assert_served(mb, i, (int)i - 1);
	}
	mailbox_close(&mb);
	store_free(&s);
}

/* ---- folders -------------------------------------------------------- */

static int
collect_names(const char *name, unsigned attrs, void *ctx)
{
	char *acc = ctx;

	(void)attrs;
	strcat(acc, name);
	strcat(acc, ";");
	return 0;
}

static int
inbox_attrs_cb(const char *name, unsigned attrs, void *ctx)
{
	if (strcmp(name, "INBOX") == 0)
		*(unsigned *)ctx = attrs | 0x80000000u;
	return 0;
}

/* The first login subscribes INBOX with the special-use folders, also
 * when INBOX is a spool file that was there before (it always "exists"
 * in mbox: a missing spool file is an empty INBOX). */
Test(mbox, first_login_subscribes_inbox)
{
	struct store *s;
	unsigned attrs = 0;

	s = open_store();
	cr_assert_eq(store_ensure_defaults(s), 0, "%s", store_error(s)->detail);
	cr_assert_eq(store_list(s, inbox_attrs_cb, &attrs), 0);
	cr_assert(attrs & 0x80000000u, "INBOX listed");
	cr_assert(attrs & STORE_LIST_SUBSCRIBED, "INBOX subscribed");
	store_free(&s);
}

Test(mbox, folders_are_files_under_the_root)
{
	struct store *s = open_store();
	char names[1024] = "";
	char *p;
	struct stat st;

	cr_assert_eq(store_create(s, "Lists/Debian", 0), 0, "%s",
		     store_error(s)->detail);
	p = tu_path(root, "Lists/Debian");
	cr_assert_eq(stat(p, &st), 0);
	cr_assert(S_ISREG(st.st_mode));
	cr_assert_eq(st.st_mode & 0777, 0600);
	free(p);
	cr_assert_eq(store_create(s, "Lists/Debian", 0), -1);
	cr_assert_eq(store_error(s)->code, STORE_ERR_EXISTS);
	cr_assert_eq(store_list(s, collect_names, names), 0);
	cr_assert(strstr(names, "INBOX;") != NULL, "%s", names);
	cr_assert(strstr(names, "Lists/Debian;") != NULL, "%s", names);
	cr_assert_eq(store_rename(s, "Lists/Debian", "Archive/Debian"), 0,
		     "%s", store_error(s)->detail);
	p = tu_path(root, "Archive/Debian");
	cr_assert_eq(stat(p, &st), 0);
	free(p);
	cr_assert_eq(store_delete(s, "Archive/Debian"), 0, "%s",
		     store_error(s)->detail);
	p = tu_path(root, "Archive/Debian");
	cr_assert_neq(stat(p, &st), 0);
	free(p);
	store_free(&s);
}

/* ---- EXPUNGE ---------------------------------------------------------- */

static void
mark_deleted(struct mailbox *mb, const uint32_t *seqs, size_t n)
{
	cr_assert_eq(mailbox_store_flags(mb, seqs, n, STORE_FLAGS_ADD,
					 STORE_F_DELETED, NULL), 0);
}

Test(mbox, expunge_rewrites_in_place)
{
	const int idx[] = { 0, 1, 2, 3 };
	const uint32_t del[] = { 1, 3 };
	struct store *s;
	struct mailbox *mb;
	const struct mailbox_changes *ch;
	struct file_msgs f;
	struct stat before, after;

	write_mbox(inbox, idx, 4);
	cr_assert_eq(stat(inbox, &before), 0);
	s = open_store();
	cr_assert_eq(mailbox_open(s, "INBOX", false, &mb), 0);
	mark_deleted(mb, del, 2);
	cr_assert_eq(mailbox_expunge(mb, NULL, 0), 0, "%s",
		     store_error(s)->detail);
	cr_assert_eq(mailbox_sync(mb, MAILBOX_SYNC_EXPUNGES, &ch), 0);
	cr_assert_eq(ch->n_expunged, 2u);
	cr_assert_eq(mailbox_view(mb)->n, 2u);
	cr_assert_eq(uid_at(mb, 1), 2u);
	cr_assert_eq(uid_at(mb, 2), 4u);
	assert_served(mb, 1, 1);
	assert_served(mb, 2, 3);
	cr_assert_eq(stat(inbox, &after), 0);
	cr_assert_eq(after.st_ino, before.st_ino, "same inode: in place");
	file_msgs(inbox, &f);
	cr_assert_eq(f.n, 2u);
	cr_assert_eq(f.idx[0], 1);
	cr_assert_eq(f.idx[1], 3);
	cr_assert_eq(tu_count(idxdir, "mbox-expunge"), 0, "no side file");
	mailbox_close(&mb);
	store_free(&s);

	/* A later session agrees (and nothing is rescanned wrongly). */
	s = open_store();
	cr_assert_eq(mailbox_open(s, "INBOX", false, &mb), 0);
	cr_assert_eq(mailbox_view(mb)->n, 2u);
	cr_assert_eq(uid_at(mb, 2), 4u);
	mailbox_close(&mb);
	store_free(&s);
}

Test(mbox, expunge_last_and_all)
{
	const int idx[] = { 0, 1 };
	uint32_t seq = 2;
	struct store *s;
	struct mailbox *mb;
	const struct mailbox_changes *ch;
	size_t len;
	char *data;

	write_mbox(inbox, idx, 2);
	s = open_store();
	cr_assert_eq(mailbox_open(s, "INBOX", false, &mb), 0);
	mark_deleted(mb, &seq, 1);
	cr_assert_eq(mailbox_expunge(mb, NULL, 0), 0);
	cr_assert_eq(mailbox_sync(mb, MAILBOX_SYNC_EXPUNGES, &ch), 0);
	cr_assert_eq(mailbox_view(mb)->n, 1u);
	assert_served(mb, 1, 0);
	seq = 1;
	mark_deleted(mb, &seq, 1);
	cr_assert_eq(mailbox_expunge(mb, NULL, 0), 0);
	cr_assert_eq(mailbox_sync(mb, MAILBOX_SYNC_EXPUNGES, &ch), 0);
	cr_assert_eq(mailbox_view(mb)->n, 0u);
	data = slurp(inbox, &len);
	cr_assert_eq(len, 0u, "the spool file stays, empty");
	free(data);
	mailbox_close(&mb);
	store_free(&s);
}

/* With the file size limited, the side copy fails (EFBIG as ENOSPC
 * would): the mbox must be untouched and nothing left behind. */
Test(mbox, failing_side_copy_leaves_the_mbox_untouched)
{
	const int idx[] = { 0, 1, 2, 3, 4 };
	const uint32_t del[] = { 1 };
	struct store *s;
	struct mailbox *mb;
	struct rlimit rl, old;
	char *before, *after;
	size_t lb, la;

	write_mbox(inbox, idx, 5);
	before = slurp(inbox, &lb);
	s = open_store();
	cr_assert_eq(mailbox_open(s, "INBOX", false, &mb), 0);
	mark_deleted(mb, del, 1);
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	rl = old;
	rl.rlim_cur = 300;   /* the side file's header + a little */
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	cr_assert_eq(mailbox_expunge(mb, NULL, 0), -1);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	after = slurp(inbox, &la);
	cr_assert_eq(la, lb);
	cr_assert_eq(memcmp(before, after, lb), 0, "untouched");
	cr_assert_eq(tu_count(idxdir, "mbox-expunge"), 0, "no side file");
	cr_assert_eq(mailbox_view(mb)->n, 5u);
	/* And it works once there is room. */
	cr_assert_eq(mailbox_expunge(mb, NULL, 0), 0, "%s",
		     store_error(s)->detail);
	free(before);
	free(after);
	mailbox_close(&mb);
	store_free(&s);
}

Test(mbox, append_waits_for_a_held_dotlock_then_gives_inuse)
{
	struct store *s = open_store();
	struct store_new_msg nm = { 0 };
	uint32_t uv, uid;
	char lock[4096];
	char *m0 = crlf(M[0]);
	int fd = open(inbox, O_CREAT | O_WRONLY, 0600);

	close(fd);
	snprintf(lock, sizeof(lock), "%s.lock", inbox);
	/* A live holder (our parent's pid: alive, not us). */
	fd = open(lock, O_CREAT | O_WRONLY, 0644);
	dprintf(fd, "%d\n", (int)getppid());
	close(fd);
	mbox_lock_default_timeout_ms = 300;
	nm.data = m0;
	nm.len = strlen(m0);
	cr_assert_eq(store_append(s, "INBOX", &nm, 1, &uv, &uid), -1);
	cr_assert_eq(store_error(s)->code, STORE_ERR_INUSE, "%s",
		     store_error(s)->detail);
	unlink(lock);
	cr_assert_eq(store_append(s, "INBOX", &nm, 1, &uv, &uid), 0, "%s",
		     store_error(s)->detail);
	free(m0);
	store_free(&s);
}

/* ---- crashes ---------------------------------------------------------- */

/* In a child (the index is opened after fork): expunges messages 1 and
 * 3 of 4 with the crash hook armed. */
struct crash_args {
	int expunge_step;
	int recover_step;
	bool expunge;
};

static void
crash_child(void *arg)
{
	const struct crash_args *a = arg;
	struct store_error err;
	struct store *s = open_store_as(loc, idxdir, "user", &err);
	struct mailbox *mb;
	const uint32_t del[] = { 1, 3 };

	TU_CHECK(s != NULL, "store_open: %s", err.detail);
	mbox_recover_crash_at = a->recover_step;
	TU_CHECK(mailbox_open(s, "INBOX", false, &mb) == 0, "open: %s",
		 store_error(s)->detail);
	if (a->expunge) {
		TU_CHECK(mailbox_store_flags(mb, del, 2, STORE_FLAGS_ADD,
					     STORE_F_DELETED, NULL) == 0,
			 "store");
		mbox_expunge_crash_at = a->expunge_step;
		TU_CHECK(mailbox_expunge(mb, NULL, 0) == 0, "expunge: %s",
			 store_error(s)->detail);
	}
	mailbox_close(&mb);
	store_free(&s);
	_exit(0);
}

static int
run_child(struct crash_args a)
{
	pid_t pid = tu_fork(crash_child, &a);

	return tu_wait(pid, 30);
}

static void
prepare_four(void)
{
	const int idx[] = { 0, 1, 2, 3 };
	struct crash_args a = { 0, 0, false };

	write_mbox(inbox, idx, 4);
	/* Index it (UIDs 1..4) in a child: the test forks again later. */
	cr_assert_eq(run_child(a), 0);
}

/* After recovery: either the old mailbox (1,2,3,4) or the new one (2,4),
 * plus what was delivered meanwhile, each exactly once, never torn. */
static void
check_recovered(const int *delivered, size_t nd, bool *was_done)
{
	struct store *s = open_store();
	struct mailbox *mb;
	struct file_msgs f;
	size_t base;
	bool done;

	cr_assert_eq(mailbox_open(s, "INBOX", false, &mb), 0, "%s",
		     store_error(s)->detail);
	file_msgs(inbox, &f);
	for (size_t i = 0; i < f.n; i++)
		cr_assert_neq(f.idx[i], -1, "message %zu is torn", i);
	done = f.n == 2 + nd;
	cr_assert(done || f.n == 4 + nd, "%zu messages", f.n);
	base = done ? 2 : 4;
	if (done) {
		cr_assert_eq(f.idx[0], 1);
		cr_assert_eq(f.idx[1], 3);
	} else {
		for (int i = 0; i < 4; i++)
			cr_assert_eq(f.idx[i], i);
	}
	for (size_t i = 0; i < nd; i++)
		cr_assert_eq(f.idx[base + i], delivered[i],
			     "delivered mail kept, in order");
	/* The index agrees with the file, UIDs kept. */
	cr_assert_eq(mailbox_view(mb)->n, f.n);
	if (done) {
		cr_assert_eq(uid_at(mb, 1), 2u);
		cr_assert_eq(uid_at(mb, 2), 4u);
	} else {
		for (uint32_t i = 1; i <= 4; i++)
			cr_assert_eq(uid_at(mb, i), i);
	}
	for (size_t i = 0; i < f.n; i++)
		assert_served(mb, (uint32_t)i + 1, f.idx[i]);
	cr_assert_eq(tu_count(idxdir, "mbox-expunge"), 0, "cleaned up");
	mailbox_close(&mb);
	store_free(&s);
	if (was_done != NULL)
		*was_done = done;
}

Test(mbox, expunge_killed_at_every_step)
{
	/* Steps 1-2: before the mbox is touched (rolled back); 3: in the
	 * middle of the rewrite; 4: rewritten, not truncated; 5: truncated,
	 * index not updated; 6: index updated, journal not removed. */
	for (int step = 1; step <= 6; step++) {
		struct crash_args a = { step, 0, true };
		const int delivered[] = { 4 };
		bool done;

		prepare_four();
		cr_assert_eq(run_child(a), 128 + SIGKILL, "step %d", step);
		/* Mail delivered after the crash, before anyone recovers. */
		mda_deliver(inbox, FROM_LINE, stored(4));
		check_recovered(delivered, 1, &done);
		cr_assert_eq(done, step >= 3, "step %d: %s", step,
			     done ? "finished" : "rolled back");
		/* Start over for the next step (check_recovered closed the
		 * index again, so forking is safe). */
		tu_rmrf(idxdir);
	}
}

/* In a child: APPEND of a big message (so that it is written in
 * several chunks) killed once crash_after of its bytes are in the file. */
static void
append_crash_child(void *arg)
{
	const uint64_t *crash_after = arg;
	struct store_error err;
	struct store *s = open_store_as(loc, idxdir, "user", &err);
	struct store_new_msg nm;
	uint32_t uv, uid;
	size_t len = 300000;
	char *big = malloc(len + 1);

	TU_CHECK(s != NULL && big != NULL, "store_open");
	memcpy(big, "Subject: big\r\n\r\n", 17);
	for (size_t i = 17; i < len; i++)
		big[i] = i % 60 == 59 ? '\n' : 'x';
	memset(&nm, 0, sizeof(nm));
	nm.data = big;
	nm.len = len;
	mbox_append_crash_after = *crash_after;
	TU_CHECK(store_append(s, "INBOX", &nm, 1, &uv, &uid) == 0,
		 "append: %s", store_error(s)->detail);
	_exit(0);
}

Test(mbox, append_killed_midway_is_removed_and_later_mail_kept)
{
	/* 1: inside the From_ line; 100000: in the middle; 299990: all
	 * but the end. Each once with nothing after it and once with a
	 * delivery that came after the crash: the torn bytes go, the old
	 * messages and the delivery stay whole, UIDs kept. */
	const uint64_t at[] = { 1, 100000, 299990 };

	for (size_t k = 0; k < 2 * sizeof(at) / sizeof(at[0]); k++) {
		uint64_t crash_after = at[k / 2];
		bool deliver = k % 2 == 1;
		struct file_msgs f;
		struct store *s;
		struct mailbox *mb;
		size_t want;

		prepare_four();
		cr_assert_eq(tu_wait(tu_fork(append_crash_child,
					     &crash_after), 30),
			     128 + SIGKILL, "killed at %llu",
			     (unsigned long long)crash_after);
		cr_assert_eq(tu_count(idxdir, "mbox-append"), 1,
			     "the marker is left behind");
		if (deliver)
			mda_deliver(inbox, FROM_LINE, stored(4));
		s = open_store();
		cr_assert_eq(mailbox_open(s, "INBOX", false, &mb), 0, "%s",
			     store_error(s)->detail);
		file_msgs(inbox, &f);
		/* Exactly the old mailbox, plus the delivery (which
		 * postfix-like does not add a line break first) whole. */
		want = deliver ? 5 : 4;
		cr_assert_eq(f.n, want, "at %llu: %zu messages",
			     (unsigned long long)crash_after, f.n);
		if (deliver)
			cr_assert_eq(f.idx[4], 4, "the delivery is kept");
		for (int i = 0; i < 4; i++)
			cr_assert_eq(f.idx[i], i);
		cr_assert_eq(mailbox_view(mb)->n, want);
		for (uint32_t i = 1; i <= 4; i++)
			cr_assert_eq(uid_at(mb, i), i, "UIDs kept");
		cr_assert_eq(tu_count(idxdir, "mbox-append"), 0, "cleaned up");
		mailbox_close(&mb);
		store_free(&s);
		tu_rmrf(idxdir);
	}
}

Test(mbox, append_leaves_no_marker)
{
	struct store *s = open_store();
	struct store_new_msg nm;
	uint32_t uv, uid;
	char *m0 = crlf(M[0]);

	memset(&nm, 0, sizeof(nm));
	nm.data = m0;
	nm.len = strlen(m0);
	cr_assert_eq(store_append(s, "INBOX", &nm, 1, &uv, &uid), 0, "%s",
		     store_error(s)->detail);
	cr_assert_eq(tu_count(idxdir, "mbox-append"), 0);
	store_free(&s);
	free(m0);
}

/* A sync whose change set began before another session recorded the
 * tail's new mail, and that found an interrupted APPEND's marker: the
 * recovery's look at the committed stamp refreshes box->rec, and the
 * commit's "recorded meanwhile?" lookup must still search from the
 * change set's uidnext, not from that fresher one (the crash test's
 * "deliv-N 2 times", one copy in the file). */
Test(mbox, sync_adopts_mail_another_session_recorded_during_recovery)
{
	const int idx[] = { 0, 1 };
	struct store *s;
	struct mailbox *a, *b, *c;
	struct store_txn *t;
	char *mark;
	int r;

	write_mbox(inbox, idx, 2);
	s = open_store();
	cr_assert_eq(mailbox_open(s, "INBOX", false, &a), 0, "%s",
		     store_error(s)->detail);
	cr_assert_eq(a->rec.uidnext, 3u);
	mda_deliver(inbox, FROM_LINE, stored(2));
	/* a's sync begins: its change set is as of uidnext 3 */
	t = store_txn_begin(a, 0);
	cr_assert_not_null(t);
	/* another session records the delivery (UID 3) */
	cr_assert_eq(mailbox_open(s, "INBOX", false, &b), 0, "%s",
		     store_error(s)->detail);
	cr_assert_eq(mailbox_view(b)->n, 3u);
	cr_assert_eq(uid_at(b, 3), 3u);
	mailbox_close(&b);
	/* ... and a killed APPEND left a marker a's sync must look at (a
	 * damaged one: it is only dropped) */
	if (asprintf(&mark, "%s/mbox-append-%u.side", idxdir, a->id) < 0)
		abort();
	spit(mark, "not a marker");
	r = s->be->sync(a, t);
	if (r == 0 && store_txn_pending(t))
		r = store_txn_commit(t);
	cr_assert_eq(r, 0, "%s", store_error(s)->detail);
	store_txn_free(&t);
	cr_assert_eq(tu_count(idxdir, "mbox-append"), 0);
	mailbox_close(&a);
	/* a fresh session: the delivery once, with the UID it got first */
	cr_assert_eq(mailbox_open(s, "INBOX", false, &c), 0, "%s",
		     store_error(s)->detail);
	cr_assert_eq(mailbox_view(c)->n, 3u, "the delivery is in the index "
		     "%zu times", mailbox_view(c)->n - 2);
	cr_assert_eq(uid_at(c, 3), 3u);
	assert_served(c, 3, 2);
	mailbox_close(&c);
	store_free(&s);
	free(mark);
}

Test(mbox, recovery_killed_too_keeps_everything)
{
	/* Killed mid-rewrite; mail arrives; the recovering session is
	 * killed while it re-plans (1) or rewrites (2); more mail; then a
	 * session finishes the job. */
	for (int rstep = 1; rstep <= 2; rstep++) {
		struct crash_args a = { 3, 0, true };
		struct crash_args r = { 0, rstep, false };
		const int delivered[] = { 4, 5 };

		prepare_four();
		cr_assert_eq(run_child(a), 128 + SIGKILL);
		mda_deliver(inbox, FROM_LINE, stored(4));
		cr_assert_eq(run_child(r), 128 + SIGKILL, "recovery step %d",
			     rstep);
		mda_deliver(inbox, FROM_LINE, stored(5));
		check_recovered(delivered, 2, NULL);
		tu_rmrf(idxdir);
	}
}

Test(mbox, recovery_without_the_index_uses_the_side_file)
{
	struct crash_args a = { 3, 0, true };
	const int delivered[] = { 4 };
	struct store *s;
	struct mailbox *mb;
	struct file_msgs f;

	prepare_four();
	cr_assert_eq(run_child(a), 128 + SIGKILL);
	mda_deliver(inbox, FROM_LINE, stored(4));
	/* The index is lost but the side file (in its directory) stays:
	 * keep only it. */
	{
		char *side = tu_path(idxdir, "mbox-expunge-1.side");
		char *keep = tu_path(dir, "side");

		cr_assert_eq(rename(side, keep), 0, "side file: %m");
		tu_rmrf(idxdir);
		cr_assert_eq(mkdir(idxdir, 0700), 0);
		cr_assert_eq(rename(keep, side), 0);
		free(side);
		free(keep);
	}
	s = open_store();
	cr_assert_eq(mailbox_open(s, "INBOX", false, &mb), 0, "%s",
		     store_error(s)->detail);
	file_msgs(inbox, &f);
	cr_assert_eq(f.n, 3u);
	cr_assert_eq(f.idx[0], 1);
	cr_assert_eq(f.idx[1], 3);
	cr_assert_eq(f.idx[2], delivered[0]);
	cr_assert_eq(mailbox_view(mb)->n, 3u);
	mailbox_close(&mb);
	store_free(&s);
}

/* Random kill times over a bigger mailbox, with a delivery after each
 * kill and a check (in a child) after each round. */
struct big_args {
	unsigned seed;
};

static void
big_expunge_child(void *arg)
{
	struct store_error err;
	struct store *s = open_store_as(loc, idxdir, "user", &err);
	struct mailbox *mb;
	uint32_t seq = 1;

	(void)arg;
	TU_CHECK(s != NULL, "store_open: %s", err.detail);
	TU_CHECK(mailbox_open(s, "INBOX", false, &mb) == 0, "open: %s",
		 store_error(s)->detail);
	if (mailbox_view(mb)->n > 0) {
		TU_CHECK(mailbox_store_flags(mb, &seq, 1, STORE_FLAGS_ADD,
					     STORE_F_DELETED, NULL) == 0,
			 "store");
		TU_CHECK(mailbox_expunge(mb, NULL, 0) == 0, "expunge: %s",
			 store_error(s)->detail);
	}
	mailbox_close(&mb);
	store_free(&s);
	_exit(0);
}

/* Every message is "Subject: big N" with N increasing in file order,
 * each complete: the file is a subsequence of what was written. */
struct big_check {
	const char *data;
	int last;
	size_t n;
	bool bad;
};

static int
on_big(void *ctx, const struct mbox_msg *m)
{
	struct big_check *c = ctx;
	int n = -1, used = 0;
	char want[8192];
	size_t wl;

	if (sscanf(c->data + m->offset, "Subject: big %d\n%n", &n, &used) != 1
	    || n <= c->last) {
		c->bad = true;
		return 0;
	}
	wl = (size_t)snprintf(want, sizeof(want), "Subject: big %d\n\n", n);
	for (int k = 0; k < 60; k++)
		wl += (size_t)snprintf(want + wl, sizeof(want) - wl,
				       "line %d of message %d, some text\n", k,
				       n);
	if (m->length != wl || memcmp(c->data + m->offset, want, wl) != 0)
		c->bad = true;
	c->last = n;
	c->n++;
	return 0;
}

static void
big_msg(char *buf, size_t cap, int n)
{
	size_t k = (size_t)snprintf(buf, cap, "Subject: big %d\n\n", n);

	for (int i = 0; i < 60; i++)
		k += (size_t)snprintf(buf + k, cap - k,
				      "line %d of message %d, some text\n", i,
				      n);
}

static void
big_verify(void *arg)
{
	size_t *want = arg, len;
	char *data = slurp(inbox, &len);
	struct big_check c = { data, -1, 0, false };
	struct mbox_parser *p = mbox_parser_new(0, on_big, &c);
	struct store_error err;
	struct store *s;
	struct mailbox *mb;

	mbox_parser_feed(p, data, len);
	mbox_parser_finish(p);
	mbox_parser_free(&p);
	free(data);
	/* Open (and so recover) first, then check the file. */
	s = open_store_as(loc, idxdir, "user", &err);
	TU_CHECK(s != NULL, "store_open: %s", err.detail);
	TU_CHECK(mailbox_open(s, "INBOX", false, &mb) == 0, "open: %s",
		 store_error(s)->detail);
	data = slurp(inbox, &len);
	c = (struct big_check){ data, -1, 0, false };
	p = mbox_parser_new(0, on_big, &c);
	mbox_parser_feed(p, data, len);
	mbox_parser_finish(p);
	mbox_parser_free(&p);
	free(data);
	TU_CHECK(!c.bad, "a message is torn or out of order");
	TU_CHECK(c.n == mailbox_view(mb)->n, "index %zu, file %zu",
		 mailbox_view(mb)->n, c.n);
	TU_CHECK(c.n + 1 >= *want && c.n <= *want, "%zu messages, want %zu",
		 c.n, *want);
	TU_CHECK(tu_count(idxdir, "mbox-expunge") == 0, "cleaned up");
	mailbox_close(&mb);
	store_free(&s);
	_exit(0);
}

Test(mbox, expunge_killed_at_random_times)
{
	char msg[8192];
	char from[128];
	int next = 0;
	size_t count;
	unsigned seed = (unsigned)time(NULL);
	int fd = open(inbox, O_CREAT | O_WRONLY | O_TRUNC, 0600);

	/* 200 messages of ~2 KB. */
	for (; next < 200; next++) {
		big_msg(msg, sizeof(msg), next);
		dprintf(fd, "%s\n%s\n", FROM_LINE, msg);
	}
	close(fd);
	count = 200;
	srand(seed);
	for (int round = 0; round < 10; round++) {
		struct big_args a = { seed };
		pid_t pid = tu_fork(big_expunge_child, &a);
		int st;
		size_t after;

		usleep((useconds_t)(rand() % 40000));
		kill(pid, SIGKILL);
		st = tu_wait(pid, 30);
		cr_assert(st == 0 || st == 128 + SIGKILL, "round %d: %d",
			  round, st);
		/* A delivery between the kill and the recovery. */
		snprintf(from, sizeof(from), "%s", FROM_LINE);
		big_msg(msg, sizeof(msg), next++);
		mda_deliver(inbox, from, msg);
		after = count + 1;
		st = tu_wait(tu_fork(big_verify, &after), 60);
		/* A kill inside an index transaction can leave a Berkeley DB
		 * mutex held; the index watchdog then ends the process that
		 * blocks on it (IDX_WATCHDOG_EXIT) and the next opener
		 * recovers (lib/index/index.h). Not an mbox failure. */
		if (st == IDX_WATCHDOG_EXIT)
			st = tu_wait(tu_fork(big_verify, &after), 60);
		cr_assert_eq(st, 0, "round %d (seed %u)", round, seed);
		/* The verifier saw count+1 or count messages (the expunge
		 * finished or not); learn which from the file. */
		{
			size_t len;
			char *data = slurp(inbox, &len);
			struct big_check c = { data, -1, 0, false };
			struct mbox_parser *p = mbox_parser_new(0, on_big, &c);

			mbox_parser_feed(p, data, len);
			mbox_parser_finish(p);
			mbox_parser_free(&p);
			free(data);
			count = c.n;
		}
	}
}

/* ---- as root: the spool and a real user ----------------------------- */

struct spool_env {
	char *spooldir, *mbox, *home, *location, *index;
	uid_t uid;
	gid_t gid;
};

static bool
spool_env(struct spool_env *e)
{
	struct passwd *pw = getpwnam("nobody");
	struct group *gr = getgrnam("mail");
	int fd;

	if (geteuid() != 0 || pw == NULL || gr == NULL)
		return false;
	e->uid = pw->pw_uid;
	e->gid = pw->pw_gid;
	cr_assert_eq(chmod(dir, 0755), 0);
	e->spooldir = tu_path(dir, "varmail");
	cr_assert_eq(mkdir(e->spooldir, 0755), 0);
	cr_assert_eq(chown(e->spooldir, 0, gr->gr_gid), 0);
	cr_assert_eq(chmod(e->spooldir, 02775), 0);
	e->mbox = tu_path(e->spooldir, pw->pw_name);
	fd = open(e->mbox, O_CREAT | O_WRONLY, 0600);
	cr_assert_eq(fchown(fd, e->uid, gr->gr_gid), 0);
	close(fd);
	e->home = tu_path(dir, "home");
	cr_assert_eq(mkdir(e->home, 0700), 0);
	cr_assert_eq(chown(e->home, e->uid, e->gid), 0);
	if (asprintf(&e->location, "mbox:%s/mail:INBOX=%s/%%u", e->home,
		     e->spooldir) < 0 ||
	    asprintf(&e->index, "%s/index", e->home) < 0)
		abort();
	return true;
}

struct spool_args {
	struct spool_env *e;
	bool helper;
};

static void
spool_child(void *arg)
{
	struct spool_args *a = arg;
	struct store_error err;
	struct store *s;
	struct store_new_msg nm = { 0 };
	uint32_t uv, uid;
	char *m = crlf(M[0]);
	int r;

	TU_CHECK(setgroups(0, NULL) == 0 &&
		 setresgid(a->e->gid, a->e->gid, a->e->gid) == 0 &&
		 setresuid(a->e->uid, a->e->uid, a->e->uid) == 0, "drop");
	TU_CHECK(prctl(PR_SET_DUMPABLE, 0L, 0L, 0L, 0L) == 0, "dumpable");
	if (a->helper)
		TU_CHECK(mbox_lock_helper_start() == 0, "helper");
	TU_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) == 0, "nnp");
	umask(077);
	s = open_store_as(a->e->location, a->e->index, "nobody", &err);
	TU_CHECK(s != NULL, "store_open: %s", err.detail);
	nm.data = m;
	nm.len = strlen(m);
	r = store_append(s, "INBOX", &nm, 1, &uv, &uid);
	if (a->helper) {
		TU_CHECK(r == 0, "append through the helper: %s",
			 store_error(s)->detail);
		TU_CHECK(uid == 1, "uid %u", uid);
	} else {
		TU_CHECK(r == -1 && store_error(s)->code == STORE_ERR_NOPERM,
			 "without the helper: NOPERM, got %d %s", r,
			 store_error(s)->detail);
	}
	store_free(&s);
	free(m);
	_exit(0);
}

Test(mbox, spool_inbox_as_real_user_under_no_new_privs)
{
	struct spool_env e;
	struct spool_args a = { &e, false };
	char *data, *lock;
	size_t len;
	struct stat st;

	if (!spool_env(&e))
		cr_skip_test("needs root and the nobody user and mail group");
	/* Without the helper the dotlock cannot be made: NOPERM, and the
	 * spool file is untouched. */
	cr_assert_eq(tu_wait(tu_fork(spool_child, &a), 30), 0);
	data = slurp(e.mbox, &len);
	cr_assert_eq(len, 0u);
	free(data);
	a.helper = true;
	cr_assert_eq(tu_wait(tu_fork(spool_child, &a), 30), 0);
	data = slurp(e.mbox, &len);
	cr_assert(len > 0 && strncmp(data, "From MAILER-DAEMON ", 19) == 0);
	free(data);
	cr_assert_eq(stat(e.mbox, &st), 0);
	cr_assert_eq(st.st_uid, e.uid, "still the user's");
	if (asprintf(&lock, "%s.lock", e.mbox) < 0)
		abort();
	cr_assert_neq(stat(lock, &st), 0, "dotlock released");
	free(lock);
	free(e.spooldir);
	free(e.mbox);
	free(e.home);
	free(e.location);
	free(e.index);
}
