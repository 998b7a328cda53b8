/*
 * mbox append marker: a kill -9 in the middle of an APPEND or COPY into
 * an mbox must not leave a torn message at the end of the file.
 *
 * Before the first byte goes to the mbox, the writer creates
 * <index dir>/mbox-append-<mailbox id>.side (a header: magic, device,
 * inode, the file's size before the append) and then appends every
 * chunk to it before writing the same chunk to the mbox; the marker is
 * removed after the index commit (or after the undo of a failed
 * append). So at any moment of a crash the bytes after the old size are
 * a prefix of the marker's data.
 *
 * Recovery (mbox_append_recover, with the write lock, whenever a marker
 * exists: a stat at every sync, beside the expunge side file's): if the
 * index's stamp already covers the whole append, it was committed: just
 * drop the marker. Otherwise the append never got its OK: if the bytes
 * after the old size are a prefix of the marker's data (or all of it),
 * truncate back. If mail was delivered after the crash (the file stops
 * matching the marker, and a From_ line starts there, give or take the
 * line breaks an MDA adds), only our bytes are cut out, through the
 * journalled expunge engine, so the delivery is moved down whole. If
 * anything else is there (another program's rewrite), nothing is cut.
 *
 * The marker is not fsynced: it protects against a killed process, whose
 * writes stay in the page cache; after a power failure the mbox tail is
 * as the disk kept it, as before.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fdio.h"
#include "core/log.h"
#include "core/str.h"
#include "storage/mbox-private.h"
#include "storage/store-private.h"

#define MARK_MAGIC "MOATAPP1"
#define MARK_HDR 32		/* magic 8, dev 8, ino 8, base 8 */
#define CMP_CHUNK 65536

static char *
mark_path(const struct store *s, uint32_t id)
{
	return xasprintf("%s/mbox-append-%u.side", s->set.index_dir, id);
}

static void
put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t
get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int
mbox_append_mark_begin(struct mailbox *box, uint64_t base,
		       struct mbox_append_mark *m)
{
	struct mbox_box *mb = box->be;
	uint8_t h[MARK_HDR];

	m->base = base;
	m->path = mark_path(box->store, box->id);
	m->fd = open(m->path, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC |
		     O_NOFOLLOW, 0600);
	if (m->fd < 0)
		return -1;
	memcpy(h, MARK_MAGIC, 8);
	put64(h + 8, (uint64_t)mb->dev);
	put64(h + 16, (uint64_t)mb->ino);
	put64(h + 24, base);
	if (fd_pwrite_full(m->fd, h, sizeof(h), 0) < 0) {
		int e = errno;

		mbox_append_mark_end(m);
		errno = e;
		return -1;
	}
	return 0;
}

int
mbox_append_mark_data(struct mbox_append_mark *m, const void *p, size_t n,
		      uint64_t pos)
{
	if (m == NULL || m->fd < 0)
		return 0;
	if (pos < m->base) {
		errno = EINVAL;
		return -1;
	}
	return fd_pwrite_full(m->fd, p, n, MARK_HDR + (pos - m->base));
}

void
mbox_append_mark_end(struct mbox_append_mark *m)
{
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	if (m->path != NULL && unlink(m->path) < 0 && errno != ENOENT)
		log_warn("mbox: cannot remove %s: %m", m->path);
	free(m->path);
	m->path = NULL;
}

bool
mbox_append_pending(struct mailbox *box)
{
	char *path = mark_path(box->store, box->id);
	struct stat st;
	bool r = lstat(path, &st) == 0;

	free(path);
	return r;
}

/* How many of the first n bytes of the marker's data equal
 * [base, base + n) of the mbox; -1 on a read error. */
static int64_t
common_prefix(int mfd, int fd, uint64_t base, uint64_t n)
{
	char *a = xmalloc(CMP_CHUNK), *b = xmalloc(CMP_CHUNK);
	int64_t r = -1;
	uint64_t done = 0;

	while (done < n) {
		size_t k = n - done > CMP_CHUNK ? CMP_CHUNK :
		    (size_t)(n - done), i = 0;

		if (fd_pread_full(mfd, a, k, MARK_HDR + done) < 0 ||
		    fd_pread_full(fd, b, k, base + done) < 0)
			goto out;
		while (i < k && a[i] == b[i])
			i++;
		done += i;
		if (i < k)
			break;
	}
	r = (int64_t)done;
out:
	free(a);
	free(b);
	return r;
}

/* Where mail written after the crash starts: a From_ line at q, where
 * the file stops matching the marker (an MDA that does not end the
 * previous line first glues it to our last byte), or at the start of a
 * line a few bytes around q (it may have added line breaks first, or
 * its first bytes may happen to equal ours). The one nearest after q
 * wins. 0 if there is none. */
static uint64_t
foreign_start(int fd, uint64_t base, uint64_t q, uint64_t size)
{
	char buf[6];
	uint64_t lo = q >= base + 7 ? q - 6 : base + 1;

	for (uint64_t p = q + 2; p >= lo; p--) {
		if (p + 5 > size)
			continue;
		if (fd_pread_full(fd, buf, 6, p - 1) < 0)
			return 0;
		if (memcmp(buf + 1, "From ", 5) == 0 &&
		    (p == q || buf[0] == '\n'))
			return p;
	}
	return 0;
}

int
mbox_append_recover(struct mailbox *box, uint64_t committed_size,
		    bool *truncated)
{
	struct mbox_box *mb = box->be;
	char *path = mark_path(box->store, box->id);
	uint8_t h[MARK_HDR];
	struct stat ms, st;
	uint64_t base, len, end, size, n, cut, final;
	struct mbox_range range;
	int64_t m;
	int mfd;

	*truncated = false;
	mfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (mfd < 0) {
		free(path);
		return 0;
	}
	if (fstat(mfd, &ms) < 0 || fstat(mb->fd, &st) < 0 ||
	    (uint64_t)ms.st_size < MARK_HDR ||
	    fd_pread_full(mfd, h, sizeof(h), 0) < 0 ||
	    memcmp(h, MARK_MAGIC, 8) != 0 ||
	    get64(h + 8) != (uint64_t)st.st_dev ||
	    get64(h + 16) != (uint64_t)st.st_ino)
		goto drop;    /* damaged, or another file by now */
	base = get64(h + 24);
	len = (uint64_t)ms.st_size - MARK_HDR;
	end = base + len;
	size = (uint64_t)st.st_size;
	if (committed_size >= end || size <= base)
		goto drop;    /* committed, or the file was rewritten */
	n = size < end ? size - base : len;
	m = common_prefix(mfd, mb->fd, base, n);
	if (m < 0) {
		store_set_errno(box->store, errno, "read %s", mb->path);
		close(mfd);
		free(path);
		return -1;
	}
	if ((uint64_t)m == size - base) {
		/* Only our bytes after base: truncate back. */
		if (ftruncate(mb->fd, (off_t)base) < 0 ||
		    (box->store->set.fsync && fsync(mb->fd) < 0)) {
			store_set_errno(box->store, errno, "truncate %s",
					mb->path);
			close(mfd);
			free(path);
			return -1;
		}
		log_warn("mbox %s: removed an interrupted append (%llu of "
			 "%llu bytes at %llu)", mb->path,
			 (unsigned long long)(size - base),
			 (unsigned long long)len, (unsigned long long)base);
		*truncated = true;
		goto drop;
	}
	/* Mail came after the crash: cut out only our bytes, with the
	 * expunge engine (journalled, so a kill now is recovered too). */
	cut = foreign_start(mb->fd, base, base + (uint64_t)m, size);
	if (cut == 0) {
		log_warn("mbox %s: an interrupted append at %llu is followed "
			 "by data that is not mail; left as it is", mb->path,
			 (unsigned long long)base);
		goto drop;
	}
	range.from = base;
	range.to = cut;
	if (mbox_expunge_compact(box, &range, 1, size, &final) < 0) {
		close(mfd);
		free(path);
		return -1;
	}
	mbox_expunge_done(box);
	log_warn("mbox %s: removed an interrupted append (%llu bytes at %llu) "
		 "from before mail delivered after it", mb->path,
		 (unsigned long long)(cut - base), (unsigned long long)base);
	*truncated = true;
drop:
	close(mfd);
	if (unlink(path) < 0 && errno != ENOENT)
		log_warn("mbox: cannot remove %s: %m", path);
	free(path);
	return 0;
}
