"""PAM for real: pam_wrapper gives the auth process a private PAM
configuration using pam_matrix, and nss_wrapper gives its users real
uids, without touching /etc."""

import os
import time
import unittest

from moatenv import MoatServer, IS_ROOT

MULTIARCH = "/usr/lib/x86_64-linux-gnu"
PAM_WRAPPER = MULTIARCH + "/libpam_wrapper.so"
NSS_WRAPPER = MULTIARCH + "/libnss_wrapper.so"
PAM_MATRIX = MULTIARCH + "/pam_wrapper/pam_matrix.so"


@unittest.skipUnless(os.path.exists(PAM_WRAPPER) and
                     os.path.exists(NSS_WRAPPER),
                     "libpam-wrapper/libnss-wrapper not installed")
class Pam(unittest.TestCase):
    def setUp(self):
        import tempfile
        self.wrap = tempfile.mkdtemp(prefix="moat-pam-")
        os.chmod(self.wrap, 0o755)
        home = os.path.join(self.wrap, "carol")
        os.mkdir(home)
        if IS_ROOT:
            os.chown(home, 5003, 5003)
        self.home = home
        with open(os.path.join(self.wrap, "passwd"), "w") as f:
            f.write("carol:x:5003:5003:Carol:%s:/bin/false\n" % home)
            f.write("dave:x:5004:5004:Dave:%s:/bin/false\n" % home)
            f.write("root:x:0:0:root:/root:/bin/false\n")
            # The login user must exist for moatd/imap-login too.
            f.write("nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
        with open(os.path.join(self.wrap, "group"), "w") as f:
            f.write("carol:x:5003:\ndave:x:5004:\nroot:x:0:\n"
                    "mailers:x:5100:carol\nnogroup:x:65534:\n")
        passdb = os.path.join(self.wrap, "passdb")
        with open(passdb, "w") as f:
            f.write("carol:carolpw:moattest\n")
            f.write("dave:davepw:otherservice\n")
            f.write("root:rootpw:moattest\n")
        svc = os.path.join(self.wrap, "pam.d")
        os.mkdir(svc)
        with open(os.path.join(svc, "moattest"), "w") as f:
            f.write("auth required %s passdb=%s\n" % (PAM_MATRIX, passdb))
            f.write("account required %s passdb=%s\n" % (PAM_MATRIX, passdb))
        env = {"LD_PRELOAD": PAM_WRAPPER + ":" + NSS_WRAPPER,
               "PAM_WRAPPER": "1", "PAM_WRAPPER_SERVICE_DIR": svc,
               "NSS_WRAPPER_PASSWD": os.path.join(self.wrap, "passwd"),
               "NSS_WRAPPER_GROUP": os.path.join(self.wrap, "group")}
        self.srv = MoatServer(env=env, backends="pam", extra_conf="""
auth_pam_service = moattest
import_environment = TZ LD_PRELOAD PAM_WRAPPER PAM_WRAPPER_SERVICE_DIR NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
""")
        self.srv.start()

    def tearDown(self):
        self.srv.stop()
        import shutil
        shutil.rmtree(self.wrap, ignore_errors=True)

    def login(self, user, password):
        c = self.srv.connect()
        c.readline()
        return c, c.cmd("a", "LOGIN %s %s" % (user, password))[-1]

    def test_pam_login(self):
        c, line = self.login("carol", "carolpw")
        self.assertTrue(line.startswith("a OK"), line + self.srv.read_log())
        if IS_ROOT:
            deadline = time.time() + 5
            pids = []
            while not pids and time.time() < deadline:
                pids = self.srv.pids_named("imap")
                time.sleep(0.05)
            self.assertEqual(len(pids), 1)
            with open("/proc/%d/status" % pids[0]) as f:
                st = dict(l.split(":", 1) for l in f)
            self.assertEqual(st["Uid"].split(), ["5003"] * 4)
            self.assertEqual(st["Gid"].split(), ["5003"] * 4)
            # Supplementary groups come from NSS (initgroups).
            self.assertEqual(sorted(st["Groups"].split()), ["5003", "5100"])
            self.assertEqual(os.readlink("/proc/%d/cwd" % pids[0]),
                             self.home)
        c.cmd("z", "LOGOUT")

    def test_pam_wrong_password(self):
        c, line = self.login("carol", "nope")
        self.assertTrue(line.startswith("a NO [AUTHENTICATIONFAILED]"), line)

    def test_pam_unknown_user(self):
        c, line = self.login("mallory", "x")
        self.assertTrue(line.startswith("a NO [AUTHENTICATIONFAILED]"), line)

    def test_pam_other_service_refused(self):
        c, line = self.login("dave", "davepw")
        self.assertTrue(line.startswith("a NO [AUTHENTICATIONFAILED]"), line)

    def test_root_never_gets_a_session(self):
        # PAM accepts root's password, but moatd refuses uid 0.
        c, line = self.login("root", "rootpw")
        self.assertTrue(line.startswith("a NO"), line)
        self.assertEqual(self.srv.pids_named("imap"), [])


if __name__ == "__main__":
    unittest.main()
