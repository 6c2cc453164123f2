//! `--grace-period`: the bounded, clean shutdown of every descendant, as
//! PID 1 of a PID namespace and as a subreaper.

mod common;

use common::*;
use std::time::{Duration, Instant};

fn alive(pid: i32) -> bool {
    // A zombie is dead for our purpose; gone from /proc is dead too.
    status_field(pid, "State").is_some_and(|s| !s.starts_with('Z'))
}

fn read_pids(path: &std::path::Path) -> Vec<i32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// How many processes the shutdown report (`-v`) says needed SIGKILL.
fn needed_sigkill(stderr: &str) -> Option<u32> {
    let line = stderr.lines().find(|l| l.contains("Shutdown: done"))?;
    let before = line.split(" needed SIGKILL").next()?;
    before.rsplit(' ').next()?.parse().ok()
}

/// A FIFO the main child's last command reads (`read _ < FIFO; exit N`):
/// the main child exits only once the test releases it, so the test knows
/// the moment the grace period's clock can start at the earliest.
struct ExitGate(std::path::PathBuf);

impl ExitGate {
    fn new(dir: &TempDir) -> ExitGate {
        let path = dir.file("exit-gate");
        let c_path = std::ffi::CString::new(path.to_str().expect("UTF-8 temp path"))
            .expect("no NUL in a temp path");
        // SAFETY: mkfifo with a NUL-terminated path we own.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
        ExitGate(path)
    }

    /// Waits (bounded) until the main child is blocked reading the FIFO,
    /// lets it go on to exit, and returns an instant taken before it could:
    /// the write end opens (without blocking) only once the main child has
    /// opened the read end, and its `read` returns only on what is written.
    fn release(&self) -> Instant {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut before = Instant::now();
        let mut writer = None;
        let opened = wait_until(LIMIT, || {
            before = Instant::now();
            writer = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&self.0)
                .ok();
            writer.is_some()
        });
        assert!(opened, "the main child never reached its last command");
        let mut writer = writer.expect("opened");
        writer.write_all(b"go\n").expect("write to the exit gate");
        before
    }
}

/// As PID 1: SIGTERM reaches the main child (which dies of it), then a
/// daemon in its own session (out of reach of -g) gets SIGTERM from the
/// shutdown, finishes a 0.5 s handler, and only then does tini-rs exit, with
/// 143 and long before the grace period would end.
#[test]
fn pid1_waits_for_a_setsid_daemon_to_finish_its_term_handler() {
    if !require_root("pid1_waits_for_a_setsid_daemon_to_finish_its_term_handler") {
        return;
    }
    let dir = TempDir::new("grace-pid1");
    let marker = dir.file("daemon-done");
    let ready = dir.file("ready");
    let script = format!(
        "setsid sh -c 'trap \"sleep 0.5; echo done > {marker}; exit 0\" TERM; touch {ready}; \
         while :; do sleep 0.05; done' & exec sleep 100",
        marker = marker.display(),
        ready = ready.display()
    );
    let mut tini = Running::start_captured(as_pid1(&[
        "-v",
        "--grace-period",
        "20",
        "--",
        "sh",
        "-c",
        &script,
    ]));
    let pid1 = pid1_of(&tini);
    assert!(wait_until(LIMIT, || ready.exists()), "daemon never started");
    // The clock starts when tini-rs receives this SIGTERM: not before now.
    let sent = Instant::now();
    // SAFETY: kill(2) to the PID 1 this test started.
    unsafe { libc::kill(pid1, libc::SIGTERM) };
    let code = tini.exit_code(LIMIT);
    let elapsed = sent.elapsed();
    let (_, stderr) = tini.output();
    assert_eq!(code, 143, "main child killed by SIGTERM; stderr:\n{stderr}");
    assert_eq!(
        std::fs::read_to_string(&marker).ok().as_deref(),
        Some("done\n"),
        "daemon's TERM handler did not finish before tini-rs exited; stderr:\n{stderr}"
    );
    assert!(
        elapsed >= Duration::from_millis(450),
        "exited before the handler could run: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(10),
        "waited for the grace period: {elapsed:?}"
    );
    assert!(
        stderr.contains("Shutdown: done"),
        "shutdown report missing:\n{stderr}"
    );
}

/// As a subreaper: a descendant that ignores SIGTERM is SIGKILLed at the
/// deadline, nothing of the test is left afterwards, and the shutdown takes
/// the grace period and less than one second more, counted from the main
/// child's exit (which starts the clock: no SIGTERM is sent here).
#[test]
fn subreaper_kills_a_term_ignoring_descendant_at_the_deadline() {
    let dir = TempDir::new("grace-subreaper");
    let pids = dir.file("pids");
    let gate = ExitGate::new(&dir);
    // A double-forked daemon and a setsid one both ignore SIGTERM and have
    // children of their own; once all four are up, the main child waits at
    // the gate and then exits.
    let script = format!(
        "(sh -c 'trap \"\" TERM; sleep 60 & echo $! $$ >> {p}; wait' &); \
         setsid sh -c 'trap \"\" TERM; sleep 60 & echo $! $$ >> {p}; wait' & \
         while [ \"$(wc -w < {p} 2>/dev/null)\" != 4 ]; do sleep 0.01; done; \
         read _ < {gate}; exit 5",
        p = pids.display(),
        gate = gate.0.display()
    );
    let grace = Duration::from_millis(1500);
    let mut tini = Running::start_captured(tini(&[
        "-s",
        "-v",
        "--grace-period",
        "1.5",
        "--",
        "sh",
        "-c",
        &script,
    ]));
    let main_exit = gate.release();
    let code = tini.exit_code(LIMIT);
    let elapsed = main_exit.elapsed();
    let (_, stderr) = tini.output();
    let started = read_pids(&pids);
    assert_eq!(
        started.len(),
        4,
        "descendants did not start; stderr:\n{stderr}"
    );
    assert_eq!(code, 5, "main child's status; stderr:\n{stderr}");
    for pid in &started {
        assert!(
            !alive(*pid),
            "descendant {pid} survived the shutdown; stderr:\n{stderr}"
        );
    }
    assert!(elapsed >= grace, "exited before the deadline: {elapsed:?}");
    assert!(
        elapsed < grace + Duration::from_secs(1),
        "too long after the deadline: {elapsed:?}"
    );
    assert!(
        needed_sigkill(&stderr).is_some_and(|n| n >= 2),
        "the two TERM-ignoring shells needed SIGKILL; report:\n{stderr}"
    );
}

/// A main child that ignores SIGTERM is SIGKILLed at the deadline: 137.
#[test]
fn main_child_ignoring_term_is_killed_at_the_deadline() {
    let dir = TempDir::new("grace-main");
    let ready = dir.file("ready");
    // The child writes its pid where the test can find it: should a
    // failing tini-rs exit without killing it, it must not outlive the test
    // (it ignores SIGTERM).
    let script = format!(
        "trap '' TERM; echo $$ > {r}.tmp; mv {r}.tmp {r}; while :; do sleep 0.05; done",
        r = ready.display()
    );
    let mut tini = Running::start_captured(tini(&[
        "-s",
        "--grace-period",
        "1",
        "--",
        "sh",
        "-c",
        &script,
    ]));
    assert!(wait_until(LIMIT, || ready.exists()), "child never started");
    let child: i32 = std::fs::read_to_string(&ready)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .expect("the child wrote its pid");
    let mut strays = Strays::default();
    strays.add(child, ready.display().to_string());
    // The clock starts when tini-rs receives this SIGTERM: not before now.
    let sent = Instant::now();
    tini.signal(libc::SIGTERM);
    let code = tini.exit_code(LIMIT);
    let elapsed = sent.elapsed();
    assert_eq!(code, 137);
    assert!(
        elapsed >= Duration::from_secs(1),
        "killed before the deadline: {elapsed:?}"
    );
    // Three seconds of slack past the deadline: a loaded 2-core CI machine
    // once took more than one. Without the deadline's SIGKILL the child
    // would live until LIMIT, far past this bound.
    assert!(
        elapsed < Duration::from_secs(4),
        "killed long after the deadline: {elapsed:?}"
    );
}

/// Only tini-rs's own tree is touched: a process the test starts *beside*
/// tini-rs survives the whole subreaper shutdown, SIGKILL pass included.
#[test]
fn a_process_beside_tini_rs_survives_the_shutdown() {
    let dir = TempDir::new("grace-beside");
    let ready = dir.file("ready");
    let mut sleeper = std::process::Command::new("sleep");
    sleeper.arg("60");
    let mut bystander = Running::start(sleeper);
    // The main child exits once its orphan ignores SIGTERM, so the shutdown
    // has to go on to SIGKILL.
    let script = format!(
        "(sh -c 'trap \"\" TERM; touch {r}; sleep 60' &); \
         while [ ! -e {r} ]; do sleep 0.01; done; exit 0",
        r = ready.display()
    );
    let mut tini = Running::start_captured(tini(&[
        "-s",
        "-v",
        "--grace-period",
        "0.5",
        "--",
        "sh",
        "-c",
        &script,
    ]));
    assert_eq!(tini.exit_code(LIMIT), 0);
    let (_, stderr) = tini.output();
    assert!(
        needed_sigkill(&stderr).is_some_and(|n| n >= 1),
        "the TERM-ignoring orphan needed SIGKILL; report:\n{stderr}"
    );
    assert!(
        alive(bystander.pid()),
        "a process outside tini-rs's tree was signalled"
    );
    assert!(bystander.wait(Duration::from_millis(100)).is_none());
}

/// Without a grace period tini-rs exits as soon as the main child does,
/// leaving the rest to the kernel or its own parent (tini's behaviour): the
/// background sleeper is still running when tini-rs has exited.
#[test]
fn without_grace_period_exit_is_immediate() {
    let dir = TempDir::new("no-grace");
    let pid_file = dir.file("pid");
    let gate = ExitGate::new(&dir);
    let script = format!(
        "sleep 30 & echo $! > {}; read _ < {}; exit 4",
        pid_file.display(),
        gate.0.display()
    );
    let mut tini = Running::start_captured(tini(&["-s", "--", "sh", "-c", &script]));
    let main_exit = gate.release();
    let code = tini.exit_code(LIMIT);
    let elapsed = main_exit.elapsed();
    let leftover = read_pids(&pid_file);
    let still_running: Vec<bool> = leftover.iter().map(|&pid| alive(pid)).collect();
    for pid in &leftover {
        // The sleeper was re-parented away from tini-rs: clean it up.
        // SAFETY: kill(2) to the sleep this test's script started.
        unsafe { libc::kill(*pid, libc::SIGKILL) };
    }
    assert_eq!(code, 4);
    assert_eq!(leftover.len(), 1, "the background sleeper did not start");
    assert_eq!(
        still_running,
        [true],
        "tini-rs waited for (or ended) the sleeper"
    );
    assert!(
        elapsed < Duration::from_secs(10),
        "did not exit at once: {elapsed:?}"
    );
}

/// The report's "exited by themselves" counts the processes sent SIGTERM
/// that were not SIGKILLed: a process forked after the one `kill(-1,
/// SIGTERM)` (here by a TERM handler on its way out) is SIGKILLed at the
/// deadline without ever having been sent SIGTERM, so it must not lower
/// that count. The three processes SIGTERMed (a sleep, the handler's shell,
/// its sleep) all exit by themselves; one needs SIGKILL. Counting every
/// SIGKILL against the SIGTERMed reported 2 exited by themselves.
#[test]
fn report_counts_a_fork_after_sigterm_apart_from_those_that_exited() {
    if !require_root("report_counts_a_fork_after_sigterm_apart_from_those_that_exited") {
        return;
    }
    let dir = TempDir::new("grace-report");
    let ready = dir.file("ready");
    // The handler's `sleep 300 &` ignores nothing: only SIGKILL at the
    // deadline ends it, since no SIGTERM comes after the first. The ready
    // file is made by the shell itself (`: >`), not by a `touch` process
    // that a loaded machine could still have running, to be counted, when
    // the SIGTERM goes out.
    let script = format!(
        "sleep 300 & \
         sh -c 'trap \"sleep 300 & exit 0\" TERM; sleep 300 & : > {r}; wait' & \
         while [ ! -e {r} ]; do sleep 0.01; done; exit 0",
        r = ready.display()
    );
    let mut tini = Running::start_captured(as_pid1(&[
        "-v",
        "--grace-period",
        "1",
        "--",
        "sh",
        "-c",
        &script,
    ]));
    assert_eq!(tini.exit_code(LIMIT), 0);
    let (_, stderr) = tini.output();
    assert!(
        stderr.contains("SIGTERM sent to 3, 3 exited by themselves, 1 needed SIGKILL"),
        "the shutdown report is missing or wrong:\n{stderr}"
    );
}

/// When the main child exits by itself it starts the clock: the log says
/// so, instead of "exited after 0 ms" (of a clock that started at that very
/// moment). After a stop signal, it says how long after the signal.
#[test]
fn main_child_exit_is_logged_against_the_clock_it_starts_or_follows() {
    let (code, _, stderr) = run_tini(&["-s", "-v", "--grace-period", "5", "--", "true"], |_| {});
    assert_eq!(code, 0, "stderr:\n{stderr}");
    assert!(
        stderr.contains("Shutdown: main child exited; the other descendants have 5s from now"),
        "stderr:\n{stderr}"
    );
    assert!(!stderr.contains("after 0 ms"), "stderr:\n{stderr}");

    let dir = TempDir::new("grace-log");
    let ready = dir.file("ready");
    let script = format!(
        "trap 'exit 3' TERM; touch {}; while :; do sleep 0.05; done",
        ready.display()
    );
    let mut tini = Running::start_captured(tini(&[
        "-s",
        "-v",
        "--grace-period",
        "5",
        "--",
        "sh",
        "-c",
        &script,
    ]));
    assert!(wait_until(LIMIT, || ready.exists()), "child never started");
    tini.signal(libc::SIGTERM);
    assert_eq!(tini.exit_code(LIMIT), 3);
    let (_, stderr) = tini.output();
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("Shutdown: main child exited ")
                && l.contains(" ms after the stop signal")),
        "stderr:\n{stderr}"
    );
}
