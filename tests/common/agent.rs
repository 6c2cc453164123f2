//! The main child the hardening tests run under tini-rs, and the test-side
//! driver for it.
//!
//! The agent is the test binary itself, started as
//! `<test binary> --tini-rs-agent ROLE ...`. A constructor in `.init_array`
//! recognises that before the test harness starts (so before it has any
//! thread) and runs the role instead: a plain single-threaded process that may
//! fork thousands of times, block every signal and count what reaches it,
//! without depending on any tool being installed.
//!
//! Role `agent` blocks every signal, reads them from a signalfd and prints one
//! line `sig NUMBER SENDER_PID SI_CODE` per signal on stdout. It takes
//! commands on stdin, one per line, and answers on stdout:
//!
//! | command | what it does | answer |
//! |---|---|---|
//! | `orphans N MAXFAIL` | a middle process forks up to N children that block on a shared pipe, then exits, so they become orphans; stops early after MAXFAIL failed forks (1 ms apart) | `middle created C failed F`, then `orphans done` |
//! | `release` | closes the pipe: every blocked orphan exits at once | `released` |
//! | `storm W N SECS` | W workers each make N/W short-lived orphans (fork; the child forks once more and both exit at once), retrying failed forks for at most SECS seconds | one `worker I made M failed F` each, then `storm done` |
//! | `spawn-start` | a spawner makes short-lived orphans nonstop | `spawner started` |
//! | `spawn-stop` | stops it | `spawner made M failed F`, `spawner stopped` |
//! | `reuse` | see [`reuse`]: a survivor re-creates our pid once we are reaped | `reuse started` |
//! | `exit C` | exits with status C | `bye` |
//!
//! EOF on stdin (the test is gone) ends the agent with status 99.
//!
//! Role `echo-args` writes its arguments, each followed by a NUL byte, to the
//! file named by `TINI_RS_AGENT_OUT` and exits 0.
#![allow(dead_code)] // each test crate drives a different part

use crate::common::Running;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// argv[1] that turns the test binary into the agent.
pub const FLAG: &str = "--tini-rs-agent";

// ---------------------------------------------------------------------------
// The agent side: runs before main, single-threaded, and never returns.

#[used]
#[unsafe(link_section = ".init_array")]
static AGENT_ENTRY: extern "C" fn() = agent_entry;

/// When the command line asks for a role, runs it and exits without ever
/// reaching the test harness.
extern "C" fn agent_entry() {
    let Some(args) = crate::common::helper_args(FLAG) else {
        return;
    };
    let rest: Vec<&[u8]> = args.iter().skip(1).map(Vec::as_slice).collect();
    let code = match args.first().map(Vec::as_slice) {
        Some(b"agent") => agent(),
        Some(b"echo-args") => echo_args(&rest),
        _ => 2,
    };
    // SAFETY: _exit ends the process at once; nothing is left to clean up.
    unsafe { libc::_exit(code) }
}

fn echo_args(args: &[&[u8]]) -> i32 {
    let Some(path) = std::env::var_os("TINI_RS_AGENT_OUT") else {
        return 3;
    };
    let mut out = Vec::new();
    for arg in args {
        out.extend_from_slice(arg);
        out.push(0);
    }
    if std::fs::write(path, out).is_ok() {
        0
    } else {
        4
    }
}

/// One write(2) per line: lines shorter than PIPE_BUF never interleave with
/// another process's lines on the shared stdout pipe.
fn say(line: &str) {
    let mut bytes = line.as_bytes().to_vec();
    bytes.push(b'\n');
    let mut done = 0;
    while done < bytes.len() {
        // SAFETY: writing from a buffer we own, of the length we pass.
        let n = unsafe { libc::write(1, bytes[done..].as_ptr().cast(), bytes.len() - done) };
        if n <= 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return;
        }
        done += n as usize;
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn fork() -> libc::pid_t {
    // SAFETY: the agent is single-threaded (it runs before main), so the
    // child may do anything; it only ever calls plain syscalls.
    unsafe { libc::fork() }
}

fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(code) }
}

fn close(fd: i32) {
    // SAFETY: closing a descriptor this process owns.
    unsafe { libc::close(fd) };
}

fn pipe() -> (i32, i32) {
    let mut fds = [0; 2];
    // SAFETY: fds has room for two descriptors.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        say("error pipe");
        exit_now(5);
    }
    (fds[0], fds[1])
}

/// waitpid for one child, retried on EINTR; its raw status, or None.
fn wait_for(pid: libc::pid_t) -> Option<i32> {
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes into our local.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return Some(status);
        }
        if r < 0 && errno() == libc::EINTR {
            continue;
        }
        return None;
    }
}

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

fn all_signals() -> libc::sigset_t {
    // SAFETY: sigfillset initialises the set it is given.
    unsafe {
        let mut set = std::mem::zeroed::<libc::sigset_t>();
        libc::sigfillset(&mut set);
        set
    }
}

/// A signalfd for every signal (all of them blocked first).
fn signalfd_for_all() -> i32 {
    let set = all_signals();
    // SAFETY: a valid, initialised set; the old mask is not wanted.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    // SAFETY: a new signalfd for an initialised set.
    let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC) };
    if fd < 0 {
        say("error signalfd");
        exit_now(6);
    }
    fd
}

/// Reads whatever signals are pending (the fd must be readable) and prints
/// one line each.
fn report_signals(sigfd: i32) {
    // SAFETY: all-zero is a valid signalfd_siginfo.
    let mut infos: [libc::signalfd_siginfo; 64] = unsafe { std::mem::zeroed() };
    // SAFETY: reading into an array we own, of the size we pass.
    let n = unsafe {
        libc::read(
            sigfd,
            infos.as_mut_ptr().cast(),
            std::mem::size_of_val(&infos),
        )
    };
    if n <= 0 {
        return;
    }
    for info in &infos[..n as usize / std::mem::size_of::<libc::signalfd_siginfo>()] {
        say(&format!(
            "sig {} {} {}",
            info.ssi_signo, info.ssi_pid, info.ssi_code
        ));
    }
}

struct AgentState {
    sigfd: i32,
    /// Write end of the pipe the blocked orphans wait on.
    release: Option<i32>,
    /// The spawner and the write end of its stop pipe.
    spawner: Option<(libc::pid_t, i32)>,
}

fn agent() -> i32 {
    let sigfd = signalfd_for_all();
    // SAFETY: getpid/getppid have no preconditions.
    let (pid, ppid) = unsafe { (libc::getpid(), libc::getppid()) };
    say(&format!("ready pid={pid} ppid={ppid}"));
    let mut state = AgentState {
        sigfd,
        release: None,
        spawner: None,
    };
    let mut input = Vec::new();
    loop {
        let mut fds = [
            libc::pollfd {
                fd: 0,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: sigfd,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: polling two pollfds we own.
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            continue;
        }
        if fds[1].revents != 0 {
            report_signals(sigfd);
        }
        if fds[0].revents == 0 {
            continue;
        }
        let mut buf = [0u8; 4096];
        // SAFETY: reading into a buffer we own.
        let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
        if n == 0 {
            return 99;
        }
        if n < 0 {
            continue;
        }
        input.extend_from_slice(&buf[..n as usize]);
        while let Some(end) = input.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = input.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line[..end]).into_owned();
            if let Some(code) = command(&mut state, &line) {
                say("bye");
                return code;
            }
        }
    }
}

/// Runs one command; `Some(code)` when the agent should exit.
fn command(state: &mut AgentState, line: &str) -> Option<i32> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let num = |i: usize| -> u64 { words.get(i).and_then(|w| w.parse().ok()).unwrap_or(0) };
    match words.first().copied() {
        Some("orphans") => orphans(state, num(1), num(2)),
        Some("release") => {
            if let Some(fd) = state.release.take() {
                close(fd);
            }
            say("released");
        }
        Some("storm") => storm(num(1), num(2), num(3)),
        Some("spawn-start") => {
            let (stop_r, stop_w) = pipe();
            let pid = fork();
            if pid == 0 {
                close(stop_w);
                close(0);
                spawner(stop_r);
            }
            close(stop_r);
            state.spawner = Some((pid, stop_w));
            say("spawner started");
        }
        Some("spawn-stop") => {
            if let Some((pid, stop_w)) = state.spawner.take() {
                close(stop_w);
                wait_for(pid);
            }
            say("spawner stopped");
        }
        Some("reuse") => {
            // SAFETY: getpid has no preconditions.
            let me = unsafe { libc::getpid() };
            let pid = fork();
            if pid == 0 {
                close(0);
                close(state.sigfd);
                reuse(me);
            }
            say("reuse started");
        }
        Some("exit") => return Some(num(1) as i32),
        _ => say(&format!("unknown command {line}")),
    }
    None
}

/// A middle process forks up to `n` children blocked on a pipe and exits, so
/// all of them are re-parented at once; they exit together on `release`.
fn orphans(state: &mut AgentState, n: u64, max_failures: u64) {
    let (release_r, release_w) = match state.release {
        Some(_) => {
            say("error orphans already held");
            return;
        }
        None => pipe(),
    };
    let middle = fork();
    if middle == 0 {
        close(0);
        let (mut created, mut failed) = (0u64, 0u64);
        while created < n && failed < max_failures {
            match fork() {
                0 => hold(release_r, release_w),
                -1 => {
                    failed += 1;
                    sleep_ms(1);
                }
                _ => created += 1,
            }
        }
        say(&format!("middle created {created} failed {failed}"));
        exit_now(0);
    }
    close(release_r);
    state.release = Some(release_w);
    wait_for(middle);
    say("orphans done");
}

/// An orphan-to-be: waits until every write end of the pipe is closed.
fn hold(release_r: i32, release_w: i32) -> ! {
    close(release_w);
    close(0);
    let mut byte = [0u8; 1];
    loop {
        // SAFETY: reading one byte into a buffer we own.
        let n = unsafe { libc::read(release_r, byte.as_mut_ptr().cast(), 1) };
        if n < 0 && errno() == libc::EINTR {
            continue;
        }
        exit_now(0);
    }
}

/// One short-lived orphan: fork a child that forks once more; both exit at
/// once, so the grandchild's parent is gone and the grandchild is re-parented
/// to the reaper (or dies first and is handed over as a zombie). `Some(true)`
/// when the orphan was made, `Some(false)` when only the inner fork failed,
/// `None` when the outer fork failed.
fn make_orphan() -> Option<bool> {
    match fork() {
        0 => {
            let inner = fork();
            exit_now(if inner < 0 { 1 } else { 0 });
        }
        -1 => None,
        pid => {
            let status = wait_for(pid)?;
            Some(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0)
        }
    }
}

fn storm(workers: u64, total: u64, secs: u64) {
    let mut pids = Vec::new();
    for w in 0..workers {
        let pid = fork();
        if pid == 0 {
            close(0);
            let quota = total / workers + u64::from(w < total % workers);
            let deadline = Instant::now() + Duration::from_secs(secs.max(1));
            let (mut made, mut failed) = (0u64, 0u64);
            while made < quota && Instant::now() < deadline {
                match make_orphan() {
                    Some(true) => made += 1,
                    _ => {
                        failed += 1;
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
            }
            say(&format!("worker {w} made {made} failed {failed}"));
            exit_now(0);
        }
        if pid > 0 {
            pids.push(pid);
        } else {
            say(&format!("worker {w} made 0 failed 1"));
        }
    }
    for pid in pids {
        wait_for(pid);
    }
    say("storm done");
}

/// Makes short-lived orphans, a little apart, until its stop pipe closes.
fn spawner(stop_r: i32) -> ! {
    let (mut made, mut failed) = (0u64, 0u64);
    loop {
        let mut fd = libc::pollfd {
            fd: stop_r,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: polling one pollfd we own, without waiting.
        if unsafe { libc::poll(&mut fd, 1, 0) } != 0 {
            break;
        }
        match make_orphan() {
            Some(true) => made += 1,
            _ => failed += 1,
        }
        std::thread::sleep(Duration::from_micros(300));
    }
    say(&format!("spawner made {made} failed {failed}"));
    exit_now(0);
}

/// The pid-reuse scenario, run in a survivor forked by the agent (the main
/// child). The survivor moves to a session of its own and keeps SIGTERM blocked, so the grace period's
/// SIGTERM does not end it. It waits until the agent has exited and been
/// reaped, and until that SIGTERM has arrived (so the shutdown's own
/// kill(-1) is over), then writes ns_last_pid so that its next fork gets the
/// agent's old pid, and exits, so that new process is an orphan of tini-rs.
/// It reports its pid and every signal it receives, with the sender, until
/// the test sends it SIGWINCH directly; then it exits 0.
fn reuse(main_pid: libc::pid_t) -> ! {
    // Leave the agent's process group: the kernel does not hand out a pid
    // that is still some living process's process group id.
    // SAFETY: setsid has no preconditions (we are not a group leader).
    unsafe { libc::setsid() };
    let deadline = Instant::now() + Duration::from_secs(20);
    let fail = |why: &str| -> ! {
        say(&format!("reuse failed: {why}"));
        exit_now(7)
    };
    // Re-parented: the agent has exited.
    while unsafe { libc::getppid() } == main_pid {
        if Instant::now() > deadline {
            fail("the agent did not exit");
        }
        sleep_ms(1);
    }
    // kill(pid, 0) finds a zombie too; ESRCH means it has been reaped.
    // SAFETY: signal 0 only checks for existence.
    while unsafe { libc::kill(main_pid, 0) } == 0 {
        if Instant::now() > deadline {
            fail("the agent was not reaped");
        }
        sleep_ms(1);
    }
    loop {
        // SAFETY: sigpending fills an initialised set we own.
        let term_pending = unsafe {
            let mut set = std::mem::zeroed::<libc::sigset_t>();
            libc::sigemptyset(&mut set);
            libc::sigpending(&mut set);
            libc::sigismember(&set, libc::SIGTERM) == 1
        };
        if term_pending {
            break;
        }
        if Instant::now() > deadline {
            fail("no SIGTERM from the shutdown");
        }
        sleep_ms(1);
    }
    if std::fs::write("/proc/sys/kernel/ns_last_pid", format!("{}", main_pid - 1)).is_err() {
        fail("cannot write ns_last_pid");
    }
    let pid = fork();
    if pid == 0 {
        let sigfd = signalfd_for_all();
        // SAFETY: getpid has no preconditions.
        say(&format!("reused pid={} old={main_pid}", unsafe {
            libc::getpid()
        }));
        loop {
            // SAFETY: all-zero is a valid signalfd_siginfo.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            // SAFETY: reading one record into a struct we own.
            let n = unsafe {
                libc::read(
                    sigfd,
                    (&mut info as *mut libc::signalfd_siginfo).cast(),
                    std::mem::size_of_val(&info),
                )
            };
            if n <= 0 {
                continue;
            }
            say(&format!("reused got {} {}", info.ssi_signo, info.ssi_pid));
            if info.ssi_signo as i32 == libc::SIGWINCH {
                say("reused done");
                exit_now(0);
            }
        }
    }
    if pid < 0 {
        fail("fork");
    }
    // Leave the new process an orphan: tini-rs reaps it, and must not take
    // its exit status for the main child's.
    exit_now(0);
}

// ---------------------------------------------------------------------------
// The test side.

/// The agent as a command line: `[test binary, FLAG, role]`.
pub fn agent_argv(role: &str) -> Vec<OsString> {
    let exe = std::env::current_exe().expect("the test binary's path");
    vec![exe.into_os_string(), FLAG.into(), role.into()]
}

/// One signal the agent received: number, sender pid (as the agent sees it),
/// si_code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub signo: i32,
    pub sender: i32,
    pub code: i32,
}

/// A running tini-rs whose main child is the agent.
pub struct Agent {
    pub run: Running,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    pending: VecDeque<String>,
    /// Every signal the agent reported, in order, SIGCHLD included.
    pub received: Vec<Received>,
    /// The agent's `ready` line.
    pub ready: String,
}

impl Agent {
    /// Starts `cmd` (tini-rs and its options, without a program) with the
    /// agent as its program, and waits for the agent to be ready.
    pub fn start(mut cmd: Command, stderr: Stdio) -> Agent {
        cmd.args(agent_argv("agent"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr);
        Agent::start_prepared(cmd)
    }

    /// Like [`Agent::start`] for a command whose arguments and stdio are set.
    pub fn start_prepared(cmd: Command) -> Agent {
        let mut run = Running::start(cmd);
        let stdout = run.child.stdout.take().expect("stdout piped");
        let stdin = run.child.stdin.take();
        let (tx, lines) = std::sync::mpsc::channel();
        // Ends when every holder of the pipe is gone; never joined.
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut agent = Agent {
            run,
            stdin,
            lines,
            pending: VecDeque::new(),
            received: Vec::new(),
            ready: String::new(),
        };
        agent.ready = agent.expect("ready", Duration::from_secs(20));
        agent
    }

    /// Panics if tini-rs (or the `unshare` around it) has already ended.
    pub fn assert_alive(&mut self, when: &str) {
        if let Some(status) = self.run.wait(Duration::ZERO) {
            panic!("{when}: tini-rs (or the unshare around it) has ended: {status:?}");
        }
    }

    /// The agent's own pid, as it sees it (in its namespace).
    pub fn inner_pid(&self) -> i32 {
        field(&self.ready, "pid=")
    }

    pub fn send(&mut self, command: &str) {
        let stdin = self.stdin.as_mut().expect("agent stdin");
        if writeln!(stdin, "{command}")
            .and_then(|_| stdin.flush())
            .is_err()
        {
            let status = self.run.wait(Duration::from_secs(2));
            panic!(
                "cannot send {command:?}: the agent is gone; tini-rs (or unshare) ended with {status:?}"
            );
        }
    }

    /// Takes one line from the agent, waiting at most until `end`; false on
    /// timeout or when the agent's stdout is closed.
    fn pump(&mut self, end: Instant) -> bool {
        let left = end.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => {
                self.note(line);
                true
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => false,
        }
    }

    /// Files one line from the agent: a signal report or another line.
    fn note(&mut self, line: String) {
        match parse_signal(&line) {
            Some(sig) => self.received.push(sig),
            None => self.pending.push_back(line),
        }
    }

    /// The next line (other than a signal report) that starts with `prefix`;
    /// earlier lines that do not match are kept for later calls. Panics after
    /// `limit`.
    pub fn expect(&mut self, prefix: &str, limit: Duration) -> String {
        let end = Instant::now() + limit;
        loop {
            if let Some(i) = self.pending.iter().position(|l| l.starts_with(prefix)) {
                return self.pending.remove(i).expect("line present");
            }
            if !self.pump(end) {
                let status = self.run.wait(Duration::from_millis(100));
                panic!(
                    "agent: no line starting with {prefix:?} within {limit:?}; lines so far: {:?}; \
                     tini-rs (or unshare) status: {status:?}",
                    self.pending
                );
            }
        }
    }

    /// Every non-signal line that starts with `prefix`, taken out of those
    /// received so far.
    pub fn take_lines(&mut self, prefix: &str) -> Vec<String> {
        let (hit, keep): (Vec<String>, Vec<String>) =
            self.pending.drain(..).partition(|l| l.starts_with(prefix));
        self.pending = keep.into();
        hit
    }

    /// Waits at most `limit` until `cond` holds for the signals received so
    /// far; returns whether it did. Gives up early once tini-rs (or the
    /// unshare around it) has ended.
    pub fn wait_signals(&mut self, limit: Duration, cond: impl Fn(&[Received]) -> bool) -> bool {
        let end = Instant::now() + limit;
        loop {
            if cond(&self.received) {
                return true;
            }
            let now = Instant::now();
            if now >= end {
                return false;
            }
            if !self.pump(end.min(now + Duration::from_millis(100))) {
                if self.run.wait(Duration::ZERO).is_some() {
                    self.settle(Duration::from_millis(50));
                    return cond(&self.received);
                }
                // A closed stdout returns at once: do not spin on it.
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// Reads whatever lines arrive within `limit` (to let stragglers in).
    pub fn settle(&mut self, limit: Duration) {
        let end = Instant::now() + limit;
        while self.pump(end) {}
    }

    /// Once tini-rs and the agent have exited: reads every line still in
    /// the pipe, up to end-of-file (every writer gone). False if that did
    /// not happen within `limit`.
    pub fn read_to_end(&mut self, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.note(line),
                Err(RecvTimeoutError::Disconnected) => return true,
                Err(RecvTimeoutError::Timeout) => return false,
            }
        }
    }

    /// Signals received so far, without the SIGCHLDs of the agent's own
    /// children.
    pub fn forwarded(&self) -> Vec<Received> {
        self.received
            .iter()
            .filter(|r| r.signo != libc::SIGCHLD)
            .copied()
            .collect()
    }
}

fn parse_signal(line: &str) -> Option<Received> {
    let mut words = line.strip_prefix("sig ")?.split(' ');
    let mut next = || words.next()?.parse::<i32>().ok();
    Some(Received {
        signo: next()?,
        sender: next()?,
        code: next()?,
    })
}

/// The number after `key` in a line like `ready pid=2 ppid=1`.
pub fn field(line: &str, key: &str) -> i32 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
}

/// Sums `made`/`failed` over lines like `worker 0 made 5000 failed 0`.
pub fn made_and_failed(lines: &[String]) -> (u64, u64) {
    let mut made = 0;
    let mut failed = 0;
    for line in lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        for pair in words.windows(2) {
            match pair[0] {
                "made" | "created" => made += pair[1].parse::<u64>().unwrap_or(0),
                "failed" => failed += pair[1].parse::<u64>().unwrap_or(0),
                _ => {}
            }
        }
    }
    (made, failed)
}

/// kill(2) from the test to a process it started (tini-rs or the agent).
pub fn send_signal(pid: i32, sig: i32) -> bool {
    assert!(pid > 1, "refusing to signal pid {pid}");
    // SAFETY: kill(2) to one process this test started.
    unsafe { libc::kill(pid, sig) == 0 }
}

/// Context switches (voluntary + involuntary) summed over every thread.
pub fn context_switches(pid: i32) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let text = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        for line in text.lines() {
            if let Some(v) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    total
}

/// A `/proc/PID/status` size field such as `VmHWM`, in kB.
pub fn status_kb(pid: i32, field: &str) -> u64 {
    crate::common::status_field(pid, field)
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} for pid {pid}"))
}

/// Polls a log file until it holds at least `count` lines containing
/// `needle`; returns how many it holds.
pub fn wait_for_log(path: &std::path::Path, needle: &str, count: usize, limit: Duration) -> usize {
    let mut found = 0;
    crate::common::wait_until(limit, || {
        found = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(needle))
            .count();
        found >= count
    });
    found
}
