//! A pids cgroup that one test creates, puts its own processes into, and
//! removes again (killing whatever of its processes are still inside).
//! cgroup v1 (`/sys/fs/cgroup/pids`) and v2 (`/sys/fs/cgroup` with the pids
//! controller) are both handled.
#![allow(dead_code)]

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub struct PidsCgroup {
    pub path: PathBuf,
}

impl PidsCgroup {
    /// A new, empty cgroup limited to `max` tasks (threads count).
    pub fn create(tag: &str, max: u32) -> PidsCgroup {
        let v1 = Path::new("/sys/fs/cgroup/pids");
        let v2 = Path::new("/sys/fs/cgroup");
        let parent = if v1.join("cgroup.procs").exists() {
            v1
        } else {
            let controllers =
                std::fs::read_to_string(v2.join("cgroup.controllers")).unwrap_or_default();
            assert!(
                controllers.split_whitespace().any(|c| c == "pids"),
                "no pids cgroup controller on this machine (cgroup v1 pids or v2 with pids)"
            );
            // Best effort: the root may already delegate it.
            let _ = std::fs::write(v2.join("cgroup.subtree_control"), "+pids");
            v2
        };
        let path = parent.join(format!("tini-rs-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir(&path);
        std::fs::create_dir(&path)
            .unwrap_or_else(|e| panic!("cannot create the cgroup {}: {e}", path.display()));
        let cgroup = PidsCgroup { path };
        cgroup.set_max(max);
        cgroup
    }

    pub fn set_max(&self, max: u32) {
        std::fs::write(self.path.join("pids.max"), max.to_string())
            .unwrap_or_else(|e| panic!("cannot set pids.max in {}: {e}", self.path.display()));
    }

    /// Makes the process `cmd` starts join this cgroup before it execs, so
    /// everything it forks is limited too. (Writing "0" moves the writer.)
    pub fn join_before_exec(&self, cmd: &mut Command) {
        let procs = CString::new(
            self.path
                .join("cgroup.procs")
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

    pub fn procs(&self) -> Vec<i32> {
        std::fs::read_to_string(self.path.join("cgroup.procs"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// How often a fork was refused because of the limit (`pids.events`).
    pub fn refused_forks(&self) -> u64 {
        std::fs::read_to_string(self.path.join("pids.events"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("max ")?.trim().parse().ok())
            .unwrap_or(0)
    }

    pub fn current(&self) -> u64 {
        std::fs::read_to_string(self.path.join("pids.current"))
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        // Only processes this test put there can be inside.
        crate::common::wait_until(Duration::from_secs(10), || {
            let procs = self.procs();
            for &pid in procs.iter().filter(|&&p| p > 1) {
                // SAFETY: kill(2) to a process inside our own cgroup.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            procs.is_empty()
        });
        let _ = crate::common::wait_until(Duration::from_secs(5), || {
            std::fs::remove_dir(&self.path).is_ok()
        });
    }
}
