//! A pids cgroup that one test creates, puts its own processes into, and
//! removes again (killing whatever of its processes are still inside).
//! cgroup v1 (`/sys/fs/cgroup/pids`) and v2 (`/sys/fs/cgroup` with the pids
//! controller) are both handled.
#![allow(dead_code)]

use super::cgroup;
use std::path::{Path, PathBuf};
use std::process::Command;

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
    /// everything it forks is limited too.
    pub fn join_before_exec(&self, cmd: &mut Command) {
        cgroup::join_before_exec(&self.path, cmd);
    }

    pub fn procs(&self) -> Vec<i32> {
        cgroup::procs(&self.path)
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
        cgroup::empty_and_remove(&self.path);
    }
}
