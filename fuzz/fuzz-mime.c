/*
 * libFuzzer harness for lib/mail's MIME tree (mime.c, mime-cache.c),
 * section lookup and BODYSTRUCTURE writer: a hostile message. The first
 * byte picks the chunk size the parser is fed with. Checked for every
 * input (abort() reports a violation):
 *   - the message's own header ends where mail_header_block_len says
 *     (FETCH ENVELOPE reads only the head of a message and relies on
 *     it to give the envelope the whole parse would);
 *   - every part lies inside the message, header and body are adjacent,
 *     children lie inside their parent's body (plus the boundary's line
 *     end), lines <= bytes, depth <= MAIL_MIME_MAX_DEPTH, part count <=
 *     MAIL_MIME_MAX_PARTS;
 *   - parsing in chunks gives the same tree as parsing whole;
 *   - serialize -> deserialize -> serialize is the identity, and the
 *     input itself given to the strict decoder is either refused or a
 *     tree that keeps the invariants;
 *   - every section lookup over part numbers 1-3 up to 4 deep gives a
 *     range inside the message;
 *   - BODY and BODYSTRUCTURE are well-formed IMAP lists, which the
 *     check of a cached text (imap_list_valid) accepts;
 *   - the CTE decoder of every leaf gives its decoded size.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/writer.h"
#include "mail/bodystructure.h"
#include "mail/header.h"
#include "mail/section.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond)
{
	if (!cond)
		abort();
}

static void
check_tree(const struct mail_tree *t, uint64_t size)
{
	check(t->n_parts >= 1 && t->n_parts <= MAIL_MIME_MAX_PARTS);
	check(t->size == size);
	for (size_t i = 0; i < t->n_parts; i++) {
		const struct mail_part *p = &t->parts[i];

		check(p->hdr_offset + p->hdr_size == p->body_offset);
		check(p->body_offset <= size && p->body_size <= size - p->body_offset);
		check(p->body_lines <= p->body_size);
		check(p->depth <= MAIL_MIME_MAX_DEPTH);
		check(p->ct.type != NULL && p->ct.subtype != NULL);
		if ((p->flags & MAIL_PART_MESSAGE) != 0)
			check(p->n_children == 1);
		if (i == 0) {
			check(p->parent == MAIL_PART_NONE);
			continue;
		}
		check(p->parent < i);
		check(p->depth == t->parts[p->parent].depth + 1);
		check(p->hdr_offset >= t->parts[p->parent].body_offset);
		check(p->body_offset + p->body_size <=
		      t->parts[p->parent].body_offset +
		      t->parts[p->parent].body_size + 2);
	}
}

static int
envelope(void *ctx, const struct mail_tree *t, const struct mail_part *msg,
	 struct buf *out)
{
	(void)ctx;
	check(msg >= t->parts && msg < t->parts + t->n_parts);
	return buf_append_str(out, "NIL");
}

/* One well-formed IMAP list (see tests/mail/test-bodystructure.c). */
static void
check_list(const struct buf *b)
{
	const char *s = buf_str(b), *end = s + buf_len(b);
	int depth = 0;
	int need_sep = 0;

	check(*s == '(');
	while (s < end) {
		if (need_sep) {
			if (*s != ')' && !(*s == '(' && s[-1] == ')')) {
				check(*s == ' ');
				s++;
			}
			need_sep = 0;
		}
		if (*s == '(') {
			depth++;
			s++;
			continue;
		}
		if (*s == ')') {
			check(depth > 0);
			depth--;
			s++;
			need_sep = depth > 0;
			if (depth == 0)
				check(s == end);
			continue;
		}
		if (*s == '"') {
			for (s++; s < end && *s != '"'; s++) {
				if (*s == '\\')
					s++;
				check(s < end && *s != '\r' && *s != '\n' &&
				      (unsigned char)*s < 0x80);
			}
			check(s < end);
			s++;
		} else if (*s == '{') {
			char *e;
			unsigned long n = strtoul(s + 1, &e, 10);

			check(e[0] == '}' && e[1] == '\r' && e[2] == '\n');
			check(n <= (size_t)(end - (e + 3)));
			s = e + 3 + n;
		} else if (end - s >= 3 && memcmp(s, "NIL", 3) == 0) {
			s += 3;
		} else {
			check(*s >= '0' && *s <= '9');
			while (s < end && *s >= '0' && *s <= '9')
				s++;
		}
		need_sep = 1;
	}
	check(depth == 0);
}

static void
check_writer(const struct mail_tree *t)
{
	struct buf *b = buf_new(64 << 20);

	for (int ext = 0; ext < 4; ext++) {
		buf_reset(b);
		check(mail_bodystructure_write(b, t, ext & 1,
					       ext & 2 ? envelope : NULL,
					       NULL) == 0);
		check_list(b);
		check(imap_list_valid(buf_data(b), buf_len(b), false));
	}
	buf_free(&b);
}

static void
check_sections(const struct mail_tree *t)
{
	static const enum mail_section_kind kinds[] = {
		MAIL_SECTION_BODY, MAIL_SECTION_HEADER, MAIL_SECTION_TEXT,
		MAIL_SECTION_MIME, MAIL_SECTION_HEADER_FIELDS,
	};

	for (size_t depth = 0; depth <= 4; depth++) {
		size_t combos = 1;

		for (size_t i = 0; i < depth; i++)
			combos *= 3;
		for (size_t c = 0; c < combos; c++) {
			struct mail_section s = { .n_part = depth };
			size_t x = c;

			for (size_t i = 0; i < depth; i++, x /= 3)
				s.part[i] = (uint32_t)(x % 3) + 1;
			for (size_t k = 0; k < 5; k++) {
				struct mail_section_range r;

				s.kind = kinds[k];
				if (mail_section_lookup(t, &s, &r) < 0) {
					check(!r.exists);
					continue;
				}
				check(r.offset <= t->size &&
				      r.size <= t->size - r.offset);
			}
		}
	}
}

static void
check_decoders(const struct mail_tree *t, const uint8_t *data)
{
	for (size_t i = 0; i < t->n_parts; i++) {
		const struct mail_part *p = &t->parts[i];
		int64_t n = mail_decoded_size(p->cte, data + p->body_offset,
					      p->body_size);

		check(p->cte == MAIL_CTE_UNKNOWN ? n == -1 :
		      n >= 0 && (uint64_t)n <= p->body_size);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mail_tree *t, *u, *w;
	struct mail_mime_parser *p;
	struct buf *s1, *s2;
	size_t chunk;

	if (size < 1)
		return 0;
	chunk = (size_t)data[0] % 17 + 1;
	data++;
	size--;

	t = mail_mime_parse(data, size);
	check_tree(t, size);
	check(t->parts[0].hdr_offset == 0 &&
	      t->parts[0].hdr_size == mail_header_block_len(data, size));
	p = mail_mime_parser_new();
	for (size_t o = 0; o < size; o += chunk)
		mail_mime_parser_push(p, data + o,
				      size - o < chunk ? size - o : chunk);
	u = mail_mime_parser_finish(&p);

	s1 = buf_new(64 << 20);
	s2 = buf_new(64 << 20);
	check(mail_tree_serialize(t, s1) == 0);
	check(mail_tree_serialize(u, s2) == 0);
	check(buf_len(s1) == buf_len(s2) &&
	      memcmp(buf_data(s1), buf_data(s2), buf_len(s1)) == 0);
	mail_tree_free(&u);
	u = mail_tree_deserialize(buf_data(s1), buf_len(s1), size);
	check(u != NULL);
	buf_reset(s2);
	check(mail_tree_serialize(u, s2) == 0);
	check(buf_len(s1) == buf_len(s2) &&
	      memcmp(buf_data(s1), buf_data(s2), buf_len(s1)) == 0);
	mail_tree_free(&u);

	check_sections(t);
	check_writer(t);
	check_decoders(t, data);

	/* The raw input as a (hostile) cache record. */
	w = mail_tree_deserialize(data, size, size);
	if (w != NULL) {
		check_tree(w, size);
		check_sections(w);
		check_writer(w);
		mail_tree_free(&w);
	}
	mail_tree_free(&t);
	buf_free(&s1);
	buf_free(&s2);
	return 0;
}
