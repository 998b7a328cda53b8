/*
 * Tests for SEARCH and UID SEARCH (imap/cmd-search.c, imap-search.c,
 * imap-search-text.c) and "$" in the other commands (imap-args.c),
 * against the in-memory store (fake-store.c). One session runs a table
 * of commands pipelined; each row's answer (its untagged lines and the
 * tagged line) is compared byte for byte with what RFC 9051 §6.4.4 and
 * the extensions (RFC 4731 ESEARCH, RFC 5182 SEARCHRES, RFC 5032
 * WITHIN, RFC 8514 SAVEDATE, RFC 7162 §3.1.5 MODSEQ) demand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "core/buf.h"
#include "core/str.h"
#include "imap/imap-search-text.h"
#include "imap/imap-search.h"
#include "imap/parser.h"
#include "storage/store.h"
#include "fake-store.h"
#include "harness.h"

#define T_TIMEOUT .timeout = 60

TestSuite(search, .fini = fake_store_reset);

/* 14-Nov-2023 22:13:20 UTC */
#define D1 1700000000
#define DAY 86400

/* Seq 1..4 are UIDs 2..5 (UID 1 is expunged first, so UIDs and
 * sequence numbers differ). Modseqs are 10 * UID (+1 per STORE). */
static void
four_msgs(void)
{
	static char m4[2200];

	fake_store_reset();
	fake_store_add_box("INBOX", 0, true);
	fake_store_add_msg("INBOX", STORE_F_DELETED, "Subject: gone\r\n\r\n",
			   D1);
	fake_store_add_msg("INBOX", STORE_F_SEEN,
		"From: Alice <alice@example.com>\r\n"
		"To: bob@example.org\r\n"
		"Subject: Hello world\r\n"
		"Date: Tue, 14 Nov 2023 10:00:00 +0100\r\n"
		"\r\n"
		"First body with needle\r\n", D1);
	fake_store_add_msg("INBOX", 0,
		"From: bob@example.org\r\n"
		"To: alice@example.com\r\n"
		"Cc: carol@example.net\r\n"
		"Subject: Re: Hello\r\n world folded\r\n"
		"Date: 15 Nov 23 08:00 GMT\r\n"
		"X-Custom: Special Value\r\n"
		"\r\n"
		"second body\r\n", D1 + DAY);
	fake_store_add_msg("INBOX", STORE_F_DELETED | STORE_F_FLAGGED,
		"Subject: three\r\n"
		"Bcc: dave@example.com\r\n"
		"\r\n"
		"third body mentions Hello\r\n", D1 + 2 * DAY);
	memset(m4, 'x', sizeof(m4) - 1);
	memcpy(m4, "Subject: four\r\nDate: garbage\r\n\r\n", 32);
	fake_store_add_msg("INBOX", STORE_F_ANSWERED | STORE_F_DRAFT, m4,
			   1600000000);
	/* Distinct modseqs, 10 * uid; SETUP's STOREs then take the box's
	 * next ones (51, 52). */
	for (uint32_t uid = 1; uid <= 5; uid++)
		fake_store_set_modseq("INBOX", uid, 10 * uid);
}

#define SETUP \
	"s SELECT INBOX\r\n" \
	"x STORE 1 +FLAGS.SILENT (\\Deleted)\r\n" \
	"y UID EXPUNGE 1\r\n" \
	"k STORE 2 +FLAGS.SILENT ($Junk)\r\n"

struct row {
	const char *cmd;     /* after "tN " */
	const char *want;    /* untagged lines; "" none */
	const char *reply;   /* the tagged line after "tN " */
};

#define OK_S "OK SEARCH completed."
#define OK_U "OK UID SEARCH completed."

static const struct row rows[] = {
	/* flags (RFC 9051 §6.4.4) */
	{ "SEARCH ALL", "* SEARCH 1 2 3 4", OK_S },
	{ "SEARCH SEEN", "* SEARCH 1", OK_S },
	{ "SEARCH UNSEEN", "* SEARCH 2 3 4", OK_S },
	{ "SEARCH ANSWERED", "* SEARCH 4", OK_S },
	{ "SEARCH UNANSWERED", "* SEARCH 1 2 3", OK_S },
	{ "SEARCH DELETED", "* SEARCH 3", OK_S },
	{ "SEARCH UNDELETED", "* SEARCH 1 2 4", OK_S },
	{ "SEARCH FLAGGED", "* SEARCH 3", OK_S },
	{ "SEARCH UNFLAGGED", "* SEARCH 1 2 4", OK_S },
	{ "SEARCH DRAFT", "* SEARCH 4", OK_S },
	{ "SEARCH UNDRAFT", "* SEARCH 1 2 3", OK_S },
	{ "search seen", "* SEARCH 1", OK_S },
	/* every message is \Recent to the first session */
	{ "SEARCH RECENT", "* SEARCH 1 2 3 4", OK_S },
	{ "SEARCH NEW", "* SEARCH 2 3 4", OK_S },
	{ "SEARCH OLD", "* SEARCH", OK_S },
	/* keywords: case-insensitive (§2.3.2); unknown matches nothing */
	{ "SEARCH KEYWORD $Junk", "* SEARCH 2", OK_S },
	{ "SEARCH KEYWORD $JUNK", "* SEARCH 2", OK_S },
	{ "SEARCH UNKEYWORD $Junk", "* SEARCH 1 3 4", OK_S },
	{ "SEARCH KEYWORD Nope", "* SEARCH", OK_S },
	{ "SEARCH UNKEYWORD Nope", "* SEARCH 1 2 3 4", OK_S },
	/* sequence sets; beyond the mailbox matches nothing */
	{ "SEARCH 2:3", "* SEARCH 2 3", OK_S },
	{ "SEARCH *", "* SEARCH 4", OK_S },
	{ "SEARCH 3:*", "* SEARCH 3 4", OK_S },
	{ "SEARCH 4:2", "* SEARCH 2 3 4", OK_S },
	{ "SEARCH 1,4", "* SEARCH 1 4", OK_S },
	{ "SEARCH 7", "* SEARCH", OK_S },
	{ "SEARCH 3:9", "* SEARCH 3 4", OK_S },
	{ "SEARCH UID 3", "* SEARCH 2", OK_S },
	{ "SEARCH UID 4:*", "* SEARCH 3 4", OK_S },
	{ "SEARCH UID 100:*", "* SEARCH 4", OK_S },
	{ "SEARCH UID 1", "* SEARCH", OK_S },
	/* UID SEARCH answers UIDs; its keys still take sequence numbers */
	{ "UID SEARCH ALL", "* SEARCH 2 3 4 5", OK_U },
	{ "UID SEARCH 1", "* SEARCH 2", OK_U },
	{ "UID SEARCH UID 3:4", "* SEARCH 3 4", OK_U },
	{ "UID SEARCH UID 1", "* SEARCH", OK_U },
	/* internal date, day in UTC, time disregarded */
	{ "SEARCH BEFORE 15-Nov-2023", "* SEARCH 1 4", OK_S },
	{ "SEARCH ON 15-Nov-2023", "* SEARCH 2", OK_S },
	{ "SEARCH ON \"15-nov-2023\"", "* SEARCH 2", OK_S },
	{ "SEARCH SINCE 15-Nov-2023", "* SEARCH 2 3", OK_S },
	{ "SEARCH ON 5-Nov-2023", "* SEARCH", OK_S },
	{ "SEARCH ON 13-Sep-2020", "* SEARCH 4", OK_S },
	{ "SEARCH ON 29-Feb-2024", "* SEARCH", OK_S },
	/* SAVEDATE (RFC 8514 §4.3): no save dates are kept, so the
	 * internal date stands in, and SAVEDATESUPPORTED matches none */
	{ "SEARCH SAVEDON 16-Nov-2023", "* SEARCH 3", OK_S },
	{ "SEARCH SAVEDBEFORE 15-Nov-2023", "* SEARCH 1 4", OK_S },
	{ "SEARCH SAVEDSINCE 16-Nov-2023", "* SEARCH 3", OK_S },
	{ "SEARCH SAVEDATESUPPORTED", "* SEARCH", OK_S },
	/* WITHIN (RFC 5032): the messages are years old */
	{ "SEARCH OLDER 1", "* SEARCH 1 2 3 4", OK_S },
	{ "SEARCH YOUNGER 1", "* SEARCH", OK_S },
	{ "SEARCH YOUNGER 4294967295", "* SEARCH 1 2 3 4", OK_S },
	{ "SEARCH OR OLDER 3600 YOUNGER 3600", "* SEARCH 1 2 3 4", OK_S },
	/* sizes (RFC822.SIZE) */
	{ "SEARCH LARGER 1000", "* SEARCH 4", OK_S },
	{ "SEARCH SMALLER 1000", "* SEARCH 1 2 3", OK_S },
	{ "SEARCH LARGER 0", "* SEARCH 1 2 3 4", OK_S },
	{ "SEARCH SMALLER 2199", "* SEARCH 1 2 3", OK_S },
	{ "SEARCH SMALLER 2200", "* SEARCH 1 2 3 4", OK_S },
	/* header keys: field name, unfolded, ASCII case-insensitive */
	{ "SEARCH FROM alice", "* SEARCH 1", OK_S },
	{ "SEARCH FROM ALICE", "* SEARCH 1", OK_S },
	{ "SEARCH TO alice", "* SEARCH 2", OK_S },
	{ "SEARCH CC carol", "* SEARCH 2", OK_S },
	{ "SEARCH BCC dave", "* SEARCH 3", OK_S },
	{ "SEARCH SUBJECT hello", "* SEARCH 1 2", OK_S },
	{ "SEARCH SUBJECT \"hello world\"", "* SEARCH 1 2", OK_S },
	{ "SEARCH SUBJECT \"world folded\"", "* SEARCH 2", OK_S },
	{ "SEARCH SUBJECT \"\"", "* SEARCH 1 2 3 4", OK_S },
	{ "SEARCH HEADER X-Custom \"\"", "* SEARCH 2", OK_S },
	{ "SEARCH HEADER x-custom \"special VALUE\"", "* SEARCH 2", OK_S },
	{ "SEARCH HEADER Date \"\"", "* SEARCH 1 2 4", OK_S },
	{ "SEARCH HEADER Subject body", "* SEARCH", OK_S },
	{ "SEARCH FROM example.org", "* SEARCH 2", OK_S },
	/* BODY: after the header; TEXT: all of it */
	{ "SEARCH BODY needle", "* SEARCH 1", OK_S },
	{ "SEARCH BODY hello", "* SEARCH 3", OK_S },
	{ "SEARCH BODY subject", "* SEARCH", OK_S },
	{ "SEARCH TEXT hello", "* SEARCH 1 2 3", OK_S },
	{ "SEARCH TEXT \"\"", "* SEARCH 1 2 3 4", OK_S },
	{ "SEARCH TEXT xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "* SEARCH 4", OK_S },
	{ "SEARCH BODY {6+}\r\nNEEDLE", "* SEARCH 1", OK_S },
	{ "SEARCH BODY \"body with\"", "* SEARCH 1", OK_S },
	/* SENT*: the Date header's day as the sender wrote it (message 1
	 * is 14 Nov in +0100, 22:13 UTC: still the 14th); a missing (3) or
	 * unparsable (4) Date gives way to INTERNALDATE (RFC 5256 §2.2) */
	{ "SEARCH SENTON 14-Nov-2023", "* SEARCH 1", OK_S },
	{ "SEARCH SENTON 15-Nov-2023", "* SEARCH 2", OK_S },
	{ "SEARCH SENTBEFORE 15-Nov-2023", "* SEARCH 1 4", OK_S },
	{ "SEARCH SENTSINCE 1-Jan-2000", "* SEARCH 1 2 3 4", OK_S },
	{ "SEARCH SENTON 16-Nov-2023", "* SEARCH 3", OK_S },
	{ "SEARCH SENTON 13-Sep-2020", "* SEARCH 4", OK_S },
	{ "SEARCH NOT SENTSINCE 15-Nov-2023", "* SEARCH 1 4", OK_S },
	/* AND, OR, NOT, lists and their precedence */
	{ "SEARCH NOT SEEN", "* SEARCH 2 3 4", OK_S },
	{ "SEARCH NOT NOT SEEN", "* SEARCH 1", OK_S },
	{ "SEARCH OR SEEN DELETED", "* SEARCH 1 3", OK_S },
	{ "SEARCH OR SEEN OR DELETED DRAFT", "* SEARCH 1 3 4", OK_S },
	{ "SEARCH (SEEN FLAGGED)", "* SEARCH", OK_S },
	{ "SEARCH (UNSEEN UNDELETED)", "* SEARCH 2 4", OK_S },
	{ "SEARCH NOT (SEEN)", "* SEARCH 2 3 4", OK_S },
	{ "SEARCH OR (SEEN) (DRAFT ANSWERED)", "* SEARCH 1 4", OK_S },
	{ "SEARCH NOT SEEN DELETED", "* SEARCH 3", OK_S },
	{ "SEARCH OR SEEN DELETED FLAGGED", "* SEARCH 3", OK_S },
	{ "SEARCH NOT (OR SEEN DELETED)", "* SEARCH 2 4", OK_S },
	{ "SEARCH NOT (SEEN OR DELETED DRAFT)", "* SEARCH 1 2 3 4", OK_S },
	{ "SEARCH ((((UNDELETED))) BODY body)", "* SEARCH 1 2", OK_S },
	{ "SEARCH OR BODY needle SUBJECT three", "* SEARCH 1 3", OK_S },
	{ "SEARCH 1:3 NOT 2", "* SEARCH 1 3", OK_S },
	/* CHARSET: what lib/mail/charset converts (BAD wins over
	 * BADCHARSET) */
	{ "SEARCH CHARSET UTF-8 BODY needle", "* SEARCH 1", OK_S },
	{ "SEARCH CHARSET us-ascii ALL", "* SEARCH 1 2 3 4", OK_S },
	{ "SEARCH CHARSET \"utf-8\" SEEN", "* SEARCH 1", OK_S },
	{ "SEARCH CHARSET ISO-8859-1 ALL", "* SEARCH 1 2 3 4", OK_S },
	{ "SEARCH CHARSET X-NONESUCH ALL", "",
	  "NO [BADCHARSET (" SEARCH_CHARSETS ")] Unsupported charset." },
	{ "SEARCH CHARSET KOI8-R FROB", "", "BAD Unknown search key." },
	/* ESEARCH (RFC 4731) */
	{ "SEARCH RETURN (MIN MAX COUNT) UNSEEN",
	  "* ESEARCH (TAG \"t\") MIN 2 MAX 4 COUNT 3", OK_S },
	{ "SEARCH RETURN () UNFLAGGED",
	  "* ESEARCH (TAG \"t\") ALL 1:2,4", OK_S },
	{ "SEARCH RETURN (ALL) OR 1 3:4",
	  "* ESEARCH (TAG \"t\") ALL 1,3:4", OK_S },
	{ "UID SEARCH RETURN (ALL) ALL",
	  "* ESEARCH (TAG \"t\") UID ALL 2:5", OK_U },
	{ "UID SEARCH RETURN (MIN MAX) ALL",
	  "* ESEARCH (TAG \"t\") UID MIN 2 MAX 5", OK_U },
	{ "SEARCH RETURN (COUNT) KEYWORD Nope",
	  "* ESEARCH (TAG \"t\") COUNT 0", OK_S },
	{ "SEARCH RETURN (MIN) KEYWORD Nope", "* ESEARCH (TAG \"t\")", OK_S },
	{ "SEARCH RETURN (MIN) CHARSET UTF-8 SEEN",
	  "* ESEARCH (TAG \"t\") MIN 1", OK_S },
	/* SEARCHRES (RFC 5182): SAVE alone answers nothing; "$" holds
	 * UIDs, so it means the same messages everywhere */
	{ "SEARCH RETURN (SAVE) UNSEEN", "", OK_S },
	{ "SEARCH $", "* SEARCH 2 3 4", OK_S },
	{ "UID SEARCH $", "* SEARCH 3 4 5", OK_U },
	{ "SEARCH $ DELETED", "* SEARCH 3", OK_S },
	{ "SEARCH UID $", "* SEARCH 2 3 4", OK_S },
	{ "SEARCH OR $ 1", "* SEARCH 1 2 3 4", OK_S },
	{ "FETCH $ (UID)", "* 2 FETCH (UID 3)\r\n* 3 FETCH (UID 4)\r\n"
	  "* 4 FETCH (UID 5)", "OK FETCH completed." },
	{ "UID FETCH $ (FLAGS)", "* 2 FETCH (UID 3 FLAGS ($Junk \\Recent))"
	  "\r\n* 3 FETCH (UID 4 FLAGS (\\Flagged \\Deleted \\Recent))\r\n"
	  "* 4 FETCH (UID 5 FLAGS (\\Answered \\Draft \\Recent))",
	  "OK FETCH completed." },
	{ "FETCH 1,$ (UID)", "* 1 FETCH (UID 2)\r\n* 2 FETCH (UID 3)\r\n"
	  "* 3 FETCH (UID 4)\r\n* 4 FETCH (UID 5)", "OK FETCH completed." },
	/* a BAD SEARCH leaves "$" as it was (§2.1) */
	{ "SEARCH RETURN (SAVE) FROB", "", "BAD Unknown search key." },
	{ "SEARCH $", "* SEARCH 2 3 4", OK_S },
	/* SAVE with MIN/MAX only saves those (§2.4) */
	{ "SEARCH RETURN (SAVE MIN) UNSEEN", "* ESEARCH (TAG \"t\") MIN 2",
	  OK_S },
	{ "SEARCH $", "* SEARCH 2", OK_S },
	{ "SEARCH RETURN (MAX SAVE MIN) UNSEEN",
	  "* ESEARCH (TAG \"t\") MIN 2 MAX 4", OK_S },
	{ "SEARCH $", "* SEARCH 2 4", OK_S },
	{ "SEARCH RETURN (SAVE MIN COUNT) UNSEEN",
	  "* ESEARCH (TAG \"t\") MIN 2 COUNT 3", OK_S },
	{ "SEARCH $", "* SEARCH 2 3 4", OK_S },
	/* a SEARCH ... SAVE answered NO empties it */
	{ "SEARCH RETURN (SAVE) CHARSET X-FOO ALL", "",
	  "NO [BADCHARSET (" SEARCH_CHARSETS ")] Unsupported charset." },
	{ "SEARCH $", "* SEARCH", OK_S },
	{ "FETCH $ (UID)", "", "OK FETCH completed." },
	{ "SEARCH RETURN (SAVE) KEYWORD Nope", "", OK_S },
	{ "STORE $ +FLAGS (\\Seen)", "", "OK STORE completed." },
	/* FETCH SAVEDATE (RFC 8514 §4.2): NIL */
	{ "FETCH 1 (SAVEDATE)", "* 1 FETCH (SAVEDATE NIL)",
	  "OK FETCH completed." },
	/* BAD: syntax and limits */
	{ "SEARCH", "", "BAD Missing search key." },
	{ "SEARCH FROB", "", "BAD Unknown search key." },
	{ "SEARCH \"ALL\"", "", "BAD Expected a search key." },
	{ "SEARCH ON 32-Jan-2020", "", "BAD Invalid search date." },
	{ "SEARCH ON 29-Feb-2023", "", "BAD Invalid search date." },
	{ "SEARCH ON 1-Jan-20", "", "BAD Invalid search date." },
	{ "SEARCH ON 01-Foo-2020", "", "BAD Invalid search date." },
	{ "SEARCH ON", "", "BAD Invalid search date." },
	{ "SEARCH BEFORE 1-Jan-2020x", "", "BAD Invalid search date." },
	{ "SEARCH LARGER x", "", "BAD Invalid number in search key." },
	{ "SEARCH LARGER -1", "", "BAD Invalid number in search key." },
	{ "SEARCH LARGER 99999999999999999999", "",
	  "BAD Invalid number in search key." },
	{ "SEARCH OLDER 0", "", "BAD Invalid number in search key." },
	{ "SEARCH MODSEQ 01", "", "BAD Invalid number in search key." },
	{ "SEARCH MODSEQ \"/foo\" all 1", "", "BAD Invalid MODSEQ entry "
	  "name." },
	{ "SEARCH MODSEQ \"/flags/\\\\Seen\" mine 1", "",
	  "BAD Invalid MODSEQ entry type." },
	{ "SEARCH UID", "", "BAD Invalid sequence set in search key." },
	{ "SEARCH UID x", "", "BAD Invalid sequence set in search key." },
	{ "SEARCH 0", "", "BAD Invalid sequence set in search key." },
	{ "SEARCH 1:", "", "BAD Invalid sequence set in search key." },
	{ "SEARCH OR SEEN", "", "BAD Missing search key." },
	{ "SEARCH NOT", "", "BAD Missing search key." },
	{ "SEARCH ()", "", "BAD Empty search key list." },
	{ "SEARCH KEYWORD \\Seen", "", "BAD Invalid keyword." },
	{ "SEARCH KEYWORD", "", "BAD Expected a keyword." },
	{ "SEARCH HEADER", "", "BAD Expected a search string." },
	{ "SEARCH HEADER Subject", "", "BAD Expected a search string." },
	{ "SEARCH HEADER \"a b\" x", "", "BAD Invalid header field name." },
	{ "SEARCH HEADER \"\" x", "", "BAD Invalid header field name." },
	{ "SEARCH FROM (x)", "", "BAD Expected a search string." },
	{ "SEARCH BODY {3+}\r\na\0b", "", "BAD Expected a search string." },
	{ "SEARCH RETURN (FROB) ALL", "", "BAD Unknown RETURN option." },
	{ "SEARCH RETURN ALL", "", "BAD Expected a list of RETURN options." },
	{ "SEARCH RETURN (MIN)", "", "BAD Missing search key." },
	{ "SEARCH CHARSET", "", "BAD Expected a charset." },
	{ "SEARCH CHARSET UTF-8", "", "BAD Missing search key." },
	{ "SEARCH ALL ALLX", "", "BAD Unknown search key." },
	{ "SEARCH VERYLONGKEYWORDTHATISNOTAKEYATALL", "",
	  "BAD Unknown search key." },
};

/* The lines of out from pos up to and including the line that starts
 * with tag + " "; *pos moves past it. NULL if there is none. */
static char *
answer_of(const char *out, size_t *pos, const char *tag, char **reply)
{
	size_t tlen = strlen(tag);
	const char *p = out + *pos, *start = p;

	while (*p != '\0') {
		const char *eol = strstr(p, "\r\n");

		if (eol == NULL)
			return NULL;
		if (strncmp(p, tag, tlen) == 0 && p[tlen] == ' ') {
			char *untagged = xstrndup(start, (size_t)(p - start));

			*reply = xstrndup(p + tlen + 1,
					  (size_t)(eol - p - tlen - 1));
			*pos = (size_t)(eol + 2 - out);
			return untagged;
		}
		p = eol + 2;
	}
	return NULL;
}

/* Runs rows[0..n-1] in one session after SETUP; compares each. */
static void
run_rows(const struct row *r, size_t n)
{
	struct buf *in = buf_new(1u << 20);
	struct sess s;
	size_t pos;
	char *eol;

	cr_assert(buf_append_str(in, SETUP) == 0);
	for (size_t i = 0; i < n; i++) {
		/* rows may hold a NUL in a literal: copy by length */
		const char *c = r[i].cmd;
		size_t len = strlen(c);

		if (strstr(c, "{3+}\r\na") != NULL)
			len += 2;   /* "a\0b" */
		cr_assert(buf_printf(in, "t%zu ", i) == 0);
		cr_assert(buf_append(in, c, len) == 0);
		cr_assert(buf_append_str(in, "\r\n") == 0);
	}
	cr_assert(buf_append_str(in, "z LOGOUT\r\n") == 0);
	sess_script(&s, NULL, (const char *)buf_data(in), buf_len(in));
	eol = strstr(s.got, "k OK");
	cr_assert_not_null(eol, "set-up failed: %s\nlog %s", s.got, s.log);
	pos = (size_t)(strstr(eol, "\r\n") + 2 - s.got);
	for (size_t i = 0; i < n; i++) {
		char tag[16], *reply = NULL, *untagged, *want;
		struct buf *w = buf_new(1u << 16);

		snprintf(tag, sizeof(tag), "t%zu", i);
		untagged = answer_of(s.got, &pos, tag, &reply);
		cr_assert_not_null(untagged, "row %zu (%s): no answer in\n%s",
				   i, r[i].cmd, s.got + pos);
		/* ESEARCH's (TAG "t") names the row's tag */
		for (const char *p = r[i].want; *p != '\0'; p++) {
			if (str_has_prefix(p, "(TAG \"t\")")) {
				buf_printf(w, "(TAG \"%s\")", tag);
				p += strlen("(TAG \"t\")") - 1;
			} else {
				buf_append_byte(w, (uint8_t)*p);
			}
		}
		if (buf_len(w) > 0)
			buf_append_str(w, "\r\n");
		want = xstrdup(buf_str(w));
		cr_expect_str_eq(untagged, want, "row %zu (%s): got\n%s\nwant\n"
				 "%s", i, r[i].cmd, untagged, want);
		cr_expect_str_eq(reply, r[i].reply, "row %zu (%s): reply %s, "
				 "want %s", i, r[i].cmd, reply, r[i].reply);
		free(untagged);
		free(reply);
		free(want);
		buf_free(&w);
	}
	buf_free(&in);
	sess_free(&s);
}

Test(search, table, T_TIMEOUT)
{
	four_msgs();
	run_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

/* The text keys on decoded mail (RFC 9051 §6.4.4: BODY, TEXT and the
 * header keys match substrings of the decoded text; i;unicode-casemap,
 * RFC 5051). Seq 1..4 are UIDs 2..5, as in four_msgs. */
static void
encoded_msgs(void)
{
	fake_store_reset();
	fake_store_add_box("INBOX", 0, true);
	fake_store_add_msg("INBOX", 0, "Subject: gone\r\n\r\n", D1);
	fake_store_add_msg("INBOX", 0,
		"From: =?iso-8859-1?q?J=FCrgen?= <jurgen@example.de>\r\n"
		"Subject: =?utf-8?q?Stra=C3=9Fe_und_Caf=C3=A9?=\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n"
		"\r\n"
		"Gr=C3=BC=C3=9Fe aus M=C3=BCn=\r\nchen\r\n", D1);
	fake_store_add_msg("INBOX", 0,
		"From: bob@example.org\r\n"
		"Subject: parts\r\n"
		"Content-Type: multipart/mixed; boundary=\"xx\"\r\n"
		"\r\n"
		"--xx\r\n"
		"Content-Type: text/plain; charset=iso-8859-1\r\n"
		"Content-Transfer-Encoding: base64\r\n"
		"\r\n"
		"Y2Fm6SBjcuhtZSBhbHBoYQ==\r\n"     /* "café crème alpha" */
		"--xx\r\n"
		"Content-Type: text/html\r\n"
		"\r\n"
		"beta<p>Hello&nbsp;<b>World</b></p>\r\n"
		"--xx\r\n"
		"Content-Type: application/octet-stream\r\n"
		"\r\n"
		"secretword\r\n"
		"--xx--\r\n", D1);
	fake_store_add_msg("INBOX", 0,
		"Subject: STRASSE\r\n"
		"\r\n"
		"Strasse\r\n", D1);
	fake_store_add_msg("INBOX", 0,
		"Subject: forward\r\n"
		"Content-Type: message/rfc822\r\n"
		"\r\n"
		"Subject: inner subject\r\n"
		"\r\n"
		"inner text\r\n", D1);
}

static const struct row encoded_rows[] = {
	/* RFC 2047 words decoded, then casemapped (both sides) */
	{ "SEARCH SUBJECT \"caf\xc3\xa9\"", "* SEARCH 1", OK_S },
	{ "SEARCH SUBJECT \"CAF\xc3\x89\"", "* SEARCH 1", OK_S },
	{ "SEARCH SUBJECT \"cafe\xcc\x81\"", "* SEARCH 1", OK_S },
	/* é is E U+0301 after the casemap, so "cafe" is a substring of
	 * "café": the collation's actual behaviour (Dovecot's too) */
	{ "SEARCH SUBJECT cafe", "* SEARCH 1", OK_S },
	{ "SEARCH SUBJECT cafes", "* SEARCH", OK_S },
	/* RFC 5051 §2 (2)(a): "If the codepoint has a titlecase property
	 * in UnicodeData.txt (this is normally the same as the uppercase
	 * property), the codepoint is converted to the codepoints in the
	 * titlecase property." UnicodeData.txt gives U+00DF (sharp s) no
	 * titlecase (only SpecialCasing.txt maps it to "Ss"), so "straße"
	 * stays STRAßE and "STRASSE" is a different string. */
	{ "SEARCH SUBJECT \"stra\xc3\x9f" "e\"", "* SEARCH 1", OK_S },
	{ "SEARCH SUBJECT \"STRA\xc3\x9f" "E\"", "* SEARCH 1", OK_S },
	{ "SEARCH SUBJECT strasse", "* SEARCH 3", OK_S },
	{ "SEARCH TEXT STRASSE", "* SEARCH 3", OK_S },
	/* addresses: the decoded display name and the address */
	{ "SEARCH FROM \"j\xc3\xbcrgen\"", "* SEARCH 1", OK_S },
	{ "SEARCH FROM \"J\xc3\x9cRGEN\"", "* SEARCH 1", OK_S },
	{ "SEARCH FROM jurgen@example.de", "* SEARCH 1", OK_S },
	{ "SEARCH FROM \"=?iso\"", "* SEARCH", OK_S },
	/* CHARSET: the needle is converted to UTF-8 first */
	{ "SEARCH CHARSET ISO-8859-1 FROM {6+}\r\nJ\xfcrgen", "* SEARCH 1",
	  OK_S },
	{ "SEARCH CHARSET ISO-8859-1 BODY {5+}\r\ncr\xe8me", "* SEARCH 2",
	  OK_S },
	{ "SEARCH CHARSET WINDOWS-1252 SUBJECT {6+}\r\nSTRA\xdf" "E",
	  "* SEARCH 1", OK_S },
	{ "SEARCH CHARSET KOI8-R BODY {5+}\r\ncr\xe8me", "* SEARCH", OK_S },
	/* BODY: transfer-decoded; a word split by a QP soft line break */
	{ "SEARCH BODY \"m\xc3\xbcnchen\"", "* SEARCH 1", OK_S },
	{ "SEARCH BODY \"GR\xc3\x9c\xc3\x9f" "E AUS\"", "* SEARCH 1",
	  OK_S },
	{ "SEARCH BODY \"cr\xc3\xa8me alpha\"", "* SEARCH 2", OK_S },
	/* HTML reduced to its text: entities decoded, tags gone */
	{ "SEARCH BODY \"hello world\"", "* SEARCH 2", OK_S },
	{ "SEARCH BODY nbsp", "* SEARCH", OK_S },
	/* no match across two parts; attachments are not text */
	{ "SEARCH BODY alphabeta", "* SEARCH", OK_S },
	{ "SEARCH BODY alpha", "* SEARCH 2", OK_S },
	{ "SEARCH BODY secretword", "* SEARCH", OK_S },
	{ "SEARCH TEXT secretword", "* SEARCH", OK_S },
	/* message/rfc822: its text is body, its header only in TEXT */
	{ "SEARCH BODY \"inner text\"", "* SEARCH 4", OK_S },
	{ "SEARCH BODY \"inner subject\"", "* SEARCH", OK_S },
	{ "SEARCH TEXT \"inner subject\"", "* SEARCH 4", OK_S },
	{ "SEARCH SUBJECT inner", "* SEARCH", OK_S },
	/* TEXT sees header field names too; BODY does not */
	{ "SEARCH TEXT \"subject: parts\"", "* SEARCH 2", OK_S },
	{ "SEARCH BODY content-type", "* SEARCH", OK_S },
	{ "SEARCH HEADER Content-Type multipart/MIXED", "* SEARCH 2", OK_S },
	{ "SEARCH HEADER Content-Type \"\"", "* SEARCH 1 2 4", OK_S },
};

Test(search, encoded, T_TIMEOUT)
{
	encoded_msgs();
	run_rows(encoded_rows, sizeof(encoded_rows) / sizeof(encoded_rows[0]));
}

/* MODSEQ (RFC 7162 §3.1.5): (MODSEQ n) is the highest returned. A
 * SEARCH with MODSEQ enables CONDSTORE (§3.1), so the first one also
 * reports the mailbox's HIGHESTMODSEQ; in a session of its own, so that
 * the FETCHes of the main table carry no MODSEQ. */
static const struct row modseq_rows[] = {
	{ "SEARCH MODSEQ 35", "* OK [HIGHESTMODSEQ 52] Highest mailbox "
	  "mod-sequence.\r\n* SEARCH 2 3 4 (MODSEQ 52)", OK_S },
	{ "SEARCH MODSEQ \"/flags/\\\\Seen\" all 31", "* SEARCH 2 3 4 "
	  "(MODSEQ 52)", OK_S },
	{ "SEARCH MODSEQ 1000", "* SEARCH", OK_S },
	{ "SEARCH MODSEQ 0 SEEN", "* SEARCH 1 (MODSEQ 20)", OK_S },
	{ "UID SEARCH MODSEQ 31", "* SEARCH 3 4 5 (MODSEQ 52)", OK_U },
	{ "SEARCH RETURN (count all) MODSEQ 1",
	  "* ESEARCH (TAG \"t\") COUNT 4 ALL 1:4 MODSEQ 52", OK_S },
	{ "SEARCH RETURN (MIN) MODSEQ 1",
	  "* ESEARCH (TAG \"t\") MIN 1 MODSEQ 20", OK_S },
};

Test(search, modseq_table, T_TIMEOUT)
{
	four_msgs();
	run_rows(modseq_rows, sizeof(modseq_rows) / sizeof(modseq_rows[0]));
}

/* Limits: each answered BAD with a text saying which. */
Test(search, limits, T_TIMEOUT)
{
	struct buf *b = buf_new(1u << 20);
	static struct row r[5];
	char *deep, *many, *longs, *texts, *wide;

	four_msgs();
	/* NOT nested past SEARCH_MAX_DEPTH */
	for (int i = 0; i < SEARCH_MAX_DEPTH + 1; i++)
		buf_append_str(b, "NOT ");
	buf_append_str(b, "ALL");
	deep = xasprintf("SEARCH %s", buf_str(b));
	buf_reset(b);
	for (int i = 0; i < SEARCH_MAX_KEYS + 1; i++)
		buf_append_str(b, " ALL");
	many = xasprintf("SEARCH%s", buf_str(b));
	buf_reset(b);
	for (int i = 0; i < SEARCH_MAX_STRING + 1; i++)
		buf_append_byte(b, 'a');
	longs = xasprintf("SEARCH BODY {%d+}\r\n%s", SEARCH_MAX_STRING + 1,
			  buf_str(b));
	buf_reset(b);
	for (int i = 0; i < SEARCH_MAX_TEXT_KEYS + 1; i++)
		buf_append_str(b, " BODY x");
	texts = xasprintf("SEARCH%s", buf_str(b));
	/* exactly at the limits: fine */
	buf_reset(b);
	for (int i = 0; i < SEARCH_MAX_DEPTH - 1; i++)
		buf_append_str(b, "NOT ");
	wide = xasprintf("SEARCH %sSEEN", buf_str(b));
	r[0] = (struct row){ deep, "", "BAD Search keys nested too deeply." };
	r[1] = (struct row){ many, "", "BAD Too many search keys." };
	r[2] = (struct row){ longs, "", "BAD Search string too long." };
	r[3] = (struct row){ texts, "", "BAD Too many text search keys." };
	r[4] = (struct row){ wide, "* SEARCH 2 3 4", OK_S };
	run_rows(r, 5);
	free(deep);
	free(many);
	free(longs);
	free(texts);
	free(wide);
	buf_free(&b);
}

#define SEL3 "s SELECT INBOX\r\n"

static void
three(void)
{
	fake_store_reset();
	fake_store_add_box("INBOX", 0, true);
	fake_store_add_msg("INBOX", STORE_F_SEEN, "Subject: a\r\n\r\nx\r\n",
			   D1);
	fake_store_add_msg("INBOX", 0, "Subject: b\r\n\r\ny\r\n", D1);
	fake_store_add_msg("INBOX", 0, "Subject: c\r\n\r\nz\r\n", D1);
}

static char *
output_after_select(const char *input)
{
	struct sess s;
	char *p, *out;

	sess_script(&s, NULL, input, 0);
	p = strstr(s.got, "s OK");
	cr_assert_not_null(p, "got %s", s.got);
	out = xstrdup(strstr(p, "\r\n") + 2);
	sess_free(&s);
	return out;
}

Test(search, no_expunge_during_search, T_TIMEOUT)
{
	char *got;

	/* RFC 9051 §7.5.1: "An EXPUNGE response MUST NOT be sent ...
	 * while responding to a FETCH, STORE, or SEARCH command". The
	 * message stays in the view (its flags still known) until NOOP. */
	three();
	fake_store_event(1, FAKE_EXPUNGE, "INBOX", 2, 0, NULL);
	got = output_after_select(SEL3 "a SEARCH UNSEEN\r\n"
				  "b SEARCH SUBJECT b\r\nn NOOP\r\n"
				  "c SEARCH UNSEEN\r\n");
	cr_expect_str_eq(got,
		"* SEARCH 2 3\r\n"
		"a OK SEARCH completed.\r\n"
		/* its text is gone: no match, not an error */
		"* SEARCH\r\n"
		"b OK SEARCH completed.\r\n"
		"* 2 EXPUNGE\r\n"
		"n OK NOOP completed.\r\n"
		"* SEARCH 2\r\n"
		"c OK SEARCH completed.\r\n", "got\n%s", got);
	free(got);

	/* "An EXPUNGE response MAY be sent during a UID command." */
	three();
	fake_store_event(1, FAKE_EXPUNGE, "INBOX", 2, 0, NULL);
	got = output_after_select(SEL3 "a UID SEARCH UNSEEN\r\n"
				  "b SEARCH RETURN (SAVE) ALL\r\n");
	cr_expect_str_eq(got,
		"* SEARCH 2 3\r\n"
		"* 2 EXPUNGE\r\n"
		"a OK UID SEARCH completed.\r\n"
		"b OK SEARCH completed.\r\n", "got\n%s", got);
	free(got);
}

Test(search, saved_result_follows_expunge_and_reselect, T_TIMEOUT)
{
	char *got;

	/* RFC 5182 §2.1: an expunged message leaves "$"; SELECT empties
	 * it. */
	three();
	fake_store_event(2, FAKE_EXPUNGE, "INBOX", 1, 0, NULL);
	got = output_after_select(SEL3 "a SEARCH RETURN (SAVE) ALL\r\n"
				  "n NOOP\r\nb SEARCH $\r\nc FETCH $ (UID)\r\n"
				  "s2 SELECT INBOX\r\nd SEARCH $\r\n"
				  "e UID SEARCH UID $\r\n");
	cr_expect(strstr(got, "a OK SEARCH completed.\r\n"
			 "* 1 EXPUNGE\r\n"
			 "n OK NOOP completed.\r\n"
			 "* SEARCH 1 2\r\n"
			 "b OK SEARCH completed.\r\n"
			 "* 1 FETCH (UID 2)\r\n* 2 FETCH (UID 3)\r\n"
			 "c OK FETCH completed.\r\n") != NULL, "got\n%s", got);
	cr_expect(strstr(got, "s2 OK [READ-WRITE] SELECT completed.\r\n"
			 "* SEARCH\r\nd OK SEARCH completed.\r\n"
			 "* SEARCH\r\ne OK UID SEARCH completed.\r\n") != NULL,
		  "got\n%s", got);
	free(got);
}

/* Sequence numbers are the ones the client was told: a message that
 * arrived meanwhile is not in the answer; EXISTS follows it. */
Test(search, new_mail_after_the_answer, T_TIMEOUT)
{
	char *got;

	three();
	fake_store_event(1, FAKE_APPEND, "INBOX", 0, 0,
			 "Subject: d\r\n\r\nw\r\n");
	got = output_after_select(SEL3 "a SEARCH ALL\r\nb SEARCH ALL\r\n");
	cr_expect_str_eq(got,
		"* SEARCH 1 2 3\r\n"
		"* 4 EXISTS\r\n* 4 RECENT\r\n"
		"a OK SEARCH completed.\r\n"
		"* SEARCH 1 2 3 4\r\n"
		"b OK SEARCH completed.\r\n", "got\n%s", got);
	free(got);
}

/* A 50 MB message is searched in bounded memory, and a match across
 * the matcher's 64 KB read boundaries is found. */
Test(search, big_message_bounded_memory)
{
	const uint64_t size = 50u * 1024u * 1024u;
	struct sess s;
	char path[64], line[256];
	unsigned long hwm = 0;
	FILE *f;

	fake_store_reset();
	fake_store_add_box("INBOX", 0, true);
	fake_store_add_big("INBOX", size);
	sess_start(&s, NULL);
	sess_send(&s, "s SELECT INBOX\r\na SEARCH BODY XXXXXXXXXXXXXXXXXXXXXX"
		  "\r\nb SEARCH BODY XXXY\r\nc SEARCH TEXT BIG\r\n", 0);
	cr_assert(sess_read_until(&s, "c OK", 100000), "got %s", s.got);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)s.pid);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmHWM:", 6) == 0)
			hwm = strtoul(line + 6, NULL, 10);
	}
	fclose(f);
	cr_expect(strstr(s.got, "* SEARCH 1\r\na OK") != NULL, "got %s",
		  s.got);
	cr_expect(strstr(s.got, "* SEARCH\r\nb OK") != NULL, "got %s", s.got);
	cr_expect(strstr(s.got, "* SEARCH 1\r\nc OK") != NULL, "got %s",
		  s.got);
	/* the peak RSS stays far below the message's 50 MB */
	cr_expect(hwm > 0 && hwm < 20u * 1024u, "VmHWM %lu kB", hwm);
	sess_shut(&s);
	sess_read_eof(&s, 10000);
	sess_wait(&s, 5000);
	sess_free(&s);
}

/* Many matches: the "* SEARCH" line (about 70 KB, past
 * IMAP_OUTPUT_PAUSE) is written in pieces as the client reads, and
 * comes out whole. (The fake store's sync is quadratic, so not more.) */
Test(search, long_answer_is_streamed)
{
	const size_t n = 12000;
	struct sess s;
	char *p;
	size_t count = 0;

	fake_store_reset();
	fake_store_add_box("INBOX", 0, true);
	for (size_t i = 0; i < n; i++)
		fake_store_add_msg("INBOX", 0, "Subject: s\r\n\r\n", D1);
	sess_start(&s, NULL);
	sess_send(&s, "s SELECT INBOX\r\na SEARCH ALL\r\n", 0);
	cr_assert(sess_read_until(&s, "a OK", 100000), "no answer");
	p = strstr(s.got, "* SEARCH ");
	cr_assert_not_null(p);
	cr_expect(strstr(p, " 11999 12000\r\na OK SEARCH completed.\r\n")
		  != NULL, "tail wrong");
	for (; *p != '\r'; p++)
		count += *p == ' ';
	cr_expect_eq(count - 1, n, "got %zu values", count - 1);
	sess_shut(&s);
	sess_read_eof(&s, 10000);
	sess_wait(&s, 5000);
	sess_free(&s);
}

/* The Date parse of the SENT* keys (lib/mail/date.c, the day as the
 * sender wrote it). */
Test(search, date_parse)
{
	static const struct {
		const char *in;
		int y, m, d;           /* 0: must fail */
	} t[] = {
		{ "Tue, 14 Nov 2023 10:00:00 +0100", 2023, 11, 14 },
		{ "14 Nov 2023 10:00 GMT", 2023, 11, 14 },
		{ "  Mon,  1 jan 2024 00:00:00 -0800 (PST)", 2024, 1, 1 },
		{ "15 Nov 23 08:00 GMT", 2023, 11, 15 },
		{ "15 Nov 99 08:00 GMT", 1999, 11, 15 },
		{ "15 Nov 103 08:00 GMT", 2003, 11, 15 },
		{ "(comment) 3 Feb 2021", 2021, 2, 3 },
		{ "29 Feb 2024", 2024, 2, 29 },
		{ "3-Feb-2021 1:00", 2021, 2, 3 },
		{ "29 Feb 2023", 0, 0, 0 },
		{ "31 Apr 2023", 0, 0, 0 },
		{ "garbage", 0, 0, 0 },
		{ "", 0, 0, 0 },
		{ "Tue, 0 Nov 2023", 0, 0, 0 },
		{ "Tue, 14 Nox 2023", 0, 0, 0 },
		{ "Tue, 14 Nov", 0, 0, 0 },
		/* lib/mail/date.c reads a 1-digit year as obs-year (§4.3) */
		{ "Tue, 14 Nov 2", 2002, 11, 14 },
		{ "Tue, 123 Nov 2023", 0, 0, 0 },
		{ "((((((((", 0, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int64_t day = -1;
		int r = search_text_parse_date(t[i].in, strlen(t[i].in), &day);

		if (t[i].y == 0) {
			cr_expect_eq(r, -1, "%s: got day %lld, want failure",
				     t[i].in, (long long)day);
			continue;
		}
		cr_expect_eq(r, 0, "%s: failed", t[i].in);
		cr_expect_eq(day, search_days_from_civil(t[i].y,
			     (unsigned int)t[i].m, (unsigned int)t[i].d),
			     "%s: got day %lld", t[i].in, (long long)day);
	}
	cr_expect_eq(search_days_from_civil(1970, 1, 1), 0);
	cr_expect_eq(search_days_from_civil(2023, 11, 14), 1700000000 / 86400);
	cr_expect_eq(search_days_from_civil(1969, 12, 31), -1);
}

/* The evaluator in this process, against the fake store directly: the
 * keys that read the message run only on messages the cheaper keys let
 * through, whatever order the client wrote them in. */
Test(search, text_keys_run_last, T_TIMEOUT)
{
	static const struct {
		const char *program;
		unsigned int opens;    /* messages read */
		size_t matches;
	} t[] = {
		{ "BODY needle SEEN", 1, 1 },        /* only the \Seen one */
		{ "SEEN BODY needle", 1, 1 },
		{ "(BODY needle) (SEEN)", 1, 1 },
		{ "NOT BODY zz DELETED", 2, 2 },     /* the two \Deleted */
		{ "OR BODY needle SEEN", 4, 1 },     /* the 4 not \Seen */
		{ "OR SEEN BODY needle", 4, 1 },
		{ "OR (BODY hello) (FROM bob) UNSEEN", 4, 2 },
		{ "UID 4 TEXT hello SMALLER 100000", 1, 1 },
		{ "KEYWORD Nope TEXT x", 0, 0 },
	};
	struct store_settings set = { .location = "fake" };
	struct store_error err;
	struct store *st;
	struct mailbox *mb;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct pool *pool = pool_new(4096);
		struct search_program p;
		struct search_env env;
		struct imap_command cmd;
		const char *error;
		char *line = xasprintf("a SEARCH %s\r\n", t[i].program);
		unsigned int before;
		size_t n = 0;

		four_msgs();
		cr_assert_eq(store_open(&set, &st, &err), 0);
		cr_assert_eq(mailbox_open(st, "INBOX", true, &mb), 0);
		cr_assert_eq(imap_parse_command(pool, (const uint8_t *)line,
						strlen(line), &cmd, &error), 0);
		cr_assert_eq(search_parse(pool, cmd.args, cmd.n_args, &p,
					  &error), 0, "%s: %s", t[i].program,
			     error);
		memset(&env, 0, sizeof(env));
		env.store = st;
		env.mb = mb;
		env.view = mailbox_view(mb);
		env.n = env.view->n;
		env.text = search_text_new(pool, st, mb);
		search_prepare(pool, &env, &p);
		before = fake_store_msg_opens();
		for (uint32_t seq = 1; seq <= env.n; seq++)
			n += search_match(&env, &p, seq);
		search_text_end(env.text);
		cr_expect_eq(fake_store_msg_opens() - before, t[i].opens,
			     "%s: read %u messages, want %u", t[i].program,
			     fake_store_msg_opens() - before, t[i].opens);
		cr_expect_eq(n, t[i].matches, "%s: %zu matches, want %zu",
			     t[i].program, n, t[i].matches);
		cr_expect(!env.failed);
		mailbox_close(&mb);
		store_free(&st);
		pool_free(&pool);
		free(line);
	}
}

Test(search, no_charset_after_utf8_accept, T_TIMEOUT)
{
	char *got;

	three();
	got = output_after_select("e ENABLE UTF8=ACCEPT\r\n" SEL3
				  "a SEARCH CHARSET UTF-8 ALL\r\n"
				  "b SEARCH CHARSET KOI8-R ALL\r\n"
				  "c SEARCH SUBJECT b\r\n");
	/* RFC 6855 §3: "it SHOULD reject the command with a BAD". */
	cr_expect_str_eq(got,
		"a BAD No CHARSET after ENABLE UTF8=ACCEPT.\r\n"
		"b BAD No CHARSET after ENABLE UTF8=ACCEPT.\r\n"
		"* SEARCH 2\r\n"
		"c OK SEARCH completed.\r\n", "got\n%s", got);
	free(got);
}

/* Header keys of the fields the FETCH cache keeps (FROM, TO, CC, BCC,
 * SUBJECT, HEADER of an ENVELOPE field, SENT*) are answered from its
 * record of the message's header: the first SEARCH reads the messages
 * and caches them, the same SEARCH then gives the same answer with every
 * message open failing (FAKE_NO_OPEN from the first sync on). The
 * record keeps every occurrence of a field: a second From, To or
 * Subject matches as in the scan (a record of first occurrences only
 * misses seq 1 for FROM zed, TO "second" and SUBJECT later). With
 * fetch_cache_too, FETCH's records are gone too for the second pass:
 * only the SEARCH kind's records (search-fields.h) can answer it; with
 * bad, message 2 starts with that record of the SEARCH kind. */
static void
header_keys_two_passes(bool fetch_cache_too, const char *bad, size_t bad_len)
{
	static const char cmds[] =
		"SEARCH FROM zed\r\n"
		"SEARCH FROM alice\r\n"
		"SEARCH TO second\r\n"
		"SEARCH SUBJECT later\r\n"
		"SEARCH SUBJECT \"au lait\"\r\n"
		"SEARCH SUBJECT \"hidden word\"\r\n"
		"SEARCH HEADER CC \"\"\r\n"
		"SEARCH HEADER Message-ID <m2@\r\n"
		"SEARCH OR BCC dave NOT FROM example\r\n"
		"SEARCH SENTON 15-Nov-2023\r\n"
		"SEARCH SENTBEFORE 15-Nov-2023\r\n";
	struct buf *in = buf_new(8192);
	char *got, *first, *second, *mark;
	const char *p = cmds;
	int n = 0;

	fake_store_reset();
	fake_store_add_box("INBOX", 0, true);
	fake_store_add_msg("INBOX", 0,
		"From: Alice <alice@example.com>\r\n"
		"To: first@example.org\r\n"
		"Subject: one\r\n"
		"From: Zed <zed@example.net>\r\n"
		"To: second@example.org\r\n"
		"Subject: later\r\n"
		"Date: Tue, 14 Nov 2023 10:00:00 +0100\r\n"
		"\r\n"
		"From: body@example.com is not a header\r\n", D1);
	fake_store_add_msg("INBOX", 0,
		"From: bob@example.org\r\n"
		"Cc: carol@example.net\r\n"
		"Subject: =?us-ascii?q?hidden_word?=\r\n au lait\r\n"
		"Message-ID: <m2@example.org>\r\n"
		"Date: 15 Nov 23 08:00 GMT\r\n"
		"\r\n"
		"body\r\n", D1);
	fake_store_add_msg("INBOX", 0,
		"Bcc: dave@example.com\r\n"
		"From: nobody\r\n"
		"\r\n", D1);
	(void)buf_append_str(in, "s SELECT INBOX\r\n");
	for (int pass = 0; pass < 2; pass++) {
		p = cmds;
		while (*p != '\0') {
			const char *e = strstr(p, "\r\n") + 2;

			(void)buf_printf(in, "%c%d ", pass == 0 ? 'a' : 'b',
					 n++ % 11);
			(void)buf_append(in, p, (size_t)(e - p));
			p = e;
		}
		if (pass == 0)
			(void)buf_append_str(in, "n NOOP\r\n");
	}
	(void)buf_append_str(in, "z FETCH 2 BODY.PEEK[TEXT]\r\n");
	(void)buf_append_byte(in, 0);
	fake_store_event(1, FAKE_NO_OPEN, "INBOX", 0, 0, NULL);
	if (fetch_cache_too)
		fake_store_event(1, FAKE_NO_FETCH_CACHE, "INBOX", 0, 0, NULL);
	if (bad != NULL)
		fake_store_cache_set_kind("INBOX", 2, STORE_CACHE_SEARCH, bad,
					  bad_len);
	got = output_after_select((const char *)buf_data(in));
	mark = strstr(got, "n OK NOOP completed.\r\n");
	cr_assert_not_null(mark, "got\n%s", got);
	first = xstrndup(got, (size_t)(mark - got));
	second = xstrdup(mark + strlen("n OK NOOP completed.\r\n"));
	*strstr(second, "z ") = '\0';
	for (char *q = second; (q = strstr(q, "\r\nb")) != NULL; q += 3)
		q[2] = 'a';
	if (second[0] == 'b')
		second[0] = 'a';
	cr_expect_str_eq(first,
		"* SEARCH 1\r\na0 OK SEARCH completed.\r\n"
		"* SEARCH 1\r\na1 OK SEARCH completed.\r\n"
		"* SEARCH 1\r\na2 OK SEARCH completed.\r\n"
		"* SEARCH 1\r\na3 OK SEARCH completed.\r\n"
		"* SEARCH 2\r\na4 OK SEARCH completed.\r\n"
		"* SEARCH 2\r\na5 OK SEARCH completed.\r\n"
		"* SEARCH 2\r\na6 OK SEARCH completed.\r\n"
		"* SEARCH 2\r\na7 OK SEARCH completed.\r\n"
		"* SEARCH 3\r\na8 OK SEARCH completed.\r\n"
		"* SEARCH 2\r\na9 OK SEARCH completed.\r\n"
		"* SEARCH 1 3\r\na10 OK SEARCH completed.\r\n",
		"got\n%s", got);
	cr_expect_str_eq(second, first, "got\n%s", got);
	cr_expect(strstr(got, "z NO [SERVERBUG]") != NULL,
		  "the message opens really fail: got\n%s", got);
	free(first);
	free(second);
	free(got);
	buf_free(&in);
}

Test(search, header_keys_from_the_cache, T_TIMEOUT)
{
	header_keys_two_passes(false, NULL, 0);
}

Test(search, header_keys_from_their_own_record, T_TIMEOUT)
{
	header_keys_two_passes(true, NULL, 0);
}

/* A SEARCH record that does not decode exactly is a miss: made again
 * from the header, the same answers in both passes. Each bad record
 * breaks the layout in another place. A well-formed one is used as it
 * is (so a record in use shows): one claiming a Subject the message
 * does not have (casemapped, as the text is) makes SUBJECT match it. */
Test(search, malformed_search_record_is_made_again, T_TIMEOUT)
{
#define R(s) { s, sizeof(s) - 1 }
	static const struct {
		const char *data;
		size_t len;
	} bad[] = {
		R("\x11"),                               /* truncated */
		R("\x12\x02\0\0\0\0\0\0\0\0"),          /* version */
		R("\x11\x03\0\0\0\0\0\0\0\0"),          /* date state */
		R("\x11\x02\0\0\0\0\0\0\0\x01"),        /* no day, one */
		R("\x11\x02\0\0\0\0\0\0\0\0\0"),       /* empty name */
		/* a ':' in a name; a value past the end; a NUL in one */
		R("\x11\x02\0\0\0\0\0\0\0\0\x02" "a:\0\0\0\0"),
		R("\x11\x02\0\0\0\0\0\0\0\0\x01s\0\0\0\x09x"),
		R("\x11\x02\0\0\0\0\0\0\0\0\x01s\0\0\0\x03" "a\0b"),
	};
	static const char good[] = "\x11\x02\0\0\0\0\0\0\0\0"
				   "\x07Subject\0\0\0\x07MALLORY";
	char *got;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		header_keys_two_passes(true, bad[i].data, bad[i].len);
	fake_store_reset();
	fake_store_add_box("INBOX", 0, true);
	/* the word is in the body: the full-text index lets it through to
	 * the header check, which the record answers */
	fake_store_add_msg("INBOX", 0, "Subject: one\r\n\r\nmallory\r\n",
			   D1);
	fake_store_cache_set_kind("INBOX", 1, STORE_CACHE_SEARCH, good,
				  sizeof(good) - 1);
	got = output_after_select("s SELECT INBOX\r\n"
				  "a SEARCH SUBJECT mallory\r\n");
	cr_expect(strstr(got, "* SEARCH 1\r\na OK") != NULL, "got\n%s", got);
	free(got);
#undef R
}
