#!/usr/bin/env python3
"""Writes one line for every signal it receives ("got USR1") and exits 0
once it gets SIGTERM.

Usage: signal_recorder.py NAME [NAME...]
NAME is a signal name without "SIG" (USR1, WINCH) or RTMIN+N. SIGTERM is
always recorded; it prints "ready PID" once the signals are blocked.

It runs no handler: it blocks the signals and takes them off its queue one
at a time with sigwaitinfo, lowest number first when several are pending,
printing each before it takes the next. So when "got X" is printed, every
signal numbered below X that was pending with it has been printed already.
"""
import os
import signal
import sys


def signal_number(name):
    if name.startswith("RTMIN+"):
        return signal.SIGRTMIN + int(name[len("RTMIN+"):])
    return getattr(signal, "SIG" + name)


names = {signal_number(n): n for n in sys.argv[1:]}
names[signal.SIGTERM] = "TERM"

signal.pthread_sigmask(signal.SIG_BLOCK, names)
print(f"ready {os.getpid()}", flush=True)

while True:
    signum = signal.sigwaitinfo(names).si_signo
    print(f"got {names[signum]}", flush=True)
    if signum == signal.SIGTERM:
        sys.exit(0)
