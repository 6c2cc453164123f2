//! tini-rs as a child subreaper (`-s`, `TINI_SUBREAPER`), not PID 1: orphans
//! below it are re-parented to it and reaped. Without either, it warns that
//! zombie reaping won't work, except at verbosity 0.

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

/// Starts tini-rs (set up by `configure`) over a main child that orphans a
/// `sleep` (an inner shell backgrounds it, writes its pid and exits) and then
/// becomes a long `sleep` itself. Returns tini-rs and the orphan's pid.
fn start_with_orphan(dir: &TempDir, configure: impl FnOnce(&mut Command)) -> (Running, i32) {
    let pid_file = dir.file("orphan.pid");
    let mut cmd = tini(&[]);
    configure(&mut cmd);
    cmd.args(["--", "sh", "-c"])
        .arg(r#"sh -c 'sleep 60 & echo $! > "$1"' sh "$0"; exec sleep 60"#)
        .arg(&pid_file)
        .stderr(Stdio::null());
    let running = Running::start(cmd);
    let text = wait_for_text(&pid_file, "\n", LIMIT);
    let orphan = text.trim().parse().expect("orphan pid");
    (running, orphan)
}

/// The orphan's parent becomes tini-rs; killing it must make it vanish from
/// /proc (reaped), not linger as a zombie, while the main child runs on.
fn orphan_is_adopted_and_reaped(configure: impl FnOnce(&mut Command)) {
    let dir = TempDir::new("subreaper");
    let (mut tini_rs, orphan) = start_with_orphan(&dir, configure);

    let adopted = wait_until(LIMIT, || {
        status_field(orphan, "PPid") == Some(tini_rs.pid().to_string())
    });
    let ppid = status_field(orphan, "PPid");
    // Killed before any assertion: not adopted, it is outside the tree that
    // `Running` cleans up.
    // SAFETY: kill(2) to the orphan this test's tini-rs started.
    unsafe { libc::kill(orphan, libc::SIGKILL) };
    assert!(
        adopted,
        "orphan {orphan} has PPid {ppid:?}, not tini-rs {}",
        tini_rs.pid()
    );
    assert_reaped(orphan, LIMIT);
    // The main child (sleep) has no handler: SIGTERM forwarded ends it.
    assert_running_then_terminate(&mut tini_rs, LIMIT);
}

#[test]
fn dash_s_adopts_and_reaps_an_orphan() {
    orphan_is_adopted_and_reaped(|cmd| {
        cmd.arg("-s");
    });
}

#[test]
fn tini_subreaper_variable_adopts_and_reaps_an_orphan_even_when_empty() {
    orphan_is_adopted_and_reaped(|cmd| {
        cmd.env("TINI_SUBREAPER", "");
    });
}

/// The control for the two tests above: without -s the orphan goes to some
/// other ancestor, so those tests observe something tini-rs did.
#[test]
fn without_subreaper_the_orphan_is_not_adopted() {
    let dir = TempDir::new("no-subreaper");
    let (mut tini_rs, orphan) = start_with_orphan(&dir, |cmd| {
        cmd.env_remove("TINI_SUBREAPER");
    });
    // The main shell waits for the inner one before it becomes `sleep`, so
    // by then the orphan has its final parent.
    let main_child_is_sleep = wait_until(LIMIT, || {
        let children: Vec<i32> = processes()
            .iter()
            .filter(|p| p.1 == tini_rs.pid())
            .map(|p| p.0)
            .collect();
        children.len() == 1 && proc_comm(children[0]).as_deref() == Some("sleep")
    });
    assert!(main_child_is_sleep);
    let ppid = status_field(orphan, "PPid");
    // SAFETY: kill(2) to the orphan this test's tini-rs started.
    unsafe { libc::kill(orphan, libc::SIGKILL) };
    assert_ne!(ppid, Some(tini_rs.pid().to_string()));
    tini_rs.signal(libc::SIGTERM);
    assert_eq!(tini_rs.exit_code(LIMIT), 128 + libc::SIGTERM);
}

fn run_true(configure: impl FnOnce(&mut Command)) -> (i32, String) {
    let mut cmd = tini(&[]);
    cmd.env_remove("TINI_SUBREAPER")
        .env_remove("TINI_VERBOSITY")
        .env_remove("RUST_LOG");
    configure(&mut cmd);
    cmd.args(["--", "true"]);
    let (code, _, stderr) = run(cmd, LIMIT);
    (code, stderr)
}

#[test]
fn not_pid1_nor_subreaper_warns_that_reaping_wont_work() {
    let (code, stderr) = run_true(|_| {});
    assert_eq!(code, 0);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one warning expected, got:\n{stderr}");
    let warning = lines[0];
    assert!(warning.starts_with("[WARN "), "{warning}");
    assert!(warning.contains("zombie reaping won't work"), "{warning}");
    assert!(warning.contains("-s"), "must name -s: {warning}");
    assert!(
        warning.contains("TINI_SUBREAPER"),
        "must name TINI_SUBREAPER: {warning}"
    );
}

#[test]
fn the_warning_is_silent_at_verbosity_0_and_absent_as_subreaper() {
    let (code, stderr) = run_true(|cmd| {
        cmd.env("TINI_VERBOSITY", "0");
    });
    assert_eq!((code, stderr.as_str()), (0, ""));
    let (code, stderr) = run_true(|cmd| {
        cmd.arg("-s");
    });
    assert_eq!((code, stderr.as_str()), (0, ""));
}
