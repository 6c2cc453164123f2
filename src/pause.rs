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

use crate::reaper;
use crate::shutdown::GracePeriod;
use crate::signals::{self, WaitSet};
use crate::status::ExitCode;
use std::io;
use std::time::Duration;

/// Pauses until SIGTERM or SIGINT; returns the exit code. `Err` only when
/// the reaper thread a grace period needs cannot start.
pub fn run(grace_period: Option<Duration>, warn_on_reap: bool) -> io::Result<ExitCode> {
    // Started now, while nothing depends on it: failing later, at the stop,
    // would leave the descendants without their bounded shutdown.
    let shutdown = grace_period
        .map(|grace| GracePeriod::start(grace, warn_on_reap))
        .transpose()?;
    let waitset = WaitSet::of(signals::forwardable().chain([libc::SIGCHLD]));
    log::info!("Pause mode: reaping orphans until SIGTERM or SIGINT");
    // Children tini-rs was exec'd with may have exited already; their
    // SIGCHLD went to the process we replaced, or is pending.
    reap(warn_on_reap);
    loop {
        let sig = waitset.wait().sig;
        match sig {
            libc::SIGCHLD => reap(warn_on_reap),
            libc::SIGTERM | libc::SIGINT => {
                log::info!("Pause mode: {} received; stopping", signals::name(sig));
                break;
            }
            other => log::debug!("Pause mode: ignoring {}", signals::name(other)),
        }
    }
    if let Some(shutdown) = shutdown {
        shutdown.stop_every_descendant();
    }
    Ok(ExitCode::SUCCESS)
}

fn reap(warn_on_reap: bool) {
    if let Err(err) = reaper::reap_exited(warn_on_reap) {
        log::error!("waitpid failed: {err}");
    }
}
