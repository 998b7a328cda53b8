/* Tests for lib/mail/envelope.c: FETCH ENVELOPE (RFC 9051 §7.5.2,
 * RFC 3501 §7.4.2 groups). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "mail/envelope.h"

#define V(s) { s, sizeof(s) - 1 }
#define ABSENT { NULL, 0 }

static void
check(const struct mail_envelope_fields *f, bool utf8, const char *want)
{
	struct buf *out = buf_new(1 << 16);

	cr_assert(mail_envelope_write(out, f, utf8) == 0);
	cr_expect_str_eq(buf_str(out), want);
	buf_free(&out);
}

/* RFC 5322 A.1.1 as an ENVELOPE. Sender and Reply-To are absent: both
 * are the From list (§7.5.2). */
Test(envelope, basic)
{
	struct mail_envelope_fields f = {
		.date = V(" Fri, 21 Nov 1997 09:55:06 -0600"),
		.subject = V(" Saying Hello "),
		.from = V("John Doe <jdoe@machine.example>"),
		.to = V("Mary Smith <mary@example.net>"),
		.message_id = V("<1234@local.machine.example>"),
	};
	check(&f, false,
	      "(\"Fri, 21 Nov 1997 09:55:06 -0600\" \"Saying Hello\" "
	      "((\"John Doe\" NIL \"jdoe\" \"machine.example\")) "
	      "((\"John Doe\" NIL \"jdoe\" \"machine.example\")) "
	      "((\"John Doe\" NIL \"jdoe\" \"machine.example\")) "
	      "((\"Mary Smith\" NIL \"mary\" \"example.net\")) NIL NIL NIL "
	      "\"<1234@local.machine.example>\")");
}

Test(envelope, all_absent)
{
	struct mail_envelope_fields f = { 0 };

	check(&f, false, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
}

/* Present-but-empty Sender and Reply-To default to From too; an empty
 * To is NIL; an empty Subject is "". */
Test(envelope, empty_fields)
{
	struct mail_envelope_fields f = {
		.subject = V(""),
		.from = V("a@b"),
		.sender = V("  "),
		.reply_to = V(", ,"),
		.to = V(""),
		.cc = V("c@d"),
		.bcc = V("e@f"),
		.in_reply_to = V("<x@y>"),
	};
	check(&f, false,
	      "(NIL \"\" ((NIL NIL \"a\" \"b\")) ((NIL NIL \"a\" \"b\")) "
	      "((NIL NIL \"a\" \"b\")) NIL ((NIL NIL \"c\" \"d\")) "
	      "((NIL NIL \"e\" \"f\")) \"<x@y>\" NIL)");
}

/* RFC 3501 §7.4.2 group syntax; obs-route as adl; missing parts. */
Test(envelope, groups_routes_missing)
{
	struct mail_envelope_fields f = {
		.from = V("A Group:Ed Jones <c@a.test>,joe@where.test;, x@y"),
		.sender = V("Mary <@node.test:mary@example.net>"),
		.to = V("Undisclosed recipients:;"),
		.cc = V("john, <@x>"),
	};
	check(&f, false,
	      "(NIL NIL ((NIL NIL \"A Group\" NIL)(\"Ed Jones\" NIL \"c\" \"a.test\")"
	      "(NIL NIL \"joe\" \"where.test\")(NIL NIL NIL NIL)(NIL NIL \"x\" \"y\")) "
	      "((\"Mary\" \"@node.test\" \"mary\" \"example.net\")) "
	      "((NIL NIL \"A Group\" NIL)(\"Ed Jones\" NIL \"c\" \"a.test\")"
	      "(NIL NIL \"joe\" \"where.test\")(NIL NIL NIL NIL)(NIL NIL \"x\" \"y\")) "
	      "((NIL NIL \"Undisclosed recipients\" NIL)(NIL NIL NIL NIL)) "
	      "((NIL NIL \"john\" \"MISSING_DOMAIN\")(NIL NIL \"MISSING_MAILBOX\" \"x\")) "
	      "NIL NIL NIL)");
}

/* Raw values: RFC 2047 is not decoded; quotes and backslashes are
 * escaped; 8-bit goes as a literal unless UTF8=ACCEPT and valid. */
Test(envelope, strings)
{
	struct mail_envelope_fields f = {
		.subject = V("=?utf-8?q?caf=C3=A9?= \"q\" \\"),
		.from = V("\"Giant; \\\"Big\\\" Box\" <s@x>"),
	};
	check(&f, false,
	      "(NIL \"=?utf-8?q?caf=C3=A9?= \\\"q\\\" \\\\\" "
	      "((\"Giant; \\\"Big\\\" Box\" NIL \"s\" \"x\")) "
	      "((\"Giant; \\\"Big\\\" Box\" NIL \"s\" \"x\")) "
	      "((\"Giant; \\\"Big\\\" Box\" NIL \"s\" \"x\")) NIL NIL NIL NIL NIL)");

	struct mail_envelope_fields g = { .subject = V("caf\xc3\xa9") };
	check(&g, false, "(NIL {5}\r\ncaf\xc3\xa9 NIL NIL NIL NIL NIL NIL NIL NIL)");
	check(&g, true, "(NIL \"caf\xc3\xa9\" NIL NIL NIL NIL NIL NIL NIL NIL)");
	struct mail_envelope_fields h = { .subject = V("caf\xe9") };
	check(&h, true, "(NIL {4}\r\ncaf\xe9 NIL NIL NIL NIL NIL NIL NIL NIL)");
	/* NUL cannot be sent in any IMAP string. */
	struct mail_envelope_fields n = { .subject = { "a\0b", 3 } };
	check(&n, false, "(NIL \"a b\" NIL NIL NIL NIL NIL NIL NIL NIL)");
	/* A value still folded is unfolded, so it stays a quoted string. */
	struct mail_envelope_fields u = { .subject = V("long\r\n subject") };
	check(&u, false, "(NIL \"long subject\" NIL NIL NIL NIL NIL NIL NIL NIL)");
}

/* 100,000 addresses: the list stops at MAIL_ADDR_MAX_ADDRS entries, so
 * the ENVELOPE stays bounded whatever the header holds. */
Test(envelope, huge_list)
{
	struct buf *in = buf_new(1 << 21), *out = buf_new(1 << 24);
	struct mail_envelope_fields f = { 0 };

	for (int i = 0; i < 100000; i++)
		buf_append_str(in, "a@b,");
	f.to.p = buf_str(in);
	f.to.len = buf_len(in);
	cr_assert(mail_envelope_write(out, &f, false) == 0);
	size_t per = sizeof("(NIL NIL \"a\" \"b\")") - 1;
	cr_expect(buf_len(out) < 10000 * per + 100, "%zu bytes", buf_len(out));
	buf_free(&in);
	buf_free(&out);
}

/* A full buffer fails cleanly. */
Test(envelope, bounded)
{
	struct mail_envelope_fields f = { .from = V("a@b, c@d, e@f") };
	struct buf *out = buf_new(20);

	cr_expect(mail_envelope_write(out, &f, false) == -1);
	cr_expect(buf_len(out) <= 20);
	buf_free(&out);
}

/* Throughput of a typical envelope (printed for the design notes; the
 * floor only catches an accidental slow path). */
Test(envelope, speed)
{
	struct mail_envelope_fields f = {
		.date = V("Tue, 1 Jul 2003 10:52:37 +0200"),
		.subject = V("=?utf-8?q?R=C3=A9union?= de =?utf-8?q?l'=C3=A9quipe?= demain"),
		.from = V("\"Dupont, Jean\" <jean.dupont@example.fr>"),
		.to = V("Marie <marie@example.fr>, paul@example.fr, "
			"=?iso-8859-1?q?Andr=E9?= <andre@example.fr>"),
		.cc = V("team: a@example.fr, b@example.fr;"),
		.message_id = V("<20030701105237.GA1234@example.fr>"),
		.in_reply_to = V("<20030630.1234@example.fr>"),
	};
	struct buf *out = buf_new(1 << 16);
	struct timespec t0, t1;
	int n = 20000;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++) {
		buf_reset(out);
		cr_assert(mail_envelope_write(out, &f, false) == 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) +
		   (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	fprintf(stderr, "envelope: %.0f per second\n", n / s);
#ifndef MOAT_SANITIZERS
	cr_expect(n / s > 5000, "%.0f envelopes/s", n / s);
#endif
	buf_free(&out);
}
