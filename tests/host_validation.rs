//! Host field and absolute-form authority validation (RFC 9112 §3.2, RFC 3986
//! `uri-host [ ":" port ]`) through the real binary: an invalid one gets 400 and never
//! reaches the server; valid edge cases are forwarded unchanged.

mod common;

use common::http::{http_config, Backend, Client};
use common::Ringlb;

fn setup() -> (Backend, Ringlb) {
    let backend = Backend::start();
    let rl = Ringlb::start(&http_config(backend.addr, "", ""));
    (backend, rl)
}

/// Send `raw` on a new connection: 400, `connection: close`, and the connection closed.
fn refused(rl: &Ringlb, raw: &[u8]) {
    let mut c = Client::connect(rl.addr());
    c.send(raw);
    let (status, head, _) = c.response(false);
    let shown = String::from_utf8_lossy(raw);
    assert_eq!(status, 400, "for {shown:?}: {head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    assert!(c.closed(), "connection left open after 400 for {shown:?}");
}

fn assert_backend_untouched(backend: &Backend) {
    assert_eq!(
        backend.requests(),
        0,
        "the backend received a refused request: {}",
        backend.last_head()
    );
    assert_eq!(backend.accepted(), 0, "ringlb connected to the backend");
}

const INVALID_HOSTS: [&[u8]; 14] = [
    b"a b",
    b"a/b",
    b"[::1",
    b"::1]",
    b"a:b",
    b"a:80:80",
    b"user@host",
    b"a\tb",
    b"%zz",
    b"[::g]",
    b"[v1.]",
    b":80",
    b"a\xc2\xa0",
    b"[fe80::1%25en0]",
];

#[test]
fn invalid_hosts_get_400_and_never_reach_the_server() {
    let (backend, rl) = setup();
    for host in INVALID_HOSTS {
        let mut raw = b"GET / HTTP/1.1\r\nHost: ".to_vec();
        raw.extend_from_slice(host);
        raw.extend_from_slice(b"\r\n\r\n");
        refused(&rl, &raw);
    }
    refused(&rl, b"GET / HTTP/1.0\r\nHost: a/b\r\n\r\n");
    assert_backend_untouched(&backend);
}

#[test]
fn absolute_form_targets_with_a_bad_authority_get_400() {
    let (backend, rl) = setup();
    for (target, host) in [
        ("http://user@host/", "user@host"),
        ("http://user@host/", "host"),
        ("http://a:b/", "a:b"),
        ("http://[::1/x", "[::1"),
        ("http://%zz/", "%zz"),
        ("http:///x", ""),
        ("http://:80/x", ":80"),
    ] {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n");
        refused(&rl, raw.as_bytes());
    }
    refused(&rl, b"GET http://a:b/ HTTP/1.0\r\n\r\n");
    assert_backend_untouched(&backend);
}

#[test]
fn valid_host_edge_cases_reach_the_server() {
    let (backend, rl) = setup();
    let hosts = [
        "[::1]:8080",
        "[::ffff:1.2.3.4]",
        "xn--bcher-kva.example",
        "example.com.",
        "EXAMPLE.COM",
        "127.0.0.1:80",
        "a-b_c~d",
        "host:", // empty port: accepted
        "[v1.fe80::a+en1]",
        "%41",
        "", // empty Host with an origin-form target: accepted, as before
    ];
    // One keep-alive connection for all of them: a valid Host leaves it usable.
    let mut c = Client::connect(rl.addr());
    for (i, host) in hosts.iter().enumerate() {
        c.send(format!("GET /h{i} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
        let (status, head, body) = c.response(false);
        assert_eq!(status, 200, "Host {host:?}: {head}");
        assert_eq!(body, format!("ok GET /h{i} 0").as_bytes(), "Host {host:?}");
        let seen = backend.last_head();
        assert!(
            seen.contains(&format!("\r\nHost: {host}\r\n")),
            "Host {host:?} not forwarded as is: {seen}"
        );
    }
    for (target, host) in [
        ("http://[::1]:8080/x", "[::1]:8080"),
        ("http://EXAMPLE.com:80/x", "example.COM:80"),
        ("https://a-b_c~d/x?q", "a-b_c~d"),
    ] {
        c.send(format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
        let (status, head, _) = c.response(false);
        assert_eq!(status, 200, "{target} with Host {host:?}: {head}");
        assert!(backend.last_head().starts_with(&format!("GET {target} ")));
    }
    assert_eq!(backend.requests(), hosts.len() + 3);
}

#[test]
fn an_invalid_host_pipelined_after_a_valid_request_is_not_forwarded() {
    let (backend, rl) = setup();
    let mut c = Client::connect(rl.addr());
    c.send(b"GET /first HTTP/1.1\r\nHost: ok\r\n\r\nGET /second HTTP/1.1\r\nHost: a b\r\n\r\n");
    let (status, _, body) = c.response(false);
    assert_eq!((status, body), (200, b"ok GET /first 0".to_vec()));
    let (status, _, _) = c.response(false);
    assert_eq!(status, 400);
    assert!(c.closed(), "connection left open after 400");
    assert_eq!(backend.requests(), 1, "{}", backend.last_head());
}
