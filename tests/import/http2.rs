//! HTTP/2 servers, checks and binds.

use super::*;

/// `ringlb import haproxy CFG -o OUT --allow-partial`: exit status, lost lines, text, table.
fn haproxy_partial(name: &str, cfg: &str) -> (i32, Vec<String>, String, toml::Table) {
    let input = temp(&format!("{name}.cfg"));
    std::fs::write(&input, cfg).unwrap();
    let out = temp(&format!("{name}.toml"));
    let i = input.to_str().unwrap();
    let o = import(&["haproxy", i, "-o", out.to_str().unwrap(), "--allow-partial"]);
    let lost = lost_lines(&stderr(&o), i);
    let text = std::fs::read_to_string(&out).unwrap();
    let t: toml::Table = toml::from_str(&text).unwrap();
    check(&out);
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_file(&out);
    (o.status.code().unwrap_or(-1), lost, text, t)
}

fn backend<'a>(t: &'a toml::Table, name: &str) -> &'a toml::Value {
    t["backend"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no backend {name}"))
}

const H2: &str = "defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n\nfrontend grpc\n  bind 127.0.0.1:0 proto h2\n  default_backend grpc\n\nbackend grpc\n  option httpchk GET /health\n  server g1 127.0.0.1:50051 proto h2 check id 3 init-addr last,libc,none\n  server g2 127.0.0.1:50052 proto h2 check\n\nbackend asked\n  option httpchk\n  default-server check-proto h2\n  server a1 127.0.0.1:1 check\n  server a2 127.0.0.1:2 check check-proto h1\n\nbackend plain\n  option httpchk\n  server p1 127.0.0.1:3 check check-proto h1\n\nbackend tlsh2\n  server t1 127.0.0.1:4 ssl verify none alpn h2 no-tlsv11 ssl-min-ver TLSv1.2\n\nbackend tcpchk\n  option tcp-check\n  server c1 127.0.0.1:5 check check-proto h2\n";

/// HTTP/2 from HAProxy: `server ... proto h2` (and `ssl ... alpn h2`) → `proto = "h2"`;
/// the http check follows the servers' protocol (`check-proto`, else `proto`) into
/// `[backend.check] proto` when they agree and is reported when they do not;
/// `bind ... proto h2` → `h2c = "prior-knowledge"`; options with no key are said in
/// comments, never dropped silently; the output passes `ringlb check`.
#[test]
fn http2_servers_checks_and_binds() {
    let (code, lost, text, t) = haproxy_partial("h2", H2);
    assert_eq!(code, 3, "{lost:?}");
    let fe = &t["frontend"][0];
    assert_eq!(fe["h2c"].as_str(), Some("prior-knowledge"), "{text}");

    let grpc = backend(&t, "grpc");
    assert_eq!(grpc["check"]["kind"].as_str(), Some("http"));
    assert_eq!(grpc["check"]["proto"].as_str(), Some("h2"), "{text}");
    for s in grpc["server"].as_array().unwrap() {
        assert_eq!(s["proto"].as_str(), Some("h2"));
    }
    assert!(
        text.contains("proto h2: HAProxy checks the server over HTTP/2"),
        "{text}"
    );
    assert!(text.contains("(id: HAProxy's numeric server id"), "{text}");
    assert!(text.contains("(init-addr: differs:"), "{text}");

    // default-server check-proto h2, one server back to h1: one proto per backend.
    let asked = backend(&t, "asked");
    assert_eq!(asked["check"]["proto"].as_str(), Some("h2"), "{text}");
    assert!(
        lost.iter().any(|l| l.contains(
            ":20: server check over h1: not translated: ringlb has one check proto per backend"
        )),
        "{lost:?}"
    );
    assert!(
        backend(&t, "plain")["check"].get("proto").is_none(),
        "{text}"
    );
    assert!(
        text.contains("check-proto h1: ringlb's default check proto"),
        "{text}"
    );

    let tls = &backend(&t, "tlsh2")["server"][0];
    assert_eq!(tls["tls"].as_bool(), Some(true));
    assert_eq!(tls["proto"].as_str(), Some("h2"));
    assert!(
        text.contains("(no-tlsv11: ringlb (rustls) speaks TLS 1.2 and 1.3 only)"),
        "{text}"
    );
    assert!(
        text.contains("(ssl-min-ver: ringlb (rustls) speaks TLS 1.2 and 1.3 only: the same floor)"),
        "{text}"
    );

    assert!(
        lost.iter().any(|l| l.contains(":31: server check-proto h2: not translated: ringlb's check proto applies to http checks")),
        "{lost:?}"
    );
    assert_eq!(lost.len(), 2, "{lost:?}");

    // A real one: gRPC servers over h2, checked over HTTP/1.1 on another port through
    // `http-check connect` (the documented reason: the health server has no h2).
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus/haproxy/canton-participant-ha.cfg");
    let o = import(&["haproxy", file.to_str().unwrap(), "--allow-partial"]);
    // Complete since `option logasap` translates (`log_asap`).
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    let t: toml::Table = toml::from_str(&text).unwrap();
    for fe in t["frontend"].as_array().unwrap() {
        assert_eq!(fe["h2c"].as_str(), Some("prior-knowledge"), "{text}");
        assert_eq!(fe["log_asap"].as_bool(), Some(true), "{text}");
    }
    for be in t["backend"].as_array().unwrap() {
        assert!(be["check"].get("proto").is_none(), "{text}");
        for s in be["server"].as_array().unwrap() {
            assert_eq!(s["proto"].as_str(), Some("h2"));
            assert_eq!(s["check_port"].as_integer(), Some(8080));
        }
    }
}
