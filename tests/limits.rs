//! tini-rs under tight resource limits: RLIMIT_NOFILE, RLIMIT_STACK,
//! RLIMIT_AS, RLIMIT_NPROC, a pids cgroup with room for three tasks, a
//! memory cgroup of a few MB. Each time it starts and works, or fails at
//! once with a line saying why, before the main child runs; it never leaves
//! the child running unsupervised or a zombie behind. Where no helper
//! thread fits, it runs single-threaded.
//!
//! The control is Debian's tini-static under the same limit.

mod common;

use common::memory_cgroup::MemoryCgroup;
use common::pids_cgroup::PidsCgroup;
use common::reachable::Reachable;
use common::*;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// A statically linked shell, so that the main child itself starts under
/// limits that a dynamically linked one would not survive.
const BUSYBOX: &str = "/bin/busybox";

fn require_busybox(test: &str) -> bool {
    if Path::new(BUSYBOX).exists() {
        return true;
    }
    skip(
        test,
        "needs /bin/busybox (busybox-static; tests/run.sh installs it)",
    );
    false
}

/// `init -s ARGS -- busybox sh -c SCRIPT`, TINI_* cleared.
fn init_command(init: &Path, args: &[&str], script: &str) -> Command {
    let mut cmd = Command::new(init);
    cmd.arg("-s")
        .args(args)
        .args(["--", BUSYBOX, "sh", "-c", script])
        .env_remove("TINI_SUBREAPER")
        .env_remove("TINI_VERBOSITY")
        .env_remove("TINI_GRACE_PERIOD")
        .env_remove("RUST_LOG");
    cmd
}

/// Sets `resource` to `limit` (soft and hard) in the started process.
fn with_rlimit(cmd: &mut Command, resource: libc::__rlimit_resource_t, limit: u64) {
    // rlim_t is 32 bits wide on 32-bit targets (i686, tests/arch.sh).
    #[allow(clippy::useless_conversion)]
    let limit = libc::rlim_t::try_from(limit).expect("the limit fits rlim_t");
    // SAFETY: setrlimit is async-signal-safe and the closure allocates
    // nothing.
    unsafe {
        cmd.pre_exec(move || {
            let value = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(resource, &value) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Starts `cmd` (an init whose main child runs `sleep 1000` in busybox),
/// waits for the sleep, sends SIGTERM and expects it passed on: exit 143.
fn assert_forwards_sigterm(cmd: Command, what: &str) {
    let mut init = Running::start_captured(cmd);
    child_named(init.pid(), "sleep");
    init.signal(libc::SIGTERM);
    let code = init.exit_code(LIMIT);
    let (_, err) = init.output();
    assert_eq!(code, 128 + libc::SIGTERM, "{what}: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
}

/// RLIMIT_NOFILE = 4: stdin, stdout, stderr and one more. tini-rs's pidfd
/// takes the fourth, its copy for the forwarder cannot be made: it signals
/// by pid. Forwarding and the grace period still work.
#[test]
fn four_descriptors_are_enough() {
    if !require_busybox("four_descriptors_are_enough") {
        return;
    }
    let binaries = Reachable::new("nofile");
    for init in binaries.with_control("four_descriptors_are_enough") {
        for extra in [&[][..], &["--grace-period", "2"][..]] {
            if !extra.is_empty() && init != binaries.tini_rs() {
                continue;
            }
            let what = format!("{} {extra:?}, RLIMIT_NOFILE 4", init.display());
            let mut cmd = init_command(&init, extra, "exec sleep 1000");
            with_rlimit(&mut cmd, libc::RLIMIT_NOFILE, 4);
            assert_forwards_sigterm(cmd, &what);
        }
    }
}

/// RLIMIT_STACK = 64 KiB for the main thread (the helper threads ask for
/// 64 KiB stacks of their own, which the limit does not bound).
#[test]
fn a_64_kib_stack_is_enough() {
    if !require_busybox("a_64_kib_stack_is_enough") {
        return;
    }
    let binaries = Reachable::new("stack");
    for init in binaries.with_control("a_64_kib_stack_is_enough") {
        let what = format!("{}, RLIMIT_STACK 64 KiB", init.display());
        let mut cmd = init_command(&init, &[], "exec sleep 1000");
        with_rlimit(&mut cmd, libc::RLIMIT_STACK, 64 * 1024);
        assert_forwards_sigterm(cmd, &what);
    }
}

/// RLIMIT_AS from too small to load tini-rs up to 8 MiB, in 64 KiB steps.
/// Somewhere a helper thread's stack no longer fits, somewhere the child's
/// spawn beside it does not: at every size tini-rs either runs the child
/// (exit 3, as the child asked) or fails before the child ran, with a line
/// on stderr (or, at the smallest sizes, the dynamic loader dies of a
/// signal before tini-rs runs); nothing is ever left in the cgroup after
/// it. The limit is set on `unshare`, which runs tini-rs as PID 1 and
/// passes it on.
#[test]
fn every_small_address_space_runs_the_child_or_fails_before_it() {
    if !require_root("every_small_address_space_runs_the_child_or_fails_before_it")
        || !require_busybox("every_small_address_space_runs_the_child_or_fails_before_it")
    {
        return;
    }
    let dir = TempDir::new("as-sweep");
    let marker = dir.file("child-ran");
    let script = format!("touch {}; exit 3", marker.display());
    let (mut ran, mut single, mut refused) = (0, 0, 0);
    for kib in (3 * 1024..=8 * 1024).step_by(64) {
        let _ = std::fs::remove_file(&marker);
        let cgroup = PidsCgroup::create("as-sweep", 100);
        for grace in [false, true] {
            let args: &[&str] = if grace { &["--grace-period", "2"] } else { &[] };
            // As PID 1 of its own PID namespace, as in a container: as a
            // subreaper on a busy host, the grace period's look at /proc
            // would list every process of the host, and it is that list,
            // not tini-rs, that would then run out of memory.
            let mut cmd = Command::new("unshare");
            cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
                .arg(tini_rs())
                .args(args)
                .args(["--", BUSYBOX, "sh", "-c", &script])
                .env_remove("TINI_VERBOSITY")
                .env_remove("TINI_GRACE_PERIOD")
                .env_remove("RUST_LOG");
            with_rlimit(&mut cmd, libc::RLIMIT_AS, kib * 1024);
            cgroup.join_before_exec(&mut cmd);
            let what = format!("RLIMIT_AS {kib} KiB {args:?}");
            let (code, _, err) = run(cmd, LIMIT);
            let left = cgroup.procs();
            assert!(left.is_empty(), "{what}: {left:?} left behind: {err}");
            if code == 3 {
                ran += 1;
                if err.contains("single-threaded") {
                    single += 1;
                }
            } else {
                refused += 1;
                assert!(
                    !marker.exists(),
                    "{what}: exit {code} after the child ran: {err}"
                );
                // Silent only when the dynamic loader itself crashed, before
                // tini-rs ran at all (near the smallest sizes).
                assert!(
                    !err.trim().is_empty() || code > 128,
                    "{what}: exit {code} without a word"
                );
            }
            let _ = std::fs::remove_file(&marker);
        }
    }
    eprintln!(
        "RLIMIT_AS 3..8 MiB: the child ran {ran} times ({single} single-threaded), \
         refused before it {refused} times"
    );
    assert!(ran > 0, "the child never ran, not even at 8 MiB");
}

/// A user with no process running yet (checked), for RLIMIT_NPROC, which
/// counts every task of the real user and is not enforced for root.
const NPROC_UID: &str = "64999";

/// RLIMIT_NPROC = 1: no thread, no child: exit 1, one line, the child never
/// ran. = 2: tini-rs and its child fit only without threads: it runs
/// single-threaded. = 3 and 4: enough. tini-static (never a thread) needs 2.
#[test]
fn rlimit_nproc_runs_single_threaded_or_fails_before_the_child() {
    let test = "rlimit_nproc_runs_single_threaded_or_fails_before_the_child";
    if !require_root(test) || !require_busybox(test) {
        return;
    }
    let uid: u32 = NPROC_UID.parse().expect("a uid");
    let taken = processes().iter().any(|p| {
        status_field(p.pid, "Uid").is_some_and(|u| u.split_whitespace().any(|id| id == NPROC_UID))
    });
    assert!(
        !taken,
        "uid {uid} already runs processes; RLIMIT_NPROC would count them"
    );
    let binaries = Reachable::new("nproc");
    let shared = binaries.shared_dir("markers");
    let marker = shared.join("child-ran");
    let marker = marker.to_str().expect("a UTF-8 temp path");
    for init in binaries.with_control(test) {
        for nproc in [1u64, 2, 3] {
            let what = format!("{}, RLIMIT_NPROC {nproc}", init.display());
            // No shell: one that forks would need room of its own.
            let program: &[&str] = if nproc == 1 {
                &[BUSYBOX, "touch", marker]
            } else {
                &[BUSYBOX, "sleep", "1000"]
            };
            let mut cmd = Command::new("setpriv");
            cmd.args([
                "--reuid",
                NPROC_UID,
                "--regid",
                NPROC_UID,
                "--clear-groups",
                "--",
            ])
            .arg(&init)
            .args(["-s", "--"])
            .args(program)
            .env_remove("TINI_SUBREAPER")
            .env_remove("TINI_VERBOSITY")
            .env_remove("RUST_LOG");
            with_rlimit(&mut cmd, libc::RLIMIT_NPROC, nproc);
            let mut running = Running::start_captured(cmd);
            if nproc == 1 {
                let code = running.exit_code(LIMIT);
                let (_, err) = running.output();
                assert_eq!(code, 1, "{what}: {err}");
                assert!(!Path::new(marker).exists(), "{what}: the child ran");
                if init == binaries.tini_rs() {
                    assert_eq!(err.lines().count(), 1, "{what}: one line: {err}");
                }
                continue;
            }
            // `busybox sleep` keeps busybox's name.
            child_named(running.pid(), "busybox");
            running.signal(libc::SIGTERM);
            let code = running.exit_code(LIMIT);
            let (_, err) = running.output();
            assert_eq!(code, 128 + libc::SIGTERM, "{what}: {err}");
            if init == binaries.tini_rs() {
                assert_eq!(
                    err.contains("single-threaded"),
                    nproc == 2,
                    "{what}: single-threaded exactly when no thread fits: {err}"
                );
            }
        }
    }
}

/// `pids.max = 3` with a grace period: tini-rs, its reaper and its forwarder
/// take all three, so the child does not fit beside them: the threads give
/// way and the child runs, the grace period kept (single-threaded).
#[test]
fn three_tasks_with_a_grace_period_give_the_child_the_room() {
    if !require_root("three_tasks_with_a_grace_period_give_the_child_the_room")
        || !require_busybox("three_tasks_with_a_grace_period_give_the_child_the_room")
    {
        return;
    }
    let cgroup = PidsCgroup::create("three", 3);
    let mut cmd = init_command(
        Path::new(tini_rs()),
        &["--grace-period", "1"],
        "trap '' TERM; exec sleep 1000",
    );
    cgroup.join_before_exec(&mut cmd);
    let mut init = Running::start_captured(cmd);
    child_named(init.pid(), "sleep");
    assert_eq!(status_field(init.pid(), "Threads").as_deref(), Some("1"));
    init.signal(libc::SIGTERM);
    // The child ignores SIGTERM: the grace period's SIGKILL ends it.
    let code = init.exit_code(LIMIT);
    drop(cgroup);
    let (_, err) = init.output();
    assert_eq!(code, 128 + libc::SIGKILL, "{err}");
    assert!(err.contains("single-threaded"), "{err}");
}

/// A memory cgroup of 4 MiB (cgroup v1 here; v2's memory.max elsewhere):
/// starts, forwards, and stays far below the limit.
#[test]
fn a_4_mib_memory_cgroup_is_enough() {
    if !require_root("a_4_mib_memory_cgroup_is_enough")
        || !require_busybox("a_4_mib_memory_cgroup_is_enough")
    {
        return;
    }
    let binaries = Reachable::new("memory");
    for init in binaries.with_control("a_4_mib_memory_cgroup_is_enough") {
        for extra in [&[][..], &["--grace-period", "2"][..]] {
            if !extra.is_empty() && init != binaries.tini_rs() {
                continue;
            }
            let cgroup = MemoryCgroup::create("memory", 4 << 20);
            let what = format!(
                "{} {extra:?}, memory cgroup v{} of 4 MiB",
                init.display(),
                if cgroup.v1 { 1 } else { 2 }
            );
            let mut cmd = init_command(&init, extra, "exec sleep 1000");
            cgroup.join_before_exec(&mut cmd);
            assert_forwards_sigterm(cmd, &what);
            eprintln!("{what}: peak {:?} bytes", cgroup.peak());
        }
    }
}
