//! Passes the signals tini-rs receives on to the main child.
//!
//! The line signal-hook draws is kept: the handler side (registered through
//! signal-hook's registry) only writes the signal number into a pipe, one
//! byte per delivery, which is async-signal-safe and keeps every real-time
//! signal and the order they came in. All decisions happen in the forwarder
//! thread, which blocks in read(2) on that pipe: zero syscalls while idle.

use crate::event::Event;
use crate::signals::{self, RewriteTable};
use crate::sys::{self, PidFd};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;

/// The read end of the pipe the signal handlers write to.
pub struct SignalPipe(OwnedFd);

/// Where forwarded signals go.
pub enum Target {
    /// The main child itself, through its pidfd.
    Process(PidFd),
    /// The main child by pid, on kernels without pidfds (before 5.3).
    ProcessByPid(libc::pid_t),
    /// The main child's process group (`-g`).
    Group(libc::pid_t),
}

/// Our own pid, for the handler to recognise signals we caused ourselves.
static OWN_PID: AtomicI32 = AtomicI32::new(0);

/// Installs a handler for every forwardable signal, makes SIGTTIN and
/// SIGTTOU ignored and SIGCHLD default. Call before spawning the child: from here on no
/// forwardable signal can kill tini-rs, and whatever arrives before the
/// forwarder runs waits in the pipe.
pub fn install() -> io::Result<SignalPipe> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 just created both descriptors; each is owned once.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // The handler must never block: a full pipe (65,536 undelivered signals)
    // drops the newest rather than hang a thread inside a handler.
    // SAFETY: fcntl on a descriptor we own.
    unsafe { libc::fcntl(write_end.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
    // The write end lives as long as the process: handlers may fire any time.
    let write_fd = std::mem::ManuallyDrop::new(write_end).as_raw_fd();
    OWN_PID.store(std::process::id() as i32, Ordering::Relaxed);

    for sig in signals::forwardable() {
        let byte = [sig as u8];
        let on_signal = move |info: &libc::siginfo_t| {
            if caused_by_ourselves(sig, info) {
                return;
            }
            // SAFETY: write(2) is async-signal-safe; the fd stays open for
            // the life of the process and `byte` lives in the closure.
            unsafe { libc::write(write_fd, byte.as_ptr().cast(), 1) };
        };
        // SAFETY: the action is async-signal-safe (one atomic load, one
        // write(2)); `sig` is not one of signal-hook's forbidden signals
        // because `forwardable()` excludes them.
        unsafe { signal_hook_registry::register_sigaction(sig, on_signal) }?;
        never_nest(sig)?;
    }
    for sig in [libc::SIGTTIN, libc::SIGTTOU] {
        // SAFETY: setting a standard signal to SIG_IGN.
        unsafe { libc::signal(sig, libc::SIG_IGN) };
    }
    signals::ignore_libc_reserved_signals();
    // Started with SIGCHLD ignored, the kernel would reap our children
    // itself and waitpid could never report the main child's status. The
    // child still gets the inherited disposition back (signals.rs).
    // SAFETY: setting a standard signal to SIG_DFL.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
    Ok(SignalPipe(read_end))
}

/// signal-hook installs its handler with an empty `sa_mask`, so while one
/// handler runs, any *other* pending signal interrupts it with a new frame on
/// the forwarder's 64 kB stack. A burst of distinct signals (31 real-time
/// numbers sent back to back) then nests 31 frames of several kB each,
/// overflows the stack and kills tini-rs with SIGSEGV; and nested handlers
/// run innermost first, so the pipe gets the burst in reverse order. Blocking
/// every forwardable signal while any handler runs keeps one frame at a time
/// and the kernel's delivery order (same signal FIFO, then lowest number).
fn never_nest(sig: i32) -> io::Result<()> {
    // SAFETY: sigaction reads and writes structs we own; the handler stays
    // the one signal-hook just installed, only its mask widens.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(sig, std::ptr::null(), &mut action) != 0 {
            return Err(io::Error::last_os_error());
        }
        libc::sigemptyset(&mut action.sa_mask);
        for other in signals::forwardable() {
            libc::sigaddset(&mut action.sa_mask, other);
        }
        if libc::sigaction(sig, &action, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The SIGPIPE the kernel raises when tini-rs itself writes to a stderr
/// whose reader is gone. Passing that on would hand the child a signal
/// nobody sent it. The kernel marks it as sent by us (SI_USER, our pid); a
/// SIGPIPE someone else sends is forwarded as usual.
fn caused_by_ourselves(sig: i32, info: &libc::siginfo_t) -> bool {
    // SAFETY: si_pid is valid to read for the user-sent codes (<= 0).
    sig == libc::SIGPIPE
        && info.si_code <= 0
        && unsafe { info.si_pid() } == OWN_PID.load(Ordering::Relaxed)
}

/// Starts the forwarder thread. With `stop_requests`, SIGTERM and SIGINT
/// (before rewriting) are also reported to the main thread, which starts the
/// grace period.
pub fn start(
    pipe: SignalPipe,
    target: Target,
    rewrite: RewriteTable,
    stop_requests: Option<Sender<Event>>,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("forwarder".into())
        .stack_size(crate::THREAD_STACK_SIZE)
        .spawn(move || {
            // This is the one thread with signals unblocked, so every
            // handler runs here and every other thread sleeps undisturbed.
            signals::unblock_in_this_thread(signals::forwardable());
            let mut buf = [0u8; 512];
            loop {
                // SAFETY: reading into a buffer we own, of the size we pass.
                let n =
                    unsafe { libc::read(pipe.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if n <= 0 {
                    if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    log::error!(
                        "signal pipe failed: {}; no more signals are forwarded",
                        io::Error::last_os_error()
                    );
                    return;
                }
                for &sig in &buf[..n as usize] {
                    let sig = i32::from(sig);
                    if let Some(tx) = &stop_requests
                        && (sig == libc::SIGTERM || sig == libc::SIGINT)
                    {
                        let _ = tx.send(Event::StopRequested);
                    }
                    forward(sig, &target, &rewrite);
                }
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
