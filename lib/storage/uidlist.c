/*
 * uidlist: readers for dovecot-uidlist, courierimapuiddb and
 * dovecot-keywords. Caller: the Maildir backend's first open of a folder
 * (migration). The files were written by other servers or edited by the
 * user: every line is checked and a bad one skipped, the header alone
 * decides whether the file is used at all, and only the caller's buffer
 * is read (lines are found with memchr over the remaining length).
 */
#include <errno.h>
#include <string.h>

#include "core/num.h"
#include "imap/parser.h"
#include "storage/maildir-name.h"
#include "storage/uidlist.h"

struct lines {
	const char *p;
	size_t left;
	bool partial;
};

/* The next complete line, without its '\n'. */
static bool
next_line(struct lines *it, const char **line, size_t *len)
{
	const char *nl;

	if (it->left == 0)
		return false;
	nl = memchr(it->p, '\n', it->left);
	if (nl == NULL) {
		it->partial = true;
		it->left = 0;
		return false;
	}
	*line = it->p;
	*len = (size_t)(nl - it->p);
	it->left -= *len + 1;
	it->p = nl + 1;
	return true;
}

/* The space-separated word at line[*i], moved past; false if none. */
static bool
word(const char *line, size_t len, size_t *i, const char **w, size_t *wl)
{
	size_t s;

	while (*i < len && line[*i] == ' ')
		(*i)++;
	s = *i;
	while (*i < len && line[*i] != ' ')
		(*i)++;
	*w = line + s;
	*wl = *i - s;
	return *wl > 0;
}

static bool
parse_u32(const char *s, size_t n, uint32_t *v)
{
	uint64_t x;

	if (num_parse_u64_n(s, n, UINT32_MAX, &x) < 0)
		return false;
	*v = (uint32_t)x;
	return true;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "1 <uidvalidity> <nextuid>" (Dovecot v1, Courier), extra words
 * ignored as Courier's sscanf does; or Dovecot's
 * "3 V<uidvalidity> N<nextuid> G<guid> [<key><value> ...]". */
static int
parse_header(const char *line, size_t len, bool allow_v3,
	     struct uidlist_header *hdr)
{
	const char *w;
	size_t wl, i = 0;
	bool have_v = false, have_n = false;

	memset(hdr, 0, sizeof(*hdr));
	if (!word(line, len, &i, &w, &wl) || wl != 1)
		return -1;
	if (w[0] == '1') {
		hdr->version = 1;
		if (!word(line, len, &i, &w, &wl) ||
		    !parse_u32(w, wl, &hdr->uidvalidity) ||
		    !word(line, len, &i, &w, &wl) ||
		    !parse_u32(w, wl, &hdr->nextuid))
			return -1;
		have_v = have_n = true;
	} else if (w[0] == '3' && allow_v3) {
		hdr->version = 3;
		while (word(line, len, &i, &w, &wl)) {
			switch (w[0]) {
			case 'V':
				if (have_v || !parse_u32(w + 1, wl - 1,
							 &hdr->uidvalidity))
					return -1;
				have_v = true;
				break;
			case 'N':
				if (have_n || !parse_u32(w + 1, wl - 1,
							 &hdr->nextuid))
					return -1;
				have_n = true;
				break;
			case 'G':
				if (hdr->has_guid || wl != 33)
					return -1;
				for (size_t k = 0; k < 16; k++) {
					int hi = hexval(w[1 + 2 * k]);
					int lo = hexval(w[2 + 2 * k]);

					if (hi < 0 || lo < 0)
						return -1;
					hdr->guid[k] = (uint8_t)(hi << 4 | lo);
				}
				hdr->has_guid = true;
				break;
			default:
				break;   /* other header extensions */
			}
		}
	} else {
		return -1;
	}
	if (!have_v || !have_n || hdr->uidvalidity == 0 || hdr->nextuid == 0 ||
	    hdr->uidvalidity >= UIDLIST_UIDVALIDITY_LIMIT ||
	    hdr->nextuid > UIDLIST_UID_LIMIT)
		return -1;
	return 0;
}

enum entry_syntax {
	SYNTAX_V1_DOVECOT,   /* "<uid> <filename>", spaces skipped */
	SYNTAX_COURIER,      /* "<uid> <filename>", one space */
	SYNTAX_V3,           /* "<uid> [fields] :<filename>" */
};

/* Parses one entry line into *e; false for a malformed line. */
static bool
parse_entry(const char *line, size_t len, enum entry_syntax syn,
	    struct uidlist_entry *e)
{
	struct maildir_name mn;
	size_t i = 0, s;

	memset(e, 0, sizeof(*e));
	while (i < len && line[i] >= '0' && line[i] <= '9')
		i++;
	if (i == 0 || i >= len || line[i] != ' ' || !parse_u32(line, i, &e->uid))
		return false;
	i++;
	if (syn == SYNTAX_V1_DOVECOT) {
		while (i < len && line[i] == ' ')
			i++;
	} else if (syn == SYNTAX_V3) {
		for (;;) {
			while (i < len && line[i] == ' ')
				i++;
			if (i >= len)
				return false;   /* no ':' before the name */
			if (line[i] == ':') {
				i++;
				break;
			}
			s = i;
			while (i < len && line[i] != ' ')
				i++;
			/* Field keys are A-Z (Dovecot); others are skipped
			 * as Dovecot skips them. */
			if (line[s] == 'S' || line[s] == 'W') {
				uint64_t v;

				if (num_parse_u64_n(line + s + 1, i - s - 1,
						    UINT64_MAX, &v) == 0) {
					if (line[s] == 'S') {
						e->has_size = true;
						e->size = v;
					} else {
						e->has_vsize = true;
						e->vsize = v;
					}
				}
			}
		}
	}
	e->filename = line + i;
	e->filename_len = len - i;
	if (maildir_name_parse(e->filename, e->filename_len, &mn) < 0)
		return false;
	e->base_len = mn.base_len;
	return true;
}

static int
parse_uids(const char *data, size_t len, bool dovecot,
	   struct uidlist_header *hdr, uidlist_entry_cb *cb, void *ctx,
	   struct uidlist_stats *st)
{
	struct uidlist_stats dummy;
	struct lines it = { data, len, false };
	const char *line;
	size_t ll;
	uint32_t prev = 0;
	enum entry_syntax syn;
	int ret = 0;

	if (st == NULL)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	if (!next_line(&it, &line, &ll) || ll > UIDLIST_LINE_MAX ||
	    parse_header(line, ll, dovecot, hdr) < 0) {
		memset(hdr, 0, sizeof(*hdr));
		st->partial_tail = it.partial;
		errno = EINVAL;
		return -1;
	}
	syn = !dovecot ? SYNTAX_COURIER :
	    hdr->version == 3 ? SYNTAX_V3 : SYNTAX_V1_DOVECOT;
	while (next_line(&it, &line, &ll)) {
		struct uidlist_entry e;

		/* UIDs are nz-number; from 2^31 up they would use up the
		 * UID space (4294967295 leaves no UIDNEXT at all). */
		if (ll > UIDLIST_LINE_MAX || !parse_entry(line, ll, syn, &e) ||
		    e.uid == 0 || e.uid >= UIDLIST_UID_LIMIT) {
			st->bad_lines++;
			continue;
		}
		if (e.uid <= prev) {
			st->out_of_order++;
			continue;
		}
		prev = e.uid;
		st->entries++;
		if ((ret = cb(ctx, &e)) != 0)
			break;
	}
	if (it.partial)
		st->partial_tail = true;
	/* Never hand out a UID the file already used. */
	if (prev >= hdr->nextuid)
		hdr->nextuid = prev + 1;
	return ret;
}

int
uidlist_parse_dovecot(const char *data, size_t len,
		      struct uidlist_header *hdr, uidlist_entry_cb *cb,
		      void *ctx, struct uidlist_stats *st)
{
	return parse_uids(data, len, true, hdr, cb, ctx, st);
}

int
uidlist_parse_courier(const char *data, size_t len,
		      struct uidlist_header *hdr, uidlist_entry_cb *cb,
		      void *ctx, struct uidlist_stats *st)
{
	return parse_uids(data, len, false, hdr, cb, ctx, st);
}

int
uidlist_parse_keywords(const char *data, size_t len, uidlist_keyword_cb *cb,
		       void *ctx, struct uidlist_stats *st)
{
	struct uidlist_stats dummy;
	struct lines it = { data, len, false };
	bool seen[UIDLIST_KEYWORD_IDS] = { false };
	const char *line;
	size_t ll;
	int ret = 0;

	if (st == NULL)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	while (next_line(&it, &line, &ll)) {
		size_t i = 0, nl = 0;
		uint32_t id = 0;
		bool ok;

		while (i < ll && line[i] >= '0' && line[i] <= '9')
			i++;
		if (i < ll)
			nl = ll - i - 1;   /* the name after "<id> " */
		ok = i > 0 && i < ll && line[i] == ' ' &&
		    parse_u32(line, i, &id) && id < UIDLIST_KEYWORD_IDS &&
		    nl > 0 && nl <= UIDLIST_KEYWORD_MAX;
		for (size_t k = i + 1; ok && k < ll; k++)
			ok = imap_is_atom_char((uint8_t)line[k]);
		if (!ok) {
			st->bad_lines++;
			continue;
		}
		if (seen[id]) {
			st->out_of_order++;
			continue;
		}
		seen[id] = true;
		st->entries++;
		if ((ret = cb(ctx, id, line + i + 1, nl)) != 0)
			break;
	}
	if (it.partial)
		st->partial_tail = true;
	return ret;
}
