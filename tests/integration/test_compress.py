"""COMPRESS=DEFLATE (RFC 4978) through a real moatd: Python's zlib over a
raw socket on the plaintext listener, after STARTTLS and on implicit TLS
(where imap-login terminates TLS and proxies the session's bytes, which
are then compressed inside TLS, §3's order); a large APPEND and FETCH
through the streams; a deflate bomb; COMPRESS twice and before login;
one sync flush per burst of responses, not per line; and mbsync (isync
1.4, which uses COMPRESS=DEFLATE when offered) and mutt 2.2
($imap_deflate) as real clients."""

import os
import pty
import re
import select
import shutil
import subprocess
import tempfile
import time
import unittest
import zlib

from moatenv import (BUILDDIR, SANITIZED, MoatServer, USERS, raw_login,
                     status_kb)

CRLF = b"\r\n"
# Z_SYNC_FLUSH ends with an empty stored block: 00 00 ff ff.
SYNC_MARK = b"\x00\x00\xff\xff"


# A session's growth under a deflate bomb (measured: < 1 MB; ASan: ~40 MB).
BOMB_GROWTH_BOUND_KB = (96 if SANITIZED else 16) * 1024


class ZClient:
    """RawClient's interface over raw DEFLATE both ways (RFC 4978 §4:
    windowBits -15; the client is free to use the full 32 kB window)."""

    def __init__(self, raw):
        self.sock = raw.sock
        self.d = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.i = zlib.decompressobj(-15)
        self.wire = b""          # every compressed byte received
        self.buf = b""
        # §3: the server compresses right after the OK's CRLF.
        if raw.buf:
            self._feed(raw.buf)
            raw.buf = b""

    def _feed(self, data):
        self.wire += data
        self.buf += self.i.decompress(data)

    def send(self, data, flush=True):
        if isinstance(data, str):
            data = data.encode()
        out = self.d.compress(data)
        if flush:
            out += self.d.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(out)

    def recv_more(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("closed; pending %r" % self.buf[:200])
        self._feed(chunk)

    def readline(self):
        while CRLF not in self.buf:
            self.recv_more()
        line, self.buf = self.buf.split(CRLF, 1)
        return line.decode("utf-8", "replace")

    def read_bytes(self, n):
        while len(self.buf) < n:
            self.recv_more()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_until_tagged(self, tag):
        lines = []
        while True:
            line = self.readline()
            lines.append(line)
            if line.startswith(tag + " "):
                return lines

    def cmd(self, tag, text):
        self.send("%s %s\r\n" % (tag, text))
        return self.read_until_tagged(tag)

    def read_eof(self, timeout=10):
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self._feed(chunk)
        except (TimeoutError, OSError):
            return False


def raw_read_bytes(c, n):
    """n bytes from a RawClient (after a literal's header line)."""
    while len(c.buf) < n:
        chunk = c.sock.recv(65536)
        if not chunk:
            raise EOFError("closed")
        c.buf += chunk
    data, c.buf = c.buf[:n], c.buf[n:]
    return data


def session_pids(server):
    return set(server.pids_named("imap"))


def pss_kb(pid):
    """Dirty memory (private or shared) of pid, in kB: what deflate's
    state adds, without the PSS of clean program text, which moves as
    other modules' sessions (run side by side) come and go."""
    with open("/proc/%d/smaps_rollup" % pid) as f:
        return sum(int(line.split()[1]) for line in f
                   if line.startswith(("Private_Dirty:", "Shared_Dirty:")))


def body(n, seed):
    """n bytes of mail-like text (compressible, but not trivially)."""
    lines = []
    size = 0
    i = 0
    while size < n:
        line = b"Line %d of message %d: %08x the quick brown fox\r\n" % (
            i, seed, (i * 2654435761 + seed) & 0xffffffff)
        lines.append(line)
        size += len(line)
        i += 1
    data = b"".join(lines)[:n - 2]
    return data.rstrip(b"\r") + b"." * (n - 2 - len(data.rstrip(b"\r"))) + CRLF


class CompressTests(unittest.TestCase):
    EXTRA_CONF = "mail_fsync = no\nmax_line = 64k\n"

    def setUp(self):
        self.server = MoatServer(extra_conf=self.EXTRA_CONF,
                                 listeners=("starttls", "tls")).start()
        self.addCleanup(self.server.stop)

    def login(self, mode):
        """A logged-in RawClient: "plain" on the STARTTLS listener
        without TLS, "starttls" after STARTTLS, "tls" implicit TLS."""
        c = self.server.connect("tls" if mode == "tls" else "starttls")
        self.addCleanup(c.close)
        c.readline()
        if mode == "starttls":
            self.assertTrue(c.cmd("S", "STARTTLS")[-1].startswith("S OK"))
            c.starttls()
        lines = c.cmd("L", "LOGIN alice %s" % USERS["alice"][0])
        self.assertTrue(lines[-1].startswith("L OK"), lines)
        self.assertIn("COMPRESS=DEFLATE", lines[-1])
        return c

    def compress(self, c):
        lines = c.cmd("Z", "COMPRESS DEFLATE")
        self.assertEqual(lines, ["Z OK DEFLATE active."])
        return ZClient(c)

    def round_trip(self, mode):
        z = self.compress(self.login(mode))
        lines = z.cmd("a", "CAPABILITY")
        self.assertIn("COMPRESS=DEFLATE", lines[0])
        self.assertEqual(lines[-1], "a OK Capability completed.")
        msg = body(2 * 1024 * 1024 + 17, 1)
        # A large APPEND: the literal arrives compressed and is inflated
        # a chunk at a time.
        z.send("b APPEND INBOX {%d}\r\n" % len(msg))
        self.assertTrue(z.readline().startswith("+"))
        z.send(msg + CRLF)
        self.assertTrue(z.read_until_tagged("b")[-1].startswith("b OK"))
        self.assertTrue(z.cmd("c", "SELECT INBOX")[-1].startswith("c OK"))
        # A large FETCH: streamed from the file through deflate.
        for _ in range(3):
            z.send("d FETCH 1 BODY.PEEK[]\r\n")
            head = z.readline()
            self.assertTrue(head.endswith("{%d}" % len(msg)), head)
            self.assertEqual(z.read_bytes(len(msg)), msg)
            self.assertEqual(z.read_until_tagged("d")[-1],
                             "d OK FETCH completed.")
        self.assertLess(len(z.wire), len(msg), "output not compressed")
        z.send("e LOGOUT\r\n")
        lines = z.read_until_tagged("e")
        self.assertEqual(lines[0], "* BYE Logging out")
        self.assertTrue(z.read_eof())
        self.assertTrue(self.server.wait_log("deflate: in="))

    def test_plaintext(self):
        self.round_trip("plain")

    def test_starttls(self):
        self.round_trip("starttls")

    def test_implicit_tls(self):
        self.round_trip("tls")

    def test_compress_twice(self):
        z = self.compress(self.login("plain"))
        # RFC 4978 §3: "BAD ... or COMPRESS already active"; the second
        # answer is itself compressed.
        self.assertEqual(z.cmd("a", "COMPRESS DEFLATE"),
                         ["a BAD [COMPRESSIONACTIVE] DEFLATE is active "
                          "already."])
        self.assertEqual(z.cmd("b", "NOOP"), ["b OK NOOP completed."])

    def test_idle_through_compress(self):
        # IDLE (RFC 2177) inside the compressed stream: another
        # session's APPEND is pushed, and DONE, which arrives compressed
        # while the command waits, ends it.
        z = self.compress(self.login("plain"))
        self.assertTrue(z.cmd("a", "SELECT INBOX")[-1].startswith("a OK"))
        z.send("b IDLE\r\n")
        self.assertTrue(z.readline().startswith("+ "))
        other = self.login("plain")
        msg = body(100, 3)
        lines = other.cmd("x", "APPEND INBOX {%d+}\r\n%s" % (len(msg),
                                                            msg.decode()))
        self.assertTrue(lines[-1].startswith("x OK"), lines)
        z.sock.settimeout(5)
        self.assertRegex(z.readline(), r"^\* \d+ EXISTS$")
        z.send("DONE\r\n")
        lines = z.read_until_tagged("b")
        self.assertEqual(lines[-1], "b OK IDLE terminated.")
        self.assertEqual(z.cmd("c", "NOOP")[-1], "c OK NOOP completed.")

    def test_bad_arguments(self):
        c = self.login("plain")
        self.assertEqual(c.cmd("a", "COMPRESS"),
                         ["a BAD Expected COMPRESS DEFLATE."])
        self.assertEqual(c.cmd("b", "COMPRESS GZIP"),
                         ["b BAD Unknown compression mechanism."])
        self.assertEqual(c.cmd("c", "COMPRESS DEFLATE X"),
                         ["c BAD Expected COMPRESS DEFLATE."])
        # Nothing was turned on: plaintext still works.
        self.assertEqual(c.cmd("d", "NOOP"), ["d OK NOOP completed."])

    def test_before_login(self):
        # RFC 4978 §5: command-auth, i.e. authenticated state only;
        # before login it is a command not valid in this state: BAD.
        c = self.server.connect("starttls")
        self.addCleanup(c.close)
        c.readline()
        lines = c.cmd("a", "COMPRESS DEFLATE")
        self.assertTrue(lines[-1].startswith("a BAD"), lines)
        self.assertEqual(c.cmd("b", "NOOP"), ["b OK NOOP completed."])

    def test_one_flush_per_burst(self):
        z = self.compress(self.login("plain"))
        n = 200
        z.send("".join("n%d NOOP\r\n" % i for i in range(n)))
        got = 0
        while got < n:
            if z.readline().startswith("n"):
                got += 1
        marks = z.wire.count(SYNC_MARK)
        # One write of 200 commands is one burst (or a few, as TCP
        # splits it); a flush per line would be 200 marks.
        self.assertLessEqual(marks, 10, "%d sync flushes for %d lines" %
                             (marks, n))

    def test_garbage_after_compress(self):
        c = self.login("plain")
        c.cmd("Z", "COMPRESS DEFLATE")
        c.send(b"\xff\xff\xff\xff this is not deflate\r\n")
        z = ZClient(c)
        try:
            line = z.readline()
        except (EOFError, zlib.error, OSError):
            line = ""
        if line:
            self.assertEqual(line, "* BYE Invalid compressed data.")
        self.assertTrue(z.read_eof())
        self.assertTrue(self.server.wait_log(
            "Disconnected: invalid compressed input"))

    def test_deflate_bomb_line(self):
        # 256 MB of one line in about 250 kB: the reader's max_line
        # applies to the inflated bytes and ends the session at 64 kB.
        z = self.compress(self.login("plain"))
        chunk = b"x" * (1 << 20)
        z.send(b"a NOOP ", flush=False)
        for _ in range(256):
            try:
                z.send(chunk, flush=False)
            except OSError:
                break          # the server closed: it stopped early
        try:
            z.send(b"\r\n")
        except OSError:
            pass
        try:
            lines = [z.readline(), z.readline()]
        except (EOFError, OSError):
            lines = []
        self.assertEqual(lines, ["a BAD [TOOBIG] Line too long.",
                                 "* BYE [TOOBIG] Line too long."])
        self.assertTrue(z.read_eof())

    def test_deflate_bomb_memory(self):
        # A few hundred kB that inflate to 240 MB of pipelined commands,
        # sent by a client that reads nothing: the session inflates only
        # as the reader consumes (and stops reading once its output
        # waits), so its memory stays bounded; an inflate of everything
        # received would hold hundreds of MB.
        z = self.compress(self.login("plain"))
        pid = max(session_pids(self.server))
        base = status_kb(pid, "VmRSS")
        cmds = b"a NOOP\r\n" * (1 << 17)        # 1 MB
        sent = 0
        z.sock.settimeout(10)
        for _ in range(240):
            try:
                z.send(cmds, flush=False)
            except (TimeoutError, OSError):
                break      # the session stopped reading: back-pressure
            sent += 1
        time.sleep(0.5)
        hwm = status_kb(pid, "VmHWM")
        rss = status_kb(pid, "VmRSS")
        self.assertLess(hwm - base, BOMB_GROWTH_BOUND_KB,
                        "session grew from %d kB to a peak of %d kB" %
                        (base, hwm))
        self.assertLess(rss, base + BOMB_GROWTH_BOUND_KB)
        # It still answers correctly: the first responses decode.
        self.assertEqual(z.readline(), "a OK NOOP completed.")

    def test_memory_with_and_without(self):
        """PSS of a session with and without COMPRESS after the same
        commands, a 1 MB FETCH among them (for the design notes): zlib's
        deflate state with our window and memLevel, and the inflate
        window, once both have been used in full."""
        msg = body(1024 * 1024, 7)
        pids = {}
        for mode in ("plain", "deflate"):
            c = self.login("plain")
            pids[mode] = max(session_pids(self.server) -
                             set(pids.values()))
            if mode == "deflate":
                c = self.compress(c)
            c.send("a APPEND INBOX {%d}\r\n" % len(msg))
            c.readline()
            c.send(msg + CRLF)
            c.read_until_tagged("a")
            c.cmd("b", "SELECT INBOX")
            c.send("c FETCH 1 BODY.PEEK[]\r\n")
            c.readline()
            got = (c.read_bytes(len(msg)) if mode == "deflate" else
                   raw_read_bytes(c, len(msg)))
            self.assertEqual(got, msg)
            c.read_until_tagged("c")
            c.cmd("d", "NOOP")
            setattr(self, "client_" + mode, c)
        time.sleep(0.2)
        p0, p1 = pss_kb(pids["plain"]), pss_kb(pids["deflate"])
        print("\nsession PSS: plaintext %d kB, COMPRESS %d kB (+%d kB)" %
              (p0, p1, p1 - p0))
        # Deflate ~70 kB and inflate ~40 kB with our settings; zlib's
        # defaults would add 256 kB for deflate alone. (Not under ASan:
        # its shadow memory and quarantine swamp the difference.)
        if not SANITIZED:
            self.assertLess(p1 - p0, 200)


class MbsyncCompressTests(unittest.TestCase):
    """mbsync (isync 1.4.4 in Debian 12) sends COMPRESS DEFLATE after
    login when the server offers it (its UseCompression? no: it is on by
    default): a real client through both streams, on plaintext and on
    implicit TLS."""

    N = 200

    def setUp(self):
        self.server = MoatServer(extra_conf="mail_fsync = no\n",
                                 listeners=("starttls", "tls")).start()
        self.addCleanup(self.server.stop)
        self.tmp = tempfile.mkdtemp(prefix="moat-compress-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        c = raw_login(self.server)
        for i in range(self.N):
            m = b"Subject: m%d\r\nMessage-ID: <c%d@x>\r\n\r\n%s" % (
                i, i, body(2000, i))
            c.send(b"A APPEND INBOX {%d+}\r\n%s\r\n" % (len(m), m))
            self.assertTrue(c.read_until_tagged("A")[-1].startswith("A OK"))
        c.cmd("Q", "LOGOUT")
        c.close()

    def sync(self, ssltype, port):
        local = os.path.join(self.tmp, ssltype)
        os.mkdir(local)
        config = os.path.join(self.tmp, "rc-" + ssltype)
        with open(config, "w") as f:
            f.write("""
IMAPAccount moat
Host localhost
Port %d
User alice
Pass %s
SSLType %s
CertificateFile %s
AuthMechs LOGIN

IMAPStore moat
Account moat

MaildirStore local
Path %s/
Inbox %s/inbox

Channel down
Far :moat:INBOX
Near :local:INBOX
Sync Pull
Create Near
SyncState %s/state-
""" % (port, USERS["alice"][0], ssltype, self.server.cert, local, local,
                local))
        p = subprocess.run(["mbsync", "-D", "-c", config, "down"],
                           capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, (p.stdout[-3000:],
                                           p.stderr[-3000:]))
        self.assertIn(b"COMPRESS DEFLATE", p.stdout + p.stderr)
        n = sum(len(os.listdir(os.path.join(local, "inbox", d)))
                for d in ("cur", "new"))
        self.assertEqual(n, self.N)
        self.assertTrue(self.server.wait_log("deflate: in="))

    def test_mbsync_plaintext(self):
        self.sync("None", self.server.ports["starttls"])

    def test_mbsync_tls(self):
        self.sync("IMAPS", self.server.ports["tls"])


MUTT = shutil.which("mutt")


@unittest.skipUnless(MUTT, "mutt is not installed (scripts/deps installs it)")
class MuttCompressTests(unittest.TestCase):
    """mutt 2.2 (Debian 12) with $imap_deflate, driven through a pty: a
    second real client that turns COMPRESS on and talks through it."""

    def setUp(self):
        self.server = MoatServer(extra_conf="mail_fsync = no\n",
                                 listeners=("starttls",)).start()
        self.addCleanup(self.server.stop)
        self.home = tempfile.mkdtemp(prefix="moat-mutt-")
        self.addCleanup(shutil.rmtree, self.home, True)
        c = raw_login(self.server)
        for i in range(3):
            m = b"Subject: m%d\r\nMessage-ID: <mutt%d@x>\r\n\r\nhi\r\n" % (
                i, i)
            c.send(b"A APPEND INBOX {%d+}\r\n%s\r\n" % (len(m), m))
            self.assertTrue(c.read_until_tagged("A")[-1].startswith("A OK"))
        c.cmd("Q", "LOGOUT")
        c.close()

    def run_mutt(self, keys):
        url = "imap://alice:%s@127.0.0.1:%d/INBOX" % (
            USERS["alice"][0], self.server.ports["starttls"])
        cmd = [MUTT, "-n", "-F", "/dev/null", "-f", url, "-e",
               "set imap_deflate=yes; set ssl_starttls=no; "
               "set ssl_force_tls=no; set quit=yes; set move=no; "
               "set folder=%s" % self.home, "-e", 'push "%s"' % keys]
        pid, fd = pty.fork()
        if pid == 0:
            os.environ.update({"TERM": "vt100", "HOME": self.home,
                               "LINES": "24", "COLUMNS": "80"})
            os.execv(cmd[0], cmd)
        deadline = time.time() + 30
        status, out = None, b""
        while time.time() < deadline:
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                try:
                    out += os.read(fd, 65536)
                except OSError:
                    pass
            p, st = os.waitpid(pid, os.WNOHANG)
            if p:
                status = os.waitstatus_to_exitcode(st)
                break
        os.close(fd)
        if status is None:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        self.assertEqual(status, 0, out[-500:])

    def test_mutt_speaks_through_compress(self):
        # mutt opens INBOX, then quits (LOGOUT) -- all after COMPRESS.
        # (Flagging a message needs mutt's header FETCH, BODY.PEEK
        # [HEADER.FIELDS ...], which comes with issue 7's FETCH.)
        self.run_mutt("<flag-message><sync-mailbox><quit>")
        # The set-up's session logged out too (without deflate): wait
        # for mutt's line, which the log pipe may bring a moment after
        # mutt exits.
        self.assertTrue(self.server.wait_log(" deflate: in=", timeout=15),
                        "mutt did not use COMPRESS")
        m = re.search(r"Logged out in=\d+ out=\d+ deflate: in=(\d+) "
                      r"out=(\d+)/(\d+) flushes=(\d+)",
                      self.server.read_log())
        self.assertIsNotNone(m, "mutt did not use COMPRESS")
        plain_in, plain_out, wire_out, flushes = map(int, m.groups())
        self.assertGreater(plain_in, len("a LOGOUT\r\n"))
        self.assertGreater(plain_out, 0)
        self.assertGreater(flushes, 0)


if __name__ == "__main__":
    unittest.main()
