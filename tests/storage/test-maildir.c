/* Tests for the Maildir++ backend through store.h: APPEND, the view,
 * STORE write-through to file names, EXPUNGE, COPY/MOVE, changes other
 * programs make (flags by rename, deletes, deliveries into new/) seen by
 * mailbox_sync with UIDs unchanged, the same-second window of the mtime
 * check, files renamed under a reader, migration from dovecot-uidlist,
 * index rebuild with the same UIDs, ENOSPC, and symlinks planted to
 * escape the store. */
#include <criterion/criterion.h>
#include <sched.h>
#include <sys/mount.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

#include "store-util.h"
#include "storage/maildir-private.h"
#include "storage/store-private.h"

static struct su u;

static void
setup(void)
{
	su_init(&u);
	su_open(&u);
	cr_assert_eq(store_ensure_defaults(u.s), 0, "%s", su_err(&u));
}

static void
teardown(void)
{
	su_fini(&u);
}

TestSuite(maildir, .init = setup, .fini = teardown, .timeout = 60);

static const char msg1[] = "From: a@example.org\r\nSubject: one\r\n\r\nbody one\r\n";
static const char msg2[] = "From: b@example.org\r\nSubject: two\r\n\r\nbody two\r\n";
static const char msg3[] = "From: c@example.org\r\nSubject: three\r\n\r\nthree\r\n";

static struct mailbox *
sel(const char *name)
{
	struct mailbox *mb;

	cr_assert_eq(mailbox_open(u.s, name, false, &mb), 0, "select %s: %s",
		     name, su_err(&u));
	return mb;
}

static const struct mailbox_changes *
sync_all(struct mailbox *mb)
{
	const struct mailbox_changes *ch;

	cr_assert_eq(mailbox_sync(mb, MAILBOX_SYNC_EXPUNGES, &ch), 0, "sync: %s",
		     su_err(&u));
	return ch;
}

/* A delivery the way an MDA does it: tmp/ then rename into new/. */
static void
deliver(const char *folder, const char *base, const char *data)
{
	char tmp[512], dst[512];

	snprintf(tmp, sizeof(tmp), "%s%stmp/%s", folder, *folder ? "/" : "",
		 base);
	snprintf(dst, sizeof(dst), "%s%snew/%s", folder, *folder ? "/" : "",
		 base);
	su_write(&u, tmp, data);
	{
		char *a = su_path(&u, tmp), *b = su_path(&u, dst);

		cr_assert_eq(rename(a, b), 0);
		free(a);
		free(b);
	}
}

/* ---- APPEND, view, STORE, EXPUNGE, COPY -------------------------------- */

Test(maildir, append_is_in_cur_with_flags_and_lf)
{
	uint32_t uid = su_append(&u, "INBOX", msg1, STORE_F_SEEN |
				 STORE_F_FLAGGED);
	struct mailbox *mb;
	char *name, *body;
	time_t date;
	uint64_t size;

	cr_assert_eq(uid, 1);
	cr_assert_eq(su_count(&u, "new"), 0);
	cr_assert_eq(su_count(&u, "tmp"), 0);
	cr_assert_eq(su_count(&u, "cur"), 1);
	name = su_find(&u, "cur", "");
	/* Dovecot's S= (file) and W= (RFC822.SIZE) sizes, flags sorted */
	cr_assert(strstr(name, ":2,FS") != NULL, "%s", name);
	{
		char w[32];

		snprintf(w, sizeof(w), ",S=%zu,W=%zu:", strlen(msg1) - 4,
			 strlen(msg1));
		cr_assert(strstr(name, w) != NULL, "%s", name);
	}
	free(name);
	mb = sel("INBOX");
	cr_assert_eq(mailbox_view(mb)->n, 1);
	cr_assert_eq(mailbox_view(mb)->msgs[0].uid, 1);
	cr_assert_eq(mailbox_view(mb)->msgs[0].flags,
		     STORE_F_SEEN | STORE_F_FLAGGED);
	body = su_read_msg(mb, 1);
	cr_assert_str_eq(body, msg1, "served with CRLF");
	free(body);
	{
		/* stored with LF, as other Maildir programs write */
		char *n = su_find(&u, "cur", ""), p[600];
		FILE *f;
		char buf[200] = "";

		snprintf(p, sizeof(p), "%s/cur/%s", u.maildir, n);
		f = fopen(p, "r");
		cr_assert_eq(fread(buf, 1, sizeof(buf) - 1, f), strlen(msg1) - 4);
		fclose(f);
		cr_assert_str_eq(buf, "From: a@example.org\nSubject: one\n\nbody one\n");
		free(n);
	}
	cr_assert_eq(mailbox_msg_info(mb, 1, &date, &size), 0);
	cr_assert_eq(size, strlen(msg1), "RFC822.SIZE counts CRLF");
	cr_assert(date > 0);
	mailbox_close(&mb);
}

/* A CR right before a CRLF is part of the message: stored as it came
 * (only a CR-less LF is served as CRLF), so it comes back unchanged and
 * RFC822.SIZE (W=) is the length sent. */
Test(maildir, cr_before_crlf_comes_back_unchanged)
{
	static const char msg[] = "Subject: cr\r\n\r\nab\r\r\ncd\r\r\r\n"
				  "ef\r\n";
	struct mailbox *mb;
	char *body;
	time_t date;
	uint64_t size;

	cr_assert_eq(su_append(&u, "INBOX", msg, 0), 1);
	mb = sel("INBOX");
	body = su_read_msg(mb, 1);
	cr_assert_str_eq(body, msg);
	free(body);
	cr_assert_eq(mailbox_msg_info(mb, 1, &date, &size), 0);
	cr_assert_eq(size, strlen(msg), "RFC822.SIZE");
	mailbox_close(&mb);
}

Test(maildir, append_internaldate_is_mtime)
{
	struct store_new_msg m = { .data = msg1, .len = strlen(msg1),
				   .internaldate = 1234567890 };
	struct mailbox *mb;
	uint32_t uv, uid;
	struct stat st;
	time_t date;
	uint64_t size;
	char *name, path[256];

	cr_assert_eq(store_append(u.s, "INBOX", &m, 1, &uv, &uid), 0);
	name = su_find(&u, "cur", "");
	snprintf(path, sizeof(path), "%s/cur/%s", u.maildir, name);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mtime, 1234567890);
	mb = sel("INBOX");
	cr_assert_eq(mailbox_msg_info(mb, 1, &date, &size), 0);
	cr_assert_eq(date, 1234567890);
	mailbox_close(&mb);
	free(name);
}

Test(maildir, multiappend_uids_ascending_and_appenduid)
{
	struct store_new_msg m[3] = {
		{ .data = msg1, .len = strlen(msg1) },
		{ .data = msg2, .len = strlen(msg2), .flags = STORE_F_DRAFT },
		{ .data = msg3, .len = strlen(msg3) },
	};
	struct store_status st;
	uint32_t uv, uids[3];

	cr_assert_eq(store_append(u.s, "Drafts", m, 3, &uv, uids), 0);
	cr_assert_eq(uids[0], 1);
	cr_assert_eq(uids[1], 2);
	cr_assert_eq(uids[2], 3);
	cr_assert_eq(store_status(u.s, "Drafts", &st), 0);
	cr_assert_eq(st.messages, 3);
	cr_assert_eq(st.uidvalidity, uv);
	cr_assert_eq(st.uidnext, 4);
	cr_assert_eq(st.unseen, 3);
	cr_assert_eq(st.recent, 3);
}

Test(maildir, append_to_missing_mailbox_is_trycreate)
{
	struct store_new_msg m = { .data = msg1, .len = strlen(msg1) };
	uint32_t uv, uid;

	cr_assert_eq(store_append(u.s, "Nope", &m, 1, &uv, &uid), -1);
	cr_assert_eq(su_code(&u), STORE_ERR_TRYCREATE);
}

Test(maildir, append_over_limit)
{
	char *big = malloc((1 << 20) + 2);
	struct store_new_msg m = { .data = big, .len = (1 << 20) + 1 };
	uint32_t uv, uid;

	memset(big, 'x', (1 << 20) + 1);
	cr_assert_eq(store_append(u.s, "INBOX", &m, 1, &uv, &uid), -1);
	cr_assert_eq(su_code(&u), STORE_ERR_LIMIT);
	cr_assert_eq(su_count(&u, "cur"), 0);
	free(big);
}

Test(maildir, store_flags_renames_file_and_keeps_unknown_letters)
{
	struct mailbox *mb;
	uint32_t seq = 1;
	char *name;

	su_append(&u, "INBOX", msg1, 0);
	name = su_find(&u, "cur", "");
	{
		/* another program added a flag letter Moat does not know */
		char from[512], to[512];

		snprintf(from, sizeof(from), "%s/cur/%s", u.maildir, name);
		snprintf(to, sizeof(to), "%s/cur/%.*s:2,X", u.maildir,
			 (int)(strchr(name, ':') - name), name);
		cr_assert_eq(rename(from, to), 0);
	}
	free(name);
	mb = sel("INBOX");
	cr_assert_eq(mailbox_store_flags(mb, &seq, 1, STORE_FLAGS_ADD,
					 STORE_F_SEEN | STORE_F_ANSWERED, NULL),
		     0, "%s", su_err(&u));
	cr_assert_eq(mailbox_view(mb)->msgs[0].flags,
		     STORE_F_SEEN | STORE_F_ANSWERED);
	name = su_find(&u, "cur", "");
	cr_assert(strstr(name, ":2,RSX") != NULL, "%s", name);
	free(name);
	cr_assert_eq(mailbox_store_flags(mb, &seq, 1, STORE_FLAGS_REMOVE,
					 STORE_F_SEEN, NULL), 0);
	name = su_find(&u, "cur", "");
	cr_assert(strstr(name, ":2,RX") != NULL, "%s", name);
	free(name);
	cr_assert_eq(mailbox_store_flags(mb, &seq, 1, STORE_FLAGS_SET,
					 STORE_F_DELETED, NULL), 0);
	name = su_find(&u, "cur", "");
	cr_assert(strstr(name, ":2,TX") != NULL, "%s", name);
	free(name);
	mailbox_close(&mb);
}

Test(maildir, keywords_interned_and_limited)
{
	const char *kw1[] = { "$Forwarded", "Work", NULL };
	char names[70][16];
	const char *many[70];
	struct mailbox *mb;
	uint32_t seq = 1;

	su_append(&u, "INBOX", msg1, 0);
	mb = sel("INBOX");
	cr_assert_eq(mailbox_store_flags(mb, &seq, 1, STORE_FLAGS_ADD, 0, kw1),
		     0);
	cr_assert_eq(mailbox_view(mb)->n_keywords, 2);
	cr_assert_eq(mailbox_view(mb)->msgs[0].keywords, 3);
	for (int i = 0; i < 69; i++) {
		snprintf(names[i], sizeof(names[i]), "kw%d", i);
		many[i] = names[i];
	}
	many[69] = NULL;
	cr_assert_eq(mailbox_store_flags(mb, &seq, 1, STORE_FLAGS_ADD, 0, many),
		     -1);
	cr_assert_eq(su_code(&u), STORE_ERR_LIMIT);
	mailbox_close(&mb);
}

Test(maildir, expunge_removes_deleted_only)
{
	struct mailbox *mb;
	const struct mailbox_changes *ch;
	uint32_t seq = 2;

	su_append(&u, "INBOX", msg1, 0);
	su_append(&u, "INBOX", msg2, 0);
	su_append(&u, "INBOX", msg3, STORE_F_DELETED);
	mb = sel("INBOX");
	cr_assert_eq(mailbox_store_flags(mb, &seq, 1, STORE_FLAGS_ADD,
					 STORE_F_DELETED, NULL), 0);
	cr_assert_eq(mailbox_expunge(mb, NULL, 0), 0, "%s", su_err(&u));
	/* still in the view until the session may report it */
	cr_assert_eq(mailbox_view(mb)->n, 3);
	cr_assert(mailbox_view(mb)->msgs[1].expunged);
	ch = sync_all(mb);
	cr_assert_eq(ch->n_expunged, 2);
	cr_assert_eq(ch->expunged_seqs[0], 3, "decreasing order");
	cr_assert_eq(ch->expunged_seqs[1], 2);
	cr_assert_eq(ch->exists, 1);
	cr_assert_eq(mailbox_view(mb)->msgs[0].uid, 1);
	cr_assert_eq(su_count(&u, "cur"), 1);
	mailbox_close(&mb);
}

/* A NOOP on an unchanged view skips its passes over the messages
 * (store-view.c): what another session changed must still show, once,
 * and \Recent must follow the expunges. */
Test(maildir, repeated_syncs_report_others_expunges_once)
{
	struct mailbox *a, *b;
	const struct mailbox_changes *ch;
	uint32_t seq = 2;

	su_append(&u, "INBOX", msg1, 0);
	su_append(&u, "INBOX", msg2, 0);
	su_append(&u, "INBOX", msg3, 0);
	a = sel("INBOX");               /* takes \Recent of all three */
	for (int i = 0; i < 2; i++) {
		ch = sync_all(a);
		cr_assert_eq(ch->n_expunged, 0);
		cr_assert_eq(ch->exists, 3);
		cr_assert_eq(ch->recent, 3, "sync %d", i);
	}
	b = sel("INBOX");
	cr_assert_eq(mailbox_store_flags(b, &seq, 1, STORE_FLAGS_ADD,
					 STORE_F_DELETED, NULL), 0);
	cr_assert_eq(mailbox_expunge(b, NULL, 0), 0, "%s", su_err(&u));
	/* without expunges allowed: still there, no longer \Recent */
	cr_assert_eq(mailbox_sync(a, 0, &ch), 0, "%s", su_err(&u));
	cr_assert_eq(ch->n_expunged, 0);
	cr_assert_eq(ch->exists, 3);
	cr_assert_eq(ch->recent, 2);
	ch = sync_all(a);
	cr_assert_eq(ch->n_expunged, 1);
	cr_assert_eq(ch->expunged_seqs[0], 2);
	cr_assert_eq(ch->exists, 2);
	cr_assert_eq(ch->recent, 2);
	ch = sync_all(a);
	cr_assert_eq(ch->n_expunged, 0, "reported once");
	cr_assert_eq(ch->exists, 2);
	cr_assert_eq(ch->recent, 2);
	cr_assert_eq(mailbox_view(a)->msgs[1].uid, 3);
	mailbox_close(&b);
	mailbox_close(&a);
}

Test(maildir, uid_expunge_only_given_uids)
{
	struct mailbox *mb;
	uint32_t uid2 = 2;

	su_append(&u, "INBOX", msg1, STORE_F_DELETED);
	su_append(&u, "INBOX", msg2, STORE_F_DELETED);
	mb = sel("INBOX");
	cr_assert_eq(mailbox_expunge(mb, &uid2, 1), 0);
	sync_all(mb);
	cr_assert_eq(mailbox_view(mb)->n, 1);
	cr_assert_eq(mailbox_view(mb)->msgs[0].uid, 1);
	mailbox_close(&mb);
}

Test(maildir, copy_and_move_with_copyuid)
{
	struct mailbox *mb, *t;
	uint32_t seqs[2] = { 1, 2 }, uv, src[2], dst[2];
	const char *kw[] = { "Important", NULL };
	char *body;

	su_append(&u, "INBOX", msg1, STORE_F_SEEN);
	su_append(&u, "INBOX", msg2, 0);
	mb = sel("INBOX");
	cr_assert_eq(mailbox_store_flags(mb, &seqs[1], 1, STORE_FLAGS_ADD, 0,
					 kw), 0);
	cr_assert_eq(mailbox_copy(mb, seqs, 2, "Archive", false, &uv, src,
				  dst), 0, "%s", su_err(&u));
	cr_assert_eq(src[0], 1);
	cr_assert_eq(src[1], 2);
	cr_assert_eq(dst[0], 1);
	cr_assert_eq(dst[1], 2);
	cr_assert_eq(mailbox_copy(mb, seqs, 2, "Trash", true, &uv, src, dst),
		     0, "%s", su_err(&u));
	sync_all(mb);
	cr_assert_eq(mailbox_view(mb)->n, 0, "MOVE expunged the sources");
	mailbox_close(&mb);
	t = sel("Archive");
	cr_assert_eq(mailbox_view(t)->n, 2);
	cr_assert_eq(mailbox_view(t)->msgs[0].flags, STORE_F_SEEN);
	cr_assert_eq(mailbox_view(t)->n_keywords, 1);
	cr_assert_str_eq(mailbox_view(t)->keywords[0], "Important");
	cr_assert_eq(mailbox_view(t)->msgs[1].keywords, 1);
	cr_assert(mailbox_view(t)->msgs[0].recent, "copies are \\Recent");
	body = su_read_msg(t, 2);
	cr_assert(strstr(body, "body two") != NULL);
	free(body);
	mailbox_close(&t);
	cr_assert_eq(su_count(&u, ".Trash/cur"), 2);
	cr_assert_eq(su_count(&u, "cur"), 0);
}

Test(maildir, copy_to_missing_is_trycreate)
{
	struct mailbox *mb;
	uint32_t seq = 1, uv, src, dst;

	su_append(&u, "INBOX", msg1, 0);
	mb = sel("INBOX");
	cr_assert_eq(mailbox_copy(mb, &seq, 1, "Nope", false, &uv, &src, &dst),
		     -1);
	cr_assert_eq(su_code(&u), STORE_ERR_TRYCREATE);
	mailbox_close(&mb);
}

Test(maildir, recent_goes_to_one_session)
{
	struct mailbox *a, *b, *e;

	su_append(&u, "INBOX", msg1, 0);
	cr_assert_eq(mailbox_open(u.s, "INBOX", true, &e), 0);
	cr_assert(mailbox_view(e)->msgs[0].recent,
		  "EXAMINE shows \\Recent...");
	mailbox_close(&e);
	a = sel("INBOX");
	cr_assert(mailbox_view(a)->msgs[0].recent,
		  "... and leaves it to the first SELECT");
	b = sel("INBOX");
	cr_assert(!mailbox_view(b)->msgs[0].recent, "the second does not");
	su_append(&u, "INBOX", msg2, 0);
	sync_all(b);
	sync_all(a);
	cr_assert_eq(mailbox_view(b)->n, 2);
	cr_assert_eq(mailbox_view(a)->n, 2);
	cr_assert(mailbox_view(a)->msgs[1].recent !=
		  mailbox_view(b)->msgs[1].recent, "exactly one has it");
	mailbox_close(&a);
	mailbox_close(&b);
}

/* ---- other programs --------------------------------------------------- */

/* Puts a directory's mtime back, as if a change happened within the
 * clock tick of the last scan. */
static void
set_mtime(const char *rel, time_t sec, long nsec)
{
	char *p = su_path(&u, rel);
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { sec, nsec } };

	cr_assert_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
	free(p);
}

static void
get_mtime(const char *rel, struct timespec *ts)
{
	char *p = su_path(&u, rel);
	struct stat st;

	cr_assert_eq(stat(p, &st), 0);
	*ts = st.st_mtim;
	free(p);
}

/* "cur/<base>:2,<flags>" for the file holding needle */
static void
external_flags(const char *dir, const char *needle, const char *flags)
{
	char *n = su_file_with(&u, dir, needle), from[600], to[600];

	cr_assert_not_null(n, "no file with %s", needle);
	snprintf(from, sizeof(from), "%s/%s", dir, n);
	snprintf(to, sizeof(to), "%s/%.*s:2,%s", dir,
		 (int)(strrchr(n, ':') != NULL ? strrchr(n, ':') - n :
		       (long)strlen(n)), n, flags);
	su_rename(&u, from, to);
	free(n);
}

static void
external_delete(const char *dir, const char *needle)
{
	char *n = su_file_with(&u, dir, needle), p[600];

	cr_assert_not_null(n);
	snprintf(p, sizeof(p), "%s/%s", dir, n);
	su_unlink(&u, p);
	free(n);
}

Test(maildir, external_changes_seen_with_uids_unchanged)
{
	const struct mailbox_changes *ch;
	struct mailbox *mb;

	su_append(&u, "INBOX", msg1, 0);
	su_append(&u, "INBOX", msg2, 0);
	su_append(&u, "INBOX", msg3, 0);
	mb = sel("INBOX");
	/* mutt marks message 2 seen and flagged, deletes message 3, an MDA
	 * delivers a new one */
	external_flags("cur", "body two", "FS");
	external_delete("cur", "three");
	deliver("", "1700000000.M1P2.mx", "Subject: four\n\nfour\n");
	ch = sync_all(mb);
	cr_assert_eq(ch->n_expunged, 1);
	cr_assert_eq(ch->expunged_seqs[0], 3);
	cr_assert_eq(ch->exists, 3);
	cr_assert_eq(ch->n_flag_changes, 1);
	cr_assert_eq(ch->flag_seqs[0], 2);
	cr_assert_eq(mailbox_view(mb)->msgs[0].uid, 1);
	cr_assert_eq(mailbox_view(mb)->msgs[1].uid, 2);
	cr_assert_eq(mailbox_view(mb)->msgs[1].flags,
		     STORE_F_SEEN | STORE_F_FLAGGED);
	cr_assert_eq(mailbox_view(mb)->msgs[2].uid, 4, "new mail: new UID");
	cr_assert(mailbox_view(mb)->msgs[2].recent);
	/* SELECTed: the delivery moved to cur/ */
	cr_assert_eq(su_count(&u, "new"), 0);
	{
		char *n = su_file_with(&u, "cur", "four");

		cr_assert_not_null(n);
		free(n);
	}
	mailbox_close(&mb);
}

Test(maildir, examine_leaves_new_alone_select_moves)
{
	struct mailbox *mb;

	deliver("", "1700000000.M1P2.mx", "Subject: x\n\nx\n");
	cr_assert_eq(mailbox_open(u.s, "INBOX", true, &mb), 0);
	cr_assert_eq(mailbox_view(mb)->n, 1);
	cr_assert_eq(su_count(&u, "new"), 1, "EXAMINE changes no file");
	{
		char *b = su_read_msg(mb, 1);

		cr_assert_str_eq(b, "Subject: x\r\n\r\nx\r\n");
		free(b);
	}
	mailbox_close(&mb);
	mb = sel("INBOX");
	cr_assert_eq(mailbox_view(mb)->n, 1);
	cr_assert_eq(mailbox_view(mb)->msgs[0].uid, 1, "same UID");
	cr_assert_eq(su_count(&u, "new"), 0);
	cr_assert_eq(su_count(&u, "cur"), 1);
	{
		char *n = su_find(&u, "cur", "1700000000.M1P2.mx");

		cr_assert_str_eq(n, "1700000000.M1P2.mx:2,");
		free(n);
	}
	mailbox_close(&mb);
}

Test(maildir, new_mail_gets_uids_in_delivery_order)
{
	struct mailbox *mb;

	deliver("", "1700000300.M1P2.b", "Subject: third\n\n3\n");
	deliver("", "1700000100.M1P2.z", "Subject: first\n\n1\n");
	deliver("", "1700000200.M1P2.a", "Subject: second\n\n2\n");
	mb = sel("INBOX");
	cr_assert_eq(mailbox_view(mb)->n, 3);
	for (uint32_t i = 1; i <= 3; i++) {
		char *b = su_read_msg(mb, i);
		char want[8];

		snprintf(want, sizeof(want), "\n%u\r\n", i);
		cr_assert(strstr(b, want) != NULL, "seq %u: %s", i, b);
		free(b);
	}
	mailbox_close(&mb);
}

Test(maildir, same_second_window_rescans)
{
	struct mailbox *mb;
	const struct mailbox_changes *ch;
	struct timespec m;

	su_append(&u, "INBOX", msg1, 0);
	mb = sel("INBOX");
	sync_all(mb);
	get_mtime("cur", &m);
	/* a change in the same clock tick as the last scan: the mtime looks
	 * unchanged, but it is recent, so the folder is read again */
	external_flags("cur", "body one", "S");
	set_mtime("cur", m.tv_sec, m.tv_nsec);
	ch = sync_all(mb);
	cr_assert_eq(ch->n_flag_changes, 1, "change within the window seen");
	cr_assert_eq(mailbox_view(mb)->msgs[0].flags, STORE_F_SEEN);
	mailbox_close(&mb);
}

Test(maildir, settled_unchanged_mtimes_mean_no_readdir)
{
	struct mailbox *mb;
	const struct mailbox_changes *ch;
	time_t old = time(NULL) - 100;

	su_append(&u, "INBOX", msg1, 0);
	set_mtime("cur", old, 5);
	set_mtime("new", old, 7);
	mb = sel("INBOX");
	sync_all(mb);
	/* a change whose mtime equals the stamp and is long settled is not
	 * looked for: proof that the warm path reads no directory */
	external_flags("cur", "body one", "S");
	set_mtime("cur", old, 5);
	ch = sync_all(mb);
	cr_assert_eq(ch->n_flag_changes, 0);
	cr_assert_eq(mailbox_view(mb)->msgs[0].flags, 0);
	/* any real mtime change is noticed */
	set_mtime("cur", old, 6);
	ch = sync_all(mb);
	cr_assert_eq(ch->n_flag_changes, 1);
	mailbox_close(&mb);
}

/* A scan that saw a young mtime is looked at once more after it
 * settles: a change made right after that scan in the same clock tick
 * (or, on a file system of whole seconds, the same second) left the
 * mtime it had seen, and would otherwise stay unseen until the folder's
 * next change (the skip trusted the old stamp as soon as the mtime was a
 * second old). */
Test(maildir, change_in_the_tick_of_the_last_scan_is_seen_once_settled)
{
	struct mailbox *mb;
	const struct mailbox_changes *ch;
	struct timespec m, pause = { 1, 200000000 };

	su_append(&u, "INBOX", msg1, 0);
	mb = sel("INBOX");
	sync_all(mb);
	clock_gettime(CLOCK_REALTIME, &m);
	set_mtime("cur", m.tv_sec, m.tv_nsec);
	sync_all(mb);		/* scans: the mtime is new, and young */
	external_flags("cur", "body one", "S");
	set_mtime("cur", m.tv_sec, m.tv_nsec);
	nanosleep(&pause, NULL);
	ch = sync_all(mb);
	cr_assert_eq(ch->n_flag_changes, 1, "change after the scan missed");
	cr_assert_eq(mailbox_view(mb)->msgs[0].flags, STORE_F_SEEN);
	/* and once the stamp is settled, the warm path is back */
	external_flags("cur", "body one", "");
	set_mtime("cur", m.tv_sec, m.tv_nsec);
	ch = sync_all(mb);
	cr_assert_eq(ch->n_flag_changes, 0, "a settled stamp read the folder");
	mailbox_close(&mb);
}

static const struct mailbox_changes *
sync_quick(struct mailbox *mb)
{
	const struct mailbox_changes *ch;

	cr_assert_eq(mailbox_sync(mb, MAILBOX_SYNC_EXPUNGES |
				  MAILBOX_SYNC_QUICK, &ch), 0, "sync: %s",
		     su_err(&u));
	return ch;
}

/* INBOX with msg1 and msg2 selected, its directories' mtimes set to
 * old: the next sync leaves a settled stamp. */
static struct mailbox *
sel_settled(time_t old)
{
	struct mailbox *mb;

	su_append(&u, "INBOX", msg1, 0);
	su_append(&u, "INBOX", msg2, 0);
	mb = sel("INBOX");
	set_mtime("cur", old, 5);
	set_mtime("new", old, 7);
	return mb;
}

/* After our own flag rename the stamp follows it (md_own_end), so the
 * next command's sync reads no directory; what another program changed
 * in the same clock tick (the mtime as ours) is seen by a strict sync
 * (IDLE, SELECT) at once, and by a command's once the mtime settles. */
Test(maildir, own_flag_change_is_not_scanned_for_until_it_settles)
{
	struct mailbox *mb;
	const struct mailbox_changes *ch;
	struct timespec m, pause = { 1, 200000000 };
	time_t old = time(NULL) - 100;
	uint32_t seq = 1;

	mb = sel_settled(old);
	sync_all(mb);		/* a settled stamp */
	cr_assert_eq(mailbox_store_flags(mb, &seq, 1, STORE_FLAGS_ADD,
					 STORE_F_FLAGGED, NULL), 0);
	get_mtime("cur", &m);
	cr_assert_neq(m.tv_sec, old, "the STORE renamed in cur/");
	/* another program, in the same tick as our rename */
	external_flags("cur", "body two", "S");
	set_mtime("cur", m.tv_sec, m.tv_nsec);
	ch = sync_quick(mb);
	cr_assert_eq(ch->n_flag_changes, 0, "the quick sync read cur/");
	cr_assert_eq(mailbox_view(mb)->msgs[1].flags, 0);
	ch = sync_all(mb);
	cr_assert_eq(ch->n_flag_changes, 1, "the strict sync missed it");
	cr_assert_eq(mailbox_view(mb)->msgs[1].flags, STORE_F_SEEN);

	/* again, and this time the command's sync comes after it settled */
	set_mtime("cur", old, 5);
	sync_all(mb);
	seq = 2;
	cr_assert_eq(mailbox_store_flags(mb, &seq, 1, STORE_FLAGS_ADD,
					 STORE_F_FLAGGED, NULL), 0);
	get_mtime("cur", &m);
	external_flags("cur", "body one", "FS");
	set_mtime("cur", m.tv_sec, m.tv_nsec);
	nanosleep(&pause, NULL);
	ch = sync_quick(mb);
	cr_assert_eq(ch->n_flag_changes, 1, "missed once settled");
	cr_assert_eq(mailbox_view(mb)->msgs[0].flags,
		     STORE_F_FLAGGED | STORE_F_SEEN);
	mailbox_close(&mb);
}

/* The same for an APPEND's new file and an EXPUNGE's unlink: the next
 * command's sync reads no directory; a strict one sees what another
 * program did in the same tick. */
Test(maildir, own_append_and_expunge_are_not_scanned_for)
{
	struct mailbox *mb;
	struct timespec m;
	time_t old = time(NULL) - 100;
	uint32_t seq = 3;

	mb = sel_settled(old);
	sync_all(mb);
	cr_assert_eq(su_append(&u, "INBOX", msg3, 0), 3);
	get_mtime("cur", &m);
	external_flags("cur", "body one", "S");
	set_mtime("cur", m.tv_sec, m.tv_nsec);
	sync_quick(mb);
	cr_assert_eq(mailbox_view(mb)->n, 3, "the APPEND is in the view");
	cr_assert_eq(mailbox_view(mb)->msgs[0].flags, 0, "cur/ was read");
	sync_all(mb);
	cr_assert_eq(mailbox_view(mb)->msgs[0].flags, STORE_F_SEEN);

	cr_assert_eq(mailbox_store_flags(mb, &seq, 1, STORE_FLAGS_ADD,
					 STORE_F_DELETED, NULL), 0);
	set_mtime("cur", old, 5);
	sync_all(mb);
	cr_assert_eq(mailbox_expunge(mb, NULL, 0), 0);
	get_mtime("cur", &m);
	external_flags("cur", "body two", "S");
	set_mtime("cur", m.tv_sec, m.tv_nsec);
	sync_quick(mb);
	cr_assert_eq(mailbox_view(mb)->n, 2, "the EXPUNGE is in the view");
	cr_assert_eq(mailbox_view(mb)->msgs[1].flags, 0, "cur/ was read");
	sync_all(mb);
	cr_assert_eq(mailbox_view(mb)->msgs[1].flags, STORE_F_SEEN);
	mailbox_close(&mb);
}

Test(maildir, fetch_follows_a_renamed_file)
{
	struct mailbox *mb;
	char *b;

	su_append(&u, "INBOX", msg1, 0);
	mb = sel("INBOX");
	/* renamed (flags changed) after our last sync */
	external_flags("cur", "body one", "RS");
	b = su_read_msg(mb, 1);
	cr_assert_not_null(b, "%s", su_err(&u));
	cr_assert(strstr(b, "body one") != NULL);
	free(b);
	/* STORE applies to the file's current flags */
	{
		uint32_t seq = 1;

		external_flags("cur", "body one", "S");
		cr_assert_eq(mailbox_store_flags(mb, &seq, 1, STORE_FLAGS_ADD,
						 STORE_F_FLAGGED, NULL), 0);
		cr_assert_eq(mailbox_view(mb)->msgs[0].flags,
			     STORE_F_SEEN | STORE_F_FLAGGED);
		cr_assert_eq(mailbox_view(mb)->msgs[0].uid, 1);
	}
	/* gone for good */
	external_delete("cur", "body one");
	cr_assert_null(su_read_msg(mb, 1));
	cr_assert_eq(su_code(&u), STORE_ERR_EXPUNGED);
	mailbox_close(&mb);
}

/* Another session's scan between the APPEND's rename into cur/ and
 * its commit adopts the file with the flags its name shows; the
 * APPEND's keywords (kept in the index only) must not be lost. */
static void
scan_in_between(void)
{
	struct mailbox *other;

	maildir_test_after_rename = NULL;
	cr_assert_eq(mailbox_open(u.s, "INBOX", true, &other), 0, "%s",
		     store_error(u.s)->detail);
	cr_assert_eq(mailbox_view(other)->n, 1, "the scan adopted the file");
	mailbox_close(&other);
}

Test(maildir, append_adopted_by_a_scan_keeps_its_keywords)
{
	static const char *const kws[] = { "$Label1", NULL };
	const char *text = "Subject: k\r\n\r\nk\r\n";
	struct store_new_msg nm = { .data = text, .len = strlen(text),
				    .flags = STORE_F_FLAGGED, .keywords = kws };
	uint32_t uv, uid;
	struct mailbox *mb;
	const struct mailbox_view *v;

	maildir_test_after_rename = scan_in_between;
	cr_assert_eq(store_append(u.s, "INBOX", &nm, 1, &uv, &uid), 0, "%s",
		     store_error(u.s)->detail);
	cr_assert_null(maildir_test_after_rename, "the hook ran");
	cr_assert_eq(mailbox_open(u.s, "INBOX", true, &mb), 0);
	v = mailbox_view(mb);
	cr_assert_eq(v->n, 1, "one message, not two");
	cr_assert_eq(v->msgs[0].uid, uid, "APPENDUID is the adopted UID");
	cr_assert_eq(v->msgs[0].flags, STORE_F_FLAGGED);
	cr_assert_eq(v->n_keywords, 1);
	cr_assert_str_eq(v->keywords[0], "$Label1");
	cr_assert_eq(v->msgs[0].keywords, 1u, "the keyword is kept");
	mailbox_close(&mb);
}

Test(maildir, moved_between_new_and_cur_keeps_uid)
{
	struct mailbox *mb;
	const struct mailbox_changes *ch;

	deliver("", "1700000000.M9P9.mx", "Subject: n\n\nn\n");
	cr_assert_eq(mailbox_open(u.s, "INBOX", true, &mb), 0);
	cr_assert_eq(mailbox_view(mb)->msgs[0].uid, 1);
	/* another reader moves it to cur/ and marks it seen */
	su_rename(&u, "new/1700000000.M9P9.mx", "cur/1700000000.M9P9.mx:2,S");
	ch = sync_all(mb);
	cr_assert_eq(ch->n_expunged, 0);
	cr_assert_eq(ch->exists, 1);
	cr_assert_eq(mailbox_view(mb)->msgs[0].uid, 1);
	cr_assert_eq(mailbox_view(mb)->msgs[0].flags, STORE_F_SEEN);
	mailbox_close(&mb);
}

Test(maildir, duplicate_base_becomes_new_message)
{
	struct mailbox *mb;

	su_folder(&u, "");
	su_write(&u, "cur/1700000000.M1P1.h:2,S", "Subject: a\n\na\n");
	su_write(&u, "new/1700000000.M1P1.h", "Subject: b\n\nb\n");
	mb = sel("INBOX");
	cr_assert_eq(mailbox_view(mb)->n, 2, "nothing lost");
	cr_assert_eq(su_count(&u, "cur"), 2);
	mailbox_close(&mb);
}

/* A delivered file of 200 kB with mixed line ends is served with a CR
 * before each bare LF only, across the 64 kB reads: a CR ending one read
 * whose LF starts the next, a bare LF first in a read, lone CRs, CRLF
 * lines, no final newline. The reference is a byte-by-byte rewrite. */
Test(maildir, mixed_line_ends_served_across_reads)
{
	size_t n = 200 * 1024, k = 0;
	char *msg = malloc(n + 1), *want = malloc(2 * n + 1), *got;
	struct mailbox *mb;
	time_t date;
	uint64_t size;

	for (size_t i = 0; i < n; i++) {
		static const char pat[] = "ab\rc\r\nline\n";

		msg[i] = pat[i % (sizeof(pat) - 1)];
	}
	memcpy(msg, "Subject: ends\n\n", 15);
	msg[65534] = 'x';
	msg[65535] = '\r';	/* the last byte of the first read */
	msg[65536] = '\n';	/* the first of the second */
	msg[131071] = 'y';
	msg[131072] = '\n';	/* bare, first in the third read */
	msg[n - 1] = 'z';
	msg[n] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r'))
			want[k++] = '\r';
		want[k++] = msg[i];
	}
	want[k] = '\0';
	su_folder(&u, "");
	deliver("", "1700000000.M1P1.ends", msg);
	mb = sel("INBOX");
	got = su_read_msg(mb, 1);
	cr_assert_not_null(got);
	cr_assert_eq(strlen(got), k, "%zu %zu", strlen(got), k);
	cr_assert(strcmp(got, want) == 0, "served bytes differ");
	cr_assert_eq(mailbox_msg_info(mb, 1, &date, &size), 0);
	cr_assert_eq(size, k, "RFC822.SIZE is the served length");
	free(got);
	/* the same bytes in memory (no fd), and a head of them */
	{
		struct buf *mem = buf_new(2 << 20);
		off_t off;
		int fd;

		cr_assert_eq(mailbox_msg_read(mb, 1, 1 << 20, &fd, &off, mem,
					      &size), 0);
		cr_assert_eq(fd, -1);
		cr_assert_eq(size, k);
		cr_assert(buf_len(mem) == k &&
			  memcmp(buf_data(mem), want, k) == 0);
		/* too big for memory: an fd */
		cr_assert_eq(mailbox_msg_read(mb, 1, 4096, &fd, &off, mem,
					      &size), 0);
		cr_assert_geq(fd, 0);
		cr_assert_eq(size, k);
		close(fd);
		buf_free(&mem);
		su_assert_head(mb, 1, 65535, want, k);
		su_assert_head(mb, 1, 1 << 20, want, k);
	}
	mailbox_close(&mb);
	free(msg);
	free(want);
}

/* A header read out of a file with LF line ends (FETCH HEADER.FIELDS
 * with the tree cached) converts only the prefix asked for: the bytes
 * are those of the whole served message, and the size is the whole's. */
Test(maildir, prefix_open_serves_the_header_of_an_lf_file)
{
	static const char hdr[] = "From: a@example.org\nSubject: lf\n\n";
	char msg[8192], *whole;
	char got[64];
	struct mailbox *mb;
	uint64_t size, psize;
	off_t off;
	size_t n = strlen(hdr);
	int fd;

	memcpy(msg, hdr, n);
	while (n < sizeof(msg) - 40)
		n += (size_t)snprintf(msg + n, sizeof(msg) - n,
				      "a body line %zu\n", n);
	msg[n] = '\0';
	su_folder(&u, "");
	su_write(&u, "new/1700000000.M1P1.lf", msg);
	mb = sel("INBOX");
	/* the first open learns the served size */
	whole = su_read_msg(mb, 1);
	cr_assert_not_null(whole);
	size = strlen(whole);
	cr_assert_gt(size, n, "each LF became CRLF");
	/* what it learnt is in the index once the mailbox is closed */
	mailbox_close(&mb);
	mb = sel("INBOX");
	cr_assert_eq(mailbox_msg_open_prefix(mb, 1, 36, &fd, &off, &psize), 0);
	cr_assert_eq(psize, size, "the whole message's size");
	cr_assert_eq(pread(fd, got, 36, off), 36);
	cr_assert(memcmp(got, whole, 36) == 0, "%.36s", got);
	cr_assert(memcmp(got, "From: a@example.org\r\nSubject: lf\r\n\r\n",
			 36) == 0);
	{
		struct stat st;

		/* converted only that far (a page), not the 8 kB file */
		cr_assert_eq(fstat(fd, &st), 0);
		cr_assert_lt((uint64_t)st.st_size, size);
	}
	close(fd);
	free(whole);
	mailbox_close(&mb);
}

Test(maildir, tmp_keeps_recent_files)
{
	struct mailbox *mb;
	char *p = su_path(&u, "tmp/old.file");

	su_write(&u, "tmp/old.file", "x");
	su_write(&u, "tmp/fresh.file", "x");
	{
		/* ctime cannot be set: fake "old" by the rule's clock */
		struct timespec ts[2] = { { 1, 0 }, { 1, 0 } };

		cr_assert_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
	}
	free(p);
	mb = sel("INBOX");
	/* the 36 h rule goes by ctime, which is now for both (an mtime in
	 * 1970 does not make a file look abandoned) */
	cr_assert(su_exists(&u, "tmp/old.file"));
	cr_assert(su_exists(&u, "tmp/fresh.file"));
	mailbox_close(&mb);
}

/* ---- migration and rebuild --------------------------------------------- */

Test(maildir, dovecot_uidlist_migration_keeps_uids_and_keywords)
{
	struct store_status st;
	struct mailbox *mb;
	char *ul;
	FILE *f;

	su_folder(&u, ".Old");
	su_write(&u, ".Old/maildirfolder", "");
	su_write(&u, ".Old/cur/1600000001.M1P1.h,S=13:2,S", "Subject: a\n\na\n");
	su_write(&u, ".Old/cur/1600000002.M1P1.h:2,Sa", "Subject: b\n\nb\n");
	su_write(&u, ".Old/new/1600000003.M1P1.h", "Subject: c\n\nc\n");
	su_write(&u, ".Old/cur/1600000004.M1P1.h:2,", "Subject: d\n\nd\n");
	su_write(&u, ".Old/dovecot-keywords", "0 $Junk\n1 Work\n");
	su_write(&u, ".Old/dovecot-uidlist",
		 "3 V1234567 N100 G00112233445566778899aabbccddeeff\n"
		 "5 :1600000001.M1P1.h,S=13:2,S\n"
		 "7 W20 :1600000002.M1P1.h:2,\n"
		 "42 :1600000003.M1P1.h\n"
		 "60 :1599999999.gone.h:2,S\n");
	mb = sel("Old");
	cr_assert_eq(mailbox_view(mb)->uidvalidity, 1234567);
	cr_assert_eq(mailbox_view(mb)->n, 4);
	cr_assert_eq(mailbox_view(mb)->msgs[0].uid, 5);
	cr_assert_eq(mailbox_view(mb)->msgs[1].uid, 7);
	cr_assert_eq(mailbox_view(mb)->msgs[2].uid, 42);
	cr_assert_eq(mailbox_view(mb)->msgs[3].uid, 100,
		     "unknown to Dovecot: after its nextuid");
	cr_assert_eq(mailbox_view(mb)->msgs[1].flags, STORE_F_SEEN);
	cr_assert_eq(mailbox_view(mb)->n_keywords >= 1, true);
	{
		const struct mailbox_view *v = mailbox_view(mb);
		bool junk = false;

		for (size_t i = 0; i < v->n_keywords; i++)
			if (strcmp(v->keywords[i], "$Junk") == 0)
				junk = v->msgs[1].keywords & (1ull << i);
		cr_assert(junk, "letter a = $Junk");
	}
	mailbox_close(&mb);
	cr_assert_eq(store_status(u.s, "Old", &st), 0);
	cr_assert_eq(st.uidnext, 101);
	/* the list now also has UID 100, for a rebuild or for Dovecot */
	ul = su_path(&u, ".Old/dovecot-uidlist");
	f = fopen(ul, "r");
	cr_assert_not_null(f);
	{
		char buf[4096];
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);

		buf[n] = '\0';
		cr_assert(strstr(buf, "\n100 :1600000004.M1P1.h:2,\n") != NULL,
			  "%s", buf);
		cr_assert(strncmp(buf, "3 V1234567 ", 11) == 0, "%s", buf);
	}
	fclose(f);
	free(ul);
}

Test(maildir, courier_uiddb_migration)
{
	struct mailbox *mb;

	su_folder(&u, ".C");
	su_write(&u, ".C/cur/1600000001.M1P1.h:2,S", "Subject: a\n\na\n");
	su_write(&u, ".C/cur/1600000002.M1P1.h:2,", "Subject: b\n\nb\n");
	su_write(&u, ".C/courierimapuiddb",
		 "1 777 20\n3 1600000001.M1P1.h:2,S\n9 1600000002.M1P1.h\n");
	mb = sel("C");
	cr_assert_eq(mailbox_view(mb)->uidvalidity, 777);
	cr_assert_eq(mailbox_view(mb)->msgs[0].uid, 3);
	cr_assert_eq(mailbox_view(mb)->msgs[1].uid, 9);
	cr_assert_eq(mailbox_view(mb)->uidnext, 20);
	mailbox_close(&mb);
}

/* A dovecot-uidlist with values that would use up the UID or the
 * UIDVALIDITY space (uidlist.h): not believed, so the folder, and every
 * folder created later, still works. */
Test(maildir, hostile_uidlist_never_pins_the_index)
{
	struct mailbox *mb;
	uint32_t uid;

	su_folder(&u, ".H");
	su_write(&u, ".H/cur/1600000001.M1P1.h:2,S", "Subject: a\n\na\n");
	su_write(&u, ".H/cur/1600000002.M1P1.h:2,", "Subject: b\n\nb\n");
	su_write(&u, ".H/dovecot-uidlist",
		 "3 V4294967295 N4294967295\n"
		 "1 :1600000001.M1P1.h:2,S\n"
		 "4294967294 :1600000002.M1P1.h:2,\n");
	mb = sel("H");
	cr_assert_neq(mailbox_view(mb)->uidvalidity, 4294967295u);
	cr_assert_eq(mailbox_view(mb)->n, 2);
	cr_assert_eq(mailbox_view(mb)->msgs[1].uid, 2);
	mailbox_close(&mb);
	cr_assert_eq(su_append(&u, "H", msg1, 0), 3);
	cr_assert_eq(store_create(u.s, "Later", 0), 0, "%s", su_err(&u));
	mb = sel("Later");
	cr_assert_neq(mailbox_view(mb)->uidvalidity, 0);
	mailbox_close(&mb);

	/* A sane header with one line at 2^31: that line is skipped. */
	su_folder(&u, ".G");
	su_write(&u, ".G/cur/1600000001.M1P1.h:2,", "Subject: a\n\na\n");
	su_write(&u, ".G/cur/1600000002.M1P1.h:2,", "Subject: b\n\nb\n");
	su_write(&u, ".G/dovecot-uidlist",
		 "3 V1000 N10\n"
		 "4 :1600000001.M1P1.h\n"
		 "2147483648 :1600000002.M1P1.h\n");
	mb = sel("G");
	cr_assert_eq(mailbox_view(mb)->uidvalidity, 1000);
	cr_assert_eq(mailbox_view(mb)->msgs[0].uid, 4);
	cr_assert_eq(mailbox_view(mb)->msgs[1].uid, 10);
	mailbox_close(&mb);
	uid = su_append(&u, "G", msg1, 0);
	cr_assert_eq(uid, 11);
}

/* A list whose GUID is not hex is not used (uidlist.h); Moat's rewrite
 * of it must not copy that GUID, or its own list would stay unusable
 * and a later index rebuild could not keep the UIDs. */
Test(maildir, bad_uidlist_guid_not_carried_over)
{
	struct mailbox *mb;
	uint32_t uv, uid;

	su_folder(&u, ".B");
	su_write(&u, ".B/cur/1600000001.M1P1.h:2,", "Subject: a\n\na\n");
	su_write(&u, ".B/dovecot-uidlist",
		 "3 V1234 N10 Gzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\n"
		 "4 :1600000001.M1P1.h\n");
	mb = sel("B");
	uv = mailbox_view(mb)->uidvalidity;
	cr_assert_neq(uv, 1234, "the list is not usable");
	uid = mailbox_view(mb)->msgs[0].uid;
	mailbox_close(&mb);
	su_close(&u);
	tu_rmrf(u.index);
	su_open(&u);
	mb = sel("B");
	cr_assert_eq(mailbox_view(mb)->uidvalidity, uv,
		     "Moat's own list keeps the UIDVALIDITY");
	cr_assert_eq(mailbox_view(mb)->msgs[0].uid, uid);
	mailbox_close(&mb);
}

Test(maildir, deleted_index_rebuilds_with_same_uids)
{
	struct mailbox *mb;
	uint32_t uv, uids[4], seq = 2;

	for (int i = 0; i < 4; i++)
		uids[i] = su_append(&u, "INBOX", i == 2 ? msg3 : msg1, 0);
	mb = sel("INBOX");
	uv = mailbox_view(mb)->uidvalidity;
	cr_assert_eq(mailbox_store_flags(mb, &seq, 1, STORE_FLAGS_ADD,
					 STORE_F_DELETED | STORE_F_SEEN, NULL),
		     0);
	cr_assert_eq(mailbox_expunge(mb, NULL, 0), 0);
	mailbox_close(&mb);
	/* the highest UID goes too: it must not be handed out again */
	{
		struct mailbox *m2 = sel("INBOX");
		uint32_t s3 = 3;

		cr_assert_eq(mailbox_store_flags(m2, &s3, 1, STORE_FLAGS_ADD,
						 STORE_F_DELETED, NULL), 0);
		cr_assert_eq(mailbox_expunge(m2, NULL, 0), 0);
		mailbox_close(&m2);
	}
	su_close(&u);
	tu_rmrf(u.index);
	su_open(&u);
	mb = sel("INBOX");
	cr_assert_eq(mailbox_view(mb)->uidvalidity, uv, "UIDVALIDITY kept");
	cr_assert_eq(mailbox_view(mb)->n, 2);
	cr_assert_eq(mailbox_view(mb)->msgs[0].uid, uids[0]);
	cr_assert_eq(mailbox_view(mb)->msgs[1].uid, uids[2]);
	{
		char *b = su_read_msg(mb, 2);

		cr_assert(strstr(b, "three") != NULL);
		free(b);
	}
	mailbox_close(&mb);
	cr_assert_gt(su_append(&u, "INBOX", msg2, 0), uids[3],
		     "no UID handed out twice");
}

Test(maildir, deleted_index_without_uidlist_gets_new_uidvalidity)
{
	struct mailbox *mb;
	uint32_t uv;

	su_append(&u, "INBOX", msg1, 0);
	mb = sel("INBOX");
	uv = mailbox_view(mb)->uidvalidity;
	mailbox_close(&mb);
	su_close(&u);
	tu_rmrf(u.index);
	su_unlink(&u, "dovecot-uidlist");
	sleep(1);
	su_open(&u);
	mb = sel("INBOX");
	cr_assert_neq(mailbox_view(mb)->uidvalidity, uv,
		      "the files cannot tell the UIDs: UIDVALIDITY changes");
	cr_assert_eq(mailbox_view(mb)->n, 1);
	mailbox_close(&mb);
}

/* dovecot-uidlist's text (NUL-terminated, free it). */
static char *
uidlist_text(void)
{
	char *ul = su_path(&u, "dovecot-uidlist"), *data = calloc(1, 65536);
	FILE *f = fopen(ul, "r");

	cr_assert(data != NULL && f != NULL, "%s", ul);
	cr_assert_gt(fread(data, 1, 65535, f), 0, "%s is empty", ul);
	fclose(f);
	free(ul);
	return data;
}

/* The N of its header ("3 V.. N.. G.."), 0 if none. */
static unsigned long
uidlist_next(void)
{
	char *data = uidlist_text(), *nl = strchr(data, '\n'), *n;
	unsigned long next = 0;

	if ((n = strstr(data, " N")) != NULL && (nl == NULL || n < nl))
		next = strtoul(n + 2, NULL, 10);
	free(data);
	return next;
}

/* A UID whose line never reached dovecot-uidlist (its session killed
 * between the index commit and the append, or the list's lock busy)
 * and whose message was then expunged must not go to another message
 * when the index is rebuilt from the list under the same UIDVALIDITY
 * (RFC 9051 2.3.1.1: UIDs are not reused). The list's N is reserved
 * ahead of every allocation (md_uidlist_reserve). */
Test(maildir, uid_missing_from_the_uidlist_is_not_reused_by_a_rebuild)
{
	struct mailbox *mb;
	uint32_t uv, lost, seq = 3;
	char *ul, *data, *line, head[64];
	FILE *f;

	su_append(&u, "INBOX", msg1, 0);
	su_append(&u, "INBOX", msg2, 0);
	mb = sel("INBOX");		/* writes the list */
	mailbox_close(&mb);
	lost = su_append(&u, "INBOX", msg3, 0);
	/* its line is lost */
	ul = su_path(&u, "dovecot-uidlist");
	data = uidlist_text();
	snprintf(head, sizeof(head), "\n%u :", lost);
	line = strstr(data, head);
	cr_assert_not_null(line, "UID %u listed: %s", lost, data);
	*strchr(line + 1, '\n') = '\0';
	*(line + 1) = '\0';
	f = fopen(ul, "w");
	cr_assert_not_null(f);
	fputs(data, f);
	fclose(f);
	free(data);
	free(ul);
	mb = sel("INBOX");
	uv = mailbox_view(mb)->uidvalidity;
	cr_assert_eq(mailbox_view(mb)->msgs[2].uid, lost);
	cr_assert_eq(mailbox_store_flags(mb, &seq, 1, STORE_FLAGS_ADD,
					 STORE_F_DELETED, NULL), 0);
	cr_assert_eq(mailbox_expunge(mb, NULL, 0), 0);
	mailbox_close(&mb);
	su_write(&u, "new/1700000009.M9P1.mda", "Subject: later\n\nlater\n");
	su_close(&u);
	tu_rmrf(u.index);
	su_open(&u);
	mb = sel("INBOX");
	cr_assert_eq(mailbox_view(mb)->uidvalidity, uv, "UIDVALIDITY kept");
	cr_assert_eq(mailbox_view(mb)->n, 3);
	cr_assert_gt(mailbox_view(mb)->msgs[2].uid, lost,
		     "UID %u was seen for another message",
		     mailbox_view(mb)->msgs[2].uid);
	mailbox_close(&mb);
}

/* Rewrites the header's N (the list as it is otherwise). */
static void
uidlist_set_next(unsigned long next)
{
	char *ul = su_path(&u, "dovecot-uidlist"), *data = uidlist_text(), *n;
	FILE *f;

	n = strstr(data, " N");
	cr_assert(n != NULL && n < strchr(data, '\n'), "%s", data);
	f = fopen(ul, "w");
	cr_assert_not_null(f);
	fprintf(f, "%.*s N%lu%s", (int)(n - data), data, next,
		n + 2 + strspn(n + 2, "0123456789"));
	fclose(f);
	free(data);
	free(ul);
	cr_assert_eq(uidlist_next(), next);
}

/* The reservation's failure path: while another holder keeps the
 * list's dotlock (a session killed holding it leaves it for 120 s), a
 * commit that needs N raised waits only briefly and goes on without a
 * limit; the line is still appended under the flock, and the first
 * commit after the lock is gone reserves again. */
Test(maildir, busy_uidlist_lock_delays_no_commit_and_the_next_one_reserves)
{
	struct timespec t0, t1;
	struct mailbox *mb;
	char *data, *lock;
	uint32_t uid;
	double ms;
	int fd;

	su_append(&u, "INBOX", msg1, 0);
	su_append(&u, "INBOX", msg2, 0);
	mb = sel("INBOX");		/* writes the list */
	mailbox_close(&mb);
	cr_assert_geq(uidlist_next(), 3);
	/* N3: the next commit (UID 3) needs N raised to 4 at least */
	uidlist_set_next(3);
	lock = su_path(&u, "dovecot-uidlist.lock");
	fd = open(lock, O_WRONLY | O_CREAT | O_EXCL, 0600);
	cr_assert_geq(fd, 0, "%s", lock);
	close(fd);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	uid = su_append(&u, "INBOX", msg3, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	cr_assert_eq(uid, 3);
	cr_assert_lt(ms, 1000, "APPEND waited %.0f ms for a busy lock", ms);
	cr_assert_eq(uidlist_next(), 3, "N raised without the lock");
	data = uidlist_text();
	cr_assert_not_null(strstr(data, "\n3 :"),
			   "UID 3's line appended under the flock: %s", data);
	free(data);

	cr_assert_eq(unlink(lock), 0);
	uid = su_append(&u, "INBOX", msg1, 0);
	cr_assert_eq(uid, 4);
	cr_assert_gt(uidlist_next(), 4, "reserved again once the lock was free");
	mb = sel("INBOX");
	cr_assert_eq(mailbox_view(mb)->n, 4);
	mailbox_close(&mb);
	free(lock);
}

/* Writes dovecot-uidlist.lock holding what a dotlock's creator puts in
 * it ("<pid>:<host>", as Dovecot's dotlocks). */
static char *
uidlist_lock_as(long pid, const char *host)
{
	char *lock = su_path(&u, "dovecot-uidlist.lock");
	FILE *f = fopen(lock, "wx");

	cr_assert_not_null(f, "%s", lock);
	fprintf(f, "%ld:%s", pid, host);
	fclose(f);
	return lock;
}

/* A session killed while holding the list's dotlock leaves it behind;
 * the pid in it lets the next writer take it over at once instead of
 * after 120 s of skipped updates, but only when that process is gone and
 * was on this host. */
Test(maildir, dotlock_of_a_dead_process_is_taken_over_at_once)
{
	char host[64] = "", *lock;
	struct mailbox *mb;
	pid_t dead;
	int st;

	cr_assert_eq(gethostname(host, sizeof(host) - 1), 0);
	su_append(&u, "INBOX", msg1, 0);
	su_append(&u, "INBOX", msg2, 0);
	mb = sel("INBOX");		/* writes the list */
	mailbox_close(&mb);
	dead = fork();
	cr_assert_geq(dead, 0);
	if (dead == 0)
		_exit(0);
	cr_assert_eq(waitpid(dead, &st, 0), dead);

	/* a live holder (our parent) and a dead one of another host: both
	 * are left alone, so N is not raised */
	uidlist_set_next(3);
	lock = uidlist_lock_as((long)getppid(), host);
	cr_assert_eq(su_append(&u, "INBOX", msg3, 0), 3);
	cr_assert_eq(uidlist_next(), 3, "a live holder's lock was broken");
	cr_assert_eq(access(lock, F_OK), 0);
	cr_assert_eq(unlink(lock), 0);
	free(lock);
	lock = uidlist_lock_as((long)dead, "elsewhere.example");
	cr_assert_eq(su_append(&u, "INBOX", msg1, 0), 4);
	cr_assert_eq(uidlist_next(), 3, "another host's lock was broken");
	cr_assert_eq(unlink(lock), 0);
	free(lock);

	/* the dead holder of this host: taken over, N reserved at once */
	lock = uidlist_lock_as((long)dead, host);
	cr_assert_eq(su_append(&u, "INBOX", msg2, 0), 5);
	cr_assert_gt(uidlist_next(), 5, "the dead holder's lock was kept");
	cr_assert_neq(access(lock, F_OK), 0, "a lock is left behind");
	free(lock);
}

/* A commit's UIDs need not ascend: a message another session's scan
 * adopted first keeps that UID, among UIDs allocated now (commit_news).
 * dovecot-uidlist must still list every UID once and in order, or
 * Dovecot takes it for broken (found under load in
 * maildir_multi::concurrent_sessions_and_delivery: "3 :..." after 11). */
Test(maildir, uidlist_lines_stay_in_order_whatever_the_commit_order)
{
	char *names[] = { "1700000005.M5P1.mda", "1700000003.M3P1.mda",
			  "1700000004.M4P1.mda", "1700000007.M7P1.mda",
			  "1700000006.M6P1.mda", "1700000006.M6P1.mda:2,S" };
	uint32_t late[] = { 5, 3, 4 }, ahead[] = { 7, 6, 6 };
	unsigned long want[] = { 1, 2, 3, 4, 5, 6, 7 }, uid;
	struct mailbox *mb;
	char *ul, line[512];
	size_t n = 0;
	FILE *f;

	su_append(&u, "INBOX", msg1, 0);
	su_append(&u, "INBOX", msg2, 0);
	mb = sel("INBOX");
	/* 3-5 behind the list's last line (merged), then 7, 6 past it
	 * (appended), with 6 twice */
	md_uidlist_append(mb, late, names, 3);
	md_uidlist_append(mb, ahead, names + 3, 3);
	mailbox_close(&mb);
	ul = su_path(&u, "dovecot-uidlist");
	f = fopen(ul, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(line, sizeof(line), f));
	while (fgets(line, sizeof(line), f) != NULL) {
		uid = strtoul(line, NULL, 10);
		cr_assert_lt(n, 7, "one line too many: %s", line);
		cr_assert_eq(uid, want[n], "line %zu: %s", n + 2, line);
		n++;
	}
	fclose(f);
	free(ul);
	cr_assert_eq(n, 7);
}

/* ---- errors and attacks -------------------------------------------------- */

/* A private mount namespace with a small tmpfs as the Maildir (root
 * only; the test process is a child of Criterion's runner). */
static bool
small_fs(const char *dir, const char *size)
{
	char opts[64];

	if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return false;
	snprintf(opts, sizeof(opts), "size=%s,mode=0700", size);
	return mount("tmpfs", dir, "tmpfs", 0, opts) == 0;
}

Test(maildir_nospace, enospc_is_overquota_and_loses_nothing)
{
	struct su v;
	struct mailbox *mb;
	char *big = malloc(64 * 1024);
	uint32_t last = 0, uv, uid;
	int ok = 0;

	su_init(&v);
	cr_assert_eq(mkdir(v.maildir, 0700), 0);
	if (!small_fs(v.maildir, "256k")) {
		su_fini(&v);
		free(big);
		cr_skip_test("needs root for a private tmpfs");
	}
	su_open(&v);
	cr_assert_eq(store_ensure_defaults(v.s), 0);
	memset(big, 'x', 64 * 1024);
	for (int i = 0; i < 64 * 1024; i += 70)
		big[i] = '\n';
	for (int i = 0; i < 20; i++) {
		struct store_new_msg m = { .data = big, .len = 60 * 1024 };

		if (store_append(v.s, "INBOX", &m, 1, &uv, &uid) < 0) {
			cr_assert_eq(store_error(v.s)->code,
				     STORE_ERR_OVERQUOTA, "%s",
				     store_error(v.s)->detail);
			break;
		}
		last = uid;
		ok++;
	}
	cr_assert_lt(ok, 20, "the file system filled up");
	cr_assert_gt(ok, 0);
	cr_assert_eq(su_count(&v, "tmp"), 0, "no partial file left");
	cr_assert_eq(su_count(&v, "cur"), ok);
	cr_assert_eq(mailbox_open(v.s, "INBOX", false, &mb), 0);
	cr_assert_eq(mailbox_view(mb)->n, (size_t)ok, "every OK is there");
	cr_assert_eq(mailbox_view(mb)->msgs[ok - 1].uid, last);
	mailbox_close(&mb);
	su_fini(&v);
	free(big);
}

Test(maildir, symlinked_folder_is_not_a_mailbox)
{
	struct mailbox *mb;
	char *target = tu_path(u.base, "elsewhere"), *link = su_path(&u, ".Evil");

	cr_assert_eq(mkdir(target, 0700), 0);
	{
		char sub[600];

		snprintf(sub, sizeof(sub), "%s/cur", target);
		cr_assert_eq(mkdir(sub, 0700), 0);
		snprintf(sub, sizeof(sub), "%s/new", target);
		cr_assert_eq(mkdir(sub, 0700), 0);
		snprintf(sub, sizeof(sub), "%s/tmp", target);
		cr_assert_eq(mkdir(sub, 0700), 0);
		snprintf(sub, sizeof(sub), "%s/cur/1.M1.h:2,", target);
		FILE *f = fopen(sub, "w");
		fputs("secret\n", f);
		fclose(f);
	}
	cr_assert_eq(symlink(target, link), 0);
	cr_assert_eq(mailbox_open(u.s, "Evil", false, &mb), -1);
	cr_assert_eq(su_code(&u), STORE_ERR_NONEXISTENT);
	cr_assert_eq(store_delete(u.s, "Evil"), -1);
	{
		struct stat st;
		char p[600];

		snprintf(p, sizeof(p), "%s/cur/1.M1.h:2,", target);
		cr_assert_eq(stat(p, &st), 0, "nothing behind the link touched");
	}
	free(target);
	free(link);
}

Test(maildir, symlinked_cur_is_refused)
{
	struct mailbox *mb;
	char *target = tu_path(u.base, "elsewhere"), *cur = su_path(&u, ".Trap/cur");

	cr_assert_eq(store_create(u.s, "Trap", 0), 0);
	cr_assert_eq(mkdir(target, 0700), 0);
	cr_assert_eq(rmdir(cur), 0);
	cr_assert_eq(symlink(target, cur), 0);
	cr_assert_eq(mailbox_open(u.s, "Trap", false, &mb), -1);
	cr_assert_eq(su_code(&u), STORE_ERR_NONEXISTENT);
	free(target);
	free(cur);
}

Test(maildir, symlinked_message_file_is_ignored)
{
	struct mailbox *mb;
	char *link;

	su_folder(&u, "");
	link = su_path(&u, "cur/1700000000.M1P1.h:2,S");
	cr_assert_eq(symlink("/etc/passwd", link), 0);
	free(link);
	/* with sizes in the name: no stat would catch it */
	link = su_path(&u, "cur/1700000001.M1P1.h,S=10,W=10:2,S");
	cr_assert_eq(symlink("/etc/passwd", link), 0);
	su_append(&u, "INBOX", msg1, 0);
	mb = sel("INBOX");
	cr_assert_eq(mailbox_view(mb)->n, 1, "the link is not a message");
	{
		char *b = su_read_msg(mb, 1);

		cr_assert(strstr(b, "body one") != NULL);
		free(b);
	}
	mailbox_close(&mb);
	free(link);
}

Test(maildir, symlinked_subscriptions_file_not_followed)
{
	char *target = tu_path(u.base, "victim"), *link;
	FILE *f = fopen(target, "w");

	fputs("precious\n", f);
	fclose(f);
	link = su_path(&u, "subscriptions");
	(void)unlink(link);
	cr_assert_eq(symlink(target, link), 0);
	cr_assert_eq(store_subscribe(u.s, "Sent", true), -1);
	f = fopen(target, "r");
	{
		char buf[64] = "";

		cr_assert_not_null(fgets(buf, sizeof(buf), f));
		cr_assert_str_eq(buf, "precious\n");
	}
	fclose(f);
	free(target);
	free(link);
}

/* ---- several sessions, and the view map -------------------------------- */

Test(maildir, deleted_while_selected)
{
	struct mailbox *mb;
	const struct mailbox_changes *ch;

	cr_assert_eq(store_create(u.s, "Gone", 0), 0);
	su_append(&u, "Gone", msg1, 0);
	char *gone;

	mb = sel("Gone");
	/* another program removes the folder */
	gone = su_path(&u, ".Gone");
	tu_rmrf(gone);
	free(gone);
	cr_assert_eq(mailbox_sync(mb, MAILBOX_SYNC_EXPUNGES, &ch), -1);
	cr_assert_eq(su_code(&u), STORE_ERR_NONEXISTENT, "%s", su_err(&u));
	mailbox_close(&mb);
}

/* Sessions in other processes (fork before any store is opened): each
 * appends and syncs at the same time; every message gets exactly one
 * UID, and every session's view agrees with a fresh one. */
static void
child_appends(void *arg)
{
	struct su *v = arg;
	struct store_settings set = {
		.location = v->location, .index_dir = v->index, .fsync = false,
	};
	struct store_error err;
	struct store *s;
	struct mailbox *mb;
	const struct mailbox_changes *ch;
	char msg[128];
	pid_t me = getpid();

	TU_CHECK(store_open(&set, &s, &err) == 0, "open: %s", err.detail);
	TU_CHECK(mailbox_open(s, "INBOX", false, &mb) == 0, "select: %s",
		 store_error(s)->detail);
	for (int i = 0; i < 40; i++) {
		struct store_new_msg m = { .data = msg };
		uint32_t uv, uid;

		m.len = (size_t)snprintf(msg, sizeof(msg),
					 "Subject: %d-%d\r\n\r\nx\r\n", (int)me, i);
		TU_CHECK(store_append(s, "INBOX", &m, 1, &uv, &uid) == 0,
			 "append: %s", store_error(s)->detail);
		TU_CHECK(mailbox_sync(mb, MAILBOX_SYNC_EXPUNGES, &ch) == 0,
			 "sync: %s", store_error(s)->detail);
		for (size_t k = 1; k < mailbox_view(mb)->n; k++)
			TU_CHECK(mailbox_view(mb)->msgs[k - 1].uid <
				 mailbox_view(mb)->msgs[k].uid, "UID order");
	}
	mailbox_close(&mb);
	store_free(&s);
}

static void
deliver_many(void *arg)
{
	struct su *v = arg;

	for (int i = 0; i < 40; i++) {
		char tmp[600], dst[600];
		FILE *f;

		snprintf(tmp, sizeof(tmp), "%s/tmp/17000000%02d.M%dP%d.mda",
			 v->maildir, i, i, (int)getpid());
		snprintf(dst, sizeof(dst), "%s/new/17000000%02d.M%dP%d.mda",
			 v->maildir, i, i, (int)getpid());
		f = fopen(tmp, "w");
		TU_CHECK(f != NULL, "fopen");
		fprintf(f, "Subject: mda %d\n\nx\n", i);
		fclose(f);
		TU_CHECK(rename(tmp, dst) == 0, "rename");
	}
}

Test(maildir_multi, concurrent_sessions_and_delivery)
{
	struct su v;
	struct mailbox *mb;
	pid_t p[3];
	size_t files;

	su_init(&v);
	su_open(&v);
	cr_assert_eq(store_ensure_defaults(v.s), 0);
	su_close(&v);
	p[0] = tu_fork(child_appends, &v);
	p[1] = tu_fork(child_appends, &v);
	p[2] = tu_fork(deliver_many, &v);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(tu_wait(p[i], 50), 0, "child %d", i);
	su_open(&v);
	cr_assert_eq(mailbox_open(v.s, "INBOX", false, &mb), 0);
	files = (size_t)su_count(&v, "cur") + (size_t)su_count(&v, "new");
	cr_assert_eq(files, 120, "nothing lost on disk");
	cr_assert_eq(mailbox_view(mb)->n, 120, "one UID per message");
	for (size_t k = 1; k < mailbox_view(mb)->n; k++)
		cr_assert_lt(mailbox_view(mb)->msgs[k - 1].uid,
			     mailbox_view(mb)->msgs[k].uid);
	cr_assert_lt(mailbox_view(mb)->msgs[119].uid,
		     mailbox_view(mb)->uidnext);
	mailbox_close(&mb);
	{
		/* dovecot-uidlist: every UID once, in order (Dovecot takes
		 * a list with UIDs out of order for a broken one) */
		char *ul = su_path(&v, "dovecot-uidlist"), line[512];
		FILE *f = fopen(ul, "r");
		unsigned long prev = 0, n = 0;

		cr_assert_not_null(f);
		cr_assert_not_null(fgets(line, sizeof(line), f));
		cr_assert(strncmp(line, "3 V", 3) == 0, "%s", line);
		while (fgets(line, sizeof(line), f) != NULL) {
			unsigned long uid = strtoul(line, NULL, 10);

			cr_assert_gt(uid, prev, "%s", line);
			prev = uid;
			n++;
		}
		fclose(f);
		free(ul);
		cr_assert_eq(n, 120);
	}
	/* and the UID list agrees: a rebuild gives the same UIDs */
	{
		uint32_t before[120], uv;

		cr_assert_eq(mailbox_open(v.s, "INBOX", true, &mb), 0);
		uv = mailbox_view(mb)->uidvalidity;
		for (int k = 0; k < 120; k++)
			before[k] = mailbox_view(mb)->msgs[k].uid;
		mailbox_close(&mb);
		su_close(&v);
		tu_rmrf(v.index);
		su_open(&v);
		cr_assert_eq(mailbox_open(v.s, "INBOX", true, &mb), 0);
		cr_assert_eq(mailbox_view(mb)->uidvalidity, uv);
		cr_assert_eq(mailbox_view(mb)->n, 120);
		for (int k = 0; k < 120; k++)
			cr_assert_eq(mailbox_view(mb)->msgs[k].uid, before[k],
				     "message %d", k);
		mailbox_close(&mb);
	}
	su_fini(&v);
}

/* The view map against the truth: after a mix of APPEND, STORE,
 * EXPUNGE and outside changes, a session that followed along with
 * mailbox_sync, a fresh one (view map) and the files agree. */
Test(maildir, view_map_stays_exact)
{
	struct mailbox *a, *b;
	const char *kw[] = { "Blue", NULL };
	unsigned seed = 12345;

	for (int i = 0; i < 300; i++)
		su_append(&u, "INBOX", i % 2 ? msg1 : msg2, 0);
	a = sel("INBOX");
	for (int round = 0; round < 30; round++) {
		const struct mailbox_view *v = mailbox_view(a);
		uint32_t seqs[20];
		size_t n = 0;

		for (int k = 0; k < 20 && v->n > 0; k++) {
			seed = seed * 1103515245 + 12345;
			seqs[n++] = 1 + (seed >> 8) % v->n;
		}
		/* sorted, unique (as seqset gives them) */
		for (size_t x = 0; x < n; x++)
			for (size_t y = x + 1; y < n; y++)
				if (seqs[y] < seqs[x]) {
					uint32_t t = seqs[x];

					seqs[x] = seqs[y];
					seqs[y] = t;
				}
		{
			size_t w = 0;

			for (size_t x = 0; x < n; x++)
				if (w == 0 || seqs[w - 1] != seqs[x])
					seqs[w++] = seqs[x];
			n = w;
		}
		switch (round % 4) {
		case 0:
			cr_assert_eq(mailbox_store_flags(a, seqs, n,
				STORE_FLAGS_ADD, STORE_F_SEEN, kw), 0);
			break;
		case 1:
			cr_assert_eq(mailbox_store_flags(a, seqs, n,
				STORE_FLAGS_ADD, STORE_F_DELETED, NULL), 0);
			cr_assert_eq(mailbox_expunge(a, NULL, 0), 0);
			break;
		case 2: {
			char m[64];

			snprintf(m, sizeof(m), "Subject: r%d\r\n\r\nround\r\n",
				 round);
			su_append(&u, "INBOX", m, STORE_F_FLAGGED);
			break;
		}
		case 3: {
			char needle[16];

			snprintf(needle, sizeof(needle), "r%d\n", round - 1);
			external_flags("cur", needle, "RS");
			break;
		}
		}
		sync_all(a);
	}
	{
		unsigned long walks = u.s->vmap_walks, hits = u.s->vmap_hits;

		b = sel("INBOX");
		cr_assert_eq(u.s->vmap_walks, walks, "the map was up to date");
		cr_assert_eq(u.s->vmap_hits, hits + 1);
	}
	cr_assert_eq(mailbox_view(a)->n, mailbox_view(b)->n);
	for (size_t k = 0; k < mailbox_view(a)->n; k++) {
		const struct store_msg *x = &mailbox_view(a)->msgs[k];
		const struct store_msg *y = &mailbox_view(b)->msgs[k];

		cr_assert_eq(x->uid, y->uid, "seq %zu", k + 1);
		cr_assert_eq(x->flags, y->flags, "UID %u", x->uid);
		cr_assert_eq(x->keywords, y->keywords, "UID %u", x->uid);
		cr_assert_eq(x->modseq, y->modseq, "UID %u", x->uid);
	}
	cr_assert_eq((size_t)su_count(&u, "cur"), mailbox_view(b)->n);
	mailbox_close(&a);
	mailbox_close(&b);
}

/* The index is recreated under an open session (as idx_txn_run does
 * when a reopen finds it damaged): the session finds its mailbox again
 * from dovecot-uidlist, with the same UIDVALIDITY and UIDs, and goes on;
 * operations on stale ids before that are refused, not misdirected. */
Test(maildir, index_rebuilt_under_a_session)
{
	struct mailbox *mb;
	const struct mailbox_changes *ch;
	uint32_t uv, seq = 2;

	su_append(&u, "INBOX", msg1, 0);
	su_append(&u, "INBOX", msg2, STORE_F_SEEN);
	mb = sel("INBOX");
	uv = mailbox_view(mb)->uidvalidity;
	cr_assert_eq(idx_env_reset(u.s->env), IDX_OK);
	/* a new mailbox takes id 1 in the new index: the old id must not
	 * reach it */
	cr_assert_eq(store_create(u.s, "Other", 0), 0);
	cr_assert_eq(mailbox_store_flags(mb, &seq, 1, STORE_FLAGS_ADD,
					 STORE_F_FLAGGED, NULL), -1);
	cr_assert_eq(su_code(&u), STORE_ERR_TEMP);
	ch = sync_all(mb);
	cr_assert_eq(ch->n_expunged, 0);
	cr_assert_eq(mailbox_view(mb)->uidvalidity, uv);
	cr_assert_eq(mailbox_view(mb)->n, 2);
	cr_assert_eq(mailbox_view(mb)->msgs[1].flags, STORE_F_SEEN);
	cr_assert_eq(mailbox_store_flags(mb, &seq, 1, STORE_FLAGS_ADD,
					 STORE_F_FLAGGED, NULL), 0, "%s",
		     su_err(&u));
	mailbox_close(&mb);
	{
		struct store_status st;

		cr_assert_eq(store_status(u.s, "Other", &st), 0);
		cr_assert_eq(st.messages, 0, "nothing went to the new mailbox");
	}
}

/* Another program renames files (flag changes) all the time while we
 * scan: readdir(3) may then skip a file, and a scan that trusted it
 * would expunge the message and give it a new UID when it comes back.
 * Nothing may vanish and no UID may change. */
struct renamer {
	const char *cur;
	int n;
};

static void
rename_loop(void *arg)
{
	const struct renamer *r = arg;
	double end = tu_now() + 3.0;
	unsigned seed = (unsigned)getpid();

	while (tu_now() < end) {
		char a[600], b[600];
		int i;

		seed = seed * 1103515245 + 12345;
		i = (int)((seed >> 8) % (unsigned)r->n);
		snprintf(a, sizeof(a), "%s/1700%06d.M1P1.h:2,", r->cur, i);
		snprintf(b, sizeof(b), "%s/1700%06d.M1P1.h:2,S", r->cur, i);
		if (rename(a, b) < 0)
			(void)rename(b, a);
	}
}

Test(maildir, renames_during_scans_lose_nothing)
{
	struct renamer r = { .n = 3000 };
	struct mailbox *mb;
	char *cur;
	pid_t pid;
	int scans = 0;

	su_folder(&u, "");
	cur = su_path(&u, "cur");
	for (int i = 0; i < r.n; i++) {
		char rel[64];

		snprintf(rel, sizeof(rel), "cur/1700%06d.M1P1.h:2,", i);
		su_write(&u, rel, "Subject: x\n\nx\n");
	}
	mb = sel("INBOX");
	cr_assert_eq(mailbox_view(mb)->n, (size_t)r.n);
	r.cur = cur;
	pid = tu_fork(rename_loop, &r);
	while (waitpid(pid, NULL, WNOHANG) == 0 && scans < 500) {
		const struct mailbox_changes *ch = sync_all(mb);

		cr_assert_eq(ch->n_expunged, 0, "scan %d lost a message", scans);
		cr_assert_eq(mailbox_view(mb)->n, (size_t)r.n,
			     "scan %d: %zu messages", scans,
			     mailbox_view(mb)->n);
		scans++;
	}
	(void)kill(pid, SIGKILL);
	(void)waitpid(pid, NULL, 0);
	sync_all(mb);
	cr_assert_eq(mailbox_view(mb)->n, (size_t)r.n);
	for (int i = 0; i < r.n; i++)
		cr_assert_eq(mailbox_view(mb)->msgs[i].uid, (uint32_t)i + 1);
	cr_assert_gt(scans, 3, "the scans ran while files were renamed");
	mailbox_close(&mb);
	free(cur);
}
