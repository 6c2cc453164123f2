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
                record.args()
            )
        });
    if let Ok(filters) = std::env::var("RUST_LOG") {
        builder.parse_filters(&filters);
    }
    // Only fails if a logger is already set, which nothing else does.
    let _ = builder.try_init();
}
