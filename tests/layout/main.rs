//! The arrows between ringlb's top-level modules run one way: the supervisor on top,
//! then the admin API, the control thread and the workers, then the messages between
//! them, then the leaves (configuration, balancing, HTTP codec, TLS). A worker never
//! reaches into the control thread (they talk only through `msg`), the control thread
//! never into a worker, and nothing below reaches back up.
//!
//! This reads every `.rs` file under `src/`, finds the top-level modules each one
//! names through `crate::` (or `super::` chains that climb to the crate root), and
//! checks them against `ALLOWED`. Comments, doc comments, string and character
//! literals are blanked before scanning, so a `crate::worker` in prose is no arrow.
//! A failure prints every offending `file:line: X imports Y`.
//!
//! Files (one test binary, `cargo test --test layout`):
//! - `main.rs`: the layering table `ALLOWED` (add a new module here) and `allowed`.
//! - `scanner.rs`: the scanner: comments and literals blanked, tokens, the `crate::`/`super::` paths a file names.
//! - `crate_graph.rs`: the crate: files under src/, their modules, the modules lib.rs declares, the graph and its cycles.
//! - `layering.rs`: the checks on src/: imports follow `ALLOWED`, no cycle, the table names every module.
//! - `scanner_tests.rs`: the scanner and the cycle finder on small inputs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What a module may import from the rest of the crate (itself is always allowed).
enum May {
    Anything,
    Only(&'static [&'static str]),
}

use May::{Anything, Only};

mod crate_graph;
mod layering;
mod scanner;
mod scanner_tests;

use crate_graph::*;
use scanner::*;

/// The intended layering: top may import below, never the reverse. `main` is the
/// binary (it imports the library as `ringlb::`), `lib` is the crate root (it only
/// declares the modules).
const ALLOWED: &[(&str, May)] = &[
    ("main", Anything),
    ("lib", Anything),
    ("run", Anything),
    ("demo", Only(&[])),
    // The importer is pure text → text; `ringlb import` (main) validates its output.
    // It asks the (pure) rule engine whether a header value's log-format is one
    // ringlb renders, so that a value it cannot carry is reported, not lost.
    ("import", Only(&["rules"])),
    (
        "admin",
        Only(&[
            "control",
            "msg",
            "announce",
            "vrrp",
            "config",
            "lb",
            "http",
            "tls",
            "logging",
            "rules",
            "proxy_protocol",
        ]),
    ),
    (
        "control",
        Only(&[
            "msg",
            "announce",
            "vrrp",
            "listen",
            "config",
            "lb",
            "http",
            "tls",
            "logging",
            "rules",
            "proxy_protocol",
        ]),
    ),
    (
        "worker",
        Only(&[
            "msg",
            "listen",
            "config",
            "lb",
            "http",
            "tls",
            "logging",
            "rules",
            "proxy_protocol",
        ]),
    ),
    ("vrrp", Only(&["config", "logging"])),
    // Announcing uses VRRP's netlink requests (addresses added and removed).
    ("announce", Only(&["vrrp", "config", "logging"])),
    ("logging", Only(&[])),
    (
        "msg",
        Only(&["config", "lb", "listen", "rules", "proxy_protocol"]),
    ),
    ("listen", Only(&["config"])),
    ("lb", Only(&["config"])),
    // The configuration holds loaded certificates and rustls configurations, so
    // config → tls; tls must therefore never need the configuration. It builds the
    // rule engine's rule sets and tables, so config → rules. Log settings and formats
    // are parsed by `logging` (which imports nothing), so config → logging.
    (
        "config",
        Only(&["tls", "rules", "logging", "proxy_protocol"]),
    ),
    ("tls", Only(&[])),
    // Pure PROXY protocol codecs: the worker, the control plane's checks and the
    // fuzz targets call them; they need nothing.
    ("proxy_protocol", Only(&[])),
    ("http", Only(&[])),
    ("rules", Only(&[])),
];

fn allowed(from: &str, to: &str) -> Option<bool> {
    let (_, may) = ALLOWED.iter().find(|(m, _)| *m == from)?;
    Some(
        from == to
            || match may {
                Anything => true,
                Only(list) => list.contains(&to),
            },
    )
}
