#!/usr/bin/env python3
"""The Python multiprocessing pattern, for tests/applications.rs:

    python3 workers.py naive|graceful OUTDIR

The parent starts two workers with daemon=True and two it joins
(daemon=False), all forked, and blocks joining the second pair. Each
worker writes OUTDIR/NAME.pid when it runs and OUTDIR/NAME.clean when it
leaves through its own exit path (its `finally`), whether it was told to
stop by the parent's event or by a SIGTERM of its own. A worker killed
with SIGKILL writes no .clean file: its clean-up never ran.

naive:    the parent has no SIGTERM handler (Python's default): a SIGTERM
          kills it at once, exit status 143, and its workers are orphaned,
          still running, to PID 1. multiprocessing's exit handler, which
          terminates daemon workers, never runs.
graceful: the parent turns SIGTERM into a stop event; the joined workers
          see it and return, the parent joins them and returns, and
          multiprocessing's exit handler terminates (SIGTERM) and joins the
          daemon workers. Exit status 0, no orphan.

OUTDIR/parent.ready appears once every worker has written its pid.
"""

import multiprocessing
import os
import signal
import sys


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def worker(out, name, stop):
    def on_sigterm(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        write(os.path.join(out, name + ".pid"), str(os.getpid()))
        stop.wait()
    finally:
        write(os.path.join(out, name + ".clean"), str(os.getpid()))


def main():
    mode, out = sys.argv[1], sys.argv[2]
    if mode not in ("naive", "graceful"):
        sys.exit("usage: workers.py naive|graceful OUTDIR")
    ctx = multiprocessing.get_context("fork")
    stop = ctx.Event()
    if mode == "graceful":
        signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    daemons = [
        ctx.Process(target=worker, args=(out, f"daemon{i}", stop), daemon=True)
        for i in (1, 2)
    ]
    joined = [
        ctx.Process(target=worker, args=(out, f"joined{i}", stop), daemon=False)
        for i in (1, 2)
    ]
    for p in daemons + joined:
        p.start()
    names = [f"daemon{i}" for i in (1, 2)] + [f"joined{i}" for i in (1, 2)]
    # Bounded: the workers write their pid files at once.
    for _ in range(1000):
        if all(os.path.exists(os.path.join(out, n + ".pid")) for n in names):
            break
        stop.wait(0.01)
    write(os.path.join(out, "parent.ready"), str(os.getpid()))
    for p in joined:
        p.join()
    # Returning runs multiprocessing's exit handler: SIGTERM to each daemon
    # worker still running, then join.


if __name__ == "__main__":
    main()
