#!/usr/bin/env python3
"""An interactive program as a terminal user meets it: it says whether it
owns the terminal (its process group is the terminal's foreground group),
reads a line the user types, and on Ctrl-C says so and exits 3.
"""
import os
import signal
import sys
import time


def on_interrupt(signum, frame):
    print("interrupted", flush=True)
    sys.exit(3)


signal.signal(signal.SIGINT, on_interrupt)
print(f"own group: {os.getpgrp() == os.getpid()}", flush=True)
print(f"foreground: {os.tcgetpgrp(0) == os.getpgrp()}", flush=True)
line = sys.stdin.readline()
print(f"you typed <{line.strip()}>", flush=True)
print("press Ctrl-C", flush=True)
while True:
    time.sleep(1)
