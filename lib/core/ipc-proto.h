/*
 * ipc-proto: every message type exchanged between Moat's processes, with
 * its direction, the meaning of the header id, its fields in order, and
 * its descriptor. Receivers accept only the types listed for their peer
 * (see each process's dispatch table) and decode fields in this order.
 *
 * Login path (moatd relays auth traffic, so auth never talks to a login
 * process directly and every request it sees carries the login id that
 * moatd -- not the login process -- attached):
 *
 *   client -> moatd (accept) --CONN(fd)--> imap-login
 *   imap-login --AUTH_REQ(conn_id)--> moatd
 *     --AUTH_REQ(+login_id, conn_id, moatd's address of conn_id)--> auth
 *   auth --AUTH_RESULT(cookie)--> moatd --AUTH_RESULT--> imap-login
 *   imap-login --SESSION_REQ(cookie, fd)--> moatd
 *   moatd --COOKIE_REDEEM(login_id, conn_id, cookie)--> auth
 *     --COOKIE_USER--> moatd
 *   moatd starts imap as the user --SESSION_INIT(fd)--> imap
 *
 * A cookie is bound to (login id, connection id): auth redeems it only
 * for the SESSION_REQ of the very connection the password was given on,
 * so a compromised login process cannot log one client in with another
 * client's address.
 *
 * Failures are not held anywhere on the relay path: auth answers a
 * failed AUTH_REQ as soon as it knows, with the part of
 * auth_failure_delay still to run (delay_ms), and the login process,
 * which owns the client connection, waits that long before it answers
 * the client. So a flood of wrong passwords occupies moatd only while
 * auth is actually checking them.
 *
 * A user's supplementary groups are looked up (NSS getgrouplist) by the
 * auth worker that checked the password and travel with the record, so
 * moatd makes no NSS call on the login path. On the wire a group list
 * is a bytes field of big-endian u32 gids: its length is a multiple of 4
 * and at most 4 * IPC_GROUPS_MAX.
 *   moatd --SESSION_RESULT--> imap-login (closes its copy or proxies TLS)
 */
#ifndef MOAT_IPC_PROTO_H
#define MOAT_IPC_PROTO_H

/* Field size limits shared by senders and receivers. */
#define IPC_USER_MAX 256        /* user name, bytes, without NUL */
#define IPC_PASS_MAX 1024       /* password */
#define IPC_PATH_MAX 1024       /* home, mail location */
#define IPC_TAG_MAX 128         /* IMAP tag */
#define IPC_IP_MAX 46           /* textual address incl. NUL */
#define IPC_COOKIE_LEN 32       /* session cookie, raw bytes */
#define IPC_PIPELINED_MAX 16384 /* client bytes pipelined after LOGIN */
#define IPC_REASON_MAX 256
/* Most a failure answer may ask the login process to wait (delay_ms in
 * AUTH_RESULT), ms: auth_failure_delay's maximum. */
#define IPC_AUTH_DELAY_MAX 60000u
/* Supplementary groups in a user record (WORKER_RESULT, COOKIE_USER):
 * at most this many gids, the primary gid included. */
#define IPC_GROUPS_MAX 256

/* Connection flags (CONN, SESSION_REQ, SESSION_INIT). */
#define IPC_CONN_TLS_IMPLICIT  0x01u /* listener is implicit TLS (993) */
#define IPC_CONN_SECURED       0x02u /* TLS active, or loopback counted secure */
#define IPC_CONN_TLS_ACTIVE    0x04u /* the session is TLS (proxied) */
#define IPC_CONN_STARTTLS      0x08u /* listener offers STARTTLS (CONN) */
#define IPC_CONN_FLAGS_ALL     0x0fu

/* SESSION_INIT session_flags. */
#define IPC_SESS_FSYNC         0x01u /* mail_fsync = yes */
#define IPC_SESS_NO_FTS        0x02u /* search_fts = no */
#define IPC_SESS_FLAGS_ALL     0x03u

/* CTL_REQ commands (moatctl). */
enum ipc_ctl_cmd {
	IPC_CTL_WHO = 1,
	IPC_CTL_KICK_USER = 2,
	IPC_CTL_KICK_SESSION = 3,
	IPC_CTL_RELOAD = 4,
	IPC_CTL_STOP = 5,
	IPC_CTL_STATS = 6,
	IPC_CTL_CMD_MAX = 6,
};
/* CTL_SESSION flags beyond IPC_CONN_*. */
#define IPC_CTL_ENDED  0x10000u
#define IPC_CTL_KILLED 0x20000u
/* A control request is small: header, a command, a number and a user
 * name (12 + 5 + 9 + 5 + IPC_USER_MAX bytes). */
#define IPC_CTL_REQ_MAX 512
#define IPC_CTL_TEXT_MAX 1024   /* CTL_DONE text */

/* Status values in results. */
enum ipc_status {
	IPC_ST_OK = 0,
	IPC_ST_FAIL = 1,        /* wrong credentials / refused */
	IPC_ST_TEMPFAIL = 2,    /* backend unavailable, try later */
	IPC_ST_THROTTLED = 3,   /* too many failures from this address */
	IPC_ST_LIMIT = 4,       /* a session/process limit was hit */
	IPC_ST_STATUS_MAX = 4,
};

enum ipc_type {
	IPC_NONE = 0,

	/* moatd -> imap-login. id = connection id (moatd-assigned).
	 * fd: the accepted client socket.
	 * u32 flags, str remote_ip, u32 remote_port, str local_ip,
	 * u32 local_port */
	IPC_CONN = 1,

	/* imap-login -> moatd. id = connection id. The connection is gone
	 * from this login process (closed, or its session started). */
	IPC_CONN_DONE = 2,

	/* imap-login -> moatd. id = request id chosen by the login process.
	 * u32 conn_id, str user, str password.
	 * conn_id: the connection the credentials came in on; it must be
	 * one of this login process's pre-auth connections. moatd takes
	 * the client address from its own record of that connection.
	 * moatd -> auth: same type, id = moatd's request id, fields:
	 * u64 login_id, u32 conn_id, str user, str password,
	 * str remote_ip (moatd's record). auth keeps login_id and conn_id
	 * with the cookie. */
	IPC_AUTH_REQ = 3,

	/* auth -> moatd: id = moatd's request id;
	 * moatd -> imap-login: id = the login's request id.
	 * u32 status, bytes cookie (IPC_COOKIE_LEN, zeros unless OK),
	 * str user (canonical name, "" unless OK), u32 delay_ms.
	 * delay_ms (<= IPC_AUTH_DELAY_MAX, 0 with OK): how long the login
	 * process must still wait before answering its client, so every
	 * failure reaches the client no earlier than auth_failure_delay
	 * after the request. */
	IPC_AUTH_RESULT = 4,

	/* imap-login -> moatd. id = connection id.
	 * fd: the client socket (plaintext) or the proxy socketpair end.
	 * bytes cookie, str tag, bytes pipelined (<= IPC_PIPELINED_MAX),
	 * u32 flags, str remote_ip, u32 remote_port, str local_ip,
	 * u32 local_port */
	IPC_SESSION_REQ = 5,

	/* moatd -> imap-login. id = connection id. u32 status.
	 * On OK the session owns the connection; the login process closes
	 * its copy (or keeps proxying TLS). Otherwise it answers the tag. */
	IPC_SESSION_RESULT = 6,

	/* moatd -> auth. id = moatd's request id.
	 * u64 login_id, u32 conn_id, bytes cookie.
	 * login_id: the process the SESSION_REQ came from; conn_id: the
	 * SESSION_REQ's connection. auth refuses a cookie issued for
	 * another login process or another connection. */
	IPC_COOKIE_REDEEM = 7,

	/* auth -> moatd. id = the redeem's id. u32 status, str user,
	 * u32 uid, u32 gid, str home, str mail, bytes groups (all empty/0
	 * unless OK). groups: the supplementary gids for setgroups, the
	 * primary gid included, BE u32 each (see above); moatd refuses a
	 * list holding gid 0 or (gid_t)-1. */
	IPC_COOKIE_USER = 8,

	/* moatd -> imap. id = 0. fd: the client connection.
	 * str user, str home, str mail, str tag, bytes pipelined, u32 flags,
	 * str remote_ip, u32 remote_port, str local_ip, u32 local_port,
	 * str index, u32 session_flags, u64 max_line, u64 max_literal,
	 * u64 idle_timeout_ms, u64 max_message_size, u64 output_timeout_ms.
	 * The session's settings (imap reads no config): mail is the
	 * location (the user record's, else mail_location) and index the
	 * mail_index directory, both with "%u" replaced by the user name
	 * and "~" left for imap to expand with home; session_flags are
	 * IPC_SESS_*; the limits are the config's max_line, max_literal,
	 * idle_timeout, max_message_size and output_timeout, in bytes and
	 * ms, within the
	 * ranges config.c allows (imap refuses others). */
	IPC_SESSION_INIT = 9,

	/* moatd -> imap-login. id = 0. Take no new connections; exit when
	 * the last connection (or TLS proxy) closes. */
	IPC_SHUTDOWN = 10,

	/* Inside auth only: auth main -> auth worker. id = main's request
	 * id. str user, str password, str remote_ip */
	IPC_WORKER_REQ = 11,

	/* auth worker -> auth main. id = the request's id. u32 status,
	 * str user, u32 uid, u32 gid, str home, str mail, bytes groups
	 * (as in COOKIE_USER; empty unless OK) */
	IPC_WORKER_RESULT = 12,

	/* moatd -> imap-login. id = connection id. No fields. The login
	 * processes are full (login_max_connections in every pool process,
	 * or max_processes with login_per_connection) and this is the
	 * oldest pre-auth connection moatd may drop: say BYE and close it,
	 * then CONN_DONE as usual. moatd names only connections it gave
	 * this process that are pre-auth and have no SESSION_REQ under
	 * way; imap-login ignores an id it no longer has (the CONN_DONE
	 * crossed the drop) and, for one whose SESSION_REQ is in flight,
	 * drops it only if the session fails. moatd kills a login process
	 * that keeps a dropped connection for MASTER_DROP_TIMEOUT_MS. */
	IPC_CONN_DROP = 13,

	/* Inside moat-lmtp only (lmtp/main.c): the unprivileged protocol
	 * front -> its root connection monitor, and the answers.
	 * LMTP_LOOKUP: id = request id. str local (the RCPT's local part).
	 * LMTP_LOOKUP_RESULT: u32 status (OK, FAIL = no such user,
	 * TEMPFAIL), str user (canonical, "" unless OK).
	 * LMTP_DELIVER: id = request id. fd: the sealed message (memfd).
	 * str user (from a LOOKUP_RESULT), str sender, str rcpt.
	 * LMTP_DELIVER_RESULT: u32 result (enum deliver_result). */
	IPC_LMTP_LOOKUP = 14,
	IPC_LMTP_LOOKUP_RESULT = 15,
	IPC_LMTP_DELIVER = 16,
	IPC_LMTP_DELIVER_RESULT = 17,

	/* moatctl <-> moatd over the control socket (master/control.c,
	 * doc/design.md "Control socket"). Every connection is checked
	 * with SO_PEERCRED first (root, or moatd's own uid when moatd is
	 * not root).
	 * CTL_REQ: moatctl -> moatd. id = request id, echoed in every
	 * answer. u32 command (IPC_CTL_*), u64 number (the session id of
	 * KICK_SESSION, else 0), str text (the user of KICK_USER, else
	 * ""). At most CTL_REQ_MAX bytes in all.
	 * CTL_SESSION: moatd -> moatctl, one per session (WHO, and each
	 * session KICK ended). u64 session id, u32 pid, str user,
	 * str remote_ip, u32 remote_port, u64 since (Unix time, s),
	 * u32 flags (IPC_CONN_*: TLS_ACTIVE = the session is TLS; and for
	 * a kicked session IPC_CTL_ENDED, plus IPC_CTL_KILLED if it did
	 * not end by itself and was killed).
	 * CTL_STAT: moatd -> moatctl, one per counter (STATS).
	 * str name, u64 value.
	 * CTL_DONE: moatd -> moatctl, the last answer to a request.
	 * u32 status (IPC_ST_OK, IPC_ST_FAIL: refused or failed),
	 * str text (a readable result or why it failed). */
	IPC_CTL_REQ = 18,
	IPC_CTL_SESSION = 19,
	IPC_CTL_STAT = 20,
	IPC_CTL_DONE = 21,

	IPC_TYPE_MAX = 21,
};

#endif
