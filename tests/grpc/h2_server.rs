//! HTTP/1.1 clients through an h2 server: stream limit, GOAWAY, failure paths, early hints.

use super::*;

#[test]
fn plain_http_through_an_h2_server() {
    if !tools("plain_http_through_an_h2_server", "h2") {
        return;
    }
    let (_server, r, _certs) = start_h2_peer(&[]);
    let (h2, h1) = (r.addrs[0], r.addrs[2]);
    // HTTP/2 client: Host → :authority, the body, no connection-specific field,
    // te: trailers sent.
    let url = format!("http://{h2}/echo");
    let (code, meta, body) = curl(&["--http2-prior-knowledge", "-d", "abc", &url]);
    assert_eq!((code, meta.as_str()), (0, "200 2"), "{body}");
    assert!(body.starts_with(&format!("POST /echo {h2} 3\n")), "{body}");
    assert!(body.contains("\nte: trailers\n"), "{body}");
    assert!(body.contains("\ncontent-length: 3\n"), "{body}");
    // HTTP/1.1 client, with a chunked body.
    let url = format!("http://{h1}/echo");
    let (code, meta, body) = curl(&["-H", "transfer-encoding: chunked", "-d", "abcdef", &url]);
    assert_eq!((code, meta.as_str()), (0, "200 1.1"), "{body}");
    assert!(body.starts_with(&format!("POST /echo {h1} 6\n")), "{body}");
    assert!(!body.contains("transfer-encoding"), "{body}");
    assert!(!body.contains("connection"), "{body}");
    // The server's trailers reach an HTTP/1.1 client that takes them, only.
    let with = raw_h1(h1, "GET", "TE: trailers\r\n\r\n");
    assert!(with.starts_with("HTTP/1.1 200"), "{with}");
    assert!(
        with.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{with}"
    );
    assert!(with.ends_with("0\r\nx-sum: 0\r\n\r\n"), "{with:?}");
    let without = raw_h1(h1, "GET", "\r\n");
    assert!(without.ends_with("\r\n0\r\n\r\n"), "{without:?}");
    // An HTTP/1.0 client cannot read chunks: the body of unknown length ends with
    // the connection.
    let mut s = common::connect(h1);
    s.write_all(b"GET /echo HTTP/1.0\r\nHost: app.test\r\n\r\n")
        .unwrap();
    let mut old = String::new();
    let _ = s.read_to_string(&mut old);
    assert!(
        old.starts_with("HTTP/1.0 200") || old.starts_with("HTTP/1.1 200"),
        "{old}"
    );
    assert!(!old.to_ascii_lowercase().contains("chunked"), "{old}");
    assert!(old.contains("\r\n\r\nGET /echo app.test 0\n"), "{old}");
    // A request's trailers (a chunked body's trailer section) reach the server as
    // HTTP/2 trailers.
    let body = "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nx-req-sum: 3\r\n\r\n";
    let echo = raw_h1(h1, "POST", body);
    assert!(echo.contains("POST /echo app.test 3\n"), "{echo}");
    assert!(echo.contains("\ntrailer x-req-sum: 3\n"), "{echo}");
    // RST_STREAM before any response: 502 (after the retries).
    let (_, meta, _) = curl(&[&format!("http://{h1}/rst")]);
    assert_eq!(meta, "502 1.1");
    let (_, meta, _) = curl(&["--http2-prior-knowledge", &format!("http://{h2}/rst")]);
    assert_eq!(meta, "502 2");
    // Resets count against the server (passive health).
    assert!(metric(&r, "ringlb_server_response_errors_total", "h") >= 2.0);
    // RST_STREAM after part of the body: the client must not take it for the whole.
    let (code, _, _) = curl(&[&format!("http://{h1}/cut")]);
    assert_ne!(code, 0, "a cut response looks whole");
    let (code, _, _) = curl(&["--http2-prior-knowledge", &format!("http://{h2}/cut")]);
    assert_ne!(code, 0, "a cut response looks whole over HTTP/2");
    // GOAWAY with nothing processed: a GET goes again (on a new connection) and gets
    // its answer.
    let (code, meta, body) = curl(&[&format!("http://{h1}/goaway")]);
    assert_eq!(
        (code, meta.as_str(), body.as_str()),
        (0, "200 1.1", "again")
    );
    let (_, _, count) = curl(&[&format!("http://{h1}/count")]);
    assert_eq!(count, "2", "the GET was sent twice");
}

#[test]
fn a_second_connection_opens_at_the_servers_stream_limit() {
    if !tools("h2_server_stream_limit", "h2") {
        return;
    }
    let (server, r, _certs) = start_h2_peer(&["1"]);
    let h1 = r.addrs[2];
    // One request holds the connection's only stream...
    let slow = std::thread::spawn(move || curl(&[&format!("http://{h1}/slow")]));
    server.wait_line("slow received");
    // ...so the next one goes on a second connection, and is answered meanwhile.
    let (code, meta, _) = curl(&[&format!("http://{h1}/echo")]);
    assert_eq!((code, meta.as_str()), (0, "200 1.1"));
    let (code, meta, body) = slow.join().unwrap();
    assert_eq!((code, meta.as_str(), body.as_str()), (0, "200 1.1", "slow"));
    // Both have room now: no third connection.
    let (_, _, conns) = curl(&[&format!("http://{h1}/conns")]);
    assert_eq!(conns, "2");
}

#[test]
fn a_graceful_goaway_finishes_its_stream_and_the_next_goes_on_a_new_connection() {
    if !tools("h2_server_graceful_goaway", "h2") {
        return;
    }
    let (_server, r, _certs) = start_h2_peer(&[]);
    let h1 = r.addrs[2];
    let (code, meta, body) = curl(&[&format!("http://{h1}/drain")]);
    assert_eq!(
        (code, meta.as_str(), body.as_str()),
        (0, "200 1.1", "drained")
    );
    let (code, meta, _) = curl(&[&format!("http://{h1}/echo")]);
    assert_eq!((code, meta.as_str()), (0, "200 1.1"));
    let (_, _, conns) = curl(&[&format!("http://{h1}/conns")]);
    assert_eq!(conns, "2");
    // Nobody's fault: nothing failed, nothing was sent twice.
    assert_eq!(metric(&r, "ringlb_server_response_errors_total", "h"), 0.0);
    assert_eq!(metric(&r, "ringlb_server_requests_total", "h"), 3.0);
}

#[test]
fn failure_paths_server_down_h1_only_and_no_alpn_h2() {
    if !tools("h2_server_failure_paths", "grpc") {
        return;
    }
    // Down: nothing listens. gRPC sees UNAVAILABLE (HTTP 503), HTTP/1.1 503.
    let down = common::closed_port();
    let servers =
        format!("[[backend.server]]\nname = \"d\"\naddress = \"{down}\"\nproto = \"h2\"\n");
    let (r, _certs) = start(&servers);
    let (_, meta, _) = curl(&[&format!("http://{}/", r.addrs[2])]);
    assert_eq!(meta, "503 1.1");
    let lines = grpc_client(&r.addrs[0].to_string(), None);
    assert!(
        lines[0].starts_with("unary status UNAVAILABLE"),
        "{lines:#?}"
    );
    drop(r);

    // A server that speaks only HTTP/1.1 behind proto = "h2": 502, and the log says why.
    let h1 = common::http::Backend::start();
    let servers = format!(
        "[[backend.server]]\nname = \"old\"\naddress = \"{}\"\nproto = \"h2\"\n",
        h1.addr
    );
    let (mut r, _certs) = start(&servers);
    let (_, meta, _) = curl(&[&format!("http://{}/", r.addrs[2])]);
    assert_eq!(meta, "502 1.1");
    r.wait_for("HTTP/2 connection failed before any response");
    drop(r);

    // A TLS server that selects no h2 by ALPN: refused at connect time (503).
    let certs = CertDir::new();
    certs.write("backend", &["localhost"]);
    let tls = TlsBackend::start(&certs, "backend");
    let servers = format!(
        "[[backend.server]]\nname = \"t\"\naddress = \"{}\"\nproto = \"h2\"\ntls = true\nverify = false\n",
        tls.addr
    );
    let (mut r, _c) = start(&servers);
    let (_, meta, _) = curl(&[&format!("http://{}/", r.addrs[2])]);
    assert_eq!(meta, "503 1.1");
    r.wait_for("selected no protocol by ALPN, not \"h2\"");
    assert!(metric(&r, "ringlb_server_connect_errors_total", "t") >= 1.0);
}

/// An HTTP/2 server's interim responses (103 Early Hints) reach the client before the
/// final one, as HAProxy passes them: an HTTP/1.1 client gets an HTTP/1.1 103 head,
/// an HTTP/2 client an HTTP/2 interim HEADERS frame.
#[test]
fn early_hints_from_an_h2_server_reach_http11_and_http2_clients() {
    if !tools("early_hints_from_an_h2_server", "h2") {
        return;
    }
    let (_server, r, _certs) = start_h2_peer(&[]);
    let (h2, h1) = (r.addrs[0], r.addrs[2]);
    let mut s = common::connect(h1);
    s.write_all(b"GET /hints HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    assert!(raw.starts_with("HTTP/1.1 103 Early Hints\r\n"), "{raw}");
    assert!(
        raw.contains("link: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200 "),
        "{raw}"
    );
    assert!(raw.ends_with("hinted"), "{raw}");
    // curl shows every response head it gets with -D.
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "20",
            "--http2-prior-knowledge",
            "-D",
            "-",
        ])
        .arg(format!("http://{h2}/hints"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    let hint = text.find("http/2 103").unwrap_or_else(|| panic!("{text}"));
    let last = text.find("http/2 200").unwrap_or_else(|| panic!("{text}"));
    assert!(hint < last, "{text}");
    assert!(
        text[hint..last].contains("link: </style.css>; rel=preload"),
        "{text}"
    );
    assert!(text.ends_with("hinted"), "{text}");
}
