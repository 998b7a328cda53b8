/* Helpers for tests/index (see util.h). */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "util.h"

char *
tu_tmpdir(void)
{
	const char *t = getenv("TMPDIR");
	char *p;

	if (t == NULL || *t == '\0')
		t = "/tmp";
	if (asprintf(&p, "%s/moat-idx-XXXXXX", t) < 0 || mkdtemp(p) == NULL)
		abort();
	return p;
}

char *
tu_path(const char *base, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", base, name) < 0)
		abort();
	return p;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? 0 : 0;
}

void
tu_rmrf(const char *path)
{
	(void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int
tu_count(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

static pid_t children[4096];
static size_t nchildren;

pid_t
tu_fork(void (*fn)(void *), void *arg)
{
	pid_t pid = fork();

	if (pid < 0)
		abort();
	if (pid == 0) {
		nchildren = 0;
		fn(arg);
		_exit(0);
	}
	if (nchildren < sizeof(children) / sizeof(children[0]))
		children[nchildren++] = pid;
	return pid;
}

void
tu_kill_children(void)
{
	size_t i;

	for (i = 0; i < nchildren; i++) {
		/* Only our own, not yet reaped children: waitpid tells. */
		if (waitpid(children[i], NULL, WNOHANG) == 0) {
			kill(children[i], SIGKILL);
			(void)waitpid(children[i], NULL, 0);
		}
	}
	nchildren = 0;
}

double
tu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
tu_wait(pid_t pid, double secs)
{
	double end = tu_now() + secs;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return -1;
		if (tu_now() > end) {
			kill(pid, SIGKILL);
			(void)waitpid(pid, &st, 0);
			return -1;
		}
		usleep(2000);
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

int
tu_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t r = write(fd, c, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

int
tu_read_all(int fd, void *p, size_t n)
{
	char *c = p;

	while (n > 0) {
		ssize_t r = read(fd, c, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

struct idx_env *
tu_open(const char *dir, unsigned watchdog_secs)
{
	struct idx_env_opts o = { .watchdog_secs = watchdog_secs };
	struct idx_env *env = NULL;
	int r = idx_env_open(dir, &o, &env, NULL);

	TU_CHECK(r == IDX_OK, "idx_env_open(%s): %s", dir, idx_strerror(r));
	return env;
}
