/* Tests for lib/mail/textnorm.c: a message's normalized text segments. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "mail/textnorm.h"
#include "mail/utf8.h"

/* The collected form with each NUL shown as '|'. */
static char *
norm(const char *msg, size_t len, unsigned int want, size_t max,
     bool *truncated)
{
	struct mail_textnorm_src src = { .fd = -1, .data =
		(const uint8_t *)msg, .size = len };
	struct buf *out = buf_new(1u << 24);
	bool tr = false;
	char *s;

	cr_assert_eq(mail_textnorm_collect(&src, NULL, want, max, out, &tr),
		     0);
	cr_assert(mail_utf8_valid(buf_data(out), buf_len(out)));
	s = malloc(buf_len(out) + 1);
	memcpy(s, buf_data(out), buf_len(out) + 1);
	for (size_t i = 0; i < buf_len(out); i++) {
		if (s[i] == '\0')
			s[i] = '|';
	}
	buf_free(&out);
	if (truncated != NULL)
		*truncated = tr;
	return s;
}

struct row {
	const char *name;
	const char *msg;
	unsigned int want;
	const char *out;
};

#define H MAIL_TEXTNORM_HEADER
#define P MAIL_TEXTNORM_PART_HEADER
#define B MAIL_TEXTNORM_BODY
#define MP "Content-Type: multipart/mixed; boundary=b\r\n\r\n"

static const struct row rows[] = {
	{ "plain", "Subject: Hello\r\nX-A: one\r\n two\r\n\r\nbody text\r\n",
	  MAIL_TEXTNORM_ALL, "SUBJECT: HELLO|X-A: ONE TWO|BODY TEXT\r\n|" },
	{ "bare LF", "Subject: a\n\nb\n", MAIL_TEXTNORM_ALL,
	  "SUBJECT: A|B\n|" },
	{ "base64", "Content-Transfer-Encoding: base64\r\n\r\n"
	  "aGVsbG8g\r\nd29y bGQ=\r\n", B, "HELLO WORLD|" },
	/* The QP soft line break joins a word (RFC 2045 §6.7 rule 5). */
	{ "qp", "Content-Type: text/plain; charset=utf-8\r\n"
	  "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	  "foo=\r\nbar =C3=A9=\r\n", B, "FOOBAR E\xcc\x81|" },
	{ "latin1", "Content-Type: text/plain; charset=iso-8859-1\r\n\r\n"
	  "Stra\xdf" "e \xe9", B, "STRA\xc3\x9f" "E E\xcc\x81|" },
	{ "koi8-r", "Content-Type: text/plain; charset=koi8-r\r\n\r\n"
	  "\xd0\xd2\xc9", B, "\xd0\x9f\xd0\xa0\xd0\x98|" },
	{ "windows-1252 quotes", "Content-Type: text/plain; "
	  "charset=windows-1252\r\n\r\n\x93hi\x94", B,
	  "\xe2\x80\x9cHI\xe2\x80\x9d|" },
	{ "unknown charset is undeclared 8-bit", "Content-Type: text/plain; "
	  "charset=x-nonesuch\r\n\r\ncaf\xe9", B, "CAFE\xcc\x81|" },
	{ "unknown cte read as 8bit", "Content-Transfer-Encoding: x-foo\r\n"
	  "\r\nabc", B, "ABC|" },
	{ "encoded words", "Subject: =?utf-8?q?caf=C3=A9?= "
	  "=?iso-8859-1?b?5Q==?= end\r\n\r\n", H,
	  "SUBJECT: CAFE\xcc\x81" "A\xcc\x8a END|" },
	{ "encoded word folded", "Subject: =?utf-8?q?a?=\r\n =?utf-8?q?b?="
	  "\r\n\r\n", H, "SUBJECT: AB|" },
	{ "addresses", "From: \"Doe, John\" (c) <john@example.com>\r\n"
	  "To: =?utf-8?q?J=C3=BCrgen?= <j@x.de>, plain@y, "
	  "list: a@b, c@d;\r\n\r\n", H,
	  "FROM: DOE, JOHN <JOHN@EXAMPLE.COM>|"
	  "TO: JU\xcc\x88RGEN <J@X.DE>, PLAIN@Y, LIST: A@B, C@D;|" },
	{ "html", "Content-Type: text/html; charset=utf-8\r\n\r\n"
	  "<html><head><style>p{x}</style></head><body><p>Caf&eacute; "
	  "&amp;\r\n b<b>a</b>r</p>&#x41;&lt;&#65;&bogus;</body></html>", B,
	  "CAFE\xcc\x81 & BAR\nA<A&BOGUS;\n|" },
	{ "html comment and script", "Content-Type: text/html\r\n\r\n"
	  "x<!-- <p>hidden</p> -->y<script>if (a<b) s='</p>'</script>z"
	  "<SCRIPT>no</SCRIPT >w", B, "XYZW|" },
	{ "html not a tag", "Content-Type: text/html\r\n\r\n1 < 2 &", B,
	  "1 < 2 &|" },
	{ "multipart: attachment skipped, no segment spans parts",
	  MP "--b\r\nContent-Type: text/plain\r\n\r\none\r\n--b\r\n"
	  "Content-Type: application/octet-stream\r\n"
	  "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--b\r\n"
	  "Content-Type: image/png\r\n\r\nPNGDATA\r\n--b\r\n"
	  "Content-Type: text/plain\r\n\r\ntwo\r\n--b--\r\n", B,
	  "ONE|TWO|" },
	{ "multipart part headers",
	  MP "--b\r\nContent-Type: text/plain\r\n\r\none\r\n--b\r\n"
	  "Content-Type: application/pdf; name=\"=?utf-8?q?r=C3=A9sum"
	  "=C3=A9.pdf?=\"\r\n\r\nPDF\r\n--b--\r\n", P,
	  "CONTENT-TYPE: TEXT/PLAIN|CONTENT-TYPE: APPLICATION/PDF; "
	  "NAME=\"RE\xcc\x81SUME\xcc\x81.PDF\"|" },
	{ "top header only", MP "--b\r\nSubject: no\r\n\r\nx\r\n--b--\r\n",
	  H, "CONTENT-TYPE: MULTIPART/MIXED; BOUNDARY=B|" },
	{ "nested rfc822", "Subject: outer\r\nContent-Type: message/rfc822"
	  "\r\n\r\nSubject: inner\r\nContent-Transfer-Encoding: base64\r\n"
	  "\r\naW5uZXIgYm9keQ==\r\n", MAIL_TEXTNORM_ALL,
	  "SUBJECT: OUTER|CONTENT-TYPE: MESSAGE/RFC822|SUBJECT: INNER|"
	  "CONTENT-TRANSFER-ENCODING: BASE64|INNER BODY|" },
	{ "NUL becomes space", "\r\na\0b", B, "A B|" },
	{ "base64 NUL", "Content-Transfer-Encoding: base64\r\n\r\nAA==", B,
	  " |" },
	{ "empty body", "Subject: x\r\n\r\n", B, "|" },
	{ "invalid utf-8", "Content-Type: text/plain; charset=utf-8\r\n\r\n"
	  "a\xff", B, "A\xef\xbf\xbd|" },
};

Test(textnorm, table)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		/* msg lengths: some rows hold a NUL */
		size_t len = strlen(rows[i].msg);
		char *got;

		if (strcmp(rows[i].name, "NUL becomes space") == 0)
			len = 5;
		got = norm(rows[i].msg, len, rows[i].want, MAIL_TEXTNORM_MAX,
			   NULL);
		cr_expect_str_eq(got, rows[i].out, "%s", rows[i].name);
		free(got);
	}
}

/* A body bigger than the read size: a QP soft break and a multibyte
 * character sit on the 64 kB and 4 kB boundaries. */
Test(textnorm, chunk_boundaries)
{
	const char *hdr = "Content-Type: text/plain; charset=utf-8\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n\r\n";
	struct buf *m = buf_new(1 << 20);
	char *got;
	size_t hl = strlen(hdr);

	buf_append_str(m, hdr);
	for (size_t k = 0; k < 3; k++) {
		while ((buf_len(m) - hl) % 65536 != 65534)
			buf_append_byte(m, 'x');
		buf_append_str(m, "sp=\r\nlit=C3=\r\n=A9");
	}
	got = norm(buf_str(m), buf_len(m), B, MAIL_TEXTNORM_MAX, NULL);
	cr_expect(strstr(got, "XSPLITE\xcc\x81X") != NULL);
	cr_expect_null(strstr(got, "\xef\xbf\xbd"));
	free(got);
	buf_free(&m);
}

/* A file source gives what memory gives. */
Test(textnorm, fd_source)
{
	const struct row *r = &rows[15];
	char path[] = "/tmp/test-textnorm-XXXXXX";
	int fd = mkstemp(path);
	struct mail_textnorm_src src = { .fd = fd, .offset = 3 };
	struct buf *out = buf_new(1 << 16);
	bool tr;
	size_t len = strlen(r->msg);

	cr_assert(fd >= 0);
	unlink(path);
	cr_assert_eq(write(fd, "xyz", 3), 3);
	cr_assert_eq(write(fd, r->msg, len), (ssize_t)len);
	src.size = len;
	cr_assert_eq(mail_textnorm_collect(&src, NULL, B, 1000, out, &tr), 0);
	cr_expect(!tr);
	cr_expect_eq(buf_len(out), 8);
	cr_expect(memcmp(buf_data(out), "ONE\0TWO\0", 8) == 0);
	/* A file shorter than the store says is an error, not a crash. */
	src.size = len + 100;
	cr_expect_eq(mail_textnorm_collect(&src, NULL, B, 1000, out, &tr),
		     -1);
	close(fd);
	buf_free(&out);
}

Test(textnorm, limit)
{
	bool tr = false;
	char *got;

#define NORM(m, want, max, tr) norm(m, strlen(m), want, max, tr)
	got = NORM("\r\n0123456789abcdef", B, 10, &tr);
	cr_expect(tr);
	cr_expect_str_eq(got, "012345678|");
	free(got);
	/* é is "E" U+0301 (3 bytes): the cut is at a character boundary */
	got = NORM("Content-Type: text/plain; charset=utf-8\r\n\r\n"
		   "\xc3\xa9\xc3\xa9\xc3\xa9", B, 6, &tr);
	cr_expect(tr);
	cr_expect_str_eq(got, "E\xcc\x81" "E|");
	free(got);
	/* Later segments are left out, not mixed in. */
	got = NORM("Subject: abc\r\nTo: x@y\r\n\r\nbody", H, 14, &tr);
	cr_expect(tr);
	cr_expect_str_eq(got, "SUBJECT: ABC|");
	free(got);
	got = NORM("Subject: abc\r\n\r\n", H, 13, &tr);
	cr_expect(!tr);
	free(got);
}

/* 1,000 nested multiparts: bounded by the MIME depth limit (the text at
 * the bottom is inside an opaque part), no crash, no deep recursion. */
Test(textnorm, deep_nesting)
{
	struct buf *m = buf_new(1 << 20);
	char *got;

	for (int i = 0; i < 1000; i++)
		buf_printf(m, "Content-Type: multipart/mixed; boundary=b%d"
			   "\r\n\r\n--b%d\r\n", i, i);
	buf_append_str(m, "Content-Type: text/plain\r\n\r\ndeep\r\n");
	got = norm(buf_str(m), buf_len(m), B, MAIL_TEXTNORM_MAX, NULL);
	cr_expect_null(strstr(got, "DEEP"));
	free(got);
	got = norm(buf_str(m), buf_len(m), MAIL_TEXTNORM_ALL,
		   MAIL_TEXTNORM_MAX, NULL);
	cr_expect(strlen(got) < 100 * 80);
	free(got);
	buf_free(&m);
}

struct seg_check {
	unsigned int starts, ends, datas;
	bool open, bad;
};

static int
check_cb(void *ctx, enum mail_textnorm_event ev,
	 const struct mail_textnorm_seg *seg, const uint8_t *data, size_t len)
{
	struct seg_check *c = ctx;

	(void)seg;
	if (ev == MAIL_TEXTNORM_START) {
		c->bad |= c->open;
		c->open = true;
		c->starts++;
		/* skip every other segment */
		return c->starts % 2 == 0 ? MAIL_TEXTNORM_SKIP :
			MAIL_TEXTNORM_CONTINUE;
	}
	if (ev == MAIL_TEXTNORM_END) {
		c->bad |= !c->open;
		c->open = false;
		c->ends++;
		return MAIL_TEXTNORM_CONTINUE;
	}
	c->bad |= !c->open || len == 0 || memchr(data, 0, len) != NULL ||
		c->starts % 2 == 0;
	c->datas++;
	return MAIL_TEXTNORM_CONTINUE;
}

Test(textnorm, callback_protocol)
{
	const struct row *r = &rows[15];
	struct mail_textnorm_src src = { .fd = -1, .data =
		(const uint8_t *)r->msg, .size = strlen(r->msg) };
	struct seg_check c = { 0 };

	cr_assert_eq(mail_textnorm_run(&src, NULL, MAIL_TEXTNORM_ALL,
				       check_cb, &c), 0);
	cr_expect(!c.bad);
	cr_expect(!c.open);
	cr_expect_eq(c.starts, c.ends);
	cr_expect_gt(c.starts, 5);
}

struct html_row {
	const char *in, *out;
};

Test(textnorm, html_split_anywhere)
{
	static const struct html_row hr[] = {
		{ "a&amp;b&#233;<br/>c", "a&b\xc3\xa9\nc" },
		{ "<p class=\"x>y\">t</p>", "t\n" },
		{ "&#0;&#x110000;&#xD800;", "\xef\xbf\xbd\xef\xbf\xbd"
		  "\xef\xbf\xbd" },
		{ "a&nbsp; &nbsp;b", "a b" },
		{ "<style>x</style >y", "y" },
		{ "&verylongentitynamethatgoeson;", "&verylongentityna"
		  "methatgoeson;" },
	};

	for (size_t i = 0; i < sizeof(hr) / sizeof(hr[0]); i++) {
		size_t len = strlen(hr[i].in);

		/* every split point gives the same text */
		for (size_t cut = 0; cut <= len; cut++) {
			struct mail_html2text h;
			struct buf *out = buf_new(256);

			mail_html2text_init(&h);
			mail_html2text_push(&h, (const uint8_t *)hr[i].in,
					    cut, out);
			mail_html2text_push(&h, (const uint8_t *)hr[i].in +
					    cut, len - cut, out);
			mail_html2text_finish(&h, out);
			cr_expect_str_eq(buf_str(out), hr[i].out,
					 "%zu cut %zu", i, cut);
			buf_free(&out);
		}
	}
}

/* Throughput, printed for doc/design.md (not asserted: shared CPU). */
Test(textnorm, throughput)
{
	struct buf *m = buf_new(16u << 20);
	struct timespec a, b;
	double s;
	char *got;

	buf_append_str(m, "Content-Type: text/plain; charset=iso-8859-1\r\n"
		       "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	while (buf_len(m) < (8u << 20))
		buf_append_str(m, "The quick brown fox jumps over the lazy "
			       "dog =E9t=E9 caf=E9, na=EFve r=E9sum=E9.\r\n");
	clock_gettime(CLOCK_MONOTONIC, &a);
	got = norm(buf_str(m), buf_len(m), B, 64u << 20, NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) /
		1e9;
	cr_log_info("textnorm: %.1f MB/s (QP latin-1 text)",
		    (double)buf_len(m) / 1e6 / s);
	cr_expect_gt(strlen(got), 1u << 20);
	free(got);
	buf_free(&m);
}

/* The header alone (SEARCH's header keys) gives the same segments
 * without a MIME tree as with one. */
Test(textnorm, header_only)
{
	const char *m = rows[16].msg;
	struct mail_textnorm_src src = { .fd = -1, .data =
		(const uint8_t *)m, .size = strlen(m) };
	struct mail_tree *t = mail_mime_parse(m, strlen(m));
	struct buf *a = buf_new(4096), *b = buf_new(4096);
	bool tr;

	cr_assert_eq(mail_textnorm_collect(&src, NULL, H, 4096, a, &tr), 0);
	cr_assert_eq(mail_textnorm_collect(&src, t, H, 4096, b, &tr), 0);
	cr_expect_eq(buf_len(a), buf_len(b));
	cr_expect(memcmp(buf_data(a), buf_data(b), buf_len(a)) == 0);
	cr_expect_gt(buf_len(a), 10);
	mail_tree_free(&t);
	buf_free(&a);
	buf_free(&b);
}
