//! The classic orphan and zombie demonstrations, written in Python as people
//! write them (tests/scripts/orphan_demo.py and zombie_demo.py), run under
//! tini-rs. The main child is a shell that starts the demo and then lives
//! on as a long `sleep`, the way an entrypoint starts helpers and then the
//! app: tini-rs must keep reaping while its main child runs.

mod common;

use common::*;
use std::fs::File;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The first number after `prefix` in `text`.
fn number_after(text: &str, prefix: &str) -> i32 {
    let rest = text
        .split(prefix)
        .nth(1)
        .unwrap_or_else(|| panic!("{prefix:?} not in {text:?}"));
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap()
}

/// `base` with stdout and stderr going to files in `dir`, so the test can
/// read them while everything runs.
fn with_output_files(mut base: Command, dir: &TempDir) -> Command {
    base.stdout(File::create(dir.file("stdout")).unwrap())
        .stderr(File::create(dir.file("stderr")).unwrap());
    base
}

/// Waits until the demo has written a whole line containing `needle`.
fn wait_for_line(path: &Path, needle: &str) -> String {
    let complete = |text: &str| {
        text.split(needle)
            .nth(1)
            .is_some_and(|rest| rest.contains('\n'))
    };
    let mut text = String::new();
    let found = wait_until(LIMIT, || {
        text = std::fs::read_to_string(path).unwrap_or_default();
        complete(&text)
    });
    assert!(found, "no whole line with {needle:?} in:\n{text}");
    text
}

/// Whether tini-rs logged reaping `pid`. The process leaves /proc at the
/// moment of waitpid and the line is written just after, so wait for it.
fn reaped_line(stderr: &Path, pid: i32) -> bool {
    let line = format!("Reaped zombie process with pid={pid}");
    wait_until(LIMIT, || {
        std::fs::read_to_string(stderr)
            .unwrap_or_default()
            .lines()
            // The line may go on with how the process ended: "...; it was killed by ...".
            .any(|l| l.ends_with(&line) || l.contains(&format!("{line};")))
    })
}

/// (a) A parent forks and exits at once. Its still-running child shows
/// tini-rs as its parent, both in /proc and in what it prints, then exits
/// on its own and is reaped.
#[test]
fn orphan_demo_child_is_adopted_then_reaped() {
    let dir = TempDir::new("orphan-demo");
    // The child lives on until this file exists, so it is still there when
    // the test reads its /proc entry, however slow the machine.
    let release = dir.file("release");
    let mut cmd = tini(&["-s", "-w", "--", "sh", "-c"]);
    cmd.arg(r#""$0" "$1" "$2"; exec sleep 60"#)
        .args([python3(), &script("orphan_demo.py")])
        .arg(&release);
    let mut tini_rs = Running::start(with_output_files(cmd, &dir));

    let out = wait_for_line(&dir.file("stdout"), "adopted by");
    let child = number_after(&out, "forked child ");
    assert_eq!(
        status_field(child, "PPid"),
        Some(tini_rs.pid().to_string()),
        "/proc/{child}/status"
    );
    assert_eq!(number_after(&out, "adopted by "), tini_rs.pid(), "{out}");

    std::fs::write(&release, "").expect("create the release file");
    wait_for_line(&dir.file("stdout"), ": exiting");
    assert_reaped(child, LIMIT);
    assert!(reaped_line(&dir.file("stderr"), child));
    assert_running_then_terminate(&mut tini_rs, LIMIT);
}

/// (a) again with tini-rs as PID 1 of a namespace: the child's new parent is
/// PID 1, which is what the demonstration prints on a real init.
#[test]
fn orphan_demo_as_pid1_child_reports_parent_1() {
    if !require_root("orphan_demo_as_pid1_child_reports_parent_1") {
        return;
    }
    let dir = TempDir::new("orphan-demo-pid1");
    let mut cmd = as_pid1(&["-w", "--", "sh", "-c"]);
    cmd.arg(r#""$0" "$1" 0.5; exec sleep 60"#)
        .args([python3(), &script("orphan_demo.py")]);
    let mut unshare = Running::start(with_output_files(cmd, &dir));
    let pid1 = pid1_of(&unshare);

    let out = wait_for_line(&dir.file("stdout"), ": exiting");
    assert!(out.contains(": adopted by 1\n"), "{out}");
    // Reaped: nothing but the main child (sleep) is left in the namespace.
    let reaped = wait_until(LIMIT, || {
        let left = descendants(pid1);
        left.len() == 1 && proc_comm(left[0]).as_deref() == Some("sleep")
    });
    assert!(reaped, "left under PID 1: {:?}", descendants(pid1));
    // The namespace's pid of the child, as tini-rs logged it.
    let child = number_after(&out, "forked child ");
    assert!(reaped_line(&dir.file("stderr"), child));

    // SAFETY: kill(2) to the tini-rs this test started.
    unsafe { libc::kill(pid1, libc::SIGTERM) };
    assert_eq!(unshare.exit_code(LIMIT), 128 + libc::SIGTERM);
}

/// (b) A parent starts a multiprocessing child that returns at once and
/// never joins it. The child is a zombie, and stays one: it is its parent's
/// to reap, not tini-rs's. When the test kills the parent, tini-rs (which
/// adopted the parent) reaps both.
#[test]
fn zombie_demo_zombie_stays_until_its_parent_dies_then_both_are_reaped() {
    let dir = TempDir::new("zombie-demo");
    // `( ... &)`: the subshell exits at once, so the demo's parent process
    // is itself an orphan adopted by tini-rs.
    let mut cmd = tini(&["-s", "-w", "--", "sh", "-c"]);
    cmd.arg(r#"("$0" "$1" &); exec sleep 60"#)
        .args([python3(), &script("zombie_demo.py")]);
    let mut tini_rs = Running::start(with_output_files(cmd, &dir));

    let out = wait_for_line(&dir.file("stdout"), "not joining it");
    let parent = number_after(&out, "parent ");
    let mut strays = Strays::default();
    strays.add(parent, "zombie_demo.py");
    let child = number_after(&out, "started child ");
    let adopted = wait_until(LIMIT, || {
        status_field(parent, "PPid") == Some(tini_rs.pid().to_string())
    });
    assert!(adopted, "the demo's parent {parent} was not adopted");
    assert_eq!(status_field(child, "PPid"), Some(parent.to_string()));

    // A zombie, and still one a while later: tini-rs cannot reap it.
    let zombie = || status_field(child, "State").is_some_and(|s| s.starts_with('Z'));
    assert!(
        wait_until(LIMIT, zombie),
        "child {child} never became a zombie"
    );
    // Not a wait for anything: "nothing happens for 300 ms" is the claim
    // (tini-rs, reaping all the while, must leave another's child alone).
    std::thread::sleep(Duration::from_millis(300));
    assert!(zombie(), "the zombie went away while its parent lived");

    // SAFETY: kill(2) to the demo's parent, which this test started.
    unsafe { libc::kill(parent, libc::SIGKILL) };
    let both_gone = wait_until(LIMIT, || {
        status_field(parent, "State").is_none() && status_field(child, "State").is_none()
    });
    assert!(
        both_gone,
        "parent {:?}, child {:?}",
        status_field(parent, "State"),
        status_field(child, "State")
    );
    assert!(reaped_line(&dir.file("stderr"), parent));
    assert!(reaped_line(&dir.file("stderr"), child));

    tini_rs.signal(libc::SIGTERM);
    assert_eq!(tini_rs.exit_code(LIMIT), 128 + libc::SIGTERM);
}
