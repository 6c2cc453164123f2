//! Logging through `log` + `env_logger`, always to stderr (the app's stdout
//! stays the app's), as `[LEVEL tini-rs (pid)] message`. env_logger drops
//! write errors, so a closed or broken stderr cannot crash tini-rs.
//!
//! In dumb-init mode, warnings and errors read `[dumb-init] message`, and
//! `-v` turns on dumb-init's own debug lines ([`dumb_init_debug`]) rather
//! than tini-rs's, so that tools reading dumb-init's output find the lines
//! they know.

use log::LevelFilter;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// dumb-init mode with `-v` or `DUMB_INIT_DEBUG=1`.
static DUMB_INIT_DEBUG: AtomicBool = AtomicBool::new(false);

/// tini's verbosity scale to a log level: 0 errors, 1 warnings (default),
/// 2 info, 3 debug, 4 and up trace.
fn level(verbosity: u32) -> LevelFilter {
    match verbosity {
        0 => LevelFilter::Error,
        1 => LevelFilter::Warn,
        2 => LevelFilter::Info,
        3 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

/// `text` with every control character escaped (`\n`, `\u{1b}`), so that
/// a value from the command line, the environment or a program name can
/// never split a message over lines or send escape codes to a terminal:
/// each message stays exactly one line.
pub fn one_line(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Starts the logger. `RUST_LOG`, when set, overrides the verbosity.
pub fn init(verbosity: u32) {
    let pid = std::process::id();
    let mut builder = env_logger::Builder::new();
    builder
        .filter_level(level(verbosity))
        .format(move |buf, record| {
            writeln!(
                buf,
                "[{:<5} tini-rs ({pid})] {}",
                record.level(),
                one_line(&record.args().to_string())
            )
        });
    start(builder);
}

/// Starts the logger for dumb-init mode: warnings and errors as
/// `[dumb-init] message`; `debug` turns on [`dumb_init_debug`]'s lines.
pub fn init_dumb_init(debug: bool) {
    DUMB_INIT_DEBUG.store(debug, Ordering::Relaxed);
    let mut builder = env_logger::Builder::new();
    builder
        .filter_level(LevelFilter::Warn)
        .format(|buf, record| {
            writeln!(buf, "[dumb-init] {}", one_line(&record.args().to_string()))
        });
    start(builder);
}

/// True when dumb-init's debug lines are on.
pub fn dumb_init_debug_on() -> bool {
    DUMB_INIT_DEBUG.load(Ordering::Relaxed)
}

/// One of dumb-init's debug lines, `[dumb-init] message`, written with one
/// write(2) so that lines from the threads never mix; nothing unless
/// dumb-init mode's debug output is on.
pub fn dumb_init_debug(message: std::fmt::Arguments) {
    if dumb_init_debug_on() {
        let line = format!("[dumb-init] {}\n", one_line(&message.to_string()));
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
}

fn start(mut builder: env_logger::Builder) {
    builder.target(env_logger::Target::Stderr);
    if let Ok(filters) = std::env::var("RUST_LOG") {
        builder.parse_filters(&filters);
    }
    // Only fails if a logger is already set, which nothing else does.
    let _ = builder.try_init();
}
