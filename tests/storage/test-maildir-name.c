/* Tests for lib/storage/maildir-name.c: the Maildir info field
 * (cr.yp.to/proto/maildir.html "info semantics"), Dovecot's keyword
 * letters, ",S=/,W=" fields and flag tail, unique base names, refusals. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "core/buf.h"
#include "storage/maildir-name.h"

#define ALL_STD (MAILDIR_FLAG_DRAFT | MAILDIR_FLAG_FLAGGED | \
		 MAILDIR_FLAG_PASSED | MAILDIR_FLAG_REPLIED | \
		 MAILDIR_FLAG_SEEN | MAILDIR_FLAG_TRASHED)

struct row {
	const char *name;
	const char *base;        /* NULL: refused */
	bool flags_valid;
	unsigned flags;
	uint32_t keywords;
	const char *other;
	const char *tail;        /* NULL: none */
	const char *rebuilt;     /* maildir_name_build of the parse */
};

static const struct row rows[] = {
	{ "1234.M1P2.host", "1234.M1P2.host", false, 0, 0, "", NULL,
	  "1234.M1P2.host:2," },
	{ "1234.M1P2.host:2,", "1234.M1P2.host", true, 0, 0, "", NULL,
	  "1234.M1P2.host:2," },
	{ "b:2,S", "b", true, MAILDIR_FLAG_SEEN, 0, "", NULL, "b:2,S" },
	{ "b:2,DFPRST", "b", true, ALL_STD, 0, "", NULL, "b:2,DFPRST" },
	/* Out of order and duplicated: rebuilt in ASCII order, once. */
	{ "b:2,TSRPFD", "b", true, ALL_STD, 0, "", NULL, "b:2,DFPRST" },
	{ "b:2,SS", "b", true, MAILDIR_FLAG_SEEN, 0, "", NULL, "b:2,S" },
	/* Dovecot keyword letters, kept. */
	{ "b:2,Sab", "b", true, MAILDIR_FLAG_SEEN, 0x3, "", NULL, "b:2,Sab" },
	{ "b:2,STln", "b", true, MAILDIR_FLAG_SEEN | MAILDIR_FLAG_TRASHED,
	  (1u << 11) | (1u << 13), "", NULL, "b:2,STln" },
	{ "b:2,z", "b", true, 0, 1u << 25, "", NULL, "b:2,z" },
	/* Unknown characters kept exactly, in ASCII order on rebuild. */
	{ "b:2,SXA", "b", true, MAILDIR_FLAG_SEEN, 0, "AX", NULL, "b:2,ASX" },
	{ "b:2,1S$", "b", true, MAILDIR_FLAG_SEEN, 0, "$1", NULL, "b:2,$1S" },
	/* Dovecot's non-standard tail after the flags. */
	{ "b:2,S,X=1", "b", true, MAILDIR_FLAG_SEEN, 0, "", ",X=1",
	  "b:2,S,X=1" },
	{ "b:2,,", "b", true, 0, 0, "", ",", "b:2,," },
	/* Not "2,": no flags understood; a rebuild gets a fresh info. */
	{ "b:1,experimental", "b", false, 0, 0, "", NULL, "b:2," },
	{ "b:2S", "b", false, 0, 0, "", NULL, "b:2," },
	{ "b:", "b", false, 0, 0, "", NULL, "b:2," },
	{ "b:2,S\x01", "b", false, 0, 0, "", NULL, "b:2," },
	{ "b:2,S x", "b", false, 0, 0, "", NULL, "b:2," },
	{ "b:2,\xc3\xa9", "b", false, 0, 0, "", NULL, "b:2," },
	/* The info starts at the last ':'. */
	{ "a:b:2,S", "a:b", true, MAILDIR_FLAG_SEEN, 0, "", NULL, "a:b:2,S" },
	{ "host\\072x:2,F", "host\\072x", true, MAILDIR_FLAG_FLAGGED, 0, "",
	  NULL, "host\\072x:2,F" },
	/* Refused. */
	{ "", NULL, 0, 0, 0, NULL, NULL, NULL },
	{ ".", NULL, 0, 0, 0, NULL, NULL, NULL },
	{ "..", NULL, 0, 0, 0, NULL, NULL, NULL },
	{ ".hidden:2,S", NULL, 0, 0, 0, NULL, NULL, NULL },
	{ "a/b", NULL, 0, 0, 0, NULL, NULL, NULL },
	{ "../../etc/passwd", NULL, 0, 0, 0, NULL, NULL, NULL },
	{ ":2,S", NULL, 0, 0, 0, NULL, NULL, NULL },
};

Test(maildir_name, table)
{
	struct buf *b = buf_new(1024);

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct maildir_name n;
		int ret = maildir_name_parse(r->name, strlen(r->name), &n);

		if (r->base == NULL) {
			cr_assert_eq(ret, -1, "row %zu \"%s\": accepted", i,
				     r->name);
			cr_assert_eq(errno, EINVAL);
			continue;
		}
		cr_assert_eq(ret, 0, "row %zu \"%s\": refused", i, r->name);
		cr_assert_eq(n.base_len, strlen(r->base), "row %zu: base len", i);
		cr_assert(memcmp(n.base, r->base, n.base_len) == 0, "row %zu", i);
		cr_assert_eq(n.base_len,
			     maildir_name_base_len(r->name, strlen(r->name)));
		cr_assert_eq(n.flags_valid, r->flags_valid, "row %zu", i);
		cr_assert_eq(n.flags, r->flags, "row %zu: flags %#x, want %#x",
			     i, n.flags, r->flags);
		cr_assert_eq(n.keywords, r->keywords, "row %zu: keywords %#x, "
			     "want %#x", i, n.keywords, r->keywords);
		cr_assert_str_eq(n.other, r->other, "row %zu", i);
		if (r->tail == NULL) {
			cr_assert_eq(n.tail_len, 0, "row %zu", i);
		} else {
			cr_assert_eq(n.tail_len, strlen(r->tail), "row %zu", i);
			cr_assert(memcmp(n.tail, r->tail, n.tail_len) == 0);
		}
		buf_reset(b);
		cr_assert_eq(maildir_name_build(&n, b), 0, "row %zu: build", i);
		cr_assert_str_eq(buf_str(b), r->rebuilt, "row %zu: rebuilt "
				 "\"%s\", want \"%s\"", i, buf_str(b),
				 r->rebuilt);
	}
	buf_free(&b);
}

Test(maildir_name, length)
{
	char name[MAILDIR_NAME_MAX + 2];
	struct maildir_name n;
	struct buf *b = buf_new(1024);

	memset(name, 'x', sizeof(name));
	cr_assert_eq(maildir_name_parse(name, MAILDIR_NAME_MAX, &n), 0);
	cr_assert_eq(maildir_name_parse(name, MAILDIR_NAME_MAX + 1, &n), -1);
	/* A build that would pass NAME_MAX fails rather than truncates. */
	maildir_name_init(&n, name, MAILDIR_NAME_MAX - 4);
	n.flags = MAILDIR_FLAG_SEEN;
	cr_assert_eq(maildir_name_build(&n, b), 0);
	cr_assert_eq(buf_len(b), MAILDIR_NAME_MAX);
	buf_reset(b);
	n.flags |= MAILDIR_FLAG_FLAGGED;
	cr_assert_eq(maildir_name_build(&n, b), -1);
	cr_assert_eq(errno, ENAMETOOLONG);
	cr_assert_eq(buf_len(b), 0);
	/* Embedded NUL is refused (only len bytes are looked at). */
	cr_assert_eq(maildir_name_parse("a\0b:2,S", 7, &n), -1);
	cr_assert_eq(maildir_name_parse("ab:2,S", 2, &n), 0);
	cr_assert(!n.has_info);
	buf_free(&b);
}

Test(maildir_name, build_changes_flags_keeps_rest)
{
	const char *orig = "1276533073.M242911P3632.kurkku,S=1355,W=1394:2,"
			   "RXab,Z";
	struct maildir_name n;
	struct buf *b = buf_new(1024);

	cr_assert_eq(maildir_name_parse(orig, strlen(orig), &n), 0);
	n.flags &= ~(unsigned)MAILDIR_FLAG_REPLIED;
	n.flags |= MAILDIR_FLAG_SEEN | MAILDIR_FLAG_DRAFT;
	n.keywords &= ~1u;
	n.keywords |= 1u << 25;
	cr_assert_eq(maildir_name_build(&n, b), 0);
	cr_assert_str_eq(buf_str(b), "1276533073.M242911P3632.kurkku,S=1355,"
			 "W=1394:2,DSXbz,Z");
	/* Bad characters a caller might put in "other" are refused. */
	buf_reset(b);
	strcpy(n.other, "/");
	cr_assert_eq(maildir_name_build(&n, b), -1);
	strcpy(n.other, ",");
	cr_assert_eq(maildir_name_build(&n, b), -1);
	strcpy(n.other, " ");
	cr_assert_eq(maildir_name_build(&n, b), -1);
	strcpy(n.other, ":");
	cr_assert_eq(maildir_name_build(&n, b), -1);
	cr_assert_eq(buf_len(b), 0);
	buf_free(&b);
}

Test(maildir_name, sizes)
{
	static const struct {
		const char *name;
		bool has_s; uint64_t s;
		bool has_w; uint64_t w;
	} t[] = {
		{ "1.M2P3.h,S=1000,W=1030:2,S", true, 1000, true, 1030 },
		{ "1.M2P3.h,W=1030,S=1000", true, 1000, true, 1030 },
		{ "1.M2P3.h,S=1000", true, 1000, false, 0 },
		{ "1.M2P3.h", false, 0, false, 0 },
		{ "1.M2P3.h,S=", false, 0, false, 0 },
		{ "1.M2P3.h,S=12x", false, 0, false, 0 },
		{ "1.M2P3.h,S=-1", false, 0, false, 0 },
		{ "1.M2P3.h,s=5", false, 0, false, 0 },
		{ "1.M2P3.h,S=99999999999999999999999", false, 0, false, 0 },
		{ "1.M2P3.h,S=18446744073709551609", true,
		  18446744073709551609ull, false, 0 },
		{ "1.M2P3.h,S=5,S=6", true, 5, false, 0 },
		/* Only the base counts, not the flags tail. */
		{ "1.M2P3.h:2,S,S=5", false, 0, false, 0 },
		{ "1.M2P3.h,S=5:2,S", true, 5, false, 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct maildir_name n;

		cr_assert_eq(maildir_name_parse(t[i].name, strlen(t[i].name),
						&n), 0, "row %zu", i);
		cr_assert_eq(n.has_size, t[i].has_s, "row %zu \"%s\"", i,
			     t[i].name);
		cr_assert_eq(n.has_vsize, t[i].has_w, "row %zu \"%s\"", i,
			     t[i].name);
		if (t[i].has_s)
			cr_assert_eq(n.size, t[i].s, "row %zu", i);
		if (t[i].has_w)
			cr_assert_eq(n.vsize, t[i].w, "row %zu", i);
	}
}

Test(maildir_name, time)
{
	uint64_t s = 0;

	cr_assert(maildir_name_time("1276528487.M364837P9451.kurkku", 30, &s));
	cr_assert_eq(s, 1276528487);
	cr_assert(maildir_name_time("0.x", 3, &s));
	cr_assert_eq(s, 0);
	cr_assert(!maildir_name_time("abc.def", 7, &s));
	cr_assert(!maildir_name_time("123", 3, &s));
	cr_assert(!maildir_name_time("123x.", 5, &s));
	cr_assert(!maildir_name_time(".5", 2, &s));
	cr_assert(!maildir_name_time("12345678901234567890.x", 22, &s));
	cr_assert(maildir_name_time("1234567890123456789.x", 21, &s));
	/* Only len bytes are read. */
	cr_assert(!maildir_name_time("12.x", 2, &s));
}

Test(maildir_name, new_base)
{
	struct buf *b = buf_new(1024);
	struct maildir_name n;
	char longhost[200];

	cr_assert_eq(maildir_name_new_base(b, 1700000000, 123456, 4242, 7,
					   "mail.example.org"), 0);
	cr_assert_str_eq(buf_str(b), "1700000000.M123456P4242Q7.mail.example.org");
	cr_assert_eq(maildir_name_add_sizes(b, 1000, 1030), 0);
	cr_assert_str_eq(buf_str(b), "1700000000.M123456P4242Q7.mail.example.org"
			 ",S=1000,W=1030");
	cr_assert_eq(maildir_name_parse(buf_str(b), buf_len(b), &n), 0);
	cr_assert(n.has_size && n.size == 1000 && n.has_vsize && n.vsize == 1030);
	/* The specification's escapes, and no fake fields or separators. */
	buf_reset(b);
	cr_assert_eq(maildir_name_new_base(b, 1, 0, 1, 0, "a/b:c,S=5\\d e"), 0);
	cr_assert_str_eq(buf_str(b), "1.M0P1Q0.a\\057b\\072c\\054S\\0755\\134d"
			 "\\040e");
	cr_assert_eq(maildir_name_parse(buf_str(b), buf_len(b), &n), 0);
	cr_assert(!n.has_info && !n.has_size);
	buf_reset(b);
	cr_assert_eq(maildir_name_new_base(b, 1, 0, 1, 0, "\xff\x01"), 0);
	cr_assert_str_eq(buf_str(b), "1.M0P1Q0.\\377\\001");
	/* Refusals. */
	buf_reset(b);
	cr_assert_eq(maildir_name_new_base(b, 1, 0, 1, 0, ""), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(maildir_name_new_base(b, 1, 1000000, 1, 0, "h"), -1);
	cr_assert_eq(errno, EINVAL);
	memset(longhost, 'h', sizeof(longhost) - 1);
	longhost[sizeof(longhost) - 1] = '\0';
	cr_assert_eq(maildir_name_new_base(b, 1, 0, 1, 0, longhost), -1);
	cr_assert_eq(errno, ENAMETOOLONG);
	cr_assert_eq(buf_len(b), 0);
	/* Every base we make leaves room for all flags. */
	longhost[MAILDIR_NEW_BASE_MAX - 70] = '\0';
	cr_assert_eq(maildir_name_new_base(b, UINT64_MAX, 999999, UINT32_MAX,
					   UINT64_MAX, longhost), 0);
	cr_assert_leq(buf_len(b), MAILDIR_NEW_BASE_MAX);
	maildir_name_init(&n, buf_str(b), buf_len(b));
	n.flags = ALL_STD;
	n.keywords = 0x3ffffff;
	{
		struct buf *o = buf_new(1024);

		cr_assert_eq(maildir_name_build(&n, o), 0);
		cr_assert_leq(buf_len(o), MAILDIR_NAME_MAX);
		buf_free(&o);
	}
	buf_free(&b);
}
