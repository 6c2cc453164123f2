//! dumb-init mode, as a user of dumb-init meets it: chosen by the name
//! `dumb-init`, by `--dumb-init` or by `TINI_MODE=dumb-init`; the inputs of
//! the four tests of dumb-init's own suite that compare its prose (and that
//! tests/dumb_init_suite.sh leaves out), checked for the behaviour: exit
//! status and one clear line; the exec failure; and what tini-rs adds for
//! dumb-init's users (the grace period). The rest of dumb-init's behaviour
//! is judged by dumb-init's own suite (tests/dumb_init_suite.sh).

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

/// A directory holding a link named `dumb-init` to the binary under test.
fn named_dumb_init() -> (TempDir, std::path::PathBuf) {
    let dir = TempDir::new("dumb-init-name");
    let link = dir.file("dumb-init");
    std::os::unix::fs::symlink(tini_rs(), &link).expect("symlink");
    (dir, link)
}

fn dumb_init(args: &[&str]) -> (i32, String, String) {
    let (_dir, link) = named_dumb_init();
    let mut cmd = Command::new(&link);
    cmd.args(args)
        .env_remove("DUMB_INIT_SETSID")
        .env_remove("DUMB_INIT_DEBUG")
        .env_remove("TINI_MODE");
    run(cmd, LIMIT)
}

#[test]
fn chosen_by_name_option_or_variable_and_not_otherwise() {
    // dumb-init's unknown-option line only appears in dumb-init mode.
    let (code, _, err) = dumb_init(&["--yolo", "true"]);
    assert_eq!(code, 1);
    // getopt's shape, after argv[0] as given.
    assert!(
        err.ends_with("/dumb-init: unrecognized option '--yolo'\n"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
    let (code, _, err) = run(tini(&["--dumb-init", "--yolo", "true"]), LIMIT);
    assert_eq!(code, 1);
    assert!(err.ends_with(": unrecognized option '--yolo'\n"), "{err}");
    let mut cmd = tini(&["--yolo", "true"]);
    cmd.env("TINI_MODE", "dumb-init");
    let (code, _, err) = run(cmd, LIMIT);
    assert_eq!(code, 1);
    assert!(err.ends_with(": unrecognized option '--yolo'\n"), "{err}");
    // Control: the same arguments in tini mode get tini-rs's own message.
    let (code, _, err) = run(tini(&["--yolo", "true"]), LIMIT);
    assert_eq!(code, 1);
    assert!(err.starts_with("tini-rs: unknown option '--yolo'"), "{err}");
    let mut cmd = tini(&["true"]);
    cmd.env("TINI_MODE", "bogus");
    let (code, _, err) = run(cmd, LIMIT);
    assert_eq!(code, 1);
    assert!(err.contains("TINI_MODE='bogus'"), "{err}");
}

/// dumb-init's `test_help_message` and `test_version_message` inputs: exit
/// 0, tini-rs's own words on stderr (where dumb-init prints them), in every
/// combination of the two variables.
#[test]
fn help_and_version() {
    for flag in ["-h", "--help", "-V", "--version"] {
        for (debug, setsid) in [("1", "1"), ("1", "0"), ("0", "1"), ("0", "0")] {
            let (_dir, link) = named_dumb_init();
            let mut cmd = Command::new(&link);
            cmd.arg(flag)
                .env("DUMB_INIT_DEBUG", debug)
                .env("DUMB_INIT_SETSID", setsid);
            let (code, out, err) = run(cmd, LIMIT);
            assert_eq!(code, 0, "{flag}: {err}");
            assert!(out.is_empty(), "{flag}: stdout {out:?}");
            assert!(err.contains("tini-rs"), "{flag}: {err}");
            assert!(
                !err.contains("dumb-init v"),
                "never claims to be dumb-init: {err}"
            );
            if flag.contains('V') || flag.contains("version") {
                assert_eq!(err.lines().count(), 1, "{err}");
            } else {
                assert!(err.contains("--single-child") && err.contains("--rewrite"));
            }
        }
    }
}

/// dumb-init's `test_no_arguments_prints_usage` input: non-zero (1), one
/// line that says what is wrong and how to get help.
#[test]
fn no_arguments() {
    for args in [&[][..], &["-v"], &["-c", "--"]] {
        let (code, out, err) = dumb_init(args);
        assert_eq!(code, 1, "{args:?}");
        assert!(out.is_empty());
        assert_eq!(err.lines().count(), 1, "{err:?}");
        assert!(
            err.contains("no program to run") && err.contains("--help"),
            "{err}"
        );
    }
}

/// dumb-init's `test_rewrite_errors` inputs (each followed by `echo oh, hi`,
/// which must never run): exit 1, one line naming -r and the bad value.
#[test]
fn rewrite_errors() {
    for extra in [
        &["-r"][..],
        &["-r", ""],
        &["-r", "herp"],
        &["-r", "herp:derp"],
        &["-r", "15"],
        &["-r", "15::12"],
        &["-r", "15:derp"],
        &["-r", "15:12", "-r"],
        &["-r", "15:12", "-r", "0"],
        &["-r", "15:12", "-r", "1:32"],
    ] {
        let mut args = extra.to_vec();
        args.extend(["echo", "oh,", "hi"]);
        let (code, out, err) = dumb_init(&args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: the program ran: {out:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err:?}");
        assert!(err.contains("-r/--rewrite"), "{args:?}: {err}");
    }
    // Control: a good rule runs the program.
    let (code, out, _) = dumb_init(&["-r", "15:12", "echo", "oh,", "hi"]);
    assert_eq!((code, out.as_str()), (0, "oh, hi\n"));
}

/// A program that cannot start: dumb-init's line and exit 2, in both
/// setsid modes (the fork path and posix_spawn).
#[test]
fn exec_failure_is_exit_2() {
    for args in [&["/doesnotexist"][..], &["-c", "/doesnotexist"]] {
        let (code, _, err) = dumb_init(args);
        assert_eq!(code, 2, "{args:?}");
        assert_eq!(
            err,
            "[dumb-init] /doesnotexist: No such file or directory\n"
        );
    }
}

/// What tini-rs adds for dumb-init's users: with `--grace-period`, what the
/// main child leaves behind gets SIGTERM and time to finish when it exits.
/// As PID 1 of a namespace; the control without the option exits at once,
/// and the namespace's end kills the leftover before it can finish.
#[test]
fn grace_period_lets_leftovers_finish() {
    if !require_root("grace_period_lets_leftovers_finish") {
        return;
    }
    let with = leftover_finished(&["--grace-period", "10"]);
    let without = leftover_finished(&[]);
    assert!(
        with,
        "with --grace-period the leftover must get SIGTERM and finish"
    );
    assert!(
        !without,
        "control: without it the leftover is killed unfinished"
    );
}

/// Runs `dumb-init -c OPTIONS sh` as PID 1, where sh starts a leftover that
/// writes a file on SIGTERM, and exits; tells whether the file was written.
fn leftover_finished(options: &[&str]) -> bool {
    let dir = TempDir::new("dumb-init-grace");
    let done = dir.file("done");
    let ready = dir.file("ready");
    let script = format!(
        "(trap 'echo finished > {done}; exit 0' TERM; touch {ready}; \
         while :; do sleep 0.05; done) & \
         while [ ! -e {ready} ]; do sleep 0.01; done; exit 0",
        done = done.display(),
        ready = ready.display()
    );
    let mut args = vec!["--dumb-init", "-c"];
    args.extend_from_slice(options);
    args.extend(["sh", "-c", &script]);
    let (code, _, err) = run(as_pid1(&args), LIMIT);
    assert_eq!(code, 0, "{err}");
    std::fs::read_to_string(&done).is_ok_and(|t| t == "finished\n")
}

/// dumb-init mode forwards SIGTTIN (which tini mode never does) and then
/// stops itself, with helper threads and without them: with `clone3`
/// refused (a seccomp profile; glibc's threads need it) tini-rs runs one
/// loop, which must take the same signals off the queue as the forwarder.
#[test]
fn job_control_signal_forwarded_then_stops_itself_with_or_without_threads() {
    for refused in [None, Some("clone3")] {
        let dir = TempDir::new("dumb-init-ttin");
        let got = dir.file("got");
        let ready = dir.file("ready");
        let script = format!(
            "trap 'echo TTIN > {got}' TTIN; echo > {ready}; while :; do sleep 0.05; done",
            got = got.display(),
            ready = ready.display()
        );
        let mut program: Vec<std::ffi::OsString> = vec![tini_rs().into()];
        program.extend(["--dumb-init", "-c", "sh", "-c", &script].map(Into::into));
        if let Some(names) = refused {
            program = common::seccomp::with_failing_syscalls(libc::EPERM, names, &program);
        }
        let mut cmd = Command::new(&program[0]);
        cmd.args(&program[1..]);
        let running = Running::start_captured(cmd);
        wait_for_text(&ready, "\n", LIMIT);
        running.signal(libc::SIGTTIN);
        wait_for_text(&got, "TTIN", LIMIT);
        let stopped = wait_until(LIMIT, || {
            status_field(running.pid(), "State").is_some_and(|s| s.starts_with('T'))
        });
        assert!(
            stopped,
            "{refused:?}: tini-rs must stop itself after SIGTTIN"
        );
        running.signal(libc::SIGCONT);
        // `running` is killed with its tree on drop.
    }
}
