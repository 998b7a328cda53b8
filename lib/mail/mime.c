/*
 * mail_mime: the MIME tree parser (see mime.h for what broken input
 * gives). Callers: FETCH BODYSTRUCTURE / BODY[section] / BINARY, SEARCH
 * BODY/TEXT, the cache. Input is an untrusted message pushed in chunks;
 * memory is bounded by the limits in mime.h whatever the input: one line
 * prefix, one buffer per tracked Content-* field, the part array.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/str.h"
#include "mail/mime.h"

/* Bytes of a line kept for boundary matching and header fields. */
#define LINE_KEEP MAIL_MIME_FIELD_MAX
#define LANGUAGE_MAX 16

/* The Content-* fields BODYSTRUCTURE needs (RFC 9051 §7.5.2). */
enum field {
	F_TYPE, F_CTE, F_DISP, F_ID, F_DESC, F_LANG, F_LOC, F_MD5, F_COUNT
};
static const char *const field_names[F_COUNT] = {
	"content-type", "content-transfer-encoding", "content-disposition",
	"content-id", "content-description", "content-language",
	"content-location", "content-md5",
};

struct open_part {
	uint32_t idx;
	uint32_t last_child;
	bool in_header;
	uint64_t body_line0;    /* LFs before the body */
	const uint8_t *boundary;        /* multipart: its boundary */
	size_t boundary_len;
};

struct mail_mime_parser {
	struct mail_tree *t;
	size_t cap;
	struct open_part chain[MAIL_MIME_MAX_DEPTH + 1];
	size_t n_open;
	uint64_t off, line_start, n_lf;
	uint8_t line[LINE_KEEP];
	size_t line_kept;
	uint64_t line_len;
	bool tail_wsp;
	uint8_t prev_eol;
	bool prev_nonempty, last_lf;
	uint8_t last_byte;
	struct buf *field[F_COUNT];
	bool field_seen[F_COUNT];
	int cur_field;
	size_t field_budget;    /* Content-* bytes the tree may still keep */
};

static struct mail_part *
part_at(struct mail_mime_parser *p, uint32_t idx)
{
	return &p->t->parts[idx];
}

/* A new part whose header starts at offset, child of the chain's top
 * (or the root when the chain is empty); pushed on the chain. */
static void
open_new_part(struct mail_mime_parser *p, uint64_t offset)
{
	struct mail_tree *t = p->t;
	struct open_part *top = p->n_open > 0 ? &p->chain[p->n_open - 1] : NULL;
	struct mail_part *np;
	uint32_t idx;

	if (t->n_parts == p->cap) {
		p->cap = p->cap == 0 ? 8 : p->cap * 2;
		t->parts = xreallocarray(t->parts, p->cap, sizeof(*t->parts));
	}
	idx = (uint32_t)t->n_parts++;
	np = &t->parts[idx];
	memset(np, 0, sizeof(*np));
	np->parent = top != NULL ? top->idx : MAIL_PART_NONE;
	np->first_child = np->next = MAIL_PART_NONE;
	np->hdr_offset = offset;
	np->body_offset = offset;
	if (top != NULL) {
		struct mail_part *parent = part_at(p, top->idx);

		np->depth = parent->depth + 1;
		if (top->last_child == MAIL_PART_NONE)
			parent->first_child = idx;
		else
			part_at(p, top->last_child)->next = idx;
		top->last_child = idx;
		parent->n_children++;
	}
	p->chain[p->n_open++] = (struct open_part){
		.idx = idx, .last_child = MAIL_PART_NONE, .in_header = true,
	};
	for (int i = 0; i < F_COUNT; i++) {
		buf_reset(p->field[i]);
		p->field_seen[i] = false;
	}
	p->cur_field = -1;
}

/* The tracked field k as a trimmed string without NUL, CR or LF. */
static const char *
field_str(struct mail_mime_parser *p, int k)
{
	const uint8_t *d = buf_data(p->field[k]);
	size_t n = buf_len(p->field[k]), s = 0;
	char *r, *w;

	if (!p->field_seen[k])
		return NULL;
	while (s < n && (d[s] == ' ' || d[s] == '\t'))
		s++;
	while (n > s && (d[n - 1] == ' ' || d[n - 1] == '\t'))
		n--;
	r = w = pool_alloc(p->t->pool, n - s + 1);
	for (size_t i = s; i < n; i++)
		if (d[i] != '\0' && d[i] != '\r' && d[i] != '\n')
			*w++ = (char)d[i];
	*w = '\0';
	return r;
}

static void
parse_language(struct mail_mime_parser *p, struct mail_part *part)
{
	const uint8_t *d = buf_data(p->field[F_LANG]);
	size_t n = buf_len(p->field[F_LANG]), start = 0;

	if (!p->field_seen[F_LANG])
		return;
	part->language = pool_alloc(p->t->pool,
				    LANGUAGE_MAX * sizeof(*part->language));
	for (size_t i = 0; i <= n && part->n_language < LANGUAGE_MAX; i++) {
		const char *tag;

		if (i < n && d[i] != ',')
			continue;
		tag = mail_token_parse(p->t->pool, d + start, i - start);
		if (tag != NULL)
			part->language[part->n_language++] = tag;
		start = i + 1;
	}
}

static bool
ct_is(const struct mail_ctype *ct, const char *type, const char *subtype)
{
	return str_eq(ct->type, type) &&
	       (subtype == NULL || str_eq(ct->subtype, subtype));
}

/* The part's header ended at end (body starts there): parse its fields
 * and decide whether it has children. */
static void
finish_header(struct mail_mime_parser *p, struct open_part *op, uint64_t end,
	      bool ended)
{
	struct mail_part *part = part_at(p, op->idx);
	struct pool *pool = p->t->pool;
	bool digest = false, room;

	if (part->parent != MAIL_PART_NONE)
		digest = ct_is(&part_at(p, part->parent)->ct, "multipart",
			       "digest");
	part->hdr_size = end - part->hdr_offset;
	part->body_offset = end;
	op->in_header = false;
	op->body_line0 = p->n_lf + (ended ? 1 : 0);
	if (!ended)
		part->flags |= MAIL_PART_NO_HEADER_END;

	if (!p->field_seen[F_TYPE] ||
	    mail_ctype_parse(pool, buf_data(p->field[F_TYPE]),
			     buf_len(p->field[F_TYPE]), &part->ct) < 0) {
		mail_ctype_default(pool, &part->ct, digest);
		part->flags |= MAIL_PART_CTYPE_DEFAULT;
	}
	if (p->field_seen[F_CTE])
		part->cte_name = mail_token_parse(pool,
						  buf_data(p->field[F_CTE]),
						  buf_len(p->field[F_CTE]));
	part->cte = mail_cte_from_name(part->cte_name);
	if (p->field_seen[F_DISP] &&
	    mail_disposition_parse(pool, buf_data(p->field[F_DISP]),
				   buf_len(p->field[F_DISP]),
				   &part->disp) == 0)
		part->has_disposition = true;
	part->id = field_str(p, F_ID);
	part->description = field_str(p, F_DESC);
	part->location = field_str(p, F_LOC);
	part->md5 = field_str(p, F_MD5);
	parse_language(p, part);

	room = part->depth < MAIL_MIME_MAX_DEPTH;
	if (ct_is(&part->ct, "multipart", NULL)) {
		const struct mail_param *b =
			mail_param_find(part->ct.params, part->ct.n_params,
					"boundary");

		bool usable = b != NULL && b->value[0] != '\0' &&
			      strlen(b->value) <= MAIL_MIME_BOUNDARY_MAX;

		/* Without a usable boundary no part can be found: the body
		 * is served as one leaf, so its text stays reachable. */
		if (!room) {
			part->flags |= MAIL_PART_OPAQUE;
		} else if (usable) {
			part->flags |= MAIL_PART_MULTIPART;
			op->boundary = (const uint8_t *)b->value;
			op->boundary_len = strlen(b->value);
		}
	} else if (ct_is(&part->ct, "message", "rfc822") ||
		   ct_is(&part->ct, "message", "global")) {
		bool identity = part->cte == MAIL_CTE_7BIT ||
				part->cte == MAIL_CTE_8BIT ||
				part->cte == MAIL_CTE_BINARY;

		if (!room || p->t->n_parts >= MAIL_MIME_MAX_PARTS) {
			part->flags |= MAIL_PART_OPAQUE;
		} else if (identity && ended) {
			part->flags |= MAIL_PART_MESSAGE;
			open_new_part(p, end);
		}
	}
}

/* Closes the part at chain entry op: its content ends at end, which is
 * preceded by lf_end LFs; after_lf: the byte before end is a LF. */
static void
close_part(struct mail_mime_parser *p, struct open_part *op, uint64_t end,
	   uint64_t lf_end, bool after_lf)
{
	struct mail_part *part = part_at(p, op->idx);

	if (op->in_header) {
		if (end < part->hdr_offset)
			end = part->hdr_offset;
		finish_header(p, op, end, false);
		part = part_at(p, op->idx);
	}
	if (end <= part->body_offset) {
		part->body_size = 0;
		part->body_lines = 0;
		return;
	}
	part->body_size = end - part->body_offset;
	part->body_lines = lf_end - op->body_line0 + (after_lf ? 0 : 1);
}

/* Closes the chain down to (not including) entry keep. */
static void
close_above(struct mail_mime_parser *p, size_t keep, uint64_t end,
	    uint64_t lf_end, bool after_lf)
{
	while (p->n_open > keep) {
		close_part(p, &p->chain[p->n_open - 1], end, lf_end, after_lf);
		p->n_open--;
	}
}

static bool
all_wsp(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return false;
	return true;
}

/* Which open multipart's boundary line this is: its chain index, or -1.
 * *close is set for a close delimiter. */
static int
match_boundary(struct mail_mime_parser *p, size_t clen, bool *close)
{
	const uint8_t *c = p->line;

	if (clen < 3 || c[0] != '-' || c[1] != '-')
		return -1;
	for (size_t i = p->n_open; i-- > 0;) {
		const struct open_part *op = &p->chain[i];
		const struct mail_part *part = part_at(p, op->idx);
		size_t bl = op->boundary_len, rest;

		if (op->boundary == NULL || op->in_header ||
		    (part->flags & MAIL_PART_CLOSED) != 0)
			continue;
		if (clen < 2 + bl || memcmp(c + 2, op->boundary, bl) != 0)
			continue;
		rest = 2 + bl;
		*close = clen >= rest + 2 && c[rest] == '-' && c[rest + 1] == '-';
		if (*close)
			rest += 2;
		if (all_wsp(c + rest, clen - rest) && p->tail_wsp)
			return (int)i;
	}
	return -1;
}

/* Appends to a tracked field within its own limit and the message's
 * budget: the tree keeps these bytes, so their total stays bounded
 * (MAIL_MIME_FIELDS_TOTAL_MAX) however many parts there are. */
static void
field_append(struct mail_mime_parser *p, struct buf *f, const uint8_t *s,
	     size_t n)
{
	if (n > buf_avail(f))
		n = buf_avail(f);
	if (n > p->field_budget)
		n = p->field_budget;
	(void)buf_append(f, s, n);
	p->field_budget -= n;
}

static void
header_line(struct mail_mime_parser *p, size_t clen)
{
	const uint8_t *c = p->line;
	const uint8_t *colon;
	size_t nlen;

	if (c[0] == ' ' || c[0] == '\t') {
		if (p->cur_field >= 0) {
			struct buf *f = p->field[p->cur_field];
			field_append(p, f, c, clen);
		}
		return;
	}
	p->cur_field = -1;
	colon = memchr(c, ':', clen);
	if (colon == NULL)
		return;
	nlen = (size_t)(colon - c);
	while (nlen > 0 && (c[nlen - 1] == ' ' || c[nlen - 1] == '\t'))
		nlen--;
	for (int k = 0; k < F_COUNT; k++) {
		if (strlen(field_names[k]) != nlen ||
		    strncasecmp((const char *)c, field_names[k], nlen) != 0)
			continue;
		if (!p->field_seen[k]) {
			struct buf *f = p->field[k];
			size_t vlen = clen - (size_t)(colon + 1 - c);

			p->field_seen[k] = true;
			p->cur_field = k;
			field_append(p, f, colon + 1, vlen);
		}
		break;
	}
}

/* The line at line_start is complete (has_lf) or the input ended. */
static void
process_line(struct mail_mime_parser *p, bool has_lf)
{
	uint8_t eol = 0;
	uint64_t clen64;
	size_t clen;
	struct open_part *top;
	bool close = false;
	int m;

	if (has_lf)
		eol = (p->line_len >= 2 && p->last_byte == '\r') ? 2 : 1;
	clen64 = p->line_len - eol;
	clen = clen64 < p->line_kept ? (size_t)clen64 : p->line_kept;

	m = match_boundary(p, clen, &close);
	if (m >= 0) {
		uint64_t end = p->line_start >= p->prev_eol ?
			       p->line_start - p->prev_eol : 0;

		close_above(p, (size_t)m + 1, end, p->n_lf - 1,
			    !p->prev_nonempty);
		if (close) {
			part_at(p, p->chain[m].idx)->flags |= MAIL_PART_CLOSED;
		} else if (p->t->n_parts < MAIL_MIME_MAX_PARTS) {
			open_new_part(p, p->line_start + p->line_len);
		}
		return;
	}
	top = &p->chain[p->n_open - 1];
	if (!top->in_header)
		return;
	if (clen64 == 0 && has_lf) {
		finish_header(p, top, p->line_start + p->line_len, true);
		return;
	}
	if (clen > 0)
		header_line(p, clen);
}

struct mail_mime_parser *
mail_mime_parser_new(void)
{
	struct mail_mime_parser *p = xcalloc(1, sizeof(*p));

	p->t = xcalloc(1, sizeof(*p->t));
	p->t->pool = pool_new(4096);
	for (int i = 0; i < F_COUNT; i++)
		p->field[i] = buf_new(MAIL_MIME_FIELD_MAX);
	p->tail_wsp = true;
	p->prev_eol = 0;
	p->field_budget = MAIL_MIME_FIELDS_TOTAL_MAX;
	open_new_part(p, 0);
	return p;
}

static void
line_done(struct mail_mime_parser *p)
{
	p->n_lf++;
	p->prev_eol = (p->line_len >= 2 && p->last_byte == '\r') ? 2 : 1;
	p->prev_nonempty = p->line_len > p->prev_eol;
	p->line_start += p->line_len;
	p->line_len = 0;
	p->line_kept = 0;
	p->tail_wsp = true;
}

void
mail_mime_parser_push(struct mail_mime_parser *p, const void *data,
		      size_t len)
{
	const uint8_t *d = data;

	while (len > 0) {
		const uint8_t *lf = memchr(d, '\n', len);
		size_t n = lf != NULL ? (size_t)(lf - d) + 1 : len;
		size_t keep = LINE_KEEP - p->line_kept;

		if (keep > n)
			keep = n;
		memcpy(p->line + p->line_kept, d, keep);
		p->line_kept += keep;
		for (size_t i = keep; i < n && p->tail_wsp; i++)
			p->tail_wsp = d[i] == ' ' || d[i] == '\t' ||
				      d[i] == '\r' || d[i] == '\n';
		/* The byte before the LF, to tell CRLF from LF. */
		if (lf != NULL && n >= 2)
			p->last_byte = d[n - 2];
		else if (lf != NULL && p->line_len == 0)
			p->last_byte = 0;
		else if (lf == NULL)
			p->last_byte = d[n - 1];
		p->line_len += n;
		p->off += n;
		p->last_lf = lf != NULL;
		d += n;
		len -= n;
		if (lf != NULL) {
			/* The line's own bytes stop before the LF. */
			if (p->line_kept > 0 && p->line_kept == p->line_len)
				p->line_kept--;
			process_line(p, true);
			line_done(p);
		}
	}
}

struct mail_tree *
mail_mime_parser_finish(struct mail_mime_parser **pp)
{
	struct mail_mime_parser *p = *pp;
	struct mail_tree *t;

	if (p == NULL)
		return NULL;
	if (p->line_len > 0)
		process_line(p, false);
	close_above(p, 0, p->off, p->n_lf, p->last_lf);
	t = p->t;
	t->size = p->off;
	for (int i = 0; i < F_COUNT; i++)
		buf_free(&p->field[i]);
	free(p);
	*pp = NULL;
	return t;
}

struct mail_tree *
mail_mime_parse(const void *data, size_t len)
{
	struct mail_mime_parser *p = mail_mime_parser_new();

	mail_mime_parser_push(p, data, len);
	return mail_mime_parser_finish(&p);
}

struct mail_tree *
mail_mime_parse_fd(int fd, off_t offset, uint64_t size)
{
	struct mail_mime_parser *p = mail_mime_parser_new();
	uint8_t *chunk = xmalloc(65536);
	uint64_t done = 0;
	struct mail_tree *t;

	while (done < size) {
		size_t want = size - done < 65536 ? (size_t)(size - done) : 65536;
		ssize_t r = pread(fd, chunk, want, offset + (off_t)done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r == 0 ? EIO : errno;

			free(chunk);
			t = mail_mime_parser_finish(&p);
			mail_tree_free(&t);
			errno = e;
			return NULL;
		}
		mail_mime_parser_push(p, chunk, (size_t)r);
		done += (uint64_t)r;
	}
	free(chunk);
	return mail_mime_parser_finish(&p);
}

int
mail_part_decoded_size_fd(int fd, off_t offset, const struct mail_part *p,
			  uint64_t *size)
{
	struct mail_decoder d;
	uint8_t *chunk;
	uint64_t done = 0;

	if (mail_decoder_init(&d, p->cte) < 0)
		return -2;
	chunk = xmalloc(65536);
	while (done < p->body_size) {
		uint64_t left = p->body_size - done;
		size_t want = left < 65536 ? (size_t)left : 65536;
		ssize_t r = pread(fd, chunk, want,
				  offset + (off_t)(p->body_offset + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			free(chunk);
			return -1;
		}
		(void)mail_decoder_push(&d, chunk, (size_t)r, NULL);
		done += (uint64_t)r;
	}
	(void)mail_decoder_finish(&d, NULL);
	free(chunk);
	*size = d.out_total;
	return 0;
}

void
mail_tree_free(struct mail_tree **tp)
{
	struct mail_tree *t = *tp;

	if (t == NULL)
		return;
	pool_free(&t->pool);
	free(t->parts);
	free(t);
	*tp = NULL;
}

const struct mail_part *
mail_part_child(const struct mail_tree *t, const struct mail_part *p,
		uint32_t n)
{
	uint32_t c = p->first_child;

	if (n == 0)
		return NULL;
	while (c != MAIL_PART_NONE && --n > 0)
		c = t->parts[c].next;
	return c == MAIL_PART_NONE ? NULL : &t->parts[c];
}
