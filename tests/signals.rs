//! Signals sent to tini-rs reach the main child (and, with -g, its whole
//! process group); SIGCHLD does not; a child killed by signal S makes
//! tini-rs exit 128+S; the child starts with exactly the signal mask and
//! ignored set tini-rs was given; -p turns the death of tini-rs's parent
//! into a signal for the child.
//!
//! The child that records signals is tests/scripts/signal_recorder.py: it
//! prints "ready PID", then "got NAME" per signal, and exits 0 on SIGTERM.

mod common;

use common::*;
use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};

fn number(name: &str) -> i32 {
    match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ABRT" => libc::SIGABRT,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "CHLD" => libc::SIGCHLD,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "WINCH" => libc::SIGWINCH,
        "RTMIN+2" => libc::SIGRTMIN() + 2,
        "RTMIN+3" => libc::SIGRTMIN() + 3,
        other => panic!("add {other} to the table"),
    }
}

/// The recorder's pid, once its whole "ready PID" line is there.
fn recorder_ready(out: &Path) -> i32 {
    let pid = |text: &str| {
        let rest = text.split("ready ").nth(1)?;
        rest[..rest.find('\n')?].parse().ok()
    };
    let mut found = None;
    let complete = wait_until(LIMIT, || {
        found = pid(&std::fs::read_to_string(out).unwrap_or_default());
        found.is_some()
    });
    assert!(complete, "no whole ready line in {}", out.display());
    found.unwrap()
}

/// tini-rs `args` over the recorder trapping `names`, stdout to `out`.
fn start_recorder(args: &[&str], names: &[&str], out: &Path) -> Running {
    let mut cmd = tini(args);
    cmd.args(["--", python3(), &script("signal_recorder.py")])
        .args(names)
        .stdout(File::create(out).unwrap());
    Running::start(cmd)
}

#[test]
fn every_catchable_kind_of_signal_reaches_the_main_child() {
    let dir = TempDir::new("forward");
    let out = dir.file("out");
    let names = [
        "INT", "HUP", "QUIT", "USR1", "USR2", "WINCH", "ALRM", "ABRT", "RTMIN+3",
    ];
    let mut tini_rs = start_recorder(&["-s"], &names, &out);
    recorder_ready(&out);
    // One at a time: standard signals pending together would merge.
    for name in names.iter().chain(&["TERM"]) {
        tini_rs.signal(number(name));
        wait_for_text(&out, &format!("got {name}\n"), LIMIT);
    }
    assert_eq!(tini_rs.exit_code(LIMIT), 0, "the recorder exits 0 on TERM");
}

#[test]
fn sigchld_is_not_forwarded() {
    let dir = TempDir::new("no-chld");
    let out = dir.file("out");
    let mut tini_rs = start_recorder(&["-s"], &["CHLD", "WINCH"], &out);
    let recorder = recorder_ready(&out);

    // The control: the recorder does record a SIGCHLD sent to it directly.
    // SAFETY: kill(2) to the recorder this test started.
    unsafe { libc::kill(recorder, libc::SIGCHLD) };
    wait_for_text(&out, "got CHLD\n", LIMIT);

    // Sent to tini-rs, SIGCHLD must stop there. Had it been passed on, it
    // would be pending at the recorder no later than the WINCH sent after
    // it, and signals leave both queues (tini-rs's and the recorder's)
    // lowest number first: SIGCHLD (17) before SIGWINCH (28). So once "got
    // WINCH" is there, a passed-on SIGCHLD has been printed too.
    tini_rs.signal(libc::SIGCHLD);
    tini_rs.signal(libc::SIGWINCH);
    let text = wait_for_text(&out, "got WINCH\n", LIMIT);
    assert_eq!(text.matches("got CHLD").count(), 1, "{text}");
    tini_rs.signal(libc::SIGTERM);
    assert_eq!(tini_rs.exit_code(LIMIT), 0);
}

/// The main child is a recorder that started another recorder in the
/// background, in its own process group (a non-interactive shell does no
/// job control). Returns tini-rs and both recorders' pids.
fn start_two_recorders(configure: impl FnOnce(&mut Command), dir: &TempDir) -> (Running, i32, i32) {
    let mut cmd = tini(&["-s"]);
    configure(&mut cmd);
    cmd.args(["--", "sh", "-c"])
        .arg(r#""$0" "$1" USR1 > "$2" & exec "$0" "$1" USR1 > "$3""#)
        .args([python3(), &script("signal_recorder.py")])
        .args([dir.file("grandchild"), dir.file("main")])
        .stderr(Stdio::null());
    let tini_rs = Running::start(cmd);
    let grandchild = recorder_ready(&dir.file("grandchild"));
    let main = recorder_ready(&dir.file("main"));
    assert_eq!(main, descendants(tini_rs.pid())[0], "main child");
    let group = |pid: i32| ProcStat::of(pid).map(|s| s.pgrp);
    assert_eq!(group(grandchild), Some(main), "one process group");
    (tini_rs, main, grandchild)
}

fn whole_group_gets_it(configure: impl FnOnce(&mut Command)) {
    let dir = TempDir::new("group");
    let (mut tini_rs, _, grandchild) = start_two_recorders(configure, &dir);
    let mut strays = Strays::default();
    strays.add(grandchild, "signal_recorder");
    for name in ["USR1", "TERM"] {
        tini_rs.signal(number(name));
        for who in ["main", "grandchild"] {
            wait_for_text(&dir.file(who), &format!("got {name}\n"), LIMIT);
        }
    }
    assert_eq!(tini_rs.exit_code(LIMIT), 0);
}

#[test]
fn with_dash_g_the_whole_group_gets_it() {
    whole_group_gets_it(|cmd| {
        cmd.arg("-g");
    });
}

#[test]
fn with_tini_kill_process_group_the_whole_group_gets_it() {
    whole_group_gets_it(|cmd| {
        cmd.env("TINI_KILL_PROCESS_GROUP", "");
    });
}

#[test]
fn without_dash_g_only_the_main_child_gets_it() {
    let dir = TempDir::new("no-group");
    let (mut tini_rs, _, grandchild) = start_two_recorders(
        |cmd| {
            cmd.env_remove("TINI_KILL_PROCESS_GROUP");
        },
        &dir,
    );
    let mut strays = Strays::default();
    strays.add(grandchild, "signal_recorder");
    tini_rs.signal(libc::SIGUSR1);
    wait_for_text(&dir.file("main"), "got USR1\n", LIMIT);
    tini_rs.signal(libc::SIGTERM);
    assert_eq!(tini_rs.exit_code(LIMIT), 0);
    // A USR1 sent to the group earlier would be handled before this TERM.
    // SAFETY: kill(2) to the grandchild this test started.
    unsafe { libc::kill(grandchild, libc::SIGTERM) };
    let text = wait_for_text(&dir.file("grandchild"), "got TERM\n", LIMIT);
    assert!(!text.contains("got USR1"), "{text}");
}

#[test]
fn a_child_killed_by_signal_s_makes_tini_rs_exit_128_plus_s() {
    let names = [
        "TERM", "INT", "HUP", "QUIT", "USR1", "USR2", "ALRM", "ABRT", "RTMIN+3",
    ];
    // No core files (QUIT, ABRT) in the working directory.
    let mut all: Vec<(&str, Running)> = names
        .iter()
        .map(|&name| {
            let mut cmd = tini(&["-s", "--", "sh", "-c", "ulimit -c 0; exec sleep 60"]);
            cmd.stderr(Stdio::null());
            (name, Running::start(cmd))
        })
        .collect();
    for (name, tini_rs) in &mut all {
        // Signal only once the default-disposition `sleep` is the child.
        let ready = wait_until(LIMIT, || {
            descendants(tini_rs.pid())
                .first()
                .is_some_and(|&c| proc_comm(c).as_deref() == Some("sleep"))
        });
        assert!(ready, "{name}: the child never became sleep");
        tini_rs.signal(number(name));
        assert_eq!(tini_rs.exit_code(LIMIT), 128 + number(name), "SIG{name}");
    }

    // Killed by a signal tini-rs never saw (SIGKILL cannot be forwarded).
    let (code, _, _) = run(tini(&["-s", "--", "sh", "-c", "kill -KILL $$"]), LIMIT);
    assert_eq!(code, 128 + libc::SIGKILL);
}

/// A 64-bit mask as /proc/PID/status shows it, bit S-1 for signal S.
fn mask(names: &[&str]) -> String {
    let bits = names.iter().fold(0u64, |m, n| m | 1 << (number(n) - 1));
    format!("{bits:016x}")
}

/// Runs tini-rs through tests/scripts/with_signal_state.py with `blocked`
/// and `ignored`; the main child is `cat /proc/self/status`. Checks the
/// child's SigBlk and SigIgn against the wrapper's own, read just before it
/// exec'd tini-rs, and against what was asked for.
fn child_gets_exactly(blocked: &[&str], ignored: &[&str]) {
    let list = |names: &[&str]| {
        if names.is_empty() {
            "-".to_string()
        } else {
            names.join(",")
        }
    };
    let mut cmd = Command::new(python3());
    cmd.arg(script("with_signal_state.py"))
        .args([list(blocked), list(ignored)])
        .args([tini_rs(), "-s", "--", "cat", "/proc/self/status"]);
    let (code, out, err) = run(cmd, LIMIT);
    assert_eq!(code, 0, "{err}");
    let field = |prefix: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in:\n{out}"))
            .trim()
            .to_string()
    };
    let given = (field("before exec SigBlk:"), field("before exec SigIgn:"));
    let child = (field("SigBlk:"), field("SigIgn:"));
    // glibc's posix_spawn (which std uses to start the wrapper) hands its
    // two internal signals, 32 and 33, to the new program ignored, and
    // Python may not touch them. Leave them out of what we asked for; the
    // child must still match the wrapper exactly.
    let without_glibc_internal = |hex: &str| {
        let bits = u64::from_str_radix(hex, 16).unwrap() & !(0b11 << 31);
        format!("{bits:016x}")
    };
    assert_eq!(
        (given.0.clone(), without_glibc_internal(&given.1)),
        (mask(blocked), mask(ignored)),
        "the wrapper's own state"
    );
    assert_eq!(child, given, "(SigBlk, SigIgn) of the main child vs. given");
}

#[test]
fn child_gets_the_blocked_and_ignored_signals_tini_rs_was_given() {
    child_gets_exactly(
        &["USR1", "HUP", "RTMIN+2"],
        &["USR2", "QUIT", "PIPE", "TTIN", "TTOU", "CHLD"],
    );
}

/// tini-rs ignores SIGTTIN/SIGTTOU itself, and the Rust runtime would
/// ignore SIGPIPE: none of that may leak into a child started with defaults.
#[test]
fn child_started_with_defaults_gets_defaults_sigpipe_included() {
    child_gets_exactly(&[], &[]);
    child_gets_exactly(&["TERM"], &["INT"]);
}

/// -p: an intermediate shell starts tini-rs in the background and is then
/// killed. The kernel sends tini-rs the -p signal, which it passes on.
fn parent_death_signal_reaches_child(dash_p_value: &str, name: &str) {
    let dir = TempDir::new("pdeathsig");
    let out = dir.file("out");
    let mut cmd = Command::new("sh");
    cmd.args(["-c", r#""$@" & echo $! > "$PIDFILE"; wait"#, "sh"])
        .args([tini_rs(), "-s", "-p", dash_p_value, "--", python3()])
        .args([&script("signal_recorder.py"), name])
        .env("PIDFILE", dir.file("tini.pid"))
        .stdout(File::create(&out).unwrap())
        .stderr(Stdio::null());
    let mut shell = Running::start(cmd);
    let recorder = recorder_ready(&out);
    let tini_pid: i32 = wait_for_text(&dir.file("tini.pid"), "\n", LIMIT)
        .trim()
        .parse()
        .unwrap();
    let mut strays = Strays::default();
    strays.add(recorder, "signal_recorder");
    strays.add(tini_pid, "tini-rs");

    shell.signal(libc::SIGKILL);
    shell.wait(LIMIT).expect("the shell dies");
    wait_for_text(&out, &format!("got {name}\n"), LIMIT);

    // tini-rs lives on (now someone else's orphan) until its child ends.
    assert_eq!(proc_comm(tini_pid).as_deref(), Some("tini-rs"));
    // SAFETY: kill(2) to the tini-rs this test started (checked just above).
    unsafe { libc::kill(tini_pid, libc::SIGTERM) };
    wait_for_text(&out, "got TERM\n", LIMIT);
    // Exited: gone, or a zombie of whatever adopted it (that is its reaper's
    // business, and some machines' init reaps slowly).
    let exited = wait_until(LIMIT, || {
        proc_comm(tini_pid).as_deref() != Some("tini-rs")
            || status_field(tini_pid, "State").is_some_and(|s| s.starts_with('Z'))
    });
    assert!(exited, "tini-rs did not exit after its child did");
}

#[test]
fn dash_p_sigusr1_by_name() {
    parent_death_signal_reaches_child("SIGUSR1", "USR1");
}

#[test]
fn dash_p_usr2_by_number() {
    parent_death_signal_reaches_child("12", "USR2");
}

/// -p with a signal tini-rs cannot take itself (tini accepts them, and
/// with SIGKILL dies itself, leaving its child running): on the parent's
/// death the main child gets it. SIGKILL ends the main child, and tini-rs
/// with its status; SIGSTOP stops the main child while tini-rs waits on.
fn parent_death_signal_goes_to_the_main_child(dash_p_value: &str) -> (i32, i32, Strays) {
    let dir = TempDir::new("pdeath-child");
    let child_pid_file = dir.file("child.pid");
    let main = format!("echo $$ > {}; exec sleep 300", child_pid_file.display());
    let mut cmd = Command::new("sh");
    cmd.args(["-c", r#""$@" & echo $! > "$PIDFILE"; wait"#, "sh"])
        .args([tini_rs(), "-s", "-p", dash_p_value, "--", "sh", "-c", &main])
        .env("PIDFILE", dir.file("tini.pid"))
        .stderr(Stdio::null());
    let mut shell = Running::start(cmd);
    let pid = |file: &Path| -> i32 { wait_for_text(file, "\n", LIMIT).trim().parse().unwrap() };
    let tini_pid = pid(&dir.file("tini.pid"));
    let mut strays = Strays::default();
    strays.add(tini_pid, "tini-rs");
    let child = pid(&child_pid_file);
    strays.add(child, "sleep");
    // The main child has exec'd sleep: it is the one -p must reach.
    assert!(wait_until(LIMIT, || proc_comm(child).as_deref() == Some("sleep")));
    shell.signal(libc::SIGKILL);
    shell.wait(LIMIT).expect("the shell dies");
    (tini_pid, child, strays)
}

#[test]
fn dash_p_sigkill_kills_the_main_child_not_tini_rs() {
    let (tini_pid, child, _strays) = parent_death_signal_goes_to_the_main_child("SIGKILL");
    let gone = |pid: i32| status_field(pid, "State").is_none_or(|s| s.starts_with('Z'));
    assert!(
        wait_until(LIMIT, || gone(child)),
        "the main child outlived -p SIGKILL"
    );
    // tini-rs reaped it and exited (gone, or a zombie of whatever adopted it).
    assert!(
        wait_until(LIMIT, || gone(tini_pid)),
        "tini-rs did not exit after its child"
    );
}

#[test]
fn dash_p_sigstop_stops_the_main_child_and_tini_rs_waits() {
    let (tini_pid, child, _strays) = parent_death_signal_goes_to_the_main_child("SIGSTOP");
    let stopped = wait_until(LIMIT, || {
        status_field(child, "State").is_some_and(|s| s.starts_with('T'))
    });
    assert!(stopped, "the main child was not stopped by -p SIGSTOP");
    assert_eq!(proc_comm(tini_pid).as_deref(), Some("tini-rs"));
    assert!(
        status_field(tini_pid, "State").is_some_and(|s| !s.starts_with('T') && !s.starts_with('Z')),
        "tini-rs itself must go on"
    );
}

/// -p SIGKILL as PID 1 of a PID namespace whose parent is outside it
/// (getppid() is 0, as for a container's init): tini-rs cannot see that
/// parent die, so a stand-in taken later can never be known for the
/// death. Before the fix the stand-in (SIGRTMAX) reached the main child as
/// an ordinary signal, and a child that ignores it ran on. Now tini-rs asks
/// for SIGKILL itself, as tini does: as PID 1 its death ends the whole
/// namespace, the main child included. The main child ignores SIGRTMAX, so
/// only a real SIGKILL ends it.
#[test]
fn dash_p_sigkill_as_pid1_kills_the_main_child() {
    if !require_root("dash_p_sigkill_as_pid1_kills_the_main_child") {
        return;
    }
    let main = format!("trap '' {}; exec sleep 300", libc::SIGRTMAX());
    let mut unshare = Running::start(as_pid1(&["-p", "SIGKILL", "--", "sh", "-c", &main]));
    let tini_pid = pid1_of(&unshare);
    let mut strays = Strays::default();
    strays.add(tini_pid, "tini-rs");
    // Once sh has become sleep, SIGRTMAX is ignored.
    let child = child_named(tini_pid, "sleep");
    strays.add(child, "sleep");
    unshare.signal(libc::SIGKILL);
    unshare.wait(LIMIT).expect("unshare dies");
    let gone = |pid: i32| status_field(pid, "State").is_none_or(|s| s.starts_with('Z'));
    assert!(
        wait_until(LIMIT, || gone(child)),
        "the main child outlived -p SIGKILL of its PID 1"
    );
}

/// The tests' one /proc/PID/stat parser (common::ProcStat) against what the
/// kernel says through system calls, and against a command name that holds
/// the separators themselves.
#[test]
fn proc_stat_parser_reads_the_right_fields() {
    // SAFETY: these calls have no preconditions.
    let (pid, ppid, pgrp, sid) = unsafe {
        (
            libc::getpid(),
            libc::getppid(),
            libc::getpgrp(),
            libc::getsid(0),
        )
    };
    let me = ProcStat::of(pid).expect("our own stat");
    assert_eq!(
        (me.pid, me.ppid, me.pgrp, me.session),
        (pid, ppid, pgrp, sid)
    );
    // This thread is running while it reads its own entry; the main thread
    // (the process's own entry) waits for the test threads.
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    let threads = ProcStat::of_threads(pid);
    let this = threads.iter().find(|t| t.pid == tid).expect("this thread");
    assert_eq!(this.state, 'R');
    assert!(threads.iter().any(|t| t.pid == pid), "the main thread");

    let odd = "42 (a) b (c) S 7 8 9 0 -1 4194560 1 2 3 4 15 16 0 0 20 0 1 0 22 0";
    let s = ProcStat::parse(odd).expect("parsed");
    assert_eq!(s.comm, "a) b (c");
    assert_eq!(
        (s.pid, s.state, s.ppid, s.pgrp, s.session, s.tpgid),
        (42, 'S', 7, 8, 9, -1)
    );
    assert_eq!((s.utime, s.stime, s.starttime), (15, 16, 22));
}
