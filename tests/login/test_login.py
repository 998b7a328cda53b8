#!/usr/bin/env python3
"""imap-login end to end against a fake moatd (tests/login/fakemoatd.py):
the not-authenticated state (RFC 9051 §6.1-6.2), SASL (RFC 4616, 4959),
STARTTLS (RFC 2595 / 9051 §6.2.1, including the command-injection
defence), limits (RFC 7888 §4, RFC 5530 codes), the hand-off of pipelined
bytes, the TLS proxy, the IPC contract with moatd, and privilege drop.

Run from the build directory (make check does), or set MOAT_BUILDDIR.
"""

import base64
import os
import socket
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakemoatd  # noqa: E402
from fakemoatd import (FakeMoatd, SECURED, TLS_ACTIVE, ST_LIMIT,  # noqa
                       ST_THROTTLED, ST_TEMPFAIL, encode)

BINARY = os.path.join(fakemoatd.BUILDDIR, "imap-login", "imap-login")


def caps_of(line):
    start = line.index("[CAPABILITY ") + len("[CAPABILITY ")
    return line[start:line.index("]", start)].split()


def plain(authz, user, password):
    return base64.b64encode(("%s\0%s\0%s" % (authz, user, password))
                            .encode()).decode()


class LoginTest(unittest.TestCase):
    conf = "preauth_max_line = 2k\npreauth_max_literal = 1k\n" \
           "preauth_max_bad_commands = 5\n"
    kwargs = {}

    def setUp(self):
        self.m = FakeMoatd(extra_conf=self.conf, **self.kwargs).start()
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        self.m.stop()

    def connect(self, mode="plain"):
        c = self.m.connect(mode)
        self.clients.append(c)
        return c

    def greeted(self, mode="plain"):
        c = self.connect(mode)
        g = c.readline()
        self.assertTrue(g.startswith("* OK [CAPABILITY "), g)
        return c


class Greeting(LoginTest):
    def test_plain_caps(self):
        c = self.connect()
        caps = caps_of(c.readline())
        for want in ("IMAP4rev1", "SASL-IR", "ID", "ENABLE", "LITERAL+",
                     "STARTTLS", "AUTH=PLAIN", "AUTH=LOGIN"):
            self.assertIn(want, caps)
        self.assertNotIn("LOGINDISABLED", caps)

    def test_implicit_tls_caps(self):
        c = self.connect("tls")
        caps = caps_of(c.readline())
        self.assertNotIn("STARTTLS", caps)
        self.assertIn("AUTH=PLAIN", caps)

    def test_connect_debug_and_conn_done(self):
        c = self.greeted()
        c.cmd("a", "LOGOUT")
        self.assertTrue(c.read_eof())
        self.assertTrue(self.m.wait_for(lambda: len(self.m.conn_done) == 1))
        self.assertEqual(self.m.conn_done, list(self.m.conns))


class Insecure(LoginTest):
    kwargs = {"secured": False}

    def test_logindisabled_and_privacyrequired(self):
        c = self.connect()
        caps = caps_of(c.readline())
        self.assertIn("LOGINDISABLED", caps)
        self.assertNotIn("AUTH=PLAIN", caps)
        line = c.cmd("a", "LOGIN alice secret-a")[-1]
        self.assertTrue(line.startswith("a NO [PRIVACYREQUIRED]"), line)
        line = c.cmd("b", "AUTHENTICATE PLAIN " +
                     plain("", "alice", "secret-a"))[-1]
        self.assertTrue(line.startswith("b NO [PRIVACYREQUIRED]"), line)
        self.assertEqual(self.m.auth_reqs, [])
        self.assertEqual(c.cmd("c", "STARTTLS")[-1],
                         "c OK Begin TLS negotiation now.")
        c.starttls()
        lines = c.cmd("d", "CAPABILITY")
        self.assertNotIn("LOGINDISABLED", lines[0])
        self.assertNotIn("STARTTLS", lines[0])
        self.assertIn("AUTH=PLAIN", lines[0])
        line = c.cmd("e", "LOGIN alice secret-a")[-1]
        self.assertTrue(line.startswith("e OK"), line)
        req = self.m.session_reqs[-1]
        self.assertEqual(req["flags"], SECURED | TLS_ACTIVE)


class NoStarttlsFlag(LoginTest):
    kwargs = {"starttls_flag": False}

    def test_starttls_not_offered(self):
        c = self.connect()
        self.assertNotIn("STARTTLS", caps_of(c.readline()))
        line = c.cmd("a", "STARTTLS")[-1]
        self.assertEqual(line, "a BAD STARTTLS not available.")


class Commands(LoginTest):
    def test_capability_noop_id(self):
        c = self.greeted()
        lines = c.cmd("a1", "CAPABILITY")
        self.assertTrue(lines[0].startswith("* CAPABILITY IMAP4rev1 "))
        self.assertTrue(lines[-1].startswith("a1 OK"))
        self.assertTrue(c.cmd("a2", "CAPABILITY x")[-1].startswith("a2 BAD"))
        self.assertEqual(c.cmd("x", "noop"), ["x OK NOOP completed."])
        lines = c.cmd("i", 'ID ("name" "tester" "version" "1")')
        self.assertTrue(lines[0].startswith('* ID ("name" "Moat"'), lines)
        self.assertTrue(lines[-1].startswith("i OK"))
        self.assertTrue(self.m.wait_log('"tester"'))

    def test_logout(self):
        c = self.greeted()
        self.assertEqual(c.cmd("z", "LOGOUT"),
                         ["* BYE Logging out", "z OK Logout completed."])
        self.assertTrue(c.read_eof())

    def test_state_errors(self):
        c = self.greeted()
        for cmd in ("SELECT INBOX", "LIST \"\" *", "ENABLE UTF8=ACCEPT",
                    "UID FETCH 1 FLAGS"):
            line = c.cmd("s", cmd)[-1]
            self.assertEqual(line, "s BAD Command not valid in this state "
                             "(log in first).")
        self.assertEqual(c.cmd("u", "FROB")[-1], "u BAD Unknown command.")

    def test_parse_errors(self):
        c = self.greeted()
        c.send("\r\n")
        self.assertTrue(c.readline().startswith("* BAD"))
        c.send("+a NOOP\r\n")
        self.assertTrue(c.readline().startswith("* BAD"))
        c.send("onlytag\r\n")
        self.assertTrue(c.readline().startswith("onlytag BAD"))

    def test_bad_limit(self):
        c = self.greeted()
        for i in range(4):
            self.assertTrue(c.cmd("b%d" % i, "BOGUS")[-1].startswith("b%d BAD"
                                                                      % i))
        c.send("b5 BOGUS\r\n")
        self.assertTrue(c.read_eof())
        self.assertIn(b"b5 BAD", c.buf)
        self.assertIn(b"* BYE Too many invalid commands.", c.buf)

    def test_line_too_long(self):
        # Answered as soon as the limit is passed (no CRLF sent), then
        # the connection is closed: the rest of the line is never read.
        c = self.greeted()
        c.send("t1 NOOP " + "x" * 5000)
        c.sock.settimeout(3)
        self.assertEqual(c.readline(), "t1 BAD [TOOBIG] Line too long.")
        self.assertEqual(c.readline(), "* BYE [TOOBIG] Line too long.")
        self.assertTrue(c.read_eof(3))

    def test_literals(self):
        c = self.greeted()
        c.send("t1 LOGIN {5000}\r\n")
        self.assertEqual(c.readline(), "t1 BAD [TOOBIG] Literal too big.")
        c.send("a LOGIN {5}\r\n")
        self.assertTrue(c.readline().startswith("+ "))
        c.send("alice {8}\r\n")
        self.assertTrue(c.readline().startswith("+ "))
        c.send("secret-a\r\n")
        self.assertTrue(c.readline().startswith("a OK [CAPABILITY"))
        self.assertEqual(self.m.auth_reqs[-1][:2], ("alice", "secret-a"))

    def test_nonsync_literal_too_big(self):
        c = self.greeted()
        c.send("t1 LOGIN {5000+}\r\n" + "x" * 100)
        self.assertEqual(c.readline(), "* BYE [TOOBIG] Literal too big.")
        self.assertTrue(c.read_eof())

    def test_client_eof_still_gets_answers(self):
        c = self.greeted()
        c.send("a NOOP\r\nb CAPABILITY\r\n")
        c.sock.shutdown(socket.SHUT_WR)
        self.assertTrue(c.read_eof())
        self.assertIn(b"a OK", c.buf)
        self.assertIn(b"b OK", c.buf)
        self.assertTrue(self.m.wait_for(lambda: len(self.m.conn_done) == 1))


class Login(LoginTest):
    def test_login_pipelined_handoff(self):
        c = self.greeted()
        c.send("p NOOP\r\na LOGIN alice secret-a\r\nb NOOP\r\n"
               "c LOGOUT\r\n")
        lines = c.until("c")
        self.assertEqual([l.split()[0] for l in lines],
                         ["p", "a", "b", "*", "c"], lines)
        self.assertTrue(c.read_eof())
        req = self.m.session_reqs[0]
        self.assertTrue(req["cookie_ok"])
        self.assertEqual(req["tag"], "a")
        self.assertEqual(req["pipelined"], b"b NOOP\r\nc LOGOUT\r\n")
        self.assertEqual(req["flags"], SECURED)
        self.assertEqual(self.m.auth_reqs[0], ("alice", "secret-a",
                                               "127.0.0.1"))
        # moatd counts pre-auth connections: CONN_DONE once the
        # session has the socket.
        self.assertTrue(self.m.wait_for(lambda: len(self.m.conn_done) == 1))

    def test_failed_logins(self):
        m = self.m
        m.auth_delay = 0.1
        c = self.greeted()
        t0 = time.time()
        l1 = c.cmd("a", "LOGIN alice wrong")[-1]
        self.assertGreaterEqual(time.time() - t0, 0.09)
        l2 = c.cmd("b", "LOGIN nosuch wrong")[-1]
        self.assertEqual(l1, "a NO [AUTHENTICATIONFAILED] Authentication "
                         "failed.")
        self.assertEqual(l1[2:], l2[2:])
        c.send("c LOGIN x y\r\n")
        self.assertTrue(c.read_eof())
        self.assertIn(b"c NO [AUTHENTICATIONFAILED]", c.buf)
        self.assertIn(b"* BYE Too many failed logins.", c.buf)
        self.assertTrue(m.wait_log("Aborted login (auth failed, 3 "
                                   "attempts"))

    def test_failure_delay_is_waited_out(self):
        # Issue 5, finding 3: auth answers a failure at once with the
        # delay left; imap-login holds the client's answer (and its
        # further commands) back that long.
        self.m.failure_delay_ms = 400
        c = self.greeted()
        t0 = time.time()
        c.send("a LOGIN alice wrong\r\nb NOOP\r\n")
        line = c.readline()
        self.assertGreaterEqual(time.time() - t0, 0.39)
        self.assertEqual(line, "a NO [AUTHENTICATIONFAILED] Authentication "
                         "failed.")
        self.assertEqual(c.readline(), "b OK NOOP completed.")
        # Whatever the failure.
        self.m.auth_status = ST_TEMPFAIL
        t0 = time.time()
        line = c.cmd("c", "LOGIN alice secret-a")[-1]
        self.assertGreaterEqual(time.time() - t0, 0.39)
        self.assertTrue(line.startswith("c NO [UNAVAILABLE]"), line)

    def test_commands_while_auth_pending_wait(self):
        # Input after LOGIN is not run by imap-login while auth works.
        self.m.auth_delay = 0.3
        c = self.greeted()
        c.send("a LOGIN alice wrong\r\nb NOOP\r\n")
        self.assertEqual(c.readline().split()[0:2], ["a", "NO"])
        self.assertEqual(c.readline(), "b OK NOOP completed.")

    def test_throttled_tempfail(self):
        c = self.greeted()
        self.m.auth_status = ST_THROTTLED
        line = c.cmd("a", "LOGIN alice secret-a")[-1]
        self.assertTrue(line.startswith("a NO [UNAVAILABLE]"), line)
        self.m.auth_status = ST_TEMPFAIL
        line = c.cmd("b", "LOGIN alice secret-a")[-1]
        self.assertEqual(line, "b NO [UNAVAILABLE] Authentication service "
                         "unavailable.")

    def test_session_limit_then_retry(self):
        self.m.session_status = ST_LIMIT
        c = self.greeted()
        self.assertEqual(c.cmd("a", "LOGIN alice secret-a")[-1],
                         "a NO [LIMIT] Too many sessions.")
        self.assertEqual(c.cmd("b", "NOOP")[-1], "b OK NOOP completed.")
        self.m.session_status = 0
        self.assertTrue(c.cmd("c", "LOGIN alice secret-a")[-1]
                        .startswith("c OK"))

    def test_overlong_user(self):
        c = self.greeted()
        line = c.cmd("a", "LOGIN %s x" % ("u" * 300))[-1]
        self.assertTrue(line.startswith("a NO [AUTHENTICATIONFAILED]"))
        self.assertEqual(self.m.auth_reqs, [])

    def test_bad_login_syntax(self):
        c = self.greeted()
        for args in ("", "onlyuser", "a b c", '"unterminated'):
            line = c.cmd("l", "LOGIN " + args)[-1]
            self.assertTrue(line.startswith("l BAD"), (args, line))


class Sasl(LoginTest):
    def test_plain_ir(self):
        c = self.greeted()
        line = c.cmd("a", "AUTHENTICATE PLAIN " +
                     plain("", "alice", "secret-a"))[-1]
        self.assertTrue(line.startswith("a OK"), line)

    def test_plain_continuation(self):
        c = self.greeted()
        c.send("a AUTHENTICATE PLAIN\r\n")
        self.assertEqual(c.readline(), "+ ")
        c.send(plain("alice", "alice", "secret-a") + "\r\nb NOOP\r\n")
        self.assertTrue(c.readline().startswith("a OK"))
        self.assertEqual(self.m.session_reqs[0]["pipelined"],
                         b"b NOOP\r\n")

    def test_login_mech(self):
        c = self.greeted()
        c.send("a AUTHENTICATE LOGIN\r\n")
        self.assertEqual(c.readline(), "+ VXNlcm5hbWU6")
        c.send(base64.b64encode(b"bob").decode() + "\r\n")
        self.assertEqual(c.readline(), "+ UGFzc3dvcmQ6")
        c.send(base64.b64encode(b"secret-b").decode() + "\r\n")
        self.assertTrue(c.readline().startswith("a OK"))
        self.assertEqual(self.m.auth_reqs[0][:2], ("bob", "secret-b"))

    def test_errors(self):
        c = self.greeted()
        c.send("a AUTHENTICATE PLAIN\r\n")
        c.readline()
        c.send("*\r\n")
        self.assertEqual(c.readline(), "a BAD Authentication canceled.")
        self.assertEqual(c.cmd("b", "AUTHENTICATE PLAIN !!!!")[-1],
                         "b BAD Invalid base64 data.")
        line = c.cmd("c", "AUTHENTICATE PLAIN " +
                     plain("bob", "alice", "secret-a"))[-1]
        self.assertTrue(line.startswith("c NO [AUTHORIZATIONFAILED]"), line)
        self.assertEqual(c.cmd("d", "AUTHENTICATE CRAM-MD5")[-1],
                         "d NO Unsupported authentication mechanism.")
        self.assertEqual(c.cmd("e", "AUTHENTICATE PLAIN =")[-1],
                         "e BAD Invalid SASL response.")
        self.assertEqual(self.m.auth_reqs, [])
        self.assertEqual(c.cmd("f", "NOOP")[-1], "f OK NOOP completed.")

    def test_response_line_too_long(self):
        # A SASL response line over the limit: answered before its CRLF,
        # then the connection is closed.
        c = self.greeted()
        c.send("a AUTHENTICATE PLAIN\r\n")
        self.assertEqual(c.readline(), "+ ")
        c.send("QUFB" * 1000)
        c.sock.settimeout(3)
        self.assertEqual(c.readline(), "a BAD [TOOBIG] Line too long.")
        self.assertEqual(c.readline(), "* BYE [TOOBIG] Line too long.")
        self.assertTrue(c.read_eof(3))
        self.assertEqual(self.m.auth_reqs, [])


class StartTls(LoginTest):
    def test_injection_discarded(self):
        c = self.greeted()
        c.send("a STARTTLS\r\nb LOGIN alice secret-a\r\n")
        self.assertEqual(c.readline(), "a OK Begin TLS negotiation now.")
        self.assertEqual(c.buf, b"")
        c.starttls()
        c.sock.settimeout(0.5)
        try:
            data = c.sock.recv(1000)
        except (socket.timeout, TimeoutError, ssl.SSLError):
            data = b""
        self.assertEqual(data, b"")
        c.sock.settimeout(10)
        self.assertEqual(self.m.auth_reqs, [])
        lines = c.cmd("c", "STARTTLS")
        self.assertEqual(lines[-1], "c BAD TLS is already active.")

    def test_tls_garbage_handshake(self):
        c = self.connect("plain")
        c.readline()
        c.cmd("a", "STARTTLS")
        c.send(b"\x16\x03\x01\x00\x05hello this is no TLS\r\n")
        self.assertTrue(c.read_eof())
        self.assertTrue(self.m.wait_log("TLS handshake failed"))
        self.assertTrue(self.m.wait_for(lambda: len(self.m.conn_done) == 1))


class Proxy(LoginTest):
    def test_implicit_tls_proxy_big_both_ways(self):
        c = self.greeted("tls")
        c.send("a LOGIN alice secret-a\r\nb NOOP\r\n")
        self.assertTrue(c.readline().startswith("a OK [CAPABILITY"))
        self.assertEqual(c.readline(), "b OK NOOP done")
        req = self.m.session_reqs[0]
        self.assertEqual(req["flags"], SECURED | TLS_ACTIVE)
        # session -> client: 1 MB; client -> session: 300 kB line.
        lines = c.cmd("c", "BIG 1000000")
        self.assertEqual(len(lines[0]), len("* BIG ") + 1000000)
        lines = c.cmd("d", "SIZE " + "y" * 300000)
        self.assertEqual(lines[0], "* SIZE 300000")
        # CONN_DONE right after the hand-off, while the proxy runs.
        self.assertTrue(self.m.wait_for(lambda: len(self.m.conn_done) == 1))
        lines = c.cmd("e", "LOGOUT")
        self.assertEqual(lines[-1], "e OK Logout done")
        self.assertTrue(c.read_eof())

    def test_shutdown_waits_for_proxy(self):
        c = self.greeted("tls")
        self.assertTrue(c.cmd("a", "LOGIN bob secret-b")[-1]
                        .startswith("a OK"))
        self.m.send_shutdown()
        time.sleep(0.3)
        self.assertIsNone(self.m.proc.poll())
        # A new connection after SHUTDOWN is closed at once.
        n = self.connect("plain")
        self.assertTrue(n.read_eof())
        self.assertEqual(c.cmd("b", "NOOP")[-1], "b OK NOOP done")
        c.cmd("c", "LOGOUT")
        self.assertTrue(c.read_eof())
        self.m.proc.wait(5)
        self.assertEqual(self.m.proc.returncode, 0)
        # The fake moatd's thread may read the last CONN_DONE only after
        # the process has exited: wait for it (a missing one still fails).
        self.assertTrue(self.m.wait_for(
            lambda: sorted(self.m.conn_done) == sorted(self.m.conns)),
            "CONN_DONE %r for connections %r" % (self.m.conn_done,
                                                 sorted(self.m.conns)))


class Timeout(LoginTest):
    conf = "preauth_timeout = 1s\n"

    def test_preauth_timeout(self):
        c = self.greeted()
        t0 = time.time()
        self.assertTrue(c.read_eof(timeout=5))
        self.assertLess(time.time() - t0, 3)
        self.assertIn(b"* BYE Disconnected for inactivity.", c.buf)

    def test_tls_handshake_timeout(self):
        c = self.connect("plain")
        c.readline()
        c.cmd("a", "STARTTLS")
        self.assertTrue(c.read_eof(timeout=5))


class PerConnection(LoginTest):
    conf = "login_per_connection = yes\n"

    def test_exits_after_first(self):
        c = self.greeted()
        c.cmd("a", "LOGOUT")
        self.m.proc.wait(5)
        self.assertEqual(self.m.proc.returncode, 0)
        # The mock master's reader may take in CONN_DONE a moment
        # after the process is gone.
        self.assertTrue(self.m.wait_for(
            lambda: self.m.conn_done == list(self.m.conns)),
            (self.m.conn_done, self.m.conns))


class Ipc(LoginTest):
    def test_malformed_message_is_fatal(self):
        self.m.send(b"\x00\x01garbage")
        self.m.proc.wait(5)
        self.assertEqual(self.m.proc.returncode, 89)

    def test_unexpected_type_is_fatal(self):
        self.m.send(encode(fakemoatd.IPC_AUTH_REQ, 1, [
            (fakemoatd.F_STR, "a"), (fakemoatd.F_STR, "b"),
            (fakemoatd.F_STR, "c")]))
        self.m.proc.wait(5)
        self.assertEqual(self.m.proc.returncode, 89)

    def test_conn_with_bad_flags_is_fatal(self):
        a, b = socket.socketpair()
        self.m.send(encode(fakemoatd.IPC_CONN, 5, [
            (fakemoatd.F_U32, 0x100), (fakemoatd.F_STR, "1.2.3.4"),
            (fakemoatd.F_U32, 1), (fakemoatd.F_STR, "1.2.3.4"),
            (fakemoatd.F_U32, 2)]), [b.fileno()])
        a.close()
        b.close()
        self.m.proc.wait(5)
        self.assertEqual(self.m.proc.returncode, 89)

    def test_conn_drop_says_bye_and_closes(self):
        # moatd's "make room" (issue 5): BYE [UNAVAILABLE], close, and
        # CONN_DONE as for any connection that ends.
        keep = self.greeted()
        c = self.greeted()
        cid = self.m.conn_id
        self.m.send(encode(fakemoatd.IPC_CONN_DROP, cid, []))
        c.sock.settimeout(5)
        self.assertTrue(c.readline().startswith("* BYE [UNAVAILABLE] "))
        self.assertTrue(c.read_eof(5))
        deadline = time.time() + 5
        while cid not in self.m.conn_done and time.time() < deadline:
            time.sleep(0.02)
        self.assertIn(cid, self.m.conn_done)
        self.assertTrue(self.m.wait_log("Connection queue full"))
        # Only that one.
        self.assertEqual(keep.cmd("n", "NOOP")[-1], "n OK NOOP completed.")

    def held_session(self):
        self.m.session_hold = True
        c = self.greeted()
        c.send("a LOGIN alice secret-a\r\n")
        deadline = time.time() + 5
        while not self.m.held and time.time() < deadline:
            time.sleep(0.02)
        self.assertTrue(self.m.held, "no SESSION_REQ")
        # The drop crosses the SESSION_REQ, as it can with a real moatd.
        self.m.send(encode(fakemoatd.IPC_CONN_DROP, self.m.conn_id, []))
        return c

    def test_conn_drop_during_hand_off_waits_for_the_session(self):
        c = self.held_session()
        time.sleep(0.2)
        self.m.release_sessions(fakemoatd.ST_OK)
        c.sock.settimeout(5)
        self.assertTrue(c.readline().startswith("a OK"))
        self.assertEqual(c.cmd("b", "NOOP")[-1], "b OK NOOP done")

    def test_conn_drop_during_failed_hand_off_drops(self):
        c = self.held_session()
        time.sleep(0.2)
        self.m.release_sessions(ST_LIMIT)
        c.sock.settimeout(5)
        self.assertEqual(c.readline(), "a NO [LIMIT] Too many sessions.")
        self.assertTrue(c.readline().startswith("* BYE [UNAVAILABLE] "))
        self.assertTrue(c.read_eof(5))

    def test_conn_drop_for_unknown_connection_is_ignored(self):
        # Its CONN_DONE may have crossed moatd's drop: not an error.
        c = self.greeted()
        self.m.send(encode(fakemoatd.IPC_CONN_DROP, 4242, []))
        self.assertEqual(c.cmd("n", "NOOP")[-1], "n OK NOOP completed.")
        self.assertIsNone(self.m.proc.poll())

    def test_conn_drop_with_fields_is_fatal(self):
        c = self.greeted()
        self.m.send(encode(fakemoatd.IPC_CONN_DROP, self.m.conn_id,
                           [(fakemoatd.F_U32, 1)]))
        self.m.proc.wait(5)
        self.assertEqual(self.m.proc.returncode, 89)
        c.close()

    def test_moatd_gone_exits(self):
        self.m.stop_flag = True
        self.m.thread.join(5)
        self.m.ipc.close()
        self.m.proc.wait(5)
        self.assertEqual(self.m.proc.returncode, 0)


@unittest.skipUnless(os.geteuid() == 0, "needs root")
class Privsep(LoginTest):
    def test_dropped_and_chrooted(self):
        self.greeted()     # the loop runs: start-up is over
        pid = self.m.proc.pid
        with open("/proc/%d/status" % pid) as f:
            status = f.read()
        uid_line = [l for l in status.splitlines()
                    if l.startswith("Uid:")][0]
        import pwd
        nobody = pwd.getpwnam("nobody").pw_uid
        self.assertEqual(uid_line.split()[1:], [str(nobody)] * 4)
        groups = [l for l in status.splitlines()
                  if l.startswith("Groups:")][0]
        # No supplementary groups beyond the login user's own group.
        nobody_gid = pwd.getpwnam("nobody").pw_gid
        self.assertLessEqual(set(groups.split()[1:]), {str(nobody_gid)})
        self.assertEqual(os.readlink("/proc/%d/root" % pid),
                         self.m.dir + "/empty")
        # No descriptor names anything outside the chroot (fds 0/1 were
        # /dev/null from moatd).
        for fd in os.listdir("/proc/%d/fd" % pid):
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            self.assertTrue(target.startswith(("socket:", "pipe:",
                                               "anon_inode:")),
                            (fd, target))

    def test_login_as_nobody_with_tls(self):
        # TLS still works after the chroot (the key was loaded before).
        c = self.greeted("tls")
        self.assertTrue(c.cmd("a", "LOGIN alice secret-a")[-1]
                        .startswith("a OK"))


if __name__ == "__main__":
    if not os.path.exists(BINARY):
        print("skipped: %s not built" % BINARY)
        sys.exit(77)
    unittest.main()
