/* Tests for the generic store (store.c, store-list.c, the cache of
 * store-view.c) on a Maildir:
 * mail locations, the namespace rules of RFC 9051 §6.3.4-6.3.6 (LIST
 * attributes, CREATE, DELETE, RENAME with hierarchies and INBOX),
 * subscriptions in Dovecot's file format, special-use folders made at
 * first login, STATUS. */
#include <criterion/criterion.h>

#include "store-util.h"

/* ---- locations ------------------------------------------------------- */

static struct su u;

static void
setup_plain(void)
{
	su_init(&u);
}

static void
teardown(void)
{
	su_fini(&u);
}

static int
try_open(const char *location, const char *user, struct store_error *err)
{
	struct store_settings set = {
		.location = location, .index_dir = u.index, .user = user,
	};
	struct store *s = NULL;
	int r = store_open(&set, &s, err);

	store_free(&s);
	return r;
}

TestSuite(location, .init = setup_plain, .fini = teardown, .timeout = 30);

Test(location, maildir_path_created_at_first_login)
{
	struct store_error err;

	cr_assert_eq(try_open(u.location, "tester", &err), 0, "%s",
		     err.detail);
	cr_assert(su_exists(&u, "."), "the Maildir root was made");
}

Test(location, percent_u_expanded)
{
	struct store_error err;
	char loc[600];

	snprintf(loc, sizeof(loc), "maildir:%s/%%u", u.base);
	cr_assert_eq(try_open(loc, "alice", &err), 0, "%s", err.detail);
	{
		char *p = tu_path(u.base, "alice");
		struct stat st;

		cr_assert_eq(stat(p, &st), 0);
		free(p);
	}
	cr_assert_eq(try_open(loc, "../etc", &err), -1,
		     "a user that is a path");
	cr_assert_eq(try_open(loc, "..", &err), -1);
	snprintf(loc, sizeof(loc), "maildir:%s/%%h", u.base);
	cr_assert_eq(try_open(loc, "alice", &err), -1);
	cr_assert(strstr(err.detail, "%h") != NULL, "%s", err.detail);
}

Test(location, refused_clearly)
{
	struct store_error err;
	char loc[600];

	cr_assert_eq(try_open("maildir:relative/path", "u", &err), -1);
	cr_assert(strstr(err.detail, "absolute") != NULL, "%s", err.detail);
	cr_assert_eq(try_open("/no/kind", "u", &err), -1);
	cr_assert(strstr(err.detail, "kind") != NULL, "%s", err.detail);
	cr_assert_eq(try_open("mh:/x", "u", &err), -1);
	cr_assert(strstr(err.detail, "unknown kind") != NULL, "%s",
		  err.detail);
	snprintf(loc, sizeof(loc), "maildir:%s:LAYOUT=fs", u.maildir);
	cr_assert_eq(try_open(loc, "u", &err), -1);
	cr_assert(strstr(err.detail, "LAYOUT") != NULL, "%s", err.detail);
	snprintf(loc, sizeof(loc), "maildir:%s:junk", u.maildir);
	cr_assert_eq(try_open(loc, "u", &err), -1);
	cr_assert(strstr(err.detail, "KEY=VALUE") != NULL, "%s", err.detail);
	cr_assert_eq(try_open("maildir:/tmp/x\n", "u", &err), -1,
		     "control characters");
}

Test(location, index_on_a_file_fails)
{
	struct store_error err;
	struct store_settings set = { .location = u.location,
				      .index_dir = "/dev/null/idx" };
	struct store *s = NULL;

	cr_assert_eq(store_open(&set, &s, &err), -1);
	cr_assert_null(s);
	cr_assert_neq(err.code, STORE_OK);
}

/* ---- namespace -------------------------------------------------------- */

static void
setup(void)
{
	su_init(&u);
	su_open(&u);
	cr_assert_eq(store_ensure_defaults(u.s), 0, "%s", su_err(&u));
}

TestSuite(ns, .init = setup, .fini = teardown, .timeout = 30);

struct listed {
	int n;
	char name[64][64];
	unsigned attrs[64];
};

static int
list_cb(const char *name, unsigned attrs, void *ctx)
{
	struct listed *l = ctx;

	cr_assert_lt(l->n, 64);
	snprintf(l->name[l->n], sizeof(l->name[0]), "%s", name);
	l->attrs[l->n++] = attrs;
	return 0;
}

/* attrs of name, or -1 when not listed */
static long
attrs_of(const char *name)
{
	struct listed l = { 0 };

	cr_assert_eq(store_list(u.s, list_cb, &l), 0, "%s", su_err(&u));
	for (int i = 1; i < l.n; i++)
		cr_assert(strcmp(l.name[i - 1], l.name[i]) < 0,
			  "name order: %s %s", l.name[i - 1], l.name[i]);
	for (int i = 0; i < l.n; i++)
		if (strcmp(l.name[i], name) == 0)
			return (long)l.attrs[i];
	return -1;
}

Test(ns, defaults_at_first_login)
{
	static const struct {
		const char *name;
		unsigned attr;
	} want[] = {
		{ "Drafts", STORE_LIST_DRAFTS }, { "Sent", STORE_LIST_SENT },
		{ "Trash", STORE_LIST_TRASH }, { "Junk", STORE_LIST_JUNK },
		{ "Archive", STORE_LIST_ARCHIVE },
	};

	cr_assert(attrs_of("INBOX") >= 0);
	cr_assert(attrs_of("INBOX") & STORE_LIST_SUBSCRIBED);
	for (size_t i = 0; i < 5; i++) {
		long a = attrs_of(want[i].name);

		cr_assert(a >= 0, "%s made", want[i].name);
		cr_assert(a & want[i].attr, "%s has its attribute",
			  want[i].name);
		cr_assert(a & STORE_LIST_SUBSCRIBED);
		cr_assert(!(a & STORE_LIST_NOSELECT));
	}
	cr_assert(su_exists(&u, ".Sent/maildirfolder"));
	/* deleted by the user: not made again at the next login */
	cr_assert_eq(store_delete(u.s, "Junk"), 0);
	cr_assert_eq(store_ensure_defaults(u.s), 0);
	cr_assert_eq(attrs_of("Junk") & ~(long)STORE_LIST_SUBSCRIBED,
		     STORE_LIST_NONEXISTENT, "only the subscription stays");
}

Test(ns, create_special_use_remembered)
{
	cr_assert_eq(store_create(u.s, "My Sent", STORE_LIST_SENT), 0);
	cr_assert(attrs_of("My Sent") & STORE_LIST_SENT);
	cr_assert_eq(store_rename(u.s, "My Sent", "Outbox"), 0);
	cr_assert(attrs_of("Outbox") & STORE_LIST_SENT,
		  "the attribute follows a rename");
}

Test(ns, hierarchy_parents_are_noselect)
{
	cr_assert_eq(store_create(u.s, "a/b/c", 0), 0, "%s", su_err(&u));
	/* Maildir++ has no .a or .a.b: RFC 5258's \NonExistent */
	cr_assert_eq(attrs_of("a"), STORE_LIST_NOSELECT |
		     STORE_LIST_NONEXISTENT | STORE_LIST_CHILDREN);
	cr_assert_eq(attrs_of("a/b"), STORE_LIST_NOSELECT |
		     STORE_LIST_NONEXISTENT | STORE_LIST_CHILDREN);
	cr_assert_eq(attrs_of("a/b/c"), 0);
	cr_assert(su_exists(&u, ".a.b.c/cur"));
	/* a parent can become a mailbox of its own */
	cr_assert_eq(store_create(u.s, "a", 0), 0);
	cr_assert_eq(attrs_of("a"), STORE_LIST_CHILDREN);
}

Test(ns, create_errors)
{
	cr_assert_eq(store_create(u.s, "Sent", 0), -1);
	cr_assert_eq(su_code(&u), STORE_ERR_EXISTS);
	cr_assert_eq(store_create(u.s, "INBOX", 0), -1);
	cr_assert_eq(su_code(&u), STORE_ERR_EXISTS);
	cr_assert_eq(store_create(u.s, "a.b", 0), -1,
		     "'.' is Maildir++'s own separator");
	cr_assert_eq(su_code(&u), STORE_ERR_CANNOT);
	cr_assert_eq(store_create(u.s, "x/../y", 0), -1);
	cr_assert_eq(store_create(u.s, "wild*", 0), -1);
}

Test(ns, delete_rules)
{
	cr_assert_eq(store_delete(u.s, "INBOX"), -1);
	cr_assert_eq(su_code(&u), STORE_ERR_CANNOT);
	cr_assert_eq(store_delete(u.s, "Nope"), -1);
	cr_assert_eq(su_code(&u), STORE_ERR_NONEXISTENT);
	cr_assert_eq(store_create(u.s, "p/q", 0), 0);
	/* RFC 9051 §6.3.4: a \Noselect name with children cannot go */
	cr_assert_eq(store_delete(u.s, "p"), -1);
	cr_assert_eq(su_code(&u), STORE_ERR_CANNOT);
	/* a mailbox with children: its messages go, the name stays as a
	 * \Noselect parent */
	cr_assert_eq(store_create(u.s, "p", 0), 0);
	su_append(&u, "p", "Subject: x\r\n\r\nx\r\n", 0);
	cr_assert_eq(store_delete(u.s, "p"), 0, "%s", su_err(&u));
	cr_assert_eq(attrs_of("p"), STORE_LIST_NOSELECT |
		     STORE_LIST_NONEXISTENT | STORE_LIST_CHILDREN);
	cr_assert_eq(attrs_of("p/q"), 0);
	cr_assert(!su_exists(&u, ".p"));
	/* nothing left behind */
	{
		DIR *d = opendir(u.maildir);
		struct dirent *de;

		while ((de = readdir(d)) != NULL)
			cr_assert(strncmp(de->d_name, "..moat", 6) != 0,
				  "%s", de->d_name);
		closedir(d);
	}
}

Test(ns, delete_then_create_gets_new_uidvalidity)
{
	struct store_status a, b;

	cr_assert_eq(store_create(u.s, "T", 0), 0);
	su_append(&u, "T", "Subject: x\r\n\r\nx\r\n", 0);
	cr_assert_eq(store_status(u.s, "T", &a), 0);
	cr_assert_eq(store_delete(u.s, "T"), 0);
	cr_assert_eq(store_create(u.s, "T", 0), 0);
	cr_assert_eq(store_status(u.s, "T", &b), 0);
	cr_assert_gt(b.uidvalidity, a.uidvalidity);
	cr_assert_eq(b.messages, 0);
}

Test(ns, rename_moves_children_keeps_uids)
{
	struct store_status a, b;

	cr_assert_eq(store_create(u.s, "w", 0), 0);
	cr_assert_eq(store_create(u.s, "w/x", 0), 0);
	cr_assert_eq(store_create(u.s, "w/x/y", 0), 0);
	su_append(&u, "w/x", "Subject: x\r\n\r\nx\r\n", 0);
	su_append(&u, "w/x", "Subject: y\r\n\r\ny\r\n", 0);
	cr_assert_eq(store_status(u.s, "w/x", &a), 0);
	cr_assert_eq(store_rename(u.s, "w", "v/z"), 0, "%s", su_err(&u));
	cr_assert_eq(attrs_of("w"), -1);
	cr_assert_eq(attrs_of("w/x"), -1);
	cr_assert_eq(attrs_of("v"), STORE_LIST_NOSELECT |
		     STORE_LIST_NONEXISTENT | STORE_LIST_CHILDREN);
	cr_assert_eq(attrs_of("v/z"), STORE_LIST_CHILDREN);
	cr_assert_eq(attrs_of("v/z/x/y"), 0);
	cr_assert_eq(store_status(u.s, "v/z/x", &b), 0);
	cr_assert_eq(b.uidvalidity, a.uidvalidity, "UIDVALIDITY kept");
	cr_assert_eq(b.uidnext, a.uidnext);
	cr_assert_eq(b.messages, 2);
}

Test(ns, rename_errors)
{
	cr_assert_eq(store_rename(u.s, "Nope", "X"), -1);
	cr_assert_eq(su_code(&u), STORE_ERR_NONEXISTENT);
	cr_assert_eq(store_rename(u.s, "Sent", "Trash"), -1);
	cr_assert_eq(su_code(&u), STORE_ERR_EXISTS);
	cr_assert_eq(store_rename(u.s, "Sent", "INBOX"), -1);
	cr_assert_eq(su_code(&u), STORE_ERR_EXISTS);
	cr_assert_eq(store_rename(u.s, "Sent", "Sent/Sub"), -1,
		     "not into itself");
	cr_assert_eq(store_create(u.s, "m/n", 0), 0);
	cr_assert_eq(store_create(u.s, "k/n", 0), 0);
	cr_assert_eq(store_create(u.s, "k", 0), 0);
	/* a child would land on an existing mailbox */
	cr_assert_eq(store_create(u.s, "m", 0), 0);
	cr_assert_eq(store_rename(u.s, "m", "j"), 0);
	cr_assert_eq(store_rename(u.s, "j", "k"), -1);
	cr_assert_eq(su_code(&u), STORE_ERR_EXISTS);
	cr_assert(attrs_of("j/n") >= 0, "nothing moved");
}

Test(ns, rename_inbox_moves_messages)
{
	struct store_status in, moved;

	cr_assert_eq(store_create(u.s, "INBOX/Child", 0), 0, "%s", su_err(&u));
	su_append(&u, "INBOX", "Subject: 1\r\n\r\n1\r\n", STORE_F_SEEN);
	su_append(&u, "INBOX", "Subject: 2\r\n\r\n2\r\n", 0);
	cr_assert_eq(store_rename(u.s, "INBOX", "Old Mail"), 0, "%s",
		     su_err(&u));
	cr_assert_eq(store_status(u.s, "INBOX", &in), 0);
	cr_assert_eq(in.messages, 0, "INBOX left empty");
	cr_assert_eq(store_status(u.s, "Old Mail", &moved), 0);
	cr_assert_eq(moved.messages, 2);
	cr_assert_eq(moved.unseen, 1, "flags kept");
	cr_assert(attrs_of("INBOX/Child") >= 0, "children stay");
	cr_assert(attrs_of("INBOX") >= 0);
}

Test(ns, status_counts)
{
	struct store_status st;

	su_append(&u, "INBOX", "Subject: 1\r\n\r\n1\r\n", STORE_F_SEEN);
	su_append(&u, "INBOX", "Subject: 2\r\n\r\n2\r\n", STORE_F_DELETED);
	cr_assert_eq(store_status(u.s, "INBOX", &st), 0);
	cr_assert_eq(st.messages, 2);
	cr_assert_eq(st.unseen, 1);
	cr_assert_eq(st.deleted, 1);
	cr_assert_eq(st.recent, 2);
	cr_assert_eq(st.uidnext, 3);
	cr_assert_eq(st.size, 2 * strlen("Subject: 1\r\n\r\n1\r\n"));
	cr_assert_eq(store_status(u.s, "Nope", &st), -1);
	cr_assert_eq(su_code(&u), STORE_ERR_NONEXISTENT);
}

/* ---- subscriptions ------------------------------------------------------ */

static char *
read_rel(const char *rel)
{
	char *p = su_path(&u, rel), *buf = calloc(1, 8192);
	FILE *f = fopen(p, "r");

	cr_assert_not_null(f, "%s", p);
	cr_assert(fread(buf, 1, 8191, f) > 0);
	fclose(f);
	free(p);
	return buf;
}

Test(ns, subscriptions_dovecot_v1_written)
{
	char *data;

	cr_assert_eq(store_subscribe(u.s, "Lists/debian", true), 0);
	cr_assert_eq(store_subscribe(u.s, "Caf\xc3\xa9", true), 0);
	cr_assert_eq(store_subscribe(u.s, "Trash", false), 0);
	data = read_rel("subscriptions");
	/* version 1: one storage name per line, '.' between levels,
	 * modified UTF-7 */
	cr_assert(strstr(data, "\nLists.debian\n") != NULL, "%s", data);
	cr_assert(strstr(data, "\nCaf&AOk-\n") != NULL, "%s", data);
	cr_assert(strstr(data, "Trash") == NULL, "%s", data);
	cr_assert(strstr(data, "INBOX\n") != NULL, "%s", data);
	free(data);
	cr_assert(attrs_of("Lists/debian") & STORE_LIST_NONEXISTENT);
	cr_assert(attrs_of("Lists/debian") & STORE_LIST_SUBSCRIBED);
	cr_assert(!(attrs_of("Trash") & STORE_LIST_SUBSCRIBED));
	/* subscribing twice keeps one line */
	cr_assert_eq(store_subscribe(u.s, "Sent", true), 0);
	data = read_rel("subscriptions");
	{
		int n = 0;

		for (char *p = data; (p = strstr(p, "Sent\n")) != NULL; p++)
			n++;
		cr_assert_eq(n, 1);
	}
	free(data);
}

Test(ns, subscriptions_dovecot_v2_read_and_kept)
{
	char *data;

	su_write(&u, "subscriptions",
		 "V\t2\n\nINBOX\nWork\tProjects\nCaf&AOk-\nodd\001tname\n");
	cr_assert(attrs_of("Work/Projects") & STORE_LIST_SUBSCRIBED);
	cr_assert(attrs_of("Caf\xc3\xa9") & STORE_LIST_SUBSCRIBED);
	cr_assert(attrs_of("odd\tname") == -1, "a TAB is a control: refused");
	cr_assert_eq(store_subscribe(u.s, "New/One", true), 0);
	data = read_rel("subscriptions");
	cr_assert(strncmp(data, "V\t2\n\n", 5) == 0, "%s", data);
	cr_assert(strstr(data, "\nNew\tOne\n") != NULL, "%s", data);
	cr_assert(strstr(data, "odd\001tname\n") != NULL,
		  "lines we cannot use are kept");
	free(data);
	cr_assert_eq(store_subscribe(u.s, "Work/Projects", false), 0);
	cr_assert_eq(attrs_of("Work/Projects"), -1,
		     "neither a mailbox nor subscribed");
}

Test(ns, subscriptions_lock_is_respected)
{
	/* someone (Dovecot) holds the lock: wait, then give up */
	su_write(&u, "subscriptions.lock", "");
	cr_assert_eq(store_subscribe(u.s, "X", true), -1);
	cr_assert_eq(su_code(&u), STORE_ERR_INUSE);
	su_unlink(&u, "subscriptions.lock");
	cr_assert_eq(store_subscribe(u.s, "X", true), 0);
}

/* ---- the parsed-structure cache (mailbox_msg_cache_*) ------------------ */

TestSuite(cache, .init = setup, .fini = teardown, .timeout = 30);

static int
cache_get(struct mailbox *mb, uint32_t seq, char *buf, size_t cap)
{
	size_t len = 0;
	int r = mailbox_msg_cache_get(mb, STORE_CACHE_STRUCT, seq, buf, cap - 1, &len);

	buf[r == 0 ? len : 0] = '\0';
	return r;
}

/* Put and get, one at a time and in a batch; a new session sees them
 * (they are in the index); an expunged message's value is gone with it
 * and the others stay. */
Test(cache, put_get_expunge)
{
	struct store_cache_put puts[2] = {
		{ 2, "two", 3 }, { 3, "three", 5 },
	};
	struct mailbox *mb;
	char buf[64];

	su_append(&u, "INBOX", "Subject: 1\r\n\r\none\r\n", 0);
	su_append(&u, "INBOX", "Subject: 2\r\n\r\ntwo\r\n", 0);
	su_append(&u, "INBOX", "Subject: 3\r\n\r\nthree\r\n", 0);
	cr_assert_eq(mailbox_open(u.s, "INBOX", false, &mb), 0, "%s",
		     su_err(&u));
	cr_expect_eq(cache_get(mb, 1, buf, sizeof(buf)), 1);
	cr_assert_eq(mailbox_msg_cache_put(mb, STORE_CACHE_STRUCT, 1, "one", 3), 0, "%s",
		     su_err(&u));
	cr_assert_eq(mailbox_msg_cache_put_n(mb, STORE_CACHE_STRUCT, puts, 2), 0, "%s",
		     su_err(&u));
	mailbox_close(&mb);
	cr_assert_eq(mailbox_open(u.s, "INBOX", false, &mb), 0);
	cr_expect_eq(cache_get(mb, 1, buf, sizeof(buf)), 0);
	cr_expect_str_eq(buf, "one");
	cr_expect_eq(cache_get(mb, 3, buf, sizeof(buf)), 0);
	cr_expect_str_eq(buf, "three");
	/* too small a buffer is a miss, not a cut value */
	cr_expect_eq(cache_get(mb, 3, buf, 4), 1);
	{
		uint32_t seq = 1;

		cr_assert_eq(mailbox_store_flags(mb, &seq, 1, STORE_FLAGS_ADD,
						 STORE_F_DELETED, NULL), 0);
	}
	cr_assert_eq(mailbox_expunge(mb, NULL, 0), 0, "%s", su_err(&u));
	mailbox_close(&mb);
	cr_assert_eq(mailbox_open(u.s, "INBOX", false, &mb), 0);
	cr_assert_eq(mailbox_view(mb)->n, 2);
	cr_expect_eq(cache_get(mb, 1, buf, sizeof(buf)), 0);
	cr_expect_str_eq(buf, "two");
	cr_expect_eq(cache_get(mb, 2, buf, sizeof(buf)), 0);
	cr_expect_str_eq(buf, "three");
	mailbox_close(&mb);
}

/* A value put while the index knew the message as one size is not
 * returned once the index knows another (here: a delivered file with LF
 * line ends and no size in its name, whose served CRLF size the first
 * mailbox_msg_info learns). */
Test(cache, stale_after_the_size_changes)
{
	struct mailbox *mb;
	time_t date;
	uint64_t size;
	char buf[64];

	su_write(&u, "new/1700000000.M1P1.host",
		 "Subject: lf\n\nline one\nline two\n");
	cr_assert_eq(mailbox_open(u.s, "INBOX", false, &mb), 0, "%s",
		     su_err(&u));
	cr_assert_eq(mailbox_view(mb)->n, 1);
	cr_assert_eq(mailbox_msg_cache_put(mb, STORE_CACHE_STRUCT, 1, "old", 3), 0, "%s",
		     su_err(&u));
	cr_expect_eq(cache_get(mb, 1, buf, sizeof(buf)), 0);
	cr_assert_eq(mailbox_msg_info(mb, 1, &date, &size), 0);
	cr_assert_eq(size, 35u);     /* with CRLF */
	cr_expect_eq(cache_get(mb, 1, buf, sizeof(buf)), 1,
		     "a value for the old size was returned: %s", buf);
	mailbox_close(&mb);
}

/* The values are read ahead in windows (a cursor walk over the next
 * messages, bounded in count and bytes): over more messages than one
 * window and more bytes than one (big values from seq 10 on), in order
 * and backwards, each get returns its own value; a put after a get that
 * read the window is seen by the next get (the window is not stale). */
Test(cache, read_ahead_windows)
{
	enum { N = 300, BIG = 40 * 1024 };
	struct store_cache_put puts[N];
	struct mailbox *mb;
	char *vals[N], *buf = malloc(BIG + 64);
	size_t len;

	cr_assert_not_null(buf);
	for (int i = 0; i < N; i++)
		su_append(&u, "INBOX", "Subject: w\r\n\r\nbody\r\n", 0);
	cr_assert_eq(mailbox_open(u.s, "INBOX", false, &mb), 0, "%s",
		     su_err(&u));
	cr_assert_eq(mailbox_view(mb)->n, N);
	for (int i = 0; i < N; i++) {
		size_t n = i >= 10 && i < 40 ? BIG : 16;

		vals[i] = malloc(n + 1);
		cr_assert_not_null(vals[i]);
		memset(vals[i], 'a' + i % 26, n);
		snprintf(vals[i], n, "value %d ", i);
		vals[i][strlen(vals[i])] = 'x';
		vals[i][n] = '\0';
		puts[i].seq = (uint32_t)i + 1;
		puts[i].data = vals[i];
		puts[i].len = n;
	}
	/* odd ones now, even ones after the first gets */
	for (int i = 1; i < N; i += 2)
		cr_assert_eq(mailbox_msg_cache_put(mb, STORE_CACHE_STRUCT, (uint32_t)i + 1,
						   vals[i], puts[i].len), 0);
	mailbox_close(&mb);
	cr_assert_eq(mailbox_open(u.s, "INBOX", false, &mb), 0);
	for (int i = 0; i < N; i++)
		cr_expect_eq(mailbox_msg_cache_get(mb, STORE_CACHE_STRUCT, (uint32_t)i + 1, buf,
						   BIG + 64, &len),
			     i % 2 == 1 ? 0 : 1, "seq %d", i + 1);
	for (int i = 0; i < N; i += 2)
		cr_assert_eq(mailbox_msg_cache_put_n(mb, STORE_CACHE_STRUCT, &puts[i], 1), 0);
	for (int pass = 0; pass < 2; pass++)
		for (int k = 0; k < N; k++) {
			int i = pass == 0 ? k : N - 1 - k;

			cr_assert_eq(mailbox_msg_cache_get(mb, STORE_CACHE_STRUCT, (uint32_t)i + 1,
							   buf, BIG + 64,
							   &len), 0,
				     "seq %d pass %d", i + 1, pass);
			cr_assert_eq(len, puts[i].len, "seq %d", i + 1);
			cr_assert(memcmp(buf, vals[i], len) == 0, "seq %d",
				  i + 1);
		}
	mailbox_close(&mb);
	for (int i = 0; i < N; i++)
		free(vals[i]);
	free(buf);
}

/* ---- administration: moatctl index check / rebuild -------------------- */

TestSuite(admin, .init = setup, .fini = teardown, .timeout = 30);

static const char msg_text[] = "From: a@example.org\r\nSubject: x\r\n\r\nhi\r\n";

/* check reports what a forced scan finds and records nothing; repair
 * records it and keeps the UIDs the index had. */
Test(admin, check_is_a_dry_run_repair_records)
{
	struct store_check c;
	struct store_status st;

	su_append(&u, "INBOX", msg_text, 0);
	su_append(&u, "INBOX", msg_text, STORE_F_SEEN);
	cr_assert_eq(store_mailbox_check(u.s, "INBOX", false, &c), 0, "%s",
		     su_err(&u));
	cr_assert_eq(c.indexed, 2, "indexed: got %u, want 2", c.indexed);
	cr_assert_eq(c.missing + c.changed + c.vanished, 0,
		     "a clean index: got %u/%u/%u", c.missing, c.changed,
		     c.vanished);
	su_write(&u, "cur/1700000000.M1P1.ext:2,F", "From: b@example.org\n"
		 "\nexternal\n");
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(store_mailbox_check(u.s, "INBOX", false, &c), 0,
			     "%s", su_err(&u));
		cr_assert_eq(c.missing, 1, "pass %d: missing: got %u, want 1",
			     i, c.missing);
		cr_assert_eq(c.indexed, 2, "pass %d: the dry run recorded "
			     "it: indexed %u", i, c.indexed);
	}
	cr_assert_eq(store_mailbox_check(u.s, "INBOX", true, &c), 0, "%s",
		     su_err(&u));
	cr_assert_eq(c.missing, 1);
	cr_assert_eq(store_mailbox_check(u.s, "INBOX", false, &c), 0);
	cr_assert_eq(c.indexed, 3, "repaired: indexed %u, want 3", c.indexed);
	cr_assert_eq(c.missing + c.changed + c.vanished, 0);
	cr_assert_eq(store_status(u.s, "INBOX", &st), 0);
	cr_assert_eq(st.uidnext, 4, "UIDs 1, 2 kept, 3 new: uidnext %u",
		     st.uidnext);
}

/* A reset index is rebuilt from the files with the same UIDVALIDITY and
 * UIDs (dovecot-uidlist). */
Test(admin, index_reset_keeps_uids)
{
	struct store_status a, b;

	su_append(&u, "INBOX", msg_text, 0);
	su_append(&u, "INBOX", msg_text, STORE_F_FLAGGED);
	cr_assert_eq(store_status(u.s, "INBOX", &a), 0);
	cr_assert_eq(store_index_reset(u.s), 0, "%s", su_err(&u));
	cr_assert_eq(store_status(u.s, "INBOX", &b), 0, "%s", su_err(&u));
	cr_assert_eq(b.messages, 2);
	cr_assert_eq(b.uidvalidity, a.uidvalidity, "uidvalidity: got %u, "
		     "want %u", b.uidvalidity, a.uidvalidity);
	/* at least: UIDs the list reserved are not handed out again */
	cr_assert_geq(b.uidnext, a.uidnext, "uidnext %u, was %u", b.uidnext,
		      a.uidnext);
}
