//! The reaper: a thread blocked in waitpid(-1). One wake-up per exited
//! process and nothing else: no polling, no SIGCHLD bookkeeping, so SIGCHLDs
//! that the kernel coalesces can never lose an exit status.

use crate::event::Event;
use std::io;
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;

/// Starts the reaper. It reports the main child's exit and, when waitpid
/// says there is no child left, [`Event::NoChildren`]. Start it only after
/// the main child exists, so "no child" means "all gone".
pub fn start(
    main_pid: libc::pid_t,
    warn_on_reap: bool,
    events: Sender<Event>,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("reaper".into())
        .stack_size(crate::THREAD_STACK_SIZE)
        .spawn(move || {
            // Once the main child is reaped its pid is free for reuse: a
            // later process with the same number is just another orphan, and
            // its status must not replace the main child's.
            let mut main_pid = Some(main_pid);
            loop {
                match wait_any(0) {
                    Ok(Some((pid, status))) => {
                        if report(pid, status, main_pid, warn_on_reap, &events) {
                            main_pid = None;
                        }
                    }
                    Ok(None) => {}
                    Err(err) if err.raw_os_error() == Some(libc::ECHILD) => {
                        let _ = events.send(Event::NoChildren);
                        return;
                    }
                    Err(err) => {
                        log::error!("waitpid failed: {err}; no more processes are reaped");
                        return;
                    }
                }
            }
        })
}

/// Reaps every process that has already exited, without blocking. Used on
/// the way out when no grace period is set (tini does the same).
/// The main child has been reaped by then, so every pid here is another
/// process (possibly one that reused its pid).
pub fn reap_already_exited(warn_on_reap: bool, events: &Sender<Event>) {
    while let Ok(Some((pid, status))) = wait_any(libc::WNOHANG) {
        report(pid, status, None, warn_on_reap, events);
    }
}

/// Logs one reaped process; true when it was the main child (reported to
/// the main thread).
fn report(
    pid: libc::pid_t,
    status: i32,
    main_pid: Option<libc::pid_t>,
    warn_on_reap: bool,
    events: &Sender<Event>,
) -> bool {
    log::trace!("waitpid: pid {pid}, raw status {status:#x}");
    if main_pid == Some(pid) {
        log::info!("Main child exited with status {}", exit_code(status));
        let _ = events.send(Event::MainExited(status));
        return true;
    } else if warn_on_reap {
        log::warn!("Reaped zombie process with pid={pid}");
    } else {
        log::debug!("Reaped zombie process with pid={pid}");
    }
    false
}

/// One waitpid(-1) call, retried on EINTR. `Ok(None)` with WNOHANG when
/// nothing has exited yet. __WALL also catches children made by clone()
/// with an exit signal other than SIGCHLD.
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
