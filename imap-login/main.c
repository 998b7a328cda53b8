/*
 * imap-login: the pre-authentication IMAP process (design: "Processes",
 * "The login path"). Started by moatd as root with `imap-login -c CONFIG`
 * and fds 0,1 = /dev/null, 2 = log pipe, 3 = IPC socket to moatd.
 *
 * Start-up order is the security argument: read the config and load the
 * TLS key while root, then chroot to the empty login_chroot and drop to
 * login_user, set up the event loop and the IPC socket, and enter the
 * sandbox (rlimits, NO_NEW_PRIVS, seccomp: sandbox-policy.c) -- all
 * before the first CONN arrives, so no client byte is ever read with
 * privileges, with a filesystem in reach, or with more than the
 * allow-listed system calls.
 * Trust: argv and the config come from root (moatd); everything after
 * start-up is handled by master-conn.c (moatd) and client.c (clients).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/privs.h"
#include "login.h"
#include "sandbox-policy.h"

#define CMD_POOL_BLOCK 4096

struct login login;

static void __attribute__((noreturn))
usage(void)
{
	log_fatal("usage: imap-login -c CONFIG");
}

static void
setup_tls(const struct moat_config *cfg)
{
	char err[256];

	if (cfg->tls_cert == NULL)
		return;
	login.ssl_ctx = tls_server_ctx_new(cfg->tls_cert,
					   cfg->tls_key != NULL ?
					   cfg->tls_key : cfg->tls_cert,
					   cfg->tls_ciphers,
					   cfg->tls_ciphersuites,
					   err, sizeof(err));
	if (login.ssl_ctx == NULL)
		log_fatal("TLS: %s", err);
	/* Our output buffers move and grow between retries of a write
	 * that returned WANT_*; allow that and partial writes. */
	SSL_CTX_set_mode(login.ssl_ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
			 SSL_MODE_ENABLE_PARTIAL_WRITE);
}

/* Puts a pipe end on fd `target`: the read end of a pipe with no writer
 * (reads see EOF) or the write end of one with no reader (writes fail
 * with EPIPE) -- /dev/null's behaviour without naming a file. */
static void
dead_pipe_on(int target, bool read_end)
{
	int p[2], keep;

	if (pipe2(p, O_CLOEXEC) < 0)
		log_fatal("pipe: %m");
	keep = read_end ? p[0] : p[1];
	if (dup2(keep, target) < 0)
		log_fatal("dup2: %m");
	if (p[0] != target)
		close(p[0]);
	if (p[1] != target)
		close(p[1]);
}

/* moatd gives us /dev/null on fds 0 and 1: a file outside the chroot.
 * Harmless as a character device, but holding no descriptor into the
 * filesystem at all is the simpler invariant to check. */
static void
detach_stdio(void)
{
	dead_pipe_on(STDIN_FILENO, true);
	dead_pipe_on(STDOUT_FILENO, false);
}

static void
drop_privileges(const struct moat_config *cfg)
{
	uid_t uid;
	gid_t gid;

	if (!privs_are_root()) {
		log_warn("not running as root: no chroot, no privilege drop");
		return;
	}
	/* Looked up before the chroot hides /etc/passwd. */
	if (privs_lookup_user(cfg->login_user, &uid, &gid) < 0)
		log_fatal("login_user %s: no such user", cfg->login_user);
	if (uid == 0)
		log_fatal("login_user %s has uid 0", cfg->login_user);
	if (privs_chroot(cfg->login_chroot) < 0)
		log_fatal("chroot %s: %m", cfg->login_chroot);
	/* No supplementary groups: initgroups would need /etc/group,
	 * which is gone now, and the login user needs none. */
	if (privs_drop(NULL, uid, gid) < 0)
		log_fatal("dropping privileges to %s: %m", cfg->login_user);
	detach_stdio();
}

int
main(int argc, char **argv)
{
	const char *path = NULL;
	struct moat_config *cfg;
	char err[512];
	int opt;

	log_init_child("imap-login");
	while ((opt = getopt(argc, argv, "c:")) != -1) {
		if (opt == 'c')
			path = optarg;
		else
			usage();
	}
	if (optind != argc)
		usage();
	if (path == NULL)
		path = config_default_path();
	if (fcntl(LOGIN_IPC_FD, F_GETFD) < 0)
		log_fatal("fd %d is not open: not started by moatd?",
			  LOGIN_IPC_FD);
	if (config_load(path, &cfg, err, sizeof(err)) < 0)
		log_fatal("%s", err);
	login.cfg = cfg;
	log_set_debug(cfg->log_debug);
	/* A client that hangs up must cost us an EPIPE, not the process. */
	signal(SIGPIPE, SIG_IGN);

	setup_tls(cfg);
	drop_privileges(cfg);

	login.limits.max_line = cfg->preauth_max_line;
	login.limits.max_literal = cfg->preauth_max_literal;
	/* LOGIN with both arguments as literals is the largest legitimate
	 * pre-auth command. */
	login.limits.max_command = 2 * cfg->preauth_max_line +
		2 * cfg->preauth_max_literal;
	login.limits.literal_minus = false;
	login.cmd_pool = pool_new(CMD_POOL_BLOCK);
	login.ev = ev_new();
	master_init(LOGIN_IPC_FD);
	/* Last: everything above may open descriptors or run code the
	 * filter does not allow. */
	login_sandbox_enter(cfg);

	if (ev_run(login.ev) < 0)
		log_fatal("event loop: %m");

	client_free_all();
	master_deinit();
	pool_free(&login.cmd_pool);
	ev_free(&login.ev);
	if (login.ssl_ctx != NULL)
		SSL_CTX_free(login.ssl_ctx);
	config_free(&cfg);
	return 0;
}
