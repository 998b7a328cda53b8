/*
 * passwd-file: parse, cache and verify a Dovecot-style passwd-file
 * (format in passwd-file.h). Callers: auth/worker.c (in a worker
 * process), tests. The file is admin-owned but parsed defensively (size
 * and line limits, every field checked); user names and passwords come
 * from the network through moatd and are untrusted.
 *
 * Trust: whoever can write the file can log in as anyone it lists, with
 * any uid. When auth runs as root the file is therefore refused (every
 * login TEMPFAIL, logged) unless it is owned by root and not writable by
 * group or others, and so is every directory above it (as given and
 * after resolving symlinks) -- sshd's StrictModes rule, except that a
 * sticky directory such as /tmp may be world-writable, since nobody but
 * root can then remove or rename root's file in it. Checked whenever
 * the file is (re)read.
 *
 * Speed matters (the benchmark counts logins per second): the file is
 * parsed once into a sorted array and re-read only when stat(2) says it
 * changed; a lookup is a binary search; the only real work per login is
 * the one crypt(3) the hash demands.
 */
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/num.h"
#include "core/str.h"
#include "passwd-file.h"

struct pwfile {
	char *text;                  /* the file image, split in place */
	size_t text_size;
	struct pwfile_entry *ents;   /* sorted by user, then line */
	size_t n;
	const char *dummy;           /* crypt setting for unknown users */
};

/* Used when the file has no crypt hash to imitate: SHA-512 crypt with
 * default rounds, as the design asks. Any fixed salt will do; nobody's
 * password is checked against it. */
static const char dummy_setting_default[] = "$6$MoatDummySalt0$";
static const char dummy_password[] = "moat-dummy-password";

/* Schemes whose value is a crypt(3) string. */
static const char *const crypt_schemes[] = {
	"SHA512-CRYPT", "SHA256-CRYPT", "BLF-CRYPT", "CRYPT",
};

/* Dovecot extra fields that restrict or redirect a login. Ignoring them
 * would let such a user in unrestricted, so their entries are refused. */
static const char *const refused_fields[] = {
	"allow_nets", "allow_real_nets", "nologin", "nopassword",
	"noauthenticate", "proxy", "proxy_maybe", "host", "user",
	"userdb_user", "master", "login_user", "skip", "deny",
};

/* crypt_rn's work area: a worker handles one request at a time. It is
 * wiped after every use (it holds state derived from the password). */
static struct crypt_data pw_cd;

/* ---- line parsing ---- */

static int
parse_id(const char *s, uint32_t *out)
{
	unsigned int v;

	/* (uid_t)-1 means "no change" to set*id(2); never accept it. */
	if (num_parse_uint(s, 0xfffffffeu, &v) < 0)
		return -1;
	*out = v;
	return 0;
}

static bool
path_ok(const char *s)
{
	return s[0] == '/' && strlen(s) <= IPC_PATH_MAX;
}

static bool
in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (str_eq(s, list[i]))
			return true;
	}
	return false;
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Parses the space-separated extra fields into e. */
static int
parse_extra(char *s, struct pwfile_entry *e, const char **why)
{
	char *tok, *save = NULL, *val;

	for (tok = strtok_r(s, " ", &save); tok != NULL;
	     tok = strtok_r(NULL, " ", &save)) {
		val = strchr(tok, '=');
		if (val != NULL)
			*val++ = '\0';
		if (str_eq(tok, "userdb_mail") || str_eq(tok, "mail")) {
			if (val == NULL || strlen(val) > IPC_PATH_MAX) {
				*why = "bad mail extra field";
				return -1;
			}
			e->mail = val;
		} else if (str_eq(tok, "userdb_home") || str_eq(tok, "home")) {
			if (val == NULL || !path_ok(val)) {
				*why = "bad home extra field";
				return -1;
			}
			e->home = val;
		} else if (str_eq(tok, "userdb_uid") || str_eq(tok, "uid")) {
			if (val == NULL || parse_id(val, &e->uid) < 0) {
				*why = "bad uid extra field";
				return -1;
			}
			e->has_uid = true;
		} else if (str_eq(tok, "userdb_gid") || str_eq(tok, "gid")) {
			if (val == NULL || parse_id(val, &e->gid) < 0) {
				*why = "bad gid extra field";
				return -1;
			}
			e->has_gid = true;
		} else if (in_list(tok, refused_fields, NELEM(refused_fields))) {
			if (e->refuse == NULL)
				e->refuse = tok;
		}
		/* Anything else (quota rules, ...) has no meaning here. */
	}
	return 0;
}

int
pwfile_parse_line(char *line, struct pwfile_entry *e, const char **why)
{
	char *f[8];
	size_t nf = 0;
	char *p = line;

	memset(e, 0, sizeof(*e));
	e->home = "";
	e->mail = "";
	*why = NULL;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	if (str_has_ctl(line)) {
		*why = "control character";
		return -1;
	}
	/* Seven separators at most: the extra fields keep their colons
	 * (mail=maildir:~/Maildir). */
	f[nf++] = line;
	while (nf < NELEM(f) && (p = strchr(f[nf - 1], ':')) != NULL) {
		*p = '\0';
		f[nf++] = p + 1;
	}
	if (nf < 2) {
		*why = "no password field";
		return -1;
	}
	if (!auth_user_name_valid(f[0]) || strchr(f[0], ' ') != NULL) {
		*why = "bad user name";
		return -1;
	}
	e->user = f[0];
	e->pass = f[1];
	if (nf > 2 && f[2][0] != '\0') {
		if (parse_id(f[2], &e->uid) < 0) {
			*why = "bad uid";
			return -1;
		}
		e->has_uid = true;
	}
	if (nf > 3 && f[3][0] != '\0') {
		if (parse_id(f[3], &e->gid) < 0) {
			*why = "bad gid";
			return -1;
		}
		e->has_gid = true;
	}
	/* f[4] gecos and f[6] shell mean nothing to an IMAP server. */
	if (nf > 5 && f[5][0] != '\0') {
		if (!path_ok(f[5])) {
			*why = "home is not an absolute path";
			return -1;
		}
		e->home = f[5];
	}
	if (nf > 7 && parse_extra(f[7], e, why) < 0)
		return -1;
	return 1;
}

/* ---- whole file ---- */

static int
ent_cmp(const void *a, const void *b)
{
	const struct pwfile_entry *x = a, *y = b;
	int c = strcmp(x->user, y->user);

	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

struct pwfile *
pwfile_parse(const char *name, const char *text, size_t len)
{
	struct pwfile *pf = xcalloc(1, sizeof(*pf));
	size_t cap = 0, i, out;
	unsigned int lineno = 0;
	char *p, *end, *nl;
	const char *why;
	struct pwfile_entry e;
	int r;

	pf->text = xmalloc(len + 1);
	pf->text_size = len + 1;
	memcpy(pf->text, text, len);
	pf->text[len] = '\0';
	p = pf->text;
	end = pf->text + len;
	while (p < end) {
		lineno++;
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		*nl = '\0';
		if ((size_t)(nl - p) > PWFILE_LINE_MAX) {
			log_warn("%s:%u: line longer than %u bytes, skipped",
				 name, lineno, PWFILE_LINE_MAX);
		} else if (strlen(p) != (size_t)(nl - p)) {
			log_warn("%s:%u: NUL byte, line skipped", name, lineno);
		} else {
			if (nl > p && nl[-1] == '\r')
				nl[-1] = '\0';
			r = pwfile_parse_line(p, &e, &why);
			if (r < 0) {
				log_warn("%s:%u: %s, line skipped", name,
					 lineno, why);
			} else if (r > 0) {
				e.line = lineno;
				if (pf->n == cap) {
					cap = cap == 0 ? 64 : cap * 2;
					pf->ents = xreallocarray(pf->ents, cap,
							sizeof(*pf->ents));
				}
				pf->ents[pf->n++] = e;
			}
		}
		p = nl + 1;
	}
	if (pf->n > 0)
		qsort(pf->ents, pf->n, sizeof(*pf->ents), ent_cmp);
	/* Keep the first line of each user. */
	for (i = 0, out = 0; i < pf->n; i++) {
		if (out > 0 && str_eq(pf->ents[out - 1].user,
				      pf->ents[i].user)) {
			log_warn("%s:%u: user %s already defined on line %u, "
				 "line ignored", name, pf->ents[i].line,
				 pf->ents[i].user, pf->ents[out - 1].line);
			continue;
		}
		pf->ents[out++] = pf->ents[i];
	}
	pf->n = out;
	/* Unknown users are checked against a hash of the kind the file
	 * uses (algorithm and cost), so they take as long as real ones. */
	pf->dummy = dummy_setting_default;
	for (i = 0; i < pf->n; i++) {
		const char *h = pf->ents[i].pass;

		if (h[0] == '{' && (h = strchr(h, '}')) != NULL)
			h++;
		if (h != NULL && h[0] == '$') {
			pf->dummy = h;
			break;
		}
	}
	return pf;
}

void
pwfile_free(struct pwfile **pfp)
{
	struct pwfile *pf;

	if (pfp == NULL || *pfp == NULL)
		return;
	pf = *pfp;
	explicit_bzero(pf->text, pf->text_size);
	free(pf->text);
	free(pf->ents);
	free(pf);
	*pfp = NULL;
}

size_t
pwfile_count(const struct pwfile *pf)
{
	return pf->n;
}

static int
key_cmp(const void *key, const void *elem)
{
	const struct pwfile_entry *e = elem;

	return strcmp(key, e->user);
}

const struct pwfile_entry *
pwfile_find(const struct pwfile *pf, const char *user)
{
	if (pf->n == 0)
		return NULL;
	return bsearch(user, pf->ents, pf->n, sizeof(*pf->ents), key_cmp);
}

/* ---- verification ---- */

/* Runs crypt(3) and compares with hash in constant time. */
static bool
crypt_matches(const char *password, const char *hash)
{
	const char *out;
	bool ok = false;

	out = crypt_rn(password, hash, &pw_cd, sizeof(pw_cd));
	/* A failed crypt returns NULL or a string starting with '*'
	 * (never a valid hash), so it cannot match. */
	if (out != NULL && out[0] != '*') {
		size_t n = strlen(out);

		ok = n == strlen(hash) && str_ct_eq(out, hash, n);
	}
	explicit_bzero(&pw_cd, sizeof(pw_cd));
	return ok;
}

static void
dummy_work(const struct pwfile *pf)
{
	(void)crypt_matches(dummy_password,
			    pf != NULL ? pf->dummy : dummy_setting_default);
}

/* Strips a {SCHEME} prefix. Returns the crypt string, or NULL if the
 * scheme is not one we verify (*scheme_len tells how much to show). */
static const char *
strip_scheme(const char *pass, int *scheme_len)
{
	const char *close;
	size_t n;

	*scheme_len = 0;
	if (pass[0] != '{')
		return pass;
	close = strchr(pass, '}');
	if (close == NULL) {
		*scheme_len = 1;
		return NULL;
	}
	n = (size_t)(close - pass - 1);
	*scheme_len = n > 64 ? 66 : (int)n + 2;
	for (size_t i = 0; i < NELEM(crypt_schemes); i++) {
		if (strlen(crypt_schemes[i]) == n &&
		    strncasecmp(pass + 1, crypt_schemes[i], n) == 0)
			return close + 1;
	}
	return NULL;
}

enum auth_result
pwfile_verify(const struct pwfile *pf, const struct pwfile_entry *e,
	      const char *password)
{
	const char *hash;
	int slen;

	if (e == NULL) {
		dummy_work(pf);
		return AUTH_RES_FAIL;
	}
	hash = strip_scheme(e->pass, &slen);
	if (hash == NULL) {
		log_warn("passwd-file user %s (line %u): unsupported password "
			 "scheme %.*s, login refused", e->user, e->line, slen,
			 e->pass);
	} else if (hash[0] == '\0') {
		log_warn("passwd-file user %s (line %u): empty password hash, "
			 "login refused", e->user, e->line);
		hash = NULL;
	} else if (e->refuse != NULL) {
		log_warn("passwd-file user %s (line %u): extra field %s is "
			 "not supported, login refused", e->user, e->line,
			 e->refuse);
		hash = NULL;
	}
	if (hash == NULL) {
		dummy_work(pf);
		return AUTH_RES_FAIL;
	}
	if (hash[0] != '$') {
		/* A locked account ("!", "*") or an old DES hash: crypt may
		 * return at once, so spend the usual time first. */
		dummy_work(pf);
	}
	return crypt_matches(password, hash) ? AUTH_RES_OK : AUTH_RES_FAIL;
}

/* ---- cache ---- */

void
pwfile_cache_init(struct pwfile_cache *c, const char *path)
{
	memset(c, 0, sizeof(*c));
	c->path = xstrdup(path);
}

void
pwfile_cache_free(struct pwfile_cache *c)
{
	pwfile_free(&c->pf);
	free(c->path);
	c->path = NULL;
}

static bool
same_file(const struct pwfile_cache *c, const struct stat *st)
{
	return c->pf != NULL && c->dev == st->st_dev && c->ino == st->st_ino &&
	    c->size == st->st_size &&
	    c->mtim.tv_sec == st->st_mtim.tv_sec &&
	    c->mtim.tv_nsec == st->st_mtim.tv_nsec &&
	    c->ctim.tv_sec == st->st_ctim.tv_sec &&
	    c->ctim.tv_nsec == st->st_ctim.tv_nsec;
}

/* Is a directory one that only root can change entries of? */
static bool
dir_trusted(const char *file, const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0) {
		log_error("passwd-file %s: stat %s: %m", file, dir);
		return false;
	}
	if (st.st_uid != 0 || ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
			       (st.st_mode & S_ISVTX) == 0)) {
		log_error("passwd-file %s: directory %s is owned by uid %u "
			  "with mode %04o; it must be owned by root and not "
			  "writable by group or others (whoever can replace "
			  "the file can log in as anyone): refused", file,
			  dir, (unsigned)st.st_uid,
			  (unsigned)(st.st_mode & 07777));
		return false;
	}
	return true;
}

/* Every directory above path (absolute), innermost first. */
static bool
parents_trusted(const char *file, const char *path)
{
	char *dir = xstrdup(path), *slash;
	bool ok = true;

	while (ok && (slash = strrchr(dir, '/')) != NULL) {
		if (slash == dir) {
			ok = dir_trusted(file, "/");
			break;
		}
		*slash = '\0';
		ok = dir_trusted(file, dir);
	}
	free(dir);
	return ok;
}

/* The ownership rule at the top of this file; st is the open file's. */
static bool
file_trusted(const char *path, const struct stat *st)
{
	char *real;
	bool ok;

	if (geteuid() != 0)
		return true;    /* no privilege separation: the user's own */
	if (st->st_uid != 0 || (st->st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		log_error("passwd-file %s is owned by uid %u with mode %04o; "
			  "it must be owned by root and not writable by group "
			  "or others (whoever can write it can log in as "
			  "anyone): refused", path, (unsigned)st->st_uid,
			  (unsigned)(st->st_mode & 07777));
		return false;
	}
	real = realpath(path, NULL);
	if (real == NULL) {
		log_error("passwd-file %s: realpath: %m", path);
		return false;
	}
	ok = parents_trusted(path, path) &&
	    (str_eq(real, path) || parents_trusted(path, real));
	free(real);
	return ok;
}

static int
cache_load(struct pwfile_cache *c)
{
	struct stat st;
	char *data;
	size_t got = 0;
	ssize_t n;
	int fd;

	/* O_NONBLOCK: a FIFO put in its place must not hang the worker
	 * in open(); the S_ISREG check below refuses it. */
	fd = open(c->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		log_error("passwd-file %s: open: %m", c->path);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		log_error("passwd-file %s: fstat: %m", c->path);
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < 0 ||
	    (uint64_t)st.st_size > PWFILE_SIZE_MAX) {
		log_error("passwd-file %s: not a regular file or larger than "
			  "%u bytes", c->path, PWFILE_SIZE_MAX);
		close(fd);
		return -1;
	}
	if (!file_trusted(c->path, &st)) {
		close(fd);
		return -1;
	}
	data = xmalloc((size_t)st.st_size + 1);
	/* Read what fstat announced; a file still being written shows up
	 * as a changed key on the next request and is read again. */
	while (got < (size_t)st.st_size) {
		n = read(fd, data + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_error("passwd-file %s: read: %m", c->path);
			free(data);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	pwfile_free(&c->pf);
	c->pf = pwfile_parse(c->path, data, got);
	explicit_bzero(data, got);
	free(data);
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	c->size = st.st_size;
	c->mtim = st.st_mtim;
	c->ctim = st.st_ctim;
	log_debug("passwd-file %s: %zu users", c->path, pwfile_count(c->pf));
	return 0;
}

int
pwfile_cache_get(struct pwfile_cache *c, const struct pwfile **out)
{
	struct stat st;

	if (stat(c->path, &st) < 0) {
		log_error("passwd-file %s: stat: %m", c->path);
		return -1;
	}
	if (!same_file(c, &st) && cache_load(c) < 0)
		return -1;
	*out = c->pf;
	return 0;
}

/* Fills out from e (and the system user database for what e lacks). */
static enum auth_result
pwfile_fill(const struct pwfile_entry *e, struct auth_user *out)
{
	uint32_t uid = 0, gid = 0;
	char home[IPC_PATH_MAX + 1];
	int found = 0;

	memset(out, 0, sizeof(*out));
	home[0] = '\0';
	if (!e->has_uid || !e->has_gid || e->home[0] == '\0') {
		found = auth_getpw(e->user, &uid, &gid, home, sizeof(home));
		if (found < 0)
			return AUTH_RES_TEMPFAIL;
		if (found == 0) {
			log_error("passwd-file user %s (line %u) lacks uid, "
				  "gid or home and is not a system user",
				  e->user, e->line);
			return AUTH_RES_TEMPFAIL;
		}
	}
	(void)str_copy(out->user, e->user, sizeof(out->user));
	out->uid = e->has_uid ? e->uid : uid;
	out->gid = e->has_gid ? e->gid : gid;
	(void)str_copy(out->home, e->home[0] != '\0' ? e->home : home,
		       sizeof(out->home));
	(void)str_copy(out->mail, e->mail, sizeof(out->mail));
	return AUTH_RES_OK;
}

enum auth_result
pwfile_auth(struct pwfile_cache *c, const char *user, const char *password,
	    bool last, struct auth_user *out)
{
	const struct pwfile *pf;
	const struct pwfile_entry *e;
	enum auth_result r;

	if (pwfile_cache_get(c, &pf) < 0)
		return AUTH_RES_TEMPFAIL;
	e = pwfile_find(pf, user);
	if (e == NULL && !last)
		return AUTH_RES_UNKNOWN;
	r = pwfile_verify(pf, e, password);
	if (r != AUTH_RES_OK)
		return r;
	return pwfile_fill(e, out);
}

enum auth_result
pwfile_lookup(struct pwfile_cache *c, const char *user, struct auth_user *out)
{
	const struct pwfile *pf;
	const struct pwfile_entry *e;

	if (pwfile_cache_get(c, &pf) < 0)
		return AUTH_RES_TEMPFAIL;
	e = pwfile_find(pf, user);
	if (e == NULL)
		return AUTH_RES_UNKNOWN;
	/* An entry a login would refuse (an unsupported restricting
	 * field) gets no mail either. */
	if (e->refuse != NULL)
		return AUTH_RES_FAIL;
	return pwfile_fill(e, out);
}
