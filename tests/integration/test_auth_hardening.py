"""Attacks on auth through a real moatd (issue 5, findings 2 and 5),
with the passwd-file backend.

- Password oracle: the right password of an account that may never get
  a session (uid 0, a system uid below first_valid_uid, login_user's
  uid) must get exactly the answer and delay of a wrong password, and
  count as a failure for throttling.
- Throttle race: parallel wrong LOGINs from one address must not get
  more password checks than the throttle limit.

Each test uses its own loopback source address (127.0.0.x), so their
throttle counts do not mix.
"""

import threading
import time
import unittest

from moatenv import MoatServer, IS_ROOT

DELAY_MS = 200    # moatenv's auth_failure_delay
LIMIT = 10
WRONG = "a NO [AUTHENTICATIONFAILED] Authentication failed."
THROTTLED = "a NO [UNAVAILABLE] Too many failed logins, try again later."


def nobody_ids():
    import pwd
    pw = pwd.getpwnam("nobody")
    return pw.pw_uid, pw.pw_gid


class AuthHardening(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        users = [("toor", "rootpw", 0, 0),
                 ("sysacct", "syspw", 500, 500)]
        if IS_ROOT:
            # login_user is nobody (moatenv): its uid must be refused.
            uid, gid = nobody_ids()
            users.append(("loginuid", "loginpw", uid, gid))
        cls.refused = [(u, p) for u, p, _, _ in users]
        cls.srv = MoatServer(extra_users=users, extra_conf="""
auth_throttle_failures = %d
""" % LIMIT)
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def timed_login(self, user, password, source):
        c = self.srv.connect(source=source)
        c.readline()
        t0 = time.monotonic()
        line = c.cmd("a", "LOGIN %s %s" % (user, password))[-1]
        dt = time.monotonic() - t0
        c.close()
        return line, dt

    def test_refused_accounts_answer_like_a_wrong_password(self):
        wrong, dt_wrong = self.timed_login("alice", "not-her-password",
                                           "127.0.0.2")
        self.assertEqual(wrong, WRONG)
        for user, password in self.refused:
            line, dt = self.timed_login(user, password, "127.0.0.2")
            self.assertEqual(line, wrong, "%s with its right password: "
                             "got %r, want the wrong-password answer"
                             % (user, line))
            self.assertGreaterEqual(dt, DELAY_MS / 1000.0 - 0.01,
                                    "%s answered after %.3f s, before "
                                    "the failure delay" % (user, dt))
            self.assertLess(abs(dt - dt_wrong), 0.15,
                            "%s: %.3f s, a wrong password %.3f s"
                            % (user, dt, dt_wrong))
        self.assertEqual(self.srv.pids_named("imap"), [])
        # A normal account still works.
        c = self.srv.connect(source="127.0.0.2")
        c.readline()
        line = c.cmd("b", "LOGIN bob secret-b")[-1]
        self.assertTrue(line.startswith("b OK"), line)
        c.cmd("z", "LOGOUT")
        c.close()

    def test_refused_accounts_count_for_throttling(self):
        src = "127.0.0.3"
        for i in range(LIMIT):
            user, password = self.refused[i % len(self.refused)]
            line, _ = self.timed_login(user, password, src)
            self.assertEqual(line, WRONG)
        # The limit is used up: even alice's right password is refused.
        line, _ = self.timed_login("alice", "secret-a", src)
        self.assertEqual(line, THROTTLED, "%d logins of refused accounts "
                         "did not count as failures" % LIMIT)

    def test_parallel_wrong_logins_get_at_most_limit_checks(self):
        n = 45
        clients = []
        for _ in range(n):
            c = self.srv.connect(source="127.0.0.4")
            c.readline()
            clients.append(c)
        answers = [None] * n

        def run(i):
            try:
                answers[i] = clients[i].cmd("a", "LOGIN alice guess%d" % i)[-1]
            except Exception as e:      # reported below
                answers[i] = repr(e)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        for c in clients:
            c.close()
        checked = answers.count(WRONG)
        others = [a for a in answers if a != WRONG]
        self.assertLessEqual(checked, LIMIT, "%d of %d parallel wrong "
                             "LOGINs were checked against the password; "
                             "the limit is %d" % (checked, n, LIMIT))
        self.assertGreater(checked, 0)
        for a in others:
            self.assertTrue(a is not None and
                            a.startswith("a NO [UNAVAILABLE]"), a)


if __name__ == "__main__":
    unittest.main()
