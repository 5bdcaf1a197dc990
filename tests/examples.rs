//! The examples in configs/ do what their comments say, run against local backends.

mod common;

use common::http::Client;
use common::switch::Switch;
use common::Ringlb;

fn example(name: &str) -> String {
    let path = format!("{}/configs/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn tcp_example_sends_traffic_to_the_backup_once_the_primary_is_down() {
    let (pg1, pg2) = (Switch::start("pg1"), Switch::start("pg2"));
    let text = example("tcp.toml")
        .replace("127.0.0.1:6432", "127.0.0.1:0")
        .replace("127.0.0.1:5432", &pg1.addr.to_string())
        .replace("127.0.0.1:5433", &pg2.addr.to_string())
        .replace("interval = \"2s\"", "interval = \"100ms\"");
    let mut r = Ringlb::start(&text);
    // (The backends speak HTTP, which a TCP frontend carries as bytes.)
    let (status, _, body) = Client::connect(r.addr()).get("/q");
    assert_eq!((status, body.as_slice()), (200, &b"pg1 /q"[..]));
    pg1.stop();
    r.wait_for("pg/pg1 DOWN");
    let (status, _, body) = Client::connect(r.addr()).get("/q");
    assert_eq!((status, body.as_slice()), (200, &b"pg2 /q"[..]));
}

#[test]
fn tls_passthrough_example_routes_by_sni_behind_a_proxy_protocol_sender() {
    use common::peers::ProxyBackend;
    use common::tls::{connect, CertDir, Hello, TlsBackend};
    use std::io::{Read, Write};
    let dir = CertDir::new();
    let apps_der = dir.write("apps", &["*.apps.example.com"]);
    let dflt_der = dir.write("dflt", &["default.example.com"]);
    let (apps1, apps2, dflt) = (
        TlsBackend::start(&dir, "apps"),
        TlsBackend::start(&dir, "apps"),
        TlsBackend::start(&dir, "dflt"),
    );
    // The api server takes a PROXY header first (send_proxy = "v2"): it records it,
    // then terminates TLS like the others would.
    let api = ProxyBackend::start();
    let text = example("tls-passthrough.toml")
        .replace("127.0.0.1:8443", "127.0.0.1:0")
        .replace("127.0.0.1:9441", &api.addr.to_string())
        .replace("127.0.0.1:9442", &apps1.addr.to_string())
        .replace("127.0.0.1:9443", &apps2.addr.to_string())
        .replace("127.0.0.1:9444", &dflt.addr.to_string());
    let r = Ringlb::start(&text);
    // A front proxy's connection: a PROXY v2 header, then the client's TLS.
    let through_front = |sni: &str| {
        let mut h = Vec::new();
        let client = Some((
            "203.0.113.9:40000".parse().unwrap(),
            "198.51.100.1:443".parse().unwrap(),
        ));
        ringlb::proxy_protocol::encode_v2(client, &Default::default(), &mut h);
        let mut tcp = std::net::TcpStream::connect(r.addr()).unwrap();
        tcp.write_all(&h).unwrap();
        let hello = Hello {
            sni: Some(sni),
            ..Default::default()
        };
        common::tls::connect_over(tcp, &hello)
    };
    let mut c = through_front("x.apps.example.com").unwrap();
    assert_eq!(c.presented, apps_der);
    assert_eq!(c.get("/a").0, 200);
    let c = through_front("nothing.example.net").unwrap();
    assert_eq!(c.presented, dflt_der);
    // api: the server got ringlb's header naming the client, then the raw hello
    // (the recording backend echoes what follows, so the handshake cannot finish:
    // the echo of the ClientHello is no ServerHello).
    assert!(through_front("api.example.com").is_err());
    let deadline = std::time::Instant::now() + common::PATIENCE;
    while api.sources().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "api got no connection"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(api.sources(), ["203.0.113.9:40000"]);
    // A client straight in, without the front proxy's header: refused.
    assert!(connect(r.addr(), &Hello::default()).is_err());
    // Not TLS after a good header: closed (sni_fallback = "close").
    let mut h = Vec::new();
    ringlb::proxy_protocol::encode_v2(None, &Default::default(), &mut h);
    let mut tcp = std::net::TcpStream::connect(r.addr()).unwrap();
    tcp.set_read_timeout(Some(common::PATIENCE)).unwrap();
    tcp.write_all(&h).unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let mut rest = Vec::new();
    let _ = tcp.read_to_end(&mut rest);
    assert!(rest.is_empty());
}
