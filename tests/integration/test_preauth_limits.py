"""Limits that keep one client from holding what others need (issue 5):
a command line over the limit is answered and closed at once, before and
after login, without waiting for its CRLF."""

import socket
import time
import unittest

from moatenv import MoatServer

# How long a prompt answer may take on a loaded machine. The old code
# never answered an unterminated line at all.
PROMPT = 5


def read_line_within(c, seconds):
    c.sock.settimeout(seconds)
    return c.readline()


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
