#!/usr/bin/env python3
"""tini-rs against tini, tini-static, dumb-init and catatonit, in one run.

    python3 tests/bench/bench.py            # full run, about 6 minutes (as root)
    python3 tests/bench/bench.py --quick    # smoke test, ~30 s; CI runs it

Every init runs as PID 1 of a fresh PID namespace
(`unshare --pid --fork --mount-proc --kill-child INIT ...`). Entries are
interleaved (A B C A B C ...) so machine noise hits all of them alike; each
figure is the median over rounds, with the min-max of the rounds beside it.
The workloads and probes are in helper.c (compiled with gcc at run time).

Writes OUT/results.md (the table) and OUT/results.json (everything,
raw samples included); OUT defaults to tests/bench/results/.

Exit status: 0 when every entry ran and nothing was broken; 1 when an entry
failed, tini-rs lost a signal, tini-rs -P woke up while idle, or zombies
were left behind. Speed never
fails the run: targets are reported, not enforced.
"""

import argparse
import atexit
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
UNSHARE = ["--pid", "--fork", "--mount-proc", "--kill-child"]
APT_PACKAGES = ["tini", "dumb-init", "catatonit", "strace", "gcc"]  # tini ships tini-static

# How the project builds its static binary (README.md, tests/run.sh, docker/).
STATIC_RUSTFLAGS = "-C target-feature=+crt-static -C relocation-model=static"

PEERS = ["tini", "tini-static", "dumb-init", "catatonit"]
OURS = ["tini-rs", "tini-rs-static"]
NONE = "no init"
VARIANTS = []  # --variant NAME=PATH: extra tini-rs builds to compare

# Every process this script started and has not reaped yet: killed on exit.
LIVE = {}


def cleanup():
    for pid, proc in list(LIVE.items()):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        LIVE.pop(pid, None)


def on_signal(signum, _frame):
    cleanup()
    sys.exit(128 + signum)


def start(argv, **kw):
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, **kw)
    LIVE[proc.pid] = proc
    return proc


def finish(proc, timeout):
    """Waits for `proc` at most `timeout` s (then kills it); returns
    (returncode, stdout, stderr), returncode None on time-out."""
    try:
        out, err = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=10)
        rc = None
    LIVE.pop(proc.pid, None)
    return rc, out or "", err or ""


def stop(proc):
    """Ends a long-running `unshare ...`: SIGKILL to unshare, and
    --kill-child takes the whole namespace down with it."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    finish(proc, 10)


def run(argv, timeout):
    proc = start(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return finish(proc, timeout)


def keyvalues(text):
    return {k: int(v) for k, v in re.findall(r"^(\w+)=(-?\d+)$", text, re.M)}


def median_range(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "samples": values}


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


# ---- set-up -----------------------------------------------------------------

def ensure_peers(entries):
    missing = [e for e in PEERS if e in entries and not os.access(entries[e]["path"], os.X_OK)]
    missing += [tool for tool in ["strace", "gcc"] if not shutil.which(tool)]
    if not missing:
        return
    print(f"installing what is missing ({', '.join(missing)}) with apt-get", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends"] + APT_PACKAGES
    if subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, stdout=subprocess.DEVNULL)
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)


def build_tini_rs(args):
    if args.no_build:
        return
    print("building tini-rs (release, dynamic and +crt-static)", file=sys.stderr)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    env = dict(os.environ, RUSTFLAGS=STATIC_RUSTFLAGS)
    subprocess.run(["cargo", "build", "--release", "--quiet", "--target",
                    "x86_64-unknown-linux-gnu"], cwd=REPO, env=env, check=True)


def build_helper(tmp):
    exe = os.path.join(tmp, "helper")
    subprocess.run(["gcc", "-O2", "-o", exe, os.path.join(HERE, "helper.c")], check=True)
    return exe


def make_entries(args):
    e = {
        "tini": {"path": "/usr/bin/tini", "sep": ["--"], "link": "dynamic"},
        "tini-static": {"path": "/usr/bin/tini-static", "sep": ["--"], "link": "static"},
        "dumb-init": {"path": "/usr/bin/dumb-init", "sep": ["--"], "link": "dynamic"},
        "catatonit": {"path": "/usr/bin/catatonit", "sep": ["--"], "link": "static",
                      "pause": ["-P"]},
        "tini-rs": {"path": args.tini_rs, "sep": ["--"], "link": "dynamic", "pause": ["-P"]},
        "tini-rs-static": {"path": args.tini_rs_static, "sep": ["--"], "link": "static",
                           "pause": ["-P"]},
        NONE: {"path": None, "sep": [], "link": None},
    }
    for spec in args.variant:
        name, _, cmd = spec.partition("=")
        path, *flags = cmd.split()
        if not name or not path:
            sys.exit(f"--variant {spec!r}: expected NAME=PATH [OPTION...]")
        e[name] = {"path": os.path.abspath(path), "sep": flags + ["--"], "link": "variant",
                   "pause": flags + ["-P"]}
        VARIANTS.append(name)
    for v in e.values():
        v["argv"] = [v["path"]] + v["sep"] if v["path"] else []
    return e


def as_pid1(entry, argv):
    return [shutil.which("unshare")] + UNSHARE + entry["argv"] + argv


def init_pid(unshare_pid, child_exe, timeout=10.0):
    """The host pid of the namespace's PID 1 (unshare's child), once its own
    child (or, with no init, itself) runs `child_exe`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{unshare_pid}/task/{unshare_pid}/children") as f:
                kids = f.read().split()
            if kids:
                pid = int(kids[0])
                for p in [pid] + descendants(pid):
                    if os.readlink(f"/proc/{p}/exe") == child_exe:
                        return pid
        except (FileNotFoundError, ProcessLookupError):
            pass
        time.sleep(0.01)
    raise RuntimeError(f"unshare {unshare_pid}: no PID 1 running {child_exe}")


def descendants(pid):
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(k) for k in f.read().split()]
        except FileNotFoundError:
            pass
    return out


# ---- metrics ----------------------------------------------------------------

def bench_startup(entries, helper, rounds, per_round, failures):
    """INIT /bin/true as PID 1 minus bare /bin/true as PID 1, both under the
    same unshare; all entries round-robin in one C loop. Each run is paired
    with the bare run of the same pass (a few ms apart), so slow changes in
    machine load cancel out; a round's figure is the median of its pairs."""
    names = list(entries)
    true = shutil.which("true")
    argv = [helper, "spawnloop", str(rounds * per_round), str(len(names))]
    for n in names:
        cmd = as_pid1(entries[n], [true])
        argv += [str(len(cmd))] + cmd
    rc, out, err = run(argv, timeout=60 + rounds * per_round * len(names) * 0.1)
    failed = sorted({names[int(c)] for c in re.findall(r"^fail \d+ (\d+) ", out, re.M)})
    if rc != 0:
        failures.append(f"start-up loop failed (rc={rc}): {', '.join(failed)} exited non-zero "
                        f"{err[-300:]}")
    runs = {}
    for r, c, ns in re.findall(r"^run (\d+) (\d+) (\d+)$", out, re.M):
        runs[(int(r), names[int(c)])] = int(ns) / 1000
    res = {}
    for n in names:
        totals, overheads = [], []
        for rnd in range(rounds):
            passes = range(rnd * per_round, (rnd + 1) * per_round)
            t = [runs[(i, n)] for i in passes if (i, n) in runs]
            d = [runs[(i, n)] - runs[(i, NONE)] for i in passes
                 if (i, n) in runs and (i, NONE) in runs]
            if t:
                totals.append(statistics.median(t))
            if d and n != NONE:
                overheads.append(statistics.median(d))
        res[n] = {"total_us": median_range(totals),
                  "overhead_us": median_range(overheads) if n != NONE else None}
    return res


def read_kb(path, keys):
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in keys:
                out[k] = int(v.split()[0])
    return out


def ctxt_switches(pid):
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        v = read_kb(f"/proc/{pid}/task/{task}/status",
                    ["voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"])
        total += sum(v.values())
    return total


def strace_calls(path):
    try:
        text = open(path).read()
    except FileNotFoundError:
        return None, {}
    per = {}
    for m in re.finditer(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$", text, re.M):
        per[m.group(2)] = int(m.group(1))
    return per.pop("total", 0), per


def bench_idle(entries, helper, tmp, rounds, window, failures):
    """Every init idles at once with a pause()d child."""
    cases = {n: (as_pid1(entries[n], [helper, "pause"]), helper)
             for n in entries if n != NONE}
    return measure_idle(cases, tmp, "idle", rounds, window, failures)


def bench_pause(entries, tmp, rounds, window, failures):
    """Pause mode (`-P`) of the entries that have one, alone as PID 1: no
    program, nothing else in the namespace."""
    cases = {n: ([shutil.which("unshare")] + UNSHARE + [e["path"]] + e["pause"],
                 os.path.realpath(e["path"]))
             for n, e in entries.items() if e.get("pause")}
    res = measure_idle(cases, tmp, "pause", rounds, window, failures)
    for n in OURS + VARIANTS:
        # Pause mode's whole promise: asleep in sigwaitinfo until a signal.
        if n in res and (med(res[n]["ctxt"]) or med(res[n]["syscalls"])):
            failures.append(f"{n} -P woke up while idle: {med(res[n]['ctxt'])} context "
                            f"switches, {med(res[n]['syscalls'])} syscalls in {window:g} s")
    return res


def measure_idle(cases, tmp, tag, rounds, window, failures):
    """`cases`: {name: (argv, exe)}, argv starting the init as PID 1 under
    unshare, exe the file that shows it (or its child) is running. Every
    case idles at once: memory, then context switches over `window` s, then
    syscalls under strace over `window` s (logs in `tmp`, named by `tag`)."""
    names = list(cases)
    res = {n: {"rss": [], "pss": [], "uss": [], "hwm": [], "threads": [], "ctxt": [],
               "syscalls": [], "syscall_names": {}} for n in names}
    for r in range(rounds):
        procs, pids = {}, {}
        try:
            for n in names:
                procs[n] = start(cases[n][0], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            for n in names:
                pids[n] = init_pid(procs[n].pid, cases[n][1])
            time.sleep(0.5)
            for n in names:
                pid = pids[n]
                sm = read_kb(f"/proc/{pid}/smaps_rollup",
                             ["Rss", "Pss", "Private_Clean", "Private_Dirty"])
                st = read_kb(f"/proc/{pid}/status", ["VmHWM"])
                res[n]["rss"].append(sm["Rss"])
                res[n]["pss"].append(sm["Pss"])
                res[n]["uss"].append(sm["Private_Clean"] + sm["Private_Dirty"])
                res[n]["hwm"].append(st["VmHWM"])
                res[n]["threads"].append(len(os.listdir(f"/proc/{pid}/task")))
            before = {n: ctxt_switches(pids[n]) for n in names}
            time.sleep(window)
            for n in names:
                res[n]["ctxt"].append(ctxt_switches(pids[n]) - before[n])
            straces = {}
            for n in names:
                log = os.path.join(tmp, f"strace-{tag}-{r}-{n}.txt")
                straces[n] = (start(["strace", "-c", "-f", "-o", log, "-p", str(pids[n])],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), log)
            time.sleep(window)
            for n in names:
                proc, log = straces[n]
                proc.send_signal(signal.SIGINT)
                rc, _, _ = finish(proc, 10)
                calls, per = strace_calls(log)
                if calls is None:
                    failures.append(f"{n}: strace produced no summary (rc={rc})")
                res[n]["syscalls"].append(calls)
                res[n]["syscall_names"] = per or res[n]["syscall_names"]
            for n in names:
                if procs[n].poll() is not None:
                    failures.append(f"{n}: exited while idle (rc={procs[n].returncode})")
        finally:
            for p in procs.values():
                stop(p)
    for n in names:
        for k in ["rss", "pss", "uss", "hwm", "threads", "ctxt", "syscalls"]:
            res[n][k] = median_range(res[n][k])
    return res


def bench_reap(entries, helper, rounds, count, failures):
    """Reaping `count` dead and `count` living orphans (helper.c reapdead /
    reaplive), `rounds` = (dead rounds, live rounds). No init: nothing would
    ever reap them, so it is skipped."""
    names = [n for n in entries if n != NONE]
    raw = {mode: {n: [] for n in names} for mode in ["reapdead", "reaplive"]}
    for r in range(max(rounds)):
        for mode, mode_rounds in zip(raw, rounds):
            if r >= mode_rounds:
                continue
            for n in names:
                rc, out, err = run(as_pid1(entries[n], [helper, mode, str(count)]),
                                   timeout=120)
                kv = keyvalues(out)
                if rc != 0 or "time_ns" not in kv:
                    failures.append(f"{n}: {mode} failed (rc={rc}) {out[-300:]} {err[-300:]}")
                    continue
                if kv["left"]:
                    failures.append(f"{n}: {mode}: {kv['left']} processes never reaped")
                raw[mode][n].append(kv)
    res = {}
    for mode in raw:
        res[mode] = {n: {
            "time_ms": median_range([kv["time_ns"] / 1e6 for kv in raw[mode][n]]),
            "init_cpu_ms": median_range([kv["init_cpu_ns"] / 1e6 for kv in raw[mode][n]]),
            "left": max([kv["left"] for kv in raw[mode][n]], default=None),
        } for n in names}
    return res


def bench_storm(entries, helper, rounds, workers, count, failures):
    names = list(entries)
    raw = {n: [] for n in names}
    for _ in range(rounds):
        for n in names:
            rc, out, err = run(as_pid1(entries[n], [helper, "storm", str(workers), str(count)]),
                               timeout=180)
            kv = keyvalues(out)
            if rc != 0 or "time_ns" not in kv:
                failures.append(f"{n}: storm failed (rc={rc}) {out[-300:]} {err[-300:]}")
                continue
            if n != NONE and kv["left"]:
                failures.append(f"{n}: storm left {kv['left']} zombies")
            raw[n].append(kv)
    return {n: {
        "time_ms": median_range([kv["time_ns"] / 1e6 for kv in raw[n]]),
        "init_cpu_ms": median_range([kv["init_cpu_ns"] / 1e6 for kv in raw[n]
                                     if kv["init_cpu_ns"] >= 0]),
        "left": max([kv["left"] for kv in raw[n]], default=None),
    } for n in names}


def bench_signals(entries, helper, count, spacing_us, loss_ms, chunks, failures):
    """kill() from outside the namespace to PID 1, stamped in the child's
    handler: `count` spaced SIGUSR1 per entry, round-robin; then every
    forwardable signal once (real-time ones included, SIGABRT last)."""
    names = list(entries)
    procs, argv = {}, [helper, "sigsend", str(count), str(spacing_us), str(loss_ms)]
    try:
        for n in names:
            shm = os.path.join("/dev/shm", f"tini-bench-{os.getpid()}-{names.index(n)}")
            with open(shm, "wb") as f:
                f.truncate(4096)
            atexit.register(lambda p=shm: os.path.exists(p) and os.unlink(p))
            procs[n] = start(as_pid1(entries[n], [helper, "sigrecv", shm]),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            argv += [shm, None]
        for i, n in enumerate(names):
            argv[6 + 2 * i] = str(init_pid(procs[n].pid, helper))
        rc, out, err = run(argv, timeout=60 + count * len(names) * (spacing_us / 1e6 + 0.01))
        if rc != 0:
            failures.append(f"signal sender failed (rc={rc}): {out[-300:]} {err[-300:]}")
    finally:
        for p in procs.values():
            stop(p)
    lat = {n: [] for n in names}
    for e, ns in re.findall(r"^lat (\d+) (-?\d+)$", out, re.M):
        lat[names[int(e)]].append(int(ns))
    per_sig = {n: {} for n in names}
    for e, sig, ns in re.findall(r"^sig (\d+) (\d+) (-?\d+)$", out, re.M):
        per_sig[names[int(e)]][int(sig)] = int(ns)
    res = {}
    for n in names:
        got = [v / 1000 for v in lat[n] if v >= 0]
        size = max(1, len(lat[n]) // chunks)
        parts = [[v / 1000 for v in lat[n][i:i + size] if v >= 0]
                 for i in range(0, len(lat[n]), size)]
        p50 = {"median": percentile(got, 50) if got else None,
               "min": min((percentile(p, 50) for p in parts if p), default=None),
               "max": max((percentile(p, 50) for p in parts if p), default=None)}
        lost_all = sorted(s for s, v in per_sig[n].items() if v < 0)
        res[n] = {
            "p50_us": p50,
            "p99_us": percentile(got, 99) if got else None,
            "sent": len(lat[n]),
            "lost": len(lat[n]) - len(got),
            "forwardable_sent": len(per_sig[n]),
            "forwardable_lost": lost_all,
            "raw_latency_us": got,
        }
        if len(lat[n]) != count:
            failures.append(f"{n}: {len(lat[n])} of {count} SIGUSR1 sent")
        elif n != NONE and res[n]["lost"]:
            failures.append(f"{n}: lost {res[n]['lost']} of {count} spaced SIGUSR1")
        if n in OURS and lost_all:
            failures.append(f"{n}: forwardable signals lost: {lost_all}")
    return res


def binary_info(entries):
    out = {}
    for n, e in entries.items():
        if not e["path"]:
            continue
        size = subprocess.run(["size", e["path"]], capture_output=True, text=True).stdout
        m = re.search(r"^\s*(\d+)\s+(\d+)\s+(\d+)", size, re.M)
        out[n] = {"path": e["path"], "link": e["link"], "bytes": os.path.getsize(e["path"]),
                  "text": int(m.group(1)) if m else None, "data": int(m.group(2)) if m else None,
                  "bss": int(m.group(3)) if m else None}
    return out


# ---- report -----------------------------------------------------------------

def fmt(x, digits=0):
    if x is None:
        return "–"
    if isinstance(x, dict):
        if x.get("median") is None:
            return "–"
        m, lo, hi = x["median"], x["min"], x["max"]
        if lo == hi:
            return f"{m:.{digits}f}"
        return f"{m:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f})"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def med(x):
    if isinstance(x, dict):
        return x.get("median")
    return x


def rows(R):
    """(label, {entry: value}, digits, which peers it is compared with)."""
    out = []
    if "startup" in R:
        out.append(("start-up overhead as PID 1 (µs)",
                    {n: v["overhead_us"] for n, v in R["startup"].items()}, 0, PEERS))
        out.append(("start-up total, `unshare … INIT true` (µs)",
                    {n: v["total_us"] for n, v in R["startup"].items()}, 0, PEERS))
    if "binary" in R:
        out.append(("binary size (kB)",
                    {n: v["bytes"] / 1000 for n, v in R["binary"].items()}, 0, PEERS))
    w = R["config"]["idle_window_s"]
    if "idle" in R:
        out += idle_rows(R["idle"], w, "")
    if "pause" in R:
        out += idle_rows(R["pause"], w, "pause mode -P: ")
    if "reap" in R:
        c = R["config"]["reap_count"]
        for mode, what in [("reapdead", "dead"), ("reaplive", "live")]:
            M = R["reap"][mode]
            out.append((f"reap {c} {what} orphans: time (ms)",
                        {n: v["time_ms"] for n, v in M.items()}, 1, PEERS))
            out.append((f"reap {c} {what} orphans: init CPU (ms)",
                        {n: v["init_cpu_ms"] for n, v in M.items()}, 1, PEERS))
    if "signals" in R:
        S = R["signals"]
        n_sent = R["config"]["signal_count"]
        out.append((f"SIGUSR1 kill→handler p50 (µs), {n_sent} spaced",
                    {n: v["p50_us"] for n, v in S.items()}, 1, ["dumb-init"]))
        out.append(("SIGUSR1 kill→handler p99 (µs)",
                    {n: v["p99_us"] for n, v in S.items()}, 1, PEERS))
        out.append(("SIGUSR1 lost",
                    {n: v["lost"] for n, v in S.items()}, 0, None))
        out.append(("forwardable signals arrived",
                    {n: f"{v['forwardable_sent'] - len(v['forwardable_lost'])}"
                        f"/{v['forwardable_sent']}" for n, v in S.items()}, 0, None))
    if "storm" in R:
        c = R["config"]["storm_count"]
        w = R["config"]["storm_workers"]
        out.append((f"fork storm, {w} workers × {c // w} orphans: total (ms)",
                    {n: v["time_ms"] for n, v in R["storm"].items()}, 0, PEERS))
        out.append(("fork storm: init CPU (ms)",
                    {n: v["init_cpu_ms"] for n, v in R["storm"].items()}, 0, PEERS))
        out.append(("fork storm: zombies left",
                    {n: v["left"] for n, v in R["storm"].items()}, 0, None))
    return out


def idle_rows(I, window, prefix):
    """The memory and wake-up rows of one idle measurement (measure_idle)."""
    out = []
    for key, label in [("rss", "idle RSS (kB)"), ("pss", "idle PSS (kB)"),
                       ("uss", "idle USS = private (kB)"), ("hwm", "VmHWM (kB)"),
                       ("threads", "threads"),
                       ("ctxt", f"idle context switches in {window:g} s"),
                       ("syscalls", f"idle syscalls in {window:g} s (strace -c -f)")]:
        out.append((prefix + label, {n: v[key] for n, v in I.items()}, 0, PEERS))
    return out


def ratios(label, vals, compare):
    """tini-rs (each build) ÷ the best (lowest) of the compared peers."""
    if not compare:
        return {}
    peers = [med(vals.get(p)) for p in compare if med(vals.get(p)) is not None]
    if not peers:
        return {}
    best = min(peers)
    out = {}
    for ours in OURS + VARIANTS:
        v = med(vals.get(ours))
        if v is None:
            continue
        out[ours] = None if best <= 0 else v / best
        if best <= 0:
            out[ours] = 1.0 if v <= 0 else float("inf")
    return out


def markdown(R):
    names = [n for n in PEERS + OURS + VARIANTS + [NONE]]
    head = ("| metric | " + " | ".join(names) + " |"
            + "".join(f" {v} ÷ best peer |" for v in OURS + VARIANTS))
    lines = [head, "|" + "---|" * (len(names) + 1 + len(OURS) + len(VARIANTS))]
    R["ratios"] = {}
    for label, vals, digits, compare in rows(R):
        rat = ratios(label, vals, compare)
        R["ratios"][label] = rat
        cells = [fmt(vals.get(n), digits) for n in names]
        rc = [("–" if rat.get(o) is None else f"{rat[o]:.2f}") for o in OURS + VARIANTS]
        lines.append(f"| {label} | " + " | ".join(cells) + " | " + " | ".join(rc) + " |")
    return "\n".join(lines)


def targets(R):
    """The issue's targets, each met or missed, with the figures."""
    out = []

    def add(name, ok, detail):
        out.append({"target": name, "met": ok, "detail": detail})

    for step, what in [("idle", ""), ("pause", " -P")]:
        if step not in R:
            continue
        for o in OURS:
            c, s = med(R[step][o]["ctxt"]), med(R[step][o]["syscalls"])
            add(f"{o}{what}: 0 wake-ups idle", c == 0 and s == 0,
                f"{c} context switches, {s} syscalls")
    if "idle" in R:
        I = R["idle"]
        best_static = min(med(I[p]["pss"]) for p in ["tini-static", "catatonit"])
        pss = med(I["tini-rs-static"]["pss"])
        add("tini-rs-static PSS ≤ best static peer", pss <= best_static,
            f"{pss} kB vs {best_static} kB")
        best_dyn = min(med(I[p]["uss"]) for p in ["tini", "dumb-init"])
        uss = med(I["tini-rs"]["uss"])
        add("tini-rs USS ≤ 2× best dynamic peer", uss <= 2 * best_dyn,
            f"{uss} kB vs 2 × {best_dyn} kB")
    if "startup" in R:
        S = R["startup"]
        best = min(PEERS, key=lambda p: med(S[p]["overhead_us"]))
        for o, same in [("tini-rs", ["tini", "dumb-init"]),
                        ("tini-rs-static", ["tini-static", "catatonit"])]:
            v = med(S[o]["overhead_us"])
            b2 = min(same, key=lambda p: med(S[p]["overhead_us"]))
            add(f"{o}: start-up overhead ≤ best peer", v <= med(S[best]["overhead_us"]),
                f"{v:.0f} µs vs {best} {med(S[best]['overhead_us']):.0f} µs; "
                f"best peer linked alike: {b2} {med(S[b2]['overhead_us']):.0f} µs")
    if "reap" in R:
        best = min(med(R["reap"]["reapdead"][p]["init_cpu_ms"]) for p in PEERS)
        for o in OURS:
            v = med(R["reap"]["reapdead"][o]["init_cpu_ms"])
            add(f"{o}: reap {R['config']['reap_count']} dead: init CPU ≤ best peer", v <= best, f"{v:.1f} ms vs {best:.1f} ms")
    if "signals" in R:
        d = med(R["signals"]["dumb-init"]["p50_us"])
        for o in OURS:
            s = R["signals"][o]
            v = med(s["p50_us"])
            ok = v is not None and v <= d and not s["lost"] and not s["forwardable_lost"]
            add(f"{o}: signal p50 ≤ dumb-init, none lost", ok,
                f"{v:.1f} µs vs {d:.1f} µs; lost {s['lost']} SIGUSR1, "
                f"{len(s['forwardable_lost'])} other")
    if "storm" in R:
        best = min(med(R["storm"][p]["time_ms"]) for p in PEERS)
        for o in OURS:
            v, left = med(R["storm"][o]["time_ms"]), R["storm"][o]["left"]
            add(f"{o}: fork storm 0 zombies, total ≤ 1.05 × best peer",
                left == 0 and v <= 1.05 * best, f"{v:.0f} ms vs {best:.0f} ms, {left} zombies")
    return out


def machine():
    cpu = "?"
    try:
        cpu = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read()).group(1)
    except (OSError, AttributeError):
        pass
    mem = read_kb("/proc/meminfo", ["MemTotal"]).get("MemTotal", 0)
    return {"kernel": platform.release(), "cpu": cpu, "cpus": os.cpu_count(),
            "mem_gb": round(mem / 1e6, 1), "load_at_start": os.getloadavg()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke test: seconds, small counts")
    ap.add_argument("--rounds", type=int, default=0,
                    help="rounds for reaping and the fork storm (default: 11 dead, 5 live, 5 storm)")
    ap.add_argument("--signals", type=int, default=0,
                    help="spaced SIGUSR1 per entry (default 1000; 50 with --quick)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"),
                    help="directory for results.md and results.json")
    ap.add_argument("--no-build", action="store_true", help="do not run cargo build")
    ap.add_argument("--tini-rs", default=os.path.join(REPO, "target/release/tini-rs"))
    ap.add_argument("--tini-rs-static", default=os.path.join(
        REPO, "target/x86_64-unknown-linux-gnu/release/tini-rs"))
    ap.add_argument("--variant", action="append", default=[], metavar="'NAME=PATH [OPTION...]'",
                    help="also measure this tini-compatible binary (e.g. a patched tini-rs), "
                         "run as PATH [OPTION...] -- PROGRAM")
    ap.add_argument("--entries", default="",
                    help="comma-separated subset of the entries (\"no init\" always runs)")
    ap.add_argument("--only", default="startup,idle,pause,reap,signals,storm",
                    help="comma-separated subset of startup,idle,pause,reap,signals,storm")
    args = ap.parse_args()

    if os.geteuid() != 0:
        sys.exit("bench.py needs root (PID namespaces, strace -p)")
    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    if args.quick:
        cfg = dict(startup_rounds=2, startup_per_round=10, idle_rounds=1, idle_window_s=1.0,
                   reap_rounds=(1, 1), reap_count=500, signal_count=50, signal_spacing_us=200, signal_loss_ms=1000,
                   storm_rounds=1, storm_workers=2, storm_count=1000)
    else:
        cfg = dict(startup_rounds=5, startup_per_round=100, idle_rounds=3, idle_window_s=5.0,
                   reap_rounds=(11, 5), reap_count=10000, signal_count=1000, signal_spacing_us=1000, signal_loss_ms=1000,
                   storm_rounds=5, storm_workers=4, storm_count=20000)
    if args.signals:
        cfg["signal_count"] = args.signals
    if args.rounds:
        cfg["reap_rounds"] = (args.rounds, args.rounds)
        cfg["storm_rounds"] = args.rounds
    only = set(args.only.split(","))

    entries = make_entries(args)
    if args.entries:
        keep = set(args.entries.split(",")) | {NONE}
        entries = {n: e for n, e in entries.items() if n in keep}
        PEERS[:] = [p for p in PEERS if p in keep]
        OURS[:] = [o for o in OURS if o in keep]
    ensure_peers(entries)
    build_tini_rs(args)
    for n, e in entries.items():
        if e["path"] and not os.access(e["path"], os.X_OK):
            sys.exit(f"{n}: {e['path']} is missing")

    tmp = tempfile.mkdtemp(prefix="tini-bench-")
    atexit.register(shutil.rmtree, tmp, True)
    helper = build_helper(tmp)
    failures = []
    R = {"config": cfg, "date": datetime.datetime.now().isoformat(timespec="seconds"),
         "command": " ".join([os.path.relpath(sys.argv[0], REPO)] + sys.argv[1:]),
         "machine": machine(), "quick": args.quick, "binary": binary_info(entries),
         "versions": {}}
    for n in PEERS:
        R["versions"][n] = subprocess.run(["dpkg-query", "-W", "-f", "${Version}",
                                           n.replace("-static", "")],
                                          capture_output=True, text=True).stdout
    R["versions"]["tini-rs"] = subprocess.run(["git", "-C", REPO, "describe", "--always",
                                               "--dirty"], capture_output=True,
                                              text=True).stdout.strip()

    t0 = time.monotonic()
    steps = [
        ("startup", lambda: bench_startup(entries, helper, cfg["startup_rounds"],
                                          cfg["startup_per_round"], failures)),
        ("idle", lambda: bench_idle(entries, helper, tmp, cfg["idle_rounds"],
                                    cfg["idle_window_s"], failures)),
        ("pause", lambda: bench_pause(entries, tmp, cfg["idle_rounds"],
                                      cfg["idle_window_s"], failures)),
        ("signals", lambda: bench_signals(entries, helper, cfg["signal_count"],
                                          cfg["signal_spacing_us"], cfg["signal_loss_ms"], 5,
                                          failures)),
        ("reap", lambda: bench_reap(entries, helper, cfg["reap_rounds"], cfg["reap_count"],
                                    failures)),
        ("storm", lambda: bench_storm(entries, helper, cfg["storm_rounds"],
                                      cfg["storm_workers"], cfg["storm_count"], failures)),
    ]
    for name, step in steps:
        if name not in only:
            continue
        t = time.monotonic()
        print(f"[{time.monotonic() - t0:6.1f} s] {name} ...", file=sys.stderr)
        try:
            R[name] = step()
        except Exception as err:  # a broken step must fail the run, not hide
            failures.append(f"{name}: {type(err).__name__}: {err}")
        print(f"[{time.monotonic() - t0:6.1f} s] {name} done in {time.monotonic() - t:.1f} s",
              file=sys.stderr)
    R["elapsed_s"] = round(time.monotonic() - t0, 1)

    table = markdown(R)
    try:
        R["targets"] = targets(R)
    except (KeyError, TypeError, ValueError) as err:
        R["targets"] = []
        if not args.entries:  # with a subset of entries, some cannot be judged
            failures.append(f"targets: {type(err).__name__}: {err}")
    R["failures"] = failures
    md = [f"tini-rs benchmark, {R['date']}, `{R['command']}` ({R['elapsed_s']} s)", "",
          "Median over rounds (min–max of the rounds); ratio = tini-rs ÷ best peer "
          "(lower is better; signal p50 is compared with dumb-init; in pause mode -P, "
          "catatonit is the only peer).", "", table, ""]
    for t in R["targets"]:
        md.append(f"- {'MET' if t['met'] else 'MISSED'}: {t['target']} ({t['detail']})")
    if failures:
        md += ["", "FAILURES:"] + [f"- {f}" for f in failures]
    text = "\n".join(md) + "\n"
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(R, f, indent=1, default=str)
    print(text)
    print(f"written: {os.path.join(args.out, 'results.md')} and results.json", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
