//! A clean, bounded shutdown of every descendant (`--grace-period`).
//!
//! With `--grace-period T` the clock starts at the first of: SIGTERM/SIGINT
//! received, or the main child exiting (with `--wait-all`, only the
//! first: see `wait_all`). While the main child lives the other
//! descendants are left alone (a master may be draining its workers). Once
//! it is gone they get SIGTERM: as PID 1 with one `kill(-1)`, which the
//! kernel applies atomically to the whole namespace; as a subreaper by
//! walking our own descendants in /proc, again and again, so that processes
//! forked meanwhile are not missed. At the deadline every survivor, the main
//! child included, gets SIGKILL, and again every 20 ms for forks that raced
//! it. The reaper keeps reaping throughout, and tini-rs returns only when it
//! reports that no child is left.
//!
//! [`GracePeriod::start`] is the one way in, for a run with a main child and
//! for pause mode alike: it starts the reaper thread before any child
//! exists. One blocking call then runs the whole end of life:
//! [`GracePeriod::run_until_every_descendant_is_gone`], or in pause mode
//! [`GracePeriod::stop_every_descendant`].

use crate::event::{Event, Events};
use crate::one_thread::OneLoop;
use crate::procfs::{self, CannotWalk, Process, Walk};
use crate::reaper::{self, Reaper};
use crate::status::WaitStatus;
use crate::sys::{self, PidFd};
use crate::threads;
use std::collections::HashSet;
use std::io;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

/// How often a subreaper looks for descendants it has not signalled yet.
const RESCAN_INTERVAL: Duration = Duration::from_millis(100);
/// How often survivors of SIGKILL (new forks) are looked for after the deadline.
const KILL_RESCAN_INTERVAL: Duration = Duration::from_millis(20);

/// A run with a grace period: the reaper thread, and the channel on which
/// it and the forwarder tell the main thread what happened.
pub struct GracePeriod {
    grace: Duration,
    reaper: Reaper,
    events: Receiver<Event>,
    /// Held for the whole run, so `events` can never be disconnected: a
    /// receive only ever returns an event or times out.
    events_tx: Sender<Event>,
}

impl GracePeriod {
    /// Starts the reaper thread. Call it before the main child exists
    /// (failing later would leave the child running on, orphaned) and, in
    /// pause mode, before the pause (failing at the stop would leave the
    /// descendants without their bounded shutdown).
    pub fn start(grace: Duration, warn_on_reap: bool) -> io::Result<GracePeriod> {
        let (events_tx, events) = channel::<Event>();
        let reaper = reaper::start(warn_on_reap, events_tx.clone())?;
        Ok(GracePeriod {
            grace,
            reaper,
            events,
            events_tx,
        })
    }

    /// Where the forwarder reports SIGTERM and SIGINT, which start the clock.
    pub fn stop_requests(&self) -> Sender<Event> {
        self.events_tx.clone()
    }

    /// Blocks through the whole end of life: until the main child `pid`
    /// (signalled through `pidfd` where there is one) has exited, its
    /// siblings and their descendants have been stopped within the grace
    /// period, and no child is left. Returns the main child's raw wait
    /// status; `None` if it was lost (see [`Event::ReaperFailed`]).
    pub fn run_until_every_descendant_is_gone(
        self,
        pid: libc::pid_t,
        pidfd: Option<PidFd>,
        wait_all: bool,
    ) -> Option<WaitStatus> {
        // Before the reaper learns the pid: nobody waits for the main child
        // yet, so it cannot have been reaped and its pid reused.
        let main_child = MainChild::new(pid, pidfd);
        self.reaper.watch(Some(pid));
        let mut events = self.events;
        EndOfLife::new(self.grace, Some(main_child), wait_all).run(&mut events)
    }

    /// Pause mode (`-P`), at SIGTERM or SIGINT: every descendant is asked to
    /// stop now, killed at the deadline, and reaped; blocks until none is
    /// left.
    pub fn stop_every_descendant(self) {
        // The reaper thread takes over from here: blocking in waitpid(-1)
        // now ends, with ECHILD, exactly when the last descendant is gone.
        let _ = self.events_tx.send(Event::StopRequested);
        self.reaper.watch(None);
        let mut events = self.events;
        EndOfLife::new(self.grace, None, false).run(&mut events);
    }

    /// Gives up the reaper thread before any child exists (tini-rs then
    /// runs single-threaded), and waits until it is gone.
    pub fn abandon(self) {
        self.reaper.stop();
    }
}

/// The same end of life without helper threads (see `one_thread`): the
/// single loop reaps and forwards, and its events drive the clock. With
/// `main_child` (its pid and pidfd, if any) as
/// [`GracePeriod::run_until_every_descendant_is_gone`]; without, as pause
/// mode's [`GracePeriod::stop_every_descendant`], the stop already
/// requested. Call it before the loop has reaped anything.
pub fn run_single_threaded(
    grace: Duration,
    mut events: OneLoop,
    main_child: Option<(libc::pid_t, Option<PidFd>)>,
    wait_all: bool,
) -> Option<WaitStatus> {
    let main_child = main_child.map(|(pid, pidfd)| MainChild::new(pid, pidfd));
    EndOfLife::new(grace, main_child, wait_all).run(&mut events)
}

/// The main child as the shutdown knows it: its pidfd where the kernel gives
/// one, else its /proc entry, to check the pid still names it before
/// signalling by pid.
struct MainChild {
    pid: libc::pid_t,
    pidfd: Option<PidFd>,
    process: Option<Process>,
}

impl MainChild {
    /// Reads the main child's /proc entry when there is no pidfd. Call it
    /// before the reaper may reap the main child.
    fn new(pid: libc::pid_t, pidfd: Option<PidFd>) -> MainChild {
        let process = pidfd.is_none().then(|| procfs::read_process(pid)).flatten();
        MainChild {
            pid,
            pidfd,
            process,
        }
    }

    /// SIGKILL to the main child, unless it is gone. Call it only before the
    /// reaper reported its exit. The pidfd is closed after: later passes
    /// find the main child in the walk, which may need that descriptor.
    /// Without a pidfd, by pid after the check through /proc; where /proc
    /// cannot check it (foreign: the entry read at spawn was another
    /// process's; or none was read), by pid alone, as the forwarder signals
    /// it: our own child whose exit is unreported still has its pid.
    fn kill(&mut self, proc_is_ours: bool) -> bool {
        match (self.pidfd.take(), &self.process) {
            (Some(pidfd), _) => pidfd.send_signal(libc::SIGKILL).is_ok(),
            (None, Some(process)) if proc_is_ours => signal_descendant(process, libc::SIGKILL),
            (None, _) => sys::kill_process(self.pid, libc::SIGKILL).is_ok(),
        }
    }
}

/// The main thread's side of the end of life: it waits for the reaper's
/// and the forwarder's events and keeps the clock.
struct EndOfLife {
    grace: Duration,
    /// Until the reaper reports its exit; `None` from the start in pause
    /// mode. While it lives, the other descendants are left alone.
    main_child: Option<MainChild>,
    /// The main child's raw wait status, once reported.
    main_status: Option<WaitStatus>,
    /// Once the clock has started.
    stopping: Option<Stopping>,
    /// `--wait-all`: the main child's exit does not start the clock; only a
    /// stop request does.
    wait_all: bool,
}

impl EndOfLife {
    fn new(grace: Duration, main_child: Option<MainChild>, wait_all: bool) -> EndOfLife {
        EndOfLife {
            grace,
            main_child,
            main_status: None,
            stopping: None,
            wait_all,
        }
    }

    fn main_gone(&self) -> bool {
        self.main_child.is_none()
    }

    /// Returns once the reaper reports that no child is left (or that it
    /// failed), with the main child's status if it was reported.
    fn run(mut self, events: &mut impl Events) -> Option<WaitStatus> {
        loop {
            // `None`: the wake-up time came with no event, so there is work.
            // Nothing is happening before the clock starts: block, zero
            // wake-ups.
            let timeout = self
                .stopping
                .as_ref()
                .map(|s| s.next_wake(self.main_gone()));
            let event = events.next(timeout);
            match event {
                Some(Event::StopRequested) => self.on_stop_requested(),
                Some(Event::MainExited(status)) => self.on_main_exited(status),
                Some(Event::NoChildren | Event::ReaperFailed) => {
                    if let Some(s) = &self.stopping {
                        s.report();
                    }
                    return self.main_status;
                }
                None => self.on_wake_up(),
            }
        }
    }

    fn on_stop_requested(&mut self) {
        if self.stopping.is_some() {
            return;
        }
        log::info!(
            "Shutdown: stop signal received; everything has {:?} from now",
            self.grace
        );
        let main_gone = self.main_gone();
        let s = self.stopping.insert(Stopping::new(self.grace));
        if main_gone {
            s.terminate_descendants();
        }
    }

    fn on_main_exited(&mut self, status: WaitStatus) {
        self.main_status = Some(status);
        self.main_child = None;
        if self.wait_all && self.stopping.is_none() {
            // Blocks again, zero wake-ups, until a stop request or the
            // last descendant's exit.
            return;
        }
        let s = match &mut self.stopping {
            Some(s) => {
                log::info!(
                    "Shutdown: main child exited {} ms after the stop signal; stopping the other descendants",
                    s.started.elapsed().as_millis()
                );
                s
            }
            None => {
                log::info!(
                    "Shutdown: main child exited; the other descendants have {:?} from now",
                    self.grace
                );
                self.stopping.insert(Stopping::new(self.grace))
            }
        };
        s.terminate_descendants();
    }

    fn on_wake_up(&mut self) {
        let main_gone = self.main_gone();
        let Some(s) = &mut self.stopping else {
            return;
        };
        if Instant::now() >= s.deadline {
            s.kill_everything(self.main_child.as_mut());
        } else if main_gone {
            s.terminate_descendants();
        }
    }
}

/// The state of a shutdown in progress.
struct Stopping {
    started: Instant,
    deadline: Instant,
    /// Processes sent SIGTERM, by (pid, start time) so a reused pid is a new process.
    terminated: HashSet<(libc::pid_t, u64)>,
    /// Processes sent SIGKILL (the main child included).
    killed: usize,
    /// Of those, the ones sent SIGTERM first: the rest of `terminated`
    /// exited by themselves. (A process forked after the last SIGTERM pass
    /// is SIGKILLed without ever being asked nicely.)
    killed_after_sigterm: usize,
    killed_at_deadline: bool,
    as_pid1: bool,
    /// As PID 1: the one kill(-1, SIGTERM) has been sent.
    terminated_namespace: bool,
    walk: Walk,
    /// Why the walk could not answer, each reason said once.
    told_proc_is_foreign: bool,
    told_proc_is_unreadable: bool,
}

impl Stopping {
    fn new(grace: Duration) -> Self {
        let started = Instant::now();
        Stopping {
            started,
            deadline: started + grace,
            terminated: HashSet::new(),
            killed: 0,
            killed_after_sigterm: 0,
            killed_at_deadline: false,
            as_pid1: sys::is_pid1(),
            terminated_namespace: false,
            walk: Walk::below(sys::own_pid()),
            told_proc_is_foreign: false,
            told_proc_is_unreadable: false,
        }
    }

    /// Our living descendants as /proc shows them; `None` when it cannot
    /// show them, which is said once. "Cannot look" never stops anything
    /// else: the main child is still signalled through its pidfd, as PID 1
    /// `kill(-1)` still reaches the namespace, and every later pass looks
    /// again (a /proc without a free descriptor may have one then).
    fn our_descendants(&mut self) -> Option<Vec<Process>> {
        match self.walk.living_descendants() {
            Ok(found) => Some(found),
            Err(why) => {
                let told = match why {
                    CannotWalk::Foreign(_) => &mut self.told_proc_is_foreign,
                    CannotWalk::Unreadable(_) => &mut self.told_proc_is_unreadable,
                };
                if !std::mem::replace(told, true) {
                    match why {
                        CannotWalk::Foreign(_) => log::warn!(
                            "Shutdown: {why}: its pids are not tini-rs's to signal, so the \
                             shutdown signals only the main child{}",
                            if self.as_pid1 {
                                " and, with kill(-1), the namespace"
                            } else {
                                "; other descendants are waited for until they exit"
                            }
                        ),
                        CannotWalk::Unreadable(_) => log::warn!(
                            "Shutdown: {why}; descendants are not signalled until it can be \
                             read (tried again on every pass)"
                        ),
                    }
                }
                None
            }
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
            let targets = self.our_descendants();
            if let Err(err) = sys::kill_every_process_in_namespace(libc::SIGTERM) {
                log::debug!("kill(-1, SIGTERM): {err}");
            }
            self.terminated_namespace = true;
            match targets {
                Some(targets) => {
                    self.terminated
                        .extend(targets.iter().map(|p| (p.pid, p.start_time)));
                    log::info!(
                        "Shutdown: sent SIGTERM to every process in the namespace ({})",
                        targets.len()
                    );
                }
                None => log::info!(
                    "Shutdown: sent SIGTERM to every process in the namespace (how many is not known)"
                ),
            }
            return;
        }
        for process in self.our_descendants().unwrap_or_default() {
            if self.terminated.contains(&(process.pid, process.start_time)) {
                continue;
            }
            if signal_descendant(&process, libc::SIGTERM) {
                log::debug!("Shutdown: SIGTERM to descendant {}", process.pid);
                self.terminated.insert((process.pid, process.start_time));
            }
        }
    }

    /// Past the deadline: SIGKILL to everything left, `main_child` (while
    /// its exit is unreported) included. Called on every wake-up from the
    /// deadline until the reaper reports that no child is left, so a fork
    /// that raced a pass is caught by the next; only the first pass counts
    /// and logs.
    fn kill_everything(&mut self, mut main_child: Option<&mut MainChild>) {
        let first_pass = !self.killed_at_deadline;
        self.killed_at_deadline = true;
        let proc_is_ours = self.walk.proc_is_foreign() == Some(false);
        if first_pass
            && let Some(main_child) = main_child.as_deref_mut()
            && main_child.kill(proc_is_ours)
        {
            // Through its pidfd (or by pid, see `kill`); later passes
            // find it in the walk, or kill(-1) reaches it.
            self.killed += 1;
            log::info!("Shutdown: grace period over; main child still running, sending SIGKILL");
        }
        let left = self.our_descendants().unwrap_or_default();
        if first_pass {
            let main_pid = main_child.map(|m| m.pid);
            for process in left.iter().filter(|p| Some(p.pid) != main_pid) {
                self.killed += 1;
                if self.terminated.contains(&(process.pid, process.start_time)) {
                    self.killed_after_sigterm += 1;
                }
            }
            if !left.is_empty() {
                log::info!(
                    "Shutdown: grace period over; sending SIGKILL to {} processes",
                    left.len()
                );
            }
        }
        if self.as_pid1 {
            if let Err(err) = sys::kill_every_process_in_namespace(libc::SIGKILL) {
                log::debug!("kill(-1, SIGKILL): {err}");
            }
            return;
        }
        for process in &left {
            signal_descendant(process, libc::SIGKILL);
        }
    }

    fn report(&self) {
        let terminated = self.terminated.len();
        log::info!(
            "Shutdown: done in {} ms: SIGTERM sent to {terminated}, {} exited by themselves, {} needed SIGKILL",
            self.started.elapsed().as_millis(),
            terminated.saturating_sub(self.killed_after_sigterm),
            self.killed
        );
    }
}

/// Signals a process found by a walk, after checking that its pid still
/// names the same process; one that has gone meanwhile is skipped, and so
/// is tini-rs itself or one of its threads, whatever the walk found.
/// Through a pidfd where the kernel gives one, with the check (same start
/// time) made while the pidfd pins the process, so a reused pid is never
/// hit. A pid that names a thread (pidfd_open's EINVAL) is never signalled.
/// Where no pidfd can be had (kernels before 5.3, seccomp profiles that
/// deny pidfd_open, no descriptor left), by pid, and only after checking
/// that the pid still names the same process below tini-rs (same start
/// time, its parent chain leading to tini-rs), which only a pid reused
/// between the check and the kill could defeat.
pub fn signal_descendant(process: &Process, sig: i32) -> bool {
    if threads::is_ours(process.pid) {
        return false;
    }
    match PidFd::open(process.pid) {
        Ok(pidfd) => match procfs::still_the_same(process) {
            Ok(same) => same && pidfd.send_signal(sig).is_ok(),
            // No descriptor left to read /proc beside the pidfd: let go of
            // it, then check and signal by pid.
            Err(_) => {
                drop(pidfd);
                signal_by_pid_after_check(process, sig)
            }
        },
        Err(err) if sys::is_gone(&err) || sys::is_not_a_process(&err) => false,
        Err(_) => signal_by_pid_after_check(process, sig),
    }
}

fn signal_by_pid_after_check(process: &Process, sig: i32) -> bool {
    procfs::still_below(process, sys::own_pid()) && sys::kill_process(process.pid, sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever a walk hands it, tini-rs never signals its own threads:
    /// pidfd_open refuses a thread id (EINVAL), and before the fix that
    /// fell back to kill(tid), which reaches the whole process. SIGWINCH
    /// (ignored by default) shows whether it was sent without harming the
    /// test.
    #[test]
    fn never_signals_one_of_our_own_threads() {
        let (tid, sent) = threads::with_a_running_thread(|tid| {
            let sent = procfs::read_process(tid).map(|p| signal_descendant(&p, libc::SIGWINCH));
            (tid, sent)
        });
        assert_eq!(sent, Some(false), "thread {tid} of ours was signalled");
    }

    /// The by-pid way signals a process below tini-rs, and nothing else:
    /// not a process that is no longer below it.
    #[test]
    fn by_pid_only_below_us() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let pid = child.id() as libc::pid_t;
        let found = procfs::read_process(pid).expect("the child's stat");
        let below = signal_by_pid_after_check(&found, libc::SIGWINCH);
        let _ = child.kill();
        let _ = child.wait();
        assert!(below, "our own child {pid} is below us");
        let own = procfs::read_process(sys::own_pid()).expect("our own stat");
        assert!(
            !signal_by_pid_after_check(&own, libc::SIGWINCH),
            "tini-rs is not below itself"
        );
        assert!(
            !signal_by_pid_after_check(&found, libc::SIGWINCH),
            "a reaped child is gone"
        );
    }
}
