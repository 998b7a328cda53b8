/* Tests for lib/mail/section.c: RFC 9051 §6.4.5 section lookup, on the
 * RFC's own example structure. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "mail/header.h"
#include "mail/section.h"

/* The message of the RFC 9051 §6.4.5 example: every leaf's body names
 * its part number. */
static const char rfc_msg[] =
	"Subject: top\r\n"
	"Content-Type: multipart/mixed; boundary=A\r\n"
	"\r\n"
	"--A\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"body-1\r\n"
	"--A\r\n"
	"Content-Type: application/octet-stream\r\n"
	"\r\n"
	"body-2\r\n"
	"--A\r\n"
	"Content-Type: message/rfc822\r\n"
	"\r\n"
	"Subject: three\r\n"
	"Content-Type: multipart/mixed; boundary=B\r\n"
	"\r\n"
	"--B\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"body-3.1\r\n"
	"--B\r\n"
	"Content-Type: application/octet-stream\r\n"
	"\r\n"
	"body-3.2\r\n"
	"--B--\r\n"
	"--A\r\n"
	"Content-Type: multipart/mixed; boundary=C\r\n"
	"\r\n"
	"--C\r\n"
	"Content-Type: image/gif\r\n"
	"\r\n"
	"body-4.1\r\n"
	"--C\r\n"
	"Content-Type: message/rfc822\r\n"
	"\r\n"
	"Subject: four-two\r\n"
	"Content-Type: multipart/mixed; boundary=D\r\n"
	"\r\n"
	"--D\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"body-4.2.1\r\n"
	"--D\r\n"
	"Content-Type: multipart/alternative; boundary=E\r\n"
	"\r\n"
	"--E\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"body-4.2.2.1\r\n"
	"--E\r\n"
	"Content-Type: text/richtext\r\n"
	"\r\n"
	"body-4.2.2.2\r\n"
	"--E--\r\n"
	"--D--\r\n"
	"--C--\r\n"
	"--A--\r\n";

#define P(...) { __VA_ARGS__ }
static const struct {
	const char *name;
	uint32_t part[6];
	size_t n;
	enum mail_section_kind kind;
	/* want: NULL = nonexistent; a string = the exact bytes; a string
	 * starting with '^' = the bytes start with the rest. */
	const char *want;
} cases[] = {
	{ "1", P(1), 1, MAIL_SECTION_BODY, "body-1" },
	{ "2", P(2), 1, MAIL_SECTION_BODY, "body-2" },
	{ "3 is the whole encapsulated message", P(3), 1, MAIL_SECTION_BODY,
	  "^Subject: three\r\n" },
	{ "3.HEADER", P(3), 1, MAIL_SECTION_HEADER,
	  "Subject: three\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n" },
	{ "3.TEXT", P(3), 1, MAIL_SECTION_TEXT, "^--B\r\nContent-Type: text/plain" },
	{ "3.1", P(3, 1), 2, MAIL_SECTION_BODY, "body-3.1" },
	{ "3.2", P(3, 2), 2, MAIL_SECTION_BODY, "body-3.2" },
	{ "4", P(4), 1, MAIL_SECTION_BODY, "^--C\r\n" },
	{ "4.1", P(4, 1), 2, MAIL_SECTION_BODY, "body-4.1" },
	{ "4.1.MIME", P(4, 1), 2, MAIL_SECTION_MIME,
	  "Content-Type: image/gif\r\n\r\n" },
	{ "4.2.HEADER", P(4, 2), 2, MAIL_SECTION_HEADER,
	  "^Subject: four-two\r\n" },
	{ "4.2.1", P(4, 2, 1), 3, MAIL_SECTION_BODY, "body-4.2.1" },
	{ "4.2.2.1", P(4, 2, 2, 1), 4, MAIL_SECTION_BODY, "body-4.2.2.1" },
	{ "4.2.2.2", P(4, 2, 2, 2), 4, MAIL_SECTION_BODY, "body-4.2.2.2" },
	{ "4.2.2.2.MIME", P(4, 2, 2, 2), 4, MAIL_SECTION_MIME,
	  "Content-Type: text/richtext\r\n\r\n" },
	{ "HEADER", P(0), 0, MAIL_SECTION_HEADER,
	  "Subject: top\r\nContent-Type: multipart/mixed; boundary=A\r\n\r\n" },
	{ "TEXT", P(0), 0, MAIL_SECTION_TEXT, "^--A\r\nContent-Type: text/plain" },
	{ "[]", P(0), 0, MAIL_SECTION_BODY, rfc_msg },
	/* nonexistent: an empty string to the client */
	{ "5", P(5), 1, MAIL_SECTION_BODY, NULL },
	{ "1.1 of a leaf", P(1, 1), 2, MAIL_SECTION_BODY, NULL },
	{ "4.3", P(4, 3), 2, MAIL_SECTION_BODY, NULL },
	{ "1.HEADER of a non-message part", P(1), 1, MAIL_SECTION_HEADER, NULL },
	{ "4.TEXT of a multipart", P(4), 1, MAIL_SECTION_TEXT, NULL },
	{ "3.3", P(3, 3), 2, MAIL_SECTION_BODY, NULL },
	{ "4.2.2.3", P(4, 2, 2, 3), 4, MAIL_SECTION_BODY, NULL },
};

static void
check(const char *msg, size_t len, const struct mail_tree *t, size_t i)
{
	struct mail_section s = { .n_part = cases[i].n, .kind = cases[i].kind };
	struct mail_section_range r;
	const char *want = cases[i].want;

	memcpy(s.part, cases[i].part, sizeof(cases[i].part));
	cr_assert_eq(mail_section_lookup(t, &s, &r), 0, "[%s]", cases[i].name);
	if (want == NULL) {
		cr_assert(!r.exists, "[%s] exists", cases[i].name);
		return;
	}
	cr_assert(r.exists, "[%s] does not exist", cases[i].name);
	cr_assert_leq(r.offset + r.size, len);
	if (want[0] == '^') {
		cr_assert_geq(r.size, strlen(want + 1));
		cr_assert_eq(memcmp(msg + r.offset, want + 1, strlen(want + 1)), 0,
			     "[%s] got \"%.*s\"", cases[i].name, (int)r.size,
			     msg + r.offset);
	} else {
		cr_assert_eq(r.size, strlen(want), "[%s] got \"%.*s\"",
			     cases[i].name, (int)r.size, msg + r.offset);
		cr_assert_eq(memcmp(msg + r.offset, want, r.size), 0, "[%s]",
			     cases[i].name);
	}
}

Test(section, rfc9051_example)
{
	struct mail_tree *t = mail_mime_parse(rfc_msg, strlen(rfc_msg));

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check(rfc_msg, strlen(rfc_msg), t, i);
	mail_tree_free(&t);
}

/* Part 1 of a non-multipart message is its body; 1.MIME its header. */
Test(section, single_part)
{
	static const char msg[] = "Subject: s\r\n\r\nhello\r\n";
	struct mail_tree *t = mail_mime_parse(msg, strlen(msg));
	struct mail_section s = { .part = { 1 }, .n_part = 1 };
	struct mail_section_range r;

	cr_assert_eq(mail_section_lookup(t, &s, &r), 0);
	cr_assert(r.exists);
	cr_assert_eq(r.size, 7);
	cr_assert_eq(memcmp(msg + r.offset, "hello\r\n", 7), 0);
	cr_assert_eq(r.part, &t->parts[0]);
	s.kind = MAIL_SECTION_MIME;
	cr_assert_eq(mail_section_lookup(t, &s, &r), 0);
	cr_assert_eq(r.offset, 0);
	cr_assert_eq(r.size, 14);
	s.part[0] = 2;
	cr_assert_eq(mail_section_lookup(t, &s, &r), 0);
	cr_assert(!r.exists);
	mail_tree_free(&t);
}

/* A message/rfc822 whose message is not multipart: N.1 is its body. */
Test(section, message_single_part)
{
	static const char msg[] = "Content-Type: message/rfc822\r\n\r\n"
				  "Subject: in\r\n\r\ninner\r\n";
	struct mail_tree *t = mail_mime_parse(msg, strlen(msg));
	struct mail_section s = { .part = { 1, 1 }, .n_part = 2 };
	struct mail_section_range r;

	cr_assert_eq(mail_section_lookup(t, &s, &r), 0);
	cr_assert(r.exists);
	cr_assert_eq(r.size, 7);
	cr_assert_eq(memcmp(msg + r.offset, "inner\r\n", 7), 0);
	s.n_part = 1;
	s.kind = MAIL_SECTION_HEADER;
	cr_assert_eq(mail_section_lookup(t, &s, &r), 0);
	cr_assert_eq(memcmp(msg + r.offset, "Subject: in\r\n\r\n", r.size), 0);
	mail_tree_free(&t);
}

Test(section, header_fields_filter)
{
	struct mail_tree *t = mail_mime_parse(rfc_msg, strlen(rfc_msg));
	static const char *const names[] = { "subject" };
	struct mail_section s = { .part = { 4, 2 }, .n_part = 2,
				  .kind = MAIL_SECTION_HEADER_FIELDS,
				  .fields = names, .n_fields = 1 };
	struct mail_section_range r;
	struct buf *out = buf_new(4096);

	cr_assert_eq(mail_section_lookup(t, &s, &r), 0);
	cr_assert(r.exists && r.filter);
	cr_assert_eq(mail_header_filter(out, rfc_msg + r.offset, r.size,
					s.fields, s.n_fields, false), 0);
	cr_assert_str_eq(buf_str(out), "Subject: four-two\r\n\r\n");
	buf_free(&out);
	mail_tree_free(&t);
}

Test(section, invalid_sections)
{
	struct mail_tree *t = mail_mime_parse(rfc_msg, strlen(rfc_msg));
	struct mail_section s = { .part = { 1, 0 }, .n_part = 2 };
	struct mail_section_range r;

	cr_assert_eq(mail_section_lookup(t, &s, &r), -1);
	s.n_part = 0;
	s.kind = MAIL_SECTION_MIME;
	cr_assert_eq(mail_section_lookup(t, &s, &r), -1);
	/* Very deep numbers on a shallow tree: just nonexistent. */
	s.kind = MAIL_SECTION_BODY;
	s.n_part = MAIL_SECTION_MAX_PARTS;
	for (size_t i = 0; i < s.n_part; i++)
		s.part[i] = 4;
	cr_assert_eq(mail_section_lookup(t, &s, &r), 0);
	cr_assert(!r.exists);
	mail_tree_free(&t);
}
