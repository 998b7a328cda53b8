/*
 * mbox: the mbox backend behind store-private.h. One mbox file per
 * folder under the mail root (components in modified UTF-7, as Dovecot
 * and mutt keep them), INBOX the spool file of the location's INBOX=.
 *
 * The file is the truth for which messages exist; the index holds UIDs,
 * flags and keywords. Moat never writes X-UID, X-IMAP or Status headers:
 *  - a message is known by its place (blob: from_offset, extent) and its
 *    identity (SHA-256 fingerprint of From_ line and header without the
 *    fields others rewrite, plus its body length);
 *  - sync: an unchanged stamp (dev, ino, size, mtime, ctime) costs one
 *    fstat; a file that only grew, with the last known message intact at
 *    its place, is parsed from that message on; anything else is a full
 *    rescan, matched back to UIDs by identity in order (duplicates in
 *    UID order), so an external rewrite (mutt's Status change, a message
 *    deleted by another program) keeps every UID. Unmatched messages get
 *    new UIDs, unmatched records are expunged. A Status/X-Status change
 *    seen in the file is merged into the index flags (only the flags the
 *    file changed since we last saw it).
 *  - new messages import Status/X-Status flags; on the first sight of a
 *    file that Dovecot or UW-IMAP managed (X-IMAPbase in its first
 *    message), X-UID headers give the UIDs and X-Keywords the keywords.
 *  - FETCH gets a private copy (memfd) of the served form (mbox-serve.h:
 *    hidden rewritable fields, CRLF), made under a read lock after
 *    checking the fingerprint at the recorded place, so a concurrent
 *    rewrite can never make a client receive bytes of another message.
 *  - APPEND/COPY write From_ line + mboxo-quoted LF text + blank line at
 *    the end under the write lock, fsync, then record; EXPUNGE is the
 *    journalled in-place compaction of mbox-expunge.c.
 * Locks: mbox-lock.h (fcntl then dotlock for writes, fcntl read locks
 * for reads); index transactions are never held across them, but a
 * commit happens while the file lock that justified it is still held.
 *
 * Callers: store.c. Inputs: mailbox names validated by store.c; mail
 * files anyone may have written (untrusted, parsed with bounds).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fdio.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"
#include "imap/mailbox-name.h"
#include "imap/parser.h"
#include "storage/mbox-private.h"
#include "storage/mbox-scan.h"
#include "storage/mbox-serve.h"

/* Reports per index commit during a big sync (memory of the change set). */
#define SYNC_ROUND 4096
/* A scan callback's "stop": the tail did not start where the stamp said. */
#define SCAN_MISMATCH 1
#define SCAN_FAILED 2
/* Tries when the file is replaced between open and lock. */
#define REOPEN_TRIES 3
#define IO_CHUNK (64 * 1024)
/* Highest X-IMAPbase "last UID" believed (see on_scan_msg). */
#define MBOX_XUID_MAX 0x7fffffffu
#define PATH_BUF 4096

static inline struct mbox_store *
ms_of(const struct store *s)
{
	return s->be_data;
}

static inline struct mbox_box *
mb_of(const struct mailbox *box)
{
	return box->be;
}

/* ---- blob and stamp codecs ------------------------------------------ */

void
mbox_blob_from_msg(struct mbox_blob *b, const struct mbox_msg *m)
{
	memset(b, 0, sizeof(*b));
	b->from_offset = m->from_offset;
	b->from_len = (uint16_t)(m->offset - m->from_offset);
	b->length = m->length;
	b->end = m->end;
	b->hdr_len = m->hdr_len > UINT32_MAX ? UINT32_MAX :
	    (uint32_t)m->hdr_len;
	memcpy(b->fp, m->fingerprint, MBOX_FINGERPRINT_LEN);
	b->mflags = (uint8_t)(m->flags & (MBOX_FLAG_SEEN | MBOX_FLAG_ANSWERED |
					  MBOX_FLAG_FLAGGED | MBOX_FLAG_DRAFT |
					  MBOX_FLAG_DELETED));
}

static void
put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static void
put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint16_t
get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

size_t
mbox_blob_encode(const struct mbox_blob *b, uint8_t *out)
{
	out[0] = MBOX_BLOB_V1;
	put_u64(out + 1, b->from_offset);
	put_u16(out + 9, b->from_len);
	put_u64(out + 11, b->length);
	put_u64(out + 19, b->end);
	put_u32(out + 27, b->hdr_len);
	memcpy(out + 31, b->fp, MBOX_FINGERPRINT_LEN);
	out[47] = b->mflags;
	return MBOX_BLOB_LEN;
}

bool
mbox_blob_decode(const uint8_t *p, size_t len, struct mbox_blob *b)
{
	if (p == NULL || len != MBOX_BLOB_LEN || p[0] != MBOX_BLOB_V1)
		return false;
	b->from_offset = get_u64(p + 1);
	b->from_len = get_u16(p + 9);
	b->length = get_u64(p + 11);
	b->end = get_u64(p + 19);
	b->hdr_len = get_u32(p + 27);
	memcpy(b->fp, p + 31, MBOX_FINGERPRINT_LEN);
	b->mflags = p[47];
	/* The extent must be a possible one. */
	return b->from_len > 0 && b->from_offset <= INT64_MAX &&
	    b->length <= INT64_MAX && b->hdr_len <= b->length &&
	    b->from_offset + b->from_len + b->length <= b->end &&
	    b->end <= INT64_MAX;
}

bool
mbox_blob_same_msg(const struct mbox_blob *a, const struct mbox_blob *b)
{
	return memcmp(a->fp, b->fp, MBOX_FINGERPRINT_LEN) == 0 &&
	    a->length - a->hdr_len == b->length - b->hdr_len;
}

bool
mbox_blob_same_place(const struct mbox_blob *a, const struct mbox_blob *b)
{
	return mbox_blob_same_msg(a, b) && a->from_offset == b->from_offset &&
	    a->from_len == b->from_len && a->length == b->length &&
	    a->end == b->end && a->hdr_len == b->hdr_len;
}

void
mbox_stamp_from_stat(struct mbox_stamp *s, const struct stat *st)
{
	memset(s, 0, sizeof(*s));
	s->dev = (uint64_t)st->st_dev;
	s->ino = (uint64_t)st->st_ino;
	s->size = (uint64_t)st->st_size;
	s->mtime_s = st->st_mtim.tv_sec;
	s->mtime_ns = (uint32_t)st->st_mtim.tv_nsec;
	s->ctime_s = st->st_ctim.tv_sec;
	s->ctime_ns = (uint32_t)st->st_ctim.tv_nsec;
}

#define STAMP_FIXED (2 + 3 * 8 + 2 * 12)

size_t
mbox_stamp_encode(const struct mbox_stamp *s, uint8_t *out, size_t cap)
{
	size_t n = STAMP_FIXED + ((s->flags & MBOX_STAMP_LAST) ?
				  MBOX_BLOB_LEN : 0);

	if (cap < n)
		return 0;
	out[0] = MBOX_STAMP_V1;
	out[1] = s->flags;
	put_u64(out + 2, s->dev);
	put_u64(out + 10, s->ino);
	put_u64(out + 18, s->size);
	put_u64(out + 26, (uint64_t)s->mtime_s);
	put_u32(out + 34, s->mtime_ns);
	put_u64(out + 38, (uint64_t)s->ctime_s);
	put_u32(out + 46, s->ctime_ns);
	if (s->flags & MBOX_STAMP_LAST)
		mbox_blob_encode(&s->last, out + STAMP_FIXED);
	return n;
}

bool
mbox_stamp_decode(const uint8_t *p, size_t len, struct mbox_stamp *s)
{
	memset(s, 0, sizeof(*s));
	if (len < STAMP_FIXED || p[0] != MBOX_STAMP_V1)
		return false;
	s->flags = p[1];
	s->dev = get_u64(p + 2);
	s->ino = get_u64(p + 10);
	s->size = get_u64(p + 18);
	s->mtime_s = (int64_t)get_u64(p + 26);
	s->mtime_ns = get_u32(p + 34);
	s->ctime_s = (int64_t)get_u64(p + 38);
	s->ctime_ns = get_u32(p + 46);
	if (s->flags & MBOX_STAMP_LAST)
		return len == STAMP_FIXED + MBOX_BLOB_LEN &&
		    mbox_blob_decode(p + STAMP_FIXED, MBOX_BLOB_LEN, &s->last);
	return len == STAMP_FIXED;
}

bool
mbox_stamp_file_same(const struct mbox_stamp *s, const struct stat *st)
{
	return !(s->flags & MBOX_STAMP_MISSING) &&
	    s->dev == (uint64_t)st->st_dev && s->ino == (uint64_t)st->st_ino &&
	    s->size == (uint64_t)st->st_size &&
	    s->mtime_s == st->st_mtim.tv_sec &&
	    s->mtime_ns == (uint32_t)st->st_mtim.tv_nsec &&
	    s->ctime_s == st->st_ctim.tv_sec &&
	    s->ctime_ns == (uint32_t)st->st_ctim.tv_nsec;
}

static bool
rec_stamp(const struct idx_mbox *rec, struct mbox_stamp *st)
{
	return rec != NULL && rec->stamp_len > 0 &&
	    mbox_stamp_decode(rec->stamp, rec->stamp_len, st);
}

static int
set_stamp(struct mailbox *box, struct store_txn *t,
	  const struct mbox_stamp *st)
{
	uint8_t b[IDX_STAMP_MAX];
	size_t n = mbox_stamp_encode(st, b, sizeof(b));

	if (n == 0)
		log_panic("mbox: stamp does not fit");
	(void)box;
	return store_txn_stamp(t, b, n);
}

/* ---- flags ------------------------------------------------------------ */

static const struct {
	uint8_t mbox;
	uint8_t imap;
} flag_map[] = {
	{ MBOX_FLAG_SEEN, IDX_F_SEEN },
	{ MBOX_FLAG_ANSWERED, IDX_F_ANSWERED },
	{ MBOX_FLAG_FLAGGED, IDX_F_FLAGGED },
	{ MBOX_FLAG_DRAFT, IDX_F_DRAFT },
	{ MBOX_FLAG_DELETED, IDX_F_DELETED },
};

static uint8_t
imap_flags(uint8_t mflags)
{
	uint8_t f = 0;

	for (size_t i = 0; i < sizeof(flag_map) / sizeof(flag_map[0]); i++)
		if (mflags & flag_map[i].mbox)
			f |= flag_map[i].imap;
	return f;
}

/* The index flags after the file's Status/X-Status went from old to
 * new: only the flags the file changed follow it. */
static uint8_t
merge_flags(uint8_t idx, uint8_t old_m, uint8_t new_m)
{
	for (size_t i = 0; i < sizeof(flag_map) / sizeof(flag_map[0]); i++) {
		if ((old_m ^ new_m) & flag_map[i].mbox) {
			if (new_m & flag_map[i].mbox)
				idx |= flag_map[i].imap;
			else
				idx &= (uint8_t)~flag_map[i].imap;
		}
	}
	return idx;
}

/* The local zone's offset for local time L (seconds), cached per hour:
 * mktime() re-reads the zone (a stat of /etc/localtime) on every call,
 * too slow for a first scan of 100,000 messages. */
static int64_t
local_offset(int64_t l)
{
	static int64_t hour = INT64_MIN, off;
	struct tm tm;
	time_t t;

	if (l / 3600 == hour)
		return off;
	/* t + gmtoff(t) = l: two rounds settle it (DST edges included,
	 * within the hour that does not exist or exists twice). */
	t = (time_t)l;
	for (int i = 0; i < 2; i++) {
		if (localtime_r(&t, &tm) == NULL)
			return 0;
		t = (time_t)(l - tm.tm_gmtoff);
	}
	hour = l / 3600;
	off = tm.tm_gmtoff;
	return off;
}

/* asctime has no zone: it is the writer's local time (MDAs write
 * localtime(3)), unless the line carries one. */
static int64_t
from_date_time(const struct mbox_from_date *d, int64_t fallback)
{
	struct tm tm;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = d->year - 1900;
	tm.tm_mon = d->mon - 1;
	tm.tm_mday = d->mday;
	tm.tm_hour = d->hour;
	tm.tm_min = d->min;
	tm.tm_sec = d->sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return fallback;
	if (d->has_tz)
		return (int64_t)t - (int64_t)d->tz_min * 60;
	return (int64_t)t - local_offset((int64_t)t);
}

/* ---- the store ----------------------------------------------------------- */

/* The INBOX's directory is the spool when we cannot write it: only
 * dotlockfile(1), setgid mail, can put "<user>.lock" there. */
static bool
mbox_needs_lock_helper(const struct store_location *loc)
{
	const char *inbox = NULL;
	char *dir, *slash;
	bool need;

	for (size_t i = 0; i < loc->n_params; i++)
		if (str_eq(loc->params[i].key, "INBOX"))
			inbox = loc->params[i].value;
	/* The default INBOX is in the root, a directory of the user's. */
	if (inbox == NULL || inbox[0] != '/')
		return false;
	dir = xstrdup(inbox);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	/* EACCES only: a missing directory has nothing to lock, a read-only
	 * file system no helper can write. */
	need = access(dir, W_OK) < 0 && errno == EACCES;
	free(dir);
	return need;
}

static int
mbox_init(struct store *s, const struct store_location *loc)
{
	struct mbox_store *ms;
	const char *inbox = NULL;
	size_t rl;

	for (size_t i = 0; i < loc->n_params; i++) {
		if (!str_eq(loc->params[i].key, "INBOX") || inbox != NULL) {
			store_set_error(s, STORE_ERR_SERVERBUG,
					"mbox location: unknown or repeated "
					"parameter %s", loc->params[i].key);
			return -1;
		}
		inbox = loc->params[i].value;
	}
	if (loc->path == NULL || loc->path[0] != '/') {
		store_set_error(s, STORE_ERR_SERVERBUG,
				"mbox location: the root must be absolute");
		return -1;
	}
	ms = xcalloc(1, sizeof(*ms));
	ms->root = xstrdup(loc->path);
	rl = strlen(ms->root);
	while (rl > 1 && ms->root[rl - 1] == '/')
		ms->root[--rl] = '\0';
	/* store.c expanded %u in the whole location. */
	if (inbox != NULL)
		ms->inbox = xstrdup(inbox);
	else
		ms->inbox = xasprintf("%s/inbox", ms->root);
	if (ms->inbox == NULL || ms->inbox[0] != '/') {
		store_set_error(s, STORE_ERR_SERVERBUG,
				"mbox location: bad INBOX= path");
		free(ms->inbox);
		free(ms->root);
		free(ms);
		return -1;
	}
	s->root_fd = open(ms->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->root_fd < 0 && errno == ENOENT && mkdir(ms->root, 0700) == 0)
		s->root_fd = open(ms->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->root_fd < 0) {
		store_set_errno(s, errno, "open mbox root %s", ms->root);
		free(ms->inbox);
		free(ms->root);
		free(ms);
		return -1;
	}
	free(s->root);
	s->root = xstrdup(ms->root);
	s->be_data = ms;
	return 0;
}

static void
mbox_deinit(struct store *s)
{
	struct mbox_store *ms = ms_of(s);

	if (ms == NULL)
		return;
	if (s->root_fd >= 0) {
		close(s->root_fd);
		s->root_fd = -1;
	}
	free(ms->inbox);
	free(ms->root);
	free(ms);
	s->be_data = NULL;
}

/* The on-disk path of a non-INBOX name relative to the root. */
static int
rel_path(struct store *s, const char *name, struct buf *out)
{
	enum mbname_error err;

	if (mbname_to_mbox_path(name, STORE_SEPARATOR, "", out, &err) < 0) {
		store_set_error(s, STORE_ERR_CANNOT, "mbox name %s: %s", name,
				mbname_error_str(err));
		return -1;
	}
	return 0;
}

/* Opens the directory that holds rel's last component (creating the
 * directories on the way if create) and returns its fd; *leaf points
 * into rel. */
static int
open_parent(struct store *s, const char *rel, bool create, const char **leaf)
{
	const char *slash = strrchr(rel, '/');
	char dir[PATH_BUF];
	int fd;

	*leaf = slash != NULL ? slash + 1 : rel;
	if (slash == NULL)
		return dup(s->root_fd);
	if ((size_t)(slash - rel) >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dir, rel, (size_t)(slash - rel));
	dir[slash - rel] = '\0';
	if (create) {
		/* One level at a time, never through a symlink. */
		int cur = dup(s->root_fd);
		char *p = dir;

		while (cur >= 0 && *p != '\0') {
			char *e = strchr(p, '/');
			int next;

			if (e != NULL)
				*e = '\0';
			if (mkdirat(cur, p, 0700) < 0 && errno != EEXIST) {
				close(cur);
				return -1;
			}
			next = openat(cur, p, O_RDONLY | O_DIRECTORY |
				      O_NOFOLLOW | O_CLOEXEC);
			close(cur);
			cur = next;
			if (e == NULL)
				break;
			*e = '/';
			p = e + 1;
		}
		return cur;
	}
	fd = store_openat_dir(s->root_fd, dir);
	return fd;
}

/* ---- list ------------------------------------------------------------------ */

struct list_ctx {
	struct store *s;
	int (*cb)(struct store *s, const char *name, void *ctx);
	void *ctx;
	struct buf *rel;
	struct buf *name;
};

static int
list_dir(struct list_ctx *lc, int dfd, unsigned depth)
{
	DIR *d;
	struct dirent *de;
	size_t base = buf_len(lc->rel);
	int ret = 0;

	d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return 0;
	}
	while (ret == 0 && (de = readdir(d)) != NULL) {
		struct stat st;
		enum mbname_error err;

		if (de->d_name[0] == '.')
			continue;   /* ., .., dot files: never mailboxes */
		if (fstatat(dirfd(d), de->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		buf_truncate(lc->rel, base);
		if ((base > 0 && buf_append_byte(lc->rel, '/') < 0) ||
		    buf_append_str(lc->rel, de->d_name) < 0)
			continue;
		if (S_ISREG(st.st_mode)) {
			buf_reset(lc->name);
			if (mbname_from_mbox_path(buf_str(lc->rel),
						  buf_len(lc->rel),
						  STORE_SEPARATOR, lc->name,
						  &err) < 0)
				continue;   /* INBOX, *.lock, bad mUTF-7 */
			ret = lc->cb(lc->s, buf_str(lc->name), lc->ctx);
		} else if (S_ISDIR(st.st_mode) && depth < MBNAME_MAX_DEPTH) {
			int sub = openat(dirfd(d), de->d_name, O_RDONLY |
					 O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0)
				ret = list_dir(lc, sub, depth + 1);
		}
	}
	buf_truncate(lc->rel, base);
	closedir(d);
	return ret;
}

static int
mbox_list(struct store *s, int (*cb)(struct store *s, const char *name,
				     void *ctx), void *ctx)
{
	struct list_ctx lc = { s, cb, ctx, NULL, NULL };
	int dfd, ret;

	if (cb(s, "INBOX", ctx) < 0)
		return -1;
	dfd = dup(s->root_fd);
	if (dfd < 0) {
		store_set_errno(s, errno, "dup");
		return -1;
	}
	if (lseek(dfd, 0, SEEK_SET) < 0) {
		close(dfd);
		store_set_errno(s, errno, "lseek");
		return -1;
	}
	lc.rel = buf_new(PATH_BUF);
	lc.name = buf_new(PATH_BUF);
	ret = list_dir(&lc, dfd, 1);
	buf_free(&lc.rel);
	buf_free(&lc.name);
	return ret;
}

/* ---- create, delete, rename --------------------------------------------------- */

static int
mbox_create(struct store *s, const char *name)
{
	struct mbox_store *ms = ms_of(s);
	struct buf *rel;
	const char *leaf;
	int dfd, fd;

	if (mbname_is_inbox(name)) {
		fd = open(ms->inbox, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC,
			  0600);
		if (fd < 0) {
			store_set_errno(s, errno, "create %s", ms->inbox);
			return -1;
		}
		close(fd);
		return 0;
	}
	rel = buf_new(PATH_BUF);
	if (rel_path(s, name, rel) < 0) {
		buf_free(&rel);
		return -1;
	}
	dfd = open_parent(s, buf_str(rel), true, &leaf);
	if (dfd < 0) {
		store_set_errno(s, errno, "create parents of %s", name);
		buf_free(&rel);
		return -1;
	}
	fd = openat(dfd, leaf, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
	if (fd < 0) {
		struct stat st;
		int e = errno;

		/* A directory of that name: a parent, not a mailbox. */
		if (e == EEXIST && fstatat(dfd, leaf, &st,
					   AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode))
			store_set_error(s, STORE_ERR_EXISTS,
					"%s exists as a directory", name);
		else
			store_set_errno(s, e, "create %s", name);
		close(dfd);
		buf_free(&rel);
		return -1;
	}
	close(fd);
	if (store_fsync(s, dfd) < 0)
		log_warn("mbox: fsync of the directory of %s: %m", name);
	close(dfd);
	buf_free(&rel);
	return 0;
}

static int
mbox_delete(struct store *s, const char *name)
{
	struct buf *rel;
	const char *leaf;
	struct stat st;
	int dfd, ret = -1;

	if (mbname_is_inbox(name)) {
		store_set_error(s, STORE_ERR_CANNOT, "INBOX cannot be deleted");
		return -1;
	}
	rel = buf_new(PATH_BUF);
	if (rel_path(s, name, rel) < 0)
		goto out;
	dfd = open_parent(s, buf_str(rel), false, &leaf);
	if (dfd < 0) {
		store_set_errno(s, errno, "delete %s", name);
		goto out;
	}
	if (fstatat(dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		store_set_errno(s, errno, "delete %s", name);
	} else if (S_ISDIR(st.st_mode)) {
		if (unlinkat(dfd, leaf, AT_REMOVEDIR) < 0)
			store_set_errno(s, errno, "delete %s", name);
		else
			ret = 0;
	} else {
		/* Under the write lock, so no MDA is in the middle of a
		 * delivery to the file we remove. */
		int fd = openat(dfd, leaf, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		struct mbox_lock l;
		char *lpath = xasprintf("%s/%s", ms_of(s)->root,
					buf_str(rel));

		if (fd < 0) {
			store_set_errno(s, errno, "delete %s", name);
		} else {
			mbox_lock_init(&l, fd, lpath);
			if (mbox_lock_take(&l, MBOX_LOCK_WRITE) < 0) {
				/* ENOSPC: no inode left for the dotlock */
				store_set_error(s, store_errno_code(errno),
						"delete %s: %s", name,
						l.detail);
			} else if (unlinkat(dfd, leaf, 0) < 0) {
				store_set_errno(s, errno, "delete %s", name);
			} else {
				ret = 0;
			}
			mbox_lock_deinit(&l);
			close(fd);
		}
		free(lpath);
	}
	if (ret == 0 && store_fsync(s, dfd) < 0)
		log_warn("mbox: fsync of the directory of %s: %m", name);
	close(dfd);
out:
	buf_free(&rel);
	return ret;
}

static int
mbox_rename(struct store *s, const char *from, const char *to)
{
	struct buf *rf = buf_new(PATH_BUF), *rt = buf_new(PATH_BUF);
	const char *lf, *lt;
	int df = -1, dt = -1, ret = -1;

	if (mbname_is_inbox(from) || mbname_is_inbox(to)) {
		store_set_error(s, STORE_ERR_CANNOT, "mbox rename of INBOX");
		goto out;
	}
	if (rel_path(s, from, rf) < 0 || rel_path(s, to, rt) < 0)
		goto out;
	df = open_parent(s, buf_str(rf), false, &lf);
	if (df < 0) {
		store_set_errno(s, errno, "rename %s", from);
		goto out;
	}
	dt = open_parent(s, buf_str(rt), true, &lt);
	if (dt < 0) {
		store_set_errno(s, errno, "rename to %s", to);
		goto out;
	}
	if (renameat2(df, lf, dt, lt, RENAME_NOREPLACE) < 0) {
		store_set_errno(s, errno, "rename %s to %s", from, to);
		goto out;
	}
	if (store_fsync(s, dt) < 0 || store_fsync(s, df) < 0)
		log_warn("mbox: fsync after rename of %s: %m", from);
	ret = 0;
out:
	if (df >= 0)
		close(df);
	if (dt >= 0)
		close(dt);
	buf_free(&rf);
	buf_free(&rt);
	return ret;
}

/* ---- opening a mailbox ---------------------------------------------------------- */

/* Opens the file of box (O_RDWR if we may, else read-only); ENOENT for a
 * missing INBOX leaves fd -1. */
static int
open_file(struct mailbox *box)
{
	struct store *s = box->store;
	struct mbox_box *mb = mb_of(box);
	struct stat st;
	int fd;

	if (mbname_is_inbox(box->name)) {
		fd = open(mb->path, O_RDWR | O_CLOEXEC);
		if (fd < 0 && (errno == EACCES || errno == EROFS))
			fd = open(mb->path, O_RDONLY | O_CLOEXEC);
		else if (fd >= 0)
			mb->writable = true;
		if (fd < 0 && errno == ENOENT) {
			mb->fd = -1;
			return 0;
		}
	} else {
		struct buf *rel = buf_new(PATH_BUF);
		const char *leaf;
		int dfd;

		if (rel_path(s, box->name, rel) < 0) {
			buf_free(&rel);
			return -1;
		}
		dfd = open_parent(s, buf_str(rel), false, &leaf);
		fd = -1;
		if (dfd >= 0) {
			fd = openat(dfd, leaf, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0 && (errno == EACCES || errno == EROFS))
				fd = openat(dfd, leaf, O_RDONLY | O_NOFOLLOW |
					    O_CLOEXEC);
			else if (fd >= 0)
				mb->writable = true;
			close(dfd);
		}
		buf_free(&rel);
	}
	if (fd < 0) {
		/* A directory is a parent (\Noselect), not a mailbox. */
		store_set_errno(box->store, errno == EISDIR ? ENOENT : errno,
				"open %s", mb->path);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		store_set_error(box->store, STORE_ERR_CANNOT,
				"%s is not a regular file", mb->path);
		return -1;
	}
	mb->fd = fd;
	mb->dev = st.st_dev;
	mb->ino = st.st_ino;
	mbox_lock_init(&mb->lock, fd, mb->path);
	mb->lock_ready = true;
	return 0;
}

static void
close_file(struct mbox_box *mb)
{
	if (mb->lock_ready) {
		mbox_lock_deinit(&mb->lock);
		mb->lock_ready = false;
	}
	if (mb->fd >= 0) {
		close(mb->fd);
		mb->fd = -1;
	}
	mb->writable = false;
}

static int
mbox_box_open(struct mailbox *box)
{
	struct store *s = box->store;
	struct mbox_box *mb = xcalloc(1, sizeof(*mb));

	mb->fd = -1;
	box->be = mb;
	if (mbname_is_inbox(box->name)) {
		mb->path = xstrdup(ms_of(s)->inbox);
	} else {
		struct buf *rel = buf_new(PATH_BUF);

		if (rel_path(s, box->name, rel) < 0) {
			buf_free(&rel);
			return -1;
		}
		mb->path = xasprintf("%s/%s", ms_of(s)->root, buf_str(rel));
		buf_free(&rel);
	}
	return open_file(box);
}

static void
mbox_box_close(struct mailbox *box)
{
	struct mbox_box *mb = mb_of(box);

	if (mb == NULL)
		return;
	close_file(mb);
	free(mb->path);
	free(mb);
	box->be = NULL;
}

/* Takes the lock on the file that is at the path now: another program
 * may have replaced the file (or, for INBOX, removed or created it)
 * since we opened it. With the lock held, the path still names our
 * file. fd -1 afterwards: INBOX does not exist (no lock held). */
static int
lock_current(struct mailbox *box, enum mbox_lock_mode mode)
{
	struct store *s = box->store;
	struct mbox_box *mb = mb_of(box);

	for (int tries = 0; tries < REOPEN_TRIES; tries++) {
		struct stat st;

		if (stat(mb->path, &st) < 0) {
			if (errno != ENOENT || !mbname_is_inbox(box->name)) {
				store_set_errno(s, errno, "stat %s", mb->path);
				return -1;
			}
			close_file(mb);
			return 0;
		}
		if (mb->fd < 0 || st.st_dev != mb->dev || st.st_ino != mb->ino) {
			close_file(mb);
			if (open_file(box) < 0)
				return -1;
			if (mb->fd < 0)
				return 0;
			mb->force_full = true;
		}
		if (mode == MBOX_LOCK_WRITE && !mb->writable) {
			store_set_error(s, STORE_ERR_NOPERM,
					"%s is read-only for us", mb->path);
			return -1;
		}
		if (mbox_lock_take(&mb->lock, mode) < 0) {
			int e = errno;

			/* ENOSPC/EDQUOT: no inode or block left for the
			 * dotlock, so OVERQUOTA, as for the mail itself */
			store_set_error(s, store_errno_code(e),
					"lock %s: %s", mb->path,
					mb->lock.detail);
			if (e != EAGAIN)
				log_error("mbox: cannot lock %s: %s", mb->path,
					  mb->lock.detail);
			return -1;
		}
		if (stat(mb->path, &st) == 0 && st.st_dev == mb->dev &&
		    st.st_ino == mb->ino)
			return 0;
		mbox_lock_release(&mb->lock);
	}
	store_set_error(s, STORE_ERR_INUSE, "%s keeps being replaced",
			mb->path);
	return -1;
}

static void
unlock(struct mailbox *box)
{
	struct mbox_box *mb = mb_of(box);

	if (mb->lock_ready)
		mbox_lock_release(&mb->lock);
}

/* The index's idea of the file size (its stamp), for the append
 * recovery: read now, under the write lock, since the writer that left
 * the marker may have committed after our record was read. */
static uint64_t
committed_size(struct mailbox *box)
{
	struct store_txn *t = store_txn_begin(box, 0);
	struct mbox_stamp st;
	uint64_t size = 0;

	if (t == NULL)
		return UINT64_MAX;   /* unknown: cut nothing */
	if (rec_stamp(store_txn_rec(t), &st))
		size = st.size;
	store_txn_free(&t);
	return size;
}

/* Recovery of an interrupted expunge or append needs the write lock;
 * called with any lock held, returns with the write lock (if there was
 * something to recover) or with what was held. */
static int
recover_if_pending(struct mailbox *box, enum mbox_lock_mode *held)
{
	struct mbox_box *mb = mb_of(box);
	bool recovered, expunge, append;

	if (mb->fd < 0)
		return 0;
	expunge = mbox_expunge_pending(box);
	append = mbox_append_pending(box);
	if (!expunge && !append)
		return 0;
	if (*held != MBOX_LOCK_WRITE) {
		if (!mb->writable)
			return 0;   /* nothing we could repair */
		unlock(box);
		if (lock_current(box, MBOX_LOCK_WRITE) < 0)
			return -1;
		*held = MBOX_LOCK_WRITE;
		if (mb->fd < 0)
			return 0;
	}
	if (append) {
		if (mbox_append_recover(box, committed_size(box),
					&recovered) < 0)
			return -1;
		if (recovered)
			mb->force_full = true;
	}
	return expunge ? mbox_expunge_recover(box, &recovered) : 0;
}

/* ---- sync ------------------------------------------------------------------ */

struct sync_ctx {
	struct mailbox *box;
	struct store_txn *t;
	int64_t mtime;            /* fallback internal date */
	bool quick;               /* parsing the tail only */
	bool tail_checked;        /* the first tail message matched */
	struct mbox_blob expect;  /* ... the stamp's last message */
	bool first;               /* the next message is the file's first */
	bool fresh;               /* no index history: migration allowed */

	/* Full scan: the index records, sorted by identity. */
	const struct store_rec *recs;
	size_t n_recs;
	struct mbox_blob *rblobs;
	uint32_t *order;          /* rec indexes by (fp, body length, uid) */
	size_t n_order;
	bool *matched;
	uint32_t *group_next;     /* at a group's first position: its next
				   * unused position */

	/* Migration (X-IMAPbase in the first message). */
	bool base;
	uint32_t base_last, last_xuid;
	const char *base_kw;      /* keywords named by X-IMAPbase */
	char base_kw_buf[MBOX_VALUE_MAX + 1];

	/* A UID the caller wants the current place of (msg_open). */
	uint32_t want_uid;
	bool want_found;
	struct mbox_blob want_blob;

	bool have_last;
	struct mbox_blob last;
	size_t pending;           /* reports since the last commit */
	int err;                  /* -1 once a store call failed */
};

static struct sync_ctx *sort_ctx;

/* Orders records by identity (fingerprint, body length), then UID;
 * bb/b_uid is the other side (b_uid 0 sorts first in its group). */
static int
cmp_key(const struct sync_ctx *c, uint32_t a, const struct mbox_blob *bb,
	uint32_t b_uid)
{
	const struct mbox_blob *ba = &c->rblobs[a];
	int r = memcmp(ba->fp, bb->fp, MBOX_FINGERPRINT_LEN);
	uint64_t la = ba->length - ba->hdr_len, lb = bb->length - bb->hdr_len;

	if (r != 0)
		return r;
	if (la != lb)
		return la < lb ? -1 : 1;
	if (c->recs[a].uid != b_uid)
		return c->recs[a].uid < b_uid ? -1 : 1;
	return 0;
}

static int
cmp_order(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return cmp_key(sort_ctx, a, &sort_ctx->rblobs[b],
		       sort_ctx->recs[b].uid);
}

static void
index_recs(struct sync_ctx *c)
{
	size_t n = c->n_recs, k = 0, alloc = n > 0 ? n : 1;

	c->rblobs = xcalloc(alloc, sizeof(*c->rblobs));
	c->matched = xcalloc(alloc, sizeof(*c->matched));
	c->order = xcalloc(alloc, sizeof(*c->order));
	c->group_next = xcalloc(alloc, sizeof(*c->group_next));
	for (size_t i = 0; i < n; i++) {
		/* A record we cannot read matches nothing: it vanishes and
		 * its message comes back with a new UID. */
		if (mbox_blob_decode(c->recs[i].blob, c->recs[i].blob_len,
				     &c->rblobs[i]))
			c->order[k++] = (uint32_t)i;
	}
	sort_ctx = c;
	qsort(c->order, k, sizeof(*c->order), cmp_order);
	sort_ctx = NULL;
	c->n_order = k;
	for (size_t p = 0; p < k; p++)
		c->group_next[p] = (uint32_t)p;
}

/* The first unmatched record with b's identity, in UID order (records
 * of a group are used in order, so a cursor per group suffices); -1 if
 * none. */
static long
find_match(struct sync_ctx *c, const struct mbox_blob *b)
{
	size_t lo = 0, hi = c->n_order, cur;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cmp_key(c, c->order[mid], b, 0) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo >= c->n_order || !mbox_blob_same_msg(&c->rblobs[c->order[lo]],
						     b))
		return -1;
	cur = c->group_next[lo];
	if (cur >= c->n_order ||
	    !mbox_blob_same_msg(&c->rblobs[c->order[cur]], b))
		return -1;
	c->group_next[lo] = (uint32_t)(cur + 1);
	c->matched[c->order[cur]] = true;
	return (long)c->order[cur];
}

static int
maybe_commit(struct sync_ctx *c)
{
	if (++c->pending < SYNC_ROUND)
		return 0;
	c->pending = 0;
	return store_txn_commit(c->t);
}

/* Keywords of a message being imported from X-Keywords (migration):
 * the names X-IMAPbase lists that this message carries. */
static uint64_t
import_keywords(struct sync_ctx *c, const struct mbox_msg *m)
{
	uint64_t kw = 0;
	size_t i = 0;

	if (m->keywords == NULL || c->base_kw == NULL)
		return 0;
	while (i < m->keywords_len) {
		char name[IDX_KEYWORD_LEN_MAX + 1];
		size_t s, n;
		bool ok = true;
		unsigned id;

		while (i < m->keywords_len && (m->keywords[i] == ' ' ||
					       m->keywords[i] == '\t'))
			i++;
		s = i;
		while (i < m->keywords_len && m->keywords[i] != ' ' &&
		       m->keywords[i] != '\t')
			i++;
		n = i - s;
		if (n == 0 || n > IDX_KEYWORD_LEN_MAX)
			continue;
		for (size_t j = 0; j < n; j++)
			ok = ok && imap_is_atom_char((uint8_t)m->keywords[s + j]);
		if (!ok || m->keywords[s] == '\\')
			continue;
		memcpy(name, m->keywords + s, n);
		name[n] = '\0';
		/* Only keywords the file's X-IMAPbase declares: a sender
		 * cannot add keywords by writing the header. */
		{
			const char *p = c->base_kw;
			bool declared = false;

			while (*p != '\0' && !declared) {
				size_t l = strcspn(p, " \t");

				declared = l == n && strncasecmp(p, name, n) == 0;
				p += l;
				p += strspn(p, " \t");
			}
			if (!declared)
				continue;
		}
		if (store_txn_keyword(c->t, name, &id) == 0 && id < 64)
			kw |= (uint64_t)1 << id;
	}
	return kw;
}

static int
report_new(struct sync_ctx *c, const struct mbox_msg *m,
	   const struct mbox_blob *b, uint64_t size)
{
	uint8_t blob[MBOX_BLOB_LEN];
	struct store_txn_new n;

	memset(&n, 0, sizeof(n));
	n.flags = imap_flags(b->mflags);
	n.internaldate = from_date_time(&m->date, c->mtime);
	n.size = size;
	n.blob = blob;
	n.blob_len = mbox_blob_encode(b, blob);
	if (c->fresh && c->base) {
		if (m->uid != 0 && m->uid > c->last_xuid &&
		    m->uid <= c->base_last) {
			n.uid = m->uid;
			c->last_xuid = m->uid;
		}
		n.keywords = import_keywords(c, m);
	}
	if (store_txn_new(c->t, &n) < 0)
		return -1;
	return maybe_commit(c);
}

static int
on_scan_msg(void *ctx, const struct mbox_msg *m, uint64_t size)
{
	struct sync_ctx *c = ctx;
	struct mbox_blob b;
	bool first = c->first;

	c->first = false;
	mbox_blob_from_msg(&b, m);
	if (first && !c->quick && m->has_imapbase) {
		/* Dovecot's or UW's metadata, trusted in the first message
		 * only; the X-IMAP pseudo-message is not a message. */
		/* A UID list can be this long only if a sender wrote it
		 * (the first mail into an empty mbox): it would use up the
		 * UID space. */
		if (m->uidvalidity != 0 && m->last_uid < MBOX_XUID_MAX &&
		    m->uidvalidity < STORE_UIDVALIDITY_IMPORT_LIMIT) {
			size_t kl = m->base_keywords_len;

			c->base = true;
			c->base_last = m->last_uid;
			/* UIDs up to last_uid were handed out, even those
			 * of messages now gone: never again. */
			if (c->fresh && m->last_uid < UINT32_MAX &&
			    store_txn_uidnext(c->t, m->last_uid + 1) < 0)
				return SCAN_FAILED;
			memcpy(c->base_kw_buf, m->base_keywords, kl);
			c->base_kw_buf[kl] = '\0';
			c->base_kw = c->base_kw_buf;
		}
		if (m->imapbase_pseudo)
			return 0;
	}
	c->have_last = true;
	c->last = b;
	if (c->quick) {
		if (!c->tail_checked) {
			c->tail_checked = true;
			if (!mbox_blob_same_place(&b, &c->expect) ||
			    b.mflags != c->expect.mflags)
				return SCAN_MISMATCH;
			return 0;
		}
		return report_new(c, m, &b, size) < 0 ? SCAN_FAILED : 0;
	}
	{
		long r = find_match(c, &b);

		if (r < 0)
			return report_new(c, m, &b, size) < 0 ? SCAN_FAILED : 0;
		{
			const struct store_rec *rec = &c->recs[r];
			const struct mbox_blob *old = &c->rblobs[r];
			uint8_t blob[MBOX_BLOB_LEN];
			size_t bl = mbox_blob_encode(&b, blob);
			int ret = 0;

			if (c->want_uid == rec->uid) {
				c->want_found = true;
				c->want_blob = b;
			}
			if (old->mflags != b.mflags) {
				uint8_t f = merge_flags(rec->flags, old->mflags,
							b.mflags);

				ret = store_txn_changed(c->t, rec->uid, f,
							rec->keywords,
							rec->modseq, blob, bl);
			} else if (!mbox_blob_same_place(old, &b)) {
				ret = store_txn_moved(c->t, rec->uid, blob, bl);
			} else {
				return 0;
			}
			if (ret < 0 || maybe_commit(c) < 0)
				return SCAN_FAILED;
		}
	}
	return 0;
}

static void
sync_ctx_free(struct sync_ctx *c)
{
	free(c->rblobs);
	free(c->matched);
	free(c->order);
	free(c->group_next);
	c->rblobs = NULL;
	c->matched = NULL;
	c->order = NULL;
	c->group_next = NULL;
}

/* Records an empty or missing file: every known message is gone. */
static int
sync_empty(struct mailbox *box, struct store_txn *t, const struct stat *st)
{
	const struct store_rec *recs;
	struct mbox_stamp stamp;
	size_t n;

	if (store_txn_load(t, &recs, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (store_txn_vanished(t, recs[i].uid) < 0)
			return -1;
	memset(&stamp, 0, sizeof(stamp));
	if (st != NULL)
		mbox_stamp_from_stat(&stamp, st);
	else
		stamp.flags = MBOX_STAMP_MISSING;
	if (set_stamp(box, t, &stamp) < 0)
		return -1;
	return store_txn_commit(t);
}

/* The scan and its report, with the file locked (any mode); st is the
 * file as locked. want_uid: find the current blob of this UID (0: no). */
static int
sync_locked(struct mailbox *box, struct store_txn *t, const struct stat *st,
	    bool forced, uint32_t want_uid, struct sync_ctx *out)
{
	struct mbox_box *mb = mb_of(box);
	struct mbox_stamp old, stamp;
	bool have_old = rec_stamp(store_txn_rec(t), &old);
	struct sync_ctx c;
	uint64_t eof = 0;
	int r = 0;

	memset(&c, 0, sizeof(c));
	c.box = box;
	c.t = t;
	c.mtime = st->st_mtim.tv_sec;
	c.fresh = store_txn_fresh(t);
	c.want_uid = want_uid;
	if (!forced && !mb->force_full && have_old &&
	    (old.flags & MBOX_STAMP_LAST) && old.dev == (uint64_t)st->st_dev &&
	    old.ino == (uint64_t)st->st_ino &&
	    (uint64_t)st->st_size > old.size && old.last.end == old.size &&
	    want_uid == 0) {
		/* Grown: maybe only appended to. */
		c.quick = true;
		c.expect = old.last;
		c.first = false;
		r = mbox_scan_fd(mb->fd, old.last.from_offset, on_scan_msg, &c,
				 &eof, NULL);
		if (r == 0 && c.tail_checked)
			goto done;
		if (r == SCAN_FAILED || r < 0)
			goto fail;
		/* Not an append (SCAN_MISMATCH): from the top. Nothing was
		 * reported before the mismatch, since the check comes with
		 * the first message. */
		memset(&c, 0, sizeof(c));
		c.box = box;
		c.t = t;
		c.mtime = st->st_mtim.tv_sec;
		c.fresh = store_txn_fresh(t);
		c.want_uid = want_uid;
	}
	if (store_txn_load(t, &c.recs, &c.n_recs) < 0)
		goto fail;
	index_recs(&c);
	c.first = true;
	r = mbox_scan_fd(mb->fd, 0, on_scan_msg, &c, &eof, NULL);
	if (r != 0)
		goto fail;
	for (size_t i = 0; i < c.n_recs; i++)
		if (!c.matched[i] && store_txn_vanished(t, c.recs[i].uid) < 0)
			goto fail;
done:
	mbox_stamp_from_stat(&stamp, st);
	if (c.have_last) {
		stamp.flags |= MBOX_STAMP_LAST;
		stamp.last = c.last;
	}
	if (set_stamp(box, t, &stamp) < 0 || store_txn_commit(t) < 0)
		goto fail;
	mb->force_full = false;
	if (out != NULL) {
		out->want_found = c.want_found;
		out->want_blob = c.want_blob;
	}
	sync_ctx_free(&c);
	return 0;
fail:
	if (r < 0)
		store_set_errno(box->store, errno, "read %s", mb->path);
	mb->force_full = true;
	sync_ctx_free(&c);
	return -1;
}

/* Brings the index in line with the file, with the lock already held
 * as *held (may become WRITE for a recovery). */
static int
sync_held(struct mailbox *box, struct store_txn *t, enum mbox_lock_mode *held,
	  bool forced)
{
	struct mbox_box *mb = mb_of(box);
	struct mbox_stamp old;
	struct stat st;

	if (mb->fd >= 0 && store_txn_fresh(t))
		mbox_expunge_adopt(box);
	if (mb->fd >= 0 && recover_if_pending(box, held) < 0)
		return -1;
	if (mb->fd < 0) {
		if (rec_stamp(store_txn_rec(t), &old) &&
		    (old.flags & MBOX_STAMP_MISSING) &&
		    store_txn_rec(t)->messages == 0)
			return 0;
		return sync_empty(box, t, NULL);
	}
	if (fstat(mb->fd, &st) < 0) {
		store_set_errno(box->store, errno, "fstat %s", mb->path);
		return -1;
	}
	if (!forced && !mb->force_full && rec_stamp(store_txn_rec(t), &old) &&
	    mbox_stamp_file_same(&old, &st))
		return 0;
	if (st.st_size == 0)
		return sync_empty(box, t, &st);
	return sync_locked(box, t, &st, forced, 0, NULL);
}

static int
mbox_sync(struct mailbox *box, struct store_txn *t)
{
	struct mbox_box *mb = mb_of(box);
	enum mbox_lock_mode held = MBOX_LOCK_READ;
	struct mbox_stamp old;
	struct stat st;
	int r;

	/* The cheap path first: an fstat, no lock. */
	if (!store_txn_forced(t) && !mb->force_full && mb->fd >= 0 &&
	    rec_stamp(store_txn_rec(t), &old) && fstat(mb->fd, &st) == 0 &&
	    mbox_stamp_file_same(&old, &st) &&
	    stat(mb->path, &st) == 0 && st.st_ino == mb->ino &&
	    st.st_dev == mb->dev)
		return 0;
	if (lock_current(box, MBOX_LOCK_READ) < 0)
		return -1;
	r = sync_held(box, t, &held, store_txn_forced(t));
	if (mb->fd >= 0)
		unlock(box);
	return r;
}

static int
on_first(void *ctx, const struct mbox_msg *m, uint64_t size)
{
	uint32_t *uv = ctx;

	(void)size;
	/* the same test as on_scan_msg's: UIDs and UIDVALIDITY together */
	if (m->has_imapbase && m->uidvalidity != 0 &&
	    m->last_uid < MBOX_XUID_MAX)
		*uv = m->uidvalidity;
	return 1;
}

static int
mbox_import_uidvalidity(struct mailbox *box, uint32_t *uidvalidity)
{
	struct mbox_box *mb = mb_of(box);
	int r = 0;

	*uidvalidity = 0;
	if (mb->fd < 0)
		return 0;
	if (lock_current(box, MBOX_LOCK_READ) < 0)
		return -1;
	/* X-IMAPbase counts in the file's first message only. */
	if (mb->fd >= 0 &&
	    mbox_scan_fd(mb->fd, 0, on_first, uidvalidity, NULL, NULL) < 0) {
		store_set_errno(box->store, errno, "read %s", mb->path);
		r = -1;
	}
	unlock(box);
	return r;
}

/* ---- FETCH: verify at the place, copy the served form ----------------------------- */

struct verify {
	const struct mbox_blob *b;
	bool ok;
	bool seen;
};

static int
on_verify(void *ctx, const struct mbox_msg *m)
{
	struct verify *v = ctx;
	struct mbox_blob got;

	mbox_blob_from_msg(&got, m);
	v->seen = true;
	/* The message at the place is the one recorded, with the same
	 * header fields and body; its Status may differ (served without
	 * it anyway). */
	v->ok = got.from_offset == v->b->from_offset &&
	    got.from_len == v->b->from_len && mbox_blob_same_msg(&got, v->b) &&
	    got.length == v->b->length;
	return 1;
}

/* Reads [from_offset, end) of b once: the parser checks it is the
 * message recorded, mbox_serve writes its served form to out_fd. 1 ok,
 * 0 not the message there, -1 error (errno). */
static int
verify_copy(int fd, const struct mbox_blob *b, int out_fd, uint64_t *size)
{
	struct verify v = { b, false, false };
	struct mbox_parser *p = mbox_parser_new(b->from_offset, on_verify, &v);
	struct mbox_serve sv;
	struct buf *out = buf_new(4 * IO_CHUNK);
	char *chunk = xmalloc(IO_CHUNK);
	uint64_t pos = b->from_offset, body = b->from_offset + b->from_len;
	uint64_t body_end = body + b->length;
	int ret = -1;

	mbox_serve_init(&sv);
	while (pos < b->end) {
		size_t want = b->end - pos > IO_CHUNK ? IO_CHUNK :
		    (size_t)(b->end - pos);
		ssize_t n = pread(fd, chunk, want, (off_t)pos);
		uint64_t a, z;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0) {
			ret = 0;     /* the file is shorter now */
			goto out;
		}
		(void)mbox_parser_feed(p, chunk, (size_t)n);
		if (v.seen && !v.ok) {
			ret = 0;     /* split early: another layout */
			goto out;
		}
		a = pos > body ? pos : body;
		z = pos + (uint64_t)n < body_end ? pos + (uint64_t)n : body_end;
		if (out_fd >= 0 && a < z) {
			buf_reset(out);
			if (mbox_serve_feed(&sv, chunk + (a - pos),
					    (size_t)(z - a), out) < 0) {
				errno = EMSGSIZE;
				goto out;
			}
			if (buf_len(out) > 0 &&
			    write(out_fd, buf_data(out), buf_len(out)) !=
			    (ssize_t)buf_len(out))
				goto out;
		}
		pos += (uint64_t)n;
	}
	if (!v.seen)
		(void)mbox_parser_finish(p);
	if (!v.ok) {
		ret = 0;
		goto out;
	}
	buf_reset(out);
	(void)mbox_serve_finish(&sv, out);
	if (out_fd >= 0 && buf_len(out) > 0 &&
	    write(out_fd, buf_data(out), buf_len(out)) != (ssize_t)buf_len(out))
		goto out;
	*size = sv.produced;
	ret = 1;
out:
	mbox_parser_free(&p);
	buf_free(&out);
	free(chunk);
	return ret;
}

static int
mbox_msg_open(struct mailbox *box, const struct store_rec *rec,
	      struct store_txn *t, uint64_t want, int *fdp, off_t *offset,
	      uint64_t *size)
{
	struct store *s = box->store;
	struct mbox_box *mb = mb_of(box);
	enum mbox_lock_mode held = MBOX_LOCK_READ;
	struct mbox_blob b;
	struct sync_ctx found;
	int out = -1, r;

	/* The message is copied whole: verify_copy checks it is still
	 * where the index says, which a prefix could not tell. */
	(void)want;
	*fdp = -1;
	*offset = 0;
	*size = 0;
	if (!mbox_blob_decode(rec->blob, rec->blob_len, &b)) {
		store_set_error(s, STORE_ERR_SERVERBUG,
				"mbox %s: bad index record for UID %u",
				mb->path, rec->uid);
		return -1;
	}
	if (lock_current(box, MBOX_LOCK_READ) < 0)
		return -1;
	if (mb->fd < 0) {
		store_set_error(s, STORE_ERR_EXPUNGED, "%s is gone", mb->path);
		return -1;
	}
	if (recover_if_pending(box, &held) < 0)
		goto fail;
	for (int round = 0; round < 2; round++) {
		struct stat st;

		out = memfd_create("moat-fetch", MFD_CLOEXEC);
		if (out < 0) {
			store_set_errno(s, errno, "memfd_create");
			goto fail;
		}
		r = mb->force_full ? 0 : verify_copy(mb->fd, &b, out, size);
		if (r < 0) {
			store_set_errno(s, errno, "read %s", mb->path);
			goto fail;
		}
		if (r == 1)
			break;
		close(out);
		out = -1;
		if (round == 1) {
			store_set_error(s, STORE_ERR_SERVERBUG,
					"mbox %s: UID %u not where the rescan "
					"put it", mb->path, rec->uid);
			goto fail;
		}
		/* The file was rewritten: find the message again. */
		if (fstat(mb->fd, &st) < 0) {
			store_set_errno(s, errno, "fstat %s", mb->path);
			goto fail;
		}
		memset(&found, 0, sizeof(found));
		if (sync_locked(box, t, &st, true, rec->uid, &found) < 0)
			goto fail;
		if (!found.want_found) {
			store_set_error(s, STORE_ERR_EXPUNGED,
					"mbox %s: UID %u is gone", mb->path,
					rec->uid);
			goto fail;
		}
		b = found.want_blob;
	}
	unlock(box);
	if (lseek(out, 0, SEEK_SET) < 0) {
		store_set_errno(s, errno, "lseek");
		close(out);
		return -1;
	}
	*fdp = out;
	return 0;
fail:
	if (out >= 0)
		close(out);
	unlock(box);
	return -1;
}

/* ---- STORE ---------------------------------------------------------------------- */

static int
mbox_write_flags(struct mailbox *box, const struct store_rec *rec,
		 enum store_flag_op op, unsigned flags, uint64_t keywords,
		 struct store_txn *t)
{
	/* The index holds the flags; the file is not touched (so mutt's
	 * Status stays as mutt wrote it, and we merge only its changes). */
	uint8_t f = (uint8_t)store_flags_apply(op, rec->flags, flags);
	uint64_t kw = store_keywords_apply(op, rec->keywords, keywords);

	(void)box;
	/* The blob as it is (unchanged): so the change set never holds a
	 * flag change without one. */
	return store_txn_changed(t, rec->uid, f, kw, rec->modseq, rec->blob,
				 rec->blob_len);
}

/* ---- writing messages: APPEND and COPY --------------------------------------------- */

/* Where the next From_ line may start: after a blank line. Writes the
 * missing line breaks at the end of the file. *pos gets the offset. */
static int
pad_end(int fd, uint64_t size, uint64_t *pos, struct mbox_append_mark *mark)
{
	char tail[2];
	const char *pad = "";

	*pos = size;
	if (size == 0)
		return 0;
	if (size == 1) {
		if (pread(fd, tail + 1, 1, 0) != 1)
			return -1;
		pad = tail[1] == '\n' ? "\n" : "\n\n";
	} else {
		if (pread(fd, tail, 2, (off_t)(size - 2)) != 2)
			return -1;
		if (tail[1] != '\n')
			pad = "\n\n";
		else if (tail[0] != '\n')
			pad = "\n";
	}
	if (*pad != '\0' &&
	    (mbox_append_mark_data(mark, pad, strlen(pad), size) < 0 ||
	     fd_pwrite_full(fd, pad, strlen(pad), size) < 0))
		return -1;
	*pos = size + strlen(pad);
	return 0;
}

struct writer {
	int fd;
	uint64_t pos;
	struct buf *out;
	struct mbox_append_mark *mark;   /* each chunk goes there first */
};

/* Test hook (mbox-private.h): SIGKILL once this many bytes of an append
 * reached the mbox. */
uint64_t mbox_append_crash_after;

static int
writer_flush(struct writer *w)
{
	if (buf_len(w->out) == 0)
		return 0;
	if (mbox_append_crash_after > 0 && w->mark != NULL &&
	    w->pos + buf_len(w->out) - w->mark->base >
	    mbox_append_crash_after) {
		size_t part = (size_t)(w->mark->base + mbox_append_crash_after -
				       w->pos);

		if (mbox_append_mark_data(w->mark, buf_data(w->out),
					  buf_len(w->out), w->pos) < 0 ||
		    fd_pwrite_full(w->fd, buf_data(w->out), part, w->pos) < 0)
			return -1;
		raise(SIGKILL);
	}
	if (mbox_append_mark_data(w->mark, buf_data(w->out), buf_len(w->out),
				  w->pos) < 0 ||
	    fd_pwrite_full(w->fd, buf_data(w->out), buf_len(w->out), w->pos) < 0)
		return -1;
	w->pos += buf_len(w->out);
	buf_reset(w->out);
	return 0;
}

/* From_ line, the quoted text with LF line ends, a final line break if
 * it has none, the blank separator line. */
static int
write_message(struct writer *w, const void *data, size_t len, time_t when,
	      const char *sender, const char *from_line, size_t from_len)
{
	struct mbox_quote q;
	const char *d = data;
	char last = '\n';

	if (from_line != NULL) {
		if (buf_append(w->out, from_line, from_len) < 0 ||
		    buf_append_byte(w->out, '\n') < 0)
			return -1;
	} else if (mbox_parse_from_line_build(w->out, sender, when) < 0) {
		return -1;
	}
	mbox_parse_quote_init(&q, true);
	while (len > 0) {
		size_t n = len > IO_CHUNK ? IO_CHUNK : len;

		if (mbox_parse_quote(&q, d, n, w->out) < 0 ||
		    writer_flush(w) < 0)
			return -1;
		d += n;
		len -= n;
	}
	if (mbox_parse_quote_finish(&q, w->out) < 0)
		return -1;
	if (buf_len(w->out) > 0)
		last = (char)buf_data(w->out)[buf_len(w->out) - 1];
	else if (w->pos > 0 && pread(w->fd, &last, 1, (off_t)(w->pos - 1)) != 1)
		return -1;
	if (last != '\n' && buf_append_byte(w->out, '\n') < 0)
		return -1;
	if (buf_append_byte(w->out, '\n') < 0)
		return -1;
	return writer_flush(w);
}

struct collect {
	struct mbox_blob *b;
	uint64_t *size;
	size_t n, cap;
};

static int
on_collect(void *ctx, const struct mbox_msg *m, uint64_t size)
{
	struct collect *c = ctx;

	if (c->n == c->cap)
		return 1;    /* more messages than written: not ours */
	mbox_blob_from_msg(&c->b[c->n], m);
	c->size[c->n] = size;
	c->n++;
	return 0;
}

/* The write lock is held and the index matches the file up to size
 * (synced): brings the file back to size after a failure. */
static void
undo_append(struct mailbox *box, uint64_t size, struct mbox_append_mark *mark)
{
	struct mbox_box *mb = mb_of(box);

	if (ftruncate(mb->fd, (off_t)size) < 0 ||
	    (box->store->set.fsync && fsync(mb->fd) < 0)) {
		/* Leave the marker: the next lock's recovery retries. */
		log_error("mbox %s: cannot remove a failed append: %m",
			  mb->path);
		if (mark->fd >= 0)
			close(mark->fd);
		mark->fd = -1;
		free(mark->path);
		mark->path = NULL;
		return;
	}
	mbox_append_mark_end(mark);
}

struct src_msg {
	const void *data;            /* APPEND: the message */
	size_t len;
	uint64_t src_off;            /* COPY: From_ line + text in src */
	const char *envelope_from;   /* APPEND: the From_ line's sender */
	time_t when;
	uint8_t flags;
	uint64_t keywords;
	int64_t internaldate;
};

/* Appends msgs (data in memory, or [src_off, src_off+len) of src_fd
 * copied as stored, From_ line included) at the end of box, which is
 * write-locked and synced, then reports and commits. */
static int
append_locked(struct mailbox *box, struct store_txn *t,
	      const struct src_msg *msgs, size_t n, int src_fd)
{
	struct store *s = box->store;
	struct mbox_box *mb = mb_of(box);
	struct mbox_append_mark mark = { -1, 0, NULL };
	struct writer w = { mb->fd, 0, NULL, &mark };
	struct collect col = { NULL, NULL, 0, n };
	struct mbox_stamp stamp;
	struct stat st;
	uint64_t size, start;
	int e;

	if (fstat(mb->fd, &st) < 0) {
		store_set_errno(s, errno, "fstat %s", mb->path);
		return -1;
	}
	size = (uint64_t)st.st_size;
	if (mbox_append_mark_begin(box, size, &mark) < 0) {
		store_set_errno(s, errno, "append marker for %s", mb->path);
		return -1;
	}
	if (pad_end(mb->fd, size, &start, &mark) < 0) {
		e = errno;
		undo_append(box, size, &mark);
		store_set_errno(s, e, "append to %s", mb->path);
		return -1;
	}
	w.pos = start;
	w.out = buf_new(4 * IO_CHUNK);
	for (size_t i = 0; i < n; i++) {
		int r;

		mbox_lock_touch(&mb->lock);
		if (src_fd < 0) {
			r = write_message(&w, msgs[i].data, msgs[i].len,
					  msgs[i].when, msgs[i].envelope_from,
					  NULL, 0);
		} else {
			/* COPY: the stored bytes as they are, From_ line
			 * (envelope sender, date) included. */
			uint64_t off = msgs[i].src_off, left = msgs[i].len;
			char *chunk = xmalloc(IO_CHUNK);
			char last = '\n';

			r = 0;
			while (r == 0 && left > 0) {
				size_t k = left > IO_CHUNK ? IO_CHUNK :
				    (size_t)left;
				ssize_t got = pread(src_fd, chunk, k,
						    (off_t)off);

				if (got <= 0 ||
				    buf_append(w.out, chunk, (size_t)got) < 0 ||
				    writer_flush(&w) < 0) {
					if (got == 0)
						errno = EIO;
					r = -1;
					break;
				}
				last = chunk[got - 1];
				off += (uint64_t)got;
				left -= (uint64_t)got;
			}
			free(chunk);
			/* A final line break if the text has none, then the
			 * blank separator line. */
			if (r == 0 && ((last != '\n' &&
					buf_append_byte(w.out, '\n') < 0) ||
				       buf_append_byte(w.out, '\n') < 0 ||
				       writer_flush(&w) < 0))
				r = -1;
		}
		if (r < 0) {
			e = errno;
			buf_free(&w.out);
			undo_append(box, size, &mark);
			store_set_errno(s, e, "append to %s", mb->path);
			return -1;
		}
	}
	buf_free(&w.out);
	if (s->set.fsync && fsync(mb->fd) < 0) {
		e = errno;
		undo_append(box, size, &mark);
		store_set_errno(s, e, "fsync %s", mb->path);
		return -1;
	}
	/* What a reader will see: parse back what we wrote. */
	col.b = xcalloc(n, sizeof(*col.b));
	col.size = xcalloc(n, sizeof(*col.size));
	if (mbox_scan_fd(mb->fd, start, on_collect, &col, NULL, NULL) != 0 ||
	    col.n != n) {
		store_set_error(s, STORE_ERR_SERVERBUG,
				"mbox %s: appended %zu messages, read back "
				"%zu", mb->path, n, col.n);
		goto undo;
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t blob[MBOX_BLOB_LEN];
		struct store_txn_new nm;

		memset(&nm, 0, sizeof(nm));
		nm.flags = msgs[i].flags;
		nm.keywords = msgs[i].keywords;
		nm.internaldate = msgs[i].internaldate;
		nm.size = col.size[i];
		nm.blob = blob;
		nm.blob_len = mbox_blob_encode(&col.b[i], blob);
		if (store_txn_new(t, &nm) < 0)
			goto undo;
	}
	if (fstat(mb->fd, &st) < 0) {
		store_set_errno(s, errno, "fstat %s", mb->path);
		goto undo;
	}
	mbox_stamp_from_stat(&stamp, &st);
	stamp.flags |= MBOX_STAMP_LAST;
	stamp.last = col.b[n - 1];
	if (set_stamp(box, t, &stamp) < 0 || store_txn_commit(t) < 0)
		goto undo;
	mbox_append_mark_end(&mark);
	free(col.b);
	free(col.size);
	return 0;
undo:
	/* All or nothing. If the commit did reach the disk after all, the
	 * next sync sees the shorter file and expunges the records. */
	undo_append(box, size, &mark);
	mb->force_full = true;
	free(col.b);
	free(col.size);
	return -1;
}

/* Write lock, repair, and the index in line with the file. The sync
 * has its own change set, so that t reports only what the caller does
 * (store.c takes t's UIDs as the APPENDUID/COPYUID ones); the view
 * notices the extra commit through the modseqs. */
static int
lock_for_write(struct mailbox *box)
{
	struct mbox_box *mb = mb_of(box);
	enum mbox_lock_mode held = MBOX_LOCK_WRITE;
	struct store_txn *st;
	int r;

	if (mb->fd < 0 && mbname_is_inbox(box->name)) {
		/* No spool file yet: create it if we may (a spool only its
		 * MDA can create answers NOPERM). */
		int fd = open(mb->path, O_CREAT | O_EXCL | O_WRONLY |
			      O_CLOEXEC, 0600);

		if (fd >= 0)
			close(fd);
	}
	if (lock_current(box, MBOX_LOCK_WRITE) < 0)
		return -1;
	if (mb->fd < 0) {
		store_set_error(box->store, STORE_ERR_NOPERM,
				"%s does not exist", mb->path);
		return -1;
	}
	if ((st = store_txn_begin(box, 0)) == NULL) {
		unlock(box);
		return -1;
	}
	r = sync_held(box, st, &held, false);
	if (r == 0 && store_txn_pending(st))
		r = store_txn_commit(st);
	store_txn_free(&st);
	if (r < 0) {
		unlock(box);
		return -1;
	}
	return 0;
}

static int
mbox_append(struct mailbox *box, const struct store_new_msg *msgs,
	    const uint64_t *keywords, size_t n, struct store_txn *t)
{
	struct src_msg *sm;
	time_t now = time(NULL);
	int r;

	if (n == 0)
		return 0;
	sm = xcalloc(n, sizeof(*sm));
	for (size_t i = 0; i < n; i++) {
		sm[i].data = msgs[i].data;
		sm[i].len = msgs[i].len;
		sm[i].envelope_from = msgs[i].envelope_from;
		sm[i].when = msgs[i].internaldate != 0 ? msgs[i].internaldate :
		    now;
		sm[i].flags = (uint8_t)(msgs[i].flags & IDX_F_ALL);
		sm[i].keywords = keywords != NULL ? keywords[i] : 0;
		sm[i].internaldate = sm[i].when;
	}
	if (lock_for_write(box) < 0) {
		free(sm);
		return -1;
	}
	r = append_locked(box, t, sm, n, -1);
	unlock(box);
	free(sm);
	return r;
}

static int
mbox_copy(struct mailbox *src, struct mailbox *dst,
	  const struct store_rec *recs, size_t n, struct store_txn *t)
{
	struct store *s = dst->store;
	struct mbox_box *sb = mb_of(src);
	struct src_msg *sm;
	int tmp = -1, r = -1;
	uint64_t tpos = 0;

	if (n == 0)
		return 0;
	sm = xcalloc(n, sizeof(*sm));
	/* Copy the stored messages out under the source's read lock,
	 * checked at their places, so the destination's write lock is
	 * never held together with it. */
	if (lock_current(src, MBOX_LOCK_READ) < 0)
		goto out;
	if (sb->fd < 0) {
		store_set_error(s, STORE_ERR_EXPUNGED, "%s is gone", sb->path);
		unlock(src);
		goto out;
	}
	tmp = memfd_create("moat-copy", MFD_CLOEXEC);
	if (tmp < 0) {
		store_set_errno(s, errno, "memfd_create");
		unlock(src);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct mbox_blob b;
		uint64_t dummy, len;
		int v;
		char *chunk;

		if (!mbox_blob_decode(recs[i].blob, recs[i].blob_len, &b)) {
			store_set_error(s, STORE_ERR_SERVERBUG,
					"mbox: bad record of UID %u",
					recs[i].uid);
			unlock(src);
			goto out;
		}
		v = sb->force_full ? 0 : verify_copy(sb->fd, &b, -1, &dummy);
		if (v != 1) {
			/* Rewritten since the last sync: the next sync
			 * finds the messages again; the client retries. */
			sb->force_full = true;
			store_set_error(s, STORE_ERR_EXPUNGED,
					"mbox %s: UID %u moved or gone",
					sb->path, recs[i].uid);
			unlock(src);
			goto out;
		}
		len = b.from_len + b.length;
		chunk = xmalloc(IO_CHUNK);
		for (uint64_t done = 0; done < len;) {
			size_t k = len - done > IO_CHUNK ? IO_CHUNK :
			    (size_t)(len - done);
			ssize_t got = pread(sb->fd, chunk, k,
					    (off_t)(b.from_offset + done));

			if (got <= 0 || write(tmp, chunk, (size_t)got) != got) {
				store_set_errno(s, got == 0 ? EIO : errno,
						"copy from %s", sb->path);
				free(chunk);
				unlock(src);
				goto out;
			}
			done += (uint64_t)got;
		}
		free(chunk);
		sm[i].src_off = tpos;
		sm[i].len = len;
		sm[i].flags = recs[i].flags;
		sm[i].keywords = recs[i].keywords;
		sm[i].internaldate = recs[i].internaldate;
		tpos += len;
	}
	unlock(src);
	if (lock_for_write(dst) < 0)
		goto out;
	r = append_locked(dst, t, sm, n, tmp);
	unlock(dst);
out:
	if (tmp >= 0)
		close(tmp);
	free(sm);
	return r;
}

/* ---- EXPUNGE --------------------------------------------------------------------- */

static int
cmp_range(const void *a, const void *b)
{
	const struct mbox_range *x = a, *y = b;

	return x->from < y->from ? -1 : x->from > y->from;
}

/* How many of the sorted, disjoint ranges[0..n-1] start below x. */
static size_t
ranges_below(const struct mbox_range *r, size_t n, uint64_t x)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r[mid].from < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int
mbox_expunge(struct mailbox *box, const struct store_rec *recs, size_t n,
	     struct store_txn *t)
{
	struct store *s = box->store;
	struct mbox_box *mb = mb_of(box);
	const struct store_rec *all;
	size_t n_all, nr = 0;
	struct mbox_range *ranges = NULL;
	uint32_t *gone = NULL;
	uint64_t *prefix = NULL;
	struct mbox_stamp stamp;
	struct stat st;
	uint64_t size, final;
	bool have_last = false;
	struct mbox_blob last;
	int ret = -1;

	if (n == 0)
		return 0;
	if (lock_for_write(box) < 0)
		return -1;
	if (fstat(mb->fd, &st) < 0) {
		store_set_errno(s, errno, "fstat %s", mb->path);
		goto out;
	}
	size = (uint64_t)st.st_size;
	/* The records as the index has them now, after lock_for_write
	 * brought it in line with the file. */
	if (store_txn_load(t, &all, &n_all) < 0)
		goto out;
	ranges = xcalloc(n, sizeof(*ranges));
	gone = xcalloc(n, sizeof(*gone));
	for (size_t i = 0; i < n; i++) {
		struct mbox_blob b;
		const struct store_rec *cur = NULL;

		for (size_t lo = 0, hi = n_all; lo < hi;) {
			size_t mid = lo + (hi - lo) / 2;

			if (all[mid].uid < recs[i].uid) {
				lo = mid + 1;
			} else if (all[mid].uid > recs[i].uid) {
				hi = mid;
			} else {
				cur = &all[mid];
				break;
			}
		}
		if (cur == NULL)
			continue;   /* already gone (another program) */
		if (!mbox_blob_decode(cur->blob, cur->blob_len, &b) ||
		    b.end > size) {
			store_set_error(s, STORE_ERR_SERVERBUG,
					"mbox %s: bad record of UID %u",
					mb->path, cur->uid);
			mb->force_full = true;
			goto out;
		}
		ranges[nr].from = b.from_offset;
		ranges[nr].to = b.end;
		gone[nr] = cur->uid;
		nr++;
	}
	if (nr == 0) {
		ret = 0;
		goto out;
	}
	qsort(ranges, nr, sizeof(*ranges), cmp_range);
	for (size_t i = 1; i < nr; i++)
		if (ranges[i].from < ranges[i - 1].to) {
			store_set_error(s, STORE_ERR_SERVERBUG,
					"mbox %s: overlapping records",
					mb->path);
			mb->force_full = true;
			goto out;
		}
	if (mbox_expunge_compact(box, ranges, nr, size, &final) < 0)
		goto out;
	for (size_t i = 0; i < nr; i++)
		if (store_txn_vanished(t, gone[i]) < 0)
			goto commit_failed;
	/* Cumulative removed bytes, for the new offsets. */
	prefix = xcalloc(nr + 1, sizeof(*prefix));
	for (size_t i = 0; i < nr; i++)
		prefix[i + 1] = prefix[i] + (ranges[i].to - ranges[i].from);
	for (size_t i = 0; i < n_all; i++) {
		struct mbox_blob b;
		uint8_t blob[MBOX_BLOB_LEN];
		size_t k;

		if (!mbox_blob_decode(all[i].blob, all[i].blob_len, &b))
			continue;
		k = ranges_below(ranges, nr, b.from_offset + 1);
		if (k > 0 && b.from_offset < ranges[k - 1].to)
			continue;   /* one of the removed */
		if (k > 0) {
			b.from_offset -= prefix[k];
			b.end -= prefix[ranges_below(ranges, nr, b.end)];
			if (store_txn_moved(t, all[i].uid, blob,
					    mbox_blob_encode(&b, blob)) < 0)
				goto commit_failed;
		}
		if (!have_last || b.from_offset > last.from_offset) {
			have_last = true;
			last = b;
		}
	}
	if (fstat(mb->fd, &st) < 0) {
		store_set_errno(s, errno, "fstat %s", mb->path);
		goto commit_failed;
	}
	mbox_stamp_from_stat(&stamp, &st);
	if (have_last) {
		stamp.flags |= MBOX_STAMP_LAST;
		stamp.last = last;
	}
	if (set_stamp(box, t, &stamp) < 0 || store_txn_commit(t) < 0)
		goto commit_failed;
	if (mbox_expunge_crash_at == 6)
		raise(SIGKILL);
	mbox_expunge_done(box);
	ret = 0;
	goto out;
commit_failed:
	/* The file is compacted, the index is not: the journal stays, and
	 * recovery plus a full rescan (fingerprints) fix the index. */
	mb->force_full = true;
out:
	free(ranges);
	free(gone);
	free(prefix);
	unlock(box);
	return ret;
}

/* ---- the index hook: a message another session recorded meanwhile ----------------- */

struct find_ctx {
	struct mbox_blob want;
	uint32_t uid;
};

static int
on_find(uint32_t uid, const struct idx_msg *m, void *ctx)
{
	struct find_ctx *f = ctx;
	struct mbox_blob b;

	if (mbox_blob_decode(m->blob, m->blob_len, &b) &&
	    mbox_blob_same_place(&b, &f->want)) {
		f->uid = uid;
		return IDX_USER + 1;
	}
	return 0;
}

static int
mbox_idx_find(struct idx_txn *txn, struct mailbox *box, uint32_t since,
	      const uint8_t *blob, size_t len, uint32_t *uid)
{
	struct find_ctx f;
	uint32_t lo = since > 0 ? since : 1;
	int r;

	if (!mbox_blob_decode(blob, len, &f.want))
		return IDX_NOTFOUND;
	f.uid = 0;
	/* Only messages recorded since the change set's uidnext can be the
	 * same file message reported twice. Not box->rec's: a sync's check
	 * for an interrupted append (committed_size) reads the record again,
	 * which may already hold another session's adoption of our tail. */
	r = idx_msg_foreach(txn, box->id, lo, UINT32_MAX, on_find, &f);
	if (r == IDX_USER + 1) {
		*uid = f.uid;
		return IDX_OK;
	}
	return r == IDX_OK ? IDX_NOTFOUND : r;
}

/* The file (writes, a truncate) and its directory for the entries
 * whose names start with the file's: a rename over it, its creation
 * (a missing INBOX), its dotlock going away. */
static int
mbox_watches(struct mailbox *box, struct store_watch *w, size_t max,
	     size_t *n)
{
	const struct mbox_box *mb = mb_of(box);
	const char *slash = strrchr(mb->path, '/');
	size_t dlen;

	if (*n < max && mb->fd >= 0) {
		memset(&w[*n], 0, sizeof(w[*n]));
		snprintf(w[*n].path, sizeof(w[*n].path), "/proc/self/fd/%d",
			 mb->fd);
		(*n)++;
	}
	if (*n >= max || slash == NULL || slash[1] == '\0')
		return 0;
	dlen = (size_t)(slash - mb->path);
	if (dlen == 0)
		dlen = 1;
	if (dlen >= sizeof(w[*n].path) ||
	    strlen(slash + 1) >= sizeof(w[*n].prefix))
		return 0;
	memset(&w[*n], 0, sizeof(w[*n]));
	memcpy(w[*n].path, mb->path, dlen);
	w[*n].dir = true;
	strcpy(w[*n].prefix, slash + 1);
	(*n)++;
	return 0;
}

const struct store_backend mbox_backend = {
	.name = "mbox",
	.kind = STORE_MBOX,
	/* Dot files: never mailboxes in an mbox root. */
	.subscriptions_file = ".subscriptions",
	.special_use_file = ".moat-special-use",
	.init = mbox_init,
	.deinit = mbox_deinit,
	.needs_lock_helper = mbox_needs_lock_helper,
	.list = mbox_list,
	.create = mbox_create,
	.delete = mbox_delete,
	.rename = mbox_rename,
	.box_open = mbox_box_open,
	.box_close = mbox_box_close,
	.watches = mbox_watches,
	.import_uidvalidity = mbox_import_uidvalidity,
	.sync = mbox_sync,
	.msg_open = mbox_msg_open,
	.write_flags = mbox_write_flags,
	.append = mbox_append,
	.expunge = mbox_expunge,
	.copy = mbox_copy,
	.idx_find = mbox_idx_find,
};
