//! A memory cgroup that one test creates with a limit, puts its own
//! processes into, and removes again (killing whatever of them is still
//! inside). cgroup v1 (`/sys/fs/cgroup/memory`, `memory.limit_in_bytes`)
//! and v2 (`/sys/fs/cgroup` with the memory controller, `memory.max`).
#![allow(dead_code)]

use super::cgroup;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct MemoryCgroup {
    pub path: PathBuf,
    pub v1: bool,
}

impl MemoryCgroup {
    /// A new, empty cgroup limited to `bytes` of memory.
    pub fn create(tag: &str, bytes: u64) -> MemoryCgroup {
        let v1 = Path::new("/sys/fs/cgroup/memory");
        let v2 = Path::new("/sys/fs/cgroup");
        let (parent, is_v1) = if v1.join("cgroup.procs").exists() {
            (v1, true)
        } else {
            let controllers =
                std::fs::read_to_string(v2.join("cgroup.controllers")).unwrap_or_default();
            assert!(
                controllers.split_whitespace().any(|c| c == "memory"),
                "no memory cgroup controller on this machine (cgroup v1 memory or v2 with memory)"
            );
            // Best effort: the root may already delegate it.
            let _ = std::fs::write(v2.join("cgroup.subtree_control"), "+memory");
            (v2, false)
        };
        let path = parent.join(format!("tini-rs-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir(&path);
        std::fs::create_dir(&path)
            .unwrap_or_else(|e| panic!("cannot create the cgroup {}: {e}", path.display()));
        let limit = if is_v1 {
            "memory.limit_in_bytes"
        } else {
            "memory.max"
        };
        std::fs::write(path.join(limit), bytes.to_string())
            .unwrap_or_else(|e| panic!("cannot set {limit} in {}: {e}", path.display()));
        MemoryCgroup { path, v1: is_v1 }
    }

    /// Makes the process `cmd` starts join this cgroup before it execs.
    pub fn join_before_exec(&self, cmd: &mut Command) {
        cgroup::join_before_exec(&self.path, cmd);
    }

    /// The most memory the cgroup used (v1 only; v2 has `memory.peak` on
    /// newer kernels).
    pub fn peak(&self) -> Option<u64> {
        let file = if self.v1 {
            "memory.max_usage_in_bytes"
        } else {
            "memory.peak"
        };
        std::fs::read_to_string(self.path.join(file))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    pub fn procs(&self) -> Vec<i32> {
        cgroup::procs(&self.path)
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        cgroup::empty_and_remove(&self.path);
    }
}
