/*
 * mbox-private: what the mbox backend's files share (mbox.c, the
 * backend glue and sync; mbox-expunge.c, the journalled compaction).
 * Record layouts here are stored in the index: change them only with a
 * new version byte.
 */
#ifndef MOAT_STORAGE_MBOX_PRIVATE_H
#define MOAT_STORAGE_MBOX_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "storage/mbox-lock.h"
#include "storage/mbox-parse.h"
#include "storage/store-private.h"

/* ---- per message: where it lives (the index blob) ------------------ */

/* Blob v1 (big-endian): u8 version | u64 from_offset | u16 from_len |
 * u64 length | u64 end | u32 hdr_len | fingerprint[16] | u8 mflags.
 * offset = from_offset + from_len; end = the next From_ line or EOF;
 * mflags = the Status/X-Status flags (MBOX_FLAG_*) as last seen in the
 * file, so that a change made by mutt is merged as a change of those
 * flags only (the index, not the file, holds the IMAP flags). */
#define MBOX_BLOB_V1 1
#define MBOX_BLOB_LEN 48

struct mbox_blob {
	uint64_t from_offset;
	uint16_t from_len;
	uint64_t length;
	uint64_t end;
	uint32_t hdr_len;
	uint8_t fp[MBOX_FINGERPRINT_LEN];
	uint8_t mflags;
};

void mbox_blob_from_msg(struct mbox_blob *b, const struct mbox_msg *m);
size_t mbox_blob_encode(const struct mbox_blob *b, uint8_t *out);
bool mbox_blob_decode(const uint8_t *p, size_t len, struct mbox_blob *b);
/* The same message: fingerprint and body length (a rewrite of the
 * hidden fields moves it and changes its header length only). */
bool mbox_blob_same_msg(const struct mbox_blob *a, const struct mbox_blob *b);
/* The same message at the same place with the same extent. */
bool mbox_blob_same_place(const struct mbox_blob *a,
			  const struct mbox_blob *b);

/* ---- per mailbox: the file as last synced (the index stamp) -------- */

/* Stamp v1: u8 version | u8 flags | u64 dev | u64 ino | u64 size |
 * i64 mtime_s | u32 mtime_ns | i64 ctime_s | u32 ctime_ns | then, with
 * MBOX_STAMP_LAST: the last message (by offset) as a blob. */
#define MBOX_STAMP_V1 1
#define MBOX_STAMP_LAST 0x01u     /* there is a last message */
#define MBOX_STAMP_MISSING 0x02u  /* the file did not exist (INBOX) */

struct mbox_stamp {
	uint8_t flags;
	uint64_t dev, ino, size;
	int64_t mtime_s, ctime_s;
	uint32_t mtime_ns, ctime_ns;
	struct mbox_blob last;
};

void mbox_stamp_from_stat(struct mbox_stamp *s, const struct stat *st);
size_t mbox_stamp_encode(const struct mbox_stamp *s, uint8_t *out,
			 size_t cap);
bool mbox_stamp_decode(const uint8_t *p, size_t len, struct mbox_stamp *s);
/* The file looks unchanged since s (dev, ino, size, mtime, ctime). */
bool mbox_stamp_file_same(const struct mbox_stamp *s, const struct stat *st);

/* ---- backend state ---------------------------------------------------- */

struct mbox_store {
	char *root;
	char *inbox;              /* the INBOX file's path */
	bool inbox_in_root;       /* inbox is <root>/<name> */
	char *inbox_name;         /* ... that name, to skip in list */
};

struct mbox_box {
	char *path;               /* for logs, the dotlock and stat checks */
	int fd;                   /* -1: the file does not exist (INBOX) */
	bool writable;            /* fd is O_RDWR */
	dev_t dev;
	ino_t ino;
	struct mbox_lock lock;
	bool lock_ready;          /* lock initialised for fd */
	bool force_full;          /* next sync: full rescan (after a
				   * recovery or a failed check) */
};

/* ---- the expunge engine (mbox-expunge.c) ------------------------------ */

/* A byte range of the mbox that an expunge removes: [from, to). */
struct mbox_range {
	uint64_t from, to;
};

/* Test hook: when > 0, the expunge kills its process with SIGKILL at
 * step mbox_expunge_crash_at (1 after the side file, 2 after the
 * journal, 3 in the middle of the rewrite, 4 after the rewrite, 5
 * after the truncate, 6 after the index commit). For the crash tests
 * only. */
extern int mbox_expunge_crash_at;
/* Test hook: when > 0, recovery stops (SIGKILL) at its step n (1 after
 * re-planning with appended mail, 2 in the middle of its rewrite). */
extern int mbox_recover_crash_at;

/* Path of the side file of mailbox id in the index directory. */
char *mbox_side_path(const struct store *s, uint32_t id);

/* Removes ranges[0..n-1] (sorted, disjoint, inside the file) from the
 * mbox box->fd, which the caller holds write-locked and which is
 * size bytes long: copies what follows the first range to the side
 * file, journals, rewrites in place, truncates, fsyncs. On return 0,
 * *final is the new size. -1 with the store error set: nothing changed
 * (ENOSPC and every failure before the rewrite), or the rewrite failed
 * midway (the journal stays; recovery finishes it on the next lock). */
int mbox_expunge_compact(struct mailbox *box, const struct mbox_range *ranges,
			 size_t n, uint64_t size, uint64_t *final);
/* Cleans up after a compaction that was journalled: removes the
 * journal and the side file. */
void mbox_expunge_done(struct mailbox *box);

/* Recovery, with box->fd write-locked: if an expunge of this mailbox
 * was interrupted, brings the file to its old or its new state (keeping
 * mail appended since) and sets *recovered. Returns 0, or -1 with the
 * store error set (the file is then left as it is, never made worse). */
int mbox_expunge_recover(struct mailbox *box, bool *recovered);
/* For a mailbox new to the index (rebuilt): takes over the side file
 * an interrupted expunge of this mbox left under another id. */
void mbox_expunge_adopt(struct mailbox *box);
/* True if an interrupted expunge may be pending (a side file exists):
 * a stat, cheap enough for every sync. */
bool mbox_expunge_pending(struct mailbox *box);

/* ---- the append marker (mbox-append.c) -------------------------------- */

/* While an APPEND or COPY writes at the end of an mbox: a copy of every
 * byte written after base, in the index directory, made before the
 * byte goes to the mbox, so that a killed writer's torn tail can be
 * told from anything else. */
struct mbox_append_mark {
	int fd;
	uint64_t base;            /* the mbox size before the append */
	char *path;
};

/* Test hook: when > 0, an append kills its process (SIGKILL) once that
 * many of its bytes reached the mbox (the marker has the whole chunk).
 * For the crash tests only. */
extern uint64_t mbox_append_crash_after;

/* Creates the marker for box (write-locked, base = its size). -1 with
 * errno (the append must not start). */
int mbox_append_mark_begin(struct mailbox *box, uint64_t base,
			   struct mbox_append_mark *m);
/* Records [pos, pos + n) before it is written to the mbox (m may be
 * NULL: nothing to record). -1 with errno. */
int mbox_append_mark_data(struct mbox_append_mark *m, const void *p,
			  size_t n, uint64_t pos);
/* After the commit, or after the undo: closes and removes the marker. */
void mbox_append_mark_end(struct mbox_append_mark *m);
/* A marker exists (a stat, as mbox_expunge_pending). */
bool mbox_append_pending(struct mailbox *box);
/* With box->fd write-locked: removes an append that a killed writer
 * left unfinished (truncating back to its base) if the index's stamp
 * (committed_size: its file size, 0 if none) does not cover it and
 * the bytes after base are exactly a prefix of the marker's; anything
 * else is left alone. Drops the marker; *truncated if it cut. 0, or -1
 * with the store error set. */
int mbox_append_recover(struct mailbox *box, uint64_t committed_size,
			bool *truncated);

#endif
