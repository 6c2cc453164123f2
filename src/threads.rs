//! Starting tini-rs's helper threads (the forwarder, and the reaper when
//! there is a grace period), and knowing their thread ids: ids the
//! shutdown must never signal, whatever a walk of /proc found.

use crate::sys;
use std::io;
use std::sync::Mutex;
use std::thread::JoinHandle;

/// The thread ids of the helper threads started so far: pids the shutdown
/// must never signal, whatever a walk of /proc says.
static HELPER_THREAD_IDS: Mutex<Vec<libc::pid_t>> = Mutex::new(Vec::new());

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
        .spawn(move || {
            let tid = sys::own_thread_id();
            helper_thread_ids().push(tid);
            body();
            // The kernel may give the id to a new process from now on.
            helper_thread_ids().retain(|&id| id != tid);
        })
}

/// True when `pid` is tini-rs itself or one of its running helper threads.
pub fn is_ours(pid: libc::pid_t) -> bool {
    pid == sys::own_pid() || helper_thread_ids().contains(&pid)
}

/// The list, even if a thread panicked while holding it: it is only ever
/// pushed to and filtered, so it cannot be left half-changed.
fn helper_thread_ids() -> std::sync::MutexGuard<'static, Vec<libc::pid_t>> {
    HELPER_THREAD_IDS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// After joining every helper thread: waits (at most a second) until the
/// kernel has released them too. A joined thread may still count against a
/// pids limit for a moment: join returns when the thread's exit clears its
/// tid, just before the kernel releases the task.
pub fn wait_until_single_threaded() {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while std::time::Instant::now() < deadline {
        let tasks = std::fs::read_dir("/proc/self/task").map(|d| d.count());
        if !matches!(tasks, Ok(n) if n > 1) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// For unit tests: runs `f` with the id of a thread that lives while `f`
/// runs (an ordinary std thread, not a listed helper thread).
#[cfg(test)]
pub fn with_a_running_thread<T>(f: impl FnOnce(libc::pid_t) -> T) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let _ = tx.send(sys::own_thread_id());
        let _ = done_rx.recv();
    });
    let result = f(rx.recv().expect("the thread's id"));
    let _ = done_tx.send(());
    let _ = thread.join();
    result
}
