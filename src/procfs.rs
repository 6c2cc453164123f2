//! Processes as /proc shows them: the one parser of `/proc/PID/stat` in
//! tini-rs, and the walk over tini-rs's own descendants that the shutdown
//! signals.

use std::collections::HashMap;

/// One process found in /proc. `start_time` (clock ticks after boot) tells a
/// process from a later one that got the same pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Process {
    pub pid: libc::pid_t,
    pub parent: libc::pid_t,
    pub start_time: u64,
    pub zombie: bool,
}

/// Parses /proc/PID/stat. The command name is in parentheses and may itself
/// contain ") ", so fields are counted from the last ')'. `None` once the
/// process is gone.
pub fn read_process(pid: libc::pid_t) -> Option<Process> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
    // After the name: state(3) ppid(4) ... starttime(22), numbered as in proc(5).
    Some(Process {
        pid,
        zombie: *fields.first()? == "Z",
        parent: fields.get(1)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

/// True while `pid` still names the process `process` (same start time).
pub fn still_the_same(process: &Process) -> bool {
    read_process(process.pid).is_some_and(|now| now.start_time == process.start_time)
}

/// The living descendants of `root`, at any depth: processes that left its
/// process group or session and double-forked daemons (re-parented to a
/// subreaper `root`) included; nothing outside its tree.
pub fn living_descendants(root: libc::pid_t) -> Vec<Process> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut children: HashMap<libc::pid_t, Vec<Process>> = HashMap::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        if let Some(p) = read_process(pid) {
            children.entry(p.parent).or_default().push(p);
        }
    }
    let mut found = Vec::new();
    let mut queue = vec![root];
    while let Some(parent) = queue.pop() {
        for p in children.remove(&parent).unwrap_or_default() {
            queue.push(p.pid);
            if !p.zombie {
                found.push(p);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_and_finds_a_child() {
        let me = read_process(std::process::id() as libc::pid_t).expect("our own stat");
        assert!(!me.zombie && me.start_time > 0);
        assert!(still_the_same(&me));
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let pid = child.id() as libc::pid_t;
        let found = living_descendants(me.pid).iter().any(|p| p.pid == pid);
        let _ = child.kill();
        let _ = child.wait();
        assert!(found, "the child {pid} was not found below {}", me.pid);
        assert!(read_process(pid).is_none(), "reaped, so gone from /proc");
    }
}
