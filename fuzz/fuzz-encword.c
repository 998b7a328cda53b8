/*
 * libFuzzer harness for lib/mail/encword.c, rfc2231.c, charset.c and
 * casemap.c. The first byte picks the test, the rest is the input:
 *   0: RFC 2047 decode of a header value;
 *   1: charset conversion: byte 2 picks a charset, byte 3 a chunk size;
 *      the streaming converter fed in chunks must give exactly the
 *      one-shot result (for the stateful UTF-7 and ISO-2022-JP only on
 *      well-formed input: on garbage glibc's decoder state makes the
 *      number of U+FFFD depend on where the chunks end);
 *   2: i;unicode-casemap, twice (deterministic);
 *   3: RFC 2231 value decode.
 * Every output must be valid UTF-8 and at most 16 bytes per input byte
 * (abort() otherwise).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "mail/casemap.h"
#include "mail/charset.h"
#include "mail/encword.h"
#include "mail/rfc2231.h"
#include "mail/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond)
{
	if (!cond)
		abort();
}

static const char *const charsets[] = {
	"utf-8", "x-unknown", "us-ascii", "iso-8859-1", "windows-1252",
	"iso-8859-2", "koi8-r", "shift_jis", "euc-jp", "iso-2022-jp",
	"gb2312", "gb18030", "big5", "ks_c_5601-1987", "utf-7", "utf-16",
	"windows-874", "iso-8859-8-i",
};

static void
check_utf8(const struct buf *b, size_t in_len)
{
	check(mail_utf8_valid(buf_data(b), buf_len(b)));
	check(buf_len(b) <= 16 * in_len + 64);
}

static void
fuzz_charset(const uint8_t *p, size_t n)
{
	const char *cs;
	size_t chunk;
	struct buf *one, *str;
	struct mail_charset_conv *c;

	if (n < 2)
		return;
	cs = charsets[p[0] % (sizeof(charsets) / sizeof(charsets[0]))];
	chunk = p[1] % 7 + 1;
	p += 2, n -= 2;
	one = buf_new(16 * n + 64);
	str = buf_new(16 * n + 64);
	check(mail_charset_to_utf8(cs, p, n, one) == 0);
	c = mail_charset_conv_new(cs);
	check(c != NULL);
	for (size_t i = 0; i < n; i += chunk)
		check(mail_charset_conv_feed(c, p + i,
					     n - i < chunk ? n - i : chunk,
					     str) == 0);
	check(mail_charset_conv_finish(c, str) == 0);
	mail_charset_conv_free(&c);
	check_utf8(one, n);
	check_utf8(str, n);
	bool stateful = strcmp(cs, "utf-7") == 0 ||
			strcmp(cs, "iso-2022-jp") == 0;
	if (!stateful || memmem(buf_data(one), buf_len(one),
				MAIL_UTF8_REPLACEMENT, 3) == NULL)
		check(buf_len(one) == buf_len(str) &&
		      memcmp(buf_data(one), buf_data(str), buf_len(one)) == 0);
	buf_free(&one);
	buf_free(&str);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf *a, *b;

	if (size < 1)
		return 0;
	a = buf_new(16 * size + 64);
	b = buf_new(16 * size + 64);
	switch (data[0] & 3) {
	case 0:
		check(mail_encword_decode(data + 1, size - 1, a) == 0);
		check_utf8(a, size - 1);
		break;
	case 1:
		fuzz_charset(data + 1, size - 1);
		break;
	case 2:
		check(mail_casemap(data + 1, size - 1, a) == 0);
		check(mail_casemap(data + 1, size - 1, b) == 0);
		check_utf8(a, size - 1);
		check(buf_len(a) == buf_len(b) &&
		      memcmp(buf_data(a), buf_data(b), buf_len(a)) == 0);
		break;
	case 3:
		check(mail_rfc2231_decode((const char *)data + 1, size - 1,
					  a) == 0);
		check_utf8(a, size - 1);
		break;
	}
	buf_free(&a);
	buf_free(&b);
	return 0;
}
