/* Crash behaviour of lib/index with real processes (doc/design.md,
 * "Index layout", crash procedures):
 *  (a) a session killed (SIGKILL) while idle with handles open: the
 *      bystander goes on without a reopen, the next open is fast;
 *  (b) a session killed inside a write transaction holding locks that a
 *      bystander is waiting for: the bystander does not hang, it gets
 *      through (failchk or reopen plus retry), and no committed data is
 *      lost; the same with a third process opening meanwhile (whose
 *      DB_REGISTER recovery panics the bystander's environment);
 *  (c) 50 random kills of writers allocating UIDs with sync commits
 *      while a bystander writes too: every UID whose commit returned OK
 *      is there, none was handed out twice, the index opens cleanly;
 *  (d) removed log files, garbage database files, a garbage DB_CONFIG,
 *      another schema version and corrupt records lead to the rebuild
 *      path or an error, never a crash.
 * Every child forks before it opens the index; the test process opens
 * it only after its last fork. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "index/private.h"
#include "util.h"

static char *base, *dir;

static void
setup(void)
{
	base = tu_tmpdir();
	dir = tu_path(base, "idx");
}

static void
teardown(void)
{
	tu_kill_children();
	tu_rmrf(base);
	free(dir);
	free(base);
}

TestSuite(crash, .init = setup, .fini = teardown, .timeout = 120);

/* ---- shared pieces ----------------------------------------------------- */

struct add {
	uint32_t n, first;
};

/* Allocates n UIDs in INBOX and stores a record for each. Restartable:
 * everything is derived from what it reads. */
static int
add_cb(struct idx_txn *txn, void *ctx)
{
	struct add *a = ctx;
	struct idx_mbox mb;
	uint32_t i;
	int r;

	if ((r = idx_mbox_get(txn, "INBOX", &mb)) != IDX_OK ||
	    (r = idx_uid_alloc(txn, mb.id, a->n, &a->first)) != IDX_OK)
		return r;
	for (i = 0; i < a->n; i++) {
		struct idx_msg m;

		memset(&m, 0, sizeof(m));
		m.size = 100 + a->first + i;
		m.internaldate = 1700000000;
		if ((r = idx_msg_put(txn, mb.id, a->first + i, &m, 0)) != IDX_OK)
			return r;
	}
	return IDX_OK;
}

static int
create_inbox_cb(struct idx_txn *txn, void *ctx)
{
	(void)ctx;
	return idx_mbox_create(txn, "INBOX", 0, NULL);
}

struct seed_arg {
	const char *dir;
	uint32_t n;
};

static void
seed_child(void *arg)
{
	struct seed_arg *s = arg;
	struct idx_env *env = tu_open(s->dir, 20);
	struct add a = { s->n, 0 };
	int r;

	r = idx_txn_run(env, IDX_TXN_SYNC, create_inbox_cb, NULL);
	TU_CHECK(r == IDX_OK, "create INBOX: %s", idx_strerror(r));
	if (s->n > 0) {
		r = idx_txn_run(env, IDX_TXN_SYNC, add_cb, &a);
		TU_CHECK(r == IDX_OK, "seed: %s", idx_strerror(r));
	}
	idx_env_close(&env);
}

static void
seed(uint32_t n)
{
	struct seed_arg s = { dir, n };

	cr_assert_eq(tu_wait(tu_fork(seed_child, &s), 30), 0, "seeding failed");
}

struct count {
	uint32_t n, max;
	uint8_t *seen;	/* bitmap of UIDs, may be NULL */
	size_t seen_max;
};

static int
count_msg(uint32_t uid, const struct idx_msg *m, void *ctx)
{
	struct count *c = ctx;

	if (m->size != 100 + uid)
		return IDX_USER;	/* not the record add_cb wrote */
	c->n++;
	if (uid > c->max)
		c->max = uid;
	if (c->seen != NULL && uid < c->seen_max)
		c->seen[uid / 8] |= (uint8_t)(1u << (uid % 8));
	return 0;
}

struct verify {
	struct count c;
	struct idx_mbox mb;
};

static int
verify_cb(struct idx_txn *txn, void *ctx)
{
	struct verify *v = ctx;
	int r;

	v->c.n = v->c.max = 0;
	if (v->c.seen != NULL)
		memset(v->c.seen, 0, v->c.seen_max / 8 + 1);
	if ((r = idx_mbox_get(txn, "INBOX", &v->mb)) != IDX_OK)
		return r;
	return idx_msg_foreach(txn, v->mb.id, 1, UINT32_MAX, count_msg, &v->c);
}

/* In the test process, after the last fork: opens the index, reads
 * INBOX, closes. The open must not have needed a rebuild. */
static void
verify_parent(struct verify *v)
{
	struct idx_env *env = NULL;
	bool rebuilt = true;
	int r;

	r = idx_env_open(dir, NULL, &env, &rebuilt);
	cr_assert_eq(r, IDX_OK, "open after the crashes: %s", idx_strerror(r));
	cr_assert(!rebuilt, "the index was rebuilt");
	r = idx_txn_run(env, IDX_TXN_READ, verify_cb, v);
	cr_assert_eq(r, IDX_OK, "reading INBOX: %s", idx_strerror(r));
	cr_assert_eq(v->mb.messages, v->c.n, "counter %u, records %u",
		     v->mb.messages, v->c.n);
	cr_assert_gt(v->mb.uidnext, v->c.max);
	idx_env_close(&env);
}

/* What a child reports at the end. */
struct result {
	int kind;	/* RES_* */
	int rc;
	uint32_t first;
	double secs;
	struct idx_stats st;
};

enum { RES_BYSTANDER = 1, RES_OPENER, RES_WRITER };

static int pipe_ready[2], pipe_go[2], pipe_res[2], pipe_open[2];

static void
make_pipes(void)
{
	cr_assert_eq(pipe(pipe_ready), 0);
	cr_assert_eq(pipe(pipe_go), 0);
	cr_assert_eq(pipe(pipe_res), 0);
	cr_assert_eq(pipe(pipe_open), 0);
}

static void
say(int fd)
{
	char c = 'x';

	TU_CHECK(tu_write_all(fd, &c, 1) == 0, "pipe write");
}

static void
hear(int fd)
{
	char c;

	TU_CHECK(tu_read_all(fd, &c, 1) == 0, "pipe read");
}

static int
read_all_cb(struct idx_txn *txn, void *ctx)
{
	struct verify *v = ctx;

	return verify_cb(txn, v);
}

/* A session that opens, reads everything, says ready and idles until
 * it is killed. */
static void
idle_child(void *arg)
{
	struct idx_env *env = tu_open(dir, 20);
	struct verify v;
	int r;

	(void)arg;
	memset(&v, 0, sizeof(v));
	r = idx_txn_run(env, IDX_TXN_READ, read_all_cb, &v);
	TU_CHECK(r == IDX_OK, "read: %s", idx_strerror(r));
	say(pipe_ready[1]);
	for (;;)
		pause();
}

/* A bystander: opens, says ready, waits for go, then adds one message
 * and reports. */
static void
bystander_child(void *arg)
{
	struct idx_env *env = tu_open(dir, 20);
	struct result res;
	struct add a = { 1, 0 };
	double t0;

	(void)arg;
	say(pipe_ready[1]);
	hear(pipe_go[0]);
	t0 = tu_now();
	memset(&res, 0, sizeof(res));
	res.kind = RES_BYSTANDER;
	res.rc = idx_txn_run(env, IDX_TXN_SYNC, add_cb, &a);
	res.secs = tu_now() - t0;
	res.first = a.first;
	idx_env_stats(env, &res.st);
	idx_env_close(&env);
	TU_CHECK(tu_write_all(pipe_res[1], &res, sizeof(res)) == 0, "report");
}

static void
open_timed_child(void *arg)
{
	struct result res;
	struct idx_env *env;
	double t0 = tu_now();

	(void)arg;
	memset(&res, 0, sizeof(res));
	res.kind = RES_OPENER;
	env = tu_open(dir, 20);
	res.secs = tu_now() - t0;
	idx_env_close(&env);
	TU_CHECK(tu_write_all(pipe_open[1], &res, sizeof(res)) == 0, "report");
}

static void
read_result(struct result *res, int kind)
{
	int fd = kind == RES_OPENER ? pipe_open[0] : pipe_res[0];
	struct pollfd p = { fd, POLLIN, 0 };

	cr_assert_eq(poll(&p, 1, 30000), 1, "no result within 30 s");
	cr_assert_eq(tu_read_all(fd, res, sizeof(*res)), 0);
	cr_assert_eq(res->kind, kind, "result of kind %d, want %d", res->kind,
		     kind);
}

/* ---- (a) idle kill -------------------------------------------------------- */

Test(crash, idle_session_killed)
{
	struct result res, ores;
	struct verify v;
	pid_t victim, by, op;

	seed(10);
	make_pipes();
	victim = tu_fork(idle_child, NULL);
	hear(pipe_ready[0]);
	by = tu_fork(bystander_child, NULL);
	hear(pipe_ready[0]);
	cr_assert_eq(kill(victim, SIGKILL), 0);
	cr_assert_eq(tu_wait(victim, 10), 128 + SIGKILL);
	say(pipe_go[1]);
	read_result(&res, RES_BYSTANDER);
	cr_assert_eq(tu_wait(by, 20), 0, "the bystander failed");
	cr_assert_eq(res.rc, IDX_OK, "bystander: %s", idx_strerror(res.rc));
	cr_assert_eq(res.st.reopens, 0, "an idle crash made the bystander "
		     "reopen");
	cr_assert_eq(res.first, 11);

	op = tu_fork(open_timed_child, NULL);
	read_result(&ores, RES_OPENER);
	cr_assert_eq(tu_wait(op, 20), 0);
	cr_log_info("open after an idle kill: %.1f ms", ores.secs * 1000);
	cr_assert_lt(ores.secs, 1.0, "the next open took %.3f s", ores.secs);

	memset(&v, 0, sizeof(v));
	verify_parent(&v);
	cr_assert_eq(v.c.n, 11);
}

/* ---- (b) kill inside a write transaction ---------------------------------- */

static int
hold_cb(struct idx_txn *txn, void *ctx)
{
	int r = add_cb(txn, ctx);

	TU_CHECK(r == IDX_OK, "holder: %s", idx_strerror(r));
	/* Write locks on INBOX's record and a page of msgs are held now. */
	say(pipe_ready[1]);
	for (;;)
		pause();
	return IDX_OK;
}

static void
holder_child(void *arg)
{
	struct idx_env *env = tu_open(dir, 60);
	struct add a = { 1, 0 };

	(void)arg;
	(void)idx_txn_run(env, IDX_TXN_SYNC, hold_cb, &a);
	_exit(3);
}

static void
kill_in_transaction(bool third_opener)
{
	struct result res, ores;
	struct verify v;
	pid_t victim, by, op = -1;

	seed(10);
	make_pipes();
	by = tu_fork(bystander_child, NULL);
	hear(pipe_ready[0]);
	victim = tu_fork(holder_child, NULL);
	hear(pipe_ready[0]);
	/* The bystander now conflicts with the holder's locks and retries. */
	say(pipe_go[1]);
	usleep(300 * 1000);
	cr_assert_eq(kill(victim, SIGKILL), 0);
	cr_assert_eq(tu_wait(victim, 10), 128 + SIGKILL);
	if (third_opener) {
		/* Its DB_REGISTER sees the dead slot and cleans up (or
		 * recovers, panicking the bystander's handles). */
		op = tu_fork(open_timed_child, NULL);
		cr_assert_eq(tu_wait(op, 20), 0, "the third opener failed");
		read_result(&ores, RES_OPENER);
	}
	read_result(&res, RES_BYSTANDER);
	cr_assert_eq(tu_wait(by, 30), 0, "the bystander failed or hung");
	cr_assert_eq(res.rc, IDX_OK, "bystander: %s", idx_strerror(res.rc));
	cr_assert_geq(res.secs, 0.25, "the bystander did not wait (%.3f s)",
		      res.secs);
	cr_assert(res.st.failchks + res.st.reopens >= 1,
		  "neither failchk nor a reopen ran");
	/* The holder's allocation never committed: its UID was free. */
	cr_assert_eq(res.first, 11, "bystander got uid %u", res.first);
	cr_log_info("bystander: %.0f ms, %lu retries, %lu failchk, %lu reopen",
		    res.secs * 1000, res.st.retries, res.st.failchks,
		    res.st.reopens);
	op = tu_fork(open_timed_child, NULL);
	read_result(&ores, RES_OPENER);
	cr_assert_eq(tu_wait(op, 20), 0, "the next opener failed");

	memset(&v, 0, sizeof(v));
	verify_parent(&v);
	cr_assert_eq(v.c.n, 11, "%u messages", v.c.n);
	cr_assert_eq(v.c.max, 11);
}

Test(crash, killed_holding_locks)
{
	kill_in_transaction(false);
}

Test(crash, killed_holding_locks_with_new_opener)
{
	kill_in_transaction(true);
}

/* ---- (c) random kills ------------------------------------------------------- */

#define WRITERS 3
#define KILLS 50
#define UID_MAX_SEEN (1u << 20)

static int pipe_report[2], pipe_stop[2], pipe_wready[2], pipe_bready[2];

struct report {
	uint32_t uid;
	uint8_t who;
} __attribute__((packed));

/* Writes one or two messages per transaction until killed (writers) or
 * told to stop (the bystander), reporting each UID whose sync commit
 * returned OK. It says ready once it has opened: victims are killed in
 * the middle of their writes, not inside their own open. */
static void
writer_loop(uint8_t who, bool bystander)
{
	struct idx_env_opts o = { .watchdog_secs = 2 };
	struct idx_env *env = NULL;
	int r;

	/* With a 2 s watchdog an open waits only 1 s for another one
	 * (open.lock), which a recovery on a loaded machine (ASan) can
	 * outlast: IDX_BUSY, a normal answer, so try again; start() bounds
	 * the whole wait to 60 s. */
	while ((r = idx_env_open(dir, &o, &env, NULL)) == IDX_BUSY)
		usleep(10000);
	TU_CHECK(r == IDX_OK, "idx_env_open(%s): %s", dir, idx_strerror(r));

	say(bystander ? pipe_bready[1] : pipe_wready[1]);
	for (;;) {
		struct add a = { 1 + (uint32_t)(who % 2), 0 };
		uint32_t i;

		r = idx_txn_run(env, IDX_TXN_SYNC, add_cb, &a);

		if (r == IDX_OK) {
			for (i = 0; i < a.n; i++) {
				struct report rep = { a.first + i, who };

				TU_CHECK(tu_write_all(pipe_report[1], &rep,
						      sizeof(rep)) == 0, "report");
			}
		} else {
			fprintf(stderr, "writer %u: %s\n", who, idx_strerror(r));
		}
		if (bystander) {
			struct pollfd p = { pipe_stop[0], POLLIN, 0 };

			if (poll(&p, 1, 0) == 1)
				break;
		}
	}
	idx_env_close(&env);
}

static void
writer_child(void *arg)
{
	writer_loop((uint8_t)(uintptr_t)arg, false);
}

static void
steady_child(void *arg)
{
	writer_loop((uint8_t)(uintptr_t)arg, true);
}

struct tally {
	uint8_t *reported;
	unsigned long n, dups;
};

static void
drain(struct tally *t)
{
	struct report rep;

	for (;;) {
		ssize_t r = read(pipe_report[0], &rep, sizeof(rep));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		cr_assert_eq(r, (ssize_t)sizeof(rep), "torn report");
		cr_assert_lt(rep.uid, UID_MAX_SEEN);
		if (t->reported[rep.uid / 8] & (1u << (rep.uid % 8)))
			t->dups++;
		t->reported[rep.uid / 8] |= (uint8_t)(1u << (rep.uid % 8));
		t->n++;
	}
}

/* Starts a writer (or the bystander) and waits until it has opened the
 * index, draining reports meanwhile (a full report pipe would block the
 * writers). A child that dies before that (its watchdog fired: a victim
 * died holding a Berkeley DB mutex, see doc/design.md) is started again,
 * and counted. */
static pid_t
start(bool bystander, uintptr_t who, struct tally *t, unsigned *watchdogs)
{
	int fd = bystander ? pipe_bready[0] : pipe_wready[0];
	double end = tu_now() + 60;
	pid_t pid;
	char c;

again:
	pid = tu_fork(bystander ? steady_child : writer_child, (void *)who);
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		int st;

		drain(t);
		if (poll(&p, 1, 10) == 1)
			break;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			cr_assert(WIFEXITED(st) &&
				  WEXITSTATUS(st) == IDX_WATCHDOG_EXIT,
				  "a writer died in its open (0x%x)", st);
			(*watchdogs)++;
			goto again;
		}
		cr_assert_lt(tu_now(), end, "no writer got through its open "
			     "for 60 s");
	}
	cr_assert_eq(tu_read_all(fd, &c, 1), 0);
	return pid;
}

/* The bystander is restarted if its watchdog ended it; any other end
 * fails the test. */
static void
check_steady(pid_t *steady, unsigned *watchdogs, struct tally *t)
{
	int st;

	if (waitpid(*steady, &st, WNOHANG) != *steady)
		return;
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == IDX_WATCHDOG_EXIT,
		  "the bystander died (status 0x%x)", st);
	(*watchdogs)++;
	*steady = start(true, WRITERS, t, watchdogs);
}

static void
probe_open_child(void *arg)
{
	struct idx_env *env = tu_open(dir, 3);

	(void)arg;
	idx_env_close(&env);
}

Test(crash, random_kills_lose_nothing)
{
	pid_t writers[WRITERS], steady;
	struct tally t = { calloc(UID_MAX_SEEN / 8, 1), 0, 0 };
	struct verify v;
	unsigned seed_r = (unsigned)getpid(), i, missing = 0, watchdogs = 0;
	int st;

	seed(0);
	make_pipes();
	cr_assert_eq(pipe(pipe_report), 0);
	cr_assert_eq(pipe(pipe_stop), 0);
	cr_assert_eq(pipe(pipe_wready), 0);
	cr_assert_eq(pipe(pipe_bready), 0);
	cr_assert_eq(fcntl(pipe_report[0], F_SETFL, O_NONBLOCK), 0);
	steady = start(true, WRITERS, &t, &watchdogs);
	for (i = 0; i < WRITERS; i++)
		writers[i] = start(false, i, &t, &watchdogs);
	for (i = 0; i < KILLS; i++) {
		unsigned w = (unsigned)rand_r(&seed_r) % WRITERS;

		usleep((useconds_t)(5000 + rand_r(&seed_r) % 35000));
		drain(&t);
		check_steady(&steady, &watchdogs, &t);
		cr_assert_eq(kill(writers[w], SIGKILL), 0);
		st = tu_wait(writers[w], 10);
		cr_assert(st == 128 + SIGKILL || st == IDX_WATCHDOG_EXIT,
			  "writer %u ended with %d", w, st);
		if (st == IDX_WATCHDOG_EXIT)
			watchdogs++;
		writers[w] = start(false, w, &t, &watchdogs);
	}
	usleep(20000);
	for (i = 0; i < WRITERS; i++) {
		kill(writers[i], SIGKILL);
		(void)tu_wait(writers[i], 10);
	}
	check_steady(&steady, &watchdogs, &t);
	say(pipe_stop[1]);
	/* (If it dies of its watchdog now, it is counted below.) */
	st = tu_wait(steady, 20);
	if (st == IDX_WATCHDOG_EXIT)
		watchdogs++;
	else
		cr_assert_eq(st, 0, "the bystander ended with %d", st);
	drain(&t);
	cr_assert_eq(t.dups, 0, "%lu UIDs were handed out twice", t.dups);
	cr_assert_gt(t.n, KILLS, "too few commits to mean anything");

	/* The first open after the last kill may itself end by its
	 * watchdog: failchk in Berkeley DB 5.3 spins when a dead process
	 * holds the environment's thread-table mutex. The opener after it
	 * finds its stale opening.<pid> and forces recovery. */
	for (i = 0; i < 3; i++) {
		st = tu_wait(tu_fork(probe_open_child, NULL), 30);
		if (st != IDX_WATCHDOG_EXIT)
			break;
		watchdogs++;
	}
	cr_assert_eq(st, 0, "the index did not open after the kills (%d)", st);
	cr_log_info("%lu commits reported over %d kills; watchdog exits: %u",
		    t.n, KILLS, watchdogs);
	memset(&v, 0, sizeof(v));
	v.c.seen = calloc(UID_MAX_SEEN / 8 + 1, 1);
	v.c.seen_max = UID_MAX_SEEN;
	verify_parent(&v);
	for (i = 1; i < UID_MAX_SEEN; i++)
		if ((t.reported[i / 8] & (1u << (i % 8))) &&
		    !(v.c.seen[i / 8] & (1u << (i % 8))))
			missing++;
	cr_assert_eq(missing, 0, "%u committed UIDs are missing", missing);
	free(v.c.seen);
	free(t.reported);
}

/* ---- (d) damage and the rebuild path ------------------------------------- */

/* Opens in a child and reports (rc, rebuilt, INBOX present). */
struct open_res {
	int rc;
	bool rebuilt;
	int inbox;
	unsigned long recoveries;
};

static void
open_report_child(void *arg)
{
	struct open_res o;
	struct idx_env *env = NULL;

	(void)arg;
	memset(&o, 0, sizeof(o));
	o.rc = idx_env_open(dir, NULL, &env, &o.rebuilt);
	if (o.rc == IDX_OK) {
		struct verify v;

		memset(&v, 0, sizeof(v));
		o.inbox = idx_txn_run(env, IDX_TXN_READ, verify_cb, &v);
		/* The fresh index must work. */
		TU_CHECK(idx_txn_run(env, IDX_TXN_SYNC, create_inbox_cb, NULL) ==
			 (o.inbox == IDX_OK ? IDX_EXISTS : IDX_OK), "create");
		{
			struct idx_stats st;

			idx_env_stats(env, &st);
			o.recoveries = st.recoveries;
		}
		idx_env_close(&env);
	}
	TU_CHECK(tu_write_all(pipe_res[1], &o, sizeof(o)) == 0, "report");
}

static struct open_res
open_report(void)
{
	struct open_res o;
	struct pollfd p;
	pid_t pid = tu_fork(open_report_child, NULL);

	p.fd = pipe_res[0];
	p.events = POLLIN;
	cr_assert_eq(poll(&p, 1, 30000), 1, "no report");
	cr_assert_eq(tu_read_all(pipe_res[0], &o, sizeof(o)), 0);
	cr_assert_eq(tu_wait(pid, 20), 0, "the opener crashed or failed");
	return o;
}

static void
remove_logs(void)
{
	int i;

	for (i = 1; i < 100; i++) {
		char name[32], *p;

		snprintf(name, sizeof(name), "log.%010d", i);
		p = tu_path(dir, name);
		(void)unlink(p);
		free(p);
	}
}

static void
scribble(const char *name, size_t len)
{
	char *p = tu_path(dir, name);
	int fd = open(p, O_WRONLY | O_TRUNC);
	unsigned s = 7;
	size_t i;

	cr_assert_geq(fd, 0, "open %s", p);
	for (i = 0; i < len; i++) {
		uint8_t c = (uint8_t)rand_r(&s);

		cr_assert_eq(write(fd, &c, 1), 1);
	}
	close(fd);
	free(p);
}

static void
expect_rebuilt(void)
{
	struct open_res o = open_report();
	int broken;

	cr_assert_eq(o.rc, IDX_OK, "open: %s", idx_strerror(o.rc));
	cr_assert(o.rebuilt, "damage was not noticed");
	cr_assert_eq(o.inbox, IDX_NOTFOUND, "old data survived a rebuild");
	broken = tu_count(dir, "meta.db.broken-");
	cr_assert_eq(broken, 1, "%d copies of meta.db moved aside", broken);
}

Test(crash, removed_logs_after_clean_close)
{
	seed(5);
	make_pipes();
	remove_logs();
	expect_rebuilt();
}

Test(crash, garbage_msgs_db)
{
	seed(5);
	make_pipes();
	scribble("msgs.db", 16384);
	expect_rebuilt();
}

Test(crash, empty_mailboxes_db)
{
	seed(5);
	make_pipes();
	scribble("mailboxes.db", 0);
	expect_rebuilt();
}

Test(crash, missing_database)
{
	char *p = tu_path(dir, "keywords.db");

	seed(5);
	make_pipes();
	cr_assert_eq(unlink(p), 0);
	free(p);
	expect_rebuilt();
}

Test(crash, garbage_db_config)
{
	seed(5);
	make_pipes();
	scribble("DB_CONFIG", 300);
	expect_rebuilt();
}

static int
schema_cb(struct idx_txn *txn, void *ctx)
{
	uint8_t k = IDX_META_SCHEMA;

	(void)ctx;
	return idx_put_u32(txn, IDX_DB_META, &k, 1, IDX_SCHEMA_VERSION + 1);
}

static void
schema_child(void *arg)
{
	struct idx_env *env = tu_open(dir, 20);

	(void)arg;
	TU_CHECK(idx_txn_run(env, IDX_TXN_SYNC, schema_cb, NULL) == IDX_OK,
		 "schema");
	idx_env_close(&env);
}

Test(crash, other_schema_version)
{
	seed(5);
	make_pipes();
	cr_assert_eq(tu_wait(tu_fork(schema_child, NULL), 20), 0);
	expect_rebuilt();
}

/* Two rebuilds keep one generation of broken files. */
Test(crash, one_broken_generation)
{
	seed(5);
	make_pipes();
	remove_logs();
	expect_rebuilt();
	sleep(1);	/* another timestamp */
	remove_logs();
	expect_rebuilt();
}

/* Logs removed under a running session: its next sync commit cannot be
 * made durable (the log file is gone), so it fails (IDX_FAILED, and the
 * environment is closed), or Berkeley DB notices first and the wrapper
 * reopens and rebuilds (IDX_REBUILT). Nothing crashes, success is never
 * claimed, and the next open finds the damage and rebuilds. */
static void
write_after_damage_child(void *arg)
{
	struct idx_env *env = tu_open(dir, 20);
	struct add a = { 1, 0 };
	int r;

	(void)arg;
	say(pipe_ready[1]);
	hear(pipe_go[0]);
	r = idx_txn_run(env, IDX_TXN_SYNC, add_cb, &a);
	TU_CHECK(r == IDX_FAILED || r == IDX_REBUILT, "write after damage: %s",
		 idx_strerror(r));
	idx_env_close(&env);
	_exit(r == IDX_REBUILT ? 10 : 0);
}

Test(crash, removed_logs_under_a_session)
{
	struct open_res o;
	pid_t pid;
	int st;

	seed(5);
	make_pipes();
	pid = tu_fork(write_after_damage_child, NULL);
	hear(pipe_ready[0]);
	remove_logs();
	say(pipe_go[1]);
	st = tu_wait(pid, 30);
	cr_assert(st == 0 || st == 10, "the session failed (%d)", st);
	if (st == 0) {
		/* It failed the write; the next open rebuilds. */
		expect_rebuilt();
		return;
	}
	/* It rebuilt already; the next open finds a sound index. */
	o = open_report();
	cr_assert_eq(o.rc, IDX_OK);
	cr_assert(!o.rebuilt);
	cr_assert_eq(tu_count(dir, "meta.db.broken-"), 1);
}

/* A rebuild never pulls files from under a live session: with one open,
 * idx_env_reset is IDX_BUSY; once it is closed, the reset works. */
static void
reset_child(void *arg)
{
	struct idx_env *env = tu_open(dir, 20);
	int want = *(int *)arg, r;

	r = idx_env_reset(env);
	TU_CHECK(r == want, "reset: %s, want %s", idx_strerror(r),
		 idx_strerror(want));
	r = idx_txn_run(env, IDX_TXN_SYNC, create_inbox_cb, NULL);
	TU_CHECK(r == (want == IDX_OK ? IDX_OK : IDX_EXISTS), "after reset: %s",
		 idx_strerror(r));
	idx_env_close(&env);
}

Test(crash, reset_waits_for_other_sessions)
{
	int busy = IDX_BUSY, ok = IDX_OK;
	pid_t idle;

	seed(5);
	make_pipes();
	idle = tu_fork(idle_child, NULL);
	hear(pipe_ready[0]);
	cr_assert_eq(tu_wait(tu_fork(reset_child, &busy), 30), 0);
	kill(idle, SIGKILL);
	(void)tu_wait(idle, 10);
	cr_assert_eq(tu_wait(tu_fork(reset_child, &ok), 30), 0);
}

/* A record that Berkeley DB stores fine but that does not decode is
 * IDX_CORRUPT for the caller, not a crash. */
static int
corrupt_cb(struct idx_txn *txn, void *ctx)
{
	struct idx_mbox mb;
	uint8_t junk[7] = { 1, 0, 0, 0, 0, 1, 2 }, key[8];
	int r;

	(void)ctx;
	if ((r = idx_mbox_get(txn, "INBOX", &mb)) != IDX_OK)
		return r;
	if ((r = idx_put(txn, IDX_DB_MAILBOXES, "Broken", 6, junk,
			 sizeof(junk), 0)) != IDX_OK)
		return r;
	idx_msg_key(key, mb.id, 2);
	return idx_put(txn, IDX_DB_MSGS, key, 8, junk, sizeof(junk), 0);
}

static int
get_broken_cb(struct idx_txn *txn, void *ctx)
{
	struct idx_mbox mb;

	(void)ctx;
	return idx_mbox_get(txn, "Broken", &mb);
}

static int
walk_broken_cb(struct idx_txn *txn, void *ctx)
{
	struct verify *v = ctx;

	return verify_cb(txn, v);
}

static void
corrupt_child(void *arg)
{
	struct idx_env *env = tu_open(dir, 20);
	struct verify v;
	int r;

	(void)arg;
	memset(&v, 0, sizeof(v));
	TU_CHECK(idx_txn_run(env, IDX_TXN_SYNC, corrupt_cb, NULL) == IDX_OK,
		 "corrupting");
	r = idx_txn_run(env, IDX_TXN_READ, get_broken_cb, NULL);
	TU_CHECK(r == IDX_CORRUPT, "mailbox: %s", idx_strerror(r));
	r = idx_txn_run(env, IDX_TXN_READ, walk_broken_cb, &v);
	TU_CHECK(r == IDX_CORRUPT, "walk: %s", idx_strerror(r));
	idx_env_close(&env);
}

Test(crash, corrupt_records)
{
	seed(5);
	cr_assert_eq(tu_wait(tu_fork(corrupt_child, NULL), 30), 0);
}

/* After a machine restart DB_REGISTER sees nothing to recover (every
 * slot is free), but the region files hold whatever the page cache had
 * written: the first open of a boot recovers (new regions, log
 * replayed), the next ones do not. A different dir/boot_id stands in
 * for the restart. */
Test(crash, first_open_after_restart_recovers)
{
	char *p = tu_path(dir, "boot_id");
	struct open_res o;
	struct verify v;
	FILE *f;

	seed(5);
	make_pipes();
	o = open_report();
	cr_assert_eq(o.rc, IDX_OK);
	cr_assert_eq(o.recoveries, 0, "recovered without a restart");
	f = fopen(p, "w");
	cr_assert_not_null(f);
	fputs("00000000-0000-0000-0000-000000000000\n", f);
	fclose(f);
	o = open_report();
	cr_assert_eq(o.rc, IDX_OK);
	cr_assert(!o.rebuilt);
	cr_assert_eq(o.recoveries, 1, "no recovery after the restart");
	o = open_report();
	cr_assert_eq(o.recoveries, 0, "recovered twice in one boot");
	memset(&v, 0, sizeof(v));
	verify_parent(&v);
	cr_assert_eq(v.c.n, 5, "%u messages after recovery", v.c.n);
	free(p);
}

/* ---- a fault inside the open's failchk ------------------------------------ */

/* A session killed in the middle of the lock table leaves it
 * inconsistent, and the next open's failchk (DB_REGISTER saw the dead
 * slot) walks it: under the random-kill test that faulted inside
 * Berkeley DB (__lock_detect, __lock_promote). Here a dead slot and a
 * scribbled lock region stand in for that. The open must recover into
 * new regions instead of crashing, and keep every message. */
static void
scribble_region(const char *name)
{
	char *p = tu_path(dir, name);
	struct stat st;
	int fd = open(p, O_RDWR);
	unsigned char junk[4096];
	off_t off;

	cr_assert_geq(fd, 0, "%s: %s", name, strerror(errno));
	cr_assert_eq(fstat(fd, &st), 0);
	memset(junk, 0xa5, sizeof(junk));
	/* Past the region's own header, so that the attach succeeds and
	 * failchk meets the damage. */
	for (off = 4096; off + (off_t)sizeof(junk) <= st.st_size;
	     off += (off_t)sizeof(junk))
		cr_assert_eq(pwrite(fd, junk, sizeof(junk), off),
			     (ssize_t)sizeof(junk));
	close(fd);
	free(p);
}

Test(crash, fault_in_open_failchk_recovers)
{
	struct open_res o;
	struct verify v;
	pid_t victim;

	seed(5);
	make_pipes();
	victim = tu_fork(idle_child, NULL);
	hear(pipe_ready[0]);
	cr_assert_eq(kill(victim, SIGKILL), 0);
	cr_assert_eq(tu_wait(victim, 10), 128 + SIGKILL);
	scribble_region("__db.003");	/* the lock region */
	o = open_report();
	cr_assert_eq(o.rc, IDX_OK, "open: %s", idx_strerror(o.rc));
	cr_assert(!o.rebuilt, "the index was rebuilt");
	memset(&v, 0, sizeof(v));
	verify_parent(&v);
	cr_assert_eq(v.c.n, 5, "%u messages after recovery", v.c.n);
}

/* After an escape from inside DB_ENV->open, this process's pid stays
 * in __db.register (the abandoned handle never closes); when another
 * process had made new regions meanwhile, the reopen is a plain
 * DB_REGISTER open, which refused to register the same pid twice
 * (BDB1528; seen in test_crash's kill storm as a session that could
 * not open for 5 s). Simulated here: abandon, then reopen without the
 * forced recovery. */
static void
abandon_child(void *arg)
{
	struct idx_env *env = tu_open(dir, 20);
	struct verify v;
	int r;

	(void)arg;
	/* The pages in the files, so that new regions need no recovery. */
	TU_CHECK(env->dbenv->txn_checkpoint(env->dbenv, 0, 0, DB_FORCE) == 0,
		 "checkpoint");
	idx_env_abandon(env);
	/* Another process recovered into new regions meanwhile. */
	env->force_recover = false;
	for (int i = 1; i <= 9; i++) {
		char name[16], *p;

		snprintf(name, sizeof(name), "__db.%03d", i);
		p = tu_path(dir, name);
		(void)unlink(p);
		free(p);
	}
	memset(&v, 0, sizeof(v));
	r = idx_txn_run(env, IDX_TXN_READ, verify_cb, &v);
	TU_CHECK(r == IDX_OK, "reopen after the escape: %s", idx_strerror(r));
	TU_CHECK(v.c.n == 5, "%u messages", v.c.n);
	idx_env_close(&env);
}

Test(crash, reopen_after_escape_from_open_registers_again)
{
	seed(5);
	cr_assert_eq(tu_wait(tu_fork(abandon_child, NULL), 60), 0);
}

/* A kill storm can panic the regions again right after a reopen
 * (another process recovering, or meeting the next dead holder): the
 * call reopens again, with back-off, and succeeds once a try gets
 * through; a failure that comes back every time ends as IDX_FAILED
 * within the busy budget, not in a loop (design.md, "Transactions"). */
struct panic_ctx {
	struct idx_env *env;
	unsigned panics, calls;
	struct add add;
};

static int
panic_then_add_cb(struct idx_txn *txn, void *ctx)
{
	struct panic_ctx *p = ctx;

	if (p->calls++ < p->panics) {
		(void)p->env->dbenv->set_flags(p->env->dbenv,
					       DB_PANIC_ENVIRONMENT, 1);
		return IDX_OK;
	}
	return add_cb(txn, &p->add);
}

/* In a child that leaves by _exit: the handles of panicked
 * environments are dropped without their closes (design.md), which
 * LeakSanitizer would report at a normal exit. */
static void
panics_child(void *arg)
{
	struct idx_env *env;
	struct idx_stats st;
	struct panic_ctx p = { .panics = 4, .add = { 1, 0 } };
	double t0;
	int r;

	(void)arg;
	env = tu_open(dir, 20);
	p.env = env;
	r = idx_txn_run(env, IDX_TXN_SYNC, panic_then_add_cb, &p);
	TU_CHECK(r == IDX_OK, "after 4 panics in a row: %s", idx_strerror(r));
	TU_CHECK(p.calls >= 5, "%u calls", p.calls);
	TU_CHECK(p.add.first == 4, "the write went in after the reopens: "
		 "UID %u", p.add.first);
	idx_env_stats(env, &st);
	TU_CHECK(st.reopens >= 4, "%u reopens", (unsigned)st.reopens);

	p.calls = 0;
	p.panics = 1000;
	t0 = tu_now();
	r = idx_txn_run(env, IDX_TXN_SYNC, panic_then_add_cb, &p);
	TU_CHECK(r == IDX_FAILED, "a panic every time: %s", idx_strerror(r));
	TU_CHECK(p.calls >= 2 && p.calls <= 13, "%u tries", p.calls);
	TU_CHECK(tu_now() - t0 < 10.0, "gave up after %.1f s", tu_now() - t0);
	_exit(0);
}

Test(crash, panics_right_after_reopens_are_retried_within_a_budget)
{
	seed(3);
	cr_assert_eq(tu_wait(tu_fork(panics_child, NULL), 60), 0,
		     "see the child's message above");
}
