/* Tests for lib/mail/mime.c and mime-cache.c: the MIME tree of RFC 2045 /
 * RFC 2046 messages, broken ones included, its limits and its cache
 * form. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "mail/mime.h"

/* Test messages are written with "\n"; crlf() makes the CRLF form. */
static char *
crlf(const char *s, size_t *len)
{
	char *r = malloc(strlen(s) * 2 + 1), *w = r;

	for (; *s != '\0'; s++) {
		if (*s == '\n')
			*w++ = '\r';
		*w++ = *s;
	}
	*w = '\0';
	*len = (size_t)(w - r);
	return r;
}

/* The tree as text: leaves "type/subtype:lines{body}" (CRs dropped),
 * multiparts "type/subtype(child child)", messages
 * "message/rfc822:lines[child]". */
static void
describe(struct buf *b, const struct mail_tree *t, const struct mail_part *p,
	 const char *msg)
{
	buf_printf(b, "%s/%s", p->ct.type, p->ct.subtype);
	if (p->flags & MAIL_PART_MULTIPART) {
		buf_append_byte(b, '(');
		for (uint32_t c = p->first_child; c != MAIL_PART_NONE;
		     c = t->parts[c].next) {
			if (c != p->first_child)
				buf_append_byte(b, ' ');
			describe(b, t, &t->parts[c], msg);
		}
		buf_append_byte(b, ')');
		return;
	}
	buf_printf(b, ":%llu", (unsigned long long)p->body_lines);
	if (p->flags & MAIL_PART_MESSAGE) {
		buf_append_byte(b, '[');
		describe(b, t, &t->parts[p->first_child], msg);
		buf_append_byte(b, ']');
		return;
	}
	buf_append_byte(b, '{');
	for (uint64_t i = 0; i < p->body_size; i++)
		if (msg[p->body_offset + i] != '\r')
			buf_append_byte(b, (uint8_t)msg[p->body_offset + i]);
	buf_append_byte(b, '}');
}

static char *
describe_tree(const struct mail_tree *t, const char *msg)
{
	struct buf *b = buf_new(1 << 20);
	char *r;

	describe(b, t, &t->parts[0], msg);
	r = strdup(buf_str(b));
	buf_free(&b);
	return r;
}

/* Offsets nest: every part inside the message, children inside their
 * parent (the boundary's line end may follow the parent's end). */
static void
check_invariants(const struct mail_tree *t)
{
	for (size_t i = 0; i < t->n_parts; i++) {
		const struct mail_part *p = &t->parts[i];

		cr_assert_eq(p->hdr_offset + p->hdr_size, p->body_offset);
		cr_assert_leq(p->body_offset + p->body_size, t->size);
		cr_assert_leq(p->body_lines, p->body_size);
		cr_assert_leq(p->depth, MAIL_MIME_MAX_DEPTH);
		if (i > 0) {
			const struct mail_part *par = &t->parts[p->parent];

			cr_assert_lt(p->parent, i);
			cr_assert_geq(p->hdr_offset, par->body_offset);
			cr_assert_leq(p->body_offset + p->body_size,
				      par->body_offset + par->body_size + 2);
		}
	}
}

static const struct {
	const char *name, *msg, *want;
} cases[] = {
	{ "no MIME: text/plain default (RFC 2045 §5.2)",
	  "Subject: x\n\nhello\nworld\n", "text/plain:2{hello\nworld\n}" },
	{ "last line without line end", "A: 1\n\nhello\nworld",
	  "text/plain:2{hello\nworld}" },
	{ "no body", "A: 1\n", "text/plain:0{}" },
	{ "no header", "\nbody\n", "text/plain:1{body\n}" },
	/* RFC 2046 §5.1.1 sample message */
	{ "RFC 2046 §5.1.1",
	  "From: Nathaniel Borenstein <nsb@bellcore.com>\n"
	  "To: Ned Freed <ned@innosoft.com>\n"
	  "Date: Sun, 21 Mar 1993 23:56:48 -0800 (PST)\n"
	  "Subject: Sample message\n"
	  "MIME-Version: 1.0\n"
	  "Content-type: multipart/mixed; boundary=\"simple boundary\"\n"
	  "\n"
	  "This is the preamble.  It is to be ignored, though it\n"
	  "is a handy place for composition agents to include an\n"
	  "explanatory note to non-MIME conformant readers.\n"
	  "\n"
	  "--simple boundary\n"
	  "\n"
	  "This is implicitly typed plain US-ASCII text.\n"
	  "It does NOT end with a linebreak.\n"
	  "--simple boundary\n"
	  "Content-type: text/plain; charset=us-ascii\n"
	  "\n"
	  "This is explicitly typed plain US-ASCII text.\n"
	  "It DOES end with a linebreak.\n"
	  "\n"
	  "--simple boundary--\n"
	  "\n"
	  "This is the epilogue.  It is also to be ignored.\n",
	  "multipart/mixed(text/plain:2{This is implicitly typed plain "
	  "US-ASCII text.\nIt does NOT end with a linebreak.} text/plain:2{"
	  "This is explicitly typed plain US-ASCII text.\nIt DOES end with a "
	  "linebreak.\n})" },
	{ "transport padding after delimiters",
	  "Content-Type: multipart/mixed; boundary=b\n\n--b \t\n\na\n--b-- \n",
	  "multipart/mixed(text/plain:1{a})" },
	{ "trailing garbage: not a delimiter",
	  "Content-Type: multipart/mixed; boundary=b\n\n--b\n\na\n--bx\nc\n"
	  "--b--\n", "multipart/mixed(text/plain:3{a\n--bx\nc})" },
	{ "missing close delimiter",
	  "Content-Type: multipart/mixed; boundary=b\n\n--b\n\na\n--b\n\nb\n",
	  "multipart/mixed(text/plain:1{a} text/plain:1{b\n})" },
	{ "boundary never appears",
	  "Content-Type: multipart/mixed; boundary=b\n\nall preamble\n",
	  "multipart/mixed()" },
	{ "multipart without boundary parameter is a leaf",
	  "Content-Type: multipart/mixed\n\n--\n\nx\n",
	  "multipart/mixed:3{--\n\nx\n}" },
	{ "multipart with an empty boundary is a leaf",
	  "Content-Type: multipart/mixed; boundary=\"\"\n\n--\n\nx\n",
	  "multipart/mixed:3{--\n\nx\n}" },
	{ "epilogue boundary lines are text",
	  "Content-Type: multipart/mixed; boundary=b\n\n--b\n\na\n--b--\n--b\n"
	  "\nz\n", "multipart/mixed(text/plain:1{a})" },
	{ "empty parts",
	  "Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\n\n--b--\n",
	  "multipart/mixed(text/plain:0{} text/plain:0{})" },
	{ "nested, inner boundary a prefix of the outer",
	  "Content-Type: multipart/mixed; boundary=ab\n\n--ab\n"
	  "Content-Type: multipart/alternative; boundary=a\n\n--a\n\nx\n"
	  "--ab\n\ny\n--ab--\n",
	  "multipart/mixed(multipart/alternative(text/plain:1{x}) "
	  "text/plain:1{y})" },
	{ "nested, outer boundary a prefix of the inner",
	  "Content-Type: multipart/mixed; boundary=a\n\n--a\n"
	  "Content-Type: multipart/alternative; boundary=ab\n\n--ab\n\nx\n"
	  "--ab\n\nx2\n--ab--\n--a\n\ny\n--a--\n",
	  "multipart/mixed(multipart/alternative(text/plain:1{x} "
	  "text/plain:1{x2}) text/plain:1{y})" },
	{ "inner unterminated, closed by the outer",
	  "Content-Type: multipart/mixed; boundary=o\n\n--o\n"
	  "Content-Type: multipart/mixed; boundary=i\n\n--i\n\nin\n--o\n\nout\n"
	  "--o--\n",
	  "multipart/mixed(multipart/mixed(text/plain:1{in}) "
	  "text/plain:1{out})" },
	{ "header cut by a boundary",
	  "Content-Type: multipart/mixed; boundary=b\n\n--b\nX: 1\n--b\n\nz\n"
	  "--b--\n", "multipart/mixed(text/plain:0{} text/plain:1{z})" },
	{ "message/rfc822",
	  "Content-Type: message/rfc822\n\nSubject: inner\n\nbody\n",
	  "message/rfc822:3[text/plain:1{body\n}]" },
	{ "message/global (RFC 6532)",
	  "Content-Type: message/global\n\nSubject: \xc3\xa9\n\nb\n",
	  "message/global:3[text/plain:1{b\n}]" },
	{ "message/rfc822 in base64 is a leaf",
	  "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
	  "QTogMQ==\n", "message/rfc822:1{QTogMQ==\n}" },
	{ "message/rfc822 in a multipart with a nested multipart",
	  "Content-Type: multipart/mixed; boundary=o\n\n--o\n"
	  "Content-Type: message/rfc822\n\n"
	  "Content-Type: multipart/alternative; boundary=i\n\n--i\n\nt\n--i\n"
	  "Content-Type: text/html\n\n<p>\n--i--\n--o--\n",
	  "multipart/mixed(message/rfc822:10[multipart/alternative(text/plain:1"
	  "{t} text/html:1{<p>})])" },
	/* RFC 2046 §5.1.5 */
	{ "digest default",
	  "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: m1\n"
	  "\nb1\n--d\nContent-Type: text/plain\n\nt\n--d--\n",
	  "multipart/digest(message/rfc822:3[text/plain:1{b1}] "
	  "text/plain:1{t})" },
	{ "invalid Content-Type defaults",
	  "Content-Type: garbage\n\nx\n", "text/plain:1{x\n}" },
	{ "8-bit header",
	  "Subject: \xff\xfe\nContent-Type: text/html\n\nb\xff\n",
	  "text/html:1{b\xff\n}" },
};

static void
run_case(size_t i, bool use_crlf, size_t chunk)
{
	size_t len;
	char *msg = use_crlf ? crlf(cases[i].msg, &len) : strdup(cases[i].msg);
	struct mail_mime_parser *p = mail_mime_parser_new();
	struct mail_tree *t;
	char *got;

	if (!use_crlf)
		len = strlen(msg);
	for (size_t o = 0; o < len; o += chunk)
		mail_mime_parser_push(p, msg + o, len - o < chunk ? len - o : chunk);
	t = mail_mime_parser_finish(&p);
	cr_assert_null(p);
	cr_assert_eq(t->size, len);
	check_invariants(t);
	got = describe_tree(t, msg);
	cr_assert_str_eq(got, cases[i].want,
			 "[%s] %s chunk %zu:\n got  %s\n want %s", cases[i].name,
			 use_crlf ? "CRLF" : "LF", chunk, got, cases[i].want);
	free(got);
	mail_tree_free(&t);
	free(msg);
}

/* Each case with CRLF and with bare LF, whole and in small chunks. */
Test(mime, table)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run_case(i, true, 1 << 20);
		run_case(i, false, 1 << 20);
		run_case(i, true, 1);
		run_case(i, true, 7);
	}
}

/* The RFC 2046 sample's exact offsets: the CRLF before a delimiter line
 * belongs to the delimiter (§5.1.1). */
Test(mime, offsets_and_headers)
{
	size_t len;
	char *msg = crlf("Content-Type: multipart/mixed; boundary=b\n\n"
			 "pre\n--b\nContent-Type: text/x; a=1\n"
			 "Content-ID: <id@x>\nContent-Description: d\n"
			 "Content-Disposition: attachment; filename=f.txt\n"
			 "Content-Language: en, de\nContent-Location: http://x/\n"
			 "Content-MD5: Q2hlY2s=\nContent-Transfer-Encoding: Base64\n"
			 "\nZm9v\n--b--\n", &len);
	struct mail_tree *t = mail_mime_parse(msg, len);
	const struct mail_part *c;
	const char *hdr_end;

	cr_assert_eq(t->n_parts, 2);
	cr_assert_eq(t->parts[0].hdr_size, 45);
	c = mail_part_child(t, &t->parts[0], 1);
	cr_assert_not_null(c);
	cr_assert_null(mail_part_child(t, &t->parts[0], 2));
	cr_assert_eq(c->hdr_offset, (uint64_t)(strstr(msg, "--b\r\n") - msg) + 5);
	hdr_end = strstr(msg, "\r\n\r\nZm9v") + 4;
	cr_assert_eq(c->body_offset, (uint64_t)(hdr_end - msg));
	cr_assert_eq(c->body_size, 4);
	cr_assert_eq(c->body_lines, 1);
	cr_assert_str_eq(c->ct.type, "text");
	cr_assert_str_eq(c->ct.subtype, "x");
	cr_assert_eq(c->cte, MAIL_CTE_BASE64);
	cr_assert_str_eq(c->cte_name, "base64");
	cr_assert_str_eq(c->id, "<id@x>");
	cr_assert_str_eq(c->description, "d");
	cr_assert_str_eq(c->location, "http://x/");
	cr_assert_str_eq(c->md5, "Q2hlY2s=");
	cr_assert_eq(c->n_language, 2);
	cr_assert_str_eq(c->language[1], "de");
	cr_assert(c->has_disposition);
	cr_assert_str_eq(c->disp.type, "attachment");
	cr_assert(t->parts[0].flags & MAIL_PART_CLOSED);
	mail_tree_free(&t);
	free(msg);
}

/* NUL bytes in headers and bodies are ordinary bytes. */
Test(mime, nul_bytes)
{
	static const char msg[] = "Subject: \0\0\r\nContent-Type: multipart/mixed; boundary=b"
				  "\r\nX: \0\r\n\r\n--b\r\n\r\na\0b\r\n--b--\r\n";
	struct mail_tree *t = mail_mime_parse(msg, sizeof(msg) - 1);

	cr_assert_eq(t->n_parts, 2);
	cr_assert_eq(t->parts[1].body_size, 3);
	cr_assert_eq(t->parts[1].body_lines, 1);
	mail_tree_free(&t);
}

/* 1,000 nested multiparts: parsed fast, depth capped, the deepest
 * allowed part is an opaque leaf holding the rest. */
Test(mime, deep_nesting_1000)
{
	struct buf *b = buf_new(1 << 24);
	struct mail_tree *t;
	clock_t c0;
	const struct mail_part *deep = NULL;

	for (int i = 0; i < 1000; i++)
		buf_printf(b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n"
			   "--b%d\r\n", i, i);
	buf_append_str(b, "\r\nleaf\r\n");
	for (int i = 999; i >= 0; i--)
		buf_printf(b, "--b%d--\r\n", i);
	c0 = clock();
	t = mail_mime_parse(buf_data(b), buf_len(b));
	cr_assert_lt((double)(clock() - c0) / CLOCKS_PER_SEC, 1.0);
	check_invariants(t);
	cr_assert_eq(t->n_parts, MAIL_MIME_MAX_DEPTH + 1, "got %zu", t->n_parts);
	for (size_t i = 0; i < t->n_parts; i++)
		if (t->parts[i].depth == MAIL_MIME_MAX_DEPTH)
			deep = &t->parts[i];
	cr_assert_not_null(deep);
	cr_assert(deep->flags & MAIL_PART_OPAQUE);
	cr_assert_eq(deep->flags & MAIL_PART_MULTIPART, 0);
	cr_assert_eq(deep->n_children, 0);
	buf_free(&b);
	mail_tree_free(&t);
}

Test(mime, deep_message_nesting)
{
	struct buf *b = buf_new(1 << 24);
	struct mail_tree *t;

	for (int i = 0; i < 1000; i++)
		buf_append_str(b, "Content-Type: message/rfc822\r\n\r\n");
	buf_append_str(b, "\r\nx\r\n");
	t = mail_mime_parse(buf_data(b), buf_len(b));
	check_invariants(t);
	cr_assert_eq(t->n_parts, MAIL_MIME_MAX_DEPTH + 1);
	cr_assert(t->parts[MAIL_MIME_MAX_DEPTH].flags & MAIL_PART_OPAQUE);
	buf_free(&b);
	mail_tree_free(&t);
}

Test(mime, part_limit)
{
	struct buf *b = buf_new(1 << 24);
	struct mail_tree *t;
	const struct mail_part *last;

	buf_append_str(b, "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
	for (int i = 0; i < MAIL_MIME_MAX_PARTS + 100; i++)
		buf_printf(b, "--b\r\n\r\n%d\r\n", i);
	buf_append_str(b, "--b--\r\n");
	t = mail_mime_parse(buf_data(b), buf_len(b));
	check_invariants(t);
	cr_assert_eq(t->n_parts, MAIL_MIME_MAX_PARTS);
	last = &t->parts[t->n_parts - 1];
	/* The last part still ends at the next delimiter. */
	cr_assert_eq(last->body_size, 4);
	buf_free(&b);
	mail_tree_free(&t);
}

/* 1,000 parts each with 16 kB Content-Description: the tree keeps at
 * most MAIL_MIME_FIELDS_TOTAL_MAX bytes of them. */
Test(mime, field_bytes_bounded)
{
	struct buf *b = buf_new(64 << 20);
	struct mail_tree *t;
	size_t kept = 0;

	buf_append_str(b, "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
	for (int i = 0; i < 1000; i++) {
		buf_append_str(b, "--b\r\nContent-Description: ");
		for (int k = 0; k < 16000; k++)
			buf_append_byte(b, 'd');
		buf_append_str(b, "\r\n\r\nx\r\n");
	}
	buf_append_str(b, "--b--\r\n");
	t = mail_mime_parse(buf_data(b), buf_len(b));
	cr_assert_eq(t->n_parts, 1001);
	cr_assert_eq(strlen(t->parts[1].description), 16000);
	for (size_t i = 0; i < t->n_parts; i++)
		if (t->parts[i].description != NULL)
			kept += strlen(t->parts[i].description);
	cr_assert_leq(kept, MAIL_MIME_FIELDS_TOTAL_MAX);
	cr_assert_geq(kept, MAIL_MIME_FIELDS_TOTAL_MAX - 16384);
	/* The structure itself is unaffected. */
	cr_assert_eq(t->parts[1000].body_size, 1);
	buf_free(&b);
	mail_tree_free(&t);
}

/* Huge lines and boundaries far into a line are handled without holding
 * the line. */
Test(mime, huge_lines)
{
	size_t n = 8 << 20;
	struct buf *b = buf_new(n + (1 << 20));
	struct mail_tree *t;

	buf_append_str(b, "Content-Type: multipart/mixed; boundary=b\r\n"
		       "X-Long: ");
	for (size_t i = 0; i < n / 2; i++)
		buf_append_byte(b, 'h');
	buf_append_str(b, "\r\n\r\n--b\r\n\r\n");
	for (size_t i = 0; i < n / 2; i++)
		buf_append_byte(b, 'x');
	buf_append_str(b, "--b\r\n--b");
	for (size_t i = 0; i < 100000; i++)
		buf_append_byte(b, ' ');
	buf_append_str(b, "\r\n\r\nz\r\n--b--\r\n");
	t = mail_mime_parse(buf_data(b), buf_len(b));
	check_invariants(t);
	cr_assert_eq(t->parts[0].n_children, 2);
	/* "x...x--b": a boundary inside a line is text. */
	cr_assert_eq(t->parts[1].body_size, n / 2 + 3);
	cr_assert_eq(t->parts[2].body_size, 1);
	buf_free(&b);
	mail_tree_free(&t);
}

Test(mime, parse_fd)
{
	char path[] = "/tmp/moat-mime-XXXXXX";
	int fd = mkstemp(path);
	static const char msg[] = "XXXXContent-Type: multipart/mixed; "
				  "boundary=q\r\n\r\n--q\r\n\r\nhi\r\n--q--\r\n";
	struct mail_tree *t;

	cr_assert_geq(fd, 0);
	unlink(path);
	cr_assert_eq(write(fd, msg, sizeof(msg) - 1), (ssize_t)sizeof(msg) - 1);
	t = mail_mime_parse_fd(fd, 4, sizeof(msg) - 5);
	cr_assert_not_null(t);
	cr_assert_eq(t->n_parts, 2);
	cr_assert_eq(t->parts[1].body_size, 2);
	mail_tree_free(&t);
	/* A file shorter than the size given is an error. */
	cr_assert_null(mail_mime_parse_fd(fd, 4, sizeof(msg)));
	close(fd);
}

Test(mime, decoded_size_fd)
{
	char path[] = "/tmp/moat-mime-XXXXXX";
	int fd = mkstemp(path);
	static const char msg[] = "XXContent-Type: multipart/mixed; boundary=q\r\n\r\n"
		"--q\r\nContent-Transfer-Encoding: base64\r\n\r\nZm9v\r\nYmFy\r\n"
		"--q\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na=3D=\r\nb\r\n"
		"--q\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n"
		"--q--\r\n";
	struct mail_tree *t;
	uint64_t n = 99;

	cr_assert_geq(fd, 0);
	unlink(path);
	cr_assert_eq(write(fd, msg, sizeof(msg) - 1), (ssize_t)sizeof(msg) - 1);
	t = mail_mime_parse(msg + 2, sizeof(msg) - 3);
	cr_assert_eq(t->n_parts, 4);
	cr_assert_eq(mail_part_decoded_size_fd(fd, 2, &t->parts[1], &n), 0);
	cr_assert_eq(n, 6, "base64: got %llu", (unsigned long long)n);
	cr_assert_eq(mail_part_decoded_size_fd(fd, 2, &t->parts[2], &n), 0);
	cr_assert_eq(n, 3, "qp: got %llu", (unsigned long long)n);
	/* RFC 3516 §4.3 */
	cr_assert_eq(mail_part_decoded_size_fd(fd, 2, &t->parts[3], &n), -2);
	/* The root's body read past the end of a shorter file. */
	cr_assert_eq(ftruncate(fd, 20), 0);
	cr_assert_eq(mail_part_decoded_size_fd(fd, 2, &t->parts[0], &n), -1);
	mail_tree_free(&t);
	close(fd);
}

static const char *const rt_msgs[] = {
	"Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n"
	"Content-Type: message/rfc822\r\n\r\n"
	"Content-Type: multipart/alternative; boundary=i\r\n\r\n--i\r\n"
	"Content-Type: text/plain; charset=utf-8; format=flowed\r\n"
	"Content-Language: en\r\n\r\nt\r\n--i\r\n"
	"Content-Type: text/html\r\nContent-Disposition: inline; a*=x''y\r\n"
	"\r\n<p>\r\n--i--\r\n--o--\r\n",
	"Subject: plain\r\n\r\nbody",
	"",
};

Test(mime, serialize_roundtrip_and_strict)
{
	for (size_t m = 0; m < sizeof(rt_msgs) / sizeof(rt_msgs[0]); m++) {
		size_t len = strlen(rt_msgs[m]);
		struct mail_tree *t = mail_mime_parse(rt_msgs[m], len), *u;
		struct buf *s1 = buf_new(1 << 16), *s2 = buf_new(1 << 16);

		cr_assert_eq(mail_tree_serialize(t, s1), 0);
		cr_assert_eq(buf_data(s1)[0], MAIL_TREE_VERSION);
		u = mail_tree_deserialize(buf_data(s1), buf_len(s1), len);
		cr_assert_not_null(u, "[%zu]", m);
		cr_assert_eq(mail_tree_serialize(u, s2), 0);
		cr_assert_eq(buf_len(s1), buf_len(s2));
		cr_assert_eq(memcmp(buf_data(s1), buf_data(s2), buf_len(s1)), 0);
		for (size_t i = 0; i < t->n_parts; i++) {
			cr_assert_eq(u->parts[i].first_child, t->parts[i].first_child);
			cr_assert_eq(u->parts[i].next, t->parts[i].next);
			cr_assert_eq(u->parts[i].depth, t->parts[i].depth);
		}
		/* Every truncation, any trailing byte, another size or
		 * version, is refused. */
		for (size_t k = 0; k < buf_len(s1); k++)
			cr_assert_null(mail_tree_deserialize(buf_data(s1), k, len),
				       "[%zu] truncated at %zu accepted", m, k);
		buf_append_byte(s1, 0);
		cr_assert_null(mail_tree_deserialize(buf_data(s1), buf_len(s1),
						     len));
		buf_truncate(s1, buf_len(s1) - 1);
		cr_assert_null(mail_tree_deserialize(buf_data(s1), buf_len(s1),
						     len + 1));
		buf_data_mut(s1)[0] = MAIL_TREE_VERSION + 1;
		cr_assert_null(mail_tree_deserialize(buf_data(s1), buf_len(s1),
						     len));
		buf_free(&s1);
		buf_free(&s2);
		mail_tree_free(&t);
		mail_tree_free(&u);
	}
}

/* A cached offset outside the message (stale cache, disk damage) is
 * refused. */
Test(mime, deserialize_bad_offsets)
{
	static const char msg[] = "Content-Type: multipart/mixed; boundary=b"
				  "\r\n\r\n--b\r\n\r\nxy\r\n--b--\r\n";
	struct mail_tree *t = mail_mime_parse(msg, sizeof(msg) - 1);
	struct buf *s = buf_new(1 << 16);
	/* part 1's hdr_offset: version, n, size, then part 0 (parent, flags,
	 * cte, 4 u64, 7 strings...): find it by value instead. */
	uint8_t want[8];
	uint64_t off = t->parts[1].hdr_offset;
	uint8_t *d;
	size_t hit = 0;

	mail_tree_serialize(t, s);
	for (int i = 0; i < 8; i++)
		want[i] = (uint8_t)(off >> (56 - 8 * i));
	d = buf_data_mut(s);
	for (size_t i = 0; i + 8 <= buf_len(s); i++)
		if (memcmp(d + i, want, 8) == 0)
			hit = i;        /* the last one is part 1's */
	cr_assert_gt(hit, 0);
	d[hit + 7] = 200;
	cr_assert_null(mail_tree_deserialize(d, buf_len(s), sizeof(msg) - 1));
	buf_free(&s);
	mail_tree_free(&t);
}
