//! `--rewrite FROM:TO` and `TINI_REWRITE`: forwarded signals are rewritten
//! or dropped; everything else passes untouched.

mod common;

use common::*;

/// A main child that records every signal in `sigs` it receives, one number
/// a line, and exits when it gets SIGUSR2 (after recording it). It runs no
/// handler: it blocks the signals (then says it is ready) and takes them off
/// its queue one at a time with sigwaitinfo, lowest number first when
/// several are pending, recording each before taking the next.
const RECORDER: &str = r#"
import signal, sys
out, sigs = sys.argv[1], [int(s) for s in sys.argv[2].split(",")]
signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
open(out + ".ready", "w").close()
while True:
    sig = signal.sigwaitinfo(sigs).si_signo
    with open(out, "a") as f:
        f.write(f"{sig}\n")
    if sig == signal.SIGUSR2:
        sys.exit(0)
"#;

fn rtmin() -> i32 {
    libc::SIGRTMIN()
}

/// Sent to tini-rs after each signal of a test, and recorded by the child
/// like any other; never rewritten by a test.
fn probe() -> i32 {
    libc::SIGRTMAX()
}

/// The whole lines of the record so far, as signal numbers.
fn record(path: &std::path::Path) -> Vec<i32> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    whole.lines().filter_map(|l| l.parse().ok()).collect()
}

/// Starts tini-rs with `extra` options over the recorder, sends `sends` one
/// after the other, each only once the previous one has been fully dealt
/// with (recorded, or dropped), then SIGUSR2, and returns the signals the
/// child recorded (the probes left out).
///
/// The handshake: after each signal the test sends the probe, SIGRTMAX, and
/// waits until the child has recorded it. tini-rs's one forwarder thread
/// takes signals off its queue lowest number first and passes each on
/// before it takes the next; the child, too, takes them lowest number
/// first, one at a time. SIGRTMAX is the highest number, so once the probe
/// is in the record, whatever tini-rs made of the signal before it is in
/// the record too, and the next signal cannot overtake it.
fn forwarded(extra: &[&str], env: &[(&str, &str)], sends: &[i32]) -> Vec<i32> {
    let dir = TempDir::new("rewrite");
    let out = dir.file("got");
    let ready = dir.file("got.ready");
    let mut watched: Vec<String> = [
        libc::SIGTERM,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGINT,
        libc::SIGHUP,
        probe(),
    ]
    .iter()
    .map(i32::to_string)
    .collect();
    watched.extend((rtmin()..rtmin() + 4).map(|s| s.to_string()));
    let watched = watched.join(",");
    let mut args = vec!["-s"];
    args.extend_from_slice(extra);
    args.extend([
        "--",
        "python3",
        "-c",
        RECORDER,
        out.to_str().unwrap_or_default(),
        &watched,
    ]);
    let mut cmd = tini(&args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut tini = Running::start_captured(cmd);
    assert!(
        wait_until(LIMIT, || ready.exists()),
        "recorder never started"
    );
    let probes = |got: &[i32]| got.iter().filter(|&&s| s == probe()).count();
    for (i, &sig) in sends.iter().enumerate() {
        tini.signal(sig);
        tini.signal(probe());
        let mut got = Vec::new();
        let handled = wait_until(LIMIT, || {
            got = record(&out);
            probes(&got) == i + 1
        });
        assert!(
            handled,
            "signal {sig}: no probe came after it; recorded {got:?}"
        );
    }
    tini.signal(libc::SIGUSR2);
    let code = tini.exit_code(LIMIT);
    let (_, stderr) = tini.output();
    assert_eq!(code, 0, "recorder did not exit cleanly; stderr:\n{stderr}");
    let got = record(&out);
    assert_eq!(probes(&got), sends.len(), "probes recorded: {got:?}");
    got.into_iter().filter(|&s| s != probe()).collect()
}

#[test]
fn term_rewritten_to_quit() {
    let got = forwarded(&["--rewrite", "15:3"], &[], &[libc::SIGTERM]);
    assert_eq!(got, [libc::SIGQUIT, libc::SIGUSR2]);
}

#[test]
fn usr1_dropped_while_others_pass() {
    let got = forwarded(
        &["--rewrite", "SIGUSR1:0"],
        &[],
        &[libc::SIGUSR1, libc::SIGHUP, libc::SIGUSR1, libc::SIGINT],
    );
    assert_eq!(got, [libc::SIGHUP, libc::SIGINT, libc::SIGUSR2]);
}

#[test]
fn realtime_signal_rewritten() {
    let got = forwarded(
        &["--rewrite", "RTMIN+1:RTMIN+3"],
        &[],
        &[rtmin() + 1, rtmin() + 2],
    );
    assert_eq!(got, [rtmin() + 3, rtmin() + 2, libc::SIGUSR2]);
}

#[test]
fn rules_from_the_environment() {
    let got = forwarded(
        &[],
        &[("TINI_REWRITE", "TERM:HUP,10:0")],
        &[libc::SIGTERM, libc::SIGUSR1, libc::SIGQUIT],
    );
    assert_eq!(got, [libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR2]);
}

#[test]
fn bad_rules_are_usage_errors() {
    for bad in ["99:1", "1:", "x", "9:1", "15:99", ":3"] {
        let (code, stdout, stderr) = run(tini(&["--rewrite", bad, "--", "true"]), LIMIT);
        assert_eq!(code, 1, "--rewrite {bad} must be refused");
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.contains(bad),
            "first line must name {bad:?}: {first:?}"
        );
        assert!(stdout.is_empty(), "nothing on stdout for an error");
        let mut cmd = tini(&["--", "true"]);
        cmd.env("TINI_REWRITE", bad);
        let (code, _, stderr) = run(cmd, LIMIT);
        assert_eq!(code, 1, "TINI_REWRITE={bad} must be refused");
        assert!(
            stderr
                .lines()
                .next()
                .unwrap_or_default()
                .contains("TINI_REWRITE")
        );
    }
}

#[test]
fn bad_grace_periods_are_usage_errors() {
    for bad in ["-1", "abc", "inf", "NaN", "1e3", ""] {
        let (code, _, stderr) = run(tini(&["--grace-period", bad, "--", "true"]), LIMIT);
        assert_eq!(code, 1, "--grace-period {bad:?} must be refused");
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.contains(&format!("'{bad}'")),
            "first line must name {bad:?}: {first:?}"
        );
    }
}
