"""A local user who SIGSTOPs every process of its uid must not freeze
moatd (issue 5, finding 1; doc/design.md, "Who waits for whom").

A process running as the victim's uid (stopper.c) stops every process it
may signal, guessing the next pids and scanning /proc in a tight loop,
while parallel clients log in as that user over and over and another
user logs in beside them. moatd must keep accepting and logging in both
users throughout, and answer SIGTERM at the end. Before the fix, moatd
waited for its vfork-style child while that child already ran as the
user, so one lucky SIGSTOP froze moatd in clone().

The test's users get uids of their own, unused on the machine, so the
stopper cannot touch anybody else's processes; whatever it stopped is
killed by the test (as it goes, once the process is an imap session, and
everything of those uids at the end)."""

import os
import pwd
import re
import signal
import socket
import subprocess
import threading
import time
import unittest
from unittest import mock

import moatenv
from moatenv import MoatServer, BUILDDIR, IS_ROOT

VICTIM_LOGINS = 1000
VICTIM_CLIENTS = 6
OP_TIMEOUT = 10        # a login that takes longer means moatd is stuck
ATTACK_DEADLINE = 45   # the whole attack phase, whatever happens


def pick_uids():
    """Two adjacent uids no user and no process has."""
    used = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/status" % pid) as f:
                for line in f:
                    if line.startswith("Uid:"):
                        used.update(int(u) for u in line.split()[1:])
                        break
        except OSError:
            pass
    base = 40000 + (os.getpid() % 9000) * 2
    for _ in range(100):
        free = True
        for uid in (base, base + 1):
            if uid in used:
                free = False
            try:
                pwd.getpwuid(uid)
                free = False
            except KeyError:
                pass
        if free:
            return base, base + 1
        base += 2
    raise RuntimeError("no free uids")


def proc_uid_comm_state(pid):
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    rp = stat.rfind(")")
    comm, state = stat[stat.find("(") + 1:rp], stat[rp + 2]
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1]), comm, state
    return None, comm, state


def signal_if(pid, uids, sigs, comm=None):
    """Sends sigs to pid if it is (still) a process of one of uids; the
    pidfd makes sure a pid reused meanwhile is not hit."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return False
    try:
        uid, c, _ = proc_uid_comm_state(pid)
        if uid not in uids or (comm and c != comm):
            return False
        for sig in sigs:
            signal.pidfd_send_signal(fd, sig)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def processes_of(uids):
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if proc_uid_comm_state(int(pid))[0] in uids:
                    out.append(int(pid))
            except OSError:
                pass
    return out


def login(port, user, password, logout):
    """One plaintext login. Returns "ok"; "eof" (the connection closed
    after LOGIN was sent: the session existed and was killed); or
    "unavailable" (moatd refused with a temporary failure because the
    session it started died before it could be handed the connection).
    Raises on a timeout or any other answer."""
    s = socket.create_connection(("127.0.0.1", port), timeout=OP_TIMEOUT)
    try:
        c = moatenv.RawClient(s)
        greeting = c.readline()
        if not greeting.startswith("* OK"):
            raise AssertionError("greeting %r" % greeting)
        c.send("a LOGIN %s %s\r\n" % (user, password))
        try:
            line = c.readline()
        except (EOFError, ConnectionResetError):
            return "eof"
        if line.startswith("a NO [UNAVAILABLE]"):
            return "unavailable"
        if not line.startswith("a OK"):
            raise AssertionError("LOGIN answered %r" % line)
        if logout:
            lines = c.cmd("z", "LOGOUT")
            if not lines[-1].startswith("z OK"):
                raise AssertionError("LOGOUT answered %r" % lines)
        return "ok"
    finally:
        s.close()


@unittest.skipUnless(IS_ROOT, "needs real uids (root)")
class SigstopAttack(unittest.TestCase):
    def setUp(self):
        self.victim_uid, self.other_uid = pick_uids()
        self.uids = (self.victim_uid, self.other_uid)
        self.users = mock.patch.dict(moatenv.USERS, {
            "stopme": ("secret-s", self.victim_uid),
            "other": ("secret-o", self.other_uid)}, clear=True)
        self.users.start()
        self.srv = MoatServer(
            listeners=("starttls",),
            extra_conf="max_sessions_per_user_ip = 1000000\n")
        self.stopper = None
        self.srv.start()

    def tearDown(self):
        if self.stopper is not None and self.stopper.poll() is None:
            self.stopper.kill()
            self.stopper.wait()
        # Everything of the test's uids: the stopper's victims (a stopped
        # process also needs SIGCONT to act on a pending SIGTERM).
        for pid in processes_of(self.uids):
            signal_if(pid, self.uids, (signal.SIGKILL, signal.SIGCONT))
        self.srv.stop()
        self.users.stop()

    @staticmethod
    def describe(pid):
        """"name[pid] state wchan", for the failure message."""
        try:
            uid, comm, state = proc_uid_comm_state(pid)
            with open("/proc/%d/wchan" % pid) as f:
                wchan = f.read()
            return "%s[%d] uid %s %s %s" % (comm, pid, uid, state, wchan)
        except OSError:
            return "%d gone" % pid

    def test_sigstop_everything_of_the_user(self):
        port = self.srv.ports["starttls"]
        stopper = os.path.join(BUILDDIR, "tests", "integration", "stopper")
        self.stopper = subprocess.Popen(
            [stopper, str(ATTACK_DEADLINE + 15)], stdout=subprocess.PIPE,
            user=self.victim_uid, group=self.victim_uid, extra_groups=[])
        stopped = []
        killed = [0]

        def reap():
            # A session the stopper stopped is killed, so its client sees
            # the connection close and the stopped processes do not pile
            # up. Only exec'd imap processes: anything else stopped (the
            # child moatd is spawning, before the fix) stays stopped.
            for line in self.stopper.stdout:
                pid = int(line)
                stopped.append(pid)
                if signal_if(pid, self.uids, (signal.SIGKILL,),
                             comm="imap"):
                    killed[0] += 1
        reaper = threading.Thread(target=reap, daemon=True)
        reaper.start()

        lock = threading.Lock()
        done = threading.Event()
        counts = {"ok": 0, "eof": 0, "unavailable": 0}
        other_ok = []
        errors = []

        def victim():
            while not done.is_set():
                try:
                    r = login(port, "stopme", "secret-s", logout=False)
                except Exception as e:   # noqa: BLE001 - reported below
                    errors.append("stopme: %r" % (e,))
                    done.set()
                    return
                with lock:
                    counts[r] += 1
                    if counts["ok"] + counts["eof"] >= VICTIM_LOGINS:
                        done.set()

        def other():
            while not done.is_set():
                try:
                    r = login(port, "other", "secret-o", logout=True)
                    if r != "ok":
                        raise AssertionError("other: %s" % r)
                    other_ok.append(time.time())
                except Exception as e:   # noqa: BLE001 - reported below
                    errors.append("other: %r" % (e,))
                    done.set()
                    return

        start = time.time()
        threads = [threading.Thread(target=victim, daemon=True)
                   for _ in range(VICTIM_CLIENTS)]
        threads.append(threading.Thread(target=other, daemon=True))
        for t in threads:
            t.start()
        done.wait(ATTACK_DEADLINE)
        done.set()
        for t in threads:
            t.join(OP_TIMEOUT + 5)
        took = time.time() - start
        stuck = [t for t in threads if t.is_alive()]
        moatd_state = self.describe(self.srv.proc.pid)
        left = [self.describe(p) for p in stopped
                if os.path.exists("/proc/%d" % p)]
        stopper_alive = self.stopper.poll() is None
        self.stopper.kill()
        self.stopper.wait()
        reaper.join(5)
        summary = ("%.1f s: stopme ok=%d eof=%d unavailable=%d, other "
                   "ok=%d, stopped %d "
                   "processes (%d sessions killed; still there: %s), "
                   "moatd %s, errors %s" % (
                       took, counts["ok"], counts["eof"],
                       counts["unavailable"], len(other_ok),
                       len(stopped), killed[0], left[:5], moatd_state,
                       errors[:3]))
        print(summary)
        self.assertTrue(stopper_alive, "the stopper died early")
        self.assertEqual(errors, [], summary)
        self.assertEqual(stuck, [], summary)
        self.assertGreaterEqual(counts["ok"] + counts["eof"], VICTIM_LOGINS,
                                summary)
        # The attack was real: it stopped sessions of the user.
        self.assertGreater(killed[0], 0, summary)
        # The other user was served throughout, not just at the start.
        self.assertGreaterEqual(len(other_ok), 5, summary)
        self.assertLess(took - (other_ok[-1] - start), OP_TIMEOUT, summary)
        # moatd logged every one of them in.
        log = self.srv.read_log()
        moatd_logins = len(re.findall(r"Login: .*\bstopme\b", log))
        self.assertGreaterEqual(moatd_logins, VICTIM_LOGINS, summary)

        # With the stopper gone, both users log in normally.
        self.assertEqual(login(port, "stopme", "secret-s", logout=True),
                         "ok")
        self.assertEqual(login(port, "other", "secret-o", logout=True),
                         "ok")
        # And moatd answers SIGTERM, whatever its children's state.
        self.srv.proc.send_signal(signal.SIGTERM)
        try:
            self.srv.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.fail("moatd ignored SIGTERM")
        self.assertEqual(self.srv.proc.returncode, 0)


if __name__ == "__main__":
    unittest.main()
