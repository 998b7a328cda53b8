"""SORT and THREAD (RFC 5256, RFC 5957) through a real moatd on each mail
store (Maildir and mbox), compared with Debian's Dovecot on the same mail:
a generated corpus (shared/tools/gen-corpus.py: threads by In-Reply-To and
References, "Re:" subjects, UTF-8 names) plus hand-made hard cases
(encoded subjects, [list] tags, missing and bad Date headers, missing
parents, duplicate Message-IDs, reference loops, subject-only threads).
The command-level table is tests/imapd/test-sort.c; the deliberate
differences are listed in doc/design.md ("SORT and THREAD").
"""

import email
import email.utils
import imaplib
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from moatenv import (IS_ROOT, USERS, MoatServer, available_stores,
                     free_port, imap_connect, start_dovecot,
                     STORE_LOCATIONS)

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(HERE, "..", "..", "..", "shared", "tools",
                   "gen-corpus.py")
for cand in (GEN, "/work/shared/tools/gen-corpus.py"):
    if os.path.exists(cand):
        GEN = cand
        break

D1 = 1700000000

HAND = [
    # (internaldate, message)
    (D1, b"From: =?UTF-8?Q?Zo=C3=AB?= <zoe@x.org>\r\nTo: a@x.org\r\n"
         b"Subject: =?UTF-8?Q?Re=3A_caf=C3=A9?=\r\n"
         b"Date: Tue, 14 Nov 2023 10:00:00 +0100\r\n"
         b"Message-ID: <h1@x>\r\n\r\nbody\r\n"),
    (D1 + 10, b"From: bob@x.org\r\nSubject: [list] Re: [list] CAF\xc3\x89\r\n"
              b"Date: 14 Nov 2023 08:00 GMT\r\nMessage-ID: <h2@x>\r\n"
              b"\r\nbody\r\n"),
    (D1 + 20, b"From: carol@x.org\r\nSubject: Fwd: [fwd: cafe]\r\n"
              b"Date: garbage\r\nMessage-ID: <h3@x>\r\n"
              b"References: <nowhere@x> <h1@x>\r\n\r\nbody\r\n"),
    (D1 + 30, b"Subject: no date, dup id\r\nMessage-ID: <h1@x>\r\n"
              b"\r\nbody\r\n"),
    (D1 + 40, b"From: dave@x.org\r\nSubject: loop a\r\n"
              b"Date: 15 Nov 2023 08:00 GMT\r\nMessage-ID: <la@x>\r\n"
              b"References: <lb@x>\r\n\r\nbody\r\n"),
    (D1 + 50, b"From: eve@x.org\r\nSubject: loop b\r\n"
              b"Date: 15 Nov 2023 09:00 GMT\r\nMessage-ID: <lb@x>\r\n"
              b"References: <la@x>\r\n\r\nbody\r\n"),
    (D1 + 60, b"From: frank@x.org\r\nSubject: orphan 1\r\n"
              b"Date: 16 Nov 2023 09:00 GMT\r\nMessage-ID: <o1@x>\r\n"
              b"In-Reply-To: <gone@x>\r\n\r\nbody\r\n"),
    (D1 + 70, b"From: grace@x.org\r\nSubject: orphan 2\r\n"
              b"Date: 16 Nov 2023 10:00 GMT\r\nMessage-ID: <o2@x>\r\n"
              b"In-Reply-To: <gone@x>\r\n\r\nbody\r\n"),
    (D1 + 80, b"From: heidi@x.org\r\nSubject: Same topic\r\n"
              b"Date: 17 Nov 2023 10:00 GMT\r\nMessage-ID: <s1@x>\r\n"
              b"\r\nbody\r\n"),
    (D1 + 90, b"From: ivan@x.org\r\nSubject: RE: same TOPIC\r\n"
              b"Date: 17 Nov 2023 11:00 GMT\r\nMessage-ID: <s2@x>\r\n"
              b"\r\nbody\r\n"),
    (D1 + 95, b"From: judy@x.org\r\nSubject: same topic\r\n"
              b"Date: 17 Nov 2023 12:00 GMT\r\nMessage-ID: <s3@x>\r\n"
              b"\r\nbody\r\n"),
]

COMMANDS = [
    "SORT (DATE) UTF-8 ALL", "SORT (REVERSE DATE) UTF-8 ALL",
    "SORT (ARRIVAL) UTF-8 ALL", "SORT (SIZE) UTF-8 ALL",
    "SORT (SUBJECT) UTF-8 ALL", "SORT (FROM) UTF-8 ALL",
    "SORT (REVERSE ARRIVAL) UTF-8 ALL", "UID SORT (DATE) UTF-8 ALL",
    "SORT (SUBJECT DATE) UTF-8 1:50", "SORT (REVERSE SUBJECT) UTF-8 ALL",
    "SORT (TO) UTF-8 ALL", "SORT (CC) UTF-8 ALL",
    "SORT (DISPLAYFROM) UTF-8 ALL", "SORT (DISPLAYTO) UTF-8 ALL",
    "SORT (CC REVERSE SIZE) UTF-8 UNDELETED",
    "SORT (DATE) UTF-8 FROM bob", "SORT (SUBJECT) US-ASCII SUBJECT topic",
    "THREAD REFERENCES UTF-8 SINCE 16-Nov-2023",
    "THREAD REFERENCES UTF-8 NOT 180:200",
    "THREAD ORDEREDSUBJECT UTF-8 190:*",
    "THREAD ORDEREDSUBJECT UTF-8 ALL", "THREAD REFERENCES UTF-8 ALL",
    "UID THREAD REFERENCES UTF-8 ALL",
]

# The deliberate differences, each with its reason (doc/design.md,
# "SORT and THREAD"), filled in as (command -> why); the answers
# themselves are printed with MOAT_SORT_DIFF_SHOW=1.
EXPECTED_DIFFS = {}


def corpus(count=200):
    """The generated corpus as (internaldate, bytes) in mbox order."""
    out = tempfile.mktemp(suffix=".mbox")
    subprocess.run([sys.executable, GEN, out, str(count), "7"], check=True)
    msgs = []
    try:
        with open(out, "rb") as f:
            data = f.read()
    finally:
        os.unlink(out)
    for chunk in data.split(b"\nFrom ")[0:]:
        if not chunk.strip():
            continue
        if chunk.startswith(b"From "):
            chunk = chunk[5:]
        body = chunk.split(b"\n", 1)[1] if b"\n" in chunk else b""
        msg = email.message_from_bytes(body)
        d = msg.get("Date")
        t = email.utils.parsedate_to_datetime(d).timestamp() if d else D1
        msgs.append((int(t) + 3600, body.replace(b"\r\n", b"\n")
                     .replace(b"\n", b"\r\n")))
    return msgs


def load(m, msgs):
    for date, data in msgs:
        typ, _ = m.append("INBOX", "", imaplib.Time2Internaldate(date), data)
        assert typ == "OK", data[:200]
    m.select("INBOX")


def answers(m, commands):
    out = {}
    for c in commands:
        tag = m._new_tag().decode()
        m.send(("%s %s\r\n" % (tag, c)).encode())
        lines = []
        while True:
            line = m.readline().decode().rstrip("\r\n")
            if line.startswith(tag + " "):
                lines.append(line.split(" ", 2)[1])
                break
            if line.startswith("* SORT") or line.startswith("* THREAD"):
                lines.append(line)
        out[c] = lines
    return out


@unittest.skipUnless(IS_ROOT and shutil.which("dovecot") and
                     os.path.exists(GEN),
                     "needs root, Debian's dovecot-imapd and gen-corpus.py")
class TestSortThreadAgainstDovecot(unittest.TestCase):
    def setUp(self):
        self.port = start_dovecot(self)
        self.msgs = corpus() + HAND

    def test_same_answers(self):
        d = imaplib.IMAP4("127.0.0.1", self.port, timeout=60)
        d.login("alice", USERS["alice"][0])
        load(d, self.msgs)
        want = answers(d, COMMANDS)
        d.logout()
        for kind in available_stores():
            with self.subTest(store=kind):
                server = MoatServer(
                    extra_conf="mail_location = %s\n" %
                    STORE_LOCATIONS[kind],
                    listeners=("starttls",)).start()
                try:
                    m = imap_connect(server, timeout=60)
                    load(m, self.msgs)
                    got = answers(m, COMMANDS)
                    m.logout()
                    # The first SORT made every message's SORT cache
                    # record; a new session answers from them alone.
                    m = imap_connect(server, timeout=60)
                    m.select("INBOX")
                    again = answers(m, COMMANDS)
                    m.logout()
                finally:
                    server.stop()
                if os.environ.get("MOAT_SORT_DIFF_SHOW") == "all":
                    for k in want:
                        print("%s\n moat    %s\n dovecot %s" %
                              (k, got[k][0][-300:], want[k][0][-300:]))
                if os.environ.get("MOAT_SORT_DIFF_SHOW"):
                    for k in want:
                        if got[k] != want[k]:
                            print("%s\n moat    %s\n dovecot %s" %
                                  (k, got[k], want[k]))
                diffs = sorted(k for k in want if got[k] != want[k])
                self.assertEqual(diffs, sorted(EXPECTED_DIFFS))
                self.assertEqual(again, got)


if __name__ == "__main__":
    unittest.main()
