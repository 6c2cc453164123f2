//! Odd standard descriptors and arguments: stdin, stdout and stderr all
//! closed, or stdout and stderr on /dev/full, with `-vvv` logging (nothing
//! lost but the log, no crash); an argument list and an environment close
//! to ARG_MAX; PATH unset or empty. Each beside Debian's tini-static as the
//! control. (A stderr pipe without reader, 100,000 arguments and non-UTF-8
//! arguments are tested in tests/faults.rs and tests/hostile_input.rs.)

mod common;

use common::reachable::tini_rs_and_control;
use common::*;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

fn init_command(init: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(init);
    cmd.args(args)
        .env_remove("TINI_SUBREAPER")
        .env_remove("TINI_VERBOSITY")
        .env_remove("RUST_LOG");
    cmd
}

/// `-vvv -s -- sleep 1000` with the standard descriptors as `setup` leaves
/// them: the child runs, SIGTERM reaches it (143), nothing crashes.
fn forwards_with(init: &str, what: &str, setup: impl FnOnce(&mut Command)) {
    let mut cmd = init_command(init, &["-vvv", "-s", "--", "sleep", "1000"]);
    setup(&mut cmd);
    let mut running = Running::start(cmd);
    child_named(running.pid(), "sleep");
    running.signal(libc::SIGTERM);
    assert_eq!(
        running.exit_code(LIMIT),
        128 + libc::SIGTERM,
        "{init}: {what}"
    );
}

/// tini-rs only: tini-static exits 1 here without running the child, so
/// it is no control (measured: the same command with 0, 1 and 2 open runs).
#[test]
fn stdin_stdout_and_stderr_closed() {
    {
        let init = tini_rs();
        forwards_with(init, "0, 1 and 2 closed", |cmd| {
            // SAFETY: close(2) is async-signal-safe; the closure allocates
            // nothing.
            unsafe {
                cmd.pre_exec(|| {
                    for fd in 0..3 {
                        libc::close(fd);
                    }
                    Ok(())
                });
            }
        });
    }
}

#[test]
fn stdout_and_stderr_on_dev_full() {
    for init in tini_rs_and_control("stdout_and_stderr_on_dev_full") {
        forwards_with(init, "1 and 2 on /dev/full", |cmd| {
            let full = || {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open("/dev/full")
                    .expect("open /dev/full")
            };
            cmd.stdin(Stdio::null())
                .stdout(Stdio::from(full()))
                .stderr(Stdio::from(full()));
        });
    }
}

/// The largest argument list and environment the kernel takes together
/// (ARG_MAX, less a margin for the pointers and tini-rs's own words), in
/// words of 100 KB (the kernel's limit is 128 KiB a word): the child gets
/// every argument byte for byte and the environment.
#[test]
fn argv_and_environment_near_arg_max() {
    // SAFETY: sysconf has no preconditions.
    let arg_max = unsafe { libc::sysconf(libc::_SC_ARG_MAX) } as usize;
    let inherited: usize = std::env::vars_os()
        .map(|(k, v)| k.len() + v.len() + 2 + 8)
        .sum();
    let budget = arg_max - inherited - 64 * 1024;
    const WORD: usize = 100 * 1000;
    let words = budget / (WORD + 9);
    // Half the budget for arguments, half for the environment.
    let (n_args, n_env) = (words / 2, words - words / 2);
    let dir = TempDir::new("arg-max");
    let out = dir.file("argv");
    let sent: Vec<OsString> = (0..n_args)
        .map(|i| OsString::from(format!("{i:02}{}", "a".repeat(WORD - 2))))
        .collect();
    for init in tini_rs_and_control("argv_and_environment_near_arg_max") {
        let _ = std::fs::remove_file(&out);
        let mut cmd = init_command(init, &["-s", "--"]);
        cmd.args(agent::agent_argv("echo-args"))
            .args(&sent)
            .env("TINI_RS_AGENT_OUT", &out);
        for i in 0..n_env {
            cmd.env(format!("TINI_RS_BIG{i}"), "e".repeat(WORD));
        }
        let (code, _, err) = run(cmd, LIMIT);
        assert_eq!(code, 0, "{init}: {err}");
        let bytes = std::fs::read(&out).expect("the program wrote its argv");
        let got: Vec<&[u8]> = bytes.split(|&b| b == 0).collect();
        assert_eq!(got.len(), n_args + 1, "{init}: argument count");
        for (g, s) in got.iter().zip(&sent) {
            assert_eq!(*g, s.as_bytes(), "{init}: an argument changed");
        }
    }
    eprintln!("ARG_MAX {arg_max}: {n_args} arguments and {n_env} variables of {WORD} bytes passed");
}

/// PATH unset: the C library's default path finds `sh`. PATH empty: only
/// the current directory is searched, where there is no `sh`: 127, as tini.
#[test]
fn path_unset_or_empty() {
    let dir = TempDir::new("no-path");
    for init in tini_rs_and_control("path_unset_or_empty") {
        let mut unset = init_command(init, &["-s", "--", "sh", "-c", "exit 3"]);
        unset.env_remove("PATH").current_dir(&dir.0);
        let (code, _, err) = run(unset, LIMIT);
        assert_eq!(code, 3, "{init}, PATH unset: {err}");
        let mut empty = init_command(init, &["-s", "--", "sh", "-c", "exit 3"]);
        empty.env("PATH", "").current_dir(&dir.0);
        let (code, _, err) = run(empty, LIMIT);
        assert_eq!(code, 127, "{init}, PATH empty: {err}");
    }
}
