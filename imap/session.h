/*
 * session: how an imap process comes to life. moatd starts it as root
 * with the user's ids in its argv (session_args_parse) and fd 3
 * connected to moatd; it becomes the user before it reads anything
 * (session_become). moatd sends one IPC_SESSION_INIT that carries the
 * client connection and the mail location; session_init_recv()
 * receives and validates it, session_restrict() sets the limits (and,
 * for a spool INBOX, starts the dotlock helper before NO_NEW_PRIVS),
 * session_enter_home() enters the home (or session_refuse() tells the
 * client no), and session_run() serves the client until it is gone.
 */
#ifndef MOAT_IMAP_SESSION_H
#define MOAT_IMAP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "core/ipc.h"

/* The IPC socket to moatd (doc/design.md, "Process start-up"). */
#define SESSION_IPC_FD 3

/* Whom to become, from moatd's argv (doc/design.md, "Process start-up
 * conventions"), validated. */
struct session_ids {
	bool change;                     /* false: keep the ids we have */
	uid_t uid;                       /* never 0 */
	gid_t gid;                       /* never 0 */
	gid_t groups[IPC_GROUPS_MAX];    /* supplementary, none 0 */
	size_t n_groups;
	pid_t ppid;                      /* moatd */
};

/* imap's argv: nothing (moatd not root: keep our ids), or exactly
 * "-u UID -g GID -G GROUPS -p PPID" (GROUPS comma-separated, "" for
 * none). Returns 0, or -1 with *error set to a static text. */
int session_args_parse(int argc, char *const *argv, struct session_ids *ids,
		       const char **error);

/* With ids->change: we must be root; drops to the ids (setgroups,
 * setresgid, setresuid; then verified: all ids, the group list, no way
 * back to uid or gid 0), becomes non-dumpable, re-arms the death signal
 * (SIGTERM) that the drop cleared and checks that moatd is still our
 * parent. Without: nothing. Returns 0, or -1 with *error (static) and
 * errno. */
int session_become(const struct session_ids *ids, const char **error);

/* The session's resource limits (no core dumps, IMAP_RLIMIT_NOFILE,
 * IMAP_RLIMIT_NPROC; imap-settings.h), then, with lock_helper, the
 * mbox dotlock helper (mbox_lock_helper_start; a failure is logged and
 * the session goes on without it), then PR_SET_NO_NEW_PRIVS. Returns
 * 0, or -1 with *error (static) and errno. */
int session_restrict(bool lock_helper, const char **error);

/* SESSION_INIT's fields (lib/core/ipc-proto.h), validated. */
struct session_info {
	int fd;                          /* the client connection */
	char user[IPC_USER_MAX + 1];
	char home[IPC_PATH_MAX + 1];     /* absolute */
	char mail[IPC_PATH_MAX + 1];     /* location as given, "~" unexpanded */
	char tag[IPC_TAG_MAX + 1];       /* the LOGIN's tag, a valid tag */
	const uint8_t *pipelined;        /* borrowed: client bytes after LOGIN */
	size_t pipelined_len;            /* <= IPC_PIPELINED_MAX */
	uint32_t flags;                  /* IPC_CONN_* */
	char remote_ip[IPC_IP_MAX];
	uint16_t remote_port;
	char local_ip[IPC_IP_MAX];
	uint16_t local_port;
	/* The session settings (doc/design.md, "Session settings"). */
	char index[IPC_PATH_MAX + 1];    /* index dir as given, "~" unexpanded */
	bool fsync;                      /* mail_fsync */
	bool no_fts;                     /* search_fts = no */
	uint64_t max_line;               /* IMAP_MAX_LINE_MIN..._MAX */
	uint64_t max_literal;
	uint64_t idle_timeout_ms;
	uint64_t max_message_size;
	uint64_t output_timeout_ms;      /* a client taking no output */
};

/* The defaults for the settings above (imap-settings.h), for sessions
 * built without moatd: the tests. */
void session_info_defaults(struct session_info *si);

/* Decodes and checks a SESSION_INIT message. On success si->pipelined
 * points into msg's payload and si->fd is msg->fd (not yet checked to be
 * a socket: session_init_recv does that). Returns 0, or -1 with *error
 * set to a static text for the log. Never closes msg->fd. */
int session_info_decode(const struct ipc_msg *msg, struct session_info *si,
			const char **error);

/* True when the session's mail location needs the dotlock helper: an
 * mbox INBOX in a directory the user cannot write, the spool
 * (store_needs_lock_helper). Call after session_become (the check is
 * the user's access) and before session_restrict. */
bool session_needs_lock_helper(const struct session_info *si);

/* Blocks on sock for SESSION_INIT and validates it, the descriptor
 * included (a stream socket, then made non-blocking and close-on-exec).
 * si->pipelined is then an xmalloc'd copy (NULL when empty) that the
 * caller frees. Anything unexpected is moatd breaking protocol:
 * log_fatal. */
void session_init_recv(int sock, struct session_info *si);

/* chdir to home. 0, or -1 (logged, errno set): the session must not
 * start (session_refuse). */
int session_enter_home(const char *home);

/* Answers the client's LOGIN (si->tag) with NO [UNAVAILABLE] and
 * announces the close with BYE [UNAVAILABLE]; one write, no wait. */
void session_refuse(const struct session_info *si);

/* Serves the session: the client on si->fd, moatd on ipc_fd (EOF or any
 * message ends the session), SIGTERM. Returns the exit status. */
int session_run(int ipc_fd, const struct session_info *si);

/* The index location with a leading "~" expanded to home (mail_index is
 * "~/PATH" or absolute, config.c). xmalloc'd, or NULL if too long. */
char *session_expand_index(const char *index, const char *home);

/* The mail location with "~" expanded to home where it starts a path:
 * at the beginning, or after ':' or '=' ("maildir:~/Maildir",
 * "mbox:~/mail:INBOX=~/inbox"), followed by '/' or the end. Returns an
 * xmalloc'd string, or NULL if the result would exceed IPC_PATH_MAX. */
char *session_expand_home(const char *mail, const char *home);

#endif
