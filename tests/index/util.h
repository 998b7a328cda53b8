/* Helpers shared by the tests in tests/index: temporary directories and
 * child processes that report failures through their exit status. */
#ifndef MOAT_TESTS_INDEX_UTIL_H
#define MOAT_TESTS_INDEX_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include "index/index.h"

/* A new empty directory under $TMPDIR (or /tmp); free() the result. */
char *tu_tmpdir(void);
/* <base>/<name>, malloc()ed. */
char *tu_path(const char *base, const char *name);
/* rm -rf */
void tu_rmrf(const char *path);
/* Number of directory entries whose name starts with prefix. */
int tu_count(const char *dir, const char *prefix);

/* In a child: print the failure and _exit(1). */
#define TU_CHECK(cond, ...) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: ", __FILE__, __LINE__); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
		_exit(1); \
	} \
} while (0)

/* fork(); the child runs fn(arg) and _exit(0)s. Never call with an
 * index open in the calling process. */
pid_t tu_fork(void (*fn)(void *), void *arg);
/* SIGKILLs and reaps every child tu_fork started that is still there
 * (teardown: a failed test must not leave writers running). */
void tu_kill_children(void);
/* waitpid with a deadline; SIGKILLs the child when it passes. Returns
 * the exit status, 128 + signal, or -1 on timeout. */
int tu_wait(pid_t pid, double secs);

/* Whole-buffer pipe I/O; -1 on EOF or error. */
int tu_write_all(int fd, const void *p, size_t n);
int tu_read_all(int fd, void *p, size_t n);

double tu_now(void);

/* Opens an index in a child with test-friendly options; _exit(1)s on
 * failure. */
struct idx_env *tu_open(const char *dir, unsigned watchdog_secs);

#endif
