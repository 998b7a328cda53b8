/*
 * seqset: IMAP sequence sets (RFC 9051 §9 sequence-set, seq-number,
 * seq-range; "$" from RFC 5182 SEARCHRES).
 *
 * Two stages, because "*" means nothing until the mailbox is known:
 *   1. seqset_parse() turns the client's text into a list of ranges as
 *      written (star kept as SEQSET_STAR, endpoints in either order, "$"
 *      as a flag). It checks the syntax strictly: nz-number has no
 *      leading zero and is at most 4294967295; 0, empty elements, spaces,
 *      signs, and "$" anywhere but as a whole element at the end (the
 *      grammar's `sequence-set =/ seq-last-command`) are refused.
 *   2. seqset_resolve_seq() / seqset_resolve_uid() replace "*", order each
 *      range, sort, and merge overlapping and adjacent ranges, giving a
 *      normalised set: ranges ascending, disjoint, non-adjacent. Only a
 *      normalised set may be used with contains/iterate/count/write.
 * "$" is resolved by the caller (it holds the saved result): the parsed
 * set says whether "$" was used; seqset_union() adds the saved set.
 *
 * Sets can also be built (seqset_add) for COPYUID/APPENDUID/ESEARCH and
 * written back compactly (seqset_write: "1:3,7,9:12").
 *
 * Memory comes from the caller's pool (a command's pool); nothing is
 * freed piecemeal. The number of ranges a parse may produce is bounded
 * by max_ranges (callers pass SEQSET_MAX_RANGES unless they have a
 * reason), so a hostile "1,3,5,..." costs at most that many entries.
 *
 * Inputs are untrusted client bytes.
 */
#ifndef MOAT_IMAP_SEQSET_H
#define MOAT_IMAP_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/pool.h"

/* "*" in a parsed (not yet resolved) range: 0 is never a valid number. */
#define SEQSET_STAR 0u
/* Default bound on the elements of one parsed set. Each element takes
 * at least two bytes ("1,"), so with the default 64 KB max_line even
 * "1,3,5,..." stays below it; with a larger max_line (up to 16 MB) the
 * bound still caps what one set may allocate. */
#define SEQSET_MAX_RANGES 32768

struct seqset_range {
	uint32_t lo, hi;
};

struct seqset {
	struct seqset_range *r;
	size_t n, cap;
	struct pool *pool;
	bool has_star;     /* parsed: "*" appears somewhere */
	bool has_last;     /* parsed: "$" (RFC 5182) appears */
	bool normalised;   /* sorted, merged, no SEQSET_STAR */
};

/* A new empty normalised set (for building with seqset_add). */
struct seqset *seqset_new(struct pool *pool);

/* Parses len bytes at s. Returns the set, or NULL with *error set to a
 * short text for a BAD response. The set is not normalised (see above). */
struct seqset *seqset_parse(struct pool *pool, const char *s, size_t len,
			    size_t max_ranges, const char **error);

/* Message sequence numbers against a mailbox of `exists` messages:
 * "*" = exists. RFC 9051 §9 (seq-number): a number greater than the
 * number of messages, including "*" in an empty mailbox, is answered with
 * BAD, so that is an error here (*error set, NULL returned). "$" is not
 * resolved: the caller unions the saved result. */
struct seqset *seqset_resolve_seq(struct pool *pool, const struct seqset *in,
				  uint32_t exists, const char **error);

/* UIDs: "*" = the highest UID in the mailbox, or, when it is empty
 * (highest_uid 0), the mailbox's UIDNEXT (RFC 9051 §9 seq-number and
 * §6.4.9: "559:*" always includes the last message; in an empty mailbox
 * it matches nothing that exists). Non-existent UIDs are not errors.
 * Never fails. */
struct seqset *seqset_resolve_uid(struct pool *pool, const struct seqset *in,
				  uint32_t highest_uid, uint32_t uidnext);

/* Adds lo:hi (either order, both >= 1) to a normalised set, keeping it
 * normalised. Appending in ascending order costs O(1) amortised. */
void seqset_add(struct seqset *set, uint32_t lo, uint32_t hi);

/* Adds every range of normalised set b to normalised set a. */
void seqset_union(struct seqset *a, const struct seqset *b);

/* Membership in a normalised set: O(log n). */
bool seqset_contains(const struct seqset *set, uint32_t v);

/* Number of values in a normalised set (up to 2^32 - 1, hence 64 bits). */
uint64_t seqset_count(const struct seqset *set);

/* Iteration over the values of a normalised set in ascending order:
 *   struct seqset_iter it; uint32_t v;
 *   seqset_iter_init(&it, set);
 *   while (seqset_iter_next(&it, &v)) ...
 * The set must not change while iterating. */
struct seqset_iter {
	const struct seqset *set;
	size_t i;
	uint64_t next;   /* 64 bits: stepping past 4294967295 ends cleanly */
};
void seqset_iter_init(struct seqset_iter *it, const struct seqset *set);
bool seqset_iter_next(struct seqset_iter *it, uint32_t *v);

/* Appends the normalised set in compact form ("1:3,7,9:12"; a single
 * value as itself) to out. An empty set writes nothing. Returns 0, or -1
 * (EMSGSIZE) with out unchanged. */
int seqset_write(const struct seqset *set, struct buf *out);

#endif
