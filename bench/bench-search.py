#!/usr/bin/env python3
"""SEARCH TEXT / BODY / FROM with Moat's full-text index against Debian's
Dovecot (no fts plugin: it reads every message, with its cache for
headers), on the same Maildir. Root only (real privilege separation;
run from the source tree after building in ./build):

    python3 bench/bench-search.py [COUNT]     (default 10000)
    python3 bench/bench-search.py append      (the APPEND figure alone)

The mail: /work/shared/tools/gen-corpus.py COUNT 42, written into both
homes' Maildir/cur as another MDA would (so Moat indexes it lazily: the
"cold" column for Moat is the first SEARCH after SELECT, which indexes
what it can in 1 s and reads the rest). "fill" is the time until every
message is indexed (header SEARCHes in a loop, each indexing 1 s worth), and
"warm" the median of 5 runs afterwards. The indexing cost per message
on APPEND is the difference in the session's CPU time (and wall time)
of 200 APPENDs with search_fts = yes and no.
"""
import imaplib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
os.environ.setdefault("MOAT_BUILDDIR", os.path.join(TOP, "build"))

from moatenv import (USERS, MoatServer, dovecot_conf, free_port,  # noqa
                     wait_port)

COUNT = int(sys.argv[1]) if sys.argv[1:2] not in ([], ["append"]) else 10000
GEN = "/work/shared/tools/gen-corpus.py"
QUERIES = [
    ("TEXT rare", 'TEXT "<4711."'),
    ("TEXT word", "TEXT quarterly"),
    ("TEXT absent", "TEXT zzqqxx"),
    ("TEXT 2 chars", "TEXT qz"),
    ("BODY phrase", 'BODY "budget report"'),
    ("FROM", "FROM grace"),
    ("SUBJECT", "SUBJECT kernel"),
]


def corpus():
    with tempfile.NamedTemporaryFile(suffix=".mbox") as f:
        subprocess.run([sys.executable, GEN, f.name, str(COUNT), "42"],
                       check=True)
        with open(f.name, "rb") as g:
            data = g.read()
    return [c for c in re.split(rb"(?:^|\n)From [^\n]*\n", data) if c.strip()]


def fill_maildir(home, msgs, uid):
    md = os.path.join(home, "Maildir")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    for i, m in enumerate(msgs):
        p = os.path.join(md, "cur", "%d.M%dP1.bench:2,S" % (1700000000 + i,
                                                           i))
        with open(p, "wb") as f:
            f.write(m.replace(b"\r\n", b"\n"))
        os.chown(p, uid, uid)
    for dirpath, dirs, files in os.walk(home):
        os.chown(dirpath, uid, uid)


def timed(m, crit):
    t = time.monotonic()
    typ, data = m.search(None, crit)
    assert typ == "OK", data
    return time.monotonic() - t, len(data[0].split())


def measure(name, m, moat):
    t = time.monotonic()
    m.select("INBOX")
    out = {"select": time.monotonic() - t}
    for label, crit in QUERIES:
        out[label, "cold"] = timed(m, crit)
    if moat:
        t = time.monotonic()
        # Each text SEARCH indexes up to 1 s worth first; a header key
        # reads only the header of what is left, so this loop costs
        # about the indexing alone.
        while True:
            s, _ = timed(m, "HEADER X-Nothing zzqqxx")
            if s < 0.2:
                break
        out["fill"] = time.monotonic() - t
    for label, crit in QUERIES:
        runs = [timed(m, crit) for _ in range(5)]
        out[label, "warm"] = (statistics.median(r[0] for r in runs),
                              runs[0][1])
    return out


def cpu_s(pid):
    """utime + stime of a process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        st = f.read().rsplit(")", 1)[1].split()
    return (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")


def appends(server_conf_extra, n=200):
    srv = MoatServer(extra_conf=server_conf_extra,
                     listeners=("starttls",)).start()
    try:
        m = imaplib.IMAP4("127.0.0.1", srv.ports["starttls"])
        m.login("alice", USERS["alice"][0])
        m.select("INBOX")
        pid = srv.pids_named("imap")[0]
        msgs = corpus()[:n]
        cpu0, t = cpu_s(pid), time.monotonic()
        for x in msgs:
            m.append("INBOX", None, None, x)
        el, cpu = time.monotonic() - t, cpu_s(pid) - cpu0
        m.logout()
        return el / n, cpu / n
    finally:
        srv.stop()


def append_figures():
    (wy, cy), (wn, cn) = appends(""), appends("search_fts = no\n")
    return ("APPEND (200 messages of the corpus, fsync on; per message): "
            "wall %.1f ms with search_fts = yes, %.1f ms with no; session "
            "CPU %.2f ms and %.2f ms: indexing costs %.2f ms CPU per "
            "appended message" % (wy * 1000, wn * 1000, cy * 1000,
                                  cn * 1000, (cy - cn) * 1000))


def main():
    if sys.argv[1:2] == ["append"]:
        print(append_figures())
        return
    msgs = corpus()
    uid = USERS["alice"][1]
    res = {}
    srv = MoatServer(listeners=("starttls",)).start()
    try:
        fill_maildir(srv.homes["alice"], msgs, uid)
        m = imaplib.IMAP4("127.0.0.1", srv.ports["starttls"])
        m.login("alice", USERS["alice"][0])
        res["moat"] = measure("moat", m, True)
        m.logout()
    finally:
        srv.stop()
    d = tempfile.mkdtemp(prefix="bench-dovecot-")
    os.chmod(d, 0o755)
    home = os.path.join(d, "home")
    os.makedirs(home)
    for sub in ("run", "state"):
        os.makedirs(os.path.join(d, sub))
    with open(os.path.join(d, "passwd"), "w") as f:
        f.write("alice:{PLAIN}%s:%d:%d::%s::userdb_mail=maildir:~/Maildir\n"
                % (USERS["alice"][0], uid, uid, home))
    fill_maildir(home, msgs, uid)
    port = free_port()
    with open(os.path.join(d, "dovecot.conf"), "w") as f:
        f.write(dovecot_conf(d, port, uid))
    proc = subprocess.Popen(["dovecot", "-F", "-c",
                             os.path.join(d, "dovecot.conf")])
    try:
        wait_port(port)
        m = imaplib.IMAP4("127.0.0.1", port)
        m.login("alice", USERS["alice"][0])
        res["dovecot"] = measure("dovecot", m, False)
        m.logout()
    finally:
        proc.terminate()
        proc.wait()
        subprocess.run(["rm", "-rf", d])
    appended = append_figures()

    print("%d messages (gen-corpus.py %d 42), %s" % (
        COUNT, COUNT, time.strftime("%Y-%m-%d")))
    print()
    print("| SEARCH | hits | Moat cold | Moat warm | Dovecot cold | "
          "Dovecot warm |")
    print("|---|---|---|---|---|---|")
    for label, _ in QUERIES:
        mc, mw = res["moat"][label, "cold"], res["moat"][label, "warm"]
        dc, dw = res["dovecot"][label, "cold"], res["dovecot"][label, "warm"]
        hits = "%d" % mw[1] if mw[1] == dw[1] else "%d/%d" % (mw[1], dw[1])
        print("| %s | %s | %.0f ms | %.0f ms | %.0f ms | %.0f ms |" % (
            label, hits, mc[0] * 1000, mw[0] * 1000, dc[0] * 1000,
            dw[0] * 1000))
    print()
    print("SELECT (first): Moat %.2f s, Dovecot %.2f s; Moat's lazy "
          "indexing of all %d messages: %.1f s (%.1f ms per message)" % (
              res["moat"]["select"], res["dovecot"]["select"], COUNT,
              res["moat"]["fill"], res["moat"]["fill"] * 1000 / COUNT))
    print(appended)


if __name__ == "__main__":
    main()
