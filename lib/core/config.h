/*
 * config: moat.conf, the one configuration file (reference: doc/config.md).
 *
 * Syntax: one "key = value" per line; '#' starts a comment (outside
 * quotes); blank lines ignored; a value may be "double-quoted" (with \"
 * and \\ escapes) to keep leading/trailing spaces or '#'. Unknown keys,
 * duplicate keys (except repeatable ones), bad values and missing
 * required settings are errors reported as "FILE:LINE: reason" so moatd
 * can refuse to start with a clear message. Every process parses the same
 * file with this module (imap-login before it chroots).
 */
#ifndef MOAT_CONFIG_H
#define MOAT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include "core/log.h"

#define CONFIG_MAX_LISTENERS 16
#define CONFIG_MAX_BACKENDS 4
#define CONFIG_MAX_ENV 32
#define CONFIG_FILE_MAX (1024 * 1024)
#define CONFIG_LINE_MAX 4096

enum config_tls_mode {
	CONFIG_TLS_NONE,      /* plaintext, STARTTLS not offered */
	CONFIG_TLS_STARTTLS,  /* plaintext, STARTTLS offered (143) */
	CONFIG_TLS_IMPLICIT,  /* TLS from the first byte (993) */
};

struct config_listener {
	char *address;        /* numeric IPv4/IPv6, "*" or "::" */
	uint16_t port;
	enum config_tls_mode tls;
};

enum config_auth_backend { CONFIG_AUTH_PAM, CONFIG_AUTH_PASSWD_FILE };

struct moat_config {
	char *path;                       /* the file it came from */

	struct config_listener listeners[CONFIG_MAX_LISTENERS];
	size_t n_listeners;               /* listen = ADDR:PORT [MODE] */

	char *tls_cert;                   /* PEM chain */
	char *tls_key;                    /* PEM private key */
	char *tls_ciphers;                /* TLS 1.2 cipher list */
	char *tls_ciphersuites;           /* TLS 1.3 suites */

	char *login_user;                 /* default moat-login */
	char *login_chroot;               /* default /run/moat/empty */
	unsigned int login_processes;     /* pool size, default 2 */
	bool login_per_connection;        /* one connection per process */
	unsigned int login_max_connections; /* per login process */
	bool login_sandbox;               /* seccomp filter, default yes */

	enum config_auth_backend auth_backends[CONFIG_MAX_BACKENDS];
	size_t n_auth_backends;           /* tried in order; default pam */
	char *auth_pam_service;           /* default moat */
	char *auth_passwd_file;           /* required with passwd-file */
	unsigned int auth_workers;        /* default 4 */
	uint64_t auth_worker_timeout_ms;  /* default 20s */
	bool auth_pam_session;            /* setcred + open/close session */
	uint64_t auth_failure_delay_ms;   /* default 2s */
	unsigned int auth_throttle_failures; /* default 10 */
	uint64_t auth_throttle_window_ms; /* default 5m */
	uint64_t auth_cookie_lifetime_ms; /* default 10s */

	char *mail_location;              /* default maildir:~/Maildir */
	/* The index: "~/..." in the home, or "/DIR/%u" (moatd makes the
	 * per-user directory; doc/config.md). Default ~/.moat/index. */
	char *mail_index;
	bool mail_fsync;                  /* fsync mail and index; yes */
	bool search_fts;                  /* full-text index; yes */
	uint64_t max_message_size;        /* APPEND, APPENDLIMIT; 64m */
	unsigned int first_valid_uid;     /* default 1000 */
	unsigned int last_valid_uid;      /* 0 = no limit */

	bool allow_plaintext_auth;        /* on insecure connections; no */
	bool loopback_is_secure;          /* yes */

	uint64_t preauth_max_line;        /* default 8k */
	uint64_t preauth_max_literal;     /* default 8k */
	unsigned int preauth_max_bad_commands; /* default 10 */
	uint64_t preauth_timeout_ms;      /* default 60s */
	uint64_t preauth_max_lifetime_ms; /* since connect, default 2m */
	unsigned int preauth_max_commands; /* before login, default 20 */
	uint64_t max_line;                /* authenticated, default 64k */
	uint64_t max_literal;             /* authenticated, default 64m */
	uint64_t idle_timeout_ms;         /* authenticated, default 30m */
	uint64_t output_timeout_ms;       /* output not taken, default 5m */
	unsigned int max_connections_per_ip;  /* default 50 */
	unsigned int max_sessions_per_user_ip; /* default 10 */
	unsigned int max_processes;       /* all children, default 10000 */

	/* LMTP delivery (lmtp/): off unless lmtp_socket or lmtp_port. */
	char *lmtp_socket;                /* UNIX socket path */
	unsigned int lmtp_socket_mode;    /* default 0660 */
	char *lmtp_socket_user;           /* owner, default root */
	char *lmtp_socket_group;          /* group, default root's */
	unsigned int lmtp_port;           /* 127.0.0.1:PORT, 0 = none */
	unsigned int lmtp_max_connections; /* default 32 */
	unsigned int lmtp_max_recipients; /* per transaction, default 100 */
	uint64_t lmtp_timeout_ms;         /* per command, default 5m */

	/* moatctl's control socket (master/control.c): off unless set. */
	char *control_socket;

	enum log_target log_target;       /* default stderr */
	char *log_file;                   /* required with log_target=file */
	bool log_debug;

	char *libexec_dir;                /* where auth/imap-login/imap are */
	char *import_environment[CONFIG_MAX_ENV + 1]; /* NULL-terminated */
};

/* Loads and validates the file. On error returns -1 and writes
 * "FILE:LINE: reason" (or "FILE: reason") into err. */
int config_load(const char *path, struct moat_config **out, char *err,
		size_t errlen);
/* Same from memory; name is used in messages. text need not be
 * NUL-terminated. */
int config_parse(const char *name, const char *text, size_t len,
		 struct moat_config **out, char *err, size_t errlen);
void config_free(struct moat_config **c);
/* Whether a file moatd reads or runs as root can be trusted: it must be
 * a regular file owned by root (or owner) and not writable by group or
 * others, and so must every directory on the way to it, as named and
 * through every symlink followed (each symlink owned by root or owner);
 * a directory writable by others passes only if it is root's and sticky
 * (/tmp). Returns 0 and fills *st (if not NULL) from lstat of the file,
 * or -1 with the first problem in err. config_load applies it (owner 0)
 * when running as root; moatd applies it to the libexec_dir programs. */
int config_check_trusted_file(const char *path, uid_t owner, struct stat *st,
			      char *err, size_t errlen);
/* Default path: MOAT_SYSCONFDIR "/moat.conf". */
const char *config_default_path(void);

#endif
