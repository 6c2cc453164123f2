#!/usr/bin/env python3
"""Writes one line for every signal it receives ("got USR1") and exits 0
once it gets SIGTERM.

Usage: signal_recorder.py NAME [NAME...]
NAME is a signal name without "SIG" (USR1, WINCH) or RTMIN+N. SIGTERM is
always recorded; it prints "ready PID" once every handler is installed.
"""
import os
import signal
import sys
import time


def signal_number(name):
    if name.startswith("RTMIN+"):
        return signal.SIGRTMIN + int(name[len("RTMIN+"):])
    return getattr(signal, "SIG" + name)


names = {signal_number(n): n for n in sys.argv[1:]}
names[signal.SIGTERM] = "TERM"


def record(signum, frame):
    print(f"got {names[signum]}", flush=True)
    if signum == signal.SIGTERM:
        sys.exit(0)


for signum in names:
    signal.signal(signum, record)
print(f"ready {os.getpid()}", flush=True)

# Not signal.pause(): a signal landing between a check and pause() would
# leave us asleep. Sleeping is interrupted by every signal anyway.
while True:
    time.sleep(1)
