/*
 * harness: runs an imap session in a forked child on a socketpair, the
 * way moatd would start it, and lets a test talk to it as the client
 * and as moatd. The child's log (fd 2) is captured.
 */
#ifndef MOAT_TEST_IMAPD_HARNESS_H
#define MOAT_TEST_IMAPD_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SESS_TAG "a0"
/* After login, with the default limits (APPENDLIMIT = 64m). */
#define SESS_CAPS "IMAP4rev1 LITERAL+ ID ENABLE UIDPLUS MOVE UNSELECT " \
	"NAMESPACE CHILDREN LIST-EXTENDED LIST-STATUS SPECIAL-USE " \
	"CREATE-SPECIAL-USE MULTIAPPEND STATUS=SIZE UTF8=ACCEPT ESEARCH SEARCHRES " \
	"WITHIN SAVEDATE COMPRESS=DEFLATE CONDSTORE QRESYNC IDLE " \
	"SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT THREAD=REFERENCES BINARY " \
	"PREVIEW " \
	"APPENDLIMIT=67108864"
#define SESS_GREETING SESS_TAG " OK [CAPABILITY " SESS_CAPS "] Logged in\r\n"

struct sess_opts {
	const char *pipelined;     /* bytes pipelined after LOGIN, or NULL */
	size_t pipelined_len;      /* 0: strlen(pipelined) */
	unsigned int idle_ms;      /* != 0: run client_new directly with
				    * this idle timeout (no session_run) */
	uint64_t max_message_size; /* != 0: instead of the default */
	const char *home;          /* != NULL: instead of /home/demo */
	const char *mail;          /* != NULL: the mail location */
	const char *index;         /* != NULL: the index location */
	int timeout_ms;            /* != 0: sess_script's waits (5000) */
	bool idling;               /* with idle_ms: as if IDLE were running */
};

struct sess {
	pid_t pid;
	int fd;                    /* the client's end */
	int ipc;                   /* moatd's end of the IPC socket */
	int logfd;                 /* the child's stderr */
	char *got;                 /* everything read from fd so far */
	size_t got_len, got_cap;
	bool eof;
	char *log;                 /* the child's log, after sess_wait */
};

void sess_start(struct sess *s, const struct sess_opts *o);
/* Blocking write of all bytes (0: strlen). */
void sess_send(struct sess *s, const char *data, size_t len);
/* No more input from the client (shutdown SHUT_WR). */
void sess_shut(struct sess *s);
/* Reads until got contains needle (true) or timeout/EOF (false). */
bool sess_read_until(struct sess *s, const char *needle, int timeout_ms);
/* At most one read, waiting up to timeout_ms; false on timeout. */
bool sess_read_once(struct sess *s, int timeout_ms);
/* Reads until EOF; false on timeout. */
bool sess_read_eof(struct sess *s, int timeout_ms);
/* Waits for the child (killing it after timeout_ms), collects its log;
 * returns its exit status, or -1 if it did not exit by itself. */
int sess_wait(struct sess *s, int timeout_ms);
void sess_free(struct sess *s);

/* Whole conversation: start, send input at once, shut, read to EOF,
 * wait. Returns the exit status; s holds got and log. */
int sess_script(struct sess *s, const struct sess_opts *o,
		const char *input, size_t len);

#endif
