/* Memory of sessions with the index open (doc/design.md, Index layout):
 * runs idx-pss (linked like imap/imap) as one session, and as 5
 * sessions each of 4 users at once, and reports PSS from /proc. The
 * Berkeley DB regions are mapped by every session of a user, so they
 * count once per user, shared; the bounds below catch a region or cache
 * that grew by mistake (an mpool of megabytes, a set_memory_max that
 * inflates the main region). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

/* Sanitizer builds map shadow memory into every process: report, but
 * do not judge. */
#if defined(__SANITIZE_ADDRESS__)
#define MEASURING 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MEASURING 0
#endif
#endif
#ifndef MEASURING
#define MEASURING 1
#endif

struct sess {
	pid_t pid;
	int in, out;
};

static struct sess
spawn(const char *dir, const char *messages)
{
	struct sess s;
	int a[2], b[2];

	/* Close-on-exec, so no session holds another one's stdin open. */
	cr_assert_eq(pipe2(a, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(b, O_CLOEXEC), 0);
	s.pid = fork();
	cr_assert_geq(s.pid, 0);
	if (s.pid == 0) {
		dup2(a[0], 0);
		dup2(b[1], 1);
		close(a[0]);
		close(a[1]);
		close(b[0]);
		close(b[1]);
		execl(IDX_PSS, "idx-pss", dir, messages, (char *)NULL);
		_exit(127);
	}
	close(a[0]);
	close(b[1]);
	s.in = a[1];
	s.out = b[0];
	return s;
}

struct mem {
	unsigned long pss, priv, regions, heap, base, base_priv, text,
		      base_text;
};

static struct mem
ask(struct sess *s)
{
	struct mem m;
	char line[256];
	ssize_t n;
	size_t len = 0;

	cr_assert_eq(write(s->in, "m", 1), 1);
	while (len < sizeof(line) - 1) {
		n = read(s->out, line + len, 1);
		cr_assert_eq(n, 1, "idx-pss did not answer");
		if (line[len++] == '\n')
			break;
	}
	line[len] = '\0';
	cr_assert_eq(sscanf(line, "pss=%lu private=%lu regions=%lu heap=%lu "
			    "base=%lu base_private=%lu text=%lu base_text=%lu",
			    &m.pss, &m.priv, &m.regions, &m.heap, &m.base,
			    &m.base_priv, &m.text, &m.base_text), 8,
		     "bad line: %s", line);
	return m;
}

static void
finish(struct sess *s)
{
	close(s->in);
	close(s->out);
	cr_assert_eq(tu_wait(s->pid, 30), 0, "idx-pss failed");
}

static char *base;

static void
setup(void)
{
	base = tu_tmpdir();
}

static void
teardown(void)
{
	tu_kill_children();
	tu_rmrf(base);
	free(base);
}

TestSuite(memory, .init = setup, .fini = teardown, .timeout = 60);

Test(memory, one_session)
{
	char *dir = tu_path(base, "idx");
	struct sess s;
	struct mem m;

	/* The first run creates 10,000 records; the measured one only
	 * reads them, as a session selecting the mailbox would. */
	s = spawn(dir, "10000");
	(void)ask(&s);
	finish(&s);
	s = spawn(dir, "10000");
	m = ask(&s);
	finish(&s);
	cr_log_info("one session, 10000 records read: PSS %lu kB (%lu kB "
		    "before the open), private %lu kB (%lu kB before), regions "
		    "%lu kB, heap %lu kB, program text %lu kB (%lu kB before)",
		    m.pss, m.base, m.priv, m.base_priv, m.regions, m.heap,
		    m.text, m.base_text);
	/* Program text is left out of the cost: its PSS depends on how
	 * many other processes run the same binary at that moment (the
	 * many_sessions test may run alongside), and every session on the
	 * machine shares it; many_sessions measures it shared. */
	if (MEASURING) {
		cr_assert_lt(m.regions, 1024, "regions use %lu kB", m.regions);
		cr_assert_lt((m.pss - m.text) - (m.base - m.base_text), 1536,
			     "the index costs %lu kB",
			     (m.pss - m.text) - (m.base - m.base_text));
	}
	free(dir);
}

#define USERS 4
#define PER_USER 5
#define N (USERS * PER_USER)

/* Mean over N sessions kept alive at once; dirs NULL: no index. */
static struct mem
run_many(char **dirs)
{
	struct sess s[N];
	struct mem m, sum = { 0 };
	int i;

	for (i = 0; i < N; i++) {
		s[i] = spawn(dirs ? dirs[i % USERS] : "-", "1000");
		(void)ask(&s[i]);	/* opened and read */
	}
	for (i = 0; i < N; i++) {
		m = ask(&s[i]);
		sum.pss += m.pss;
		sum.priv += m.priv;
		sum.regions += m.regions;
		sum.heap += m.heap;
	}
	for (i = 0; i < N; i++)
		finish(&s[i]);
	sum.pss /= N;
	sum.priv /= N;
	sum.regions /= N;
	sum.heap /= N;
	return sum;
}

Test(memory, many_sessions)
{
	char *dirs[USERS];
	struct mem none, idx;
	struct sess s;
	int u;

	for (u = 0; u < USERS; u++) {
		char name[16];

		snprintf(name, sizeof(name), "u%d", u);
		dirs[u] = tu_path(base, name);
		s = spawn(dirs[u], "1000");
		(void)ask(&s);
		finish(&s);
	}
	none = run_many(NULL);
	idx = run_many(dirs);
	cr_log_info("%d users x %d sessions, 1000 records read each: PSS "
		    "%lu kB per session (%lu kB without the index), regions "
		    "%lu kB, heap %lu kB (%lu kB without)", USERS, PER_USER,
		    idx.pss, none.pss, idx.regions, idx.heap, none.heap);
	if (MEASURING) {
		cr_assert_lt(idx.regions, 400, "regions use %lu kB per "
			     "session", idx.regions);
		cr_assert_lt(idx.pss - none.pss, 600, "the index costs %lu kB "
			     "per session", idx.pss - none.pss);
	}
	for (u = 0; u < USERS; u++)
		free(dirs[u]);
}
