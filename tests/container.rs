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

use common::engine::{Engine, Kind, STOP_TIMEOUT_SECS, check_static, docker_engine, which};
use common::{TempDir, run, wait_until};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The fixture's tag, in the Docker engine and in each podman store.
const IMAGE: &str = "tini-rs-fixture:test";
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
    /// Builds the fixture image from a context laid out in a temp dir.
    fn build_fixture(&self, tini: &Path) -> Result<(), String> {
        let busybox = PathBuf::from(
            std::env::var_os("TINI_RS_BUSYBOX").unwrap_or_else(|| "/bin/busybox".into()),
        );
        check_static(&busybox).map_err(|e| format!("busybox: {e}"))?;
        let ctx = TempDir::new("fixture");
        let io = |what: &str, e: std::io::Error| format!("fixture context: {what}: {e}");
        let dockerfile = Path::new(env!("CARGO_MANIFEST_DIR")).join("docker/fixture/Dockerfile");
        std::fs::copy(&dockerfile, ctx.file("Dockerfile")).map_err(|e| io("Dockerfile", e))?;
        let rootfs = ctx.file("rootfs");
        for dir in ["bin", "tmp"] {
            std::fs::create_dir_all(rootfs.join(dir)).map_err(|e| io(dir, e))?;
        }
        std::fs::copy(tini, rootfs.join("tini-rs")).map_err(|e| io("tini-rs", e))?;
        std::fs::copy(&busybox, rootfs.join("bin/busybox")).map_err(|e| io("busybox", e))?;
        let mut list_cmd = Command::new(rootfs.join("bin/busybox"));
        list_cmd.arg("--list");
        let (code, list, err) = run(list_cmd, Duration::from_secs(10));
        if code != 0 {
            return Err(format!("busybox --list failed: {err}"));
        }
        for applet in list.split_whitespace().filter(|a| *a != "busybox") {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))
                .map_err(|e| io(applet, e))?;
        }
        let ctx_path = ctx.0.to_string_lossy().into_owned();
        let (code, out, err) = self.exec(&["build", "-q", "-t", IMAGE, &ctx_path]);
        if code != 0 {
            return Err(format!("{:?} build failed:\n{out}\n{err}", self.kind));
        }
        Ok(())
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
        engine.build_fixture(&tini)?;
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
    let conf = format!(
        "[engine]\n\
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
        // Podman's default rlimits (nofile 1048576) are above this machine's
        // hard limits, and runc may not raise them: "error setting rlimit
        // type 7: operation not permitted". nproc counts every process of
        // uid 0 on the host, so it must not be small.
        run_opts: [
            "--network",
            "none",
            "--ulimit",
            "nofile=4096:4096",
            "--ulimit",
            "nproc=8192:8192",
        ]
        .map(String::from)
        .to_vec(),
        store: Some(store),
    };
    if let Err(why) = engine.build_fixture(&tini) {
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
    assert!(
        wait_until(Duration::from_secs(30), || out
            .file("daemon-ready")
            .exists()),
        "the daemon did not start:\n{}",
        c.logs()
    );
    let took = c.stop();
    let marker = std::fs::read_to_string(out.file("marker")).ok();
    (marker, c.inspect("{{.State.ExitCode}}"), took)
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
