/* Tests for the lib/index API in one process: environment files and
 * modes, mailboxes (create, rename, delete, tombstones, reset, list),
 * UID allocation, messages and their counters and modseqs, range walks,
 * Maildir names, keywords and their limit, journal and cache records,
 * transaction semantics (abort, read-only, retry), and bounded logs. The
 * crash behaviour with several processes is in test-crash.c. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "index/index.h"
#include "util.h"

static char *base, *dir;
static struct idx_env *env;

static void
setup(void)
{
	struct idx_env_opts o = { .watchdog_secs = 20 };
	bool rebuilt = true;

	base = tu_tmpdir();
	dir = tu_path(base, "idx");
	cr_assert_eq(idx_env_open(dir, &o, &env, &rebuilt), IDX_OK);
	cr_assert(!rebuilt, "a new index counts as rebuilt");
}

static void
teardown(void)
{
	idx_env_close(&env);
	tu_rmrf(base);
	free(dir);
	free(base);
}

TestSuite(index, .init = setup, .fini = teardown, .timeout = 60);

/* ---- small transaction helpers --------------------------------------- */

struct mb {
	const char *name;
	uint32_t uidvalidity;
	struct idx_mbox rec;
};

static int
create_cb(struct idx_txn *txn, void *ctx)
{
	struct mb *m = ctx;

	return idx_mbox_create(txn, m->name, m->uidvalidity, &m->rec);
}

static struct idx_mbox
create(const char *name)
{
	struct mb m = { name, 0, { 0 } };
	int r = idx_txn_run(env, IDX_TXN_SYNC, create_cb, &m);

	cr_assert_eq(r, IDX_OK, "create %s: %s", name, idx_strerror(r));
	return m.rec;
}

static int
get_cb(struct idx_txn *txn, void *ctx)
{
	struct mb *m = ctx;

	return idx_mbox_get(txn, m->name, &m->rec);
}

static int
get(const char *name, struct idx_mbox *out)
{
	struct mb m = { name, 0, { 0 } };
	int r = idx_txn_run(env, IDX_TXN_READ, get_cb, &m);

	if (out != NULL)
		*out = m.rec;
	return r;
}

struct put {
	uint32_t id, n, first;
	uint8_t flags;
	uint64_t size;
};

/* Allocates n UIDs and stores a message for each. */
static int
add_cb(struct idx_txn *txn, void *ctx)
{
	struct put *p = ctx;
	uint32_t i;
	int r;

	if ((r = idx_uid_alloc(txn, p->id, p->n, &p->first)) != IDX_OK)
		return r;
	for (i = 0; i < p->n; i++) {
		struct idx_msg m;

		memset(&m, 0, sizeof(m));
		m.flags = p->flags;
		m.size = p->size;
		m.internaldate = 1000 + i;
		m.blob_len = (uint16_t)snprintf((char *)m.blob, IDX_BLOB_MAX,
						"msg-%u", p->first + i);
		if ((r = idx_msg_put(txn, p->id, p->first + i, &m, 0)) != IDX_OK)
			return r;
	}
	return IDX_OK;
}

static uint32_t
add(uint32_t id, uint32_t n, uint8_t flags, uint64_t size)
{
	struct put p = { id, n, 0, flags, size };
	int r = idx_txn_run(env, IDX_TXN_SYNC, add_cb, &p);

	cr_assert_eq(r, IDX_OK, "add: %s", idx_strerror(r));
	return p.first;
}

struct walk {
	uint32_t id, lo, hi;
	uint32_t uids[4096];
	size_t n;
	uint32_t stop_at;	/* return 1 at this uid */
	bool delete_each;
};

struct walk_run {
	struct walk *w;
	struct idx_txn *txn;
};

static struct walk_run *cur_walk;

static int
walk_msg(uint32_t uid, const struct idx_msg *m, void *ctx)
{
	struct walk *w = ctx;

	(void)m;
	if (w->n < sizeof(w->uids) / sizeof(w->uids[0]))
		w->uids[w->n] = uid;
	w->n++;
	if (w->delete_each) {
		int r = idx_msg_delete(cur_walk->txn, w->id, uid);

		if (r != IDX_OK)
			return r;
	}
	return uid == w->stop_at ? 1 : 0;
}

static int
walk_cb(struct idx_txn *txn, void *ctx)
{
	struct walk_run *wr = ctx;
	int r;

	wr->w->n = 0;	/* restartable */
	wr->txn = txn;
	cur_walk = wr;
	r = idx_msg_foreach(txn, wr->w->id, wr->w->lo, wr->w->hi, walk_msg,
			    wr->w);
	return r == 1 ? IDX_OK : r;
}

static int
walk(struct walk *w)
{
	struct walk_run wr = { w, NULL };

	return idx_txn_run(env, w->delete_each ? 0 : IDX_TXN_READ, walk_cb,
			   &wr);
}

/* ---- environment ------------------------------------------------------- */

Test(index, files_are_private)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	int n = 0;

	create("INBOX");
	cr_assert_eq(stat(dir, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0700, "dir mode %o",
		     (unsigned)(st.st_mode & 0777));
	d = opendir(dir);
	cr_assert_not_null(d);
	while ((de = readdir(d)) != NULL) {
		char *p;

		if (de->d_name[0] == '.')
			continue;
		p = tu_path(dir, de->d_name);
		cr_assert_eq(stat(p, &st), 0);
		cr_assert_eq(st.st_mode & 077, 0, "%s has mode %o", de->d_name,
			     (unsigned)(st.st_mode & 0777));
		free(p);
		n++;
	}
	closedir(d);
	cr_assert_geq(n, 8, "only %d files", n);
	cr_assert_eq(tu_count(dir, "DB_CONFIG"), 1);
	cr_assert_eq(tu_count(dir, "msgs.db"), 1);
	cr_assert_eq(tu_count(dir, "cache.db"), 1);
}

Test(index, one_env_per_process)
{
	struct idx_env *e2 = NULL;
	char *d2 = tu_path(base, "other");

	cr_assert_eq(idx_env_open(d2, NULL, &e2, NULL), IDX_INVAL);
	cr_assert_null(e2);
	free(d2);
}

Test(index, bad_directories)
{
	char *f = tu_path(base, "file"), *sub;
	struct idx_env *e2 = NULL;
	FILE *fp;

	idx_env_close(&env);
	fp = fopen(f, "w");
	cr_assert_not_null(fp);
	fclose(fp);
	cr_assert_eq(idx_env_open(f, NULL, &e2, NULL), IDX_INVAL,
		     "a plain file accepted as index directory");
	sub = tu_path(f, "idx");
	cr_assert_eq(idx_env_open(sub, NULL, &e2, NULL), IDX_INVAL);
	cr_assert_eq(idx_env_open("", NULL, &e2, NULL), IDX_INVAL);
	free(sub);
	free(f);
}

Test(index, directory_of_another_user)
{
	char *d2 = tu_path(base, "theirs");
	struct idx_env *e2 = NULL;

	if (geteuid() != 0)
		cr_skip_test("needs root to chown");
	idx_env_close(&env);
	cr_assert_eq(mkdir(d2, 0700), 0);
	cr_assert_eq(chown(d2, 65534, 65534), 0);
	cr_assert_eq(idx_env_open(d2, NULL, &e2, NULL), IDX_INVAL);
	free(d2);
}

Test(index, loose_mode_is_tightened)
{
	struct idx_env *e2 = NULL;
	struct stat st;

	idx_env_close(&env);
	cr_assert_eq(chmod(dir, 0755), 0);
	cr_assert_eq(idx_env_open(dir, NULL, &e2, NULL), IDX_OK);
	cr_assert_eq(stat(dir, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0700);
	idx_env_close(&e2);
}

Test(index, reopen_keeps_data)
{
	struct idx_mbox a = create("INBOX"), b;
	bool rebuilt = true;

	add(a.id, 3, 0, 10);
	idx_env_close(&env);
	cr_assert_null(env);
	cr_assert_eq(idx_env_open(dir, NULL, &env, &rebuilt), IDX_OK);
	cr_assert(!rebuilt);
	cr_assert_eq(get("INBOX", &b), IDX_OK);
	cr_assert_eq(b.id, a.id);
	cr_assert_eq(b.uidnext, 4);
	cr_assert_eq(b.messages, 3);
}

/* ---- releasing the environment while a session waits ------------------ */

/* Mappings of this index's region files (__db.00N) in this process. */
static int
regions_mapped(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[4096];
	int n = 0;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, dir) != NULL && strstr(line, "/__db.") != NULL)
			n++;
	fclose(f);
	return n;
}

static char *child_dir;

/* Another session of the user: adds 5 messages to INBOX, id 1. */
static void
writer_child(void *arg)
{
	(void)arg;
	idx_env_close(&env);	/* the parent's copy (released) */
	env = tu_open(child_dir, 20);
	(void)add(1, 5, 0, 10);
	idx_env_close(&env);
}

/* Another session that rebuilds the index (moatctl's rebuild). */
static void
reset_child(void *arg)
{
	(void)arg;
	idx_env_close(&env);
	env = tu_open(child_dir, 20);
	TU_CHECK(idx_env_reset(env) == IDX_OK, "reset refused");
	idx_env_close(&env);
}

/* idx_env_release unmaps the regions and frees the index's flock; the
 * next transaction attaches again and sees what others did meanwhile,
 * without counting a failure (the one reopen per call stays). */
Test(index, release_and_reattach)
{
	struct idx_mbox a = create("INBOX"), b;
	struct idx_stats st;

	add(a.id, 3, 0, 10);
	cr_assert_gt(regions_mapped(), 0);
	idx_env_release(env);
	cr_assert_eq(regions_mapped(), 0, "regions still mapped");
	idx_env_release(env);	/* a no-op when released */
	child_dir = dir;
	cr_assert_eq(tu_wait(tu_fork(writer_child, NULL), 30), 0);
	cr_assert_eq(get("INBOX", &b), IDX_OK);
	cr_assert_eq(b.messages, 8, "got %u messages", b.messages);
	cr_assert_gt(regions_mapped(), 0);
	idx_env_stats(env, &st);
	cr_assert_eq(st.releases, 1);
	cr_assert_eq(st.reattaches, 1);
	cr_assert_eq(st.reopens, 0);
	cr_assert_eq(st.rebuilds, 0);
}

/* While released, the session holds no flock: a rebuild elsewhere goes
 * ahead (it would wait for an attached session), and the released one
 * learns of it at its next transaction. */
Test(index, release_lets_a_rebuild_through)
{
	struct idx_mbox a = create("INBOX");

	add(a.id, 3, 0, 10);
	idx_env_release(env);
	child_dir = dir;
	cr_assert_eq(tu_wait(tu_fork(reset_child, NULL), 30), 0);
	cr_assert_eq(get("INBOX", NULL), IDX_REBUILT);
	cr_assert_eq(get("INBOX", NULL), IDX_NOTFOUND);
}

/* ---- mailboxes --------------------------------------------------------- */

Test(index, create_and_get)
{
	struct idx_mbox a, b, c;
	struct mb dup = { "INBOX", 0, { 0 } };
	time_t now = time(NULL);

	a = create("INBOX");
	cr_assert_eq(a.id, 1);
	cr_assert_eq(a.uidnext, 1);
	cr_assert_eq(a.recent_uid, 1);
	cr_assert_geq(a.highestmodseq, 1);
	cr_assert_geq((time_t)a.uidvalidity, now - 1);
	cr_assert_leq((time_t)a.uidvalidity, now + 1);
	cr_assert_eq(idx_txn_run(env, 0, create_cb, &dup), IDX_EXISTS);
	b = create("Sent");
	cr_assert_eq(b.id, 2);
	/* UIDVALIDITY values never repeat, even within one second. */
	cr_assert_gt(b.uidvalidity, a.uidvalidity);
	cr_assert_eq(get("Sent", &c), IDX_OK);
	cr_assert_eq(memcmp(&b, &c, sizeof(b)), 0);
	cr_assert_eq(get("Nope", NULL), IDX_NOTFOUND);
}

Test(index, create_with_given_uidvalidity)
{
	struct mb m = { "Imported", 12345, { 0 } };

	cr_assert_eq(idx_txn_run(env, IDX_TXN_SYNC, create_cb, &m), IDX_OK);
	cr_assert_eq(m.rec.uidvalidity, 12345);
}

Test(index, bad_names)
{
	char longname[IDX_NAME_MAX + 2];
	struct mb m = { "", 0, { 0 } };

	cr_assert_eq(idx_txn_run(env, 0, create_cb, &m), IDX_INVAL);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	m.name = longname;
	cr_assert_eq(idx_txn_run(env, 0, create_cb, &m), IDX_INVAL);
	longname[IDX_NAME_MAX] = '\0';	/* exactly the maximum is fine */
	cr_assert_eq(idx_txn_run(env, 0, create_cb, &m), IDX_OK);
}

struct byid {
	uint32_t id;
	char name[IDX_NAME_MAX + 1];
	size_t cap;
	struct idx_mbox rec;
};

static int
byid_cb(struct idx_txn *txn, void *ctx)
{
	struct byid *b = ctx;

	return idx_mbox_get_by_id(txn, b->id, b->name, b->cap, &b->rec);
}

Test(index, get_by_id)
{
	struct idx_mbox a = create("Lists.debian");
	struct byid b = { a.id, "", sizeof(b.name), { 0 } };

	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, byid_cb, &b), IDX_OK);
	cr_assert_str_eq(b.name, "Lists.debian");
	cr_assert_eq(b.rec.uidvalidity, a.uidvalidity);
	b.cap = 5;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, byid_cb, &b), IDX_LIMIT);
	b.id = 999;
	b.cap = sizeof(b.name);
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, byid_cb, &b), IDX_NOTFOUND);
}

struct ren {
	const char *from, *to;
};

static int
rename_cb(struct idx_txn *txn, void *ctx)
{
	struct ren *r = ctx;

	return idx_mbox_rename(txn, r->from, r->to);
}

static int
ren(const char *from, const char *to)
{
	struct ren r = { from, to };

	return idx_txn_run(env, IDX_TXN_SYNC, rename_cb, &r);
}

static int
delete_cb(struct idx_txn *txn, void *ctx)
{
	return idx_mbox_delete(txn, ctx);
}

static int
del(const char *name)
{
	return idx_txn_run(env, IDX_TXN_SYNC, delete_cb, (void *)name);
}

Test(index, rename_keeps_id_and_uids)
{
	struct idx_mbox a = create("Old"), b;
	struct walk w = { .lo = 1, .hi = 100 };

	add(a.id, 5, IDX_F_SEEN, 100);
	create("Taken");
	cr_assert_eq(ren("Old", "Taken"), IDX_EXISTS);
	cr_assert_eq(ren("Missing", "X"), IDX_NOTFOUND);
	cr_assert_eq(ren("Old", "Old"), IDX_EXISTS);
	cr_assert_eq(ren("Old", "New"), IDX_OK);
	cr_assert_eq(get("Old", NULL), IDX_NOTFOUND);
	cr_assert_eq(get("New", &b), IDX_OK);
	cr_assert_eq(b.id, a.id);
	cr_assert_eq(b.uidvalidity, a.uidvalidity);
	cr_assert_eq(b.uidnext, 6);
	cr_assert_eq(b.messages, 5);
	w.id = b.id;
	cr_assert_eq(walk(&w), IDX_OK);
	cr_assert_eq(w.n, 5);
	/* by id, the new name */
	{
		struct byid bi = { a.id, "", sizeof(bi.name), { 0 } };

		cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, byid_cb, &bi),
			     IDX_OK);
		cr_assert_str_eq(bi.name, "New");
	}
}

/* RFC 9051 §2.3.1.1: a new mailbox with the name of a deleted one gets
 * a greater UIDVALIDITY, and a new id (its messages are gone). */
Test(index, delete_then_recreate)
{
	struct idx_mbox a = create("Trash"), b;
	struct walk w = { .lo = 1, .hi = UINT32_MAX };

	add(a.id, 10, 0, 1);
	cr_assert_eq(del("Trash"), IDX_OK);
	cr_assert_eq(del("Trash"), IDX_NOTFOUND);
	cr_assert_eq(get("Trash", NULL), IDX_NOTFOUND);
	w.id = a.id;
	cr_assert_eq(walk(&w), IDX_OK);
	cr_assert_eq(w.n, 0, "messages of a deleted mailbox remain");
	b = create("Trash");
	cr_assert_gt(b.uidvalidity, a.uidvalidity);
	cr_assert_neq(b.id, a.id);
	cr_assert_eq(b.uidnext, 1);
	cr_assert_eq(b.messages, 0);
}

/* A tombstone also beats an imported UIDVALIDITY that is not greater. */
Test(index, tombstone_beats_given_uidvalidity)
{
	struct mb m = { "Box", 0, { 0 } };
	uint32_t old;

	cr_assert_eq(idx_txn_run(env, 0, create_cb, &m), IDX_OK);
	old = m.rec.uidvalidity;
	cr_assert_eq(del("Box"), IDX_OK);
	m.uidvalidity = old;	/* "migrating" the same value again */
	cr_assert_eq(idx_txn_run(env, 0, create_cb, &m), IDX_OK);
	cr_assert_gt(m.rec.uidvalidity, old);
}

Test(index, rename_away_then_recreate)
{
	struct idx_mbox a = create("A"), b;

	cr_assert_eq(ren("A", "B"), IDX_OK);
	b = create("A");
	cr_assert_gt(b.uidvalidity, a.uidvalidity);
}

/* Renaming into a name whose former owner had a UIDVALIDITY that is not
 * smaller gives the renamed mailbox a new one. */
Test(index, rename_into_tombstoned_name)
{
	struct idx_mbox old, x, y;

	x = create("X");	/* the older UIDVALIDITY */
	old = create("Target");	/* greater */
	cr_assert_eq(del("Target"), IDX_OK);
	cr_assert_eq(ren("X", "Target"), IDX_OK);
	cr_assert_eq(get("Target", &y), IDX_OK);
	cr_assert_eq(y.id, x.id);
	cr_assert_gt(y.uidvalidity, old.uidvalidity);
}

struct listing {
	char names[16][64];
	int n;
	int stop_after;
};

static int
list_one(const char *name, const struct idx_mbox *m, void *ctx)
{
	struct listing *l = ctx;

	(void)m;
	if (l->n < 16)
		snprintf(l->names[l->n], sizeof(l->names[0]), "%s", name);
	l->n++;
	return l->stop_after && l->n == l->stop_after ? 7 : 0;
}

struct list_run {
	const char *prefix;
	struct listing l;
};

static int
list_cb(struct idx_txn *txn, void *ctx)
{
	struct list_run *lr = ctx;
	int r;

	lr->l.n = 0;
	r = idx_mbox_list(txn, lr->prefix, list_one, &lr->l);
	return r == 7 ? IDX_OK : r;
}

Test(index, list_in_order_and_by_prefix)
{
	struct list_run lr = { NULL, { .n = 0 } };

	create("b");
	create("a.x");
	create("a");
	create("a.y");
	create("c");
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, list_cb, &lr), IDX_OK);
	cr_assert_eq(lr.l.n, 5);
	cr_assert_str_eq(lr.l.names[0], "a");
	cr_assert_str_eq(lr.l.names[1], "a.x");
	cr_assert_str_eq(lr.l.names[2], "a.y");
	cr_assert_str_eq(lr.l.names[3], "b");
	cr_assert_str_eq(lr.l.names[4], "c");
	lr.prefix = "a.";
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, list_cb, &lr), IDX_OK);
	cr_assert_eq(lr.l.n, 2);
	cr_assert_str_eq(lr.l.names[0], "a.x");
	lr.prefix = "zz";
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, list_cb, &lr), IDX_OK);
	cr_assert_eq(lr.l.n, 0);
	lr.prefix = NULL;
	lr.l.stop_after = 2;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, list_cb, &lr), IDX_OK);
	cr_assert_eq(lr.l.n, 2, "the callback's stop was ignored");
}

struct upd {
	uint32_t id;
	struct idx_mbox rec;
};

static int
update_cb(struct idx_txn *txn, void *ctx)
{
	struct upd *u = ctx;

	return idx_mbox_update(txn, u->id, &u->rec);
}

Test(index, update_sets_only_caller_fields)
{
	struct idx_mbox a = create("INBOX"), b;
	struct upd u;

	add(a.id, 2, 0, 50);
	memset(&u, 0, sizeof(u));
	u.id = a.id;
	u.rec.recent_uid = 2;
	u.rec.uidnext = 999;	/* ignored */
	u.rec.messages = 999;	/* ignored */
	u.rec.stamp_len = 4;
	memcpy(u.rec.stamp, "dev1", 4);
	cr_assert_eq(idx_txn_run(env, 0, update_cb, &u), IDX_OK);
	cr_assert_eq(get("INBOX", &b), IDX_OK);
	cr_assert_eq(b.recent_uid, 2);
	cr_assert_eq(b.uidnext, 3);
	cr_assert_eq(b.messages, 2);
	cr_assert_eq(b.stamp_len, 4);
	cr_assert_eq(memcmp(b.stamp, "dev1", 4), 0);
	u.rec.recent_uid = 4;	/* beyond uidnext */
	cr_assert_eq(idx_txn_run(env, 0, update_cb, &u), IDX_INVAL);
	u.rec.recent_uid = 1;
	u.rec.stamp_len = IDX_STAMP_MAX + 1;
	cr_assert_eq(idx_txn_run(env, 0, update_cb, &u), IDX_INVAL);
}

static int
reset_cb(struct idx_txn *txn, void *ctx)
{
	return idx_mbox_reset(txn, *(uint32_t *)ctx);
}

Test(index, reset_forgets_messages_and_changes_uidvalidity)
{
	struct idx_mbox a = create("INBOX"), b;
	struct walk w = { .lo = 1, .hi = UINT32_MAX };

	add(a.id, 4, 0, 5);
	cr_assert_eq(idx_txn_run(env, 0, reset_cb, &a.id), IDX_OK);
	cr_assert_eq(get("INBOX", &b), IDX_OK);
	cr_assert_eq(b.id, a.id);
	cr_assert_gt(b.uidvalidity, a.uidvalidity);
	cr_assert_eq(b.uidnext, 1);
	cr_assert_eq(b.messages, 0);
	cr_assert_eq(b.size, 0);
	cr_assert_gt(b.highestmodseq, a.highestmodseq);
	w.id = a.id;
	cr_assert_eq(walk(&w), IDX_OK);
	cr_assert_eq(w.n, 0);
}

struct recent {
	uint32_t id, first;
};

static int
recent_cb(struct idx_txn *txn, void *ctx)
{
	struct recent *r = ctx;

	return idx_mbox_claim_recent(txn, r->id, &r->first);
}

/* RFC 3501 §2.3.2: only the first session to see a message gets it as
 * \Recent. */
Test(index, recent_is_claimed_once)
{
	struct idx_mbox a = create("INBOX");
	struct recent r = { a.id, 0 };

	add(a.id, 3, 0, 1);
	cr_assert_eq(idx_txn_run(env, 0, recent_cb, &r), IDX_OK);
	cr_assert_eq(r.first, 1);
	cr_assert_eq(idx_txn_run(env, 0, recent_cb, &r), IDX_OK);
	cr_assert_eq(r.first, 4, "second claim got %u", r.first);
	add(a.id, 2, 0, 1);
	cr_assert_eq(idx_txn_run(env, 0, recent_cb, &r), IDX_OK);
	cr_assert_eq(r.first, 4);
}

/* ---- UIDs -------------------------------------------------------------- */

struct alloc {
	uint32_t id, n, first, raise;
};

static int
alloc_cb(struct idx_txn *txn, void *ctx)
{
	struct alloc *a = ctx;
	int r;

	if (a->raise && (r = idx_uid_raise(txn, a->id, a->raise)) != IDX_OK)
		return r;
	return idx_uid_alloc(txn, a->id, a->n, &a->first);
}

Test(index, uid_alloc_is_consecutive)
{
	struct idx_mbox a = create("INBOX"), b;
	struct alloc al = { a.id, 1, 0, 0 };

	cr_assert_eq(idx_txn_run(env, IDX_TXN_SYNC, alloc_cb, &al), IDX_OK);
	cr_assert_eq(al.first, 1);
	al.n = 10;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_SYNC, alloc_cb, &al), IDX_OK);
	cr_assert_eq(al.first, 2);
	al.n = 1;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_SYNC, alloc_cb, &al), IDX_OK);
	cr_assert_eq(al.first, 12);
	cr_assert_eq(get("INBOX", &b), IDX_OK);
	cr_assert_eq(b.uidnext, 13);
	al.n = 0;
	cr_assert_eq(idx_txn_run(env, 0, alloc_cb, &al), IDX_INVAL);
	al.id = 4711;
	al.n = 1;
	cr_assert_eq(idx_txn_run(env, 0, alloc_cb, &al), IDX_NOTFOUND);
}

Test(index, uid_raise_and_limit)
{
	struct idx_mbox a = create("INBOX"), b;
	struct alloc al = { a.id, 1, 0, 500 };

	cr_assert_eq(idx_txn_run(env, 0, alloc_cb, &al), IDX_OK);
	cr_assert_eq(al.first, 500);
	al.raise = 100;	/* never lowers */
	cr_assert_eq(idx_txn_run(env, 0, alloc_cb, &al), IDX_OK);
	cr_assert_eq(al.first, 501);
	al.raise = UINT32_MAX - 1;
	al.n = 2;
	cr_assert_eq(idx_txn_run(env, 0, alloc_cb, &al), IDX_LIMIT);
	/* The failed transaction changed nothing. */
	cr_assert_eq(get("INBOX", &b), IDX_OK);
	cr_assert_eq(b.uidnext, 502);
	al.n = 1;
	cr_assert_eq(idx_txn_run(env, 0, alloc_cb, &al), IDX_OK);
	cr_assert_eq(al.first, UINT32_MAX - 1);
	al.raise = 0;
	cr_assert_eq(idx_txn_run(env, 0, alloc_cb, &al), IDX_LIMIT);
}

/* ---- messages ---------------------------------------------------------- */

struct one {
	uint32_t id, uid;
	struct idx_msg m;
	unsigned flags;
};

static int
put_cb(struct idx_txn *txn, void *ctx)
{
	struct one *o = ctx;

	return idx_msg_put(txn, o->id, o->uid, &o->m, o->flags);
}

static int
getmsg_cb(struct idx_txn *txn, void *ctx)
{
	struct one *o = ctx;

	return idx_msg_get(txn, o->id, o->uid, &o->m);
}

static int
delmsg_cb(struct idx_txn *txn, void *ctx)
{
	struct one *o = ctx;

	return idx_msg_delete(txn, o->id, o->uid);
}

Test(index, message_put_get_delete_and_counters)
{
	struct idx_mbox a = create("INBOX"), b;
	struct one o;
	uint32_t first = add(a.id, 3, 0, 100);

	cr_assert_eq(first, 1);
	cr_assert_eq(get("INBOX", &b), IDX_OK);
	cr_assert_eq(b.messages, 3);
	cr_assert_eq(b.unseen, 3);
	cr_assert_eq(b.deleted, 0);
	cr_assert_eq(b.size, 300);

	memset(&o, 0, sizeof(o));
	o.id = a.id;
	o.uid = 2;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, getmsg_cb, &o), IDX_OK);
	cr_assert_eq(o.m.size, 100);
	cr_assert_eq(o.m.internaldate, 1001);
	cr_assert_eq(o.m.blob_len, 5);
	cr_assert_eq(memcmp(o.m.blob, "msg-2", 5), 0);

	o.m.flags = IDX_F_SEEN | IDX_F_DELETED;
	o.m.size = 150;
	cr_assert_eq(idx_txn_run(env, 0, put_cb, &o), IDX_OK);
	cr_assert_eq(get("INBOX", &b), IDX_OK);
	cr_assert_eq(b.messages, 3);
	cr_assert_eq(b.unseen, 2);
	cr_assert_eq(b.deleted, 1);
	cr_assert_eq(b.size, 350);

	cr_assert_eq(idx_txn_run(env, 0, delmsg_cb, &o), IDX_OK);
	cr_assert_eq(idx_txn_run(env, 0, delmsg_cb, &o), IDX_NOTFOUND);
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, getmsg_cb, &o),
		     IDX_NOTFOUND);
	cr_assert_eq(get("INBOX", &b), IDX_OK);
	cr_assert_eq(b.messages, 2);
	cr_assert_eq(b.unseen, 2);
	cr_assert_eq(b.deleted, 0);
	cr_assert_eq(b.size, 200);
}

Test(index, message_put_needs_allocated_uid)
{
	struct idx_mbox a = create("INBOX");
	struct one o;

	memset(&o, 0, sizeof(o));
	o.id = a.id;
	o.uid = 1;	/* uidnext is 1: not allocated */
	cr_assert_eq(idx_txn_run(env, 0, put_cb, &o), IDX_INVAL);
	o.uid = 0;
	cr_assert_eq(idx_txn_run(env, 0, put_cb, &o), IDX_INVAL);
	add(a.id, 1, 0, 1);
	o.uid = 1;
	o.m.flags = 0x80;
	cr_assert_eq(idx_txn_run(env, 0, put_cb, &o), IDX_INVAL);
	o.m.flags = 0;
	o.m.blob_len = IDX_BLOB_MAX + 1;
	cr_assert_eq(idx_txn_run(env, 0, put_cb, &o), IDX_INVAL);
	o.id = 999;
	o.m.blob_len = 0;
	cr_assert_eq(idx_txn_run(env, 0, put_cb, &o), IDX_NOTFOUND);
}

/* CONDSTORE: every change gets a modseq above all earlier ones; changes
 * in one transaction share one; KEEP_MODSEQ leaves it alone. */
Test(index, modseq)
{
	struct idx_mbox a = create("INBOX"), b;
	struct one o, p;
	uint64_t ms1;

	add(a.id, 2, 0, 1);
	memset(&o, 0, sizeof(o));
	o.id = a.id;
	o.uid = 1;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, getmsg_cb, &o), IDX_OK);
	p = o;
	p.uid = 2;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, getmsg_cb, &p), IDX_OK);
	cr_assert_eq(o.m.modseq, p.m.modseq, "one transaction, two modseqs");
	cr_assert_gt(o.m.modseq, a.highestmodseq);
	ms1 = o.m.modseq;
	o.m.flags = IDX_F_FLAGGED;
	cr_assert_eq(idx_txn_run(env, 0, put_cb, &o), IDX_OK);
	cr_assert_gt(o.m.modseq, ms1);
	cr_assert_eq(get("INBOX", &b), IDX_OK);
	cr_assert_eq(b.highestmodseq, o.m.modseq);
	o.flags = IDX_MSG_KEEP_MODSEQ;
	o.m.modseq = ms1;
	o.m.blob_len = 2;
	cr_assert_eq(idx_txn_run(env, 0, put_cb, &o), IDX_OK);
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, getmsg_cb, &o), IDX_OK);
	cr_assert_eq(o.m.modseq, ms1);
	cr_assert_eq(get("INBOX", &b), IDX_OK);
	cr_assert_eq(b.highestmodseq, ms1 + 1, "KEEP_MODSEQ moved it");
	/* An expunge raises highestmodseq. */
	cr_assert_eq(idx_txn_run(env, 0, delmsg_cb, &p), IDX_OK);
	cr_assert_eq(get("INBOX", &b), IDX_OK);
	cr_assert_eq(b.highestmodseq, ms1 + 2);
}

Test(index, foreach_ranges)
{
	struct idx_mbox a = create("A"), b = create("B");
	struct walk w;

	add(a.id, 20, 0, 1);
	add(b.id, 5, 0, 1);
	memset(&w, 0, sizeof(w));
	w.id = a.id;
	w.lo = 5;
	w.hi = 9;
	cr_assert_eq(walk(&w), IDX_OK);
	cr_assert_eq(w.n, 5);
	cr_assert_eq(w.uids[0], 5);
	cr_assert_eq(w.uids[4], 9);
	w.lo = 1;
	w.hi = UINT32_MAX;
	cr_assert_eq(walk(&w), IDX_OK);
	cr_assert_eq(w.n, 20, "got %zu: the walk left the mailbox", w.n);
	w.id = b.id;
	w.lo = 3;
	cr_assert_eq(walk(&w), IDX_OK);
	cr_assert_eq(w.n, 3);
	cr_assert_eq(w.uids[0], 3);
	w.lo = 10;
	w.hi = 9;
	cr_assert_eq(walk(&w), IDX_OK);
	cr_assert_eq(w.n, 0);
	w.lo = 6;
	w.hi = 100;
	cr_assert_eq(walk(&w), IDX_OK);
	cr_assert_eq(w.n, 0);
	w.id = a.id;
	w.lo = 1;
	w.hi = UINT32_MAX;
	w.stop_at = 3;
	cr_assert_eq(walk(&w), IDX_OK);
	cr_assert_eq(w.n, 3, "a callback's stop was ignored");
}

/* Enough records to need several bulk reads, and a callback that
 * deletes each record as it goes. */
Test(index, foreach_large_and_deleting)
{
	struct idx_mbox a = create("Big"), b;
	struct walk w;
	size_t i;

	add(a.id, 3000, IDX_F_SEEN, 10);
	memset(&w, 0, sizeof(w));
	w.id = a.id;
	w.lo = 1;
	w.hi = UINT32_MAX;
	cr_assert_eq(walk(&w), IDX_OK);
	cr_assert_eq(w.n, 3000);
	for (i = 0; i < 3000; i++)
		cr_assert_eq(w.uids[i], i + 1, "position %zu holds %u", i,
			     w.uids[i]);
	w.delete_each = true;
	w.lo = 1001;
	w.hi = 2000;
	cr_assert_eq(walk(&w), IDX_OK);
	cr_assert_eq(w.n, 1000);
	cr_assert_eq(get("Big", &b), IDX_OK);
	cr_assert_eq(b.messages, 2000);
	cr_assert_eq(b.size, 20000);
	w.delete_each = false;
	w.lo = 1;
	w.hi = UINT32_MAX;
	cr_assert_eq(walk(&w), IDX_OK);
	cr_assert_eq(w.n, 2000);
	cr_assert_eq(w.uids[999], 1000);
	cr_assert_eq(w.uids[1000], 2001);
}

static int
delall_cb(struct idx_txn *txn, void *ctx)
{
	return idx_msg_delete_all(txn, *(uint32_t *)ctx);
}

Test(index, delete_all)
{
	struct idx_mbox a = create("A"), b = create("B"), c;
	struct walk w;

	add(a.id, 7, 0, 3);
	add(b.id, 2, 0, 3);
	cr_assert_eq(idx_txn_run(env, 0, delall_cb, &a.id), IDX_OK);
	cr_assert_eq(get("A", &c), IDX_OK);
	cr_assert_eq(c.messages, 0);
	cr_assert_eq(c.uidnext, 8, "uidnext must survive");
	cr_assert_eq(c.uidvalidity, a.uidvalidity);
	memset(&w, 0, sizeof(w));
	w.id = b.id;
	w.lo = 1;
	w.hi = UINT32_MAX;
	cr_assert_eq(walk(&w), IDX_OK);
	cr_assert_eq(w.n, 2, "another mailbox lost messages");
}

/* ---- names, keywords, journal, cache ----------------------------------- */

struct nm {
	uint32_t id, uid;
	const char *base;
	int op;	/* 0 get, 1 put, 2 delete */
};

static int
name_cb(struct idx_txn *txn, void *ctx)
{
	struct nm *n = ctx;

	switch (n->op) {
	case 0: return idx_name_get(txn, n->id, n->base, &n->uid);
	case 1: return idx_name_put(txn, n->id, n->base, n->uid);
	default: return idx_name_delete(txn, n->id, n->base);
	}
}

Test(index, maildir_names)
{
	struct idx_mbox a = create("INBOX"), b = create("Other");
	struct nm n = { a.id, 5, "1700000000.M1P2.host", 1 };
	char longname[IDX_BLOB_MAX + 2];

	cr_assert_eq(idx_txn_run(env, 0, name_cb, &n), IDX_OK);
	n.op = 0;
	n.uid = 0;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, name_cb, &n), IDX_OK);
	cr_assert_eq(n.uid, 5);
	n.id = b.id;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, name_cb, &n), IDX_NOTFOUND);
	n.id = a.id;
	n.op = 2;
	cr_assert_eq(idx_txn_run(env, 0, name_cb, &n), IDX_OK);
	n.op = 0;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, name_cb, &n), IDX_NOTFOUND);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	n.base = longname;
	n.op = 1;
	cr_assert_eq(idx_txn_run(env, 0, name_cb, &n), IDX_INVAL);
	n.base = "";
	cr_assert_eq(idx_txn_run(env, 0, name_cb, &n), IDX_INVAL);
}

struct kw {
	uint32_t id;
	const char *name;
	unsigned kw;
	bool intern;
};

static int
kw_cb(struct idx_txn *txn, void *ctx)
{
	struct kw *k = ctx;

	return k->intern ? idx_kw_intern(txn, k->id, k->name, &k->kw) :
	       idx_kw_lookup(txn, k->id, k->name, &k->kw);
}

struct kwname {
	uint32_t id;
	unsigned kw;
	char buf[IDX_KEYWORD_LEN_MAX + 1];
};

static int
kwname_cb(struct idx_txn *txn, void *ctx)
{
	struct kwname *k = ctx;

	return idx_kw_name(txn, k->id, k->kw, k->buf, sizeof(k->buf));
}

struct kwlist {
	uint32_t id;
	unsigned ids[80];
	int n;
};

static int
kwlist_one(unsigned kw, const char *name, void *ctx)
{
	struct kwlist *l = ctx;

	(void)name;
	if (l->n < 80)
		l->ids[l->n] = kw;
	l->n++;
	return 0;
}

static int
kwlist_cb(struct idx_txn *txn, void *ctx)
{
	struct kwlist *l = ctx;

	l->n = 0;
	return idx_kw_list(txn, l->id, kwlist_one, l);
}

/* 64 keywords per mailbox; the 65th is IDX_LIMIT (NO [LIMIT]). */
Test(index, keywords_and_limit)
{
	struct idx_mbox a = create("INBOX"), b = create("Other");
	struct kw k = { a.id, NULL, 0, true };
	struct kwname kn;
	struct kwlist kl;
	char name[32];
	int i;

	for (i = 0; i < IDX_KEYWORDS_MAX; i++) {
		snprintf(name, sizeof(name), "$Kw%d", i);
		k.name = name;
		cr_assert_eq(idx_txn_run(env, 0, kw_cb, &k), IDX_OK,
			     "keyword %d", i);
		cr_assert_eq(k.kw, (unsigned)i);
	}
	k.name = "$OneTooMany";
	cr_assert_eq(idx_txn_run(env, 0, kw_cb, &k), IDX_LIMIT);
	/* Existing names still resolve, case-insensitively. */
	k.name = "$kw7";
	cr_assert_eq(idx_txn_run(env, 0, kw_cb, &k), IDX_OK);
	cr_assert_eq(k.kw, 7);
	k.intern = false;
	k.name = "$KW63";
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, kw_cb, &k), IDX_OK);
	cr_assert_eq(k.kw, 63);
	k.name = "$OneTooMany";
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, kw_cb, &k), IDX_NOTFOUND);
	/* The first spelling is kept. */
	memset(&kn, 0, sizeof(kn));
	kn.id = a.id;
	kn.kw = 7;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, kwname_cb, &kn), IDX_OK);
	cr_assert_str_eq(kn.buf, "$Kw7");
	kn.kw = 64;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, kwname_cb, &kn), IDX_INVAL);
	memset(&kl, 0, sizeof(kl));
	kl.id = a.id;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, kwlist_cb, &kl), IDX_OK);
	cr_assert_eq(kl.n, 64);
	for (i = 0; i < 64; i++)
		cr_assert_eq(kl.ids[i], (unsigned)i);
	/* Another mailbox has its own ids. */
	k.id = b.id;
	k.intern = true;
	k.name = "$kw7";
	cr_assert_eq(idx_txn_run(env, 0, kw_cb, &k), IDX_OK);
	cr_assert_eq(k.kw, 0);
	/* Deleting the mailbox drops its keywords. */
	cr_assert_eq(del("INBOX"), IDX_OK);
	kl.id = a.id;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, kwlist_cb, &kl), IDX_OK);
	cr_assert_eq(kl.n, 0);
}

Test(index, keyword_names_checked)
{
	struct idx_mbox a = create("INBOX");
	char longname[IDX_KEYWORD_LEN_MAX + 2];
	struct kw k = { a.id, "", 0, true };

	cr_assert_eq(idx_txn_run(env, 0, kw_cb, &k), IDX_INVAL);
	k.name = "bad\nname";
	cr_assert_eq(idx_txn_run(env, 0, kw_cb, &k), IDX_INVAL);
	memset(longname, 'k', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	k.name = longname;
	cr_assert_eq(idx_txn_run(env, 0, kw_cb, &k), IDX_INVAL);
	longname[IDX_KEYWORD_LEN_MAX] = '\0';
	cr_assert_eq(idx_txn_run(env, 0, kw_cb, &k), IDX_OK);
}

struct jr {
	const char *key;
	size_t klen;
	uint8_t *data;
	size_t len, cap, got;
	int op;	/* 0 get 1 put 2 delete 3 list */
	int listed;
	size_t listed_len;
};

static int
jlist_one(const void *key, size_t klen, const void *data, size_t len,
	  void *ctx)
{
	struct jr *j = ctx;

	(void)key;
	(void)klen;
	(void)data;
	j->listed++;
	j->listed_len += len;
	return 0;
}

static int
journal_cb(struct idx_txn *txn, void *ctx)
{
	struct jr *j = ctx;

	switch (j->op) {
	case 0:
		return idx_journal_get(txn, j->key, j->klen, j->data, j->cap,
				       &j->got);
	case 1:
		return idx_journal_put(txn, j->key, j->klen, j->data, j->len);
	case 2:
		return idx_journal_delete(txn, j->key, j->klen);
	default:
		j->listed = 0;
		j->listed_len = 0;
		return idx_journal_list(txn, jlist_one, j);
	}
}

Test(index, journal)
{
	size_t big = 300 * 1024, i;
	uint8_t *data = malloc(big), *back = malloc(big);
	struct jr j = { "expunge:INBOX", 13, data, big, big, 0, 1, 0, 0 };

	for (i = 0; i < big; i++)
		data[i] = (uint8_t)(i * 7);
	cr_assert_eq(idx_txn_run(env, IDX_TXN_SYNC, journal_cb, &j), IDX_OK);
	j.key = "other";
	j.klen = 5;
	j.len = 10;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_SYNC, journal_cb, &j), IDX_OK);
	j.op = 3;	/* the walk must grow its buffer for 300 kB */
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, journal_cb, &j), IDX_OK);
	cr_assert_eq(j.listed, 2);
	cr_assert_eq(j.listed_len, big + 10);
	j.op = 0;
	j.key = "expunge:INBOX";
	j.klen = 13;
	j.data = back;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, journal_cb, &j), IDX_OK);
	cr_assert_eq(j.got, big);
	cr_assert_eq(memcmp(back, data, big), 0);
	j.cap = 100;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, journal_cb, &j), IDX_LIMIT);
	cr_assert_eq(j.got, big, "the needed size is reported");
	j.op = 2;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_SYNC, journal_cb, &j), IDX_OK);
	j.op = 0;
	j.cap = big;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, journal_cb, &j),
		     IDX_NOTFOUND);
	j.op = 1;
	j.klen = IDX_JOURNAL_KEY_MAX + 1;
	cr_assert_eq(idx_txn_run(env, 0, journal_cb, &j), IDX_INVAL);
	j.klen = 0;
	cr_assert_eq(idx_txn_run(env, 0, journal_cb, &j), IDX_INVAL);
	j.klen = 3;
	j.len = IDX_JOURNAL_MAX + 1;
	cr_assert_eq(idx_txn_run(env, 0, journal_cb, &j), IDX_LIMIT);
	free(data);
	free(back);
}

struct cache {
	uint32_t id, uid;
	int op;
	char buf[64];
	size_t len;
	enum idx_cache_kind kind;
};

static int
cache_cb(struct idx_txn *txn, void *ctx)
{
	struct cache *c = ctx;

	switch (c->op) {
	case 0:
		return idx_cache_get(txn, c->kind, c->id, c->uid, c->buf,
				     sizeof(c->buf), &c->len);
	case 1:
		return idx_cache_put(txn, c->kind, c->id, c->uid, c->buf,
				     c->len);
	default:
		return idx_cache_delete(txn, c->kind, c->id, c->uid);
	}
}

Test(index, cache_records_follow_messages)
{
	struct idx_mbox a = create("INBOX");
	struct cache c = { a.id, 1, 1, "envelope", 8, IDX_CACHE_STRUCT };
	struct one o;

	add(a.id, 1, 0, 1);
	cr_assert_eq(idx_txn_run(env, 0, cache_cb, &c), IDX_OK);
	c.op = 0;
	memset(c.buf, 0, sizeof(c.buf));
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, cache_cb, &c), IDX_OK);
	cr_assert_eq(c.len, 8);
	cr_assert_str_eq(c.buf, "envelope");
	memset(&o, 0, sizeof(o));
	o.id = a.id;
	o.uid = 1;
	cr_assert_eq(idx_txn_run(env, 0, delmsg_cb, &o), IDX_OK);
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, cache_cb, &c), IDX_NOTFOUND,
		     "an expunged message kept its cache record");
	c.op = 1;
	c.len = IDX_CACHE_MAX + 1;
	cr_assert_eq(idx_txn_run(env, 0, cache_cb, &c), IDX_LIMIT);
}

struct cache_walk {
	uint32_t id, lo, hi, stop_at;
	enum idx_cache_kind kind;
	bool check;	/* every value is a prefix of big */
	uint8_t *big;
	uint32_t seen[16];
	size_t lens[16], n;
};

static int
cache_walk_put_cb(struct idx_txn *txn, void *ctx)
{
	struct cache_walk *w = ctx;
	int r;

	for (uint32_t uid = 1; uid <= 10; uid++)
		if ((r = idx_cache_put(txn, w->kind, w->id, uid, w->big,
				       uid == 5 ? 40000 : 20)) != IDX_OK)
			return r;
	return IDX_OK;
}

static int
cache_walk_seen_cb(uint32_t uid, const void *data, size_t len, void *ctx)
{
	struct cache_walk *w = ctx;

	if (w->n == 16 || (w->check && memcmp(data, w->big, len) != 0))
		return IDX_CORRUPT;
	w->seen[w->n] = uid;
	w->lens[w->n++] = len;
	return uid == w->stop_at ? IDX_USER + 7 : IDX_OK;
}

static int
cache_walk_cb(struct idx_txn *txn, void *ctx)
{
	struct cache_walk *w = ctx;

	w->n = 0;
	return idx_cache_foreach(txn, w->kind, w->id, w->lo, w->hi,
				 cache_walk_seen_cb, w);
}

/* The read-ahead walk: every record of lo..hi in UID order, none of
 * another mailbox; a record too big for the walk's first buffer after
 * smaller ones is read too (BDB wrote its key over the walk's position:
 * the retry started after it and skipped it). */
Test(index, cache_foreach_range_and_big_record)
{
	struct idx_mbox a = create("INBOX"), b = create("Other");
	struct cache_walk w = { a.id, 2, 9, 0, IDX_CACHE_STRUCT, true,
				malloc(40000), { 0 }, { 0 }, 0 };

	cr_assert_not_null(w.big);
	for (size_t i = 0; i < 40000; i++)
		w.big[i] = (uint8_t)(i * 13);
	add(a.id, 10, 0, 1);
	add(b.id, 10, 0, 1);
	cr_assert_eq(idx_txn_run(env, 0, cache_walk_put_cb, &w), IDX_OK);
	w.id = b.id;
	cr_assert_eq(idx_txn_run(env, 0, cache_walk_put_cb, &w), IDX_OK);
	w.id = a.id;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, cache_walk_cb, &w), IDX_OK);
	cr_assert_eq(w.n, 8, "got %zu records", w.n);
	for (size_t i = 0; i < 8; i++) {
		cr_expect_eq(w.seen[i], 2 + i);
		cr_expect_eq(w.lens[i], w.seen[i] == 5 ? 40000u : 20u);
	}
	w.lo = 9;
	w.hi = 100;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, cache_walk_cb, &w), IDX_OK);
	cr_assert_eq(w.n, 2, "the next mailbox's records are not its own");
	w.lo = 1;
	w.stop_at = 3;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, cache_walk_cb, &w),
		     IDX_USER + 7);
	cr_assert_eq(w.n, 3);
	free(w.big);
}

/* The kinds are apart: each (message, kind) has its own record, a walk
 * of one kind sees none of the other (also of the next mailbox id: the
 * SORT kind's keys sort after every mailbox's), and an expunge, a
 * mailbox's reset and DELETE take the records of every kind. */
static void
cache_set(uint32_t id, uint32_t uid, enum idx_cache_kind kind,
	  const char *val)
{
	struct cache c = { id, uid, 1, "", strlen(val), kind };

	memcpy(c.buf, val, strlen(val));
	cr_assert_eq(idx_txn_run(env, 0, cache_cb, &c), IDX_OK);
}

static int
cache_read(uint32_t id, uint32_t uid, enum idx_cache_kind kind, char *out)
{
	struct cache c = { id, uid, 0, "", 0, kind };
	int r = idx_txn_run(env, IDX_TXN_READ, cache_cb, &c);

	if (r != IDX_OK)
		c.len = 0;
	memcpy(out, c.buf, c.len);
	out[c.len] = '\0';
	return r;
}

Test(index, cache_kinds_are_apart)
{
	struct idx_mbox a = create("INBOX"), b = create("Other");
	struct cache_walk w = { b.id, 1, 100, 0, IDX_CACHE_SORT, true,
				malloc(40000), { 0 }, { 0 }, 0 };
	struct one o;
	char got[65];

	cr_assert_not_null(w.big);
	memset(w.big, 'k', 40000);
	add(a.id, 3, 0, 1);
	add(b.id, 10, 0, 1);
	cache_set(a.id, 1, IDX_CACHE_STRUCT, "tree");
	cache_set(a.id, 1, IDX_CACHE_SORT, "keys");
	cache_set(a.id, 2, IDX_CACHE_SORT, "keys2");
	cache_set(a.id, 3, IDX_CACHE_STRUCT, "tree3");
	cache_set(a.id, 1, IDX_CACHE_ENVELOPE, "env");
	cache_set(a.id, 3, IDX_CACHE_BODYSTRUCTURE, "bs3");
	cr_assert_eq(cache_read(a.id, 1, IDX_CACHE_STRUCT, got), IDX_OK);
	cr_expect_str_eq(got, "tree");
	cr_assert_eq(cache_read(a.id, 1, IDX_CACHE_SORT, got), IDX_OK);
	cr_expect_str_eq(got, "keys");
	cr_expect_eq(cache_read(a.id, 3, IDX_CACHE_SORT, got), IDX_NOTFOUND);
	/* b (the next id) has SORT records of 20 bytes (40,000 for uid 5) */
	cr_assert_eq(idx_txn_run(env, 0, cache_walk_put_cb, &w), IDX_OK);
	w.check = false;
	w.id = a.id;
	w.kind = IDX_CACHE_STRUCT;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, cache_walk_cb, &w), IDX_OK);
	cr_assert_eq(w.n, 2, "a's STRUCT walk saw %zu records", w.n);
	cr_expect(w.seen[0] == 1 && w.lens[0] == 4 && w.seen[1] == 3 &&
		  w.lens[1] == 5);
	w.kind = IDX_CACHE_SORT;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, cache_walk_cb, &w), IDX_OK);
	cr_assert_eq(w.n, 2, "a's SORT walk saw %zu records", w.n);
	cr_expect(w.seen[0] == 1 && w.lens[0] == 4 && w.seen[1] == 2 &&
		  w.lens[1] == 5);
	w.kind = IDX_CACHE_ENVELOPE;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, cache_walk_cb, &w), IDX_OK);
	cr_expect(w.n == 1 && w.seen[0] == 1 && w.lens[0] == 3,
		  "a's ENVELOPE walk saw %zu records", w.n);
	w.kind = IDX_CACHE_BODYSTRUCTURE;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, cache_walk_cb, &w), IDX_OK);
	cr_expect(w.n == 1 && w.seen[0] == 3 && w.lens[0] == 3,
		  "a's BODYSTRUCTURE walk saw %zu records", w.n);
	w.kind = IDX_CACHE_SORT;
	w.id = b.id;
	w.check = true;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, cache_walk_cb, &w), IDX_OK);
	cr_expect_eq(w.n, 10, "b's SORT walk saw %zu records", w.n);
	w.kind = IDX_CACHE_STRUCT;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, cache_walk_cb, &w), IDX_OK);
	cr_expect_eq(w.n, 0, "b has no STRUCT records");
	memset(&o, 0, sizeof(o));
	o.id = a.id;
	o.uid = 1;
	cr_assert_eq(idx_txn_run(env, 0, delmsg_cb, &o), IDX_OK);
	cr_expect_eq(cache_read(a.id, 1, IDX_CACHE_STRUCT, got), IDX_NOTFOUND);
	cr_expect_eq(cache_read(a.id, 1, IDX_CACHE_SORT, got), IDX_NOTFOUND,
		     "an expunged message kept its SORT record");
	cr_expect_eq(cache_read(a.id, 1, IDX_CACHE_ENVELOPE, got),
		     IDX_NOTFOUND, "an expunged message kept its ENVELOPE");
	cr_expect_eq(cache_read(a.id, 3, IDX_CACHE_BODYSTRUCTURE, got), IDX_OK);
	cr_expect_eq(cache_read(a.id, 2, IDX_CACHE_SORT, got), IDX_OK);
	cr_assert_eq(idx_txn_run(env, 0, delall_cb, &a.id), IDX_OK);
	cr_expect_eq(cache_read(a.id, 2, IDX_CACHE_SORT, got), IDX_NOTFOUND);
	cr_expect_eq(cache_read(a.id, 3, IDX_CACHE_STRUCT, got), IDX_NOTFOUND);
	cr_expect_eq(cache_read(a.id, 3, IDX_CACHE_BODYSTRUCTURE, got),
		     IDX_NOTFOUND);
	cr_expect_eq(cache_read(b.id, 4, IDX_CACHE_SORT, got), IDX_OK,
		     "b's records stay");
	cr_expect_eq(strlen(got), 20);
	cr_assert_eq(idx_txn_run(env, 0, delete_cb, "Other"), IDX_OK);
	cr_expect_eq(cache_read(b.id, 4, IDX_CACHE_SORT, got), IDX_NOTFOUND,
		     "a deleted mailbox kept its SORT records");
	free(w.big);
}

/* ---- transactions ------------------------------------------------------ */

static int
write_then_fail_cb(struct idx_txn *txn, void *ctx)
{
	int r = idx_mbox_create(txn, "Ghost", 0, NULL);

	(void)ctx;
	return r != IDX_OK ? r : IDX_USER + 1;
}

Test(index, callback_error_aborts)
{
	cr_assert_eq(idx_txn_run(env, 0, write_then_fail_cb, NULL),
		     IDX_USER + 1);
	cr_assert_eq(get("Ghost", NULL), IDX_NOTFOUND,
		     "an aborted transaction was committed");
}

Test(index, read_only_refuses_writes)
{
	struct mb m = { "RO", 0, { 0 } };

	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, create_cb, &m), IDX_INVAL);
	cr_assert_eq(get("RO", NULL), IDX_NOTFOUND);
}

struct retry {
	int calls;
};

static int
retry_cb(struct idx_txn *txn, void *ctx)
{
	struct retry *r = ctx;
	int rc;

	r->calls++;
	if ((rc = idx_mbox_create(txn, "Retry", 0, NULL)) != IDX_OK)
		return rc;
	/* The first attempt asks to be run again: its write must vanish
	 * (else the second attempt would see IDX_EXISTS). */
	return r->calls == 1 ? IDX_RETRY : IDX_OK;
}

Test(index, retry_reruns_callback)
{
	struct retry r = { 0 };
	struct idx_stats st;

	cr_assert_eq(idx_txn_run(env, 0, retry_cb, &r), IDX_OK);
	cr_assert_eq(r.calls, 2);
	cr_assert_eq(get("Retry", NULL), IDX_OK);
	idx_env_stats(env, &st);
	cr_assert_geq(st.retries, 1);
}

static int
nested_cb(struct idx_txn *txn, void *ctx)
{
	(void)txn;
	(void)ctx;
	return idx_txn_run(env, 0, nested_cb, NULL);
}

Test(index, nested_transaction_panics, .signal = SIGABRT)
{
	/* The abort skips teardown: remove the files now (the open
	 * handles keep working on the unlinked files). */
	tu_rmrf(base);
	(void)idx_txn_run(env, 0, nested_cb, NULL);
}

/* Write a few MB of log with checkpoints in between: auto-removal keeps
 * the number of 1 MB log files small. */
Test(index, logs_stay_bounded)
{
	struct idx_mbox a = create("INBOX");
	int i, logs;

	for (i = 0; i < 20; i++) {
		add(a.id, 2000, 0, 1);
		cr_assert_eq(idx_env_checkpoint(env), IDX_OK);
		idx_env_tick(env);
	}
	logs = tu_count(dir, "log.");
	cr_assert_leq(logs, 3, "%d log files left", logs);
}

/* ---- expunged-UID tombstones (QRESYNC) ------------------------------- */

struct xdel {
	uint32_t id;
	const uint32_t *uids;
	size_t n;
};

static int
xdel_cb(struct idx_txn *txn, void *ctx)
{
	struct xdel *d = ctx;
	int r;

	for (size_t i = 0; i < d->n; i++)
		if ((r = idx_msg_delete(txn, d->id, d->uids[i])) != IDX_OK)
			return r;
	return IDX_OK;
}

static void
xdel(uint32_t id, const uint32_t *uids, size_t n)
{
	struct xdel d = { id, uids, n };

	cr_assert_eq(idx_txn_run(env, 0, xdel_cb, &d), IDX_OK);
}

struct xsince {
	uint32_t id;
	uint64_t since, floor;
	uint32_t uids[64];
	uint64_t modseqs[64];
	size_t n;
};

static int
xsince_uid(uint32_t uid, uint64_t modseq, void *ctx)
{
	struct xsince *x = ctx;

	cr_assert_lt(x->n, 64);
	x->uids[x->n] = uid;
	x->modseqs[x->n++] = modseq;
	return 0;
}

static int
xsince_cb(struct idx_txn *txn, void *ctx)
{
	struct xsince *x = ctx;

	x->n = 0;
	return idx_expunged_since(txn, x->id, x->since, xsince_uid, x,
				  &x->floor);
}

static struct xsince
xsince(uint32_t id, uint64_t since)
{
	struct xsince x;

	memset(&x, 0, sizeof(x));
	x.id = id;
	x.since = since;
	cr_assert_eq(idx_txn_run(env, IDX_TXN_READ, xsince_cb, &x), IDX_OK);
	return x;
}

static int
xreset_cb(struct idx_txn *txn, void *ctx)
{
	return idx_mbox_reset(txn, *(uint32_t *)ctx);
}

/* Every expunge leaves (uid, modseq); a QRESYNC answer since a modseq
 * lists exactly the later ones, complete while the floor is below. */
Test(index, expunged_tombstones)
{
	struct idx_mbox a = create("INBOX"), other = create("Other"), r0, r1;
	static const uint32_t one[] = { 3 }, two[] = { 5, 7 };
	struct xsince x;

	add(a.id, 10, 0, 1);
	add(other.id, 3, 0, 1);
	cr_assert_eq(get("INBOX", &r0), IDX_OK);
	x = xsince(a.id, r0.highestmodseq);
	cr_assert_eq(x.n, 0);
	cr_assert_eq(x.floor, a.highestmodseq,
		     "a new mailbox's history is complete from its start");
	/* modseqs start at the time << 20 (a rebuilt index stays above
	 * what clients hold) */
	cr_assert_geq(a.highestmodseq, (uint64_t)(time(NULL) - 5) << 20);
	xdel(a.id, one, 1);
	cr_assert_eq(get("INBOX", &r1), IDX_OK);
	xdel(a.id, two, 2);
	x = xsince(a.id, r0.highestmodseq);
	cr_assert_eq(x.n, 3);
	cr_assert_eq(x.uids[0], 3);
	cr_assert_eq(x.modseqs[0], r1.highestmodseq);
	/* one transaction, one modseq (§3.2.5.2 needs no more) */
	cr_assert_eq(x.modseqs[1], x.modseqs[2]);
	cr_assert_gt(x.modseqs[1], r1.highestmodseq);
	x = xsince(a.id, r1.highestmodseq);
	cr_assert_eq(x.n, 2);
	cr_assert(x.uids[0] == 5 || x.uids[1] == 5);
	x = xsince(a.id, UINT64_MAX);
	cr_assert_eq(x.n, 0);
	/* other mailboxes are not mixed in */
	x = xsince(other.id, 0);
	cr_assert_eq(x.n, 0);
}

/* The bound (idx_env_opts.expunged_max, here 5): the oldest go and the
 * floor rises to the last dropped, so an older modseq is incomplete. */
Test(index, expunged_tombstones_are_bounded)
{
	struct idx_mbox a, r0;
	static const uint32_t first[] = { 1, 2, 3 }, more[] = { 4, 5, 6, 7 };
	struct idx_env_opts o = { .watchdog_secs = 20, .expunged_max = 5 };
	struct xsince x;
	uint64_t ms3;

	idx_env_close(&env);
	cr_assert_eq(idx_env_open(dir, &o, &env, NULL), IDX_OK);
	a = create("INBOX");
	add(a.id, 10, 0, 1);
	cr_assert_eq(get("INBOX", &r0), IDX_OK);
	xdel(a.id, first, 3);
	x = xsince(a.id, 0);
	cr_assert_eq(x.n, 3);
	ms3 = x.modseqs[0];
	xdel(a.id, more, 4);
	x = xsince(a.id, 0);
	cr_assert_eq(x.n, 5, "kept %zu", x.n);
	cr_assert_eq(x.floor, ms3, "floor %llu", (unsigned long long)x.floor);
	cr_assert(0 < x.floor, "modseq 0 is now incomplete");
	/* since at or above the floor: complete again */
	x = xsince(a.id, ms3);
	cr_assert_eq(x.n, 4);
	/* a reset starts a new history: nothing kept, complete from its
	 * modseq on */
	cr_assert_eq(idx_txn_run(env, 0, xreset_cb, &a.id), IDX_OK);
	cr_assert_eq(get("INBOX", &r0), IDX_OK);
	x = xsince(a.id, 0);
	cr_assert_eq(x.n, 0);
	cr_assert_eq(x.floor, r0.highestmodseq);
}

/* Past the bound the oldest go in one walk, down to 90% of it. */
Test(index, expunged_tombstones_trim_in_batches)
{
	struct idx_env_opts o = { .watchdog_secs = 20, .expunged_max = 20 };
	uint64_t ms[22];
	struct idx_mbox a;
	struct xsince x;

	idx_env_close(&env);
	cr_assert_eq(idx_env_open(dir, &o, &env, NULL), IDX_OK);
	a = create("INBOX");
	add(a.id, 30, 0, 1);
	for (uint32_t uid = 1; uid <= 21; uid++) {
		xdel(a.id, &uid, 1);
		x = xsince(a.id, 0);
		ms[uid] = x.modseqs[x.n - 1];
		cr_assert_eq(x.n, uid <= 20 ? uid : 18, "uid %u: %zu kept",
			     uid, x.n);
	}
	cr_assert_eq(x.uids[0], 4);
	cr_assert_eq(x.floor, ms[3]);
	x = xsince(a.id, ms[3]);
	cr_assert_eq(x.n, 18);
}
