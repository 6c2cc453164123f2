//! The Docker and podman command lines the container tests drive: an
//! engine wrapper whose every command is bounded in time, and named
//! containers that are removed when their guard drops, pass or fail.
//! `tests/container.rs` (the fixture image, podman stores) and
//! `tests/applications.rs` (real daemons) share it.

use super::{TempDir, run, wait_until};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Any one engine command (run, stop, build...) must end within this.
pub const CLI_LIMIT: Duration = Duration::from_secs(90);
/// `docker stop -t`: the engine's SIGKILL would come after this.
pub const STOP_TIMEOUT_SECS: u64 = 20;

/// A FROM scratch image has no dynamic loader: refuse what needs one, with
/// a message that says so, instead of the engine's "no such file".
pub fn check_static(path: &Path) -> Result<(), String> {
    let elf = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let u16_at = |o: usize| {
        elf.get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as usize)
    };
    if elf.get(..5) != Some(b"\x7fELF\x02") {
        return Err(format!("{} is not a 64-bit ELF file", path.display()));
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return Err(format!("{}: truncated ELF header", path.display()));
    };
    const PT_INTERP: u32 = 3;
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let Some(kind) = elf.get(at..at + 4) else {
            return Err(format!("{}: truncated program headers", path.display()));
        };
        if u32::from_le_bytes([kind[0], kind[1], kind[2], kind[3]]) == PT_INTERP {
            return Err(format!(
                "{} is dynamically linked; build it with \
                 RUSTFLAGS='-C target-feature=+crt-static -C relocation-model=static' (busybox: apt-get install busybox-static)",
                path.display()
            ));
        }
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Kind {
    Docker,
    Podman,
}

/// One engine's command line: the program, its global options, environment,
/// and the options every `run` gets.
pub struct Engine {
    pub kind: Kind,
    pub program: String,
    pub global: Vec<String>,
    pub envs: Vec<(String, String)>,
    pub run_opts: Vec<String>,
    /// podman only: its private store, cleaned up on drop.
    pub store: Option<TempDir>,
}

impl Engine {
    /// Builds docker/fixture/Dockerfile (the static tini-rs and busybox, FROM
    /// scratch) as `tag`, from a context laid out in a temp dir.
    pub fn build_fixture(&self, tini: &Path, tag: &str) -> Result<(), String> {
        let busybox = PathBuf::from(
            std::env::var_os("TINI_RS_BUSYBOX").unwrap_or_else(|| "/bin/busybox".into()),
        );
        check_static(&busybox).map_err(|e| format!("busybox: {e}"))?;
        let ctx = TempDir::new("fixture");
        let io = |what: &str, e: std::io::Error| format!("fixture context: {what}: {e}");
        let dockerfile = Path::new(env!("CARGO_MANIFEST_DIR")).join("docker/fixture/Dockerfile");
        std::fs::copy(&dockerfile, ctx.file("Dockerfile")).map_err(|e| io("Dockerfile", e))?;
        let rootfs = ctx.file("rootfs");
        for dir in ["bin", "tmp"] {
            std::fs::create_dir_all(rootfs.join(dir)).map_err(|e| io(dir, e))?;
        }
        std::fs::copy(tini, rootfs.join("tini-rs")).map_err(|e| io("tini-rs", e))?;
        std::fs::copy(&busybox, rootfs.join("bin/busybox")).map_err(|e| io("busybox", e))?;
        let mut list_cmd = Command::new(rootfs.join("bin/busybox"));
        list_cmd.arg("--list");
        let (code, list, err) = run(list_cmd, Duration::from_secs(10));
        if code != 0 {
            return Err(format!("busybox --list failed: {err}"));
        }
        for applet in list.split_whitespace().filter(|a| *a != "busybox") {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))
                .map_err(|e| io(applet, e))?;
        }
        let ctx_path = ctx.0.to_string_lossy().into_owned();
        let (code, out, err) = self.exec(&["build", "-q", "-t", tag, &ctx_path]);
        if code != 0 {
            return Err(format!("{:?} build failed:\n{out}\n{err}", self.kind));
        }
        Ok(())
    }

    pub fn cmd<S: AsRef<str>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.global).args(args.iter().map(AsRef::as_ref));
        cmd.envs(self.envs.iter().map(|(k, v)| (k, v)));
        cmd.stdin(std::process::Stdio::null());
        cmd
    }

    /// Runs an engine command to its end (bounded): (code, stdout, stderr).
    pub fn exec<S: AsRef<str>>(&self, args: &[S]) -> (i32, String, String) {
        run(self.cmd(args), CLI_LIMIT)
    }

    /// Runs an engine command that must succeed; returns its stdout.
    pub fn ok<S: AsRef<str>>(&self, args: &[S]) -> String {
        let (code, out, err) = self.exec(args);
        let line: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        assert_eq!(code, 0, "{} {line:?} failed:\n{out}\n{err}", self.program);
        out
    }

    /// `rm -f` that does not wait for the stop timeout.
    pub fn remove(&self, name: &str) {
        let args: &[&str] = match self.kind {
            Kind::Docker => &["rm", "-f", name],
            Kind::Podman => &["rm", "-f", "-t", "0", name],
        };
        let _ = self.exec(args);
    }

    /// A container name unique across tests and test processes; the guard
    /// removes the container (if any) when the test ends, pass or fail.
    pub fn container(&self, tag: &str) -> Container<'_> {
        Container {
            engine: self,
            name: unique_name(tag),
        }
    }

    /// `inspect -f FORMAT NAME` of a container, trimmed.
    pub fn inspect(&self, name: &str, format: &str) -> String {
        self.ok(&["inspect", "-f", format, name]).trim().to_string()
    }
}

/// A name unique across tests and test processes, for a container or pod.
pub fn unique_name(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("tini-rs-{tag}-{}-{n}", std::process::id())
}

impl Drop for Engine {
    fn drop(&mut self) {
        let Some(store) = &self.store else { return };
        let _ = self.exec(&["rm", "-a", "-f", "-t", "0"]);
        cleanup_store(&store.0);
    }
}

/// A named container; removed (killed first) on drop.
pub struct Container<'e> {
    pub engine: &'e Engine,
    pub name: String,
}

impl Container<'_> {
    /// `run --name NAME <engine run options> ARGS...`, to its end.
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let mut line = vec!["run", "--name", &self.name];
        line.extend(self.engine.run_opts.iter().map(String::as_str));
        line.extend_from_slice(args);
        self.engine.exec(&line)
    }

    /// `run -d`: starts the container in the background.
    pub fn start(&self, args: &[&str]) {
        let mut line = vec!["-d"];
        line.extend_from_slice(args);
        let (code, out, err) = self.run(&line);
        assert_eq!(code, 0, "cannot start {}:\n{out}\n{err}", self.name);
    }

    pub fn logs(&self) -> String {
        let (_, out, err) = self.engine.exec(&["logs", &self.name]);
        out + &err
    }

    /// Waits (bounded) until the container's output contains `text`.
    pub fn wait_for_log(&self, text: &str) {
        let found = wait_until(Duration::from_secs(30), || self.logs().contains(text));
        assert!(
            found,
            "{}: no {text:?} in its output:\n{}",
            self.name,
            self.logs()
        );
    }

    pub fn inspect(&self, format: &str) -> String {
        self.engine.inspect(&self.name, format)
    }

    /// `stop -t STOP_TIMEOUT_SECS`; returns how long it took.
    pub fn stop(&self) -> Duration {
        let timeout = STOP_TIMEOUT_SECS.to_string();
        let start = Instant::now();
        self.engine.ok(&["stop", "-t", &timeout, &self.name]);
        start.elapsed()
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        self.engine.remove(&self.name);
    }
}

/// The Docker engine at `host` (`unix://DIR/docker.sock`), checked to
/// answer, with the options every test's `run` gets: no network.
pub fn docker_engine(host: &str) -> Result<Engine, String> {
    let program = std::env::var("TINI_RS_DOCKER_CLI").unwrap_or_else(|_| {
        if Path::new("/usr/bin/docker").exists() {
            "/usr/bin/docker"
        } else {
            "docker"
        }
        .to_string()
    });
    let engine = Engine {
        kind: Kind::Docker,
        program,
        global: vec!["-H".into(), host.to_string()],
        // The classic builder: FROM scratch needs nothing else.
        envs: vec![("DOCKER_BUILDKIT".into(), "0".into())],
        run_opts: vec!["--network".into(), "none".into()],
        store: None,
    };
    let (code, out, err) = engine.exec(&["info", "--format", "{{.ServerVersion}}"]);
    if code != 0 || out.trim().is_empty() {
        return Err(format!(
            "no Docker engine answers at {host:?}:\n{out}\n{err}"
        ));
    }
    Ok(engine)
}

pub fn which(program: &str) -> Result<String, ()> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .map(|p| p.to_string_lossy().into_owned())
        .ok_or(())
}

/// After podman: its conmon monitors and `container cleanup` helpers may
/// still run for a moment (they name the store in their argv); let them end,
/// kill what does not, then undo the mounts podman left under the store.
pub fn cleanup_store(dir: &Path) {
    let needle = dir.to_string_lossy().into_owned();
    let ours = || -> Vec<i32> {
        super::processes()
            .into_iter()
            .map(|p| p.pid)
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).contains(&needle))
                    .unwrap_or(false)
            })
            .collect()
    };
    if !wait_until(Duration::from_secs(10), || ours().is_empty()) {
        for pid in ours() {
            // SAFETY: kill(2) to a podman helper of this test's own store.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        wait_until(Duration::from_secs(5), || ours().is_empty());
    }
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut points: Vec<String> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(1))
        .map(|m| m.replace("\\040", " "))
        .filter(|m| m.starts_with(&needle))
        .collect();
    points.sort_by(|a, b| b.cmp(a)); // deepest first
    for point in points {
        if let Ok(c) = std::ffi::CString::new(point) {
            // SAFETY: a NUL-terminated path; detaching a mount of our own store.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}
