/*
 * imap-search: the SEARCH program's parser and evaluator (see
 * imap-search.h). Callers: cmd-search.c. The argument tree is untrusted
 * client input; the view is the store's.
 *
 * Grammar (RFC 9051 §9, RFC 3501 §9, RFC 4466 §2.6, RFC 5032, RFC 8514,
 * RFC 7162 §3.1.5, RFC 5182):
 *   search-program = ["CHARSET" SP charset SP] search-key *(SP search-key)
 *   search-return-opts = SP "RETURN" SP "(" [search-return-opt
 *                        *(SP search-return-opt)] ")"
 *   search-key = "ALL" / "ANSWERED" / "BCC" SP astring / ... /
 *                sequence-set / "(" search-key *(SP search-key) ")"
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/num.h"
#include "core/buf.h"
#include "core/str.h"
#include "imap/imap-search-fts.h"
#include "imap/imap-search-text.h"
#include "imap/imap-search.h"
#include "mail/charset.h"
#include "storage/store.h"

/* Relative costs: view fields, then the index's date and size, then a
 * pass over the message. */
#define COST_VIEW 1u
#define COST_INFO 4u
#define COST_HEADER 100u
#define COST_BODY 200u
#define COST_TEXT 300u
#define COST_MAX 1000000u

struct parser {
	struct pool *pool;
	struct search_program *p;
	const struct imap_arg *args;
	size_t n, i;
	size_t n_keys;
	const char *charset;     /* NULL: the default, US-ASCII/UTF-8 */
	const char *error;
};

int64_t
search_days_from_civil(int64_t y, unsigned int m, unsigned int d)
{
	/* Howard Hinnant's days_from_civil: exact for every Gregorian
	 * date, no table, no time zone. */
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (int64_t)(m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int64_t
day_of(time_t t)
{
	int64_t s = (int64_t)t;

	return s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
}

static const struct imap_arg *
next_arg(struct parser *ps)
{
	return ps->i < ps->n ? &ps->args[ps->i++] : NULL;
}

static struct search_key *
new_key(struct parser *ps, enum search_key_type type, unsigned int cost)
{
	struct search_key *k;

	if (++ps->n_keys > SEARCH_MAX_KEYS) {
		ps->error = "Too many search keys.";
		return NULL;
	}
	k = pool_alloc(ps->pool, sizeof(*k));
	k->type = type;
	k->cost = cost;
	return k;
}

/* The charsets string_to_utf8 can convert from: whatever lib/mail's
 * iconv wrapper knows (SEARCH_CHARSETS lists the common ones for
 * [BADCHARSET]). */
static bool
charset_known(const char *charset)
{
	return mail_charset_supported(charset);
}

/* THE one place where a search string given in the program's CHARSET
 * becomes UTF-8 (into ps->pool; at most 4 bytes per input byte, the
 * worst expansion of the charsets iconv has). UTF-8 and US-ASCII need
 * nothing (invalid bytes become U+FFFD in the casemap). An unknown
 * charset is reported by search_parse once the whole program parsed
 * (BAD first), so the string is kept as it is meanwhile. -1: the
 * string does not convert (BAD). */
static int
string_to_utf8(struct parser *ps, const char *s, size_t len,
	       const char **out, size_t *out_len)
{
	struct buf *b;
	char *copy;

	*out = s;
	*out_len = len;
	if (ps->charset == NULL || mail_charset_is_utf8(ps->charset) ||
	    !mail_charset_supported(ps->charset))
		return 0;
	b = buf_new(4 * SEARCH_MAX_STRING + 16);
	if (mail_charset_to_utf8(ps->charset, s, len, b) < 0) {
		buf_free(&b);
		return -1;
	}
	copy = pool_alloc(ps->pool, buf_len(b) + 1);
	memcpy(copy, buf_data(b), buf_len(b) + 1);
	*out = copy;
	*out_len = buf_len(b);
	buf_free(&b);
	return 0;
}

/* astring (atom, quoted or literal) with its length; a literal may
 * carry any byte but NUL. */
static bool
get_string(struct parser *ps, const char **s, size_t *len)
{
	const struct imap_arg *a = next_arg(ps);

	if (a == NULL || a->type == IMAP_ARG_LIST ||
	    memchr(a->str, '\0', a->len) != NULL) {
		ps->error = "Expected a search string.";
		return false;
	}
	if (a->len > SEARCH_MAX_STRING) {
		ps->error = "Search string too long.";
		return false;
	}
	*s = a->str;
	*len = a->len;
	return true;
}

static struct search_key *
string_key(struct parser *ps, enum search_key_type type, const char *field,
	   unsigned int cost)
{
	struct search_key *k;
	const char *s;
	size_t len;

	if (!get_string(ps, &s, &len))
		return NULL;
	k = new_key(ps, type, cost);
	if (k == NULL)
		return NULL;
	k->field = field;
	if (string_to_utf8(ps, s, len, &k->str, &k->str_len) < 0) {
		ps->error = "Search string not valid in its charset.";
		return NULL;
	}
	if (++ps->p->n_text_keys > SEARCH_MAX_TEXT_KEYS) {
		ps->error = "Too many text search keys.";
		return NULL;
	}
	return k;
}

/* RFC 9051 date = date-text / DQUOTE date-text DQUOTE;
 * date-text = date-day "-" date-month "-" date-year. */
static struct search_key *
date_key(struct parser *ps, enum search_key_type type, unsigned int cost)
{
	static const char *const months[] = { "JAN", "FEB", "MAR", "APR",
		"MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC" };
	static const unsigned char mdays[] = { 31, 29, 31, 30, 31, 30, 31,
		31, 30, 31, 30, 31 };
	const struct imap_arg *a = next_arg(ps);
	struct search_key *k;
	const char *s, *d1, *d2;
	uint64_t day, year;
	char mon[4];
	unsigned int m;

	ps->error = "Invalid search date.";
	if (a == NULL || (a->type != IMAP_ARG_ATOM &&
			  a->type != IMAP_ARG_QUOTED))
		return NULL;
	s = a->str;
	d1 = memchr(s, '-', a->len);
	if (d1 == NULL || d1 - s < 1 || d1 - s > 2 ||
	    num_parse_u64_n(s, (size_t)(d1 - s), 31, &day) < 0 || day == 0 ||
	    (size_t)(d1 - s) + 9 != a->len)
		return NULL;
	d2 = d1 + 4;
	if (*d2 != '-' || num_parse_u64_n(d2 + 1, 4, 9999, &year) < 0)
		return NULL;
	for (size_t i = 0; i < 3; i++)
		mon[i] = (char)((d1[1 + i] >= 'a' && d1[1 + i] <= 'z') ?
				d1[1 + i] - 'a' + 'A' : d1[1 + i]);
	mon[3] = '\0';
	for (m = 0; m < 12 && !str_eq(mon, months[m]); m++)
		;
	if (m == 12 || day > mdays[m] ||
	    (m == 1 && day == 29 && !((year % 4 == 0 && year % 100 != 0) ||
				      year % 400 == 0)))
		return NULL;
	k = new_key(ps, type, cost);
	if (k == NULL)
		return NULL;
	k->day = search_days_from_civil((int64_t)year, m + 1,
					(unsigned int)day);
	ps->error = NULL;
	return k;
}

/* number (1*DIGIT) when nz is false; nz-number (digit-nz *DIGIT) when
 * nz is true; MODSEQ's mod-sequence-valzer ("0" or digit-nz *DIGIT)
 * with valzer. */
static struct search_key *
number_key(struct parser *ps, enum search_key_type type, uint64_t max,
	   bool nz, bool valzer, unsigned int cost)
{
	const struct imap_arg *a = next_arg(ps);
	struct search_key *k;
	uint64_t v;

	if (a == NULL || a->type != IMAP_ARG_ATOM ||
	    num_parse_u64_n(a->str, a->len, max, &v) < 0 ||
	    (nz && v == 0) ||
	    ((nz || valzer) && a->len > 1 && a->str[0] == '0')) {
		ps->error = "Invalid number in search key.";
		return NULL;
	}
	k = new_key(ps, type, cost);
	if (k != NULL)
		k->num = v;
	return k;
}

static struct search_key *
flag_key(struct parser *ps, enum search_key_type type, unsigned int flags)
{
	struct search_key *k = new_key(ps, type, COST_VIEW);

	if (k != NULL)
		k->flags = flags;
	return k;
}

static struct search_key *
keyword_key(struct parser *ps, enum search_key_type type)
{
	const struct imap_arg *a = next_arg(ps);
	struct search_key *k;

	/* flag-keyword = atom (no "\": that is a system flag) */
	if (a == NULL || a->type != IMAP_ARG_ATOM || a->len == 0) {
		ps->error = "Expected a keyword.";
		return NULL;
	}
	for (size_t i = 0; i < a->len; i++) {
		if (!imap_is_atom_char((uint8_t)a->str[i])) {
			ps->error = "Invalid keyword.";
			return NULL;
		}
	}
	k = new_key(ps, type, COST_VIEW);
	if (k != NULL) {
		k->str = a->str;
		k->str_len = a->len;
	}
	return k;
}

static struct search_key *
set_key(struct parser *ps, enum search_key_type type, const char *s,
	size_t len)
{
	struct search_key *k;
	struct seqset *set;
	const char *error;

	set = seqset_parse(ps->pool, s, len, SEQSET_MAX_RANGES, &error);
	if (set == NULL) {
		ps->error = "Invalid sequence set in search key.";
		return NULL;
	}
	k = new_key(ps, type, COST_VIEW);
	if (k == NULL)
		return NULL;
	k->set = set;
	k->last = set->has_last;
	ps->p->uses_last |= set->has_last;
	return k;
}

/* RFC 7162 §3.1.5: "MODSEQ" [SP entry-name SP entry-type-req]
 * SP mod-sequence-valzer, entry-name = DQUOTE "/flags/" attr-flag
 * DQUOTE. There is one modseq per message here, so the entry only has
 * to be well formed. */
static struct search_key *
modseq_key(struct parser *ps)
{
	const struct imap_arg *a;

	if (ps->i < ps->n && ps->args[ps->i].type == IMAP_ARG_QUOTED) {
		const char *type;

		a = next_arg(ps);
		if (a->len < 8 || strncasecmp(a->str, "/flags/", 7) != 0) {
			ps->error = "Invalid MODSEQ entry name.";
			return NULL;
		}
		a = next_arg(ps);
		if (a == NULL || !imap_arg_get_atom(a, &type) ||
		    !(str_eq_ci(type, "priv") || str_eq_ci(type, "shared") ||
		      str_eq_ci(type, "all"))) {
			ps->error = "Invalid MODSEQ entry type.";
			return NULL;
		}
	}
	ps->p->uses_modseq = true;
	return number_key(ps, SEARCH_KEY_MODSEQ, INT64_MAX, false, true,
			  COST_VIEW);
}

static unsigned int
add_cost(unsigned int a, unsigned int b)
{
	return a + b > COST_MAX ? COST_MAX : a + b;
}

static struct search_key *parse_key(struct parser *ps, unsigned int depth);

/* Keys up to the end of the current argument list, as one AND. */
static struct search_key *
parse_and(struct parser *ps, unsigned int depth)
{
	struct search_key *k, **kids;
	size_t n = 0, cap = ps->n - ps->i;

	if (cap == 0) {
		ps->error = "Missing search key.";
		return NULL;
	}
	kids = pool_alloc(ps->pool, cap * sizeof(*kids));
	while (ps->i < ps->n) {
		k = parse_key(ps, depth);
		if (k == NULL)
			return NULL;
		kids[n++] = k;
	}
	if (n == 1)
		return kids[0];
	k = new_key(ps, SEARCH_KEY_AND, 0);
	if (k == NULL)
		return NULL;
	/* Cheapest first, stably: AND stops at the first key that fails. */
	for (size_t i = 1; i < n; i++) {
		struct search_key *x = kids[i];
		size_t j = i;

		while (j > 0 && kids[j - 1]->cost > x->cost) {
			kids[j] = kids[j - 1];
			j--;
		}
		kids[j] = x;
	}
	for (size_t i = 0; i < n; i++)
		k->cost = add_cost(k->cost, kids[i]->cost);
	k->children = kids;
	k->n_children = n;
	return k;
}

static struct search_key *
parse_key(struct parser *ps, unsigned int depth)
{
	const struct imap_arg *a;
	struct search_key *k, *x;
	const char *name;
	char up[24];

	if (depth >= SEARCH_MAX_DEPTH) {
		ps->error = "Search keys nested too deeply.";
		return NULL;
	}
	a = next_arg(ps);
	if (a == NULL) {
		ps->error = "Missing search key.";
		return NULL;
	}
	if (a->type == IMAP_ARG_LIST) {
		/* "(" search-key *(SP search-key) ")" */
		const struct imap_arg *args = ps->args;
		size_t n = ps->n, i = ps->i;

		if (a->list_n == 0) {
			ps->error = "Empty search key list.";
			return NULL;
		}
		ps->args = a->list;
		ps->n = a->list_n;
		ps->i = 0;
		k = parse_and(ps, depth + 1);
		ps->args = args;
		ps->n = n;
		ps->i = i;
		return k;
	}
	if (a->type != IMAP_ARG_ATOM) {
		ps->error = "Expected a search key.";
		return NULL;
	}
	name = a->str;
	if ((name[0] >= '0' && name[0] <= '9') || name[0] == '*' ||
	    name[0] == '$')
		return set_key(ps, SEARCH_KEY_SEQSET, a->str, a->len);
	if (a->len >= sizeof(up)) {
		ps->error = "Unknown search key.";
		return NULL;
	}
	memcpy(up, name, a->len + 1);
	str_upper(up);

	if (str_eq(up, "ALL"))
		return new_key(ps, SEARCH_KEY_ALL, 0);
	if (str_eq(up, "ANSWERED"))
		return flag_key(ps, SEARCH_KEY_FLAGS_SET, STORE_F_ANSWERED);
	if (str_eq(up, "DELETED"))
		return flag_key(ps, SEARCH_KEY_FLAGS_SET, STORE_F_DELETED);
	if (str_eq(up, "DRAFT"))
		return flag_key(ps, SEARCH_KEY_FLAGS_SET, STORE_F_DRAFT);
	if (str_eq(up, "FLAGGED"))
		return flag_key(ps, SEARCH_KEY_FLAGS_SET, STORE_F_FLAGGED);
	if (str_eq(up, "SEEN"))
		return flag_key(ps, SEARCH_KEY_FLAGS_SET, STORE_F_SEEN);
	if (str_eq(up, "UNANSWERED"))
		return flag_key(ps, SEARCH_KEY_FLAGS_CLEAR, STORE_F_ANSWERED);
	if (str_eq(up, "UNDELETED"))
		return flag_key(ps, SEARCH_KEY_FLAGS_CLEAR, STORE_F_DELETED);
	if (str_eq(up, "UNDRAFT"))
		return flag_key(ps, SEARCH_KEY_FLAGS_CLEAR, STORE_F_DRAFT);
	if (str_eq(up, "UNFLAGGED"))
		return flag_key(ps, SEARCH_KEY_FLAGS_CLEAR, STORE_F_FLAGGED);
	if (str_eq(up, "UNSEEN"))
		return flag_key(ps, SEARCH_KEY_FLAGS_CLEAR, STORE_F_SEEN);
	if (str_eq(up, "RECENT"))
		return new_key(ps, SEARCH_KEY_RECENT, COST_VIEW);
	if (str_eq(up, "NEW"))
		return new_key(ps, SEARCH_KEY_NEW, COST_VIEW);
	if (str_eq(up, "OLD"))
		return new_key(ps, SEARCH_KEY_OLD, COST_VIEW);
	if (str_eq(up, "KEYWORD"))
		return keyword_key(ps, SEARCH_KEY_KEYWORD);
	if (str_eq(up, "UNKEYWORD"))
		return keyword_key(ps, SEARCH_KEY_UNKEYWORD);
	if (str_eq(up, "BEFORE"))
		return date_key(ps, SEARCH_KEY_BEFORE, COST_INFO);
	if (str_eq(up, "ON"))
		return date_key(ps, SEARCH_KEY_ON, COST_INFO);
	if (str_eq(up, "SINCE"))
		return date_key(ps, SEARCH_KEY_SINCE, COST_INFO);
	if (str_eq(up, "SAVEDBEFORE"))
		return date_key(ps, SEARCH_KEY_SAVEDBEFORE, COST_INFO);
	if (str_eq(up, "SAVEDON"))
		return date_key(ps, SEARCH_KEY_SAVEDON, COST_INFO);
	if (str_eq(up, "SAVEDSINCE"))
		return date_key(ps, SEARCH_KEY_SAVEDSINCE, COST_INFO);
	if (str_eq(up, "SAVEDATESUPPORTED"))
		return new_key(ps, SEARCH_KEY_SAVEDATESUPPORTED, 0);
	if (str_eq(up, "SENTBEFORE") || str_eq(up, "SENTON") ||
	    str_eq(up, "SENTSINCE")) {
		k = date_key(ps, up[4] == 'B' ? SEARCH_KEY_SENTBEFORE :
			     up[5] == 'N' ? SEARCH_KEY_SENTON :
			     SEARCH_KEY_SENTSINCE, COST_HEADER);
		if (k != NULL && ++ps->p->n_text_keys > SEARCH_MAX_TEXT_KEYS) {
			ps->error = "Too many text search keys.";
			return NULL;
		}
		return k;
	}
	if (str_eq(up, "OLDER"))
		return number_key(ps, SEARCH_KEY_OLDER, UINT32_MAX, true,
				  false, COST_INFO);
	if (str_eq(up, "YOUNGER"))
		return number_key(ps, SEARCH_KEY_YOUNGER, UINT32_MAX, true,
				  false, COST_INFO);
	if (str_eq(up, "LARGER"))
		return number_key(ps, SEARCH_KEY_LARGER, INT64_MAX, false,
				  false, COST_INFO);
	if (str_eq(up, "SMALLER"))
		return number_key(ps, SEARCH_KEY_SMALLER, INT64_MAX, false,
				  false, COST_INFO);
	if (str_eq(up, "MODSEQ"))
		return modseq_key(ps);
	if (str_eq(up, "UID")) {
		a = next_arg(ps);
		if (a == NULL || a->type != IMAP_ARG_ATOM) {
			ps->error = "Invalid sequence set in search key.";
			return NULL;
		}
		return set_key(ps, SEARCH_KEY_UIDSET, a->str, a->len);
	}
	if (str_eq(up, "FROM") || str_eq(up, "TO") || str_eq(up, "CC") ||
	    str_eq(up, "BCC") || str_eq(up, "SUBJECT")) {
		static const char *const fields[] = { "From", "To", "Cc",
			"Bcc", "Subject" };
		const char *field = fields[up[0] == 'F' ? 0 : up[0] == 'T' ?
					   1 : up[0] == 'C' ? 2 :
					   up[0] == 'B' ? 3 : 4];

		return string_key(ps, SEARCH_KEY_HEADER, field, COST_HEADER);
	}
	if (str_eq(up, "HEADER")) {
		const char *field;
		size_t len;

		/* header-fld-name = astring; RFC 5322 field-name is
		 * printable ASCII but ':' and SP. */
		if (!get_string(ps, &field, &len))
			return NULL;
		for (size_t i = 0; i < len; i++) {
			if ((uint8_t)field[i] <= 32 ||
			    (uint8_t)field[i] >= 127 || field[i] == ':') {
				ps->error = "Invalid header field name.";
				return NULL;
			}
		}
		if (len == 0) {
			ps->error = "Invalid header field name.";
			return NULL;
		}
		return string_key(ps, SEARCH_KEY_HEADER, field, COST_HEADER);
	}
	if (str_eq(up, "BODY"))
		return string_key(ps, SEARCH_KEY_BODY, NULL, COST_BODY);
	if (str_eq(up, "TEXT"))
		return string_key(ps, SEARCH_KEY_TEXT, NULL, COST_TEXT);
	if (str_eq(up, "NOT")) {
		x = parse_key(ps, depth + 1);
		if (x == NULL)
			return NULL;
		k = new_key(ps, SEARCH_KEY_NOT, x->cost);
		if (k == NULL)
			return NULL;
		k->children = pool_alloc(ps->pool, sizeof(*k->children));
		k->children[0] = x;
		k->n_children = 1;
		return k;
	}
	if (str_eq(up, "OR")) {
		struct search_key *l, *r;

		l = parse_key(ps, depth + 1);
		if (l == NULL)
			return NULL;
		r = parse_key(ps, depth + 1);
		if (r == NULL)
			return NULL;
		k = new_key(ps, SEARCH_KEY_OR, add_cost(l->cost, r->cost));
		if (k == NULL)
			return NULL;
		k->children = pool_alloc(ps->pool, 2 * sizeof(*k->children));
		/* The cheaper side first: OR stops at the first match. */
		k->children[0] = l->cost <= r->cost ? l : r;
		k->children[1] = l->cost <= r->cost ? r : l;
		k->n_children = 2;
		return k;
	}
	ps->error = "Unknown search key.";
	return NULL;
}

/* RFC 4466 §2.6 / RFC 4731 §3.1: RETURN (MIN MAX ALL COUNT SAVE). */
static int
parse_return(struct parser *ps)
{
	const struct imap_arg *a = next_arg(ps);
	const char *s;

	if (a == NULL || a->type != IMAP_ARG_LIST) {
		ps->error = "Expected a list of RETURN options.";
		return -1;
	}
	ps->p->esearch = true;
	for (size_t i = 0; i < a->list_n; i++) {
		if (!imap_arg_get_atom(&a->list[i], &s)) {
			ps->error = "Invalid RETURN option.";
			return -1;
		}
		if (str_eq_ci(s, "MIN"))
			ps->p->ret |= SEARCH_RETURN_MIN;
		else if (str_eq_ci(s, "MAX"))
			ps->p->ret |= SEARCH_RETURN_MAX;
		else if (str_eq_ci(s, "ALL"))
			ps->p->ret |= SEARCH_RETURN_ALL;
		else if (str_eq_ci(s, "COUNT"))
			ps->p->ret |= SEARCH_RETURN_COUNT;
		else if (str_eq_ci(s, "SAVE"))
			ps->p->ret |= SEARCH_RETURN_SAVE;
		else {
			/* RFC 4466 allows extensions; none is known. */
			ps->error = "Unknown RETURN option.";
			return -1;
		}
	}
	/* RFC 4731 §3.1: "RETURN ()" is RETURN (ALL). */
	if (a->list_n == 0)
		ps->p->ret = SEARCH_RETURN_ALL;
	return 0;
}

int
search_parse(struct pool *pool, const struct imap_arg *args, size_t n,
	     struct search_program *out, const char **error)
{
	struct parser ps;
	const char *s;

	memset(out, 0, sizeof(*out));
	memset(&ps, 0, sizeof(ps));
	ps.pool = pool;
	ps.p = out;
	ps.args = args;
	ps.n = n;
	if (ps.i < ps.n && imap_arg_get_atom(&args[ps.i], &s) &&
	    str_eq_ci(s, "RETURN")) {
		ps.i++;
		if (parse_return(&ps) < 0) {
			*error = ps.error;
			return -1;
		}
	}
	if (ps.i < ps.n && imap_arg_get_atom(&args[ps.i], &s) &&
	    str_eq_ci(s, "CHARSET")) {
		ps.i++;
		if (ps.i >= ps.n || !imap_arg_get_astring(&args[ps.i],
							  &ps.charset) ||
		    ps.charset[0] == '\0') {
			*error = "Expected a charset.";
			return -1;
		}
		ps.i++;
	}
	out->charset = ps.charset;
	out->root = parse_and(&ps, 0);
	if (out->root == NULL) {
		*error = ps.error != NULL ? ps.error : "Invalid search program.";
		return -1;
	}
	if (ps.charset != NULL && !charset_known(ps.charset)) {
		*error = "Unsupported charset.";
		return -2;
	}
	return 0;
}

/* SORT and THREAD (RFC 5256 §3): the charset is not optional and has no
 * "CHARSET" before it, and there is no RETURN. */
int
search_parse_charset(struct pool *pool, const char *charset,
		     const struct imap_arg *args, size_t n,
		     struct search_program *out, const char **error)
{
	struct parser ps;

	memset(out, 0, sizeof(*out));
	memset(&ps, 0, sizeof(ps));
	ps.pool = pool;
	ps.p = out;
	ps.args = args;
	ps.n = n;
	ps.charset = charset;
	out->charset = charset;
	out->root = parse_and(&ps, 0);
	if (out->root == NULL) {
		*error = ps.error != NULL ? ps.error : "Invalid search program.";
		return -1;
	}
	if (!charset_known(charset)) {
		*error = "Unsupported charset.";
		return -2;
	}
	return 0;
}

/* --- evaluation ---------------------------------------------------------- */

static void
prepare_key(struct pool *pool, const struct search_env *env,
	    struct search_key *k)
{
	for (size_t i = 0; i < k->n_children; i++)
		prepare_key(pool, env, k->children[i]);
	if (k->type == SEARCH_KEY_SEQSET) {
		struct seqset *set = seqset_new(pool);
		uint32_t exists = (uint32_t)env->n;

		for (size_t i = 0; i < k->set->n; i++) {
			uint32_t lo = k->set->r[i].lo, hi = k->set->r[i].hi;

			lo = lo == SEQSET_STAR ? exists : lo;
			hi = hi == SEQSET_STAR ? exists : hi;
			if (lo > hi) {
				uint32_t t = lo;

				lo = hi;
				hi = t;
			}
			if (hi > exists)
				hi = exists;
			if (lo == 0 || lo > hi)
				continue;   /* "*" of an empty mailbox */
			seqset_add(set, lo, hi);
		}
		k->set = set;
	} else if (k->type == SEARCH_KEY_UIDSET) {
		uint32_t highest = env->n > 0 ? env->view->msgs[env->n - 1].uid :
			0;

		k->set = seqset_resolve_uid(pool, k->set, highest,
					    env->view->uidnext);
	}
}

void
search_prepare(struct pool *pool, struct search_env *env,
	       struct search_program *p)
{
	prepare_key(pool, env, p->root);
	search_fts_prepare(pool, env, p);
}

struct msg_state {
	uint32_t seq;
	const struct store_msg *m;
	bool counted_index, counted_read;
	bool have_info, info_failed;
	time_t date;
	uint64_t size;
};

static bool
in_saved(const struct search_env *env, uint32_t uid)
{
	size_t lo = 0, hi = env->n_saved;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (env->saved[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < env->n_saved && env->saved[lo] == uid;
}

static bool
keyword_set(const struct search_env *env, const struct store_msg *m,
	    const struct search_key *k)
{
	for (size_t i = 0; i < env->view->n_keywords; i++) {
		if (str_eq_ci(env->view->keywords[i], k->str))
			return (m->keywords & (UINT64_C(1) << i)) != 0;
	}
	return false;  /* a keyword the mailbox does not know */
}

/* INTERNALDATE and RFC822.SIZE, once per message. */
static bool
get_info(struct search_env *env, struct msg_state *ms)
{
	if (!ms->have_info && !ms->info_failed) {
		if (mailbox_msg_info(env->mb, ms->seq, &ms->date,
				     &ms->size) == 0) {
			ms->have_info = true;
		} else {
			ms->info_failed = true;
			if (store_error(env->store)->code !=
			    STORE_ERR_EXPUNGED && !env->failed) {
				log_error("SEARCH: message %u: %s",
					  (unsigned int)ms->seq,
					  store_error(env->store)->detail);
				env->failed = true;
			}
		}
	}
	return ms->have_info;
}

static bool
eval(struct search_env *env, const struct search_key *k,
     struct msg_state *ms)
{
	const struct store_msg *m = ms->m;
	bool expunged;
	int r;

	switch (k->type) {
	case SEARCH_KEY_ALL:
		return true;
	case SEARCH_KEY_AND:
		for (size_t i = 0; i < k->n_children; i++) {
			if (!eval(env, k->children[i], ms))
				return false;
		}
		return true;
	case SEARCH_KEY_OR:
		return eval(env, k->children[0], ms) ||
			eval(env, k->children[1], ms);
	case SEARCH_KEY_NOT:
		return !eval(env, k->children[0], ms);
	case SEARCH_KEY_SEQSET:
		return (k->last && in_saved(env, m->uid)) ||
			seqset_contains(k->set, ms->seq);
	case SEARCH_KEY_UIDSET:
		return (k->last && in_saved(env, m->uid)) ||
			seqset_contains(k->set, m->uid);
	case SEARCH_KEY_FLAGS_SET:
		return (m->flags & k->flags) == k->flags;
	case SEARCH_KEY_FLAGS_CLEAR:
		return (m->flags & k->flags) == 0;
	case SEARCH_KEY_RECENT:
		return m->recent;
	case SEARCH_KEY_NEW:
		return m->recent && (m->flags & STORE_F_SEEN) == 0;
	case SEARCH_KEY_OLD:
		return !m->recent;
	case SEARCH_KEY_KEYWORD:
		return keyword_set(env, m, k);
	case SEARCH_KEY_UNKEYWORD:
		return !keyword_set(env, m, k);
	case SEARCH_KEY_MODSEQ:
		return m->modseq >= k->num;
	case SEARCH_KEY_SAVEDATESUPPORTED:
		/* RFC 8514 §4.3: the store keeps no save date. */
		return false;
	case SEARCH_KEY_BEFORE:
	case SEARCH_KEY_SAVEDBEFORE:
		return get_info(env, ms) && day_of(ms->date) < k->day;
	case SEARCH_KEY_ON:
	case SEARCH_KEY_SAVEDON:
		return get_info(env, ms) && day_of(ms->date) == k->day;
	case SEARCH_KEY_SINCE:
	case SEARCH_KEY_SAVEDSINCE:
		return get_info(env, ms) && day_of(ms->date) >= k->day;
	case SEARCH_KEY_OLDER:
		return get_info(env, ms) &&
			(int64_t)ms->date < (int64_t)env->now - (int64_t)k->num;
	case SEARCH_KEY_YOUNGER:
		return get_info(env, ms) &&
			(int64_t)ms->date >= (int64_t)env->now -
			(int64_t)k->num;
	case SEARCH_KEY_LARGER:
		return get_info(env, ms) && ms->size > k->num;
	case SEARCH_KEY_SMALLER:
		return get_info(env, ms) && ms->size < k->num;
	case SEARCH_KEY_HEADER:
	case SEARCH_KEY_BODY:
	case SEARCH_KEY_TEXT:
	case SEARCH_KEY_SENTBEFORE:
	case SEARCH_KEY_SENTON:
	case SEARCH_KEY_SENTSINCE:
		if (m->expunged)
			return false;
		if (k->fts) {
			r = search_fts_check(env, k, m->uid);
			if (r != SEARCH_FTS_SCAN) {
				if (!ms->counted_index && !ms->counted_read)
					env->n_index++;
				ms->counted_index = true;
				return r == SEARCH_FTS_YES;
			}
		}
		if (k->type == SEARCH_KEY_HEADER || k->type == SEARCH_KEY_BODY ||
		    k->type == SEARCH_KEY_TEXT) {
			if (!ms->counted_read) {
				env->n_read++;
				if (ms->counted_index)
					env->n_index--;
			}
			ms->counted_read = true;
		}
		r = search_text_match(env->text, ms->seq, k, &expunged);
		if (r == SEARCH_TEXT_NO_DATE) {
			/* RFC 5256 §2.2's rule for SORT: without a sent
			 * date, INTERNALDATE stands in. */
			int64_t day;

			if (!get_info(env, ms))
				return false;
			day = day_of(ms->date);
			return k->type == SEARCH_KEY_SENTBEFORE ? day < k->day :
				k->type == SEARCH_KEY_SENTON ? day == k->day :
				day >= k->day;
		}
		if (r < 0) {
			if (!env->failed)
				log_error("SEARCH: message %u: %s",
					  (unsigned int)ms->seq,
					  search_text_error(env->text));
			env->failed = true;
			return false;
		}
		return r > 0;
	}
	return false;
}

bool
search_match(struct search_env *env, const struct search_program *p,
	     uint32_t seq)
{
	struct msg_state ms;

	memset(&ms, 0, sizeof(ms));
	ms.seq = seq;
	ms.m = &env->view->msgs[seq - 1];
	return eval(env, p->root, &ms);
}
