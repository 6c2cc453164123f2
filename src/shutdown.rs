//! A clean, bounded shutdown of every descendant (`--grace-period`).
//!
//! With `--grace-period T` the clock starts at the first of: SIGTERM/SIGINT
//! received, or the main child exiting. While the main child lives the other
//! descendants are left alone (a master may be draining its workers). Once
//! it is gone they get SIGTERM: as PID 1 with one `kill(-1)`, which the
//! kernel applies atomically to the whole namespace; as a subreaper by
//! walking our own descendants in /proc, again and again, so that processes
//! forked meanwhile are not missed. At the deadline every survivor, the main
//! child included, gets SIGKILL. The reaper keeps reaping throughout, and
//! tini-rs returns only when it reports that no child is left.

use crate::event::Event;
use crate::sys::{self, PidFd};
use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How often a subreaper looks for descendants it has not signalled yet.
const RESCAN_INTERVAL: Duration = Duration::from_millis(100);
/// How often survivors of SIGKILL (new forks) are looked for after the deadline.
const KILL_RESCAN_INTERVAL: Duration = Duration::from_millis(20);

/// The main thread's side of a run with a grace period: it waits for the
/// reaper's and the forwarder's events and keeps the clock.
pub struct Supervisor {
    pub events: Receiver<Event>,
    pub main_pid: libc::pid_t,
    pub main_pidfd: Option<PidFd>,
}

impl Supervisor {
    /// Blocks until every descendant is gone and returns the main child's
    /// raw wait status.
    pub fn with_grace_period(self, grace: Duration) -> i32 {
        let mut shutdown: Option<Shutdown> = None;
        let mut main_status = None;
        loop {
            let event = match &shutdown {
                // Nothing is happening: block, zero wake-ups.
                None => self
                    .events
                    .recv()
                    .map_err(|_| RecvTimeoutError::Disconnected),
                Some(s) => self.events.recv_timeout(s.next_wake(main_status.is_some())),
            };
            match event {
                Ok(Event::StopRequested) => {
                    if shutdown.is_none() {
                        log::info!(
                            "Shutdown: stop signal received; everything has {grace:?} from now"
                        );
                        shutdown = Some(Shutdown::new(grace));
                    }
                }
                Ok(Event::MainExited(status)) => {
                    main_status = Some(status);
                    let s = shutdown.get_or_insert_with(|| Shutdown::new(grace));
                    log::info!(
                        "Shutdown: main child exited after {} ms; stopping the other descendants",
                        s.started.elapsed().as_millis()
                    );
                    s.terminate_descendants();
                }
                Ok(Event::NoChildren) | Err(RecvTimeoutError::Disconnected) => {
                    if let Some(s) = &shutdown {
                        s.report();
                    }
                    return main_status.unwrap_or_else(lost_main_status);
                }
                Err(RecvTimeoutError::Timeout) => {
                    let Some(s) = &mut shutdown else { continue };
                    if Instant::now() >= s.deadline {
                        if main_status.is_none()
                            && let Some(pidfd) = &self.main_pidfd
                            && pidfd.send_signal(libc::SIGKILL).is_ok()
                        {
                            s.killed += 1;
                            log::info!(
                                "Shutdown: grace period over; main child still running, sending SIGKILL"
                            );
                        }
                        s.kill_descendants(self.main_pid);
                    } else if main_status.is_some() {
                        s.terminate_descendants();
                    }
                }
            }
        }
    }
}

/// The reaper stopped without ever seeing the main child exit: only
/// possible if something else reaped it. Report a failure, never success.
pub fn lost_main_status() -> i32 {
    log::error!("The main child's exit status was lost; reporting failure (exit 1)");
    1 << 8
}

/// The state of a shutdown in progress.
struct Shutdown {
    started: Instant,
    deadline: Instant,
    /// Processes sent SIGTERM, by (pid, start time) so a reused pid is a new process.
    terminated: HashSet<(libc::pid_t, u64)>,
    /// Processes sent SIGKILL (the main child included).
    killed: usize,
    killed_at_deadline: bool,
    as_pid1: bool,
    /// As PID 1: the one kill(-1, SIGTERM) has been sent.
    terminated_namespace: bool,
}

impl Shutdown {
    fn new(grace: Duration) -> Self {
        let started = Instant::now();
        Shutdown {
            started,
            deadline: started + grace,
            terminated: HashSet::new(),
            killed: 0,
            killed_at_deadline: false,
            as_pid1: std::process::id() == 1,
            terminated_namespace: false,
        }
    }

    /// How long the main thread may sleep before there is work again.
    fn next_wake(&self, main_gone: bool) -> Duration {
        let until_deadline = self.deadline.saturating_duration_since(Instant::now());
        if self.killed_at_deadline {
            KILL_RESCAN_INTERVAL
        } else if main_gone && !self.as_pid1 {
            until_deadline.min(RESCAN_INTERVAL)
        } else {
            until_deadline
        }
    }

    /// SIGTERM to every descendant not yet asked to stop. Past the
    /// deadline it is SIGKILL's turn, so nothing more is asked nicely.
    fn terminate_descendants(&mut self) {
        if self.killed_at_deadline {
            return;
        }
        if self.as_pid1 {
            if self.terminated_namespace {
                return;
            }
            // Listed first only for the report: kill(-1) itself reaches the
            // whole namespace atomically, forks racing it included.
            let targets = descendants();
            if let Err(err) = sys::kill_every_process_in_namespace(libc::SIGTERM) {
                log::debug!("kill(-1, SIGTERM): {err}");
            }
            self.terminated_namespace = true;
            self.terminated
                .extend(targets.iter().map(|p| (p.pid, p.start_time)));
            log::info!(
                "Shutdown: sent SIGTERM to every process in the namespace ({})",
                targets.len()
            );
            return;
        }
        for process in descendants() {
            if self.terminated.contains(&(process.pid, process.start_time)) {
                continue;
            }
            if signal_descendant(&process, libc::SIGTERM) {
                log::debug!("Shutdown: SIGTERM to descendant {}", process.pid);
                self.terminated.insert((process.pid, process.start_time));
            }
        }
    }

    /// SIGKILL to everything left. Repeated until the reaper reports that no
    /// child is left, so that a fork racing the first pass is caught too.
    fn kill_descendants(&mut self, main_pid: libc::pid_t) {
        let left = descendants();
        if !self.killed_at_deadline {
            self.killed += left.iter().filter(|p| p.pid != main_pid).count();
            if !left.is_empty() {
                log::info!(
                    "Shutdown: grace period over; sending SIGKILL to {} processes",
                    left.len()
                );
            }
            self.killed_at_deadline = true;
        }
        if self.as_pid1 {
            if let Err(err) = sys::kill_every_process_in_namespace(libc::SIGKILL) {
                log::debug!("kill(-1, SIGKILL): {err}");
            }
            return;
        }
        for process in &left {
            signal_descendant(process, libc::SIGKILL);
        }
    }

    fn report(&self) {
        let terminated = self.terminated.len();
        log::info!(
            "Shutdown: done in {} ms: SIGTERM sent to {terminated}, {} exited by themselves, {} needed SIGKILL",
            self.started.elapsed().as_millis(),
            terminated.saturating_sub(self.killed),
            self.killed
        );
    }
}

/// One process found in /proc.
#[derive(Debug, Clone, Copy)]
struct Process {
    pid: libc::pid_t,
    parent: libc::pid_t,
    start_time: u64,
    zombie: bool,
}

/// Our living descendants, at any depth, found by walking /proc from our
/// own pid: processes that left our process group or session and
/// double-forked daemons (reparented to us) included; nothing else.
fn descendants() -> Vec<Process> {
    let me = std::process::id() as libc::pid_t;
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
    let mut queue = vec![me];
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

/// Parses /proc/PID/stat. The command name is in parentheses and may itself
/// contain ") ", so fields are counted from the last ')'.
fn read_process(pid: libc::pid_t) -> Option<Process> {
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

/// Signals a descendant found by a walk, through a pidfd, after checking
/// that the pid still names the same process (same start time). A process
/// that has gone meanwhile is simply skipped.
fn signal_descendant(process: &Process, sig: i32) -> bool {
    let Ok(pidfd) = PidFd::open(process.pid) else {
        return false;
    };
    match read_process(process.pid) {
        Some(now) if now.start_time == process.start_time => pidfd.send_signal(sig).is_ok(),
        _ => false,
    }
}
