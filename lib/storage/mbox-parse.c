/*
 * mbox_parse: the streaming mbox splitter, From_ lines, mboxo quoting.
 * Callers: the mbox backend and migration. The bytes are mail files that
 * MDAs, MUAs and the senders of the mail wrote: untrusted. The parser
 * keeps only the first MBOX_FROM_LINE_MAX bytes of the current line,
 * bounded header values and a SHA-256 state; every decision about a line
 * depends on those bytes alone, so the result does not depend on how the
 * input is cut into feeds (fuzz/fuzz-mbox.c checks this).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/sha256.h"
#include "core/str.h"
#include "storage/mbox-parse.h"

#define HEAD_MAX MBOX_FROM_LINE_MAX
/* A header field name longer than this is none of the ones we know. */
#define NAME_PEEK 64
#define CAP_MAX (MBOX_VALUE_MAX + NAME_PEEK + 2)

/* What happens to the bytes of the current line. */
enum line_kind {
	K_UNDECIDED,     /* still looking at its first bytes */
	K_FROM,          /* a From_ line that starts a message */
	K_PLAIN,         /* body, junk, blank line, or a field left out */
	K_HASH,          /* a header line in the fingerprint */
	K_CAPTURE,       /* a header line of a field we parse */
};

enum field {
	F_NONE,
	F_OTHER,         /* any field not listed below: hashed */
	F_SKIP,          /* left out of the hash, not parsed (Lines, repeats) */
	F_STATUS,
	F_XSTATUS,
	F_XKEYWORDS,
	F_XUID,
	F_XIMAPBASE,
	F_XIMAP,
	F_CONTENT_LENGTH,
};

static const struct {
	const char *name;
	enum field f;
} fields[] = {
	{ "Status", F_STATUS },
	{ "X-Status", F_XSTATUS },
	{ "X-Keywords", F_XKEYWORDS },
	{ "X-UID", F_XUID },
	{ "X-IMAPbase", F_XIMAPBASE },
	{ "X-IMAP", F_XIMAP },
	{ "Content-Length", F_CONTENT_LENGTH },
	{ "Lines", F_SKIP },
};

struct mbox_parser {
	mbox_parse_cb *cb;
	void *ctx;
	int stop;                  /* the callback's non-zero value */
	uint64_t junk;

	/* The current line. */
	uint64_t line_start;
	uint64_t line_len;
	char head[HEAD_MAX];
	size_t head_len;
	enum line_kind kind;
	/* A From_ line parsed by decide(), used by line_end(). */
	size_t from_sender_off, from_sender_len;
	struct mbox_from_date from_date;

	/* The lines before it. */
	bool first_line;
	bool prev_blank;
	uint64_t prev_blank_start;

	/* The current message. */
	bool in_msg, in_hdr, has_hdr_end;
	uint64_t hdr_end;
	enum field field;
	unsigned seen;             /* bit per enum field already captured */
	char cap[CAP_MAX];
	size_t cap_len;
	bool cap_trunc;
	char from[HEAD_MAX];
	char kw[MBOX_VALUE_MAX];
	char bkw[MBOX_VALUE_MAX];
	struct mbox_msg msg;
	struct sha256 sha;
};

struct mbox_parser *
mbox_parser_new(uint64_t start, mbox_parse_cb *cb, void *ctx)
{
	struct mbox_parser *p = xcalloc(1, sizeof(*p));

	p->cb = cb;
	p->ctx = ctx;
	p->line_start = start;
	p->first_line = true;
	return p;
}

void
mbox_parser_free(struct mbox_parser **p)
{
	if (p == NULL || *p == NULL)
		return;
	free(*p);
	*p = NULL;
}

uint64_t
mbox_parser_junk(const struct mbox_parser *p)
{
	return p->junk;
}

/* ---- From_ lines ---- */

static const char *const wdays[] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};
static const char *const months[] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* 1..max digits at s[*i] into *v. */
static bool
digits(const char *s, size_t n, size_t *i, size_t max, int *v)
{
	size_t k = 0;
	int x = 0;

	while (*i < n && k < max && is_digit(s[*i])) {
		x = x * 10 + (s[*i] - '0');
		(*i)++;
		k++;
	}
	if (k == 0 || (*i < n && is_digit(s[*i])))
		return false;
	*v = x;
	return true;
}

/* One or more spaces (or tabs). */
static bool
spaces(const char *s, size_t n, size_t *i)
{
	size_t k = *i;

	while (*i < n && (s[*i] == ' ' || s[*i] == '\t'))
		(*i)++;
	return *i > k;
}

static int
name3(const char *s, size_t n, size_t i, const char *const *tab, int ntab)
{
	if (n - i < 3 || (n - i > 3 && !(s[i + 3] == ' ' || s[i + 3] == '\t')))
		return -1;
	for (int k = 0; k < ntab; k++)
		if (strncasecmp(s + i, tab[k], 3) == 0)
			return k;
	return -1;
}

/* A zone token: 1..5 letters, or +hhmm / -hhmm. */
static bool
zone(const char *s, size_t n, size_t *i, struct mbox_from_date *d)
{
	size_t k = *i, len = 0;

	/* Stop after 6 bytes: no zone is longer, and a From_ line is tried
	 * at every word, so each try must cost O(1). */
	while (k + len < n && len < 6 && s[k + len] != ' ' && s[k + len] != '\t')
		len++;
	if (len == 5 && (s[k] == '+' || s[k] == '-') && is_digit(s[k + 1]) &&
	    is_digit(s[k + 2]) && is_digit(s[k + 3]) && is_digit(s[k + 4])) {
		int hh = (s[k + 1] - '0') * 10 + (s[k + 2] - '0');
		int mm = (s[k + 3] - '0') * 10 + (s[k + 4] - '0');

		if (hh > 23 || mm > 59)
			return false;
		d->has_tz = true;
		d->tz_min = (s[k] == '-' ? -1 : 1) * (hh * 60 + mm);
		*i = k + len;
		return true;
	}
	if (len == 0 || len > 5)
		return false;
	for (size_t j = 0; j < len; j++)
		if (!is_alpha(s[k + j]))
			return false;
	*i = k + len;
	return true;
}

/* "Www Mmm dd hh:mm[:ss] [zone [zone]] yyyy [zone] [anything]" */
static bool
parse_date(const char *s, size_t n, struct mbox_from_date *d)
{
	size_t i = 0;
	int v;

	memset(d, 0, sizeof(*d));
	if (name3(s, n, i, wdays, 7) < 0)
		return false;
	i += 3;
	if (!spaces(s, n, &i) || (v = name3(s, n, i, months, 12)) < 0)
		return false;
	d->mon = v + 1;
	i += 3;
	if (!spaces(s, n, &i) || !digits(s, n, &i, 2, &d->mday) ||
	    d->mday < 1 || d->mday > 31 || !spaces(s, n, &i))
		return false;
	if (!digits(s, n, &i, 2, &d->hour) || i >= n || s[i] != ':')
		return false;
	i++;
	if (n - i < 2 || !is_digit(s[i]) || !is_digit(s[i + 1]))
		return false;
	d->min = (s[i] - '0') * 10 + (s[i + 1] - '0');
	i += 2;
	if (i < n && s[i] == ':') {
		i++;
		if (n - i < 2 || !is_digit(s[i]) || !is_digit(s[i + 1]))
			return false;
		d->sec = (s[i] - '0') * 10 + (s[i + 1] - '0');
		i += 2;
	}
	if (d->hour > 23 || d->min > 59 || d->sec > 60)
		return false;
	for (int tok = 0;; tok++) {
		size_t k;

		if (!spaces(s, n, &i) || tok > 2)
			return false;
		k = i;
		if (digits(s, n, &k, 4, &d->year) && k - i == 4 &&
		    (k == n || s[k] == ' ' || s[k] == '\t')) {
			i = k;
			break;
		}
		if (!zone(s, n, &i, d))
			return false;
	}
	if (d->year < 1900)
		return false;
	/* A zone may follow the year ("2001 +0100"); anything after that is
	 * "moreinfo" (RFC 4155 §2, e.g. UUCP's "remote from"). */
	if (i < n) {
		size_t k = i;

		(void)spaces(s, n, &k);
		if (k < n && (s[k] == '+' || s[k] == '-') && !d->has_tz)
			(void)zone(s, n, &k, d);
	}
	return true;
}

bool
mbox_parse_from_line(const char *line, size_t len, const char **sender,
		     size_t *sender_len, struct mbox_from_date *date)
{
	const char *rest;
	size_t rlen;

	if (len < 5 || memcmp(line, "From ", 5) != 0)
		return false;
	rest = line + 5;
	rlen = len - 5;
	if (memchr(rest, '\0', rlen) != NULL || memchr(rest, '\n', rlen) != NULL)
		return false;
	/* The sender may contain spaces (quoted local parts, "MAILER DAEMON"
	 * from some writers): the date starts at the first word from which
	 * a whole date parses. */
	for (size_t i = 0; i < rlen; i++) {
		size_t sl;

		if (rest[i] == ' ' || rest[i] == '\t' ||
		    (i > 0 && rest[i - 1] != ' ' && rest[i - 1] != '\t'))
			continue;
		if (!parse_date(rest + i, rlen - i, date))
			continue;
		sl = i;
		while (sl > 0 && (rest[sl - 1] == ' ' || rest[sl - 1] == '\t'))
			sl--;
		*sender = rest;
		*sender_len = sl;
		return true;
	}
	return false;
}

/* ---- header fields ---- */

static enum field
classify(const char *h, size_t name_len)
{
	while (name_len > 0 && (h[name_len - 1] == ' ' || h[name_len - 1] == '\t'))
		name_len--;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strlen(fields[i].name) == name_len &&
		    strncasecmp(h, fields[i].name, name_len) == 0)
			return fields[i].f;
	return F_OTHER;
}

/* Strict decimal: 1..digits_max digits, no leading zero unless "0". */
static bool
parse_u64(const char *s, size_t n, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;

	if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]) || x > (max - (uint64_t)(s[i] - '0')) / 10)
			return false;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	*v = x;
	return true;
}

/* Decimal that other servers may zero-pad: Dovecot writes X-IMAPbase
 * as "%u %010u", UW-IMAP "%010lu %010lu". At most 20 digits, so the
 * padding is bounded like the value. */
static bool
parse_padded_u64(const char *s, size_t n, uint64_t max, uint64_t *v)
{
	while (n > 1 && s[0] == '0') {
		s++;
		n--;
	}
	return parse_u64(s, n, max, v);
}

/* Value of the captured field: after the ':', unfolded (line breaks
 * dropped), surrounding blanks trimmed. Rewrites p->cap in place. */
static const char *
cap_value(struct mbox_parser *p, size_t *len)
{
	char *c = memchr(p->cap, ':', p->cap_len);
	size_t i, o = 0;

	if (c == NULL) {
		*len = 0;
		return p->cap;
	}
	for (i = (size_t)(c - p->cap) + 1; i < p->cap_len; i++)
		if (p->cap[i] != '\r' && p->cap[i] != '\n')
			p->cap[o++] = p->cap[i];
	i = 0;
	while (i < o && (p->cap[i] == ' ' || p->cap[i] == '\t'))
		i++;
	while (o > i && (p->cap[o - 1] == ' ' || p->cap[o - 1] == '\t'))
		o--;
	*len = o - i;
	return p->cap + i;
}

static void
end_field(struct mbox_parser *p)
{
	struct mbox_msg *m = &p->msg;
	const char *v;
	size_t n, k;
	uint64_t x, y;

	if (p->field < F_STATUS) {
		p->field = F_NONE;
		return;
	}
	v = cap_value(p, &n);
	switch (p->field) {
	case F_STATUS:
		m->has_status = true;
		for (size_t i = 0; i < n; i++) {
			if (v[i] == 'R')
				m->flags |= MBOX_FLAG_SEEN;
			else if (v[i] == 'O')
				m->flags |= MBOX_FLAG_OLD;
		}
		break;
	case F_XSTATUS:
		m->has_xstatus = true;
		for (size_t i = 0; i < n; i++) {
			if (v[i] == 'A')
				m->flags |= MBOX_FLAG_ANSWERED;
			else if (v[i] == 'F')
				m->flags |= MBOX_FLAG_FLAGGED;
			else if (v[i] == 'T')
				m->flags |= MBOX_FLAG_DRAFT;
			else if (v[i] == 'D')
				m->flags |= MBOX_FLAG_DELETED;
		}
		break;
	case F_XUID:
		if (parse_u64(v, n, UINT32_MAX, &x) && x != 0)
			m->uid = (uint32_t)x;
		break;
	case F_XKEYWORDS:
		m->keywords_truncated = p->cap_trunc || n > MBOX_VALUE_MAX;
		if (n > MBOX_VALUE_MAX)
			n = MBOX_VALUE_MAX;
		memcpy(p->kw, v, n);
		m->keywords = p->kw;
		m->keywords_len = n;
		break;
	case F_XIMAPBASE:
	case F_XIMAP:
		/* "<uidvalidity> <last uid> [keywords...]" */
		for (k = 0; k < n && is_digit(v[k]); k++)
			;
		if (k > 20 || !parse_padded_u64(v, k, UINT32_MAX, &x) ||
		    x == 0)
			break;
		while (k < n && (v[k] == ' ' || v[k] == '\t'))
			k++;
		{
			size_t s = k;

			while (k < n && is_digit(v[k]))
				k++;
			if (k - s > 20 ||
			    !parse_padded_u64(v + s, k - s, UINT32_MAX, &y) ||
			    (k < n && v[k] != ' ' && v[k] != '\t'))
				break;
		}
		while (k < n && (v[k] == ' ' || v[k] == '\t'))
			k++;
		m->has_imapbase = true;
		m->imapbase_pseudo = p->field == F_XIMAP;
		m->uidvalidity = (uint32_t)x;
		m->last_uid = (uint32_t)y;
		n -= k;
		if (n > MBOX_VALUE_MAX)
			n = MBOX_VALUE_MAX;
		memcpy(p->bkw, v + k, n);
		m->base_keywords = p->bkw;
		m->base_keywords_len = n;
		break;
	case F_CONTENT_LENGTH:
		if (parse_u64(v, n, UINT64_MAX, &x)) {
			m->has_content_length = true;
			m->content_length = x;
		}
		break;
	default:
		break;
	}
	p->field = F_NONE;
}

/* ---- lines ---- */

static void
sink(struct mbox_parser *p, const char *d, size_t n)
{
	size_t take;

	if (n == 0)
		return;
	if (p->kind == K_HASH) {
		sha256_update(&p->sha, d, n);
	} else if (p->kind == K_CAPTURE) {
		take = n < CAP_MAX - p->cap_len ? n : CAP_MAX - p->cap_len;
		memcpy(p->cap + p->cap_len, d, take);
		p->cap_len += take;
		if (take < n)
			p->cap_trunc = true;
	}
}

/* Where the previous message's Content-Length says its body ends. */
static bool
at_content_length_end(const struct mbox_parser *p)
{
	const struct mbox_msg *m = &p->msg;

	return p->in_msg && !p->in_hdr && p->has_hdr_end &&
	    m->has_content_length &&
	    m->content_length <= UINT64_MAX - p->hdr_end &&
	    p->line_start == p->hdr_end + m->content_length;
}

/* Decides what the current line is from its first bytes; complete says
 * the whole line is in view (its '\n' seen, or end of input). Returns
 * false when more bytes are needed. */
static bool
decide(struct mbox_parser *p, bool complete)
{
	const char *h = p->head;
	size_t hl = p->head_len;
	const char *colon;
	enum field f;

	if (p->first_line || p->prev_blank || at_content_length_end(p)) {
		size_t cmp = hl < 5 ? hl : 5;

		if (memcmp(h, "From ", cmp) == 0) {
			if (hl < 5 && !complete)
				return false;
			if (hl >= 5 && !complete && hl < HEAD_MAX)
				return false;
			if (hl >= 5 && complete && p->line_len == hl) {
				size_t len = hl;
				const char *snd;

				if (h[len - 1] == '\n')
					len--;
				if (len > 0 && h[len - 1] == '\r')
					len--;
				if (mbox_parse_from_line(h, len, &snd,
							 &p->from_sender_len,
							 &p->from_date)) {
					p->from_sender_off = (size_t)(snd - h);
					p->kind = K_FROM;
					return true;
				}
			}
			/* Too long or not plausible: an ordinary line. */
		}
	}
	if (!p->in_msg || !p->in_hdr) {
		p->kind = K_PLAIN;   /* junk or body */
		return true;
	}
	/* The empty line that ends the header. */
	if (h[0] == '\n') {
		p->kind = K_PLAIN;
		return true;
	}
	if (h[0] == '\r') {
		if (hl < 2 && !complete)
			return false;
		if (hl >= 2 && h[1] == '\n') {
			p->kind = K_PLAIN;
			return true;
		}
	}
	/* A continuation line belongs to the field before it. */
	if (h[0] == ' ' || h[0] == '\t') {
		p->kind = p->field == F_OTHER || p->field == F_NONE ? K_HASH :
		    p->field == F_SKIP ? K_PLAIN : K_CAPTURE;
		return true;
	}
	colon = memchr(h, ':', hl < NAME_PEEK ? hl : NAME_PEEK);
	if (colon == NULL && !complete && hl < NAME_PEEK)
		return false;
	end_field(p);
	f = colon == NULL ? F_OTHER : classify(h, (size_t)(colon - h));
	if (f >= F_STATUS) {
		unsigned bit = 1u << (f == F_XIMAP ? F_XIMAPBASE : f);

		/* Only the first occurrence counts; repeats are left out of
		 * the hash as well (a rewrite may merge them). */
		if (p->seen & bit) {
			f = F_SKIP;
		} else {
			p->seen |= bit;
			p->cap_len = 0;
			p->cap_trunc = false;
		}
	}
	p->field = f;
	p->kind = f == F_OTHER ? K_HASH : f == F_SKIP ? K_PLAIN : K_CAPTURE;
	return true;
}

static void
emit(struct mbox_parser *p, uint64_t content_end, uint64_t next)
{
	struct mbox_msg *m = &p->msg;
	uint8_t md[SHA256_LEN];

	if (p->in_hdr)
		end_field(p);
	m->length = content_end - m->offset;
	m->hdr_len = m->length;
	if (p->has_hdr_end && p->hdr_end - m->offset < m->length)
		m->hdr_len = p->hdr_end - m->offset;
	m->end = next;
	sha256_final(&p->sha, md);
	memcpy(m->fingerprint, md, MBOX_FINGERPRINT_LEN);
	p->in_msg = false;
	p->stop = p->cb(p->ctx, m);
}

static void
start_msg(struct mbox_parser *p)
{
	struct mbox_msg *m = &p->msg;
	size_t len = (size_t)p->line_len;

	memset(m, 0, sizeof(*m));
	memcpy(p->from, p->head, len);
	m->from_offset = p->line_start;
	m->offset = p->line_start + p->line_len;
	m->from_line = p->from;
	m->from_line_len = len;
	if (m->from_line_len > 0 && p->from[m->from_line_len - 1] == '\n')
		m->from_line_len--;
	if (m->from_line_len > 0 && p->from[m->from_line_len - 1] == '\r') {
		m->from_line_len--;
		m->crlf = true;
	}
	m->sender = p->from + p->from_sender_off;
	m->sender_len = p->from_sender_len;
	m->date = p->from_date;
	sha256_init(&p->sha);
	sha256_update(&p->sha, p->from, len);
	p->in_msg = true;
	p->in_hdr = true;
	p->has_hdr_end = false;
	p->field = F_NONE;
	p->seen = 0;
}

static void
line_bytes(struct mbox_parser *p, const char *d, size_t n, bool complete)
{
	size_t take = n < HEAD_MAX - p->head_len ? n : HEAD_MAX - p->head_len;

	memcpy(p->head + p->head_len, d, take);
	p->head_len += take;
	p->line_len += n;
	if (p->kind != K_UNDECIDED) {
		sink(p, d, n);
		return;
	}
	if (decide(p, complete)) {
		sink(p, p->head, p->head_len);
		sink(p, d + take, n - take);
	}
}

static void
line_end(struct mbox_parser *p)
{
	bool blank;

	if (p->kind == K_UNDECIDED) {
		/* Every undecided line is wholly in head. */
		if (!decide(p, true))
			log_panic("mbox_parse: undecided complete line");
		sink(p, p->head, p->head_len);
	}
	blank = (p->line_len == 1 && p->head[0] == '\n') ||
	    (p->line_len == 2 && p->head[0] == '\r' && p->head[1] == '\n');
	if (p->kind == K_FROM) {
		if (p->in_msg)
			emit(p, p->prev_blank ? p->prev_blank_start :
			     p->line_start, p->line_start);
		start_msg(p);
	} else if (!p->in_msg) {
		p->junk += p->line_len;
	} else if (p->in_hdr && blank) {
		end_field(p);
		p->in_hdr = false;
		p->has_hdr_end = true;
		p->hdr_end = p->line_start + p->line_len;
	}
	p->prev_blank = blank;
	if (blank)
		p->prev_blank_start = p->line_start;
	p->first_line = false;
	p->line_start += p->line_len;
	p->line_len = 0;
	p->head_len = 0;
	p->kind = K_UNDECIDED;
}

int
mbox_parser_feed(struct mbox_parser *p, const void *data, size_t len)
{
	const char *d = data;

	while (len > 0 && p->stop == 0) {
		const char *nl = memchr(d, '\n', len);
		size_t n = nl != NULL ? (size_t)(nl - d) + 1 : len;

		line_bytes(p, d, n, nl != NULL);
		if (nl != NULL)
			line_end(p);
		d += n;
		len -= n;
	}
	return p->stop;
}

int
mbox_parser_finish(struct mbox_parser *p)
{
	if (p->stop != 0)
		return p->stop;
	/* An unterminated last line is a line too. */
	if (p->line_len > 0)
		line_end(p);
	if (p->stop == 0 && p->in_msg)
		emit(p, p->prev_blank ? p->prev_blank_start : p->line_start,
		     p->line_start);
	return p->stop;
}

int
mbox_parse_fd(int fd, uint64_t start, size_t window, mbox_parse_cb *cb,
	      void *ctx, uint64_t *junk)
{
	struct mbox_parser *p;
	uint64_t off = start;
	char *b;
	int ret = 0, e = 0;

	if (start > INT64_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (window < 4096)
		window = 4096;
	if (window > (1u << 24))
		window = 1u << 24;
	b = xmalloc(window);
	p = mbox_parser_new(start, cb, ctx);
	for (;;) {
		ssize_t n = pread(fd, b, window, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			e = errno;
			ret = -1;
			break;
		}
		if (n == 0) {
			ret = mbox_parser_finish(p);
			break;
		}
		off += (uint64_t)n;
		if ((ret = mbox_parser_feed(p, b, (size_t)n)) != 0)
			break;
	}
	if (junk != NULL)
		*junk = p->junk;
	mbox_parser_free(&p);
	free(b);
	if (ret == -1 && e != 0)
		errno = e;
	return ret;
}

/* ---- writing ---- */

int
mbox_parse_from_line_build(struct buf *out, const char *sender, time_t t)
{
	struct tm tm;
	size_t slen;

	if (sender == NULL || sender[0] == '\0')
		sender = "MAILER-DAEMON";
	slen = strlen(sender);
	if (slen > 256)
		goto inval;
	for (size_t i = 0; i < slen; i++) {
		unsigned char c = (unsigned char)sender[i];

		if (c <= 0x20 || c == 0x7f)
			goto inval;
	}
	if (gmtime_r(&t, &tm) == NULL || tm.tm_year < 0 ||
	    tm.tm_year > 9999 - 1900)
		goto inval;
	return buf_printf(out, "From %s %s %s %2d %02d:%02d:%02d %d\n", sender,
			  wdays[tm.tm_wday], months[tm.tm_mon], tm.tm_mday,
			  tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_year + 1900);
inval:
	errno = EINVAL;
	return -1;
}

void
mbox_parse_quote_init(struct mbox_quote *q, bool strip_cr)
{
	memset(q, 0, sizeof(*q));
	q->strip_cr = strip_cr;
	q->bol = true;
}

int
mbox_parse_quote(struct mbox_quote *q, const void *data, size_t len,
		 struct buf *out)
{
	static const char from[] = "From ";
	const char *d = data;
	struct mbox_quote saved = *q;
	size_t start = buf_len(out), span = 0, i;

/* Appends the plain bytes d[span..i). */
#define FLUSH() do { \
	if (i > span && buf_append(out, d + span, i - span) < 0) \
		goto fail; \
} while (0)

	for (i = 0; i < len; i++) {
		char c = d[i];
		bool after_cr = q->prev_cr;

		q->prev_cr = c == '\r';
		if (q->cr) {
			/* A CR held back: dropped before LF, kept otherwise. */
			q->cr = false;
			span = i;
			if (c != '\n' && buf_append_byte(out, '\r') < 0)
				goto fail;
		}
		if (q->bol && q->match < 5) {
			if (c == from[q->match]) {
				FLUSH();
				span = i + 1;
				if (++q->match == 5) {
					if (buf_append_str(out, ">From ") < 0)
						goto fail;
					q->match = 0;
					q->bol = false;
				}
				continue;
			}
			FLUSH();
			span = i;
			if (q->match > 0 && buf_append(out, from, q->match) < 0)
				goto fail;
			q->match = 0;
			q->bol = false;
		}
		if (c == '\r' && q->strip_cr && !after_cr) {
			FLUSH();
			span = i + 1;
			q->cr = true;
			q->bol = false;
			continue;
		}
		q->bol = c == '\n';
	}
	FLUSH();
#undef FLUSH
	return 0;
fail:
	*q = saved;
	buf_truncate(out, start);
	errno = EMSGSIZE;
	return -1;
}

int
mbox_parse_quote_finish(struct mbox_quote *q, struct buf *out)
{
	size_t start = buf_len(out);

	if ((q->match > 0 && buf_append(out, "From ", q->match) < 0) ||
	    (q->cr && buf_append_byte(out, '\r') < 0)) {
		buf_truncate(out, start);
		errno = EMSGSIZE;
		return -1;
	}
	/* A held "From" prefix ends the output without a line break. */
	if (q->match > 0)
		q->bol = false;
	q->match = 0;
	q->cr = false;
	return 0;
}
