"""Edges of the mail store through a real moatd, on Maildir and mbox:

- CREATE of a name whose parents do not exist (RFC 3501 §6.3.3: the
  server SHOULD create the superior names needed; Maildir++ keeps
  `.a.b.c` flat, so its parents are implicit and LIST shows them as
  \\Noselect, or \\NonExistent to LIST-EXTENDED (RFC 5258 §3), as
  Dovecot does; mbox makes them directories, which are \\Noselect);
- mailbox names that could leave the mail root or are not names (issue
  6: no "..", no absolute paths, no control characters, depth and length
  limits) and a symlink in the mail root pointing outside it: refused
  with a response code, and nothing outside the root is touched;
- a full file system (a small tmpfs as the mail root, by size and by
  inodes; root only): APPEND gives NO [OVERQUOTA] (RFC 5530, RFC 9051
  §7.1), every earlier message is intact, and once space is freed
  APPEND works again.
"""

import os
import re
import subprocess
import time
import unittest

from moatenv import (IS_ROOT, USERS, MoatServer, as_user, imap_connect,
                     raw_login, store_test_classes)

CODE = re.compile(r"^t (NO|BAD) \[[A-Z-]+\] ")


def msg(i, size=0):
    head = (b"From: a@example.org\r\nSubject: edge %d\r\n"
            b"Message-ID: <edge%d@example.org>\r\n\r\n" % (i, i))
    line = b"%07d" % i + b"x" * 70 + b"\r\n"
    return head + line * max(1, size // len(line))


class Base:
    LOCATION = None
    MOUNT = None      # the tmpfs options, for the disk-full tests

    def setUp(self):
        location = self.LOCATION
        if self.MOUNT and self.STORE == "mbox":
            location = "mbox:~/mail"     # INBOX in the root: on the tmpfs
        self.server = MoatServer(
            extra_conf="mail_location = %s\nmail_fsync = yes\n" %
            location, listeners=("starttls",)).start()
        self.home = self.server.homes["alice"]
        self.root = os.path.join(self.home, "Maildir" if
                                 self.STORE == "maildir" else "mail")
        if self.MOUNT:
            self.mount(self.MOUNT)
        else:
            self.addCleanup(self.server.stop)
        self.c = raw_login(self.server)
        self.addCleanup(self.c.close)

    def cmd(self, text):
        return self.c.cmd("t", text)

    def append(self, data, box="INBOX"):
        return self.cmd("APPEND %s {%d+}\r\n%s" % (box, len(data),
                                                  data.decode()))[-1]

    # -- a small file system as the mail root (root only) ----------------
    def mount(self, opts):
        os.mkdir(self.root, 0o700)
        os.chown(self.root, USERS["alice"][1], USERS["alice"][1])
        subprocess.run(["mount", "-t", "tmpfs", "-o",
                        "%s,mode=0700,uid=%d,gid=%d" % (
                            opts, USERS["alice"][1], USERS["alice"][1]),
                        "moat-test", self.root], check=True)

        def unmount():
            # moatd first (its sessions hold files open), then the
            # mount, then the test directory.
            if self.server.proc.poll() is None:
                self.server.proc.terminate()
                self.server.proc.wait(timeout=10)
            r = subprocess.run(["umount", self.root])
            if r.returncode != 0:
                subprocess.run(["umount", "-l", self.root])
            self.server.stop()

        self.addCleanup(unmount)


class HierarchyTests(Base):
    def test_create_with_missing_parents(self):
        self.assertEqual(self.cmd("CREATE a/b/c")[-1], "t OK CREATE completed.")
        self.assertEqual(self.cmd('LIST "" a*'),
                         ['* LIST (\\Noselect \\HasChildren) "/" "a"',
                          '* LIST (\\Noselect \\HasChildren) "/" "a/b"',
                          '* LIST (\\HasNoChildren) "/" "a/b/c"',
                          "t OK LIST completed."])
        # RFC 5258 §3: \NonExistent "MUST be accurately computed": a
        # Maildir++ parent is nothing on disk, an mbox one a directory.
        parent = ("\\NonExistent" if self.STORE == "maildir"
                  else "\\Noselect")
        self.assertEqual(self.cmd('LIST () "" a*')[:2],
                         ['* LIST (%s \\HasChildren) "/" "a"' % parent,
                          '* LIST (%s \\HasChildren) "/" "a/b"' % parent])
        self.assertEqual(self.cmd('LIST "" a RETURN (CHILDREN)')[0],
                         '* LIST (%s \\HasChildren) "/" "a"' % parent)
        self.assertEqual(self.cmd("SELECT a/b")[-1],
                         "t NO [NONEXISTENT] Mailbox does not exist.")
        self.assertTrue(self.append(msg(1), "a/b/c").startswith(
            "t OK [APPENDUID "))
        # RFC 9051 §6.3.4: a \Noselect name with inferiors cannot go.
        self.assertTrue(CODE.match(self.cmd("DELETE a/b")[-1]))
        if self.STORE == "maildir":
            self.assertFalse(os.path.exists(os.path.join(self.root, ".a")))
            self.assertTrue(os.path.isdir(os.path.join(self.root,
                                                       ".a.b.c", "cur")))
            # A parent can become a mailbox later (Dovecot: the same).
            self.assertEqual(self.cmd("CREATE a")[-1],
                             "t OK CREATE completed.")
            self.assertEqual(self.cmd('LIST "" a')[0],
                             '* LIST (\\HasChildren) "/" "a"')
            self.assertTrue(self.cmd("SELECT a")[-1].startswith("t OK"))
        else:
            self.assertTrue(os.path.isdir(os.path.join(self.root, "a",
                                                       "b")))
            # In mbox a folder is a file: "a" is a directory already.
            self.assertEqual(self.cmd("CREATE a")[-1],
                             "t NO [ALREADYEXISTS] Mailbox already "
                             "exists.")


store_test_classes(globals(), HierarchyTests, "TestHierarchy")


class NameTests(Base):
    BAD = ['..', '.', '"a/./b"', '"a/../b"', '"../x"', '"/abs"',
           '"/etc/passwd"', '"a//b"', '"~root/x"',
           '{3+}\r\na\x01b', '{3+}\r\na\x7fb', '{3+}\r\na\x1bb',
           '"a\tb"', 'x' * 256, '/'.join(['d'] * 17)]

    def test_bad_names_refused_with_a_code(self):
        for name in self.BAD:
            for verb in ("CREATE %s", "SELECT %s", "STATUS %s (MESSAGES)",
                         "DELETE %s", "RENAME INBOX %s", "SUBSCRIBE %s"):
                line = self.cmd(verb % name)[-1]
                self.assertTrue(CODE.match(line), (verb % name, line))
            line = self.cmd("APPEND %s {1+}\r\nx" % name)[-1]
            self.assertTrue(CODE.match(line), (name, line))
        # The limits themselves are allowed: 16 levels.
        self.assertEqual(self.cmd("CREATE " + "/".join(["d"] * 16))[-1],
                         "t OK CREATE completed.")
        # Nothing was made outside the root, nor odd names inside it.
        for entry in os.listdir(self.home):
            self.assertIn(entry, (".moat", "Maildir", "mail", "inbox"))
        for entry in os.listdir(self.root):
            self.assertFalse(".." in entry.lstrip(".") or "\x01" in entry,
                             entry)


store_test_classes(globals(), NameTests, "TestNames")


class SymlinkTests(Base):
    def test_symlink_out_of_the_root(self):
        # The user (or anyone who could) plants symlinks in the mail
        # root: to a directory outside, and (mbox) to a file outside.
        outside = os.path.join(self.server.dir, "outside")
        secret = os.path.join(self.server.dir, "secret")
        self.cmd('LIST "" INBOX')          # the root exists now
        os.mkdir(outside)
        os.chmod(outside, 0o777)
        with open(secret, "wb") as f:
            f.write(b"From x Mon Jan  1 00:00:00 2024\nSubject: s\n\nsecret\n")
        os.chmod(secret, 0o666)
        md = self.STORE == "maildir"

        def plant():
            os.symlink(outside, os.path.join(self.root,
                                             ".evil" if md else "evil"))
            if not md:
                os.symlink(secret, os.path.join(self.root, "leak"))
            else:
                os.mkdir(os.path.join(self.root, ".half"))
                for sub in ("new", "tmp"):
                    os.mkdir(os.path.join(self.root, ".half", sub))
                os.symlink(outside, os.path.join(self.root, ".half", "cur"))

        as_user(plant)
        st0 = os.stat(secret)
        for name in ("evil", "leak", "half"):
            for verb in ("SELECT %s", "EXAMINE %s", "STATUS %s (MESSAGES)",
                         "DELETE %s"):
                line = self.cmd(verb % name)[-1]
                self.assertTrue(CODE.match(line), (verb % name, line))
            line = self.cmd("APPEND %s {1+}\r\nx" % name)[-1]
            self.assertTrue(CODE.match(line), (name, line))
            # Whatever these answer, they must stay in the root.
            self.cmd("CREATE %s" % name)
            self.cmd("CREATE %s/sub" % name)
            self.cmd("RENAME %s moved-%s" % (name, name))
            self.cmd("RENAME INBOX %s/x" % name)
        # A symlink is never a mailbox (at most a \Noselect parent of
        # real folders the commands above made inside the root).
        lines = self.cmd('LIST "" *')
        for name in ("evil", "leak", "half"):
            self.assertNotIn('* LIST (\\HasNoChildren) "/" "%s"' % name,
                             lines)
            self.assertNotIn('* LIST (\\HasChildren) "/" "%s"' % name,
                             lines)
        self.assertEqual(os.listdir(outside), [])
        with open(secret, "rb") as f:
            self.assertIn(b"secret", f.read())
        st1 = os.stat(secret)
        self.assertEqual((st0.st_size, st0.st_mtime_ns),
                         (st1.st_size, st1.st_mtime_ns))
        self.assertTrue(os.path.islink(os.path.join(
            self.root, ".evil" if md else "evil")))


store_test_classes(globals(), SymlinkTests, "TestSymlinks")


NOT_ROOT = ("mounting a tmpfs as the mail root needs root (scripts/check "
            "runs as root; MOAT_REQUIRE_ROOT_TESTS=1 fails on this skip)")


@unittest.skipUnless(IS_ROOT, NOT_ROOT)
class DiskFullBySizeTests(Base):
    MOUNT = "size=512k"

    def test_append_that_does_not_fit(self):
        self.cmd('LIST "" INBOX')
        kept = []
        for i in range(1, 6):       # about 300 kB of 512
            self.assertTrue(self.append(msg(i, 60000)).startswith(
                "t OK [APPENDUID "))
            kept.append(msg(i, 60000))
        big = msg(9, 300000)
        self.assertEqual(self.append(big),
                         "t NO [OVERQUOTA] Out of disk space or quota.")
        # MULTIAPPEND is all or nothing (RFC 3502 §6.3.11).
        small = msg(10).decode()
        bigs = big.decode()
        line = self.cmd("APPEND INBOX {%d+}\r\n%s {%d+}\r\n%s" % (
            len(small), small, len(bigs), bigs))[-1]
        self.assertEqual(line, "t NO [OVERQUOTA] Out of disk space or quota.")
        self.check_intact(kept)
        if self.STORE == "maildir":
            self.assertEqual(os.listdir(os.path.join(self.root, "tmp")), [])
        else:
            # COPY writes the bytes again in mbox (Maildir links them):
            # all or nothing, like APPEND.
            self.cmd("SELECT INBOX")
            self.assertEqual(self.cmd("COPY 1:5 Archive")[-1],
                             "t NO [OVERQUOTA] Out of disk space or quota.")
            self.assertEqual(self.cmd("STATUS Archive (MESSAGES)")[0],
                             '* STATUS "Archive" (MESSAGES 0)')
            self.assertEqual(os.path.getsize(os.path.join(self.root,
                                                          "Archive")), 0)
        # Free space: expunge the last three, and the big one fits.
        self.cmd("SELECT INBOX")
        self.assertEqual(self.cmd("STORE 3:5 +FLAGS.SILENT (\\Deleted)")[-1],
                         "t OK STORE completed.")
        self.assertEqual(self.cmd("EXPUNGE")[-1], "t OK EXPUNGE completed.")
        self.assertTrue(self.append(big).startswith("t OK [APPENDUID "),
                        self.server.read_log()[-2000:])
        self.check_intact(kept[:2] + [big])

    def check_intact(self, want):
        m = imap_connect(self.server)
        try:
            m.select("INBOX", readonly=True)
            typ, data = m.fetch("1:*", "(BODY.PEEK[])")
            self.assertEqual(typ, "OK")
            self.assertEqual([d[1] for d in data if isinstance(d, tuple)],
                             want)
        finally:
            m.logout()


store_test_classes(globals(), DiskFullBySizeTests, "TestDiskFullSize")


@unittest.skipUnless(IS_ROOT, NOT_ROOT)
class DiskFullByInodesTests(Base):
    MOUNT = "nr_inodes=48"

    def test_no_inode_left(self):
        self.cmd('LIST "" INBOX')
        self.assertTrue(self.append(msg(1)).startswith("t OK [APPENDUID "))
        # Use up the inodes with folders (one inode each in mbox, five
        # in Maildir++) and, in Maildir, messages (one each).
        for i in range(60):
            line = self.cmd("CREATE f%d" % i)[-1]
            if line != "t OK CREATE completed.":
                break
        self.assertEqual(line, "t NO [OVERQUOTA] Out of disk space or "
                         "quota.")
        for i in range(2, 60):
            line = self.append(msg(i))
            if not line.startswith("t OK"):
                break
        n = i - 1
        # An mbox APPEND needs an inode too: for its dotlock.
        self.assertEqual(line, "t NO [OVERQUOTA] Out of disk space or "
                         "quota.")
        self.assertEqual(os.statvfs(self.root).f_favail, 0)
        m = imap_connect(self.server)
        m.select("INBOX", readonly=True)
        typ, data = m.fetch("1:*", "(BODY.PEEK[])")
        m.logout()
        self.assertEqual([d[1] for d in data if isinstance(d, tuple)],
                         [msg(i) for i in range(1, n + 1)])
        if self.STORE == "maildir":
            self.assertEqual(self.cmd("DELETE f0")[-1],
                             "t OK DELETE completed.")
        else:
            # Every mbox write takes a dotlock, DELETE too: with no
            # inode left it cannot; the user frees one by hand.
            self.assertEqual(self.cmd("DELETE f0")[-1],
                             "t NO [OVERQUOTA] Out of disk space or "
                             "quota.")
            # One inode: liblockfile's temporary file takes it, and its
            # link(2) to the dotlock fails (tmpfs charges an inode per
            # link): still OVERQUOTA at once, not a lock "held" for
            # 30 s and then INUSE.
            as_user(lambda: os.unlink(os.path.join(self.root, "f0")))
            t0 = time.time()
            self.assertEqual(self.append(msg(99)), "t NO [OVERQUOTA] Out "
                             "of disk space or quota.")
            self.assertLess(time.time() - t0, 5)
            as_user(lambda: os.unlink(os.path.join(self.root, "f1")))
        self.assertTrue(self.append(msg(99)).startswith("t OK [APPENDUID "))


store_test_classes(globals(), DiskFullByInodesTests, "TestDiskFullInodes")


if __name__ == "__main__":
    unittest.main()
