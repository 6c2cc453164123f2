#!/usr/bin/env python3
"""Makes N orphans that all exit at the same moment, then waits until the
init it runs under has reaped every one. Run it as the main child of an init
that is PID 1 of its own PID namespace (with its own /proc).

An intermediate process starts N `sleep` processes in its own process group
and exits, so all N are orphaned and adopted by PID 1. One killpg() then
ends them together: N exit statuses arrive at once. Exits 0 when /proc
holds nothing but PID 1 and this script, 1 if that does not happen within
the time limit.

Usage: mass_orphans.py N [TIME_LIMIT_SECONDS]
"""
import os
import shutil
import signal
import sys
import time

count = int(sys.argv[1])
limit = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
sleep = shutil.which("sleep")


def processes():
    """(pid, state, ppid, pgrp) of every process in this namespace."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # exited (and was reaped) while we looked
        state, ppid, pgrp = stat[stat.rindex(")") + 2:].split()[:3]
        found.append((int(name), state, int(ppid), int(pgrp)))
    return found


def wait_for(what, condition):
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            print(f"timed out waiting for {what}", flush=True)
            left = [p for p in processes() if p[0] not in (1, os.getpid())]
            print(f"{len(left)} left, e.g. {left[:10]}", flush=True)
            sys.exit(1)
        time.sleep(0.05)


intermediate = os.fork()
if intermediate == 0:
    os.setpgid(0, 0)
    for _ in range(count):
        if os.fork() == 0:
            try:
                os.execv(sleep, ["sleep", "1000"])
            finally:
                os._exit(127)  # never run on into the parent's loop
    os._exit(0)
os.waitpid(intermediate, 0)
group = intermediate

wait_for(
    f"{count} orphans adopted by PID 1",
    lambda: sum(1 for p in processes() if p[2] == 1 and p[3] == group) == count,
)
print(f"adopted {count}", flush=True)

os.killpg(group, signal.SIGKILL)
wait_for("every orphan reaped", lambda: {p[0] for p in processes()} <= {1, os.getpid()})
print(f"reaped {count}", flush=True)
