//! tini-rs under seccomp profiles that refuse newer system calls, the way
//! Docker's default profile did in 20.10.0-20.10.9 (EPERM for `clone3`) and
//! the custom profiles copied from it still do, or an older kernel does
//! (ENOSYS). Each call is refused with EPERM and with ENOSYS, one at a time
//! and all together, and tini-rs must still start, forward and reap, or
//! fail at once, before the child starts, with one line naming the call.
//!
//! The control is Debian's tini-static (single-threaded, fork, kill) under
//! the same filter wherever tini behaves there, so each assertion is shown
//! able to hold. The filter comes from tests/common/seccomp.rs.

mod common;

use common::reachable::tini_rs_and_control;
use common::*;
use std::ffi::OsString;
use std::process::Command;
use std::time::{Duration, Instant};

/// `binary args` with the calls `names` failing with `errno`.
fn filtered(binary: &str, errno: i32, names: &str, args: &[&str]) -> Command {
    let mut program: Vec<OsString> = vec![binary.into()];
    program.extend(args.iter().map(OsString::from));
    let argv = seccomp::with_failing_syscalls(errno, names, &program);
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env_remove("TINI_VERBOSITY")
        .env_remove("TINI_SUBREAPER")
        .env_remove("RUST_LOG");
    cmd
}

fn errno_name(errno: i32) -> &'static str {
    match errno {
        libc::EPERM => "EPERM",
        libc::ENOSYS => "ENOSYS",
        _ => "?",
    }
}

/// The voluntary context switches of `pid`'s thread: one per wake-up.
fn wakeups(pid: i32) -> u64 {
    status_field(pid, "voluntary_ctxt_switches")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// pidfd_send_signal refused while pidfd_open works: the SIGTERM must
/// still reach the main child (by kill(2): the child is not reaped yet, so
/// its pid is still its own). Before the fix tini-rs warned and dropped it.
#[test]
fn pidfd_send_signal_refused_signals_by_pid() {
    for binary in tini_rs_and_control("pidfd_send_signal_refused_signals_by_pid") {
        for errno in [libc::EPERM, libc::ENOSYS] {
            let what = format!("{binary}, pidfd_send_signal {}", errno_name(errno));
            let cmd = filtered(
                binary,
                errno,
                "pidfd_send_signal",
                &["-s", "--", "sleep", "1000"],
            );
            let mut tini = Running::start_captured(cmd);
            child_named(tini.pid(), "sleep");
            tini.signal(libc::SIGTERM);
            let code = tini.exit_code(LIMIT);
            let (_, err) = tini.output();
            assert_eq!(code, 128 + libc::SIGTERM, "{what}: {err}");
        }
    }
}

/// The grace period's SIGKILL at the deadline goes through the main child's
/// pidfd too: refused, it must fall back to kill, or tini-rs waits forever
/// for a main child that ignores SIGTERM. Its own child (which ignores
/// SIGTERM as well) is found by the /proc walk and killed the same way.
#[test]
fn pidfd_send_signal_refused_the_grace_period_still_kills() {
    for errno in [libc::EPERM, libc::ENOSYS] {
        let cmd = filtered(
            tini_rs(),
            errno,
            "pidfd_send_signal",
            &[
                "-s",
                "--grace-period",
                "0.5",
                "--",
                "sh",
                "-c",
                "trap '' TERM; sleep 1000 & wait",
            ],
        );
        let mut tini = Running::start_captured(cmd);
        let shell = child_named(tini.pid(), "sh");
        let sleeper = child_named(shell, "sleep");
        tini.signal(libc::SIGTERM);
        let code = tini.exit_code(LIMIT);
        let (_, err) = tini.output();
        assert_eq!(code, 128 + libc::SIGKILL, "{}: {err}", errno_name(errno));
        assert_reaped(sleeper, Duration::from_secs(5));
    }
}

/// rt_sigtimedwait (sigwaitinfo) refused: tini-rs has no other way to wait
/// for a signal or a child's exit without waking up again and again. Before
/// the fix it spun at 100 % CPU and never passed SIGTERM on. Now it must
/// exit 1 at once with one line naming the call, before any child starts.
/// (tini orphans its child here, so there is no control to compare with.)
#[test]
fn rt_sigtimedwait_refused_fails_before_the_child_starts() {
    let dir = TempDir::new("sigtimedwait");
    let marker = dir.file("child-started");
    let touch = format!("touch {}", marker.display());
    for errno in [libc::EPERM, libc::ENOSYS] {
        for args in [
            &["-s", "--", "sh", "-c", touch.as_str()][..],
            &[
                "-s",
                "--grace-period",
                "1",
                "--",
                "sh",
                "-c",
                touch.as_str(),
            ][..],
            &["-P"][..],
        ] {
            let what = format!("{args:?}, rt_sigtimedwait {}", errno_name(errno));
            let cmd = filtered(tini_rs(), errno, "rt_sigtimedwait", args);
            let started = Instant::now();
            let mut tini = Running::start_captured(cmd);
            let code = tini.exit_code(Duration::from_secs(10));
            let (_, err) = tini.output();
            assert_eq!(code, 1, "{what}: {err}");
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{what}: took {:?}",
                started.elapsed()
            );
            assert_eq!(err.lines().count(), 1, "{what}: one line: {err}");
            assert!(
                err.starts_with("[ERROR") && err.contains("rt_sigtimedwait"),
                "{what}: {err}"
            );
            assert!(!marker.exists(), "{what}: the child ran");
        }
    }
}

/// The control for the rest: tini-static and tini-rs run a child that
/// exits 7 under a filter refusing clone3 (glibc's pthread_create and
/// posix_spawn fall back to clone only on ENOSYS). Before the fix tini-rs
/// did not start with EPERM.
#[test]
fn clone3_refused_the_child_still_runs() {
    for binary in tini_rs_and_control("clone3_refused_the_child_still_runs") {
        for errno in [libc::EPERM, libc::ENOSYS] {
            for names in ["clone3", "clone3,pidfd_open,pidfd_send_signal,close_range"] {
                let what = format!("{binary}, {names} {}", errno_name(errno));
                let cmd = filtered(binary, errno, names, &["-s", "--", "sh", "-c", "exit 7"]);
                let (code, out, err) = run(cmd, LIMIT);
                assert_eq!((code, out.as_str()), (7, ""), "{what}: {err}");
            }
        }
    }
}

/// One run of tini-rs with clone3 refused (EPERM): it must say at the
/// default verbosity that it runs single-threaded, have one thread, and
/// not wake up while nothing happens.
struct SingleThreaded {
    tini: Running,
}

impl SingleThreaded {
    fn start(names: &str, args: &[&str], main_comm: &str) -> (SingleThreaded, i32) {
        let cmd = filtered(tini_rs(), libc::EPERM, names, args);
        let tini = Running::start_captured(cmd);
        let main = if main_comm.is_empty() {
            0
        } else {
            child_named(tini.pid(), main_comm)
        };
        let pid = tini.pid();
        assert!(wait_asleep(pid, LIMIT), "{args:?}: tini-rs never went idle");
        assert_eq!(
            status_field(pid, "Threads").as_deref(),
            Some("1"),
            "{args:?}: more than one thread"
        );
        // No periodic wake-up: asleep in sigwaitinfo until something happens.
        let before = wakeups(pid);
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(wakeups(pid), before, "{args:?}: tini-rs woke up while idle");
        (SingleThreaded { tini }, main)
    }

    /// Waits for the exit; the exit code and stderr, which must name the mode.
    fn finish(mut self, args: &[&str]) -> (i32, String) {
        let code = self.tini.exit_code(LIMIT);
        let (_, err) = self.tini.output();
        assert!(
            err.contains("running single-threaded") && err.contains("Operation not permitted"),
            "{args:?}: the mode and why must be logged at the default verbosity: {err}"
        );
        (code, err)
    }
}

/// Single-threaded, as a subreaper: reaps an orphan (made to exit by the
/// test, after the idle check) and forwards SIGTERM.
#[test]
fn clone3_refused_forwards_and_reaps_single_threaded() {
    let dir = TempDir::new("one-thread-reap");
    let orphan_file = dir.file("orphan.pid");
    let script = format!(
        "(sleep 1000 & echo $! > {}); exec sleep 1000",
        orphan_file.display()
    );
    let args = ["-s", "--", "sh", "-c", script.as_str()];
    // The shell wrote the orphan's pid before it exec'd the main child's
    // sleep, which start() waits for.
    let (run, _) = SingleThreaded::start("clone3", &args, "sleep");
    let orphan: i32 = wait_for_text(&orphan_file, "\n", LIMIT)
        .trim()
        .parse()
        .expect("orphan pid");
    // SAFETY: kill(2) to the orphan this test's command started.
    unsafe { libc::kill(orphan, libc::SIGKILL) };
    assert_reaped(orphan, LIMIT);
    run.tini.signal(libc::SIGTERM);
    let (code, err) = run.finish(&args);
    assert_eq!(code, 128 + libc::SIGTERM, "{err}");
}

/// Single-threaded with every newer call refused at once (what a profile
/// copied from Docker 20.10.0's gives): `--rewrite` still applies.
#[test]
fn clone3_refused_rewrite_still_applies() {
    let args = ["-s", "--rewrite", "TERM:USR1", "--", "sleep", "1000"];
    let (run, _) = SingleThreaded::start(
        "clone3,pidfd_open,pidfd_send_signal,close_range",
        &args,
        "sleep",
    );
    run.tini.signal(libc::SIGTERM);
    let (code, err) = run.finish(&args);
    assert_eq!(code, 128 + libc::SIGUSR1, "{err}");
}

/// Single-threaded, the stop delay holds SIGTERM, then passes it on.
#[test]
fn clone3_refused_stop_delay_still_holds() {
    let args = ["-s", "--stop-delay", "0.6", "--", "sleep", "1000"];
    let (run, _) = SingleThreaded::start("clone3", &args, "sleep");
    let sent = Instant::now();
    run.tini.signal(libc::SIGTERM);
    let (code, err) = run.finish(&args);
    let took = sent.elapsed();
    assert_eq!(code, 128 + libc::SIGTERM, "{err}");
    assert!(
        took >= Duration::from_millis(550),
        "SIGTERM passed on after {took:?}, before the 0.6 s delay: {err}"
    );
}

/// Single-threaded, the grace period runs: a main child and its child that
/// both ignore SIGTERM are SIGKILLed at the deadline, and tini-rs exits
/// once they are reaped.
#[test]
fn clone3_refused_grace_period_still_kills_at_the_deadline() {
    let args = [
        "-s",
        "--grace-period",
        "0.6",
        "--",
        "sh",
        "-c",
        "trap '' TERM; sleep 1000 & wait",
    ];
    let (run, shell) = SingleThreaded::start("clone3", &args, "sh");
    let sleeper = child_named(shell, "sleep");
    let sent = Instant::now();
    run.tini.signal(libc::SIGTERM);
    let (code, err) = run.finish(&args);
    let took = sent.elapsed();
    assert_eq!(code, 128 + libc::SIGKILL, "{err}");
    assert!(
        took >= Duration::from_millis(550),
        "killed after {took:?}, before the 0.6 s grace period: {err}"
    );
    assert_reaped(sleeper, Duration::from_secs(5));
}

/// Pause mode with a grace period needs a reaper thread at the stop:
/// without one it stops single-threaded, at once when nothing is left.
#[test]
fn clone3_refused_pause_mode_still_stops() {
    let args = ["-s", "-P", "--grace-period", "5"];
    let (run, _) = SingleThreaded::start("clone3", &args, "");
    let sent = Instant::now();
    run.tini.signal(libc::SIGTERM);
    let (code, err) = run.finish(&args);
    assert_eq!(code, 0, "{err}");
    assert!(sent.elapsed() < Duration::from_secs(4), "{err}");
}

/// The subreaper prctl refused: without `-s` tini-rs never asks for it
/// and runs (warning that orphans will not come to it); with `-s` it
/// exits 1 at once naming the call, before the child starts. tini does the
/// same with -s.
#[test]
fn subreaper_prctl_refused() {
    for binary in tini_rs_and_control("subreaper_prctl_refused") {
        for errno in [libc::EPERM, libc::ENOSYS] {
            let what = format!("{binary}, prctl {}", errno_name(errno));
            // 36 is PR_SET_CHILD_SUBREAPER.
            let cmd = filtered(binary, errno, "prctl:36", &["--", "sh", "-c", "exit 7"]);
            let (code, _, err) = run(cmd, LIMIT);
            assert_eq!(code, 7, "{what} without -s: {err}");
            let cmd = filtered(
                binary,
                errno,
                "prctl:36",
                &["-s", "--", "sh", "-c", "exit 7"],
            );
            let (code, _, err) = run(cmd, LIMIT);
            assert_eq!(code, 1, "{what} with -s: {err}");
            if binary == tini_rs() {
                assert_eq!(err.lines().count(), 1, "{what}: {err}");
                assert!(err.contains("PR_SET_CHILD_SUBREAPER"), "{what}: {err}");
            }
        }
    }
}

/// statx refused (Rust's std asks it first for a file's metadata, which
/// tini-rs reads to run a file without `#!` through /bin/sh): std falls
/// back to fstatat on EPERM and ENOSYS alike, so the script still runs.
#[test]
fn statx_refused_a_script_without_a_shebang_still_runs() {
    let dir = TempDir::new("statx");
    let script = dir.file("no-shebang");
    std::fs::write(&script, "exit 5\n").expect("write the script");
    common::reachable::set_mode(&script, 0o755);
    let script = script.to_str().expect("a UTF-8 temp path");
    for binary in tini_rs_and_control("statx_refused_a_script_without_a_shebang_still_runs") {
        for errno in [libc::EPERM, libc::ENOSYS] {
            let what = format!("{binary}, statx {}", errno_name(errno));
            let cmd = filtered(binary, errno, "statx", &["-s", "--", script]);
            let (code, _, err) = run(cmd, LIMIT);
            assert_eq!(code, 5, "{what}: {err}");
        }
    }
}
