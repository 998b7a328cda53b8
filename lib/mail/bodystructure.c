/*
 * mail_bodystructure: the RFC 9051 §7.5.2 body list from the MIME tree
 * (see bodystructure.h). Callers: FETCH BODY / BODYSTRUCTURE. The tree
 * is validated (parser or cache decoder); strings in it come from the
 * message and go out through lib/imap's writer, which picks quoted or
 * literal form. Recursion follows the tree, whose depth is at most
 * MAIL_MIME_MAX_DEPTH.
 */
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "imap/writer.h"
#include "mail/bodystructure.h"

/* RFC 9051 envelope with every field NIL: grammatical, and what a
 * caller without an envelope writer gets. */
#define NIL_ENVELOPE "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"

struct bs {
	struct buf *out;
	const struct mail_tree *t;
	bool ext;
	mail_envelope_fn *envelope;
	void *ctx;
};

static int
str(struct buf *b, const char *s)
{
	return imap_write_string(b, s, strlen(s));
}

static int
nstr(struct buf *b, const char *s)
{
	return s == NULL ? buf_append_str(b, "NIL") : str(b, s);
}

static int
params(struct buf *b, const struct mail_param *ps, size_t n)
{
	if (n == 0)
		return buf_append_str(b, "NIL");
	if (buf_append_byte(b, '(') < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *name = ps[i].name;
		int rc;

		if (i > 0 && buf_append_byte(b, ' ') < 0)
			return -1;
		if (ps[i].extended) {
			char *starred = xasprintf("%s*", name);

			rc = str(b, starred);
			free(starred);
		} else {
			rc = str(b, name);
		}
		if (rc < 0 || buf_append_byte(b, ' ') < 0 ||
		    str(b, ps[i].value) < 0)
			return -1;
	}
	return buf_append_byte(b, ')');
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc */
static int
ext_tail(struct buf *b, const struct mail_part *p)
{
	if (buf_append_byte(b, ' ') < 0)
		return -1;
	if (p->has_disposition) {
		if (buf_append_byte(b, '(') < 0 || str(b, p->disp.type) < 0 ||
		    buf_append_byte(b, ' ') < 0 ||
		    params(b, p->disp.params, p->disp.n_params) < 0 ||
		    buf_append_byte(b, ')') < 0)
			return -1;
	} else if (buf_append_str(b, "NIL") < 0) {
		return -1;
	}
	if (buf_append_byte(b, ' ') < 0)
		return -1;
	if (p->n_language == 0) {
		if (buf_append_str(b, "NIL") < 0)
			return -1;
	} else {
		if (buf_append_byte(b, '(') < 0)
			return -1;
		for (size_t i = 0; i < p->n_language; i++)
			if ((i > 0 && buf_append_byte(b, ' ') < 0) ||
			    str(b, p->language[i]) < 0)
				return -1;
		if (buf_append_byte(b, ')') < 0)
			return -1;
	}
	if (buf_append_byte(b, ' ') < 0)
		return -1;
	return nstr(b, p->location);
}

static int write_part(struct bs *s, const struct mail_part *p);

static int
write_multipart(struct bs *s, const struct mail_part *p)
{
	struct buf *b = s->out;

	if (buf_append_byte(b, '(') < 0)
		return -1;
	if (p->n_children == 0) {
		if (buf_append_str(b, "(\"text\" \"plain\" (\"charset\" "
				   "\"us-ascii\") NIL NIL \"7bit\" 0 0)") < 0)
			return -1;
	}
	for (uint32_t c = p->first_child; c != MAIL_PART_NONE;
	     c = s->t->parts[c].next)
		if (write_part(s, &s->t->parts[c]) < 0)
			return -1;
	if (buf_append_byte(b, ' ') < 0 || str(b, p->ct.subtype) < 0)
		return -1;
	if (s->ext && (buf_append_byte(b, ' ') < 0 ||
		       params(b, p->ct.params, p->ct.n_params) < 0 ||
		       ext_tail(b, p) < 0))
		return -1;
	return buf_append_byte(b, ')');
}

static int
write_part(struct bs *s, const struct mail_part *p)
{
	struct buf *b = s->out;
	bool text = strcmp(p->ct.type, "text") == 0;
	bool msg = (p->flags & MAIL_PART_MESSAGE) != 0 &&
		   p->first_child != MAIL_PART_NONE;

	if ((p->flags & MAIL_PART_MULTIPART) != 0)
		return write_multipart(s, p);
	if (buf_append_byte(b, '(') < 0 || str(b, p->ct.type) < 0 ||
	    buf_append_byte(b, ' ') < 0 || str(b, p->ct.subtype) < 0 ||
	    buf_append_byte(b, ' ') < 0 ||
	    params(b, p->ct.params, p->ct.n_params) < 0 ||
	    buf_append_byte(b, ' ') < 0 || nstr(b, p->id) < 0 ||
	    buf_append_byte(b, ' ') < 0 || nstr(b, p->description) < 0 ||
	    buf_append_byte(b, ' ') < 0 ||
	    str(b, p->cte_name != NULL ? p->cte_name : "7bit") < 0 ||
	    buf_printf(b, " %llu", (unsigned long long)p->body_size) < 0)
		return -1;
	if (msg) {
		const struct mail_part *child = &s->t->parts[p->first_child];

		if (buf_append_byte(b, ' ') < 0 ||
		    (s->envelope != NULL ?
		     s->envelope(s->ctx, s->t, child, b) :
		     buf_append_str(b, NIL_ENVELOPE)) < 0 ||
		    buf_append_byte(b, ' ') < 0 || write_part(s, child) < 0)
			return -1;
	}
	if ((msg || text) &&
	    buf_printf(b, " %llu", (unsigned long long)p->body_lines) < 0)
		return -1;
	if (s->ext && (buf_append_byte(b, ' ') < 0 || nstr(b, p->md5) < 0 ||
		       ext_tail(b, p) < 0))
		return -1;
	return buf_append_byte(b, ')');
}

int
mail_bodystructure_write(struct buf *out, const struct mail_tree *t,
			 bool extended, mail_envelope_fn *envelope, void *ctx)
{
	struct bs s = { out, t, extended, envelope, ctx };
	size_t start = buf_len(out);

	if (write_part(&s, &t->parts[0]) < 0) {
		buf_truncate(out, start);
		return -1;
	}
	return 0;
}
