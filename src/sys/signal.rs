//! Signal calls: dispositions (raw rt_sigaction, since glibc refuses its
//! own signals 32 and 33), signal sets that hold any signal number, the
//! thread's mask, and taking signals off the queue with sigwaitinfo(2).

use nix::sys::signal::{SigSet, SigmaskHow};
use std::io;
use std::mem::MaybeUninit;
use std::time::Duration;

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
compile_error!(
    "KernelSigaction's layout is not known for this architecture: add it to src/sys/signal.rs"
);

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
    super::check_syscall(unsafe {
        libc::syscall(libc::SYS_rt_sigaction, sig, new, old, KERNEL_NSIG / 8)
    })?;
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
        rt_sigaction(libc::SIGURG, std::ptr::null(), old).expect("rt_sigaction");
        let written = buf.iter().rposition(|&b| b != MARK).map_or(0, |i| i + 1);
        assert_eq!(written, std::mem::size_of::<KernelSigaction>());
    }

    /// Set and read back through the raw call. A real-time signal no test
    /// uses; not 32 or 33, whose glibc handlers this test process needs.
    #[test]
    fn disposition_round_trips() {
        let sig = libc::SIGRTMIN() + 3;
        set_disposition(sig, true).expect("set SIG_IGN");
        assert_eq!(disposition(sig).expect("read"), Disposition::Ignore);
        set_disposition(sig, false).expect("set SIG_DFL");
        assert_eq!(disposition(sig).expect("read"), Disposition::Default);
    }
}
