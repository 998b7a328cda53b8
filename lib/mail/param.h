/*
 * mail_param: Content-Type and Content-Disposition values and their
 * parameter lists (RFC 2045 §5.1, RFC 2183 §2, RFC 2231 §3-§4).
 *
 * Input is a raw (possibly folded) header value from an untrusted
 * message. Results are NUL-terminated strings in the caller's pool with
 * no NUL, CR or LF inside; type, subtype, disposition type and parameter
 * names are lower-cased (MIME says they are case-insensitive), values
 * are kept as written (quotes and quoting backslashes removed).
 *
 * RFC 2231 continuations (name*0, name*1*, ...) are joined in section
 * order whatever their order in the field; the join stops at the first
 * missing section, a duplicate section keeps its first occurrence. When
 * any section is extended (name* or name*N*), the result is flagged
 * extended and holds the joined extended form "charset'language'%XX..."
 * (literal sections percent-encoded, "''" added if section 0 was not
 * extended), for mail_rfc2231_decode (m-hdr) to decode: no decoding
 * happens here. A parameter given both plain and as RFC 2231 keeps the
 * RFC 2231 one. Comments (RFC 5322 CFWS) are skipped; unparsable junk
 * up to the next ';' is skipped; 8-bit bytes in tokens are kept.
 */
#ifndef MOAT_MAIL_PARAM_H
#define MOAT_MAIL_PARAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/pool.h"

/* Parameters kept per list, and RFC 2231 sections considered: more is
 * not real mail. */
#define MAIL_PARAM_MAX 64
#define MAIL_PARAM_MAX_SECTIONS 256

struct mail_param {
	const char *name;   /* lower-cased, without any "*N*" suffix */
	const char *value;
	bool extended;      /* value is RFC 2231 charset'lang'%XX form */
};

struct mail_ctype {
	const char *type, *subtype;   /* lower-cased */
	struct mail_param *params;
	size_t n_params;
};

struct mail_disposition {
	const char *type;   /* lower-cased, e.g. "attachment" */
	struct mail_param *params;
	size_t n_params;
};

/* Parses "type/subtype *(; param)". -1 if there is no valid type/subtype
 * (RFC 2045 §5.2: the caller then assumes the default); params are
 * parsed either way. */
int mail_ctype_parse(struct pool *pool, const uint8_t *v, size_t len,
		     struct mail_ctype *ct);
/* The RFC 2045 §5.2 default, text/plain; charset=us-ascii, or with
 * digest set message/rfc822 (RFC 2046 §5.1.5, inside multipart/digest). */
void mail_ctype_default(struct pool *pool, struct mail_ctype *ct, bool digest);
/* Parses "type *(; param)"; -1 if there is no type token. */
int mail_disposition_parse(struct pool *pool, const uint8_t *v, size_t len,
			   struct mail_disposition *d);
/* Parses a bare "*(; param)" list (after whatever precedes it). */
void mail_params_parse(struct pool *pool, const uint8_t *v, size_t len,
		       struct mail_param **params, size_t *n);
/* The parameter named name (ASCII case-insensitive), or NULL. */
const struct mail_param *mail_param_find(const struct mail_param *params,
					 size_t n, const char *name);
/* A single token value such as Content-Transfer-Encoding's, lower-cased,
 * comments and whitespace removed; NULL if there is none. */
const char *mail_token_parse(struct pool *pool, const uint8_t *v, size_t len);

#endif
