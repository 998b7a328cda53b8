#!/usr/bin/env python3
"""The nine workloads of issue 9, Moat against Debian's Dovecot, one
table: driven by scripts/bench (which installs the packages and builds
Moat out of tree first). Root only.

  bench/bench9.py [--smoke] [--write] [--count N] [--rounds R] [workload...]

workloads: login select fetch search body append mixed qresync idle
(default: all). Both servers are set up ONCE, side by side, with
bench-store.py's set-up (the shared code: same users, passwd-file with
the same SHA512-CRYPT hash, same certificate, the corpus of
/work/shared/tools/gen-corpus.py copied into each home, free loopback
ports); each workload then runs against both back to back (the order
alternates between rounds), R rounds. Workload 7 (IDLE) is
bench-idle.py, run once, with servers of its own (a uid per user).

Exit status 1 on any error (a command that failed, a wrong or differing
answer, a lost session), never on the figures.
"""
import importlib.util
import json
import multiprocessing
import os
import pwd
import random
import re
import resource
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

ENV = os.environ
TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location(
    "bench_store", os.path.join(TOP, "bench", "bench-store.py"))
bs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bs)
log = bs.log

ALL = ["login", "select", "fetch", "search", "body", "append", "mixed",
       "qresync", "idle"]
SERVERS = ["moat", "dovecot"]
NUMBER = {"login": 1, "select": 2, "fetch": 3, "search": 4, "body": 5,
          "append": 6, "idle": 7, "mixed": 8, "qresync": 9}


class Opts:
    smoke = False
    write = False
    count = 10000
    rounds = 3
    workloads = ALL


def parse_args(argv):
    o = Opts()
    explicit = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--smoke":
            o.smoke = True
        elif a == "--write":
            o.write = True
        elif a in ("--count", "--rounds"):
            i += 1
            setattr(o, a[2:], int(argv[i]))
        elif a in ALL:
            explicit.append(a)
        else:
            raise SystemExit("unknown argument %r; workloads: %s" % (
                a, " ".join(ALL)))
        i += 1
    if o.smoke:
        o.count = min(o.count, 2000) if "--count" not in argv else o.count
        o.rounds = 1 if "--rounds" not in argv else o.rounds
    o.workloads = explicit or ALL
    # The committed results only from a full run (or when asked).
    o.write = o.write or (not o.smoke and not explicit)
    return o


O = parse_args(sys.argv[1:])
S = O.smoke
LOGIN_SECS = float(ENV.get("MOAT_BENCH_LOGIN_SECONDS", 1 if S else 4))
LOGIN_CLIENTS = [1, 50]
SMALL = 200             # messages in the INBOX of each mixed-profile user
MIXED_USERS = int(ENV.get("MOAT_BENCH_MIXED_USERS", 3 if S else 10))
MIXED_SECS = float(ENV.get("MOAT_BENCH_MIXED_SECONDS", 3 if S else 15))
# The same profile paced: every user sends at most this many commands a
# second, so both servers get the same offered load (below what either
# takes) and the latencies compare like for like. Closed-loop (as fast
# as the server answers), the server that is slower somewhere (Dovecot's
# logins) keeps the other users waiting there and so lowers the CPU
# contention its other commands see.
MIXED_PACE = float(ENV.get("MOAT_BENCH_MIXED_PACE", 10))
LARGE_N = 2 if S else 8         # messages of LARGE_MB for BODY[]
LARGE_MB = 1 if S else 4
APPENDS = 10 if S else 50
QRESYNC_CHANGES = 100
IDLE_N = int(ENV.get("MOAT_BENCH_IDLE_N", 20 if S else 1000))
BUILD = bs.BUILD
LOADGEN = os.path.join(BUILD, "bench", "loadgen")
OUT = os.path.join(BUILD, "bench9-smoke.md" if S else "bench9-results.md")
ERRORS = []
FAILED = {}             # login case -> refused logins per round
CLIENT = {}             # workload -> client CPU notes


def err(msg):
    log("error: " + msg)
    ERRORS.append(msg)


# -- results -----------------------------------------------------------------
class Results:
    """label -> {"unit", "better": "higher"|"lower", server: [values]}"""

    def __init__(self):
        self.rows = {}
        self.order = []

    def add(self, workload, label, unit, better, server, value):
        if label not in self.rows:
            self.rows[label] = {"unit": unit, "better": better,
                                "workload": workload}
            self.order.append(label)
        self.rows[label].setdefault(server, []).append(value)


R = Results()


def times_better(row, m, d):
    if not m or not d:
        return None
    return m / d if row["better"] == "higher" else d / m


def fmt(v):
    if v is None:
        return "-"
    return "%.0f" % v if abs(v) >= 100 else "%.1f" % v if abs(v) >= 10 \
        else "%.2f" % v


def mmm(vals):
    if not vals:
        return "-"
    if len(vals) == 1:
        return fmt(vals[0])
    return "%s [%s–%s]" % (fmt(statistics.median(vals)), fmt(min(vals)),
                           fmt(max(vals)))


def table():
    lines = ["| # | workload | unit | Moat | Dovecot | Moat/Dovecot "
             "(times better) |", "|---|---|---|---|---|---|"]
    ratios = []
    for label in sorted(R.order,
                        key=lambda lb: NUMBER[R.rows[lb]["workload"]]):
        row = R.rows[label]
        m, d = row.get("moat", []), row.get("dovecot", [])
        per = [times_better(row, a, b) for a, b in zip(m, d)]
        per = [p for p in per if p is not None]
        med = times_better(row, statistics.median(m) if m else None,
                           statistics.median(d) if d else None)
        ratios.append((label, med))
        rng = " [%s–%s]" % (fmt(min(per)), fmt(max(per))) \
            if len(per) > 1 else ""
        lines.append("| %d | %s | %s, %s is better | %s | %s | **%s**%s |" % (
            NUMBER[row["workload"]], label, row["unit"],
            row["better"], mmm(m), mmm(d), fmt(med), rng))
    return lines, ratios


# -- a client with TLS -------------------------------------------------------
class Conn:
    """One IMAP connection: plain, starttls or tls (implicit)."""

    def __init__(self, srv, user, mode="plain", login=True):
        port = srv.tls_port if mode == "tls" else srv.port
        self.name = srv.name
        sock = socket.create_connection(("127.0.0.1", port), 60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(sock) if mode == "tls" else sock
        self.buf = bytearray()
        self.n = 0
        self.line()
        if mode == "starttls":
            self.ok("STARTTLS")
            self.sock = ctx.wrap_socket(self.sock)
        if login:
            self.ok("LOGIN %s %s" % (user, bs.PASSWORD))

    def recv(self):
        d = self.sock.recv(1 << 18)
        if not d:
            raise SystemExit("%s: connection closed" % self.name)
        self.buf += d

    def line(self):
        while b"\r\n" not in self.buf:
            self.recv()
        i = self.buf.index(b"\r\n") + 2
        out = bytes(self.buf[:i])
        del self.buf[:i]
        return out

    # Same reply scanner as bench-store's Session (literals are not
    # parsed: the bench's mail never has a line starting with a tag).
    wait = bs.Session.wait
    _recv = recv

    def cmd(self, text):
        self.n += 1
        tag = b"c%d" % self.n
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        return self.wait(tag)

    def ok(self, text):
        r = self.cmd(text)
        if not bs.tagged_ok(r):
            raise SystemExit("%s: %s failed: %r" % (self.name, text,
                                                    bytes(r[-300:])))
        return r

    def append(self, box, data, flags=""):
        self.n += 1
        tag = b"c%d" % self.n
        self.sock.sendall(b"%s APPEND %s %s{%d}\r\n" % (
            tag, box.encode(), flags.encode() + b" " if flags else b"",
            len(data)))
        line = self.line()
        if not line.startswith(b"+"):
            raise SystemExit("%s: APPEND refused: %r" % (self.name, line))
        self.sock.sendall(data + b"\r\n")
        r = self.wait(tag)
        if not bs.tagged_ok(r):
            raise SystemExit("%s: APPEND failed: %r" % (self.name,
                                                        bytes(r[-200:])))
        return r

    def close(self):
        try:
            self.cmd("LOGOUT")
        except (SystemExit, OSError):
            pass
        self.sock.close()


def timed(fn, *a):
    """(wall ms, client CPU ms, result)"""
    c0 = time.process_time()
    t0 = time.perf_counter()
    r = fn(*a)
    return ((time.perf_counter() - t0) * 1e3,
            (time.process_time() - c0) * 1e3, r)


def client_note(workload, wall_ms, cpu_ms):
    CLIENT.setdefault(workload, []).append(cpu_ms / wall_ms
                                           if wall_ms else 0)


def same_answer(label, answers):
    """Both servers must give the same answer."""
    vals = list(answers.values())
    if len(vals) == 2 and vals[0] != vals[1]:
        err("%s: the servers' answers differ: %s" % (
            label, "; ".join("%s %r" % (k, v if len(repr(v)) < 200
                                        else repr(v)[:200] + "...")
                             for k, v in answers.items())))


ANSWERS = {}


def answer(label, server, value):
    ANSWERS.setdefault(label, {})[server] = value


# -- workloads ---------------------------------------------------------------
def w_login(srv, users_file):
    for mode in ("plain", "starttls", "tls"):
        for c in LOGIN_CLIENTS:
            r = subprocess.run([LOADGEN, "logins", "127.0.0.1",
                                str(srv.tls_port if mode == "tls"
                                    else srv.port), mode, users_file,
                                str(c), str(LOGIN_SECS)],
                               capture_output=True, text=True)
            f = dict(kv.split("=", 1) for kv in r.stdout.split()
                     if "=" in kv)
            if "rate" not in f or int(f["logins"]) == 0:
                err("%s login %s x%d: %s %s" % (srv.name, mode, c,
                                                r.stdout, r.stderr))
                continue
            if int(f["failed"]):
                # Not an error of the bench: a server refusing logins
                # (Moat: at most 16 logins of one address waiting for
                # auth, master/auth-conn.c). Counted and shown.
                FAILED.setdefault("%s %s x%d" % (srv.name, mode, c),
                                  []).append("%s of %d" % (
                                      f["failed"], int(f["failed"]) +
                                      int(f["logins"])))
            R.add("login", "logins/s, %s, %d client%s" % (
                {"plain": "plaintext", "starttls": "STARTTLS",
                 "tls": "implicit TLS"}[mode], c, "s" if c > 1 else ""),
                "logins/s", "higher", srv.name, float(f["rate"]))
            CLIENT.setdefault("login", []).append(
                float(f["client_cpu"].rstrip("%")) / 100)


def big(store):
    return bs.big_user(store)


def warm_page_cache(home):
    """Reads every message file under home once: "cold" is the
    server's index removed with the mail in the page cache, for whichever
    server runs first (both share the corpus' inodes)."""
    for d, _, names in os.walk(home):
        for n in names:
            with open(os.path.join(d, n), "rb") as f:
                while f.read(1 << 20):
                    pass


def cold_session(srv, store):
    u = big(store)
    srv.reset_index(u, store)
    if store == "mbox" and isinstance(srv, bs.Dovecot):
        bs.place_big_mbox(srv, srv.home(u))
    os.sync()
    warm_page_cache(srv.home(u))
    return Conn(srv, u)


def exists(r):
    m = re.search(rb"\* (\d+) EXISTS", r)
    return int(m.group(1)) if m else None


def w_select(srv, _):
    for store in ("maildir", "mbox"):
        c = cold_session(srv, store)
        w, cpu, r = timed(c.ok, "SELECT INBOX")
        c.close()
        if exists(r) != O.count:
            err("%s %s cold SELECT: EXISTS %r" % (srv.name, store, exists(r)))
        R.add("select", "SELECT %d msgs, %s, cold (index build)" % (
            O.count, store), "ms", "lower", srv.name, w)
        warm = []
        for _ in range(3):
            c = Conn(srv, big(store))
            w, cpu, r = timed(c.ok, "SELECT INBOX")
            c.close()
            warm.append(w)
            if exists(r) != O.count:
                err("%s %s SELECT: EXISTS %r" % (srv.name, store, exists(r)))
        R.add("select", "SELECT %d msgs, %s, warm" % (O.count, store), "ms",
              "lower", srv.name, min(warm))


def fetch_count(r):
    return r.count(b" FETCH (")


FETCHES = [("UID FLAGS", "(UID FLAGS)"), ("ENVELOPE", "(ENVELOPE)"),
           ("BODYSTRUCTURE", "(BODYSTRUCTURE)")]


def w_fetch(srv, _):
    for name, items in FETCHES[1:]:
        # Cold: no index (each server parses every message).
        c = cold_session(srv, "maildir")
        c.ok("SELECT INBOX")
        w, cpu, r = timed(c.ok, "FETCH 1:* " + items)
        client_note("fetch", w, cpu)
        c.close()
        if fetch_count(r) != O.count:
            err("%s FETCH %s: %d answers" % (srv.name, name, fetch_count(r)))
        R.add("fetch", "FETCH 1:* (%s), %d msgs, cold" % (name, O.count),
              "ms", "lower", srv.name, w)
    c = Conn(srv, big("maildir"))
    c.ok("SELECT INBOX")
    for name, items in FETCHES:
        c.ok("FETCH 1:* " + items)      # the cache is filled
        w, cpu, r = timed(c.ok, "FETCH 1:* " + items)
        client_note("fetch", w, cpu)
        if fetch_count(r) != O.count:
            err("%s FETCH %s: %d answers" % (srv.name, name, fetch_count(r)))
        R.add("fetch", "FETCH 1:* (%s), %d msgs, warm" % (name, O.count),
              "ms", "lower", srv.name, w)
    c.close()


SEARCHES = [("SEARCH FROM", "SEARCH FROM grace"),
            ("SEARCH SUBJECT", "SEARCH SUBJECT kernel"),
            ("SEARCH TEXT (common word)", "SEARCH TEXT quarterly"),
            ("SEARCH TEXT (absent)", "SEARCH TEXT zzqqxx")]
SORTS = [("SORT (DATE)", "SORT (DATE) UTF-8 ALL"),
         ("THREAD REFERENCES", "THREAD REFERENCES UTF-8 ALL")]
FILLED = set()


def search_set(r):
    m = re.search(rb"^\* SEARCH([ 0-9]*)\r$", bytes(r), re.M)
    return sorted(int(x) for x in m.group(1).split()) if m else None


def w_search(srv, _):
    c = Conn(srv, big("maildir"))
    c.ok("SELECT INBOX")
    if srv.name not in FILLED:
        # Moat indexes mail that did not come by APPEND/LMTP at the
        # SEARCHes that need it, up to 1 s worth each: a header key that
        # matches nothing, until it is fast, fills the index (as
        # bench-search.py does). Then every query once on both servers
        # (Dovecot's cache decisions, the page cache).
        t_end = time.time() + (60 if S else 600)
        while time.time() < t_end:
            w, _, _ = timed(c.ok, "SEARCH HEADER X-Nothing zzqqxx")
            if w < 300:
                break
        else:
            err("%s: the full-text index did not fill" % srv.name)
        for _, q in SEARCHES + SORTS:
            c.ok(q)
        FILLED.add(srv.name)
    for label, q in SEARCHES + SORTS:
        w, cpu, r = timed(c.ok, q)
        client_note("search", w, cpu)
        if label.startswith("SEARCH"):
            answer(label, srv.name, search_set(r))
        elif label.startswith("SORT"):
            m = re.search(rb"^\* SORT([ 0-9]*)\r$", bytes(r), re.M)
            answer(label + " (count)", srv.name,
                   len(m.group(1).split()) if m else None)
        R.add("search", "%s, %d msgs%s" % (
            label, O.count, ", full-text index filled"
            if "TEXT" in label else ""), "ms", "lower", srv.name, w)
    c.close()


def w_body(srv, _):
    total = LARGE_N * LARGE_MB * 1024 * 1024
    for mode in ("plain", "tls"):
        c = Conn(srv, "large", mode)
        c.ok("SELECT INBOX")
        c.ok("FETCH 1 BODY.PEEK[]")
        w, cpu, r = timed(c.ok, "FETCH 1:* BODY.PEEK[]")
        client_note("body", w, cpu)
        c.close()
        got = sum(int(x) for x in re.findall(rb"BODY\[\] \{(\d+)\}\r\n",
                                             bytes(r)))
        if got < total:
            err("%s BODY[] %s: %d bytes of %d" % (srv.name, mode, got, total))
        R.add("body", "FETCH BODY[] of %d×%d MB, %s" % (
            LARGE_N, LARGE_MB, "plaintext" if mode == "plain"
            else "implicit TLS"), "MB/s", "higher", srv.name,
            got / 1048576 / (w / 1e3))


def w_append(srv, _):
    c = Conn(srv, "app")
    c.cmd("DELETE Append")
    c.ok("CREATE Append")
    w, cpu, _ = timed(lambda: [c.append("Append", m) for m in APPEND_MSGS])
    client_note("append", w, cpu)
    r = c.ok("STATUS Append (MESSAGES)")
    if b"MESSAGES %d)" % len(APPEND_MSGS) not in r:
        err("%s APPEND: %r" % (srv.name, bytes(r)))
    c.ok("DELETE Append")
    c.close()
    R.add("append", "APPEND with fsync, %d msgs one after another" %
          len(APPEND_MSGS), "msgs/s", "higher", srv.name,
          len(APPEND_MSGS) / (w / 1e3))


def mixed_worker(srv, user, secs, seed, q, pace=0):
    """A client as a mail reader behaves: log in, open INBOX, list,
    fetch the headers of the newest 20, read 3 bodies, flag them seen,
    append one (as a sent copy would), delete it again, log out.
    pace: at most that many commands a second (0: as fast as answered)."""
    rnd = random.Random(seed)
    lat = []
    n_err = 0
    end = time.time() + secs
    msg = APPEND_MSGS[0]
    due = [time.perf_counter() + rnd.random() / pace if pace else 0]

    def wait_turn():
        if not pace:
            return
        now = time.perf_counter()
        if due[0] > now:
            time.sleep(due[0] - now)
        due[0] = max(due[0], now - 1.0) + 1.0 / pace
    try:
        while time.time() < end:
            wait_turn()
            t = time.perf_counter()
            c = Conn(srv, user)
            lat.append(("login", time.perf_counter() - t))

            def do(kind, text):
                wait_turn()
                t = time.perf_counter()
                r = c.ok(text)
                lat.append((kind, time.perf_counter() - t))
                return r
            n = exists(do("select", "SELECT INBOX"))
            do("list", 'LIST "" "*"')
            do("headers", "FETCH %d:* (UID FLAGS RFC822.SIZE "
               "BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE "
               "MESSAGE-ID)])" % max(1, n - 19))
            for _ in range(3):
                k = rnd.randint(1, n)
                do("body", "FETCH %d BODY[]" % k)
                do("store", "STORE %d +FLAGS.SILENT (\\Seen)" % k)
            wait_turn()
            t = time.perf_counter()
            c.append("INBOX", msg)
            lat.append(("append", time.perf_counter() - t))
            do("noop", "NOOP")
            do("store", "STORE %d +FLAGS.SILENT (\\Deleted)" % (n + 1))
            do("expunge", "EXPUNGE")
            wait_turn()
            t = time.perf_counter()
            c.close()
            lat.append(("logout", time.perf_counter() - t))
    except SystemExit as e:
        n_err += 1
        lat.append(("error", -1))
        q.put((lat, str(e)))
        return
    q.put((lat, None))


def w_mixed(srv, _):
    mixed_run(srv, 0)
    if MIXED_PACE > 0:
        mixed_run(srv, MIXED_PACE)


def mixed_run(srv, pace):
    q = multiprocessing.Queue()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    ps = [multiprocessing.Process(target=mixed_worker, args=(
        srv, "m%02d" % i, MIXED_SECS, i, q, pace))
        for i in range(MIXED_USERS)]
    for p in ps:
        p.start()
    res = [q.get(timeout=MIXED_SECS + 120) for _ in ps]
    for p in ps:
        p.join()
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    CLIENT.setdefault("mixed", []).append(cpu / wall)
    what = "mixed profile, %d users" % MIXED_USERS
    if pace:
        what += ", %g cmds/s each" % pace
    lat = []
    kinds = {}
    for ls, e in res:
        if e:
            err("%s mixed: %s" % (srv.name, e))
        for kind, v in ls:
            lat.append(v)
            kinds.setdefault(kind, []).append(v)
    # per command: where the p50 comes from (the note's profile)
    for kind, vs in kinds.items():
        vs.sort()
        MIXED_KINDS.setdefault(pace, {}).setdefault(kind, {}).setdefault(
            srv.name, []).append((vs[len(vs) // 2] * 1e3, len(vs)))
    slow = sorted(((v, kind) for ls, _ in res for kind, v in ls),
                  reverse=True)[:12]
    log("%s %s: slowest commands: %s" % (srv.name, what, ", ".join(
        "%s %.0f ms" % (kind, v * 1e3) for v, kind in slow)))
    lat.sort()
    if not lat:
        return
    pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1e3
    if not pace:
        R.add("mixed", what + ": commands/s", "cmds/s", "higher", srv.name,
              len(lat) / wall)
    R.add("mixed", what + ": p50 latency", "ms", "lower", srv.name,
          pct(0.5))
    R.add("mixed", what + ": p99 latency", "ms", "lower", srv.name,
          pct(0.99))


QROUND = {}
MIXED_KINDS = {}    # pace -> command -> server -> [(p50 ms, count)/round]


def mixed_kinds_table():
    """The mixed profile's p50 latency per command, medians over the
    rounds: which commands make the overall p50."""
    out = []
    for pace, kinds in sorted(MIXED_KINDS.items()):
        names = sorted({n for v in kinds.values() for n in v})
        cols = []
        for n in names:
            cols.append("%s, as fast as answered" % n if not pace else
                        "%s, %g cmds/s per user" % (n, pace))
        out += ["", "Mixed profile (%s), p50 latency per command (ms, "
                "median over the rounds; share of all commands):" % (
                    "closed loop" if not pace else
                    "paced: %g cmds/s per user" % pace), "",
                "| command | share | " + " | ".join(names) + " |",
                "|---|---|" + "---|" * len(names)]
        total = sum(sum(c for _, c in v.get(names[0], []))
                    for v in kinds.values()) or 1
        for kind in ["login", "select", "list", "headers", "body",
                     "store", "append", "noop", "expunge", "logout",
                     "error"]:
            v = kinds.get(kind)
            if not v:
                continue
            share = sum(c for _, c in v.get(names[0], [])) / total
            cells = []
            for n in names:
                ms = sorted(x for x, _ in v.get(n, []))
                cells.append("%.2f" % ms[len(ms) // 2] if ms else "-")
            out.append("| %s | %.0f%% | %s |" % (kind, 100 * share,
                                                 " | ".join(cells)))
    return out


def w_qresync(srv, _):
    u = big("maildir")
    c = Conn(srv, u)
    c.ok("ENABLE QRESYNC")
    r = c.ok("SELECT INBOX")
    uv = int(re.search(rb"UIDVALIDITY (\d+)", r).group(1))
    ms = int(re.search(rb"HIGHESTMODSEQ (\d+)", r).group(1))
    k = QROUND.get(srv.name, 0)
    QROUND[srv.name] = k + 1
    step = max(1, O.count // QRESYNC_CHANGES)
    seqs = ",".join(str(1 + i * step) for i in range(QRESYNC_CHANGES))
    c.ok("STORE %s %sFLAGS.SILENT (\\Flagged)" % (seqs, "-+"[k % 2 == 0]))
    c.close()

    def reconnect():
        c = Conn(srv, u)
        c.ok("ENABLE QRESYNC")
        r = c.ok("SELECT INBOX (QRESYNC (%d %d))" % (uv, ms))
        c.close()
        return r
    w, cpu, r = timed(reconnect)
    n = fetch_count(r)
    if n != QRESYNC_CHANGES:
        err("%s QRESYNC: %d FETCH responses, expected %d" % (
            srv.name, n, QRESYNC_CHANGES))
    R.add("qresync", "QRESYNC reconnect (login, ENABLE, SELECT), %d msgs, "
          "%d flag changes" % (O.count, QRESYNC_CHANGES), "ms", "lower",
          srv.name, w)


def w_idle(_srv, _):
    pass        # run once, below (servers of its own)


def run_idle():
    js = os.path.join(BUILD, "bench9-idle.json")
    env = dict(ENV, MOAT_BENCH_IDLE_N=str(IDLE_N),
               MOAT_BENCH_IDLE_K="5" if S else "50",
               MOAT_BENCH_IDLE_CASES="plain tls",
               MOAT_BENCH_IDLE_SERVERS="moat dovecot-default",
               MOAT_BENCH_IDLE_WRITERS="lmtp",
               MOAT_BENCH_IDLE_JSON=js,
               MOAT_BENCH_IDLE_OUT=os.path.join(BUILD, "bench9-idle.md"))
    if S:
        env["MOAT_BENCH_IDLE_SMOKE"] = "1"
    log("idle: bench-idle.py with %d sessions (load %s)" % (IDLE_N,
                                                           bs.loadavg()))
    r = subprocess.run([sys.executable, os.path.join(TOP, "bench",
                                                     "bench-idle.py")],
                       env=env, stdout=subprocess.DEVNULL)
    if r.returncode:
        err("bench-idle.py exit %d (see %s)" % (r.returncode, env[
            "MOAT_BENCH_IDLE_OUT"]))
        return
    with open(js) as f:
        res = json.load(f)
    for case, label in (("plain", "plaintext"), ("tls", "implicit TLS")):
        for s, key in (("moat", "moat"), ("dovecot", "dovecot-default")):
            r = res.get("maildir %s %s" % (case, key))
            if not r:
                continue
            R.add("idle", "%d IDLE sessions, %s: PSS per session" % (
                IDLE_N, label), "kB", "lower", s, r["pss"] / IDLE_N)
            lat = r.get("lat lmtp", {})
            if lat.get("exists_ms_p50") not in (None, "-"):
                R.add("idle", "%d IDLE sessions, %s: LMTP delivery to "
                      "EXISTS p50" % (IDLE_N, label), "ms", "lower", s,
                      float(lat["exists_ms_p50"]))


WORKLOADS = {"login": w_login, "select": w_select, "fetch": w_fetch,
             "search": w_search, "body": w_body, "append": w_append,
             "mixed": w_mixed, "qresync": w_qresync, "idle": w_idle}


# -- set-up ------------------------------------------------------------------
def large_message(i, mb):
    rnd = random.Random(i)
    import base64
    raw = rnd.randbytes(mb * 1024 * 768)
    b64 = base64.encodebytes(raw).replace(b"\n", b"\r\n")
    return (b"From: Big Sender <big@example.org>\r\nTo: r@example.org\r\n"
            b"Subject: large %d\r\nDate: Tue, 14 Nov 2023 10:00:00 +0100\r\n"
            b"Message-ID: <large%d@example.org>\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" % (i, i) + b64)


def prepare_large(srv, msgs):
    md = srv.home("large") + "/Maildir"
    shutil.rmtree(md + "/cur")
    os.makedirs(md + "/cur")
    for i, m in enumerate(msgs):
        p = "%s/cur/%d.M%dP1.large,S=%d:2," % (md, 1700000000 + i, i, len(m))
        with open(p, "wb") as f:
            f.write(m)
        os.chown(p, srv.uid, srv.gid)


MOAT_LIMITS = """max_connections_per_ip = 5000
max_sessions_per_user_ip = 1000
"""


def machine():
    cpu = open("/proc/cpuinfo").read()
    model = cpu.split("model name")[1].split(":")[1].split("\n")[0].strip()
    mem = int(open("/proc/meminfo").read().split()[1]) // 1048576
    deb = open("/etc/debian_version").read().strip()
    return "%d × %s, %d GiB RAM, Debian %s, kernel %s" % (
        os.cpu_count(), model, mem, deb, os.uname().release)


def versions():
    dv = subprocess.run(["dovecot", "--version"], capture_output=True,
                        text=True).stdout.strip()
    mv = subprocess.run(["git", "-C", TOP, "describe", "--always",
                         "--dirty"], capture_output=True,
                        text=True).stdout.strip()
    return dv, mv


def chart(ratios, path):
    """Bar chart of the ratios (log scale), with gnuplot."""
    if not shutil.which("gnuplot"):
        err("gnuplot missing (scripts/deps bench)")
        return
    with tempfile.NamedTemporaryFile("w", suffix=".dat",
                                     delete=False) as f:
        for label, r in ratios:
            if r:
                f.write('"%s" %.4f\n' % (label.replace('"', "'"), r))
        dat = f.name
    n = len(ratios)
    term = "svg" if path.endswith(".svg") else "pngcairo"
    script = """set terminal %s size 1000,%d font "sans,10" background "white"
set output "%s"
set title "Moat vs Dovecot %s, times better (right of 1: Moat better)"
set style fill solid 0.8
set logscale x 10
set xrange [0.005:2000]
set yrange [-0.5:%d]
set ytics nomirror
set grid x
set key off
set arrow from 1, graph 0 to 1, graph 1 nohead lw 2 lc rgb "black"
y(r) = %d - r
plot "%s" using (($2>=1)?$2:1/0):(y($0)):(1):($2):(y($0)-0.35):(y($0)+0.35):ytic(1) \\
       with boxxyerror lc rgb "#22aa77", \\
     "%s" using (($2<1)?1:1/0):(y($0)):($2):(1):(y($0)-0.35):(y($0)+0.35):ytic(1) \\
       with boxxyerror lc rgb "#cc3333", \\
     "%s" using 2:(y($0)):(sprintf("%%.2f",$2)) with labels left offset 0.5,0
""" % (term, 120 + 22 * n, path, dovecot_version, n - 0.5, n - 1, dat,
       dat, dat)
    r = subprocess.run(["gnuplot"], input=script, text=True,
                       capture_output=True)
    os.unlink(dat)
    if r.returncode:
        err("gnuplot: " + r.stderr[-500:])


def write_results(text):
    path = os.path.join(TOP, "bench", "RESULTS.md")
    old = open(path).read()
    b, e = "<!-- bench9:begin -->\n", "<!-- bench9:end -->\n"
    if b in old and e in old:
        old = old[:old.index(b)] + old[old.index(e) + len(e):]
    head, rest = old.split("\n", 1)
    with open(path, "w") as f:
        f.write(head + "\n\n" + b + text + e + "\n" + rest.lstrip("\n"))


def main():
    global APPEND_MSGS, dovecot_version
    if os.getuid() != 0:
        raise SystemExit("scripts/bench must run as root")
    t_start = time.time()
    load0 = " ".join(open("/proc/loadavg").read().split()[:3])
    for u in ("moat-login", "moat-bench"):
        if subprocess.run(["id", u], capture_output=True).returncode:
            bs.run("useradd", "--system", "--user-group", "--no-create-home",
                   "--home-dir", "/nonexistent", "--shell",
                   "/usr/sbin/nologin", u)
    pw = pwd.getpwnam("moat-bench")
    uid, gid = pw.pw_uid, pw.pw_gid
    bs.COUNT = O.count
    bs.SMALL = SMALL
    bs.CORPUS_MBOX, maildir = bs.corpus(uid, gid)
    st0 = os.stat(bs.CORPUS_MBOX)
    APPEND_MSGS = []
    for _, data in bs.mbox_messages(bs.CORPUS_MBOX):
        APPEND_MSGS.append(data.replace(b"\n", b"\r\n"))
        if len(APPEND_MSGS) == APPENDS:
            break
    B = tempfile.mkdtemp(prefix="bench9.", dir=bs.CORPUS_DIR)
    os.chmod(B, 0o755)
    small_box = os.path.join(B, "small.mbox")
    bs.small_mbox(bs.CORPUS_MBOX, small_box, SMALL)
    hashed = subprocess.run(["openssl", "passwd", "-6", "-stdin"],
                            input=bs.PASSWORD.encode(), capture_output=True,
                            check=True).stdout.decode().strip()
    bs.run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
           "-days", "2", "-subj", "/CN=localhost", "-keyout", B + "/key.pem",
           "-out", B + "/cert.pem", capture_output=True)
    users = {big("maildir"): "maildir", big("mbox"): "mbox",
             "large": "maildir", "app": "maildir"}
    for i in range(max(MIXED_USERS, 50)):
        users["m%02d" % i] = "maildir"
    users_file = os.path.join(B, "users")
    with open(users_file, "w") as f:
        for i in range(50):
            f.write("m%02d %s\n" % (i, bs.PASSWORD))
    large = [large_message(i, LARGE_MB) for i in range(LARGE_N)]
    servers = []
    run = [w for w in O.workloads if w != "idle"]
    try:
        if run:
            for name in SERVERS:
                srv = (bs.Moat if name == "moat" else bs.Dovecot)(
                    name, B, uid, gid, users)
                servers.append(srv)
                log("%s: %d homes" % (name, len(users)))
                bs.prepare_homes(srv, bs.CORPUS_MBOX, maildir, small_box)
                prepare_large(srv, large)
            time.sleep(1.1)
            for srv in servers:
                if isinstance(srv, bs.Moat):
                    srv.start(hashed, tls=True, extra=MOAT_LIMITS)
                else:
                    srv.start(hashed, tls=True)
        for w in run:
            for rnd in range(O.rounds):
                order = servers if rnd % 2 == 0 else servers[::-1]
                for srv in order:
                    log("%s round %d: %s (load %s)" % (w, rnd + 1, srv.name,
                                                      bs.loadavg()))
                    try:
                        WORKLOADS[w](srv, users_file)
                    except (SystemExit, OSError, AttributeError,
                            ValueError) as e:
                        err("%s %s: %s" % (srv.name, w, e))
    finally:
        for srv in servers:
            srv.stop()
        logs = []
        for srv in servers:
            logs.append(bs_log_problems(srv))
        if ENV.get("MOAT_BENCH_KEEP") != "1":
            shutil.rmtree(B, ignore_errors=True)
    if "idle" in O.workloads:
        run_idle()
    for label, ans in ANSWERS.items():
        same_answer(label, ans)
    st1 = os.stat(bs.CORPUS_MBOX)
    if (st1.st_size, st1.st_mtime_ns) != (st0.st_size, st0.st_mtime_ns):
        os.unlink(bs.CORPUS_MBOX)
        err("the corpus mbox was changed by a server: removed")
    dovecot_version, moat_version = versions()
    lines, ratios = table()
    cmd = "scripts/bench" + "".join(" " + a for a in sys.argv[1:])
    clients = "; ".join("%s %.0f%% of a core (max)" % (
        w, 100 * max(v)) for w, v in CLIENT.items())
    text = "\n".join([
        "## All nine workloads (`scripts/bench`), %s" % time.strftime(
            "%Y-%m-%d %H:%M UTC", time.gmtime()), "",
        "- command: `%s` (as root; %d rounds, corpus of %d messages of "
        "gen-corpus.py, seed 42)" % (cmd, O.rounds, O.count),
        "- machine: %s; load average %s at start, %s at end (shared "
        "machine: other builds ran meanwhile)" % (
            machine(), load0,
            " ".join(open("/proc/loadavg").read().split()[:3])),
        "- versions: Dovecot %s (Debian), Moat %s" % (dovecot_version,
                                                    moat_version),
        "- servers: both at their defaults but for paths, users and "
        "limits (bench/bench-store.py); Moat `mail_fsync = yes` (its "
        "default), Dovecot `mail_fsync = always` (its default is "
        "`optimized`, which does not fsync each APPEND); Dovecot "
        "without an fts plugin; cold = the server's index removed, page "
        "cache warm",
        "- client: login = bench/loadgen (C, threads); the others Python "
        "(this script), whose own CPU use per wall second was: %s — "
        "below 100%% the client was not the limit" % (clients or "-"),
        "- values: median [min–max] over the rounds; the ratio is "
        "Moat/Dovecot oriented as \"times better\" (rates: Moat ÷ Dovecot; "
        "times and memory: Dovecot ÷ Moat), from the medians, the range "
        "over the rounds in brackets; 7 (IDLE) ran once (bench-idle.py, "
        "servers of its own with a uid per user)",
        "- logins refused by the server (loadgen's failed count; the "
        "rate counts completed logins only): %s" % (
            "; ".join("%s: %s" % (k, ", ".join(v))
                      for k, v in FAILED.items()) or "none"),
        "- run time %.0f s; errors: %s" % (
            time.time() - t_start, "; ".join(ERRORS) if ERRORS else "none"),
        ""] + lines + ["", "![Moat/Dovecot per workload](results.svg)", "",
                       "Below 1.0 (Dovecot better): %s" % (
                           ", ".join("%s %.2f" % (lb, r) for lb, r in ratios
                                     if r and r < 1) or "none")]
        + mixed_kinds_table() + ["", ""]
        + ["- " + x for x in logs] + [""])
    with open(OUT, "w") as f:
        f.write(text)
    print(text)
    if O.write:
        write_results(text)
        chart(ratios, os.path.join(TOP, "bench", "results.svg"))
        log("written to bench/RESULTS.md and bench/results.svg")
    else:
        chart(ratios, os.path.join(BUILD, "bench9-results.svg"))
        log("written to %s" % OUT)
    if ERRORS:
        for e in ERRORS:
            log("error: " + e)
        sys.exit(1)


def bs_log_problems(srv):
    path = os.path.join(srv.dir, "moat.log" if isinstance(srv, bs.Moat)
                        else "dovecot.log")
    # The log level, not the text ("Connection lost (read): TLS:
    # error:..." of a client that left is information): Moat's
    # "prog[pid]: level:", Dovecot's "Level:".
    level = re.compile(r"^\S+ \S+: (warning|error|fatal|crit)\b"
                       if isinstance(srv, bs.Moat)
                       else r"\b(Warning|Error|Fatal|Panic):")
    bad = []
    try:
        for line in open(path, errors="replace"):
            if level.search(line):
                bad.append(line.strip())
    except OSError as e:
        return "%s log: %s" % (srv.name, e)
    return "%s log: %d warnings and errors%s" % (srv.name, len(bad), "".join(
        "; `%s`" % b[:160] for b in bad[:3]))


if __name__ == "__main__":
    main()
