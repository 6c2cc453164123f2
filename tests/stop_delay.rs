//! `--stop-delay`: the first SIGTERM or SIGINT is held before it is passed
//! on (so a load balancer can stop sending work first); every other signal
//! passes at once meanwhile; a second SIGTERM or SIGINT ends the wait; with
//! `--grace-period` the wait is spent inside the grace period.

mod common;

use common::*;
use std::time::{Duration, Instant};

/// tini-rs `-vv ARGS -- signal_recorder.py NAMES`, its log and the
/// recorder's output in `dir`; returns once the recorder is ready.
fn start_with_recorder(dir: &TempDir, args: &[&str], names: &[&str]) -> Running {
    let mut all = vec!["-s", "-vv"];
    all.extend_from_slice(args);
    all.push("--");
    let recorder = script("signal_recorder.py");
    all.extend_from_slice(&[python3(), &recorder]);
    all.extend_from_slice(names);
    let mut cmd = tini(&all);
    cmd.stdout(std::fs::File::create(dir.file("out")).expect("create out"))
        .stderr(std::fs::File::create(dir.file("log")).expect("create log"));
    let tini = Running::start(cmd);
    wait_for_text(&dir.file("out"), "ready", LIMIT);
    tini
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Held for a minute, yet: SIGUSR1 passes during the wait, and a second
/// SIGTERM ends it at once (the whole test ends long before the minute).
#[test]
fn other_signals_pass_and_a_second_sigterm_ends_the_delay() {
    let dir = TempDir::new("stop-delay-second");
    let (out, log) = (dir.file("out"), dir.file("log"));
    let mut tini = start_with_recorder(&dir, &["--stop-delay", "60"], &["USR1"]);

    tini.signal(libc::SIGTERM);
    wait_for_text(&log, "Holding SIGTERM", LIMIT);
    tini.signal(libc::SIGUSR1);
    wait_for_text(&out, "got USR1", LIMIT);
    assert!(
        !read(&out).contains("got TERM"),
        "SIGTERM was passed on during the delay"
    );

    tini.signal(libc::SIGTERM);
    assert_eq!(tini.exit_code(LIMIT), 0, "the recorder exits 0 on SIGTERM");
    assert!(read(&out).contains("got TERM"));
    assert!(read(&log).contains("SIGTERM received during the stop delay"));
}

/// SIGINT is held too, and reaches the child once the delay is over; only
/// the first stop signal is ever held, so the SIGTERM after it passes at
/// once.
#[test]
fn the_first_sigint_is_held_for_the_delay_and_only_the_first() {
    let delay = Duration::from_millis(300);
    let dir = TempDir::new("stop-delay-int");
    let (out, log) = (dir.file("out"), dir.file("log"));
    let mut tini = start_with_recorder(&dir, &["--stop-delay", "0.3"], &["INT"]);

    let sent = Instant::now();
    tini.signal(libc::SIGINT);
    wait_for_text(&out, "got INT", LIMIT);
    // Not before the delay: the kernel cannot deliver it early.
    assert!(
        sent.elapsed() >= delay,
        "SIGINT arrived after {:?}",
        sent.elapsed()
    );
    assert!(read(&log).contains("Stop delay over; passing on SIGINT"));

    tini.signal(libc::SIGTERM);
    assert_eq!(tini.exit_code(LIMIT), 0);
    assert!(!read(&log).contains("Holding SIGTERM"));
}

/// With a grace period the clock starts at the first SIGTERM, not when it
/// is passed on: the shutdown report counts the delay in.
#[test]
fn with_a_grace_period_the_delay_counts_inside_it() {
    let dir = TempDir::new("stop-delay-grace");
    let log = dir.file("log");
    let mut tini = start_with_recorder(&dir, &["--grace-period", "10", "--stop-delay", "0.5"], &[]);
    tini.signal(libc::SIGTERM);
    assert_eq!(tini.exit_code(LIMIT), 0);
    let text = read(&log);
    let clock_started = text
        .find("Shutdown: stop signal received")
        .expect("the grace period started");
    let released = text.find("Stop delay over").expect("the delay ended");
    assert!(clock_started < released, "{text}");
    let done_ms: u64 = text
        .lines()
        .find_map(|l| l.split("Shutdown: done in ").nth(1))
        .and_then(|rest| rest.split(" ms").next()?.parse().ok())
        .unwrap_or_else(|| panic!("no shutdown report:\n{text}"));
    assert!(
        done_ms >= 500,
        "the shutdown took {done_ms} ms from the first SIGTERM"
    );
}

/// A SIGTERM that --rewrite drops is not a stop: nothing is held.
#[test]
fn a_dropped_sigterm_is_not_held() {
    let dir = TempDir::new("stop-delay-dropped");
    let log = dir.file("log");
    let mut tini = start_with_recorder(&dir, &["--stop-delay", "60", "--rewrite", "15:0"], &[]);
    tini.signal(libc::SIGTERM);
    wait_for_text(&log, "Dropping signal SIGTERM", LIMIT);
    assert!(!read(&log).contains("Holding"));
    assert!(tini.wait(Duration::ZERO).is_none(), "tini-rs stopped");
}
