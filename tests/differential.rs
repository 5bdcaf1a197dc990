//! Differential test of the importer (issue 19): for each configuration in
//! tests/corpus/differential/ (`NAME.cfg`, a HAProxy file, with `NAME.toml`, its
//! request script), start HAProxy with the file and ringlb with what `ringlb import`
//! made of it, both in front of the same test backends (each answers with its name
//! and the request head it received), send both the same requests and compare status,
//! chosen server (or the distribution over servers), `Location`, the request headers
//! the server received and the response headers the client received, and health
//! transitions (a server killed or answering 503 to its health checks: both stop
//! sending to it; revived or healed: both use it again). A difference fails the test
//! unless the importer reported a line the step covers as not translated, or the
//! step marks it as a known, reported bug (both are shown as excused, with the
//! reason).
//!
//! Script format (TOML), one `[[step]]` per request or action, in order:
//!
//! ```toml
//! description = "what the case shows"
//! [[step]]
//! name = "api by host"            # optional label
//! frontend = "www"                # default: the first section with a bind
//! bind = 2                        # its second bind (default 1)
//! tls = true                      # speak TLS to it (`crt NAME` files are made)
//! method = "GET"                  # default GET
//! path = "/v1/users"
//! host = "api.example.com"        # default www.example.com
//! headers = ["X-Debug: 1"]
//! repeat = 30                     # default 1, each on a new connection
//! clients = 6                     # send from 127.0.0.1 .. 127.0.0.6 in turn
//! source = "127.0.0.2"            # or from this address
//! server = "distribution"         # exact | backend | distribution | sticky | ignore
//! tolerance = 0.2                 # of repeat, for distribution
//! seen_headers = ["x-forwarded-for"]      # compared as the server received them
//! response_headers = ["x-frame-options"]  # compared as the client received them
//! expect_status = 200             # HAProxy must do this (guards the script)
//! expect_server = "api1"
//! expect_servers = ["web1", "web2"]
//! expect_location = "https://..."
//! covers = ["use_backend api"]    # the config lines this step depends on
//! known = "why"                   # a reported difference: shown, not failing;
//!                                 # fails once the two agree (remove it then)
//! [[step]]
//! kill = "web2"                   # or sicken / heal / revive / settle / wait_back
//! ```
//!
//! Adding a case is adding the two files. Skips (visibly) without HAProxy, fails
//! under RINGLB_REQUIRE_TOOLS=1; fails when this ringlb has no `import` command.

mod common;
mod diffharness;

use std::io::Write;
use std::path::PathBuf;

use common::import::require_import_command;
use common::pp_peers::have;
use diffharness::case;
use diffharness::rewrite::{rewrite, shape, Targets};

const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/differential");

fn cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(CASES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().and_then(|x| x.to_str()) == Some("cfg"))
        .collect();
    v.sort();
    v
}

/// Every case's script parses and names servers, frontends and lines its file has;
/// the address rewrite keeps every line in place.
#[test]
fn differential_cases_are_well_formed() {
    let all = cases();
    assert!(all.len() >= 6, "only {} differential cases", all.len());
    for c in &all {
        let (text, _) = case::read(c).unwrap_or_else(|e| panic!("{e}"));
        let sh = shape(&text);
        let ports = sh
            .binds
            .iter()
            .map(|(n, k)| (n.clone(), (0..*k).map(|i| 40000 + i as u16).collect()))
            .collect();
        let servers = sh
            .servers
            .iter()
            .map(|s| (s.id.clone(), "127.0.0.1:1".parse().unwrap()))
            .collect();
        let out = rewrite(
            &text,
            &Targets {
                ports: &ports,
                servers: &servers,
            },
        );
        assert_eq!(out.lines().count(), text.lines().count(), "{}", c.display());
        for s in &sh.servers {
            let l = out.lines().nth(s.line - 1).unwrap();
            assert!(l.contains("127.0.0.1:1"), "{}: {l}", c.display());
        }
    }
}

/// HAProxy against itself: every script's expectations hold for HAProxy and the
/// comparisons tolerate HAProxy's own nondeterminism (the harness is sound before
/// any difference it reports is blamed on ringlb).
#[test]
fn haproxy_agrees_with_itself() {
    if !have("haproxy_agrees_with_itself", "/usr/sbin/haproxy") {
        return;
    }
    all_cases(case::Other::Haproxy, "haproxy-twice");
}

#[test]
fn haproxy_and_ringlb_agree() {
    if !have("haproxy_and_ringlb_agree", "/usr/sbin/haproxy") {
        return;
    }
    require_import_command();
    all_cases(case::Other::Ringlb, "ringlb");
}

fn all_cases(other: case::Other, tag: &str) {
    let root =
        std::env::temp_dir().join(format!("ringlb-differential-{tag}-{}", std::process::id()));
    let mut outcomes = Vec::new();
    for c in cases() {
        let dir = root.join(c.file_stem().unwrap());
        std::fs::create_dir_all(&dir).unwrap();
        outcomes.push(case::run(&c, &dir, other));
    }
    let failures: usize = outcomes
        .iter()
        .map(|o| o.differences.iter().filter(|d| d.excused.is_none()).count())
        .sum();
    let text = summary(&outcomes, tag);
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    if failures == 0 {
        let _ = std::fs::remove_dir_all(&root);
    }
    assert_eq!(
        failures,
        0,
        "{failures} difference(s) between HAProxy and {tag} (files in {}):\n{text}",
        root.display()
    );
}

fn summary(outcomes: &[case::Outcome], tag: &str) -> String {
    let mut s = format!("\ndifferential summary (HAProxy vs {tag})\n");
    for o in outcomes {
        let bad = o.differences.iter().filter(|d| d.excused.is_none()).count();
        let import = match o.import {
            Some((code, lost)) => format!("import exit {code} ({lost} lines not translated), "),
            None => String::new(),
        };
        s.push_str(&format!(
            "{:<24} {import}{} steps, {} difference(s): {}\n",
            o.name, o.steps, bad, o.description
        ));
        for d in &o.differences {
            match &d.excused {
                None => s.push_str(&format!("  DIFF {}: {}\n", d.step, d.what)),
                Some(x) if x == "(context)" => {
                    s.push_str(&format!("  --- {} ---\n{}\n", d.step, d.what.trim_end()))
                }
                Some(x) => s.push_str(&format!(
                    "  excused {}: {}\n    because {x}\n",
                    d.step, d.what
                )),
            }
        }
    }
    s
}
