/*
 * session: start-up of the imap process and its link to moatd: taking on
 * the user's ids, the process limits, SESSION_INIT, the home directory.
 * Callers: main.c (and the tests, for decoding and running). The
 * arguments and SESSION_INIT come from moatd, which is trusted more than
 * the client but is still checked field by field: a malformed message
 * means moatd is broken, and we refuse to serve rather than guess.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/ev.h"
#include "core/log.h"
#include "core/net.h"
#include "core/num.h"
#include "core/str.h"
#include "imap/client.h"
#include "imap/imap-settings.h"
#include "imap/parser.h"
#include "imap/session.h"
#include "storage/mbox-lock.h"
#include "storage/store.h"

/* GROUPS of "-G": comma-separated decimal gids, none of them 0 or
 * (gid_t)-1, at most IPC_GROUPS_MAX; "" is no group. */
static int
session_groups_parse(const char *s, struct session_ids *ids)
{
	ids->n_groups = 0;
	if (*s == '\0')
		return 0;
	for (;;) {
		size_t len = strcspn(s, ",");
		uint64_t v;

		if (ids->n_groups == IPC_GROUPS_MAX ||
		    num_parse_u64_n(s, len, UINT32_MAX - 1, &v) < 0 || v == 0)
			return -1;
		ids->groups[ids->n_groups++] = (gid_t)v;
		if (s[len] == '\0')
			return 0;
		s += len + 1;
	}
}

int
session_args_parse(int argc, char *const *argv, struct session_ids *ids,
		   const char **error)
{
	static const char *const flags[] = { "-u", "-g", "-G", "-p" };
	uint64_t uid, gid, ppid;

	memset(ids, 0, sizeof(*ids));
	if (argc == 1)
		return 0;
	/* One fixed form, so there is nothing to interpret. */
	if (argc != 9) {
		*error = "expected no arguments or -u UID -g GID -G GROUPS "
			"-p PPID";
		return -1;
	}
	for (size_t i = 0; i < 4; i++) {
		if (strcmp(argv[1 + 2 * i], flags[i]) != 0) {
			*error = "expected no arguments or -u UID -g GID "
				"-G GROUPS -p PPID";
			return -1;
		}
	}
	/* Never root: a backstop to moatd's checks. (uid_t)-1 would mean
	 * "unchanged" to setresuid. */
	if (num_parse_u64(argv[2], UINT32_MAX - 1, &uid) < 0 || uid == 0) {
		*error = "invalid uid";
		return -1;
	}
	if (num_parse_u64(argv[4], UINT32_MAX - 1, &gid) < 0 || gid == 0) {
		*error = "invalid gid";
		return -1;
	}
	if (session_groups_parse(argv[6], ids) < 0) {
		*error = "invalid supplementary groups";
		return -1;
	}
	if (num_parse_u64(argv[8], INT_MAX, &ppid) < 0 || ppid == 0) {
		*error = "invalid parent pid";
		return -1;
	}
	ids->change = true;
	ids->uid = (uid_t)uid;
	ids->gid = (gid_t)gid;
	ids->ppid = (pid_t)ppid;
	return 0;
}

/* The group list is exactly ids->groups (in any order). */
static bool
session_groups_are(const struct session_ids *ids)
{
	gid_t have[IPC_GROUPS_MAX];
	int n = getgroups(0, NULL);

	if (n < 0 || (size_t)n != ids->n_groups)
		return false;
	if (n > 0 && getgroups(n, have) != n)
		return false;
	for (size_t i = 0; i < ids->n_groups; i++) {
		bool found = false;

		for (size_t j = 0; j < ids->n_groups && !found; j++)
			found = have[i] == ids->groups[j];
		if (!found)
			return false;
	}
	return true;
}

/* As privs_drop, but with the groups moatd gave (no NSS lookup: the
 * auth worker made it) and verifying the group list too. Not privs_drop
 * itself: this program is a static PIE, and privs.o would link NSS
 * (initgroups, getpwnam_r) into it. */
static int
session_drop(const struct session_ids *ids)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	/* Groups first, while we may still change them; then the gid; then
	 * the uid, which takes away the right to do either. */
	if (setgroups(ids->n_groups, ids->groups) < 0 ||
	    setresgid(ids->gid, ids->gid, ids->gid) < 0 ||
	    setresuid(ids->uid, ids->uid, ids->uid) < 0)
		return -1;
	errno = EPERM;
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 ||
	    ru != ids->uid || eu != ids->uid || su != ids->uid ||
	    rg != ids->gid || eg != ids->gid || sg != ids->gid ||
	    !session_groups_are(ids))
		return -1;
	/* And there is no way back (the ids are never 0, parse made sure). */
	if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0 ||
	    setegid(0) == 0) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

int
session_become(const struct session_ids *ids, const char **error)
{
	if (!ids->change)
		return 0;
	if (geteuid() != 0) {
		*error = "given ids to take, but not started as root";
		errno = EPERM;
		return -1;
	}
	if (session_drop(ids) < 0) {
		*error = "cannot drop privileges";
		return -1;
	}
	/* No core dumps, and no ptrace or /proc/PID/mem for the user's
	 * other processes: the kernel makes a process that changed its ids
	 * non-dumpable only when fs.suid_dumpable is 0. */
	if (prctl(PR_SET_DUMPABLE, 0L, 0L, 0L, 0L) < 0) {
		*error = "prctl(PR_SET_DUMPABLE)";
		return -1;
	}
	/* The uid change cleared the death signal moatd's child set. If
	 * moatd died before it was armed again, we have a new parent. */
	if (prctl(PR_SET_PDEATHSIG, (long)SIGTERM, 0L, 0L, 0L) < 0) {
		*error = "prctl(PR_SET_PDEATHSIG)";
		return -1;
	}
	if (getppid() != ids->ppid) {
		*error = "moatd went away before the session started";
		errno = ESRCH;
		return -1;
	}
	return 0;
}

/* Lowers a limit (soft and hard) to at most max; never raises the hard
 * limit moatd gave us. */
static int
session_rlimit(int resource, rlim_t max)
{
	struct rlimit rl;

	if (getrlimit(resource, &rl) < 0)
		return -1;
	if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > max)
		rl.rlim_max = max;
	rl.rlim_cur = rl.rlim_max;
	return setrlimit(resource, &rl);
}

bool
session_needs_lock_helper(const struct session_info *si)
{
	struct store_settings set;
	char *mail = session_expand_home(si->mail, si->home);
	bool need;

	if (mail == NULL)
		return false;
	memset(&set, 0, sizeof(set));
	set.location = mail;
	set.user = si->user;
	need = store_needs_lock_helper(&set);
	free(mail);
	return need;
}

int
session_restrict(bool lock_helper, const char **error)
{
	if (session_rlimit(RLIMIT_CORE, 0) < 0) {
		*error = "setrlimit(RLIMIT_CORE)";
		return -1;
	}
	if (session_rlimit(RLIMIT_NOFILE, IMAP_RLIMIT_NOFILE) < 0) {
		*error = "setrlimit(RLIMIT_NOFILE)";
		return -1;
	}
	if (session_rlimit(RLIMIT_NPROC, IMAP_RLIMIT_NPROC) < 0) {
		*error = "setrlimit(RLIMIT_NPROC)";
		return -1;
	}
	/* The dotlock helper is forked here: after the limits, which it
	 * inherits, and before NO_NEW_PRIVS, under which dotlockfile(1)
	 * would not gain group mail. Without it the session still reads
	 * the spool; its writes fail with NOPERM and the reason logged. */
	if (lock_helper && mbox_lock_helper_start() < 0)
		log_error("Cannot start the dotlock helper: %m; writes to the "
			  "spool INBOX will fail");
	/* Nothing this process or its children exec can gain privileges
	 * (setuid programs, file capabilities). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) < 0) {
		*error = "prctl(PR_SET_NO_NEW_PRIVS)";
		return -1;
	}
	return 0;
}

/* The session enters the home itself, as the user: a hung network home
 * then stalls only this session, never moatd (which starts us with a
 * vfork-style clone and waits until we exec). A home we cannot enter
 * ends the session: carrying on in "/" would put a relative mail
 * location, and whatever else expects the home, somewhere else. */
int
session_enter_home(const char *home)
{
	if (chdir(home) == 0)
		return 0;
	log_error("Cannot enter home directory %s: %m; refusing the session",
		  home);
	return -1;
}

void
session_refuse(const struct session_info *si)
{
	/* The tagged answer to the LOGIN (RFC 5530 UNAVAILABLE: a
	 * subsystem is down, try later), then the close announced. The
	 * reason is in our log, not for the client. */
	static const char text[] = "Your mail is not available right now.";
	char line[IPC_TAG_MAX + 128];
	int n;

	n = snprintf(line, sizeof(line), "%s NO [UNAVAILABLE] %s\r\n"
		     "* BYE [UNAVAILABLE] %s\r\n", si->tag, text, text);
	if (n > 0 && (size_t)n < sizeof(line) &&
	    send(si->fd, line, (size_t)n, MSG_NOSIGNAL) != n)
		log_debug("Sending the refusal: %m");
}

void
session_info_defaults(struct session_info *si)
{
	si->fsync = true;
	si->max_line = IMAP_DEFAULT_MAX_LINE;
	si->max_literal = IMAP_DEFAULT_MAX_LITERAL;
	si->idle_timeout_ms = IMAP_DEFAULT_IDLE_TIMEOUT_MS;
	si->max_message_size = IMAP_DEFAULT_MAX_MESSAGE_SIZE;
	si->output_timeout_ms = IMAP_DEFAULT_OUTPUT_TIMEOUT_MS;
	str_copy(si->index, "~/.moat/index", sizeof(si->index));
}

static bool
in_range(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v >= lo && v <= hi;
}

int
session_info_decode(const struct ipc_msg *msg, struct session_info *si,
		    const char **error)
{
	struct ipc_rd rd;
	uint32_t rport, lport, sflags;
	const uint8_t *pipelined;
	size_t plen;
	char *expanded;

	memset(si, 0, sizeof(*si));
	si->fd = -1;
	if (msg->type != IPC_SESSION_INIT) {
		*error = "unexpected message type";
		return -1;
	}
	if (msg->id != 0) {
		*error = "non-zero message id";
		return -1;
	}
	if (msg->fd < 0) {
		*error = "no client descriptor";
		return -1;
	}
	ipc_rd_init(&rd, msg);
	if (ipc_get_str(&rd, si->user, sizeof(si->user)) < 0 ||
	    ipc_get_str(&rd, si->home, sizeof(si->home)) < 0 ||
	    ipc_get_str(&rd, si->mail, sizeof(si->mail)) < 0 ||
	    ipc_get_str(&rd, si->tag, sizeof(si->tag)) < 0 ||
	    ipc_get_bytes(&rd, &pipelined, &plen, IPC_PIPELINED_MAX) < 0 ||
	    ipc_get_u32(&rd, &si->flags) < 0 ||
	    ipc_get_str(&rd, si->remote_ip, sizeof(si->remote_ip)) < 0 ||
	    ipc_get_u32(&rd, &rport) < 0 ||
	    ipc_get_str(&rd, si->local_ip, sizeof(si->local_ip)) < 0 ||
	    ipc_get_u32(&rd, &lport) < 0 ||
	    ipc_get_str(&rd, si->index, sizeof(si->index)) < 0 ||
	    ipc_get_u32(&rd, &sflags) < 0 ||
	    ipc_get_u64(&rd, &si->max_line) < 0 ||
	    ipc_get_u64(&rd, &si->max_literal) < 0 ||
	    ipc_get_u64(&rd, &si->idle_timeout_ms) < 0 ||
	    ipc_get_u64(&rd, &si->max_message_size) < 0 ||
	    ipc_get_u64(&rd, &si->output_timeout_ms) < 0 ||
	    ipc_rd_end(&rd) < 0) {
		*error = "malformed fields";
		return -1;
	}
	if (si->user[0] == '\0' || str_has_ctl(si->user)) {
		*error = "invalid user";
		return -1;
	}
	if (si->home[0] != '/' || str_has_ctl(si->home)) {
		*error = "home is not an absolute path";
		return -1;
	}
	/* An empty location is passed on: choosing a default is moatd's
	 * business (config mail_location), not ours. */
	if (str_has_ctl(si->mail)) {
		*error = "invalid mail location";
		return -1;
	}
	expanded = session_expand_home(si->mail, si->home);
	if (expanded == NULL) {
		*error = "mail location too long";
		return -1;
	}
	free(expanded);
	/* The tag is echoed to the client in our first line. */
	if (!imap_tag_valid(si->tag, strlen(si->tag))) {
		*error = "invalid tag";
		return -1;
	}
	if ((si->flags & ~IPC_CONN_FLAGS_ALL) != 0) {
		*error = "unknown flags";
		return -1;
	}
	if (!net_ip_valid(si->remote_ip) || !net_ip_valid(si->local_ip)) {
		*error = "invalid address";
		return -1;
	}
	if (rport > 65535 || lport > 65535) {
		*error = "invalid port";
		return -1;
	}
	/* The index is a directory of the user's: in the home, or one
	 * moatd made (config.c allows nothing else). */
	if ((si->index[0] != '/' && !str_has_prefix(si->index, "~/")) ||
	    str_has_ctl(si->index)) {
		*error = "invalid index location";
		return -1;
	}
	expanded = session_expand_index(si->index, si->home);
	if (expanded == NULL) {
		*error = "index location too long";
		return -1;
	}
	free(expanded);
	if ((sflags & ~IPC_SESS_FLAGS_ALL) != 0) {
		*error = "unknown session flags";
		return -1;
	}
	si->fsync = (sflags & IPC_SESS_FSYNC) != 0;
	si->no_fts = (sflags & IPC_SESS_NO_FTS) != 0;
	/* The ranges config.c enforces: anything else is not moatd's. */
	if (!in_range(si->max_line, IMAP_MAX_LINE_MIN, IMAP_MAX_LINE_MAX) ||
	    !in_range(si->max_literal, IMAP_MAX_LITERAL_MIN,
		      IMAP_MAX_LITERAL_MAX) ||
	    !in_range(si->idle_timeout_ms, 1, IMAP_IDLE_TIMEOUT_MAX_MS) ||
	    !in_range(si->output_timeout_ms, 1, IMAP_IDLE_TIMEOUT_MAX_MS) ||
	    !in_range(si->max_message_size, IMAP_MAX_MESSAGE_SIZE_MIN,
		      IMAP_MAX_MESSAGE_SIZE_MAX)) {
		*error = "limit out of range";
		return -1;
	}
	si->remote_port = (uint16_t)rport;
	si->local_port = (uint16_t)lport;
	si->pipelined = pipelined;
	si->pipelined_len = plen;
	si->fd = msg->fd;
	return 0;
}

void
session_init_recv(int sock, struct session_info *si)
{
	uint8_t *buf = xmalloc(IPC_MSG_MAX);
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	enum ipc_recv_result r;
	struct ipc_msg msg;
	const char *error;
	uint8_t *copy = NULL;
	int type, flags;
	socklen_t len = sizeof(type);

	for (;;) {
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			log_fatal("poll on the moatd socket: %m");
		r = ipc_recv(sock, buf, IPC_MSG_MAX, &msg);
		if (r != IPC_RECV_AGAIN)
			break;
	}
	switch (r) {
	case IPC_RECV_OK:
		break;
	case IPC_RECV_EOF:
		log_fatal("moatd closed the connection before SESSION_INIT");
	case IPC_RECV_MALFORMED:
		log_fatal("Malformed message from moatd");
	default:
		log_fatal("Receiving SESSION_INIT: %m");
	}
	if (session_info_decode(&msg, si, &error) < 0) {
		if (msg.fd >= 0)
			close(msg.fd);
		log_fatal("Invalid SESSION_INIT from moatd (type %u): %s",
			  (unsigned int)msg.type, error);
	}
	if (getsockopt(si->fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    len != sizeof(type) || type != SOCK_STREAM)
		log_fatal("SESSION_INIT descriptor is not a stream socket");
	flags = fcntl(si->fd, F_GETFL);
	if (flags < 0 || fcntl(si->fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    fcntl(si->fd, F_SETFD, FD_CLOEXEC) < 0)
		log_fatal("Setting up the client descriptor: %m");

	/* Keep only the bytes, not the whole receive buffer. */
	if (si->pipelined_len > 0) {
		copy = xmalloc(si->pipelined_len);
		memcpy(copy, si->pipelined, si->pipelined_len);
	}
	si->pipelined = copy;
	free(buf);
}

struct session_run {
	struct client *client;
	struct ev_io *ipc_io;
	int status;
};

static void
session_ipc_cb(struct ev_io *io, int fd, unsigned int events, void *ctx)
{
	struct session_run *run = ctx;
	uint8_t byte;
	ssize_t n;

	(void)events;
	/* Nothing is expected from moatd after SESSION_INIT yet: EOF means
	 * it is gone (or shutting down), anything else is a protocol
	 * error. One byte is enough to tell; the rest of the record and any
	 * descriptor in it are discarded by the kernel. */
	n = recv(fd, &byte, 1, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		      errno == EINTR))
		return;
	if (n == 0) {
		client_shutdown(run->client, "Server shutting down.",
				"Disconnected: moatd went away");
	} else {
		if (n < 0)
			log_error("Reading from moatd: %m");
		else
			log_error("Unexpected message from moatd");
		run->status = 1;
		client_shutdown(run->client, "Server shutting down.",
				"Disconnected: moatd protocol error");
	}
	ev_io_del(&run->ipc_io);
	(void)io;
}

static void
session_sigterm_cb(int signo, void *ctx)
{
	struct session_run *run = ctx;

	(void)signo;
	client_shutdown(run->client, "Server shutting down.",
			"Disconnected: shutting down");
}

/* moatctl kick (master/control.c). */
static void
session_sigusr1_cb(int signo, void *ctx)
{
	struct session_run *run = ctx;

	(void)signo;
	client_shutdown(run->client, "Disconnected by the administrator.",
			"Disconnected: kicked by the administrator");
}

int
session_run(int ipc_fd, const struct session_info *si)
{
	struct session_run run = { .status = 0 };
	struct ev *ev = ev_new();

	/* Before the greeting: a SIGTERM from then on gets its BYE (it is
	 * blocked until the loop reads it from the signalfd). */
	if (ev_signal_add(ev, SIGTERM, session_sigterm_cb, &run) < 0)
		log_error("Handling SIGTERM: %m");
	if (ev_signal_add(ev, SIGUSR1, session_sigusr1_cb, &run) < 0)
		log_error("Handling SIGUSR1: %m");
	run.client = client_new(ev, si);
	if (!run.client->closed) {
		run.ipc_io = ev_io_add(ev, ipc_fd, EV_READ, session_ipc_cb,
				       &run);
		if (ev_run(ev) < 0) {
			log_error("Event loop failed: %m");
			run.status = 1;
		}
		ev_io_del(&run.ipc_io);
	}
	client_free(&run.client);
	ev_free(&ev);
	return run.status;
}

char *
session_expand_index(const char *index, const char *home)
{
	size_t hlen = strlen(home);

	if (index[0] != '~')
		return strlen(index) <= IPC_PATH_MAX ? xstrdup(index) : NULL;
	while (hlen > 0 && home[hlen - 1] == '/')
		hlen--;
	if (hlen + strlen(index + 1) > IPC_PATH_MAX)
		return NULL;
	return xasprintf("%.*s%s", (int)hlen, home, index + 1);
}

char *
session_expand_home(const char *mail, const char *home)
{
	struct buf *b = buf_new(IPC_PATH_MAX);
	size_t hlen = strlen(home);
	const char *p;
	char *s;
	int rc = 0;

	/* "/home/u/" + "~/Maildir" must not give a double slash. */
	while (hlen > 0 && home[hlen - 1] == '/')
		hlen--;
	for (p = mail; *p != '\0' && rc == 0; p++) {
		if (*p == '~' && (p == mail || p[-1] == ':' || p[-1] == '=') &&
		    (p[1] == '/' || p[1] == ':' || p[1] == '\0')) {
			rc = buf_append(b, home, hlen);
			/* home "/" with nothing after "~". */
			if (rc == 0 && hlen == 0 && p[1] != '/')
				rc = buf_append_byte(b, '/');
		} else {
			rc = buf_append_byte(b, (uint8_t)*p);
		}
	}
	if (rc < 0) {
		buf_free(&b);
		return NULL;
	}
	s = xstrdup(buf_str(b));
	buf_free(&b);
	return s;
}
