"""A compromised login process against moatd (DESIGN: "a compromised
login process must not be able to start a session for a user whose
password it did not present"). evil-login.c plays the login process;
this test checks what it saw, what moatd logged, and that no session
process was started except the one it had the password for."""

import os
import time
import unittest

from moatenv import MoatServer, BUILDDIR


class EvilLogin(unittest.TestCase):
    def test_forged_replayed_foreign_malformed(self):
        evil = os.path.join(BUILDDIR, "tests", "integration", "evil-login")
        srv = MoatServer(programs={"imap-login": evil},
                         listeners=("none",),
                         extra_conf="auth_cookie_lifetime = 1s\n")
        # The evil login never greets, so do not wait for a banner.
        srv.wait_ready = lambda timeout=10: time.sleep(0.5)
        srv.start()
        clients = []
        try:
            # Real pre-auth connections for the evil processes to use
            # (moatd spreads them over both login processes).
            import socket
            for _ in range(8):
                clients.append(socket.create_connection(
                    ("127.0.0.1", srv.ports["none"]), timeout=5))
            path = os.path.join(srv.dir, "evil-results")
            deadline = time.time() + 40
            want = ("primary-malformed sent", "secondary-spoof sent",
                    "tertiary-nofd sent")
            text = ""
            while time.time() < deadline:
                if os.path.exists(path):
                    with open(path) as f:
                        text = f.read()
                if all(w in text for w in want):
                    break
                time.sleep(0.2)
            self.assertTrue(all(w in text for w in want), text)
            # Give moatd a moment to act on the malformed messages.
            time.sleep(1.5)
            with open(path) as f:
                results = dict(l.split(" ", 1) for l in f.read().split("\n")
                               if l)
            self.assertEqual(results.get("forged"), "FAIL", results)
            self.assertEqual(results.get("zero"), "FAIL", results)
            self.assertEqual(results.get("auth"), "OK", results)
            self.assertEqual(results.get("legit"), "OK", results)
            self.assertEqual(results.get("legit-greeting"), "OK", results)
            self.assertEqual(results.get("replay"), "FAIL", results)
            # Issue 5, finding 7: a cookie is bound to the connection the
            # password came in on; another connection of the same login
            # process cannot use it, and the attempt burns it.
            self.assertEqual(results.get("cross-auth"), "OK", results)
            self.assertEqual(results.get("cross"), "FAIL", results)
            self.assertEqual(results.get("cross-then-own"), "FAIL", results)
            self.assertEqual(results.get("foreign"), "FAIL", results)
            # A cookie is burned by any redeem attempt, even a foreign one.
            self.assertEqual(results.get("foreign-then-owner"), "FAIL",
                             results)
            self.assertEqual(results.get("expired"), "FAIL", results)
            self.assertEqual(results.get("badpass-auth"), "FAIL", results)
            log = srv.read_log()
            # Malformed messages: moatd kills the sender.
            self.assertNotIn("primary-survived", results)
            self.assertNotIn("secondary-survived", results)
            self.assertNotIn("tertiary-survived", results)
            self.assertIn("cookie of another connection", log)
            self.assertIn("which is not one of its pre-auth connections",
                          log)
            self.assertIn("SESSION_REQ without a descriptor", log)
            self.assertIn("killed by signal 9", log)
            # Exactly one session was ever started: the legit one.
            self.assertEqual(log.count("Login: user="), 1, log)
        finally:
            for c in clients:
                c.close()
            srv.stop()


if __name__ == "__main__":
    unittest.main()
