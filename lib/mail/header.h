/*
 * mail_header: the fields of a header block (RFC 5322 §2.2, §3.6; 8-bit
 * bytes per RFC 6532 are kept as they are).
 *
 * Input is a message's untrusted bytes, borrowed: the block starts at
 * data and ends at the first empty line (CRLF or bare LF) or at the end
 * of the bytes given. Every field points into those bytes; nothing is
 * copied or allocated by the iterator.
 *
 * Broken input, as a careful reader takes it:
 * - a line without a colon, a field whose name is empty or holds a byte
 *   outside RFC 5322 ftext (e.g. an mbox "From " line), and a
 *   continuation line with no field before it are skipped together with
 *   their own continuation lines;
 * - obs-optional whitespace between the name and the colon (RFC 5322
 *   §4.5.3) is allowed and not part of the name;
 * - NUL and 8-bit bytes are ordinary value bytes; lines have no length
 *   limit (the caller bounds the block);
 * - after MAIL_HEADER_MAX_FIELDS fields, or MAIL_HEADER_MAX_BYTES bytes
 *   (a field crossing that point ends there), the iterator stops as if
 *   the block had ended.
 */
#ifndef MOAT_MAIL_HEADER_H
#define MOAT_MAIL_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Bounds the work on a hostile header of millions of tiny fields. */
#define MAIL_HEADER_MAX_FIELDS 10000
/* Work per iteration, and HEADER.FIELDS output, stay bounded whatever the
 * caller hands in; real headers are a few kB. */
#define MAIL_HEADER_MAX_BYTES (16u << 20)

struct mail_header_field {
	const uint8_t *name;    /* without trailing whitespace */
	size_t name_len;
	/* The raw value: from after the colon to before the field's final
	 * line end, folding kept (use mail_header_unfold). */
	const uint8_t *value;
	size_t value_len;
	/* The whole field as in the message, final line end included (none
	 * if the block ended at EOF without one). */
	const uint8_t *raw;
	size_t raw_len;
};

struct mail_header_iter {
	const uint8_t *data;
	size_t len, pos;
	unsigned int n_fields;
	bool done;
};

/* Length of the header block in data[0..len): up to and including the
 * empty line that ends it, or len if there is none: the body starts
 * there. */
size_t mail_header_block_len(const uint8_t *data, size_t len);

void mail_header_iter_init(struct mail_header_iter *it, const void *data,
			   size_t len);
/* The next field: true and *f set, or false at the end of the block. */
bool mail_header_next(struct mail_header_iter *it,
		      struct mail_header_field *f);

/* ASCII case-insensitive comparison of the field's name (RFC 5322 §1.2.2:
 * field names are case-insensitive). */
bool mail_header_name_is(const struct mail_header_field *f, const char *name);
/* The first field named name in the block: true and *f set, or false. */
bool mail_header_find(const void *data, size_t len, const char *name,
		      struct mail_header_field *f);

/* Appends the value unfolded (RFC 5322 §2.2.3: every CRLF or LF followed
 * by WSP is removed; a line end not followed by WSP cannot occur inside
 * a field) with leading and trailing WSP trimmed. -1 if out is full. */
int mail_header_unfold(struct buf *out, const uint8_t *value, size_t len);

/* FETCH BODY[HEADER.FIELDS (names)] / BODY[HEADER.FIELDS.NOT (names)]
 * (RFC 9051 §6.4.5): appends every field of the block whose name is (or,
 * with not_, is not) one of names[0..n), raw as in the message, then the
 * empty line that ends the block (always CRLF). A selected field that
 * ended at EOF without a line end gets a CRLF. -1 if out is full. */
int mail_header_filter(struct buf *out, const void *data, size_t len,
		       const char *const *names, size_t n, bool not_);

#endif
