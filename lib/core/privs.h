/*
 * privs: dropping privileges, for imap-login (to the login user, inside
 * an empty chroot) and for imap (to the mail user). Always in the order
 * setgroups, setresgid, setresuid, then verified: a process that could
 * get root back is a fatal error, not a warning.
 */
#ifndef MOAT_PRIVS_H
#define MOAT_PRIVS_H

#include <stdbool.h>
#include <sys/types.h>

struct passwd;

/* Look up a user by name. Returns 0 and fills uid/gid, or -1. */
int privs_lookup_user(const char *name, uid_t *uid, gid_t *gid);
/* getpwnam_r with a buffer grown as NSS asks (up to 1 MiB). Returns 1
 * and fills *pw, whose strings live in *buf (the caller frees it); 0 if
 * there is no such user; -1 with errno on a lookup error. *buf is NULL
 * unless 1 is returned. */
int privs_getpwnam(const char *name, struct passwd *pw, char **buf);
/* Drops to uid/gid with supplementary groups of user (initgroups) or,
 * if user is NULL, no supplementary groups. Verifies afterwards that
 * setuid(0)/setgid(0) fail and that real, effective and saved ids all
 * match. Returns 0, or -1 with errno (callers treat it as fatal). */
int privs_drop(const char *user, uid_t uid, gid_t gid);
/* chroot(dir) + chdir("/"). The directory must be owned by root and not
 * writable by group or others; otherwise -1 with errno EPERM. */
int privs_chroot(const char *dir);
/* True when running as root (euid 0): full privilege separation. */
bool privs_are_root(void);
/* Clears the environment except the names in keep (NULL-terminated,
 * may be NULL). Used before exec of children. */
void privs_clean_env(const char *const *keep);
/* Closes every descriptor >= lowfd, so nothing leaks into a forked
 * child (close_range, or a loop on old kernels). Safe after fork. */
void privs_close_from(int lowfd);

#endif
