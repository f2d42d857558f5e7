#!/usr/bin/env python3
"""Times the guest in the native netvm, as scripts/bench-browser does in the page.

    native-guest-bench.py JOB -- NETVM_COMMAND...

Starts the command (netvm with the page's arguments) with its console on
pipes, waits for the guest's ready line, types JOB (a shell command run under
busybox `time`), then poweroff. Prints `native-boot-s S` (start to ready
line, host clock), `native-cpu-s S` (the guest's `time` real figure) and
`native-guest-mips N`.

Guest MIPS: netvm reports its executed instruction count about once a second
(`progress: instructions=N host-ns=T idle-ns=I` on stderr, at debug level,
I being the host time it spent waiting while the guest was halted); JOB is
typed right after a report arrives, and the first report that arrives after
the job's end line closes the window. N = instructions between those two
reports / the host time between them that the guest was not halted, in
millions per second. Leaving the idle time out makes the ~1 s the window
runs on after the job (the guest mostly halted) cost next to nothing; what
remains in it besides the job is the shell's and the kernel's own work
around it.
"""
import os
import re
import select
import subprocess
import sys
import time

READY = b"netvm-guest: ready"
PROGRESS = re.compile(rb"progress: instructions=(\d+) host-ns=(\d+) idle-ns=(\d+)\r?\n")  # whole lines only


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit(__doc__)
    job, cmd = sys.argv[1], sys.argv[3:]
    # The progress reports (debug level of the host module), other modules as usual.
    env = dict(os.environ, RUST_LOG="warn,netvm::backends::host=debug")
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = b""  # the console
    log = b""  # stderr: the log, with the progress reports

    def samples():
        return [(int(i), int(t), int(idle)) for i, t, idle in PROGRESS.findall(log)]

    def wait_for(found, what, timeout):
        nonlocal out, log
        deadline = time.monotonic() + timeout
        while True:
            m = found()
            if m:
                return m
            left = deadline - time.monotonic()
            pipes = [f for f in (p.stdout, p.stderr) if not f.closed]
            if left <= 0 or not pipes:
                sys.exit("native-guest-bench: no %s; console:\n%s\nlog:\n%s"
                         % (what, out.decode(errors="replace"), log.decode(errors="replace")))
            for f in select.select(pipes, [], [], min(left, 1.0))[0]:
                chunk = os.read(f.fileno(), 65536)
                if not chunk:
                    f.close()
                elif f is p.stdout:
                    out += chunk
                else:
                    log += chunk

    def console(pattern):
        return lambda: re.search(pattern, out)

    def report_after(n):
        return lambda: len(samples()) > n and samples()[n]

    wait_for(console(re.escape(READY)), "ready line", 300)
    boot = time.monotonic() - start
    # Type the job just after a progress report: the window opens there.
    before = wait_for(report_after(len(samples())), "progress report", 30)
    p.stdin.write(("time sh -c '%s'; echo BENCH-$?-DONE\n" % job).encode())
    p.stdin.flush()
    m = wait_for(console(rb"real\s+(\d+)m\s*([\d.]+)s[\s\S]*\nBENCH-(\d+)-DONE"), "job end", 600)
    if m.group(3) != b"0":
        sys.exit("native-guest-bench: the job failed:\n%s" % out.decode(errors="replace"))
    cpu = int(m.group(1)) * 60 + float(m.group(2))
    after = wait_for(report_after(len(samples())), "progress report", 30)
    busy_ns = (after[1] - before[1]) - (after[2] - before[2])
    mips = (after[0] - before[0]) / (busy_ns / 1e9) / 1e6
    p.stdin.write(b"poweroff\n")
    p.stdin.flush()
    try:
        p.wait(60)
    except subprocess.TimeoutExpired:
        p.kill()
    print("native-boot-s %.3f" % boot)
    print("native-cpu-s %.3f" % cpu)
    print("native-guest-mips %.1f" % mips)


main()
