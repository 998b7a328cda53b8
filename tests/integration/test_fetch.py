"""FETCH's message-structure items through a real moatd, once per mail
store (Maildir and mbox), with Python's imaplib: ENVELOPE, BODYSTRUCTURE,
sections, partials, BINARY, the \\Seen rules, the structure cache (the
answers of a warm mailbox are the cold ones), a 50 MB message served in
bounded memory, and a comparison with Debian's Dovecot on hand-made hard
messages (ENVELOPE, BODYSTRUCTURE, BODY[n.MIME], BINARY.SIZE; the
deliberate differences are in doc/design.md, "FETCH"). The byte-exact
table is tests/imapd/test-fetch.c.
"""

import base64
import imaplib
import os
import re
import shutil
import unittest

from moatenv import (IS_ROOT, SANITIZED, USERS, MoatServer, free_port,
                     imap_connect, start_dovecot, status_kb,
                     store_test_classes, uid_of)

D1 = 1700000000

HARD = [
    # 1: multipart/alternative inside multipart/mixed, RFC 2231 and
    # RFC 2047, a group, an attachment with disposition and language
    b"From: =?utf-8?q?J=C3=B6rg?= <joerg@example.com>\r\n"
    b"To: friends: a@example.com, \"B (x)\" <b@example.com>;\r\n"
    b"Cc: <c@example.com>\r\n"
    b"Subject: =?iso-8859-1?q?caf=E9?= parts\r\n"
    b"Date: Wed, 1 Nov 2023 10:00:00 -0500 (EST)\r\n"
    b"Message-ID: <h1@example.com>\r\n"
    b"In-Reply-To: <h0@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
    b"\r\n"
    b"preamble\r\n"
    b"--outer\r\n"
    b"Content-Type: multipart/alternative; boundary=inner\r\n"
    b"\r\n"
    b"--inner\r\n"
    b"Content-Type: text/plain; charset=\"utf-8\"; format=flowed\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Gr=C3=BC=C3=9Fe,=\r\n"
    b" world\r\n"
    b"--inner\r\n"
    b"Content-Type: text/html; charset=us-ascii\r\n"
    b"Content-ID: <html@x>\r\n"
    b"Content-Description: the HTML\r\n"
    b"\r\n"
    b"<p>Hi</p>\r\n"
    b"--inner--\r\n"
    b"--outer\r\n"
    b"Content-Type: application/pdf; name*=utf-8''r%C3%A9sum%C3%A9.pdf\r\n"
    b"Content-Disposition: attachment;\r\n filename=\"cv.pdf\"\r\n"
    b"Content-Language: en, de\r\n"
    b"Content-Location: http://example.com/cv.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    + base64.encodebytes(bytes(range(256)) * 3).replace(b"\n", b"\r\n")
    + b"--outer--\r\n"
    b"epilogue\r\n",
    # 2: a forwarded message with its own multipart
    b"From: bob@example.org\r\n"
    b"Sender: list@example.org\r\n"
    b"Reply-To: replies@example.org\r\n"
    b"Subject: Fwd: inner\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=b2\r\n"
    b"\r\n"
    b"--b2\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"see below\r\n"
    b"--b2\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"From: carol@example.net\r\n"
    b"To: bob@example.org\r\n"
    b"Subject: inner\r\n"
    b"Date: 2 Nov 2023 08:00 GMT\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=b3\r\n"
    b"\r\n"
    b"--b3\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Caf\xe9\r\n"
    b"--b3\r\n"
    b"Content-Type: image/png\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"iVBORw0KGgo=\r\n"
    b"--b3--\r\n"
    b"--b2--\r\n",
    # 3: a multipart whose close delimiter never comes
    b"From: x@example.com\r\n"
    b"Subject: broken\r\n"
    b"Content-Type: multipart/mixed; boundary=\"zz\"\r\n"
    b"\r\n"
    b"--zz\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"one\r\n"
    b"--zz\r\n"
    b"\r\n"
    b"two, no header, no end\r\n",
    # 4: no MIME at all, 8-bit body, odd addresses
    b"From: \"Last, First\" <first.last@example.com>, undisclosed:;\r\n"
    b"To: @route,@r2:user@host\r\n"
    b"Subject: plain\r\n"
    b"\r\n"
    b"8bit \xc3\xa4 body\r\n",
    # 5: a quoted-printable part with soft breaks and a NUL after decoding
    b"From: q@example.com\r\n"
    b"Subject: qp\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"a=00b=\r\nc  \r\nd=3D\r\n",
]


def fetch_raw(m, seq_or_set, items, uid=False):
    """The untagged lines of one FETCH as text, literals inline as
    {n}<bytes>, and the tagged status."""
    tag = m._new_tag().decode()
    m.send(("%s %sFETCH %s %s\r\n" % (tag, "UID " if uid else "",
                                      seq_or_set, items)).encode())
    out = []
    while True:
        line = m.readline()
        if line.startswith(tag.encode() + b" "):
            return out, line.split(b" ", 2)[1].decode()
        while True:
            lit = re.search(rb"~?\{(\d+)\}\r\n$", line)
            if not lit:
                break
            line += m.read(int(lit.group(1)))
            line += m.readline()
        out.append(line.rstrip(b"\r\n"))


class FetchTests:
    STORE = None
    LOCATION = None

    def setUp(self):
        self.server = MoatServer(
            extra_conf="mail_location = %s\n" % self.LOCATION,
            listeners=("starttls",)).start()
        self.addCleanup(self.server.stop)
        self.m = imap_connect(self.server)
        self.addCleanup(self._logout, self.m)
        for data in HARD:
            typ, _ = self.m.append("INBOX", "",
                                   imaplib.Time2Internaldate(D1), data)
            self.assertEqual(typ, "OK")
        self.assertEqual(self.m.select("INBOX")[0], "OK")

    def _logout(self, m):
        try:
            m.logout()
        except Exception:
            pass

    def test_capability(self):
        self.assertIn(b"BINARY", self.m.capability()[1][0].split())

    def test_sections(self):
        # RFC 9051 §6.4.5: after a message/rfc822 part (2) the numbers
        # and HEADER apply to the encapsulated message
        lines, st = fetch_raw(self.m, "2", "(BODY.PEEK[2.HEADER.FIELDS "
                              "(subject from)] BODY.PEEK[2.2.MIME] "
                              "BINARY.PEEK[2.1] BODY.PEEK[1]<0.8>)")
        self.assertEqual(st, "OK")
        self.assertEqual(lines, [
            b"* 2 FETCH (BODY[2.HEADER.FIELDS (SUBJECT FROM)] {43}\r\n"
            b"From: carol@example.net\r\nSubject: inner\r\n\r\n"
            b" BODY[2.2.MIME] {62}\r\nContent-Type: image/png\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n"
            b" BINARY[2.1] {4}\r\nCaf\xe9 BODY[1]<0> {8}\r\nsee belo)"])
        lines, st = fetch_raw(self.m, "5", "(BINARY.PEEK[1] BINARY.SIZE[1])")
        # "=00" is a NUL: literal8 (RFC 3516 §4.2); soft break and
        # trailing blanks go (RFC 2045 §6.7)
        self.assertEqual(lines, [b"* 5 FETCH (BINARY[1] ~{10}\r\na\x00bc\r\n"
                                 b"d=\r\n BINARY.SIZE[1] 10)"])
        _, st = fetch_raw(self.m, "1", "BODY.PEEK[MIME]")
        self.assertEqual(st, "BAD")

    def test_preview(self):
        # RFC 8970: the first text/plain part (here inside a
        # multipart/alternative), decoded and whitespace collapsed; NIL
        # when there is no text part; cached like the structure
        self.assertIn(b"PREVIEW", self.m.capability()[1][0].split())
        for _ in range(2):
            lines, st = fetch_raw(self.m, "1:5", "PREVIEW")
            self.assertEqual(st, "OK")
            self.assertEqual(lines, [
                b"* 1 FETCH (PREVIEW {14}\r\nGr\xc3\xbc\xc3\x9fe, world)",
                b'* 2 FETCH (PREVIEW "see below")',
                b'* 3 FETCH (PREVIEW "one")',
                b"* 4 FETCH (PREVIEW {12}\r\n8bit \xc3\xa4 body)",
                b"* 5 FETCH (PREVIEW NIL)"])

    def test_seen(self):
        # RFC 9051 §6.4.5: BODY[section] sets \Seen, BODY.PEEK does not
        self.m.fetch("3", "(BODY.PEEK[1] BINARY.SIZE[1] RFC822.HEADER)")
        self.assertNotIn(b"\\Seen", self.m.fetch("3", "FLAGS")[1][0])
        lines, _ = fetch_raw(self.m, "3", "BODY[1]")
        self.assertIn(b"FLAGS (\\Seen", lines[0])

    def test_cache_warm_equals_cold(self):
        items = "(ENVELOPE BODYSTRUCTURE BODY)"
        cold, st = fetch_raw(self.m, "1:*", items)
        self.assertEqual(st, "OK")
        self.assertEqual(len(cold), len(HARD))
        warm, _ = fetch_raw(self.m, "1:*", items)
        self.assertEqual(warm, cold)
        # and from a new session (cache in the index, not in memory)
        m2 = imap_connect(self.server)
        m2.select("INBOX")
        again, _ = fetch_raw(m2, "1:*", items)
        m2.logout()
        self.assertEqual(again, cold)

    def test_cache_not_stale_after_external_change(self):
        """Issue 7: "The cache never serves stale data when a message
        file changes". Another program rewrites message 4 (mbox: the
        file; Maildir: a new file for it) with another Subject."""
        items = "(ENVELOPE BODYSTRUCTURE)"
        before, _ = fetch_raw(self.m, "4", items)
        self.assertIn(b'"plain"', before[0])
        self.m.logout()
        home = self.server.homes["alice"]
        if self.STORE == "mbox":
            path = os.path.join(home, "inbox")
            with open(path, "rb") as f:
                data = f.read()
            self.assertEqual(data.count(b"Subject: plain\n"), 1)
            data = data.replace(b"Subject: plain\n",
                                b"Subject: rewritten, longer\n")
            with open(path + ".new", "wb") as f:
                f.write(data)
            st = os.stat(path)
            os.chown(path + ".new", st.st_uid, st.st_gid)
            os.rename(path + ".new", path)
        else:
            cur = os.path.join(home, "Maildir", "cur")
            name = [n for n in sorted(os.listdir(cur))
                    if b"Subject: plain" in open(os.path.join(cur, n),
                                                 "rb").read()][0]
            old = os.path.join(cur, name)
            with open(old, "rb") as f:
                data = f.read().replace(b"Subject: plain",
                                        b"Subject: rewritten, longer")
            with open(old, "wb") as f:
                f.write(data)
        self.m = imap_connect(self.server)
        self.m.select("INBOX")
        if self.STORE != "mbox":
            # A Maildir file is immutable by contract and the index does
            # not stat it again; a FETCH that opens it finds the served
            # size is not the cached tree's and parses it again
            # (doc/design.md, "FETCH: message structure and the cache").
            lines, st = fetch_raw(self.m, "4", "(ENVELOPE BODY.PEEK[1])")
            self.assertIn(b'"rewritten, longer"', lines[0])
        lines, st = fetch_raw(self.m, "1:*", items)
        self.assertEqual(st, "OK")
        self.assertTrue(any(b'"rewritten, longer"' in x for x in lines),
                        lines)
        self.assertFalse(any(b'"plain" ((' in x for x in lines), lines)


store_test_classes(globals(), FetchTests, "TestFetch")


class TestFetchBig(unittest.TestCase):
    """A 50 MB message (a text part and a 38 MB base64 part) is served
    by BODY[], BINARY[2] and BODYSTRUCTURE with the session's RSS
    bounded: the message is never in memory."""
    # Under ASan freed memory stays in its quarantine (256 MB by
    # default), so a buffer that is reset and refilled shows as growth:
    # there the bound only says "not the 50 MB message times n"
    BOUND_KB = (320 if SANITIZED else 16) * 1024

    def test_big_message_bounded_rss(self):
        server = MoatServer(extra_conf="mail_location = maildir:~/Maildir\n",
                            listeners=("starttls",)).start()
        self.addCleanup(server.stop)
        m = imap_connect(server)
        m.select("INBOX")      # makes the Maildir
        home = server.homes["alice"]
        payload = base64.encodebytes(os.urandom(28 << 20)).replace(
            b"\n", b"\r\n")
        msg = (b"From: big@example.com\r\nSubject: big\r\n"
               b"Content-Type: multipart/mixed; boundary=B\r\n\r\n"
               b"--B\r\nContent-Type: text/plain\r\n\r\n"
               + b"line of text\r\n" * 900000 +
               b"--B\r\nContent-Type: application/octet-stream\r\n"
               b"Content-Transfer-Encoding: base64\r\n\r\n" + payload +
               b"--B--\r\n")
        self.assertGreater(len(msg), 50 << 20)
        path = os.path.join(home, "Maildir", "new", "1700000000.big.host")
        with open(path, "wb") as f:
            f.write(msg)
        if IS_ROOT:
            os.chown(path, USERS["alice"][1], USERS["alice"][1])
        del payload
        m.noop()
        uid = USERS["alice"][1]
        pid = [p for p in server.pids_named("imap") if uid_of(p) == uid][0]
        base = status_kb(pid, "VmRSS")
        for items, size in (("BODY.PEEK[]", len(msg)),
                            ("BINARY.PEEK[2]", 28 << 20)):
            tag = m._new_tag()
            m.send(tag + b" FETCH 1 " + items.encode() + b"\r\n")
            head = m.readline()
            n = int(re.search(rb"\{(\d+)\}", head).group(1))
            self.assertEqual(n, size, head)
            peak = 0
            while n > 0:
                chunk = m.read(min(n, 1 << 20))
                n -= len(chunk)
                peak = max(peak, status_kb(pid, "VmRSS"))
            m.readline()
            self.assertTrue(m.readline().startswith(tag + b" OK"))
            self.assertLess(peak - base, self.BOUND_KB,
                            "%s: RSS grew %d kB" % (items, peak - base))
        typ, data = m.fetch("1", "(BODYSTRUCTURE BINARY.SIZE[2])")
        self.assertIn(b"BINARY.SIZE[2] %d" % (28 << 20), data[0])
        self.assertLess(status_kb(pid, "VmHWM") - base, 2 * self.BOUND_KB)
        m.logout()


# The answers that may differ from Dovecot's, on purpose; each reason is
# in doc/design.md, "FETCH: differences from Dovecot".
LINES = "body-fld-lines counts a last line without LF"
CHARSET = "no us-ascii charset added to a text part that names none"
CRLF = "the CRLF before a boundary is the boundary's (RFC 2046 §5.1.1)"
ALLOWED_DIFFS = {
    "1 BODY": LINES, "1 BODYSTRUCTURE": LINES,
    "2 BODY": LINES + "; " + CHARSET + "; " + CRLF,
    "2 BODYSTRUCTURE": LINES + "; " + CHARSET + "; " + CRLF,
    "2 BINARY.SIZE[2]": CRLF,
    "3 BODY": LINES + "; " + CHARSET,
    "3 BODYSTRUCTURE": LINES + "; " + CHARSET,
    # Dovecot 2.3 answers a multipart's BINARY.SIZE with a wrapped
    # negative number at times; ours is the body's size
    "1 BINARY.SIZE[1]": "Dovecot's multipart BINARY.SIZE",
}


@unittest.skipUnless(IS_ROOT and shutil.which("dovecot"),
                     "needs root and Debian's dovecot-imapd")
class TestFetchAgainstDovecot(unittest.TestCase):
    """The structure items give Dovecot's answers on the hard messages."""

    def setUp(self):
        self.port = start_dovecot(self)
        self.server = MoatServer(
            extra_conf="mail_location = maildir:~/Maildir\n",
            listeners=("starttls",)).start()
        self.addCleanup(self.server.stop)

    @staticmethod
    def answers(m):
        for data in HARD:
            m.append("INBOX", "", imaplib.Time2Internaldate(D1), data)
        m.select("INBOX")
        out = {}
        for seq in range(1, len(HARD) + 1):
            for item in ("ENVELOPE", "BODYSTRUCTURE", "BODY",
                         "BODY.PEEK[1.MIME]", "BODY.PEEK[2.MIME]",
                         "BINARY.SIZE[1]", "BINARY.SIZE[2]"):
                lines, st = fetch_raw(m, seq, item)
                out["%d %s" % (seq, item)] = (st, lines)
        return out

    def test_structure_items(self):
        d = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
        d.login("alice", USERS["alice"][0])
        m = imap_connect(self.server)
        want = self.answers(d)
        got = self.answers(m)
        d.logout()
        m.logout()
        diffs = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
        if os.environ.get("MOAT_FETCH_DIFF_SHOW"):
            for k, (g, w) in sorted(diffs.items()):
                print("%s\n  moat    %r\n  dovecot %r" % (k, g, w))
        self.assertEqual(set(diffs) - set(ALLOWED_DIFFS), set(),
                         "unexpected differences: %r" % {
                             k: diffs[k] for k in diffs
                             if k not in ALLOWED_DIFFS})
        # ENVELOPE, BODY[n.MIME] and BINARY.SIZE of leaves always agree
        self.assertFalse([k for k in diffs if "ENVELOPE" in k or
                          "MIME" in k])


if __name__ == "__main__":
    unittest.main()
