/*
 * Tests for SORT / UID SORT and THREAD / UID THREAD (imap/cmd-sort.c,
 * cmd-thread.c, imap-msgfields.c) against the in-memory store: every
 * sort criterion (RFC 5256 §3, RFC 5957 DISPLAYFROM/DISPLAYTO), REVERSE,
 * ties by sequence number, the sent-date fallback to INTERNALDATE
 * (§2.2), both THREAD algorithms and their output (§4), and bad input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "core/buf.h"
#include "core/str.h"
#include "imap/imap-search.h"
#include "storage/store.h"
#include "fake-store.h"
#include "harness.h"

TestSuite(sort, .fini = fake_store_reset);

/* 14-Nov-2023 22:13:20 UTC */
#define D1 1700000000
#define DAY 86400

static void
add(const char *hdr, size_t pad, time_t internaldate)
{
	char *m = malloc(strlen(hdr) + pad + 8);

	strcpy(m, hdr);
	strcat(m, "\r\n");
	memset(m + strlen(m), 'x', pad);
	m[strlen(hdr) + 2 + pad] = '\0';
	fake_store_add_msg("INBOX", 0, m, internaldate);
	free(m);
}

/* Seq 1..5 are UIDs 2..6. Sent dates (UTC): 1: 14 Nov, 2: 16 Nov 09:00,
 * 3: none (INTERNALDATE, 16 Nov 22:13), 4: 13 Nov, 5: 12 Nov. */
static void
five_msgs(void)
{
	fake_store_reset();
	fake_store_add_box("INBOX", 0, true);
	fake_store_add_msg("INBOX", STORE_F_DELETED, "Subject: gone\r\n\r\n",
			   D1);
	add("From: Zed <carol@x>\r\nTo: alice@x\r\nCc: bob@x\r\n"
	    "Subject: Re: beta\r\nDate: Tue, 14 Nov 2023 10:00:00 +0000\r\n"
	    "Message-ID: <1@x>\r\n", 1000, D1 + 3 * DAY);
	add("From: Anna <dave@x>\r\nTo: \"Bob B\" <zack@x>\r\n"
	    "Subject: alpha\r\nDate: Thu, 16 Nov 2023 10:00:00 +0100\r\n"
	    "Message-ID: <2@x>\r\n", 200, D1 + DAY);
	add("From: bob@x\r\nTo: carl@x\r\nSubject: [list] Beta\r\n"
	    "Message-ID: <3@x>\r\nReferences: <1@x>\r\n", 800, D1 + 2 * DAY);
	add("From: alice@x\r\nSubject: Fwd: Alpha\r\n"
	    "Date: 13 Nov 2023 12:00 GMT\r\nMessage-ID: <4@x>\r\n"
	    "In-Reply-To: <2@x> (your message)\r\n", 600, D1);
	add("Subject: =?UTF-8?Q?gamma?=\r\nDate: 12 Nov 2023 12:00 GMT\r\n"
	    "Message-ID: <5@x>\r\nReferences: <missing@x>\r\n", 400,
	    D1 + 4 * DAY);
}

#define SETUP \
	"s SELECT INBOX\r\n" \
	"x STORE 1 +FLAGS.SILENT (\\Deleted)\r\n" \
	"k UID EXPUNGE 1\r\n"

struct row {
	const char *cmd;
	const char *want;
	const char *reply;
};

#define OK_S "OK SORT completed."
#define OK_US "OK UID SORT completed."
#define OK_T "OK THREAD completed."
#define OK_UT "OK UID THREAD completed."

static const struct row rows[] = {
	{ "SORT (DATE) UTF-8 ALL", "* SORT 5 4 1 2 3", OK_S },
	{ "SORT (REVERSE DATE) UTF-8 ALL", "* SORT 3 2 1 4 5", OK_S },
	{ "SORT (ARRIVAL) UTF-8 ALL", "* SORT 4 2 3 1 5", OK_S },
	{ "SORT (REVERSE ARRIVAL) US-ASCII ALL", "* SORT 5 1 3 2 4", OK_S },
	{ "SORT (SIZE) UTF-8 ALL", "* SORT 2 5 4 3 1", OK_S },
	{ "SORT (REVERSE SIZE) UTF-8 ALL", "* SORT 1 3 4 5 2", OK_S },
	/* base subjects ALPHA (2, 4), BETA (1, 3), GAMMA; ties by seq */
	{ "SORT (SUBJECT) UTF-8 ALL", "* SORT 2 4 1 3 5", OK_S },
	{ "SORT (SUBJECT DATE) UTF-8 ALL", "* SORT 4 2 1 3 5", OK_S },
	{ "SORT (SUBJECT REVERSE DATE) UTF-8 ALL", "* SORT 2 4 3 1 5",
	  OK_S },
	/* addr-mailbox: carol dave bob alice "" */
	{ "SORT (FROM) UTF-8 ALL", "* SORT 5 4 3 1 2", OK_S },
	/* RFC 5957: Zed Anna bob@x alice@x "" */
	{ "SORT (DISPLAYFROM) UTF-8 ALL", "* SORT 5 4 2 3 1", OK_S },
	{ "SORT (TO) UTF-8 ALL", "* SORT 4 5 1 3 2", OK_S },
	{ "SORT (DISPLAYTO) UTF-8 ALL", "* SORT 4 5 1 2 3", OK_S },
	/* equal keys stay ascending by seq even under REVERSE */
	{ "SORT (CC) UTF-8 ALL", "* SORT 2 3 4 5 1", OK_S },
	{ "SORT (REVERSE CC) UTF-8 ALL", "* SORT 1 2 3 4 5", OK_S },
	{ "sort (date) utf-8 all", "* SORT 5 4 1 2 3", OK_S },
	{ "UID SORT (ARRIVAL) UTF-8 ALL", "* SORT 5 3 4 2 6", OK_US },
	{ "SORT (DATE) UTF-8 SUBJECT beta", "* SORT 1 3", OK_S },
	{ "SORT (DATE) UTF-8 2:4", "* SORT 4 2 3", OK_S },
	{ "SORT (DATE) UTF-8 SUBJECT nothing", "* SORT", OK_S },
	{ "SORT (DATE) X-NOPE ALL", "",
	  "NO [BADCHARSET (" SEARCH_CHARSETS ")] Unsupported charset." },
	{ "SORT DATE UTF-8 ALL", "", "BAD Expected a list of sort criteria." },
	{ "SORT () UTF-8 ALL", "", "BAD Expected a list of sort criteria." },
	{ "SORT (REVERSE) UTF-8 ALL", "", "BAD REVERSE without a sort key." },
	{ "SORT (FOO) UTF-8 ALL", "", "BAD Unknown sort criterion." },
	{ "SORT (DATE) UTF-8", "",
	  "BAD Expected a charset and a search program." },
	{ "SORT", "", "BAD Expected sort criteria." },
	{ "SORT (DATE) UTF-8 FOO", "", "BAD Unknown search key." },
	/* ORDEREDSUBJECT: threads by base subject, by first date */
	{ "THREAD ORDEREDSUBJECT UTF-8 ALL", "* THREAD (5)(4 2)(1 3)", OK_T },
	/* REFERENCES: 3 -> 1 (References), 4 -> 2 (In-Reply-To), 5 under a
	 * missing parent is promoted; roots by date */
	{ "THREAD REFERENCES UTF-8 ALL", "* THREAD (5)(1 3)(2 4)", OK_T },
	{ "UID THREAD REFERENCES UTF-8 ALL", "* THREAD (6)(2 4)(3 5)",
	  OK_UT },
	{ "THREAD REFERENCES UTF-8 NOT 1", "* THREAD (5)(2 4)(3)", OK_T },
	{ "THREAD REFERENCES UTF-8 SUBJECT nothing", "* THREAD", OK_T },
	{ "THREAD FOO UTF-8 ALL", "", "BAD Unknown threading algorithm." },
	{ "THREAD (REFERENCES) UTF-8 ALL", "",
	  "BAD Expected a threading algorithm." },
	{ "THREAD REFERENCES X-NOPE ALL", "",
	  "NO [BADCHARSET (" SEARCH_CHARSETS ")] Unsupported charset." },
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

static void
run_rows(const struct row *r, size_t n)
{
	struct buf *in = buf_new(1u << 20);
	struct sess s;
	size_t pos;
	char *eol;

	cr_assert(buf_append_str(in, SETUP) == 0);
	for (size_t i = 0; i < n; i++)
		cr_assert(buf_printf(in, "t%zu %s\r\n", i, r[i].cmd) == 0);
	cr_assert(buf_append_str(in, "z LOGOUT\r\n") == 0);
	sess_script(&s, NULL, (const char *)buf_data(in), buf_len(in));
	eol = strstr(s.got, "k OK");
	cr_assert_not_null(eol, "set-up failed: %s\nlog %s", s.got, s.log);
	pos = (size_t)(strstr(eol, "\r\n") + 2 - s.got);
	for (size_t i = 0; i < n; i++) {
		char tag[16], *reply = NULL, *untagged, *want;

		snprintf(tag, sizeof(tag), "t%zu", i);
		untagged = answer_of(s.got, &pos, tag, &reply);
		cr_assert_not_null(untagged, "row %zu (%s): no answer in\n%s",
				   i, r[i].cmd, s.got + pos);
		want = xasprintf("%s%s", r[i].want, r[i].want[0] != '\0' ?
				 "\r\n" : "");
		cr_expect_str_eq(untagged, want, "row %zu (%s): got\n%s\nwant\n"
				 "%s", i, r[i].cmd, untagged, want);
		cr_expect_str_eq(reply, r[i].reply, "row %zu (%s): reply %s, "
				 "want %s", i, r[i].cmd, reply, r[i].reply);
		free(untagged);
		free(reply);
		free(want);
	}
	buf_free(&in);
	sess_free(&s);
}

Test(sort, table, .timeout = 60)
{
	five_msgs();
	run_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

/* A References field of 3,000 IDs (about 40 kB): only the nearest ones
 * are kept, and the last still names the parent. */
Test(sort, long_references, .timeout = 60)
{
	struct buf *m = buf_new(1u << 20);
	struct sess s;
	const char *script = "s SELECT INBOX\r\n"
		"t THREAD REFERENCES UTF-8 ALL\r\nz LOGOUT\r\n";

	fake_store_reset();
	fake_store_add_box("INBOX", 0, true);
	fake_store_add_msg("INBOX", 0, "Subject: a\r\nMessage-ID: <p@x>\r\n"
			   "Date: 1 Jan 2024 00:00 GMT\r\n\r\n", D1);
	fake_store_add_msg("INBOX", 0, "Subject: b\r\nMessage-ID: <q@x>\r\n"
			   "Date: 2 Jan 2024 00:00 GMT\r\n\r\n", D1);
	buf_append_str(m, "Subject: c\r\nDate: 3 Jan 2024 00:00 GMT\r\n"
		       "References:");
	for (int i = 0; i < 3000; i++)
		buf_printf(m, " <id%d@example.org>\r\n", i);
	buf_append_str(m, " <p@x>\r\n\r\nbody\r\n");
	fake_store_add_msg("INBOX", 0, buf_str(m), D1);
	/* The parent first, then 3,000 other IDs: the nearest kept are
	 * missing messages, so 4 is a thread of its own (and 2 too). */
	buf_reset(m);
	buf_append_str(m, "Subject: d\r\nDate: 4 Jan 2024 00:00 GMT\r\n"
		       "References: <q@x>");
	for (int i = 0; i < 3000; i++)
		buf_printf(m, " <jd%d@example.org>\r\n", i);
	buf_append_str(m, "\r\n\r\nbody\r\n");
	fake_store_add_msg("INBOX", 0, buf_str(m), D1);
	sess_script(&s, NULL, script, strlen(script));
	cr_expect_not_null(strstr(s.got, "* THREAD (1 3)(2)(4)\r\nt OK"),
			   "got %s", s.got);
	sess_free(&s);
	buf_free(&m);
}

static const char *const cache_cmds[] = {
	"SORT (SUBJECT) UTF-8 ALL", "SORT (FROM) UTF-8 ALL",
	"SORT (DATE) UTF-8 ALL", "SORT (TO CC) UTF-8 ALL",
	"SORT (DISPLAYFROM DISPLAYTO) UTF-8 ALL",
	"SORT (REVERSE ARRIVAL SIZE) UTF-8 ALL",
	"THREAD REFERENCES UTF-8 ALL",
	"THREAD ORDEREDSUBJECT UTF-8 ALL",
};

/* five_msgs and a sixth with a second Subject, From and References
 * after the first, which do not count (SORT takes the first, from the
 * file as from a cache record). */
static void
six_msgs(void)
{
	five_msgs();
	add("From: aaron@x\r\nSubject: aaa first\r\nFrom: zz@x\r\n"
	    "Subject: zzz second\r\nMessage-ID: <6@x>\r\n"
	    "References: <3@x>\r\nReferences: <5@x>\r\n"
	    "Date: 15 Nov 2023 12:00 GMT\r\n", 100, D1);
}

/* Runs cmds[0..n) twice in one session, a NOOP between (the events the
 * caller set for sync 3 happen there), and returns both passes' answers
 * (tags of the second renamed to the first's); s keeps the session's
 * output and log. */
static void
two_passes_of(const char *const *cmds, size_t n, struct sess *s,
	      char **first, char **second)
{
	struct buf *in = buf_new(1u << 16);
	char *mark, *got;

	(void)buf_append_str(in, SETUP);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n; i++)
			(void)buf_printf(in, "%c%zu %s\r\n",
					 pass == 0 ? 'a' : 'b', i, cmds[i]);
		if (pass == 0)
			(void)buf_append_str(in, "n NOOP\r\n");
	}
	(void)buf_append_str(in, "z FETCH 2 BODY.PEEK[TEXT]\r\n");
	sess_script(s, NULL, (const char *)buf_data(in), buf_len(in));
	got = s->got;
	mark = strstr(got, "k OK");
	cr_assert_not_null(mark, "got %s", got);
	mark = strstr(mark, "\r\n") + 2;
	*first = xstrndup(mark, (size_t)(strstr(mark, "n OK") - mark));
	mark = strstr(mark, "n OK NOOP completed.\r\n");
	cr_assert_not_null(mark, "got %s", got);
	mark += strlen("n OK NOOP completed.\r\n");
	*second = xstrndup(mark, (size_t)(strstr(mark, "z ") - mark));
	for (char *q = *second; *q != '\0'; q++)
		if (*q == 'b' && (q == *second || q[-1] == '\n'))
			*q = 'a';
	buf_free(&in);
}

static void
two_passes(struct sess *s, char **first, char **second)
{
	two_passes_of(cache_cmds, sizeof(cache_cmds) / sizeof(cache_cmds[0]),
		      s, first, second);
}

/* six_msgs, cache_cmds twice, every message open failing from the
 * NOOP between the passes on (and FETCH's records gone too, if
 * fetch_cache_too): the second pass answers as the first did, which
 * answered without an error. */
static void
second_pass_from_the_cache(bool fetch_cache_too, struct sess *s,
			   char **first)
{
	char *second;

	six_msgs();
	fake_store_event(3, FAKE_NO_OPEN, "INBOX", 0, 0, NULL);
	if (fetch_cache_too)
		fake_store_event(3, FAKE_NO_FETCH_CACHE, "INBOX", 0, 0, NULL);
	two_passes(s, first, &second);
	cr_expect(strstr(*first, " NO ") == NULL, "got\n%s", *first);
	cr_expect_str_eq(second, *first, "got\n%s", s->got);
	cr_expect(strstr(s->got, "z NO [SERVERBUG]") != NULL,
		  "the message opens really fail: got\n%s", s->got);
	free(second);
}

/* SORT and THREAD read the header fields from the FETCH cache: the
 * first pass reads the messages and caches them, the second gives the
 * same answers with every message open failing. */
Test(sort, fields_from_the_cache, .timeout = 60)
{
	struct sess s;
	char *first;

	second_pass_from_the_cache(false, &s, &first);
	cr_expect(strstr(first, "* SORT 6 2 4 1 3 5\r\na0 OK") != NULL,
		  "aaa first, not zzz second: got\n%s", first);
	free(first);
	sess_free(&s);
}

/* The compared keys have a cache record of their own (the SORT kind):
 * with every open failing and FETCH's records gone after the first
 * pass, the second still gives every answer, from those records only. */
Test(sort, keys_from_their_own_record, .timeout = 60)
{
	struct sess s;
	char *first;

	second_pass_from_the_cache(true, &s, &first);
	free(first);
	sess_free(&s);
}

/* A SORT record that does not decode exactly is a miss: the keys are
 * made again from the header, the answers are those of a store without
 * the bad records, and the record put then serves the second pass
 * alone. Each bad record breaks the layout in another place. */
Test(sort, malformed_keys_record_is_made_again, .timeout = 60)
{
	static const struct {
		const char *data;
		size_t len;
	} bad[] = {
		{ "\x01", 1 },                             /* truncated */
		{ "\x02\x00\0\0\0\0\0\0\0\0", 10 },       /* version */
		{ "\x01\x08\0\0\0\0\0\0\0\0", 10 },       /* flags */
		{ "\x01\x00\0\0\0\0\0\0\0\x05"            /* a date */
		  "\0\0\0\0\0\0\0\0\0\0\0\0\0", 23 },      /* not said */
		{ "\x01\x00\0\0\0\0\0\0\0\0"
		  "\0\x02a\0\0\0\0\0\0\0\0\0\0\0\0", 25 }, /* NUL in a key */
	};
	struct sess s;
	char *ref1, *ref2, *first, *second;

	six_msgs();
	two_passes(&s, &ref1, &ref2);
	sess_free(&s);
	six_msgs();
	for (uint32_t uid = 2; uid <= 6; uid++)
		fake_store_cache_set_kind("INBOX", uid, STORE_CACHE_SORT,
					  bad[uid - 2].data, bad[uid - 2].len);
	fake_store_event(3, FAKE_NO_OPEN, "INBOX", 0, 0, NULL);
	fake_store_event(3, FAKE_NO_FETCH_CACHE, "INBOX", 0, 0, NULL);
	two_passes(&s, &first, &second);
	cr_expect_str_eq(first, ref1, "got\n%s", s.got);
	cr_expect_str_eq(second, ref1, "got\n%s", s.got);
	cr_expect(strstr(s.log, "ignoring a malformed cache record of "
			 "message 5") != NULL, "log:\n%s", s.log);
	free(ref1);
	free(ref2);
	free(first);
	free(second);
	sess_free(&s);
}

/* SORT by the sent date alone reads the DATE kind's record: with every
 * open failing and the FETCH and SORT kinds' records gone after the
 * first pass, the second gives the same answers from the DATE records
 * only; a malformed one is a miss, made again. */
Test(sort, date_from_its_own_record, .timeout = 60)
{
	static const char *const cmds[] = {
		"SORT (DATE) UTF-8 ALL", "SORT (REVERSE DATE) UTF-8 ALL",
		"SORT (DATE SIZE) UTF-8 ALL",
	};
	static const struct {
		const char *data;
		size_t len;
	} bad[] = {
		{ "\x01", 1 },                               /* truncated */
		{ "\x02\x01\0\0\0\0\0\0\0\x05", 10 },     /* version */
		{ "\x01\x02\0\0\0\0\0\0\0\x05", 10 },     /* flag */
		{ "\x01\x00\0\0\0\0\0\0\0\x05", 10 },     /* date, none */
		{ "\x01\x01\0\0\0\0\0\0\0\x05\0", 11 },  /* too long */
	};
	const size_t n = sizeof(cmds) / sizeof(cmds[0]);
	struct sess s;
	char *first, *second, *ref1, *ref2;

	six_msgs();
	two_passes_of(cmds, n, &s, &ref1, &ref2);
	cr_expect(strstr(ref1, " NO ") == NULL, "got\n%s", ref1);
	sess_free(&s);
	for (int round = 0; round < 2; round++) {
		six_msgs();
		if (round == 1)
			for (uint32_t uid = 2; uid <= 6; uid++)
				fake_store_cache_set_kind(
					"INBOX", uid, STORE_CACHE_DATE,
					bad[uid - 2].data, bad[uid - 2].len);
		fake_store_event(3, FAKE_NO_OPEN, "INBOX", 0, 0, NULL);
		fake_store_event(3, FAKE_NO_FETCH_CACHE, "INBOX", 0, 0, NULL);
		fake_store_event(3, FAKE_NO_SORT_CACHE, "INBOX", 0, 0, NULL);
		two_passes_of(cmds, n, &s, &first, &second);
		cr_expect_str_eq(first, ref1, "round %d: got\n%s", round,
				 s.got);
		cr_expect_str_eq(second, ref1, "round %d: got\n%s", round,
				 s.got);
		if (round == 1)
			cr_expect(strstr(s.log, "ignoring a malformed cache "
					 "record of message 5") != NULL,
				  "log:\n%s", s.log);
		free(first);
		free(second);
		sess_free(&s);
	}
	free(ref1);
	free(ref2);
}
