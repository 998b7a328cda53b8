/* Tests for lib/mail/bodystructure.c: RFC 9051 §7.5.2 BODY and
 * BODYSTRUCTURE from the MIME tree, checked against hand-written lists
 * and checked to be well-formed lists. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/pool.h"
#include "mail/bodystructure.h"

/* A trivial envelope: the encapsulated message's header size, so the
 * test sees which message it was given. */
static int
fake_envelope(void *ctx, const struct mail_tree *t,
	      const struct mail_part *msg, struct buf *out)
{
	int *calls = ctx;

	(void)t;
	(*calls)++;
	return buf_printf(out, "(NIL %llu)", (unsigned long long)msg->hdr_size);
}

static const struct {
	const char *name, *msg, *body, *bodystructure;
} cases[] = {
	{ "plain",
	  "Subject: x\r\n\r\nhello\r\n",
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 7 1)",
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 7 1 "
	  "NIL NIL NIL NIL)" },
	{ "multipart with extension data",
	  "Content-Type: multipart/mixed; boundary=\"b b\"\r\n"
	  "Content-Language: en\r\n\r\n"
	  "--b b\r\nContent-Type: text/plain; charset=UTF-8\r\n"
	  "Content-Transfer-Encoding: quoted-printable\r\n\r\n=C3=A9\r\n"
	  "--b b\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\n"
	  "Content-Transfer-Encoding: base64\r\nContent-ID: <c@x>\r\n"
	  "Content-Description: the pdf\r\nContent-MD5: abc=\r\n"
	  "Content-Disposition: attachment; filename*=utf-8''%C3%A9.pdf\r\n"
	  "Content-Location: http://x/a.pdf\r\n\r\nJVBERg==\r\n--b b--\r\n",
	  "((\"text\" \"plain\" (\"charset\" \"UTF-8\") NIL NIL "
	  "\"quoted-printable\" 6 1)(\"application\" \"pdf\" (\"name\" \"a.pdf\") "
	  "\"<c@x>\" \"the pdf\" \"base64\" 8) \"mixed\")",
	  "((\"text\" \"plain\" (\"charset\" \"UTF-8\") NIL NIL "
	  "\"quoted-printable\" 6 1 NIL NIL NIL NIL)(\"application\" \"pdf\" "
	  "(\"name\" \"a.pdf\") \"<c@x>\" \"the pdf\" \"base64\" 8 \"abc=\" "
	  "(\"attachment\" (\"filename*\" \"utf-8''%C3%A9.pdf\")) NIL "
	  "\"http://x/a.pdf\") \"mixed\" (\"boundary\" \"b b\") NIL (\"en\") NIL)" },
	{ "message/rfc822",
	  "Content-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nx\r\n",
	  "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 18 (NIL 15) (\"text\" "
	  "\"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1) 3)",
	  "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 18 (NIL 15) (\"text\" "
	  "\"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1 NIL NIL NIL "
	  "NIL) 3 NIL NIL NIL NIL)" },
	/* 1*body: a multipart without parts gets an empty text/plain */
	{ "multipart without parts",
	  "Content-Type: multipart/alternative; boundary=zz\r\n\r\nnothing\r\n",
	  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) "
	  "\"alternative\")",
	  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) "
	  "\"alternative\" (\"boundary\" \"zz\") NIL NIL NIL)" },
	{ "8-bit parameter goes out as a literal",
	  "Content-Type: image/png; name=\xc3\xa9.png\r\n\r\nx",
	  "(\"image\" \"png\" (\"name\" {6}\r\n\xc3\xa9.png) NIL NIL \"7bit\" 1)",
	  "(\"image\" \"png\" (\"name\" {6}\r\n\xc3\xa9.png) NIL NIL \"7bit\" 1 "
	  "NIL NIL NIL NIL)" },
};

/* Checks the output is one well-formed IMAP response list: balanced
 * parentheses, quoted strings without CR, LF or 8-bit bytes, exact
 * literals, atoms only NIL or numbers, one SP between items except
 * between two bodies of a multipart ("1*body", no SP). lib/imap's parser
 * reads commands, which have no such lists. */
static void
assert_wellformed(const char *what, const struct buf *b)
{
	const char *s = buf_str(b), *end = s + buf_len(b);
	int depth = 0;
	bool need_sep = false;

	cr_assert_eq(*s, '(', "[%s] not a list", what);
	while (s < end) {
		if (need_sep) {
			if (*s == ')') {
				/* closes a list */
			} else if (*s == '(' && s[-1] == ')') {
				/* body after body */
			} else {
				cr_assert_eq(*s, ' ', "[%s] no SP at \"%s\"", what, s);
				s++;
			}
			need_sep = false;
		}
		if (*s == '(') {
			depth++;
			s++;
			continue;
		}
		if (*s == ')') {
			cr_assert_gt(depth, 0, "[%s]", what);
			depth--;
			s++;
			need_sep = depth > 0;
			if (depth == 0)
				cr_assert_eq(s, end, "[%s] junk after list", what);
			continue;
		}
		if (*s == '"') {
			for (s++; s < end && *s != '"'; s++) {
				if (*s == '\\')
					s++;
				cr_assert(*s != '\r' && *s != '\n' &&
					  (unsigned char)*s < 0x80, "[%s]", what);
			}
			cr_assert_lt(s, end, "[%s] unterminated", what);
			s++;
		} else if (*s == '{') {
			char *e;
			unsigned long n = strtoul(s + 1, &e, 10);

			cr_assert(e[0] == '}' && e[1] == '\r' && e[2] == '\n',
				  "[%s] bad literal", what);
			s = e + 3 + n;
			cr_assert_leq(s, end, "[%s]", what);
		} else if (strncmp(s, "NIL", 3) == 0) {
			s += 3;
		} else {
			cr_assert(*s >= '0' && *s <= '9', "[%s] junk at \"%s\"",
				  what, s);
			while (*s >= '0' && *s <= '9')
				s++;
		}
		need_sep = true;
	}
	cr_assert_eq(depth, 0, "[%s] unbalanced", what);
}

Test(bodystructure, table)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mail_tree *t = mail_mime_parse(cases[i].msg,
						      strlen(cases[i].msg));
		struct buf *b = buf_new(1 << 16);
		int calls = 0;

		cr_assert_eq(mail_bodystructure_write(b, t, false, fake_envelope,
						      &calls), 0);
		cr_assert_str_eq(buf_str(b), cases[i].body,
				 "[%s] BODY:\n got  %s\n want %s", cases[i].name,
				 buf_str(b), cases[i].body);
		assert_wellformed(cases[i].name, b);
		buf_reset(b);
		cr_assert_eq(mail_bodystructure_write(b, t, true, fake_envelope,
						      &calls), 0);
		cr_assert_str_eq(buf_str(b), cases[i].bodystructure,
				 "[%s] BODYSTRUCTURE:\n got  %s\n want %s",
				 cases[i].name, buf_str(b), cases[i].bodystructure);
		assert_wellformed(cases[i].name, b);
		buf_free(&b);
		mail_tree_free(&t);
	}
}

Test(bodystructure, no_envelope_writer)
{
	static const char msg[] = "Content-Type: message/rfc822\r\n\r\nA: 1\r\n\r\nx";
	struct mail_tree *t = mail_mime_parse(msg, strlen(msg));
	struct buf *b = buf_new(1 << 16);

	cr_assert_eq(mail_bodystructure_write(b, t, false, NULL, NULL), 0);
	cr_assert_str_eq(buf_str(b), "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" "
			 "9 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" "
			 "\"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 1) 3)");
	buf_free(&b);
	mail_tree_free(&t);
}

static int
failing_envelope(void *ctx, const struct mail_tree *t,
		 const struct mail_part *msg, struct buf *out)
{
	(void)ctx, (void)t, (void)msg, (void)out;
	return -1;
}

Test(bodystructure, errors_leave_buffer_unchanged)
{
	static const char msg[] = "Content-Type: message/rfc822\r\n\r\nA: 1\r\n\r\nx";
	struct mail_tree *t = mail_mime_parse(msg, strlen(msg));
	struct buf *b = buf_new(1 << 16), *small = buf_new(10);

	buf_append_str(b, "keep");
	cr_assert_eq(mail_bodystructure_write(b, t, true, failing_envelope,
					      NULL), -1);
	cr_assert_str_eq(buf_str(b), "keep");
	cr_assert_eq(mail_bodystructure_write(small, t, true, fake_envelope,
					      &(int){ 0 }), -1);
	cr_assert_eq(buf_len(small), 0);
	buf_free(&b);
	buf_free(&small);
	mail_tree_free(&t);
}

/* The depth limit: 1,000 nested multiparts still give a well-formed
 * BODYSTRUCTURE, 100 levels deep, the last an opaque basic body. */
Test(bodystructure, deep_nesting)
{
	struct buf *m = buf_new(1 << 24), *b = buf_new(1 << 20);
	struct mail_tree *t;
	const char *p;
	int depth = 0, max = 0;

	for (int i = 0; i < 1000; i++)
		buf_printf(m, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n"
			   "--b%d\r\n", i, i);
	t = mail_mime_parse(buf_data(m), buf_len(m));
	cr_assert_eq(mail_bodystructure_write(b, t, true, fake_envelope,
					      &(int){ 0 }), 0);
	for (p = buf_str(b); *p != '\0'; p++) {
		if (*p == '(')
			depth++;
		if (*p == ')')
			depth--;
		if (depth > max)
			max = depth;
	}
	cr_assert_eq(depth, 0);
	cr_assert_geq(max, MAIL_MIME_MAX_DEPTH);
	cr_assert_not_null(strstr(buf_str(b), "(\"multipart\" \"mixed\" "
				  "(\"boundary\" \"b100\")"));
	buf_free(&m);
	buf_free(&b);
	mail_tree_free(&t);
}
