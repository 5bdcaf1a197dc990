//! HTTP/2 to servers (`proto = "h2"`, issue 18) end to end: real gRPC peers (Python
//! grpcio server and client) through ringlb, the client over cleartext h2 (prior
//! knowledge) and over TLS with ALPN h2, the server over cleartext h2 and over TLS:
//! unary, server, client and bidirectional streaming (also ping-pong: the client
//! waits for each reply before it sends on), an error status with its
//! message (trailers), a deadline that expires (its cancellation reaches the server),
//! 4 MiB messages both ways (flow control). Plain HTTP through an HTTP/2 server (a
//! Python h2 server) from curl over HTTP/1.1 and HTTP/2: the translation, trailers
//! to HTTP/1.1 clients only with `TE: trailers`, RST_STREAM and GOAWAY. Failure
//! paths: the server down, a server that speaks only HTTP/1.1, a TLS server that does
//! not select h2 by ALPN.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};

use common::pp_peers::free_port;
use common::tls::{CertDir, TlsBackend};
use common::Ringlb;

const PEERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/h2_peers");

/// python3 with `module`, and curl; skipped visibly (a failure with
/// RINGLB_REQUIRE_TOOLS=1) when missing.
fn tools(test: &str, module: &str) -> bool {
    let python = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    let curl = Command::new("curl").arg("--version").output().is_ok();
    let found = python && curl;
    if !found {
        assert_ne!(
            std::env::var("RINGLB_REQUIRE_TOOLS").as_deref(),
            Ok("1"),
            "python3 with {module}, and curl, are required"
        );
        common::say_skipped(
            test,
            &format!(
                "python3 {module} or curl missing (RINGLB_REQUIRE_TOOLS=1 makes this a failure)"
            ),
        );
    }
    found
}

/// A Python peer, killed on drop; what it prints comes as lines.
struct Peer(Child, Receiver<String>);

impl Peer {
    /// `python3 <script> <args>`, once it printed its ready line.
    fn start(script: &str, args: &[&str]) -> Peer {
        let mut child = Command::new("python3")
            .arg(format!("{PEERS}/{script}"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let peer = Peer(child, rx);
        peer.wait_line("ready");
        peer
    }

    /// Wait for a line containing `needle`.
    fn wait_line(&self, needle: &str) {
        loop {
            match self.1.recv_timeout(common::PATIENCE) {
                Ok(line) if line.contains(needle) => return,
                Ok(_) => {}
                Err(_) => panic!("the peer never printed {needle:?}"),
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Two frontends on backend "app" of `servers` (TOML `[[backend.server]]` tables):
/// "clear" (h2c prior knowledge) and "tls" (ALPN h2, http/1.1), and "h1" (HTTP/1.1).
fn config(certs: &CertDir, servers: &str) -> String {
    format!(
        "[global]\nworkers = 1\npin_workers = false\nadmin_bind = \"127.0.0.1:0\"\n\n\
         [defaults]\ntimeout_server = \"20s\"\n\n\
         [[frontend]]\nname = \"clear\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\n\
         default_backend = \"app\"\nh2c = \"prior-knowledge\"\n\n\
         [[frontend]]\nname = \"tls\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\n\
         default_backend = \"app\"\n\
         [frontend.tls]\ncertificates = [{}]\nalpn = [\"h2\", \"http/1.1\"]\n\n\
         [[frontend]]\nname = \"h1\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\n\
         default_backend = \"app\"\n\n\
         [[backend]]\nname = \"app\"\n{servers}",
        certs.entry("site")
    )
}

fn start(servers: &str) -> (Ringlb, CertDir) {
    let certs = CertDir::new();
    certs.write("site", &["www.example.test"]);
    certs.write("backend", &["localhost"]);
    let r = Ringlb::start(&config(&certs, servers));
    (r, certs)
}

/// A server's value of the metric `family` (`/metrics`).
fn metric(r: &Ringlb, family: &str, server: &str) -> f64 {
    let (_, text) = common::admin(r.admin_addr(), "GET", "/metrics", "", None);
    let series = format!("{family}{{backend=\"app\",server=\"{server}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series)?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in {text}"))
}

/// Run the gRPC client against `target` (TLS when `ca` is given); its lines.
fn grpc_client(target: &str, ca: Option<&str>) -> Vec<String> {
    let mut cmd = Command::new("timeout");
    cmd.args([
        "120",
        "python3",
        &format!("{PEERS}/grpc_peer.py"),
        "client",
        target,
    ]);
    if let Some(ca) = ca {
        cmd.args([ca, "www.example.test"]);
    }
    let out = cmd.output().expect("python3");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "grpc client failed: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines().map(str::to_string).collect()
}

/// Every case of the gRPC client came through as it does without ringlb.
fn assert_grpc_cases(lines: &[String], how: &str) {
    let expect = [
        "unary ok u:hello",
        "server_stream ok s0,s1,s2,s3,s4",
        "client_stream ok 50:50000",
        "bidi ok b:1,b:2,b:3",
        "pingpong ok b:p0,b:p1,b:p2",
        "big_response ok 4194304",
        "big_request ok u:yy",
        "fail status INVALID_ARGUMENT bad argument: x1",
        "deadline status DEADLINE_EXCEEDED",
        "cancelled_on_server yes",
    ];
    for (i, want) in expect.iter().enumerate() {
        let got = lines.get(i).map(String::as_str).unwrap_or("");
        assert!(
            got.starts_with(want),
            "{how}: case {i}: want {want:?}, got {got:?}\n{lines:#?}"
        );
    }
}

#[test]
fn grpc_end_to_end_over_cleartext_and_tls_on_both_sides() {
    if !tools("grpc_end_to_end", "grpc") {
        return;
    }
    let clear_port = free_port().to_string();
    let clear = Peer::start("grpc_peer.py", &["server", &clear_port]);
    let servers = format!(
        "[[backend.server]]\nname = \"g\"\naddress = \"127.0.0.1:{clear_port}\"\nproto = \"h2\"\n"
    );
    let (r, certs) = start(&servers);
    let ca = certs.0.join("site.pem").display().to_string();
    let lines = grpc_client(&r.addrs[0].to_string(), None);
    assert_grpc_cases(&lines, "cleartext client, cleartext server");
    let tls_target = format!("127.0.0.1:{}", r.addrs[1].port());
    let lines = grpc_client(&tls_target, Some(&ca));
    assert_grpc_cases(&lines, "TLS client (ALPN h2), cleartext server");
    // Every request was counted, all went on one connection, and none is still
    // holding the server (the expired deadlines' streams included).
    assert!(metric(&r, "ringlb_server_requests_total", "g") >= 18.0);
    assert_eq!(metric(&r, "ringlb_server_connections_total", "g"), 1.0);
    assert_eq!(metric(&r, "ringlb_server_current_connections", "g"), 0.0);
    drop(r);
    drop(clear);

    // The server over TLS: ringlb offers h2 by ALPN, the gRPC server selects it.
    let tls_port = free_port().to_string();
    let cert = certs.0.join("backend.pem").display().to_string();
    let key = certs.0.join("backend.key").display().to_string();
    let _tls = Peer::start("grpc_peer.py", &["server", &tls_port, &cert, &key]);
    let servers = format!(
        "[[backend.server]]\nname = \"g\"\naddress = \"127.0.0.1:{tls_port}\"\nproto = \"h2\"\n\
         tls = true\nsni = \"localhost\"\nca_file = \"{cert}\"\n"
    );
    let r = Ringlb::start(&config(&certs, &servers));
    let lines = grpc_client(&r.addrs[0].to_string(), None);
    assert_grpc_cases(&lines, "cleartext client, TLS server");
}

/// curl; (exit code, status and version line, body).
fn curl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "20",
            "-w",
            "\n%{http_code} %{http_version}",
        ])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, meta) = text.rsplit_once('\n').unwrap_or(("", &text));
    (
        out.status.code().unwrap_or(-1),
        meta.to_string(),
        body.to_string(),
    )
}

/// ringlb (see [`start`]) in front of one `h2_server.py` (`args` after its port) as
/// a server with `proto = "h2"`.
fn start_h2_peer(args: &[&str]) -> (Peer, Ringlb, CertDir) {
    let port = free_port().to_string();
    let mut all = vec![port.as_str()];
    all.extend_from_slice(args);
    let server = Peer::start("h2_server.py", &all);
    let servers = format!(
        "[[backend.server]]\nname = \"h\"\naddress = \"127.0.0.1:{port}\"\nproto = \"h2\"\n"
    );
    let (r, certs) = start(&servers);
    (server, r, certs)
}

/// One HTTP/1.1 request to /echo on a fresh connection (`extra`: fields, then the
/// body, if any, after the empty line); the whole raw response (the server closes
/// after it: `Connection: close`).
fn raw_h1(addr: std::net::SocketAddr, method: &str, extra: &str) -> String {
    let mut s = common::connect(addr);
    write!(
        s,
        "{method} /echo HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n{extra}"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).to_string()
}

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

#[test]
fn proto_is_checked_with_file_line_and_key() {
    let certs = CertDir::new();
    certs.write("site", &["www.example.test"]);
    let text = config(
        &certs,
        "[[backend.server]]\nname = \"x\"\naddress = \"127.0.0.1:1\"\nproto = \"h3\"\n",
    );
    let cfg = common::TempConfig::new(&text);
    let out = Command::new(env!("CARGO_BIN_EXE_ringlb"))
        .args(["check", "-c"])
        .arg(&cfg.0)
        .output()
        .unwrap();
    let err =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{err}");
    let line = text.lines().position(|l| l.starts_with("proto")).unwrap() + 1;
    assert!(err.contains(&format!(":{line}:")), "{err}");
    assert!(
        err.contains("server \"x\": proto: \"h3\" is not \"h1\" or \"h2\""),
        "{err}"
    );
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
