//! `-P`: pause mode, for the process that holds a pod's namespaces (podman's
//! infra container, a Kubernetes-style pause container). No program: tini-rs
//! reaps every orphan that comes to it until SIGTERM or SIGINT, then exits 0,
//! after the `--grace-period` shutdown of what is left when one is set.
//!
//! One thread takes SIGCHLD and every forwardable signal off the queue with
//! sigwaitinfo(2): zero wake-ups while nothing happens. It cannot block in
//! waitpid(-1) as the reaper does elsewhere: with no child yet, that returns
//! ECHILD at once. Signals other than SIGCHLD, SIGTERM and SIGINT are taken
//! and dropped, so they neither end the pause nor pile up in the queue.

use crate::one_thread::OneLoop;
use crate::reaper;
use crate::shutdown::{self, GracePeriod};
use crate::signals::{self, WaitSet};
use crate::status::ExitCode;
use std::io;
use std::time::Duration;

/// Pauses until SIGTERM or SIGINT; returns the exit code. `Err` only when
/// sigwaitinfo fails (start-up checked that it works).
pub fn run(grace_period: Option<Duration>, warn_on_reap: bool) -> io::Result<ExitCode> {
    // Started now, while nothing depends on it: failing later, at the stop,
    // would leave the descendants without their bounded shutdown. Where no
    // thread can start, this thread does the reaping then too.
    let shutdown = grace_period.map(|grace| match GracePeriod::start(grace, warn_on_reap) {
        Ok(shutdown) => Ok(shutdown),
        Err(err) => {
            log::warn!(
                "cannot start the reaper thread ({err}); running single-threaded: one loop \
                 takes signals and reaps"
            );
            Err(grace)
        }
    });
    let waitset = WaitSet::of(signals::forwardable().chain([libc::SIGCHLD]));
    log::info!("Pause mode: reaping orphans until SIGTERM or SIGINT");
    // Children tini-rs was exec'd with may have exited already; their
    // SIGCHLD went to the process we replaced, or is pending.
    reap(warn_on_reap);
    loop {
        // Never retried on failure: that would spin.
        let sig = waitset.wait()?.sig;
        match sig {
            libc::SIGCHLD => reap(warn_on_reap),
            libc::SIGTERM | libc::SIGINT => {
                log::info!("Pause mode: {} received; stopping", signals::name(sig));
                break;
            }
            other => log::debug!("Pause mode: ignoring {}", signals::name(other)),
        }
    }
    match shutdown {
        Some(Ok(shutdown)) => shutdown.stop_every_descendant(),
        Some(Err(grace)) => {
            let events = OneLoop::new(None, None, warn_on_reap).with_stop_requested();
            shutdown::run_single_threaded(grace, events, None, false);
        }
        None => {}
    }
    Ok(ExitCode::SUCCESS)
}

fn reap(warn_on_reap: bool) {
    if let Err(err) = reaper::reap_exited(warn_on_reap) {
        log::error!("waitpid failed: {err}");
    }
}
