//! Processes as /proc shows them: the one parser of `/proc/PID/stat` in
//! tini-rs, and the walk over tini-rs's own descendants that the shutdown
//! signals.
//!
//! The walk promises two things. It only answers from a /proc that is the
//! proc filesystem of tini-rs's own PID namespace: in any other (a /proc
//! mounted by an outer namespace, as `unshare --pid` without
//! `--mount-proc` leaves it) the numbers are not the pids tini-rs can
//! signal, and it says so instead of answering. And a walk that could not
//! look (no descriptor left, no /proc) says that too: it never answers
//! "nobody there". It holds one descriptor at a time, so one free
//! descriptor is all it needs.

use std::collections::HashMap;
use std::io;

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
/// process is gone, or when the file cannot be read at all.
pub fn read_process(pid: libc::pid_t) -> Option<Process> {
    try_read_process(pid).ok().flatten()
}

/// Like [`read_process`], but a file that could not be read for another
/// reason than the process being gone (EMFILE: no descriptor left) is an
/// error, not "gone".
fn try_read_process(pid: libc::pid_t) -> io::Result<Option<Process>> {
    let stat = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat,
        // ESRCH: it exited between the open and the read.
        Err(err) if err.kind() == io::ErrorKind::NotFound || is_gone(&err) => return Ok(None),
        Err(err) => return Err(err),
    };
    Ok(parse_stat(pid, &stat))
}

fn is_gone(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::ESRCH)
}

fn parse_stat(pid: libc::pid_t, stat: &str) -> Option<Process> {
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    // After the name: state(3) ppid(4) ... starttime(22), numbered as in proc(5).
    Some(Process {
        pid,
        zombie: *fields.first()? == "Z",
        parent: fields.get(1)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

/// True while `pid` still names the process `process` (same start time).
/// `Err` when /proc could not be read (no descriptor left): not known.
pub fn still_the_same(process: &Process) -> io::Result<bool> {
    Ok(try_read_process(process.pid)?.is_some_and(|now| now.start_time == process.start_time))
}

/// The deepest parent chain followed before giving up (a chain that long,
/// or a loop from pids reused while it is read, is not trusted).
const MAX_DEPTH: usize = 4096;

/// True while `process` is still the process the walk found (same start
/// time, not yet a zombie) and still below `root`: its parent, its
/// parent's parent and so on lead to `root`. What signalling by pid needs,
/// where no pidfd pins the process: a pid that now names another process,
/// or names a thread (whose parent is its process's parent), or anything
/// outside `root`'s tree fails. Any read that fails fails the check.
pub fn still_below(process: &Process, root: libc::pid_t) -> bool {
    let Ok(Some(now)) = try_read_process(process.pid) else {
        return false;
    };
    if now.start_time != process.start_time || now.zombie {
        return false;
    }
    let mut parent = now.parent;
    for _ in 0..MAX_DEPTH {
        if parent == root {
            return true;
        }
        if parent <= 1 {
            return false;
        }
        match try_read_process(parent) {
            Ok(Some(p)) => parent = p.parent,
            _ => return false,
        }
    }
    false
}

/// Why a walk gave no answer.
#[derive(Debug)]
pub enum CannotWalk {
    /// /proc is not the proc filesystem of tini-rs's PID namespace: the
    /// pids in it are not ours to signal. Says how that was seen.
    Foreign(String),
    /// /proc could not be read (no descriptor left, not mounted).
    Unreadable(io::Error),
}

impl std::fmt::Display for CannotWalk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CannotWalk::Foreign(how) => write!(f, "/proc belongs to another PID namespace ({how})"),
            CannotWalk::Unreadable(err) => write!(f, "cannot read /proc ({err})"),
        }
    }
}

/// The walk over one process's descendants, again and again. Remembers a
/// /proc found foreign: that does not change while tini-rs runs.
pub struct Walk {
    root: libc::pid_t,
    /// `None` until /proc has been seen to be ours (then `Some(None)`) or
    /// foreign (`Some(Some(how))`).
    foreign: Option<Option<String>>,
}

impl Walk {
    /// A walk below `root`, which must be tini-rs itself: only its own
    /// pid can be checked against /proc.
    pub fn below(root: libc::pid_t) -> Walk {
        Walk {
            root,
            foreign: None,
        }
    }

    /// `Some(true)` when /proc is not the proc filesystem of tini-rs's PID
    /// namespace, `Some(false)` when it is, `None` while that cannot be
    /// read.
    pub fn proc_is_foreign(&mut self) -> Option<bool> {
        if self.foreign.is_none() {
            self.foreign = foreign_proc(self.root).ok();
        }
        self.foreign.as_ref().map(Option::is_some)
    }

    /// The living descendants of `root`, at any depth: processes that left
    /// its process group or session and double-forked daemons (re-parented
    /// to a subreaper `root`) included; nothing outside its tree.
    pub fn living_descendants(&mut self) -> Result<Vec<Process>, CannotWalk> {
        if self.foreign.is_none() {
            self.foreign = Some(foreign_proc(self.root).map_err(CannotWalk::Unreadable)?);
        }
        if let Some(Some(how)) = &self.foreign {
            return Err(CannotWalk::Foreign(how.clone()));
        }
        // Listed first and closed before any stat file is opened: one
        // descriptor at a time.
        let pids: Vec<libc::pid_t> = std::fs::read_dir("/proc")
            .map_err(CannotWalk::Unreadable)?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect::<io::Result<Vec<_>>>()
            .map_err(CannotWalk::Unreadable)?
            .iter()
            .filter_map(|name| name.to_str()?.parse().ok())
            .collect();
        let mut children: HashMap<libc::pid_t, Vec<Process>> = HashMap::new();
        for pid in pids {
            if let Some(p) = try_read_process(pid).map_err(CannotWalk::Unreadable)? {
                children.entry(p.parent).or_default().push(p);
            }
        }
        let mut found = Vec::new();
        let mut queue = vec![self.root];
        while let Some(parent) = queue.pop() {
            for p in children.remove(&parent).unwrap_or_default() {
                queue.push(p.pid);
                if !p.zombie {
                    found.push(p);
                }
            }
        }
        Ok(found)
    }
}

/// `Ok(None)` when /proc is the proc filesystem of the PID namespace of
/// `own_pid` (tini-rs), `Ok(Some(how it was seen))` when it is another's.
/// `/proc/self` names the reader by its pid in /proc's namespace: a
/// number other than ours, or nothing at all (we are not in that
/// namespace), is foreign. A matching number can still be a coincidence
/// in an outer namespace's /proc, which `NSpid` in /proc/self/status tells
/// (Linux 4.1 and later): it lists one pid per namespace level from /proc's
/// down to ours, so exactly one in our own.
fn foreign_proc(own_pid: libc::pid_t) -> io::Result<Option<String>> {
    let named = match std::fs::read_link("/proc/self") {
        Ok(target) => target.to_str().and_then(|t| t.parse::<libc::pid_t>().ok()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            // A proc filesystem without us in it, or no proc filesystem.
            if std::fs::metadata("/proc/1/stat").is_ok() {
                return Ok(Some(
                    "/proc/self does not exist: tini-rs is not in its namespace".to_string(),
                ));
            }
            return Err(err);
        }
        Err(err) => return Err(err),
    };
    match named {
        Some(pid) if pid == own_pid => {}
        Some(pid) => {
            return Ok(Some(format!(
                "/proc/self is {pid}, tini-rs is pid {own_pid}"
            )));
        }
        None => return Ok(Some("/proc/self names no pid".to_string())),
    }
    let status = std::fs::read_to_string("/proc/self/status")?;
    let levels = status
        .lines()
        .find_map(|line| line.strip_prefix("NSpid:"))
        .map(|pids| pids.split_whitespace().count());
    Ok(match levels {
        Some(levels) if levels > 1 => Some(format!(
            "/proc/self/status shows tini-rs in {levels} nested PID namespaces, /proc's and {} below",
            levels - 1
        )),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own_pid() -> libc::pid_t {
        std::process::id() as libc::pid_t
    }

    #[test]
    fn reads_this_process_and_finds_a_child() {
        let me = read_process(own_pid()).expect("our own stat");
        assert!(!me.zombie && me.start_time > 0);
        assert!(still_the_same(&me).expect("readable"));
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let pid = child.id() as libc::pid_t;
        let found = Walk::below(me.pid)
            .living_descendants()
            .expect("our own /proc")
            .into_iter()
            .find(|p| p.pid == pid);
        let below = found.is_some_and(|p| still_below(&p, me.pid));
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            found.is_some(),
            "the child {pid} was not found below {}",
            me.pid
        );
        assert!(below, "the child {pid} is below {}", me.pid);
        assert!(read_process(pid).is_none(), "reaped, so gone from /proc");
    }

    /// A thread's id reads like a process in /proc/TID/stat, but its
    /// parent is its process's parent: never below the process itself.
    #[test]
    fn a_thread_of_ours_is_not_below_us() {
        let seen = crate::threads::with_a_running_thread(read_process);
        let thread = seen.expect("/proc/TID/stat of a live thread");
        assert!(!still_below(&thread, own_pid()));
    }

    #[test]
    fn the_test_runs_with_its_own_proc() {
        assert_eq!(foreign_proc(own_pid()).expect("readable"), None);
        let other = own_pid() + 1;
        assert!(
            foreign_proc(other)
                .expect("readable")
                .is_some_and(|how| how.contains("/proc/self is")),
            "a pid other than /proc/self's is a foreign /proc"
        );
    }

    #[test]
    fn a_stat_line_with_parentheses_in_the_name() {
        let line = "42 (a) b (c)) S 7 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 12345 0 0";
        let p = parse_stat(42, line).expect("parsed");
        assert_eq!((p.parent, p.start_time, p.zombie), (7, 12345, false));
    }
}
