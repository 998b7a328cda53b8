/*
 * mail_section: which bytes of a message a FETCH BODY[section] /
 * BINARY[section] serves (RFC 9051 §6.4.5), from the MIME tree. The
 * section spec itself is parsed by imap/ into struct mail_section; this
 * module only applies the RFC's rules to the tree:
 * - part numbers: a multipart's n-th body part; a non-multipart part has
 *   only part 1 (itself), so "1" of a single-part message is its body;
 *   after a message/rfc822 (or message/global) part the next number
 *   applies to the encapsulated message;
 * - HEADER, HEADER.FIELDS[.NOT] and TEXT apply to the message itself
 *   (no part number) or to the encapsulated message of a message/rfc822
 *   part; MIME applies to a numbered part and is its MIME header;
 * - a part that does not exist, or a suffix that does not apply to it,
 *   gives exists = false: the caller serves an empty string.
 */
#ifndef MOAT_MAIL_SECTION_H
#define MOAT_MAIL_SECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mail/mime.h"

/* Deeper part numbers than parts can nest never exist. */
#define MAIL_SECTION_MAX_PARTS (MAIL_MIME_MAX_DEPTH + 2)

enum mail_section_kind {
	MAIL_SECTION_BODY,              /* BODY[] or BODY[1.2] */
	MAIL_SECTION_HEADER,
	MAIL_SECTION_HEADER_FIELDS,
	MAIL_SECTION_HEADER_FIELDS_NOT,
	MAIL_SECTION_TEXT,
	MAIL_SECTION_MIME,
};

struct mail_section {
	uint32_t part[MAIL_SECTION_MAX_PARTS];  /* 1-based numbers */
	size_t n_part;
	enum mail_section_kind kind;
	const char *const *fields;      /* HEADER.FIELDS[.NOT] names */
	size_t n_fields;
};

struct mail_section_range {
	bool exists;
	uint64_t offset, size;
	/* HEADER.FIELDS[.NOT]: the range is a header block to pass through
	 * mail_header_filter() with the section's field names. */
	bool filter;
	/* The part whose content this is (for BINARY: its transfer
	 * encoding), or NULL for a whole message or header. */
	const struct mail_part *part;
};

/* -1 (with exists false) only for an invalid section (part number 0,
 * MIME without a part number): imap/ answers BAD. */
int mail_section_lookup(const struct mail_tree *t,
			const struct mail_section *s,
			struct mail_section_range *r);

#endif
