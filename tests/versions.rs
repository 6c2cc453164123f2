//! One version everywhere a user reads it: Cargo.toml, `tini-rs --version`,
//! the newest CHANGELOG.md entry, the Debian changelog (its upstream part;
//! scripts/release.sh stamps the package with it, and tests/package.sh
//! checks the built .deb) and the man page's title line.

mod common;

use std::process::Command;

fn repo_file(path: &str) -> String {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("cannot read {full}: {e}"))
}

/// `version = "X"` of Cargo.toml's `[package]` table, read from the file
/// itself rather than from what cargo compiled in.
fn cargo_toml_version() -> String {
    let text = repo_file("Cargo.toml");
    text.lines()
        .skip_while(|l| l.trim() != "[package]")
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .find_map(|l| {
            let value = l.trim().strip_prefix("version")?.trim_start();
            Some(
                value
                    .strip_prefix('=')?
                    .trim()
                    .trim_matches('"')
                    .to_string(),
            )
        })
        .expect("Cargo.toml [package] has a version")
}

/// `tini-rs version X` or `tini-rs version X - git.HASH` -> X.
fn binary_version() -> String {
    let out = Command::new(common::tini_rs())
        .arg("--version")
        .output()
        .expect("run tini-rs --version");
    assert!(out.status.success(), "--version failed: {out:?}");
    let line = String::from_utf8(out.stdout).expect("UTF-8");
    let rest = line
        .trim_end()
        .strip_prefix("tini-rs version ")
        .unwrap_or_else(|| panic!("unexpected --version line {line:?}"));
    let (version, tail) = rest.split_once(" - ").unwrap_or((rest, ""));
    // Docker reads the tail as git.HASH; nothing else may stand there.
    assert!(
        tail.is_empty()
            || tail
                .strip_prefix("git.")
                .is_some_and(|h| h.len() == 7 && h.bytes().all(|b| b.is_ascii_hexdigit())),
        "the --version tail {tail:?} is not git.HASH"
    );
    version.to_string()
}

/// The first `## [X]` heading of CHANGELOG.md that names a version (an
/// `[Unreleased]` heading without one is skipped).
fn changelog_version() -> String {
    repo_file("CHANGELOG.md")
        .lines()
        .filter_map(|l| l.strip_prefix("## ["))
        .filter_map(|l| l.split_once(']').map(|(v, _)| v.to_string()))
        .find(|v| !v.eq_ignore_ascii_case("unreleased"))
        .expect("CHANGELOG.md has a '## [VERSION]' entry")
}

/// `tini-rs (X-R) ...` on the first line of packaging/debian/changelog -> X.
fn debian_upstream_version() -> String {
    let text = repo_file("packaging/debian/changelog");
    let first = text.lines().next().unwrap_or("");
    let full = first
        .strip_prefix("tini-rs (")
        .and_then(|r| r.split_once(')'))
        .map(|(v, _)| v)
        .unwrap_or_else(|| panic!("unexpected Debian changelog line {first:?}"));
    // The Debian revision follows the last '-'.
    full.rsplit_once('-').map_or(full, |(up, _)| up).to_string()
}

/// `.TH TINI-RS 1 DATE "tini-rs X" ...` -> X.
fn man_page_version() -> String {
    let text = repo_file("docs/tini-rs.1");
    let th = text
        .lines()
        .find(|l| l.starts_with(".TH "))
        .expect("docs/tini-rs.1 has a .TH line");
    th.split('"')
        .find_map(|part| part.strip_prefix("tini-rs "))
        .unwrap_or_else(|| panic!("no \"tini-rs VERSION\" in {th:?}"))
        .to_string()
}

#[test]
fn every_place_names_the_same_version() {
    let cargo = cargo_toml_version();
    assert_eq!(
        cargo,
        env!("CARGO_PKG_VERSION"),
        "Cargo.toml as cargo read it"
    );
    for (place, version) in [
        ("tini-rs --version", binary_version()),
        ("CHANGELOG.md's newest entry", changelog_version()),
        ("packaging/debian/changelog", debian_upstream_version()),
        ("docs/tini-rs.1's .TH line", man_page_version()),
    ] {
        assert_eq!(version, cargo, "{place} says {version}, Cargo.toml {cargo}");
    }
}
