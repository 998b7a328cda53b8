#!/usr/bin/env python3
"""N concurrent IDLE sessions of N different users, Moat against Dovecot:
driven by scripts/bench-idle (which installs the packages and builds Moat
first; see its header for the settings). Root only.

The servers, users, certificate and homes are bench-store.py's (same
passwd-file with SHA512-CRYPT, same corpus, same configuration); the
client is bench/loadgen's "idle" mode. Each user's INBOX holds SMALL
messages of the shared corpus. For each server and case, every user logs
in once first, SELECTs and SEARCHes TEXT (the index exists and holds the
mail, as for a user who has logged in before);
then loadgen holds N sessions in IDLE, PSS is summed over every process
of the server (/proc/PID/smaps_rollup of the master's whole tree), and K
messages are delivered one after another, each to a different idling
user, timed to the "* n EXISTS" that user's session receives.
"""
import importlib.util
import os
import pwd
import shutil
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

SMOKE = ENV.get("MOAT_BENCH_IDLE_SMOKE") == "1"
N = int(ENV.get("MOAT_BENCH_IDLE_N", 20 if SMOKE else 1000))
K = int(ENV.get("MOAT_BENCH_IDLE_K", 5 if SMOKE else 100))
SMALL = int(ENV.get("MOAT_BENCH_IDLE_MESSAGES", 20))
SERVERS = ENV.get("MOAT_BENCH_IDLE_SERVERS",
                  "moat dovecot-default dovecot-tuned").split()
STORES = ENV.get("MOAT_BENCH_IDLE_STORES", "maildir").split()
CASES = ENV.get("MOAT_BENCH_IDLE_CASES",
                "plain tls plain-noselect").split()
WRITERS = ENV.get("MOAT_BENCH_IDLE_WRITERS", "lmtp imap").split()
SETTLE = float(ENV.get("MOAT_BENCH_IDLE_SETTLE", 0.5 if SMOKE else 2))
TIMEOUT = int(ENV.get("MOAT_BENCH_IDLE_TIMEOUT", 120 if SMOKE else 600))
# "each": user i has uid UID_BASE + i (as real users have; inotify's
# fs.inotify.max_user_instances, 128 on Debian, is per uid); "shared":
# all have the bench uid (virtual users under one uid).
UIDS = ENV.get("MOAT_BENCH_IDLE_UIDS", "each")
UID_BASE = int(ENV.get("MOAT_BENCH_IDLE_UID_BASE", 200000))
SMAPS = ENV.get("MOAT_BENCH_IDLE_SMAPS")     # a directory: smaps copies
BUILD = bs.BUILD
OUT = ENV.get("MOAT_BENCH_IDLE_OUT",
              os.path.join(BUILD, "bench-idle-results.md"))
LOADGEN = os.path.join(BUILD, "bench", "loadgen")
MAX_N = 20000
log = bs.log


# -- processes ---------------------------------------------------------------
def tree(root):
    """Pids of root and all its descendants."""
    kids = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                st = open("/proc/%s/stat" % p).read()
            except OSError:
                continue
            kids.setdefault(int(st[st.rfind(")") + 2:].split()[1]),
                            []).append(int(p))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def pss_by_name(root):
    """{process name: [count, PSS kB]} over root's tree."""
    by = {}
    for p in tree(root):
        try:
            name = open("/proc/%d/comm" % p).read().strip()
            pss = 0
            for line in open("/proc/%d/smaps_rollup" % p):
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                    break
        except OSError:
            continue
        e = by.setdefault(name, [0, 0])
        e[0] += 1
        e[1] += pss
    return by


def save_smaps(srv, label):
    """One process of each name's smaps, for a breakdown."""
    os.makedirs(SMAPS, exist_ok=True)
    seen = set()
    for p in tree(srv.proc.pid):
        try:
            name = open("/proc/%d/comm" % p).read().strip()
            if name not in seen:
                shutil.copyfile("/proc/%d/smaps" % p, os.path.join(
                    SMAPS, "%s-%s.smaps" % (label, name)))
                seen.add(name)
        except OSError:
            pass


def sessions_left(srv):
    n = 0
    for p in tree(srv.proc.pid):
        try:
            n += open("/proc/%d/comm" % p).read().strip() == "imap"
        except OSError:
            pass
    return n


def wait_settled(srv, limit=60):
    """Until the sessions of the previous run are gone (both servers
    call their session process imap), bounded."""
    for _ in range(int(limit * 10)):
        if sessions_left(srv) == 0:
            return True
        time.sleep(0.1)
    ERRORS.append("%s: %d sessions still there %d s after their clients "
                  "left" % (srv.name, sessions_left(srv), limit))
    return False


# -- the runs ----------------------------------------------------------------
class Loadgen:
    """One bench/loadgen idle run, with a bounded wait on each answer."""

    def __init__(self, srv, mode, n, select, userfile):
        port = srv.tls_port if mode == "tls" else srv.port
        cmd = [LOADGEN, "idle", "127.0.0.1", str(port), mode, userfile,
               str(n), "-k", str(K)]
        if not select:
            cmd.append("-n")
        if getattr(srv, "lmtp_port", 0):
            cmd += ["-l", str(srv.lmtp_port)]
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)

    def line(self, timeout):
        import select as sel
        r, _, _ = sel.select([self.p.stdout], [], [], timeout)
        if not r:
            self.close()
            raise SystemExit("loadgen: no answer within %d s" % timeout)
        ln = self.p.stdout.readline()
        if not ln:
            self.close()
            raise SystemExit("loadgen exited (%s)" % self.p.wait())
        return ln.strip()

    def ask(self, text, timeout):
        self.p.stdin.write(text + "\n")
        self.p.stdin.flush()
        return self.line(timeout)

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            return self.p.wait(60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            return self.p.wait()


def fields(line):
    out = {}
    for w in line.split():
        if "=" in w:
            k, v = w.split("=", 1)
            out[k] = v
    return out


ERRORS = []


def run_case(srv, store, case, userfile):
    mode = case.split("-")[0]
    select = "noselect" not in case
    t0 = time.time()
    lg = Loadgen(srv, mode, N, select, userfile)
    ready = fields(lg.line(TIMEOUT))
    res = {"ready": ready}
    if int(ready.get("sessions", 0)) != N:
        ERRORS.append("%s %s %s: %s of %d sessions idling" % (
            srv.name, store, case, ready.get("sessions"), N))
    time.sleep(SETTLE)
    by = pss_by_name(srv.proc.pid)
    res["by"] = by
    if SMAPS:
        save_smaps(srv, "%s-%s-%s" % (srv.name, store, case))
    res["pss"] = sum(v[1] for v in by.values())
    res["procs"] = sum(v[0] for v in by.values())
    # Without a selected mailbox IDLE reports nothing: no latency.
    for w in WRITERS if select else []:
        if w == "lmtp" and not getattr(srv, "lmtp_port", 0):
            continue
        lat = fields(lg.ask("lat " + w, TIMEOUT))
        res["lat " + w] = lat
        if int(lat.get("samples", 0)) != min(K, N) or \
                int(lat.get("alive", 0)) != N:
            ERRORS.append("%s %s %s: writer %s: %r" % (
                srv.name, store, case, w, lat))
    rc = lg.close()
    if rc != 0:
        ERRORS.append("%s %s %s: loadgen exit %d" % (srv.name, store, case,
                                                    rc))
    log("%s %s %s: %d sessions, PSS %d kB in %d processes, %s (load %s)" % (
        srv.name, store, case, int(ready.get("sessions", 0)), res["pss"],
        res["procs"], " ".join(
            "%s p50 %s p99 %s" % (w, res["lat " + w].get("exists_ms_p50"),
                                  res["lat " + w].get("exists_ms_p99"))
            for w in WRITERS if "lat " + w in res), bs.loadavg()))
    wait_settled(srv)
    log("  (%.1f s)" % (time.time() - t0))
    return res


def warm_up(srv, userfile):
    """Every user once, with a SELECT and a SEARCH TEXT: the indexes
    exist, with the mail in them (the INBOXes are filled without LMTP,
    which indexes each message it delivers: without the SEARCH, Moat's
    idle sessions would still be indexing their 20 messages, one tick a
    second, when PSS is read; Dovecot scans)."""
    import imaplib
    lg = Loadgen(srv, "plain", N, True, userfile)
    r = fields(lg.line(TIMEOUT))
    lg.close()
    if int(r.get("sessions", 0)) != N:
        ERRORS.append("%s: warm-up: %s of %d" % (srv.name, r.get("sessions"),
                                                 N))
    for line in open(userfile):
        user, password = line.split()
        try:
            m = imaplib.IMAP4("127.0.0.1", srv.port)
            m.login(user, password)
            m.select("INBOX")
            m.search(None, "TEXT", "zzqqxx")
            m.logout()
        except (OSError, imaplib.IMAP4.error) as e:
            ERRORS.append("%s: warm-up SEARCH of %s: %s" % (srv.name, user,
                                                           e))
            break


TUNED_LOGIN = """  service_count = 0
  process_min_avail = %d
  client_limit = 4000
  vsz_limit = 1G
""" % os.cpu_count()
# imap processes reused for the next login: only with one uid for all
# (with a uid each, a reused process cannot setuid to the next user:
# "Fatal: setuid(...) failed with euid=...", and the login fails).
TUNED_IMAP = "  service_count = 0\n" if UIDS == "shared" else ""
# Limits for N sessions from one IP, in the bench configuration only
# (the defaults are for a real server: 50 pre-auth connections per IP).
MOAT_LIMITS = """max_connections_per_ip = %d
max_processes = %d
login_max_connections = %d
""" % (N + 100, 2 * N + 100, max(1000, N + 100))


def start(srv, hashed):
    lmtp = "lmtp" in WRITERS
    if isinstance(srv, bs.Moat):
        srv.start(hashed, tls=True, lmtp=lmtp, extra=MOAT_LIMITS)
    elif srv.name == "dovecot-tuned":
        srv.start(hashed, tls=True, lmtp=lmtp, login_extra=TUNED_LOGIN,
                  imap_extra=TUNED_IMAP)
    else:
        srv.start(hashed, tls=True, lmtp=lmtp)


def log_problems(srv, store):
    """The server log's warnings and errors: how many, the first few."""
    path = os.path.join(srv.dir, "moat.log" if isinstance(srv, bs.Moat)
                        else "dovecot.log")
    bad = []
    try:
        for line in open(path, errors="replace"):
            low = line.lower()
            if "warn" in low or "error" in low or "fatal" in low or \
                    "panic" in low:
                bad.append(line.strip())
    except OSError as e:
        return "%s %s log: %s" % (srv.name, store, e)
    return "%s %s log: %d warnings/errors%s" % (
        srv.name, store, len(bad), "".join("; `%s`" % b[:200]
                                           for b in bad[:3]))


def main():
    if os.getuid() != 0:
        raise SystemExit("bench-idle must run as root")
    if not 1 <= N <= MAX_N or K < 0:
        raise SystemExit("MOAT_BENCH_IDLE_N 1-%d" % MAX_N)
    for u in ("moat-login", "moat-bench"):
        if subprocess.run(["id", u], capture_output=True).returncode:
            bs.run("useradd", "--system", "--user-group", "--no-create-home",
                   "--home-dir", "/nonexistent", "--shell",
                   "/usr/sbin/nologin", u)
    pw = pwd.getpwnam("moat-bench")
    uid, gid = pw.pw_uid, pw.pw_gid
    # The shared corpus of bench-store, small: each INBOX gets its first
    # SMALL messages (Maildir: hard links; mbox: a copy each).
    bs.COUNT = max(SMALL, 100)
    bs.SMALL = SMALL
    bs.CORPUS_MBOX, maildir = bs.corpus(uid, gid)
    B = tempfile.mkdtemp(prefix="idle.", dir=bs.CORPUS_DIR)
    os.chmod(B, 0o755)
    small_box = os.path.join(B, "small.mbox")
    bs.small_mbox(bs.CORPUS_MBOX, small_box, SMALL)
    hashed = subprocess.run(["openssl", "passwd", "-6", "-stdin"],
                            input=bs.PASSWORD.encode(), capture_output=True,
                            check=True).stdout.decode().strip()
    bs.run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
           "-days", "2", "-subj", "/CN=localhost", "-keyout", B + "/key.pem",
           "-out", B + "/cert.pem", capture_output=True)
    notes = ["machine: %d cores, %s, %d GiB; load average at start %s" % (
        os.cpu_count(), open("/proc/cpuinfo").read().split(
            "model name")[1].split(":")[1].split("\n")[0].strip(),
        os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") >> 30,
        " ".join(open("/proc/loadavg").read().split()[:3]))]
    notes.append("dovecot: " + subprocess.run(
        ["dovecot", "--version"], capture_output=True).stdout.decode().strip())
    notes.append("moat: " + subprocess.run(
        ["git", "-C", TOP, "describe", "--always", "--dirty"],
        capture_output=True).stdout.decode().strip())
    notes.append("params: N=%d K=%d messages=%d stores=%s cases=%s "
                 "writers=%s uids=%s; fs.inotify.max_user_instances=%s" % (
                     N, K, SMALL, ",".join(STORES), ",".join(CASES),
                     ",".join(WRITERS), UIDS, open(
                         "/proc/sys/fs/inotify/max_user_instances").read()
                     .strip()))
    results = {}        # (store, case, server) -> res
    servers = []
    t_start = time.time()
    try:
        for store in STORES:
            users = {"i%s%05d" % (store[0], i): store for i in range(N)}
            userfile = os.path.join(B, "users-" + store)
            with open(userfile, "w") as f:
                for u in users:
                    f.write("%s %s\n" % (u, bs.PASSWORD))
            for name in SERVERS:
                cls = bs.Moat if name == "moat" else bs.Dovecot
                srv = cls("%s-%s" % (name, store), B, uid, gid, users)
                srv.name = name
                if UIDS == "each":
                    srv.uids = {u: UID_BASE + i
                                for i, u in enumerate(users)}
                servers.append(srv)
                log("%s %s: %d homes" % (name, store, N))
                bs.prepare_homes(srv, bs.CORPUS_MBOX, maildir, small_box)
                time.sleep(1.1)
                start(srv, hashed)
                warm_up(srv, userfile)
                wait_settled(srv)
                for case in CASES:
                    results[(store, case, name)] = run_case(srv, store, case,
                                                            userfile)
                srv.stop()
                notes.append(log_problems(srv, store))
                if ENV.get("MOAT_BENCH_IDLE_KEEP") != "1":
                    shutil.rmtree(srv.dir, ignore_errors=True)
    finally:
        for srv in servers:
            srv.stop()
        if ENV.get("MOAT_BENCH_IDLE_KEEP") != "1":
            shutil.rmtree(B, ignore_errors=True)
    notes.append("run time %.0f s; load average at end %s" % (
        time.time() - t_start,
        " ".join(open("/proc/loadavg").read().split()[:3])))
    if ENV.get("MOAT_BENCH_IDLE_JSON"):
        # For scripts/bench (bench9.py): the figures, machine-readable.
        import json
        with open(ENV["MOAT_BENCH_IDLE_JSON"], "w") as f:
            json.dump({" ".join(k): {"pss": r["pss"], "procs": r["procs"],
                                     "lat lmtp": r.get("lat lmtp", {}),
                                     "lat imap": r.get("lat imap", {})}
                       for k, r in results.items()}, f)
    text = "\n".join(report(notes, results)) + "\n"
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write(text)
    print(text)
    print("written to " + OUT)
    if ERRORS:
        for e in ERRORS:
            log("error: " + e)
        sys.exit(1)


def report(notes, results):
    lines = ["# bench-idle %s" % time.strftime("%Y-%m-%d %H:%M UTC",
                                               time.gmtime()), ""]
    lines += ["- " + n for n in notes] + [""]
    others = [s for s in SERVERS if s != "moat"]
    hdr = "| store | case | Moat PSS total MB | Moat kB/session |"
    sep = "|---|---|---|---|"
    for o in others:
        hdr += " %s total MB | %s kB/session | Moat/%s |" % (o, o, o)
        sep += "---|---|---|"
    lines += ["PSS over every process of the server with %d sessions "
              "idling (IDLE), per session = total / %d." % (N, N), "",
              hdr, sep]
    for store in STORES:
        for case in CASES:
            row = "| %s | %s |" % (store, case_label(case))
            m = results.get((store, case, "moat"))
            row += " %s | %s |" % (mb(m), per(m)) if "moat" in SERVERS \
                else " - | - |"
            for o in others:
                r = results.get((store, case, o))
                ratio = "%.2f" % (m["pss"] / r["pss"]) if m and r and \
                    r["pss"] else "-"
                row += " %s | %s | %s |" % (mb(r), per(r), ratio)
            lines.append(row)
    lines += ["", "Latency from the writer sending the message to the "
              "idling session's `* n EXISTS`, ms, %d deliveries one after "
              "another to %d different idling users (writer: lmtp = "
              "the server's LMTP, imap = APPEND from a second session of "
              "the user); in brackets the writer's own time to its OK." % (
                  min(K, N), min(K, N)), "",
              "| store | case | writer | server | p50 | p99 | max | "
              "writer p50 | writer p99 |", "|---|---|---|---|---|---|---|"
              "---|---|"]
    for store in STORES:
        for case in CASES:
            for w in WRITERS:
                for s in SERVERS:
                    r = results.get((store, case, s), {}).get("lat " + w)
                    if not r:
                        continue
                    lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | "
                                 "%s |" % (store, case_label(case), w, s,
                                           r.get("exists_ms_p50"),
                                           r.get("exists_ms_p99"),
                                           r.get("exists_ms_max"),
                                           r.get("writer_ms_p50"),
                                           r.get("writer_ms_p99")))
    lines += ["", "PSS by process (count, total kB):", ""]
    for (store, case, s), r in sorted(results.items()):
        parts = sorted(r["by"].items(), key=lambda kv: -kv[1][1])
        lines.append("- %s %s %s: %s; setup %s s, loadgen CPU %s s" % (
            store, case, s, ", ".join("%s %d×, %d" % (k, v[0], v[1])
                                      for k, v in parts),
            r["ready"].get("setup_s"), r["ready"].get("client_cpu_s")))
    return lines


def case_label(case):
    return {"plain": "plaintext, SELECT INBOX",
            "tls": "implicit TLS, SELECT INBOX",
            "starttls": "STARTTLS, SELECT INBOX",
            "plain-noselect": "plaintext, no SELECT",
            "tls-noselect": "implicit TLS, no SELECT"}.get(case, case)


def mb(r):
    return "%.1f" % (r["pss"] / 1024) if r else "-"


def per(r):
    return "%.0f" % (r["pss"] / N) if r else "-"


if __name__ == "__main__":
    main()
