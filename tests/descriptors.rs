//! What tini-rs lets go of once the main child runs: every inherited
//! descriptor above stderr and its working directory. PID 1 outlives every
//! process of a container, so anything it keeps stays held: a pipe whose
//! other end never sees end-of-file, a listening socket that stays open
//! after the application closed it, a mount the engine cannot unmount. The
//! main child still gets all of them, exactly as tini-rs was given them.

mod common;

use common::*;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// The descriptor number the test hands tini-rs the pipe's write end on.
const INHERITED_FD: i32 = 5;

fn fd_targets(pid: i32) -> Vec<(i32, String)> {
    let mut fds: Vec<(i32, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let fd = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            Some((fd, target.to_string_lossy().into_owned()))
        })
        .collect();
    fds.sort();
    fds
}

#[test]
fn inherited_descriptors_and_directory_go_to_the_child_not_tini_rs() {
    inherited_descriptors_go_to_the_child(&[]);
}

/// Kernels before 5.9 (or a seccomp profile) have no close_range: the
/// descriptors listed in /proc/self/fd are closed one by one instead.
#[test]
fn without_close_range_the_descriptors_are_closed_one_by_one() {
    inherited_descriptors_go_to_the_child(&["close_range"]);
}

/// Runs the check with the system calls `failing` answering ENOSYS.
fn inherited_descriptors_go_to_the_child(failing: &[&str]) {
    let dir = TempDir::new("hygiene");
    let report = dir.file("child-cwd");
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two new descriptors into `fds`.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let (read_end, write_end) = (fds[0], fds[1]);

    // The child reports its directory and descriptors, closes its copy of
    // the pipe, and stays.
    let mut argv: Vec<OsString> = vec![
        tini_rs().into(),
        "-s".into(),
        "--".into(),
        "sh".into(),
        "-c".into(),
        r#"ls /proc/$$/fd > "$0.fds"; readlink /proc/$$/cwd > "$0.tmp"; mv "$0.tmp" "$0"; exec 5>&-; exec sleep 60"#.into(),
        report.clone().into_os_string(),
    ];
    if !failing.is_empty() {
        argv = seccomp::with_failing_syscalls(libc::ENOSYS, &failing.join(","), &argv);
    }
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).current_dir(&dir.0);
    // SAFETY: dup2 and fcntl are async-signal-safe. dup2 onto itself (the
    // pipe may already be descriptor 5) keeps CLOEXEC, so it is cleared.
    unsafe {
        cmd.pre_exec(move || {
            let ok = if write_end == INHERITED_FD {
                libc::fcntl(INHERITED_FD, libc::F_SETFD, 0) == 0
            } else {
                libc::dup2(write_end, INHERITED_FD) >= 0
            };
            if ok {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let mut tini_rs = Running::start(cmd);
    // SAFETY: our copy of the write end; the child has its own now.
    unsafe { libc::close(write_end) };

    let child_cwd = wait_for_text(&report, "\n", LIMIT);
    assert_eq!(child_cwd.trim(), dir.0.to_string_lossy());
    let child_fds = std::fs::read_to_string(dir.file("child-cwd.fds")).unwrap_or_default();
    assert!(
        child_fds
            .lines()
            .any(|l| l.trim() == INHERITED_FD.to_string()),
        "the child must get descriptor {INHERITED_FD}: {child_fds}"
    );

    // With the child's copy closed, nobody holds the write end: end-of-file.
    let mut poll = libc::pollfd {
        fd: read_end,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, bounded wait.
    let ready = unsafe { libc::poll(&mut poll, 1, LIMIT.as_millis() as i32) };
    let mut byte = [0u8; 1];
    // SAFETY: reading one byte into our buffer, only if poll said ready.
    let eof = ready == 1 && unsafe { libc::read(read_end, byte.as_mut_ptr().cast(), 1) } == 0;
    let held = fd_targets(tini_rs.pid());
    let cwd = std::fs::read_link(format!("/proc/{}/cwd", tini_rs.pid()));
    // SAFETY: closing our read end.
    unsafe { libc::close(read_end) };
    assert!(
        eof,
        "the pipe never saw end-of-file; tini-rs holds {held:?}"
    );
    let above_stderr: Vec<&(i32, String)> = held.iter().filter(|(fd, _)| *fd > 2).collect();
    assert!(
        above_stderr.iter().all(|(_, t)| t.contains("pidfd")),
        "tini-rs may keep only its own pidfd above stderr: {held:?}"
    );
    assert_eq!(cwd.ok(), Some(std::path::PathBuf::from("/")));
    assert_running_then_terminate(&mut tini_rs, LIMIT);
}

/// tini-rs moves to `/` before it starts the main child, never after: a
/// child that reads its parent's directory at once (dumb-init's own
/// `cwd_test` does) must see `/`, and itself in the directory tini-rs was
/// started in. Moving after the spawn loses that race now and then, too
/// rarely to catch by running it; so strace shows the order, which is
/// deterministic: the parent's `chdir("/")` comes before the child's first
/// system call (posix_spawn's child runs while the parent waits for it).
/// Without the fix the child's execve comes first.
#[test]
fn tini_rs_leaves_its_directory_before_the_child_starts() {
    directory_left_before_the_spawn(&["-s"]);
}

/// The same in dumb-init mode's setsid mode, whose child is started by
/// fork and exec (it makes its own session) and goes back by `fchdir`.
#[test]
fn dumb_init_mode_leaves_its_directory_before_the_child_starts() {
    directory_left_before_the_spawn(&["--dumb-init"]);
}

/// Runs `tini-rs ARGS sh -c ...` under strace in a fresh directory and
/// checks the order of tini-rs's `chdir("/")` and the child's first call.
pub fn directory_left_before_the_spawn(tini_args: &[&str]) {
    let test = "directory_left_before_the_spawn";
    if common::engine::which("strace").is_err() {
        skip(test, "strace not found (tests/run.sh installs it)");
        return;
    }
    let dir = TempDir::new("cwd-order");
    let log = dir.file("strace.log");
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-e", "trace=chdir,fchdir,execve", "-o"])
        .arg(&log)
        .arg(tini_rs())
        .args(tini_args)
        .args([
            "--",
            "sh",
            "-c",
            "readlink /proc/$PPID/cwd; readlink /proc/$$/cwd",
        ])
        .current_dir(&dir.0);
    let (code, out, err) = run(cmd, LIMIT);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert_eq!(
        out,
        format!("/\n{}\n", dir.0.display()),
        "the parent must be in / and the child in the directory tini-rs was given"
    );
    let trace = std::fs::read_to_string(&log).expect("strace log");
    // strace pads the pid column to five characters: "1700  chdir(...)".
    let lines: Vec<(&str, &str)> = trace
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(pid, call)| (pid, call.trim_start()))
        .collect();
    let tini_pid = lines
        .first()
        .map(|(pid, _)| *pid)
        .expect("empty strace log");
    let moved = lines
        .iter()
        .position(|(pid, call)| *pid == tini_pid && call.starts_with("chdir(\"/\")"));
    let child_first = lines.iter().position(|(pid, _)| *pid != tini_pid);
    assert!(
        matches!((moved, child_first), (Some(m), Some(c)) if m < c),
        "tini-rs must chdir(\"/\") before its child's first call:\n{trace}"
    );
}
