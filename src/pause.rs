//! `-P`: pause mode, for the process that holds a pod's namespaces (podman's
//! infra container, a Kubernetes-style pause container). No program: tini-rs
//! reaps every orphan that comes to it until SIGTERM or SIGINT, then exits 0,
//! after the `--grace-period` shutdown of what is left when one is set.
//!
//! One thread waits in the single loop of `one_thread` (sigwaitinfo(2)
//! over SIGCHLD and every forwardable signal: zero wake-ups while nothing
//! happens). It cannot block in waitpid(-1) as the reaper does elsewhere:
//! with no child yet, that returns ECHILD at once. Signals other than
//! SIGCHLD, SIGTERM and SIGINT are taken and dropped, so they neither end
//! the pause nor pile up in the queue.

use crate::event::{Event, Events};
use crate::one_thread::OneLoop;
use crate::shutdown::{self, GracePeriod};
use crate::status::ExitCode;
use std::time::Duration;

/// Pauses until SIGTERM or SIGINT; returns the exit code: 0, or 1 when the
/// loop could wait no more (sigwaitinfo or waitpid failed, which the loop
/// logs; start-up checked that the wait works).
pub fn run(grace_period: Option<Duration>, warn_on_reap: bool) -> ExitCode {
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
    log::info!("Pause mode: reaping orphans until SIGTERM or SIGINT");
    // Its first call reaps before it waits: children tini-rs was exec'd
    // with may have exited already, their SIGCHLD sent to the process we
    // replaced.
    let mut events = OneLoop::pausing(warn_on_reap);
    loop {
        match events.next(None) {
            Some(Event::StopRequested) => break,
            // Logged by the loop; never waited on again, which would spin.
            Some(Event::ReaperFailed | Event::NoChildren) => return ExitCode::FAILURE,
            Some(Event::MainExited(_)) | None => {}
        }
    }
    match shutdown {
        Some(Ok(shutdown)) => shutdown.stop_every_descendant(),
        Some(Err(grace)) => {
            let events = events.with_stop_requested();
            shutdown::run_single_threaded(grace, events, None, false);
        }
        None => {}
    }
    ExitCode::SUCCESS
}
