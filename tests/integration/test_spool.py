"""A system user's spool INBOX under real privilege separation (issue 6,
"Done means" 4; doc/design.md "mbox", "The dotlock helper"): the
location PAM users get from mail_location, mbox:~/mail:INBOX=SPOOL/%u,
with SPOOL a /var/mail-like directory root:mail 2775 that the session
(the user's uid, NO_NEW_PRIVS) cannot write. Its dotlocks come from
liblockfile's setgid dotlockfile(1) through the helper the session
starts before NO_NEW_PRIVS.

What dotlockfile checks (liblockfile 1.17, is_maillock in lockfile.c,
verified on this system): the lock is "<mbox>.lock", the mbox exists, is
a regular file owned by the caller's real uid, and its directory belongs
to the group dotlockfile is setgid to and is group-writable. It does not
look at /etc/passwd or at its compiled-in /var/mail (only -m does), so a
passwd-file user and a spool directory of the test's are the real thing,
and the machine's /etc and /var/mail stay untouched.

Root only: as another user there is no privilege separation and no
setgid step to test (MOAT_REQUIRE_ROOT_TESTS=1 turns the skip into a
failure).
"""

import ctypes
import fcntl
import grp
import imaplib
import os
import re
import signal
import stat
import struct
import subprocess
import threading
import time
import unittest

from moatenv import IS_ROOT, USERS, MoatServer, imap_connect, store_built

USER = "alice"
UID = USERS[USER][1]
DOTLOCKFILE = "/usr/bin/dotlockfile"

MSG = (b"From: a@example.org\r\nTo: alice@example.org\r\n"
       b"Subject: spool %d\r\nMessage-ID: <spool-%d@example.org>\r\n\r\n"
       b"Body %d.\r\n")


def msg(i):
    return MSG % (i, i, i)


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(p) for p in f.read().split()]


def comm(pid):
    with open("/proc/%d/comm" % pid) as f:
        return f.read().strip()


def gone(pid):
    """True once pid has exited (reaped, or a zombie whose new parent
    has not reaped it yet)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def wait_for(pred, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return pred()


class Inotify:
    """The names created and deleted in a directory (inotify through
    ctypes: the test sees the session's dotlock come and go without
    tracing it)."""
    IN_CREATE = 0x100
    IN_DELETE = 0x200

    def __init__(self, path):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if self.libc.inotify_add_watch(
                self.fd, path.encode(),
                self.IN_CREATE | self.IN_DELETE) < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch")

    def events(self):
        """[("create"|"delete", name)] since the last call."""
        out = []
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return out
            off = 0
            while off + 16 <= len(data):
                _, mask, _, n = struct.unpack_from("iIII", data, off)
                name = data[off + 16:off + 16 + n].rstrip(b"\0").decode()
                off += 16 + n
                out.append(("create" if mask & self.IN_CREATE else
                            "delete", name))

    def close(self):
        os.close(self.fd)


class SpoolBase:
    """A moatd whose users have their INBOX in SPOOL (root:mail 2775)."""
    # The index: in the home by default; "root": in a directory moatd
    # makes, as for spool users whose home is not writable.
    INDEX = None

    def setUp(self):
        self.mail_gid = grp.getgrnam("mail").gr_gid
        st = os.stat(DOTLOCKFILE)
        self.assertTrue(st.st_mode & stat.S_ISGID and
                        st.st_gid == self.mail_gid,
                        "dotlockfile(1) must be setgid mail (liblockfile-bin)")
        self.srv = MoatServer(listeners=("starttls",))
        self.spool = os.path.join(self.srv.dir, "spool")
        os.mkdir(self.spool)
        os.chown(self.spool, 0, self.mail_gid)
        os.chmod(self.spool, 0o2775)
        self.inbox = os.path.join(self.spool, USER)
        # The spool file as adduser or the first delivery leave it.
        fd = os.open(self.inbox, os.O_CREAT | os.O_WRONLY, 0o660)
        os.fchown(fd, UID, self.mail_gid)
        os.fchmod(fd, 0o660)
        os.close(fd)
        conf = "mail_location = mbox:~/mail:INBOX=%s/%%u\n" % self.spool
        if self.INDEX:
            index_root = os.path.join(self.srv.dir, "index")
            os.mkdir(index_root, 0o755)
            conf += "mail_index = %s/%%u\n" % index_root
            self.index_dir = os.path.join(index_root, USER)
        self.srv.extra_conf = conf
        self.srv.start()
        self.addCleanup(self.srv.stop)
        self.home = self.srv.homes[USER]
        if not self.INDEX:
            self.index_dir = os.path.join(self.home, ".moat", "index")

    def login(self):
        m = imap_connect(self.srv, USER)
        self.addCleanup(self._logout, m)
        return m

    @staticmethod
    def _logout(m):
        try:
            m.logout()
        except Exception:
            pass

    def ok(self, result):
        typ, data = result
        self.assertEqual(typ, "OK", data)
        return data

    def uids(self, m):
        data = self.ok(m.uid("FETCH", "1:*", "(UID)"))
        return [int(re.search(rb"UID (\d+)", d).group(1))
                for d in data if d]

    def message_ids(self, m):
        """[(uid, Message-ID)] of the selected mailbox."""
        out = []
        for d in self.ok(m.uid("FETCH", "1:*", "(UID BODY.PEEK[])")):
            if isinstance(d, tuple):
                out.append((int(re.search(rb"UID (\d+)", d[0]).group(1)),
                            re.search(rb"Message-ID: (\S+)",
                                      d[1]).group(1)))
        return out

    def spool_read(self):
        with open(self.inbox, "rb") as f:
            return f.read()

    def spool_listing(self):
        return sorted(os.listdir(self.spool))

    def session_and_helper(self, exclude=()):
        """(session pid, helper pid) of a session not in exclude."""
        def find():
            for pid in self.srv.pids_named("imap"):
                if pid in exclude:
                    continue
                helpers = [c for c in children(pid)
                           if comm(c) == "mbox-dotlock"]
                if helpers:
                    return pid, helpers
            return None
        found = wait_for(find)
        self.assertTrue(found, "a session with its dotlock helper")
        pid, helpers = found
        self.assertEqual(len(helpers), 1, helpers)
        return pid, helpers[0]

    # -- the MDA: fcntl lock, then the dotlock (Debian Policy 11.6) ----
    def dotlock(self):
        """Takes <inbox>.lock as an MDA does, with liblockfile's own
        tool: -p writes our pid, so the lock is valid while we live."""
        subprocess.run([DOTLOCKFILE, "-l", "-r", "0", "-p",
                        self.inbox + ".lock"], check=True)

    def dotunlock(self):
        subprocess.run([DOTLOCKFILE, "-u", self.inbox + ".lock"],
                       check=True)

    def deliver(self, i):
        """An MDA's delivery: fcntl write lock, dotlock, append, unlock."""
        with open(self.inbox, "ab") as f:
            fcntl.lockf(f, fcntl.LOCK_EX)
            self.dotlock()
            try:
                body = msg(i).replace(b"\r\n", b"\n")
                f.write(b"From mda@example.org Wed Dec  2 01:00:00 2026\n" +
                        body + b"\n")
                f.flush()
                os.fsync(f.fileno())
            finally:
                self.dotunlock()
                fcntl.lockf(f, fcntl.LOCK_UN)

    def append_in_thread(self, m, box, i):
        result = {}

        def run():
            try:
                result["r"] = m.append(box, None, None, msg(i))
            except Exception as e:  # reported by the caller
                result["r"] = ("EXC", [repr(e)])
        t = threading.Thread(target=run)
        t.start()
        return t, result

    def two_sessions(self):
        """Both sessions APPEND to the spool and a folder at the same
        time, each through its own helper; afterwards both see every
        message with the same UIDs, and a delivery by an MDA too."""
        m1, m2 = self.login(), self.login()
        s1, h1 = self.session_and_helper()
        s2, h2 = self.session_and_helper(exclude=(s1,))
        self.assertNotEqual(h1, h2)
        self.ok(m1.create("Work"))
        for m in (m1, m2):
            self.ok(m.select("INBOX"))
        n = 5
        errors = []

        def run(m, base):
            try:
                for i in range(n):
                    for box in ("INBOX", "Work"):
                        typ, data = m.append(box, None, None,
                                             msg(base + i))
                        if typ != "OK":
                            errors.append((box, typ, data))
            except Exception as e:
                errors.append(repr(e))
        threads = [threading.Thread(target=run, args=(m1, 100)),
                   threading.Thread(target=run, args=(m2, 200))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertFalse(any(t.is_alive() for t in threads))
        self.assertEqual(errors, [])
        self.deliver(300)
        for m in (m1, m2):
            self.ok(m.noop())
        u1, u2 = self.uids(m1), self.uids(m2)
        self.assertEqual(len(u1), 2 * n + 1)
        self.assertEqual(u1, u2)
        self.assertEqual(u1, sorted(set(u1)))
        # The same messages behind the same UIDs in both.
        self.assertEqual(self.message_ids(m1), self.message_ids(m2))
        self.assertEqual(len(set(self.message_ids(m1))), 2 * n + 1)
        for m in (m1, m2):
            self.ok(m.select("Work"))
        self.assertEqual(self.uids(m1), list(range(1, 2 * n + 1)))
        self.assertEqual(self.message_ids(m1), self.message_ids(m2))
        self.assertEqual(self.spool_listing(), [USER])
        # The index is the user's, and so is everything in it.
        for root, dirs, files in os.walk(self.index_dir):
            for name in [""] + dirs + files:
                path = os.path.join(root, name)
                st = os.lstat(path)
                self.assertEqual(st.st_uid, UID, path)
                self.assertEqual(stat.S_IMODE(st.st_mode) & 0o077, 0, path)


ROOT_ONLY = unittest.skipUnless(
    IS_ROOT, "the spool needs root (real uids, the mail group, a setgid "
    "helper)")
MBOX_BUILT = unittest.skipUnless(store_built("mbox"),
                                 "the mbox store is not built")


@ROOT_ONLY
@MBOX_BUILT
class Spool(SpoolBase, unittest.TestCase):
    def test_session_and_helper_processes(self):
        """The session keeps NO_NEW_PRIVS; its helper, the only process
        that could exec the setgid dotlockfile, is a child of the same
        uid without it, not dumpable, holding nothing of the session."""
        self.login()
        pid, helper = self.session_and_helper()
        st, hst = proc_status(pid), proc_status(helper)
        self.assertEqual(st["NoNewPrivs"], ["1"])
        self.assertEqual(hst["NoNewPrivs"], ["0"])
        for s in (st, hst):
            self.assertEqual(s["Uid"], [str(UID)] * 4)
            self.assertEqual(s["Gid"], [str(UID)] * 4)
            self.assertEqual(s["CapEff"], ["0000000000000000"])
            self.assertNotIn(str(self.mail_gid), s["Groups"])
        # Not dumpable: its /proc files are root's, so the user's other
        # processes cannot ptrace it or read its memory.
        self.assertEqual(os.stat("/proc/%d/mem" % helper).st_uid, 0)
        # Descriptors: /dev/null twice, the log pipe, its socket to the
        # session; not the client, the index or any mail file.
        fds = {int(fd): os.readlink("/proc/%d/fd/%s" % (helper, fd))
               for fd in os.listdir("/proc/%d/fd" % helper)}
        self.assertEqual(sorted(fds), [0, 1, 2, 3], fds)
        self.assertEqual(fds[0], "/dev/null")
        self.assertEqual(fds[1], "/dev/null")
        self.assertTrue(fds[2].startswith("pipe:"), fds)
        self.assertTrue(fds[3].startswith("socket:"), fds)
        # A session killed outright: its helper sees the socket close
        # and exits (after removing any dotlock it held).
        os.kill(pid, signal.SIGKILL)
        self.assertTrue(wait_for(lambda: gone(helper)),
                        "the helper outlived its session")

    def test_maildir_and_home_inbox_get_no_helper(self):
        """Only a spool INBOX costs the extra process."""
        self.srv.stop()
        for loc in ("maildir:~/Maildir", "mbox:~/mail:INBOX=~/inbox"):
            srv = MoatServer(listeners=("starttls",),
                             extra_conf="mail_location = %s\n" % loc)
            srv.start()
            try:
                m = imap_connect(srv, USER)
                self.ok(m.select("INBOX"))
                pids = wait_for(lambda: srv.pids_named("imap"))
                self.assertEqual(len(pids), 1, pids)
                self.assertEqual(children(pids[0]), [], loc)
                self.assertEqual(proc_status(pids[0])["NoNewPrivs"], ["1"])
                m.logout()
            finally:
                srv.stop()

    def test_append_to_spool_and_folder(self):
        """APPEND to the spool INBOX and to a ~/mail folder: the dotlock
        <user>.lock is made (by dotlockfile, in the spool) and removed
        around the spool write; the spool file keeps its owner and mode;
        every file the session creates is the user's, mode 0600."""
        watch = Inotify(self.spool)
        self.addCleanup(watch.close)
        m = self.login()
        data = self.ok(m.append("INBOX", None, None, msg(1)))
        self.assertIn(b"APPENDUID", data[0])
        ev = watch.events()
        self.assertIn(("create", USER + ".lock"), ev)
        self.assertIn(("delete", USER + ".lock"), ev)
        self.assertLess(ev.index(("create", USER + ".lock")),
                        ev.index(("delete", USER + ".lock")))
        self.assertEqual(self.spool_listing(), [USER])
        content = self.spool_read()
        self.assertTrue(content.startswith(b"From "), content[:80])
        self.assertIn(b"Subject: spool 1", content)
        st = os.stat(self.inbox)
        self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)),
                         (UID, self.mail_gid, 0o660))

        self.ok(m.create("Work/Projects"))
        self.ok(m.append("Work/Projects", None, None, msg(2)))
        folder = os.path.join(self.home, "mail", "Work", "Projects")
        with open(folder, "rb") as f:
            self.assertIn(b"Subject: spool 2", f.read())
        self.assertEqual(watch.events(), [], "a folder write takes no "
                         "lock in the spool")
        self.ok(m.select("INBOX"))
        self.assertEqual(self.uids(m), [1])
        self.ok(m.select("Work/Projects"))
        self.assertEqual(self.uids(m), [1])

        # Everything the session made in the home: the user's, 0600
        # files and 0700 directories (mail folders, the subscriptions,
        # the index environment).
        made = 0
        for root, dirs, files in os.walk(self.home):
            for name in dirs + files:
                path = os.path.join(root, name)
                st = os.lstat(path)
                want = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
                self.assertEqual(st.st_uid, UID, path)
                self.assertEqual(st.st_gid, UID, path)
                self.assertEqual(stat.S_IMODE(st.st_mode), want, path)
                made += 1
        self.assertGreater(made, 5)

    def test_append_waits_for_a_held_dotlock(self):
        """An MDA holding the dotlock (postfix takes it first): APPEND
        waits, then succeeds once it is released; the message lands
        after the lock holder's."""
        m = self.login()
        self.ok(m.select("INBOX"))
        self.dotlock()
        try:
            t, result = self.append_in_thread(m, "INBOX", 1)
            time.sleep(1.0)
            self.assertTrue(t.is_alive(), "APPEND must wait: %r" % result)
            self.assertEqual(os.path.getsize(self.inbox), 0)
        finally:
            self.dotunlock()
        t.join(15)
        self.assertFalse(t.is_alive())
        self.assertEqual(result["r"][0], "OK", result)
        self.assertIn(b"Subject: spool 1", self.spool_read())
        self.assertEqual(self.spool_listing(), [USER])

    def test_append_waits_for_a_held_fcntl_lock(self):
        """An MUA or MDA holding the kernel lock: the same."""
        m = self.login()
        with open(self.inbox, "r+b") as f:
            fcntl.lockf(f, fcntl.LOCK_EX)
            try:
                t, result = self.append_in_thread(m, "INBOX", 1)
                time.sleep(1.0)
                self.assertTrue(t.is_alive(), "APPEND must wait: %r" %
                                result)
                self.assertEqual(os.path.getsize(self.inbox), 0)
            finally:
                fcntl.lockf(f, fcntl.LOCK_UN)
        t.join(15)
        self.assertFalse(t.is_alive())
        self.assertEqual(result["r"][0], "OK", result)

    def test_mda_delivery_shows_after_noop(self):
        """Mail delivered to the spool by an MDA while a session has it
        selected shows after NOOP, with new UIDs and the old unchanged."""
        m = self.login()
        for i in (1, 2):
            self.ok(m.append("INBOX", None, None, msg(i)))
        self.ok(m.select("INBOX"))
        before = self.uids(m)
        self.assertEqual(before, [1, 2])
        self.deliver(3)
        self.deliver(4)
        self.ok(m.noop())
        self.assertEqual(self.uids(m), [1, 2, 3, 4])
        data = self.ok(m.fetch("4", "(BODY.PEEK[])"))
        self.assertIn(b"Subject: spool 4", data[0][1])
        self.assertEqual(self.spool_listing(), [USER])

    def test_expunge_rewrites_the_spool_in_place(self):
        """EXPUNGE compacts the spool file in place: same inode, owner,
        group and mode; nothing left beside it in the spool (the side
        copy lives in the index directory)."""
        m = self.login()
        for i in (1, 2, 3):
            self.ok(m.append("INBOX", None, None, msg(i)))
        self.ok(m.select("INBOX"))
        before = os.stat(self.inbox)
        self.ok(m.store("2", "+FLAGS", "(\\Deleted)"))
        data = self.ok(m.expunge())
        self.assertEqual(data, [b"2"])
        after = os.stat(self.inbox)
        self.assertEqual((after.st_ino, after.st_uid, after.st_gid,
                          stat.S_IMODE(after.st_mode)),
                         (before.st_ino, UID, self.mail_gid, 0o660))
        self.assertLess(after.st_size, before.st_size)
        content = self.spool_read()
        self.assertIn(b"Subject: spool 1", content)
        self.assertNotIn(b"Subject: spool 2", content)
        self.assertIn(b"Subject: spool 3", content)
        self.assertEqual(self.spool_listing(), [USER])
        self.assertEqual(self.uids(m), [1, 3])
        # A new session sees the same.
        m2 = self.login()
        self.ok(m2.select("INBOX"))
        self.assertEqual(self.uids(m2), [1, 3])


    def test_two_sessions_share_the_index(self):
        self.two_sessions()


@ROOT_ONLY
@MBOX_BUILT
class SpoolIndexOutsideHome(SpoolBase, unittest.TestCase):
    """The same with the index where spool users whose home is not
    writable keep it: mail_index = /DIR/%u, made by moatd."""
    INDEX = "root"

    def test_two_sessions_share_the_index(self):
        self.two_sessions()


if __name__ == "__main__":
    unittest.main()
