//! What every cgroup a test makes needs, whatever its controller: moving
//! a process in before it execs, listing the processes inside, and, at
//! the end, killing them and removing the directory. `pids_cgroup` and
//! `memory_cgroup` build on it.
#![allow(dead_code)]

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Makes the process `cmd` starts join the cgroup `dir` before it execs, so
/// everything it forks is in it too. (Writing "0" moves the writer.)
pub fn join_before_exec(dir: &Path, cmd: &mut Command) {
    let procs = CString::new(
        dir.join("cgroup.procs")
            .into_os_string()
            .into_encoded_bytes(),
    )
    .expect("no NUL in a /sys path");
    // SAFETY: the closure runs between fork and exec and only makes the
    // async-signal-safe calls open, write and close on a path allocated
    // before the fork.
    unsafe {
        cmd.pre_exec(move || {
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let ok = libc::write(fd, b"0".as_ptr().cast(), 1) == 1;
            let err = std::io::Error::last_os_error();
            libc::close(fd);
            if ok { Ok(()) } else { Err(err) }
        });
    }
}

/// The processes in the cgroup `dir`.
pub fn procs(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// SIGKILL to whatever is still in the cgroup `dir` (only processes the
/// test put there can be), then removes it; both bounded in time.
pub fn empty_and_remove(dir: &Path) {
    super::wait_until(Duration::from_secs(10), || {
        let left = procs(dir);
        for &pid in left.iter().filter(|&&p| p > 1) {
            // SAFETY: kill(2) to a process inside our own cgroup.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        left.is_empty()
    });
    let _ = super::wait_until(Duration::from_secs(5), || std::fs::remove_dir(dir).is_ok());
}
