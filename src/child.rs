//! Spawns the main child: in its own process group, in the terminal's
//! foreground when stdin is a terminal, with the signal state tini-rs
//! inherited, and with tini's exit codes when exec fails.
//!
//! posix_spawn(3) does it all in the C library's vfork-style child: no copy
//! of tini-rs's page tables, and the parent resumes as soon as the program
//! is exec'd (or reports why it could not be). Unlike execvp(3), which tini
//! uses, glibc's posix_spawnp does not run a file without a `#!` line
//! through /bin/sh, so tini-rs does that itself. Two rare starts fall back
//! to fork and exec, where the child can act on itself before exec:
//! - tini-rs was started with SIGCHLD ignored. posix_spawn cannot hand the
//!   child an ignored SIGCHLD while tini-rs itself needs it at default (or
//!   the kernel would reap the child before we could); the child ignores
//!   it again itself.
//! - socket activation (`LISTEN_PID` names tini-rs): the child must get its
//!   own pid in `LISTEN_PID`, known only once it exists.
//! - a new session (dumb-init mode's setsid mode): the child makes it and
//!   takes the terminal as its controlling terminal, which posix_spawn
//!   cannot do.
//!
//! tini-rs moves to `/` before the spawn, not after, and hands the child
//! the directory it was started in through a descriptor (a file action
//! `fchdir`, or `fchdir` before exec on the fork path). Moving after the
//! spawn left a window in which the running child could still see its
//! parent in the old directory (a program reading `/proc/$PPID/cwd` at
//! once, as dumb-init's own test does).

use crate::signals::InheritedState;
use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

/// Why the main child could not be started, and the exit code that says so.
#[derive(Debug)]
pub struct SpawnError {
    pub message: String,
    pub exit_code: i32,
    /// The system's error number, when one says why.
    pub errno: Option<i32>,
}

unsafe extern "C" {
    static environ: *const *mut libc::c_char;
    /// glibc >= 2.35: make the child's process group the terminal's
    /// foreground group, between setpgid and exec.
    fn posix_spawn_file_actions_addtcsetpgrp_np(
        actions: *mut libc::posix_spawn_file_actions_t,
        fd: libc::c_int,
    ) -> libc::c_int;
}

/// How the main child starts, beyond tini's way.
#[derive(Clone, Copy, Default)]
pub struct Start {
    /// In a new session of its own, with stdin's terminal as its controlling
    /// terminal (dumb-init's setsid mode), instead of a new process group.
    pub new_session: bool,
    /// Say `[dumb-init] setsid complete.` on stderr before exec (dumb-init
    /// mode's debug output).
    pub say_setsid_complete: bool,
}

/// Starts `program[0]` (searched in PATH) with `program[1..]` and returns
/// its pid. The caller must already block every signal (a SIGTERM arriving
/// now would otherwise kill tini-rs and orphan the child).
pub fn spawn(
    program: &[OsString],
    inherited: &'static InheritedState,
    start: Start,
) -> Result<libc::pid_t, SpawnError> {
    let name = program.first().ok_or_else(|| SpawnError {
        message: "no program to run".to_string(),
        exit_code: 1,
        errno: None,
    })?;
    if name.is_empty() {
        return Err(SpawnError {
            message: "cannot run '': the program name is empty".to_string(),
            exit_code: 127,
            errno: Some(libc::ENOENT),
        });
    }
    let shown = name.to_string_lossy();
    // Words from argv cannot hold a NUL byte; only a caller bug could.
    let args: Vec<CString> = program
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|_| SpawnError {
            message: format!("cannot run '{shown}': an argument contains a NUL byte"),
            exit_code: 1,
            errno: Some(libc::EINVAL),
        })?;
    let sockets_for_the_child = sockets_are_passed_to_us();
    let home = leave_working_directory();
    let home = home.as_ref();
    if inherited.sigchld_ignored() || sockets_for_the_child || start.new_session {
        return spawn_forked(name, args, inherited, sockets_for_the_child, home, start)
            .map_err(|e| exec_error(&shown, e, home));
    }

    let attr = Attributes::new(inherited).map_err(|e| exec_error(&shown, e, home))?;
    let mut take_terminal = stdin_is_our_terminal();
    let spawned = match posix_spawnp(&args, &attr, take_terminal, home) {
        // Only the terminal step can fail with these (execve never does);
        // like tini, go on without the terminal. Nothing was started.
        Err(err) if take_terminal && is_no_terminal(&err) => {
            take_terminal = false;
            log::debug!(
                "Cannot make the main child the terminal's foreground group ({err}); going on without"
            );
            posix_spawnp(&args, &attr, false, home)
        }
        other => other,
    };
    match spawned {
        // A file without `#!` that the kernel will not run: like execvp,
        // run it with /bin/sh, `sh FILE ARGS...`.
        Err(err) if err.raw_os_error() == Some(libc::ENOEXEC) => {
            let Some(file) = resolve_in_path(name, home) else {
                return Err(exec_error(&shown, err, home));
            };
            let mut sh_args = vec![CString::from(c"/bin/sh"), path_cstring(&file)?];
            sh_args.extend_from_slice(&args[1..]);
            posix_spawnp(&sh_args, &attr, take_terminal, home)
                .map_err(|e| exec_error(&shown, e, home))
        }
        other => other.map_err(|e| exec_error(&shown, e, home)),
    }
}

/// The directory tini-rs was started in, held open (`O_PATH`: search
/// permission is enough, as for a working directory), after tini-rs itself
/// has moved to `/`. `None` when it cannot be opened (then tini-rs stays
/// where it is, the child starts there too, and tini-rs moves after the
/// spawn, as before).
fn leave_working_directory() -> Option<OwnedFd> {
    use nix::fcntl::OFlag;
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let home = match nix::fcntl::open(".", flags, nix::sys::stat::Mode::empty()) {
        Ok(fd) => fd,
        Err(err) => {
            log::debug!("Cannot open the working directory ({err}); moving to / after the spawn");
            return None;
        }
    };
    if let Err(err) = nix::unistd::chdir("/") {
        log::debug!("Cannot change directory to / before the spawn: {err}");
    }
    Some(home)
}

/// One posix_spawnp(3) of `args` (a program found in PATH, then its
/// arguments) with tini-rs's environment, in the directory `home`.
fn posix_spawnp(
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
    check_returned_errno(rc)?;
    Ok(pid)
}

/// The errors tcsetpgrp gives for "not our terminal" (ENXIO on some
/// systems); tini goes on without the terminal after either.
fn is_no_terminal(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::ENOTTY) | Some(libc::ENXIO))
}

/// The file posix_spawnp ran for `name`: `name` itself when it has a `/`,
/// else the first executable regular file named `name` in PATH (glibc's
/// default path when PATH is unset), as the search found it. A relative
/// path is looked at from the child's directory `home` (tini-rs itself is
/// in `/` by now) and returned as it is, for the child to resolve.
fn resolve_in_path(name: &OsString, home: Option<&OwnedFd>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if name.as_bytes().contains(&b'/') {
        return Some(PathBuf::from(name));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/bin:/usr/bin".into());
    std::env::split_paths(&path)
        .map(|dir| {
            // An empty entry means the current directory.
            if dir.as_os_str().is_empty() {
                PathBuf::from(".").join(name)
            } else {
                dir.join(name)
            }
        })
        .find(|file| {
            std::fs::metadata(seen_from_child(file, home))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// `file` as the child sees it: a relative path is taken from its
/// directory `home` (through /proc, since tini-rs itself is in `/`).
fn seen_from_child(file: &std::path::Path, home: Option<&OwnedFd>) -> PathBuf {
    match home {
        Some(dir) if file.is_relative() => {
            PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(file)
        }
        _ => file.to_path_buf(),
    }
}

fn path_cstring(path: &std::path::Path) -> Result<CString, SpawnError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| SpawnError {
        message: format!(
            "cannot run '{}': the path contains a NUL byte",
            path.display()
        ),
        exit_code: 1,
        errno: Some(libc::EINVAL),
    })
}

/// systemd's socket activation hands sockets (descriptors 3 and up, see
/// `LISTEN_FDS`) to the process `LISTEN_PID` names, and `sd_listen_fds()`
/// refuses them in any other process. When it names tini-rs, they are
/// meant for the program tini-rs runs, which then must see its own pid
/// there. Any other value is not ours to change.
fn sockets_are_passed_to_us() -> bool {
    let ours = std::env::var_os("LISTEN_PID").and_then(|value| value.to_str()?.parse::<u32>().ok())
        == Some(std::process::id());
    if ours {
        log::debug!("LISTEN_PID names tini-rs; the main child gets its own pid there");
    }
    ours
}

/// The fork-and-exec way, for the starts posix_spawn cannot do (see the
/// module's comment). std forks, puts the child in its own process group
/// and reports an exec failure back; the child does the rest itself and
/// execs with everything made before the fork.
fn spawn_forked(
    name: &OsString,
    args: Vec<CString>,
    inherited: &'static InheritedState,
    with_own_listen_pid: bool,
    home: Option<&OwnedFd>,
    start: Start,
) -> io::Result<libc::pid_t> {
    // A new session takes the terminal by TIOCSCTTY, not tcsetpgrp.
    let take_terminal = !start.new_session && stdin_is_our_terminal();
    // The descriptor stays open (and ours) until the spawn has returned.
    let home = home.map(|dir| dir.as_raw_fd());
    let mut exec = PreparedExec::new(args, with_own_listen_pid);
    // std only forks here; the closure execs with `exec`'s argv.
    let mut command = std::process::Command::new(name);
    if !start.new_session {
        command.process_group(0);
    }
    // SAFETY: the closure runs between fork and exec and calls only
    // async-signal-safe functions (fchdir, setsid, ioctl, write, tcsetpgrp,
    // getpid, rt_sigaction, pthread_sigmask, execvpe); it allocates nothing. Descriptors 0 and
    // `home` stay open for the borrows' whole (short) life.
    unsafe {
        command.pre_exec(move || {
            if let Some(dir) = home {
                nix::unistd::fchdir(std::os::fd::BorrowedFd::borrow_raw(dir))?;
            }
            if start.new_session {
                nix::unistd::setsid()?;
                // As dumb-init: without the terminal (another session has
                // it, or there is none) the child still runs.
                if crate::sys::take_controlling_terminal().is_err() && start.say_setsid_complete {
                    crate::sys::write_stderr_in_child(
                        b"[dumb-init] Unable to attach to controlling tty.\n",
                    );
                }
                if start.say_setsid_complete {
                    crate::sys::write_stderr_in_child(b"[dumb-init] setsid complete.\n");
                }
            }
            // tini-rs ignores SIGTTOU, and so does the child until the
            // restore below: tcsetpgrp from a background group is allowed.
            let stdin = std::os::fd::BorrowedFd::borrow_raw(libc::STDIN_FILENO);
            if take_terminal
                && let Err(errno) = nix::unistd::tcsetpgrp(stdin, nix::unistd::getpid())
            {
                let err = io::Error::from(errno);
                // Like tini: without the terminal is fine; anything else is not.
                if !is_no_terminal(&err) {
                    return Err(err);
                }
            }
            inherited.restore_in_forked_child()?;
            Err(exec.run())
        });
    }
    Ok(command.spawn()?.id() as libc::pid_t)
}

/// The program's argv and environment, made before the fork: the forked
/// child of a threaded process must not allocate.
struct PreparedExec {
    _args: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    _env: Vec<CString>,
    envp: Vec<*const libc::c_char>,
    /// `LISTEN_PID=` and room for any pid, written in the child, and where
    /// `envp` points at it.
    listen_pid: Option<(usize, [u8; LISTEN_PID_ENTRY_SIZE])>,
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
        // Environment entries cannot hold a NUL byte: the kernel ends them there.
        let env: Vec<CString> = std::env::vars_os()
            .filter(|(name, _)| !(with_own_listen_pid && name == "LISTEN_PID"))
            .filter_map(|(name, value)| {
                let mut entry = name.into_encoded_bytes();
                entry.push(b'=');
                entry.extend_from_slice(value.as_encoded_bytes());
                CString::new(entry).ok()
            })
            .collect();
        let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
        let listen_pid = with_own_listen_pid.then(|| {
            envp.push(std::ptr::null());
            (envp.len() - 1, [0; LISTEN_PID_ENTRY_SIZE])
        });
        envp.push(std::ptr::null());
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

    /// In the forked child: writes `LISTEN_PID=<own pid>` if asked to, then
    /// execs, searching PATH (and running a file without `#!` with
    /// /bin/sh, as execvp does). Returns only the error of a failed exec.
    fn run(&mut self) -> io::Error {
        if let Some((slot, entry)) = &mut self.listen_pid {
            entry[..LISTEN_PID_PREFIX.len()].copy_from_slice(LISTEN_PID_PREFIX);
            let digits = &mut entry[LISTEN_PID_PREFIX.len()..];
            let length = write_decimal(std::process::id(), digits);
            digits[length] = 0;
            self.envp[*slot] = entry.as_ptr().cast();
        }
        // SAFETY: NULL-terminated arrays of NUL-terminated strings that
        // live as long as `self`. Raw libc: nix's execvpe takes slices of
        // CStr references, which the LISTEN_PID entry written here is not.
        unsafe { libc::execvpe(self.argv[0], self.argv.as_ptr(), self.envp.as_ptr()) };
        io::Error::last_os_error()
    }
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
struct Attributes(libc::posix_spawnattr_t);

impl Attributes {
    fn new(inherited: &InheritedState) -> io::Result<Self> {
        let flags = libc::POSIX_SPAWN_SETPGROUP
            | libc::POSIX_SPAWN_SETSIGMASK
            | libc::POSIX_SPAWN_SETSIGDEF;
        // SAFETY: init before any other use; the struct is then owned here
        // and destroyed once on drop.
        unsafe {
            let mut attr = std::mem::zeroed();
            check_returned_errno(libc::posix_spawnattr_init(&mut attr))?;
            let attr = Attributes(attr);
            let mut this = attr;
            check_returned_errno(libc::posix_spawnattr_setflags(
                &mut this.0,
                flags as libc::c_short,
            ))?;
            check_returned_errno(libc::posix_spawnattr_setpgroup(&mut this.0, 0))?;
            check_returned_errno(libc::posix_spawnattr_setsigmask(
                &mut this.0,
                inherited.mask(),
            ))?;
            check_returned_errno(libc::posix_spawnattr_setsigdefault(
                &mut this.0,
                inherited.default_in_child(),
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
            check_returned_errno(libc::posix_spawn_file_actions_init(&mut actions))?;
            let mut this = FileActions(actions);
            if let Some(dir) = home {
                check_returned_errno(libc::posix_spawn_file_actions_addfchdir_np(
                    &mut this.0,
                    dir.as_raw_fd(),
                ))?;
            }
            if take_terminal {
                check_returned_errno(posix_spawn_file_actions_addtcsetpgrp_np(
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
fn stdin_is_our_terminal() -> bool {
    let terminal_session = nix::sys::termios::tcgetsid(std::io::stdin());
    terminal_session.is_ok_and(|sid| nix::unistd::getsid(None).is_ok_and(|ours| ours == sid))
}

/// posix_spawn's functions return the error number itself (0 = success).
fn check_returned_errno(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// tini's exit codes for a failed exec: 127 not found, 126 found but not
/// executable (or a directory), 1 anything else; the message names the
/// real cause.
fn exec_error(name: &str, err: io::Error, home: Option<&OwnedFd>) -> SpawnError {
    let exit_code = match err.raw_os_error() {
        Some(libc::ENOENT) => 127,
        Some(libc::EACCES) => 126,
        _ => 1,
    };
    // execve says EACCES for a directory; name the real problem.
    let reason = if exit_code == 126 && seen_from_child(std::path::Path::new(name), home).is_dir() {
        "it is a directory".to_string()
    } else {
        err.to_string()
    };
    SpawnError {
        message: format!("cannot run '{name}': {reason}"),
        exit_code,
        errno: err.raw_os_error(),
    }
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
