/*
 * passwd-file: the Dovecot-compatible passwd-file backend.
 *
 * Format, one user per line:
 *     user:password:uid:gid:gecos:home:shell:extra_fields
 * Only user and password are required; missing trailing fields are
 * empty. password is a crypt(3) string, optionally prefixed with a
 * scheme: {SHA512-CRYPT}, {SHA256-CRYPT}, {BLF-CRYPT}, {CRYPT} (case
 * does not matter). Any other scheme ({PLAIN}, {SSHA}, ...) is refused
 * when that user logs in, with a warning. extra_fields (everything after
 * the seventh colon, so values may contain colons) are space-separated
 * key=value pairs: userdb_mail= / mail= (mail location), userdb_home= /
 * home=, userdb_uid= / uid=, userdb_gid= / gid= override the fields.
 * Extra fields that would restrict or redirect a login in Dovecot
 * (allow_nets, nologin, proxy, host, user, ...) are not implemented:
 * an entry carrying one is refused rather than let in unrestricted.
 * Other extra fields are ignored. Blank lines and lines starting with
 * '#' are skipped; bad lines are skipped with a warning naming the line.
 * The first of several lines for one user wins.
 *
 * If uid, gid or home are empty, they come from the system's user
 * database (getpwnam) after the password has been verified. An empty
 * mail location means "use the global mail_location".
 */
#ifndef MOAT_AUTH_PASSWD_FILE_H
#define MOAT_AUTH_PASSWD_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "auth.h"

#define PWFILE_SIZE_MAX (64u * 1024 * 1024)
#define PWFILE_LINE_MAX 8192

struct pwfile_entry {
	const char *user;
	const char *pass;        /* as in the file, scheme prefix included */
	bool has_uid, has_gid;
	uint32_t uid, gid;
	const char *home;        /* "" if not set */
	const char *mail;        /* "" if not set */
	const char *refuse;      /* an unsupported restricting extra field,
				  * or NULL */
	unsigned int line;
};

struct pwfile;

/* Parses one line in place (line is NUL-terminated, without the newline;
 * the entry's strings point into it). Returns 1 for an entry, 0 for a
 * blank or comment line, -1 for a bad line with *why set. */
int pwfile_parse_line(char *line, struct pwfile_entry *e, const char **why);

/* Parses a whole file image (copied; need not be NUL-terminated). name
 * is used in warnings. Never fails: bad lines are skipped. */
struct pwfile *pwfile_parse(const char *name, const char *text, size_t len);
void pwfile_free(struct pwfile **pf);
size_t pwfile_count(const struct pwfile *pf);
const struct pwfile_entry *pwfile_find(const struct pwfile *pf,
				       const char *user);

/* Checks password against e's hash in constant time. e == NULL (unknown
 * user) or an entry that cannot log in still costs one crypt(3) of a
 * hash like the file's others, so timing does not tell whether the user
 * exists. Returns AUTH_RES_OK or AUTH_RES_FAIL. */
enum auth_result pwfile_verify(const struct pwfile *pf,
			       const struct pwfile_entry *e,
			       const char *password);

/* A parsed file kept across requests and re-read only when it changes
 * (device, inode, size, mtime, ctime). */
struct pwfile_cache {
	char *path;
	struct pwfile *pf;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim, ctim;
};
void pwfile_cache_init(struct pwfile_cache *c, const char *path);
void pwfile_cache_free(struct pwfile_cache *c);
/* The current parse of the file, reloading it if it changed. Returns 0,
 * or -1 (logged) if the file cannot be read. */
int pwfile_cache_get(struct pwfile_cache *c, const struct pwfile **out);

/* The backend: verify user/password, fill *out on success (uid, gid and
 * home from the system user database where the file leaves them empty).
 * An unknown user yields AUTH_RES_UNKNOWN unless last is true, in which
 * case the dummy hash is checked and the result is AUTH_RES_FAIL. */
enum auth_result pwfile_auth(struct pwfile_cache *c, const char *user,
			     const char *password, bool last,
			     struct auth_user *out);

/* The user record of user without any password check (LMTP recipient
 * lookup): OK, UNKNOWN (not in the file), FAIL (an entry that may not
 * log in) or TEMPFAIL (the file or the system database failed). */
enum auth_result pwfile_lookup(struct pwfile_cache *c, const char *user,
			       struct auth_user *out);

#endif
