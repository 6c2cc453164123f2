//! What tini-rs says, and where: nothing on success by default; each -v
//! adds lines; every line is `[LEVEL tini-rs (pid)] message` on stderr,
//! never stdout; -w names each reaped orphan.

mod common;

use common::*;

/// A main child that orphans a short `sleep` (printing its pid) and then
/// waits until that pid is gone from the system: `kill -0` still succeeds
/// on a zombie, so the loop ends only once tini-rs has reaped it.
const ORPHAN_AND_WAIT: &str = r#"orphan=$(sh -c 'sleep 0.2 > /dev/null & echo $!')
echo $orphan
while kill -0 $orphan 2> /dev/null; do sleep 0.05; done"#;

/// Checks every stderr line has the log format and tini-rs's pid.
fn assert_log_lines(stderr: &str) {
    for line in stderr.lines() {
        let (head, message) = line
            .split_once("] ")
            .unwrap_or_else(|| panic!("not a log line: {line:?}"));
        let head = head.strip_prefix('[').unwrap_or_else(|| panic!("{line:?}"));
        let level = &head[..5];
        assert!(
            ["ERROR", "WARN ", "INFO ", "DEBUG", "TRACE"].contains(&level),
            "level in {line:?}"
        );
        let pid = head[5..]
            .trim_start()
            .strip_prefix("tini-rs (")
            .and_then(|rest| rest.strip_suffix(')'))
            .unwrap_or_else(|| panic!("no 'tini-rs (pid)' in {line:?}"));
        assert!(pid.parse::<u32>().is_ok(), "pid in {line:?}");
        assert!(!message.is_empty(), "{line:?}");
    }
}

#[test]
fn quiet_on_success_by_default_even_while_reaping() {
    let (code, out, err) = run_tini(&["-s", "--", "sh", "-c", ORPHAN_AND_WAIT], |_| {});
    assert_eq!(code, 0);
    assert!(
        out.trim().parse::<i32>().is_ok(),
        "the child's own stdout: {out:?}"
    );
    assert_eq!(err, "", "nothing on stderr by default");
}

#[test]
fn each_dash_v_logs_strictly_more() {
    let mut counts = Vec::new();
    for v in [&[][..], &["-v"], &["-vv"], &["-vvv"]] {
        let args: Vec<&str> = v
            .iter()
            .copied()
            .chain(["-s", "--", "sh", "-c", ORPHAN_AND_WAIT])
            .collect();
        let (code, out, err) = run_tini(&args, |_| {});
        assert_eq!(code, 0, "{v:?}: {err}");
        assert!(!out.contains("tini-rs ("), "{v:?}: logs leaked to stdout");
        assert_log_lines(&err);
        counts.push((v.first().copied().unwrap_or("default"), err.lines().count()));
    }
    assert!(
        counts.windows(2).all(|w| w[0].1 < w[1].1),
        "stderr lines per verbosity must grow strictly: {counts:?}"
    );
}

#[test]
fn separate_dash_v_count_like_vv_and_lines_carry_tini_rs_pid() {
    let mut cmd = tini(&["-v", "-v", "-s", "--", "true"]);
    cmd.env_remove("TINI_VERBOSITY").env_remove("RUST_LOG");
    let mut running = Running::start_captured(cmd);
    let pid = running.pid();
    assert_eq!(running.exit_code(LIMIT), 0);
    let (_, err) = running.output();
    assert_log_lines(&err);
    assert!(
        err.lines().any(|l| l.starts_with("[DEBUG")),
        "-v -v = debug:\n{err}"
    );
    for line in err.lines() {
        assert!(line.contains(&format!(" tini-rs ({pid})] ")), "{line:?}");
    }
}

#[test]
fn tini_verbosity_overrides_dash_v() {
    let (_, _, err) = run_tini(&["-vvv", "-s", "true"], |cmd| {
        cmd.env("TINI_VERBOSITY", "1");
    });
    assert_eq!(err, "");
    let (_, _, err) = run_tini(&["-s", "true"], |cmd| {
        cmd.env("TINI_VERBOSITY", "3");
    });
    assert!(err.lines().any(|l| l.starts_with("[DEBUG")), "{err}");
}

#[test]
fn rust_log_overrides_the_verbosity() {
    let (_, _, err) = run_tini(&["-s", "true"], |cmd| {
        cmd.env("RUST_LOG", "info");
    });
    assert!(err.lines().any(|l| l.starts_with("[INFO")), "{err}");
    assert_log_lines(&err);
}

#[test]
fn dash_w_names_each_reaped_orphan() {
    let (code, out, err) = run_tini(&["-s", "-w", "--", "sh", "-c", ORPHAN_AND_WAIT], |_| {});
    assert_eq!(code, 0, "{err}");
    let orphan: i32 = out.trim().parse().unwrap();
    assert_log_lines(&err);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].starts_with("[WARN "), "{err}");
    assert!(
        lines[0].ends_with(&format!("] Reaped zombie process with pid={orphan}")),
        "{err}"
    );
}
