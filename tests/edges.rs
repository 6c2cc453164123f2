//! The edges where an init most easily goes wrong: a helper thread that
//! cannot start, a kernel or seccomp profile without pidfds, a waitpid that
//! fails, a SIGTERM that `--rewrite` drops, `-p` with a signal that cannot
//! be passed on, and what `-vv` tells about the decisions made.

mod common;

use common::pids_cgroup::PidsCgroup;
use common::*;
use std::ffi::OsString;
use std::process::{Command, Stdio};
use std::time::Duration;

/// tini-rs `args` with the system calls `names` failing with `errno`.
fn tini_with_failing(errno: i32, names: &str, args: &[&str]) -> Command {
    let mut program: Vec<OsString> = vec![tini_rs().into()];
    program.extend(args.iter().map(OsString::from));
    let argv = seccomp::with_failing_syscalls(errno, names, &program);
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env_remove("TINI_VERBOSITY")
        .env_remove("RUST_LOG");
    cmd
}

/// `tini-rs -s EXTRA -- sleep 30`, at its default verbosity, started in a
/// new pids cgroup of `max` tasks.
fn sleep_under_pids_max(tag: &str, max: u32, extra: &[&str]) -> (PidsCgroup, Running) {
    let cgroup = PidsCgroup::create(tag, max);
    let mut cmd = tini(&["-s"]);
    cmd.args(extra)
        .args(["--", "sleep", "30"])
        .env_remove("TINI_VERBOSITY")
        .env_remove("RUST_LOG");
    cgroup.join_before_exec(&mut cmd);
    (cgroup, Running::start_captured(cmd))
}

/// Under `pids.max = 1` only tini-rs itself fits: no helper thread can
/// start (so it goes single-threaded), and then the main child cannot start
/// either: exit 1 with one error line, nothing left running.
#[test]
fn a_thread_or_child_that_cannot_start_leaves_nothing_running() {
    if !require_root("a_thread_or_child_that_cannot_start_leaves_nothing_running") {
        return;
    }
    for extra in [&[][..], &["--grace-period", "5"][..]] {
        let (cgroup, mut tini_rs) = sleep_under_pids_max("thread-fail", 1, extra);
        let code = tini_rs.exit_code(LIMIT);
        // Looked at the moment tini-rs is gone; then anything left is
        // killed (by the cgroup), so that reading stderr, which a leftover
        // child would hold open, cannot block.
        let left = cgroup.procs();
        drop(cgroup);
        let (out, err) = tini_rs.output();
        assert_eq!((code, out.as_str()), (1, ""), "{extra:?}: {err}");
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("[ERROR")).collect();
        assert_eq!(errors.len(), 1, "{extra:?}: one error line: {err}");
        assert_eq!(err.lines().count(), 1, "{extra:?}: {err}");
        assert!(
            left.is_empty(),
            "{extra:?}: tini-rs exited but left {left:?} running in its cgroup"
        );
    }
}

/// Under `pids.max = 2` tini-rs and its main child fit, its helper threads
/// do not: it runs single-threaded and still passes SIGTERM on.
#[test]
fn with_room_for_the_child_but_no_thread_tini_rs_runs_single_threaded() {
    if !require_root("with_room_for_the_child_but_no_thread_tini_rs_runs_single_threaded") {
        return;
    }
    for extra in [&[][..], &["--grace-period", "5"][..]] {
        let (cgroup, mut tini_rs) = sleep_under_pids_max("one-thread", 2, extra);
        let pid = tini_rs.pid();
        assert!(
            wait_until(LIMIT, || children_of(pid)
                .iter()
                .any(|&c| proc_comm(c).as_deref() == Some("sleep"))),
            "{extra:?}: the main child never ran"
        );
        assert_eq!(status_field(pid, "Threads").as_deref(), Some("1"));
        tini_rs.signal(libc::SIGTERM);
        let code = tini_rs.exit_code(LIMIT);
        drop(cgroup);
        let (_, err) = tini_rs.output();
        assert_eq!(code, 128 + libc::SIGTERM, "{extra:?}: {err}");
        assert!(err.contains("running single-threaded"), "{extra:?}: {err}");
    }
}

/// Without pidfds (kernels before 5.3, seccomp profiles that deny
/// pidfd_open) the grace period must still reach everything: the main child
/// that ignores SIGTERM and a setsid'd daemon that ignores it too are
/// SIGKILLed at the deadline, by pid after a start-time check.
#[test]
fn without_pidfd_the_grace_period_still_kills_at_the_deadline() {
    let dir = TempDir::new("no-pidfd");
    let daemon_file = dir.file("daemon.pid");
    let mut cmd = tini_with_failing(
        libc::ENOSYS,
        "pidfd_open",
        &[
            "-s",
            "--grace-period",
            "0.5",
            "--",
            "sh",
            "-c",
            r#"trap "" TERM; setsid sleep 60 & echo $! > "$0"; exec sleep 60"#,
            daemon_file.to_str().unwrap(),
        ],
    );
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut tini_rs = Running::start(cmd);
    let daemon: i32 = wait_for_text(&daemon_file, "\n", LIMIT)
        .trim()
        .parse()
        .expect("daemon pid");
    // The main child is `sleep` (exec'd) once its comm says so.
    let main_is_sleep = wait_until(LIMIT, || {
        descendants(tini_rs.pid())
            .iter()
            .any(|&p| p != daemon && proc_comm(p).as_deref() == Some("sleep"))
    });
    assert!(main_is_sleep, "the main child never became sleep");
    tini_rs.signal(libc::SIGTERM);
    let ended = tini_rs.wait(Duration::from_secs(10));
    let daemon_left = proc_comm(daemon).as_deref() == Some("sleep")
        && status_field(daemon, "State").is_some_and(|s| !s.starts_with('Z'));
    if daemon_left {
        // SAFETY: kill(2) to the daemon this test's script started.
        unsafe { libc::kill(daemon, libc::SIGKILL) };
    }
    let status =
        ended.expect("tini-rs did not end within 10 s of SIGTERM with a 0.5 s grace period");
    let (_, err) = tini_rs.output();
    assert_eq!(
        status.code(),
        Some(128 + libc::SIGKILL),
        "{status:?}\n{err}"
    );
    assert!(!daemon_left, "the setsid'd daemon survived the deadline");
    assert!(err.contains("pidfd_open failed"), "{err}");
}

/// A main-child status that was lost (here: waitpid fails with ECHILD from
/// the start) is reported as failure, and `-e 1` must not turn it into 0.
#[test]
fn a_lost_status_is_never_success() {
    let cmd = tini_with_failing(libc::ECHILD, "wait4", &["-s", "-e", "1", "--", "true"]);
    let (code, _, err) = run(cmd, LIMIT);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("status was lost"), "{err}");
}

/// The reaper thread (with a grace period) stopping on a waitpid error
/// other than "no child" must end tini-rs, not leave it waiting forever.
#[test]
fn a_failing_reaper_ends_tini_rs_instead_of_waiting_forever() {
    let cmd = tini_with_failing(
        libc::EINVAL,
        "wait4",
        &["-s", "--grace-period", "5", "--", "true"],
    );
    let (code, _, err) = run(cmd, LIMIT);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("waitpid failed"), "{err}");
    assert!(err.contains("status was lost"), "{err}");
}

/// `--rewrite 15:0` drops SIGTERM; a dropped SIGTERM asks for nothing, so it
/// must not start the grace period (whose end would SIGKILL the child).
#[test]
fn a_sigterm_dropped_by_rewrite_does_not_start_the_grace_period() {
    let dir = TempDir::new("dropped-term");
    let log = dir.file("stderr");
    let mut cmd = tini(&[
        "-s",
        "-vvv",
        "--grace-period",
        "0.2",
        "--rewrite",
        "15:0",
        "--",
        "sleep",
        "60",
    ]);
    cmd.env_remove("RUST_LOG")
        .stderr(std::fs::File::create(&log).expect("log file"));
    let mut tini_rs = Running::start(cmd);
    wait_for_text(&log, "Spawned main child", LIMIT);
    tini_rs.signal(libc::SIGTERM);
    wait_for_text(&log, "Dropping signal SIGTERM", LIMIT);
    // Nothing may happen now: wait five grace periods for a SIGKILL that
    // must not come (an absence can only be shown by waiting).
    std::thread::sleep(Duration::from_secs(1));
    let still_running = tini_rs.wait(Duration::ZERO).is_none();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        still_running,
        "tini-rs ended after a dropped SIGTERM:\n{text}"
    );
    assert!(!text.contains("Shutdown"), "{text}");
    // SIGINT is not dropped: forwarded, it ends `sleep` and tini-rs.
    tini_rs.signal(libc::SIGINT);
    assert_eq!(tini_rs.exit_code(LIMIT), 128 + libc::SIGINT);
}

/// `-p` takes every signal name tini 0.19 takes (its whole table, SIGKILL
/// and SIGSTOP included): a drop-in must start every command line tini
/// starts.
#[test]
fn dash_p_takes_every_signal_tini_takes() {
    for sig in [
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGSYS",
    ] {
        let (code, out, err) = run_tini(&["-s", "-p", sig, "--", "true"], |_| {});
        assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""), "-p {sig}");
    }
}

/// `-vv` (debug) as PID 1 says what tini-rs decided: PID 1, where signals go,
/// what the child gets back, which signals are never forwarded. `-v` does not.
#[test]
fn debug_level_shows_the_decisions() {
    if !require_root("debug_level_shows_the_decisions") {
        return;
    }
    let run_pid1 = |verbosity: &str| {
        let mut cmd = as_pid1(&[verbosity, "--", "true"]);
        cmd.env_remove("TINI_VERBOSITY").env_remove("RUST_LOG");
        let (code, _, err) = run(cmd, LIMIT);
        assert_eq!(code, 0, "{err}");
        err
    };
    let debug = run_pid1("-vv");
    for needle in [
        "Running as PID 1",
        "Forwarding signals to the main child, through its pidfd",
        "The main child gets signal mask",
        "Signals never forwarded: SIGKILL, SIGSTOP, SIGCHLD",
    ] {
        assert!(debug.contains(needle), "-vv must say {needle:?}:\n{debug}");
    }
    let info = run_pid1("-v");
    assert!(
        info.lines().count() < debug.lines().count(),
        "-vv must say more than -v:\n{info}\n---\n{debug}"
    );
}
