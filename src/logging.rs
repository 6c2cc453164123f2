//! Logging through `log` + `env_logger`, always to stderr (the app's stdout
//! stays the app's), as `[LEVEL tini-rs (pid)] message`. env_logger drops
//! write errors, so a closed or broken stderr cannot crash tini-rs.

use log::LevelFilter;
use std::io::Write;

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
        .target(env_logger::Target::Stderr)
        .filter_level(level(verbosity))
        .format(move |buf, record| {
            writeln!(
                buf,
                "[{:<5} tini-rs ({pid})] {}",
                record.level(),
                one_line(&record.args().to_string())
            )
        });
    if let Ok(filters) = std::env::var("RUST_LOG") {
        builder.parse_filters(&filters);
    }
    // Only fails if a logger is already set, which nothing else does.
    let _ = builder.try_init();
}
