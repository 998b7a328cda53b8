"""Live sessions (issue 8, "Done means" 1, the IDLE and untagged-update
parts): several sessions of one user plus MDA-like writers on Maildir
and mbox. IDLE (RFC 2177) must push EXISTS, EXPUNGE and FETCH FLAGS
within a second, driven by inotify and the index notify file; DONE ends
it (any case), any other line is BAD; IDLE works without a selected
mailbox. The timing rules of RFC 9051 §7.5.1 / RFC 3501 §7.4.1 and RFC
2180 §4 are checked command by command.
"""

import mailbox
import os
import re
import select
import time
import unittest

from moatenv import (BUILDDIR, IS_ROOT, SANITIZED, MoatServer, as_user,
                     imap_connect, raw_login, store_test_classes)

LATENCY_MAX = 1.0
latencies = []


def msg(i, size=0):
    return (b"From: a@example.org\r\nTo: b@example.org\r\n"
            b"Date: Mon, 4 Mar 2024 10:00:00 +0000\r\n"
            b"Subject: live %d\r\nMessage-ID: <live%d@example.org>\r\n\r\n"
            b"Body %d.\r\n" % (i, i, i) + b"x" * size)


def read_for(c, seconds, until=None):
    """Lines the server sends within seconds (stops early once a line
    matches the regex until)."""
    lines = []
    end = time.time() + seconds
    while time.time() < end:
        if b"\r\n" not in c.buf:
            r, _, _ = select.select([c.sock], [], [], end - time.time())
            if not r and not getattr(c.sock, "pending", lambda: 0)():
                break
            chunk = c.sock.recv(65536)
            if not chunk:
                break
            c.buf += chunk
            continue
        line = c.readline()
        lines.append(line)
        if until is not None and re.search(until, line):
            break
    return lines


def uids_of(c):
    lines = c.cmd("uf", "UID FETCH 1:* (UID)")
    assert lines[-1].startswith("uf OK"), lines
    return [int(re.search(r"UID (\d+)", l).group(1))
            for l in lines if l.startswith("* ") and " FETCH " in l]


class LiveBase:
    N = 4

    def setUp(self):
        self.server = MoatServer(listeners=("starttls",),
                                 extra_conf="mail_location = %s\n" %
                                 self.LOCATION)
        self.server.start()
        self.addCleanup(self.server.stop)
        self.home = self.server.homes["alice"]
        m = imap_connect(self.server)
        for i in range(1, self.N + 1):
            self.assertEqual(m.append("INBOX", None, None, msg(i))[0], "OK")
        m.logout()
        self.a = self.session()
        self.b = self.session()

    def session(self, select="INBOX"):
        c = raw_login(self.server)
        self.addCleanup(c.close)
        if select:
            lines = c.cmd("s", "SELECT " + select)
            self.assertTrue(lines[-1].startswith("s OK"), lines)
        return c

    def idle(self, c):
        c.send("i IDLE\r\n")
        first = c.readline()
        self.assertEqual(first, "+ idling")
        # What the IDLE start sync sends (nothing here) is read later.

    def done(self, c):
        c.send("DONE\r\n")
        lines = c.read_until_tagged("i")
        self.assertEqual(lines[-1], "i OK IDLE terminated.")
        return lines

    def wait_push(self, c, pattern, t0):
        lines = read_for(c, 3 * LATENCY_MAX, until=pattern)
        self.assertTrue(lines and re.search(pattern, lines[-1]),
                        "no %r within %.1f s: %r" % (pattern,
                                                   3 * LATENCY_MAX, lines))
        dt = time.time() - t0
        latencies.append(dt)
        self.assertLess(dt, LATENCY_MAX, (pattern, lines))
        return lines


    def regions_mapped(self):
        """Per session process: its mappings of index region files."""
        out = {}
        for p in self.server.pids_named("imap"):
            with open("/proc/%d/maps" % p) as f:
                out[p] = f.read().count("/__db.")
        return out

    def wait_mapped(self, cond, secs=5):
        deadline = time.time() + secs
        while time.time() < deadline:
            m = self.regions_mapped()
            if cond(m):
                return m
            time.sleep(0.1)
        return self.regions_mapped()

    # -- an MDA-like writer ----------------------------------------------
    def deliver(self, i):
        if self.STORE == "maildir":
            md = mailbox.Maildir(os.path.join(self.home, "Maildir"),
                                 factory=None, create=False)
            md.add(mailbox.MaildirMessage(msg(i)))
        else:
            path = os.path.join(self.home, "inbox")
            mb = mailbox.mbox(path, create=False)
            mb.lock()
            try:
                with open(path, "ab") as f:
                    f.write(b"From sender@example.org  " +
                            time.asctime(time.gmtime()).encode() + b"\n" +
                            msg(i).replace(b"\r\n", b"\n") + b"\n")
            finally:
                mb.unlock()
                mb.close()


class LiveTests(LiveBase):
    # -- each update type from another session --------------------------
    def test_idle_exists_expunge_flags_from_other_session(self):
        self.idle(self.a)
        d = msg(9).decode()
        t0 = time.time()
        lines = self.b.cmd("p", "APPEND INBOX {%d+}\r\n%s" % (len(d), d))
        self.assertTrue(lines[-1].startswith("p OK"), lines)
        self.wait_push(self.a, r"^\* %d EXISTS$" % (self.N + 1), t0)
        t0 = time.time()
        self.assertTrue(self.b.cmd("f", "STORE 2 +FLAGS (\\Flagged)")[-1]
                        .startswith("f OK"))
        self.wait_push(self.a, r"^\* 2 FETCH \(UID \d+ FLAGS \(\\Flagged( \\Recent)?\)\)$",
                       t0)
        self.b.cmd("d", "STORE 3 +FLAGS.SILENT (\\Deleted)")
        t0 = time.time()
        self.assertTrue(self.b.cmd("e", "EXPUNGE")[-1].startswith("e OK"))
        lines = self.wait_push(self.a, r"^\* 3 EXPUNGE$", t0)
        lines += self.done(self.a)
        # The view afterwards is the server's.
        self.assertEqual(uids_of(self.a), uids_of(self.session()))

    def test_idle_sees_mda_delivery(self):
        self.idle(self.a)
        for k in range(3):
            t0 = time.time()
            as_user(lambda: self.deliver(20 + k))
            self.wait_push(self.a, r"^\* %d EXISTS$" % (self.N + 1 + k), t0)
        self.done(self.a)

    def test_burst_is_debounced(self):
        # 200 deliveries in one burst: a handful of syncs, not 200.
        self.idle(self.a)

        # Prepared first and then landed in a tight loop (renames into
        # new/, or appends under one lock), so the burst is one even on
        # a loaded machine: the debounce merges events less than 30 ms
        # apart, and a Python delivery per message could take longer.
        def burst():
            if self.STORE == "maildir":
                md = os.path.join(self.home, "Maildir")
                names = []
                for k in range(200):
                    name = "%d.burst%d.test" % (time.time(), k)
                    with open(os.path.join(md, "tmp", name), "wb") as f:
                        f.write(msg(100 + k).replace(b"\r\n", b"\n"))
                    names.append(name)
                for name in names:
                    os.rename(os.path.join(md, "tmp", name),
                              os.path.join(md, "new", name))
                return
            path = os.path.join(self.home, "inbox")
            mb = mailbox.mbox(path, create=False)
            mb.lock()
            try:
                with open(path, "ab") as f:
                    for k in range(200):
                        f.write(b"From sender@example.org  " +
                                time.asctime(time.gmtime()).encode() +
                                b"\n" + msg(100 + k).replace(b"\r\n", b"\n")
                                + b"\n")
                        f.flush()
            finally:
                mb.unlock()
                mb.close()

        as_user(burst)
        lines = read_for(self.a, 5, until=r"^\* %d EXISTS$" % (self.N + 200))
        exists = [l for l in lines if l.endswith(" EXISTS")]
        self.assertEqual(exists[-1], "* %d EXISTS" % (self.N + 200), lines)
        print("\n  burst of 200 deliveries: %d EXISTS pushes" % len(exists))
        self.assertLess(len(exists), 40, exists)
        self.done(self.a)

    # -- DONE handling -----------------------------------------------------
    def test_done_any_case_and_pipelined(self):
        self.idle(self.a)
        # DONE and the next command in one packet (RFC 2177 allows the
        # client to pipeline after DONE).
        self.a.send("dOnE\r\nn NOOP\r\n")
        lines = self.a.read_until_tagged("n")
        self.assertIn("i OK IDLE terminated.", lines)
        self.assertEqual(lines[-1], "n OK NOOP completed.")
        self.assertLess(lines.index("i OK IDLE terminated."),
                        lines.index("n OK NOOP completed."))

    def test_other_line_ends_idle_with_bad(self):
        self.idle(self.a)
        self.a.send("x NOOP\r\n")
        lines = self.a.read_until_tagged("i")
        self.assertTrue(lines[-1].startswith("i BAD"), lines)
        # The session goes on.
        self.assertEqual(self.a.cmd("n", "NOOP")[-1], "n OK NOOP completed.")

    def test_idle_without_mailbox(self):
        c = self.session(select=None)
        self.idle(c)
        d = msg(9).decode()
        self.b.cmd("p", "APPEND INBOX {%d+}\r\n%s" % (len(d), d))
        self.assertEqual(read_for(c, 1.0), [])
        self.done(c)

    def test_changes_before_idle_come_at_once(self):
        self.assertTrue(self.b.cmd("f", "STORE 1 +FLAGS (\\Seen)")[-1]
                        .startswith("f OK"))
        self.idle(self.a)
        lines = read_for(self.a, 0.5, until=r"FETCH")
        self.assertTrue(any(re.match(r"\* 1 FETCH \(UID \d+ FLAGS \(\\Seen( \\Recent)?\)\)",
                                     l) for l in lines), lines)
        self.done(self.a)

    # -- the timing rules ------------------------------------------------
    def test_no_expunge_during_fetch_store_but_uid_forms(self):
        # RFC 9051 §7.5.1 (RFC 3501 §7.4.1): "An EXPUNGE response
        # MUST NOT be sent when no command is in progress, nor while
        # responding to a FETCH, STORE, or SEARCH command. [...] Note:
        # UID FETCH, UID STORE, and UID SEARCH are different commands
        # from FETCH, STORE, and SEARCH. An EXPUNGE response MAY be sent
        # during a UID command."
        self.b.cmd("d", "STORE 2,3 +FLAGS.SILENT (\\Deleted)")
        self.assertTrue(self.b.cmd("e", "EXPUNGE")[-1].startswith("e OK"))
        d = msg(9).decode()
        self.b.cmd("p", "APPEND INBOX {%d+}\r\n%s" % (len(d), d))
        lines = self.a.cmd("f", "FETCH 1:* (FLAGS)")
        self.assertFalse([l for l in lines if "EXPUNGE" in l], lines)
        # EXISTS may come anytime; the sequence numbers stay the ones
        # the client knows: the expunged messages are still 2 and 3.
        self.assertIn("* %d EXISTS" % (self.N + 1), lines)
        seqs = [int(l.split()[1]) for l in lines
                if l.startswith("* ") and " FETCH " in l]
        self.assertEqual(seqs, list(range(1, self.N + 1)), lines)
        lines = self.a.cmd("s", "STORE 1 +FLAGS (\\Answered)")
        self.assertFalse([l for l in lines if "EXPUNGE" in l], lines)
        # UID FETCH may report them; ours does, highest first (each
        # right when read).
        lines = self.a.cmd("u", "UID FETCH 1 (FLAGS)")
        self.assertEqual([l for l in lines if "EXPUNGE" in l],
                         ["* 3 EXPUNGE", "* 2 EXPUNGE"], lines)
        self.assertEqual(uids_of(self.a), uids_of(self.session()))

    def test_store_reports_own_and_others_changes(self):
        # RFC 9051 §6.4.6: STORE answers with the new flags unless
        # .SILENT; a change made by another session is reported even
        # during a .SILENT STORE (on another message here).
        self.assertTrue(self.b.cmd("f", "STORE 2 +FLAGS (\\Flagged)")[-1]
                        .startswith("f OK"))
        lines = self.a.cmd("s", "STORE 1 +FLAGS.SILENT (\\Seen)")
        self.assertEqual(lines[-1], "s OK STORE completed.")
        fetches = [l for l in lines if l.startswith("* ") and " FETCH " in l]
        self.assertTrue(any(re.match(r"\* 2 FETCH .*\\Flagged", l)
                            for l in fetches), lines)
        self.assertFalse([l for l in fetches if l.startswith("* 1 ")],
                         lines)
        lines = self.a.cmd("t", "STORE 3 +FLAGS (\\Seen)")
        self.assertEqual([l.replace(" \\Recent", "") for l in lines
                          if l.startswith("* ") and " FETCH " in l],
                         ["* 3 FETCH (FLAGS (\\Seen))"], lines)

    def test_silent_store_reports_others_change_to_same_message(self):
        # RFC 9051 §6.4.6: .SILENT suppresses the FETCH for our change,
        # but "the server SHOULD send an untagged FETCH response" when
        # another client changed the flags: B's \Flagged on message 1
        # must reach A even though A's own STORE on it is silent.
        self.assertTrue(self.b.cmd("f", "STORE 1 +FLAGS.SILENT (\\Flagged)")
                        [-1].startswith("f OK"))
        lines = self.a.cmd("s", "STORE 1 +FLAGS.SILENT (\\Seen)")
        self.assertEqual(lines[-1], "s OK STORE completed.")
        got = [l.replace(" \\Recent", "") for l in lines
               if l.startswith("* 1 FETCH")]
        self.assertEqual(len(got), 1, lines)
        self.assertTrue(re.match(r"\* 1 FETCH \((UID 1 )?FLAGS "
                                 r"\((\\Seen \\Flagged|\\Flagged \\Seen)\)\)$",
                                 got[0]), lines)
        # Our own silent change alone: nothing.
        lines = self.a.cmd("t", "STORE 1 -FLAGS.SILENT (\\Seen)")
        self.assertEqual(lines, ["t OK STORE completed."])

    def test_store_of_keyword_another_session_created(self):
        # B creates $Label1; A (which never heard of it) stores it: A
        # gets FLAGS/PERMANENTFLAGS naming it before the FETCH that
        # shows it (RFC 9051 §7.3.5), and the FETCH includes it.
        self.assertTrue(self.b.cmd("f", "STORE 1 +FLAGS ($Label1)")[-1]
                        .startswith("f OK"))
        lines = self.a.cmd("s", "STORE 2 +FLAGS ($Label1 \\Flagged)")
        self.assertEqual(lines[-1], "s OK STORE completed.")
        flags_at = [i for i, l in enumerate(lines)
                    if l.startswith("* FLAGS ") and "$Label1" in l]
        fetch_at = [i for i, l in enumerate(lines)
                    if l.startswith("* 2 FETCH")]
        self.assertTrue(flags_at and fetch_at, lines)
        self.assertLess(flags_at[0], fetch_at[0], lines)
        self.assertIn("$Label1", lines[fetch_at[0]], lines)
        self.assertTrue(any(l.startswith("* 1 FETCH") and "$Label1" in l
                            for l in lines), lines)

    def test_store_on_message_with_keyword_unknown_to_us(self):
        # B puts a new keyword on message 1; A stores \Flagged on it
        # without naming the keyword: A's answer must name $Label1 in
        # FLAGS first and show it in the FETCH (else A never learns it:
        # the sync after the STORE finds the view already current).
        self.assertTrue(self.b.cmd("f", "STORE 1 +FLAGS.SILENT ($Label1)")
                        [-1].startswith("f OK"))
        lines = self.a.cmd("s", "STORE 1 +FLAGS (\\Flagged)")
        self.assertEqual(lines[-1], "s OK STORE completed.")
        flags_at = [i for i, l in enumerate(lines)
                    if l.startswith("* FLAGS ") and "$Label1" in l]
        fetch = [(i, l) for i, l in enumerate(lines)
                 if l.startswith("* 1 FETCH")]
        self.assertTrue(flags_at and fetch, lines)
        self.assertLess(flags_at[0], fetch[-1][0], lines)
        self.assertIn("$Label1", fetch[-1][1], lines)

    def test_remove_keyword_another_session_created(self):
        # B creates kw2 on message 1; A, which never heard of kw2,
        # removes it: it must go (the name is the client's to use, RFC
        # 9051 §2.3.2), and A hears of kw2 in FLAGS.
        self.assertTrue(self.b.cmd("f", "STORE 1 +FLAGS (kw2 \\Seen)")[-1]
                        .startswith("f OK"))
        lines = self.a.cmd("s", "STORE 1 -FLAGS (kw2)")
        self.assertEqual(lines[-1], "s OK STORE completed.")
        fetch = [l.replace(" \\Recent", "") for l in lines
                 if l.startswith("* 1 FETCH")]
        self.assertEqual(fetch[-1:], ["* 1 FETCH (FLAGS (\\Seen))"], lines)
        fresh = self.session().cmd("f", "FETCH 1 (FLAGS)")
        self.assertNotIn("kw2", fresh[0], fresh)

    def test_copy_keeps_keyword_another_session_created(self):
        # B puts a new keyword on message 1; A (which never heard of
        # it) copies message 1: the copy keeps the keyword (RFC 9051
        # §6.4.7: "the flags ... SHOULD be preserved").
        self.assertTrue(self.b.cmd("f", "STORE 1 +FLAGS.SILENT ($Label1)")
                        [-1].startswith("f OK"))
        lines = self.a.cmd("c", "COPY 1 Trash")
        self.assertTrue(lines[-1].startswith("c OK"), lines)
        t = self.session(select="Trash")
        got = t.cmd("f", "FETCH 1 (FLAGS)")
        self.assertIn("$Label1", got[0], got)

    def test_no_unsolicited_expunge_without_command(self):
        # "MUST NOT be sent when no command is in progress": a session
        # sitting selected (not in IDLE) hears nothing.
        self.b.cmd("d", "STORE 1 +FLAGS.SILENT (\\Deleted)")
        self.b.cmd("e", "EXPUNGE")
        self.assertEqual(read_for(self.a, 1.0), [])
        lines = self.a.cmd("n", "NOOP")
        self.assertIn("* 1 EXPUNGE", lines)

    # -- notification bookkeeping ------------------------------------------
    def session_pids(self):
        return self.server.pids_named("imap")

    def steady_session_pids(self, n):
        """The sessions' pids once exactly n are left: setUp's APPEND
        session may still be exiting (slow under ASan, whose leak check
        runs at exit) and would vanish between two looks."""
        deadline = time.monotonic() + 20
        pids = self.session_pids()
        while len(pids) != n and time.monotonic() < deadline:
            time.sleep(0.05)
            pids = self.session_pids()
        self.assertEqual(len(pids), n, pids)
        return set(pids)

    def inotify_fds(self, pid, watches=False):
        """The process's inotify descriptors (or their watches)."""
        n = 0
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) != \
                        "anon_inode:inotify":
                    continue
                if not watches:
                    n += 1
                    continue
                with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                    n += f.read().count("inotify wd:")
            except OSError:
                pass
        return n

    @unittest.skipUnless(IS_ROOT, "needs root to read other uids' /proc")
    def test_watch_only_while_selected_no_fd_leak(self):
        # The watches come with the first IDLE of a selection (doc/
        # design.md, "Change notification": a watch on cur/ walks its
        # entries in the kernel, and only IDLE uses the events) and go
        # with the mailbox.
        c = self.session(select=None)
        pids = self.steady_session_pids(3)
        before = {p: self.inotify_fds(p) for p in pids}
        self.assertEqual(sum(before.values()), 0)  # a, b: selected only
        for _ in range(5):
            for box in ("INBOX", "Trash"):
                c.cmd("s", "SELECT " + box)
                self.assertEqual(sum(self.inotify_fds(p) for p in pids),
                                 0, "watching at SELECT " + box)
                self.idle(c)
                self.done(c)
                self.assertEqual(sum(self.inotify_fds(p) for p in pids),
                                 1)
        # It watches three things: the notify file and new/ + cur/
        # (Maildir) or the file + its directory (mbox).
        self.assertEqual(sum(self.inotify_fds(p, watches=True)
                             for p in pids), 3)
        self.idle(c)  # a second IDLE keeps the same instance
        self.done(c)
        self.assertEqual(sum(self.inotify_fds(p) for p in pids), 1)
        self.idle(self.a)
        self.done(self.a)
        self.assertEqual(sum(self.inotify_fds(p) for p in pids), 2)
        c.cmd("u", "UNSELECT")
        self.assertEqual(sum(self.inotify_fds(p) for p in pids), 1)
        c.cmd("s", "SELECT INBOX")
        self.idle(c)
        self.done(c)
        c.cmd("c", "CLOSE")
        self.assertEqual(sum(self.inotify_fds(p) for p in pids), 1)

    @unittest.skipUnless(IS_ROOT, "needs root to read other uids' /proc")
    def test_idle_releases_index_environment(self):
        # An idling session unmaps the index's regions (most of its
        # memory) until a change needs them, then releases them again.
        mapped = self.regions_mapped
        wait_for = self.wait_mapped

        pids = self.steady_session_pids(2)
        before = mapped()
        self.assertTrue(all(before[p] > 0 for p in pids), before)
        self.idle(self.a)
        self.idle(self.b)
        m = wait_for(lambda m: all(m[p] == 0 for p in pids))
        self.assertTrue(all(m[p] == 0 for p in pids),
                        "regions still mapped in IDLE: %r" % m)
        # A change from a third session reaches both, and both let go
        # of the index again.
        c = self.session()
        d = msg(9).decode()
        t0 = time.time()
        lines = c.cmd("p", "APPEND INBOX {%d+}\r\n%s" % (len(d), d))
        self.assertTrue(lines[-1].startswith("p OK"), lines)
        self.wait_push(self.a, r"^\* %d EXISTS$" % (self.N + 1), t0)
        self.wait_push(self.b, r"^\* %d EXISTS$" % (self.N + 1), t0)
        m = wait_for(lambda m: all(m[p] == 0 for p in pids))
        self.assertTrue(all(m[p] == 0 for p in pids), m)
        self.done(self.a)
        lines = self.a.cmd("f", "FETCH %d (FLAGS BODY[HEADER.FIELDS "
                           "(SUBJECT)])" % (self.N + 1))
        self.assertTrue(lines[-1].startswith("f OK"), lines)
        self.assertIn("Subject", "\n".join(lines))
        self.assertEqual(uids_of(self.a), uids_of(self.session()))
        self.done(self.b)

    @unittest.skipUnless(IS_ROOT, "needs root to read other uids' /proc")
    def test_pss_idle(self):
        pids = self.steady_session_pids(2)

        # Dirty pages (private or shared), not PSS: the PSS of clean
        # program text moves when other modules' sessions start or
        # exit (the integration modules run side by side), while what
        # IDLE could grow (heap, buffers, regions) is dirty memory.
        def pss():
            out = {}
            for p in pids:
                with open("/proc/%d/smaps_rollup" % p) as f:
                    out[p] = sum(int(line.split()[1]) for line in f
                                 if line.startswith(("Private_Dirty:",
                                                     "Shared_Dirty:")))
            return out

        quiet = pss()
        self.idle(self.a)
        self.idle(self.b)
        time.sleep(0.3)
        idling = pss()
        print("\n  session dirty memory selected %s kB, in IDLE %s kB" %
              (sorted(quiet.values()), sorted(idling.values())))
        limit = 2048 if SANITIZED else 64
        for p in pids:
            self.assertLess(idling[p] - quiet[p], limit, (quiet, idling))
        self.done(self.a)
        self.done(self.b)


class MaildirOnly:
    @unittest.skipUnless(IS_ROOT, "needs root to read other uids' /proc")
    def test_quiet_session_releases_index_environment(self):
        # Without IDLE too: a session with no command for 10 s lets go
        # of the index; its next command attaches it again and sees
        # what changed meanwhile. (Store-independent: run once.)
        pids = set(self.server.pids_named("imap"))
        self.assertTrue(all(n > 0 for n in self.regions_mapped().values()))
        d = msg(9).decode()
        lines = self.b.cmd("p", "APPEND INBOX {%d+}\r\n%s" % (len(d), d))
        self.assertTrue(lines[-1].startswith("p OK"), lines)
        t0 = time.time()
        m = self.wait_mapped(lambda m: all(m[p] == 0 for p in pids), 20)
        self.assertTrue(all(m[p] == 0 for p in pids), m)
        self.assertGreaterEqual(time.time() - t0, 8, "released too soon")
        lines = self.a.cmd("n", "NOOP")
        self.assertIn("* %d EXISTS" % (self.N + 1), lines)
        self.assertTrue(lines[-1].startswith("n OK"), lines)
        self.assertEqual(uids_of(self.a), uids_of(self.session()))

    def test_idle_sees_rename_in_cur(self):
        # mutt changes a flag by renaming the file within cur/: no index
        # commit tells anyone, only the cur/ watch does.
        cur = os.path.join(self.home, "Maildir", "cur")
        self.idle(self.a)
        # Let the wake-ups of IDLE's own first sync pass, so that only
        # the watch on cur/ can report the rename.
        self.assertEqual(read_for(self.a, 0.5), [])
        name = sorted(os.listdir(cur))[0]
        base = name.split(":2,")[0]

        def flag():
            os.rename(os.path.join(cur, name),
                      os.path.join(cur, base + ":2,F"))

        t0 = time.time()
        as_user(flag)
        self.wait_push(self.a, r"^\* \d+ FETCH \(UID \d+ FLAGS "
                       r"\(\\Flagged( \\Recent)?\)\)$", t0)
        self.done(self.a)


class MboxOnly:
    def test_idle_across_external_rewrite(self):
        # mutt-style rewrite: a new file renamed over the old one
        # (mailbox.mbox.flush()); the IDLE session must see the delete
        # and the flag change, and then still see later deliveries (the
        # watch follows the new file).
        self.idle(self.a)
        path = os.path.join(self.home, "inbox")

        def rewrite():
            mb = mailbox.mbox(path, create=False)
            mb.lock()
            try:
                keys = list(mb.keys())
                m = mb[keys[1]]
                m.set_flags("RFO")
                mb[keys[1]] = m
                mb.remove(keys[0])
                mb.flush()
            finally:
                mb.unlock()
                mb.close()

        ino = os.stat(path).st_ino
        t0 = time.time()
        as_user(rewrite)
        self.assertNotEqual(os.stat(path).st_ino, ino)
        lines = self.wait_push(self.a, r"^\* 1 EXPUNGE$", t0)
        lines += read_for(self.a, 0.5, until=r"Flagged")
        self.assertTrue(any(re.search(r"FETCH .*\\Flagged", l)
                            for l in lines), lines)
        t0 = time.time()
        as_user(lambda: self.deliver(50))
        self.wait_push(self.a, r"^\* %d EXISTS$" % self.N, t0)
        self.done(self.a)


store_test_classes(globals(), LiveTests, "TestLive")


class TestLiveMaildirRename(MaildirOnly, LiveBase, unittest.TestCase):
    STORE = "maildir"
    LOCATION = "maildir:~/Maildir"


class TestLiveMboxRewrite(MboxOnly, LiveBase, unittest.TestCase):
    STORE = "mbox"
    LOCATION = "mbox:~/mail:INBOX=~/inbox"


def tearDownModule():
    if latencies:
        print("\nIDLE latency: %d pushes, max %.3f s, mean %.3f s" %
              (len(latencies), max(latencies),
               sum(latencies) / len(latencies)))


if __name__ == "__main__":
    unittest.main()


INOTIFY_MAX = "/proc/sys/fs/inotify/max_user_instances"


def hold_inotify_instances(uid, ready_w, stop_r):
    """Child: as uid, takes inotify instances until the kernel refuses
    (fs.inotify.max_user_instances per user), says how many on ready_w,
    and holds them until stop_r is closed."""
    import ctypes
    import resource
    libc = ctypes.CDLL(None, use_errno=True)
    with open(INOTIFY_MAX) as f:
        limit = int(f.read())
    want = limit + 64
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(
        want, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    n = 0
    while libc.inotify_init1(0) >= 0:
        n += 1
    os.write(ready_w, b"%d %d\n" % (n, ctypes.get_errno()))
    os.read(stop_r, 1)


@unittest.skipUnless(IS_ROOT, "needs root to run the holder as the user")
class TestIdlePollFallback(unittest.TestCase):
    """Where inotify cannot be had (here: the user's inotify instances
    used up, EMFILE), IDLE still reports other sessions' changes, by
    polling every 30 s (doc/design.md, "Live sessions";
    IMAP_NOTIFY_POLL_MS). alice gets a uid of her own, unused on the
    machine, so exhausting her instances touches no other test."""

    def test_idle_polls_without_inotify(self):
        import errno
        from unittest import mock
        import moatenv
        from test_sigstop import pick_uids
        uid, _ = pick_uids()
        patch = mock.patch.dict(moatenv.USERS,
                                {"alice": ("secret-a", uid)})
        patch.start()
        self.addCleanup(patch.stop)
        server = MoatServer(listeners=("starttls",), extra_conf=(
            "mail_location = maildir:~/Maildir\n"))
        server.start()
        self.addCleanup(server.stop)
        b = raw_login(server)
        self.addCleanup(b.close)
        ready_r, ready_w = os.pipe()
        stop_r, stop_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(ready_r)
                os.close(stop_w)
                hold_inotify_instances(uid, ready_w, stop_r)
                code = 0
            finally:
                os._exit(code)
        os.close(ready_w)
        os.close(stop_r)

        def release():
            os.close(stop_w)
            os.waitpid(pid, 0)
        self.addCleanup(release)
        n, err = map(int, os.read(ready_r, 64).split())
        os.close(ready_r)
        self.assertEqual(err, errno.EMFILE, "the holder stopped at %d" % n)
        a = raw_login(server)
        self.addCleanup(a.close)
        self.assertTrue(a.cmd("s", "SELECT INBOX")[-1].startswith("s OK"))
        a.send("i IDLE\r\n")
        self.assertEqual(a.readline(), "+ idling")
        self.assertTrue(server.wait_log("polling every 30 s"),
                        "the session did not fall back to polling")
        t0 = time.time()
        d = msg(1).decode()
        lines = b.cmd("p", "APPEND INBOX {%d+}\r\n%s" % (len(d), d))
        self.assertTrue(lines[-1].startswith("p OK"), lines)
        lines = read_for(a, 40, until=r"^\* 1 EXISTS$")
        dt = time.time() - t0
        self.assertEqual(lines[-1:], ["* 1 EXISTS"], lines)
        print("\n  IDLE without inotify: EXISTS after %.1f s" % dt)
        self.assertLess(dt, 35)
        a.send("DONE\r\n")
        self.assertEqual(a.read_until_tagged("i")[-1],
                         "i OK IDLE terminated.")
