#!/usr/bin/env python3
"""FETCH 1:* (ENVELOPE BODYSTRUCTURE) on a Maildir of COUNT messages
(multipart, with a forwarded message/rfc822 each), cold (first FETCH
after delivery: every message parsed and cached) and warm (served from
the index's cache database, no message file opened), through a real
moatd of the build in MOAT_BUILDDIR (default ./build), and the same on
Debian's Dovecot if installed (the timing includes imaplib's parsing on
the client, the same for both). Root only.
Usage: bench/bench-fetch.py [COUNT...]   (default 100 1000 10000)
"""
import os
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("MOAT_BUILDDIR", os.path.join(TOP, "build"))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
from moatenv import USERS, MoatServer, free_port, imap_connect  # noqa
import imaplib  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from moatenv import dovecot_conf, wait_port  # noqa: E402


def message(i):
    return ("From: Sender %d <s%d@example.com>\r\nTo: r@example.org\r\n"
            "Subject: message %d\r\nDate: Tue, 14 Nov 2023 10:00:00 +0100\r\n"
            "Message-ID: <%d@example.com>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
            "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n"
            "--b\r\nContent-Type: message/rfc822\r\n\r\n"
            "From: inner@example.net\r\nSubject: inner %d\r\n\r\n%s\r\n"
            "--b--\r\n" % (i, i, i, i, "text line\r\n" * 100, i,
                           "inner line\r\n" * 50)).encode()


def timed(m, items):
    t = time.monotonic()
    typ, data = m.fetch("1:*", items)
    assert typ == "OK", data
    return (time.monotonic() - t) * 1000


def deliver(new, count):
    uid = USERS["alice"][1]
    os.makedirs(new, exist_ok=True)
    for i in range(count):
        p = os.path.join(new, "%d.M%dP1.bench" % (1700000000 + i, i))
        with open(p, "wb") as f:
            f.write(message(i))
        os.chown(p, uid, uid)


def run_dovecot(count):
    """The same on Debian's Dovecot (its own cache: dovecot.index.cache)."""
    d = tempfile.mkdtemp(prefix="moat-bench-dovecot-")
    os.chmod(d, 0o755)
    uid = USERS["alice"][1]
    home = os.path.join(d, "home")
    for sub in ("run", "state", "home"):
        os.makedirs(os.path.join(d, sub))
    os.chown(home, uid, uid)
    with open(os.path.join(d, "passwd"), "w") as f:
        f.write("alice:{PLAIN}%s:%d:%d::%s::userdb_mail=maildir:~/Maildir\n"
                % (USERS["alice"][0], uid, uid, home))
    port = free_port()
    with open(os.path.join(d, "dovecot.conf"), "w") as f:
        f.write(dovecot_conf(d, port, uid))
    dv = subprocess.Popen(["dovecot", "-F", "-c",
                           os.path.join(d, "dovecot.conf")])
    try:
        wait_port(port)
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(home, "Maildir", sub), exist_ok=True)
            os.chown(os.path.join(home, "Maildir", sub), uid, uid)
        os.chown(os.path.join(home, "Maildir"), uid, uid)
        deliver(os.path.join(home, "Maildir", "new"), count)
        m = imaplib.IMAP4("127.0.0.1", port, timeout=120)
        m.login("alice", USERS["alice"][0])
        m.select("INBOX")
        items = "(ENVELOPE BODYSTRUCTURE)"
        cold = timed(m, items)
        warm = timed(m, items)
        m.logout()
        m = imaplib.IMAP4("127.0.0.1", port, timeout=120)
        m.login("alice", USERS["alice"][0])
        m.select("INBOX")
        fresh = timed(m, items)
        m.logout()
        print("%6d messages: cold %8.1f ms   warm %7.1f ms   "
              "warm, new session %7.1f ms   (dovecot)" % (count, cold, warm,
                                                          fresh))
    finally:
        dv.terminate()
        dv.wait(20)
        shutil.rmtree(d, True)


def run(count):
    server = MoatServer(extra_conf="mail_location = maildir:~/Maildir\n",
                        listeners=("starttls",)).start()
    try:
        m = imap_connect(server)
        m.select("INBOX")
        deliver(os.path.join(server.homes["alice"], "Maildir", "new"),
                count)
        m.noop()
        items = "(ENVELOPE BODYSTRUCTURE)"
        cold = timed(m, items)
        warm = timed(m, items)
        m.logout()
        m = imap_connect(server)
        m.select("INBOX")
        fresh = timed(m, items)
        m.logout()
        print("%6d messages: cold %8.1f ms   warm %7.1f ms   "
              "warm, new session %7.1f ms" % (count, cold, warm, fresh))
    finally:
        server.stop()


for n in [int(a) for a in sys.argv[1:]] or [100, 1000, 10000]:
    run(n)
    if shutil.which("dovecot"):
        run_dovecot(n)
