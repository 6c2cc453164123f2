//! tini-rs as PID 1 of a fresh PID namespace: every orphan of the namespace
//! comes to it and is reaped while the main child still runs, even two
//! thousand exiting at the same moment.

mod common;

use common::*;
use std::fs::File;
use std::process::Stdio;
use std::time::Duration;

/// The command names of the processes whose parent is `ppid`.
fn names_of_children(ppid: i32) -> Vec<String> {
    processes()
        .into_iter()
        .filter(|p| p.ppid == ppid)
        .map(|p| p.comm)
        .collect()
}

/// Five grandchildren are double-forked (`(cat &)`: the subshell exits at
/// once), so PID 1 adopts them. They read a pipe whose write end the test
/// holds (on fd 3: a shell gives background commands /dev/null as stdin),
/// and all exit at end-of-file when the test closes it. Seen from outside
/// the namespace, they must vanish, not stay zombies, while the main child
/// runs.
#[test]
fn double_forked_grandchildren_are_adopted_and_reaped() {
    if !require_root("double_forked_grandchildren_are_adopted_and_reaped") {
        return;
    }
    let mut cmd = as_pid1(&["--", "sh", "-c"]);
    cmd.arg("exec 3<&0; for i in 1 2 3 4 5; do (cat <&3 > /dev/null &); done; exec sleep 60 3<&-")
        .stdin(Stdio::piped());
    let mut unshare = Running::start(cmd);
    let pid1 = pid1_of(&unshare);

    let adopted = wait_until(LIMIT, || {
        names_of_children(pid1)
            .iter()
            .filter(|c| *c == "cat")
            .count()
            == 5
    });
    assert!(adopted, "PID 1's children: {:?}", names_of_children(pid1));

    // End-of-file for every cat, whether it is reading yet or not.
    drop(unshare.child.stdin.take());

    let only_main_child_left = wait_until(LIMIT, || {
        let left = descendants(pid1);
        left.len() == 1 && proc_comm(left[0]).as_deref() == Some("sleep")
    });
    let left: Vec<_> = descendants(pid1)
        .into_iter()
        .map(|p| (p, proc_comm(p), status_field(p, "State")))
        .collect();
    assert!(
        only_main_child_left,
        "the grandchildren were not reaped: {left:?}"
    );
    assert!(zombies_under(unshare.pid()).is_empty());

    // The main child still ran throughout; SIGTERM to PID 1 ends it.
    // SAFETY: kill(2) to the tini-rs this test started.
    unsafe { libc::kill(pid1, libc::SIGTERM) };
    assert_eq!(unshare.exit_code(LIMIT), 128 + libc::SIGTERM);
}

/// The main child (tests/scripts/mass_orphans.py) orphans 2,000 processes
/// and kills them all with one killpg(); it exits 0 only when it sees, in
/// the namespace's own /proc, that every one is gone. With -w tini-rs logs
/// each reap, which must be exactly those 2,000.
#[test]
fn two_thousand_orphans_exiting_at_once_are_all_reaped() {
    if !require_root("two_thousand_orphans_exiting_at_once_are_all_reaped") {
        return;
    }
    const COUNT: usize = 2000;
    let dir = TempDir::new("pid1-mass");
    // A file, not a pipe: 2,000 log lines would fill a pipe nobody reads yet.
    let stderr_path = dir.file("stderr");
    let mut cmd = as_pid1(&["-w", "--", python3(), &script("mass_orphans.py")]);
    cmd.args([COUNT.to_string().as_str(), "90"])
        .stdout(Stdio::piped())
        .stderr(File::create(&stderr_path).unwrap());
    let mut unshare = Running::start(cmd);

    let code = unshare.exit_code(Duration::from_secs(150));
    let (stdout, _) = unshare.output();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert_eq!(code, 0, "stdout:\n{stdout}");
    assert!(stdout.contains(&format!("adopted {COUNT}\n")), "{stdout}");
    assert!(stdout.contains(&format!("reaped {COUNT}\n")), "{stdout}");

    let reaped: std::collections::HashSet<&str> = stderr
        .lines()
        .filter_map(|l| l.split("Reaped zombie process with pid=").nth(1))
        .collect();
    assert_eq!(
        reaped.len(),
        COUNT,
        "distinct pids tini-rs reported reaping"
    );
    assert_eq!(
        stderr.lines().count(),
        COUNT,
        "nothing but reap lines expected:\n{}",
        stderr.lines().take(5).collect::<Vec<_>>().join("\n")
    );
}
