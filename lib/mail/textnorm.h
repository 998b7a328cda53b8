/*
 * mail textnorm: the normalized text of a message, the form SEARCH's text
 * keys and the full-text index compare (RFC 9051 §6.4.4 "substring" on
 * decoded text, RFC 5051 i;unicode-casemap).
 *
 * A message is a sequence of segments; no match may span two:
 *   - MAIL_TEXTNORM_HEADER: one per field of the message's own header:
 *     the value unfolded, RFC 2047-decoded (addresses of From, To, Cc,
 *     Bcc, Sender, Reply-To rewritten "name <mailbox@host>, ..." with
 *     decoded names, comments and quoting gone);
 *   - MAIL_TEXTNORM_PART_HEADER: the same for every field of every body
 *     part's header (MIME header fields, and the header of an
 *     encapsulated message/rfc822);
 *   - MAIL_TEXTNORM_BODY: the content of one text/\* part, transfer-
 *     decoded (base64, QP; an unknown encoding is read as 8bit),
 *     converted to UTF-8 from its charset parameter (missing or unknown:
 *     undeclared 8-bit, see charset.h), text/html reduced to its text
 *     (tags dropped, block tags give a line end, script and style
 *     content dropped, the common named and all numeric character
 *     references decoded: a bounded state machine of our own, as Dovecot
 *     has, since libxml2 is not a dependency of lib/mail and its
 *     recovering parser holds a tree). Non-text parts (attachments,
 *     images, ...) are skipped; message/rfc822 parts are entered (their
 *     header gives PART_HEADER segments, their text parts BODY ones).
 * Every segment's text is then i;unicode-casemap'ed (casemap.h). So all
 * output is valid UTF-8 without NUL bytes (a NUL decoded from the mail
 * becomes a space).
 *
 * Memory is bounded whatever the message: the body is read and decoded
 * in 64 kB pieces (never held), a header block is read up to
 * MAIL_TEXTNORM_HEADER_MAX bytes (fields beyond are not seen: the
 * header parser stops at 16 MB anyway, and no real header comes near),
 * one field value up to MAIL_TEXTNORM_FIELD_MAX bytes. The MIME tree is
 * bounded by mime.h (depth 100, 10,000 parts), so a 1,000-deep nesting
 * costs nothing more.
 *
 * Two forms:
 *   - streaming (mail_textnorm_run): segments are handed to a callback
 *     in pieces; no limit on the total (SEARCH uses this);
 *   - collected (mail_textnorm_collect): segments written into one
 *     buffer separated by NUL (header segments as "name: value"), up to
 *     a byte limit (MAIL_TEXTNORM_MAX by default). Beyond the limit the
 *     output stops at a segment or character boundary and *truncated is
 *     set: the caller (the full-text index) must then mark the message
 *     as not fully covered, and SEARCH checks it with the streaming form,
 *     so no match is ever silently missed.
 */
#ifndef MOAT_MAIL_TEXTNORM_H
#define MOAT_MAIL_TEXTNORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"
#include "mail/mime.h"

/* Version of the normalization: stored text and index built with another
 * version must be rebuilt. */
#define MAIL_TEXTNORM_VERSION 1
/* Default limit of the collected form (bytes of normalized text). */
#define MAIL_TEXTNORM_MAX (4u << 20)
#define MAIL_TEXTNORM_HEADER_MAX (1u << 20)
#define MAIL_TEXTNORM_FIELD_MAX (256u << 10)

enum mail_textnorm_kind {
	MAIL_TEXTNORM_HEADER = 1 << 0,
	MAIL_TEXTNORM_PART_HEADER = 1 << 1,
	MAIL_TEXTNORM_BODY = 1 << 2,
};
#define MAIL_TEXTNORM_ALL (MAIL_TEXTNORM_HEADER | MAIL_TEXTNORM_PART_HEADER | \
			   MAIL_TEXTNORM_BODY)

/* Where the message's bytes are: size bytes at offset of fd, or (fd < 0)
 * in memory at data. */
struct mail_textnorm_src {
	int fd;
	off_t offset;
	const uint8_t *data;
	uint64_t size;
};

struct mail_textnorm_seg {
	enum mail_textnorm_kind kind;
	uint32_t part;          /* index in the tree's parts */
	/* A header field's name as in the message (not normalized), else
	 * NULL / 0. */
	const uint8_t *name;
	size_t name_len;
};

enum mail_textnorm_event {
	MAIL_TEXTNORM_START,    /* a segment begins (no data) */
	MAIL_TEXTNORM_DATA,     /* a piece of its text (len > 0) */
	MAIL_TEXTNORM_END,      /* it ended (no data) */
};

/* Callback results: go on, skip the rest of this segment (from START or
 * DATA: no more DATA, but END still comes), stop the whole run (the
 * current segment still gets its END). */
#define MAIL_TEXTNORM_CONTINUE 0
#define MAIL_TEXTNORM_SKIP 1
#define MAIL_TEXTNORM_STOP 2

typedef int mail_textnorm_cb(void *ctx, enum mail_textnorm_event ev,
			     const struct mail_textnorm_seg *seg,
			     const uint8_t *data, size_t len);

/* Runs over the message's segments of the kinds in want (a mask),
 * in message order. tree is the message's MIME tree if the caller has
 * it (else NULL: parsed here, unless want is MAIL_TEXTNORM_HEADER alone,
 * which reads only the header block). Returns 0 (also when the callback
 * stopped), or -1 with errno on a read error or a short file. */
int mail_textnorm_run(const struct mail_textnorm_src *src,
		      const struct mail_tree *tree, unsigned int want,
		      mail_textnorm_cb *cb, void *ctx);

/* The collected form: appends the segments of the kinds in want to out,
 * each followed by one NUL, up to max bytes in all (and out's maximum);
 * *truncated tells whether anything was left out. 0 or -1 (read error). */
int mail_textnorm_collect(const struct mail_textnorm_src *src,
			  const struct mail_tree *tree, unsigned int want,
			  size_t max, struct buf *out, bool *truncated);

/* The HTML-to-text stage alone (for the tests): a stream with bounded
 * state over UTF-8 input. */
struct mail_html2text {
	unsigned int state;
	bool end_tag, skip, quote_dq, quote_sq, last_ws;
	unsigned int dashes;
	char name[16];
	size_t name_len;
	char ent[16];
	size_t ent_len;
	char skip_name[8];      /* "script" / "style" being skipped */
};
void mail_html2text_init(struct mail_html2text *h);
int mail_html2text_push(struct mail_html2text *h, const uint8_t *in,
			size_t len, struct buf *out);
int mail_html2text_finish(struct mail_html2text *h, struct buf *out);

#endif
