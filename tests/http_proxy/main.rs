//! HTTP mode through the real binary, against a recording backend written here.
//!
//! Files (one test binary, `cargo test --test http_proxy`):
//! - `main.rs`: the shared helpers: `setup`, `refused`.
//! - `refusals.rs`: what is refused: smuggling, malformed heads and bodies, versions and limits, slowloris, 502/503, framing headers.
//! - `messages.rs`: messages through: pipelining, bodies both ways (64 MiB), HEAD/204/304, 100-continue, upgrades, forwarded headers.
//! - `connections.rs`: connections: pooled server connections, HTTP/1.0 and close, idle keep-alive, clean EOF after close.
//! - `routing.rs`: routes, redirects and power-of-two choices away from a slow server.

#[path = "../common/mod.rs"]
mod common;

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use common::http::{http_config, Backend, Client};
use common::Ringlb;

mod connections;
mod messages;
mod refusals;
mod routing;

fn setup(extra_global: &str, extra_frontend: &str) -> (Backend, Ringlb) {
    let backend = Backend::start();
    let rl = Ringlb::start(&http_config(backend.addr, extra_global, extra_frontend));
    (backend, rl)
}

/// Send `raw`, expect `status` and a closed connection, and nothing at the backend.
fn refused(rl: &Ringlb, backend: &Backend, raw: &[u8], status: u16) {
    let mut c = Client::connect(rl.addr());
    c.send(raw);
    let (got, head, _) = c.response(false);
    assert_eq!(got, status, "for {:?}", String::from_utf8_lossy(raw));
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    assert!(c.closed(), "connection left open after {status}");
    assert_eq!(
        backend.requests(),
        0,
        "the backend received a refused request: {:?}",
        String::from_utf8_lossy(raw)
    );
}
