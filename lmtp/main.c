/*
 * moat-lmtp: LMTP delivery (RFC 2033), started and supervised by moatd
 * like auth (libexec/moat/lmtp -c CONFIG; fd 2 the log pipe, fd 3 the
 * IPC socket to moatd, whose EOF means "stop").
 *
 * Processes (doc/design.md, "LMTP delivery"):
 *   lmtp (root)             binds lmtp_socket (mode, owner and group set
 *                           while root) and 127.0.0.1:lmtp_port, accepts,
 *                           and forks one monitor per connection; never
 *                           reads a byte a client sent
 *   monitor (root)          one per connection: forks the front, answers
 *                           its lookups (lmtp/lookup.c) and forks one
 *                           delivery process per recipient
 *   front (login_user)      chrooted to login_chroot, NO_NEW_PRIVS, no
 *                           children: the LMTP protocol (lmtp/front.c)
 *   delivery (the user)     setgroups/setresgid/setresuid to the user's
 *                           ids, enters the home, store_append; its exit
 *                           status is the result (lmtp/deliver.h)
 * Not root: no drops, everything runs as the invoking user.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/config.h"
#include "core/ipc.h"
#include "core/log.h"
#include "core/net.h"
#include "core/privs.h"
#include "core/str.h"
#include "lmtp/deliver.h"
#include "lmtp/front.h"
#include "lmtp/lookup.h"
#include "lmtp/lmtp-proto.h"
#include "storage/mbox-lock.h"
#include "storage/store.h"

#define LMTP_MOATD_FD 3

static struct moat_config *cfg;
static char hostname[256];
static volatile sig_atomic_t got_term;

static void
on_term(int signo)
{
	(void)signo;
	got_term = 1;
}

/* ---- the delivery process (becomes the user) ---- */

static void __attribute__((noreturn))
delivery_main(const struct auth_user *u, int mfd, const char *sender,
	      const char *rcpt)
{
	struct store_settings set;
	struct deliver_req rq;
	enum deliver_result r;
	struct stat st;
	struct rlimit rl = { 0, 0 };
	char why[512];
	void *data = NULL;

	log_init_child("lmtp");
	if (auth_become_user(u) < 0) {
		log_error("delivery: cannot become user=%s: %m",
			  LOG_Q(u->user));
		_exit(DELIVER_TEMP);
	}
	(void)prctl(PR_SET_DUMPABLE, 0L, 0L, 0L, 0L);
	(void)setrlimit(RLIMIT_CORE, &rl);
	if (chdir(u->home) < 0) {
		log_error("delivery: cannot enter home %s of user=%s: %m",
			  u->home, LOG_Q(u->user));
		_exit(DELIVER_TEMP);
	}
	memset(&set, 0, sizeof(set));
	set.location = deliver_expand(u->mail, u->home, u->user);
	set.user = u->user;
	if (set.location != NULL && store_needs_lock_helper(&set) &&
	    mbox_lock_helper_start() < 0)
		log_error("delivery: cannot start the dotlock helper: %m");
	(void)prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L);
	if (fstat(mfd, &st) < 0 || (uint64_t)st.st_size > cfg->max_message_size)
		_exit(DELIVER_TOOBIG);
	if (st.st_size > 0) {
		data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE,
			    mfd, 0);
		if (data == MAP_FAILED)
			_exit(DELIVER_TEMP);
	}
	memset(&rq, 0, sizeof(rq));
	rq.user = u->user;
	rq.home = u->home;
	rq.mail = u->mail;
	rq.index = cfg->mail_index;
	rq.fsync = cfg->mail_fsync;
	rq.no_fts = !cfg->search_fts;
	rq.max_size = cfg->max_message_size;
	rq.sender = sender;
	rq.rcpt = rcpt;
	rq.data = data != NULL ? data : "";
	rq.len = (size_t)st.st_size;
	r = deliver_message(&rq, why, sizeof(why));
	mbox_lock_helper_stop();
	if (r == DELIVER_OK)
		log_info("delivered: user=%s from=%s %s", LOG_Q(u->user),
			 LOG_Q(sender), why);
	else
		log_warn("delivery failed: user=%s from=%s: %s: %s",
			 LOG_Q(u->user), LOG_Q(sender), deliver_reply(r), why);
	_exit(r);
}

/* ---- the connection monitor (root) ---- */

static bool
header_text_ok(const char *s)
{
	for (; *s != '\0'; s++)
		/* A space only inside a quoted local part. */
		if ((unsigned char)*s < 32 || (unsigned char)*s > 126 ||
		    *s == '<' || *s == '>')
			return false;
	return true;
}

/* Forks the delivery and waits for it: its exit status is the result,
 * and only a clean exit with DELIVER_OK (the message is on disk) lets
 * the front say 250. A killed delivery is a temporary failure. */
static uint32_t
monitor_deliver(struct pwfile_cache *pwc, const struct ipc_msg *msg)
{
	char user[IPC_USER_MAX + 1], sender[LMTP_PATH_MAX + 1];
	char rcpt[LMTP_PATH_MAX + 1];
	struct auth_user u;
	struct ipc_rd rd;
	struct stat st;
	int status;
	pid_t pid;

	ipc_rd_init(&rd, msg);
	if (ipc_get_str(&rd, user, sizeof(user)) < 0 ||
	    ipc_get_str(&rd, sender, sizeof(sender)) < 0 ||
	    ipc_get_str(&rd, rcpt, sizeof(rcpt)) < 0 || ipc_rd_end(&rd) < 0 ||
	    msg->fd < 0 || !header_text_ok(sender) || !header_text_ok(rcpt))
		return UINT32_MAX;
	/* A sealed memfd of a bounded size, not some other descriptor. */
	if (fstat(msg->fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (fcntl(msg->fd, F_GET_SEALS) & F_SEAL_WRITE) == 0)
		return UINT32_MAX;
	if ((uint64_t)st.st_size > cfg->max_message_size)
		return DELIVER_TOOBIG;
	switch (lmtp_lookup(cfg, pwc, user, &u)) {
	case IPC_ST_OK:
		break;
	case IPC_ST_FAIL:
		return DELIVER_NOUSER;
	default:
		return DELIVER_TEMP;
	}
	pid = fork();
	if (pid < 0)
		return DELIVER_TEMP;
	if (pid == 0) {
		/* The user's process keeps the message (as fd 3) and the
		 * log, nothing else: not the socket to the front. */
		if (dup2(msg->fd, 3) < 0)
			_exit(DELIVER_TEMP);
		privs_close_from(4);
		delivery_main(&u, 3, sender, rcpt);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return DELIVER_TEMP;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) > DELIVER_RESULT_MAX) {
		log_warn("delivery for user=%s ended without a result "
			 "(status 0x%x): answered as a temporary failure",
			 LOG_Q(u.user), (unsigned int)status);
		return DELIVER_TEMP;
	}
	return (uint32_t)WEXITSTATUS(status);
}

static void __attribute__((noreturn))
monitor_main(int mon)
{
	static uint8_t rbuf[IPC_MSG_MAX];
	struct pwfile_cache pwc, *pwcp = NULL;

	if (cfg->auth_passwd_file != NULL) {
		pwfile_cache_init(&pwc, cfg->auth_passwd_file);
		pwcp = &pwc;
	}
	for (;;) {
		char local[LMTP_PATH_MAX + 1];
		enum ipc_recv_result rr;
		struct auth_user u;
		struct ipc_msg msg;
		struct ipc_out o;
		struct ipc_rd rd;
		uint32_t st;

		rr = ipc_recv(mon, rbuf, sizeof(rbuf), &msg);
		if (rr == IPC_RECV_AGAIN)
			continue;
		if (rr != IPC_RECV_OK)
			_exit(rr == IPC_RECV_EOF ? 0 : 1);
		if (msg.type == IPC_LMTP_LOOKUP && msg.fd < 0) {
			ipc_rd_init(&rd, &msg);
			if (ipc_get_str(&rd, local, sizeof(local)) < 0 ||
			    ipc_rd_end(&rd) < 0)
				goto bad;
			st = lmtp_lookup(cfg, pwcp, local, &u);
			ipc_out_init(&o, IPC_LMTP_LOOKUP_RESULT, msg.id);
			ipc_put_u32(&o, st);
			ipc_put_str(&o, st == IPC_ST_OK ? u.user : "");
		} else if (msg.type == IPC_LMTP_DELIVER) {
			st = monitor_deliver(pwcp, &msg);
			if (st == UINT32_MAX)
				goto bad;
			close(msg.fd);
			ipc_out_init(&o, IPC_LMTP_DELIVER_RESULT, msg.id);
			ipc_put_u32(&o, st);
		} else {
			goto bad;
		}
		if (ipc_send(mon, &o, -1) < 0)
			_exit(1);
		ipc_out_free(&o);
		continue;
bad:
		/* The front is ours but faces the network: a broken
		 * message means it is compromised. */
		log_error("malformed or unexpected message (type %u) from the "
			  "LMTP front: closing the connection", msg.type);
		_exit(1);
	}
}

/* The front drops everything before it reads the connection. */
static int
front_drop(void)
{
	struct rlimit rl = { 0, 0 };
	uid_t uid;
	gid_t gid;

	if (geteuid() == 0) {
		if (privs_lookup_user(cfg->login_user, &uid, &gid) < 0) {
			log_error("login_user %s: no such user",
				  cfg->login_user);
			return -1;
		}
		if (privs_chroot(cfg->login_chroot) < 0 ||
		    setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
		    setresuid(uid, uid, uid) < 0 || setuid(0) == 0)
			return -1;
	}
	(void)prctl(PR_SET_DUMPABLE, 0L, 0L, 0L, 0L);
	if (setrlimit(RLIMIT_NPROC, &rl) < 0 ||
	    setrlimit(RLIMIT_CORE, &rl) < 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) < 0)
		return -1;
	return 0;
}

static void __attribute__((noreturn))
connection_main(int cfd)
{
	struct front_settings fs;
	int sv[2], status;
	pid_t front;

	(void)prctl(PR_SET_PDEATHSIG, (long)SIGTERM, 0L, 0L, 0L);
	signal(SIGTERM, SIG_DFL);
	if (net_seqpacket_pair(sv, false) < 0)
		_exit(1);
	front = fork();
	if (front < 0)
		_exit(1);
	if (front == 0) {
		close(sv[0]);
		(void)prctl(PR_SET_PDEATHSIG, (long)SIGKILL, 0L, 0L, 0L);
		if (front_drop() < 0) {
			log_error("LMTP front: cannot drop privileges: %m");
			_exit(1);
		}
		memset(&fs, 0, sizeof(fs));
		fs.max_size = cfg->max_message_size;
		fs.max_rcpts = cfg->lmtp_max_recipients;
		fs.timeout_ms = cfg->lmtp_timeout_ms;
		fs.hostname = hostname;
		front_run(cfd, sv[1], &fs);
		_exit(0);
	}
	/* The monitor never touches the connection. */
	close(cfd);
	close(sv[1]);
	(void)status;
	monitor_main(sv[0]);
}

/* ---- the listener (root) ---- */

static int
listen_unix(const char *path)
{
	struct sockaddr_un sa;
	char tmp[sizeof(sa.sun_path) + 8];
	struct stat st;
	uid_t uid = 0;
	gid_t gid = 0;
	mode_t old;
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error("lmtp_socket %s: path too long", path);
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	/* A stale socket from our last run goes; anything else stays. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error("lmtp_socket %s exists and is not a socket",
				  path);
			return -1;
		}
	}
	/* Made under a temporary name and renamed into place once its
	 * owner and mode are set and it listens: nobody can connect while
	 * it still has the umask's mode, and an MTA never finds the name
	 * refusing connections. */
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	if (strlen(tmp) >= sizeof(sa.sun_path)) {
		log_error("lmtp_socket %s: path too long", path);
		return -1;
	}
	memcpy(sa.sun_path, tmp, strlen(tmp) + 1);
	(void)unlink(tmp);
	if (cfg->lmtp_socket_user != NULL &&
	    privs_lookup_user(cfg->lmtp_socket_user, &uid, &gid) < 0) {
		log_error("lmtp_socket_user %s: no such user",
			  cfg->lmtp_socket_user);
		return -1;
	}
	if (cfg->lmtp_socket_group != NULL) {
		struct group *gr = getgrnam(cfg->lmtp_socket_group);

		if (gr == NULL) {
			log_error("lmtp_socket_group %s: no such group",
				  cfg->lmtp_socket_group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	old = umask(0077);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 ||
	    (geteuid() == 0 && (cfg->lmtp_socket_user != NULL ||
				cfg->lmtp_socket_group != NULL) &&
	     chown(tmp, cfg->lmtp_socket_user != NULL ? uid : (uid_t)-1,
		   gid != 0 || cfg->lmtp_socket_group != NULL ? gid :
		   (gid_t)-1) < 0) ||
	    chmod(tmp, (mode_t)cfg->lmtp_socket_mode) < 0 ||
	    listen(fd, 64) < 0 || rename(tmp, path) < 0) {
		log_error("lmtp_socket %s: %m", path);
		(void)unlink(tmp);
		close(fd);
		return -1;
	}
	return fd;
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: lmtp -c CONFIG\n");
	exit(64);
}

int
main(int argc, char **argv)
{
	const char *cfg_path = NULL;
	struct pollfd pfd[3];
	unsigned int n_conns = 0, npfd = 0;
	char err[512];
	int opt;

	log_init_child("lmtp");
	while ((opt = getopt(argc, argv, "c:")) != -1) {
		if (opt != 'c')
			usage();
		cfg_path = optarg;
	}
	if (cfg_path == NULL || optind != argc)
		usage();
	if (config_load(cfg_path, &cfg, err, sizeof(err)) < 0)
		log_fatal("%s", err);
	log_set_debug(cfg->log_debug);
	if (gethostname(hostname, sizeof(hostname) - 1) < 0 ||
	    hostname[0] == '\0' ||
	    strspn(hostname, "abcdefghijklmnopqrstuvwxyz"
		   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") !=
	    strlen(hostname))
		(void)str_copy(hostname, "localhost", sizeof(hostname));
	signal(SIGPIPE, SIG_IGN);
	/* Settings are read at start (doc/config.md): a reload is a
	 * restart of moatd, and a stray SIGHUP must not stop delivery. */
	signal(SIGHUP, SIG_IGN);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);

	pfd[npfd].fd = LMTP_MOATD_FD;
	pfd[npfd++].events = POLLIN;
	if (cfg->lmtp_socket != NULL) {
		pfd[npfd].fd = listen_unix(cfg->lmtp_socket);
		if (pfd[npfd].fd < 0)
			log_fatal("cannot listen on lmtp_socket %s",
				  cfg->lmtp_socket);
		pfd[npfd++].events = POLLIN;
	}
	if (cfg->lmtp_port != 0) {
		pfd[npfd].fd = net_listen("127.0.0.1",
					  (uint16_t)cfg->lmtp_port, 64);
		if (pfd[npfd].fd < 0)
			log_fatal("cannot listen on 127.0.0.1:%u: %m",
				  cfg->lmtp_port);
		(void)net_set_nonblock(pfd[npfd].fd, false);
		pfd[npfd++].events = POLLIN;
	}
	log_info("LMTP ready%s%s%s", cfg->lmtp_socket != NULL ? " on " : "",
		 cfg->lmtp_socket != NULL ? cfg->lmtp_socket : "",
		 cfg->lmtp_port != 0 ? " and 127.0.0.1" : "");
	while (!got_term) {
		int status;
		pid_t pid;

		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			if (n_conns > 0)
				n_conns--;
		if (poll(pfd, npfd, 1000) < 0) {
			if (errno == EINTR)
				continue;
			log_fatal("poll: %m");
		}
		if (pfd[0].revents != 0) {
			char c;

			/* moatd closed our IPC socket (or died): stop. */
			if (read(LMTP_MOATD_FD, &c, 1) <= 0) {
				log_info("moatd went away: stopping (revents "
					 "0x%x)", (unsigned int)pfd[0].revents);
				break;
			}
		}
		for (unsigned int i = 1; i < npfd; i++) {
			int cfd;

			if ((pfd[i].revents & POLLIN) == 0)
				continue;
			cfd = accept4(pfd[i].fd, NULL, NULL, SOCK_CLOEXEC);
			if (cfd < 0)
				continue;
			if (n_conns >= cfg->lmtp_max_connections) {
				static const char busy[] =
				    "421 4.3.2 Too many connections, try "
				    "again later\r\n";

				(void)send(cfd, busy, sizeof(busy) - 1,
					   MSG_NOSIGNAL | MSG_DONTWAIT);
				close(cfd);
				continue;
			}
			pid = fork();
			if (pid == 0) {
				for (unsigned int j = 0; j < npfd; j++)
					close(pfd[j].fd);
				connection_main(cfd);
			}
			if (pid > 0)
				n_conns++;
			else
				log_error("fork: %m");
			close(cfd);
		}
	}
	if (cfg->lmtp_socket != NULL)
		(void)unlink(cfg->lmtp_socket);
	/* Connections in progress finish or die with PDEATHSIG. */
	config_free(&cfg);
	return 0;
}
