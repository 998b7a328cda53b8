"""Limits that keep clients from holding what others need (issue 5):

- every pre-auth slot taken by connections that keep sending NOOP: a new
  client still gets in, because moatd drops the oldest pre-auth
  connection (never a session) to make room, in a pool and with
  login_per_connection;
- a pre-auth connection dies at preauth_max_lifetime however busy, and
  at its (preauth_max_commands + 1)th command;
- a command line over the limit is answered and closed at once, before
  and after login, without waiting for its CRLF.
"""

import socket
import time
import unittest

from moatenv import MoatServer

BYE_FULL = "* BYE [UNAVAILABLE] "

# How long a prompt answer may take on a loaded machine. The old code
# never answered an unterminated line at all.
PROMPT = 5


def read_line_within(c, seconds):
    c.sock.settimeout(seconds)
    return c.readline()


def greeted(server, mode="starttls"):
    c = server.connect(mode)
    line = read_line_within(c, PROMPT)
    if not line.startswith("* OK"):
        raise AssertionError("not greeted: %r" % line)
    return c


def noop_ok(c, tag="n"):
    """True if the connection still answers NOOP."""
    try:
        c.sock.settimeout(PROMPT)
        return c.cmd(tag, "NOOP")[-1].startswith(tag + " OK")
    except (OSError, EOFError):
        return False


def dropped(c):
    """True if the server said BYE [UNAVAILABLE] and closed."""
    try:
        line = read_line_within(c, PROMPT)
    except (OSError, EOFError):
        return False
    return line.startswith(BYE_FULL) and c.read_eof(PROMPT)


class Holders:
    """Connections that hold pre-auth slots the way the attack does:
    greeted, then a NOOP now and then (each would restart an idle
    timer)."""

    def __init__(self, server, n, mode="starttls"):
        self.conns = []
        for i in range(n):
            c = greeted(server, mode)
            self.conns.append(c)
        self.noop()

    def noop(self):
        for i, c in enumerate(self.conns):
            if not noop_ok(c, "h%d" % i):
                raise AssertionError("holder %d lost" % i)

    def close(self):
        for c in self.conns:
            c.close()


class FullPool(unittest.TestCase):
    """2 login processes x login_max_connections 3 = 6 pre-auth slots."""
    SLOTS = 6

    def setUp(self):
        self.server = MoatServer(extra_conf="login_max_connections = 3\n"
                                 "preauth_max_commands = 1000\n").start()
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        self.server.stop()

    def test_new_client_logs_in_when_every_slot_is_held(self):
        h = Holders(self.server, self.SLOTS)
        self.clients += h.conns
        # The old code answered BYE [UNAVAILABLE] here, for as long as
        # the holders kept sending NOOP.
        c = greeted(self.server)
        self.clients.append(c)
        lines = c.cmd("a", "LOGIN alice secret-a")
        self.assertTrue(lines[-1].startswith("a OK"), lines)
        # The oldest holder made room; the others are untouched.
        self.assertTrue(dropped(h.conns[0]), "oldest holder not dropped")
        for i, hc in enumerate(h.conns[1:], 1):
            self.assertTrue(noop_ok(hc), "holder %d dropped" % i)
        self.assertTrue(self.server.wait_log("Connection queue full"))

    def test_each_newcomer_drops_the_next_oldest(self):
        h = Holders(self.server, self.SLOTS)
        self.clients += h.conns
        for k in range(3):
            c = greeted(self.server)
            self.clients.append(c)
            self.assertTrue(noop_ok(c), "newcomer %d" % k)
            self.assertTrue(dropped(h.conns[k]), "holder %d" % k)
        for hc in h.conns[3:]:
            self.assertTrue(noop_ok(hc))

    def test_sessions_are_never_dropped(self):
        # Logged in first, so older than every holder: a plaintext
        # session (handed off) and a TLS one (proxied by imap-login).
        plain = greeted(self.server)
        tls = greeted(self.server, "tls")
        self.clients += [plain, tls]
        for s in (plain, tls):
            lines = s.cmd("a", "LOGIN alice secret-a")
            self.assertTrue(lines[-1].startswith("a OK"), lines)
        h = Holders(self.server, self.SLOTS)
        self.clients += h.conns
        for k in range(2):
            c = greeted(self.server, ("starttls", "tls")[k])
            self.clients.append(c)
            self.assertTrue(dropped(h.conns[k]), "holder %d" % k)
        self.assertTrue(noop_ok(plain), "plaintext session dropped")
        self.assertTrue(noop_ok(tls), "TLS-proxied session dropped")


class FullPerConnection(unittest.TestCase):
    """login_per_connection with max_processes 4: auth and three login
    processes fill it."""

    def setUp(self):
        self.server = MoatServer(extra_conf="login_per_connection = yes\n"
                                 "max_processes = 4\n").start()
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        self.server.stop()

    def test_new_client_logs_in_when_every_process_is_held(self):
        # wait_ready's probe connection has a process of its own until
        # it notices the close.
        deadline = time.time() + PROMPT
        while (len(self.server.pids_named("imap-login")) > 0 and
               time.time() < deadline):
            time.sleep(0.05)
        h = Holders(self.server, 3)
        self.clients += h.conns
        c = greeted(self.server)
        self.clients.append(c)
        # The session needs a process too: a pre-auth connection makes
        # way for it as well.
        lines = c.cmd("a", "LOGIN alice secret-a")
        self.assertTrue(lines[-1].startswith("a OK"), lines)
        self.assertTrue(noop_ok(c), "session not usable")
        self.assertTrue(dropped(h.conns[0]), "oldest holder not dropped")
        self.assertTrue(dropped(h.conns[1]), "second holder not dropped")
        self.assertTrue(noop_ok(h.conns[2]), "youngest holder dropped")


class Lifetime(unittest.TestCase):
    LIFETIME = 2.0

    @classmethod
    def setUpClass(cls):
        cls.server = MoatServer(extra_conf="preauth_max_lifetime = 2s\n"
                                "preauth_max_commands = 1000\n").start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_busy_connection_dies_at_its_lifetime(self):
        start = time.time()
        c = greeted(self.server)
        c.sock.settimeout(PROMPT)
        line, i = "", 0
        # A NOOP every 0.2 s, so the idle timeout (60 s) never comes
        # near; the old code kept such a connection forever.
        while time.time() - start < self.LIFETIME + PROMPT:
            try:
                c.send("n%d NOOP\r\n" % i)
                line = c.readline()
            except (OSError, EOFError):
                break
            if line.startswith("* BYE"):
                break
            self.assertEqual(line, "n%d OK NOOP completed." % i)
            i += 1
            time.sleep(0.2)
        elapsed = time.time() - start
        self.assertEqual(line, "* BYE Login time limit reached.")
        self.assertTrue(c.read_eof(PROMPT))
        self.assertGreaterEqual(elapsed, self.LIFETIME - 0.1)
        self.assertLess(elapsed, self.LIFETIME + 2)
        self.assertGreater(i, 5, "the NOOPs did not keep it busy")
        c.close()

    def test_session_outlives_the_preauth_lifetime(self):
        for mode in ("starttls", "tls"):
            c = greeted(self.server, mode)
            lines = c.cmd("a", "LOGIN alice secret-a")
            self.assertTrue(lines[-1].startswith("a OK"), lines)
            time.sleep(self.LIFETIME + 0.5)
            self.assertTrue(noop_ok(c), "%s session ended" % mode)
            c.close()


class CommandBudget(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = MoatServer(extra_conf="preauth_max_commands = 5\n"
                                ).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_command_budget(self):
        c = greeted(self.server)
        for i in range(5):
            self.assertEqual(c.cmd("n%d" % i, "NOOP")[-1],
                             "n%d OK NOOP completed." % i)
        c.send("n5 NOOP\r\n")
        line = read_line_within(c, PROMPT)
        self.assertEqual(line, "* BYE [LIMIT] Too many commands before "
                         "login.")
        self.assertTrue(c.read_eof(PROMPT))
        self.assertNotIn(b"n5 OK", c.buf)
        c.close()

    def test_command_budget_pipelined(self):
        c = greeted(self.server)
        c.send("".join("p%d NOOP\r\n" % i for i in range(50)))
        self.assertTrue(c.read_eof(PROMPT))
        text = c.buf.decode()
        self.assertEqual(text.count(" OK NOOP completed."), 5, text)
        self.assertIn("* BYE [LIMIT] Too many commands before login.",
                      text)
        c.close()

    def test_login_within_the_budget(self):
        c = greeted(self.server)
        for i in range(4):
            c.cmd("n%d" % i, "NOOP")
        lines = c.cmd("a", "LOGIN alice secret-a")
        self.assertTrue(lines[-1].startswith("a OK"), lines)
        c.close()


class LineTooLong(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = MoatServer(extra_conf="preauth_max_line = 2k\n").start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def check_bad_bye_close(self, c, tag):
        line = read_line_within(c, PROMPT)
        self.assertEqual(line, tag + " BAD [TOOBIG] Line too long.")
        line = read_line_within(c, PROMPT)
        self.assertEqual(line, "* BYE [TOOBIG] Line too long.")
        self.assertTrue(c.read_eof(PROMPT), "connection left open")

    def endless_line(self, c, tag, size):
        # No CRLF, ever: the server must not wait for one.
        c.send(tag + " NOOP " + "x" * size)
        self.check_bad_bye_close(c, tag)

    def test_preauth_plaintext(self):
        c = self.server.connect()
        c.readline()
        self.endless_line(c, "t1", 10000)
        c.close()

    def test_preauth_implicit_tls(self):
        c = self.server.connect("tls")
        c.readline()
        self.endless_line(c, "t1", 10000)
        c.close()

    def test_preauth_first_token_too_long(self):
        # No tag to answer: "* BAD", then BYE and close.
        c = self.server.connect()
        c.readline()
        c.send("x" * 10000)
        self.check_bad_bye_close(c, "*")
        c.close()

    def login(self, mode):
        c = self.server.connect(mode)
        c.readline()
        lines = c.cmd("a", "LOGIN alice secret-a")
        self.assertTrue(lines[-1].startswith("a OK"), lines)
        return c

    def test_session_plaintext(self):
        # imap's own limit is 64k (imap/imap-settings.h).
        c = self.login("starttls")
        self.endless_line(c, "t2", 70000)
        c.close()

    def test_session_tls_proxied(self):
        c = self.login("tls")
        self.endless_line(c, "t2", 70000)
        c.close()


if __name__ == "__main__":
    unittest.main()
