//! Shared helpers for the integration tests: the binary under test, bounded
//! waits, clean-up that kills every process a test started even when the
//! test fails, /proc readers, and the root/namespace requirement check.
//! Every test crate uses this one copy (`mod common;`), submodules included:
//! `agent` (the test binary as a main child that reports its signals),
//! `seccomp` (a program run with system calls failing), `pids_cgroup`,
//! `memory_cgroup`, `reachable` (binaries copied where any user can run
//! them), and `engine` (Docker/podman).
#![allow(dead_code)] // each test crate uses a different part

pub mod agent;
pub mod cgroup;
pub mod engine;
pub mod memory_cgroup;
pub mod pids_cgroup;
pub mod reachable;
pub mod seccomp;

use std::collections::HashMap;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The bound of every wait a test makes: long enough for a loaded machine
/// (shared CI runners, a grace period running out), and reached only when
/// something is wrong.
pub const LIMIT: Duration = Duration::from_secs(30);

/// The tini-rs binary under test: the one cargo built for these tests, or
/// the one `TINI_RS_BINARY` names when it is set (tests/arch.sh sets it to
/// a binary built for another architecture, which the kernel then runs
/// under qemu through binfmt_misc).
pub fn tini_rs() -> &'static str {
    static BINARY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BINARY.get_or_init(|| {
        std::env::var("TINI_RS_BINARY")
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_tini-rs").to_string())
    })
}

/// True when `CI` is set to any non-empty value (`true`, `1`, `yes`...):
/// there a test that cannot run must fail, never skip.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// The one skip-or-fail rule for a test that cannot run here: under CI (see
/// [`in_ci`]) it fails; otherwise it says `SKIPPED <test>: <why>` on stderr
/// and the caller returns. The line is written to stderr directly, not with
/// `eprintln!`, which the test harness captures and hides for a test that
/// passes: a skip must show.
pub fn skip(test: &str, why: &str) {
    use std::io::Write;
    assert!(!in_ci(), "{test}: {why}; CI is set: refusing to skip");
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// Tests that need root (namespaces, pids cgroups) call this first. Without
/// root they are skipped with a message on a developer's machine, and FAIL
/// in CI (`CI` set to anything non-empty), where they must run.
pub fn require_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    skip(test, "needs root (runs in CI)");
    false
}

/// A command that runs tini-rs as PID 1 of a fresh PID namespace (with its
/// own /proc). `--kill-child` makes the kernel SIGKILL our PID 1 if the
/// `unshare` process dies, and with it the whole namespace.
pub fn as_pid1(tini_args: &[&str]) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
        .arg(tini_rs())
        .args(tini_args);
    cmd
}

/// A command that runs tini-rs directly (not PID 1).
pub fn tini(tini_args: &[&str]) -> Command {
    let mut cmd = Command::new(tini_rs());
    cmd.args(tini_args);
    cmd
}

/// A started process and its whole tree, killed on drop.
pub struct Running {
    pub child: Child,
    status: Option<ExitStatus>,
}

impl Running {
    pub fn start(mut cmd: Command) -> Running {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        Running {
            child,
            status: None,
        }
    }

    /// Starts with stdout and stderr captured (read them with `output`).
    pub fn start_captured(mut cmd: Command) -> Running {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        Running::start(cmd)
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits at most `limit` for the process to exit.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        if self.status.is_some() {
            return self.status;
        }
        let end = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.status = Some(status);
                    return self.status;
                }
                Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(5)),
                _ => return None,
            }
        }
    }

    /// Waits and insists on an exit within `limit`; returns the exit code
    /// (128+S for a signal, like a shell).
    pub fn exit_code(&mut self, limit: Duration) -> i32 {
        use std::os::unix::process::ExitStatusExt;
        let status = self
            .wait(limit)
            .unwrap_or_else(|| panic!("pid {} did not exit within {limit:?}", self.pid()));
        status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
    }

    /// Reads the rest of captured stdout and stderr (after the process exited).
    pub fn output(&mut self) -> (String, String) {
        use std::io::Read;
        let mut out = String::new();
        let mut err = String::new();
        if let Some(mut s) = self.child.stdout.take() {
            let _ = s.read_to_string(&mut out);
        }
        if let Some(mut s) = self.child.stderr.take() {
            let _ = s.read_to_string(&mut err);
        }
        (out, err)
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) to the one process this test started.
        unsafe { libc::kill(self.pid(), sig) };
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.status.is_none() {
            // Children first, so none is re-parented away before we see it.
            for pid in descendants(self.pid()).into_iter().rev() {
                // SAFETY: kill(2) to a process in the tree this test started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs a command to completion within `limit`, capturing its output.
pub fn run(cmd: Command, limit: Duration) -> (i32, String, String) {
    let mut running = Running::start_captured(cmd);
    let code = running.exit_code(limit);
    let (out, err) = running.output();
    (code, out, err)
}

/// Runs tini-rs with `args` to its end (within [`LIMIT`]) and returns its
/// exit code, stdout and stderr. The variables that change what tini-rs
/// logs or does (`TINI_*`, `RUST_LOG`) are removed first, so the machine's
/// environment cannot change what a test sees; `configure` may then set
/// anything (the environment, stdin).
pub fn run_tini<S: AsRef<std::ffi::OsStr>>(
    args: &[S],
    configure: impl FnOnce(&mut Command),
) -> (i32, String, String) {
    let mut cmd = Command::new(tini_rs());
    cmd.args(args);
    for name in [
        "TINI_SUBREAPER",
        "TINI_KILL_PROCESS_GROUP",
        "TINI_VERBOSITY",
        "TINI_GRACE_PERIOD",
        "TINI_STOP_DELAY",
        "TINI_REWRITE",
        "RUST_LOG",
    ] {
        cmd.env_remove(name);
    }
    configure(&mut cmd);
    run(cmd, LIMIT)
}

/// Fails the test if tini-rs's log (a file its stderr went to) shows a
/// panic. The message leaves out the `Reaped zombie` lines, of which a load
/// test makes thousands.
pub fn assert_no_panic(log: &std::path::Path) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    assert!(
        !text.contains("panicked"),
        "tini-rs panicked:\n{}",
        text.lines()
            .filter(|l| !l.contains("Reaped zombie process"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Polls `cond` every 10 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A field of /proc/PID/status, e.g. `PPid`, `State`, `SigBlk`.
pub fn status_field(pid: i32, field: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|l| {
        l.strip_prefix(field)?
            .strip_prefix(':')
            .map(|v| v.trim().to_string())
    })
}

/// The fields of `/proc/PID/stat` (proc(5)) that the tests use. The one
/// parser of that file in the tests: the command name may hold spaces and
/// parentheses, so the fields are counted from the *last* `)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    /// (1) The process (or, under /proc/PID/task, thread) id.
    pub pid: i32,
    /// (2) The command name, without the parentheses.
    pub comm: String,
    /// (3) R, S, D, Z, T...
    pub state: char,
    /// (4)
    pub ppid: i32,
    /// (5) Process group.
    pub pgrp: i32,
    /// (6) Session.
    pub session: i32,
    /// (8) Foreground process group of the controlling terminal (-1: none).
    pub tpgid: i32,
    /// (14) User-mode CPU time, in clock ticks.
    pub utime: u64,
    /// (15) Kernel-mode CPU time, in clock ticks.
    pub stime: u64,
    /// (22) Start time after boot, in clock ticks.
    pub starttime: u64,
}

impl ProcStat {
    /// Parses the text of a stat file; None if it is not one.
    pub fn parse(text: &str) -> Option<ProcStat> {
        let open = text.find('(')?;
        let close = text.rfind(')')?;
        let pid = text[..open].trim().parse().ok()?;
        let comm = text.get(open + 1..close)?.to_string();
        // fields[0] is field 3 (state), so field N is fields[N - 3].
        let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).copied();
        let int = |n: usize| field(n)?.parse::<i32>().ok();
        let ticks = |n: usize| field(n)?.parse::<u64>().ok();
        Some(ProcStat {
            pid,
            comm,
            state: field(3)?.chars().next()?,
            ppid: int(4)?,
            pgrp: int(5)?,
            session: int(6)?,
            tpgid: int(8)?,
            utime: ticks(14)?,
            stime: ticks(15)?,
            starttime: ticks(22)?,
        })
    }

    /// `/proc/PID/stat`; None once the process is gone (reaped).
    pub fn of(pid: i32) -> Option<ProcStat> {
        ProcStat::read(&format!("/proc/{pid}/stat"))
    }

    /// `/proc/PID/task/*/stat`: one entry per thread of `pid`.
    pub fn of_threads(pid: i32) -> Vec<ProcStat> {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| ProcStat::read(&format!("{}/stat", e.path().display())))
            .collect()
    }

    fn read(path: &str) -> Option<ProcStat> {
        ProcStat::parse(&std::fs::read_to_string(path).ok()?)
    }

    /// utime + stime.
    pub fn cpu_ticks(&self) -> u64 {
        self.utime + self.stime
    }
}

/// Every process in this /proc (those that exit while it is read are left
/// out).
pub fn processes() -> Vec<ProcStat> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(ProcStat::of)
        .collect()
}

/// The direct children of `pid` (seen from this /proc).
pub fn children_of(pid: i32) -> Vec<i32> {
    processes()
        .into_iter()
        .filter(|p| p.ppid == pid)
        .map(|p| p.pid)
        .collect()
}

/// Waits (bounded by [`LIMIT`]) until `pid` has a child whose command name
/// is `comm`, and returns its pid; fails the test otherwise.
pub fn child_named(pid: i32, comm: &str) -> i32 {
    let mut found = 0;
    let seen = wait_until(LIMIT, || {
        found = children_of(pid)
            .into_iter()
            .find(|&c| proc_comm(c).as_deref() == Some(comm))
            .unwrap_or(0);
        found != 0
    });
    assert!(seen, "pid {pid} never ran {comm}");
    found
}

/// Every descendant of `root` (not `root` itself), parents before children.
pub fn descendants(root: i32) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for p in processes() {
        children.entry(p.ppid).or_default().push(p.pid);
    }
    let mut found = Vec::new();
    let mut queue = vec![root];
    while let Some(p) = queue.pop() {
        for &c in children.get(&p).map(Vec::as_slice).unwrap_or(&[]) {
            found.push(c);
            queue.push(c);
        }
    }
    found
}

/// Zombies (state Z) among the descendants of `root`.
pub fn zombies_under(root: i32) -> Vec<i32> {
    let zombies: Vec<i32> = processes()
        .iter()
        .filter(|p| p.state == 'Z')
        .map(|p| p.pid)
        .collect();
    descendants(root)
        .into_iter()
        .filter(|p| zombies.contains(p))
        .collect()
}

/// Waits until every thread of `pid` is asleep (state S), i.e. blocked in
/// whatever call it waits in: whatever it had to do so far is done.
pub fn wait_asleep(pid: i32, limit: Duration) -> bool {
    wait_until(limit, || {
        let threads = ProcStat::of_threads(pid);
        !threads.is_empty() && threads.iter().all(|t| t.state == 'S')
    })
}

/// The pid of the tini-rs process that `unshare --fork` started, seen from
/// outside the namespace.
pub fn pid1_of(unshare: &Running) -> i32 {
    let mut found = 0;
    wait_until(Duration::from_secs(5), || {
        found = descendants(unshare.pid()).first().copied().unwrap_or(0);
        found != 0
    });
    assert!(found != 0, "unshare did not start its child");
    found
}

/// A unique temp dir for one test, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!("tini-rs-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn file(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---- Python scripts (tests/scripts) and files written by running processes ----

/// The Python 3 interpreter's real path, resolved once: a version-manager
/// shim (pyenv) on PATH costs a shell start-up on every run.
pub fn python3() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("these tests need python3 on PATH");
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(!path.is_empty(), "python3 did not say where it lives");
        path
    })
}

/// The path of a helper script in tests/scripts.
pub fn script(name: &str) -> String {
    format!("{}/tests/scripts/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A process's command name (`/proc/PID/comm`), if it still exists.
pub fn proc_comm(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|c| c.trim().to_string())
}

/// Polls a file that a running process writes until it contains `needle`;
/// returns the whole text then. Panics with what was there after `limit`.
pub fn wait_for_text(path: &std::path::Path, needle: &str, limit: Duration) -> String {
    let mut text = String::new();
    let found = wait_until(limit, || {
        text = std::fs::read_to_string(path).unwrap_or_default();
        text.contains(needle)
    });
    assert!(
        found,
        "{needle:?} did not appear in {} within {limit:?}; it holds:\n{text}",
        path.display()
    );
    text
}

/// Waits until `pid` has left /proc (reaped), failing with its last state.
pub fn assert_reaped(pid: i32, limit: Duration) {
    let reaped = wait_until(limit, || status_field(pid, "State").is_none());
    assert!(
        reaped,
        "{pid} not reaped: state {:?}",
        status_field(pid, "State")
    );
}

/// tini-rs must still be running; SIGTERM, forwarded to a main child that
/// has no handler, then ends both with 143.
pub fn assert_running_then_terminate(tini_rs: &mut Running, limit: Duration) {
    assert!(
        tini_rs.wait(Duration::ZERO).is_none(),
        "tini-rs exited early"
    );
    tini_rs.signal(libc::SIGTERM);
    assert_eq!(tini_rs.exit_code(limit), 128 + libc::SIGTERM);
}

/// For a constructor in `.init_array` that turns the test binary into a
/// helper process: the words after argv[1] when argv[1] is `flag`. Read from
/// /proc (portable across C libraries, which do not all pass argv to
/// constructors).
pub fn helper_args(flag: &str) -> Option<Vec<Vec<u8>>> {
    let cmdline = std::fs::read("/proc/self/cmdline").ok()?;
    let mut words = cmdline.split(|&b| b == 0);
    // /proc/self/cmdline ends with a NUL, so the split leaves one empty tail.
    let mut all: Vec<Vec<u8>> = words.by_ref().map(<[u8]>::to_vec).collect();
    all.pop();
    (all.get(1).map(Vec::as_slice) == Some(flag.as_bytes())).then(|| all.split_off(2))
}

/// Processes a test started that may outlive tini-rs (re-parented out of
/// its tree, where `Running`'s clean-up cannot find them, or left behind
/// when a failing tini-rs exits early). Killed on drop, but only while
/// their command line still holds the marker they were added with, so a
/// recycled pid is never hit.
#[derive(Default)]
pub struct Strays(Vec<(i32, String)>);

impl Strays {
    pub fn add(&mut self, pid: i32, marker: impl Into<String>) {
        self.0.push((pid, marker.into()));
    }
}

impl Drop for Strays {
    fn drop(&mut self) {
        for (pid, marker) in &self.0 {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(marker.as_str()) {
                // SAFETY: kill(2) to a process this test started (checked above).
                unsafe { libc::kill(*pid, libc::SIGKILL) };
            }
        }
    }
}
