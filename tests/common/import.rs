//! Running the real binary's `ringlb import` and `ringlb check`, and reading the
//! importer's report of lines it did not translate
//! (`FILE:LINE: directive: not translated: why` on stderr; exit 0 complete, 3
//! partial, 1 does not parse).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};

use super::BIN;

pub const EXIT_COMPLETE: i32 = 0;
pub const EXIT_PARSE: i32 = 1;
pub const EXIT_PARTIAL: i32 = 3;

/// Whether this ringlb has the `import` command. The corpus and differential tests
/// fail with this message when it does not: they must never pass without it.
pub fn require_import_command() {
    let out = Command::new(BIN)
        .args(["import", "--help"])
        .stdin(Stdio::null())
        .output()
        .expect("run ringlb import --help");
    assert!(
        out.status.success(),
        "this ringlb has no working `import` command (`ringlb import --help` exited with {}: {}). \
         These tests check the importer of issue 19: build them together with it.",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// One line the importer reported as not translated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lost {
    pub file: String,
    pub line: usize,
    pub directive: String,
    pub why: String,
}

/// The outcome of one `ringlb import` run.
#[derive(Debug)]
pub struct ImportRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// Parsed `not translated` lines.
    pub lost: Vec<Lost>,
    /// Lines of stderr that say `: not translated:` but are not of the form
    /// `FILE:LINE: directive: not translated: why`.
    pub malformed: Vec<String>,
}

/// Whether a reported file name is `file` (as given, or just its file name).
pub fn same_file(reported: &str, file: &Path) -> bool {
    let p = Path::new(reported);
    p == file || p.file_name() == file.file_name()
}

/// `ringlb import <kind> <file> [args...]`.
pub fn run_import(kind: &str, file: &Path, args: &[&str]) -> ImportRun {
    let out = Command::new(BIN)
        .arg("import")
        .arg(kind)
        .arg(file)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ringlb import");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let mut lost = Vec::new();
    let mut malformed = Vec::new();
    for l in stderr.lines().filter(|l| l.contains(": not translated:")) {
        match parse_lost(l) {
            Some(x) => lost.push(x),
            None => malformed.push(l.to_string()),
        }
    }
    ImportRun {
        // A signal is reported as -1: never one of the three statuses.
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
        lost,
        malformed,
    }
}

/// `FILE:LINE: directive: not translated: why`.
pub fn parse_lost(l: &str) -> Option<Lost> {
    let (loc, why) = l.split_once(": not translated: ")?;
    // The file name ends at the first `:<digits>: `.
    let mut search = 0;
    while let Some(i) = loc[search..].find(':') {
        let at = search + i;
        let rest = &loc[at + 1..];
        if let Some((num, directive)) = rest.split_once(": ") {
            if let Ok(line) = num.parse::<usize>() {
                if at > 0 && !directive.trim().is_empty() {
                    return Some(Lost {
                        file: loc[..at].to_string(),
                        line,
                        directive: directive.trim().to_string(),
                        why: why.trim().to_string(),
                    });
                }
            }
        }
        search = at + 1;
    }
    None
}

/// The outcome of `ringlb check -c FILE`: passed, or the error lines.
pub fn run_check(file: &Path) -> Result<(), Vec<String>> {
    let out = Command::new(BIN)
        .arg("check")
        .arg("-c")
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .expect("run ringlb check");
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<String> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.contains("configuration is invalid"))
        .map(str::to_string)
        .collect();
    Err(if errors.is_empty() {
        vec![format!("exit {} with no error text", out.status)]
    } else {
        errors
    })
}

/// A `ringlb check` error that comes from this machine rather than from the
/// translation: the corpus files name production host names and files
/// (certificates, scripts) that do not exist here.
pub fn environmental(error: &str) -> bool {
    const SIGNS: [&str; 5] = [
        "cannot resolve address",
        "resolves to no address",
        "No such file or directory",
        "failed to lookup address",
        // A bind address read from ringlb's environment (`$PORT` on Heroku).
        "is not set",
    ];
    SIGNS.iter().any(|s| error.contains(s))
}
