/*
 * log: Postfix-style severities. Children (auth, imap-login, imap) write
 * "<L>text\n" records to fd 2, a pipe to moatd; moatd writes its own
 * messages and the forwarded child records to stderr, syslog or a file.
 *
 * Trust: our own messages may embed client data (user names, commands),
 * and log_forward_line() reads records from children that may be
 * compromised. Every control character is escaped and every line is
 * bounded, so no input can forge a second log line or grow a line
 * without limit. Client strings are quoted with LOG_Q (log_quote), so
 * they cannot forge fields inside a line either: the same quoting is
 * used for the user in log_forward_line's prefix.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/str.h"

enum log_mode { LOG_MODE_DEFAULT, LOG_MODE_CHILD, LOG_MODE_MASTER };

/* Panic is not a level of its own on the pipe (the format has five
 * letters); it is sent as F with a "panic: " text in master mode. */
#define LOG_LVL_PANIC (LOG_LVL_FATAL + 1)

static enum log_mode log_mode = LOG_MODE_DEFAULT;
static enum log_target log_target = LOG_TARGET_STDERR;
static int log_fd = 2;
static bool log_debug_on;
static unsigned long log_error_count;
static char log_procname[64] = "moat";

static const char level_letters[] = { 'D', 'I', 'W', 'E', 'F', 'F' };
static const char *const level_names[] = { "debug", "info", "warning",
					   "error", "fatal", "panic" };
static const int level_prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR,
				  LOG_CRIT, LOG_CRIT };

/* Room for the prefix moatd adds before a child's (escaped, cut) text. */
#define LOG_OUT_MAX (LOG_LINE_MAX + 512)

struct out {
	char *p;
	size_t size;    /* including room for the final NUL */
	size_t len;
};

static void
out_raw(struct out *o, const char *s, size_t n)
{
	if (n > o->size - 1 - o->len)
		n = o->size - 1 - o->len;
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

/* Appends s with control characters escaped (\n \r \t \xHH). An escape
 * is never split when the output is cut. */
static void
out_escaped(struct out *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char e[4];
		size_t elen;

		if (c >= 0x20 && c != 0x7f) {
			e[0] = (char)c;
			elen = 1;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			e[0] = '\\';
			e[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
			elen = 2;
		} else {
			e[0] = '\\';
			e[1] = 'x';
			e[2] = hex[c >> 4];
			e[3] = hex[c & 0xf];
			elen = 4;
		}
		if (elen > o->size - 1 - o->len)
			break;
		memcpy(o->p + o->len, e, elen);
		o->len += elen;
	}
	o->p[o->len] = '\0';
}

/* A byte written as itself inside a quoted value or a bare token; all
 * others become \xHH. '=' is escaped so that "key=" in a line is ours. */
static bool
quote_plain(unsigned char c, bool in_quotes)
{
	if (c == ' ')
		return in_quotes;
	return c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '=';
}

/* Smallest room for a quoted value: its shortest cut form (quote,
 * quote, three dots) and the NUL. */
#define QUOTE_ROOM_MIN 6

/* Writes s as a quoted token into dst (size bytes with the NUL; see
 * log.h for the format) and returns its length. When it does not fit,
 * it is cut at an escape boundary and marked with "..." after the
 * closing quote. */
static size_t
quote_into(char *dst, size_t size, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, mark;

	if (size < QUOTE_ROOM_MIN) {
		if (size > 0)
			dst[0] = '\0';
		return 0;
	}
	if (s == NULL) {
		dst[0] = '-';
		dst[1] = '\0';
		return 1;
	}
	dst[o++] = '"';
	/* mark: the longest prefix after which the cut marker still fits
	 * (closing quote, "...", NUL). */
	mark = o;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t elen = quote_plain(c, true) ? 1 : 4;

		if (o + elen + 2 > size) {
			o = mark;
			memcpy(dst + o, "\"...", 4);
			o += 4;
			dst[o] = '\0';
			return o;
		}
		if (elen == 1) {
			dst[o++] = (char)c;
		} else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 0xf];
		}
		if (o + 5 <= size)
			mark = o;
	}
	dst[o++] = '"';
	dst[o] = '\0';
	return o;
}

const char *
log_quote_mem(struct log_quoted *q, const void *p, size_t len)
{
	(void)quote_into(q->s, sizeof(q->s), p, len);
	return q->s;
}

const char *
log_quote(struct log_quoted *q, const char *s)
{
	return log_quote_mem(q, s, s != NULL ? strlen(s) : 0);
}

/* Appends s quoted (log_quote), bounded like one LOG_Q value. */
static void
out_quoted(struct out *o, const char *s, size_t n)
{
	size_t room = o->size - o->len;

	if (room > LOG_QUOTED_MAX)
		room = LOG_QUOTED_MAX;
	o->len += quote_into(o->p + o->len, room, s, n);
}

/* Appends s as one bare token (no quotes, nothing but the plain bytes
 * of quote_plain, everything else \xHH): for the process name and the
 * address, which are moatd's own but must still be one field. */
static void
out_token(struct out *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char e[4] = { (char)c, 0, 0, 0 };
		size_t elen = 1;

		if (!quote_plain(c, false)) {
			e[0] = '\\';
			e[1] = 'x';
			e[2] = hex[c >> 4];
			e[3] = hex[c & 0xf];
			elen = 4;
		}
		if (elen > o->size - 1 - o->len)
			break;
		memcpy(o->p + o->len, e, elen);
		o->len += elen;
	}
	o->p[o->len] = '\0';
}

static void
write_all_once(int fd, const char *s, size_t len)
{
	ssize_t r;

	/* One write() per record: a pipe write of at most PIPE_BUF bytes is
	 * atomic, so records from one process never interleave. */
	do
		r = write(fd, s, len);
	while (r < 0 && errno == EINTR);
}

static void
out_timestamp(struct out *o)
{
	char ts[32];
	struct tm tm;
	time_t now = time(NULL);

	if (gmtime_r(&now, &tm) != NULL &&
	    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ ", &tm) > 0)
		out_raw(o, ts, strlen(ts));
}

/* Writes a finished master-format line (without timestamp and newline)
 * to the target. */
static void
emit_master(int level, struct out *o, size_t body_start)
{
	if (log_target == LOG_TARGET_SYSLOG) {
		syslog(level_prio[level], "%s", o->p + body_start);
		return;
	}
	/* The newline always fits: out_* leave one byte, and we reserved
	 * it by building the line one byte short. */
	o->p[o->len++] = '\n';
	write_all_once(log_fd, o->p, o->len);
}

static void __attribute__((format(printf, 2, 0)))
log_emit(int level, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX];
	char line[LOG_OUT_MAX];
	struct out o = { line, sizeof(line) - 1, 0 };
	int n;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0) {
		str_copy(msg, "(log format error)", sizeof(msg));
		n = (int)strlen(msg);
	} else if ((size_t)n >= sizeof(msg)) {
		n = (int)sizeof(msg) - 1;
	}

	if (log_mode == LOG_MODE_CHILD) {
		/* "<L>" + text + "\n" must fit in LOG_LINE_MAX: the out_*
		 * helpers keep one byte free, which the newline takes. */
		o.size = LOG_LINE_MAX;
		line[0] = '<';
		line[1] = level_letters[level];
		line[2] = '>';
		o.len = 3;
		if (level == LOG_LVL_PANIC)
			out_raw(&o, "panic: ", 7);
		out_escaped(&o, msg, (size_t)n);
		line[o.len++] = '\n';
		write_all_once(2, line, o.len);
		return;
	}

	if (log_target != LOG_TARGET_SYSLOG)
		out_timestamp(&o);
	size_t body = o.len;
	char pfx[128];
	snprintf(pfx, sizeof(pfx), "%s[%ld]: %s: ", log_procname,
		 (long)getpid(), level_names[level]);
	if (log_target == LOG_TARGET_SYSLOG)
		snprintf(pfx, sizeof(pfx), "%s: ", level_names[level]);
	out_raw(&o, pfx, strlen(pfx));
	out_escaped(&o, msg, (size_t)n);
	emit_master(level, &o, body);
}

void
log_init_child(const char *procname)
{
	if (procname != NULL)
		str_copy(log_procname, procname, sizeof(log_procname));
	if (log_mode == LOG_MODE_MASTER && log_target == LOG_TARGET_SYSLOG)
		closelog();
	if (log_mode == LOG_MODE_MASTER && log_fd != 2)
		close(log_fd);
	log_fd = 2;
	log_mode = LOG_MODE_CHILD;
}

int
log_init_master(enum log_target target, const char *path)
{
	int fd = 2;

	if (target == LOG_TARGET_FILE) {
		if (path == NULL) {
			errno = EINVAL;
			return -1;
		}
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC |
			  O_NOCTTY, 0640);
		if (fd < 0)
			return -1;
	} else if (target != LOG_TARGET_STDERR && target != LOG_TARGET_SYSLOG) {
		errno = EINVAL;
		return -1;
	}
	if (log_mode == LOG_MODE_MASTER && log_target == LOG_TARGET_SYSLOG)
		closelog();
	if (log_mode == LOG_MODE_MASTER && log_fd != 2)
		close(log_fd);
	log_fd = fd;
	log_target = target;
	log_mode = LOG_MODE_MASTER;
	str_copy(log_procname, "moatd", sizeof(log_procname));
	if (target == LOG_TARGET_SYSLOG)
		openlog("moatd", LOG_PID | LOG_NDELAY, LOG_MAIL);
	return 0;
}

void
log_set_debug(bool on)
{
	log_debug_on = on;
}

bool
log_debug_enabled(void)
{
	return log_debug_on;
}

#define LOG_FN(name, level) \
void \
name(const char *fmt, ...) \
{ \
	int saved = errno; \
	va_list ap; \
	va_start(ap, fmt); \
	log_emit(level, fmt, ap); \
	va_end(ap); \
	errno = saved; \
}

void
log_debug(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (!log_debug_on)
		return;
	va_start(ap, fmt);
	log_emit(LOG_LVL_DEBUG, fmt, ap);
	va_end(ap);
	errno = saved;
}

LOG_FN(log_info, LOG_LVL_INFO)
LOG_FN(log_warn, LOG_LVL_WARN)

void
log_error(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	log_error_count++;
	va_start(ap, fmt);
	log_emit(LOG_LVL_ERROR, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LVL_FATAL, fmt, ap);
	va_end(ap);
	exit(LOG_FATAL_EXIT);
}

void
log_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LVL_PANIC, fmt, ap);
	va_end(ap);
	abort();
}

void
log_forward_line(const char *procname, pid_t pid, const char *user,
		 const char *rip, const char *line, size_t len)
{
	char buf[LOG_OUT_MAX];
	struct out o = { buf, sizeof(buf) - 1, 0 };
	int level = LOG_LVL_INFO;
	char pidstr[32];
	int saved = errno;

	/* "<L>" with a known letter selects the level; anything else is
	 * logged whole as info so nothing the child said is lost. */
	if (len >= 3 && line[0] == '<' && line[2] == '>') {
		const char *l = memchr(level_letters, line[1], 5);

		if (l != NULL) {
			level = (int)(l - level_letters);
			line += 3;
			len -= 3;
		}
	}
	if (len > LOG_LINE_MAX)
		len = LOG_LINE_MAX;

	if (log_target != LOG_TARGET_SYSLOG || log_mode != LOG_MODE_MASTER)
		out_timestamp(&o);
	size_t body = o.len;
	/* "imap[4242] rip=127.0.0.1 user="demo": ": the address before the
	 * only client string, which is quoted. */
	out_token(&o, procname, strnlen(procname, 64));
	snprintf(pidstr, sizeof(pidstr), "[%ld]", (long)pid);
	out_raw(&o, pidstr, strlen(pidstr));
	if (rip != NULL) {
		out_raw(&o, " rip=", 5);
		out_token(&o, rip, strnlen(rip, 64));
	}
	if (user != NULL) {
		out_raw(&o, " user=", 6);
		out_quoted(&o, user, strnlen(user, 256));
	}
	out_raw(&o, ": ", 2);
	out_raw(&o, level_names[level], strlen(level_names[level]));
	out_raw(&o, ": ", 2);
	out_escaped(&o, line, len);
	if (log_mode != LOG_MODE_MASTER) {
		o.p[o.len++] = '\n';
		write_all_once(log_fd, o.p, o.len);
	} else {
		emit_master(level, &o, body);
	}
	errno = saved;
}

int
log_target_parse(const char *s, enum log_target *out)
{
	if (strcmp(s, "stderr") == 0)
		*out = LOG_TARGET_STDERR;
	else if (strcmp(s, "syslog") == 0)
		*out = LOG_TARGET_SYSLOG;
	else if (strcmp(s, "file") == 0)
		*out = LOG_TARGET_FILE;
	else
		return -1;
	return 0;
}
