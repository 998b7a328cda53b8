"""Other IMAP clients from Debian against the mailbox commands, once per
built store: curl fetching a message by UID (RFC 5092 URL), and mbsync
(isync) syncing 1,000 messages from Moat to a local Maildir and back,
twice, with no duplicate and no loss (issue 6, "Done means" 2)."""

import email
import os
import re
import shutil
import subprocess
import tempfile

from moatenv import (MoatServer, imap_connect, store_test_classes)

N_MESSAGES = 1000


def message(i):
    return (b"From: sender%d@example.org\r\nTo: alice@example.org\r\n"
            b"Subject: message %d\r\nMessage-ID: <m%d@example.org>\r\n"
            b"\r\nThis is message %d.\r\n" % (i, i, i, i))


def maildir_ids(path):
    """Message-IDs of every message in a local Maildir (cur/ and new/)."""
    ids = []
    for sub in ("cur", "new"):
        d = os.path.join(path, sub)
        for name in os.listdir(d):
            with open(os.path.join(d, name), "rb") as f:
                ids.append(email.message_from_binary_file(f)["Message-ID"])
    return ids


def imap_ids(m, box):
    typ, data = m.select(box, readonly=True)
    assert typ == "OK", data
    if int(data[0]) == 0:
        return []
    typ, data = m.fetch("1:*", "(BODY.PEEK[])")
    assert typ == "OK", data
    return [email.message_from_bytes(d[1])["Message-ID"]
            for d in data if isinstance(d, tuple)]


class InteropTests:
    STORE = None
    LOCATION = None

    def setUp(self):
        self.server = MoatServer(
            extra_conf="mail_location = %s\n" % self.LOCATION,
            listeners=("tls", "starttls")).start()
        self.addCleanup(self.server.stop)
        self.tmp = tempfile.mkdtemp(prefix="moat-interop-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def fill(self, box, n, start=1):
        m = imap_connect(self.server)
        try:
            # MULTIAPPEND in batches: one command (and one fsync round)
            # per hundred messages.
            for base in range(start, start + n, 100):
                batch = [message(i) for i in
                         range(base, min(base + 100, start + n))]
                args = " ".join("{%d+}\r\n%s" % (len(b), b.decode())
                                for b in batch)
                typ, data = m._simple_command("APPEND", box, args)
                self.assertEqual(typ, "OK", data)
        finally:
            m.logout()

    def test_curl_fetch_by_uid(self):
        self.fill("INBOX", 3)
        url = "imap://127.0.0.1:%d/INBOX;UID=2" % self.server.ports[
            "starttls"]
        p = subprocess.run(["curl", "-sS", "--max-time", "20", "-u",
                            "alice:secret-a", url], capture_output=True,
                           timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, message(2))

    def mbsync(self, config, *channels):
        p = subprocess.run(["mbsync", "-c", config] + list(channels),
                           capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, (p.stdout, p.stderr,
                                           self.server.read_log()[-4000:]))
        return p

    def test_mbsync_round_trip(self):
        self.fill("INBOX", N_MESSAGES)
        local = os.path.join(self.tmp, "local")
        os.mkdir(local)
        config = os.path.join(self.tmp, "mbsyncrc")
        with open(config, "w") as f:
            f.write("""
IMAPAccount moat
# The certificate is for "localhost".
Host localhost
Port %(port)d
User alice
Pass secret-a
SSLType IMAPS
CertificateFile %(cert)s
PipelineDepth 50

IMAPStore moat
Account moat

MaildirStore local
Path %(local)s/
Inbox %(local)s/inbox

# Moat's INBOX down into the local Maildir ...
Channel down
Far :moat:INBOX
Near :local:INBOX
Sync Pull
Create Near
SyncState %(tmp)s/state-down-

# ... and the local Maildir back up into a new Moat folder.
Channel up
Far :moat:Restored
Near :local:INBOX
Sync Push
Create Far
SyncState %(tmp)s/state-up-
""" % {"port": self.server.ports["tls"], "cert": self.server.cert,
       "local": local, "tmp": self.tmp})
        want = sorted("<m%d@example.org>" % i
                      for i in range(1, N_MESSAGES + 1))
        for round_ in (1, 2):
            self.mbsync(config, "down")
            self.mbsync(config, "up")
            got_local = sorted(maildir_ids(os.path.join(local, "inbox")))
            self.assertEqual(got_local, want, "round %d: local" % round_)
            m = imap_connect(self.server)
            try:
                self.assertEqual(sorted(imap_ids(m, "INBOX")), want,
                                 "round %d: INBOX" % round_)
                self.assertEqual(sorted(imap_ids(m, "Restored")), want,
                                 "round %d: Restored" % round_)
            finally:
                m.logout()
        # A flag set locally reaches Moat, and a message new on Moat
        # reaches the Maildir, on the next sync.
        self.fill("INBOX", 1, start=N_MESSAGES + 1)
        self.mbsync(config, "down")
        got_local = maildir_ids(os.path.join(local, "inbox"))
        self.assertEqual(len(got_local), N_MESSAGES + 1)
        self.assertEqual(len(set(got_local)), N_MESSAGES + 1)


store_test_classes(globals(), InteropTests, "TestInterop")
