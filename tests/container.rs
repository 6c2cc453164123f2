//! tini-rs as the first process of real containers: under a private Docker
//! engine (`docker/engine.sh`), in Docker's own `--init` slot, and under
//! rootful podman's `--init --init-path`.
//!
//! Environment, set by tests/run.sh:
//! - `TINI_RS_STATIC`: the static tini-rs. The fixture image is FROM scratch
//!   (docker/fixture/Dockerfile), so nothing else would run in it.
//! - `TINI_RS_DOCKER_HOST`: `unix://DIR/docker.sock` of an engine started by
//!   `docker/engine.sh start DIR $TINI_RS_STATIC` (the init path makes
//!   `docker run --init` run tini-rs).
//! - `TINI_RS_DOCKER_CLI` (optional): the docker client; default the
//!   engine's own /usr/bin/docker.
//! - `TINI_RS_BUSYBOX` (optional): a static busybox; default /bin/busybox.
//!
//! When one is missing, a test is skipped with a message on a developer's
//! machine and FAILS when `CI` is set to any non-empty value (see
//! `common::skip`). Every container has a unique name, runs with
//! `--network none`, and is removed by a guard even when the test fails;
//! every engine command is bounded in time.
mod common;

use common::engine::{
    Container, Engine, Kind, STOP_TIMEOUT_SECS, check_static, docker_engine, unique_name, which,
};
use common::{TempDir, run, wait_until};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The fixture's tag, in the Docker engine and in each podman store.
const IMAGE: &str = "tini-rs-fixture:test";
/// docker/pause/Dockerfile's tag: the static tini-rs alone, `-P` its
/// entrypoint.
const PAUSE_IMAGE: &str = "tini-rs-pause:test";
/// "Well inside the stop timeout".
const STOP_WITHIN: Duration = Duration::from_secs(8);

// ---------------------------------------------------------------------------
// Requirements: skip locally, fail in CI.

fn unavailable(test: &str, why: &str) {
    common::skip(test, why);
}

/// The static tini-rs from `TINI_RS_STATIC`.
fn static_tini(test: &str) -> Option<PathBuf> {
    let Some(path) = std::env::var_os("TINI_RS_STATIC").map(PathBuf::from) else {
        unavailable(
            test,
            "TINI_RS_STATIC is unset (the static build: see tests/run.sh)",
        );
        return None;
    };
    if let Err(why) = check_static(&path) {
        panic!("{test}: TINI_RS_STATIC: {why}");
    }
    Some(path)
}

// ---------------------------------------------------------------------------
// The fixture image.

impl Engine {
    /// Builds docker/pause/Dockerfile, the pause image README shows, as
    /// PAUSE_IMAGE; only the pause tests need it.
    fn build_pause_image(&self) {
        let tini = std::env::var("TINI_RS_STATIC").expect("checked when the engine was set up");
        let ctx = TempDir::new("pause-image");
        let dockerfile = Path::new(env!("CARGO_MANIFEST_DIR")).join("docker/pause/Dockerfile");
        std::fs::copy(&dockerfile, ctx.file("Dockerfile")).expect("copy docker/pause/Dockerfile");
        std::fs::copy(&tini, ctx.file("tini-rs")).expect("copy TINI_RS_STATIC");
        let ctx_path = ctx.0.to_string_lossy().into_owned();
        self.ok(&["build", "-q", "-t", PAUSE_IMAGE, &ctx_path]);
    }
}

/// The Docker engine of `TINI_RS_DOCKER_HOST`, with the fixture image built
/// once per test process.
fn docker(test: &str) -> Option<&'static Engine> {
    let Some(host) = std::env::var("TINI_RS_DOCKER_HOST").ok() else {
        unavailable(
            test,
            "TINI_RS_DOCKER_HOST is unset (start one: docker/engine.sh start DIR $TINI_RS_STATIC)",
        );
        return None;
    };
    let tini = static_tini(test)?;
    static DOCKER: OnceLock<Result<Engine, String>> = OnceLock::new();
    let engine = DOCKER.get_or_init(|| {
        let engine = docker_engine(&host)?;
        engine.build_fixture(&tini, IMAGE)?;
        Ok(engine)
    });
    match engine {
        Ok(engine) => Some(engine),
        Err(why) => panic!("{test}: {why}"),
    }
}

/// A rootful podman with a private store under a temp dir: its own root,
/// runroot, tmpdir, file locks, network config and event log, so nothing
/// touches (or is touched by) any other podman on the machine.
fn podman(test: &str) -> Option<Engine> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        unavailable(test, "rootful podman needs root");
        return None;
    }
    let Ok(program) = which("podman") else {
        unavailable(test, "podman is not installed (apt-get install podman)");
        return None;
    };
    let tini = static_tini(test)?;
    // Short: podman refuses a runroot longer than 50 characters.
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let store = TempDir(PathBuf::from(format!(
        "/tmp/tini-pm-{}-{n}",
        std::process::id()
    )));
    let _ = std::fs::remove_dir_all(&store.0);
    std::fs::create_dir_all(&store.0).expect("create the podman store dir");
    let dir = store.0.to_string_lossy().into_owned();
    // lock_type file: the default shm locks are one machine-wide segment
    // that a fresh store's first start re-initialises.
    // default_ulimits: podman's defaults (nofile 1048576) are above this
    // machine's hard limits, and runc may not raise them: "error setting
    // rlimit type 7: operation not permitted". nproc counts every process of
    // uid 0 on the host, so it must not be small. Set here rather than as
    // `run --ulimit`, because a pod's infra container gets no run options
    // (`pod create` has no --ulimit in podman 4.3).
    let conf = format!(
        "[containers]\n\
         default_ulimits = [\"nofile=4096:4096\", \"nproc=8192:8192\"]\n\
         [engine]\n\
         lock_type = \"file\"\n\
         runtime = \"runc\"\n\
         cgroup_manager = \"cgroupfs\"\n\
         events_logger = \"file\"\n\
         events_logfile_path = \"{dir}/events.log\"\n\
         tmp_dir = \"{dir}/tmp\"\n\
         [network]\n\
         network_config_dir = \"{dir}/net\"\n"
    );
    std::fs::write(store.file("containers.conf"), conf).expect("write containers.conf");
    std::fs::write(store.file("registries.conf"), "").expect("write registries.conf");
    let storage = format!(
        "[storage]\n\
         driver = \"overlay\"\n\
         graphroot = \"{dir}/root\"\n\
         runroot = \"{dir}/run\"\n"
    );
    std::fs::write(store.file("storage.conf"), storage).expect("write storage.conf");
    let engine = Engine {
        kind: Kind::Podman,
        program,
        global: [
            "--root",
            &format!("{dir}/root"),
            "--runroot",
            &format!("{dir}/run"),
            "--runtime",
            "runc",
            "--cgroup-manager",
            "cgroupfs",
        ]
        .map(String::from)
        .to_vec(),
        envs: ["containers.conf", "storage.conf", "registries.conf"]
            .iter()
            .zip([
                "CONTAINERS_CONF",
                "CONTAINERS_STORAGE_CONF",
                "CONTAINERS_REGISTRIES_CONF",
            ])
            .map(|(file, var)| (var.to_string(), format!("{dir}/{file}")))
            .collect(),
        run_opts: vec!["--network".into(), "none".into()],
        store: Some(store),
    };
    if let Err(why) = engine.build_fixture(&tini, IMAGE) {
        panic!("{test}: {why}");
    }
    Some(engine)
}

// ---------------------------------------------------------------------------
// How the init gets into the container.

#[derive(Clone, Copy, PartialEq, Debug)]
enum Init {
    /// The image's `ENTRYPOINT ["/tini-rs", "--"]`.
    Entrypoint,
    /// The engine's init slot: `docker run --init` (dockerd --init-path) or
    /// `podman run --init --init-path`.
    EngineInit,
}

/// The `run` arguments that start `sh -c SCRIPT` under `init`, with `extra`
/// run options before the image.
fn app(engine: &Engine, init: Init, extra: &[&str], script: &str) -> Vec<String> {
    let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    match init {
        Init::Entrypoint => args.extend([IMAGE, "sh", "-c", script].map(String::from)),
        Init::EngineInit => {
            args.push("--init".into());
            if engine.kind == Kind::Podman {
                let tini = std::env::var("TINI_RS_STATIC").expect("checked by podman()");
                args.extend(["--init-path".into(), tini]);
            }
            args.extend(["--entrypoint", "/bin/sh", IMAGE, "-c", script].map(String::from));
        }
    }
    args
}

/// Where the init sits in the container, as PID 1's argv[0].
fn init_path(engine: &Engine, init: Init) -> &'static str {
    match (init, engine.kind) {
        (Init::Entrypoint, _) => "/tini-rs",
        (Init::EngineInit, Kind::Docker) => "/sbin/docker-init",
        (Init::EngineInit, Kind::Podman) => "/run/podman-init",
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// `KEY=VALUE` from a line of the container's output.
fn field<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.trim_end_matches('\r').strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in the container's output:\n{out}"))
}

// ---------------------------------------------------------------------------
// Scenarios, each run under several engines and init routes.

/// PID 1 is tini-rs (the file at the init's path answers `--version` as
/// tini-rs) and the app's parent; the app is not PID 1.
fn pid1_is_tini_rs(engine: &Engine, init: Init) {
    let path = init_path(engine, init);
    let script = format!(
        "echo pid=$$; echo ppid=$PPID; echo init=$(tr '\\0' ' ' </proc/1/cmdline); \
         echo version=$({path} --version); exit 7"
    );
    let c = engine.container("pid1");
    let (code, out, err) = c.run(&strs(&app(engine, init, &["--rm"], &script)));
    assert_eq!(
        code,
        7,
        "{engine:?}/{init:?}: app's exit code:\n{out}\n{err}",
        engine = engine.kind
    );
    assert_ne!(field(&out, "pid"), "1", "the app must not be PID 1");
    assert_eq!(field(&out, "ppid"), "1", "PID 1 must be the app's parent");
    let init_line = field(&out, "init");
    assert!(
        init_line.starts_with(&format!("{path} -- ")),
        "PID 1 is not {path}: {init_line}"
    );
    let version = field(&out, "version");
    assert!(
        version.starts_with("tini-rs version "),
        "{path} is not tini-rs: {version:?}{}",
        if engine.kind == Kind::Docker && init == Init::EngineInit {
            " (start dockerd with --init-path $TINI_RS_STATIC: docker/engine.sh start DIR $TINI_RS_STATIC)"
        } else {
            ""
        }
    );
}

/// `run` returns the app's exit code, and 128+15 when SIGTERM killed it.
fn exit_codes(engine: &Engine, init: Init) {
    for (script, want) in [
        ("exit 0", 0),
        ("exit 7", 7),
        ("exit 255", 255),
        ("kill -TERM $$", 143),
    ] {
        let c = engine.container("exit");
        let (code, out, err) = c.run(&strs(&app(engine, init, &["--rm"], script)));
        assert_eq!(
            code, want,
            "{:?}/{init:?}: {script}:\n{out}\n{err}",
            engine.kind
        );
    }
}

/// 20 orphans, re-parented to PID 1, all exit at the same moment (EOF on a
/// FIFO they are all blocked on): none may be left as a zombie.
fn reaps_orphans(engine: &Engine, init: Init) {
    let script = r#"
        mkfifo /tmp/go
        orphans() { ps -o ppid,comm | grep -c '^ *1 cat$'; }
        i=0
        while [ $i -lt 20 ]; do (cat /tmp/go >/dev/null &); i=$((i + 1)); done
        n=0
        while [ "$(orphans)" -lt 20 ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n + 1)); done
        echo orphans=$(orphans)
        : >/tmp/go
        left() { ps -o stat,comm | grep -c -e '^Z' -e ' cat$'; }
        n=0
        while [ "$(left)" -gt 0 ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n + 1)); done
        echo left=$(left)
        ps -o pid,ppid,stat,comm
    "#;
    let c = engine.container("orphans");
    let (code, out, err) = c.run(&strs(&app(engine, init, &["--rm"], script)));
    assert_eq!(code, 0, "{:?}/{init:?}:\n{out}\n{err}", engine.kind);
    assert_eq!(
        field(&out, "orphans"),
        "20",
        "orphans not re-parented to PID 1:\n{out}"
    );
    assert_eq!(field(&out, "left"), "0", "orphans left as zombies:\n{out}");
}

/// The SIGTERM of `stop` reaches the app's handler (exit code 3, not the
/// engine's SIGKILL), well inside the stop timeout.
fn stop_reaches_the_app(engine: &Engine, init: Init) {
    let script = "trap 'echo got-TERM; exit 3' TERM; echo ready; sleep 1000 & wait $!; exit 9";
    let c = engine.container("stop");
    c.start(&strs(&app(engine, init, &[], script)));
    c.wait_for_log("ready");
    let took = c.stop();
    let logs = c.logs();
    assert!(
        logs.contains("got-TERM"),
        "{:?}/{init:?}: no SIGTERM:\n{logs}",
        engine.kind
    );
    assert_eq!(
        c.inspect("{{.State.ExitCode}}"),
        "3",
        "{:?}/{init:?}",
        engine.kind
    );
    assert!(
        took < STOP_WITHIN,
        "stop took {took:?} (timeout {STOP_TIMEOUT_SECS} s)"
    );
}

/// The app runs with the container's terminal (`run -t`) as its controlling
/// terminal and is its foreground process group; tini-rs (PID 1) is not.
fn tty_foreground(engine: &Engine, init: Init) {
    let script = "read -r _ _ _ _ pgrp _ _ tpgid _ </proc/$$/stat; \
                  echo me=$$; echo pgrp=$pgrp; echo tpgid=$tpgid; \
                  read -r _ _ _ _ pgrp _ </proc/1/stat; echo init_pgrp=$pgrp";
    let c = engine.container("tty");
    let (code, out, err) = c.run(&strs(&app(engine, init, &["--rm", "-t"], script)));
    assert_eq!(code, 0, "{:?}/{init:?}:\n{out}\n{err}", engine.kind);
    let me = field(&out, "me");
    assert_eq!(
        field(&out, "pgrp"),
        me,
        "the app leads its own process group:\n{out}"
    );
    assert_eq!(
        field(&out, "tpgid"),
        me,
        "the app is the terminal's foreground group:\n{out}"
    );
    assert_ne!(field(&out, "init_pgrp"), me, "{out}");
}

// ---------------------------------------------------------------------------
// Docker, tini-rs as the image's ENTRYPOINT.

#[test]
fn docker_tini_rs_is_pid1_and_the_apps_parent() {
    let Some(d) = docker("docker_tini_rs_is_pid1_and_the_apps_parent") else {
        return;
    };
    pid1_is_tini_rs(d, Init::Entrypoint);
}

#[test]
fn docker_run_returns_the_apps_exit_code() {
    let Some(d) = docker("docker_run_returns_the_apps_exit_code") else {
        return;
    };
    exit_codes(d, Init::Entrypoint);
}

#[test]
fn docker_stop_reaches_the_apps_sigterm_handler() {
    let Some(d) = docker("docker_stop_reaches_the_apps_sigterm_handler") else {
        return;
    };
    stop_reaches_the_app(d, Init::Entrypoint);
}

#[test]
fn docker_kill_usr1_reaches_the_app() {
    let Some(d) = docker("docker_kill_usr1_reaches_the_app") else {
        return;
    };
    let script = "trap 'echo got-USR1' USR1; echo ready; \
                  while :; do sleep 1000 & wait $!; done";
    let c = d.container("usr1");
    c.start(&strs(&app(d, Init::Entrypoint, &[], script)));
    c.wait_for_log("ready");
    d.ok(&["kill", "-s", "USR1", &c.name]);
    c.wait_for_log("got-USR1");
    assert_eq!(
        c.inspect("{{.State.Running}}"),
        "true",
        "USR1 must not stop the app"
    );
}

#[test]
fn docker_reaps_20_orphans_exiting_at_once() {
    let Some(d) = docker("docker_reaps_20_orphans_exiting_at_once") else {
        return;
    };
    reaps_orphans(d, Init::Entrypoint);
}

#[test]
fn docker_tty_app_is_the_foreground_process_group() {
    let Some(d) = docker("docker_tty_app_is_the_foreground_process_group") else {
        return;
    };
    tty_foreground(d, Init::Entrypoint);
}

/// A daemon in its own session (so not in the app's process group) whose
/// SIGTERM handler takes a second to write its marker to a mounted volume.
/// Returns (marker contents, container exit code, how long `stop` took).
fn stop_with_daemon(d: &Engine, tini_opts: &[&str]) -> (Option<String>, String, Duration) {
    let out = TempDir::new("grace-out");
    let volume = format!("{}:/out", out.0.display());
    let script = r#"
        setsid sh -c 'trap "sleep 1; echo finished >/out/marker; exit 0" TERM
                      touch /out/daemon-ready
                      while :; do sleep 1000 & wait $!; done' &
        trap 'exit 0' TERM
        echo ready
        while :; do sleep 1000 & wait $!; done
    "#;
    let mut args = vec!["-v", &volume, "--entrypoint", "/tini-rs", IMAGE];
    args.extend_from_slice(tini_opts);
    args.extend(["--", "sh", "-c", script]);
    let c = d.container("grace");
    c.start(&args);
    c.wait_for_log("ready");
    stop_once_daemon_ready(&out, &c, &c)
}

/// Waits (bounded) for the daemon's `/out/daemon-ready` (`daemon` runs it:
/// its output goes into the failure message), then stops `stopped`.
/// Returns (the marker the daemon's handler wrote, if any, `stopped`'s exit
/// code, how long `stop` took).
fn stop_once_daemon_ready(
    out: &TempDir,
    daemon: &Container,
    stopped: &Container,
) -> (Option<String>, String, Duration) {
    assert!(
        wait_until(Duration::from_secs(30), || out
            .file("daemon-ready")
            .exists()),
        "the daemon did not start:\n{}",
        daemon.logs()
    );
    let took = stopped.stop();
    let marker = std::fs::read_to_string(out.file("marker")).ok();
    (marker, stopped.inspect("{{.State.ExitCode}}"), took)
}

#[test]
fn docker_grace_period_lets_a_daemon_finish_its_sigterm_handler() {
    let test = "docker_grace_period_lets_a_daemon_finish_its_sigterm_handler";
    let Some(d) = docker(test) else { return };
    let (marker, code, took) = stop_with_daemon(d, &["--grace-period", "6"]);
    assert_eq!(
        marker.as_deref(),
        Some("finished\n"),
        "the daemon's handler did not finish"
    );
    assert_eq!(code, "0", "the main child's status");
    assert!(took < STOP_WITHIN, "stop took {took:?}");
}

/// The control for the test above: without a grace period tini-rs exits
/// with the app (as tini does), and the kernel kills the daemon mid-handler
/// (it never even got a SIGTERM).
#[test]
fn docker_without_grace_period_the_daemon_dies_with_the_container() {
    let test = "docker_without_grace_period_the_daemon_dies_with_the_container";
    let Some(d) = docker(test) else { return };
    let (marker, code, took) = stop_with_daemon(d, &[]);
    assert_eq!(
        marker, None,
        "without --grace-period the daemon cannot finish"
    );
    assert_eq!(code, "0");
    assert!(took < STOP_WITHIN, "stop took {took:?}");
}

// ---------------------------------------------------------------------------
// Docker's own init slot: dockerd --init-path $TINI_RS_STATIC, `run --init`.

/// The Docker engine, checked to run tini-rs in its init slot: `docker info`
/// reports the init's commit (what dockerd read from `INIT --version`), and
/// it must be the commit of `$TINI_RS_STATIC --version`. Without this check
/// the `--init` tests would pass just as well with Docker's own tini.
fn docker_with_init(test: &str) -> Option<&'static Engine> {
    let d = docker(test)?;
    let tini = std::env::var("TINI_RS_STATIC").expect("checked by docker()");
    let mut version_cmd = Command::new(&tini);
    version_cmd.arg("--version");
    let (code, version, _) = run(version_cmd, Duration::from_secs(10));
    assert_eq!(code, 0, "{tini} --version");
    let commit = version
        .trim()
        .split_once(" - git.")
        .map(|(_, c)| c.to_string())
        .unwrap_or_else(|| panic!("no ' - git.HASH' in {version:?}"));
    let info = d.ok(&["info", "--format", "{{json .InitCommit}}"]);
    assert!(
        info.contains(&format!("\"ID\":\"{commit}\"")),
        "{test}: docker info's InitCommit is {}, tini-rs's commit is {commit}: \
         start dockerd with --init-path $TINI_RS_STATIC (docker/engine.sh start DIR $TINI_RS_STATIC)",
        info.trim()
    );
    Some(d)
}

#[test]
fn docker_init_runs_tini_rs_as_pid1() {
    let Some(d) = docker_with_init("docker_init_runs_tini_rs_as_pid1") else {
        return;
    };
    pid1_is_tini_rs(d, Init::EngineInit);
    exit_codes(d, Init::EngineInit);
}

#[test]
fn docker_init_reaps_20_orphans_exiting_at_once() {
    let Some(d) = docker_with_init("docker_init_reaps_20_orphans_exiting_at_once") else {
        return;
    };
    reaps_orphans(d, Init::EngineInit);
}

#[test]
fn docker_init_stop_reaches_the_apps_sigterm_handler() {
    let Some(d) = docker_with_init("docker_init_stop_reaches_the_apps_sigterm_handler") else {
        return;
    };
    stop_reaches_the_app(d, Init::EngineInit);
}

#[test]
fn docker_init_tty_app_is_the_foreground_process_group() {
    let Some(d) = docker_with_init("docker_init_tty_app_is_the_foreground_process_group") else {
        return;
    };
    tty_foreground(d, Init::EngineInit);
}

/// dockerd runs `INIT --version` and keeps the `git.HASH` after " - "
/// (its parser was written for tini's `tini version 0.19.0 - git.de40ad0`);
/// `docker info` must show tini-rs's commit.
#[test]
fn docker_info_reports_the_init_commit() {
    docker_with_init("docker_info_reports_the_init_commit");
}

// ---------------------------------------------------------------------------
// Rootful podman: `run --init --init-path $TINI_RS_STATIC`.

#[test]
fn podman_init_runs_tini_rs_as_pid1() {
    let Some(p) = podman("podman_init_runs_tini_rs_as_pid1") else {
        return;
    };
    pid1_is_tini_rs(&p, Init::EngineInit);
    exit_codes(&p, Init::EngineInit);
}

#[test]
fn podman_init_reaps_20_orphans_exiting_at_once() {
    let Some(p) = podman("podman_init_reaps_20_orphans_exiting_at_once") else {
        return;
    };
    reaps_orphans(&p, Init::EngineInit);
}

#[test]
fn podman_init_stop_reaches_the_apps_sigterm_handler() {
    let Some(p) = podman("podman_init_stop_reaches_the_apps_sigterm_handler") else {
        return;
    };
    stop_reaches_the_app(&p, Init::EngineInit);
}

#[test]
fn podman_init_tty_app_is_the_foreground_process_group() {
    let Some(p) = podman("podman_init_tty_app_is_the_foreground_process_group") else {
        return;
    };
    tty_foreground(&p, Init::EngineInit);
}

// ---------------------------------------------------------------------------
// Pause mode (-P): tini-rs as the process that holds a pod's PID namespace
// (podman's infra container, a Kubernetes-style pause container), with a
// member container in the same namespace. Everything is observed from the
// host's /proc: the tests run in the host's PID namespace.

/// The member's script: the subshell exits at once, so `sleep 1001` is an
/// orphan, re-parented to PID 1 of the shared namespace: the pause process.
/// The member's own process (`sleep 1002`) stays up; its parent is the
/// engine's shim, outside the namespace, so it never adopts the orphan.
const MEMBER_SCRIPT: &str = "(sleep 1001 &); exec sleep 1002";
const ORPHAN_ARGV: [&str; 2] = ["sleep", "1001"];
/// Reaping takes milliseconds; a zombie would stay forever. Generous for a
/// loaded machine: only the control waits all of it.
const REAP_WITHIN: Duration = Duration::from_secs(10);

/// A process's argv from /proc (empty once it is gone).
fn argv_of(pid: i32) -> Vec<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let mut words: Vec<String> = cmdline
        .split(|&b| b == 0)
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    words.pop(); // the empty word after the last NUL
    words
}

/// The host pid of a running container's first process.
fn first_process(engine: &Engine, container: &str) -> i32 {
    let pid = engine.inspect(container, "{{.State.Pid}}");
    let pid: i32 = pid
        .parse()
        .unwrap_or_else(|_| panic!("{container}: State.Pid {pid:?}"));
    assert!(pid > 0, "{container} is not running");
    pid
}

/// `pid` is the pause process we meant (`argv`) and PID 1 of its namespace.
fn assert_pause_process(pid: i32, argv: &[&str]) {
    assert_eq!(
        argv_of(pid),
        argv,
        "host pid {pid} is not the pause process"
    );
    let nspid = common::status_field(pid, "NSpid").unwrap_or_default();
    assert_eq!(
        nspid.split_whitespace().last(),
        Some("1"),
        "the pause process is not PID 1 of its namespace (NSpid {nspid:?})"
    );
}

/// Starts `member` (`member_opts` join it to the pause process's PID
/// namespace) running MEMBER_SCRIPT; waits until its orphan is a child of
/// `pause_pid`, then sends the orphan SIGTERM. Returns the orphan's state
/// REAP_WITHIN later: None once it is reaped (gone from /proc), Some('Z')
/// for a zombie its new parent never waited for.
fn member_orphan_fate(pause_pid: i32, member: &Container, member_opts: &[&str]) -> Option<char> {
    let mut args = member_opts.to_vec();
    args.extend(["--entrypoint", "/bin/sh", IMAGE, "-c", MEMBER_SCRIPT]);
    member.start(&args);
    let mut orphan = None;
    let adopted = wait_until(Duration::from_secs(30), || {
        orphan = common::children_of(pause_pid)
            .into_iter()
            .find(|&pid| argv_of(pid) == ORPHAN_ARGV);
        orphan.is_some()
    });
    let children: Vec<_> = common::children_of(pause_pid)
        .into_iter()
        .map(|pid| (pid, argv_of(pid)))
        .collect();
    assert!(
        adopted,
        "the member's orphan was not re-parented to the pause process {pause_pid}; \
         its children: {children:?}\n{}",
        member.logs()
    );
    let orphan = orphan.expect("found above");
    // SAFETY: kill(2) to the orphan this test started, just seen in /proc
    // as the pause process's child running `sleep 1001`.
    unsafe { libc::kill(orphan, libc::SIGTERM) };
    wait_until(REAP_WITHIN, || common::ProcStat::of(orphan).is_none());
    common::ProcStat::of(orphan).map(|s| s.state)
}

/// tini-rs as the init of a member joined to the pause process's PID
/// namespace (`member_opts`), without -s: not PID 1, and its parent (the
/// engine's shim, or conmon) is outside the namespace, so it warns that the
/// namespace's PID 1 reaps the orphans, not tini's "zombie reaping won't
/// work".
fn assert_member_init_says_pid1_reaps(engine: &Engine, member_opts: &[&str]) {
    let member = engine.container("member-init");
    let mut args = member_opts.to_vec();
    args.extend(["--entrypoint", "/tini-rs", IMAGE, "--", "true"]);
    let (code, out, err) = member.run(&args);
    assert_eq!(code, 0, "the member's tini-rs:\n{out}\n{err}");
    assert!(
        err.contains("it shares a PID namespace whose PID 1 is another process"),
        "the member's tini-rs said:\n{err}"
    );
    assert!(!err.contains("zombie reaping won't work"), "{err}");
}

#[test]
fn docker_pause_mode_adopts_and_reaps_a_members_orphan_then_stops_with_0() {
    let test = "docker_pause_mode_adopts_and_reaps_a_members_orphan_then_stops_with_0";
    let Some(d) = docker(test) else { return };
    d.build_pause_image();
    let pause = d.container("pause");
    pause.start(&[PAUSE_IMAGE]);
    let pause_pid = first_process(d, &pause.name);
    assert_pause_process(pause_pid, &["/tini-rs", "-P"]);
    // As a Kubernetes pod with shareProcessNamespace: the app container
    // joins the pause container's PID namespace.
    let member = d.container("member");
    let pid_ns = format!("container:{}", pause.name);
    let fate = member_orphan_fate(pause_pid, &member, &["--pid", &pid_ns]);
    assert_eq!(fate, None, "the orphan was not reaped by tini-rs -P");
    assert_eq!(common::zombies_under(pause_pid), Vec::<i32>::new());
    assert_member_init_says_pid1_reaps(d, &["--pid", &pid_ns]);
    let took = pause.stop();
    assert_eq!(
        pause.inspect("{{.State.ExitCode}}"),
        "0",
        "tini-rs -P on docker stop:\n{}",
        pause.logs()
    );
    assert!(
        took < STOP_WITHIN,
        "stop took {took:?} (timeout {STOP_TIMEOUT_SECS} s)"
    );
}

/// The control for the test above, so that its assertions can be seen to
/// fail: busybox `sleep` as the pause process adopts the orphan (it is
/// PID 1) but never waits for it, and, having no SIGTERM handler as PID 1,
/// ignores `docker stop` until the engine's SIGKILL.
#[test]
fn docker_pause_control_sleep_as_pid1_leaves_a_zombie() {
    let test = "docker_pause_control_sleep_as_pid1_leaves_a_zombie";
    let Some(d) = docker(test) else { return };
    let pause = d.container("pause-control");
    pause.start(&["--entrypoint", "/bin/sleep", IMAGE, "1000"]);
    let pause_pid = first_process(d, &pause.name);
    assert_pause_process(pause_pid, &["/bin/sleep", "1000"]);
    let member = d.container("member");
    let pid_ns = format!("container:{}", pause.name);
    let fate = member_orphan_fate(pause_pid, &member, &["--pid", &pid_ns]);
    assert_eq!(fate, Some('Z'), "busybox sleep cannot reap");
    d.ok(&["stop", "-t", "1", &pause.name]);
    assert_eq!(pause.inspect("{{.State.ExitCode}}"), "137");
}

/// `docker stop` of a pause container running `/tini-rs -P PAUSE_OPTS`
/// while a member's orphan, adopted by tini-rs, is a daemon whose SIGTERM
/// handler takes a second to write its marker to a mounted volume. Returns
/// (marker contents, the pause container's exit code, how long `stop` took).
///
/// The member's own process ignores SIGTERM, and must: tini-rs as PID 1
/// sends SIGTERM to every process of the namespace (kill(-1)), the member's
/// first process too, and when that one ends, the engine kills whatever is
/// left in the member's cgroup, which is where the adopted daemon still is
/// (re-parenting does not move a process's cgroup), handler or not. In a
/// pod the engine stops the members before the pause process anyway.
fn pause_stop_with_adopted_daemon(
    d: &Engine,
    pause_opts: &[&str],
) -> (Option<String>, String, Duration) {
    let out = TempDir::new("pause-grace");
    let volume = format!("{}:/out", out.0.display());
    d.build_pause_image();
    let pause = d.container("pause-grace");
    // The image's command: options after its entrypoint `/tini-rs -P`.
    let mut args = vec![PAUSE_IMAGE];
    args.extend_from_slice(pause_opts);
    pause.start(&args);
    let member = d.container("member");
    let pid_ns = format!("container:{}", pause.name);
    // The daemon's subshell exits at once: the daemon is an orphan. The
    // daemon starts before `trap '' TERM`: a shell that starts with a
    // signal ignored cannot trap it.
    let script = r#"
        (sh -c 'trap "sleep 1; echo finished >/out/marker; exit 0" TERM
                touch /out/daemon-ready
                while :; do sleep 1000 & wait $!; done' &)
        trap '' TERM
        exec sleep 1002
    "#;
    member.start(&[
        "--pid",
        &pid_ns,
        "-v",
        &volume,
        "--entrypoint",
        "/bin/sh",
        IMAGE,
        "-c",
        script,
    ]);
    stop_once_daemon_ready(&out, &member, &pause)
}

/// With `--grace-period`, an adopted orphan still alive at the stop gets
/// SIGTERM and time to run its handler before tini-rs exits (and the kernel
/// kills what is left of the namespace); the exit code is still 0.
#[test]
fn docker_pause_mode_grace_period_lets_an_adopted_daemon_finish() {
    let test = "docker_pause_mode_grace_period_lets_an_adopted_daemon_finish";
    let Some(d) = docker(test) else { return };
    let (marker, code, took) = pause_stop_with_adopted_daemon(d, &["--grace-period", "6"]);
    assert_eq!(
        marker.as_deref(),
        Some("finished\n"),
        "the adopted daemon's SIGTERM handler did not finish"
    );
    assert_eq!(code, "0");
    assert!(took < STOP_WITHIN, "stop took {took:?}");
}

/// The control for the test above: without a grace period tini-rs -P exits
/// at SIGTERM at once, and the kernel kills the daemon with the namespace.
#[test]
fn docker_pause_mode_without_grace_period_the_adopted_daemon_dies() {
    let test = "docker_pause_mode_without_grace_period_the_adopted_daemon_dies";
    let Some(d) = docker(test) else { return };
    let (marker, code, took) = pause_stop_with_adopted_daemon(d, &[]);
    assert_eq!(
        marker, None,
        "without --grace-period the daemon cannot finish"
    );
    assert_eq!(code, "0");
    assert!(took < STOP_WITHIN, "stop took {took:?}");
}

/// A podman pod, removed with its containers on drop.
struct Pod<'e> {
    engine: &'e Engine,
    name: String,
}

impl<'e> Pod<'e> {
    /// `pod create --name NAME OPTIONS...` (not started).
    fn create(engine: &'e Engine, tag: &str, options: &[&str]) -> Pod<'e> {
        let pod = Pod {
            engine,
            name: unique_name(tag),
        };
        let mut line = vec!["pod", "create", "--name", &pod.name];
        line.extend_from_slice(options);
        engine.ok(&line);
        pod
    }

    fn infra(&self) -> String {
        let id = self
            .engine
            .ok(&["pod", "inspect", "-f", "{{.InfraContainerID}}", &self.name]);
        id.trim().to_string()
    }
}

impl Drop for Pod<'_> {
    fn drop(&mut self) {
        let _ = self
            .engine
            .exec(&["pod", "rm", "-f", "-t", "0", &self.name]);
    }
}

/// A pod whose infra container (`infra_opts` say how) runs `/tini-rs -P`
/// and shares its PID namespace with the pod's members: a member's orphan
/// is adopted and reaped by it, and `pod stop` ends it with 0.
fn podman_pause_pod(p: &Engine, infra_opts: &[&str]) {
    let mut options = infra_opts.to_vec();
    options.extend(["--share", "pid,ipc,uts", "--network", "none"]);
    let pod = Pod::create(p, "pod", &options);
    p.ok(&["pod", "start", &pod.name]);
    let infra = pod.infra();
    let pause_pid = first_process(p, &infra);
    assert_pause_process(pause_pid, &["/tini-rs", "-P"]);
    let member = p.container("member");
    let fate = member_orphan_fate(pause_pid, &member, &["--pod", &pod.name]);
    assert_eq!(
        fate, None,
        "the orphan was not reaped by the infra's tini-rs -P"
    );
    assert_eq!(common::zombies_under(pause_pid), Vec::<i32>::new());
    assert_member_init_says_pid1_reaps(p, &["--pod", &pod.name]);
    let start = Instant::now();
    let timeout = STOP_TIMEOUT_SECS.to_string();
    p.ok(&["pod", "stop", "-t", &timeout, &pod.name]);
    let took = start.elapsed();
    assert_eq!(
        p.inspect(&infra, "{{.State.ExitCode}}"),
        "0",
        "the infra's exit code"
    );
    assert!(took < STOP_WITHIN, "pod stop took {took:?}");
}

/// Any image as the infra image, `--infra-command` choosing tini-rs -P.
/// podman 4.3 splits `--infra-command` at spaces (a JSON array would be
/// taken as one path).
#[test]
fn podman_pod_infra_command_tini_rs_pause_reaps_a_members_orphan_then_stops_with_0() {
    let test = "podman_pod_infra_command_tini_rs_pause_reaps_a_members_orphan_then_stops_with_0";
    let Some(p) = podman(test) else { return };
    podman_pause_pod(
        &p,
        &["--infra-image", IMAGE, "--infra-command", "/tini-rs -P"],
    );
}

/// The pause image (docker/pause/Dockerfile) as the infra image: podman
/// runs its entrypoint, no `--infra-command` needed.
#[test]
fn podman_pod_pause_image_reaps_a_members_orphan_then_stops_with_0() {
    let test = "podman_pod_pause_image_reaps_a_members_orphan_then_stops_with_0";
    let Some(p) = podman(test) else { return };
    p.build_pause_image();
    podman_pause_pod(&p, &["--infra-image", PAUSE_IMAGE]);
}

// ---------------------------------------------------------------------------
// Docker with a restrictive seccomp profile, without privilege, read-only.

/// The system calls the restrictive profile allows: what a container's
/// processes commonly make, `openat2` and `faccessat2` included (glibc 2.33
/// and later need the latter), but not `clone3`, `pidfd_open`,
/// `pidfd_send_signal`, `pidfd_getfd` nor `close_range`: a profile written
/// before those existed, as Docker 20.10.0's was and as the custom profiles
/// copied from it are. Listing a call newer than `clone3` matters: for
/// calls above every number a profile names, runc answers ENOSYS instead
/// of the default action, and glibc would then fall back by itself.
const ALLOWED_SYSCALLS: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "alarm",
    "arch_prctl",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "clock_getres",
    "clock_gettime",
    "clock_nanosleep",
    "clone",
    "close",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_pwait",
    "epoll_wait",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fallocate",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchownat",
    "fcntl",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fstat",
    "fstatfs",
    "fsync",
    "ftruncate",
    "futex",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "geteuid",
    "getgid",
    "getgroups",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresuid",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "gettid",
    "gettimeofday",
    "getuid",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "ioctl",
    "kill",
    "lchown",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "lseek",
    "lstat",
    "madvise",
    "membarrier",
    "memfd_create",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mmap",
    "mprotect",
    "mremap",
    "msync",
    "munlock",
    "munmap",
    "nanosleep",
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "pause",
    "pipe",
    "pipe2",
    "poll",
    "ppoll",
    "prctl",
    "pread64",
    "preadv",
    "prlimit64",
    "pselect6",
    "pwrite64",
    "pwritev",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recvfrom",
    "recvmmsg",
    "recvmsg",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_yield",
    "select",
    "sendfile",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsuid",
    "setgid",
    "setgroups",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setresgid",
    "setresuid",
    "setreuid",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_tid_address",
    "setuid",
    "setxattr",
    "shutdown",
    "sigaltstack",
    "socket",
    "socketpair",
    "splice",
    "stat",
    "statfs",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_settime",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_settime",
    "times",
    "tkill",
    "truncate",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimes",
    "vfork",
    "wait4",
    "waitid",
    "write",
    "writev",
];

/// Writes the restrictive profile: default action EPERM, the calls above
/// allowed.
fn restrictive_profile(dir: &TempDir) -> String {
    let names: Vec<String> = ALLOWED_SYSCALLS
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect();
    let json = format!(
        "{{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 1, \
         \"architectures\": [\"SCMP_ARCH_X86_64\", \"SCMP_ARCH_X86\", \"SCMP_ARCH_X32\"], \
         \"syscalls\": [{{\"names\": [{}], \"action\": \"SCMP_ACT_ALLOW\"}}]}}",
        names.join(", ")
    );
    let path = dir.file("restrictive-seccomp.json");
    std::fs::write(&path, json).expect("write the seccomp profile");
    path.to_string_lossy().into_owned()
}

/// Under that profile, as uid 65534 with every capability dropped and a
/// read-only root: tini-rs runs (single-threaded, saying why: clone3 is
/// refused with EPERM, which glibc does not fall back from), reaps an
/// orphan, and `docker stop`'s SIGTERM reaches the app's handler. Before,
/// it did not start (`cannot start a thread: Operation not permitted`,
/// measured before the fix).
/// The control is Debian's tini-static, bind-mounted into the same image.
#[test]
fn docker_restrictive_seccomp_profile_as_nobody_on_a_read_only_root() {
    let test = "docker_restrictive_seccomp_profile_as_nobody_on_a_read_only_root";
    let Some(d) = docker(test) else { return };
    let control = "/usr/bin/tini-static";
    if !Path::new(control).exists() {
        unavailable(
            test,
            "the control /usr/bin/tini-static is missing (Debian's tini)",
        );
        return;
    }
    let dir = TempDir::new("seccomp-profile");
    let profile = format!("seccomp={}", restrictive_profile(&dir));
    let mount = format!("{control}:/tini-static:ro");
    let script = "touch /tmp/probe 2>/dev/null && echo writable; (sleep 0.3 &); \
                  trap 'echo got-TERM; exit 3' TERM; echo ready; sleep 1000 & wait $!; exit 9";
    for init in ["/tini-rs", "/tini-static"] {
        let c = d.container("restricted");
        c.start(&[
            "--security-opt",
            &profile,
            "--user",
            "65534:65534",
            "--cap-drop",
            "ALL",
            "--read-only",
            "-v",
            &mount,
            "--entrypoint",
            init,
            IMAGE,
            "--",
            "sh",
            "-c",
            script,
        ]);
        c.wait_for_log("ready");
        let pid: i32 = c
            .inspect("{{.State.Pid}}")
            .parse()
            .expect("the container's pid");
        for (field, want) in [("Seccomp", "2"), ("CapEff", "0000000000000000")] {
            assert_eq!(
                common::status_field(pid, field).as_deref(),
                Some(want),
                "{init}: {field}"
            );
        }
        assert!(
            common::status_field(pid, "Uid").is_some_and(|u| u.starts_with("65534\t")),
            "{init}: not uid 65534"
        );
        // The orphan's 0.3 s run out; PID 1 reaps it.
        let reaped = wait_until(Duration::from_secs(10), || {
            common::children_of(pid).len() == 1 && common::zombies_under(pid).is_empty()
        });
        assert!(reaped, "{init}: the orphan was not reaped");
        let took = c.stop();
        let logs = c.logs();
        assert!(
            !logs.contains("writable"),
            "{init}: the root is writable:\n{logs}"
        );
        assert!(logs.contains("got-TERM"), "{init}: no SIGTERM:\n{logs}");
        assert_eq!(c.inspect("{{.State.ExitCode}}"), "3", "{init}:\n{logs}");
        assert!(took < STOP_WITHIN, "{init}: stop took {took:?}");
        if init == "/tini-rs" {
            assert!(
                logs.contains("running single-threaded")
                    && logs.contains("Operation not permitted"),
                "tini-rs must say it runs single-threaded, and why:\n{logs}"
            );
        }
    }
}
