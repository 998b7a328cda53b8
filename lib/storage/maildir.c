/*
 * maildir: the Maildir++ backend (store-private.h). INBOX is the root
 * (cur/ new/ tmp/), folder "Sub/Folder" is the directory ".Sub.Folder"
 * (mbname_to_maildir) with its own cur/ new/ tmp/ and an empty
 * "maildirfolder" file, as Courier and Dovecot make them.
 *
 * Every path below the root is opened relative to a directory fd with
 * O_NOFOLLOW: a symlink planted in the store (a folder, cur/, a message
 * file) is never followed out of it. The root itself may be a symlink
 * (it is the configured location).
 *
 * File names are the truth for flags (other MUAs read and change them);
 * the index keeps the last name seen so that FETCH needs no scan, and a
 * name that changed meanwhile is found again by its base (md_locate).
 * The scan itself is in maildir-sync.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/fdio.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/str.h"
#include "imap/mailbox-name.h"
#include "storage/maildir-private.h"
#include "storage/uidlist.h"

#define MD_SUBDIRS_N 3
static const char *const md_subdirs[MD_SUBDIRS_N] = { "cur", "new", "tmp" };
#define TRASH_PREFIX "..moat-trash-"

int md_remove_tree(int dirfd, int depth);

/* ---- flags and blobs -------------------------------------------------- */

unsigned
md_flags_to_idx(unsigned mf)
{
	unsigned f = 0;

	if (mf & MAILDIR_FLAG_DRAFT)
		f |= IDX_F_DRAFT;
	if (mf & MAILDIR_FLAG_FLAGGED)
		f |= IDX_F_FLAGGED;
	if (mf & MAILDIR_FLAG_REPLIED)
		f |= IDX_F_ANSWERED;
	if (mf & MAILDIR_FLAG_SEEN)
		f |= IDX_F_SEEN;
	if (mf & MAILDIR_FLAG_TRASHED)
		f |= IDX_F_DELETED;
	return f;
}

unsigned
md_flags_from_idx(unsigned f, unsigned old_mf)
{
	unsigned mf = old_mf & MAILDIR_FLAG_PASSED;

	if (f & IDX_F_DRAFT)
		mf |= MAILDIR_FLAG_DRAFT;
	if (f & IDX_F_FLAGGED)
		mf |= MAILDIR_FLAG_FLAGGED;
	if (f & IDX_F_ANSWERED)
		mf |= MAILDIR_FLAG_REPLIED;
	if (f & IDX_F_SEEN)
		mf |= MAILDIR_FLAG_SEEN;
	if (f & IDX_F_DELETED)
		mf |= MAILDIR_FLAG_TRASHED;
	return mf;
}

size_t
md_blob_make(uint8_t *out, unsigned bits, const char *name, size_t len)
{
	if (len == 0 || len > MD_BLOB_NAME_MAX)
		return 0;
	out[0] = (uint8_t)bits;
	memcpy(out + 1, name, len);
	return len + 1;
}

bool
md_blob_name(const uint8_t *blob, size_t len, unsigned *bits, char *name)
{
	if (len < 2 || len > IDX_BLOB_MAX ||
	    memchr(blob + 1, '\0', len - 1) != NULL ||
	    memchr(blob + 1, '/', len - 1) != NULL || blob[1] == '.')
		return false;
	*bits = blob[0];
	memcpy(name, blob + 1, len - 1);
	name[len - 1] = '\0';
	return true;
}

/* ---- small file helpers ------------------------------------------------ */

int
md_read_file(struct mailbox *box, const char *file, size_t cap, char **data,
	     size_t *len)
{
	struct maildir_box *mb = md_box(box);
	struct stat st;
	size_t got = 0;
	char *p;
	int fd;

	*data = NULL;
	*len = 0;
	fd = openat(mb->dir_fd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		store_set_errno(box->store, errno, "open %s/%s", box->name,
				file);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	if ((uint64_t)st.st_size > cap) {
		close(fd);
		store_set_error(box->store, STORE_ERR_LIMIT,
				"%s/%s is over %zu bytes", box->name, file,
				cap);
		return -1;
	}
	p = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, p + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			store_set_errno(box->store, errno, "read %s/%s",
					box->name, file);
			free(p);
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	p[got] = '\0';
	*data = p;
	*len = got;
	return 0;
}

/* ---- keywords (dovecot-keywords letters) -------------------------------- */

static int
kw_file_cb(void *ctx, unsigned id, const char *name, size_t len)
{
	struct maildir_box *mb = ctx;

	if (id < 26 && mb->letter_name[id] == NULL)
		mb->letter_name[id] = xstrndup(name, len);
	return 0;
}

int
md_keywords_read(struct mailbox *box)
{
	struct maildir_box *mb = md_box(box);
	char *data;
	size_t len;

	for (size_t i = 0; i < 26; i++) {
		free(mb->letter_name[i]);
		mb->letter_name[i] = NULL;
	}
	mb->kwmap_ok = false;
	if (md_read_file(box, "dovecot-keywords", 64 * 1024, &data, &len) < 0)
		return -1;
	if (data != NULL)
		(void)uidlist_parse_keywords(data, len, kw_file_cb, mb, NULL);
	free(data);
	return 0;
}

int
md_kwmap(struct mailbox *box, struct store_txn *t)
{
	struct maildir_box *mb = md_box(box);

	if (mb->kwmap_ok && mb->kwmap_n_keywords == box->n_keywords &&
	    t == NULL)
		return 0;
	for (size_t i = 0; i < 26; i++)
		mb->letter_kw[i] = -1;
	for (size_t i = 0; i < IDX_KEYWORDS_MAX; i++)
		mb->kw_letter[i] = -1;
	for (size_t i = 0; i < 26; i++) {
		unsigned id;
		bool found = false;

		if (mb->letter_name[i] == NULL)
			continue;
		for (size_t k = 0; k < box->n_keywords; k++)
			if (str_eq_ci(box->keywords[k], mb->letter_name[i])) {
				id = (unsigned)k;
				found = true;
				break;
			}
		if (!found && t != NULL) {
			if (store_txn_keyword(t, mb->letter_name[i], &id) < 0) {
				/* over 64 keywords: the letter stays unmapped */
				log_warn("store: %s: keyword %s not kept: %s",
					 box->name, mb->letter_name[i],
					 box->store->err.detail);
				continue;
			}
			found = true;
		}
		if (found && id < IDX_KEYWORDS_MAX && mb->kw_letter[id] < 0) {
			mb->letter_kw[i] = (int)id;
			mb->kw_letter[id] = (int)i;
		}
	}
	mb->kwmap_ok = true;
	mb->kwmap_n_keywords = box->n_keywords;
	return 0;
}

uint64_t
md_letters_to_kw(const struct maildir_box *mb, uint32_t letters)
{
	uint64_t kw = 0;

	for (unsigned i = 0; i < 26; i++)
		if ((letters & (1u << i)) && mb->letter_kw[i] >= 0)
			kw |= UINT64_C(1) << mb->letter_kw[i];
	return kw;
}

uint32_t
md_kw_to_letters(const struct maildir_box *mb, uint64_t kw)
{
	uint32_t letters = 0;

	for (unsigned i = 0; i < IDX_KEYWORDS_MAX; i++)
		if ((kw & (UINT64_C(1) << i)) && mb->kw_letter[i] >= 0)
			letters |= 1u << mb->kw_letter[i];
	return letters;
}

uint64_t
md_lettered_kw(const struct maildir_box *mb)
{
	uint64_t kw = 0;

	for (unsigned i = 0; i < 26; i++)
		if (mb->letter_kw[i] >= 0)
			kw |= UINT64_C(1) << mb->letter_kw[i];
	return kw;
}

/* ---- finding a message file ------------------------------------------- */

/* Scans dirfd for a name with this base; found gets it. */
static int
scan_for_base(int dirfd, const char *base, size_t blen, char *found)
{
	int fd = dup(dirfd);
	DIR *d;
	struct dirent *de;
	int ret = 0;

	if (fd < 0)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len < blen ||
		    memcmp(de->d_name, base, blen) != 0 ||
		    maildir_name_base_len(de->d_name, len) != blen)
			continue;
		memcpy(found, de->d_name, len + 1);
		ret = 1;
		break;
	}
	closedir(d);
	return ret;
}

int
md_locate(struct mailbox *box, const char *name, bool in_new, char *found,
	  bool *found_new)
{
	struct maildir_box *mb = md_box(box);
	size_t blen = maildir_name_base_len(name, strlen(name));
	struct stat st;

	for (int pass = 0; pass < 2; pass++) {
		bool nd = pass == 0 ? in_new : !in_new;

		if (fstatat(nd ? mb->new_fd : mb->cur_fd, name, &st,
			    AT_SYMLINK_NOFOLLOW) == 0) {
			str_copy(found, name, MAILDIR_NAME_MAX + 1);
			*found_new = nd;
			return 0;
		}
	}
	for (int i = 0; i < MD_RETRIES; i++) {
		int r = scan_for_base(mb->cur_fd, name, blen, found);

		if (r == 0)
			r = scan_for_base(mb->new_fd, name, blen, found) > 0 ?
			    2 : 0;
		if (r < 0)
			return -1;
		if (r > 0) {
			*found_new = r == 2;
			return 0;
		}
	}
	errno = ENOENT;
	return -1;
}

int
md_open_msg(struct mailbox *box, const char *name, bool in_new, char *found,
	    bool *found_new, struct stat *st)
{
	struct maildir_box *mb = md_box(box);
	char cur[MAILDIR_NAME_MAX + 1];

	str_copy(cur, name, sizeof(cur));
	for (int i = 0; i < MD_RETRIES; i++) {
		int fd = -1;

		/* where the index says it is: the open is the lookup (a
		 * stat first cost one more syscall per message) */
		if (i == 0) {
			fd = openat(in_new ? mb->new_fd : mb->cur_fd, cur,
				    O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0) {
				str_copy(found, cur, MAILDIR_NAME_MAX + 1);
				*found_new = in_new;
			} else if (errno != ENOENT) {
				return -1;
			}
		}
		if (fd < 0 &&
		    md_locate(box, cur, in_new, found, found_new) < 0)
			return -1;
		if (fd < 0)
			fd = openat(*found_new ? mb->new_fd : mb->cur_fd,
				    found, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT) {
			/* renamed between the lookup and the open */
			str_copy(cur, found, sizeof(cur));
			in_new = *found_new;
			continue;
		}
		if (fd < 0)
			return -1;
		if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
			close(fd);
			errno = EINVAL;
			return -1;
		}
		return fd;
	}
	errno = ENOENT;
	return -1;
}

/* ---- the store ------------------------------------------------------- */

static void
sweep_trash(struct store *s)
{
	int fd = dup(s->root_fd);
	DIR *d;
	struct dirent *de;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL)
		if (str_has_prefix(de->d_name, TRASH_PREFIX)) {
			int tfd = openat(s->root_fd, de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					 O_CLOEXEC);
			if (tfd >= 0) {
				(void)md_remove_tree(tfd, 0);
				close(tfd);
			}
			(void)unlinkat(s->root_fd, de->d_name, AT_REMOVEDIR);
		}
	closedir(d);
}

static int
md_init(struct store *s, const struct store_location *loc)
{
	struct maildir_store *ms;

	if (loc->n_params > 0) {
		store_set_error(s, STORE_ERR_SERVERBUG,
				"maildir location: unknown parameter %s",
				loc->params[0].key);
		return -1;
	}
	s->root_fd = open(loc->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->root_fd < 0 && errno == ENOENT) {
		/* a new user: the Maildir appears at first login */
		if (mkdir(loc->path, 0700) < 0 && errno != EEXIST) {
			store_set_errno(s, errno, "mkdir %s", loc->path);
			return -1;
		}
		s->root_fd = open(loc->path,
				  O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (s->root_fd < 0) {
		store_set_errno(s, errno, "open %s", loc->path);
		return -1;
	}
	s->root = xstrdup(loc->path);
	ms = xcalloc(1, sizeof(*ms));
	if (gethostname(ms->host, sizeof(ms->host) - 1) < 0 ||
	    ms->host[0] == '\0')
		str_copy(ms->host, "localhost", sizeof(ms->host));
	ms->host[sizeof(ms->host) - 1] = '\0';
	s->be_data = ms;
	sweep_trash(s);
	return 0;
}

static void
md_deinit(struct store *s)
{
	free(s->be_data);
	s->be_data = NULL;
}

/* The directory name of a mailbox under the root ("" for INBOX). */
static int
md_dirname(struct store *s, const char *name, struct buf *out)
{
	enum mbname_error err;

	if (mbname_to_maildir(name, STORE_SEPARATOR, out, &err) < 0) {
		store_set_error(s, STORE_ERR_CANNOT, "%s: %s", name,
				mbname_error_str(err));
		return -1;
	}
	return 0;
}

static bool
is_dir_at(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISDIR(st.st_mode);
}

static int
md_list(struct store *s,
	int (*cb)(struct store *s, const char *name, void *ctx), void *ctx)
{
	struct buf *name = buf_new(MBNAME_MAX_LEN + 1);
	int fd = dup(s->root_fd), ret = 0;
	struct dirent *de;
	DIR *d;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		store_set_errno(s, errno, "list %s", s->root);
		if (fd >= 0)
			close(fd);
		buf_free(&name);
		return -1;
	}
	rewinddir(d);
	if (is_dir_at(s->root_fd, "cur"))
		ret = cb(s, "INBOX", ctx);
	while (ret == 0 && (de = readdir(d)) != NULL) {
		enum mbname_error err;
		char sub[300];

		if (de->d_name[0] != '.' || str_eq(de->d_name, ".") ||
		    str_eq(de->d_name, ".."))
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		snprintf(sub, sizeof(sub), "%s/cur", de->d_name);
		/* a folder is a directory with cur/ in it, no symlink */
		if (!is_dir_at(s->root_fd, de->d_name) ||
		    !is_dir_at(s->root_fd, sub))
			continue;
		buf_reset(name);
		if (mbname_from_maildir(de->d_name, strlen(de->d_name),
					STORE_SEPARATOR, name, &err) < 0) {
			log_debug("store: %s/%s is not a folder name: %s",
				  s->root, de->d_name, mbname_error_str(err));
			continue;
		}
		ret = cb(s, buf_str(name), ctx);
	}
	closedir(d);
	buf_free(&name);
	return ret;
}

/* Creates cur/ new/ tmp/ under dirfd (those missing). *made: any made. */
static int
make_subdirs(struct store *s, int dirfd, bool *made)
{
	*made = false;
	for (size_t i = 0; i < MD_SUBDIRS_N; i++) {
		if (mkdirat(dirfd, md_subdirs[i], 0700) == 0) {
			*made = true;
			continue;
		}
		if (errno == EEXIST && is_dir_at(dirfd, md_subdirs[i]))
			continue;
		store_set_errno(s, errno, "mkdir %s", md_subdirs[i]);
		return -1;
	}
	return 0;
}

static int
md_create(struct store *s, const char *name)
{
	struct buf *dir = buf_new(MBNAME_MAX_LEN + 8);
	bool made_dir = false, made;
	int fd = -1, ret = -1;

	if (md_dirname(s, name, dir) < 0)
		goto out;
	if (buf_len(dir) == 0) {
		/* INBOX: the root */
		if (make_subdirs(s, s->root_fd, &made) < 0)
			goto out;
		if (!made) {
			store_set_error(s, STORE_ERR_EXISTS, "INBOX exists");
			goto out;
		}
		(void)store_fsync(s, s->root_fd);
		ret = 0;
		goto out;
	}
	if (mkdirat(s->root_fd, buf_str(dir), 0700) == 0) {
		made_dir = true;
	} else if (errno != EEXIST) {
		store_set_errno(s, errno, "mkdir %s", buf_str(dir));
		goto out;
	}
	fd = openat(s->root_fd, buf_str(dir),
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		store_set_errno(s, errno, "open %s", buf_str(dir));
		goto out;
	}
	/* An existing directory without cur/ is a folder a crash left
	 * half made: finish it. */
	if (make_subdirs(s, fd, &made) < 0)
		goto undo;
	if (!made_dir && !made) {
		store_set_error(s, STORE_ERR_EXISTS, "%s exists", name);
		goto out;
	}
	{
		int mf = openat(fd, "maildirfolder",
				O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
				0600);

		if (mf < 0) {
			store_set_errno(s, errno, "create maildirfolder");
			goto undo;
		}
		close(mf);
	}
	if (store_fsync(s, fd) < 0 || store_fsync(s, s->root_fd) < 0) {
		store_set_errno(s, errno, "fsync %s", buf_str(dir));
		goto undo;
	}
	ret = 0;
	goto out;
undo:
	if (made_dir) {
		for (size_t i = 0; i < MD_SUBDIRS_N; i++)
			(void)unlinkat(fd, md_subdirs[i], AT_REMOVEDIR);
		(void)unlinkat(fd, "maildirfolder", 0);
		(void)unlinkat(s->root_fd, buf_str(dir), AT_REMOVEDIR);
	}
out:
	if (fd >= 0)
		close(fd);
	buf_free(&dir);
	return ret;
}

/* Removes everything below dirfd (two levels: a folder and its cur/
 * new/ tmp/), never following a symlink. */
int
md_remove_tree(int dirfd, int depth)
{
	int fd = dup(dirfd), ret = 0;
	struct dirent *de;
	DIR *d;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (str_eq(de->d_name, ".") || str_eq(de->d_name, ".."))
			continue;
		if (unlinkat(dirfd, de->d_name, 0) == 0 || errno == ENOENT)
			continue;
		if ((errno == EISDIR || errno == EPERM) && depth < 2) {
			int sub = openat(dirfd, de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					 O_CLOEXEC);

			if (sub >= 0) {
				if (md_remove_tree(sub, depth + 1) < 0)
					ret = -1;
				close(sub);
			}
			if (unlinkat(dirfd, de->d_name, AT_REMOVEDIR) < 0 &&
			    errno != ENOENT)
				ret = -1;
			continue;
		}
		ret = -1;
	}
	closedir(d);
	return ret;
}

static int
md_delete(struct store *s, const char *name)
{
	struct buf *dir = buf_new(MBNAME_MAX_LEN + 8);
	char trash[64];
	int fd, ret = -1;

	if (md_dirname(s, name, dir) < 0)
		goto out;
	if (buf_len(dir) == 0) {
		store_set_error(s, STORE_ERR_CANNOT, "INBOX cannot be deleted");
		goto out;
	}
	/* Out of sight at once (one rename), then emptied. */
	snprintf(trash, sizeof(trash), TRASH_PREFIX "%ld-%08x",
		 (long)getpid(), rand_u32());
	if (renameat(s->root_fd, buf_str(dir), s->root_fd, trash) < 0) {
		store_set_errno(s, errno, "rename %s", buf_str(dir));
		goto out;
	}
	(void)store_fsync(s, s->root_fd);
	fd = openat(s->root_fd, trash,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		if (md_remove_tree(fd, 0) < 0)
			log_warn("store: %s/%s not fully removed", s->root,
				 trash);
		close(fd);
	}
	if (unlinkat(s->root_fd, trash, AT_REMOVEDIR) < 0)
		log_warn("store: rmdir %s/%s: %s", s->root, trash,
			 strerror(errno));
	ret = 0;
out:
	buf_free(&dir);
	return ret;
}

static int
md_rename(struct store *s, const char *from, const char *to)
{
	struct buf *fd = buf_new(MBNAME_MAX_LEN + 8);
	struct buf *td = buf_new(MBNAME_MAX_LEN + 8);
	int ret = -1;

	if (md_dirname(s, from, fd) < 0 || md_dirname(s, to, td) < 0)
		goto out;
	if (buf_len(fd) == 0 || buf_len(td) == 0) {
		store_set_error(s, STORE_ERR_CANNOT, "INBOX is the root");
		goto out;
	}
	if (renameat2(s->root_fd, buf_str(fd), s->root_fd, buf_str(td),
		      RENAME_NOREPLACE) < 0) {
		if (errno == EINVAL) {
			/* a file system without RENAME_NOREPLACE */
			if (faccessat(s->root_fd, buf_str(td), F_OK,
				      AT_SYMLINK_NOFOLLOW) == 0) {
				errno = EEXIST;
			} else if (renameat(s->root_fd, buf_str(fd),
					    s->root_fd, buf_str(td)) == 0) {
				goto done;
			}
		}
		store_set_errno(s, errno, "rename %s", buf_str(fd));
		goto out;
	}
done:
	(void)store_fsync(s, s->root_fd);
	ret = 0;
out:
	buf_free(&fd);
	buf_free(&td);
	return ret;
}

/* ---- a mailbox ---------------------------------------------------------- */

static void
md_box_close(struct mailbox *box)
{
	struct maildir_box *mb = md_box(box);

	if (mb == NULL)
		return;
	if (mb->dir_fd >= 0)
		close(mb->dir_fd);
	if (mb->cur_fd >= 0)
		close(mb->cur_fd);
	if (mb->new_fd >= 0)
		close(mb->new_fd);
	if (mb->tmp_fd >= 0)
		close(mb->tmp_fd);
	for (size_t i = 0; i < 26; i++)
		free(mb->letter_name[i]);
	free(mb);
	box->be = NULL;
}

static int
md_box_open(struct mailbox *box)
{
	struct store *s = box->store;
	struct buf *dir = buf_new(MBNAME_MAX_LEN + 8);
	struct maildir_box *mb = xcalloc(1, sizeof(*mb));
	int *fds[MD_SUBDIRS_N] = { &mb->cur_fd, &mb->new_fd, &mb->tmp_fd };
	int ret = -1;

	mb->dir_fd = mb->cur_fd = mb->new_fd = mb->tmp_fd = -1;
	box->be = mb;
	if (md_dirname(s, box->name, dir) < 0)
		goto out;
	if (buf_len(dir) == 0)
		mb->dir_fd = dup(s->root_fd);
	else
		mb->dir_fd = openat(s->root_fd, buf_str(dir),
				    O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
				    O_CLOEXEC);
	if (mb->dir_fd < 0)
		goto fail;
	for (size_t i = 0; i < MD_SUBDIRS_N; i++) {
		*fds[i] = openat(mb->dir_fd, md_subdirs[i],
				 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
				 O_CLOEXEC);
		if (*fds[i] < 0 && errno == ENOENT && i == 2) {
			/* tmp/ may be missing (cleaned by someone) */
			if (mkdirat(mb->dir_fd, "tmp", 0700) == 0)
				*fds[i] = openat(mb->dir_fd, "tmp",
						 O_RDONLY | O_DIRECTORY |
						 O_NOFOLLOW | O_CLOEXEC);
		}
		if (*fds[i] < 0)
			goto fail;
	}
	if (md_keywords_read(box) < 0)
		goto out;
	ret = 0;
	goto out;
fail:
	if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR)
		store_set_error(s, STORE_ERR_NONEXISTENT,
				"no mailbox %s (%s)", box->name,
				strerror(errno));
	else
		store_set_errno(s, errno, "open %s", box->name);
out:
	buf_free(&dir);
	return ret;
}

static bool
md_box_valid(struct mailbox *box)
{
	struct maildir_box *mb = md_box(box);
	struct buf *dir = buf_new(MBNAME_MAX_LEN + 8);
	struct stat a, b, c;
	bool ok;

	ok = md_dirname(box->store, box->name, dir) == 0 &&
	     fstat(mb->dir_fd, &a) == 0 && fstat(mb->cur_fd, &c) == 0 &&
	     c.st_nlink > 0 &&
	     (buf_len(dir) == 0 ||
	      (fstatat(box->store->root_fd, buf_str(dir), &b,
		       AT_SYMLINK_NOFOLLOW) == 0 &&
	       a.st_ino == b.st_ino && a.st_dev == b.st_dev));
	buf_free(&dir);
	return ok;
}

static int
md_import_uidvalidity(struct mailbox *box, uint32_t *uidvalidity)
{
	struct md_uidmap *m = md_uidmap_read(box);

	*uidvalidity = m != NULL ? md_uidmap_uidvalidity(m) : 0;
	md_uidmap_free(&m);
	return 0;
}

/* ---- FETCH ------------------------------------------------------------ */

/* After finding a message under another name: record it, and the flags
 * the new name carries (another program's change). */
static void
report_found(struct mailbox *box, const struct store_rec *rec,
	     unsigned bits, const char *found, bool found_new,
	     struct store_txn *t)
{
	struct maildir_box *mb = md_box(box);
	struct maildir_name mn;
	uint8_t blob[IDX_BLOB_MAX];
	size_t blen;

	bits = (bits & ~MD_BLOB_NEW) | (found_new ? MD_BLOB_NEW : 0);
	if ((blen = md_blob_make(blob, bits, found, strlen(found))) == 0)
		return;
	if (maildir_name_parse(found, strlen(found), &mn) == 0 &&
	    mn.flags_valid) {
		uint64_t kw;

		(void)md_kwmap(box, NULL);
		kw = (rec->keywords & ~md_lettered_kw(mb)) |
		     md_letters_to_kw(mb, mn.keywords);
		(void)store_txn_changed(t, rec->uid,
					(uint8_t)md_flags_to_idx(mn.flags), kw,
					rec->modseq, blob, blen);
	} else {
		(void)store_txn_moved(t, rec->uid, blob, blen);
	}
}

/* The first len bytes of fd into m, as they are. */
static int
copy_prefix(int fd, int m, uint64_t len)
{
	uint8_t buf[16384];
	uint64_t done = 0;

	while (done < len) {
		size_t want = len - done < sizeof(buf) ? (size_t)(len - done) :
			sizeof(buf);
		ssize_t r = pread(fd, buf, want, (off_t)done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			return -1;
		}
		if (fd_write_full(m, buf, (size_t)r) < 0)
			return -1;
		done += (uint64_t)r;
	}
	return 0;
}

/* How many bytes of p[0..len) come before the first bare LF (len if
 * none); *prev_cr says whether the byte before p was a CR, and is
 * updated. memchr finds the LFs: a clean file is scanned at memory
 * speed (the profile showed the byte loop at 5% of a cold FETCH). */
static size_t
clean_prefix(const uint8_t *p, size_t len, bool *prev_cr)
{
	size_t i = 0;

	while (i < len) {
		const uint8_t *nl = memchr(p + i, '\n', len - i);
		size_t j;

		if (nl == NULL)
			break;
		j = (size_t)(nl - p);
		if (!(j > 0 ? p[j - 1] == '\r' : *prev_cr)) {
			*prev_cr = false;
			return j;
		}
		i = j + 1;
	}
	if (len > 0)
		*prev_cr = p[len - 1] == '\r';
	return len;
}

/* p[0..len) into out (room for 2 * len) with a CR before each bare LF;
 * a lone CR stays as it is. *prev_cr as for clean_prefix. Runs between
 * LFs go by memcpy: the byte loop was 29% of a cold FETCH of LF mail. */
static size_t
crlf_convert(const uint8_t *p, size_t len, uint8_t *out, bool *prev_cr)
{
	size_t i = 0, k = 0;

	while (i < len) {
		const uint8_t *nl = memchr(p + i, '\n', len - i);
		size_t j = nl != NULL ? (size_t)(nl - p) : len;

		if (j > i) {
			memcpy(out + k, p + i, j - i);
			k += j - i;
			*prev_cr = p[j - 1] == '\r';
		}
		if (nl == NULL)
			break;
		if (!*prev_cr)
			out[k++] = '\r';
		out[k++] = '\n';
		*prev_cr = false;
		i = j + 1;
	}
	return k;
}

/* The served form of fd, whose fstat said fsize bytes: fd itself if it
 * has no bare LF (*vsize = its length; most files come with CRLF), else
 * a memfd with CRLF line ends (a lone CR stays as it is) and *vsize its
 * length. The scan reads the file once (a read of fsize bytes needs no
 * second one to see the end); a copy starts only at the first bare LF. */
static int
crlf_serve(int fd, uint64_t fsize, uint64_t limit, uint64_t *vsize)
{
	uint8_t in[65536], *out = NULL;
	bool prev_cr = false, copying = false;
	uint64_t n = 0, got = 0;
	int m = -1;

	for (;;) {
		size_t chunk = sizeof(in);
		ssize_t r;
		size_t k, i = 0;

		if (!copying && got >= fsize)
			break;	/* a file that grew is served as fstat saw it */
		if (limit > 0) {
			/* limit - n more raw bytes serve at least as many */
			if (n >= limit)
				break;
			if (limit - n < chunk)
				chunk = (size_t)((limit - n + 4095) & ~4095ULL);
			if (chunk > sizeof(in))
				chunk = sizeof(in);
		}
		r = read(fd, in, chunk);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		got += (uint64_t)r;
		if (!copying) {
			/* the clean prefix, as it is */
			i = clean_prefix(in, (size_t)r, &prev_cr);
			if (i == (size_t)r) {
				n += (uint64_t)r;
				continue;
			}
			m = memfd_create("moat-fetch", MFD_CLOEXEC);
			if (m < 0 || copy_prefix(fd, m, n + i) < 0)
				goto fail;
			out = xmalloc(2 * sizeof(in));
			n += i;
			copying = true;
		}
		k = crlf_convert(in + i, (size_t)r - i, out, &prev_cr);
		if (fd_write_full(m, out, k) < 0)
			goto fail;
		n += k;
	}
	free(out);
	*vsize = n;
	return copying ? m : fd;
fail:
	{
		int e = errno;

		free(out);
		if (m >= 0)
			close(m);
		errno = e;
	}
	return -1;
}

/* The first n bytes of fd into out (reset; room for 2 n): as they are
 * (clean) or with CRLF line ends, converted from 64 kB reads (no copy of
 * the raw bytes the size of the message). The caller closes fd. */
static int
md_read_served(int fd, uint64_t n, bool clean, struct buf *out,
	       uint64_t *size)
{
	uint8_t in[65536];
	bool prev_cr = false;
	uint64_t got = 0;

	buf_reset(out);
	if (clean) {
		uint8_t *p = buf_reserve(out, (size_t)n);

		if (p == NULL) {
			errno = EMSGSIZE;
			return -1;
		}
		if (n > 0 && fd_pread_full(fd, p, (size_t)n, 0) < 0)
			return -1;
		buf_commit(out, (size_t)n);
	}
	while (!clean && got < n) {
		size_t chunk = n - got < sizeof(in) ? (size_t)(n - got) :
			sizeof(in);
		uint8_t *p = buf_reserve(out, 2 * chunk);

		if (p == NULL) {
			errno = EMSGSIZE;
			return -1;
		}
		if (fd_pread_full(fd, in, chunk, got) < 0)
			return -1;
		buf_commit(out, crlf_convert(in, chunk, p, &prev_cr));
		got += chunk;
	}
	*size = buf_len(out);
	return 0;
}

/* md_msg_open and md_msg_read: with mem, a file of at most mem_max
 * bytes comes whole in mem and *fdp is -1 (an LF file is converted in
 * memory, not through a memfd written and read back); with head too,
 * the first mem_max bytes of any file. */
static int
md_serve(struct mailbox *box, const struct store_rec *rec,
	 struct store_txn *t, uint64_t want, uint64_t mem_max, bool head,
	 int *fdp, off_t *offset, struct buf *mem, uint64_t *size)
{
	char name[MD_BLOB_NAME_MAX + 1], found[MAILDIR_NAME_MAX + 1];
	struct maildir_name mn;
	unsigned bits;
	bool found_new, clean;
	struct stat st;
	int fd;

	if (!md_blob_name(rec->blob, rec->blob_len, &bits, name)) {
		store_set_error(box->store, STORE_ERR_SERVERBUG,
				"%s: UID %u has a bad record", box->name,
				rec->uid);
		return -1;
	}
	fd = md_open_msg(box, name, bits & MD_BLOB_NEW, found, &found_new,
			 &st);
	if (fd < 0) {
		if (errno == ENOENT)
			store_set_error(box->store, STORE_ERR_EXPUNGED,
					"%s: UID %u is gone", box->name,
					rec->uid);
		else
			store_set_errno(box->store, errno, "%s: open UID %u",
					box->name, rec->uid);
		return -1;
	}
	if (!str_eq(found, name) || found_new != !!(bits & MD_BLOB_NEW))
		report_found(box, rec, bits, found, found_new, t);
	*offset = 0;
	/* Served with CRLF: a file whose W= equals its size has no bare
	 * LF and is served as it is; others are converted. The same for a
	 * served size already learnt: it counts each bare LF as two bytes,
	 * so one equal to the file's has none. */
	clean = (maildir_name_parse(found, strlen(found), &mn) == 0 &&
		 mn.has_vsize && mn.vsize == (uint64_t)st.st_size) ||
		((bits & MD_BLOB_VSIZE) && (bits & MD_BLOB_DATE) &&
		 rec->size == (uint64_t)st.st_size);
	if (mem != NULL && ((uint64_t)st.st_size <= mem_max || head)) {
		uint64_t n = (uint64_t)st.st_size < mem_max ?
			(uint64_t)st.st_size : mem_max;
		int r = md_read_served(fd, n, clean, mem, size);

		close(fd);
		*fdp = -1;
		if (r < 0) {
			store_set_errno(box->store, errno, "%s: read UID %u",
					box->name, rec->uid);
			return -1;
		}
		if (n < (uint64_t)st.st_size) {
			/* a head: the served size is not known */
			*size = clean ? (uint64_t)st.st_size : 0;
			return 0;
		}
		if (clean)
			return 0;
		goto learn;
	}
	if (clean) {
		*fdp = fd;
		*size = (uint64_t)st.st_size;
		return 0;
	}
	/* A header out of a file with LF line ends (most delivered mail):
	 * converted only as far as the caller reads, once the served size
	 * is known (a first open learns it: the whole file). */
	if (!(want > 0 && want < rec->size && (bits & MD_BLOB_VSIZE) &&
	      (bits & MD_BLOB_DATE)))
		want = 0;
	*fdp = crlf_serve(fd, (uint64_t)st.st_size, want, size);
	if (*fdp != fd)
		close(fd);
	if (*fdp < 0) {
		store_set_errno(box->store, errno, "%s: read UID %u",
				box->name, rec->uid);
		return -1;
	}
	if (want > 0) {
		/* *size counted only the prefix: the record has the whole */
		*size = rec->size;
		return 0;
	}
learn:
	/* what was served is the size (a W= in a name may lie) */
	if (!(bits & MD_BLOB_VSIZE) || !(bits & MD_BLOB_DATE) ||
	    *size != rec->size) {
		uint8_t blob[IDX_BLOB_MAX];
		size_t blen;

		bits |= MD_BLOB_VSIZE | MD_BLOB_DATE;
		bits = (bits & ~MD_BLOB_NEW) | (found_new ? MD_BLOB_NEW : 0);
		if ((blen = md_blob_make(blob, bits, found, strlen(found))) > 0)
			(void)store_txn_info(t, rec->uid, (int64_t)st.st_mtime,
					     *size, blob, blen);
	}
	return 0;
}

static int
md_msg_open(struct mailbox *box, const struct store_rec *rec,
	    struct store_txn *t, uint64_t want, int *fdp, off_t *offset,
	    uint64_t *size)
{
	return md_serve(box, rec, t, want, 0, false, fdp, offset, NULL, size);
}

static int
md_msg_read(struct mailbox *box, const struct store_rec *rec,
	    struct store_txn *t, uint64_t max, bool head, int *fdp,
	    off_t *offset, struct buf *mem, uint64_t *size)
{
	return md_serve(box, rec, t, 0, max, head, fdp, offset, mem, size);
}

/* RFC822.SIZE: every LF not after a CR becomes CRLF on the wire. */
static int
count_vsize(int fd, uint64_t *vsize)
{
	uint8_t buf[65536];
	uint64_t n = 0;
	bool prev_cr = false;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return -1;
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		for (ssize_t i = 0; i < r; i++) {
			if (buf[i] == '\n' && !prev_cr)
				n++;
			prev_cr = buf[i] == '\r';
		}
		n += (uint64_t)r;
	}
	*vsize = n;
	return 0;
}

static int
md_msg_info(struct mailbox *box, const struct store_rec *rec,
	    struct store_txn *t, int64_t *internaldate, uint64_t *size)
{
	char name[MD_BLOB_NAME_MAX + 1], found[MAILDIR_NAME_MAX + 1];
	struct maildir_name mn;
	uint8_t blob[IDX_BLOB_MAX];
	unsigned bits;
	bool found_new;
	struct stat st;
	size_t blen;
	int fd;

	*internaldate = rec->internaldate;
	*size = rec->size;
	if (!md_blob_name(rec->blob, rec->blob_len, &bits, name)) {
		store_set_error(box->store, STORE_ERR_SERVERBUG,
				"%s: UID %u has a bad record", box->name,
				rec->uid);
		return -1;
	}
	if ((bits & MD_BLOB_VSIZE) && (bits & MD_BLOB_DATE))
		return 0;
	fd = md_open_msg(box, name, bits & MD_BLOB_NEW, found, &found_new,
			 &st);
	if (fd < 0) {
		if (errno == ENOENT)
			store_set_error(box->store, STORE_ERR_EXPUNGED,
					"%s: UID %u is gone", box->name,
					rec->uid);
		else
			store_set_errno(box->store, errno, "%s: open UID %u",
					box->name, rec->uid);
		return -1;
	}
	*internaldate = (int64_t)st.st_mtime;
	bits |= MD_BLOB_DATE;
	if (!(bits & MD_BLOB_VSIZE)) {
		if (maildir_name_parse(found, strlen(found), &mn) == 0 &&
		    mn.has_vsize) {
			*size = mn.vsize;
		} else if (count_vsize(fd, size) < 0) {
			store_set_errno(box->store, errno, "%s: read UID %u",
					box->name, rec->uid);
			close(fd);
			return -1;
		}
		bits |= MD_BLOB_VSIZE;
	}
	close(fd);
	bits = (bits & ~MD_BLOB_NEW) | (found_new ? MD_BLOB_NEW : 0);
	if ((blen = md_blob_make(blob, bits, found, strlen(found))) > 0)
		(void)store_txn_info(t, rec->uid, *internaldate, *size, blob,
				     blen);
	return 0;
}

/* ---- STORE ------------------------------------------------------------- */

/* The file name for base/info with new flags (unknown letters and the
 * tail kept from mn). */
static int
name_with_flags(const struct maildir_name *mn, unsigned mf, uint32_t letters,
		struct buf *out)
{
	struct maildir_name n = *mn;

	if (!mn->flags_valid) {
		maildir_name_init(&n, mn->base, mn->base_len);
		n.has_size = mn->has_size;
		n.size = mn->size;
		n.has_vsize = mn->has_vsize;
		n.vsize = mn->vsize;
	}
	n.flags = mf;
	n.keywords = letters;
	return maildir_name_build(&n, out);
}

static int
md_write_flags(struct mailbox *box, const struct store_rec *rec,
	       enum store_flag_op op, unsigned flags, uint64_t keywords,
	       struct store_txn *t)
{
	struct maildir_box *mb = md_box(box);
	char name[MD_BLOB_NAME_MAX + 1], found[MAILDIR_NAME_MAX + 1];
	struct buf *nn = buf_new(MAILDIR_NAME_MAX + 1);
	struct maildir_name mn;
	uint8_t blob[IDX_BLOB_MAX];
	unsigned bits;
	bool in_new;
	int ret = -1;

	if (!md_blob_name(rec->blob, rec->blob_len, &bits, name)) {
		store_set_error(box->store, STORE_ERR_SERVERBUG,
				"%s: UID %u has a bad record", box->name,
				rec->uid);
		goto out;
	}
	(void)md_kwmap(box, NULL);
	in_new = bits & MD_BLOB_NEW;
	for (int i = 0; i < MD_RETRIES; i++) {
		uint64_t old_kw, new_kw;
		unsigned old_f, new_f;
		size_t blen;

		if (md_locate(box, name, in_new, found, &in_new) < 0) {
			if (errno == ENOENT) {
				(void)store_txn_vanished(t, rec->uid);
				ret = 0;
			} else {
				store_set_errno(box->store, errno,
						"%s: find UID %u", box->name,
						rec->uid);
			}
			goto out;
		}
		if (maildir_name_parse(found, strlen(found), &mn) < 0) {
			store_set_error(box->store, STORE_ERR_SERVERBUG,
					"%s: bad file name", box->name);
			goto out;
		}
		/* the file's flags are the current ones */
		old_f = mn.flags_valid ? md_flags_to_idx(mn.flags) : 0;
		old_kw = (rec->keywords & ~md_lettered_kw(mb)) |
			 (mn.flags_valid ? md_letters_to_kw(mb, mn.keywords) :
			  0);
		new_f = store_flags_apply(op, old_f, flags);
		new_kw = store_keywords_apply(op, old_kw, keywords);
		buf_reset(nn);
		if (name_with_flags(&mn, md_flags_from_idx(new_f, mn.flags),
				    (mn.flags_valid ? mn.keywords &
				     ~md_kw_to_letters(mb, UINT64_MAX) : 0) |
				    md_kw_to_letters(mb, new_kw), nn) < 0) {
			store_set_errno(box->store, errno,
					"%s: name for UID %u", box->name,
					rec->uid);
			goto out;
		}
		if (!str_eq(buf_str(nn), found) || in_new) {
			struct md_own own = { 0 };

			md_own_pre(box, &own);
			if (renameat(in_new ? mb->new_fd : mb->cur_fd, found,
				     mb->cur_fd, buf_str(nn)) < 0) {
				if (errno == ENOENT) {
					str_copy(name, found, sizeof(name));
					continue;
				}
				store_set_errno(box->store, errno,
						"%s: rename UID %u", box->name,
						rec->uid);
				goto out;
			}
			md_own_post(box, &own, in_new, true);
			md_own_end(t, &own);
			in_new = false;
		}
		bits &= ~MD_BLOB_NEW;
		if ((blen = md_blob_make(blob, bits, buf_str(nn),
					 buf_len(nn))) == 0) {
			store_set_error(box->store, STORE_ERR_CANNOT,
					"%s: file name too long", box->name);
			goto out;
		}
		ret = store_txn_changed(t, rec->uid, (uint8_t)new_f, new_kw, 0,
					blob, blen);
		goto out;
	}
	store_set_error(box->store, STORE_ERR_INUSE,
			"%s: UID %u keeps being renamed", box->name, rec->uid);
out:
	buf_free(&nn);
	return ret;
}

/* ---- APPEND / COPY ------------------------------------------------------- */

void (*maildir_test_after_rename)(void);

static int
new_base(struct mailbox *box, struct buf *out)
{
	struct maildir_store *ms = box->store->be_data;
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return maildir_name_new_base(out, (uint64_t)tv.tv_sec,
				     (uint32_t)tv.tv_usec, (uint32_t)getpid(),
				     ++ms->seq, ms->host);
}

/* The message as stored: CRLF becomes LF (the Maildir convention, what
 * mutt and Dovecot write), except after a CR: "\r\r\n" stays as it is,
 * since its LF already has a CR before it and would be served as
 * "\r\n", a byte short (the reader turns only a bare LF into CRLF).
 * *vsize = its RFC822.SIZE. */
static uint8_t *
to_lf(const void *data, size_t len, size_t *outlen, uint64_t *vsize)
{
	const uint8_t *p = data;
	uint8_t *out = xmalloc(len > 0 ? len : 1);
	size_t k = 0;
	uint64_t bare_lf = 0;

	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n' &&
		    (i == 0 || p[i - 1] != '\r'))
			continue;
		out[k++] = p[i];
	}
	for (size_t i = 0; i < k; i++)
		if (out[i] == '\n' && (i == 0 || out[i - 1] != '\r'))
			bare_lf++;
	*outlen = k;
	*vsize = k + bare_lf;
	return out;
}

struct written {
	char name[MAILDIR_NAME_MAX + 1];
};

static void
unlink_written(struct maildir_box *mb, struct written *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		(void)unlinkat(mb->cur_fd, w[i].name, 0);
	(void)fsync(mb->cur_fd);
}

/* The end of writing n files into box's cur/ (APPEND, COPY): fsync the
 * directory, commit the index transaction that reported them, and add
 * the names with their new UIDs to dovecot-uidlist. */
static int
commit_written(struct mailbox *box, struct store_txn *t,
	       const struct written *w, size_t n)
{
	struct maildir_box *mb = md_box(box);
	size_t nu;
	const uint32_t *uids;
	char **names;

	if (store_fsync(box->store, mb->cur_fd) < 0) {
		store_set_errno(box->store, errno, "%s: fsync cur/",
				box->name);
		return -1;
	}
	if (store_txn_commit(t) < 0)
		return -1;
	uids = store_txn_uids(t, &nu);
	if (nu != n)
		return 0;
	names = xcalloc(n, sizeof(*names));
	for (size_t i = 0; i < n; i++)
		names[i] = (char *)w[i].name;
	md_uidlist_append(box, uids, names, n);
	free(names);
	return 0;
}

/* Writes one file into tmp/ and renames it into cur/ under its final
 * name. */
static int
deliver(struct mailbox *box, const uint8_t *data, size_t len,
	uint64_t vsize, unsigned mf, uint32_t letters, time_t mtime,
	char *final, struct md_own *own)
{
	struct maildir_box *mb = md_box(box);
	struct store *s = box->store;
	struct buf *base = buf_new(MAILDIR_NAME_MAX + 1);
	struct buf *name = buf_new(MAILDIR_NAME_MAX + 1);
	struct maildir_name mn;
	int fd = -1, ret = -1;

	if (new_base(box, base) < 0 ||
	    maildir_name_add_sizes(base, len, vsize) < 0) {
		store_set_errno(s, errno, "%s: new file name", box->name);
		goto out;
	}
	maildir_name_init(&mn, buf_str(base), buf_len(base));
	mn.flags = mf;
	mn.keywords = letters;
	if (maildir_name_build(&mn, name) < 0) {
		store_set_errno(s, errno, "%s: new file name", box->name);
		goto out;
	}
	fd = openat(mb->tmp_fd, buf_str(base),
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		store_set_errno(s, errno, "%s: create tmp/%s", box->name,
				buf_str(base));
		goto out;
	}
	if (fd_write_full(fd, data, len) < 0 || store_fsync(s, fd) < 0) {
		store_set_errno(s, errno, "%s: write tmp/%s", box->name,
				buf_str(base));
		goto undo;
	}
	{
		/* INTERNALDATE is the file's mtime */
		struct timespec ts[2] = { { 0, UTIME_OMIT },
					  { mtime, 0 } };

		if (mtime > 0 && futimens(fd, ts) < 0) {
			store_set_errno(s, errno, "%s: utime", box->name);
			goto undo;
		}
	}
	if (close(fd) < 0) {
		fd = -1;
		store_set_errno(s, errno, "%s: close tmp/%s", box->name,
				buf_str(base));
		goto undo;
	}
	fd = -1;
	md_own_pre(box, own);
	if (renameat(mb->tmp_fd, buf_str(base), mb->cur_fd,
		     buf_str(name)) < 0) {
		store_set_errno(s, errno, "%s: rename into cur/", box->name);
		goto undo;
	}
	md_own_post(box, own, false, true);
	str_copy(final, buf_str(name), MAILDIR_NAME_MAX + 1);
	if (maildir_test_after_rename != NULL)
		maildir_test_after_rename();
	ret = 0;
	goto out;
undo:
	if (fd >= 0)
		close(fd);
	(void)unlinkat(mb->tmp_fd, buf_str(base), 0);
out:
	buf_free(&base);
	buf_free(&name);
	return ret;
}

static int
report_new(struct mailbox *box, struct store_txn *t, const char *name,
	   unsigned bits, unsigned flags, uint64_t kw, int64_t date,
	   uint64_t size)
{
	struct store_txn_new m;
	uint8_t blob[IDX_BLOB_MAX];
	size_t blen = md_blob_make(blob, bits, name, strlen(name));

	if (blen == 0) {
		store_set_error(box->store, STORE_ERR_CANNOT,
				"%s: file name too long", box->name);
		return -1;
	}
	memset(&m, 0, sizeof(m));
	m.flags = (uint8_t)flags;
	m.keywords = kw;
	m.internaldate = date;
	m.size = size;
	m.blob = blob;
	m.blob_len = blen;
	return store_txn_new(t, &m);
}

static int
md_append(struct mailbox *box, const struct store_new_msg *msgs,
	  const uint64_t *keywords, size_t n, struct store_txn *t)
{
	struct maildir_box *mb = md_box(box);
	struct written *w = xcalloc(n, sizeof(*w));
	time_t now = time(NULL);
	size_t done = 0;
	struct md_own own = { 0 };
	int ret = -1;

	(void)md_kwmap(box, NULL);
	for (; done < n; done++) {
		const struct store_new_msg *m = &msgs[done];
		time_t date = m->internaldate > 0 ? m->internaldate : now;
		uint64_t vsize;
		size_t lflen;
		uint8_t *lf = to_lf(m->data, m->len, &lflen, &vsize);
		int r;

		r = deliver(box, lf, lflen, vsize,
			    md_flags_from_idx(m->flags & IDX_F_ALL, 0),
			    md_kw_to_letters(mb, keywords[done]), date,
			    w[done].name, &own);
		free(lf);
		if (r < 0 ||
		    report_new(box, t, w[done].name,
			       MD_BLOB_VSIZE | MD_BLOB_DATE,
			       m->flags & IDX_F_ALL, keywords[done],
			       (int64_t)date, vsize) < 0)
			goto fail;
	}
	md_own_end(t, &own);
	if (commit_written(box, t, w, n) < 0)
		goto fail;
	ret = 0;
	goto out;
fail:
	unlink_written(mb, w, done + (done < n && w[done].name[0] ? 1 : 0));
out:
	free(w);
	return ret;
}

/* Copies src's file into dst's tmp/ when a hard link is impossible. */
static int
copy_bytes(struct mailbox *dst, int srcfd, const char *tmpname,
	   const struct stat *st)
{
	struct maildir_box *mb = md_box(dst);
	uint8_t buf[65536];
	int fd, ret = -1;

	fd = openat(mb->tmp_fd, tmpname,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	for (;;) {
		ssize_t r = read(srcfd, buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto out;
		if (r == 0)
			break;
		if (fd_write_full(fd, buf, (size_t)r) < 0)
			goto out;
	}
	{
		struct timespec ts[2] = { { 0, UTIME_OMIT }, st->st_mtim };

		if (store_fsync(dst->store, fd) < 0 || futimens(fd, ts) < 0)
			goto out;
	}
	ret = 0;
out:
	{
		int e = errno;

		if (close(fd) < 0 && ret == 0) {
			e = errno;
			ret = -1;
		}
		if (ret < 0)
			(void)unlinkat(mb->tmp_fd, tmpname, 0);
		errno = e;
	}
	return ret;
}

static int
md_copy(struct mailbox *src, struct mailbox *dst,
	const struct store_rec *recs, size_t n, struct store_txn *t)
{
	struct maildir_box *sb = md_box(src), *db = md_box(dst);
	struct store *s = src->store;
	struct written *w = xcalloc(n, sizeof(*w));
	struct buf *base = buf_new(MAILDIR_NAME_MAX + 1);
	struct buf *name = buf_new(MAILDIR_NAME_MAX + 1);
	size_t done = 0;
	struct md_own own = { 0 };
	int ret = -1;

	(void)md_kwmap(src, NULL);
	(void)md_kwmap(dst, NULL);
	for (; done < n; done++) {
		const struct store_rec *rec = &recs[done];
		char oname[MD_BLOB_NAME_MAX + 1], found[MAILDIR_NAME_MAX + 1];
		struct maildir_name on, nn;
		unsigned bits;
		bool found_new;
		struct stat st;
		int fd;

		if (!md_blob_name(rec->blob, rec->blob_len, &bits, oname)) {
			store_set_error(s, STORE_ERR_SERVERBUG,
					"%s: UID %u has a bad record",
					src->name, rec->uid);
			goto fail;
		}
		fd = md_open_msg(src, oname, bits & MD_BLOB_NEW, found,
				 &found_new, &st);
		if (fd < 0) {
			if (errno == ENOENT)
				store_set_error(s, STORE_ERR_EXPUNGED,
						"%s: UID %u is gone",
						src->name, rec->uid);
			else
				store_set_errno(s, errno, "%s: open UID %u",
						src->name, rec->uid);
			goto fail;
		}
		buf_reset(base);
		buf_reset(name);
		if (new_base(dst, base) < 0 ||
		    (maildir_name_parse(found, strlen(found), &on) == 0 &&
		     (on.has_size || on.has_vsize) &&
		     maildir_name_add_sizes(base, on.has_size ? on.size :
					    (uint64_t)st.st_size,
					    on.has_vsize ? on.vsize :
					    rec->size) < 0)) {
			close(fd);
			store_set_errno(s, errno, "%s: new file name",
					dst->name);
			goto fail;
		}
		maildir_name_init(&nn, buf_str(base), buf_len(base));
		nn.flags = md_flags_from_idx(rec->flags, 0);
		nn.keywords = md_kw_to_letters(db, rec->keywords);
		if (maildir_name_build(&nn, name) < 0) {
			close(fd);
			store_set_errno(s, errno, "%s: new file name",
					dst->name);
			goto fail;
		}
		md_own_pre(dst, &own);
		if (linkat(found_new ? sb->new_fd : sb->cur_fd, found,
			   db->cur_fd, buf_str(name), 0) < 0) {
			if (errno != EXDEV && errno != EPERM &&
			    errno != EMLINK && errno != ENOSYS) {
				close(fd);
				store_set_errno(s, errno, "%s: link",
						dst->name);
				goto fail;
			}
			int e = 0;

			if (copy_bytes(dst, fd, buf_str(base), &st) < 0)
				e = errno;
			if (e == 0) {
				/* the rename is the change to stamp */
				md_own_pre(dst, &own);
				if (renameat(db->tmp_fd, buf_str(base),
					     db->cur_fd, buf_str(name)) < 0)
					e = errno;
			}
			if (e != 0) {
				(void)unlinkat(db->tmp_fd, buf_str(base), 0);
				close(fd);
				store_set_errno(s, e, "%s: copy", dst->name);
				goto fail;
			}
		}
		md_own_post(dst, &own, false, true);
		close(fd);
		str_copy(w[done].name, buf_str(name), sizeof(w[done].name));
		if (report_new(dst, t, w[done].name, bits & ~MD_BLOB_NEW,
			       rec->flags, rec->keywords, rec->internaldate,
			       rec->size) < 0) {
			done++;
			goto fail;
		}
	}
	md_own_end(t, &own);
	if (commit_written(dst, t, w, n) < 0)
		goto fail;
	ret = 0;
	goto out;
fail:
	unlink_written(db, w, done);
out:
	buf_free(&base);
	buf_free(&name);
	free(w);
	return ret;
}

/* ---- EXPUNGE ------------------------------------------------------------ */

static int
md_expunge(struct mailbox *box, const struct store_rec *recs, size_t n,
	   struct store_txn *t)
{
	struct maildir_box *mb = md_box(box);
	struct store *s = box->store;
	bool touched_new = false;
	struct md_own own = { 0 };
	int ret = 0;

	for (size_t i = 0; i < n && ret == 0; i++) {
		char name[MD_BLOB_NAME_MAX + 1], found[MAILDIR_NAME_MAX + 1];
		unsigned bits;
		bool in_new, gone = false;
		int err = 0;

		if (!md_blob_name(recs[i].blob, recs[i].blob_len, &bits,
				  name))
			continue;
		in_new = bits & MD_BLOB_NEW;
		for (int tries = 0; tries < MD_RETRIES && !gone && !err;
		     tries++) {
			if (md_locate(box, name, in_new, found, &in_new) < 0) {
				/* gone: someone else expunged it */
				if (errno == ENOENT)
					gone = true;
				else
					err = errno;
				continue;
			}
			md_own_pre(box, &own);
			if (unlinkat(in_new ? mb->new_fd : mb->cur_fd, found,
				     0) == 0) {
				md_own_post(box, &own, in_new, !in_new);
				gone = true;
				touched_new |= in_new;
			} else if (errno == ENOENT) {
				/* renamed meanwhile: look again */
				str_copy(name, found, sizeof(name));
			} else {
				err = errno;
			}
		}
		if (err != 0 || !gone) {
			if (err != 0)
				store_set_errno(s, err, "%s: unlink UID %u",
						box->name, recs[i].uid);
			else
				store_set_error(s, STORE_ERR_INUSE,
						"%s: UID %u keeps being "
						"renamed", box->name,
						recs[i].uid);
			ret = -1;
			break;
		}
		(void)store_txn_vanished(t, recs[i].uid);
	}
	if (ret == 0)
		md_own_end(t, &own);
	if (store_fsync(s, mb->cur_fd) < 0 ||
	    (touched_new && store_fsync(s, mb->new_fd) < 0)) {
		store_set_errno(s, errno, "%s: fsync", box->name);
		ret = -1;
	}
	if (store_txn_commit(t) < 0)
		return -1;
	return ret;
}

/* ---- index hooks -------------------------------------------------------- */

static bool
blob_base(const uint8_t *blob, size_t len, char *base)
{
	char name[MD_BLOB_NAME_MAX + 1];
	unsigned bits;
	size_t bl;

	if (!md_blob_name(blob, len, &bits, name))
		return false;
	bl = maildir_name_base_len(name, strlen(name));
	memcpy(base, name, bl);
	base[bl] = '\0';
	return bl > 0;
}

static int
md_idx_find(struct idx_txn *txn, struct mailbox *box, uint32_t since,
	    const uint8_t *blob, size_t len, uint32_t *uid)
{
	char base[MD_BLOB_NAME_MAX + 1];

	(void)since;   /* the name index covers every UID */
	if (!blob_base(blob, len, base))
		return IDX_NOTFOUND;
	return idx_name_get(txn, box->id, base, uid);
}

static int
md_idx_add(struct idx_txn *txn, struct mailbox *box, uint32_t uid,
	   const uint8_t *blob, size_t len)
{
	char base[MD_BLOB_NAME_MAX + 1];

	if (!blob_base(blob, len, base))
		return IDX_INVAL;
	return idx_name_put(txn, box->id, base, uid);
}

static int
md_idx_remove(struct idx_txn *txn, struct mailbox *box,
	      const struct store_rec *rec)
{
	char base[MD_BLOB_NAME_MAX + 1];
	uint32_t uid;
	int r;

	if (!blob_base(rec->blob, rec->blob_len, base))
		return IDX_OK;
	/* only if the name still points at this message */
	r = idx_name_get(txn, box->id, base, &uid);
	if (r != IDX_OK || uid != rec->uid)
		return r == IDX_NOTFOUND || r == IDX_OK ? IDX_OK : r;
	return idx_name_delete(txn, box->id, base);
}

/* new/ and cur/ (IDLE): every entry counts. Through /proc/self/fd so
 * that the watch is on the directories this box opened, not on
 * whatever a path names now. */
static int
md_watches(struct mailbox *box, struct store_watch *w, size_t max,
	   size_t *n)
{
	const struct maildir_box *mb = md_box(box);
	int fds[2] = { mb->new_fd, mb->cur_fd };

	for (size_t i = 0; i < 2 && *n < max; i++) {
		if (fds[i] < 0)
			continue;
		memset(&w[*n], 0, sizeof(w[*n]));
		snprintf(w[*n].path, sizeof(w[*n].path), "/proc/self/fd/%d",
			 fds[i]);
		w[*n].dir = true;
		(*n)++;
	}
	return 0;
}

const struct store_backend maildir_backend = {
	.name = "maildir",
	.kind = STORE_MAILDIR,
	.subscriptions_file = "subscriptions",
	.special_use_file = "moat-special-use",
	.init = md_init,
	.deinit = md_deinit,
	.list = md_list,
	.create = md_create,
	.delete = md_delete,
	.rename = md_rename,
	.box_valid = md_box_valid,
	.box_open = md_box_open,
	.box_close = md_box_close,
	.watches = md_watches,
	.import_uidvalidity = md_import_uidvalidity,
	.sync = md_sync,
	.msg_open = md_msg_open,
	.msg_read = md_msg_read,
	.msg_info = md_msg_info,
	.write_flags = md_write_flags,
	.append = md_append,
	.expunge = md_expunge,
	.copy = md_copy,
	.idx_find = md_idx_find,
	.idx_add = md_idx_add,
	.uid_reserve = md_uidlist_reserve,
	.idx_remove = md_idx_remove,
};
