//! What the reaper and forwarder threads tell the main thread, and the one
//! way the shutdown reads it: from their channel, or, when no thread could
//! start, from the single loop that does their work itself (`one_thread`).

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The main child was reaped; its raw wait status.
    MainExited(i32),
    /// tini-rs received SIGTERM or SIGINT (only sent when a grace period is set).
    StopRequested,
    /// tini-rs has no child left at all, so no descendant either.
    NoChildren,
    /// waitpid failed with something other than "no child": nothing more
    /// can be reaped, and waiting on would be waiting forever.
    ReaperFailed,
}

/// Where the shutdown's events come from.
pub trait Events {
    /// The next event, waiting at most `timeout` (`None`: as long as it
    /// takes). `Timeout` when none came; `Disconnected` when none ever will.
    fn next(&mut self, timeout: Option<Duration>) -> Result<Event, RecvTimeoutError>;
}

/// The helper threads' channel.
impl Events for Receiver<Event> {
    fn next(&mut self, timeout: Option<Duration>) -> Result<Event, RecvTimeoutError> {
        match timeout {
            None => self.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(timeout) => self.recv_timeout(timeout),
        }
    }
}
