"""A private Debian Postfix for delivery tests (test_lmtp.Postfix and
tests/install/test_install.py): its own main.cf/master.cf, queue and
data directories under a temp dir, smtpd on one loopback port, running
in the foreground with its log on a file; nothing in /etc/postfix
changes. Mail for example.org goes to an LMTP socket through the given
transport parameter (local_transport or mailbox_transport)."""

import os
import pwd
import socket
import subprocess
import time

POSTFIX = "/usr/sbin/postfix"

MAIN_CF = """compatibility_level = 3.6
queue_directory = %(pf)s/queue
data_directory = %(pf)s/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.example.org
mydestination = example.org
mynetworks = 127.0.0.0/8
local_recipient_maps =
alias_maps =
alias_database =
%(transport)s = lmtp:unix:%(sock)s
maillog_file = /dev/stdout
biff = no
"""


def start_postfix(tc, base, sock, smtp_port, transport="local_transport"):
    """Starts Postfix under base/postfix for test case tc (stopped at its
    cleanup) and waits for smtpd on 127.0.0.1:smtp_port. Returns the
    path of Postfix's log."""
    pf = os.path.join(base, "postfix")
    conf = os.path.join(pf, "conf")
    for sub in ("conf", "queue", "data"):
        os.makedirs(os.path.join(pf, sub))
    os.chmod(pf, 0o755)
    pw = pwd.getpwnam("postfix")
    os.chown(os.path.join(pf, "data"), pw.pw_uid, pw.pw_gid)
    maillog = os.path.join(pf, "maillog")
    with open(os.path.join(conf, "main.cf"), "w") as f:
        f.write(MAIN_CF % {"pf": pf, "sock": sock, "transport": transport})
    # Debian's master.cf, without chroot (the socket is outside the
    # queue directory) and smtpd on our port only.
    out = []
    with open("/etc/postfix/master.cf") as f:
        for line in f.read().splitlines():
            fl = line.split()
            if line and line[0] not in " \t#" and len(fl) >= 8:
                if fl[:2] == ["smtp", "inet"]:
                    fl[0] = "127.0.0.1:%d" % smtp_port
                fl[4] = "n"
                line = " ".join(fl)
            out.append(line)
    with open(os.path.join(conf, "master.cf"), "w") as f:
        f.write("\n".join(out) + "\n")
    # In the foreground (its log on our file): "postfix start" wants a
    # syslog this machine may not have.
    log_f = open(maillog, "wb")
    tc.addCleanup(log_f.close)
    proc = subprocess.Popen([POSTFIX, "-c", conf, "start-fg"],
                            stdout=log_f, stderr=log_f)

    def stop():
        subprocess.run([POSTFIX, "-c", conf, "stop"], capture_output=True,
                       timeout=60)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    tc.addCleanup(stop)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", smtp_port), 1).close()
            break
        except OSError:
            time.sleep(0.1)
    return maillog


def read_log(maillog):
    try:
        with open(maillog, errors="replace") as f:
            return f.read()
    except OSError:
        return ""
