"""A stand-in for moatd that runs one real imap-login process.

It owns the listening sockets, passes each accepted connection to
imap-login in a CONN message (SCM_RIGHTS), answers AUTH_REQ like auth
would (users from a dict, optional delay, scripted statuses), and answers
SESSION_REQ by running a tiny fake IMAP session on the descriptor it got.
That lets tests/login/test_login.py check imap-login's whole protocol --
greeting, commands, SASL, STARTTLS, the hand-off of pipelined bytes, the
TLS proxy, SHUTDOWN, privilege drop -- without the rest of Moat.

The IPC encoding follows lib/core/ipc.h: header u16 type, u16 nfields,
u32 id, u32 payload_len; fields u8 kind + value (u32/u64 BE, str/bytes
as u32 length + bytes).
"""

import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

BUILDDIR = os.environ.get("MOAT_BUILDDIR") or os.getcwd()

IPC_CONN, IPC_CONN_DONE, IPC_AUTH_REQ, IPC_AUTH_RESULT = 1, 2, 3, 4
IPC_SESSION_REQ, IPC_SESSION_RESULT, IPC_SHUTDOWN = 5, 6, 10
IPC_CONN_DROP = 13
F_U32, F_U64, F_STR, F_BYTES = 1, 2, 3, 4
TLS_IMPLICIT, SECURED, TLS_ACTIVE, STARTTLS = 1, 2, 4, 8
ST_OK, ST_FAIL, ST_TEMPFAIL, ST_THROTTLED, ST_LIMIT = 0, 1, 2, 3, 4

# Certificate and line-level client are shared with the integration
# tests (tests/integration/moatenv.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from moatenv import make_cert, client_tls_context as tls_context  # noqa
from moatenv import RawClient  # noqa: E402


def encode(mtype, mid, fields):
    payload = b""
    for kind, v in fields:
        if kind == F_U32:
            payload += struct.pack(">BI", F_U32, v)
        elif kind == F_U64:
            payload += struct.pack(">BQ", F_U64, v)
        else:
            if isinstance(v, str):
                v = v.encode()
            payload += struct.pack(">BI", kind, len(v)) + v
    return struct.pack(">HHII", mtype, len(fields), mid,
                       len(payload)) + payload


def decode(data):
    mtype, nfields, mid, plen = struct.unpack(">HHII", data[:12])
    assert plen == len(data) - 12, "bad payload length"
    p, off, out = data[12:], 0, []
    for _ in range(nfields):
        kind = p[off]
        off += 1
        if kind == F_U32:
            out.append(struct.unpack(">I", p[off:off + 4])[0])
            off += 4
        elif kind == F_U64:
            out.append(struct.unpack(">Q", p[off:off + 8])[0])
            off += 8
        else:
            n = struct.unpack(">I", p[off:off + 4])[0]
            off += 4
            v = p[off:off + n]
            off += n
            out.append(v.decode() if kind == F_STR else v)
    assert off == len(p), "trailing payload"
    return mtype, mid, out


class FakeSession(threading.Thread):
    """The imap process: says the tagged OK, then runs the pipelined
    bytes and whatever follows. Commands: NOOP, LOGOUT, BIG n (answers
    n bytes), SIZE (answers the length of its argument), anything else
    OK."""

    def __init__(self, sock, tag, pipelined, flags):
        super().__init__(daemon=True)
        self.sock, self.tag, self.buf = sock, tag, pipelined
        self.flags = flags
        self.pipelined = pipelined
        self.commands = []

    def run(self):
        s = self.sock
        # The descriptor arrives non-blocking (imap-login's mode); a real
        # session sets its own.
        s.setblocking(True)
        try:
            s.sendall(("%s OK [CAPABILITY IMAP4rev1] Logged in\r\n"
                       % self.tag).encode())
            while True:
                while b"\n" not in self.buf:
                    chunk = s.recv(65536)
                    if not chunk:
                        return
                    self.buf += chunk
                line, self.buf = self.buf.split(b"\n", 1)
                line = line.rstrip(b"\r")
                parts = line.split(b" ", 2)
                tag = parts[0].decode(errors="replace")
                cmd = parts[1].upper().decode() if len(parts) > 1 else ""
                self.commands.append(cmd)
                if cmd == "LOGOUT":
                    s.sendall(("* BYE bye\r\n%s OK Logout done\r\n"
                               % tag).encode())
                    return
                if cmd == "BIG":
                    n = int(parts[2])
                    s.sendall(b"* BIG " + b"x" * n + b"\r\n")
                elif cmd == "SIZE":
                    s.sendall(("* SIZE %d\r\n" % len(parts[2])).encode())
                s.sendall(("%s OK %s done\r\n" % (tag, cmd)).encode())
        except OSError:
            pass
        finally:
            s.close()


class FakeMoatd:
    def __init__(self, extra_conf="", secured=True, users=None,
                 auth_delay=0.0, starttls_flag=True):
        self.dir = tempfile.mkdtemp(prefix="moat-login-test-")
        os.chmod(self.dir, 0o755)
        self.extra_conf = extra_conf
        self.secured = secured
        self.starttls_flag = starttls_flag
        self.users = users or {"alice": "secret-a", "bob": "secret-b"}
        self.auth_delay = auth_delay
        # delay_ms a failed AUTH_RESULT asks imap-login to wait out.
        self.failure_delay_ms = 0
        self.auth_status = None       # force an AUTH_RESULT status
        self.session_status = ST_OK   # SESSION_RESULT status
        self.session_hold = False     # keep SESSION_REQs unanswered
        self.held = []                # (id, fd, tag, pipelined, flags)
        self.conn_id = 100
        self.conns = {}               # conn id -> flags
        self.conn_rips = {}           # conn id -> client address
        self.conn_done = []
        self.auth_reqs = []           # (user, password, rip)
        self.session_reqs = []        # dicts
        self.sessions = []
        self.cookies = {}
        self.logs = []
        self.lock = threading.Lock()
        self.stop_flag = False
        self.pending = []             # (due, bytes) delayed replies

    # -- setup ---------------------------------------------------------
    def start(self):
        d = self.dir
        cert, key = make_cert(d)
        os.mkdir(d + "/empty")
        os.chmod(d + "/empty", 0o755)
        open(d + "/passwd", "w").close()
        self.lplain = socket.socket()
        self.lplain.bind(("127.0.0.1", 0))
        self.lplain.listen(64)
        self.ltls = socket.socket()
        self.ltls.bind(("127.0.0.1", 0))
        self.ltls.listen(64)
        self.ports = {"plain": self.lplain.getsockname()[1],
                      "tls": self.ltls.getsockname()[1]}
        conf = """listen = 127.0.0.1:%d starttls
listen = 127.0.0.1:%d tls
tls_cert = %s
tls_key = %s
login_user = nobody
login_chroot = %s/empty
auth_backends = passwd-file
auth_passwd_file = %s/passwd
log_debug = yes
""" % (self.ports["plain"], self.ports["tls"], cert, key, d, d)
        conf += self.extra_conf
        with open(d + "/moat.conf", "w") as f:
            f.write(conf)
        self.ipc, child = socket.socketpair(socket.AF_UNIX,
                                            socket.SOCK_SEQPACKET)
        cfd = child.fileno()
        # The IPC socket must be fd 3 in the child; the shell's
        # redirection places it there (subprocess would close an fd
        # made in preexec_fn).
        env = dict(os.environ)
        if os.geteuid() == 0:
            # LeakSanitizer needs /proc, which the chroot hides.
            env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") +
                                   ":detect_leaks=0").lstrip(":")
        self.proc = subprocess.Popen(
            ["/bin/sh", "-c", 'exec "$@" 3<&%d %d<&-' % (cfd, cfd), "sh",
             os.path.join(BUILDDIR, "imap-login", "imap-login"), "-c",
             d + "/moat.conf"], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            pass_fds=(cfd,), env=env)
        child.close()
        self.log_thread = threading.Thread(target=self._read_logs,
                                           daemon=True)
        self.log_thread.start()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stop_flag = True
        self.thread.join(5)
        try:
            self.ipc.close()
        except OSError:
            pass
        if self.proc.poll() is None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_thread.join(5)
        self.proc.stderr.close()
        self.lplain.close()
        self.ltls.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _read_logs(self):
        for line in self.proc.stderr:
            with self.lock:
                self.logs.append(line.decode(errors="replace").rstrip())

    def log_text(self):
        with self.lock:
            return "\n".join(self.logs)

    def wait_log(self, needle, timeout=5):
        end = time.time() + timeout
        while time.time() < end:
            if needle in self.log_text():
                return True
            time.sleep(0.02)
        return False

    # -- moatd side ----------------------------------------------------
    def send(self, data, fds=()):
        socket.send_fds(self.ipc, [data], list(fds))

    def send_shutdown(self):
        self.send(encode(IPC_SHUTDOWN, 0, []))

    def _accept(self, lsock, tls):
        s, addr = lsock.accept()
        self.conn_id += 1
        flags = TLS_IMPLICIT if tls else (STARTTLS if self.starttls_flag
                                          else 0)
        if self.secured or tls:
            flags |= SECURED
        lip, lport = s.getsockname()
        with self.lock:
            self.conns[self.conn_id] = flags
            self.conn_rips[self.conn_id] = addr[0]
        self.send(encode(IPC_CONN, self.conn_id, [
            (F_U32, flags), (F_STR, addr[0]), (F_U32, addr[1]),
            (F_STR, lip), (F_U32, lport)]), [s.fileno()])
        s.close()

    def _handle(self, data, fds):
        mtype, mid, f = decode(data)
        if mtype == IPC_CONN_DONE:
            assert not fds
            with self.lock:
                self.conn_done.append(mid)
        elif mtype == IPC_AUTH_REQ:
            assert not fds
            # The connection, not an address: moatd uses its own record.
            conn_id, user, password = f
            assert conn_id in self.conn_rips, "AUTH_REQ for unknown conn"
            rip = self.conn_rips[conn_id]
            with self.lock:
                self.auth_reqs.append((user, password, rip))
            status = self.auth_status
            if status is None:
                status = ST_OK if self.users.get(user) == password \
                    else ST_FAIL
            cookie = os.urandom(32) if status == ST_OK else bytes(32)
            if status == ST_OK:
                self.cookies[cookie] = user
            reply = encode(IPC_AUTH_RESULT, mid, [
                (F_U32, status), (F_BYTES, cookie),
                (F_STR, user if status == ST_OK else ""),
                (F_U32, 0 if status == ST_OK else self.failure_delay_ms)])
            self.pending.append((time.time() + self.auth_delay, reply))
        elif mtype == IPC_SESSION_REQ:
            assert len(fds) == 1, "SESSION_REQ without fd"
            cookie, tag, pipelined, flags, rip, rport, lip, lport = f
            req = {"id": mid, "cookie_ok": cookie in self.cookies,
                   "user": self.cookies.pop(cookie, None), "tag": tag,
                   "pipelined": pipelined, "flags": flags, "rip": rip}
            with self.lock:
                self.session_reqs.append(req)
                if self.session_hold:
                    self.held.append((mid, fds[0], tag, pipelined, flags))
                    return
            status = self.session_status if req["cookie_ok"] else ST_FAIL
            self.answer_session(mid, fds[0], tag, pipelined, flags, status)
        else:
            raise AssertionError("unexpected message type %d" % mtype)

    def answer_session(self, mid, fd, tag, pipelined, flags, status):
        if status == ST_OK:
            sess = FakeSession(socket.socket(fileno=fd), tag, pipelined,
                               flags)
            with self.lock:
                self.sessions.append(sess)
            sess.start()
        else:
            os.close(fd)
        self.send(encode(IPC_SESSION_RESULT, mid, [(F_U32, status)]))

    def release_sessions(self, status):
        """Answers the held SESSION_REQs with status."""
        with self.lock:
            held, self.held = self.held, []
        for mid, fd, tag, pipelined, flags in held:
            self.answer_session(mid, fd, tag, pipelined, flags, status)

    def _loop(self):
        while not self.stop_flag:
            now = time.time()
            for item in [p for p in self.pending if p[0] <= now]:
                self.pending.remove(item)
                self.send(item[1])
            try:
                r, _, _ = select.select([self.ipc, self.lplain, self.ltls],
                                        [], [], 0.02)
            except (OSError, ValueError):
                return
            if self.lplain in r:
                self._accept(self.lplain, False)
            if self.ltls in r:
                self._accept(self.ltls, True)
            if self.ipc in r:
                try:
                    data, fds, _, _ = socket.recv_fds(self.ipc, 70000, 4)
                except OSError:
                    return
                if not data:
                    return
                self._handle(data, fds)

    # -- helpers -------------------------------------------------------
    def wait_for(self, pred, timeout=5):
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                if pred():
                    return True
            time.sleep(0.02)
        return False

    def connect(self, mode="plain", timeout=10):
        s = socket.create_connection(("127.0.0.1", self.ports[mode]),
                                     timeout=timeout)
        if mode == "tls":
            s = tls_context().wrap_socket(s)
        return Client(s)


class Client(RawClient):
    until = RawClient.read_until_tagged
