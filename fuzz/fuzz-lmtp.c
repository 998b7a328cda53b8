/*
 * libFuzzer harness for the LMTP command parser and DATA decoder
 * (lmtp/lmtp-proto.c), the only code of moat-lmtp that reads what a
 * client sent. Each input is split at LF into command lines for
 * lmtp_parse, and also fed whole (in two pieces, split where the first
 * byte says) to the DATA decoder. Checks (abort() otherwise):
 *   - a parsed command's path and local part are NUL-terminated within
 *     their size and printable ASCII (they go into headers and logs);
 *   - every refusal has a reply "5dd 5.d.d text" (RFC 3463 form);
 *   - the decoder never consumes more than it was given, ends every
 *     line with CRLF (no bare CR-less LF), keeps no more than its limit,
 *     and gives the same result however the input is split.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmtp/lmtp-proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_text(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n > max)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 32 || (unsigned char)s[i] > 126)
			abort();
}

static void
check_reply(const char *r)
{
	if (r == NULL || strlen(r) < 10 || r[0] != '5' || r[3] != ' ' ||
	    r[4] != '5' || r[5] != '.' || r[7] != '.' || r[9] != ' ')
		abort();
}

static void
decode(const uint8_t *data, size_t size, size_t split, struct buf **out,
       size_t *used, bool *done)
{
	struct lmtp_data *d = calloc(1, sizeof(*d));
	size_t u1, u2 = 0;

	lmtp_data_init(d, 512);
	u1 = lmtp_data_feed(d, data, split);
	if (u1 > split)
		abort();
	if (!d->done) {
		u2 = lmtp_data_feed(d, data + split, size - split);
		if (u2 > size - split)
			abort();
	}
	*used = u1 + u2;
	*done = d->done;
	if (buf_len(d->msg) > 512)
		abort();
	for (size_t i = 0; i < buf_len(d->msg); i++)
		if (buf_data(d->msg)[i] == '\n' &&
		    (i == 0 || buf_data(d->msg)[i - 1] != '\r'))
			abort();
	*out = buf_new(1024);
	if (!d->too_big && !d->line_too_long)
		(void)buf_append(*out, buf_data(d->msg), buf_len(d->msg));
	lmtp_data_free(d);
	free(d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	struct buf *a, *b;
	size_t ua, ub;
	bool da, db;

	while (p < end) {
		const uint8_t *lf = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((lf != NULL ? lf : end) - p);
		struct lmtp_command c;
		const char *reply = NULL;

		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (lmtp_parse((const char *)p, len, &c, &reply) == 0) {
			check_text(c.path, LMTP_PATH_MAX);
			check_text(c.local, LMTP_PATH_MAX);
		} else {
			check_reply(reply);
		}
		p = lf != NULL ? lf + 1 : end;
	}
	decode(data, size, size, &a, &ua, &da);
	decode(data, size, size > 0 ? data[0] % (size + 1) : 0, &b, &ub, &db);
	if (ua != ub || da != db || buf_len(a) != buf_len(b) ||
	    memcmp(buf_data(a), buf_data(b), buf_len(a)) != 0)
		abort();
	buf_free(&a);
	buf_free(&b);
	return 0;
}
