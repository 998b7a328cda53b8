/*
 * imap-search-text: the interim text matcher (see imap-search-text.h for
 * what it does and does not do, and why it is one function). Callers:
 * imap-search.c. Input: message bytes from the store (untrusted mail)
 * and needles from the client (bounded by SEARCH_MAX_STRING).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/str.h"
#include "imap/imap-search-text.h"
#include "imap/imap-search.h"
#include "storage/store.h"

#define TEXT_CHUNK 65536
#define TEXT_NAME_MAX 256
#define TEXT_DATE_MAX 256

struct search_text {
	struct store *store;
	struct mailbox *mb;
	uint8_t *chunk;               /* TEXT_CHUNK bytes */
	/* The needle, ASCII-folded, and its KMP failure table. */
	uint8_t *needle;
	uint32_t *fail;
	size_t needle_len;

	/* The message open for the keys of one sequence number. */
	uint32_t seq;                 /* 0: none */
	int fd;
	off_t off;
	uint64_t size;
	bool gone;                    /* expunged: nothing matches */
	bool failed;
	/* The Date header, parsed once per message: 0 unknown, 1 parsed,
	 * 2 missing or unreadable. */
	int date_state;
	int64_t sent_day;
	char error[256];
};

struct search_text *
search_text_new(struct pool *pool, struct store *store, struct mailbox *mb)
{
	struct search_text *t = pool_alloc(pool, sizeof(*t));

	t->store = store;
	t->mb = mb;
	t->chunk = pool_alloc(pool, TEXT_CHUNK);
	t->needle = pool_alloc(pool, SEARCH_MAX_STRING + 1);
	t->fail = pool_alloc(pool, (SEARCH_MAX_STRING + 1) * sizeof(*t->fail));
	t->fd = -1;
	return t;
}

static void
close_msg(struct search_text *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	t->seq = 0;
	t->gone = t->failed = false;
	t->date_state = 0;
}

void
search_text_end(struct search_text *t)
{
	if (t != NULL)
		close_msg(t);
}

const char *
search_text_error(const struct search_text *t)
{
	return t->error;
}

static uint8_t
fold(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* Opens seq unless it is the message already open. */
static int
open_msg(struct search_text *t, uint32_t seq)
{
	const struct store_error *err;

	if (t->seq == seq)
		return t->gone || t->failed ? -1 : 0;
	close_msg(t);
	t->seq = seq;
	if (mailbox_msg_open(t->mb, seq, &t->fd, &t->off, &t->size) == 0)
		return 0;
	t->fd = -1;
	err = store_error(t->store);
	if (err->code == STORE_ERR_EXPUNGED) {
		t->gone = true;
	} else {
		t->failed = true;
		snprintf(t->error, sizeof(t->error), "%s", err->detail);
	}
	return -1;
}

/* Reads the next chunk at pos: its length, 0 at the end, -1 error. */
static ssize_t
read_chunk(struct search_text *t, uint64_t pos)
{
	uint64_t left = t->size - pos;
	size_t want = left < TEXT_CHUNK ? (size_t)left : TEXT_CHUNK;
	ssize_t r;

	if (want == 0)
		return 0;
	do {
		r = pread(t->fd, t->chunk, want, t->off + (off_t)pos);
	} while (r < 0 && errno == EINTR);
	if (r < 0) {
		snprintf(t->error, sizeof(t->error), "read: %s",
			 strerror(errno));
		t->failed = true;
		return -1;
	}
	if (r == 0) {
		/* Shorter than the store said: match what there is. */
		return 0;
	}
	return r;
}

/* --- the streaming substring matcher (KMP over folded bytes) ---------- */

static void
needle_set(struct search_text *t, const char *s, size_t len)
{
	size_t k = 0;

	t->needle_len = len;
	for (size_t i = 0; i < len; i++)
		t->needle[i] = fold((uint8_t)s[i]);
	if (len == 0)
		return;
	t->fail[0] = 0;
	for (size_t i = 1; i < len; i++) {
		while (k > 0 && t->needle[i] != t->needle[k])
			k = t->fail[k - 1];
		if (t->needle[i] == t->needle[k])
			k++;
		t->fail[i] = (uint32_t)k;
	}
}

/* Feeds one byte; true once the needle has been seen. */
static bool
needle_step(const struct search_text *t, size_t *state, uint8_t c)
{
	size_t k = *state;

	c = fold(c);
	while (k > 0 && t->needle[k] != c)
		k = t->fail[k - 1];
	if (t->needle[k] == c)
		k++;
	if (k == t->needle_len) {
		*state = 0;
		return true;
	}
	*state = k;
	return false;
}

/* --- the header scanner ------------------------------------------------ */

/* What a pass over the message looks for. */
enum scan_want {
	SCAN_FIELD,   /* needle in the value of field */
	SCAN_DATE,    /* collect the first Date value */
	SCAN_BODY,    /* needle in the body */
	SCAN_TEXT,    /* needle anywhere */
};

struct scan {
	enum scan_want want;
	const char *field;
	size_t field_len;

	bool at_line_start, in_name, in_value, field_match, header_done;
	char name[TEXT_NAME_MAX];
	size_t name_len;
	bool name_long;
	size_t kmp;
	bool found;

	char date[TEXT_DATE_MAX];
	size_t date_len;
	bool date_seen, date_done;
};

static bool
name_is(const struct scan *sc)
{
	size_t len = sc->name_len;

	/* RFC 5322 §4.5.3 obs-optional: WSP before the colon. */
	while (len > 0 && (sc->name[len - 1] == ' ' ||
			   sc->name[len - 1] == '\t'))
		len--;
	if (sc->name_long || len != sc->field_len)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (fold((uint8_t)sc->name[i]) !=
		    fold((uint8_t)sc->field[i]))
			return false;
	}
	return true;
}

static void
value_byte(struct search_text *t, struct scan *sc, uint8_t c)
{
	if (!sc->field_match)
		return;
	if (sc->want == SCAN_DATE) {
		if (sc->date_len < sizeof(sc->date) - 1)
			sc->date[sc->date_len++] = (char)c;
		return;
	}
	if (sc->want == SCAN_FIELD && needle_step(t, &sc->kmp, c))
		sc->found = true;
}

static void
field_end(struct scan *sc)
{
	if (sc->field_match && sc->want == SCAN_DATE)
		sc->date_done = true;
	sc->field_match = false;
	sc->in_value = false;
}

/* One header byte. CR is dropped (lines end at LF, so bare-LF mail is
 * read the same); a line starting with WSP continues the field before
 * it (unfolding keeps the WSP). */
static void
header_byte(struct search_text *t, struct scan *sc, uint8_t c)
{
	if (c == '\r')
		return;
	if (sc->at_line_start) {
		sc->at_line_start = false;
		if (c == '\n') {
			field_end(sc);
			sc->header_done = true;
			return;
		}
		if ((c == ' ' || c == '\t') && sc->in_value) {
			value_byte(t, sc, c);
			return;
		}
		field_end(sc);
		sc->in_name = true;
		sc->name_len = 0;
		sc->name_long = false;
	}
	if (c == '\n') {
		/* A name without a colon is not a field: skip the line. */
		sc->in_name = false;
		sc->at_line_start = true;
		return;
	}
	if (sc->in_name) {
		if (c == ':') {
			sc->in_name = false;
			sc->in_value = true;
			sc->kmp = 0;
			sc->field_match = sc->field != NULL && name_is(sc);
			if (sc->field_match && sc->want == SCAN_FIELD &&
			    t->needle_len == 0)
				sc->found = true;
			if (sc->field_match && sc->want == SCAN_DATE &&
			    sc->date_seen)
				sc->field_match = false;  /* first one only */
			if (sc->field_match && sc->want == SCAN_DATE)
				sc->date_seen = true;
			return;
		}
		if (sc->name_len < sizeof(sc->name))
			sc->name[sc->name_len++] = (char)c;
		else
			sc->name_long = true;
		return;
	}
	if (sc->in_value)
		value_byte(t, sc, c);
}

/* Runs one pass; 0 or -1 (read error). */
static int
scan_msg(struct search_text *t, struct scan *sc)
{
	uint64_t pos = 0;
	ssize_t n;

	sc->at_line_start = true;
	while ((n = read_chunk(t, pos)) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			uint8_t c = t->chunk[i];

			if (sc->want == SCAN_TEXT) {
				if (needle_step(t, &sc->kmp, c)) {
					sc->found = true;
					return 0;
				}
				continue;
			}
			if (!sc->header_done) {
				header_byte(t, sc, c);
				if (sc->found || sc->date_done)
					return 0;
				if (sc->header_done && sc->want != SCAN_BODY)
					return 0;
				continue;
			}
			if (needle_step(t, &sc->kmp, c)) {
				sc->found = true;
				return 0;
			}
		}
		pos += (uint64_t)n;
	}
	field_end(sc);
	return n < 0 ? -1 : 0;
}

/* --- dates --------------------------------------------------------------- */

static const char *const months[] = {
	"jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec",
};

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Skips white space, CFWS comments (not nested beyond what a counter
 * holds) and commas. */
static size_t
skip_junk(const char *s, size_t len, size_t i)
{
	unsigned int depth = 0;

	for (; i < len; i++) {
		if (s[i] == '(')
			depth++;
		else if (s[i] == ')' && depth > 0)
			depth--;
		else if (depth == 0 && s[i] != ' ' && s[i] != '\t' &&
			 s[i] != ',' && s[i] != '\n' && s[i] != '\r')
			break;
	}
	return i;
}

int
search_text_parse_date(const char *s, size_t len, int64_t *day)
{
	static const unsigned char mdays[] = { 31, 29, 31, 30, 31, 30, 31,
		31, 30, 31, 30, 31 };
	size_t i = skip_junk(s, len, 0), start;
	unsigned int d = 0, m = 0, y = 0, ndig;

	/* [day-of-week ","] */
	if (i < len && is_alpha(s[i])) {
		while (i < len && is_alpha(s[i]))
			i++;
		i = skip_junk(s, len, i);
	}
	/* day: 1*2DIGIT */
	for (ndig = 0; i < len && is_digit(s[i]) && ndig < 3; ndig++, i++)
		d = d * 10 + (unsigned int)(s[i] - '0');
	if (ndig == 0 || ndig > 2 || d == 0 || d > 31)
		return -1;
	/* month; "-" seen in some broken mailers between the parts */
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '-'))
		i++;
	start = i;
	while (i < len && is_alpha(s[i]))
		i++;
	if (i - start < 3)
		return -1;
	for (m = 0; m < 12; m++) {
		if (fold((uint8_t)s[start]) == months[m][0] &&
		    fold((uint8_t)s[start + 1]) == months[m][1] &&
		    fold((uint8_t)s[start + 2]) == months[m][2])
			break;
	}
	if (m == 12)
		return -1;
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '-'))
		i++;
	/* year: 4*DIGIT, or obs-year 2DIGIT / 3DIGIT (RFC 5322 §4.3) */
	for (ndig = 0; i < len && is_digit(s[i]) && ndig < 5; ndig++, i++)
		y = y * 10 + (unsigned int)(s[i] - '0');
	if (ndig < 2 || ndig > 4)
		return -1;
	if (ndig == 2)
		y += y < 50 ? 2000 : 1900;
	else if (ndig == 3)
		y += 1900;
	if (d > mdays[m] || (m == 1 && d == 29 &&
			     !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)))
		return -1;
	*day = search_days_from_civil(y, m + 1, d);
	return 0;
}

static int
sent_day(struct search_text *t, int64_t *day)
{
	struct scan sc;

	if (t->date_state == 0) {
		memset(&sc, 0, sizeof(sc));
		sc.want = SCAN_DATE;
		sc.field = "Date";
		sc.field_len = 4;
		if (scan_msg(t, &sc) < 0)
			return -1;
		t->date_state = sc.date_seen &&
			search_text_parse_date(sc.date, sc.date_len,
					       &t->sent_day) == 0 ? 1 : 2;
	}
	*day = t->sent_day;
	return t->date_state == 1 ? 1 : 0;
}

/* --- the one entry point --------------------------------------------------- */

int
search_text_match(struct search_text *t, uint32_t seq,
		  const struct search_key *key, bool *expunged)
{
	struct scan sc;
	int64_t day;
	int r;

	*expunged = false;
	if (open_msg(t, seq) < 0) {
		*expunged = t->gone;
		return t->gone ? 0 : -1;
	}
	memset(&sc, 0, sizeof(sc));
	switch (key->type) {
	case SEARCH_KEY_SENTBEFORE:
	case SEARCH_KEY_SENTON:
	case SEARCH_KEY_SENTSINCE:
		r = sent_day(t, &day);
		if (r < 0)
			return r;
		if (r == 0)
			return SEARCH_TEXT_NO_DATE;
		if (key->type == SEARCH_KEY_SENTBEFORE)
			return day < key->day;
		if (key->type == SEARCH_KEY_SENTON)
			return day == key->day;
		return day >= key->day;
	case SEARCH_KEY_HEADER:
		sc.want = SCAN_FIELD;
		sc.field = key->field;
		sc.field_len = strlen(key->field);
		break;
	case SEARCH_KEY_BODY:
		sc.want = SCAN_BODY;
		break;
	case SEARCH_KEY_TEXT:
		sc.want = SCAN_TEXT;
		break;
	default:
		return 0;
	}
	needle_set(t, key->str, key->str_len);
	/* An empty string is in every body and every text. */
	if (key->str_len == 0 && sc.want != SCAN_FIELD)
		return 1;
	if (scan_msg(t, &sc) < 0)
		return -1;
	return sc.found;
}
