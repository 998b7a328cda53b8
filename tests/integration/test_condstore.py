"""CONDSTORE and QRESYNC (RFC 7162, issue 8) against a real moatd, on
Maildir and on mbox: MODSEQ in the untagged FETCHes two sessions of one
user see, CHANGEDSINCE, STORE UNCHANGEDSINCE and [MODIFIED] (also when
two sessions race for the same message), VANISHED instead of EXPUNGE
after ENABLE QRESYNC, and a reconnecting client's SELECT ... (QRESYNC
...) after changes and expunges made by another session and by another
program while it was away: exactly the right VANISHED (EARLIER) and
FETCH lines. Raw commands, so every response line is checked.
"""

import mailbox
import os
import re
import threading
import unittest

from moatenv import (MoatServer, as_user, imap_connect, raw_login,
                     store_test_classes)

N = 6


def msg(i):
    return (b"From: a@example.org\r\nTo: b@example.org\r\n"
            b"Date: Mon, 4 Mar 2024 10:00:00 +0000\r\n"
            b"Subject: cs %d\r\nMessage-ID: <cs%d@example.org>\r\n\r\n"
            b"Body %d.\r\n" % (i, i, i))


def modseq_of(line):
    mt = re.search(r"MODSEQ \((\d+)\)", line)
    return int(mt.group(1)) if mt else None


def no_recent(lines):
    """The lines without " \\Recent" (which session gets it is not what
    these tests are about)."""
    return [l.replace(" \\Recent", "").replace("(\\Recent ", "(")
            for l in lines]


def code_value(lines, code):
    for line in lines:
        mt = re.match(r"\* OK \[%s (\d+)\]" % code, line)
        if mt:
            return int(mt.group(1))
    return None


class CondstoreTests:
    STORE = None
    LOCATION = None

    def setUp(self):
        self.server = MoatServer(
            # The race test opens a fresh session per round; a closed
            # one counts until its process is reaped, which under load
            # can pass the default 10.
            extra_conf="mail_location = %s\n"
                       "max_sessions_per_user_ip = 100\n" % self.LOCATION,
            listeners=("starttls",)).start()
        self.addCleanup(self.server.stop)
        self.home = self.server.homes["alice"]
        m = imap_connect(self.server)
        for i in range(1, N + 1):
            self.assertEqual(m.append("INBOX", None, None, msg(i))[0], "OK")
        m.logout()

    def session(self, enable=None, select=True):
        c = raw_login(self.server)
        self.addCleanup(c.close)
        if enable:
            lines = c.cmd("e", "ENABLE " + enable)
            self.assertEqual(lines[-1], "e OK ENABLE completed.")
        if select:
            lines = c.cmd("s", "SELECT INBOX")
            self.assertTrue(lines[-1].startswith("s OK [READ-WRITE]"), lines)
            c.select_lines = lines
        return c

    def uids(self, c):
        lines = c.cmd("u", "FETCH 1:* (UID)")
        self.assertEqual(lines[-1], "u OK FETCH completed.")
        return [int(re.search(r"UID (\d+)", l).group(1)) for l in lines[:-1]]

    def highestmodseq(self):
        c = self.session(select=False)
        lines = c.cmd("h", "STATUS INBOX (HIGHESTMODSEQ)")
        c.close()
        return int(re.search(r"HIGHESTMODSEQ (\d+)", lines[0]).group(1))

    # -- CONDSTORE -------------------------------------------------------
    def test_enable_select_status(self):
        c = self.session(select=False)
        self.assertEqual(c.cmd("e", "ENABLE CONDSTORE QRESYNC"),
                         ["* ENABLED CONDSTORE QRESYNC",
                          "e OK ENABLE completed."])
        lines = c.cmd("s", "SELECT INBOX")
        hms = code_value(lines, "HIGHESTMODSEQ")
        self.assertIsNotNone(hms, lines)
        # §3.1.2.1: a positive value; every message's is not above it.
        got = c.cmd("f", "FETCH 1:* (MODSEQ)")
        self.assertEqual(len(got), N + 1)
        for line in got[:-1]:
            self.assertRegex(line, r"^\* \d+ FETCH \(MODSEQ \(\d+\)\)$")
            self.assertLessEqual(modseq_of(line), hms)
        self.assertEqual(self.highestmodseq(), hms)
        # A plain IMAP4rev1 session hears nothing of modseqs...
        p = self.session()
        self.assertIsNone(code_value(p.select_lines, "HIGHESTMODSEQ"))
        # ...until a CONDSTORE-enabling command (§3.1): the first one
        # with a mailbox selected reports HIGHESTMODSEQ.
        lines = p.cmd("f", "FETCH 1 (FLAGS MODSEQ)")
        self.assertEqual(code_value(lines, "HIGHESTMODSEQ"), hms, lines)
        # §3.2.11: SELECT over a selected mailbox says [CLOSED] first.
        lines = p.cmd("s2", "EXAMINE INBOX")
        self.assertTrue(lines[0].startswith("* OK [CLOSED]"), lines)
        self.assertEqual(code_value(lines, "HIGHESTMODSEQ"), hms, lines)

    def test_flag_changes_carry_modseq_to_both_sessions(self):
        a = self.session("CONDSTORE")
        b = self.session("CONDSTORE")
        hms = code_value(a.select_lines, "HIGHESTMODSEQ")
        uids = self.uids(a)
        lines = no_recent(a.cmd("a", "STORE 2 +FLAGS (\\Flagged)"))
        self.assertEqual(lines[-1], "a OK STORE completed.")
        self.assertEqual(len(lines), 2, lines)
        self.assertRegex(lines[0], r"^\* 2 FETCH \(FLAGS \(\\Flagged\) "
                         r"MODSEQ \(\d+\)\)$")
        ms = modseq_of(lines[0])
        self.assertGreater(ms, hms)
        # The other session's NOOP: the change with its modseq (§3.1).
        lines = no_recent(b.cmd("n", "NOOP"))
        self.assertIn("* 2 FETCH (UID %d FLAGS (\\Flagged) MODSEQ (%d))"
                      % (uids[1], ms), lines)
        # CHANGEDSINCE: only what changed after the modseq, with MODSEQ.
        lines = no_recent(b.cmd("c", "FETCH 1:* (FLAGS) (CHANGEDSINCE %d)"
                                % hms))
        self.assertEqual(lines, ["* 2 FETCH (FLAGS (\\Flagged) MODSEQ (%d))"
                                 % ms, "c OK FETCH completed."])
        lines = b.cmd("c2", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % ms)
        self.assertEqual(lines, ["c2 OK FETCH completed."])
        self.assertEqual(self.highestmodseq(), ms)

    def test_unchangedsince(self):
        a = self.session("CONDSTORE")
        b = self.session("CONDSTORE")
        uids = self.uids(a)
        lines = a.cmd("m", "FETCH 1:3 (MODSEQ)")
        before = [modseq_of(l) for l in lines[:-1]]
        base = max(before)
        # b changes message 2 behind a's back.
        self.assertEqual(b.cmd("x", "STORE 2 +FLAGS.SILENT (\\Seen)")[-1],
                         "x OK STORE completed.")
        # §3.1.3: 1 and 3 are stored and answered with MODSEQ even with
        # .SILENT; 2 failed the test and is named in [MODIFIED]; its new
        # flags reach a as an untagged FETCH.
        lines = no_recent(a.cmd("a", "STORE 1:3 (UNCHANGEDSINCE %d) "
                                "+FLAGS.SILENT ($Done)" % base))
        self.assertEqual(lines[-1], "a OK [MODIFIED 2] Conditional STORE "
                         "failed.", lines)
        done = [l for l in lines if re.match(r"^\* [13] FETCH \(MODSEQ "
                                             r"\(\d+\)\)$", l)]
        self.assertEqual(len(done), 2, lines)
        self.assertIn("* 2 FETCH (UID %d FLAGS (\\Seen) MODSEQ (%d))"
                      % (uids[1], self.modseq(a, 2)), lines)
        lines = a.cmd("f", "FETCH 1:3 (FLAGS)")
        self.assertIn("$Done", lines[0])
        self.assertNotIn("$Done", lines[1])
        self.assertIn("$Done", lines[2])
        # UID STORE names UIDs; UNCHANGEDSINCE 0 always fails (§3.1.3
        # example 7) and changes nothing.
        lines = a.cmd("u", "UID STORE %d (UNCHANGEDSINCE 0) +FLAGS "
                      "(\\Answered)" % uids[3])
        self.assertEqual(lines, ["u OK [MODIFIED %d] Conditional STORE "
                                 "failed." % uids[3]])
        lines = a.cmd("f", "FETCH 4 (FLAGS)")
        self.assertNotIn("\\Answered", lines[0])
        # A modseq equal to the message's passes (§3.1.3: "equal to or
        # less than").
        ms = self.modseq(a, 4)
        lines = no_recent(a.cmd("v", "UID STORE %d (UNCHANGEDSINCE %d) "
                                "FLAGS (\\Draft)" % (uids[3], ms)))
        self.assertEqual(lines[-1], "v OK STORE completed.")
        self.assertRegex(lines[0], r"^\* 4 FETCH \(UID %d FLAGS \(\\Draft\) "
                         r"MODSEQ \(\d+\)\)$" % uids[3])
        self.assertGreater(modseq_of(lines[0]), ms)

    def modseq(self, c, seq):
        lines = c.cmd("q", "FETCH %d (MODSEQ)" % seq)
        return modseq_of(lines[0])

    def test_unchangedsince_race_between_sessions(self):
        # Two sessions store on the same messages with the same
        # UNCHANGEDSINCE at the same moment: for each message exactly one
        # may win (the test and the write are one index transaction), the
        # other names it in [MODIFIED], and the loser's keyword must not
        # be left behind, not even in a Maildir file name.
        # 30 messages: a wider window between the test and the write
        m = imap_connect(self.server)
        for i in range(N + 1, 31):
            self.assertEqual(m.append("INBOX", None, None, msg(i))[0], "OK")
        m.logout()
        a = self.session("CONDSTORE")
        b = self.session("CONDSTORE")
        # (keywords alternate between two sets: FLAGS always changes
        # something, and 64 keywords per mailbox are the limit)
        for rnd in range(40):
            got = a.cmd("m", "FETCH 1:* (MODSEQ)")
            ms = max(modseq_of(l) for l in got[:-1])
            b.cmd("m", "NOOP")
            go = threading.Barrier(2)
            results = {}

            def run(name, c):
                go.wait()
                results[name] = c.cmd(
                    "r", "STORE 1:* (UNCHANGEDSINCE %d) FLAGS (k%s%d)"
                    % (ms, name, rnd % 2))

            ts = [threading.Thread(target=run, args=(n, c))
                  for n, c in (("a", a), ("b", b))]
            for t in ts:
                t.start()
            for t in ts:
                t.join(30)
            modified = {}
            for name, lines in results.items():
                mt = re.match(r"r OK \[MODIFIED ([\d,:]+)\]", lines[-1])
                if mt:
                    modified[name] = set()
                    for part in mt.group(1).split(","):
                        lo, _, hi = part.partition(":")
                        modified[name] |= set(range(int(lo),
                                                    int(hi or lo) + 1))
                else:
                    self.assertEqual(lines[-1], "r OK STORE completed.",
                                     results)
                    modified[name] = set()
            fresh = self.session()
            lines = fresh.cmd("f", "FETCH 1:* (FLAGS)")
            fresh.close()
            for seq in range(1, 31):
                # exactly one lost this message, and its keyword is not
                # there; the winner's is
                losers = [n for n in "ab" if seq in modified[n]]
                self.assertEqual(len(losers), 1, (seq, results))
                winner = "b" if losers == ["a"] else "a"
                self.assertIn("k%s%d" % (winner, rnd % 2), lines[seq - 1])
                self.assertNotIn("k%s%d" % (losers[0], rnd % 2),
                                 lines[seq - 1], results)
            if self.STORE == "maildir":
                names = os.listdir(os.path.join(self.home, "Maildir", "cur"))
                self.assertEqual(len(names), 30)

    # -- QRESYNC ---------------------------------------------------------
    def test_vanished_instead_of_expunge(self):
        a = self.session("QRESYNC")
        b = self.session()
        uids = self.uids(a)
        self.assertEqual(b.cmd("d", "STORE 2,4 +FLAGS.SILENT (\\Deleted)")
                         [-1], "d OK STORE completed.")
        self.assertEqual(b.cmd("x", "EXPUNGE")[-1], "x OK EXPUNGE completed.")
        # §3.2.10.2: the other session's expunges as one VANISHED.
        lines = a.cmd("n", "NOOP")
        self.assertIn("* VANISHED %d,%d" % (uids[1], uids[3]), lines)
        self.assertFalse([l for l in lines if l.endswith("EXPUNGE")], lines)
        # ...and our own, from EXPUNGE and UID EXPUNGE.
        a.cmd("d", "STORE 1:2 +FLAGS.SILENT (\\Deleted)")
        lines = a.cmd("x", "UID EXPUNGE %d" % uids[2])
        self.assertEqual(lines, ["* VANISHED %d" % uids[2],
                                 "x OK EXPUNGE completed."])
        lines = a.cmd("y", "EXPUNGE")
        self.assertEqual(lines, ["* VANISHED %d" % uids[0],
                                 "y OK EXPUNGE completed."])
        # §3.2.4: untagged FETCH carries UID and MODSEQ.
        lines = no_recent(a.cmd("s", "STORE 1 +FLAGS (\\Seen)"))
        self.assertRegex(lines[0], r"^\* 1 FETCH \(UID %d FLAGS \(\\Seen\) "
                         r"MODSEQ \(\d+\)\)$" % uids[4])
        # MOVE's expunge too (RFC 6851 §4.3 with QRESYNC).
        lines = a.cmd("m", "MOVE 1 Trash")
        self.assertEqual(lines[-1], "m OK MOVE completed.")
        self.assertIn("* VANISHED %d" % uids[4], lines)
        self.assertFalse([l for l in lines if l.endswith("EXPUNGE")], lines)

    def expunge_externally(self, i):
        """Removes message i as another program does: a Maildir file
        unlinked (mutt), an mbox rewritten without it (mailbox.mbox)."""
        home = self.home

        def run():
            if self.STORE == "maildir":
                md = mailbox.Maildir(os.path.join(home, "Maildir"),
                                     factory=None, create=False)
                for key, m in md.iteritems():
                    if m["Message-ID"] == "<cs%d@example.org>" % i:
                        md.remove(key)
                        return
                raise KeyError(i)
            mb = mailbox.mbox(os.path.join(home, "inbox"), create=False)
            mb.lock()
            try:
                for key, m in mb.iteritems():
                    if m["Message-ID"] == "<cs%d@example.org>" % i:
                        mb.remove(key)
                        mb.flush()
                        return
                raise KeyError(i)
            finally:
                mb.unlock()
                mb.close()

        as_user(run)

    def test_qresync_reconnect(self):
        a = self.session("QRESYNC")
        uv = code_value(a.select_lines, "UIDVALIDITY")
        hms = code_value(a.select_lines, "HIGHESTMODSEQ")
        uids = self.uids(a)
        a.cmd("l", "LOGOUT")
        a.close()
        # While a is away: another session changes 2, expunges 3; a
        # program deletes 5; the next session picks that up.
        b = self.session()
        b.cmd("f", "STORE 2 +FLAGS.SILENT (\\Answered)")
        b.cmd("d", "STORE 3 +FLAGS.SILENT (\\Deleted)")
        self.assertEqual(b.cmd("x", "EXPUNGE")[-1], "x OK EXPUNGE completed.")
        b.cmd("l", "LOGOUT")
        b.close()
        self.expunge_externally(5)
        # §3.2.5: VANISHED (EARLIER) for 3 and 5, before a FETCH for 2;
        # nothing about the unchanged ones.
        c = self.session("QRESYNC", select=False)
        lines = no_recent(c.cmd("s", "SELECT INBOX (QRESYNC (%d %d))"
                                % (uv, hms)))
        self.assertEqual(lines[-1], "s OK [READ-WRITE] SELECT completed.")
        self.assertIn("* %d EXISTS" % (N - 2), lines)
        extra = lines[lines.index([l for l in lines if "HIGHESTMODSEQ" in l]
                                  [0]) + 1:-1]
        self.assertEqual(len(extra), 2, lines)
        self.assertEqual(extra[0], "* VANISHED (EARLIER) %d,%d"
                         % (uids[2], uids[4]))
        self.assertRegex(extra[1], r"^\* 2 FETCH \(UID %d FLAGS "
                         r"\(\\Answered\) MODSEQ \(\d+\)\)$" % uids[1])
        new_hms = code_value(lines, "HIGHESTMODSEQ")
        self.assertGreater(new_hms, hms)
        # Known UIDs limit the answer (§3.2.5.1); so does sequence match
        # data (§3.2.5.2): 1 -> uids[0] still matches, so nothing at or
        # below it is reported.
        lines = c.cmd("s2", "SELECT INBOX (QRESYNC (%d %d %d:%d))"
                      % (uv, hms, uids[3], uids[5]))
        self.assertIn("* VANISHED (EARLIER) %d" % uids[4], lines)
        self.assertFalse([l for l in lines if " FETCH " in l], lines)
        # Up to date: nothing at all.
        lines = c.cmd("s3", "SELECT INBOX (QRESYNC (%d %d))" % (uv, new_hms))
        self.assertFalse([l for l in lines if "VANISHED" in l or
                          " FETCH " in l], lines)
        # A modseq this index never handed out (it was rebuilt since):
        # answered as by a client that knows nothing, the fallback that
        # also serves modseqs older than the kept tombstones: every
        # known UID that is not there, every known message's flags.
        lines = no_recent(c.cmd("s5", "SELECT INBOX (QRESYNC (%d %d 1:%d))"
                                % (uv, new_hms + 100, uids[5] + 3)))
        self.assertIn("* VANISHED (EARLIER) %d,%d" % (uids[2], uids[4]),
                      lines)
        self.assertEqual(len([l for l in lines if " FETCH (UID " in l]),
                         N - 2, lines)
        # Another UIDVALIDITY: the rest is ignored (§3.2.5).
        lines = c.cmd("s4", "SELECT INBOX (QRESYNC (%d 1))" % (uv + 1))
        self.assertFalse([l for l in lines if "VANISHED" in l or
                          " FETCH " in l], lines)
        # UID FETCH (CHANGEDSINCE VANISHED), §3.2.6: the same answer.
        lines = no_recent(c.cmd("v", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE "
                                "%d VANISHED)" % hms))
        self.assertEqual(lines[0], "* VANISHED (EARLIER) %d,%d"
                         % (uids[2], uids[4]))
        self.assertRegex(lines[1], r"^\* 2 FETCH \(UID %d FLAGS "
                         r"\(\\Answered\) MODSEQ \(\d+\)\)$" % uids[1])
        self.assertEqual(len(lines), 3, lines)
        # Without ENABLE QRESYNC the parameter is BAD (§3.2.5).
        p = self.session(select=False)
        lines = p.cmd("s", "SELECT INBOX (QRESYNC (%d %d))" % (uv, hms))
        self.assertEqual(lines, ["s BAD QRESYNC needs ENABLE QRESYNC "
                                 "first."])

    def test_qresync_seq_match_data(self):
        a = self.session("QRESYNC")
        uv = code_value(a.select_lines, "UIDVALIDITY")
        hms = code_value(a.select_lines, "HIGHESTMODSEQ")
        uids = self.uids(a)
        a.cmd("d", "STORE 1,4 +FLAGS.SILENT (\\Deleted)")
        a.cmd("x", "EXPUNGE")
        # The client still believes seq 2 -> uids[1] and 5 -> uids[4];
        # now the mailbox has uids[1] at 1: the first pair fails, so
        # the match data vouches for nothing.
        c = self.session("QRESYNC", select=False)
        lines = c.cmd("s", "SELECT INBOX (QRESYNC (%d %d 1:%d (2,5 %d,%d)))"
                      % (uv, hms, uids[5], uids[1], uids[4]))
        self.assertIn("* VANISHED (EARLIER) %d,%d" % (uids[0], uids[3]),
                      lines)
        # A pair that matches (1 -> uids[1]) hides what lies at or below
        # it; the next (4 -> uids[4]; the mailbox has uids[5] there)
        # does not: only uids[3] is reported.
        lines = c.cmd("s2", "SELECT INBOX (QRESYNC (%d %d 1:%d (1,4 %d,%d)))"
                      % (uv, hms, uids[5], uids[1], uids[4]))
        self.assertIn("* VANISHED (EARLIER) %d" % uids[3], lines)
        # Both pairs match (3 -> uids[4] too): nothing at or below
        # uids[4], so nothing at all.
        lines = c.cmd("s3", "SELECT INBOX (QRESYNC (%d %d 1:%d (1,3 %d,%d)))"
                      % (uv, hms, uids[5], uids[1], uids[4]))
        self.assertFalse([l for l in lines if "VANISHED" in l], lines)
        # Syntax errors are BAD, checked before anything is opened
        # (§3.2.5).
        for bad in ("(QRESYNC (%d))" % uv, "(QRESYNC (0 1))",
                    "(QRESYNC (%d 0))" % uv,
                    "(QRESYNC (%d 1 1:5 (1:2 5)))" % uv,
                    "(QRESYNC (%d 1 1:5 (2,1 5,6)))" % uv,
                    "(QRESYNC %d)" % uv):
            lines = c.cmd("b", "SELECT INBOX " + bad)
            self.assertEqual(len(lines), 1, (bad, lines))
            self.assertTrue(lines[0].startswith("b BAD "), (bad, lines))


store_test_classes(globals(), CondstoreTests, "TestCondstore")

if __name__ == "__main__":
    unittest.main()
