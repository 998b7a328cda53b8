/* Tests for lib/mail/addr.c: RFC 5322 §3.4 address lists, the
 * Appendix A examples, obsolete syntax (§4.4) and real-world breakage.
 * Each list is dumped as: [name|route|mailbox@host] per mailbox (- for
 * NULL, a trailing ! if marked invalid), {group: ... } for groups. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/buf.h"
#include "core/pool.h"
#include "mail/addr.h"

static void
dump(const struct mail_addr_list *l, struct buf *out)
{
	for (const struct mail_addr *a = l->head; a != NULL; a = a->next) {
		switch (a->kind) {
		case MAIL_ADDR_GROUP_START:
			buf_printf(out, "{%s:", a->mailbox);
			break;
		case MAIL_ADDR_GROUP_END:
			buf_append_str(out, "}");
			break;
		default:
			buf_printf(out, "[%s|%s|%s@%s]%s",
				   a->name ? a->name : "-",
				   a->route ? a->route : "-", a->mailbox,
				   a->host, a->invalid ? "!" : "");
		}
	}
}

struct row {
	const char *in;
	const char *want;
};

static const struct row rows[] = {
	/* RFC 5322 A.1.1 */
	{ "John Doe <jdoe@machine.example>", "[John Doe|-|jdoe@machine.example]" },
	/* A.1.2 */
	{ "\"Joe Q. Public\" <john.q.public@example.com>",
	  "[Joe Q. Public|-|john.q.public@example.com]" },
	{ "Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>",
	  "[Mary Smith|-|mary@x.test][-|-|jdoe@example.org][Who?|-|one@y.test]" },
	{ "<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>",
	  "[-|-|boss@nil.test][Giant; \"Big\" Box|-|sysservices@example.net]" },
	/* A.1.3 groups */
	{ "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
	  "{A Group:[Ed Jones|-|c@a.test][-|-|joe@where.test][John|-|jdoe@one.test]}" },
	{ "Undisclosed recipients:;", "{Undisclosed recipients:}" },
	/* A.5 white space and comments */
	{ "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
	  "[Pete|-|pete@silly.test]" },
	{ "A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)public.example>,\r\n"
	  "         joe@example.org,\r\n  John <jdoe@one.test> (my dear friend); (the end of the group)",
	  "{A Group:[Chris Jones|-|c@public.example][-|-|joe@example.org][John|-|jdoe@one.test]}" },
	{ "(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;",
	  "{Hidden recipients:}" },
	/* A.6.1 obsolete */
	{ "\"Mary Smith: Personal Account\" <smith@home.example >",
	  "[Mary Smith: Personal Account|-|smith@home.example]" },
	{ "Joe Q. Public <john.q.public@example.com>",
	  "[Joe Q. Public|-|john.q.public@example.com]" },
	{ "Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example",
	  "[Mary Smith|@node.test|mary@example.net][-|-|jdoe@test.example]" },
	/* A.6.3 */
	{ "John Doe <jdoe@machine(comment).  example>",
	  "[John Doe|-|jdoe@machine.example]" },
	/* obs-route with several domains */
	{ "<@a.test,@b.test:x@c.test>", "[-|@a.test,@b.test|x@c.test]" },
	{ "<@a.test,,@b.test:x@c.test>", "[-|@a.test,@b.test|x@c.test]" },
	/* (fuzz) hops without commas: the route is longer than its input. */
	{ "<@a@b@c@d@e", "[-|@a,@b,@c,@d,@e|@]!" },
	/* A comment after a bare addr-spec gives the name. */
	{ "john@example.com (John Doe)", "[John Doe|-|john@example.com]" },
	{ "john@example.com ( John   Doe )", "[John Doe |-|john@example.com]" },
	/* Quoted local part, domain literal. */
	{ "\"john doe\"@example.com", "[-|-|john doe@example.com]" },
	{ "x@[192.0.2.1]", "[-|-|x@[192.0.2.1]]" },
	/* RFC 2047 words stay raw; 8-bit (RFC 6532) is kept. */
	{ "=?utf-8?q?J=C3=B6rg?= <j@x.test>", "[=?utf-8?q?J=C3=B6rg?=|-|j@x.test]" },
	{ "J\xc3\xb6rg <j\xc3\xb6@\xc3\xa4.test>", "[J\xc3\xb6rg|-|j\xc3\xb6@\xc3\xa4.test]" },
	{ "\xe9t\xe9 <a@b>", "[\xe9t\xe9|-|a@b]" },
	/* Empty elements and empty values. */
	{ "", "" },
	{ " , ,, ", "" },
	{ ",a@b,", "[-|-|a@b]" },
	/* Missing domain, missing local part. */
	{ "undisclosed-recipients", "[-|-|undisclosed-recipients@]!" },
	{ "john", "[-|-|john@]!" },
	{ "Joe <joe>", "[Joe|-|joe@]!" },
	{ "<>", "[-|-|@]!" },
	{ "@example.com", "[-|-|@example.com]!" },
	/* Unbalanced quotes, brackets, parens. */
	{ "\"Joe <joe@x.test>", "[-|-|Joe <joe@x.test>@]!" },
	{ "Joe <joe@x.test", "[Joe|-|joe@x.test]!" },
	{ "Joe <joe@x.test>>, b@c", "[Joe|-|joe@x.test]![-|-|b@c]" },
	{ "joe@x.test (unclosed", "[unclosed|-|joe@x.test]!" },
	{ "x@[1.2.3.4", "[-|-|x@[1.2.3.4]!" },
	/* A group without its ';'. */
	{ "G: a@b, c@d", "{G:[-|-|a@b][-|-|c@d]}" },
	/* ';' outside a group separates like ','. */
	{ "a@b; c@d", "[-|-|a@b][-|-|c@d]" },
	/* An unquoted address as the display name. */
	{ "john@x.test <john@x.test>", "[john@x.test|-|john@x.test]" },
	/* Two addresses without a comma: the second is junk. */
	{ "a@b c@d, e@f", "[-|-|a@b]![-|-|e@f]" },
	{ "<@x.test>", "[-|-|@x.test]!" },
	/* (fuzz) an empty domain after '@' is invalid; "@@" in a route
	 * adds no empty hop. */
	{ "J\xc3\xa9o @", "[-|-|J\xc3\xa9o@]!" },
	{ "<@a@@b:x@c>", "[-|@a,@b|x@c]!" },
	/* (fuzz) folding inside a domain literal is unfolded. */
	{ "x@[1.2\r\n .3]", "[-|-|x@[1.2 .3]]" },
	/* (fuzz) a quoted pair of a CR goes whole (see nul_rows). */
	{ "x@[1.2\\\r\n .3]", "[-|-|x@[1.2 .3]]" },
	{ "x@[1.2\\].3]", "[-|-|x@[1.2\\].3]]" },
	{ "a@b..c, d@e.", "[-|-|a@b..c][-|-|d@e.]" },
};

/* Rows whose input holds NUL bytes: the length is the literal's. */
struct nul_row {
	const char *in;
	size_t len;
	const char *want;
};
#define NUL_ROW(in, want) { in, sizeof(in) - 1, want }

static const struct nul_row nul_rows[] = {
	/* NUL bytes are spaces. */
	NUL_ROW("Jo\0e <a@b>", "[Jo e|-|a@b]"),
	/* (fuzz) NUL inside a domain literal is dropped, not a cut. */
	NUL_ROW("x@[1.2\0.3]", "[-|-|x@[1.2.3]]"),
	/* (fuzz) a quoted pair of a NUL goes whole: a backslash left
	 * alone would escape the ']' once written back. */
	NUL_ROW("x@[1.2\\\0]", "[-|-|x@[1.2]]"),
};

static void
expect_row(size_t i, const char *in, size_t len, const char *want)
{
	struct pool *pool = pool_new(1024);
	struct mail_addr_list l;
	struct buf *got = buf_new(4096);

	mail_addr_parse(pool, in, len, &l);
	dump(&l, got);
	cr_expect(strcmp(buf_str(got), want) == 0,
		  "row %zu \"%s\": got %s, want %s", i, in, buf_str(got), want);
	buf_free(&got);
	pool_free(&pool);
}

Test(addr, table)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		expect_row(i, rows[i].in, strlen(rows[i].in), rows[i].want);
	for (size_t i = 0; i < sizeof(nul_rows) / sizeof(nul_rows[0]); i++)
		expect_row(i, nul_rows[i].in, nul_rows[i].len, nul_rows[i].want);
}

/* 1,000 nested comments: the parse stops at the depth limit without
 * recursion and says so. */
Test(addr, deep_comments)
{
	size_t n = 1000;
	struct buf *in = buf_new(4 * n + 64);
	struct pool *pool = pool_new(1024);
	struct mail_addr_list l;

	buf_append_str(in, "a@b, ");
	for (size_t i = 0; i < n; i++)
		buf_append_byte(in, '(');
	for (size_t i = 0; i < n; i++)
		buf_append_byte(in, ')');
	buf_append_str(in, " c@d");
	mail_addr_parse(pool, buf_data(in), buf_len(in), &l);
	cr_expect(l.truncated);
	cr_expect(l.count == 1, "count %zu", l.count);
	/* Within the limit, nesting is just a comment. */
	buf_reset(in);
	buf_append_str(in, "a@b (x(y(z)))");
	mail_addr_parse(pool, buf_data(in), buf_len(in), &l);
	cr_expect(!l.truncated && l.count == 1);
	cr_expect_str_eq(l.head->name, "x(y(z))");
	buf_free(&in);
	pool_free(&pool);
}

Test(addr, max_addresses)
{
	struct buf *in = buf_new(1 << 20);
	struct pool *pool = pool_new(1 << 16);
	struct mail_addr_list l;

	for (int i = 0; i < MAIL_ADDR_MAX_ADDRS + 500; i++)
		buf_append_str(in, "a@b,");
	mail_addr_parse(pool, buf_data(in), buf_len(in), &l);
	cr_expect(l.truncated && l.count == MAIL_ADDR_MAX_ADDRS);
	buf_free(&in);
	pool_free(&pool);
}

/* Huge inputs stay linear: 1 MB of quotes, brackets or '<'. */
Test(addr, huge_inputs, .timeout = 10)
{
	static const char fill[] = "\"<(@,:;.[";
	size_t n = 1 << 20;
	char *s = malloc(n);
	struct pool *pool = pool_new(1 << 16);
	struct mail_addr_list l;

	for (size_t k = 0; k < sizeof(fill) - 1; k++) {
		memset(s, fill[k], n);
		mail_addr_parse(pool, s, n, &l);
		pool_clear(pool);
	}
	for (size_t i = 0; i < n; i++)
		s[i] = "a<@>:,; \"("[i % 10];
	mail_addr_parse(pool, s, n, &l);
	free(s);
	pool_free(&pool);
}

/* RFC 5957 §3 display forms. */
Test(addr, display)
{
	static const struct row d[] = {
		{ "=?utf-8?q?J=C3=B6rg?= <j@x.test>", "J\xc3\xb6rg" },
		{ "\"\" <j@x.test>", "j@x.test" },
		{ "=?utf-8?q?_?= <j@x.test>", "j@x.test" },
		{ "j@x.test", "j@x.test" },
		{ "G: Ann <a@b>;", "Ann" },
		{ "john", "john" },
		{ "caf\xe9@x", "caf\xc3\xa9@x" },   /* 8-bit addr-spec: UTF-8 */
	};
	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		struct pool *pool = pool_new(1024);
		struct mail_addr_list l;
		struct buf *out = buf_new(256);

		mail_addr_parse(pool, d[i].in, strlen(d[i].in), &l);
		cr_assert(mail_addr_first(&l) != NULL, "row %zu", i);
		cr_expect(mail_addr_display(mail_addr_first(&l), out) == 0);
		cr_expect_str_eq(buf_str(out), d[i].want, "row %zu", i);
		buf_free(&out);
		pool_free(&pool);
	}
}

/* parse -> write -> parse gives the same entries. */
Test(addr, write_roundtrip)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct pool *pool = pool_new(1024);
		struct mail_addr_list l, l2;
		struct buf *w = buf_new(4096), *a = buf_new(4096), *b = buf_new(4096);
		bool invalid = false;

		mail_addr_parse(pool, rows[i].in, strlen(rows[i].in), &l);
		for (const struct mail_addr *x = l.head; x != NULL; x = x->next)
			invalid |= x->invalid;
		if (invalid)
			goto next;
		cr_assert(mail_addr_write(&l, w) == 0);
		mail_addr_parse(pool, buf_data(w), buf_len(w), &l2);
		dump(&l, a);
		dump(&l2, b);
		cr_expect_str_eq(buf_str(b), buf_str(a), "row %zu: wrote \"%s\"",
				 i, buf_str(w));
next:
		buf_free(&w);
		buf_free(&a);
		buf_free(&b);
		pool_free(&pool);
	}
}
