/* Tests for lib/mail/param.c: RFC 2045 §5.1 Content-Type, RFC 2183
 * Content-Disposition and RFC 2231 §3-§4 parameter continuations. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/pool.h"
#include "mail/param.h"

/* Params written as "name=value" (extended: "name*=value") joined by
 * "|"; type as "type/subtype" or "-" for invalid. */
static char *
show_ct(const char *in)
{
	struct pool *pool = pool_new(1024);
	struct mail_ctype ct;
	struct buf *b = buf_new(1 << 16);
	char *r;

	if (mail_ctype_parse(pool, (const uint8_t *)in, strlen(in), &ct) < 0)
		buf_append_str(b, "-");
	else
		buf_printf(b, "%s/%s", ct.type, ct.subtype);
	for (size_t i = 0; i < ct.n_params; i++)
		buf_printf(b, "|%s%s=%s", ct.params[i].name,
			   ct.params[i].extended ? "*" : "", ct.params[i].value);
	r = strdup(buf_str(b));
	buf_free(&b);
	pool_free(&pool);
	return r;
}

static const struct {
	const char *in, *want;
} ct_cases[] = {
	{ "text/plain", "text/plain" },
	{ "TEXT/HTML; CHARSET=UTF-8", "text/html|charset=UTF-8" },
	/* RFC 2045 §5.1: quoted-string values, comments */
	{ "text/plain; charset=\"us-ascii\" (Plain text)",
	  "text/plain|charset=us-ascii" },
	{ "text/plain (c) ; (c2) charset = (c3) \"x\\\"y\"",
	  "text/plain|charset=x\"y" },
	{ "multipart/mixed;\r\n\tboundary=\"simple boundary\"",
	  "multipart/mixed|boundary=simple boundary" },
	{ "  multipart / alternative ; boundary=abc", "multipart/alternative|"
	  "boundary=abc" },
	/* invalid: no subtype -> the caller defaults (RFC 2045 §5.2) */
	{ "text", "-" },
	{ "text/", "-" },
	{ "/plain", "-" },
	{ "", "-" },
	{ "text/plain; charset", "text/plain" },
	{ "text/plain;;; charset=a;", "text/plain|charset=a" },
	{ "text/plain; charset=\"unterminated", "text/plain|charset=unterminated" },
	{ "text/plain; name=foo bar.txt; charset=x",
	  "text/plain|name=foo|charset=x" },
	{ "text/plain; a=1; A=2", "text/plain|a=1" },       /* first wins */
	{ "application/x; name=R\xc3\xa9sum\xc3\xa9.pdf",
	  "application/x|name=R\xc3\xa9sum\xc3\xa9.pdf" },
	/* RFC 2231 §3: continuations */
	{ "message/external-body; access-type=URL;\r\n"
	  " URL*0=\"ftp://\";\r\n URL*1=\"cs.utk.edu/pub/moore/bulk-mailer/"
	  "bulk-mailer.tar\"",
	  "message/external-body|access-type=URL|url=ftp://cs.utk.edu/pub/"
	  "moore/bulk-mailer/bulk-mailer.tar" },
	/* RFC 2231 §4 */
	{ "application/x-stuff;\r\n title*=us-ascii'en-us'This%20is%20"
	  "%2A%2A%2Afun%2A%2A%2A",
	  "application/x-stuff|title*=us-ascii'en-us'This%20is%20%2A%2A%2A"
	  "fun%2A%2A%2A" },
	/* RFC 2231 §4.1: mixed extended and plain sections */
	{ "application/x-stuff;\r\n title*0*=us-ascii'en'This%20is%20even"
	  "%20more%20;\r\n title*1*=%2A%2A%2Afun%2A%2A%2A%20;\r\n"
	  " title*2=\"isn't it!\"",
	  "application/x-stuff|title*=us-ascii'en'This%20is%20even%20more%20"
	  "%2A%2A%2Afun%2A%2A%2A%20isn%27t%20it!" },
	/* reordered sections */
	{ "a/b; n*2=c; n*0=a; n*1=b", "a/b|n=abc" },
	/* a missing section ends the join */
	{ "a/b; n*0=a; n*2=c", "a/b|n=a" },
	/* duplicate section: the first one */
	{ "a/b; n*0=a; n*1=b; n*1=X", "a/b|n=ab" },
	/* no section 0: nothing */
	{ "a/b; n*1=b; m=1", "a/b|m=1" },
	/* plain and RFC 2231 form both present: the RFC 2231 one */
	{ "a/b; filename=\"fallback.txt\"; filename*=utf-8''real%C3%A9.txt",
	  "a/b|filename*=utf-8''real%C3%A9.txt" },
	/* only a later section extended: "''" is added, section 0 escaped */
	{ "a/b; n*0=\"a b%\"; n*1*=%41", "a/b|n*=''a%20b%25%41" },
	/* section numbers with leading zeros are not sections */
	{ "a/b; n*01=x", "a/b|n*01=x" },
};

Test(param, ctype_table)
{
	for (size_t i = 0; i < sizeof(ct_cases) / sizeof(ct_cases[0]); i++) {
		char *got = show_ct(ct_cases[i].in);

		cr_assert_str_eq(got, ct_cases[i].want,
				 "[%zu] \"%s\": got \"%s\", want \"%s\"", i,
				 ct_cases[i].in, got, ct_cases[i].want);
		free(got);
	}
}

Test(param, defaults)
{
	struct pool *pool = pool_new(1024);
	struct mail_ctype ct;

	mail_ctype_default(pool, &ct, false);
	cr_assert_str_eq(ct.type, "text");
	cr_assert_str_eq(ct.subtype, "plain");
	cr_assert_eq(ct.n_params, 1);
	cr_assert_str_eq(mail_param_find(ct.params, 1, "CHARSET")->value,
			 "us-ascii");
	mail_ctype_default(pool, &ct, true);
	cr_assert_str_eq(ct.type, "message");
	cr_assert_str_eq(ct.subtype, "rfc822");
	cr_assert_eq(ct.n_params, 0);
	pool_free(&pool);
}

/* RFC 2183 §2 */
Test(param, disposition)
{
	static const struct {
		const char *in, *type, *fname;
	} c[] = {
		{ "inline", "inline", NULL },
		{ "Attachment; filename=genome.jpeg;\r\n"
		  " modification-date=\"Wed, 12 Feb 1997 16:29:51 -0500\";",
		  "attachment", "genome.jpeg" },
		{ "attachment; filename*0=\"a\"; filename*1=\"b.txt\"",
		  "attachment", "ab.txt" },
		{ "(comment) inline", "inline", NULL },
		{ "", NULL, NULL },
		{ ";filename=x", NULL, NULL },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct pool *pool = pool_new(1024);
		struct mail_disposition d;
		int rc = mail_disposition_parse(pool, (const uint8_t *)c[i].in,
						strlen(c[i].in), &d);
		const struct mail_param *f;

		if (c[i].type == NULL) {
			cr_assert_eq(rc, -1, "[%zu]", i);
			pool_free(&pool);
			continue;
		}
		cr_assert_eq(rc, 0, "[%zu]", i);
		cr_assert_str_eq(d.type, c[i].type, "[%zu] got %s", i, d.type);
		f = mail_param_find(d.params, d.n_params, "filename");
		if (c[i].fname == NULL)
			cr_assert_null(f, "[%zu]", i);
		else
			cr_assert_str_eq(f->value, c[i].fname, "[%zu]", i);
		pool_free(&pool);
	}
}

Test(param, token)
{
	struct pool *pool = pool_new(1024);

	cr_assert_str_eq(mail_token_parse(pool, (const uint8_t *)" Base64 ", 8),
			 "base64");
	cr_assert_str_eq(mail_token_parse(pool,
					  (const uint8_t *)"(x) QUOTED-Printable", 20),
			 "quoted-printable");
	cr_assert_null(mail_token_parse(pool, (const uint8_t *)"  ", 2));
	pool_free(&pool);
}

Test(param, hostile_limits)
{
	/* Thousands of parameters and sections: bounded, no crash. */
	struct buf *b = buf_new(1 << 20);
	struct pool *pool = pool_new(4096);
	struct mail_ctype ct;

	buf_append_str(b, "a/b");
	for (int i = 0; i < 5000; i++)
		buf_printf(b, "; p%d*%d=v", i % 3, i);
	for (int i = 0; i < 5000; i++)
		buf_printf(b, "; q%d=1", i);
	cr_assert_eq(mail_ctype_parse(pool, buf_data(b), buf_len(b), &ct), 0);
	cr_assert_leq(ct.n_params, MAIL_PARAM_MAX);
	/* p0*0, p1*1, p2*2, p0*3...: p0 joins sections 0 and 3? no: only a
	 * contiguous run from 0; p0 has 0,3,6 -> "v" */
	cr_assert_str_eq(mail_param_find(ct.params, ct.n_params, "p0")->value,
			 "v");
	/* NUL inside a value is dropped */
	cr_assert_eq(mail_ctype_parse(pool, (const uint8_t *)"a/b; x=\"1\0002\"",
				      13, &ct), 0);
	cr_assert_str_eq(ct.params[0].value, "12");
	/* A backslash as the very last byte inside an open quote. */
	cr_assert_eq(mail_ctype_parse(pool, (const uint8_t *)"a/b; x; \"\\", 10,
				      &ct), 0);
	cr_assert_eq(ct.n_params, 0);
	buf_free(&b);
	pool_free(&pool);
}
