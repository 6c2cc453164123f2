//! Thin, named wrappers around the system calls tini-rs makes. nix serves
//! where it loses nothing; raw libc stays where nix cannot say what we need
//! (real-time signals, glibc's own signals 32/33, pidfds), and each such
//! site says why. Each returns an `io::Result`.

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A raw system call's return value: -1 (or any negative) means `errno`.
fn check_syscall(rc: libc::c_long) -> io::Result<libc::c_long> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// A pidfd names one process for its whole life: signalling through it can
/// never hit a process that later got the same pid.
pub struct PidFd(OwnedFd);

impl PidFd {
    /// `pidfd_open(2)`: a handle on the live (or zombie, not yet reaped)
    /// process `pid`.
    pub fn open(pid: libc::pid_t) -> io::Result<PidFd> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = check_syscall(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
        // SAFETY: the kernel just gave us this fd (close-on-exec); we own it.
        Ok(PidFd(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
    }

    /// `pidfd_send_signal(2)`: kill(2), but to exactly this process. Fails
    /// with ESRCH once the process has been reaped.
    pub fn send_signal(&self, sig: i32) -> io::Result<()> {
        let no_info = std::ptr::null::<libc::siginfo_t>();
        // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
        check_syscall(unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.0.as_raw_fd(),
                sig,
                no_info,
                0,
            )
        })?;
        Ok(())
    }
}

/// True when tini-rs is PID 1 of its PID namespace: the kernel re-parents
/// the namespace's orphans to it, and `kill(-1)` means the namespace.
pub fn is_pid1() -> bool {
    std::process::id() == 1
}

/// `kill(2)` to one process (`pid > 0`) or a process group (`pid < -1`).
/// Never used with -1: see [`kill_every_process_in_namespace`]. Raw libc:
/// forwarded signals may be real-time ones, which nix's `Signal` cannot name.
pub fn kill(pid: libc::pid_t, sig: i32) -> io::Result<()> {
    assert!(
        !(-1..=0).contains(&pid),
        "kill({pid}) would reach more than one process or group"
    );
    // SAFETY: kill(2) with plain integers.
    check_syscall(unsafe { libc::kill(pid, sig) }.into())?;
    Ok(())
}

/// `kill(-1, sig)`: every process we may signal. Only PID 1 of its own PID
/// namespace may do this, where "every process" means our namespace.
pub fn kill_every_process_in_namespace(sig: Signal) -> io::Result<()> {
    if !is_pid1() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "kill(-1) refused: not PID 1",
        ));
    }
    nix::sys::signal::kill(Pid::from_raw(-1), sig)?;
    Ok(())
}

/// Sends `sig` to tini-rs itself as a process-directed signal from
/// sigqueue(3) (SI_QUEUE), so the forwarder thread takes it off the queue
/// and passes it on like any signal from outside. (A SIGPIPE with SI_USER
/// from our own pid is the kernel's report of a write to a dead stderr,
/// which is not passed on.) Raw libc: nix has no sigqueue.
pub fn send_to_ourselves(sig: i32) -> io::Result<()> {
    // SAFETY: sigqueue(3) with our own pid, a valid signal and a zero value.
    let rc = unsafe {
        libc::sigqueue(
            std::process::id() as libc::pid_t,
            sig,
            libc::sigval {
                sival_ptr: std::ptr::null_mut(),
            },
        )
    };
    check_syscall(rc.into())?;
    Ok(())
}

/// `prctl(PR_SET_CHILD_SUBREAPER, 1)`: orphans below us come to us.
pub fn become_subreaper() -> io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true)?;
    Ok(())
}

/// `prctl(PR_GET_CHILD_SUBREAPER)`: the bit survives exec, so a parent may
/// have made tini-rs a subreaper already (tini checks this too).
pub fn is_subreaper() -> bool {
    nix::sys::prctl::get_child_subreaper().unwrap_or(false)
}

/// `prctl(PR_SET_PDEATHSIG, sig)`: the kernel sends us `sig` when our
/// parent exits. Raw libc: `-p` takes real-time signals too, and nix's
/// `set_pdeathsig` only takes a `Signal`, which cannot name them.
pub fn set_parent_death_signal(sig: i32) -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    check_syscall(
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) }.into(),
    )?;
    Ok(())
}

/// Closes every descriptor from `first` up: close_range(2) (Linux 5.9),
/// else each one /proc/self/fd lists. Raw libc: nix has no close_range.
pub fn close_descriptors_from(first: i32) -> io::Result<()> {
    // SAFETY: close_range takes plain integers; nothing of ours above
    // `first` is in use (the caller's contract).
    let rc = unsafe { libc::close_range(first as libc::c_uint, libc::c_uint::MAX, 0) };
    if check_syscall(rc.into()).is_ok() {
        return Ok(());
    }
    // Listed first, closed after: the listing's own descriptor is among
    // them, and closing it again only gives EBADF.
    let open: Vec<i32> = std::fs::read_dir("/proc/self/fd")?
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd >= first)
        .collect();
    for fd in open {
        let _ = nix::unistd::close(fd);
    }
    Ok(())
}

impl PidFd {
    /// A second descriptor for the same process.
    pub fn try_clone(&self) -> io::Result<PidFd> {
        Ok(PidFd(self.0.try_clone()?))
    }
}

/// The kernel's `struct sigaction` as rt_sigaction(2) takes it (handler,
/// flags, restorer, mask); all this module needs for SIG_DFL and SIG_IGN.
///
/// The layout is x86_64's. Architectures without `sa_restorer` (aarch64,
/// riscv64) have handler, flags, mask: 24 bytes, where this struct has 32.
/// It still serves there, because the handler comes first everywhere
/// (except MIPS), everything after it is zero when setting (the kernel
/// reads our zero `restorer` as an empty mask), only the handler is read
/// back, and the kernel never writes more than its own struct's size.
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

impl KernelSigaction {
    fn with_handler(handler: libc::sighandler_t) -> Self {
        KernelSigaction {
            handler,
            flags: 0,
            restorer: 0,
            mask: 0,
        }
    }
}

/// The raw rt_sigaction(2): glibc's sigaction refuses its own signals 32
/// and 33. Async-signal-safe.
fn rt_sigaction(
    sig: i32,
    new: *const KernelSigaction,
    old: *mut KernelSigaction,
) -> io::Result<()> {
    // SAFETY: `new` is null or a complete kernel sigaction without a handler
    // function (so no restorer is needed); `old` is null or writable and as
    // large as the kernel's struct; 8 is the kernel's sigset size.
    check_syscall(unsafe { libc::syscall(libc::SYS_rt_sigaction, sig, new, old, 8usize) })?;
    Ok(())
}

/// The disposition of `sig` (SIG_DFL, SIG_IGN or a handler address).
pub fn raw_disposition(sig: i32) -> io::Result<libc::sighandler_t> {
    let mut old = KernelSigaction::with_handler(0);
    rt_sigaction(sig, std::ptr::null(), &mut old)?;
    Ok(old.handler)
}

/// Sets `sig` to SIG_DFL or SIG_IGN.
pub fn set_raw_disposition(sig: i32, disposition: libc::sighandler_t) -> io::Result<()> {
    debug_assert!(disposition == libc::SIG_DFL || disposition == libc::SIG_IGN);
    rt_sigaction(
        sig,
        &KernelSigaction::with_handler(disposition),
        std::ptr::null_mut(),
    )
}

/// `ioctl(0, TIOCNOTTY)`: tini-rs gives up its controlling terminal (stdin)
/// so that the main child's new session can take it. When tini-rs leads
/// its session, the kernel then sends SIGHUP and SIGCONT to the terminal's
/// foreground group. Raw libc: nix has no wrapper for this ioctl.
pub fn give_up_controlling_terminal() -> io::Result<()> {
    // SAFETY: TIOCNOTTY takes no argument; fd 0 is only read by the kernel.
    check_syscall(unsafe { libc::ioctl(libc::STDIN_FILENO, libc::TIOCNOTTY) }.into())?;
    Ok(())
}

/// `ioctl(0, TIOCSCTTY, 0)`, in a forked child that has just made its own
/// session: stdin's terminal becomes its controlling terminal (if no other
/// session holds it). Async-signal-safe. Raw libc: nix has no wrapper.
pub fn take_controlling_terminal() -> io::Result<()> {
    // SAFETY: TIOCSCTTY with 0 (do not steal it from another session).
    check_syscall(unsafe { libc::ioctl(libc::STDIN_FILENO, libc::TIOCSCTTY, 0) }.into())?;
    Ok(())
}

/// True when tini-rs leads its own session.
pub fn is_session_leader() -> bool {
    nix::unistd::getsid(None).is_ok_and(|sid| sid == nix::unistd::getpid())
}

/// Writes `bytes` to stderr with one write(2) and no allocation, for a
/// forked child before exec. Async-signal-safe; a failure is ignored.
pub fn write_stderr_in_child(bytes: &[u8]) {
    // std's Stderr names fd 2 without locking or buffering anything.
    let _ = nix::unistd::write(std::io::stderr(), bytes);
}
