/* Tests for lib/storage/mbox-parse.c: message boundaries (RFC 4155 §2
 * and the rule in mbox-parse.h), offsets and lengths, LF and CRLF files,
 * Status/X-Status/X-UID/X-Keywords/X-IMAPbase, the fingerprint's
 * excluded fields, incremental and chunked parsing, long lines, the
 * From_ line writer and mboxo quoting. */
#include <criterion/criterion.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "storage/mbox-parse.h"

#define MAXMSG 64

struct got {
	size_t n;
	struct mbox_msg m[MAXMSG];
	char from[MAXMSG][MBOX_FROM_LINE_MAX];
	char sender[MAXMSG][MBOX_FROM_LINE_MAX];
	char kw[MAXMSG][MBOX_VALUE_MAX + 1];
	char bkw[MAXMSG][MBOX_VALUE_MAX + 1];
	int stop_after;          /* stop (return 7) after this many, or 0 */
};

static int
collect(void *ctx, const struct mbox_msg *msg)
{
	struct got *g = ctx;
	size_t i = g->n++;

	cr_assert_lt(i, MAXMSG);
	g->m[i] = *msg;
	memcpy(g->from[i], msg->from_line, msg->from_line_len);
	g->from[i][msg->from_line_len] = '\0';
	memcpy(g->sender[i], msg->sender, msg->sender_len);
	g->sender[i][msg->sender_len] = '\0';
	g->kw[i][0] = g->bkw[i][0] = '\0';
	if (msg->keywords != NULL) {
		memcpy(g->kw[i], msg->keywords, msg->keywords_len);
		g->kw[i][msg->keywords_len] = '\0';
	}
	if (msg->base_keywords != NULL) {
		memcpy(g->bkw[i], msg->base_keywords, msg->base_keywords_len);
		g->bkw[i][msg->base_keywords_len] = '\0';
	}
	/* Pointers are only valid during the callback. */
	g->m[i].from_line = g->m[i].sender = NULL;
	g->m[i].keywords = g->m[i].base_keywords = NULL;
	if (g->stop_after != 0 && g->n == (size_t)g->stop_after)
		return 7;
	return 0;
}

/* Parses s[start..len) fed in pieces of chunk bytes (0: one piece). */
static struct got *
parse(const char *s, size_t len, uint64_t start, size_t chunk)
{
	struct got *g = calloc(1, sizeof(*g));
	struct mbox_parser *p = mbox_parser_new(start, collect, g);
	size_t pos = (size_t)start;

	while (pos < len) {
		size_t n = chunk == 0 ? len - pos : chunk;

		if (n > len - pos)
			n = len - pos;
		cr_assert_eq(mbox_parser_feed(p, s + pos, n), 0);
		pos += n;
	}
	cr_assert_eq(mbox_parser_finish(p), 0);
	mbox_parser_free(&p);
	return g;
}

static struct got *
parse_s(const char *s)
{
	return parse(s, strlen(s), 0, 0);
}

static void
same_msg(const struct got *a, size_t i, const struct got *b, size_t j)
{
	const struct mbox_msg *x = &a->m[i], *y = &b->m[j];

	cr_assert_eq(x->from_offset, y->from_offset, "msg %zu/%zu", i, j);
	cr_assert_eq(x->offset, y->offset, "msg %zu/%zu", i, j);
	cr_assert_eq(x->length, y->length, "msg %zu/%zu", i, j);
	cr_assert_eq(x->hdr_len, y->hdr_len, "msg %zu/%zu", i, j);
	cr_assert_eq(x->end, y->end, "msg %zu/%zu", i, j);
	cr_assert(memcmp(x->fingerprint, y->fingerprint,
			 MBOX_FINGERPRINT_LEN) == 0, "msg %zu/%zu", i, j);
	cr_assert_eq(x->flags, y->flags);
	cr_assert_eq(x->uid, y->uid);
	cr_assert_str_eq(a->kw[i], b->kw[j]);
	cr_assert_str_eq(a->from[i], b->from[j]);
}

/* The message text as the parser delimits it. */
static char *
body_of(const char *s, const struct mbox_msg *m)
{
	return strndup(s + m->offset, (size_t)m->length);
}

static const char two[] =
	"From alice@example.org Thu Nov 29 22:33:52 2001\n"
	"Subject: one\n"
	"\n"
	"hello\n"
	"\n"
	"From bob@example.org Fri Nov 30 08:00:00 2001\n"
	"Subject: two\n"
	"\n"
	"world\n"
	"\n";

Test(mbox_parse, two_messages)
{
	struct got *g = parse_s(two);
	char *b;

	cr_assert_eq(g->n, 2);
	cr_assert_eq(g->m[0].from_offset, 0);
	cr_assert_eq(g->m[0].offset, 48);
	b = body_of(two, &g->m[0]);
	cr_assert_str_eq(b, "Subject: one\n\nhello\n");
	free(b);
	cr_assert_eq(g->m[0].hdr_len, strlen("Subject: one\n\n"));
	cr_assert_eq(g->m[0].end, g->m[1].from_offset);
	cr_assert_eq(g->m[1].from_offset, 48 + 20 + 1);
	b = body_of(two, &g->m[1]);
	cr_assert_str_eq(b, "Subject: two\n\nworld\n");
	free(b);
	cr_assert_eq(g->m[1].end, strlen(two));
	cr_assert_str_eq(g->from[0], "From alice@example.org Thu Nov 29 "
			 "22:33:52 2001");
	cr_assert_str_eq(g->sender[0], "alice@example.org");
	cr_assert_str_eq(g->sender[1], "bob@example.org");
	cr_assert_eq(g->m[0].date.year, 2001);
	cr_assert_eq(g->m[0].date.mon, 11);
	cr_assert_eq(g->m[0].date.mday, 29);
	cr_assert_eq(g->m[0].date.hour, 22);
	cr_assert_eq(g->m[0].date.min, 33);
	cr_assert_eq(g->m[0].date.sec, 52);
	cr_assert(!g->m[0].crlf);
	cr_assert(memcmp(g->m[0].fingerprint, g->m[1].fingerprint,
			 MBOX_FINGERPRINT_LEN) != 0);
	free(g);
}

Test(mbox_parse, crlf)
{
	static const char s[] =
		"From a@b Thu Nov 29 22:33:52 2001\r\n"
		"Subject: one\r\n"
		"\r\n"
		"hello\r\n"
		"\r\n"
		"From c@d Fri Nov 30 08:00:00 2001\r\n"
		"Subject: two\r\n"
		"\r\n"
		"x\r\n";
	struct got *g = parse_s(s);
	char *b;

	cr_assert_eq(g->n, 2);
	cr_assert(g->m[0].crlf);
	cr_assert_str_eq(g->from[0], "From a@b Thu Nov 29 22:33:52 2001");
	b = body_of(s, &g->m[0]);
	cr_assert_str_eq(b, "Subject: one\r\n\r\nhello\r\n");
	free(b);
	cr_assert_eq(g->m[0].hdr_len, strlen("Subject: one\r\n\r\n"));
	b = body_of(s, &g->m[1]);
	cr_assert_str_eq(b, "Subject: two\r\n\r\nx\r\n");   /* no separator */
	free(b);
	free(g);
}

/* Lines that must not split a message. */
Test(mbox_parse, not_boundaries)
{
	static const char s[] =
		"From a@b Thu Nov 29 22:33:52 2001\n"
		"Subject: s\n"
		"\n"
		"body\n"
		"From c@d Fri Nov 30 08:00:00 2001\n"   /* no blank line before */
		"\n"
		">From c@d Fri Nov 30 08:00:00 2001\n"  /* quoted */
		"\n"
		"From what I know, this is fine.\n"     /* no date */
		"\n"
		"From x Fri Nov 30 08:00 2001 extra\n"  /* fine: moreinfo */
		"body\n";
	struct got *g = parse_s(s);

	cr_assert_eq(g->n, 2, "got %zu messages", g->n);
	cr_assert_eq(g->m[1].from_offset,
		     (uint64_t)(strstr(s, "From x") - s));
	free(g);
}

struct from_row {
	const char *line;
	const char *sender;   /* NULL: not plausible */
};

static const struct from_row from_rows[] = {
	{ "From a@b Thu Nov 29 22:33:52 2001", "a@b" },
	{ "From a@b Thu Nov  9 22:33:52 2001", "a@b" },
	{ "From a@b Thu Nov 9 22:33:52 2001", "a@b" },
	{ "From a@b Thu Nov 29 22:33 2001", "a@b" },
	{ "From a@b thu nov 29 22:33:52 2001", "a@b" },
	{ "From a@b Thu Nov 29 22:33:52 GMT 2001", "a@b" },
	{ "From a@b Thu Nov 29 22:33:52 +0100 2001", "a@b" },
	{ "From a@b Thu Nov 29 22:33:52 CET DST 2001", "a@b" },
	{ "From a@b Thu Nov 29 22:33:52 2001 +0100", "a@b" },
	{ "From a@b Thu Nov 29 22:33:52 2001 remote from uucp", "a@b" },
	{ "From MAILER-DAEMON Thu Nov 29 22:33:52 2001", "MAILER-DAEMON" },
	{ "From \"John Smith\"@x.org Thu Nov 29 22:33:52 2001",
	  "\"John Smith\"@x.org" },
	{ "From  Thu Nov 29 22:33:52 2001", "" },
	{ "From Thu Nov 29 22:33:52 2001", "" },
	{ "From a@b  Thu  Nov  29  22:33:52  2001", "a@b" },
	{ "From a@b\tThu Nov 29 22:33:52 2001", "a@b" },
	{ "From a@b Thu Nov 29 22:33:60 2001", "a@b" },   /* leap second */
	{ "From a@b Thu Nov 29 22:33:52 1999", "a@b" },
	{ "From a@b Thu Nov 29 22:33:52 2001", "a@b" },
	/* Not plausible. */
	{ "From a@b", NULL },
	{ "From ", NULL },
	{ "From what I know, this is fine.", NULL },
	{ "From a@b Thu Nov 29 2001", NULL },
	{ "From a@b Xyz Nov 29 22:33:52 2001", NULL },
	{ "From a@b Thu Foo 29 22:33:52 2001", NULL },
	{ "From a@b Thu Nov 32 22:33:52 2001", NULL },
	{ "From a@b Thu Nov 0 22:33:52 2001", NULL },
	{ "From a@b Thu Nov 29 24:33:52 2001", NULL },
	{ "From a@b Thu Nov 29 22:60:52 2001", NULL },
	{ "From a@b Thu Nov 29 22:33:61 2001", NULL },
	{ "From a@b Thu Nov 29 22:3:52 2001", NULL },
	{ "From a@b Thu Nov 29 22:33:52 01", NULL },
	{ "From a@b Thu Nov 29 22:33:52 20011", NULL },
	{ "From a@b Thu Nov 29 22:33:52 1899", NULL },
	{ "From a@b Thu Nov 29 22:33:52", NULL },
	{ "From a@b Thu Nov 29 22:33:52 A B C 2001", NULL },
	{ "From a@b Thu Nov 29 22:33:52 TOOLONG 2001", NULL },
	{ "From a@b Thursday Nov 29 22:33:52 2001", NULL },
	{ "From a@b ThuNov 29 22:33:52 2001", NULL },
	{ "from a@b Thu Nov 29 22:33:52 2001", NULL },
	{ "From:a@b Thu Nov 29 22:33:52 2001", NULL },
};

Test(mbox_parse, from_lines)
{
	for (size_t i = 0; i < sizeof(from_rows) / sizeof(from_rows[0]); i++) {
		const struct from_row *r = &from_rows[i];
		const char *snd = NULL;
		size_t sl = 0;
		struct mbox_from_date d;
		bool ok = mbox_parse_from_line(r->line, strlen(r->line), &snd,
					       &sl, &d);

		if (r->sender == NULL) {
			cr_assert(!ok, "row %zu \"%s\": accepted", i, r->line);
			continue;
		}
		cr_assert(ok, "row %zu \"%s\": refused", i, r->line);
		cr_assert_eq(sl, strlen(r->sender), "row %zu: sender \"%.*s\"",
			     i, (int)sl, snd);
		cr_assert(memcmp(snd, r->sender, sl) == 0, "row %zu", i);
	}
	{
		const char *snd;
		size_t sl;
		struct mbox_from_date d;

		cr_assert(mbox_parse_from_line("From a Thu Nov 29 22:33:52 +0130 "
					       "2001", 37, &snd, &sl, &d));
		cr_assert(d.has_tz);
		cr_assert_eq(d.tz_min, 90);
		cr_assert(mbox_parse_from_line("From a Thu Nov 29 22:33:52 2001 "
					       "-0800", 37, &snd, &sl, &d));
		cr_assert_eq(d.tz_min, -480);
		/* NUL inside is refused. */
		cr_assert(!mbox_parse_from_line("From a\0 Thu Nov 29 22:33:52 "
						"2001", 32, &snd, &sl, &d));
	}
}

Test(mbox_parse, edge_messages)
{
	/* Empty message, header without body, no trailing blank line. */
	static const char s[] =
		"From a Thu Nov 29 22:33:52 2001\n"
		"\n"
		"From b Thu Nov 29 22:33:52 2001\n"
		"Subject: only a header\n"
		"\n"
		"From c Thu Nov 29 22:33:52 2001\n"
		"Subject: c\n"
		"\n"
		"last line without newline";
	struct got *g = parse_s(s);
	char *b;

	cr_assert_eq(g->n, 3);
	cr_assert_eq(g->m[0].length, 0);
	cr_assert_eq(g->m[0].hdr_len, 0);
	b = body_of(s, &g->m[1]);
	cr_assert_str_eq(b, "Subject: only a header\n");
	free(b);
	cr_assert_eq(g->m[1].hdr_len, g->m[1].length);
	b = body_of(s, &g->m[2]);
	cr_assert_str_eq(b, "Subject: c\n\nlast line without newline");
	free(b);
	cr_assert_eq(g->m[2].end, strlen(s));
	free(g);

	/* A file ending in a From_ line without a newline. */
	g = parse_s("From a Thu Nov 29 22:33:52 2001\nX: y\n\n"
		    "From b Thu Nov 29 22:33:52 2001");
	cr_assert_eq(g->n, 2);
	cr_assert_eq(g->m[1].length, 0);
	cr_assert_str_eq(g->sender[1], "b");
	free(g);

	/* Several blank lines: only the last is the separator. */
	g = parse_s("From a Thu Nov 29 22:33:52 2001\nX: y\n\nbody\n\n\n\n"
		    "From b Thu Nov 29 22:33:52 2001\n");
	cr_assert_eq(g->n, 2);
	cr_assert_eq(g->m[0].length, strlen("X: y\n\nbody\n\n\n"));
	free(g);

	/* Empty input, and a header that never ends. */
	g = parse_s("");
	cr_assert_eq(g->n, 0);
	free(g);
	g = parse_s("From a Thu Nov 29 22:33:52 2001\nSubject: x\nTo: y");
	cr_assert_eq(g->n, 1);
	cr_assert_eq(g->m[0].length, strlen("Subject: x\nTo: y"));
	cr_assert_eq(g->m[0].hdr_len, g->m[0].length);
	free(g);
}

Test(mbox_parse, junk_before_first)
{
	static const char s[] =
		"this is not an mbox\n"
		"From a Thu Nov 29 22:33:52 2001\n"   /* not after a blank */
		"\n"
		"From b Thu Nov 29 22:33:52 2001\n"
		"X: y\n";
	struct mbox_parser *p;
	struct got *g = calloc(1, sizeof(*g));

	p = mbox_parser_new(0, collect, g);
	cr_assert_eq(mbox_parser_feed(p, s, strlen(s)), 0);
	cr_assert_eq(mbox_parser_finish(p), 0);
	cr_assert_eq(g->n, 1);
	cr_assert_str_eq(g->sender[0], "b");
	cr_assert_eq(mbox_parser_junk(p), (uint64_t)(strstr(s, "From b") - s));
	mbox_parser_free(&p);
	free(g);
}

/* Rule (c): a From_ line right where Content-Length ends the body. */
Test(mbox_parse, content_length_boundary)
{
	static const char s[] =
		"From a Thu Nov 29 22:33:52 2001\n"
		"Content-Length: 6\n"
		"\n"
		"12345\n"
		"From b Thu Nov 29 22:33:52 2001\n"
		"Content-Length: 2\n"
		"\n"
		"x\n"
		"yy\n"
		"From c Thu Nov 29 22:33:52 2001\n"     /* CL wrong: no split */
		"\n";
	struct got *g = parse_s(s);
	char *b;

	cr_assert_eq(g->n, 2, "got %zu", g->n);
	b = body_of(s, &g->m[0]);
	cr_assert_str_eq(b, "Content-Length: 6\n\n12345\n");
	free(b);
	cr_assert(g->m[0].has_content_length);
	cr_assert_eq(g->m[0].content_length, 6);
	cr_assert_str_eq(g->sender[1], "b");
	free(g);
}

Test(mbox_parse, status_headers)
{
	static const char s[] =
		"From a Thu Nov 29 22:33:52 2001\n"
		"X-IMAPbase: 1275660208 25022 $Junk NonJunk\n"
		"Status: RO\n"
		"X-Status: AFTD\n"
		"X-UID: 25006\n"
		"X-Keywords: $Label1\n"
		"  $Label2 Work\n"
		"Subject: flags\n"
		"\n"
		"body\n"
		"\n"
		"From b Thu Nov 29 22:33:52 2001\n"
		"status: O\n"
		"X-UID: 0\n"
		"Status: R\n"                /* a repeat: ignored */
		"x-keywords:\n"
		"X-IMAP: 123 0\n"
		"\n"
		"\n"
		"From c Thu Nov 29 22:33:52 2001\n"
		"X-Status: A\n"
		"X-UID: 4294967296\n"
		"X-IMAPbase: 0 5\n"
		"\n";
	struct got *g = parse_s(s);

	cr_assert_eq(g->n, 3);
	cr_assert_eq(g->m[0].flags, MBOX_FLAG_SEEN | MBOX_FLAG_OLD |
		     MBOX_FLAG_ANSWERED | MBOX_FLAG_FLAGGED |
		     MBOX_FLAG_DRAFT | MBOX_FLAG_DELETED);
	cr_assert(g->m[0].has_status && g->m[0].has_xstatus);
	cr_assert_eq(g->m[0].uid, 25006);
	cr_assert_str_eq(g->kw[0], "$Label1  $Label2 Work");
	cr_assert(g->m[0].has_imapbase && !g->m[0].imapbase_pseudo);
	cr_assert_eq(g->m[0].uidvalidity, 1275660208);
	cr_assert_eq(g->m[0].last_uid, 25022);
	cr_assert_str_eq(g->bkw[0], "$Junk NonJunk");

	cr_assert_eq(g->m[1].flags, MBOX_FLAG_OLD);
	cr_assert(g->m[1].has_status && !g->m[1].has_xstatus);
	cr_assert_eq(g->m[1].uid, 0);
	cr_assert_str_eq(g->kw[1], "");
	cr_assert(g->m[1].has_imapbase && g->m[1].imapbase_pseudo);
	cr_assert_eq(g->m[1].uidvalidity, 123);
	cr_assert_eq(g->m[1].last_uid, 0);

	cr_assert_eq(g->m[2].flags, MBOX_FLAG_ANSWERED);
	cr_assert_eq(g->m[2].uid, 0);                /* > 2^32-1 */
	cr_assert(!g->m[2].has_imapbase);            /* uidvalidity 0 */
	free(g);
}

/* Dovecot writes X-IMAPbase as "%u %010u" (mbox-sync-update.c), UW-IMAP
 * pads both numbers to ten digits: the padding is not a reason to refuse
 * the header (it was, so no Dovecot mbox migrated); X-UID stays strict
 * as both write it. */
Test(mbox_parse, zero_padded_x_imapbase)
{
	static const char s[] =
		"From a Thu Nov 29 22:33:52 2001\n"
		"X-IMAPbase: 1300000000 0000000033 $Work\n"
		"\n"
		"\n"
		"From b Thu Nov 29 22:33:52 2001\n"
		"X-IMAP: 0001300000 0000000000\n"
		"\n"
		"\n"
		"From c Thu Nov 29 22:33:52 2001\n"
		"X-IMAPbase: 0000000000 0000000007\n"
		"\n"
		"\n"
		"From d Thu Nov 29 22:33:52 2001\n"
		"X-IMAPbase: 1 000000000000000000000000000000000000007\n"
		"\n";
	struct got *g = parse_s(s);

	cr_assert_eq(g->n, 4);
	cr_assert(g->m[0].has_imapbase);
	cr_assert_eq(g->m[0].uidvalidity, 1300000000u);
	cr_assert_eq(g->m[0].last_uid, 33u);
	cr_assert_str_eq(g->bkw[0], "$Work");
	cr_assert(g->m[1].has_imapbase && g->m[1].imapbase_pseudo);
	cr_assert_eq(g->m[1].uidvalidity, 1300000u);
	cr_assert_eq(g->m[1].last_uid, 0u);
	cr_assert(!g->m[2].has_imapbase, "UIDVALIDITY 0, however written");
	cr_assert(!g->m[3].has_imapbase, "padding is bounded");
	free(g);
}

/* SHA-256 of the bytes the fingerprint must cover, truncated. */
static void
sha16(const char *s, uint8_t out[MBOX_FINGERPRINT_LEN])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned len;

	cr_assert_eq(EVP_Digest(s, strlen(s), md, &len, EVP_sha256(), NULL), 1);
	memcpy(out, md, MBOX_FINGERPRINT_LEN);
}

Test(mbox_parse, fingerprint_fields)
{
	static const char plain[] =
		"From a@b Thu Nov 29 22:33:52 2001\n"
		"Subject: hi\n"
		"To: x@y,\n"
		" z@w\n"
		"\n"
		"body\n";
	static const char rewritten[] =
		"From a@b Thu Nov 29 22:33:52 2001\n"
		"X-IMAPbase: 1 2\n"
		"Subject: hi\n"
		"Status: RO\n"
		"X-Status: F\n"
		"To: x@y,\n"
		" z@w\n"
		"X-UID: 5\n"
		"X-Keywords: $Junk\n"
		"\tfolded\n"
		"Content-Length: 5\n"
		"Lines: 1\n"
		"STATUS: R\n"
		"X-IMAP: 1 2\n"
		"\n"
		"other body\n";
	static const char changed[] =
		"From a@b Thu Nov 29 22:33:52 2001\n"
		"Subject: hi!\n"
		"To: x@y,\n"
		" z@w\n"
		"\n"
		"body\n";
	static const char other_from[] =
		"From a@c Thu Nov 29 22:33:52 2001\n"
		"Subject: hi\n"
		"To: x@y,\n"
		" z@w\n"
		"\n"
		"body\n";
	struct got *a = parse_s(plain), *b = parse_s(rewritten);
	struct got *c = parse_s(changed), *d = parse_s(other_from);
	uint8_t want[MBOX_FINGERPRINT_LEN];

	cr_assert(a->n == 1 && b->n == 1 && c->n == 1 && d->n == 1);
	/* The From_ line and every kept field line with its line break. */
	sha16("From a@b Thu Nov 29 22:33:52 2001\nSubject: hi\nTo: x@y,\n"
	      " z@w\n", want);
	cr_assert(memcmp(a->m[0].fingerprint, want, sizeof(want)) == 0);
	cr_assert(memcmp(b->m[0].fingerprint, want, sizeof(want)) == 0,
		  "rewritten Status/X-* headers changed the fingerprint");
	cr_assert(memcmp(c->m[0].fingerprint, want, sizeof(want)) != 0);
	cr_assert(memcmp(d->m[0].fingerprint, want, sizeof(want)) != 0);
	free(a);
	free(b);
	free(c);
	free(d);
}

static char *
read_fixture(size_t *len)
{
	/* Messages of every shape in one file. */
	static const char *parts[] = {
		"From a@b Thu Nov 29 22:33:52 2001\n"
		"Subject: one\nStatus: RO\n\nbody\n\n",
		"From c@d Thu Nov 29 22:33:53 2001\r\n"
		"Subject: crlf\r\nX-UID: 9\r\n\r\nbody\r\n\r\n",
		"From e@f Thu Nov 29 22:33:54 2001\n\n",
		"From g@h Thu Nov 29 22:33:55 2001\n"
		"Content-Length: 3\n\nab\n"
		"From i@j Thu Nov 29 22:33:56 2001\n"
		"X-Keywords: k1\n k2\n\nFrom x\n>From y\n\n",
		"From k@l Thu Nov 29 22:33:57 2001\nSubject: last\n\nend",
	};
	struct buf *b = buf_new(1 << 20);
	char *s;

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		buf_append_str(b, parts[i]);
	*len = buf_len(b);
	s = malloc(*len + 1);
	memcpy(s, buf_data(b), *len + 1);
	buf_free(&b);
	return s;
}

/* However the input is cut, and wherever a parse starts at a message
 * boundary, the messages are the same. */
Test(mbox_parse, chunking_and_incremental)
{
	size_t len;
	char *s = read_fixture(&len);
	struct got *whole = parse(s, len, 0, 0);

	cr_assert_eq(whole->n, 6, "got %zu", whole->n);
	for (size_t chunk = 1; chunk <= 70; chunk++) {
		struct got *g = parse(s, len, 0, chunk);

		cr_assert_eq(g->n, whole->n, "chunk %zu", chunk);
		for (size_t i = 0; i < g->n; i++)
			same_msg(whole, i, g, i);
		free(g);
	}
	for (size_t k = 0; k < whole->n; k++) {
		struct got *g = parse(s, len, whole->m[k].from_offset, 0);

		cr_assert_eq(g->n, whole->n - k, "from message %zu", k);
		for (size_t i = 0; i < g->n; i++)
			same_msg(whole, k + i, g, i);
		free(g);
	}
	free(whole);
	free(s);
}

static int
tmpfile_with(const char *s, size_t len)
{
	char path[] = "/tmp/test-mbox-parse.XXXXXX";
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	unlink(path);
	cr_assert_eq(write(fd, s, len), (ssize_t)len);
	return fd;
}

Test(mbox_parse, fd_matches_memory)
{
	size_t len;
	char *s = read_fixture(&len);
	struct got *whole = parse(s, len, 0, 0);
	struct got *g = calloc(1, sizeof(*g));
	int fd = tmpfile_with(s, len);
	uint64_t junk = 99;

	cr_assert_eq(mbox_parse_fd(fd, 0, 1, collect, g, &junk), 0);
	cr_assert_eq(junk, 0);
	cr_assert_eq(g->n, whole->n);
	for (size_t i = 0; i < g->n; i++)
		same_msg(whole, i, g, i);
	/* Stop from the callback. */
	free(g);
	g = calloc(1, sizeof(*g));
	g->stop_after = 2;
	cr_assert_eq(mbox_parse_fd(fd, 0, 4096, collect, g, NULL), 7);
	cr_assert_eq(g->n, 2);
	/* A bad descriptor is a read error. */
	cr_assert_eq(mbox_parse_fd(-1, 0, 4096, collect, g, NULL), -1);
	cr_assert_eq(errno, EBADF);
	close(fd);
	free(g);
	free(whole);
	free(s);
}

/* Lines far longer than the window stream through; a From_ line longer
 * than MBOX_FROM_LINE_MAX is not a separator. */
Test(mbox_parse, long_lines)
{
	struct buf *b = buf_new(1 << 22);
	struct got *g = calloc(1, sizeof(*g));
	size_t hdr_line = 300000, body_line = 1000000;
	int fd;

	buf_append_str(b, "From a Thu Nov 29 22:33:52 2001\nX-Long: ");
	for (size_t i = 0; i < hdr_line; i++)
		buf_append_byte(b, 'h');
	buf_append_str(b, "\nX-Keywords: ");
	for (size_t i = 0; i < 3 * MBOX_VALUE_MAX; i++)
		buf_append_byte(b, 'k');
	buf_append_str(b, "\n\n");
	for (size_t i = 0; i < body_line; i++)
		buf_append_byte(b, 'b');
	buf_append_str(b, "\n\nFrom b ");
	for (size_t i = 0; i < MBOX_FROM_LINE_MAX; i++)
		buf_append_byte(b, ' ');
	buf_append_str(b, "Thu Nov 29 22:33:52 2001\n\n"
		       "From c Thu Nov 29 22:33:52 2001\nX: y\n");
	fd = tmpfile_with((const char *)buf_data(b), buf_len(b));
	cr_assert_eq(mbox_parse_fd(fd, 0, 4096, collect, g, NULL), 0);
	cr_assert_eq(g->n, 2, "got %zu", g->n);
	cr_assert(g->m[0].keywords_truncated);
	cr_assert_eq(strlen(g->kw[0]), MBOX_VALUE_MAX);
	cr_assert_str_eq(g->sender[1], "c");
	cr_assert_eq(g->m[0].end, g->m[1].from_offset);
	{
		/* The same bytes in memory give the same fingerprint. */
		struct got *m = parse((const char *)buf_data(b), buf_len(b), 0,
				      0);

		cr_assert_eq(m->n, 2);
		same_msg(m, 0, g, 0);
		free(m);
	}
	close(fd);
	free(g);
	buf_free(&b);
}

Test(mbox_parse, from_line_build)
{
	struct buf *b = buf_new(1024);
	const char *snd;
	size_t sl;
	struct mbox_from_date d;

	cr_assert_eq(mbox_parse_from_line_build(b, NULL, 1007073232), 0);
	cr_assert_str_eq(buf_str(b), "From MAILER-DAEMON Thu Nov 29 22:33:52 "
			 "2001\n");
	cr_assert(mbox_parse_from_line(buf_str(b), buf_len(b) - 1, &snd, &sl,
				       &d));
	cr_assert_eq(d.year, 2001);
	cr_assert_eq(d.mday, 29);
	buf_reset(b);
	cr_assert_eq(mbox_parse_from_line_build(b, "a@b.org", 0), 0);
	cr_assert_str_eq(buf_str(b), "From a@b.org Thu Jan  1 00:00:00 1970\n");
	buf_reset(b);
	cr_assert_eq(mbox_parse_from_line_build(b, "", 1000000000), 0);
	cr_assert_str_eq(buf_str(b), "From MAILER-DAEMON Sun Sep  9 01:46:40 "
			 "2001\n");
	/* Refused senders and dates; nothing written. */
	buf_reset(b);
	cr_assert_eq(mbox_parse_from_line_build(b, "a b", 0), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(mbox_parse_from_line_build(b, "a\nFrom x", 0), -1);
	cr_assert_eq(mbox_parse_from_line_build(b, "a\tb", 0), -1);
	cr_assert_eq(mbox_parse_from_line_build(b, "a\x7f", 0), -1);
	cr_assert_eq(mbox_parse_from_line_build(b, "x", (time_t)300000000000LL),
		     -1);
	cr_assert_eq(buf_len(b), 0);
	{
		char longs[300];

		memset(longs, 'a', sizeof(longs) - 1);
		longs[sizeof(longs) - 1] = '\0';
		cr_assert_eq(mbox_parse_from_line_build(b, longs, 0), -1);
	}
	buf_free(&b);
}

struct quote_row {
	const char *in;
	bool strip_cr;
	const char *out;
};

static const struct quote_row quote_rows[] = {
	{ "From a\nb\n", false, ">From a\nb\n" },
	{ "x\nFrom a\n", false, "x\n>From a\n" },
	{ "x\n>From a\n", false, "x\n>From a\n" },      /* mboxo: kept */
	{ "x\n>>From a\n", false, "x\n>>From a\n" },
	{ "x From a\n", false, "x From a\n" },
	{ "From\n", false, "From\n" },
	{ "Fro", false, "Fro" },
	{ "From", false, "From" },
	{ "From ", false, ">From " },
	{ "Frog\nFrom \nFrom:x\n", false, "Frog\n>From \nFrom:x\n" },
	{ "from a\n", false, "from a\n" },
	{ "\nFrom a", false, "\n>From a" },
	{ "a\r\nFrom b\r\n", false, "a\r\n>From b\r\n" },
	{ "a\r\nFrom b\r\n", true, "a\n>From b\n" },
	/* "\r\r\n" keeps both CRs: served back as it came. */
	{ "a\rFrom b\r\r\n\r", true, "a\rFrom b\r\r\n\r" },
	{ "x\r\r\r\ny\r\n", true, "x\r\r\r\ny\n" },
	{ "\r\n\r\nFrom x\r\n", true, "\n\n>From x\n" },
	{ "", false, "" },
};

Test(mbox_parse, quote)
{
	struct buf *b = buf_new(4096);

	for (size_t i = 0; i < sizeof(quote_rows) / sizeof(quote_rows[0]); i++) {
		const struct quote_row *r = &quote_rows[i];
		size_t len = strlen(r->in);

		/* Every way of cutting the input in two gives the same. */
		for (size_t cut = 0; cut <= len; cut++) {
			struct mbox_quote q;

			buf_reset(b);
			mbox_parse_quote_init(&q, r->strip_cr);
			cr_assert_eq(mbox_parse_quote(&q, r->in, cut, b), 0);
			cr_assert_eq(mbox_parse_quote(&q, r->in + cut, len - cut,
						      b), 0);
			cr_assert_eq(mbox_parse_quote_finish(&q, b), 0);
			cr_assert_str_eq(buf_str(b), r->out, "row %zu cut %zu: "
					 "got \"%s\", want \"%s\"", i, cut,
					 buf_str(b), r->out);
		}
	}
	buf_free(&b);
}

/* Quoted output never contains a line a parser would split on, and a
 * quoted message appended with a From_ line and a blank line parses back
 * as exactly one message with the quoted bytes. */
Test(mbox_parse, quote_then_parse)
{
	static const char msg[] =
		"Subject: tricky\r\n\r\nFrom me Thu Nov 29 22:33:52 2001\r\n"
		"\r\nFrom you Thu Nov 29 22:33:52 2001\r\nend\r\n";
	struct buf *b = buf_new(4096);
	struct mbox_quote q;
	struct got *g;
	char *body;

	cr_assert_eq(mbox_parse_from_line_build(b, NULL, 1007073232), 0);
	mbox_parse_quote_init(&q, true);
	cr_assert_eq(mbox_parse_quote(&q, msg, strlen(msg), b), 0);
	cr_assert_eq(mbox_parse_quote_finish(&q, b), 0);
	cr_assert(q.bol);
	buf_append_str(b, "\n");
	{
		char *once = strdup(buf_str(b));

		buf_append_str(b, once);   /* the message twice */
		free(once);
	}
	g = parse((const char *)buf_data(b), buf_len(b), 0, 0);
	cr_assert_eq(g->n, 2);
	body = body_of(buf_str(b), &g->m[0]);
	cr_assert_str_eq(body, "Subject: tricky\n\n>From me Thu Nov 29 22:33:52 "
			 "2001\n\n>From you Thu Nov 29 22:33:52 2001\nend\n");
	free(body);
	free(g);
	buf_free(&b);
}

Test(mbox_parse, quote_limit)
{
	struct buf *b = buf_new(8);
	struct mbox_quote q;

	mbox_parse_quote_init(&q, false);
	cr_assert_eq(mbox_parse_quote(&q, "ab", 2, b), 0);
	cr_assert_eq(mbox_parse_quote(&q, "\nFrom x", 7, b), -1);
	cr_assert_eq(errno, EMSGSIZE);
	cr_assert_str_eq(buf_str(b), "ab");
	/* The state was rolled back too: the same call fits after a reset. */
	buf_reset(b);
	cr_assert_eq(mbox_parse_quote(&q, "\nFrom", 5, b), 0);
	cr_assert_str_eq(buf_str(b), "\n");
	cr_assert_eq(mbox_parse_quote_finish(&q, b), 0);
	cr_assert_str_eq(buf_str(b), "\nFrom");
	buf_free(&b);
}
