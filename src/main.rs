//! tini-rs: a tiny, exact init for containers. This file only wires the
//! parts together, in the order the process lives: set up signals, parse,
//! start the helper threads (the reaper first, when there is a grace
//! period; then the forwarder), spawn the main child, wait, exit.
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
mod death_report;
mod dumb_init;
mod event;
mod forward;
mod logging;
mod one_thread;
mod pause;
mod procfs;
mod reaper;
mod shutdown;
mod signals;
mod status;
mod sys;
mod threads;
mod wait_all;

use cli::{Action, Config};
use shutdown::GracePeriod;
use signals::InheritedState;
use status::{ExitCode, WaitStatus};
use std::io::Write;
use std::sync::OnceLock;

static INHERITED: OnceLock<InheritedState> = OnceLock::new();

#[cfg(not(test))]
// SAFETY: `no_main` leaves the C `main` symbol to this crate alone, and its
// signature is the one the C runtime calls. nix has nothing here: only
// the attribute can name the entry point.
#[unsafe(no_mangle)]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    std::process::exit(run().get().into())
}

fn run() -> ExitCode {
    sys::use_one_malloc_arena();
    // Before anything touches signals: what the child must get back.
    let inherited = INHERITED.get_or_init(InheritedState::capture);
    // Every thread keeps all signals blocked; the forwarder takes the
    // forwardable ones off the queue with sigwaitinfo. Before this, a
    // SIGTERM would kill tini-rs with the default action.
    let blocked = signals::block_all_in_this_thread();

    let env = |name: &str| std::env::var_os(name);
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let args: Vec<std::ffi::OsString> = args.collect();
    let parsed = match dumb_init::selected(&argv0, args.first(), &env) {
        Ok(Some(skip)) => {
            let prog = argv0.to_string_lossy();
            match dumb_init::parse(&prog, args.into_iter().skip(skip), env) {
                Ok(config) => Ok(Action::Run(config)),
                Err(exit) => {
                    let _ = std::io::stderr().write_all(exit.message.as_bytes());
                    return exit.code;
                }
            }
        }
        Ok(None) => cli::parse(args, env),
        Err(message) => Err(cli::UsageError::new(message)),
    };
    let config = match parsed {
        Ok(Action::Run(config)) => config,
        Ok(Action::PrintUsage) => return print_stdout(&cli::usage()),
        Ok(Action::PrintVersion) => return print_stdout(&(cli::version() + "\n")),
        Ok(Action::PrintLicense) => return print_stdout(cli::LICENSE),
        Err(error) => {
            let message = logging::one_line(&error.message);
            let usage = if error.show_usage {
                format!("\n{}", cli::usage())
            } else {
                String::new()
            };
            let _ = write!(std::io::stderr(), "tini-rs: {message}\n{usage}");
            return ExitCode::FAILURE;
        }
    };
    match config.dumb_init {
        Some(mode) => logging::init_dumb_init(mode.debug),
        None => logging::init(config.verbosity),
    }
    for warning in &config.warnings {
        log::warn!("{warning}");
    }
    if let Err(err) = blocked.and_then(|_| signals::take_over_dispositions()) {
        log::error!("cannot set up signal handling: {err}");
        return ExitCode::FAILURE;
    }
    if let Err(err) = signals::check_waiting_works() {
        log::error!(
            "cannot wait for signals: rt_sigtimedwait refused ({err}); tini-rs needs it to \
             forward signals and reap without busy waiting"
        );
        return ExitCode::FAILURE;
    }
    if let Err(err) = set_up_reaping(config.subreaper, config.dumb_init.is_none()) {
        log::error!(
            "cannot register as child subreaper: prctl(PR_SET_CHILD_SUBREAPER) failed: {err}"
        );
        return ExitCode::FAILURE;
    }
    let parent_death = match config
        .parent_death_signal
        .map(|sig| set_up_parent_death_signal(sig, config.pause))
        .transpose()
    {
        Ok(stand_in) => stand_in.flatten(),
        Err(err) => {
            log::error!("cannot set the parent-death signal: {err}");
            return ExitCode::FAILURE;
        }
    };
    // The OOM kill counter's first reading, before any child can die.
    death_report::start();
    log::debug!(
        "Signals never forwarded: {}",
        signals::names(signals::never_forwarded())
    );
    if config.pause {
        // Nothing to hand on to a child: let go of it all at once.
        let_go_of_inherited_descriptors_and_directory();
        return pause::run(config.grace_period, config.warn_on_reap);
    }
    log::debug!("The main child gets {}", inherited.describe());

    match run_main_child(&config, inherited, parent_death) {
        // Only the main child's own status can become 0 through -e; a lost
        // status or a program that could not start never does.
        Ok(Some(status)) => {
            let code = status.exit_code();
            logging::dumb_init_debug(format_args!("Child exited with status {code}. Goodbye."));
            if config.expected_codes[usize::from(code.get())] {
                log::debug!("Main child exited with expected code {code}; reporting 0");
                return ExitCode::SUCCESS;
            }
            code
        }
        Ok(None) => {
            log::error!("The main child's exit status was lost; reporting failure (exit 1)");
            ExitCode::FAILURE
        }
        Err(code) => code,
    }
}

/// Makes sure orphans come to tini-rs, and says how (or warns that they
/// will not, unless `warn_if_not` is false: dumb-init never warns about
/// this, so its mode does not).
///
/// Started into a PID namespace that another process is PID 1 of (a member
/// of a pod sharing one PID namespace, `--pid container:NAME`), tini's
/// "zombie reaping won't work" would be wrong: that PID 1 adopts and reaps
/// the orphans. What is lost is only that they are not tini-rs's to stop
/// or wait for, and that is what the warning says there.
fn set_up_reaping(subreaper_asked: bool, warn_if_not: bool) -> std::io::Result<()> {
    if sys::is_pid1() {
        log::debug!("Running as PID 1: the kernel re-parents orphans to tini-rs");
    } else if sys::is_subreaper() {
        log::debug!("Child subreaper bit inherited from the parent; orphans come to tini-rs");
    } else if subreaper_asked {
        sys::become_subreaper()?;
        log::debug!("Registered as child subreaper");
    } else if !warn_if_not {
        log::debug!("Not PID 1 and not a child subreaper: orphans do not come to tini-rs");
    } else if sys::parent_is_outside_our_pid_namespace() {
        log::warn!(
            "tini-rs is not PID 1: it shares a PID namespace whose PID 1 is another process \
             (a pod's sandbox, a container's init), and orphans are re-parented to that PID 1, \
             which reaps them. To adopt them, so that --grace-period stops them and --wait-all \
             waits for them, pass -s or set TINI_SUBREAPER."
        );
    } else {
        log::warn!(
            "tini-rs is not PID 1 and not a child subreaper, so orphans are not re-parented to it \
             and zombie reaping won't work. Fix: pass -s or set TINI_SUBREAPER, or run it as PID 1."
        );
    }
    Ok(())
}

/// `-p`: asks the kernel for a signal when our parent dies. A signal the
/// forwarder takes is asked for itself and passed on like any other. For
/// one it cannot take (SIGKILL, SIGSTOP and the rest of the never-forwarded
/// set, which would kill or stop tini-rs itself, or be lost), the kernel is
/// asked for a stand-in the forwarder takes, and the forwarder delivers
/// `sig` to the main child when the stand-in comes once the parent is gone
/// (returned for it). In pause mode, with no main child, `sig` is asked for
/// as it is, and so is SIGKILL for PID 1 with a parent outside its
/// namespace (see below). A parent that died before the request took effect would never
/// trigger it, so then the signal is sent at once, as a signal from
/// outside that the forwarder takes.
fn set_up_parent_death_signal(
    sig: i32,
    pause: bool,
) -> std::io::Result<Option<forward::ParentDeath>> {
    let parent = std::os::unix::process::parent_id();
    // As PID 1 of a PID namespace whose parent is outside it (a container's
    // init), the parent's pid reads 0, so its death could never be told
    // from any other stand-in. For SIGKILL, asking for it as it is (tini's
    // way) is exact there: tini-rs dies, and with PID 1 the kernel kills
    // every process of the namespace, the main child included.
    let exact_as_is = sig == libc::SIGKILL && parent == 0 && sys::is_pid1();
    let needs_stand_in = !pause && !exact_as_is && !signals::is_forwardable(sig);
    let stand_in = needs_stand_in.then(|| forward::ParentDeath {
        stand_in: forward::parent_death_stand_in(),
        signal: sig,
        parent,
    });
    let asked = stand_in.as_ref().map_or(sig, |p| p.stand_in);
    sys::set_parent_death_signal(asked).map_err(|err| {
        std::io::Error::new(err.kind(), format!("{}: {err}", signals::name(asked)))
    })?;
    if exact_as_is && !pause {
        log::debug!(
            "-p SIGKILL as PID 1 with a parent outside the namespace: asked for as it is; \
             tini-rs's death ends every process of the namespace, the main child included"
        );
    }
    if let Some(p) = &stand_in {
        log::debug!(
            "-p {}: asking for {} instead, which tini-rs can take and turn into {0} for the main child",
            signals::name(p.signal),
            signals::name(p.stand_in)
        );
    }
    if std::os::unix::process::parent_id() != parent {
        log::debug!(
            "Parent died before -p took effect; sending {} now",
            signals::name(asked)
        );
        sys::send_to_ourselves(asked)?;
    }
    Ok(stand_in)
}

/// The helper threads of a run with a main child.
struct Threads {
    forwarder: forward::Forwarder,
    /// With a grace period: the reaper thread and the shutdown's channel.
    grace_period: Option<GracePeriod>,
}

impl Threads {
    /// Without a grace period, tini's behaviour: the main thread is the
    /// reaper. With one, the reaper starts first. Either every thread
    /// needed runs or none does.
    fn start(
        config: &Config,
        ignore_once: &[i32],
        parent_death: Option<forward::ParentDeath>,
    ) -> std::io::Result<Threads> {
        let grace_period = config
            .grace_period
            .map(|grace| GracePeriod::start(grace, config.warn_on_reap))
            .transpose()?;
        let waitset = match config.dumb_init {
            None => signals::WaitSet::forwardable(),
            Some(_) => signals::WaitSet::of(dumb_init::forwarded_signals()),
        };
        let forwarder = forward::start(
            waitset,
            config.rewrite.clone(),
            grace_period.as_ref().map(GracePeriod::stop_requests),
            config.stop_delay,
            parent_death,
            dumb_init_forwarding(config, ignore_once),
        );
        match forwarder {
            Ok(forwarder) => Ok(Threads {
                forwarder,
                grace_period,
            }),
            Err(err) => {
                if let Some(grace_period) = grace_period {
                    grace_period.abandon();
                    threads::wait_until_single_threaded();
                }
                Err(err)
            }
        }
    }

    /// Ends every thread (before any has done anything) and returns once
    /// the kernel has let go of them, so the tasks they took from a pids
    /// limit are free again.
    fn stop(self) {
        self.forwarder.stop();
        if let Some(grace_period) = self.grace_period {
            grace_period.abandon();
        }
        threads::wait_until_single_threaded();
    }
}

/// Starts the helper threads, then the main child, and waits: returns its
/// raw wait status (`None` if it was lost), or the exit code that says why
/// it could not run. Threads start first, since one that fails to start
/// after the child exists would leave the child running on, orphaned. When
/// none can start, tini-rs runs single-threaded (see `one_thread`).
fn run_main_child(
    config: &Config,
    inherited: &'static InheritedState,
    parent_death: Option<forward::ParentDeath>,
) -> Result<Option<WaitStatus>, ExitCode> {
    if config.wait_all {
        // Before any thread: the reaper and the forwarder read it.
        wait_all::turn_on(config.grace_period.is_some());
    }
    // dumb-init's setsid mode: the terminal is given up before anything
    // else, so that the child's new session can take it.
    let new_session = config.dumb_init.is_some_and(|m| m.setsid);
    let ignore_once = if new_session {
        dumb_init::give_up_terminal()
    } else {
        Vec::new()
    };
    let start = child::Start {
        new_session,
        say_setsid_complete: new_session && logging::dumb_init_debug_on(),
    };
    // Why there is no thread, said once the child runs: a child that cannot
    // start either gets its one error line, nothing more.
    let (threads, no_thread) = match Threads::start(config, &ignore_once, parent_death) {
        Ok(threads) => (Some(threads), None),
        Err(err) => (None, Some(format!("cannot start a helper thread ({err})"))),
    };
    let (threads, main_pid) = match child::spawn(&config.program, inherited, start) {
        Ok(pid) => {
            if let Some(why) = no_thread {
                log::warn!("{why}; running single-threaded: one loop takes signals and reaps");
            }
            (threads, pid)
        }
        // A pids limit, RLIMIT_NPROC or RLIMIT_AS with room for the child
        // only without the threads: the child matters more.
        Err(err)
            if matches!(err.errno, Some(libc::EAGAIN) | Some(libc::ENOMEM))
                && threads.is_some() =>
        {
            log::warn!(
                "{} beside the helper threads; stopping them and running single-threaded: \
                 one loop takes signals and reaps",
                err.message
            );
            if let Some(threads) = threads {
                threads.stop();
            }
            let pid = child::spawn(&config.program, inherited, start)
                .map_err(|err| spawn_failed(config, err))?;
            (None, pid)
        }
        Err(err) => return Err(spawn_failed(config, err)),
    };
    log::info!("Spawned main child: {:?} (pid {main_pid})", config.program);
    logging::dumb_init_debug(format_args!("Child spawned with PID {main_pid}."));
    let_go_of_inherited_descriptors_and_directory();
    let main_pidfd = match sys::PidFd::open(main_pid) {
        Ok(fd) => Some(fd),
        Err(err) => {
            log::warn!("pidfd_open failed ({err}); signalling the main child by pid instead");
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
    log::debug!("Forwarding signals to {}", target.describe());

    let Some(threads) = threads else {
        let forwarding =
            forward::Forwarding::new(target, config.rewrite.clone(), config.stop_delay)
                .with_dumb_init(dumb_init_forwarding(config, &ignore_once))
                .with_parent_death(parent_death);
        let mut events =
            one_thread::OneLoop::new(Some(forwarding), Some(main_pid), config.warn_on_reap);
        if config.dumb_init.is_some() {
            events = events.forwarding(dumb_init::forwarded_signals());
        }
        return Ok(match config.grace_period {
            Some(grace) => shutdown::run_single_threaded(
                grace,
                events,
                Some((main_pid, main_pidfd)),
                config.wait_all,
            ),
            // Never in dumb-init mode, which has no --wait-all.
            None if config.wait_all => events.until_no_child_is_left(),
            None => {
                let status = events.until_main_exits();
                main_child_exited(config, main_pid);
                status
            }
        });
    };
    threads.forwarder.aim(target);
    Ok(match threads.grace_period {
        Some(grace_period) => {
            grace_period.run_until_every_descendant_is_gone(main_pid, main_pidfd, config.wait_all)
        }
        None if config.wait_all => {
            reaper::reap_until_no_child_is_left(main_pid, config.warn_on_reap)
        }
        None => {
            let status = reaper::reap_until_main_exits(main_pid, config.warn_on_reap);
            main_child_exited(config, main_pid);
            status
        }
    })
}

/// dumb-init mode's forwarding switches (`None` in tini mode).
fn dumb_init_forwarding(
    config: &Config,
    ignore_once: &[i32],
) -> Option<forward::DumbInitForwarding> {
    config.dumb_init.map(|_| forward::DumbInitForwarding {
        ignore_once: ignore_once.to_vec(),
    })
}

/// Once the main child is reaped (no grace period): dumb-init mode's
/// SIGTERM to its group; nothing in tini mode.
fn main_child_exited(config: &Config, main_pid: libc::pid_t) {
    if let Some(mode) = config.dumb_init {
        dumb_init::main_child_exited(main_pid, mode.setsid, &config.rewrite);
    }
}

/// The message and exit code of a main child that could not start: tini's
/// (section 4 of docs/DESIGN.md), or dumb-init's `[dumb-init] PROGRAM:
/// REASON` (the logger adds the prefix) and exit 2.
fn spawn_failed(config: &Config, err: child::SpawnError) -> ExitCode {
    if config.dumb_init.is_none() {
        log::error!("{}", err.message);
        return err.exit_code;
    }
    match err.errno {
        Some(errno) => {
            let program = config.program.first().cloned().unwrap_or_default();
            log::error!(
                "{}: {}",
                program.to_string_lossy(),
                nix::errno::Errno::from_raw(errno).desc()
            );
        }
        None => log::error!("{}", err.message),
    }
    dumb_init::EXEC_FAILED
}

/// The child (if any) has its own copies now. PID 1 outlives every process in the
/// container, so what it keeps stays held: a listening socket stays open
/// after the application closed it, a pipe never sees end-of-file, and a
/// working directory pins its mount. So tini-rs closes every descriptor it
/// inherited above stderr and moves to `/`; failing either only costs that.
fn let_go_of_inherited_descriptors_and_directory() {
    // SAFETY: called before tini-rs opens a descriptor of its own (the main
    // child's pidfd comes after; the threads and channels hold none), so
    // everything from 3 up was inherited.
    if let Err(err) = unsafe { sys::close_descriptors_from(3) } {
        log::warn!("cannot close inherited descriptors: {err}");
    }
    if let Err(err) = sys::change_to_root_directory() {
        log::warn!("cannot change directory to /: {err}");
    }
}

fn print_stdout(text: &str) -> ExitCode {
    let _ = std::io::stdout().write_all(text.as_bytes());
    ExitCode::SUCCESS
}
