//! Passes the signals tini-rs receives on to the main child.
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
use crate::signals::{self, RewriteTable, WaitSet};
use crate::sys::signal::Taken;
use crate::sys::{self, PidFd};
use std::io;
use std::sync::mpsc::{Sender, channel};
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
}

impl Forwarder {
    /// From now on, signals go to `target`.
    pub fn aim(self, target: Target) {
        // Only fails if the thread is gone, which it never is by itself.
        let _ = self.target.send(target);
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
    mut parent_death: Option<ParentDeath>,
) -> io::Result<Forwarder> {
    let (target_tx, target_rx) = channel::<Target>();
    crate::threads::start("forwarder", move || {
        let Ok(target) = target_rx.recv() else {
            return;
        };
        let mut delay = stop_delay;
        let mut held: Option<HeldStop> = None;
        loop {
            let taken = match &held {
                None => Some(waitset.wait()),
                Some(h) => waitset.wait_until(h.until),
            };
            let Some(taken) = taken else {
                // The delay is over.
                if let Some(h) = held.take() {
                    log::info!("Stop delay over; passing on {}", signals::name(h.sig));
                    forward(h.sig, &target, &rewrite);
                }
                continue;
            };
            if caused_by_ourselves(&taken) {
                continue;
            }
            let sig = taken.sig;
            if let Some(pd) = &mut parent_death
                && pd.reports_the_death(sig)
            {
                log::info!(
                    "Parent died; sending {} to the main child (-p)",
                    signals::name(pd.signal)
                );
                send(pd.signal, &target);
                continue;
            }
            let is_stop =
                (sig == libc::SIGTERM || sig == libc::SIGINT) && rewrite.map(sig).is_some();
            if is_stop {
                if let Some(tx) = &stop_requests {
                    let _ = tx.send(Event::StopRequested);
                }
                if let Some(h) = held.take() {
                    log::info!(
                        "{} received during the stop delay; passing on {} now",
                        signals::name(sig),
                        signals::name(h.sig)
                    );
                    forward(h.sig, &target, &rewrite);
                } else if let Some(d) = delay.take() {
                    log::info!(
                        "Holding {} for {d:?} (--stop-delay); other signals pass at once",
                        signals::name(sig)
                    );
                    held = Some(HeldStop {
                        sig,
                        until: Instant::now() + d,
                    });
                    continue;
                }
            }
            forward(sig, &target, &rewrite);
        }
    })?;
    Ok(Forwarder { target: target_tx })
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

fn forward(sig: i32, target: &Target, rewrite: &RewriteTable) {
    let Some(out) = rewrite.map(sig) else {
        log::debug!("Dropping signal {} (rewritten to 0)", signals::name(sig));
        return;
    };
    if out == sig {
        log::debug!("Passing signal: {}", signals::name(sig));
    } else {
        log::debug!(
            "Passing signal {} as {}",
            signals::name(sig),
            signals::name(out)
        );
    }
    send(out, target);
}

/// Sends `sig` to `target`, and says why not if it could not.
fn send(sig: i32, target: &Target) {
    let result = match target {
        Target::Process(pidfd) => pidfd.send_signal(sig),
        Target::ProcessByPid(pid) => sys::kill_process(*pid, sig),
        Target::Group(pgid) => sys::kill_process_group(*pgid, sig),
    };
    if let Err(err) = result {
        if !sys::is_gone(&err) {
            log::warn!(
                "Could not pass {} to the main child: {err}",
                signals::name(sig)
            );
        } else if let Target::Group(pgid) = target {
            // As tini warns: with -g, the group is gone while tini-rs still
            // runs only when the main child left it, which the user may
            // not expect.
            log::warn!(
                "The main child's process group {pgid} is gone; {} not passed on",
                signals::name(sig)
            );
        } else {
            // The main child is already gone (tini-rs runs on through a
            // grace period); nothing to pass it to.
            log::debug!("Main child is gone; {} not passed on", signals::name(sig));
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
