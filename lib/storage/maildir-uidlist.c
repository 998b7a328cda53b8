/*
 * maildir-uidlist: Dovecot's dovecot-uidlist, read at a folder's first
 * sight (migration from Dovecot, or Courier's courierimapuiddb) and
 * kept up to date afterwards, so that
 *  - a deleted or damaged index is rebuilt with the same UIDVALIDITY
 *    and UIDs (the folder's files alone cannot tell them), and
 *  - an admin can switch back to Dovecot without clients re-downloading.
 *
 * Format (what Dovecot 2.x reads, version 3):
 *   "3 V<uidvalidity> N<nextuid> G<32 hex digits>\n"
 *   "<uid> :<file name as last seen>\n" ...   UIDs strictly increasing
 * Dovecot raises nextuid above the lines it reads, so lines may be
 * appended without touching the header; lines of expunged messages may
 * linger (Dovecot does the same and ignores them).
 *
 * Writers take "dovecot-uidlist.lock" (O_EXCL, holding "<pid>:<host>" as
 * Dovecot's dotlocks do; stale when that process is gone, or after 120 s
 * as Dovecot's uidlist dotlock) and either append in one write(2) or write
 * the whole new file into the lock file and rename it over the list
 * (Dovecot's file_dotlock_replace). UIDs are written after their index
 * commit and before any client hears of them, so a rebuild never hands
 * out a UID a client saw. The list is derived state like the index:
 * failures are logged and the mail is unaffected.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/fdio.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/str.h"
#include "storage/maildir-private.h"
#include "storage/uidlist.h"

#define UIDLIST "dovecot-uidlist"
#define UIDLIST_LOCK "dovecot-uidlist.lock"
#define COURIER_UIDDB "courierimapuiddb"
#define UIDLIST_FILE_MAX (64u * 1024 * 1024)
#define LOCK_STALE_SECS 120
#define LOCK_WAIT_MS 2000
#define RESERVE_MIN 256u
#define RESERVE_WAIT_MS 50

/* ---- reading (migration, rebuild) --------------------------------------- */

struct md_uident {
	uint32_t off;            /* base in data */
	uint16_t blen;
	uint32_t uid;
	uint32_t seq;            /* line order: a later line wins */
};

struct md_uidmap {
	uint32_t uidvalidity, nextuid;
	char *data;
	ARRAY(struct md_uident) v;
};

static int
map_cb(void *ctx, const struct uidlist_entry *e)
{
	struct md_uidmap *m = ctx;
	struct md_uident u = {
		.off = (uint32_t)(e->filename - m->data),
		.blen = (uint16_t)e->base_len,
		.uid = e->uid,
		.seq = (uint32_t)m->v.n,
	};

	if (e->base_len == 0 || e->base_len > MD_BLOB_NAME_MAX)
		return 0;
	arr_push(&m->v, u);
	return 0;
}

static int
cmp_uident(const void *x, const void *y, void *ctx)
{
	const struct md_uidmap *m = ctx;
	const struct md_uident *a = x, *b = y;
	size_t n = a->blen < b->blen ? a->blen : b->blen;
	int c = memcmp(m->data + a->off, m->data + b->off, n);

	if (c != 0)
		return c;
	if (a->blen != b->blen)
		return a->blen < b->blen ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq ? 1 : 0;
}

struct md_uidmap *
md_uidmap_read(struct mailbox *box)
{
	static const struct {
		const char *file;
		int (*parse)(const char *, size_t, struct uidlist_header *,
			     uidlist_entry_cb *, void *,
			     struct uidlist_stats *);
	} sources[] = {
		{ UIDLIST, uidlist_parse_dovecot },
		{ COURIER_UIDDB, uidlist_parse_courier },
	};

	for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
		struct md_uidmap *m;
		struct uidlist_header hdr;
		struct uidlist_stats st;
		size_t len, w = 0;
		char *data;

		if (md_read_file(box, sources[i].file, UIDLIST_FILE_MAX, &data,
				 &len) < 0) {
			log_warn("store: %s: %s", box->name,
				 box->store->err.detail);
			continue;
		}
		if (data == NULL)
			continue;
		m = xcalloc(1, sizeof(*m));
		m->data = data;
		if (sources[i].parse(data, len, &hdr, map_cb, m, &st) != 0) {
			log_warn("store: %s: %s is not usable; ignored",
				 box->name, sources[i].file);
			md_uidmap_free(&m);
			continue;
		}
		if (st.bad_lines > 0 || st.out_of_order > 0)
			log_warn("store: %s: %s: %zu bad and %zu out-of-order "
				 "lines skipped", box->name, sources[i].file,
				 st.bad_lines, st.out_of_order);
		m->uidvalidity = hdr.uidvalidity;
		m->nextuid = hdr.nextuid;
		/* one entry per base, the last line's */
		store_qsort_r(m->v.v, m->v.n, sizeof(m->v.v[0]), cmp_uident, m);
		for (size_t k = 0; k < m->v.n; k++) {
			if (w > 0 && m->v.v[w - 1].blen == m->v.v[k].blen &&
			    memcmp(m->data + m->v.v[w - 1].off,
				   m->data + m->v.v[k].off,
				   m->v.v[k].blen) == 0)
				m->v.v[w - 1] = m->v.v[k];
			else
				m->v.v[w++] = m->v.v[k];
		}
		m->v.n = w;
		log_info("store: %s: %zu UIDs and UIDVALIDITY %u taken from %s",
			 box->name, w, m->uidvalidity, sources[i].file);
		return m;
	}
	return NULL;
}

void
md_uidmap_free(struct md_uidmap **mp)
{
	struct md_uidmap *m = *mp;

	if (m == NULL)
		return;
	*mp = NULL;
	free(m->data);
	arr_free(&m->v);
	free(m);
}

uint32_t
md_uidmap_uidvalidity(const struct md_uidmap *m)
{
	return m->uidvalidity;
}

uint32_t
md_uidmap_nextuid(const struct md_uidmap *m)
{
	return m->nextuid;
}

uint32_t
md_uidmap_get(const struct md_uidmap *m, const char *base, size_t len)
{
	size_t lo = 0, hi = m->v.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct md_uident *u = &m->v.v[mid];
		size_t n = u->blen < len ? u->blen : len;
		int c = memcmp(m->data + u->off, base, n);

		if (c == 0 && u->blen != len)
			c = u->blen < len ? -1 : 1;
		if (c < 0)
			lo = mid + 1;
		else if (c > 0)
			hi = mid;
		else
			return u->uid;
	}
	return 0;
}

/* ---- writing ---------------------------------------------------------- */

/* Whether the dotlock now in place is stale: it has not changed for
 * LOCK_STALE_SECS, or it names a process of this host that is gone (a
 * session killed while holding it). Anything else it holds (nothing yet,
 * a list being written into it, another host's pid) counts as live. */
static bool
ul_lock_stale(struct mailbox *box)
{
	const char *host = ((struct maildir_store *)box->store->be_data)->host;
	char b[128], *colon, *end;
	struct stat st;
	ssize_t n;
	long pid;
	int fd = openat(md_box(box)->dir_fd, UIDLIST_LOCK,
			O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return false;	/* gone: the next O_EXCL tells */
	if (fstat(fd, &st) < 0) {
		close(fd);
		return false;
	}
	if (st.st_mtime + LOCK_STALE_SECS < time(NULL)) {
		close(fd);
		return true;
	}
	n = pread(fd, b, sizeof(b) - 1, 0);
	close(fd);
	if (n <= 0)
		return false;
	b[n] = '\0';
	if (n > 0 && b[n - 1] == '\n')
		b[--n] = '\0';
	if ((colon = strchr(b, ':')) == NULL || strcmp(colon + 1, host) != 0 ||
	    b[0] < '1' || b[0] > '9')
		return false;
	errno = 0;
	pid = strtol(b, &end, 10);
	if (end != colon || errno != 0 || pid <= 0 || pid > INT32_MAX)
		return false;
	return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/* Removes a stale dotlock. The check and the unlink are made under a
 * flock of the folder's directory: two Moat sessions that found the same
 * dead holder cannot remove each other's fresh lock in between (one
 * sees the other's new lock, with a live pid, under the flock). */
static bool
ul_lock_break(struct mailbox *box)
{
	int dir = md_box(box)->dir_fd;
	bool stale;

	if (flock(dir, LOCK_EX | LOCK_NB) < 0)
		return false;	/* another is looking: try again soon */
	stale = ul_lock_stale(box);
	if (stale) {
		log_warn("store: %s: overriding a stale %s", box->name,
			 UIDLIST_LOCK);
		(void)unlinkat(dir, UIDLIST_LOCK, 0);
	}
	(void)flock(dir, LOCK_UN);
	return stale;
}

/* The dotlock; waits up to wait_ms for a live holder. The lock holds
 * "<pid>:<host>" until a rewrite writes the new list into it. */
static int
ul_lock(struct mailbox *box, unsigned wait_ms)
{
	struct maildir_box *mb = md_box(box);
	unsigned waited = 0;

	for (;;) {
		int fd = openat(mb->dir_fd, UIDLIST_LOCK,
				O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
				O_CLOEXEC, 0600);

		if (fd >= 0) {
			char id[96];
			int len = snprintf(id, sizeof(id), "%ld:%s",
					   (long)getpid(), ((struct maildir_store *)
					   box->store->be_data)->host);

			if (len > 0 && (size_t)len < sizeof(id))
				(void)fd_write_full(fd, id, (size_t)len);
			return fd;
		}
		if (errno != EEXIST)
			return -1;
		if (ul_lock_break(box))
			continue;
		if (waited >= wait_ms) {
			errno = EAGAIN;
			return -1;
		}
		{
			unsigned ms = 5 + rand_u32() % 20;
			struct timespec ts = { 0, (long)ms * 1000000L };

			nanosleep(&ts, NULL);
			waited += ms;
		}
	}
}

static void
ul_unlock(struct mailbox *box, int fd)
{
	close(fd);
	(void)unlinkat(md_box(box)->dir_fd, UIDLIST_LOCK, 0);
}

/* The current list, open for appending and flock()ed, so that Moat
 * sessions append one at a time and never to a file a rewrite just
 * replaced (the inode is checked after the lock is held). -1 with errno
 * ENOENT when there is no list, EAGAIN when the lock stays taken. */
static int
ul_open_locked(struct mailbox *box)
{
	struct maildir_box *mb = md_box(box);

	for (int i = 0; i < 10; i++) {
		struct stat a, b;
		unsigned waited = 0;
		int fd = openat(mb->dir_fd, UIDLIST,
				O_RDWR | O_APPEND | O_NOFOLLOW | O_CLOEXEC);

		if (fd < 0)
			return -1;
		while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			unsigned ms = 2 + rand_u32() % 10;
			struct timespec ts = { 0, (long)ms * 1000000L };

			if (errno != EWOULDBLOCK || waited >= LOCK_WAIT_MS) {
				int e = errno == EWOULDBLOCK ? EAGAIN : errno;

				close(fd);
				errno = e;
				return -1;
			}
			nanosleep(&ts, NULL);
			waited += ms;
		}
		if (fstat(fd, &a) == 0 && S_ISREG(a.st_mode) &&
		    fstatat(mb->dir_fd, UIDLIST, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			return fd;
		close(fd);	/* replaced meanwhile: the new one */
	}
	errno = EAGAIN;
	return -1;
}

struct ul_head {
	unsigned version;
	uint32_t uidvalidity;
	uint32_t nextuid;
	uint32_t last_uid;
	char guid[33];
	off_t size;
	bool torn;               /* the last line is unterminated */
};

/* Reads the header and the last line of the open list. */
static int
ul_head_fd(int fd, struct ul_head *h)
{
	char buf[4097];
	struct stat st;
	ssize_t r;

	memset(h, 0, sizeof(*h));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return -1;
	h->size = st.st_size;
	r = pread(fd, buf, 512, 0);
	if (r > 0) {
		char *p, *nl, *save = NULL;

		buf[r] = '\0';
		if ((nl = strchr(buf, '\n')) != NULL)
			*nl = '\0';
		h->version = (unsigned)(buf[0] - '0');
		for (p = strtok_r(buf + 1, " ", &save); p != NULL;
		     p = strtok_r(NULL, " ", &save)) {
			if (h->version == 3 && p[0] == 'V')
				h->uidvalidity = (uint32_t)strtoul(p + 1, NULL,
								   10);
			else if (h->version == 3 && p[0] == 'N')
				h->nextuid = (uint32_t)strtoul(p + 1, NULL, 10);
			else if (h->version == 3 && p[0] == 'G' &&
				 strlen(p + 1) == 32 &&
				 strspn(p + 1, "0123456789abcdefABCDEF") == 32)
				/* only a GUID uidlist.c (and Dovecot) would
				 * read back: a rewrite keeps it */
				str_copy(h->guid, p + 1, sizeof(h->guid));
			else if (h->version == 1 && h->uidvalidity == 0)
				h->uidvalidity = (uint32_t)strtoul(p, NULL, 10);
		}
	}
	if (st.st_size > 0) {
		off_t from = st.st_size > 4096 ? st.st_size - 4096 : 0;

		r = pread(fd, buf, (size_t)(st.st_size - from), from);
		if (r > 0) {
			char *end = buf + r, *line;

			if (end[-1] != '\n') {
				h->torn = true;
			} else {
				end[-1] = '\0';
				line = strrchr(buf, '\n');
				line = line != NULL ? line + 1 :
				       (from == 0 ? NULL : buf);
				if (line != NULL && line[0] >= '1' &&
				    line[0] <= '9')
					h->last_uid = (uint32_t)strtoul(line,
									NULL,
									10);
			}
		}
	}
	return 0;
}

static int
lines_add(struct buf *b, const uint32_t *uids, char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (buf_printf(b, "%u :%s\n", uids[i], names[i]) < 0)
			return -1;
	return 0;
}

/* One write(2) with O_APPEND: a reader never takes half a line for a
 * whole one. Not fsynced: the list is a fallback for a lost index, and
 * a crash of the machine keeps the index's own (synced) record. */
static int
ul_append_fd(int fd, const struct buf *lines)
{
	return write(fd, buf_data(lines), buf_len(lines)) ==
	       (ssize_t)buf_len(lines) ? 0 : -1;
}

/* Writes data into the lock file and renames it over the list; the
 * lock is gone afterwards either way. */
/* The caller holds the dotlock (lockfd) and the flock of the current
 * list: appenders wait on the old file and then see it replaced. */
static int
ul_replace(struct mailbox *box, int lockfd, const struct buf *data)
{
	struct maildir_box *mb = md_box(box);
	int r = -1;

	/* over the "<pid>:<host>" it held */
	if (ftruncate(lockfd, 0) == 0 &&
	    fd_pwrite_full(lockfd, buf_data(data), buf_len(data), 0) == 0 &&
	    store_fsync(box->store, lockfd) == 0 &&
	    renameat(mb->dir_fd, UIDLIST_LOCK, mb->dir_fd, UIDLIST) == 0) {
		(void)store_fsync(box->store, mb->dir_fd);
		r = 0;
	}
	if (r < 0) {
		int e = errno;

		(void)unlinkat(mb->dir_fd, UIDLIST_LOCK, 0);
		errno = e;
	}
	close(lockfd);
	return r;
}

/* The flock of the current list for a rewrite: -1 (no list) is fine,
 * any other failure is not. */
static bool
ul_hold(struct mailbox *box, int *fd)
{
	*fd = ul_open_locked(box);
	return *fd >= 0 || errno == ENOENT;
}

static void
guid_new(char *guid)
{
	uint8_t b[16];

	rand_bytes(b, sizeof(b));
	for (size_t i = 0; i < 16; i++)
		snprintf(guid + 2 * i, 3, "%02x", b[i]);
}

/* The header's N: UIDs a rebuild may hand out start there, so it stays
 * above every UID the index has allocated (md_uidlist_reserve). Raised
 * in blocks, an eighth of the UIDs so far and at least RESERVE_MIN, so
 * that a rewrite of the whole list comes once per block. */
static uint32_t
reserve_next(uint32_t need, uint32_t cur)
{
	uint64_t next = (uint64_t)need + (need / 8 > RESERVE_MIN ? need / 8 :
					  RESERVE_MIN);

	if (cur >= need)
		return cur;
	return next > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)next;
}

/* The whole list from the index (records loaded after the lock). */
static int
ul_rewrite(struct mailbox *box, struct store_txn *t, int lockfd,
	   const struct ul_head *old)
{
	const struct store_rec *recs;
	const struct idx_mbox *rec;
	struct buf *b = buf_new(UIDLIST_FILE_MAX);
	struct ul_head now;
	uint32_t kept_next = 0, need;
	char guid[33];
	size_t n;
	int cur, r = -1;

	if (!ul_hold(box, &cur)) {
		ul_unlock(box, lockfd);
		buf_free(&b);
		return -1;
	}
	/* loaded under the locks: every UID committed before an appender
	 * could take the flock is in, the others it appends itself */
	if (store_txn_load(t, &recs, &n) < 0) {
		ul_unlock(box, lockfd);
		if (cur >= 0)
			close(cur);
		buf_free(&b);
		return -1;
	}
	rec = store_txn_rec(t);
	need = rec->uidnext;
	for (size_t i = 0; i < n; i++)
		if (recs[i].uid >= need)
			need = recs[i].uid + 1;
	/* the N to keep is the one under the locks: a reservation may
	 * have raised it since the caller looked */
	if (cur >= 0 && ul_head_fd(cur, &now) == 0 && now.version == 3 &&
	    now.uidvalidity == rec->uidvalidity)
		kept_next = now.nextuid;
	if (old != NULL && old->guid[0] != '\0')
		str_copy(guid, old->guid, sizeof(guid));
	else
		guid_new(guid);
	if (buf_printf(b, "3 V%u N%u G%s\n", rec->uidvalidity,
		       reserve_next(need, kept_next), guid) < 0)
		goto full;
	for (size_t i = 0; i < n; i++) {
		char name[MD_BLOB_NAME_MAX + 1];
		unsigned bits;

		if (md_blob_name(recs[i].blob, recs[i].blob_len, &bits,
				 name) &&
		    buf_printf(b, "%u :%s\n", recs[i].uid, name) < 0)
			goto full;
	}
	r = ul_replace(box, lockfd, b);
	if (cur >= 0)
		close(cur);
	buf_free(&b);
	return r;
full:
	ul_unlock(box, lockfd);
	if (cur >= 0)
		close(cur);
	buf_free(&b);
	errno = EFBIG;
	return -1;
}

/* Lines to add whose UIDs are not above the file's last one (two
 * sessions appending in the other order): merge them into place. */
static int
ul_merge(struct mailbox *box, int lockfd, const uint32_t *uids,
	 char *const *names, size_t n, uint32_t new_next)
{
	struct buf *b = buf_new(UIDLIST_FILE_MAX);
	char *data = NULL, *p, *end;
	struct stat st;
	size_t len = 0, k = 0;
	int cur, r = -1;

	if (!ul_hold(box, &cur) || cur < 0) {
		ul_unlock(box, lockfd);
		buf_free(&b);
		return cur < 0 && errno == ENOENT ? 1 : -1;
	}
	if (fstat(cur, &st) < 0 || (uint64_t)st.st_size > UIDLIST_FILE_MAX)
		goto fail;
	data = xmalloc((size_t)st.st_size + 1);
	while (len < (size_t)st.st_size) {
		ssize_t got = pread(cur, data + len, (size_t)st.st_size - len,
				    (off_t)len);

		if (got <= 0)
			break;
		len += (size_t)got;
	}
	end = data + len;
	p = memchr(data, '\n', len);
	p = p != NULL ? p + 1 : end;
	if (new_next != 0) {
		struct ul_head h;

		if (ul_head_fd(cur, &h) < 0 || h.version != 3 ||
		    h.uidvalidity != box->rec.uidvalidity) {
			errno = ESTALE;
			goto fail;
		}
		if (h.guid[0] == '\0')
			guid_new(h.guid);
		if (buf_printf(b, "3 V%u N%u G%s\n", h.uidvalidity,
			       reserve_next(new_next, h.nextuid), h.guid) < 0)
			goto fail;
	} else if (buf_append(b, data, (size_t)(p - data)) < 0) {
		goto fail;
	}
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		uint32_t uid = (uint32_t)strtoul(p, NULL, 10);

		if (nl == NULL)
			break;	/* a torn last line goes */
		while (k < n && uids[k] < uid) {
			if (lines_add(b, &uids[k], &names[k], 1) < 0)
				goto fail;
			k++;
		}
		if (k < n && uids[k] == uid)
			k++;	/* already there */
		if (buf_append(b, p, (size_t)(nl + 1 - p)) < 0)
			goto fail;
		p = nl + 1;
	}
	if (lines_add(b, uids + k, names + k, n - k) < 0)
		goto fail;
	r = ul_replace(box, lockfd, b);
	lockfd = -1;
fail:
	if (lockfd >= 0)
		ul_unlock(box, lockfd);
	close(cur);
	free(data);
	buf_free(&b);
	return r;
}

struct ul_line {
	uint32_t uid;
	char *name;
};

static int
cmp_ul_line(const void *x, const void *y)
{
	const struct ul_line *a = x, *b = y;

	return a->uid < b->uid ? -1 : a->uid > b->uid ? 1 : 0;
}

/* ul_add for lines in ascending UID order, each UID once. */
static int
ul_add_sorted(struct mailbox *box, const uint32_t *uids, char *const *names,
	      size_t n)
{
	struct ul_head h;
	struct buf *b;
	int fd, lockfd, r;

	if ((fd = ul_open_locked(box)) < 0)
		return errno == ENOENT ? 1 : -1;
	if (ul_head_fd(fd, &h) < 0 || h.version != 3 ||
	    h.uidvalidity != box->rec.uidvalidity) {
		/* another generation: the next sync rewrites it */
		close(fd);
		return 1;
	}
	if (!h.torn && uids[0] > h.last_uid) {
		b = buf_new(UIDLIST_FILE_MAX);
		r = lines_add(b, uids, names, n) < 0 ? -1 :
		    ul_append_fd(fd, b);
		buf_free(&b);
		close(fd);
		return r;
	}
	close(fd);
	if ((lockfd = ul_lock(box, LOCK_WAIT_MS)) < 0)
		return -1;
	return ul_merge(box, lockfd, uids, names, n, 0);
}

/* Adds lines: appended under the flock when in order, else merged into
 * place under the dotlock. A transaction's UIDs need not ascend (a
 * message another session adopted first keeps that session's UID, among
 * UIDs allocated now), and both ways need them ascending and once. */
static int
ul_add(struct mailbox *box, const uint32_t *uids, char *const *names,
       size_t n)
{
	struct ul_line *v;
	uint32_t *su;
	char **sn;
	size_t k = 0;
	int r;

	if (n == 0)
		return 0;
	v = xreallocarray(NULL, n, sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = (struct ul_line){ .uid = uids[i], .name = names[i] };
	store_qsort(v, n, sizeof(*v), cmp_ul_line);
	su = xreallocarray(NULL, n, sizeof(*su));
	sn = xreallocarray(NULL, n, sizeof(*sn));
	for (size_t i = 0; i < n; i++)
		if (k == 0 || su[k - 1] != v[i].uid) {
			su[k] = v[i].uid;
			sn[k++] = v[i].name;
		}
	r = ul_add_sorted(box, su, sn, k);
	free(v);
	free(su);
	free(sn);
	return r;
}


void
md_uidlist_append(struct mailbox *box, const uint32_t *uids,
		  char *const *names, size_t n)
{
	if (n > 0 && ul_add(box, uids, names, n) < 0)
		log_warn("store: %s: %s not updated: %s", box->name, UIDLIST,
			 strerror(errno));
}

void
md_uidlist_sync(struct mailbox *box, struct store_txn *t,
		const struct store_rec *recs, size_t n_recs,
		const uint32_t *uids, char *const *names, size_t n)
{
	const struct idx_mbox *rec = store_txn_rec(t);
	uint64_t est = 64;
	struct ul_head h;
	int fd, lockfd, r;
	bool rewrite, have_h = false;

	for (size_t i = 0; i < n_recs; i++)
		est += recs[i].blob_len + 12U;
	for (size_t i = 0; i < n; i++)
		est += strlen(names[i]) + 12U;
	fd = openat(md_box(box)->dir_fd, UIDLIST,
		    O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT) {
		log_warn("store: %s: %s: %s", box->name, UIDLIST,
			 strerror(errno));
		return;
	}
	if (fd >= 0 && ul_head_fd(fd, &h) == 0)
		have_h = true;
	rewrite = !have_h || h.version != 3 ||
		  h.uidvalidity != rec->uidvalidity ||
		  (uint64_t)h.size > 2 * est + 65536;
	if (fd >= 0)
		close(fd);
	if (!rewrite) {
		r = ul_add(box, uids, names, n);
		if (r <= 0) {
			if (r < 0)
				log_warn("store: %s: %s not updated: %s",
					 box->name, UIDLIST, strerror(errno));
			return;
		}
		/* r == 1: it went away or changed generation meanwhile */
	}
	if ((lockfd = ul_lock(box, LOCK_WAIT_MS)) < 0) {
		log_warn("store: %s: %s: %s", box->name, UIDLIST_LOCK,
			 strerror(errno));
		return;
	}
	r = ul_rewrite(box, t, lockfd, have_h ? &h : NULL);
	if (r < 0)
		log_warn("store: %s: %s not rewritten: %s", box->name, UIDLIST,
			 strerror(errno));
}

/* Before a commit that may allocate UIDs up to need - 1: the list's N
 * must be at least need, or a rebuild from the list (index lost) could
 * hand a UID that a client saw to another message, under the same
 * UIDVALIDITY, when its line never made it into the list (a session
 * killed between its commit and its append, or the list's lock busy).
 * *limit: the UIDs this commit may allocate stay below it. No list, or
 * one of another generation (the next sync rewrites it, with N above
 * what the index has): no limit, a rebuild cannot take UIDs from it. */
void
md_uidlist_reserve(struct mailbox *box, uint32_t need, uint32_t *limit)
{
	struct ul_head h;
	char *none = NULL;	/* no lines to add */
	int fd, lockfd, r;

	*limit = UINT32_MAX;
	fd = openat(md_box(box)->dir_fd, UIDLIST,
		    O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	r = ul_head_fd(fd, &h);
	close(fd);
	if (r < 0 || h.version != 3 || h.uidvalidity != box->rec.uidvalidity)
		return;
	if (h.nextuid >= need) {
		*limit = h.nextuid;
		return;
	}
	/* Hardly waited for: a session killed while holding the dotlock
	 * leaves it for LOCK_STALE_SECS, and every commit would wait the
	 * full LOCK_WAIT_MS meanwhile (test_crash: bystander rounds of
	 * 17 s). The next commit tries again; lines are still appended
	 * under the flock. */
	if ((lockfd = ul_lock(box, RESERVE_WAIT_MS)) < 0 ||
	    (r = ul_merge(box, lockfd, &need, &none, 0, need)) < 0) {
		log_debug("store: %s: %s: UIDs not reserved: %s", box->name,
			  UIDLIST, strerror(errno));
		return;
	}
	if (r > 0)
		return;	/* gone meanwhile */
	fd = openat(md_box(box)->dir_fd, UIDLIST,
		    O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	if (ul_head_fd(fd, &h) == 0 && h.version == 3 &&
	    h.uidvalidity == box->rec.uidvalidity && h.nextuid >= need)
		*limit = h.nextuid;
	close(fd);
}
