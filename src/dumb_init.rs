//! dumb-init mode: dumb-init's command line and environment -> the
//! [`Config`] the rest of tini-rs runs on, for images that call `dumb-init`.
//!
//! Chosen when the program's name (argv[0]'s last part) is `dumb-init`, when
//! the first argument is `--dumb-init`, or when `TINI_MODE=dumb-init`. It
//! reads dumb-init's options the way dumb-init's getopt_long does (`+` mode:
//! parsing stops at the first word that is not an option; short clusters;
//! unique prefixes of long options; glibc's messages for a bad option) and
//! its two variables, `DUMB_INIT_SETSID=0` and `DUMB_INIT_DEBUG=1`. What the
//! mode changes in the engine is [`Mode`] (see docs/DESIGN.md); the words
//! tini-rs prints for `--help`, `--version` and a bad `-r` are its own.

use crate::cli::{self, Config};
use crate::signals::{self, RewriteTable};
use crate::status::ExitCode;
use std::ffi::{OsStr, OsString};
use std::time::Duration;

/// The name that selects the mode, and the prefix of its log lines.
pub const NAME: &str = "dumb-init";

/// dumb-init's exit code when the program cannot be started.
pub const EXEC_FAILED: ExitCode = ExitCode::EXEC_FAILED_DUMB_INIT;

/// How a run in dumb-init mode differs from tini mode; the engine reads it
/// from [`Config::dumb_init`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    /// Setsid mode (the default; off with `-c` or `DUMB_INIT_SETSID=0`): the
    /// main child leads a new session and takes the terminal, and signals go
    /// to its process group.
    pub setsid: bool,
    /// `-v` or `DUMB_INIT_DEBUG=1`: `[dumb-init] ...` debug lines on stderr.
    pub debug: bool,
}

/// What to do instead of running a program: print `message` on stderr (as
/// dumb-init does, for help and version too) and exit with `code`.
#[derive(Debug, PartialEq, Eq)]
pub struct Exit {
    pub message: String,
    pub code: ExitCode,
}

/// How many leading arguments select the mode (`--dumb-init`: 1), or `None`
/// for tini mode. A `TINI_MODE` other than `tini` or `dumb-init` is an
/// error: main.rs reports it as a usage error (exit 1).
pub fn selected(
    argv0: &OsStr,
    first: Option<&OsString>,
    env: &impl Fn(&str) -> Option<OsString>,
) -> Result<Option<usize>, String> {
    if first.is_some_and(|a| a == "--dumb-init") {
        return Ok(Some(1));
    }
    let named = std::path::Path::new(argv0)
        .file_name()
        .is_some_and(|n| n == NAME);
    match env("TINI_MODE") {
        Some(v) if v == NAME => Ok(Some(0)),
        Some(v) if v == "tini" || v.is_empty() => Ok(named.then_some(0)),
        Some(v) => Err(format!(
            "TINI_MODE='{}': expected 'tini' or 'dumb-init'",
            v.to_string_lossy()
        )),
        None => Ok(named.then_some(0)),
    }
}

/// dumb-init's long options (getopt_long accepts any unique prefix), with
/// tini-rs's two additions; `true` when the option takes a value.
const LONG_OPTIONS: [(&str, bool); 7] = [
    ("help", false),
    ("single-child", false),
    ("rewrite", true),
    ("verbose", false),
    ("version", false),
    ("grace-period", true),
    ("stop-delay", true),
];

/// Parses dumb-init's arguments `args` (after argv[0] and any
/// `--dumb-init`) and the environment. `prog` (argv[0] as given) starts
/// every message, as getopt's do.
pub fn parse(
    prog: &str,
    args: impl IntoIterator<Item = OsString>,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<Box<Config>, Exit> {
    let usage_error = |text: String| Exit {
        message: format!("{prog}: {}\n", crate::logging::one_line(&text)),
        code: ExitCode::FAILURE,
    };
    let mut mode = Mode {
        setsid: true,
        debug: false,
    };
    let mut rewrite = RewriteTable::default();
    let mut rewritten = [false; 32];
    let mut grace_period: Option<Option<Duration>> = None;
    let mut stop_delay: Option<Option<Duration>> = None;

    let mut args = args.into_iter().peekable();
    while let Some(arg) = args.peek() {
        let text = arg.to_string_lossy().into_owned();
        if text == "--" {
            args.next();
            break;
        }
        if text.len() < 2 || !text.starts_with('-') {
            break;
        }
        args.next();
        // Each option as (long name or short letter, its value if any).
        let mut found: Vec<(String, Option<String>)> = Vec::new();
        if let Some(body) = text.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let (long, takes_value) = long_option(name, &text).map_err(usage_error)?;
            let value = match (takes_value, inline) {
                (true, Some(v)) => Some(v),
                (true, None) => Some(
                    args.next()
                        .map(|v| v.to_string_lossy().into_owned())
                        .ok_or_else(|| {
                            usage_error(format!("option '--{long}' requires an argument"))
                        })?,
                ),
                (false, Some(_)) => {
                    return Err(usage_error(format!(
                        "option '--{long}' doesn't allow an argument"
                    )));
                }
                (false, None) => None,
            };
            found.push((long.to_string(), value));
        } else {
            let cluster = &text[1..];
            for (i, letter) in cluster.char_indices() {
                match letter {
                    'h' | 'v' | 'V' | 'c' => found.push((letter.to_string(), None)),
                    // getopt acts on `-h` and `-V` as it meets them, before
                    // anything after them in the cluster can fail.
                    _ if found.iter().any(|(o, _)| o == "h" || o == "V") => break,
                    'r' => {
                        let rest = &cluster[i + letter.len_utf8()..];
                        let value = if rest.is_empty() {
                            args.next()
                                .map(|v| v.to_string_lossy().into_owned())
                                .ok_or_else(|| {
                                    usage_error("option requires an argument -- 'r'".to_string())
                                })?
                        } else {
                            rest.to_string()
                        };
                        found.push(("r".to_string(), Some(value)));
                        break;
                    }
                    other => {
                        return Err(usage_error(format!("invalid option -- '{other}'")));
                    }
                }
            }
        }
        for (option, value) in found {
            let value = value.unwrap_or_default();
            match option.as_str() {
                "h" | "help" => {
                    return Err(Exit {
                        message: help(prog),
                        code: ExitCode::SUCCESS,
                    });
                }
                "V" | "version" => {
                    return Err(Exit {
                        message: format!("{} (dumb-init mode)\n", cli::version()),
                        code: ExitCode::SUCCESS,
                    });
                }
                "v" | "verbose" => mode.debug = true,
                "c" | "single-child" => mode.setsid = false,
                "r" | "rewrite" => {
                    let (from, to) = parse_rewrite(&value).ok_or_else(|| {
                        usage_error(format!(
                            "invalid -r/--rewrite '{value}': expected s:r, signal numbers with s \
                             in 1..31 and r in 0..31 (0: do not pass s on)"
                        ))
                    })?;
                    rewrite.set(from, to);
                    rewritten[from as usize] = true;
                }
                "grace-period" => {
                    grace_period = Some(cli::grace_period_option(&value).map_err(usage_error)?);
                }
                "stop-delay" => {
                    stop_delay = Some(cli::stop_delay_option(&value).map_err(usage_error)?);
                }
                _ => unreachable!("every option found is one of the above"),
            }
        }
    }
    let program: Vec<OsString> = args.collect();
    if program.is_empty() {
        return Err(usage_error(format!(
            "no program to run (usage: {prog} [OPTIONS] PROGRAM [ARGS...]; {prog} --help for more)"
        )));
    }

    // dumb-init reads its variables after the options, and only these values.
    if env("DUMB_INIT_DEBUG").is_some_and(|v| v == "1") {
        mode.debug = true;
    }
    if env("DUMB_INIT_SETSID").is_some_and(|v| v == "0") {
        mode.setsid = false;
    }
    // The options win over tini-rs's variables.
    let grace_period = match grace_period {
        Some(g) => g,
        None => cli::grace_period_from(&env).map_err(usage_error)?,
    };
    let stop_delay = match stop_delay {
        Some(d) => d,
        None => cli::stop_delay_from(&env).map_err(usage_error)?,
    };
    cli::check_stop_delay(stop_delay, grace_period).map_err(usage_error)?;
    // In setsid mode the job-control signals stop the whole group: the
    // child's group gets SIGSTOP (unless -r says otherwise), and tini-rs
    // then stops itself.
    if mode.setsid {
        for sig in [libc::SIGTSTP, libc::SIGTTOU, libc::SIGTTIN] {
            if !rewritten[sig as usize] {
                rewrite.set(sig, libc::SIGSTOP);
            }
        }
    }
    Ok(Box::new(Config {
        kill_process_group: mode.setsid,
        grace_period,
        stop_delay,
        rewrite,
        program,
        dumb_init: Some(mode),
        ..Config::default()
    }))
}

/// The long option `name` stands for, exactly or as a unique prefix; else
/// the error, worded for the whole argument `arg` as glibc's getopt does.
fn long_option(name: &str, arg: &str) -> Result<(&'static str, bool), String> {
    if let Some(&(long, takes)) = LONG_OPTIONS.iter().find(|(l, _)| *l == name) {
        return Ok((long, takes));
    }
    let candidates: Vec<&(&str, bool)> = LONG_OPTIONS
        .iter()
        .filter(|(l, _)| !name.is_empty() && l.starts_with(name))
        .collect();
    match candidates.as_slice() {
        [(long, takes)] => Ok((long, *takes)),
        [] => Err(format!("unrecognized option '{arg}'")),
        many => {
            let list: Vec<String> = many.iter().map(|(l, _)| format!("'--{l}'")).collect();
            Err(format!(
                "option '--{name}' is ambiguous; possibilities: {}",
                list.join(" ")
            ))
        }
    }
}

/// dumb-init's `-r s:r`: signal numbers, s in 1..31, r in 0..31 (0 drops s).
fn parse_rewrite(value: &str) -> Option<(i32, i32)> {
    let (from, to) = value.split_once(':')?;
    let number = |t: &str| {
        (!t.is_empty() && t.len() <= 2 && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse::<i32>().ok())
            .flatten()
    };
    let (from, to) = (number(from)?, number(to)?);
    ((1..=31).contains(&from) && (0..=31).contains(&to)).then_some((from, to))
}

/// The signals forwarded in dumb-init mode: every standard signal that can
/// be caught but SIGCHLD (also SIGTTIN, SIGTTOU, and the fault signals when
/// someone sends them with kill(2): a real fault is sent to the faulting
/// thread, which has them blocked, so the kernel kills tini-rs as it
/// should), and the real-time ones.
pub fn forwarded_signals() -> impl Iterator<Item = i32> {
    (1..=31)
        .filter(|&s| ![libc::SIGKILL, libc::SIGSTOP, libc::SIGCHLD].contains(&s))
        .chain(signals::min_realtime_signal()..=signals::max_signal())
}

/// The job-control signals after which tini-rs stops itself, as dumb-init
/// does, so that a shell's `Ctrl-Z` / `bg` / `fg` treat the pair as one job.
pub fn stops_itself_after(sig: i32) -> bool {
    [libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU].contains(&sig)
}

/// Setsid mode, before the main child exists: tini-rs gives up its
/// controlling terminal so that the child's new session can take it.
/// Returns the signals to drop once: the SIGHUP and SIGCONT the kernel sends
/// when the session's leader does this (dumb-init's issue #136: passed on,
/// the SIGHUP would end the child).
pub fn give_up_terminal() -> Vec<i32> {
    use crate::logging::dumb_init_debug;
    if let Err(err) = crate::sys::give_up_controlling_terminal() {
        dumb_init_debug(format_args!(
            "Unable to detach from controlling tty ({err})."
        ));
        return Vec::new();
    }
    if crate::sys::is_session_leader() {
        dumb_init_debug(format_args!(
            "Detached from controlling tty, ignoring the first SIGHUP and SIGCONT we receive."
        ));
        vec![libc::SIGHUP, libc::SIGCONT]
    } else {
        dumb_init_debug(format_args!(
            "Detached from controlling tty, but was not session leader."
        ));
        Vec::new()
    }
}

/// Once the main child has exited (and been reaped), what dumb-init does
/// before it exits: SIGTERM, as `-r` rewrites it, to the child's process
/// group in setsid mode, so that what the child left behind is asked to
/// stop. With `-c` the child alone was the target, and it is gone.
pub fn main_child_exited(main_pid: libc::pid_t, setsid: bool, rewrite: &RewriteTable) {
    use crate::logging::dumb_init_debug;
    let Some(sig) = rewrite.map(libc::SIGTERM) else {
        dumb_init_debug(format_args!(
            "Not forwarding signal {} to children (ignored).",
            libc::SIGTERM
        ));
        return;
    };
    if setsid {
        // ESRCH: nothing is left in the group.
        let _ = crate::sys::kill_process_group(main_pid, sig);
    }
    dumb_init_debug(format_args!("Forwarded signal {sig} to children."));
}

fn help(prog: &str) -> String {
    format!(
        "tini-rs {version} in dumb-init mode: runs PROGRAM as its child, passes signals
on and reaps zombies, reading dumb-init's options and variables.

Usage: {prog} [OPTIONS] [--] PROGRAM [ARGS...]

Options:
  -c, --single-child    Signals go to PROGRAM alone, not its process group;
                        PROGRAM stays in this session (no setsid).
  -r, --rewrite S:R     Pass signal number S (1..31) on as R (0..31; 0 drops
                        it). Repeatable.
  -v, --verbose         Debug lines on stderr.
  -h, --help            This help; exit 0.
  -V, --version         The version; exit 0.
  --grace-period SECS   tini-rs's: once PROGRAM exits, or a SIGTERM or SIGINT
                        comes, every descendant has SECS seconds in all, then
                        SIGKILL (0 = off, the default).
  --stop-delay SECS     tini-rs's: hold the first SIGTERM or SIGINT SECS
                        seconds before passing it on (0 = off).

Environment:
  DUMB_INIT_SETSID=0    same as -c
  DUMB_INIT_DEBUG=1     same as -v
  TINI_GRACE_PERIOD     same as --grace-period
  TINI_STOP_DELAY       same as --stop-delay

By default PROGRAM leads a new session with the terminal, and signals go to
its whole process group; SIGTSTP, SIGTTIN and SIGTTOU go on as SIGSTOP, and
then tini-rs stops itself too. When PROGRAM exits, its group gets SIGTERM
(as rewritten by -r) and tini-rs exits with PROGRAM's status (128+N if
signal N killed it); 2 if PROGRAM could not be started, 1 on a usage error.
",
        version = env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Box<Config>, Exit> {
        let env: Vec<(String, OsString)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        parse("dumb-init", args.iter().map(OsString::from), move |k| {
            env.iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
        })
    }

    fn mode(c: &Config) -> Mode {
        c.dumb_init.expect("dumb-init mode")
    }

    #[test]
    fn chosen_by_name_option_or_variable() {
        let none = |_: &str| None;
        let arg = |a: &str| OsString::from(a);
        assert_eq!(
            selected(OsStr::new("/usr/bin/dumb-init"), None, &none),
            Ok(Some(0))
        );
        assert_eq!(
            selected(OsStr::new("dumb-init"), Some(&arg("x")), &none),
            Ok(Some(0))
        );
        assert_eq!(
            selected(OsStr::new("tini-rs"), Some(&arg("x")), &none),
            Ok(None)
        );
        assert_eq!(selected(OsStr::new("dumb-init.sh"), None, &none), Ok(None));
        assert_eq!(
            selected(OsStr::new("tini-rs"), Some(&arg("--dumb-init")), &none),
            Ok(Some(1))
        );
        let env = |v: &'static str| move |k: &str| (k == "TINI_MODE").then(|| OsString::from(v));
        assert_eq!(
            selected(OsStr::new("tini-rs"), None, &env("dumb-init")),
            Ok(Some(0))
        );
        assert_eq!(
            selected(OsStr::new("dumb-init"), None, &env("tini")),
            Ok(Some(0))
        );
        assert_eq!(
            selected(OsStr::new("tini-rs"), None, &env("tini")),
            Ok(None)
        );
        assert!(selected(OsStr::new("tini-rs"), None, &env("catatonit")).is_err());
    }

    #[test]
    fn options_stop_at_the_first_word() {
        let c = run(&["-c", "-r", "15:2", "--rewrite=1:0", "sh", "-c", "x"], &[]).unwrap();
        assert_eq!(c.program, ["sh", "-c", "x"]);
        assert!(!mode(&c).setsid && !c.kill_process_group && !mode(&c).debug);
        assert_eq!(c.rewrite.map(15), Some(2));
        assert_eq!(c.rewrite.map(1), None);
        // Not in setsid mode: job-control signals pass as they are.
        assert_eq!(c.rewrite.map(libc::SIGTSTP), Some(libc::SIGTSTP));
        let c = run(&["--", "-v"], &[]).unwrap();
        assert_eq!(c.program, ["-v"]);
        let c = run(&["-vcr15:3", "x", "-h"], &[]).unwrap();
        assert!(mode(&c).debug && !mode(&c).setsid);
        assert_eq!(c.rewrite.map(15), Some(3));
        assert_eq!(c.program, ["x", "-h"]);
        let c = run(&["-", "x"], &[]).unwrap();
        assert_eq!(c.program, ["-", "x"]);
        let c = run(&["--single", "--verb", "x"], &[]).unwrap();
        assert!(mode(&c).debug && !mode(&c).setsid);
    }

    #[test]
    fn setsid_by_default_with_job_control_as_sigstop() {
        let c = run(&["x"], &[]).unwrap();
        assert!(mode(&c).setsid && c.kill_process_group);
        for sig in [libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU] {
            assert_eq!(c.rewrite.map(sig), Some(libc::SIGSTOP));
        }
        let c = run(&["-r", "20:1", "x"], &[]).unwrap();
        assert_eq!(c.rewrite.map(libc::SIGTSTP), Some(libc::SIGHUP));
        assert_eq!(c.rewrite.map(libc::SIGTTIN), Some(libc::SIGSTOP));
    }

    #[test]
    fn environment_exact_values_only() {
        let c = run(
            &["x"],
            &[("DUMB_INIT_SETSID", "0"), ("DUMB_INIT_DEBUG", "1")],
        )
        .unwrap();
        assert!(!mode(&c).setsid && mode(&c).debug);
        let c = run(
            &["x"],
            &[("DUMB_INIT_SETSID", "no"), ("DUMB_INIT_DEBUG", "")],
        )
        .unwrap();
        assert!(mode(&c).setsid && !mode(&c).debug);
        let c = run(
            &["--grace-period", "5", "x"],
            &[("TINI_GRACE_PERIOD", "9"), ("TINI_STOP_DELAY", "1")],
        )
        .unwrap();
        assert_eq!(c.grace_period, Some(Duration::from_secs(5)));
        assert_eq!(c.stop_delay, Some(Duration::from_secs(1)));
    }

    #[test]
    fn help_and_version_exit_zero_in_own_words() {
        for args in [
            &["-h"][..],
            &["--help", "x"],
            &["--he"],
            &["-vh"],
            &["-hx"],
            &["-hr"],
        ] {
            let exit = run(args, &[]).expect_err("help");
            assert_eq!(exit.code, ExitCode::SUCCESS, "{args:?}");
            assert!(exit.message.contains("dumb-init mode") && exit.message.contains("--rewrite"));
        }
        for args in [&["-V"][..], &["--version"], &["--vers"]] {
            let exit = run(args, &[]).expect_err("version");
            assert_eq!(exit.code, ExitCode::SUCCESS);
            assert!(
                exit.message.starts_with("tini-rs version "),
                "{}",
                exit.message
            );
            assert!(!exit.message.contains("dumb-init v"));
        }
    }

    #[test]
    fn usage_errors_are_one_line_and_exit_1() {
        for (args, needle) in [
            (
                &["--yolo", "/bin/true"][..],
                "dumb-init: unrecognized option '--yolo'\n",
            ),
            (&["--yolo=1", "x"], "unrecognized option '--yolo=1'"),
            (&["-x", "y"], "dumb-init: invalid option -- 'x'\n"),
            (&["-r"], "option requires an argument -- 'r'"),
            (&["--rewrite"], "option '--rewrite' requires an argument"),
            (&["--help=1"], "option '--help' doesn't allow an argument"),
            (&["--ver", "x"], "is ambiguous"),
            (&[], "no program to run"),
            (&["-v"], "no program to run"),
            (&["--grace-period", "soon", "x"], "soon"),
            (
                &["--stop-delay", "5", "--grace-period", "5", "x"],
                "shorter",
            ),
        ] {
            let exit = run(args, &[]).expect_err("an error");
            assert_eq!(exit.code, ExitCode::FAILURE, "{args:?}");
            assert!(
                exit.message.contains(needle),
                "{args:?}: {:?}",
                exit.message
            );
            assert_eq!(exit.message.matches('\n').count(), 1, "{:?}", exit.message);
        }
    }

    /// Values out of range or with trailing text (dumb-init's own inputs,
    /// from its `test_rewrite_errors`, are run against the binary in
    /// tests/dumb_init.rs): each is exit 1 with one line naming -r.
    #[test]
    fn rewrite_errors() {
        for extra in [
            &["-r", "1:32"][..],
            &["-r", "0:1"],
            &["-r", "32:1"],
            &["-r", "-1:1"],
            &["-r", "15:12x"],
        ] {
            let mut args = extra.to_vec();
            args.extend(["echo", "oh,", "hi"]);
            let exit = run(&args, &[]).expect_err("an error");
            assert_eq!(exit.code, ExitCode::FAILURE, "{args:?}");
            assert!(exit.message.contains("-r"), "{args:?}: {:?}", exit.message);
            assert_eq!(exit.message.matches('\n').count(), 1);
        }
        let c = run(&["-r", "1:31", "-r", "31:1", "-r", "9:0", "x"], &[]).unwrap();
        assert_eq!(c.rewrite.map(1), Some(31));
        assert_eq!(c.rewrite.map(31), Some(1));
    }

    #[test]
    fn forwarded_set() {
        let set: Vec<i32> = forwarded_signals().collect();
        for sig in [libc::SIGSEGV, libc::SIGTTIN, libc::SIGSYS, libc::SIGHUP, 31] {
            assert!(set.contains(&sig), "{sig}");
        }
        for sig in [libc::SIGKILL, libc::SIGSTOP, libc::SIGCHLD, 32, 33] {
            assert!(!set.contains(&sig), "{sig}");
        }
        assert!(set.contains(&libc::SIGRTMAX()));
    }
}
