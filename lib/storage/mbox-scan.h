/*
 * mbox_scan: mbox_parse over a file descriptor, with each message's
 * served size (mbox_serve: RFC822.SIZE) computed on the way, mostly from
 * the bytes already in memory (a message that started before the
 * current window is read again with pread, from the page cache).
 * Callers: the mbox backend's sync, expunge and message checks.
 * Input: an mbox file anyone may have written.
 */
#ifndef MOAT_STORAGE_MBOX_SCAN_H
#define MOAT_STORAGE_MBOX_SCAN_H

#include <stdint.h>

#include "storage/mbox-parse.h"

/* Bytes read at a time (tests and the fuzzer make it tiny). */
extern size_t mbox_scan_window;

/* size: the served size of m. Return 0 to go on, a positive value to
 * stop the scan (it is returned; -1 is reserved for read errors). */
typedef int mbox_scan_cb(void *ctx, const struct mbox_msg *m, uint64_t size);

/* Parses fd from offset start (0 or a message's from_offset) to EOF.
 * Returns 0, the callback's value, or -1 with errno (read error).
 * *eof (may be NULL) receives the offset where the input ended, *junk
 * (may be NULL) the bytes before the first message. */
int mbox_scan_fd(int fd, uint64_t start, mbox_scan_cb *cb, void *ctx,
		 uint64_t *eof, uint64_t *junk);

/* The served size of the stored message at [offset, offset + length)
 * of fd; -1 with errno on a read error or a short file. */
int mbox_scan_size(int fd, uint64_t offset, uint64_t length,
		   uint64_t *size);

#endif
