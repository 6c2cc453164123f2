//! Load: tini-rs as PID 1 of a PID namespace under storms of orphans and of
//! signals. Nothing may be lost: every orphan reaped (no zombie left), every
//! real-time signal delivered in order, memory flat, the right exit status.
//!
//! The main child is the agent (tests/common/agent.rs). tini-rs runs with
//! `-w`, so its stderr (a file) holds one `Reaped zombie process` line per
//! orphan it reaped, which the tests count. The figures are printed on
//! stderr (`cargo test --test load -- --nocapture` shows them).
//!
//! The storms share two cores with whatever else runs, so they take turns
//! (one lock) and every wait is generous but bounded.

mod common;

use common::agent::*;
use common::*;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One storm at a time: the machine has two cores and other tests too.
static HEAVY: Mutex<()> = Mutex::new(());

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

const REAPED: &str = "Reaped zombie process with pid=";

/// tini-rs as PID 1 with `-w` (plus `extra`), stderr into `log`.
fn start_pid1(extra: &[&str], log: &std::path::Path) -> (Agent, i32) {
    let mut args = vec!["-w"];
    args.extend_from_slice(extra);
    args.push("--");
    let stderr = std::fs::File::create(log).expect("create the log file");
    let agent = Agent::start(as_pid1(&args), Stdio::from(stderr));
    let pid1 = pid1_of(&agent.run);
    (agent, pid1)
}

/// Sends `marker` to tini-rs and waits until the agent has it. Pending
/// signals leave a queue lowest number first (tini-rs's, then the
/// agent's), so with a marker above every signal sent before it, whatever
/// tini-rs forwarded before the marker has been reported by then: nothing
/// is still on its way.
fn flush_with(agent: &mut Agent, pid1: i32, marker: i32, limit: Duration) -> bool {
    let count = |r: &[Received]| r.iter().filter(|r| r.signo == marker).count();
    let before = count(&agent.received);
    assert!(send_signal(pid1, marker), "kill({marker}) failed");
    agent.wait_signals(limit, |r| count(r) > before)
}

/// Waits until tini-rs's only child is the agent and no zombie is left under
/// it; panics with what is left otherwise.
fn assert_all_reaped(pid1: i32, limit: Duration) {
    let mut left = (Vec::new(), Vec::new());
    let clean = wait_until(limit, || {
        left = (children_of(pid1), zombies_under(pid1));
        left.0.len() == 1 && left.1.is_empty()
    });
    assert!(
        clean,
        "after {limit:?}: {} children of tini-rs (want only the agent), {} zombies",
        left.0.len(),
        left.1.len()
    );
}

/// 10,000 orphans, all children of tini-rs at once, exit at the same moment
/// (one pipe closes): tini-rs reaps every one (10,000 `Reaped` lines), none
/// is left a zombie, and it still exits with the agent's status.
#[test]
fn ten_thousand_orphans_exiting_at_once_are_all_reaped() {
    const N: usize = 10_000;
    if !require_root("ten_thousand_orphans_exiting_at_once_are_all_reaped") {
        return;
    }
    let _turn = heavy();
    let dir = TempDir::new("load-orphans");
    let log = dir.file("tini.log");
    let (mut agent, pid1) = start_pid1(&[], &log);

    agent.send(&format!("orphans {N} 100"));
    let created = field(
        &agent
            .expect("middle created", Duration::from_secs(50))
            .replace("created ", "created="),
        "created=",
    );
    agent.expect("orphans done", Duration::from_secs(20));
    assert_eq!(
        created as usize, N,
        "the middle process could not fork them all"
    );
    let mut held = 0;
    wait_until(Duration::from_secs(10), || {
        held = children_of(pid1).len();
        held == N + 1
    });
    assert_eq!(
        held,
        N + 1,
        "every orphan is a child of tini-rs (plus the agent)"
    );

    let released = Instant::now();
    agent.send("release");
    agent.expect("released", Duration::from_secs(10));
    assert_all_reaped(pid1, Duration::from_secs(40));
    let reaped = wait_for_log(&log, REAPED, N, Duration::from_secs(10));
    eprintln!(
        "orphans: {N} exited at once; tini-rs reaped {reaped} in {:?}, zombies left 0",
        released.elapsed()
    );
    assert_eq!(reaped, N, "one Reaped line per orphan");

    agent.send("exit 23");
    assert_eq!(agent.run.exit_code(Duration::from_secs(10)), 23);
    assert_no_panic(&log);
}

/// 20,000 short-lived orphans from 4 workers, as fast as they can fork:
/// every one reaped, no zombie at the end, and tini-rs's peak resident
/// memory (VmHWM, read from outside the namespace) grows by less than 64 kB
/// between the start and the end of the storm.
#[test]
fn fork_storm_of_20000_orphans_leaves_no_zombie_and_flat_memory() {
    const N: u64 = 20_000;
    if !require_root("fork_storm_of_20000_orphans_leaves_no_zombie_and_flat_memory") {
        return;
    }
    let _turn = heavy();
    let dir = TempDir::new("load-storm");
    let log = dir.file("tini.log");
    let (mut agent, pid1) = start_pid1(&[], &log);
    // Let start-up finish (a signal has gone through the forwarder thread,
    // and every thread is asleep), then run a small storm first: the first
    // reaps execute code that never ran before, and each new code page
    // faults in 64 kB of the binary around it (the kernel's fault-around),
    // which VmHWM counts. The baseline is the steady state the big storm
    // must not grow.
    assert!(
        flush_with(&mut agent, pid1, libc::SIGUSR1, Duration::from_secs(10)),
        "SIGUSR1 not forwarded"
    );
    assert!(
        wait_asleep(pid1, Duration::from_secs(10)),
        "tini-rs never went idle"
    );
    agent.send("storm 4 200 45");
    agent.expect("storm done", Duration::from_secs(30));
    let _ = agent.take_lines("worker");
    assert_all_reaped(pid1, Duration::from_secs(30));
    wait_for_log(&log, REAPED, 200, Duration::from_secs(10));
    let hwm_before = status_kb(pid1, "VmHWM");
    let rss_before = status_kb(pid1, "VmRSS");

    let started = Instant::now();
    agent.send(&format!("storm 4 {N} 45"));
    agent.expect("storm done", Duration::from_secs(55));
    let storm_time = started.elapsed();
    let (made, failed) = made_and_failed(&agent.take_lines("worker"));
    assert_eq!(
        made, N,
        "the workers made every orphan ({failed} failed forks)"
    );
    assert_all_reaped(pid1, Duration::from_secs(30));
    let reaped = wait_for_log(&log, REAPED, 200 + N as usize, Duration::from_secs(10)) - 200;
    let hwm_after = status_kb(pid1, "VmHWM");
    let rss_after = status_kb(pid1, "VmRSS");
    eprintln!(
        "storm: {made} orphans from 4 workers in {storm_time:?} ({failed} failed forks); \
         reaped {reaped}; VmHWM {hwm_before} kB -> {hwm_after} kB; VmRSS {rss_before} kB -> {rss_after} kB"
    );
    assert_eq!(reaped as u64, N, "one Reaped line per orphan");
    assert!(
        hwm_after < hwm_before + 64,
        "VmHWM grew from {hwm_before} kB to {hwm_after} kB during the storm"
    );

    agent.send("exit 0");
    assert_eq!(agent.run.exit_code(Duration::from_secs(10)), 0);
    assert_no_panic(&log);
}

/// 1,000 SIGUSR1, each sent only after the previous one reached the agent
/// (standard signals coalesce while pending; spaced, none may): all 1,000
/// delivered, no extra: a SIGUSR2 marker sent last arrives right after
/// them.
#[test]
fn thousand_spaced_signals_are_all_delivered() {
    const N: usize = 1_000;
    if !require_root("thousand_spaced_signals_are_all_delivered") {
        return;
    }
    let dir = TempDir::new("load-spaced");
    let log = dir.file("tini.log");
    let (mut agent, pid1) = start_pid1(&[], &log);
    let usr1 = |a: &[Received]| a.iter().filter(|r| r.signo == libc::SIGUSR1).count();
    for i in 0..N {
        assert!(send_signal(pid1, libc::SIGUSR1), "kill #{i} failed");
        assert!(
            agent.wait_signals(Duration::from_secs(10), |r| usr1(r) == i + 1),
            "signal #{} never reached the agent ({} did)",
            i + 1,
            usr1(&agent.received)
        );
    }
    // An extra SIGUSR1 forwarded before the marker is reported before it.
    assert!(
        flush_with(&mut agent, pid1, libc::SIGUSR2, Duration::from_secs(10)),
        "the SIGUSR2 marker never reached the agent"
    );
    let delivered = usr1(&agent.received);
    eprintln!("spaced: sent {N} SIGUSR1, delivered {delivered}");
    assert_eq!(delivered, N);
    let got: Vec<i32> = agent.forwarded().iter().map(|r| r.signo).collect();
    let mut sent = vec![libc::SIGUSR1; N];
    sent.push(libc::SIGUSR2);
    assert!(
        got == sent,
        "want {N} SIGUSR1 then the SIGUSR2 marker, got {} signals: {:?}...",
        got.len(),
        &got[got.len().saturating_sub(5)..]
    );
    agent.send("exit 5");
    assert_eq!(agent.run.exit_code(Duration::from_secs(10)), 5);
    assert_no_panic(&log);
}

/// 100 real-time signals sent back to back (a tight kill loop): all 100
/// arrive, in the order sent, and nothing else before the SIGRTMAX marker
/// sent right after them.
///
/// Why the sequence is non-decreasing (SIGRTMIN+0 four times, then +1 four
/// times, ... +24): the kernel queues every real-time signal but, when
/// several *different* ones are pending at once, delivers the lowest number
/// first, so no init could keep the order of, say, +5 then +3 sent within a
/// microsecond. For a non-decreasing sequence the kernel's rules keep the
/// send order at each hop, so the agent must see exactly what was sent: a
/// lost, duplicated or reordered signal shows.
#[test]
fn hundred_back_to_back_realtime_signals_arrive_all_in_order() {
    const N: usize = 100;
    if !require_root("hundred_back_to_back_realtime_signals_arrive_all_in_order") {
        return;
    }
    let dir = TempDir::new("load-rt");
    let log = dir.file("tini.log");
    let (mut agent, pid1) = start_pid1(&[], &log);
    let sent: Vec<i32> = (0..N).map(|i| libc::SIGRTMIN() + (i / 4) as i32).collect();
    for &sig in &sent {
        assert!(send_signal(pid1, sig), "kill({sig}) failed");
    }
    // Above every signal sent: it arrives after all of them.
    let ok = flush_with(&mut agent, pid1, libc::SIGRTMAX(), Duration::from_secs(15));
    agent.assert_alive("after 100 real-time signals");
    let mut got: Vec<i32> = agent.forwarded().iter().map(|r| r.signo).collect();
    let marker = got.pop();
    eprintln!(
        "realtime: sent {N} back to back, delivered {} (in order: {})",
        got.len(),
        got == sent
    );
    assert!(ok, "the marker never arrived; {} of {N} did", got.len());
    assert_eq!(marker, Some(libc::SIGRTMAX()), "the marker comes last");
    assert_eq!(got, sent, "delivered sequence differs from the sent one");
    agent.send("exit 0");
    assert_eq!(agent.run.exit_code(Duration::from_secs(10)), 0);
    assert_no_panic(&log);
}

/// Tens of thousands of mixed signals (12 standard, 8 real-time) over a few
/// seconds while a spawner keeps making orphans: tini-rs keeps forwarding
/// (every kind arrives, every real-time signal arrives, a SIGRTMAX sent
/// after the storm arrives, after all of them), keeps reaping (one Reaped
/// line per orphan, no zombie), and exits with the agent's status. Standard signals coalesce in
/// the kernel while pending, so for those only "at least one" is owed.
#[test]
fn mixed_signal_storm_while_reaping_loses_nothing() {
    const TARGET: usize = 60_000;
    if !require_root("mixed_signal_storm_while_reaping_loses_nothing") {
        return;
    }
    let _turn = heavy();
    let dir = TempDir::new("load-mixed");
    let log = dir.file("tini.log");
    let (mut agent, pid1) = start_pid1(&[], &log);
    let standard = [
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGABRT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGPIPE,
        libc::SIGALRM,
        libc::SIGTERM,
        libc::SIGCONT,
        libc::SIGURG,
        libc::SIGWINCH,
    ];
    let realtime: Vec<i32> = (0..8).map(|i| libc::SIGRTMIN() + i).collect();
    let kinds: Vec<i32> = standard
        .iter()
        .copied()
        .chain(realtime.iter().copied())
        .collect();

    agent.send("spawn-start");
    agent.expect("spawner started", Duration::from_secs(10));
    let mut sent = vec![0usize; 65];
    let mut refused = 0usize;
    let started = Instant::now();
    let mut total = 0;
    'storm: while total < TARGET {
        for _ in 0..50 {
            let sig = kinds[total % kinds.len()];
            if send_signal(pid1, sig) {
                sent[sig as usize] += 1;
            } else {
                refused += 1;
            }
            total += 1;
            if started.elapsed() > Duration::from_secs(8) {
                break 'storm;
            }
        }
        // Pacing, not a wait for anything: spreads the storm over a few
        // seconds while the spawner runs.
        std::thread::sleep(Duration::from_millis(3));
    }
    let storm_time = started.elapsed();
    agent.assert_alive("after the signal storm");
    agent.send("spawn-stop");
    let spawner = agent.expect("spawner made", Duration::from_secs(20));
    agent.expect("spawner stopped", Duration::from_secs(20));
    let (orphans, _) = made_and_failed(&[spawner]);

    let count = |r: &[Received], sig: i32| r.iter().filter(|r| r.signo == sig).count();
    let rt_sent: usize = realtime.iter().map(|&s| sent[s as usize]).sum();
    let all_rt = agent.wait_signals(Duration::from_secs(20), |r| {
        realtime.iter().all(|&s| count(r, s) >= sent[s as usize])
    });
    // Still forwarding after the storm, and, the marker being above every
    // kind sent, nothing of the storm is still on its way once it is here
    // (sent only now: while the storm's real-time signals were queued, the
    // queue could be full).
    let after_storm = flush_with(&mut agent, pid1, libc::SIGRTMAX(), Duration::from_secs(20));
    let rt_delivered: usize = realtime.iter().map(|&s| count(&agent.received, s)).sum();
    let std_sent: usize = standard.iter().map(|&s| sent[s as usize]).sum();
    let std_delivered: usize = standard.iter().map(|&s| count(&agent.received, s)).sum();

    assert_all_reaped(pid1, Duration::from_secs(30));
    let reaped = wait_for_log(&log, REAPED, orphans as usize, Duration::from_secs(10));
    eprintln!(
        "mixed storm: {total} signals in {storm_time:?} ({refused} refused by the kernel); \
         standard sent {std_sent} delivered {std_delivered} (coalescing allowed); \
         real-time sent {rt_sent} delivered {rt_delivered}; \
         orphans made {orphans} reaped {reaped}"
    );
    for &sig in &kinds {
        assert!(
            sent[sig as usize] == 0 || count(&agent.received, sig) >= 1,
            "signal {sig} was sent {} times and never arrived",
            sent[sig as usize]
        );
    }
    assert!(
        all_rt && rt_delivered == rt_sent,
        "real-time signals lost or duplicated: sent {rt_sent}, delivered {rt_delivered}"
    );
    assert!(
        after_storm,
        "a SIGRTMAX sent after the storm did not arrive"
    );
    assert!(total >= 10_000, "the storm sent only {total} signals");
    assert!(orphans > 0, "the spawner made no orphan during the storm");
    assert_eq!(reaped as u64, orphans, "one Reaped line per orphan");

    agent.send("exit 42");
    assert_eq!(agent.run.exit_code(Duration::from_secs(10)), 42);
    assert_no_panic(&log);
}
