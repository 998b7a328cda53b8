/*
 * libFuzzer harness for imap/fetch-section.c: a hostile FETCH section
 * spec and partial, parsed in each syntax (BODY, BINARY, BINARY.SIZE)
 * and, when accepted, looked up in the MIME tree of a fixed nested
 * message (lib/mail/section.c). Checked for every input:
 *   - an accepted spec starts with "[", has at most
 *     MAIL_SECTION_MAX_PARTS non-zero part numbers and at most
 *     FETCH_SECTION_MAX_FIELDS non-empty field names without ":";
 *   - BINARY and BINARY.SIZE accept part numbers only, BINARY.SIZE no
 *     partial, and MIME never without a part number;
 *   - a partial has a non-zero count;
 *   - re-parsing the canonical spec gives the same section;
 *   - the range the lookup gives lies inside the message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/pool.h"
#include "imap/fetch-section.h"
#include "mail/mime.h"
#include "mail/section.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char msg[] =
	"Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
	"--b\r\nContent-Type: text/plain\r\n\r\none\r\n"
	"--b\r\nContent-Type: message/rfc822\r\n\r\n"
	"Subject: in\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n"
	"--c\r\n\r\ntwo\r\n--c\r\nContent-Type: text/plain\r\n\r\n3\r\n"
	"--c--\r\n--b--\r\n";

static void
check(int cond)
{
	if (!cond)
		abort();
}

static bool
same(const struct mail_section *a, const struct mail_section *b)
{
	if (a->kind != b->kind || a->n_part != b->n_part ||
	    a->n_fields != b->n_fields ||
	    memcmp(a->part, b->part, a->n_part * sizeof(a->part[0])) != 0)
		return false;
	for (size_t i = 0; i < a->n_fields; i++)
		if (strcmp(a->fields[i], b->fields[i]) != 0)
			return false;
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mail_tree *tree;
	char *s;

	if (tree == NULL)
		tree = mail_mime_parse(msg, sizeof(msg) - 1);
	if (size > 4096)
		return 0;
	s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	for (int syn = 0; syn < 3; syn++) {
		struct pool *pool = pool_new(4096);
		struct fetch_section fs, again;
		struct mail_section_range r;
		const char *error;

		if (fetch_section_parse(pool, s, (enum fetch_section_syntax)syn,
					&fs, &error) == 0) {
			check(s[0] == '[' && fs.spec[0] == '[');
			check(fs.sec.n_part <= MAIL_SECTION_MAX_PARTS);
			for (size_t i = 0; i < fs.sec.n_part; i++)
				check(fs.sec.part[i] != 0);
			check(fs.sec.n_fields <= FETCH_SECTION_MAX_FIELDS);
			for (size_t i = 0; i < fs.sec.n_fields; i++)
				check(fs.sec.fields[i][0] != '\0' &&
				      strchr(fs.sec.fields[i], ':') == NULL);
			if (syn != FETCH_SECTION_BODY)
				check(fs.sec.kind == MAIL_SECTION_BODY &&
				      fs.sec.n_fields == 0);
			if (syn == FETCH_SECTION_SIZE)
				check(!fs.partial);
			if (fs.sec.kind == MAIL_SECTION_MIME)
				check(fs.sec.n_part > 0);
			if (fs.partial)
				check(fs.count > 0);
			check(fetch_section_parse(
				      pool, fs.spec,
				      (enum fetch_section_syntax)syn, &again,
				      &error) == 0 &&
			      same(&fs.sec, &again.sec));
			check(mail_section_lookup(tree, &fs.sec, &r) == 0);
			if (r.exists)
				check(r.offset <= tree->size &&
				      r.size <= tree->size - r.offset);
		}
		pool_free(&pool);
	}
	free(s);
	return 0;
}
