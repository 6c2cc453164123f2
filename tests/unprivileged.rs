//! tini-rs as a pod's `runAsUser` gives it: PID 1 of its own PID namespace
//! as uid 65534, every capability dropped (bounding set included), on a
//! read-only root. It must start, reap and forward; a signal the kernel
//! refuses (a main child that became root through a setuid binary, tini's
//! issue 9) is warned about once, and tini-rs goes on.
//!
//! The binaries under test are copied into a fresh directory that uid 65534
//! can reach (the checkout may live under a home directory it cannot).
//! The control is Debian's tini-static under the same conditions.

mod common;

use common::reachable::{Reachable, set_mode};
use common::*;
use std::path::Path;
use std::process::Command;

const NOBODY: &str = "65534";

/// `init args...` as PID 1 of a new PID namespace, as uid/gid 65534 with no
/// supplementary groups and no capability at all, on a root file system
/// remounted read-only in a mount namespace of its own.
fn as_unprivileged_pid1(init: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--pid",
        "--fork",
        "--mount-proc",
        "--kill-child",
        "sh",
        "-c",
    ])
    .arg(
        "mount -o remount,bind,ro / && exec setpriv --reuid 65534 --regid 65534 \
             --clear-groups --inh-caps=-all --bounding-set=-all -- \"$@\"",
    )
    .arg("sh")
    .arg(init)
    .args(args)
    .env_remove("TINI_SUBREAPER")
    .env_remove("TINI_VERBOSITY")
    .env_remove("RUST_LOG");
    cmd
}

/// The init that `unshare` started, once it runs as 65534 without
/// capabilities (checked, so the test cannot pass with privilege).
fn unprivileged_init(unshare: &Running) -> i32 {
    let mut init = 0;
    let dropped = wait_until(LIMIT, || {
        init = descendants(unshare.pid()).first().copied().unwrap_or(0);
        init != 0
            && status_field(init, "Uid")
                .is_some_and(|u| u.split_whitespace().all(|id| id == NOBODY))
            && status_field(init, "CapBnd").as_deref() == Some("0000000000000000")
            && status_field(init, "CapEff").as_deref() == Some("0000000000000000")
    });
    assert!(
        dropped,
        "the init never ran as uid 65534 without capabilities"
    );
    init
}

/// Starts, reaps an orphan and forwards SIGTERM as PID 1 without privilege
/// on a read-only root (the main child proves the root is read-only: it
/// exits 9 if it can write to /tmp).
#[test]
fn unprivileged_pid1_on_a_read_only_root_reaps_and_forwards() {
    if !require_root("unprivileged_pid1_on_a_read_only_root_reaps_and_forwards") {
        return;
    }
    let binaries = Reachable::new("nobody");
    let script = "touch /tmp/tini-rs-read-only-probe 2>/dev/null && exit 9; \
                  (sleep 0.2 &); exec sleep 1000";
    for init in binaries.with_control("unprivileged_pid1_on_a_read_only_root_reaps_and_forwards") {
        for extra in [&[][..], &["--grace-period", "2"][..]] {
            if !extra.is_empty() && !init.ends_with("tini-rs") {
                continue;
            }
            let what = format!("{} {extra:?}", init.display());
            let mut args = extra.to_vec();
            args.extend(["--", "sh", "-c", script]);
            let mut unshare = Running::start_captured(as_unprivileged_pid1(&init, &args));
            let pid1 = unprivileged_init(&unshare);
            child_named(pid1, "sleep");
            // The orphan's 0.2 s are over and it was reaped: one child left.
            let reaped = wait_until(LIMIT, || {
                children_of(pid1).len() == 1 && zombies_under(pid1).is_empty()
            });
            assert!(reaped, "{what}: the orphan was not reaped");
            unshare.signal_tree_root(pid1, libc::SIGTERM);
            let code = unshare.exit_code(LIMIT);
            let (_, err) = unshare.output();
            assert_eq!(code, 128 + libc::SIGTERM, "{what}: {err}");
            assert!(!err.contains("panicked"), "{what}: {err}");
        }
    }
}

/// A main child that made itself root (a setuid-root copy of setpriv
/// setting its real uid to 0): uid 65534 may not signal it, kill(2) says
/// EPERM. tini-rs warns once, not once per signal, and goes on: when the
/// child dies (killed by the test), tini-rs reports it.
#[test]
fn a_signal_refused_with_eperm_is_warned_about_once() {
    if !require_root("a_signal_refused_with_eperm_is_warned_about_once") {
        return;
    }
    let binaries = Reachable::new("eperm");
    let setuid_setpriv = binaries.add(Path::new("/usr/bin/setpriv"));
    set_mode(&setuid_setpriv, 0o4755);
    let setpriv = setuid_setpriv.to_str().expect("a UTF-8 temp path");
    let init = binaries.tini_rs();
    let args = ["--", setpriv, "--reuid", "0", "--", "sleep", "1000"];
    let mut unshare = Running::start_captured(as_unprivileged_pid1(&init, &args));
    let pid1 = unprivileged_init(&unshare);
    let child = child_named(pid1, "sleep");
    assert!(
        status_field(child, "Uid").is_some_and(|u| u.starts_with("0\t")),
        "the main child did not become root (is /var/tmp mounted nosuid?)"
    );
    for sig in [libc::SIGUSR1, libc::SIGUSR2, libc::SIGHUP, libc::SIGTERM] {
        unshare.signal_tree_root(pid1, sig);
        // Taken off the queue and passed on (or not): nothing pending, and
        // tini-rs asleep again.
        let handled = wait_until(LIMIT, || {
            status_field(pid1, "ShdPnd").as_deref() == Some("0000000000000000")
                && ProcStat::of(pid1).is_some_and(|p| p.state == 'S')
        });
        assert!(handled, "tini-rs did not take signal {sig}");
    }
    assert!(
        status_field(child, "State").is_some(),
        "the child was signalled after all"
    );
    // SAFETY: kill(2) to the sleep this test started, as root.
    unsafe { libc::kill(child, libc::SIGKILL) };
    let code = unshare.exit_code(LIMIT);
    let (_, err) = unshare.output();
    assert_eq!(code, 128 + libc::SIGKILL, "{err}");
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("Could not pass"))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "one warning for four refused signals: {err}"
    );
    assert!(warnings[0].contains("Operation not permitted"), "{err}");
}

/// The two tests above signal tini-rs from outside its namespace, as the
/// container engine does.
trait SignalInit {
    fn signal_tree_root(&self, pid1: i32, sig: i32);
}

impl SignalInit for Running {
    fn signal_tree_root(&self, pid1: i32, sig: i32) {
        assert!(descendants(self.pid()).contains(&pid1));
        // SAFETY: kill(2) to the init this test started (checked above to
        // be a descendant of our unshare).
        unsafe { libc::kill(pid1, sig) };
    }
}
