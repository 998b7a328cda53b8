/* Tests for lib/mail/subject.c: RFC 5256 §2.1 base-subject extraction
 * (each step of the algorithm, then real-world prefixes) and the
 * i;unicode-casemap key. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/buf.h"
#include "mail/subject.h"

struct row {
	const char *in;
	const char *base;
	bool reply;
};

static const struct row rows[] = {
	{ "", "", false },
	{ "Hello", "Hello", false },
	/* (1) whitespace: tabs and folding become one space */
	{ "a\t\tb\r\n  c", "a b c", false },
	/* (2) subj-trailer: "(fwd)" and WSP, repeated */
	{ "Hello (fwd)", "Hello", true },
	{ "Hello (FWD) (fwd)  ", "Hello", true },
	{ "Hello(fwd)", "Hello", true },
	/* (3) subj-leader: re, fw, fwd, with blobs before and one after */
	{ "Re: Hello", "Hello", true },
	{ "RE: Hello", "Hello", true },
	{ "re:Hello", "Hello", true },
	{ "Fw: Hello", "Hello", true },
	{ "FWD: Hello", "Hello", true },
	{ "Re : Hello", "Hello", true },
	{ "Re[2]: Hello", "Hello", true },
	{ "Re [2]: Hello", "Hello", true },
	{ "Re: Re[2]: Fwd: Hello", "Hello", true },
	{ "[list] Re: Hello", "Hello", true },
	{ "[a][b] Re: Hello", "Hello", true },
	{ "Re: [list] Re: Hello", "Hello", true },
	/* not leaders */
	{ "Regarding this", "Regarding this", false },
	{ "Reply: x", "Reply: x", false },
	{ "Fwx: y", "Fwx: y", false },
	{ "Re[2 Hello", "Re[2 Hello", false },
	/* (4) a blob goes only if a subj-base remains */
	{ "[list] Hello", "Hello", false },
	{ "[list]", "[list]", false },
	{ "[list]   ", "[list]", false },
	{ "[a] [b]", "[b]", false },
	{ "[a[b] x", "[a[b] x", false },
	/* (6) [fwd: ...] wrapping, then everything again */
	{ "[Fwd: Hello]", "Hello", true },
	{ "[fwd: Re: Hello (fwd)]", "Hello", true },
	{ "[Fwd: [Fwd: Hello]]", "Hello", true },
	{ "[fwd: Hello", "[fwd: Hello", false },
	{ "Re: [Fwd: Hello]", "Hello", true },
	/* RFC 2047 words are decoded first */
	{ "=?UTF-8?Q?Re=3A_Caf=C3=A9?=", "Caf\xc3\xa9", true },
	{ "Re: =?ISO-8859-1?Q?Caf=E9?=", "Caf\xc3\xa9", true },
	{ "=?utf-8?B?UmU6IEhlbGxv?=", "Hello", true },
	/* only re/fwd leaders: "AW:", "SV:" are not in RFC 5256 */
	{ "AW: Hallo", "AW: Hallo", false },
	{ "   Re:   Hello   ", "Hello", true },
	{ "Re:", "", true },
	{ "Re: (fwd)", "", true },
};

Test(subject, table)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct buf *b = buf_new(65536);
		bool reply = !rows[i].reply;

		cr_assert_eq(mail_subject_base(rows[i].in, strlen(rows[i].in),
					       b, &reply), 0);
		cr_expect_str_eq(buf_str(b), rows[i].base, "row %zu (%s)", i,
				 rows[i].in);
		cr_expect_eq(reply, rows[i].reply, "row %zu reply", i);
		buf_free(&b);
	}
}

static char *
key(const char *s)
{
	struct buf *b = buf_new(65536);
	char *r;

	cr_assert_eq(mail_subject_key(s, strlen(s), b, NULL), 0);
	r = strdup(buf_str(b));
	buf_free(&b);
	return r;
}

Test(subject, keys_compare_case_insensitively)
{
	char *a = key("Re: hello WORLD"), *b = key("HELLO world (fwd)");
	char *c = key("=?UTF-8?Q?caf=C3=A9?="), *d = key("CAF\xc3\x89");
	char *e = key("hello there");

	cr_expect_str_eq(a, b);
	cr_expect_str_eq(c, d);
	cr_expect_str_neq(a, e);
	free(a); free(b); free(c); free(d); free(e);
}

Test(subject, long_input_is_bounded)
{
	size_t n = 1 << 20;
	char *s = malloc(n);
	struct buf *b = buf_new(1 << 20);

	for (size_t i = 0; i < n; i += 4)
		memcpy(s + i, "Re: ", 4);
	cr_assert_eq(mail_subject_base(s, n, b, NULL), 0);
	cr_expect_eq(buf_len(b), 0);
	buf_free(&b);
	free(s);
}
