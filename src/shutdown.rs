//! A clean, bounded shutdown of every descendant (`--grace-period`).
//!
//! With `--grace-period T` the clock starts at the first of: SIGTERM/SIGINT
//! received, or the main child exiting. While the main child lives the other
//! descendants are left alone (a master may be draining its workers). Once
//! it is gone they get SIGTERM: as PID 1 with one `kill(-1)`, which the
//! kernel applies atomically to the whole namespace; as a subreaper by
//! walking our own descendants in /proc, again and again, so that processes
//! forked meanwhile are not missed. At the deadline every survivor, the main
//! child included, gets SIGKILL. The reaper keeps reaping throughout, and
//! tini-rs returns only when it reports that no child is left.

use crate::event::{Event, Events};
use crate::procfs::{self, Process};
use crate::sys::{self, PidFd};
use nix::sys::signal::Signal;
use std::collections::HashSet;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

/// How often a subreaper looks for descendants it has not signalled yet.
const RESCAN_INTERVAL: Duration = Duration::from_millis(100);
/// How often survivors of SIGKILL (new forks) are looked for after the deadline.
const KILL_RESCAN_INTERVAL: Duration = Duration::from_millis(20);

/// The main thread's side of a run with a grace period: it waits for the
/// reaper's and the forwarder's events (or the single loop's, see
/// `one_thread`) and keeps the clock.
pub struct Supervisor<E: Events> {
    pub events: E,
    /// `None` in pause mode (`-P`): every descendant is stopped as soon as
    /// the stop is requested.
    pub main_child: Option<MainChild>,
}

/// The main child as the shutdown knows it: its pidfd where the kernel gives
/// one, else its /proc entry (read only then), to check the pid still names
/// it before signalling by pid.
pub struct MainChild {
    pub pid: libc::pid_t,
    pub pidfd: Option<PidFd>,
    pub process: Option<Process>,
}

impl MainChild {
    /// SIGKILL to the main child, unless it is gone. Call it only before the
    /// reaper reported its exit.
    fn kill(&self) -> bool {
        match (&self.pidfd, &self.process) {
            (Some(pidfd), _) => pidfd.send_signal(libc::SIGKILL).is_ok(),
            (None, Some(process)) => signal_descendant(process, Signal::SIGKILL),
            (None, None) => false,
        }
    }
}

impl<E: Events> Supervisor<E> {
    /// Blocks until every descendant is gone and returns the main child's
    /// raw wait status; `None` if it was lost (see [`Event::ReaperFailed`]).
    pub fn with_grace_period(mut self, grace: Duration) -> Option<i32> {
        let mut shutdown: Option<Shutdown> = None;
        let mut main_status = None;
        // Until then the other descendants are left alone.
        let mut main_gone = self.main_child.is_none();
        loop {
            // Nothing is happening before a shutdown: block, zero wake-ups.
            let timeout = shutdown.as_ref().map(|s| s.next_wake(main_gone));
            let event = self.events.next(timeout);
            match event {
                Ok(Event::StopRequested) => {
                    if shutdown.is_none() {
                        log::info!(
                            "Shutdown: stop signal received; everything has {grace:?} from now"
                        );
                        let s = shutdown.insert(Shutdown::new(grace));
                        if main_gone {
                            s.terminate_descendants();
                        }
                    }
                }
                Ok(Event::MainExited(status)) => {
                    main_status = Some(status);
                    main_gone = true;
                    let s = shutdown.get_or_insert_with(|| Shutdown::new(grace));
                    log::info!(
                        "Shutdown: main child exited after {} ms; stopping the other descendants",
                        s.started.elapsed().as_millis()
                    );
                    s.terminate_descendants();
                }
                Ok(Event::NoChildren | Event::ReaperFailed)
                | Err(RecvTimeoutError::Disconnected) => {
                    if let Some(s) = &shutdown {
                        s.report();
                    }
                    return main_status;
                }
                Err(RecvTimeoutError::Timeout) => {
                    let Some(s) = &mut shutdown else { continue };
                    if Instant::now() >= s.deadline {
                        if let Some(main_child) = &self.main_child {
                            // Once: later passes find it in the walk (or kill(-1)).
                            if !main_gone && !s.killed_at_deadline && main_child.kill() {
                                s.killed += 1;
                                log::info!(
                                    "Shutdown: grace period over; main child still running, sending SIGKILL"
                                );
                            }
                        }
                        s.kill_descendants(self.main_child.as_ref().map(|m| m.pid));
                    } else if main_gone {
                        s.terminate_descendants();
                    }
                }
            }
        }
    }
}

/// The state of a shutdown in progress.
struct Shutdown {
    started: Instant,
    deadline: Instant,
    /// Processes sent SIGTERM, by (pid, start time) so a reused pid is a new process.
    terminated: HashSet<(libc::pid_t, u64)>,
    /// Processes sent SIGKILL (the main child included).
    killed: usize,
    killed_at_deadline: bool,
    as_pid1: bool,
    /// As PID 1: the one kill(-1, SIGTERM) has been sent.
    terminated_namespace: bool,
}

impl Shutdown {
    fn new(grace: Duration) -> Self {
        let started = Instant::now();
        Shutdown {
            started,
            deadline: started + grace,
            terminated: HashSet::new(),
            killed: 0,
            killed_at_deadline: false,
            as_pid1: sys::is_pid1(),
            terminated_namespace: false,
        }
    }

    /// How long the main thread may sleep before there is work again.
    fn next_wake(&self, main_gone: bool) -> Duration {
        let until_deadline = self.deadline.saturating_duration_since(Instant::now());
        if self.killed_at_deadline {
            KILL_RESCAN_INTERVAL
        } else if main_gone && !self.as_pid1 {
            until_deadline.min(RESCAN_INTERVAL)
        } else {
            until_deadline
        }
    }

    /// SIGTERM to every descendant not yet asked to stop. Past the
    /// deadline it is SIGKILL's turn, so nothing more is asked nicely.
    fn terminate_descendants(&mut self) {
        if self.killed_at_deadline {
            return;
        }
        if self.as_pid1 {
            if self.terminated_namespace {
                return;
            }
            // Listed first only for the report: kill(-1) itself reaches the
            // whole namespace atomically, forks racing it included.
            let targets = our_descendants();
            if let Err(err) = sys::kill_every_process_in_namespace(Signal::SIGTERM) {
                log::debug!("kill(-1, SIGTERM): {err}");
            }
            self.terminated_namespace = true;
            self.terminated
                .extend(targets.iter().map(|p| (p.pid, p.start_time)));
            log::info!(
                "Shutdown: sent SIGTERM to every process in the namespace ({})",
                targets.len()
            );
            return;
        }
        for process in our_descendants() {
            if self.terminated.contains(&(process.pid, process.start_time)) {
                continue;
            }
            if signal_descendant(&process, Signal::SIGTERM) {
                log::debug!("Shutdown: SIGTERM to descendant {}", process.pid);
                self.terminated.insert((process.pid, process.start_time));
            }
        }
    }

    /// SIGKILL to everything left. Repeated until the reaper reports that no
    /// child is left, so that a fork racing the first pass is caught too.
    fn kill_descendants(&mut self, main_pid: Option<libc::pid_t>) {
        let left = our_descendants();
        if !self.killed_at_deadline {
            self.killed += left.iter().filter(|p| Some(p.pid) != main_pid).count();
            if !left.is_empty() {
                log::info!(
                    "Shutdown: grace period over; sending SIGKILL to {} processes",
                    left.len()
                );
            }
            self.killed_at_deadline = true;
        }
        if self.as_pid1 {
            if let Err(err) = sys::kill_every_process_in_namespace(Signal::SIGKILL) {
                log::debug!("kill(-1, SIGKILL): {err}");
            }
            return;
        }
        for process in &left {
            signal_descendant(process, Signal::SIGKILL);
        }
    }

    fn report(&self) {
        let terminated = self.terminated.len();
        log::info!(
            "Shutdown: done in {} ms: SIGTERM sent to {terminated}, {} exited by themselves, {} needed SIGKILL",
            self.started.elapsed().as_millis(),
            terminated.saturating_sub(self.killed),
            self.killed
        );
    }
}

fn our_descendants() -> Vec<Process> {
    procfs::living_descendants(std::process::id() as libc::pid_t)
}

/// Signals a process found by a walk after checking that its pid still
/// names the same process (same start time); one that has gone meanwhile is
/// skipped. Through a pidfd where the kernel gives one, so the check cannot
/// race a reused pid; by pid where pidfds are missing (kernels before 5.3,
/// seccomp profiles that deny pidfd_open), which only a pid reused between
/// the check and the kill could defeat.
fn signal_descendant(process: &Process, sig: Signal) -> bool {
    match PidFd::open(process.pid) {
        Ok(pidfd) => procfs::still_the_same(process) && pidfd.send_signal(sig as i32).is_ok(),
        Err(err) if err.raw_os_error() == Some(libc::ESRCH) => false,
        Err(_) => {
            procfs::still_the_same(process)
                && nix::sys::signal::kill(nix::unistd::Pid::from_raw(process.pid), sig).is_ok()
        }
    }
}
