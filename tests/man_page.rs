//! The man page (docs/tini-rs.1) against the binary: every option and
//! environment variable that `tini-rs -h` names must be described in the
//! page's OPTIONS or ENVIRONMENT section, and the page must format without
//! a warning. The page may document more than `-h` shows; it must never
//! document less.

mod common;

use common::{skip, tini_rs};
use std::collections::BTreeSet;
use std::process::Command;

const PAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/tini-rs.1");

fn usage_text() -> String {
    let out = Command::new(tini_rs())
        .arg("-h")
        .output()
        .expect("run tini-rs -h");
    assert!(out.status.success(), "tini-rs -h failed: {out:?}");
    String::from_utf8(out.stdout).expect("-h prints UTF-8")
}

/// The lines of the `-h` block that starts with `heading` (e.g.
/// `Options:`), up to the next empty line.
fn usage_block<'a>(usage: &'a str, heading: &str) -> Vec<&'a str> {
    usage
        .lines()
        .skip_while(|l| l.trim() != heading)
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect()
}

/// Options named in `-h`: the first column of each option line of the
/// `Options:` block (`-p SIGNAL`, `-h, --help`), value names left out.
fn options_in_usage(usage: &str) -> BTreeSet<String> {
    usage_block(usage, "Options:")
        .into_iter()
        .filter(|l| l.trim_start().starts_with('-'))
        .flat_map(|l| {
            // The description starts after a run of two or more spaces.
            let column = l.trim_start().split("  ").next().unwrap_or("");
            option_words(column)
        })
        .collect()
}

/// Environment variables named in `-h`: the first word of each line of the
/// `Environment:` block (cut at `=`), and any upper-case word with an
/// underscore anywhere else in the text (`TINI_...`, `RUST_LOG`).
fn variables_in_usage(usage: &str) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = usage_block(usage, "Environment:")
        .into_iter()
        .filter_map(|l| l.split_whitespace().next())
        .map(|w| w.split('=').next().unwrap_or(w).to_string())
        .collect();
    names.extend(variable_words(usage));
    names
}

/// `--name` and `-x` words in `text`.
fn option_words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .filter(|w| {
            let name = w.trim_start_matches('-');
            w.starts_with('-')
                && w.len() - name.len() <= 2
                && name.starts_with(|c: char| c.is_ascii_alphabetic())
        })
        .map(str::to_string)
        .collect()
}

/// Words like `TINI_SUBREAPER`: upper case, digits, and an underscore.
fn variable_words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| {
            w.contains('_')
                && w.starts_with(|c: char| c.is_ascii_uppercase())
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_string)
        .collect()
}

/// One line of roff as plain text: font escapes, `\&` and `\-` undone, and
/// a font macro's arguments joined as the macro joins them (`.BR \-h ", "
/// \-\-help` is `-h, --help`; `.BI \-p " SIGNAL"` is `-p SIGNAL`).
fn roff_text(line: &str) -> String {
    let plain = line
        .replace("\\-", "-")
        .replace("\\&", "")
        .replace("\\fB", "")
        .replace("\\fI", "")
        .replace("\\fR", "")
        .replace("\\fP", "");
    let Some(rest) = plain.strip_prefix('.') else {
        return plain;
    };
    let (name, args) = rest.split_once(' ').unwrap_or((rest, ""));
    match name {
        "B" | "I" => args.replace('"', ""),
        "BR" | "RB" | "BI" | "IB" | "IR" | "RI" => roff_args(args).concat(),
        _ => String::new(),
    }
}

/// A macro's arguments: split at spaces, except inside double quotes.
fn roff_args(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in args.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            _ => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// The item tags (the line after each `.TP`) of man page section `name`,
/// as plain text.
fn tags_of_section(page: &str, name: &str) -> Vec<String> {
    let heading = format!(".SH {name}");
    let lines: Vec<&str> = page
        .lines()
        .skip_while(|l| l.trim() != heading)
        .skip(1)
        .take_while(|l| !l.starts_with(".SH "))
        .collect();
    lines
        .windows(2)
        .filter(|pair| pair[0].trim() == ".TP")
        .map(|pair| roff_text(pair[1]))
        .collect()
}

/// Fails naming every word of `wanted` that `described` (the tags of the
/// man page's `section`) lacks.
fn assert_described(wanted: &BTreeSet<String>, described: &BTreeSet<String>, section: &str) {
    let missing: Vec<&String> = wanted.difference(described).collect();
    assert!(
        missing.is_empty(),
        "tini-rs -h names {missing:?}, which docs/tini-rs.1 does not describe \
         (its {section} section has {described:?})"
    );
}

fn read_page() -> String {
    std::fs::read_to_string(PAGE).unwrap_or_else(|e| panic!("cannot read {PAGE}: {e}"))
}

#[test]
fn every_option_in_usage_is_described_in_the_man_page() {
    let usage = usage_text();
    let wanted = options_in_usage(&usage);
    // A change of the -h layout must not make this test pass vacuously.
    assert!(
        wanted.len() >= 10 && wanted.contains("--grace-period") && wanted.contains("-h"),
        "read too few options out of -h: {wanted:?}\n{usage}"
    );
    let described: BTreeSet<String> = tags_of_section(&read_page(), "OPTIONS")
        .iter()
        .flat_map(|tag| option_words(tag))
        .collect();
    assert_described(&wanted, &described, "OPTIONS");
}

#[test]
fn every_variable_in_usage_is_described_in_the_man_page() {
    let usage = usage_text();
    let wanted = variables_in_usage(&usage);
    assert!(
        wanted.len() >= 6 && wanted.contains("TINI_SUBREAPER") && wanted.contains("RUST_LOG"),
        "read too few variables out of -h: {wanted:?}\n{usage}"
    );
    // A tag is NAME or NAME=VALUE.
    let described: BTreeSet<String> = tags_of_section(&read_page(), "ENVIRONMENT")
        .iter()
        .map(|tag| tag.split('=').next().unwrap_or(tag).trim().to_string())
        .collect();
    assert_described(&wanted, &described, "ENVIRONMENT");
}

/// The checker itself: an option or variable the page lacks is found.
#[test]
fn the_check_catches_what_the_page_lacks() {
    let usage = "x\n\nOptions:\n  -h, --help  Help.\n  --frob N    Frob.\n\n\
                 Environment:\n  TINI_FROB=N  frob\n\nUses TINI_OTHER too.\n";
    assert_eq!(
        options_in_usage(usage),
        ["--frob", "--help", "-h"].map(String::from).into()
    );
    assert_eq!(
        variables_in_usage(usage),
        ["TINI_FROB", "TINI_OTHER"].map(String::from).into()
    );
    let page = ".SH OPTIONS\n.TP\n.BR \\-h \", \" \\-\\-help\nHelp.\n.SH ENVIRONMENT\n\
                .TP\n.BI TINI_FROB= N\nfrob\n";
    let options: BTreeSet<String> = tags_of_section(page, "OPTIONS")
        .iter()
        .flat_map(|t| option_words(t))
        .collect();
    assert_eq!(options, ["--help", "-h"].map(String::from).into());
    assert!(!options.contains("--frob"));
    assert_eq!(tags_of_section(page, "ENVIRONMENT"), ["TINI_FROB=N"]);
}

/// The page formats without a warning (what lintian's man page check
/// also asks of it).
#[test]
fn man_page_formats_without_warnings() {
    let out = match Command::new("groff")
        .args(["-man", "-ww", "-z", "-Tutf8", PAGE])
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            return skip(
                "man_page_formats_without_warnings",
                &format!("cannot run groff ({e}); tests/run.sh installs groff-base"),
            );
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "groff warns about docs/tini-rs.1 ({:?}):\n{stderr}",
        out.status
    );
}
