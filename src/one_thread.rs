//! Running without helper threads, for when none can start: a seccomp
//! profile that answers `clone3` with EPERM (glibc's pthread_create falls
//! back to `clone` only on ENOSYS), a pids limit with no room for a thread,
//! RLIMIT_NPROC. An init that refuses to start is worse than one that uses a
//! single thread, so tini-rs then does the forwarder's and the reaper's
//! work in one loop, as pause mode does: sigwaitinfo(2) takes SIGCHLD and
//! every forwardable signal off the queue (zero wake-ups while nothing
//! happens); a SIGCHLD makes it reap with `WNOHANG` until nothing more has
//! exited, since the kernel coalesces SIGCHLDs; any other signal goes
//! through the same [`Forwarding`] the forwarder thread uses (rewrite, stop
//! delay). It yields the same [`Event`]s the threads send, so the grace
//! period's shutdown runs unchanged on top of it.
//!
//! Pause mode (`-P`) is this loop with nothing to pass on: SIGTERM or
//! SIGINT asks to stop, any other signal is dropped, and until the stop
//! having no child is no end (orphans may still come).

use crate::event::{Event, Events};
use crate::forward::Forwarding;
use crate::reaper;
use crate::signals::{self, WaitSet};
use crate::status::WaitStatus;
use crate::sys::wait::{is_no_child, wait_for_any_child};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The single loop's state.
pub struct OneLoop {
    waitset: WaitSet,
    /// `None` in pause mode: nothing is passed on, SIGTERM and SIGINT only
    /// ask to stop.
    forwarding: Option<Forwarding>,
    /// Until it has been reaped: then its pid may name another process.
    main_pid: Option<libc::pid_t>,
    warn_on_reap: bool,
    /// Events found but not yet handed out (one reaping pass can find the
    /// main child's exit and then no child left).
    pending: VecDeque<Event>,
    /// Children may have exited before the loop existed: the first call
    /// reaps before it waits.
    reaped_once: bool,
    /// waitpid said no child is left, or failed: nothing more will come.
    ended: bool,
    /// Pause mode before its stop: no child left ends nothing yet.
    pausing: bool,
}

impl OneLoop {
    /// Call once the main child exists (`main_pid`), so that "no child"
    /// means "all gone".
    pub fn new(
        forwarding: Option<Forwarding>,
        main_pid: Option<libc::pid_t>,
        warn_on_reap: bool,
    ) -> Self {
        OneLoop {
            waitset: WaitSet::of(signals::forwardable().chain([libc::SIGCHLD])),
            forwarding,
            main_pid,
            warn_on_reap,
            pending: VecDeque::new(),
            reaped_once: false,
            ended: false,
            pausing: false,
        }
    }

    /// Pause mode's loop: no main child, nothing passed on; it runs until
    /// SIGTERM or SIGINT ([`Event::StopRequested`]), and only from then on
    /// does "no child left" end it.
    pub fn pausing(warn_on_reap: bool) -> Self {
        OneLoop {
            pausing: true,
            ..OneLoop::new(None, None, warn_on_reap)
        }
    }

    /// Takes `forwarded` (and SIGCHLD) off the queue instead of the
    /// forwardable set: dumb-init mode forwards more (see `dumb_init`).
    pub fn forwarding(mut self, forwarded: impl Iterator<Item = i32>) -> Self {
        self.waitset = WaitSet::of(forwarded.chain([libc::SIGCHLD]));
        self
    }

    /// Pause mode's stop: the request came before the loop existed.
    pub fn with_stop_requested(mut self) -> Self {
        self.pending.push_back(Event::StopRequested);
        self
    }

    /// Without a grace period (tini's behaviour): runs until the main child
    /// has exited, reaps what has exited by then too, and returns its raw
    /// wait status (`None` if waitpid failed first).
    pub fn until_main_exits(mut self) -> Option<WaitStatus> {
        let warn_on_reap = self.warn_on_reap;
        reaper::until_main_exits(|| self.next(None), warn_on_reap)
    }

    /// `--wait-all` without a grace period: runs until no child is left,
    /// and returns the main child's raw wait status (`None` if waitpid
    /// failed before it was reaped).
    pub fn until_no_child_is_left(mut self) -> Option<WaitStatus> {
        reaper::until_no_child_is_left(|| self.next(None))
    }

    /// Reaps every child that has exited by now, queueing the events.
    fn reap(&mut self) {
        loop {
            match wait_for_any_child(false) {
                Ok(Some((pid, status))) => {
                    let main = reaper::report(pid, status, &mut self.main_pid, self.warn_on_reap);
                    if let Some(status) = main {
                        self.pending.push_back(Event::MainExited(status));
                    }
                }
                Ok(None) => return,
                Err(err) if self.pausing && is_no_child(&err) => return,
                Err(err) => {
                    self.pending.push_back(reaper::end_of_reaping(&err));
                    self.ended = true;
                    return;
                }
            }
        }
    }
}

impl Events for OneLoop {
    fn next(&mut self, timeout: Option<Duration>) -> Option<Event> {
        let until = timeout.map(|t| Instant::now() + t);
        if !self.reaped_once {
            self.reaped_once = true;
            self.reap();
        }
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if self.ended {
                // Its last event (no child left, or a failure) is out.
                return Some(Event::ReaperFailed);
            }
            let taken = match &mut self.forwarding {
                Some(forwarding) => forwarding.next_signal(&self.waitset, until),
                None => self.waitset.wait_until(until),
            };
            match taken {
                Ok(Some(taken)) if taken.sig == libc::SIGCHLD => self.reap(),
                Ok(Some(taken)) => {
                    let pending = &mut self.pending;
                    let mut stop_requested = || pending.push_back(Event::StopRequested);
                    let sig = taken.sig;
                    match &mut self.forwarding {
                        Some(forwarding) => forwarding.on_signal(&taken, stop_requested),
                        None if sig == libc::SIGTERM || sig == libc::SIGINT => {
                            if std::mem::take(&mut self.pausing) {
                                log::info!("Pause mode: {} received; stopping", signals::name(sig));
                                // From now on no child left is the end:
                                // look at once, there may be none.
                                self.reaped_once = false;
                            }
                            stop_requested()
                        }
                        None => log::debug!("Pause mode: ignoring {}", signals::name(sig)),
                    }
                }
                Ok(None) => {
                    if until.is_some_and(|u| Instant::now() >= u) {
                        return None;
                    }
                }
                Err(err) => {
                    // Start-up checked that the wait works; never spin on it.
                    log::error!("sigwaitinfo failed: {err}; no more processes can be reaped");
                    self.ended = true;
                    return Some(Event::ReaperFailed);
                }
            }
        }
    }
}
