/*
 * libFuzzer harness for lib/mail/date.c: the bytes are a Date: value.
 * Invariants (abort() otherwise): a parsed date has a zone within a day
 * and an instant within years 1900-9999; written in RFC 5322 form and
 * parsed again it gives the same instant and zone.
 */
#include <stdint.h>
#include <stdlib.h>

#include "core/buf.h"
#include "mail/date.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond)
{
	if (!cond)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mail_date d, e;
	struct buf *out;

	if (mail_date_parse(data, size, &d) < 0)
		return 0;
	check(d.tz_min > -24 * 60 && d.tz_min < 24 * 60);
	check(d.t >= mail_date_mktime(1900, 1, 1, 0, 0, 0) - 86400 &&
	      d.t <= mail_date_mktime(9999, 12, 31, 23, 59, 59) + 86400);
	out = buf_new(128);
	check(mail_date_format(&d, out) == 0);
	check(mail_date_parse(buf_data(out), buf_len(out), &e) == 0);
	check(e.t == d.t && e.tz_min == d.tz_min);
	buf_free(&out);
	return 0;
}
