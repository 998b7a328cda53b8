/* Tests for lib/imap/writer.c: the representation chosen for each text
 * (RFC 9051 §4.1, §4.3, §9) and all-or-nothing appends. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/buf.h"
#include "imap/writer.h"

enum kind { STRING, ASTRING, NSTRING };

struct row {
	enum kind kind;
	const char *in;       /* NULL: nstring NIL */
	size_t len;
	const char *want;
	size_t want_len;
};

#define W(k, s, w) { k, s, sizeof(s) - 1, w, sizeof(w) - 1 }

static const struct row rows[] = {
	W(STRING, "abc", "\"abc\""),
	W(STRING, "", "\"\""),
	W(STRING, "a b(c)*%]", "\"a b(c)*%]\""),
	W(STRING, "a\"b\\c", "\"a\\\"b\\\\c\""),
	W(STRING, "\"", "\"\\\"\""),
	W(STRING, "a\r\nb", "{4}\r\na\r\nb"),
	W(STRING, "a\rb", "{3}\r\na\rb"),
	W(STRING, "a\nb", "{3}\r\na\nb"),
	W(STRING, "a\0b", "{3}\r\na\0b"),
	W(STRING, "\xc3\xbc", "{2}\r\n\xc3\xbc"),
	W(STRING, "tab\there", "\"tab\there\""),
	W(ASTRING, "INBOX", "INBOX"),
	W(ASTRING, "Sent.2024", "Sent.2024"),
	W(ASTRING, "NIL", "\"NIL\""),
	W(ASTRING, "nil", "\"nil\""),
	W(ASTRING, "NILS", "NILS"),
	W(ASTRING, "", "\"\""),
	W(ASTRING, "a b", "\"a b\""),
	W(ASTRING, "foo]", "\"foo]\""),
	W(ASTRING, "a*", "\"a*\""),
	W(ASTRING, "\\Seen", "\"\\\\Seen\""),
	W(ASTRING, "a{1}", "\"a{1}\""),
	W(ASTRING, "\xc3\xa4", "{2}\r\n\xc3\xa4"),
	W(NSTRING, "x", "\"x\""),
	W(NSTRING, "", "\"\""),
	{ NSTRING, NULL, 0, "NIL", 3 },
};

Test(writer, table)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct buf *b = buf_new(1024);
		int ret = -1;

		buf_append_str(b, "pre ");
		switch (r->kind) {
		case STRING:
			ret = imap_write_string(b, r->in, r->len);
			break;
		case ASTRING:
			ret = imap_write_astring(b, r->in, r->len);
			break;
		case NSTRING:
			ret = imap_write_nstring(b, r->in);
			break;
		}
		cr_assert_eq(ret, 0, "row %zu: returned %d", i, ret);
		cr_assert_eq(buf_len(b), 4 + r->want_len,
			     "row %zu: got \"%s\" (%zu bytes), want \"%s\"", i,
			     buf_str(b) + 4, buf_len(b) - 4, r->want);
		cr_assert_eq(memcmp(buf_data(b) + 4, r->want, r->want_len), 0,
			     "row %zu: got \"%s\", want \"%s\"", i,
			     buf_str(b) + 4, r->want);
		buf_free(&b);
	}
}

Test(writer, long_text_becomes_literal)
{
	char s[1100];
	struct buf *b = buf_new(4096);

	memset(s, 'a', sizeof(s));
	cr_assert(imap_can_quote(s, 1024));
	cr_assert_not(imap_can_quote(s, 1025));
	cr_assert_eq(imap_write_string(b, s, 1025), 0);
	cr_assert_eq(memcmp(buf_data(b), "{1025}\r\naaa", 11), 0,
		     "got \"%.12s\", want a literal", buf_str(b));
	cr_assert_eq(buf_len(b), 8 + 1025);
	buf_free(&b);
}

Test(writer, full_buffer_leaves_it_unchanged)
{
	static const char *const texts[] = {
		"abcdefghij", "a\"b\"c\"d\"e", "line\r\nbreak and more",
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		size_t len = strlen(texts[i]);

		/* Every maximum short of what the item needs. */
		for (size_t max = 2; max < 40; max++) {
			struct buf *b = buf_new(max);
			int r;

			buf_append_str(b, "x");
			r = imap_write_string(b, texts[i], len);
			if (r < 0) {
				cr_assert_eq(buf_len(b), 1,
					     "text %zu max %zu: failed write "
					     "left %zu bytes, want 1", i, max,
					     buf_len(b));
				cr_assert_str_eq(buf_str(b), "x");
			}
			buf_reset(b);
			buf_append_str(b, "x");
			r = imap_write_astring(b, texts[i], len);
			if (r < 0)
				cr_assert_eq(buf_len(b), 1);
			buf_free(&b);
		}
	}
	{
		struct buf *b = buf_new(2);

		cr_assert_eq(imap_write_nstring(b, NULL), -1);
		cr_assert_eq(buf_len(b), 0);
		buf_free(&b);
	}
}

Test(writer, predicates)
{
	cr_assert(imap_is_atom("INBOX", 5));
	cr_assert(imap_is_atom("a[b", 3));
	cr_assert(imap_is_atom("~x.y-z", 6));
	cr_assert_not(imap_is_atom("", 0));
	cr_assert_not(imap_is_atom("a b", 3));
	cr_assert_not(imap_is_atom("a]", 2));
	cr_assert_not(imap_is_atom("a%", 2));
	cr_assert_not(imap_is_atom("a*", 2));
	cr_assert_not(imap_is_atom("a\"", 2));
	cr_assert_not(imap_is_atom("a\\", 2));
	cr_assert_not(imap_is_atom("a(", 2));
	cr_assert_not(imap_is_atom("a)", 2));
	cr_assert_not(imap_is_atom("a{", 2));
	cr_assert_not(imap_is_atom("a\x7f", 2));
	cr_assert_not(imap_is_atom("a\x01", 2));
	cr_assert_not(imap_is_atom("\xc3\xa4", 2));
	cr_assert_not(imap_is_atom("a\0b", 3));

	cr_assert(imap_can_quote("", 0));
	cr_assert(imap_can_quote("a \"\\ b", 6));
	cr_assert_not(imap_can_quote("a\rb", 3));
	cr_assert_not(imap_can_quote("a\nb", 3));
	cr_assert_not(imap_can_quote("a\0b", 3));
	cr_assert_not(imap_can_quote("\x80", 1));
}

/* imap_list_valid: what the writer makes inside a list passes (each
 * row's text but the one with a NUL, which a cached list must not
 * hold), and every way out of the grammar fails. */
Test(writer, list_valid)
{
	static const struct {
		const char *s;
		size_t len;
		bool utf8, ok;
	} v[] = {
#define L(s, u, ok) { s, sizeof(s) - 1, u, ok }
		L("(NIL)", false, true),
		L("()", false, true),
		L("(\"a\" (\"b\" NIL) 12 {3}\r\na)b)", false, true),
		L("(\"\\\"\\\\\")", false, true),
		L("(\"caf\xc3\xa9\")", true, true),
		L("({5}\r\ncaf\xc3\xa9)", false, true),
		L("(\"caf\xc3\xa9\")", false, false),  /* 8-bit quoted */
		L("", false, false),
		L("NIL", false, false),                 /* not a list */
		L("(NIL", false, false),
		L("(NIL))", false, false),
		L("(NIL) ", false, false),
		L("(\"a)", false, false),
		L("(\"a\rb\")", false, false),
		L("(\"\\a\")", false, false),
		L("(NIL)\r\n(NIL)", false, false),
		L("(a\r\nb)", false, false),
		L("({3}\r\nab)", false, false),         /* count too big */
		L("({3}ab)", false, false),
		L("({}\r\n)", false, false),
		L("({99999999999}\r\n)", false, false),
		L("({1}\r\n\0)", false, false),         /* NUL in a literal */
		L("(a]b)", false, false),
		L("(~{1}\r\na)", false, false),         /* no literal8 */
#undef L
	};
	struct buf *b = buf_new(4096);

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		cr_expect_eq(imap_list_valid(v[i].s, v[i].len, v[i].utf8),
			     v[i].ok, "row %zu", i);
	buf_append_str(b, "(");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (rows[i].in != NULL && memchr(rows[i].in, '\0',
						 rows[i].len) != NULL)
			continue;
		buf_append_str(b, i > 0 ? " (" : "(");
		cr_assert_eq(rows[i].kind == STRING ?
			     imap_write_string(b, rows[i].in, rows[i].len) :
			     rows[i].kind == ASTRING ?
			     imap_write_astring(b, rows[i].in, rows[i].len) :
			     imap_write_nstring(b, rows[i].in), 0);
		buf_append_str(b, ")");
	}
	buf_append_str(b, ")");
	cr_expect(imap_list_valid(buf_data(b), buf_len(b), false), "%s",
		  buf_str(b));
	buf_free(&b);
}
