/*
 * mail subject: RFC 5256 §2.1 base-subject extraction. Input is a raw,
 * untrusted Subject value; the work is linear in its (bounded) length
 * per pass and every pass shortens the text, so it ends.
 */
#include <errno.h>
#include <string.h>

#include "mail/casemap.h"
#include "mail/encword.h"
#include "mail/subject.h"

/* Decoding can triple legacy 8-bit text (Windows-1252 -> UTF-8). */
#define SUBJECT_DECODED_MAX (MAIL_SUBJECT_MAX * 4)

struct span {
	const char *s;
	size_t b, e;             /* the text left: s[b..e) */
};

static bool
ci_prefix(const struct span *sp, size_t at, const char *lit)
{
	size_t n = strlen(lit);

	if (sp->e - at < n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = sp->s[at + i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c + ('a' - 'A'));
		if (c != lit[i])
			return false;
	}
	return true;
}

/* subj-blob = "[" *BLOBCHAR "]" *WSP at at: its end, or 0 if none. */
static size_t
blob_end(const struct span *sp, size_t at)
{
	size_t i = at;

	if (i >= sp->e || sp->s[i] != '[')
		return 0;
	for (i++; i < sp->e && sp->s[i] != ']'; i++) {
		if (sp->s[i] == '[')
			return 0;
	}
	if (i >= sp->e)
		return 0;
	for (i++; i < sp->e && sp->s[i] == ' '; i++)
		;
	return i;
}

/* Step 2: trailing spaces and "(fwd)". */
static void
strip_trailers(struct span *sp, bool *reply)
{
	for (;;) {
		if (sp->e > sp->b && sp->s[sp->e - 1] == ' ') {
			sp->e--;
		} else if (sp->e - sp->b >= 5 &&
			   ci_prefix(sp, sp->e - 5, "(fwd)")) {
			sp->e -= 5;
			*reply = true;
		} else {
			return;
		}
	}
}

/* subj-leader = (*subj-blob subj-refwd) / WSP; subj-refwd = ("re" /
 * ("fw" ["d"])) *WSP [subj-blob] ":". Returns true if one was removed. */
static bool
strip_leader(struct span *sp, bool *reply)
{
	size_t i = sp->b, j;

	if (i < sp->e && sp->s[i] == ' ') {
		sp->b++;
		return true;
	}
	while ((j = blob_end(sp, i)) != 0)
		i = j;
	if (ci_prefix(sp, i, "re"))
		i += 2;
	else if (ci_prefix(sp, i, "fwd"))
		i += 3;
	else if (ci_prefix(sp, i, "fw"))
		i += 2;
	else
		return false;
	while (i < sp->e && sp->s[i] == ' ')
		i++;
	if ((j = blob_end(sp, i)) != 0)
		i = j;
	if (i >= sp->e || sp->s[i] != ':')
		return false;
	sp->b = i + 1;
	*reply = true;
	return true;
}

/* Step 4: a leading blob goes if a non-empty subj-base is left. */
static bool
strip_blob(struct span *sp)
{
	size_t j = blob_end(sp, sp->b);

	if (j == 0 || j >= sp->e)
		return false;
	sp->b = j;
	return true;
}

/* Step 1's whitespace: tabs, CR, LF become spaces, runs one space. */
static void
squeeze_spaces(struct buf *b)
{
	uint8_t *d = buf_data_mut(b);
	size_t n = buf_len(b), o = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t c = d[i];

		if (c == '\t' || c == '\r' || c == '\n')
			c = ' ';
		if (c == ' ' && o > 0 && d[o - 1] == ' ')
			continue;
		d[o++] = c;
	}
	buf_truncate(b, o);
}

int
mail_subject_base(const void *raw, size_t len, struct buf *out, bool *reply)
{
	struct buf *dec = buf_new(SUBJECT_DECODED_MAX);
	struct span sp;
	bool dummy, changed;
	int rc;

	if (reply == NULL)
		reply = &dummy;
	*reply = false;
	if (len > MAIL_SUBJECT_MAX)
		len = MAIL_SUBJECT_MAX;
	/* A full buffer keeps a partial decode, which is still a fine
	 * key. */
	(void)mail_encword_decode(raw, len, dec);
	squeeze_spaces(dec);
	sp.s = (const char *)buf_data(dec);
	sp.b = 0;
	sp.e = buf_len(dec);
	for (;;) {
		strip_trailers(&sp, reply);
		do {
			changed = false;
			while (strip_leader(&sp, reply))
				changed = true;
			if (strip_blob(&sp))
				changed = true;
		} while (changed);
		/* Step 6: subj-fwd-hdr "[fwd:" ... subj-fwd-trl "]". */
		if (sp.e - sp.b >= 6 && ci_prefix(&sp, sp.b, "[fwd:") &&
		    sp.s[sp.e - 1] == ']') {
			sp.b += 5;
			sp.e--;
			*reply = true;
			continue;
		}
		break;
	}
	rc = buf_append(out, sp.s + sp.b, sp.e - sp.b);
	buf_free(&dec);
	return rc;
}

int
mail_subject_key(const void *raw, size_t len, struct buf *out, bool *reply)
{
	struct buf *base = buf_new(SUBJECT_DECODED_MAX);
	int rc;

	rc = mail_subject_base(raw, len, base, reply);
	if (rc == 0)
		rc = mail_casemap(buf_data(base), buf_len(base), out);
	buf_free(&base);
	return rc;
}
