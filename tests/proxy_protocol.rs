//! PROXY protocol end to end: ringlb receiving headers (from raw clients, hostile
//! ones, and HAProxy's `send-proxy-v2`) and sending them (to HAProxy `accept-proxy`,
//! nginx `proxy_protocol`, and a recording backend), in tcp and http mode.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::http::{client_from, Backend};
use common::pp_peers::{self as peers, ProxyBackend};
use common::{admin, Ringlb, PATIENCE};
use ringlb::proxy_protocol::{encode, Tlvs, Version, V2_SIGNATURE};

/// tcp mode: a frontend taking headers from 127.0.0.1 (v1 or v2), its backend
/// sending `send` to `server`.
fn tcp_config(server: SocketAddr, send: &str, extra_frontend: &str) -> String {
    format!(
        r#"
[global]
workers = 2
pin_workers = false
admin_bind = "127.0.0.1:0"

[[frontend]]
name = "pp"
bind = ["127.0.0.1:0"]
mode = "tcp"
default_backend = "b"
proxy_protocol = "any"
proxy_protocol_from = ["127.0.0.1/32", "::1"]
timeout_client_handshake = "2s"
{extra_frontend}

[[backend]]
name = "b"
[[backend.server]]
name = "s1"
address = "{server}"
send_proxy = "{send}"
"#
    )
}

fn header(v: Version, src: &str, dst: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let a = Some((src.parse().unwrap(), dst.parse().unwrap()));
    encode(v, a, &Tlvs::default(), &mut out);
    out
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Send `first` (header and data in one write), then read the echo of `data`.
fn echo_after(addr: SocketAddr, first: &[u8], data: &[u8]) {
    let mut s = connect(addr);
    s.write_all(&[first, data].concat()).unwrap();
    let mut back = vec![0u8; data.len()];
    s.read_exact(&mut back).unwrap();
    assert_eq!(back, data);
}

fn wait_sources(b: &ProxyBackend, n: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let s = b.sources();
        if s.len() >= n {
            return s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "backend saw only {s:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_client_of_a_received_header_is_the_one_sent_to_the_server() {
    for send in ["v1", "v2"] {
        let b = ProxyBackend::start();
        let r = Ringlb::start(&tcp_config(b.addr, send, ""));
        let addr = r.addr();
        // v1, v2 IPv4, v2 IPv6, each with the client's first bytes in the same write.
        echo_after(
            addr,
            &header(Version::V1, "192.0.2.7:4444", "198.51.100.1:443"),
            b"one",
        );
        echo_after(
            addr,
            &header(Version::V2, "192.0.2.8:5555", "198.51.100.1:443"),
            b"two",
        );
        echo_after(
            addr,
            &header(Version::V2, "[2001:db8::5]:1", "[2001:db8::1]:443"),
            b"3",
        );
        // LOCAL: the connection's own address stays.
        let local = [&V2_SIGNATURE[..], &[0x20, 0x00, 0, 0]].concat();
        echo_after(addr, &local, b"four");
        let seen = wait_sources(&b, 4);
        let want = ["192.0.2.7:4444", "192.0.2.8:5555", "[2001:db8::5]:1"];
        assert_eq!(&seen[..3], want, "send {send}");
        assert!(seen[3].starts_with("127.0.0.1:"), "{seen:?}");
    }
}

#[test]
fn a_header_cut_into_single_bytes_is_read_whole() {
    let b = ProxyBackend::start();
    let r = Ringlb::start(&tcp_config(b.addr, "v2", ""));
    for h in [
        header(Version::V1, "192.0.2.9:9", "198.51.100.1:80"),
        header(Version::V2, "192.0.2.10:10", "198.51.100.1:80"),
    ] {
        let mut s = connect(r.addr());
        for byte in &h {
            s.write_all(&[*byte]).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        s.write_all(b"after").unwrap();
        let mut back = [0u8; 5];
        s.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"after");
    }
    assert_eq!(wait_sources(&b, 2), ["192.0.2.9:9", "192.0.2.10:10"]);
}

/// The connection is closed without a byte, and nothing reached the server.
fn refused(addr: SocketAddr, bytes: &[u8]) {
    let mut s = connect(addr);
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(out.is_empty(), "{bytes:?} got {out:?}");
}

#[test]
fn hostile_headers_are_closed_and_counted_by_reason() {
    let b = ProxyBackend::start();
    let mut r = Ringlb::start(&tcp_config(b.addr, "v2", ""));
    let addr = r.addr();
    let v2 = |rest: &[u8]| [&V2_SIGNATURE[..], rest].concat();
    let mut long = b"PROXY TCP4 ".to_vec();
    long.resize(120, b'1');
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("signature", b"GET / HTTP/1.1\r\n\r\n".to_vec()),
        ("signature", b"\x16\x03\x01\x00\x05hello".to_vec()),
        ("malformed", b"PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n".to_vec()),
        (
            "malformed",
            b"PROXY TCP4 300.2.3.4 5.6.7.8 80 80\r\n".to_vec(),
        ),
        ("too_long", long),
        ("command", v2(&[0x23, 0x11, 0, 12])),
        ("family", v2(&[0x21, 0x51, 0, 12])),
        ("length", v2(&[0x21, 0x11, 0, 4, 1, 2, 3, 4])),
        ("length", v2(&[0x21, 0x21, 0, 12])),
        ("too_long", v2(&[0x21, 0x11, 0xff, 0xff])),
    ];
    for (_, bytes) in &cases {
        refused(addr, bytes);
    }
    // Truncated: half a header, then the client closes.
    let h = header(Version::V2, "192.0.2.1:1", "192.0.2.2:2");
    refused(addr, &h[..10]);
    // Nothing at all within timeout_client_handshake.
    refused(addr, b"");
    assert!(b.sources().is_empty(), "{:?}", b.sources());
    r.wait_logged("admin API listening on");
    let (_, m) = admin(r.admin_addr(), "GET", "/metrics", "", None);
    let count = |reason: &str| {
        let key = format!(
            "ringlb_frontend_proxy_protocol_refused_total{{frontend=\"pp\",reason=\"{reason}\"}} "
        );
        m.lines()
            .find_map(|l| l.strip_prefix(key.as_str()))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no {key} in\n{m}"))
    };
    for reason in ["signature", "malformed", "too_long", "length"] {
        assert_eq!(count(reason), 2, "{reason}");
    }
    assert_eq!(count("command"), 1);
    assert_eq!(count("family"), 1);
    // The truncated header and the silent client: both end by the timeout or the
    // close, whichever the worker sees first.
    assert_eq!(count("closed") + count("timeout"), 2);
    assert!(r.logged("PROXY protocol header refused"));
}

#[test]
fn a_header_from_an_untrusted_peer_is_refused_and_a_version_not_accepted_too() {
    let b = ProxyBackend::start();
    let text = tcp_config(b.addr, "v2", "")
        .replace("proxy_protocol = \"any\"", "proxy_protocol = \"v2\"")
        .replace("[\"127.0.0.1/32\", \"::1\"]", "[\"10.0.0.0/8\"]");
    let mut r = Ringlb::start(&text);
    refused(r.addr(), &header(Version::V2, "192.0.2.1:1", "192.0.2.2:2"));
    let text =
        tcp_config(b.addr, "v2", "").replace("proxy_protocol = \"any\"", "proxy_protocol = \"v2\"");
    let mut r2 = Ringlb::start(&text);
    refused(
        r2.addr(),
        &header(Version::V1, "192.0.2.1:1", "192.0.2.2:2"),
    );
    for (r, reason) in [(&mut r, "untrusted"), (&mut r2, "version")] {
        r.wait_logged("admin API listening on");
        let (_, m) = admin(r.admin_addr(), "GET", "/metrics", "", None);
        let line = format!(
            "ringlb_frontend_proxy_protocol_refused_total{{frontend=\"pp\",reason=\"{reason}\"}} 1"
        );
        assert!(m.contains(&line), "no {line} in\n{m}");
    }
    assert!(b.sources().is_empty());
}

#[test]
fn http_mode_with_send_proxy_never_gives_one_clients_server_connection_to_another() {
    let b = ProxyBackend::start();
    let config = common::http::http_config(b.addr, "", "")
        .replace("address = ", "send_proxy = \"v1\"\naddress = ");
    let r = Ringlb::start(&config);
    let mut c2 = client_from("127.0.0.2", r.addr());
    let mut c3 = client_from("127.0.0.3", r.addr());
    for round in 0..3 {
        for (c, ip) in [(&mut c2, "127.0.0.2:"), (&mut c3, "127.0.0.3:")] {
            let (status, _, body) = c.get(&format!("/r{round}"));
            let body = String::from_utf8(body).unwrap();
            assert_eq!(status, 200);
            assert!(body.starts_with(ip), "round {round}: {ip} got {body:?}");
            // The client's own server connection carries its next requests (the
            // backend numbers the requests of each connection).
            assert!(
                body.ends_with(&format!(" {}", round + 1)),
                "round {round}: {body:?}"
            );
        }
    }
    // A third client after the first two went idle gets a connection of its own.
    let mut c4 = client_from("127.0.0.4", r.addr());
    let (_, _, body) = c4.get("/late");
    assert!(String::from_utf8(body).unwrap().starts_with("127.0.0.4:"));
    assert_eq!(b.sources().len(), 3, "{:?}", b.sources());
}

#[test]
fn haproxy_send_proxy_v2_in_front_gives_ringlb_the_real_client() {
    if !peers::have("haproxy_send_proxy_v2_in_front", "/usr/sbin/haproxy") {
        return;
    }
    let app = Backend::start();
    let config = format!(
        r#"
[global]
workers = 1
pin_workers = false
access_log = true

[[frontend]]
name = "web"
bind = ["127.0.0.1:0"]
mode = "http"
default_backend = "app"
forwarded_for = true
proxy_protocol = "v2"
proxy_protocol_from = ["127.0.0.1"]

[[backend]]
name = "app"
[[backend.server]]
name = "a1"
address = "{}"
"#,
        app.addr
    );
    let mut r = Ringlb::start(&config);
    let front = peers::haproxy(&format!(
        "global\n  maxconn 100\ndefaults\n  mode tcp\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n\
         frontend f\n  bind 127.0.0.1:{{PORT}}\n  default_backend b\n\
         backend b\n  server ringlb {} send-proxy-v2\n",
        r.addr()
    ));
    let mut c = client_from("127.0.0.2", front.addr);
    let (status, _, _) = c.get("/via-haproxy");
    assert_eq!(status, 200);
    let heads = app.seen.heads.lock().unwrap().clone();
    let head = heads
        .iter()
        .find(|h| h.contains("/via-haproxy"))
        .expect("request");
    assert!(
        head.to_ascii_lowercase()
            .contains("x-forwarded-for: 127.0.0.2"),
        "{head}"
    );
    r.wait_for("127.0.0.2");
}

#[test]
fn haproxy_and_nginx_behind_ringlb_see_the_client_in_its_header() {
    let have_haproxy = peers::have("haproxy_accept_proxy_behind", "/usr/sbin/haproxy");
    let have_nginx = peers::have("nginx_proxy_protocol_behind", "/usr/sbin/nginx");
    let mut peers_to_test = Vec::new();
    if have_haproxy {
        let hp = peers::haproxy(
            "global\n  maxconn 100\ndefaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n\
             frontend f\n  bind 127.0.0.1:{PORT} accept-proxy\n  http-request return status 200 content-type text/plain lf-string \"%[src]\"\n",
        );
        peers_to_test.push(("haproxy", hp));
    }
    if have_nginx {
        peers_to_test.push(("nginx", peers::nginx_proxy_protocol()));
    }
    for (name, peer) in &peers_to_test {
        for (mode, send) in [("http", "v1"), ("http", "v2"), ("tcp", "v2"), ("tcp", "v1")] {
            let config = common::http::http_config(peer.addr, "", "")
                .replace("mode = \"http\"", &format!("mode = \"{mode}\""))
                .replace(
                    "address = ",
                    &format!("send_proxy = \"{send}\"\naddress = "),
                );
            let r = Ringlb::start(&config);
            let mut c = client_from("127.0.0.3", r.addr());
            let (status, _, body) = c.get("/who");
            assert_eq!(
                (status, String::from_utf8_lossy(&body).as_ref()),
                (200, "127.0.0.3"),
                "{name} behind ringlb in {mode} mode with send_proxy {send}"
            );
        }
    }
}

#[test]
fn a_tls_client_is_described_to_haproxy_in_v2_tlvs() {
    if !peers::have("tls_client_v2_tlvs", "/usr/sbin/haproxy") {
        return;
    }
    let hp = peers::haproxy(
        "global\n  maxconn 100\ndefaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n\
         frontend f\n  bind 127.0.0.1:{PORT} accept-proxy\n  http-request return status 200 content-type text/plain lf-string \"%[src] %[fc_pp_authority]\"\n",
    );
    let dir = common::tls::CertDir::new();
    dir.write("a", &["a.example.com"]);
    let config = format!(
        "{}\n[frontend.tls]\ncertificates = [{}]\n",
        common::http::http_config(hp.addr, "", "")
            .replace("address = ", "send_proxy = \"v2\"\naddress = "),
        dir.entry("a")
    );
    // [frontend.tls] must follow the frontend's keys: move the backend after it.
    let (front, back) = config.split_once("[[backend]]").unwrap();
    let (back, tls) = back.split_once("\n[frontend.tls]").unwrap();
    let config = format!("{front}[frontend.tls]{tls}\n[[backend]]{back}");
    let r = Ringlb::start(&config);
    let hello = common::tls::Hello {
        sni: Some("a.example.com"),
        ..Default::default()
    };
    let mut c = common::tls::connect(r.addr(), &hello).unwrap();
    let (status, body) = c.get("/tls");
    assert_eq!(
        (status, String::from_utf8_lossy(&body).as_ref()),
        (200, "127.0.0.1 a.example.com")
    );
}

#[test]
fn connection_rules_see_the_client_of_the_header() {
    let b = ProxyBackend::start();
    let rules = "[[frontend.acl]]\nname = \"bad\"\nsrc = [\"192.0.2.0/24\"]\n\
                 [[frontend.tcp_rule]]\naction = \"reject\"\nif = \"bad\"\n";
    let mut r = Ringlb::start(&tcp_config(b.addr, "v2", rules));
    // From 127.0.0.1 (the trusted proxy) both times: only the header differs.
    refused(
        r.addr(),
        &header(Version::V2, "192.0.2.7:1000", "198.51.100.1:443"),
    );
    echo_after(
        r.addr(),
        &header(Version::V2, "198.51.100.7:1000", "198.51.100.1:443"),
        b"ok",
    );
    assert_eq!(wait_sources(&b, 1), ["198.51.100.7:1000"]);
    r.wait_logged("admin API listening on");
    let (_, m) = admin(r.admin_addr(), "GET", "/metrics", "", None);
    assert!(
        m.contains("ringlb_frontend_proxy_protocol_accepted_total{frontend=\"pp\"} 2"),
        "{m}"
    );
}

#[test]
fn balance_source_hashes_the_client_of_the_header() {
    let (b1, b2) = (ProxyBackend::start(), ProxyBackend::start());
    let text = tcp_config(b1.addr, "v1", "")
        .replace("name = \"b\"\n", "name = \"b\"\nbalance = \"source\"\n")
        + &format!(
            "\n[[backend.server]]\nname = \"s2\"\naddress = \"{}\"\nsend_proxy = \"v1\"\n",
            b2.addr
        );
    let r = Ringlb::start(&text);
    // Every TCP connection comes from 127.0.0.1; the headers name 16 clients, each
    // twice. Hashing the TCP peer would send all to one server.
    for round in 0..2 {
        for i in 0..16 {
            let src = format!("192.0.2.{}:{}", i + 1, 1000 + round);
            echo_after(
                r.addr(),
                &header(Version::V2, &src, "198.51.100.1:443"),
                b"x",
            );
        }
    }
    let deadline = std::time::Instant::now() + PATIENCE;
    while b1.sources().len() + b2.sources().len() < 32 {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    let ips = |b: &ProxyBackend| {
        let mut v: Vec<String> = b
            .sources()
            .iter()
            .map(|s| s.split(':').next().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let (one, two) = (ips(&b1), ips(&b2));
    assert!(!one.is_empty() && !two.is_empty(), "{one:?} {two:?}");
    // Each client went to one server both times.
    assert!(one.iter().all(|ip| !two.contains(ip)), "{one:?} {two:?}");
}
