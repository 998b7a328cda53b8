"""imap-login's sandbox (design: "What each process may do"): rlimits,
NO_NEW_PRIVS and a seccomp filter that kills a login process making a
system call outside its allow-list; moatd starts another and logins go
on. tests/integration/imap-login-hook is imap-login built from the same
sources with the XTESTHOOK command (tests/integration/login-hook.c),
which plays an attacker who took the process over; the normal imap-login
has no such command (checked below). The rest of the integration suite
runs with the filter on, which is what shows the allow-list is complete.
"""

import os
import signal
import time
import unittest

from moatenv import MoatServer, BUILDDIR, USERS

HOOK = os.path.join(BUILDDIR, "tests", "integration", "imap-login-hook")
MAX_CONNECTIONS = 100


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def proc_limits(pid):
    """{"Max open files": ("soft", "hard"), ...}"""
    out = {}
    with open("/proc/%d/limits" % pid) as f:
        for line in f.readlines()[1:]:
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


def confined(pid):
    """Waits for pid to finish its start-up: the filter comes last."""
    return wait_for(lambda: proc_status(pid)["Seccomp"] == "2")


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")


class HookServer(unittest.TestCase):
    conf = "login_max_connections = %d\n" % MAX_CONNECTIONS

    def setUp(self):
        self.srv = MoatServer(programs={"imap-login": HOOK},
                              extra_conf=self.conf).start()
        self.clients = []
        self.assertTrue(wait_for(lambda: len(self.logins()) == 2),
                        self.srv.read_log())

    def tearDown(self):
        for c in self.clients:
            c.close()
        self.srv.stop()

    def logins(self):
        return self.srv.pids_named("imap-login")

    def connect(self, mode="starttls"):
        c = self.srv.connect(mode)
        self.clients.append(c)
        greeting = c.readline()
        self.assertTrue(greeting.startswith("* OK"), greeting)
        return c

    def hook_client(self, mode="starttls"):
        """A connection and the pid of the login process serving it."""
        c = self.connect(mode)
        lines = c.cmd("p", "XTESTHOOK PID")
        self.assertEqual(lines[-1], "p OK", lines)
        return c, int(lines[0].split("pid=")[1])

    def assert_login_works(self, mode):
        c = self.connect(mode)
        if mode == "starttls":
            self.assertEqual(c.cmd("s", "STARTTLS")[-1],
                             "s OK Begin TLS negotiation now.")
            c.starttls()
        line = c.cmd("a", "LOGIN alice %s" % USERS["alice"][0])[-1]
        self.assertTrue(line.startswith("a OK"), line)
        self.assertTrue(c.cmd("b", "LOGOUT")[-1].startswith("b OK"))


class Sandbox(HookServer):
    def test_on_by_default_with_limits(self):
        c, pid = self.hook_client()
        for p in self.logins():
            self.assertTrue(confined(p), proc_status(p))
            self.assertEqual(proc_status(p)["NoNewPrivs"], "1")
        lim = proc_limits(pid)
        self.assertEqual(lim["Max processes"], ("0", "0"), lim)
        self.assertEqual(lim["Max file size"], ("0", "0"), lim)
        soft, hard = lim["Max open files"]
        self.assertEqual(soft, hard, lim)
        # Bounded by the connection capacity: a few per connection.
        self.assertGreaterEqual(int(soft), 2 * MAX_CONNECTIONS, lim)
        self.assertLessEqual(int(soft), 4 * MAX_CONNECTIONS, lim)

    def attack(self, action, mode="starttls", client=None):
        """Makes the serving login process run action; it must die of
        SIGSYS without answering, be replaced, and logins go on."""
        c, pid = client or self.hook_client(mode)
        before = set(self.logins())
        c.send("x XTESTHOOK %s\r\n" % action)
        self.assertTrue(c.read_eof(), "connection still open")
        self.assertNotIn(b"x ", c.buf, "the forbidden call returned")
        self.assertTrue(self.srv.wait_log(
            "imap-login[%d] killed by signal %d" % (pid, signal.SIGSYS)),
            self.srv.read_log()[-3000:])
        self.assertTrue(wait_for(lambda: not alive(pid)))
        # The pool is refilled with a fresh, equally confined process.
        self.assertTrue(wait_for(lambda: len(self.logins()) == 2 and
                                 set(self.logins()) != before),
                        self.srv.read_log()[-3000:])
        for p in set(self.logins()) - before:
            self.assertTrue(confined(p), proc_status(p))
        self.assert_login_works("starttls")
        self.assert_login_works("tls")
        return pid

    def test_socket_kills(self):
        self.attack("SOCKET")

    def test_open_kills(self):
        self.attack("OPEN", mode="tls")

    def test_fork_kills(self):
        self.attack("FORK")

    def test_sibling_cannot_be_signalled(self):
        c, pid = self.hook_client()
        siblings = [p for p in self.logins() if p != pid]
        self.assertEqual(len(siblings), 1, self.logins())
        sibling = siblings[0]
        self.attack("KILL %d" % sibling, client=(c, pid))
        self.assertTrue(alive(sibling), "sibling login process died")
        self.assertIn(sibling, self.logins())
        self.assertNotIn("imap-login[%d] killed" % sibling,
                         self.srv.read_log())

    def test_other_connections_of_a_killed_process(self):
        """Connections of another login process are not touched."""
        victims = []
        while len(victims) < 6:
            victims.append(self.hook_client())
        by_pid = {}
        for c, p in victims:
            by_pid.setdefault(p, []).append(c)
        self.assertEqual(len(by_pid), 2, by_pid)
        attacker, survivor = sorted(by_pid)
        by_pid[attacker][0].send("x XTESTHOOK SOCKET\r\n")
        self.assertTrue(self.srv.wait_log(
            "imap-login[%d] killed by signal %d" % (attacker,
                                                    signal.SIGSYS)))
        for c in by_pid[survivor]:
            self.assertEqual(c.cmd("n", "NOOP")[-1], "n OK NOOP completed.")


    def test_stop_and_continue(self):
        """SIGSTOP/SIGCONT interrupt epoll_wait (restart_syscall)."""
        c, pid = self.hook_client()
        os.kill(pid, signal.SIGSTOP)
        time.sleep(0.2)
        os.kill(pid, signal.SIGCONT)
        self.assertEqual(c.cmd("n", "NOOP")[-1], "n OK NOOP completed.")
        self.assertTrue(alive(pid))


class PerConnection(HookServer):
    """login_per_connection = yes: one connection's worth of
    descriptors, and a killed process takes only its own client."""
    conf = "login_per_connection = yes\n"

    def setUp(self):
        self.srv = MoatServer(programs={"imap-login": HOOK},
                              extra_conf=self.conf).start()
        self.clients = []

    def test_confined_per_connection(self):
        c, pid = self.hook_client()
        self.assertTrue(confined(pid), proc_status(pid))
        soft, hard = proc_limits(pid)["Max open files"]
        self.assertEqual(soft, hard)
        self.assertLessEqual(int(soft), 32)
        other, other_pid = self.hook_client("tls")
        self.assertNotEqual(pid, other_pid)
        c.send("x XTESTHOOK SOCKET\r\n")
        self.assertTrue(c.read_eof())
        self.assertTrue(self.srv.wait_log(
            "imap-login[%d] killed by signal %d" % (pid, signal.SIGSYS)))
        self.assertEqual(other.cmd("n", "NOOP")[-1], "n OK NOOP completed.")
        self.assert_login_works("starttls")
        self.assert_login_works("tls")


class WithoutSeccomp(HookServer):
    """login_sandbox = no: no filter, but the rlimits and NO_NEW_PRIVS
    still hold -- and nothing else stops a sibling from being signalled,
    which is why the filter is on by default."""
    conf = HookServer.conf + "login_sandbox = no\n"

    def test_limits_without_filter(self):
        c, pid = self.hook_client()
        st = proc_status(pid)
        self.assertEqual(st["Seccomp"], "0", st)
        self.assertEqual(st["NoNewPrivs"], "1", st)
        # RLIMIT_NPROC 0: the fork fails instead of killing the process.
        line = c.cmd("f", "XTESTHOOK FORK")[-1]
        self.assertEqual(line, "f NO fork: Resource temporarily unavailable")
        self.assertTrue(alive(pid))
        self.assertTrue(self.srv.wait_log("login_sandbox = no"))


class Production(unittest.TestCase):
    """The installed imap-login: filter on, no test hook."""

    def test_no_hook_and_confined(self):
        with MoatServer() as srv:
            self.assertTrue(wait_for(
                lambda: len(srv.pids_named("imap-login")) == 2))
            c = srv.connect()
            try:
                c.readline()
                self.assertEqual(c.cmd("x", "XTESTHOOK PID")[-1],
                                 "x BAD Unknown command.")
            finally:
                c.close()
            for p in srv.pids_named("imap-login"):
                self.assertTrue(confined(p), proc_status(p))
                self.assertEqual(proc_status(p)["NoNewPrivs"], "1")
                self.assertEqual(proc_limits(p)["Max processes"],
                                 ("0", "0"))


    def test_clean_exit_after_sighup(self):
        """Retiring after SIGHUP, with a TLS proxy to finish first, runs
        the exit path (atexit, OpenSSL and sanitizer clean-up) under the
        filter: the old processes must exit 0, not die of SIGSYS."""
        with MoatServer() as srv:
            self.assertTrue(wait_for(
                lambda: len(srv.pids_named("imap-login")) == 2))
            old = srv.pids_named("imap-login")
            c = srv.connect("tls")
            try:
                c.readline()
                line = c.cmd("a", "LOGIN alice %s" % USERS["alice"][0])[-1]
                self.assertTrue(line.startswith("a OK"), line)
                srv.proc.send_signal(signal.SIGHUP)
                self.assertTrue(srv.wait_log("configuration reloaded"))
                self.assertEqual(c.cmd("n", "NOOP")[-1],
                                 "n OK NOOP completed.")
                c.cmd("b", "LOGOUT")
            finally:
                c.close()
            for p in old:
                self.assertTrue(srv.wait_log(
                    "imap-login[%d] exited with status 0" % p),
                    srv.read_log()[-3000:])
            self.assertNotIn("killed by signal %d" % signal.SIGSYS,
                             srv.read_log())


if __name__ == "__main__":
    unittest.main()
