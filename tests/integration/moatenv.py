"""Test harness: a real moatd (all four programs) from a temp dir on free
loopback ports, driven by real clients.

Each MoatServer gets its own directory with a self-signed certificate, a
passwd-file (SHA-512-crypt hashes), a moat.conf and a libexec directory
of symlinks to the build's programs. As root the server runs with full
privilege separation: imap-login as `nobody` in an empty root-owned
chroot, sessions as the passwd-file users' uids (5001, 5002...), whose
homes the harness creates and chowns. moatd then also insists that only
root can change its config file and programs, so the build directory the
symlinks point into must be root's and not group-writable (as in CI).
"""

import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

BUILDDIR = os.environ.get("MOAT_BUILDDIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SRCDIR = os.environ.get("MOAT_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))

IS_ROOT = os.geteuid() == 0
USERS = {"alice": ("secret-a", 5001), "bob": ("secret-b", 5002)}
CRLF = b"\r\n"


def _sanitized_build():
    """True for the ASan build: its allocator keeps freed blocks in a
    quarantine (up to 256 MB) and its shadow memory costs every heap
    step hundreds of kB, so RSS bounds are looser there and PSS
    comparisons mean nothing."""
    try:
        with open(os.path.join(BUILDDIR, "config.status")) as f:
            return "--enable-sanitizers" in f.read()
    except OSError:
        return False


SANITIZED = _sanitized_build()


def status_kb(pid, key):
    """A "VmRSS"-style field of /proc/PID/status, in kB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def uid_of(pid):
    """The real uid of pid, or -1 if it has exited meanwhile."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


_PORT_NEXT = [None]


def free_port():
    """A loopback port nothing listens on. When run.py runs modules side
    by side it gives each one its own range below the ephemeral ports
    (MOAT_PORT_RANGE=lo-hi), so two modules, or a client's outgoing
    connection, cannot take the port between this check and the
    server's bind; otherwise the kernel picks one."""
    rng = os.environ.get("MOAT_PORT_RANGE")
    if rng:
        lo, hi = (int(x) for x in rng.split("-"))
        if _PORT_NEXT[0] is None:
            _PORT_NEXT[0] = lo
        for _ in range(hi - lo + 1):
            port = _PORT_NEXT[0]
            _PORT_NEXT[0] = lo + (port + 1 - lo) % (hi - lo + 1)
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
        raise RuntimeError("no free port in " + rng)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sha512_crypt(password):
    out = subprocess.run(["openssl", "passwd", "-6", "-stdin"],
                         input=password.encode(), capture_output=True,
                         check=True)
    return out.stdout.decode().strip()


_CERT_CACHE = {}


def make_cert(dirname):
    """Self-signed certificate, made once per test process and copied."""
    if "pem" not in _CERT_CACHE:
        tmp = tempfile.mkdtemp(prefix="moat-cert-")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
             "-keyout", os.path.join(tmp, "key.pem"),
             "-out", os.path.join(tmp, "cert.pem"), "-days", "2",
             "-subj", "/CN=localhost"],
            check=True, capture_output=True)
        with open(os.path.join(tmp, "cert.pem"), "rb") as f:
            cert = f.read()
        with open(os.path.join(tmp, "key.pem"), "rb") as f:
            key = f.read()
        shutil.rmtree(tmp)
        _CERT_CACHE["pem"] = (cert, key)
    cert, key = _CERT_CACHE["pem"]
    cpath = os.path.join(dirname, "cert.pem")
    kpath = os.path.join(dirname, "key.pem")
    with open(cpath, "wb") as f:
        f.write(cert)
    with open(kpath, "wb") as f:
        f.write(key)
    os.chmod(kpath, 0o600)
    return cpath, kpath


_HASH_CACHE = {}


def passwd_line(user, password, uid, home):
    if password not in _HASH_CACHE:
        _HASH_CACHE[password] = sha512_crypt(password)
    if not IS_ROOT:
        uid = os.getuid()
        gid = os.getgid()
    else:
        gid = uid
    return "%s:{SHA512-CRYPT}%s:%d:%d::%s::\n" % (
        user, _HASH_CACHE[password], uid, gid, home)


class MoatServer:
    """A running moatd. Use as a context manager or call start()/stop()."""

    def __init__(self, extra_conf="", listeners=("starttls", "tls"),
                 programs=None, env=None, backends="passwd-file",
                 extra_users=(), users=None):
        self.dir = tempfile.mkdtemp(prefix="moat-test-")
        os.chmod(self.dir, 0o755)
        self.extra_conf = extra_conf
        self.listener_modes = listeners
        self.programs = programs or {}
        self.env = env or {}
        self.backends = backends
        # (user, password, uid, gid) written as given, even when not
        # root: accounts that must never get a session.
        self.extra_users = extra_users
        # {user: (password, uid)} with homes, as USERS (the default).
        self.users = users or USERS
        self.proc = None
        self.ports = {}
        self.logpath = os.path.join(self.dir, "moatd.log")

    # -- setup --------------------------------------------------------
    def _write_files(self):
        d = self.dir
        self.cert, self.key = make_cert(d)
        libexec = os.path.join(d, "libexec")
        os.mkdir(libexec)
        os.chmod(libexec, 0o755)
        progs = {"auth": os.path.join(BUILDDIR, "auth", "auth"),
                 "imap-login": os.path.join(BUILDDIR, "imap-login",
                                            "imap-login"),
                 "imap": os.path.join(BUILDDIR, "imap", "imap")}
        progs.update(self.programs)
        for name, path in progs.items():
            os.symlink(path, os.path.join(libexec, name))
        self.homes = {}
        lines = []
        for user, (password, uid) in self.users.items():
            home = os.path.join(d, "home", user)
            os.makedirs(home)
            if IS_ROOT:
                os.chown(home, uid, uid)
            self.homes[user] = home
            lines.append(passwd_line(user, password, uid, home))
        for user, password, uid, gid in self.extra_users:
            if password not in _HASH_CACHE:
                _HASH_CACHE[password] = sha512_crypt(password)
            lines.append("%s:{SHA512-CRYPT}%s:%d:%d::%s::\n" % (
                user, _HASH_CACHE[password], uid, gid,
                os.path.join(d, "home")))
        os.chmod(os.path.join(d, "home"), 0o755)
        self.passwd_path = os.path.join(d, "passwd")
        with open(self.passwd_path, "w") as f:
            f.writelines(lines)
        chroot = os.path.join(d, "empty")
        os.mkdir(chroot)
        os.chmod(chroot, 0o755)
        listen = []
        for mode in self.listener_modes:
            port = free_port()
            self.ports[mode] = port
            listen.append("listen = 127.0.0.1:%d %s" % (port, mode))
        conf = "\n".join(listen) + "\n" + """
tls_cert = %(cert)s
tls_key = %(key)s
login_user = %(login_user)s
login_chroot = %(chroot)s
login_processes = 2
auth_backends = %(backends)s
auth_passwd_file = %(passwd)s
auth_workers = 2
auth_failure_delay = 200ms
first_valid_uid = %(fvu)d
log_target = file
log_file = %(log)s
log_debug = yes
libexec_dir = %(libexec)s
""" % {"cert": self.cert, "key": self.key,
       "login_user": "nobody" if IS_ROOT else "nobody",
       "chroot": chroot, "passwd": self.passwd_path,
       "fvu": 1000 if IS_ROOT else 1, "log": self.logpath,
       "libexec": libexec, "backends": self.backends}
        conf += self.extra_conf
        self.conf_path = os.path.join(d, "moat.conf")
        with open(self.conf_path, "w") as f:
            f.write(conf)
        # As root moatd refuses a config file or program others could
        # change (design: "Files moatd trusts"); the directories here are
        # root's 0755 below the sticky /tmp, whatever the umask.
        os.chmod(self.conf_path, 0o644)

    def start(self):
        self._write_files()
        env = dict(os.environ)
        env.update(self.env)
        self.stderr = open(os.path.join(self.dir, "moatd.stderr"), "wb")
        self.proc = subprocess.Popen(
            [os.path.join(BUILDDIR, "master", "moatd"), "-F", "-c",
             self.conf_path], stdout=self.stderr, stderr=self.stderr,
            env=env)
        self.wait_ready()
        return self

    def wait_ready(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("moatd exited %s:\n%s" % (
                    self.proc.returncode, self.read_log()))
            try:
                with socket.create_connection(
                        ("127.0.0.1", self.ports[self.listener_modes[0]]),
                        timeout=2) as s:
                    if self.listener_modes[0] == "tls":
                        return
                    s.settimeout(3)
                    if s.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("moatd not ready:\n" + self.read_log())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "stderr", None):
            self.stderr.close()
        if os.environ.get("MOAT_KEEP_TESTDIR"):
            print("kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def read_log(self):
        out = ""
        for name in ("moatd.log", "moatd.stderr"):
            try:
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    out += f.read()
            except OSError:
                pass
        return out

    def wait_log(self, needle, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if needle in self.read_log():
                return True
            time.sleep(0.05)
        return False

    # -- process inspection ------------------------------------------
    def descendants(self):
        """[(pid, name)] of every process below moatd."""
        children = {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % pid) as f:
                    stat = f.read()
            except OSError:
                continue
            rp = stat.rfind(")")
            name = stat[stat.find("(") + 1:rp]
            ppid = int(stat[rp + 2:].split()[1])
            children.setdefault(ppid, []).append((int(pid), name))
        out = []
        todo = [self.proc.pid]
        while todo:
            p = todo.pop()
            for c in children.get(p, []):
                out.append(c)
                todo.append(c[0])
        return out

    def pids_named(self, name):
        return [p for p, n in self.descendants() if n == name]

    # -- clients -----------------------------------------------------
    def connect(self, mode="starttls", timeout=10, source=None):
        """source: a client address such as "127.0.0.5" (any of 127/8
        works on Linux), so tests can be separate IPs to the throttle."""
        port = self.ports[mode]
        s = socket.create_connection(
            ("127.0.0.1", port), timeout=timeout,
            source_address=(source, 0) if source else None)
        if mode == "tls":
            s = client_tls_context().wrap_socket(s)
        return RawClient(s)


def client_tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class RawClient:
    """Line-level IMAP client for exact protocol assertions."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def readline(self):
        while CRLF not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; pending %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(CRLF, 1)
        return line.decode("utf-8", "replace")

    def read_until_tagged(self, tag):
        """Lines up to and including the tagged response for tag."""
        lines = []
        while True:
            line = self.readline()
            lines.append(line)
            if line.startswith(tag + " "):
                return lines

    def cmd(self, tag, text):
        self.send("%s %s\r\n" % (tag, text))
        return self.read_until_tagged(tag)

    def read_eof(self, timeout=5):
        """True if the server closes the connection (after any data)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (socket.timeout, TimeoutError):
            return False
        except (ConnectionResetError, ssl.SSLError):
            return True

    def starttls(self):
        self.sock = client_tls_context().wrap_socket(self.sock)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# -- mail stores (the mailbox tests run once per store) -------------------
STORE_LOCATIONS = {
    "maildir": "maildir:~/Maildir",
    # INBOX in the home: the spool (/var/mail, root:mail 2775) has its own
    # tests; these are about the commands.
    "mbox": "mbox:~/mail:INBOX=~/inbox",
}


def store_built(kind):
    """True if the build has the store backend (lib/storage): the mbox
    backend joins when store.c lists it (STORE_WITH_MBOX), i.e. the store
    core refers to mbox_backend."""
    if kind == "maildir":
        return True
    lib = os.path.join(BUILDDIR, "lib", "libmoatstorage.a")
    try:
        out = subprocess.run(["nm", "-A", lib], capture_output=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return False
    return any(b"store.o:" in line and line.endswith(b" U mbox_backend")
               for line in out.splitlines())


def available_stores():
    return [k for k in STORE_LOCATIONS if store_built(k)]


def store_test_classes(namespace, base, name):
    """Defines name + "Maildir", name + "Mbox" ... in namespace: one
    unittest class per built store, with LOCATION and STORE set."""
    for kind in available_stores():
        cls = type(name + kind.capitalize(), (base, unittest.TestCase),
                   {"STORE": kind, "LOCATION": STORE_LOCATIONS[kind],
                    "__module__": namespace.get("__name__", __name__)})
        namespace[cls.__name__] = cls


def imap_connect(server, user="alice", mode="starttls", timeout=30):
    """imaplib.IMAP4 logged in as user (loopback counts as secure)."""
    import imaplib
    port = server.ports[mode]
    if mode == "tls":
        m = imaplib.IMAP4_SSL("127.0.0.1", port,
                              ssl_context=client_tls_context(),
                              timeout=timeout)
    else:
        m = imaplib.IMAP4("127.0.0.1", port, timeout=timeout)
    m.login(user, USERS[user][0])
    return m


def raw_login(server, user="alice", mode="starttls"):
    """RawClient after the greeting and a LOGIN (tag "L")."""
    c = server.connect(mode)
    c.readline()
    lines = c.cmd("L", "LOGIN %s %s" % (user, USERS[user][0]))
    if not lines[-1].startswith("L OK"):
        raise RuntimeError("login failed: %r" % lines)
    return c


def as_user(fn, user="alice"):
    """Runs fn() in a child process with the user's uid and gid (as root;
    otherwise as we are): the files it makes are the user's, as when the
    user's own mutt or MDA makes them."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            if IS_ROOT:
                uid = USERS[user][1]
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
            os.umask(0o077)
            fn()
            code = 0
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise AssertionError("external change failed (status %d)" % status)


def dovecot_conf(d, port, uid):
    # Debian's Dovecot with paths, user and port of its own; no TLS.
    return """base_dir = %(d)s/run
state_dir = %(d)s/state
log_path = %(d)s/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = %(uid)d
passdb {
  driver = passwd-file
  args = scheme=PLAIN %(d)s/passwd
}
userdb {
  driver = passwd-file
  args = %(d)s/passwd
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %(port)d
  }
  inet_listener imaps {
    port = 0
  }
}
""" % {"d": d, "uid": uid, "port": port}


def wait_port(port, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("port %d not listening" % port)


def start_dovecot(tc):
    """Debian's Dovecot for a differential test: alice with a Maildir in
    a temp dir, plain IMAP on a free loopback port, stopped at the
    test's cleanup. Returns the port."""
    d = tempfile.mkdtemp(prefix="moat-dovecot-")
    tc.addCleanup(shutil.rmtree, d, True)
    os.chmod(d, 0o755)
    uid = USERS["alice"][1]
    home = os.path.join(d, "home")
    os.makedirs(home)
    os.chown(home, uid, uid)
    for sub in ("run", "state"):
        os.makedirs(os.path.join(d, sub))
    with open(os.path.join(d, "passwd"), "w") as f:
        f.write("alice:{PLAIN}%s:%d:%d::%s::userdb_mail=maildir:"
                "~/Maildir\n" % (USERS["alice"][0], uid, uid, home))
    port = free_port()
    conf = os.path.join(d, "dovecot.conf")
    with open(conf, "w") as f:
        f.write(dovecot_conf(d, port, uid))
    proc = subprocess.Popen(["dovecot", "-F", "-c", conf],
                            env=dict(os.environ, TZ="UTC"))

    def stop():
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    tc.addCleanup(stop)
    wait_port(port)
    return port
