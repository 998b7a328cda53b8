"""The real-client matrix (issue 10, "Done means" 4): the IMAP clients
Debian packages, each driven against Moat on Maildir and on mbox, over
STARTTLS and over implicit TLS, and the server's state checked over
imaplib afterwards. doc/clients.md records which version did what.

Every client verifies the certificate the harness made (CN=localhost,
self-signed: its own CA file) where it can; where it cannot, the test
says so. The servers run with loopback_is_secure = no, so a client that
skipped STARTTLS would meet LOGINDISABLED and fail: a STARTTLS test
passes only over TLS. Each client and transport has its own user, so
one moatd per store serves the whole matrix and no test sees another's
mail. Mailboxes are small (a few messages) to keep the module fast: it
runs in both the plain and the sanitizer build of scripts/check.

Also here: openssl s_client (protocol versions) against a default
server."""

import email
import imaplib
import os
import platform
import pwd
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

from moatenv import MoatServer, STORE_LOCATIONS, available_stores

HOST = "localhost"          # the certificate's name
PASSWORD = "client-pw"
CLIENTS = ("mutt", "mbsync", "offlineimap", "fetchmail", "getmail",
           "curl", "imaplib")
TRANSPORTS = ("starttls", "tls")
# One user per client and transport: mutt_starttls, mutt_tls, ...
MATRIX_USERS = {}
for _i, _c in enumerate(CLIENTS):
    for _j, _t in enumerate(TRANSPORTS):
        MATRIX_USERS["%s_%s" % (_c, _t)] = (PASSWORD, 5101 + 2 * _i + _j)
# The Debian package that ships each client (for doc/clients.md).
PACKAGES = {"mutt": "mutt", "tmux": "tmux", "mbsync": "isync",
            "offlineimap": "offlineimap3", "fetchmail": "fetchmail",
            "getmail": "getmail6", "curl": "curl", "imaplib": "python3",
            "s_client": "openssl"}
# The programs each run needs: one missing fails its tests (never a
# skip: scripts/deps installs them all).
PROGRAMS = {"mutt": ("mutt", "tmux"), "mbsync": ("mbsync",),
            "offlineimap": ("offlineimap",), "fetchmail": ("fetchmail",),
            "getmail": ("getmail",), "curl": ("curl",), "imaplib": ()}
# Per client run; each takes about a second, but getmail over TLS once
# needed over 30 s beside three other modules in scripts/check, against
# the ASan server and once against the plain one (alone: seconds).
TIMEOUT = 90


def package_version(pkg):
    p = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg],
                       capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 else None


def message(user, i, subject=None):
    return ("From: Sender %(i)d <sender%(i)d@example.org>\r\n"
            "To: %(u)s@example.org\r\n"
            "Subject: %(s)s\r\n"
            "Date: Wed, 02 Dec 2026 08:00:%(i)02d +0000\r\n"
            "Message-ID: <%(u)s.%(i)d@moat.test>\r\n"
            "\r\n"
            "Body of message %(i)d for %(u)s.\r\n"
            "Second line.\r\n" % {
                "u": user, "i": i,
                "s": subject or "Client test %d" % i}).encode()


def msgid(user, i):
    return "<%s.%d@moat.test>" % (user, i)


def lf(data):
    return data.replace(b"\r\n", b"\n")


def no_tuid(data):
    """mbsync writes a local Maildir with LF line ends and puts its
    X-TUID: header (how it finds a message it stored again after a
    crash) into every message it copies."""
    return re.sub(rb"(?m)^X-TUID: [^\n]*\n", b"", lf(data), count=1)


def verified_context(cafile):
    """Checks the chain against cafile and the name against HOST."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def imap_open(server, user, mode="tls", ca=None):
    """imaplib logged in as user, TLS verified either way."""
    ctx = verified_context(ca or server.cert)
    port = server.ports[mode]
    if mode == "tls":
        m = imaplib.IMAP4_SSL(HOST, port, ssl_context=ctx, timeout=20)
    else:
        m = imaplib.IMAP4(HOST, port, timeout=20)
        m.starttls(ssl_context=ctx)
    m.login(user, PASSWORD)
    return m


def box_state(m, box):
    """{Message-ID: (set of flags, message bytes)} of a mailbox."""
    typ, data = m.select('"%s"' % box, readonly=True)
    if typ != "OK":
        raise AssertionError("SELECT %s: %r" % (box, data))
    out = {}
    if int(data[0]) == 0:
        return out
    typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[])")
    assert typ == "OK", data
    for item in data:
        if not isinstance(item, tuple):
            continue
        flags = re.search(rb"FLAGS \(([^)]*)\)", item[0])
        if flags is None:   # FLAGS after the literal
            continue
        body = item[1]
        mid = email.message_from_bytes(body)["Message-ID"]
        out[mid] = (set(flags.group(1).decode().split()) - {"\\Recent"},
                    body)
    return out


def close_quietly(m):
    try:
        m.shutdown()
    except OSError:
        pass


def fill(server, user, box, msgs):
    m = imap_open(server, user)
    try:
        if box.upper() != "INBOX":
            m.create('"%s"' % box)
        for data in msgs:
            typ, res = m.append('"%s"' % box, None, None, data)
            assert typ == "OK", res
    finally:
        m.logout()


def maildir_messages(path):
    """{Message-ID: (maildir flag letters, bytes)} of a local Maildir."""
    out = {}
    for sub in ("cur", "new"):
        d = os.path.join(path, sub)
        for name in os.listdir(d):
            with open(os.path.join(d, name), "rb") as f:
                data = f.read()
            flags = name.split(":2,", 1)[1] if ":2," in name else ""
            out[email.message_from_bytes(data)["Message-ID"]] = (
                flags, data)
    return out


# IMAP system flag <-> Maildir info letter (as mbsync and mutt map them).
MAILDIR_FLAGS = {"\\Draft": "D", "\\Flagged": "F", "\\Answered": "R",
                 "\\Seen": "S", "\\Deleted": "T"}


def as_letters(imap_flags):
    return "".join(sorted(MAILDIR_FLAGS[f] for f in imap_flags
                          if f in MAILDIR_FLAGS))


def run(cmd, env=None, timeout=TIMEOUT, **kw):
    """subprocess.run; a client still running after timeout gets SIGINT
    first (a Python client such as getmail then prints where it waits)
    and the error carries what it printed."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    with subprocess.Popen(cmd, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=full_env,
                          **kw) as p:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGINT)
            try:
                out, err = p.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                out, err = p.communicate()
            raise AssertionError(
                "%s still running after %d s; after SIGINT:\n"
                "stdout: %s\nstderr: %s" % (
                    cmd[0], timeout, out[-3000:].decode(errors="replace"),
                    err[-3000:].decode(errors="replace")))
        return subprocess.CompletedProcess(cmd, p.returncode, out, err)


class Tmux:
    """One program on a private tmux server, driven with send-keys and
    read with capture-pane."""

    def __init__(self, tmp):
        self.sock = os.path.join(tmp, "tmux.sock")
        self.status = os.path.join(tmp, "exit-status")

    def tmux(self, *args):
        p = subprocess.run(["tmux", "-S", self.sock] + list(args),
                           capture_output=True, text=True, timeout=10)
        if p.returncode != 0:
            raise AssertionError("tmux %s: %s" % (args[0], p.stderr))
        return p.stdout

    def start(self, command, env):
        if os.path.exists(self.status):
            os.unlink(self.status)
        # The pane's shell writes the exit status to a file: tmux 3.3a
        # sometimes leaves the finished program a zombie it never reaps
        # (seen here: pane_dead set, pane_dead_status empty).
        subprocess.run(["tmux", "-S", self.sock, "-f", "/dev/null",
                        "new-session", "-d", "-s", "t", "-x", "120",
                        "-y", "30", "%s; echo $? >%s.new; mv %s.new %s" % (
                            command, self.status, self.status,
                            self.status)],
                       env=env, check=True, timeout=10)

    def keys(self, *keys):
        self.tmux("send-keys", "-t", "t", *keys)

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "t")

    def wait(self, text, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if (text(screen) if callable(text) else text in screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError("waited for %r; screen:\n%s" % (
                    text, screen))
            time.sleep(0.05)

    def exit_status(self, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(self.status) as f:
                    return int(f.read())
            except FileNotFoundError:
                time.sleep(0.05)
        raise AssertionError("still running; screen:\n" + self.screen())

    def kill(self):
        subprocess.run(["tmux", "-S", self.sock, "kill-server"],
                       capture_output=True, timeout=10)


class ClientMatrix:
    """The clients' runs (methods named after the client, one argument:
    the transport) happen at once in setUpModule, on one moatd per
    store; each test_CLIENT_TRANSPORT then reports its run's outcome."""
    STORE = None
    LOCATION = None

    def check(self, client, mode):
        if client not in SELECTED:
            self.skipTest("not in MOAT_CLIENTS")
        err = OUTCOMES[(self.STORE, client, mode)]
        if err is not None:
            raise err

    def fail_with_log(self, what, p):
        raise AssertionError("%s exited %s\nstdout: %s\nstderr: %s\n"
                             "moatd log tail:\n%s" % (
                                 what, p.returncode,
                                 p.stdout[-2000:], p.stderr[-2000:],
                                 self.server.read_log()[-3000:]))

    def port(self, mode):
        return self.server.ports[mode]

    # -- mutt under tmux ----------------------------------------------
    def mutt(self, mode):
        user = "mutt_" + mode
        fill(self.server, user, "INBOX",
             [message(user, i) for i in range(1, 5)])
        scheme = "imaps" if mode == "tls" else "imap"
        rc = os.path.join(self.tmp, "muttrc")
        with open(rc, "w") as f:
            f.write("""
set folder="%(scheme)s://%(user)s@%(host)s:%(port)d/"
set spoolfile="+INBOX"
set imap_pass="%(pw)s"
set ssl_force_tls=yes
set ssl_starttls=yes
# GnuTLS mutt: the harness's certificate is the only trust anchor; an
# untrusted one would stop at mutt's (r)eject/accept (o)nce prompt.
set ssl_ca_certificates_file="%(cert)s"
set certificate_file="%(tmp)s/certificates"
set ssl_verify_host=yes
# A header cache, so the second session resyncs with QRESYNC.
set header_cache="%(tmp)s/hcache" message_cachedir=""
set imap_qresync=yes imap_condstore=yes imap_idle=yes
set sort=mailbox-order resolve=no
set delete=yes quit=yes move=no mark_old=no
set confirmappend=no confirmcreate=no wait_key=no beep=no sleep_time=0
set imap_check_subscribed=no mail_check=60 timeout=60
""" % {"scheme": scheme, "user": user, "host": HOST,
       "port": self.port(mode), "pw": PASSWORD, "cert": self.ca,
       "tmp": self.tmp})
        tmux = Tmux(self.tmp)
        self.addCleanup(tmux.kill)
        env = dict(os.environ, HOME=self.tmp)
        env.pop("TMUX", None)
        tmux.start("mutt -n -F %s" % rc, env)
        not_prompted = "(r)eject"
        screen = tmux.wait(lambda s: "Msgs:4" in s or not_prompted in s)
        self.assertNotIn(not_prompted, screen,
                         "mutt did not trust the certificate")
        for i in range(1, 5):
            self.assertIn("Client test %d" % i, screen)
        # Read message 1: its body appears in the pager.
        tmux.keys("Enter")
        tmux.wait("Body of message 1 for %s." % user)
        tmux.keys("q")
        tmux.wait("Msgs:4")
        tmux.keys("F")                      # flag 1
        tmux.wait("Flag:1")
        tmux.keys("j", "d")                 # delete 2
        tmux.wait("Del:1")
        tmux.keys("j", "s")                 # save 3 to =Saved (a move)
        tmux.wait("Save to mailbox")
        tmux.keys("C-u", "=Saved", "Enter")
        tmux.wait("Del:2")
        tmux.keys("$")                      # sync: expunge 2 and 3
        tmux.wait(lambda s: "Msgs:2" in s and "Del:" not in s)
        screen = tmux.screen()
        tmux.keys("q")
        self.assertEqual(tmux.exit_status(), 0, screen)
        m = imap_open(self.server, user)
        try:
            inbox = box_state(m, "INBOX")
            saved = box_state(m, "Saved")
        finally:
            m.logout()
        self.assertEqual(sorted(inbox), [msgid(user, 1), msgid(user, 4)])
        self.assertEqual(inbox[msgid(user, 1)][0], {"\\Seen", "\\Flagged"})
        self.assertNotIn("\\Seen", inbox[msgid(user, 4)][0])
        self.assertEqual(list(saved), [msgid(user, 3)])
        self.assertEqual(saved[msgid(user, 3)][1], message(user, 3))
        # Another client flags 4 and delivers 5; mutt opens INBOX again
        # from its header cache (with imap_qresync: SELECT (CONDSTORE),
        # then UID FETCH (FLAGS) (CHANGEDSINCE m VANISHED)) and shows
        # both.
        m = imap_open(self.server, user)
        try:
            m.select("INBOX")
            m.store("2", "+FLAGS", "(\\Flagged)")
            m.append("INBOX", None, None, message(user, 5))
        finally:
            m.logout()
        tmux.start("mutt -n -F %s" % rc, env)
        screen = tmux.wait(lambda s: "Msgs:3" in s and "Flag:2" in s)
        self.assertIn("Client test 5", screen)
        tmux.keys("q")
        self.assertEqual(tmux.exit_status(), 0, screen)

    # -- mbsync (isync) -----------------------------------------------
    def mbsync(self, mode):
        user = "mbsync_" + mode
        fill(self.server, user, "INBOX",
             [message(user, i) for i in range(1, 4)])
        fill(self.server, user, "Work", [message(user, 10)])
        local = os.path.join(self.tmp, "local")
        os.mkdir(local)
        rc = os.path.join(self.tmp, "mbsyncrc")
        with open(rc, "w") as f:
            f.write("""
IMAPAccount moat
Host %(host)s
Port %(port)d
User %(user)s
Pass %(pw)s
SSLType %(ssltype)s
CertificateFile %(cert)s

IMAPStore remote
Account moat

MaildirStore local
Path %(local)s/
Inbox %(local)s/INBOX
SubFolders Verbatim

Channel all
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
Sync All
SyncState *
""" % {"host": HOST, "port": self.port(mode), "user": user,
       "pw": PASSWORD, "cert": self.ca, "local": local,
       "ssltype": "IMAPS" if mode == "tls" else "STARTTLS"})

        def sync():
            # mbsync sleeps a second when a Maildir directory changed in
            # the current second (it could miss a change made in the same
            # tick); the changes before this run are done, so their time
            # can be a past one.
            past = time.time() - 2
            for top, dirs, _ in os.walk(local):
                for d in dirs:
                    os.utime(os.path.join(top, d), (past, past))
            p = run(["mbsync", "-c", rc, "-a"])
            if p.returncode != 0:
                self.fail_with_log("mbsync", p)

        sync()
        here = maildir_messages(os.path.join(local, "INBOX"))
        self.assertEqual(sorted(here), sorted(msgid(user, i)
                                              for i in range(1, 4)))
        for i in range(1, 4):
            self.assertEqual(no_tuid(here[msgid(user, i)][1]),
                             lf(message(user, i)))
        self.assertEqual(list(maildir_messages(os.path.join(local,
                                                             "Work"))),
                         [msgid(user, 10)])
        # A change on each side. Local: flag 1 (a rename, as mutt does),
        # delete 2, add 4. Server: \Seen on 3, a new message 5.
        inbox = os.path.join(local, "INBOX")
        for sub in ("cur", "new"):
            for name in os.listdir(os.path.join(inbox, sub)):
                path = os.path.join(inbox, sub, name)
                with open(path, "rb") as fh:
                    mid = email.message_from_bytes(fh.read())["Message-ID"]
                base = name.split(":2,", 1)[0]
                if mid == msgid(user, 1):
                    os.rename(path, os.path.join(inbox, "cur",
                                                 base + ":2,F"))
                elif mid == msgid(user, 2):
                    os.unlink(path)
        with open(os.path.join(inbox, "new", "%d.local.test" % time.time()),
                  "wb") as fh:
            fh.write(message(user, 4))
        m = imap_open(self.server, user)
        try:
            m.select("INBOX")
            typ, data = m.search(None, "HEADER", "Message-ID",
                                 msgid(user, 3))
            self.assertEqual(typ, "OK")
            m.store(data[0].split()[0], "+FLAGS", "(\\Seen)")
            m.append("INBOX", None, None, message(user, 5))
        finally:
            m.logout()
        sync()
        sync()      # a third run finds nothing left to do
        want = {msgid(user, 1): "F", msgid(user, 3): "S",
                msgid(user, 4): "", msgid(user, 5): ""}
        here = maildir_messages(inbox)
        m = imap_open(self.server, user)
        try:
            there = box_state(m, "INBOX")
        finally:
            m.logout()
        self.assertEqual({k: v[0] for k, v in here.items()}, want)
        self.assertEqual({k: as_letters(v[0]) for k, v in there.items()},
                         want)
        for k in want:
            self.assertEqual(no_tuid(here[k][1]), no_tuid(there[k][1]), k)

    # -- offlineimap --------------------------------------------------
    def offlineimap(self, mode):
        user = "offlineimap_" + mode
        # (An mbox folder cannot have children: Lists holds no mail.)
        tree = {"INBOX": [1, 2], "Lists/moat": [3], "Lists/debian": [4, 5]}
        for box, nums in tree.items():
            fill(self.server, user, box, [message(user, i) for i in nums])
        local = os.path.join(self.tmp, "mail")
        rc = os.path.join(self.tmp, "offlineimaprc")
        with open(rc, "w") as f:
            f.write("""
[general]
accounts = moat
metadata = %(tmp)s/meta
ui = basic

[Account moat]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = %(local)s
sep = /

[Repository remote]
type = IMAP
remotehost = %(host)s
remoteport = %(port)d
remoteuser = %(user)s
remotepass = %(pw)s
ssl = %(ssl)s
starttls = %(starttls)s
sslcacertfile = %(cert)s
readonly = yes
folderfilter = lambda f: f in ("INBOX", "Lists/moat", "Lists/debian")
""" % {"tmp": self.tmp, "local": local, "host": HOST,
       "port": self.port(mode), "user": user, "pw": PASSWORD,
       "cert": self.ca,
       "ssl": "yes" if mode == "tls" else "no",
       "starttls": "yes" if mode == "starttls" else "no"})
        # offlineimap3 (imaplib2) calls starttls() without its CA file:
        # over STARTTLS it does not verify the certificate (it does over
        # implicit TLS: sslcacertfile). LOGINDISABLED still proves the
        # session went through STARTTLS.
        p = run(["offlineimap", "-c", rc, "-o", "-u", "basic"],
                env={"HOME": self.tmp})
        if p.returncode != 0 or b"ERROR" in p.stderr + p.stdout:
            self.fail_with_log("offlineimap", p)
        m = imap_open(self.server, user)
        try:
            for box, nums in tree.items():
                here = maildir_messages(os.path.join(local, box))
                there = box_state(m, box)
                self.assertEqual(sorted(here), sorted(
                    msgid(user, i) for i in nums), box)
                self.assertEqual(sorted(there), sorted(here), box)
                for i in nums:
                    self.assertEqual(lf(here[msgid(user, i)][1]),
                                     lf(message(user, i)))
        finally:
            m.logout()

    # -- fetchmail ----------------------------------------------------
    def fetchmail(self, mode):
        user = "fetchmail_" + mode
        msgs = [message(user, i) for i in range(1, 4)]
        fill(self.server, user, "INBOX", msgs)
        out = os.path.join(self.tmp, "out")
        os.mkdir(out)

        def fetch(keep):
            rc = os.path.join(self.tmp, "fetchmailrc")
            with open(rc, "w") as f:
                f.write("""
set no syslog
poll %(host)s protocol IMAP port %(port)d
  user "%(user)s" there with password "%(pw)s" is "root" here
  %(tls)s sslcertck sslcertfile "%(cert)s"
  %(keep)s fetchall no rewrite
  mda "/bin/sh -c 'cat > %(out)s/msg.$$'"
""" % {"host": HOST, "port": self.port(mode), "user": user,
       "pw": PASSWORD, "cert": self.ca, "out": out,
       # sslproto without ssl: STARTTLS is required.
       "tls": "ssl" if mode == "tls" else "sslproto TLS1.2+",
       "keep": "keep" if keep else "nokeep"})
            os.chmod(rc, 0o600)
            p = run(["fetchmail", "-N", "-f", rc, "--pidfile",
                     os.path.join(self.tmp, "pid")],
                    env={"HOME": self.tmp, "FETCHMAILHOME": self.tmp})
            if p.returncode != 0:
                self.fail_with_log("fetchmail", p)
            got = []
            for name in sorted(os.listdir(out)):
                with open(os.path.join(out, name), "rb") as fh:
                    got.append(fh.read())
                os.unlink(os.path.join(out, name))
            return sorted(got)

        want = sorted(lf(d) for d in msgs)
        self.assertEqual(self.received(fetch(keep=True)), want)
        m = imap_open(self.server, user)
        try:
            kept = box_state(m, "INBOX")
        finally:
            m.logout()
        self.assertEqual(sorted(kept), sorted(msgid(user, i)
                                              for i in range(1, 4)))
        for flags, _ in kept.values():
            self.assertIn("\\Seen", flags)
            self.assertNotIn("\\Deleted", flags)
        self.assertEqual(self.received(fetch(keep=False)), want)
        m = imap_open(self.server, user)
        try:
            self.assertEqual(box_state(m, "INBOX"), {})
        finally:
            m.logout()

    def received(self, got):
        # fetchmail puts its own Received: line on top; the rest arrives
        # as sent (LF line ends, as an MDA on Unix gets them).
        out = []
        for data in got:
            self.assertTrue(data.startswith(b"Received: "), data[:200])
            end = re.search(rb"\n(?![ \t])", data).end()
            out.append(data[end:])
        return sorted(out)

    # -- getmail ------------------------------------------------------
    def getmail_run(self, mode, retriever):
        user = "getmail_" + mode
        msgs = [message(user, i) for i in range(1, 4)]
        fill(self.server, user, "INBOX", msgs)
        dest = os.path.join(self.tmp, "Maildir")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(dest, sub))
        rc = os.path.join(self.tmp, "getmailrc")
        os.mkdir(os.path.join(self.tmp, "gm"))
        with open(rc, "w") as f:
            f.write("""
[retriever]
type = %(retriever)s
server = %(host)s
port = %(port)d
username = %(user)s
password = %(pw)s
mailboxes = ("INBOX",)
record_mailbox = false
%(cert)s

[destination]
type = Maildir
path = %(dest)s/

[options]
read_all = true
delete = false
delivered_to = false
received = false
verbose = 0
""" % {"retriever": retriever, "host": HOST, "port": self.port(mode),
       "user": user, "pw": PASSWORD, "dest": dest,
       "cert": "ca_certs = %s" % self.ca
               if mode == "tls" else ""})
        # getmail refuses to deliver as root, and wants its uid in
        # /etc/passwd (the matrix users are only in moatd's passwd-file):
        # as root it runs as nobody.
        as_nobody = {}
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            for top, dirs, files in os.walk(self.tmp):
                for name in [top] + [os.path.join(top, n)
                                     for n in dirs + files]:
                    os.chown(name, nobody.pw_uid, nobody.pw_gid)
            as_nobody = {"user": nobody.pw_uid, "group": nobody.pw_gid,
                         "extra_groups": []}
        p = run(["getmail", "--rcfile", rc, "--getmaildir",
                 os.path.join(self.tmp, "gm")], env={"HOME": self.tmp},
                **as_nobody)
        return user, msgs, dest, p

    def getmail(self, mode):
        if mode == "starttls":
            # getmail6 6.18 has no STARTTLS: SimpleIMAPRetriever is
            # plaintext only. What the matrix can check: the server
            # refuses its login (LOGINDISABLED before TLS), so no mail
            # moves.
            user, msgs, dest, p = self.getmail_run(mode,
                                                   "SimpleIMAPRetriever")
            self.assertNotEqual(p.returncode, 0, p.stdout)
            self.assertIn(b"PRIVACYREQUIRED", p.stderr)
            self.assertEqual(maildir_messages(dest), {})
            return
        user, msgs, dest, p = self.getmail_run(mode,
                                               "SimpleIMAPSSLRetriever")
        if p.returncode != 0:
            self.fail_with_log("getmail", p)
        here = maildir_messages(dest)
        # getmail adds a Return-Path: line on top (no option turns it
        # off); the rest arrives as sent, with LF line ends.
        got = []
        for _, data in here.values():
            self.assertTrue(data.startswith(b"Return-Path: <unknown>\n"))
            got.append(data.split(b"\n", 1)[1])
        self.assertEqual(sorted(got), sorted(lf(d) for d in msgs))
        m = imap_open(self.server, user)
        try:
            self.assertEqual(len(box_state(m, "INBOX")), 3)  # delete = false
        finally:
            m.logout()

    # -- curl ---------------------------------------------------------
    def curl_cmd(self, mode, path, *extra):
        scheme = "imaps" if mode == "tls" else "imap"
        cmd = ["curl", "-sS", "--max-time", "20", "--cacert",
               self.ca, "-u", "curl_%s:%s" % (mode, PASSWORD),
               "%s://%s:%d/%s" % (scheme, HOST, self.port(mode), path)]
        if mode == "starttls":
            cmd.append("--ssl-reqd")
        p = run(cmd + list(extra))
        if p.returncode != 0:
            self.fail_with_log("curl " + path, p)
        return p.stdout

    def curl(self, mode):
        user = "curl_" + mode
        fill(self.server, user, "INBOX",
             [message(user, 1), message(user, 2, "needle here"),
              message(user, 3)])
        fill(self.server, user, "Work", [])
        listing = self.curl_cmd(mode, "")
        self.assertRegex(listing, rb'\* LIST \([^)]*\) "/" "?INBOX"?\r\n')
        self.assertRegex(listing, rb'\* LIST \([^)]*\) "/" "?Work"?\r\n')
        self.assertEqual(self.curl_cmd(mode, "INBOX;UID=2"),
                         message(user, 2, "needle here"))
        self.assertEqual(self.curl_cmd(mode, "INBOX?SUBJECT%20needle"),
                         b"* SEARCH 2\r\n")
        upload = os.path.join(self.tmp, "upload.eml")
        with open(upload, "wb") as f:
            f.write(message(user, 9))
        self.curl_cmd(mode, "Work", "-T", upload)
        m = imap_open(self.server, user)
        try:
            work = box_state(m, "Work")
        finally:
            m.logout()
        self.assertEqual(list(work), [msgid(user, 9)])
        self.assertEqual(work[msgid(user, 9)][1], message(user, 9))

    # -- Python imaplib -----------------------------------------------
    def imaplib(self, mode):
        user = "imaplib_" + mode
        m = imap_open(self.server, user, mode, ca=self.ca)
        self.addCleanup(close_quietly, m)
        typ, _ = m.create("Archive2")
        self.assertEqual(typ, "OK")
        for i in range(1, 4):
            typ, data = m.append("INBOX", "(\\Draft)", None,
                                 message(user, i))
            self.assertEqual(typ, "OK", data)
        typ, data = m.select("INBOX")
        self.assertEqual((typ, data), ("OK", [b"3"]))
        typ, data = m.fetch("2", "(FLAGS BODY[])")
        self.assertEqual(typ, "OK")
        self.assertEqual(data[0][1], message(user, 2))
        self.assertIn(b"\\Draft", data[0][0])
        typ, data = m.store("1", "+FLAGS", "(\\Flagged)")
        self.assertEqual(typ, "OK")
        self.assertIn(b"\\Flagged", data[0])
        typ, data = m.copy("1:2", "Archive2")
        self.assertEqual(typ, "OK", data)
        m.store("2", "+FLAGS", "(\\Deleted)")
        typ, data = m.expunge()
        self.assertEqual((typ, data), ("OK", [b"2"]))
        typ, data = m.search(None, "FLAGGED")
        self.assertEqual(data, [b"1"])
        # (m.capabilities is what imaplib saw before login.)
        typ, data = m.capability()
        self.assertIn(b"IDLE", data[0].split())
        self.idle(m, user)
        m.close()
        m.logout()
        check = imap_open(self.server, user)
        try:
            inbox = box_state(check, "INBOX")
            archive = box_state(check, "Archive2")
        finally:
            check.logout()
        self.assertEqual(sorted(inbox), sorted(
            [msgid(user, 1), msgid(user, 3), msgid(user, 7)]))
        self.assertEqual(sorted(archive),
                         sorted([msgid(user, 1), msgid(user, 2)]))
        self.assertEqual(archive[msgid(user, 1)][0],
                         {"\\Draft", "\\Flagged"})

    def idle(self, m, user):
        # imaplib (Python 3.11) has no idle(): the protocol by hand on
        # its connection. Another session's APPEND wakes it.
        tag = m._new_tag()
        m.send(tag + b" IDLE\r\n")
        self.assertTrue(m.readline().startswith(b"+"))
        fill(self.server, user, "INBOX", [message(user, 7)])
        m.sock.settimeout(10)
        while True:
            line = m.readline()
            self.assertTrue(line.startswith(b"* "), line)
            if line.endswith(b" EXISTS\r\n"):
                break
        self.assertEqual(line, b"* 3 EXISTS\r\n")
        m.send(b"DONE\r\n")
        while True:
            line = m.readline()
            if line.startswith(tag):
                break
        self.assertTrue(line.startswith(tag + b" OK"), line)




def _add_tests():
    for client in CLIENTS:
        for mode in TRANSPORTS:
            def test(self, client=client, mode=mode):
                self.check(client, mode)
            test.__name__ = "test_%s_%s" % (client, mode)
            setattr(ClientMatrix, test.__name__, test)
    for kind in available_stores():
        cls = type("TestClients" + kind.capitalize(),
                   (ClientMatrix, unittest.TestCase),
                   {"STORE": kind, "LOCATION": STORE_LOCATIONS[kind]})
        globals()[cls.__name__] = cls


_add_tests()
SERVERS = {}
OUTCOMES = {}       # (store, client, transport): None or the exception
PARALLEL = 4        # client runs at once (2 cores; most runs wait on I/O)
# MOAT_CLIENTS="mutt curl" runs only those (to debug one); the others
# are reported skipped.
SELECTED = os.environ.get("MOAT_CLIENTS", "").split() or CLIENTS


def run_client(kind, client, mode):
    cls = globals()["TestClients" + kind.capitalize()]
    case = cls("test_%s_%s" % (client, mode))
    case.server = SERVERS[kind]
    case.ca = case.server.cert  # what the client trusts
    case.tmp = tempfile.mkdtemp(prefix="moat-client-")
    case.addCleanup(shutil.rmtree, case.tmp, True)
    start = time.monotonic()
    try:
        missing = [p for p in PROGRAMS[client] if not shutil.which(p)]
        if missing:
            raise AssertionError("%s not installed (scripts/deps installs "
                                 "it)" % " ".join(missing))
        getattr(case, client)(mode)
        err = None
    except Exception as e:
        err = e
    finally:
        case.doCleanups()
    return err, time.monotonic() - start


def setUpModule():
    import concurrent.futures
    for kind in available_stores():
        SERVERS[kind] = MoatServer(
            extra_conf="mail_location = %s\nmail_fsync = no\n"
                       "loopback_is_secure = no\n" % STORE_LOCATIONS[kind],
            users=MATRIX_USERS).start()
    start = time.monotonic()
    runs = [(k, c, m) for k in SERVERS for c in SELECTED for m in TRANSPORTS]
    # The slow ones first, so the pool is not left waiting on them.
    slow = ("mbsync", "offlineimap", "mutt")
    runs.sort(key=lambda r: (r[1] not in slow, slow.index(r[1])
                             if r[1] in slow else 0))
    times = {}
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        futures = {pool.submit(run_client, *r): r for r in runs}
        for f in concurrent.futures.as_completed(futures):
            OUTCOMES[futures[f]], times[futures[f]] = f.result()
    print("\nclient matrix: %d runs in %.1f s (%s)" % (
        len(runs), time.monotonic() - start, ", ".join(
            "%s/%s/%s %.1f" % (r + (t,)) for r, t in sorted(
                times.items(), key=lambda i: -i[1])[:5])), file=sys.stderr)


def tearDownModule():
    for server in SERVERS.values():
        server.stop()
    # The versions this run tested, for doc/clients.md.
    print("\nclient versions: " + ", ".join(
        "%s %s" % (pkg, package_version(pkg) or "missing")
        for pkg in sorted(set(PACKAGES.values()))) +
        " (imaplib from Python %s)" % platform.python_version(),
        file=sys.stderr)


# -- openssl s_client against a default server ----------------------------
class OpenSSLClient(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = MoatServer().start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def s_client(self, args, script):
        # The chain and the name verified, or s_client gives up.
        p = subprocess.run(["openssl", "s_client", "-quiet",
                            "-verify_return_error", "-CAfile",
                            self.server.cert, "-verify_hostname", HOST,
                            "-connect",
                            "127.0.0.1:%d" % args[0]] + list(args[1:]),
                           input=script.encode(), capture_output=True,
                           timeout=30)
        return p.stdout.decode(errors="replace"), p.stderr.decode(
            errors="replace")

    def test_starttls_imap(self):
        out, err = self.s_client(
            (self.server.ports["starttls"], "-starttls", "imap"),
            "a CAPABILITY\r\nb LOGIN alice secret-a\r\nc NOOP\r\n"
            "d LOGOUT\r\n")
        self.assertIn("a OK", out, err)
        self.assertIn("b OK [CAPABILITY", out, err)
        self.assertIn("c OK", out)
        self.assertIn("d OK", out)

    def test_implicit_tls(self):
        out, err = self.s_client((self.server.ports["tls"],),
                                 "a LOGIN bob secret-b\r\nb LOGOUT\r\n")
        self.assertIn("* OK [CAPABILITY", out, err)
        self.assertIn("a OK", out)
        self.assertIn("b OK", out)

    def test_tls_1_1_refused(self):
        p = subprocess.run(["openssl", "s_client", "-connect",
                            "127.0.0.1:%d" % self.server.ports["tls"],
                            "-tls1_1"], input=b"", capture_output=True,
                           timeout=30)
        self.assertNotEqual(p.returncode, 0)

    def test_negotiates_tls13(self):
        p = subprocess.run(["openssl", "s_client", "-connect",
                            "127.0.0.1:%d" % self.server.ports["tls"]],
                           input=b"a LOGOUT\r\n", capture_output=True,
                           timeout=30)
        self.assertIn(b"TLSv1.3", p.stdout)

    def test_curl_plain_on_secure_loopback(self):
        # The default loopback_is_secure = yes: plaintext LOGIN works.
        p = subprocess.run(
            ["curl", "-sS", "--max-time", "20", "-u", "alice:secret-a",
             "imap://127.0.0.1:%d/" % self.server.ports["starttls"], "-X",
             "NOOP", "-v"], capture_output=True, timeout=30)
        err = p.stderr.decode(errors="replace")
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("OK [CAPABILITY", err)

    def test_curl_wrong_password(self):
        p = subprocess.run(
            ["curl", "-sS", "--max-time", "20", "-u", "alice:bad",
             "--cacert", self.server.cert, "--ssl-reqd",
             "imap://%s:%d/" % (HOST, self.server.ports["starttls"]), "-X",
             "NOOP"], capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 67)   # CURLE_LOGIN_DENIED


if __name__ == "__main__":
    unittest.main()
