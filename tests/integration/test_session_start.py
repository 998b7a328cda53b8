"""How an imap session starts (doc/design.md, "Who waits for whom" and
"imap's own hardening"): moatd execs it as root with the user's ids in
its argv, and it drops to them itself; the running session has
NO_NEW_PRIVS, is not dumpable and has its own resource limits; and a
session whose home cannot be entered is refused instead of running in
"/" (issue 5, findings 1, 8 and 10)."""

import os
import shutil
import time
import unittest

from moatenv import MoatServer, IS_ROOT, USERS


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


def proc_limits(pid):
    """{"Max open files": ("1024", "1024"), ...} (soft, hard)."""
    out = {}
    with open("/proc/%d/limits" % pid) as f:
        next(f)
        for line in f:
            name = line[:26].strip()
            fields = line[26:].split()
            out[name] = (fields[0], fields[1])
    return out


def wait_for(pred, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return pred()


class SessionStart(unittest.TestCase):
    def setUp(self):
        self.srv = MoatServer().start()

    def tearDown(self):
        self.srv.stop()

    def login(self, user="alice", mode="starttls"):
        c = self.srv.connect(mode)
        c.readline()
        return c, c.cmd("a", "LOGIN %s %s" % (user, USERS[user][0]))

    def test_session_restrictions(self):
        c, lines = self.login()
        self.assertTrue(lines[-1].startswith("a OK"), lines)
        pids = wait_for(lambda: self.srv.pids_named("imap"))
        self.assertEqual(len(pids), 1, pids)
        pid = pids[0]
        st = proc_status(pid)
        self.assertEqual(st["NoNewPrivs"], ["1"])
        lim = proc_limits(pid)
        self.assertEqual(lim["Max core file size"], ("0", "0"))
        # 1024 each, or moatd's hard limit if that is lower (never more).
        moatd = proc_limits(self.srv.proc.pid)
        for name in ("Max open files", "Max processes"):
            hard = moatd[name][1]
            want = "1024" if hard == "unlimited" or int(hard) > 1024 \
                else hard
            self.assertEqual(lim[name], (want, want), name)
        if IS_ROOT:
            # Not dumpable: the files under its /proc entry belong to
            # root, not to the user it runs as (who cannot ptrace it or
            # read its memory).
            for name in ("fd", "environ", "mem"):
                self.assertEqual(os.stat("/proc/%d/%s" % (pid, name)).st_uid,
                                 0, name)
            uid = str(USERS["alice"][1])
            self.assertEqual(st["Uid"], [uid] * 4)
            self.assertEqual(st["Gid"], [uid] * 4)
            self.assertEqual(st["Groups"], [uid])
            self.assertEqual(st["CapEff"], ["0000000000000000"])
            # moatd told it whom to become, and who its parent is.
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")[:-1]
            self.assertEqual(argv[1:], [
                b"-u", uid.encode(), b"-g", uid.encode(), b"-G",
                uid.encode(), b"-p", str(self.srv.proc.pid).encode()])
        # It still serves the client.
        self.assertTrue(c.cmd("n", "NOOP")[-1].startswith("n OK"))
        c.cmd("z", "LOGOUT")
        c.close()

    def check_refused(self, mode):
        c, lines = self.login(mode=mode)
        self.assertEqual(lines, ["a NO [UNAVAILABLE] Your mail is not "
                                 "available right now."])
        self.assertEqual(c.readline(), "* BYE [UNAVAILABLE] Your mail is "
                         "not available right now.")
        self.assertTrue(c.read_eof())
        c.close()

    def test_missing_home_refuses_the_session(self):
        home = self.srv.homes["alice"]
        shutil.rmtree(home)
        self.check_refused("starttls")
        self.check_refused("tls")
        self.assertTrue(self.srv.wait_log(
            "Cannot enter home directory %s: No such file or directory; "
            "refusing the session" % home), self.srv.read_log()[-3000:])
        # Nothing is left running for it, and another user is served.
        self.assertTrue(wait_for(lambda: not self.srv.pids_named("imap")))
        c, lines = self.login("bob")
        self.assertTrue(lines[-1].startswith("a OK"), lines)
        c.close()

    @unittest.skipUnless(IS_ROOT, "needs a session running as the user")
    def test_unreadable_home_refuses_the_session(self):
        os.chmod(self.srv.homes["alice"], 0)
        self.check_refused("starttls")
        self.assertTrue(self.srv.wait_log("Permission denied; refusing the "
                                          "session"))


if __name__ == "__main__":
    unittest.main()
