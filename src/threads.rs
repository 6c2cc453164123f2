//! Starting tini-rs's helper threads (the forwarder, and the reaper when
//! there is a grace period).

use std::io;
use std::thread::JoinHandle;

/// They only log and make system calls; untouched stack costs nothing but
/// address space.
const STACK_SIZE: usize = 64 * 1024;

/// Starts a named thread with a small stack. Fails like the kernel's clone
/// (EAGAIN under a pids limit), so call it before the main child exists:
/// failing then leaves nothing behind.
pub fn start(name: &str, body: impl FnOnce() + Send + 'static) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.into())
        .stack_size(STACK_SIZE)
        .spawn(body)
}
