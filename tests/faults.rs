//! Faults: tini-rs under a pid limit, with a broken stderr, with a stopped
//! main child, under every signal a process can be sent, and when the main
//! child's pid is reused. Whatever happens, tini-rs must not die, not spin,
//! not orphan its child and not hit the wrong process, and it must exit
//! with the main child's status.
//!
//! The main child is the agent (tests/common/agent.rs): it blocks every
//! signal and reports each one it receives, with the sender.

mod common;

use common::agent::*;
use common::pids_cgroup::PidsCgroup;
use common::*;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

const REAPED: &str = "Reaped zombie process with pid=";

fn log_text(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn count(received: &[Received], sig: i32) -> usize {
    received.iter().filter(|r| r.signo == sig).count()
}

/// Sends `sig` to tini-rs and waits until the agent got one more of it.
fn forward_one(agent: &mut Agent, tini: i32, sig: i32) -> bool {
    let before = count(&agent.received, sig);
    assert!(send_signal(tini, sig), "kill({tini}, {sig}) failed");
    agent.wait_signals(LIMIT, |r| count(r, sig) > before)
}

/// As PID 1 inside a pids cgroup: the agent forks orphans until the limit
/// refuses 20 forks, holds them, releases them; then, with the limit
/// squeezed to 4 tasks above what is running, 2 workers make 300
/// short-lived orphans, a fork succeeding only once tini-rs has reaped an
/// earlier orphan (zombies count against the limit). tini-rs survives, reaps
/// all of them, and exits with the agent's status.
#[test]
fn pid_limit_reached_while_the_main_child_forks() {
    if !require_root("pid_limit_reached_while_the_main_child_forks") {
        return;
    }
    let dir = TempDir::new("faults-pidlimit");
    let log = dir.file("tini.log");
    let cgroup = PidsCgroup::create("pidlimit", 40);
    let mut cmd = as_pid1(&["-w", "--"]);
    cgroup.join_before_exec(&mut cmd);
    let stderr = std::fs::File::create(&log).expect("log file");
    let mut agent = Agent::start(cmd, Stdio::from(stderr));
    let pid1 = pid1_of(&agent.run);
    let baseline = cgroup.current();

    agent.send("orphans 100000 20");
    let middle = agent.expect("middle created", LIMIT);
    agent.expect("orphans done", LIMIT);
    let (held, failed) = made_and_failed(std::slice::from_ref(&middle));
    assert_eq!(failed, 20, "the limit must refuse forks: {middle}");
    assert!(
        cgroup.refused_forks() >= 20,
        "pids.events shows no refused fork"
    );
    agent.assert_alive("at the pid limit");
    assert_eq!(
        children_of(pid1).len() as u64,
        held + 1,
        "held orphans + agent"
    );
    agent.send("release");
    agent.expect("released", LIMIT);
    let clean = wait_until(LIMIT, || {
        children_of(pid1).len() == 1 && zombies_under(pid1).is_empty()
    });
    assert!(clean, "orphans left after the release");

    // Squeeze: unshare, tini-rs's threads, the agent, and room for 4 more.
    let squeezed = cgroup.current() as u32 + 4;
    cgroup.set_max(squeezed);
    let refused_before = cgroup.refused_forks();
    agent.send("storm 2 300 15");
    agent.expect("storm done", Duration::from_secs(30));
    let (made, failed) = made_and_failed(&agent.take_lines("worker"));
    let refused = cgroup.refused_forks() - refused_before;
    agent.assert_alive("after the squeezed storm");
    let clean = wait_until(LIMIT, || {
        children_of(pid1).len() == 1 && zombies_under(pid1).is_empty()
    });
    let reaped = wait_for_log(&log, REAPED, (held + made) as usize, LIMIT);
    eprintln!(
        "pid limit: baseline {baseline} tasks; held {held} orphans at pids.max 40; \
         squeezed to {squeezed}: made {made} orphans, {failed} failed forks, \
         {refused} refused by the cgroup; reaped {reaped}"
    );
    assert_eq!(
        made, 300,
        "workers could not make their orphans: is tini-rs reaping?"
    );
    assert!(clean, "zombies or orphans left after the squeezed storm");
    assert_eq!(reaped as u64, held + made, "one Reaped line per orphan");

    agent.send("exit 3");
    assert_eq!(agent.run.exit_code(LIMIT), 3);
    assert_no_panic(&log);
}

/// Asserts the one-line error of a main child that cannot be forked.
fn assert_fork_failure(code: i32, out: &str, err: &str) {
    assert_eq!(code, 1, "exit status; stderr: {err}");
    assert_eq!(out, "", "nothing on stdout");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line on stderr: {err:?}");
    assert!(
        lines[0].contains("ERROR") && lines[0].contains("Resource temporarily unavailable"),
        "the line names the error (EAGAIN): {err:?}"
    );
    assert!(!err.contains("panicked"));
}

/// PID 1 in a pids cgroup that has room for `unshare` and tini-rs only: the
/// fork of the main child fails with EAGAIN.
#[test]
fn spawn_failing_with_eagain_as_pid1_is_one_line_and_exit_1() {
    if !require_root("spawn_failing_with_eagain_as_pid1_is_one_line_and_exit_1") {
        return;
    }
    let cgroup = PidsCgroup::create("eagain-pid1", 2);
    let mut cmd = as_pid1(&["--", "true"]);
    cgroup.join_before_exec(&mut cmd);
    let (code, out, err) = run(cmd, LIMIT);
    assert!(cgroup.refused_forks() >= 1, "the cgroup refused no fork");
    assert_fork_failure(code, &out, &err);
}

/// The same, not PID 1 (`-s`), in a cgroup with room for tini-rs alone.
#[test]
fn spawn_failing_with_eagain_as_subreaper_is_one_line_and_exit_1() {
    if !require_root("spawn_failing_with_eagain_as_subreaper_is_one_line_and_exit_1") {
        return;
    }
    let cgroup = PidsCgroup::create("eagain-sub", 1);
    let mut cmd = tini(&["-s", "--", "true"]);
    cgroup.join_before_exec(&mut cmd);
    let (code, out, err) = run(cmd, LIMIT);
    assert!(cgroup.refused_forks() >= 1, "the cgroup refused no fork");
    assert_fork_failure(code, &out, &err);
}

/// With `-vvv` tini-rs logs on every signal and every reap; the stderr it
/// was given makes each of those writes fail. It must forward, reap and
/// exit with the agent's status all the same, and must not pass its own
/// SIGPIPE on.
fn survives_broken_stderr(mut cmd: Command, tini_is_pid1: bool) {
    cmd.args(agent_argv("agent"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut agent = Agent::start_prepared(cmd);
    let tini = if tini_is_pid1 {
        pid1_of(&agent.run)
    } else {
        agent.run.pid()
    };
    for sig in [libc::SIGUSR1, libc::SIGHUP, libc::SIGRTMIN()] {
        assert!(
            forward_one(&mut agent, tini, sig),
            "signal {sig} not forwarded"
        );
    }
    agent.send("orphans 5 5");
    agent.expect("orphans done", LIMIT);
    agent.send("release");
    agent.expect("released", LIMIT);
    let clean = wait_until(LIMIT, || {
        children_of(tini).len() == 1 && zombies_under(tini).is_empty()
    });
    assert!(clean, "orphans not reaped");
    agent.assert_alive("after logging into a broken stderr");
    agent.send("exit 7");
    assert_eq!(agent.run.exit_code(LIMIT), 7);
    assert!(
        agent.read_to_end(LIMIT),
        "the agent's stdout never reached end-of-file"
    );
    assert_eq!(
        count(&agent.received, libc::SIGPIPE),
        0,
        "tini-rs passed its own SIGPIPE on"
    );
}

#[test]
fn closed_stderr_with_vvv_changes_nothing() {
    let mut cmd = tini(&["-s", "-vvv", "--"]);
    // SAFETY: close(2) is async-signal-safe; only the child's fd 2 closes.
    unsafe {
        cmd.pre_exec(|| {
            libc::close(2);
            Ok(())
        });
    }
    survives_broken_stderr(cmd, false);
}

/// A pipe whose read end is closed before tini-rs starts: every log line
/// gets EPIPE and raises SIGPIPE in tini-rs.
fn broken_pipe() -> OwnedFd {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both were just created and are owned once each.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    write
}

#[test]
fn stderr_pipe_without_reader_with_vvv_changes_nothing() {
    let mut cmd = tini(&["-s", "-vvv", "--"]);
    cmd.stderr(Stdio::from(broken_pipe()));
    survives_broken_stderr(cmd, false);
}

#[test]
fn stderr_pipe_without_reader_as_pid1_with_vvv_changes_nothing() {
    if !require_root("stderr_pipe_without_reader_as_pid1_with_vvv_changes_nothing") {
        return;
    }
    let mut cmd = as_pid1(&["-vvv", "--"]);
    cmd.stderr(Stdio::from(broken_pipe()));
    survives_broken_stderr(cmd, true);
}

/// Waits until the process is (or is no longer) stopped.
fn wait_stopped(pid: i32, stopped: bool) -> bool {
    wait_until(LIMIT, || {
        status_field(pid, "State").is_some_and(|s| s.starts_with('T') == stopped)
    })
}

/// utime + stime of a live process, in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    ProcStat::of(pid)
        .unwrap_or_else(|| panic!("pid {pid} is gone"))
        .cpu_ticks()
}

/// CPU ticks and context switches tini-rs uses over `span`. The sleep is
/// the span measured, not a wait for something to happen.
fn idle_cost(pid: i32, span: Duration) -> (u64, u64) {
    let (cpu, switches) = (cpu_ticks(pid), context_switches(pid));
    std::thread::sleep(span);
    (cpu_ticks(pid) - cpu, context_switches(pid) - switches)
}

/// The main child is stopped with SIGSTOP for two seconds and continued:
/// tini-rs neither exits nor spins (its CPU time and context switches stay
/// put), and still exits with the agent's status afterwards.
#[test]
fn stopped_and_continued_main_child_neither_ends_nor_spins_tini_rs() {
    if !require_root("stopped_and_continued_main_child_neither_ends_nor_spins_tini_rs") {
        return;
    }
    let dir = TempDir::new("faults-stop");
    let log = dir.file("tini.log");
    let stderr = std::fs::File::create(&log).expect("log file");
    let mut agent = Agent::start(as_pid1(&["--"]), Stdio::from(stderr));
    let pid1 = pid1_of(&agent.run);
    let child = children_of(pid1)[0];
    // Start-up is over once a signal has gone through the forwarder thread
    // and every thread of tini-rs is back asleep.
    assert!(
        forward_one(&mut agent, pid1, libc::SIGUSR1),
        "SIGUSR1 not forwarded"
    );
    assert!(wait_asleep(pid1, LIMIT), "tini-rs never went idle");

    // Each measurement starts once tini-rs is asleep again after the change.
    assert!(send_signal(child, libc::SIGSTOP));
    assert!(wait_stopped(child, true), "the agent did not stop");
    assert!(wait_asleep(pid1, LIMIT), "tini-rs busy after the stop");
    let (stopped_cpu, stopped_switches) = idle_cost(pid1, Duration::from_secs(2));
    agent.assert_alive("while the main child is stopped");

    assert!(send_signal(child, libc::SIGCONT));
    assert!(wait_stopped(child, false), "the agent did not continue");
    assert!(wait_asleep(pid1, LIMIT), "tini-rs busy after the continue");
    let (cont_cpu, cont_switches) = idle_cost(pid1, Duration::from_secs(1));
    agent.assert_alive("after the main child continued");
    eprintln!(
        "stop/cont: tini-rs over 2 s stopped: {stopped_cpu} ticks, {stopped_switches} switches; \
         over 1 s continued: {cont_cpu} ticks, {cont_switches} switches"
    );
    assert!(
        stopped_cpu <= 2 && cont_cpu <= 2,
        "tini-rs is spinning (CPU ticks)"
    );
    assert!(
        stopped_switches <= 2 && cont_switches <= 2,
        "tini-rs keeps waking up (context switches)"
    );
    agent.send("exit 5");
    assert_eq!(agent.run.exit_code(LIMIT), 5);
    assert_no_panic(&log);
}

/// The signals docs/DESIGN.md says are never forwarded: SIGCHLD (ours), SIGTTIN
/// and SIGTTOU (ignored so the terminal cannot stop us) and the six the
/// kernel sends on a fault (sent by kill(2) here).
fn never_forwarded() -> [i32; 9] {
    [
        libc::SIGCHLD,
        libc::SIGTTIN,
        libc::SIGTTOU,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
        libc::SIGTRAP,
        libc::SIGSYS,
    ]
}

/// cargo runs test binaries with signal 32 ignored, and an ignored
/// disposition survives exec, which would hide what signal 32 does to
/// tini-rs. A container's first process starts with it at the default
/// (terminate), so put 32 and 33 back to default before exec. glibc's
/// sigaction refuses these two numbers; the raw syscall does not.
fn with_reserved_signals_at_default(cmd: &mut Command) {
    // SAFETY: rt_sigaction is async-signal-safe; an all-zero kernel
    // sigaction (handler, flags, restorer, mask) is SIG_DFL, no flags.
    unsafe {
        cmd.pre_exec(|| {
            let default = [0u64; 4];
            for sig in [32, 33] {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    default.as_ptr(),
                    std::ptr::null_mut::<u64>(),
                    8usize,
                );
            }
            Ok(())
        });
    }
}

/// Sends each signal in `sigs` to tini-rs (not PID 1, so no kernel
/// protection), one at a time; checks after each that tini-rs lives, that
/// the agent is still its child, and that the signal was forwarded exactly
/// when `forwarded(sig)`. A signal that is not forwarded is followed by a
/// SIGRTMAX marker: once the marker arrives, the other one would have too.
/// Pending signals leave a queue lowest number first (tini-rs's, then the
/// agent's), and SIGRTMAX is the highest, so a wrongly forwarded signal is
/// reported before the marker. (With a lower marker such as SIGUSR1, a
/// forwarded SIGCHLD could be reported just after it, unseen.)
fn send_each_and_check(sigs: &[i32], forwarded: impl Fn(i32) -> bool) {
    let dir = TempDir::new("faults-every");
    let log = dir.file("tini.log");
    let stderr = std::fs::File::create(&log).expect("log file");
    let mut cmd = tini(&["--"]);
    with_reserved_signals_at_default(&mut cmd);
    let mut agent = Agent::start(cmd, Stdio::from(stderr));
    let tini_pid = agent.run.pid();
    let child = children_of(tini_pid)[0];
    let mut delivered = 0;
    for &sig in sigs {
        if forwarded(sig) {
            assert!(
                forward_one(&mut agent, tini_pid, sig),
                "signal {sig} was not forwarded"
            );
            delivered += 1;
        } else {
            assert!(send_signal(tini_pid, sig), "kill({sig}) failed");
            let marker = forward_one(&mut agent, tini_pid, libc::SIGRTMAX());
            agent.assert_alive(&format!("after signal {sig}"));
            assert!(
                marker,
                "the SIGRTMAX sent after signal {sig} was not forwarded"
            );
            assert_eq!(
                count(&agent.received, sig),
                0,
                "signal {sig} must not be forwarded"
            );
        }
        agent.assert_alive(&format!("after signal {sig}"));
        assert_eq!(
            status_field(child, "PPid").as_deref(),
            Some(tini_pid.to_string().as_str()),
            "after signal {sig} the agent must still be tini-rs's child"
        );
    }
    eprintln!(
        "every signal: sent {} kinds to tini-rs (not PID 1), {delivered} forwarded, tini-rs alive",
        sigs.len()
    );
    agent.send("exit 4");
    assert_eq!(agent.run.exit_code(LIMIT), 4);
    assert_no_panic(&log);
}

/// Every signal a program may catch (1..=31 and SIGRTMIN..=SIGRTMAX, but
/// SIGKILL and SIGSTOP), SIGABRT included, sent to tini-rs when it is not
/// PID 1: it never dies, never orphans the agent, and forwards each one
/// except those docs/DESIGN.md keeps back.
#[test]
fn every_catchable_signal_neither_kills_tini_rs_nor_orphans_the_child() {
    let sigs: Vec<i32> = (1..=31)
        .chain(libc::SIGRTMIN()..=libc::SIGRTMAX())
        .filter(|&s| s != libc::SIGKILL && s != libc::SIGSTOP)
        .collect();
    send_each_and_check(&sigs, |s| !never_forwarded().contains(&s));
}

/// Signals 32 and 33 sit between the standard and the real-time range; glibc
/// keeps them for its threads (SIGCANCEL, SIGSETXID) and will not let a
/// program catch or block them, but kill(2) delivers them like any other.
/// Sent to tini-rs they must not kill it either (they are not forwarded:
/// no program could expect them).
#[test]
fn glibc_reserved_signals_32_and_33_do_not_kill_tini_rs() {
    send_each_and_check(&[32, 33], |_| false);
}

/// Pid reuse: as PID 1 with `--grace-period`, the agent exits (9) and is
/// reaped while a survivor (which keeps SIGTERM blocked) keeps tini-rs in its
/// grace period. The survivor then sets ns_last_pid so its next fork gets
/// the agent's old pid. Signals sent to tini-rs now must not reach that new
/// process: tini-rs forwards through a pidfd of the old child, so each
/// attempt fails with ESRCH (`-vvv` logs "Main child is gone"). A SIGWINCH
/// sent to the new process directly ends it (status 0), with the list of
/// what it got. It is an orphan, so tini-rs reaps it, and its pid is the
/// main child's old pid: tini-rs must still exit with the agent's 9.
#[test]
fn a_forwarded_signal_never_reaches_a_process_that_reused_the_main_pid() {
    if !require_root("a_forwarded_signal_never_reaches_a_process_that_reused_the_main_pid") {
        return;
    }
    let dir = TempDir::new("faults-reuse");
    let log = dir.file("tini.log");
    let stderr = std::fs::File::create(&log).expect("log file");
    let mut agent = Agent::start(
        as_pid1(&["-vvv", "--grace-period", "30", "--"]),
        Stdio::from(stderr),
    );
    let pid1 = pid1_of(&agent.run);
    let main_pid = agent.inner_pid();
    agent.send("reuse");
    agent.expect("reuse started", LIMIT);
    agent.send("exit 9");
    agent.expect("bye", LIMIT);

    let reused = agent.expect("reused pid=", LIMIT);
    assert_eq!(
        field(&reused, "pid="),
        main_pid,
        "ns_last_pid did not give the new process the old pid: {reused}"
    );
    // The new process, seen from here: its innermost NSpid is main_pid.
    let inner_of = |pid: i32| {
        status_field(pid, "NSpid")
            .and_then(|v| v.split_whitespace().last()?.parse::<i32>().ok())
            .unwrap_or(0)
    };
    let newcomer = descendants(pid1)
        .into_iter()
        .find(|&p| inner_of(p) == main_pid)
        .expect("the new process with the old pid");

    let sigs = [
        libc::SIGUSR1,
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGUSR2,
        libc::SIGRTMIN() + 1,
    ];
    let gone = "Main child is gone";
    let before = wait_for_log(&log, gone, 0, Duration::ZERO);
    for (i, &sig) in sigs.iter().enumerate() {
        assert!(send_signal(pid1, sig), "kill({sig})");
        let seen = wait_for_log(&log, gone, before + i + 1, LIMIT);
        assert_eq!(
            seen,
            before + i + 1,
            "tini-rs did not report signal {sig} as undeliverable; log:\n{}",
            log_text(&log)
        );
    }
    agent.assert_alive("in the grace period");
    assert!(send_signal(newcomer, libc::SIGWINCH));
    agent.expect("reused done", LIMIT);
    let got = agent.take_lines("reused got");
    eprintln!(
        "pid reuse: old main pid {main_pid} reused; sent {} signals to tini-rs; \
         the new process got {got:?}",
        sigs.len()
    );
    assert_eq!(
        got,
        [format!("reused got {} 0", libc::SIGWINCH)],
        "only the marker (sender 0: outside the namespace) may reach the new process"
    );
    assert_eq!(
        agent.run.exit_code(LIMIT),
        9,
        "the agent's status, not that of the process that reused its pid"
    );
    assert_no_panic(&log);
}
