//! `--wait-all` on every way tini-rs can run: as a subreaper with its helper
//! threads, single-threaded (a seccomp filter that refuses `clone3`, as
//! Docker 20.10's default profile did), with and without a grace period,
//! and as PID 1 of a PID namespace. In each, the main child hands over to a
//! successor in a session of its own and exits 7; tini-rs must stay, pass a
//! signal on to the successor, and exit 7 once the successor is gone.
//! tests/container_user_needs.rs shows the same in a real Docker engine,
//! with the option off as the control.

mod common;

use common::*;
use std::ffi::OsString;
use std::fs::File;
use std::process::{Command, Stdio};

/// The successor logs to $OUT: `ready`, then what it got. On `SIG` it says
/// `got-SIG` and exits 0.
fn handover(sig: &str) -> String {
    format!(
        "setsid sh -c 'trap \"echo got-{sig} >>$OUT; exit 0\" {sig}; echo ready >>$OUT; \
         while :; do sleep 0.1; done' & exit 7"
    )
}

/// Runs `cmd` (tini-rs somewhere inside, with `-v` so it says when it has
/// reaped the main child), waits for the successor and the main child's
/// reaping, sends `sig` to tini-rs (`target` picks its pid), and checks
/// that the successor got it and tini-rs exited with the main child's 7.
/// Returns tini-rs's stderr.
fn hands_over(mut cmd: Command, sig: (i32, &str), target: impl Fn(&Running) -> i32) -> String {
    let dir = TempDir::new("wait-all");
    let out = dir.file("out");
    let err = dir.file("stderr");
    cmd.env("OUT", &out)
        .env_remove("TINI_VERBOSITY")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(File::create(&err).expect("stderr file"));
    let mut running = Running::start(cmd);
    wait_for_text(&out, "ready", LIMIT);
    wait_for_text(&err, "Main child exited with status 7", LIMIT);
    // SAFETY: kill(2) to the tini-rs this test started.
    unsafe { libc::kill(target(&running), sig.0) };
    wait_for_text(&out, &format!("got-{}", sig.1), LIMIT);
    let code = running.exit_code(LIMIT);
    let log = std::fs::read_to_string(&err).unwrap_or_default();
    assert_eq!(code, 7, "tini-rs's stderr:\n{log}");
    log
}

fn subreaper(tini_args: &[&str], sig: &str) -> Command {
    let mut args: Vec<String> = ["-s", "-v", "--wait-all"].map(String::from).to_vec();
    args.extend(tini_args.iter().map(|s| s.to_string()));
    args.extend(["--", "sh", "-c"].map(String::from));
    args.push(handover(sig));
    let mut cmd = Command::new(tini_rs());
    cmd.args(&args);
    cmd
}

/// The same command line under a filter that refuses `clone3` with EPERM:
/// no helper thread can start, so tini-rs runs its single loop.
fn single_threaded(tini_args: &[&str], sig: &str) -> Command {
    let plain = subreaper(tini_args, sig);
    let mut program: Vec<OsString> = vec![plain.get_program().to_owned()];
    program.extend(plain.get_args().map(OsString::from));
    let argv = seccomp::with_failing_syscalls(libc::EPERM, "clone3", &program);
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    cmd
}

#[test]
fn subreaper_stays_and_passes_a_signal_to_the_successor() {
    hands_over(
        subreaper(&[], "USR1"),
        (libc::SIGUSR1, "USR1"),
        Running::pid,
    );
}

#[test]
fn subreaper_with_a_grace_period_stops_the_successor_on_sigterm() {
    hands_over(
        subreaper(&["--grace-period", "5"], "TERM"),
        (libc::SIGTERM, "TERM"),
        Running::pid,
    );
}

#[test]
fn single_threaded_stays_and_passes_a_signal_to_the_successor() {
    hands_over(
        single_threaded(&[], "USR1"),
        (libc::SIGUSR1, "USR1"),
        Running::pid,
    );
}

#[test]
fn single_threaded_with_a_grace_period_stops_the_successor_on_sigterm() {
    let log = hands_over(
        single_threaded(&["--grace-period", "5"], "TERM"),
        (libc::SIGTERM, "TERM"),
        Running::pid,
    );
    assert!(log.contains("running single-threaded"), "{log}");
}

/// As PID 1 a signal goes to every process of the namespace (kill(-1)).
#[test]
fn as_pid1_stays_and_passes_a_signal_to_every_process() {
    if !require_root("as_pid1_stays_and_passes_a_signal_to_every_process") {
        return;
    }
    let mut cmd = as_pid1(&["-v", "--wait-all", "--", "sh", "-c"]);
    cmd.arg(handover("USR1"));
    hands_over(cmd, (libc::SIGUSR1, "USR1"), pid1_of);
}

/// With a grace period and `--stop-delay`, a stop that comes after the
/// main child's exit is not held: the shutdown sends every descendant
/// SIGTERM itself, at once. tini-rs must not say it holds one (before, it
/// logged `Holding SIGTERM for …` while nothing was held).
#[test]
fn a_stop_after_the_main_child_is_not_said_to_be_held() {
    let log = hands_over(
        subreaper(&["--grace-period", "5", "--stop-delay", "3"], "TERM"),
        (libc::SIGTERM, "TERM"),
        Running::pid,
    );
    assert!(!log.contains("Holding"), "{log}");
    assert!(log.contains("Shutdown: stop signal received"), "{log}");
}
