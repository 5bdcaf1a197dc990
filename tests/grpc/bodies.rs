//! Bodies streamed both ways through an h2 server, with and without `Expect: 100-continue`.

use super::*;

/// Read from `s` until what came so far contains `want` (10 s at most); all of it.
fn read_until(s: &mut std::net::TcpStream, got: &mut Vec<u8>, want: &str) -> String {
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(got).contains(want) {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(got).to_string();
    assert!(text.contains(want), "no {want:?} in {text:?}");
    text
}

/// An HTTP/2 server over TLS (a second ringlb with ALPN h2 in front of an HTTP/1.1
/// backend): large bodies both ways, and many requests, through rustls driven
/// directly on ringlb's server connection (flow control, partial writes, records
/// split across reads).
#[test]
fn large_bodies_both_ways_through_a_tls_h2_server() {
    if !tools("h2_tls_server_large", "h2") {
        return;
    }
    let backend = common::http::Backend::start();
    let (edge, edge_certs) = start(&format!(
        "[[backend.server]]\nname = \"b\"\naddress = \"{}\"\n",
        backend.addr
    ));
    let ca = edge_certs.0.join("site.pem").display().to_string();
    let (r, certs) = start(&format!(
        "[[backend.server]]\nname = \"e\"\naddress = \"{}\"\nproto = \"h2\"\n\
         tls = true\nsni = \"www.example.test\"\nca_file = \"{ca}\"\n",
        edge.addrs[1]
    ));
    let upload = certs.0.join("upload.bin");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&upload, &data).unwrap();
    let url = |path: &str| format!("http://{}{path}", r.addrs[2]);
    for _ in 0..3 {
        let file = format!("@{}", upload.display());
        let (_, meta, body) = curl(&["--data-binary", &file, &url("/post")]);
        assert_eq!(
            (meta.as_str(), body.as_str()),
            ("200 1.1", "ok POST /post 3000000")
        );
        let (_, meta, body) = curl(&[&url("/len/3000000")]);
        assert_eq!((meta.as_str(), body.len()), ("200 1.1", 3_000_000));
    }
    // All of it on one connection to the TLS server.
    assert_eq!(metric(&r, "ringlb_server_connections_total", "e"), 1.0);
    assert_eq!(metric(&r, "ringlb_server_requests_total", "e"), 6.0);
}

/// Full duplex from an HTTP/1.1 client to an HTTP/2 server: the server answers as
/// soon as the request head arrives, and the client sends the rest of its body only
/// once it has read that answer (chunked, then with a content-length); the
/// connection stays usable after each.
#[test]
fn an_http11_body_streams_to_an_h2_server_while_its_answer_comes_back() {
    if !tools("h2_server_full_duplex", "h2") {
        return;
    }
    let (_server, r, _certs) = start_h2_peer(&[]);
    let mut s = common::connect(r.addrs[2]);
    let head = "POST /early HTTP/1.1\r\nHost: app.test\r\n";
    write!(s, "{head}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n").unwrap();
    let mut got = Vec::new();
    let text = read_until(&mut s, &mut got, "early\n");
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    write!(s, "6\r\n world\r\n0\r\n\r\n").unwrap();
    read_until(&mut s, &mut got, "body 11\n\r\n0\r\n\r\n");
    let mut got = Vec::new();
    write!(s, "{head}Content-Length: 11\r\n\r\nhello").unwrap();
    read_until(&mut s, &mut got, "early\n");
    s.write_all(b" world").unwrap();
    read_until(&mut s, &mut got, "body 11\n\r\n0\r\n\r\n");
    let mut got = Vec::new();
    write!(s, "GET /echo HTTP/1.1\r\nHost: app.test\r\n\r\n").unwrap();
    let text = read_until(&mut s, &mut got, "GET /echo app.test 0\n");
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
}

/// `Expect: 100-continue` streams too: ringlb answers 100 Continue, the server's early
/// answer comes back before any of the body is sent, then the body follows it (with
/// the body sent first, the client, which waits for that answer, would never send).
#[test]
fn an_expect_100_continue_body_streams_to_an_h2_server_too() {
    if !tools("h2_server_full_duplex_expect", "h2") {
        return;
    }
    let (_server, r, _certs) = start_h2_peer(&[]);
    let mut s = common::connect(r.addrs[2]);
    let head = "POST /early HTTP/1.1\r\nHost: app.test\r\nExpect: 100-continue\r\n";
    for framing in ["Content-Length: 11", "Transfer-Encoding: chunked"] {
        write!(s, "{head}{framing}\r\n\r\n").unwrap();
        let mut got = Vec::new();
        let text = read_until(&mut s, &mut got, "early\n");
        assert!(
            text.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 "),
            "{text}"
        );
        match framing.starts_with("Content") {
            true => s.write_all(b"hello world").unwrap(),
            false => s.write_all(b"b\r\nhello world\r\n0\r\n\r\n").unwrap(),
        }
        read_until(&mut s, &mut got, "body 11\n\r\n0\r\n\r\n");
    }
}
