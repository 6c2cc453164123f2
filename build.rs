//! Records the git commit for `tini-rs --version` (Docker's `docker info`
//! reads the ` - git.HASH` part of its init's version line).
//!
//! Where the commit comes from, first match wins:
//! 1. this crate's own git checkout: `.git` (a directory, or a worktree's
//!    file) right in CARGO_MANIFEST_DIR. Asking git anywhere else would be
//!    wrong: a packaged crate unpacked inside some other repository (cargo's
//!    own `target/package/` check, a vendored copy) would report that
//!    repository's commit.
//! 2. `.cargo_vcs_info.json`, which `cargo package` writes into the crate it
//!    packs, with the commit it was packed from: so a `cargo install` from
//!    the registry still knows its commit.
//! 3. neither: TINI_RS_GIT_COMMIT is left unset and `--version` prints no
//!    git part at all rather than a made-up one.
use std::path::Path;
use std::process::Command;

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".to_string());
    let dir = Path::new(&dir);
    // Only files that exist are named: cargo reruns the script on every
    // build while a named file is missing.
    println!("cargo:rerun-if-changed=build.rs");
    let vcs_info = dir.join(".cargo_vcs_info.json");
    let commit = if dir.join(".git").exists() {
        watch_git_head(dir);
        commit_from_git(dir)
    } else if vcs_info.exists() {
        println!("cargo:rerun-if-changed=.cargo_vcs_info.json");
        std::fs::read_to_string(vcs_info)
            .ok()
            .and_then(|text| commit_from_vcs_info(&text))
    } else {
        None
    };
    if let Some(commit) = commit {
        println!("cargo:rustc-env=TINI_RS_GIT_COMMIT={commit}");
    }
}

/// `git rev-parse --short=7 HEAD` in `dir`; None if git is missing or fails.
fn commit_from_git(dir: &Path) -> Option<String> {
    git(dir, &["rev-parse", "--short=7", "HEAD"]).filter(|c| is_hex(c))
}

/// Rebuild when HEAD moves. In a worktree `.git` is a file, and HEAD and
/// the refs live elsewhere, so git says where.
fn watch_git_head(dir: &Path) {
    // logs/HEAD changes on every commit and checkout, whichever ref moved.
    for name in ["HEAD", "logs/HEAD"] {
        if let Some(p) = git(dir, &["rev-parse", "--git-path", name]) {
            let p = dir.join(p);
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// The `"sha1": "…"` of cargo's `.cargo_vcs_info.json`, cut to 7 digits.
/// A string search is enough for the one flat field this reads, and saves
/// a JSON dependency.
fn commit_from_vcs_info(text: &str) -> Option<String> {
    let rest = &text[text.find("\"sha1\"")? + "\"sha1\"".len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let sha = rest.strip_prefix('"')?.split('"').next()?;
    (sha.len() >= 7 && is_hex(sha)).then(|| sha[..7].to_string())
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}
