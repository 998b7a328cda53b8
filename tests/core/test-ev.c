/*
 * Tests for lib/core/ev.c: descriptor readiness and interest changes,
 * EV_ERROR on hang-up, timer order/reset/deletion, removal of watchers
 * from inside callbacks (including one whose event is in the same
 * epoll batch), signals through the signalfd, ev_stop, and scale.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/ev.h"

static struct ev *
mk(void)
{
	struct ev *ev = ev_new();

	cr_assert_not_null(ev, "ev_new: %s", strerror(errno));
	return ev;
}

static void
stop_cb(struct ev_timer *t, void *ctx)
{
	ev_stop(ctx);
}

/* A guard so that a broken loop fails the test instead of hanging. */
static void
guard_cb(struct ev_timer *t, void *ctx)
{
	cr_assert_fail("loop still running after the guard timeout");
}

/* ---- io ---- */

struct io_rec {
	struct ev *ev;
	int calls;
	unsigned int last;
	int fd;
	bool stop;
};

static void
io_rec_cb(struct ev_io *io, int fd, unsigned int events, void *ctx)
{
	struct io_rec *r = ctx;
	char c[16];

	r->calls++;
	r->last = events;
	r->fd = fd;
	if ((events & EV_READ) && read(fd, c, sizeof(c)) < 0)
		r->last |= 0x100;       /* not expected: fails the event check */
	if (r->stop)
		ev_stop(r->ev);
}

Test(ev_io, read_readiness)
{
	struct ev *ev = mk();
	struct io_rec r = { .ev = NULL, .stop = true };
	struct ev_io *io;
	struct ev_timer *g;
	int p[2];

	r.ev = ev;
	cr_assert_eq(pipe(p), 0);
	io = ev_io_add(ev, p[0], EV_READ, io_rec_cb, &r);
	cr_assert_not_null(io);
	g = ev_timer_add(ev, 5000, guard_cb, NULL);
	cr_assert_eq(write(p[1], "a", 1), 1);
	cr_assert_eq(ev_run(ev), 0);
	cr_assert_eq(r.calls, 1, "calls: got %d, want 1", r.calls);
	cr_assert_eq(r.last, EV_READ, "events: got %#x, want EV_READ", r.last);
	cr_assert_eq(r.fd, p[0]);
	ev_io_del(&io);
	cr_assert_null(io, "ev_io_del did not clear the pointer");
	ev_io_del(&io);         /* NULL-safe */
	ev_timer_del(&g);
	ev_free(&ev);
	cr_assert_null(ev);
	close(p[0]);
	close(p[1]);
}

/* Not readable: no callback before a timer ends the run. */
Test(ev_io, idle_fd_not_reported)
{
	struct ev *ev = mk();
	struct io_rec r = { 0 };
	struct ev_io *io;
	struct ev_timer *t;
	int p[2];

	cr_assert_eq(pipe(p), 0);
	io = ev_io_add(ev, p[0], EV_READ, io_rec_cb, &r);
	t = ev_timer_add(ev, 30, stop_cb, ev);
	cr_assert_eq(ev_run(ev), 0);
	cr_assert_eq(r.calls, 0, "idle pipe reported %d times", r.calls);
	ev_io_del(&io);
	ev_timer_del(&t);
	ev_free(&ev);
	close(p[0]);
	close(p[1]);
}

Test(ev_io, set_changes_interest)
{
	struct ev *ev = mk();
	struct io_rec r = { .stop = true };
	struct ev_io *io;
	struct ev_timer *t;
	int sv[2];

	r.ev = ev;
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	/* Writable at once, but only READ is asked for. */
	io = ev_io_add(ev, sv[0], EV_READ, io_rec_cb, &r);
	t = ev_timer_add(ev, 30, stop_cb, ev);
	cr_assert_eq(ev_run(ev), 0);
	cr_assert_eq(r.calls, 0, "reported without interest: %#x", r.last);
	ev_io_set(io, EV_READ | EV_WRITE);
	ev_timer_reset(t, 5000);
	cr_assert_eq(ev_run(ev), 0);
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.last, EV_WRITE, "events: got %#x, want EV_WRITE", r.last);
	/* Interest 0 pauses the watcher; WRITE alone resumes it. */
	ev_io_set(io, 0);
	ev_timer_reset(t, 30);
	cr_assert_eq(ev_run(ev), 0);
	cr_assert_eq(r.calls, 1, "paused watcher called");
	ev_io_set(io, EV_WRITE);
	ev_timer_reset(t, 5000);
	cr_assert_eq(ev_run(ev), 0);
	cr_assert_eq(r.calls, 2);
	ev_io_del(&io);
	ev_timer_del(&t);
	ev_free(&ev);
	close(sv[0]);
	close(sv[1]);
}

Test(ev_io, hangup_gives_read_and_error)
{
	struct ev *ev = mk();
	struct io_rec r = { .stop = true };
	struct ev_io *io;
	struct ev_timer *g;
	int p[2];

	r.ev = ev;
	cr_assert_eq(pipe(p), 0);
	io = ev_io_add(ev, p[0], EV_READ, io_rec_cb, &r);
	g = ev_timer_add(ev, 5000, guard_cb, NULL);
	close(p[1]);
	cr_assert_eq(ev_run(ev), 0);
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.last, EV_READ | EV_ERROR,
		     "events: got %#x, want EV_READ|EV_ERROR", r.last);
	ev_io_del(&io);
	ev_timer_del(&g);
	ev_free(&ev);
	close(p[0]);
}

/* A paused watcher on a hung-up fd is not called (no busy loop). */
Test(ev_io, paused_hangup_quiet)
{
	struct ev *ev = mk();
	struct io_rec r = { 0 };
	struct ev_io *io;
	struct ev_timer *t;
	int p[2];

	cr_assert_eq(pipe(p), 0);
	io = ev_io_add(ev, p[0], EV_READ, io_rec_cb, &r);
	ev_io_set(io, 0);
	close(p[1]);
	t = ev_timer_add(ev, 30, stop_cb, ev);
	cr_assert_eq(ev_run(ev), 0);
	cr_assert_eq(r.calls, 0, "paused watcher called %d times", r.calls);
	ev_io_del(&io);
	ev_timer_del(&t);
	ev_free(&ev);
	close(p[0]);
}

Test(ev_io, add_refuses_bad_fd)
{
	struct ev *ev = mk();
	struct io_rec r = { 0 };
	int fd = open("/dev/null", O_RDONLY);

	cr_assert_null(ev_io_add(ev, -1, EV_READ, io_rec_cb, &r));
	cr_assert_null(ev_io_add(ev, 999999, EV_READ, io_rec_cb, &r));
	/* Regular files cannot be polled: epoll says EPERM. */
	cr_assert_geq(fd, 0);
	cr_assert_null(ev_io_add(ev, fd, EV_READ, io_rec_cb, &r));
	cr_assert_eq(errno, EPERM, "errno: got %d, want EPERM", errno);
	close(fd);
	ev_free(&ev);
}

/* ---- deletion inside callbacks ---- */

struct pairdel {
	struct ev *ev;
	struct ev_io *io[2];
	int calls[2];
	int fds[2];
};

/* Whichever runs first deletes the other, whose event is already in the
 * same batch (both pipes were readable before ev_run). */
static void
pairdel_cb(struct ev_io *io, int fd, unsigned int events, void *ctx)
{
	struct pairdel *pd = ctx;
	int me = fd == pd->fds[0] ? 0 : 1;

	pd->calls[me]++;
	ev_io_del(&pd->io[1 - me]);
	/* And itself: its pipe stays readable, so a surviving watcher
	 * would be called again. */
	ev_io_del(&pd->io[me]);
}

Test(ev_del, other_watcher_in_same_batch)
{
	struct ev *ev = mk();
	struct pairdel pd = { 0 };
	struct ev_timer *t;
	int a[2], b[2];

	pd.ev = ev;
	cr_assert_eq(pipe(a), 0);
	cr_assert_eq(pipe(b), 0);
	pd.fds[0] = a[0];
	pd.fds[1] = b[0];
	cr_assert_eq(write(a[1], "x", 1), 1);
	cr_assert_eq(write(b[1], "x", 1), 1);
	pd.io[0] = ev_io_add(ev, a[0], EV_READ, pairdel_cb, &pd);
	pd.io[1] = ev_io_add(ev, b[0], EV_READ, pairdel_cb, &pd);
	t = ev_timer_add(ev, 50, stop_cb, ev);
	cr_assert_eq(ev_run(ev), 0);
	cr_assert_eq(pd.calls[0] + pd.calls[1], 1,
		     "calls: got %d + %d, want exactly 1 in all", pd.calls[0],
		     pd.calls[1]);
	cr_assert_null(pd.io[0]);
	cr_assert_null(pd.io[1]);
	ev_timer_del(&t);
	ev_free(&ev);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}

/* Many ready watchers; the first to run deletes all the others. */
struct massdel {
	struct ev_io *io[64];
	int calls;
};

static void
massdel_cb(struct ev_io *io, int fd, unsigned int events, void *ctx)
{
	struct massdel *md = ctx;
	size_t i;

	md->calls++;
	for (i = 0; i < 64; i++)
		ev_io_del(&md->io[i]);
}

Test(ev_del, all_others_in_same_batch)
{
	struct ev *ev = mk();
	struct massdel md = { .calls = 0 };
	struct ev_timer *t;
	int p[64][2];
	size_t i;

	for (i = 0; i < 64; i++) {
		cr_assert_eq(pipe(p[i]), 0);
		cr_assert_eq(write(p[i][1], "x", 1), 1);
		md.io[i] = ev_io_add(ev, p[i][0], EV_READ, massdel_cb, &md);
		cr_assert_not_null(md.io[i]);
	}
	t = ev_timer_add(ev, 50, stop_cb, ev);
	cr_assert_eq(ev_run(ev), 0);
	cr_assert_eq(md.calls, 1, "calls: got %d, want 1", md.calls);
	ev_timer_del(&t);
	ev_free(&ev);
	for (i = 0; i < 64; i++) {
		close(p[i][0]);
		close(p[i][1]);
	}
}

/* Delete another watcher, close its fd and add a new watcher on a new
 * fd, all within one batch: the stale event must not reach the new one
 * under the old one's identity, nor the old callback. */
struct reuse {
	struct ev *ev;
	struct ev_io *victim;
	int victim_calls;
	int victim_fd;
	int killer_calls;
};

static void
victim_cb(struct ev_io *io, int fd, unsigned int events, void *ctx)
{
	struct reuse *ru = ctx;

	ru->victim_calls++;
}

static void
killer_cb(struct ev_io *io, int fd, unsigned int events, void *ctx)
{
	struct reuse *ru = ctx;
	char c;

	if (read(fd, &c, 1) != 1)
		return;
	ru->killer_calls++;
	if (ru->victim != NULL) {
		ev_io_del(&ru->victim);
		ev_io_set(io, 0);
	}
}

Test(ev_del, delete_before_and_after_its_event)
{
	/* Run twice, swapping the order of adding, so that the victim's
	 * event comes both before and after the killer's in the batch. */
	int round;

	for (round = 0; round < 2; round++) {
		struct ev *ev = mk();
		struct reuse ru = { 0 };
		struct ev_io *killer;
		struct ev_timer *t;
		int a[2], b[2];

		ru.ev = ev;
		cr_assert_eq(pipe(a), 0);
		cr_assert_eq(pipe(b), 0);
		cr_assert_eq(write(a[1], "x", 1), 1);
		cr_assert_eq(write(b[1], "x", 1), 1);
		if (round == 0) {
			killer = ev_io_add(ev, a[0], EV_READ, killer_cb, &ru);
			ru.victim = ev_io_add(ev, b[0], EV_READ, victim_cb, &ru);
		} else {
			ru.victim = ev_io_add(ev, b[0], EV_READ, victim_cb, &ru);
			killer = ev_io_add(ev, a[0], EV_READ, killer_cb, &ru);
		}
		t = ev_timer_add(ev, 50, stop_cb, ev);
		cr_assert_eq(ev_run(ev), 0);
		cr_assert_eq(ru.killer_calls, 1);
		/* The victim may have run before the killer, never after. */
		cr_assert_leq(ru.victim_calls, 1);
		cr_assert_null(ru.victim);
		ev_io_del(&killer);
		ev_timer_del(&t);
		ev_free(&ev);
		close(a[0]);
		close(a[1]);
		close(b[0]);
		close(b[1]);
	}
}

/* ---- timers ---- */

struct order {
	struct ev *ev;
	int seen[16];
	int n;
	int stop_after;
};

struct tag {
	struct order *o;
	int id;
};

static void
order_cb(struct ev_timer *t, void *ctx)
{
	struct tag *tg = ctx;

	tg->o->seen[tg->o->n++] = tg->id;
	if (tg->o->n == tg->o->stop_after)
		ev_stop(tg->o->ev);
}

Test(ev_timer, fire_in_order)
{
	struct ev *ev = mk();
	struct order o = { .stop_after = 5 };
	static const uint64_t ms[5] = { 40, 10, 25, 10, 0 };
	static const int want[5] = { 4, 1, 3, 2, 0 };
	struct tag tags[5];
	struct ev_timer *t[5];
	uint64_t start;
	int i;

	o.ev = ev;
	start = ev_now_ms(ev);
	for (i = 0; i < 5; i++) {
		tags[i].o = &o;
		tags[i].id = i;
		t[i] = ev_timer_add(ev, ms[i], order_cb, &tags[i]);
	}
	cr_assert_eq(ev_run(ev), 0);
	cr_assert_eq(o.n, 5);
	for (i = 0; i < 5; i++)
		cr_expect_eq(o.seen[i], want[i], "position %d: got timer %d, "
			     "want %d", i, o.seen[i], want[i]);
	cr_assert_geq(ev_now_ms(ev) - start, 40,
		      "40 ms timer fired after %llu ms",
		      (unsigned long long)(ev_now_ms(ev) - start));
	for (i = 0; i < 5; i++)
		ev_timer_del(&t[i]);
	ev_free(&ev);
}

Test(ev_timer, reset_postpones)
{
	struct ev *ev = mk();
	struct order o = { .stop_after = 2 };
	struct tag ta = { &o, 1 }, tb = { &o, 2 };
	struct ev_timer *a, *b;

	o.ev = ev;
	a = ev_timer_add(ev, 10, order_cb, &ta);
	b = ev_timer_add(ev, 30, order_cb, &tb);
	ev_timer_reset(a, 60);
	cr_assert_eq(ev_run(ev), 0);
	cr_assert_eq(o.seen[0], 2, "first: got %d, want b (2)", o.seen[0]);
	cr_assert_eq(o.seen[1], 1, "second: got %d, want a (1)", o.seen[1]);
	ev_timer_del(&a);
	ev_timer_del(&b);
	ev_free(&ev);
}

struct rearm {
	struct ev *ev;
	int fired;
	uint64_t last;
};

static void
rearm_cb(struct ev_timer *t, void *ctx)
{
	struct rearm *ra = ctx;

	ra->fired++;
	ra->last = ev_now_ms(ra->ev);
	if (ra->fired < 3)
		ev_timer_reset(t, 5);
	else
		ev_stop(ra->ev);
}

Test(ev_timer, reset_after_firing)
{
	struct ev *ev = mk();
	struct rearm ra = { 0 };
	struct ev_timer *t, *g;

	ra.ev = ev;
	t = ev_timer_add(ev, 5, rearm_cb, &ra);
	g = ev_timer_add(ev, 5000, guard_cb, NULL);
	cr_assert_eq(ev_run(ev), 0);
	cr_assert_eq(ra.fired, 3, "fired: got %d, want 3", ra.fired);
	/* Fired and not re-armed: stays quiet, and may be reset again. */
	ev_timer_reset(t, 1);
	ra.fired = 2;
	cr_assert_eq(ev_run(ev), 0);
	cr_assert_eq(ra.fired, 3);
	ev_timer_del(&t);
	ev_timer_del(&g);
	ev_free(&ev);
}

struct tdel {
	struct ev *ev;
	struct ev_timer *other;
	int self_calls, other_calls;
};

static void
tdel_other_cb(struct ev_timer *t, void *ctx)
{
	struct tdel *d = ctx;

	d->other_calls++;
}

static void
tdel_self_cb(struct ev_timer *t, void *ctx)
{
	struct tdel *d = ctx;
	struct ev_timer *me = t;

	d->self_calls++;
	ev_timer_del(&d->other);
	ev_timer_del(&me);      /* deleting itself inside its callback */
}

Test(ev_timer, delete_inside_callbacks)
{
	struct ev *ev = mk();
	struct tdel d = { 0 };
	struct ev_timer *stop;

	d.ev = ev;
	/* Same due time; the deleter was armed first so runs first. */
	(void)ev_timer_add(ev, 10, tdel_self_cb, &d);
	d.other = ev_timer_add(ev, 10, tdel_other_cb, &d);
	stop = ev_timer_add(ev, 40, stop_cb, ev);
	cr_assert_eq(ev_run(ev), 0);
	cr_assert_eq(d.self_calls, 1);
	cr_assert_eq(d.other_calls, 0, "deleted timer fired");
	cr_assert_null(d.other);
	ev_timer_del(&stop);
	ev_free(&ev);
}

/* A timer that re-arms itself for 0 ms must not starve descriptors. */
struct starve {
	struct ev *ev;
	int ticks;
};

static void
zero_cb(struct ev_timer *t, void *ctx)
{
	struct starve *s = ctx;

	s->ticks++;
	ev_timer_reset(t, 0);
}

static void
starve_io_cb(struct ev_io *io, int fd, unsigned int events, void *ctx)
{
	ev_stop(ctx);
}

Test(ev_timer, zero_rearm_does_not_starve_io)
{
	struct ev *ev = mk();
	struct starve s = { 0 };
	struct ev_timer *t, *g;
	struct ev_io *io;
	int p[2];

	s.ev = ev;
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(write(p[1], "x", 1), 1);
	t = ev_timer_add(ev, 0, zero_cb, &s);
	io = ev_io_add(ev, p[0], EV_READ, starve_io_cb, ev);
	g = ev_timer_add(ev, 5000, guard_cb, NULL);
	cr_assert_eq(ev_run(ev), 0);
	cr_assert_geq(s.ticks, 1);
	ev_io_del(&io);
	ev_timer_del(&t);
	ev_timer_del(&g);
	ev_free(&ev);
	close(p[0]);
	close(p[1]);
}

/* ---- scale ---- */

struct big {
	struct ev *ev;
	struct ev_timer **t;
	uint64_t *due;
	uint64_t last_due;
	int fired;
	int want;
	bool out_of_order;
	bool deleted_fired;
	bool *deleted;
};

struct bigtag {
	struct big *b;
	int i;
};

static void
big_cb(struct ev_timer *t, void *ctx)
{
	struct bigtag *bt = ctx;
	struct big *b = bt->b;

	if (b->deleted[bt->i])
		b->deleted_fired = true;
	if (b->due[bt->i] < b->last_due)
		b->out_of_order = true;
	b->last_due = b->due[bt->i];
	if (++b->fired == b->want)
		ev_stop(b->ev);
}

Test(ev_scale, ten_thousand_timers)
{
	enum { N = 10000 };
	struct ev *ev = mk();
	struct big b = { 0 };
	struct bigtag *tags = calloc(N, sizeof(*tags));
	struct ev_timer *g;
	uint64_t base;
	int i, ndel = 0;

	b.ev = ev;
	b.t = calloc(N, sizeof(*b.t));
	b.due = calloc(N, sizeof(*b.due));
	b.deleted = calloc(N, sizeof(*b.deleted));
	cr_assert(tags && b.t && b.due && b.deleted);
	srand(42);
	base = ev_now_ms(ev);
	for (i = 0; i < N; i++) {
		uint64_t ms = (uint64_t)(rand() % 60);

		tags[i].b = &b;
		tags[i].i = i;
		b.due[i] = base + ms;
		b.t[i] = ev_timer_add(ev, ms, big_cb, &tags[i]);
	}
	/* Delete a third and move a third, in arbitrary heap positions. */
	for (i = 0; i < N; i += 3) {
		b.deleted[i] = true;
		ev_timer_del(&b.t[i]);
		ndel++;
	}
	for (i = 1; i < N; i += 3) {
		uint64_t ms = (uint64_t)(rand() % 60);

		b.due[i] = base + ms;
		ev_timer_reset(b.t[i], ms);
	}
	b.want = N - ndel;
	g = ev_timer_add(ev, 10000, guard_cb, NULL);
	cr_assert_eq(ev_run(ev), 0);
	cr_assert_eq(b.fired, b.want, "fired: got %d, want %d", b.fired,
		     b.want);
	cr_assert(!b.out_of_order, "timers fired out of due order");
	cr_assert(!b.deleted_fired, "a deleted timer fired");
	for (i = 0; i < N; i++)
		ev_timer_del(&b.t[i]);
	ev_timer_del(&g);
	ev_free(&ev);
	free(tags);
	free(b.t);
	free(b.due);
	free(b.deleted);
}

struct manyio {
	struct ev *ev;
	struct ev_io **io;
	int n, calls, want;
};

struct iotag {
	struct manyio *m;
	int i;
};

static void
manyio_cb(struct ev_io *io, int fd, unsigned int events, void *ctx)
{
	struct iotag *it = ctx;
	struct manyio *m = it->m;

	m->calls++;
	/* Each watcher is reported once: it removes itself, and on the
	 * way the next one too (even if already fetched in this batch). */
	ev_io_del(&m->io[it->i]);
	if (it->i + 1 < m->n && m->io[it->i + 1] != NULL) {
		ev_io_del(&m->io[it->i + 1]);
		m->want--;
	}
	if (m->calls == m->want)
		ev_stop(m->ev);
}

/* 10k watchers on dup()s of one always-readable eventfd-like pipe. */
Test(ev_scale, ten_thousand_io)
{
	enum { N = 10000 };
	struct ev *ev = mk();
	struct manyio m = { 0 };
	struct iotag *tags = calloc(N, sizeof(*tags));
	int *fds = calloc(N, sizeof(*fds));
	struct rlimit rl;
	struct ev_timer *g;
	int p[2], i;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < N + 100) {
		rl.rlim_cur = rl.rlim_max < N + 100 ? rl.rlim_max : N + 100;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < N + 100)
		cr_skip_test("RLIMIT_NOFILE %llu too low",
			     (unsigned long long)rl.rlim_cur);
	m.ev = ev;
	m.n = N;
	m.want = N;
	m.io = calloc(N, sizeof(*m.io));
	cr_assert(tags && fds && m.io);
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(write(p[1], "x", 1), 1);
	for (i = 0; i < N; i++) {
		fds[i] = dup(p[0]);
		cr_assert_geq(fds[i], 0);
		tags[i].m = &m;
		tags[i].i = i;
		m.io[i] = ev_io_add(ev, fds[i], EV_READ, manyio_cb, &tags[i]);
		cr_assert_not_null(m.io[i], "add %d: %s", i, strerror(errno));
	}
	g = ev_timer_add(ev, 10000, guard_cb, NULL);
	cr_assert_eq(ev_run(ev), 0);
	cr_assert_eq(m.calls, m.want, "calls: got %d, want %d", m.calls,
		     m.want);
	for (i = 0; i < N; i++) {
		cr_assert_null(m.io[i], "watcher %d never deleted", i);
		close(fds[i]);
	}
	ev_timer_del(&g);
	ev_free(&ev);
	close(p[0]);
	close(p[1]);
	free(tags);
	free(fds);
	free(m.io);
}

/* ---- signals ---- */

struct sigrec {
	struct ev *ev;
	int signo;
	int calls;
	const char *who;
};

static void
sig_cb(int signo, void *ctx)
{
	struct sigrec *s = ctx;

	s->signo = signo;
	s->calls++;
	ev_stop(s->ev);
}

static void
raise_cb(struct ev_timer *t, void *ctx)
{
	cr_assert_eq(raise(*(int *)ctx), 0);
}

static void
kill_cb(struct ev_timer *t, void *ctx)
{
	cr_assert_eq(kill(getpid(), *(int *)ctx), 0);
}

Test(ev_signal, raise_delivers_through_loop)
{
	struct ev *ev = mk();
	struct sigrec s = { 0 };
	struct ev_timer *t, *g;
	int sig = SIGUSR1;

	s.ev = ev;
	cr_assert_eq(ev_signal_add(ev, SIGUSR1, sig_cb, &s), 0);
	t = ev_timer_add(ev, 5, raise_cb, &sig);
	g = ev_timer_add(ev, 5000, guard_cb, NULL);
	cr_assert_eq(ev_run(ev), 0);
	cr_assert_eq(s.calls, 1, "calls: got %d, want 1", s.calls);
	cr_assert_eq(s.signo, SIGUSR1, "signo: got %d, want %d", s.signo,
		     SIGUSR1);
	ev_timer_del(&t);
	ev_timer_del(&g);
	ev_free(&ev);
}

Test(ev_signal, kill_and_replace_handler)
{
	struct ev *ev = mk();
	struct sigrec first = { 0 }, second = { 0 }, term = { 0 };
	struct ev_timer *t, *g;
	int sig = SIGUSR2, sigt = SIGTERM;

	first.ev = second.ev = term.ev = ev;
	cr_assert_eq(ev_signal_add(ev, SIGUSR2, sig_cb, &first), 0);
	cr_assert_eq(ev_signal_add(ev, SIGTERM, sig_cb, &term), 0);
	cr_assert_eq(ev_signal_add(ev, SIGUSR2, sig_cb, &second), 0);
	t = ev_timer_add(ev, 5, kill_cb, &sig);
	g = ev_timer_add(ev, 5000, guard_cb, NULL);
	cr_assert_eq(ev_run(ev), 0);
	cr_assert_eq(first.calls, 0, "replaced handler still called");
	cr_assert_eq(second.calls, 1);
	cr_assert_eq(second.signo, SIGUSR2);
	cr_assert_eq(term.calls, 0);
	/* SIGTERM too, still routed after the replacement. */
	ev_timer_del(&t);
	t = ev_timer_add(ev, 5, kill_cb, &sigt);
	cr_assert_eq(ev_run(ev), 0);
	cr_assert_eq(term.calls, 1);
	cr_assert_eq(term.signo, SIGTERM);
	ev_timer_del(&t);
	ev_timer_del(&g);
	ev_free(&ev);
}

Test(ev_signal, pending_before_run_is_delivered)
{
	struct ev *ev = mk();
	struct sigrec s = { 0 };
	struct ev_timer *g;

	s.ev = ev;
	cr_assert_eq(ev_signal_add(ev, SIGHUP, sig_cb, &s), 0);
	cr_assert_eq(raise(SIGHUP), 0);       /* blocked: stays pending */
	g = ev_timer_add(ev, 5000, guard_cb, NULL);
	cr_assert_eq(ev_run(ev), 0);
	cr_assert_eq(s.calls, 1);
	ev_timer_del(&g);
	ev_free(&ev);
}

Test(ev_signal, invalid_refused)
{
	struct ev *ev = mk();
	struct sigrec s = { 0 };

	cr_assert_eq(ev_signal_add(ev, SIGKILL, sig_cb, &s), -1);
	cr_assert_eq(ev_signal_add(ev, SIGSTOP, sig_cb, &s), -1);
	cr_assert_eq(ev_signal_add(ev, 0, sig_cb, &s), -1);
	cr_assert_eq(ev_signal_add(ev, 100000, sig_cb, &s), -1);
	ev_free(&ev);
}

Test(ev_signal, free_restores_mask)
{
	struct ev *ev = mk();
	struct sigrec s = { 0 };
	sigset_t cur;

	cr_assert_eq(sigprocmask(SIG_SETMASK, NULL, &cur), 0);
	cr_assert_eq(sigismember(&cur, SIGUSR1), 0);
	cr_assert_eq(ev_signal_add(ev, SIGUSR1, sig_cb, &s), 0);
	cr_assert_eq(sigprocmask(SIG_SETMASK, NULL, &cur), 0);
	cr_assert_eq(sigismember(&cur, SIGUSR1), 1, "SIGUSR1 not blocked");
	ev_free(&ev);
	cr_assert_eq(sigprocmask(SIG_SETMASK, NULL, &cur), 0);
	cr_assert_eq(sigismember(&cur, SIGUSR1), 0, "mask not restored");
}

/* ---- stop ---- */

struct stopper {
	struct ev *ev;
	int calls;
};

static void
stop_io_cb(struct ev_io *io, int fd, unsigned int events, void *ctx)
{
	struct stopper *s = ctx;

	s->calls++;
	ev_stop(s->ev);
}

Test(ev_stop, from_io_and_rerun)
{
	struct ev *ev = mk();
	struct stopper s = { 0 };
	struct ev_io *io;
	struct ev_timer *g;
	int p[2];

	s.ev = ev;
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(write(p[1], "x", 1), 1);
	io = ev_io_add(ev, p[0], EV_READ, stop_io_cb, &s);
	g = ev_timer_add(ev, 5000, guard_cb, NULL);
	cr_assert_eq(ev_run(ev), 0);
	cr_assert_eq(s.calls, 1);
	/* Still readable: a second run calls it again, then stops again. */
	cr_assert_eq(ev_run(ev), 0);
	cr_assert_eq(s.calls, 2);
	ev_io_del(&io);
	ev_timer_del(&g);
	ev_free(&ev);
	close(p[0]);
	close(p[1]);
}

Test(ev_stop, free_with_live_watchers)
{
	struct ev *ev = mk();
	struct io_rec r = { 0 };
	int p[2];

	/* ev_free releases what callers left behind (checked by ASan). */
	cr_assert_eq(pipe(p), 0);
	cr_assert_not_null(ev_io_add(ev, p[0], EV_READ, io_rec_cb, &r));
	cr_assert_not_null(ev_timer_add(ev, 100, stop_cb, ev));
	ev_free(&ev);
	ev_free(&ev);
	close(p[0]);
	close(p[1]);
}
