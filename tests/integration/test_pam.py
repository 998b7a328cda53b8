"""PAM for real: pam_wrapper gives the auth process a private PAM
configuration using pam_matrix (and pam_exec from Debian's
libpam-modules), and nss_wrapper gives its users real uids, without
touching /etc."""

import os
import shutil
import tempfile
import threading
import time
import unittest

from moatenv import MoatServer, IS_ROOT

MULTIARCH = "/usr/lib/x86_64-linux-gnu"
PAM_WRAPPER = MULTIARCH + "/libpam_wrapper.so"
NSS_WRAPPER = MULTIARCH + "/libnss_wrapper.so"
PAM_MATRIX = MULTIARCH + "/pam_wrapper/pam_matrix.so"
PAM_EXEC = MULTIARCH + "/security/pam_exec.so"

WRONG = "a NO [AUTHENTICATIONFAILED] Authentication failed."
TEMPFAIL = "a NO [UNAVAILABLE] Authentication service unavailable."
DELAY = 0.2     # moatenv's auth_failure_delay


@unittest.skipUnless(os.path.exists(PAM_WRAPPER) and
                     os.path.exists(NSS_WRAPPER),
                     "libpam-wrapper/libnss-wrapper not installed")
class PamBase(unittest.TestCase):
    """A moatd whose auth uses the PAM service "moattest" built from
    auth_stack() (pam_matrix checks passwords from a file)."""

    extra_conf = ""

    def auth_stack(self, passdb):
        return ("auth required %s passdb=%s\n" % (PAM_MATRIX, passdb) +
                "account required %s passdb=%s\n" % (PAM_MATRIX, passdb))

    def write_script(self, name, text):
        path = os.path.join(self.wrap, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + text)
        os.chmod(path, 0o755)
        return path

    def setUp(self):
        self.wrap = tempfile.mkdtemp(prefix="moat-pam-")
        os.chmod(self.wrap, 0o755)
        home = os.path.join(self.wrap, "carol")
        os.mkdir(home)
        if IS_ROOT:
            os.chown(home, 5003, 5003)
        self.home = home
        with open(os.path.join(self.wrap, "passwd"), "w") as f:
            f.write("carol:x:5003:5003:Carol:%s:/bin/false\n" % home)
            f.write("dave:x:5004:5004:Dave:%s:/bin/false\n" % home)
            f.write("hang:x:5005:5005:Hang:%s:/bin/false\n" % home)
            f.write("root:x:0:0:root:/root:/bin/false\n")
            f.write("daemon:x:1:1:daemon:/usr/sbin:/bin/false\n")
            # The login user must exist for moatd/imap-login too.
            f.write("nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
        with open(os.path.join(self.wrap, "group"), "w") as f:
            f.write("carol:x:5003:\ndave:x:5004:\nhang:x:5005:\nroot:x:0:\n"
                    "daemon:x:1:\nmailers:x:5100:carol\nnogroup:x:65534:\n")
        passdb = os.path.join(self.wrap, "passdb")
        with open(passdb, "w") as f:
            f.write("carol:carolpw:moattest\n")
            f.write("dave:davepw:otherservice\n")
            f.write("hang:hangpw:moattest\n")
            f.write("root:rootpw:moattest\n")
            f.write("daemon:daemonpw:moattest\n")
            f.write("nobody:nobodypw:moattest\n")
        svc = os.path.join(self.wrap, "pam.d")
        os.mkdir(svc)
        with open(os.path.join(svc, "moattest"), "w") as f:
            f.write(self.auth_stack(passdb))
        env = {"LD_PRELOAD": PAM_WRAPPER + ":" + NSS_WRAPPER,
               "PAM_WRAPPER": "1", "PAM_WRAPPER_SERVICE_DIR": svc,
               "NSS_WRAPPER_PASSWD": os.path.join(self.wrap, "passwd"),
               "NSS_WRAPPER_GROUP": os.path.join(self.wrap, "group")}
        self.srv = MoatServer(env=env, backends="pam", extra_conf="""
auth_pam_service = moattest
import_environment = TZ LD_PRELOAD PAM_WRAPPER PAM_WRAPPER_SERVICE_DIR NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
""" + self.extra_conf)
        self.srv.start()

    def tearDown(self):
        self.srv.stop()
        shutil.rmtree(self.wrap, ignore_errors=True)

    def login(self, user, password, timeout=10):
        c = self.srv.connect(timeout=timeout)
        c.readline()
        return c, c.cmd("a", "LOGIN %s %s" % (user, password))[-1]

    def timed_login(self, user, password):
        c = self.srv.connect()
        c.readline()
        t0 = time.monotonic()
        line = c.cmd("a", "LOGIN %s %s" % (user, password))[-1]
        dt = time.monotonic() - t0
        c.close()
        return line, dt


class Pam(PamBase):
    def test_pam_login(self):
        c, line = self.login("carol", "carolpw")
        self.assertTrue(line.startswith("a OK"), line + self.srv.read_log())
        if IS_ROOT:
            deadline = time.time() + 5
            pids = []
            while not pids and time.time() < deadline:
                pids = self.srv.pids_named("imap")
                time.sleep(0.05)
            self.assertEqual(len(pids), 1)
            with open("/proc/%d/status" % pids[0]) as f:
                st = dict(l.split(":", 1) for l in f)
            self.assertEqual(st["Uid"].split(), ["5003"] * 4)
            self.assertEqual(st["Gid"].split(), ["5003"] * 4)
            # Supplementary groups come from NSS (initgroups).
            self.assertEqual(sorted(st["Groups"].split()), ["5003", "5100"])
            self.assertEqual(os.readlink("/proc/%d/cwd" % pids[0]),
                             self.home)
        c.cmd("z", "LOGOUT")

    def test_pam_wrong_password(self):
        c, line = self.login("carol", "nope")
        self.assertEqual(line, WRONG)

    def test_pam_unknown_user(self):
        c, line = self.login("mallory", "x")
        self.assertEqual(line, WRONG)

    def test_pam_other_service_refused(self):
        c, line = self.login("dave", "davepw")
        self.assertEqual(line, WRONG)

    def test_root_password_is_not_confirmed(self):
        # PAM would accept root's, daemon's (uid 1) and, as root, the
        # login user's password; the answer must be a wrong password's,
        # with its delay (issue 5, finding 2).
        wrong, dt_wrong = self.timed_login("carol", "nope")
        self.assertEqual(wrong, WRONG)
        refused = [("root", "rootpw"), ("daemon", "daemonpw")]
        if IS_ROOT:
            refused.append(("nobody", "nobodypw"))
        for user, password in refused:
            line, dt = self.timed_login(user, password)
            self.assertEqual(line, wrong, "%s with its right password"
                             % user)
            self.assertGreaterEqual(dt, DELAY - 0.01, "%s: %.3f s" %
                                    (user, dt))
            self.assertLess(abs(dt - dt_wrong), 0.15, "%s: %.3f s, a "
                            "wrong password %.3f s" % (user, dt, dt_wrong))
        self.assertEqual(self.srv.pids_named("imap"), [])


class PamHang(PamBase):
    """A PAM module that hangs for one user (pam_exec running sleep):
    the worker is killed after auth_worker_timeout and replaced, the
    client gets a temporary failure, other logins go on (finding 9)."""

    extra_conf = "auth_worker_timeout = 1s\n"
    SLEEP = "30.25"     # unique, to find leftover helpers

    def auth_stack(self, passdb):
        hang = self.write_script(
            "hang.sh", '[ "$PAM_USER" = hang ] && exec sleep %s\nexit 0\n'
            % self.SLEEP)
        return ("auth requisite %s quiet %s\n" % (PAM_EXEC, hang) +
                PamBase.auth_stack(self, passdb))

    def sleepers(self):
        out = []
        for pid in os.listdir("/proc"):
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    if f.read().split(b"\0")[:2] == [b"sleep",
                                                     self.SLEEP.encode()]:
                        out.append(int(pid))
            except OSError:
                pass
        return out

    def hang_round(self):
        # Both workers (moatenv: auth_workers = 2) hang; carol's login
        # waits behind them and is served by a replacement.
        answers = {}

        def run(name, user, password):
            try:
                t0 = time.monotonic()
                c, line = self.login(user, password, timeout=8)
                answers[name] = (line, time.monotonic() - t0)
                c.close()
            except Exception as e:      # reported by the asserts
                answers[name] = (repr(e), None)

        threads = [threading.Thread(target=run, args=("h%d" % i, "hang",
                                                      "hangpw"))
                   for i in range(2)]
        for t in threads:
            t.start()
        time.sleep(0.3)
        threads.append(threading.Thread(target=run, args=("carol", "carol",
                                                          "carolpw")))
        threads[-1].start()
        for t in threads:
            t.join(15)
        for i in range(2):
            line, dt = answers["h%d" % i]
            self.assertEqual(line, TEMPFAIL, self.srv.read_log()[-3000:])
            self.assertGreaterEqual(dt, 0.95)
            self.assertLess(dt, 5)
        line, dt = answers["carol"]
        self.assertTrue(line.startswith("a OK"), line)
        self.assertLess(dt, 5)

    def test_hung_workers_are_killed_and_replaced(self):
        self.hang_round()
        self.assertTrue(self.srv.wait_log("no answer within "
                                          "auth_worker_timeout"))
        # The helper the module started died with the worker.
        deadline = time.time() + 3
        while self.sleepers() and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.sleepers(), [])
        # Every worker hung once and was replaced without a back-off:
        # again, and then a login is as quick as ever.
        self.hang_round()
        line, dt = self.timed_login("carol", "carolpw")
        self.assertTrue(line.startswith("a OK"), line)
        self.assertLess(dt, 1.0)


class PamSession(PamBase):
    """auth_pam_session = yes: the credential and session stacks run
    after the account was accepted, before the answer; an account that
    may not log in never reaches PAM at all (findings 10 and 2)."""

    extra_conf = "auth_pam_session = yes\n"

    def auth_stack(self, passdb):
        self.record = os.path.join(self.wrap, "record.log")
        rec = self.write_script(
            "record.sh", 'echo "$PAM_TYPE $PAM_USER" >>%s\n' % self.record)
        return ("auth optional %s %s\n" % (PAM_EXEC, rec) +
                PamBase.auth_stack(self, passdb) +
                "session required %s %s\n" % (PAM_EXEC, rec))

    def records(self):
        try:
            with open(self.record) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def test_session_runs_for_an_accepted_login(self):
        c, line = self.login("carol", "carolpw")
        self.assertTrue(line.startswith("a OK"), line)
        # Run before the answer, opened and closed at once.
        self.assertEqual(self.records(), ["auth carol",
                                          "open_session carol",
                                          "close_session carol"])
        c.cmd("z", "LOGOUT")
        c.close()

    def test_no_session_for_a_wrong_password(self):
        c, line = self.login("carol", "nope")
        c.close()
        self.assertEqual(line, WRONG)
        self.assertEqual(self.records(), ["auth carol"])

    def test_refused_account_never_reaches_pam(self):
        c, line = self.login("root", "rootpw")
        c.close()
        self.assertEqual(line, WRONG)
        self.assertEqual(self.records(), [], "PAM ran for root")


if __name__ == "__main__":
    unittest.main()
