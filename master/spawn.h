/*
 * spawn: starting a program without fork()ing moatd. The parent prepares
 * everything (path, argv, cleaned environment, descriptors); the child
 * shares moatd's memory (CLONE_VM | CLONE_VFORK) and only makes raw
 * system calls until it execs. It runs as root until then and changes no
 * ids, because moatd waits for it and a user may stop a process that
 * runs as that user: a session takes on the user's ids itself, from its
 * argv (spawn_session_argv). See spawn.c for why and for the rules the
 * child follows.
 */
#ifndef MOAT_MASTER_SPAWN_H
#define MOAT_MASTER_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/ipc-proto.h"

/* Supplementary groups a session may be given (as auth sends them). */
#define SPAWN_GROUPS_MAX IPC_GROUPS_MAX

/* Whom an imap session runs as. */
struct spawn_as {
	const char *user;           /* for log records only */
	bool change_ids;            /* false when moatd is not root */
	uid_t uid;
	gid_t gid;
	const gid_t *groups;        /* supplementary groups (setgroups) */
	size_t n_groups;
};

struct spawn_req {
	const char *path;           /* absolute */
	char *const *argv;
	char *const *envp;
	/* Become the child's 0..3. Not closed; may repeat. */
	int fds[4];
	bool chdir_root;            /* leave moatd's cwd for "/" (sessions) */
	pid_t ppid;                 /* moatd: checked after PDEATHSIG */
};

/* Starts rq->path with moatd's ids. Returns the child's pid, or -1 with
 * errno when no child exists. A child that fails after it started
 * writes an error record to its log pipe (fds[2]) and exits with 126
 * (descriptors), 1 (cwd, death signal) or 127 (exec); the caller sees
 * it when it reaps. Not reentrant: moatd is single-threaded. */
pid_t spawn_run(const struct spawn_req *rq);

/* The argv of a session that is to become as's user (doc/design.md,
 * "Process start-up conventions"; imap/session.c parses it): base's
 * words, then "-u" UID "-g" GID "-G" GROUPS "-p" PPID, with GROUPS
 * comma-separated decimal ("" for none) and PPID moatd's pid, which the
 * session checks once it has re-armed its death signal. NULL with errno
 * EINVAL for (uid_t)-1 or (gid_t)-1 (which setresuid and setgroups would
 * misread), more than SPAWN_GROUPS_MAX groups, or ppid <= 0. Free with
 * spawn_argv_free. */
char **spawn_session_argv(char *const *base, const struct spawn_as *as,
			  pid_t ppid);
void spawn_argv_free(char ***argvp);

/* The environment of a child: NAME=value for each name in keep
 * (NULL-terminated, may be NULL) that is set in ours, once each.
 * Free with spawn_env_free. */
char **spawn_env_new(char *const *keep);
void spawn_env_free(char ***envp);

#endif
