/*
 * loadgen: the benchmark's IMAP client, in C so that the client is not
 * the bottleneck. It drives any IMAP server (Moat or Dovecot) the same
 * way and reports its own CPU time next to the results.
 *
 *   loadgen logins HOST PORT MODE USERFILE CONCURRENCY SECONDS
 *       CONCURRENCY threads each loop: connect, [TLS handshake], read the
 *       greeting, LOGIN, LOGOUT, close. Prints logins/s.
 *   loadgen hold HOST PORT MODE USERFILE N
 *       Logs in N sessions and keeps them open, idle. Prints "ready" when
 *       all are logged in, then waits until stdin reaches EOF.
 *   loadgen idle HOST PORT MODE USERFILE N [-n] [-k K] [-l LMTPPORT]
 *       N sessions, session i as user i (N <= users in USERFILE): LOGIN,
 *       SELECT INBOX (-n: none), IDLE. Prints "ready ..." when all idle.
 *       Then each line "lat imap" or "lat lmtp" on stdin delivers one
 *       message to each of K of the idling users (spread over the N, one
 *       after another) and times it from the moment the writer sends the
 *       message's bytes to the "* n EXISTS" the idling session receives;
 *       prints p50, p99, max (ms) and the writer's own time to its OK.
 *       The writer: "imap", APPEND from a second session of that user
 *       (same HOST PORT MODE); "lmtp", LMTP delivery to HOST:LMTPPORT,
 *       RCPT TO:<user@localhost>, one connection for all. EOF on stdin
 *       ends it. Every wait has a timeout (LOADGEN_TIMEOUT seconds, 30).
 *
 * MODE: plain, tls (implicit) or starttls. USERFILE: "user password" per
 * line; logins and hold take users round-robin.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

struct user { char name[64], pass[64]; };

static struct user *users;
static size_t n_users;
static struct sockaddr_in addr;
enum mode { MODE_PLAIN, MODE_TLS, MODE_STARTTLS };
static enum mode mode;
static SSL_CTX *ctx;
static atomic_ulong done_logins, failed;
static atomic_uint next_user;
static volatile bool stop;
static int timeout_s = 30;

struct conn {
	int fd;
	SSL *ssl;
	char buf[8192];
	size_t len;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int conn_write_n(struct conn *c, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n;
		if (c->ssl != NULL)
			n = SSL_write(c->ssl, s, (int)len);
		else
			n = write(c->fd, s, len);
		if (n <= 0)
			return -1;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

static int conn_write(struct conn *c, const char *s)
{
	return conn_write_n(c, s, strlen(s));
}

/* One read into the buffer: >0 bytes, 0 would block (non-blocking fd),
 * -1 error, EOF or a full buffer. */
static int conn_fill(struct conn *c)
{
	if (c->len == sizeof(c->buf))
		return -1;
	ssize_t n;
	if (c->ssl != NULL) {
		n = SSL_read(c->ssl, c->buf + c->len,
			     (int)(sizeof(c->buf) - c->len));
		if (n <= 0) {
			int e = SSL_get_error(c->ssl, (int)n);
			return e == SSL_ERROR_WANT_READ ? 0 : -1;
		}
	} else {
		n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0)
			return -1;
	}
	c->len += (size_t)n;
	return 1;
}

/* Takes one complete line out of the buffer into line (NUL-terminated,
 * truncated to cap). 1 one taken, 0 none buffered. */
static int conn_take_line(struct conn *c, char *line, size_t cap)
{
	char *nl = memchr(c->buf, '\n', c->len);
	if (nl == NULL)
		return 0;
	size_t linelen = (size_t)(nl - c->buf) + 1;
	size_t keep = linelen < cap ? linelen : cap - 1;
	memcpy(line, c->buf, keep);
	line[keep] = '\0';
	memmove(c->buf, nl + 1, c->len - linelen);
	c->len -= linelen;
	return 1;
}

/* A reply that is not the one expected: the same tag with another
 * status ("a NO" for "a OK"), or an SMTP/LMTP 4xx/5xx for a 2xx/3xx. */
static bool line_refused(const char *line, const char *prefix)
{
	if ((prefix[0] == '2' || prefix[0] == '3') &&
	    (line[0] == '4' || line[0] == '5'))
		return true;
	const char *sp = strchr(prefix, ' ');
	if (prefix[0] == '*' || prefix[0] == '+' || sp == NULL ||
	    !(prefix[0] >= 'a' && prefix[0] <= 'z'))
		return false;
	size_t taglen = (size_t)(sp - prefix) + 1;
	return strncmp(line, prefix, taglen) == 0;
}

/* Blocking: reads until a line starting with prefix arrives (the socket's
 * receive timeout bounds each read). If exists is set, a "* n EXISTS"
 * on the way is stored there. 0 ok, -1 error/EOF/timeout. */
static int conn_expect_exists(struct conn *c, const char *prefix, long *exists)
{
	size_t plen = strlen(prefix);
	char line[512];
	for (;;) {
		while (conn_take_line(c, line, sizeof(line))) {
			long n;
			if (exists != NULL &&
			    sscanf(line, "* %ld EXISTS", &n) == 1)
				*exists = n;
			if (strncmp(line, prefix, plen) == 0)
				return 0;
			if (line_refused(line, prefix))
				return -1;
		}
		if (conn_fill(c) <= 0)
			return -1;
	}
}

static int conn_expect(struct conn *c, const char *prefix)
{
	return conn_expect_exists(c, prefix, NULL);
}

static void conn_close(struct conn *c)
{
	if (c->ssl != NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int conn_tls(struct conn *c)
{
	c->ssl = SSL_new(ctx);
	if (c->ssl == NULL)
		return -1;
	SSL_set_fd(c->ssl, c->fd);
	return SSL_connect(c->ssl) == 1 ? 0 : -1;
}

/* Connect with timeouts on every read and write; [TLS]. 0 ok. */
static int conn_open(struct conn *c, const struct sockaddr_in *to, bool tls)
{
	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0)
		return -1;
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct timeval tv = { .tv_sec = timeout_s };
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(c->fd, (const struct sockaddr *)to, sizeof(*to)) < 0 ||
	    (tls && conn_tls(c) < 0)) {
		conn_close(c);
		return -1;
	}
	return 0;
}

/* Connect and log in as u (NULL: the next user round-robin). 0 ok. */
static int session_open(struct conn *c, const struct user *u)
{
	if (conn_open(c, &addr, mode == MODE_TLS) < 0)
		return -1;
	if (conn_expect(c, "* OK") < 0)
		goto fail;
	if (mode == MODE_STARTTLS &&
	    (conn_write(c, "s STARTTLS\r\n") < 0 ||
	     conn_expect(c, "s OK") < 0 || conn_tls(c) < 0))
		goto fail;
	if (u == NULL)
		u = &users[atomic_fetch_add(&next_user, 1) % n_users];
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "a LOGIN %s %s\r\n", u->name, u->pass);
	if (conn_write(c, cmd) < 0 || conn_expect(c, "a OK") < 0)
		goto fail;
	return 0;
fail:
	conn_close(c);
	return -1;
}

static void *login_loop(void *arg)
{
	(void)arg;
	struct conn c;
	while (!stop) {
		if (session_open(&c, NULL) < 0) {
			atomic_fetch_add(&failed, 1);
			continue;
		}
		if (conn_write(&c, "b LOGOUT\r\n") == 0 &&
		    conn_expect(&c, "b OK") == 0)
			atomic_fetch_add(&done_logins, 1);
		else
			atomic_fetch_add(&failed, 1);
		conn_close(&c);
	}
	return NULL;
}

static void load_users(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		perror(path);
		exit(1);
	}
	char line[256];
	size_t cap = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		struct user u;
		if (sscanf(line, "%63s %63s", u.name, u.pass) != 2)
			continue;
		if (n_users == cap) {
			cap = cap ? cap * 2 : 64;
			users = realloc(users, cap * sizeof(*users));
			if (users == NULL)
				exit(1);
		}
		users[n_users++] = u;
	}
	fclose(f);
	if (n_users == 0) {
		fprintf(stderr, "no users in %s\n", path);
		exit(1);
	}
}

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* --- idle ---------------------------------------------------------------- */

#define IDLE_MAX 20000
#define IDLE_SETUP_THREADS 8
#define LAT_MAX 10000

struct idler {
	struct conn c;
	long exists;		/* the last "* n EXISTS" seen */
	bool up;		/* idling */
};

static struct idler *idlers;
static int n_idlers;
static bool idle_select = true;
static atomic_int idle_next, idle_up;

/* LOGIN, [SELECT INBOX], IDLE as user i. 0 ok. */
static int idler_open(struct idler *d, int i)
{
	d->exists = 0;
	if (session_open(&d->c, &users[i]) < 0)
		return -1;
	if (idle_select &&
	    (conn_write(&d->c, "c SELECT INBOX\r\n") < 0 ||
	     conn_expect_exists(&d->c, "c OK", &d->exists) < 0))
		goto fail;
	if (conn_write(&d->c, "d IDLE\r\n") < 0 || conn_expect(&d->c, "+") < 0)
		goto fail;
	/* From now on only polled. */
	fcntl(d->c.fd, F_SETFL, fcntl(d->c.fd, F_GETFL) | O_NONBLOCK);
	d->up = true;
	return 0;
fail:
	conn_close(&d->c);
	return -1;
}

static void *idle_setup(void *arg)
{
	(void)arg;
	int i;
	while ((i = atomic_fetch_add(&idle_next, 1)) < n_idlers) {
		for (int tries = 0; tries < 3; tries++) {
			if (idler_open(&idlers[i], i) == 0) {
				atomic_fetch_add(&idle_up, 1);
				break;
			}
			usleep(100000);
		}
	}
	return NULL;
}

/* Reads what an idling session has; records a grown EXISTS. -1 when it
 * was closed. */
static int idler_poll(struct idler *d, double *when)
{
	char line[512];
	int r;
	while ((r = conn_fill(&d->c)) > 0)
		;
	while (conn_take_line(&d->c, line, sizeof(line))) {
		long n;
		if (sscanf(line, "* %ld EXISTS", &n) == 1 && n > d->exists) {
			d->exists = n;
			if (when != NULL && *when == 0)
				*when = now();
		}
	}
	return r < 0 ? -1 : 0;
}

static int set_blocking(struct conn *c, bool on)
{
	int fl = fcntl(c->fd, F_GETFL);
	return fcntl(c->fd, F_SETFL, on ? fl & ~O_NONBLOCK : fl | O_NONBLOCK);
}

/* The writers. Each sends one message to user u, starting the clock when
 * the message's bytes go out (*t0), and returns once it is ready to wait
 * for the server's answer on *wc (non-blocking); the answer's prefix is
 * *ok. */
static char message[1024];
static size_t message_len;
static unsigned message_seq;

static void message_make(const char *user)
{
	message_len = (size_t)snprintf(message, sizeof(message),
		"From: loadgen <loadgen@localhost>\r\n"
		"To: %s@localhost\r\n"
		"Subject: idle latency %u\r\n"
		"Message-ID: <%u.%ld@loadgen>\r\n"
		"Date: Wed, 02 Dec 2026 08:00:00 +0000\r\n"
		"\r\n"
		"A message for the IDLE latency measurement.\r\n",
		user, message_seq, message_seq, (long)getpid());
	message_seq++;
}

static struct conn lmtp;
static struct sockaddr_in lmtp_addr;
static bool lmtp_open;

static int lmtp_cmd(const char *cmd, const char *ok)
{
	return conn_write(&lmtp, cmd) < 0 || conn_expect(&lmtp, ok) < 0 ? -1 : 0;
}

static int writer_lmtp(const struct user *u, double *t0, const char **ok)
{
	char cmd[200];
	if (!lmtp_open) {
		if (conn_open(&lmtp, &lmtp_addr, false) < 0 ||
		    conn_expect(&lmtp, "220 ") < 0 ||
		    lmtp_cmd("LHLO loadgen\r\n", "250 ") < 0)
			return -1;
		lmtp_open = true;
	}
	set_blocking(&lmtp, true);
	snprintf(cmd, sizeof(cmd), "RCPT TO:<%s@localhost>\r\n", u->name);
	message_make(u->name);
	if (lmtp_cmd("MAIL FROM:<loadgen@localhost>\r\n", "250 ") < 0 ||
	    lmtp_cmd(cmd, "250 ") < 0 || lmtp_cmd("DATA\r\n", "354 ") < 0)
		return -1;
	*t0 = now();
	if (conn_write_n(&lmtp, message, message_len) < 0 ||
	    conn_write(&lmtp, ".\r\n") < 0)
		return -1;
	set_blocking(&lmtp, false);
	*ok = "250 ";
	return 0;
}

static int writer_imap(struct conn *w, const struct user *u, double *t0,
		       const char **ok)
{
	char cmd[64];
	if (session_open(w, u) < 0)
		return -1;
	message_make(u->name);
	snprintf(cmd, sizeof(cmd), "w APPEND INBOX {%zu}\r\n", message_len);
	if (conn_write(w, cmd) < 0 || conn_expect(w, "+") < 0)
		return -1;
	*t0 = now();
	if (conn_write_n(w, message, message_len) < 0 ||
	    conn_write(w, "\r\n") < 0)
		return -1;
	set_blocking(w, false);
	*ok = "w OK";
	return 0;
}

/* Waits for the writer's answer and the idler's EXISTS. 0 both came. */
static int lat_wait(struct idler *d, struct conn *w, const char *ok,
		    double *t_exists, double *t_ok)
{
	double deadline = now() + timeout_s;
	char line[512];
	while (*t_exists == 0 || *t_ok == 0) {
		if (idler_poll(d, t_exists) < 0)
			return -1;
		int r;
		while ((r = conn_fill(w)) > 0)
			;
		while (conn_take_line(w, line, sizeof(line)))
			if (strncmp(line, ok, strlen(ok)) == 0 && *t_ok == 0)
				*t_ok = now();
			else if (line[0] != '*' && *t_ok == 0)
				return -1;	/* NO, BAD, 4xx/5xx */
		if (r < 0 && *t_ok == 0)
			return -1;
		if (*t_exists != 0 && *t_ok != 0)
			break;
		double left = deadline - now();
		if (left <= 0)
			return -1;
		struct pollfd pf[2] = {
			{ .fd = d->c.fd, .events = POLLIN },
			{ .fd = w->fd, .events = POLLIN },
		};
		poll(pf, *t_ok == 0 ? 2 : 1, (int)(left * 1000) + 1);
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(const double *v, int n, double p)
{
	int i = (int)ceil(p / 100.0 * n) - 1;
	return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static void print_stats(const char *name, double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	if (n == 0)
		printf(" %s_p50=- %s_p99=- %s_max=-", name, name, name);
	else
		printf(" %s_p50=%.2f %s_p99=%.2f %s_max=%.2f", name,
		       pct(v, n, 50), name, pct(v, n, 99), name, v[n - 1]);
}

/* K deliveries, one after another, to users spread over the idlers. */
static void idle_latency(int k, bool use_lmtp)
{
	static double lat[LAT_MAX], wr[LAT_MAX];
	int got = 0, lost = 0;
	double c0 = cpu_seconds();
	for (int j = 0; j < k; j++) {
		int i = (int)((long)j * n_idlers / k);
		struct idler *d = &idlers[i];
		if (!d->up) {
			lost++;
			continue;
		}
		idler_poll(d, NULL);	/* anything older does not count */
		struct conn w = { .fd = -1 };
		double t0 = 0, t_exists = 0, t_ok = 0;
		const char *ok = NULL;
		int r = use_lmtp ? writer_lmtp(&users[i], &t0, &ok)
				 : writer_imap(&w, &users[i], &t0, &ok);
		if (r == 0)
			r = lat_wait(d, use_lmtp ? &lmtp : &w, ok, &t_exists,
				     &t_ok);
		if (!use_lmtp) {
			if (w.fd >= 0 && set_blocking(&w, true) == 0 &&
			    conn_write(&w, "x LOGOUT\r\n") == 0)
				conn_expect(&w, "x OK");
			conn_close(&w);
		}
		if (r < 0) {
			lost++;
			if (use_lmtp && lmtp_open) {
				conn_close(&lmtp);
				lmtp_open = false;
			}
			continue;
		}
		lat[got] = (t_exists - t0) * 1e3;
		wr[got] = (t_ok - t0) * 1e3;
		got++;
	}
	/* Every other session must still be there, and quiet. */
	int alive = 0;
	for (int i = 0; i < n_idlers; i++)
		if (idlers[i].up && idler_poll(&idlers[i], NULL) == 0)
			alive++;
		else if (idlers[i].up) {
			idlers[i].up = false;
			conn_close(&idlers[i].c);
		}
	printf("latency samples=%d lost=%d alive=%d", got, lost, alive);
	print_stats("exists_ms", lat, got);
	print_stats("writer_ms", wr, got);
	printf(" client_cpu_s=%.2f\n", cpu_seconds() - c0);
	fflush(stdout);
}

static int idle_main(int n, int argc, char **argv)
{
	int k = 100;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0)
			idle_select = false;
		else if (strcmp(argv[i], "-k") == 0 && i + 1 < argc)
			k = atoi(argv[++i]);
		else if (strcmp(argv[i], "-l") == 0 && i + 1 < argc) {
			lmtp_addr = addr;
			lmtp_addr.sin_port = htons((uint16_t)atoi(argv[++i]));
		} else
			return 2;
	}
	if (n < 1 || n > IDLE_MAX || (size_t)n > n_users || k < 0 ||
	    k > LAT_MAX) {
		fprintf(stderr, "loadgen idle: N 1-%d and at most the users "
			"(%zu), K 0-%d\n", IDLE_MAX, n_users, LAT_MAX);
		return 2;
	}
	if (k > n)
		k = n;
	idlers = calloc((size_t)n, sizeof(*idlers));
	if (idlers == NULL)
		return 1;
	for (int i = 0; i < n; i++)
		idlers[i].c.fd = -1;
	n_idlers = n;
	double t0 = now(), c0 = cpu_seconds();
	pthread_t th[IDLE_SETUP_THREADS];
	for (int i = 0; i < IDLE_SETUP_THREADS; i++)
		pthread_create(&th[i], NULL, idle_setup, NULL);
	for (int i = 0; i < IDLE_SETUP_THREADS; i++)
		pthread_join(th[i], NULL);
	printf("ready sessions=%d of %d select=%d setup_s=%.2f "
	       "client_cpu_s=%.2f\n", (int)idle_up, n, idle_select,
	       now() - t0, cpu_seconds() - c0);
	fflush(stdout);
	char line[64];
	int bad = idle_up != n;
	while (fgets(line, sizeof(line), stdin) != NULL)
		if (strcmp(line, "lat imap\n") == 0)
			idle_latency(k, false);
		else if (strcmp(line, "lat lmtp\n") == 0 &&
			 lmtp_addr.sin_port != 0)
			idle_latency(k, true);
		else {
			printf("error: unknown command\n");
			fflush(stdout);
		}
	for (int i = 0; i < n; i++)
		if (idlers[i].up)
			conn_close(&idlers[i].c);
	if (lmtp_open)
		conn_close(&lmtp);
	return bad;
}

int main(int argc, char **argv)
{
	if (argc < 7) {
		fprintf(stderr, "usage: loadgen logins|hold|idle HOST PORT "
			"plain|tls|starttls USERFILE N [SECONDS | idle "
			"options]\n");
		return 2;
	}
	const char *t = getenv("LOADGEN_TIMEOUT");
	if (t != NULL && atoi(t) > 0)
		timeout_s = atoi(t);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)atoi(argv[3]));
	if (inet_pton(AF_INET, argv[2], &addr.sin_addr) != 1)
		return 2;
	if (strcmp(argv[4], "tls") == 0)
		mode = MODE_TLS;
	else if (strcmp(argv[4], "starttls") == 0)
		mode = MODE_STARTTLS;
	else if (strcmp(argv[4], "plain") == 0)
		mode = MODE_PLAIN;
	else
		return 2;
	load_users(argv[5]);
	int n = atoi(argv[6]);
	ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	/* Two fds a session at most (the idle writer's); the hard limit is
	 * the cap. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	if (strcmp(argv[1], "logins") == 0) {
		double seconds = argc > 7 ? atof(argv[7]) : 10;
		pthread_t th[256];
		if (n < 1 || n > 256)
			return 2;
		double t0 = now(), c0 = cpu_seconds();
		for (int i = 0; i < n; i++)
			pthread_create(&th[i], NULL, login_loop, NULL);
		usleep((useconds_t)(seconds * 1e6));
		stop = true;
		for (int i = 0; i < n; i++)
			pthread_join(th[i], NULL);
		double el = now() - t0, cpu = cpu_seconds() - c0;
		printf("logins=%lu failed=%lu seconds=%.2f rate=%.1f "
		       "client_cpu=%.0f%%\n", (unsigned long)done_logins,
		       (unsigned long)failed, el, done_logins / el,
		       100.0 * cpu / el);
		return failed > done_logins / 100 ? 1 : 0;
	}
	if (strcmp(argv[1], "hold") == 0) {
		struct conn *cs = calloc((size_t)n, sizeof(*cs));
		int ok = 0;
		for (int i = 0; i < n; i++) {
			for (int tries = 0; tries < 3; tries++) {
				if (session_open(&cs[i], NULL) == 0) {
					ok++;
					break;
				}
				usleep(100000);
			}
		}
		printf("ready sessions=%d of %d\n", ok, n);
		fflush(stdout);
		char b[64];
		while (read(0, b, sizeof(b)) > 0)
			;
		for (int i = 0; i < n; i++)
			conn_close(&cs[i]);
		return ok == n ? 0 : 1;
	}
	if (strcmp(argv[1], "idle") == 0)
		return idle_main(n, argc - 7, argv + 7);
	return 2;
}
