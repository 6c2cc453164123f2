//! tini-rs: a tiny, exact init for containers. This file only wires the
//! parts together, in the order the process lives: parse, set up signals,
//! spawn the main child, start the forwarder and the reaper, wait, exit.
//!
//! `no_main`: the Rust runtime's own start-up sets SIGPIPE to ignored before
//! `main`, after which the disposition tini-rs inherited cannot be known.
//! Starting at the C `main` keeps it, so the child gets back exactly what
//! tini-rs was given. std still works as usual (glibc hands it argv).
#![cfg_attr(not(test), no_main)]
// Unit tests build this crate without the C entry point that calls `run`.
#![cfg_attr(test, allow(dead_code))]

mod child;
mod cli;
mod event;
mod forward;
mod logging;
mod reaper;
mod shutdown;
mod signals;
mod sys;

use cli::Action;
use event::Event;
use signals::InheritedState;
use std::io::Write;
use std::sync::OnceLock;

/// Stack for the forwarder and reaper threads: they only log and make
/// syscalls, and untouched stack costs nothing but address space.
pub const THREAD_STACK_SIZE: usize = 64 * 1024;

static INHERITED: OnceLock<InheritedState> = OnceLock::new();

#[cfg(not(test))]
#[unsafe(no_mangle)]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    std::process::exit(run())
}

fn run() -> i32 {
    // One malloc arena for every thread: glibc would otherwise give the
    // reaper and the forwarder arenas of their own on their first
    // allocation, resident memory that a process this small never needs.
    // SAFETY: mallopt only tunes the allocator; called before any thread.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    // Before anything touches signals: what the child must get back.
    let inherited = INHERITED.get_or_init(InheritedState::capture);
    // Every thread keeps all signals blocked; the forwarder takes the
    // forwardable ones off the queue with sigwaitinfo.
    signals::block_all_in_this_thread();

    let config = match cli::parse(std::env::args_os().skip(1), |name| std::env::var_os(name)) {
        Ok(Action::Run(config)) => config,
        Ok(Action::PrintUsage) => return print_stdout(&cli::usage()),
        Ok(Action::PrintVersion) => return print_stdout(&(cli::version() + "\n")),
        Ok(Action::PrintLicense) => return print_stdout(cli::LICENSE),
        Err(cli::UsageError(message)) => {
            let message = logging::one_line(&message);
            let _ = write!(std::io::stderr(), "tini-rs: {message}\n\n{}", cli::usage());
            return 1;
        }
    };
    logging::init(config.verbosity);
    for warning in &config.warnings {
        log::warn!("{warning}");
    }

    let is_pid1 = std::process::id() == 1;
    if config.subreaper && !is_pid1 {
        if let Err(err) = sys::become_subreaper() {
            log::error!("cannot register as child subreaper: {err}");
            return 1;
        }
        log::debug!("Registered as child subreaper");
    } else if !is_pid1 && nix::sys::prctl::get_child_subreaper().unwrap_or(false) {
        log::debug!("Child subreaper bit inherited from the parent; orphans come to tini-rs");
    } else if !is_pid1 {
        log::warn!(
            "tini-rs is not PID 1 and not a child subreaper, so orphans are not re-parented to it \
             and zombie reaping won't work. Fix: pass -s or set TINI_SUBREAPER, or run it as PID 1."
        );
    }

    let waitset = match forward::install() {
        Ok(set) => set,
        Err(err) => {
            log::error!("cannot set up signal handling: {err}");
            return 1;
        }
    };
    if let Some(sig) = config.parent_death_signal {
        let parent = std::os::unix::process::parent_id();
        if let Err(err) = sys::set_parent_death_signal(sig) {
            log::error!(
                "cannot set the parent-death signal {}: {err}",
                signals::name(sig)
            );
            return 1;
        }
        // The parent may have died before prctl took effect.
        if std::os::unix::process::parent_id() != parent {
            // SAFETY: raise(3) with a valid signal that now has our handler.
            unsafe { libc::kill(std::process::id() as libc::pid_t, sig) };
        }
    }

    let main_pid = match child::spawn(&config.program, inherited) {
        Ok(pid) => pid,
        Err(err) => {
            log::error!("{}", err.message);
            // The one error a user must see even at verbosity 0 is already
            // an error-level line; nothing else to say.
            return err.exit_code;
        }
    };
    log::info!("Spawned main child: {:?} (pid {main_pid})", config.program);

    let main_pidfd = match sys::PidFd::open(main_pid) {
        Ok(fd) => Some(fd),
        Err(err) => {
            log::warn!("pidfd_open failed ({err}); forwarding by pid instead");
            None
        }
    };
    let target = if config.kill_process_group {
        forward::Target::Group(main_pid)
    } else {
        match main_pidfd.as_ref().map(|fd| fd.try_clone()) {
            Some(Ok(fd)) => forward::Target::Process(fd),
            _ => forward::Target::ProcessByPid(main_pid),
        }
    };

    let status = match config.grace_period {
        // tini's behaviour: the main thread is the reaper, and tini-rs exits
        // as soon as the main child is gone.
        None => {
            if let Err(err) = forward::start(waitset, target, config.rewrite.clone(), None) {
                log::error!("cannot start the forwarder thread: {err}");
                return 1;
            }
            reaper::reap_until_main_exits(main_pid, config.warn_on_reap)
                .unwrap_or_else(shutdown::lost_main_status)
        }
        Some(grace) => {
            let (events_tx, events) = std::sync::mpsc::channel::<Event>();
            let started = forward::start(
                waitset,
                target,
                config.rewrite.clone(),
                Some(events_tx.clone()),
            )
            .and_then(|_| reaper::start(main_pid, config.warn_on_reap, events_tx));
            if let Err(err) = started {
                log::error!("cannot start a thread: {err}");
                return 1;
            }
            shutdown::Supervisor {
                events,
                main_pid,
                main_pidfd,
            }
            .with_grace_period(grace)
        }
    };
    let code = reaper::exit_code(status);
    if config.expected_codes[code as usize] {
        log::debug!("Main child exited with expected code {code}; reporting 0");
        return 0;
    }
    code
}

fn print_stdout(text: &str) -> i32 {
    let _ = std::io::stdout().write_all(text.as_bytes());
    0
}
