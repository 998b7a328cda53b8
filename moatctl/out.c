/*
 * out: output helpers for moatctl: JSON strings (user names and
 * mailbox names are other people's bytes: every control character and
 * every byte that is not valid UTF-8 is escaped, so the output is always
 * valid JSON) and the times of the plain tables.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "moatctl/moatctl.h"

/* Length of the UTF-8 sequence at s (1..4), 0 if it is not valid. */
static size_t
utf8_len(const unsigned char *s, size_t left)
{
	size_t n;
	unsigned long cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void
json_str(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t len = strlen(str);

	fputc('"', f);
	for (size_t i = 0; i < len; ) {
		size_t n = utf8_len(s + i, len - i);

		if (n == 0) {
			/* Not UTF-8: the byte as a code point of its own. */
			fprintf(f, "\\u%04x", s[i]);
			i++;
		} else if (n > 1) {
			fwrite(s + i, 1, n, f);
			i += n;
		} else if (s[i] == '"' || s[i] == '\\') {
			fprintf(f, "\\%c", s[i]);
			i++;
		} else if (s[i] < 0x20 || s[i] == 0x7f) {
			fprintf(f, "\\u%04x", s[i]);
			i++;
		} else {
			fputc(s[i], f);
			i++;
		}
	}
	fputc('"', f);
}

void
fmt_utc(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}

void
fmt_duration(uint64_t s, char *buf, size_t len)
{
	if (s >= 86400)
		snprintf(buf, len, "%llud %02llu:%02llu:%02llu",
			 (unsigned long long)(s / 86400),
			 (unsigned long long)(s % 86400 / 3600),
			 (unsigned long long)(s % 3600 / 60),
			 (unsigned long long)(s % 60));
	else
		snprintf(buf, len, "%02llu:%02llu:%02llu",
			 (unsigned long long)(s / 3600),
			 (unsigned long long)(s % 3600 / 60),
			 (unsigned long long)(s % 60));
}
