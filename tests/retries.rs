//! Retries in HTTP mode: a request is never sent twice once its bytes reached a server,
//! except a bodyless idempotent one that got nothing back at all, which goes again,
//! to another server with `redispatch` (HAProxy's `retry-on empty-response`).

mod common;

use std::io::{Read, Write};

use common::http::Client;
use common::switch::{Switch, CLOSE};
use common::Ringlb;

fn config(a: &Switch, b: &Switch, backend: &str) -> String {
    format!(
        "[global]\nworkers = 1\npin_workers = false\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\n{backend}\n\
         [[backend.server]]\nname = \"a\"\naddress = \"{}\"\n\
         [[backend.server]]\nname = \"b\"\naddress = \"{}\"\n",
        a.addr, b.addr
    )
}

#[test]
fn an_idempotent_request_that_got_no_response_goes_to_another_server() {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    a.set_requests(CLOSE);
    let r = Ringlb::start(&config(&a, &b, ""));
    for i in 0..6 {
        let (status, _, body) = Client::connect(r.addr()).get(&format!("/g{i}"));
        assert_eq!(status, 200);
        assert_eq!(String::from_utf8_lossy(&body), format!("b /g{i}"));
    }
    // Round robin sent every other one to a first: those were replayed, once each.
    assert_eq!(a.requests(), 3);
    assert_eq!(b.requests(), 6);
}

#[test]
fn a_request_with_a_body_is_never_sent_twice() {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    a.set_requests(CLOSE);
    let r = Ringlb::start(&config(&a, &b, ""));
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let mut c = Client::connect(r.addr());
        c.send(b"POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
        statuses.push(c.response(false).0);
    }
    statuses.sort();
    assert_eq!(
        statuses,
        vec![200, 502],
        "the POST that reached a must not be replayed"
    );
    assert_eq!((a.requests(), b.requests()), (1, 1));
}

#[test]
fn replays_stop_after_retries() {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    a.set_requests(CLOSE);
    b.set_requests(CLOSE);
    let r = Ringlb::start(&config(&a, &b, "retries = 2"));
    let mut s = common::connect(r.addr());
    s.write_all(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 502"), "{out}");
    // The first attempt and two replays, alternating servers.
    assert_eq!(a.requests() + b.requests(), 3);
    assert!(a.requests() >= 1 && b.requests() >= 1);
}

#[test]
fn a_request_answered_with_an_interim_head_is_never_sent_again() {
    let backend = common::http::Backend::start();
    let r = Ringlb::start(&common::http::http_config(backend.addr, "", ""));
    let mut c = Client::connect(r.addr());
    c.send(b"GET /hints-then-close HTTP/1.1\r\nHost: test\r\n\r\n");
    // The 103 reached the client; the server then closed: the client gets 502, and
    // the request is not replayed (the client already has part of an answer).
    let (status, _, _) = c.response(false);
    assert_eq!(status, 103);
    let (status, _, _) = c.response(false);
    assert_eq!(status, 502);
    let heads = backend.seen.heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 1, "the request went out again: {heads:?}");
    assert!(heads[0].starts_with("GET /hints-then-close"), "{heads:?}");
}
