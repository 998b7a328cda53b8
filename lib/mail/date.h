/*
 * mail date: RFC 5322 §3.3 date-time, with the obsolete forms of §4.3
 * and what real mail carries.
 */
#ifndef MOAT_MAIL_DATE_H
#define MOAT_MAIL_DATE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "core/buf.h"

struct mail_date {
	time_t t;        /* the instant, seconds since the epoch (UTC) */
	int tz_min;      /* the sender's zone, minutes east of UTC */
};

/* Parses a Date: (or Resent-Date:, Received: tail) value. Accepted
 * beyond §3.3: comments and folding anywhere, a missing or full weekday
 * name, missing seconds, a missing time (midnight), 2-digit years
 * (00-49 -> 20xx, 50-99 -> 19xx, §4.3) and 3-digit years (+1900),
 * month names in any case and spelled out, the asctime order
 * "Mon Jan  2 15:04:05 2006", dashes "2-Jan-2006", named zones UT GMT
 * UTC Z EST EDT CST CDT
 * MST MDT PST PDT, zones written +hh:mm. Military one-letter zones,
 * unknown zone names, out-of-range or missing zones mean -0000 (§4.3:
 * no zone information): tz_min 0. A leap second (60) counts as 59.
 * Returns 0 and fills *d, or -1 ("invalid": no day, month or year, or a
 * value out of range such as 31 Feb or 25:00). */
int mail_date_parse(const void *s, size_t len, struct mail_date *d);

/* Appends d in the RFC 5322 form "Mon, 2 Jan 2006 15:04:05 -0700".
 * Returns 0 or -1 (out full). */
int mail_date_format(const struct mail_date *d, struct buf *out);

/* Seconds since the epoch of a proleptic Gregorian UTC date/time (no
 * range checks). */
time_t mail_date_mktime(int year, int mon, int day, int h, int m, int s);

#endif
