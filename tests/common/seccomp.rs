//! Runs a program with some system calls failing, the way a container's
//! seccomp profile (or an old kernel) makes them fail: the test binary
//! itself, started as `<test binary> --tini-rs-seccomp ERRNO NAME[,NAME] PROGRAM ARGS...`,
//! installs a seccomp filter that answers the named calls with ERRNO and
//! execs PROGRAM. The filter is inherited by everything PROGRAM starts.
//! `NAME:ARG` refuses the call only when its first argument is ARG
//! (`prctl:36` is `prctl(PR_SET_CHILD_SUBREAPER, ...)` alone).
//!
//! Like the agent, a constructor in `.init_array` recognises the flag before
//! the test harness starts, so the process is still single-threaded.
#![allow(dead_code)]

use std::ffi::{CString, OsString};

/// argv[1] that turns the test binary into the seccomp proxy.
pub const FLAG: &str = "--tini-rs-seccomp";

#[used]
#[unsafe(link_section = ".init_array")]
static SECCOMP_ENTRY: extern "C" fn() = seccomp_entry;

extern "C" fn seccomp_entry() {
    let Some(args) = crate::common::helper_args(FLAG) else {
        return;
    };
    let code = match args.as_slice() {
        [errno, names, program @ ..] if !program.is_empty() => {
            let program: Vec<&[u8]> = program.iter().map(Vec::as_slice).collect();
            run(errno, names, &program)
        }
        _ => 95,
    };
    // SAFETY: _exit ends the process at once; nothing to clean up.
    unsafe { libc::_exit(code) }
}

fn syscall_number(name: &[u8]) -> Option<libc::c_long> {
    Some(match name {
        b"pidfd_open" => libc::SYS_pidfd_open,
        b"wait4" => libc::SYS_wait4,
        b"waitid" => libc::SYS_waitid,
        b"close_range" => libc::SYS_close_range,
        b"clone3" => libc::SYS_clone3,
        b"pidfd_send_signal" => libc::SYS_pidfd_send_signal,
        b"rt_sigtimedwait" => libc::SYS_rt_sigtimedwait,
        b"prctl" => libc::SYS_prctl,
        b"kill" => libc::SYS_kill,
        b"statx" => libc::SYS_statx,
        _ => return None,
    })
}

/// The kernel's audit architecture of this build (seccomp_data.arch), as
/// linux/audit.h makes it: the ELF machine number, with a bit for 64-bit
/// and one for little-endian.
const AUDIT_ARCH: u32 = ELF_MACHINE
    | if cfg!(target_pointer_width = "64") {
        0x8000_0000
    } else {
        0
    }
    | if cfg!(target_endian = "little") {
        0x4000_0000
    } else {
        0
    };

/// `e_machine` of this build's ELF files (linux/elf-em.h).
#[cfg(target_arch = "x86_64")]
const ELF_MACHINE: u32 = 62;
#[cfg(target_arch = "x86")]
const ELF_MACHINE: u32 = 3;
#[cfg(target_arch = "aarch64")]
const ELF_MACHINE: u32 = 183;
#[cfg(target_arch = "arm")]
const ELF_MACHINE: u32 = 40;
#[cfg(target_arch = "powerpc64")]
const ELF_MACHINE: u32 = 21;
#[cfg(target_arch = "s390x")]
const ELF_MACHINE: u32 = 22;
#[cfg(target_arch = "mips64")]
const ELF_MACHINE: u32 = 8;
#[cfg(target_arch = "riscv64")]
const ELF_MACHINE: u32 = 243;

fn statement(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump_if_equal(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    }
}

/// Returns only on failure (an exit code); on success the program runs.
fn run(errno: &[u8], names: &[u8], program: &[&[u8]]) -> i32 {
    let Some(errno) = std::str::from_utf8(errno)
        .ok()
        .and_then(|e| e.parse::<u32>().ok())
    else {
        return 90;
    };
    // Each rule: a call, and the first argument it must have (if any).
    let rule = |text: &[u8]| -> Option<(libc::c_long, Option<u32>)> {
        let mut parts = text.splitn(2, |&b| b == b':');
        let nr = syscall_number(parts.next()?)?;
        let arg = match parts.next() {
            None => None,
            Some(arg) => Some(std::str::from_utf8(arg).ok()?.parse::<u32>().ok()?),
        };
        Some((nr, arg))
    };
    let Some(rules) = names
        .split(|&b| b == b',')
        .map(rule)
        .collect::<Option<Vec<_>>>()
    else {
        return 91;
    };
    // seccomp_data: nr at offset 0, arch at offset 4, args[0] at 16 (its
    // low 32 bits first: x86_64 and aarch64 are little-endian).
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    let mut filter = vec![
        statement(load, 4),
        jump_if_equal(AUDIT_ARCH, 1, 0),
        statement(ret, libc::SECCOMP_RET_ALLOW),
        statement(load, 0),
    ];
    for (nr, arg) in rules {
        match arg {
            None => {
                filter.push(jump_if_equal(nr as u32, 0, 1));
                filter.push(statement(ret, libc::SECCOMP_RET_ERRNO | errno));
            }
            Some(arg) => {
                // Not this call: skip the rule's other three statements.
                filter.push(jump_if_equal(nr as u32, 0, 3));
                filter.push(statement(load, 16));
                filter.push(jump_if_equal(arg, 0, 1));
                filter.push(statement(ret, libc::SECCOMP_RET_ERRNO | errno));
                // The accumulator holds the argument now: load nr again.
                filter.push(statement(load, 0));
            }
        }
    }
    filter.push(statement(ret, libc::SECCOMP_RET_ALLOW));
    let program_text = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: prctl with a valid, complete BPF program that outlives the call.
    let installed = unsafe {
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
            && libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &program_text as *const libc::sock_fprog,
            ) == 0
    };
    if !installed {
        return 92;
    }
    let Ok(argv) = program
        .iter()
        .map(|a| CString::new(*a))
        .collect::<Result<Vec<_>, _>>()
    else {
        return 93;
    };
    let mut pointers: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    pointers.push(std::ptr::null());
    // SAFETY: NUL-terminated strings and a NULL-terminated array.
    unsafe { libc::execv(pointers[0], pointers.as_ptr()) };
    94
}

/// The command line that runs `program` with the calls `names` failing with
/// `errno`.
pub fn with_failing_syscalls(errno: i32, names: &str, program: &[OsString]) -> Vec<OsString> {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut argv = vec![
        exe.into_os_string(),
        FLAG.into(),
        errno.to_string().into(),
        names.into(),
    ];
    argv.extend(program.iter().cloned());
    argv
}
