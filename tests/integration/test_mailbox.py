"""The mailbox commands through a real moatd, once per mail store
(Maildir, and mbox once its backend is built: moatenv.available_stores):
Python's imaplib for the flow, RawClient where the exact lines matter.
As root the sessions run as the passwd-file users' real uids. Results
are checked against RFC 3501/9051 and the extensions (UIDPLUS 4315,
MOVE 6851, UNSELECT 3691, MULTIAPPEND 3502, LIST-EXTENDED 5258,
LIST-STATUS 5819, SPECIAL-USE 6154, NAMESPACE 2342, APPENDLIMIT 7889,
STATUS=SIZE 8438); the section is quoted where the rule is subtle.
"""

import os
import re
import shutil
import stat
import tempfile
import unittest

from moatenv import (IS_ROOT, MoatServer, imap_connect, raw_login,
                     store_test_classes)

MSG = (b"From: a@example.org\r\nTo: b@example.org\r\n"
       b"Subject: test %d\r\nMessage-ID: <%d@example.org>\r\n\r\n"
       b"Body of message %d.\r\n")


def msg(i):
    return MSG % (i, i, i)


def untagged(lines, word):
    """The untagged lines whose second token is word (or the third, for
    "* 3 EXISTS")."""
    out = []
    for line in lines:
        parts = line.split(" ", 3)
        if parts[0] == "*" and (parts[1] == word or
                                (len(parts) > 2 and parts[2] == word)):
            out.append(line)
    return out


class MailboxTests:
    STORE = None
    LOCATION = None
    EXTRA_CONF = ""

    def setUp(self):
        self.server = MoatServer(
            extra_conf="mail_location = %s\n%s" % (self.LOCATION,
                                                   self.EXTRA_CONF),
            listeners=("starttls",)).start()
        self.addCleanup(self.server.stop)
        self.m = imap_connect(self.server)
        self.addCleanup(self._logout, self.m)

    def _logout(self, m):
        try:
            m.logout()
        except Exception:
            pass

    def raw(self, user="alice"):
        c = raw_login(self.server, user)
        self.addCleanup(c.close)
        return c

    def ok(self, result):
        typ, data = result
        self.assertEqual(typ, "OK", data)
        return data

    def append(self, box, n, flags=None, m=None):
        m = m or self.m
        for i in range(1, n + 1):
            self.ok(m.append(box, flags, None, msg(i)))

    # -- capabilities and defaults -------------------------------------
    def test_capabilities(self):
        # After login (imaplib keeps the greeting's list otherwise).
        typ, data = self.m.capability()
        caps = set(data[0].decode().split())
        for cap in ("LITERAL+", "UIDPLUS", "MOVE", "UNSELECT",
                    "NAMESPACE", "CHILDREN", "LIST-EXTENDED", "LIST-STATUS",
                    "SPECIAL-USE", "CREATE-SPECIAL-USE", "MULTIAPPEND",
                    "STATUS=SIZE", "APPENDLIMIT=67108864", "IMAP4rev1",
                    "UTF8=ACCEPT"):
            self.assertIn(cap, caps)

    def test_first_login_folders(self):
        # The usual special-use folders exist from the first login, with
        # their RFC 6154 attributes.
        data = self.ok(self.m.list('""', "*"))
        got = {}
        for line in data:
            mt = re.match(rb'\(([^)]*)\) "/" "?([^"]*)"?$', line)
            self.assertIsNotNone(mt, line)
            got[mt.group(2).decode()] = mt.group(1).decode().split()
        self.assertIn("INBOX", got)
        for name, use in (("Drafts", "\\Drafts"), ("Sent", "\\Sent"),
                          ("Trash", "\\Trash"), ("Junk", "\\Junk"),
                          ("Archive", "\\Archive")):
            self.assertIn(use, got[name], got)
        typ, data = self.m._simple_command("LIST", "(SPECIAL-USE)", '""',
                                           "*")
        self.assertEqual(typ, "OK")
        self.assertEqual(len(self.m.untagged_responses.pop("LIST")), 5)

    def test_namespace(self):
        c = self.raw()
        self.assertEqual(c.cmd("n", "NAMESPACE"),
                         ['* NAMESPACE (("" "/")) NIL NIL',
                          "n OK NAMESPACE completed."])

    # -- SELECT, EXAMINE --------------------------------------------------
    def test_select_examine(self):
        self.append("INBOX", 3)
        c = self.raw()
        lines = c.cmd("s", "SELECT INBOX")
        self.assertEqual(lines[-1], "s OK [READ-WRITE] SELECT completed.")
        self.assertIn("* 3 EXISTS", lines)
        # RFC 3501 §6.3.1: the first session to see them gets \Recent.
        self.assertIn("* 3 RECENT", lines)
        self.assertIn("* OK [UNSEEN 1] First unseen.", lines)
        self.assertIn("* OK [UIDNEXT 4] Predicted next UID.", lines)
        self.assertTrue(any(re.match(r"\* OK \[UIDVALIDITY \d+\] ", l)
                            for l in lines), lines)
        self.assertIn("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen "
                      "\\Draft)", lines)
        self.assertIn("* OK [PERMANENTFLAGS (\\Answered \\Flagged "
                      "\\Deleted \\Seen \\Draft \\*)] Flags permitted.",
                      lines)
        # A second session: the messages are no longer \Recent for it.
        c2 = self.raw()
        lines = c2.cmd("e", "EXAMINE INBOX")
        self.assertEqual(lines[-1], "e OK [READ-ONLY] EXAMINE completed.")
        self.assertIn("* 0 RECENT", lines)
        self.assertIn("* OK [PERMANENTFLAGS ()] No permanent flags "
                      "permitted.", lines)
        # Re-SELECT elsewhere; a failed SELECT leaves nothing selected
        # (RFC 9051 §6.3.2).
        self.assertEqual(c.cmd("x", "SELECT Nope")[-1],
                         "x NO [NONEXISTENT] Mailbox does not exist.")
        self.assertEqual(c.cmd("y", "FETCH 1 FLAGS")[-1],
                         "y BAD No mailbox selected.")

    def test_uidvalidity_stable_across_sessions(self):
        self.append("INBOX", 2)
        s1 = self.ok(self.m.status("INBOX", "(UIDVALIDITY UIDNEXT)"))
        m2 = imap_connect(self.server)
        self.addCleanup(self._logout, m2)
        s2 = self.ok(m2.status("INBOX", "(UIDVALIDITY UIDNEXT)"))
        self.assertEqual(s1, s2)

    # -- APPEND -------------------------------------------------------------
    def test_append_uidplus_and_multiappend(self):
        c = self.raw()
        data = msg(1)
        lines = c.cmd("a", "APPEND INBOX (\\Seen $Work) "
                      "\"05-Mar-2024 10:00:00 +0100\" {%d+}\r\n%s" %
                      (len(data), data.decode()))
        mt = re.match(r"a OK \[APPENDUID (\d+) 1\] ", lines[-1])
        self.assertIsNotNone(mt, lines)
        uidvalidity = mt.group(1)
        # RFC 3502: several messages in one command, one UID set.
        d2, d3 = msg(2).decode(), msg(3).decode()
        lines = c.cmd("b", "APPEND INBOX {%d+}\r\n%s (\\Flagged) {%d+}\r\n%s"
                      % (len(d2), d2, len(d3), d3))
        self.assertEqual(lines[-1], "b OK [APPENDUID %s 2:3] APPEND "
                         "completed." % uidvalidity)
        c.cmd("s", "SELECT INBOX")
        lines = c.cmd("f", "FETCH 1:3 (UID FLAGS INTERNALDATE RFC822.SIZE)")
        self.assertEqual(lines[0], "* 1 FETCH (UID 1 FLAGS (\\Seen $Work "
                         "\\Recent) INTERNALDATE \"05-Mar-2024 09:00:00 "
                         "+0000\" RFC822.SIZE %d)" % len(data))
        self.assertTrue(lines[2].startswith("* 3 FETCH (UID 3 FLAGS "
                                            "(\\Flagged \\Recent) "), lines)
        # A missing target says TRYCREATE (RFC 9051 §6.3.12).
        self.assertEqual(c.cmd("t", "APPEND Nope {1+}\r\nx")[-1],
                         "t NO [TRYCREATE] Mailbox does not exist.")
        # literal8 (BINARY, RFC 3516 §4.4) is stored like a literal.
        self.assertTrue(c.cmd("u", "APPEND INBOX ~{1+}\r\nx")[-1]
                        .startswith("u OK [APPENDUID "))

    def test_append_to_selected_mailbox_reports_exists(self):
        c = self.raw()
        c.cmd("s", "SELECT INBOX")
        d = msg(1).decode()
        lines = c.cmd("a", "APPEND INBOX {%d+}\r\n%s" % (len(d), d))
        self.assertIn("* 1 EXISTS", lines)
        self.assertTrue(lines[-1].startswith("a OK [APPENDUID "), lines)

    # -- FETCH ----------------------------------------------------------------
    def test_fetch(self):
        self.append("INBOX", 3)
        self.ok(self.m.select("INBOX"))
        data = self.ok(self.m.fetch("1:3", "(UID RFC822.SIZE BODY.PEEK[])"))
        for i in range(3):
            head, body = data[2 * i]
            self.assertEqual(body, msg(i + 1))
            self.assertIn(b"RFC822.SIZE %d" % len(msg(i + 1)), head)
        # BODY.PEEK[] left \Seen alone; BODY[] sets it and the FETCH
        # then carries FLAGS (RFC 9051 §6.4.5).
        c = self.raw()
        c.cmd("s", "SELECT INBOX")
        self.assertEqual(c.cmd("a", "FETCH 1 FLAGS")[0],
                         "* 1 FETCH (FLAGS ())")
        lines = c.cmd("b", "FETCH 1 BODY[]<0.4>")
        self.assertEqual(lines[0], "* 1 FETCH (BODY[]<0> {4}")
        self.assertEqual(lines[1], "From FLAGS (\\Seen))")
        # RFC822 is BODY[] by another name.
        lines = c.cmd("c", "UID FETCH 2 RFC822")
        self.assertTrue(lines[0].startswith("* 2 FETCH (UID 2 RFC822 {"),
                        lines)
        self.assertTrue(lines[-2].endswith(" FLAGS (\\Seen))"), lines)
        # Partial past the end is an empty string.
        self.assertEqual(c.cmd("d", "FETCH 3 BODY.PEEK[]<100000.10>")[0],
                         "* 3 FETCH (BODY[]<100000> {0}")
        self.assertEqual(c.cmd("e", "FETCH 4 FLAGS")[-1],
                         "e BAD Message sequence number out of range")
        self.assertEqual(c.cmd("f", "FETCH 1 ENVELOPES")[-1],
                         "f BAD Unknown FETCH item.")
        lines = c.cmd("g", "FETCH 1:* FAST")
        self.assertRegex(lines[0], r'^\* 1 FETCH \(FLAGS \(\\Seen\) '
                         r'INTERNALDATE "\d\d-[A-Z][a-z]{2}-\d{4} '
                         r'\d\d:\d\d:\d\d \+0000" RFC822\.SIZE \d+\)$')

    def test_fetch_large_message(self):
        # 8 MB through the 1 MB output limit: streamed, byte for byte.
        big = b"Subject: big\r\n\r\n" + b"0123456789abcde\r\n" * 500000
        self.ok(self.m.append("INBOX", None, None, big))
        self.ok(self.m.select("INBOX"))
        data = self.ok(self.m.uid("FETCH", "1", "(BODY.PEEK[])"))
        self.assertEqual(data[0][1], big)

    def test_lf_files_served_with_crlf(self):
        if self.STORE != "maildir":
            return
        # Messages other programs deliver have LF line ends; IMAP has
        # CRLF (RFC 9051 §2.3.1.1 / RFC 5322), and RFC822.SIZE counts it.
        home = self.server.homes["alice"]
        self.ok(self.m.select("INBOX"))
        new = os.path.join(home, "Maildir", "new")
        with open(os.path.join(new, "1700000000.M1P1.test"), "wb") as f:
            f.write(b"Subject: lf\n\nline\n")
        if IS_ROOT:
            os.chown(os.path.join(new, "1700000000.M1P1.test"), 5001, 5001)
        self.ok(self.m.noop())
        data = self.ok(self.m.fetch("1", "(RFC822.SIZE BODY.PEEK[])"))
        want = b"Subject: lf\r\n\r\nline\r\n"
        self.assertEqual(data[0][1], want)
        self.assertIn(b"RFC822.SIZE %d" % len(want), data[0][0])

    # -- STORE --------------------------------------------------------------
    def test_store(self):
        self.append("INBOX", 3)
        c = self.raw()
        c.cmd("s", "SELECT INBOX")
        # A new keyword: FLAGS and PERMANENTFLAGS again (RFC 9051
        # §7.3.5), then the FETCH.
        lines = c.cmd("a", "STORE 1 +FLAGS (\\Flagged $Work)")
        self.assertEqual(lines[0], "* FLAGS (\\Answered \\Flagged \\Deleted "
                         "\\Seen \\Draft $Work)")
        self.assertEqual(lines[-2],
                         "* 1 FETCH (FLAGS (\\Flagged $Work \\Recent))")
        self.assertEqual(c.cmd("b", "STORE 1 -FLAGS (\\Flagged)")[-2],
                         "* 1 FETCH (FLAGS ($Work \\Recent))")
        # RFC 9051 §6.4.9: UID STORE's FETCH responses carry the UID.
        self.assertEqual(c.cmd("c", "UID STORE 2 FLAGS (\\Answered)")[-2],
                         "* 2 FETCH (UID 2 FLAGS (\\Answered \\Recent))")
        self.assertEqual(c.cmd("d", "STORE 3 +FLAGS.SILENT (\\Seen)"),
                         ["d OK STORE completed."])
        self.assertEqual(c.cmd("e", "STORE 1 +FLAGS (\\Recent)")[-1],
                         "e BAD \\Recent cannot be set.")
        # What is stored is what another session sees.
        m2 = imap_connect(self.server)
        self.addCleanup(self._logout, m2)
        self.ok(m2.select("INBOX", readonly=True))
        data = self.ok(m2.fetch("1:3", "(FLAGS)"))
        self.assertEqual(data, [b"1 (FLAGS ($Work))",
                                b"2 (FLAGS (\\Answered))",
                                b"3 (FLAGS (\\Seen))"])

    # -- EXPUNGE, CLOSE, UNSELECT ---------------------------------------------
    def test_expunge(self):
        self.append("INBOX", 4)
        c = self.raw()
        c.cmd("s", "SELECT INBOX")
        c.cmd("a", "STORE 1,3,4 +FLAGS.SILENT (\\Deleted)")
        # RFC 4315 §2.1: UID EXPUNGE only removes the listed UIDs.
        self.assertEqual(c.cmd("b", "UID EXPUNGE 3:4"),
                         ["* 4 EXPUNGE", "* 3 EXPUNGE",
                          "b OK EXPUNGE completed."])
        self.assertEqual(c.cmd("c", "EXPUNGE"),
                         ["* 1 EXPUNGE", "c OK EXPUNGE completed."])
        self.assertEqual(c.cmd("d", "FETCH 1:* UID"),
                         ["* 1 FETCH (UID 2)", "d OK FETCH completed."])

    def test_close_expunges_silently_unselect_does_not(self):
        self.append("INBOX", 3)
        c = self.raw()
        c.cmd("s", "SELECT INBOX")
        c.cmd("a", "STORE 2 +FLAGS.SILENT (\\Deleted)")
        self.assertEqual(c.cmd("b", "UNSELECT"), ["b OK UNSELECT completed."])
        c.cmd("s", "SELECT INBOX")
        # RFC 9051 §6.4.1: no EXPUNGE responses.
        self.assertEqual(c.cmd("c", "CLOSE"), ["c OK CLOSE completed."])
        self.assertEqual(c.cmd("d", "STATUS INBOX (MESSAGES)")[0],
                         '* STATUS "INBOX" (MESSAGES 2)')

    # -- COPY, MOVE -------------------------------------------------------------
    def test_copy_move(self):
        self.append("INBOX", 3)
        c = self.raw()
        c.cmd("s", "SELECT INBOX")
        lines = c.cmd("a", "COPY 1:2 Archive")
        self.assertRegex(lines[-1], r"^a OK \[COPYUID \d+ 1:2 1:2\] COPY "
                         r"completed\.$")
        self.assertEqual(c.cmd("b", "COPY 1 Nope")[-1],
                         "b NO [TRYCREATE] Mailbox does not exist.")
        lines = c.cmd("u", "UID COPY 3,1 Archive")
        self.assertRegex(lines[-1], r"^u OK \[COPYUID \d+ 1,3 3:4\] COPY "
                         r"completed\.$")
        # RFC 9051 §6.4.9: UIDs that do not exist are no error.
        self.assertEqual(c.cmd("v", "UID COPY 99 Archive"),
                         ["v OK No messages to copy."])
        # RFC 6851 §3.3: untagged OK [COPYUID], EXPUNGEs, tagged OK.
        lines = c.cmd("c", "UID MOVE 2:3 Trash")
        self.assertRegex(lines[0], r"^\* OK \[COPYUID \d+ 2:3 1:2\] ")
        self.assertEqual(lines[1:], ["* 3 EXPUNGE", "* 2 EXPUNGE",
                                     "c OK MOVE completed."])
        self.assertEqual(c.cmd("w", "CHECK"), ["w OK CHECK completed."])
        st = self.ok(self.m.status("Trash", "(MESSAGES)"))
        self.assertEqual(st, [b'"Trash" (MESSAGES 2)'])
        self.ok(self.m.select("Trash"))
        data = self.ok(self.m.fetch("1:2", "(BODY.PEEK[])"))
        self.assertEqual([data[0][1], data[2][1]], [msg(2), msg(3)])

    # -- CREATE, DELETE, RENAME, SUBSCRIBE ----------------------------------------
    def test_create_delete_rename(self):
        c = self.raw()
        self.assertEqual(c.cmd("a", "CREATE Work/Projects/2024")[-1],
                         "a OK CREATE completed.")
        self.assertEqual(c.cmd("b", "CREATE Work/Projects/2024")[-1],
                         "b NO [ALREADYEXISTS] Mailbox already exists.")
        self.assertEqual(c.cmd("c", "CREATE INBOX")[-1],
                         "c NO [ALREADYEXISTS] INBOX always exists.")
        self.assertEqual(c.cmd("d", "CREATE Outbox (USE (\\Sent))")[-1],
                         "d OK CREATE completed.")
        lines = c.cmd("e", 'LIST "" Outbox')
        self.assertIn("\\Sent", lines[0])
        # RFC 9051 §6.3.6: children move with their parent.
        self.assertEqual(c.cmd("f", "RENAME Work Play")[-1],
                         "f OK RENAME completed.")
        lines = c.cmd("g", 'LIST "" Play/*')
        self.assertIn('* LIST (\\HasNoChildren) "/" "Play/Projects/2024"',
                      lines)
        self.assertEqual(c.cmd("h", "DELETE INBOX")[-1][:6], "h NO [")
        self.assertEqual(c.cmd("i", "DELETE Play/Projects/2024")[-1],
                         "i OK DELETE completed.")
        self.assertEqual(c.cmd("j", "DELETE Nope")[-1],
                         "j NO [NONEXISTENT] Mailbox does not exist.")
        # Names that could reach outside the store are refused.
        for tag, name in (("k", '"a/../../x"'), ("l", '"/etc"'),
                          ("m", '"~root/x"'), ("n", '"a//b"')):
            self.assertTrue(c.cmd(tag, "CREATE " + name)[-1].startswith(
                tag + " NO [CANNOT] "), name)

    def test_rename_inbox(self):
        # RFC 9051 §6.3.6: renaming INBOX moves its messages and leaves
        # an empty INBOX.
        self.append("INBOX", 2)
        self.ok(self.m.rename("INBOX", "Old"))
        self.assertEqual(self.ok(self.m.status("INBOX", "(MESSAGES)")),
                         [b'"INBOX" (MESSAGES 0)'])
        self.assertEqual(self.ok(self.m.status("Old", "(MESSAGES)")),
                         [b'"Old" (MESSAGES 2)'])

    def test_mutf7_names(self):
        # RFC 3501 §5.1.3: "Entwürfe" is "Entw&APw-rfe" on the wire.
        c = self.raw()
        self.assertEqual(c.cmd("a", "CREATE Entw&APw-rfe")[-1],
                         "a OK CREATE completed.")
        self.assertIn('* LIST (\\HasNoChildren) "/" "Entw&APw-rfe"',
                      c.cmd("b", 'LIST "" Entw*'))
        self.assertTrue(c.cmd("c", "CREATE &Jjo")[-1].startswith(
            "c NO [CANNOT] "))
        if self.STORE == "maildir":
            # Maildir++ keeps it as ".Entw&APw-rfe" (Dovecot, Courier).
            path = os.path.join(self.server.homes["alice"], "Maildir",
                                ".Entw&APw-rfe")
            self.assertTrue(os.path.isdir(path))

    def test_utf8_accept(self):
        # RFC 6855 §3: after ENABLE UTF8=ACCEPT names are UTF-8 in
        # quoted strings; a client that did not enable it still sees
        # modified UTF-7 (§3: "MUST NOT send UTF-8 ... unless").
        c = self.raw()
        self.assertEqual(c.cmd("a", "ENABLE UTF8=ACCEPT"),
                         ["* ENABLED UTF8=ACCEPT", "a OK ENABLE completed."])
        self.assertEqual(c.cmd("b", 'CREATE "Entwürfe"')[-1],
                         "b OK CREATE completed.")
        self.assertIn('* LIST (\\HasNoChildren) "/" "Entwürfe"',
                      c.cmd("c", 'LIST "" Entw*'))
        # §4: a message with UTF-8 headers comes as UTF8 (literal8).
        body = "Subject: Grüße\r\n\r\nHallo\r\n".encode()
        c.send(b'd APPEND "Entw\xc3\xbcrfe" UTF8 (~{%d+}\r\n' % len(body)
               + body + b")\r\n")
        self.assertTrue(c.read_until_tagged("d")[-1].startswith(
            "d OK [APPENDUID "))
        # §3: ill-formed UTF-8 is BAD.
        c.send(b'e SELECT "Entw\xfcrfe"\r\n')
        self.assertTrue(c.read_until_tagged("e")[-1].startswith("e BAD "))
        old = self.raw()
        self.assertIn('* LIST (\\HasNoChildren) "/" "Entw&APw-rfe"',
                      old.cmd("f", 'LIST "" Entw*'))
        lines = old.cmd("g", "EXAMINE Entw&APw-rfe")
        self.assertIn("* 1 EXISTS", lines)
        lines = old.cmd("h", "FETCH 1 BODY.PEEK[]")
        self.assertEqual(lines[0], "* 1 FETCH (BODY[] {%d}" % len(body))
        self.assertEqual(lines[1], "Subject: Grüße")

    def test_subscribe_lsub(self):
        self.ok(self.m.create("Lists/moat"))
        self.ok(self.m.subscribe("Lists/moat"))
        c = self.raw()
        lines = c.cmd("a", 'LSUB "" "Lists/*"')
        self.assertEqual(lines, ['* LSUB () "/" "Lists/moat"',
                                 "a OK LSUB completed."])
        # RFC 3501 §6.3.9: "%" shows the unsubscribed parent \Noselect.
        self.assertIn('* LSUB (\\Noselect) "/" "Lists"',
                      c.cmd("b", 'LSUB "" %'))
        lines = c.cmd("c", 'LIST (SUBSCRIBED) "" "Lists/*"')
        self.assertEqual(lines[0], '* LIST (\\HasNoChildren \\Subscribed) '
                         '"/" "Lists/moat"')
        self.ok(self.m.unsubscribe("Lists/moat"))
        self.assertEqual(c.cmd("d", 'LSUB "" "Lists/*"'),
                         ["d OK LSUB completed."])

    # -- LIST ------------------------------------------------------------------
    def test_list(self):
        for name in ("a/b/c", "a/d", "e"):
            self.ok(self.m.create(name))
        c = self.raw()
        # RFC 9051 §6.3.9: LIST "" "" gives the separator.
        self.assertEqual(c.cmd("a", 'LIST "" ""'),
                         ['* LIST (\\Noselect) "/" ""',
                          "a OK LIST completed."])
        lines = c.cmd("b", 'LIST "" %')
        # Maildir++ has no folder for "a" itself: a \Noselect parent
        # (RFC 3501 §6.3.8), as with Dovecot; mbox makes a directory.
        self.assertTrue('* LIST (\\Noselect \\HasChildren) "/" "a"' in lines
                        or '* LIST (\\HasChildren) "/" "a"' in lines, lines)
        self.assertIn('* LIST (\\HasNoChildren) "/" "e"', lines)
        self.assertFalse(any('"a/d"' in l for l in lines), lines)
        # The reference is put in front of the pattern.
        lines = c.cmd("c", 'LIST "a/" %')
        self.assertEqual([re.sub(r"\\Noselect ", "", l) for l in lines],
                         ['* LIST (\\HasChildren) "/" "a/b"',
                          '* LIST (\\HasNoChildren) "/" "a/d"',
                          "c OK LIST completed."])
        lines = c.cmd("d", 'LIST "" a/*')
        self.assertEqual([re.sub(r"\\Noselect ", "", l) for l in lines],
                         ['* LIST (\\HasChildren) "/" "a/b"',
                          '* LIST (\\HasNoChildren) "/" "a/b/c"',
                          '* LIST (\\HasNoChildren) "/" "a/d"',
                          "d OK LIST completed."])
        # RFC 5819: STATUS with each listed mailbox.
        self.append("e", 2)
        lines = c.cmd("e", 'LIST "" e RETURN (STATUS (MESSAGES UNSEEN))')
        self.assertEqual(lines, ['* LIST (\\HasNoChildren) "/" "e"',
                                 '* STATUS "e" (MESSAGES 2 UNSEEN 2)',
                                 "e OK LIST completed."])
        self.assertEqual(c.cmd("f", 'LIST (BOGUS) "" *')[-1],
                         "f BAD Unknown selection option.")

    # -- STATUS ----------------------------------------------------------------
    def test_status(self):
        self.append("INBOX", 2)
        self.append("INBOX", 1, flags="(\\Seen \\Deleted)")
        size = len(msg(1)) * 2 + len(msg(1))
        c = self.raw()
        lines = c.cmd("a", "STATUS INBOX (MESSAGES RECENT UIDNEXT UNSEEN "
                      "DELETED SIZE APPENDLIMIT)")
        self.assertEqual(lines[0], '* STATUS "INBOX" (MESSAGES 3 RECENT 3 '
                         'UIDNEXT 4 UNSEEN 2 DELETED 1 SIZE %d APPENDLIMIT '
                         '67108864)' % size)
        self.assertEqual(c.cmd("b", "STATUS Nope (MESSAGES)")[-1],
                         "b NO [NONEXISTENT] Mailbox does not exist.")
        self.assertEqual(c.cmd("c", "STATUS INBOX (BOGUS)")[-1],
                         "c BAD Unknown status item.")

    # -- several sessions (RFC 9051 §7.5.1, RFC 2180) ----------------------------
    def test_updates_from_another_session(self):
        self.append("INBOX", 3)
        a = self.raw()
        a.cmd("s", "SELECT INBOX")
        b = imap_connect(self.server)
        self.addCleanup(self._logout, b)
        self.ok(b.append("INBOX", None, None, msg(4)))
        self.ok(b.select("INBOX"))
        self.ok(b.store("2", "+FLAGS", "(\\Flagged)"))
        lines = a.cmd("n", "NOOP")
        self.assertIn("* 4 EXISTS", lines)
        self.assertIn("* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent))", lines)
        # Another session expunges message 1: "An EXPUNGE response MUST
        # NOT be sent ... while responding to a FETCH, STORE, or SEARCH
        # command" (RFC 9051 §7.5.1); NOOP then reports it.
        self.ok(b.store("1", "+FLAGS", "(\\Deleted)"))
        self.ok(b.expunge())
        lines = a.cmd("f", "FETCH 2:4 UID")
        self.assertEqual(untagged(lines, "EXPUNGE"), [], lines)
        self.assertEqual(a.cmd("g", "STORE 3 +FLAGS (\\Seen)")[-1][:4],
                         "g OK")
        lines = a.cmd("h", "NOOP")
        self.assertEqual(untagged(lines, "EXPUNGE"), ["* 1 EXPUNGE"], lines)
        self.assertEqual(a.cmd("i", "FETCH 1 UID")[0], "* 1 FETCH (UID 2)")

    def test_two_sessions_share_the_index(self):
        # Issue 6, "Done means" 4: two sessions of one user share the
        # index safely. The sessions are not dumpable (doc/design.md,
        # "imap's own hardening"), so /proc/<pid> of one is root's to
        # the other: none may take the other for dead and free its
        # locks (the second session's LIST used to crash the first's
        # next APPEND inside Berkeley DB).
        for name in ("a/b/c", "a/d", "e"):
            self.ok(self.m.create(name))
        c = self.raw()
        for tag, cmd in (("a", 'LIST "" ""'), ("b", 'LIST "" %'),
                         ("c", 'LIST "a/" %'), ("d", 'LIST "" a/*')):
            self.assertTrue(c.cmd(tag, cmd)[-1].startswith(tag + " OK"))
        for box in ("e", "a/d", "INBOX"):
            self.append(box, 2)
        d = msg(9).decode()
        self.assertTrue(c.cmd("f", "APPEND e {%d+}\r\n%s" % (len(d), d))[-1]
                        .startswith("f OK [APPENDUID "))
        self.assertEqual(self.ok(self.m.status("e", "(MESSAGES)")),
                         [b'"e" (MESSAGES 3)'])
        self.assertFalse("killed by signal" in self.server.read_log(),
                         self.server.read_log()[-3000:])

    def test_pipelined_commands_answered_in_order(self):
        self.append("INBOX", 5)
        c = self.raw()
        c.send("".join("p%d FETCH %d (UID FLAGS)\r\n" % (i, i % 5 + 1)
                       for i in range(200)).join(["s SELECT INBOX\r\n",
                                                  "z NOOP\r\n"]))
        tags = []
        while True:
            line = c.readline()
            if not line.startswith("*"):
                tags.append(line.split(" ")[0])
            if line.startswith("z "):
                break
        self.assertEqual(tags, ["s"] + ["p%d" % i for i in range(200)] +
                         ["z"])


store_test_classes(globals(), MailboxTests, "TestMailbox")


class LimitTests:
    EXTRA_CONF = "max_message_size = 2k\nmail_fsync = no\n"

    def setUp(self):
        self.server = MoatServer(
            extra_conf="mail_location = %s\n%s" % (self.LOCATION,
                                                   self.EXTRA_CONF),
            listeners=("starttls",)).start()
        self.addCleanup(self.server.stop)

    def test_appendlimit(self):
        # RFC 7889: APPENDLIMIT=<n> in CAPABILITY, and NO [TOOBIG] above.
        c = raw_login(self.server)
        self.addCleanup(c.close)
        caps = c.cmd("c", "CAPABILITY")[0]
        self.assertIn(" APPENDLIMIT=2048", caps)
        self.assertEqual(c.cmd("s", "STATUS INBOX (APPENDLIMIT)")[0],
                         '* STATUS "INBOX" (APPENDLIMIT 2048)')
        lines = c.cmd("a", "APPEND INBOX {2049+}\r\n" + "x" * 2049)
        self.assertEqual(lines[-1], "a NO [TOOBIG] Message larger than "
                         "APPENDLIMIT (2048 bytes).")
        lines = c.cmd("b", "APPEND INBOX {2048+}\r\n" + "y" * 2048)
        self.assertTrue(lines[-1].startswith("b OK [APPENDUID "), lines)


store_test_classes(globals(), LimitTests, "TestLimits")


class TestSessionSettings(unittest.TestCase):
    """What moatd hands the session: %u expanded, and for mail_index =
    /DIR/%u the directory DIR/<user> made for the user, mode 0700, under
    a root-owned DIR (doc/config.md)."""

    def test_index_outside_home(self):
        base = tempfile.mkdtemp(prefix="moat-index-")
        self.addCleanup(shutil.rmtree, base, True)
        os.chmod(base, 0o755)
        server = MoatServer(extra_conf="mail_index = %s/%%u\n" % base,
                            listeners=("starttls",)).start()
        self.addCleanup(server.stop)
        m = imap_connect(server)
        self.assertEqual(m.append("INBOX", None, None, msg(1))[0], "OK")
        m.logout()
        st = os.stat(os.path.join(base, "alice"))
        self.assertTrue(stat.S_ISDIR(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o700)
        if IS_ROOT:
            self.assertEqual(st.st_uid, 5001)
        self.assertTrue(os.listdir(os.path.join(base, "alice")))
        self.assertFalse(os.path.exists(os.path.join(
            server.homes["alice"], ".moat")))

    def test_user_name_in_mail_location(self):
        # moatd puts the user's name for %u (doc/config.md).
        server = MoatServer(extra_conf="mail_location = maildir:~/Mail-%u\n",
                            listeners=("starttls",)).start()
        self.addCleanup(server.stop)
        m = imap_connect(server, "bob")
        self.assertEqual(m.append("INBOX", None, None, msg(1))[0], "OK")
        m.logout()
        self.assertTrue(os.path.isdir(os.path.join(
            server.homes["bob"], "Mail-bob", "cur")))

    def test_group_writable_parent_refused(self):
        if not IS_ROOT:
            return
        base = tempfile.mkdtemp(prefix="moat-index-")
        self.addCleanup(shutil.rmtree, base, True)
        os.chmod(base, 0o775)
        server = MoatServer(extra_conf="mail_index = %s/%%u\n" % base,
                            listeners=("starttls",)).start()
        self.addCleanup(server.stop)
        c = server.connect()
        c.readline()
        lines = c.cmd("L", "LOGIN alice secret-a")
        self.assertTrue(lines[-1].startswith("L NO "), lines)
        self.assertFalse(os.path.exists(os.path.join(base, "alice")))
        self.assertTrue(server.wait_log("must be owned by root and not "
                                        "writable by group or others"))
