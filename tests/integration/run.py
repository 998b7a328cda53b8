"""Runs integration test modules, several at once, each in its own
Python process (tests/integration/run calls this).

Each module starts its own servers on free loopback ports in its own
temp directories, so modules are independent; running them side by
side roughly halves the suite's wall time on two cores. A module's
output is printed whole when it ends (never interleaved), followed by
its time; the exit status is nonzero if any module failed.

  MOAT_INTEGRATION_JOBS  modules at once (default: twice the number of
                         CPUs: the modules mostly wait on servers and
                         timers, a whole run uses half a CPU)
"""

import os
import subprocess
import sys
import tempfile
import time

# Started first so that the longest modules do not end the run alone
# (measured order, longest first; modules not named start after them).
LONGEST_FIRST = ["test_interop", "test_flow", "test_soak",
                 "test_sort_thread", "test_search", "test_live",
                 "test_mailbox", "test_crash", "test_auth_flood",
                 "test_compress"]

# Run with no other module beside them: test_sigstop needs a thousand
# logins within its deadline while its stopper spins on a CPU.
ALONE = ["test_sigstop"]

# Each running module gets its own PORTS loopback ports from PORT_BASE
# (moatenv.free_port), below Linux's ephemeral range (32768-60999), so
# no two modules and no outgoing connection pick the same port.
PORT_BASE = 20000
PORTS = 1000


def main(mods):
    jobs = int(os.environ.get("MOAT_INTEGRATION_JOBS") or
               2 * (os.cpu_count() or 1))
    jobs = max(1, min(jobs, (32768 - PORT_BASE) // PORTS))
    order = [m for m in ALONE if m in mods] + \
        [m for m in LONGEST_FIRST if m in mods and m not in ALONE] + \
        [m for m in mods if m not in LONGEST_FIRST and m not in ALONE]
    pending = list(order)
    running = {}
    results = {}
    start_all = time.monotonic()
    while pending or running:
        while pending and len(running) < jobs:
            if any(r[0] in ALONE for r in running.values()) or \
                    (pending[0] in ALONE and running):
                break
            m = pending.pop(0)
            out = tempfile.TemporaryFile()
            slot = min(set(range(jobs)) - {r[4] for r in running.values()})
            env = dict(os.environ)
            env["MOAT_PORT_RANGE"] = "%d-%d" % (PORT_BASE + slot * PORTS,
                                                PORT_BASE + (slot + 1) *
                                                PORTS - 1)
            p = subprocess.Popen([sys.executable, "-m", "unittest", "-v",
                                  m], stdout=out, stderr=subprocess.STDOUT,
                                 env=env)
            running[p.pid] = (m, p, out, time.monotonic(), slot)
        pid, status = os.wait()
        if pid not in running:
            continue
        m, p, out, t0, _ = running.pop(pid)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
        out.close()
        secs = time.monotonic() - t0
        results[m] = (p.returncode, secs)
        sys.stdout.write(text)
        sys.stdout.write("=== %s: %s in %.1f s\n" %
                         (m, "ok" if p.returncode == 0 else
                          "FAILED (exit %d)" % p.returncode, secs))
        sys.stdout.flush()
    failed = [m for m in order if results[m][0] != 0]
    print("=== %d modules in %.1f s with %d at once; times: %s" %
          (len(order), time.monotonic() - start_all, jobs,
           ", ".join("%s %.0f" % (m, results[m][1]) for m in
                     sorted(order, key=lambda m: -results[m][1]))))
    if failed:
        print("=== FAILED modules: " + " ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
