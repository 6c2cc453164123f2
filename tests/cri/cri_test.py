#!/usr/bin/env python3
"""tini-rs under containerd's CRI plugin, asked what the kubelet asks.

Run by tests/cri/run.sh, once per sandbox image (TINI_RS_CRI_SANDBOX):

- `tini-rs`: containerd's sandbox_image is the tini-rs pause image
  (docker/pause/Dockerfile, `/tini-rs -P`);
- `control`: it is busybox `sleep`, which as PID 1 adopts orphans and
  never waits for them: the controls of the sandbox scenarios.

Environment (run.sh sets it): TINI_RS_CRI_SOCKET (containerd's socket),
TINI_RS_CRI_STUBS (the Python client generated from the CRI v1 api.proto),
TINI_RS_CRI_PAUSE_IMAGE, TINI_RS_CRI_BUSYBOX_IMAGE, TINI_RS_CRI_APPS_IMAGE.

Everything is observed from the host's /proc: containerd runs the pods in
the host's PID namespace's children, so host pids, parents, states,
credentials and mounts are all visible. Every pod a test makes is stopped
and removed at the end of the test, failed or not.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import uuid
from pathlib import Path

sys.path.insert(0, os.environ["TINI_RS_CRI_STUBS"])
import grpc  # noqa: E402
import api_pb2 as api  # noqa: E402
import api_pb2_grpc  # noqa: E402

SOCKET = os.environ["TINI_RS_CRI_SOCKET"]
SANDBOX = os.environ["TINI_RS_CRI_SANDBOX"]
PAUSE_IMAGE = os.environ["TINI_RS_CRI_PAUSE_IMAGE"]
BUSYBOX_IMAGE = os.environ["TINI_RS_CRI_BUSYBOX_IMAGE"]
APPS_IMAGE = os.environ["TINI_RS_CRI_APPS_IMAGE"]

# One RPC may wait for a runc start or a stop: bounded all the same.
RPC_SECS = 60
# Reaping takes milliseconds; a zombie stays forever. Only the controls
# wait all of it.
REAP_SECS = 10.0
READY_SECS = 60.0
# What the kubelet sends as StopContainer's timeout for a pod's
# terminationGracePeriodSeconds: 10.
STOP_TIMEOUT = 10
GRACE = "8"

# The member's script (as in tests/container.rs): the subshell exits at
# once, so `sleep 2001` is an orphan, re-parented to PID 1 of the pod's
# shared PID namespace, the sandbox process. `sleep 2002` stays up as the
# container's own process. The numbers are this file's own, so that no
# other test's sleeps are taken for ours.
MEMBER_SCRIPT = "(sleep 2001 &); exec sleep 2002"
ORPHAN_ARGV = ["sleep", "2001"]

# redis and postgres as tests/apps/stop_loses.py runs them, daemonized by
# the main child, which then waits; but on unix sockets only (the pods use
# the host's network namespace: no TCP port is opened).
REDIS_MAIN = (
    "redis-server --daemonize yes --dir /data --save '3600 1' --rdbcompression no "
    "--port 0 --unixsocket /tmp/redis.sock --logfile /data/redis.log; sleep infinity"
)
REDIS_CLI = ["redis-cli", "-s", "/tmp/redis.sock"]
AS_POSTGRES = "setpriv --reuid=postgres --regid=postgres --init-groups"
# A copy of the image's cluster on a host directory, so that its
# pg_control can be read once the container is gone.
PG_MAIN = (
    "cp -a /srv/pg /out/pg && "
    f"{AS_POSTGRES} pg_ctl start -D /out/pg -l /tmp/postgres.log "
    "-o '-k /tmp -c listen_addresses='; sleep infinity"
)
PSQL = ["psql", "-h", "/tmp", "-U", "postgres", "-Atc"]
KEY_BEFORE = "tini-rs-saved-before"
KEY_AFTER = "tini-rs-written-after"

NOT_PID1_WARNING = "tini-rs is not PID 1 and not a child subreaper"
# What tini-rs says instead when it is started into a PID namespace that
# another process (here the pod's sandbox) is PID 1 of: that PID 1 reaps.
SHARED_PID_WARNING = "it shares a PID namespace whose PID 1 is another process"


def runtime():
    channel = grpc.insecure_channel(f"unix://{SOCKET}")
    return api_pb2_grpc.RuntimeServiceStub(channel)


RT = runtime()


def wait_until(secs, cond):
    end = time.monotonic() + secs
    while True:
        if cond():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(0.05)


# --------------------------------------------------------------------------
# /proc


def argv_of(pid):
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [w.decode(errors="replace") for w in raw.split(b"\0")[:-1]]


def stat_of(pid):
    """(state, ppid) of a process, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1])


def children_of(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = stat_of(int(entry))
            if st and st[1] == pid:
                found.append(int(entry))
    return found


def comm_of(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def status_field(pid, name):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def root_is_read_only(pid):
    """Whether the process's / is mounted read-only (its mountinfo)."""
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == "/":
            return "ro" in fields[5].split(",")
    raise AssertionError(f"no / in /proc/{pid}/mountinfo")


def alive(pid):
    st = stat_of(pid)
    return st is not None and st[0] != "Z"


# --------------------------------------------------------------------------
# Pods and containers, as the kubelet asks for them


class Pod:
    """A pod sandbox on the host's network. `shared_pid`: one PID namespace
    for the pod (shareProcessNamespace: true); `constrained`: the
    restricted pod of scenario 2 (read-only root, user 65534, the
    runtime's default seccomp profile)."""

    def __init__(self, test, shared_pid, constrained=False):
        self.logs = tempfile.mkdtemp(prefix="tini-rs-cri-logs-")
        self.pid_mode = api.POD if shared_pid else api.CONTAINER
        security = api.LinuxSandboxSecurityContext(
            namespace_options=api.NamespaceOption(
                network=api.NODE, pid=self.pid_mode, ipc=api.POD
            ),
        )
        if constrained:
            security.readonly_rootfs = True
            security.run_as_user.value = 65534
            security.seccomp.profile_type = api.SecurityProfile.RuntimeDefault
        name = f"{test.replace('_', '-')[:40]}-{os.getpid()}"
        self.config = api.PodSandboxConfig(
            metadata=api.PodSandboxMetadata(
                name=name, uid=str(uuid.uuid4()), namespace="tini-rs-cri", attempt=0
            ),
            # No hostname: a pod on the host's network has the host's UTS
            # namespace, where runc refuses to set one.
            log_directory=self.logs,
            linux=api.LinuxPodSandboxConfig(security_context=security),
        )
        try:
            self.id = RT.RunPodSandbox(
                api.RunPodSandboxRequest(config=self.config), timeout=RPC_SECS
            ).pod_sandbox_id
        except BaseException:
            shutil.rmtree(self.logs, True)
            raise
        self.containers = []

    def info(self):
        status = RT.PodSandboxStatus(
            api.PodSandboxStatusRequest(pod_sandbox_id=self.id, verbose=True),
            timeout=RPC_SECS,
        )
        return status, json.loads(status.info["info"])

    def pid(self):
        """The host pid of the sandbox process."""
        pid = self.info()[1]["pid"]
        assert pid > 0, f"sandbox {self.id} has no process"
        return pid

    def container(self, name, image, command, mounts=(), constrained=False):
        """Creates and starts a container; returns its id."""
        security = api.LinuxContainerSecurityContext(
            namespace_options=api.NamespaceOption(
                network=api.NODE, pid=self.pid_mode, ipc=api.POD
            ),
        )
        if constrained:
            security.readonly_rootfs = True
            security.run_as_user.value = 65534
            security.capabilities.drop_capabilities.append("ALL")
            security.seccomp.profile_type = api.SecurityProfile.RuntimeDefault
        config = api.ContainerConfig(
            metadata=api.ContainerMetadata(name=name, attempt=0),
            image=api.ImageSpec(image=image),
            command=command,
            log_path=f"{name}.log",
            mounts=[api.Mount(container_path=c, host_path=h) for c, h in mounts],
            linux=api.LinuxContainerConfig(security_context=security),
        )
        cid = RT.CreateContainer(
            api.CreateContainerRequest(
                pod_sandbox_id=self.id, config=config, sandbox_config=self.config
            ),
            timeout=RPC_SECS,
        ).container_id
        self.containers.append(cid)
        RT.StartContainer(api.StartContainerRequest(container_id=cid), timeout=RPC_SECS)
        return cid

    def log(self, name):
        """A container's log, the CRI format's prefixes (time, stream,
        tag) taken off."""
        try:
            lines = Path(self.logs, f"{name}.log").read_text().splitlines()
        except OSError:
            return ""
        return "\n".join(line.split(" ", 3)[-1] for line in lines)

    def stop(self):
        t = time.monotonic()
        RT.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=self.id), timeout=RPC_SECS)
        return time.monotonic() - t

    def remove(self):
        """Stops and removes the pod (with its containers), if a test has
        not already."""
        try:
            listed = RT.ListPodSandbox(api.ListPodSandboxRequest(), timeout=RPC_SECS).items
            if self.id in [p.id for p in listed]:
                RT.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=self.id),
                                  timeout=RPC_SECS)
                RT.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=self.id),
                                    timeout=RPC_SECS)
        finally:
            shutil.rmtree(self.logs, True)


def container_pid(cid):
    status = RT.ContainerStatus(
        api.ContainerStatusRequest(container_id=cid, verbose=True), timeout=RPC_SECS
    )
    return json.loads(status.info["info"])["pid"]


def exec_sync(cid, cmd, timeout=30):
    r = RT.ExecSync(api.ExecSyncRequest(container_id=cid, cmd=cmd, timeout=timeout),
                    timeout=timeout + RPC_SECS)
    return r.exit_code, (r.stdout + r.stderr).decode(errors="replace")


def stop_container(cid):
    t = time.monotonic()
    RT.StopContainer(api.StopContainerRequest(container_id=cid, timeout=STOP_TIMEOUT),
                     timeout=STOP_TIMEOUT + RPC_SECS)
    return time.monotonic() - t


def shims_of(sandbox_id):
    """containerd's shim for a pod: its command line names the pod's id."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            argv = argv_of(int(entry))
            if argv and argv[0].endswith("containerd-shim-runc-v2") and sandbox_id in argv:
                found.append(int(entry))
    return found


class Ending:
    """How a process ends, seen by strace attached to it: strace's last
    line, "+++ killed by SIGKILL +++" or "+++ exited with 0 +++"."""

    def __init__(self, pid):
        self.out = tempfile.NamedTemporaryFile(prefix="tini-rs-cri-strace-")
        self.strace = subprocess.Popen(
            ["strace", "-q", "-e", "trace=none", "-o", self.out.name, "-p", str(pid)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Attached once the kernel names strace as the tracer.
        attached = wait_until(READY_SECS, lambda: status_field(pid, "TracerPid") == str(self.strace.pid))
        if not attached:
            self.close()
            raise AssertionError(f"strace did not attach to {pid}")

    def last_line(self):
        """Waits (bounded) for the traced process to end; strace's last line."""
        try:
            self.strace.wait(timeout=REAP_SECS)
        except subprocess.TimeoutExpired:
            return None
        lines = Path(self.out.name).read_text().splitlines()
        return lines[-1] if lines else ""

    def close(self):
        if self.strace.poll() is None:
            self.strace.kill()
            self.strace.wait()
        self.out.close()


class PodTest(unittest.TestCase):
    def pod(self, **kw):
        pod = Pod(self._testMethodName, **kw)
        self.addCleanup(pod.remove)
        return pod

    def assert_sandbox_process(self, pid):
        """`pid` is the sandbox image's process and PID 1 of its namespace."""
        want = ["/tini-rs", "-P"] if SANDBOX == "tini-rs" else ["/bin/sleep", "1000000"]
        # RunPodSandbox returns once runc has started the process, which
        # may still be `runc init` on its way to exec (or in the exec).
        wait_until(READY_SECS, lambda: argv_of(pid) == want)
        self.assertEqual(argv_of(pid), want, f"host pid {pid} is not the sandbox process")
        nspid = status_field(pid, "NSpid") or ""
        self.assertEqual(nspid.split()[-1:], ["1"], f"sandbox not PID 1 (NSpid {nspid!r})")

    def orphan_fate(self, pod, constrained=False):
        """Starts a member running MEMBER_SCRIPT; waits until its orphan is
        the sandbox's child, sends it SIGTERM, and returns its state
        REAP_SECS later: None once reaped, 'Z' for a zombie nobody waits
        for."""
        sandbox = pod.pid()
        member = pod.container("member", BUSYBOX_IMAGE, ["/bin/sh", "-c", MEMBER_SCRIPT],
                               constrained=constrained)
        self.member_pid = container_pid(member)
        orphan = []

        def adopted():
            orphan[:] = [p for p in children_of(sandbox) if argv_of(p) == ORPHAN_ARGV]
            return bool(orphan)

        self.assertTrue(
            wait_until(READY_SECS, adopted),
            f"the member's orphan was not re-parented to the sandbox {sandbox}: "
            f"its children {[(p, argv_of(p)) for p in children_of(sandbox)]}; "
            f"member log: {pod.log('member')!r}",
        )
        os.kill(orphan[0], 15)  # the orphan this test started, just seen
        wait_until(REAP_SECS, lambda: stat_of(orphan[0]) is None)
        st = stat_of(orphan[0])
        return None if st is None else st[0]


# --------------------------------------------------------------------------
# Scenarios 1 to 3: the sandbox process (both passes; the control pass
# shows each assertion failing with busybox sleep)


class Sandbox(PodTest):
    def test_1_shared_pid_pod_sandbox_reaps_a_members_orphan(self):
        pod = self.pod(shared_pid=True)
        sandbox = pod.pid()
        self.assert_sandbox_process(sandbox)
        # An unconstrained pod: what scenario 2's checks must not find
        # (but containerd mounts every sandbox's root read-only, and sets
        # no_new_privs for every one).
        self.assertEqual(status_field(sandbox, "Uid").split()[0], "0")
        self.assertEqual(status_field(sandbox, "Seccomp"), "0")
        self.assertTrue(root_is_read_only(sandbox))
        # As root it keeps containerd's default capability set.
        self.assertNotEqual(status_field(sandbox, "CapEff"), "0000000000000000")
        self.assertEqual(status_field(sandbox, "NoNewPrivs"), "1")
        # -998 from containerd, unless the machine does not let root lower
        # it (docker/engine.sh's restrict_oom_score_adj).
        oom = Path(f"/proc/{sandbox}/oom_score_adj").read_text().strip()
        print(f"\n    sandbox oom_score_adj {oom}", file=sys.stderr)
        fate = self.orphan_fate(pod)
        member = self.member_pid
        self.assertEqual(status_field(member, "Uid").split()[0], "0")
        self.assertEqual(status_field(member, "Seccomp"), "0")
        self.assertNotEqual(status_field(member, "CapEff"), "0000000000000000")
        self.assertFalse(root_is_read_only(member))
        if SANDBOX == "tini-rs":
            self.assertIsNone(fate, "tini-rs -P did not reap the member's orphan")
        else:
            self.assertEqual(fate, "Z", "control: busybox sleep cannot reap")

    def test_2_constrained_pod_sandbox_reaps_a_members_orphan(self):
        pod = self.pod(shared_pid=True, constrained=True)
        sandbox = pod.pid()
        self.assert_sandbox_process(sandbox)
        self.assertEqual(status_field(sandbox, "Uid").split(), ["65534"] * 4)
        self.assertEqual(status_field(sandbox, "Seccomp"), "2", "not under a seccomp filter")
        self.assertTrue(root_is_read_only(sandbox), "the sandbox's / is writable")
        fate = self.orphan_fate(pod, constrained=True)
        member = self.member_pid
        self.assertEqual(status_field(member, "Uid").split(), ["65534"] * 4)
        self.assertEqual(status_field(member, "Seccomp"), "2")
        self.assertEqual(status_field(member, "CapEff"), "0000000000000000")
        self.assertEqual(status_field(member, "CapBnd"), "0000000000000000")
        self.assertTrue(root_is_read_only(member))
        if SANDBOX == "tini-rs":
            self.assertIsNone(fate, "tini-rs -P did not reap under the pod's constraints")
        else:
            self.assertEqual(fate, "Z", "control: busybox sleep cannot reap")
        # The CRI has no capability setting for a sandbox; as a user other
        # than root it has none in effect.
        self.assertEqual(status_field(sandbox, "CapEff"), "0000000000000000")
        self.assertEqual(status_field(sandbox, "NoNewPrivs"), "1")

    def test_3_stop_and_remove_pod_sandbox_leave_nothing_running(self):
        pod = self.pod(shared_pid=True)
        sandbox = pod.pid()
        member = pod.container("member", BUSYBOX_IMAGE, ["/bin/sh", "-c", MEMBER_SCRIPT])
        member_pid = container_pid(member)
        shims = shims_of(pod.id)

        def running():
            return [p for p in [sandbox, member_pid, *shims] if alive(p)]

        # The control of the checks below: a live pod is found running.
        self.assertEqual(len(running()), 3, f"sandbox, member, shim: {running()}")
        ending = Ending(sandbox)
        self.addCleanup(ending.close)
        took = pod.stop()
        # containerd's StopPodSandbox: SIGKILL, no stop signal first.
        self.assertEqual(ending.last_line(), "+++ killed by SIGKILL +++")
        self.assertLess(took, 5.0, "StopPodSandbox did not end the pod at once")
        self.assertEqual([p for p in [sandbox, member_pid] if alive(p)], [],
                         "a process of the pod outlived StopPodSandbox")
        status, _ = pod.info()
        self.assertEqual(status.status.state, api.SANDBOX_NOTREADY)
        RT.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=pod.id), timeout=RPC_SECS)
        self.assertTrue(wait_until(10, lambda: not running()), f"still running: {running()}")
        self.assertEqual(shims_of(pod.id), [])
        listed = RT.ListPodSandbox(api.ListPodSandboxRequest(), timeout=RPC_SECS).items
        self.assertNotIn(pod.id, [p.id for p in listed])
        print(f"\n    StopPodSandbox took {took:.2f} s", file=sys.stderr)



class SandboxSignals(PodTest):
    """tini-rs pass only: busybox sleep, PID 1 without a handler, never
    takes a signal sent from outside its namespace."""

    def test_3_control_a_sandbox_stopped_by_sigterm_is_seen_exiting_0(self):
        """The control of the SIGKILL check above: tini-rs -P that gets
        SIGTERM (sent here, not by containerd) is seen exiting with 0, and
        the pod, its sandbox gone, is NOTREADY (the kubelet would make the
        pod anew). Before that, SIGHUP, SIGUSR1 and SIGPIPE, once taken
        (no longer pending), leave it running and the pod READY."""
        pod = self.pod(shared_pid=True)
        sandbox = pod.pid()
        self.assert_sandbox_process(sandbox)
        ending = Ending(sandbox)
        self.addCleanup(ending.close)
        for sig in (1, 10, 13):  # the sandbox process of this test's pod
            os.kill(sandbox, sig)

        def taken():
            return all(int(status_field(sandbox, f) or "1", 16) == 0
                       for f in ("SigPnd", "ShdPnd"))

        self.assertTrue(wait_until(REAP_SECS, taken), "the signals stay pending")
        self.assertTrue(alive(sandbox), "tini-rs -P ended on SIGHUP, SIGUSR1 or SIGPIPE")
        self.assertEqual(pod.info()[0].status.state, api.SANDBOX_READY)
        os.kill(sandbox, 15)
        self.assertEqual(ending.last_line(), "+++ exited with 0 +++")
        self.assertTrue(
            wait_until(READY_SECS, lambda: pod.info()[0].status.state == api.SANDBOX_NOTREADY),
            "the pod stayed READY without its sandbox")


# --------------------------------------------------------------------------
# Scenarios 4 and 5: tini-rs as a container's init (tini-rs pass only; the
# controls are the same pods without the option that matters)


class Init(PodTest):
    def redis_stop(self, pod, init):
        """redis daemonized by the main child of `init` in `pod`, a key
        written after the last save, StopContainer(timeout=10). Returns
        whether the key is in the RDB file, the stop's duration, the
        container's log, and who was redis's parent before the stop:
        "init" (the container's first process), "sandbox", or a pid."""
        data = tempfile.mkdtemp(prefix="tini-rs-cri-redis-")
        self.addCleanup(shutil.rmtree, data, True)
        cid = pod.container("redis", APPS_IMAGE, [*init, "sh", "-c", REDIS_MAIN],
                            mounts=[("/data", data)])
        self.assertTrue(
            wait_until(READY_SECS, lambda: "PONG" in exec_sync(cid, [*REDIS_CLI, "ping"])[1]),
            f"redis did not answer: {pod.log('redis')!r}",
        )
        for cmd in (["SET", KEY_BEFORE, "1"], ["SAVE"], ["SET", KEY_AFTER, "2"]):
            code, out = exec_sync(cid, [*REDIS_CLI, *cmd])
            self.assertEqual(code, 0, out)
        first, sandbox = container_pid(cid), pod.pid()
        redis = [p for p in children_of(first) + children_of(sandbox) if comm_of(p) == "redis-server"]
        self.assertEqual(len(redis), 1, f"redis-server children of {first} or {sandbox}: {redis}")
        parent = stat_of(redis[0])[1]
        parent = {first: "init", sandbox: "sandbox"}.get(parent, parent)
        took = stop_container(cid)
        self.assertFalse(alive(redis[0]), "redis outlived StopContainer")
        rdb = Path(data, "dump.rdb").read_bytes()
        self.assertIn(KEY_BEFORE.encode(), rdb, "the key saved before the stop is lost")
        return KEY_AFTER.encode() in rdb, took, pod.log("redis"), parent

    def postgres_stop(self, init):
        """postgres started with pg_ctl by the main child of `init`, a
        table written, StopContainer(timeout=10): pg_controldata's cluster
        state and the stop's duration."""
        pod = self.pod(shared_pid=False)
        out = tempfile.mkdtemp(prefix="tini-rs-cri-pg-")
        os.chmod(out, 0o755)
        self.addCleanup(shutil.rmtree, out, True)
        cid = pod.container("postgres", APPS_IMAGE, [*init, "sh", "-c", PG_MAIN],
                            mounts=[("/out", out)])
        self.assertTrue(
            wait_until(READY_SECS, lambda: exec_sync(cid, [*PSQL, "SELECT 1"])[1].strip() == "1"),
            f"postgres did not answer: {pod.log('postgres')!r}",
        )
        code, text = exec_sync(cid, [*PSQL, "CREATE TABLE t (n int); INSERT INTO t VALUES (42)"])
        self.assertEqual(code, 0, text)
        took = stop_container(cid)
        # PostgreSQL's own reader, in a container of the same pod.
        reader = pod.container("reader", APPS_IMAGE, ["sleep", "infinity"],
                               mounts=[("/out", out)])
        code, text = exec_sync(reader, ["pg_controldata", "/out/pg"])
        self.assertEqual(code, 0, text)
        state = [line.split(":", 1)[1].strip() for line in text.splitlines()
                 if line.startswith("Database cluster state:")]
        return state, took

    # Scenario 4: tini-rs as a container's ENTRYPOINT in a pod (its own PID
    # namespace: tini-rs is PID 1).

    def test_4_grace_period_keeps_the_redis_key(self):
        pod = self.pod(shared_pid=False)
        kept, took, log, _ = self.redis_stop(pod, ["/tini-rs", "--grace-period", GRACE, "--"])
        self.assertTrue(kept, f"the key written after the last save is lost; log: {log!r}")
        self.assertLess(took, STOP_TIMEOUT, "the stop waited for the SIGKILL")
        print(f"\n    StopContainer took {took:.2f} s", file=sys.stderr)

    def test_4_control_without_grace_period_the_redis_key_is_lost(self):
        pod = self.pod(shared_pid=False)
        kept, took, log, _ = self.redis_stop(pod, ["/tini-rs", "--"])
        self.assertFalse(kept, "without --grace-period redis had no time to save")

    def test_4_grace_period_shuts_postgres_down_cleanly(self):
        state, took = self.postgres_stop(["/tini-rs", "--grace-period", GRACE, "--"])
        self.assertEqual(state, ["shut down"])
        self.assertLess(took, STOP_TIMEOUT)
        print(f"\n    StopContainer took {took:.2f} s", file=sys.stderr)

    def test_4_control_without_grace_period_postgres_needs_recovery(self):
        state, _ = self.postgres_stop(["/tini-rs", "--"])
        self.assertEqual(state, ["in production"])

    # Scenario 5: a pod with one PID namespace: the sandbox is PID 1, and
    # tini-rs as a member container's init is not.

    def test_5_shared_pid_member_init_with_s_keeps_the_redis_key(self):
        pod = self.pod(shared_pid=True)
        kept, took, log, parent = self.redis_stop(
            pod, ["/tini-rs", "-s", "--grace-period", GRACE, "--"])
        self.assertNotIn(NOT_PID1_WARNING, log)
        self.assertNotIn(SHARED_PID_WARNING, log)
        self.assertEqual(parent, "init", "with -s tini-rs adopts the daemonized redis")
        self.assertTrue(kept, f"the key written after the last save is lost; log: {log!r}")
        self.assertLess(took, STOP_TIMEOUT)
        print(f"\n    StopContainer took {took:.2f} s", file=sys.stderr)

    def test_5_control_shared_pid_member_init_without_s_loses_the_redis_key(self):
        pod = self.pod(shared_pid=True)
        kept, took, log, parent = self.redis_stop(
            pod, ["/tini-rs", "--grace-period", GRACE, "--"])
        self.assertIn(SHARED_PID_WARNING, log)
        self.assertNotIn(NOT_PID1_WARNING, log)
        self.assertEqual(parent, "sandbox", "without -s the pod's PID 1 adopts redis")
        self.assertFalse(kept, "without -s redis is not tini-rs's to wait for")
        print(f"\n    tini-rs printed: {log.strip()!r}", file=sys.stderr)


def main():
    loader = unittest.TestLoader()
    suite = loader.loadTestsFromTestCase(Sandbox)
    if SANDBOX == "tini-rs":
        suite.addTests(loader.loadTestsFromTestCase(SandboxSignals))
        suite.addTests(loader.loadTestsFromTestCase(Init))
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stderr).run(suite)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
