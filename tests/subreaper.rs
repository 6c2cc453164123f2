//! tini-rs as a child subreaper (`-s`, `TINI_SUBREAPER`), not PID 1: orphans
//! below it are re-parented to it and reaped. Without either, it warns that
//! zombie reaping won't work, except at verbosity 0; started into a PID
//! namespace that another process is PID 1 of (nsenter here, as a pod's
//! member container or `--pid container:NAME`), it warns instead that that
//! PID 1 reaps the orphans and that `-s` makes them tini-rs's.

mod common;

use common::*;
use std::process::{Command, Stdio};

/// tini-rs started by a parent that set the child-subreaper bit on itself
/// and then exec'd tini-rs (what tini's own `subreaper-proxy.py` does): the
/// bit survives exec, so tini-rs is a subreaper without being asked.
fn with_inherited_subreaper_bit(tini_args: &[&str]) -> Command {
    let mut cmd = Command::new(python3());
    cmd.args([
        "-c",
        "import ctypes, os, sys\n\
         PR_SET_CHILD_SUBREAPER = 36\n\
         if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:\n\
         \x20   sys.exit('prctl failed')\n\
         os.execv(sys.argv[1], sys.argv[1:])",
        tini_rs(),
    ])
    .args(tini_args);
    cmd
}

/// Starts tini-rs (`cmd`, without a program) over a main child that orphans a
/// `sleep` (an inner shell backgrounds it, writes its pid and exits) and then
/// becomes a long `sleep` itself. Returns tini-rs and the orphan's pid.
fn start_with_orphan(dir: &TempDir, mut cmd: Command) -> (Running, i32) {
    let pid_file = dir.file("orphan.pid");
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
fn orphan_is_adopted_and_reaped(cmd: Command) {
    let dir = TempDir::new("subreaper");
    let (mut tini_rs, orphan) = start_with_orphan(&dir, cmd);

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
    orphan_is_adopted_and_reaped(tini(&["-s"]));
}

#[test]
fn tini_subreaper_variable_adopts_and_reaps_an_orphan_even_when_empty() {
    let mut cmd = tini(&[]);
    cmd.env("TINI_SUBREAPER", "");
    orphan_is_adopted_and_reaped(cmd);
}

#[test]
fn an_inherited_subreaper_bit_adopts_and_reaps_an_orphan() {
    let mut cmd = with_inherited_subreaper_bit(&[]);
    cmd.env_remove("TINI_SUBREAPER");
    orphan_is_adopted_and_reaped(cmd);
}

/// The control for the two tests above: without -s the orphan goes to some
/// other ancestor, so those tests observe something tini-rs did.
#[test]
fn without_subreaper_the_orphan_is_not_adopted() {
    let dir = TempDir::new("no-subreaper");
    let mut cmd = tini(&[]);
    cmd.env_remove("TINI_SUBREAPER");
    let (mut tini_rs, orphan) = start_with_orphan(&dir, cmd);
    // The main shell waits for the inner one before it becomes `sleep`, so
    // by then the orphan has its final parent.
    let main_child_is_sleep = wait_until(LIMIT, || {
        let children = children_of(tini_rs.pid());
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
    run_true_with(tini(&[]), configure)
}

fn run_true_with(mut cmd: Command, configure: impl FnOnce(&mut Command)) -> (i32, String) {
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

/// tini asks the kernel whether it already is a subreaper
/// (PR_GET_CHILD_SUBREAPER) before it warns; tini's own test suite starts it
/// that way and fails on the warning.
#[test]
fn an_inherited_subreaper_bit_means_no_warning() {
    let (code, stderr) = run_true_with(with_inherited_subreaper_bit(&[]), |_| {});
    assert_eq!((code, stderr.as_str()), (0, ""));
    let (code, stderr) = run_true_with(with_inherited_subreaper_bit(&["-vvv"]), |_| {});
    assert_eq!(code, 0);
    assert!(
        stderr.contains("subreaper bit inherited"),
        "debug level must say where the bit came from:\n{stderr}"
    );
}

/// What the ordinary warning says, and the shared-namespace one.
const ORDINARY_WARNING: &str = "zombie reaping won't work";
const SHARED_WARNING: &str = "it shares a PID namespace whose PID 1 is another process";

/// The ordinary case keeps tini's wording, never the shared-namespace one
/// (tini-rs's parent, this test, is in its PID namespace).
#[test]
fn not_pid1_with_its_parent_beside_it_keeps_the_ordinary_warning() {
    let (code, stderr) = run_true(|_| {});
    assert_eq!(code, 0);
    assert!(stderr.contains(ORDINARY_WARNING), "{stderr}");
    assert!(!stderr.contains(SHARED_WARNING), "{stderr}");
}

/// `tini-rs -P` as PID 1 of a fresh PID namespace, as a pod's sandbox.
/// Returns it (dropping it ends the namespace and everything in it) and
/// its pid seen from here; `None` when the test cannot run.
fn sandbox(test: &str, dir: &TempDir) -> Option<(Running, i32)> {
    if !require_root(test) {
        return None;
    }
    let log = dir.file("sandbox.log");
    let mut cmd = as_pid1(&["-P", "-v"]);
    cmd.stderr(std::fs::File::create(&log).expect("create the log"));
    let sandbox = Running::start(cmd);
    let pid1 = pid1_of(&sandbox);
    wait_for_text(&log, "Pause mode: reaping orphans", LIMIT);
    Some((sandbox, pid1))
}

/// tini-rs `args` started into the PID namespace of `pid1` by nsenter,
/// which forks it there and stays outside, as runc does for a member
/// container: tini-rs is not PID 1 and its parent has no pid inside.
fn entered(pid1: i32, args: &[&str]) -> Command {
    let mut cmd = Command::new("nsenter");
    cmd.args(["-t", &pid1.to_string(), "-p", "--", tini_rs()])
        .args(args)
        .stdin(Stdio::null())
        .env_remove("TINI_SUBREAPER")
        .env_remove("TINI_VERBOSITY")
        .env_remove("RUST_LOG");
    cmd
}

/// Entered into a namespace whose PID 1 reaps, tini-rs says so in one
/// warning that names -s and TINI_SUBREAPER, not that reaping won't work;
/// at verbosity 0, and with -s, it says nothing.
#[test]
fn in_a_shared_pid_namespace_the_warning_says_its_pid1_reaps_and_names_dash_s() {
    let test = "in_a_shared_pid_namespace_the_warning_says_its_pid1_reaps_and_names_dash_s";
    let dir = TempDir::new("shared-warning");
    let Some((_sandbox, pid1)) = sandbox(test, &dir) else {
        return;
    };
    let (code, _, stderr) = run(entered(pid1, &["--", "true"]), LIMIT);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one warning expected, got:\n{stderr}");
    let warning = lines[0];
    assert!(warning.starts_with("[WARN "), "{warning}");
    assert!(warning.contains(SHARED_WARNING), "{warning}");
    assert!(warning.contains("which reaps them"), "{warning}");
    assert!(!warning.contains(ORDINARY_WARNING), "{warning}");
    assert!(warning.contains("pass -s"), "must name -s: {warning}");
    assert!(warning.contains("TINI_SUBREAPER"), "{warning}");
    assert!(warning.contains("--grace-period"), "{warning}");

    let mut quiet = entered(pid1, &["--", "true"]);
    quiet.env("TINI_VERBOSITY", "0");
    let (code, _, stderr) = run(quiet, LIMIT);
    assert_eq!((code, stderr.as_str()), (0, ""));
    let (code, _, stderr) = run(entered(pid1, &["-s", "--", "true"]), LIMIT);
    assert_eq!((code, stderr.as_str()), (0, ""));
}

/// The child of `parent` whose command line is exactly `argv`, once there.
fn child_running(parent: i32, argv: &str) -> Option<i32> {
    let want = format!("{}\0", argv.replace(' ', "\0"));
    let mut found = None;
    wait_until(LIMIT, || {
        found = children_of(parent).into_iter().find(|&c| {
            std::fs::read(format!("/proc/{c}/cmdline"))
                .is_ok_and(|cmdline| cmdline == want.as_bytes())
        });
        found.is_some()
    });
    found
}

/// What the warning says, shown: with tini-rs entered into the namespace
/// and running, an orphan of its main child goes to the namespace's PID 1,
/// which reaps it; with -s it goes to tini-rs instead (and so is tini-rs's
/// to stop with --grace-period).
#[test]
fn in_a_shared_pid_namespace_orphans_go_to_its_pid1_unless_dash_s() {
    let test = "in_a_shared_pid_namespace_orphans_go_to_its_pid1_unless_dash_s";
    let dir = TempDir::new("shared-orphans");
    let Some((_sandbox, pid1)) = sandbox(test, &dir) else {
        return;
    };
    // The main child leaves `sleep 61` behind and becomes `sleep 60`.
    let main = ["--", "sh", "-c", "sh -c 'sleep 61 &'; exec sleep 60"];
    for subreaper in [false, true] {
        let mut cmd = entered(pid1, if subreaper { &["-s"] } else { &[] });
        cmd.args(main).stderr(Stdio::null());
        let nsenter = Running::start(cmd);
        let tini = child_named(nsenter.pid(), "tini-rs");
        let adopter = if subreaper { tini } else { pid1 };
        let orphan = child_running(adopter, "sleep 61");
        if let Some(pid) = orphan {
            // SAFETY: kill(2) to the orphan this test's tini-rs left.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let who = if subreaper {
            "tini-rs -s"
        } else {
            "the namespace's PID 1"
        };
        let orphan = orphan.unwrap_or_else(|| panic!("{who} never adopted `sleep 61`"));
        assert_reaped(orphan, LIMIT);
        // Ends tini-rs and its main child.
        drop(nsenter);
    }
}
