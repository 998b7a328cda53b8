/*
 * Tests for the message-structure items of FETCH (imap/cmd-fetch.c,
 * fetch-section.c, fetch-msg.c): ENVELOPE, BODY, BODYSTRUCTURE, the
 * sections of RFC 9051 §6.4.5 (part numbers of a multipart and of a
 * nested message/rfc822, HEADER, HEADER.FIELDS[.NOT], TEXT, MIME,
 * partials), RFC822.HEADER/TEXT, BINARY/BINARY.SIZE (RFC 3516), the
 * ALL/FULL macros, the \Seen rules and BAD for bad section specs, in
 * table-driven conversations against the in-memory store
 * (fake-store.c). The answers are compared byte for byte.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/mman.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "core/str.h"
#include "imap/fetch-cache.h"
#include "storage/store.h"
#include "fake-store.h"
#include "harness.h"

#define T_TIMEOUT .timeout = 30

TestSuite(fetch, .fini = fake_store_reset);

#define DATE 1700000000

/* 1: a plain message. */
#define M1 \
	"From: Alice <alice@example.com>\r\n" \
	"To: bob@example.org, \"Carol C\" <carol@example.net>\r\n" \
	"Subject: Hello\r\n" \
	"Date: Tue, 14 Nov 2023 10:00:00 +0100\r\n" \
	"Message-ID: <m1@example.com>\r\n" \
	"\r\n" \
	"Hi Bob\r\n"
/* 2: multipart/mixed: a quoted-printable text, a base64 part with a
 * NUL, a message/rfc822 with its own text, an x-uuencode part. */
#define M2_HDR \
	"From: bob@example.org\r\n" \
	"Subject: parts\r\n" \
	"MIME-Version: 1.0\r\n" \
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n" \
	"\r\n"
#define M2_P1_HDR \
	"Content-Type: text/plain; charset=utf-8\r\n" \
	"Content-Transfer-Encoding: quoted-printable\r\n" \
	"\r\n"
#define M2_P1 "caf=C3=A9 ok=\r\n!\r\n"
#define M2_P2_HDR \
	"Content-Type: application/octet-stream\r\n" \
	"Content-Transfer-Encoding: base64\r\n" \
	"\r\n"
#define M2_P2 "AAECAw==\r\n"
#define M2_P3_HDR \
	"Content-Type: message/rfc822\r\n" \
	"\r\n"
#define M2_P3 \
	"From: dave@example.com\r\n" \
	"Subject: inner\r\n" \
	"\r\n" \
	"inner text\r\n"
#define M2_P4_HDR \
	"Content-Type: text/plain\r\n" \
	"Content-Transfer-Encoding: x-uuencode\r\n" \
	"\r\n"
#define M2_P4 "begin 644 x\r\n"
#define M2 M2_HDR M2_TEXT
#define M2_TEXT "preamble\r\n" \
	"--b1\r\n" M2_P1_HDR M2_P1 \
	"\r\n--b1\r\n" M2_P2_HDR M2_P2 \
	"\r\n--b1\r\n" M2_P3_HDR M2_P3 \
	"\r\n--b1\r\n" M2_P4_HDR M2_P4 \
	"\r\n--b1--\r\n"

static void
two_msgs(void)
{
	fake_store_reset();
	fake_store_add_box("INBOX", 0, true);
	fake_store_add_msg("INBOX", STORE_F_SEEN, M1, DATE);
	fake_store_add_msg("INBOX", 0, M2, DATE);
}

#define SEL "s EXAMINE INBOX\r\n"
#define SELW "s SELECT INBOX\r\n"

/* Output of the commands after the (EXAMINE|SELECT)'s tagged reply. */
static char *
run_after_select(const char *input)
{
	struct sess s;
	char *out, *p;
	int st = sess_script(&s, NULL, input, 0);

	cr_expect_eq(st, 0, "exit status %d; log %s", st, s.log);
	p = strstr(s.got, "\r\ns OK [");
	cr_assert(p != NULL, "no select reply in %s", s.got);
	p = strstr(p + 2, "\r\n");
	out = xstrdup(p + 2);
	sess_free(&s);
	return out;
}

struct row {
	const char *cmd;     /* after "a " */
	const char *want;    /* the whole answer incl. the tagged line */
};

static void
run_rows(const char *select, const struct row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *in = xasprintf("%sa %s\r\n", select, rows[i].cmd);
		char *got;

		two_msgs();
		got = run_after_select(in);
		cr_expect_str_eq(got, rows[i].want, "%s: got\n%s\nwant\n%s",
				 rows[i].cmd, got, rows[i].want);
		free(got);
		free(in);
	}
}

#define OKF "a OK FETCH completed.\r\n"

static const struct row rows[] = {
	{ "FETCH 1 ENVELOPE",
	  "* 1 FETCH (ENVELOPE (\"Tue, 14 Nov 2023 10:00:00 +0100\" \"Hello\" ((\"Alice\" NIL \"alice\" \"example.com\")) ((\"Alice\" NIL \"alice\" \"example.com\")) ((\"Alice\" NIL \"alice\" \"example.com\")) ((NIL NIL \"bob\" \"example.org\")(\"Carol C\" NIL \"carol\" \"example.net\")) NIL NIL NIL \"<m1@example.com>\"))\r\n"
	  "a OK FETCH completed.\r\n" },
	{ "FETCH 2 ENVELOPE",
	  "* 2 FETCH (ENVELOPE (NIL \"parts\" ((NIL NIL \"bob\" \"example.org\")) ((NIL NIL \"bob\" \"example.org\")) ((NIL NIL \"bob\" \"example.org\")) NIL NIL NIL NIL NIL))\r\n"
	  "a OK FETCH completed.\r\n" },
	{ "FETCH 1 BODYSTRUCTURE",
	  "* 1 FETCH (BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 1 NIL NIL NIL NIL))\r\n"
	  "a OK FETCH completed.\r\n" },
	{ "FETCH 2 BODYSTRUCTURE",
	  "* 2 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 18 2 NIL NIL NIL NIL)(\"application\" \"octet-stream\" NIL NIL NIL \"base64\" 10 NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 54 (NIL \"inner\" ((NIL NIL \"dave\" \"example.com\")) ((NIL NIL \"dave\" \"example.com\")) ((NIL NIL \"dave\" \"example.com\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL)(\"text\" \"plain\" NIL NIL NIL \"x-uuencode\" 13 1 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"b1\") NIL NIL NIL))\r\n"
	  "a OK FETCH completed.\r\n" },
	{ "FETCH 2 BODY",
	  "* 2 FETCH (BODY ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 18 2)(\"application\" \"octet-stream\" NIL NIL NIL \"base64\" 10)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 54 (NIL \"inner\" ((NIL NIL \"dave\" \"example.com\")) ((NIL NIL \"dave\" \"example.com\")) ((NIL NIL \"dave\" \"example.com\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 1) 4)(\"text\" \"plain\" NIL NIL NIL \"x-uuencode\" 13 1) \"mixed\"))\r\n"
	  "a OK FETCH completed.\r\n" },
	{ "FETCH 1 ALL",
	  "* 1 FETCH (FLAGS (\\Seen \\Recent) INTERNALDATE \"14-Nov-2023 22:13:20 +0000\" RFC822.SIZE 180 ENVELOPE (\"Tue, 14 Nov 2023 10:00:00 +0100\" \"Hello\" ((\"Alice\" NIL \"alice\" \"example.com\")) ((\"Alice\" NIL \"alice\" \"example.com\")) ((\"Alice\" NIL \"alice\" \"example.com\")) ((NIL NIL \"bob\" \"example.org\")(\"Carol C\" NIL \"carol\" \"example.net\")) NIL NIL NIL \"<m1@example.com>\"))\r\n"
	  "a OK FETCH completed.\r\n" },
	{ "FETCH 1 FULL",
	  "* 1 FETCH (FLAGS (\\Seen \\Recent) INTERNALDATE \"14-Nov-2023 22:13:20 +0000\" RFC822.SIZE 180 ENVELOPE (\"Tue, 14 Nov 2023 10:00:00 +0100\" \"Hello\" ((\"Alice\" NIL \"alice\" \"example.com\")) ((\"Alice\" NIL \"alice\" \"example.com\")) ((\"Alice\" NIL \"alice\" \"example.com\")) ((NIL NIL \"bob\" \"example.org\")(\"Carol C\" NIL \"carol\" \"example.net\")) NIL NIL NIL \"<m1@example.com>\") BODY (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 1))\r\n"
	  "a OK FETCH completed.\r\n" },
	{ "FETCH 1 RFC822.HEADER",
	  "* 1 FETCH (RFC822.HEADER {172}\r\n"
	  "From: Alice <alice@example.com>\r\n"
	  "To: bob@example.org, \"Carol C\" <carol@example.net>\r\n"
	  "Subject: Hello\r\n"
	  "Date: Tue, 14 Nov 2023 10:00:00 +0100\r\n"
	  "Message-ID: <m1@example.com>\r\n"
	  "\r\n"
	  ")\r\n"
	  "a OK FETCH completed.\r\n" },
	{ "FETCH 1 RFC822.TEXT",
	  "* 1 FETCH (RFC822.TEXT {8}\r\n"
	  "Hi Bob\r\n"
	  ")\r\n"
	  "a OK FETCH completed.\r\n" },
	{ "FETCH 1 BODY.PEEK[HEADER.FIELDS (from subject)]",
	  "* 1 FETCH (BODY[HEADER.FIELDS (FROM SUBJECT)] {51}\r\n"
	  "From: Alice <alice@example.com>\r\n"
	  "Subject: Hello\r\n"
	  "\r\n"
	  ")\r\n"
	  "a OK FETCH completed.\r\n" },
	{ "FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT (FROM To Date)]<0.20>",
	  "* 1 FETCH (BODY[HEADER.FIELDS.NOT (FROM TO DATE)]<0> {20}\r\n"
	  "Subject: Hello\r\n"
	  "Mess)\r\n"
	  "a OK FETCH completed.\r\n" },
	{ "FETCH 2 BODY.PEEK[1]",
	  "* 2 FETCH (BODY[1] {18}\r\n"
	  "caf=C3=A9 ok=\r\n"
	  "!\r\n"
	  ")\r\n"
	  "a OK FETCH completed.\r\n" },
	{ "FETCH 2 BODY.PEEK[1.MIME]",
	  "* 2 FETCH (BODY[1.MIME] {88}\r\n"
	  "Content-Type: text/plain; charset=utf-8\r\n"
	  "Content-Transfer-Encoding: quoted-printable\r\n"
	  "\r\n"
	  ")\r\n"
	  "a OK FETCH completed.\r\n" },
	{ "FETCH 2 BODY.PEEK[3.HEADER]",
	  "* 2 FETCH (BODY[3.HEADER] {42}\r\n"
	  "From: dave@example.com\r\n"
	  "Subject: inner\r\n"
	  "\r\n"
	  ")\r\n"
	  "a OK FETCH completed.\r\n" },
	{ "FETCH 2 BODY.PEEK[3.TEXT]",
	  "* 2 FETCH (BODY[3.TEXT] {12}\r\n"
	  "inner text\r\n"
	  ")\r\n"
	  "a OK FETCH completed.\r\n" },
	{ "FETCH 2 BODY.PEEK[3.1]",
	  "* 2 FETCH (BODY[3.1] {12}\r\n"
	  "inner text\r\n"
	  ")\r\n"
	  "a OK FETCH completed.\r\n" },
	{ "FETCH 2 BODY.PEEK[3]",
	  "* 2 FETCH (BODY[3] {54}\r\n"
	  "From: dave@example.com\r\n"
	  "Subject: inner\r\n"
	  "\r\n"
	  "inner text\r\n"
	  ")\r\n"
	  "a OK FETCH completed.\r\n" },
	{ "FETCH 2 BODY.PEEK[9]",
	  "* 2 FETCH (BODY[9] {0}\r\n)\r\n"
	  "a OK FETCH completed.\r\n" },
	{ "FETCH 2 BODY.PEEK[TEXT]<0.8>",
	  "* 2 FETCH (BODY[TEXT]<0> {8}\r\n"
	  "preamble)\r\n"
	  "a OK FETCH completed.\r\n" },
	{ "FETCH 2 BINARY.PEEK[1]",
	  "* 2 FETCH (BINARY[1] {11}\r\n"
	  "caf\xc3\xa9 ok!\r\n"
	  ")\r\n"
	  "a OK FETCH completed.\r\n" },
	/* the bytes after the NUL: Test(fetch, binary_literal8) */
	{ "FETCH 2 BINARY.PEEK[2]",
	  "* 2 FETCH (BINARY[2] ~{4}\r\n" },
	{ "FETCH 2 BINARY.PEEK[2]<1.2>",
	  "* 2 FETCH (BINARY[2]<1> {2}\r\n"
	  ")\r\n"
	  "a OK FETCH completed.\r\n" },
	{ "FETCH 2 (BINARY.SIZE[1] BINARY.SIZE[2] BINARY.SIZE[3])",
	  "* 2 FETCH (BINARY.SIZE[1] 11 BINARY.SIZE[2] 4 BINARY.SIZE[3] 54)\r\n"
	  "a OK FETCH completed.\r\n" },
	{ "FETCH 2 BINARY.PEEK[4]",
	  "a NO [UNKNOWN-CTE] Cannot decode the content transfer encoding of some parts.\r\n" },
	{ "FETCH 2 BINARY.SIZE[4]",
	  "a NO [UNKNOWN-CTE] Cannot decode the content transfer encoding of some parts.\r\n" },
	{ "FETCH 1 BODY.PEEK[MIME]",
	  "a BAD Invalid section in FETCH item.\r\n" },
	{ "FETCH 1 BODY.PEEK[1.2.]",
	  "a BAD Invalid section in FETCH item.\r\n" },
	{ "FETCH 1 BODY.PEEK[0]",
	  "a BAD Invalid section in FETCH item.\r\n" },
	{ "FETCH 1 BODY.PEEK[HEADER.FIELDS ()]",
	  "a BAD Invalid section in FETCH item.\r\n" },
	{ "FETCH 1 BODY.PEEK[HEADER.FIELDS]",
	  "a BAD Invalid section in FETCH item.\r\n" },
	{ "FETCH 1 BINARY.PEEK[TEXT]",
	  "a BAD Invalid section in FETCH item.\r\n" },
	{ "FETCH 1 BINARY.SIZE[1]<0.1>",
	  "a BAD Invalid partial in FETCH item.\r\n" },
	{ "FETCH 1 BODY.PEEK[1.TEXTX]",
	  "a BAD Invalid section in FETCH item.\r\n" },
};

/* RFC 8970: the first text/plain part, decoded (quoted-printable,
 * UTF-8), whitespace collapsed; NIL without a text part. */
static const struct row preview_rows[] = {
	{ "FETCH 1:2 PREVIEW",
	  "* 1 FETCH (PREVIEW \"Hi Bob\")\r\n"
	  "* 2 FETCH (PREVIEW {9}\r\ncaf\xc3\xa9 ok!)\r\n" OKF },
	{ "FETCH 1 (PREVIEW (LAZY) UID)",
	  "* 1 FETCH (PREVIEW \"Hi Bob\" UID 1)\r\n" OKF },
	/* a quoted field name comes back as an atom when it can be one */
	{ "FETCH 1 BODY.PEEK[HEADER.FIELDS (\"subject\")]",
	  "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {18}\r\n"
	  "Subject: Hello\r\n\r\n)\r\n" OKF },
	{ "FETCH 1 (PREVIEW (EAGER))", "a BAD Invalid PREVIEW modifier.\r\n" },
};

Test(fetch, preview, T_TIMEOUT)
{
	run_rows(SEL, preview_rows, sizeof(preview_rows) /
		 sizeof(preview_rows[0]));
}

Test(fetch, items, T_TIMEOUT)
{
	run_rows(SEL, rows, sizeof(rows) / sizeof(rows[0]));
}

/* RFC 3516 §4.2: decoded content with a NUL goes as literal8. */
Test(fetch, binary_literal8, T_TIMEOUT)
{
	static const char want[] = "* 2 FETCH (BINARY[2] ~{4}\r\n"
		"\0\1\2\3)\r\na OK FETCH completed.\r\n";
	struct sess s;
	const char *p;

	two_msgs();
	cr_expect_eq(sess_script(&s, NULL, SEL "a FETCH 2 BINARY.PEEK[2]\r\n",
				 0), 0);
	p = strstr(s.got, "* 2 FETCH");
	cr_assert(p != NULL, "got %s", s.got);
	cr_expect_eq((size_t)(s.got + s.got_len - p), sizeof(want) - 1);
	cr_expect(memcmp(p, want, sizeof(want) - 1) == 0, "got %s", p);
	sess_free(&s);
}

/* RFC 9051 §6.4.5: BODY[section], BINARY[section] and RFC822.TEXT set
 * \Seen (and the FETCH then carries FLAGS); the .PEEK forms,
 * RFC822.HEADER and BINARY.SIZE do not. Message 2 starts unseen. */
static const struct row seen_rows[] = {
	{ "FETCH 2 BODY[1.MIME]\r\nb FETCH 2 FLAGS",
	  "* 2 FETCH (BODY[1.MIME] {88}\r\n" M2_P1_HDR " FLAGS (\\Seen "
	  "\\Recent))\r\n" OKF
	  "* 2 FETCH (FLAGS (\\Seen \\Recent))\r\nb OK FETCH completed.\r\n" },
	{ "FETCH 2 BINARY[1]<0.3>\r\nb FETCH 2 FLAGS",
	  "* 2 FETCH (BINARY[1]<0> {3}\r\ncaf FLAGS (\\Seen \\Recent))\r\n"
	  OKF "* 2 FETCH (FLAGS (\\Seen \\Recent))\r\n"
	  "b OK FETCH completed.\r\n" },
	{ "FETCH 2 RFC822.TEXT<0.1>\r\nb FETCH 2 FLAGS",
	  "a BAD Unknown FETCH item.\r\n"
	  "* 2 FETCH (FLAGS (\\Recent))\r\nb OK FETCH completed.\r\n" },
	{ "FETCH 2 (RFC822.TEXT UID)\r\nb FETCH 2 FLAGS",
	  "* 2 FETCH (RFC822.TEXT {409}\r\n" M2_TEXT " UID 2 FLAGS (\\Seen "
	  "\\Recent))\r\n" OKF
	  "* 2 FETCH (FLAGS (\\Seen \\Recent))\r\nb OK FETCH completed.\r\n" },
	{ "FETCH 2 (RFC822.HEADER BINARY.SIZE[1] BODY.PEEK[1] "
	  "BINARY.PEEK[1]<0.1>)\r\nb FETCH 2 FLAGS",
	  "* 2 FETCH (RFC822.HEADER {106}\r\n" M2_HDR " BINARY.SIZE[1] 11 "
	  "BODY[1] {18}\r\n" M2_P1 " BINARY[1]<0> {1}\r\nc)\r\n" OKF
	  "* 2 FETCH (FLAGS (\\Recent))\r\nb OK FETCH completed.\r\n" },
};

Test(fetch, seen, T_TIMEOUT)
{
	run_rows(SELW, seen_rows, sizeof(seen_rows) / sizeof(seen_rows[0]));
}

/* two_msgs, every open failing from the first sync on (and the tree's
 * records answering nothing, if no_tree): the FETCH of items twice, the
 * second answer byte for byte the first, and the command then after
 * them fails. */
static void
same_answer_twice(const char *items, bool no_tree, const char *then)
{
	char *in = xasprintf(SEL "a FETCH 1:* %s\r\nb FETCH 1:* %s\r\n"
			     "c %s\r\n", items, items, then);
	char *got, *a, *b;

	two_msgs();
	/* before the sync after a (the first mailbox_sync) */
	fake_store_event(1, FAKE_NO_OPEN, "INBOX", 0, 0, NULL);
	if (no_tree)
		fake_store_event(1, FAKE_NO_FETCH_CACHE, "INBOX", 0, 0, NULL);
	got = run_after_select(in);
	a = got;
	b = strstr(got, OKF);
	cr_assert(b != NULL, "got %s", got);
	b += strlen(OKF);
	cr_assert(str_has_prefix(b, "* 1 FETCH (ENVELOPE ("), "got %s", got);
	cr_expect(strncmp(a, b, (size_t)(b - a) - strlen(OKF)) == 0,
		  "got %s", got);
	cr_expect(strstr(b, "b OK FETCH completed.\r\n"
			 "c NO [SERVERBUG]") != NULL, "got %s", got);
	free(got);
	free(in);
}

/* Issue 7 "The cache": once FETCH has parsed a message, ENVELOPE, BODY
 * and BODYSTRUCTURE come from the cache and open no message file. After
 * the first FETCH every open fails (FAKE_NO_OPEN): the second must
 * still answer, byte for byte as the first; a body fetch then fails,
 * which shows the opens really are gone. */
Test(fetch, cache_hit_opens_no_message, T_TIMEOUT)
{
	same_answer_twice("(ENVELOPE BODYSTRUCTURE BODY)", false,
			  "FETCH 2 BODY.PEEK[1]");
}

/* The cache record is versioned: one of version 2 (no flags byte, first
 * occurrences only) is rebuilt from the message, never read as the
 * current form. The records are made here from M1 by fetch_cache_fill,
 * "Alice" changed to "Mallo" in them: as the current version the
 * tampered record is what FETCH serves (so a record in use shows), as
 * version 2 it is not; the rebuilt one then serves the second FETCH
 * with every open failing. */
static void
envelope_record(bool old)
{
	struct fetch_meta m;
	char *v;
	size_t len;
	int fd = memfd_create("m1", 0);

	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, M1, strlen(M1)), (ssize_t)strlen(M1));
	cr_assert_eq(fetch_cache_fill(fd, 0, strlen(M1), &m), 0);
	close(fd);
	cr_assert_not_null(m.value);
	len = buf_len(m.value);
	v = xmalloc(len + 1);
	memcpy(v, buf_data(m.value), len);
	fetch_meta_clear(&m);
	cr_assert_eq(v[0], 3, "version %d", v[0]);
	for (size_t i = 0; i + 5 <= len; i++)
		if (memcmp(v + i, "Alice", 5) == 0)
			memcpy(v + i, "Mallo", 5);
	if (old) {
		v[0] = 2;
		memmove(v + 1, v + 2, len - 2);
		len--;
	}
	v[len] = '\0';
	fake_store_cache_set("INBOX", 1, v, len);
	free(v);
}

/* A cache record that does not match the file (here: the tree of M2
 * for message 1, M1): a header read through a prefix open cannot be
 * trusted then, so the message is opened whole and parsed again. The
 * fake store's prefix open holds only the bytes asked for. */
Test(fetch, stale_cache_after_prefix_open_reads_the_whole_message, T_TIMEOUT)
{
	struct fetch_meta m;
	char *got;
	int fd = memfd_create("m2", 0);

	two_msgs();
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, M2, strlen(M2)), (ssize_t)strlen(M2));
	cr_assert_eq(fetch_cache_fill(fd, 0, strlen(M2), &m), 0);
	close(fd);
	cr_assert_not_null(m.value);
	fake_store_cache_set("INBOX", 1, buf_data(m.value),
			     buf_len(m.value));
	fetch_meta_clear(&m);
	got = run_after_select(SEL "a FETCH 1 BODY.PEEK[HEADER.FIELDS "
			       "(SUBJECT)]\r\n");
	cr_expect(strstr(got, "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] "
			 "{18}\r\nSubject: Hello\r\n\r\n)") != NULL,
		  "got %s", got);
	cr_expect(strstr(got, "a OK FETCH completed.") != NULL, "got %s",
		  got);
	free(got);
}

Test(fetch, old_cache_record_is_rebuilt, T_TIMEOUT)
{
	char *got;

	two_msgs();
	envelope_record(false);
	got = run_after_select(SEL "a FETCH 1 ENVELOPE\r\n");
	cr_expect(strstr(got, "((\"Mallo\" NIL \"alice\"") != NULL,
		  "a current record is served: got %s", got);
	free(got);

	two_msgs();
	envelope_record(true);
	fake_store_event(1, FAKE_NO_OPEN, "INBOX", 0, 0, NULL);
	got = run_after_select(SEL "a FETCH 1 ENVELOPE\r\n"
			       "b FETCH 1 ENVELOPE\r\n");
	cr_expect(strstr(got, "Mallo") == NULL, "an old record was read: %s",
		  got);
	cr_expect(strstr(got, "* 1 FETCH (ENVELOPE (\"Tue, 14 Nov 2023 "
			 "10:00:00 +0100\" \"Hello\" ((\"Alice\" NIL") != NULL,
		  "got %s", got);
	cr_expect(strstr(got, "b OK FETCH completed.") != NULL,
		  "not rebuilt (the second FETCH could not open the file): "
		  "got %s", got);
	free(got);
}

/* ENVELOPE and BODYSTRUCTURE keep their written text (the cache's
 * ENVELOPE and BODYSTRUCTURE kinds): after the first FETCH every open
 * fails and the tree's records answer nothing (FAKE_NO_FETCH_CACHE), so
 * the second FETCH can only answer from the text records, byte for
 * byte as the first; BODY (not kept as text) then fails, which shows
 * the tree really is gone. */
Test(fetch, text_records_answer_without_tree, T_TIMEOUT)
{
	same_answer_twice("(ENVELOPE BODYSTRUCTURE)", true, "FETCH 2 BODY");
}

/* A text record is sent as it is only if it is one list of the
 * writer's grammar (imap_list_valid) of this version and mode: a valid
 * one is served (a record in use shows), every broken one is made again
 * from the message and replaced. */
Test(fetch, malformed_text_record_is_made_again, T_TIMEOUT)
{
	/* version 1, plain mode, size not known */
#define H "\1\0\xff\xff\xff\xff\xff\xff\xff\xff"
#define R(s) { s, sizeof(s) - 1 }
	static const char good[] = H "(NIL \"Mallo\" NIL NIL NIL NIL NIL "
				   "NIL NIL NIL)";
	static const struct {
		const char *rec;
		size_t len;
	} bad[] = {
		/* a CRLF outside a literal ends the response early */
		R(H "(\"x\")\r\n* 1 BYE\r\n(\"y\")"),
		R(H "(\"x\" (NIL)"),          /* left open */
		R(H "(\"x\"))"),              /* one ')' too many */
		R(H "(\"x) NIL"),             /* string left open */
		R(H "({9}\r\nabc)"),          /* literal past the end */
		R(H "(\"a\xc3\xa9\")"),        /* 8-bit, plain mode */
		R(H "(\"a\\x\")"),             /* a bad escape */
		R(H "(NIL)x"),                 /* bytes after the list */
		R(H "(NI\0L)"),                /* NUL */
		/* another version; an unknown mode bit */
		R("\2\0\xff\xff\xff\xff\xff\xff\xff\xff(NIL)"),
		R("\1\2\xff\xff\xff\xff\xff\xff\xff\xff(NIL)"),
		/* the UTF8=ACCEPT mode's */
		R("\1\1\xff\xff\xff\xff\xff\xff\xff\xff(NIL)"),
		R("\1\0\xff\xff(NIL)"),           /* size cut short */
		R("\1"),
#undef H
#undef R
	};
	char *got;

	two_msgs();
	fake_store_cache_set_kind("INBOX", 1, STORE_CACHE_ENVELOPE, good,
				  sizeof(good) - 1);
	got = run_after_select(SEL "a FETCH 1 ENVELOPE\r\n");
	cr_expect(strstr(got, "* 1 FETCH (ENVELOPE (NIL \"Mallo\" NIL") !=
		  NULL, "a valid record is served: got %s", got);
	free(got);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		two_msgs();
		fake_store_cache_set_kind("INBOX", 1, STORE_CACHE_ENVELOPE,
					  bad[i].rec, bad[i].len);
		got = run_after_select(SEL "a FETCH 1 ENVELOPE\r\n"
				       "b FETCH 1 ENVELOPE\r\n");
		cr_expect(strstr(got, "* 1 FETCH (ENVELOPE (\"Tue, 14 Nov "
				 "2023 10:00:00 +0100\" \"Hello\"") != NULL &&
			  strstr(got, "BYE") == NULL &&
			  strstr(got, "b OK FETCH completed.") != NULL,
			  "record %zu: got %s", i, got);
		free(got);
	}
}

/* A client that enabled UTF8=ACCEPT gets 8-bit text (a UTF-8 header,
 * RFC 6532) quoted (RFC 6855 §3), another one as a literal: each mode
 * keeps its own text, and a record of the other mode is not sent. */
Test(fetch, text_record_of_the_other_mode_is_not_sent, T_TIMEOUT)
{
	static const char m[] = "From: a@example.com\r\n"
				"Subject: caf\xc3\xa9\r\n\r\nx\r\n";
	char *got;

	fake_store_reset();
	fake_store_add_box("INBOX", 0, true);
	fake_store_add_msg("INBOX", 0, m, DATE);
	/* one session (the fake store's records live in it): the plain
	 * mode's record is made first, then the client enables UTF-8 */
	got = run_after_select(SEL "a FETCH 1 ENVELOPE\r\n"
			       "u UNSELECT\r\ne ENABLE UTF8=ACCEPT\r\n"
			       SEL "b FETCH 1 ENVELOPE\r\n"
			       "c FETCH 1 ENVELOPE\r\n");
	cr_expect(str_has_prefix(got, "* 1 FETCH (ENVELOPE (NIL {5}\r\n"
				 "caf\xc3\xa9 "), "got %s", got);
	cr_expect(strstr(got, "* 1 FETCH (ENVELOPE (NIL \"caf\xc3\xa9\" "
			 "((NIL NIL \"a\"") != NULL, "got %s", got);
	cr_expect(strstr(got, "c OK FETCH completed.") != NULL, "got %s", got);
	free(got);
}

/* ENVELOPE alone reads only the head of a message it has no record of:
 * it makes the ENVELOPE text and no tree record, so once every open
 * fails BODY has nothing to answer from, while ENVELOPE still answers
 * (from its text). A header longer than the first head read (8 kB) is
 * in the second (64 kB), a longer one is read whole: their Subjects
 * after 20 kB and 150 kB of other fields are in the envelope. */
Test(fetch, envelope_alone_reads_the_head, T_TIMEOUT)
{
	struct buf *big[2] = { buf_new(1 << 20), buf_new(1 << 20) };
	const int lines[2] = { 400, 3000 };
	char *got;

	two_msgs();
	fake_store_event(1, FAKE_NO_OPEN, "INBOX", 0, 0, NULL);
	got = run_after_select(SEL "a FETCH 1 ENVELOPE\r\n"
			       "b FETCH 1 ENVELOPE\r\n"
			       "c FETCH 1 BODY\r\n");
	cr_expect(str_has_prefix(got, "* 1 FETCH (ENVELOPE (\"Tue, 14 Nov "
				 "2023 10:00:00 +0100\" \"Hello\" ((\"Alice\" "
				 "NIL \"alice\" \"example.com\"))"),
		  "got %s", got);
	cr_expect(strstr(got, "b OK FETCH completed.\r\nc NO [SERVERBUG]") !=
		  NULL, "got %s", got);
	free(got);

	fake_store_reset();
	fake_store_add_box("INBOX", 0, true);
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < lines[k]; i++)
			buf_printf(big[k], "X-Filler-%d: %s\r\n", i,
				   "0123456789012345678901234567890");
		buf_printf(big[k], "Subject: after %d lines\r\n\r\nbody\r\n",
			   lines[k]);
		fake_store_add_msg("INBOX", 0, buf_str(big[k]), DATE);
	}
	cr_assert(buf_len(big[0]) > 16384 && buf_len(big[0]) < 65536 &&
		  buf_len(big[1]) > 131072);
	/* a header without its empty line, shorter than the head read */
	fake_store_add_msg("INBOX", 0, "Subject: no body", DATE);
	got = run_after_select(SEL "a FETCH 1:3 ENVELOPE\r\n");
	cr_expect(str_has_prefix(got, "* 1 FETCH (ENVELOPE (NIL "
				 "\"after 400 lines\" NIL"), "got %s", got);
	cr_expect(strstr(got, "* 2 FETCH (ENVELOPE (NIL \"after 3000 lines\" "
			 "NIL") != NULL, "got %s", got);
	cr_expect(strstr(got, "* 3 FETCH (ENVELOPE (NIL \"no body\" NIL") !=
		  NULL, "got %s", got);
	free(got);
	buf_free(&big[0]);
	buf_free(&big[1]);
}

/* A head read that fails (every open failing, no record of message 2
 * yet) leaves that message out with NO [SERVERBUG], as a failed open
 * does; message 1, whose text the first FETCH kept, still answers. */
Test(fetch, envelope_head_read_failure_is_a_serverbug, T_TIMEOUT)
{
	char *got;

	two_msgs();
	fake_store_event(1, FAKE_NO_OPEN, "INBOX", 0, 0, NULL);
	got = run_after_select(SEL "a FETCH 1 ENVELOPE\r\n"
			       "b FETCH 1:2 ENVELOPE\r\n");
	cr_expect(strstr(got, "a OK FETCH completed.\r\n"
			 "* 1 FETCH (ENVELOPE (") != NULL, "got %s", got);
	cr_expect(strstr(got, "* 2 FETCH") == NULL, "got %s", got);
	cr_expect(strstr(got, "b NO [SERVERBUG]") != NULL, "got %s", got);
	free(got);
}

/* The tree's record is put only for an item that reads it: after
 * BODYSTRUCTURE alone (kept as text) a BODY with every open failing has
 * nothing to answer from; after PREVIEW (from the tree's record) it has. */
Test(fetch, tree_record_only_for_items_that_read_it, T_TIMEOUT)
{
	char *got;

	two_msgs();
	fake_store_event(1, FAKE_NO_OPEN, "INBOX", 0, 0, NULL);
	got = run_after_select(SEL "a FETCH 2 BODYSTRUCTURE\r\n"
			       "b FETCH 2 BODY\r\n");
	cr_expect(strstr(got, "a OK FETCH completed.\r\nb NO [SERVERBUG]") !=
		  NULL, "got %s", got);
	free(got);
	two_msgs();
	fake_store_event(1, FAKE_NO_OPEN, "INBOX", 0, 0, NULL);
	got = run_after_select(SEL "a FETCH 2 PREVIEW\r\n"
			       "b FETCH 2 BODY\r\n");
	cr_expect(strstr(got, "* 2 FETCH (BODY ((\"text\" \"plain\"") != NULL &&
		  strstr(got, "b OK FETCH completed.") != NULL, "got %s", got);
	free(got);
}
