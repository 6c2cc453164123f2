//! What users ask every init for, shown in a real Docker engine (issue 20):
//! - why the main child died: the signal, a core, and whether the kernel's
//!   OOM killer sent the SIGKILL (`docker run -m 32m`), or someone else;
//! - `--wait-all`: the container outlives a main child that hands over to a
//!   successor or daemonizes, signals reach what is left, and a stop is
//!   still bounded by the grace period;
//! - tini-rs as a HEALTHCHECK wrapper, under a PID 1 that never reaps: the
//!   probe's orphans neither pile up as zombies nor stay as strays, and the
//!   probe's exit status reaches Docker's health state unchanged.
//!
//! Environment as for tests/container.rs (set by tests/run.sh):
//! `TINI_RS_STATIC`, `TINI_RS_DOCKER_HOST`, optionally `TINI_RS_DOCKER_CLI`
//! and `TINI_RS_BUSYBOX`. Missing, a test is skipped locally and FAILS when
//! `CI` is set. Every container is named, runs with `--network none`, and is
//! removed by a guard even when the test fails.
mod common;

use common::engine::{Container, Engine, check_static, docker_engine};
use common::{TempDir, run, wait_until};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The fixture image (docker/fixture/Dockerfile): the static tini-rs as
/// ENTRYPOINT, busybox for everything else.
const IMAGE: &str = "tini-rs-fixture:test";

/// The Docker engine of `TINI_RS_DOCKER_HOST`, with the fixture image built
/// once per test process.
fn docker(test: &str) -> Option<&'static Engine> {
    let Ok(host) = std::env::var("TINI_RS_DOCKER_HOST") else {
        common::skip(
            test,
            "TINI_RS_DOCKER_HOST is unset (start one: docker/engine.sh start DIR $TINI_RS_STATIC)",
        );
        return None;
    };
    let Some(tini) = std::env::var_os("TINI_RS_STATIC").map(PathBuf::from) else {
        common::skip(
            test,
            "TINI_RS_STATIC is unset (the static build: see tests/run.sh)",
        );
        return None;
    };
    static DOCKER: OnceLock<Result<Engine, String>> = OnceLock::new();
    let engine = DOCKER.get_or_init(|| {
        check_static(&tini)?;
        let engine = docker_engine(&host)?;
        engine.build_fixture(&tini, IMAGE)?;
        Ok(engine)
    });
    match engine {
        Ok(engine) => Some(engine),
        Err(why) => panic!("{test}: {why}"),
    }
}

/// tini-rs's lines in the container's output.
fn tini_lines(output: &str) -> Vec<&str> {
    output
        .lines()
        .filter(|l| l.contains(" tini-rs ("))
        .collect()
}

/// Runs a container to its end: (exit code, its whole output as the log
/// driver kept it, complete, unlike what `run` may have copied by the time
/// it returns; then run's own).
fn run_to_end(c: &Container, args: &[&str]) -> (i32, String) {
    let (code, out, err) = c.run(args);
    let logs = c.logs();
    (code, format!("{logs}\n--- run's own output:\n{out}\n{err}"))
}

// ---------------------------------------------------------------------------
// 1. Why did the main child die?

/// `docker run -m 32m` with a shell that doubles a string until the
/// container's memory limit is hit: exit 137, and tini-rs says the kernel's
/// OOM killer sent the SIGKILL, naming the limit. Docker's own OOMKilled
/// flag agrees.
#[test]
fn docker_oom_kill_of_the_main_child_is_named() {
    let Some(d) = docker("docker_oom_kill_of_the_main_child_is_named") else {
        return;
    };
    let c = d.container("oom");
    let (code, err) = run_to_end(
        &c,
        &[
            "-m",
            "32m",
            "--memory-swap",
            "32m",
            IMAGE,
            "sh",
            "-c",
            "x=0123456789; while :; do x=$x$x; done",
        ],
    );
    assert_eq!(code, 137, "not killed by SIGKILL:\n{err}");
    assert_eq!(c.inspect("{{.State.OOMKilled}}"), "true", "{err}");
    let lines = tini_lines(&err);
    assert!(
        lines.iter().any(|l| l
            .contains("was killed by SIGKILL, by the kernel's OOM killer (memory.")
            && l.contains(" 33554432)")),
        "no OOM line naming the 32 MiB limit:\n{err}"
    );
}

/// SIGKILL to the main child from outside the container (the host, as an
/// operator or another agent would): exit 137, and tini-rs says it was not
/// the OOM killer.
#[test]
fn docker_sigkill_from_outside_is_not_called_oom() {
    let Some(d) = docker("docker_sigkill_from_outside_is_not_called_oom") else {
        return;
    };
    let c = d.container("kill");
    c.start(&[IMAGE, "sleep", "1000"]);
    let init: i32 = c.inspect("{{.State.Pid}}").parse().expect("State.Pid");
    let mut child = None;
    assert!(
        wait_until(Duration::from_secs(30), || {
            child = common::children_of(init).first().copied();
            child.is_some_and(|pid| common::proc_comm(pid).as_deref() == Some("sleep"))
        }),
        "tini-rs (host pid {init}) never started sleep"
    );
    let child = child.expect("found above");
    // SAFETY: kill(2) to the container's sleep, found as tini-rs's child.
    assert_eq!(unsafe { libc::kill(child, libc::SIGKILL) }, 0);
    let code = d.ok(&["wait", &c.name]);
    assert_eq!(code.trim(), "137");
    assert_eq!(c.inspect("{{.State.OOMKilled}}"), "false");
    let logs = c.logs();
    assert!(
        tini_lines(&logs)
            .iter()
            .any(|l| l.ends_with("was killed by SIGKILL, not by the OOM killer")),
        "no 'not by the OOM killer' line:\n{logs}"
    );
}

/// A program that really segfaults (a NULL write, compiled static so it
/// runs FROM scratch), with core dumps allowed: exit 139, and tini-rs names
/// SIGSEGV and the core. Where the machine pipes cores to a helper, whether
/// one was written is the helper's business, so only the signal is asserted.
#[test]
fn docker_segfaulting_main_child_is_named_with_its_core() {
    let test = "docker_segfaulting_main_child_is_named_with_its_core";
    let Some(d) = docker(test) else {
        return;
    };
    let dir = TempDir::new("segv");
    std::fs::write(
        dir.file("segv.c"),
        "int main(void) { *(volatile int *)0 = 1; return 0; }\n",
    )
    .expect("write segv.c");
    let mut gcc = Command::new("gcc");
    gcc.args(["-static", "-O0", "-o"])
        .arg(dir.file("segv"))
        .arg(dir.file("segv.c"));
    let (code, _, err) = run(gcc, Duration::from_secs(60));
    if code != 0 {
        common::skip(
            test,
            &format!("gcc -static failed (apt-get install gcc libc6-dev): {err}"),
        );
        return;
    }
    let volume = format!("{}:/x:ro", dir.0.display());
    let c = d.container("segv");
    let (code, err) = run_to_end(
        &c,
        &[
            "-v", &volume, "--ulimit", "core=-1", "-w", "/tmp", IMAGE, "/x/segv",
        ],
    );
    assert_eq!(code, 139, "not killed by SIGSEGV:\n{err}");
    let lines = tini_lines(&err);
    assert!(
        lines.iter().any(|l| l.contains("was killed by SIGSEGV")),
        "no SIGSEGV line:\n{err}"
    );
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    if !pattern.starts_with('|') {
        assert!(
            lines
                .iter()
                .any(|l| l.ends_with("was killed by SIGSEGV (core dumped)")),
            "core_pattern {pattern:?} writes a file, so the core must be named:\n{err}"
        );
    }
}

/// A normal exit gets no line at all (the control for the three above).
#[test]
fn docker_normal_exit_says_nothing() {
    let Some(d) = docker("docker_normal_exit_says_nothing") else {
        return;
    };
    let c = d.container("exit");
    let (code, err) = run_to_end(&c, &["-m", "32m", IMAGE, "sh", "-c", "exit 3"]);
    assert_eq!(code, 3, "{err}");
    assert!(
        tini_lines(&err).is_empty(),
        "tini-rs said something:\n{err}"
    );
}

// ---------------------------------------------------------------------------
// 2. --wait-all: stay up while the other processes live.

/// "Well inside" `docker stop`'s timeout of 20 s.
const STOP_WITHIN: Duration = Duration::from_secs(8);

/// The Jenkins shape: the main child starts its successor in a session of
/// its own and exits 7 at once. The successor runs until /tmp/done exists
/// (or, on SIGTERM, says so and exits 0).
const HANDOVER: &str = r#"
    setsid sh -c 'trap "echo successor-got-TERM; exit 0" TERM
                  echo successor-ready
                  while [ ! -e /tmp/done ]; do sleep 0.1; done
                  echo successor-done' &
    exit 7
"#;

/// Starts the fixture with `/tini-rs -v TINI_OPTS -- sh -c SCRIPT` and
/// waits (bounded) until tini-rs has reaped the main child.
fn start_with_main_child_gone<'e>(
    d: &'e Engine,
    tag: &str,
    tini_opts: &[&str],
    script: &str,
    ready: &str,
) -> Container<'e> {
    let c = d.container(tag);
    let mut args = vec!["--entrypoint", "/tini-rs", IMAGE, "-v"];
    args.extend_from_slice(tini_opts);
    args.extend(["--", "sh", "-c", script]);
    c.start(&args);
    c.wait_for_log(ready);
    c.wait_for_log("Main child exited with status");
    c
}

/// With --wait-all the container outlives the main child: `docker exec`
/// still finds it running, the successor finishes its work, and the
/// container's exit code is the main child's 7, not the successor's 0.
#[test]
fn docker_wait_all_outlives_a_main_child_that_hands_over() {
    let Some(d) = docker("docker_wait_all_outlives_a_main_child_that_hands_over") else {
        return;
    };
    let c = start_with_main_child_gone(d, "handover", &["--wait-all"], HANDOVER, "successor-ready");
    // Only a running container takes an exec: this one still runs.
    d.ok(&["exec", &c.name, "touch", "/tmp/done"]);
    assert_eq!(d.ok(&["wait", &c.name]).trim(), "7", "{}", c.logs());
    let logs = c.logs();
    assert!(logs.contains("successor-done"), "{logs}");
}

/// The control: without --wait-all (today's behaviour, tini's) the
/// container ends with the main child, and the successor never finishes.
#[test]
fn docker_without_wait_all_the_successor_dies_with_the_main_child() {
    let Some(d) = docker("docker_without_wait_all_the_successor_dies_with_the_main_child") else {
        return;
    };
    let c = d.container("handover-off");
    c.start(&[
        "--entrypoint",
        "/tini-rs",
        IMAGE,
        "--",
        "sh",
        "-c",
        HANDOVER,
    ]);
    assert_eq!(d.ok(&["wait", &c.name]).trim(), "7", "{}", c.logs());
    let (code, _, _) = d.exec(&["exec", &c.name, "touch", "/tmp/done"]);
    assert_ne!(code, 0, "exec into a container that has ended");
    assert!(!c.logs().contains("successor-done"), "{}", c.logs());
}

/// `docker stop` of the handed-over container with --grace-period 2: the
/// successor gets one SIGTERM (from the shutdown; the stop signal is not
/// also passed on) and exits; a process that ignores SIGTERM is killed at
/// the deadline. The stop takes the grace period, well inside the engine's
/// timeout, and the exit code is still the main child's.
#[test]
fn docker_wait_all_stop_is_bounded_by_the_grace_period() {
    let Some(d) = docker("docker_wait_all_stop_is_bounded_by_the_grace_period") else {
        return;
    };
    let script = format!(
        "setsid sh -c 'trap \"\" TERM; echo stubborn-ready; while :; do sleep 0.1; done' &\n{HANDOVER}"
    );
    let c = start_with_main_child_gone(
        d,
        "handover-stop",
        &["--wait-all", "--grace-period", "2"],
        &script,
        "successor-ready",
    );
    c.wait_for_log("stubborn-ready");
    let took = c.stop();
    let logs = c.logs();
    assert_eq!(c.inspect("{{.State.ExitCode}}"), "7", "{logs}");
    assert_eq!(
        logs.lines()
            .filter(|l| l.trim() == "successor-got-TERM")
            .count(),
        1,
        "the successor must get exactly one SIGTERM:\n{logs}"
    );
    assert!(
        took >= Duration::from_secs(2) && took < STOP_WITHIN,
        "stop took {took:?}; the grace period is 2 s:\n{logs}"
    );
}

/// A main child that daemonizes (double fork, new session) and exits 0:
/// the container stays; `docker kill -s USR1` reaches the daemon, since
/// signals now go to every remaining process; `docker stop` (no grace
/// period) passes SIGTERM on to it, and the container exits 0.
#[test]
fn docker_wait_all_daemonizing_main_child_gets_the_signals() {
    let Some(d) = docker("docker_wait_all_daemonizing_main_child_gets_the_signals") else {
        return;
    };
    let script = r#"
        (setsid sh -c 'trap "echo daemon-got-USR1" USR1
                       trap "echo daemon-got-TERM; exit 0" TERM
                       echo daemon-ready
                       while :; do sleep 0.1; done' &)
        exit 0
    "#;
    let c = start_with_main_child_gone(d, "daemon", &["--wait-all"], script, "daemon-ready");
    d.ok(&["kill", "-s", "USR1", &c.name]);
    c.wait_for_log("daemon-got-USR1");
    let took = c.stop();
    let logs = c.logs();
    assert!(logs.contains("daemon-got-TERM"), "{logs}");
    assert_eq!(c.inspect("{{.State.ExitCode}}"), "0", "{logs}");
    assert!(took < STOP_WITHIN, "stop took {took:?}:\n{logs}");
}

// ---------------------------------------------------------------------------
// 3. tini-rs as a HEALTHCHECK wrapper.

/// The probe: orphans a stray (`sleep 1000`) and a short-lived process that
/// becomes a zombie once it exits (`sleep 0.1`), each from a subshell that
/// exits at once, and exits with the code in /tmp/code (0 until the test
/// writes another).
const PROBE: &str = "(sleep 1000 &); (sleep 0.1 &); exit $(cat /tmp/code 2>/dev/null || echo 0)";

/// Builds an image whose PID 1 is a plain `sleep` (it never reaps) and whose
/// HEALTHCHECK runs PROBE every second, wrapped in tini-rs or not.
fn build_health_image(d: &Engine, wrapped: bool) -> String {
    let tag = format!(
        "tini-rs-health-{}:test",
        if wrapped { "wrapped" } else { "bare" }
    );
    let probe = format!("\"sh\", \"-c\", \"{PROBE}\"");
    let cmd = if wrapped {
        format!("\"/tini-rs\", \"-s\", \"--grace-period\", \"1\", \"--\", {probe}")
    } else {
        probe
    };
    let dockerfile = format!(
        "FROM {IMAGE}\n\
         ENTRYPOINT [\"sleep\", \"100000\"]\n\
         HEALTHCHECK --interval=1s --timeout=20s --retries=1 CMD [{cmd}]\n"
    );
    let ctx = TempDir::new("health-image");
    std::fs::write(ctx.file("Dockerfile"), dockerfile).expect("write Dockerfile");
    d.ok(&["build", "-q", "-t", &tag, &ctx.0.to_string_lossy()]);
    tag
}

/// The container's health: (status, the exit codes of the probe runs it
/// logged, oldest first; Docker keeps the last five).
fn health(d: &Engine, name: &str) -> (String, Vec<i32>) {
    let text = d.inspect(
        name,
        "{{.State.Health.Status}}{{range .State.Health.Log}} {{.ExitCode}}{{end}}",
    );
    let mut words = text.split_whitespace();
    let status = words.next().unwrap_or_default().to_string();
    (status, words.filter_map(|w| w.parse().ok()).collect())
}

/// Runs the health image until the probe has run at least `runs` times
/// with `code`, then returns the processes PID 1 has adopted: (all of
/// them, zombies among them), seen from the host.
fn probe_leftovers(d: &Engine, name: &str, runs: usize, code: i32) -> (Vec<i32>, Vec<i32>) {
    let start = Instant::now();
    let ran = wait_until(Duration::from_secs(60), || {
        let (_, codes) = health(d, name);
        codes.iter().filter(|&&c| c == code).count() >= runs
    });
    assert!(
        ran,
        "{name}: the probe did not run {runs} times with exit {code} in {:?}: {:?}",
        start.elapsed(),
        health(d, name)
    );
    let init: i32 = d
        .inspect(name, "{{.State.Pid}}")
        .parse()
        .expect("State.Pid");
    (common::descendants(init), common::zombies_under(init))
}

/// Without the wrapper, every probe run leaves its orphans with the sleep
/// that is PID 1: zombies and strays pile up. With `/tini-rs -s
/// --grace-period 1 --` in front, nothing is left after any run, and the
/// probe's exit status (0, then 3) is what Docker logs and judges by.
#[test]
fn docker_healthcheck_wrapper_leaves_nothing_and_keeps_the_exit_status() {
    let Some(d) = docker("docker_healthcheck_wrapper_leaves_nothing_and_keeps_the_exit_status")
    else {
        return;
    };
    // The control: a bare probe under a PID 1 that never reaps.
    let bare = build_health_image(d, false);
    let c = d.container("health-bare");
    c.start(&[&bare]);
    let (adopted, zombies) = probe_leftovers(d, &c.name, 3, 0);
    // The last run's `sleep 0.1` may still be running: 2 zombies at least.
    assert!(
        adopted.len() - zombies.len() >= 3 && zombies.len() >= 2,
        "without the wrapper 3 probe runs must leave >= 3 strays and >= 2 zombies; \
         PID 1 adopted {adopted:?}, zombies {zombies:?}"
    );
    drop(c);

    let wrapped = build_health_image(d, true);
    let c = d.container("health-wrapped");
    c.start(&[&wrapped]);
    let (adopted, zombies) = probe_leftovers(d, &c.name, 3, 0);
    assert!(
        adopted.is_empty() && zombies.is_empty(),
        "with the wrapper nothing may be left; PID 1 adopted {adopted:?}, zombies {zombies:?}"
    );
    assert!(
        wait_until(Duration::from_secs(30), || health(d, &c.name).0
            == "healthy"),
        "{:?}",
        health(d, &c.name)
    );
    // The probe now fails with 3: Docker sees 3 itself, not 1 or 143.
    d.ok(&["exec", &c.name, "sh", "-c", "echo 3 >/tmp/code"]);
    let (adopted, zombies) = probe_leftovers(d, &c.name, 1, 3);
    assert!(
        adopted.is_empty() && zombies.is_empty(),
        "PID 1 adopted {adopted:?}, zombies {zombies:?}"
    );
    assert!(
        wait_until(Duration::from_secs(30), || health(d, &c.name).0
            == "unhealthy"),
        "{:?}",
        health(d, &c.name)
    );
}

/// With `-w`, the same line for any other process tini-rs reaps: an orphan
/// SIGKILLed inside the container.
#[test]
fn docker_warn_on_reap_names_the_signal_of_an_orphan() {
    let Some(d) = docker("docker_warn_on_reap_names_the_signal_of_an_orphan") else {
        return;
    };
    let c = d.container("orphan-kill");
    let script = "(sleep 1000 & echo $! >/tmp/orphan); kill -9 $(cat /tmp/orphan); \
                  echo orphan=$(cat /tmp/orphan); sleep 1";
    let (code, err) = run_to_end(
        &c,
        &[
            "--entrypoint",
            "/tini-rs",
            IMAGE,
            "-w",
            "--",
            "sh",
            "-c",
            script,
        ],
    );
    assert_eq!(code, 0, "{err}");
    let orphan = err
        .lines()
        .find_map(|l| l.strip_prefix("orphan="))
        .unwrap_or_else(|| panic!("no orphan= line:\n{err}"));
    let want = format!(
        "Reaped zombie process with pid={orphan}; it was killed by SIGKILL, not by the OOM killer"
    );
    assert!(
        tini_lines(&err).iter().any(|l| l.ends_with(&want)),
        "no {want:?}:\n{err}"
    );
}
