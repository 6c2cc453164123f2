//! waitpid(2), for the reaper and pause mode.

use crate::status::WaitStatus;
use std::io;

/// One `waitpid(-1)` for any child, retried on EINTR. Blocks until a child
/// exits unless `block` is false; then `Ok(None)` when none has exited yet.
/// Fails with ECHILD when there is no child at all. `__WALL` also catches
/// children made by clone() with an exit signal other than SIGCHLD. Raw
/// libc: nix's `waitpid` turns the status of a process killed by a
/// real-time signal into an error, after the process has already been
/// reaped, so the status would be lost.
pub fn wait_for_any_child(block: bool) -> io::Result<Option<(libc::pid_t, WaitStatus)>> {
    let flags = if block { 0 } else { libc::WNOHANG };
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status into our local.
        let pid = unsafe { libc::waitpid(-1, &mut status, flags | libc::__WALL) };
        if pid > 0 {
            return Ok(Some((pid, WaitStatus::from_raw(status))));
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

/// True for waitpid's "no child at all".
pub fn is_no_child(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::ECHILD)
}
