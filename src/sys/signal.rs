//! Signal calls: dispositions (raw rt_sigaction, since glibc refuses its
//! own signals 32 and 33), signal sets that hold any signal number, the
//! thread's mask, and taking signals off the queue with sigwaitinfo(2).

use nix::sys::signal::{SigSet, SigmaskHow};
use std::io;
use std::mem::MaybeUninit;
use std::time::Duration;

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
    super::check_syscall(unsafe { libc::syscall(libc::SYS_rt_sigaction, sig, new, old, 8usize) })?;
    Ok(())
}

/// What a signal does when it arrives, as far as tini-rs sets or reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Default,
    Ignore,
    /// A handler function (tini-rs installs none; a parent cannot pass one
    /// through exec, so this is only ever seen in theory).
    Handler,
}

/// The disposition of `sig`.
pub fn disposition(sig: i32) -> io::Result<Disposition> {
    let mut old = KernelSigaction::with_handler(0);
    rt_sigaction(sig, std::ptr::null(), &mut old)?;
    Ok(match old.handler {
        libc::SIG_DFL => Disposition::Default,
        libc::SIG_IGN => Disposition::Ignore,
        _ => Disposition::Handler,
    })
}

/// Sets `sig` to its default action or to ignored. Async-signal-safe and
/// allocates nothing (the forked child calls it before exec).
pub fn set_disposition(sig: i32, ignore: bool) -> io::Result<()> {
    let handler = if ignore { libc::SIG_IGN } else { libc::SIG_DFL };
    rt_sigaction(
        sig,
        &KernelSigaction::with_handler(handler),
        std::ptr::null_mut(),
    )
}

/// A set of signals that can hold any signal number, glibc's 32 and 33
/// included (glibc's sigaddset and nix's `SigSet` refuse those, and nix's
/// cannot name real-time signals at all).
#[derive(Clone, Copy)]
pub struct SignalSet(libc::sigset_t);

impl SignalSet {
    pub fn empty() -> SignalSet {
        let mut set = MaybeUninit::<libc::sigset_t>::zeroed();
        // SAFETY: sigemptyset initialises the set (zeroed is empty anyway).
        SignalSet(unsafe {
            libc::sigemptyset(set.as_mut_ptr());
            set.assume_init()
        })
    }

    pub fn of(signals: impl IntoIterator<Item = i32>) -> SignalSet {
        let mut set = SignalSet::empty();
        for sig in signals {
            set.add(sig);
        }
        set
    }

    /// Adds `sig` (1..=SIGRTMAX; anything else is left out). The set is a
    /// plain bit array (bit N-1 for signal N) that the kernel and
    /// posix_spawn read bit by bit, so it is written directly.
    pub fn add(&mut self, sig: i32) {
        const WORD_BITS: usize = 8 * std::mem::size_of::<libc::c_ulong>();
        const WORDS: usize =
            std::mem::size_of::<libc::sigset_t>() / std::mem::size_of::<libc::c_ulong>();
        if !(1..=libc::SIGRTMAX()).contains(&sig) {
            return;
        }
        let bit = (sig - 1) as usize;
        // SAFETY: sigset_t is an array of WORDS c_ulongs on Linux; `bit` is
        // below SIGRTMAX, well inside it.
        let words =
            unsafe { &mut *(&mut self.0 as *mut libc::sigset_t).cast::<[libc::c_ulong; WORDS]>() };
        words[bit / WORD_BITS] |= 1 << (bit % WORD_BITS);
    }

    pub fn contains(&self, sig: i32) -> bool {
        // SAFETY: sigismember only reads a valid set.
        unsafe { libc::sigismember(&self.0, sig) == 1 }
    }

    /// The C library's view, for posix_spawn's attributes.
    pub fn as_raw(&self) -> &libc::sigset_t {
        &self.0
    }

    /// Blocks until one of the signals is pending and takes it off the
    /// queue (sigwaitinfo), or gives up after `timeout` (sigtimedwait).
    /// `Ok(None)` on a timeout or EINTR (a stop and continue). Any other
    /// error (a seccomp profile's EPERM, ENOSYS) is returned: retrying it
    /// would spin. The signals must be blocked in every thread. Raw libc:
    /// nix's sigwait gives no siginfo, no timeout and no real-time signals.
    pub fn take(&self, timeout: Option<Duration>) -> io::Result<Option<Taken>> {
        let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
        // SAFETY: a valid set, a valid timespec if any, and room for the
        // siginfo the kernel writes.
        let sig = unsafe {
            match timeout {
                None => libc::sigwaitinfo(&self.0, info.as_mut_ptr()),
                Some(left) => {
                    let left = libc::timespec {
                        tv_sec: left.as_secs().try_into().unwrap_or(libc::time_t::MAX),
                        // Below 10^9, so it fits a 32-bit c_long too.
                        tv_nsec: left.subsec_nanos() as libc::c_long,
                    };
                    libc::sigtimedwait(&self.0, info.as_mut_ptr(), &left)
                }
            }
        };
        if sig <= 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(None),
                _ => Err(err),
            };
        }
        // SAFETY: filled in by the successful call.
        let info = unsafe { info.assume_init() };
        Ok(Some(Taken::from_info(sig, &info)))
    }
}

/// A signal taken off the queue, with what tini-rs needs of its siginfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    pub sig: i32,
    /// Sent by kill(2) (SI_USER) from this pid; `None` for any other origin
    /// (sigqueue, the kernel).
    pub killed_by: Option<libc::pid_t>,
}

impl Taken {
    pub fn from_info(sig: i32, info: &libc::siginfo_t) -> Taken {
        let killed_by = (info.si_code == libc::SI_USER).then(|| {
            // SAFETY: si_pid is valid to read for SI_USER.
            unsafe { info.si_pid() }
        });
        Taken { sig, killed_by }
    }
}

/// Blocks every signal in the calling thread. Threads created afterwards
/// inherit the mask.
pub fn block_all_in_this_thread() -> io::Result<()> {
    SigSet::all().thread_block()?;
    Ok(())
}

/// The calling thread's signal mask. nix keeps the whole kernel set,
/// real-time signals included; asking cannot fail, the empty set is the
/// fallback.
pub fn this_thread_mask() -> SignalSet {
    let mask = SigSet::thread_get_mask().unwrap_or_else(|_| SigSet::empty());
    SignalSet(*mask.as_ref())
}

/// Sets the calling thread's signal mask. Async-signal-safe
/// (pthread_sigmask), for the forked child before exec.
pub fn set_this_thread_mask(mask: &SignalSet) -> io::Result<()> {
    // SAFETY: pthread_sigmask with a valid set and no old set. Raw libc:
    // nix's SigSet cannot be made from a raw sigset_t.
    let rc = unsafe {
        libc::pthread_sigmask(
            SigmaskHow::SIG_SETMASK as i32,
            &mask.0,
            std::ptr::null_mut(),
        )
    };
    super::check_returned_errno(rc)
}
