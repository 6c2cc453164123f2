//! Hostile input: random and malformed command lines and environments, run
//! through the real binary. tini-rs never panics; every rejection is exactly
//! one line on stderr (`tini-rs: MESSAGE`), a blank line, the usage, and
//! exit 1 (src/main.rs), except a bad `-e` or `-p` value, which is the one
//! line alone, as in tini; exec failures are one error line with tini's codes
//! (126, 127); arguments after the program pass through byte for byte; a
//! malformed value that tini tolerates is one warning, then the default.
//!
//! None of these needs root: where not being PID 1 would add its warning,
//! `-s` makes tini-rs a subreaper instead.

mod common;

use common::*;
use proptest::prelude::*;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::OnceLock;

/// What `tini-rs -h` prints: the usage every rejection must end with.
fn usage() -> &'static str {
    static USAGE: OnceLock<String> = OnceLock::new();
    USAGE.get_or_init(|| {
        let (code, out, _) = run(tini(&["-h"]), LIMIT);
        assert_eq!(code, 0);
        assert!(out.starts_with("tini-rs"), "usage: {out}");
        out
    })
}

/// Runs tini-rs with exactly `args` and `env` (nothing inherited). PATH
/// names no existing directory, so a random bare word can never run a real
/// command; programs are given by absolute path.
fn run_in_clean_env(args: &[OsString], env: &[(&str, OsString)]) -> (i32, String, String) {
    run_tini(args, |cmd| {
        cmd.env_clear()
            .env("PATH", "/nonexistent/tini-rs-hostile-path");
        for (k, v) in env {
            cmd.env(k, v);
        }
    })
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// The rejection format: the one-line message (returned), a blank line, the
/// usage (except after a bad `-e` or `-p` value: the line alone); nothing
/// on stdout; exit 1.
fn rejection(code: i32, out: &str, err: &str) -> Result<String, String> {
    if code != 1 {
        return Err(format!("exit {code}, want 1"));
    }
    if !out.is_empty() {
        return Err(format!("stdout must be empty: {out:?}"));
    }
    let Some(rest) = err.strip_prefix("tini-rs: ") else {
        return Err(format!("stderr must start with 'tini-rs: ': {err:?}"));
    };
    let Some((message, tail)) = rest.split_once('\n') else {
        return Err(format!("no line break: {err:?}"));
    };
    if message.trim().is_empty() {
        return Err("empty message".into());
    }
    // A bad -e or -p value is the one line alone, as in tini.
    let bad_dash_e_or_p = message.contains("' for -e") || message.contains("' for -p");
    if bad_dash_e_or_p {
        if !tail.is_empty() {
            return Err(format!("a bad -e or -p value is one line alone: {err:?}"));
        }
    } else if tail != format!("\n{}", usage()) {
        return Err(format!(
            "after the message must come a blank line and the usage: {err:?}"
        ));
    }
    Ok(message.to_string())
}

/// Asserts a rejection whose message names `needle`.
fn assert_rejected(args: &[&str], needle: &str) {
    let (code, out, err) = run_in_clean_env(&os(args), &[]);
    match rejection(code, &out, &err) {
        Ok(message) => assert!(
            message.contains(needle),
            "{args:?}: the message {message:?} must name {needle:?}"
        ),
        Err(why) => panic!("{args:?}: {why}"),
    }
}

#[test]
fn unknown_short_option() {
    assert_rejected(&["-x", "true"], "-x");
}

#[test]
fn unknown_short_option_in_a_cluster() {
    assert_rejected(&["-sZ", "true"], "-Z");
}

#[test]
fn unknown_long_option() {
    assert_rejected(&["--bogus", "true"], "--bogus");
}

#[test]
fn unknown_long_option_with_a_value() {
    assert_rejected(&["--bogus=1", "true"], "--bogus");
}

#[test]
fn missing_value_for_e() {
    assert_rejected(&["-e"], "-e");
}

#[test]
fn missing_value_for_p() {
    assert_rejected(&["-p"], "-p");
}

#[test]
fn missing_value_for_grace_period() {
    assert_rejected(&["--grace-period"], "--grace-period");
}

#[test]
fn missing_value_for_rewrite() {
    assert_rejected(&["--rewrite"], "--rewrite");
}

#[test]
fn no_program_at_all() {
    assert_rejected(&[], "no program");
    assert_rejected(&["-s", "-v"], "no program");
    assert_rejected(&["--"], "no program");
}

#[test]
fn exit_code_256() {
    assert_rejected(&["-e", "256", "true"], "256");
}

#[test]
fn exit_code_minus_1() {
    assert_rejected(&["-e", "-1", "true"], "-1");
}

#[test]
fn exit_code_abc() {
    assert_rejected(&["-e", "abc", "true"], "abc");
}

#[test]
fn parent_death_signal_bogus() {
    assert_rejected(&["-p", "BOGUS", "true"], "BOGUS");
}

#[test]
fn grace_period_minus_1() {
    assert_rejected(&["--grace-period", "-1", "true"], "-1");
}

#[test]
fn grace_period_abc() {
    assert_rejected(&["--grace-period", "abc", "true"], "abc");
}

#[test]
fn grace_period_inf() {
    assert_rejected(&["--grace-period", "inf", "true"], "inf");
}

#[test]
fn grace_period_nan() {
    assert_rejected(&["--grace-period", "NaN", "true"], "NaN");
}

#[test]
fn rewrite_99_to_1() {
    assert_rejected(&["--rewrite", "99:1", "true"], "99");
}

#[test]
fn rewrite_without_target() {
    assert_rejected(&["--rewrite", "1:", "true"], "1:");
}

#[test]
fn rewrite_without_colon() {
    assert_rejected(&["--rewrite", "x", "true"], "x");
}

/// The same checks through the environment: the message names the
/// variable and the value.
#[test]
fn bad_values_in_the_environment() {
    for (var, value) in [
        ("TINI_GRACE_PERIOD", "NaN"),
        ("TINI_GRACE_PERIOD", "-1"),
        ("TINI_REWRITE", "15:3,99:1"),
    ] {
        let (code, out, err) = run_in_clean_env(&os(&["true"]), &[(var, value.into())]);
        match rejection(code, &out, &err) {
            Ok(message) => assert!(
                message.contains(var),
                "{var}={value}: {message:?} must name the variable"
            ),
            Err(why) => panic!("{var}={value}: {why}"),
        }
    }
}

/// A bad value that carries a line break (or another control character)
/// is echoed escaped: the rejection is still exactly one line, and a value
/// cannot forge log lines or send escape codes to a terminal.
#[test]
fn a_bad_value_with_a_line_break_is_still_one_line() {
    for args in [
        &["--grace-period", "1\n2", "true"][..],
        &["-e", "5\n", "true"][..],
        &["-p", "TERM\n[ERROR forged]", "true"][..],
        &["--rewrite", "1:\n", "true"][..],
        &["--bo\ngus", "true"][..],
        &["-e", "\u{1b}[31mred", "true"][..],
    ] {
        let (code, out, err) = run_in_clean_env(&os(args), &[]);
        if let Err(why) = rejection(code, &out, &err) {
            panic!("{args:?}: {why}");
        }
    }
    let (code, out, err) = run_in_clean_env(&os(&["true"]), &[("TINI_GRACE_PERIOD", "\n".into())]);
    if let Err(why) = rejection(code, &out, &err) {
        panic!("TINI_GRACE_PERIOD=\\n: {why}");
    }
}

/// The same for a program name with a line break (not found: 127) and for
/// a malformed TINI_VERBOSITY with one (one warning line).
#[test]
fn a_program_name_or_warning_with_a_line_break_is_still_one_line() {
    assert_exec_failure("no\nsuch program".as_ref(), 127);
    let (code, _, err) = run_in_clean_env(
        &os(&["-s", "--", "/bin/sh", "-c", "exit 0"]),
        &[("TINI_VERBOSITY", "1\n[ERROR forged]".into())],
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "exactly one warning line: {err:?}");
}

/// An exec failure: `code`, and exactly one line on stderr, an error that
/// names the program.
fn assert_exec_failure(program: &std::ffi::OsStr, code: i32) {
    let mut args = os(&["-s", "--"]);
    args.push(program.to_owned());
    let (got, out, err) = run_in_clean_env(&args, &[]);
    assert_eq!(got, code, "{program:?}: exit status; stderr: {err}");
    assert_eq!(out, "");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{program:?}: exactly one line: {err:?}");
    assert!(
        lines[0].contains("ERROR"),
        "{program:?}: the line is an error: {err:?}"
    );
    let name = program.to_string_lossy();
    let last = name.rsplit('\n').next().unwrap_or_default();
    assert!(
        lines[0].contains(last),
        "{program:?}: the line names the program: {err:?}"
    );
}

#[test]
fn program_is_a_directory() {
    let dir = TempDir::new("hostile-dir");
    assert_exec_failure(dir.0.as_os_str(), 126);
}

#[test]
fn program_without_exec_bit() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("hostile-noexec");
    let script = dir.file("script");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    if unsafe { libc::geteuid() } == 0 {
        // Root may read anything, but exec still needs an x bit somewhere.
        assert_eq!(
            std::fs::metadata(&script).unwrap().permissions().mode() & 0o111,
            0
        );
    }
    assert_exec_failure(script.as_os_str(), 126);
}

#[test]
fn program_not_found() {
    assert_exec_failure("/nonexistent/tini-rs-hostile".as_ref(), 127);
}

/// `tini-rs -- ""`: an empty name is a program that cannot be found (127,
/// like a shell's `""`), not a usage error: a program word was given.
#[test]
fn empty_program_name() {
    let (code, out, err) = run_in_clean_env(&os(&["-s", "--", ""]), &[]);
    assert_eq!(code, 127, "stderr: {err}");
    assert_eq!(out, "");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line: {err:?}");
    assert!(lines[0].contains("ERROR"), "{err:?}");
}

/// 100,000 arguments after the program reach it intact, in order, byte for
/// byte: option look-alikes, `--`, empty strings, spaces, non-UTF-8. (Short
/// ones: argv and environment share ARG_MAX, 2 MB with an 8 MB stack.)
#[test]
fn hundred_thousand_arguments_pass_through_intact() {
    const N: usize = 100_000;
    let dir = TempDir::new("hostile-args");
    let out = dir.file("argv");
    let specials: [&[u8]; 9] = [
        b"-v",
        b"--",
        b"",
        b"-e",
        b"256",
        b" a b ",
        b"--grace-period=x",
        b"\xff\xfe",
        b"\xc3\xa9",
    ];
    let sent: Vec<OsString> = (0..N)
        .map(|i| match i % 50 {
            k if k < specials.len() => OsString::from_vec(specials[k].to_vec()),
            _ => OsString::from(format!("{i:x}")),
        })
        .collect();
    let mut cmd = tini(&["-s", "--"]);
    cmd.args(agent::agent_argv("echo-args"))
        .args(&sent)
        .env("TINI_RS_AGENT_OUT", &out);
    let (code, _, err) = run(cmd, LIMIT);
    assert_eq!(code, 0, "stderr: {err}");
    let bytes = std::fs::read(&out).expect("the program wrote its argv");
    let mut got: Vec<&[u8]> = bytes.split(|&b| b == 0).collect();
    assert_eq!(got.pop(), Some(&b""[..]), "NUL-terminated list");
    assert_eq!(got.len(), N, "argument count");
    for (i, (g, s)) in got.iter().zip(&sent).enumerate() {
        assert_eq!(*g, s.as_bytes(), "argument {i} changed");
    }
    eprintln!("arguments: sent {N}, received {} intact", got.len());
}

/// TINI_VERBOSITY=abc: the container still starts; one warning naming the
/// variable and value; then the default verbosity (no info lines).
#[test]
fn malformed_tini_verbosity_is_one_warning_then_the_default() {
    let (code, out, err) = run_in_clean_env(
        &os(&["-s", "--", "/bin/sh", "-c", "echo started; exit 3"]),
        &[("TINI_VERBOSITY", "abc".into())],
    );
    assert_eq!(
        code, 3,
        "the program ran and its status came back; stderr: {err}"
    );
    assert_eq!(out, "started\n");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line on stderr: {err:?}");
    assert!(
        lines[0].contains("WARN")
            && lines[0].contains("TINI_VERBOSITY")
            && lines[0].contains("abc"),
        "a warning naming the variable and the value: {err:?}"
    );
}

/// Tokens an attacker (or a typo) would try, mixed with random bytes.
fn token() -> impl Strategy<Value = OsString> {
    let known = prop::sample::select(vec![
        "-s",
        "-v",
        "-vvv",
        "-w",
        "-g",
        "-e",
        "-p",
        "-h",
        "-l",
        "-x",
        "-sw",
        "-e5",
        "-pTERM",
        "-e256",
        "--",
        "--version",
        "--help",
        "--bogus",
        "--grace-period",
        "--grace-period=",
        "--grace-period=2.5",
        "--rewrite",
        "--rewrite=15:3",
        "--rewrite=:",
        "0",
        "255",
        "256",
        "-1",
        "abc",
        "SIGTERM",
        "TERM",
        "15",
        "BOGUS",
        "RTMIN+3",
        "RTMAX-40",
        "1.5",
        "1e3",
        "inf",
        "NaN",
        "15:3",
        "99:1",
        "1:",
        "x",
        "",
        " ",
        "=",
        "true",
        "TRUE_PROG",
    ]);
    prop_oneof![
        3 => known.prop_map(OsString::from),
        // No '/': a random word is never a path, and PATH finds nothing.
        1 => prop::collection::vec(1u8..=255, 0..10)
            .prop_filter("no slash", |b| !b.contains(&b'/'))
            .prop_map(OsString::from_vec),
    ]
}

fn env_value() -> impl Strategy<Value = Option<OsString>> {
    prop::option::of(prop_oneof![
        prop::sample::select(vec![
            "",
            "0",
            "1",
            "4",
            "99999999999",
            "abc",
            "-1",
            "NaN",
            "2.5",
            "15:3",
            "15:3,,10:0",
            "99:1",
            "x",
            "debug",
            "tini_rs=trace",
            "=",
            ",",
        ])
        .prop_map(OsString::from),
        prop::collection::vec(1u8..=255, 0..12).prop_map(OsString::from_vec),
    ])
}

const ENV_NAMES: [&str; 6] = [
    "TINI_VERBOSITY",
    "TINI_GRACE_PERIOD",
    "TINI_REWRITE",
    "TINI_SUBREAPER",
    "TINI_KILL_PROCESS_GROUP",
    "RUST_LOG",
];

/// Checks one run: no panic, no death by signal, a known exit status, and
/// the exact rejection format for every exit 1.
fn check_run(args: &[OsString], env: &[(&str, OsString)]) -> Result<(), TestCaseError> {
    let (code, out, err) = run_in_clean_env(args, env);
    prop_assert!(!err.contains("panicked"), "panic: {err}");
    prop_assert!(
        [0, 1, 126, 127].contains(&code),
        "exit {code} (128+N is death by signal N); stderr: {err}"
    );
    if code == 1
        && let Err(why) = rejection(code, &out, &err)
    {
        return Err(TestCaseError::fail(why));
    }
    if code == 126 || code == 127 {
        let errors = err.lines().filter(|l| l.contains("ERROR")).count();
        prop_assert_eq!(errors, 1, "one error line: {}", err);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random argv (known tokens and random bytes; `TRUE_PROG` stands for
    /// the path of `true`) and random TINI_* / RUST_LOG values, run through
    /// the binary.
    #[test]
    fn random_argv_and_environment_never_panic(
        tokens in prop::collection::vec(token(), 0..8),
        values in prop::collection::vec(env_value(), ENV_NAMES.len()),
    ) {
        let true_prog = ["/usr/bin/true", "/bin/true"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("true(1)");
        let args: Vec<OsString> = tokens
            .into_iter()
            .map(|t| if t == "TRUE_PROG" { true_prog.into() } else { t })
            .collect();
        let env: Vec<(&str, OsString)> = ENV_NAMES
            .iter()
            .zip(values)
            .filter_map(|(k, v)| Some((*k, v?)))
            .collect();
        check_run(&args, &env)?;
    }
}
