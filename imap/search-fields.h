/*
 * search-fields: the SEARCH kind's cache record (STORE_CACHE_SEARCH):
 * what SEARCH's header keys compare of a message, already normalized.
 * The segments are those mail_textnorm_run gives for the message's own
 * header block as the FETCH cache keeps it (its ENVELOPE fields and
 * References, every occurrence, exactly the fields the header scan sees:
 * fetch_meta.top_exact): each field's name as in the message and its
 * value unfolded, decoded and casemapped. Matching a needle against them
 * is then what matching against a run over the block is (one segment per
 * field, no match across two), without decoding anything again, and the
 * record is a third of the FETCH record a header SEARCH read before. The
 * sent date (SENTBEFORE/ON/SINCE) is kept as its day.
 *
 * Layout (after the store's stamp): u8 version (0x10 | the textnorm
 * version) | u8 date state (1 a
 * day, 2 none or unreadable) | u64 day (two's complement) | segments to
 * the end, each u8 name length (> 0) | name | u32 value length | value.
 * The decoder treats the bytes as untrusted (the index is only as
 * trusted as the disk): exact lengths, names without CR, LF, NUL or ':',
 * no NUL in a value (normalized text has none); fuzzed by
 * fuzz/fuzz-search-fields.
 */
#ifndef MOAT_IMAP_SEARCH_FIELDS_H
#define MOAT_IMAP_SEARCH_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct search_fields {
	const uint8_t *segs;     /* the segments, validated */
	size_t len;
	int date_state;          /* 1: day is the sent day; 2: none */
	int64_t day;
};

struct search_fields_seg {
	const uint8_t *name;
	size_t name_len;
	const uint8_t *value;
	size_t value_len;
};

/* The record of the header block blk[0..len) with its sent date: 0 and
 * *val (owned by the caller), 1 if it would not fit a cache record (the
 * caller matches against the block then), -1 on an error. */
int search_fields_make(const uint8_t *blk, size_t len, int date_state,
		       int64_t day, struct buf **val);
/* 0 with *f pointing into val, or -1 if val is not exactly one record. */
int search_fields_decode(const uint8_t *val, size_t len,
			 struct search_fields *f);
/* The segment at *pos of a decoded record (start with 0): true and *seg
 * set, *pos moved on; false at the end. */
bool search_fields_next(const struct search_fields *f, size_t *pos,
			struct search_fields_seg *seg);

#endif
