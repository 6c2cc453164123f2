//! The grace period's walk over tini-rs's descendants touches only what is
//! tini-rs's own: a /proc of another PID namespace is never walked (and
//! tini-rs never signals its own threads or a bystander through it), a walk
//! that runs out of descriptors still finds the orphans it must SIGKILL,
//! and the main child started on the fork path gets the environment whole.

mod common;

use common::reachable::Reachable;
use common::*;
use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);

/// The unprivileged user the foreign-/proc tests run as (`nobody`).
const NOBODY: &str = "65534";

/// What a run of tini-rs in a foreign /proc left behind (see
/// [`in_a_foreign_proc`]).
struct ForeignRun {
    /// tini-rs's exit code as its parent shell saw it.
    code: String,
    /// How long the whole namespace lived.
    elapsed: Duration,
    /// What went wrong, for a failed assertion: every result and the log.
    context: String,
    log: String,
}

/// `unshare --pid --fork` WITHOUT `--mount-proc`: /proc is still the outer
/// namespace's, so the numbers in it are not the pids tini-rs sees. As an
/// unprivileged user (`nobody`, so that even a wrong signal could reach
/// nothing of root's, and nothing outside the namespace this test made),
/// the namespace's PID 1 shell runs `before`, then starts `tini_rs_command`
/// (inner pid 2 when `before` starts no process), then a bystander beside
/// it that records a SIGTERM; `after_start` runs then (with `$t`, tini-rs's pid, and `$D`,
/// the results directory). Once tini-rs has exited, the bystander must be
/// alive and have received nothing. `$T` is tini-rs, `$S` the seccomp
/// proxy (this test binary, see `common::seccomp`).
fn in_a_foreign_proc(
    test: &str,
    before: &str,
    tini_rs_command: &str,
    after_start: &str,
) -> Option<ForeignRun> {
    if !require_root(test) {
        return None;
    }
    // `nobody` runs its own copies (the build directory may be closed to
    // it) and writes its results in a directory open to it.
    let reachable = Reachable::new("walk-foreign");
    let proxy = reachable.add(&std::env::current_exe().expect("the test binary"));
    let results = reachable.shared_dir("out");
    let script = format!(
        r#"
T=$1 S=$2 D=$3
{before}
{tini_rs_command} 2> "$D/log" &
t=$!
sh -c 'trap "echo TERM >> $0/bystander-signals" TERM; while :; do sleep 0.1; done' "$D" &
b=$!
echo "$t $b" > "$D/pids"
{after_start}
wait "$t"
echo $? > "$D/code"
kill -0 "$b" && echo alive > "$D/bystander-alive"
kill -KILL "$b" 2> /dev/null
true
"#
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--kill-child"])
        .args(["setpriv", "--reuid", NOBODY, "--regid", NOBODY])
        .args(["--clear-groups", "sh", "-c", &script, "sh"])
        .arg(reachable.tini_rs())
        .arg(&proxy)
        .arg(&results);
    let started = Instant::now();
    let mut unshare = Running::start_captured(cmd);
    // A bound of its own, so that a tini-rs that never ends still shows
    // its log. Then `Running`'s drop kills the whole tree, namespace
    // included: `--kill-child` alone does not reach it, since setpriv's
    // change of user clears the parent-death signal.
    let ended = unshare.wait(Duration::from_secs(20)).is_some();
    let elapsed = started.elapsed();
    let (code, out, err) = if ended {
        let code = unshare.exit_code(LIMIT);
        let (out, err) = unshare.output();
        (code, out, err)
    } else {
        drop(unshare);
        (-1, String::new(), String::new())
    };
    let read = |name: &str| std::fs::read_to_string(results.join(name)).unwrap_or_default();
    let log = read("log");
    let context = format!(
        "unshare: {code}, {out}{err}\npids (tini-rs, bystander): {}\ntini-rs's log:\n{log}",
        read("pids")
    );
    assert!(
        ended,
        "tini-rs was still running after {elapsed:?}; {context}"
    );
    assert_eq!(
        read("bystander-signals"),
        "",
        "the bystander received a signal; {context}"
    );
    assert_eq!(
        read("bystander-alive").trim(),
        "alive",
        "the bystander was killed; {context}"
    );
    assert_eq!(
        log.matches("belongs to another PID namespace").count(),
        1,
        "a foreign /proc is reported exactly once; {context}"
    );
    assert_eq!(code, 0, "the namespace's shell failed; {context}");
    Some(ForeignRun {
        code: read("code").trim().to_string(),
        elapsed,
        context,
        log,
    })
}

/// Before the fix tini-rs took the outer pid 2's children (kernel threads,
/// outer pids 3, 4, ...) for its descendants and signalled whatever has
/// those numbers inside: the bystander got SIGTERM and then SIGKILL, and so
/// did tini-rs's own threads, which killed tini-rs itself (137 instead of
/// the main child's 42). Now it says once that /proc is foreign, signals
/// nothing the walk would find there, and waits for the main child's
/// orphan (which ignores SIGTERM) to end by itself after 3 s, past the 1 s
/// grace period.
#[test]
fn a_foreign_proc_is_not_walked_and_nothing_beside_tini_rs_is_signalled() {
    let Some(run) = in_a_foreign_proc(
        "a_foreign_proc_is_not_walked_and_nothing_beside_tini_rs_is_signalled",
        "",
        r#""$T" -v -s --grace-period 1 -- sh -c '(trap "" TERM; sleep 3) & exit 42'"#,
        "",
    ) else {
        return;
    };
    assert_eq!(
        run.code, "42",
        "tini-rs must end with the main child's status, never be killed through its own threads; {}",
        run.context
    );
    assert!(
        run.elapsed < Duration::from_secs(20),
        "took {:?}; {}",
        run.elapsed,
        run.context
    );
}

/// The same foreign /proc with pidfd_open refused with EPERM (a seccomp
/// profile; a kernel before 5.3 says ENOSYS): the main child, which ignores SIGTERM, must still
/// get its SIGKILL at the deadline. It is tini-rs's own child, whose exit
/// has not been reported, so its pid is still its own; before the fix that
/// SIGKILL waited for a check through the foreign /proc (another process's
/// stat file under the main child's number), which failed, and tini-rs
/// waited with it until the test gave up.
#[test]
fn a_foreign_proc_without_pidfds_still_kills_the_main_child_at_the_deadline() {
    let Some(run) = in_a_foreign_proc(
        "a_foreign_proc_without_pidfds_still_kills_the_main_child_at_the_deadline",
        // Inner pid 2 taken, so tini-rs is not the number of the outer
        // kthreadd, whose children (kernel threads) made the old check
        // pass by chance for any small main child pid.
        "/bin/true",
        r#""$S" --tini-rs-seccomp 1 pidfd_open "$T" -v -s --grace-period 1 -- \
            sh -c 'trap "" TERM; touch "$0/ready"; while :; do sleep 0.1; done' "$D""#,
        r#"while [ ! -e "$D/ready" ] && kill -0 "$t"; do sleep 0.01; done; kill -TERM "$t""#,
    ) else {
        return;
    };
    assert!(
        run.log.contains("pidfd_open failed"),
        "pidfd_open was not refused; {}",
        run.context
    );
    assert_eq!(
        run.code, "137",
        "the main child must be SIGKILLed at the deadline; {}",
        run.context
    );
    assert!(
        run.elapsed < Duration::from_secs(10),
        "took {:?}; {}",
        run.elapsed,
        run.context
    );
}

/// With `RLIMIT_NOFILE` 4 (and 5) the main child's pidfd (and its clone for
/// the forwarder) took the descriptors the walk needs: reading /proc failed
/// with EMFILE, the walk answered "no descendants", and an orphan that
/// ignores SIGTERM kept tini-rs up for its whole minute, silently. Now the
/// walk keeps a descriptor for itself from the start, and the orphan is
/// SIGKILLed at the deadline.
#[test]
fn with_four_or_five_descriptors_the_deadline_still_kills_a_term_ignoring_orphan() {
    for limit in [4, 5] {
        let dir = TempDir::new("walk-nofile");
        let ready = dir.file("ready");
        // No redirections: dash saves a redirected descriptor at 10 and up,
        // which this limit refuses. `touch` says the orphan is ready.
        let script = format!(
            "sh -c 'trap \"\" TERM; touch {r}; exec sleep 60' & \
             while [ ! -e {r} ]; do sleep 0.01; done; exit 42",
            r = ready.display()
        );
        let mut cmd = tini(&["-s", "-v", "--grace-period", "1", "--", "sh", "-c", &script]);
        limit_descriptors(&mut cmd, limit);
        let started = Instant::now();
        let mut tini_rs = Running::start_captured(cmd);
        let code = tini_rs
            .wait(Duration::from_secs(10))
            .map(|_| tini_rs.exit_code(LIMIT));
        let elapsed = started.elapsed();
        let (_, stderr) = if code.is_some() {
            tini_rs.output()
        } else {
            // Kills the tree (the orphan included) before reading what was said.
            let pid = tini_rs.pid();
            for orphan in descendants(pid) {
                // SAFETY: kill(2) to a process below the tini-rs this test started.
                unsafe { libc::kill(orphan, libc::SIGKILL) };
            }
            tini_rs.signal(libc::SIGKILL);
            let _ = tini_rs.wait(LIMIT);
            tini_rs.output()
        };
        assert_eq!(
            code,
            Some(42),
            "RLIMIT_NOFILE {limit}: the orphan was not killed at the deadline (after {elapsed:?}); stderr:\n{stderr}"
        );
        assert!(
            stderr.contains("needed SIGKILL") && !stderr.contains(" 0 needed SIGKILL"),
            "RLIMIT_NOFILE {limit}: the report must count the orphan's SIGKILL; stderr:\n{stderr}"
        );
    }
}

/// Sets `RLIMIT_NOFILE` (soft and hard) to `limit` in the child before exec.
fn limit_descriptors(cmd: &mut Command, limit: u64) {
    // rlim_t is 32 bits wide on 32-bit targets (i686, tests/arch.sh).
    #[allow(clippy::useless_conversion)]
    let limit = libc::rlim_t::try_from(limit).expect("the limit fits rlim_t");
    // SAFETY: setrlimit is async-signal-safe; the closure allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            let rlimit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

// ---- The environment, whole ----

/// Environment entries a C program may be given but `std::env::vars_os`
/// cannot say: without `=`, starting with `=`, a name twice, bytes that are
/// not UTF-8. Each must reach the main child as it was, in its place.
const ODD_ENVIRONMENT: &[&[u8]] = &[
    b"A=1",
    b"NO_EQUALS_SIGN",
    b"=starts_with_equals",
    b"B=x=y",
    b"C=\xff\xfe",
    b"A=a second A",
    b"EMPTY=",
    b"PATH=/usr/bin:/bin",
];

/// How tini-rs is started for [`child_environment`].
#[derive(Clone, Copy, PartialEq)]
enum Start {
    /// posix_spawn: the ordinary path (the control).
    Plain,
    /// SIGCHLD ignored: the fork path.
    SigchldIgnored,
    /// `LISTEN_PID` naming tini-rs, placed between the odd entries: the fork
    /// path, and the one entry that must change.
    ListenPidOfTiniRs,
}

/// Execs tini-rs with exactly `ODD_ENVIRONMENT` (plus `LISTEN_PID`) and
/// returns the main child's pid and the environment block the kernel holds
/// for it (`/proc/PID/environ`), entry by entry (bytes escaped as in Rust).
fn child_environment(start: Start) -> (String, Vec<String>) {
    const LISTEN_PID_AT: usize = 3;
    let exec = RawExec::new(start, LISTEN_PID_AT);
    let mut cmd = Command::new(tini_rs());
    // SAFETY: between fork and exec only async-signal-safe calls (signal,
    // getpid, execve) and writes into buffers made before the fork, which
    // the closure owns.
    unsafe { cmd.pre_exec(move || Err(exec.run())) };
    let (code, out, err) = run_bytes(cmd, LIMIT);
    assert_eq!(code, 0, "stderr: {err}");
    let newline = out.iter().position(|&b| b == b'\n').expect("the pid line");
    let pid = String::from_utf8_lossy(&out[..newline]).to_string();
    let mut block: Vec<String> = out[newline + 1..]
        .split(|&b| b == 0)
        .map(|entry| entry.escape_ascii().to_string())
        .collect();
    // The block ends with a NUL, which leaves one empty piece.
    assert_eq!(block.pop().as_deref(), Some(""), "a NUL-ended block");
    (pid, block)
}

/// tini-rs's argv and a raw environment, made before the fork (the forked
/// child of a threaded test must not allocate), exec'd with execve(2):
/// `Command` can only pass `NAME=VALUE` pairs.
struct RawExec {
    program: CString,
    _args: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    _entries: Vec<Vec<u8>>,
    envp: Vec<*const libc::c_char>,
    /// The entry the child writes `LISTEN_PID=<its pid>` into.
    listen_pid: Option<*mut u8>,
    sigchld_ignored: bool,
}

// SAFETY: the pointers point into the struct's own heap buffers, used only
// by the forked child (a single thread).
unsafe impl Send for RawExec {}
// SAFETY: as for Send.
unsafe impl Sync for RawExec {}

impl RawExec {
    fn new(start: Start, listen_pid_at: usize) -> RawExec {
        let c = |bytes: &[u8]| CString::new(bytes).expect("no NUL");
        let args = vec![
            c(tini_rs().as_bytes()),
            c(b"-s"),
            c(b"--"),
            c(b"/bin/sh"),
            c(b"-c"),
            c(b"echo $$; cat /proc/$$/environ"),
        ];
        let mut entries: Vec<Vec<u8>> = ODD_ENVIRONMENT
            .iter()
            .map(|e| c(e).into_bytes_with_nul())
            .collect();
        // Room for `LISTEN_PID=` and any pid, written in the child once its
        // pid is known.
        if start == Start::ListenPidOfTiniRs {
            entries.insert(listen_pid_at, vec![0; 23]);
        }
        // Every entry's pointer taken as mutable once, so the child may
        // write the LISTEN_PID entry through the pointer exec reads.
        let pointers: Vec<*mut u8> = entries.iter_mut().map(|e| e.as_mut_ptr()).collect();
        RawExec {
            program: c(tini_rs().as_bytes()),
            argv: args
                .iter()
                .map(|a| a.as_ptr())
                .chain([std::ptr::null()])
                .collect(),
            _args: args,
            envp: pointers
                .iter()
                .map(|&e| e.cast_const().cast())
                .chain([std::ptr::null()])
                .collect(),
            listen_pid: (start == Start::ListenPidOfTiniRs).then(|| pointers[listen_pid_at]),
            _entries: entries,
            sigchld_ignored: start == Start::SigchldIgnored,
        }
    }

    /// In the forked child: returns only the error of a failed exec.
    fn run(&self) -> std::io::Error {
        // SAFETY: async-signal-safe calls; `listen_pid` points at 23
        // writable bytes of our own; argv and envp are NULL-ended arrays of
        // NUL-ended strings that live as long as `self`.
        unsafe {
            if self.sigchld_ignored {
                libc::signal(libc::SIGCHLD, libc::SIG_IGN);
            }
            if let Some(entry) = self.listen_pid {
                let mut text = *b"LISTEN_PID=\0\0\0\0\0\0\0\0\0\0\0";
                let mut digits = [0u8; 10];
                let mut n = libc::getpid() as u32;
                let mut count = 0;
                loop {
                    digits[count] = b'0' + (n % 10) as u8;
                    count += 1;
                    n /= 10;
                    if n == 0 {
                        break;
                    }
                }
                for i in 0..count {
                    text[11 + i] = digits[count - 1 - i];
                }
                std::ptr::copy_nonoverlapping(text.as_ptr(), entry, text.len());
            }
            libc::execve(
                self.program.as_ptr(),
                self.argv.as_ptr(),
                self.envp.as_ptr(),
            );
        }
        std::io::Error::last_os_error()
    }
}

/// Like `common::run`, but stdout as bytes (the environment is not UTF-8).
fn run_bytes(mut cmd: Command, limit: Duration) -> (i32, Vec<u8>, String) {
    use std::io::Read;
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut running = Running::start(cmd);
    let mut out = Vec::new();
    if let Some(mut stdout) = running.child.stdout.take() {
        let _ = stdout.read_to_end(&mut out);
    }
    let code = running.exit_code(limit);
    let (_, err) = running.output();
    (code, out, err)
}

fn expected(entries: &[&[u8]]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e.escape_ascii().to_string())
        .collect()
}

#[test]
fn posix_spawn_passes_the_environment_whole() {
    let (_, block) = child_environment(Start::Plain);
    assert_eq!(block, expected(ODD_ENVIRONMENT));
}

/// Before the fix the fork path rebuilt the environment from
/// `std::env::vars_os`: `NO_EQUALS_SIGN` and `=starts_with_equals` were
/// lost, and the order was the one std keeps.
#[test]
fn the_fork_path_with_sigchld_ignored_passes_the_environment_whole() {
    let (_, block) = child_environment(Start::SigchldIgnored);
    assert_eq!(block, expected(ODD_ENVIRONMENT));
}

#[test]
fn socket_activation_changes_only_listen_pid() {
    let (pid, block) = child_environment(Start::ListenPidOfTiniRs);
    let mut want = expected(ODD_ENVIRONMENT);
    want.insert(3, format!("LISTEN_PID={pid}"));
    assert_eq!(block, want);
}
