/* Tests for lib/imap/mailbox-name.c: every rejection rule, INBOX
 * normalisation (RFC 3501 §5.1 / RFC 9051 §5.1), and the Maildir++ and
 * mbox mappings both ways. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/buf.h"
#include "imap/mailbox-name.h"

struct row {
	const char *wire;
	size_t len;
	bool utf8;
	char sep;
	unsigned flags;
	const char *want;          /* canonical name, or NULL */
	enum mbname_error err;     /* when want is NULL */
};

#define OK(w, sep, want) { w, sizeof(w) - 1, false, sep, 0, want, MBNAME_OK }
#define OK8(w, sep, want) { w, sizeof(w) - 1, true, sep, 0, want, MBNAME_OK }
#define BAD(w, sep, e) { w, sizeof(w) - 1, false, sep, 0, NULL, e }
#define BAD8(w, sep, e) { w, sizeof(w) - 1, true, sep, 0, NULL, e }
#define BADC(w, sep, e) { w, sizeof(w) - 1, false, sep, MBNAME_FOR_CREATE, NULL, e }

static const struct row rows[] = {
	OK("INBOX", '/', "INBOX"),
	/* RFC 3501 §5.1: 'The case-insensitive mailbox name INBOX is a
	 * special name'; its children follow it. */
	OK("inbox", '/', "INBOX"),
	OK("iNbOx", '/', "INBOX"),
	OK("inbox/Child", '/', "INBOX/Child"),
	OK("inbox.Child", '.', "INBOX.Child"),
	OK("inbox.Child", '/', "inbox.Child"),   /* one level, not INBOX */
	OK("INBOXES", '/', "INBOXES"),
	OK("Sub/inbox", '/', "Sub/inbox"),       /* only the first level */
	OK("Sent", '/', "Sent"),
	OK("Sub/Folder", '/', "Sub/Folder"),
	OK("a.b", '/', "a.b"),                   /* legal name; see mapping */
	OK("Entw&APw-rfe", '/', "Entw\xc3\xbcrfe"),
	OK("&ZeVnLIqe-/&U,BTFw-", '/',
	   "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e/\xe5\x8f\xb0\xe5\x8c\x97"),
	OK("Tom &- Jerry", '/', "Tom & Jerry"),
	/* Nothing is unescaped: these are the characters themselves. */
	OK("%2e%2e", '/', "%2e%2e"),
	OK("%2e%2e/%2fetc", '/', "%2e%2e/%2fetc"),
	OK("a\\b", '/', "a\\b"),
	OK("...", '/', "..."),
	OK(".hidden", '/', ".hidden"),
	OK("a~b", '/', "a~b"),
	OK("Sub/~x", '/', "Sub/~x"),
	OK("50%", '/', "50%"),                   /* may exist; CREATE refuses */
	OK8("Entw\xc3\xbcrfe", '/', "Entw\xc3\xbcrfe"),
	OK8("&Jjo!", '/', "&Jjo!"),              /* UTF-8 mode: "&" is "&" */
	OK("a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p", '/',
	   "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p"),  /* 16 levels */

	BAD("", '/', MBNAME_EMPTY),
	BAD("/", '/', MBNAME_ABSOLUTE),
	BAD("/etc/passwd", '/', MBNAME_ABSOLUTE),
	BAD(".", '.', MBNAME_ABSOLUTE),
	BAD("foo/", '/', MBNAME_EMPTY_COMPONENT),
	BAD("foo//bar", '/', MBNAME_EMPTY_COMPONENT),
	BAD("foo.", '.', MBNAME_EMPTY_COMPONENT),
	BAD("..", '/', MBNAME_DOT_COMPONENT),
	BAD(".", '/', MBNAME_DOT_COMPONENT),
	BAD("foo/../../etc", '/', MBNAME_DOT_COMPONENT),
	BAD("foo/./bar", '/', MBNAME_DOT_COMPONENT),
	BAD("foo/..", '/', MBNAME_DOT_COMPONENT),
	BAD("~user", '/', MBNAME_TILDE),
	BAD("~", '/', MBNAME_TILDE),
	BAD("~peter/mail/&U,BTFw-", '/', MBNAME_TILDE),
	BAD("a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q", '/', MBNAME_TOO_DEEP),
	BAD("a\tb", '/', MBNAME_BAD_MUTF7),      /* raw control: bad mUTF-7 */
	BAD("&AAk-", '/', MBNAME_CONTROL),       /* encoded TAB */
	BAD("&AAo-", '/', MBNAME_CONTROL),       /* encoded LF */
	BAD("&AH8-", '/', MBNAME_CONTROL),       /* DEL */
	BAD("&AIU-", '/', MBNAME_CONTROL),       /* U+0085 NEL (C1) */
	BAD("&AGE-", '/', MBNAME_BAD_MUTF7),     /* "a" encoded */
	BAD("&U,BTFw-&ZeVnLIqe-", '/', MBNAME_BAD_MUTF7),
	BAD("&Jjo!", '/', MBNAME_BAD_MUTF7),
	BAD("caf\xc3\xa9", '/', MBNAME_BAD_MUTF7), /* 8-bit without UTF8 */
	BAD("&AC4ALg-", '/', MBNAME_BAD_MUTF7),  /* ".." smuggled encoded */
	BAD("&AC8-etc", '/', MBNAME_BAD_MUTF7),  /* "/" smuggled encoded */
	BAD8("a\0b", '/', MBNAME_BAD_UTF8),
	BAD8("\xc0\xae\xc0\xae", '/', MBNAME_BAD_UTF8), /* overlong ".." */
	BAD8("\xed\xa0\x80", '/', MBNAME_BAD_UTF8),
	BAD8("a\x1b[2Jb", '/', MBNAME_CONTROL),
	BAD8("a\rb", '/', MBNAME_CONTROL),
	BAD8("\xc2\x9b" "31m", '/', MBNAME_CONTROL), /* C1 CSI */
	BAD8("../x", '/', MBNAME_DOT_COMPONENT),
	BADC("50%", '/', MBNAME_WILDCARD),
	BADC("a*b", '/', MBNAME_WILDCARD),
	BADC("%2e%2e", '/', MBNAME_WILDCARD),
};

Test(mbname, from_wire_table)
{
	struct buf *b = buf_new(1024);

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		enum mbname_error err = MBNAME_OK;
		int ret;

		buf_reset(b);
		buf_append_str(b, ">");
		ret = mbname_from_wire(r->wire, r->len, r->utf8, r->sep,
				       r->flags, b, &err);
		if (r->want == NULL) {
			cr_assert_eq(ret, -1, "row %zu \"%s\": got \"%s\", want "
				     "error %d", i, r->wire, buf_str(b) + 1,
				     r->err);
			cr_assert_eq(err, r->err, "row %zu \"%s\": got error %d "
				     "(%s), want %d (%s)", i, r->wire, err,
				     mbname_error_str(err), r->err,
				     mbname_error_str(r->err));
			cr_assert_str_eq(buf_str(b), ">", "row %zu", i);
			continue;
		}
		cr_assert_eq(ret, 0, "row %zu \"%s\": got error %s, want \"%s\"",
			     i, r->wire, mbname_error_str(err), r->want);
		cr_assert_str_eq(buf_str(b) + 1, r->want,
				 "row %zu: got \"%s\", want \"%s\"", i,
				 buf_str(b) + 1, r->want);
	}
	buf_free(&b);
}

Test(mbname, length_limits)
{
	char name[MBNAME_WIRE_MAX + 2];
	struct buf *b = buf_new(4096);
	enum mbname_error err;

	memset(name, 'x', sizeof(name));
	cr_assert_eq(mbname_from_wire(name, MBNAME_MAX_LEN, false, '/', 0, b,
				      &err), 0);
	buf_reset(b);
	cr_assert_eq(mbname_from_wire(name, MBNAME_MAX_LEN + 1, false, '/', 0,
				      b, &err), -1);
	cr_assert_eq(err, MBNAME_TOO_LONG);
	cr_assert_eq(mbname_from_wire(name, MBNAME_WIRE_MAX + 1, false, '/', 0,
				      b, &err), -1);
	cr_assert_eq(err, MBNAME_TOO_LONG);
	/* The limit is on the decoded UTF-8: 86 "é" are 172 bytes of UTF-8
	 * but 3 + 86 * 8 / 3 bytes of mUTF-7; 128 are 256 bytes. */
	{
		struct buf *w = buf_new(4096);
		char e[] = "\xc3\xa9";

		for (int k = 0; k < 128; k++)
			buf_append_str(w, e);
		cr_assert_eq(mbname_from_wire(buf_str(w), 254, true, '/', 0, b,
					      &err), 0);
		cr_assert_eq(mbname_from_wire(buf_str(w), 256, true, '/', 0, b,
					      &err), -1);
		cr_assert_eq(err, MBNAME_TOO_LONG);
		buf_free(&w);
	}
	/* A full output buffer is an error, not a truncated name. */
	{
		struct buf *small = buf_new(4);

		cr_assert_eq(mbname_from_wire("INBOX", 5, false, '/', 0, small,
					      &err), -1);
		cr_assert_eq(err, MBNAME_TOO_LONG);
		cr_assert_eq(buf_len(small), 0);
		buf_free(&small);
	}
	buf_free(&b);
}

struct map_row {
	const char *name;      /* canonical UTF-8 */
	char sep;
	const char *maildir;   /* NULL: refused with merr */
	enum mbname_error merr;
	const char *mbox;      /* relative to root "mail"; NULL: refused */
	enum mbname_error berr;
};

static const struct map_row map_rows[] = {
	{ "INBOX", '/', "", 0, NULL, MBNAME_IS_INBOX },
	{ "Sub", '/', ".Sub", 0, "mail/Sub", 0 },
	{ "Sub/Folder", '/', ".Sub.Folder", 0, "mail/Sub/Folder", 0 },
	{ "Sub.Folder", '.', ".Sub.Folder", 0, "mail/Sub/Folder", 0 },
	{ "INBOX/Child", '/', ".INBOX.Child", 0, "mail/INBOX/Child", 0 },
	{ "Entw\xc3\xbcrfe", '/', ".Entw&APw-rfe", 0, "mail/Entw&APw-rfe", 0 },
	{ "Tom & Jerry", '/', ".Tom &- Jerry", 0, "mail/Tom &- Jerry", 0 },
	{ "%2e%2e", '/', ".%2e%2e", 0, "mail/%2e%2e", 0 },
	/* '.' inside a level cannot be stored in Maildir++. */
	{ "a.b", '/', NULL, MBNAME_UNSTORABLE, "mail/a.b", 0 },
	{ ".hidden", '/', NULL, MBNAME_UNSTORABLE, NULL, MBNAME_UNSTORABLE },
	{ "...", '/', NULL, MBNAME_UNSTORABLE, NULL, MBNAME_UNSTORABLE },
	{ ".ssh/authorized_keys", '/', NULL, MBNAME_UNSTORABLE, NULL,
	  MBNAME_UNSTORABLE },
	/* With '.' as separator a '/' stays inside one level: no store can
	 * hold it (it would be a path separator on disk). */
	{ "a/b", '.', NULL, MBNAME_UNSTORABLE, NULL, MBNAME_UNSTORABLE },
	{ "..", '.', NULL, MBNAME_ABSOLUTE, NULL, MBNAME_ABSOLUTE },
	/* The dotlock of mbox "Sent" is "Sent.lock". */
	{ "Sent.lock", '/', NULL, MBNAME_UNSTORABLE, NULL, MBNAME_UNSTORABLE },
	{ "Sub/x.lock", '/', NULL, MBNAME_UNSTORABLE, NULL, MBNAME_UNSTORABLE },
	{ "x.locks", '/', NULL, MBNAME_UNSTORABLE, "mail/x.locks", 0 },
	{ "foo/../etc", '/', NULL, MBNAME_DOT_COMPONENT, NULL,
	  MBNAME_DOT_COMPONENT },
	{ "/etc", '/', NULL, MBNAME_ABSOLUTE, NULL, MBNAME_ABSOLUTE },
};

Test(mbname, mappings)
{
	struct buf *b = buf_new(4096), *back = buf_new(1024);

	for (size_t i = 0; i < sizeof(map_rows) / sizeof(map_rows[0]); i++) {
		const struct map_row *r = &map_rows[i];
		enum mbname_error err = MBNAME_OK;
		int ret;

		buf_reset(b);
		ret = mbname_to_maildir(r->name, r->sep, b, &err);
		if (r->maildir == NULL) {
			cr_assert_eq(ret, -1, "row %zu \"%s\": maildir got "
				     "\"%s\"", i, r->name, buf_str(b));
			cr_assert_eq(err, r->merr, "row %zu: maildir err %d, "
				     "want %d", i, err, r->merr);
			cr_assert_eq(buf_len(b), 0, "row %zu", i);
		} else {
			cr_assert_eq(ret, 0, "row %zu \"%s\": maildir: %s", i,
				     r->name, mbname_error_str(err));
			cr_assert_str_eq(buf_str(b), r->maildir, "row %zu", i);
			if (r->maildir[0] != '\0') {
				buf_reset(back);
				cr_assert_eq(mbname_from_maildir(
					buf_str(b), buf_len(b), r->sep, back,
					&err), 0, "row %zu: reverse: %s", i,
					mbname_error_str(err));
				cr_assert_str_eq(buf_str(back), r->name,
						 "row %zu", i);
			}
		}

		buf_reset(b);
		ret = mbname_to_mbox_path(r->name, r->sep, "mail", b, &err);
		if (r->mbox == NULL) {
			cr_assert_eq(ret, -1, "row %zu \"%s\": mbox got \"%s\"",
				     i, r->name, buf_str(b));
			cr_assert_eq(err, r->berr, "row %zu: mbox err %d, want "
				     "%d", i, err, r->berr);
			cr_assert_eq(buf_len(b), 0, "row %zu", i);
		} else {
			cr_assert_eq(ret, 0, "row %zu \"%s\": mbox: %s", i,
				     r->name, mbname_error_str(err));
			cr_assert_str_eq(buf_str(b), r->mbox, "row %zu", i);
			buf_reset(back);
			cr_assert_eq(mbname_from_mbox_path(
				buf_str(b) + 5, buf_len(b) - 5, r->sep, back,
				&err), 0, "row %zu: reverse: %s", i,
				mbname_error_str(err));
			cr_assert_str_eq(buf_str(back), r->name, "row %zu", i);
		}
	}
	buf_free(&back);
	buf_free(&b);
}

Test(mbname, mbox_root_empty)
{
	struct buf *b = buf_new(256);
	enum mbname_error err;

	cr_assert_eq(mbname_to_mbox_path("Sub/Folder", '/', "", b, &err), 0);
	cr_assert_str_eq(buf_str(b), "Sub/Folder");
	buf_free(&b);
}

/* Directory entries other programs made: only the exact forward form of
 * a valid name is accepted. */
static const struct { const char *disk; bool maildir; } bad_disk[] = {
	{ ".", true }, { "..", true }, { "Sub", true }, { ".Sub.", true },
	{ ".Sub..Folder", true }, { "..Sub", true },
	{ ".Entw&APw", true },           /* unterminated mUTF-7 */
	{ ".&AGE-", true },              /* "a" encoded */
	{ ".inbox.Child", true },        /* not the canonical INBOX spelling */
	{ ".&AC8-etc", true },           /* a "/" hidden in mUTF-7 */
	{ ".a&AAo-b", true },            /* LF */
	{ ".\xc3\xa9", true },           /* raw 8-bit on disk */
	{ ".~root", true },
	{ "", false }, { "/etc", false }, { "Sub/", false },
	{ "Sub//x", false }, { "../x", false }, { "Sub/../../x", false },
	{ ".ssh/authorized_keys", false }, { "Sent.lock", false },
	{ "INBOX", false }, { "inbox/x", false }, { "&AC4ALg-", false },
	{ "~user/x", false },
};

Test(mbname, reverse_refuses)
{
	struct buf *b = buf_new(1024);

	for (size_t i = 0; i < sizeof(bad_disk) / sizeof(bad_disk[0]); i++) {
		enum mbname_error err = MBNAME_OK;
		const char *d = bad_disk[i].disk;
		int ret;

		buf_reset(b);
		ret = bad_disk[i].maildir ?
		    mbname_from_maildir(d, strlen(d), '/', b, &err) :
		    mbname_from_mbox_path(d, strlen(d), '/', b, &err);
		cr_assert_eq(ret, -1, "row %zu \"%s\": accepted as \"%s\"", i,
			     d, buf_str(b));
		cr_assert_neq(err, MBNAME_OK, "row %zu", i);
		cr_assert_eq(buf_len(b), 0, "row %zu", i);
	}
	buf_free(&b);
}

/* A Maildir++ directory name is one directory entry: 255 bytes. */
Test(mbname, maildir_name_max)
{
	struct buf *b = buf_new(4096);
	enum mbname_error err;
	char name[MBNAME_MAX_LEN + 1];

	memset(name, 'x', 254);
	name[254] = '\0';
	cr_assert_eq(mbname_to_maildir(name, '/', b, &err), 0);
	cr_assert_eq(buf_len(b), 255);
	buf_reset(b);
	memset(name, 'x', 255);
	name[255] = '\0';
	cr_assert_eq(mbname_to_maildir(name, '/', b, &err), -1);
	cr_assert_eq(err, MBNAME_TOO_LONG);
	/* 100 "é" fit as UTF-8 (200 bytes) but not as mUTF-7 on disk. */
	buf_reset(b);
	{
		char u[201];

		for (int k = 0; k < 100; k++)
			memcpy(u + 2 * k, "\xc3\xa9", 2);
		u[200] = '\0';
		cr_assert_eq(mbname_check(u, 200, '/', 0), MBNAME_OK);
		cr_assert_eq(mbname_to_maildir(u, '/', b, &err), -1);
		cr_assert_eq(err, MBNAME_TOO_LONG);
		cr_assert_eq(mbname_to_mbox_path(u, '/', "mail", b, &err), -1);
		cr_assert_eq(err, MBNAME_TOO_LONG);
		cr_assert_eq(buf_len(b), 0);
	}
	buf_free(&b);
}

Test(mbname, wire_out)
{
	struct buf *b = buf_new(256);

	cr_assert_eq(mbname_to_wire("Entw\xc3\xbcrfe", false, b), 0);
	cr_assert_str_eq(buf_str(b), "Entw&APw-rfe");
	buf_reset(b);
	cr_assert_eq(mbname_to_wire("Entw\xc3\xbcrfe", true, b), 0);
	cr_assert_str_eq(buf_str(b), "Entw\xc3\xbcrfe");
	buf_reset(b);
	cr_assert_eq(mbname_to_wire("bad\xc3", true, b), -1);
	cr_assert(mbname_is_inbox("INBOX"));
	cr_assert(!mbname_is_inbox("inbox"));
	cr_assert(!mbname_is_inbox("INBOX/x"));
	for (int e = MBNAME_OK; e <= MBNAME_IS_INBOX + 1; e++)
		cr_assert(mbname_error_str(e) != NULL && *mbname_error_str(e));
	buf_free(&b);
}
