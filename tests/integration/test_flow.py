"""Output flow control and the stuck-client timeout (issue 8, "Done
means" 3), through a real moatd: a client asks for a few hundred MB
(FETCH 1:* BODY[] of 50 MB messages, and a long FETCH 1:* of many small
ones) and then stops reading. The session's memory (VmHWM/VmRSS of its
process) must stay bounded, another user's session must keep answering
promptly, and the stuck client must be dropped after output_timeout
(shortened here) while an idle one is not. With COMPRESS the compressed
path keeps the same bound."""

import os
import socket
import threading
import time
import unittest
import zlib

from moatenv import (BUILDDIR, IS_ROOT, SANITIZED, MoatServer, USERS,
                     client_tls_context, raw_login, status_kb, uid_of)

MB = 1024 * 1024
BIG = 50 * MB
N_BIG = 6                   # 300 MB asked for
N_SMALL = 3000              # FETCH 1:* of 3,000 messages of 16 kB
OUTPUT_TIMEOUT_S = 4
# What a session may grow by while its client does not read: the output
# buffers (pause mark 64 kB, a response at most 1 MB), a streamed chunk,
# deflate state, slack. Measured: 200-400 kB (ASan build: up to 40 MB,
# its quarantine; still far below the 300 MB asked for).


RSS_GROWTH_BOUND_KB = (96 if SANITIZED else 4) * 1024


def big_message(seed):
    """A 50 MB message of base64-like text lines (compresses ~4:3, so
    the compressed stream is large too)."""
    import base64
    block = base64.encodebytes(os.urandom(57 * 1000)).replace(b"\n",
                                                               b"\r\n")
    head = (b"From: a@example.org\r\nSubject: big %d\r\n"
            b"Message-ID: <big%d@example.org>\r\n\r\n" % (seed, seed))
    body = block * (BIG // len(block) + 1)
    return head + body[:BIG - len(head) - 2] + b"\r\n"


@unittest.skipUnless(IS_ROOT, "needs root: sessions of two real users")
class FlowTests(unittest.TestCase):

    def setUp(self):
        self.server = MoatServer(
            extra_conf="mail_fsync = no\noutput_timeout = %ds\n" %
            OUTPUT_TIMEOUT_S, listeners=("starttls", "tls")).start()
        self.addCleanup(self.server.stop)

    def maildir_fill(self, user, messages):
        """Writes messages into the user's Maildir new/ (as an MDA
        would), hard links for repeats: [(name, data or existing)]."""
        c = raw_login(self.server, user)
        c.cmd("s", "SELECT INBOX")       # makes the Maildir
        c.cmd("a", "LOGOUT")
        c.close()
        new = os.path.join(self.server.homes[user], "Maildir", "new")
        uid = USERS[user][1]
        first = None
        for i, data in enumerate(messages):
            path = os.path.join(new, "%d.M%dP1.test" % (1000 + i, i))
            if data is None:
                os.link(first, path)
                continue
            with open(path, "wb") as f:
                f.write(data)
            os.chown(path, uid, uid)
            first = path

    def session_pid(self, user, exclude=()):
        uid = USERS[user][1]
        deadline = time.time() + 5
        while time.time() < deadline:
            for pid in self.server.pids_named("imap"):
                if pid not in exclude and uid_of(pid) == uid:
                    return pid
            time.sleep(0.05)
        self.fail("no session of %s" % user)

    def stuck_client(self, command, compress=False, tls=False):
        """alice's session after `command`, with a client that reads
        nothing (a small receive buffer, so TCP holds back little).
        tls: through imap-login's TLS proxy, whose buffers are bounded
        too, so the session sees the same back-pressure."""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        s.connect(("127.0.0.1",
                   self.server.ports["tls" if tls else "starttls"]))
        if tls:
            s = client_tls_context().wrap_socket(s)
        self.addCleanup(s.close)
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"L LOGIN alice %s\r\n" % USERS["alice"][0].encode())
        self.assertTrue(f.readline().startswith(b"L OK"))
        pid = self.session_pid("alice")
        d = None
        if compress:
            s.sendall(b"Z COMPRESS DEFLATE\r\n")
            self.assertEqual(f.readline(), b"Z OK DEFLATE active.\r\n")
            d = zlib.compressobj(6, zlib.DEFLATED, -15)

        def send(text):
            if d is None:
                s.sendall(text)
            else:
                s.sendall(d.compress(text) + d.flush(zlib.Z_SYNC_FLUSH))
        send(b"S SELECT INBOX\r\n")
        # The SELECT answer is read (it ends before the FETCH starts,
        # which we then never read).
        time.sleep(0.5)
        base = status_kb(pid, "VmRSS")
        send(command)
        return s, pid, base

    def bystander(self, stop, worst, errors):
        """bob: SELECT, FETCH, NOOP in a loop; records the slowest."""
        try:
            c = raw_login(self.server, "bob")
            c.sock.settimeout(10)
            c.cmd("s", "SELECT INBOX")
            n = 0
            while not stop.is_set():
                t = time.time()
                for cmd in ("FETCH 1:* (FLAGS RFC822.SIZE)",
                            "FETCH %d BODY.PEEK[]" % (n % 3 + 1)):
                    lines = c.cmd("f%d" % n, cmd)
                    if not lines[-1].startswith("f%d OK" % n):
                        errors.append(lines[-1])
                lines = c.cmd("n%d" % n, "NOOP")
                worst[0] = max(worst[0], time.time() - t)
                n += 1
                time.sleep(0.05)
            worst[1] = n
            c.cmd("q", "LOGOUT")
            c.close()
        except Exception as e:       # reported by the test
            errors.append(repr(e))

    def run_stuck(self, command, compress=False, tls=False):
        stop = threading.Event()
        worst, errors = [0.0, 0], []
        s, pid, base = self.stuck_client(command, compress, tls)
        t = threading.Thread(target=self.bystander,
                             args=(stop, worst, errors))
        t.start()
        peak_rss = base
        deadline = time.time() + OUTPUT_TIMEOUT_S + 10
        gone_at = None
        start = time.time()
        while time.time() < deadline:
            try:
                peak_rss = max(peak_rss, status_kb(pid, "VmRSS"))
                hwm = status_kb(pid, "VmHWM")
            except (OSError, KeyError):
                gone_at = time.time()
                break
            time.sleep(0.1)
        stop.set()
        t.join(30)
        self.assertEqual(errors, [])
        self.assertGreater(worst[1], 3, "bob's session barely ran")
        self.assertLess(worst[0], 1.0, "bob waited %.2f s" % worst[0])
        print("\nstuck session: base %d kB, peak RSS %d kB, HWM %d kB; "
              "dropped after %.1f s; bob's slowest round %.3f s (%d)" %
              (base, peak_rss, hwm, (gone_at or 0) - start, worst[0],
               worst[1]))
        self.assertLess(hwm - base, RSS_GROWTH_BOUND_KB,
                        "session peaked at %d kB from %d kB" % (hwm, base))
        self.assertIsNotNone(gone_at, "the stuck client was not dropped")
        self.assertTrue(self.server.wait_log(
            "Disconnected: client stopped reading"))
        # Dropped for not reading: not before the timeout passed.
        self.assertGreaterEqual(gone_at - start, OUTPUT_TIMEOUT_S - 0.5)

    def fill_big(self):
        msg = big_message(1)
        self.maildir_fill("alice", [msg] + [None] * (N_BIG - 1))
        self.maildir_fill("bob", [big_message(2)[:200000] + b"\r\n"] * 3)

    def test_big_fetch_not_read(self):
        self.fill_big()
        self.run_stuck(b"F FETCH 1:* BODY[]\r\n")

    def test_big_fetch_not_read_compressed(self):
        self.fill_big()
        self.run_stuck(b"F FETCH 1:* BODY[]\r\n", compress=True)

    def test_big_fetch_not_read_tls_compressed(self):
        self.fill_big()
        self.run_stuck(b"F FETCH 1:* BODY[]\r\n", compress=True, tls=True)

    def test_long_fetch_not_read(self):
        # Many small messages: the command pauses between messages
        # (cmd->resume), not inside a streamed literal.
        small = [b"Subject: s %d\r\n\r\n" % i + b"x" * 16000 + b"\r\n"
                 for i in range(N_SMALL)]
        self.maildir_fill("alice", small)
        self.maildir_fill("bob", small[:3])
        self.run_stuck(b"F FETCH 1:* (UID FLAGS RFC822.SIZE BODY[])\r\n")

    def test_idle_client_not_dropped(self):
        # The output timeout is about output that waits: a client that
        # reads everything and then says nothing stays (idle_timeout is
        # 30 minutes).
        c = raw_login(self.server, "alice")
        self.addCleanup(c.close)
        c.cmd("s", "SELECT INBOX")
        time.sleep(OUTPUT_TIMEOUT_S + 1.5)
        self.assertEqual(c.cmd("n", "NOOP")[-1], "n OK NOOP completed.")

    def test_slow_reader_not_dropped(self):
        # A client that reads slowly but steadily makes progress: every
        # write the socket takes restarts the wait.
        self.maildir_fill("alice", [b"Subject: m\r\n\r\n" +
                                    b"y" * (8 * MB) + b"\r\n"])
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        s.connect(("127.0.0.1", self.server.ports["starttls"]))
        self.addCleanup(s.close)
        s.settimeout(30)
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"L LOGIN alice %s\r\nS SELECT INBOX\r\n"
                  b"F FETCH 1 BODY[]\r\n" % USERS["alice"][0].encode())
        got = 0
        start = time.time()
        # About 8 MB in OUTPUT_TIMEOUT_S + 4 s: 1.2 MB/s, 64 kB at a
        # time with pauses below the timeout.
        pace = (OUTPUT_TIMEOUT_S + 4) / (8 * MB / 65536)
        while True:
            chunk = f.read1(65536)
            if not chunk:
                self.fail("dropped after %d bytes, %.1f s" %
                          (got, time.time() - start))
            got += len(chunk)
            if b"F OK FETCH completed." in chunk[-64:]:
                break
            time.sleep(pace)
        self.assertGreater(time.time() - start, OUTPUT_TIMEOUT_S)


if __name__ == "__main__":
    unittest.main()
