/*
 * moatd: the master process. Reads the config, checks the environment,
 * binds the listeners, starts auth and the imap-login pool, and then
 * supervises: respawns what dies, reloads on SIGHUP, drains on
 * SIGTERM/SIGINT. See master.h for the module map and doc/design.md
 * ("Implementation notes") for the contract with the other programs.
 *
 * Callers: the administrator (command line), the kernel (signals).
 * Trust: the config file and command line are the administrator's;
 * everything from children is handled in the other modules as untrusted.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/ev.h"
#include "core/log.h"
#include "core/privs.h"
#include "core/str.h"
#include "master/master.h"
#include "master/sdnotify.h"

struct master master = {
	.children = LIST_INIT(master.children),
	.pending_all = LIST_INIT(master.pending_all),
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: moatd [-c CONFIG] [-F | -D] [-t]\n"
		"  -c CONFIG  configuration file (default %s)\n"
		"  -F         stay in the foreground (default)\n"
		"  -D         detach and run in the background\n"
		"  -t         check the configuration and exit\n",
		config_default_path());
	exit(2);
}

/* Descriptors 0-2 must be open, or the first socket we create would
 * become someone's "stderr". */
static void
sanitize_stdio(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		int n = open("/dev/null", O_RDWR);

		if (n < 0)
			exit(1);
		if (n != fd) {
			(void)dup2(n, fd);
			close(n);
		}
	}
}

/* What imap-login needs when we are root; it would fail later anyway,
 * but only in its own log line, and the pool would respawn forever. */
static int
check_root_env(const struct moat_config *cfg, char *err, size_t len)
{
	struct stat st;
	uid_t uid;
	gid_t gid;

	if (stat(cfg->login_chroot, &st) < 0) {
		snprintf(err, len, "login_chroot %s: %s (create it: mkdir -m "
			 "755 %s)", cfg->login_chroot, strerror(errno),
			 cfg->login_chroot);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, len, "login_chroot %s is not a directory",
			 cfg->login_chroot);
		return -1;
	}
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		snprintf(err, len, "login_chroot %s must be owned by root and "
			 "not writable by group or others", cfg->login_chroot);
		return -1;
	}
	if (privs_lookup_user(cfg->login_user, &uid, &gid) < 0) {
		snprintf(err, len, "login_user %s does not exist (create a "
			 "system user for it)", cfg->login_user);
		return -1;
	}
	if (uid == 0) {
		snprintf(err, len, "login_user %s must not be root",
			 cfg->login_user);
		return -1;
	}
	return 0;
}

/* auth and imap-login must be there; imap may be missing (a warning:
 * sessions fail). As root each must be trustworthy as sshd wants its
 * files: whoever can replace one, or a directory on its path, runs code
 * as root or as every user who logs in. */
static int
check_programs(const struct moat_config *cfg, char *err, size_t len)
{
	static const char *const progs[] = { "auth", "imap-login", "imap" };
	char why[512];

	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		char *path = xasprintf("%s/%s", cfg->libexec_dir, progs[i]);
		bool optional = strcmp(progs[i], "imap") == 0;

		if (access(path, X_OK) < 0) {
			if (!optional) {
				snprintf(err, len, "cannot execute %s: %s",
					 path, strerror(errno));
				free(path);
				return -1;
			}
		} else if (master.root &&
			   config_check_trusted_file(path, 0, NULL, why,
						     sizeof(why)) < 0) {
			snprintf(err, len, "refusing %s: %s", path, why);
			free(path);
			return -1;
		}
		free(path);
	}
	return 0;
}

static void
warn_missing_imap(const struct moat_config *cfg)
{
	char *path = xasprintf("%s/imap", cfg->libexec_dir);

	if (access(path, X_OK) < 0)
		log_warn("cannot execute %s: %m; sessions will fail", path);
	free(path);
}

static void
pool_start(void)
{
	const struct moat_config *cfg = master.cfg;

	master.pool_n = 0;
	master.pool = NULL;
	if (cfg->login_per_connection || cfg->login_processes == 0)
		return;
	master.pool = xcalloc(cfg->login_processes, sizeof(*master.pool));
	master.pool_n = cfg->login_processes;
	for (size_t i = 0; i < master.pool_n; i++) {
		master.pool[i] = xcalloc(1, sizeof(*master.pool[i]));
		master.pool[i]->kind = CHILD_LOGIN;
		slot_start(master.pool[i]);
	}
}

/* The current login processes take no new connections and exit when
 * their last connection or TLS proxy is done; established sessions are
 * unaffected. */
static void
pool_retire(void)
{
	struct list *pos, *tmp;

	for (size_t i = 0; i < master.pool_n; i++)
		slot_free(&master.pool[i]);
	free(master.pool);
	master.pool = NULL;
	master.pool_n = 0;
	list_for_each_safe(pos, tmp, &master.children) {
		struct child *c = list_entry(pos, struct child, link);

		if (c->kind == CHILD_LOGIN)
			login_send_shutdown(c);
	}
}

int
master_reload(char *err, size_t len)
{
	struct moat_config *ncfg = NULL, *old;
	struct child *auth;

	if (master.stopping) {
		snprintf(err, len, "moatd is shutting down");
		return -1;
	}
	log_info("reloading %s", master.config_path);
	if (config_load(master.config_path, &ncfg, err, len) < 0) {
		log_error("reload failed, keeping the old configuration: %s",
			  err);
		return -1;
	}
	if (master.root && check_root_env(ncfg, err, len) < 0) {
		log_error("reload failed, keeping the old configuration: %s",
			  err);
		config_free(&ncfg);
		return -1;
	}
	if (check_programs(ncfg, err, len) < 0) {
		log_error("reload failed, keeping the old configuration: %s",
			  err);
		config_free(&ncfg);
		return -1;
	}
	/* The control socket stays where it was opened (doc/config.md). */
	if ((ncfg->control_socket == NULL) != (master.cfg->control_socket == NULL) ||
	    (ncfg->control_socket != NULL &&
	     !str_eq(ncfg->control_socket, master.cfg->control_socket)))
		log_warn("control_socket changed: takes effect when moatd "
			 "is restarted");
	/* Reopens a log file too, which is what log rotation wants. */
	if (log_init_master(ncfg->log_target, ncfg->log_file) < 0)
		log_error("cannot open log file %s: %m; logging as before",
			  ncfg->log_file != NULL ? ncfg->log_file : "");
	log_set_debug(ncfg->log_debug);

	old = master.cfg;
	master.cfg = ncfg;
	listeners_reload(ncfg);
	auth = auth_child();
	if (auth != NULL)
		(void)kill(auth->pid, SIGHUP);
	pool_retire();
	pool_start();
	config_free(&old);
	log_info("configuration reloaded");
	return 0;
}

void
master_maybe_finish(void)
{
	if (master.stopping && master.n_children == 0)
		ev_stop(master.ev);
}

static void
stop_timer_cb(struct ev_timer *t, void *ctx)
{
	if (master.stop_phase == 0) {
		log_warn("%u processes still running after %d s; killing them",
			 master.n_children, MASTER_STOP_GRACE_MS / 1000);
		children_signal_all(SIGKILL);
		master.stop_phase = 1;
		ev_timer_reset(master.stop_timer, 2000);
		return;
	}
	log_error("%u processes did not exit after SIGKILL; giving up",
		  master.n_children);
	ev_stop(master.ev);
}

void
master_stop(const char *why)
{
	if (master.stopping) {
		log_info("%s: already shutting down", why);
		return;
	}
	master.stopping = true;
	sdnotify_send("STOPPING=1");
	log_info("%s: shutting down", why);
	listeners_close_all();
	control_close_listener();
	ev_timer_del(&master.auth_slot.timer);
	ev_timer_del(&master.lmtp_slot.timer);
	for (size_t i = 0; i < master.pool_n; i++)
		ev_timer_del(&master.pool[i]->timer);
	children_signal_all(SIGTERM);
	master.stop_timer = ev_timer_add(master.ev, MASTER_STOP_GRACE_MS,
					 stop_timer_cb, NULL);
	master_maybe_finish();
}

static void
signal_cb(int signo, void *ctx)
{
	char err[1024];

	switch (signo) {
	case SIGCHLD:
		children_reap();
		break;
	case SIGHUP:
		sdnotify_send("RELOADING=1");
		(void)master_reload(err, sizeof(err));
		sdnotify_send("READY=1");
		break;
	case SIGTERM:
	case SIGINT:
		master_stop(strsignal(signo));
		break;
	default:
		break;
	}
}

int
main(int argc, char **argv)
{
	const char *path = NULL;
	bool test_only = false, detach = false;
	char err[1024], resolved[PATH_MAX];
	int opt;

	sanitize_stdio();
	while ((opt = getopt(argc, argv, "c:FDth")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'F':
			detach = false;
			break;
		case 'D':
			detach = true;
			break;
		case 't':
			test_only = true;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (path == NULL)
		path = config_default_path();

	if (config_load(path, &master.cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "moatd: %s\n", err);
		return 1;
	}
	/* Children and reloads must find the file whatever our cwd. */
	if (realpath(path, resolved) == NULL) {
		fprintf(stderr, "moatd: %s: %s\n", path, strerror(errno));
		return 1;
	}
	master.config_path = xstrdup(resolved);
	master.root = privs_are_root();
	if (master.root && check_root_env(master.cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "moatd: %s\n", err);
		return 1;
	}
	if (check_programs(master.cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "moatd: %s\n", err);
		return 1;
	}
	/* -t checks everything start-up checks, then stops. */
	if (test_only) {
		config_free(&master.cfg);
		return 0;
	}

	(void)signal(SIGPIPE, SIG_IGN);
	master.ev = ev_new();
	master.by_pid = htab_new();
	master.conns = htab_new();
	master.preauth_per_ip = htab_new();
	master.pending = htab_new();
	master.pending_per_ip = htab_new();
	master.sessions_per_userip = htab_new();
	master.auth_slot.kind = CHILD_AUTH;
	master.lmtp_slot.kind = CHILD_LMTP;

	if (log_init_master(master.cfg->log_target, master.cfg->log_file) < 0) {
		fprintf(stderr, "moatd: cannot open log file %s: %s\n",
			master.cfg->log_file != NULL ? master.cfg->log_file :
			"", strerror(errno));
		return 1;
	}
	log_set_debug(master.cfg->log_debug);

	if (listeners_open(master.cfg, err, sizeof(err)) < 0 ||
	    control_open(master.cfg, err, sizeof(err)) < 0) {
		if (master.cfg->log_target != LOG_TARGET_STDERR)
			log_error("%s", err);
		fprintf(stderr, "moatd: %s\n", err);
		listeners_close_all();
		return 1;
	}
	if (detach && daemon(0, master.cfg->log_target ==
			     LOG_TARGET_STDERR) < 0) {
		fprintf(stderr, "moatd: daemon: %s\n", strerror(errno));
		return 1;
	}
	master.pid = getpid();
	master.started_at = (int64_t)time(NULL);

	if (ev_signal_add(master.ev, SIGCHLD, signal_cb, NULL) < 0 ||
	    ev_signal_add(master.ev, SIGHUP, signal_cb, NULL) < 0 ||
	    ev_signal_add(master.ev, SIGTERM, signal_cb, NULL) < 0 ||
	    ev_signal_add(master.ev, SIGINT, signal_cb, NULL) < 0)
		log_fatal("cannot set up signal handling: %m");

	log_info("moatd %s starting (config %s)", PACKAGE_VERSION,
		 master.config_path);
	if (!master.root)
		log_warn("not running as root: privilege separation is off, "
			 "every process runs as uid %u",
			 (unsigned int)getuid());
	warn_missing_imap(master.cfg);

	slot_start(&master.auth_slot);
	pool_start();
	/* LMTP's settings are read at its start: a reload that changes
	 * them needs a restart of moatd (doc/config.md). */
	if (master.cfg->lmtp_socket != NULL || master.cfg->lmtp_port != 0)
		slot_start(&master.lmtp_slot);
	/* Listeners are bound and the children started: connections from
	 * now on are served (Type=notify waits for this). */
	sdnotify_ready();

	if (ev_run(master.ev) < 0)
		log_error("event loop failed: %m");
	if (master.n_children > 0)
		children_signal_all(SIGKILL);
	logpipe_drain_all();
	control_cleanup();
	log_info("moatd stopped");
	return 0;
}
