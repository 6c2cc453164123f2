//! Command line and environment -> [`Config`]. tini's options and variables,
//! with tini's meaning, plus `--grace-period`, `--stop-delay`, `--rewrite`,
//! `--wait-all` and `-P`. (dumb-init mode's command line is read by
//! `dumb_init.rs`.) Also the texts
//! tini-rs prints for `-h`, `--version` and `-l`.

use crate::signals::{self, RewriteTable};
use std::ffi::OsString;
use std::time::Duration;

/// Everything the rest of tini-rs needs to know about how it was called.
#[derive(Debug)]
pub struct Config {
    /// Register as child subreaper (`-s`, `TINI_SUBREAPER`).
    pub subreaper: bool,
    /// `-p`: the signal tini-rs asks to receive when its parent dies.
    pub parent_death_signal: Option<i32>,
    /// tini's scale: 0 errors, 1 warnings (default), 2 info, 3 debug, 4 trace.
    pub verbosity: u32,
    /// `-w`: warn about every reaped process that is not the main child.
    pub warn_on_reap: bool,
    /// `-g`: forward to the main child's process group.
    pub kill_process_group: bool,
    /// `-e`: main-child exit codes reported as 0.
    pub expected_codes: [bool; 256],
    /// `--grace-period`: `None` = exit as soon as the main child is gone.
    pub grace_period: Option<Duration>,
    /// `--stop-delay`: how long the first SIGTERM or SIGINT is held before
    /// it is passed on. `None` = not at all.
    pub stop_delay: Option<Duration>,
    /// `--rewrite`: what each forwarded signal becomes.
    pub rewrite: RewriteTable,
    /// Program and arguments, passed through untouched. Empty with `-P`.
    pub program: Vec<OsString>,
    /// `-P`: pause mode. No program; reap orphans until SIGTERM or SIGINT.
    pub pause: bool,
    /// `--wait-all` (`TINI_WAIT_ALL`): once the main child has exited, stay
    /// until no descendant is left, then exit with its status.
    pub wait_all: bool,
    /// Problems with the environment that tini tolerates; logged once the
    /// logger is up.
    pub warnings: Vec<String>,
    /// dumb-init mode's switches (`dumb_init.rs`); `None` in tini mode.
    pub dumb_init: Option<crate::dumb_init::Mode>,
}

impl Default for Config {
    /// tini's defaults, before any option or variable.
    fn default() -> Self {
        Config {
            subreaper: false,
            parent_death_signal: None,
            verbosity: DEFAULT_VERBOSITY,
            warn_on_reap: false,
            kill_process_group: false,
            expected_codes: [false; 256],
            grace_period: None,
            stop_delay: None,
            rewrite: RewriteTable::default(),
            program: Vec::new(),
            pause: false,
            wait_all: false,
            warnings: Vec::new(),
            dumb_init: None,
        }
    }
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Action {
    Run(Box<Config>),
    PrintUsage,
    PrintVersion,
    PrintLicense,
}

/// A bad command line: the one-line message names the bad value. Exit 1.
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError {
    pub message: String,
    /// Whether the usage follows the message. Not after a bad `-e` or `-p`
    /// value: tini prints only the one line there, and scripts may read it.
    pub show_usage: bool,
}

impl UsageError {
    /// A mistake in how tini-rs was called: the message, then the usage.
    pub fn new(message: impl Into<String>) -> UsageError {
        UsageError {
            message: message.into(),
            show_usage: true,
        }
    }

    /// A value tini rejects with one line and no usage.
    fn bad_value(message: String) -> UsageError {
        UsageError {
            message,
            show_usage: false,
        }
    }
}

pub const DEFAULT_VERBOSITY: u32 = 1;

/// Options that only say something about the main child, as given on the
/// command line: with -P, which has none, each is a usage error.
type AboutMainChild = Vec<&'static str>;

/// Parses `args` (without argv[0]) and the environment, read through `env`,
/// in steps: the environment's defaults, the command line (which overrides
/// them), then the checks that need all of it.
pub fn parse(
    args: impl IntoIterator<Item = OsString>,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<Action, UsageError> {
    let mut config = from_environment(&env)?;
    let mut about_main_child = AboutMainChild::new();
    let in_order = env("POSIXLY_CORRECT").is_some();
    let args: Vec<OsString> = args.into_iter().collect();
    if let Some(action) =
        read_tini_command_line(&args, in_order, &mut config, &mut about_main_child)?
    {
        return Ok(action);
    }
    check(&mut config, &about_main_child, &env)?;
    Ok(Action::Run(Box::new(config)))
}

/// The defaults the environment sets; the command line overrides them.
/// (`TINI_VERBOSITY` comes last, in [`check`]: it overrides `-v`, as in tini.)
fn from_environment(env: &impl Fn(&str) -> Option<OsString>) -> Result<Config, UsageError> {
    let mut config = Config {
        subreaper: env("TINI_SUBREAPER").is_some(),
        kill_process_group: env("TINI_KILL_PROCESS_GROUP").is_some(),
        wait_all: env("TINI_WAIT_ALL").is_some(),
        ..Config::default()
    };
    config.grace_period = grace_period_from(env).map_err(UsageError::new)?;
    config.stop_delay = stop_delay_from(env).map_err(UsageError::new)?;
    if let Some(value) = env("TINI_REWRITE") {
        for rule in value
            .to_string_lossy()
            .split(',')
            .filter(|r| !r.trim().is_empty())
        {
            config
                .rewrite
                .add_rule(rule)
                .map_err(|e| UsageError::new(format!("TINI_REWRITE: {e}")))?;
        }
    }
    Ok(config)
}

/// The command line as tini 0.19 reads it with GNU getopt(3), plus
/// tini-rs's long options (as getopt_long reads them): options are taken
/// wherever they stand, before or after PROGRAM, in order (the first bad
/// one ends the reading); every other word, in order, is PROGRAM and its
/// arguments. The first `--` ends the options and is dropped, so `tini-rs
/// -s echo -- -v` runs `echo -v`, and `tini-rs -s echo -v x` takes `-v`
/// itself and runs `echo x`. With `in_order` (`POSIXLY_CORRECT` set, as
/// getopt reads it) the first word that is not an option ends them
/// instead: `echo -v x` is then PROGRAM and its arguments. A lone `-` is a
/// word, not an option. `Some` for an option that asks for something other
/// than a run (`-h`, `--help`, `--version`, `-l`).
fn read_tini_command_line(
    args: &[OsString],
    in_order: bool,
    config: &mut Config,
    about_main_child: &mut AboutMainChild,
) -> Result<Option<Action>, UsageError> {
    let mut words = args.iter();
    while let Some(arg) = words.next() {
        let bytes = arg.as_encoded_bytes();
        if bytes == b"--" {
            config.program.extend(words.cloned());
            break;
        }
        let is_option = bytes.len() > 1 && bytes[0] == b'-';
        if !is_option {
            config.program.push(arg.clone());
            if in_order {
                config.program.extend(words.cloned());
                break;
            }
            continue;
        }
        let Some(text) = arg.to_str() else {
            return Err(UsageError::new(format!(
                "unknown option '{}'",
                arg.to_string_lossy()
            )));
        };
        let action = match text.strip_prefix("--") {
            Some(long) => read_long_option(long, &mut words, config, about_main_child)?,
            None => read_short_options(&text[1..], &mut words, config, about_main_child)?,
        };
        if action.is_some() {
            return Ok(action);
        }
    }
    Ok(None)
}

/// The value of an option that takes one: the next word, whatever it is
/// (getopt takes `-e -s` as `-e` with the value `-s`).
fn next_value<'a>(
    words: &mut impl Iterator<Item = &'a OsString>,
    option: &str,
) -> Result<String, UsageError> {
    words
        .next()
        .map(|v| v.to_string_lossy().into_owned())
        .ok_or_else(|| UsageError::new(format!("option '{option}' needs a value")))
}

/// One `--name` or `--name=value` (`long` without its dashes); a value not
/// given inline is the next word.
fn read_long_option<'a>(
    long: &str,
    words: &mut impl Iterator<Item = &'a OsString>,
    config: &mut Config,
    about_main_child: &mut AboutMainChild,
) -> Result<Option<Action>, UsageError> {
    let (name, inline) = match long.split_once('=') {
        Some((n, v)) => (n, Some(v.to_string())),
        None => (long, None),
    };
    let mut value = || match inline.clone() {
        Some(v) => Ok(v),
        None => next_value(words, &format!("--{name}")),
    };
    match name {
        "help" => return Ok(Some(Action::PrintUsage)),
        "version" => return Ok(Some(Action::PrintVersion)),
        "grace-period" => {
            config.grace_period = grace_period_option(&value()?).map_err(UsageError::new)?;
        }
        "stop-delay" => {
            config.stop_delay = stop_delay_option(&value()?).map_err(UsageError::new)?;
            about_main_child.push("--stop-delay");
        }
        "rewrite" => {
            config
                .rewrite
                .add_rule(&value()?)
                .map_err(UsageError::new)?;
            about_main_child.push("--rewrite");
        }
        "wait-all" if inline.is_none() => {
            config.wait_all = true;
            about_main_child.push("--wait-all");
        }
        "wait-all" => {
            return Err(UsageError::new(format!(
                "option '--wait-all' takes no value, but '--{long}' was given"
            )));
        }
        _ => return Err(UsageError::new(format!("unknown option '--{long}'"))),
    }
    Ok(None)
}

/// A cluster of short options, getopt style: `-vvv`, `-sw`, `-e5`, `-e 5`
/// (`cluster` without its dash). An option that takes a value takes the
/// rest of the cluster, or else the next word.
fn read_short_options<'a>(
    cluster: &str,
    words: &mut impl Iterator<Item = &'a OsString>,
    config: &mut Config,
    about_main_child: &mut AboutMainChild,
) -> Result<Option<Action>, UsageError> {
    for (i, flag) in cluster.char_indices() {
        match flag {
            'h' => return Ok(Some(Action::PrintUsage)),
            'l' => return Ok(Some(Action::PrintLicense)),
            's' => config.subreaper = true,
            'v' => config.verbosity += 1,
            'w' => config.warn_on_reap = true,
            'g' => {
                config.kill_process_group = true;
                about_main_child.push("-g");
            }
            'P' => config.pause = true,
            'e' | 'p' => {
                let rest = &cluster[i + 1..];
                let value = if rest.is_empty() {
                    next_value(words, &format!("-{flag}"))?
                } else {
                    rest.to_string()
                };
                if flag == 'e' {
                    config.expected_codes[usize::from(parse_exit_code(&value)?)] = true;
                    about_main_child.push("-e");
                } else {
                    config.parent_death_signal = Some(parse_parent_death_signal(&value)?);
                }
                return Ok(None);
            }
            other => return Err(UsageError::new(format!("unknown option '-{other}'"))),
        }
    }
    Ok(None)
}

/// `-e CODE`, read as tini reads it, with strtol(3) in base 10: leading
/// white space, then an optional sign, then digits to the end (none at all
/// is 0, so an empty value means 0); the number must be 0..=255 (`-0` is
/// 0). A bad value is one line, as in tini.
fn parse_exit_code(value: &str) -> Result<u8, UsageError> {
    let bad = || {
        UsageError::bad_value(format!(
            "invalid exit code '{value}' for -e (expected 0..255)"
        ))
    };
    // isspace(3) in the C locale.
    let unsigned = value.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (negative, digits) = match unsigned.as_bytes().first() {
        Some(b'-') => (true, &unsigned[1..]),
        Some(b'+') => (false, &unsigned[1..]),
        _ => (false, unsigned),
    };
    if digits.is_empty() {
        // strtol converted nothing: it points back at the start, which is
        // the end only when the whole value is empty.
        return if value.is_empty() { Ok(0) } else { Err(bad()) };
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    // Past u8, the number is out of range whatever its length (strtol's
    // saturation at LONG_MAX is out of range too).
    let magnitude = digits.trim_start_matches('0');
    let code = if magnitude.is_empty() {
        0
    } else {
        magnitude.parse::<u8>().map_err(|_| bad())?
    };
    if negative && code != 0 {
        return Err(bad());
    }
    Ok(code)
}

/// `-p SIGNAL`: every signal tini accepts (its names, `SIGKILL` and
/// `SIGSTOP` included), and tini-rs's other spellings (`TERM`, `15`,
/// `SIGRTMIN+3`). A bad value is one line, as in tini.
fn parse_parent_death_signal(value: &str) -> Result<i32, UsageError> {
    signals::parse(value)
        .ok_or_else(|| UsageError::bad_value(format!("invalid signal '{value}' for -p")))
}

/// What needs the whole command line: a program (or `-P` without one), a
/// stop delay shorter than the grace period, and `TINI_VERBOSITY`, which
/// overrides `-v`.
fn check(
    config: &mut Config,
    about_main_child: &[&str],
    env: &impl Fn(&str) -> Option<OsString>,
) -> Result<(), UsageError> {
    if config.pause {
        check_pause_mode(config, about_main_child, env)?;
    } else if config.program.is_empty() {
        return Err(UsageError::new("no program to run"));
    }
    check_stop_delay(config.stop_delay, config.grace_period).map_err(UsageError::new)?;
    if let Some(value) = env("TINI_VERBOSITY") {
        match value.to_string_lossy().trim().parse::<u32>() {
            Ok(v) => config.verbosity = v,
            Err(_) => config.warnings.push(format!(
                "ignoring TINI_VERBOSITY='{}': not a whole number; using verbosity {}",
                value.to_string_lossy(),
                config.verbosity
            )),
        }
    }
    Ok(())
}

/// `-P` runs no program, so a program, or an option about the main child,
/// is a mistake worth stopping for. The environment's versions of those
/// options may be set for a whole fleet of containers; they only warn.
fn check_pause_mode(
    config: &mut Config,
    about_main_child: &[&str],
    env: &impl Fn(&str) -> Option<OsString>,
) -> Result<(), UsageError> {
    if let Some(word) = config.program.first() {
        return Err(UsageError::new(format!(
            "-P runs no program, but '{}' was given",
            word.to_string_lossy()
        )));
    }
    if let Some(option) = about_main_child.first() {
        return Err(UsageError::new(format!(
            "{option} has no meaning with -P (there is no main child)"
        )));
    }
    // Only the environment can have set these (the options were refused
    // above), and it is ignored: a stop delay left here would still be
    // checked against the grace period, a usage error for a value that
    // was only warned about.
    config.wait_all = false;
    config.stop_delay = None;
    for name in [
        "TINI_KILL_PROCESS_GROUP",
        "TINI_REWRITE",
        "TINI_STOP_DELAY",
        "TINI_WAIT_ALL",
    ] {
        if env(name).is_some() {
            config
                .warnings
                .push(format!("ignoring {name}: -P has no main child"));
        }
    }
    Ok(())
}

/// `--grace-period SECS`, in tini mode and dumb-init mode alike (`None`
/// for 0); the error names the option.
pub(crate) fn grace_period_option(value: &str) -> Result<Option<Duration>, String> {
    parse_seconds(value, "grace period").map_err(|e| format!("--grace-period: {e}"))
}

/// `--stop-delay SECS`, as [`grace_period_option`] reads its value.
pub(crate) fn stop_delay_option(value: &str) -> Result<Option<Duration>, String> {
    parse_seconds(value, "stop delay").map_err(|e| format!("--stop-delay: {e}"))
}

/// `TINI_GRACE_PERIOD`, in tini mode and dumb-init mode alike (`None` when
/// unset or 0); the error names the variable.
pub(crate) fn grace_period_from(
    env: &impl Fn(&str) -> Option<OsString>,
) -> Result<Option<Duration>, String> {
    seconds_from(env, "TINI_GRACE_PERIOD", "grace period")
}

/// `TINI_STOP_DELAY`, as [`grace_period_from`] reads its variable.
pub(crate) fn stop_delay_from(
    env: &impl Fn(&str) -> Option<OsString>,
) -> Result<Option<Duration>, String> {
    seconds_from(env, "TINI_STOP_DELAY", "stop delay")
}

fn seconds_from(
    env: &impl Fn(&str) -> Option<OsString>,
    name: &str,
    what: &str,
) -> Result<Option<Duration>, String> {
    match env(name) {
        Some(value) => {
            parse_seconds(&value.to_string_lossy(), what).map_err(|e| format!("{name}: {e}"))
        }
        None => Ok(None),
    }
}

/// The stop delay counts inside the grace period; one as long would leave
/// the main child no time at all between the signal and SIGKILL. The same
/// rule in tini mode and dumb-init mode.
pub(crate) fn check_stop_delay(
    stop_delay: Option<Duration>,
    grace_period: Option<Duration>,
) -> Result<(), String> {
    match (stop_delay, grace_period) {
        (Some(delay), Some(grace)) if delay >= grace => Err(format!(
            "the stop delay ({delay:?}) must be shorter than the grace period ({grace:?}), \
             which it counts inside"
        )),
        _ => Ok(()),
    }
}

/// Decimal seconds, finite and not negative: `30`, `2.5`, `0.25`. 0 turns the
/// option off. Exponents, signs, `inf` and `NaN` are refused. `what` names
/// the option's value in the error.
fn parse_seconds(text: &str, what: &str) -> Result<Option<Duration>, String> {
    let well_formed = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && text.bytes().filter(|&b| b == b'.').count() <= 1
        && text.bytes().any(|b| b.is_ascii_digit());
    let seconds = well_formed
        .then(|| text.parse::<f64>().ok())
        .flatten()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("invalid {what} '{text}' (expected seconds, e.g. 10 or 2.5)"))?;
    Ok((!seconds.is_zero()).then_some(seconds))
}

pub fn usage() -> String {
    format!(
        "tini-rs {version}: a tiny init for containers; reaps zombies and forwards signals

Usage: tini-rs [OPTIONS] [--] PROGRAM [ARGS...]
       tini-rs -P [OPTIONS]

Options:
  -h, --help           Show this help and exit.
  --version            Show the version and exit.
  -l                   Show the license and exit.
  -s                   Register as a child subreaper (when not PID 1).
  -p SIGNAL            On the death of tini-rs's parent, send SIGNAL to the
                       main child.
  -v                   Generate more verbose output; repeat for more (-vv, -vvv).
  -w                   Warn about every reaped process that is not the main child.
  -g                   Forward signals to the main child's process group.
  -e CODE              Report main-child exit code CODE (0..255) as 0; repeatable.
  --grace-period SECS  On shutdown, give every descendant SECS seconds in all
                       after SIGTERM before SIGKILL (0 = off, the default).
  --stop-delay SECS    Hold the first SIGTERM or SIGINT SECS seconds before
                       passing it on (a second one ends the wait); inside
                       the grace period, if set (0 = off, the default).
  --rewrite FROM:TO    Forward signal FROM as TO (0 = drop it); repeatable.
  --wait-all           When the main child exits, stay until no descendant is
                       left, then exit with its status; signals meanwhile go
                       to every remaining descendant (a stop, with
                       --grace-period, ends them within the grace period).
  -P                   Pause mode, for a pod's infra process: run no program,
                       reap orphans, ignore every signal but SIGTERM and
                       SIGINT, which end it with exit 0 (after the
                       --grace-period shutdown of what is left, if set).
  --dumb-init          As the first argument: read the rest as dumb-init's
                       command line (dumb-init mode, also chosen by the
                       name dumb-init); see --dumb-init --help.

Environment:
  TINI_SUBREAPER           present: same as -s
  TINI_KILL_PROCESS_GROUP  present: same as -g
  TINI_VERBOSITY=N         verbosity N (0 errors .. 4 trace; default 1)
  TINI_GRACE_PERIOD=SECS   same as --grace-period
  TINI_STOP_DELAY=SECS     same as --stop-delay
  TINI_REWRITE=F:T,F:T     same as --rewrite
  TINI_WAIT_ALL            present: same as --wait-all
  TINI_MODE=dumb-init      dumb-init mode, as --dumb-init (or: tini)
  RUST_LOG                 an env_logger filter; overrides the verbosity
  POSIXLY_CORRECT          present: options end at the first non-option word

Exit status: the main child's; 128+N if signal N killed it; 127 program not
found; 126 program not executable or a directory; 1 any other failure to
start it, a usage or set-up error, or a lost status (never 0 through -e).
With -P: 0 once SIGTERM or SIGINT ended it; 1 a usage or set-up error.

A main child killed by a signal gets one warning line naming the signal, and
for SIGKILL whether the kernel's OOM killer sent it (from the oom_kill counter
of tini-rs's memory cgroup), e.g.:
  Main child 7 was killed by SIGKILL, by the kernel's OOM killer (memory.max 33554432)

As a health-check or `docker exec` wrapper under a PID 1 that does not reap:
  HEALTHCHECK CMD [\"/tini-rs\", \"-s\", \"--grace-period\", \"1\", \"--\", \"probe\"]
",
        version = env!("CARGO_PKG_VERSION")
    )
}

/// `tini-rs version X.Y.Z - git.HASH`. The ` - git.HASH` tail is the form
/// Docker's `docker info` reads from its init binary. Built where build.rs
/// found no commit, it is left out (`tini-rs version X.Y.Z`) rather than
/// made up.
pub fn version() -> String {
    match option_env!("TINI_RS_GIT_COMMIT") {
        Some(commit) => format!(
            "tini-rs version {} - git.{commit}",
            env!("CARGO_PKG_VERSION")
        ),
        None => format!("tini-rs version {}", env!("CARGO_PKG_VERSION")),
    }
}

pub const LICENSE: &str = include_str!("../LICENSE");

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Action, UsageError> {
        let env: Vec<(String, OsString)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        parse(args.iter().map(OsString::from), move |k| {
            env.iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
        })
    }

    fn config(args: &[&str], env: &[(&str, &str)]) -> Config {
        match run(args, env) {
            Ok(Action::Run(c)) => *c,
            other => panic!("expected a config, got {other:?}"),
        }
    }

    #[test]
    fn options_are_taken_wherever_they_stand_as_getopt_permutes() {
        let c = config(&["-s", "-vv", "--", "sh", "-c", "x"], &[]);
        assert!(c.subreaper);
        assert_eq!(c.verbosity, 3);
        assert_eq!(c.program, ["sh", "-c", "x"]);
        // The first `--` is dropped wherever it stands; a later one stays.
        assert_eq!(config(&["--", "--", "true"], &[]).program, ["--", "true"]);
        assert_eq!(
            config(&["-s", "echo", "--", "hi"], &[]).program,
            ["echo", "hi"]
        );
        let c = config(&["-s", "echo", "a", "--", "b", "--", "c"], &[]);
        assert_eq!(c.program, ["echo", "a", "b", "--", "c"]);
        // Options after PROGRAM are tini-rs's own.
        let c = config(&["-s", "echo", "-v", "x"], &[]);
        assert_eq!(
            (c.verbosity, c.program),
            (2, vec!["echo".into(), "x".into()])
        );
        assert!(matches!(
            run(&["-s", "true", "-h"], &[]),
            Ok(Action::PrintUsage)
        ));
        assert!(matches!(
            run(&["-s", "sh", "-c", "echo hi"], &[]),
            Err(UsageError { message, show_usage: true }) if message.contains("'-c'")
        ));
        // A lone `-` is a word.
        assert_eq!(config(&["-", "-s"], &[]).program, ["-"]);
        // POSIXLY_CORRECT: the first word ends the options.
        let posix = [("POSIXLY_CORRECT", "1")];
        let c = config(&["-s", "echo", "-v", "x"], &posix);
        assert_eq!((c.verbosity, c.program.len()), (1, 3));
        assert_eq!(config(&["-s", "--", "echo"], &posix).program, ["echo"]);
        assert_eq!(
            config(&["-s", "echo", "--", "x"], &posix).program,
            ["echo", "--", "x"]
        );
        let c = config(
            &[
                "-e5",
                "-e",
                "7",
                "-pSIGUSR1",
                "-gw",
                "--grace-period=2.5",
                "--rewrite",
                "15:3",
                "x",
            ],
            &[],
        );
        assert!(c.expected_codes[5] && c.expected_codes[7] && !c.expected_codes[6]);
        assert_eq!(c.parent_death_signal, Some(libc::SIGUSR1));
        assert!(c.kill_process_group && c.warn_on_reap);
        assert!(!c.wait_all);
        assert!(config(&["--wait-all", "x"], &[]).wait_all);
        assert!(config(&["x"], &[("TINI_WAIT_ALL", "")]).wait_all);
        assert_eq!(c.grace_period, Some(Duration::from_millis(2500)));
        assert_eq!(c.rewrite.map(15), Some(3));
    }

    #[test]
    fn environment() {
        let c = config(
            &["x"],
            &[
                ("TINI_SUBREAPER", ""),
                ("TINI_KILL_PROCESS_GROUP", ""),
                ("TINI_VERBOSITY", "0"),
            ],
        );
        assert!(c.subreaper && c.kill_process_group);
        assert_eq!(c.verbosity, 0);
        let c = config(&["-vvv", "x"], &[("TINI_VERBOSITY", "abc")]);
        assert_eq!(c.verbosity, 4);
        assert_eq!(c.warnings.len(), 1);
        let c = config(
            &["x"],
            &[("TINI_REWRITE", "15:3,10:0"), ("TINI_GRACE_PERIOD", "1")],
        );
        assert_eq!(c.rewrite.map(10), None);
        assert_eq!(c.grace_period, Some(Duration::from_secs(1)));
        assert_eq!(
            config(&["--grace-period", "0", "x"], &[]).grace_period,
            None
        );
        let c = config(
            &["--grace-period", "10", "x"],
            &[("TINI_STOP_DELAY", "2.5")],
        );
        assert_eq!(c.stop_delay, Some(Duration::from_millis(2500)));
        assert!(matches!(
            run(&["x"], &[("TINI_STOP_DELAY", "1e3")]),
            Err(UsageError { message: m, .. }) if m.contains("TINI_STOP_DELAY") && m.contains("1e3")
        ));
    }

    #[test]
    fn usage_errors_name_the_bad_value() {
        for (args, needle) in [
            (&["-x", "true"][..], "-x"),
            (&["--bogus", "true"][..], "--bogus"),
            (&["-e", "256", "true"][..], "256"),
            (&["-e", "-1", "true"][..], "-1"),
            (&["-e", "abc", "true"][..], "abc"),
            (&["-p", "BOGUS", "true"][..], "BOGUS"),
            (&["-p", "65", "true"][..], "'65'"),
            (&["-e", "0x3", "true"][..], "0x3"),
            (&["-e", "3 ", "true"][..], "'3 '"),
            (&["-e", " ", "true"][..], "' '"),
            (&["-e", "+", "true"][..], "'+'"),
            (&["--grace-period", "-1", "true"][..], "-1"),
            (&["--grace-period", "inf", "true"][..], "inf"),
            (&["--grace-period", "NaN", "true"][..], "NaN"),
            (&["--grace-period", "1e3", "true"][..], "1e3"),
            (&["--rewrite", "99:1", "true"][..], "99:1"),
            (&["--rewrite", "1:", "true"][..], "1:"),
            (&["--rewrite", "x", "true"][..], "'x'"),
            (&["-e"][..], "-e"),
            (&[][..], "no program"),
            (&["-s"][..], "no program"),
            (&["-P", "sleep", "1"][..], "'sleep'"),
            (&["-P", "--", "true"][..], "'true'"),
            (&["-P", "-e", "3"][..], "-e"),
            (&["-gP"][..], "-g"),
            (&["-P", "--rewrite", "15:3"][..], "--rewrite"),
            (&["-P", "--stop-delay", "1"][..], "--stop-delay"),
            (&["-P", "--wait-all"][..], "--wait-all"),
            (&["--wait-all=yes", "true"][..], "--wait-all=yes"),
            (&["--stop-delay", "soon", "true"][..], "soon"),
            (&["--stop-delay", "-2", "true"][..], "-2"),
            (
                &["--stop-delay", "5", "--grace-period", "5", "true"][..],
                "shorter than the grace period",
            ),
        ] {
            match run(args, &[]) {
                Err(UsageError { message: msg, .. }) => {
                    assert!(
                        msg.contains(needle),
                        "{args:?}: {msg:?} should name {needle:?}"
                    );
                    assert!(!msg.contains('\n'), "{msg:?} must be one line");
                }
                other => panic!("{args:?} must be a usage error, got {other:?}"),
            }
        }
    }

    /// `-e` as strtol reads it in tini; `-p` with every signal tini takes.
    /// A bad value of either is one line without the usage.
    #[test]
    fn exit_codes_as_strtol_reads_them_and_every_signal_for_dash_p() {
        for (value, code) in [
            (" 3", 3),
            ("-0", 0),
            ("", 0),
            ("+3", 3),
            ("003", 3),
            ("\t255", 255),
        ] {
            let c = config(&["-e", value, "true"], &[]);
            assert!(c.expected_codes[code], "-e {value:?} must mean {code}");
        }
        for bad in ["-3", "256", "3 ", "x", "99999999999999999999"] {
            assert!(
                matches!(
                    run(&["-e", bad, "true"], &[]),
                    Err(UsageError {
                        show_usage: false,
                        ..
                    })
                ),
                "-e {bad:?}"
            );
        }
        for (name, sig) in [
            ("SIGKILL", libc::SIGKILL),
            ("SIGSTOP", libc::SIGSTOP),
            ("SIGCHLD", libc::SIGCHLD),
            ("SIGSEGV", libc::SIGSEGV),
            ("SIGTTIN", libc::SIGTTIN),
        ] {
            assert_eq!(
                config(&["-p", name, "true"], &[]).parent_death_signal,
                Some(sig)
            );
        }
        assert!(matches!(
            run(&["-p", "BOGUS", "true"], &[]),
            Err(UsageError {
                show_usage: false,
                ..
            })
        ));
    }

    #[test]
    fn pause_mode_takes_no_program_and_only_warns_about_the_environment() {
        let c = config(&["-P", "-s", "-w", "--grace-period", "2"], &[]);
        assert!(c.pause && c.subreaper && c.warn_on_reap && c.program.is_empty());
        assert_eq!(c.grace_period, Some(Duration::from_secs(2)));
        let c = config(
            &["-P"],
            &[("TINI_KILL_PROCESS_GROUP", ""), ("TINI_REWRITE", "15:3")],
        );
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert!(!config(&["true"], &[]).pause);
        let c = config(&["-P"], &[("TINI_WAIT_ALL", "")]);
        assert!(!c.wait_all);
        assert!(c.warnings.iter().any(|w| w.contains("TINI_WAIT_ALL")));
        // An ignored TINI_STOP_DELAY is ignored for the check against the
        // grace period too: a fleet-wide delay longer than this pause
        // container's grace period only warns.
        let c = config(&["-P", "--grace-period", "5"], &[("TINI_STOP_DELAY", "10")]);
        assert_eq!(c.stop_delay, None);
        assert!(c.warnings.iter().any(|w| w.contains("TINI_STOP_DELAY")));
        // Control: without -P the same pair is a usage error.
        assert!(run(&["--grace-period", "5", "x"], &[("TINI_STOP_DELAY", "10")]).is_err());
    }

    /// Every spelling the parser accepts is one a user can find in `-h`.
    #[test]
    fn usage_lists_help_in_both_spellings() {
        assert!(matches!(run(&["--help"], &[]), Ok(Action::PrintUsage)));
        assert!(
            usage()
                .lines()
                .any(|l| l.trim_start().starts_with("-h, --help")),
            "{}",
            usage()
        );
    }

    #[test]
    fn info_actions() {
        assert!(matches!(run(&["-h"], &[]), Ok(Action::PrintUsage)));
        assert!(matches!(
            run(&["--version", "x"], &[]),
            Ok(Action::PrintVersion)
        ));
        assert!(matches!(run(&["-l"], &[]), Ok(Action::PrintLicense)));
        assert!(version().starts_with("tini-rs version "));
    }
}
