/*
 * moatctl: administer a running moatd and its users' mail stores
 * (moatctl(8)). Run by root. The daemon commands go to moatd's control
 * socket (ctl.c); the per-user store work is done here, in a child that
 * becomes the user (userwork.c).
 *
 * Callers: the administrator and their scripts (--json).
 * Trust: the command line is root's; the config file is read as moatd
 * reads it; what moatd answers is checked (ctl.c).
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "core/str.h"
#include "moatctl/moatctl.h"

static const char usage_text[] =
	"usage: moatctl [-c CONFIG] [-s SOCKET] [--json] COMMAND [ARGS]\n"
	"\n"
	"Commands (moatd):\n"
	"  who                          logged-in sessions\n"
	"  kick USER                    end every session of USER\n"
	"  kick --session ID            end one session (ID from who)\n"
	"  reload                       reload the configuration (SIGHUP)\n"
	"  stop                         stop moatd and wait for it to exit\n"
	"  stats                        counters\n"
	"Commands (a user's mail store, done as that user):\n"
	"  index check USER             compare the index with the files\n"
	"  index rebuild USER [MAILBOX] rebuild the index from the files\n"
	"  import USER PATH [--mailbox NAME]\n"
	"                               import an mbox file or a Maildir\n"
	"  export USER DIR --format maildir|mbox\n"
	"                               export every mailbox into DIR\n"
	"\n"
	"Options:\n"
	"  -c CONFIG   configuration file (default %s)\n"
	"  -s SOCKET   control socket (default: control_socket of CONFIG)\n"
	"  --json      machine-readable output\n"
	"  -h, --help  this text\n"
	"\n"
	"Exit status: 0 ok, 1 error, 2 usage, 3 moatd not running,\n"
	"4 permission denied. See moatctl(8).\n";

static bool json_errors;

/* The last "control_socket = PATH" line of a config file that did not
 * load (moatd keeps running with the file it loaded before). */
static void
scan_control_socket(const char *path, char *out, size_t len)
{
	char line[1024];
	FILE *f = fopen(path, "re");

	out[0] = '\0';
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *s = str_trim(line), *eq;

		if (!str_has_prefix(s, "control_socket"))
			continue;
		eq = str_trim(s + strlen("control_socket"));
		if (eq[0] != '=')
			continue;
		eq = str_trim(eq + 1);
		if (eq[0] == '/')
			(void)str_copy(out, eq, len);
	}
	fclose(f);
}

void
usage_hint(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "moatctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'moatctl --help'.\n");
}

int
ctl_fail(const struct ctl_opts *o, int code, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "moatctl: %s\n", msg);
	if (o->json || json_errors) {
		printf("{\"ok\":false,\"exit\":%d,\"error\":", code);
		json_str(stdout, msg);
		printf("}\n");
	}
	return code;
}

int
main(int argc, char **argv)
{
	struct ctl_opts o;
	char **args;
	int n = 0, rc;

	memset(&o, 0, sizeof(o));
	o.config_path = config_default_path();
	(void)log_init_master(LOG_TARGET_STDERR, NULL);
	/* A refused connection is closed by moatd: an error, not a
	 * signal. */
	(void)signal(SIGPIPE, SIG_IGN);
	/* Options first; --json is also taken after the command, where
	 * scripts tend to put it. */
	args = xcalloc((size_t)argc + 1, sizeof(*args));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (str_eq(a, "--json")) {
			o.json = true;
		} else if (n == 0 && (str_eq(a, "-h") || str_eq(a, "--help"))) {
			printf(usage_text, config_default_path());
			free(args);
			return CTL_EXIT_OK;
		} else if (n == 0 && (str_eq(a, "-c") || str_eq(a, "-s"))) {
			if (i + 1 >= argc) {
				usage_hint("%s needs an argument", a);
				free(args);
				return CTL_EXIT_USAGE;
			}
			if (a[1] == 'c')
				o.config_path = argv[++i];
			else
				o.socket_path = argv[++i];
		} else if (n == 0 && a[0] == '-') {
			usage_hint("unknown option %s", a);
			free(args);
			return CTL_EXIT_USAGE;
		} else {
			args[n++] = argv[i];
		}
	}
	json_errors = o.json;
	if (n == 0) {
		usage_hint("no command");
		free(args);
		return CTL_EXIT_USAGE;
	}
	if (config_load(o.config_path, &o.cfg, o.cfg_error,
			sizeof(o.cfg_error)) < 0) {
		o.cfg = NULL;
		scan_control_socket(o.config_path, o.fallback_socket,
				    sizeof(o.fallback_socket));
		if (o.socket_path == NULL && o.fallback_socket[0] != '\0')
			fprintf(stderr, "moatctl: warning: %s\n", o.cfg_error);
	}

	if (str_eq(args[0], "who") || str_eq(args[0], "kick") ||
	    str_eq(args[0], "reload") || str_eq(args[0], "stop") ||
	    str_eq(args[0], "stats")) {
		rc = ctl_daemon_cmd(&o, n, args);
	} else if (str_eq(args[0], "index") || str_eq(args[0], "import") ||
		   str_eq(args[0], "export")) {
		if (o.cfg == NULL)
			rc = ctl_fail(&o, CTL_EXIT_ERROR, "%s", o.cfg_error);
		else
			rc = ctl_user_cmd(&o, n, args);
	} else {
		usage_hint("unknown command %s", args[0]);
		rc = CTL_EXIT_USAGE;
	}
	config_free(&o.cfg);
	free(args);
	return rc;
}
