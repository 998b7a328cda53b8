"""LMTP delivery (RFC 2033) against a real moatd: moat-lmtp on a UNIX
socket, driven by Python's smtplib.LMTP and by raw sockets, delivering
into Maildir and mbox stores that IMAP then reads; moat-deliver too.

Issue 10, "Done means" 2: a kill -9 during delivery never acknowledges a
message that is not on disk and never loses one that was acknowledged;
a bad recipient, a bad command and an oversized message get the right
reply codes."""

import os
import random
import smtplib
import socket
import stat
import subprocess
import threading
import time
import unittest

from moatenv import (BUILDDIR, IS_ROOT, USERS, MoatServer, as_user,
                     imap_connect, store_test_classes)
from postfixenv import POSTFIX, read_log, start_postfix

LMTP = os.path.join(BUILDDIR, "lmtp", "lmtp")
DELIVER = os.path.join(BUILDDIR, "lmtp", "moat-deliver")


def message(subject, body="hello\r\n", extra=""):
    return ("From: a@example.org\r\nTo: alice@example.org\r\n"
            "Subject: %s\r\nMessage-ID: <%s@test>\r\n%s\r\n%s" % (
                subject, subject, extra, body)).encode()


class Raw:
    """A raw LMTP connection: send bytes, read reply lines."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(20)
        self.s.connect(path)
        self.f = self.s.makefile("rb")

    def line(self):
        return self.f.readline().decode().rstrip("\r\n")

    def reply(self):
        """One (possibly multi-line) reply: its lines."""
        lines = [self.line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self.line())
        return lines

    def send(self, data):
        self.s.sendall(data if isinstance(data, bytes) else data.encode())

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.reply()[-1]

    def close(self):
        self.f.close()
        self.s.close()


class Base:
    LOCATION = None
    EXTRA = ""

    def setUp(self):
        self.server = MoatServer(
            programs={"lmtp": LMTP}, listeners=("starttls",))
        self.sock = os.path.join(self.server.dir, "lmtp.sock")
        self.server.extra_conf = (
            "mail_location = %s\nlmtp_socket = %s\n"
            "lmtp_socket_mode = 0600\n%s" % (self.LOCATION, self.sock,
                                             self.EXTRA))
        self.server.start()
        self.addCleanup(self.server.stop)
        self.assertTrue(self.server.wait_log("LMTP ready", 10),
                        self.server.read_log())
        if self.STORE == "mbox":
            # The MTA made the INBOX file long ago; the mail folder is
            # the user's.
            for user in ("alice", "bob"):
                home = self.server.homes[user]

                def mk(home=home):
                    open(os.path.join(home, "inbox"), "a").close()
                    os.makedirs(os.path.join(home, "mail"), exist_ok=True)
                as_user(mk, user)

    def lmtp(self):
        c = smtplib.LMTP(self.sock, timeout=30)
        self.addCleanup(c.close)
        return c

    def raw(self):
        r = Raw(self.sock)
        self.addCleanup(r.close)
        greeting = r.reply()
        self.assertTrue(greeting[0].startswith("220 "), greeting)
        return r

    def inbox_files(self, user):
        home = self.server.homes[user]
        if self.STORE == "mbox":
            return [os.path.join(home, "inbox")]
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(home, "Maildir", sub)
            if os.path.isdir(d):
                out += [os.path.join(d, n) for n in os.listdir(d)]
        return out

    def fetch_all(self, user="alice"):
        m = imap_connect(self.server, user)
        try:
            typ, data = m.select("INBOX")
            self.assertEqual(typ, "OK")
            n = int(data[0])
            if n == 0:
                return []
            typ, data = m.fetch("1:*", "(UID BODY.PEEK[])")
            self.assertEqual(typ, "OK")
            return [d[1] for d in data if isinstance(d, tuple)]
        finally:
            m.logout()

    def uidnext(self, user="alice"):
        m = imap_connect(self.server, user)
        try:
            typ, data = m.status("INBOX", "(UIDNEXT)")
            return int(data[0].split(b"UIDNEXT ")[1].rstrip(b")"))
        finally:
            m.logout()

    # -- the protocol ---------------------------------------------------
    def test_lhlo_capabilities(self):
        c = self.lmtp()
        code, text = c.ehlo("mx.example.org")  # smtplib.LMTP sends LHLO
        self.assertEqual(code, 250)
        for cap in (b"PIPELINING", b"ENHANCEDSTATUSCODES", b"8BITMIME",
                    b"SIZE"):
            self.assertIn(cap, text)

    def test_per_recipient_replies_and_delivery_as_the_user(self):
        next_alice = self.uidnext("alice")
        r = self.raw()
        r.cmd("LHLO x.org")
        self.assertEqual(r.cmd("MAIL FROM:<sender@example.org>")[:3], "250")
        self.assertEqual(r.cmd("RCPT TO:<alice@example.org>")[:9],
                         "250 2.1.5")
        # RFC 2033 4.2: an unknown user is refused at RCPT.
        self.assertEqual(r.cmd("RCPT TO:<nosuchuser@example.org>")[:9],
                         "550 5.1.1")
        self.assertEqual(r.cmd("RCPT TO:<bob@example.org>")[:9],
                         "250 2.1.5")
        self.assertEqual(r.cmd("DATA")[:3], "354")
        r.send(message("multi") + b".\r\n")
        # One reply per accepted recipient, in RCPT order (smtplib's
        # LMTP.sendmail reads only the first, so the test speaks raw).
        replies = [r.reply()[-1] for _ in range(2)]
        self.assertEqual([x[:9] for x in replies], ["250 2.0.0"] * 2)
        self.assertIn("<alice@example.org>", replies[0])
        self.assertIn("<bob@example.org>", replies[1])
        for user in ("alice", "bob"):
            files = self.inbox_files(user)
            self.assertEqual(len(files), 1, "%s: %s" % (user, list(
                os.walk(self.server.homes[user]))))
            st = os.stat(files[0])
            if IS_ROOT:
                self.assertEqual((st.st_uid, st.st_gid),
                                 (USERS[user][1], USERS[user][1]))
            self.assertEqual(stat.S_IMODE(st.st_mode) & 0o077, 0,
                             oct(st.st_mode))
        msgs = self.fetch_all("alice")
        self.assertEqual(len(msgs), 1)
        self.assertTrue(msgs[0].startswith(
            b"Return-Path: <sender@example.org>\r\n"
            b"Delivered-To: <alice@example.org>\r\n"), msgs[0][:200])
        self.assertIn(b"Subject: multi", msgs[0])
        # The index learned it at delivery: the next UID, no rescan.
        self.assertEqual(self.uidnext("alice"), next_alice + 1)

    def test_dot_stuffing(self):
        c = self.lmtp()
        body = "line\r\n.\r\n..two\r\n.three\r\n"
        # smtplib stuffs the leading dots; we must take them out again.
        c.sendmail("s@example.org", ["alice@example.org"],
                   message("dots", body))
        msg = self.fetch_all()[0]
        self.assertTrue(msg.endswith(b"\r\nline\r\n.\r\n..two\r\n.three\r\n"),
                        msg)

    def test_bare_lf_message(self):
        r = self.raw()
        r.cmd("LHLO x.org")
        self.assertEqual(r.cmd("MAIL FROM:<s@x.org>")[:3], "250")
        self.assertEqual(r.cmd("RCPT TO:<alice@x.org>")[:3], "250")
        self.assertEqual(r.cmd("DATA")[:3], "354")
        r.send(b"Subject: lf\n\nbody\n..dot\n.\n")
        self.assertEqual(r.reply()[-1][:9], "250 2.0.0")
        self.assertTrue(self.fetch_all()[0].endswith(
            b"Subject: lf\r\n\r\nbody\r\n.dot\r\n"))

    def test_bad_command_sequences(self):
        r = self.raw()
        self.assertEqual(r.cmd("MAIL FROM:<a@b.c>")[:9], "503 5.5.1")
        self.assertEqual(r.cmd("HELO x.org")[:9], "500 5.5.1")
        self.assertEqual(r.cmd("EHLO x.org")[:9], "500 5.5.1")
        self.assertEqual(r.cmd("LHLO x.org")[:3], "250")
        self.assertEqual(r.cmd("RCPT TO:<alice@x.org>")[:9], "503 5.5.1")
        self.assertEqual(r.cmd("DATA")[:9], "503 5.5.1")
        self.assertEqual(r.cmd("FOO bar")[:9], "500 5.5.1")
        self.assertEqual(r.cmd("MAIL FROM:alice")[:9], "501 5.1.7")
        self.assertEqual(r.cmd("MAIL FROM:<a@b.c> XYZ=1")[:9], "555 5.5.4")
        self.assertEqual(r.cmd("MAIL FROM:<a@b.c>")[:9], "250 2.1.0")
        self.assertEqual(r.cmd("MAIL FROM:<a@b.c>")[:9], "503 5.5.1")
        self.assertEqual(r.cmd("RCPT TO:<a b>")[:9], "501 5.1.3")
        self.assertEqual(r.cmd("RCPT TO:<ghost@x.org>")[:9], "550 5.1.1")
        # RFC 2033 4.2: DATA with no accepted recipient is 503.
        self.assertEqual(r.cmd("DATA")[:9], "503 5.5.1")
        self.assertEqual(r.cmd("VRFY alice")[:3], "252")
        self.assertEqual(r.cmd("NOOP")[:9], "250 2.0.0")
        self.assertEqual(r.cmd("RSET")[:9], "250 2.0.0")
        self.assertEqual(r.cmd("RCPT TO:<alice@x.org>")[:9], "503 5.5.1")
        self.assertEqual(r.cmd("DATA extra")[:9], "501 5.5.4")
        self.assertEqual(r.cmd("QUIT")[:9], "221 2.0.0")
        self.assertEqual(self.inbox_files("alice") if self.STORE ==
                         "maildir" else [], [])

    def test_quoted_sender_with_space(self):
        r = self.raw()
        r.cmd("LHLO x.org")
        self.assertEqual(r.cmd('MAIL FROM:<"john doe"@x.org>')[:3], "250")
        self.assertEqual(r.cmd("RCPT TO:<alice@x.org>")[:3], "250")
        self.assertEqual(r.cmd("DATA")[:3], "354")
        r.send(message("quoted") + b".\r\n")
        self.assertEqual(r.reply()[-1][:9], "250 2.0.0")
        self.assertTrue(self.fetch_all()[0].startswith(
            b'Return-Path: <"john doe"@x.org>\r\n'))

    def test_line_too_long(self):
        r = self.raw()
        r.send("NOOP " + "x" * 2000 + "\r\n")
        self.assertEqual(r.reply()[-1][:9], "500 5.5.2")
        self.assertEqual(r.line()[:3], "421")
        self.assertEqual(r.f.read(), b"")

    def test_pipelining(self):
        r = self.raw()
        # RFC 2920: everything in one write; the replies come in order,
        # one per command and one per recipient after the data.
        r.send("LHLO x.org\r\nMAIL FROM:<s@x.org>\r\n"
               "RCPT TO:<alice@x.org>\r\nRCPT TO:<nobody-here@x.org>\r\n"
               "RCPT TO:<bob@x.org>\r\nDATA\r\n"
               "Subject: piped\r\n\r\nbody\r\n.\r\nNOOP\r\nQUIT\r\n")
        codes = [r.reply()[-1][:9] for _ in range(9)]
        self.assertEqual(codes, ["250 SIZE ", "250 2.1.0", "250 2.1.5",
                                 "550 5.1.1", "250 2.1.5", "354 End d",
                                 "250 2.0.0", "250 2.0.0", "250 2.0.0"])
        self.assertEqual(r.reply()[-1][:9], "221 2.0.0")
        self.assertEqual(len(self.fetch_all("alice")), 1)
        self.assertEqual(len(self.fetch_all("bob")), 1)

    def test_too_many_recipients(self):
        r = self.raw()
        r.cmd("LHLO x.org")
        r.cmd("MAIL FROM:<s@x.org>")
        codes = [r.cmd("RCPT TO:<alice@x.org>")[:9] for _ in range(4)]
        # lmtp_max_recipients = 3 (EXTRA below)
        self.assertEqual(codes, ["250 2.1.5"] * 3 + ["452 4.5.3"])

    def test_oversized_message(self):
        r = self.raw()
        r.cmd("LHLO x.org")
        # RFC 1870: SIZE= over the limit is refused at MAIL.
        self.assertEqual(r.cmd("MAIL FROM:<s@x.org> SIZE=1000000")[:9],
                         "552 5.3.4")
        self.assertEqual(r.cmd("MAIL FROM:<s@x.org>")[:3], "250")
        r.cmd("RCPT TO:<alice@x.org>")
        r.cmd("RCPT TO:<bob@x.org>")
        self.assertEqual(r.cmd("DATA")[:3], "354")
        r.send(b"Subject: big\r\n\r\n" + (b"y" * 998 + b"\r\n") * 300 +
               b".\r\n")
        # One 552 per recipient, and the connection goes on.
        self.assertEqual([r.reply()[-1][:9] for _ in range(2)],
                         ["552 5.3.4", "552 5.3.4"])
        self.assertEqual(r.cmd("NOOP")[:3], "250")
        self.assertEqual(self.fetch_all("alice"), [])

    def test_socket_mode(self):
        st = os.stat(self.sock)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)

    @unittest.skipUnless(IS_ROOT, "needs root: privilege separation")
    def test_front_is_unprivileged(self):
        r = self.raw()
        procs = [p for p, n in self.server.descendants() if n == "lmtp"]
        uids = set()
        for pid in procs:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("Uid:"):
                        uids.add(int(line.split()[1]))
        # listener and monitor (root), the front (nobody).
        import pwd
        self.assertIn(pwd.getpwnam("nobody").pw_uid, uids)
        r.cmd("QUIT")

    # -- Done means 2: kill -9 during delivery ----------------------------
    @unittest.skipUnless(IS_ROOT, "needs root: delivery processes by uid")
    def test_kill9_during_delivery_never_acks_a_missing_message(self):
        rng = random.Random(10)
        acked, unacked = [], []
        big = ("z" * 998 + "\r\n") * 100          # 100 kB
        for i in range(16):
            subject = "kill%02d" % i
            result = {}

            def send():
                try:
                    c = smtplib.LMTP(self.sock, timeout=30)
                    c.sendmail("s@x.org", ["alice@x.org"],
                               message(subject, big))
                    result["ok"] = True
                    c.close()
                except (smtplib.SMTPException, OSError) as e:
                    result["err"] = e
            t = threading.Thread(target=send)
            t.start()
            # Kill the delivery process (it runs as alice) at a random
            # moment of its life, or the whole connection's monitor.
            deadline = time.time() + 5
            # Some kills land before the store is written, some after
            # the message is on disk, some after the reply (too late).
            # Every fourth delivery is left alone (it must be acked
            # and there once), every fourth killed as soon as it runs.
            delay = 0 if i % 4 == 0 else rng.uniform(0, 0.12)
            killed = i % 4 == 3
            while time.time() < deadline and t.is_alive() and not killed:
                for pid, name in self.server.descendants():
                    if name != "lmtp":
                        continue
                    try:
                        st = os.stat("/proc/%d" % pid)
                    except OSError:
                        continue
                    if st.st_uid == USERS["alice"][1]:
                        time.sleep(delay)
                        try:
                            os.kill(pid, 9)
                            killed = True
                        except OSError:
                            pass
                        break
                time.sleep(0.001)
            t.join(30)
            (acked if result.get("ok") else unacked).append(subject)
        msgs = self.fetch_all()
        counts = {}
        for m in msgs:
            for s in acked + unacked:
                if (b"Subject: %s\r\n" % s.encode()) in m:
                    counts[s] = counts.get(s, 0) + 1
                    self.assertTrue(m.endswith(big.encode()),
                                    "%s: truncated" % s)
        for s in acked:
            self.assertEqual(counts.get(s, 0), 1, "%s acknowledged" % s)
        for s in unacked:
            self.assertLessEqual(counts.get(s, 0), 1, s)
        # The test must have killed deliveries, not only watched them,
        # and some must have gone through.
        self.assertGreater(len(unacked), 0, "no delivery was killed")
        for i in range(3, 16, 4):
            self.assertIn("kill%02d" % i, acked)
        print("kill -9: %d acknowledged, %d refused" % (len(acked),
                                                          len(unacked)))

    # -- moat-deliver -----------------------------------------------------
    def run_deliver(self, user, data, *args):
        cmd = [DELIVER, "-c", self.server.conf_path] + list(args)
        if not IS_ROOT or user is None:
            return subprocess.run(cmd, input=data, capture_output=True)
        uid = USERS[user][1]

        def pre():
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        env = {"HOME": self.server.homes[user], "SENDER": "env@x.org"}
        return subprocess.run(cmd, input=data, capture_output=True,
                              preexec_fn=pre, env=env)

    @unittest.skipUnless(IS_ROOT, "needs root: runs as alice")
    def test_moat_deliver(self):
        # alice is a passwd-file user: moat-deliver finds the invoking
        # uid in the system database, so run it for a real one: none
        # exists for uid 5001, which it reports as EX_NOUSER (67).
        r = self.run_deliver("alice", message("md"))
        self.assertEqual(r.returncode, 67, r.stderr)
        # As root it refuses (EX_NOPERM, 77): an MTA must run it as the
        # recipient.
        r = self.run_deliver(None, message("md"))
        self.assertEqual(r.returncode, 77, r.stderr)


class DeliverSystemUser(unittest.TestCase):
    """moat-deliver for a real system user (nobody has a passwd entry):
    exit 0 and the message in INBOX; too big is 65; a broken config 75."""

    @unittest.skipUnless(IS_ROOT, "needs root")
    def test_deliver_as_system_user(self):
        import pwd
        import shutil
        import tempfile
        pw = pwd.getpwnam("nobody")
        d = tempfile.mkdtemp(prefix="moat-deliver-")
        self.addCleanup(shutil.rmtree, d, True)
        os.chmod(d, 0o755)
        home = os.path.join(d, "home")
        os.mkdir(home)
        os.chown(home, pw.pw_uid, pw.pw_gid)
        idx = os.path.join(d, "idx")
        os.mkdir(idx)
        os.mkdir(os.path.join(idx, "nobody"))
        os.chown(os.path.join(idx, "nobody"), pw.pw_uid, pw.pw_gid)
        conf = os.path.join(d, "moat.conf")
        with open(conf, "w") as f:
            f.write("listen = 127.0.0.1:1 none\n"
                    "mail_location = maildir:%s/Maildir\n"
                    "mail_index = %s/%%u\n"
                    "max_message_size = 4k\n" % (home, idx))
        os.chmod(conf, 0o644)

        def run(data, *args):
            def pre():
                os.setgroups([])
                os.setgid(pw.pw_gid)
                os.setuid(pw.pw_uid)
            return subprocess.run([DELIVER, "-c", conf] + list(args),
                                  input=data, capture_output=True,
                                  preexec_fn=pre)
        r = run(message("one"), "-f", "s@x.org", "-a", "nobody@x.org")
        self.assertEqual(r.returncode, 0, r.stderr)
        cur = os.path.join(home, "Maildir", "cur")
        files = os.listdir(cur)
        self.assertEqual(len(files), 1)
        st = os.stat(os.path.join(cur, files[0]))
        self.assertEqual(st.st_uid, pw.pw_uid)
        with open(os.path.join(cur, files[0]), "rb") as f:
            self.assertTrue(f.read().startswith(
                b"Return-Path: <s@x.org>\nDelivered-To: <nobody@x.org>\n"))
        # A missing folder: INBOX gets it.
        r = run(message("two"), "-m", "NoSuchFolder")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(os.listdir(cur)), 2)
        r = run(message("big", "x" * 8000))
        self.assertEqual(r.returncode, 65, r.stderr)
        r = run(message("bad"), "-f", "a\nb")
        self.assertEqual(r.returncode, 64, r.stderr)
        os.chmod(conf, 0o600)        # unreadable for nobody
        r = run(message("three"))
        self.assertEqual(r.returncode, 75, r.stderr)




@unittest.skipUnless(IS_ROOT and os.path.exists(POSTFIX),
                     "needs root and Debian's postfix (scripts/deps)")
class Postfix(unittest.TestCase):
    """Issue 10, Done means 1 (the LMTP part): Debian's Postfix, a
    private instance on 127.0.0.1 configured here (nothing in
    /etc/postfix changes), delivers through moat-lmtp's socket
    (local_transport = lmtp:unix:...); the message is read back over
    IMAP once, as the user, with Postfix's headers and ours."""

    def setUp(self):
        import pwd
        from moatenv import free_port
        self.server = MoatServer(programs={"lmtp": LMTP},
                                 listeners=("starttls",))
        d = self.server.dir
        sock = os.path.join(d, "lmtp.sock")
        self.server.extra_conf = (
            "lmtp_socket = %s\nlmtp_socket_user = postfix\n"
            "lmtp_socket_mode = 0600\n" % sock)
        self.server.start()
        self.addCleanup(self.server.stop)
        self.assertTrue(self.server.wait_log("LMTP ready", 10))
        self.assertEqual(os.stat(sock).st_uid, pwd.getpwnam("postfix").pw_uid)
        self.port = free_port()
        self.maillog = start_postfix(self, d, sock, self.port)

    def log(self):
        return read_log(self.maillog)

    def test_postfix_delivers_through_lmtp(self):
        import imaplib
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as c:
            refused = c.sendmail("sender@example.com", ["alice@example.org"],
                                 message("via-postfix"))
        self.assertEqual(refused, {})
        deadline = time.time() + 30
        msgs = []
        while time.time() < deadline:
            m = imap_connect(self.server, "alice")
            try:
                typ, data = m.select("INBOX")
                if typ == "OK" and int(data[0]) > 0:
                    typ, data = m.fetch("1:*", "(BODY.PEEK[])")
                    msgs = [x[1] for x in data if isinstance(x, tuple)]
                    break
            except imaplib.IMAP4.error:
                pass
            finally:
                m.logout()
            time.sleep(0.2)
        self.assertEqual(len(msgs), 1, self.log())
        self.assertTrue(msgs[0].startswith(
            b"Return-Path: <sender@example.com>\r\n"
            b"Delivered-To: <alice@example.org>\r\n"), msgs[0][:300])
        self.assertIn(b"Received: from", msgs[0])       # Postfix's
        self.assertIn(b"Subject: via-postfix", msgs[0])
        # Once: Postfix got 250 and does not retry.
        time.sleep(1)
        m = imap_connect(self.server, "alice")
        try:
            self.assertEqual(m.select("INBOX")[1][0], b"1")
        finally:
            m.logout()
        files = []
        for sub in ("new", "cur"):
            dd = os.path.join(self.server.homes["alice"], "Maildir", sub)
            files += [os.path.join(dd, n) for n in os.listdir(dd)]
        self.assertEqual(os.stat(files[0]).st_uid, USERS["alice"][1])
        self.assertIn("status=sent", self.log())


class SystemAccounts(unittest.TestCase):
    """With the pam backend, recipients are system users (NSS); the
    accounts that may not log in (uid 0, login_user, below
    first_valid_uid) get no mail either: 550 5.1.1, as unknown."""

    @unittest.skipUnless(IS_ROOT, "needs root: the real account policy")
    def test_refused_accounts_are_unknown(self):
        server = MoatServer(programs={"lmtp": LMTP}, listeners=("starttls",),
                            backends="passwd-file pam")
        sock = os.path.join(server.dir, "lmtp.sock")
        server.extra_conf = "lmtp_socket = %s\n" % sock
        server.start()
        self.addCleanup(server.stop)
        self.assertTrue(server.wait_log("LMTP ready", 10))
        r = Raw(sock)
        self.addCleanup(r.close)
        r.reply()
        r.cmd("LHLO x.org")
        r.cmd("MAIL FROM:<s@x.org>")
        for user in ("root", "nobody", "daemon", "no-such-user-here"):
            self.assertEqual(r.cmd("RCPT TO:<%s@x.org>" % user)[:9],
                             "550 5.1.1", user)
        # The passwd-file user is still found first.
        self.assertEqual(r.cmd("RCPT TO:<alice@x.org>")[:9], "250 2.1.5")


class Timeout(unittest.TestCase):
    """lmtp_timeout: an idle client gets 421 4.4.2 and is closed."""

    def test_idle_client_is_closed(self):
        server = MoatServer(programs={"lmtp": LMTP}, listeners=("starttls",))
        sock = os.path.join(server.dir, "lmtp.sock")
        server.extra_conf = "lmtp_socket = %s\nlmtp_timeout = 1s\n" % sock
        server.start()
        self.addCleanup(server.stop)
        self.assertTrue(server.wait_log("LMTP ready", 10))
        r = Raw(sock)
        self.addCleanup(r.close)
        self.assertEqual(r.reply()[0][:3], "220")
        self.assertEqual(r.cmd("LHLO x.org")[:3], "250")
        start = time.time()
        self.assertEqual(r.line()[:9], "421 4.4.2")
        self.assertEqual(r.f.read(), b"")
        self.assertGreaterEqual(time.time() - start, 0.9)


class Spool(unittest.TestCase):
    """An mbox INBOX in a root:mail 2775 spool (as /var/mail): the
    delivery process, as the user, cannot write the directory, so its
    dotlock comes from liblockfile's setgid dotlockfile(1) through the
    helper, as an imap session's does (test_spool.py); the lock is taken
    (seen with inotify) and gone afterwards, and IMAP reads the mail."""

    @unittest.skipUnless(IS_ROOT, "needs root: privilege separation")
    def test_delivery_to_the_spool_takes_the_dotlock(self):
        import grp
        from test_spool import Inotify
        mail_gid = grp.getgrnam("mail").gr_gid
        server = MoatServer(programs={"lmtp": LMTP}, listeners=("starttls",))
        spool = os.path.join(server.dir, "spool")
        os.mkdir(spool)
        os.chown(spool, 0, mail_gid)
        os.chmod(spool, 0o2775)
        inbox = os.path.join(spool, "alice")
        fd = os.open(inbox, os.O_CREAT | os.O_WRONLY, 0o660)
        os.fchown(fd, USERS["alice"][1], mail_gid)
        os.close(fd)
        sock = os.path.join(server.dir, "lmtp.sock")
        server.extra_conf = ("mail_location = mbox:~/mail:INBOX=%s/%%u\n"
                             "lmtp_socket = %s\n" % (spool, sock))
        server.start()
        self.addCleanup(server.stop)
        self.assertTrue(server.wait_log("LMTP ready", 10))
        watch = Inotify(spool)
        self.addCleanup(watch.close)
        c = smtplib.LMTP(sock, timeout=30)
        self.addCleanup(c.close)
        self.assertEqual(c.sendmail("s@x.org", ["alice@x.org"],
                                    message("spool")), {})
        events = watch.events()
        self.assertIn(("create", "alice.lock"), events)
        self.assertIn(("delete", "alice.lock"), events)
        self.assertFalse(os.path.exists(inbox + ".lock"))
        with open(inbox, "rb") as f:
            data = f.read()
        self.assertTrue(data.startswith(b"From s@x.org "), data[:80])
        m = imap_connect(server, "alice")
        try:
            typ, d = m.select("INBOX")
            self.assertEqual(d[0], b"1")
        finally:
            m.logout()


class LmtpBase(Base):
    EXTRA = "lmtp_max_recipients = 3\nmax_message_size = 256k\n"


store_test_classes(globals(), LmtpBase, "Lmtp")


class DiskFull(unittest.TestCase):
    """ENOSPC on a small tmpfs as the Maildir: 452 4.2.2, not 250, and
    the client may retry (a temporary failure)."""

    @unittest.skipUnless(IS_ROOT, "mounting a tmpfs needs root")
    def test_enospc_is_temporary(self):
        server = MoatServer(programs={"lmtp": LMTP}, listeners=("starttls",))
        sock = os.path.join(server.dir, "lmtp.sock")
        server.extra_conf = ("mail_location = maildir:~/Maildir\n"
                             "lmtp_socket = %s\nmax_message_size = 2m\n"
                             % sock)
        server.start()
        root = os.path.join(server.homes["alice"], "Maildir")
        os.mkdir(root, 0o700)
        uid = USERS["alice"][1]
        os.chown(root, uid, uid)
        subprocess.run(["mount", "-t", "tmpfs", "-o",
                        "size=256k,mode=0700,uid=%d,gid=%d" % (uid, uid),
                        "moat-test", root], check=True)

        def cleanup():
            if server.proc.poll() is None:
                server.proc.terminate()
                server.proc.wait(timeout=10)
            if subprocess.run(["umount", root]).returncode != 0:
                subprocess.run(["umount", "-l", root])
            server.stop()
        self.addCleanup(cleanup)
        self.assertTrue(server.wait_log("LMTP ready", 10))
        c = smtplib.LMTP(sock, timeout=30)
        self.addCleanup(c.close)
        c.sendmail("s@x.org", ["alice@x.org"], message("small"))
        with self.assertRaises(smtplib.SMTPDataError) as cm:
            c.sendmail("s@x.org", ["alice@x.org"],
                       message("huge", ("q" * 998 + "\r\n") * 1000))
        self.assertEqual(cm.exception.smtp_code, 452)
        self.assertTrue(cm.exception.smtp_error.startswith(b"4.2.2"),
                        cm.exception.smtp_error)


if __name__ == "__main__":
    unittest.main()
