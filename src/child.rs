//! Spawns the main child: in its own process group, in the terminal's
//! foreground when stdin is a terminal, with the signal state tini-rs
//! inherited, and with tini's exit codes when exec fails.

use crate::signals::InheritedState;
use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Why the main child could not be started, and the exit code that says so.
#[derive(Debug)]
pub struct SpawnError {
    pub message: String,
    pub exit_code: i32,
}

/// Starts `program[0]` with `program[1..]` and returns its pid. The caller
/// must have installed its signal handling already (a SIGTERM arriving
/// between spawn and install would otherwise kill tini-rs and orphan the
/// child) and must not be reaping yet (std waits for a child whose exec
/// failed).
pub fn spawn(
    program: &[OsString],
    inherited: &'static InheritedState,
) -> Result<libc::pid_t, SpawnError> {
    let (name, args) = program.split_first().ok_or_else(|| SpawnError {
        message: "no program to run".to_string(),
        exit_code: 1,
    })?;
    if name.is_empty() {
        return Err(SpawnError {
            message: "cannot run '': the program name is empty".to_string(),
            exit_code: 127,
        });
    }
    let mut command = Command::new(name);
    command.args(args).process_group(0);
    // SAFETY: the closure runs between fork and exec; it calls only
    // async-signal-safe functions (tcsetpgrp, getpid, signal,
    // pthread_sigmask) and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            take_terminal_foreground()?;
            inherited.restore_in_child()
        });
    }
    match command.spawn() {
        Ok(child) => Ok(child.id() as libc::pid_t),
        Err(err) => Err(exec_error(&name.to_string_lossy(), err)),
    }
}

/// Makes the child's new process group the terminal's foreground group, so
/// Ctrl-C reaches it and it may read the terminal. Not a terminal is fine.
/// tini-rs ignores SIGTTOU, and the child still has that disposition here,
/// so tcsetpgrp from a background group is not stopped.
fn take_terminal_foreground() -> io::Result<()> {
    // SAFETY: tcsetpgrp and getpid are async-signal-safe and take plain ints.
    if unsafe { libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpid()) } == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        // stdin is not a terminal, or not our controlling terminal: fine.
        Some(libc::ENOTTY) | Some(libc::ENXIO) | Some(libc::EBADF) => Ok(()),
        _ => Err(err),
    }
}

/// tini's exit codes for a failed exec: 127 not found, 126 found but not
/// executable (or a directory), 1 anything else.
fn exec_error(name: &str, err: io::Error) -> SpawnError {
    let exit_code = match err.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => 127,
        Some(libc::EACCES) | Some(libc::EISDIR) | Some(libc::ENOEXEC) | Some(libc::EPERM) => 126,
        _ => 1,
    };
    // execve says EACCES for a directory; name the real problem.
    let reason = if exit_code == 126 && std::path::Path::new(name).is_dir() {
        "it is a directory".to_string()
    } else {
        err.to_string()
    };
    SpawnError {
        message: format!("cannot run '{name}': {reason}"),
        exit_code,
    }
}
