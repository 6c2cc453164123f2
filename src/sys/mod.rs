//! The one home of tini-rs's system calls: every call into the kernel or
//! the C library that other modules need, once, as a safe function named
//! for what it means (`kill_process`, `kill_process_group`, not one `kill`
//! whose sign picks the meaning). Nothing outside `sys` makes a raw call.
//! nix serves where it loses nothing; raw libc stays where nix cannot say
//! what we need (real-time signals, glibc's own signals 32/33, pidfds,
//! close_range, posix_spawn's terminal action), and each such site says
//! why. Fallible calls return an `io::Result`. docs/DESIGN.md (section 15)
//! lists every call and what tini-rs does when a seccomp profile refuses it.
//!
//! - this file: processes (signalling them, pidfds, the subreaper and
//!   parent-death bits, whether the parent is in our PID namespace,
//!   descriptors, the working directory, malloc);
//! - `signal`: dispositions, signal sets and masks, sigwaitinfo;
//! - `wait`: waitpid;
//! - `spawn`: posix_spawn, fork and exec, the terminal.

pub mod signal;
pub mod spawn;
pub mod wait;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// A raw system call's return value: -1 (or any negative) means `errno`.
fn check_syscall(rc: libc::c_long) -> io::Result<libc::c_long> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// The C library's functions that return the error number itself (0 =
/// success): posix_spawn and its helpers.
fn check_returned_errno(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// True for the error of signalling a process that no longer exists (or,
/// for a pidfd, has been reaped).
pub fn is_gone(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::ESRCH)
}

/// True for pidfd_open's error for a pid that names a thread other than
/// its process's first (EINVAL): a thread, not a process.
pub fn is_not_a_process(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::EINVAL)
}

/// A pidfd names one process for its whole life: signalling through it can
/// never hit a process that later got the same pid.
pub struct PidFd {
    fd: OwnedFd,
    pid: libc::pid_t,
}

/// Set once `pidfd_send_signal` has been refused (seccomp's EPERM, or
/// ENOSYS) while `kill` to the same process worked: from then on every
/// pidfd signals by pid, without asking again.
static PIDFD_SIGNAL_REFUSED: AtomicBool = AtomicBool::new(false);

impl PidFd {
    /// `pidfd_open(2)`: a handle on the live (or zombie, not yet reaped)
    /// process `pid`.
    pub fn open(pid: libc::pid_t) -> io::Result<PidFd> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = check_syscall(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
        // SAFETY: the kernel just gave us this fd (close-on-exec); we own it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        Ok(PidFd { fd, pid })
    }

    /// `pidfd_send_signal(2)`: kill(2), but to exactly this process. Fails
    /// with ESRCH once the process has been reaped.
    ///
    /// Where a seccomp profile refuses the call (EPERM or ENOSYS, while
    /// pidfd_open is allowed) it signals by pid instead, and only while the
    /// pidfd says the process has not exited: a process that has not exited
    /// has not been reaped, so its pid is still its own. (A pidfd turns
    /// readable when its process exits.)
    pub fn send_signal(&self, sig: i32) -> io::Result<()> {
        if !PIDFD_SIGNAL_REFUSED.load(Ordering::Relaxed) {
            match self.pidfd_send_signal(sig) {
                Err(err) if is_refused(&err) => {
                    self.kill_while_alive(sig)?;
                    // kill worked where pidfd_send_signal did not: the call
                    // itself is refused, not this signal to this process.
                    if !PIDFD_SIGNAL_REFUSED.swap(true, Ordering::Relaxed) {
                        log::warn!(
                            "pidfd_send_signal refused ({err}); signalling processes by pid from now on"
                        );
                    }
                    return Ok(());
                }
                other => return other,
            }
        }
        self.kill_while_alive(sig)
    }

    fn pidfd_send_signal(&self, sig: i32) -> io::Result<()> {
        let no_info = std::ptr::null::<libc::siginfo_t>();
        // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
        check_syscall(unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                sig,
                no_info,
                0,
            )
        })?;
        Ok(())
    }

    /// kill(2) to our pid, unless a zero-timeout poll says the process has
    /// exited (ESRCH then, as pidfd_send_signal would say). A poll that
    /// fails says nothing either way; the kill goes ahead.
    fn kill_while_alive(&self, sig: i32) -> io::Result<()> {
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::ZERO).is_ok_and(|ready| ready > 0) {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        kill_process(self.pid, sig)
    }

    /// A second descriptor for the same process.
    pub fn try_clone(&self) -> io::Result<PidFd> {
        Ok(PidFd {
            fd: self.fd.try_clone()?,
            pid: self.pid,
        })
    }
}

/// True for the errors a seccomp profile (EPERM) or an older kernel
/// (ENOSYS) gives for a system call it does not allow.
pub fn is_refused(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EPERM) | Some(libc::ENOSYS))
}

/// True when tini-rs is PID 1 of its PID namespace: the kernel re-parents
/// the namespace's orphans to it, and `kill(-1)` means the namespace.
pub fn is_pid1() -> bool {
    std::process::id() == 1
}

/// True when tini-rs's parent has no pid in tini-rs's PID namespace:
/// `getppid(2)` gives 0 for a parent in an outer namespace. That is what a
/// process started into an existing PID namespace sees (setns then fork:
/// runc for a member of a pod that shares one PID namespace, Docker's
/// `--pid container:NAME`, `docker exec`, `nsenter -p`), since the one
/// that forked it stayed outside. Not PID 1 as well, it means the
/// namespace's PID 1 is another process: the kernel lets no process into a
/// namespace whose PID 1 has exited.
pub fn parent_is_outside_our_pid_namespace() -> bool {
    nix::unistd::getppid().as_raw() == 0
}

/// tini-rs's own pid.
pub fn own_pid() -> libc::pid_t {
    std::process::id() as libc::pid_t
}

/// The calling thread's id (gettid(2)); the main thread's is the pid.
pub fn own_thread_id() -> libc::pid_t {
    nix::unistd::gettid().as_raw()
}

/// `kill(pid, sig)` to the one process `pid` (> 0). Raw libc: forwarded
/// signals may be real-time ones, which nix's `Signal` cannot name.
pub fn kill_process(pid: libc::pid_t, sig: i32) -> io::Result<()> {
    raw_kill(one_id(pid)?, sig)
}

/// `kill(-pgid, sig)`: every process in the process group `pgid` (> 0).
pub fn kill_process_group(pgid: libc::pid_t, sig: i32) -> io::Result<()> {
    raw_kill(-one_id(pgid)?, sig)
}

/// A pid or group id that names exactly one process or group: 0 and the
/// negative values mean "our group" or "everyone" to kill(2).
fn one_id(id: libc::pid_t) -> io::Result<libc::pid_t> {
    if id > 0 {
        Ok(id)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{id} names no single process or group"),
        ))
    }
}

fn raw_kill(target: libc::pid_t, sig: i32) -> io::Result<()> {
    // SAFETY: kill(2) with plain integers.
    check_syscall(unsafe { libc::kill(target, sig) }.into())?;
    Ok(())
}

/// `kill(-1, sig)`: every process we may signal. Only PID 1 of its own PID
/// namespace may do this, where "every process" means our namespace. Raw
/// libc, like [`kill_process`]: `--wait-all` passes real-time signals on
/// this way too.
pub fn kill_every_process_in_namespace(sig: i32) -> io::Result<()> {
    if !is_pid1() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "kill(-1) refused: not PID 1",
        ));
    }
    raw_kill(-1, sig)
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
            own_pid(),
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
///
/// # Safety
/// Closing a descriptor that something still owns (an `OwnedFd`, a `File`,
/// a pidfd) makes that owner use a number that may soon name another file.
/// The caller promises that nothing in tini-rs holds a descriptor at or
/// above `first`: what is closed is only what tini-rs inherited.
pub unsafe fn close_descriptors_from(first: i32) -> io::Result<()> {
    // SAFETY: close_range takes plain integers; that nothing of ours is
    // open above `first` is this function's own contract.
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

/// The working directory, held open (`O_PATH`: search permission is
/// enough, as for a working directory; close-on-exec).
pub fn open_working_directory() -> io::Result<OwnedFd> {
    use nix::fcntl::OFlag;
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    Ok(nix::fcntl::open(".", flags, nix::sys::stat::Mode::empty())?)
}

/// `chdir("/")`: so that tini-rs's working directory pins no mount.
pub fn change_to_root_directory() -> io::Result<()> {
    nix::unistd::chdir("/")?;
    Ok(())
}

/// `mallopt(M_ARENA_MAX, 1)`: one malloc arena for every thread. glibc
/// would otherwise give the reaper and the forwarder arenas of their own on
/// their first allocation, resident memory that a process this small never
/// needs. Call it before any thread starts. Raw libc: nix has no mallopt.
pub fn use_one_malloc_arena() {
    // SAFETY: mallopt only tunes the allocator; called before any thread.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
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

/// True when tini-rs leads its own session.
pub fn is_session_leader() -> bool {
    nix::unistd::getsid(None).is_ok_and(|sid| sid == nix::unistd::getpid())
}
