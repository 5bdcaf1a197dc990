//! TLS passthrough routed by SNI (tcp mode, `[[frontend.route]] sni`): real rustls
//! clients (and curl) against two TLS backends with different certificates; the
//! bytes go through untouched, so the certificate the client sees is the backend's.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use common::tls::{connect, CertDir, Hello, TlsBackend};
use common::{admin, Echo, Ringlb, PATIENCE};

struct Setup {
    r: Ringlb,
    _dir: CertDir,
    a: (TlsBackend, Vec<u8>),
    b: (TlsBackend, Vec<u8>),
    d: (TlsBackend, Vec<u8>),
    echo: Echo,
}

fn setup() -> Setup {
    let dir = CertDir::new();
    let a_der = dir.write("a", &["a.example.com"]);
    let b_der = dir.write("b", &["*.b.example.com"]);
    let d_der = dir.write("d", &["default.example.com"]);
    let (a, b, d) = (
        TlsBackend::start(&dir, "a"),
        TlsBackend::start(&dir, "b"),
        TlsBackend::start(&dir, "d"),
    );
    let echo = Echo::start();
    let config = format!(
        r#"
[global]
workers = 2
pin_workers = false
admin_bind = "127.0.0.1:0"

[defaults]
timeout_client_handshake = "2s"

[[frontend]]
name = "tls_in"
bind = ["127.0.0.1:0"]
mode = "tcp"
default_backend = "dflt"

[[frontend.route]]
sni = "a.example.com"
backend = "a"

[[frontend.route]]
sni = "*.b.example.com"
backend = "b"

[[frontend]]
name = "fallback_default"
bind = ["127.0.0.1:0"]
mode = "tcp"
default_backend = "echo"
sni_fallback = "default"
timeout_client_handshake = "2s"
[[frontend.route]]
sni = "a.example.com"
backend = "a"

[[frontend]]
name = "fallback_close"
bind = ["127.0.0.1:0"]
mode = "tcp"
default_backend = "echo"
sni_fallback = "close"
[[frontend.route]]
sni = "a.example.com"
backend = "a"

[[backend]]
name = "a"
[[backend.server]]
name = "a1"
address = "{}"

[[backend]]
name = "b"
[[backend.server]]
name = "b1"
address = "{}"

[[backend]]
name = "dflt"
[[backend.server]]
name = "d1"
address = "{}"

[[backend]]
name = "echo"
[[backend.server]]
name = "e1"
address = "{}"
"#,
        a.addr, b.addr, d.addr, echo.addr
    );
    let r = Ringlb::start(&config);
    Setup {
        r,
        _dir: dir,
        a: (a, a_der),
        b: (b, b_der),
        d: (d, d_der),
        echo,
    }
}

fn hello(sni: Option<&str>) -> Hello<'_> {
    Hello {
        sni,
        alpn: &["http/1.1"],
        version: 0,
    }
}

#[test]
fn clients_reach_the_backend_their_sni_names_and_see_its_certificate() {
    let s = setup();
    let addr = s.r.addrs[0];
    let cases: [(Option<&str>, &Vec<u8>); 6] = [
        (Some("a.example.com"), &s.a.1),
        (Some("x.b.example.com"), &s.b.1),
        (Some("deep.x.b.example.com"), &s.b.1),
        // The bare domain is not `*.b.example.com`.
        (Some("b.example.com"), &s.d.1),
        (Some("other.example.com"), &s.d.1),
        (None, &s.d.1),
    ];
    for (sni, want) in cases {
        let mut c = connect(addr, &hello(sni)).unwrap_or_else(|e| panic!("{sni:?}: {e}"));
        assert_eq!(&c.presented, want, "{sni:?} got another certificate");
        let (status, body) = c.get("/p");
        assert_eq!((status, body.as_slice()), (200, &b"tls-backend /p"[..]));
    }
    // The backends themselves saw the client's SNI: nothing was rewritten.
    assert_eq!(s.a.0.sni.lock().unwrap().as_deref(), Some("a.example.com"));
    assert_eq!(s.b.0.handshakes(), 2);
    assert_eq!(s.d.0.handshakes(), 3);
}

#[test]
fn a_hello_split_over_many_reads_and_records_is_routed() {
    let s = setup();
    let config = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(ringlb::tls::insecure_verifier())
        .with_no_client_auth(),
    );
    let name = rustls::pki_types::ServerName::try_from("x.b.example.com").unwrap();
    let mut conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut first = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut first).unwrap();
    }
    // Re-cut the handshake message into 40-byte records, then send them a few
    // bytes at a time.
    let msg_len = 4 + usize::from(u16::from_be_bytes([first[7], first[8]]));
    let msg = first[5..5 + msg_len].to_vec();
    let mut records = Vec::new();
    for chunk in msg.chunks(40) {
        records.extend_from_slice(&[0x16, 3, 1, 0, chunk.len() as u8]);
        records.extend_from_slice(chunk);
    }
    let mut tcp = TcpStream::connect(s.r.addrs[0]).unwrap();
    tcp.set_nodelay(true).unwrap();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    for part in records.chunks(97) {
        tcp.write_all(part).unwrap();
        std::thread::sleep(Duration::from_millis(3));
    }
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock).unwrap();
    }
    let presented = stream.conn.peer_certificates().unwrap()[0]
        .as_ref()
        .to_vec();
    assert_eq!(presented, s.b.1);
}

#[test]
fn curl_reaches_the_backend_of_its_name() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        if std::env::var("RINGLB_REQUIRE_TOOLS").as_deref() == Ok("1") {
            panic!("curl is required");
        }
        common::say_skipped("curl_reaches_the_backend_of_its_name", "curl not installed");
        return;
    }
    let s = setup();
    let port = s.r.addrs[0].port();
    for (name, backend) in [("a.example.com", &s.a.0), ("z.b.example.com", &s.b.0)] {
        let out = std::process::Command::new("curl")
            .args(["-sk", "--max-time", "10", "--resolve"])
            .arg(format!("{name}:{port}:127.0.0.1"))
            .arg(format!("https://{name}:{port}/curl"))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "tls-backend /curl");
        assert_eq!(backend.sni.lock().unwrap().as_deref(), Some(name));
    }
}

#[test]
fn what_is_not_tls_goes_to_the_default_backend_or_is_closed_as_configured() {
    let mut s = setup();
    // sni_fallback = "default": plain bytes reach the (echo) default backend untouched.
    let mut c = TcpStream::connect(s.r.addrs[1]).unwrap();
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    c.write_all(b"PING not tls\r\n").unwrap();
    let mut back = [0u8; 14];
    c.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"PING not tls\r\n");
    drop(c);
    // A client that says nothing (a server-speaks-first protocol) goes to the
    // default backend once timeout_client_handshake passes, and is relayed.
    let mut c = TcpStream::connect(s.r.addrs[1]).unwrap();
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    let before = s.echo.count();
    while s.echo.count() == before {
        assert!(std::time::Instant::now() < deadline, "never relayed");
        std::thread::sleep(Duration::from_millis(20));
    }
    c.write_all(b"late").unwrap();
    let mut back = [0u8; 4];
    c.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"late");
    drop(c);
    // sni_fallback = "close": closed, nothing reaches a server.
    let before = s.echo.count();
    let mut c = TcpStream::connect(s.r.addrs[2]).unwrap();
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    c.write_all(b"PING not tls\r\n").unwrap();
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest);
    assert!(rest.is_empty());
    assert_eq!(s.echo.count(), before);
    // Counted by reason.
    s.r.wait_logged("admin API listening on");
    let (_, metrics) = admin(s.r.admin_addr(), "GET", "/metrics", "", None);
    for (fe, reason) in [
        ("fallback_default", "not_tls"),
        ("fallback_close", "not_tls"),
        ("fallback_default", "timeout"),
    ] {
        let line = format!(
            "ringlb_frontend_sni_hello_failures_total{{frontend=\"{fe}\",reason=\"{reason}\"}} 1"
        );
        assert!(metrics.contains(&line), "no {line:?} in\n{metrics}");
    }
}
