/*
 * imap-login: shared declarations of the pre-authentication process.
 *
 * One process serves many client connections through one event loop
 * (or exactly one with login_per_connection). Everything a client sends
 * is hostile; everything moatd sends on fd 3 is validated before use.
 * The process runs chrooted as the login user by the time it reads the
 * first client byte.
 *
 * Modules:
 *   main.c         start-up: config, TLS context, privilege drop, loop
 *   master-conn.c  IPC with moatd (CONN, AUTH_*, SESSION_*, SHUTDOWN)
 *   client.c       one connection: buffers, TLS, timeouts, states
 *   commands.c     the pre-auth IMAP commands
 *   sasl.c         PLAIN and LOGIN response decoding
 *   proxy.c        TLS proxy between the client and the imap session
 */
#ifndef MOAT_LOGIN_H
#define MOAT_LOGIN_H

#include <stdbool.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/ev.h"
#include "core/ipc.h"
#include "core/pool.h"
#include "imap/parser.h"
#include "imap/reader.h"
#include "tls/tls.h"
#include "sasl.h"

/* Input staging buffer: below IPC_PIPELINED_MAX so whatever is left in it
 * after a LOGIN always fits the SESSION_REQ. In proxy mode it carries
 * client -> session bytes. */
#define LOGIN_IN_MAX 8192
/* Output buffer: pre-auth responses, later session -> client bytes. */
#define LOGIN_OUT_MAX 16384
/* Stop running commands while this much output is unsent, so a client
 * that pipelines without reading cannot make us buffer without bound. */
#define LOGIN_OUT_PAUSE 4096
/* Failed logins on one connection before we hang up. */
#define LOGIN_MAX_FAILED 3
/* How long a connection may take to receive its final BYE. */
#define LOGIN_CLOSE_TIMEOUT_MS 5000
/* How long a finished session's last output may take to reach the
 * client through the TLS proxy. */
#define LOGIN_DRAIN_TIMEOUT_MS 30000

_Static_assert(LOGIN_IN_MAX <= IPC_PIPELINED_MAX,
	       "pipelined input must fit a SESSION_REQ");

/* Process-wide state. */
struct login {
	const struct moat_config *cfg;
	struct ev *ev;
	SSL_CTX *ssl_ctx;            /* NULL without tls_cert */
	struct pool *cmd_pool;       /* one command's parse tree at a time */
	struct imap_reader_limits limits;
	unsigned int n_clients;      /* live connections and proxies */
	bool had_client;
	bool shutting_down;          /* SHUTDOWN received */
};
extern struct login login;

enum client_state {
	CLIENT_HANDSHAKE,       /* TLS handshake (implicit, or STARTTLS) */
	CLIENT_STARTTLS,        /* flushing "OK Begin TLS", then handshake */
	CLIENT_COMMANDS,        /* running commands */
	CLIENT_AUTH_CONT,       /* AUTHENTICATE: waiting for a response line */
	CLIENT_AUTH_WAIT,       /* AUTH_REQ sent */
	CLIENT_AUTH_DELAY,      /* auth failed: waiting out the failure delay */
	CLIENT_SESSION_FLUSH,   /* auth OK: flushing output, then SESSION_REQ */
	CLIENT_SESSION_WAIT,    /* SESSION_REQ sent */
	CLIENT_PROXY,           /* session runs; we proxy TLS */
	CLIENT_CLOSING,         /* flushing the last output, then close */
	CLIENT_DEAD,            /* gone; freed at the end of the callback */
};

struct client {
	struct client *prev, *next;      /* all clients */
	struct client *conn_hnext;       /* conn_id hash chain */
	struct client *req_hnext;        /* req_id hash chain */
	uint32_t conn_id;                /* moatd's id */
	uint32_t req_id;                 /* pending AUTH_REQ, 0 if none */

	int fd;
	uint32_t flags;                  /* IPC_CONN_* from moatd */
	char rip[IPC_IP_MAX], lip[IPC_IP_MAX];
	uint32_t rport, lport;
	uint64_t start_ms;

	enum client_state state;
	struct ev_io *io;
	struct ev_timer *timer;
	struct ev_timer *delay_timer;    /* CLIENT_AUTH_DELAY */
	uint32_t delayed_status;         /* the failure it will answer */

	struct tls_conn *tls;
	bool tls_active;                 /* handshake done */
	unsigned int hs_want;            /* EV_* the handshake waits for */
	unsigned int rd_want, wr_want;   /* EV_* a TLS read/write waits for */

	struct imap_reader *reader;
	struct buf *in, *out;

	unsigned int bad_commands;
	unsigned int commands;           /* framed, for preauth_max_commands */
	unsigned int auth_attempts;
	unsigned int failed_logins;
	bool conn_done_sent;
	bool drop_pending;               /* CONN_DROP during SESSION_WAIT */
	bool read_eof;
	bool tls_failed;                 /* no close_notify after an error */
	char reason[256];                /* why we are closing, for the log */

	char tag[IPC_TAG_MAX + 1];       /* the LOGIN/AUTHENTICATE tag */
	char user[IPC_USER_MAX + 1];     /* last user tried, for the log */
	const char *mech;                /* "LOGIN" command or SASL mech */
	uint8_t cookie[IPC_COOKIE_LEN];

	/* AUTHENTICATE in progress */
	enum sasl_mech sasl_mech;
	unsigned int sasl_step;
	char sasl_user[IPC_USER_MAX + 1];

	/* TLS proxy */
	int sock;                        /* our end of the socketpair */
	struct ev_io *sock_io;
	bool sock_eof;                   /* session closed its side */
	bool sock_shut;                  /* we sent SHUT_WR to the session */
	bool tls_eof;                    /* client sent close_notify */
};

/* client.c */
void client_create(uint32_t conn_id, int fd, uint32_t flags,
		   const char *rip, uint32_t rport, const char *lip,
		   uint32_t lport);
struct client *client_find_conn(uint32_t conn_id);
struct client *client_find_req(uint32_t req_id);
/* delay_ms: for a failure, how long to wait before answering the client
 * (auth's remaining auth_failure_delay). */
void client_auth_result(struct client *c, uint32_t status,
			const uint8_t cookie[IPC_COOKIE_LEN], const char *user,
			uint32_t delay_ms);
void client_session_result(struct client *c, uint32_t status);
/* moatd's CONN_DROP: the login processes are full and this is the
 * oldest pre-auth connection. */
void client_drop(struct client *c);
/* Do all the work the connection can do now and set its event mask. */
void client_run(struct client *c);
/* Ends the connection (without output); reason is logged. */
void client_destroy(struct client *c, const char *reason);
/* Sends the already-buffered output, then closes. */
void client_close_after_output(struct client *c, const char *reason);
/* Frees destroyed clients; called at the end of every event callback. */
void client_reap(void);
void client_free_all(void);

/* Output helpers: on overflow the client is destroyed. */
void client_printf(struct client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void client_tagged(struct client *c, const char *tag, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* tag BAD text (or * BAD text), counted towards the bad-command limit. */
void client_bad(struct client *c, const char *tag, const char *text);
/* A line over the limit (final for the reader): BAD, BYE and close. */
void client_line_too_long(struct client *c, const char *tag);
void client_write_capabilities(struct client *c);
bool client_is_secured(const struct client *c);
bool client_plaintext_allowed(const struct client *c);
bool client_starttls_offered(const struct client *c);
/* Hands credentials to moatd; stops reading commands until the answer.
 * Wipes nothing itself; callers wipe their copies. */
void client_auth_begin(struct client *c, const char *tag, const char *mech,
		       const char *user, const char *pass);
/* A local authentication failure (bad credentials shape). */
void client_auth_failed(struct client *c, const char *tag);
void client_start_tls(struct client *c);

/* commands.c */
/* Runs one framed command. */
void cmd_run(struct client *c, const uint8_t *data, size_t len);
/* One AUTHENTICATE response line (state CLIENT_AUTH_CONT). */
void cmd_auth_line(struct client *c, const uint8_t *line, size_t len,
		   bool too_long);

/* proxy.c */
void proxy_start(struct client *c);
void proxy_run(struct client *c);

/* master-conn.c */
void master_init(int fd);
void master_deinit(void);
/* Queues or sends o (which is freed, wiped). passfd is sent with it; if
 * close_fd, it is closed once sent. */
void master_send(struct ipc_out *o, int passfd, bool close_fd);
void master_send_conn_done(uint32_t conn_id);
bool master_queue_empty(void);
/* Stops the loop if the process has nothing left to do. */
void login_check_exit(void);

#endif
