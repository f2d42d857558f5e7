#!/usr/bin/env python3
"""Times the guest in the native netvm, as scripts/bench-browser does in the page.

    native-guest-bench.py JOB -- NETVM_COMMAND...

Starts the command (netvm with the page's arguments) with its console on
pipes, waits for the guest's ready line, types JOB (a shell command run under
busybox `time`), then poweroff. Prints `native-boot-s S` (start to ready
line, host clock) and `native-cpu-s S` (the guest's `time` real figure).
"""
import os
import re
import select
import subprocess
import sys
import time

READY = b"netvm-guest: ready"


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit(__doc__)
    job, cmd = sys.argv[1], sys.argv[3:]
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = b""

    def wait_for(pattern, timeout):
        nonlocal out
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, out)
            if m:
                return m
            left = deadline - time.monotonic()
            if left <= 0 or p.poll() is not None and not select.select([p.stdout], [], [], 0)[0]:
                sys.exit("native-guest-bench: no %r; console:\n%s" % (pattern, out.decode(errors="replace")))
            if select.select([p.stdout], [], [], min(left, 1.0))[0]:
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk and p.poll() is not None:
                    continue
                out += chunk

    wait_for(re.escape(READY), 300)
    boot = time.monotonic() - start
    p.stdin.write(("time sh -c '%s'; echo BENCH-$?-DONE\n" % job).encode())
    p.stdin.flush()
    m = wait_for(rb"real\s+(\d+)m\s*([\d.]+)s[\s\S]*\nBENCH-(\d+)-DONE", 600)
    if m.group(3) != b"0":
        sys.exit("native-guest-bench: the job failed:\n%s" % out.decode(errors="replace"))
    cpu = int(m.group(1)) * 60 + float(m.group(2))
    p.stdin.write(b"poweroff\n")
    p.stdin.flush()
    try:
        p.wait(60)
    except subprocess.TimeoutExpired:
        p.kill()
    print("native-boot-s %.3f" % boot)
    print("native-cpu-s %.3f" % cpu)


main()
