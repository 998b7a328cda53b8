"""Real clients from Debian against a real moatd: openssl s_client
(STARTTLS and implicit TLS) and curl's IMAP support."""

import subprocess
import unittest

from moatenv import MoatServer

SERVER = None


def setUpModule():
    global SERVER
    SERVER = MoatServer().start()


def tearDownModule():
    SERVER.stop()


def s_client(args, script):
    p = subprocess.run(["openssl", "s_client", "-quiet", "-connect",
                        "127.0.0.1:%d" % args[0]] + list(args[1:]),
                       input=script.encode(), capture_output=True,
                       timeout=30)
    return p.stdout.decode(errors="replace"), p.stderr.decode(
        errors="replace")


class OpenSSLClient(unittest.TestCase):
    def test_starttls_imap(self):
        out, err = s_client(
            (SERVER.ports["starttls"], "-starttls", "imap"),
            "a CAPABILITY\r\nb LOGIN alice secret-a\r\nc NOOP\r\n"
            "d LOGOUT\r\n")
        self.assertIn("a OK", out, err)
        self.assertIn("b OK [CAPABILITY", out, err)
        self.assertIn("c OK", out)
        self.assertIn("d OK", out)

    def test_implicit_tls(self):
        out, err = s_client((SERVER.ports["tls"],),
                            "a LOGIN bob secret-b\r\nb LOGOUT\r\n")
        self.assertIn("* OK [CAPABILITY", out, err)
        self.assertIn("a OK", out)
        self.assertIn("b OK", out)

    def test_tls_1_1_refused(self):
        p = subprocess.run(["openssl", "s_client", "-connect",
                            "127.0.0.1:%d" % SERVER.ports["tls"],
                            "-tls1_1"], input=b"", capture_output=True,
                           timeout=30)
        self.assertNotEqual(p.returncode, 0)

    def test_negotiates_tls13(self):
        p = subprocess.run(["openssl", "s_client", "-connect",
                            "127.0.0.1:%d" % SERVER.ports["tls"]],
                           input=b"a LOGOUT\r\n", capture_output=True,
                           timeout=30)
        self.assertIn(b"TLSv1.3", p.stdout)


class Curl(unittest.TestCase):
    def curl(self, url, *extra):
        return subprocess.run(
            ["curl", "-sS", "--max-time", "20", "-k", "-u",
             "alice:secret-a", url, "-X", "NOOP", "-v"] + list(extra),
            capture_output=True, timeout=30)

    def test_plain_imap(self):
        p = self.curl("imap://127.0.0.1:%d/" % SERVER.ports["starttls"])
        err = p.stderr.decode(errors="replace")
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("OK [CAPABILITY", err)

    def test_starttls_required(self):
        p = self.curl("imap://127.0.0.1:%d/" % SERVER.ports["starttls"],
                      "--ssl-reqd")
        err = p.stderr.decode(errors="replace")
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("STARTTLS", err)

    def test_imaps(self):
        p = self.curl("imaps://127.0.0.1:%d/" % SERVER.ports["tls"])
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))

    def test_wrong_password(self):
        p = subprocess.run(
            ["curl", "-sS", "--max-time", "20", "-u", "alice:bad",
             "imap://127.0.0.1:%d/" % SERVER.ports["starttls"], "-X",
             "NOOP"], capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 67)   # CURLE_LOGIN_DENIED


if __name__ == "__main__":
    unittest.main()
