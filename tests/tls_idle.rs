//! Idle HTTPS keep-alive connections: after their first second of idleness they give
//! their session buffers back to the worker (rustls keeps only its own), as plain TCP
//! ones do, and still serve their next request, end at the keep-alive timeout with a
//! close_notify, and end cleanly at a graceful stop.

mod common;

use std::io::{Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use common::http::Backend;
use common::tls::{connect, CertDir, Hello, TlsClient};
use common::{Ringlb, PATIENCE};

/// One worker, an HTTPS frontend with `frontend_extra`, one server.
fn https(server: &Backend, dir: &CertDir, frontend_extra: &str) -> String {
    format!(
        "[global]\nworkers = 1\npin_workers = false\nadmin_bind = \"127.0.0.1:0\"\ngrace_period = \"5s\"\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n{frontend_extra}\n\
         [frontend.tls]\ncertificates = [{}]\n\
         [[backend]]\nname = \"app\"\n[[backend.server]]\nname = \"a\"\naddress = \"{}\"\n",
        dir.entry("site"),
        server.addr
    )
}

fn site() -> CertDir {
    let dir = CertDir::new();
    dir.write("site", &["localhost"]);
    dir
}

/// Read until the connection ends: `Ok` for a close_notify, the error otherwise.
fn end_of(c: &mut TlsClient) -> std::io::Result<usize> {
    let mut rest = Vec::new();
    c.stream.read_to_end(&mut rest)
}

/// What the workers keep free for reuse (`ringlb_buffers_pooled_bytes`).
fn pooled(r: &Ringlb) -> u64 {
    let (status, text) = common::admin(r.admin_addr(), "GET", "/metrics", "", None);
    assert_eq!(status, 200);
    text.lines()
        .find_map(|l| l.strip_prefix("ringlb_buffers_pooled_bytes "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no ringlb_buffers_pooled_bytes in /metrics:\n{text}"))
}

/// A busy session holds two 16 KiB buffers and a 1 KiB head buffer. Idle TLS
/// connections give all three back after their first idle second, as plain TCP ones
/// do: the worker's pool holds every one of them while every connection stays open
/// (fewer than the 256 of each kind it keeps whatever the traffic, so none is freed).
/// (Before, a TLS connection kept its read pending with its buffers for as long as it
/// stayed idle.) Then each connection is served again, its buffers taken anew, and a
/// graceful stop ends the idle ones cleanly.
#[test]
fn idle_tls_connections_give_their_buffers_back_and_are_served_again() {
    const N: u64 = 100;
    const SESSION: u64 = 2 * 16 * 1024 + 1024;
    let dir = site();
    let backend = Backend::start();
    let mut r = Ringlb::start(&https(&backend, &dir, ""));
    // All connections first, each session holding its buffers from its start: none
    // can reuse another's (which would leave fewer than N sessions' worth in all).
    let mut conns: Vec<TlsClient> = (0..N)
        .map(|_| {
            let c = connect(r.addr(), &Hello::default()).unwrap();
            // A request is written in pieces (a record each): without NODELAY, Nagle
            // and ringlb's delayed ACK would add ~40 ms to each.
            c.stream.sock.set_nodelay(true).unwrap();
            c
        })
        .collect();
    for (i, c) in conns.iter_mut().enumerate() {
        assert_eq!(c.get(&format!("/first{i}")).0, 200);
    }
    // Bounded wait (the connections' first idle second), all of them still open.
    let deadline = Instant::now() + PATIENCE;
    while pooled(&r) < N * SESSION {
        assert!(
            Instant::now() < deadline,
            "{} bytes pooled with {N} idle TLS connections, not {}",
            pooled(&r),
            N * SESSION
        );
        thread::sleep(Duration::from_millis(50));
    }
    // Every idle connection is served again.
    for (i, c) in conns.iter_mut().enumerate() {
        assert_eq!(c.get(&format!("/again{i}")).0, 200, "connection {i}");
    }
    assert_eq!(backend.requests() as u64, 2 * N);
    // A graceful stop closes the idle ones at once, each with a close_notify.
    r.signal(libc::SIGTERM);
    for (i, c) in conns.iter_mut().enumerate() {
        assert_eq!(end_of(c).map_err(|e| e.kind()), Ok(0), "connection {i}");
    }
    assert!(r.wait_exit().success());
}

/// Past its first idle second, a connection waits with no buffer until the keep-alive
/// timeout, then ends with a close_notify; one that sends within it is served.
#[test]
fn the_keep_alive_timeout_past_the_first_idle_second_ends_with_close_notify() {
    let dir = site();
    let backend = Backend::start();
    let r = Ringlb::start(&https(
        &backend,
        &dir,
        "timeout_http_keep_alive = \"1500ms\"",
    ));
    let mut idle = connect(r.addr(), &Hello::default()).unwrap();
    assert_eq!(idle.get("/a").0, 200);
    let started = Instant::now();
    assert_eq!(end_of(&mut idle).map_err(|e| e.kind()), Ok(0));
    // Not before the timeout (what a cold wait ends on is the timeout, not the hot one).
    assert!(started.elapsed() >= Duration::from_millis(1400));
    // A connection whose next request comes after its first idle second is served.
    let mut late = connect(r.addr(), &Hello::default()).unwrap();
    assert_eq!(late.get("/b").0, 200);
    thread::sleep(Duration::from_millis(1200));
    assert_eq!(late.get("/c").0, 200);
}

/// rustls' record buffer goes back to a per-thread list only when the connection
/// holds nothing in it (vendor/PATCHES.md, rustls). A connection whose request came
/// in two pieces keeps the first piece while it waits for the second, however many
/// other connections take and give back record buffers on the same worker meanwhile:
/// its request decrypts whole, and each connection gets its own answer.
#[test]
fn a_record_cut_in_two_waits_whole_while_other_connections_come_and_go() {
    let dir = site();
    let backend = Backend::start();
    let r = Ringlb::start(&https(&backend, &dir, ""));
    let mut a = connect(r.addr(), &Hello::default()).unwrap();
    a.stream.sock.set_nodelay(true).unwrap();
    // The request's records, made but not sent yet.
    a.stream
        .conn
        .writer()
        .write_all(b"GET /a HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .unwrap();
    let mut records = Vec::new();
    while a.stream.conn.wants_write() {
        a.stream.conn.write_tls(&mut records).unwrap();
    }
    let (first, second) = records.split_at(records.len() / 2);
    a.stream.sock.write_all(first).unwrap();
    // Other connections' whole exchanges meanwhile, on the one worker (each one's
    // buffer taken from the list and given back to it): when they are answered, the
    // worker has read the first piece (it came first).
    for i in 0..8 {
        let mut b = connect(r.addr(), &Hello::default()).unwrap();
        b.stream.sock.set_nodelay(true).unwrap();
        assert_eq!(
            b.get(&format!("/b{i}")),
            (200, format!("ok GET /b{i} 0").into_bytes())
        );
    }
    a.stream.sock.write_all(second).unwrap();
    assert_eq!(a.response(), (200, b"ok GET /a 0".to_vec()));
    // And again on the same connection, with the buffer it was given back.
    assert_eq!(a.get("/a2"), (200, b"ok GET /a2 0".to_vec()));
}
