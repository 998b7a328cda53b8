/*
 * loadgen: the benchmark's IMAP client, in C so that the client is not
 * the bottleneck. It drives any IMAP server (Moat or Dovecot) the same
 * way and reports its own CPU time next to the results.
 *
 *   loadgen logins HOST PORT plain|tls USERFILE CONCURRENCY SECONDS
 *       CONCURRENCY threads each loop: connect, [TLS handshake], read the
 *       greeting, LOGIN, LOGOUT, close. Prints logins/s.
 *   loadgen hold HOST PORT plain|tls USERFILE N
 *       Logs in N sessions and keeps them open, idle. Prints "ready" when
 *       all are logged in, then waits until stdin reaches EOF.
 *
 * USERFILE: "user password" per line; clients take users round-robin.
 */
#include <errno.h>
#include <netdb.h>
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
static bool use_tls;
static SSL_CTX *ctx;
static atomic_ulong done_logins, failed;
static atomic_uint next_user;
static volatile bool stop;

struct conn { int fd; SSL *ssl; char buf[8192]; size_t len; };

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int conn_write(struct conn *c, const char *s)
{
	size_t len = strlen(s);
	if (c->ssl != NULL)
		return SSL_write(c->ssl, s, (int)len) == (int)len ? 0 : -1;
	return write(c->fd, s, len) == (ssize_t)len ? 0 : -1;
}

/* Reads until a line starting with prefix arrives. 0 ok, -1 error/EOF. */
static int conn_expect(struct conn *c, const char *prefix)
{
	size_t plen = strlen(prefix);
	for (;;) {
		char *nl;
		while ((nl = memchr(c->buf, '\n', c->len)) != NULL) {
			size_t linelen = (size_t)(nl - c->buf) + 1;
			bool match = linelen >= plen &&
				memcmp(c->buf, prefix, plen) == 0;
			memmove(c->buf, nl + 1, c->len - linelen);
			c->len -= linelen;
			if (match)
				return 0;
		}
		if (c->len == sizeof(c->buf))
			return -1;
		ssize_t n;
		if (c->ssl != NULL)
			n = SSL_read(c->ssl, c->buf + c->len,
				     (int)(sizeof(c->buf) - c->len));
		else
			n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n <= 0)
			return -1;
		c->len += (size_t)n;
	}
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

/* Connect and log in. 0 ok. */
static int session_open(struct conn *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0)
		return -1;
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		goto fail;
	if (use_tls) {
		c->ssl = SSL_new(ctx);
		SSL_set_fd(c->ssl, c->fd);
		if (SSL_connect(c->ssl) != 1)
			goto fail;
	}
	if (conn_expect(c, "* OK") < 0)
		goto fail;
	struct user *u = &users[atomic_fetch_add(&next_user, 1) % n_users];
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "a LOGIN %s %s\r\n", u->name, u->pass);
	if (conn_write(c, cmd) < 0 || conn_expect(c, "a ") < 0)
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
		if (session_open(&c) < 0) {
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

int main(int argc, char **argv)
{
	if (argc < 7) {
		fprintf(stderr, "usage: loadgen logins|hold HOST PORT plain|tls "
			"USERFILE N [SECONDS]\n");
		return 2;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)atoi(argv[3]));
	if (inet_pton(AF_INET, argv[2], &addr.sin_addr) != 1)
		return 2;
	use_tls = strcmp(argv[4], "tls") == 0;
	load_users(argv[5]);
	int n = atoi(argv[6]);
	ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);

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
				if (session_open(&cs[i]) == 0) {
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
	return 2;
}
