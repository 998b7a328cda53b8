"""Rebuild and migration through a real moatd (issue 6, "Done means" 5
and "Migration without re-downloads"):

- the index deleted while no session is open is rebuilt at the next
  login with the same UIDVALIDITY and UIDs where the store can tell
  (Maildir: the dovecot-uidlist Moat keeps), and with a new, greater
  UIDVALIDITY where it cannot (a Maildir without the list; an mbox,
  into which Moat never writes X-UID headers);
- a Maildir that Dovecot served (dovecot-uidlist version 3 and
  dovecot-keywords, written as Dovecot 2.x writes them), one that
  Courier served (courierimapuiddb), and an mbox that Dovecot or UW
  wrote (X-IMAPbase, X-UID, X-Keywords, Status): the first SELECT shows
  the old UIDVALIDITY, UIDs, UIDNEXT and keywords.

The files are written by another process as the user (moatenv.as_user).
"""

import os
import re
import shutil
import time
import unittest

from moatenv import (IS_ROOT, MoatServer, as_user, imap_connect,
                     raw_login)


def msg(i, lf=False):
    m = (b"From: a@example.org\r\nTo: b@example.org\r\n"
         b"Subject: mig %d\r\nMessage-ID: <mig%d@example.org>\r\n\r\n"
         b"Body %d.\r\n" % (i, i, i))
    return m.replace(b"\r\n", b"\n") if lf else m


def select_state(server, box="INBOX"):
    """SELECT in a fresh session: (UIDVALIDITY, UIDNEXT,
    {Message-ID: (UID, flags)}, FLAGS line)."""
    c = raw_login(server)
    try:
        lines = c.cmd("s", "SELECT %s" % box)
        assert lines[-1].startswith("s OK"), lines
        uv = next(int(m.group(1)) for m in
                  (re.match(r"\* OK \[UIDVALIDITY (\d+)\]", l)
                   for l in lines) if m)
        un = next(int(m.group(1)) for m in
                  (re.match(r"\* OK \[UIDNEXT (\d+)\]", l)
                   for l in lines) if m)
        flags_line = next(l for l in lines if l.startswith("* FLAGS "))
        c.cmd("l", "LOGOUT")
    finally:
        c.close()
    m = imap_connect(server)
    try:
        m.select(box, readonly=True)
        typ, data = m.fetch("1:*", "(UID FLAGS BODY.PEEK[])")
        out = {}
        if typ == "OK" and data != [None]:
            for item in data:
                if not isinstance(item, tuple):
                    continue
                uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
                fl = re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1)
                mid = re.search(rb"(?im)^Message-ID: *(<[^>]*>)",
                                item[1]).group(1).decode()
                out[mid] = (uid, set(fl.decode().split()) - {"\\Recent"},
                            item[1])
        return uv, un, out, flags_line
    finally:
        m.logout()


class Base:
    LOCATION = None

    def setUp(self):
        self.server = MoatServer(
            extra_conf="mail_location = %s\n" % self.LOCATION,
            listeners=("starttls",)).start()
        self.addCleanup(self.server.stop)
        # No session yet: the store is made at the first login, so the
        # tests put the other server's files there before it.
        self.home = self.server.homes["alice"]

    def drop_index(self):
        """Removes the index with no session open (their processes
        gone: logout is asynchronous to the session's exit)."""
        deadline = time.time() + 10
        while self.server.pids_named("imap") and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.server.pids_named("imap"), [])
        idx = os.path.join(self.home, ".moat", "index")
        self.assertTrue(os.path.isdir(idx))
        shutil.rmtree(idx)

    def fill(self, box="INBOX"):
        m = imap_connect(self.server)
        for i in range(1, 6):
            self.assertEqual(m.append(box, "(\\Seen)" if i in (2, 4)
                                      else None, None, msg(i))[0], "OK")
        m.select(box)
        m.store("3", "+FLAGS", "(\\Deleted)")
        m.expunge()
        m.store("1", "+FLAGS", "(\\Flagged)")
        m.logout()


class TestRebuildMaildir(Base, unittest.TestCase):
    LOCATION = "maildir:~/Maildir"

    def test_deleted_index_keeps_uidvalidity_and_uids(self):
        self.fill()
        self.fill("Archive")
        before = {b: select_state(self.server, b) for b in ("INBOX",
                                                              "Archive")}
        self.drop_index()
        for box in ("INBOX", "Archive"):
            uv, un, msgs, _ = select_state(self.server, box)
            self.assertEqual(uv, before[box][0], box)
            # The list keeps every UID handed out, so UIDNEXT does not
            # go back (RFC 9051 §2.3.1.1: UIDs never reused).
            self.assertGreaterEqual(un, before[box][1], box)
            self.assertEqual({k: v[:2] for k, v in msgs.items()},
                             {k: v[:2] for k, v in before[box][2].items()},
                             box)
        m = imap_connect(self.server)
        typ, data = m.append("INBOX", None, None, msg(9))
        m.logout()
        uid = int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))
        self.assertGreater(uid, max(v[0] for v in
                                    before["INBOX"][2].values()))

    def test_deleted_index_and_list_mean_new_uidvalidity(self):
        self.fill()
        uv0, _, msgs0, _ = select_state(self.server)
        self.drop_index()
        os.unlink(os.path.join(self.home, "Maildir", "dovecot-uidlist"))
        time.sleep(1.1)     # a time-based UIDVALIDITY must differ
        uv, un, msgs, _ = select_state(self.server)
        self.assertNotEqual(uv, uv0, "the files cannot tell the UIDs")
        self.assertEqual(sorted(msgs), sorted(msgs0))
        # UIDs 1..n in delivery order, flags from the file names.
        self.assertEqual(sorted(v[0] for v in msgs.values()), [1, 2, 3, 4])
        self.assertEqual(un, 5)
        self.assertEqual({k: v[1] for k, v in msgs.items()},
                         {k: v[1] for k, v in msgs0.items()})


class TestRebuildMbox(Base, unittest.TestCase):
    LOCATION = "mbox:~/mail:INBOX=~/inbox"

    def test_deleted_index_gives_new_uidvalidity(self):
        # Moat writes no X-UID/X-IMAPbase into the user's mail, so a
        # lost index cannot be told the old UIDs: a new UIDVALIDITY
        # (the design's rule), UIDs 1..n in file order, all mail there.
        self.fill()
        uv0, _, msgs0, _ = select_state(self.server)
        self.drop_index()
        time.sleep(1.1)
        uv, un, msgs, _ = select_state(self.server)
        self.assertNotEqual(uv, uv0)
        self.assertEqual(sorted(msgs), sorted(msgs0))
        self.assertEqual(sorted(v[0] for v in msgs.values()), [1, 2, 3, 4])
        self.assertEqual(un, 5)
        for k in msgs:
            self.assertEqual(msgs[k][2], msgs0[k][2], k)


# -- migration -------------------------------------------------------------

GUID = "3085f01b7f11094c501100008c4a11c1"


def write(path, data, mode=0o600):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def make_maildir(path):
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub), 0o700, exist_ok=True)


class TestMigrateDovecotMaildir(Base, unittest.TestCase):
    LOCATION = "maildir:~/Maildir"

    def test_uidlist_v3_and_keywords(self):
        md = os.path.join(self.home, "Maildir")
        names = []
        for i in range(1, 5):
            body = msg(i, lf=True)
            base = "17000000%02d.M%dP100.oldhost,S=%d,W=%d" % (
                i, i, len(body), len(msg(i)))
            names.append((base, body))
        # Dovecot's letters: a = keyword 0 ($Work), b = 1 (Junk);
        # S and F are \Seen and \Flagged (file names, Maildir spec).
        infos = [":2,Sa", ":2,", ":2,FSab", ":2,b"]
        # One delivered after Dovecot's last look: in new/, not listed.
        extra = ("1700000099.M9P100.newhost", msg(9, lf=True))

        def setup():
            make_maildir(md)
            for (base, body), info in zip(names, infos):
                write(os.path.join(md, "cur", base + info), body)
            write(os.path.join(md, "new", extra[0]), extra[1])
            # Dovecot 2.x: version 3 header, then "<uid> [fields]
            # :<name as last seen>", UIDs increasing, gaps for
            # expunged mail; N is the next UID.
            write(os.path.join(md, "dovecot-uidlist"), (
                "3 V1275660208 N25022 G%s\n"
                "17 :%s%s\n"
                "25006 W%d :%s\n"
                "25010 :%s%s\n"
                "25020 W%d :%s%s\n" % (
                    GUID, names[0][0], infos[0],
                    len(msg(2)), names[1][0],
                    names[2][0], ":2,FS",      # renamed since: flags
                    len(msg(4)), names[3][0], infos[3])).encode())
            write(os.path.join(md, "dovecot-keywords"),
                  b"0 $Work\n1 Junk\n")

        as_user(setup)
        uv, un, msgs, flags_line = select_state(self.server)
        self.assertEqual(uv, 1275660208)
        self.assertEqual({k: v[0] for k, v in msgs.items()},
                         {"<mig1@example.org>": 17,
                          "<mig2@example.org>": 25006,
                          "<mig3@example.org>": 25010,
                          "<mig4@example.org>": 25020,
                          "<mig9@example.org>": 25022})
        self.assertEqual(un, 25023)
        self.assertEqual(msgs["<mig1@example.org>"][1], {"\\Seen", "$Work"})
        self.assertEqual(msgs["<mig2@example.org>"][1], set())
        self.assertEqual(msgs["<mig3@example.org>"][1],
                         {"\\Flagged", "\\Seen", "$Work", "Junk"})
        self.assertEqual(msgs["<mig4@example.org>"][1], {"Junk"})
        self.assertIn("$Work", flags_line)
        self.assertIn("Junk", flags_line)
        # Served as IMAP wants it (CRLF), byte for byte.
        self.assertEqual(msgs["<mig3@example.org>"][2], msg(3))
        # A keyword set through Moat on a message is its letter in the
        # file name, so Dovecot would see it after a switch back.
        m = imap_connect(self.server)
        m.select("INBOX")
        self.assertEqual(m.uid("STORE", "25006", "+FLAGS", "(Junk)")[0],
                         "OK")
        m.logout()
        cur = os.listdir(os.path.join(md, "cur"))
        self.assertIn(names[1][0] + ":2,b", cur)


class TestMigrateCourierMaildir(Base, unittest.TestCase):
    LOCATION = "maildir:~/Maildir"

    def test_courierimapuiddb(self):
        md = os.path.join(self.home, "Maildir")
        sub = os.path.join(md, ".Lists")

        def setup():
            make_maildir(md)
            make_maildir(sub)
            write(os.path.join(sub, "maildirfolder"), b"")
            for i, base in ((1, "1600000001.1234_1.oldhost"),
                            (2, "1600000002.1234_2.oldhost")):
                write(os.path.join(sub, "cur", base + ":2,S"),
                      msg(i, lf=True))
            # Courier: "1 <uidvalidity> <nextuid>", then "<uid> <name>".
            write(os.path.join(sub, "courierimapuiddb"),
                  b"1 1187000000 41\n"
                  b"12 1600000001.1234_1.oldhost:2,S\n"
                  b"40 1600000002.1234_2.oldhost\n")

        as_user(setup)
        uv, un, msgs, _ = select_state(self.server, "Lists")
        self.assertEqual(uv, 1187000000)
        self.assertEqual(un, 41)
        self.assertEqual({k: v[:2] for k, v in msgs.items()},
                         {"<mig1@example.org>": (12, {"\\Seen"}),
                          "<mig2@example.org>": (40, {"\\Seen"})})


class TestMigrateMbox(Base, unittest.TestCase):
    LOCATION = "mbox:~/mail:INBOX=~/inbox"

    def test_x_imapbase_x_uid_x_keywords(self):
        def entry(i, extra):
            head, body = msg(i, lf=True).split(b"\n\n", 1)
            return (b"From a@example.org  Mon Mar  4 10:00:0%d 2024\n" % i +
                    head + b"\n" + (extra + b"\n" if extra else b"") +
                    b"\n" + body + b"\n")

        def setup():
            # What Dovecot writes: X-IMAPbase in the first message
            # (UIDVALIDITY, last UID zero-padded, the keywords), X-UID
            # and X-Keywords per message, Status/X-Status for flags.
            data = (entry(1, b"Status: RO\nX-IMAPbase: 1300000000 "
                             b"0000000033 $Work Junk\nX-UID: 7\n"
                             b"X-Keywords: $Work") +
                    entry(2, b"Status: O\nX-UID: 20\nX-Keywords: Junk "
                             b"Forged") +
                    entry(3, b"Status: RO\nX-Status: AF\nX-UID: 33") +
                    # Delivered after Dovecot's last look: no X-UID.
                    entry(4, b""))
            write(os.path.join(self.home, "inbox"), data)

        as_user(setup)
        uv, un, msgs, flags_line = select_state(self.server)
        self.assertEqual(uv, 1300000000)
        self.assertEqual({k: v[0] for k, v in msgs.items()},
                         {"<mig1@example.org>": 7,
                          "<mig2@example.org>": 20,
                          "<mig3@example.org>": 33,
                          "<mig4@example.org>": 34})
        self.assertEqual(un, 35)
        self.assertEqual(msgs["<mig1@example.org>"][1], {"\\Seen", "$Work"})
        # Only the keywords X-IMAPbase declares ("Forged" is not).
        self.assertEqual(msgs["<mig2@example.org>"][1], {"Junk"})
        self.assertEqual(msgs["<mig3@example.org>"][1],
                         {"\\Seen", "\\Answered", "\\Flagged"})
        self.assertNotIn("Forged", flags_line)
        # The rewritable fields are not served (doc/design.md, mbox).
        self.assertEqual(msgs["<mig1@example.org>"][2], msg(1))


if __name__ == "__main__":
    unittest.main()
