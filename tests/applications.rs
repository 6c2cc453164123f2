//! Real applications from Debian's packages, under tini-rs as PID 1 of a
//! real Docker container, stopped the way users stop them: `docker stop`
//! (SIGTERM to PID 1, SIGKILL after the timeout). Each test looks at what
//! the application left on disk or delivered afterwards, and each "with the
//! option it is kept" has its "without, it is lost" half, so both the
//! option's effect and the test's power to fail are shown.
//!
//! - redis started with `--daemonize yes` by the main child: the key
//!   written after the last save is in the RDB file only with
//!   `--grace-period`;
//! - postgres started with `pg_ctl start` by the main child:
//!   `pg_controldata` says "shut down" only with `--grace-period`, "in
//!   production" (a crash) without; postgres as the main child itself says
//!   "shut down" without it;
//! - nginx as the main child: a slow download in flight when the stop
//!   starts completes whole with `--rewrite 15:3` (SIGQUIT, nginx's graceful
//!   stop) and is cut with SIGTERM (nginx's fast stop);
//! - Python multiprocessing (tests/apps/workers.py): which workers get to
//!   run their own exit path, and the container's exit status.
//!
//! Environment, set by tests/run.sh:
//! - `TINI_RS_DOCKER_HOST`: a private engine (`docker/engine.sh start DIR`);
//! - `TINI_RS_APPS_IMAGE`: the image tests/apps/image.sh built (Debian with
//!   the applications, the static tini-rs at /tini-rs).
//!
//! Without them a test prints SKIPPED, and fails when `CI` is set. Every
//! container has a unique name and is removed by a guard, pass or fail;
//! every wait is bounded; synchronisation is by handshakes (a command that
//! answers, a file that appears), never by sleeping.
mod common;

use common::engine::{Container, Engine, STOP_TIMEOUT_SECS, docker_engine};
use common::{TempDir, wait_until};
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

/// How long an application may take to come up, or a file to appear.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// The engine and the image, or None (skipped) when they are not set up.
fn apps(test: &str) -> Option<(&'static Engine, &'static str)> {
    let (Ok(host), Ok(image)) = (
        std::env::var("TINI_RS_DOCKER_HOST"),
        std::env::var("TINI_RS_APPS_IMAGE"),
    ) else {
        common::skip(
            test,
            "TINI_RS_DOCKER_HOST or TINI_RS_APPS_IMAGE is unset (tests/run.sh sets both; \
             the image: DOCKER_HOST=... tests/apps/image.sh $TINI_RS_STATIC)",
        );
        return None;
    };
    static APPS: OnceLock<Result<(Engine, String), String>> = OnceLock::new();
    let apps = APPS.get_or_init(|| {
        let engine = docker_engine(&host)?;
        let (code, _, err) = engine.exec(&["image", "inspect", "--format", "{{.Id}}", &image]);
        if code != 0 {
            return Err(format!(
                "image {image} is not in the engine at {host}: {err}"
            ));
        }
        Ok((engine, image))
    });
    match apps {
        Ok((engine, image)) => Some((engine, image.as_str())),
        Err(why) => panic!("{test}: {why}"),
    }
}

/// Starts `tini-rs -v TINI_OPTS -- CMD...` as PID 1 of a new container,
/// with `volumes` (`HOST:CONTAINER[:ro]`) mounted.
fn start<'e>(
    (d, image): (&'e Engine, &str),
    tag: &str,
    volumes: &[String],
    tini_opts: &[&str],
    cmd: &[&str],
) -> Container<'e> {
    let c = d.container(tag);
    let mut args: Vec<&str> = Vec::new();
    for v in volumes {
        args.extend(["-v", v.as_str()]);
    }
    args.extend(["--entrypoint", "/tini-rs", image, "-v"]);
    args.extend_from_slice(tini_opts);
    args.push("--");
    args.extend_from_slice(cmd);
    c.start(&args);
    c
}

/// `docker exec NAME CMD...`: (exit code, stdout + stderr).
fn exec(c: &Container, cmd: &[&str]) -> (i32, String) {
    let mut line = vec!["exec", c.name.as_str()];
    line.extend_from_slice(cmd);
    let (code, out, err) = c.engine.exec(&line);
    (code, out + &err)
}

/// A volume argument for a host directory.
fn volume(dir: &Path, at: &str) -> String {
    format!("{}:{at}", dir.display())
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

// ---------------------------------------------------------------------------
// redis, daemonized by the main child.

/// Saved by an explicit SAVE before the stop: on disk in both halves, which
/// shows the RDB file is there and readable.
const KEY_SAVED_BEFORE: &str = "tini-rs-saved-before";
/// Written after the last save: only a save at shutdown can put it on disk.
const KEY_WRITTEN_AFTER: &str = "tini-rs-written-after";

/// The main child starts redis as a daemon (it forks, the parent exits, the
/// daemon calls setsid and is re-parented to PID 1), then waits. `save
/// "3600 1"`: a save point, so redis saves on SIGTERM, but none that falls
/// due during the test, so nothing but that shutdown save writes the key
/// written after the explicit SAVE. `rdbcompression no`: the keys are
/// stored as plain bytes, so the test can find them in the file.
const REDIS_MAIN: &str = "redis-server --daemonize yes --dir /data --save '3600 1' \
     --rdbcompression no --bind 127.0.0.1 --logfile /data/redis.log; sleep infinity";

/// Runs redis under `tini_opts`, writes the two keys, stops the container;
/// returns the RDB file's bytes after the stop.
fn redis_rdb_after_stop(test: &str, tini_opts: &[&str]) -> Option<Vec<u8>> {
    let apps = apps(test)?;
    let data = TempDir::new("redis");
    let c = start(
        apps,
        "redis",
        &[volume(&data.0, "/data")],
        tini_opts,
        &["sh", "-c", REDIS_MAIN],
    );
    let up = wait_until(READY_WITHIN, || {
        exec(&c, &["redis-cli", "ping"]).1.contains("PONG")
    });
    assert!(up, "redis did not answer PING:\n{}", c.logs());
    for cmd in [
        &["redis-cli", "SET", KEY_SAVED_BEFORE, "1"][..],
        &["redis-cli", "SAVE"],
        &["redis-cli", "SET", KEY_WRITTEN_AFTER, "2"],
    ] {
        let (code, out) = exec(&c, cmd);
        assert!(code == 0 && out.trim() == "OK", "{cmd:?}: {code} {out}");
    }
    let rdb = data.file("dump.rdb");
    let before = std::fs::read(&rdb).expect("SAVE wrote dump.rdb");
    assert!(contains(&before, KEY_SAVED_BEFORE) && !contains(&before, KEY_WRITTEN_AFTER));
    c.stop();
    let logs = c.logs();
    let after = std::fs::read(&rdb).unwrap_or_else(|e| panic!("dump.rdb after the stop: {e}"));
    assert!(
        contains(&after, KEY_SAVED_BEFORE),
        "the RDB file lost the saved key:\n{logs}"
    );
    Some(after)
}

#[test]
fn redis_daemon_saves_its_last_key_on_docker_stop_with_grace_period() {
    let test = "redis_daemon_saves_its_last_key_on_docker_stop_with_grace_period";
    let Some(rdb) = redis_rdb_after_stop(test, &["--grace-period", "5"]) else {
        return;
    };
    assert!(
        contains(&rdb, KEY_WRITTEN_AFTER),
        "with --grace-period redis got SIGTERM and saved on shutdown: the key must be on disk"
    );
}

#[test]
fn redis_daemon_loses_its_last_key_on_docker_stop_without_grace_period() {
    let test = "redis_daemon_loses_its_last_key_on_docker_stop_without_grace_period";
    let Some(rdb) = redis_rdb_after_stop(test, &[]) else {
        return;
    };
    assert!(
        !contains(&rdb, KEY_WRITTEN_AFTER),
        "without --grace-period the daemon dies by SIGKILL with PID 1: no shutdown save"
    );
}

// ---------------------------------------------------------------------------
// postgres, started by `pg_ctl start` from the main child.

/// pg_ctl forks the postmaster into its own session and returns; the main
/// child then waits. The cluster at /srv/pg was made when the image was
/// built (tests/apps/image.sh); unix socket in /tmp, no TCP.
const PG_MAIN: &str = "setpriv --reuid=postgres --regid=postgres --init-groups \
     pg_ctl start -D /srv/pg -l /tmp/postgres.log -o '-k /tmp -c listen_addresses='; \
     sleep infinity";

/// Runs `main` (which starts postgres) under `tini_opts`, writes a table,
/// stops the container; returns pg_controldata's "Database cluster state"
/// afterwards.
fn postgres_state_after_stop(test: &str, tini_opts: &[&str], main: &[&str]) -> Option<String> {
    let apps = apps(test)?;
    let c = start(apps, "pg", &[], tini_opts, main);
    let psql = |sql: &str| exec(&c, &["psql", "-h", "/tmp", "-U", "postgres", "-Atc", sql]);
    let up = wait_until(READY_WITHIN, || psql("SELECT 1").1.trim() == "1");
    assert!(up, "postgres did not answer:\n{}", c.logs());
    let (code, out) = psql("CREATE TABLE stop_test (n int); INSERT INTO stop_test VALUES (42)");
    assert_eq!(code, 0, "{out}");
    assert_eq!(psql("SELECT n FROM stop_test").1.trim(), "42");
    c.stop();
    let state = pg_cluster_state(apps, &c);
    Some(state)
}

/// pg_controldata's "Database cluster state" of the stopped container's
/// /srv/pg: its pg_control is copied out and read in a fresh container of
/// the same image (pg_controldata reads only global/pg_control).
fn pg_cluster_state((d, image): (&Engine, &str), stopped: &Container) -> String {
    let copy = TempDir::new("pg-control");
    std::fs::create_dir(copy.file("global")).expect("mkdir global");
    let from = format!("{}:/srv/pg/global/pg_control", stopped.name);
    let to = copy
        .file("global/pg_control")
        .to_string_lossy()
        .into_owned();
    d.ok(&["cp", &from, &to]);
    let reader = d.container("pg-controldata");
    let mount = format!("{}:/x:ro", copy.0.display());
    let (code, out, err) = reader.run(&["--rm", "-v", &mount, image, "pg_controldata", "/x"]);
    assert_eq!(code, 0, "pg_controldata:\n{out}\n{err}");
    out.lines()
        .find_map(|l| l.strip_prefix("Database cluster state:"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| panic!("no cluster state in pg_controldata's output:\n{out}"))
}

#[test]
fn pg_ctl_postgres_shuts_down_cleanly_on_docker_stop_with_grace_period() {
    let test = "pg_ctl_postgres_shuts_down_cleanly_on_docker_stop_with_grace_period";
    let Some(state) =
        postgres_state_after_stop(test, &["--grace-period", "5"], &["sh", "-c", PG_MAIN])
    else {
        return;
    };
    assert_eq!(state, "shut down");
}

#[test]
fn pg_ctl_postgres_crashes_on_docker_stop_without_grace_period() {
    let test = "pg_ctl_postgres_crashes_on_docker_stop_without_grace_period";
    let Some(state) = postgres_state_after_stop(test, &[], &["sh", "-c", PG_MAIN]) else {
        return;
    };
    assert_eq!(
        state, "in production",
        "without --grace-period the postmaster dies by SIGKILL: next start is crash recovery"
    );
}

/// The control for the two tests above: postgres as the main child itself
/// gets the forwarded SIGTERM (a smart shutdown) and stops cleanly with no
/// grace period: what is lost is only what the main child leaves behind.
#[test]
fn postgres_as_the_main_child_shuts_down_cleanly_without_grace_period() {
    let test = "postgres_as_the_main_child_shuts_down_cleanly_without_grace_period";
    let main = [
        "setpriv",
        "--reuid=postgres",
        "--regid=postgres",
        "--init-groups",
        "postgres",
        "-D",
        "/srv/pg",
        "-k",
        "/tmp",
        "-c",
        "listen_addresses=",
    ];
    let Some(state) = postgres_state_after_stop(test, &[], &main) else {
        return;
    };
    assert_eq!(state, "shut down");
}

// ---------------------------------------------------------------------------
// nginx as the main child, a slow download in flight.

/// 2 MiB at 512 KiB/s: a download of about four seconds.
const DOWNLOAD_BYTES: usize = 2 << 20;
const NGINX_CONF: &str = "worker_processes 1;
pid /tmp/nginx.pid;
error_log stderr notice;
events { worker_connections 64; }
http {
    access_log off;
    server {
        listen 127.0.0.1:8080;
        root /srv/www;
        location / { limit_rate 512k; }
    }
}
";

/// Bytes no compression or chance could fake: xorshift64.
fn payload(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

struct Download {
    /// The client's exit status (curl: 0 whole, 18 cut short).
    client_code: i32,
    client_output: String,
    /// What had arrived when `docker stop` started.
    bytes_at_stop: u64,
    received: Vec<u8>,
    stop_took: Duration,
    nginx_logs: String,
}

/// nginx (`daemon off`, the main child) under `tini_opts`; a client in a
/// second container that shares only nginx's network namespace (the engine
/// has no bridge: loopback is all there is) downloads the big file; once
/// its first bytes are on disk, `docker stop` of nginx's container. The
/// client lives in its own PID namespace, so it outlives nginx's container
/// and reports whatever nginx sent.
fn download_across_stop(test: &str, tini_opts: &[&str]) -> Option<Download> {
    let apps = apps(test)?;
    let (d, image) = apps;
    let www = TempDir::new("nginx-www");
    let conf = TempDir::new("nginx-conf");
    let out = TempDir::new("nginx-out");
    let payload = payload(DOWNLOAD_BYTES);
    std::fs::write(www.file("big.bin"), &payload).expect("write big.bin");
    std::fs::write(www.file("ready.txt"), "ready\n").expect("write ready.txt");
    std::fs::write(conf.file("nginx.conf"), NGINX_CONF).expect("write nginx.conf");
    let nginx = start(
        apps,
        "nginx",
        &[volume(&www.0, "/srv/www:ro"), volume(&conf.0, "/conf:ro")],
        tini_opts,
        &["nginx", "-c", "/conf/nginx.conf", "-g", "daemon off;"],
    );
    let up = wait_until(READY_WITHIN, || {
        exec(&nginx, &["curl", "-sf", "http://127.0.0.1:8080/ready.txt"]).1 == "ready\n"
    });
    assert!(up, "nginx did not serve ready.txt:\n{}", nginx.logs());

    let client = d.container("nginx-client");
    let netns = format!("container:{}", nginx.name);
    let out_volume = volume(&out.0, "/out");
    let got = out.file("big.bin");
    let (client_code, client_output, bytes_at_stop, stop_took) = std::thread::scope(|s| {
        let fetch = s.spawn(|| {
            d.exec(&[
                "run",
                "--name",
                &client.name,
                "--network",
                &netns,
                "-v",
                &out_volume,
                image,
                "curl",
                "-sS",
                "-o",
                "/out/big.bin",
                "http://127.0.0.1:8080/big.bin",
            ])
        });
        let started = wait_until(READY_WITHIN, || {
            std::fs::metadata(&got).is_ok_and(|m| m.len() > 0) || fetch.is_finished()
        });
        let bytes_at_stop = std::fs::metadata(&got).map(|m| m.len()).unwrap_or(0);
        let stop_took = nginx.stop();
        let (code, o, e) = fetch.join().expect("the client thread");
        assert!(started, "the download did not start: curl {code}\n{o}\n{e}");
        (code, o + &e, bytes_at_stop, stop_took)
    });
    let received = std::fs::read(&got).unwrap_or_default();
    assert!(
        bytes_at_stop > 0 && (bytes_at_stop as usize) < payload.len(),
        "the stop must start mid-download: {bytes_at_stop} of {} bytes had arrived",
        payload.len()
    );
    assert_eq!(
        nginx.inspect("{{.State.ExitCode}}"),
        "0",
        "nginx's exit status"
    );
    Some(Download {
        client_code,
        client_output,
        bytes_at_stop,
        received,
        stop_took,
        nginx_logs: nginx.logs(),
    })
}

#[test]
fn nginx_finishes_a_download_in_flight_with_rewrite_15_to_quit() {
    let test = "nginx_finishes_a_download_in_flight_with_rewrite_15_to_quit";
    let Some(dl) = download_across_stop(test, &["--rewrite", "15:3"]) else {
        return;
    };
    let whole = payload(DOWNLOAD_BYTES);
    assert_eq!(
        dl.client_code, 0,
        "curl: {}\nnginx:\n{}",
        dl.client_output, dl.nginx_logs
    );
    assert_eq!(dl.received.len(), whole.len(), "bytes received");
    assert!(dl.received == whole, "the download's content differs");
    // nginx held the stop until the download ended: some 3 of its 4 s were
    // still to go when the stop started.
    assert!(
        dl.stop_took >= Duration::from_secs(2),
        "stop took {:?}, the download {} of {} bytes in",
        dl.stop_took,
        dl.bytes_at_stop,
        whole.len()
    );
    assert!(dl.stop_took < Duration::from_secs(STOP_TIMEOUT_SECS));
}

#[test]
fn nginx_cuts_a_download_in_flight_on_plain_sigterm() {
    let test = "nginx_cuts_a_download_in_flight_on_plain_sigterm";
    let Some(dl) = download_across_stop(test, &[]) else {
        return;
    };
    assert_eq!(
        dl.client_code, 18,
        "curl: partial file expected: {}",
        dl.client_output
    );
    assert!(
        dl.received.len() < DOWNLOAD_BYTES,
        "SIGTERM is nginx's fast stop: the download must be cut, got {} bytes",
        dl.received.len()
    );
}

// ---------------------------------------------------------------------------
// Python multiprocessing: tests/apps/workers.py.

const WORKERS: [&str; 4] = ["daemon1", "daemon2", "joined1", "joined2"];

struct WorkersStop {
    exit_code: String,
    /// The workers that ran their own exit path (wrote NAME.clean).
    clean: Vec<&'static str>,
    logs: String,
}

/// `python3 workers.py MODE /out` as the main child under `tini_opts`,
/// stopped once the four workers run. Inside a container nothing outlives
/// PID 1 (the kernel SIGKILLs the namespace), so "left behind" means: still
/// running when the main child is gone, then killed without running its
/// own clean-up. A worker's NAME.clean file is that clean-up.
fn workers_across_stop(test: &str, mode: &str, tini_opts: &[&str]) -> Option<WorkersStop> {
    let apps = apps(test)?;
    let out = TempDir::new("workers");
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps");
    let c = start(
        apps,
        "workers",
        &[volume(&scripts, "/apps:ro"), volume(&out.0, "/out")],
        tini_opts,
        &["python3", "/apps/workers.py", mode, "/out"],
    );
    let ready = wait_until(READY_WITHIN, || out.file("parent.ready").exists());
    assert!(ready, "workers.py did not start its workers:\n{}", c.logs());
    for w in WORKERS {
        assert!(out.file(&format!("{w}.pid")).exists(), "{w} did not start");
        assert!(!out.file(&format!("{w}.clean")).exists(), "{w} ended early");
    }
    c.stop();
    Some(WorkersStop {
        exit_code: c.inspect("{{.State.ExitCode}}"),
        clean: WORKERS
            .into_iter()
            .filter(|w| out.file(&format!("{w}.clean")).exists())
            .collect(),
        logs: c.logs(),
    })
}

/// A parent without a SIGTERM handler dies at once (143); tini-rs's grace
/// period then sends SIGTERM to its four orphaned workers, and every one
/// runs its clean-up; none needs SIGKILL.
#[test]
fn python_workers_orphaned_by_sigterm_finish_with_grace_period() {
    let test = "python_workers_orphaned_by_sigterm_finish_with_grace_period";
    let Some(r) = workers_across_stop(test, "naive", &["--grace-period", "5"]) else {
        return;
    };
    assert_eq!(
        r.exit_code, "143",
        "the parent died of SIGTERM:\n{}",
        r.logs
    );
    assert_eq!(r.clean, WORKERS, "{}", r.logs);
    assert!(
        r.logs
            .contains("SIGTERM sent to 4, 4 exited by themselves, 0 needed SIGKILL"),
        "tini-rs's shutdown report:\n{}",
        r.logs
    );
}

/// The same parent without a grace period: tini-rs exits with it (143, as
/// tini does) and the kernel SIGKILLs the four workers, none of which ever
/// got a signal it could handle: no clean-up ran.
#[test]
fn python_workers_orphaned_by_sigterm_are_killed_without_grace_period() {
    let test = "python_workers_orphaned_by_sigterm_are_killed_without_grace_period";
    let Some(r) = workers_across_stop(test, "naive", &[]) else {
        return;
    };
    assert_eq!(r.exit_code, "143", "{}", r.logs);
    assert_eq!(r.clean, Vec::<&str>::new(), "{}", r.logs);
}

/// A parent that turns SIGTERM into a stop event and joins its workers
/// leaves no one behind by itself: exit 0, every worker (the daemon ones
/// through multiprocessing's exit handler) ran its clean-up, with no grace
/// period needed.
#[test]
fn python_parent_that_handles_sigterm_stops_every_worker_itself() {
    let test = "python_parent_that_handles_sigterm_stops_every_worker_itself";
    let Some(r) = workers_across_stop(test, "graceful", &[]) else {
        return;
    };
    assert_eq!(r.exit_code, "0", "{}", r.logs);
    assert_eq!(r.clean, WORKERS, "{}", r.logs);
}
