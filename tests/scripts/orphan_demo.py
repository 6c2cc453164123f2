#!/usr/bin/env python3
"""The classic orphan demonstration: a parent forks a child and exits at
once. The child lives on, is adopted by whoever reaps orphans (PID 1, or
the nearest child subreaper), says who its new parent is, and exits a
little later.

Usage: orphan_demo.py [SECONDS_THE_CHILD_LIVES_ON | FILE]
With FILE the child lives on until FILE exists (at most a minute): a test
that looks at the child from outside creates it once it has looked.
"""
import os
import sys
import time

linger = sys.argv[1] if len(sys.argv) > 1 else "3"
parent = os.getpid()

pid = os.fork()
if pid > 0:
    print(f"parent {parent}: forked child {pid}, exiting now", flush=True)
    sys.exit(0)

# The child: wait until our parent is gone and we have a new one.
while os.getppid() == parent:
    time.sleep(0.01)
print(f"child {os.getpid()}: adopted by {os.getppid()}", flush=True)
try:
    time.sleep(float(linger))
except ValueError:
    deadline = time.monotonic() + 60
    while not os.path.exists(linger) and time.monotonic() < deadline:
        time.sleep(0.01)
print(f"child {os.getpid()}: exiting", flush=True)
