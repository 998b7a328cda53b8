/*
 * mbox expunge: in-place compaction of an mbox, journalled so that a
 * kill -9 at any point leaves the old or the new mailbox after the next
 * lock (never a torn one), and mail appended meanwhile is kept.
 *
 * Why in place: the spool (root:mail 2775) lets the user rewrite her
 * file but not create one beside it, and programs that keep the file
 * open (mutt, MDAs that locked it, other sessions) would go on writing
 * to an unlinked inode after a rename. Since Moat never adds headers,
 * compaction only shrinks the file, so it never needs new blocks: the
 * only place ENOSPC can strike is the side copy, before the mbox is
 * touched.
 *
 * Procedure (doc/design.md "mbox", research notes §4), write-locked:
 *  1. start = the first removed byte, final = the new size. Copy every
 *     kept byte after start to a side file in the index directory
 *     (a header with the journal record, then the data), hashing, in
 *     the same pass, the side data, the old [start, final) ("head") and
 *     the old [final, size) ("tail"); fsync. ENOSPC: remove it, done.
 *  2. Journal record {mailbox, dev, ino, start, size, final, the three
 *     SHA-256 hashes} in the index, IDX_TXN_SYNC.
 *  3. Write the side data over [start, final); truncate to final; fsync.
 *  4. (Caller) record the expunges and the moved offsets in the index;
 *     then remove the journal and the side file.
 *
 * Recovery (every sync that sees the file changed, and every write
 * lock, checks for a side file: a stat): from the journal (or the side
 * file's own copy of it when the index was lost),
 *  - the tail still there and the head too: nothing was written yet:
 *    roll back (drop journal and side file);
 *  - the tail still there, the head not: the rewrite was interrupted:
 *    redo step 3 (idempotent). Mail appended after the crash, at
 *    [size, EOF), is first added to the side data and the plan grows
 *    (a new journal record), so the redo moves it down too;
 *  - the tail gone and [start, final) equals the side data: step 3 was
 *    done (anything after final is mail appended since): clean up;
 *  - anything else: another program rewrote the file after the crash;
 *    nothing is touched, the side file is kept and the error logged.
 * The index is then brought in line by a full rescan (fingerprints).
 *
 * Callers: mbox.c (EXPUNGE, and recovery under its locks). Inputs: the
 * ranges mbox.c computed from a fresh scan; the journal record and the
 * side file are ours, but are checked (lengths, hashes) before use.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fdio.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/sha256.h"
#include "core/str.h"
#include "storage/mbox-private.h"

int mbox_expunge_crash_at;
int mbox_recover_crash_at;

#define COPY_CHUNK (1024 * 1024)
#define SIDE_HDR 256
#define SIDE_MAGIC "MOATMBXJ"
#define HASH_LEN 32

#define JREC_V1 1
#define JREC_NO_ROLLBACK 0x01u   /* the head hash no longer applies */
#define JREC_LEN (1 + 1 + 4 + 5 * 8 + 3 * HASH_LEN)

struct jrec {
	uint8_t flags;
	uint32_t id;
	uint64_t dev, ino, start, old_size, final;
	uint8_t side_hash[HASH_LEN];
	uint8_t head_hash[HASH_LEN];
	uint8_t tail_hash[HASH_LEN];
};

static void
crash_point(int *hook, int step)
{
	if (*hook == step)
		raise(SIGKILL);
}

/* ---- the journal record ---------------------------------------------- */

static size_t
jrec_encode(const struct jrec *j, uint8_t *out)
{
	struct buf *b = buf_new(JREC_LEN);
	size_t n;

	buf_put_u8(b, JREC_V1);
	buf_put_u8(b, j->flags);
	buf_put_u32(b, j->id);
	buf_put_u64(b, j->dev);
	buf_put_u64(b, j->ino);
	buf_put_u64(b, j->start);
	buf_put_u64(b, j->old_size);
	buf_put_u64(b, j->final);
	buf_append(b, j->side_hash, HASH_LEN);
	buf_append(b, j->head_hash, HASH_LEN);
	buf_append(b, j->tail_hash, HASH_LEN);
	n = buf_len(b);
	memcpy(out, buf_data(b), n);
	buf_free(&b);
	return n;
}

static bool
jrec_decode(const uint8_t *p, size_t len, struct jrec *j)
{
	struct rd r;
	uint8_t v;
	const uint8_t *h;

	rd_init(&r, p, len);
	if (rd_get_u8(&r, &v) < 0 || v != JREC_V1 ||
	    rd_get_u8(&r, &j->flags) < 0 || rd_get_u32(&r, &j->id) < 0 ||
	    rd_get_u64(&r, &j->dev) < 0 || rd_get_u64(&r, &j->ino) < 0 ||
	    rd_get_u64(&r, &j->start) < 0 ||
	    rd_get_u64(&r, &j->old_size) < 0 ||
	    rd_get_u64(&r, &j->final) < 0)
		return false;
	if (rd_get_bytes(&r, &h, HASH_LEN) < 0)
		return false;
	memcpy(j->side_hash, h, HASH_LEN);
	if (rd_get_bytes(&r, &h, HASH_LEN) < 0)
		return false;
	memcpy(j->head_hash, h, HASH_LEN);
	if (rd_get_bytes(&r, &h, HASH_LEN) < 0)
		return false;
	memcpy(j->tail_hash, h, HASH_LEN);
	/* start <= final <= old_size, and sizes a file can have. */
	return rd_empty(&r) && j->start <= j->final &&
	    j->final <= j->old_size && j->old_size <= INT64_MAX;
}

static void
journal_key(uint32_t id, uint8_t key[17])
{
	memcpy(key, "mbox-expunge:", 13);
	key[13] = (uint8_t)(id >> 24);
	key[14] = (uint8_t)(id >> 16);
	key[15] = (uint8_t)(id >> 8);
	key[16] = (uint8_t)id;
}

struct jctx {
	uint8_t key[17];
	uint8_t val[JREC_LEN];
	size_t len;
	bool found;
};

static int
j_put(struct idx_txn *txn, void *c)
{
	struct jctx *j = c;

	return idx_journal_put(txn, j->key, sizeof(j->key), j->val, j->len);
}

static int
j_get(struct idx_txn *txn, void *c)
{
	struct jctx *j = c;
	int r;

	j->found = false;
	r = idx_journal_get(txn, j->key, sizeof(j->key), j->val,
			    sizeof(j->val), &j->len);
	if (r == IDX_NOTFOUND || r == IDX_LIMIT)
		return IDX_OK;   /* none; a foreign-sized value is no record */
	if (r == IDX_OK)
		j->found = true;
	return r;
}

static int
j_del(struct idx_txn *txn, void *c)
{
	struct jctx *j = c;
	int r = idx_journal_delete(txn, j->key, sizeof(j->key));

	return r == IDX_NOTFOUND ? IDX_OK : r;
}

static int
journal_put(struct mailbox *box, const struct jrec *jr)
{
	struct jctx j;
	int r;

	journal_key(box->id, j.key);
	j.len = jrec_encode(jr, j.val);
	r = idx_txn_run(box->store->env, IDX_TXN_SYNC, j_put, &j);
	if (r != IDX_OK) {
		store_set_idx_error(box->store, r, "mbox expunge journal");
		return -1;
	}
	return 0;
}

/* 1 found, 0 none, -1 index error. */
static int
journal_get(struct mailbox *box, struct jrec *jr)
{
	struct jctx j;
	int r;

	journal_key(box->id, j.key);
	r = idx_txn_run(box->store->env, IDX_TXN_READ, j_get, &j);
	if (r != IDX_OK) {
		store_set_idx_error(box->store, r, "mbox expunge journal");
		return -1;
	}
	if (!j.found)
		return 0;
	if (!jrec_decode(j.val, j.len, jr) || jr->id != box->id) {
		log_error("mbox %s: invalid expunge journal record ignored",
			  ((struct mbox_box *)box->be)->path);
		return 0;
	}
	return 1;
}

static void
journal_delete(struct mailbox *box)
{
	struct jctx j;
	int r;

	journal_key(box->id, j.key);
	r = idx_txn_run(box->store->env, 0, j_del, &j);
	if (r != IDX_OK)
		log_warn("mbox %s: cannot remove the expunge journal: %s",
			 ((struct mbox_box *)box->be)->path, idx_strerror(r));
}

/* ---- file helpers ------------------------------------------------------ */

/* The three hashes of one compaction live on the heap so the error
 * paths can free whichever exist (lib/core/sha256.h: no libcrypto in the
 * session). */
static struct sha256 *
sha_new(void)
{
	struct sha256 *c = xmalloc(sizeof(*c));

	sha256_init(c);
	return c;
}

static void
sha_update(struct sha256 *c, const void *p, size_t n)
{
	sha256_update(c, p, n);
}

static void
sha_final(struct sha256 **c, uint8_t out[HASH_LEN])
{
	sha256_final(*c, out);
	free(*c);
	*c = NULL;
}

/* SHA-256 of [from, to) of fd. */
static int
hash_range(int fd, uint64_t from, uint64_t to, char *buf,
	   struct mbox_lock *lock, uint8_t out[HASH_LEN])
{
	struct sha256 *c = sha_new();

	while (from < to) {
		size_t n = to - from > COPY_CHUNK ? COPY_CHUNK :
		    (size_t)(to - from);

		if (fd_pread_full(fd, buf, n, from) < 0) {
			free(c);
			return -1;
		}
		sha_update(c, buf, n);
		from += n;
		if (lock != NULL)
			mbox_lock_touch(lock);
	}
	sha_final(&c, out);
	return 0;
}

static int
sync_file(const struct store *s, int fd)
{
	if (!s->set.fsync)
		return 0;
	return fdatasync(fd);
}

char *
mbox_side_path(const struct store *s, uint32_t id)
{
	return xasprintf("%s/mbox-expunge-%u.side", s->set.index_dir, id);
}

/* Writes the header (magic, record) of side file fd. */
static int
side_header(int fd, const struct jrec *jr)
{
	uint8_t h[SIDE_HDR];
	size_t n;

	memset(h, 0, sizeof(h));
	memcpy(h, SIDE_MAGIC, 8);
	n = jrec_encode(jr, h + 10);
	h[8] = (uint8_t)(n >> 8);
	h[9] = (uint8_t)n;
	return fd_pwrite_full(fd, h, sizeof(h), 0);
}

static bool
side_read_header(int fd, struct jrec *jr)
{
	uint8_t h[SIDE_HDR];
	size_t n;

	if (fd_pread_full(fd, h, sizeof(h), 0) < 0 ||
	    memcmp(h, SIDE_MAGIC, 8) != 0)
		return false;
	n = (size_t)h[8] << 8 | h[9];
	return n <= SIDE_HDR - 10 && jrec_decode(h + 10, n, jr);
}

/* Copies side data [0, len) over the mbox from start. */
static int
rewrite(struct mailbox *box, int side, const struct jrec *jr, char *buf,
	int *hook, int mid_step)
{
	struct mbox_box *mb = box->be;
	uint64_t len = jr->final - jr->start, done = 0;
	/* Under the crash test, stop after half of it. */
	uint64_t chunk = *hook == mid_step && len > 1 ? len / 2 : COPY_CHUNK;

	if (chunk > COPY_CHUNK)
		chunk = COPY_CHUNK;
	while (done < len) {
		size_t n = len - done > chunk ? (size_t)chunk :
		    (size_t)(len - done);

		if (fd_pread_full(side, buf, n, SIDE_HDR + done) < 0 ||
		    fd_pwrite_full(mb->fd, buf, n, jr->start + done) < 0)
			return -1;
		done += n;
		crash_point(hook, mid_step);
		mbox_lock_touch(&mb->lock);
	}
	return 0;
}

/* ---- compaction ---------------------------------------------------------- */

int
mbox_expunge_compact(struct mailbox *box, const struct mbox_range *ranges,
		     size_t n, uint64_t size, uint64_t *final)
{
	struct store *s = box->store;
	struct mbox_box *mb = box->be;
	struct jrec jr;
	struct stat st;
	struct sha256 *hs, *hh, *ht;
	char *side_path, *buf;
	uint64_t removed = 0, pos, out = 0;
	size_t ri = 0;
	int side, e;

	if (n == 0) {
		*final = size;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (ranges[i].from >= ranges[i].to || ranges[i].to > size ||
		    (i > 0 && ranges[i].from < ranges[i - 1].to))
			log_panic("mbox expunge: bad ranges");
		removed += ranges[i].to - ranges[i].from;
	}
	if (fstat(mb->fd, &st) < 0) {
		store_set_errno(s, errno, "fstat %s", mb->path);
		return -1;
	}
	memset(&jr, 0, sizeof(jr));
	jr.id = box->id;
	jr.dev = (uint64_t)st.st_dev;
	jr.ino = (uint64_t)st.st_ino;
	jr.start = ranges[0].from;
	jr.old_size = size;
	jr.final = size - removed;

	side_path = mbox_side_path(s, box->id);
	side = open(side_path, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC |
		    O_NOFOLLOW, 0600);
	if (side < 0) {
		store_set_errno(s, errno, "create %s", side_path);
		free(side_path);
		return -1;
	}
	buf = xmalloc(COPY_CHUNK);
	hs = sha_new();
	hh = sha_new();
	ht = sha_new();
	/* One pass over [start, size): kept bytes to the side file, and
	 * the hashes that recovery tells the states apart with. */
	for (pos = jr.start; pos < size;) {
		size_t len = size - pos > COPY_CHUNK ? COPY_CHUNK :
		    (size_t)(size - pos);
		uint64_t at = pos;

		if (fd_pread_full(mb->fd, buf, len, pos) < 0)
			goto fail;
		while (at < pos + len) {
			uint64_t piece_end = pos + len;
			bool kept;

			while (ri < n && ranges[ri].to <= at)
				ri++;
			if (ri < n && at >= ranges[ri].from) {
				kept = false;
				if (ranges[ri].to < piece_end)
					piece_end = ranges[ri].to;
			} else {
				kept = true;
				if (ri < n && ranges[ri].from < piece_end)
					piece_end = ranges[ri].from;
			}
			/* Old head / old tail split at final. */
			if (at < jr.final && piece_end > jr.final)
				piece_end = jr.final;
			if (at < jr.final)
				sha_update(hh, buf + (at - pos),
					   (size_t)(piece_end - at));
			else
				sha_update(ht, buf + (at - pos),
					   (size_t)(piece_end - at));
			if (kept) {
				if (fd_pwrite_full(side, buf + (at - pos),
						(size_t)(piece_end - at),
						SIDE_HDR + out) < 0)
					goto fail;
				sha_update(hs, buf + (at - pos),
					   (size_t)(piece_end - at));
				out += piece_end - at;
			}
			at = piece_end;
		}
		pos += len;
		mbox_lock_touch(&mb->lock);
	}
	if (out != jr.final - jr.start)
		log_panic("mbox expunge: kept %llu bytes, want %llu",
			  (unsigned long long)out,
			  (unsigned long long)(jr.final - jr.start));
	sha_final(&hs, jr.side_hash);
	sha_final(&hh, jr.head_hash);
	sha_final(&ht, jr.tail_hash);
	if (side_header(side, &jr) < 0 || sync_file(s, side) < 0)
		goto fail;
	crash_point(&mbox_expunge_crash_at, 1);

	/* From here on the mbox changes; the journal says how to finish. */
	if (journal_put(box, &jr) < 0) {
		/* Not journalled, not touched: nothing to finish. */
		close(side);
		unlink(side_path);
		free(side_path);
		free(buf);
		return -1;
	}
	crash_point(&mbox_expunge_crash_at, 2);
	if (rewrite(box, side, &jr, buf, &mbox_expunge_crash_at, 3) < 0) {
		store_set_errno(s, errno, "rewrite %s", mb->path);
		goto midway;
	}
	crash_point(&mbox_expunge_crash_at, 4);
	if (ftruncate(mb->fd, (off_t)jr.final) < 0) {
		store_set_errno(s, errno, "truncate %s", mb->path);
		goto midway;
	}
	crash_point(&mbox_expunge_crash_at, 5);
	if (s->set.fsync && fsync(mb->fd) < 0) {
		store_set_errno(s, errno, "fsync %s", mb->path);
		goto midway;
	}
	close(side);
	free(side_path);
	free(buf);
	*final = jr.final;
	return 0;

fail:
	e = errno;
	if (hs != NULL)
		free(hs);
	if (hh != NULL)
		free(hh);
	if (ht != NULL)
		free(ht);
	store_set_errno(s, e, "copy to %s", side_path);
	close(side);
	unlink(side_path);
	free(side_path);
	free(buf);
	return -1;
midway:
	/* The journal and the side file stay: the next lock finishes. */
	mb->force_full = true;
	close(side);
	free(side_path);
	free(buf);
	return -1;
}

void
mbox_expunge_done(struct mailbox *box)
{
	char *side_path = mbox_side_path(box->store, box->id);

	journal_delete(box);
	if (unlink(side_path) < 0 && errno != ENOENT)
		log_warn("mbox: cannot remove %s: %m", side_path);
	free(side_path);
}

bool
mbox_expunge_pending(struct mailbox *box)
{
	char *side_path = mbox_side_path(box->store, box->id);
	struct stat st;
	bool r = lstat(side_path, &st) == 0;

	free(side_path);
	return r;
}

/* ---- recovery -------------------------------------------------------------- */

/* The side data [0, final - start) hashes to jr's side hash. */
static bool
side_valid(int side, const struct jrec *jr, char *buf)
{
	struct stat st;
	uint8_t h[HASH_LEN];
	uint64_t len = jr->final - jr->start;

	if (fstat(side, &st) < 0 || (uint64_t)st.st_size < SIDE_HDR + len)
		return false;
	if (hash_range(side, SIDE_HDR, SIDE_HDR + len, buf, NULL, h) < 0)
		return false;
	return memcmp(h, jr->side_hash, HASH_LEN) == 0;
}

static bool
region_is(int fd, uint64_t from, uint64_t to, const uint8_t want[HASH_LEN],
	  char *buf, struct mbox_lock *lock)
{
	uint8_t h[HASH_LEN];

	return hash_range(fd, from, to, buf, lock, h) == 0 &&
	    memcmp(h, want, HASH_LEN) == 0;
}

/* Mail appended at [old_size, size) after the crash: add it to the side
 * data and grow the plan, so the redo moves it down behind the kept
 * mail. The side file is cut back to the plan's length first (a crash
 * during an earlier attempt may have left more). */
static int
replan(struct mailbox *box, int side, struct jrec *jr, uint64_t size,
       char *buf)
{
	struct store *s = box->store;
	struct mbox_box *mb = box->be;
	uint64_t side_len = jr->final - jr->start, a = size - jr->old_size;
	uint64_t done = 0;

	if (ftruncate(side, (off_t)(SIDE_HDR + side_len)) < 0)
		return -1;
	while (done < a) {
		size_t n = a - done > COPY_CHUNK ? COPY_CHUNK :
		    (size_t)(a - done);

		if (fd_pread_full(mb->fd, buf, n, jr->old_size + done) < 0 ||
		    fd_pwrite_full(side, buf, n, SIDE_HDR + side_len + done) < 0)
			return -1;
		done += n;
		mbox_lock_touch(&mb->lock);
	}
	jr->final += a;
	jr->old_size = size;
	jr->flags |= JREC_NO_ROLLBACK;
	memset(jr->head_hash, 0, HASH_LEN);
	if (hash_range(side, SIDE_HDR, SIDE_HDR + (jr->final - jr->start), buf,
		       &mb->lock, jr->side_hash) < 0 ||
	    hash_range(mb->fd, jr->final, jr->old_size, buf, &mb->lock,
		       jr->tail_hash) < 0)
		return -1;
	if (sync_file(s, side) < 0)
		return -1;
	if (journal_put(box, jr) < 0)
		return -2;
	if (side_header(side, jr) < 0 || sync_file(s, side) < 0)
		return -1;
	crash_point(&mbox_recover_crash_at, 1);
	return 0;
}

static void
keep_side(struct mailbox *box, const char *side_path, const char *why)
{
	char *keep = xasprintf("%s.kept-%lld", side_path,
			       (long long)time(NULL));

	if (rename(side_path, keep) < 0)
		log_error("mbox %s: cannot set %s aside: %m",
			  ((struct mbox_box *)box->be)->path, side_path);
	log_error("mbox %s: interrupted expunge not recovered (%s); the "
		  "mbox is left as it is, the copy of its kept mail is in %s",
		  ((struct mbox_box *)box->be)->path, why, keep);
	free(keep);
	journal_delete(box);
}

int
mbox_expunge_recover(struct mailbox *box, bool *recovered)
{
	struct store *s = box->store;
	struct mbox_box *mb = box->be;
	char *side_path = mbox_side_path(s, box->id), *buf = NULL;
	struct jrec jr, hdr;
	struct stat st;
	int side, have, ret = -1;
	bool side_ok, tail_ok, hdr_ok;

	*recovered = false;
	have = journal_get(box, &jr);
	if (have < 0) {
		free(side_path);
		return -1;
	}
	side = open(side_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (side < 0 && errno != ENOENT) {
		store_set_errno(s, errno, "open %s", side_path);
		free(side_path);
		return -1;
	}
	hdr_ok = side >= 0 && side_read_header(side, &hdr) &&
	    hdr.id == box->id;
	if (have == 0 && hdr_ok) {
		/* The index lost its record (rebuilt): the side file's own
		 * copy tells the plan. */
		jr = hdr;
		have = 1;
	}
	if (have == 0) {
		/* A side file without a plan: written before its journal
		 * record, so the mbox was never touched. */
		if (side >= 0) {
			close(side);
			unlink(side_path);
		}
		free(side_path);
		return 0;
	}
	*recovered = true;
	mb->force_full = true;
	buf = xmalloc(COPY_CHUNK);
	if (fstat(mb->fd, &st) < 0) {
		store_set_errno(s, errno, "fstat %s", mb->path);
		goto out;
	}
	if ((uint64_t)st.st_dev != jr.dev || (uint64_t)st.st_ino != jr.ino) {
		if (side >= 0)
			close(side);
		side = -1;
		keep_side(box, side_path, "the mbox was replaced");
		ret = 0;
		goto out;
	}
	side_ok = side >= 0 && side_valid(side, &jr, buf);
	tail_ok = (uint64_t)st.st_size >= jr.old_size &&
	    region_is(mb->fd, jr.final, jr.old_size, jr.tail_hash, buf,
		      &mb->lock);
	if (tail_ok && !(jr.flags & JREC_NO_ROLLBACK) &&
	    region_is(mb->fd, jr.start, jr.final, jr.head_hash, buf,
		      &mb->lock)) {
		/* Untouched: the expunge did not happen (its client got no
		 * OK). */
		log_info("mbox %s: interrupted expunge rolled back",
			 mb->path);
		mbox_expunge_done(box);
		ret = 0;
		goto out;
	}
	if (!side_ok) {
		if (side >= 0)
			close(side);
		side = -1;
		keep_side(box, side_path, "the side copy is incomplete");
		store_set_error(s, STORE_ERR_SERVERBUG,
				"mbox %s: interrupted expunge cannot be "
				"recovered", mb->path);
		goto out;
	}
	if (!tail_ok) {
		if ((uint64_t)st.st_size >= jr.final &&
		    region_is(mb->fd, jr.start, jr.final, jr.side_hash, buf,
			      &mb->lock)) {
			log_info("mbox %s: interrupted expunge was complete",
				 mb->path);
			mbox_expunge_done(box);
			ret = 0;
		} else {
			close(side);
			side = -1;
			keep_side(box, side_path,
				  "another program changed the mbox since");
			ret = 0;
		}
		goto out;
	}
	/* Roll forward. */
	if ((uint64_t)st.st_size > jr.old_size) {
		int r = replan(box, side, &jr, (uint64_t)st.st_size, buf);

		if (r < 0) {
			if (r == -1)
				store_set_errno(s, errno, "recover %s",
						mb->path);
			goto out;
		}
	}
	if (rewrite(box, side, &jr, buf, &mbox_recover_crash_at, 2) < 0 ||
	    ftruncate(mb->fd, (off_t)jr.final) < 0 ||
	    (s->set.fsync && fsync(mb->fd) < 0)) {
		store_set_errno(s, errno, "recover %s", mb->path);
		goto out;
	}
	log_info("mbox %s: interrupted expunge finished", mb->path);
	close(side);
	side = -1;
	mbox_expunge_done(box);
	ret = 0;
out:
	if (side >= 0)
		close(side);
	free(buf);
	free(side_path);
	return ret;
}

/* After the index was lost, the side file of an interrupted expunge
 * may sit in its directory under the old mailbox id, or set aside by
 * the index rebuild as *.broken-<time>. Its header names the mbox by
 * device and inode: adopt the one that is ours, under our new id. */
void
mbox_expunge_adopt(struct mailbox *box)
{
	struct store *s = box->store;
	struct mbox_box *mb = box->be;
	char *mine = mbox_side_path(s, box->id);
	struct stat st, me;
	struct dirent *de;
	DIR *d;

	if (mb->fd < 0 || fstat(mb->fd, &me) < 0 || lstat(mine, &st) == 0 ||
	    (d = opendir(s->set.index_dir)) == NULL) {
		free(mine);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		struct jrec jr;
		char *p;
		int fd;
		bool ours;

		if (strncmp(de->d_name, "mbox-expunge-", 13) != 0 ||
		    strstr(de->d_name, ".side") == NULL)
			continue;
		p = xasprintf("%s/%s", s->set.index_dir, de->d_name);
		fd = open(p, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		ours = fd >= 0 && side_read_header(fd, &jr) &&
		    jr.dev == (uint64_t)me.st_dev &&
		    jr.ino == (uint64_t)me.st_ino;
		if (ours) {
			jr.id = box->id;
			if (side_header(fd, &jr) == 0 && fsync(fd) == 0 &&
			    rename(p, mine) == 0)
				log_info("mbox %s: found the side file of an "
					 "interrupted expunge (%s)", mb->path,
					 de->d_name);
		}
		if (fd >= 0)
			close(fd);
		free(p);
		if (ours)
			break;
	}
	closedir(d);
	free(mine);
}
