//! What the reaper and forwarder threads tell the main thread.

use crate::status::WaitStatus;

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
