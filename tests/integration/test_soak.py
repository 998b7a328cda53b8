"""Randomized soak test (issue 8, "Done means" 2): N sessions of one
user plus an external delivery process (Maildir: tmp/ -> new/; mbox: an
append under fcntl + dotlock) do random APPEND, STORE (+/-/replace,
.SILENT, UID STORE), COPY, MOVE, EXPUNGE, UID EXPUNGE, FETCH, NOOP and
IDLE (left running while the others work) for a bounded time.

Each session keeps a model of its view built only from the responses it
got (EXISTS, EXPUNGE, FETCH UID/FLAGS, APPENDUID, COPYUID), RFC 3501
§7.4.1: an EXPUNGE renumbers at once. The test keeps the truth the
commands imply (sessions run one command at a time, so every STORE's
result is known; only deliveries are concurrent, and they add messages
without flags). It fails if
  - a response names a sequence number the client cannot have (EXPUNGE
    or FETCH past the known count, EXISTS shrinking), or a FETCH UID
    differs from what the model holds for that number;
  - an EXPUNGE arrives during FETCH or STORE (RFC 9051 §7.5.1);
  - a UID is reused (an expunged UID comes back, or one UID is seen with
    two different messages) or a new UID is not above every UID the
    mailbox had handed out when it was created (APPENDUID/COPYUID);
  - the expunges an EXPUNGE reports are not exactly the \\Deleted
    messages of the session's view (plus others' already reported);
  - at a checkpoint (every session NOOPs), any session's view (UIDs in
    order, flags) differs from a fresh session's, or from the truth
    (a lost flag change).
The seed is printed; MOAT_SOAK_SEED repeats a run, MOAT_SOAK_SECONDS
sets the length per store (scripts/soak runs the long one). The
sessions are objects with a model so that a QRESYNC reconnect can join
as one more operation later.
"""

import mailbox
import os
import random
import re
import select
import sys
import time
import unittest

from moatenv import (IS_ROOT, USERS, MoatServer, imap_connect, raw_login,
                     store_built)

SECONDS = float(os.environ.get("MOAT_SOAK_SECONDS", "15"))
SESSIONS = int(os.environ.get("MOAT_SOAK_SESSIONS", "3"))
FLAGS = ["\\Seen", "\\Flagged", "\\Answered", "\\Deleted", "\\Draft",
         "$Label1", "kw2"]


class SoakFailure(AssertionError):
    pass


def check(cond, what, *ctx):
    if not cond:
        raise SoakFailure("%s: %r" % (what, ctx))


def message(tag):
    return ("From: soak@example.org\r\nTo: alice@example.org\r\n"
            "Subject: soak %s\r\nMessage-ID: <%s@soak>\r\n\r\n"
            "Body of %s.\r\n" % (tag, tag, tag))


def parse_flags(text):
    return frozenset(f for f in text.split() if f != "\\Recent")


class World:
    """What the commands imply, whoever ran them."""

    def __init__(self):
        self.flags = {}          # uid -> frozenset, for messages alive
        self.gone = {}           # expunged (or moved away) UID -> clock
        self.clock = 0           # counts commands sent and expunges seen
        self.content = {}        # uid -> Message-ID, once known
        self.max_uid = 0         # highest UID any response named
        self.created = 0         # APPEND + COPY into INBOX
        self.delivered = 0
        self.history = {}         # uid -> what happened to it

    def log(self, uid, what):
        self.history.setdefault(uid, []).append(what)

    def new_uid(self, uid, flags, what):
        check(uid not in self.gone, "UID reused", uid, what)
        check(uid > self.max_uid or uid in self.flags,
              "new UID not above the ones handed out", uid,
              self.max_uid, what)
        self.max_uid = max(self.max_uid, uid)
        self.flags.setdefault(uid, frozenset(flags))

    def tick(self):
        self.clock += 1
        return self.clock

    def seen_uid(self, uid, what, born):
        """A session learns the UID of a message it knew by count since
        clock `born`. It may be one another session expunged since: a
        view keeps a message until it is told the EXPUNGE, and none is
        told during FETCH (RFC 9051 §7.4.1). One already gone when the
        session learnt of it is a UID shown again."""
        if uid in self.gone:
            check(born < self.gone[uid], "expunged UID shown again", uid,
                  what, born, self.gone[uid], self.history.get(uid))
            return
        self.max_uid = max(self.max_uid, uid)
        # a delivered message: no flags
        self.flags.setdefault(uid, frozenset())

    def expunged(self, uid, what):
        if uid in self.gone:
            return
        check(uid in self.flags, "EXPUNGE of an unknown UID", uid, what)
        self.gone[uid] = self.tick()
        del self.flags[uid]


class Session:
    def __init__(self, test, world, name):
        self.t = test
        self.w = world
        self.name = name
        self.c = raw_login(test.server)
        self.uids = []           # seq-1 -> uid (None: not learnt yet)
        self.born = []           # seq-1 -> world clock when it appeared
        self.cmd_clock = 0       # world clock when the command was sent
        self.flags = {}          # uid -> frozenset as told
        self.idling = False
        self.n = 0
        lines = self.command("SELECT INBOX")
        check(lines[-1].split()[1] == "OK", "SELECT", lines)
        self.fill()

    # -- responses ----------------------------------------------------
    def apply(self, line, cmd):
        m = re.match(r"\* (\d+) (EXPUNGE|EXISTS|FETCH)(.*)$", line)
        if m:
            n, what, rest = int(m.group(1)), m.group(2), m.group(3)
            if what == "EXPUNGE":
                check(cmd not in ("FETCH", "STORE"),
                      "EXPUNGE during " + str(cmd), line)
                check(1 <= n <= len(self.uids), "EXPUNGE past the view",
                      self.name, line, len(self.uids))
                uid = self.uids.pop(n - 1)
                self.born.pop(n - 1)
                # None: announced by EXISTS and gone before we asked
                # (in IDLE); the session that expunged it knew it.
                if uid is not None:
                    self.flags.pop(uid, None)
                    self.w.expunged(uid, line)
                    self.expunged_now.append(uid)
            elif what == "EXISTS":
                check(n >= len(self.uids), "EXISTS shrank", self.name,
                      line, len(self.uids))
                self.born += [self.cmd_clock] * (n - len(self.uids))
                self.uids += [None] * (n - len(self.uids))
            else:
                check(1 <= n <= len(self.uids), "FETCH past the view",
                      self.name, line, len(self.uids))
                um = re.search(r"UID (\d+)", rest)
                if um:
                    uid = int(um.group(1))
                    if self.uids[n - 1] is None:
                        check(uid not in self.uids, "UID twice in a view",
                              line)
                        self.w.seen_uid(uid, line, self.born[n - 1])
                        self.uids[n - 1] = uid
                    check(self.uids[n - 1] == uid, "FETCH UID differs "
                          "from the model", self.name, line,
                          self.uids[n - 1])
                fm = re.search(r"FLAGS \(([^)]*)\)", rest)
                if fm:
                    uid = self.uids[n - 1]
                    check(uid is not None, "FLAGS for an unknown UID "
                          "without its UID", line)
                    self.flags[uid] = parse_flags(fm.group(1))
            return
        m = re.search(r"\[APPENDUID \d+ (\d+)\]", line)
        if m:
            self.appenduid = int(m.group(1))
        m = re.search(r"\[COPYUID \d+ ([\d:,]+) ([\d:,]+)\]", line)
        if m:
            self.copyuid = (expand(m.group(1)), expand(m.group(2)))

    def read_tagged(self, tag, cmd):
        lines = []
        while True:
            line = self.c.readline()
            lines.append(line)
            self.apply(line, cmd)
            if line.startswith(tag + " "):
                return lines

    def command(self, text, literal=None):
        check(not self.idling, "command while idling")
        self.n += 1
        tag = "%s%d" % (self.name, self.n)
        name = text.split()[0].upper()
        if name == "UID":
            name = "UID " + text.split()[1].upper()
        self.expunged_now = []
        self.cmd_clock = self.w.tick()
        self.appenduid = None
        self.copyuid = None
        if literal is not None:
            self.c.send("%s %s {%d+}\r\n%s\r\n" % (tag, text, len(literal),
                                                   literal))
        else:
            self.c.send("%s %s\r\n" % (tag, text))
        return self.read_tagged(tag, name)

    def fill(self):
        """Learn the UIDs of messages known only by count (the FETCH may
        bring news of more deliveries: again, a few times)."""
        for _ in range(20):
            missing = [i + 1 for i, u in enumerate(self.uids) if u is None]
            if not missing:
                return
            lines = self.command("FETCH %d:%d (UID FLAGS)" %
                                 (missing[0], missing[-1]))
            check(lines[-1].split()[1] == "OK", "FETCH", lines)
        check(None not in self.uids, "UIDs still unknown", self.uids)

    # -- IDLE ---------------------------------------------------------
    def idle_start(self):
        self.n += 1
        self.idle_tag = "%s%d" % (self.name, self.n)
        self.expunged_now = []
        self.cmd_clock = self.w.tick()
        self.c.send("%s IDLE\r\n" % self.idle_tag)
        check(self.c.readline() == "+ idling", "IDLE continuation")
        self.idling = True

    def idle_read(self):
        while True:
            if b"\r\n" not in self.c.buf:
                r, _, _ = select.select([self.c.sock], [], [], 0)
                if not r:
                    return
                chunk = self.c.sock.recv(65536)
                check(chunk, "EOF in IDLE")
                self.c.buf += chunk
                continue
            self.apply(self.c.readline(), "IDLE")

    def idle_done(self):
        self.c.send("DONE\r\n")
        lines = self.read_tagged(self.idle_tag, "IDLE")
        check(lines[-1] == self.idle_tag + " OK IDLE terminated.",
              "DONE", lines)
        self.idling = False
        self.fill()


def expand(s):
    out = []
    for part in s.split(","):
        if ":" in part:
            a, b = map(int, part.split(":"))
            out += list(range(min(a, b), max(a, b) + 1))
        else:
            out.append(int(part))
    return out


class SoakTests:
    def setUp(self):
        self.server = MoatServer(listeners=("starttls",),
                                 extra_conf="mail_location = %s\n" %
                                 self.LOCATION)
        self.server.start()
        self.addCleanup(self.server.stop)
        self.home = self.server.homes["alice"]
        self.deliverer = None
        self.observer = None
        self.addCleanup(self.stop_delivery)

    # -- the external writer -------------------------------------------
    def deliver_one(self, k):

        data = message("d%d" % k).encode()
        if self.STORE == "maildir":
            # What an MDA does: write in tmp/, rename into new/.
            md = os.path.join(self.home, "Maildir")
            name = "%d.M%dP%d.soak" % (time.time(), k, os.getpid())
            with open(os.path.join(md, "tmp", name), "wb") as f:
                f.write(data)
            os.rename(os.path.join(md, "tmp", name),
                      os.path.join(md, "new", name))
        else:
            path = os.path.join(self.home, "inbox")
            mb = mailbox.mbox(path, create=False)
            for _ in range(200):
                try:
                    mb.lock()
                    break
                except mailbox.ExternalClashError:
                    time.sleep(0.02)
            else:
                raise AssertionError("mbox stayed locked")
            try:
                with open(path, "ab") as f:
                    f.write(b"From mda@example.org  " +
                            time.asctime(time.gmtime()).encode() + b"\n" +
                            data.replace(b"\r\n", b"\n") + b"\n")
            finally:
                mb.unlock()
                mb.close()

    def start_delivery(self, seed):
        """The writer, forked as the user. A control pipe pauses it:
        "p" -> it answers "P" and waits for "r"; "." per delivery on the
        report pipe."""
        r, w = os.pipe()
        cr, cw = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            os.close(cw)
            code = 1
            try:
                if IS_ROOT:
                    uid = USERS["alice"][1]
                    os.setgroups([])
                    os.setgid(uid)
                    os.setuid(uid)
                os.umask(0o077)
                rnd = random.Random(seed)
                k = 0
                next_at = time.time() + rnd.uniform(0.02, 0.3)
                while True:
                    wait = max(0.0, next_at - time.time())
                    ready, _, _ = select.select([cr], [], [], wait)
                    if ready:
                        b = os.read(cr, 1)
                        if b != b"p":
                            break          # EOF or "q": stop
                        os.write(w, b"P")
                        b = os.read(cr, 1)
                        if b != b"r":
                            break
                        continue
                    # a burst now and then
                    for _ in range(rnd.choice([1, 1, 1, 2, 5])):
                        self.deliver_one(k)
                        k += 1
                        os.write(w, b".")
                    next_at = time.time() + rnd.uniform(0.02, 0.3)
                code = 0
            except BaseException:
                import traceback
                traceback.print_exc()
            finally:
                os._exit(code)
        os.close(w)
        os.close(cr)
        self.deliverer = (pid, r, cw)
        self.delivered = 0

    def pause_delivery(self, on):
        """Checkpoints compare views with nothing arriving."""
        if self.deliverer is None:
            return
        os.write(self.deliverer[2], b"p" if on else b"r")
        if not on:
            return
        while True:
            b = os.read(self.deliverer[1], 1)
            check(b, "the delivery process died")
            if b == b"P":
                return
            self.delivered += 1

    def stop_delivery(self):
        """Stops the writer; returns how many it delivered."""
        if self.deliverer is None:
            return 0
        pid, r, cw = self.deliverer
        self.deliverer = None
        os.write(cw, b"q")
        os.close(cw)
        _, status = os.waitpid(pid, 0)
        n = self.delivered
        while True:
            b = os.read(r, 65536)
            if not b:
                break
            n += len(b.replace(b"P", b""))
        os.close(r)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)
        return n

    # -- operations ------------------------------------------------------
    def seqset(self, s, rnd):
        n = len(s.uids)
        if n == 0:
            return None
        kind = rnd.random()
        if kind < 0.4:
            return str(rnd.randint(1, n))
        if kind < 0.8:
            a = rnd.randint(1, n)
            b = rnd.randint(a, min(n, a + 4))
            return "%d:%d" % (a, b)
        return ",".join(str(x) for x in sorted(
            rnd.sample(range(1, n + 1), min(n, 3))))

    def seqs_of(self, s, spec):
        return [s.uids[i - 1] for i in expand(spec)]

    def op_append(self, s, rnd, w):
        self.tagc += 1
        fl = rnd.sample(FLAGS[:3], rnd.randint(0, 1))
        lines = s.command("APPEND INBOX (%s)" % " ".join(fl),
                          message("a%d" % self.tagc))
        check(lines[-1].split()[1] == "OK", "APPEND", lines)
        check(s.appenduid is not None, "APPENDUID", lines)
        w.new_uid(s.appenduid, fl, lines[-1])
        w.created += 1

    def op_store(self, s, rnd, w):
        spec = self.seqset(s, rnd)
        if spec is None:
            return
        uid_form = rnd.random() < 0.3
        op = rnd.choice(["+", "-", ""])
        silent = rnd.random() < 0.3
        fl = frozenset(rnd.sample(FLAGS, rnd.randint(1, 2)))
        target = self.seqs_of(s, spec)
        if uid_form:
            spec = ",".join(str(u) for u in target)
        text = "%sSTORE %s %sFLAGS%s (%s)" % (
            "UID " if uid_form else "", spec, op,
            ".SILENT" if silent else "", " ".join(sorted(fl)))
        lines = s.command(text)
        check(lines[-1].split()[1] in ("OK", "NO"), "STORE", lines)
        for uid in target:
            if uid in w.gone:
                continue
            old = w.flags[uid]
            w.flags[uid] = (old | fl if op == "+" else
                            old - fl if op == "-" else fl)
            w.log(uid, "%s %s -> %s" % (s.name, lines[-1],
                                        sorted(w.flags[uid])))
            if silent:
                # The client knows what it asked for (RFC 9051 §6.4.6:
                # no answer, but the result is the operation's).
                mine = s.flags.get(uid, frozenset())
                s.flags[uid] = (mine | fl if op == "+" else
                                mine - fl if op == "-" else fl)
            else:
                check(s.flags.get(uid) == w.flags[uid],
                      "STORE answer differs from the flags stored",
                      text, lines, uid, w.flags[uid], w.history.get(uid))

    def op_copy(self, s, rnd, w, move=False):
        spec = self.seqset(s, rnd)
        if spec is None:
            return
        dest = "Trash" if move or rnd.random() < 0.3 else "INBOX"
        src = self.seqs_of(s, spec)
        gone_before = set(w.gone)
        lines = s.command("%s %s %s" % ("MOVE" if move else "COPY", spec,
                                        dest))
        ok = lines[-1].split()[1] == "OK"
        check(ok or "EXPUNGEISSUED" in lines[-1], "COPY/MOVE", lines)
        if not ok:
            return
        check(s.copyuid is not None, "COPYUID", lines)
        su, du = s.copyuid
        check(sorted(su) == sorted(u for u in src), "COPYUID sources",
              lines, src)
        if dest == "INBOX":
            for a, b in zip(su, du):
                w.new_uid(b, w.flags[a], lines)
                w.created += 1
        if move:
            check(set(s.expunged_now) - gone_before == set(src),
                  "MOVE's expunges are its messages", lines, src)

    def op_expunge(self, s, rnd, w):
        uid_form = rnd.random() < 0.5
        view = list(s.uids)
        pick = None
        if uid_form:
            pick = sorted(rnd.sample(view, min(len(view), 3))) \
                if view else [1]
            gone_before = set(w.gone)
            # Only messages in the session's view count (RFC 4315's
            # UID EXPUNGE as EXPUNGE: what the client knows).
            want = {u for u in pick if u in view and u in w.flags and
                    "\\Deleted" in w.flags[u]}
            lines = s.command("UID EXPUNGE %s" %
                              ",".join(str(u) for u in pick))
        else:
            gone_before = set(w.gone)
            want = {u for u in view if u in w.flags and
                    "\\Deleted" in w.flags[u]}
            lines = s.command("EXPUNGE")
        check(lines[-1].split()[1] == "OK", "EXPUNGE", lines)
        got = set(s.expunged_now) - gone_before
        check(got == want, "EXPUNGE removed other than the \\Deleted",
              "UID %s" % pick if uid_form else "all", view, lines, want,
              got, {u: w.history.get(u) for u in got ^ want})

    def op_fetch(self, s, rnd, w):
        spec = self.seqset(s, rnd)
        if spec is None:
            return
        uid_form = rnd.random() < 0.3
        if uid_form:
            spec = ",".join(str(u) for u in self.seqs_of(s, spec))
        lines = s.command("%sFETCH %s (UID FLAGS)" % (
            "UID " if uid_form else "", spec))
        check(lines[-1].split()[1] in ("OK", "NO"), "FETCH", lines)

    # -- checkpoints -------------------------------------------------------
    def checkpoint(self, sessions, w):
        for s in sessions:
            if s.idling:
                s.idle_done()
            lines = s.command("NOOP")
            check(lines[-1].split()[1] == "OK", "NOOP", lines)
            s.fill()
        # One observer session, re-EXAMINEd each time: a fresh view
        # without a login per checkpoint (the per-user session limit
        # counts a logged-out session until moatd has reaped it).
        if self.observer is None:
            self.observer = imap_connect(self.server)
            self.addCleanup(self.observer.logout)
        m = self.observer
        typ, count = m.select("INBOX", readonly=True)
        check(typ == "OK", "fresh EXAMINE")
        data = [None]
        if int(count[0]) > 0:   # (1:* of nothing is BAD)
            typ, data = m.fetch("1:*", "(UID FLAGS)")
            check(typ == "OK", "fresh FETCH", data)
        fresh = []
        fresh_flags = {}
        if data != [None]:
            for item in data:
                if isinstance(item, tuple):
                    item = item[0]
                item = item.decode()
                uid = int(re.search(r"UID (\d+)", item).group(1))
                fresh.append(uid)
                fresh_flags[uid] = parse_flags(
                    re.search(r"FLAGS \(([^)]*)\)", item).group(1))
        # Bodies of the new UIDs, and again of a sample of known
        # ones: a UID never names other bytes (no reuse, no mixup).
        known = [u for u in fresh if u in w.content]
        again = set(self.rnd.sample(known, min(len(known), 10)))
        want = [u for u in fresh if u not in w.content or u in again]
        for i in range(0, len(want), 50):
            chunk = ",".join(str(u) for u in want[i:i + 50])
            typ, data = m.uid("FETCH", chunk, "(BODY.PEEK[])")
            check(typ == "OK", "UID FETCH BODY.PEEK[]", data)
            for item in data:
                if not isinstance(item, tuple):
                    continue
                uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
                mid = re.search(rb"Message-ID: <([^>]*)>", item[1])
                mid = mid.group(1).decode()
                check(w.content.setdefault(uid, mid) == mid,
                      "a UID names another message now", uid, mid,
                      w.content.get(uid))
        for u in fresh:
            check(u not in w.gone, "expunged UID in a fresh view", u)
        check(fresh == sorted(fresh), "fresh view not in UID order", fresh)
        for s in sessions:
            check(s.uids == fresh, "view diverges from a fresh SELECT",
                  s.name, s.uids, fresh)
            for u in fresh:
                check(s.flags.get(u, frozenset()) == fresh_flags[u],
                      "flags in a view differ from the server's", s.name,
                      u, s.flags.get(u), fresh_flags[u], w.flags.get(u),
                      w.history.get(u))
        for u in fresh:
            check(w.flags.get(u, frozenset()) == fresh_flags[u],
                  "a flag change was lost", u, w.flags.get(u),
                  fresh_flags[u])
        return len(fresh)

    def test_soak(self):
        seed = int(os.environ.get("MOAT_SOAK_SEED",
                                  str(random.randrange(1 << 30))))
        print("\n  soak %s: seed %d, %.0f s, %d sessions" % (
            self.STORE, seed, SECONDS, SESSIONS))
        sys.stdout.flush()
        rnd = random.Random(seed)
        self.rnd = random.Random(seed + 2)
        self.tagc = 0
        w = World()
        sessions = [Session(self, w, "s%d" % i) for i in range(SESSIONS)]
        self.start_delivery(seed + 1)
        ops = [(self.op_append, 3), (self.op_store, 6), (self.op_copy, 2),
               (lambda s, r, w: self.op_copy(s, r, w, move=True), 1),
               (self.op_expunge, 2), (self.op_fetch, 3),
               (lambda s, r, w: s.command("NOOP"), 1)]
        choices = [f for f, k in ops for _ in range(k)]
        end = time.time() + SECONDS
        steps = checkpoints = idles = 0
        try:
            while time.time() < end:
                s = rnd.choice(sessions)
                if s.idling:
                    s.idle_read()
                    if rnd.random() < 0.5:
                        s.idle_done()
                    continue
                if rnd.random() < 0.1:
                    s.idle_start()
                    idles += 1
                    continue
                rnd.choice(choices)(s, rnd, w)
                s.fill()
                steps += 1
                if steps % 40 == 0:
                    self.pause_delivery(True)
                    self.checkpoint(sessions, w)
                    self.pause_delivery(False)
                    checkpoints += 1
            delivered = self.stop_delivery()
            n = self.checkpoint(sessions, w)
            checkpoints += 1
        except SoakFailure as e:
            self.fail("seed %d: %s" % (seed, e))
        # Every message made (appends, copies into INBOX, deliveries)
        # minus every one expunged is what a fresh session sees.
        moved_or_expunged = len(w.gone)
        self.assertEqual(n, w.created + delivered - moved_or_expunged,
                         "seed %d: message count" % seed)
        print("  soak %s: %d commands, %d IDLEs, %d deliveries, %d "
              "checkpoints, %d messages at the end: ok" % (
                  self.STORE, steps, idles, delivered, checkpoints, n))
        for s in sessions:
            s.c.close()


class TestSoakMaildir(SoakTests, unittest.TestCase):
    STORE = "maildir"
    LOCATION = "maildir:~/Maildir"


@unittest.skipUnless(store_built("mbox"), "mbox backend not built")
class TestSoakMbox(SoakTests, unittest.TestCase):
    STORE = "mbox"
    LOCATION = "mbox:~/mail:INBOX=~/inbox"


if __name__ == "__main__":
    unittest.main()
