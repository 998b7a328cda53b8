/*
 * mail_mime: the MIME structure of a message (RFC 2045, RFC 2046; RFC
 * 6532 message/global) as a tree of parts with byte offsets, built from
 * the message's bytes pushed in chunks of any size: the body is never
 * held, only offsets, line counts and each part's Content-* fields, so a
 * 50 MB message is parsed in bounded memory.
 *
 * Input is an untrusted message. What broken input gives:
 * - a part's header ends at its first empty line, at a boundary line of
 *   an enclosing multipart or at the end; a part without an empty line
 *   has an empty body;
 * - boundary lines (RFC 2046 §5.1.1) are "--" boundary, optionally "--",
 *   then only transport padding (SP / HTAB) up to the line end (CRLF or
 *   bare LF); the CRLF before a boundary line belongs to the boundary.
 *   Every open multipart's boundary is checked, innermost first, and a
 *   match closes every part inside it, so a missing close delimiter
 *   ends the part at the enclosing boundary or at the end of the
 *   message; exact matching keeps boundaries that are prefixes of each
 *   other apart. After a close delimiter the boundary is no longer
 *   looked for (the epilogue is text);
 * - a multipart whose boundary never appears has no children: its body
 *   is all preamble; a multipart without a usable boundary parameter
 *   (absent, empty, longer than MAIL_MIME_BOUNDARY_MAX) is a leaf, so its
 *   body is still served as part 1 (as Dovecot does);
 * - a multipart/digest child without a valid Content-Type is
 *   message/rfc822 (RFC 2046 §5.1.5), any other part text/plain;
 *   charset=us-ascii (RFC 2045 §5.2);
 * - message/rfc822 and message/global parts (with an identity transfer
 *   encoding: 7bit, 8bit or binary; anything else is not parsable) have
 *   the encapsulated message as their one child;
 * - parts at depth MAIL_MIME_MAX_DEPTH (the top-level message is depth
 *   0) are opaque leaves, flagged MAIL_PART_OPAQUE: their multipart or
 *   message content is not entered (Dovecot does the same at 100). So
 *   the boundary stack, and the cost of each "--" line, is bounded;
 * - after MAIL_MIME_MAX_PARTS parts, no more parts are created: further
 *   delimiter lines still end the part before them, and what follows
 *   counts as the multipart's epilogue.
 *
 * Sizes are those of the bytes given (Moat serves CRLF bytes, so they are
 * the IMAP sizes). body_lines counts the text lines of the body: its LFs,
 * plus one for a last line without a line end (the common "text CRLF
 * --boundary" part has one line; Dovecot counts only LFs and says 0).
 */
#ifndef MOAT_MAIL_MIME_H
#define MOAT_MAIL_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/pool.h"
#include "mail/cte.h"
#include "mail/param.h"

#define MAIL_MIME_MAX_DEPTH 100
#define MAIL_MIME_MAX_PARTS 10000
/* Bytes kept of one Content-* field (the rest is ignored), and of all
 * of a message's Content-* fields together (after that, later parts'
 * fields are cut short or absent: the tree's memory stays bounded). */
#define MAIL_MIME_FIELD_MAX 16384
#define MAIL_MIME_FIELDS_TOTAL_MAX (4u << 20)
/* Boundaries longer than this (RFC 2046 allows 70) are never matched. */
#define MAIL_MIME_BOUNDARY_MAX 998

#define MAIL_PART_NONE UINT32_MAX

enum mail_part_flag {
	MAIL_PART_MULTIPART = 1 << 0,   /* children are its body parts */
	MAIL_PART_MESSAGE = 1 << 1,     /* one child: the encapsulated message */
	MAIL_PART_OPAQUE = 1 << 2,      /* depth limit: content not entered */
	MAIL_PART_NO_HEADER_END = 1 << 3, /* header not ended by an empty line */
	MAIL_PART_CTYPE_DEFAULT = 1 << 4, /* Content-Type absent or invalid */
	MAIL_PART_CLOSED = 1 << 5,      /* multipart: close delimiter seen */
};

struct mail_part {
	uint32_t parent, first_child, next, n_children;
	uint32_t depth, flags;
	uint64_t hdr_offset, hdr_size;  /* header incl. its empty line */
	uint64_t body_offset, body_size, body_lines;
	struct mail_ctype ct;
	enum mail_cte cte;
	const char *cte_name;   /* as given (lower-cased); NULL if absent */
	const char *id, *description, *md5, *location;  /* unfolded or NULL */
	const char **language;  /* Content-Language tags (RFC 3282) */
	size_t n_language;
	bool has_disposition;
	struct mail_disposition disp;
};

struct mail_tree {
	struct pool *pool;      /* every string of the tree */
	struct mail_part *parts;        /* parts[0] is the message */
	size_t n_parts;
	uint64_t size;          /* bytes parsed */
};

struct mail_mime_parser;

struct mail_mime_parser *mail_mime_parser_new(void);
/* Feeds the next len bytes of the message. */
void mail_mime_parser_push(struct mail_mime_parser *p, const void *data,
			   size_t len);
/* Ends the input and returns the tree (owned by the caller); frees the
 * parser and sets *p to NULL. */
struct mail_tree *mail_mime_parser_finish(struct mail_mime_parser **p);

/* Whole-input helpers. */
struct mail_tree *mail_mime_parse(const void *data, size_t len);
/* Reads size bytes at offset of fd (pread, 64 kB at a time); NULL with
 * errno on a read error or a file shorter than size. */
struct mail_tree *mail_mime_parse_fd(int fd, off_t offset, uint64_t size);

void mail_tree_free(struct mail_tree **t);

/* BINARY.SIZE (RFC 3516 §4.2) of part p of the message at offset of fd:
 * its body decoded in 64 kB reads. 0 with *size set; -2 if the part's
 * encoding cannot be decoded (answer NO [UNKNOWN-CTE], RFC 3516 §4.3);
 * -1 with errno on a read error or a short file. */
int mail_part_decoded_size_fd(int fd, off_t offset, const struct mail_part *p,
			      uint64_t *size);

/* The n-th (1-based) child of part idx, or NULL. */
const struct mail_part *mail_part_child(const struct mail_tree *t,
					const struct mail_part *p,
					uint32_t n);

/* Compact form of the tree for the index's cache database: a version
 * byte, then every part. Appends to out; -1 if out is full (a tree too
 * big for the cache is just not cached). */
#define MAIL_TREE_VERSION 1
int mail_tree_serialize(const struct mail_tree *t, struct buf *out);
/* Strict inverse: NULL unless data is exactly one serialized tree of
 * this version whose offsets and sizes all lie within msg_size bytes and
 * nest properly. */
struct mail_tree *mail_tree_deserialize(const void *data, size_t len,
					uint64_t msg_size);

#endif
