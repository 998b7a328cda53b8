/*
 * Tests for auth/auth-pam.c against a real PAM stack without touching
 * /etc: pam_wrapper (LD_PRELOAD) reads service files from a temp dir,
 * and pam_matrix checks passwords from a plain file. The program
 * re-executes itself with the wrapper preloaded before Criterion starts.
 * Skipped when pam_wrapper is not installed, and in ASan builds.
 */
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <errno.h>
#include <security/pam_appl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth-pam.h"
#include "core/log.h"

/* pam_wrapper dlopens libpam with RTLD_DEEPBIND, which ASan cannot
 * work with (PAM_WRAPPER_DISABLE_DEEPBIND needs pam_wrapper >= 1.1.5):
 * sanitizer builds skip the PAM stack tests. */
#if defined(__SANITIZE_ADDRESS__)
#define MOAT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MOAT_ASAN 1
#endif
#endif

#define WRAPPER "/usr/lib/x86_64-linux-gnu/libpam_wrapper.so"
#define MATRIX "/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_matrix.so"
#define SECURITY "/usr/lib/x86_64-linux-gnu/security"

static bool have_wrapper;

/* Without pam_wrapper these tests cannot run. That is only acceptable
 * in the ASan build (see above); anywhere else it is a failure, so a
 * missing package can never make the suite pass silently. */
static void skip_or_fail(void)
{
#ifdef MOAT_ASAN
	cr_skip_test("pam_wrapper cannot run under ASan");
#else
	cr_assert_fail("pam_wrapper/pam_matrix not usable: install "
		       "libpam-wrapper (scripts/deps does)");
#endif
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

/* Runs before main: set up the PAM files and re-exec with the wrapper. */
static void __attribute__((constructor))
pam_env(int argc, char **argv)
{
	static char dir[] = "/tmp/moat-pamtest-XXXXXX";
	char path[256], text[1024];

	(void)argc;
#ifdef MOAT_ASAN
	return;
#endif
	if (getenv("MOAT_PAMTEST_DIR") != NULL) {
		have_wrapper = getenv("PAM_WRAPPER") != NULL;
		return;
	}
	if (access(WRAPPER, R_OK) != 0 || access(MATRIX, R_OK) != 0) {
		setenv("MOAT_PAMTEST_DIR", "", 1);
		return;
	}
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/passdb", dir);
	write_text(path,
		   "root:s3cret:moat-test\n"
		   "ghost-moat-pamtest:pw:moat-test\n"
		   "daemon:pw:other-service\n");
	/* pam_matrix's account check wants the service named per user. */
	snprintf(path, sizeof(path), "%s/passdb-verbose", dir);
	write_text(path, "root:s3cret:moat-verbose\n");
	snprintf(text, sizeof(text),
		 "auth required %s passdb=%s/passdb\n"
		 "account required %s passdb=%s/passdb\n",
		 MATRIX, dir, MATRIX, dir);
	snprintf(path, sizeof(path), "%s/moat-test", dir);
	write_text(path, text);
	snprintf(text, sizeof(text),
		 "auth required %s passdb=%s/passdb-verbose verbose\n"
		 "account required %s passdb=%s/passdb-verbose verbose\n",
		 MATRIX, dir, MATRIX, dir);
	snprintf(path, sizeof(path), "%s/moat-verbose", dir);
	write_text(path, text);
	snprintf(text, sizeof(text),
		 "auth required %s passdb=%s/nonexistent\n"
		 "account required %s passdb=%s/nonexistent\n",
		 MATRIX, dir, MATRIX, dir);
	snprintf(path, sizeof(path), "%s/moat-broken", dir);
	write_text(path, text);
	/* Session stack: pam_limits sets an rlimit (in the process that
	 * runs the stack), then a script records what it saw. */
	snprintf(path, sizeof(path), "%s/passdb-session", dir);
	write_text(path, "root:s3cret:moat-session\n");
	/* pam_matrix's account check wants the service named per user. */
	snprintf(path, sizeof(path), "%s/passdb-session-deny", dir);
	write_text(path, "root:s3cret:moat-session-deny\n");
	snprintf(path, sizeof(path), "%s/limits.conf", dir);
	write_text(path, "root soft nofile 77\nroot hard nofile 77\n");
	snprintf(path, sizeof(path), "%s/record.sh", dir);
	snprintf(text, sizeof(text), "#!/bin/sh\n"
		 "echo \"$PAM_TYPE $PAM_USER pid=$PPID nofile=$(ulimit -n)\" "
		 ">>%s/session.log\n", dir);
	write_text(path, text);
	chmod(path, 0755);
	snprintf(text, sizeof(text),
		 "auth required %s passdb=%s/passdb-session\n"
		 "account required %s passdb=%s/passdb-session\n"
		 "session required %s/pam_limits.so conf=%s/limits.conf\n"
		 "session required %s/pam_exec.so %s/record.sh\n",
		 MATRIX, dir, MATRIX, dir, SECURITY, dir, SECURITY, dir);
	snprintf(path, sizeof(path), "%s/moat-session", dir);
	write_text(path, text);
	snprintf(text, sizeof(text),
		 "auth required %s passdb=%s/passdb-session-deny\n"
		 "account required %s passdb=%s/passdb-session-deny\n"
		 "session required %s/pam_deny.so\n",
		 MATRIX, dir, MATRIX, dir, SECURITY);
	snprintf(path, sizeof(path), "%s/moat-session-deny", dir);
	write_text(path, text);

	setenv("MOAT_PAMTEST_DIR", dir, 1);
	setenv("LD_PRELOAD", WRAPPER, 1);
	setenv("PAM_WRAPPER", "1", 1);
	setenv("PAM_WRAPPER_SERVICE_DIR", dir, 1);
	/* Sanitizer builds: the wrapper must not deep-bind, and ASan must
	 * accept not being first in the library list. */
	setenv("PAM_WRAPPER_DISABLE_DEEPBIND", "1", 1);
	setenv("ASAN_OPTIONS", "verify_asan_link_order=0", 1);
	execv("/proc/self/exe", argv);
	perror("re-exec with pam_wrapper");
	exit(1);
}

/* pam_wrapper copies the service files to /tmp/pam.X and removes that
 * in a destructor, which Criterion's test processes skip on exit.
 * Remove ours (they hold a moat-test service file) once the process
 * named in their pid file is gone. */
static bool
pid_gone(long pid)
{
	char path[64], state = '?';
	FILE *f;

	if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
		return true;
	/* A zombie still answers kill(0); its stat line says Z. */
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return true;
	if (fscanf(f, "%*d (%*[^)]) %c", &state) != 1)
		state = '?';
	fclose(f);
	return state == 'Z';
}

static void
remove_wrapper_dirs(void)
{
	static const char *const files[] = {
		"moat-test", "moat-verbose", "moat-broken", "moat-session",
		"moat-session-deny", "passdb", "passdb-verbose",
		"passdb-session", "passdb-session-deny", "limits.conf",
		"record.sh", "pid",
	};
	const char *chars = "0123456789abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
	char path[64];
	long pid = 0;
	FILE *f;

	for (const char *c = chars; *c != '\0'; c++) {
		snprintf(path, sizeof(path), "/tmp/pam.%c/moat-test", *c);
		if (access(path, F_OK) != 0)
			continue;
		snprintf(path, sizeof(path), "/tmp/pam.%c/pid", *c);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		if (fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		fclose(f);
		if (pid <= 0 || pid == (long)getpid() || !pid_gone(pid))
			continue;
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			snprintf(path, sizeof(path), "/tmp/pam.%c/%s", *c,
				 files[i]);
			(void)unlink(path);
		}
		snprintf(path, sizeof(path), "/tmp/pam.%c", *c);
		(void)rmdir(path);
	}
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	const char *dir = getenv("MOAT_PAMTEST_DIR");
	char cmd[256];

	(void)stats;
	if (dir == NULL || dir[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", dir);
	remove_wrapper_dirs();
}

Test(pam, success_fills_record)
{
	struct auth_user u;
	enum auth_result r;

	if (!have_wrapper)
		skip_or_fail();
	memset(&u, 0x55, sizeof(u));
	r = auth_pam("moat-test", "root", "s3cret", "192.0.2.1", &u, NULL);
	cr_assert_eq(r, AUTH_RES_OK, "got %d, want OK", r);
	cr_assert_str_eq(u.user, "root");
	cr_assert_eq(u.uid, 0);
	cr_assert_eq(u.gid, 0);
	cr_assert_str_eq(u.home, "/root");
	cr_assert_str_eq(u.mail, "");
}

Test(pam, wrong_password)
{
	struct auth_user u;
	enum auth_result r;

	if (!have_wrapper)
		skip_or_fail();
	r = auth_pam("moat-test", "root", "S3cret", "192.0.2.1", &u, NULL);
	cr_assert_eq(r, AUTH_RES_FAIL, "got %d, want FAIL", r);
	r = auth_pam("moat-test", "root", "", "192.0.2.1", &u, NULL);
	cr_assert(r == AUTH_RES_FAIL, "empty password: got %d, want FAIL",
		  r);
}

Test(pam, unknown_user)
{
	struct auth_user u;
	enum auth_result r;

	if (!have_wrapper)
		skip_or_fail();
	r = auth_pam("moat-test", "nosuchuser", "s3cret", "192.0.2.1", &u,
		     NULL);
	cr_assert(r == AUTH_RES_FAIL || r == AUTH_RES_UNKNOWN, "got %d, want "
		  "FAIL or UNKNOWN", r);
}

Test(pam, account_refused)
{
	struct auth_user u;
	enum auth_result r;

	if (!have_wrapper)
		skip_or_fail();
	/* daemon's password is right, but its account is only allowed
	 * for another service: pam_acct_mgmt must refuse. */
	r = auth_pam("moat-test", "daemon", "pw", "192.0.2.1", &u, NULL);
	cr_assert_eq(r, AUTH_RES_FAIL, "got %d, want FAIL", r);
}

Test(pam, not_a_system_user)
{
	struct auth_user u;
	enum auth_result r;

	if (!have_wrapper)
		skip_or_fail();
	r = auth_pam("moat-test", "ghost-moat-pamtest", "pw", "192.0.2.1",
		     &u, NULL);
	cr_assert_eq(r, AUTH_RES_TEMPFAIL, "PAM says yes but getpwnam does "
		     "not know the user: got %d, want TEMPFAIL", r);
}

Test(pam, informational_messages)
{
	struct auth_user u;
	enum auth_result r;

	if (!have_wrapper)
		skip_or_fail();
	log_set_debug(true);
	r = auth_pam("moat-verbose", "root", "s3cret", "192.0.2.1", &u,
		     NULL);
	cr_assert_eq(r, AUTH_RES_OK, "got %d, want OK", r);
	r = auth_pam("moat-verbose", "root", "bad", "192.0.2.1", &u, NULL);
	cr_assert_eq(r, AUTH_RES_FAIL, "got %d, want FAIL", r);
}

Test(pam, backend_unavailable)
{
	struct auth_user u;
	enum auth_result r;

	if (!have_wrapper)
		skip_or_fail();
	r = auth_pam("moat-broken", "root", "s3cret", "192.0.2.1", &u,
		     NULL);
	cr_assert_eq(r, AUTH_RES_TEMPFAIL, "missing passdb: got %d, want "
		     "TEMPFAIL", r);
}

Test(pam, result_mapping)
{
	static const struct {
		int st;
		enum auth_result want;
	} cases[] = {
		{ PAM_SUCCESS, AUTH_RES_OK },
		{ PAM_AUTH_ERR, AUTH_RES_FAIL },
		{ PAM_USER_UNKNOWN, AUTH_RES_UNKNOWN },
		{ PAM_MAXTRIES, AUTH_RES_FAIL },
		{ PAM_PERM_DENIED, AUTH_RES_FAIL },
		{ PAM_ACCT_EXPIRED, AUTH_RES_FAIL },
		{ PAM_NEW_AUTHTOK_REQD, AUTH_RES_FAIL },
		{ PAM_CRED_INSUFFICIENT, AUTH_RES_FAIL },
		{ PAM_AUTHINFO_UNAVAIL, AUTH_RES_TEMPFAIL },
		{ PAM_SYSTEM_ERR, AUTH_RES_TEMPFAIL },
		{ PAM_BUF_ERR, AUTH_RES_TEMPFAIL },
		{ PAM_CONV_ERR, AUTH_RES_TEMPFAIL },
		{ PAM_ABORT, AUTH_RES_TEMPFAIL },
		{ PAM_SERVICE_ERR, AUTH_RES_TEMPFAIL },
		{ 12345, AUTH_RES_TEMPFAIL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_assert_eq(auth_pam_result(cases[i].st), cases[i].want,
			     "PAM status %d: got %d, want %d", cases[i].st,
			     auth_pam_result(cases[i].st), cases[i].want);
}

/* ---- sessions (auth_pam_session) ---- */

static char *
read_session_log(void)
{
	static char buf[4096];
	char path[256];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/session.log",
		 getenv("MOAT_PAMTEST_DIR"));
	f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	(void)unlink(path);
	return buf;
}

Test(pam, session_runs_in_a_child_and_leaves_the_worker_alone)
{
	struct rlimit before, after;
	pam_handle_t *h = NULL;
	struct auth_user u;
	enum auth_result r;
	char want[64];
	const char *log;

	if (!have_wrapper)
		skip_or_fail();
	(void)read_session_log();
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &before), 0);
	r = auth_pam("moat-session", "root", "s3cret", "192.0.2.1", &u, &h);
	cr_assert_eq(r, AUTH_RES_OK, "got %d, want OK", r);
	cr_assert_not_null(h, "handle not kept for the session");
	cr_assert_null(read_session_log(), "session ran before it was "
		       "asked for");
	r = auth_pam_finish(&h, AUTH_RES_OK, true);
	cr_assert_null(h);
	cr_assert_eq(r, AUTH_RES_OK, "got %d, want OK", r);
	log = read_session_log();
	cr_assert_not_null(log, "the session stack did not run");
	cr_assert_not_null(strstr(log, "open_session root"), "log: %s", log);
	cr_assert_not_null(strstr(log, "close_session root"), "log: %s",
			   log);
	/* pam_limits did apply its limit -- in the child. */
	cr_assert_not_null(strstr(log, "nofile=77"), "log: %s", log);
	snprintf(want, sizeof(want), "pid=%ld ", (long)getpid());
	cr_assert_null(strstr(log, want), "the stack ran in the calling "
		       "process: %s", log);
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &after), 0);
	cr_assert_eq(after.rlim_cur, before.rlim_cur, "pam_limits changed "
		     "the caller's soft limit to %llu",
		     (unsigned long long)after.rlim_cur);
	cr_assert_eq(after.rlim_max, before.rlim_max);
}

Test(pam, session_not_run_unless_enabled_and_accepted)
{
	pam_handle_t *h = NULL;
	struct auth_user u;
	enum auth_result r;

	if (!have_wrapper)
		skip_or_fail();
	(void)read_session_log();
	r = auth_pam("moat-session", "root", "s3cret", "192.0.2.1", &u, &h);
	cr_assert_eq(r, AUTH_RES_OK);
	cr_assert_eq(auth_pam_finish(&h, AUTH_RES_OK, false), AUTH_RES_OK);
	cr_assert_null(read_session_log(), "auth_pam_session = no: no "
		       "session");
	r = auth_pam("moat-session", "root", "s3cret", "192.0.2.1", &u, &h);
	cr_assert_eq(r, AUTH_RES_OK);
	/* The caller refused the account (e.g. uid 0): FAIL stays FAIL
	 * and no session is opened for it. */
	cr_assert_eq(auth_pam_finish(&h, AUTH_RES_FAIL, true), AUTH_RES_FAIL);
	cr_assert_null(read_session_log(), "session for a refused account");
	/* A wrong password keeps no handle. */
	r = auth_pam("moat-session", "root", "nope", "192.0.2.1", &u, &h);
	cr_assert_eq(r, AUTH_RES_FAIL);
	cr_assert_null(h);
	cr_assert_eq(auth_pam_finish(&h, r, true), AUTH_RES_FAIL);
}

Test(pam, failing_session_stack_fails_the_login)
{
	pam_handle_t *h = NULL;
	struct auth_user u;
	enum auth_result r;

	if (!have_wrapper)
		skip_or_fail();
	r = auth_pam("moat-session-deny", "root", "s3cret", "192.0.2.1", &u,
		     &h);
	cr_assert_eq(r, AUTH_RES_OK);
	r = auth_pam_finish(&h, AUTH_RES_OK, true);
	cr_assert_neq(r, AUTH_RES_OK, "pam_deny in the session stack: got OK");
}
