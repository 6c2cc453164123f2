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

/// The kernel's `struct sigaction` as rt_sigaction(2) takes it, laid out
/// per architecture as the kernel's include/linux/signal_types.h does (it
/// is not glibc's `struct sigaction`, which the `libc` crate describes):
/// - MIPS puts a 32-bit `flags` before the handler, and its signal set has
///   128 bits where every other architecture has 64;
/// - x86, ARM (32 and 64 bits), PowerPC and s390x have an `sa_restorer`
///   between flags and mask; RISC-V has none;
/// - the mask is an array of `unsigned long`, so on 32-bit targets it is
///   4-byte aligned and follows the restorer without padding (a `u64` there
///   would leave a hole on 32-bit ARM that the kernel reads as the mask).
///
/// An architecture not listed here does not compile (see `compile_error!`
/// below) rather than run with a guessed layout.
#[repr(C)]
struct KernelSigaction {
    #[cfg(target_arch = "mips64")]
    flags: libc::c_uint,
    handler: libc::sighandler_t,
    #[cfg(not(target_arch = "mips64"))]
    flags: libc::c_ulong,
    #[cfg(not(any(target_arch = "riscv64", target_arch = "mips64")))]
    restorer: usize,
    mask: [libc::c_ulong; SIGSET_WORDS],
}

#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "x86",
    target_arch = "aarch64",
    target_arch = "arm",
    target_arch = "powerpc64",
    target_arch = "s390x",
    target_arch = "mips64",
    target_arch = "riscv64",
)))]
compile_error!("KernelSigaction's layout is not known for this architecture: add it to src/sys.rs");

/// The kernel's signal set size in bits (`_NSIG`): 128 on MIPS, 64 elsewhere.
const KERNEL_NSIG: usize = if cfg!(target_arch = "mips64") {
    128
} else {
    64
};
const SIGSET_WORDS: usize = KERNEL_NSIG / (8 * std::mem::size_of::<libc::c_ulong>());

impl KernelSigaction {
    fn with_handler(handler: libc::sighandler_t) -> Self {
        KernelSigaction {
            handler,
            flags: 0,
            #[cfg(not(any(target_arch = "riscv64", target_arch = "mips64")))]
            restorer: 0,
            mask: [0; SIGSET_WORDS],
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
    // function (so no restorer is needed); `old` is null or writable and
    // exactly the kernel's struct (see KernelSigaction); the last argument is
    // the kernel's sigset size, which it checks.
    check_syscall(unsafe {
        libc::syscall(libc::SYS_rt_sigaction, sig, new, old, KERNEL_NSIG / 8)
    })?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel writes its whole `struct sigaction` for the old action,
    /// and not a byte more: into a buffer of marker bytes, the bytes it
    /// overwrote (with zeros, for a default disposition) must be exactly
    /// `KernelSigaction`'s size. A layout taken from another architecture
    /// is too long (x86_64's on riscv64, a padded mask on 32-bit ARM) or
    /// makes the call fail (MIPS's 128-bit signal set).
    #[test]
    fn kernel_sigaction_is_exactly_what_the_kernel_writes() {
        const MARK: u8 = 0xA5;
        #[repr(C, align(16))]
        struct Aligned([u8; 256]);
        // SIGURG: default disposition here, and the kernel then reports
        // handler, flags, restorer and mask all zero.
        let mut buf = Aligned([MARK; 256]);
        let buf = &mut buf.0;
        let old = buf.as_mut_ptr().cast::<KernelSigaction>();
        assert_eq!(old.align_offset(std::mem::align_of::<KernelSigaction>()), 0);
        rt_sigaction(libc::SIGURG, std::ptr::null(), old).expect("rt_sigaction");
        let written = buf.iter().rposition(|&b| b != MARK).map_or(0, |i| i + 1);
        assert_eq!(written, std::mem::size_of::<KernelSigaction>());
    }

    /// Set and read back through the raw call. A real-time signal no test
    /// uses; not 32 or 33, whose glibc handlers this test process needs.
    #[test]
    fn raw_disposition_round_trips() {
        let sig = libc::SIGRTMIN() + 3;
        set_raw_disposition(sig, libc::SIG_IGN).expect("set SIG_IGN");
        assert_eq!(raw_disposition(sig).expect("read"), libc::SIG_IGN);
        set_raw_disposition(sig, libc::SIG_DFL).expect("set SIG_DFL");
        assert_eq!(raw_disposition(sig).expect("read"), libc::SIG_DFL);
    }
}
