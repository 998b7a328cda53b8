"""kill -9 of sessions in the middle of their work (issue 6, Done means 3).

For one user, once per store (Maildir, mbox): two bystander sessions keep
NOOPing and fetching `1:* (UID FLAGS)`, a feeder session keeps a pool of
disposable messages filled, an external delivery (Maildir: tmp/ then a
rename into new/; mbox: fcntl lock plus a liblockfile-style dotlock, as
an MDA does) delivers numbered messages all the time, and a victim
session starts a random operation (APPEND with flags, STORE, EXPUNGE,
UID EXPUNGE, COPY, MOVE, or a SELECT that has to record new mail) and
is SIGKILLed 0-30 ms after the command went out. After each kill the
next session must LOGIN and SELECT within a few seconds (it becomes the
next victim). At the end the mailboxes are checked message by message:

- every APPEND that got its OK is there exactly once, with its flags; one
  that did not is there at most once (with its flags, if at all);
- every delivered message is there exactly once;
- the seed messages, which only STORE touches, are there once each with
  the flags of the last acknowledged STORE or of a later unacknowledged
  one (a killed STORE may or may not have happened, message by message);
- a disposable message is never duplicated; an acknowledged EXPUNGE
  removed it, an acknowledged COPY put exactly one copy in the other
  mailbox, an acknowledged MOVE put it there and removed it here, an
  unacknowledged MOVE left it in at least one place (nothing is lost);
- no Message-ID twice in a mailbox, and no UID that a bystander saw
  for one message ever shows another.

A bystander must answer every command within BYSTANDER_TIMEOUT seconds
("hung" otherwise, e.g. blocked on a Berkeley DB mutex a killed session
held), must never lose its connection, and its view must stay
consistent: a message keeps its sequence position until an EXPUNGE
response moves it, and a new UID is above every UID seen before.

In scripts/check (bounded: DEADLINE per store). Run it alone:
  cd build && MOAT_INTEGRATION_TESTS=test_crash \\
      make check TESTS=tests/integration/run
MOAT_CRASH_KILLS=N sets the kills per store (default 120 Maildir, 100
mbox: at least 200 in all; about 10 s each when nothing hangs), e.g.
MOAT_CRASH_KILLS=2000 for a soak run. MOAT_CRASH_SEED=N repeats a run's
random choices (the seed is printed); MOAT_CRASH_GDB=1 adds gdb
backtraces of every session to a hang's report.
"""

import errno
import fcntl
import os
import random
import re
import signal
import socket
import sys
import threading
import time
import unittest

from moatenv import IS_ROOT, USERS, MoatServer, RawClient, imap_connect

KILLS = {"maildir": 120, "mbox": 100}
# Seconds: longer means the bystander hung. A session blocked on a dead
# process's Berkeley DB mutex leaves it after 2 s and recovers (design.md,
# "Crash procedures"); what it could not leave would end by its 15 s
# watchdog, so a round beyond that is a hang. Rounds that include a
# recovery on a loaded 2-core machine were measured at up to 9.5 s; the
# slowest round is printed with the summary.
BYSTANDER_TIMEOUT = 15
# Seconds a UID may stay in a bystander's view unreadable (an expunge a
# killed victim left half done is completed by the next session's sync).
UNREAD_GRACE = 10
OPEN_TIMEOUT = 8          # the next session's LOGIN + SELECT
DEADLINE = 150            # seconds per store, whatever happens
SEEDS = 8
FEED_BUSY_RETRIES = 3     # the feeder's retries of NO [UNAVAILABLE]
FLAG_CHOICES = ["\\Flagged", "\\Answered", "\\Seen", "\\Draft", "$Label1",
                "Junk"]
SYSTEM_FLAGS = frozenset(["\\Flagged", "\\Answered", "\\Seen", "\\Draft",
                          "\\Deleted"])


def flags_possible(got, possible):
    """True if every flag's state in got is its state in one of the
    possible flag sets. A STORE that was killed got no completion
    result, so RFC 9051 promises nothing about it; on Maildir its parts
    land separately (system flags in the file name, keywords in the
    index), so each flag may show the old or the new state on its
    own. An acknowledged STORE leaves a single possible set, so its
    flags are checked exactly."""
    for f in set(FLAG_CHOICES) | set(got):
        if not any((f in p) == (f in got) for p in possible):
            return False
    return True
LOCATIONS = {"maildir": "maildir:~/Maildir",
             "mbox": "mbox:~/mail:INBOX=~/inbox"}
FETCH_RE = re.compile(r"^\* (\d+) FETCH \((.*)\)$")
UID_RE = re.compile(r"UID (\d+)")
FLAGS_RE = re.compile(r"FLAGS \(([^)]*)\)")
MID_RE = re.compile(r"Message-ID: <([^@>]+)@crash>", re.I)
SIZE_RE = re.compile(r"RFC822.SIZE (\d+)")


def message(mid, size=0, from_line=True):
    """A message of about size bytes. An appended one has a line that
    starts with "From " (the mbox quoting is part of what is killed)."""
    body = b"Body of %s.\r\n" % mid.encode()
    if from_line:
        body += b"From the start of a line.\r\n"
    line = b"A line of filler text for %s, From here on.\r\n" % mid.encode()
    if size > len(body):
        body += line * ((size - len(body)) // len(line))
    return (b"From: crash@example.org\r\nTo: alice@example.org\r\n"
            b"Subject: %s\r\nMessage-ID: <%s@crash>\r\n\r\n" % (
                mid.encode(), mid.encode())) + body


def served_size(kind, data):
    """RFC822.SIZE as served: mbox keeps its ">From " quoting."""
    if kind != "mbox":
        return len(data)
    return len(data) + len(re.findall(rb"\nFrom ", data.split(b"\r\n\r\n", 1)[1]))


def norm_flags(text):
    return frozenset(f for f in text.split() if f != "\\Recent")


def session_pid(server, client):
    """The imap session serving client's connection: the process of that
    name below moatd that holds the server end of the TCP socket."""
    cport = client.sock.getsockname()[1]
    want = "0100007F:%04X" % cport
    inode = None
    for _ in range(100):
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                parts = line.split()
                if parts[2] == want and parts[1].endswith(
                        ":%04X" % server.ports["starttls"]):
                    inode = parts[9]
        if inode:
            break
        time.sleep(0.01)
    if not inode:
        return None
    target = "socket:[%s]" % inode
    for pid in server.pids_named("imap"):
        try:
            for fd in os.listdir("/proc/%d/fd" % pid):
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == target:
                    return pid
        except OSError:
            continue
    return None


def kill_pid(pid):
    """SIGKILL pid through a pidfd (a reused pid is never hit)."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return False
    try:
        signal.pidfd_send_signal(fd, signal.SIGKILL)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


class Failure(Exception):
    pass


class Session:
    """A RawClient with tags, timeouts and the responses kept."""

    def __init__(self, server, timeout):
        self.c = server.connect("starttls", timeout=timeout)
        self.c.sock.settimeout(timeout)
        self.n = 0
        self.c.readline()

    def cmd(self, text, literal=None):
        self.n += 1
        tag = "T%d" % self.n
        if literal is None:
            self.c.send("%s %s\r\n" % (tag, text))
        else:
            self.c.send("%s %s {%d}\r\n" % (tag, text, len(literal)))
            line = self.c.readline()
            if not line.startswith("+"):
                raise Failure("no continuation: %r" % line)
            self.c.send(literal + b"\r\n")
        return self.c.read_until_tagged(tag)

    def ok(self, text, literal=None):
        lines = self.cmd(text, literal)
        if " OK" not in lines[-1][:len("T0000000 OK")]:
            raise Failure("%s: %r" % (text, lines[-3:]))
        return lines

    def login_select(self, box="INBOX"):
        self.ok("LOGIN alice %s" % USERS["alice"][0])
        return self.ok("SELECT %s" % box)

    def close(self):
        self.c.close()


class Bystander(threading.Thread):
    """Selects box, then NOOP + UID FETCH 1:* (UID FLAGS) in a loop,
    checking every answer's time and the view's consistency."""

    def __init__(self, test, box):
        super().__init__(daemon=True)
        self.test, self.box = test, box
        self.errors = []
        self.rounds = 0
        self.slowest = 0.0
        self.view = []          # UIDs by sequence number
        # per slot: the highest UID seen before its EXISTS came; a
        # message added later has a higher UID (RFC 9051 2.3.1.1)
        self.floor = []
        self.max_uid = 0
        self.stop = threading.Event()
        self.unread = {}        # UID -> when a FETCH first could not read it

    def process(self, lines):
        """Applies EXISTS, EXPUNGE and FETCH responses in their order
        (an EXPUNGE may come during a UID command, RFC 3501 7.4.1) and
        returns the UIDs new to this view."""
        new = []
        for line in lines:
            m = re.match(r"^\* (\d+) (EXISTS|EXPUNGE)$", line)
            if m:
                n = int(m.group(1))
                if m.group(2) == "EXPUNGE":
                    if n < 1 or n > len(self.view):
                        raise Failure("EXPUNGE %d of a view of %d" % (
                            n, len(self.view)))
                    del self.view[n - 1]
                    del self.floor[n - 1]
                elif n < len(self.view):
                    raise Failure("EXISTS %d shrinks a view of %d" % (
                        n, len(self.view)))
                else:
                    self.floor.extend([self.max_uid] * (n - len(self.view)))
                    self.view.extend([None] * (n - len(self.view)))
                continue
            m = FETCH_RE.match(line)
            um = UID_RE.search(m.group(2)) if m else None
            if not um:
                continue
            seq, uid = int(m.group(1)), int(um.group(1))
            if seq < 1 or seq > len(self.view):
                raise Failure("FETCH of seq %d in a view of %d" % (
                    seq, len(self.view)))
            known = self.view[seq - 1]
            if known is None:
                # Slots may be learnt out of order (an unsolicited
                # FETCH of flags carries the UID), so a UID is checked
                # against its known neighbours and its slot's floor.
                lower = max([u for u in self.view[:seq - 1]
                             if u is not None] + [self.floor[seq - 1]])
                upper = min([u for u in self.view[seq:] if u is not None]
                            + [1 << 32])
                if not lower < uid < upper:
                    raise Failure("new message %d has UID %d, not between "
                                  "%d and %d" % (seq, uid, lower, upper))
                self.view[seq - 1] = uid
                self.max_uid = max(self.max_uid, uid)
                new.append(uid)
            elif known != uid:
                raise Failure("seq %d was UID %d, now %d" % (seq, known,
                                                             uid))
        return new

    def learn(self, s, uids):
        """Records the Message-ID of new UIDs; a UID never changes it.
        A victim may expunge one between the FETCH that showed it and
        this one, and no EXPUNGE may be sent during a FETCH: RFC 2180
        §4.1.2 lets the server answer NO [EXPUNGEISSUED]. What it could
        not read is kept in `unread` and checked by unread_check."""
        for i in range(0, len(uids), 200):
            part = ",".join(str(u) for u in uids[i:i + 200])
            lines = s.cmd("UID FETCH %s (UID BODY.PEEK[]<0.200>)" % part)
            tagged = lines[-1].split(" ", 2)
            if tagged[1] != "OK" and not (
                    tagged[1] == "NO" and
                    tagged[2].startswith("[EXPUNGEISSUED]")):
                raise Failure("UID FETCH %s: %r" % (part, lines[-3:]))
            self.process(lines)
            got = set()
            for uid, mid in parse_mids(lines):
                self.test.note_uid(self.box, uid, mid, "bystander")
                got.add(uid)
                self.unread.pop(uid, None)
            if tagged[1] == "NO":
                for u in uids[i:i + 200]:
                    if u not in got:
                        self.unread.setdefault(u, time.monotonic())

    def unread_check(self, s):
        """A UID the server could not read must leave the view (an
        EXPUNGE at a later NOOP) or become readable again, within
        UNREAD_GRACE seconds: one that stays listed but unreadable is a
        message the index keeps and the store lost."""
        for u in [u for u in self.unread if u not in self.view]:
            del self.unread[u]
        if not self.unread:
            return
        self.learn(s, sorted(self.unread))
        for u, since in self.unread.items():
            if time.monotonic() - since > UNREAD_GRACE:
                raise Failure("UID %d is still in the view and still "
                              "answers NO [EXPUNGEISSUED] after %d s" % (
                                  u, UNREAD_GRACE))

    def run(self):
        try:
            s = Session(self.test.server, BYSTANDER_TIMEOUT)
            s.ok("LOGIN alice %s" % USERS["alice"][0])
            self.process(s.ok("SELECT %s" % self.box))
            while not self.stop.is_set():
                t0 = time.monotonic()
                lines = s.ok("NOOP")
                self.last = [lines]
                new = self.process(lines)
                lines = s.ok("UID FETCH 1:* (UID FLAGS)")
                self.last.append(lines)
                new += self.process(lines)
                if new:
                    self.learn(s, new)
                self.unread_check(s)
                took = time.monotonic() - t0
                if took > BYSTANDER_TIMEOUT:
                    raise Failure("a round took %.1f s" % took)
                self.slowest = max(self.slowest, took)
                self.rounds += 1
                time.sleep(0.005)
            s.ok("LOGOUT")
            s.close()
        except (socket.timeout, TimeoutError) as e:
            self.errors.append("%s bystander hung: %r" % (self.box, e))
        except Exception as e:
            self.errors.append("%s bystander: %r; view %r; last answers "
                               "%r" % (self.box, e, self.view,
                                       getattr(self, "last", None)))


def fetch_groups(lines):
    """The text of each FETCH response, literals joined in (RawClient
    returns a literal's lines as lines of their own)."""
    out = []
    for line in lines:
        if re.match(r"^\* \d+ FETCH \(", line):
            out.append(line)
        elif line.startswith("* ") or re.match(r"^T\d+ ", line):
            continue
        elif out:
            out[-1] += "\n" + line
    return out


def parse_mids(lines):
    """(uid, message id) of FETCH responses with the Message-ID."""
    out = []
    for text in fetch_groups(lines):
        um = UID_RE.search(text)
        mm = MID_RE.search(text)
        if um and mm:
            out.append((int(um.group(1)), mm.group(1)))
    return out


class Delivery(threading.Thread):
    """An MDA: delivers deliv-N messages into INBOX until stopped."""

    def __init__(self, test, kind, home):
        super().__init__(daemon=True)
        self.test, self.kind, self.home = test, kind, home
        self.delivered = []
        self.errors = []
        self.stop = threading.Event()
        self.uid = USERS["alice"][1] if IS_ROOT else os.getuid()

    def run(self):
        n = 0
        try:
            while not self.stop.is_set():
                mid = "deliv-%d" % n
                msg = message(mid, 300, from_line=False)
                self.test.sizes[mid] = len(msg)
                data = msg.replace(b"\r\n", b"\n")
                if self.kind == "maildir":
                    self.deliver_maildir(mid, data)
                else:
                    self.deliver_mbox(data)
                self.delivered.append(mid)
                n += 1
                time.sleep(random.uniform(0.02, 0.08))
        except Exception as e:
            self.errors.append("delivery: %r" % e)

    def deliver_maildir(self, mid, data):
        md = os.path.join(self.home, "Maildir")
        name = "%d.M%dP%d.crash" % (time.time(), random.getrandbits(40),
                                    os.getpid())
        tmp = os.path.join(md, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if IS_ROOT:
            os.chown(tmp, self.uid, self.uid)
        os.rename(tmp, os.path.join(md, "new", name))

    def deliver_mbox(self, data):
        path = os.path.join(self.home, "inbox")
        lock = path + ".lock"
        deadline = time.monotonic() + 60
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            if IS_ROOT:
                os.fchown(fd, self.uid, self.uid)
            # Policy 11.6: fcntl, then the dotlock; both non-blocking, and
            # a held dotlock releases the fcntl lock before retrying.
            while True:
                if time.monotonic() > deadline:
                    raise Failure("mbox locks not had in 60 s")
                try:
                    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as e:
                    if e.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    time.sleep(random.uniform(0.005, 0.05))
                    continue
                if self.dotlock(lock):
                    break
                fcntl.lockf(fd, fcntl.LOCK_UN)
                time.sleep(random.uniform(0.005, 0.05))
            try:
                size = os.fstat(fd).st_size
                pad = b""
                if size > 0:
                    tail = os.pread(fd, 2, max(0, size - 2))
                    if not tail.endswith(b"\n"):
                        pad = b"\n\n"
                    elif size >= 2 and tail != b"\n\n":
                        pad = b"\n"
                when = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime())
                os.write(fd, pad + b"From mda@example.org " + when.encode() +
                         b"\n" + data + b"\n")
                os.fsync(fd)
            finally:
                os.unlink(lock)
                fcntl.lockf(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @staticmethod
    def dotlock(lock):
        """liblockfile's way: a unique file holding our pid, linked to
        the lock name; a lock whose pid is gone is stale."""
        tmp = "%s.%d.%d" % (lock, os.getpid(), threading.get_ident())
        with open(tmp, "w") as f:
            f.write("%d\n" % os.getpid())
        try:
            try:
                os.link(tmp, lock)
                return True
            except FileExistsError:
                pass
            try:
                with open(lock) as f:
                    pid = int(f.read().strip() or "0")
                if pid > 0:
                    os.kill(pid, 0)
                elif time.time() - os.stat(lock).st_mtime < 300:
                    return False
            except ProcessLookupError:
                try:
                    os.unlink(lock)
                except FileNotFoundError:
                    pass
            except (FileNotFoundError, ValueError, PermissionError):
                pass
            return False
        finally:
            os.unlink(tmp)


class CrashTests:
    KIND = None

    def setUp(self):
        self.seed = int(os.environ.get("MOAT_CRASH_SEED") or
                        random.randrange(1 << 30))
        self.rng = random.Random(self.seed)
        self.kills = int(os.environ.get("MOAT_CRASH_KILLS") or
                         KILLS[self.KIND])
        self.server = MoatServer(
            extra_conf="mail_location = %s\nmax_sessions_per_user_ip = 50\n"
            % LOCATIONS[self.KIND], listeners=("starttls",)).start()
        self.addCleanup(self.server.stop)
        self.uids = {"INBOX": {}, "Other": {}}   # uid -> message id
        self.uid_lock = threading.Lock()
        self.uid_errors = []
        self.sizes = {}     # message id -> RFC822.SIZE expected

    def note_uid(self, box, uid, mid, who):
        with self.uid_lock:
            old = self.uids[box].setdefault(uid, mid)
            if old != mid:
                self.uid_errors.append("%s UID %d was %s, %s says %s" % (
                    box, uid, old, who, mid))

    def stacks(self):
        """Where every session waits (for a hang's report)."""
        out = []
        for pid in self.server.pids_named("imap"):
            try:
                with open("/proc/%d/wchan" % pid) as f:
                    wchan = f.read()
                with open("/proc/%d/syscall" % pid) as f:
                    sc = f.read().split()[:2]
                out.append("imap[%d] %s %s" % (pid, wchan, sc))
            except OSError:
                continue
            if os.environ.get("MOAT_CRASH_GDB"):
                import subprocess
                out.append(subprocess.run(
                    ["gdb", "-p", str(pid), "-batch", "-ex", "bt"],
                    capture_output=True, text=True).stdout[-2500:])
        if os.environ.get("MOAT_CRASH_GDB"):
            import subprocess
            out.append(subprocess.run(["ps", "-eo", "pid,ppid,uid,stat,comm"],
                                      capture_output=True,
                                      text=True).stdout[-3000:])
        return "\n".join(out)

    def log_tail(self):
        lines = [l for l in self.server.read_log().splitlines()
                 if " debug: " not in l and " info: " not in l and
                 "killed by signal 9" not in l]
        return "\n".join(lines[-30:])

    # -- the victim's operations ----------------------------------------
    def pick_fodder(self):
        return self.fodder.pop(self.rng.randrange(len(self.fodder)))

    def op_append(self, s):
        self.napp += 1
        mid = "app-%d" % self.napp
        flags = frozenset(self.rng.sample(FLAG_CHOICES,
                                          self.rng.randrange(3)))
        size = self.rng.choice([0, 2000, 60000, 400000])
        self.appends[mid] = [flags, False]
        data = message(mid, size)
        self.sizes[mid] = served_size(self.KIND, data)
        tag = "V"
        s.c.send("%s APPEND INBOX (%s) {%d}\r\n" % (tag, " ".join(flags),
                                                    len(data)))
        line = s.c.readline()
        if not line.startswith("+"):
            raise Failure("APPEND: no continuation: %r" % line)
        s.c.send(data + b"\r\n")
        return tag, lambda ok: self.appends[mid].__setitem__(1, ok)

    def op_store(self, s):
        mids = self.rng.sample(sorted(self.seeds), self.rng.randrange(1, 4))
        flags = frozenset(self.rng.sample(FLAG_CHOICES,
                                          self.rng.randrange(4)))
        uids = ",".join(str(self.seeds[m]) for m in mids)
        for m in mids:
            self.seed_flags[m].add(flags)
        s.c.send("V UID STORE %s FLAGS (%s)\r\n" % (uids, " ".join(flags)))

        def done(ok):
            if ok:
                for m in mids:
                    self.seed_flags[m] = {flags}
        return "V", done

    def op_expunge(self, s):
        if len(self.fodder) < 2:
            return None
        picked = [self.pick_fodder() for _ in range(self.rng.randrange(1, 3))]
        uids = ",".join(str(u) for _, u in picked)
        s.ok("UID STORE %s +FLAGS.SILENT (\\Deleted)" % uids)
        for mid, _ in picked:
            self.fodder_use[mid] = ["expunge", False]
        if self.rng.random() < 0.5:
            s.c.send("V UID EXPUNGE %s\r\n" % uids)
        else:
            s.c.send("V EXPUNGE\r\n")

        def done(ok):
            for mid, _ in picked:
                self.fodder_use[mid][1] = ok
        return "V", done

    def op_copy_move(self, s, verb):
        if not self.fodder:
            return None
        mid, uid = self.pick_fodder()
        self.fodder_use[mid] = [verb, False]
        s.c.send("V UID %s %d Other\r\n" % (verb.upper(), uid))
        return "V", lambda ok: self.fodder_use[mid].__setitem__(1, ok)

    def op_select(self, s):
        # A SELECT of Other after its new mail: the sync's index writes
        # (new UIDs, \Recent, the view map) are what gets killed.
        s.c.send("V SELECT Other\r\n")
        return "V", lambda ok: None

    def run_victim(self, s):
        """One operation, killed at a random moment; returns its name."""
        pid = session_pid(self.server, s.c)
        if pid is None:
            raise Failure("no session process for the victim")
        r = None
        while r is None:
            name = self.rng.choice(["append", "append", "store", "expunge",
                                    "copy", "move", "select"])
            if name == "append":
                r = self.op_append(s)
            elif name == "store":
                r = self.op_store(s)
            elif name == "expunge":
                r = self.op_expunge(s)
            elif name in ("copy", "move"):
                r = self.op_copy_move(s, name)
            else:
                r = self.op_select(s)
        tag, done = r
        # Most commands take a millisecond or two: most kills come early.
        time.sleep(self.rng.choice([0, 0.0005, 0.001, 0.002, 0.004]) *
                   self.rng.random() if self.rng.random() < 0.8 else
                   self.rng.uniform(0, 0.03))
        if not kill_pid(pid):
            raise Failure("victim %d gone before the kill" % pid)
        ok = False
        try:
            while True:
                line = s.c.readline()
                if line.startswith(tag + " "):
                    ok = line.startswith(tag + " OK")
        except (EOFError, OSError):
            pass
        done(ok)
        self.stats[name] = self.stats.get(name, [0, 0])
        self.stats[name][0] += 1
        self.stats[name][1] += ok
        s.close()

    # -- the feeder keeps disposable messages available ------------------
    def feed(self, m, n):
        for _ in range(n):
            self.nfod += 1
            mid = "fod-%d" % self.nfod
            for attempt in range(FEED_BUSY_RETRIES + 1):
                typ, data = m.append("INBOX", None, None, message(mid))
                # NO [UNAVAILABLE] ("try again later": the index stayed
                # busy for 5 s, e.g. while a dead session's locks are
                # recovered on a loaded machine) is a clean refusal; a
                # real client tries again, and so does the feeder. A
                # refused APPEND must leave nothing behind: the final
                # check would find the message twice.
                if typ == "NO" and b"[UNAVAILABLE]" in data[0] and \
                        attempt < FEED_BUSY_RETRIES:
                    self.feed_busy += 1
                    time.sleep(0.5)
                    continue
                break
            self.assertEqual(typ, "OK", data)
            uid = int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))
            self.fodder.append((mid, uid))
            self.fodder_all[mid] = uid

    # -- the whole run ---------------------------------------------------
    def test_kill9(self):
        print("\n%s: seed %d, %d kills" % (self.KIND, self.seed, self.kills),
              file=sys.stderr)
        home = self.server.homes["alice"]
        m = imap_connect(self.server)
        self.addCleanup(lambda: m.logout())
        self.assertEqual(m.create("Other")[0], "OK")
        self.seeds, self.seed_flags = {}, {}
        for i in range(SEEDS):
            mid = "seed-%d" % i
            typ, data = m.append("INBOX", None, None, message(mid))
            self.assertEqual(typ, "OK", data)
            self.seeds[mid] = int(re.search(rb"APPENDUID \d+ (\d+)",
                                            data[0]).group(1))
            self.seed_flags[mid] = {frozenset()}
        self.fodder, self.fodder_all, self.fodder_use = [], {}, {}
        self.appends, self.napp, self.nfod, self.stats = {}, 0, 0, {}
        self.feed_busy = 0
        self.feed(m, 20)

        bystanders = [Bystander(self, "INBOX"), Bystander(self, "Other")]
        delivery = Delivery(self, self.KIND, home)
        for t in bystanders + [delivery]:
            t.start()
        deadline = time.monotonic() + DEADLINE
        t0 = time.monotonic()
        opens = []
        try:
            for k in range(self.kills):
                if time.monotonic() > deadline:
                    self.fail("%d of %d kills in %d s" % (k, self.kills,
                                                           DEADLINE))
                for t in bystanders + [delivery]:
                    if t.errors:
                        self.fail("after %d kills: %s\n%s" % (
                            k, t.errors, self.log_tail()))
                if len(self.fodder) < 6:
                    self.feed(m, 10)
                # The next session opens normally, within OPEN_TIMEOUT.
                t1 = time.monotonic()
                try:
                    s = Session(self.server, OPEN_TIMEOUT)
                    s.login_select()
                except Exception as e:
                    self.fail("after %d kills the next session did not "
                              "open: %r\n%s\n%s" % (k, e, self.stacks(),
                                                   self.log_tail()))
                opens.append(time.monotonic() - t1)
                self.run_victim(s)
            # ... and once more after the last kill.
            s = Session(self.server, OPEN_TIMEOUT)
            s.login_select()
            s.ok("LOGOUT")
            s.close()
        finally:
            for t in bystanders + [delivery]:
                t.stop.set()
            for t in bystanders + [delivery]:
                t.join(BYSTANDER_TIMEOUT + 5)
        elapsed = time.monotonic() - t0
        print("%s: %d kills in %.1f s; ops (started, OK) %s; slowest open "
              "%.2f s; bystander rounds %s, slowest %s s; %d deliveries; "
              "feeder APPENDs refused as busy %d" % (
                  self.KIND, self.kills, elapsed, self.stats, max(opens),
                  [b.rounds for b in bystanders],
                  ["%.2f" % b.slowest for b in bystanders],
                  len(delivery.delivered), self.feed_busy),
              file=sys.stderr)
        for t in bystanders + [delivery]:
            self.assertFalse(t.is_alive(), "a thread did not stop")
            self.assertEqual(t.errors, [], self.log_tail())
        self.verify(m, delivery.delivered)

    # -- the final check -------------------------------------------------
    def contents(self, box):
        """{message id: [(uid, flags, size)]} of box, by a fresh session."""
        s = Session(self.server, 30)
        s.login_select(box)
        lines = s.ok("UID FETCH 1:* (UID FLAGS RFC822.SIZE "
                     "BODY.PEEK[]<0.200>)")
        s.ok("LOGOUT")
        s.close()
        out = {}
        for text in fetch_groups(lines):
            uid = int(UID_RE.search(text).group(1))
            flags = norm_flags(FLAGS_RE.search(text).group(1))
            size = int(SIZE_RE.search(text).group(1))
            mm = MID_RE.search(text)
            mid = mm.group(1) if mm else "(none: UID %d)" % uid
            out.setdefault(mid, []).append((uid, flags, size))
            if mm:
                self.note_uid(box, uid, mid, "final")
        return out

    def verify(self, m, delivered):
        inbox, other = self.contents("INBOX"), self.contents("Other")
        errors = list(self.uid_errors)
        for box, got in (("INBOX", inbox), ("Other", other)):
            for mid, where in got.items():
                if len(where) > 1:
                    errors.append("%s: %s %d times %s" % (box, mid,
                                                          len(where), where))
        for mid in delivered:
            got = inbox.get(mid, [])
            if len(got) != 1:
                errors.append("delivered %s: %r" % (mid, got))
            elif got[0][2] != self.sizes[mid]:
                errors.append("delivered %s is %d bytes, not %d" % (
                    mid, got[0][2], self.sizes[mid]))
        for mid, (flags, ok) in self.appends.items():
            got = inbox.get(mid, [])
            if ok and len(got) != 1:
                errors.append("acknowledged APPEND %s: %r" % (mid, got))
            for _, f, size in got:
                # Unacknowledged, it may have been found as a file
                # without its record: Maildir keywords and every mbox
                # flag live in the index only, so some may be missing.
                if not ok and f <= flags:
                    f = flags
                if size != self.sizes[mid]:
                    errors.append("APPEND %s (%s) is %d bytes, not %d" % (
                        mid, "OK" if ok else "killed", size,
                        self.sizes[mid]))
                if f != flags:
                    errors.append("APPEND %s (%s) has %s, not %s" % (
                        mid, "OK" if ok else "killed", sorted(f),
                        sorted(flags)))
        for mid, possible in self.seed_flags.items():
            got = inbox.get(mid, [])
            if len(got) != 1:
                errors.append("seed %s: %r" % (mid, got))
            elif not flags_possible(got[0][1], possible):
                errors.append("seed %s has %s, not one of %s" % (
                    mid, sorted(got[0][1]), [sorted(p) for p in possible]))
        for mid in self.fodder_all:
            use, ok = self.fodder_use.get(mid, (None, False))
            here, there = len(inbox.get(mid, [])), len(other.get(mid, []))
            if use is None or use == "expunge":
                bad = there != 0 or (here != 1 if use is None else
                                     (ok and here != 0))
            elif use == "copy":
                bad = here != 1 or (there != 1 if ok else there > 1)
            else:
                bad = ((here, there) != (0, 1) if ok else
                       here + there == 0)
            if bad:
                errors.append("%s (%s, %s): %d in INBOX, %d in Other" % (
                    mid, use, "OK" if ok else "killed", here, there))
        known = (set(delivered) | set(self.appends) | set(self.seed_flags) |
                 set(self.fodder_all))
        for box, got in (("INBOX", inbox), ("Other", other)):
            for mid in got:
                if mid not in known:
                    errors.append("%s: unknown message %s" % (box, mid))
        if errors:
            self.fail("seed %d: %d problems:\n%s\n%s" % (
                self.seed, len(errors), "\n".join(errors[:40]),
                self.log_tail()))


class CrashMaildir(CrashTests, unittest.TestCase):
    KIND = "maildir"


class CrashMbox(CrashTests, unittest.TestCase):
    KIND = "mbox"


if __name__ == "__main__":
    unittest.main()
