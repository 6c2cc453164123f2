//! `--wait-all`: tini-rs outlives the main child until no descendant is
//! left (as PID 1: no other process in the namespace; as a subreaper: none
//! below it), then exits with the main child's status. For programs that
//! hand over to a successor and exit (Jenkins restarting itself) or that
//! daemonize: without it the init exits with the main child, and the kernel
//! kills whatever was still working.
//!
//! This module holds the one thing the reaper and the forwarder share for
//! it: whether the main child has been reaped. From then on every signal
//! tini-rs would have passed to the main child goes to every remaining
//! descendant instead: as PID 1 with one kill(-1), which the kernel applies
//! to the whole namespace at once; as a subreaper to each living descendant
//! found in /proc. With a grace period, a SIGTERM or SIGINT then starts the
//! shutdown, which sends every descendant SIGTERM itself, so it is not also
//! passed on (nobody gets two).

use crate::procfs;
use crate::shutdown::signal_descendant;
use crate::signals;
use crate::sys;
use std::sync::atomic::{AtomicBool, Ordering};

/// `--wait-all` was given.
static ON: AtomicBool = AtomicBool::new(false);
/// With `--grace-period`: stop signals are the shutdown's to send.
static GRACE_PERIOD: AtomicBool = AtomicBool::new(false);
/// The main child has been reaped.
static MAIN_REAPED: AtomicBool = AtomicBool::new(false);

/// Turns `--wait-all` on. Call it before the helper threads start.
pub fn turn_on(with_grace_period: bool) {
    GRACE_PERIOD.store(with_grace_period, Ordering::Relaxed);
    ON.store(true, Ordering::Release);
}

/// The reaper has reaped the main child.
pub fn main_child_reaped() {
    if ON.load(Ordering::Acquire) && !MAIN_REAPED.swap(true, Ordering::AcqRel) {
        log::info!(
            "--wait-all: staying until no descendant is left; signals now go to every \
             remaining descendant"
        );
    }
}

/// True once the main child has been reaped with a grace period set: a
/// SIGTERM or SIGINT then only starts the shutdown, which sends every
/// descendant SIGTERM itself, at once. So it is neither held
/// (`--stop-delay`) nor passed on.
pub fn stops_belong_to_the_shutdown() -> bool {
    MAIN_REAPED.load(Ordering::Acquire) && GRACE_PERIOD.load(Ordering::Relaxed)
}

/// Takes over passing on `out` (received as `sig`) once the main child has
/// been reaped: true when it has (the signal is then dealt with), false
/// while the main child's own target still applies.
pub fn pass_on_to_descendants(sig: i32, out: i32) -> bool {
    if !MAIN_REAPED.load(Ordering::Acquire) {
        return false;
    }
    if stops_belong_to_the_shutdown() && (sig == libc::SIGTERM || sig == libc::SIGINT) {
        log::debug!(
            "{} starts the grace period's shutdown, which sends SIGTERM to every descendant",
            signals::name(sig)
        );
        return true;
    }
    if sys::is_pid1() {
        match sys::kill_every_process_in_namespace(out) {
            Ok(()) => log::debug!(
                "Passing {} to every process in the namespace",
                signals::name(out)
            ),
            Err(err) if sys::is_gone(&err) => {
                log::debug!("No process left; {} not passed on", signals::name(out))
            }
            Err(err) => log::warn!(
                "Could not pass {} to the remaining processes: {err}",
                signals::name(out)
            ),
        }
        return true;
    }
    match procfs::Walk::below(sys::own_pid()).living_descendants() {
        Ok(left) => {
            let reached = left
                .iter()
                .filter(|process| signal_descendant(process, out))
                .count();
            log::debug!(
                "Passing {} to the {reached} remaining descendants",
                signals::name(out)
            );
        }
        Err(why) => log::warn!(
            "Could not pass {} to the remaining descendants: {why}",
            signals::name(out)
        ),
    }
    true
}
