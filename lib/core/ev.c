/*
 * ev: the event loop of every Moat process. epoll (level-triggered) for
 * descriptors, a binary min-heap of one-shot timers on the monotonic
 * clock, and signals read from a signalfd so handlers run as ordinary
 * callbacks.
 *
 * Callers: moatd, auth, imap-login, imap. Inputs are the callers' own
 * watchers, not peer data, but the loop must stay correct whatever the
 * callbacks do to it: add or remove any watcher, re-arm timers, stop.
 *
 * Removal during dispatch: epoll hands back pointers to io watchers for
 * a whole batch at once, so a watcher removed by an earlier callback of
 * the same batch may still be named by a later event. ev_io_del therefore
 * only marks the watcher dead while a batch runs and queues it; the
 * dispatcher skips dead watchers and frees the queue after the batch.
 * Timers need no such care: they are taken off the heap one at a time
 * and nothing refers to a timer after its callback returns.
 * ev_free itself must not be called from inside a callback.
 *
 * Signals: ev_signal_add blocks the signal for the whole process. A
 * blocked mask survives fork and exec, so a forked child must reset its
 * mask before exec (ev_free restores the mask from before the first
 * ev_signal_add; a child that does not free the loop must do it itself).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "core/ev.h"
#include "core/str.h"

/* Events fetched per epoll_wait; more simply wait for the next round. */
#define EV_BATCH 256

struct ev_io {
	struct ev *ev;
	int fd;
	unsigned int events;    /* interest: EV_READ | EV_WRITE */
	bool registered;        /* present in the epoll set */
	bool dead;              /* deleted during a batch, freed after it */
	ev_io_cb *cb;
	void *ctx;
	struct ev_io *prev, *next;      /* ev->ios, or ev->dead_ios */
};

struct ev_timer {
	struct ev *ev;
	uint64_t due;           /* monotonic ms */
	uint64_t seq;           /* arming order: breaks ties, see run_timers */
	size_t heap_idx;        /* HEAP_NONE when not armed */
	ev_timer_cb *cb;
	void *ctx;
	struct ev_timer *prev, *next;   /* ev->timers (armed or not) */
};

#define HEAP_NONE SIZE_MAX

struct sig_handler {
	ev_signal_cb *cb;
	void *ctx;
};

struct ev {
	int epfd;
	bool stop;
	bool dispatching;       /* inside an io batch */
	uint64_t now;

	struct ev_io *ios;
	struct ev_io *dead_ios;

	struct ev_timer **heap;
	size_t heap_len, heap_cap;
	uint64_t seq;
	struct ev_timer *timers;

	int sigfd;
	struct ev_io *sigio;
	sigset_t sigmask;       /* signals routed to the signalfd */
	sigset_t oldmask;       /* mask before our first ev_signal_add */
	bool blocked;           /* oldmask is valid */
	struct sig_handler sig[_NSIG];
};

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC cannot fail on Linux with a valid pointer. */
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct ev *
ev_new(void)
{
	struct ev *ev;
	int epfd;

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		return NULL;
	ev = xcalloc(1, sizeof(*ev));
	ev->epfd = epfd;
	ev->sigfd = -1;
	ev->now = mono_ms();
	sigemptyset(&ev->sigmask);
	return ev;
}

static void
io_free_list(struct ev_io *io)
{
	struct ev_io *next;

	for (; io != NULL; io = next) {
		next = io->next;
		free(io);
	}
}

void
ev_free(struct ev **evp)
{
	struct ev *ev;
	struct ev_timer *t, *tn;

	if (evp == NULL || *evp == NULL)
		return;
	ev = *evp;
	/* Watchers the callers did not delete are freed with the loop;
	 * pointers they still hold become invalid. */
	io_free_list(ev->ios);
	io_free_list(ev->dead_ios);
	for (t = ev->timers; t != NULL; t = tn) {
		tn = t->next;
		free(t);
	}
	free(ev->heap);
	if (ev->sigfd >= 0)
		close(ev->sigfd);
	/* Give the process back its signal mask, so that a program that
	 * frees its loop and execs (or forks a child) does not pass on
	 * signals blocked for a signalfd that no longer exists. */
	if (ev->blocked)
		(void)sigprocmask(SIG_SETMASK, &ev->oldmask, NULL);
	close(ev->epfd);
	free(ev);
	*evp = NULL;
}

uint64_t
ev_now_ms(struct ev *ev)
{
	return ev->now;
}

void
ev_stop(struct ev *ev)
{
	ev->stop = true;
}

/* ---- io ---- */

static uint32_t
epoll_bits(unsigned int events)
{
	uint32_t e = 0;

	if (events & EV_READ)
		e |= EPOLLIN;
	if (events & EV_WRITE)
		e |= EPOLLOUT;
	return e;
}

/*
 * Bring the epoll set in line with io->events. An empty interest set
 * removes the fd altogether: epoll would still report EPOLLHUP/EPOLLERR
 * for it, and a caller that paused a connection would be woken in a
 * busy loop by a peer that hung up.
 */
static int
io_apply(struct ev_io *io)
{
	struct epoll_event ee;
	int op;

	if (io->events == 0) {
		if (io->registered) {
			/* Fails only if the fd was already closed, which
			 * removed it from the set anyway. */
			(void)epoll_ctl(io->ev->epfd, EPOLL_CTL_DEL, io->fd,
					NULL);
			io->registered = false;
		}
		return 0;
	}
	memset(&ee, 0, sizeof(ee));
	ee.events = epoll_bits(io->events);
	ee.data.ptr = io;
	op = io->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(io->ev->epfd, op, io->fd, &ee) < 0)
		return -1;
	io->registered = true;
	return 0;
}

static void
io_link(struct ev_io **head, struct ev_io *io)
{
	io->prev = NULL;
	io->next = *head;
	if (*head != NULL)
		(*head)->prev = io;
	*head = io;
}

static void
io_unlink(struct ev_io **head, struct ev_io *io)
{
	if (io->prev != NULL)
		io->prev->next = io->next;
	else
		*head = io->next;
	if (io->next != NULL)
		io->next->prev = io->prev;
	io->prev = io->next = NULL;
}

struct ev_io *
ev_io_add(struct ev *ev, int fd, unsigned int events, ev_io_cb *cb,
	  void *ctx)
{
	struct ev_io *io;
	int saved;

	if (fd < 0 || cb == NULL) {
		errno = EINVAL;
		return NULL;
	}
	io = xcalloc(1, sizeof(*io));
	io->ev = ev;
	io->fd = fd;
	io->events = events & (EV_READ | EV_WRITE);
	io->cb = cb;
	io->ctx = ctx;
	if (io_apply(io) < 0) {
		saved = errno;
		free(io);
		errno = saved;
		return NULL;
	}
	io_link(&ev->ios, io);
	return io;
}

void
ev_io_set(struct ev_io *io, unsigned int events)
{
	unsigned int old;

	if (io == NULL || io->dead)
		return;
	old = io->events;
	io->events = events & (EV_READ | EV_WRITE);
	if (io->events == old && (old == 0 || io->registered))
		return;
	/* Cannot fail for an fd that was accepted by ev_io_add and is
	 * still open; if it does, the fd was closed under us and there is
	 * nothing left to watch. */
	if (io_apply(io) < 0)
		io->registered = false;
}

void
ev_io_del(struct ev_io **iop)
{
	struct ev_io *io;
	struct ev *ev;

	if (iop == NULL || *iop == NULL)
		return;
	io = *iop;
	*iop = NULL;
	if (io->dead)
		return;
	ev = io->ev;
	io->events = 0;
	(void)io_apply(io);
	io_unlink(&ev->ios, io);
	if (ev->dispatching) {
		/* A later event of this batch may still point here. */
		io->dead = true;
		io_link(&ev->dead_ios, io);
		return;
	}
	free(io);
}

static unsigned int
io_events_from_epoll(const struct ev_io *io, uint32_t e)
{
	unsigned int out = 0;

	if (e & EPOLLIN)
		out |= EV_READ;
	if (e & EPOLLOUT)
		out |= EV_WRITE;
	if (e & (EPOLLERR | EPOLLHUP)) {
		/* Hand the caller the direction it waits for, so the read
		 * sees the EOF (or the write the EPIPE) and reports why. */
		out |= EV_ERROR | io->events;
	}
	/* Only what the caller asked for (plus the error bit). */
	return out & (io->events | EV_ERROR);
}

static void
dispatch_io(struct ev *ev, const struct epoll_event *evs, int n)
{
	struct ev_io *io;
	unsigned int what;
	int i;

	ev->dispatching = true;
	for (i = 0; i < n && !ev->stop; i++) {
		io = evs[i].data.ptr;
		if (io->dead || io->events == 0)
			continue;
		what = io_events_from_epoll(io, evs[i].events);
		if (what == 0)
			continue;
		io->cb(io, io->fd, what, io->ctx);
	}
	ev->dispatching = false;
	io_free_list(ev->dead_ios);
	ev->dead_ios = NULL;
}

/* ---- timers ---- */

static bool
timer_before(const struct ev_timer *a, const struct ev_timer *b)
{
	if (a->due != b->due)
		return a->due < b->due;
	return a->seq < b->seq;
}

static void
heap_set(struct ev *ev, size_t i, struct ev_timer *t)
{
	ev->heap[i] = t;
	t->heap_idx = i;
}

static void
heap_up(struct ev *ev, size_t i)
{
	struct ev_timer *t = ev->heap[i];
	size_t parent;

	while (i > 0) {
		parent = (i - 1) / 2;
		if (!timer_before(t, ev->heap[parent]))
			break;
		heap_set(ev, i, ev->heap[parent]);
		i = parent;
	}
	heap_set(ev, i, t);
}

static void
heap_down(struct ev *ev, size_t i)
{
	struct ev_timer *t = ev->heap[i];
	size_t child;

	for (;;) {
		child = 2 * i + 1;
		if (child >= ev->heap_len)
			break;
		if (child + 1 < ev->heap_len &&
		    timer_before(ev->heap[child + 1], ev->heap[child]))
			child++;
		if (!timer_before(ev->heap[child], t))
			break;
		heap_set(ev, i, ev->heap[child]);
		i = child;
	}
	heap_set(ev, i, t);
}

static void
heap_push(struct ev *ev, struct ev_timer *t)
{
	if (ev->heap_len == ev->heap_cap) {
		ev->heap_cap = ev->heap_cap == 0 ? 64 : ev->heap_cap * 2;
		ev->heap = xreallocarray(ev->heap, ev->heap_cap,
					 sizeof(*ev->heap));
	}
	heap_set(ev, ev->heap_len++, t);
	heap_up(ev, t->heap_idx);
}

static void
heap_remove(struct ev *ev, struct ev_timer *t)
{
	size_t i = t->heap_idx;
	struct ev_timer *last;

	if (i == HEAP_NONE)
		return;
	t->heap_idx = HEAP_NONE;
	last = ev->heap[--ev->heap_len];
	if (last == t)
		return;
	heap_set(ev, i, last);
	/* The moved element may belong above or below its new place. */
	if (i > 0 && timer_before(last, ev->heap[(i - 1) / 2]))
		heap_up(ev, i);
	else
		heap_down(ev, i);
}

static void
timer_arm(struct ev_timer *t, uint64_t ms)
{
	struct ev *ev = t->ev;

	heap_remove(ev, t);
	t->due = ms > UINT64_MAX - ev->now ? UINT64_MAX : ev->now + ms;
	t->seq = ev->seq++;
	heap_push(ev, t);
}

struct ev_timer *
ev_timer_add(struct ev *ev, uint64_t ms, ev_timer_cb *cb, void *ctx)
{
	struct ev_timer *t;

	t = xcalloc(1, sizeof(*t));
	t->ev = ev;
	t->cb = cb;
	t->ctx = ctx;
	t->heap_idx = HEAP_NONE;
	t->next = ev->timers;
	if (ev->timers != NULL)
		ev->timers->prev = t;
	ev->timers = t;
	timer_arm(t, ms);
	return t;
}

void
ev_timer_reset(struct ev_timer *t, uint64_t ms)
{
	if (t != NULL)
		timer_arm(t, ms);
}

void
ev_timer_del(struct ev_timer **tp)
{
	struct ev_timer *t;
	struct ev *ev;

	if (tp == NULL || *tp == NULL)
		return;
	t = *tp;
	*tp = NULL;
	ev = t->ev;
	heap_remove(ev, t);
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		ev->timers = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	free(t);
}

/*
 * Fire every timer that is due. Only timers armed before this round
 * (seq below the mark) fire: a callback that re-arms a timer for 0 ms,
 * or adds one, must not keep this loop from ever returning to epoll.
 */
static void
run_timers(struct ev *ev)
{
	uint64_t mark = ev->seq;
	struct ev_timer *t;

	while (ev->heap_len > 0 && !ev->stop) {
		t = ev->heap[0];
		if (t->due > ev->now || t->seq >= mark)
			break;
		heap_remove(ev, t);
		/* t may be freed by its callback: not touched afterwards. */
		t->cb(t, t->ctx);
	}
}

/* Milliseconds epoll may sleep: until the next timer, or forever. */
static int
wait_timeout(const struct ev *ev)
{
	uint64_t due;

	if (ev->heap_len == 0)
		return -1;
	due = ev->heap[0]->due;
	if (due <= ev->now)
		return 0;
	if (due - ev->now > INT_MAX)
		return INT_MAX;
	return (int)(due - ev->now);
}

/* ---- signals ---- */

static void
sig_read(struct ev_io *io, int fd, unsigned int events, void *ctx)
{
	struct ev *ev = ctx;
	struct signalfd_siginfo si;
	struct sig_handler *h;
	ssize_t n;

	for (;;) {
		n = read(fd, &si, sizeof(si));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si))
			return;         /* EAGAIN: drained */
		if (si.ssi_signo == 0 || si.ssi_signo >= _NSIG)
			continue;
		h = &ev->sig[si.ssi_signo];
		if (h->cb != NULL)
			h->cb((int)si.ssi_signo, h->ctx);
		if (ev->stop)
			return;         /* the rest stays queued in the fd */
	}
}

int
ev_signal_add(struct ev *ev, int signo, ev_signal_cb *cb, void *ctx)
{
	sigset_t one, newmask, old;
	int fd;

	if (signo <= 0 || signo >= _NSIG || signo == SIGKILL ||
	    signo == SIGSTOP || cb == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (sigismember(&ev->sigmask, signo) == 1) {
		ev->sig[signo].cb = cb;
		ev->sig[signo].ctx = ctx;
		return 0;
	}
	newmask = ev->sigmask;
	if (sigaddset(&newmask, signo) < 0)
		return -1;
	/* Block first: a signal arriving between the two calls then waits
	 * as pending and is read from the signalfd, instead of taking its
	 * default action (usually death). */
	sigemptyset(&one);
	sigaddset(&one, signo);
	if (sigprocmask(SIG_BLOCK, &one, &old) < 0)
		return -1;
	fd = signalfd(ev->sigfd, &newmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		goto fail;
	if (ev->sigfd < 0) {
		ev->sigio = ev_io_add(ev, fd, EV_READ, sig_read, ev);
		if (ev->sigio == NULL) {
			close(fd);
			goto fail;
		}
		ev->sigfd = fd;
	}
	if (!ev->blocked) {
		ev->oldmask = old;
		ev->blocked = true;
	}
	ev->sigmask = newmask;
	ev->sig[signo].cb = cb;
	ev->sig[signo].ctx = ctx;
	return 0;
fail:
	{
		int saved = errno;

		(void)sigprocmask(SIG_SETMASK, &old, NULL);
		errno = saved;
	}
	return -1;
}

/* ---- the loop ---- */

int
ev_run(struct ev *ev)
{
	struct epoll_event evs[EV_BATCH];
	int n, rc = 0;

	ev->now = mono_ms();
	while (!ev->stop) {
		run_timers(ev);
		if (ev->stop)
			break;
		n = epoll_wait(ev->epfd, evs, EV_BATCH, wait_timeout(ev));
		ev->now = mono_ms();
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -1;
			break;
		}
		dispatch_io(ev, evs, n);
	}
	/* A later ev_run starts afresh; an ev_stop() made before ev_run
	 * makes it return at once. */
	ev->stop = false;
	return rc;
}
