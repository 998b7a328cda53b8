/*
 * wpool: the main auth process's pool of worker processes.
 *
 * auth_workers long-lived workers are forked at start, each with its own
 * SOCK_SEQPACKET socketpair, and each handles one request at a time so a
 * slow PAM module stalls one worker, not every login. Requests that find
 * every worker busy wait in a bounded queue: in arrival order, except
 * that one from an address with nothing else waiting goes ahead of
 * those of addresses that have (a flood does not hold up other users). A worker that dies or
 * breaks protocol is killed, its request answered TEMPFAIL, and it is
 * replaced (with a back-off if replacements keep dying young). One that
 * has not answered within auth_worker_timeout is killed with every
 * process below it, its request answered TIMEOUT, and it is replaced at
 * once. On a config reload the pool is renewed: idle workers are told
 * to exit (their socket is closed), busy ones after their current
 * request, and fresh workers start with the new config.
 */
#ifndef MOAT_AUTH_WPOOL_H
#define MOAT_AUTH_WPOOL_H

#include "auth.h"
#include "core/config.h"
#include "core/ev.h"

/* Requests held in the queue at most; beyond that wpool_submit fails
 * and the caller answers TEMPFAIL. */
#define WPOOL_QUEUE_MAX 4096

/* One login to verify. Embedded in the caller's request; the pool keeps
 * a pointer until it calls the done callback. */
struct wpool_job {
	const char *user;
	const char *rip;
	/* Owned by the pool from wpool_submit on: wiped and freed once it
	 * has been handed to a worker (or by wpool_free). */
	char *password;
	struct wpool_job *next;   /* queue link, pool-private */
	bool front;               /* pool-private: see wpool_submit */
};

/* Called once per submitted job (never from inside wpool_submit or
 * wpool_free; it may call wpool_submit). u is the record on
 * AUTH_RES_OK, otherwise NULL. r is AUTH_RES_OK, AUTH_RES_FAIL,
 * AUTH_RES_TEMPFAIL or AUTH_RES_TIMEOUT. */
typedef void wpool_done_cb(struct wpool_job *job, enum auth_result r,
			   const struct auth_user *u, void *ctx);
/* Called in a freshly forked worker before it starts serving, so the
 * main process's secrets (cookies, queued passwords) can be wiped from
 * the child's copy of memory. */
typedef void wpool_child_cb(void *ctx);

/* Forks cfg->auth_workers workers. cfg must stay valid until the next
 * wpool_reload or wpool_free. */
struct wpool *wpool_new(struct ev *ev, const struct moat_config *cfg,
			wpool_done_cb *done, wpool_child_cb *child_init,
			void *ctx);
/* Sends the job to an idle worker or queues it. Returns 0, or -1 if the
 * queue is full (the caller still owns job->password then). */
int wpool_submit(struct wpool *p, struct wpool_job *job);
/* Replace every worker by one started with cfg. */
void wpool_reload(struct wpool *p, const struct moat_config *cfg);
/* Reap exited workers (call on SIGCHLD) and replace them. */
void wpool_reap(struct wpool *p);
/* Stops every worker (SIGTERM, then SIGKILL after a second), reaps
 * them, wipes queued passwords and frees the pool without calling the
 * done callback. NULL-safe. */
void wpool_free(struct wpool **p);
/* For the child: wipe queued passwords of the parent's copy. */
void wpool_wipe_secrets(struct wpool *p);
size_t wpool_queued(const struct wpool *p);

#endif
