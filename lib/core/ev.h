/*
 * ev: the event loop every Moat process runs: epoll for descriptors, a
 * binary heap of timers (monotonic clock, millisecond resolution) and
 * signals delivered through a signalfd, so handlers run in normal
 * context, never inside a signal handler.
 *
 * Callbacks may add and remove any watcher, including their own, and
 * may call ev_stop(). A removed watcher is never called again, even if
 * its event was already fetched in the same epoll batch.
 */
#ifndef MOAT_EV_H
#define MOAT_EV_H

#include <stdbool.h>
#include <stdint.h>

struct ev;
struct ev_io;
struct ev_timer;

#define EV_READ  0x1u
#define EV_WRITE 0x2u
/* Passed to io callbacks in addition to READ/WRITE on EPOLLERR/HUP. */
#define EV_ERROR 0x4u

typedef void ev_io_cb(struct ev_io *io, int fd, unsigned int events,
		      void *ctx);
typedef void ev_timer_cb(struct ev_timer *t, void *ctx);
typedef void ev_signal_cb(int signo, void *ctx);

struct ev *ev_new(void);
void ev_free(struct ev **ev);
/* Runs until ev_stop(). Returns 0, or -1 on an epoll failure. */
int ev_run(struct ev *ev);
void ev_stop(struct ev *ev);
/* Monotonic milliseconds, cached once per loop iteration. */
uint64_t ev_now_ms(struct ev *ev);

/* Watch fd for events (EV_READ|EV_WRITE). The fd is not owned. */
struct ev_io *ev_io_add(struct ev *ev, int fd, unsigned int events,
			ev_io_cb *cb, void *ctx);
/* Change the interest set. */
void ev_io_set(struct ev_io *io, unsigned int events);
/* Stop watching and free; sets *io to NULL. NULL-safe. */
void ev_io_del(struct ev_io **io);

/* One-shot timer after ms milliseconds. Free it with ev_timer_del (also
 * after it fired: firing does not free it). */
struct ev_timer *ev_timer_add(struct ev *ev, uint64_t ms, ev_timer_cb *cb,
			      void *ctx);
/* Re-arm (also after firing). */
void ev_timer_reset(struct ev_timer *t, uint64_t ms);
void ev_timer_del(struct ev_timer **t);

/* Handle signo through the loop (blocks it for normal delivery). One
 * handler per signal; adding again replaces it. */
int ev_signal_add(struct ev *ev, int signo, ev_signal_cb *cb, void *ctx);

#endif
