#!/usr/bin/env python3
"""Starts a program with exactly the given signals blocked and ignored and
every other signal at its default disposition, the way a parent process
(a shell with `trap '' SIG`, nohup, a supervisor) hands them down.

Before exec it prints its own SigBlk and SigIgn lines from
/proc/self/status, prefixed "before exec", so the caller can compare what
the program got with what it was given.

Usage: with_signal_state.py BLOCKED IGNORED PROGRAM [ARGS...]
BLOCKED and IGNORED are comma-separated names without "SIG" (USR1, PIPE,
RTMIN+2), or "-" for none.
"""
import os
import signal
import sys


def signal_numbers(names):
    if names == "-":
        return set()
    numbers = set()
    for name in names.split(","):
        if name.startswith("RTMIN+"):
            numbers.add(signal.SIGRTMIN + int(name[len("RTMIN+"):]))
        else:
            numbers.add(getattr(signal, "SIG" + name))
    return numbers


blocked = signal_numbers(sys.argv[1])
ignored = signal_numbers(sys.argv[2])
program = sys.argv[3:]

# Python itself ignores SIGPIPE and SIGXFSZ and handles SIGINT: start from
# the defaults so the state is exactly what was asked for.
for signum in signal.valid_signals():
    if signum in (signal.SIGKILL, signal.SIGSTOP):
        continue
    try:
        signal.signal(signum, signal.SIG_IGN if signum in ignored else signal.SIG_DFL)
    except (OSError, ValueError):
        pass  # signals the C library keeps for itself
signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

with open("/proc/self/status") as status:
    for line in status:
        if line.startswith(("SigBlk:", "SigIgn:")):
            print("before exec", line, end="", flush=True)
os.execvp(program[0], program)
