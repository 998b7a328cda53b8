#!/usr/bin/env python3
"""SORT and THREAD over a large mailbox, Moat against Debian's Dovecot
(root only; uses the build in ./build, or MOAT_BUILDDIR):

  python3 bench/sort-thread.py [COUNT]

The same mbox (COUNT small messages, default 100,000: threads of up to
8 by References, "Re:" subjects, 1 in 50 without a Date) is served by
both. Each command is timed on the client after a first warm-up SELECT;
the Moat session's peak RSS (VmHWM) is read from /proc.
"""
import imaplib
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "integration"))
from moatenv import USERS, MoatServer, free_port, imap_connect  # noqa
from moatenv import dovecot_conf, wait_port  # noqa: E402

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
CMDS = ["SORT (DATE) UTF-8 ALL", "SORT (SUBJECT) UTF-8 ALL",
        "SORT (FROM) UTF-8 ALL", "THREAD ORDEREDSUBJECT UTF-8 ALL",
        "THREAD REFERENCES UTF-8 ALL"]


def make_mbox(path, n):
    t0 = 1600000000
    with open(path, "wb") as f:
        for i in range(n):
            root = i - i % 8
            hdr = ["From: user%d <user%d@example.org>" % (i % 97, i % 97),
                   "To: list@example.org",
                   "Subject: %stopic %d" % ("Re: " if i != root else "",
                                           root // 8),
                   "Message-ID: <%d@example.org>" % i]
            if i % 50 != 7:
                hdr.append("Date: %s" % time.strftime(
                    "%a, %d %b %Y %H:%M:%S +0000",
                    time.gmtime(t0 + i * 60 + (i * 7919) % 3600)))
            if i != root:
                hdr.append("References: %s" % " ".join(
                    "<%d@example.org>" % j for j in range(root, i)))
            msg = "\n".join(hdr) + "\n\nbody of message %d\n" % i
            f.write(b"From user@example.org Mon Jan  1 00:00:00 2024\n")
            f.write(msg.encode())
            f.write(b"\n")


def vmhwm(uid):
    best = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/status" % pid) as f:
                st = f.read()
        except OSError:
            continue
        if "\nName:\timap\n" not in "\n" + st or \
                "\nUid:\t%d\t" % uid not in st:
            continue
        for line in st.splitlines():
            if line.startswith("VmHWM:"):
                best = max(best, int(line.split()[1]))
    return best


def timed(m, cmd):
    tag = m._new_tag().decode()
    t = time.monotonic()
    m.send(("%s %s\r\n" % (tag, cmd)).encode())
    size = 0
    while True:
        line = m.readline()
        size += len(line)
        if line.startswith(tag.encode() + b" "):
            assert b" OK " in line, line
            break
    return time.monotonic() - t, size


def run(m, label, uid=None):
    t = time.monotonic()
    m.select("INBOX")
    print("%-8s SELECT (first, builds the index) %.2f s" %
          (label, time.monotonic() - t))
    for c in CMDS:
        secs, size = timed(m, c)
        print("%-8s %-34s %6.2f s  %8d bytes" % (label, c, secs, size))
    if uid is not None:
        print("%-8s session peak RSS (VmHWM) %d kB" % (label, vmhwm(uid)))


def main():
    uid = USERS["alice"][1]
    server = MoatServer(extra_conf="mail_location = mbox:~/mail:INBOX=~/inbox\n",
                        listeners=("starttls",)).start()
    d = tempfile.mkdtemp(prefix="moat-sortbench-")
    dov = None
    try:
        home = server.homes["alice"]
        make_mbox(os.path.join(home, "inbox"), COUNT)
        os.makedirs(os.path.join(home, "mail"), exist_ok=True)
        for p in ("inbox", "mail"):
            os.chown(os.path.join(home, p), uid, uid)
        m = imap_connect(server, timeout=600)
        run(m, "moat", uid)
        m.logout()
        # Dovecot on a copy of the same mbox.
        os.chmod(d, 0o755)
        dhome = os.path.join(d, "home")
        os.makedirs(os.path.join(dhome, "mail"))
        for sub in ("run", "state"):
            os.makedirs(os.path.join(d, sub))
        make_mbox(os.path.join(dhome, "inbox"), COUNT)
        for p in ("", "inbox", "mail"):
            os.chown(os.path.join(dhome, p), uid, uid)
        with open(os.path.join(d, "passwd"), "w") as f:
            f.write("alice:{PLAIN}%s:%d:%d::%s::userdb_mail=mbox:~/mail:"
                    "INBOX=~/inbox\n" % (USERS["alice"][0], uid, uid, dhome))
        port = free_port()
        conf = os.path.join(d, "dovecot.conf")
        with open(conf, "w") as f:
            f.write(dovecot_conf(d, port, uid))
        dov = subprocess.Popen(["dovecot", "-F", "-c", conf],
                               env=dict(os.environ, TZ="UTC"))
        wait_port(port)
        m = imaplib.IMAP4("127.0.0.1", port, timeout=600)
        m.login("alice", USERS["alice"][0])
        run(m, "dovecot")
        m.logout()
    finally:
        server.stop()
        if dov is not None:
            dov.terminate()
            dov.wait(20)
        shutil.rmtree(d, True)


if __name__ == "__main__":
    main()
