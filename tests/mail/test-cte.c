/* Tests for lib/mail/cte.c: RFC 2045 §6.7 quoted-printable and §6.8
 * base64 as tolerant streams, and the decoded sizes of RFC 3516. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/base64.h"
#include "mail/cte.h"

static const struct {
	const char *name;
	enum mail_cte cte;
	const char *in, *want;
	size_t want_len;    /* 0: strlen(want) */
} cases[] = {
	{ "b64 plain", MAIL_CTE_BASE64, "Zm9vYmFy", "foobar", 0 },
	{ "b64 line breaks", MAIL_CTE_BASE64, "Zm9v\r\nYmFy\r\n", "foobar", 0 },
	{ "b64 padding", MAIL_CTE_BASE64, "Zm9vYg==", "foob", 0 },
	{ "b64 one pad", MAIL_CTE_BASE64, "Zm9vYmE=", "fooba", 0 },
	{ "b64 missing padding", MAIL_CTE_BASE64, "Zm9vYg", "foob", 0 },
	{ "b64 garbage ignored (§6.8)", MAIL_CTE_BASE64, "Zm9v!!*YmFy\x80",
	  "foobar", 0 },
	{ "b64 lone char dropped", MAIL_CTE_BASE64, "Zm9vY", "foo", 0 },
	{ "b64 concatenated", MAIL_CTE_BASE64, "Zg==Zm8=", "ffo", 0 },
	{ "b64 junk after pad", MAIL_CTE_BASE64, "Zg===\r\n", "f", 0 },
	{ "b64 NULs", MAIL_CTE_BASE64, "AAEA", "\0\1\0", 3 },
	{ "b64 empty", MAIL_CTE_BASE64, "", "", 0 },
	{ "qp plain", MAIL_CTE_QP, "abc", "abc", 0 },
	{ "qp escape", MAIL_CTE_QP, "a=3Db=C3=A9", "a=b\xc3\xa9", 0 },
	{ "qp lowercase hex", MAIL_CTE_QP, "=c3=a9", "\xc3\xa9", 0 },
	{ "qp soft break", MAIL_CTE_QP, "long=\r\nline", "longline", 0 },
	{ "qp soft break bare LF", MAIL_CTE_QP, "long=\nline", "longline", 0 },
	{ "qp soft break trailing wsp", MAIL_CTE_QP, "long= \t\r\nline",
	  "longline", 0 },
	{ "qp hard break", MAIL_CTE_QP, "a\r\nb", "a\r\nb", 0 },
	{ "qp trailing wsp deleted (rule 3)", MAIL_CTE_QP, "a  \t\r\nb \r\n",
	  "a\r\nb\r\n", 0 },
	{ "qp trailing wsp before bare LF", MAIL_CTE_QP, "a \t\nb", "a\nb", 0 },
	{ "qp trailing wsp at end", MAIL_CTE_QP, "a  ", "a", 0 },
	{ "qp inner wsp kept", MAIL_CTE_QP, "a  b", "a  b", 0 },
	{ "qp encoded trailing wsp kept", MAIL_CTE_QP, "a=20\r\n", "a \r\n", 0 },
	{ "qp bad escape literal", MAIL_CTE_QP, "a=XYb", "a=XYb", 0 },
	{ "qp half escape literal", MAIL_CTE_QP, "a=4G", "a=4G", 0 },
	{ "qp = at end", MAIL_CTE_QP, "a=", "a", 0 },
	{ "qp =X at end", MAIL_CTE_QP, "a=4", "a=4", 0 },
	{ "qp = then text after wsp", MAIL_CTE_QP, "a= b", "a= b", 0 },
	{ "qp lone CR kept", MAIL_CTE_QP, "a\rb", "a\rb", 0 },
	{ "qp NUL", MAIL_CTE_QP, "=00", "\0", 1 },
	{ "7bit passthrough", MAIL_CTE_7BIT, "a=3D\r\n", "a=3D\r\n", 0 },
	{ "binary passthrough", MAIL_CTE_BINARY, "\xff=", "\xff=", 0 },
};

static void
check(size_t i, size_t chunk)
{
	struct mail_decoder d;
	struct buf *out = buf_new(1 << 20);
	const char *in = cases[i].in;
	size_t len = strlen(in), wl = cases[i].want_len ? cases[i].want_len :
		     strlen(cases[i].want);

	cr_assert_eq(mail_decoder_init(&d, cases[i].cte), 0);
	for (size_t o = 0; o < len; o += chunk) {
		size_t n = len - o < chunk ? len - o : chunk;

		cr_assert_eq(mail_decoder_push(&d, in + o, n, out), 0);
	}
	cr_assert_eq(mail_decoder_finish(&d, out), 0);
	cr_assert_eq(buf_len(out), wl, "[%s] chunk %zu: length got %zu (\"%s\"), "
		     "want %zu", cases[i].name, chunk, buf_len(out),
		     buf_str(out), wl);
	cr_assert_eq(memcmp(buf_data(out), cases[i].want, wl), 0,
		     "[%s] chunk %zu: got \"%s\", want \"%s\"", cases[i].name,
		     chunk, buf_str(out), cases[i].want);
	cr_assert_eq(d.out_total, wl);
	cr_assert_eq(mail_decoded_size(cases[i].cte, in, len), (int64_t)wl,
		     "[%s] decoded size", cases[i].name);
	buf_free(&out);
}

/* Every case whole and fed one byte at a time: the state carries over
 * chunk boundaries. */
Test(cte, table_whole_and_bytewise)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		check(i, 1 << 20);
		check(i, 1);
		check(i, 3);
	}
}

Test(cte, names)
{
	cr_assert_eq(mail_cte_from_name(NULL), MAIL_CTE_7BIT);
	cr_assert_eq(mail_cte_from_name("BASE64"), MAIL_CTE_BASE64);
	cr_assert_eq(mail_cte_from_name("Quoted-Printable"), MAIL_CTE_QP);
	cr_assert_eq(mail_cte_from_name("8bit"), MAIL_CTE_8BIT);
	cr_assert_eq(mail_cte_from_name("x-uuencode"), MAIL_CTE_UNKNOWN);
	cr_assert_str_eq(mail_cte_name(MAIL_CTE_QP), "quoted-printable");
	cr_assert_null(mail_cte_name(MAIL_CTE_UNKNOWN));
}

/* RFC 3516 §4.3: an unknown encoding cannot be decoded. */
Test(cte, unknown_not_decodable)
{
	struct mail_decoder d;

	cr_assert_eq(mail_decoder_init(&d, MAIL_CTE_UNKNOWN), -1);
	cr_assert_eq(mail_decoder_push(&d, "x", 1, NULL), -1);
	cr_assert_eq(mail_decoded_size(MAIL_CTE_UNKNOWN, "x", 1), -1);
}

/* A hostile run of spaces is not held without bound. */
Test(cte, qp_long_whitespace_bounded)
{
	size_t n = 100000;
	char *in = malloc(n + 1);
	struct mail_decoder d;
	struct buf *out = buf_new(1 << 20);

	memset(in, ' ', n);
	in[n] = 'x';
	mail_decoder_init(&d, MAIL_CTE_QP);
	cr_assert_eq(mail_decoder_push(&d, in, n + 1, out), 0);
	cr_assert_eq(mail_decoder_finish(&d, out), 0);
	cr_assert_eq(buf_len(out), n + 1);
	free(in);
	buf_free(&out);
}

Test(cte, output_full_reported)
{
	struct mail_decoder d;
	struct buf *out = buf_new(2);

	mail_decoder_init(&d, MAIL_CTE_BASE64);
	cr_assert_eq(mail_decoder_push(&d, "Zm9vYmFy", 8, out), -1);
	buf_free(&out);
}

Test(cte, base64_large_roundtrip)
{
	/* 64 kB of every byte value, encoded by lib/core and wrapped at 76. */
	size_t n = 65536;
	uint8_t *plain = malloc(n);
	char *enc = malloc(n * 2), *wrapped = malloc(n * 2);
	size_t el, wl = 0;
	struct mail_decoder d;
	struct buf *out = buf_new(1 << 20);

	for (size_t i = 0; i < n; i++)
		plain[i] = (uint8_t)(i * 7);
	base64_encode(enc, plain, n);
	el = strlen(enc);
	for (size_t i = 0; i < el; i += 76) {
		size_t k = el - i < 76 ? el - i : 76;

		memcpy(wrapped + wl, enc + i, k);
		wl += k;
		memcpy(wrapped + wl, "\r\n", 2);
		wl += 2;
	}
	mail_decoder_init(&d, MAIL_CTE_BASE64);
	for (size_t o = 0; o < wl; o += 1000)
		cr_assert_eq(mail_decoder_push(&d, wrapped + o,
					       wl - o < 1000 ? wl - o : 1000,
					       out), 0);
	mail_decoder_finish(&d, out);
	cr_assert_eq(buf_len(out), n);
	cr_assert_eq(memcmp(buf_data(out), plain, n), 0);
	cr_assert(!d.broken);
	free(plain);
	free(enc);
	free(wrapped);
	buf_free(&out);
}
