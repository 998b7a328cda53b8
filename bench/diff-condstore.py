#!/usr/bin/env python3
"""CONDSTORE/QRESYNC (RFC 7162) side by side with Debian's Dovecot: one
scripted scenario (two sessions, flag changes, an UNCHANGEDSINCE that
loses, expunges, a reconnect with SELECT ... (QRESYNC ...), UID FETCH
(CHANGEDSINCE VANISHED)) against both servers on a Maildir, and the
untagged FETCH/VANISHED lines and tagged results compared after
normalising what may differ (response texts, modseq values, \\Recent,
flag order). Root only (both servers run privilege-separated, as
bench-store.py starts them); needs dovecot-imapd (scripts/deps bench).
Prints both transcripts' normalised lines and the differences; exits 1
if there are any.

    build Moat, then: sudo bench/diff-condstore.py
"""
import difflib
import importlib.util
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "bench_store", os.path.join(HERE, "bench-store.py"))
bs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bs)

USER = "csuser"


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), 30)
        self.buf = b""
        self.line()
        self.cmd("L", "LOGIN %s %s" % (USER, bs.PASSWORD))

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError
            self.buf += d
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln.decode()

    def cmd(self, tag, text):
        self.sock.sendall(("%s %s\r\n" % (tag, text)).encode())
        out = []
        while True:
            ln = self.line()
            out.append(ln)
            if ln.startswith(tag + " "):
                return out

    def close(self):
        self.sock.close()


def value(lines, code):
    for ln in lines:
        m = re.search(r"\[%s (\d+)\]" % code, ln)
        if m:
            return int(m.group(1))
    raise KeyError(code)


def norm(lines):
    """What both must agree on: FETCH items (MODSEQ values and \\Recent
    dropped, flags sorted), VANISHED lines, EXISTS, tagged status and
    response code (MODIFIED with its set)."""
    out = []
    for ln in lines:
        m = re.match(r"\* (\d+) FETCH \((.*)\)$", ln)
        if m:
            items = m.group(2)
            items = re.sub(r"MODSEQ \(\d+\)", "MODSEQ", items)
            fl = re.search(r"FLAGS \(([^)]*)\)", items)
            if fl:
                flags = sorted(f for f in fl.group(1).split()
                               if f != "\\Recent")
                items = items.replace(fl.group(0),
                                      "FLAGS (%s)" % " ".join(flags))
            parts = sorted(re.findall(r"(UID \d+|FLAGS \([^)]*\)|MODSEQ)",
                                      items))
            out.append("* %s FETCH (%s)" % (m.group(1), " ".join(parts)))
        elif ln.startswith("* VANISHED") or ln.endswith(" EXISTS"):
            out.append(ln)
        elif re.match(r"^[a-z0-9]+ (OK|NO|BAD)", ln):
            tag, st = ln.split()[:2]
            code = re.search(r"\[(MODIFIED [^\]]*)\]", ln)
            out.append("%s %s%s" % (tag, st, " [%s]" % code.group(1)
                                    if code else ""))
    return out


def msg(i):
    return ("From: a@example.org\r\nSubject: d%d\r\nMessage-ID: "
            "<d%d@example.org>\r\n\r\nBody %d.\r\n" % (i, i, i))


def scenario(port):
    t = []
    x = Client(port)
    for i in range(1, 7):
        d = msg(i)
        x.cmd("ap", "APPEND INBOX {%d+}\r\n%s" % (len(d), d))
    x.close()
    a = Client(port)
    t += a.cmd("e", "ENABLE QRESYNC")
    sel = a.cmd("s", "SELECT INBOX")
    uv, h0 = value(sel, "UIDVALIDITY"), value(sel, "HIGHESTMODSEQ")
    t += a.cmd("f", "FETCH 1:* (UID)")
    b = Client(port)
    t += b.cmd("e", "ENABLE CONDSTORE")
    b.cmd("s", "SELECT INBOX")
    t += b.cmd("b1", "STORE 2 +FLAGS (\\Flagged)")
    t += b.cmd("b2", "STORE 3 +FLAGS.SILENT (\\Deleted)")
    t += b.cmd("b3", "EXPUNGE")
    t += a.cmd("n", "NOOP")
    t += a.cmd("c1", "STORE 1:2 (UNCHANGEDSINCE %d) +FLAGS.SILENT ($X)"
               % h0)
    t += a.cmd("c2", "UID STORE 4 (UNCHANGEDSINCE 0) +FLAGS ($Y)")
    t += a.cmd("c3", "FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % h0)
    a.cmd("l", "LOGOUT")
    a.close()
    t += b.cmd("b4", "STORE 4 +FLAGS (\\Seen)")
    t += b.cmd("b5", "STORE 5 +FLAGS.SILENT (\\Deleted)")
    t += b.cmd("b6", "EXPUNGE")
    b.close()
    c = Client(port)
    t += c.cmd("e", "ENABLE QRESYNC")
    t += c.cmd("q1", "SELECT INBOX (QRESYNC (%d %d))" % (uv, h0))
    t += c.cmd("q2", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)"
               % h0)
    t += c.cmd("q3", "SELECT INBOX (QRESYNC (%d %d 1:6 (1 1)))" % (uv, h0))
    c.close()
    return norm(t)


def main():
    if os.getuid() != 0:
        raise SystemExit("run as root")
    pw = pwd.getpwnam("moat-bench")
    uid, gid = pw.pw_uid, pw.pw_gid
    B = tempfile.mkdtemp(prefix="diff-condstore.")
    os.chmod(B, 0o755)
    hashed = subprocess.run(["openssl", "passwd", "-6", "-stdin"],
                            input=bs.PASSWORD.encode(), capture_output=True,
                            check=True).stdout.decode().strip()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-keyout", B + "/key.pem", "-out", B + "/cert.pem"],
                   capture_output=True, check=True)
    results = {}
    try:
        for name, cls in (("moat", bs.Moat), ("dovecot", bs.Dovecot)):
            srv = cls(name, B, uid, gid, {USER: "maildir"})
            h = srv.home(USER)
            os.makedirs(h + "/Maildir/cur")
            os.makedirs(h + "/Maildir/new")
            os.makedirs(h + "/Maildir/tmp")
            for root, dirs, files in os.walk(h):
                os.chown(root, uid, gid)
            srv.start(hashed)
            try:
                results[name] = scenario(srv.port)
            finally:
                srv.stop()
    finally:
        shutil.rmtree(B, ignore_errors=True)
    m, d = results["moat"], results["dovecot"]
    diff = list(difflib.unified_diff(m, d, "moat", "dovecot", lineterm="",
                                     n=len(m) + len(d)))
    print("\n".join(diff) if diff else "\n".join(m))
    diffs = sum(1 for ln in diff[2:] if ln[:1] in "+-")
    print("%d differing lines" % diffs)
    sys.exit(1 if diffs else 0)


if __name__ == "__main__":
    main()
