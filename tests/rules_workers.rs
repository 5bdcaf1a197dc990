//! Per-client limits are exact across workers: a frontend that tracks clients steers
//! every connection of one client to one worker (steering = "source" by default), so
//! one worker's table sees all of that client's requests.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::thread;

use common::http::{http_config, Backend, Client};
use common::{Ringlb, PATIENCE};

const RULES: &str = r#"
[[frontend.tcp_rule]]
action = "track"
table = "per_ip"
[[frontend.acl]]
name = "too_fast"
counter = { table = "per_ip", name = "http_req_rate", above = 100 }
[[frontend.http_rule]]
action = "deny"
status = 429
if = "too_fast"
"#;

/// A keep-alive client whose connection comes from `src`.
fn client_from(src: &str, to: SocketAddr) -> Client {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let from: SocketAddr = format!("{src}:0").parse().unwrap();
    s.bind(&from.into()).unwrap();
    s.connect(&to.into()).unwrap();
    let stream: TcpStream = s.into();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    Client {
        reader: std::io::BufReader::new(stream.try_clone().unwrap()),
        stream,
    }
}

/// `conns` connections from `src`, `each` requests on each: (allowed, refused with 429).
fn hammer(addr: SocketAddr, src: &'static str, conns: usize, each: usize) -> (usize, usize) {
    let handles: Vec<_> = (0..conns)
        .map(|_| {
            thread::spawn(move || {
                let mut c = client_from(src, addr);
                (0..each).map(|_| c.get("/").0).collect::<Vec<u16>>()
            })
        })
        .collect();
    let all: Vec<u16> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let ok = all.iter().filter(|s| **s == 200).count();
    let limited = all.iter().filter(|s| **s == 429).count();
    assert_eq!(ok + limited, conns * each, "{all:?}");
    (ok, limited)
}

#[test]
fn a_rate_limit_is_exact_with_two_workers() {
    let backend = Backend::start();
    let tables = "\n[[table]]\nname = \"per_ip\"\nkey = \"src\"\nperiod = \"10s\"\n";
    let config = http_config(backend.addr, tables, RULES).replace("workers = 1", "workers = 2");
    let mut r = Ringlb::start(&config);
    // No steering key: a frontend with track rules is steered by source address.
    r.wait_logged("steering=\"source\"");
    let addr = r.addr();
    // Two clients at once, 16 connections each: each gets its own 100, exactly.
    let a = thread::spawn(move || hammer(addr, "127.0.0.2", 16, 15));
    let b = thread::spawn(move || hammer(addr, "127.0.0.3", 16, 15));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    for (ok, _) in [a, b] {
        assert!((99..=101).contains(&ok), "{ok} allowed, {a:?} {b:?}");
    }
    assert_eq!(backend.requests(), a.0 + b.0, "no 429 reached the backend");
}
