/*
 * log: four severities (Postfix msg(3) style) plus debug.
 *   info/warn  continue;  error  something failed (counted);
 *   fatal      setup cannot continue or a peer process broke protocol:
 *              log and exit(LOG_FATAL_EXIT);
 *   panic      our own invariant is broken: log and abort().
 * Client input never reaches fatal or panic.
 *
 * Child processes (auth, imap-login, imap) log to stderr, which moatd
 * connects to a pipe; each record is one line "<L>message\n" where L is
 * one of D I W E F. moatd reads those lines (log_forward_line) and writes
 * them to the real target with process name, pid, user and client
 * address. A chrooted process therefore never needs /dev/log.
 *
 * Line layout (doc/design.md, "Logging"): a message about a client starts
 * with the fields Moat knows, "rip=ADDR" then "lip=ADDR" when known, then
 * the event, then key=value fields; a client string is never written
 * before the address, so a pattern anchored on "rip=" (fail2ban,
 * doc/fail2ban.md) reads the address moatd accepted the connection from.
 */
#ifndef MOAT_LOG_H
#define MOAT_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define LOG_FATAL_EXIT 89
/* Longest line a child may send; longer lines are cut. */
#define LOG_LINE_MAX 2048

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR,
		 LOG_LVL_FATAL };

enum log_target { LOG_TARGET_STDERR, LOG_TARGET_SYSLOG, LOG_TARGET_FILE };

/* A child process: write records to fd 2 in the pipe format. */
void log_init_child(const char *procname);
/* moatd: write to the real target. path is used for LOG_TARGET_FILE.
 * Returns -1 (errno set) if the file cannot be opened. */
int log_init_master(enum log_target target, const char *path);
void log_set_debug(bool on);
bool log_debug_enabled(void);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn, cold));
void log_panic(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn, cold));

/*
 * Client strings. Every string a client chose (user names, ID fields and
 * values, mailbox names, any text that embeds one) goes into a log line
 * only through LOG_Q() or LOG_QN(), never as a bare %s:
 *
 *   log_info("rip=%s authentication failed: user=%s", rip, LOG_Q(user));
 *
 * The result is one token that cannot be mistaken for Moat's own fields:
 *   "text"     printable ASCII as is, except '"', '\\' and '='; those and
 *              every other byte (control, DEL, 8-bit) as \xHH (lower-case
 *              hex). 8-bit bytes are escaped even when they are UTF-8:
 *              the log stays ASCII, and one name has one spelling (no
 *              look-alike or bidi characters).
 *   "text"...  cut to fit LOG_QUOTED_MAX - 1 bytes; the marker stands
 *              after the closing quote, where no client byte can be, and
 *              an escape is never split.
 *   -          a NULL pointer.
 * So no '=', '"' or space a client sent stands bare in a line: a client
 * can neither end the quoted value nor write a "key=value" of its own.
 * Values Moat chose (addresses from accept, numbers, our constants such
 * as method=PLAIN) are written bare.
 *
 * Each LOG_Q() is a compound literal holding its own buffer, alive to the
 * end of the enclosing block: use it in the log call's arguments (any
 * number per call), do not keep the pointer.
 */
#define LOG_QUOTED_MAX 320
struct log_quoted {
	char s[LOG_QUOTED_MAX];
};
#define LOG_Q(str) log_quote(&(struct log_quoted){ .s = "" }, (str))
#define LOG_QN(ptr, len) \
	log_quote_mem(&(struct log_quoted){ .s = "" }, (ptr), (len))

/* Quote s (NUL-terminated, or NULL) or len bytes at p into q; returns
 * q->s. Prefer the macros. */
const char *log_quote(struct log_quoted *q, const char *s);
const char *log_quote_mem(struct log_quoted *q, const void *p, size_t len);

/* moatd: write one line received from a child. line is the raw record
 * without the newline ("<L>message"); an unknown level letter is logged
 * as info with the letter kept. Control characters are escaped so a
 * child cannot forge extra log lines. user and rip may be NULL. The
 * prefix puts the address before the (quoted) user:
 *   imap[4242] rip=127.0.0.1 user="demo": info: Logged out */
void log_forward_line(const char *procname, pid_t pid, const char *user,
		      const char *rip, const char *line, size_t len);

/* Parse "stderr", "syslog" or "file" (case-sensitive). */
int log_target_parse(const char *s, enum log_target *out);

#endif
