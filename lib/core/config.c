/*
 * config: reads and validates moat.conf (syntax in core/config.h, every
 * setting in doc/config.md). Callers: moatd at start-up and on SIGHUP,
 * auth, and imap-login before it chroots.
 *
 * Trust: the file is written by the admin, so its *meaning* is trusted,
 * but not its *form*: it may be truncated, binary, edited on another
 * system or simply wrong. Every byte is checked (size caps, no NUL or
 * control characters, valid UTF-8), every value is range-checked, and
 * the first problem is reported as "FILE:LINE: reason" so that moatd
 * refuses to start (or, on SIGHUP, keeps the old config) with a message
 * an operator can act on. The parser is fuzzed by fuzz/fuzz-config.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "core/num.h"
#include "core/str.h"

#define DEFAULT_TLS_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20"
#define DEFAULT_TLS_CIPHERSUITES \
	"TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:" \
	"TLS_AES_128_GCM_SHA256"

#define KIB (UINT64_C(1) << 10)
#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)
#define SEC UINT64_C(1000)
#define MINUTE (60 * SEC)
#define HOUR (60 * MINUTE)
/* uid_t (uint32_t) -1 means "no change" to setresuid: never a real uid. */
#define UID_MAX_VALID UINT64_C(4294967294)

/* How much of a bad value or key is echoed back in a message. */
#define SHOW_MAX 64

enum kind {
	K_LISTEN,      /* ADDR:PORT [MODE], repeatable */
	K_PATH,        /* absolute path */
	K_CIPHERS,     /* OpenSSL cipher string */
	K_USER,        /* system user name */
	K_PAM_SERVICE, /* file name under /etc/pam.d */
	K_LOCATION,    /* maildir:... or mbox:... */
	K_INDEX,       /* ~/PATH or /PATH/%u */
	K_UINT,
	K_SIZE,
	K_DURATION,
	K_BOOL,
	K_BACKENDS,
	K_LOG_TARGET,
	K_ENV,
	K_MODE,        /* octal file mode, e.g. 0660 */
};

struct setting {
	const char *name;
	enum kind kind;
	size_t off;         /* field in struct moat_config */
	uint64_t min, max;  /* K_UINT, K_SIZE, K_DURATION */
};

#define F(field) offsetof(struct moat_config, field)

/* Ranges keep an admin's typo from becoming an outage or a hole: a
 * 10-byte line limit makes every client fail, a 10 GB one lets one
 * client exhaust memory before authenticating. */
static const struct setting settings[] = {
	{ "listen", K_LISTEN, 0, 0, 0 },
	{ "tls_cert", K_PATH, F(tls_cert), 0, 0 },
	{ "tls_key", K_PATH, F(tls_key), 0, 0 },
	{ "tls_ciphers", K_CIPHERS, F(tls_ciphers), 0, 0 },
	{ "tls_ciphersuites", K_CIPHERS, F(tls_ciphersuites), 0, 0 },
	{ "login_user", K_USER, F(login_user), 0, 0 },
	{ "login_chroot", K_PATH, F(login_chroot), 0, 0 },
	{ "login_processes", K_UINT, F(login_processes), 1, 256 },
	{ "login_per_connection", K_BOOL, F(login_per_connection), 0, 0 },
	{ "login_max_connections", K_UINT, F(login_max_connections), 1,
	  100000 },
	{ "login_sandbox", K_BOOL, F(login_sandbox), 0, 0 },
	{ "auth_backends", K_BACKENDS, 0, 0, 0 },
	{ "auth_pam_service", K_PAM_SERVICE, F(auth_pam_service), 0, 0 },
	{ "auth_passwd_file", K_PATH, F(auth_passwd_file), 0, 0 },
	{ "auth_workers", K_UINT, F(auth_workers), 1, 64 },
	/* Below a second a slow but healthy PAM stack would be killed;
	 * past moatd's own 30 s wait the client has long been answered. */
	{ "auth_worker_timeout", K_DURATION, F(auth_worker_timeout_ms), SEC,
	  5 * MINUTE },
	{ "auth_pam_session", K_BOOL, F(auth_pam_session), 0, 0 },
	/* 0 is allowed (test set-ups); more than a minute only hurts
	 * legitimate users who mistyped. */
	{ "auth_failure_delay", K_DURATION, F(auth_failure_delay_ms), 0,
	  MINUTE },
	{ "auth_throttle_failures", K_UINT, F(auth_throttle_failures), 1,
	  1000000 },
	{ "auth_throttle_window", K_DURATION, F(auth_throttle_window_ms), 1,
	  24 * HOUR },
	{ "auth_cookie_lifetime", K_DURATION, F(auth_cookie_lifetime_ms), 1,
	  5 * MINUTE },
	{ "mail_location", K_LOCATION, F(mail_location), 0, 0 },
	{ "mail_index", K_INDEX, F(mail_index), 0, 0 },
	{ "mail_fsync", K_BOOL, F(mail_fsync), 0, 0 },
	{ "search_fts", K_BOOL, F(search_fts), 0, 0 },
	/* A message is held in memory while it is appended (the literal):
	 * the same ceiling as max_literal. */
	{ "max_message_size", K_SIZE, F(max_message_size), KIB, 2 * GIB },
	{ "first_valid_uid", K_UINT, F(first_valid_uid), 1, UID_MAX_VALID },
	{ "last_valid_uid", K_UINT, F(last_valid_uid), 0, UID_MAX_VALID },
	{ "allow_plaintext_auth", K_BOOL, F(allow_plaintext_auth), 0, 0 },
	{ "loopback_is_secure", K_BOOL, F(loopback_is_secure), 0, 0 },
	{ "preauth_max_line", K_SIZE, F(preauth_max_line), KIB, MIB },
	{ "preauth_max_literal", K_SIZE, F(preauth_max_literal), 1, MIB },
	{ "preauth_max_bad_commands", K_UINT, F(preauth_max_bad_commands), 1,
	  1000 },
	{ "preauth_timeout", K_DURATION, F(preauth_timeout_ms), 1, HOUR },
	{ "preauth_max_lifetime", K_DURATION, F(preauth_max_lifetime_ms), 1,
	  HOUR },
	{ "preauth_max_commands", K_UINT, F(preauth_max_commands), 1,
	  100000 },
	{ "max_line", K_SIZE, F(max_line), KIB, 16 * MIB },
	{ "max_literal", K_SIZE, F(max_literal), 1, 2 * GIB },
	{ "idle_timeout", K_DURATION, F(idle_timeout_ms), 1, 24 * HOUR },
	{ "output_timeout", K_DURATION, F(output_timeout_ms), 1, 24 * HOUR },
	{ "max_connections_per_ip", K_UINT, F(max_connections_per_ip), 1,
	  1000000 },
	{ "max_sessions_per_user_ip", K_UINT, F(max_sessions_per_user_ip), 1,
	  1000000 },
	{ "max_processes", K_UINT, F(max_processes), 1, 1000000 },
	{ "lmtp_socket", K_PATH, F(lmtp_socket), 0, 0 },
	{ "lmtp_socket_mode", K_MODE, F(lmtp_socket_mode), 0, 0777 },
	{ "lmtp_socket_user", K_USER, F(lmtp_socket_user), 0, 0 },
	{ "lmtp_socket_group", K_USER, F(lmtp_socket_group), 0, 0 },
	/* Loopback only: LMTP has no authentication. */
	{ "lmtp_port", K_UINT, F(lmtp_port), 0, 65535 },
	{ "lmtp_max_connections", K_UINT, F(lmtp_max_connections), 1, 1000 },
	{ "lmtp_max_recipients", K_UINT, F(lmtp_max_recipients), 1, 10000 },
	/* RFC 5321 4.5.3.2.7: the server waits at least 5 minutes. */
	{ "lmtp_timeout", K_DURATION, F(lmtp_timeout_ms), SEC, HOUR },
	/* moatctl's control socket (master/control.c); off unless set. */
	{ "control_socket", K_PATH, F(control_socket), 0, 0 },
	{ "log_target", K_LOG_TARGET, 0, 0, 0 },
	{ "log_file", K_PATH, F(log_file), 0, 0 },
	{ "log_debug", K_BOOL, F(log_debug), 0, 0 },
	{ "libexec_dir", K_PATH, F(libexec_dir), 0, 0 },
	{ "import_environment", K_ENV, 0, 0, 0 },
};

#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

struct parser {
	const char *name;
	unsigned int line;          /* 0 = no line (whole-file checks) */
	char *err;
	size_t errlen;
	struct moat_config *c;
	unsigned int seen[N_SETTINGS];   /* line of first occurrence */
	unsigned int listen_line[CONFIG_MAX_LISTENERS];
};

/* Writes "NAME:LINE: message" (or "NAME: message") and returns -1. */
static int __attribute__((format(printf, 2, 3)))
perr(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->err == NULL || p->errlen == 0)
		return -1;
	if (p->line > 0)
		n = snprintf(p->err, p->errlen, "%s:%u: ", p->name, p->line);
	else
		n = snprintf(p->err, p->errlen, "%s: ", p->name);
	if (n < 0 || (size_t)n >= p->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* "invalid value for 'KEY': reason". */
static int __attribute__((format(printf, 3, 4)))
bad(struct parser *p, const struct setting *s, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return perr(p, "invalid value for '%s': %s", s->name, why);
}

/* Copies at most SHOW_MAX bytes of s for a message, cut on a UTF-8
 * character boundary so the message stays valid UTF-8. The input has
 * already been checked to hold no control characters. */
static const char *
show(const char *s, char *out, size_t outlen)
{
	size_t n = strlen(s);

	if (n <= SHOW_MAX) {
		snprintf(out, outlen, "%s", s);
		return out;
	}
	n = SHOW_MAX;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	snprintf(out, outlen, "%.*s...", (int)n, s);
	return out;
}

#define SHOW_BUF (SHOW_MAX + 8)

static void
fmt_size(uint64_t v, char *out, size_t outlen)
{
	if (v != 0 && v % GIB == 0)
		snprintf(out, outlen, "%llug", (unsigned long long)(v / GIB));
	else if (v != 0 && v % MIB == 0)
		snprintf(out, outlen, "%llum", (unsigned long long)(v / MIB));
	else if (v != 0 && v % KIB == 0)
		snprintf(out, outlen, "%lluk", (unsigned long long)(v / KIB));
	else
		snprintf(out, outlen, "%llu", (unsigned long long)v);
}

static void
fmt_duration(uint64_t ms, char *out, size_t outlen)
{
	if (ms != 0 && ms % HOUR == 0)
		snprintf(out, outlen, "%lluh", (unsigned long long)(ms / HOUR));
	else if (ms != 0 && ms % MINUTE == 0)
		snprintf(out, outlen, "%llum",
			 (unsigned long long)(ms / MINUTE));
	else if (ms != 0 && ms % SEC == 0)
		snprintf(out, outlen, "%llus", (unsigned long long)(ms / SEC));
	else
		snprintf(out, outlen, "%llums", (unsigned long long)ms);
}

static bool
is_space(char ch)
{
	return ch == ' ' || ch == '\t';
}

static char *
skip_space(char *s)
{
	while (is_space(*s))
		s++;
	return s;
}

/* Splits s in place at runs of spaces/tabs; returns the next word or
 * NULL at the end. *pos is advanced past it. */
static char *
next_word(char **pos)
{
	char *s = skip_space(*pos), *start;

	if (*s == '\0')
		return NULL;
	start = s;
	while (*s != '\0' && !is_space(*s))
		s++;
	if (*s != '\0')
		*s++ = '\0';
	*pos = s;
	return start;
}

static char **
str_field(struct moat_config *c, const struct setting *s)
{
	return (char **)(void *)((char *)c + s->off);
}

static void
set_str(struct moat_config *c, const struct setting *s, const char *v)
{
	char **f = str_field(c, s);

	free(*f);
	*f = xstrdup(v);
}

/* --- listen ------------------------------------------------------------ */

static const char *
tls_mode_name(enum config_tls_mode m)
{
	switch (m) {
	case CONFIG_TLS_NONE:
		return "none";
	case CONFIG_TLS_STARTTLS:
		return "starttls";
	case CONFIG_TLS_IMPLICIT:
		return "tls";
	}
	return "?";
}

/* "0.0.0.0:993", "[::1]:143", "*:143". */
static void
fmt_listener(const struct config_listener *l, char *out, size_t outlen)
{
	if (strchr(l->address, ':') != NULL)
		snprintf(out, outlen, "[%s]:%u", l->address, l->port);
	else
		snprintf(out, outlen, "%s:%u", l->address, l->port);
}

/* "*" and "0.0.0.0" bind the same sockets. */
static bool
same_address(const char *a, const char *b)
{
	if (str_eq(a, "*"))
		a = "0.0.0.0";
	if (str_eq(b, "*"))
		b = "0.0.0.0";
	return str_eq(a, b);
}

static int
set_listen(struct parser *p, const struct setting *s, char *v)
{
	struct moat_config *c = p->c;
	char *pos = v, *ap, *mode, *addr, *port, *end;
	char shown[SHOW_BUF], canon[INET6_ADDRSTRLEN], text[80];
	unsigned char bin[sizeof(struct in6_addr)];
	enum config_tls_mode tls = CONFIG_TLS_STARTTLS;
	struct config_listener *l;
	unsigned int portnum;
	int family;

	ap = next_word(&pos);
	mode = next_word(&pos);
	if (ap == NULL || next_word(&pos) != NULL)
		return bad(p, s, "expected ADDR:PORT [starttls|tls|none]");

	if (ap[0] == '[') {
		addr = ap + 1;
		end = strchr(addr, ']');
		if (end == NULL)
			return bad(p, s, "'%s' lacks the closing ']'",
				   show(ap, shown, sizeof(shown)));
		*end = '\0';
		if (end[1] != ':')
			return bad(p, s, "expected ':PORT' after ']'");
		port = end + 2;
		family = AF_INET6;
	} else {
		end = strrchr(ap, ':');
		if (end == NULL)
			return bad(p, s, "'%s' has no port (want ADDR:PORT)",
				   show(ap, shown, sizeof(shown)));
		if (memchr(ap, ':', (size_t)(end - ap)) != NULL)
			return bad(p, s, "an IPv6 address must be in "
				   "brackets, e.g. [::1]:143");
		*end = '\0';
		addr = ap;
		port = end + 1;
		family = AF_INET;
	}

	if (num_parse_uint(port, 65535, &portnum) < 0 || portnum == 0)
		return bad(p, s, "'%s' is not a port number (1-65535)",
			   show(port, shown, sizeof(shown)));

	if (family == AF_INET && str_eq(addr, "*")) {
		str_copy(canon, "*", sizeof(canon));
	} else if (inet_pton(family, addr, bin) != 1 ||
		   inet_ntop(family, bin, canon, sizeof(canon)) == NULL) {
		return bad(p, s, "'%s' is not a numeric %s address",
			   show(addr, shown, sizeof(shown)),
			   family == AF_INET ? "IPv4 (or *)" : "IPv6");
	}

	if (mode == NULL || str_eq(mode, "starttls"))
		tls = CONFIG_TLS_STARTTLS;
	else if (str_eq(mode, "tls"))
		tls = CONFIG_TLS_IMPLICIT;
	else if (str_eq(mode, "none"))
		tls = CONFIG_TLS_NONE;
	else
		return bad(p, s, "unknown mode '%s' (want starttls, tls or "
			   "none)", show(mode, shown, sizeof(shown)));

	for (size_t i = 0; i < c->n_listeners; i++) {
		if (c->listeners[i].port == portnum &&
		    same_address(c->listeners[i].address, canon)) {
			fmt_listener(&c->listeners[i], text, sizeof(text));
			return perr(p, "duplicate listener %s (first on line "
				    "%u)", text, p->listen_line[i]);
		}
	}
	if (c->n_listeners >= CONFIG_MAX_LISTENERS)
		return perr(p, "too many listeners (max %d)",
			    CONFIG_MAX_LISTENERS);

	p->listen_line[c->n_listeners] = p->line;
	l = &c->listeners[c->n_listeners++];
	l->address = xstrdup(canon);
	l->port = (uint16_t)portnum;
	l->tls = tls;
	return 0;
}

/* --- value kinds ------------------------------------------------------- */

static int
set_path(struct parser *p, const struct setting *s, const char *v)
{
	char shown[SHOW_BUF];

	/* Processes chdir and chroot: a relative path would silently mean
	 * a different file in each of them. */
	if (v[0] != '/')
		return bad(p, s, "'%s' is not an absolute path",
			   show(v, shown, sizeof(shown)));
	set_str(p->c, s, v);
	return 0;
}

static int
set_ciphers(struct parser *p, const struct setting *s, const char *v)
{
	if (v[0] == '\0')
		return bad(p, s, "must not be empty");
	for (const char *q = v; *q != '\0'; q++) {
		if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e)
			return bad(p, s, "only printable ASCII is allowed");
	}
	set_str(p->c, s, v);
	return 0;
}

static bool
is_name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
	       ch == '-';
}

/* Portable user names (POSIX portable filename characters), at most 32
 * bytes as useradd allows; no leading '-' (would read as an option). */
static int
set_user(struct parser *p, const struct setting *s, const char *v)
{
	char shown[SHOW_BUF];
	size_t n = strlen(v);
	bool ok = n > 0 && n <= 32 && v[0] != '-';

	for (size_t i = 0; ok && i < n; i++)
		ok = is_name_char(v[i]);
	if (!ok)
		return bad(p, s, "'%s' is not a valid user name",
			   show(v, shown, sizeof(shown)));
	set_str(p->c, s, v);
	return 0;
}

/* PAM opens /etc/pam.d/NAME: no '/', no "." or "..". */
static int
set_pam_service(struct parser *p, const struct setting *s, const char *v)
{
	char shown[SHOW_BUF];
	size_t n = strlen(v);
	bool ok = n > 0 && n <= 64 && !str_eq(v, ".") && !str_eq(v, "..");

	for (size_t i = 0; ok && i < n; i++)
		ok = is_name_char(v[i]);
	if (!ok)
		return bad(p, s, "'%s' is not a valid PAM service name",
			   show(v, shown, sizeof(shown)));
	set_str(p->c, s, v);
	return 0;
}

/* The index directory of each user. Either in the home ("~/..."; the
 * session creates it as the user), or "/DIR/%u" with %u only as the
 * last component: moatd creates DIR/<user> for the user under the
 * root-owned DIR (master/session.c), which it can do without looking
 * into any user's file system. A path without %u would put every user
 * in one Berkeley DB environment, which must never be shared. */
/* Components of an index path after its "~" or "/" start: none empty,
 * ".", ".." or holding '%' (only a final "%u" is allowed, by the
 * caller). */
static bool
index_components_ok(const char *v, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t n = 0;

		while (i + n < len && v[i + n] != '/')
			n++;
		if (n == 0 || (n == 1 && v[i] == '.') ||
		    (n == 2 && v[i] == '.' && v[i + 1] == '.') ||
		    memchr(v + i, '%', n) != NULL)
			return false;
		i += n + 1;
	}
	return len > 0 && v[len - 1] != '/';
}

/* The index directory of each user. Either in the home ("~/..."; the
 * session creates it as the user), or "/DIR/%u" with %u only as the
 * last component: moatd creates DIR/<user> for the user under the
 * root-owned DIR (master/session.c), which it can do without looking
 * into any user's file system. A path without %u would put every user
 * in one Berkeley DB environment, which must never be shared. */
static int
set_index(struct parser *p, const struct setting *s, const char *v)
{
	char shown[SHOW_BUF];
	size_t len = strlen(v);

	if ((str_has_prefix(v, "~/") &&
	     index_components_ok(v + 2, len - 2)) ||
	    (v[0] == '/' && len > 3 && str_eq(v + len - 3, "/%u") &&
	     index_components_ok(v + 1, len - 4))) {
		set_str(p->c, s, v);
		return 0;
	}
	return bad(p, s, "'%s' is not an index location (want ~/PATH, or "
		   "/PATH/%%u with %%u as the last component)",
		   show(v, shown, sizeof(shown)));
}

static int
set_location(struct parser *p, const struct setting *s, const char *v)
{
	char shown[SHOW_BUF];

	if ((!str_has_prefix(v, "maildir:") || v[8] == '\0') &&
	    (!str_has_prefix(v, "mbox:") || v[5] == '\0'))
		return bad(p, s, "'%s' is not a mail location (want "
			   "maildir:PATH or mbox:PATH)",
			   show(v, shown, sizeof(shown)));
	set_str(p->c, s, v);
	return 0;
}

static bool
all_digits(const char *v)
{
	if (*v == '\0')
		return false;
	for (; *v != '\0'; v++) {
		if (*v < '0' || *v > '9')
			return false;
	}
	return true;
}

static int
set_uint(struct parser *p, const struct setting *s, const char *v)
{
	char shown[SHOW_BUF];
	uint64_t u;

	if (!all_digits(v))
		return bad(p, s, "'%s' is not a number",
			   show(v, shown, sizeof(shown)));
	if (num_parse_u64(v, UINT64_MAX, &u) < 0 || u < s->min ||
	    u > s->max)
		return bad(p, s, "'%s' is out of range (%llu..%llu)",
			   show(v, shown, sizeof(shown)),
			   (unsigned long long)s->min,
			   (unsigned long long)s->max);
	*(unsigned int *)(void *)((char *)p->c + s->off) = (unsigned int)u;
	return 0;
}

static int
set_size(struct parser *p, const struct setting *s, const char *v)
{
	char shown[SHOW_BUF], lo[32], hi[32];
	uint64_t u;

	if (num_parse_size(v, &u) < 0)
		return bad(p, s, "'%s' is not a size (e.g. 8192, 8k, 64m, "
			   "1g)", show(v, shown, sizeof(shown)));
	if (u < s->min || u > s->max) {
		fmt_size(s->min, lo, sizeof(lo));
		fmt_size(s->max, hi, sizeof(hi));
		return bad(p, s, "'%s' is out of range (%s..%s)",
			   show(v, shown, sizeof(shown)), lo, hi);
	}
	*(uint64_t *)(void *)((char *)p->c + s->off) = u;
	return 0;
}

static int
set_duration(struct parser *p, const struct setting *s, const char *v)
{
	char shown[SHOW_BUF], lo[32], hi[32];
	uint64_t ms;

	if (num_parse_duration_ms(v, &ms) < 0)
		return bad(p, s, "'%s' is not a duration (e.g. 500ms, 60s, "
			   "30m, 1h)", show(v, shown, sizeof(shown)));
	if (ms < s->min || ms > s->max) {
		fmt_duration(s->min, lo, sizeof(lo));
		fmt_duration(s->max, hi, sizeof(hi));
		return bad(p, s, "'%s' is out of range (%s..%s)",
			   show(v, shown, sizeof(shown)), lo, hi);
	}
	*(uint64_t *)(void *)((char *)p->c + s->off) = ms;
	return 0;
}

static int
set_bool(struct parser *p, const struct setting *s, const char *v)
{
	char shown[SHOW_BUF];
	int b;

	if (num_parse_bool(v, &b) < 0)
		return bad(p, s, "'%s' is not yes or no",
			   show(v, shown, sizeof(shown)));
	*(bool *)(void *)((char *)p->c + s->off) = b != 0;
	return 0;
}

static int
set_backends(struct parser *p, const struct setting *s, char *v)
{
	struct moat_config *c = p->c;
	enum config_auth_backend list[CONFIG_MAX_BACKENDS], b;
	char shown[SHOW_BUF], *pos = v, *w;
	size_t n = 0;

	while ((w = next_word(&pos)) != NULL) {
		if (str_eq(w, "pam"))
			b = CONFIG_AUTH_PAM;
		else if (str_eq(w, "passwd-file"))
			b = CONFIG_AUTH_PASSWD_FILE;
		else
			return bad(p, s, "unknown backend '%s' (want pam or "
				   "passwd-file)", show(w, shown,
							sizeof(shown)));
		for (size_t i = 0; i < n; i++) {
			if (list[i] == b)
				return bad(p, s, "'%s' is listed twice", w);
		}
		if (n >= CONFIG_MAX_BACKENDS)
			return bad(p, s, "too many backends (max %d)",
				   CONFIG_MAX_BACKENDS);
		list[n++] = b;
	}
	if (n == 0)
		return bad(p, s, "at least one backend is required");
	memcpy(c->auth_backends, list, n * sizeof(list[0]));
	c->n_auth_backends = n;
	return 0;
}

static int
set_log_target(struct parser *p, const struct setting *s, const char *v)
{
	char shown[SHOW_BUF];

	if (log_target_parse(v, &p->c->log_target) < 0)
		return bad(p, s, "'%s' is not stderr, syslog or file",
			   show(v, shown, sizeof(shown)));
	return 0;
}

static bool
is_env_name(const char *w)
{
	size_t n = strlen(w);

	if (n == 0 || n > 128 || (w[0] >= '0' && w[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = w[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_'))
			return false;
	}
	return true;
}

static void
free_env(char **env)
{
	for (size_t i = 0; env[i] != NULL; i++) {
		free(env[i]);
		env[i] = NULL;
	}
}

/* An empty value is allowed: the children then get no environment. */
static int
set_env(struct parser *p, const struct setting *s, char *v)
{
	char *words[CONFIG_MAX_ENV], shown[SHOW_BUF], *pos = v, *w;
	size_t n = 0;

	while ((w = next_word(&pos)) != NULL) {
		if (!is_env_name(w))
			return bad(p, s, "'%s' is not a valid environment "
				   "variable name", show(w, shown,
							 sizeof(shown)));
		for (size_t i = 0; i < n; i++) {
			if (str_eq(words[i], w))
				return bad(p, s, "'%s' is listed twice", w);
		}
		if (n >= CONFIG_MAX_ENV)
			return bad(p, s, "too many names (max %d)",
				   CONFIG_MAX_ENV);
		words[n++] = w;
	}
	free_env(p->c->import_environment);
	for (size_t i = 0; i < n; i++)
		p->c->import_environment[i] = xstrdup(words[i]);
	p->c->import_environment[n] = NULL;
	return 0;
}

static int
set_mode(struct parser *p, const struct setting *s, const char *v)
{
	char shown[SHOW_BUF];
	unsigned int m = 0;
	size_t n = strlen(v);

	if (n < 3 || n > 4 || strspn(v, "01234567") != n)
		return bad(p, s, "'%s' is not an octal mode (e.g. 0660)",
			   show(v, shown, sizeof(shown)));
	for (size_t i = 0; i < n; i++)
		m = m * 8 + (unsigned int)(v[i] - '0');
	if (m > s->max)
		return bad(p, s, "'%s' is out of range (0..0777)",
			   show(v, shown, sizeof(shown)));
	*(unsigned int *)(void *)((char *)p->c + s->off) = m;
	return 0;
}

static int
set_value(struct parser *p, const struct setting *s, char *v)
{
	switch (s->kind) {
	case K_LISTEN:
		return set_listen(p, s, v);
	case K_PATH:
		return set_path(p, s, v);
	case K_CIPHERS:
		return set_ciphers(p, s, v);
	case K_USER:
		return set_user(p, s, v);
	case K_PAM_SERVICE:
		return set_pam_service(p, s, v);
	case K_LOCATION:
		return set_location(p, s, v);
	case K_INDEX:
		return set_index(p, s, v);
	case K_UINT:
		return set_uint(p, s, v);
	case K_SIZE:
		return set_size(p, s, v);
	case K_DURATION:
		return set_duration(p, s, v);
	case K_BOOL:
		return set_bool(p, s, v);
	case K_BACKENDS:
		return set_backends(p, s, v);
	case K_LOG_TARGET:
		return set_log_target(p, s, v);
	case K_ENV:
		return set_env(p, s, v);
	case K_MODE:
		return set_mode(p, s, v);
	}
	return perr(p, "internal error: setting '%s' has no parser", s->name);
}

static const struct setting *
find_setting(const char *name)
{
	for (size_t i = 0; i < N_SETTINGS; i++) {
		if (str_eq(settings[i].name, name))
			return &settings[i];
	}
	return NULL;
}

/* --- lines ------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0.
 * Overlong forms, surrogates and code points past U+10FFFF are invalid
 * (RFC 3629 §4). */
static size_t
utf8_len(const unsigned char *s, size_t n, uint32_t *cpout)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t cp, min;

	*cpout = c;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cpout = cp;
	return len;
}

/* Rejects bytes that have no business in a text file and would end up
 * in log lines or paths: NUL, control characters other than tab, and
 * invalid UTF-8. */
static int
check_bytes(struct parser *p, const char *line, size_t len)
{
	const unsigned char *s = (const unsigned char *)line;
	size_t i = 0, n;
	uint32_t cp;

	while (i < len) {
		if (s[i] == '\0')
			return perr(p, "NUL byte");
		if ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
			return perr(p, "control character 0x%02x", s[i]);
		n = utf8_len(s + i, len - i, &cp);
		if (n == 0)
			return perr(p, "invalid UTF-8");
		/* C1 controls are as unwelcome in a log line as C0 ones. */
		if (cp >= 0x80 && cp <= 0x9f)
			return perr(p, "control character U+%04X",
				    (unsigned int)cp);
		i += n;
	}
	return 0;
}

/* Parses the value starting at s (after '=' and spaces) in place;
 * on success *value points at the NUL-terminated value. */
static int
parse_value(struct parser *p, char *s, char **value)
{
	char *out, *end;

	if (*s == '"') {
		/* Unescaping only ever shrinks, so it can be done in place. */
		out = *value = ++s;
		for (;;) {
			if (*s == '\0')
				return perr(p, "unterminated quoted value");
			if (*s == '"')
				break;
			if (*s == '\\') {
				s++;
				if (*s != '"' && *s != '\\')
					return perr(p, "invalid escape in "
						    "quoted value (only \\\" "
						    "and \\\\ are allowed)");
			}
			*out++ = *s++;
		}
		*out = '\0';
		s = skip_space(s + 1);
		if (*s != '\0' && *s != '#')
			return perr(p, "unexpected text after quoted value");
		return 0;
	}

	*value = s;
	end = s + strcspn(s, "#");
	*end = '\0';
	while (end > s && is_space(end[-1]))
		*--end = '\0';
	if (strchr(s, '"') != NULL)
		return perr(p, "unexpected '\"' in value (quote the whole "
			    "value)");
	return 0;
}

static int
parse_line(struct parser *p, char *line)
{
	char *s = skip_space(line), *key, *value, shown[SHOW_BUF];
	const struct setting *set;
	size_t idx;

	if (*s == '\0' || *s == '#')
		return 0;

	key = s;
	s += strcspn(s, " \t=#");
	if (s == key)
		return perr(p, "expected 'key = value'");
	if (*s != '\0' && *s != '=' && *s != '#') {
		*s++ = '\0';
		s = skip_space(s);
	}
	if (*s != '=') {
		*s = '\0';
		return perr(p, "expected '=' after '%s'",
			    show(key, shown, sizeof(shown)));
	}
	*s++ = '\0';

	set = find_setting(key);
	if (set == NULL) {
		size_t kl = strlen(key);

		/* Field names of durations end in _ms; the keys do not. */
		if (kl > 3 && str_eq(key + kl - 3, "_ms")) {
			key[kl - 3] = '\0';
			if (find_setting(key) != NULL)
				return perr(p, "unknown setting '%s_ms' (did "
					    "you mean '%s'?)", key, key);
			key[kl - 3] = '_';
		}
		return perr(p, "unknown setting '%s'",
			    show(key, shown, sizeof(shown)));
	}
	idx = (size_t)(set - settings);
	if (set->kind != K_LISTEN && p->seen[idx] != 0)
		return perr(p, "duplicate setting '%s' (first set on line %u)",
			    set->name, p->seen[idx]);

	if (parse_value(p, skip_space(s), &value) < 0)
		return -1;
	if (set_value(p, set, value) < 0)
		return -1;
	if (p->seen[idx] == 0)
		p->seen[idx] = p->line;
	return 0;
}

/* --- whole-file checks ------------------------------------------------- */

static unsigned int
seen_line(const struct parser *p, const char *name)
{
	const struct setting *s = find_setting(name);

	return s == NULL ? 0 : p->seen[s - settings];
}

static int
check_required(struct parser *p)
{
	struct moat_config *c = p->c;
	const struct config_listener *tls_user = NULL;
	char text[80];
	bool passwd_file = false;

	p->line = 0;
	if (c->n_listeners == 0)
		return perr(p, "missing setting 'listen' (at least one "
			    "listener is required)");

	for (size_t i = 0; i < c->n_listeners && tls_user == NULL; i++) {
		if (c->listeners[i].tls != CONFIG_TLS_NONE)
			tls_user = &c->listeners[i];
	}
	if (tls_user != NULL) {
		fmt_listener(tls_user, text, sizeof(text));
		if (c->tls_cert == NULL)
			return perr(p, "missing setting 'tls_cert' (required "
				    "by listener %s %s)", text,
				    tls_mode_name(tls_user->tls));
		if (c->tls_key == NULL)
			return perr(p, "missing setting 'tls_key' (required "
				    "by listener %s %s)", text,
				    tls_mode_name(tls_user->tls));
	}

	for (size_t i = 0; i < c->n_auth_backends; i++) {
		if (c->auth_backends[i] == CONFIG_AUTH_PASSWD_FILE)
			passwd_file = true;
	}
	if (passwd_file && c->auth_passwd_file == NULL)
		return perr(p, "missing setting 'auth_passwd_file' (required "
			    "by auth_backends passwd-file)");

	if (c->log_target == LOG_TARGET_FILE && c->log_file == NULL)
		return perr(p, "missing setting 'log_file' (required by "
			    "log_target = file)");

	if (c->last_valid_uid != 0 && c->last_valid_uid < c->first_valid_uid) {
		p->line = seen_line(p, "last_valid_uid");
		return perr(p, "invalid value for 'last_valid_uid': %u is "
			    "below first_valid_uid (%u)", c->last_valid_uid,
			    c->first_valid_uid);
	}
	return 0;
}

static struct moat_config *
config_new_defaults(const char *name)
{
	struct moat_config *c = xcalloc(1, sizeof(*c));

	c->path = xstrdup(name);
	c->tls_ciphers = xstrdup(DEFAULT_TLS_CIPHERS);
	c->tls_ciphersuites = xstrdup(DEFAULT_TLS_CIPHERSUITES);
	c->login_user = xstrdup("moat-login");
	c->login_chroot = xstrdup("/run/moat/empty");
	c->login_processes = 2;
	c->login_per_connection = false;
	c->login_max_connections = 1000;
	c->login_sandbox = true;
	c->auth_backends[0] = CONFIG_AUTH_PAM;
	c->n_auth_backends = 1;
	c->auth_pam_service = xstrdup("moat");
	c->auth_workers = 4;
	c->auth_worker_timeout_ms = 20 * SEC;
	c->auth_pam_session = false;
	c->auth_failure_delay_ms = 2 * SEC;
	c->auth_throttle_failures = 10;
	c->auth_throttle_window_ms = 5 * MINUTE;
	c->auth_cookie_lifetime_ms = 10 * SEC;
	c->mail_location = xstrdup("maildir:~/Maildir");
	c->mail_index = xstrdup("~/.moat/index");
	c->mail_fsync = true;
	c->search_fts = true;
	c->max_message_size = 64 * MIB;
	c->first_valid_uid = 1000;
	c->last_valid_uid = 0;
	c->allow_plaintext_auth = false;
	c->loopback_is_secure = true;
	c->preauth_max_line = 8 * KIB;
	c->preauth_max_literal = 8 * KIB;
	c->preauth_max_bad_commands = 10;
	c->preauth_timeout_ms = 60 * SEC;
	/* A real client logs in within seconds of connecting; two minutes
	 * also leave a user typing a password at a prompt the MUA opened
	 * after connecting one full preauth_timeout of slack. A client that
	 * NOOPs to keep a slot holds it for no longer. */
	c->preauth_max_lifetime_ms = 2 * MINUTE;
	/* CAPABILITY, ID, STARTTLS, CAPABILITY, ID and up to three login
	 * attempts, each perhaps after a CAPABILITY: about a dozen. */
	c->preauth_max_commands = 20;
	c->lmtp_socket_mode = 0660;
	c->lmtp_max_connections = 32;
	c->lmtp_max_recipients = 100;
	c->lmtp_timeout_ms = 5 * MINUTE;
	c->max_line = 64 * KIB;
	c->max_literal = 64 * MIB;
	c->idle_timeout_ms = 30 * MINUTE;
	c->output_timeout_ms = 5 * MINUTE;
	c->max_connections_per_ip = 50;
	c->max_sessions_per_user_ip = 10;
	c->max_processes = 10000;
	c->log_target = LOG_TARGET_STDERR;
	c->log_debug = false;
	c->libexec_dir = xstrdup(MOAT_LIBEXECDIR);
	c->import_environment[0] = xstrdup("TZ");
	return c;
}

int
config_parse(const char *name, const char *text, size_t len,
	     struct moat_config **out, char *err, size_t errlen)
{
	struct parser p;
	char line[CONFIG_LINE_MAX + 1];
	size_t pos = 0, n;
	const char *nl;

	memset(&p, 0, sizeof(p));
	p.name = name != NULL ? name : "(config)";
	p.err = err;
	p.errlen = errlen;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (text == NULL && len > 0)
		return perr(&p, "no text");
	if (len > CONFIG_FILE_MAX)
		return perr(&p, "file too large (max %d bytes)",
			    CONFIG_FILE_MAX);

	p.c = config_new_defaults(p.name);
	while (pos < len) {
		p.line++;
		nl = memchr(text + pos, '\n', len - pos);
		n = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
		/* Tolerate CRLF files: the CR belongs to the line ending. */
		if (n > 0 && text[pos + n - 1] == '\r' && nl != NULL)
			n--;
		if (n > CONFIG_LINE_MAX) {
			perr(&p, "line too long (max %d bytes)",
			     CONFIG_LINE_MAX);
			goto fail;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		if (check_bytes(&p, line, n) < 0 || parse_line(&p, line) < 0)
			goto fail;
		pos = nl != NULL ? (size_t)(nl - text) + 1 : len;
	}
	if (check_required(&p) < 0)
		goto fail;
	if (out != NULL)
		*out = p.c;
	else
		config_free(&p.c);
	return 0;
fail:
	config_free(&p.c);
	return -1;
}

/* ---- trusted files ---------------------------------------------------- */

/* Most symlinks followed on one path (the kernel's own limit). */
#define TRUST_MAX_LINKS 40

static int __attribute__((format(printf, 3, 4)))
terr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static bool
trusted_owner(uid_t uid, uid_t owner)
{
	return uid == 0 || uid == owner;
}

static const char *
owner_rule(uid_t owner, char *buf, size_t len)
{
	if (owner == 0)
		return "not root";
	snprintf(buf, len, "not root or uid %u", (unsigned int)owner);
	return buf;
}

/* A directory nobody else can change: a trusted owner and no group or
 * other write, or root's with the sticky bit (/tmp), where others may
 * add entries but cannot rename or remove root's. */
static int
trust_dir(const char *dir, const struct stat *st, uid_t owner, char *err,
	  size_t errlen)
{
	char rule[48];

	if (!S_ISDIR(st->st_mode))
		return terr(err, errlen, "%s is not a directory", dir);
	if (!trusted_owner(st->st_uid, owner))
		return terr(err, errlen, "directory %s is owned by uid %u, %s",
			    dir, (unsigned int)st->st_uid,
			    owner_rule(owner, rule, sizeof(rule)));
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
	    !(st->st_uid == 0 && (st->st_mode & S_ISVTX) != 0))
		return terr(err, errlen, "directory %s is writable by group "
			    "or others", dir);
	return 0;
}

static int
trust_file(const char *file, const struct stat *st, uid_t owner, char *err,
	   size_t errlen)
{
	char rule[48];

	if (!S_ISREG(st->st_mode))
		return terr(err, errlen, "%s is not a regular file", file);
	if (!trusted_owner(st->st_uid, owner))
		return terr(err, errlen, "%s is owned by uid %u, %s", file,
			    (unsigned int)st->st_uid,
			    owner_rule(owner, rule, sizeof(rule)));
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0)
		return terr(err, errlen, "%s is writable by group or others",
			    file);
	return 0;
}

/* Moves the first component of rest (skipping slashes) into comp.
 * Returns 1, 0 when rest has none left, -1 if it is too long. */
static int
next_component(char *rest, char *comp, size_t complen)
{
	char *p = rest, *e;
	size_t n;

	while (*p == '/')
		p++;
	if (*p == '\0') {
		rest[0] = '\0';
		return 0;
	}
	e = strchr(p, '/');
	n = e != NULL ? (size_t)(e - p) : strlen(p);
	if (n >= complen)
		return -1;
	memcpy(comp, p, n);
	comp[n] = '\0';
	memmove(rest, p + n, strlen(p + n) + 1);
	return 1;
}

static bool
only_slashes(const char *s)
{
	while (*s == '/')
		s++;
	return *s == '\0';
}

int
config_check_trusted_file(const char *path, uid_t owner, struct stat *out,
			  char *err, size_t errlen)
{
	char cur[PATH_MAX], rest[PATH_MAX], comp[NAME_MAX + 1];
	char next[PATH_MAX], target[PATH_MAX];
	unsigned int links = 0;
	struct stat st;
	ssize_t n;
	int got;

	/* Walk the path the way the kernel resolves it, checking every
	 * directory passed through, every symlink followed and its
	 * target, so neither the name nor what it points to can be
	 * swapped by anyone but root. cur is always symlink-free. */
	if (path[0] == '/') {
		if (str_copy(rest, path, sizeof(rest)) < 0)
			return terr(err, errlen, "%s: path too long", path);
	} else {
		if (getcwd(cur, sizeof(cur)) == NULL)
			return terr(err, errlen, "getcwd: %s",
				    strerror(errno));
		if ((size_t)snprintf(rest, sizeof(rest), "%s/%s", cur,
				     path) >= sizeof(rest))
			return terr(err, errlen, "%s: path too long", path);
	}
	str_copy(cur, "/", sizeof(cur));
	if (lstat("/", &st) < 0 || trust_dir("/", &st, owner, err,
					    errlen) < 0)
		return -1;
	while ((got = next_component(rest, comp, sizeof(comp))) != 0) {
		bool last = only_slashes(rest);

		if (got < 0)
			return terr(err, errlen, "%s: path too long", path);

		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			char *slash = strrchr(cur, '/');

			if (slash != NULL && slash != cur)
				*slash = '\0';
			else
				str_copy(cur, "/", sizeof(cur));
			continue;
		}
		if ((size_t)snprintf(next, sizeof(next), "%s%s%s", cur,
				     strcmp(cur, "/") == 0 ? "" : "/",
				     comp) >= sizeof(next))
			return terr(err, errlen, "%s: path too long", path);
		if (lstat(next, &st) < 0)
			return terr(err, errlen, "%s: %s", next,
				    strerror(errno));
		if (S_ISLNK(st.st_mode)) {
			char rule[48];

			if (++links > TRUST_MAX_LINKS)
				return terr(err, errlen, "%s: too many "
					    "symbolic links", path);
			/* In a sticky directory its owner could replace
			 * it. */
			if (!trusted_owner(st.st_uid, owner))
				return terr(err, errlen, "symlink %s is owned "
					    "by uid %u, %s", next,
					    (unsigned int)st.st_uid,
					    owner_rule(owner, rule,
						       sizeof(rule)));
			n = readlink(next, target, sizeof(target) - 1);
			if (n < 0)
				return terr(err, errlen, "%s: %s", next,
					    strerror(errno));
			target[n] = '\0';
			if (strlen(target) + 1 + strlen(rest) >= sizeof(rest))
				return terr(err, errlen, "%s: path too long",
					    path);
			/* rest = target + "/" + rest */
			memmove(rest + n + 1, rest, strlen(rest) + 1);
			memcpy(rest, target, (size_t)n);
			rest[n] = '/';
			if (target[0] == '/')
				str_copy(cur, "/", sizeof(cur));
			continue;
		}
		if (last) {
			if (trust_file(next, &st, owner, err, errlen) < 0)
				return -1;
			if (out != NULL)
				*out = st;
			return 0;
		}
		if (trust_dir(next, &st, owner, err, errlen) < 0)
			return -1;
		str_copy(cur, next, sizeof(cur));
	}
	return terr(err, errlen, "%s is not a regular file", path);
}

int
config_load(const char *path, struct moat_config **out, char *err,
	    size_t errlen)
{
	struct parser p;
	struct stat st;
	char *text;
	size_t len = 0;
	ssize_t r;
	int fd, ret;

	memset(&p, 0, sizeof(p));
	p.name = path;
	p.err = err;
	p.errlen = errlen;

	/* O_NONBLOCK: a FIFO in place of the file must not hang start-up
	 * (it is refused below); reads of regular files ignore the flag. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return perr(&p, "cannot open: %s", strerror(errno));
	if (fstat(fd, &st) < 0) {
		perr(&p, "cannot stat: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return perr(&p, "not a regular file");
	}
	/* Anyone who can write the file decides which programs moatd runs
	 * as root (libexec_dir). */
	if ((st.st_mode & S_IWOTH) != 0) {
		close(fd);
		return perr(&p, "refusing a world-writable config file");
	}
	/* As root the same goes for group write, other owners and every
	 * directory on the way (sshd's rule for its files). */
	if (geteuid() == 0) {
		struct stat walked;
		char why[512];

		if (config_check_trusted_file(path, 0, &walked, why,
					      sizeof(why)) < 0) {
			close(fd);
			return perr(&p, "refusing the config file: %s", why);
		}
		if (walked.st_dev != st.st_dev || walked.st_ino != st.st_ino) {
			close(fd);
			return perr(&p, "refusing the config file: it changed "
				    "while being checked");
		}
	}
	if (st.st_size > CONFIG_FILE_MAX) {
		close(fd);
		return perr(&p, "file too large (max %d bytes)",
			    CONFIG_FILE_MAX);
	}

	/* Read up to one byte past the cap: the file may grow after the
	 * fstat, and config_parse then reports it as too large. */
	text = xmalloc(CONFIG_FILE_MAX + 1);
	while (len < CONFIG_FILE_MAX + 1) {
		r = read(fd, text + len, CONFIG_FILE_MAX + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			perr(&p, "read error: %s", strerror(errno));
			free(text);
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	ret = config_parse(path, text, len, out, err, errlen);
	free(text);
	return ret;
}

void
config_free(struct moat_config **cp)
{
	struct moat_config *c;

	if (cp == NULL || *cp == NULL)
		return;
	c = *cp;
	free(c->path);
	for (size_t i = 0; i < c->n_listeners; i++)
		free(c->listeners[i].address);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->tls_ciphers);
	free(c->tls_ciphersuites);
	free(c->login_user);
	free(c->login_chroot);
	free(c->auth_pam_service);
	free(c->auth_passwd_file);
	free(c->mail_location);
	free(c->mail_index);
	free(c->control_socket);
	free(c->lmtp_socket);
	free(c->lmtp_socket_user);
	free(c->lmtp_socket_group);
	free(c->log_file);
	free(c->libexec_dir);
	free_env(c->import_environment);
	free(c);
	*cp = NULL;
}

const char *
config_default_path(void)
{
	return MOAT_SYSCONFDIR "/moat.conf";
}
