/*
 * Tests for lib/core/config.c: the syntax, every value kind, the
 * defaults, the limits, hostile bytes, and the exact error text
 * (with its line number) that an operator will read when moatd refuses
 * to start. doc/moat.conf must parse and doc/config.md must document
 * every setting.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif

/* The smallest valid file: one plaintext listener needs no TLS files. */
#define BASE "listen = 127.0.0.1:143 none\n"

static struct moat_config *
parse_ok(const char *text)
{
	struct moat_config *c = NULL;
	char err[512] = "";
	int r;

	r = config_parse("test.conf", text, strlen(text), &c, err,
			 sizeof(err));
	cr_assert_eq(r, 0, "parse of <<%s>> failed: got \"%s\", want success",
		     text, err);
	cr_assert_not_null(c, "parse of <<%s>>: got NULL config", text);
	return c;
}

/* Parses len bytes (may hold NULs) and expects exactly want. */
static void
expect_err_n(const char *what, const char *text, size_t len,
	     const char *want)
{
	struct moat_config *c = NULL;
	char err[512] = "";
	int r;

	r = config_parse("test.conf", text, len, &c, err, sizeof(err));
	cr_assert_eq(r, -1, "%s: got success, want \"%s\"", what, want);
	cr_assert_null(c, "%s: config set on failure", what);
	cr_assert_str_eq(err, want, "%s: got \"%s\", want \"%s\"", what,
			 err, want);
}

/* ---- defaults ---------------------------------------------------- */

Test(config, defaults)
{
	struct moat_config *c = parse_ok(BASE);

	cr_assert_str_eq(c->path, "test.conf");
	cr_assert_eq(c->n_listeners, 1);
	cr_assert_null(c->tls_cert);
	cr_assert_null(c->tls_key);
	cr_assert_str_eq(c->tls_ciphers, "ECDHE+AESGCM:ECDHE+CHACHA20");
	cr_assert_str_eq(c->tls_ciphersuites,
			 "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"
			 "TLS_AES_128_GCM_SHA256");
	cr_assert_str_eq(c->login_user, "moat-login");
	cr_assert_str_eq(c->login_chroot, "/run/moat/empty");
	cr_assert_eq(c->login_processes, 2);
	cr_assert_eq(c->login_per_connection, false);
	cr_assert_eq(c->login_max_connections, 1000);
	cr_assert_eq(c->n_auth_backends, 1);
	cr_assert_eq(c->auth_backends[0], CONFIG_AUTH_PAM);
	cr_assert_str_eq(c->auth_pam_service, "moat");
	cr_assert_null(c->auth_passwd_file);
	cr_assert_eq(c->auth_workers, 4);
	cr_assert_eq(c->auth_worker_timeout_ms, 20000);
	cr_assert_eq(c->auth_pam_session, false);
	cr_assert_eq(c->auth_failure_delay_ms, 2000);
	cr_assert_eq(c->auth_throttle_failures, 10);
	cr_assert_eq(c->auth_throttle_window_ms, 5 * 60 * 1000);
	cr_assert_eq(c->auth_cookie_lifetime_ms, 10000);
	cr_assert_str_eq(c->mail_location, "maildir:~/Maildir");
	cr_assert_str_eq(c->mail_index, "~/.moat/index");
	cr_assert_eq(c->mail_fsync, true);
	cr_assert_eq(c->max_message_size, 64 * 1024 * 1024);
	/* Debian's first normal user; below are system accounts. */
	cr_assert_eq(c->first_valid_uid, 1000);
	cr_assert_eq(c->last_valid_uid, 0);
	cr_assert_eq(c->allow_plaintext_auth, false);
	cr_assert_eq(c->loopback_is_secure, true);
	cr_assert_eq(c->preauth_max_line, 8192);
	cr_assert_eq(c->preauth_max_literal, 8192);
	cr_assert_eq(c->preauth_max_bad_commands, 10);
	cr_assert_eq(c->preauth_timeout_ms, 60000);
	cr_assert_eq(c->preauth_max_lifetime_ms, 120000);
	cr_assert_eq(c->preauth_max_commands, 20);
	cr_assert_eq(c->max_line, 65536);
	cr_assert_eq(c->max_literal, 64 * 1024 * 1024);
	cr_assert_eq(c->idle_timeout_ms, 30 * 60 * 1000);
	cr_assert_eq(c->output_timeout_ms, 5 * 60 * 1000);
	cr_assert_eq(c->max_connections_per_ip, 50);
	cr_assert_eq(c->max_sessions_per_user_ip, 10);
	cr_assert_eq(c->max_processes, 10000);
	cr_assert_eq(c->log_target, LOG_TARGET_STDERR);
	cr_assert_null(c->log_file);
	cr_assert_eq(c->log_debug, false);
	cr_assert_str_eq(c->libexec_dir, MOAT_LIBEXECDIR);
	cr_assert_str_eq(c->import_environment[0], "TZ");
	cr_assert_null(c->import_environment[1]);
	config_free(&c);
	cr_assert_null(c, "config_free must NULL the pointer");
}

Test(config, default_path)
{
	cr_assert_str_eq(config_default_path(), MOAT_SYSCONFDIR "/moat.conf");
}

/* ---- numeric, boolean and enum values ----------------------------- */

enum field_kind { FK_UINT, FK_U64, FK_BOOL, FK_LOG };

struct num_case {
	const char *line;
	size_t off;
	enum field_kind kind;
	uint64_t want;
};

#define OFF(f) offsetof(struct moat_config, f)

static const struct num_case num_cases[] = {
	{ "login_processes = 1", OFF(login_processes), FK_UINT, 1 },
	{ "login_processes = 256", OFF(login_processes), FK_UINT, 256 },
	{ "preauth_max_commands = 1", OFF(preauth_max_commands), FK_UINT, 1 },
	{ "preauth_max_commands = 100000", OFF(preauth_max_commands), FK_UINT,
	  100000 },
	{ "login_max_connections = 100000", OFF(login_max_connections),
	  FK_UINT, 100000 },
	{ "auth_workers = 64", OFF(auth_workers), FK_UINT, 64 },
	{ "auth_throttle_failures = 3", OFF(auth_throttle_failures), FK_UINT,
	  3 },
	{ "first_valid_uid = 1", OFF(first_valid_uid), FK_UINT, 1 },
	{ "first_valid_uid = 4294967294", OFF(first_valid_uid), FK_UINT,
	  4294967294u },
	{ "last_valid_uid = 60000", OFF(last_valid_uid), FK_UINT, 60000 },
	{ "preauth_max_bad_commands = 1", OFF(preauth_max_bad_commands),
	  FK_UINT, 1 },
	{ "max_connections_per_ip = 1", OFF(max_connections_per_ip), FK_UINT,
	  1 },
	{ "max_sessions_per_user_ip = 7", OFF(max_sessions_per_user_ip),
	  FK_UINT, 7 },
	{ "max_processes = 007", OFF(max_processes), FK_UINT, 7 },
	/* sizes: bare bytes, k/m/g in either case, the bounds */
	{ "preauth_max_line = 1024", OFF(preauth_max_line), FK_U64, 1024 },
	{ "preauth_max_line = 1k", OFF(preauth_max_line), FK_U64, 1024 },
	{ "preauth_max_line = 1M", OFF(preauth_max_line), FK_U64, 1048576 },
	{ "preauth_max_line = 16K", OFF(preauth_max_line), FK_U64, 16384 },
	{ "preauth_max_literal = 1", OFF(preauth_max_literal), FK_U64, 1 },
	{ "max_line = 16m", OFF(max_line), FK_U64, 16777216 },
	{ "max_literal = 2g", OFF(max_literal), FK_U64, 2147483648u },
	{ "max_literal = 100m", OFF(max_literal), FK_U64, 104857600 },
	/* durations: default unit seconds, ms/s/m/h */
	{ "auth_failure_delay = 0", OFF(auth_failure_delay_ms), FK_U64, 0 },
	{ "auth_failure_delay = 250ms", OFF(auth_failure_delay_ms), FK_U64,
	  250 },
	{ "auth_failure_delay = 1m", OFF(auth_failure_delay_ms), FK_U64,
	  60000 },
	{ "auth_throttle_window = 24h", OFF(auth_throttle_window_ms), FK_U64,
	  86400000 },
	{ "auth_cookie_lifetime = 1ms", OFF(auth_cookie_lifetime_ms), FK_U64,
	  1 },
	{ "auth_cookie_lifetime = 5m", OFF(auth_cookie_lifetime_ms), FK_U64,
	  300000 },
	{ "preauth_timeout = 30", OFF(preauth_timeout_ms), FK_U64, 30000 },
	{ "preauth_timeout = 1h", OFF(preauth_timeout_ms), FK_U64, 3600000 },
	{ "preauth_max_lifetime = 3m", OFF(preauth_max_lifetime_ms), FK_U64,
	  180000 },
	{ "preauth_max_lifetime = 1ms", OFF(preauth_max_lifetime_ms), FK_U64,
	  1 },
	{ "idle_timeout = 45m", OFF(idle_timeout_ms), FK_U64, 2700000 },
	{ "idle_timeout = 2s", OFF(idle_timeout_ms), FK_U64, 2000 },
	{ "output_timeout = 90s", OFF(output_timeout_ms), FK_U64, 90000 },
	/* booleans */
	{ "login_per_connection = yes", OFF(login_per_connection), FK_BOOL, 1 },
	{ "login_per_connection = true", OFF(login_per_connection), FK_BOOL,
	  1 },
	{ "login_per_connection = 1", OFF(login_per_connection), FK_BOOL, 1 },
	{ "allow_plaintext_auth = yes", OFF(allow_plaintext_auth), FK_BOOL,
	  1 },
	{ "loopback_is_secure = no", OFF(loopback_is_secure), FK_BOOL, 0 },
	{ "loopback_is_secure = false", OFF(loopback_is_secure), FK_BOOL, 0 },
	{ "loopback_is_secure = 0", OFF(loopback_is_secure), FK_BOOL, 0 },
	{ "log_debug = yes", OFF(log_debug), FK_BOOL, 1 },
	/* log target */
	{ "log_target = syslog", OFF(log_target), FK_LOG, LOG_TARGET_SYSLOG },
	{ "log_target = stderr", OFF(log_target), FK_LOG, LOG_TARGET_STDERR },
	{ "log_target = file\nlog_file = /var/log/moat.log", OFF(log_target),
	  FK_LOG, LOG_TARGET_FILE },
};

Test(config, numeric_values)
{
	char text[512];

	for (size_t i = 0; i < sizeof(num_cases) / sizeof(num_cases[0]); i++) {
		const struct num_case *t = &num_cases[i];
		struct moat_config *c;
		const char *base;
		uint64_t got = 0;

		snprintf(text, sizeof(text), BASE "%s\n", t->line);
		c = parse_ok(text);
		base = (const char *)c;
		switch (t->kind) {
		case FK_UINT:
			got = *(const unsigned int *)(const void *)(base +
								    t->off);
			break;
		case FK_U64:
			got = *(const uint64_t *)(const void *)(base + t->off);
			break;
		case FK_BOOL:
			got = *(const bool *)(const void *)(base + t->off);
			break;
		case FK_LOG:
			got = *(const enum log_target *)(const void *)(base +
								       t->off);
			break;
		}
		cr_assert_eq(got, t->want, "row %zu <%s>: got %llu, want %llu",
			     i, t->line, (unsigned long long)got,
			     (unsigned long long)t->want);
		config_free(&c);
	}
}

Test(config, string_values)
{
	struct moat_config *c = parse_ok(
		BASE
		"tls_cert = /etc/moat/cert.pem\n"
		"tls_key = /etc/moat/key.pem\n"
		"tls_ciphers = ECDHE+AESGCM\n"
		"tls_ciphersuites = TLS_AES_128_GCM_SHA256\n"
		"login_user = _imap.login-1\n"
		"login_chroot = /var/empty\n"
		"auth_pam_service = imap\n"
		"auth_passwd_file = /etc/moat/passwd\n"
		"mail_location = mbox:~/mail:INBOX=/var/mail/%u\n"
		"log_file = /var/log/moat.log\n"
		"libexec_dir = /opt/moat/libexec\n");

	cr_assert_str_eq(c->tls_cert, "/etc/moat/cert.pem");
	cr_assert_str_eq(c->tls_key, "/etc/moat/key.pem");
	cr_assert_str_eq(c->tls_ciphers, "ECDHE+AESGCM");
	cr_assert_str_eq(c->tls_ciphersuites, "TLS_AES_128_GCM_SHA256");
	cr_assert_str_eq(c->login_user, "_imap.login-1");
	cr_assert_str_eq(c->login_chroot, "/var/empty");
	cr_assert_str_eq(c->auth_pam_service, "imap");
	cr_assert_str_eq(c->auth_passwd_file, "/etc/moat/passwd");
	cr_assert_str_eq(c->mail_location, "mbox:~/mail:INBOX=/var/mail/%u");
	cr_assert_str_eq(c->log_file, "/var/log/moat.log");
	cr_assert_str_eq(c->libexec_dir, "/opt/moat/libexec");
	config_free(&c);
}

Test(config, auth_backends)
{
	struct moat_config *c;

	c = parse_ok(BASE "auth_backends = passwd-file pam\n"
		     "auth_passwd_file = /etc/moat/passwd\n");
	cr_assert_eq(c->n_auth_backends, 2, "got %zu backends, want 2",
		     c->n_auth_backends);
	cr_assert_eq(c->auth_backends[0], CONFIG_AUTH_PASSWD_FILE);
	cr_assert_eq(c->auth_backends[1], CONFIG_AUTH_PAM);
	config_free(&c);

	c = parse_ok(BASE "auth_backends = \t passwd-file  \n"
		     "auth_passwd_file = /p\n");
	cr_assert_eq(c->n_auth_backends, 1);
	cr_assert_eq(c->auth_backends[0], CONFIG_AUTH_PASSWD_FILE);
	config_free(&c);
}

Test(config, import_environment)
{
	struct moat_config *c;
	char text[2048];
	size_t n;

	c = parse_ok(BASE "import_environment = TZ LD_PRELOAD _x9\n");
	cr_assert_str_eq(c->import_environment[0], "TZ");
	cr_assert_str_eq(c->import_environment[1], "LD_PRELOAD");
	cr_assert_str_eq(c->import_environment[2], "_x9");
	cr_assert_null(c->import_environment[3]);
	config_free(&c);

	/* Empty: children get no environment at all. */
	c = parse_ok(BASE "import_environment =\n");
	cr_assert_null(c->import_environment[0]);
	config_free(&c);

	/* Exactly CONFIG_MAX_ENV names fit, NULL-terminated. */
	n = (size_t)snprintf(text, sizeof(text), BASE "import_environment =");
	for (int i = 0; i < CONFIG_MAX_ENV; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, " V%d", i);
	snprintf(text + n, sizeof(text) - n, "\n");
	c = parse_ok(text);
	cr_assert_str_eq(c->import_environment[CONFIG_MAX_ENV - 1], "V31");
	cr_assert_null(c->import_environment[CONFIG_MAX_ENV]);
	config_free(&c);
}

/* ---- syntax -------------------------------------------------------- */

Test(config, quoted_values_and_comments)
{
	struct moat_config *c = parse_ok(
		"# a comment line\n"
		"   # an indented comment\n"
		"\n"
		" \t \n"
		BASE
		"login_user = mail # the login user\n"
		"login_chroot=/var/empty#no spaces needed\n"
		"\tauth_pam_service\t=\timap\t\n"
		"mail_location = \"maildir:~/My Mail \\\"x\\\" \\\\ # kept\"  "
		"# comment\n"
		"tls_ciphers = \"  ECDHE+AESGCM  \"\n"
		"libexec_dir = \"/opt/moat dir/libexec\"#c\n"
		"log_file = /var/log/with space.log   \n");

	cr_assert_str_eq(c->login_user, "mail");
	cr_assert_str_eq(c->login_chroot, "/var/empty");
	cr_assert_str_eq(c->auth_pam_service, "imap");
	cr_assert_str_eq(c->mail_location,
			 "maildir:~/My Mail \"x\" \\ # kept",
			 "got <%s>", c->mail_location);
	cr_assert_str_eq(c->tls_ciphers, "  ECDHE+AESGCM  ");
	cr_assert_str_eq(c->libexec_dir, "/opt/moat dir/libexec");
	cr_assert_str_eq(c->log_file, "/var/log/with space.log");
	config_free(&c);
}

Test(config, line_endings_and_utf8)
{
	struct moat_config *c;

	/* CRLF and a last line without a newline. */
	c = parse_ok("# Windows\r\nlisten = 127.0.0.1:143 none\r\n"
		     "login_user = crlf\r\nlog_debug = yes");
	cr_assert_str_eq(c->login_user, "crlf");
	cr_assert_eq(c->log_debug, true);
	config_free(&c);

	/* UTF-8 in comments and in values. */
	c = parse_ok("# café ☕ 𝄞\n" BASE
		     "log_file = /var/log/mœat.log # ünïcode\n");
	cr_assert_str_eq(c->log_file, "/var/log/mœat.log");
	config_free(&c);
}

/* The text need not be NUL-terminated: give it an exact-size heap copy
 * so a sanitizer build catches any read past the end. */
Test(config, not_nul_terminated)
{
	static const char src[] = BASE "login_user = abc";
	struct moat_config *c = NULL;
	char err[256] = "";
	size_t len = strlen(src);
	char *text = malloc(len);

	cr_assert_not_null(text);
	memcpy(text, src, len);
	cr_assert_eq(config_parse("mem", text, len, &c, err, sizeof(err)), 0,
		     "got \"%s\"", err);
	cr_assert_str_eq(c->login_user, "abc");
	config_free(&c);

	/* An error on the final unterminated line. */
	memcpy(text, src, len);
	text[len - 1] = '"';
	cr_assert_eq(config_parse("mem", text, len, &c, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "mem:2: unexpected '\"' in value (quote the "
			 "whole value)", "got \"%s\"", err);
	free(text);
}

/* ---- listeners ---------------------------------------------------- */

Test(config, listeners)
{
	static const struct {
		const char *addr;
		uint16_t port;
		enum config_tls_mode tls;
	} want[] = {
		{ "*", 143, CONFIG_TLS_STARTTLS },
		{ "0.0.0.0", 993, CONFIG_TLS_IMPLICIT },
		{ "::", 143, CONFIG_TLS_STARTTLS },
		{ "::", 993, CONFIG_TLS_IMPLICIT },
		{ "::1", 1143, CONFIG_TLS_NONE },
		{ "::1", 1144, CONFIG_TLS_STARTTLS },
		{ "::ffff:127.0.0.1", 1145, CONFIG_TLS_NONE },
		{ "fe80::1", 1146, CONFIG_TLS_NONE },
		{ "127.0.0.1", 65535, CONFIG_TLS_NONE },
		{ "192.0.2.1", 1, CONFIG_TLS_STARTTLS },
	};
	struct moat_config *c = parse_ok(
		"listen = *:143\n"
		"listen = 0.0.0.0:993 tls\n"
		"listen = [::]:143 starttls\n"
		"listen = [::]:993   tls  # implicit TLS\n"
		"listen = [::1]:1143 none\n"
		"listen = [0:0:0:0:0:0:0:1]:1144\n"
		"listen = [::FFFF:127.0.0.1]:1145 none\n"
		"listen = \"[FE80::1]:1146 none\"\n"
		"listen=127.0.0.1:65535\tnone\n"
		"listen = 192.0.2.1:1\n"
		"tls_cert = /c\ntls_key = /k\n");

	cr_assert_eq(c->n_listeners, sizeof(want) / sizeof(want[0]),
		     "got %zu listeners, want %zu", c->n_listeners,
		     sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < c->n_listeners; i++) {
		cr_assert_str_eq(c->listeners[i].address, want[i].addr,
				 "listener %zu: got address %s, want %s", i,
				 c->listeners[i].address, want[i].addr);
		cr_assert_eq(c->listeners[i].port, want[i].port,
			     "listener %zu: got port %u, want %u", i,
			     c->listeners[i].port, want[i].port);
		cr_assert_eq(c->listeners[i].tls, want[i].tls,
			     "listener %zu: got mode %d, want %d", i,
			     c->listeners[i].tls, want[i].tls);
	}
	config_free(&c);
}

Test(config, listener_limit)
{
	char text[2048];
	size_t n = 0;
	struct moat_config *c;

	for (int i = 0; i < CONFIG_MAX_LISTENERS; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "listen = 127.0.0.1:%d none\n", 2000 + i);
	c = parse_ok(text);
	cr_assert_eq(c->n_listeners, CONFIG_MAX_LISTENERS);
	config_free(&c);

	snprintf(text + n, sizeof(text) - n, "listen = 127.0.0.1:3000 none\n");
	expect_err_n("17 listeners", text, strlen(text),
		     "test.conf:17: too many listeners (max 16)");
}

/* TLS files are only required when some listener speaks TLS. */
Test(config, tls_files_optional_without_tls)
{
	struct moat_config *c = parse_ok("listen = [::1]:143 none\n"
					 "listen = 127.0.0.1:143 none\n");

	cr_assert_null(c->tls_cert);
	config_free(&c);
	c = parse_ok("listen = *:993 tls\ntls_key = /k\ntls_cert = /c\n");
	cr_assert_str_eq(c->tls_cert, "/c");
	cr_assert_str_eq(c->tls_key, "/k");
	config_free(&c);
}

/* ---- errors: exact text -------------------------------------------- */

struct bad_case {
	const char *text;
	const char *want;
};

#define V(key, rest) "test.conf:2: invalid value for '" key "': " rest

static const struct bad_case bad_cases[] = {
	/* keys and syntax */
	{ "foo = 1\n", "test.conf:1: unknown setting 'foo'" },
	{ BASE "Listen = *:143\n", "test.conf:2: unknown setting 'Listen'" },
	{ BASE "preauth_timeout_ms = 5\n",
	  "test.conf:2: unknown setting 'preauth_timeout_ms' (did you mean "
	  "'preauth_timeout'?)" },
	{ BASE "foo_ms = 5\n", "test.conf:2: unknown setting 'foo_ms'" },
	{ BASE "login_user = a\nlogin_user = b\n",
	  "test.conf:3: duplicate setting 'login_user' (first set on line 2)" },
	{ BASE "\n# c\nlog_debug = no\nlog_debug = no\n",
	  "test.conf:5: duplicate setting 'log_debug' (first set on line 4)" },
	{ "\n\nlisten\n", "test.conf:3: expected '=' after 'listen'" },
	{ "listen *:143\n", "test.conf:1: expected '=' after 'listen'" },
	{ "listen#x\n", "test.conf:1: expected '=' after 'listen'" },
	{ "= 5\n", "test.conf:1: expected 'key = value'" },
	{ "  =\n", "test.conf:1: expected 'key = value'" },
	{ BASE "login_user = \"abc\n",
	  "test.conf:2: unterminated quoted value" },
	{ BASE "login_user = \"abc\\\"\n",
	  "test.conf:2: unterminated quoted value" },
	{ BASE "login_user = \"a\\nb\"\n",
	  "test.conf:2: invalid escape in quoted value (only \\\" and \\\\ "
	  "are allowed)" },
	{ BASE "login_user = \"abc\" x\n",
	  "test.conf:2: unexpected text after quoted value" },
	{ BASE "login_user = \"abc\"\"\"\n",
	  "test.conf:2: unexpected text after quoted value" },
	{ BASE "login_user = ab\"c\n",
	  "test.conf:2: unexpected '\"' in value (quote the whole value)" },
	{ BASE "\r\r\n", "test.conf:2: control character 0x0d" },
	{ BASE "login_user = a\rb\n", "test.conf:2: control character 0x0d" },
	{ BASE "# \x01\n", "test.conf:2: control character 0x01" },
	{ BASE "# \x1b[31m\n", "test.conf:2: control character 0x1b" },
	{ BASE "login_user = a\x7f\n", "test.conf:2: control character 0x7f" },
	{ BASE "# \xc2\x85\n", "test.conf:2: control character U+0085" },
	{ BASE "# \xff\n", "test.conf:2: invalid UTF-8" },
	{ BASE "# \xc0\xaf\n", "test.conf:2: invalid UTF-8" },
	{ BASE "# \xe0\x80\xaf\n", "test.conf:2: invalid UTF-8" },
	{ BASE "# \xed\xa0\x80\n", "test.conf:2: invalid UTF-8" },
	{ BASE "# \xf4\x90\x80\x80\n", "test.conf:2: invalid UTF-8" },
	{ BASE "# \xe2\x82\n", "test.conf:2: invalid UTF-8" },
	{ BASE "# \x80\n", "test.conf:2: invalid UTF-8" },
	{ BASE "# \xe2\x82", "test.conf:2: invalid UTF-8" },
	{ "listen = 127.0.0.1:143 none\r\nfoo = 1\r\n",
	  "test.conf:2: unknown setting 'foo'" },

	/* missing settings */
	{ "", "test.conf: missing setting 'listen' (at least one listener "
	  "is required)" },
	{ "# only comments\n\n", "test.conf: missing setting 'listen' (at "
	  "least one listener is required)" },
	{ "listen = 0.0.0.0:993 tls\n",
	  "test.conf: missing setting 'tls_cert' (required by listener "
	  "0.0.0.0:993 tls)" },
	{ "listen = 0.0.0.0:993 tls\ntls_cert = /c.pem\n",
	  "test.conf: missing setting 'tls_key' (required by listener "
	  "0.0.0.0:993 tls)" },
	{ "listen = [::1]:143\ntls_key = /k\n",
	  "test.conf: missing setting 'tls_cert' (required by listener "
	  "[::1]:143 starttls)" },
	{ BASE "listen = *:993 tls\n",
	  "test.conf: missing setting 'tls_cert' (required by listener "
	  "*:993 tls)" },
	{ BASE "auth_backends = pam passwd-file\n",
	  "test.conf: missing setting 'auth_passwd_file' (required by "
	  "auth_backends passwd-file)" },
	{ BASE "log_target = file\n",
	  "test.conf: missing setting 'log_file' (required by log_target = "
	  "file)" },
	{ BASE "first_valid_uid = 1000\nlast_valid_uid = 999\n",
	  "test.conf:3: invalid value for 'last_valid_uid': 999 is below "
	  "first_valid_uid (1000)" },
	{ BASE "last_valid_uid = 999\n",
	  "test.conf:2: invalid value for 'last_valid_uid': 999 is below "
	  "first_valid_uid (1000)" },

	/* listen */
	{ "listen = 127.0.0.1\n", "test.conf:1: invalid value for 'listen': "
	  "'127.0.0.1' has no port (want ADDR:PORT)" },
	{ "listen = ::1:143\n", "test.conf:1: invalid value for 'listen': "
	  "an IPv6 address must be in brackets, e.g. [::1]:143" },
	{ "listen = [::1:143\n", "test.conf:1: invalid value for 'listen': "
	  "'[::1:143' lacks the closing ']'" },
	{ "listen = [::1]143\n", "test.conf:1: invalid value for 'listen': "
	  "expected ':PORT' after ']'" },
	{ "listen = [::1]\n", "test.conf:1: invalid value for 'listen': "
	  "expected ':PORT' after ']'" },
	{ "listen = 127.0.0.1:0 none\n", "test.conf:1: invalid value for "
	  "'listen': '0' is not a port number (1-65535)" },
	{ "listen = 127.0.0.1:65536 none\n", "test.conf:1: invalid value for "
	  "'listen': '65536' is not a port number (1-65535)" },
	{ "listen = 127.0.0.1: none\n", "test.conf:1: invalid value for "
	  "'listen': '' is not a port number (1-65535)" },
	{ "listen = 127.0.0.1:+143 none\n", "test.conf:1: invalid value for "
	  "'listen': '+143' is not a port number (1-65535)" },
	{ "listen = 127.0.0.1:imap none\n", "test.conf:1: invalid value for "
	  "'listen': 'imap' is not a port number (1-65535)" },
	{ "listen = 256.0.0.1:143 none\n", "test.conf:1: invalid value for "
	  "'listen': '256.0.0.1' is not a numeric IPv4 (or *) address" },
	{ "listen = 127.0.0.01:143 none\n", "test.conf:1: invalid value for "
	  "'listen': '127.0.0.01' is not a numeric IPv4 (or *) address" },
	{ "listen = localhost:143 none\n", "test.conf:1: invalid value for "
	  "'listen': 'localhost' is not a numeric IPv4 (or *) address" },
	{ "listen = :143 none\n", "test.conf:1: invalid value for "
	  "'listen': '' is not a numeric IPv4 (or *) address" },
	{ "listen = [1.2.3.4]:143 none\n", "test.conf:1: invalid value for "
	  "'listen': '1.2.3.4' is not a numeric IPv6 address" },
	{ "listen = [*]:143 none\n", "test.conf:1: invalid value for "
	  "'listen': '*' is not a numeric IPv6 address" },
	{ "listen = [fe80::1%lo]:143 none\n", "test.conf:1: invalid value "
	  "for 'listen': 'fe80::1%lo' is not a numeric IPv6 address" },
	{ "listen = 127.0.0.1:143 ssl\n", "test.conf:1: invalid value for "
	  "'listen': unknown mode 'ssl' (want starttls, tls or none)" },
	{ "listen = 127.0.0.1:143 TLS\n", "test.conf:1: invalid value for "
	  "'listen': unknown mode 'TLS' (want starttls, tls or none)" },
	{ "listen = 127.0.0.1:143 none extra\n", "test.conf:1: invalid value "
	  "for 'listen': expected ADDR:PORT [starttls|tls|none]" },
	{ "listen =\n", "test.conf:1: invalid value for 'listen': expected "
	  "ADDR:PORT [starttls|tls|none]" },
	{ "listen = 127.0.0.1:143 none\nlisten = 127.0.0.1:143 tls\n",
	  "test.conf:2: duplicate listener 127.0.0.1:143 (first on line 1)" },
	{ "listen = *:143 none\n\nlisten = 0.0.0.0:143 none\n",
	  "test.conf:3: duplicate listener *:143 (first on line 1)" },
	{ "listen = [::]:143 none\nlisten = [0::0]:143 none\n",
	  "test.conf:2: duplicate listener [::]:143 (first on line 1)" },

	/* unsigned integers */
	{ BASE "login_processes = 0\n",
	  V("login_processes", "'0' is out of range (1..256)") },
	{ BASE "login_processes = 257\n",
	  V("login_processes", "'257' is out of range (1..256)") },
	{ BASE "login_processes = 99999999999999999999999\n",
	  V("login_processes", "'99999999999999999999999' is out of range "
	    "(1..256)") },
	{ BASE "login_processes = -1\n",
	  V("login_processes", "'-1' is not a number") },
	{ BASE "login_processes = +1\n",
	  V("login_processes", "'+1' is not a number") },
	{ BASE "login_processes = 0x10\n",
	  V("login_processes", "'0x10' is not a number") },
	{ BASE "login_processes = 2 3\n",
	  V("login_processes", "'2 3' is not a number") },
	{ BASE "login_processes =\n",
	  V("login_processes", "'' is not a number") },
	{ BASE "login_max_connections = 0\n",
	  V("login_max_connections", "'0' is out of range (1..100000)") },
	{ BASE "auth_workers = 65\n",
	  V("auth_workers", "'65' is out of range (1..64)") },
	{ BASE "auth_throttle_failures = 0\n",
	  V("auth_throttle_failures", "'0' is out of range (1..1000000)") },
	{ BASE "first_valid_uid = 0\n",
	  V("first_valid_uid", "'0' is out of range (1..4294967294)") },
	{ BASE "last_valid_uid = 4294967295\n",
	  V("last_valid_uid", "'4294967295' is out of range (0..4294967294)") },
	{ BASE "preauth_max_bad_commands = 1001\n",
	  V("preauth_max_bad_commands", "'1001' is out of range (1..1000)") },
	{ BASE "max_connections_per_ip = 0\n",
	  V("max_connections_per_ip", "'0' is out of range (1..1000000)") },
	{ BASE "max_sessions_per_user_ip = 0\n",
	  V("max_sessions_per_user_ip", "'0' is out of range (1..1000000)") },
	{ BASE "max_processes = 0\n",
	  V("max_processes", "'0' is out of range (1..1000000)") },

	/* sizes */
	{ BASE "preauth_max_line = 1023\n",
	  V("preauth_max_line", "'1023' is out of range (1k..1m)") },
	{ BASE "preauth_max_line = 1025k\n",
	  V("preauth_max_line", "'1025k' is out of range (1k..1m)") },
	{ BASE "preauth_max_line = 8kb\n",
	  V("preauth_max_line", "'8kb' is not a size (e.g. 8192, 8k, 64m, "
	    "1g)") },
	{ BASE "preauth_max_line = k\n",
	  V("preauth_max_line", "'k' is not a size (e.g. 8192, 8k, 64m, "
	    "1g)") },
	{ BASE "preauth_max_line = 8 k\n",
	  V("preauth_max_line", "'8 k' is not a size (e.g. 8192, 8k, 64m, "
	    "1g)") },
	{ BASE "preauth_max_literal = 0\n",
	  V("preauth_max_literal", "'0' is out of range (1..1m)") },
	{ BASE "preauth_max_literal = 99999999999999999999g\n",
	  V("preauth_max_literal", "'99999999999999999999g' is not a size "
	    "(e.g. 8192, 8k, 64m, 1g)") },
	{ BASE "preauth_max_literal = 17179869184g\n",
	  V("preauth_max_literal", "'17179869184g' is not a size (e.g. "
	    "8192, 8k, 64m, 1g)") },
	{ BASE "max_line = 512\n",
	  V("max_line", "'512' is out of range (1k..16m)") },
	{ BASE "max_literal = 3g\n",
	  V("max_literal", "'3g' is out of range (1..2g)") },

	/* durations */
	{ BASE "preauth_timeout = 0\n",
	  V("preauth_timeout", "'0' is out of range (1ms..1h)") },
	{ BASE "preauth_max_lifetime = 0\n",
	  V("preauth_max_lifetime", "'0' is out of range (1ms..1h)") },
	{ BASE "preauth_max_lifetime = 2h\n",
	  V("preauth_max_lifetime", "'2h' is out of range (1ms..1h)") },
	{ BASE "preauth_max_commands = 0\n",
	  V("preauth_max_commands", "'0' is out of range (1..100000)") },
	{ BASE "preauth_timeout = 5x\n",
	  V("preauth_timeout", "'5x' is not a duration (e.g. 500ms, 60s, "
	    "30m, 1h)") },
	{ BASE "preauth_timeout = 1.5s\n",
	  V("preauth_timeout", "'1.5s' is not a duration (e.g. 500ms, 60s, "
	    "30m, 1h)") },
	{ BASE "preauth_timeout = -1\n",
	  V("preauth_timeout", "'-1' is not a duration (e.g. 500ms, 60s, "
	    "30m, 1h)") },
	{ BASE "idle_timeout = 25h\n",
	  V("idle_timeout", "'25h' is out of range (1ms..24h)") },
	{ BASE "idle_timeout = 1d\n",
	  V("idle_timeout", "'1d' is not a duration (e.g. 500ms, 60s, 30m, "
	    "1h)") },
	{ BASE "auth_failure_delay = 61s\n",
	  V("auth_failure_delay", "'61s' is out of range (0ms..1m)") },
	{ BASE "auth_throttle_window = 0ms\n",
	  V("auth_throttle_window", "'0ms' is out of range (1ms..24h)") },
	{ BASE "auth_cookie_lifetime = 301s\n",
	  V("auth_cookie_lifetime", "'301s' is out of range (1ms..5m)") },
	{ BASE "auth_worker_timeout = 999ms\n",
	  V("auth_worker_timeout", "'999ms' is out of range (1s..5m)") },
	{ BASE "auth_worker_timeout = 301s\n",
	  V("auth_worker_timeout", "'301s' is out of range (1s..5m)") },

	/* booleans */
	{ BASE "log_debug = on\n", V("log_debug", "'on' is not yes or no") },
	{ BASE "log_debug = YES\n", V("log_debug", "'YES' is not yes or no") },
	{ BASE "log_debug =\n", V("log_debug", "'' is not yes or no") },
	{ BASE "allow_plaintext_auth = yes please\n",
	  V("allow_plaintext_auth", "'yes please' is not yes or no") },

	/* paths */
	{ BASE "tls_cert = cert.pem\n",
	  V("tls_cert", "'cert.pem' is not an absolute path") },
	{ BASE "tls_key = ./key.pem\n",
	  V("tls_key", "'./key.pem' is not an absolute path") },
	{ BASE "login_chroot =\n",
	  V("login_chroot", "'' is not an absolute path") },
	{ BASE "libexec_dir = \"\"\n",
	  V("libexec_dir", "'' is not an absolute path") },
	{ BASE "auth_passwd_file = ~/passwd\n",
	  V("auth_passwd_file", "'~/passwd' is not an absolute path") },
	{ BASE "log_file = moat.log\n",
	  V("log_file", "'moat.log' is not an absolute path") },

	/* names and strings */
	{ BASE "login_user = -x\n",
	  V("login_user", "'-x' is not a valid user name") },
	{ BASE "login_user = a b\n",
	  V("login_user", "'a b' is not a valid user name") },
	{ BASE "login_user = root:x\n",
	  V("login_user", "'root:x' is not a valid user name") },
	{ BASE "login_user =\n", V("login_user", "'' is not a valid user "
				   "name") },
	{ BASE "login_user = abcdefghijklmnopqrstuvwxyz0123456\n",
	  V("login_user", "'abcdefghijklmnopqrstuvwxyz0123456' is not a "
	    "valid user name") },
	{ BASE "auth_pam_service = ../shadow\n",
	  V("auth_pam_service", "'../shadow' is not a valid PAM service "
	    "name") },
	{ BASE "auth_pam_service = ..\n",
	  V("auth_pam_service", "'..' is not a valid PAM service name") },
	{ BASE "auth_pam_service =\n",
	  V("auth_pam_service", "'' is not a valid PAM service name") },
	{ BASE "mail_location = /var/mail/%u\n",
	  V("mail_location", "'/var/mail/%u' is not a mail location (want "
	    "maildir:PATH or mbox:PATH)") },
	{ BASE "mail_location = maildir:\n",
	  V("mail_location", "'maildir:' is not a mail location (want "
	    "maildir:PATH or mbox:PATH)") },
	/* mail_index: in the home, or one directory per user (%u last) */
#define IDX_WANT(v) V("mail_index", "'" v "' is not an index location " \
		      "(want ~/PATH, or /PATH/%u with %u as the last " \
		      "component)")
	{ BASE "mail_index = /var/lib/moat/index\n",
	  IDX_WANT("/var/lib/moat/index") },
	{ BASE "mail_index = /var/lib/%u/index\n",
	  IDX_WANT("/var/lib/%u/index") },
	{ BASE "mail_index = /var/lib/%u/%u\n", IDX_WANT("/var/lib/%u/%u") },
	{ BASE "mail_index = /%u\n", IDX_WANT("/%u") },
	{ BASE "mail_index = /var/../%u\n", IDX_WANT("/var/../%u") },
	{ BASE "mail_index = /var//%u\n", IDX_WANT("/var//%u") },
	{ BASE "mail_index = ~\n", IDX_WANT("~") },
	{ BASE "mail_index = ~/\n", IDX_WANT("~/") },
	{ BASE "mail_index = ~/../x\n", IDX_WANT("~/../x") },
	{ BASE "mail_index = ~/x/./y\n", IDX_WANT("~/x/./y") },
	{ BASE "mail_index = ~/x/\n", IDX_WANT("~/x/") },
	{ BASE "mail_index = ~/%x\n", IDX_WANT("~/%x") },
	{ BASE "mail_index = .moat\n", IDX_WANT(".moat") },
	{ BASE "max_message_size = 1000\n",
	  V("max_message_size", "'1000' is out of range (1k..2g)") },
	{ BASE "tls_ciphers = \"\"\n", V("tls_ciphers", "must not be empty") },
	{ BASE "tls_ciphersuites = TLS_AES_128_GCM_SHA256é\n",
	  V("tls_ciphersuites", "only printable ASCII is allowed") },
	{ BASE "tls_ciphers = \"a\tb\"\n",
	  V("tls_ciphers", "only printable ASCII is allowed") },
	{ BASE "log_target = syslogd\n",
	  V("log_target", "'syslogd' is not stderr, syslog or file") },
	{ BASE "log_target = STDERR\n",
	  V("log_target", "'STDERR' is not stderr, syslog or file") },

	/* auth_backends */
	{ BASE "auth_backends = ldap\n", V("auth_backends", "unknown backend "
	  "'ldap' (want pam or passwd-file)") },
	{ BASE "auth_backends = PAM\n", V("auth_backends", "unknown backend "
	  "'PAM' (want pam or passwd-file)") },
	{ BASE "auth_backends = pam,passwd-file\n", V("auth_backends",
	  "unknown backend 'pam,passwd-file' (want pam or passwd-file)") },
	{ BASE "auth_backends = pam pam\n",
	  V("auth_backends", "'pam' is listed twice") },
	{ BASE "auth_backends =\n",
	  V("auth_backends", "at least one backend is required") },

	/* import_environment */
	{ BASE "import_environment = 1TZ\n", V("import_environment", "'1TZ' "
	  "is not a valid environment variable name") },
	{ BASE "import_environment = TZ=UTC\n", V("import_environment",
	  "'TZ=UTC' is not a valid environment variable name") },
	{ BASE "import_environment = TZ LANG-X\n", V("import_environment",
	  "'LANG-X' is not a valid environment variable name") },
	{ BASE "import_environment = TZ HOME TZ\n",
	  V("import_environment", "'TZ' is listed twice") },
};

Test(config, bad_inputs)
{
	char what[32];

	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		snprintf(what, sizeof(what), "row %zu", i);
		expect_err_n(what, bad_cases[i].text,
			     strlen(bad_cases[i].text), bad_cases[i].want);
	}
}

/* Each bad value is echoed back, but cut so a huge value cannot flood
 * the log; the cut keeps whole UTF-8 characters. */
Test(config, long_values_are_shortened)
{
	char text[600], want[300], key[101];

	memset(key, 'a', 100);
	key[100] = '\0';
	snprintf(text, sizeof(text), "%s = 1\n", key);
	snprintf(want, sizeof(want), "test.conf:1: unknown setting '%.64s...'",
		 key);
	expect_err_n("long key", text, strlen(text), want);

	/* 63 ASCII bytes then a 2-byte character straddling the cut. */
	snprintf(text, sizeof(text), BASE "login_user = %.63sé%s\n", key, key);
	snprintf(want, sizeof(want), "test.conf:2: invalid value for "
		 "'login_user': '%.63s...' is not a valid user name", key);
	expect_err_n("long value", text, strlen(text), want);
}

Test(config, nul_bytes)
{
	static const char t1[] = BASE "login_user = a\0b\n";
	static const char t2[] = "\0";
	static const char t3[] = BASE "# comment\0\n";

	expect_err_n("NUL in value", t1, sizeof(t1) - 1,
		     "test.conf:2: NUL byte");
	expect_err_n("lone NUL", t2, sizeof(t2) - 1, "test.conf:1: NUL byte");
	expect_err_n("NUL in comment", t3, sizeof(t3) - 1,
		     "test.conf:2: NUL byte");
}

Test(config, line_length_limit)
{
	size_t n = strlen(BASE);
	char *text = malloc(n + CONFIG_LINE_MAX + 8);
	struct moat_config *c = NULL;
	char err[256];

	cr_assert_not_null(text);
	/* Exactly CONFIG_LINE_MAX bytes (a comment) is fine, also with CR. */
	memcpy(text, BASE, n);
	text[n] = '#';
	memset(text + n + 1, 'x', CONFIG_LINE_MAX - 1);
	memcpy(text + n + CONFIG_LINE_MAX, "\r\n", 2);
	cr_assert_eq(config_parse("test.conf", text, n + CONFIG_LINE_MAX + 2,
				  &c, err, sizeof(err)), 0, "got \"%s\"", err);
	config_free(&c);

	/* One more byte is an error, with or without the newline. */
	text[n + CONFIG_LINE_MAX] = 'x';
	expect_err_n("long line", text, n + CONFIG_LINE_MAX + 1,
		     "test.conf:2: line too long (max 4096 bytes)");
	text[n + CONFIG_LINE_MAX + 1] = '\n';
	expect_err_n("long line nl", text, n + CONFIG_LINE_MAX + 2,
		     "test.conf:2: line too long (max 4096 bytes)");
	free(text);
}

Test(config, file_size_limit)
{
	size_t len = CONFIG_FILE_MAX + 1, n = strlen(BASE);
	char *text = malloc(len);
	struct moat_config *c = NULL;
	char err[256];

	cr_assert_not_null(text);
	/* Lines of "#...\n", 64 bytes each, after a listener. */
	memcpy(text, BASE, n);
	for (size_t i = n; i < len; i++)
		text[i] = (i - n) % 64 == 63 ? '\n' : '#';
	cr_assert_eq(config_parse("test.conf", text, CONFIG_FILE_MAX, &c, err,
				  sizeof(err)), 0, "got \"%s\"", err);
	config_free(&c);
	expect_err_n("too large", text, len,
		     "test.conf: file too large (max 1048576 bytes)");
	free(text);
}

/* Error buffers that are small, or absent, are never overrun. */
Test(config, error_buffer)
{
	struct moat_config *c = NULL, *keep = (struct moat_config *)&c;
	char err[16];

	memset(err, 'Z', sizeof(err));
	cr_assert_eq(config_parse("test.conf", "foo = 1", 7, &c, err, 10), -1);
	cr_assert_str_eq(err, "test.conf", "got \"%s\"", err);
	cr_assert_eq(err[10], 'Z', "wrote past errlen");
	cr_assert_eq(config_parse("x", "foo = 1", 7, &c, NULL, 0), -1);
	cr_assert_eq(config_parse("x", "foo = 1", 7, &c, err, 0), -1);
	cr_assert_eq(config_parse("x", NULL, 0, &c, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "x: missing sett", "got \"%s\"", err);

	/* On failure the caller's pointer is left alone (SIGHUP keeps the
	 * old config). */
	c = keep;
	cr_assert_eq(config_parse("x", "foo", 3, &c, NULL, 0), -1);
	cr_assert_eq(c, keep, "config pointer changed on failure");

	/* A NULL out only validates. */
	cr_assert_eq(config_parse("x", BASE, strlen(BASE), NULL, NULL, 0), 0);

	c = NULL;
	config_free(&c);
	config_free(NULL);
}

/* Every setting is accepted once, refused twice (except listen), and
 * documented in doc/config.md. */
static const struct {
	const char *key;
	const char *value;
} all_settings[] = {
	{ "listen", "[::1]:1143 none" },
	{ "tls_cert", "/c" },
	{ "tls_key", "/k" },
	{ "tls_ciphers", "ECDHE+AESGCM" },
	{ "tls_ciphersuites", "TLS_AES_256_GCM_SHA384" },
	{ "login_user", "nobody" },
	{ "login_chroot", "/var/empty" },
	{ "login_processes", "4" },
	{ "login_per_connection", "yes" },
	{ "login_max_connections", "10" },
	{ "auth_backends", "pam" },
	{ "auth_pam_service", "imap" },
	{ "auth_passwd_file", "/etc/moat/passwd" },
	{ "auth_workers", "2" },
	{ "auth_worker_timeout", "5s" },
	{ "auth_pam_session", "yes" },
	{ "auth_failure_delay", "1s" },
	{ "auth_throttle_failures", "5" },
	{ "auth_throttle_window", "1m" },
	{ "auth_cookie_lifetime", "5s" },
	{ "mail_location", "maildir:~/Maildir" },
	{ "mail_index", "/var/lib/moat/index/%u" },
	{ "mail_fsync", "no" },
	{ "max_message_size", "10m" },
	{ "first_valid_uid", "1000" },
	{ "last_valid_uid", "60000" },
	{ "allow_plaintext_auth", "no" },
	{ "loopback_is_secure", "yes" },
	{ "preauth_max_line", "8k" },
	{ "preauth_max_literal", "8k" },
	{ "preauth_max_bad_commands", "5" },
	{ "preauth_timeout", "30s" },
	{ "max_line", "64k" },
	{ "max_literal", "64m" },
	{ "idle_timeout", "30m" },
	{ "output_timeout", "5m" },
	{ "max_connections_per_ip", "20" },
	{ "max_sessions_per_user_ip", "5" },
	{ "max_processes", "100" },
	{ "lmtp_socket", "/run/moat/lmtp" },
	{ "lmtp_socket_mode", "0600" },
	{ "lmtp_socket_user", "postfix" },
	{ "lmtp_socket_group", "postfix" },
	{ "lmtp_port", "2424" },
	{ "lmtp_max_connections", "8" },
	{ "lmtp_max_recipients", "50" },
	{ "lmtp_timeout", "10m" },
	{ "log_target", "stderr" },
	{ "log_file", "/var/log/moat.log" },
	{ "log_debug", "no" },
	{ "libexec_dir", "/usr/lib/moat" },
	{ "import_environment", "TZ" },
};

#define N_ALL (sizeof(all_settings) / sizeof(all_settings[0]))

/* LMTP delivery: off by default; the socket mode is octal. */
Test(config, lmtp_settings)
{
	struct moat_config *c = parse_ok(BASE);

	cr_assert_null(c->lmtp_socket);
	cr_assert_eq(c->lmtp_port, 0);
	cr_assert_eq(c->lmtp_socket_mode, 0660);
	cr_assert_null(c->lmtp_socket_user);
	cr_assert_eq(c->lmtp_max_connections, 32);
	cr_assert_eq(c->lmtp_max_recipients, 100);
	cr_assert_eq(c->lmtp_timeout_ms, 5 * 60 * 1000);
	config_free(&c);
	c = parse_ok(BASE "lmtp_socket = /run/moat/lmtp\n"
		     "lmtp_socket_mode = 600\nlmtp_socket_user = postfix\n");
	cr_assert_str_eq(c->lmtp_socket, "/run/moat/lmtp");
	cr_assert_eq(c->lmtp_socket_mode, 0600);
	cr_assert_str_eq(c->lmtp_socket_user, "postfix");
	config_free(&c);
	expect_err_n("decimal digits", BASE "lmtp_socket_mode = 0690\n",
		     strlen(BASE) + 24, "test.conf:2: invalid value for "
		     "'lmtp_socket_mode': '0690' is not an octal mode "
		     "(e.g. 0660)");
	expect_err_n("too many bits", BASE "lmtp_socket_mode = 1777\n",
		     strlen(BASE) + 24, "test.conf:2: invalid value for "
		     "'lmtp_socket_mode': '1777' is out of range (0..0777)");
	expect_err_n("relative socket", BASE "lmtp_socket = lmtp\n",
		     strlen(BASE) + 19, "test.conf:2: invalid value for "
		     "'lmtp_socket': 'lmtp' is not an absolute path");
}

Test(config, every_setting_once_and_twice)
{
	char text[512], want[256];
	struct moat_config *c;

	for (size_t i = 0; i < N_ALL; i++) {
		snprintf(text, sizeof(text), BASE "%s = %s\n",
			 all_settings[i].key, all_settings[i].value);
		c = parse_ok(text);
		config_free(&c);
		if (strcmp(all_settings[i].key, "listen") == 0)
			continue;
		snprintf(text, sizeof(text), BASE "%s = %s\n%s = %s\n",
			 all_settings[i].key, all_settings[i].value,
			 all_settings[i].key, all_settings[i].value);
		snprintf(want, sizeof(want), "test.conf:3: duplicate setting "
			 "'%s' (first set on line 2)", all_settings[i].key);
		expect_err_n(all_settings[i].key, text, strlen(text), want);
	}
}

static char *
read_whole(const char *path)
{
	FILE *f = fopen(path, "r");
	char *data;
	long n;

	cr_assert_not_null(f, "cannot open %s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	data = malloc((size_t)n + 1);
	cr_assert_not_null(data);
	cr_assert_eq(fread(data, 1, (size_t)n, f), (size_t)n);
	data[n] = '\0';
	fclose(f);
	return data;
}

Test(config, reference_documents_every_setting)
{
	char *doc = read_whole(TOP_SRCDIR "/doc/config.md");
	char needle[64];

	for (size_t i = 0; i < N_ALL; i++) {
		snprintf(needle, sizeof(needle), "`%s`", all_settings[i].key);
		cr_expect_not_null(strstr(doc, needle),
				   "doc/config.md does not document %s",
				   all_settings[i].key);
	}
	free(doc);
}

/* The index in the home (made by the session) or one directory per user
 * under an admin's directory (made by moatd). */
Test(config, mail_index_forms)
{
	static const char *const ok[] = {
		"~/.moat/index", "~/x", "~/a/b/c", "/var/lib/moat/index/%u",
		"/i/%u",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char text[256];
		struct moat_config *c;

		snprintf(text, sizeof(text), BASE "mail_index = %s\n", ok[i]);
		c = parse_ok(text);
		cr_expect_str_eq(c->mail_index, ok[i], "got %s, want %s",
				 c->mail_index, ok[i]);
		config_free(&c);
	}
}

/* ---- config_load --------------------------------------------------- */

static char tmpdir[64];

static void
mk_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/moat-test-config.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void
rm_tmpdir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		cr_log_warn("could not remove %s", tmpdir);
}

static void
write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
}

Test(config_load, files, .init = mk_tmpdir, .fini = rm_tmpdir)
{
	char path[128], want[256], err[256];
	struct moat_config *c = NULL;
	char *big;

	snprintf(path, sizeof(path), "%s/moat.conf", tmpdir);
	write_file(path, BASE "login_user = fromfile\n",
		   strlen(BASE "login_user = fromfile\n"), 0644);
	cr_assert_eq(config_load(path, &c, err, sizeof(err)), 0, "got \"%s\"",
		     err);
	cr_assert_str_eq(c->path, path);
	cr_assert_str_eq(c->login_user, "fromfile");
	config_free(&c);

	write_file(path, BASE "bogus = 1\n", strlen(BASE "bogus = 1\n"), 0600);
	cr_assert_eq(config_load(path, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:2: unknown setting 'bogus'", path);
	cr_assert_str_eq(err, want, "got \"%s\", want \"%s\"", err, want);

	/* Whoever can write the file picks what runs as root. */
	write_file(path, BASE, strlen(BASE), 0666);
	cr_assert_eq(config_load(path, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: refusing a world-writable config "
		 "file", path);
	cr_assert_str_eq(err, want, "got \"%s\", want \"%s\"", err, want);

	snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
	cr_assert_eq(config_load(path, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or "
		 "directory", path);
	cr_assert_str_eq(err, want, "got \"%s\", want \"%s\"", err, want);

	cr_assert_eq(config_load(tmpdir, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: not a regular file", tmpdir);
	cr_assert_str_eq(err, want, "got \"%s\", want \"%s\"", err, want);

	/* A FIFO would block a plain open() forever. */
	snprintf(path, sizeof(path), "%s/fifo.conf", tmpdir);
	cr_assert_eq(mkfifo(path, 0600), 0);
	cr_assert_eq(config_load(path, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: not a regular file", path);
	cr_assert_str_eq(err, want, "got \"%s\", want \"%s\"", err, want);

	snprintf(path, sizeof(path), "%s/big.conf", tmpdir);
	big = calloc(1, CONFIG_FILE_MAX + 1);
	cr_assert_not_null(big);
	memset(big, '\n', CONFIG_FILE_MAX + 1);
	write_file(path, big, CONFIG_FILE_MAX + 1, 0600);
	free(big);
	cr_assert_eq(config_load(path, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: file too large (max 1048576 bytes)",
		 path);
	cr_assert_str_eq(err, want, "got \"%s\", want \"%s\"", err, want);
	cr_assert_null(c);
}

/* ---- trusted files: sshd's rule for what moatd reads and runs ------- */

/* A uid that owns nothing here (chown needs root). */
#define OTHER_UID 4242

static void
mkdir_mode(const char *path, mode_t mode)
{
	cr_assert_eq(mkdir(path, 0700), 0, "mkdir %s: %s", path,
		     strerror(errno));
	cr_assert_eq(chmod(path, mode), 0);
}

static const char *
in_tmp(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
	return buf;
}

/* want NULL: trusted; else the exact error, "%T" standing for tmpdir. */
static void
assert_trust(const char *name, const char *want)
{
	char path[256], err[512] = "", w[512] = "";
	const char *t;
	int r;

	if (name[0] == '/')
		snprintf(path, sizeof(path), "%s", name);
	else
		in_tmp(path, sizeof(path), name);
	r = config_check_trusted_file(path, geteuid(), NULL, err, sizeof(err));
	if (want == NULL) {
		cr_assert_eq(r, 0, "%s: got \"%s\", want trusted", name, err);
		return;
	}
	/* expand %T */
	for (t = want; *t != '\0' && strlen(w) + 64 < sizeof(w); t++) {
		if (t[0] == '%' && t[1] == 'T') {
			strcat(w, tmpdir);
			t++;
		} else {
			strncat(w, t, 1);
		}
	}
	cr_assert_eq(r, -1, "%s: trusted, want \"%s\"", name, w);
	cr_assert_str_eq(err, w, "%s: got \"%s\", want \"%s\"", name, err, w);
}

static void
trust_tree(void)
{
	char p[256], q[256];

	mk_tmpdir();
	write_file(in_tmp(p, sizeof(p), "ok.conf"), BASE, strlen(BASE), 0644);
	write_file(in_tmp(p, sizeof(p), "gw.conf"), BASE, strlen(BASE), 0664);
	write_file(in_tmp(p, sizeof(p), "ow.conf"), BASE, strlen(BASE), 0646);
	mkdir_mode(in_tmp(p, sizeof(p), "gwdir"), 0775);
	write_file(in_tmp(p, sizeof(p), "gwdir/f.conf"), BASE, strlen(BASE),
		   0644);
	mkdir_mode(in_tmp(p, sizeof(p), "links"), 0755);
	cr_assert_eq(symlink("../ok.conf", in_tmp(p, sizeof(p),
						 "links/rel")), 0);
	cr_assert_eq(symlink(in_tmp(q, sizeof(q), "gwdir/f.conf"),
			     in_tmp(p, sizeof(p), "links/to-gwdir")), 0);
	cr_assert_eq(symlink("loop", in_tmp(p, sizeof(p), "links/loop")), 0);
	cr_assert_eq(symlink("../gwdir/../ok.conf",
			     in_tmp(p, sizeof(p), "links/dotdot")), 0);
}

/* The cases any user can set up. */
Test(config_trust, modes_and_links, .init = trust_tree, .fini = rm_tmpdir)
{
	assert_trust("ok.conf", NULL);
	assert_trust("gw.conf", "%T/gw.conf is writable by group or others");
	assert_trust("ow.conf", "%T/ow.conf is writable by group or others");
	assert_trust("gwdir/f.conf",
		     "directory %T/gwdir is writable by group or others");
	assert_trust("links/rel", NULL);
	/* The link is safe, where it points is not. */
	assert_trust("links/to-gwdir",
		     "directory %T/gwdir is writable by group or others");
	/* Passing through a writable directory, even on the way back. */
	assert_trust("links/dotdot",
		     "directory %T/gwdir is writable by group or others");
	assert_trust("links/loop", "%T/links/loop: too many symbolic links");
	assert_trust("links", "%T/links is not a regular file");
	assert_trust("missing.conf",
		     "%T/missing.conf: No such file or directory");
	assert_trust("ok.conf/x", "%T/ok.conf is not a directory");
}

Test(config_trust, relative_path, .init = trust_tree, .fini = rm_tmpdir)
{
	char cwd[256], err[512] = "";

	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
	cr_assert_eq(chdir(tmpdir), 0);
	cr_assert_eq(config_check_trusted_file("links/../ok.conf", geteuid(),
					       NULL, err, sizeof(err)), 0,
		     "got \"%s\"", err);
	cr_assert_eq(config_check_trusted_file("gwdir/f.conf", geteuid(),
					       NULL, err, sizeof(err)), -1);
	cr_assert_eq(chdir(cwd), 0);
}

static void
require_root(void)
{
	if (geteuid() != 0)
		cr_skip_test("ownership cases need root (chown)");
}

/* Owners: only root's files and directories are trusted (as root), and
 * a world-writable directory only if it is root's and sticky. */
Test(config_trust, owners, .init = trust_tree, .fini = rm_tmpdir)
{
	char p[256], q[256];

	require_root();
	write_file(in_tmp(p, sizeof(p), "theirs.conf"), BASE, strlen(BASE),
		   0644);
	cr_assert_eq(chown(p, OTHER_UID, OTHER_UID), 0);
	assert_trust("theirs.conf",
		     "%T/theirs.conf is owned by uid 4242, not root");

	mkdir_mode(in_tmp(p, sizeof(p), "theirdir"), 0755);
	cr_assert_eq(chown(p, OTHER_UID, 0), 0);
	write_file(in_tmp(p, sizeof(p), "theirdir/f.conf"), BASE,
		   strlen(BASE), 0644);
	assert_trust("theirdir/f.conf",
		     "directory %T/theirdir is owned by uid 4242, not root");

	/* /tmp's shape: others can add names, not replace root's. */
	mkdir_mode(in_tmp(p, sizeof(p), "sticky"), 01777);
	write_file(in_tmp(p, sizeof(p), "sticky/f.conf"), BASE, strlen(BASE),
		   0644);
	assert_trust("sticky/f.conf", NULL);
	assert_trust("/tmp/../tmp", "/tmp is not a regular file");

	/* ... but a symlink someone else put there can be swapped. */
	cr_assert_eq(symlink(in_tmp(q, sizeof(q), "ok.conf"),
			     in_tmp(p, sizeof(p), "sticky/theirlink")), 0);
	cr_assert_eq(lchown(p, OTHER_UID, OTHER_UID), 0);
	assert_trust("sticky/theirlink",
		     "symlink %T/sticky/theirlink is owned by uid 4242, not "
		     "root");

	/* A sticky directory that is not root's is its owner's to change. */
	mkdir_mode(in_tmp(p, sizeof(p), "theirsticky"), 01777);
	cr_assert_eq(chown(p, OTHER_UID, OTHER_UID), 0);
	cr_assert_eq(chmod(p, 01777), 0);
	write_file(in_tmp(p, sizeof(p), "theirsticky/f.conf"), BASE,
		   strlen(BASE), 0644);
	assert_trust("theirsticky/f.conf",
		     "directory %T/theirsticky is owned by uid 4242, not root");

	/* Group-writable and sticky is not enough without root. */
	mkdir_mode(in_tmp(p, sizeof(p), "gwsticky"), 01775);
	cr_assert_eq(chown(p, OTHER_UID, 0), 0);
	cr_assert_eq(chmod(p, 01775), 0);
	write_file(in_tmp(p, sizeof(p), "gwsticky/f.conf"), BASE,
		   strlen(BASE), 0644);
	assert_trust("gwsticky/f.conf",
		     "directory %T/gwsticky is owned by uid 4242, not root");
}

/* config_load applies the rule as root. */
Test(config_trust, config_load_as_root, .init = trust_tree,
     .fini = rm_tmpdir)
{
	struct moat_config *c = NULL;
	char p[128], want[512], err[512];

	require_root();
	cr_assert_eq(config_load(in_tmp(p, sizeof(p), "ok.conf"), &c, err,
				 sizeof(err)), 0, "got \"%s\"", err);
	config_free(&c);
	cr_assert_eq(config_load(in_tmp(p, sizeof(p), "gw.conf"), &c, err,
				 sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: refusing the config file: %s is "
		 "writable by group or others", p, p);
	cr_assert_str_eq(err, want, "got \"%s\", want \"%s\"", err, want);

	cr_assert_eq(config_load(in_tmp(p, sizeof(p), "gwdir/f.conf"), &c,
				 err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: refusing the config file: "
		 "directory %s/gwdir is writable by group or others", p,
		 tmpdir);
	cr_assert_str_eq(err, want, "got \"%s\", want \"%s\"", err, want);

	write_file(in_tmp(p, sizeof(p), "theirs.conf"), BASE, strlen(BASE),
		   0644);
	cr_assert_eq(chown(p, OTHER_UID, OTHER_UID), 0);
	cr_assert_eq(config_load(p, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: refusing the config file: %s is "
		 "owned by uid 4242, not root", p, p);
	cr_assert_str_eq(err, want, "got \"%s\", want \"%s\"", err, want);
	cr_assert_null(c);
}

/* The shipped example must load with the parser that will read it. */
Test(config_load, shipped_example)
{
	struct moat_config *c = NULL;
	char err[512] = "";

	cr_assert_eq(config_load(TOP_SRCDIR "/doc/moat.conf", &c, err,
				 sizeof(err)), 0, "doc/moat.conf: %s", err);
	cr_assert_geq(c->n_listeners, 1);
	cr_assert_not_null(c->tls_cert);
	config_free(&c);
}

/* ---- hostile bytes ----------------------------------------------------- */

/* Random mutations of a valid file must never crash or leak; the fuzzer
 * goes much further, this keeps a cheap version in every test run. */
Test(config, random_mutations)
{
	static const char seed[] =
		"listen = [::1]:993 tls # x\nlisten = *:143\n"
		"tls_cert = \"/c \\\" \\\\\"\ntls_key = /k\n"
		"auth_backends = passwd-file pam\nauth_passwd_file = /p\n"
		"preauth_max_line = 8k\nidle_timeout = 30m\n"
		"import_environment = TZ LANG\nlog_debug = yes\n";
	static const char alphabet[] = "\"\\#= \t\n\r[]:*\0\xc3\xa9\xff";
	char text[sizeof(seed)];
	unsigned int rng = 12345;

	for (int iter = 0; iter < 20000; iter++) {
		struct moat_config *c = NULL;
		char err[128];
		int edits;

		memcpy(text, seed, sizeof(seed));
		rng = rng * 1103515245u + 12345u;
		edits = 1 + (int)((rng >> 16) % 4);
		for (int e = 0; e < edits; e++) {
			size_t at;

			rng = rng * 1103515245u + 12345u;
			at = (rng >> 8) % (sizeof(seed) - 1);
			rng = rng * 1103515245u + 12345u;
			text[at] = (rng >> 16) % 2 ?
				alphabet[(rng >> 8) % (sizeof(alphabet) - 1)] :
				(char)(rng >> 8);
		}
		if (config_parse("fuzz", text, sizeof(seed) - 1, &c, err,
				 sizeof(err)) == 0)
			cr_assert_not_null(c);
		else
			cr_assert(strncmp(err, "fuzz", 4) == 0,
				  "error without the file name: \"%s\"", err);
		config_free(&c);
	}
}
