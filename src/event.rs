//! What the reaper and forwarder threads tell the main thread, and the one
//! way the shutdown reads it: from their channel, or, where no thread could
//! start, from the single loop that does their work itself (`one_thread`),
//! which pause mode reads the same way.

use crate::status::WaitStatus;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The main child was reaped; its raw wait status.
    MainExited(WaitStatus),
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
    /// takes). `None` when the time came without one. A source that can
    /// give nothing more gives [`Event::ReaperFailed`].
    fn next(&mut self, timeout: Option<Duration>) -> Option<Event>;
}

/// The helper threads' channel.
impl Events for Receiver<Event> {
    fn next(&mut self, timeout: Option<Duration>) -> Option<Event> {
        let received = match timeout {
            None => self.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(timeout) => self.recv_timeout(timeout),
        };
        match received {
            Ok(event) => Some(event),
            Err(RecvTimeoutError::Timeout) => None,
            // Every sender gone: nothing will ever be reported again.
            Err(RecvTimeoutError::Disconnected) => Some(Event::ReaperFailed),
        }
    }
}
