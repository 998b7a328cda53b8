"""moatctl against a running moatd (issue 10, "Done means" 3): every
command, and that nobody but root reaches the control socket.

- who shows a logged-in session with the right user, address and TLS;
  kick (by user and by session) ends it with a BYE; stats counts a
  failed and a good login; reload keeps sessions; stop stops moatd;
- index check finds a file the index does not know, index rebuild
  keeps messages, flags and UIDs; import of an mbox and a Maildir tree
  shows the messages over IMAP; export (Maildir and mbox) round-trips;
- a non-root user cannot connect (the socket is 0600 in a 0700
  directory), and moatd itself refuses a non-root peer (SO_PEERCRED)
  when the modes are wrong.
"""

import json
import os
import re
import signal
import socket
import struct
import subprocess
import time
import unittest

from moatenv import (BUILDDIR, IS_ROOT, STORE_LOCATIONS, USERS,
                     MoatServer, as_user, client_tls_context,
                     imap_connect, raw_login, store_built)

MOATCTL = os.path.join(BUILDDIR, "moatctl", "moatctl")
NOBODY = 65534

# lib/core/ipc-proto.h
IPC_CTL_REQ, IPC_CTL_SESSION, IPC_CTL_STAT, IPC_CTL_DONE = 18, 19, 20, 21
IPC_CTL_WHO = 1


def msg(i):
    return (b"From: a@example.org\r\nTo: alice@example.org\r\n"
            b"Subject: ctl %d\r\nMessage-ID: <ctl%d@example.org>\r\n\r\n"
            b"Body %d.\r\nFrom the start of a line.\r\n" % (i, i, i))


def ipc_frame(type_, id_, fields):
    """A lib/core/ipc frame: u16 type, u16 nfields, u32 id, u32 len."""
    payload = b""
    for kind, v in fields:
        if kind == "u32":
            payload += b"\x01" + struct.pack(">I", v)
        elif kind == "u64":
            payload += b"\x02" + struct.pack(">Q", v)
        else:
            payload += b"\x03" + struct.pack(">I", len(v)) + v
    return struct.pack(">HHII", type_, len(fields), id_,
                       len(payload)) + payload


def ipc_parse(frame):
    type_, nf, id_, plen = struct.unpack(">HHII", frame[:12])
    p, fields = frame[12:], []
    while p:
        kind = p[0]
        if kind == 1:
            fields.append(struct.unpack(">I", p[1:5])[0])
            p = p[5:]
        elif kind == 2:
            fields.append(struct.unpack(">Q", p[1:9])[0])
            p = p[9:]
        else:
            n = struct.unpack(">I", p[1:5])[0]
            fields.append(p[5:5 + n])
            p = p[5 + n:]
    return type_, id_, fields


def who_request(path):
    """Connects to the control socket, sends WHO and returns the frames
    moatd answered up to its CTL_DONE and, after a refusal, whatever it
    sent before the close (or raises an OSError)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(5)
    try:
        s.connect(path)
        try:
            s.send(ipc_frame(IPC_CTL_REQ, 7, [("u32", IPC_CTL_WHO),
                                              ("u64", 0), ("str", b"")]))
        except BrokenPipeError:
            pass    # refused and closed already; its answer is queued
        out = []
        while True:
            try:
                f = s.recv(65536)
            except ConnectionResetError:
                break
            if not f:
                break
            out.append(ipc_parse(f))
            if out[-1][0] == IPC_CTL_DONE:
                if out[-1][1] == 0:
                    # A refusal (id 0): nothing may follow but the close.
                    try:
                        more = s.recv(65536)
                    except ConnectionResetError:
                        more = b""
                    if more:
                        out.append(ipc_parse(more))
                break
        return out
    finally:
        s.close()


def run_as(uid, fn):
    """fn() in a child with uid/gid uid; returns what fn returned
    (json-able) or raises."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 0
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            res = fn()
        except BaseException as e:
            res = {"exception": repr(e)}
            code = 1
        os.write(w, json.dumps(res).encode())
        os._exit(code)
    os.close(w)
    data = b""
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        data += b
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data)


def fetch_state(server, box):
    """{Message-ID: (UID, sorted flags, body)} and UIDVALIDITY of box."""
    m = imap_connect(server)
    try:
        typ, _ = m.select('"%s"' % box, readonly=True)
        assert typ == "OK", (box, typ)
        uv = int(m.untagged_responses.get("UIDVALIDITY", [b"0"])[0])
        typ, data = m.fetch("1:*", "(UID FLAGS BODY.PEEK[])")
        out = {}
        if typ == "OK" and data != [None]:
            for item in data:
                if not isinstance(item, tuple):
                    continue
                head = item[0].decode()
                uid = int(re.search(r"UID (\d+)", head).group(1))
                flags = re.search(r"FLAGS \(([^)]*)\)", head).group(1)
                fl = tuple(sorted(f for f in flags.split()
                                  if f != "\\Recent"))
                mid = re.search(rb"Message-ID: (<[^>]+>)",
                                item[1]).group(1).decode()
                out[mid] = (uid, fl, item[1].replace(b"\r\n", b"\n"))
        return out, uv
    finally:
        m.logout()


class MoatctlBase:
    """A moatd with a control socket, shared by a class's tests."""
    LOCATION = "maildir:~/Maildir"

    @classmethod
    def setUpClass(cls):
        cls.server = MoatServer(extra_conf=(
            "mail_location = %s\ncontrol_socket = %%s\n"
            "auth_throttle_failures = 3\n" % cls.LOCATION))
        # The socket's directory is made by moatd (0700).
        cls.ctldir = os.path.join(cls.server.dir, "run")
        cls.sock = os.path.join(cls.ctldir, "control")
        cls.server.extra_conf %= cls.sock
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def ctl(self, *args, want=0, as_json=True):
        cmd = [MOATCTL, "-c", self.server.conf_path]
        if as_json:
            cmd.append("--json")
        p = subprocess.run(cmd + list(args), capture_output=True,
                           timeout=60)
        self.assertEqual(p.returncode, want, "moatctl %s: exit %d, want "
                         "%d\nstdout %s\nstderr %s" % (
                             " ".join(args), p.returncode, want,
                             p.stdout.decode(errors="replace"),
                             p.stderr.decode(errors="replace")))
        if not as_json:
            return p.stdout.decode()
        out = p.stdout.decode()
        return json.loads(out) if out.strip() else None

    def setUp(self):
        # Sessions of an earlier test may still be exiting.
        self.wait_no_sessions("alice")
        self.wait_no_sessions("bob")

    def sessions_of(self, user):
        return [s for s in self.ctl("who")["sessions"] if s["user"] == user]

    def wait_no_sessions(self, user, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.sessions_of(user):
                return
            time.sleep(0.05)
        self.fail("%s still has sessions" % user)

    def append(self, box, data, flags=""):
        m = imap_connect(self.server)
        try:
            if box != "INBOX":
                m.create('"%s"' % box)
            typ, _ = m.append('"%s"' % box, flags, None, data)
            self.assertEqual(typ, "OK")
        finally:
            m.logout()

    # -- who / kick / stats / reload ---------------------------------

class StoreWorkTests(MoatctlBase):
    """import and export, on each store kind."""

    def write_as_alice(self, rel, data):
        path = os.path.join(self.server.homes["alice"], rel)

        def w():
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
        as_user(w)
        return path

    def test_import_mbox_and_maildir(self):
        mbox = (b"From someone@example.org Thu Nov  5 10:00:00 2026\n"
                + msg(301).replace(b"\r\n", b"\n").replace(
                    b"\n\n", b"\nStatus: RO\nX-Status: F\n\n", 1) +
                b"\n>From a quoted line\n\n"
                b"From other@example.org Fri Nov  6 11:00:00 2026\n" +
                msg(302).replace(b"\r\n", b"\n") + b"\n")
        path = self.write_as_alice("in/mail.mbox", mbox)
        out = self.ctl("import", "alice", path, "--mailbox", "FromMbox")
        self.assertEqual(out["messages"], 2, out)
        got, _ = fetch_state(self.server, "FromMbox")
        self.assertEqual(set(got), {"<ctl301@example.org>",
                                    "<ctl302@example.org>"})
        self.assertEqual(got["<ctl301@example.org>"][1],
                         ("\\Flagged", "\\Seen"))
        self.assertEqual(got["<ctl302@example.org>"][1], ())

        md = "in/md"
        self.write_as_alice(md + "/cur/1700000001.M1P1.h:2,RS",
                            msg(311).replace(b"\r\n", b"\n"))
        self.write_as_alice(md + "/new/1700000002.M2P2.h",
                            msg(312).replace(b"\r\n", b"\n"))
        self.write_as_alice(md + "/.Sub/cur/1700000003.M3P3.h:2,F",
                            msg(313).replace(b"\r\n", b"\n"))
        os.makedirs(os.path.join(self.server.homes["alice"], md, "tmp"),
                    exist_ok=True)
        # An mbox store cannot hold messages in a folder with children:
        # the tree goes to INBOX there (.Sub -> Sub).
        tree = "Tree" if self.STORE == "maildir" else "INBOX"
        out = self.ctl("import", "alice",
                       os.path.join(self.server.homes["alice"], md),
                       "--mailbox", tree)
        self.assertEqual(out["messages"], 3, out)
        got, _ = fetch_state(self.server, tree)
        self.assertEqual(got["<ctl311@example.org>"][1],
                         ("\\Answered", "\\Seen"))
        self.assertEqual(got["<ctl312@example.org>"][1], ())
        sub, _ = fetch_state(self.server, "Tree/Sub" if tree == "Tree"
                             else "Sub")
        self.assertEqual(list(sub), ["<ctl313@example.org>"])
        self.assertEqual(sub["<ctl313@example.org>"][1], ("\\Flagged",))
        # A path the user cannot read is not read as root.
        secret = os.path.join(self.server.dir, "root-only.mbox")
        with open(secret, "wb") as f:
            f.write(mbox)
        os.chmod(secret, 0o600)
        out = self.ctl("import", "alice", secret, want=1)
        self.assertIn("Permission denied", out["error"])

    def test_export_roundtrip(self):
        box = "Exp"
        self.append(box, msg(401), "(\\Seen \\Flagged)")
        self.append(box, msg(402), "")
        self.append(box, msg(403), "(\\Answered \\Draft)")
        want, _ = fetch_state(self.server, box)
        home = self.server.homes["alice"]
        for fmt in ("maildir", "mbox"):
            d = os.path.join(home, "export-" + fmt)
            out = self.ctl("export", "alice", d, "--format", fmt)
            self.assertTrue(out["ok"], out)
            (row,) = [r for r in out["mailboxes"] if r["name"] == box]
            self.assertEqual(row["messages"], 3)
            st = os.stat(d)
            self.assertEqual(st.st_uid, USERS["alice"][1])
            src = os.path.join(d, ".Exp") if fmt == "maildir" else \
                os.path.join(d, "Exp")
            back = "Back-" + fmt
            self.ctl("import", "alice", src, "--mailbox", back)
            got, _ = fetch_state(self.server, back)
            self.assertEqual(set(got), set(want))
            for mid, (_, flags, body) in want.items():
                g = got[mid]
                self.assertEqual(g[1], flags, (fmt, mid))
                if fmt == "maildir":
                    self.assertEqual(g[2], body, (fmt, mid))
                else:
                    # mbox: Status/X-Status headers in front, and the
                    # body's "From " lines quoted (mboxo, as Debian's
                    # MDAs write them)
                    quoted = body.replace(b"\nFrom ", b"\n>From ")
                    if self.STORE == "mbox":
                        # which the mbox store keeps out of the message
                        self.assertEqual(g[2], quoted)
                    else:
                        self.assertTrue(g[2].endswith(quoted),
                                        (g[2], quoted))
                        self.assertTrue(g[2].startswith(b"Status: "), g[2])
        # An export never overwrites: the directory must be new or empty.
        out = self.ctl("export", "alice", os.path.join(home,
                                                      "export-mbox"),
                       "--format", "mbox", want=1)
        self.assertIn("not an empty directory", out["error"])


@unittest.skipUnless(IS_ROOT, "moatctl works as root (uids of users)")
class MoatctlTest(StoreWorkTests, unittest.TestCase):
    STORE = "maildir"

    def test_who_shows_user_address_tls(self):
        tls = imap_connect(self.server, "alice", mode="tls")
        plain = imap_connect(self.server, "bob", mode="starttls")
        try:
            a = self.sessions_of("alice")
            b = self.sessions_of("bob")
            self.assertEqual(len(a), 1, a)
            self.assertEqual(len(b), 1, b)
            self.assertTrue(a[0]["tls"], a)
            self.assertFalse(b[0]["tls"], b)
            self.assertEqual(a[0]["address"], "127.0.0.1")
            self.assertAlmostEqual(a[0]["since_unix"], time.time(),
                                   delta=60)
            self.assertNotEqual(a[0]["id"], b[0]["id"])
            # pid is the session process, running as the user.
            with open("/proc/%d/status" % a[0]["pid"]) as f:
                st = f.read()
            self.assertRegex(st, r"\nUid:\t%d\t" % USERS["alice"][1])
            # STARTTLS counts as TLS too.
            import imaplib
            st = imaplib.IMAP4("127.0.0.1", self.server.ports["starttls"])
            st.starttls(ssl_context=client_tls_context())
            st.login("bob", USERS["bob"][0])
            b = self.sessions_of("bob")
            self.assertEqual(sorted(x["tls"] for x in b), [False, True], b)
            st.logout()
            table = self.ctl("who", as_json=False)
            self.assertRegex(table, r"\n\d+\s+%d\s+alice\s+127\.0\.0\.1:"
                             r"\d+\s+\S+\s+yes\n" % a[0]["pid"])
        finally:
            tls.logout()
            plain.logout()

    def test_kick_user_and_session(self):
        c = raw_login(self.server, "alice")
        c2 = raw_login(self.server, "bob")
        try:
            out = self.ctl("kick", "alice")
            self.assertTrue(out["ok"])
            self.assertEqual([(s["user"], s["ended"])
                              for s in out["sessions"]], [("alice", "bye")])
            self.assertIn("1 logged out with * BYE", out["message"])
            line = c.readline()
            self.assertTrue(line.startswith("* BYE"), line)
            self.assertIn("administrator", line)
            c.read_eof()
            # The answer came when the session was gone.
            self.assertEqual(self.sessions_of("alice"), [])
            # bob was not touched; then by session id
            (b,) = self.sessions_of("bob")
            out = self.ctl("kick", "--session", str(b["id"]))
            self.assertEqual(out["sessions"][0]["id"], b["id"])
            self.assertTrue(c2.readline().startswith("* BYE"))
            self.assertEqual(self.sessions_of("bob"), [])
            # nothing left to kick: an error
            out = self.ctl("kick", "alice", want=1)
            self.assertFalse(out["ok"])
            self.ctl("kick", "--session", "x", want=2)
        finally:
            c.close()
            c2.close()

    def test_kick_kills_a_session_that_does_not_answer(self):
        c = raw_login(self.server, "alice")
        (a,) = self.sessions_of("alice")
        os.kill(a["pid"], signal.SIGSTOP)
        try:
            t0 = time.time()
            text = self.ctl("kick", "alice", as_json=False)
            self.assertGreater(time.time() - t0, 4)
            self.assertRegex(text, r"\n%d\s.*\skilled\n" % a["id"])
            self.assertIn("1 killed", text)
            self.assertEqual(self.sessions_of("alice"), [])
        finally:
            try:
                os.kill(a["pid"], signal.SIGCONT)
            except ProcessLookupError:
                pass
            c.close()

    def test_stats_count_logins(self):
        before = self.ctl("stats")
        c = self.server.connect("starttls")
        c.readline()
        lines = c.cmd("a", "LOGIN alice wrong-password")
        self.assertTrue(lines[-1].startswith("a NO"), lines)
        c.close()
        m = imap_connect(self.server, "alice")
        try:
            after = self.ctl("stats")
        finally:
            m.logout()
        self.assertEqual(after["logins_failed"], before["logins_failed"] + 1)
        self.assertEqual(after["logins_ok"], before["logins_ok"] + 1)
        self.assertGreaterEqual(after["sessions"], 1)
        self.assertIn("uptime", after)
        # An address over auth_throttle_failures (3) is throttled.
        for i in range(4):
            c = self.server.connect("starttls", source="127.0.0.7")
            c.readline()
            lines = c.cmd("t", "LOGIN alice wrong%d" % i)
            self.assertTrue(lines[-1].startswith("t NO"), lines)
            c.close()
        thr = self.ctl("stats")
        self.assertEqual(thr["logins_failed"], after["logins_failed"] + 3)
        self.assertEqual(thr["logins_throttled"],
                         after["logins_throttled"] + 1)
        self.assertEqual(thr["throttled_addresses"],
                         after["throttled_addresses"] + 1)
        text = self.ctl("stats", as_json=False)
        self.assertRegex(text, r"logins_failed\s+\d+")

    def test_reload_keeps_sessions(self):
        c = raw_login(self.server, "alice")
        try:
            out = self.ctl("reload")
            self.assertTrue(out["ok"], out)
            self.assertTrue(self.server.wait_log("configuration reloaded"))
            lines = c.cmd("n", "NOOP")
            self.assertTrue(lines[-1].startswith("n OK"), lines)
            self.assertEqual(len(self.sessions_of("alice")), 1)
            # A broken config: refused, the old one stays.
            with open(self.server.conf_path) as f:
                good = f.read()
            with open(self.server.conf_path, "a") as f:
                f.write("no_such_setting = 1\n")
            try:
                # moatctl still finds the socket in the broken file.
                out = self.ctl("reload", want=1)
                self.assertIn("no_such_setting", out["message"])
            finally:
                with open(self.server.conf_path, "w") as f:
                    f.write(good)
            lines = c.cmd("n2", "NOOP")
            self.assertTrue(lines[-1].startswith("n2 OK"), lines)
        finally:
            c.close()

    # -- the store ---------------------------------------------------
    def test_index_check_and_rebuild_keep_uids_flags(self):
        box = "Rebuild"
        for i in range(1, 4):
            self.append(box, msg(100 + i), "(\\Seen)" if i == 2 else "")
        m = imap_connect(self.server)
        m.select(box)
        m.store("3", "+FLAGS", "(\\Flagged \\Answered)")
        m.logout()
        before, uv = fetch_state(self.server, box)
        self.assertEqual(len(before), 3)
        self.wait_no_sessions("alice")
        out = self.ctl("index", "check", "alice")
        self.assertTrue(out["ok"], out)
        # A message delivered behind the index's back: check sees it.
        home = self.server.homes["alice"]

        def drop():
            p = os.path.join(home, "Maildir", ".Rebuild", "cur",
                             "1700000000.M1P1.ext:2,S")
            with open(p, "wb") as f:
                f.write(msg(200).replace(b"\r\n", b"\n"))
        as_user(drop)
        out = self.ctl("index", "check", "alice", want=1)
        (row,) = [r for r in out["mailboxes"] if r["name"] == box]
        self.assertEqual((row["indexed"], row["missing"]), (3, 1), row)
        # One mailbox: rescanned, UIDs kept, the new file gets the next.
        out = self.ctl("index", "rebuild", "alice", box)
        self.assertTrue(out["ok"], out)
        self.ctl("index", "check", "alice")
        # With a session open the whole index cannot be reset.
        keep = imap_connect(self.server)
        keep.select(box)
        out = self.ctl("index", "rebuild", "alice", want=1)
        self.assertIn("in use", out["error"])
        keep.logout()
        self.wait_no_sessions("alice")
        out = self.ctl("index", "rebuild", "alice")
        self.assertTrue(out["ok"], out)
        after, uv2 = fetch_state(self.server, box)
        self.assertEqual(uv2, uv)
        ext = after.pop("<ctl200@example.org>")
        self.assertEqual(ext[1], ("\\Seen",))
        self.assertGreater(ext[0], max(v[0] for v in before.values()))
        self.assertEqual(after, before)

    def test_usage_and_help(self):
        p = subprocess.run([MOATCTL, "--help"], capture_output=True)
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"index rebuild USER", p.stdout)
        for args in (["frobnicate"], [], ["who", "extra"],
                     ["export", "alice", "/tmp/x"],
                     ["index", "check"]):
            p = subprocess.run([MOATCTL, "-c", self.server.conf_path] +
                               args, capture_output=True)
            self.assertEqual(p.returncode, 2, args)
        self.ctl("import", "nosuchuser", "/tmp/x", want=1)
        out = self.ctl("-s", "/nonexistent/control", "who", want=3)
        self.assertFalse(out["ok"])

    # -- who may connect ---------------------------------------------
    def test_non_root_cannot_connect(self):
        st = os.stat(self.sock)
        self.assertEqual(st.st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(self.ctldir).st_mode & 0o777, 0o700)

        def try_moatctl():
            p = subprocess.run([MOATCTL, "-s", self.sock, "--json", "who"],
                               capture_output=True)
            return [p.returncode, p.stdout.decode()]
        code, out = run_as(NOBODY, try_moatctl)
        self.assertEqual(code, 4, out)

        def raw():
            try:
                who_request(self.sock)
                return "connected"
            except PermissionError:
                return "EACCES"
        self.assertEqual(run_as(NOBODY, raw), "EACCES")

    def test_peercred_refuses_non_root_with_wrong_modes(self):
        """The modes are not the only lock: with the directory and the
        socket open to everyone, moatd still serves only root."""
        c = raw_login(self.server, "alice")
        os.chmod(self.ctldir, 0o755)
        os.chmod(self.sock, 0o666)
        try:
            def raw():
                return [[t, i, [f.decode() if isinstance(f, bytes) else f
                                for f in fl]]
                        for t, i, fl in who_request(self.sock)]
            frames = run_as(NOBODY, raw)
            self.assertIsInstance(frames, list, frames)
            self.assertEqual(len(frames), 1, frames)
            self.assertEqual(frames[0][0], IPC_CTL_DONE)
            self.assertEqual(frames[0][2][0], 1)    # IPC_ST_FAIL
            self.assertIn("permission denied", frames[0][2][1])
            self.assertNotIn(IPC_CTL_SESSION, [f[0] for f in frames])

            def try_moatctl():
                p = subprocess.run([MOATCTL, "-s", self.sock, "--json",
                                    "who"], capture_output=True)
                return [p.returncode, p.stdout.decode()]
            code, out = run_as(NOBODY, try_moatctl)
            self.assertEqual(code, 4, out)
            self.assertNotIn("alice", out)
            # root is served on the same socket
            frames = who_request(self.sock)
            self.assertIn(IPC_CTL_SESSION, [f[0] for f in frames])
            self.assertTrue(self.server.wait_log("control socket: refused"))
        finally:
            os.chmod(self.ctldir, 0o700)
            os.chmod(self.sock, 0o600)
            c.close()

    def test_malformed_request_closes(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.settimeout(5)
        s.connect(self.sock)
        # A WHO naming a user, and then an unknown command.
        s.send(ipc_frame(IPC_CTL_REQ, 9, [("u32", IPC_CTL_WHO), ("u64", 0),
                                          ("str", b"alice")]))
        t, i, f = ipc_parse(s.recv(65536))
        self.assertEqual((t, i, f[0]), (IPC_CTL_DONE, 9, 1))
        self.assertEqual(s.recv(65536), b"")
        s.close()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.settimeout(5)
        s.connect(self.sock)
        s.send(b"\x00\x12" + b"\xff" * 600)
        self.assertEqual(s.recv(65536), b"")
        s.close()
        self.assertTrue(self.ctl("stats")["ok"])



@unittest.skipUnless(IS_ROOT and store_built("mbox"),
                     "moatctl works as root; the mbox store")
class MoatctlMboxStoreTest(StoreWorkTests, unittest.TestCase):
    STORE = "mbox"
    LOCATION = STORE_LOCATIONS["mbox"]


@unittest.skipUnless(IS_ROOT, "moatctl works as root")
class MoatctlStopTest(unittest.TestCase):
    def test_stop(self):
        server = MoatServer(extra_conf="control_socket = %s\n")
        sock = os.path.join(server.dir, "run", "control")
        server.extra_conf %= sock
        server.start()
        try:
            m = imap_connect(server)
            p = subprocess.run([MOATCTL, "-c", server.conf_path, "stop"],
                               capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn(b"moatd stopped", p.stdout)
            server.proc.wait(timeout=5)
            self.assertFalse(os.path.exists(sock))
            p = subprocess.run([MOATCTL, "-c", server.conf_path, "who"],
                               capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 3, p.stderr)
            try:
                m.shutdown()
            except OSError:
                pass
        finally:
            server.stop()


if __name__ == "__main__":
    unittest.main()
