//! systemd's socket activation through tini-rs: the sockets come with
//! `LISTEN_PID` naming the process they are for. When that is tini-rs, the
//! main child must see its own pid there (or `sd_listen_fds()` refuses the
//! sockets); any other value, or none, reaches it untouched.

mod common;

use common::*;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Runs `prelude; exec tini-rs -s -- sh -c 'echo ...'` and returns what the
/// child printed: its `LISTEN_PID` (or `unset`), its pid, its `LISTEN_FDS`,
/// and tini-rs's pid.
fn child_view(prelude: &str) -> Vec<String> {
    let script = format!(
        "{prelude}; echo $$; exec {tini} -s -- sh -c 'echo ${{LISTEN_PID-unset}} $$ ${{LISTEN_FDS-unset}}'",
        tini = tini_rs()
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script]);
    let (code, out, err) = run(cmd, LIMIT);
    assert_eq!(code, 0, "stderr: {err}");
    out.split_whitespace().map(str::to_string).collect()
}

#[test]
fn listen_pid_naming_tini_rs_becomes_the_childs_own_pid() {
    let words = child_view("export LISTEN_PID=$$ LISTEN_FDS=1");
    let [tini_pid, listen_pid, child_pid, listen_fds] = &words[..] else {
        panic!("unexpected output {words:?}");
    };
    assert_ne!(tini_pid, child_pid);
    assert_eq!(listen_pid, child_pid, "LISTEN_PID must name the child");
    assert_eq!(listen_fds, "1", "LISTEN_FDS passes untouched");
}

#[test]
fn any_other_listen_pid_or_none_passes_untouched() {
    let words = child_view("export LISTEN_PID=$(($$ + 1)) LISTEN_FDS=2");
    let tini_pid: u32 = words[0].parse().expect("a pid");
    assert_eq!(words[1], (tini_pid + 1).to_string());
    assert_eq!(words[3], "2");
    let words = child_view("export LISTEN_PID=$$x");
    assert_eq!(words[1], format!("{}x", words[0]), "not a pid: untouched");
    let words = child_view("unset LISTEN_PID LISTEN_FDS");
    assert_eq!((&*words[1], &*words[3]), ("unset", "unset"));
}

/// End to end: a listening socket on descriptor 3 for tini-rs; a Python
/// server behind it checks `LISTEN_PID` as `sd_listen_fds()` does and
/// serves a connection on the socket. Meanwhile tini-rs itself no longer
/// holds the socket, and /proc shows the child's environment.
#[test]
fn a_socket_activated_server_accepts_through_tini_rs() {
    let dir = TempDir::new("socket-activation");
    let path = dir.file("socket");
    let listener = UnixListener::bind(&path).expect("bind a unix socket");
    let server = r#"
import os, socket, sys
if os.environ.get("LISTEN_PID") != str(os.getpid()) or os.environ.get("LISTEN_FDS") != "1":
    sys.exit("LISTEN_PID/LISTEN_FDS are not for this process")
conn, _ = socket.socket(fileno=3).accept()
conn.sendall(b"%d\n" % os.getpid())
conn.recv(1)
"#;
    let script = format!(
        "export LISTEN_PID=$$ LISTEN_FDS=1; exec {tini} -s -- {python} -c '{server}'",
        tini = tini_rs(),
        python = python3(),
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script]);
    let fd = listener.as_raw_fd();
    // SAFETY: dup2 and fcntl are async-signal-safe; the listener stays
    // open in the parent until the spawn has returned. The copy on 3 has no
    // CLOEXEC; dup2 onto itself would keep it, so then it is cleared.
    unsafe {
        cmd.pre_exec(move || {
            let rc = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut tini = Running::start(cmd);
    drop(listener);

    let mut conn = UnixStream::connect(&path).expect("connect to the activated socket");
    conn.set_read_timeout(Some(LIMIT)).expect("set a timeout");
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while byte[0] != b'\n' {
        match conn.read(&mut byte) {
            Ok(1) => line.push(byte[0]),
            other => panic!("the server did not answer: {other:?}; got {line:?}"),
        }
    }
    let server_pid: i32 = String::from_utf8_lossy(&line)
        .trim()
        .parse()
        .expect("the server's pid");
    assert_eq!(ProcStat::of(server_pid).map(|s| s.ppid), Some(tini.pid()));
    let environ = std::fs::read(format!("/proc/{server_pid}/environ")).expect("read environ");
    let wanted = format!("LISTEN_PID={server_pid}");
    assert!(
        environ.split(|&b| b == 0).any(|e| e == wanted.as_bytes()),
        "the server's environment lacks {wanted}"
    );
    // tini-rs lets go of it right after the spawn; bounded, not assumed.
    let mut tini_fds = Vec::new();
    let let_go = wait_until(LIMIT, || {
        tini_fds = std::fs::read_dir(format!("/proc/{}/fd", tini.pid()))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .map(|t| t.to_string_lossy().into_owned())
            .collect::<Vec<_>>();
        !tini_fds.iter().any(|t| t.starts_with("socket:"))
    });
    assert!(let_go, "tini-rs still holds a socket: {tini_fds:?}");

    conn.write_all(b"x").expect("tell the server to finish");
    assert_eq!(tini.exit_code(LIMIT), 0);
}
