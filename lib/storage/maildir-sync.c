/*
 * maildir-sync: bringing the index in line with a Maildir folder.
 *
 * Change detection: the mailbox stamp keeps the nanosecond mtimes of
 * new/ and cur/ as they were before the last scan. If both are
 * unchanged and older than one second, nothing changed and no directory
 * is read (a warm SELECT costs two fstat calls). Within the second the
 * mtime cannot tell two changes apart (ext4 takes it from a coarse
 * clock; other file systems keep whole seconds), so the folder is always
 * scanned then, and a scan that saw such a young mtime is not trusted
 * once it settles either: the next sync scans once more (a change right
 * after that scan, in the same tick, kept the mtime it had seen).
 *
 * A scan loads the index records first, then reads new/ and cur/, and
 * matches file names to records by base name. Matched: the name's flags
 * are the truth (an external flag change is imported, unless a STORE
 * by another session committed meanwhile: seen_modseq). Unmatched
 * files are new mail: they get UIDs in (delivery time, name) order, in
 * SYNC transactions of at most 5000. Unmatched records are vanished
 * files, but readdir(3) may skip an entry that another program renames
 * during the scan, so a record is dropped only if its last name is gone
 * from both directories and the directories did not change during the
 * scan; otherwise the folder is scanned again, at most MD_RETRIES times.
 *
 * SELECT (not EXAMINE) moves new/ files to cur/ (":2," added), as the
 * Maildir specification asks of a reader that has seen them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/siphash.h"
#include "core/str.h"
#include "storage/maildir-private.h"

#define STAMP_VERSION 1
#define STAMP_LEN 42
#define STAMP_NEW_LEFT 0x01u
/* The scan saw an mtime younger than a second: a change made right
 * after it, in the same clock tick, left that mtime as it was, so the
 * first sync after it settled reads the folder once more. */
#define STAMP_UNSETTLED 0x02u
/* The mtimes are those after this session's own rename (md_own_end),
 * not a scan's: a command's sync need not read the folder for them. */
#define STAMP_OWN 0x04u
#define NEW_PER_COMMIT 5000
#define TMP_SCAN_SECS (8 * 3600)

struct ent {
	uint32_t off;            /* name in the arena */
	uint16_t len, blen;      /* name, base */
	bool in_new, dup, skip;
	int32_t rec;             /* matched record, -1 */
	int32_t dup_of;          /* the entry with the same base, if dup */
	uint32_t uid_req;        /* from a foreign UID list */
	uint64_t ino;
	uint64_t time;           /* delivery time from the name */
};

struct scan {
	struct mailbox *box;
	ARRAY(char) arena;
	ARRAY(struct ent) ents;
	const struct store_rec *recs;
	size_t n_recs;
	bool *rmatched;
	uint16_t *rblen;         /* base length of each record's name */
	ARRAY(uint32_t) vanish;  /* record indices */
	bool missed;             /* a record's file exists after all */
};

struct stamp {
	uint8_t flags;
	struct timespec new_m, cur_m;
	int64_t tmp_clean;
};

static void
be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t
get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void
stamp_encode(const struct stamp *st, uint8_t *p)
{
	p[0] = STAMP_VERSION;
	p[1] = st->flags;
	be64(p + 2, (uint64_t)st->new_m.tv_sec);
	be64(p + 10, (uint64_t)st->new_m.tv_nsec);
	be64(p + 18, (uint64_t)st->cur_m.tv_sec);
	be64(p + 26, (uint64_t)st->cur_m.tv_nsec);
	be64(p + 34, (uint64_t)st->tmp_clean);
}

static bool
stamp_decode(const uint8_t *p, size_t len, struct stamp *st)
{
	memset(st, 0, sizeof(*st));
	if (p == NULL || len != STAMP_LEN || p[0] != STAMP_VERSION)
		return false;
	st->flags = p[1];
	st->new_m.tv_sec = (time_t)get64(p + 2);
	st->new_m.tv_nsec = (long)get64(p + 10);
	st->cur_m.tv_sec = (time_t)get64(p + 18);
	st->cur_m.tv_nsec = (long)get64(p + 26);
	st->tmp_clean = (int64_t)get64(p + 34);
	return true;
}

static bool
ts_eq(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* Older than one second: a later change would give another mtime. */
static bool
ts_settled(const struct timespec *m, const struct timespec *now)
{
	int64_t d = ((int64_t)now->tv_sec - (int64_t)m->tv_sec) *
		    1000000000LL + (now->tv_nsec - m->tv_nsec);

	return d > 1000000000LL;
}

/* ---- reading the directories ------------------------------------------- */

static int
read_dir(struct scan *sc, int dirfd, bool in_new)
{
	int fd = dup(dirfd);
	struct dirent *de;
	size_t too_long = 0;
	DIR *d;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	rewinddir(d);
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name), bl;
		struct ent e;

		if (de->d_name[0] == '.')
			continue;
		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;	/* directories, symlinks, fifos */
		if (de->d_type == DT_UNKNOWN) {
			/* a file system without d_type: ask */
			struct stat st;

			if (fstatat(dirfd, de->d_name, &st,
				    AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISREG(st.st_mode))
				continue;
		}
		if (len > MD_BLOB_NAME_MAX) {
			too_long++;
			continue;
		}
		bl = maildir_name_base_len(de->d_name, len);
		if (bl == 0)
			continue;
		memset(&e, 0, sizeof(e));
		e.off = (uint32_t)sc->arena.n;
		e.len = (uint16_t)len;
		e.blen = (uint16_t)bl;
		e.in_new = in_new;
		e.rec = -1;
		e.ino = de->d_ino;
		if (!maildir_name_time(de->d_name, bl, &e.time))
			e.time = UINT64_MAX;
		arr_reserve(&sc->arena, sc->arena.n + len + 1);
		memcpy(sc->arena.v + sc->arena.n, de->d_name, len + 1);
		sc->arena.n += len + 1;
		arr_push(&sc->ents, e);
		errno = 0;
	}
	{
		int e = errno;

		closedir(d);
		if (e != 0) {
			errno = e;
			return -1;
		}
	}
	if (too_long > 0)
		log_warn("store: %s: %zu file names longer than %d bytes "
			 "ignored", sc->box->name, too_long, MD_BLOB_NAME_MAX);
	return 0;
}

static const char *
ent_name(const struct scan *sc, const struct ent *e)
{
	return sc->arena.v + e->off;
}

static const char *
rec_name(const struct store_rec *r, size_t *len, size_t *blen)
{
	const char *n = (const char *)r->blob + 1;

	*len = r->blob_len > 0 ? r->blob_len - 1U : 0;
	*blen = maildir_name_base_len(n, *len);
	return n;
}

static int
cmp_new(const void *x, const void *y, void *ctx)
{
	const struct scan *sc = ctx;
	const struct ent *a = &sc->ents.v[*(const uint32_t *)x];
	const struct ent *b = &sc->ents.v[*(const uint32_t *)y];

	/* UIDs from a foreign list first, in UID order */
	if ((a->uid_req != 0) != (b->uid_req != 0))
		return a->uid_req != 0 ? -1 : 1;
	if (a->uid_req != b->uid_req)
		return a->uid_req < b->uid_req ? -1 : 1;
	if (a->time != b->time)
		return a->time < b->time ? -1 : 1;
	return strcmp(ent_name(sc, a), ent_name(sc, b));
}

static int
cmp_ino(const void *x, const void *y, void *ctx)
{
	const struct scan *sc = ctx;
	uint64_t a = sc->ents.v[*(const uint32_t *)x].ino;
	uint64_t b = sc->ents.v[*(const uint32_t *)y].ino;

	return a < b ? -1 : a > b ? 1 : 0;
}

static void
scan_reset(struct scan *sc)
{
	sc->arena.n = 0;
	sc->ents.n = 0;
	sc->vanish.n = 0;
	sc->missed = false;
	free(sc->rmatched);
	sc->rmatched = NULL;
	free(sc->rblen);
	sc->rblen = NULL;
}

static void
scan_free(struct scan *sc)
{
	scan_reset(sc);
	arr_free(&sc->arena);
	arr_free(&sc->ents);
	arr_free(&sc->vanish);
}

/* Open-addressing table of base names (keyed SipHash: the names are
 * other programs'). Slots hold index + 1, 0 is empty. */
struct btab {
	uint32_t *slot;
	size_t mask;
	uint8_t key[SIPHASH_KEY_LEN];
};

static void
btab_init(struct btab *t, size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n + 2)
		cap <<= 1;
	t->slot = xcalloc(cap, sizeof(uint32_t));
	t->mask = cap - 1;
	rand_bytes(t->key, sizeof(t->key));
}

static void
btab_free(struct btab *t)
{
	free(t->slot);
	t->slot = NULL;
}

/* The slot for base: holding it (*found) or the empty one to use. */
static uint32_t *
btab_find(struct btab *t, const char *base, size_t len,
	  const char *(*name_of)(void *ctx, uint32_t i, size_t *blen),
	  void *ctx, bool *found)
{
	size_t i = (size_t)siphash24(t->key, base, len) & t->mask;

	for (;; i = (i + 1) & t->mask) {
		const char *n;
		size_t bl;

		if (t->slot[i] == 0) {
			*found = false;
			return &t->slot[i];
		}
		n = name_of(ctx, t->slot[i] - 1, &bl);
		if (bl == len && memcmp(n, base, len) == 0) {
			*found = true;
			return &t->slot[i];
		}
	}
}

static const char *
rec_base_of(void *ctx, uint32_t i, size_t *blen)
{
	const struct scan *sc = ctx;

	*blen = sc->rblen[i];
	return (const char *)sc->recs[i].blob + 1;
}

static const char *
ent_base_of(void *ctx, uint32_t i, size_t *blen)
{
	const struct scan *sc = ctx;

	*blen = sc->ents.v[i].blen;
	return ent_name(sc, &sc->ents.v[i]);
}

/* Phase 1: read and classify, no side effects. cur/ is read first, so
 * of two files with one base the one in cur/ is the message. */
static int
classify(struct scan *sc)
{
	struct maildir_box *mb = md_box(sc->box);
	struct btab rt, et;

	if (read_dir(sc, mb->cur_fd, false) < 0 ||
	    read_dir(sc, mb->new_fd, true) < 0) {
		store_set_errno(sc->box->store, errno, "%s: readdir",
				sc->box->name);
		return -1;
	}
	sc->rmatched = xcalloc(sc->n_recs + 1, sizeof(bool));
	sc->rblen = xcalloc(sc->n_recs + 1, sizeof(uint16_t));
	btab_init(&rt, sc->n_recs);
	for (size_t k = 0; k < sc->n_recs; k++) {
		size_t len, bl;
		const char *n = rec_name(&sc->recs[k], &len, &bl);
		bool found;
		uint32_t *slot;

		sc->rblen[k] = (uint16_t)bl;
		if (bl == 0)
			continue;
		slot = btab_find(&rt, n, bl, rec_base_of, sc, &found);
		if (!found)
			*slot = (uint32_t)k + 1;
	}
	btab_init(&et, sc->ents.n);
	for (size_t k = 0; k < sc->ents.n; k++) {
		struct ent *e = &sc->ents.v[k];
		const char *n = ent_name(sc, e);
		bool found;
		uint32_t *slot = btab_find(&et, n, e->blen, ent_base_of, sc,
					   &found);

		if (found) {
			e->dup = true;
			e->dup_of = (int32_t)(*slot - 1);
			continue;
		}
		*slot = (uint32_t)k + 1;
		slot = btab_find(&rt, n, e->blen, rec_base_of, sc, &found);
		if (found && !sc->rmatched[*slot - 1]) {
			e->rec = (int32_t)(*slot - 1);
			sc->rmatched[*slot - 1] = true;
		}
	}
	btab_free(&rt);
	btab_free(&et);
	/* Two names with one base: a file renamed while readdir ran is
	 * seen under its old and its new name. Only two files that both
	 * exist, as different inodes, are two messages. */
	for (size_t k = 0; k < sc->ents.n; k++) {
		struct ent *e = &sc->ents.v[k], *f;
		struct stat se, sf;
		bool he, hf;

		if (!e->dup)
			continue;
		f = &sc->ents.v[e->dup_of];
		he = fstatat(e->in_new ? mb->new_fd : mb->cur_fd,
			     ent_name(sc, e), &se, AT_SYMLINK_NOFOLLOW) == 0;
		hf = fstatat(f->in_new ? mb->new_fd : mb->cur_fd,
			     ent_name(sc, f), &sf, AT_SYMLINK_NOFOLLOW) == 0;
		if (he && hf && (se.st_ino != sf.st_ino ||
				 se.st_dev != sf.st_dev))
			continue;	/* a real second file */
		e->dup = false;
		if (he && !hf && !f->skip) {
			/* the new name is the message */
			e->rec = f->rec;
			f->rec = -1;
			f->skip = true;
		} else {
			e->skip = true;
			if (!he && !hf)
				sc->missed = true;
		}
	}
	for (size_t k = 0; k < sc->n_recs; k++) {
		char name[MD_BLOB_NAME_MAX + 1];
		struct stat st;
		unsigned bits;

		if (sc->rmatched[k])
			continue;
		if (md_blob_name(sc->recs[k].blob, sc->recs[k].blob_len, &bits,
				 name) &&
		    (fstatat(mb->cur_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
		     fstatat(mb->new_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0))
			sc->missed = true;	/* readdir skipped it */
		arr_push(&sc->vanish, (uint32_t)k);
	}
	return 0;
}

static const char *
cand_base_of(void *ctx, uint32_t i, size_t *blen)
{
	const struct scan *sc = ctx;
	uint32_t r = sc->vanish.v[i];

	*blen = sc->rblen[r];
	return (const char *)sc->recs[r].blob + 1;
}

/* Reads new/ and cur/ again looking only for the bases of the records
 * that seem gone; those found (under any name) stay. */
static int
look_again(struct scan *sc)
{
	struct maildir_box *mb = md_box(sc->box);
	bool *seen = xcalloc(sc->vanish.n, sizeof(bool));
	int dirs[2] = { mb->cur_fd, mb->new_fd };
	struct btab ct;
	size_t w = 0;
	int ret = 0;

	btab_init(&ct, sc->vanish.n);
	for (size_t k = 0; k < sc->vanish.n; k++) {
		size_t bl;
		const char *n = cand_base_of(sc, (uint32_t)k, &bl);
		bool found;
		uint32_t *slot = btab_find(&ct, n, bl, cand_base_of, sc,
					   &found);

		if (!found)
			*slot = (uint32_t)k + 1;
	}
	sc->missed = false;
	for (int d = 0; d < 2 && ret == 0; d++) {
		int fd = dup(dirs[d]);
		struct dirent *de;
		DIR *dir;

		if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
			if (fd >= 0)
				close(fd);
			ret = -1;
			break;
		}
		rewinddir(dir);
		while ((de = readdir(dir)) != NULL) {
			size_t len = strlen(de->d_name), bl;
			bool found;
			uint32_t *slot;

			if (de->d_name[0] == '.')
				continue;
			bl = maildir_name_base_len(de->d_name, len);
			slot = btab_find(&ct, de->d_name, bl, cand_base_of, sc,
					 &found);
			if (found)
				seen[*slot - 1] = true;
		}
		closedir(dir);
	}
	if (ret < 0)
		store_set_errno(sc->box->store, errno, "%s: readdir",
				sc->box->name);
	for (size_t k = 0; k < sc->vanish.n; k++)
		if (!seen[k])
			sc->vanish.v[w++] = sc->vanish.v[k];
	sc->vanish.n = w;
	btab_free(&ct);
	free(seen);
	return ret;
}

/* Moves a new/ file to cur/ with an info part; name is updated. */
static bool
move_to_cur(struct mailbox *box, char *name)
{
	struct maildir_box *mb = md_box(box);
	struct buf *nn = buf_new(MAILDIR_NAME_MAX + 1);
	struct maildir_name mn;
	bool ok = false;

	if (maildir_name_parse(name, strlen(name), &mn) < 0)
		goto out;
	if (!mn.flags_valid) {
		struct maildir_name n;

		maildir_name_init(&n, mn.base, mn.base_len);
		if (maildir_name_build(&n, nn) < 0)
			goto out;
	} else if (maildir_name_build(&mn, nn) < 0) {
		goto out;
	}
	if (renameat(mb->new_fd, name, mb->cur_fd, buf_str(nn)) < 0)
		goto out;
	str_copy(name, buf_str(nn), MAILDIR_NAME_MAX + 1);
	ok = true;
out:
	buf_free(&nn);
	return ok;
}

/* A second file with a known base (a copy another program made, or a
 * race): it gets a base of its own and becomes a new message. */
static bool
rebase_dup(struct mailbox *box, struct ent *e, char *name)
{
	struct maildir_box *mb = md_box(box);
	struct maildir_store *ms = box->store->be_data;
	struct buf *base = buf_new(MAILDIR_NAME_MAX + 1);
	struct buf *nn = buf_new(MAILDIR_NAME_MAX + 1);
	struct maildir_name mn, n;
	struct timespec now;
	bool ok = false;

	clock_gettime(CLOCK_REALTIME, &now);
	if (maildir_name_parse(name, strlen(name), &mn) < 0 ||
	    maildir_name_new_base(base, (uint64_t)now.tv_sec,
				  (uint32_t)(now.tv_nsec / 1000),
				  (uint32_t)getpid(), ++ms->seq,
				  ms->host) < 0)
		goto out;
	n = mn;
	if (!mn.flags_valid)
		maildir_name_init(&n, NULL, 0);
	n.base = buf_str(base);
	n.base_len = buf_len(base);
	if (maildir_name_build(&n, nn) < 0 ||
	    renameat(e->in_new ? mb->new_fd : mb->cur_fd, name, mb->cur_fd,
		     buf_str(nn)) < 0)
		goto out;
	log_info("store: %s: %s had the base of another message; now %s",
		 box->name, name, buf_str(nn));
	str_copy(name, buf_str(nn), MAILDIR_NAME_MAX + 1);
	e->in_new = false;
	e->time = (uint64_t)now.tv_sec;
	ok = true;
out:
	buf_free(&base);
	buf_free(&nn);
	return ok;
}

static void
clean_tmp(struct mailbox *box)
{
	struct maildir_box *mb = md_box(box);
	int fd = dup(mb->tmp_fd);
	time_t now = time(NULL);
	struct dirent *de;
	DIR *d;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if (fstatat(mb->tmp_fd, de->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
		    st.st_ctime + MD_TMP_MAX_AGE < now)
			(void)unlinkat(mb->tmp_fd, de->d_name, 0);
	}
	closedir(d);
}

struct newrep {
	ARRAY(char *) names;     /* names of reported new messages */
};

/* Phase 2: act on the files and report. */
static int
act(struct scan *sc, struct store_txn *t, const struct stamp *pre,
    struct md_uidmap *umap, struct newrep *nr)
{
	struct mailbox *box = sc->box;
	struct maildir_box *mb = md_box(box);
	bool readonly = store_txn_readonly(t);
	ARRAY(uint32_t) news = ARRAY_INIT, stats = ARRAY_INIT;
	struct stat *stv = NULL;
	bool new_left = false, raised = false;
	uint64_t lettered;
	size_t reported = 0;
	int ret = -1;

	if (md_keywords_read(box) < 0 || md_kwmap(box, t) < 0)
		return -1;
	lettered = md_lettered_kw(mb);
	for (size_t i = 0; i < sc->ents.n; i++) {
		struct ent *e = &sc->ents.v[i];
		char name[MAILDIR_NAME_MAX + 1];
		const struct store_rec *r;
		struct maildir_name mn;
		char oname[MD_BLOB_NAME_MAX + 1];
		uint8_t blob[IDX_BLOB_MAX];
		unsigned bits = 0, ff = 0;
		uint64_t kw;
		size_t blen;

		if (e->skip)
			continue;
		memcpy(name, ent_name(sc, e), e->len + 1U);
		if (e->dup) {
			if (readonly || !rebase_dup(box, e, name)) {
				e->skip = true;
				continue;
			}
			/* the arena keeps the old name: store the new one */
			e->off = (uint32_t)sc->arena.n;
			e->len = (uint16_t)strlen(name);
			e->blen = (uint16_t)maildir_name_base_len(name, e->len);
			arr_reserve(&sc->arena, sc->arena.n + e->len + 1U);
			memcpy(sc->arena.v + sc->arena.n, name, e->len + 1U);
			sc->arena.n += e->len + 1U;
			e->dup = false;
		}
		if (e->rec < 0) {
			if (umap != NULL)
				e->uid_req = md_uidmap_get(umap,
							   ent_name(sc, e),
							   e->blen);
			arr_push(&news, (uint32_t)i);
			continue;
		}
		r = &sc->recs[e->rec];
		/* the same name in the same place: nothing changed (the
		 * index never keeps a name with other flags than its own) */
		if ((!e->in_new || readonly) && r->blob_len == e->len + 1U &&
		    memcmp(r->blob + 1, ent_name(sc, e), e->len) == 0 &&
		    !!(r->blob[0] & MD_BLOB_NEW) == e->in_new) {
			if (e->in_new)
				new_left = true;
			continue;
		}
		if (e->in_new) {
			if (readonly || !move_to_cur(box, name))
				new_left = true;
			else
				e->in_new = false;
		}
		if (maildir_name_parse(name, strlen(name), &mn) < 0)
			continue;
		if (mn.flags_valid)
			ff = md_flags_to_idx(mn.flags);
		kw = (r->keywords & ~lettered) |
		     (mn.flags_valid ? md_letters_to_kw(mb, mn.keywords) : 0);
		if (md_blob_name(r->blob, r->blob_len, &bits, oname))
			bits &= ~MD_BLOB_NEW;
		bits |= e->in_new ? MD_BLOB_NEW : 0;
		if ((blen = md_blob_make(blob, bits, name, strlen(name))) == 0)
			continue;
		if (ff != r->flags || kw != r->keywords) {
			if (store_txn_changed(t, r->uid, (uint8_t)ff, kw,
					      r->modseq, blob, blen) < 0)
				goto out;
		} else if (blen != r->blob_len ||
			   memcmp(blob, r->blob, blen) != 0) {
			if (store_txn_moved(t, r->uid, blob, blen) < 0)
				goto out;
		}
	}
	for (size_t k = 0; k < sc->vanish.n; k++)
		if (store_txn_vanished(t, sc->recs[sc->vanish.v[k]].uid) < 0)
			goto out;
	/* New mail: sizes from ",S=/W=" when there, else one stat each,
	 * in inode order (cold caches read the inode table in order). */
	store_qsort_r(news.v, news.n, sizeof(uint32_t), cmp_new, sc);
	stv = xcalloc(sc->ents.n + 1, sizeof(*stv));
	for (size_t k = 0; k < news.n; k++) {
		const struct ent *e = &sc->ents.v[news.v[k]];
		struct maildir_name mn;

		if (maildir_name_parse(ent_name(sc, e), e->len, &mn) == 0 &&
		    !mn.has_size && !mn.has_vsize)
			arr_push(&stats, news.v[k]);
	}
	store_qsort_r(stats.v, stats.n, sizeof(uint32_t), cmp_ino, sc);
	for (size_t k = 0; k < stats.n; k++) {
		struct ent *e = &sc->ents.v[stats.v[k]];

		if (fstatat(e->in_new ? mb->new_fd : mb->cur_fd,
			    ent_name(sc, e), &stv[stats.v[k]],
			    AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(stv[stats.v[k]].st_mode)) {
			memset(&stv[stats.v[k]], 0, sizeof(*stv));
			e->skip = true;
		}
	}
	for (size_t k = 0; k < news.n; k++) {
		struct ent *e = &sc->ents.v[news.v[k]];
		char name[MAILDIR_NAME_MAX + 1];
		struct store_txn_new m;
		struct maildir_name mn;
		uint8_t blob[IDX_BLOB_MAX];
		unsigned bits = 0;

		if (e->skip)
			continue;
		if (!raised && e->uid_req == 0 && umap != NULL) {
			(void)store_txn_uidnext(t, md_uidmap_nextuid(umap));
			raised = true;
		}
		memcpy(name, ent_name(sc, e), e->len + 1U);
		if (e->in_new) {
			if (readonly || !move_to_cur(box, name))
				new_left = true;
			else
				e->in_new = false;
		}
		if (maildir_name_parse(name, strlen(name), &mn) < 0)
			continue;
		memset(&m, 0, sizeof(m));
		m.flags = mn.flags_valid ? (uint8_t)md_flags_to_idx(mn.flags)
					 : 0;
		m.keywords = mn.flags_valid ?
			     md_letters_to_kw(mb, mn.keywords) : 0;
		m.uid = e->uid_req;
		if (stv[news.v[k]].st_nlink > 0) {
			m.internaldate = (int64_t)stv[news.v[k]].st_mtime;
			m.size = (uint64_t)stv[news.v[k]].st_size;
			bits |= MD_BLOB_DATE;
		} else {
			/* the delivery time until FETCH asks (msg_info) */
			m.internaldate = e->time != UINT64_MAX ?
					 (int64_t)e->time : 0;
		}
		if (mn.has_vsize) {
			m.size = mn.vsize;
			bits |= MD_BLOB_VSIZE;
		} else if (mn.has_size) {
			m.size = mn.size;
		}
		bits |= e->in_new ? MD_BLOB_NEW : 0;
		m.blob_len = md_blob_make(blob, bits, name, strlen(name));
		m.blob = blob;
		if (m.blob_len == 0)
			continue;
		if (store_txn_new(t, &m) < 0)
			goto out;
		arr_push(&nr->names, xstrdup(name));
		if (++reported % NEW_PER_COMMIT == 0 &&
		    store_txn_commit(t) < 0)
			goto out;
	}
	if (!raised && umap != NULL)
		(void)store_txn_uidnext(t, md_uidmap_nextuid(umap));
	{
		struct stamp st = *pre;
		uint8_t enc[STAMP_LEN];

		st.flags = (pre->flags & STAMP_UNSETTLED) |
			   (new_left ? STAMP_NEW_LEFT : 0);
		stamp_encode(&st, enc);
		if (store_txn_stamp(t, enc, sizeof(enc)) < 0)
			goto out;
	}
	ret = store_txn_commit(t);
out:
	free(stv);
	arr_free(&news);
	arr_free(&stats);
	return ret;
}

static int
stat_dirs(struct mailbox *box, struct stamp *st)
{
	struct maildir_box *mb = md_box(box);
	struct stat sn, sc;

	if (fstat(mb->new_fd, &sn) < 0 || fstat(mb->cur_fd, &sc) < 0) {
		store_set_errno(box->store, errno, "%s: stat", box->name);
		return -1;
	}
	st->new_m = sn.st_mtim;
	st->cur_m = sc.st_mtim;
	/* a folder deleted while open: its directories have no links */
	if (sn.st_nlink == 0 || sc.st_nlink == 0) {
		store_set_error(box->store, STORE_ERR_NONEXISTENT,
				"%s was deleted", box->name);
		return -1;
	}
	return 0;
}

int
md_sync(struct mailbox *box, struct store_txn *t)
{
	struct scan sc;
	struct stamp old, pre, post, scan_pre;
	struct timespec now;
	struct md_uidmap *umap = NULL;
	struct newrep nr = { ARRAY_INIT };
	bool have_old, settled, readonly = store_txn_readonly(t);
	int ret = -1;

	if (stat_dirs(box, &pre) < 0)
		return -1;
	clock_gettime(CLOCK_REALTIME, &now);
	have_old = stamp_decode(store_txn_rec(t)->stamp,
				store_txn_rec(t)->stamp_len, &old);
	settled = ts_settled(&pre.new_m, &now) && ts_settled(&pre.cur_m, &now);
	/* Unchanged: settled and looked at since it settled; or, for a
	 * command's sync, young only from our own change (md_own_end),
	 * whose second look comes once it settles (STAMP_UNSETTLED). */
	if (!store_txn_forced(t) && have_old &&
	    ts_eq(&old.new_m, &pre.new_m) && ts_eq(&old.cur_m, &pre.cur_m) &&
	    (settled ? !(old.flags & STAMP_UNSETTLED) :
	     (old.flags & STAMP_OWN) && store_txn_quick(t)) &&
	    !((old.flags & STAMP_NEW_LEFT) && !readonly))
		return 0;
	pre.tmp_clean = have_old ? old.tmp_clean : 0;
	if (!readonly && pre.tmp_clean + TMP_SCAN_SECS < (int64_t)now.tv_sec) {
		clean_tmp(box);
		pre.tmp_clean = (int64_t)now.tv_sec;
	}
	if (store_txn_fresh(t))
		umap = md_uidmap_read(box);
	memset(&sc, 0, sizeof(sc));
	sc.box = box;
	scan_reset(&sc);
	if (store_txn_load(t, &sc.recs, &sc.n_recs) < 0 ||
	    classify(&sc) < 0 || stat_dirs(box, &post) < 0)
		goto out;
	scan_pre = pre;
	scan_pre.flags = settled ? 0 : STAMP_UNSETTLED;
	/* Something is missing: sure only if the files are really not
	 * there and nothing moved during the scan. A folder that changed
	 * within the last second may have changed during the scan with no
	 * visible mtime change (a coarse clock): then three looks in a row
	 * must agree. The looks after the scan only search for the missing
	 * bases. */
	for (int attempt = 0, agree = 0; sc.vanish.n > 0; attempt++) {
		struct timespec now2;
		bool stable, recent;

		clock_gettime(CLOCK_REALTIME, &now2);
		stable = !sc.missed && ts_eq(&pre.new_m, &post.new_m) &&
			 ts_eq(&pre.cur_m, &post.cur_m);
		recent = !ts_settled(&post.new_m, &now2) ||
			 !ts_settled(&post.cur_m, &now2);
		if (stable && (!recent || ++agree >= 3))
			break;
		if (!stable)
			agree = 0;
		if (attempt + 1 >= MD_RETRIES) {
			/* still changing under us: decide at the next sync
			 * (the mtime makes it scan again) rather than drop a
			 * message that is only being renamed */
			log_debug("store: %s: %zu files missing while the "
				  "folder keeps changing; not expunged yet",
				  box->name, sc.vanish.n);
			sc.vanish.n = 0;
			break;
		}
		pre.new_m = post.new_m;
		pre.cur_m = post.cur_m;
		if (look_again(&sc) < 0 || stat_dirs(box, &post) < 0)
			goto out;
	}
	ret = act(&sc, t, &scan_pre, umap, &nr);
	if (ret == 0 && !store_txn_dryrun(t)) {
		size_t n;
		const uint32_t *uids = store_txn_uids(t, &n);

		/* before anyone hears of the new UIDs */
		if (n != nr.names.n)
			n = 0;
		md_uidlist_sync(box, t, sc.recs, sc.n_recs, uids, nr.names.v,
				n);
	}
out:
	for (size_t i = 0; i < nr.names.n; i++)
		free(nr.names.v[i]);
	arr_free(&nr.names);
	md_uidmap_free(&umap);
	{
		bool big = sc.ents.n > 20000;

		scan_free(&sc);
		/* a big scan's arrays go back to the system: a session's
		 * memory is what it keeps between commands */
		if (big)
			(void)malloc_trim(0);
	}
	return ret;
}

/* ---- our own changes ---------------------------------------------------- */

static bool
own_stat(struct mailbox *box, struct timespec *nm, struct timespec *cm)
{
	struct maildir_box *mb = md_box(box);
	struct stat sn, sc;

	if (fstat(mb->new_fd, &sn) < 0 || fstat(mb->cur_fd, &sc) < 0)
		return false;
	*nm = sn.st_mtim;
	*cm = sc.st_mtim;
	return true;
}

void
md_own_pre(struct mailbox *box, struct md_own *o)
{
	if (!o->broken && !own_stat(box, &o->pre_new, &o->pre_cur))
		o->broken = true;
}

/* The mtimes right before and right after one change of ours: a
 * directory it did not touch must not have moved (an MDA's delivery
 * into new/ meanwhile is not ours to absorb), nor anything between two
 * of ours. */
void
md_own_post(struct mailbox *box, struct md_own *o, bool in_new, bool in_cur)
{
	struct timespec nm, cm;

	if (o->broken)
		return;
	if (!own_stat(box, &nm, &cm) ||
	    (!in_new && !ts_eq(&nm, &o->pre_new)) ||
	    (!in_cur && !ts_eq(&cm, &o->pre_cur)) ||
	    (o->started && (!ts_eq(&o->pre_new, &o->a_new) ||
			    !ts_eq(&o->pre_cur, &o->a_cur)))) {
		o->broken = true;
		return;
	}
	if (!o->started) {
		o->started = true;
		o->b_new = o->pre_new;
		o->b_cur = o->pre_cur;
	}
	o->a_new = nm;
	o->a_cur = cm;
}

/* After our own changes (recorded in t: a STORE's renames, APPEND,
 * COPY, EXPUNGE): if the stamp still held the mtimes from before the
 * first and nothing else moved between them, the stamp takes the mtimes
 * after the last, marked as our own and unsettled. The next command's
 * sync then reads no directory (a STORE in a folder of 10,000 files was
 * a 20 ms scan), and the first sync after they settle looks once more,
 * for a change by another program in the same clock tick as ours. */
void
md_own_end(struct store_txn *t, const struct md_own *o)
{
	struct stamp st;
	uint8_t enc[STAMP_LEN];
	const uint8_t *p;
	size_t len;

	if (o->broken || !o->started || store_txn_dryrun(t))
		return;
	p = store_txn_stamp_now(t, &len);
	if (!stamp_decode(p, len, &st) || !ts_eq(&st.new_m, &o->b_new) ||
	    !ts_eq(&st.cur_m, &o->b_cur))
		return;		/* changed before: the next sync scans */
	st.new_m = o->a_new;
	st.cur_m = o->a_cur;
	st.flags |= STAMP_UNSETTLED | STAMP_OWN;
	stamp_encode(&st, enc);
	(void)store_txn_stamp(t, enc, sizeof(enc));
}
