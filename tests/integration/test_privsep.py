"""Privilege separation as it really runs, read from /proc (root only):
who runs as root, the login processes' chroot and open files, the
session's credentials, supervision (kill and respawn), SIGHUP and
SIGTERM."""

import os
import signal
import time
import unittest

from moatenv import MoatServer, IS_ROOT, USERS


def status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


def login_ok(srv, user="alice", mode="starttls"):
    c = srv.connect(mode)
    c.readline()
    password = USERS[user][0]
    line = c.cmd("a", "LOGIN %s %s" % (user, password))[-1]
    return c, line.startswith("a OK")


def wait_for(pred, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return pred()


@unittest.skipUnless(IS_ROOT, "privilege separation needs root")
class PrivSep(unittest.TestCase):
    def setUp(self):
        self.srv = MoatServer().start()

    def tearDown(self):
        self.srv.stop()

    def test_who_runs_as_what(self):
        c, ok = login_ok(self.srv)
        self.assertTrue(ok)
        c2, ok = login_ok(self.srv, "bob", "tls")
        self.assertTrue(ok)
        procs = wait_for(lambda: len(self.srv.pids_named("imap")) == 2
                         and self.srv.descendants())
        self.assertTrue(procs)
        names = {}
        for pid, name in procs + [(self.srv.proc.pid, "moatd")]:
            names.setdefault(name, []).append(pid)
        self.assertEqual(len(names.get("imap-login", [])), 2, names)
        # Only moatd and auth (with its workers) run as root.
        for pid, name in procs + [(self.srv.proc.pid, "moatd")]:
            st = status(pid)
            if "0" in st["Uid"]:
                self.assertIn(name, ("moatd", "auth"), (pid, name))
        chroot = os.path.join(self.srv.dir, "empty")
        for pid in names["imap-login"]:
            st = status(pid)
            self.assertEqual(st["Uid"], ["65534"] * 4)
            self.assertEqual(st["Gid"], ["65534"] * 4)
            self.assertEqual(st["CapEff"], ["0000000000000000"])
            self.assertEqual(os.readlink("/proc/%d/root" % pid), chroot)
            self.assertEqual(os.readlink("/proc/%d/cwd" % pid), chroot)
            for fd in os.listdir("/proc/%d/fd" % pid):
                target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                self.assertTrue(
                    target.startswith(("socket:", "pipe:", "anon_inode:"))
                    or target.startswith(chroot), (pid, fd, target))
        uids = {}
        for pid in names["imap"]:
            st = status(pid)
            uid = st["Uid"][0]
            self.assertEqual(st["Uid"], [uid] * 4)
            self.assertEqual(st["Gid"], [uid] * 4)
            self.assertEqual(st["CapEff"], ["0000000000000000"])
            self.assertEqual(st["CapPrm"], ["0000000000000000"])
            uids[int(uid)] = pid
            # Its cwd is the user's home.
            user = [u for u, (p, i) in USERS.items() if i == int(uid)][0]
            self.assertEqual(os.readlink("/proc/%d/cwd" % pid),
                             self.srv.homes[user])
        self.assertEqual(sorted(uids), [5001, 5002])

    def test_killed_login_and_auth_are_replaced(self):
        logins = self.srv.pids_named("imap-login")
        self.assertEqual(len(logins), 2)
        os.kill(logins[0], signal.SIGKILL)
        self.assertTrue(wait_for(
            lambda: len(self.srv.pids_named("imap-login")) == 2 and
            logins[0] not in self.srv.pids_named("imap-login")))
        c, ok = login_ok(self.srv)
        self.assertTrue(ok)
        auth = [p for p, n in self.srv.descendants() if n == "auth"]
        top = [p for p in auth
               if int(open("/proc/%d/stat" % p).read().rsplit(")", 1)[1]
                      .split()[1]) == self.srv.proc.pid]
        self.assertEqual(len(top), 1)
        os.kill(top[0], signal.SIGKILL)
        self.assertTrue(self.srv.wait_log("auth[%d]" % top[0]))
        # A fresh auth comes up; logins work again.
        self.assertTrue(wait_for(lambda: login_ok(self.srv)[1], 15))
        log = self.srv.read_log()
        self.assertIn("killed by signal 9", log)

    def test_sighup_keeps_sessions(self):
        plain, ok = login_ok(self.srv)
        self.assertTrue(ok)
        tls, ok = login_ok(self.srv, "bob", "tls")
        self.assertTrue(ok)
        old = set(self.srv.pids_named("imap-login"))
        os.kill(self.srv.proc.pid, signal.SIGHUP)
        self.assertTrue(wait_for(
            lambda: len(set(self.srv.pids_named("imap-login")) - old) == 2))
        # Both established sessions still answer.
        self.assertTrue(plain.cmd("n", "NOOP")[-1].startswith("n OK"))
        self.assertTrue(tls.cmd("n", "NOOP")[-1].startswith("n OK"))
        c, ok = login_ok(self.srv)
        self.assertTrue(ok)
        # The old login process serving the TLS proxy lives until that
        # session ends, then exits.
        tls.cmd("z", "LOGOUT")
        self.assertTrue(wait_for(
            lambda: not (old & set(self.srv.pids_named("imap-login")))))

    def test_sigterm_leaves_nothing(self):
        c, ok = login_ok(self.srv)
        self.assertTrue(ok)
        c2, ok = login_ok(self.srv, "bob", "tls")
        self.assertTrue(ok)
        pids = [p for p, n in self.srv.descendants()]
        self.assertGreaterEqual(len(pids), 6)
        self.srv.proc.send_signal(signal.SIGTERM)
        self.srv.proc.wait(timeout=10)
        for p in pids:
            alive = os.path.exists("/proc/%d" % p)
            if alive:
                with open("/proc/%d/stat" % p) as f:
                    alive = f.read().rsplit(")", 1)[1].split()[0] != "Z"
            self.assertFalse(alive, "pid %d survived" % p)


if __name__ == "__main__":
    unittest.main()
