"""moatd -t: checks everything start-up checks (the config file, and the
programs, chroot and login user it would use), then exits 0 or 1 with a
"moatd: ..." line."""

import os
import subprocess
import unittest

from moatenv import MoatServer, BUILDDIR, IS_ROOT


class ConfigCheck(unittest.TestCase):
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


if __name__ == "__main__":
    unittest.main()
