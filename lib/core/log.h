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
 */
#ifndef MOAT_LOG_H
#define MOAT_LOG_H

#include <stdbool.h>
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

/* moatd: write one line received from a child. line is the raw record
 * without the newline ("<L>message"); an unknown level letter is logged
 * as info with the letter kept. Control characters are escaped so a
 * child cannot forge extra log lines. user and rip may be NULL. */
void log_forward_line(const char *procname, pid_t pid, const char *user,
		      const char *rip, const char *line, size_t len);

/* Parse "stderr", "syslog" or "file" (case-sensitive). */
int log_target_parse(const char *s, enum log_target *out);

#endif
