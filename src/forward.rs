//! Passes the signals tini-rs receives on to the main child (with
//! `--wait-all`, once it has been reaped, to what is left: see `wait_all`).
//!
//! Every thread keeps every signal blocked, so the kernel queues a
//! forwardable signal for the process (blocked signals are never dropped,
//! not even for PID 1 without a handler) and the forwarder thread takes it
//! off the queue with sigwaitinfo(2). No handler ever runs: nothing to keep
//! async-signal-safe, no self-pipe, no nested handler frames however many
//! distinct signals arrive at once. One wake-up and one pidfd_send_signal
//! per signal; every real-time signal is kept, in the kernel's delivery
//! order (same signal FIFO, then lowest number); zero syscalls while idle.

use crate::event::Event;
use crate::logging;
use crate::signals::{self, RewriteTable, WaitSet};
use crate::sys::signal::Taken;
use crate::sys::{self, PidFd};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where forwarded signals go.
pub enum Target {
    /// The main child itself, through its pidfd.
    Process(PidFd),
    /// The main child by pid, where pidfds are missing (kernels before 5.3,
    /// seccomp profiles that deny pidfd_open).
    ProcessByPid(libc::pid_t),
    /// The main child's process group (`-g`).
    Group(libc::pid_t),
}

impl Target {
    /// For the debug log.
    pub fn describe(&self) -> String {
        match self {
            Target::Process(_) => "the main child, through its pidfd".to_string(),
            Target::ProcessByPid(pid) => format!("the main child by pid {pid} (no pidfd)"),
            Target::Group(pgid) => format!("the main child's process group {pgid} (-g)"),
        }
    }
}

/// The running forwarder, waiting to learn where signals go. Signals that
/// arrive meanwhile wait in the kernel's queue.
pub struct Forwarder {
    target: Sender<Target>,
    thread: JoinHandle<()>,
}

impl Forwarder {
    /// From now on, signals go to `target`.
    pub fn aim(self, target: Target) {
        // Only fails if the thread is gone, which it never is by itself.
        let _ = self.target.send(target);
    }

    /// Ends the thread before it has forwarded anything, and waits until
    /// it is gone.
    pub fn stop(self) {
        drop(self.target);
        let _ = self.thread.join();
    }
}

/// The SIGPIPE the kernel raises when tini-rs itself writes to a stderr
/// whose reader is gone. Passing that on would hand the child a signal
/// nobody sent it. The kernel marks it as sent by us (SI_USER, our pid); a
/// SIGPIPE someone else sends, or that tini-rs re-raises for `-p` (with
/// sigqueue: SI_QUEUE), is forwarded as usual.
fn caused_by_ourselves(taken: &Taken) -> bool {
    taken.sig == libc::SIGPIPE && taken.killed_by == Some(sys::own_pid())
}

/// `-p` with a signal the forwarder cannot take itself (see main.rs): the
/// kernel sends `stand_in` when the parent dies; taken while tini-rs's
/// parent is no longer `parent`, it means just that, and `signal` goes to
/// the main child (once; not rewritten: `-p` names what the child gets).
/// Taken while the parent lives, it is an ordinary signal and forwarded.
#[derive(Clone, Copy)]
pub struct ParentDeath {
    pub stand_in: i32,
    pub signal: i32,
    pub parent: u32,
}

/// The stand-in: the highest real-time signal, the one least likely to be
/// an application's own (they count up from SIGRTMIN).
pub fn parent_death_stand_in() -> i32 {
    signals::max_signal()
}

impl ParentDeath {
    /// True (once) when `sig` is the stand-in and the parent is gone.
    fn reports_the_death(&mut self, sig: i32) -> bool {
        let dead = sig == self.stand_in
            && self.parent != 0
            && std::os::unix::process::parent_id() != self.parent;
        if dead {
            // Only the first stand-in after the death is the kernel's.
            self.parent = 0;
        }
        dead
    }
}

/// dumb-init mode's differences in passing signals on.
pub struct DumbInitForwarding {
    /// Signals dropped the first time they come: the SIGHUP and SIGCONT the
    /// kernel sends when tini-rs, leading its session, gives up its terminal
    /// for the main child's new session.
    pub ignore_once: Vec<i32>,
}

/// Starts the forwarder thread; it forwards once [`Forwarder::aim`] says
/// where to. Start it before the main child exists: if the thread cannot
/// start, nothing is left behind. With `stop_requests`, SIGTERM and SIGINT
/// (before rewriting) are also reported to the main thread, which starts
/// the grace period; one that `--rewrite` drops is not a request to stop.
/// With `stop_delay`, the first such signal is held that long (see
/// [`HeldStop`]).
pub fn start(
    waitset: WaitSet,
    rewrite: RewriteTable,
    stop_requests: Option<Sender<Event>>,
    stop_delay: Option<Duration>,
    parent_death: Option<ParentDeath>,
    dumb_init: Option<DumbInitForwarding>,
) -> io::Result<Forwarder> {
    let (target_tx, target_rx) = channel::<Target>();
    let thread = crate::threads::start("forwarder", move || {
        let Ok(target) = target_rx.recv() else {
            return;
        };
        let mut forwarding = Forwarding::new(target, rewrite, stop_delay)
            .with_dumb_init(dumb_init)
            .with_parent_death(parent_death);
        loop {
            match forwarding.next_signal(&waitset, None) {
                Ok(Some(taken)) => forwarding.on_signal(&taken, || {
                    if let Some(tx) = &stop_requests {
                        let _ = tx.send(Event::StopRequested);
                    }
                }),
                // The delay is over: passed on at the next call.
                Ok(None) => {}
                Err(err) => {
                    // Never a loop that spins on a failing wait. Start-up
                    // checked that the wait works, so this cannot happen.
                    log::error!("sigwaitinfo failed: {err}; no more signals are passed on");
                    return;
                }
            }
        }
    })?;
    Ok(Forwarder {
        target: target_tx,
        thread,
    })
}

/// What happens to each signal taken off the queue: rewritten, held
/// (`--stop-delay`) or passed on to the target. The forwarder thread runs
/// one; without threads the single loop does (see `one_thread`).
pub struct Forwarding {
    target: Target,
    rewrite: RewriteTable,
    /// The stop delay, until it is used (only the first stop is held).
    delay: Option<Duration>,
    held: Option<HeldStop>,
    parent_death: Option<ParentDeath>,
    /// dumb-init mode (`None` in tini mode).
    dumb_init: Option<DumbInitForwarding>,
}

impl Forwarding {
    pub fn new(target: Target, rewrite: RewriteTable, stop_delay: Option<Duration>) -> Self {
        Forwarding {
            target,
            rewrite,
            delay: stop_delay,
            held: None,
            parent_death: None,
            dumb_init: None,
        }
    }

    /// `-p` with a signal that needs a stand-in (see [`ParentDeath`]).
    pub fn with_parent_death(mut self, parent_death: Option<ParentDeath>) -> Self {
        self.parent_death = parent_death;
        self
    }

    /// dumb-init mode: its debug lines, the one-time drops, and tini-rs
    /// stopping itself after SIGTSTP, SIGTTIN or SIGTTOU (as received,
    /// before rewriting), as dumb-init does.
    pub fn with_dumb_init(mut self, dumb_init: Option<DumbInitForwarding>) -> Self {
        self.dumb_init = dumb_init;
        self
    }

    /// Takes the next signal of `waitset` off the queue, waiting until
    /// `until` at the latest (`None`: as long as it takes) and no longer
    /// than a held stop signal's delay; first passes on a held stop signal
    /// whose delay is over. `Ok(None)`: the time came (`until`, or the held
    /// signal's delay, which the next call then passes on). The forwarder
    /// thread's wait and the single loop's.
    pub fn next_signal(
        &mut self,
        waitset: &WaitSet,
        until: Option<Instant>,
    ) -> io::Result<Option<Taken>> {
        self.pass_on_held_stop_if_due();
        let held_until = self.held.as_ref().map(|h| h.until);
        let wake = match (until, held_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        waitset.wait_until(wake)
    }

    /// Passes the held stop signal on once its delay is over.
    fn pass_on_held_stop_if_due(&mut self) {
        if self
            .held
            .as_ref()
            .is_some_and(|h| Instant::now() >= h.until)
            && let Some(h) = self.held.take()
        {
            log::info!("Stop delay over; passing on {}", signals::name(h.sig));
            forward(h.sig, &self.target, &self.rewrite);
        }
    }

    /// One signal taken off the queue. `stop_requested` is called for a
    /// SIGTERM or SIGINT that the rewrite table does not drop, before it is
    /// passed on or held.
    pub fn on_signal(&mut self, taken: &Taken, stop_requested: impl FnOnce()) {
        if caused_by_ourselves(taken) {
            return;
        }
        let sig = taken.sig;
        if let Some(pd) = &mut self.parent_death
            && pd.reports_the_death(sig)
        {
            log::info!(
                "Parent died; sending {} to the main child (-p)",
                signals::name(pd.signal)
            );
            send(pd.signal, &self.target);
            return;
        }
        if let Some(d) = &mut self.dumb_init {
            logging::dumb_init_debug(format_args!("Received signal {sig}."));
            if let Some(i) = d.ignore_once.iter().position(|&s| s == sig) {
                d.ignore_once.remove(i);
                logging::dumb_init_debug(format_args!("Ignoring tty hand-off signal {sig}."));
                return;
            }
        }
        let is_stop =
            (sig == libc::SIGTERM || sig == libc::SIGINT) && self.rewrite.map(sig).is_some();
        if is_stop {
            stop_requested();
            if let Some(h) = self.held.take() {
                log::info!(
                    "{} received during the stop delay; passing on {} now",
                    signals::name(sig),
                    signals::name(h.sig)
                );
                forward(h.sig, &self.target, &self.rewrite);
            } else if !crate::wait_all::stops_belong_to_the_shutdown()
                && let Some(d) = self.delay.take()
            {
                log::info!(
                    "Holding {} for {d:?} (--stop-delay); other signals pass at once",
                    signals::name(sig)
                );
                self.held = Some(HeldStop {
                    sig,
                    until: Instant::now() + d,
                });
                return;
            }
        }
        forward(sig, &self.target, &self.rewrite);
        if self.dumb_init.is_some() && crate::dumb_init::stops_itself_after(sig) {
            logging::dumb_init_debug(format_args!("Suspending self due to TTY signal."));
            if let Err(err) = sys::kill_process(sys::own_pid(), libc::SIGSTOP) {
                log::warn!("Could not stop tini-rs itself: {err}");
            }
        }
    }
}

/// `--stop-delay`: the first SIGTERM or SIGINT, held so that a load balancer
/// stops sending work before the application starts to stop. It is passed
/// on when the delay is over, or at once when a second SIGTERM or SIGINT
/// comes (which is passed on after it: no signal is lost). Only the first
/// is ever held. The grace period's clock starts when it arrives, so the
/// delay is spent inside the grace period, not added to it.
struct HeldStop {
    sig: i32,
    until: Instant,
}

/// Set once a signal could not be passed on for want of permission.
static WARNED_NOT_PERMITTED: AtomicBool = AtomicBool::new(false);

fn forward(sig: i32, target: &Target, rewrite: &RewriteTable) {
    let Some(out) = rewrite.map(sig) else {
        log::debug!("Dropping signal {} (rewritten to 0)", signals::name(sig));
        logging::dumb_init_debug(format_args!(
            "Not forwarding signal {sig} to children (ignored)."
        ));
        return;
    };
    if out != sig {
        logging::dumb_init_debug(format_args!("Translating signal {sig} to {out}."));
    }
    if out == sig {
        log::debug!("Passing signal: {}", signals::name(sig));
    } else {
        log::debug!(
            "Passing signal {} as {}",
            signals::name(sig),
            signals::name(out)
        );
    }
    // `--wait-all`, once the main child is gone: to what is left instead.
    if crate::wait_all::pass_on_to_descendants(sig, out) {
        return;
    }
    send(out, target);
}

/// Sends `sig` to `target`, and says why not if it could not.
fn send(sig: i32, target: &Target) {
    let out = sig;
    let result = match target {
        Target::Process(pidfd) => pidfd.send_signal(out),
        Target::ProcessByPid(pid) => sys::kill_process(*pid, out),
        Target::Group(pgid) => sys::kill_process_group(*pgid, out),
    };
    logging::dumb_init_debug(format_args!("Forwarded signal {out} to children."));
    if let Err(err) = result {
        if sys::is_gone(&err) {
            if let Target::Group(pgid) = target {
                // As tini warns: with -g, the group is gone while tini-rs
                // still runs only when the main child left it, which the
                // user may not expect.
                log::warn!(
                    "The main child's process group {pgid} is gone; {} not passed on",
                    signals::name(out)
                );
            } else {
                // The main child is already gone (tini-rs runs on through a
                // grace period); nothing to pass it to.
                log::debug!("Main child is gone; {} not passed on", signals::name(out));
            }
        } else if err.raw_os_error() == Some(libc::EPERM) {
            // A main child that changed user (setuid) while tini-rs runs
            // without privilege: every later signal fails the same way, so
            // the warning is given once and the rest go to the debug log.
            if WARNED_NOT_PERMITTED.swap(true, Ordering::Relaxed) {
                log::debug!("Not permitted to pass {}", signals::name(out));
            } else {
                log::warn!(
                    "Could not pass {} to the main child: {err} (it may run as another user); \
                     later signals that fail the same way are logged at debug level",
                    signals::name(out)
                );
            }
        } else {
            log::warn!(
                "Could not pass {} to the main child: {err}",
                signals::name(out)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In a forked child (single-threaded, so the signal is surely taken by
    /// sigwaitinfo here): blocks SIGPIPE, lets `send` raise it, and tells
    /// whether the forwarder would take it for our own broken-stderr SIGPIPE.
    fn seen_as_self_caused(send: fn()) -> bool {
        // SAFETY: the child makes only async-signal-safe calls (sigprocmask,
        // getpid, kill/sigqueue/write, sigwaitinfo, _exit) and never returns.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: plain signal-set calls and syscalls on our own memory.
            unsafe {
                let mut set = std::mem::zeroed::<libc::sigset_t>();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGPIPE);
                libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                send();
                let mut info = std::mem::zeroed::<libc::siginfo_t>();
                let sig = libc::sigwaitinfo(&set, &mut info);
                let code = if sig != libc::SIGPIPE {
                    3
                } else if caused_by_ourselves(&Taken::from_info(sig, &info)) {
                    1
                } else {
                    0
                };
                libc::_exit(code);
            }
        }
        let mut status = 0;
        // SAFETY: waiting for the child forked above.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status), "child status {status:#x}");
        match libc::WEXITSTATUS(status) {
            0 => false,
            1 => true,
            other => panic!("child failed with {other}"),
        }
    }

    #[test]
    fn own_broken_pipe_is_not_forwarded_but_a_reraised_sigpipe_is() {
        // A write to a pipe without a reader: the kernel's own SIGPIPE.
        assert!(seen_as_self_caused(|| {
            let mut fds = [0; 2];
            // SAFETY: pipe/close/write on descriptors this child owns.
            unsafe {
                libc::pipe(fds.as_mut_ptr());
                libc::close(fds[0]);
                libc::write(fds[1], b"x".as_ptr().cast(), 1);
            }
        }));
        // What main.rs does for `-p SIGPIPE` when the parent is already gone.
        assert!(!seen_as_self_caused(|| {
            let _ = sys::send_to_ourselves(libc::SIGPIPE);
        }));
    }
}
