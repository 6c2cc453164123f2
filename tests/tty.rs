//! tini-rs on a terminal (a pseudo-terminal whose master side the test
//! holds, as a terminal emulator would): the main child is the terminal's
//! foreground process group, so it can read what is typed, and Ctrl-C
//! interrupts it.

mod common;

use common::*;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

/// The master side of a pseudo-terminal and everything read from it so far.
struct Terminal {
    master: OwnedFd,
    transcript: Arc<Mutex<Vec<u8>>>,
}

impl Terminal {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.transcript.lock().unwrap()).into_owned()
    }

    /// Waits until the terminal has shown `needle`; returns the transcript.
    fn wait_for(&self, needle: &str) -> String {
        let shown = wait_until(LIMIT, || self.text().contains(needle));
        let text = self.text();
        assert!(shown, "{needle:?} not shown within {LIMIT:?}:\n{text}");
        text
    }

    /// Waits for a whole line starting with `prefix`; returns the rest of it.
    fn line(&self, prefix: &str) -> String {
        let rest = |text: &str| {
            let after = text.split(prefix).nth(1)?;
            after.find('\n').map(|end| after[..end].trim().to_string())
        };
        let shown = wait_until(LIMIT, || rest(&self.text()).is_some());
        let text = self.text();
        assert!(shown, "no line {prefix:?} within {LIMIT:?}:\n{text}");
        rest(&text).unwrap()
    }

    /// Types `bytes`, as a user at the keyboard.
    fn type_in(&self, bytes: &[u8]) {
        // SAFETY: write(2) of a slice we own to a descriptor we own.
        let n = unsafe { libc::write(self.master.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
        assert_eq!(n, bytes.len() as isize);
    }
}

/// Starts tini-rs `args` as a session leader whose controlling terminal
/// is a new pseudo-terminal, with stdin, stdout and stderr on it.
fn start_on_terminal(args: &[&str]) -> (Running, Terminal) {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two descriptors; null name/termios/winsize
    // ask for defaults.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    for fd in [master, slave] {
        // Other tests' children must not inherit either side: a stray slave
        // would keep the terminal open after our processes are gone.
        // SAFETY: fcntl on a descriptor openpty just gave us.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    // SAFETY: openpty just created both; each is owned once from here.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };

    let mut cmd = tini(args);
    cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave));
    // SAFETY: setsid and ioctl are async-signal-safe and allocate nothing.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // `Running::start` drops the command, and with it our copies of the slave.
    let running = Running::start(cmd);

    let transcript = Arc::new(Mutex::new(Vec::new()));
    let reader = master.try_clone().unwrap();
    let sink = Arc::clone(&transcript);
    // Reads until the terminal has no process left on it (EIO).
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: read(2) into a buffer we own, of the size we pass.
            let n = unsafe { libc::read(reader.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                return;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n as usize]);
        }
    });
    (running, Terminal { master, transcript })
}

#[test]
fn the_child_owns_the_terminal_reads_it_and_ctrl_c_interrupts_it() {
    let (mut tini_rs, terminal) =
        start_on_terminal(&["-s", "--", python3(), &script("tty_child.py")]);

    assert_eq!(
        terminal.line("own group: "),
        "True",
        "getpgrp() == getpid()"
    );
    assert_eq!(
        terminal.line("foreground: "),
        "True",
        "tcgetpgrp(0) == getpgrp()"
    );

    terminal.type_in(b"hello there\n");
    terminal.wait_for("you typed <hello there>");

    terminal.wait_for("press Ctrl-C");
    terminal.type_in(b"\x03");
    terminal.wait_for("interrupted");
    assert_eq!(tini_rs.exit_code(LIMIT), 3, "the child's own exit code");
}

/// `cat` keeps SIGINT's default action: Ctrl-C kills it, and tini-rs
/// reports that as 128 + SIGINT.
#[test]
fn ctrl_c_kills_a_child_with_default_sigint_exit_130() {
    let (mut tini_rs, terminal) = start_on_terminal(&["-s", "--", "cat"]);
    // The terminal echoes "ping" once; cat, reading the terminal as its
    // foreground group, writes it again. A background reader would be
    // stopped by SIGTTIN instead.
    terminal.type_in(b"ping\n");
    let shown = wait_until(LIMIT, || terminal.text().matches("ping").count() >= 2);
    assert!(shown, "cat did not echo: {:?}", terminal.text());

    terminal.type_in(b"\x03");
    assert_eq!(tini_rs.exit_code(LIMIT), 128 + libc::SIGINT);
}

/// Without a terminal (stdin a pipe), spawning must not fail over tcsetpgrp.
#[test]
fn no_terminal_is_fine() {
    let mut cmd = Command::new(tini_rs());
    cmd.args(["-s", "--", "sh", "-c", "read x; echo got $x"])
        .stdin(Stdio::piped());
    let mut running = Running::start_captured(cmd);
    {
        use std::io::Write;
        let mut stdin = running.child.stdin.take().unwrap();
        stdin.write_all(b"line\n").unwrap();
    }
    assert_eq!(running.exit_code(LIMIT), 0);
    assert_eq!(running.output(), ("got line\n".to_string(), String::new()));
}
