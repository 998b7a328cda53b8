/*
 * num: strict number parsing for config values, IMAP numbers (UIDs,
 * literal sizes) and IPC fields. Inputs are untrusted strings; anything
 * but plain decimal digits (and a documented suffix) is rejected, and
 * overflow is an error, never a wrap.
 */
#include <stdint.h>
#include <string.h>

#include "core/num.h"

int
num_parse_u64_n(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		/* v * 10 + d <= max, without computing anything that wraps */
		if (d > max || v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int
num_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	return num_parse_u64_n(s, strlen(s), max, out);
}

int
num_parse_uint(const char *s, unsigned int max, unsigned int *out)
{
	uint64_t v;

	if (num_parse_u64(s, max, &v) < 0)
		return -1;
	*out = (unsigned int)v;
	return 0;
}

/* Splits s into digits and a suffix; -1 if there are no digits. */
static int
split_suffix(const char *s, size_t *ndigits, const char **suffix)
{
	size_t n = 0;

	while (s[n] >= '0' && s[n] <= '9')
		n++;
	if (n == 0)
		return -1;
	*ndigits = n;
	*suffix = s + n;
	return 0;
}

static int
mul_checked(uint64_t v, uint64_t mul, uint64_t *out)
{
	if (mul != 0 && v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

int
num_parse_size(const char *s, uint64_t *out)
{
	const char *suf;
	size_t n;
	uint64_t v, mul;

	if (split_suffix(s, &n, &suf) < 0 ||
	    num_parse_u64_n(s, n, UINT64_MAX, &v) < 0)
		return -1;
	if (*suf == '\0')
		mul = 1;
	else if (suf[1] != '\0')
		return -1;
	else if (*suf == 'k' || *suf == 'K')
		mul = UINT64_C(1) << 10;
	else if (*suf == 'm' || *suf == 'M')
		mul = UINT64_C(1) << 20;
	else if (*suf == 'g' || *suf == 'G')
		mul = UINT64_C(1) << 30;
	else
		return -1;
	return mul_checked(v, mul, out);
}

int
num_parse_duration_ms(const char *s, uint64_t *out)
{
	const char *suf;
	size_t n;
	uint64_t v, mul;

	if (split_suffix(s, &n, &suf) < 0 ||
	    num_parse_u64_n(s, n, UINT64_MAX, &v) < 0)
		return -1;
	if (*suf == '\0' || strcmp(suf, "s") == 0)
		mul = 1000;
	else if (strcmp(suf, "ms") == 0)
		mul = 1;
	else if (strcmp(suf, "m") == 0)
		mul = 60 * 1000;
	else if (strcmp(suf, "h") == 0)
		mul = 60 * 60 * 1000;
	else
		return -1;
	return mul_checked(v, mul, out);
}

int
num_parse_bool(const char *s, int *out)
{
	if (strcmp(s, "yes") == 0 || strcmp(s, "true") == 0 ||
	    strcmp(s, "1") == 0)
		*out = 1;
	else if (strcmp(s, "no") == 0 || strcmp(s, "false") == 0 ||
		 strcmp(s, "0") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}
