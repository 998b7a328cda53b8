"""The full-text index behind SEARCH (issue 7 Done 3 and 5): through a
real moatd, SEARCH answers with the index used (search_fts = yes, the
default) and with it off (search_fts = no: every message is read) are
the same, for a few hundred queries over a corpus (the generator in
../shared/tools/ plus hand-made hard cases), before and after APPENDs,
COPY, expunges and a kill -9 of a session in the middle of indexing.
The session's log line "search: index=N read=M" shows the index was
used (N) and what was read (M). Also: SEARCH TEXT over a 50 MB message
and over 10,000 messages keeps the session's RSS bounded.
"""

import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from moatenv import IS_ROOT, SANITIZED, USERS, MoatServer, raw_login

GEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                   "..", "shared", "tools", "gen-corpus.py")
if not os.path.exists(GEN):
    GEN = "/work/shared/tools/gen-corpus.py"

HARD = [
    # QP UTF-8, an encoded word
    b"From: =?iso-8859-1?q?J=FCrgen?= <jurgen@example.de>\r\n"
    b"To: M\xc3\xbcller <mueller@example.de>\r\n"
    b"Subject: =?utf-8?q?Stra=C3=9Fe_und_Caf=C3=A9?=\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"Gr=C3=BC=C3=9Fe aus M=C3=BCn=\r\nchen, caf=C3=A9 cr=C3=A8me\r\n",
    # base64 Latin-1, HTML with entities, an attachment
    b"From: \"Bob, B.\" <bob@example.org>\r\nSubject: parts\r\n"
    b"Content-Type: multipart/mixed; boundary=\"xx\"\r\n\r\n"
    b"--xx\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n"
    b"Y2Fm6SBjcuhtZSBhbHBoYQ==\r\n"
    b"--xx\r\nContent-Type: text/html\r\n\r\n"
    b"beta<p>Hello&nbsp;<b>World</b> caf&eacute; &#26085;&#26412;</p>"
    b"<script>hidden()</script>\r\n"
    b"--xx\r\nContent-Type: application/octet-stream\r\n"
    b"Content-Disposition: attachment; filename=\"secret.bin\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n"
    b"c2VjcmV0d29yZA==\r\n--xx--\r\n",
    # nested message/rfc822 with a base64 CJK part
    b"From: dave@example.com\r\nSubject: forward\r\n"
    b"Content-Type: message/rfc822\r\n\r\n"
    b"From: inner@example.com\r\nSubject: inner subject\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n"
    b"5pel5pys6Kqe44Gu44OG44Kt44K544OIIGlubmVyIHRleHQ=\r\n",
    # ISO-2022-JP
    b"From: =?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= <yamada@example.jp>\r\n"
    b"Subject: =?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?=\r\n"
    b"Content-Type: text/plain; charset=iso-2022-jp\r\n\r\n"
    b"\x1b$BF|K\\8l\x1b(B text\r\n",
    # Greek, odd header case, a header only TEXT sees
    b"fROM: eve@example.com\r\nsUbJeCt: =?utf-8?b?zpHOuM6uzr3OsQ==?=\r\n"
    b"X-Tracking: abc-123-xyz\r\n\r\n"
    b"\xce\x91\xce\xb8\xce\xae\xce\xbd\xce\xb1 STRASSE stra\xc3\x9fe\r\n",
    # Windows-1252, bare LF line ends, a body that repeats a header
    b"From: frank@example.com\nSubject: smart quotes\n"
    b"Content-Type: text/plain; charset=windows-1252\n\n"
    b"\x93quoted\x94 \x80 100 Subject: inside body\n",
    # Chinese, no charset declared (8-bit UTF-8)
    b"From: li@example.cn\r\nSubject: =?utf-8?b?5Lit5paH5L+h?=\r\n\r\n"
    b"\xe4\xb8\xad\xe6\x96\x87\xe5\x86\x85\xe5\xae\xb9 needle\r\n",
]

WORDS = ["gr\u00fc\u00dfe", "GR\u00dc\u00dfE", "m\u00fcnchen", "caf\u00e9",
         "cafe", "cr\u00e8me", "\u65e5\u672c\u8a9e", "\u65e5\u672c",
         "\u672c", "\u00fc", "\u00df", "\u0391\u03b8\u03ae\u03bd\u03b1",
         "\u0391\u0398\u0397\u039d\u0391", "strasse", "stra\u00dfe",
         "\u4e2d\u6587", "\u6587", "\u201cquoted\u201d", "\u20ac",
         "hello world", "hello", "secretword", "secret.bin", "hidden",
         "inner text", "inner subject", "alpha", "beta", "tracking",
         "x-tracking: abc", "subject: inside", "subject: re",
         "from: ", "to: ", "content-type: text", "zzqqxx",
         "needle-not-there", "a", "e", "th", "ab", "q", " ", "@", ".",
         "example", "m\u00fcller", "jurgen", "j\u00fcrgen", "yamada"]
HEADER_KEYS = ["FROM", "TO", "CC", "SUBJECT", "HEADER Message-ID",
               "HEADER Received", "HEADER Content-Type", "BCC"]


def lit(s):
    b = s.encode("utf-8") if isinstance(s, str) else s
    return b"{%d+}\r\n" % len(b) + b


def split_mbox(data):
    msgs = []
    for chunk in re.split(rb"(?:^|\n)From [^\n]*\n", data):
        if chunk.strip():
            msgs.append(chunk if chunk.endswith(b"\n") else chunk + b"\n")
    return msgs


def corpus(count, seed):
    with tempfile.NamedTemporaryFile(suffix=".mbox") as f:
        subprocess.run([sys.executable, GEN, f.name, str(count), str(seed)],
                       check=True)
        with open(f.name, "rb") as g:
            return split_mbox(g.read())


def needles(rng, msgs, n):
    """Random substrings of the messages (1-24 bytes of printable,
    often straddling a part boundary or a header/body edge), the fixed
    words above, and words of the corpus."""
    out = list(WORDS)
    while len(out) < n:
        m = rng.choice(msgs)
        k = rng.choice([1, 2, 3, 4, 5, 8, 12, 24])
        at = rng.randrange(max(1, len(m) - k))
        s = m[at:at + k]
        try:
            s = s.decode("utf-8")
        except UnicodeDecodeError:
            continue
        s = s.replace("\r", " ").replace("\n", " ")
        if s.strip() and '"' not in s:
            out.append(s)
    return out[:n]


def queries(rng, msgs, n):
    """SEARCH programs (bytes after "UID SEARCH CHARSET UTF-8 ")."""
    ns = needles(rng, msgs, n)
    out = []
    for i, s in enumerate(ns):
        r = i % 9
        t = rng.choice(ns)
        if r in (0, 1):
            out.append(b"TEXT " + lit(s))
        elif r == 2:
            out.append(b"BODY " + lit(s))
        elif r == 3:
            out.append(rng.choice(HEADER_KEYS).encode() + b" " + lit(s))
        elif r == 4:
            out.append(b"NOT TEXT " + lit(s))
        elif r == 5:
            out.append(b"OR BODY " + lit(s) + b" SUBJECT " + lit(t))
        elif r == 6:
            out.append(b"TEXT " + lit(s) + b" NOT BODY " + lit(t))
        elif r == 7:
            out.append(b"SEEN OR TEXT " + lit(s) + b" FROM " + lit(t))
        else:
            out.append(b"NOT (OR TEXT " + lit(s) + b" NOT BODY " + lit(t) +
                       b") UNDELETED")
    return out


class FtsEquivalence(unittest.TestCase):
    LOCATION = "maildir:~/Maildir"

    def setUp(self):
        self.server = MoatServer(
            extra_conf="mail_location = %s\n" % self.LOCATION,
            listeners=("starttls",)).start()
        self.addCleanup(self.server.stop)
        self.home = self.server.homes["alice"]
        self.uid = USERS["alice"][1]
        self.fts = True
        self.reloads = 0
        self.ext_n = 0

    # -- helpers -------------------------------------------------------
    def set_fts(self, on):
        if on == self.fts:
            return
        with open(self.server.conf_path) as f:
            conf = f.read()
        conf = re.sub(r"\nsearch_fts = \w+\n", "\n", conf)
        if not on:
            conf += "\nsearch_fts = no\n"
        with open(self.server.conf_path, "w") as f:
            f.write(conf)
        self.reloads += 1
        os.kill(self.server.proc.pid, signal.SIGHUP)
        deadline = time.time() + 10
        while self.server.read_log().count("configuration reloaded") < \
                self.reloads:
            self.assertLess(time.time(), deadline, "no reload")
            time.sleep(0.05)
        self.fts = on

    def session(self, box="INBOX"):
        c = raw_login(self.server)
        lines = c.cmd("s", "SELECT " + box)
        self.assertTrue(lines[-1].startswith("s OK"), lines)
        return c

    def logout(self, c):
        c.cmd("z", "LOGOUT")
        c.close()

    def run_queries(self, qs, box="INBOX"):
        c = self.session(box)
        out = []
        for i, q in enumerate(qs):
            tag = b"q%d" % i
            c.send(tag + b" UID SEARCH CHARSET UTF-8 " + q + b"\r\n")
            got = None
            while True:
                line = c.readline()
                if line.startswith("* SEARCH"):
                    got = sorted(int(x) for x in line[8:].split())
                elif line.startswith(tag.decode() + " "):
                    self.assertTrue(line.startswith(tag.decode() + " OK"),
                                    (q, line))
                    break
            out.append(got)
        self.logout(c)
        return out

    def search_costs(self):
        """Sums of the sessions' "search: index=N read=M" so far."""
        idx = rd = 0
        for m in re.finditer(r"search: index=(\d+) read=(\d+)",
                             self.server.read_log()):
            idx += int(m.group(1))
            rd += int(m.group(2))
        return idx, rd

    def compare(self, qs, box="INBOX"):
        """The answers with the index and without are the same; returns
        (index decisions, reads) of the run with the index."""
        self.set_fts(True)
        i0, r0 = self.search_costs()
        with_idx = self.run_queries(qs, box)
        time.sleep(0.2)
        i1, r1 = self.search_costs()
        self.set_fts(False)
        without = self.run_queries(qs, box)
        time.sleep(0.2)
        i2, r2 = self.search_costs()
        self.assertEqual(i2, i1, "the index was asked with search_fts=no")
        for q, a, b in zip(qs, with_idx, without):
            self.assertEqual(a, b, q)
        self.assertGreater(sum(len(a or []) for a in with_idx), 0)
        return i1 - i0, r1 - r0

    def append(self, msgs, box="INBOX"):
        c = raw_login(self.server)
        for i, m in enumerate(msgs):
            c.send(b"a%d APPEND %s {%d+}\r\n" % (i, box.encode(), len(m)) +
                   m + b"\r\n")
            lines = c.read_until_tagged("a%d" % i)
            self.assertTrue(lines[-1].startswith("a%d OK" % i), lines)
        self.logout(c)

    def deliver_files(self, msgs):
        """As another MDA: straight into Maildir/new (never indexed
        on arrival)."""
        new = os.path.join(self.home, "Maildir", "new")
        for m in msgs:
            self.ext_n += 1
            name = os.path.join(new, "%d.M%dP1.ext" % (1700000000 +
                                                        self.ext_n,
                                                        self.ext_n))
            with open(name + ".tmp", "wb") as f:
                f.write(m.replace(b"\r\n", b"\n"))
            if IS_ROOT:
                os.chown(name + ".tmp", self.uid, self.uid)
            os.rename(name + ".tmp", name)

    def test_equivalence(self):
        rng = random.Random(7)
        gen = corpus(70, 7)
        big = (b"Subject: over the index limit\r\n\r\n" +
               b"lorem ipsum dolor " * 70000 + b"bigneedle\r\n")
        # Half through APPEND (indexed on arrival), half as files another
        # MDA wrote (indexed by the first SEARCH that needs them), and a
        # text over IDX_FTS_TEXT_MAX, which is always read.
        first = gen[:35] + HARD + [big]
        self.append(first)
        self.deliver_files(gen[35:])
        c = self.session()
        c.cmd("f", "UID STORE 1:20 +FLAGS (\\Seen)")
        self.logout(c)
        all_msgs = gen + HARD
        t0 = time.monotonic()
        qs = queries(rng, all_msgs, 120)
        used, read = self.compare(qs)
        # TEXT is decided by the index alone; BODY and header keys
        # read only the candidates it names.
        self.assertGreater(used, read,
                           "the index decided too little: %d/%d" %
                           (used, read))
        t1 = time.monotonic()

        # More mail (APPEND and files), COPY to another folder, expunges.
        self.append([m.replace(b"Subject:", b"Subject: again")
                     for m in HARD] + gen[:10])
        self.deliver_files(gen[10:20])
        c = self.session()
        self.assertTrue(c.cmd("k", "CREATE Other")[-1].startswith("k OK"))
        self.assertTrue(c.cmd("k", "UID COPY 1:30 Other")[-1]
                        .startswith("k OK"))
        self.assertTrue(c.cmd("k", "UID MOVE 31:40 Other")[-1]
                        .startswith("k OK"))
        gone = sorted(rng.sample(range(41, 90), 15))
        c.cmd("d", "UID STORE %s +FLAGS.SILENT (\\Deleted)" %
              ",".join(map(str, gone)))
        self.assertTrue(c.cmd("e", "EXPUNGE")[-1].startswith("e OK"))
        self.logout(c)
        qs2 = queries(rng, all_msgs, 60)
        self.compare(qs2)
        self.compare(qs2[:30], box="Other")
        t2 = time.monotonic()

        # A session killed while it indexes (a SEARCH filling the
        # index for 200 new files): the next ones answer the same.
        self.set_fts(True)
        self.deliver_files([m.replace(b"Message-ID: <", b"Message-ID: <k")
                            for m in (gen * 3)[:200]])
        before = set(self.server.pids_named("imap"))
        c = self.session()
        pid = max(set(self.server.pids_named("imap")) - before)
        c.send(b"x UID SEARCH TEXT zzqqxx\r\n")
        time.sleep(0.3)
        os.kill(pid, signal.SIGKILL)
        c.close()
        qs3 = queries(rng, all_msgs, 60)
        self.compare(qs3)
        t3 = time.monotonic()
        print("\n  fts equivalence: %d+%d+%d queries, %.1f+%.1f+%.1f s" % (
            len(qs), len(qs2) + 30, len(qs3), t1 - t0, t2 - t1, t3 - t2),
            file=sys.stderr)


class FtsEquivalenceMbox(FtsEquivalence):
    """The same on mbox (served form: CRLF, hidden status fields),
    APPEND only."""
    LOCATION = "mbox:~/mail:INBOX=~/inbox"

    def deliver_files(self, msgs):
        self.append(msgs)

    def test_equivalence(self):
        rng = random.Random(11)
        gen = corpus(30, 11)
        status = [m.replace(b"Subject:", b"Status: RO\r\nX-UID: 77\r\n"
                            b"Subject:", 1) for m in gen[:5]]
        self.append(gen + HARD + status)
        qs = queries(rng, gen + HARD, 60) + [
            b"TEXT " + lit("status: ro"), b"HEADER X-UID " + lit("77"),
            b"TEXT " + lit("x-uid")]
        used, read = self.compare(qs)
        self.assertGreater(used, read)
        c = self.session()
        c.cmd("d", "UID STORE 2:9 +FLAGS.SILENT (\\Deleted)")
        self.assertTrue(c.cmd("e", "EXPUNGE")[-1].startswith("e OK"))
        self.logout(c)
        self.compare(qs[:30])


if __name__ == "__main__":
    unittest.main()


def proc_kb(pid, key):
    """A "VmRSS"-style field of /proc/PID/status, in kB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


class FtsMemory(unittest.TestCase):
    """Issue 7 Done 5: a session's peak RSS stays bounded while SEARCH
    TEXT (the index asked, then filled, then the rest read) runs over a
    50 MB message and over 10,000 messages, and FETCH BODY[] serves the
    50 MB one. The mail is written straight into the Maildir."""

    def setUp(self):
        self.server = MoatServer(listeners=("starttls",)).start()
        self.addCleanup(self.server.stop)
        self.home = self.server.homes["alice"]
        c = raw_login(self.server)
        c.cmd("s", "SELECT INBOX")     # makes the Maildir
        c.cmd("z", "LOGOUT")
        c.close()

    def write(self, name, data):
        path = os.path.join(self.home, "Maildir", "cur", name)
        with open(path, "wb") as f:
            f.write(data)
        if IS_ROOT:
            os.chown(path, USERS["alice"][1], USERS["alice"][1])

    def session(self):
        before = set(self.server.pids_named("imap"))
        c = raw_login(self.server)
        self.addCleanup(c.close)
        pid = max(set(self.server.pids_named("imap")) - before)
        lines = c.cmd("s", "SELECT INBOX")
        self.assertTrue(lines[-1].startswith("s OK"), lines)
        return c, pid

    def search(self, c, tag, text):
        lines = c.cmd(tag, "UID SEARCH " + text)
        self.assertTrue(lines[-1].startswith(tag + " OK"), lines)
        return [int(x) for ln in lines if ln.startswith("* SEARCH")
                for x in ln[8:].split()]

    def test_big_message(self):
        line = b"abcdefghij=3D=C3=A9 " * 3 + b"=\n"
        n = (50 << 20) // len(line)
        self.write("1700000000.M1P1.big:2,",
                   b"Subject: big\nContent-Type: text/plain; charset=utf-8"
                   b"\nContent-Transfer-Encoding: quoted-printable\n\n" +
                   line * n + b"LAST=\nNEEDLE\n")
        self.write("1700000001.M2P1.small:2,",
                   b"Subject: small\n\nlastneedle too\n")
        c, pid = self.session()
        base = proc_kb(pid, "VmRSS")
        t = time.monotonic()
        self.assertEqual(self.search(c, "a", "TEXT lastneedle"), [1, 2])
        self.assertEqual(self.search(c, "b", "BODY nowhere"), [])
        # FETCH BODY[] of the 50 MB message, read and thrown away.
        c.send(b"f UID FETCH 1 BODY.PEEK[]\r\n")
        got = 0
        while True:
            chunk = c.sock.recv(1 << 20)
            self.assertTrue(chunk)
            got += len(chunk)
            c.buf = (c.buf + chunk)[-64:]
            if b"\r\nf OK" in c.buf:
                break
        self.assertGreater(got, 50 << 20)
        hwm = proc_kb(pid, "VmHWM")
        self.assertLess(hwm - base, (160 if SANITIZED else 24) * 1024,
                        "session grew from %d kB to a peak of %d kB" %
                        (base, hwm))
        print("\n  50 MB: peak +%d kB, %.1f s" % (
            hwm - base, time.monotonic() - t), file=sys.stderr)

    def test_many_messages(self):
        rng = random.Random(3)
        words = ("alpha beta gamma delta mail server index search "
                 "kernel patch \u00fcber caf\u00e9 \u65e5\u672c").split()
        for i in range(10000):
            body = " ".join(rng.choice(words) for _ in range(60))
            self.write("%d.M%dP1.gen:2,S" % (1700000000 + i, i),
                       ("From: user%d <u%d@example.org>\nSubject: msg %d "
                        "%s\n\n%s\n" % (i % 97, i % 97, i, rng.choice(words),
                                        body)).encode())
        c, pid = self.session()
        base = proc_kb(pid, "VmRSS")
        t = time.monotonic()
        # The first text SEARCH indexes a bounded share and reads the
        # rest; later ones find more in the index (idle ticks add more).
        n1 = len(self.search(c, "a", "TEXT zzqqxx"))
        n2 = len(self.search(c, "b", "BODY \"patch kernel\""))
        n3 = len(self.search(c, "c", "FROM user42"))
        self.assertEqual(n1, 0)
        self.assertGreater(n2, 0)
        self.assertGreater(n3, 0)
        hwm = proc_kb(pid, "VmHWM")
        self.assertLess(hwm - base, (512 if SANITIZED else 32) * 1024,
                        "session grew from %d kB to a peak of %d kB" %
                        (base, hwm))
        print("\n  10,000: peak +%d kB, %.1f s" % (
            hwm - base, time.monotonic() - t), file=sys.stderr)
