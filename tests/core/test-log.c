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
#include <stdbool.h>
#include <stdint.h>
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
	assert_matches(out, TS "imap\\[4242\\] rip=127\\.0\\.0\\.1 "
		       "user=\"demo\": info: Logged out\n$");
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
	cr_assert_neq(strstr(out, "imap-login[99] rip=1.2.3.4\\x0a "
			     "user=\"u\\x0aser\": info: ok\\n2024"), NULL,
		      "got \"%s\"", out);
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

/* ---- LOG_Q: client strings as quoted tokens ---- */

Test(log, quote_table)
{
	static const struct {
		const char *in;
		size_t len;
		const char *want;
	} t[] = {
		{ "", 0, "\"\"" },
		{ "demo", 4, "\"demo\"" },
		{ "a b", 3, "\"a b\"" },
		{ "~!#<>[]^_`{|}", 13, "\"~!#<>[]^_`{|}\"" },
		/* The attacks of issue 5: a second field, a closed quote. */
		{ "x rip=203.0.113.7", 17, "\"x rip\\x3d203.0.113.7\"" },
		{ "x\" rip=\"203.0.113.7", 19,
		  "\"x\\x22 rip\\x3d\\x22203.0.113.7\"" },
		{ "x\nrip=203.0.113.7", 17, "\"x\\x0arip\\x3d203.0.113.7\"" },
		{ "a\\b", 3, "\"a\\x5cb\"" },
		{ "\\x41", 4, "\"\\x5cx41\"" },
		{ "\t\r\001\037\177", 5, "\"\\x09\\x0d\\x01\\x1f\\x7f\"" },
		{ "a\0b", 3, "\"a\\x00b\"" },
		/* 8-bit, UTF-8 or not: escaped byte by byte. */
		{ "jos\xc3\xa9", 5, "\"jos\\xc3\\xa9\"" },
		{ "\x80\xff", 2, "\"\\x80\\xff\"" },
		{ "\xe2\x80\xae", 3, "\"\\xe2\\x80\\xae\"" },   /* RLO */
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *got = LOG_QN(t[i].in, t[i].len);

		cr_assert_str_eq(got, t[i].want, "[%zu] got %s, want %s", i,
				 got, t[i].want);
		if (memchr(t[i].in, '\0', t[i].len) == NULL)
			cr_assert_str_eq(LOG_Q(t[i].in), t[i].want,
					 "[%zu] LOG_Q differs", i);
	}
}

Test(log, quote_null_is_a_dash)
{
	cr_assert_str_eq(LOG_Q(NULL), "-");
	cr_assert_str_eq(LOG_QN(NULL, 5), "-");
}

Test(log, quote_each_value_has_its_own_buffer)
{
	char line[64];

	snprintf(line, sizeof(line), "%s %s %s", LOG_Q("a"), LOG_Q("b c"),
		 LOG_Q(""));
	cr_assert_str_eq(line, "\"a\" \"b c\" \"\"", "got %s", line);
}

Test(log, quote_longest_uncut)
{
	static char in[LOG_QUOTED_MAX];
	const char *got;

	/* Two quotes and the NUL: LOG_QUOTED_MAX - 3 plain bytes fit. */
	memset(in, 'a', LOG_QUOTED_MAX - 3);
	got = LOG_Q(in);
	cr_assert_eq(strlen(got), LOG_QUOTED_MAX - 1, "got %zu bytes",
		     strlen(got));
	cr_assert_eq(got[strlen(got) - 1], '"', "cut: ...%s",
		     got + strlen(got) - 8);
}

Test(log, quote_cut_is_marked)
{
	static char in[LOG_QUOTED_MAX];
	const char *got;
	size_t len;

	memset(in, 'a', LOG_QUOTED_MAX - 2);
	got = LOG_Q(in);
	len = strlen(got);
	cr_assert_leq(len, LOG_QUOTED_MAX - 1);
	cr_assert_eq(strcmp(got + len - 4, "\"..."), 0, "no marker: ...%s",
		     got + len - 8);
	/* Everything before the marker is the input's start. */
	cr_assert_eq(strspn(got + 1, "a"), len - 5);
	/* As much as fits with the marker: the buffer is full. */
	cr_assert_eq(len, LOG_QUOTED_MAX - 1, "got %zu bytes", len);
}

Test(log, quote_cut_never_splits_escape)
{
	static char in[100000];
	const char *got;
	size_t len;

	memset(in, '\001', sizeof(in));
	got = LOG_QN(in, sizeof(in));
	len = strlen(got);
	cr_assert_leq(len, LOG_QUOTED_MAX - 1, "got %zu bytes", len);
	cr_assert_eq(strcmp(got + len - 4, "\"..."), 0);
	/* quote + n * "\x01" + marker */
	cr_assert_eq((len - 5) % 4, 0, "escape split: %zu bytes", len);
	cr_assert_eq(strncmp(got + len - 8, "\\x01", 4), 0, "got ...%s",
		     got + len - 12);
	cr_assert_gt(len, LOG_QUOTED_MAX - 1 - 4, "cut short: %zu", len);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Parses a quoted token back: -1 if it is not one (a bare '"', '=' or
 * '\\' inside, a non-ASCII byte, a bad escape), else the decoded length
 * and whether it was cut. */
static long
unquote(const char *q, unsigned char *out, bool *cut)
{
	long n = 0;

	if (*q++ != '"')
		return -1;
	for (; *q != '"'; q++) {
		unsigned char c = (unsigned char)*q;

		if (c == '\\') {
			int h, l;

			if (q[1] != 'x' || (h = hexval(q[2])) < 0 ||
			    (l = hexval(q[3])) < 0)
				return -1;
			out[n++] = (unsigned char)(h * 16 + l);
			q += 3;
		} else if (c < 0x20 || c >= 0x7f || c == '=') {
			return -1;
		} else {
			out[n++] = c;
		}
	}
	q++;
	*cut = strcmp(q, "...") == 0;
	if (!*cut && *q != '\0')
		return -1;
	return n;
}

/* Any bytes at all: the token parses back to the input (or, when cut,
 * to a prefix of it), so a reader of the log can never be misled. */
Test(log, quote_round_trips_random_bytes)
{
	static unsigned char in[600], back[600];
	uint32_t x = 12345;

	for (int round = 0; round < 2000; round++) {
		size_t len;
		const char *got;
		bool cut;
		long n;

		x = x * 1103515245 + 12345;
		len = (x >> 8) % sizeof(in);
		for (size_t i = 0; i < len; i++) {
			x = x * 1103515245 + 12345;
			/* Mostly the interesting bytes. */
			in[i] = (x >> 16) % 4 == 0 ? (unsigned char)"\"=\\ \n"[
				(x >> 20) % 5] : (unsigned char)(x >> 24);
		}
		got = LOG_QN(in, len);
		cr_assert_lt(strlen(got), LOG_QUOTED_MAX);
		n = unquote(got, back, &cut);
		cr_assert_geq(n, 0, "[%d] not a quoted token: %s", round, got);
		cr_assert_leq((size_t)n, len);
		cr_assert(cut || (size_t)n == len, "[%d] %ld of %zu bytes, "
			  "not marked as cut", round, n, len);
		cr_assert_eq(memcmp(back, in, (size_t)n), 0, "[%d] decodes to "
			     "other bytes: %s", round, got);
	}
}

Test(log, quoted_user_in_a_child_record)
{
	int fd = cap_begin();
	const char *out;

	log_init_child("auth");
	log_info("rip=%s authentication failed: user=%s (%s)", "127.0.0.1",
		 LOG_Q("x rip=203.0.113.7"), "bad credentials");
	out = cap_end(fd, NULL);
	cr_assert_str_eq(out, "<I>rip=127.0.0.1 authentication failed: "
			 "user=\"x rip\\x3d203.0.113.7\" (bad credentials)\n",
			 "got \"%s\"", out);
}

/* moatd's prefix: a user name cannot add a field before the level. */
Test(log, forward_user_cannot_spoof_fields)
{
	static const struct {
		const char *user, *want;
	} t[] = {
		{ "x rip=203.0.113.7",
		  "imap[5] rip=127.0.0.1 user=\"x rip\\x3d203.0.113.7\": "
		  "info: hi\n" },
		{ "x\" rip=\"203.0.113.7",
		  "imap[5] rip=127.0.0.1 user=\"x\\x22 rip\\x3d\\x22203.0.113.7"
		  "\": info: hi\n" },
		{ "a): error: forged",
		  "imap[5] rip=127.0.0.1 user=\"a): error: forged\": "
		  "info: hi\n" },
		{ "", "imap[5] rip=127.0.0.1 user=\"\": info: hi\n" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int fd = cap_begin();
		const char *out, *body;

		log_init_master(LOG_TARGET_STDERR, NULL);
		log_forward_line("imap", 5, t[i].user, "127.0.0.1", "<I>hi", 5);
		out = cap_end(fd, NULL);
		body = strchr(out, ' ');
		cr_assert_not_null(body);
		cr_assert_str_eq(body + 1, t[i].want, "[%zu] got %s", i,
				 body + 1);
	}
}

Test(log, forward_long_user_cut_with_marker)
{
	char user[257];
	int fd = cap_begin();
	const char *out, *u, *end;

	memset(user, '"', 256);
	user[256] = '\0';
	log_init_master(LOG_TARGET_STDERR, NULL);
	log_forward_line("imap", 5, user, "::1", "<I>hi", 5);
	out = cap_end(fd, NULL);
	u = strstr(out, " user=\"");
	cr_assert_not_null(u, "got %s", out);
	end = strstr(u, "\"...: info: hi\n");
	cr_assert_not_null(end, "no cut marker: %s", out);
	cr_assert_leq((size_t)(end - u), LOG_QUOTED_MAX, "user took %zu bytes",
		      (size_t)(end - u));
	cr_assert_neq(strstr(out, "imap[5] rip=::1 user="), NULL, "got %s",
		      out);
}

Test(log, forward_prefix_tokens_escaped)
{
	int fd = cap_begin();
	const char *out;

	log_init_master(LOG_TARGET_STDERR, NULL);
	log_forward_line("im ap", 5, NULL, "1.2.3.4 rip=5.6.7.8", "<W>w", 4);
	out = cap_end(fd, NULL);
	cr_assert_neq(strstr(out, "Z im\\x20ap[5] rip=1.2.3.4\\x20rip\\x3d"
			     "5.6.7.8: warning: w\n"), NULL, "got %s", out);
}
