//! The reaper: blocks in waitpid(-1). One wake-up per exited process and
//! nothing else: no polling, no SIGCHLD bookkeeping, so SIGCHLDs that the
//! kernel coalesces can never lose an exit status.
//!
//! By default the main thread itself is the reaper (tini's behaviour needs
//! nothing else, and a thread fewer is start-up time and memory saved);
//! with a grace period it runs in its own thread while the main thread
//! keeps the shutdown's clock.

use crate::death_report;
use crate::event::Event;
use crate::status::WaitStatus;
use crate::sys::wait::{is_no_child, wait_for_any_child};
use std::convert::Infallible;
use std::io;
use std::ops::ControlFlow;
use std::sync::mpsc::{Sender, channel};
use std::thread::JoinHandle;

/// Reaps in the calling thread until the main child has exited, then reaps
/// what has already exited too (tini does the same) and returns the main
/// child's raw wait status. `None` if waitpid failed first.
pub fn reap_until_main_exits(main_pid: libc::pid_t, warn_on_reap: bool) -> Option<WaitStatus> {
    let main_status = match reap(Some(main_pid), warn_on_reap, ControlFlow::Break) {
        Ok(status) => status,
        Err(err) => {
            log::error!("waitpid failed before the main child exited: {err}");
            return None;
        }
    };
    // Everything that has exited by now; the main child's pid is free from
    // here on, so any pid seen is another process.
    let _ = reap_exited(warn_on_reap);
    Some(main_status)
}

/// `--wait-all` without a grace period: reaps in the calling thread until
/// no child is left, the main child's exit included, and returns its raw
/// wait status. `None` if waitpid failed before the main child exited.
pub fn reap_until_no_child_is_left(
    main_pid: libc::pid_t,
    warn_on_reap: bool,
) -> Option<WaitStatus> {
    let mut main_status = None;
    let Err(err) = reap(Some(main_pid), warn_on_reap, |status| {
        main_status = Some(status);
        ControlFlow::<Infallible>::Continue(())
    });
    // Either way the end: a failure is logged there.
    end_of_reaping(&err);
    main_status
}

/// What waitpid's failure `err` means for whoever reaps (this thread, the
/// reaper thread, the single loop): ECHILD is [`Event::NoChildren`], no
/// child left; anything else is logged and [`Event::ReaperFailed`].
pub fn end_of_reaping(err: &io::Error) -> Event {
    if is_no_child(err) {
        Event::NoChildren
    } else {
        log::error!("waitpid failed: {err}; no more processes can be reaped");
        Event::ReaperFailed
    }
}

/// Reaps every child that has exited by now, without blocking; no child
/// at all is not an error. For what has exited by the time the main
/// child's exit is reaped (here and in the single loop).
pub fn reap_exited(warn_on_reap: bool) -> io::Result<()> {
    loop {
        match wait_for_any_child(false) {
            Ok(Some((pid, status))) => report_other(pid, status, warn_on_reap),
            Ok(None) => return Ok(()),
            Err(err) if is_no_child(&err) => return Ok(()),
            Err(err) => return Err(err),
        }
    }
}

/// The reaper thread, waiting to learn the main child's pid.
pub struct Reaper {
    main_pid: Sender<Option<libc::pid_t>>,
    thread: JoinHandle<()>,
}

impl Reaper {
    /// Starts reaping, with `pid` as the main child (`None` in pause mode).
    /// Call it once the main child exists, so that "no child" means "all
    /// gone".
    pub fn watch(self, pid: Option<libc::pid_t>) {
        // Only fails if the thread is gone, which it never is by itself.
        let _ = self.main_pid.send(pid);
    }

    /// Ends the thread before it has reaped anything, and waits until it
    /// is gone.
    pub fn stop(self) {
        drop(self.main_pid);
        let _ = self.thread.join();
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
    let thread = crate::threads::start("reaper", move || {
        let Ok(main_pid) = pid_rx.recv() else {
            return;
        };
        // It never stops at the main child's exit: only waitpid's failure
        // ends it.
        let Err(err) = reap(main_pid, warn_on_reap, |status| {
            let _ = events.send(Event::MainExited(status));
            ControlFlow::<Infallible>::Continue(())
        });
        let _ = events.send(end_of_reaping(&err));
    })?;
    Ok(Reaper {
        main_pid: pid_tx,
        thread,
    })
}

/// The reaping loop. Calls `on_main_exit` with the main child's raw status
/// and returns what it breaks with; otherwise runs until waitpid fails
/// (ECHILD: no child left) and returns that error.
fn reap<T>(
    // `None` once the main child is reaped (see `report`).
    mut main_pid: Option<libc::pid_t>,
    warn_on_reap: bool,
    mut on_main_exit: impl FnMut(WaitStatus) -> ControlFlow<T>,
) -> Result<T, io::Error> {
    loop {
        if let Some((pid, status)) = wait_for_any_child(true)?
            && let Some(status) = report(pid, status, &mut main_pid, warn_on_reap)
            && let ControlFlow::Break(value) = on_main_exit(status)
        {
            return Ok(value);
        }
    }
}

/// Logs one reaped process, the reaper's and the single loop's way alike.
/// Returns its status when it is the main child `main_pid`, which is then
/// forgotten: from now on its pid is free for reuse, and a later process
/// with the same number is just another orphan whose status must not
/// replace the main child's.
pub fn report(
    pid: libc::pid_t,
    status: WaitStatus,
    main_pid: &mut Option<libc::pid_t>,
    warn_on_reap: bool,
) -> Option<WaitStatus> {
    if *main_pid != Some(pid) {
        report_other(pid, status, warn_on_reap);
        return None;
    }
    *main_pid = None;
    report_main(pid, status);
    Some(status)
}

/// Logs the main child's exit, and how it died if a signal killed it.
fn report_main(pid: libc::pid_t, status: WaitStatus) {
    log::trace!("waitpid: pid {pid}, raw status {status:#x}");
    dumb_init_report(pid, status);
    log::info!("Main child exited with status {}", status.exit_code());
    if let Some(cause) = death_report::cause(status) {
        log::warn!("Main child {pid} was {cause}");
    }
    crate::wait_all::main_child_reaped();
}

/// Logs a reaped process that is not the main child, and how it died if a
/// signal killed it.
fn report_other(pid: libc::pid_t, status: WaitStatus, warn_on_reap: bool) {
    log::trace!("waitpid: pid {pid}, raw status {status:#x}");
    dumb_init_report(pid, status);
    let cause = death_report::cause(status)
        .map(|cause| format!("; it was {cause}"))
        .unwrap_or_default();
    if warn_on_reap {
        log::warn!("Reaped zombie process with pid={pid}{cause}");
    } else {
        log::debug!("Reaped zombie process with pid={pid}{cause}");
    }
}

/// dumb-init mode's debug lines for a reaped process (nothing otherwise).
/// dumb-init reaps when SIGCHLD comes, and says so; tini-rs's reaper waits
/// in waitpid instead, and says the same.
fn dumb_init_report(pid: libc::pid_t, status: WaitStatus) {
    use crate::logging::dumb_init_debug;
    if !crate::logging::dumb_init_debug_on() {
        return;
    }
    dumb_init_debug(format_args!("Received signal {}.", libc::SIGCHLD));
    match status.killing_signal() {
        Some(sig) => dumb_init_debug(format_args!(
            "A child with PID {pid} was terminated by signal {sig}."
        )),
        None => dumb_init_debug(format_args!(
            "A child with PID {pid} exited with exit status {}.",
            status.exit_code()
        )),
    }
}
