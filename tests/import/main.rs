//! `ringlb import`: the real binary on realistic configurations (tests/corpus/import/,
//! and inline ones aimed at real backends). Exit statuses 0 / 3 / 1, the
//! `FILE:LINE: directive: not translated: why` lines, `--allow-partial`, and that the
//! output passes `ringlb check` and serves traffic.
//!
//! Files (one test binary, `cargo test --test import`):
//! - `main.rs`: the shared helpers: corpus paths, running `ringlb import`, lost lines, `ringlb check`.
//! - `haproxy.rs`: haproxy.cfg: exit codes (complete, partial, unparsable), the corpus, line continuations, TLS binds.
//! - `keepalived.rs`: keepalived.conf: instances to routers, IPv6 families, script user, both files into one.
//! - `http2.rs`: HTTP/2 servers, checks and binds.

#[path = "../common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::http::{Backend, Client};
use common::{Ringlb, TempConfig, BIN};

mod haproxy;
mod http2;
mod keepalived;

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus/import")
        .join(name)
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ringlb-import-{}-{name}", std::process::id()))
}

fn import(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("import")
        .args(args)
        .output()
        .expect("run ringlb import")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every "not translated" line has the documented shape.
fn lost_lines(err: &str, file: &str) -> Vec<String> {
    let lines: Vec<String> = err
        .lines()
        .filter(|l| l.contains(": not translated: "))
        .map(String::from)
        .collect();
    for l in &lines {
        let rest = l
            .strip_prefix(&format!("{file}:"))
            .unwrap_or_else(|| panic!("{l}"));
        let (line, rest) = rest.split_once(": ").unwrap();
        assert!(line.parse::<usize>().is_ok(), "{l}");
        let (directive, why) = rest.split_once(": not translated: ").unwrap();
        assert!(!directive.is_empty() && !why.is_empty(), "{l}");
    }
    lines
}

fn check(path: &Path) {
    let o = Command::new(BIN)
        .arg("check")
        .arg("-c")
        .arg(path)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "ringlb check failed:\n{}\n{}",
        stderr(&o),
        std::fs::read_to_string(path).unwrap()
    );
}
