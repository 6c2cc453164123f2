#!/usr/bin/env python3
"""What a `docker stop` loses, under each init: the table in BENCHMARKS.md.

    sudo python3 tests/apps/stop_loses.py [--runs N]

Runs real daemons from Debian's packages in the image of
tests/apps/image.sh, each with one init as PID 1 (Debian's tini, dumb-init,
catatonit, tini-rs, and tini-rs --grace-period 5, all in the same image),
stops each container with `docker stop -t 10` (SIGTERM to PID 1, SIGKILL
after 10 s) and looks at what the daemon left on disk:

- redis started with `redis-server --daemonize yes` by the main child
  (a shell that then waits), a key written after the last save: is the
  key in the RDB file after the stop (redis saves on SIGTERM)?
- postgres started with `pg_ctl start` the same way, a table written:
  what does `pg_controldata` say, "shut down" or "in production" (the next
  start runs crash recovery)?
- postgres itself as the main child: the same question.

Each cell is run N times (default 5); a cell whose runs disagree shows the
count of each outcome. The second table is how long `docker stop` took,
the median of the runs, in seconds.

With TINI_RS_DOCKER_HOST and TINI_RS_APPS_IMAGE set (as tests/run.sh sets
them) it uses that engine and image. Otherwise it builds the static
tini-rs, starts a private engine (docker/engine.sh) in a temporary
directory, builds the image, and stops the engine at the end.
Python 3 standard library only.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLI = os.environ.get("TINI_RS_DOCKER_CLI") or (
    "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"
)
STOP_TIMEOUT = 10  # docker stop's default
READY_WITHIN = 60.0

INITS = [
    ("tini", ["/usr/bin/tini", "--"]),
    ("dumb-init", ["/usr/bin/dumb-init", "--"]),
    ("catatonit", ["/usr/bin/catatonit", "--"]),
    ("tini-rs", ["/tini-rs", "--"]),
    ("tini-rs `--grace-period 5`", ["/tini-rs", "--grace-period", "5", "--"]),
]

# The same workloads as tests/applications.rs: see the comments there for
# why redis runs with `save '3600 1'` and `rdbcompression no`.
REDIS_MAIN = (
    "redis-server --daemonize yes --dir /data --save '3600 1' "
    "--rdbcompression no --bind 127.0.0.1 --logfile /data/redis.log; sleep infinity"
)
AS_POSTGRES = "setpriv --reuid=postgres --regid=postgres --init-groups"
PG_OPTS = "-k /tmp -c listen_addresses="
PG_CTL_MAIN = (
    f"{AS_POSTGRES} pg_ctl start -D /srv/pg -l /tmp/postgres.log -o '{PG_OPTS}'; "
    "sleep infinity"
)
PG_MAIN = AS_POSTGRES.split() + ["postgres", "-D", "/srv/pg"] + PG_OPTS.split()
KEY_BEFORE = "tini-rs-saved-before"
KEY_AFTER = "tini-rs-written-after"


class Engine:
    def __init__(self, host):
        self.host = host
        self.n = 0

    def run(self, *args, timeout=90):
        """A docker command, bounded: (exit code, stdout + stderr)."""
        p = subprocess.run(
            [CLI, "-H", self.host, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return p.returncode, p.stdout + p.stderr

    def ok(self, *args):
        code, out = self.run(*args)
        if code != 0:
            raise RuntimeError(f"docker {' '.join(args)}: {out}")
        return out

    def name(self, tag):
        self.n += 1
        return f"tini-rs-stoploses-{tag}-{os.getpid()}-{self.n}"


def wait_for(what, cond):
    end = time.monotonic() + READY_WITHIN
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} within {READY_WITHIN} s")


def stop(eng, name):
    start = time.monotonic()
    eng.ok("stop", "-t", str(STOP_TIMEOUT), name)
    return time.monotonic() - start


def redis(eng, image, init):
    """Returns (outcome, seconds the stop took)."""
    with tempfile.TemporaryDirectory(prefix="tini-rs-stoploses-") as data:
        name = eng.name("redis")
        try:
            eng.ok("run", "-d", "--name", name, "--network", "none",
                   "-v", f"{data}:/data", "--entrypoint", init[0], image,
                   *init[1:], "sh", "-c", REDIS_MAIN)
            wait_for("redis answers PING",
                     lambda: "PONG" in eng.run("exec", name, "redis-cli", "ping")[1])
            for cmd in (["SET", KEY_BEFORE, "1"], ["SAVE"], ["SET", KEY_AFTER, "2"]):
                eng.ok("exec", name, "redis-cli", *cmd)
            took = stop(eng, name)
        finally:
            eng.run("rm", "-f", name)
        rdb = Path(data, "dump.rdb").read_bytes()
        if KEY_BEFORE.encode() not in rdb:
            raise RuntimeError("the RDB file lost the key saved before the stop")
        return ("key saved" if KEY_AFTER.encode() in rdb else "key lost"), took


def postgres(eng, image, init, main):
    """Returns (pg_controldata's cluster state, seconds the stop took)."""
    name = eng.name("pg")
    with tempfile.TemporaryDirectory(prefix="tini-rs-stoploses-") as copy:
        try:
            eng.ok("run", "-d", "--name", name, "--network", "none",
                   "--entrypoint", init[0], image, *init[1:], *main)
            psql = ["exec", name, "psql", "-h", "/tmp", "-U", "postgres", "-Atc"]
            wait_for("postgres answers",
                     lambda: eng.run(*psql, "SELECT 1")[1].strip() == "1")
            eng.ok(*psql, "CREATE TABLE t (n int); INSERT INTO t VALUES (42)")
            took = stop(eng, name)
            os.mkdir(os.path.join(copy, "global"))
            eng.ok("cp", f"{name}:/srv/pg/global/pg_control", f"{copy}/global/pg_control")
        finally:
            eng.run("rm", "-f", name)
        reader = eng.name("pgcontrol")
        try:
            out = eng.ok("run", "--rm", "--name", reader, "--network", "none",
                         "-v", f"{copy}:/x:ro", image, "pg_controldata", "/x")
        finally:
            eng.run("rm", "-f", reader)
    for line in out.splitlines():
        if line.startswith("Database cluster state:"):
            state = line.split(":", 1)[1].strip()
            return f'"{state}"', took
    raise RuntimeError(f"no cluster state in pg_controldata's output:\n{out}")


WORKLOADS = [
    ("main child starts `redis-server --daemonize yes`, a key is written, then it waits",
     redis),
    ("main child starts postgres with `pg_ctl start`, a table is written, then it waits",
     lambda eng, image, init: postgres(eng, image, init, ["sh", "-c", PG_CTL_MAIN])),
    ("postgres itself is the main child, a table is written",
     lambda eng, image, init: postgres(eng, image, init, PG_MAIN)),
]


def cell(outcomes):
    """One outcome, or each with its count when the runs disagree."""
    counts = {o: outcomes.count(o) for o in dict.fromkeys(outcomes)}
    if len(counts) == 1:
        return outcomes[0]
    return ", ".join(f"{o} ({n}/{len(outcomes)})" for o, n in counts.items())


def versions(eng, image):
    script = (
        "tini --version; dumb-init --version 2>&1; catatonit --version; "
        "/tini-rs --version; redis-server --version; postgres --version"
    )
    code, out = eng.run("run", "--rm", "--network", "none", "--entrypoint", "/bin/sh",
                        image, "-c", script)
    # Redis's line goes on with build details: its version is enough.
    return [" ".join(line.split()[:3]) if line.startswith("Redis") else line.strip()
            for line in out.splitlines() if line.strip()]


def measure(eng, image, runs):
    print(f"`docker stop -t {STOP_TIMEOUT}`, {runs} run{'' if runs == 1 else 's'} per cell; "
          + "; ".join(versions(eng, image)) + ".\n")
    sys.stdout.flush()
    results = {}
    for w, (label, fn) in enumerate(WORKLOADS):
        for name, init in INITS:
            outs, times = [], []
            # Interleaved is not worth it here: each run is a fresh
            # container, seconds apart; the outcome does not depend on load.
            for _ in range(runs):
                outcome, took = fn(eng, image, init)
                outs.append(outcome)
                times.append(took)
            results[(w, name)] = (cell(outs), statistics.median(times))
            print(f"  {name:28} {label[:50]:50} {cell(outs)} "
                  f"({', '.join(f'{t:.2f}' for t in times)} s)", file=sys.stderr)
    heads = [name for name, _ in INITS]
    lines = ["| workload (`docker stop`) | " + " | ".join(heads) + " |",
             "|---" * (len(heads) + 1) + "|"]
    for w, (label, _) in enumerate(WORKLOADS):
        lines.append(f"| {label} | " + " | ".join(results[(w, h)][0] for h in heads) + " |")
    lines += ["", f"How long `docker stop` took, in seconds (median of {runs}):", "",
              "| workload | " + " | ".join(heads) + " |",
              "|---" * (len(heads) + 1) + "|"]
    short = ["redis, daemonized", "postgres, `pg_ctl start`", "postgres, main child"]
    for w, label in enumerate(short):
        lines.append(f"| {label} | "
                     + " | ".join(f"{results[(w, h)][1]:.2f}" for h in heads) + " |")
    print("\n".join(lines))


def with_private_engine(runs):
    """Builds what is missing and runs `measure` on a private engine."""
    env = dict(os.environ,
               RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static")
    subprocess.run(["cargo", "build", "--release", "--target", "x86_64-unknown-linux-gnu"],
                   cwd=REPO, env=env, check=True, stdout=sys.stderr)
    static = REPO / "target/x86_64-unknown-linux-gnu/release/tini-rs"
    engine_dir = tempfile.mkdtemp(prefix="tini-rs-stoploses-engine.")
    engine_sh = str(REPO / "docker/engine.sh")
    try:
        host = subprocess.run([engine_sh, "start", engine_dir, str(static)],
                              check=True, capture_output=True, text=True).stdout.strip()
        image = subprocess.run([str(REPO / "tests/apps/image.sh"), str(static)],
                               env=dict(os.environ, DOCKER_HOST=host), check=True,
                               stdout=subprocess.PIPE, text=True).stdout.strip()
        if not image:
            sys.exit("stop_loses.py: tests/apps/image.sh could not build the image")
        measure(Engine(host), image, runs)
    finally:
        subprocess.run([engine_sh, "stop", engine_dir], check=False)
        shutil.rmtree(engine_dir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per cell (default 5)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("stop_loses.py: must run as root (a Docker engine)")
    host = os.environ.get("TINI_RS_DOCKER_HOST")
    image = os.environ.get("TINI_RS_APPS_IMAGE")
    if host and image:
        measure(Engine(host), image, args.runs)
    else:
        with_private_engine(args.runs)


if __name__ == "__main__":
    main()
