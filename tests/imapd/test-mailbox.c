/*
 * Tests for the mailbox commands of the imap process (imap/cmd-*.c,
 * imap-args.c, imap-sync.c, imap-list-match.c, the resumable output of
 * client.c) against an in-memory store (fake-store.c), so that what
 * "another session" does and when is exact. Each conversation is a real
 * session in a child on a socketpair; the output is compared byte for
 * byte with what RFC 3501/9051 and the extensions demand (sections
 * quoted where the rule is subtle). The same commands run against the
 * real Maildir and mbox stores in tests/integration/test_mailbox.py.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "core/buf.h"
#include "core/str.h"
#include "imap/imap-list-match.h"
#include "fake-store.h"
#include "harness.h"

#define T_TIMEOUT .timeout = 30

/* Every test leaves the fake store empty, so LeakSanitizer sees only
 * real leaks. */
TestSuite(mailbox, .fini = fake_store_reset);

#define MSG1 "Subject: one\r\n\r\nbody one\r\n"
#define MSG2 "Subject: two\r\n\r\nbody two\r\n"
#define MSG3 "Subject: three\r\n\r\nbody three\r\n"
/* 14-Nov-2023 22:13:20 +0000 */
#define DATE 1700000000

#define SELECT_IN "s SELECT INBOX\r\n"
#define SELECT_OUT \
	"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n" \
	"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen " \
	"\\Draft \\*)] Flags permitted.\r\n" \
	"* 3 EXISTS\r\n" \
	"* 3 RECENT\r\n" \
	"* OK [UNSEEN 2] First unseen.\r\n" \
	"* OK [UIDVALIDITY 1001] UIDs valid.\r\n" \
	"* OK [UIDNEXT 4] Predicted next UID.\r\n" \
	"s OK [READ-WRITE] SELECT completed.\r\n"

/* INBOX (UIDVALIDITY 1001) with 1 \Seen, 2 unflagged, 3 \Deleted. */
static void
three_msgs(void)
{
	fake_store_reset();
	fake_store_add_box("INBOX", 0, true);
	fake_store_add_msg("INBOX", STORE_F_SEEN, MSG1, DATE);
	fake_store_add_msg("INBOX", 0, MSG2, DATE);
	fake_store_add_msg("INBOX", STORE_F_DELETED, MSG3, DATE);
}

/* The session's output after the greeting, for input sent at once. */
/* The session's output after the greeting line, for len bytes of input
 * sent at once (0: strlen). */
static char *
run_n(const struct sess_opts *o, const char *input, size_t len)
{
	struct sess s;
	char *out, *eol;
	int st = sess_script(&s, o, input, len);

	eol = strstr(s.got, "\r\n");
	cr_assert(str_has_prefix(s.got, SESS_TAG " OK [CAPABILITY ") &&
		  eol != NULL, "greeting got %s", s.got);
	cr_expect_eq(st, 0, "exit status %d; log %s", st, s.log);
	out = xstrdup(eol + 2);
	sess_free(&s);
	return out;
}

static char *
run_opts(const struct sess_opts *o, const char *input)
{
	return run_n(o, input, 0);
}

static char *
run(const char *input)
{
	return run_n(NULL, input, 0);
}

static void
expect_output(const char *what, const char *input, const char *want)
{
	char *got = run(input);

	cr_expect_str_eq(got, want, "%s: got\n%s\nwant\n%s", what, got, want);
	free(got);
}

/* ---- SELECT / EXAMINE --------------------------------------------- */

Test(mailbox, select, T_TIMEOUT)
{
	three_msgs();
	expect_output("select", SELECT_IN, SELECT_OUT);
}

Test(mailbox, examine_is_read_only, T_TIMEOUT)
{
	three_msgs();
	/* RFC 3501 §6.3.2: EXAMINE's tagged OK starts with [READ-ONLY];
	 * no flag can be changed, so PERMANENTFLAGS is empty. */
	expect_output("examine", "e EXAMINE inbox\r\n",
		"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
		"* OK [PERMANENTFLAGS ()] No permanent flags permitted.\r\n"
		"* 3 EXISTS\r\n"
		"* 3 RECENT\r\n"
		"* OK [UNSEEN 2] First unseen.\r\n"
		"* OK [UIDVALIDITY 1001] UIDs valid.\r\n"
		"* OK [UIDNEXT 4] Predicted next UID.\r\n"
		"e OK [READ-ONLY] EXAMINE completed.\r\n");
	three_msgs();
	expect_output("store in examine",
		"e EXAMINE INBOX\r\na STORE 1 +FLAGS (\\Flagged)\r\n"
		"b EXPUNGE\r\nc MOVE 1 Trash\r\n",
		"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
		"* OK [PERMANENTFLAGS ()] No permanent flags permitted.\r\n"
		"* 3 EXISTS\r\n* 3 RECENT\r\n"
		"* OK [UNSEEN 2] First unseen.\r\n"
		"* OK [UIDVALIDITY 1001] UIDs valid.\r\n"
		"* OK [UIDNEXT 4] Predicted next UID.\r\n"
		"e OK [READ-ONLY] EXAMINE completed.\r\n"
		"a NO [READ-ONLY] The mailbox is read-only.\r\n"
		"b NO [READ-ONLY] The mailbox is read-only.\r\n"
		"c NO [READ-ONLY] The mailbox is read-only.\r\n");
}

Test(mailbox, select_errors, T_TIMEOUT)
{
	three_msgs();
	/* RFC 9051 §6.3.2: a failed SELECT leaves no mailbox selected. */
	expect_output("nonexistent",
		SELECT_IN "a SELECT Nope\r\nb FETCH 1 FLAGS\r\n",
		SELECT_OUT
		"* OK [CLOSED] Previous mailbox is now closed.\r\n"
		"a NO [NONEXISTENT] Mailbox does not exist.\r\n"
		"b BAD No mailbox selected.\r\n");
	expect_output("bad name deselects", SELECT_IN
		"a SELECT &Jjo\r\nb FETCH 1 FLAGS\r\n",
		SELECT_OUT
		"* OK [CLOSED] Previous mailbox is now closed.\r\n"
		"a NO [NONEXISTENT] Mailbox name is not valid modified "
		"UTF-7.\r\n"
		"b BAD No mailbox selected.\r\n");
	expect_output("bad mUTF-7", "a SELECT &Jjo\r\n",
		"a NO [NONEXISTENT] Mailbox name is not valid modified "
		"UTF-7.\r\n");
	expect_output("dot dot", "a SELECT \"INBOX/../x\"\r\n",
		"a NO [NONEXISTENT] Mailbox name has a \".\" or \"..\" "
		"level.\r\n");
	expect_output("params", "a SELECT INBOX (FOO)\r\n",
		"a BAD Unknown SELECT parameter.\r\n");
	expect_output("no name", "a SELECT\r\n",
		"a BAD Expected a mailbox name.\r\n");
	expect_output("list as name", "a SELECT (INBOX)\r\n",
		"a BAD Invalid mailbox name argument.\r\n");
}

Test(mailbox, reselect_closed_code, T_TIMEOUT)
{
	three_msgs();
	fake_store_add_box("Other", 0, false);
	/* RFC 7162 §3.2.11: a server that advertises CONDSTORE or QRESYNC
	 * sends [CLOSED] whether or not the client enabled either. */
	expect_output("reselect", SELECT_IN "t SELECT Other\r\n",
		SELECT_OUT
		"* OK [CLOSED] Previous mailbox is now closed.\r\n"
		"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
		"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen "
		"\\Draft \\*)] Flags permitted.\r\n"
		"* 0 EXISTS\r\n"
		"* 0 RECENT\r\n"
		"* OK [UIDVALIDITY 1002] UIDs valid.\r\n"
		"* OK [UIDNEXT 1] Predicted next UID.\r\n"
		"t OK [READ-WRITE] SELECT completed.\r\n");
}

Test(mailbox, store_unavailable, T_TIMEOUT)
{
	three_msgs();
	fake_store_fail_open(STORE_ERR_TEMP);
	expect_output("open fails", "a SELECT INBOX\r\nb STATUS INBOX "
		      "(MESSAGES)\r\n",
		      "a NO [UNAVAILABLE] Mail storage is busy, try again "
		      "later.\r\n"
		      "b NO [UNAVAILABLE] Mail storage is busy, try again "
		      "later.\r\n");
}

/* ---- FETCH --------------------------------------------------------- */

Test(mailbox, fetch_flags_and_uid, T_TIMEOUT)
{
	three_msgs();
	expect_output("uid flags", SELECT_IN "f FETCH 1:* (UID FLAGS)\r\n",
		SELECT_OUT
		"* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent))\r\n"
		"* 2 FETCH (UID 2 FLAGS (\\Recent))\r\n"
		"* 3 FETCH (UID 3 FLAGS (\\Deleted \\Recent))\r\n"
		"f OK FETCH completed.\r\n");
	/* RFC 9051 §6.4.9: UID FETCH always includes UID; unknown UIDs
	 * are no error; "*" is the highest UID, and "3:*" includes it
	 * whichever end is bigger. */
	expect_output("uid fetch", SELECT_IN
		"f UID FETCH 2:5 FLAGS\r\ng UID FETCH 100:* FLAGS\r\n"
		"h UID FETCH 50 FLAGS\r\n",
		SELECT_OUT
		"* 2 FETCH (UID 2 FLAGS (\\Recent))\r\n"
		"* 3 FETCH (UID 3 FLAGS (\\Deleted \\Recent))\r\n"
		"f OK FETCH completed.\r\n"
		"* 3 FETCH (UID 3 FLAGS (\\Deleted \\Recent))\r\n"
		"g OK FETCH completed.\r\n"
		"h OK FETCH completed.\r\n");
	expect_output("fast", SELECT_IN "f FETCH 2 FAST\r\n",
		SELECT_OUT
		"* 2 FETCH (FLAGS (\\Recent) INTERNALDATE \"14-Nov-2023 "
		"22:13:20 +0000\" RFC822.SIZE 26)\r\n"
		"f OK FETCH completed.\r\n");
}

Test(mailbox, fetch_bad, T_TIMEOUT)
{
	static const struct {
		const char *cmd, *reply;
	} tab[] = {
		/* RFC 9051 §9 seq-number: beyond the mailbox is BAD. */
		{ "FETCH 4 FLAGS", "BAD Message sequence number out of range" },
		{ "FETCH 0 FLAGS", NULL },
		{ "FETCH 1,,2 FLAGS", NULL },
		{ "FETCH 1 ENVELOPES", "BAD Unknown FETCH item." },
		{ "FETCH 1 BODY[HEADER", "BAD Missing ']'" },
		{ "FETCH 1 BODY[HEADER.FIELDS.NOT ()]", "BAD Invalid section "
		  "in FETCH item." },
		{ "FETCH 1 (ALL)", "BAD FETCH macros cannot be in a list." },
		{ "FETCH 1 (FLAGS) (FOO 1)", "BAD Unknown FETCH modifier." },
		{ "FETCH 1 (FLAGS) (CHANGEDSINCE)", "BAD Invalid FETCH "
		  "modifiers." },
		{ "FETCH 1 (FLAGS) (CHANGEDSINCE -1)", "BAD Invalid FETCH "
		  "modifiers." },
		{ "FETCH 1 (FLAGS) ()", "BAD Invalid FETCH modifiers." },
		/* RFC 7162 §3.2.6 */
		{ "FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)", "BAD VANISHED "
		  "is only for UID FETCH." },
		{ "UID FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)", "BAD "
		  "VANISHED needs ENABLE QRESYNC first." },
		{ "FETCH 1 ()", "BAD Empty FETCH item list." },
		{ "FETCH 1 BODY[]<0.0>", "BAD Invalid partial in FETCH "
		  "item." },
		{ "FETCH 1 BODY[]<1>", "BAD Invalid partial in FETCH item." },
		{ "FETCH 1 BODY[]<x.1>", "BAD Invalid partial in FETCH "
		  "item." },
		{ "FETCH 1 \"FLAGS\"", "BAD Invalid FETCH item." },
		{ "FETCH 1", "BAD Expected a sequence set and FETCH items." },
		/* RFC 5182: "$" with nothing saved is an empty set. */
		{ "FETCH $ FLAGS", "OK FETCH completed." },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		char *in = xasprintf(SELECT_IN "a %s\r\n", tab[i].cmd);
		char *got;
		const char *line;

		three_msgs();
		got = run(in);
		cr_assert(str_has_prefix(got, SELECT_OUT), "%s: got %s",
			  tab[i].cmd, got);
		line = got + strlen(SELECT_OUT);
		if (tab[i].reply != NULL) {
			char *want = xasprintf("a %s\r\n", tab[i].reply);

			cr_expect_str_eq(line, want, "%s: got %s, want %s",
					 tab[i].cmd, line, want);
			free(want);
		} else {
			cr_expect(str_has_prefix(line, "a BAD ") &&
				  strchr(line, '\n') == line + strlen(line) - 1,
				  "%s: got %s, want one BAD line",
				  tab[i].cmd, line);
		}
		free(got);
		free(in);
	}
}

Test(mailbox, fetch_body_sets_seen, T_TIMEOUT)
{
	three_msgs();
	/* RFC 9051 §6.4.5: BODY[] sets \Seen; the FETCH then includes
	 * FLAGS (RFC 3501 "SHOULD be included"). BODY.PEEK[] does not. */
	expect_output("body", SELECT_IN
		"p FETCH 2 BODY.PEEK[]\r\nf FETCH 2 BODY[]\r\n"
		"g FETCH 2 RFC822\r\nh FETCH 2 FLAGS\r\n",
		SELECT_OUT
		"* 2 FETCH (BODY[] {26}\r\n" MSG2 ")\r\n"
		"p OK FETCH completed.\r\n"
		"* 2 FETCH (BODY[] {26}\r\n" MSG2
		" FLAGS (\\Seen \\Recent))\r\n"
		"f OK FETCH completed.\r\n"
		"* 2 FETCH (RFC822 {26}\r\n" MSG2 ")\r\n"
		"g OK FETCH completed.\r\n"
		"* 2 FETCH (FLAGS (\\Seen \\Recent))\r\n"
		"h OK FETCH completed.\r\n");
	/* Not in a read-only mailbox. */
	three_msgs();
	expect_output("examine body", "e EXAMINE INBOX\r\n"
		"f FETCH 2 BODY[]\r\nh FETCH 2 FLAGS\r\n",
		"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
		"* OK [PERMANENTFLAGS ()] No permanent flags permitted.\r\n"
		"* 3 EXISTS\r\n* 3 RECENT\r\n"
		"* OK [UNSEEN 2] First unseen.\r\n"
		"* OK [UIDVALIDITY 1001] UIDs valid.\r\n"
		"* OK [UIDNEXT 4] Predicted next UID.\r\n"
		"e OK [READ-ONLY] EXAMINE completed.\r\n"
		"* 2 FETCH (BODY[] {26}\r\n" MSG2 ")\r\n"
		"f OK FETCH completed.\r\n"
		"* 2 FETCH (FLAGS (\\Recent))\r\n"
		"h OK FETCH completed.\r\n");
}

Test(mailbox, fetch_partial, T_TIMEOUT)
{
	three_msgs();
	/* RFC 9051 §6.4.5: <origin.count>; the response names the origin
	 * only; an origin past the end is an empty string. */
	expect_output("partial", SELECT_IN
		"f FETCH 1 (BODY.PEEK[]<9.3> BODY.PEEK[]<20.100> "
		"BODY.PEEK[]<26.1> BODY.PEEK[]<1000.1>)\r\n",
		SELECT_OUT
		"* 1 FETCH (BODY[]<9> {3}\r\none BODY[]<20> {6}\r\n one\r\n "
		"BODY[]<26> {0}\r\n BODY[]<1000> {0}\r\n)\r\n"
		"f OK FETCH completed.\r\n");
}

/* A 50 MB body streams through a 1 MB output limit, and the command
 * pipelined behind it is answered after it. (No Criterion .timeout on
 * the two long tests: its timer leaks in the runner under ASan when a
 * long test runs beside others; the harness's waits bound them.) */
Test(mailbox, fetch_big_body_streams)
{
	const uint64_t size = 50u * 1024u * 1024u;
	struct sess s;
	const char *p, *lit;
	char head[64];

	fake_store_reset();
	fake_store_add_box("INBOX", 0, true);
	fake_store_add_big("INBOX", size);
	sess_start(&s, NULL);
	sess_send(&s, SELECT_IN "f UID FETCH 1 BODY.PEEK[]\r\nn NOOP\r\n", 0);
	sess_shut(&s);
	cr_assert(sess_read_eof(&s, 100000), "no EOF");
	snprintf(head, sizeof(head), "* 1 FETCH (UID 1 BODY[] {%llu}\r\n",
		 (unsigned long long)size);
	lit = strstr(s.got, head);
	cr_assert_not_null(lit, "no literal header in %.300s", s.got);
	p = lit + strlen(head);
	cr_assert_geq(s.got_len - (size_t)(p - s.got), size);
	cr_assert(str_has_prefix(p, "Subject: big\r\n\r\nXXXX"));
	for (uint64_t i = 16; i < size; i++) {
		if (p[i] != 'X')
			cr_assert_fail("byte %llu is %d, want X",
				       (unsigned long long)i, p[i]);
	}
	cr_assert_str_eq(p + size, ")\r\nf OK FETCH completed.\r\n"
			 "n OK NOOP completed.\r\n", "tail got %.100s",
			 p + size);
	cr_assert_eq(sess_wait(&s, 5000), 0);
	sess_free(&s);
}

/* FETCH 1:* of many messages is written while the client reads: the
 * session never holds more than IMAP_OUTPUT_MAX (it would disconnect). */
Test(mailbox, fetch_many_messages)
{
	const unsigned int n = 20000;
	/* Slow under the sanitizers on a busy machine: a longer wait. */
	struct sess_opts o = { .timeout_ms = 50000 };
	char *got, *tail, want[128];
	size_t lines = 0;

	fake_store_reset();
	fake_store_add_box("INBOX", 0, true);
	for (unsigned int i = 0; i < n; i++)
		fake_store_add_msg("INBOX", STORE_F_SEEN | STORE_F_FLAGGED,
				   "Subject: x\r\n\r\nx\r\n", DATE);
	got = run_opts(&o, "s SELECT INBOX\r\nf FETCH 1:* (UID FLAGS "
		       "RFC822.SIZE BODY.PEEK[])\r\n");
	for (char *p = strstr(got, " FETCH (UID "); p != NULL;
	     p = strstr(p + 1, " FETCH (UID "))
		lines++;
	cr_expect_eq(lines, n, "got %zu FETCH responses, want %u", lines, n);
	snprintf(want, sizeof(want), "* %u FETCH (UID %u FLAGS (\\Flagged "
		 "\\Seen \\Recent) RFC822.SIZE 17 BODY[] {17}\r\nSubject: "
		 "x\r\n\r\nx\r\n)\r\nf OK FETCH completed.\r\n", n, n);
	tail = got + strlen(got) - strlen(want);
	cr_expect_str_eq(tail, want, "tail got %s", tail);
	free(got);
}

/* ---- untagged updates (RFC 9051 §7.5.1, RFC 2180) ------------------ */

Test(mailbox, no_expunge_during_fetch_store, T_TIMEOUT)
{
	/* Another session expunges UID 2 before our FETCH answers: "An
	 * EXPUNGE response MUST NOT be sent ... while responding to a
	 * FETCH, STORE, or SEARCH command" (RFC 9051 §7.5.1). The message
	 * stays in our view; its data is gone, so FETCH of it gets NO
	 * [EXPUNGEISSUED] (RFC 2180 §4.1.2), and STORE leaves it out
	 * (§4.2.3); NOOP then reports the EXPUNGE. */
	three_msgs();
	fake_store_event(1, FAKE_EXPUNGE, "INBOX", 2, 0, NULL);
	expect_output("fetch store noop", SELECT_IN
		"a FETCH 1 FLAGS\r\nb FETCH 2 BODY.PEEK[]\r\n"
		"c FETCH 1:3 FLAGS\r\nd STORE 2:3 +FLAGS (\\Flagged)\r\n"
		"e NOOP\r\nf FETCH 2 FLAGS\r\n",
		SELECT_OUT
		"* 1 FETCH (FLAGS (\\Seen \\Recent))\r\n"
		"a OK FETCH completed.\r\n"
		"b NO [EXPUNGEISSUED] Some of the requested messages no "
		"longer exist.\r\n"
		"* 1 FETCH (FLAGS (\\Seen \\Recent))\r\n"
		"* 3 FETCH (FLAGS (\\Deleted \\Recent))\r\n"
		"c NO [EXPUNGEISSUED] Some of the requested messages no "
		"longer exist.\r\n"
		"* 3 FETCH (FLAGS (\\Flagged \\Deleted \\Recent))\r\n"
		"d NO [EXPUNGEISSUED] Some of the messages no longer "
		"exist.\r\n"
		"* 2 EXPUNGE\r\n"
		"e OK NOOP completed.\r\n"
		"* 2 FETCH (FLAGS (\\Flagged \\Deleted \\Recent))\r\n"
		"f OK FETCH completed.\r\n");
}

Test(mailbox, expunge_during_uid_fetch, T_TIMEOUT)
{
	/* "UID FETCH, UID STORE, and UID SEARCH are different commands
	 * from FETCH, STORE, and SEARCH. An EXPUNGE response MAY be sent
	 * during a UID command." (RFC 9051 §7.5.1) */
	three_msgs();
	fake_store_event(1, FAKE_EXPUNGE, "INBOX", 1, 0, NULL);
	expect_output("uid fetch", SELECT_IN "a UID FETCH 3 FLAGS\r\n",
		SELECT_OUT
		"* 3 FETCH (UID 3 FLAGS (\\Deleted \\Recent))\r\n"
		"* 1 EXPUNGE\r\n"
		"a OK FETCH completed.\r\n");
	three_msgs();
	fake_store_event(1, FAKE_EXPUNGE, "INBOX", 1, 0, NULL);
	fake_store_event(1, FAKE_EXPUNGE, "INBOX", 3, 0, NULL);
	/* Highest first, each number valid when it is read. */
	expect_output("uid store", SELECT_IN
		"a UID STORE 2 +FLAGS.SILENT (\\Answered)\r\n",
		SELECT_OUT
		"* 3 EXPUNGE\r\n* 1 EXPUNGE\r\n"
		"a OK STORE completed.\r\n");
}

Test(mailbox, new_mail_and_flag_changes, T_TIMEOUT)
{
	three_msgs();
	fake_store_event(1, FAKE_APPEND, "INBOX", 0, 0, MSG1);
	fake_store_event(2, FAKE_FLAGS, "INBOX", 2, STORE_F_FLAGGED, NULL);
	/* New mail: EXISTS (and RECENT); flags another client changed: an
	 * unsolicited FETCH (RFC 9051 §7.4, §7.5.2). */
	expect_output("noop", SELECT_IN "a NOOP\r\nb CHECK\r\nc NOOP\r\n",
		SELECT_OUT
		"* 4 EXISTS\r\n* 4 RECENT\r\n"
		"a OK NOOP completed.\r\n"
		"* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent))\r\n"
		"b OK CHECK completed.\r\n"
		"c OK NOOP completed.\r\n");
	/* Also after commands of the authenticated state. */
	three_msgs();
	fake_store_event(1, FAKE_APPEND, "INBOX", 0, 0, MSG1);
	expect_output("namespace", SELECT_IN "a NAMESPACE\r\n",
		SELECT_OUT
		"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n"
		"* 4 EXISTS\r\n* 4 RECENT\r\n"
		"a OK NAMESPACE completed.\r\n");
}

Test(mailbox, selected_mailbox_deleted_elsewhere, T_TIMEOUT)
{
	three_msgs();
	fake_store_event(1, FAKE_DELETE, "INBOX", 0, 0, NULL);
	/* RFC 2180 §3.3: the other users of a deleted mailbox get BYE. */
	expect_output("deleted", SELECT_IN "a NOOP\r\nb NOOP\r\n",
		SELECT_OUT
		"* BYE [UNAVAILABLE] The selected mailbox was deleted or "
		"renamed.\r\n"
		"a OK NOOP completed.\r\n");
}

/* ---- STORE ----------------------------------------------------------- */

Test(mailbox, store, T_TIMEOUT)
{
	three_msgs();
	expect_output("store", SELECT_IN
		"a STORE 1 +FLAGS (\\Flagged $Junk)\r\n"
		"b STORE 1:2 -FLAGS \\Seen\r\n"
		"c UID STORE 2 FLAGS (\\Answered \\Draft foo)\r\n"
		"d STORE 3 +FLAGS.SILENT (\\Seen)\r\n"
		"e STORE 3 flags.silent ()\r\n"
		"f FETCH 3 FLAGS\r\n",
		SELECT_OUT
		/* A new keyword: FLAGS again first (RFC 9051 §7.3.5). */
		"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft "
		"$Junk)\r\n"
		"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen "
		"\\Draft $Junk \\*)] Flags permitted.\r\n"
		"* 1 FETCH (FLAGS (\\Flagged \\Seen $Junk \\Recent))\r\n"
		"a OK STORE completed.\r\n"
		"* 1 FETCH (FLAGS (\\Flagged $Junk \\Recent))\r\n"
		"* 2 FETCH (FLAGS (\\Recent))\r\n"
		"b OK STORE completed.\r\n"
		"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft "
		"$Junk foo)\r\n"
		"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen "
		"\\Draft $Junk foo \\*)] Flags permitted.\r\n"
		"* 2 FETCH (UID 2 FLAGS (\\Answered \\Draft foo \\Recent))\r\n"
		"c OK STORE completed.\r\n"
		"d OK STORE completed.\r\n"
		"e OK STORE completed.\r\n"
		"* 3 FETCH (FLAGS (\\Recent))\r\n"
		"f OK FETCH completed.\r\n");
}

Test(mailbox, store_bad, T_TIMEOUT)
{
	static const struct {
		const char *cmd, *reply;
	} tab[] = {
		/* \Recent is a flag-fetch, not a flag (RFC 9051 §9). */
		{ "STORE 1 +FLAGS (\\Recent)", "\\Recent cannot be set." },
		{ "STORE 1 +FLAGS (\\Foo)", "Unknown system flag." },
		{ "STORE 1 +FLAGS (a]b)", "Invalid keyword." },
		{ "STORE 1 +FLAGS (k2345678901234567890123456789012345678901"
		  "2345678901234567890123456789012345678901234567890123456789"
		  "0123456789012345678901234567890)", "Keyword too long." },
		{ "STORE 1 +FLAGS (\"quoted\")", "Invalid flag." },
		{ "STORE 1 +FLAGS", "Expected a sequence set, FLAGS and "
		  "flags." },
		{ "STORE 1 FLAG (\\Seen)", "Invalid STORE item." },
		{ "STORE 1 +FLAGS.LOUD (\\Seen)", "Invalid STORE item." },
		{ "STORE 1 (UNCHANGEDSINCE x) +FLAGS (\\Seen)",
		  "Invalid STORE modifiers." },
		{ "STORE 1 (UNCHANGEDSINCE 5 X 1) +FLAGS (\\Seen)",
		  "Invalid STORE modifiers." },
		{ "STORE 1 (UNCHANGEDSINCE 9223372036854775808) +FLAGS "
		  "(\\Seen)", "Invalid STORE modifiers." },
		{ "STORE 9 +FLAGS (\\Seen)", "Message sequence number out of "
		  "range" },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		char *in = xasprintf(SELECT_IN "a %s\r\n", tab[i].cmd);
		char *want = xasprintf(SELECT_OUT "a BAD %s\r\n",
				       tab[i].reply);

		three_msgs();
		expect_output(tab[i].cmd, in, want);
		free(in);
		free(want);
	}
}

/* ---- EXPUNGE, CLOSE, UNSELECT ------------------------------------------ */

Test(mailbox, expunge, T_TIMEOUT)
{
	three_msgs();
	expect_output("expunge", SELECT_IN
		"a STORE 1 +FLAGS.SILENT (\\Deleted)\r\nb EXPUNGE\r\n"
		"c FETCH 1:* UID\r\n",
		SELECT_OUT
		"a OK STORE completed.\r\n"
		"* 3 EXPUNGE\r\n* 1 EXPUNGE\r\n"
		"b OK EXPUNGE completed.\r\n"
		"* 1 FETCH (UID 2)\r\n"
		"c OK FETCH completed.\r\n");
	three_msgs();
	/* RFC 4315 §2.1: only the \Deleted messages among the UIDs. */
	expect_output("uid expunge", SELECT_IN
		"a STORE 1 +FLAGS.SILENT (\\Deleted)\r\nb UID EXPUNGE 2:3\r\n"
		"c UID EXPUNGE 7\r\nd UID EXPUNGE\r\n",
		SELECT_OUT
		"a OK STORE completed.\r\n"
		"* 3 EXPUNGE\r\n"
		"b OK EXPUNGE completed.\r\n"
		"c OK EXPUNGE completed.\r\n"
		"d BAD Expected a UID set.\r\n");
}

Test(mailbox, close_and_unselect, T_TIMEOUT)
{
	three_msgs();
	/* RFC 9051 §6.4.1: CLOSE expunges silently. */
	expect_output("close", SELECT_IN "a CLOSE\r\nb FETCH 1 UID\r\n"
		      "c STATUS INBOX (MESSAGES)\r\n",
		      SELECT_OUT
		      "a OK CLOSE completed.\r\n"
		      "b BAD No mailbox selected.\r\n"
		      "* STATUS \"INBOX\" (MESSAGES 2)\r\n"
		      "c OK STATUS completed.\r\n");
	three_msgs();
	/* RFC 3691: UNSELECT does not. */
	expect_output("unselect", SELECT_IN "a UNSELECT\r\n"
		      "c STATUS INBOX (MESSAGES)\r\nd UNSELECT\r\n",
		      SELECT_OUT
		      "a OK UNSELECT completed.\r\n"
		      "* STATUS \"INBOX\" (MESSAGES 3)\r\n"
		      "c OK STATUS completed.\r\n"
		      "d BAD No mailbox selected.\r\n");
	three_msgs();
	/* EXAMINE + CLOSE expunges nothing. */
	expect_output("close read-only", "e EXAMINE INBOX\r\na CLOSE\r\n"
		      "c STATUS INBOX (MESSAGES)\r\n",
		      "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen "
		      "\\Draft)\r\n"
		      "* OK [PERMANENTFLAGS ()] No permanent flags "
		      "permitted.\r\n"
		      "* 3 EXISTS\r\n* 3 RECENT\r\n"
		      "* OK [UNSEEN 2] First unseen.\r\n"
		      "* OK [UIDVALIDITY 1001] UIDs valid.\r\n"
		      "* OK [UIDNEXT 4] Predicted next UID.\r\n"
		      "e OK [READ-ONLY] EXAMINE completed.\r\n"
		      "a OK CLOSE completed.\r\n"
		      "* STATUS \"INBOX\" (MESSAGES 3)\r\n"
		      "c OK STATUS completed.\r\n");
}

/* ---- COPY, MOVE -------------------------------------------------------- */

Test(mailbox, copy_and_move, T_TIMEOUT)
{
	three_msgs();
	fake_store_add_box("Archive", STORE_LIST_ARCHIVE, true);
	/* RFC 4315 §3: COPYUID uidvalidity source-set dest-set. */
	expect_output("copy", SELECT_IN
		"a COPY 1:2 Archive\r\nb UID COPY 3 Archive\r\n"
		"c COPY 1 Nope\r\nd UID COPY 99 Archive\r\n"
		"e STATUS Archive (MESSAGES UIDNEXT)\r\n",
		SELECT_OUT
		"a OK [COPYUID 1002 1:2 1:2] COPY completed.\r\n"
		"b OK [COPYUID 1002 3 3] COPY completed.\r\n"
		"c NO [TRYCREATE] Mailbox does not exist.\r\n"
		"d OK No messages to copy.\r\n"
		"* STATUS \"Archive\" (MESSAGES 3 UIDNEXT 4)\r\n"
		"e OK STATUS completed.\r\n");
	three_msgs();
	fake_store_add_box("Archive", STORE_LIST_ARCHIVE, true);
	/* RFC 6851 §3.3: untagged OK [COPYUID], the EXPUNGEs, the OK. */
	expect_output("move", SELECT_IN
		"a MOVE 1:2 Archive\r\nb UID MOVE 3 Archive\r\n"
		"c FETCH 1 UID\r\n",
		SELECT_OUT
		"* OK [COPYUID 1002 1:2 1:2] Moved.\r\n"
		"* 2 EXPUNGE\r\n* 1 EXPUNGE\r\n"
		"a OK MOVE completed.\r\n"
		"* OK [COPYUID 1002 3 3] Moved.\r\n"
		"* 1 EXPUNGE\r\n"
		"b OK MOVE completed.\r\n"
		"c BAD Message sequence number out of range\r\n");
}

Test(mailbox, copy_expunged_copies_nothing, T_TIMEOUT)
{
	three_msgs();
	fake_store_add_box("Archive", 0, false);
	fake_store_event(1, FAKE_EXPUNGE, "INBOX", 2, 0, NULL);
	expect_output("copy", SELECT_IN "a FETCH 1 UID\r\nb COPY 1:3 "
		      "Archive\r\nc STATUS Archive (MESSAGES)\r\n",
		      SELECT_OUT
		      "* 1 FETCH (UID 1)\r\n"
		      "a OK FETCH completed.\r\n"
		      "* 2 EXPUNGE\r\n"
		      "b NO [EXPUNGEISSUED] Some of the messages no longer "
		      "exist.\r\n"
		      "* STATUS \"Archive\" (MESSAGES 0)\r\n"
		      "c OK STATUS completed.\r\n");
}

/* ---- APPEND ------------------------------------------------------------ */

Test(mailbox, append, T_TIMEOUT)
{
	three_msgs();
	/* RFC 4315 §3 APPENDUID; RFC 3502 MULTIAPPEND: one UID set. The
	 * date's zone is applied (the store keeps UTC). */
	expect_output("append", "a APPEND INBOX {4+}\r\nabcd\r\n"
		"b APPEND inbox (\\Seen $Work) \" 5-Mar-2024 10:00:00 +0100\" "
		"{2+}\r\nxy\r\n"
		"c APPEND INBOX {1+}\r\nx (\\Flagged) {1+}\r\ny\r\n"
		"s SELECT INBOX\r\n"
		"f FETCH 5 (FLAGS INTERNALDATE RFC822.SIZE)\r\n"
		"g FETCH 6:7 (FLAGS RFC822.SIZE)\r\n",
		"a OK [APPENDUID 1001 4] APPEND completed.\r\n"
		"b OK [APPENDUID 1001 5] APPEND completed.\r\n"
		"c OK [APPENDUID 1001 6:7] APPEND completed.\r\n"
		"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft "
		"$Work)\r\n"
		"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen "
		"\\Draft $Work \\*)] Flags permitted.\r\n"
		"* 7 EXISTS\r\n"
		"* 7 RECENT\r\n"
		"* OK [UNSEEN 2] First unseen.\r\n"
		"* OK [UIDVALIDITY 1001] UIDs valid.\r\n"
		"* OK [UIDNEXT 8] Predicted next UID.\r\n"
		"s OK [READ-WRITE] SELECT completed.\r\n"
		"* 5 FETCH (FLAGS (\\Seen $Work \\Recent) INTERNALDATE "
		"\"05-Mar-2024 09:00:00 +0000\" RFC822.SIZE 2)\r\n"
		"f OK FETCH completed.\r\n"
		"* 6 FETCH (FLAGS (\\Recent) RFC822.SIZE 1)\r\n"
		"* 7 FETCH (FLAGS (\\Flagged \\Recent) RFC822.SIZE 1)\r\n"
		"g OK FETCH completed.\r\n");
}

Test(mailbox, append_into_selected_mailbox, T_TIMEOUT)
{
	three_msgs();
	/* RFC 9051 §6.3.12: the selected mailbox reports the new message. */
	expect_output("append selected", SELECT_IN
		"a APPEND INBOX {4+}\r\nabcd\r\n",
		SELECT_OUT
		"* 4 EXISTS\r\n* 4 RECENT\r\n"
		"a OK [APPENDUID 1001 4] APPEND completed.\r\n");
}

Test(mailbox, append_errors, T_TIMEOUT)
{
	struct sess_opts small = { .max_message_size = 1024 };
	char *got, *in;

	static const char nul[] = "c APPEND INBOX {3+}\r\nx\0y\r\n";

	three_msgs();
	got = run_n(NULL, nul, sizeof(nul) - 1);
	cr_expect_str_eq(got, "c BAD NUL in a message needs BINARY.\r\n",
			 "got %s", got);
	free(got);
	{
		/* RFC 3516 §4.4: binary content we cannot store */
		static const char nul8[] = "c APPEND INBOX ~{3+}\r\nx\0y\r\n";

		three_msgs();
		got = run_n(NULL, nul8, sizeof(nul8) - 1);
		cr_expect_str_eq(got, "c NO [UNKNOWN-CTE] Messages with NUL "
				 "bytes cannot be stored.\r\n", "got %s", got);
		free(got);
	}
	three_msgs();
	expect_output("errors",
		"a APPEND Nope {1+}\r\nx\r\n"
		"d APPEND INBOX \"31-Feb-2024 10:00:00 +0000\" {1+}\r\nx\r\n"
		"e APPEND INBOX (\\Recent) {1+}\r\nx\r\n"
		"f APPEND INBOX {0+}\r\n\r\n"
		"g APPEND INBOX\r\n"
		"h APPEND INBOX (\\Seen)\r\n"
		"i APPEND INBOX \"x\"\r\n"
		"j APPEND \"a/../b\" {1+}\r\nx\r\n",
		"a NO [TRYCREATE] Mailbox does not exist.\r\n"
		"d BAD Invalid date-time.\r\n"
		"e BAD \\Recent cannot be set.\r\n"
		"f NO [CANNOT] Empty messages cannot be stored.\r\n"
		"g BAD Expected a mailbox and a message.\r\n"
		"h BAD Expected a message literal.\r\n"
		"i BAD Invalid date-time.\r\n"
		"j NO [CANNOT] Mailbox name has a \".\" or \"..\" "
		"level.\r\n");
	/* RFC 7889 §4: over APPENDLIMIT is NO [TOOBIG]; the limit is in
	 * CAPABILITY. */
	in = xasprintf("a CAPABILITY\r\nb APPEND INBOX {1025+}\r\n%1025s\r\n"
		       "c APPEND INBOX {1024+}\r\n%1024s\r\n", "x", "y");
	three_msgs();
	got = run_opts(&small, in);
	cr_expect(strstr(got, "APPENDLIMIT=1024 ") != NULL ||
		  strstr(got, "APPENDLIMIT=1024\r") != NULL, "got %s", got);
	cr_expect(strstr(got, "b NO [TOOBIG] Message larger than APPENDLIMIT "
			 "(1024 bytes).\r\n") != NULL, "got %s", got);
	cr_expect(strstr(got, "c OK [APPENDUID 1001 4] APPEND completed.\r\n")
		  != NULL, "got %s", got);
	free(got);
	free(in);
}

/* ---- CREATE, DELETE, RENAME, SUBSCRIBE ----------------------------------- */

Test(mailbox, create_delete_rename, T_TIMEOUT)
{
	three_msgs();
	expect_output("namespace ops",
		"a CREATE Work\r\n"
		"b CREATE Work/\r\n"                  /* RFC 9051 §6.3.4 */
		"c CREATE Projects/\r\n"
		"d CREATE inbox\r\n"
		"e CREATE \"Sent Items\" (USE (\\Sent))\r\n"
		"f CREATE X (USE (\\All))\r\n"
		"g CREATE X (USE (\\Sent \\Trash))\r\n"
		"h CREATE \"a*b\"\r\n"
		"i CREATE &AGE-&AGI-\r\n"
		"j RENAME Work Play\r\n"
		"k RENAME Nope Other\r\n"
		"l RENAME Play INBOX\r\n"
		"m DELETE INBOX\r\n"
		"n DELETE Nope\r\n"
		"o DELETE Projects\r\n"
		"p CREATE (x)\r\n"
		"q CREATE X (FOO)\r\n"
		"r LIST \"\" *\r\n",
		"a OK CREATE completed.\r\n"
		"b NO [ALREADYEXISTS] Mailbox already exists.\r\n"
		"c OK CREATE completed.\r\n"
		"d NO [ALREADYEXISTS] INBOX always exists.\r\n"
		"e OK CREATE completed.\r\n"
		"f NO [USEATTR] Unsupported special use.\r\n"
		"g NO [USEATTR] Unsupported special use.\r\n"
		"h NO [CANNOT] Mailbox name contains a wildcard (% or "
		"*).\r\n"
		"i NO [CANNOT] Mailbox name is not valid modified "
		"UTF-7.\r\n"
		"j OK RENAME completed.\r\n"
		"k NO [NONEXISTENT] Mailbox does not exist.\r\n"
		"l NO [ALREADYEXISTS] INBOX always exists.\r\n"
		"m NO [CANNOT] The operation is not possible.\r\n"
		"n NO [NONEXISTENT] Mailbox does not exist.\r\n"
		"o OK DELETE completed.\r\n"
		"p BAD Invalid mailbox name argument.\r\n"
		"q BAD Invalid CREATE parameters.\r\n"
		"* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\n"
		"* LIST (\\HasNoChildren) \"/\" \"Play\"\r\n"
		"* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"\r\n"
		"r OK LIST completed.\r\n");
}

Test(mailbox, delete_selected_mailbox, T_TIMEOUT)
{
	three_msgs();
	fake_store_add_box("Work", 0, false);
	expect_output("delete selected", "s SELECT Work\r\na DELETE Work\r\n"
		      "b FETCH 1 FLAGS\r\n",
		      "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen "
		      "\\Draft)\r\n"
		      "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted "
		      "\\Seen \\Draft \\*)] Flags permitted.\r\n"
		      "* 0 EXISTS\r\n* 0 RECENT\r\n"
		      "* OK [UIDVALIDITY 1002] UIDs valid.\r\n"
		      "* OK [UIDNEXT 1] Predicted next UID.\r\n"
		      "s OK [READ-WRITE] SELECT completed.\r\n"
		      "a OK DELETE completed.\r\n"
		      "b BAD No mailbox selected.\r\n");
}

Test(mailbox, first_login_makes_default_folders, T_TIMEOUT)
{
	fake_store_reset();
	/* RFC 6154 special-use attributes on the folders made at the first
	 * login (store_ensure_defaults). */
	expect_output("defaults", "a LIST \"\" *\r\n",
		"* LIST (\\HasNoChildren \\Archive) \"/\" \"Archive\"\r\n"
		"* LIST (\\HasNoChildren \\Drafts) \"/\" \"Drafts\"\r\n"
		"* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\n"
		"* LIST (\\HasNoChildren \\Junk) \"/\" \"Junk\"\r\n"
		"* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\"\r\n"
		"* LIST (\\HasNoChildren \\Trash) \"/\" \"Trash\"\r\n"
		"a OK LIST completed.\r\n");
}

Test(mailbox, subscribe, T_TIMEOUT)
{
	three_msgs();
	fake_store_add_box("Work", 0, false);
	expect_output("subscribe", "a SUBSCRIBE Work\r\nb LSUB \"\" *\r\n"
		      "c UNSUBSCRIBE Work\r\nd UNSUBSCRIBE INBOX\r\n"
		      "e LSUB \"\" *\r\nf SUBSCRIBE \"\"\r\n",
		      "a OK SUBSCRIBE completed.\r\n"
		      "* LSUB () \"/\" \"INBOX\"\r\n"
		      "* LSUB () \"/\" \"Work\"\r\n"
		      "b OK LSUB completed.\r\n"
		      "c OK UNSUBSCRIBE completed.\r\n"
		      "d OK UNSUBSCRIBE completed.\r\n"
		      "e OK LSUB completed.\r\n"
		      "f NO [NONEXISTENT] Mailbox name is empty.\r\n");
}

/* ---- LIST and LSUB -------------------------------------------------------- */

/* RFC 5258 §5's example hierarchy, roughly: Fruit (a mailbox) with
 * Apple, Banana, Peach (subscribed, deleted); Vegetable/Broccoli
 * subscribed under a Vegetable that exists; Tofu/Firm with no Tofu. */
static void
fruit(void)
{
	fake_store_reset();
	fake_store_add_box("INBOX", 0, true);
	fake_store_add_box("Fruit", 0, false);
	fake_store_add_box("Fruit/Apple", 0, false);
	fake_store_add_box("Fruit/Banana", 0, true);
	fake_store_subscribe("Fruit/Peach");
	fake_store_add_box("Vegetable", 0, true);
	fake_store_add_box("Vegetable/Broccoli", 0, true);
	fake_store_add_box("Tofu/Firm", 0, false);
	fake_store_add_box("Sent", STORE_LIST_SENT, false);
	fake_store_add_msg("Sent", 0, MSG1, DATE);
}

Test(mailbox, list_basic, T_TIMEOUT)
{
	fruit();
	expect_output("star", "a LIST \"\" *\r\n",
		"* LIST (\\HasChildren) \"/\" \"Fruit\"\r\n"
		"* LIST (\\HasNoChildren) \"/\" \"Fruit/Apple\"\r\n"
		"* LIST (\\HasNoChildren) \"/\" \"Fruit/Banana\"\r\n"
		"* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\n"
		"* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\"\r\n"
		"* LIST (\\Noselect \\HasChildren) \"/\" \"Tofu\"\r\n"
		"* LIST (\\HasNoChildren) \"/\" \"Tofu/Firm\"\r\n"
		"* LIST (\\HasChildren) \"/\" \"Vegetable\"\r\n"
		"* LIST (\\HasNoChildren) \"/\" \"Vegetable/Broccoli\"\r\n"
		"a OK LIST completed.\r\n");
	fruit();
	/* "%" stops at the separator; a parent that is no mailbox is
	 * \Noselect (RFC 3501 §6.3.8); the reference is prefixed. */
	expect_output("percent", "a LIST \"\" %\r\nb LIST Fruit/ %\r\n"
		"c LIST \"\" \"\"\r\nd LIST \"\" inbox\r\ne LIST \"\" In%\r\n"
		"f LIST \"\" T*/%\r\ng LIST \"\" Nothing*\r\n",
		"* LIST (\\HasChildren) \"/\" \"Fruit\"\r\n"
		"* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\n"
		"* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\"\r\n"
		"* LIST (\\Noselect \\HasChildren) \"/\" \"Tofu\"\r\n"
		"* LIST (\\HasChildren) \"/\" \"Vegetable\"\r\n"
		"a OK LIST completed.\r\n"
		"* LIST (\\HasNoChildren) \"/\" \"Fruit/Apple\"\r\n"
		"* LIST (\\HasNoChildren) \"/\" \"Fruit/Banana\"\r\n"
		"b OK LIST completed.\r\n"
		/* RFC 9051 §6.3.9: "" asks for the separator. */
		"* LIST (\\Noselect) \"/\" \"\"\r\n"
		"c OK LIST completed.\r\n"
		/* INBOX in any case (RFC 9051 §5.1). */
		"* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\n"
		"d OK LIST completed.\r\n"
		"* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\n"
		"e OK LIST completed.\r\n"
		"* LIST (\\HasNoChildren) \"/\" \"Tofu/Firm\"\r\n"
		"f OK LIST completed.\r\n"
		"g OK LIST completed.\r\n");
}

Test(mailbox, lsub, T_TIMEOUT)
{
	fruit();
	/* RFC 3501 §6.3.9: with "%" last, an unsubscribed parent of a
	 * subscription is listed \Noselect; a subscription of a deleted
	 * mailbox is \Noselect too. */
	expect_output("lsub", "a LSUB \"\" *\r\nb LSUB \"\" %\r\n"
		"c LSUB Fruit/ %\r\n",
		"* LSUB () \"/\" \"Fruit/Banana\"\r\n"
		"* LSUB (\\Noselect) \"/\" \"Fruit/Peach\"\r\n"
		"* LSUB () \"/\" \"INBOX\"\r\n"
		"* LSUB () \"/\" \"Vegetable\"\r\n"
		"* LSUB () \"/\" \"Vegetable/Broccoli\"\r\n"
		"a OK LSUB completed.\r\n"
		"* LSUB (\\Noselect) \"/\" \"Fruit\"\r\n"
		"* LSUB () \"/\" \"INBOX\"\r\n"
		"* LSUB () \"/\" \"Vegetable\"\r\n"
		"b OK LSUB completed.\r\n"
		"* LSUB () \"/\" \"Fruit/Banana\"\r\n"
		"* LSUB (\\Noselect) \"/\" \"Fruit/Peach\"\r\n"
		"c OK LSUB completed.\r\n");
}

Test(mailbox, list_extended, T_TIMEOUT)
{
	fruit();
	/* RFC 5258 §3.1 SUBSCRIBED selects subscriptions (\Subscribed,
	 * \NonExistent for deleted ones); RECURSIVEMATCH adds the parents
	 * of matching subscriptions with CHILDINFO (§5 example 9). */
	expect_output("subscribed", "a LIST (SUBSCRIBED) \"\" *\r\n"
		"b LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %\r\n",
		"* LIST (\\HasNoChildren \\Subscribed) \"/\" "
		"\"Fruit/Banana\"\r\n"
		"* LIST (\\NonExistent \\Subscribed) \"/\" \"Fruit/Peach\"\r\n"
		"* LIST (\\HasNoChildren \\Subscribed) \"/\" \"INBOX\"\r\n"
		"* LIST (\\HasChildren \\Subscribed) \"/\" \"Vegetable\"\r\n"
		"* LIST (\\HasNoChildren \\Subscribed) \"/\" "
		"\"Vegetable/Broccoli\"\r\n"
		"a OK LIST completed.\r\n"
		"* LIST (\\HasChildren) \"/\" \"Fruit\" "
		"(\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
		"* LIST (\\HasNoChildren \\Subscribed) \"/\" \"INBOX\"\r\n"
		"* LIST (\\HasChildren \\Subscribed) \"/\" \"Vegetable\" "
		"(\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
		"b OK LIST completed.\r\n");
	fruit();
	/* Several patterns; RETURN (SUBSCRIBED CHILDREN); SPECIAL-USE as
	 * selection (RFC 6154 §3); REMOTE changes nothing here. */
	expect_output("more", "a LIST () \"\" (INBOX Fruit) RETURN "
		"(SUBSCRIBED CHILDREN)\r\n"
		"b LIST (SPECIAL-USE) \"\" *\r\n"
		"c LIST (REMOTE) \"\" Veg*\r\n"
		"d LIST \"\" Sent RETURN (SPECIAL-USE)\r\n",
		"* LIST (\\HasChildren) \"/\" \"Fruit\"\r\n"
		"* LIST (\\HasNoChildren \\Subscribed) \"/\" \"INBOX\"\r\n"
		"a OK LIST completed.\r\n"
		"* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\"\r\n"
		"b OK LIST completed.\r\n"
		"* LIST (\\HasChildren) \"/\" \"Vegetable\"\r\n"
		"* LIST (\\HasNoChildren) \"/\" \"Vegetable/Broccoli\"\r\n"
		"c OK LIST completed.\r\n"
		"* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\"\r\n"
		"d OK LIST completed.\r\n");
}

Test(mailbox, list_status, T_TIMEOUT)
{
	fruit();
	/* RFC 5819 §2: a STATUS after each selectable mailbox listed;
	 * RFC 7889 §3.2: APPENDLIMIT there too. */
	expect_output("list-status", "a LIST \"\" \"%\" RETURN (STATUS "
		"(MESSAGES UNSEEN APPENDLIMIT))\r\n",
		"* LIST (\\HasChildren) \"/\" \"Fruit\"\r\n"
		"* STATUS \"Fruit\" (MESSAGES 0 UNSEEN 0 APPENDLIMIT "
		"67108864)\r\n"
		"* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\n"
		"* STATUS \"INBOX\" (MESSAGES 0 UNSEEN 0 APPENDLIMIT "
		"67108864)\r\n"
		"* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\"\r\n"
		"* STATUS \"Sent\" (MESSAGES 1 UNSEEN 1 APPENDLIMIT "
		"67108864)\r\n"
		/* RETURN makes it an extended LIST (RFC 5258 §3.4). */
		"* LIST (\\NonExistent \\HasChildren) \"/\" \"Tofu\"\r\n"
		"* LIST (\\HasChildren) \"/\" \"Vegetable\"\r\n"
		"* STATUS \"Vegetable\" (MESSAGES 0 UNSEEN 0 APPENDLIMIT "
		"67108864)\r\n"
		"a OK LIST completed.\r\n");
}

Test(mailbox, list_bad, T_TIMEOUT)
{
	static const struct {
		const char *cmd, *reply;
	} tab[] = {
		/* RFC 5258 §3: unknown options are BAD; RECURSIVEMATCH
		 * alone is BAD. */
		{ "LIST (FOO) \"\" *", "Unknown selection option." },
		{ "LIST (RECURSIVEMATCH) \"\" *", "RECURSIVEMATCH needs "
		  "another selection option." },
		{ "LIST (REMOTE RECURSIVEMATCH) \"\" *", "RECURSIVEMATCH "
		  "needs another selection option." },
		{ "LIST \"\" * RETURN (FOO)", "Unknown return option." },
		{ "LIST \"\" * RETURN (STATUS)", "STATUS needs one list of "
		  "items." },
		{ "LIST \"\" * RETURN (STATUS (FOO))", "Unknown status "
		  "item." },
		{ "LIST \"\" * RETURNS ()", "Invalid arguments." },
		{ "LIST \"\"", "Invalid arguments." },
		{ "LIST \"\" a\\b", "Invalid mailbox pattern." },
		{ "LIST \"\" ()", "Invalid mailbox patterns." },
		{ "LSUB \"\" (a b)", "Invalid mailbox patterns." },
		{ "LSUB (SUBSCRIBED) \"\" *", "Invalid arguments." },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		char *in = xasprintf("a %s\r\n", tab[i].cmd);
		char *want = xasprintf("a BAD %s\r\n", tab[i].reply);

		fruit();
		expect_output(tab[i].cmd, in, want);
		free(in);
		free(want);
	}
}

Test(mailbox, list_names_in_mutf7, T_TIMEOUT)
{
	fake_store_reset();
	fake_store_add_box("INBOX", 0, false);
	fake_store_add_box("Entw\xc3\xbcrfe", 0, false);   /* Entwürfe */
	fake_store_add_box("a&b", 0, false);
	/* RFC 3501 §5.1.3: names on the wire are modified UTF-7. */
	expect_output("mutf7", "a LIST \"\" *\r\nb SELECT Entw&APw-rfe\r\n"
		      "c STATUS \"a&-b\" (MESSAGES)\r\n",
		      "* LIST (\\HasNoChildren) \"/\" \"Entw&APw-rfe\"\r\n"
		      "* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\n"
		      "* LIST (\\HasNoChildren) \"/\" \"a&-b\"\r\n"
		      "a OK LIST completed.\r\n"
		      "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen "
		      "\\Draft)\r\n"
		      "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted "
		      "\\Seen \\Draft \\*)] Flags permitted.\r\n"
		      "* 0 EXISTS\r\n* 0 RECENT\r\n"
		      "* OK [UIDVALIDITY 1002] UIDs valid.\r\n"
		      "* OK [UIDNEXT 1] Predicted next UID.\r\n"
		      "b OK [READ-WRITE] SELECT completed.\r\n"
		      "* STATUS \"a&-b\" (MESSAGES 0)\r\n"
		      "c OK STATUS completed.\r\n");
}

Test(mailbox, list_names_in_utf8_after_enable, T_TIMEOUT)
{
	fake_store_reset();
	fake_store_add_box("INBOX", 0, false);
	fake_store_add_box("Entw\xc3\xbcrfe", 0, false);   /* Entwürfe */
	fake_store_add_box("a&b", 0, false);
	/* RFC 6855 §3: after ENABLE UTF8=ACCEPT names are UTF-8 in quoted
	 * strings both ways ("&" is then an ordinary character); octets
	 * that are not UTF-8 are BAD. A second ENABLE enables nothing new
	 * (RFC 5161 §3.1: ENABLED lists what this command enabled). */
	expect_output("utf8", "a ENABLE UTF8=ACCEPT\r\n"
		      "b LIST \"\" *\r\n"
		      "c STATUS \"Entw\xc3\xbcrfe\" (MESSAGES)\r\n"
		      "d STATUS \"a&b\" (MESSAGES)\r\n"
		      "e STATUS \"Entw\xfcrfe\" (MESSAGES)\r\n"
		      "f ENABLE utf8=accept\r\n",
		      "* ENABLED UTF8=ACCEPT\r\n"
		      "a OK ENABLE completed.\r\n"
		      "* LIST (\\HasNoChildren) \"/\" \"Entw\xc3\xbcrfe\"\r\n"
		      "* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\n"
		      "* LIST (\\HasNoChildren) \"/\" \"a&b\"\r\n"
		      "b OK LIST completed.\r\n"
		      "* STATUS \"Entw\xc3\xbcrfe\" (MESSAGES 0)\r\n"
		      "c OK STATUS completed.\r\n"
		      "* STATUS \"a&b\" (MESSAGES 0)\r\n"
		      "d OK STATUS completed.\r\n"
		      "e BAD Mailbox name is not valid UTF-8.\r\n"
		      "* ENABLED\r\n"
		      "f OK ENABLE completed.\r\n");
}

Test(mailbox, append_utf8_data_extension, T_TIMEOUT)
{
	static const char nul[] = "a APPEND INBOX UTF8 (~{3+}\r\nx\0y)\r\n";
	char *got;

	/* RFC 6855 §4: append-data =/ "UTF8" SP "(" literal8 ")". */
	three_msgs();
	expect_output("utf8 append",
		"a APPEND INBOX UTF8 (~{13+}\r\nSubject: \xc3\xa4\r\n)\r\n"
		"b APPEND INBOX (\\Seen) UTF8 (~{1+}\r\nx) {1+}\r\ny\r\n"
		"c APPEND INBOX UTF8 ({1+}\r\nx)\r\n"
		"d APPEND INBOX UTF8 ~{1+}\r\nx\r\n"
		"e APPEND INBOX UTF8\r\n"
		"s SELECT INBOX\r\n"
		"f FETCH 4:6 (FLAGS RFC822.SIZE)\r\n",
		"a OK [APPENDUID 1001 4] APPEND completed.\r\n"
		"b OK [APPENDUID 1001 5:6] APPEND completed.\r\n"
		"c BAD Expected UTF8 (literal8).\r\n"
		"d BAD Expected UTF8 (literal8).\r\n"
		"e BAD Expected UTF8 (literal8).\r\n"
		"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
		"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen "
		"\\Draft \\*)] Flags permitted.\r\n"
		"* 6 EXISTS\r\n"
		"* 6 RECENT\r\n"
		"* OK [UNSEEN 2] First unseen.\r\n"
		"* OK [UIDVALIDITY 1001] UIDs valid.\r\n"
		"* OK [UIDNEXT 7] Predicted next UID.\r\n"
		"s OK [READ-WRITE] SELECT completed.\r\n"
		"* 4 FETCH (FLAGS (\\Recent) RFC822.SIZE 13)\r\n"
		"* 5 FETCH (FLAGS (\\Seen \\Recent) RFC822.SIZE 1)\r\n"
		"* 6 FETCH (FLAGS (\\Recent) RFC822.SIZE 1)\r\n"
		"f OK FETCH completed.\r\n");
	three_msgs();
	got = run_n(NULL, nul, sizeof(nul) - 1);
	cr_expect_str_eq(got, "a NO [CANNOT] NUL in a message cannot be "
			 "stored.\r\n", "got %s", got);
	free(got);
}

/* ---- STATUS, NAMESPACE, SEARCH ------------------------------------------ */

Test(mailbox, status, T_TIMEOUT)
{
	three_msgs();
	expect_output("status", "a STATUS INBOX (MESSAGES RECENT UIDNEXT "
		"UIDVALIDITY UNSEEN DELETED SIZE APPENDLIMIT messages)\r\n"
		"b STATUS Nope (MESSAGES)\r\n"
		"c STATUS INBOX (HIGHESTMODSEQ)\r\n"
		"d STATUS INBOX ()\r\n"
		"e STATUS INBOX MESSAGES\r\n",
		"* STATUS \"INBOX\" (MESSAGES 3 RECENT 3 UIDNEXT 4 "
		"UIDVALIDITY 1001 UNSEEN 2 DELETED 1 SIZE 82 APPENDLIMIT "
		"67108864)\r\n"
		"a OK STATUS completed.\r\n"
		"b NO [NONEXISTENT] Mailbox does not exist.\r\n"
		"* STATUS \"INBOX\" (HIGHESTMODSEQ 4)\r\n"
		"c OK STATUS completed.\r\n"
		"d BAD Missing status items.\r\n"
		"e BAD Expected a mailbox and a list of status items.\r\n");
}

Test(mailbox, uid_bad_subcommand, T_TIMEOUT)
{
	/* SEARCH itself: tests/imapd/test-search.c. */
	three_msgs();
	expect_output("uid", SELECT_IN "c UID FROB 1\r\nd UID\r\n",
		      SELECT_OUT
		      "c BAD Unknown UID command.\r\n"
		      "d BAD Missing UID command.\r\n");
}

/* ---- the LIST pattern matcher ----------------------------------------- */

Test(mailbox, list_pattern_match)
{
	static const struct {
		const char *ref, *pat, *name;
		bool match;
	} tab[] = {
		{ "", "*", "a/b/c", true },
		{ "", "%", "a/b", false },
		{ "", "%", "a", true },
		{ "", "a/%", "a/b", true },
		{ "", "a/%", "a/b/c", false },
		{ "", "a/*", "a/b/c", true },
		{ "a/", "%", "a/b", true },
		{ "a/", "%", "b", false },
		{ "", "*b", "a/b", true },
		{ "", "%b", "a/b", false },
		{ "", "a%c", "abc", true },
		{ "", "a%c", "a/c", false },
		{ "", "a*c", "a/x/c", true },
		{ "", "inbox", "INBOX", true },
		{ "", "InBoX/sub", "INBOX/sub", true },
		{ "", "inbox/Sub", "INBOX/sub", false },
		{ "", "inb%", "INBOX", true },
		{ "", "inbox", "INBOXES", false },
		{ "", "INBOXES", "INBOXES", true },
		{ "", "inboxes", "INBOXES", false },
		{ "", "Entw&APw-rfe", "Entw\xc3\xbcrfe", true },
		{ "", "&APw-", "\xc3\xbc", true },
		{ "", "&Jjo", "x", false },             /* bad mUTF-7 */
		{ "", "", "", true },
		{ "", "**%%**", "a/b", true },
		{ "", "*a*a*a*a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		  false },
	};
	struct pool *pool = pool_new(1024);

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		struct imap_list_pattern pat;
		bool got;

		imap_list_pattern_init(&pat, pool, tab[i].ref, tab[i].pat,
				       false, '/');
		got = imap_list_pattern_match(&pat, tab[i].name);
		cr_expect_eq(got, tab[i].match, "row %zu: %s%s vs %s: got %d",
			     i, tab[i].ref, tab[i].pat, tab[i].name, got);
	}
	pool_free(&pool);
}

/* ---- CONDSTORE and QRESYNC (RFC 7162) ----------------------------------- */

/* three_msgs' modseqs: UID 1 -> 2, 2 -> 3, 3 -> 4; HIGHESTMODSEQ 4. */
#define CS_SELECT_OUT \
	"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n" \
	"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen " \
	"\\Draft \\*)] Flags permitted.\r\n" \
	"* 3 EXISTS\r\n" \
	"* 3 RECENT\r\n" \
	"* OK [UNSEEN 2] First unseen.\r\n" \
	"* OK [UIDVALIDITY 1001] UIDs valid.\r\n" \
	"* OK [UIDNEXT 4] Predicted next UID.\r\n" \
	"* OK [HIGHESTMODSEQ 4] Highest mailbox mod-sequence.\r\n" \
	"s OK [READ-WRITE] SELECT completed.\r\n"

Test(mailbox, condstore_store_and_fetch, T_TIMEOUT)
{
	three_msgs();
	expect_output("condstore",
		"e ENABLE CONDSTORE\r\n" SELECT_IN
		"a STORE 2 +FLAGS (\\Flagged)\r\n"
		/* §3.1.3: 1 passes (2 <= 3) and is answered with MODSEQ
		 * only (.SILENT); 2 (now 5) and 3 (4) fail */
		"b STORE 1:3 (UNCHANGEDSINCE 3) +FLAGS.SILENT (\\Answered)\r\n"
		/* §3.1.4.1: only modseq > 4, with MODSEQ */
		"c FETCH 1:* (FLAGS) (CHANGEDSINCE 4)\r\n"
		/* §3.1.3 example 7: 0 always fails; UIDs for UID STORE */
		"d UID STORE 1 (UNCHANGEDSINCE 0) -FLAGS (\\Seen)\r\n"
		/* equal passes */
		"f UID STORE 3 (UNCHANGEDSINCE 4) FLAGS (\\Draft)\r\n"
		"g FETCH 3 (MODSEQ UID)\r\n"
		/* a CONDSTORE-aware client learns the new modseq even
		 * from a plain .SILENT (as Dovecot answers) */
		"h STORE 2 -FLAGS.SILENT (\\Flagged)\r\n",
		"* ENABLED CONDSTORE\r\ne OK ENABLE completed.\r\n"
		CS_SELECT_OUT
		"* 2 FETCH (FLAGS (\\Flagged \\Recent) MODSEQ (5))\r\n"
		"a OK STORE completed.\r\n"
		"* 1 FETCH (MODSEQ (6))\r\n"
		"b OK [MODIFIED 2:3] Conditional STORE failed.\r\n"
		"* 1 FETCH (FLAGS (\\Answered \\Seen \\Recent) MODSEQ (6))\r\n"
		"* 2 FETCH (FLAGS (\\Flagged \\Recent) MODSEQ (5))\r\n"
		"c OK FETCH completed.\r\n"
		"d OK [MODIFIED 1] Conditional STORE failed.\r\n"
		"* 3 FETCH (UID 3 FLAGS (\\Draft \\Recent) MODSEQ (7))\r\n"
		"f OK STORE completed.\r\n"
		"* 3 FETCH (MODSEQ (7) UID 3)\r\n"
		"g OK FETCH completed.\r\n"
		"* 2 FETCH (MODSEQ (8))\r\n"
		"h OK STORE completed.\r\n");
}

/* A session that never enabled CONDSTORE hears of modseqs only after a
 * CONDSTORE-enabling command, which first reports HIGHESTMODSEQ (§3.1);
 * another session's change then comes with MODSEQ. */
Test(mailbox, condstore_enabled_by_fetch, T_TIMEOUT)
{
	three_msgs();
	fake_store_event(2, FAKE_FLAGS, "INBOX", 2, STORE_F_FLAGGED, NULL);
	expect_output("enabling", SELECT_IN
		"a FETCH 1 (MODSEQ)\r\n"
		"b NOOP\r\n",
		SELECT_OUT
		"* OK [HIGHESTMODSEQ 4] Highest mailbox mod-sequence.\r\n"
		"* 1 FETCH (MODSEQ (2))\r\n"
		"a OK FETCH completed.\r\n"
		"* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent) MODSEQ (5))\r\n"
		"b OK NOOP completed.\r\n");
}

/* Five messages, UIDs 1-5, modseqs 2-6 (HIGHESTMODSEQ 6). */
static void
five_msgs(void)
{
	three_msgs();
	fake_store_add_msg("INBOX", 0, MSG1, DATE);
	fake_store_add_msg("INBOX", 0, MSG2, DATE);
}

#define QR_SELECT(tag, n, recent, unseen, hms) \
	"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n" \
	"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen " \
	"\\Draft \\*)] Flags permitted.\r\n" \
	"* " n " EXISTS\r\n" \
	"* " recent " RECENT\r\n" \
	"* OK [UNSEEN " unseen "] First unseen.\r\n" \
	"* OK [UIDVALIDITY 1001] UIDs valid.\r\n" \
	"* OK [UIDNEXT 6] Predicted next UID.\r\n" \
	"* OK [HIGHESTMODSEQ " hms "] Highest mailbox mod-sequence.\r\n"
#define QR_OK(tag) tag " OK [READ-WRITE] SELECT completed.\r\n"
#define CLOSED "* OK [CLOSED] Previous mailbox is now closed.\r\n"

Test(mailbox, qresync_vanished_and_resync, T_TIMEOUT)
{
	five_msgs();
	/* sync 1: another session expunges UID 2 (modseq 7) and flags 4
	 * (8); sync 2: UID 4 goes (9) and the index forgets its
	 * tombstones (floor 9), as past its bound */
	fake_store_event(1, FAKE_EXPUNGE, "INBOX", 2, 0, NULL);
	fake_store_event(1, FAKE_FLAGS, "INBOX", 4, STORE_F_FLAGGED, NULL);
	fake_store_event(2, FAKE_EXPUNGE, "INBOX", 4, 0, NULL);
	fake_store_event(2, FAKE_FORGET, "INBOX", 0, 0, NULL);
	expect_output("qresync",
		"e ENABLE QRESYNC\r\n"
		"s SELECT INBOX\r\n"
		/* §3.2.10.2: VANISHED, not EXPUNGE; FETCH with UID+MODSEQ */
		"n NOOP\r\n"
		/* §3.2.5: what changed since 6 among all UIDs */
		"p SELECT INBOX (QRESYNC (1001 6))\r\n"
		/* known UIDs restrict it (§3.2.5.1) */
		"p2 SELECT INBOX (QRESYNC (1001 6 3:5))\r\n"
		"n2 NOOP\r\n"
		/* forgotten: every known UID that is gone (§3.2.5.2 allows
		 * more), 2 and 4 though only 4 went after 7 */
		"q SELECT INBOX (QRESYNC (1001 7 1:5))\r\n"
		/* sequence match data: 1 -> 1 and 2 -> 3 still hold, so
		 * nothing at or below 3 */
		"r SELECT INBOX (QRESYNC (1001 7 1:5 (1:2 1,3)))\r\n"
		/* at or above the floor the tombstones are exact again */
		"t SELECT INBOX (QRESYNC (1001 9))\r\n"
		/* §3.2.6: UID FETCH's VANISHED, the same fallback */
		"v UID FETCH 1:* (FLAGS) (CHANGEDSINCE 7 VANISHED)\r\n"
		/* another UIDVALIDITY: the rest is ignored (§3.2.5) */
		"w SELECT INBOX (QRESYNC (1002 1))\r\n",
		"* ENABLED QRESYNC\r\ne OK ENABLE completed.\r\n"
		QR_SELECT("s", "5", "5", "2", "6") QR_OK("s")
		"* VANISHED 2\r\n"
		"* 3 FETCH (UID 4 FLAGS (\\Flagged \\Recent) MODSEQ (8))\r\n"
		"n OK NOOP completed.\r\n"
		CLOSED QR_SELECT("p", "4", "0", "2", "8")
		"* VANISHED (EARLIER) 2\r\n"
		"* 3 FETCH (UID 4 FLAGS (\\Flagged) MODSEQ (8))\r\n"
		QR_OK("p")
		CLOSED QR_SELECT("p2", "4", "0", "2", "8")
		"* 3 FETCH (UID 4 FLAGS (\\Flagged) MODSEQ (8))\r\n"
		QR_OK("p2")
		"* VANISHED 4\r\n"
		"n2 OK NOOP completed.\r\n"
		CLOSED QR_SELECT("q", "3", "0", "2", "9")
		"* VANISHED (EARLIER) 2,4\r\n"
		QR_OK("q")
		CLOSED QR_SELECT("r", "3", "0", "2", "9")
		"* VANISHED (EARLIER) 4\r\n"
		QR_OK("r")
		CLOSED QR_SELECT("t", "3", "0", "2", "9")
		QR_OK("t")
		"* VANISHED (EARLIER) 2,4\r\n"
		"v OK FETCH completed.\r\n"
		CLOSED QR_SELECT("w", "3", "0", "2", "9")
		QR_OK("w"));
}

Test(mailbox, qresync_bad_parameters, T_TIMEOUT)
{
	static const char *const bad[] = {
		"(QRESYNC (1001))", "(QRESYNC (0 1))", "(QRESYNC (1001 0))",
		"(QRESYNC (1001 1 1:5 (1:2 5)))", "(QRESYNC (1001 1 1:5 "
		"(2,1 5,6)))", "(QRESYNC (1001 1 1:5 (1:* 1:2)))",
		"(QRESYNC 1001)", "(QRESYNC (1001 1 $))", "(QRESYNC (1001 1 "
		"1:5 (1 2) x))", "(QRESYNC (1001 1) QRESYNC (1001 1))",
		"(QRESYNC (x 1))", "(CONDSTORE CONDSTORE)", "()",
	};

	five_msgs();
	expect_output("not enabled", "a SELECT INBOX (QRESYNC (1001 1))\r\n",
		      "a BAD QRESYNC needs ENABLE QRESYNC first.\r\n");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *in = xasprintf("e ENABLE QRESYNC\r\na SELECT INBOX %s\r\n",
				     bad[i]);
		char *got = run(in);
		const char *line = strstr(got, "e OK ENABLE completed.\r\n");

		cr_assert_not_null(line, "%s: got %s", bad[i], got);
		line += strlen("e OK ENABLE completed.\r\n");
		cr_expect(str_has_prefix(line, "a BAD ") &&
			  strchr(line, '\n') == line + strlen(line) - 1,
			  "%s: got %s, want one BAD line", bad[i], line);
		free(got);
		free(in);
	}
}
