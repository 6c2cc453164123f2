//! Why a process died, in one line: the signal that killed it, whether it
//! dumped core, and for SIGKILL whether the kernel's OOM killer sent it.
//!
//! The OOM verdict comes from the `oom_kill` counter of tini-rs's own
//! memory cgroup (cgroup v2 `memory.events`, or `memory.events.local` where
//! that is all there is; cgroup v1 `memory.oom_control`), found through
//! /proc/self/cgroup and /proc/self/mountinfo. It is read once at start
//! and again only when a process dies by SIGKILL: never polled, so nothing
//! at all happens while idle. A SIGKILL death while the counter rose since
//! the last reading was the OOM killer's doing (the kernel counts the kill
//! before the victim can be reaped). When no counter can be read, the line
//! says nothing about OOM rather than guess.
//!
//! A process that exits by itself has no cause to tell.

use crate::status::WaitStatus;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::OnceLock;

/// The counter found at start and its last reading; `None` inside when
/// none is readable.
static OOM: OnceLock<Option<Mutex<OomCounter>>> = OnceLock::new();

/// Finds tini-rs's memory cgroup and takes the counter's first reading.
/// Call it once, before the main child is spawned; a death reported before
/// (or without) it gets no OOM verdict.
pub fn start() {
    OOM.get_or_init(|| {
        let cgroups = read_small("/proc/self/cgroup")?;
        let mounts = read_small("/proc/self/mountinfo")?;
        let counter = candidates(&cgroups, &mounts)
            .into_iter()
            .find_map(OomCounter::open);
        match &counter {
            Some(c) => log::debug!(
                "OOM kills counted in {} ({} so far)",
                c.file.display(),
                c.seen
            ),
            None => log::debug!("No readable OOM kill counter; deaths get no OOM verdict"),
        }
        counter.map(Mutex::new)
    });
}

/// How a process that ended with `status` died, if a signal killed
/// it: `killed by SIGSEGV (core dumped)`, `killed by SIGKILL, by the
/// kernel's OOM killer (memory.max 33554432)`, `killed by SIGKILL, not by
/// the OOM killer`. `None` for an exit. Every SIGKILL death reads the
/// counter, logged or not, so that an OOM kill is never blamed on a later
/// death.
pub fn cause(status: WaitStatus) -> Option<String> {
    let sig = status.killing_signal()?;
    let mut cause = format!("killed by {}", crate::signals::name(sig));
    if status.core_dumped() {
        cause.push_str(" (core dumped)");
    }
    if sig == libc::SIGKILL
        && let Some(verdict) = oom_verdict()
    {
        cause.push_str(", ");
        cause.push_str(&verdict);
    }
    Some(cause)
}

/// Reads the counter again: `by the kernel's OOM killer (LIMIT)` if it rose
/// since the last reading, else `not by the OOM killer`; `None` when there
/// is no counter or it cannot be read now.
fn oom_verdict() -> Option<String> {
    let mut counter = OOM.get()?.as_ref()?.lock().ok()?;
    let now = counter.read()?;
    let rose = now > counter.seen;
    counter.seen = now;
    Some(if rose {
        format!("by the kernel's OOM killer ({})", counter.limit())
    } else {
        "not by the OOM killer".to_string()
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// A memory cgroup directory as this process sees it.
#[derive(Debug, PartialEq, Eq)]
struct Candidate {
    dir: PathBuf,
    version: Version,
}

/// The counter file, its last reading, and where the limit is.
struct OomCounter {
    file: PathBuf,
    limit_file: PathBuf,
    seen: u64,
}

impl OomCounter {
    /// The counter in `candidate`, if readable now.
    fn open(candidate: Candidate) -> Option<OomCounter> {
        let (files, limit): (&[&str], &str) = match candidate.version {
            // memory.events counts the kills below this cgroup too (a child
            // may have moved into a sub-cgroup); memory.events.local, where
            // memory.events is missing, only this cgroup's.
            Version::V2 => (&["memory.events", "memory.events.local"], "memory.max"),
            Version::V1 => (&["memory.oom_control"], "memory.limit_in_bytes"),
        };
        files.iter().find_map(|name| {
            let file = candidate.dir.join(name);
            let seen = read_oom_kills(&file)?;
            Some(OomCounter {
                file,
                limit_file: candidate.dir.join(limit),
                seen,
            })
        })
    }

    fn read(&self) -> Option<u64> {
        read_oom_kills(&self.file)
    }

    /// `memory.max 33554432`, `memory.limit_in_bytes unlimited`, or the
    /// file's name alone when it cannot be read.
    fn limit(&self) -> String {
        let name = self
            .limit_file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match read_small(&self.limit_file) {
            Some(text) => format!("{name} {}", describe_limit(text.trim())),
            None => name,
        }
    }
}

/// cgroup v1 says "no limit" with the largest page-aligned counter value
/// (9223372036854771712 with 4 KiB pages); v2 says `max`.
fn describe_limit(text: &str) -> &str {
    match text.parse::<u64>() {
        Ok(n) if n >= 1 << 62 => "unlimited",
        _ => text,
    }
}

fn read_oom_kills(file: &Path) -> Option<u64> {
    oom_kills(&read_small(file)?)
}

/// A /proc or /sys file, read with a page-sized buffer from the start: they
/// report a size of 0, so `read_to_string` would begin with 32-byte reads.
fn read_small(path: impl AsRef<Path>) -> Option<String> {
    use std::io::Read;
    let mut text = String::with_capacity(4096);
    std::fs::File::open(path)
        .ok()?
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

/// The `oom_kill N` line of `memory.events`, `memory.events.local` or
/// `memory.oom_control` (kernels before 4.13 have none in the last).
fn oom_kills(text: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(' ')?;
        (key == "oom_kill").then(|| value.trim().parse().ok())?
    })
}

/// The memory cgroup directories this process may read its counter from,
/// best first: its cgroup v2 directory (a hybrid system mounts one that has
/// no memory controller: its counter file is then missing, and the v1 one
/// is used), then its cgroup v1 memory directory. `cgroups` is the text of
/// /proc/self/cgroup, `mounts` of /proc/self/mountinfo.
fn candidates(cgroups: &str, mounts: &str) -> Vec<Candidate> {
    let mut found = Vec::new();
    for (version, path) in [
        (Version::V2, own_cgroup(cgroups, Version::V2)),
        (Version::V1, own_cgroup(cgroups, Version::V1)),
    ] {
        let Some(path) = path else { continue };
        for mount in mounts.lines().filter_map(Mount::parse) {
            if mount.version() != Some(version) {
                continue;
            }
            // A mount shows the hierarchy from its root down (a container's
            // /sys/fs/cgroup starts at the container's own cgroup).
            let Some(below) = below(&path, &mount.root) else {
                continue;
            };
            found.push(Candidate {
                dir: Path::new(&mount.point).join(below),
                version,
            });
        }
    }
    found
}

/// The cgroup path of this process in `version`'s memory hierarchy, from
/// /proc/self/cgroup: the `0::PATH` line for v2, the line whose controllers
/// include `memory` for v1.
fn own_cgroup(cgroups: &str, version: Version) -> Option<String> {
    cgroups.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (id, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let wanted = match version {
            Version::V2 => id == "0" && controllers.is_empty(),
            Version::V1 => controllers.split(',').any(|c| c == "memory"),
        };
        wanted.then(|| path.to_string())
    })
}

/// `path` relative to `root` (both absolute cgroup paths), or `None` when
/// `path` is not under `root`: that mount does not show this cgroup.
fn below(path: &str, root: &str) -> Option<String> {
    let rest = path.strip_prefix(root.trim_end_matches('/'))?;
    if !rest.is_empty() && !rest.starts_with('/') {
        return None;
    }
    Some(rest.trim_start_matches('/').to_string())
}

/// The fields of one /proc/self/mountinfo line that matter here.
struct Mount {
    root: String,
    point: String,
    fs_type: String,
    super_options: String,
}

impl Mount {
    /// `ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER`
    fn parse(line: &str) -> Option<Mount> {
        let (left, right) = line.split_once(" - ")?;
        let left: Vec<&str> = left.split(' ').collect();
        let mut right = right.split(' ');
        let fs_type = right.next()?.to_string();
        let _source = right.next()?;
        Some(Mount {
            root: unescape(left.get(3)?),
            point: unescape(left.get(4)?),
            fs_type,
            super_options: right.next().unwrap_or("").to_string(),
        })
    }

    fn version(&self) -> Option<Version> {
        match self.fs_type.as_str() {
            "cgroup2" => Some(Version::V2),
            "cgroup" if self.super_options.split(',').any(|o| o == "memory") => Some(Version::V1),
            _ => None,
        }
    }
}

/// mountinfo writes space, tab, newline and backslash as `\ooo` octal.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let code = bytes
            .get(i + 1..i + 4)
            .filter(|_| bytes[i] == b'\\')
            .and_then(|o| u8::from_str_radix(std::str::from_utf8(o).ok()?, 8).ok());
        match code {
            Some(c) => {
                out.push(c);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The shapes below are copied from real systems: a kernel 6.x cgroup v2
    // host (memory.events with oom_group_kill, and the sock_throttled line
    // of 6.12+), a v1 host's memory.oom_control, a hybrid v1 host like this
    // test machine, and a container on each.

    const V2_EVENTS: &str = "low 0\nhigh 0\nmax 117\noom 3\noom_kill 2\noom_group_kill 0\n";
    const V2_EVENTS_612: &str =
        "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\nsock_throttled 0\n";
    const V1_OOM_CONTROL: &str = "oom_kill_disable 0\nunder_oom 0\noom_kill 5\n";
    const V1_OOM_CONTROL_OLD: &str = "oom_kill_disable 0\nunder_oom 0\n";

    #[test]
    fn reads_the_oom_kill_counter_of_every_shape() {
        assert_eq!(oom_kills(V2_EVENTS), Some(2));
        assert_eq!(oom_kills(V2_EVENTS_612), Some(0));
        assert_eq!(oom_kills(V1_OOM_CONTROL), Some(5));
        // Before Linux 4.13 v1 had no counter: no verdict, not a guess.
        assert_eq!(oom_kills(V1_OOM_CONTROL_OLD), None);
        assert_eq!(oom_kills(""), None);
        assert_eq!(oom_kills("oom_kill x\n"), None);
    }

    #[test]
    fn limits() {
        assert_eq!(describe_limit("33554432"), "33554432");
        assert_eq!(describe_limit("max"), "max");
        assert_eq!(describe_limit("9223372036854771712"), "unlimited");
    }

    const V2_HOST_CGROUP: &str = "0::/system.slice/docker-0123abcd.scope\n";
    const V2_HOST_MOUNTS: &str = "\
22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    #[test]
    fn cgroup_v2_host() {
        assert_eq!(
            candidates(V2_HOST_CGROUP, V2_HOST_MOUNTS),
            [Candidate {
                dir: "/sys/fs/cgroup/system.slice/docker-0123abcd.scope".into(),
                version: Version::V2
            }]
        );
    }

    /// Docker on cgroup v2: a private cgroup namespace, the container's own
    /// cgroup mounted read-only at /sys/fs/cgroup.
    #[test]
    fn cgroup_v2_container() {
        let mounts = "\
600 599 0:64 / / rw,relatime master:300 - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
610 606 0:31 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw,nsdelegate,memory_recursiveprot
";
        assert_eq!(
            candidates("0::/\n", mounts),
            [Candidate {
                dir: "/sys/fs/cgroup/".into(),
                version: Version::V2
            }]
        );
    }

    /// A hybrid v1 host like this test machine: the v2 mount has no memory
    /// controller (so no counter file there), the v1 memory one has.
    #[test]
    fn cgroup_v1_hybrid_host() {
        let cgroups = "\
9:name=systemd:/
4:memory:/process_api/92705877fd422e9553550eca303bd223
3:cpuset:/
1:cpu:/
0::/
";
        let mounts = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
        assert_eq!(
            candidates(cgroups, mounts),
            [
                Candidate {
                    dir: "/sys/fs/cgroup/unified/".into(),
                    version: Version::V2
                },
                Candidate {
                    dir: "/sys/fs/cgroup/memory/process_api/92705877fd422e9553550eca303bd223"
                        .into(),
                    version: Version::V1
                }
            ]
        );
    }

    /// Docker on cgroup v1 shares the host's cgroup namespace: the path is
    /// the host's, and the mount's root is the container's cgroup.
    #[test]
    fn cgroup_v1_container_in_the_hosts_namespace() {
        let cgroups = "12:memory:/docker/4f1c\n11:cpu,cpuacct:/docker/4f1c\n0::/docker/4f1c\n";
        let mounts = "\
700 699 0:70 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,mode=755
705 700 0:32 /docker/4f1c /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime master:17 - cgroup cgroup rw,memory
706 700 0:30 /docker/4f1c /sys/fs/cgroup/cpu,cpuacct ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpu,cpuacct
";
        assert_eq!(
            candidates(cgroups, mounts),
            [Candidate {
                dir: "/sys/fs/cgroup/memory/".into(),
                version: Version::V1
            }]
        );
    }

    #[test]
    fn a_mount_that_does_not_show_our_cgroup_is_skipped() {
        assert_eq!(below("/docker/4f1c", "/docker/9999"), None);
        assert_eq!(below("/docker/4f1cx", "/docker/4f1c"), None);
        assert_eq!(below("/a/b", "/"), Some("a/b".to_string()));
        assert_eq!(below("/a/b", "/a"), Some("b".to_string()));
    }

    #[test]
    fn mount_points_with_spaces() {
        let m = Mount::parse(r"41 31 0:38 / /mnt/my\040cgroups rw - cgroup2 cgroup2 rw")
            .expect("parses");
        assert_eq!(m.point, "/mnt/my cgroups");
        assert_eq!(m.version(), Some(Version::V2));
    }

    #[test]
    fn causes() {
        // Raw wait statuses: signal in the low 7 bits, 0x80 for a core.
        let cause = |raw| cause(WaitStatus::from_raw(raw));
        assert_eq!(cause(3 << 8), None);
        assert_eq!(cause(0), None);
        assert_eq!(
            cause(libc::SIGSEGV | 0x80).as_deref(),
            Some("killed by SIGSEGV (core dumped)")
        );
        assert_eq!(cause(libc::SIGTERM).as_deref(), Some("killed by SIGTERM"));
    }

    /// This machine's own counter: found and readable where a memory
    /// cgroup is mounted (not in every build sandbox, so not asserted).
    #[test]
    fn finds_this_machines_counter_if_any() {
        let (Ok(cgroups), Ok(mounts)) = (
            std::fs::read_to_string("/proc/self/cgroup"),
            std::fs::read_to_string("/proc/self/mountinfo"),
        ) else {
            return;
        };
        if let Some(c) = candidates(&cgroups, &mounts)
            .into_iter()
            .find_map(OomCounter::open)
        {
            assert!(c.read().is_some(), "{} unreadable", c.file.display());
            assert!(!c.limit().is_empty());
        }
    }
}
