//! The two numbers a process's end is told in: the kernel's raw wait status
//! of a reaped process, and the exit code tini-rs itself reports. Each has
//! its own type, so neither is mistaken for the other or for a signal.

use std::fmt;

/// A raw wait status as waitpid(2) reports it: how a process ended (exit
/// code or killing signal), still packed as the kernel packs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitStatus(i32);

impl WaitStatus {
    /// Wraps the value waitpid wrote.
    pub fn from_raw(raw: i32) -> WaitStatus {
        WaitStatus(raw)
    }

    /// The status as an exit code: the code itself, or 128+S when signal S
    /// ended the process (the shell's convention, and tini's).
    pub fn exit_code(self) -> ExitCode {
        if libc::WIFEXITED(self.0) {
            ExitCode(libc::WEXITSTATUS(self.0) as u8)
        } else if libc::WIFSIGNALED(self.0) {
            // Signals go up to 64: 128+64 still fits.
            ExitCode((128 + libc::WTERMSIG(self.0)) as u8)
        } else {
            ExitCode::FAILURE
        }
    }

    /// The signal that killed the process, if one did.
    pub fn killing_signal(self) -> Option<i32> {
        libc::WIFSIGNALED(self.0).then(|| libc::WTERMSIG(self.0))
    }

    /// The kernel wrote a core when the signal killed it.
    pub fn core_dumped(self) -> bool {
        libc::WIFSIGNALED(self.0) && libc::WCOREDUMP(self.0)
    }
}

impl fmt::LowerHex for WaitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

/// An exit code, 0..=255: what tini-rs exits with, or what a child's end
/// means (see [`WaitStatus::exit_code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitCode(u8);

impl ExitCode {
    pub const SUCCESS: ExitCode = ExitCode(0);
    /// A usage or set-up error, a lost status, a program that failed to
    /// start for any reason but the two below.
    pub const FAILURE: ExitCode = ExitCode(1);
    /// The program was found but cannot be executed (or is a directory).
    pub const NOT_EXECUTABLE: ExitCode = ExitCode(126);
    /// The program was not found.
    pub const NOT_FOUND: ExitCode = ExitCode(127);
    /// dumb-init mode: the program could not be started, for any reason.
    pub const EXEC_FAILED_DUMB_INIT: ExitCode = ExitCode(2);

    pub fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for ExitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_of_wait_statuses() {
        // Packed as the kernel packs them: code << 8, or the signal number.
        let code = |raw| WaitStatus::from_raw(raw).exit_code().get();
        assert_eq!(code(3 << 8), 3);
        assert_eq!(code(255 << 8), 255);
        assert_eq!(code(libc::SIGTERM), 143);
        assert_eq!(code(64), 192);
        // Stopped (0x7f low byte): not an end, so not a code of its own.
        assert_eq!(code(0x137f), 1);
    }
}
