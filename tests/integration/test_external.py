"""Other programs change the store while a session has it selected
(issue 6, "Done means" 2): Python's mailbox module, as the user, does
what mutt and an MDA do -- renames Maildir files to change flags,
deletes them, delivers through tmp/ into new/; appends to an mbox spool
file under fcntl + dotlock (mailbox.mbox.lock()) and rewrites it
(mailbox.mbox.flush(), which changes Status and X-Status and replaces
the file); and mutt itself, driven through a pty (flag one message,
delete another, sync), on both. After NOOP the session must report
what changed as RFC 3501 §7.4.1 (EXPUNGE, sequence numbers shifting at
once), §7.3.1 (EXISTS) and §7.4.2 (unsolicited FETCH FLAGS) say, and
every message that
survived keeps its UID: checked by Message-ID <-> UID maps from fresh
sessions before and after, and against the open session's own view.
"""

import mailbox
import os
import pty
import re
import select
import shutil
import time
import unittest

from moatenv import (IS_ROOT, USERS, MoatServer, as_user, imap_connect,
                     raw_login)

N = 6


def msg(i):
    return (b"From: a@example.org\r\nTo: b@example.org\r\n"
            b"Date: Mon, 4 Mar 2024 10:00:00 +0000\r\n"
            b"Subject: ext %d\r\nMessage-ID: <ext%d@example.org>\r\n\r\n"
            b"Body %d.\r\n" % (i, i, i))


def message_ids(server, box="INBOX"):
    """{Message-ID: UID} and UIDVALIDITY seen by a fresh session."""
    m = imap_connect(server)
    try:
        typ, _ = m.select(box, readonly=True)
        assert typ == "OK"
        uv = int(m.untagged_responses["UIDVALIDITY"][0])
        typ, data = m.fetch("1:*", "(UID BODY.PEEK[])")
        out = {}
        if typ == "OK" and data != [None]:
            for item in data:
                if not isinstance(item, tuple):
                    continue
                uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
                mid = re.search(rb"(?im)^Message-ID: *(<[^>]*>)",
                                item[1]).group(1).decode()
                out[mid] = uid
        return out, uv
    finally:
        m.logout()


MUTT = shutil.which("mutt")
NO_MUTT = "mutt is not installed (scripts/deps installs it)"


def run_mutt(folder, mbox_type, keys, home):
    """mutt on folder, driven through a pty by a "push" of keys, as the
    calling user; exits when the keys end in <quit>. Raises on a
    timeout or a non-zero exit."""
    cmd = [MUTT, "-n", "-F", "/dev/null", "-f", folder, "-e",
           "set mbox_type=%s; set delete=yes; set quit=yes; "
           "set mark_old=no; set move=no; set confirmappend=no; "
           "set sort=mailbox-order; set folder=%s" % (mbox_type, home),
           # (without $folder mutt asks whether to create ~/Mail)
           "-e", 'push "%s"' % keys]
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update({"TERM": "vt100", "HOME": home, "USER": "alice",
                           "LOGNAME": "alice", "SHELL": "/bin/sh",
                           "LINES": "24", "COLUMNS": "80"})
        os.execv(cmd[0], cmd)
    deadline = time.time() + 20
    status = None
    out = b""
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                out += os.read(fd, 65536)
            except OSError:
                pass
        p, st = os.waitpid(pid, os.WNOHANG)
        if p:
            status = os.waitstatus_to_exitcode(st)
            break
    os.close(fd)
    if status is None:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise AssertionError("mutt did not finish: %r" % out[-300:])
    if status != 0:
        raise AssertionError("mutt exited %d: %r" % (status, out[-300:]))


# Flag ext2, delete ext3, write the folder back, quit (patterns on the
# Message-ID, so the order of the index does not matter).
MUTT_KEYS = ("<tag-pattern>~i ext2@<enter><tag-prefix><flag-message>"
             "<untag-pattern>~A<enter>"
             "<tag-pattern>~i ext3@<enter><tag-prefix><delete-message>"
             "<sync-mailbox><quit>")


class SessionModel:
    """The open session's sequence-number -> UID view, advanced by the
    untagged responses exactly as a client must (RFC 3501 §7.4.1: after
    "* n EXPUNGE" every later message's number is one less at once)."""

    def __init__(self, uids):
        self.uids = list(uids)
        self.flags = {}

    def apply(self, testcase, lines):
        for line in lines:
            mt = re.match(r"\* (\d+) (EXPUNGE|EXISTS|FETCH)(.*)$", line)
            if not mt:
                continue
            n, what, rest = int(mt.group(1)), mt.group(2), mt.group(3)
            if what == "EXPUNGE":
                testcase.assertTrue(1 <= n <= len(self.uids), line)
                del self.uids[n - 1]
            elif what == "EXISTS":
                # §7.3.1: the new size; it never goes down without
                # EXPUNGEs before it.
                testcase.assertGreaterEqual(n, len(self.uids), line)
                self.uids += [None] * (n - len(self.uids))
            else:
                testcase.assertTrue(1 <= n <= len(self.uids), line)
                uid = re.search(r"UID (\d+)", rest)
                if uid and self.uids[n - 1] is not None:
                    testcase.assertEqual(int(uid.group(1)),
                                         self.uids[n - 1], line)
                fl = re.search(r"FLAGS \(([^)]*)\)", rest)
                if fl:
                    key = self.uids[n - 1] or int(uid.group(1))
                    self.flags[key] = set(fl.group(1).split()) - \
                        {"\\Recent"}


class ExternalTests:
    LOCATION = None

    def setUp(self):
        self.server = MoatServer(listeners=("starttls",))
        self.spool = os.path.join(self.server.dir, "spool")
        self.server.extra_conf = "mail_location = %s\n" % (
            self.LOCATION.replace("SPOOL", self.spool))
        self.server.start()
        self.addCleanup(self.server.stop)
        self.home = self.server.homes["alice"]
        if self.STORE == "mbox":
            os.mkdir(self.spool)
            if IS_ROOT:
                os.chown(self.spool, USERS["alice"][1], USERS["alice"][1])
        m = imap_connect(self.server)
        for i in range(1, N + 1):
            self.assertEqual(m.append("INBOX", None, None, msg(i))[0], "OK")
        m.logout()
        self.before, self.uv = message_ids(self.server)
        self.assertEqual(len(self.before), N)
        self.c = raw_login(self.server)
        self.addCleanup(self.c.close)
        self.assertTrue(self.c.cmd("s", "SELECT INBOX")[-1]
                        .startswith("s OK"))
        lines = self.c.cmd("u", "FETCH 1:* (UID)")
        self.model = SessionModel(
            int(re.search(r"UID (\d+)", l).group(1)) for l in lines[:-1])
        self.assertEqual(sorted(self.model.uids),
                         sorted(self.before.values()))

    def noop_and_check(self, gone=(), added=(), flags=None):
        """NOOP, apply its responses to the model, then check the view
        against FETCH 1:* and a fresh session's Message-ID map."""
        lines = self.c.cmd("n", "NOOP")
        self.assertEqual(lines[-1], "n OK NOOP completed.")
        self.model.apply(self, lines)
        got = self.c.cmd("f", "FETCH 1:* (UID FLAGS)")
        self.assertEqual(got[-1], "f OK FETCH completed.")
        view = [int(re.search(r"UID (\d+)", l).group(1)) for l in got[:-1]]
        self.assertEqual(len(view), len(self.model.uids), (lines, got))
        for known, uid in zip(self.model.uids, view):
            if known is not None:
                self.assertEqual(known, uid, (lines, got))
        after, uv = message_ids(self.server)
        self.assertEqual(uv, self.uv, "UIDVALIDITY changed")
        want = {k: v for k, v in self.before.items() if k not in gone}
        for mid in added:
            self.assertIn(mid, after)
            self.assertGreater(after[mid], max(self.before.values()))
        self.assertEqual({k: v for k, v in after.items()
                          if k not in added}, want)
        self.assertEqual(sorted(view), sorted(after.values()))
        if flags:
            for mid, want_flags in flags.items():
                uid = after[mid]
                self.assertEqual(self.model.flags.get(uid), want_flags,
                                 (mid, lines))
        return lines, after


class MaildirExternalTests(ExternalTests):
    STORE = "maildir"
    LOCATION = "maildir:~/Maildir"

    def maildir(self):
        return mailbox.Maildir(os.path.join(self.home, "Maildir"),
                               factory=None, create=False)

    def key_of(self, md, i):
        for key, m in md.iteritems():
            if m["Message-ID"] == "<ext%d@example.org>" % i:
                return key
        raise KeyError(i)

    def test_flags_deletes_and_deliveries(self):
        md_path = os.path.join(self.home, "Maildir")

        def change():
            md = self.maildir()
            # Flags the way mutt changes them: a rename within cur/
            # (":2,S" appended, letters in ASCII order).
            for i, letters in ((2, "S"), (3, "FS"), (4, "RT")):
                key = self.key_of(md, i)
                sub = md._lookup(key)
                new = os.path.join(md_path, "cur",
                                   key + md.colon + "2," + letters)
                os.rename(os.path.join(md_path, sub), new)
            md = self.maildir()
            # Delete two, the way mutt purges: unlink.
            md.remove(self.key_of(md, 1))
            md.remove(self.key_of(md, 5))
            # An MDA delivers two: tmp/ then new/.
            for i in (7, 8):
                md.add(mailbox.MaildirMessage(msg(i)))

        as_user(change)
        lines, after = self.noop_and_check(
            gone=("<ext1@example.org>", "<ext5@example.org>"),
            added=("<ext7@example.org>", "<ext8@example.org>"),
            flags={"<ext2@example.org>": {"\\Seen"},
                   "<ext3@example.org>": {"\\Flagged", "\\Seen"},
                   "<ext4@example.org>": {"\\Answered", "\\Deleted"}})
        # RFC 3501 §7.4.1: the two EXPUNGEs; sequence numbers as the
        # client counts them (5 first, then 1, or 1 then 4).
        exp = [l for l in lines if l.endswith(" EXPUNGE")]
        self.assertIn(exp, (["* 5 EXPUNGE", "* 1 EXPUNGE"],
                            ["* 1 EXPUNGE", "* 4 EXPUNGE"]), lines)
        self.assertIn("* 6 EXISTS", lines)
        # The new mail was moved to cur/ by the selecting session.
        self.assertEqual(os.listdir(os.path.join(md_path, "new")), [])

    def test_content_rewrite_keeps_uid(self):
        # mailbox.Maildir.__setitem__ writes a new file under the same
        # base name (a new inode): the same message to Maildir, so the
        # same UID; its flags come from the new name.
        def change():
            md = self.maildir()
            key = self.key_of(md, 3)
            m = mailbox.MaildirMessage(md.get_bytes(key))
            m.set_subdir("cur")
            m.set_flags("F")
            md[key] = m

        as_user(change)
        self.noop_and_check(flags={"<ext3@example.org>": {"\\Flagged"}})

    @unittest.skipUnless(MUTT, NO_MUTT)
    def test_mutt(self):
        # mutt itself, on the Maildir the session has selected.
        as_user(lambda: run_mutt(os.path.join(self.home, "Maildir"),
                                 "Maildir", MUTT_KEYS, self.home))
        lines, _ = self.noop_and_check(
            gone=("<ext3@example.org>",),
            flags={"<ext2@example.org>": {"\\Flagged"}})
        self.assertIn("* 3 EXPUNGE", lines)

    def test_our_store_visible_to_the_other_program(self):
        # The other way round: STORE renames the file, as mutt expects.
        self.assertEqual(self.c.cmd("a", "STORE 2 +FLAGS (\\Seen \\Flagged)")
                         [-1], "a OK STORE completed.")
        md = self.maildir()
        self.assertEqual(md.get_message(self.key_of(md, 2)).get_flags(),
                         "FS")


class MboxExternalTests(ExternalTests):
    STORE = "mbox"
    LOCATION = "mbox:~/mail:INBOX=SPOOL/%u"

    def spool_path(self):
        return os.path.join(self.spool, "alice")

    def key_of(self, mb, i):
        for key, m in mb.iteritems():
            if m["Message-ID"] == "<ext%d@example.org>" % i:
                return key
        raise KeyError(i)

    def test_mda_appends(self):
        # An MDA appends under fcntl + dotlock and leaves the file in
        # place (same inode): the session parses only the new tail.
        ino = os.stat(self.spool_path()).st_ino

        def deliver():
            # The locks are mailbox.mbox's (fcntl, then a dotlock, as
            # Debian Policy 11.6 says); the append is what postfix's
            # local(8) and procmail write: a From_ line, the message,
            # a blank line. (mailbox.mbox.add() would put one more blank
            # line before its From_ line, which changes the body of the
            # message before it; see the mbox notes in doc/design.md.)
            mb = mailbox.mbox(self.spool_path(), create=False)
            mb.lock()
            try:
                self.assertTrue(os.path.exists(self.spool_path() + ".lock"))
                with open(self.spool_path(), "ab") as f:
                    for i in (7, 8):
                        f.write(b"From sender@example.org  " +
                                time.asctime(time.gmtime()).encode() +
                                b"\n" + msg(i).replace(b"\r\n", b"\n") +
                                b"\n")
            finally:
                mb.unlock()
                mb.close()

        as_user(deliver)
        self.assertEqual(os.stat(self.spool_path()).st_ino, ino)
        lines, _ = self.noop_and_check(
            added=("<ext7@example.org>", "<ext8@example.org>"))
        self.assertIn("* 8 EXISTS", lines)
        self.assertFalse([l for l in lines if l.endswith(" EXPUNGE")])

    def test_rewrite_with_flags_and_deletes(self):
        # mutt-style: read, change Status/X-Status, delete some, and
        # write the whole file anew (mailbox.mbox.flush() renames a new
        # file over it), then an MDA delivers one more.
        def change():
            mb = mailbox.mbox(self.spool_path(), create=False)
            mb.lock()
            try:
                for i, fl in ((2, "RO"), (3, "RFO"), (4, "AO")):
                    key = self.key_of(mb, i)
                    m = mb[key]
                    m.set_flags(fl)
                    mb[key] = m
                mb.remove(self.key_of(mb, 1))
                mb.remove(self.key_of(mb, 6))
                mb.flush()
                m = mailbox.mboxMessage(msg(7).replace(b"\r\n", b"\n"))
                m.set_from("sender@example.org", True)
                mb.add(m)
                mb.flush()
            finally:
                mb.unlock()
                mb.close()

        as_user(change)
        with open(self.spool_path(), "rb") as f:
            data = f.read()
        self.assertIn(b"Status: RO", data)
        self.assertIn(b"X-Status: F", data)
        lines, _ = self.noop_and_check(
            gone=("<ext1@example.org>", "<ext6@example.org>"),
            added=("<ext7@example.org>",),
            flags={"<ext2@example.org>": {"\\Seen"},
                   "<ext3@example.org>": {"\\Flagged", "\\Seen"},
                   "<ext4@example.org>": {"\\Answered"}})
        exp = [l for l in lines if l.endswith(" EXPUNGE")]
        self.assertIn(exp, (["* 6 EXPUNGE", "* 1 EXPUNGE"],
                            ["* 1 EXPUNGE", "* 5 EXPUNGE"]), lines)
        self.assertIn("* 5 EXISTS", lines)
        # Moat wrote no headers of its own into the user's mail.
        self.assertNotIn(b"X-UID", data)
        self.assertNotIn(b"X-IMAP", data)

    @unittest.skipUnless(MUTT, NO_MUTT)
    def test_mutt(self):
        # mutt rewrites the spool file in place (its own fcntl and
        # dotlock), with Status/X-Status for what changed.
        as_user(lambda: run_mutt(self.spool_path(), "mbox", MUTT_KEYS,
                                 self.home))
        with open(self.spool_path(), "rb") as f:
            data = f.read()
        self.assertNotIn(b"<ext3@example.org>", data)
        self.assertIn(b"X-Status: F", data)
        lines, _ = self.noop_and_check(
            gone=("<ext3@example.org>",),
            flags={"<ext2@example.org>": {"\\Flagged"}})
        self.assertIn("* 3 EXPUNGE", lines)

    def test_lock_is_respected(self):
        # While another program holds the mbox locks, our APPEND waits
        # for them (it does not write under someone else's lock); once
        # they are released, it goes through.
        import threading
        mb = mailbox.mbox(self.spool_path(), create=False)
        released = threading.Event()
        mb.lock()
        t0 = time.time()

        def unlock_later():
            time.sleep(1.0)
            mb.unlock()
            released.set()

        th = threading.Thread(target=unlock_later)
        th.start()
        d = msg(9).decode()
        lines = self.c.cmd("a", "APPEND INBOX {%d+}\r\n%s" % (len(d), d))
        th.join()
        mb.close()
        self.assertTrue(lines[-1].startswith("a OK [APPENDUID "), lines)
        self.assertTrue(released.is_set())
        self.assertGreaterEqual(time.time() - t0, 0.9)
        with open(self.spool_path(), "rb") as f:
            self.assertEqual(f.read().count(b"\nFrom "), N)


class TestExternalMaildir(MaildirExternalTests, unittest.TestCase):
    pass


class TestExternalMbox(MboxExternalTests, unittest.TestCase):
    pass


if __name__ == "__main__":
    unittest.main()
