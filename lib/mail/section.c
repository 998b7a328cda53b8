/*
 * mail_section: RFC 9051 §6.4.5 section lookup on the MIME tree (see
 * section.h). Callers: FETCH BODY[...] / BINARY[...]. The tree comes
 * from the parser or the cache decoder (both validated); the section
 * from the client, so every number is checked against the tree.
 */
#include <string.h>

#include "mail/section.h"

static const struct mail_part *
message_child(const struct mail_tree *t, const struct mail_part *p)
{
	if ((p->flags & MAIL_PART_MESSAGE) == 0 ||
	    p->first_child == MAIL_PART_NONE)
		return NULL;
	return &t->parts[p->first_child];
}

/* The part a list of numbers names, or NULL. */
static const struct mail_part *
resolve(const struct mail_tree *t, const uint32_t *num, size_t n)
{
	const struct mail_part *cur = &t->parts[0], *p = NULL;

	for (size_t i = 0; i < n; i++) {
		if ((cur->flags & MAIL_PART_MULTIPART) != 0)
			p = mail_part_child(t, cur, num[i]);
		else
			p = num[i] == 1 ? cur : NULL;
		if (p == NULL)
			return NULL;
		if (i + 1 == n)
			break;
		if ((p->flags & MAIL_PART_MESSAGE) != 0)
			cur = message_child(t, p);
		else if ((p->flags & MAIL_PART_MULTIPART) != 0 && p != cur)
			cur = p;
		else
			return NULL;    /* a leaf has no subparts */
		if (cur == NULL)
			return NULL;
	}
	return p;
}

int
mail_section_lookup(const struct mail_tree *t, const struct mail_section *s,
		    struct mail_section_range *r)
{
	const struct mail_part *p = &t->parts[0], *msg;

	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < s->n_part; i++)
		if (s->part[i] == 0)
			return -1;
	if (s->kind == MAIL_SECTION_MIME && s->n_part == 0)
		return -1;
	if (s->n_part > 0) {
		p = resolve(t, s->part, s->n_part);
		if (p == NULL)
			return 0;
	}
	switch (s->kind) {
	case MAIL_SECTION_BODY:
		r->exists = true;
		if (s->n_part == 0) {
			r->offset = 0;
			r->size = t->size;
		} else {
			r->offset = p->body_offset;
			r->size = p->body_size;
			r->part = p;
		}
		return 0;
	case MAIL_SECTION_MIME:
		r->exists = true;
		r->offset = p->hdr_offset;
		r->size = p->hdr_size;
		return 0;
	case MAIL_SECTION_HEADER:
	case MAIL_SECTION_HEADER_FIELDS:
	case MAIL_SECTION_HEADER_FIELDS_NOT:
	case MAIL_SECTION_TEXT:
		msg = s->n_part == 0 ? p : message_child(t, p);
		if (msg == NULL)
			return 0;
		r->exists = true;
		if (s->kind == MAIL_SECTION_TEXT) {
			r->offset = msg->body_offset;
			r->size = msg->body_size;
		} else {
			r->offset = msg->hdr_offset;
			r->size = msg->hdr_size;
			r->filter = s->kind != MAIL_SECTION_HEADER;
		}
		return 0;
	}
	return 0;
}
