#!/usr/bin/env python3
"""The classic zombie demonstration: a parent starts a child process whose
work returns at once, never join()s it, and goes on with its own life. The
finished child stays a zombie (state Z) for as long as the parent lives,
because only its parent may reap it.
"""
import multiprocessing
import os
import time


def work():
    pass


if __name__ == "__main__":
    # Python 3.14 changed the Linux default to "forkserver", which would make
    # the child the server's, not ours. The demonstration is about our child.
    multiprocessing.set_start_method("fork")
    child = multiprocessing.Process(target=work)
    child.start()
    print(f"parent {os.getpid()}: started child {child.pid}, not joining it", flush=True)
    time.sleep(3600)
