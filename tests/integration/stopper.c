/*
 * stopper: the local attacker of test_sigstop.py. It runs as a mail
 * user (the test starts it with that uid) and SIGSTOPs every process it
 * is allowed to signal, as fast as it can: it guesses the next pids from
 * /proc/sys/kernel/ns_last_pid (a child moatd is spawning gets one of
 * them) and, between bursts of guesses, tries every pid under /proc.
 * The kernel decides what it may stop (only processes whose real or
 * saved uid is its own); it reports each pid it stopped on stdout, one
 * per line, so the test can clean them up.
 *
 *   stopper SECONDS     gives up after SECONDS (a bound if the test dies)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static pid_t self;
/* Pids already reported, so a stopped process that is tried again is
 * not reported again; cleared when a pid is found gone (reuse). */
#define STOPPER_PID_MAX (1L << 22)
static unsigned char reported[STOPPER_PID_MAX / 8];

static void
report(pid_t pid)
{
	char line[24];
	int n = snprintf(line, sizeof(line), "%ld\n", (long)pid);

	if (write(1, line, (size_t)n) != n)
		_exit(1);   /* the test went away */
}

static void
try_stop(long pid)
{
	unsigned char bit;

	if (pid <= 1 || pid == (long)self || pid >= STOPPER_PID_MAX)
		return;
	bit = (unsigned char)(1u << (pid % 8));
	if (kill((pid_t)pid, SIGSTOP) == 0) {
		if ((reported[pid / 8] & bit) == 0)
			report((pid_t)pid);
		reported[pid / 8] |= bit;
	} else if (errno == ESRCH) {
		reported[pid / 8] &= (unsigned char)~bit;
	}
}

static long
last_pid(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

static void
scan_proc(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (*end == '\0')
			try_stop(pid);
	}
	closedir(d);
}

int
main(int argc, char **argv)
{
	time_t until;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: stopper SECONDS\n");
		return 2;
	}
	/* Nothing of ours may outlive the test. */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		return 1;
	self = getpid();
	until = time(NULL) + atol(argv[1]);
	fd = open("/proc/sys/kernel/ns_last_pid", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror("ns_last_pid");
		return 1;
	}
	while (time(NULL) < until) {
		/* A new child is at most a few pids ahead of the last one. */
		for (int i = 0; i < 2000; i++) {
			long last = last_pid(fd);

			for (long d = 0; d <= 3 && last > 0; d++)
				try_stop(last + d);
		}
		scan_proc();
	}
	return 0;
}
