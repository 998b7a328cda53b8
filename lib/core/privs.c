/*
 * privs: user lookup, privilege drop, chroot, environment and descriptor
 * cleaning. Callers: moatd (forking imap sessions, spawning children),
 * imap-login, auth (user records, forking workers).
 * Inputs are from the config and from auth's user record (trusted
 * processes), but a mistake here hands a client root, so every step is
 * verified rather than assumed.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/privs.h"
#include "core/str.h"

int
privs_getpwnam(const char *name, struct passwd *pw, char **bufp)
{
	struct passwd *res = NULL;
	long sz = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t bufsize = sz > 0 ? (size_t)sz : 16384;
	char *buf;
	int r;

	*bufp = NULL;
	/* Grow the buffer on ERANGE; NSS entries are small, 1 MiB is far
	 * more than any sane one needs. */
	for (;;) {
		buf = xmalloc(bufsize);
		r = getpwnam_r(name, pw, buf, bufsize, &res);
		if (r != ERANGE || bufsize >= 1024 * 1024)
			break;
		free(buf);
		bufsize *= 2;
	}
	if (r != 0) {
		free(buf);
		errno = r;
		return -1;
	}
	if (res == NULL) {
		free(buf);
		return 0;
	}
	*bufp = buf;
	return 1;
}

int
privs_lookup_user(const char *name, uid_t *uid, gid_t *gid)
{
	struct passwd pw;
	char *buf;
	int r;

	if (name == NULL || *name == '\0') {
		errno = EINVAL;
		return -1;
	}
	r = privs_getpwnam(name, &pw, &buf);
	if (r <= 0) {
		if (r == 0)
			errno = ENOENT;
		return -1;
	}
	*uid = pw.pw_uid;
	*gid = pw.pw_gid;
	free(buf);
	return 0;
}

/* Confirms the drop took: all three ids match and neither root uid nor
 * root gid can be regained. */
static int
privs_verify(const char *user, uid_t uid, gid_t gid)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
		return -1;
	if (ru != uid || eu != uid || su != uid ||
	    rg != gid || eg != gid || sg != gid) {
		errno = EPERM;
		return -1;
	}
	if (user == NULL) {
		gid_t groups[2];
		int n = getgroups(2, groups);

		/* Only the primary group (or none) may remain. */
		if (n < 0 || n > 1 || (n == 1 && groups[0] != gid)) {
			errno = EPERM;
			return -1;
		}
	}
	if (uid != 0) {
		if (setuid(0) == 0 || seteuid(0) == 0) {
			errno = EPERM;
			return -1;
		}
		if (gid != 0 && (setgid(0) == 0 || setegid(0) == 0)) {
			errno = EPERM;
			return -1;
		}
	}
	return 0;
}

int
privs_drop(const char *user, uid_t uid, gid_t gid)
{
	/* Groups first, while we still may change them; then the gid,
	 * then the uid, which removes the right to do either. */
	if (user != NULL) {
		if (initgroups(user, gid) < 0) {
			/* A user auth knows but NSS does not (passwd-file
			 * virtual users): only the primary group. */
			if (setgroups(1, &gid) < 0)
				return -1;
		}
	} else if (setgroups(1, &gid) < 0) {
		return -1;
	}
	if (setresgid(gid, gid, gid) < 0)
		return -1;
	if (setresuid(uid, uid, uid) < 0)
		return -1;
	return privs_verify(user, uid, gid);
}

int
privs_chroot(const char *dir)
{
	struct stat st, fst;
	int fd;

	if (lstat(dir, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	/* A directory the unprivileged process could write to would let it
	 * plant files (e.g. a fake /etc or /lib) inside its own jail. */
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		errno = EPERM;
		return -1;
	}
	/* Enter the directory we checked, not whatever the path names by
	 * now. */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &fst) < 0 || fst.st_dev != st.st_dev ||
	    fst.st_ino != st.st_ino || fst.st_uid != 0 ||
	    (fst.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	if (fchdir(fd) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	close(fd);
	if (chroot(".") < 0 || chdir("/") < 0)
		return -1;
	return 0;
}

bool
privs_are_root(void)
{
	return geteuid() == 0;
}

void
privs_clean_env(const char *const *keep)
{
	size_t n = 0;
	char **saved;

	for (size_t i = 0; keep != NULL && keep[i] != NULL; i++)
		n++;
	saved = xcalloc(n + 1, sizeof(*saved));
	for (size_t i = 0; i < n; i++) {
		const char *v = getenv(keep[i]);

		saved[i] = v != NULL ? xstrdup(v) : NULL;
	}
	clearenv();
	for (size_t i = 0; i < n; i++) {
		if (saved[i] != NULL) {
			setenv(keep[i], saved[i], 1);
			free(saved[i]);
		}
	}
	free(saved);
}
