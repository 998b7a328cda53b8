"""moatd reports to systemd (Type=notify, debian/moat.service) with
sd_notify(3)'s protocol: a datagram to $NOTIFY_SOCKET. READY=1 (with
MAINPID) once the listeners are bound and the children started,
RELOADING=1 then READY=1 around a SIGHUP reload, STOPPING=1 at SIGTERM.
The children never see the variable. Here the test plays systemd."""
import os
import signal
import socket
import tempfile
import shutil
import time
import unittest

from moatenv import MoatServer


class SdNotify(unittest.TestCase):

    def notify_socket(self, abstract):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        if abstract:
            name = "moat-test-notify-%d-%d" % (os.getpid(), time.time_ns())
            s.bind("\0" + name)
            return s, "@" + name
        d = tempfile.mkdtemp(prefix="moat-notify-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "notify")
        s.bind(path)
        return s, path

    def recv(self, s, timeout=10):
        s.settimeout(timeout)
        return s.recv(4096).decode()

    def run_protocol(self, abstract):
        s, env = self.notify_socket(abstract)
        server = MoatServer(listeners=("starttls",),
                            env={"NOTIFY_SOCKET": env})
        server.start()
        self.addCleanup(server.stop)
        # start() returned after a greeting: READY=1 was the first report.
        self.assertEqual(self.recv(s).split("\n"),
                         ["READY=1", "MAINPID=%d" % server.proc.pid])
        # Nothing else of ours holds it: every child's environment is
        # import_environment's.
        kids = server.descendants()
        self.assertTrue(kids)
        for pid, name in kids:
            try:
                with open("/proc/%d/environ" % pid, "rb") as f:
                    env_block = f.read()
            except OSError:
                continue
            self.assertNotIn(b"NOTIFY_SOCKET", env_block, name)
        os.kill(server.proc.pid, signal.SIGHUP)
        self.assertEqual(self.recv(s), "RELOADING=1")
        self.assertEqual(self.recv(s), "READY=1")
        self.assertTrue(server.wait_log("configuration reloaded", 10))
        server.stop()
        self.assertEqual(self.recv(s), "STOPPING=1")

    def test_path_socket(self):
        self.run_protocol(abstract=False)

    def test_abstract_socket(self):
        self.run_protocol(abstract=True)

    def test_no_socket_no_report(self):
        # Without NOTIFY_SOCKET (or with a relative one, which systemd
        # never sets) moatd runs as before.
        server = MoatServer(listeners=("starttls",),
                            env={"NOTIFY_SOCKET": "relative/notify"})
        server.start()
        self.addCleanup(server.stop)
        c = server.connect()
        self.assertTrue(c.readline().startswith("* OK"))
        c.sock.close()


if __name__ == "__main__":
    unittest.main()
