/*
 * libFuzzer harness for lib/storage/uidlist.c: hostile dovecot-uidlist,
 * courierimapuiddb and dovecot-keywords files. Every input goes through
 * all three parsers. Checked (abort() on a violation):
 *   - entries come in strictly increasing UID order, 0 < uid <
 *     4294967295, the header has a non-zero UIDVALIDITY and a NEXTUID
 *     above every UID, names point into the input and are names
 *     maildir_name_parse() accepts, with the base inside the name;
 *   - keyword ids are 0..25, each once, names 1..UIDLIST_KEYWORD_MAX
 *     atom characters;
 *   - the stats count what the callbacks saw;
 *   - a prefix of the file (cut anywhere) yields a prefix of the
 *     entries: a half-written file can lose its last line, nothing else.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/parser.h"
#include "storage/maildir-name.h"
#include "storage/uidlist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond)
{
	if (!cond)
		abort();
}

struct run {
	const char *data;
	size_t size;
	uint32_t uids[4096];
	size_t n;
	bool overflow;
};

static int
entry_cb(void *ctx, const struct uidlist_entry *e)
{
	struct run *r = ctx;
	struct maildir_name mn;

	check(e->uid > 0 && e->uid < UINT32_MAX);
	if (r->n > 0)
		check(e->uid > r->uids[r->n - 1]);
	check(e->filename >= r->data &&
	      e->filename_len <= (size_t)(r->data + r->size - e->filename));
	check(e->base_len > 0 && e->base_len <= e->filename_len);
	check(maildir_name_parse(e->filename, e->filename_len, &mn) == 0);
	check(mn.base_len == e->base_len);
	check(memchr(e->filename, '\n', e->filename_len) == NULL);
	if (r->n < sizeof(r->uids) / sizeof(r->uids[0]))
		r->uids[r->n] = e->uid;
	else
		r->overflow = true;
	r->n++;
	return 0;
}

static int
keyword_cb(void *ctx, unsigned id, const char *name, size_t len)
{
	bool *seen = ctx;

	check(id < UIDLIST_KEYWORD_IDS && !seen[id]);
	seen[id] = true;
	check(len >= 1 && len <= UIDLIST_KEYWORD_MAX);
	for (size_t i = 0; i < len; i++)
		check(imap_is_atom_char((uint8_t)name[i]));
	return 0;
}

typedef int parse_fn(const char *, size_t, struct uidlist_header *,
		     uidlist_entry_cb *, void *, struct uidlist_stats *);

static void
uids(parse_fn *parse, const char *d, size_t size, size_t cut)
{
	struct run *full = calloc(1, sizeof(*full));
	struct run *pre = calloc(1, sizeof(*pre));
	struct uidlist_header h, hp;
	struct uidlist_stats st, stp;
	int ret, retp;

	check(full != NULL && pre != NULL);
	full->data = pre->data = d;
	full->size = size;
	pre->size = cut;
	ret = parse(d, size, &h, entry_cb, full, &st);
	if (ret == 0) {
		check(h.version == 1 || h.version == 3);
		check(h.uidvalidity != 0 && h.nextuid != 0);
		if (full->n > 0 && !full->overflow)
			check(h.nextuid > full->uids[full->n - 1]);
		check(st.entries == full->n);
	} else {
		check(ret == -1 && full->n == 0 && h.uidvalidity == 0);
	}

	retp = parse(d, cut, &hp, entry_cb, pre, &stp);
	if (retp == 0) {
		/* The header line is complete in the prefix, so it is the
		 * same header. */
		check(ret == 0 && hp.uidvalidity == h.uidvalidity);
		check(pre->n <= full->n);
		if (!full->overflow && !pre->overflow)
			check(memcmp(pre->uids, full->uids,
				     pre->n * sizeof(pre->uids[0])) == 0);
	}
	free(pre);
	free(full);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *d = (const char *)data;
	bool seen[UIDLIST_KEYWORD_IDS] = { false };
	struct uidlist_stats st;
	size_t cut, nkw = 0;

	if (size < 2)
		return 0;
	cut = ((size_t)data[0] << 8 | data[1]) % size;
	d += 2;
	size -= 2;
	if (cut > size)
		cut = size;

	uids(uidlist_parse_dovecot, d, size, cut);
	uids(uidlist_parse_courier, d, size, cut);

	check(uidlist_parse_keywords(d, size, keyword_cb, seen, &st) == 0);
	for (size_t i = 0; i < UIDLIST_KEYWORD_IDS; i++)
		nkw += seen[i];
	check(st.entries == nkw);
	return 0;
}
