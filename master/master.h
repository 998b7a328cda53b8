/*
 * master: moatd's shared state and the interfaces between its modules.
 *
 *   main.c        arguments, start-up checks, signals, reload, shutdown
 *   listeners.c   listening sockets, accept, per-IP pre-auth limits
 *   children.c    spawning (fd layout, environment), reaping, respawn
 *                 back-off, sending to a child with a bounded queue
 *   logpipe.c     children's stderr pipes -> log_forward_line
 *   login-conn.c  messages from imap-login processes; connection table
 *   auth-conn.c   the auth process: relayed requests and their answers
 *   session.c     SESSION_REQ -> cookie check -> start imap as the user
 *   spawn.c       starting a child without fork()ing moatd
 *   control.c     moatctl's root-only control socket: who, kick,
 *                 reload, stop, stats
 *   sdnotify.c    readiness, reload and stop reports to systemd
 *
 * moatd runs as root and trusts none of its children: every message is
 * checked against a per-peer table of allowed types and then field by
 * field; a peer that breaks the protocol is killed.
 */
#ifndef MOAT_MASTER_H
#define MOAT_MASTER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/config.h"
#include "core/ev.h"
#include "core/ipc.h"
#include "core/net.h"
#include "master/htab.h"
#include "master/ipgroup.h"
#include "master/list.h"

/* Respawn back-off (design: "Supervision and signals"). */
#define MASTER_RESPAWN_STABLE_MS 10000
#define MASTER_BACKOFF_MIN_MS 100
#define MASTER_BACKOFF_MAX_MS 30000
/* How long a relayed request may wait for auth. */
#define MASTER_AUTH_TIMEOUT_MS 30000
/* Bounds on relayed requests, so a stuck auth or a flooding login
 * process cannot make moatd queue without limit. A request is pending
 * only while auth checks it (failures are delayed by the login process,
 * not here). Once MASTER_PENDING_BUSY are waiting, one client address
 * (IPv6: /64) may have only MASTER_PENDING_PER_IP of them, so a flood
 * from a few addresses cannot take the slots everybody else needs; below
 * that, many clients behind one address (webmail, NAT: 50 logging in at
 * once, bench workload 1) are not refused while slots are free. */
#define MASTER_PENDING_MAX 1000
#define MASTER_PENDING_BUSY 64
#define MASTER_PENDING_PER_LOGIN 256
#define MASTER_PENDING_PER_IP 16
/* Messages queued for a child whose socket is full; past this the child
 * is not reading and is killed. Larger than MASTER_PENDING_MAX, so the
 * queue to auth (one message per pending request) never overflows. */
#define MASTER_OUTQ_MAX 1024
/* Grace period between SIGTERM and SIGKILL at shutdown. */
#define MASTER_STOP_GRACE_MS 5000
/* How long a login process may keep a connection after CONN_DROP
 * before moatd kills it: its BYE may take LOGIN_CLOSE_TIMEOUT_MS (5 s)
 * and a SESSION_REQ that crossed the drop up to MASTER_AUTH_TIMEOUT_MS
 * to fail. */
#define MASTER_DROP_TIMEOUT_MS 60000

enum child_kind { CHILD_AUTH, CHILD_LOGIN, CHILD_IMAP, CHILD_LMTP };

struct logpipe;
struct child;
struct session_req;
struct ctl_client;

/* A supervised position: the auth process or one login pool member.
 * The slot outlives its processes and remembers the back-off. */
struct slot {
	enum child_kind kind;
	struct child *c;            /* current process or NULL */
	uint64_t backoff_ms;        /* 0 = next restart is immediate */
	struct ev_timer *timer;     /* pending restart */
};

struct outmsg {
	struct ipc_out o;
	int fd;                     /* owned; closed once sent */
};

struct child {
	struct list link;           /* master.children */
	enum child_kind kind;
	pid_t pid;
	uint64_t started_ms;
	struct slot *slot;          /* respawned when it dies, if set */
	bool term_sent;             /* we asked it to stop (no error log) */

	/* IPC to the child; -1 once closed (EOF, error, or killed). */
	int ipc_fd;
	struct ev_io *ipc_io;
	struct outmsg *outq;        /* ring of MASTER_OUTQ_MAX, lazily */
	unsigned int outq_head, outq_len;

	struct logpipe *lp;         /* may outlive the child */

	/* CHILD_LOGIN */
	uint64_t login_id;          /* unique per process, never reused */
	unsigned int n_conns;
	unsigned int n_dropping;    /* of n_conns, told to drop (CONN_DROP) */
	unsigned int n_pending;
	bool shutting_down;         /* got SHUTDOWN: no new connections */
	bool per_conn;              /* login_per_connection: one connection */
	struct list conns;          /* struct conn.login_link */
	struct list pending;        /* struct pending.login_link */

	/* CHILD_IMAP */
	char *user;
	char rip[NET_ADDR_MAX];
	uint16_t rport;
	uint64_t session_id;        /* moatctl's handle, never reused */
	int64_t since;              /* Unix time the session started */
	uint32_t conn_flags;        /* IPC_CONN_* of its SESSION_REQ */
	struct ev_timer *kick_timer; /* SIGKILL if a kick is not obeyed */
	struct ctl_client *kicker;  /* waits for it to end (control.c) */
	uint32_t kick_req;          /* the kicker's request id */
	bool kick_killed;           /* it had to be killed */
};

/* A client connection handed to a login process. */
struct conn {
	uint32_t id;
	struct child *login;
	struct list login_link;
	char rip[NET_ADDR_MAX];
	char lip[NET_ADDR_MAX];
	char group[IPGROUP_MAX];    /* ipgroup_of(rip): per-address limits */
	uint16_t rport, lport;
	bool preauth;               /* counted in master.preauth_per_ip */
	struct session_req *sr;     /* SESSION_REQ being handled, or NULL */
	uint64_t start_ms;
	/* Pre-auth and not dropping: a candidate victim, oldest first
	 * (login-conn.c); self-linked otherwise. */
	struct list age_link;
	bool dropping;              /* CONN_DROP sent */
	struct ev_timer *drop_timer; /* MASTER_DROP_TIMEOUT_MS */
};

enum pending_kind { PENDING_AUTH, PENDING_REDEEM };

/* A request relayed to auth, keyed by moatd's request id. */
struct pending {
	uint32_t id;
	enum pending_kind kind;
	struct child *login;        /* NULL once the login process is gone */
	struct list login_link;
	struct list all_link;       /* master.pending_all */
	uint32_t login_req_id;      /* AUTH: the login's id; REDEEM: conn id */
	uint64_t arrived_ms;
	/* AUTH: the client's address group, counted in
	 * master.pending_per_ip; "" for REDEEM. */
	char group[IPGROUP_MAX];
	struct ev_timer *timer;
	struct session_req *sr;     /* REDEEM only */
};

struct listener;

struct master {
	struct ev *ev;
	struct moat_config *cfg;
	char *config_path;          /* absolute */
	pid_t pid;
	bool root;
	bool stopping;
	struct ev_timer *stop_timer;
	unsigned int stop_phase;

	struct list children;
	struct htab *by_pid;
	unsigned int n_children;

	struct slot auth_slot;
	struct slot lmtp_slot;      /* with lmtp_socket or lmtp_port */
	uint32_t auth_first_id;     /* first request id sent to this auth */

	struct slot **pool;
	size_t pool_n;
	uint64_t next_login_id;

	struct htab *conns;         /* id -> struct conn */
	uint32_t next_conn_id;
	struct htab *preauth_per_ip;  /* address group -> count */

	struct htab *pending;       /* id -> struct pending */
	struct list pending_all;
	uint32_t next_req_id;
	unsigned int n_pending;
	struct htab *pending_per_ip;  /* address group -> AUTH requests */

	struct htab *sessions_per_userip; /* "user\0ip" -> count */

	/* Counters for moatctl stats (control.c). */
	int64_t started_at;         /* Unix time moatd started */
	uint64_t next_session_id;
	unsigned int n_sessions;    /* imap children */
	uint64_t logins_ok;         /* sessions started */
	uint64_t logins_failed;     /* auth answered FAIL */
	uint64_t logins_tempfail;   /* auth answered TEMPFAIL */
	uint64_t logins_throttled;  /* auth answered THROTTLED */
	uint64_t connections;       /* accepted and handed to imap-login */
};

extern struct master master;

/* children.c */
struct spawn_as;
/* as: whom an imap session is to become, which it is told in its argv
 * (master/spawn.h), or NULL. */
struct child *child_spawn(enum child_kind kind, const char *prog,
			  char *const argv[], const char *user,
			  const char *rip, const struct spawn_as *as);
struct child *child_spawn_auth(void);
struct child *child_spawn_login(struct slot *slot);
struct child *child_spawn_lmtp(void);
void slot_start(struct slot *slot);
void slot_free(struct slot **slot);
void children_reap(void);
void child_ipc_close(struct child *c);
/* Logs why, kills the child with SIGKILL and stops reading from it. */
void child_violation(struct child *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Takes ownership of o and fd (closed once sent, or on failure).
 * Returns 0 when sent or queued, -1 when the child cannot take it. */
int child_send(struct child *c, struct ipc_out *o, int fd);
const char *child_name(const struct child *c);
void children_signal_all(int signo);
bool child_ipc_alive(const struct child *c);

/* logpipe.c */
struct logpipe *logpipe_new(int rfd, const char *procname, const char *user,
			    const char *rip);
void logpipe_set_pid(struct logpipe *lp, pid_t pid);
/* *owner is cleared when the pipe is freed. */
void logpipe_set_owner(struct logpipe *lp, struct logpipe **owner);
/* The child is gone: read what is left and keep going until EOF. */
void logpipe_detach(struct logpipe *lp);
void logpipe_drain_all(void);

/* listeners.c */
/* One warning line a second at most for a flood of the same kind; the
 * next line that is let through says how many were left out. */
struct log_limit {
	uint64_t last_ms;
	unsigned long suppressed;
};
/* True if a line may be logged now; *suppressed is then how many were
 * dropped since the last one. */
bool log_limit_pass(struct log_limit *l, unsigned long *suppressed);
int listeners_open(const struct moat_config *cfg, char *err, size_t errlen);
void listeners_reload(const struct moat_config *cfg);
void listeners_close_all(void);

/* login-conn.c */
void login_msg(struct child *c, const struct ipc_msg *msg);
void login_gone(struct child *c);
struct child *login_pick(void);
/* Sends CONN with fd (always consumed). */
int login_give_conn(struct child *login, int fd, uint32_t flags,
		    const char *rip, uint16_t rport, const char *lip,
		    uint16_t lport);
void login_send_shutdown(struct child *c);
/* Every pool process is at login_max_connections: tells the process
 * holding the oldest pre-auth connection that may go to drop it, so
 * that login_pick() finds room. False if no connection may go. */
bool login_make_room(void);
/* Whether a process may start under max_processes. At the limit with
 * login_per_connection, the oldest pre-auth connection's process is
 * told to drop it (and so to exit), and true is returned: until it has,
 * moatd runs that many processes over the limit. */
bool login_process_room(void);
void login_reply_session(struct child *login, uint32_t conn_id,
			 uint32_t status);
struct conn *conn_find(uint32_t id);
/* The connection is no longer pre-auth (its session started). */
void conn_session_started(struct conn *cn);

/* auth-conn.c */
void auth_msg(struct child *c, const struct ipc_msg *msg);
void auth_gone(void);
bool auth_available(void);
struct child *auth_child(void);
/* NULL when the limits on pending requests are reached (logged, rate-
 * limited). group: the client's address group (AUTH, counted against
 * MASTER_PENDING_PER_IP) or NULL (REDEEM). */
struct pending *pending_new(enum pending_kind kind, struct child *login,
			    uint32_t login_req_id, const char *group);
void pending_free(struct pending *p);
/* How much of auth_failure_delay is left for a request that arrived at
 * since_ms: what a failure answer tells the login process to wait. */
uint32_t auth_delay_left(uint64_t since_ms);
/* Sends AUTH_RESULT to a login process (cookie: IPC_COOKIE_LEN bytes,
 * or NULL for zeros). */
void auth_reply_login(struct child *login, uint32_t req_id, uint32_t status,
		      const uint8_t *cookie, const char *user,
		      uint32_t delay_ms);
/* Sends o (consumed) to auth for p; if that fails p is answered
 * TEMPFAIL and freed. */
void auth_send(struct pending *p, struct ipc_out *o);

/* session.c */
struct user_record {
	uint32_t status;
	char user[IPC_USER_MAX + 1];
	uint32_t uid, gid;
	char home[IPC_PATH_MAX + 1];
	char mail[IPC_PATH_MAX + 1];
	/* Supplementary groups auth looked up (gid included); checked
	 * by session.c before use. */
	uint32_t groups[IPC_GROUPS_MAX];
	size_t n_groups;
};
/* Parses and checks a SESSION_REQ; on a protocol violation kills the
 * login and returns -1. Otherwise starts the cookie check. */
int session_req_handle(struct child *login, const struct ipc_msg *msg);
void session_redeemed(struct session_req *sr, struct child *login,
		      const struct user_record *rec);
/* Answers the login (if any) with status and frees sr. */
void session_req_fail(struct session_req *sr, struct child *login,
		      uint32_t status, const char *why);
void session_req_free(struct session_req *sr);
void session_req_conn_gone(struct session_req *sr);
void session_imap_gone(struct child *c);

/* main.c */
void master_maybe_finish(void);
/* What SIGHUP and SIGTERM do (moatctl reload and stop too). reload
 * returns 0, or -1 with why the old configuration was kept in err. */
int master_reload(char *err, size_t errlen);
void master_stop(const char *why);

/* control.c */
/* Opens control_socket (if set); -1 with err if it cannot. */
int control_open(const struct moat_config *cfg, char *err, size_t errlen);
/* Stops accepting (shutdown); clients already connected get their
 * answers and stay until moatd exits. */
void control_close_listener(void);
/* Removes the socket file at exit. */
void control_cleanup(void);
/* auth answered THROTTLED for this address group (stats). */
void control_note_throttled(const char *group);
/* An imap child is gone: cancels its kick timer and tells whoever
 * kicked it how it ended. */
void control_session_gone(struct child *c);

#endif
