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
use std::io;
use std::sync::mpsc::{Sender, channel};
use std::thread::JoinHandle;

/// Reaps in the calling thread until the main child has exited, then reaps
/// what has already exited too (tini does the same) and returns the main
/// child's raw wait status. `None` if waitpid failed first.
pub fn reap_until_main_exits(main_pid: libc::pid_t, warn_on_reap: bool) -> Option<WaitStatus> {
    let mut main_pid = Some(main_pid);
    until_main_exits(
        || Some(next_event(&mut main_pid, warn_on_reap)),
        warn_on_reap,
    )
}

/// `--wait-all` without a grace period: reaps in the calling thread until
/// no child is left, the main child's exit included, and returns its raw
/// wait status. `None` if waitpid failed before the main child exited.
pub fn reap_until_no_child_is_left(
    main_pid: libc::pid_t,
    warn_on_reap: bool,
) -> Option<WaitStatus> {
    let mut main_pid = Some(main_pid);
    until_no_child_is_left(|| Some(next_event(&mut main_pid, warn_on_reap)))
}

/// Without a grace period (tini's behaviour), over the events of either
/// way of reaping (this module's, or the single loop's when no thread could
/// start): runs until the main child has exited, reaps what has exited by
/// then too, and returns its raw wait status; `None` if reaping ended
/// first. `next` gives `None` when it woke with nothing to say.
pub fn until_main_exits(
    mut next: impl FnMut() -> Option<Event>,
    warn_on_reap: bool,
) -> Option<WaitStatus> {
    loop {
        match next() {
            Some(Event::MainExited(status)) => {
                // The main child's pid is free from here on, so any pid
                // seen is another process.
                let _ = reap_exited(warn_on_reap);
                return Some(status);
            }
            Some(Event::StopRequested) | None => {}
            Some(Event::NoChildren | Event::ReaperFailed) => return None,
        }
    }
}

/// `--wait-all` without a grace period, over either way of reaping (see
/// [`until_main_exits`]): runs until no child is left, and returns the main
/// child's raw wait status (`None` if reaping ended before it was reaped).
pub fn until_no_child_is_left(mut next: impl FnMut() -> Option<Event>) -> Option<WaitStatus> {
    let mut main_status = None;
    loop {
        match next() {
            Some(Event::MainExited(status)) => main_status = Some(status),
            Some(Event::StopRequested) | None => {}
            Some(Event::NoChildren | Event::ReaperFailed) => return main_status,
        }
    }
}

/// Blocks in waitpid(-1), one wake-up per exited process, until the main
/// child `main_pid` exits ([`Event::MainExited`]; `main_pid` then becomes
/// `None`, see [`report`]) or reaping ends: [`Event::NoChildren`] (no child
/// left) or [`Event::ReaperFailed`] (any other failure, logged; call it no
/// more). The main thread's way without a grace period, and the reaper
/// thread's.
fn next_event(main_pid: &mut Option<libc::pid_t>, warn_on_reap: bool) -> Event {
    loop {
        match wait_for_any_child(true) {
            Ok(Some((pid, status))) => {
                if let Some(status) = report(pid, status, main_pid, warn_on_reap) {
                    return Event::MainExited(status);
                }
            }
            Ok(None) => {}
            Err(err) => return end_of_reaping(&err),
        }
    }
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
        let Ok(mut main_pid) = pid_rx.recv() else {
            return;
        };
        // It never stops at the main child's exit: only waitpid's failure
        // ends it.
        loop {
            let event = next_event(&mut main_pid, warn_on_reap);
            let _ = events.send(event);
            if matches!(event, Event::NoChildren | Event::ReaperFailed) {
                return;
            }
        }
    })?;
    Ok(Reaper {
        main_pid: pid_tx,
        thread,
    })
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
