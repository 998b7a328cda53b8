/*
 * wpool: auth's worker processes, seen from the main process (see
 * wpool.h). Callers: auth/main.c. Worker replies are checked like any
 * IPC message: a worker runs third-party PAM modules, so a reply that is
 * malformed, unexpected, or answers the wrong request means the worker
 * is broken; it is killed and its request answered TEMPFAIL.
 *
 * Job timeout: a request a worker has not answered within
 * auth_worker_timeout (a PAM module waiting on a dead LDAP server, an
 * NFS home) gets the worker killed -- with every process below it, so
 * PAM helpers it started die too -- and is answered AUTH_RES_TIMEOUT. A
 * replacement starts at once, without the back-off that protects
 * against workers dying at start-up: a hang is not a start-up problem,
 * and an attacker who can make requests hang must not be able to push
 * the pool into a 30 s back-off. Killed workers not yet reaped (stuck in
 * the kernel) are limited to auth_workers, so a storm of hangs cannot
 * multiply processes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/arr.h"
#include "core/ipc.h"
#include "core/log.h"
#include "core/net.h"
#include "core/num.h"
#include "core/privs.h"
#include "core/str.h"
#include "worker.h"
#include "wpool.h"

/* The IPC descriptor of every Moat child; a worker gets its socket
 * there too, so nothing of the parent's (moatd's socket included)
 * survives in it. */
#define WORKER_FD 3

/* Helpers below a worker followed when killing it. */
#define KILL_TREE_DEPTH 16

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 30000
/* A worker that lived at least this long did not die of a start-up
 * problem: replace it at once. */
#define STABLE_MS 10000

struct worker {
	struct wpool *pool;
	pid_t pid;
	int fd;                  /* -1 once closed */
	struct ev_io *io;
	struct wpool_job *job;   /* the request it is working on */
	uint32_t seq;            /* id of that request */
	bool retired;            /* takes no new work; exits when closed */
	bool broken;             /* killed by us for misbehaving */
	bool timed_out;          /* killed by us for not answering */
	uint64_t started_ms;
	struct ev_timer *timer;  /* the job's deadline */
};

struct wpool {
	struct ev *ev;
	const struct moat_config *cfg;
	wpool_done_cb *done;
	wpool_child_cb *child_init;
	void *ctx;
	ARRAY(struct worker *) ws;
	struct wpool_job *qhead, *qtail;
	/* The last of the queue's leading jobs whose address had nothing
	 * else queued when they came (NULL: none); see wpool_submit. */
	struct wpool_job *qfront;
	size_t qlen;
	uint32_t next_seq;
	uint64_t backoff_ms;
	struct ev_timer *fill_timer;
};

static uint8_t rbuf[IPC_MSG_MAX];

/* Signals the worker's process group (its PAM helpers included), or
 * the worker alone if the group is not there. Only called before the
 * worker has been reaped, so the pid is still ours. */
static void
kill_worker(const struct worker *w, int sig)
{
	if (kill(-w->pid, sig) < 0)
		(void)kill(w->pid, sig);
}

/* SIGKILLs pid and every process below it. A group kill is not enough:
 * helpers may start their own session (pam_exec does). Each process is
 * stopped before its children are listed, so none can fork behind our
 * back, and a stopped parent cannot reap its children, so their pids
 * stay theirs while we look. Linux: /proc/PID/task/TID/children. */
static void
kill_tree(pid_t pid, unsigned int depth)
{
	char path[64], buf[4096];
	unsigned int child;
	char *p, *end;
	ssize_t n;
	DIR *d;
	struct dirent *de;
	int fd;

	(void)kill(pid, SIGSTOP);
	snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
	if (depth < KILL_TREE_DEPTH && (d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%ld/task/%.20s/"
				 "children", (long)pid, de->d_name);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (n <= 0)
				continue;
			buf[n] = '\0';
			/* A list cut short by the buffer loses its last,
			 * partial pid: drop it rather than guess. */
			if (n == (ssize_t)sizeof(buf) - 1 &&
			    (end = strrchr(buf, ' ')) != NULL)
				*end = '\0';
			for (p = strtok_r(buf, " \n", &end); p != NULL;
			     p = strtok_r(NULL, " \n", &end)) {
				if (num_parse_uint(p, INT32_MAX, &child) == 0 &&
				    child > 1)
					kill_tree((pid_t)child, depth + 1);
			}
		}
		closedir(d);
	}
	(void)kill(pid, SIGKILL);
}

static void dispatch(struct wpool *p);
static void fill(struct wpool *p);

/* ---- the child side of fork ---- */

static void __attribute__((noreturn))
child_run(struct wpool *p, int fd, pid_t parent)
{
	sigset_t none;

	/* Die with the main process: an orphaned worker would keep
	 * running PAM for nobody. Its own process group (the parent sets
	 * it too, against the race) lets a timeout kill PAM's helpers
	 * with it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(1);
	(void)setpgid(0, 0);
	/* The parent blocked these for its signalfd. */
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	(void)signal(SIGTERM, SIG_DFL);
	(void)signal(SIGINT, SIG_DFL);
	(void)signal(SIGCHLD, SIG_DFL);   /* PAM helpers are waited for */
	(void)signal(SIGHUP, SIG_IGN);    /* reloads go through the pool */
	(void)signal(SIGPIPE, SIG_IGN);
	if (fd != WORKER_FD) {
		if (dup2(fd, WORKER_FD) < 0)
			_exit(1);
	}
	privs_close_from(WORKER_FD + 1);
	if (p->child_init != NULL)
		p->child_init(p->ctx);
	wpool_wipe_secrets(p);
	explicit_bzero(rbuf, sizeof(rbuf));
	worker_main(p->cfg, WORKER_FD);
}

/* ---- worker bookkeeping ---- */

static void
worker_close(struct worker *w)
{
	ev_timer_del(&w->timer);
	ev_io_del(&w->io);
	if (w->fd >= 0) {
		close(w->fd);
		w->fd = -1;
	}
}

/* Ends a worker that misbehaved, whose socket failed, or that died
 * (why == NULL: already reaped, so its pid must not be signalled: it may
 * belong to someone else by now). Its request, if any, is answered
 * TEMPFAIL; reaping it starts a replacement. */
static void
worker_broken(struct worker *w, const char *why)
{
	struct wpool *p = w->pool;
	struct wpool_job *job = w->job;

	w->job = NULL;
	w->retired = true;
	w->broken = true;
	worker_close(w);
	if (why != NULL) {
		log_error("auth worker %ld: %s; killing it", (long)w->pid,
			  why);
		kill_tree(w->pid, 0);
		kill_worker(w, SIGKILL);
	}
	if (job != NULL)
		p->done(job, w->timed_out ? AUTH_RES_TIMEOUT :
			AUTH_RES_TEMPFAIL, NULL, p->ctx);
}

static void
job_timeout_cb(struct ev_timer *t, void *ctx)
{
	struct worker *w = ctx;
	struct wpool *p = w->pool;
	char why[128];

	(void)t;
	ev_timer_del(&w->timer);
	w->timed_out = true;
	snprintf(why, sizeof(why), "no answer within auth_worker_timeout "
		 "(%llu ms; a PAM module or lookup hangs?)",
		 (unsigned long long)p->cfg->auth_worker_timeout_ms);
	worker_broken(w, why);
	fill(p);
}

static bool
result_valid(uint32_t status, const struct auth_user *u)
{
	if (status == IPC_ST_FAIL || status == IPC_ST_TEMPFAIL)
		return true;
	if (status != IPC_ST_OK)
		return false;
	/* A worker always sends at least the primary gid; what the ids
	 * may be is moatd's check. */
	return auth_user_name_valid(u->user) && u->n_groups >= 1 &&
	    !str_has_ctl(u->home) && !str_has_ctl(u->mail);
}

static void
worker_result(struct worker *w, const struct ipc_msg *msg)
{
	struct wpool *p = w->pool;
	struct wpool_job *job;
	struct auth_user u;
	struct ipc_rd rd;
	uint32_t status = 0;
	enum auth_result r;

	if (msg->type != IPC_WORKER_RESULT || msg->fd >= 0 ||
	    w->job == NULL || msg->id != w->seq) {
		worker_broken(w, "unexpected message");
		return;
	}
	memset(&u, 0, sizeof(u));
	ipc_rd_init(&rd, msg);
	if (ipc_get_u32(&rd, &status) < 0 ||
	    ipc_get_str(&rd, u.user, sizeof(u.user)) < 0 ||
	    ipc_get_u32(&rd, &u.uid) < 0 ||
	    ipc_get_u32(&rd, &u.gid) < 0 ||
	    ipc_get_str(&rd, u.home, sizeof(u.home)) < 0 ||
	    ipc_get_str(&rd, u.mail, sizeof(u.mail)) < 0 ||
	    auth_get_groups(&rd, u.groups, &u.n_groups) < 0 ||
	    ipc_rd_end(&rd) < 0 || !result_valid(status, &u)) {
		worker_broken(w, "malformed result");
		return;
	}
	job = w->job;
	w->job = NULL;
	ev_timer_del(&w->timer);
	r = status == IPC_ST_OK ? AUTH_RES_OK :
	    status == IPC_ST_FAIL ? AUTH_RES_FAIL : AUTH_RES_TEMPFAIL;
	if (w->retired)
		worker_close(w);     /* EOF tells it to exit */
	p->done(job, r, r == AUTH_RES_OK ? &u : NULL, p->ctx);
	dispatch(p);
}

static void
worker_io(struct ev_io *io, int fd, unsigned int events, void *ctx)
{
	struct worker *w = ctx;
	struct ipc_msg msg;

	(void)io;
	(void)events;
	switch (ipc_recv(fd, rbuf, sizeof(rbuf), &msg)) {
	case IPC_RECV_AGAIN:
		return;
	case IPC_RECV_OK:
		worker_result(w, &msg);
		if (msg.fd >= 0)
			close(msg.fd);
		return;
	case IPC_RECV_EOF:
		worker_broken(w, "closed its socket");
		return;
	case IPC_RECV_MALFORMED:
		worker_broken(w, "malformed message");
		return;
	case IPC_RECV_ERROR:
	default:
		worker_broken(w, "receive error");
		return;
	}
}

static int
spawn(struct wpool *p)
{
	struct worker *w;
	int sv[2];
	pid_t pid, parent = getpid();

	if (net_seqpacket_pair(sv, false) < 0) {
		log_error("auth worker: socketpair: %m");
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		log_error("auth worker: fork: %m");
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		child_run(p, sv[1], parent);
	}
	/* Also in the child; whichever runs first wins, both agree. */
	(void)setpgid(pid, pid);
	close(sv[1]);
	w = xcalloc(1, sizeof(*w));
	w->pool = p;
	w->pid = pid;
	w->fd = sv[0];
	w->started_ms = ev_now_ms(p->ev);
	arr_push(&p->ws, w);
	if (net_set_nonblock(w->fd, true) < 0 ||
	    (w->io = ev_io_add(p->ev, w->fd, EV_READ, worker_io, w)) == NULL) {
		/* Keep it listed so reaping finds it. */
		worker_broken(w, "cannot watch its socket");
		return -1;
	}
	log_debug("auth worker %ld started", (long)pid);
	return 0;
}

static void
fill_timer_cb(struct ev_timer *t, void *ctx)
{
	struct wpool *p = ctx;

	(void)t;
	ev_timer_del(&p->fill_timer);
	fill(p);
}

static void
schedule_fill(struct wpool *p)
{
	if (p->backoff_ms == 0) {
		fill(p);
		return;
	}
	if (p->fill_timer == NULL)
		p->fill_timer = ev_timer_add(p->ev, p->backoff_ms,
					     fill_timer_cb, p);
}

static void
backoff_grow(struct wpool *p)
{
	if (p->backoff_ms == 0)
		p->backoff_ms = BACKOFF_MIN_MS;
	else if (p->backoff_ms < BACKOFF_MAX_MS / 2)
		p->backoff_ms *= 2;
	else
		p->backoff_ms = BACKOFF_MAX_MS;
}

static void
fill(struct wpool *p)
{
	size_t active = 0, dying = 0;

	if (p->fill_timer != NULL)
		return;     /* a back-off is running */
	for (size_t i = 0; i < p->ws.n; i++) {
		if (!p->ws.v[i]->retired)
			active++;
		else if (p->ws.v[i]->timed_out)
			dying++;
	}
	if (active < p->cfg->auth_workers && dying >= p->cfg->auth_workers) {
		/* Reaping one calls fill again. */
		log_warn("%zu killed auth workers have not exited yet; not "
			 "starting more", dying);
		return;
	}
	while (active < p->cfg->auth_workers) {
		if (spawn(p) < 0) {
			backoff_grow(p);
			schedule_fill(p);
			return;
		}
		active++;
	}
	dispatch(p);
}

/* ---- requests ---- */

static int
send_job(struct worker *w, struct wpool_job *job)
{
	struct ipc_out o;
	uint32_t seq = ++w->pool->next_seq;
	int rc;

	ipc_out_init(&o, IPC_WORKER_REQ, seq);
	ipc_put_str(&o, job->user);
	ipc_put_str(&o, job->password);
	ipc_put_str(&o, job->rip);
	/* An idle worker's socket is empty, so a non-blocking send of one
	 * small message cannot meet a full buffer; any failure means the
	 * worker is gone. */
	rc = ipc_send(w->fd, &o, -1);
	ipc_out_free(&o);
	if (rc < 0)
		return -1;
	w->job = job;
	w->seq = seq;
	str_free_wipe(&job->password);
	w->timer = ev_timer_add(w->pool->ev,
				w->pool->cfg->auth_worker_timeout_ms,
				job_timeout_cb, w);
	return 0;
}

static struct worker *
idle_worker(struct wpool *p)
{
	for (size_t i = 0; i < p->ws.n; i++) {
		struct worker *w = p->ws.v[i];

		if (!w->retired && w->fd >= 0 && w->job == NULL)
			return w;
	}
	return NULL;
}

static void
dispatch(struct wpool *p)
{
	struct wpool_job *job;
	struct worker *w;

	while (p->qhead != NULL && (w = idle_worker(p)) != NULL) {
		job = p->qhead;
		p->qhead = job->next;
		if (p->qhead == NULL)
			p->qtail = NULL;
		if (p->qfront == job)
			p->qfront = NULL;
		p->qlen--;
		job->next = NULL;
		if (send_job(w, job) < 0) {
			/* Back to the front; another worker takes it. */
			job->next = p->qhead;
			p->qhead = job;
			if (p->qtail == NULL)
				p->qtail = job;
			if (p->qfront == NULL && job->front)
				p->qfront = job;
			p->qlen++;
			worker_broken(w, "send failed");
		}
	}
}

/* Whether a job of this address is waiting already (at most
 * WPOOL_QUEUE_MAX compares). */
static bool
address_queued(const struct wpool *p, const char *rip)
{
	for (const struct wpool_job *j = p->qhead; j != NULL; j = j->next)
		if (strcmp(j->rip != NULL ? j->rip : "",
			   rip != NULL ? rip : "") == 0)
			return true;
	return false;
}

/* A job whose address has nothing else waiting goes ahead of the jobs
 * of addresses that do (in arrival order among its like): a flood from
 * a few addresses fills the queue, and a user from another address
 * would otherwise wait for all of it (test_auth_flood: 2 s behind 550
 * wrong passwords from 11 addresses under load, 0.02 s alone). */
int
wpool_submit(struct wpool *p, struct wpool_job *job)
{
	if (p->qlen >= WPOOL_QUEUE_MAX)
		return -1;
	job->front = !address_queued(p, job->rip);
	if (job->front) {
		if (p->qfront != NULL) {
			job->next = p->qfront->next;
			p->qfront->next = job;
		} else {
			job->next = p->qhead;
			p->qhead = job;
		}
		p->qfront = job;
		if (job->next == NULL)
			p->qtail = job;
	} else {
		job->next = NULL;
		if (p->qtail != NULL)
			p->qtail->next = job;
		else
			p->qhead = job;
		p->qtail = job;
	}
	p->qlen++;
	dispatch(p);
	return 0;
}

size_t
wpool_queued(const struct wpool *p)
{
	return p->qlen;
}

/* ---- life cycle ---- */

struct wpool *
wpool_new(struct ev *ev, const struct moat_config *cfg, wpool_done_cb *done,
	  wpool_child_cb *child_init, void *ctx)
{
	struct wpool *p = xcalloc(1, sizeof(*p));

	p->ev = ev;
	p->cfg = cfg;
	p->done = done;
	p->child_init = child_init;
	p->ctx = ctx;
	fill(p);
	return p;
}

void
wpool_reload(struct wpool *p, const struct moat_config *cfg)
{
	p->cfg = cfg;
	for (size_t i = 0; i < p->ws.n; i++) {
		struct worker *w = p->ws.v[i];

		if (w->retired)
			continue;
		w->retired = true;
		if (w->job == NULL)
			worker_close(w);
	}
	/* A reload is the admin's cue to try again now. */
	p->backoff_ms = 0;
	ev_timer_del(&p->fill_timer);
	fill(p);
}

static void
log_exit(const struct worker *w, int status)
{
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		if (!w->retired)
			log_warn("auth worker %ld exited", (long)w->pid);
		else
			log_debug("auth worker %ld exited", (long)w->pid);
	} else if (WIFEXITED(status)) {
		log_error("auth worker %ld exited with status %d",
			  (long)w->pid, WEXITSTATUS(status));
	} else if (WIFSIGNALED(status) && !(w->broken &&
					    WTERMSIG(status) == SIGKILL)) {
		log_error("auth worker %ld killed by signal %d",
			  (long)w->pid, WTERMSIG(status));
	}
}

void
wpool_reap(struct wpool *p)
{
	struct worker *w;
	bool died_young = false, replace = false;
	pid_t pid;
	int status;
	size_t i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < p->ws.n && p->ws.v[i]->pid != pid; i++)
			;
		if (i == p->ws.n)
			continue;
		w = p->ws.v[i];
		log_exit(w, status);
		if (w->fd >= 0) {
			/* Died before we saw its socket close. */
			worker_broken(w, NULL);
		}
		if (w->broken) {
			replace = true;
			/* A hang is not a start-up failure (see top). */
			if (!w->timed_out &&
			    ev_now_ms(p->ev) - w->started_ms < STABLE_MS)
				died_young = true;
		}
		arr_del_fast(&p->ws, i);
		free(w);
	}
	if (!replace)
		return;
	if (died_young)
		backoff_grow(p);
	else
		p->backoff_ms = 0;
	schedule_fill(p);
}

void
wpool_wipe_secrets(struct wpool *p)
{
	for (struct wpool_job *j = p->qhead; j != NULL; j = j->next)
		str_free_wipe(&j->password);
}

void
wpool_free(struct wpool **pp)
{
	struct wpool *p;
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	size_t left;
	int status;

	if (pp == NULL || *pp == NULL)
		return;
	p = *pp;
	ev_timer_del(&p->fill_timer);
	for (size_t i = 0; i < p->ws.n; i++) {
		worker_close(p->ws.v[i]);
		kill_worker(p->ws.v[i], SIGTERM);
	}
	/* Give them a second, then make sure. */
	for (int round = 0; round <= 100; round++) {
		left = 0;
		for (size_t i = 0; i < p->ws.n; i++) {
			struct worker *w = p->ws.v[i];

			if (w->pid > 0 && waitpid(w->pid, &status, WNOHANG) != 0)
				w->pid = 0;
			if (w->pid > 0)
				left++;
		}
		if (left == 0)
			break;
		if (round == 100) {
			for (size_t i = 0; i < p->ws.n; i++) {
				if (p->ws.v[i]->pid > 0) {
					kill_worker(p->ws.v[i], SIGKILL);
					(void)waitpid(p->ws.v[i]->pid,
						      &status, 0);
				}
			}
			break;
		}
		(void)nanosleep(&ts, NULL);
	}
	for (size_t i = 0; i < p->ws.n; i++)
		free(p->ws.v[i]);
	arr_free(&p->ws);
	wpool_wipe_secrets(p);
	free(p);
	*pp = NULL;
}
