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
use crate::signals::{self, RewriteTable};
use crate::sys::{self, PidFd};
use std::io;
use std::mem::MaybeUninit;
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;

/// The set of signals the forwarder waits for: every forwardable one.
pub struct WaitSet(libc::sigset_t);

/// Where forwarded signals go.
pub enum Target {
    /// The main child itself, through its pidfd.
    Process(PidFd),
    /// The main child by pid, on kernels without pidfds (before 5.3).
    ProcessByPid(libc::pid_t),
    /// The main child's process group (`-g`).
    Group(libc::pid_t),
}

/// Makes SIGTTIN and SIGTTOU ignored, the C library's own signals ignored
/// and SIGCHLD default, and returns the set the forwarder waits for. The
/// caller must have blocked every signal in this thread before starting any
/// other (main.rs does): from then on no forwardable signal can kill
/// tini-rs, and whatever arrives before the forwarder runs waits in the
/// kernel's queue.
pub fn install() -> io::Result<WaitSet> {
    let mut set = MaybeUninit::<libc::sigset_t>::zeroed();
    // SAFETY: sigemptyset initialises the set; sigaddset gets signal
    // numbers from `forwardable()`, which are all valid.
    let set = unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        for sig in signals::forwardable() {
            libc::sigaddset(set.as_mut_ptr(), sig);
        }
        set.assume_init()
    };
    for sig in [libc::SIGTTIN, libc::SIGTTOU] {
        // SAFETY: setting a standard signal to SIG_IGN.
        unsafe { libc::signal(sig, libc::SIG_IGN) };
    }
    signals::ignore_libc_reserved_signals();
    signals::stop_ignoring_sigchld();
    Ok(WaitSet(set))
}

/// The SIGPIPE the kernel raises when tini-rs itself writes to a stderr
/// whose reader is gone. Passing that on would hand the child a signal
/// nobody sent it. The kernel marks it as sent by us (SI_USER, our pid); a
/// SIGPIPE someone else sends is forwarded as usual.
fn caused_by_ourselves(sig: i32, info: &libc::siginfo_t) -> bool {
    // SAFETY: si_pid is valid to read for the user-sent codes (<= 0).
    sig == libc::SIGPIPE
        && info.si_code <= 0
        && unsafe { info.si_pid() } == std::process::id() as libc::pid_t
}

/// Starts the forwarder thread. With `stop_requests`, SIGTERM and SIGINT
/// (before rewriting) are also reported to the main thread, which starts the
/// grace period.
pub fn start(
    waitset: WaitSet,
    target: Target,
    rewrite: RewriteTable,
    stop_requests: Option<Sender<Event>>,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("forwarder".into())
        .stack_size(crate::THREAD_STACK_SIZE)
        .spawn(move || {
            loop {
                let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
                // SAFETY: a valid set, and room for the siginfo the kernel
                // writes. The signals are blocked here as everywhere, as
                // sigwaitinfo requires.
                let sig = unsafe { libc::sigwaitinfo(&waitset.0, info.as_mut_ptr()) };
                if sig < 0 {
                    // EINTR (a stop and continue) is the only error possible.
                    continue;
                }
                // SAFETY: filled in by the successful sigwaitinfo.
                if caused_by_ourselves(sig, unsafe { info.assume_init_ref() }) {
                    continue;
                }
                if let Some(tx) = &stop_requests
                    && (sig == libc::SIGTERM || sig == libc::SIGINT)
                {
                    let _ = tx.send(Event::StopRequested);
                }
                forward(sig, &target, &rewrite);
            }
        })
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
    let result = match target {
        Target::Process(pidfd) => pidfd.send_signal(out),
        Target::ProcessByPid(pid) => sys::kill(*pid, out),
        Target::Group(pgid) => sys::kill(-*pgid, out),
    };
    if let Err(err) = result {
        // ESRCH: the main child is already gone; nothing to pass it to.
        if err.raw_os_error() == Some(libc::ESRCH) {
            log::debug!("Main child is gone; {} not passed on", signals::name(out));
        } else {
            log::warn!(
                "Could not pass {} to the main child: {err}",
                signals::name(out)
            );
        }
    }
}
