/*
 * ctl: the commands moatd answers (who, kick, reload, stop, stats) over
 * its control socket: one CTL_REQ, then CTL_SESSION / CTL_STAT answers
 * and a final CTL_DONE (lib/core/ipc-proto.h). The answers are checked
 * as any IPC message (exact decoding, our request id, known types), and
 * their strings are printed escaped: a user name is whatever auth
 * accepted.
 *
 * Callers: main.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "core/arr.h"
#include "core/config.h"
#include "core/ipc.h"
#include "core/num.h"
#include "core/str.h"
#include "moatctl/moatctl.h"

/* How long an answer may take (a reload reads the config and checks
 * the programs). */
#define CTL_ANSWER_TIMEOUT_S 30
/* How long stop waits for moatd to exit: its SIGTERM grace period and
 * the SIGKILL after it (master.h: MASTER_STOP_GRACE_MS + 2 s). */
#define CTL_STOP_WAIT_MS 15000

struct ctl_session {
	uint64_t id;
	uint32_t pid, rport, flags;
	uint64_t since;
	char user[IPC_USER_MAX + 1];
	char rip[IPC_IP_MAX];
};

struct ctl_stat {
	char name[64];
	uint64_t value;
};

struct ctl_answer {
	ARRAY(struct ctl_session) sessions;
	ARRAY(struct ctl_stat) stats;
	uint32_t status;
	char text[IPC_CTL_TEXT_MAX + 1];
};

static uint8_t rxbuf[IPC_MSG_MAX];

static const char *
socket_path(const struct ctl_opts *o)
{
	if (o->socket_path != NULL)
		return o->socket_path;
	if (o->cfg != NULL)
		return o->cfg->control_socket;
	/* A config with errors (the very thing reload is to report) still
	 * names the socket. */
	if (o->fallback_socket[0] != '\0')
		return o->fallback_socket;
	return NULL;
}

static int
ctl_connect(const struct ctl_opts *o, int *fdp)
{
	const char *path = socket_path(o);
	struct sockaddr_un sa;
	struct timeval tv = { CTL_ANSWER_TIMEOUT_S, 0 };
	int fd;

	if (path == NULL) {
		if (o->cfg == NULL)
			return ctl_fail(o, CTL_EXIT_ERROR, "%s", o->cfg_error);
		return ctl_fail(o, CTL_EXIT_NOT_RUNNING, "control_socket is "
				"not set in %s: moatd has no control socket",
				o->config_path);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return ctl_fail(o, CTL_EXIT_USAGE, "%s: path too long", path);
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ctl_fail(o, CTL_EXIT_ERROR, "socket: %s",
				strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		if (e == ENOENT || e == ECONNREFUSED)
			return ctl_fail(o, CTL_EXIT_NOT_RUNNING, "moatd is not "
					"running (%s: %s)", path, strerror(e));
		if (e == EACCES || e == EPERM)
			return ctl_fail(o, CTL_EXIT_DENIED, "%s: %s (moatctl "
					"needs root)", path, strerror(e));
		return ctl_fail(o, CTL_EXIT_ERROR, "%s: %s", path,
				strerror(e));
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	*fdp = fd;
	return CTL_EXIT_OK;
}

/* Decodes one answer into a; -1 if it is not one moatd may send. */
static int
answer_take(const struct ipc_msg *m, struct ctl_answer *a, bool *done)
{
	struct ipc_rd r;

	ipc_rd_init(&r, m);
	switch (m->type) {
	case IPC_CTL_SESSION: {
		struct ctl_session s;

		memset(&s, 0, sizeof(s));
		if (ipc_get_u64(&r, &s.id) < 0 || ipc_get_u32(&r, &s.pid) < 0 ||
		    ipc_get_str(&r, s.user, sizeof(s.user)) < 0 ||
		    ipc_get_str(&r, s.rip, sizeof(s.rip)) < 0 ||
		    ipc_get_u32(&r, &s.rport) < 0 ||
		    ipc_get_u64(&r, &s.since) < 0 ||
		    ipc_get_u32(&r, &s.flags) < 0 || ipc_rd_end(&r) < 0)
			return -1;
		arr_push(&a->sessions, s);
		return 0;
	}
	case IPC_CTL_STAT: {
		struct ctl_stat s;

		if (ipc_get_str(&r, s.name, sizeof(s.name)) < 0 ||
		    ipc_get_u64(&r, &s.value) < 0 || ipc_rd_end(&r) < 0)
			return -1;
		arr_push(&a->stats, s);
		return 0;
	}
	case IPC_CTL_DONE:
		if (ipc_get_u32(&r, &a->status) < 0 ||
		    ipc_get_str(&r, a->text, sizeof(a->text)) < 0 ||
		    ipc_rd_end(&r) < 0)
			return -1;
		*done = true;
		return 0;
	default:
		return -1;
	}
}

/* Sends the request and collects the answers up to CTL_DONE. */
static int
ctl_request(const struct ctl_opts *o, int fd, uint32_t cmd, uint64_t num,
	    const char *text, struct ctl_answer *a)
{
	const uint32_t id = (uint32_t)getpid();
	struct ipc_out out;
	bool done = false;

	ipc_out_init(&out, IPC_CTL_REQ, id);
	ipc_put_u32(&out, cmd);
	ipc_put_u64(&out, num);
	ipc_put_str(&out, text);
	/* EPIPE: moatd refused us and closed; its answer is still there
	 * to be read. */
	if (ipc_send(fd, &out, -1) < 0 && errno != EPIPE &&
	    errno != ECONNRESET) {
		int e = errno;

		ipc_out_free(&out);
		return ctl_fail(o, CTL_EXIT_ERROR, "sending to moatd: %s",
				strerror(e));
	}
	ipc_out_free(&out);
	while (!done) {
		struct ipc_msg m;

		switch (ipc_recv(fd, rxbuf, sizeof(rxbuf), &m)) {
		case IPC_RECV_OK:
			break;
		case IPC_RECV_EOF:
			return ctl_fail(o, CTL_EXIT_ERROR, "moatd closed the "
					"connection without an answer");
		case IPC_RECV_AGAIN:
			return ctl_fail(o, CTL_EXIT_ERROR, "moatd did not "
					"answer within %d s",
					CTL_ANSWER_TIMEOUT_S);
		case IPC_RECV_ERROR:
			return ctl_fail(o, CTL_EXIT_ERROR, "reading from "
					"moatd: %s", strerror(errno));
		case IPC_RECV_MALFORMED:
			return ctl_fail(o, CTL_EXIT_ERROR, "malformed answer "
					"from moatd");
		}
		if (m.fd >= 0)
			close(m.fd);
		/* id 0: moatd refused the connection before reading. */
		if ((m.id != id && m.id != 0) || m.fd >= 0 ||
		    answer_take(&m, a, &done) < 0)
			return ctl_fail(o, CTL_EXIT_ERROR, "unexpected answer "
					"from moatd (type %u)",
					(unsigned int)m.type);
		if (m.id == 0 && !done)
			return ctl_fail(o, CTL_EXIT_ERROR, "unexpected answer "
					"from moatd");
		if (m.id == 0 && a->status != IPC_ST_OK)
			return ctl_fail(o, CTL_EXIT_DENIED, "moatd refused: %s",
					a->text);
	}
	return CTL_EXIT_OK;
}

static void
answer_free(struct ctl_answer *a)
{
	arr_free(&a->sessions);
	arr_free(&a->stats);
}

static void
print_sessions_json(const struct ctl_answer *a)
{
	char since[32];

	printf("\"sessions\":[");
	for (size_t i = 0; i < a->sessions.n; i++) {
		const struct ctl_session *s = &a->sessions.v[i];

		fmt_utc((int64_t)s->since, since, sizeof(since));
		printf("%s{\"id\":%llu,\"pid\":%u,\"user\":", i > 0 ? "," : "",
		       (unsigned long long)s->id, s->pid);
		json_str(stdout, s->user);
		printf(",\"address\":");
		json_str(stdout, s->rip);
		printf(",\"port\":%u,\"since\":\"%s\",\"since_unix\":%llu,"
		       "\"tls\":%s", s->rport, since,
		       (unsigned long long)s->since,
		       (s->flags & IPC_CONN_TLS_ACTIVE) != 0 ? "true" : "false");
		if (s->flags & IPC_CTL_ENDED)
			printf(",\"ended\":\"%s\"", (s->flags & IPC_CTL_KILLED) ?
			       "killed" : "bye");
		printf("}");
	}
	printf("]");
}

/* A name for a table: printable ASCII as it is, anything else as \xNN
 * (a terminal must not get escape sequences from a user name). */
static void
print_safe(const char *s, int width)
{
	int n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p >= 0x20 && *p < 0x7f && *p != '\\') {
			putchar(*p);
			n++;
		} else {
			n += printf("\\x%02x", *p);
		}
	}
	for (; n < width; n++)
		putchar(' ');
}

static void
print_sessions_table(const struct ctl_answer *a)
{
	char since[32];

	bool ended = a->sessions.n > 0 &&
	    (a->sessions.v[0].flags & IPC_CTL_ENDED) != 0;

	if (a->sessions.n == 0)
		return;
	printf("%-8s %-8s %-16s %-22s %-20s %-3s%s\n", "ID", "PID", "USER",
	       "ADDRESS", "SINCE", "TLS", ended ? " ENDED" : "");
	for (size_t i = 0; i < a->sessions.n; i++) {
		const struct ctl_session *s = &a->sessions.v[i];
		char addr[IPC_IP_MAX + 16];

		fmt_utc((int64_t)s->since, since, sizeof(since));
		snprintf(addr, sizeof(addr), "%s:%u", s->rip, s->rport);
		printf("%-8llu %-8u ", (unsigned long long)s->id, s->pid);
		print_safe(s->user, 16);
		printf(" %-22s %-20s %-3s", addr, since,
		       (s->flags & IPC_CONN_TLS_ACTIVE) != 0 ? "yes" : "no");
		if (s->flags & IPC_CTL_ENDED)
			printf(" %s", (s->flags & IPC_CTL_KILLED) ? "killed" :
			       "bye");
		printf("\n");
	}
}

static int
print_result(const struct ctl_opts *o, const struct ctl_answer *a,
	     bool sessions)
{
	if (o->json) {
		printf("{\"ok\":%s,\"message\":",
		       a->status == IPC_ST_OK ? "true" : "false");
		json_str(stdout, a->text);
		if (sessions) {
			printf(",");
			print_sessions_json(a);
		}
		printf("}\n");
	} else {
		if (sessions)
			print_sessions_table(a);
		if (a->status == IPC_ST_OK)
			printf("%s\n", a->text);
	}
	if (a->status != IPC_ST_OK) {
		if (!o->json)
			fprintf(stderr, "moatctl: %s\n", a->text);
		return CTL_EXIT_ERROR;
	}
	return CTL_EXIT_OK;
}

static void
print_stats(const struct ctl_opts *o, const struct ctl_answer *a)
{
	char buf[64];

	if (o->json) {
		printf("{\"ok\":true");
		for (size_t i = 0; i < a->stats.n; i++) {
			printf(",");
			json_str(stdout, a->stats.v[i].name);
			printf(":%llu", (unsigned long long)a->stats.v[i].value);
		}
		printf("}\n");
		return;
	}
	for (size_t i = 0; i < a->stats.n; i++) {
		const struct ctl_stat *s = &a->stats.v[i];

		printf("%-22s ", s->name);
		if (str_eq(s->name, "uptime")) {
			fmt_duration(s->value, buf, sizeof(buf));
			printf("%s\n", buf);
		} else {
			printf("%llu\n", (unsigned long long)s->value);
		}
	}
}

/* After stop's answer: moatd's exit closes the connection. */
static int
wait_gone(const struct ctl_opts *o, int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	for (;;) {
		int n = poll(&p, 1, CTL_STOP_WAIT_MS);
		char c;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return ctl_fail(o, CTL_EXIT_ERROR, "moatd is still "
					"stopping after %d s",
					CTL_STOP_WAIT_MS / 1000);
		if (recv(fd, &c, 1, 0) <= 0)
			return CTL_EXIT_OK;
	}
}

int
ctl_daemon_cmd(const struct ctl_opts *o, int argc, char **argv)
{
	const char *cmd = argv[0];
	struct ctl_answer a;
	uint32_t code;
	uint64_t num = 0;
	const char *text = "";
	bool sessions = false;
	int fd = -1, rc;

	if (str_eq(cmd, "who") && argc == 1) {
		code = IPC_CTL_WHO;
		sessions = true;
	} else if (str_eq(cmd, "kick") && argc == 2 &&
		   !str_has_prefix(argv[1], "-")) {
		code = IPC_CTL_KICK_USER;
		text = argv[1];
		sessions = true;
		if (strlen(text) > IPC_USER_MAX || str_has_ctl(text)) {
			usage_hint("kick: not a user name");
			return CTL_EXIT_USAGE;
		}
	} else if (str_eq(cmd, "kick") && argc == 3 &&
		   str_eq(argv[1], "--session")) {
		code = IPC_CTL_KICK_SESSION;
		sessions = true;
		if (num_parse_u64(argv[2], UINT64_MAX, &num) < 0 ||
		    num == 0) {
			usage_hint("kick --session: ID is a session number "
				   "from moatctl who");
			return CTL_EXIT_USAGE;
		}
	} else if (str_eq(cmd, "reload") && argc == 1) {
		code = IPC_CTL_RELOAD;
	} else if (str_eq(cmd, "stop") && argc == 1) {
		code = IPC_CTL_STOP;
	} else if (str_eq(cmd, "stats") && argc == 1) {
		code = IPC_CTL_STATS;
	} else {
		usage_hint("%s: wrong arguments", cmd);
		return CTL_EXIT_USAGE;
	}
	rc = ctl_connect(o, &fd);
	if (rc != CTL_EXIT_OK)
		return rc;
	memset(&a, 0, sizeof(a));
	rc = ctl_request(o, fd, code, num, text, &a);
	if (rc == CTL_EXIT_OK) {
		if (code == IPC_CTL_STATS && a.status == IPC_ST_OK)
			print_stats(o, &a);
		else if (code == IPC_CTL_STOP && a.status == IPC_ST_OK) {
			rc = wait_gone(o, fd);
			if (rc == CTL_EXIT_OK) {
				(void)str_copy(a.text, "moatd stopped",
					       sizeof(a.text));
				rc = print_result(o, &a, false);
			}
		} else
			rc = print_result(o, &a, sessions);
	}
	answer_free(&a);
	close(fd);
	return rc;
}
