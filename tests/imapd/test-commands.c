/*
 * Tests for the imap process's command loop and handlers (imap/client.c,
 * imap/imap-commands.c, imap/cmd-*.c): a real session in a child process
 * on a socketpair, driven byte for byte as a client would, exact
 * responses checked against RFC 9051, 2971, 5161 and 7888 and the
 * contract in doc/design.md.
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
#include "imap/id.h"
#include "imap/imap-commands.h"
#include "harness.h"

#define T_TIMEOUT .timeout = 20

struct convo {
	const char *name;
	const char *input;
	const char *want;    /* exact output after the greeting */
};

static void
run_convos(const struct convo *tab, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct sess s;
		char *want = xasprintf("%s%s", SESS_GREETING, tab[i].want);
		int st = sess_script(&s, NULL, tab[i].input, 0);

		cr_expect_str_eq(s.got, want, "%s: got\n%s\nwant\n%s",
				 tab[i].name, s.got, want);
		cr_expect_eq(st, 0, "%s: exit status got %d, want 0",
			     tab[i].name, st);
		free(want);
		sess_free(&s);
	}
}

Test(imapd, greeting_and_eof, T_TIMEOUT)
{
	struct sess s;
	int st = sess_script(&s, NULL, "", 0);

	cr_assert_str_eq(s.got, SESS_GREETING, "got %s, want the greeting",
			 s.got);
	cr_assert_eq(st, 0, "exit status got %d, want 0", st);
	cr_assert(strstr(s.log, "<I>Disconnected in=0 out=") != NULL,
		  "log got %s, want Disconnected with counters", s.log);
	sess_free(&s);
}

Test(imapd, any_state_commands, T_TIMEOUT)
{
	static const struct convo tab[] = {
		{ "noop", "a1 NOOP\r\n", "a1 OK NOOP completed.\r\n" },
		{ "noop lowercase", "a1 noop\r\n", "a1 OK NOOP completed.\r\n" },
		{ "noop args", "a1 NOOP x\r\n",
		  "a1 BAD Unexpected arguments.\r\n" },
		{ "capability", "a1 CAPABILITY\r\n",
		  "* CAPABILITY " SESS_CAPS "\r\n"
		  "a1 OK Capability completed.\r\n" },
		{ "capability args", "a1 CAPABILITY IMAP4rev1\r\n",
		  "a1 BAD Unexpected arguments.\r\n" },
		{ "logout args keeps the session", "a1 LOGOUT now\r\n"
		  "a2 NOOP\r\n",
		  "a1 BAD Unexpected arguments.\r\n"
		  "a2 OK NOOP completed.\r\n" },
		{ "bare LF", "a1 NOOP\n", "a1 OK NOOP completed.\r\n" },
		{ "odd tag", "x.1/2 NOOP\r\n", "x.1/2 OK NOOP completed.\r\n" },
	};

	run_convos(tab, sizeof(tab) / sizeof(tab[0]));
}

Test(imapd, pipelined_in_one_write, T_TIMEOUT)
{
	static const struct convo tab[] = {
		{ "three", "a1 NOOP\r\na2 CAPABILITY\r\na3 NOOP\r\n",
		  "a1 OK NOOP completed.\r\n"
		  "* CAPABILITY " SESS_CAPS "\r\n"
		  "a2 OK Capability completed.\r\n"
		  "a3 OK NOOP completed.\r\n" },
		{ "errors do not stop the pipeline",
		  "a1 FROB\r\na2 FETCH 1 FLAGS\r\na3 NOOP\r\n",
		  "a1 BAD Unknown command.\r\n"
		  "a2 BAD No mailbox selected.\r\n"
		  "a3 OK NOOP completed.\r\n" },
	};

	run_convos(tab, sizeof(tab) / sizeof(tab[0]));
}

Test(imapd, logout, T_TIMEOUT)
{
	struct sess s;
	char want_log[128];
	const char *out = "* BYE Logging out\r\na1 OK Logout completed.\r\n";
	int st;

	/* Nothing pipelined behind LOGOUT may run (RFC 9051 §6.1.3). */
	st = sess_script(&s, NULL, "a1 LOGOUT\r\na2 NOOP\r\n", 0);
	cr_assert_str_eq(s.got + strlen(SESS_GREETING), out,
			 "got %s, want %s", s.got, out);
	cr_assert_eq(st, 0, "exit status got %d, want 0", st);
	snprintf(want_log, sizeof(want_log), "<I>Logged out in=%zu out=%zu\n",
		 strlen("a1 LOGOUT\r\na2 NOOP\r\n"),
		 strlen(SESS_GREETING) + strlen(out));
	cr_assert(strstr(s.log, want_log) != NULL, "log got %s, want %s",
		  s.log, want_log);
	sess_free(&s);
}

Test(imapd, logout_closes_without_client_eof, T_TIMEOUT)
{
	struct sess s;

	/* The client keeps its side open: the server must close. */
	sess_start(&s, NULL);
	sess_send(&s, "a1 LOGOUT\r\n", 0);
	cr_assert(sess_read_eof(&s, 5000), "no close after LOGOUT; got %s",
		  s.got);
	cr_assert_eq(sess_wait(&s, 5000), 0);
	sess_free(&s);
}

Test(imapd, enable, T_TIMEOUT)
{
	static const struct convo tab[] = {
		{ "one", "a1 ENABLE CONDSTORE\r\n",
		  "* ENABLED CONDSTORE\r\na1 OK ENABLE completed.\r\n" },
		/* RFC 5161 §3.1: unknown ones ignored, only the newly
		 * enabled listed */
		{ "several", "a1 ENABLE UTF8=ACCEPT QRESYNC X-FOO\r\n",
		  "* ENABLED UTF8=ACCEPT QRESYNC\r\na1 OK ENABLE "
		  "completed.\r\n" },
		{ "twice", "a1 ENABLE condstore\r\na2 ENABLE CONDSTORE "
		  "QRESYNC\r\na3 ENABLE QRESYNC\r\n",
		  "* ENABLED CONDSTORE\r\na1 OK ENABLE completed.\r\n"
		  "* ENABLED QRESYNC\r\na2 OK ENABLE completed.\r\n"
		  "* ENABLED\r\na3 OK ENABLE completed.\r\n" },
		{ "none", "a1 ENABLE\r\n", "a1 BAD Missing capability.\r\n" },
		{ "list", "a1 ENABLE (CONDSTORE)\r\n",
		  "a1 BAD Invalid capability.\r\n" },
		{ "quoted", "a1 ENABLE \"CONDSTORE\"\r\n",
		  "a1 BAD Invalid capability.\r\n" },
		{ "literal", "a1 ENABLE {9+}\r\nCONDSTORE\r\n",
		  "a1 BAD Invalid capability.\r\n" },
	};

	run_convos(tab, sizeof(tab) / sizeof(tab[0]));
}

static char *
id_reply(void)
{
	struct buf *b = buf_new(4096);
	char *s;

	cr_assert_eq(imap_id_write_reply(b), 0);
	s = xstrdup(buf_str(b));
	buf_free(&b);
	return s;
}

Test(imapd, id, T_TIMEOUT)
{
	char *reply = id_reply();
	char *ok = xasprintf("%sa1 OK ID completed.\r\n", reply);
	char *cont = xasprintf("+ OK\r\n%s", ok);
	const struct convo tab[] = {
		{ "nil", "a1 ID NIL\r\n", ok },
		{ "list", "a1 ID (\"name\" \"Thunderbird\" \"version\" "
		  "\"115.0\")\r\n", ok },
		{ "literal+", "a1 ID (\"name\" {3+}\r\nfoo)\r\n", ok },
		/* All at once: the continuation is still owed. */
		{ "sync literal", "a1 ID (\"name\" {3}\r\nfoo)\r\n", cont },
	};

	cr_assert(str_has_prefix(reply, "* ID ("), "reply got %s", reply);
	run_convos(tab, sizeof(tab) / sizeof(tab[0]));
	free(cont);
	free(ok);
	free(reply);
}

Test(imapd, id_bad, T_TIMEOUT)
{
	static const char *const inputs[] = {
		"a1 ID\r\n",
		"a1 ID foo\r\n",
		"a1 ID (\"name\")\r\n",
		"a1 ID NIL NIL\r\n",
	};

	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		struct sess s;
		int st = sess_script(&s, NULL, inputs[i], 0);
		const char *resp = s.got + strlen(SESS_GREETING);

		cr_expect(str_has_prefix(resp, "a1 BAD ") &&
			  strstr(resp, "\r\n") == resp + strlen(resp) - 2,
			  "%s: got %s, want one a1 BAD line", inputs[i], resp);
		cr_expect_eq(st, 0);
		sess_free(&s);
	}
}

Test(imapd, sync_literal_waits_for_continuation, T_TIMEOUT)
{
	struct sess s;
	char *reply = id_reply();

	sess_start(&s, NULL);
	sess_send(&s, "a1 ID (\"name\" {3}\r\n", 0);
	cr_assert(sess_read_until(&s, "+ OK\r\n", 5000),
		  "got %s, want a \"+ OK\" continuation", s.got);
	sess_send(&s, "foo)\r\n", 0);
	cr_assert(sess_read_until(&s, "a1 OK ID completed.\r\n", 5000),
		  "got %s", s.got);
	cr_assert(strstr(s.got, reply) != NULL, "got %s, want %s", s.got,
		  reply);
	sess_shut(&s);
	cr_assert(sess_read_eof(&s, 5000));
	cr_assert_eq(sess_wait(&s, 5000), 0);
	free(reply);
	sess_free(&s);
}

/* RFC 2177 without a selected mailbox: it only waits for DONE (any
 * case); any other line ends it with BAD; the command pipelined behind
 * DONE runs after it. */
Test(imapd, idle_without_mailbox, T_TIMEOUT)
{
	static const struct convo tab[] = {
		{ "done", "a1 IDLE\r\ndone\r\na2 NOOP\r\n",
		  "+ idling\r\na1 OK IDLE terminated.\r\n"
		  "a2 OK NOOP completed.\r\n" },
		{ "other line", "a1 IDLE\r\nDONE x\r\n",
		  "+ idling\r\na1 BAD Expected DONE.\r\n" },
		{ "args", "a1 IDLE x\r\n",
		  "a1 BAD Unexpected arguments.\r\n" },
		/* EOF in IDLE ends the session without a tagged answer
		 * (found by fuzz-imap-session: it used to panic). */
		{ "eof", "a1 IDLE\r\n", "+ idling\r\n" },
		{ "eof after a partial line", "a1 IDLE\r\nDO",
		  "+ idling\r\n" },
	};

	run_convos(tab, sizeof(tab) / sizeof(tab[0]));
}

Test(imapd, selected_state_commands_need_a_mailbox, T_TIMEOUT)
{
	static const char *const cmds[] = {
		"CHECK", "CLOSE", "UNSELECT", "EXPUNGE", "SEARCH ALL",
		"FETCH 1:* (FLAGS BODY[HEADER.FIELDS (FROM)])",
		"STORE 1 +FLAGS (\\Seen)", "COPY 1 foo", "MOVE 1 foo",
		"UID FETCH 1 FLAGS",
	};
	struct convo tab[sizeof(cmds) / sizeof(cmds[0])];
	char *inputs[sizeof(cmds) / sizeof(cmds[0])];

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		inputs[i] = xasprintf("a1 %s\r\n", cmds[i]);
		tab[i].name = cmds[i];
		tab[i].input = inputs[i];
		tab[i].want = "a1 BAD No mailbox selected.\r\n";
	}
	run_convos(tab, sizeof(tab) / sizeof(tab[0]));
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		free(inputs[i]);
}

Test(imapd, preauth_commands_refused, T_TIMEOUT)
{
	static const struct convo tab[] = {
		{ "login", "a1 LOGIN demo secret\r\n",
		  "a1 BAD Already authenticated.\r\n" },
		{ "authenticate", "a1 AUTHENTICATE PLAIN\r\n",
		  "a1 BAD Already authenticated.\r\n" },
		{ "starttls", "a1 STARTTLS\r\n",
		  "a1 BAD Already authenticated.\r\n" },
		{ "unknown", "a1 FROB\r\n", "a1 BAD Unknown command.\r\n" },
		{ "unknown with args", "a1 XYZZY (a b) {1+}\r\nc\r\n",
		  "a1 BAD Unknown command.\r\n" },
	};

	run_convos(tab, sizeof(tab) / sizeof(tab[0]));
}

Test(imapd, reader_limits, T_TIMEOUT)
{
	size_t big = 70000;
	char *line = xmalloc(big + 64);
	struct convo tab[2];

	/* imap/reader.h: a line over max_line (64k) is refused with its
	 * tag and ends the session; what follows it is never run. */
	memcpy(line, "a1 NOOP ", 8);
	memset(line + 8, 'x', big);
	strcpy(line + 8 + big, "\r\na2 NOOP\r\n");
	tab[0] = (struct convo){ "line too long", line,
		"a1 BAD [TOOBIG] Line too long.\r\n"
		"* BYE [TOOBIG] Line too long.\r\n" };
	/* A synchronizing literal over max_literal (64m) is refused before
	 * the client sends it. */
	tab[1] = (struct convo){ "sync literal too big",
		"a1 APPEND INBOX {67108865}\r\na2 NOOP\r\n",
		"a1 BAD [TOOBIG] Literal too big.\r\n"
		"a2 OK NOOP completed.\r\n" };
	run_convos(tab, 2);
	free(line);
}

/* Issue 5 item 10: an over-long line without CRLF is answered once it
 * passes the limit, and the session ends, while the client is still
 * sending (no EOF, no CRLF). */
Test(imapd, line_too_long_without_crlf, T_TIMEOUT)
{
	size_t big = 70000;
	char *line = xmalloc(big + 8);
	struct sess s;

	memcpy(line, "a1 NOOP ", 8);
	memset(line + 8, 'x', big);
	sess_start(&s, NULL);
	sess_send(&s, line, big + 8);
	cr_assert(sess_read_until(&s, "* BYE [TOOBIG] Line too long.\r\n",
				  3000),
		  "no BYE before CRLF; got %s", s.got);
	cr_assert(sess_read_eof(&s, 3000), "session still open");
	cr_assert_str_eq(s.got, SESS_GREETING
			 "a1 BAD [TOOBIG] Line too long.\r\n"
			 "* BYE [TOOBIG] Line too long.\r\n", "got %s", s.got);
	cr_assert_eq(sess_wait(&s, 3000), 0);
	sess_free(&s);
	free(line);
}

Test(imapd, literal_at_the_limit_is_accepted, T_TIMEOUT)
{
	/* A sync literal of exactly max_literal must get the continuation,
	 * not TOOBIG. The client then closes instead of sending it. */
	struct sess s;
	int st = sess_script(&s, NULL, "a1 APPEND INBOX {67108864}\r\n", 0);

	cr_assert_str_eq(s.got + strlen(SESS_GREETING), "+ OK\r\n",
			 "got %s", s.got);
	cr_assert_eq(st, 0);
	sess_free(&s);
}

Test(imapd, nonsync_literal_too_big_is_fatal, T_TIMEOUT)
{
	struct sess s;
	int st = sess_script(&s, NULL,
			     "a1 APPEND INBOX {67108865+}\r\nxxxx\r\n", 0);

	cr_assert_str_eq(s.got + strlen(SESS_GREETING),
			 "* BYE [TOOBIG] Literal too big.\r\n", "got %s",
			 s.got);
	cr_assert_eq(st, 0, "exit status got %d, want 0", st);
	sess_free(&s);
}

Test(imapd, syntax_errors, T_TIMEOUT)
{
	static const struct {
		const char *input;
		const char *prefix;  /* the error line must start so */
	} tab[] = {
		{ "a1 ID (\"a\" \"b\"\r\n", "a1 BAD " },  /* unclosed list */
		{ "a1 ID \"unterminated\r\n", "a1 BAD " },
		{ "a1 NOOP\0junk\r\n", "BAD" },
		{ "+x NOOP\r\n", "* BAD " },               /* invalid tag */
		{ "a1\r\n", "a1 BAD " },                   /* no command */
		{ "\r\n", "* BAD " },
		{ "a1 \xff\xfe\r\n", "BAD" },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		struct sess s;
		size_t len = strlen(tab[i].input);
		char *input;
		const char *resp, *ok;
		int st;

		/* The NUL row: measure past the NUL. */
		if (i == 2)
			len = sizeof("a1 NOOP\0junk\r\n") - 1;
		input = xmalloc(len + 16);
		memcpy(input, tab[i].input, len);
		memcpy(input + len, "a2 NOOP\r\n", 10);
		st = sess_script(&s, NULL, input, len + 9);
		resp = s.got + strlen(SESS_GREETING);
		ok = strstr(resp, "a2 OK NOOP completed.\r\n");
		cr_expect(strstr(resp, tab[i].prefix) != NULL &&
			  (tab[i].prefix[0] == 'B' ||
			   str_has_prefix(resp, tab[i].prefix)),
			  "row %zu: got %s, want a line starting %s", i, resp,
			  tab[i].prefix);
		cr_expect(ok != NULL && ok[strlen(ok) - 1] == '\n' &&
			  strlen(ok) == strlen("a2 OK NOOP completed.\r\n"),
			  "row %zu: the next command must still run; got %s",
			  i, resp);
		cr_expect_eq(st, 0);
		free(input);
		sess_free(&s);
	}
}

Test(imapd, session_init_pipelined, T_TIMEOUT)
{
	static const struct {
		const char *pipelined;
		const char *input;
		const char *want;
	} tab[] = {
		{ "a1 NOOP\r\na2 CAPABILITY\r\n", "a3 NOOP\r\n",
		  "a1 OK NOOP completed.\r\n"
		  "* CAPABILITY " SESS_CAPS "\r\n"
		  "a2 OK Capability completed.\r\n"
		  "a3 OK NOOP completed.\r\n" },
		/* A command split between the hand-off and the socket. */
		{ "a1 NO", "OP\r\n", "a1 OK NOOP completed.\r\n" },
		{ "a1 ID (\"name\" {3}\r\n", "foo)\r\n", NULL },
		/* LOGOUT before the loop even starts. */
		{ "a1 LOGOUT\r\na2 NOOP\r\n", "",
		  "* BYE Logging out\r\na1 OK Logout completed.\r\n" },
	};
	char *reply = id_reply();

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		struct sess_opts o = { .pipelined = tab[i].pipelined };
		struct sess s;
		char *want;
		int st;

		if (tab[i].want != NULL)
			want = xasprintf("%s%s", SESS_GREETING, tab[i].want);
		else
			want = xasprintf("%s+ OK\r\n%sa1 OK ID completed.\r\n",
					 SESS_GREETING, reply);
		st = sess_script(&s, &o, tab[i].input, 0);
		cr_expect_str_eq(s.got, want, "row %zu: got\n%s\nwant\n%s", i,
				 s.got, want);
		cr_expect_eq(st, 0, "row %zu: exit status got %d", i, st);
		free(want);
		sess_free(&s);
	}
	free(reply);
}

Test(imapd, idle_timeout, T_TIMEOUT)
{
	struct sess_opts o = { .idle_ms = 200 };
	const char *want = SESS_GREETING "a1 OK NOOP completed.\r\n"
		"* BYE Disconnected for inactivity.\r\n";
	struct sess s;

	sess_start(&s, &o);
	sess_send(&s, "a1 NOOP\r\n", 0);
	cr_assert(sess_read_eof(&s, 5000), "no disconnect; got %s", s.got);
	cr_assert_str_eq(s.got, want, "got %s, want %s", s.got, want);
	cr_assert_eq(sess_wait(&s, 5000), 0);
	cr_assert(strstr(s.log, "<I>Disconnected for inactivity in=9 ") !=
		  NULL, "log got %s", s.log);
	sess_free(&s);
}

/* RFC 2177: a session in IDLE is active. The idle timer does not log it
 * out; it checks the peer is there with an untagged OK each period. */
Test(imapd, idle_timeout_while_idling, T_TIMEOUT)
{
	struct sess_opts o = { .idle_ms = 150, .idling = true };
	struct sess s;
	const char *p;
	int n = 0;

	sess_start(&s, &o);
	cr_assert(!sess_read_eof(&s, 700), "disconnected while idling; got %s",
		  s.got);
	for (p = s.got; (p = strstr(p, "* OK Still here\r\n")) != NULL; p++)
		n++;
	cr_assert_geq(n, 2, "got %d keep-alives in %s", n, s.got);
	cr_assert_null(strstr(s.got, "BYE"), "got %s", s.got);
	sess_shut(&s);
	sess_free(&s);
}

/*
 * Many pipelined commands, written without reading for as long as the
 * server takes them: the server must pause instead of buffering without
 * bound, and must lose nothing once the client reads again.
 */
Test(imapd, flood_with_back_pressure, T_TIMEOUT)
{
	const unsigned int n = 60000;
	struct buf *in = buf_new(SIZE_MAX / 4);
	struct sess s;
	size_t off = 0, oks = 0;
	bool blocked = false;
	char *p;

	for (unsigned int i = 0; i < n; i++)
		cr_assert_eq(buf_printf(in, "t%u NOOP\r\n", i), 0);
	buf_append_str(in, "z LOGOUT\r\n");

	sess_start(&s, NULL);
	cr_assert_eq(fcntl(s.fd, F_SETFL, O_NONBLOCK), 0);
	/* Phase 1: write only. */
	while (off < buf_len(in)) {
		ssize_t w = send(s.fd, buf_data(in) + off, buf_len(in) - off,
				 MSG_NOSIGNAL);

		if (w < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = s.fd, .events = POLLOUT };

			if (poll(&pfd, 1, 500) == 0) {
				blocked = true;
				break;
			}
			continue;
		}
		cr_assert_gt(w, 0, "send: %s", strerror(errno));
		off += (size_t)w;
	}
	cr_assert(blocked, "the server took all %zu bytes without the client "
		  "reading; want back-pressure", buf_len(in));
	/* Phase 2: read and write. */
	while (!s.eof) {
		struct pollfd pfd = { .fd = s.fd, .events = POLLIN |
			(off < buf_len(in) ? POLLOUT : 0) };

		cr_assert_gt(poll(&pfd, 1, 5000), 0, "stalled");
		if ((pfd.revents & POLLOUT) != 0) {
			ssize_t w = send(s.fd, buf_data(in) + off,
					 buf_len(in) - off, MSG_NOSIGNAL);

			if (w > 0)
				off += (size_t)w;
		}
		if ((pfd.revents & (POLLIN | POLLHUP)) != 0)
			sess_read_once(&s, 0);
	}
	cr_assert_eq(off, buf_len(in));
	/* Line by line: strstr over the whole reply once per match is
	 * quadratic under ASan, which scans the haystack on every call. */
	for (p = s.got; *p != '\0'; ) {
		char *eol = strchr(p, '\n');
		size_t len = eol != NULL ? (size_t)(eol + 1 - p) : strlen(p);
		static const char ok[] = " OK NOOP completed.\r\n";

		if (len >= sizeof(ok) - 1 &&
		    memcmp(p + len - (sizeof(ok) - 1), ok, sizeof(ok) - 1) == 0)
			oks++;
		p += len;
	}
	cr_assert_eq(oks, n, "got %zu NOOP replies, want %u", oks, n);
	cr_assert(strstr(s.got, "t59999 OK NOOP completed.\r\n"
			 "* BYE Logging out\r\n") != NULL);
	cr_assert_eq(sess_wait(&s, 5000), 0);
	buf_free(&in);
	sess_free(&s);
}

Test(imapd, command_table)
{
	const struct imap_command_def *tab;
	size_t n;

	tab = imap_commands_all(&n);
	cr_assert_gt(n, 0);
	for (size_t i = 0; i < n; i++) {
		char *up = xstrdup(tab[i].name);

		str_upper(up);
		cr_expect_str_eq(up, tab[i].name, "names are uppercase");
		free(up);
		cr_expect_eq(imap_command_find(tab[i].name), &tab[i],
			     "%s: lookup got another entry", tab[i].name);
		if ((tab[i].flags & IMAP_CMD_NOT_AUTHENTICATED) != 0)
			cr_expect_null(tab[i].func, "%s", tab[i].name);
	}
	cr_expect_null(imap_command_find("NOOPX"));
	cr_expect_null(imap_command_find(""));
	cr_expect_null(imap_command_find("noop"), "the parser uppercases");
}
