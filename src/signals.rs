//! Signal numbers and names, the set of signals tini-rs forwards, the
//! `--rewrite` table, and the signal state tini-rs was started with (which the
//! main child must get back exactly).
//!
//! Tables are sized by the real signal range (1..=SIGRTMAX), never by a fixed
//! guess, so real-time signals are first-class citizens.

use crate::sys::signal::{self as sys_signal, Disposition, SignalSet, Taken};
use std::io;
use std::time::{Duration, Instant};

/// The highest signal number on this system (64 on Linux).
pub fn max_signal() -> i32 {
    libc::SIGRTMAX()
}

/// The lowest real-time signal the C library leaves to applications (glibc
/// keeps 32 and 33 for its own thread machinery).
pub fn min_realtime_signal() -> i32 {
    libc::SIGRTMIN()
}

/// Signals tini-rs never forwards in tini mode, and why (dumb-init mode
/// forwards SIGTTIN, SIGTTOU and the fault signals too, as dumb-init does:
/// see `dumb_init::forwarded_signals`):
/// - SIGKILL, SIGSTOP: cannot be caught.
/// - SIGCHLD: tells *us* a child changed state; the reaper handles that.
/// - SIGTTIN, SIGTTOU: the terminal's way of stopping a background process.
///   tini-rs ignores them so that touching the terminal never stops it.
/// - SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS: the kernel sends these
///   when *we* fault. Returning from a handler would re-run the faulting
///   instruction forever, so tini-rs lets them kill it instead.
const NEVER_FORWARDED: [i32; 11] = [
    libc::SIGKILL,
    libc::SIGSTOP,
    libc::SIGCHLD,
    libc::SIGTTIN,
    libc::SIGTTOU,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGTRAP,
    libc::SIGSYS,
];

/// The signals tini-rs never forwards (see [`NEVER_FORWARDED`] for why).
pub fn never_forwarded() -> &'static [i32] {
    &NEVER_FORWARDED
}

/// True for a signal number that exists and that the C library lets a
/// program use: the 31 standard signals and SIGRTMIN..=SIGRTMAX.
pub fn is_valid(sig: i32) -> bool {
    (1..=31).contains(&sig) || (min_realtime_signal()..=max_signal()).contains(&sig)
}

/// True for a signal that tini-rs catches and passes on to the main child.
pub fn is_forwardable(sig: i32) -> bool {
    is_valid(sig) && !NEVER_FORWARDED.contains(&sig)
}

/// Every forwardable signal, in ascending order.
pub fn forwardable() -> impl Iterator<Item = i32> {
    (1..=max_signal()).filter(|&s| is_forwardable(s))
}

/// A set of signals to take off the queue with sigwaitinfo(2). Every thread
/// keeps them blocked, so they wait in the kernel's queue until taken.
pub struct WaitSet(SignalSet);

impl WaitSet {
    /// Every forwardable signal: the forwarder's set.
    pub fn forwardable() -> WaitSet {
        WaitSet::of(forwardable())
    }

    /// A set of valid signal numbers.
    pub fn of(signals: impl IntoIterator<Item = i32>) -> WaitSet {
        WaitSet(SignalSet::of(signals))
    }

    /// Blocks until one of the signals is pending and takes it, with the
    /// sender's details; with a `deadline`, gives up then (`Ok(None)`).
    /// Zero wake-ups until then. An error only where the wait itself is
    /// refused (see [`check_waiting_works`]).
    pub fn wait_until(&self, deadline: Option<Instant>) -> io::Result<Option<Taken>> {
        loop {
            let left = match deadline {
                None => None,
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) => Some(left),
                    None => return Ok(None),
                },
            };
            // `None` also after EINTR (a stop and continue): wait again.
            if let Some(taken) = self.0.take(left)? {
                return Ok(Some(taken));
            }
        }
    }
}

/// Checks, before anything depends on it, that the kernel lets tini-rs
/// wait for signals (`rt_sigtimedwait`, which sigwaitinfo and sigtimedwait
/// both are): a seccomp profile may refuse it. Waits on the empty set for
/// no time, so it takes nothing off the queue. Nothing else can tell
/// tini-rs that a signal or a child's exit is waiting without waking up
/// again and again, so a refusal ends tini-rs before the child starts.
pub fn check_waiting_works() -> io::Result<()> {
    WaitSet::of([]).0.take(Some(Duration::ZERO)).map(|_| ())
}

/// Parses `SIGTERM`, `TERM`, `15`, `SIGRTMIN+3`, `RTMAX-1` (case-insensitive
/// names) into a valid signal number.
pub fn parse(text: &str) -> Option<i32> {
    if let Ok(n) = text.parse::<i32>() {
        return is_valid(n).then_some(n);
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let realtime = |base: i32, rest: &str| -> Option<i32> {
        let n = match rest.as_bytes().first() {
            None => base,
            Some(b'+') => base.checked_add(rest[1..].parse::<i32>().ok()?)?,
            Some(b'-') => base.checked_sub(rest[1..].parse::<i32>().ok()?)?,
            Some(_) => return None,
        };
        (min_realtime_signal()..=max_signal())
            .contains(&n)
            .then_some(n)
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return realtime(min_realtime_signal(), rest);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return realtime(max_signal(), rest);
    }
    // SIGIOT and SIGPOLL are aliases nix does not spell; everything else it does.
    let canonical = match name {
        "IOT" => "ABRT",
        "POLL" => "IO",
        other => other,
    };
    format!("SIG{canonical}")
        .parse::<nix::sys::signal::Signal>()
        .ok()
        .map(|s| s as i32)
}

/// A readable name for log lines: `SIGTERM`, `SIGRTMIN+2`.
pub fn name(sig: i32) -> String {
    if sig >= min_realtime_signal() {
        return format!("SIGRTMIN+{}", sig - min_realtime_signal());
    }
    match signal_hook::low_level::signal_name(sig) {
        Some(n) => n.to_string(),
        None => format!("signal {sig}"),
    }
}

/// What to forward each caught signal as: `rewrite[FROM] = TO`, 0 = drop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RewriteTable {
    to: Vec<i32>,
}

impl Default for RewriteTable {
    fn default() -> Self {
        RewriteTable {
            to: (0..=max_signal()).collect(),
        }
    }
}

impl RewriteTable {
    /// Parses one `FROM:TO` rule and records it. FROM must be a signal tini-rs
    /// forwards; TO any valid signal, or 0 to drop FROM.
    pub fn add_rule(&mut self, rule: &str) -> Result<(), String> {
        let bad = || {
            format!(
                "invalid --rewrite rule '{rule}' (expected FROM:TO, e.g. SIGTERM:SIGQUIT or 10:0)"
            )
        };
        let (from, to) = rule.split_once(':').ok_or_else(bad)?;
        let from = parse(from.trim())
            .filter(|&s| is_forwardable(s))
            .ok_or_else(bad)?;
        let to = match to.trim() {
            "0" => 0,
            other => parse(other).ok_or_else(bad)?,
        };
        self.to[from as usize] = to;
        Ok(())
    }

    /// dumb-init's `-r FROM:TO`: FROM any standard signal (1..31), TO any
    /// valid signal or 0 to drop FROM. The caller checks the range.
    pub fn set(&mut self, from: i32, to: i32) {
        if let Some(slot) = self.to.get_mut(from as usize) {
            *slot = to;
        }
    }

    /// The signal to send for `sig`, or `None` when the rules drop it.
    pub fn map(&self, sig: i32) -> Option<i32> {
        match self.to.get(sig as usize) {
            Some(0) => None,
            Some(&to) => Some(to),
            None => Some(sig),
        }
    }
}

/// The signal mask and the set of ignored signals tini-rs inherited. tini-rs
/// changes both for itself; the main child gets them back exactly as they
/// were (tini does this too; dumb-init and catatonit do not).
pub struct InheritedState {
    mask: SignalSet,
    /// The signals tini-rs changes for itself that it inherited ignored.
    ignored: Vec<i32>,
    /// The rest of them: the child puts these back to default.
    default_in_child: SignalSet,
}

impl InheritedState {
    /// Reads the calling thread's mask and the dispositions of the signals
    /// tini-rs changes. Call it before anything changes them.
    pub fn capture() -> Self {
        let mask = sys_signal::this_thread_mask();
        let mut default_in_child = SignalSet::empty();
        let mut ignored = Vec::new();
        for sig in changed_for_ourselves() {
            if sys_signal::disposition(sig).is_ok_and(|d| d == Disposition::Ignore) {
                ignored.push(sig);
            } else {
                default_in_child.add(sig);
            }
        }
        InheritedState {
            mask,
            ignored,
            default_in_child,
        }
    }

    /// The inherited signal mask.
    pub fn mask(&self) -> &SignalSet {
        &self.mask
    }

    /// The signals to set back to default in the child.
    pub fn default_in_child(&self) -> &SignalSet {
        &self.default_in_child
    }

    /// tini-rs was started with SIGCHLD ignored.
    pub fn sigchld_ignored(&self) -> bool {
        self.ignored.contains(&libc::SIGCHLD)
    }

    /// For the debug log: what the main child gets back.
    pub fn describe(&self) -> String {
        let blocked: Vec<i32> = (1..=max_signal())
            .filter(|&s| self.mask.contains(s))
            .collect();
        format!(
            "signal mask {}; ignored again: {} (every other disposition as inherited)",
            names(&blocked),
            names(&self.ignored)
        )
    }

    /// Puts back, in a forked child before exec, what posix_spawn's
    /// attributes put back otherwise: every changed disposition, then the
    /// mask. Async-signal-safe (raw rt_sigaction, pthread_sigmask), and
    /// allocates nothing.
    pub fn restore_in_forked_child(&self) -> std::io::Result<()> {
        for sig in changed_for_ourselves() {
            sys_signal::set_disposition(sig, self.ignored.contains(&sig))?;
        }
        sys_signal::set_this_thread_mask(&self.mask)
    }
}

/// `SIGTERM, SIGRTMIN+2` or `none`.
pub fn names(signals: &[i32]) -> String {
    if signals.is_empty() {
        return "none".to_string();
    }
    signals
        .iter()
        .map(|&s| name(s))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The signals whose disposition may differ between tini-rs and what it
/// inherited: SIGTTIN and SIGTTOU (ignored), the C library's own (ignored),
/// SIGCHLD (default), and SIGPIPE (std's fork-based spawn resets it in the
/// child). Every other disposition stays as inherited, and exec keeps it.
fn changed_for_ourselves() -> impl Iterator<Item = i32> {
    [libc::SIGTTIN, libc::SIGTTOU, libc::SIGCHLD, libc::SIGPIPE]
        .into_iter()
        .chain((32..min_realtime_signal()).filter(|&s| is_reserved_by_libc(s)))
}

/// Signals between the standard range and SIGRTMIN belong to the C library
/// (glibc: 32 SIGCANCEL, 33 SIGSETXID; musl: 32..=34).
fn is_reserved_by_libc(sig: i32) -> bool {
    (32..min_realtime_signal()).contains(&sig)
}

/// Changes the dispositions tini-rs needs for itself; everything else stays
/// as inherited, and the child gets back what this changes (see
/// [`InheritedState`]):
/// - SIGTTIN, SIGTTOU ignored: touching the terminal never stops tini-rs.
/// - SIGCHLD at default: started with it ignored, the kernel would reap our
///   children itself and waitpid could never report the main child's status.
/// - The C library's own signals (32 and 33 with glibc), when at default,
///   ignored: glibc lets nobody catch or block them, yet kill(2) delivers
///   them like any other, and one at its default (glibc installs SIGCANCEL's
///   handler only on the first pthread_cancel) would terminate tini-rs:
///   `kill -32 1` would take the container down and, outside one, orphan the
///   child. tini-rs uses none of them.
///
/// Raw rt_sigaction throughout (see `sys`): glibc and nix refuse 32 and 33.
pub fn take_over_dispositions() -> std::io::Result<()> {
    use sys_signal::set_disposition;
    set_disposition(libc::SIGTTIN, true)?;
    set_disposition(libc::SIGTTOU, true)?;
    set_disposition(libc::SIGCHLD, false)?;
    for sig in (32..min_realtime_signal()).filter(|&s| is_reserved_by_libc(s)) {
        if sys_signal::disposition(sig)? == Disposition::Default {
            set_disposition(sig, true)?;
        }
    }
    Ok(())
}

/// Blocks every signal in the calling thread. Threads created afterwards
/// inherit the mask; the forwarder takes the forwardable signals off the
/// queue with sigwaitinfo, and no thread ever runs a handler.
pub fn block_all_in_this_thread() -> std::io::Result<()> {
    sys_signal::block_all_in_this_thread()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_numbers_and_realtime() {
        assert_eq!(parse("SIGTERM"), Some(libc::SIGTERM));
        assert_eq!(parse("term"), Some(libc::SIGTERM));
        assert_eq!(parse("15"), Some(15));
        assert_eq!(parse("SIGUSR1"), Some(libc::SIGUSR1));
        assert_eq!(parse("SIGRTMIN"), Some(libc::SIGRTMIN()));
        assert_eq!(parse("RTMIN+2"), Some(libc::SIGRTMIN() + 2));
        assert_eq!(parse("SIGRTMAX-1"), Some(libc::SIGRTMAX() - 1));
        assert_eq!(parse("IOT"), Some(libc::SIGABRT));
        for bad in [
            "", "0", "65", "99", "-1", "SIGBOGUS", "RTMIN+99", "RTMIN-1", "32", "x",
        ] {
            assert_eq!(parse(bad), None, "{bad:?} must be rejected");
        }
    }

    #[test]
    fn forwardable_set_excludes_what_we_must_not_catch() {
        let set: Vec<i32> = forwardable().collect();
        for sig in [
            libc::SIGTERM,
            libc::SIGABRT,
            libc::SIGWINCH,
            libc::SIGPIPE,
            libc::SIGRTMIN(),
            libc::SIGRTMAX(),
        ] {
            assert!(set.contains(&sig), "{sig} must be forwarded");
        }
        for sig in NEVER_FORWARDED {
            assert!(!set.contains(&sig), "{sig} must not be forwarded");
        }
        assert!(!set.contains(&32) && !set.contains(&33));
    }

    #[test]
    fn rewrite_rules() {
        let mut t = RewriteTable::default();
        t.add_rule("15:3").unwrap();
        t.add_rule("SIGUSR1:0").unwrap();
        t.add_rule("RTMIN:RTMIN+1").unwrap();
        assert_eq!(t.map(15), Some(3));
        assert_eq!(t.map(libc::SIGUSR1), None);
        assert_eq!(t.map(libc::SIGRTMIN()), Some(libc::SIGRTMIN() + 1));
        assert_eq!(t.map(libc::SIGINT), Some(libc::SIGINT));
        for bad in ["99:1", "1:", "x", ":1", "9:1", "17:1", "15:99", "15"] {
            assert!(t.add_rule(bad).is_err(), "{bad:?} must be rejected");
        }
    }
}
