/*
 * mail date: a lenient, table-free tokenizer for Date: header values
 * (untrusted). It reads words, numbers, times and zones in any order the
 * old forms allow and checks each field's range; it never calls the C
 * library's locale- or TZ-dependent functions, so results are the same
 * in every process.
 */
#include <string.h>
#include <strings.h>

#include "mail/date.h"

/* No real date has more tokens; the rest of a longer value is ignored. */
#define MAX_TOKENS 24

static const char months[12][4] = {
	"jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec",
};
static const char *const month_full[12] = {
	"january", "february", "march", "april", "may", "june", "july",
	"august", "september", "october", "november", "december",
};
static const char *const wdays[7] = {
	"sunday", "monday", "tuesday", "wednesday", "thursday", "friday",
	"saturday",
};
static const char wday_abbr[7][4] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat",
};
static const char month_abbr[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

struct zone {
	const char *name;
	int min;
};
static const struct zone zones[] = {
	{ "ut", 0 }, { "gmt", 0 }, { "utc", 0 }, { "z", 0 },
	{ "est", -300 }, { "edt", -240 }, { "cst", -360 }, { "cdt", -300 },
	{ "mst", -420 }, { "mdt", -360 }, { "pst", -480 }, { "pdt", -420 },
};

enum tok_type { T_WORD, T_NUM, T_TIME, T_ZONE };

struct tok {
	enum tok_type type;
	const char *p;
	size_t len;
	int v[3];    /* T_NUM: value, digits; T_TIME: h m s; T_ZONE: min */
};

static bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Reads up to max digits at *i; -1 if none. */
static int
digits(const char *s, size_t len, size_t *i, int max, int *ndig)
{
	int v = 0, n = 0;

	while (*i < len && is_digit(s[*i]) && n < max) {
		v = v * 10 + (s[*i] - '0');
		(*i)++, n++;
	}
	if (ndig != NULL)
		*ndig = n;
	return n == 0 ? -1 : v;
}

/* Skips folding white space and (nested) comments: §4.3 allows CFWS
 * around every part of an obsolete date, even inside the time. */
static void
skip_cfws(const char *s, size_t len, size_t *i)
{
	int depth = 0;

	while (*i < len) {
		char c = s[*i];

		if (depth > 0) {
			if (c == '\\')
				(*i)++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
		} else if (c == '(') {
			depth++;
		} else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
			return;
		}
		(*i)++;
	}
}

/* At *i, after CFWS: ':' then a 1-2 digit number; -1 if not there. */
static int
time_part(const char *s, size_t len, size_t *i)
{
	size_t j = *i;
	int v;

	skip_cfws(s, len, &j);
	if (j >= len || s[j] != ':')
		return -1;
	j++;
	skip_cfws(s, len, &j);
	v = digits(s, len, &j, 2, NULL);
	if (v >= 0)
		*i = j;
	return v;
}

static size_t
tokenize(const char *s, size_t len, struct tok *t)
{
	size_t i = 0, n = 0;
	int depth = 0;

	while (i < len && n < MAX_TOKENS) {
		char c = s[i];

		if (depth > 0 || c == '(') {
			/* Comments (nested, with quoted-pairs) are CFWS. */
			if (c == '\\')
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			i++;
			continue;
		}
		if (is_alpha(c)) {
			size_t st = i;
			while (i < len && is_alpha(s[i]))
				i++;
			t[n++] = (struct tok){ T_WORD, s + st, i - st, { 0 } };
			continue;
		}
		if (is_digit(c)) {
			size_t st = i;
			int nd, v = digits(s, len, &i, 9, &nd);
			size_t j = i;
			int m = time_part(s, len, &j);
			if (m >= 0 || (j < len && s[j] == ':')) {
				/* hh:mm[:ss], CFWS allowed around the colons */
				int sec = 0;
				if (m < 0 || nd > 2)
					return 0;
				i = j;
				size_t k = i;
				int sv = time_part(s, len, &k);
				if (sv >= 0) {
					sec = sv;
					i = k;
				}
				t[n++] = (struct tok){ T_TIME, s + st, i - st,
						       { v, m, sec } };
			} else {
				t[n++] = (struct tok){ T_NUM, s + st, i - st,
						       { v, nd, 0 } };
			}
			while (i < len && is_digit(s[i]))
				i++;   /* absurdly long numbers: skipped */
			continue;
		}
		if ((c == '+' || c == '-') && i + 1 < len && is_digit(s[i + 1])) {
			size_t st = i++;
			int nd, v = digits(s, len, &i, 4, &nd), min = 0;
			int raw = v, raw_nd = nd;
			bool ok = true;

			if (nd <= 2 && i < len && s[i] == ':') {
				int mm;
				i++;
				mm = digits(s, len, &i, 2, NULL);
				v = v * 100 + (mm < 0 ? 0 : mm);
				nd = 4;
			}
			if (nd == 4 && v % 100 < 60 && v / 100 < 24)
				min = (v / 100) * 60 + v % 100;
			else if (nd == 2 && v < 24)
				min = v * 60;   /* "+01": hours */
			else
				ok = false;     /* bad zone: -0000 */
			if (!ok)
				min = 0;
			t[n++] = (struct tok){ T_ZONE, s + st, i - st,
					       { c == '-' ? -min : min, raw,
						 c == '-' ? raw_nd : 0 } };
			while (i < len && is_digit(s[i]))
				i++;
			continue;
		}
		i++;   /* spaces, commas, dots, other junk */
	}
	return n;
}

static int
word_month(const struct tok *t)
{
	if (t->len < 3)
		return -1;
	for (int m = 0; m < 12; m++) {
		if (strncasecmp(t->p, months[m], 3) != 0)
			continue;
		if (t->len == 3 || (t->len == 4 && m == 8 &&
				    (t->p[3] | 0x20) == 't') ||
		    (t->len == strlen(month_full[m]) &&
		     strncasecmp(t->p, month_full[m], t->len) == 0))
			return m;
	}
	return -1;
}

static bool
word_wday(const struct tok *t)
{
	for (int d = 0; d < 7; d++) {
		if (t->len == 3 && strncasecmp(t->p, wdays[d], 3) == 0)
			return true;
		if (t->len == strlen(wdays[d]) &&
		    strncasecmp(t->p, wdays[d], t->len) == 0)
			return true;
	}
	return false;
}

/* Named zone, or INT32_MIN; one-letter military zones give 0 (§4.3). */
static int
word_zone(const struct tok *t)
{
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		if (t->len == strlen(zones[i].name) &&
		    strncasecmp(t->p, zones[i].name, t->len) == 0)
			return zones[i].min;
	}
	if (t->len == 1 && (t->p[0] | 0x20) != 'j')
		return 0;
	return -100000;
}

static bool
leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

time_t
mail_date_mktime(int year, int mon, int day, int h, int m, int s)
{
	/* Days from civil (H. Hinnant's algorithm), mon 1-12. */
	long y = year - (mon <= 2);
	long era = (y >= 0 ? y : y - 399) / 400;
	long yoe = y - era * 400;
	long doy = (153 * (mon + (mon > 2 ? -3 : 9)) + 2) / 5 + day - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	long days = era * 146097 + doe - 719468;

	return (time_t)days * 86400 + h * 3600 + m * 60 + s;
}

int
mail_date_parse(const void *in, size_t len, struct mail_date *d)
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30,
				       31, 30, 31 };
	struct tok t[MAX_TOKENS];
	size_t n = tokenize(in, len, t);
	int day = -1, mon = -1, year = -1, ydig = 0, h = 0, mi = 0, sec = 0;
	int tz = 0, nums[2], ndig[2], nnum = 0;
	bool have_time = false, have_zone = false;

	for (size_t i = 0; i < n; i++) {
		int m, z;

		switch (t[i].type) {
		case T_WORD:
			if (mon < 0 && (m = word_month(&t[i])) >= 0) {
				mon = m;
			} else if (word_wday(&t[i])) {
				/* ignored: the date decides the weekday */
			} else if (have_time && !have_zone &&
				   (z = word_zone(&t[i])) != -100000) {
				tz = z;
				have_zone = true;
			}
			/* Other words ("at", "UTC" after a zone) are junk
			 * real mail carries: ignored. */
			break;
		case T_NUM:
			if (nnum < 2) {
				nums[nnum] = t[i].v[0];
				ndig[nnum++] = t[i].v[1];
			}
			break;
		case T_TIME:
			if (have_time)
				break;
			h = t[i].v[0], mi = t[i].v[1], sec = t[i].v[2];
			have_time = true;
			break;
		case T_ZONE:
			if (!have_time && t[i].v[2] > 0 && nnum < 2) {
				/* "01-Jan-2001": a dash, not a zone. */
				nums[nnum] = t[i].v[1];
				ndig[nnum++] = t[i].v[2];
				break;
			}
			if (have_time && !have_zone) {
				tz = t[i].v[0];
				have_zone = true;
			}
			break;
		}
	}
	if (nnum < 2 || mon < 0)
		return -1;
	/* "1 Jan 2001" and "Jan 1 ... 2001"; a 3-4 digit or > 31 number
	 * first means year-first order. */
	if (ndig[0] >= 3 || nums[0] > 31) {
		year = nums[0], ydig = ndig[0], day = nums[1];
	} else {
		day = nums[0], year = nums[1], ydig = ndig[1];
	}
	if (ydig <= 2)
		year += year < 50 ? 2000 : 1900;
	else if (ydig == 3)
		year += 1900;
	if (year < 1900 || year > 9999 || day < 1 || day > mdays[mon] ||
	    (mon == 1 && day == 29 && !leap(year)))
		return -1;
	if (h > 23 || mi > 59 || sec > 60)
		return -1;
	if (sec == 60)
		sec = 59;
	d->tz_min = tz;
	d->t = mail_date_mktime(year, mon + 1, day, h, mi, sec) -
	       (time_t)tz * 60;
	return 0;
}

int
mail_date_format(const struct mail_date *d, struct buf *out)
{
	time_t local = d->t + (time_t)d->tz_min * 60;
	long days = (long)(local / 86400), secs = (long)(local % 86400);
	int tz = d->tz_min < 0 ? -d->tz_min : d->tz_min;

	if (secs < 0) {
		secs += 86400;
		days--;
	}
	/* Civil from days (inverse of mail_date_mktime). */
	long z = days + 719468;
	long era = (z >= 0 ? z : z - 146096) / 146097;
	long doe = z - era * 146097;
	long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	long mp = (5 * doy + 2) / 153;
	long day = doy - (153 * mp + 2) / 5 + 1;
	long mon = mp < 10 ? mp + 3 : mp - 9;
	long year = yoe + era * 400 + (mon <= 2);
	long wd = ((days % 7) + 11) % 7;   /* 1970-01-01 was a Thursday */

	return buf_printf(out, "%s, %ld %s %04ld %02ld:%02ld:%02ld %c%02d%02d",
			  wday_abbr[wd], day, month_abbr[mon - 1], year,
			  secs / 3600, secs / 60 % 60, secs % 60,
			  d->tz_min < 0 ? '-' : '+', tz / 60, tz % 60);
}
