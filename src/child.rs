//! Spawns the main child: in its own process group, in the terminal's
//! foreground when stdin is a terminal, with the signal state tini-rs
//! inherited, and with tini's exit codes when exec fails.
//!
//! posix_spawn(3) does it all in the C library's vfork-style child: no copy
//! of tini-rs's page tables, and the parent resumes as soon as the program
//! is exec'd (or reports why it could not be). Unlike execvp(3), which tini
//! uses, glibc's posix_spawnp does not run a file without a `#!` line
//! through /bin/sh, so tini-rs does that itself. Four rare starts fall
//! back to fork and exec, where the child can act on itself before exec:
//! - tini-rs was started with SIGCHLD ignored. posix_spawn cannot hand the
//!   child an ignored SIGCHLD while tini-rs itself needs it at default (or
//!   the kernel would reap the child before we could); the child ignores
//!   it again itself.
//! - socket activation (`LISTEN_PID` names tini-rs): the child must get its
//!   own pid in `LISTEN_PID`, known only once it exists.
//! - posix_spawn failed with EPERM: a seccomp profile refuses `clone3`,
//!   which glibc's posix_spawn uses; fork uses `clone`.
//! - a new session (dumb-init mode's setsid mode): the child makes it and
//!   takes the terminal as its controlling terminal, which posix_spawn
//!   cannot do.
//!
//! tini-rs moves to `/` before the spawn, not after, and hands the child
//! the directory it was started in through a descriptor (a file action
//! `fchdir`, or `fchdir` before exec on the fork path). Moving after the
//! spawn left a window in which the running child could still see its
//! parent in the old directory (a program reading `/proc/$PPID/cwd` at
//! once, as dumb-init's own test does).

use crate::signals::InheritedState;
use crate::status::ExitCode;
use crate::sys::{
    self,
    spawn::{self, Attributes, posix_spawnp},
};
use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Why the main child could not be started, and the exit code that says so.
#[derive(Debug)]
pub struct SpawnError {
    pub message: String,
    pub exit_code: ExitCode,
    /// The system's error, when the start failed on one.
    pub errno: Option<i32>,
}

/// How the main child starts, beyond tini's way.
#[derive(Clone, Copy, Default)]
pub struct Start {
    /// In a new session of its own, with stdin's terminal as its controlling
    /// terminal (dumb-init's setsid mode), instead of a new process group.
    pub new_session: bool,
    /// Say `[dumb-init] setsid complete.` on stderr before exec (dumb-init
    /// mode's debug output).
    pub say_setsid_complete: bool,
}

/// Starts `program[0]` (searched in PATH) with `program[1..]` and returns
/// its pid. The caller must already block every signal (a SIGTERM arriving
/// now would otherwise kill tini-rs and orphan the child).
pub fn spawn(
    program: &[OsString],
    inherited: &'static InheritedState,
    start: Start,
) -> Result<libc::pid_t, SpawnError> {
    let name = program.first().ok_or_else(|| SpawnError {
        message: "no program to run".to_string(),
        exit_code: ExitCode::FAILURE,
        errno: None,
    })?;
    if name.is_empty() {
        return Err(SpawnError {
            message: "cannot run '': the program name is empty".to_string(),
            exit_code: ExitCode::NOT_FOUND,
            errno: Some(libc::ENOENT),
        });
    }
    let shown = name.to_string_lossy();
    // Words from argv cannot hold a NUL byte; only a caller bug could.
    let args: Vec<CString> = program
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|_| SpawnError {
            message: format!("cannot run '{shown}': an argument contains a NUL byte"),
            exit_code: ExitCode::FAILURE,
            errno: None,
        })?;
    let sockets_for_the_child = sockets_are_passed_to_us();
    let home = leave_working_directory();
    let home = home.as_ref();
    if inherited.sigchld_ignored() || sockets_for_the_child || start.new_session {
        return spawn_forked(args, inherited, sockets_for_the_child, home, start)
            .map_err(|e| exec_error(name, e, home));
    }

    let attr = Attributes::new(inherited.mask(), inherited.default_in_child())
        .map_err(|e| exec_error(name, e, home))?;
    let mut take_terminal = spawn::stdin_is_our_terminal();
    let spawned = match posix_spawnp(&args, &attr, take_terminal, home) {
        // Only the terminal step can fail with these (execve never does);
        // like tini, go on without the terminal. Nothing was started.
        Err(err) if take_terminal && spawn::is_no_terminal(&err) => {
            take_terminal = false;
            log::debug!(
                "Cannot make the main child the terminal's foreground group ({err}); going on without"
            );
            posix_spawnp(&args, &attr, false, home)
        }
        other => other,
    };
    match spawned {
        // glibc's posix_spawn starts its child with clone3 and falls back
        // to clone only on ENOSYS, so a seccomp profile that answers clone3
        // with EPERM (Docker's in 20.10.0-20.10.9, and profiles copied from
        // it) makes every posix_spawn fail. fork uses clone: spawn that way.
        // (A program whose exec itself fails with EPERM fails there again,
        // with the same error.)
        Err(err) if err.raw_os_error() == Some(libc::EPERM) => {
            log::debug!("posix_spawn failed ({err}); spawning with fork and exec instead");
            spawn_forked(args, inherited, false, home, start).map_err(|e| exec_error(name, e, home))
        }
        // A file without `#!` that the kernel will not run: like execvp,
        // run it with /bin/sh, `sh FILE ARGS...`.
        Err(err) if err.raw_os_error() == Some(libc::ENOEXEC) => {
            let Some(file) = resolve_in_path(name, home) else {
                return Err(exec_error(name, err, home));
            };
            let mut sh_args = vec![CString::from(c"/bin/sh"), path_cstring(&file)?];
            sh_args.extend_from_slice(&args[1..]);
            posix_spawnp(&sh_args, &attr, take_terminal, home)
                .map_err(|e| exec_error(name, e, home))
        }
        other => other.map_err(|e| exec_error(name, e, home)),
    }
}

/// The directory tini-rs was started in, held open (`O_PATH`: search
/// permission is enough, as for a working directory), after tini-rs itself
/// has moved to `/`. `None` when it cannot be opened (then tini-rs stays
/// where it is, the child starts there too, and tini-rs moves after the
/// spawn, as before).
fn leave_working_directory() -> Option<OwnedFd> {
    let home = match sys::open_working_directory() {
        Ok(fd) => fd,
        Err(err) => {
            log::debug!("Cannot open the working directory ({err}); moving to / after the spawn");
            return None;
        }
    };
    if let Err(err) = sys::change_to_root_directory() {
        log::debug!("Cannot change directory to / before the spawn: {err}");
    }
    Some(home)
}

/// The file posix_spawnp ran for `name`: `name` itself when it has a `/`,
/// else the first executable regular file named `name` in PATH (glibc's
/// default path when PATH is unset), as the search found it. A relative
/// path is looked at from the child's directory `home` (tini-rs itself is
/// in `/` by now) and returned as it is, for the child to resolve.
fn resolve_in_path(name: &OsString, home: Option<&OwnedFd>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    tried_for(name).find(|file| {
        std::fs::metadata(seen_from_child(file, home))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// The files an exec of `name` tries, in order: `name` itself when it has
/// a `/`, else `name` in each PATH directory (glibc's default path when
/// PATH is unset; an empty entry is the current directory).
fn tried_for(name: &OsString) -> impl Iterator<Item = PathBuf> + '_ {
    let with_slash = name.as_bytes().contains(&b'/');
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/bin:/usr/bin".into());
    let dirs: Vec<PathBuf> = if with_slash {
        Vec::new()
    } else {
        std::env::split_paths(&path).collect()
    };
    with_slash
        .then(|| PathBuf::from(name))
        .into_iter()
        .chain(dirs.into_iter().map(move |dir| {
            if dir.as_os_str().is_empty() {
                PathBuf::from(".").join(name)
            } else {
                dir.join(name)
            }
        }))
}

/// `file` as the child sees it: a relative path is taken from its
/// directory `home` (through /proc, since tini-rs itself is in `/`).
fn seen_from_child(file: &std::path::Path, home: Option<&OwnedFd>) -> PathBuf {
    match home {
        Some(dir) if file.is_relative() => {
            PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(file)
        }
        _ => file.to_path_buf(),
    }
}

fn path_cstring(path: &std::path::Path) -> Result<CString, SpawnError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| SpawnError {
        message: format!(
            "cannot run '{}': the path contains a NUL byte",
            path.display()
        ),
        exit_code: ExitCode::FAILURE,
        errno: None,
    })
}

/// systemd's socket activation hands sockets (descriptors 3 and up, see
/// `LISTEN_FDS`) to the process `LISTEN_PID` names, and `sd_listen_fds()`
/// refuses them in any other process. When it names tini-rs, they are
/// meant for the program tini-rs runs, which then must see its own pid
/// there. Any other value is not ours to change.
fn sockets_are_passed_to_us() -> bool {
    let ours = std::env::var_os("LISTEN_PID").and_then(|value| value.to_str()?.parse::<u32>().ok())
        == Some(std::process::id());
    if ours {
        log::debug!("LISTEN_PID names tini-rs; the main child gets its own pid there");
    }
    ours
}

/// The fork-and-exec way, for the starts posix_spawn cannot do (see the
/// module's comment): the child moves to `home`, takes the terminal (or
/// makes its own session with it) and puts back the signal state itself
/// before exec.
fn spawn_forked(
    args: Vec<CString>,
    inherited: &'static InheritedState,
    with_own_listen_pid: bool,
    home: Option<&OwnedFd>,
    start: Start,
) -> io::Result<libc::pid_t> {
    // A new session takes the terminal by TIOCSCTTY, not tcsetpgrp.
    let take_terminal = !start.new_session && spawn::stdin_is_our_terminal();
    // The descriptor stays open (and ours) until the spawn has returned.
    let home = home.map(|dir| dir.as_raw_fd());
    let before_exec = move || {
        if let Some(dir) = home {
            // SAFETY: `home` is open in the parent until the spawn has
            // returned, so the forked child has its copy.
            unsafe { spawn::change_directory_in_forked_child(dir)? };
        }
        if start.new_session {
            spawn::new_session_in_forked_child()?;
            // As dumb-init: without the terminal (another session has it,
            // or there is none) the child still runs.
            if spawn::take_controlling_terminal_in_forked_child().is_err()
                && start.say_setsid_complete
            {
                spawn::write_stderr_in_forked_child(
                    b"[dumb-init] Unable to attach to controlling tty.\n",
                );
            }
            if start.say_setsid_complete {
                spawn::write_stderr_in_forked_child(b"[dumb-init] setsid complete.\n");
            }
        }
        if take_terminal && let Err(err) = spawn::take_terminal_in_forked_child() {
            // Like tini: without the terminal is fine; anything else is not.
            if !spawn::is_no_terminal(&err) {
                return Err(err);
            }
        }
        inherited.restore_in_forked_child()
    };
    // SAFETY: `before_exec` calls only async-signal-safe functions
    // (fchdir, setsid, ioctl, write, tcsetpgrp, getpid, rt_sigaction,
    // pthread_sigmask) and allocates nothing; `inherited` is 'static and
    // read-only, and `home` stays open until the spawn has returned.
    unsafe { spawn::fork_and_exec(args, with_own_listen_pid, !start.new_session, before_exec) }
}

/// tini's exit codes for a failed exec: 127 not found, 126 found but not
/// executable (or a directory), 1 anything else; the message names the
/// real cause.
fn exec_error(name: &OsString, err: io::Error, home: Option<&OwnedFd>) -> SpawnError {
    let exit_code = match err.raw_os_error() {
        Some(libc::ENOENT) => ExitCode::NOT_FOUND,
        Some(libc::EACCES) => ExitCode::NOT_EXECUTABLE,
        _ => ExitCode::FAILURE,
    };
    // execve says EACCES for a directory; name the real problem when the
    // first file the search found (the one exec refused first) is one.
    let found_a_directory = || {
        tried_for(name)
            .map(|file| std::fs::metadata(seen_from_child(&file, home)))
            .find_map(Result::ok)
            .is_some_and(|m| m.is_dir())
    };
    let reason = if exit_code == ExitCode::NOT_EXECUTABLE && found_a_directory() {
        "it is a directory".to_string()
    } else {
        err.to_string()
    };
    SpawnError {
        message: format!("cannot run '{}': {reason}", name.to_string_lossy()),
        exit_code,
        errno: err.raw_os_error(),
    }
}
