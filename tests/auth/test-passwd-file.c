/*
 * Tests for auth/passwd-file.c: line parsing (good and hostile lines),
 * whole-file parsing (comments, duplicates, limits), verification
 * against hashes generated here (SHA-512 crypt, yescrypt, bcrypt), the
 * file cache, and the backend entry point with the getpwnam fallback.
 */
#include <criterion/criterion.h>
#include <crypt.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/passwd-file.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A fresh hash of password with the given prefix ("$6$", "$y$", ...). */
static char *
make_hash(const char *prefix, unsigned long count, const char *password)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	char *out;

	cr_assert_not_null(cd);
	cr_assert_not_null(crypt_gensalt_rn(prefix, count, NULL, 0, setting,
					    sizeof(setting)),
			   "crypt_gensalt_rn(%s) failed", prefix);
	cr_assert_not_null(crypt_rn(password, setting, cd, sizeof(*cd)));
	out = strdup(cd->output);
	free(cd);
	return out;
}

/* ---- single lines ---- */

struct line_case {
	const char *line;
	int want;                /* 1 entry, 0 skip, -1 bad */
	const char *user, *pass;
	int uid, gid;            /* -1: not set */
	const char *home, *mail, *refuse;
};

static const struct line_case line_cases[] = {
	{ "alice:{SHA512-CRYPT}$6$x$y:1000:1000::/home/alice::", 1,
	  "alice", "{SHA512-CRYPT}$6$x$y", 1000, 1000, "/home/alice", "",
	  NULL },
	{ "bob:$6$s$h", 1, "bob", "$6$s$h", -1, -1, "", "", NULL },
	{ "carol:h:::::", 1, "carol", "h", -1, -1, "", "", NULL },
	{ "dave:h:5:6:Dave D:/srv/d:/bin/false:userdb_mail=maildir:~/Mail "
	  "quota=1G", 1, "dave", "h", 5, 6, "/srv/d", "maildir:~/Mail",
	  NULL },
	{ "eve:h:1:2::/a::mail=mbox:~/mail:INBOX=/var/mail/eve "
	  "userdb_home=/b userdb_uid=7 gid=8", 1, "eve", "h", 7, 8, "/b",
	  "mbox:~/mail:INBOX=/var/mail/eve", NULL },
	{ "frank:h:1:1::/f::allow_nets=10.0.0.0/8", 1, "frank", "h", 1, 1,
	  "/f", "", "allow_nets" },
	{ "gina:h:1:1::/g::nologin reason=x", 1, "gina", "h", 1, 1, "/g",
	  "", "nologin" },
	{ "hank:h:1:1::/h::proxy host=10.1.1.1", 1, "hank", "h", 1, 1,
	  "/h", "", "proxy" },
	{ "ivan:h\r", -1, NULL, NULL, 0, 0, NULL, NULL, NULL },
	{ "judy::::::", 1, "judy", "", -1, -1, "", "", NULL },
	{ "u:h:0:0::/root", 1, "u", "h", 0, 0, "/root", "", NULL },
	{ "u:h:4294967294:1", 1, "u", "h", -2, 1, "", "", NULL },
	/* skipped */
	{ "", 0, NULL, NULL, 0, 0, NULL, NULL, NULL },
	{ "   ", 0, NULL, NULL, 0, 0, NULL, NULL, NULL },
	{ "# comment:with:colons", 0, NULL, NULL, 0, 0, NULL, NULL, NULL },
	{ "  # indented comment", 0, NULL, NULL, 0, 0, NULL, NULL, NULL },
	/* bad */
	{ "nopassword", -1, NULL, NULL, 0, 0, NULL, NULL, NULL },
	{ ":h:1:1", -1, NULL, NULL, 0, 0, NULL, NULL, NULL },
	{ "sp ace:h", -1, NULL, NULL, 0, 0, NULL, NULL, NULL },
	{ "u:h:abc:1", -1, NULL, NULL, 0, 0, NULL, NULL, NULL },
	{ "u:h:-1:1", -1, NULL, NULL, 0, 0, NULL, NULL, NULL },
	{ "u:h: 1:1", -1, NULL, NULL, 0, 0, NULL, NULL, NULL },
	{ "u:h:4294967295:1", -1, NULL, NULL, 0, 0, NULL, NULL, NULL },
	{ "u:h:4294967296:1", -1, NULL, NULL, 0, 0, NULL, NULL, NULL },
	{ "u:h:1:99999999999999999999", -1, NULL, NULL, 0, 0, NULL, NULL,
	  NULL },
	{ "u:h:1:1::relative/home", -1, NULL, NULL, 0, 0, NULL, NULL, NULL },
	{ "u:h:1:1::/h::userdb_home=rel", -1, NULL, NULL, 0, 0, NULL, NULL,
	  NULL },
	{ "u:h:1:1::/h::userdb_uid=x", -1, NULL, NULL, 0, 0, NULL, NULL,
	  NULL },
	{ "u:h:1:1::/h::mail", -1, NULL, NULL, 0, 0, NULL, NULL, NULL },
	{ "u\x01:h", -1, NULL, NULL, 0, 0, NULL, NULL, NULL },
	{ "u:h\x7f", -1, NULL, NULL, 0, 0, NULL, NULL, NULL },
	{ "u:h:1:1\t", -1, NULL, NULL, 0, 0, NULL, NULL, NULL },
};

Test(pwfile_line, table)
{
	for (size_t i = 0; i < NELEM(line_cases); i++) {
		const struct line_case *c = &line_cases[i];
		struct pwfile_entry e;
		const char *why = NULL;
		char *buf = strdup(c->line);
		int r = pwfile_parse_line(buf, &e, &why);

		cr_assert_eq(r, c->want, "case %zu \"%s\": got %d, want %d "
			     "(%s)", i, c->line, r, c->want,
			     why != NULL ? why : "-");
		if (r < 0)
			cr_assert_not_null(why, "case %zu: no reason", i);
		if (r != 1) {
			free(buf);
			continue;
		}
		cr_assert_str_eq(e.user, c->user, "case %zu user: got %s, "
				 "want %s", i, e.user, c->user);
		cr_assert_str_eq(e.pass, c->pass, "case %zu pass: got %s, "
				 "want %s", i, e.pass, c->pass);
		cr_assert_eq(e.has_uid, c->uid != -1, "case %zu has_uid", i);
		if (c->uid >= 0)
			cr_assert_eq(e.uid, (uint32_t)c->uid, "case %zu uid: "
				     "got %u, want %d", i, e.uid, c->uid);
		if (c->uid == -2)
			cr_assert_eq(e.uid, 4294967294u, "case %zu uid max", i);
		cr_assert_eq(e.has_gid, c->gid != -1, "case %zu has_gid", i);
		if (c->gid >= 0)
			cr_assert_eq(e.gid, (uint32_t)c->gid, "case %zu gid: "
				     "got %u, want %d", i, e.gid, c->gid);
		cr_assert_str_eq(e.home, c->home, "case %zu home: got %s, "
				 "want %s", i, e.home, c->home);
		cr_assert_str_eq(e.mail, c->mail, "case %zu mail: got %s, "
				 "want %s", i, e.mail, c->mail);
		if (c->refuse == NULL)
			cr_assert_null(e.refuse, "case %zu refuse: got %s", i,
				       e.refuse);
		else
			cr_assert_str_eq(e.refuse, c->refuse, "case %zu refuse",
					 i);
		free(buf);
	}
}

Test(pwfile_line, long_user_name)
{
	char line[600];
	struct pwfile_entry e;
	const char *why;

	memset(line, 'a', 256);
	strcpy(line + 256, ":h");
	cr_assert_eq(pwfile_parse_line(line, &e, &why), 1,
		     "256-byte name: want accepted");
	memset(line, 'a', 257);
	strcpy(line + 257, ":h");
	cr_assert_eq(pwfile_parse_line(line, &e, &why), -1,
		     "257-byte name: want rejected");
}

Test(pwfile_line, long_home)
{
	char line[2200];
	struct pwfile_entry e;
	const char *why;

	strcpy(line, "u:h:1:1::/");
	memset(line + 10, 'd', IPC_PATH_MAX);   /* "/" + 1024 = 1025 */
	line[10 + IPC_PATH_MAX] = '\0';
	cr_assert_eq(pwfile_parse_line(line, &e, &why), -1,
		     "home of %d bytes: want rejected", IPC_PATH_MAX + 1);
}

/* ---- whole files ---- */

Test(pwfile_parse, comments_duplicates_bad_lines)
{
	static const char text[] =
		"# users\n"
		"\n"
		"zed:h1:1:1::/z\r\n"
		"amy:first:2:2::/a\n"
		"bad line without colon\n"
		"amy:second:3:3::/a2\n"
		"bo\0b:h:1:1\n"
		"mia:h3";            /* no final newline */
	struct pwfile *pf = pwfile_parse("t", text, sizeof(text) - 1);
	const struct pwfile_entry *e;

	cr_assert_eq(pwfile_count(pf), 3, "got %zu users, want 3 (zed, amy, "
		     "mia)", pwfile_count(pf));
	e = pwfile_find(pf, "amy");
	cr_assert_not_null(e);
	cr_assert_str_eq(e->pass, "first", "duplicate: got %s, want the "
			 "first line's", e->pass);
	cr_assert_eq(e->line, 4, "got line %u, want 4", e->line);
	e = pwfile_find(pf, "zed");
	cr_assert_not_null(e);
	cr_assert_str_eq(e->home, "/z", "CRLF line: got home %s", e->home);
	cr_assert_not_null(pwfile_find(pf, "mia"));
	cr_assert_null(pwfile_find(pf, "bo"));
	cr_assert_null(pwfile_find(pf, "nobody"));
	cr_assert_null(pwfile_find(pf, "Amy"), "lookups are case-sensitive");
	cr_assert_null(pwfile_find(pf, ""));
	pwfile_free(&pf);
	cr_assert_null(pf);
}

Test(pwfile_parse, empty_and_long_lines)
{
	size_t n = PWFILE_LINE_MAX + 100;
	char *text = malloc(n + 64);
	struct pwfile *pf;

	pf = pwfile_parse("empty", "", 0);
	cr_assert_eq(pwfile_count(pf), 0);
	cr_assert_null(pwfile_find(pf, "x"));
	cr_assert_eq(pwfile_verify(pf, NULL, "pw"), AUTH_RES_FAIL);
	pwfile_free(&pf);

	memcpy(text, "long:", 5);
	memset(text + 5, 'x', n - 5);
	strcpy(text + n, "\nshort:h\n");
	pf = pwfile_parse("long", text, strlen(text));
	cr_assert_null(pwfile_find(pf, "long"), "over-long line: want "
		       "skipped");
	cr_assert_not_null(pwfile_find(pf, "short"), "the next line must "
			   "still be read");
	pwfile_free(&pf);
	free(text);
}

Test(pwfile_parse, many_users_sorted_lookup)
{
	size_t n = 5000, len = 0;
	char *text = malloc(n * 40);
	char name[32];
	struct pwfile *pf;

	for (size_t i = n; i > 0; i--)
		len += (size_t)sprintf(text + len, "user%zu:h%zu:%zu:1\n", i, i,
				       i);
	pf = pwfile_parse("many", text, len);
	cr_assert_eq(pwfile_count(pf), n);
	for (size_t i = 1; i <= n; i += 7) {
		const struct pwfile_entry *e;

		snprintf(name, sizeof(name), "user%zu", i);
		e = pwfile_find(pf, name);
		cr_assert_not_null(e, "%s not found", name);
		cr_assert_eq(e->uid, i, "%s: got uid %u, want %zu", name,
			     e->uid, i);
	}
	pwfile_free(&pf);
	free(text);
}

/* ---- verification ---- */

static enum auth_result
verify_line(const char *line, const char *password)
{
	struct pwfile *pf = pwfile_parse("v", line, strlen(line));
	const struct pwfile_entry *e = pwfile_find(pf, "u");
	enum auth_result r;

	cr_assert_not_null(e, "line \"%s\" did not parse", line);
	r = pwfile_verify(pf, e, password);
	pwfile_free(&pf);
	return r;
}

Test(pwfile_verify, schemes_and_algorithms)
{
	char *h6 = make_hash("$6$", 0, "s3cret");
	char *hy = make_hash("$y$", 0, "s3cret");
	char *h2 = make_hash("$2b$", 4, "s3cret");
	char *h5 = make_hash("$5$", 0, "s3cret");
	struct {
		const char *pre;
		const char *hash;
		const char *post;
		const char *pw;
		enum auth_result want;
	} cases[] = {
		{ "u:", h6, "", "s3cret", AUTH_RES_OK },
		{ "u:", h6, "", "s3cret ", AUTH_RES_FAIL },
		{ "u:", h6, "", "S3cret", AUTH_RES_FAIL },
		{ "u:", h6, "", "", AUTH_RES_FAIL },
		{ "u:{SHA512-CRYPT}", h6, "", "s3cret", AUTH_RES_OK },
		{ "u:{sha512-crypt}", h6, "", "s3cret", AUTH_RES_OK },
		{ "u:{CRYPT}", h6, "", "s3cret", AUTH_RES_OK },
		{ "u:{CRYPT}", hy, "", "s3cret", AUTH_RES_OK },
		{ "u:", hy, ":1:1::/h::", "s3cret", AUTH_RES_OK },
		{ "u:", hy, "", "wrong", AUTH_RES_FAIL },
		{ "u:{BLF-CRYPT}", h2, "", "s3cret", AUTH_RES_OK },
		{ "u:{BLF-CRYPT}", h2, "", "s3cre", AUTH_RES_FAIL },
		{ "u:{SHA256-CRYPT}", h5, "", "s3cret", AUTH_RES_OK },
		/* refused however right the password is */
		{ "u:{PLAIN}", "s3cret", "", "s3cret", AUTH_RES_FAIL },
		{ "u:{PLAIN}s3cret", "", "", "s3cret", AUTH_RES_FAIL },
		{ "u:{SSHA}", h6, "", "s3cret", AUTH_RES_FAIL },
		{ "u:{SHA512-CRYPT", h6, "", "s3cret", AUTH_RES_FAIL },
		{ "u:!", h6, "", "s3cret", AUTH_RES_FAIL },
		{ "u:*", "", "", "s3cret", AUTH_RES_FAIL },
		{ "u:", "", "", "", AUTH_RES_FAIL },
		{ "u:{CRYPT}", "", "", "", AUTH_RES_FAIL },
		{ "u:s3cret", "", "", "s3cret", AUTH_RES_FAIL },
		{ "u:", h6, ":1:1::/h::nopassword", "s3cret", AUTH_RES_FAIL },
		{ "u:", h6, ":1:1::/h::allow_nets=0.0.0.0/0", "s3cret",
		  AUTH_RES_FAIL },
		{ "u:", h6, ":1:1::/h::quota_rule=*:storage=1G", "s3cret",
		  AUTH_RES_OK },
	};

	for (size_t i = 0; i < NELEM(cases); i++) {
		char line[512];
		enum auth_result r;

		snprintf(line, sizeof(line), "%s%s%s", cases[i].pre,
			 cases[i].hash, cases[i].post);
		r = verify_line(line, cases[i].pw);
		cr_assert_eq(r, cases[i].want, "case %zu (%s, password "
			     "\"%s\"): got %d, want %d", i, line, cases[i].pw,
			     r, cases[i].want);
	}
	free(h6);
	free(hy);
	free(h2);
	free(h5);
}

Test(pwfile_verify, unknown_user_fails)
{
	char *h6 = make_hash("$6$", 0, "pw");
	char line[256];
	struct pwfile *pf;

	snprintf(line, sizeof(line), "u:%s\n", h6);
	pf = pwfile_parse("v", line, strlen(line));
	cr_assert_eq(pwfile_verify(pf, NULL, "pw"), AUTH_RES_FAIL);
	cr_assert_eq(pwfile_verify(NULL, NULL, "pw"), AUTH_RES_FAIL);
	pwfile_free(&pf);
	free(h6);
}

static double
seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* An unknown user must cost as much as a known one: with an expensive
 * hash in the file, a lookup miss that skipped crypt would be orders of
 * magnitude faster. */
Test(pwfile_verify, unknown_user_costs_a_crypt)
{
	char *h = make_hash("$6$", 200000, "pw");
	char line[256];
	struct pwfile *pf;
	const struct pwfile_entry *e;
	double t0, known, unknown;

	snprintf(line, sizeof(line), "u:{SHA512-CRYPT}%s\n", h);
	pf = pwfile_parse("v", line, strlen(line));
	e = pwfile_find(pf, "u");
	cr_assert_not_null(e);
	t0 = seconds();
	cr_assert_eq(pwfile_verify(pf, e, "bad"), AUTH_RES_FAIL);
	known = seconds() - t0;
	t0 = seconds();
	cr_assert_eq(pwfile_verify(pf, pwfile_find(pf, "nobody"), "bad"),
		     AUTH_RES_FAIL);
	unknown = seconds() - t0;
	cr_assert(unknown > known / 3, "unknown user took %.4fs, known "
		  "%.4fs: want comparable", unknown, known);
	pwfile_free(&pf);
	free(h);
}

/* ---- cache and backend ---- */

static char tmpdir[64];
static char path[128];

static void
setup_dir(void)
{
	strcpy(tmpdir, "/tmp/moat-pwfile-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/passwd", tmpdir);
}

static void
teardown_dir(void)
{
	unlink(path);
	rmdir(tmpdir);
}

static void
write_file(const char *text)
{
	char tmp[160];
	FILE *f;

	/* Replace atomically, as admins (and tools) should. */
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(rename(tmp, path), 0);
}

Test(pwfile_cache, reloads_only_on_change, .init = setup_dir,
     .fini = teardown_dir)
{
	struct pwfile_cache c;
	const struct pwfile *a, *b;

	pwfile_cache_init(&c, path);
	cr_assert_eq(pwfile_cache_get(&c, &a), -1, "missing file: want -1");
	write_file("one:h\n");
	cr_assert_eq(pwfile_cache_get(&c, &a), 0);
	cr_assert_not_null(pwfile_find(a, "one"));
	cr_assert_eq(pwfile_cache_get(&c, &b), 0);
	cr_assert_eq(a, b, "unchanged file must not be parsed again");
	write_file("two:h\n");
	cr_assert_eq(pwfile_cache_get(&c, &b), 0);
	cr_assert_null(pwfile_find(b, "one"), "old content after change");
	cr_assert_not_null(pwfile_find(b, "two"));
	unlink(path);
	cr_assert_eq(pwfile_cache_get(&c, &b), -1, "deleted file: want -1");
	pwfile_cache_free(&c);
}

Test(pwfile_auth, backend, .init = setup_dir, .fini = teardown_dir)
{
	char *h = make_hash("$6$", 1000, "pw");
	char text[1024];
	struct pwfile_cache c;
	struct auth_user u;

	snprintf(text, sizeof(text),
		 "full:%s:1234:5678::/home/full::userdb_mail=maildir:~/M\n"
		 "root:%s::::::\n"
		 "ghost-moat-test:%s:::::\n"
		 "partial:%s:77::::\n",
		 h, h, h, h);
	write_file(text);
	pwfile_cache_init(&c, path);

	memset(&u, 0xaa, sizeof(u));
	cr_assert_eq(pwfile_auth(&c, "full", "pw", true, &u), AUTH_RES_OK);
	cr_assert_str_eq(u.user, "full");
	cr_assert_eq(u.uid, 1234, "got uid %u, want 1234", u.uid);
	cr_assert_eq(u.gid, 5678, "got gid %u, want 5678", u.gid);
	cr_assert_str_eq(u.home, "/home/full");
	cr_assert_str_eq(u.mail, "maildir:~/M");

	cr_assert_eq(pwfile_auth(&c, "full", "nope", true, &u),
		     AUTH_RES_FAIL);
	cr_assert_eq(pwfile_auth(&c, "stranger", "pw", false, &u),
		     AUTH_RES_UNKNOWN, "unknown user, more backends: want "
		     "UNKNOWN");
	cr_assert_eq(pwfile_auth(&c, "stranger", "pw", true, &u),
		     AUTH_RES_FAIL, "unknown user, last backend: want FAIL");

	/* Empty uid/gid/home come from the system user database. */
	cr_assert_eq(pwfile_auth(&c, "root", "pw", true, &u), AUTH_RES_OK);
	cr_assert_eq(u.uid, 0);
	cr_assert_eq(u.gid, 0);
	cr_assert_str_eq(u.home, "/root");
	cr_assert_str_eq(u.mail, "", "no mail field: want empty (global "
			 "default applies)");
	/* ... and a user the system does not know cannot get one. */
	cr_assert_eq(pwfile_auth(&c, "ghost-moat-test", "pw", true, &u),
		     AUTH_RES_TEMPFAIL);
	cr_assert_eq(pwfile_auth(&c, "partial", "pw", true, &u),
		     AUTH_RES_TEMPFAIL);

	unlink(path);
	cr_assert_eq(pwfile_auth(&c, "full", "pw", true, &u),
		     AUTH_RES_TEMPFAIL, "unreadable file: want TEMPFAIL");
	pwfile_cache_free(&c);
	free(h);
}

/* Ownership (issue 5, finding 10): as root, a file or directory that
 * someone other than root can change is refused, also behind a
 * symlink; a FIFO in the file's place is refused without hanging. */
Test(pwfile_cache, refuses_what_others_can_write, .init = setup_dir,
     .fini = teardown_dir)
{
	char sub[96], link[128];
	struct pwfile_cache c;
	const struct pwfile *pf;

	if (geteuid() != 0)
		cr_skip_test("the ownership rules apply to root only");
	write_file("one:h\n");
	pwfile_cache_init(&c, path);
	cr_assert_eq(pwfile_cache_get(&c, &pf), 0, "0644 root: want 0");
	cr_assert_eq(chmod(path, 0620), 0);
	cr_assert_eq(pwfile_cache_get(&c, &pf), -1, "group-writable");
	cr_assert_eq(chmod(path, 0602), 0);
	cr_assert_eq(pwfile_cache_get(&c, &pf), -1, "world-writable");
	cr_assert_eq(chmod(path, 0600), 0);
	cr_assert_eq(pwfile_cache_get(&c, &pf), 0);
	pwfile_cache_free(&c);

	/* A link in an unsafe directory can be pointed elsewhere. */
	strcpy(sub, "/tmp/moat-pwlink-XXXXXX");
	cr_assert_not_null(mkdtemp(sub));
	snprintf(link, sizeof(link), "%s/passwd", sub);
	cr_assert_eq(symlink(path, link), 0);
	pwfile_cache_init(&c, link);
	cr_assert_eq(pwfile_cache_get(&c, &pf), 0, "safe link: want 0");
	cr_assert_eq(chmod(sub, 0777), 0);
	cr_assert_eq(utimensat(AT_FDCWD, path, NULL, 0), 0);
	cr_assert_eq(pwfile_cache_get(&c, &pf), -1, "link in a "
		     "world-writable directory");
	pwfile_cache_free(&c);
	/* ... and so can the target's directory, which is no parent of
	 * the link's (checked after resolving the link). */
	cr_assert_eq(chmod(sub, 0755), 0);
	cr_assert_eq(chmod(tmpdir, 0775), 0);
	pwfile_cache_init(&c, link);
	cr_assert_eq(pwfile_cache_get(&c, &pf), -1, "target in a "
		     "group-writable directory");
	pwfile_cache_free(&c);
	cr_assert_eq(chmod(tmpdir, 0700), 0);
	unlink(link);
	rmdir(sub);

	unlink(path);
	cr_assert_eq(mkfifo(path, 0600), 0);
	pwfile_cache_init(&c, path);
	cr_assert_eq(pwfile_cache_get(&c, &pf), -1, "FIFO: want -1 at once");
	pwfile_cache_free(&c);
}
