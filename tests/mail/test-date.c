/* Tests for lib/mail/date.c: RFC 5322 §3.3 dates, §4.3 obsolete forms,
 * and what real mail carries. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/buf.h"
#include "mail/date.h"

struct row {
	const char *in;
	long long t;    /* -1: must be invalid */
	int tz;
};

/* 1997-11-21 09:55:06 -0600 (RFC 5322 A.1.1) = 15:55:06 UTC. */
#define A11 880127706LL

static const struct row rows[] = {
	/* RFC 5322 Appendix A */
	{ "Fri, 21 Nov 1997 09:55:06 -0600", A11, -360 },
	{ "Tue, 1 Jul 2003 10:52:37 +0200", 1057049557LL, 120 },
	{ "Thu, 13 Feb 1969 23:32:54 -0330", -27723426LL, -210 },
	/* A.5: comments and folding. */
	{ "Thu,\r\n      13\r\n        Feb\r\n          1969\r\n      23:32\r\n"
	  "               -0330 (Newfoundland Time)", -27723480LL, -210 },
	/* A.6.2 obsolete: 2-digit year, named zone. */
	{ "21 Nov 97 09:55:06 GMT", A11 - 21600, 0 },
	/* A.6.3: CFWS inside the time. */
	{ "Fri, 21 Nov 1997 09(comment):   55  :  06 -0600", A11, -360 },
	/* §4.3 zones */
	{ "Fri, 21 Nov 1997 09:55:06 EST", A11 - 3600, -300 },
	{ "Fri, 21 Nov 1997 09:55:06 EDT", A11 - 7200, -240 },
	{ "Fri, 21 Nov 1997 09:55:06 CST", A11, -360 },
	{ "Fri, 21 Nov 1997 09:55:06 CDT", A11 - 3600, -300 },
	{ "Fri, 21 Nov 1997 09:55:06 MST", A11 + 3600, -420 },
	{ "Fri, 21 Nov 1997 09:55:06 MDT", A11, -360 },
	{ "Fri, 21 Nov 1997 09:55:06 PST", A11 + 7200, -480 },
	{ "Fri, 21 Nov 1997 09:55:06 PDT", A11 + 3600, -420 },
	{ "Fri, 21 Nov 1997 15:55:06 UT", A11, 0 },
	{ "Fri, 21 Nov 1997 15:55:06 Z", A11, 0 },
	/* Military zones: §4.3 says treat as -0000. */
	{ "Fri, 21 Nov 1997 15:55:06 A", A11, 0 },
	{ "Fri, 21 Nov 1997 15:55:06 M", A11, 0 },
	/* Real mail: no weekday, no seconds, extra spaces, case. */
	{ "21 Nov 1997 09:55:06 -0600", A11, -360 },
	{ "Fri, 21 Nov 1997 09:55 -0600", A11 - 6, -360 },
	{ "  fri,   21   nov   1997   09:55:06   -0600  ", A11, -360 },
	{ "FRI, 21 NOV 1997 09:55:06 -0600", A11, -360 },
	{ "Friday, 21 November 1997 09:55:06 -0600", A11, -360 },
	{ "Fri, 21 Nov 1997 09:55:06 -0600 (CST)", A11, -360 },
	{ "Fri, 21 Nov 1997 15:55:06 +0000 (UTC)", A11, 0 },
	{ "Fri, 21 Nov 1997 15:55:06 UTC", A11, 0 },
	{ "Fri, 21 Nov 1997 09:55:06 -06:00", A11, -360 },
	{ "Fri, 21 Nov 1997 15:55:06 GMT+0000", A11, 0 },
	{ "Fri, 21 Nov 97 09:55:06 -0600", A11, -360 },
	{ "Fri, 21 Nov 097 09:55:06 -0600", A11, -360 },
	{ "Sat, 1 Jan 00 00:00:00 +0000", 946684800LL, 0 },
	{ "Sun, 1 Jan 49 00:00:00 +0000", 2493072000LL, 0 },
	{ "Thu, 1 Jan 50 00:00:00 +0000", -631152000LL, 0 },
	{ "Fri, 21 Sept 1997 09:55:06 -0600", A11 - 61 * 86400, -360 },
	{ "1 Jan 2001", 978307200LL, 0 },
	/* Dashes (cookie style). */
	{ "Fri, 21-Nov-1997 15:55:06 GMT", A11, 0 },
	{ "21-nov-97 09:55:06 -0600", A11, -360 },
	/* asctime / ctime order and Unix date(1). */
	{ "Fri Nov 21 15:55:06 1997", A11, 0 },
	{ "Fri Nov 21 09:55:06 CST 1997", A11, -360 },
	/* Missing or bad zones: -0000. */
	{ "Fri, 21 Nov 1997 15:55:06", A11, 0 },
	{ "Fri, 21 Nov 1997 15:55:06 XYZ", A11, 0 },
	{ "Fri, 21 Nov 1997 15:55:06 +9999", A11, 0 },
	{ "Fri, 21 Nov 1997 15:55:06 +123", A11, 0 },
	/* Leap second. */
	{ "Wed, 31 Dec 2008 23:59:60 +0000", 1230767999LL, 0 },
	/* Leap years. */
	{ "29 Feb 2000 00:00:00 +0000", 951782400LL, 0 },
	{ "29 Feb 1900 00:00:00 +0000", -1, 0 },
	{ "29 Feb 2001 00:00:00 +0000", -1, 0 },
	/* Invalid. */
	{ "", -1, 0 },
	{ "yesterday", -1, 0 },
	{ "31 Feb 2001 10:00:00 +0000", -1, 0 },
	{ "32 Jan 2001 10:00:00 +0000", -1, 0 },
	{ "0 Jan 2001 10:00:00 +0000", -1, 0 },
	{ "1 Foo 2001 10:00:00 +0000", -1, 0 },
	{ "1 Jan 2001 25:00:00 +0000", -1, 0 },
	{ "1 Jan 2001 10:61:00 +0000", -1, 0 },
	{ "1 Jan 2001 10:00:61 +0000", -1, 0 },
	{ "1 Jan 1800 10:00:00 +0000", -1, 0 },
	{ "1 Jan 99999 10:00:00 +0000", -1, 0 },
	{ "1 Jan", -1, 0 },
	{ "Jan 2001", -1, 0 },
	{ "1 Jan 2001 123:00:00", -1, 0 },
	{ "1 Jan 2001 10:", -1, 0 },
	{ "(((((", -1, 0 },
};

Test(date, table)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct mail_date d = { 0, 12345 };
		int rc = mail_date_parse(rows[i].in, strlen(rows[i].in), &d);

		if (rows[i].t == -1) {
			cr_expect(rc == -1, "row %zu \"%s\": got %lld, want invalid",
				  i, rows[i].in, (long long)d.t);
			continue;
		}
		cr_expect(rc == 0, "row %zu \"%s\": invalid", i, rows[i].in);
		cr_expect(d.t == rows[i].t && d.tz_min == rows[i].tz,
			  "row %zu \"%s\": got %lld %d, want %lld %d", i,
			  rows[i].in, (long long)d.t, d.tz_min, rows[i].t,
			  rows[i].tz);
	}
}

Test(date, format_roundtrip)
{
	static const struct { long long t; int tz; const char *want; } f[] = {
		{ A11, -360, "Fri, 21 Nov 1997 09:55:06 -0600" },
		{ 0, 0, "Thu, 1 Jan 1970 00:00:00 +0000" },
		{ -1, 0, "Wed, 31 Dec 1969 23:59:59 +0000" },
		{ 951782400LL, 330, "Tue, 29 Feb 2000 05:30:00 +0530" },
		{ -2208988800LL, -210, "Sun, 31 Dec 1899 20:30:00 -0330" },
	};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		struct mail_date d = { (time_t)f[i].t, f[i].tz }, e;
		struct buf *out = buf_new(64);

		cr_assert(mail_date_format(&d, out) == 0);
		cr_expect_str_eq(buf_str(out), f[i].want, "row %zu", i);
		if (f[i].t >= -2208988800LL + 86400) {
			cr_expect(mail_date_parse(buf_data(out), buf_len(out), &e) == 0);
			cr_expect(e.t == d.t && e.tz_min == d.tz_min, "row %zu", i);
		}
		buf_free(&out);
	}
}

/* A huge value is parsed in bounded time (token cap). */
Test(date, huge)
{
	size_t n = 1 << 20;
	char *s = malloc(n);

	memset(s, '1', n);
	struct mail_date d;
	(void)mail_date_parse(s, n, &d);
	for (size_t i = 0; i < n; i++)
		s[i] = "1 Jan 2001 10:00 "[i % 17];
	cr_expect(mail_date_parse(s, n, &d) == 0);
	memset(s, '(', n);
	cr_expect(mail_date_parse(s, n, &d) == -1);
	/* 1,000 nested comments before the date are CFWS (no recursion). */
	size_t k = 0;
	for (; k < 1000; k++)
		s[k] = '(';
	for (; k < 2000; k++)
		s[k] = ')';
	memcpy(s + k, " 1 Jan 2001 00:00:00 +0000", 26);
	cr_expect(mail_date_parse(s, k + 26, &d) == 0 && d.t == 978307200);
	free(s);
}
