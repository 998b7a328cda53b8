/*
 * fetch_msg: reading the parts of a message that FETCH needs beyond
 * whole byte ranges, in bounded memory: a header block (for ENVELOPE,
 * HEADER.FIELDS), the ENVELOPE of a header, the decoded size of a part
 * (BINARY, BINARY.SIZE: RFC 3516 §4.2 wants the size before the
 * literal) and the PREVIEW text. Callers: cmd-fetch.c, fetch-cache.c.
 */
#ifndef MOAT_IMAP_FETCH_MSG_H
#define MOAT_IMAP_FETCH_MSG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"
#include "mail/cte.h"

/* A header block longer than this is read only this far: its later
 * fields do not count (real headers are a few kB). */
#define FETCH_HEADER_MAX (1024u * 1024u)
/* Raw bytes read per step of a decode. */
#define FETCH_DECODE_CHUNK (16u * 1024u)

/* len bytes at off (len <= FETCH_HEADER_MAX); NULL on a read error or
 * a short file. */
struct buf *fetch_read_range(int fd, off_t off, uint64_t len);

/* ENVELOPE of the header block hdr[0..len). -1 if out is full. */
int fetch_envelope_write(struct buf *out, const uint8_t *hdr, size_t len,
			 bool utf8);

/* Decodes len bytes at off of fd with cte (not UNKNOWN) and reports the
 * decoded size and whether decoded bytes [origin, origin + count) hold
 * a NUL (count 0: none checked). -1 with errno on a read error. */
int fetch_decode_scan(int fd, off_t off, uint64_t len, enum mail_cte cte,
		      uint64_t origin, uint64_t count, uint64_t *size,
		      bool *has_nul);

/* PREVIEW (RFC 8970 §3.1): at most this many characters ... */
#define FETCH_PREVIEW_CHARS 200
/* ... from at most this many raw bytes of the first text part. */
#define FETCH_PREVIEW_RAW (8u * 1024u)

struct mail_tree;
/* The preview of the message at off of fd: the first text/plain part
 * that is not an attachment, transfer-decoded, converted to UTF-8,
 * control characters and whitespace runs made one space, trimmed, cut
 * at a character boundary. NULL if the message has no such part (the
 * preview is NIL; an empty part gives ""); NULL with errno set on a
 * read error. */
struct buf *fetch_preview(int fd, off_t off, const struct mail_tree *t);
/* The same from the whole message in memory, msg[0..size). */
struct buf *fetch_preview_mem(const uint8_t *msg, uint64_t size,
			      const struct mail_tree *t);

#endif
