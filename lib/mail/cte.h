/*
 * mail_cte: Content-Transfer-Encoding decoders (RFC 2045 §6) as
 * push-style streams with bounded state, so a 50 MB part is decoded in
 * pieces of whatever size the caller reads.
 *
 * Decoding is tolerant, as a careful reader is:
 * - base64 (§6.8): characters outside the alphabet (line breaks, junk)
 *   are ignored; "=" ends a 4-character group early (a group of 2 or 3
 *   characters still gives its 1 or 2 bytes, a lone character is
 *   dropped) and decoding goes on after it (concatenated encodings);
 * - quoted-printable (§6.7): "=XX" with upper- or lower-case hex is the
 *   byte, "=" before a line end (trailing whitespace allowed) is a soft
 *   break, any other "=" is kept literally, whitespace at the end of a
 *   line is deleted (rule 3); a run of whitespace longer than
 *   MAIL_QP_MAX_WSP is passed through rather than held;
 * - 7bit, 8bit and binary pass the bytes through.
 * The "broken" flag records that junk was met (for logs, not an error).
 * Other encodings (x-uuencode, typos) are not decodable: RFC 3516 §4.3
 * says BINARY then answers NO [UNKNOWN-CTE].
 */
#ifndef MOAT_MAIL_CTE_H
#define MOAT_MAIL_CTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define MAIL_QP_MAX_WSP 256

enum mail_cte {
	MAIL_CTE_7BIT,
	MAIL_CTE_8BIT,
	MAIL_CTE_BINARY,
	MAIL_CTE_BASE64,
	MAIL_CTE_QP,
	MAIL_CTE_UNKNOWN,
};

/* The encoding named by a (lower-cased or not) token; NULL or empty is
 * 7bit (RFC 2045 §6.1 default). */
enum mail_cte mail_cte_from_name(const char *name);
/* Canonical lower-case name ("7bit", ...); NULL for UNKNOWN. */
const char *mail_cte_name(enum mail_cte cte);

struct mail_decoder {
	enum mail_cte cte;
	uint64_t out_total;     /* bytes produced so far */
	bool broken;
	/* base64 */
	uint32_t acc;
	unsigned int n;
	/* quoted-printable */
	unsigned int state;
	uint8_t hi;
	size_t n_wsp;
	uint8_t wsp[MAIL_QP_MAX_WSP];
};

/* -1 for MAIL_CTE_UNKNOWN (not decodable). */
int mail_decoder_init(struct mail_decoder *d, enum mail_cte cte);
/* Decodes in[0..len) and appends the result to out, or only counts it
 * in out_total if out is NULL (BINARY.SIZE, RFC 3516 §4.2). -1 if out
 * is full (what fitted is appended). */
int mail_decoder_push(struct mail_decoder *d, const void *in, size_t len,
		      struct buf *out);
/* Flushes what the end of the input decides. */
int mail_decoder_finish(struct mail_decoder *d, struct buf *out);

/* One-shot: the decoded size of data[0..len). -1 for UNKNOWN. */
int64_t mail_decoded_size(enum mail_cte cte, const void *data, size_t len);

#endif
