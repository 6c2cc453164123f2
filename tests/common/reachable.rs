//! Copies of the binaries under test in a fresh directory that every user
//! may enter and run from, for tests that run them as another user (uid
//! 65534, a user only an RLIMIT_NPROC test uses): the checkout may live
//! under a home directory those users cannot reach.
#![allow(dead_code)]

use super::{TempDir, skip, tini_rs};
use std::path::{Path, PathBuf};

/// Debian's tini (the `tini` package), built static: the control.
pub const TINI_STATIC: &str = "/usr/bin/tini-static";

pub struct Reachable {
    pub dir: TempDir,
}

impl Reachable {
    /// tini-rs, and tini-static when it is installed.
    pub fn new(tag: &str) -> Reachable {
        // /var/tmp rather than /tmp: a setuid copy must work there, and
        // some systems mount /tmp nosuid (a tmpfs on Debian 13).
        let dir = TempDir::new(tag);
        let dir = match Path::new("/var/tmp").is_dir() {
            true => {
                let path = Path::new("/var/tmp").join(dir.0.file_name().expect("a temp dir name"));
                drop(dir);
                std::fs::create_dir_all(&path).expect("create a dir in /var/tmp");
                TempDir(path)
            }
            false => dir,
        };
        set_mode(&dir.0, 0o755);
        copy(Path::new(tini_rs()), &dir.file("tini-rs"));
        if Path::new(TINI_STATIC).exists() {
            copy(Path::new(TINI_STATIC), &dir.file("tini-static"));
        }
        Reachable { dir }
    }

    /// Another program, copied beside them.
    pub fn add(&self, program: &Path) -> PathBuf {
        let name = program.file_name().expect("a program's file name");
        let copy_path = self.dir.0.join(name);
        copy(program, &copy_path);
        copy_path
    }

    pub fn tini_rs(&self) -> PathBuf {
        self.dir.file("tini-rs")
    }

    /// tini-rs, and the control when it is installed (else a skip, which
    /// fails under CI).
    pub fn with_control(&self, test: &str) -> Vec<PathBuf> {
        let control = self.dir.file("tini-static");
        if control.exists() {
            vec![self.tini_rs(), control]
        } else {
            skip(
                test,
                "the control /usr/bin/tini-static is missing (tests/run.sh installs Debian's tini)",
            );
            vec![]
        }
    }

    /// A directory inside, writable by every user (for marker files).
    pub fn shared_dir(&self, name: &str) -> PathBuf {
        let path = self.dir.file(name);
        std::fs::create_dir_all(&path).expect("create a shared directory");
        set_mode(&path, 0o777);
        path
    }
}

/// tini-rs where cargo built it, and the control where Debian installs it
/// when it is there (else a skip, which fails under CI): for tests that
/// run both as root.
pub fn tini_rs_and_control(test: &str) -> Vec<&'static str> {
    if Path::new(TINI_STATIC).exists() {
        vec![tini_rs(), TINI_STATIC]
    } else {
        skip(
            test,
            "the control /usr/bin/tini-static is missing (tests/run.sh installs Debian's tini)",
        );
        vec![]
    }
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// Copies a program with cp(1), never in this process: a descriptor open
/// for writing here would be inherited by whatever another test thread
/// forks meanwhile, and exec of the copy would then fail with ETXTBSY
/// until that child execs.
fn copy(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp")
        .arg(from)
        .arg(to)
        .status()
        .expect("run cp");
    assert!(status.success(), "cp {} {}", from.display(), to.display());
}
