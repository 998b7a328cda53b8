"""Field spoofing inside log lines (issue 5, finding 6), against a real
moatd.

A client chooses its user name (LOGIN, AUTHENTICATE PLAIN and LOGIN) and
its ID fields. Logged unquoted before the address, a name such as
`x rip=203.0.113.7` made fail2ban-style patterns ban an address of the
attacker's choice. Every line of the server's log is checked:

- the failregex documented in doc/fail2ban.md, applied with Python's re
  to every line the way fail2ban does (date cut off), matches each
  failed authentication exactly once, and the only address it extracts
  is the client's real one, 127.0.0.1;
- so does a loose pattern (any `rip=ADDR` anywhere in any line), which
  only holds if client strings cannot contain a bare `rip=`;
- no attacker string appears unescaped, and wherever an escaped one
  appears, the real address comes first in the line.
"""

import base64
import os
import re
import time
import unittest

from moatenv import MoatServer, SRCDIR

SPOOF = "203.0.113.7"
REAL = "127.0.0.1"
# Names a client may send. The second closes a quote and opens another;
# the third needs a literal (a quoted string cannot hold a newline).
NAMES = ["x rip=%s" % SPOOF,
         'x" rip="%s' % SPOOF,
         "x\nrip=%s" % SPOOF]
# A real account with a hostile name (passwd-file names may not hold a
# space, but may hold '"' and '='): its session's lines carry the name
# in moatd's prefix.
EVIL_USER = 'm"rip=%s' % SPOOF
EVIL_PASS = "evil-pass"
# Any rip= a naive pattern would take, quoted or not.
LOOSE_RIP = re.compile(r'rip="?(\d+\.\d+\.\d+\.\d+)')
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ")


def documented_failregex():
    """The failregex of doc/fail2ban.md as a Python pattern (<HOST> as
    fail2ban's own host group would match an address)."""
    with open(os.path.join(SRCDIR, "doc", "fail2ban.md")) as f:
        for line in f:
            if line.startswith("failregex = "):
                rx = line[len("failregex = "):].rstrip("\n")
                return re.compile(rx.replace("<HOST>",
                                             r"(?P<host>[0-9a-fA-F.:]+)"))
    raise AssertionError("doc/fail2ban.md has no failregex line")


def failregex_hosts(failregex, log):
    """The addresses failregex extracts, one per matching line."""
    hosts = []
    for line in log.splitlines():
        m = failregex.search(TIMESTAMP.sub("", line))
        if m:
            hosts.append(m.group("host"))
    return hosts


def imap_quoted(s):
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def plain_ir(user, password):
    return base64.b64encode(b"\0" + user.encode() + b"\0" +
                            password.encode()).decode()


class LogSpoof(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = MoatServer(
            extra_users=[(EVIL_USER, EVIL_PASS, 5003, 5003)],
            extra_conf="auth_throttle_failures = 100\n")
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def client(self):
        c = self.srv.connect()
        self.assertTrue(c.readline().startswith("* OK"))
        return c

    def failed(self, c, lines):
        self.assertTrue(lines[-1].startswith("a NO [AUTHENTICATIONFAILED]"),
                        lines)
        c.cmd("z", "LOGOUT")
        c.close()

    def login_quoted(self, user):
        c = self.client()
        self.failed(c, c.cmd("a", "LOGIN %s wrong-pw" % imap_quoted(user)))

    def login_literal(self, user):
        c = self.client()
        raw = user.encode()
        c.send(b"a LOGIN {%d}\r\n" % len(raw))
        self.assertTrue(c.readline().startswith("+"))
        c.send(raw + b" wrong-pw\r\n")
        self.failed(c, c.read_until_tagged("a"))

    def auth_plain(self, user):
        c = self.client()
        self.failed(c, c.cmd("a", "AUTHENTICATE PLAIN " +
                             plain_ir(user, "wrong-pw")))

    def auth_login(self, user):
        c = self.client()
        c.send("a AUTHENTICATE LOGIN\r\n")
        self.assertTrue(c.readline().startswith("+"))
        c.send(base64.b64encode(user.encode()) + b"\r\n")
        self.assertTrue(c.readline().startswith("+"))
        c.send(base64.b64encode(b"wrong-pw") + b"\r\n")
        self.failed(c, c.read_until_tagged("a"))

    def attack(self):
        """Every way to put a name in the log; returns how many failed
        authentications reached auth."""
        failures = 0
        for user in NAMES[:2]:
            self.login_quoted(user)
            failures += 1
        for user in NAMES[1:]:
            self.login_literal(user)
            failures += 1
        for user in NAMES:
            self.auth_plain(user)
            failures += 1
        self.auth_login(NAMES[0])
        failures += 1
        # ID before login: a field named rip and values with fields.
        c = self.client()
        lines = c.cmd("a", 'ID ("rip" "%s" "name" "x rip=%s" '
                      '"x rip=%s" "v")' % (SPOOF, SPOOF, SPOOF))
        self.assertTrue(lines[-1].startswith("a OK"), lines)
        # The hostile account logs in: moatd's Login line and the
        # session's own lines name it; ID inside the session too.
        lines = c.cmd("b", "LOGIN %s %s" % (imap_quoted(EVIL_USER),
                                           EVIL_PASS))
        self.assertTrue(lines[-1].startswith("b OK"),
                        lines + [self.srv.read_log()[-2000:]])
        lines = c.cmd("c", 'ID ("rip" "%s" "name" "x rip=%s")'
                      % (SPOOF, SPOOF))
        self.assertTrue(lines[-1].startswith("c OK"), lines)
        c.cmd("z", "LOGOUT")
        c.close()
        return failures

    def wait_quiet(self, done):
        deadline = time.time() + 5
        while time.time() < deadline and not done(self.srv.read_log()):
            time.sleep(0.05)
        time.sleep(0.3)       # the lines logged after the last one we wait for
        return self.srv.read_log()

    def test_no_spoofed_address_in_any_line(self):
        failregex = documented_failregex()
        failures = self.attack()
        log = self.wait_quiet(
            lambda log: len(failregex_hosts(failregex, log)) >= failures
            and "Logged out" in log)
        lines = log.splitlines()
        self.assertTrue(lines, "empty log")

        # 1. A loose pattern: every rip= anywhere is the real address.
        for line in lines:
            for ip in LOOSE_RIP.findall(line):
                self.assertEqual(ip, REAL, "spoofed rip=%s in: %s"
                                 % (ip, line))

        # 2. The documented filter, as fail2ban applies it.
        hosts = failregex_hosts(failregex, log)
        self.assertEqual(set(hosts), {REAL},
                         "failregex extracted %r:\n%s" % (hosts, log))
        self.assertEqual(len(hosts), failures,
                         "failregex matched %d lines for %d failed "
                         "logins:\n%s" % (len(hosts), failures, log))

        # 3. No attacker string unescaped; where an escaped one is, the
        # real address comes first.
        for s in NAMES + [EVIL_USER, "rip=" + SPOOF, 'rip="' + SPOOF]:
            self.assertNotIn(s, log, "unescaped client string %r" % s)
        seen = 0
        for line in lines:
            at = line.find(SPOOF)
            if at < 0:
                continue
            seen += 1
            self.assertIn("rip=%s " % REAL, line[:at],
                          "client string before the address: %s" % line)
        # The names did reach the log (quoted), so 3 tested something.
        self.assertGreaterEqual(seen, failures, log)

        # 4. moatd's prefix of the session's lines: address first, then
        # the user, quoted.
        evil = re.escape('user="m\\x22rip\\x3d%s"' % SPOOF)
        self.assertRegex(log, r"imap\[\d+\] rip=127\.0\.0\.1 %s: info: "
                         % evil)


if __name__ == "__main__":
    unittest.main()
