"""The not-authenticated state over real sockets: every pre-auth command
and its errors, literals, limits, STARTTLS, SASL, the hand-off of
pipelined commands, the pre-auth timeout and login throttling."""

import base64
import imaplib
import socket
import ssl
import time
import unittest

from moatenv import MoatServer, USERS, client_tls_context

SERVER = None


def setUpModule():
    global SERVER
    SERVER = MoatServer(extra_conf="""
preauth_max_line = 2k
preauth_max_literal = 1k
preauth_max_bad_commands = 5
auth_throttle_failures = 4
auth_throttle_window = 1m
""").start()


def tearDownModule():
    SERVER.stop()


def caps_of(line):
    start = line.index("[CAPABILITY ") + len("[CAPABILITY ")
    return line[start:line.index("]", start)].split()


class Greeting(unittest.TestCase):
    def test_greeting_has_capabilities(self):
        c = SERVER.connect()
        g = c.readline()
        self.assertTrue(g.startswith("* OK [CAPABILITY "), g)
        caps = caps_of(g)
        for want in ("IMAP4rev1", "STARTTLS", "SASL-IR", "ID", "LITERAL+",
                     "AUTH=PLAIN", "AUTH=LOGIN"):
            self.assertIn(want, caps)
        # Loopback counts as secure, so plaintext login is allowed here.
        self.assertNotIn("LOGINDISABLED", caps)
        c.close()

    def test_implicit_tls_greeting_has_no_starttls(self):
        c = SERVER.connect("tls")
        caps = caps_of(c.readline())
        self.assertNotIn("STARTTLS", caps)
        self.assertIn("AUTH=PLAIN", caps)
        c.close()


class PreauthCommands(unittest.TestCase):
    def setUp(self):
        self.c = SERVER.connect()
        self.c.readline()

    def tearDown(self):
        self.c.close()

    def test_capability(self):
        lines = self.c.cmd("a1", "CAPABILITY")
        self.assertTrue(lines[0].startswith("* CAPABILITY IMAP4rev1"),
                        lines)
        self.assertTrue(lines[-1].startswith("a1 OK"), lines)

    def test_capability_with_args_is_bad(self):
        lines = self.c.cmd("a1", "CAPABILITY foo")
        self.assertTrue(lines[-1].startswith("a1 BAD"), lines)

    def test_noop_lowercase(self):
        lines = self.c.cmd("x", "noop")
        self.assertEqual(len(lines), 1)
        self.assertTrue(lines[0].startswith("x OK"), lines)

    def test_logout(self):
        lines = self.c.cmd("z9", "LOGOUT")
        self.assertTrue(lines[0].startswith("* BYE"), lines)
        self.assertTrue(lines[1].startswith("z9 OK"), lines)
        self.assertTrue(self.c.read_eof())

    def test_id(self):
        # RFC 2971 §3.1: the server responds with its own ID.
        lines = self.c.cmd("i", 'ID ("name" "test" "version" "1")')
        self.assertTrue(lines[0].startswith('* ID ("name" "Moat"'), lines)
        self.assertTrue(lines[-1].startswith("i OK"), lines)
        lines = self.c.cmd("j", "ID NIL")
        self.assertTrue(lines[-1].startswith("j OK"), lines)

    def test_id_errors(self):
        for args in ('("name")', '("name" "a" "b")', "", "FOO",
                     '(' + ' '.join('"f%d" "v"' % i for i in range(31))
                     + ')', '("%s" "v")' % ("x" * 31)):
            lines = self.c.cmd("k", "ID " + args)
            self.assertTrue(lines[-1].startswith("k BAD"), (args, lines))
            self.c.close()
            self.c = SERVER.connect()     # fresh: BADs are counted
            self.c.readline()

    def test_unknown_command(self):
        lines = self.c.cmd("u", "FROBNICATE")
        self.assertTrue(lines[-1].startswith("u BAD"), lines)

    def test_authenticated_commands_rejected(self):
        for cmd in ("SELECT INBOX", "LIST \"\" *", "ENABLE UTF8=ACCEPT"):
            lines = self.c.cmd("s", cmd)
            self.assertTrue(lines[-1].startswith("s BAD"), (cmd, lines))

    def test_missing_tag_or_command(self):
        self.c.send("\r\n")
        self.assertTrue(self.c.readline().startswith("* BAD"))
        self.c.send("onlytag\r\n")
        self.assertTrue(self.c.readline().startswith("onlytag BAD"))

    def test_invalid_tag(self):
        self.c.send("+a NOOP\r\n")
        self.assertTrue(self.c.readline().startswith("* BAD"))

    def test_login_bad_syntax(self):
        for args in ("", "onlyuser", '"unterminated pass', "a b c"):
            lines = self.c.cmd("l", "LOGIN " + args)
            self.assertTrue(lines[-1].startswith("l BAD"), (args, lines))

    def test_too_many_bad_commands(self):
        for i in range(4):
            lines = self.c.cmd("b%d" % i, "BOGUS")
            self.assertTrue(lines[-1].startswith("b%d BAD" % i))
        self.c.send("b5 BOGUS\r\n")
        lines = []
        try:
            while True:
                lines.append(self.c.readline())
        except EOFError:
            pass
        self.assertTrue(any(l.startswith("* BYE") for l in lines), lines)

    def test_line_too_long(self):
        # BAD, BYE and close (test_preauth_limits checks it is prompt).
        self.c.send("t1 NOOP " + "x" * 5000 + "\r\nt2 NOOP\r\n")
        line = self.c.readline()
        self.assertTrue(line.startswith("t1 BAD [TOOBIG]"), line)
        self.assertTrue(self.c.readline().startswith("* BYE [TOOBIG]"))
        self.assertTrue(self.c.read_eof())
        self.assertNotIn(b"t2", self.c.buf)

    def test_sync_literal_too_big_is_refused_before_data(self):
        self.c.send("t1 LOGIN {5000}\r\n")
        line = self.c.readline()
        self.assertTrue(line.startswith("t1 BAD [TOOBIG]"), line)
        lines = self.c.cmd("t2", "NOOP")
        self.assertTrue(lines[-1].startswith("t2 OK"), lines)

    def test_nonsync_literal_too_big_closes(self):
        # RFC 7888 §4: a too-big non-synchronizing literal cannot be
        # refused without reading it; we answer BYE and close.
        self.c.send("t1 LOGIN {5000+}\r\n" + "x" * 100)
        line = self.c.readline()
        self.assertTrue(line.startswith("* BYE [TOOBIG]"), line)
        self.assertTrue(self.c.read_eof())

    def test_deep_nesting(self):
        lines = self.c.cmd("n", "ID " + "(" * 100 + ")" * 100)
        self.assertTrue(lines[-1].startswith("n BAD"), lines)

    def test_nul_in_command(self):
        lines = self.c.cmd("n", "LOGIN a\x00b c")
        self.assertTrue(lines[-1].startswith("n BAD"), lines)


class Login(unittest.TestCase):
    def test_login_and_pipelined_commands_reach_the_session(self):
        c = SERVER.connect()
        c.readline()
        # Everything in one write: the commands after LOGIN are pipelined
        # and must be answered by the session process, in order.
        c.send("a LOGIN alice secret-a\r\nb NOOP\r\nc CAPABILITY\r\n"
               "d LOGOUT\r\n")
        lines = c.read_until_tagged("d")
        self.assertTrue(lines[0].startswith("a OK [CAPABILITY "), lines)
        self.assertIn("Logged in", lines[0])
        tags = [l.split()[0] for l in lines]
        self.assertEqual(tags, ["a", "b", "*", "c", "*", "d"], lines)
        # Post-login capabilities come from the session, not imap-login.
        self.assertNotIn("STARTTLS", lines[0])
        self.assertNotIn("AUTH=PLAIN", lines[0])

    def test_login_with_literals(self):
        c = SERVER.connect()
        c.readline()
        c.send("a LOGIN {5}\r\n")
        self.assertTrue(c.readline().startswith("+"))
        c.send("alice {8}\r\n")
        self.assertTrue(c.readline().startswith("+"))
        c.send("secret-a\r\n")
        line = c.readline()
        self.assertTrue(line.startswith("a OK"), line)
        c.cmd("z", "LOGOUT")

    def test_login_with_nonsync_literals(self):
        # RFC 7888 §3 example form.
        c = SERVER.connect()
        c.readline()
        c.send("a LOGIN {5+}\r\nalice {8+}\r\nsecret-a\r\n")
        line = c.readline()
        self.assertTrue(line.startswith("a OK"), line)
        c.cmd("z", "LOGOUT")

    def test_login_quoted(self):
        c = SERVER.connect()
        c.readline()
        lines = c.cmd("a", 'LOGIN "bob" "secret-b"')
        self.assertTrue(lines[-1].startswith("a OK"), lines)
        c.cmd("z", "LOGOUT")

    def test_wrong_password_and_unknown_user_look_the_same(self):
        c = SERVER.connect()
        c.readline()
        t0 = time.monotonic()
        l1 = c.cmd("a", "LOGIN alice wrong")[-1]
        t1 = time.monotonic()
        l2 = c.cmd("b", "LOGIN nosuchuser wrong")[-1]
        t2 = time.monotonic()
        self.assertEqual(l1[2:], l2[2:])
        self.assertTrue(l1.startswith("a NO [AUTHENTICATIONFAILED]"), l1)
        # auth_failure_delay = 200ms in this config: both are delayed.
        self.assertGreaterEqual(t1 - t0, 0.19)
        self.assertGreaterEqual(t2 - t1, 0.19)
        c.close()

    def test_imaplib_login(self):
        m = imaplib.IMAP4("127.0.0.1", SERVER.ports["starttls"])
        typ, data = m.login("alice", "secret-a")
        self.assertEqual(typ, "OK")
        self.assertEqual(m.noop()[0], "OK")
        m.logout()

    def test_imaplib_starttls_login(self):
        m = imaplib.IMAP4("127.0.0.1", SERVER.ports["starttls"])
        m.starttls(ssl_context=client_tls_context())
        self.assertNotIn("STARTTLS", m.capabilities)
        self.assertEqual(m.login("bob", "secret-b")[0], "OK")
        self.assertEqual(m.noop()[0], "OK")
        m.logout()

    def test_imaplib_implicit_tls_login(self):
        m = imaplib.IMAP4_SSL("127.0.0.1", SERVER.ports["tls"],
                              ssl_context=client_tls_context())
        self.assertEqual(m.login("alice", "secret-a")[0], "OK")
        # A big command through the TLS proxy both ways.
        typ, data = m.xatom("ID", '("x" "%s")' % ("y" * 1000))
        self.assertEqual(typ, "OK")
        m.logout()

    def test_tls_pipelined_after_login(self):
        c = SERVER.connect("tls")
        c.readline()
        c.send("a LOGIN alice secret-a\r\nb NOOP\r\nc LOGOUT\r\n")
        lines = c.read_until_tagged("c")
        self.assertTrue(lines[0].startswith("a OK"), lines)
        self.assertTrue(any(l.startswith("b OK") for l in lines), lines)


class Sasl(unittest.TestCase):
    def setUp(self):
        self.c = SERVER.connect()
        self.c.readline()

    def tearDown(self):
        self.c.close()

    @staticmethod
    def plain(authz, user, password):
        return base64.b64encode(("%s\0%s\0%s" % (authz, user, password))
                                .encode()).decode()

    def test_plain_with_initial_response(self):
        # RFC 4959 SASL-IR.
        lines = self.c.cmd("a", "AUTHENTICATE PLAIN " +
                           self.plain("", "alice", "secret-a"))
        self.assertTrue(lines[-1].startswith("a OK"), lines)

    def test_plain_without_initial_response(self):
        self.c.send("a AUTHENTICATE PLAIN\r\n")
        self.assertTrue(self.c.readline().startswith("+"))
        self.c.send(self.plain("alice", "alice", "secret-a") + "\r\n")
        line = self.c.readline()
        self.assertTrue(line.startswith("a OK"), line)

    def test_plain_wrong_password(self):
        lines = self.c.cmd("a", "AUTHENTICATE PLAIN " +
                           self.plain("", "alice", "nope"))
        self.assertTrue(lines[-1].startswith("a NO [AUTHENTICATIONFAILED]"),
                        lines)

    def test_plain_other_authzid_refused(self):
        lines = self.c.cmd("a", "AUTHENTICATE PLAIN " +
                           self.plain("bob", "alice", "secret-a"))
        self.assertTrue(lines[-1].startswith("a NO"), lines)

    def test_plain_cancel(self):
        # RFC 9051 §6.2.2: "*" cancels, the server answers BAD.
        self.c.send("a AUTHENTICATE PLAIN\r\n")
        self.c.readline()
        self.c.send("*\r\n")
        self.assertTrue(self.c.readline().startswith("a BAD"))

    def test_plain_bad_base64(self):
        lines = self.c.cmd("a", "AUTHENTICATE PLAIN !!!!")
        self.assertTrue(lines[-1].startswith("a BAD"), lines)

    def test_login_mechanism(self):
        self.c.send("a AUTHENTICATE LOGIN\r\n")
        self.assertEqual(self.c.readline(), "+ VXNlcm5hbWU6")
        self.c.send(base64.b64encode(b"bob").decode() + "\r\n")
        self.assertEqual(self.c.readline(), "+ UGFzc3dvcmQ6")
        self.c.send(base64.b64encode(b"secret-b").decode() + "\r\n")
        line = self.c.readline()
        self.assertTrue(line.startswith("a OK"), line)

    def test_unknown_mechanism(self):
        lines = self.c.cmd("a", "AUTHENTICATE CRAM-MD5")
        self.assertTrue(lines[-1].startswith("a NO"), lines)


class StartTls(unittest.TestCase):
    def test_injection_after_starttls_is_discarded(self):
        # The STARTTLS command-injection class (CVE-2011-0411 style):
        # plaintext pipelined behind STARTTLS must not be executed
        # inside the TLS session.
        c = SERVER.connect()
        c.readline()
        c.send("a STARTTLS\r\nb LOGIN alice secret-a\r\n")
        self.assertTrue(c.readline().startswith("a OK"))
        self.assertEqual(c.buf, b"")
        c.starttls()
        # If "b LOGIN" had been executed, its answer would arrive now.
        c.sock.settimeout(1)
        try:
            data = c.sock.recv(1000)
        except (socket.timeout, TimeoutError, ssl.SSLError):
            data = b""
        self.assertEqual(data, b"")
        c.sock.settimeout(10)
        lines = c.cmd("c", "CAPABILITY")
        self.assertNotIn("STARTTLS", lines[0])
        self.assertTrue(lines[-1].startswith("c OK"), lines)

    def test_starttls_twice_refused(self):
        c = SERVER.connect()
        c.readline()
        c.cmd("a", "STARTTLS")
        c.starttls()
        lines = c.cmd("b", "STARTTLS")
        self.assertTrue(lines[-1].startswith("b BAD"), lines)

    def test_starttls_on_implicit_tls_refused(self):
        c = SERVER.connect("tls")
        c.readline()
        lines = c.cmd("b", "STARTTLS")
        self.assertTrue(lines[-1].startswith("b BAD"), lines)


class Throttle(unittest.TestCase):
    def test_throttle_after_repeated_failures(self):
        # auth_throttle_failures = 4: after 4 failures from 127.0.0.1
        # even the right password is refused until the window passes.
        # Use a separate server so other tests' failures do not count.
        with MoatServer(extra_conf="auth_throttle_failures = 4\n"
                        "auth_throttle_window = 1m\n") as srv:
            results = []
            for i in range(4):
                c = srv.connect()
                c.readline()
                results.append(c.cmd("a", "LOGIN alice wrong%d" % i)[-1])
                c.close()
            for r in results:
                self.assertTrue(r.startswith("a NO [AUTHENTICATIONFAILED]"),
                                r)
            c = srv.connect()
            c.readline()
            line = c.cmd("a", "LOGIN alice secret-a")[-1]
            self.assertTrue(line.startswith("a NO"), line)
            self.assertNotIn("Logged in", line)


class Timeout(unittest.TestCase):
    def test_preauth_timeout(self):
        with MoatServer(extra_conf="preauth_timeout = 1s\n",
                        listeners=("starttls",)) as srv:
            c = srv.connect()
            c.readline()
            t0 = time.monotonic()
            self.assertTrue(c.read_eof(timeout=5))
            self.assertLess(time.monotonic() - t0, 4)
            self.assertIn(b"* BYE", c.buf)


class PlaintextDisabled(unittest.TestCase):
    def test_logindisabled(self):
        # With loopback not counted as secure, 127.0.0.1 is an insecure
        # connection: RFC 9051 §6.2.3 LOGINDISABLED, RFC 5530
        # PRIVACYREQUIRED.
        with MoatServer(extra_conf="loopback_is_secure = no\n") as srv:
            c = srv.connect()
            caps = caps_of(c.readline())
            self.assertIn("LOGINDISABLED", caps)
            self.assertIn("STARTTLS", caps)
            self.assertNotIn("AUTH=PLAIN", caps)
            line = c.cmd("a", "LOGIN alice secret-a")[-1]
            self.assertTrue(line.startswith("a NO [PRIVACYREQUIRED]"), line)
            line = c.cmd("b", "AUTHENTICATE PLAIN " + Sasl.plain(
                "", "alice", "secret-a"))[-1]
            self.assertTrue(line.startswith("b NO [PRIVACYREQUIRED]"), line)
            c.cmd("c", "STARTTLS")
            c.starttls()
            lines = c.cmd("d", "CAPABILITY")
            self.assertNotIn("LOGINDISABLED", lines[0])
            self.assertIn("AUTH=PLAIN", lines[0])
            line = c.cmd("e", "LOGIN alice secret-a")[-1]
            self.assertTrue(line.startswith("e OK"), line)
            # Implicit TLS is secure from the start.
            t = srv.connect("tls")
            self.assertNotIn("LOGINDISABLED", caps_of(t.readline()))


if __name__ == "__main__":
    unittest.main()
