//! `-P`, pause mode: no program; tini-rs adopts and reaps every orphan that
//! comes to it, sleeps through every signal but SIGTERM and SIGINT, and
//! exits 0 on either. Shown as PID 1 of a fresh PID namespace (orphans enter
//! it with nsenter, as a pod's member containers do) and as a subreaper.

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

/// `tini-rs ARGS` as PID 1 of a new PID namespace, logging to a file.
struct PausedPid1 {
    unshare: Running,
    /// tini-rs's pid seen from outside the namespace.
    pid1: i32,
    log: std::path::PathBuf,
    _dir: TempDir,
}

impl PausedPid1 {
    /// Starts it (`None`: the test cannot run here) and returns once it is
    /// waiting.
    fn start(test: &str, args: &[&str]) -> Option<PausedPid1> {
        if !require_root(test) {
            return None;
        }
        let dir = TempDir::new(test);
        let log = dir.file("tini.log");
        let mut cmd = as_pid1(args);
        cmd.stderr(std::fs::File::create(&log).expect("create the log"));
        let unshare = Running::start(cmd);
        let pid1 = pid1_of(&unshare);
        wait_for_text(&log, "Pause mode: reaping orphans", LIMIT);
        Some(PausedPid1 {
            unshare,
            pid1,
            log,
            _dir: dir,
        })
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Runs `command` in the background of a shell that enters the PID
/// namespace of `pid1` with nsenter and exits at once: the process is
/// orphaned inside the namespace, as one a member container of a pod leaves
/// behind. Returns its pid seen from outside, once PID 1 has adopted it.
fn orphan_in_namespace_of(pid1: i32, command: &str) -> i32 {
    let before = children_of(pid1);
    let mut nsenter = Command::new("nsenter");
    nsenter
        .args(["-t", &pid1.to_string(), "-p", "--", "sh", "-c"])
        .arg(format!("({command}) </dev/null >/dev/null 2>&1 &"))
        .stdin(Stdio::null());
    let (code, _, err) = run(nsenter, LIMIT);
    assert_eq!(code, 0, "nsenter failed: {err}");
    let mut adopted = 0;
    let found = wait_until(LIMIT, || {
        adopted = children_of(pid1)
            .into_iter()
            .find(|p| !before.contains(p))
            .unwrap_or(0);
        adopted != 0
    });
    assert!(found, "no orphan of `{command}` was adopted by PID 1");
    adopted
}

/// Context switches of every thread of `pid`: a thread that wakes up
/// switches at least once.
fn context_switches(pid: i32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("read the tasks");
    tasks
        .flatten()
        .map(|task| {
            let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum()
}

fn kill(pid: i32, sig: i32) {
    // SAFETY: kill(2) to a process this test started (an orphan it made).
    unsafe { libc::kill(pid, sig) };
}

/// Runs `sh -c SCRIPT` (which ends by exec'ing tini-rs in pause mode) with
/// stderr to `log`; returns once tini-rs is waiting.
fn pause_through_shell(script: &str, log: &std::path::Path) -> Running {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script])
        .stderr(std::fs::File::create(log).expect("create the log"));
    let tini = Running::start(cmd);
    wait_for_text(log, "Pause mode: reaping orphans", LIMIT);
    tini
}

/// The pid a shell wrote into `file`, once it is there.
fn read_pid(file: &std::path::Path) -> i32 {
    wait_for_text(file, "\n", LIMIT)
        .trim()
        .parse()
        .expect("a pid")
}

/// Adopted orphans are reaped (gone from /proc, never a zombie) while
/// tini-rs runs no program; idle, it never wakes; SIGHUP changes nothing;
/// SIGTERM ends it with 0.
#[test]
fn as_pid1_orphans_are_adopted_and_reaped_and_sigterm_exits_0() {
    let Some(mut paused) = PausedPid1::start(
        "as_pid1_orphans_are_adopted_and_reaped_and_sigterm_exits_0",
        &["-P", "-vvv"],
    ) else {
        return;
    };
    let pid1 = paused.pid1;

    let orphans: Vec<i32> = (0..3)
        .map(|_| orphan_in_namespace_of(pid1, "sleep 300"))
        .collect();
    for &orphan in &orphans {
        assert_eq!(ProcStat::of(orphan).map(|s| s.ppid), Some(pid1));
        kill(orphan, libc::SIGKILL);
    }
    for &orphan in &orphans {
        assert_reaped(orphan, LIMIT);
    }

    // Idle: a whole second without one context switch. (Measuring idleness
    // needs a window; nothing waits on it.)
    assert!(wait_asleep(pid1, LIMIT), "tini-rs never went idle");
    let before = context_switches(pid1);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(context_switches(pid1), before, "tini-rs woke up while idle");

    kill(pid1, libc::SIGHUP);
    wait_for_text(&paused.log, "Pause mode: ignoring SIGHUP", LIMIT);
    // Still there, and still reaping.
    let orphan = orphan_in_namespace_of(pid1, "sleep 300");
    kill(orphan, libc::SIGKILL);
    assert_reaped(orphan, LIMIT);

    kill(pid1, libc::SIGTERM);
    assert_eq!(paused.unshare.exit_code(LIMIT), 0);
}

#[test]
fn as_pid1_sigint_exits_0() {
    let Some(mut paused) = PausedPid1::start("as_pid1_sigint_exits_0", &["-P", "-vv"]) else {
        return;
    };
    kill(paused.pid1, libc::SIGINT);
    assert_eq!(paused.unshare.exit_code(LIMIT), 0);
    assert!(paused.log().contains("SIGINT received"));
}

/// With a grace period, what is left when the stop comes gets SIGTERM, and
/// SIGKILL at the deadline if it ignores that; the exit is still 0.
#[test]
fn as_pid1_with_grace_period_stops_the_orphans_first_and_exits_0() {
    let Some(mut paused) = PausedPid1::start(
        "as_pid1_with_grace_period_stops_the_orphans_first_and_exits_0",
        &["-P", "-vv", "--grace-period", "0.5"],
    ) else {
        return;
    };
    let pid1 = paused.pid1;
    let polite = orphan_in_namespace_of(pid1, "sleep 300");
    // A shell that ignores SIGTERM, waiting on a child that does too.
    let stubborn = orphan_in_namespace_of(pid1, "trap '' TERM; sleep 300; :");
    let stubborn_child = {
        let mut child = 0;
        wait_until(LIMIT, || {
            child = children_of(stubborn).first().copied().unwrap_or(0);
            child != 0
        });
        child
    };
    assert!(stubborn_child != 0, "the stubborn orphan started no child");

    kill(pid1, libc::SIGTERM);
    assert_eq!(paused.unshare.exit_code(LIMIT), 0);
    let text = paused.log();
    assert!(
        text.contains("SIGTERM sent to 3, 1 exited by themselves, 2 needed SIGKILL"),
        "the shutdown report is missing or wrong:\n{text}"
    );
    for pid in [polite, stubborn, stubborn_child] {
        assert!(ProcStat::of(pid).is_none(), "{pid} outlived the pause");
    }
}

/// Not PID 1: the children a process had when it exec'd `tini-rs -s -P`
/// are tini-rs's now, and their own orphans come to it as a subreaper. It
/// also keeps none of the descriptors or the directory it was given.
#[test]
fn as_subreaper_the_orphans_of_inherited_children_are_adopted_and_reaped() {
    let dir = TempDir::new("pause-subreaper");
    let log = dir.file("tini.log");
    let middle_file = dir.file("middle");
    let orphan_file = dir.file("orphan");
    // `middle` (a child the shell has when it becomes tini-rs) starts
    // `orphan` and becomes a sleep itself; killing it orphans `orphan`.
    let script = format!(
        "sh -c 'sleep 300 & echo $! > {orphan}; exec sleep 300' & echo $! > {middle}; \
         exec 5</dev/null; cd {dir}; exec {tini} -s -P -vvv",
        orphan = orphan_file.display(),
        middle = middle_file.display(),
        dir = dir.0.display(),
        tini = tini_rs(),
    );
    let mut tini = pause_through_shell(&script, &log);
    let (middle, orphan) = (read_pid(&middle_file), read_pid(&orphan_file));
    assert_eq!(ProcStat::of(middle).map(|s| s.ppid), Some(tini.pid()));

    let fds: Vec<String> = std::fs::read_dir(format!("/proc/{}/fd", tini.pid()))
        .expect("read tini-rs's descriptors")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !fds.contains(&"5".to_string()),
        "tini-rs kept descriptor 5: {fds:?}"
    );
    let cwd = std::fs::read_link(format!("/proc/{}/cwd", tini.pid())).expect("read cwd");
    assert_eq!(cwd, std::path::Path::new("/"));

    kill(middle, libc::SIGKILL);
    assert_reaped(middle, LIMIT);
    let adopted = wait_until(LIMIT, || {
        ProcStat::of(orphan).map(|s| s.ppid) == Some(tini.pid())
    });
    assert!(adopted, "the orphan was not re-parented to tini-rs");
    kill(orphan, libc::SIGKILL);
    assert_reaped(orphan, LIMIT);

    tini.signal(libc::SIGTERM);
    assert_eq!(tini.exit_code(LIMIT), 0);
}

/// As a subreaper with a grace period, the adopted descendants are found
/// by walking /proc and stopped before tini-rs exits 0.
#[test]
fn as_subreaper_with_grace_period_stops_what_is_left() {
    let dir = TempDir::new("pause-subreaper-grace");
    let log = dir.file("tini.log");
    let pid_file = dir.file("grandchild");
    let script = format!(
        "sh -c 'sleep 300 & echo $! > {file}; wait' & exec {tini} -s -P -vv --grace-period 5",
        file = pid_file.display(),
        tini = tini_rs(),
    );
    let mut tini = pause_through_shell(&script, &log);
    let grandchild = read_pid(&pid_file);

    tini.signal(libc::SIGTERM);
    // Both go at SIGTERM, long before the 5 s deadline.
    assert_eq!(tini.exit_code(LIMIT), 0);
    assert!(
        ProcStat::of(grandchild).is_none(),
        "the grandchild outlived tini-rs"
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains("0 needed SIGKILL"),
        "the descendants should have stopped at SIGTERM:\n{text}"
    );
}
