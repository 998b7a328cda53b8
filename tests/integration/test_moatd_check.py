"""moatd -t: checks everything start-up checks (the config file, and the
programs, chroot and login user it would use, and as root who could
change the config file and the programs), then exits 0 or 1 with a
"moatd: ..." line."""

import os
import shutil
import stat
import subprocess
import unittest

from moatenv import MoatServer, BUILDDIR, IS_ROOT


class CheckBase(unittest.TestCase):
    def setUp(self):
        self.srv = MoatServer()
        self.srv._write_files()

    def tearDown(self):
        self.srv.stop()

    def check(self):
        return subprocess.run(
            [os.path.join(BUILDDIR, "master", "moatd"), "-t", "-c",
             self.srv.conf_path], capture_output=True, text=True,
            timeout=30)


class ConfigCheck(CheckBase):
    def test_good_config(self):
        p = self.check()
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_bad_setting_names_file_and_line(self):
        with open(self.srv.conf_path, "a") as f:
            f.write("no_such_setting = 1\n")
        with open(self.srv.conf_path) as f:
            line = len(f.read().splitlines())
        p = self.check()
        self.assertEqual(p.returncode, 1)
        self.assertIn("moatd: %s:%d: unknown setting 'no_such_setting'"
                      % (self.srv.conf_path, line), p.stderr)

    def test_missing_program(self):
        os.unlink(os.path.join(self.srv.dir, "libexec", "auth"))
        p = self.check()
        self.assertEqual(p.returncode, 1)
        self.assertTrue(p.stderr.startswith("moatd: "), p.stderr)
        self.assertIn("auth", p.stderr)

    @unittest.skipUnless(IS_ROOT, "the chroot is only checked as root")
    def test_writable_chroot(self):
        os.chmod(os.path.join(self.srv.dir, "empty"), 0o777)
        p = self.check()
        self.assertEqual(p.returncode, 1)
        self.assertIn("empty", p.stderr)


OTHER_UID = 5001


@unittest.skipUnless(IS_ROOT, "file ownership is only checked as root")
class TrustedFiles(CheckBase):
    """As root, moatd refuses a config file or libexec_dir program that
    someone other than root could change: group- or world-writable, not
    root's, or below such a directory (sshd's rule; a root-owned sticky
    directory such as /tmp, where the harness lives, is fine)."""

    def refused(self, *needles):
        p = self.check()
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertTrue(p.stderr.startswith("moatd: "), p.stderr)
        for n in needles:
            self.assertIn(n, p.stderr)
        return p.stderr

    def libexec(self, name=""):
        return os.path.join(self.srv.dir, "libexec", name)

    def own_copy(self, name):
        """Replaces libexec/NAME (a symlink into the build) with a copy."""
        path = self.libexec(name)
        real = os.path.realpath(path)
        os.unlink(path)
        shutil.copy(real, path)
        os.chmod(path, 0o755)
        return path

    def test_harness_files_pass(self):
        # Everything below /tmp/moat-test-*, reached through /tmp.
        self.assertEqual(self.check().returncode, 0)
        self.assertTrue(os.stat("/tmp").st_mode & stat.S_ISVTX)

    def test_group_writable_config(self):
        os.chmod(self.srv.conf_path, 0o664)
        self.refused("refusing the config file: %s is writable by group "
                     "or others" % self.srv.conf_path)

    def test_config_not_roots(self):
        os.chown(self.srv.conf_path, OTHER_UID, OTHER_UID)
        self.refused("refusing the config file: %s is owned by uid %d, "
                     "not root" % (self.srv.conf_path, OTHER_UID))

    def test_config_dir_writable(self):
        os.chmod(self.srv.dir, 0o775)
        self.refused("refusing the config file: directory %s is writable "
                     "by group or others" % self.srv.dir)

    def test_program_not_roots(self):
        path = self.own_copy("auth")
        os.chown(path, OTHER_UID, OTHER_UID)
        self.refused("refusing %s: %s is owned by uid %d, not root"
                     % (path, path, OTHER_UID))

    def test_program_group_writable(self):
        path = self.own_copy("imap-login")
        os.chmod(path, 0o775)
        self.refused("refusing %s: %s is writable by group or others"
                     % (path, path))

    def test_session_program_checked_too(self):
        path = self.own_copy("imap")
        os.chmod(path, 0o757)
        self.refused("refusing %s" % path, "writable by group or others")

    def test_libexec_dir_writable(self):
        os.chmod(self.libexec(), 0o777)
        self.refused("directory %s is writable by group or others"
                     % self.libexec().rstrip("/"))

    def test_symlink_into_writable_dir(self):
        evil = os.path.join(self.srv.dir, "evil")
        os.mkdir(evil)
        os.chmod(evil, 0o777)
        target = os.path.join(evil, "imap-login")
        shutil.copy(os.path.realpath(self.libexec("imap-login")), target)
        os.unlink(self.libexec("imap-login"))
        os.symlink(target, self.libexec("imap-login"))
        self.refused("refusing %s: directory %s is writable by group or "
                     "others" % (self.libexec("imap-login"), evil))


if __name__ == "__main__":
    unittest.main()
