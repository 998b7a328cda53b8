/*
 * spawn: starting a program without fork()ing moatd. The parent prepares
 * everything (path, argv, cleaned environment, descriptors, the ids and
 * supplementary groups to take); the child shares
 * moatd's memory (CLONE_VM | CLONE_VFORK) and only makes raw system
 * calls until it execs. See spawn.c for why and for the rules the child
 * follows.
 */
#ifndef MOAT_MASTER_SPAWN_H
#define MOAT_MASTER_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Whom an imap session runs as, and where it starts. */
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
	const struct spawn_as *as;  /* NULL: same ids and cwd as moatd */
	pid_t ppid;                 /* moatd: checked after PDEATHSIG */
};

/* Starts rq->path. Returns the child's pid, or -1 with errno when no
 * child exists. A child that fails after it started writes an error
 * record to its log pipe (fds[2]) and exits with 126 (descriptors), 1
 * (ids, death signal) or 127 (exec); the caller sees it when it
 * reaps. Not reentrant: moatd is single-threaded. */
pid_t spawn_run(const struct spawn_req *rq);

/* The environment of a child: NAME=value for each name in keep
 * (NULL-terminated, may be NULL) that is set in ours, once each.
 * Free with spawn_env_free. */
char **spawn_env_new(char *const *keep);
void spawn_env_free(char ***envp);

#endif
