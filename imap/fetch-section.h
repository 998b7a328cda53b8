/*
 * fetch_section: the section and partial of a FETCH body item (RFC 9051
 * §6.4.5 "section", RFC 3516 "section-binary"), parsed from what follows
 * the item name: "[" spec "]" ["<" origin "." count ">"], into lib/mail's
 * struct mail_section, plus the canonical response name of the item
 * (RFC 9051 §7.5.2: BODY[HEADER.FIELDS (FROM TO)], a partial answered as
 * BODY[]<origin>). Caller: cmd-fetch.c.
 */
#ifndef MOAT_IMAP_FETCH_SECTION_H
#define MOAT_IMAP_FETCH_SECTION_H

#include <stdbool.h>
#include <stdint.h>

#include "core/pool.h"
#include "mail/section.h"

/* More field names than this in one HEADER.FIELDS is not a client. */
#define FETCH_SECTION_MAX_FIELDS 256

enum fetch_section_syntax {
	FETCH_SECTION_BODY,      /* BODY[...], any section-spec, partial */
	FETCH_SECTION_BINARY,    /* BINARY[...]: part numbers only, partial */
	FETCH_SECTION_SIZE,      /* BINARY.SIZE[...]: part numbers only */
};

struct fetch_section {
	struct mail_section sec;
	bool partial;
	uint64_t origin, count;
	const char *spec;        /* canonical "[...]" for the response */
};

/* s starts at "[" (upper-cased by the caller); the whole rest of the
 * item must be the section and the partial. 0, or -1 with *error set
 * for BAD. Strings are allocated from pool. */
int fetch_section_parse(struct pool *pool, const char *s,
			enum fetch_section_syntax syntax,
			struct fetch_section *out, const char **error);

#endif
