//! tini-rs exits with its main child's code; -e remaps codes to 0; exec
//! failures give 127 (not found), 126 (not executable, a directory) or 1,
//! each with one error line naming the program; usage errors give 1 and a
//! first line naming the bad value; -h, --version and -l print and exit 0.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

/// As a subreaper (so no warning joins stderr).
fn as_subreaper(cmd: &mut Command) {
    cmd.env("TINI_SUBREAPER", "");
}

#[test]
fn every_exit_code_0_to_255_propagates() {
    // Started together and collected after: 256 short runs in parallel.
    let mut all: Vec<(i32, Running)> = (0..=255)
        .map(|code| {
            let mut cmd = tini(&["-s", "--", "sh", "-c", "exit $0"]);
            cmd.arg(code.to_string());
            (code, Running::start_captured(cmd))
        })
        .collect();
    for (code, tini_rs) in &mut all {
        assert_eq!(tini_rs.exit_code(Duration::from_secs(60)), *code);
        assert_eq!(tini_rs.output(), (String::new(), String::new()), "{code}");
    }
}

#[test]
fn dash_e_reports_the_named_codes_as_0_and_only_those() {
    let exit = |code: &str| format!("exit {code}");
    assert_eq!(
        run_tini(&["-e", "3", "--", "sh", "-c", &exit("3")], as_subreaper).0,
        0
    );
    assert_eq!(
        run_tini(&["-e", "3", "--", "sh", "-c", &exit("4")], as_subreaper).0,
        4
    );
    // Repeatable, and in getopt's attached form.
    for code in ["2", "7", "255"] {
        let args = ["-e", "2", "-e7", "-e", "255", "--", "sh", "-c", &exit(code)];
        assert_eq!(run_tini(&args, as_subreaper).0, 0, "exit {code}");
    }
    assert_eq!(
        run_tini(
            &["-e", "2", "-e7", "--", "sh", "-c", &exit("0")],
            as_subreaper
        )
        .0,
        0
    );
    assert_eq!(
        run_tini(
            &["-e", "2", "-e7", "--", "sh", "-c", &exit("1")],
            as_subreaper
        )
        .0,
        1
    );
}

#[test]
fn dash_e_remaps_death_by_signal_too() {
    let term = "kill -TERM $$";
    assert_eq!(run_tini(&["--", "sh", "-c", term], as_subreaper).0, 143);
    assert_eq!(
        run_tini(&["-e", "143", "--", "sh", "-c", term], as_subreaper).0,
        0
    );
    assert_eq!(
        run_tini(
            &["-e", "143", "--", "sh", "-c", "kill -KILL $$"],
            as_subreaper
        )
        .0,
        137
    );
}

/// The one stderr line of an exec failure: it names the program.
fn one_error_line(stderr: &str, program: &str) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected:\n{stderr}");
    assert!(lines[0].contains(program), "must name {program}: {stderr}");
}

#[test]
fn program_not_found_is_127() {
    for program in ["tini-rs-test-no-such-program", "/nonexistent/dir/program"] {
        let (code, out, err) = run_tini(&[program, "arg"], as_subreaper);
        assert_eq!(code, 127, "{program}");
        assert_eq!(out, "");
        one_error_line(&err, program);
    }
}

#[test]
fn program_not_executable_or_a_directory_is_126() {
    let dir = TempDir::new("exec-126");
    let file = dir.file("not-executable");
    std::fs::write(&file, "#!/bin/sh\necho should not run\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    for program in [file.to_str().unwrap(), dir.0.to_str().unwrap()] {
        let (code, out, err) = run_tini(&[program], as_subreaper);
        assert_eq!(code, 126, "{program}");
        assert_eq!(out, "");
        one_error_line(&err, program);
    }
}

/// The reason given for 126 is about the file the PATH search found, not
/// about a same-named entry of the current directory: a directory on PATH
/// is "a directory", while a plain non-executable file on PATH is not,
/// even when the current directory holds a directory of that name.
#[test]
fn a_directory_found_on_path_is_named_as_such_and_only_then() {
    let dir = TempDir::new("exec-126-path");
    let on_path = dir.file("bin");
    let elsewhere = dir.file("cwd");
    std::fs::create_dir_all(on_path.join("tini-rs-test-dir-prog")).unwrap();
    std::fs::write(on_path.join("tini-rs-test-file-prog"), "#!/bin/sh\n").unwrap();
    std::fs::create_dir_all(elsewhere.join("tini-rs-test-file-prog")).unwrap();
    let path = format!("{}:/usr/bin:/bin", on_path.display());
    for (program, is_dir) in [
        ("tini-rs-test-dir-prog", true),
        ("tini-rs-test-file-prog", false),
    ] {
        let (code, _, err) = run_tini(&[program], |cmd| {
            as_subreaper(cmd);
            cmd.env("PATH", &path).current_dir(&elsewhere);
        });
        assert_eq!(code, 126, "{program}: {err}");
        one_error_line(&err, program);
        assert_eq!(
            err.contains("it is a directory"),
            is_dir,
            "{program}: {err}"
        );
    }
}

/// A symlink loop fails exec with ELOOP: neither "not found" nor "not
/// executable", so the catch-all 1.
#[test]
fn any_other_exec_failure_is_1() {
    let dir = TempDir::new("exec-1");
    let a = dir.file("a");
    std::os::unix::fs::symlink(dir.file("b"), &a).unwrap();
    std::os::unix::fs::symlink(&a, dir.file("b")).unwrap();
    let program = a.to_str().unwrap();
    let (code, out, err) = run_tini(&[program], as_subreaper);
    assert_eq!(code, 1);
    assert_eq!(out, "");
    one_error_line(&err, program);
}

#[test]
fn usage_errors_exit_1_with_a_first_line_naming_the_bad_value() {
    for (args, bad) in [
        (&["-x", "true"][..], "-x"),
        (&["--no-such-option", "true"][..], "--no-such-option"),
        (&["-e", "256", "true"][..], "256"),
        (&["-e", "abc", "true"][..], "abc"),
        (&["-p", "BOGUS", "true"][..], "BOGUS"),
        (&[][..], "no program"),
        (&["-s", "-w"][..], "no program"),
    ] {
        let (code, out, err) = run(tini(args), LIMIT);
        assert_eq!(code, 1, "{args:?}");
        assert_eq!(out, "", "{args:?}: usage errors go to stderr");
        let first = err.lines().next().unwrap_or_default();
        assert!(first.contains(bad), "{args:?}: {first:?} must name {bad:?}");
        // Not after a bad -e or -p value: one line, as in tini.
        let value_of_e_or_p = args.first().is_some_and(|a| *a == "-e" || *a == "-p");
        assert_eq!(
            err.contains("Usage:"),
            !value_of_e_or_p,
            "{args:?}: the usage follows, or not: {err}"
        );
    }
}

/// A usage error must stop tini-rs before it runs anything.
#[test]
fn a_usage_error_runs_nothing() {
    let dir = TempDir::new("usage-runs-nothing");
    let marker = dir.file("ran");
    let touch = format!("touch {}", marker.display());
    let (code, _, _) = run(tini(&["-e", "256", "--", "sh", "-c", &touch]), LIMIT);
    assert_eq!(code, 1);
    assert!(!marker.exists());
}

#[test]
fn version_help_and_license_print_to_stdout_and_exit_0() {
    let (code, out, err) = run(tini(&["--version"]), LIMIT);
    assert_eq!((code, err.as_str()), (0, ""));
    let version = out
        .strip_prefix("tini-rs version ")
        .unwrap_or_else(|| panic!("{out:?}"));
    let number = version.split_whitespace().next().unwrap_or_default();
    assert_eq!(number.split('.').count(), 3, "X.Y.Z: {out:?}");
    assert!(
        number.split('.').all(|p| p.parse::<u32>().is_ok()),
        "{out:?}"
    );
    assert_eq!(out.lines().count(), 1);

    let (code, out, err) = run(tini(&["-h"]), LIMIT);
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(out.contains("Usage:") && out.contains("-s"), "{out}");

    let (code, out, err) = run(tini(&["-l"]), LIMIT);
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(out.contains("MIT License"), "{out}");
}

/// tini's codes exactly: ENOENT 127, EACCES 126, everything else 1. A path
/// through a regular file fails with ENOTDIR: 1, and the message says why.
#[test]
fn a_path_through_a_file_is_1_naming_the_cause() {
    let (code, out, err) = run_tini(&["/etc/hostname/x"], as_subreaper);
    assert_eq!((code, out.as_str()), (1, ""));
    one_error_line(&err, "/etc/hostname/x");
    assert!(
        err.contains("Not a directory"),
        "must name the cause: {err}"
    );
}

/// An executable file without a `#!` line: execvp (tini) runs it with
/// /bin/sh, and so must tini-rs, by path and through PATH, with arguments.
#[test]
fn an_executable_script_without_hash_bang_runs_under_sh() {
    let dir = TempDir::new("no-hashbang");
    let script = dir.file("exits-with");
    std::fs::write(&script, "exit \"$1\"\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (code, out, err) = run_tini(&[script.to_str().unwrap(), "3"], as_subreaper);
    assert_eq!((code, out.as_str(), err.as_str()), (3, "", ""));

    let path = format!(
        "{}:{}",
        dir.0.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (code, out, err) = run_tini(&["--", "exits-with", "7"], |cmd| {
        as_subreaper(cmd);
        cmd.env("PATH", path);
    });
    assert_eq!((code, out.as_str(), err.as_str()), (7, "", ""));
}

/// A pty's master side as stdin: tcgetpgrp succeeds on it, but it is not
/// the controlling terminal, so giving it to the child fails (ENOTTY). tini
/// goes on without the terminal; the program must run, not fail as "cannot
/// run".
#[test]
fn a_terminal_that_is_not_ours_is_not_taken_and_the_program_runs() {
    // SAFETY: posix_openpt returns a new descriptor or -1.
    let master = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY) };
    assert!(master >= 0, "posix_openpt failed");
    // SAFETY: grantpt/unlockpt on the master we just opened.
    unsafe {
        libc::grantpt(master);
        libc::unlockpt(master);
    }
    // SAFETY: we own `master`; Stdio takes it over and closes it.
    let stdin = unsafe { <std::process::Stdio as std::os::fd::FromRawFd>::from_raw_fd(master) };
    let (code, out, err) = run_tini(&["--", "sh", "-c", "exit 5"], |cmd| {
        as_subreaper(cmd);
        cmd.stdin(stdin);
    });
    assert_eq!((code, out.as_str(), err.as_str()), (5, "", ""));
}

/// `-e` turns the main child's own exit code into 0; a program that could
/// not be started is tini-rs's failure to report, never success.
#[test]
fn dash_e_does_not_hide_a_program_that_could_not_start() {
    let (code, _, err) = run_tini(&["-e", "127", "tini-rs-test-no-such-program"], as_subreaper);
    assert_eq!(code, 127);
    one_error_line(&err, "tini-rs-test-no-such-program");
}
