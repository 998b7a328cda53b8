#!/usr/bin/env python3
"""The mail store against Dovecot: driven by scripts/bench-store (which
installs the packages and builds Moat first; see its header for the
settings). Root only: both servers run with real privilege separation.

Same mail for both servers: /work/shared/tools/gen-corpus.py (or
MOAT_BENCH_STORE_GEN) makes COUNT messages from SEED once, cached in
CORPUS_DIR as an mbox and a Maildir made from it (files hard-linked into
every home: neither server writes a Maildir file, they only rename).
Every measurement is timed on the client (send to tagged reply) and on
the server (CPU time of the session process, from /proc/PID/schedstat)
and repeated; the table shows median [min-max].
"""
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ENV = os.environ
TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = ENV.get("MOAT_BENCH_STORE_QUICK") == "1"
COUNT = int(ENV.get("MOAT_BENCH_STORE_COUNT", 2000 if QUICK else 100000))
SEED = int(ENV.get("MOAT_BENCH_STORE_SEED", 42))
RUNS = int(ENV.get("MOAT_BENCH_STORE_RUNS", 1 if QUICK else 3))
WARM = int(ENV.get("MOAT_BENCH_STORE_WARM", 3 if QUICK else 7))
SESSIONS = int(ENV.get("MOAT_BENCH_STORE_SESSIONS", 5 if QUICK else 20))
APPENDS = int(ENV.get("MOAT_BENCH_STORE_APPENDS", 20 if QUICK else 100))
SMALL = int(ENV.get("MOAT_BENCH_STORE_SMALL", 100))
DROP = ENV.get("MOAT_BENCH_STORE_DROP_CACHES", "0" if QUICK else "1") == "1"
PARTS = ENV.get("MOAT_BENCH_STORE_PARTS", "store pss").split()
SMAPS = ENV.get("MOAT_BENCH_STORE_SMAPS")
SERVERS = ENV.get("MOAT_BENCH_STORE_SERVERS", "moat dovecot").split()
STORES = ENV.get("MOAT_BENCH_STORE_STORES", "maildir mbox").split()
BUILD = ENV.get("MOAT_BENCH_BUILD", os.path.join(TOP, "build"))
CORPUS_DIR = ENV.get("MOAT_BENCH_STORE_CORPUS_DIR",
                     "/var/tmp/moat-bench-store")
GEN = ENV.get("MOAT_BENCH_STORE_GEN", "/work/shared/tools/gen-corpus.py")
OUT = ENV.get("MOAT_BENCH_STORE_OUT",
              os.path.join(BUILD, "bench-store-results.md"))
PASSWORD = "benchpw"
LOCATIONS = {
    "maildir": "maildir:~/Maildir",
    "mbox": "mbox:~/mail:INBOX=~/inbox",
}
CLK = os.sysconf("SC_CLK_TCK")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def run(*cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def loadavg():
    return open("/proc/loadavg").read().split()[0]


# -- corpus ------------------------------------------------------------------
FROM_RE = re.compile(rb"^From \S+ (.{24})$")


def mbox_messages(path):
    """(internal date, bytes of the message without its From_ line)
    for each message of the generator's mbox (every line starting
    with "From " is a separator: the generator escapes the others)."""
    cur, date = None, None
    with open(path, "rb") as f:
        for line in f:
            if line.startswith(b"From "):
                if cur is not None:
                    yield date, b"".join(cur)[:-1]
                m = FROM_RE.match(line.rstrip(b"\n"))
                date = time.mktime(time.strptime(m.group(1).decode(),
                                                 "%a %b %d %H:%M:%S %Y")) \
                    if m else 0
                cur = []
            elif cur is not None:
                cur.append(line)
    if cur is not None:
        yield date, b"".join(cur)[:-1]


def corpus(uid, gid):
    """Paths of the cached mbox and Maildir (cur/ only) of COUNT
    messages, made if missing."""
    os.makedirs(CORPUS_DIR, exist_ok=True)
    base = os.path.join(CORPUS_DIR, "corpus-%d-%d" % (COUNT, SEED))
    mbox, maildir = base + ".mbox", base + ".maildir"
    if not os.path.exists(mbox):
        log("generating %d messages (seed %d) with %s" % (COUNT, SEED, GEN))
        run(sys.executable, GEN, mbox + ".tmp", str(COUNT), str(SEED))
        os.rename(mbox + ".tmp", mbox)
    if not os.path.exists(maildir):
        log("making the Maildir copy")
        tmp = maildir + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp + "/cur")
        for i, (date, data) in enumerate(mbox_messages(mbox)):
            # Names as Dovecot's deliver and Moat's APPEND write them:
            # time, unique part, host, size; no flags.
            name = "%s/cur/%d.M%dP1.bench,S=%d:2," % (tmp, date, i,
                                                      len(data))
            with open(name, "wb") as f:
                f.write(data)
            os.utime(name, (date, date))
            os.chown(name, uid, gid)
            os.chmod(name, 0o600)
        os.rename(tmp, maildir)
    os.chown(mbox, uid, gid)
    os.chmod(mbox, 0o600)
    return mbox, maildir


def small_mbox(mbox, path, n):
    """The first n messages of mbox into path."""
    with open(mbox, "rb") as f, open(path, "wb") as out:
        seen = 0
        for line in f:
            if line.startswith(b"From "):
                seen += 1
                if seen > n:
                    break
            out.write(line)


# -- servers -----------------------------------------------------------------
def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("server did not come up on port %d" % port)


class Server:
    def __init__(self, name, B, uid, gid, users):
        self.name, self.B, self.uid, self.gid = name, B, uid, gid
        # Users with a uid of their own (bench-idle); the others have uid.
        self.uids = {}
        self.dir = os.path.join(B, name)
        self.homes = os.path.join(self.dir, "home")
        os.makedirs(self.homes)
        self.users = users
        self.proc = None

    def uid_of(self, user):
        return self.uids.get(user, self.uid)

    def home(self, user):
        return os.path.join(self.homes, user)

    def stop(self):
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    # The session processes: direct children of the master with the
    # mail uid (Moat's imap, Dovecot's imap).
    def sessions(self):
        out = []
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                st = open("/proc/%s/stat" % p).read()
                uid = os.stat("/proc/%s" % p).st_uid
            except OSError:
                continue
            rest = st[st.rfind(")") + 2:].split()
            if int(rest[1]) == self.proc.pid and uid == self.uid:
                out.append(int(p))
        return out


def conf_merge(base, extra):
    """Moat's configuration base with extra's settings: one that base has
    replaces its line (moatd refuses a setting given twice), the others
    are added; "listen" lines are always added."""
    lines = base.splitlines()
    for e in extra.splitlines():
        key = e.split("=", 1)[0].strip()
        for i, b in enumerate(lines):
            if key != "listen" and b.split("=", 1)[0].strip() == key:
                lines[i] = e
                break
        else:
            lines.append(e)
    return "\n".join(lines) + "\n"


class Moat(Server):
    def reset_index(self, user, store):
        shutil.rmtree(os.path.join(self.home(user), ".moat"),
                      ignore_errors=True)

    def start(self, hashed, tls=False, lmtp=False, extra=""):
        """tls: also an implicit-TLS listener (self.tls_port); lmtp: LMTP
        on self.lmtp_port; extra: more configuration lines (the later
        setting of a name wins)."""
        self.port = free_port()
        lx = os.path.join(self.dir, "libexec")
        os.makedirs(lx, exist_ok=True)
        more = ""
        if tls:
            self.tls_port = free_port()
            more += "listen = 127.0.0.1:%d tls\n" % self.tls_port
        if lmtp:
            self.lmtp_port = free_port()
            more += "lmtp_port = %d\n" % self.lmtp_port
        for p in ("auth", "imap-login", "imap", "lmtp"):
            if os.path.lexists(os.path.join(lx, p)):
                continue
            os.symlink(os.path.join(BUILD, p, p), os.path.join(lx, p))
        empty = os.path.join(self.dir, "empty")
        os.makedirs(empty, exist_ok=True)
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            for user, store in self.users.items():
                f.write("%s:{SHA512-CRYPT}%s:%d:%d::%s::mail=%s\n" % (
                    user, hashed, self.uid_of(user), self.gid,
                    self.home(user),
                    LOCATIONS[store]))
        conf = os.path.join(self.dir, "moat.conf")
        with open(conf, "w") as f:
            f.write(conf_merge("""listen = 127.0.0.1:%d starttls
tls_cert = %s/cert.pem
tls_key = %s/key.pem
login_user = moat-login
login_chroot = %s
auth_backends = passwd-file
auth_passwd_file = %s/passwd
auth_failure_delay = 0
first_valid_uid = %d
max_connections_per_ip = 5000
max_sessions_per_user_ip = 1000
mail_fsync = yes
log_target = file
log_file = %s/moat.log
libexec_dir = %s
""" % (self.port, self.B, self.B, empty, self.dir, self.uid, self.dir, lx)
                    + more, extra))
        self.proc = subprocess.Popen(
            [os.path.join(BUILD, "master", "moatd"), "-F", "-c", conf])
        wait_port(self.port)


class Dovecot(Server):
    def reset_index(self, user, store):
        h = self.home(user)
        if store == "maildir":
            for n in os.listdir(h + "/Maildir"):
                if n.startswith("dovecot"):
                    os.unlink(os.path.join(h, "Maildir", n))
        else:
            shutil.rmtree(h + "/mail/.imap", ignore_errors=True)

    def start(self, hashed, tls=False, lmtp=False, extra="",
              login_extra="", imap_extra=""):
        """tls: also imaps on self.tls_port; lmtp: LMTP (Debian's
        dovecot-lmtpd) on self.lmtp_port, recipients' domains stripped;
        extra: more top-level settings; login_extra, imap_extra: more
        settings in service imap-login, service imap."""
        self.port = free_port()
        self.tls_port = free_port() if tls else 0
        d = self.dir
        os.makedirs(d + "/run", exist_ok=True)
        os.makedirs(d + "/state", exist_ok=True)
        more = extra
        if tls:
            more += "ssl_cert = <%s/cert.pem\nssl_key = <%s/key.pem\n" \
                "ssl_min_protocol = TLSv1.2\n" % (self.B, self.B)
        if lmtp:
            self.lmtp_port = free_port()
            more += """auth_username_format = %%Ln
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = %d
  }
}
""" % self.lmtp_port
        with open(d + "/passwd", "w") as f:
            for user, store in self.users.items():
                f.write("%s:{SHA512-CRYPT}%s:%d:%d::%s::userdb_mail=%s\n" % (
                    user, hashed, self.uid_of(user), self.gid,
                    self.home(user),
                    LOCATIONS[store]))
        with open(d + "/dovecot.conf", "w") as f:
            # Debian's defaults but for paths, users and limits;
            # mail_fsync = always: fsync of the mail file and the index
            # on every save, as Moat's mail_fsync = yes does.
            f.write("""base_dir = %(d)s/run
state_dir = %(d)s/state
log_path = %(d)s/dovecot.log
protocols = imap%(lmtp)s
listen = 127.0.0.1
ssl = %(ssl)s
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = %(uid)d
mail_fsync = always
default_process_limit = 4000
default_client_limit = 20000
mail_max_userip_connections = 1000
passdb {
  driver = passwd-file
  args = scheme=SHA512-CRYPT %(d)s/passwd
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
    address = 127.0.0.1
    port = %(tls_port)d
  }
  process_limit = 4000
%(login_extra)s}
service imap {
  process_limit = 4000
%(imap_extra)s}
""" % {"d": d, "uid": self.uid, "port": self.port, "tls_port": self.tls_port,
       "lmtp": " lmtp" if lmtp else "", "ssl": "yes" if tls else "no",
       "login_extra": login_extra, "imap_extra": imap_extra} + more)
        self.proc = subprocess.Popen(["dovecot", "-F", "-c",
                                      d + "/dovecot.conf"])
        wait_port(self.port)


# -- client ------------------------------------------------------------------
def cpu_ns(pid):
    """CPU time of pid in ns (schedstat; stat's ticks as a fallback)."""
    try:
        return int(open("/proc/%d/schedstat" % pid).read().split()[0])
    except (OSError, ValueError, IndexError):
        st = open("/proc/%d/stat" % pid).read()
        rest = st[st.rfind(")") + 2:].split()
        return (int(rest[11]) + int(rest[12])) * 10**9 // CLK


class Session:
    def __init__(self, server, user):
        self.server = server
        before = set(server.sessions())
        self.sock = socket.create_connection(("127.0.0.1", server.port), 60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.n = 0
        self._line()
        r = self.cmd('LOGIN %s %s' % (user, PASSWORD))
        if not tagged_ok(r):
            raise SystemExit("%s: login %s failed: %r" % (server.name, user,
                                                          bytes(r[-200:])))
        self.pid = None
        for _ in range(100):
            new = set(server.sessions()) - before
            if len(new) == 1:
                self.pid = new.pop()
                break
            time.sleep(0.01)
        if self.pid is None:
            raise SystemExit("%s: no session process found" % server.name)

    def _line(self):
        while b"\r\n" not in self.buf:
            self._recv()
        i = self.buf.index(b"\r\n") + 2
        line = bytes(self.buf[:i])
        del self.buf[:i]
        return line

    def _recv(self):
        d = self.sock.recv(1 << 18)
        if not d:
            raise SystemExit("%s: connection closed" % self.server.name)
        self.buf += d

    def send(self, data):
        self.sock.sendall(data)

    def wait(self, tag):
        """Everything up to and including the tagged reply."""
        t = b"\r\n" + tag + b" "
        pos = 0
        while True:
            if self.buf.startswith(tag + b" "):
                i = 0
            else:
                i = self.buf.find(t, max(0, pos - len(t)))
                if i >= 0:
                    i += 2
            if i >= 0:
                j = self.buf.find(b"\r\n", i)
                if j >= 0:
                    out = self.buf[:j + 2]
                    del self.buf[:j + 2]
                    return out
                # The tagged line came in part: search from it again
                # (from the buffer's end, it was never found again and
                # the client waited for ever: the mixed profile's
                # "hang" after a large FETCH BODY[]).
                pos = i
            else:
                pos = len(self.buf)
            self._recv()

    def cmd(self, text):
        self.n += 1
        tag = b"b%d" % self.n
        self.send(tag + b" " + text.encode() + b"\r\n")
        return self.wait(tag)

    def timed(self, text, check=None):
        """(wall ms, server CPU ms, reply) of one command."""
        c0 = cpu_ns(self.pid)
        t0 = time.perf_counter()
        r = self.cmd(text)
        t1 = time.perf_counter()
        c1 = cpu_ns(self.pid)
        if not tagged_ok(r):
            raise SystemExit("%s: %s failed: %r" % (self.server.name, text,
                                                    bytes(r[-300:])))
        if check:
            check(r)
        return (t1 - t0) * 1e3, (c1 - c0) / 1e6, r

    def append(self, mailbox, data):
        self.n += 1
        tag = b"b%d" % self.n
        self.send(b"%s APPEND %s {%d}\r\n" % (tag, mailbox.encode(),
                                               len(data)))
        line = self._line()
        if not line.startswith(b"+"):
            raise SystemExit("%s: APPEND refused: %r" % (self.server.name,
                                                         line))
        self.send(data + b"\r\n")
        r = self.wait(tag)
        if not tagged_ok(r):
            raise SystemExit("%s: APPEND failed: %r" % (self.server.name,
                                                        bytes(r[-200:])))

    def logout(self):
        try:
            self.cmd("LOGOUT")
        except SystemExit:
            pass
        self.sock.close()


def tagged_ok(r):
    tail = bytes(r[r.rfind(b"\r\n", 0, len(r) - 2) + 2:])
    return tail.split(b" ", 2)[1:2] == [b"OK"]


def exists_is(n):
    def check(r):
        m = re.search(rb"\* (\d+) EXISTS", r)
        if not m or int(m.group(1)) != n:
            raise SystemExit("SELECT: EXISTS %r, expected %d" % (
                m.group(1) if m else None, n))
    return check


def fetched(n):
    def check(r):
        if r.count(b" FETCH (") != n:
            raise SystemExit("FETCH: %d responses, expected %d" % (
                r.count(b" FETCH ("), n))
    return check


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def pss_kb(pid):
    """(PSS, private) kB of pid and its descendants."""
    total = priv = 0
    todo = [pid]
    kids = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                st = open("/proc/%s/stat" % p).read()
            except OSError:
                continue
            kids.setdefault(int(st[st.rfind(")") + 2:].split()[1]),
                            []).append(int(p))
    while todo:
        p = todo.pop()
        todo += kids.get(p, [])
        try:
            for line in open("/proc/%d/smaps_rollup" % p):
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                elif line.startswith("Private_"):
                    priv += int(line.split()[1])
        except OSError:
            pass
    return total, priv


# -- measurements ------------------------------------------------------------
class Results:
    def __init__(self):
        self.rows = {}      # (store, measurement) -> {server: [(w, c)]}
        self.order = []

    def add(self, store, what, server, wall, cpu):
        k = (store, what)
        if k not in self.rows:
            self.rows[k] = {}
            self.order.append(k)
        self.rows[k].setdefault(server, []).append((wall, cpu))


R = Results()


def big_user(store):
    return "big" + store


def prepare_homes(srv, mbox, maildir, small_box):
    for user, store in srv.users.items():
        h = srv.home(user)
        os.makedirs(h)
        if store == "maildir":
            md = h + "/Maildir"
            if user.startswith("big"):
                run("cp", "-al", maildir, md)
            else:
                os.makedirs(md + "/cur")
                # A user with a uid of their own gets copies: the
                # corpus' files are the bench uid's, mode 0600.
                link = os.link if user not in srv.uids else shutil.copyfile
                for n in sorted(os.listdir(maildir + "/cur"))[:SMALL]:
                    link(os.path.join(maildir, "cur", n),
                         os.path.join(md, "cur", n))
            os.makedirs(md + "/new")
            os.makedirs(md + "/tmp")
        else:
            os.makedirs(h + "/mail")
            if user.startswith("big"):
                place_big_mbox(srv, h)
            else:
                shutil.copyfile(small_box, h + "/inbox")
        run("chown", "-R", "%d:%d" % (srv.uid_of(user), srv.gid), h)


def place_big_mbox(srv, home):
    dst = home + "/inbox"
    if os.path.exists(dst):
        os.unlink(dst)
    if isinstance(srv, Moat):
        # Moat never writes into the mail on SELECT, FETCH or STORE
        # (APPEND goes to another folder): share the corpus' inode, and
        # check it afterwards (main()).
        os.link(CORPUS_MBOX, dst)
    else:
        # Dovecot writes X-IMAPbase, X-UID and Status into the mbox.
        shutil.copyfile(CORPUS_MBOX, dst)
        os.chown(dst, srv.uid, srv.gid)
        os.chmod(dst, 0o600)


def measure_store(srv, store):
    user = big_user(store)
    name = srv.name
    log("%s %s: cold SELECT x%d (load %s)" % (name, store, RUNS, loadavg()))
    sel = exists_is(COUNT)
    variants = [("cold SELECT (no index)", False)]
    if DROP:
        variants.append(("cold SELECT (no index, page cache dropped)", True))
    for label, drop in variants:
        for _ in range(RUNS):
            srv.reset_index(user, store)
            if store == "mbox" and isinstance(srv, Dovecot):
                place_big_mbox(srv, srv.home(user))
            os.sync()
            s = Session(srv, user)
            if drop:
                drop_caches()
            w, c, _ = s.timed("SELECT INBOX", sel)
            R.add(store, label, name, w, c)
            s.logout()
    if DROP:
        for _ in range(RUNS):
            s = Session(srv, user)
            drop_caches()
            w, c, _ = s.timed("SELECT INBOX", sel)
            R.add(store, "SELECT, index kept, page cache dropped", name, w, c)
            s.logout()
    log("%s %s: warm SELECT, FETCH x%d (load %s)" % (name, store, WARM,
                                                      loadavg()))
    s = Session(srv, user)      # warms the index up once more
    s.timed("SELECT INBOX", sel)
    s.logout()
    for _ in range(WARM):
        s = Session(srv, user)
        w, c, _ = s.timed("SELECT INBOX", sel)
        R.add(store, "warm SELECT (new session)", name, w, c)
        s.logout()
    s = Session(srv, user)
    s.timed("SELECT INBOX", sel)
    for _ in range(WARM):
        w, c, _ = s.timed("NOOP")
        R.add(store, "NOOP (nothing changed)", name, w, c)
    for _ in range(WARM):
        w, c, _ = s.timed("FETCH 1:* (UID FLAGS)", fetched(COUNT))
        R.add(store, "FETCH 1:* (UID FLAGS)", name, w, c)
    log("%s %s: STORE x%d (load %s)" % (name, store, RUNS, loadavg()))
    for _ in range(RUNS):
        for sign in "+-":
            w, c, _ = s.timed("STORE 1:* %sFLAGS.SILENT (\\Seen)" % sign)
            R.add(store, "STORE 1:* %sFLAGS.SILENT (\\Seen)" % sign, name,
                  w, c)
            w, c, _ = s.timed("NOOP")
            R.add(store, "NOOP after that STORE", name, w, c)
    s.logout()
    log("%s %s: APPEND x%d (load %s)" % (name, store, RUNS, loadavg()))
    msgs = []
    for _, data in mbox_messages(CORPUS_MBOX):
        msgs.append(data.replace(b"\n", b"\r\n"))
        if len(msgs) == APPENDS:
            break
    for _ in range(RUNS):
        s = Session(srv, user)
        s.cmd("DELETE Append")
        s.timed("CREATE Append")
        c0 = cpu_ns(s.pid)
        t0 = time.perf_counter()
        for m in msgs:
            s.append("Append", m)
        t1 = time.perf_counter()
        c1 = cpu_ns(s.pid)
        # Rate, and the CPU per APPEND.
        R.add(store, "APPEND with fsync, messages/s (CPU ms each; "
              "higher is better)", name, len(msgs) / (t1 - t0),
              (c1 - c0) / 1e6 / len(msgs))
        s.cmd("DELETE Append")
        s.logout()


def measure_pss(srv, store):
    """PSS per session process (and its children) with INBOX selected:
    SESSIONS sessions of the big user; SESSIONS users with a small
    INBOX, one session each; and those users idle (no SELECT)."""
    log("%s %s: PSS with %d sessions (load %s)" % (srv.name, store, SESSIONS,
                                                    loadavg()))
    smalls = ["s%s%02d" % (store, i) for i in range(SESSIONS)]
    pre = "PSS (private) kB/session, "
    cases = [
        (pre + "%d sessions of one user, INBOX of %d selected"
         % (SESSIONS, COUNT), [big_user(store)] * SESSIONS, COUNT),
        (pre + "%d users, INBOX of %d selected" % (SESSIONS, SMALL),
         smalls, SMALL),
        (pre + "%d users, idle (no SELECT)" % SESSIONS, smalls, None),
    ]
    # Each user once before: the index exists, as it would for a user
    # who logged in before (the first SELECT, which builds it, is the
    # cold one above).
    for u in [big_user(store)] + smalls:
        s = Session(srv, u)
        s.timed("SELECT INBOX")
        s.logout()
    for label, users, n in cases:
        ss = []
        for u in users:
            s = Session(srv, u)
            if n is not None:
                s.timed("SELECT INBOX", exists_is(n))
            ss.append(s)
        time.sleep(0.5)
        m = [pss_kb(s.pid) for s in ss]
        if SMAPS:
            # One session's mappings, for a breakdown.
            os.makedirs(SMAPS, exist_ok=True)
            shutil.copyfile("/proc/%d/smaps" % ss[0].pid, os.path.join(
                SMAPS, "%s-%s-%s.smaps" % (srv.name, store, label.split(
                    ", ", 1)[1].replace(" ", "_").replace("/", "_"))))
        R.add(store, label, srv.name, sum(p for p, _ in m) / len(ss),
              sum(q for _, q in m) / len(ss))
        for s in ss:
            s.logout()


def fmt(vals, unit_fmt="%.1f"):
    if not vals:
        return "-"
    med = statistics.median(vals)
    if len(vals) == 1:
        return unit_fmt % med
    return (unit_fmt + " [" + unit_fmt + "-" + unit_fmt + "]") % (
        med, min(vals), max(vals))


def table(load_notes):
    lines = []
    hdr = "| store | measurement |"
    sep = "|---|---|"
    for s in SERVERS:
        hdr += " %s wall | %s CPU |" % (s, s)
        sep += "---|---|"
    if "moat" in SERVERS and "dovecot" in SERVERS:
        hdr += " Moat/Dovecot wall |"
        sep += "---|"
    lines += [hdr, sep]
    for k in R.order:
        store, what = k
        row = "| %s | %s |" % (store, what)
        meds = {}
        for s in SERVERS:
            v = R.rows[k].get(s, [])
            walls = [w for w, _ in v]
            cpus = [c for _, c in v]
            f = "%.0f" if what.startswith("PSS") or "/s" in what else "%.1f"
            row += " %s | %s |" % (fmt(walls, f),
                                   fmt(cpus, "%.0f" if what.startswith("PSS")
                                       else "%.2f" if "/s" in what
                                       else "%.1f"))
            meds[s] = statistics.median(walls) if walls else None
        if "moat" in SERVERS and "dovecot" in SERVERS:
            a, b = meds.get("moat"), meds.get("dovecot")
            row += " %s |" % ("%.2f" % (a / b) if a and b else "-")
        lines.append(row)
    return lines


def main():
    global CORPUS_MBOX
    if os.getuid() != 0:
        raise SystemExit("bench-store must run as root")
    for u in ("moat-login", "moat-bench"):
        if subprocess.run(["id", u], capture_output=True).returncode:
            run("useradd", "--system", "--user-group", "--no-create-home",
                "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                u)
    import pwd
    pw = pwd.getpwnam("moat-bench")
    uid, gid = pw.pw_uid, pw.pw_gid
    CORPUS_MBOX, maildir = corpus(uid, gid)
    st0 = os.stat(CORPUS_MBOX)
    # Same file system as the corpus, for the hard links.
    B = tempfile.mkdtemp(prefix="run.", dir=CORPUS_DIR)
    os.chmod(B, 0o755)
    small_box = os.path.join(B, "small.mbox")
    small_mbox(CORPUS_MBOX, small_box, SMALL)
    hashed = subprocess.run(["openssl", "passwd", "-6", "-stdin"],
                            input=PASSWORD.encode(), capture_output=True,
                            check=True).stdout.decode().strip()
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
        "2", "-subj", "/CN=localhost", "-keyout", B + "/key.pem", "-out",
        B + "/cert.pem", capture_output=True)
    users = {}
    for store in STORES:
        users[big_user(store)] = store
        for i in range(SESSIONS):
            users["s%s%02d" % (store, i)] = store
    notes = ["machine: %d cores, %s; load average at start %s" % (
        os.cpu_count(), open("/proc/cpuinfo").read().split(
            "model name")[1].split(":")[1].split("\n")[0].strip(),
        " ".join(open("/proc/loadavg").read().split()[:3]))]
    notes.append("dovecot: " + subprocess.run(
        ["dovecot", "--version"], capture_output=True).stdout.decode().strip())
    notes.append("moat: " + subprocess.run(
        ["git", "-C", TOP, "describe", "--always", "--dirty"],
        capture_output=True).stdout.decode().strip())
    notes.append("params: count=%d seed=%d runs=%d warm=%d sessions=%d "
                 "appends=%d small=%d drop_caches=%d" % (
                     COUNT, SEED, RUNS, WARM, SESSIONS, APPENDS, SMALL, DROP))
    servers = []
    try:
        for name in SERVERS:
            srv = (Moat if name == "moat" else Dovecot)(name, B, uid, gid,
                                                         users)
            servers.append(srv)
            prepare_homes(srv, CORPUS_MBOX, maildir, small_box)
            # Folders changed within the last second are always scanned
            # (doc/design.md, Maildir change detection): let the copies
            # settle, or a quick run measures scans.
            time.sleep(1.1)
            srv.start(hashed)
            for store in STORES:
                if "store" in PARTS:
                    measure_store(srv, store)
                if "pss" in PARTS:
                    measure_pss(srv, store)
            srv.stop()
            notes.append("load average after %s: %s" % (
                name, " ".join(open("/proc/loadavg").read().split()[:3])))
    finally:
        for srv in servers:
            srv.stop()
        if ENV.get("MOAT_BENCH_STORE_KEEP") != "1":
            shutil.rmtree(B, ignore_errors=True)
    st1 = os.stat(CORPUS_MBOX)
    if (st1.st_size, st1.st_mtime_ns) != (st0.st_size, st0.st_mtime_ns):
        os.unlink(CORPUS_MBOX)
        raise SystemExit("the corpus mbox was changed by a server: removed "
                         "(it is made again next time)")
    lines = ["# bench-store %s" % time.strftime("%Y-%m-%d %H:%M UTC",
                                                time.gmtime()), ""]
    lines += ["- " + n for n in notes] + [""]
    lines += ["wall: client side, send to tagged reply, ms; CPU: the "
              "session process, ms; median [min-max] over the runs. "
              "PSS rows: PSS in the wall column, private (clean + dirty) "
              "in the CPU column, summed over the session process and its "
              "children, per session.", ""]
    lines += table(notes)
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write(text)
    print(text)
    print("written to " + OUT)


if __name__ == "__main__":
    main()
