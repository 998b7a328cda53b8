/* Tests for lib/core/log.c. fd 2 is redirected to a pipe (or a
 * seqpacket socket, to count write() calls) and the records read back.
 * Criterion runs each test in its own process, so the static log state
 * does not leak between tests. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"

static int saved_stderr = -1;

/* Redirects fd 2 into a pipe; returns the read end. */
static int
cap_begin(void)
{
	int p[2];

	cr_assert_eq(pipe(p), 0);
	saved_stderr = dup(2);
	cr_assert_geq(saved_stderr, 0);
	cr_assert_eq(dup2(p[1], 2), 2);
	close(p[1]);
	return p[0];
}

/* Restores fd 2 and returns everything written meanwhile (static). */
static const char *
cap_end(int rfd, size_t *lenp)
{
	static char out[65536];
	size_t len = 0;
	ssize_t r;

	dup2(saved_stderr, 2);
	close(saved_stderr);
	while (len < sizeof(out) - 1 &&
	       (r = read(rfd, out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)r;
	close(rfd);
	out[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return out;
}

Test(log, child_levels)
{
	int fd = cap_begin();
	const char *out;

	log_init_child("imap");
	log_debug("hidden");
	log_info("hello %d", 5);
	log_warn("w");
	log_error("e");
	log_set_debug(true);
	cr_assert(log_debug_enabled());
	log_debug("shown");
	out = cap_end(fd, NULL);
	cr_assert_str_eq(out, "<I>hello 5\n<W>w\n<E>e\n<D>shown\n",
			 "got \"%s\"", out);
}

Test(log, child_escapes_control_chars)
{
	int fd = cap_begin();
	const char *out;

	log_init_child("imap-login");
	log_info("a\nb\rc\td\001e\177f\\g");
	out = cap_end(fd, NULL);
	cr_assert_str_eq(out, "<I>a\\nb\\rc\\td\\x01e\\x7ff\\g\n",
			 "got \"%s\"", out);
}

Test(log, child_forged_line_impossible)
{
	int fd = cap_begin();
	const char *out;

	log_init_child("imap");
	log_info("user %s", "x\n<E>forged");
	out = cap_end(fd, NULL);
	cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1,
		     "more than one line: \"%s\"", out);
	cr_assert_str_eq(out, "<I>user x\\n<E>forged\n");
}

Test(log, child_long_message_cut)
{
	static char big[10000];
	int fd = cap_begin();
	const char *out;
	size_t len;

	memset(big, 'x', sizeof(big) - 1);
	log_init_child("imap");
	log_info("%s", big);
	out = cap_end(fd, &len);
	cr_assert_leq(len, LOG_LINE_MAX, "record %zu bytes, max %d", len,
		      LOG_LINE_MAX);
	cr_assert_geq(len, LOG_LINE_MAX - 8, "cut too short: %zu", len);
	cr_assert_eq(strncmp(out, "<I>xxx", 6), 0);
	cr_assert_eq(out[len - 1], '\n');
	cr_assert_eq(strchr(out, '\n'), out + len - 1);
}

Test(log, child_cut_never_splits_escape)
{
	static char big[3000];
	int fd = cap_begin();
	const char *out;
	size_t len;

	memset(big, '\001', sizeof(big) - 1);
	log_init_child("imap");
	log_info("%s", big);
	out = cap_end(fd, &len);
	cr_assert_leq(len, LOG_LINE_MAX);
	/* "<I>" + n * "\x01" + "\n" */
	cr_assert_eq((len - 4) % 4, 0, "escape split: len %zu", len);
	cr_assert_eq(strncmp(out + len - 5, "\\x01\n", 5), 0);
}

Test(log, child_one_write_per_record)
{
	int sv[2], saved;
	char pkt[LOG_LINE_MAX * 2];
	ssize_t r;
	static char big[5000];

	memset(big, 'y', sizeof(big) - 1);
	/* A seqpacket socket keeps write() boundaries: one packet each. */
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	saved = dup(2);
	dup2(sv[1], 2);
	log_init_child("imap");
	log_info("first\nline");
	log_error("%s", big);
	dup2(saved, 2);
	close(sv[1]);
	r = recv(sv[0], pkt, sizeof(pkt), 0);
	cr_assert_eq(r, (ssize_t)strlen("<I>first\\nline\n"),
		     "first packet: got %zd bytes", r);
	r = recv(sv[0], pkt, sizeof(pkt), 0);
	cr_assert_leq(r, LOG_LINE_MAX, "second packet: %zd bytes", r);
	cr_assert_eq(pkt[r - 1], '\n');
	cr_assert_eq(pkt[1], 'E');
	r = recv(sv[0], pkt, sizeof(pkt), 0);
	cr_assert_eq(r, 0, "extra packet: %zd bytes", r);
}

Test(log, errno_preserved_and_percent_m)
{
	int fd = cap_begin();
	const char *out;

	log_init_child("auth");
	errno = ENOENT;
	log_error("open: %m");
	cr_assert_eq(errno, ENOENT, "errno changed to %d", errno);
	out = cap_end(fd, NULL);
	cr_assert_str_eq(out, "<E>open: No such file or directory\n",
			 "got \"%s\"", out);
}

/* Runs fn in a child with fd 2 on a pipe; returns the wait status and
 * what it logged. */
static int
run_child(void (*fn)(void), char *out, size_t size)
{
	int p[2], status;
	pid_t pid;
	size_t len = 0;
	ssize_t r;

	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigaction(SIGABRT, &sa, NULL);
		dup2(p[1], 2);
		close(p[0]);
		fn();
		_exit(0);
	}
	close(p[1]);
	while (len < size - 1 && (r = read(p[0], out + len, size - 1 - len)) > 0)
		len += (size_t)r;
	out[len] = '\0';
	close(p[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static void
do_fatal(void)
{
	log_init_child("imap");
	log_fatal("peer broke protocol: %d", 3);
}

static void
do_panic(void)
{
	log_init_child("imap");
	log_panic("invariant");
}

Test(log, fatal_exits_89)
{
	char out[256];
	int st = run_child(do_fatal, out, sizeof(out));

	cr_assert(WIFEXITED(st), "fatal did not exit (status %#x)", st);
	cr_assert_eq(WEXITSTATUS(st), LOG_FATAL_EXIT, "exit: got %d, want %d",
		     WEXITSTATUS(st), LOG_FATAL_EXIT);
	/* Only the first line: a sanitizer runtime may add its own report
	 * to fd 2 at exit. */
	cr_assert_eq(strncmp(out, "<F>peer broke protocol: 3\n", 26), 0,
		     "got \"%s\"", out);
}

Test(log, panic_aborts)
{
	char out[256];
	int st = run_child(do_panic, out, sizeof(out));

	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
		  "panic did not abort (status %#x)", st);
	cr_assert_eq(strncmp(out, "<F>", 3), 0, "got \"%s\"", out);
	cr_assert_neq(strstr(out, "invariant"), NULL, "got \"%s\"", out);
}

static void
assert_matches(const char *s, const char *re)
{
	regex_t rx;
	int r;

	cr_assert_eq(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0, "bad re %s",
		     re);
	r = regexec(&rx, s, 0, NULL, 0);
	regfree(&rx);
	cr_assert_eq(r, 0, "got \"%s\", want match of /%s/", s, re);
}

#define TS "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z "

Test(log, master_stderr_format)
{
	int fd = cap_begin();
	char re[256];
	const char *out;

	cr_assert_eq(log_init_master(LOG_TARGET_STDERR, NULL), 0);
	log_warn("disk %s", "full\nforged");
	out = cap_end(fd, NULL);
	snprintf(re, sizeof(re), TS "moatd\\[%ld\\]: warning: disk full\\\\nforged\n$",
		 (long)getpid());
	assert_matches(out, re);
}

Test(log, forward_format_from_design)
{
	int fd = cap_begin();
	const char *out;
	const char *line = "<I>Logged out";

	log_init_master(LOG_TARGET_STDERR, NULL);
	log_forward_line("imap", 4242, "demo", "127.0.0.1", line, strlen(line));
	out = cap_end(fd, NULL);
	assert_matches(out, TS "imap\\(demo\\)\\[4242\\] 127\\.0\\.0\\.1: info: "
		       "Logged out\n$");
}

Test(log, forward_levels_table)
{
	static const struct {
		const char *line;
		const char *want;   /* after "auth[7]: " */
	} t[] = {
		{ "<D>d", "debug: d" },
		{ "<I>i", "info: i" },
		{ "<W>w", "warning: w" },
		{ "<E>e", "error: e" },
		{ "<F>f", "fatal: f" },
		{ "<X>unknown", "info: <X>unknown" },
		{ "no level", "info: no level" },
		{ "", "info: " },
		{ "<", "info: <" },
		{ "<I", "info: <I" },
		{ "<I>", "info: " },
		{ "<i>lower", "info: <i>lower" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int fd = cap_begin();
		const char *out, *body;
		size_t len;

		log_init_master(LOG_TARGET_STDERR, NULL);
		log_forward_line("auth", 7, NULL, NULL, t[i].line,
				 strlen(t[i].line));
		out = cap_end(fd, &len);
		body = strstr(out, "Z auth[7]: ");
		cr_assert_not_null(body, "[%zu] got \"%s\"", i, out);
		body += strlen("Z auth[7]: ");
		cr_assert_eq(out[len - 1], '\n');
		cr_assert_eq(strncmp(body, t[i].want, strlen(t[i].want)), 0,
			     "[%zu] got \"%s\", want \"%s\"", i, body, t[i].want);
		cr_assert_eq(strlen(body), strlen(t[i].want) + 1,
			     "[%zu] got \"%s\", want \"%s\"", i, body, t[i].want);
	}
}

Test(log, forward_cannot_forge_lines)
{
	static const char line[] = "<I>ok\n2024-01-01T00:00:00Z moatd[1]: "
		"info: forged\r\0nul\033[31m";
	int fd = cap_begin();
	const char *out;
	size_t len;

	log_init_master(LOG_TARGET_STDERR, NULL);
	log_forward_line("imap-login", 99, "u\nser", "1.2.3.4\n", line,
			 sizeof(line) - 1);
	out = cap_end(fd, &len);
	cr_assert_eq(strchr(out, '\n'), out + len - 1,
		     "forwarded record split into lines: \"%s\"", out);
	cr_assert_neq(strstr(out, "imap-login(u\\nser)[99] 1.2.3.4\\n: info: "
			     "ok\\n2024"), NULL, "got \"%s\"", out);
	cr_assert_neq(strstr(out, "forged\\r\\x00nul\\x1b[31m\n"), NULL,
		      "got \"%s\"", out);
}

Test(log, forward_long_line_cut)
{
	static char line[20000];
	int fd = cap_begin();
	const char *out;
	size_t len;

	memset(line, 'z', sizeof(line));
	memcpy(line, "<W>", 3);
	log_init_master(LOG_TARGET_STDERR, NULL);
	log_forward_line("imap", 1, "someone", "::1", line, sizeof(line));
	out = cap_end(fd, &len);
	cr_assert_leq(len, LOG_LINE_MAX + 200, "got %zu bytes", len);
	cr_assert_eq(out[len - 1], '\n');
	cr_assert_eq(strchr(out, '\n'), out + len - 1);
}

Test(log, file_target_appends_cloexec)
{
	char path[] = "/tmp/moat-test-log-XXXXXX";
	char data[512];
	int tfd = mkstemp(path), found = 0;
	ssize_t n;
	DIR *d;
	struct dirent *de;

	cr_assert_geq(tfd, 0);
	cr_assert_eq(write(tfd, "existing\n", 9), 9);
	close(tfd);
	cr_assert_eq(log_init_master(LOG_TARGET_FILE, path), 0);
	log_info("to file");
	log_error("second");

	/* The log fd must be close-on-exec so children do not inherit it. */
	d = opendir("/proc/self/fd");
	cr_assert_not_null(d);
	while ((de = readdir(d)) != NULL) {
		char link[PATH_MAX], lp[300];
		ssize_t l;
		int fd = atoi(de->d_name);

		snprintf(lp, sizeof(lp), "/proc/self/fd/%s", de->d_name);
		l = readlink(lp, link, sizeof(link) - 1);
		if (l <= 0)
			continue;
		link[l] = '\0';
		if (strcmp(link, path) == 0) {
			found++;
			cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC,
				  "log file fd %d not cloexec", fd);
			cr_assert(fcntl(fd, F_GETFL) & O_APPEND,
				  "log file fd %d not O_APPEND", fd);
		}
	}
	closedir(d);
	cr_assert_eq(found, 1, "log file open %d times, want 1", found);

	tfd = open(path, O_RDONLY);
	n = read(tfd, data, sizeof(data) - 1);
	close(tfd);
	unlink(path);
	cr_assert_gt(n, 0);
	data[n] = '\0';
	char re[256];
	snprintf(re, sizeof(re), "^existing\n[0-9TZ:-]+ moatd\\[%ld\\]: info: to file\n"
		 "[0-9TZ:-]+ moatd\\[%ld\\]: error: second\n$", (long)getpid(),
		 (long)getpid());
	assert_matches(data, re);
}

Test(log, file_target_bad_path)
{
	errno = 0;
	cr_assert_eq(log_init_master(LOG_TARGET_FILE, "/nonexistent/dir/x.log"),
		     -1);
	cr_assert_eq(errno, ENOENT, "errno: got %d, want ENOENT", errno);
	cr_assert_eq(log_init_master(LOG_TARGET_FILE, NULL), -1);
}

Test(log, syslog_target_inits)
{
	cr_assert_eq(log_init_master(LOG_TARGET_SYSLOG, NULL), 0);
}

Test(log, target_parse_table)
{
	static const struct {
		const char *s;
		int ret;
		enum log_target want;
	} t[] = {
		{ "stderr", 0, LOG_TARGET_STDERR },
		{ "syslog", 0, LOG_TARGET_SYSLOG },
		{ "file", 0, LOG_TARGET_FILE },
		{ "Syslog", -1, 0 },
		{ "", -1, 0 },
		{ "files", -1, 0 },
		{ "stderr ", -1, 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		enum log_target got = LOG_TARGET_STDERR;
		int r = log_target_parse(t[i].s, &got);

		cr_assert_eq(r, t[i].ret, "[%zu] \"%s\": got %d, want %d", i,
			     t[i].s, r, t[i].ret);
		if (r == 0)
			cr_assert_eq(got, t[i].want, "[%zu] target %d, want %d",
				     i, got, t[i].want);
	}
}
