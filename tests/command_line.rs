//! The command line, read exactly as tini 0.19 reads it (GNU getopt(3):
//! options wherever they stand, the first `--` dropped, `POSIXLY_CORRECT`;
//! `-e` read with strtol; a bad `-e` or `-p` value one line, exit 1, no
//! usage), side by side with Debian's tini where it is installed
//! (tests/run.sh installs it), and `-g`'s warning when the main child's
//! process group is gone.

mod common;

use common::*;
use std::fs::File;
use std::process::{Command, Stdio};

/// Debian's tini, for the side-by-side checks; `None` (after a skip, or a
/// failure in CI) where it is missing.
fn debian_tini(test: &str) -> Option<&'static str> {
    let path = "/usr/bin/tini";
    if std::path::Path::new(path).exists() {
        Some(path)
    } else {
        skip(
            test,
            "Debian's tini is not installed (tests/run.sh installs it)",
        );
        None
    }
}

/// Exit code and stdout of `program ARGS` with `env` set, run in `/tmp`.
fn outcome(program: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir("/tmp");
    for name in [
        "TINI_SUBREAPER",
        "TINI_VERBOSITY",
        "TINI_KILL_PROCESS_GROUP",
        "POSIXLY_CORRECT",
    ] {
        cmd.env_remove(name);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (code, out, _) = run(cmd, LIMIT);
    // tini writes its own info and debug lines to stdout; tini-rs to stderr.
    let program_output = out
        .lines()
        .filter(|l| !l.starts_with("[INFO  tini (") && !l.starts_with("[DEBUG tini ("))
        .map(|l| format!("{l}\n"))
        .collect();
    (code, program_output)
}

/// Arguments, and environment variables to set.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);

/// The command lines the issue found read differently, and their kin: what
/// the program prints and the exit code must be tini's.
#[test]
fn command_lines_mean_what_they_mean_to_tini() {
    let Some(tini) = debian_tini("command_lines_mean_what_they_mean_to_tini") else {
        return;
    };
    let none: &[(&str, &str)] = &[];
    let posix: &[(&str, &str)] = &[("POSIXLY_CORRECT", "1")];
    let cases: &[Case] = &[
        (&["-s", "echo", "--", "hi"], none),
        (&["-s", "echo", "-v", "x"], none),
        (&["-s", "sh", "-c", "echo hi"], none),
        (&["-s", "--", "sh", "-c", "echo hi"], none),
        (&["-s", "echo", "a", "--", "b", "--", "c"], none),
        (&["-s", "--", "echo", "--", "-v"], none),
        (&["-s", "echo", "-", "x"], none),
        (&["-s", "echo", "-v", "x"], posix),
        (&["-s", "echo", "--", "hi"], posix),
        (&["-s", "--", "echo", "hi"], posix),
        (&["-s", "-e", " 3", "--", "sh", "-c", "exit 3"], none),
        (&["-s", "-e", "-0", "--", "sh", "-c", "exit 0"], none),
        (&["-s", "-e", "", "--", "sh", "-c", "exit 0"], none),
        (&["-s", "-e", "+3", "--", "sh", "-c", "exit 3"], none),
        (&["-s", "-e", "003", "--", "sh", "-c", "exit 3"], none),
        (&["-s", "-e", "3 ", "--", "sh", "-c", "exit 3"], none),
        (&["-s", "-e", "0x3", "--", "sh", "-c", "exit 3"], none),
        (&["-s", "-e", "-3", "--", "sh", "-c", "exit 3"], none),
        (&["-s", "-e", "256", "--", "true"], none),
        (&["-s", "-p", "SIGKILL", "--", "echo", "ran"], none),
        (&["-s", "-p", "SIGSTOP", "--", "echo", "ran"], none),
        (&["-s", "true", "-e"], none),
    ];
    for (args, env) in cases {
        let want = outcome(tini, args, env);
        let got = outcome(tini_rs(), args, env);
        assert_eq!(got, want, "tini-rs vs tini: {args:?} with {env:?}");
    }
}

/// A bad `-e` or `-p` value: one line on stderr naming it, exit 1, and no
/// usage after it (tini prints one line too). Other mistakes still get the
/// usage.
#[test]
fn a_bad_dash_e_or_dash_p_value_is_one_line_without_the_usage() {
    for (args, bad) in [
        (&["-e", "256", "--", "true"][..], "256"),
        (&["-e", "3x", "--", "true"][..], "3x"),
        (&["-p", "BOGUS", "--", "true"][..], "BOGUS"),
    ] {
        let (code, out, err) = run_tini(args, |_| {});
        assert_eq!((code, out.as_str()), (1, ""), "{args:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line only:\n{err}");
        assert!(
            err.starts_with("tini-rs: ") && err.contains(bad),
            "{args:?}: {err}"
        );
    }
    let (code, _, err) = run_tini(&["-x", "--", "true"], |_| {});
    assert_eq!(code, 1);
    assert!(
        err.contains("Usage:"),
        "an unknown option gets the usage:\n{err}"
    );
}

/// With `-g`, a signal for a process group that no longer exists (the main
/// child moved to another group) is a warning at the default verbosity, as
/// tini's "Child was dead when forwarding signal" is; tini-rs runs on.
#[test]
fn dash_g_warns_when_the_main_childs_group_is_gone() {
    let dir = TempDir::new("dash-g-gone");
    let log = dir.file("stderr");
    // The main child starts a process in a group of its own, then joins
    // that group: its original group (its pid) has no member left.
    let program = r#"
import os, sys, time
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.setpgid(0, 0)
    os.write(w, b"x")
    time.sleep(300)
    os._exit(0)
os.read(r, 1)
os.setpgid(0, pid)
print(os.getpid(), pid, flush=True)
time.sleep(300)
"#;
    let out = dir.file("stdout");
    let mut cmd = tini(&["-s", "-g", "--", python3(), "-c", program]);
    cmd.env_remove("TINI_VERBOSITY")
        .env_remove("RUST_LOG")
        .stdout(File::create(&out).unwrap())
        .stderr(File::create(&log).unwrap())
        .stdin(Stdio::null());
    let mut tini_rs = Running::start(cmd);
    let pids: Vec<i32> = wait_for_text(&out, "\n", LIMIT)
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    tini_rs.signal(libc::SIGUSR1);
    let text = wait_for_text(&log, "is gone; SIGUSR1 not passed on", LIMIT);
    assert!(text.starts_with("[WARN "), "{text}");
    assert!(
        tini_rs
            .wait(std::time::Duration::from_millis(100))
            .is_none()
    );
    for pid in pids {
        // SAFETY: kill(2) to the two python processes this test started
        // (they print their pids before anything else can take them).
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    assert_eq!(tini_rs.exit_code(LIMIT), 128 + libc::SIGKILL);
}
