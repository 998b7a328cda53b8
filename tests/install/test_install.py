#!/usr/bin/python3
"""Issue 10, Done means 1: the Debian package, installed and used.

Builds the .deb from this tree (scripts/build-deb, DEB_BUILD_OPTIONS
nocheck: the tests run elsewhere) or takes MOAT_DEB=path, installs it
with dpkg -i on this machine, and checks what the package promises:
files in /usr/sbin, /usr/lib/moat, /etc/moat, /etc/pam.d/moat, the unit,
the man pages, conffiles, the moat-login system user, a certificate,
and that the packaged configuration passes `moatd -t` as it is; a
package it built must have no lintian error. Then it
runs Moat the way the unit does: with systemd where systemd is PID 1,
otherwise the unit's own RuntimeDirectory, ExecStartPre, ExecStart and
ExecReload lines (parsed from the installed unit, so they are what is
tested), with a test configuration on a free loopback port, PAM auth
through the installed /etc/pam.d/moat and a test system user. A private
Postfix instance (nothing in /etc/postfix changes) delivers one message
through its LMTP client (mailbox_transport = lmtp:unix:/run/moat/lmtp,
as the README says) to the installed moat-lmtp; IMAP over STARTTLS must
then show it once, stored as the user, and SEARCH must find it;
moat-deliver run as the user adds a second one. A
reinstall keeps the changed configuration (a conffile) and the
certificate; a purge must leave the machine as it was: no package
files, no /etc/moat, no /var/lib/moat, no moat-login user if it was not
there before, the test user and Postfix instance gone.

Needs root and dpkg; run by scripts/check (stage "debian package").
"""
import grp
import imaplib
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from postfixenv import read_log, start_postfix  # noqa: E402

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
UNIT = "/lib/systemd/system/moat.service"
CONF = "/etc/moat/moat.conf"
LMTP_SOCKET = "/run/moat/lmtp"
PROGRAMS = ["/usr/sbin/moatd"] + ["/usr/lib/moat/" + p for p in
                                  ("auth", "imap-login", "imap", "lmtp",
                                   "moat-deliver")]
MAN_PAGES = ["/usr/share/man/man8/moatd.8.gz",
             "/usr/share/man/man5/moat.conf.5.gz",
             "/usr/share/man/man8/moat-lmtp.8.gz",
             "/usr/share/man/man8/moat-deliver.8.gz"]
# Everything the package may create; all must be as before after purge.
FOOTPRINT = PROGRAMS + MAN_PAGES + [
    UNIT, "/etc/moat", "/etc/pam.d/moat", "/var/lib/moat", "/run/moat",
    "/usr/lib/moat", "/usr/share/doc/moat"]
SYSTEMD = os.path.isdir("/run/systemd/system")


def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return subprocess.run(cmd, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def unit_lines(path):
    """The [Service] settings of a unit file: {key: [values]}."""
    out, section = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line
                continue
            if section == "[Service]" and "=" in line:
                k, v = line.split("=", 1)
                out.setdefault(k.strip(), []).append(v.strip())
    return out


def footprint():
    """Which of the package's paths exist, and the moat-login entries."""
    state = {p: os.path.lexists(p) for p in FOOTPRINT}
    for name, db in (("moat-login", pwd.getpwnam), ("moat-login.g",
                                                    grp.getgrnam)):
        try:
            state[name] = tuple(db(name.split(".")[0]))
        except KeyError:
            state[name] = None
    return state


def installed_processes():
    """pids of processes running a program of the package."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            exe = os.readlink("/proc/%s/exe" % d)
        except OSError:
            continue
        if exe in PROGRAMS:
            pids.append(int(d))
    return pids


class InstallTest(unittest.TestCase):

    def setUp(self):
        if os.geteuid() != 0:
            self.fail("needs root (dpkg -i, useradd)")
        st = run(["dpkg-query", "-W", "-f=${Status}", "moat"])
        if st.returncode == 0 and "not-installed" not in st.stdout:
            self.fail("package moat is installed here (%s): this test "
                      "would replace and purge it" % st.stdout)
        self.before = footprint()
        self.tmp = tempfile.mkdtemp(prefix="moat-install-")
        os.chmod(self.tmp, 0o755)
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.deb = os.environ.get("MOAT_DEB") or self.build()
        self.moatd = None
        self.log = os.path.join(self.tmp, "moatd.log")

    def build(self):
        out = os.path.join(self.tmp, "deb")
        env = dict(os.environ)
        env.setdefault("DEB_BUILD_OPTIONS", "nocheck parallel=2 noautodbgsym")
        t = time.time()
        r = run([os.path.join(TOP, "scripts", "build-deb"), out], env=env,
                timeout=900)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        print("\nbuild-deb: %.0f s" % (time.time() - t), file=sys.stderr)
        debs = [f for f in os.listdir(out) if f.startswith("moat_")
                and f.endswith(".deb")]
        self.assertEqual(len(debs), 1, debs)
        deb = os.path.join(out, debs[0])
        # The package as Debian judges it: no lintian error (the
        # justified exceptions are in debian/moat.lintian-overrides).
        self.assertTrue(shutil.which("lintian"), "lintian missing (scripts/deps)")
        r = run(["lintian", "--fail-on", "error", deb], timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        print("lintian: %s" % (r.stdout.strip() or "no errors or warnings"),
              file=sys.stderr)
        return deb

    # --- install ------------------------------------------------------

    def dpkg_install(self):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        # Under systemd the postinst would start moatd with the
        # packaged configuration (ports 143 and 993): not on a test
        # machine. policy-rc.d is what deb-systemd-invoke asks.
        policy = "/usr/sbin/policy-rc.d"
        ours = SYSTEMD and not os.path.exists(policy)
        if ours:
            with open(policy, "w") as f:
                f.write("#!/bin/sh\nexit 101\n")
            os.chmod(policy, 0o755)
        try:
            r = run(["dpkg", "-i", self.deb], env=env)
        finally:
            if ours:
                os.unlink(policy)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def purge(self):
        if self.moatd is not None:
            self.stop()
        r = run(["dpkg", "--purge", "moat"],
                env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        if os.path.isdir("/run/moat") and not self.before["/run/moat"]:
            shutil.rmtree("/run/moat", True)    # systemd's, at stop
        return r

    def check_installed(self):
        for p in PROGRAMS:
            st = os.stat(p)
            self.assertEqual((st.st_uid, st.st_mode & 0o7777), (0, 0o755), p)
        for p in MAN_PAGES + [UNIT, CONF, "/etc/pam.d/moat"]:
            self.assertTrue(os.path.exists(p), p)
        r = run(["man", "-w", "moatd", "moat.conf", "moat-lmtp",
                 "moat-deliver"])
        self.assertEqual(r.returncode, 0, r.stderr)
        conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", "moat"]).stdout
        for p in (CONF, "/etc/pam.d/moat"):
            self.assertIn(" %s " % p, conffiles)
        # The system user the login and LMTP front processes run as.
        pw = pwd.getpwnam("moat-login")
        self.assertLess(pw.pw_uid, 1000)
        self.assertNotEqual(pw.pw_uid, 0)
        self.assertEqual(pw.pw_shell, "/usr/sbin/nologin")
        if self.before["moat-login"] is not None:
            self.assertEqual(tuple(pw), self.before["moat-login"])
        # The certificate the packaged configuration names.
        key = os.stat("/etc/moat/tls/privkey.pem")
        self.assertEqual((key.st_uid, key.st_mode & 0o777), (0, 0o600))
        self.assertTrue(os.path.exists("/etc/moat/tls/fullchain.pem"))
        if shutil.which("systemd-analyze"):
            r = run(["systemd-analyze", "verify", UNIT])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(r.stdout + r.stderr, "")

    # --- running it as the unit does ---------------------------------

    def runtime_dirs(self):
        svc = unit_lines(UNIT)
        mode = int(svc.get("RuntimeDirectoryMode", ["0755"])[-1], 8)
        for v in svc.get("RuntimeDirectory", []):
            for d in v.split():
                path = os.path.join("/run", d)
                os.makedirs(path, exist_ok=True)
                os.chown(path, 0, 0)
                os.chmod(path, mode)

    def exec_lines(self, key, mainpid=None):
        for v in unit_lines(UNIT).get(key, []):
            ignore = v.startswith("-")
            argv = shlex.split(v.lstrip("-"))
            if mainpid is not None:
                argv = [a.replace("$MAINPID", str(mainpid)) for a in argv]
            r = run(argv)
            if not ignore:
                self.assertEqual(r.returncode, 0, "%s=%s: %s%s" % (
                    key, v, r.stdout, r.stderr))

    def start(self):
        if SYSTEMD:
            run(["systemctl", "daemon-reload"])
            r = run(["systemctl", "start", "moat"])
            self.assertEqual(r.returncode, 0, r.stderr + self.journal())
            self.moatd = "systemd"
            return
        svc = unit_lines(UNIT)
        self.runtime_dirs()
        self.exec_lines("ExecStartPre")
        argv = shlex.split(svc["ExecStart"][-1])
        self.assertEqual(argv[:2], ["/usr/sbin/moatd", "-F"])
        env = dict(os.environ)
        self.notify = None
        if svc.get("Type", ["simple"])[-1] == "notify":
            # As systemd does: a datagram socket in NOTIFY_SOCKET, and
            # the service is started when READY=1 arrives.
            self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.addCleanup(self.notify.close)
            path = os.path.join(self.tmp, "notify")
            self.notify.bind(path)
            env["NOTIFY_SOCKET"] = path
        self.log_f = open(self.log, "ab")
        self.moatd = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                      stdout=self.log_f, stderr=self.log_f,
                                      start_new_session=True, env=env)
        if self.notify is not None:
            self.assertEqual(self.notified(), "READY=1\nMAINPID=%d"
                             % self.moatd.pid, self.journal())

    def notified(self, timeout=20):
        self.notify.settimeout(timeout)
        try:
            return self.notify.recv(4096).decode()
        except OSError as e:
            return "nothing (%s)" % e

    def reload(self):
        if SYSTEMD:
            r = run(["systemctl", "reload", "moat"])
            self.assertEqual(r.returncode, 0, r.stderr)
        else:
            self.exec_lines("ExecReload", self.moatd.pid)
            if self.notify is not None:
                self.assertEqual(self.notified(), "RELOADING=1")
                self.assertEqual(self.notified(), "READY=1")

    def stop(self):
        if self.moatd == "systemd":
            run(["systemctl", "stop", "moat"])
        elif self.moatd is not None:
            # KillMode=mixed: SIGTERM to moatd alone.
            self.moatd.send_signal(signal.SIGTERM)
            try:
                self.moatd.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.moatd.pid, signal.SIGKILL)
                self.moatd.wait()
            self.log_f.close()
        self.moatd = None

    def journal(self):
        if SYSTEMD:
            return run(["journalctl", "-u", "moat", "--no-pager", "-n",
                        "200"]).stdout
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, text, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.journal():
                return True
            time.sleep(0.1)
        return False

    # --- the test user and Postfix -----------------------------------

    def make_user(self):
        self.user = "moatit%d" % (os.getpid() % 100000)
        self.password = secrets.token_hex(8)
        self.home = "/home/" + self.user
        self.assertFalse(os.path.exists(self.home))
        r = run(["useradd", "--create-home", "--home-dir", self.home,
                 "--shell", "/usr/sbin/nologin", "--user-group", self.user])
        self.assertEqual(r.returncode, 0, r.stderr)

        def gone():
            run(["userdel", "--remove", self.user])
            if os.path.exists(self.home):
                shutil.rmtree(self.home, True)
        self.addCleanup(gone)
        r = run(["chpasswd"], input="%s:%s\n" % (self.user, self.password))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.uid = pwd.getpwnam(self.user).pw_uid
        self.assertGreaterEqual(self.uid, 1000)

    def start_postfix(self):
        self.smtp_port = free_port()
        self.maillog = start_postfix(self, self.tmp, LMTP_SOCKET,
                                     self.smtp_port, "mailbox_transport")
        self.assertTrue(wait_port(self.smtp_port, 20), self.postfix_log())

    def postfix_log(self):
        return read_log(self.maillog)

    def imap(self):
        m = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=30)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        m.starttls(ctx)
        m.login(self.user, self.password)
        return m

    # --- the test -------------------------------------------------------

    def test_install_deliver_read_purge(self):
        t0 = time.time()
        purged = False
        self.dpkg_install()

        def cleanup():
            if not purged:
                self.purge()
        self.addCleanup(cleanup)
        self.check_installed()

        # The packaged configuration works as shipped (listeners on 143
        # and 993 are not bound by -t).
        self.runtime_dirs()
        r = run(["/usr/sbin/moatd", "-t"])
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(CONF) as f:
            self.assertIn("log_target = syslog", f.read())

        self.make_user()
        self.imap_port = free_port()
        with open(CONF, "w") as f:
            f.write("""# Written by tests/install/test_install.py.
listen = 127.0.0.1:%d starttls
tls_cert = /etc/moat/tls/fullchain.pem
tls_key = /etc/moat/tls/privkey.pem
auth_backends = pam
mail_location = maildir:~/Maildir
first_valid_uid = 1000
lmtp_socket = %s
lmtp_socket_user = postfix
lmtp_socket_mode = 0600
log_target = stderr
""" % (self.imap_port, LMTP_SOCKET))
        with open("/etc/moat/tls/fullchain.pem", "rb") as f:
            cert = f.read()

        # A reinstall (an upgrade to the same version) keeps the changed
        # conffile and the certificate, and postinst runs again cleanly.
        self.dpkg_install()
        with open(CONF) as f:
            self.assertIn("127.0.0.1:%d" % self.imap_port, f.read())
        with open("/etc/moat/tls/fullchain.pem", "rb") as f:
            self.assertEqual(f.read(), cert)

        self.start()
        self.assertTrue(wait_port(self.imap_port, 20), self.journal())
        self.assertTrue(self.wait_log("LMTP ready", 10), self.journal())
        self.assertEqual(os.stat(LMTP_SOCKET).st_uid,
                         pwd.getpwnam("postfix").pw_uid)
        self.start_postfix()

        token = "zq" + secrets.token_hex(6)
        msg = ("From: Sender <sender@example.com>\r\n"
               "To: %s@example.org\r\n"
               "Subject: install test %s\r\n"
               "Message-ID: <%s@example.com>\r\n\r\n"
               "The word %s is in the body.\r\n" % (self.user, token, token,
                                                     token))
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=30) as c:
            refused = c.sendmail("sender@example.com",
                                 ["%s@example.org" % self.user], msg)
        self.assertEqual(refused, {})

        deadline = time.time() + 30
        count = 0
        while time.time() < deadline and count == 0:
            m = self.imap()
            try:
                typ, data = m.select("INBOX")
                self.assertEqual(typ, "OK")
                count = int(data[0])
            finally:
                m.logout()
            if count == 0:
                time.sleep(0.2)
        self.assertEqual(count, 1, self.postfix_log() + self.journal())
        self.assertIn("status=sent", self.postfix_log())
        self.assertIn("delivered: user=\"%s\"" % self.user, self.journal())

        # Indexed at delivery: the first SEARCH of the mailbox answers
        # TEXT from the full-text index and reads no message (a session
        # logs "search: index=N read=M" for its text keys when it ends).
        m = self.imap()
        try:
            m.select("INBOX")
            typ, data = m.uid("SEARCH", "TEXT", token)
            self.assertEqual((typ, len(data[0].split())), ("OK", 1), data)
        finally:
            m.logout()
        self.assertTrue(self.wait_log("search: index=", 10), self.journal())
        found = re.findall(r"search: index=(\d+) read=(\d+)",
                           self.journal())
        self.assertEqual(len(found), 1, found)
        self.assertTrue(int(found[0][0]) >= 1 and found[0][1] == "0", found)

        m = self.imap()
        try:
            typ, data = m.select("INBOX")
            self.assertEqual(data[0], b"1")
            typ, data = m.fetch("1", "(BODY.PEEK[])")
            body = data[0][1]
            self.assertTrue(body.startswith(b"Return-Path: <sender@example.com>"
                                            b"\r\n"), body[:200])
            self.assertIn(b"Received: from", body)      # Postfix's
            self.assertIn(("Subject: install test %s" % token).encode(), body)
            typ, data = m.uid("SEARCH", "BODY", token)
            self.assertEqual(typ, "OK")
            uids = data[0].split()
            self.assertEqual(len(uids), 1, data)
            typ, data = m.uid("SEARCH", "BODY", "zq" + secrets.token_hex(6))
            self.assertEqual(data[0].split(), [])
        finally:
            m.logout()

        # Once (Postfix got its 250 and does not retry), as the user.
        time.sleep(1)
        files = []
        for sub in ("new", "cur"):
            d = os.path.join(self.home, "Maildir", sub)
            files += [os.path.join(d, n) for n in os.listdir(d)]
        self.assertEqual(len(files), 1, files)
        self.assertEqual(os.stat(files[0]).st_uid, self.uid)
        # The user's index (UIDs, flags, cache and the full-text
        # databases) exists and is the user's.
        idx = os.path.join(self.home, ".moat", "index")
        self.assertEqual(os.stat(idx).st_uid, self.uid)
        self.assertIn("msgs.db", os.listdir(idx))
        for n in os.listdir(idx):
            self.assertEqual(os.stat(os.path.join(idx, n)).st_uid, self.uid, n)

        # moat-deliver (mailbox_command, procmail) as the user, with the
        # packaged default configuration path.
        token2 = "zq" + secrets.token_hex(6)
        r = run(["runuser", "-u", self.user, "--",
                 "/usr/lib/moat/moat-deliver", "-f", "other@example.com",
                 "-a", "%s@example.org" % self.user],
                input="From: other@example.com\nSubject: %s\n\nvia "
                "moat-deliver\n" % token2)
        self.assertEqual(r.returncode, 0, r.stderr)
        m = self.imap()
        try:
            self.assertEqual(m.select("INBOX")[1][0], b"2")
            typ, data = m.uid("SEARCH", "SUBJECT", token2)
            self.assertEqual(len(data[0].split()), 1, data)
            self.assertNotEqual(data[0].split(), uids)
        finally:
            m.logout()

        # systemctl reload: the unit's ExecReload (moatd -t, SIGHUP).
        self.reload()
        self.assertTrue(self.wait_log("configuration reloaded", 10),
                        self.journal())
        m = self.imap()
        try:
            self.assertEqual(m.select("INBOX")[1][0], b"2")
        finally:
            m.logout()

        self.stop()
        deadline = time.time() + 10
        while installed_processes() and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(installed_processes(), [])

        r = self.purge()
        purged = True
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        st = run(["dpkg-query", "-W", "-f=${Status}", "moat"])
        self.assertTrue(st.returncode != 0 or "not-installed" in st.stdout,
                        st.stdout)
        self.assertEqual(footprint(), self.before)
        print("\ninstall test: %.0f s after the build" % (time.time() - t0),
              file=sys.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
