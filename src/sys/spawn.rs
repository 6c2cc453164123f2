//! Starting a process: posix_spawn(3) with its attributes and file
//! actions, and the fork-and-exec way for the starts posix_spawn cannot do
//! (see `child`), with the terminal calls both need.

use super::signal::SignalSet;
use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;

unsafe extern "C" {
    static environ: *const *mut libc::c_char;
    /// glibc >= 2.35: make the child's process group the terminal's
    /// foreground group, between setpgid and exec.
    fn posix_spawn_file_actions_addtcsetpgrp_np(
        actions: *mut libc::posix_spawn_file_actions_t,
        fd: libc::c_int,
    ) -> libc::c_int;
}

/// One posix_spawnp(3) of `args` (a program found in PATH, then its
/// arguments) with tini-rs's environment, in the directory `home` (else
/// tini-rs's own).
pub fn posix_spawnp(
    args: &[CString],
    attr: &Attributes,
    take_terminal: bool,
    home: Option<&OwnedFd>,
) -> io::Result<libc::pid_t> {
    let actions = FileActions::new(take_terminal, home)?;
    let mut argv: Vec<*mut libc::c_char> = args.iter().map(|a| a.as_ptr().cast_mut()).collect();
    argv.push(std::ptr::null_mut());
    let mut pid = 0;
    // SAFETY: every pointer is valid for the call: NUL-terminated strings in
    // `args`, a NULL-terminated `argv`, initialised attributes and actions,
    // and the process environment. Raw libc: nix's spawn module has no
    // tcsetpgrp file action (glibc's extension) and its actions cannot be
    // mixed with raw ones; its SigSet cannot hold glibc's signals 32/33 for
    // the set of signals to put back to default.
    let rc = unsafe {
        libc::posix_spawnp(
            &mut pid,
            args[0].as_ptr(),
            &actions.0,
            &attr.0,
            argv.as_ptr(),
            environ,
        )
    };
    super::check_returned_errno(rc)?;
    Ok(pid)
}

/// The errors tcsetpgrp gives for "not our terminal" (ENXIO on some
/// systems); tini goes on without the terminal after either.
pub fn is_no_terminal(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::ENOTTY) | Some(libc::ENXIO))
}

/// Forks a child (in its own process group if `own_group`) that runs `before_exec`, then
/// execs `args` (searching PATH) with tini-rs's environment, `LISTEN_PID`
/// set to the child's own pid when `with_own_listen_pid`. std forks and
/// reports an exec failure (or `before_exec`'s error) back; argv and the
/// environment are made before the fork.
///
/// # Safety
/// `before_exec` runs in the forked child of a threaded process: it must
/// call only async-signal-safe functions and must not allocate.
pub unsafe fn fork_and_exec(
    args: Vec<CString>,
    with_own_listen_pid: bool,
    own_group: bool,
    mut before_exec: impl FnMut() -> io::Result<()> + Send + Sync + 'static,
) -> io::Result<libc::pid_t> {
    let name = OsStr::from_bytes(args[0].as_bytes()).to_owned();
    let mut exec = PreparedExec::new(args, with_own_listen_pid);
    // std only forks here; the closure execs with `exec`'s argv.
    let mut command = std::process::Command::new(name);
    if own_group {
        command.process_group(0);
    }
    // SAFETY: the closure runs between fork and exec; `before_exec` keeps
    // to async-signal-safe calls (this function's contract), and so does
    // the exec (execvpe on buffers made before the fork).
    unsafe {
        command.pre_exec(move || {
            before_exec()?;
            Err(exec.run())
        });
    }
    Ok(command.spawn()?.id() as libc::pid_t)
}

/// In the forked child: `fchdir(dir)`. Async-signal-safe.
///
/// # Safety
/// `dir` must be an open descriptor for the whole call (the forked child
/// has a copy of every descriptor its parent held open at the fork).
pub unsafe fn change_directory_in_forked_child(dir: RawFd) -> io::Result<()> {
    // SAFETY: `dir` is open for the borrow's whole (short) life: this
    // function's contract.
    let dir = unsafe { std::os::fd::BorrowedFd::borrow_raw(dir) };
    nix::unistd::fchdir(dir)?;
    Ok(())
}

/// In the forked child: makes the child's own process group the foreground
/// group of the terminal on stdin. Async-signal-safe (tcsetpgrp, getpid).
/// The child still ignores SIGTTOU, as tini-rs does, so this is allowed
/// from a background group.
pub fn take_terminal_in_forked_child() -> io::Result<()> {
    // SAFETY: descriptor 0 stays open for the borrow's whole (short) life.
    let stdin = unsafe { std::os::fd::BorrowedFd::borrow_raw(libc::STDIN_FILENO) };
    nix::unistd::tcsetpgrp(stdin, nix::unistd::getpid())?;
    Ok(())
}

/// In the forked child: `setsid()`, a new session (and process group) led
/// by the child. Async-signal-safe.
pub fn new_session_in_forked_child() -> io::Result<()> {
    nix::unistd::setsid()?;
    Ok(())
}

/// In the forked child, just after `setsid()`: `ioctl(0, TIOCSCTTY, 0)`,
/// stdin's terminal becomes the new session's controlling terminal (unless
/// another session holds it). Async-signal-safe. Raw libc: nix has no
/// wrapper for this ioctl.
pub fn take_controlling_terminal_in_forked_child() -> io::Result<()> {
    // SAFETY: TIOCSCTTY with 0 (do not steal it from another session).
    let rc = unsafe { libc::ioctl(libc::STDIN_FILENO, libc::TIOCSCTTY, 0) };
    super::check_syscall(rc.into())?;
    Ok(())
}

/// In the forked child: `bytes` to stderr with one write(2), no
/// allocation. Async-signal-safe; a failure is ignored.
pub fn write_stderr_in_forked_child(bytes: &[u8]) {
    // std's Stderr names fd 2 without locking or buffering anything.
    let _ = nix::unistd::write(std::io::stderr(), bytes);
}

/// The program's argv and environment, made before the fork: the forked
/// child of a threaded process must not allocate.
struct PreparedExec {
    _args: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    _env: Vec<CString>,
    envp: Vec<*const libc::c_char>,
    /// `LISTEN_PID=` and room for any pid, written in the child, and the
    /// places in `envp` that held a `LISTEN_PID` entry.
    listen_pid: Option<(Vec<usize>, [u8; LISTEN_PID_ENTRY_SIZE])>,
}

const LISTEN_PID_PREFIX: &[u8] = b"LISTEN_PID=";
/// The prefix, the digits of the largest pid_t, a NUL.
const LISTEN_PID_ENTRY_SIZE: usize = LISTEN_PID_PREFIX.len() + 10 + 1;

// SAFETY: the raw pointers point into the struct's own heap buffers, which
// it owns and never changes after `new`; only the forked child (a single
// thread) uses them.
unsafe impl Send for PreparedExec {}
// SAFETY: as for Send; nothing is shared across threads at run time.
unsafe impl Sync for PreparedExec {}

impl PreparedExec {
    fn new(args: Vec<CString>, with_own_listen_pid: bool) -> Self {
        let env = environment();
        let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
        envp.push(std::ptr::null());
        let listen_pid = with_own_listen_pid.then(|| {
            let slots = env
                .iter()
                .enumerate()
                .filter(|(_, entry)| entry.as_bytes().starts_with(LISTEN_PID_PREFIX))
                .map(|(slot, _)| slot)
                .collect();
            (slots, [0; LISTEN_PID_ENTRY_SIZE])
        });
        let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        PreparedExec {
            _args: args,
            argv,
            _env: env,
            envp,
            listen_pid,
        }
    }

    /// In the forked child: writes `LISTEN_PID=<own pid>` in the place of
    /// each `LISTEN_PID` entry if asked to, then execs, searching PATH (and
    /// running a file without `#!` with /bin/sh, as execvp does). Returns
    /// only the error of a failed exec.
    fn run(&mut self) -> io::Error {
        if let Some((slots, entry)) = &mut self.listen_pid {
            entry[..LISTEN_PID_PREFIX.len()].copy_from_slice(LISTEN_PID_PREFIX);
            let digits = &mut entry[LISTEN_PID_PREFIX.len()..];
            let length = write_decimal(std::process::id(), digits);
            digits[length] = 0;
            for &slot in slots.iter() {
                self.envp[slot] = entry.as_ptr().cast();
            }
        }
        // SAFETY: NULL-terminated arrays of NUL-terminated strings that
        // live as long as `self`. Raw libc: nix's execvpe takes slices of
        // CStr references, which the LISTEN_PID entry written here is not.
        unsafe { libc::execvpe(self.argv[0], self.argv.as_ptr(), self.envp.as_ptr()) };
        io::Error::last_os_error()
    }
}

/// tini-rs's environment as it was given, entry by entry, in order: what
/// posix_spawn passes on too. `std::env::vars_os` cannot serve: it leaves
/// out entries without `=` and entries that start with `=`.
fn environment() -> Vec<CString> {
    let mut entries = Vec::new();
    // SAFETY: `environ` is the C library's NULL-terminated array of
    // NUL-terminated strings. tini-rs never changes its environment (no
    // setenv, putenv or std::env::set_var anywhere), so nothing rewrites
    // the array while it is read. Raw libc: neither std nor nix gives the
    // raw entries.
    unsafe {
        let mut entry = environ;
        while !entry.is_null() && !(*entry).is_null() {
            entries.push(std::ffi::CStr::from_ptr(*entry).to_owned());
            entry = entry.add(1);
        }
    }
    entries
}

/// Writes `n` in decimal at the start of `out` without allocating; returns
/// how many digits. `out` must have room for 10.
fn write_decimal(mut n: u32, out: &mut [u8]) -> usize {
    let mut digits = [0u8; 10];
    let mut count = 0;
    loop {
        digits[count] = b'0' + (n % 10) as u8;
        count += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for (i, digit) in digits[..count].iter().rev().enumerate() {
        out[i] = *digit;
    }
    count
}

/// posix_spawn attributes: own process group, the inherited signal mask,
/// and back to default every signal tini-rs ignores but did not inherit
/// ignored.
pub struct Attributes(libc::posix_spawnattr_t);

impl Attributes {
    pub fn new(mask: &SignalSet, default_in_child: &SignalSet) -> io::Result<Self> {
        let flags = libc::POSIX_SPAWN_SETPGROUP
            | libc::POSIX_SPAWN_SETSIGMASK
            | libc::POSIX_SPAWN_SETSIGDEF;
        // SAFETY: init before any other use; the struct is then owned here
        // and destroyed once on drop.
        unsafe {
            let mut attr = std::mem::zeroed();
            super::check_returned_errno(libc::posix_spawnattr_init(&mut attr))?;
            let attr = Attributes(attr);
            let mut this = attr;
            super::check_returned_errno(libc::posix_spawnattr_setflags(
                &mut this.0,
                flags as libc::c_short,
            ))?;
            super::check_returned_errno(libc::posix_spawnattr_setpgroup(&mut this.0, 0))?;
            super::check_returned_errno(libc::posix_spawnattr_setsigmask(
                &mut this.0,
                mask.as_raw(),
            ))?;
            super::check_returned_errno(libc::posix_spawnattr_setsigdefault(
                &mut this.0,
                default_in_child.as_raw(),
            ))?;
            Ok(this)
        }
    }
}

impl Drop for Attributes {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
    }
}

/// posix_spawn file actions: back to the directory tini-rs was started
/// in, and taking the terminal.
struct FileActions(libc::posix_spawn_file_actions_t);

impl FileActions {
    fn new(take_terminal: bool, home: Option<&OwnedFd>) -> io::Result<Self> {
        // SAFETY: init before any other use; destroyed once on drop. `home`
        // is open until the spawn that uses these actions has returned.
        unsafe {
            let mut actions = std::mem::zeroed();
            super::check_returned_errno(libc::posix_spawn_file_actions_init(&mut actions))?;
            let mut this = FileActions(actions);
            if let Some(dir) = home {
                super::check_returned_errno(libc::posix_spawn_file_actions_addfchdir_np(
                    &mut this.0,
                    dir.as_raw_fd(),
                ))?;
            }
            if take_terminal {
                super::check_returned_errno(posix_spawn_file_actions_addtcsetpgrp_np(
                    &mut this.0,
                    libc::STDIN_FILENO,
                ))?;
            }
            Ok(this)
        }
    }
}

impl Drop for FileActions {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe { libc::posix_spawn_file_actions_destroy(&mut self.0) };
    }
}

/// stdin is a terminal whose session is ours, so it is our controlling
/// terminal and the child's group can become its foreground group (Ctrl-C
/// reaches the child, and it may read). That is exactly what tcsetpgrp
/// requires; tcgetpgrp alone also succeeds on a pty's master side, where
/// tcsetpgrp then fails. Anything else is fine: the child just does not
/// take the terminal.
pub fn stdin_is_our_terminal() -> bool {
    let terminal_session = nix::sys::termios::tcgetsid(std::io::stdin());
    terminal_session.is_ok_and(|sid| nix::unistd::getsid(None).is_ok_and(|ours| ours == sid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_digits_without_allocating() {
        let mut out = [0u8; 10];
        for (n, text) in [
            (0, "0"),
            (7, "7"),
            (4_194_304, "4194304"),
            (u32::MAX, "4294967295"),
        ] {
            let length = write_decimal(n, &mut out);
            assert_eq!(&out[..length], text.as_bytes());
        }
    }
}
