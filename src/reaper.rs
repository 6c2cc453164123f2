//! The reaper: blocks in waitpid(-1). One wake-up per exited process and
//! nothing else: no polling, no SIGCHLD bookkeeping, so SIGCHLDs that the
//! kernel coalesces can never lose an exit status.
//!
//! By default the main thread itself is the reaper (tini's behaviour needs
//! nothing else, and a thread fewer is start-up time and memory saved);
//! with a grace period it runs in its own thread while the main thread
//! keeps the shutdown's clock.

use crate::event::Event;
use std::io;
use std::sync::mpsc::{Sender, channel};

/// Reaps in the calling thread until the main child has exited, then reaps
/// what has already exited too (tini does the same) and returns the main
/// child's raw wait status. `None` if waitpid failed first.
pub fn reap_until_main_exits(main_pid: libc::pid_t, warn_on_reap: bool) -> Option<i32> {
    let mut main_status = None;
    if let Some(err) = reap(Some(main_pid), warn_on_reap, |status| {
        main_status = Some(status);
        true
    }) {
        log::error!("waitpid failed before the main child exited: {err}");
        return None;
    }
    // Everything that has exited by now; the main child's pid is free from
    // here on, so any pid seen is another process.
    let _ = reap_exited(warn_on_reap);
    main_status
}

/// Reaps every child that has exited by now, without blocking; no child
/// at all is not an error. For pause mode, which is woken by SIGCHLD since
/// a blocking waitpid(-1) returns at once while it has no child.
pub fn reap_exited(warn_on_reap: bool) -> io::Result<()> {
    loop {
        match wait_any(libc::WNOHANG) {
            Ok(Some((pid, status))) => report_other(pid, status, warn_on_reap),
            Ok(None) => return Ok(()),
            Err(err) if err.raw_os_error() == Some(libc::ECHILD) => return Ok(()),
            Err(err) => return Err(err),
        }
    }
}

/// The reaper thread, waiting to learn the main child's pid.
pub struct Reaper {
    main_pid: Sender<Option<libc::pid_t>>,
}

impl Reaper {
    /// Starts reaping, with `pid` as the main child (`None` in pause mode).
    /// Call it once the main child exists, so that "no child" means "all
    /// gone".
    pub fn watch(self, pid: Option<libc::pid_t>) {
        // Only fails if the thread is gone, which it never is by itself.
        let _ = self.main_pid.send(pid);
    }
}

/// Starts the reaper thread, before the main child exists: if the thread
/// cannot start, nothing is left behind. Once it knows the main child it
/// reports the main child's exit and, at the end, either
/// [`Event::NoChildren`] (waitpid says no child is left) or
/// [`Event::ReaperFailed`]; the main thread never waits on a reaper that
/// has stopped.
pub fn start(warn_on_reap: bool, events: Sender<Event>) -> io::Result<Reaper> {
    let (pid_tx, pid_rx) = channel::<Option<libc::pid_t>>();
    crate::threads::start("reaper", move || {
        let Ok(main_pid) = pid_rx.recv() else {
            return;
        };
        let end = reap(main_pid, warn_on_reap, |status| {
            let _ = events.send(Event::MainExited(status));
            false
        });
        let last = match end {
            Some(err) if err.raw_os_error() == Some(libc::ECHILD) => Event::NoChildren,
            Some(err) => {
                log::error!("waitpid failed: {err}; no more processes can be reaped");
                Event::ReaperFailed
            }
            None => Event::ReaperFailed,
        };
        let _ = events.send(last);
    })?;
    Ok(Reaper { main_pid: pid_tx })
}

/// The reaping loop. Calls `on_main_exit` with the main child's raw status
/// and stops if it returns true; otherwise runs until waitpid fails (ECHILD:
/// no child left) and returns that error.
fn reap(
    // Once the main child is reaped its pid is free for reuse: a later
    // process with the same number is just another orphan, and its status
    // must not replace the main child's. So it becomes `None`.
    mut main_pid: Option<libc::pid_t>,
    warn_on_reap: bool,
    mut on_main_exit: impl FnMut(i32) -> bool,
) -> Option<io::Error> {
    loop {
        match wait_any(0) {
            Ok(Some((pid, status))) if main_pid == Some(pid) => {
                log::trace!("waitpid: pid {pid}, raw status {status:#x}");
                dumb_init_report(pid, status);
                log::info!("Main child exited with status {}", exit_code(status));
                main_pid = None;
                if on_main_exit(status) {
                    return None;
                }
            }
            Ok(Some((pid, status))) => report_other(pid, status, warn_on_reap),
            Ok(None) => {}
            Err(err) => return Some(err),
        }
    }
}

/// Logs a reaped process that is not the main child.
fn report_other(pid: libc::pid_t, status: i32, warn_on_reap: bool) {
    log::trace!("waitpid: pid {pid}, raw status {status:#x}");
    dumb_init_report(pid, status);
    if warn_on_reap {
        log::warn!("Reaped zombie process with pid={pid}");
    } else {
        log::debug!("Reaped zombie process with pid={pid}");
    }
}

/// dumb-init mode's debug lines for a reaped process (nothing otherwise).
/// dumb-init reaps when SIGCHLD comes, and says so; tini-rs's reaper waits
/// in waitpid instead, and says the same.
fn dumb_init_report(pid: libc::pid_t, status: i32) {
    use crate::logging::dumb_init_debug;
    if !crate::logging::dumb_init_debug_on() {
        return;
    }
    dumb_init_debug(format_args!("Received signal {}.", libc::SIGCHLD));
    if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        dumb_init_debug(format_args!(
            "A child with PID {pid} was terminated by signal {sig}."
        ));
    } else {
        let code = exit_code(status);
        dumb_init_debug(format_args!(
            "A child with PID {pid} exited with exit status {code}."
        ));
    }
}

/// One waitpid(-1) call, retried on EINTR. `Ok(None)` with WNOHANG when
/// nothing has exited yet. __WALL also catches children made by clone()
/// with an exit signal other than SIGCHLD. Raw libc: nix's `waitpid` turns
/// the status of a process killed by a real-time signal into an error, after
/// the process has already been reaped, so the status would be lost.
fn wait_any(flags: i32) -> io::Result<Option<(libc::pid_t, i32)>> {
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status into our local.
        let pid = unsafe { libc::waitpid(-1, &mut status, flags | libc::__WALL) };
        if pid > 0 {
            return Ok(Some((pid, status)));
        }
        if pid == 0 {
            return Ok(None);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// A wait status as an exit code: the code itself, or 128+S when signal S
/// ended the process (the shell's convention, and tini's).
pub fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    }
}
