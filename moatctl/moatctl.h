/*
 * moatctl: the administrator's command line (moatctl(8)).
 *
 *   main.c      options, the command table, exit codes
 *   ctl.c       who, kick, reload, stop, stats: requests to moatd over
 *               its control socket (master/control.c)
 *   userwork.c  index check/rebuild, import, export: done here, in a
 *               child that has become the user
 *   out.c       --json output and plain tables
 */
#ifndef MOAT_MOATCTL_H
#define MOAT_MOATCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct moat_config;

/* Exit codes (moatctl(8), EXIT STATUS). */
enum {
	CTL_EXIT_OK = 0,
	CTL_EXIT_ERROR = 1,
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_NOT_RUNNING = 3,   /* no moatd on the control socket */
	CTL_EXIT_DENIED = 4,        /* the control socket refused us */
};

struct ctl_opts {
	bool json;
	const char *config_path;
	const char *socket_path;    /* -s, else control_socket */
	struct moat_config *cfg;    /* NULL if it could not be loaded */
	char cfg_error[1024];
	/* control_socket read from a config that does not load */
	char fallback_socket[256];
};

/* Prints an error (stderr, and {"ok":false,...} on stdout with --json);
 * returns code. */
int ctl_fail(const struct ctl_opts *o, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void usage_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ctl.c: argv[0] is the command. */
int ctl_daemon_cmd(const struct ctl_opts *o, int argc, char **argv);

/* userwork.c: argv[0] is the command ("index", "import", "export"). */
int ctl_user_cmd(const struct ctl_opts *o, int argc, char **argv);

/* out.c: JSON text of s (quoted, escaped) on f. */
void json_str(FILE *f, const char *s);
/* "2026-12-02T07:33:15Z" */
void fmt_utc(int64_t t, char *buf, size_t len);
/* "3d 04:05:06" */
void fmt_duration(uint64_t secs, char *buf, size_t len);

#endif
