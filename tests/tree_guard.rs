//! Guards on the tree itself: what a newcomer's first read would catch
//! must be caught here first. A merge that left conflict markers behind
//! (README.md once carried `<<<<<<< HEAD` ... `>>>>>>> apps` for weeks)
//! fails this test, in any file of the crate.

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Directories that are not the project's own text: build output and git's
/// store.
const NOT_OURS: [&str; 2] = ["target", ".git"];

fn files_under(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
        let path = entry.path();
        let name = entry.file_name();
        let file_type = entry
            .file_type()
            .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()));
        if file_type.is_dir() {
            if !NOT_OURS.iter().any(|n| name == *n) {
                files_under(&path, found);
            }
        } else if file_type.is_file() {
            found.push(path);
        }
    }
}

/// The three markers git writes into a conflicted file, each at the start
/// of a line: built here so that this file does not hold them itself.
fn conflict_marker(line: &str) -> bool {
    let ours = "<".repeat(7);
    let theirs = ">".repeat(7);
    let middle = "=".repeat(7);
    line.starts_with(&format!("{ours} "))
        || line.starts_with(&format!("{theirs} "))
        || line == ours
        || line == theirs
        || line.trim_end() == middle
}

fn conflict_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| conflict_marker(l))
        .map(|(i, _)| i + 1)
        .collect()
}

#[test]
fn no_file_holds_merge_conflict_markers() {
    let mut files = Vec::new();
    files_under(Path::new(ROOT), &mut files);
    assert!(
        files.iter().any(|f| f.ends_with("README.md")),
        "the walk found no README.md under {ROOT}: it looked in the wrong place"
    );
    let mut debris = Vec::new();
    for file in &files {
        // Binary files (images, tarballs) are not read as text.
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in conflict_lines(&text) {
            debris.push(format!("{}:{line}", file.display()));
        }
    }
    assert!(
        debris.is_empty(),
        "merge-conflict markers left in the tree:\n{}",
        debris.join("\n")
    );
}

#[test]
fn the_marker_check_sees_each_marker() {
    let ours = "<".repeat(7);
    let theirs = ">".repeat(7);
    let middle = "=".repeat(7);
    let text = format!("a\n{ours} HEAD\nb\n{middle}\nc\n{theirs} apps\nd\n");
    assert_eq!(conflict_lines(&text), vec![2, 4, 6]);
    // A Markdown table rule or a heading underline of another length is not
    // a marker.
    assert!(conflict_lines("|---|---|\nTitle\n=====\n").is_empty());
}
