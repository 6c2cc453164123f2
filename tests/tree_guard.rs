//! Guards on the tree itself: what a newcomer's first read would catch
//! must be caught here first. A merge that left conflict markers behind
//! (README.md once carried `<<<<<<< HEAD` ... `>>>>>>> apps` for weeks)
//! fails this test, in any file of the crate. So does a document that
//! quotes what the code no longer has: a log line quoted in README.md,
//! docs/DESIGN.md, BENCHMARKS.md or the man page whose words are not in
//! `src/`, or an option their option tables name that `src/` does not
//! read.

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

// Documents against the code.

/// The documents a user or a contributor reads for what tini-rs says and
/// accepts.
const MARKDOWN_DOCS: [&str; 3] = ["README.md", "docs/DESIGN.md", "BENCHMARKS.md"];
const MAN_PAGE: &str = "docs/tini-rs.1";

fn read(relative: &str) -> String {
    let path = Path::new(ROOT).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Every `.rs` file under `src/`, with Rust's string continuations (a `\`
/// at the end of a line, then the next line's indentation) joined, as the
/// compiled strings have them.
fn source_text() -> String {
    let mut files = Vec::new();
    files_under(&Path::new(ROOT).join("src"), &mut files);
    let mut text = String::new();
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "rs"))
    {
        text.push_str(&std::fs::read_to_string(file).unwrap_or_default());
        text.push('\n');
    }
    join_continuations(&text)
}

fn join_continuations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut lines = text.split('\n').peekable();
    while let Some(line) = lines.next() {
        match line.strip_suffix('\\') {
            Some(head) if lines.peek().is_some() => {
                out.push_str(head);
                // The continuation also eats the next line's indentation.
                if let Some(next) = lines.next() {
                    out.push_str(next.trim_start());
                    // A continued line may itself continue: handled by
                    // feeding it back through the same test.
                    while out.ends_with('\\') && lines.peek().is_some() {
                        out.pop();
                        if let Some(more) = lines.next() {
                            out.push_str(more.trim_start());
                        }
                    }
                }
                out.push('\n');
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// The prefix tini-rs puts before every log line, `[WARN  tini-rs (1)] `,
/// and dumb-init mode's `[dumb-init] `: returns the message after it.
fn strip_log_prefix(line: &str) -> Option<&str> {
    if let Some(rest) = line.strip_prefix("[dumb-init] ") {
        return Some(rest);
    }
    let rest = line.strip_prefix('[')?;
    let level = rest.split_whitespace().next()?;
    if !["ERROR", "WARN", "INFO", "DEBUG", "TRACE"].contains(&level) {
        return None;
    }
    let (head, message) = rest.split_once("] ")?;
    head.contains("tini-rs (").then_some(message)
}

/// A word of a quoted line that stands for a value the code fills in:
/// `N`, `PID`, `SIGTERM`, `…`, `7`, `"prog",`, `'X'`, `git.HASH`.
fn is_placeholder(word: &str) -> bool {
    let w = word.trim_matches(|c: char| ".,;:()`".contains(c));
    let mut upper_run = 0;
    let mut longest_upper_run = 0;
    for c in w.chars() {
        upper_run = if c.is_ascii_uppercase() {
            upper_run + 1
        } else {
            0
        };
        longest_upper_run = longest_upper_run.max(upper_run);
    }
    w.is_empty()
        || w.chars().any(|c| c.is_ascii_digit() || "\"[]…".contains(c))
        || w.contains("...")
        || w.starts_with('\'')
        || longest_upper_run >= 2
        || (w.len() == 1 && longest_upper_run == 1)
}

/// A parenthesised system error (`(Operation not permitted (os error 1))`)
/// is a value too: replaced by one placeholder word.
fn without_system_errors(quote: &str) -> String {
    let chars: Vec<char> = quote.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let sentence_case = chars[i] == '('
            && chars.get(i + 1).is_some_and(|c| c.is_ascii_uppercase())
            && chars.get(i + 2).is_some_and(|c| c.is_ascii_lowercase());
        if !sentence_case {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let mut depth = 0;
        while i < chars.len() {
            match chars[i] {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            i += 1;
            if depth == 0 {
                break;
            }
        }
        out.push_str(" X ");
    }
    out
}

/// The literal parts of a quoted log line: runs of two or more words
/// between placeholders, each of which the code must hold verbatim (in a
/// format string, around its `{}`).
fn literal_fragments(quote: &str) -> Vec<String> {
    let text = without_system_errors(quote).replace('=', "= ");
    let mut fragments = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    for word in text.split_whitespace().chain(["X"]) {
        if is_placeholder(word) {
            if run.len() >= 2 {
                let fragment = run.join(" ").replace("= ", "=");
                fragments.push(
                    fragment
                        .trim_matches(|c: char| " ;:,(".contains(c))
                        .to_string(),
                );
            }
            run.clear();
        } else {
            run.push(word);
        }
    }
    fragments
}

/// Words that, just before a quote, say the quote is something tini-rs
/// logs ("Info: `Shutdown: ...`", "a warning, `pidfd_open failed ...`").
const SAYS: [&str; 12] = [
    "info", "warning", "warn", "warns", "debug", "error", "logged", "logs", "says", "say",
    "message", "trace",
];

/// True when the end of `text` says that what follows is logged.
fn says_it_logs(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let tail: String = lower
        .chars()
        .rev()
        .take(40)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    tail.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| SAYS.contains(&w))
        || tail.contains("log line")
        || tail.contains("report line")
}

/// Commands quoted in running text, never log lines.
const COMMANDS: [&str; 10] = [
    "tini-rs",
    "docker",
    "podman",
    "kill",
    "prctl",
    "cargo",
    "python3",
    "sh",
    "dumb-init",
    "tini",
];

/// Log lines a Markdown document quotes: code lines and `code spans` with
/// tini-rs's log prefix, and code spans of three or more words just after a
/// word that says tini-rs logs them.
fn quoted_log_lines_markdown(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        if let Some(message) = strip_log_prefix(line.trim()) {
            found.push(message.to_string());
        }
    }
    let mut previous = "";
    for paragraph in text.split("\n\n") {
        // A code block right after a paragraph that says tini-rs logs it:
        // each line is a log line.
        let code_block = paragraph.lines().all(|l| l.starts_with("    "));
        if code_block && says_it_logs(previous) {
            for line in paragraph.lines().map(str::trim) {
                let first = line.split_whitespace().next().unwrap_or_default();
                if strip_log_prefix(line).is_none() && !COMMANDS.contains(&first) {
                    found.push(line.to_string());
                }
            }
        }
        previous = paragraph;
        let joined = paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut rest = joined.as_str();
        let mut before_len = 0;
        while let Some(open) = rest.find('`') {
            let Some(close) = rest[open + 1..].find('`') else {
                break;
            };
            let quote = &rest[open + 1..open + 1 + close];
            let before = &joined[..before_len + open];
            let context = before
                .rsplit(['`', '.'])
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let context_tail: String = context
                .chars()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let said = says_it_logs(&context_tail);
            let first = quote.split_whitespace().next().unwrap_or_default();
            // A peer's own line, quoted for comparison ("tini: `Child was
            // dead ...`"), is not tini-rs's.
            let peer = ["tini", "tini's", "dumb-init", "dumb-init's"]
                .iter()
                .any(|p| context_tail.trim_end().trim_end_matches(':').ends_with(p));
            if let Some(message) = strip_log_prefix(quote) {
                if !message.starts_with("message") {
                    found.push(message.to_string());
                }
            } else if said
                && !peer
                && quote.split_whitespace().count() >= 3
                && !COMMANDS.contains(&first)
            {
                found.push(quote.to_string());
            }
            let consumed = open + 1 + close + 1;
            before_len += consumed;
            rest = &rest[consumed..];
        }
    }
    found
}

/// troff's escapes to plain text: `\-` to `-`, `\&` dropped, and an italic
/// `\fIWORD\fP` (a value) to `X`.
fn unescape_troff(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("\\fI") {
        out.push_str(&rest[..start]);
        match rest[start..].find("\\fP") {
            Some(end) => {
                out.push('X');
                rest = &rest[start + end + 3..];
            }
            None => {
                rest = &rest[start + 3..];
            }
        }
    }
    out.push_str(rest);
    out.replace("\\-", "-")
        .replace("\\&", "")
        .replace("\\fB", "")
        .replace("\\fR", "")
}

/// Log lines the man page quotes: “…” quotes (`\(lq "…" \(rq`), and
/// example lines with tini-rs's log prefix.
fn quoted_log_lines_man(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let plain = unescape_troff(line);
        if let Some(message) = strip_log_prefix(plain.trim()) {
            found.push(message.to_string());
        }
        if let Some((_, after)) = line.split_once("\\(lq")
            && let Some((quote, _)) = after.split_once("\\(rq")
        {
            let quote = unescape_troff(quote).replace('"', "");
            let quote = quote.trim();
            match strip_log_prefix(quote) {
                Some(message) if !message.starts_with("message") => found.push(message.to_string()),
                Some(_) => {}
                None if !quote.starts_with("[LEVEL") => found.push(quote.to_string()),
                None => {}
            }
        }
    }
    found
}

/// The words of a quoted line that `source` does not hold.
fn missing_fragments(quote: &str, source: &str) -> Vec<String> {
    literal_fragments(quote)
        .into_iter()
        .filter(|f| !fragment_in_source(f, source))
        .collect()
}

/// `fragment` is in `source` verbatim, or as the end of one string and the
/// start of another put in its place: `Forwarding signals to {}` with
/// `"the main child, through its pidfd"`, `; it was {cause}` with
/// `"killed by {}"`. A stale line still fails: "main child exited after"
/// has no such seam in "main child exited {} ms after".
fn fragment_in_source(fragment: &str, source: &str) -> bool {
    if source.contains(fragment) {
        return true;
    }
    let words: Vec<&str> = fragment.split(' ').collect();
    (1..words.len()).any(|i| {
        let (left, right) = (words[..i].join(" "), words[i..].join(" "));
        // Punctuation that opens the value belongs to the outer string:
        // `namespace ({how})` with `"/proc/self is {pid}..."`.
        let inner = right.trim_start_matches(['(', '\'']);
        let opening = &right[..right.len() - inner.len()];
        source.contains(&format!("{left} {opening}{{")) && source.contains(&format!("\"{inner}"))
    })
}

/// Options an option table names: the first cell of each row that starts
/// with an option (`| \`-e CODE\`, \`--x\` | ...`), option words only.
fn options_in_markdown_tables(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let Some(row) = line.strip_prefix("| `-") else {
            continue;
        };
        let first_cell = row.split(" |").next().unwrap_or_default();
        let cell = format!("`-{first_cell}");
        for span in cell.split('`').skip(1).step_by(2) {
            if let Some(option) = span.split_whitespace().next()
                && option.starts_with('-')
            {
                found.push(option.trim_end_matches(',').to_string());
            }
        }
    }
    found
}

/// Options the man page describes: the tag line after each `.TP` of its
/// OPTIONS section (`.B \-s`, `.BI \-p " SIGNAL"`, `.BR \-h ", " \-\-help`).
fn options_in_man_page(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut in_options = false;
    let mut tag_next = false;
    for line in text.lines() {
        if line.starts_with(".SH") {
            in_options = line.trim() == ".SH OPTIONS";
            continue;
        }
        if !in_options {
            continue;
        }
        if line.trim() == ".TP" {
            tag_next = true;
            continue;
        }
        if tag_next {
            tag_next = false;
            let plain = unescape_troff(line);
            for word in plain.split(|c: char| c.is_whitespace() || c == '"' || c == ',') {
                if word.starts_with('-') && word.len() > 1 && word != "-" {
                    found.push(word.to_string());
                }
            }
        }
    }
    found
}

/// True when a parser in `source` reads `option`: a match arm or a
/// comparison on its name (`"grace-period" =>`, `'s' =>`, `'e' | 'p'`,
/// `"c" | "single-child"`, `("rewrite", true)`, `== "--dumb-init"`), not
/// merely a mention (the usage text names every option, read or not).
fn source_reads_option(option: &str, source: &str) -> bool {
    let name = option.trim_start_matches('-');
    if name.is_empty() {
        return true;
    }
    let quoted: Vec<String> = if option.starts_with("--") {
        vec![format!("\"{name}\""), format!("\"{option}\"")]
    } else {
        vec![format!("'{name}'"), format!("\"{name}\"")]
    };
    quoted.iter().any(|q| {
        [
            format!("{q} =>"),
            format!("{q} |"),
            format!("| {q}"),
            format!("({q},"),
            format!("== {q}"),
        ]
        .iter()
        .any(|pattern| source.contains(pattern.as_str()))
    })
}

#[test]
fn every_quoted_log_line_and_documented_option_is_in_the_code() {
    let source = source_text();
    let mut stale = Vec::new();
    let mut log_lines = 0;
    let mut options = 0;
    // One document's quoted log lines and documented options, against src/.
    let mut check = |doc: &str, quotes: Vec<String>, documented: Vec<String>| {
        log_lines += quotes.len();
        options += documented.len();
        for quote in quotes {
            for fragment in missing_fragments(&quote, &source) {
                stale.push(format!(
                    "{doc}: log line `{quote}`: '{fragment}' is not in src/"
                ));
            }
        }
        for option in documented {
            if !source_reads_option(&option, &source) {
                stale.push(format!("{doc}: option {option} is not read in src/"));
            }
        }
    };
    for doc in MARKDOWN_DOCS {
        let text = read(doc);
        check(
            doc,
            quoted_log_lines_markdown(&text),
            options_in_markdown_tables(&text),
        );
    }
    let man = read(MAN_PAGE);
    check(
        MAN_PAGE,
        quoted_log_lines_man(&man),
        options_in_man_page(&man),
    );
    // A check that finds nothing to check is looking in the wrong place.
    assert!(
        log_lines >= 20 && options >= 20,
        "{log_lines} log lines, {options} options found"
    );
    assert!(
        stale.is_empty(),
        "documents quote what src/ no longer has:\n{}",
        stale.join("\n")
    );
}

/// The check itself, on made-up text: a stale log line and an unknown
/// option are found, current ones pass.
#[test]
fn the_document_check_finds_what_the_code_lacks() {
    let source = join_continuations(
        "log::info!(\"Shutdown: done in {} ms: SIGTERM sent to {n}, \\\n    {} exited by themselves\");\n\
         log::warn!(\"Reaped zombie process with pid={pid}{cause}\");\n\
         \"grace-period\" => {}\n 's' => {}\n usage: \"--gone -q\"\n",
    );
    let doc = "Info: `Shutdown: done in T ms: SIGTERM sent to A, B exited by themselves`.\n\n\
               It logs `Shutdown: main child exited after N ms; stopping the others`.\n\n\
               [WARN  tini-rs (1)] Reaped zombie process with pid=63\n\n\
               | `--grace-period SECS` | x |\n| `-s` | x |\n| `--gone`, `-q` | x |\n";
    let quotes = quoted_log_lines_markdown(doc);
    assert_eq!(quotes.len(), 3, "{quotes:?}");
    let missing: Vec<String> = quotes
        .iter()
        .flat_map(|q| missing_fragments(q, &source))
        .collect();
    assert_eq!(
        missing,
        [
            "Shutdown: main child exited after",
            "ms; stopping the others"
        ]
    );
    // tini's own line, quoted for comparison, is not checked.
    assert!(
        quoted_log_lines_markdown("Both warn (tini: `Child was dead when forwarding`).").is_empty()
    );
    let unknown: Vec<String> = options_in_markdown_tables(doc)
        .into_iter()
        .filter(|o| !source_reads_option(o, &source))
        .collect();
    assert_eq!(unknown, ["--gone", "-q"]);
    let man = ".SH OPTIONS\n.TP\n.BI \\-\\-grace\\-period \" SECS\"\ntext\n.TP\n.B \\-\\-gone\n\
               .PP\n.RB \\(lq \"Reaped zombie process with pid=N\" \\(rq\n.SH EXIT STATUS\n";
    assert_eq!(options_in_man_page(man), ["--grace-period", "--gone"]);
    assert_eq!(
        quoted_log_lines_man(man),
        ["Reaped zombie process with pid=N"]
    );
}
