//! TLS termination through the real binary: certificates chosen by SNI (exact,
//! wildcard, default, strict), ALPN, TLS 1.2 and 1.3, keep-alive and large bodies over
//! TLS, X-Forwarded-Proto, a stalled handshake, a client that is not TLS or leaves
//! mid-handshake, TCP mode, certificate reload, and what
//! `ringlb check` says about certificates. Real clients: rustls here, curl and openssl
//! when installed (CI installs them).

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::Command;

use common::http::Backend;
use common::tls::{connect, CertDir, Hello};
use common::{Echo, Ringlb, TempConfig, BIN};

fn https_config(
    backend: SocketAddr,
    certs: &[String],
    tls_extra: &str,
    frontend_extra: &str,
) -> String {
    format!(
        "[global]\nworkers = 2\npin_workers = false\ngrace_period = \"5s\"\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n{frontend_extra}\n\
         [frontend.tls]\ncertificates = [{}]\n{tls_extra}\n\
         [[backend]]\nname = \"app\"\n[[backend.server]]\nname = \"a\"\naddress = \"{backend}\"\n",
        certs.join(", ")
    )
}

/// Three certificates: the default, one for an exact name and a wildcard, one exact.
fn three_certs(dir: &CertDir) -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<String>) {
    let default = dir.write("default", &["default.test"]);
    let wild = dir.write("wild", &["api.example.test", "*.example.test"]);
    let exact = dir.write("exact", &["exact.example.test"]);
    let entries = vec![dir.entry("default"), dir.entry("wild"), dir.entry("exact")];
    (default, wild, exact, entries)
}

#[test]
fn sni_picks_exact_then_wildcard_then_the_default() {
    let dir = CertDir::new();
    let (default, wild, exact, entries) = three_certs(&dir);
    let backend = Backend::start();
    let r = Ringlb::start(&https_config(backend.addr, &entries, "", ""));
    let cases: [(Option<&str>, &Vec<u8>); 6] = [
        (Some("exact.example.test"), &exact),
        (Some("api.example.test"), &wild),
        (Some("www.example.test"), &wild),
        (Some("a.b.example.test"), &default),
        (Some("unknown.test"), &default),
        (None, &default),
    ];
    for (sni, want) in cases {
        let mut c = connect(
            r.addr(),
            &Hello {
                sni,
                ..Hello::default()
            },
        )
        .unwrap();
        assert!(&c.presented == want, "wrong certificate for SNI {sni:?}");
        assert_eq!(c.get("/x").0, 200);
    }
}

#[test]
fn strict_sni_refuses_unknown_or_missing_names() {
    let dir = CertDir::new();
    let (_, wild, _, entries) = three_certs(&dir);
    let backend = Backend::start();
    let r = Ringlb::start(&https_config(
        backend.addr,
        &entries,
        "strict_sni = true",
        "",
    ));
    assert!(connect(
        r.addr(),
        &Hello {
            sni: Some("unknown.test"),
            ..Hello::default()
        }
    )
    .is_err());
    assert!(connect(
        r.addr(),
        &Hello {
            sni: None,
            ..Hello::default()
        }
    )
    .is_err());
    let c = connect(
        r.addr(),
        &Hello {
            sni: Some("www.example.test"),
            ..Hello::default()
        },
    )
    .unwrap();
    assert_eq!(c.presented, wild);
    assert_eq!(backend.requests(), 0, "refused handshakes reach no server");
}

#[test]
fn tls_12_and_13_with_alpn_keep_alive_and_a_large_body() {
    let dir = CertDir::new();
    dir.write("site", &["localhost"]);
    let backend = Backend::start();
    let text = https_config(
        backend.addr,
        &[dir.entry("site")],
        "",
        "forwarded_for = true",
    )
    .replace(
        "grace_period = \"5s\"\n",
        "grace_period = \"5s\"\nadmin_bind = \"127.0.0.1:0\"\n",
    );
    let r = Ringlb::start(&text);
    for version in [12u8, 13] {
        let mut c = connect(
            r.addr(),
            &Hello {
                version,
                ..Hello::default()
            },
        )
        .unwrap();
        let want = if version == 12 {
            rustls::ProtocolVersion::TLSv1_2
        } else {
            rustls::ProtocolVersion::TLSv1_3
        };
        assert_eq!(c.version(), Some(want));
        assert_eq!(c.alpn().as_deref(), Some(&b"http/1.1"[..]));
        for i in 0..5 {
            assert_eq!(c.get(&format!("/k{i}")).0, 200);
        }
        let (status, body) = c.get("/len/8388608");
        assert_eq!((status, body.len()), (200, 8 << 20));
        assert!(body.iter().all(|&b| b == b'l'));
    }
    assert_eq!(
        backend.accepted(),
        2,
        "keep-alive to the server across requests"
    );
    let head = backend.last_head().to_ascii_lowercase();
    assert!(head.contains("x-forwarded-proto: https"), "{head}");
    // A client that offers only a protocol ringlb does not speak gets no ALPN answer
    // (rustls refuses the handshake: no overlap).
    assert!(connect(
        r.addr(),
        &Hello {
            alpn: &["h2"],
            ..Hello::default()
        }
    )
    .is_err());
    // Handshakes by version, and the refused one, in /metrics.
    let (_, metrics) = common::admin(r.admin_addr(), "GET", "/metrics", "", None);
    for want in [
        "ringlb_frontend_tls_handshakes_total{frontend=\"web\",version=\"TLSv1.2\"} 1",
        "ringlb_frontend_tls_handshakes_total{frontend=\"web\",version=\"TLSv1.3\"} 1",
        "ringlb_frontend_tls_handshake_failures_total{frontend=\"web\"} 1",
    ] {
        assert!(metrics.contains(want), "{want} missing:\n{metrics}");
    }
}

#[test]
fn a_stalled_handshake_is_dropped_at_the_timeout_and_others_carry_on() {
    let dir = CertDir::new();
    dir.write("site", &["localhost"]);
    let backend = Backend::start();
    let r = Ringlb::start(&https_config(
        backend.addr,
        &[dir.entry("site")],
        "",
        "timeout_client_handshake = \"2s\"",
    ));
    // Half a ClientHello, then silence.
    let mut stalled = common::connect(r.addr());
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    // Meanwhile other clients complete handshakes and requests.
    for _ in 0..3 {
        let mut c = connect(r.addr(), &Hello::default()).unwrap();
        assert_eq!(c.get("/ok").0, 200);
    }
    // ringlb closes it at the timeout (EOF, or a reset for the unread bytes).
    let mut buf = [0u8; 64];
    let n = stalled.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the stalled client was not closed");
}

#[test]
fn a_client_that_is_not_tls_gets_an_alert_and_one_that_leaves_mid_handshake_harms_nothing() {
    let dir = CertDir::new();
    dir.write("site", &["localhost"]);
    let backend = Backend::start();
    // One worker: every connection below is on it.
    let config = https_config(backend.addr, &[dir.entry("site")], "", "")
        .replace("workers = 2", "workers = 1");
    let r = Ringlb::start(&config);
    // Plain HTTP to the TLS port: rustls refuses the first record, and the alert it
    // queued is sent before the connection closes.
    let mut plain = common::connect(r.addr());
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert_eq!(got.first(), Some(&0x15), "no TLS alert record: {got:?}");
    // Half a ClientHello, then the client goes away.
    let mut gone = common::connect(r.addr());
    gone.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    drop(gone);
    // The worker carries on with whole handshakes, TLS 1.3 and 1.2.
    for version in [13, 12] {
        let hello = Hello {
            version,
            ..Hello::default()
        };
        let mut c = connect(r.addr(), &hello).unwrap();
        assert_eq!(c.get("/ok").0, 200);
    }
}

#[test]
fn tls_in_tcp_mode_relays_bytes() {
    let dir = CertDir::new();
    dir.write("site", &["localhost"]);
    let echo = Echo::start();
    let text = format!(
        "[global]\nworkers = 1\npin_workers = false\n\
         [[frontend]]\nname = \"db\"\nbind = [\"127.0.0.1:0\"]\nmode = \"tcp\"\ndefault_backend = \"b\"\n\
         [frontend.tls]\ncertificates = [{}]\n\
         [[backend]]\nname = \"b\"\n[[backend.server]]\nname = \"e\"\naddress = \"{}\"\n",
        dir.entry("site"),
        echo.addr
    );
    let r = Ringlb::start(&text);
    let mut c = connect(
        r.addr(),
        &Hello {
            alpn: &[],
            ..Hello::default()
        },
    )
    .unwrap();
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    c.stream.write_all(&payload).unwrap();
    let mut back = vec![0u8; payload.len()];
    c.stream.read_exact(&mut back).unwrap();
    assert_eq!(back, payload);
}

#[test]
fn a_reload_serves_a_new_certificate_to_new_connections_only() {
    let dir = CertDir::new();
    let first = dir.write("site", &["localhost"]);
    let backend = Backend::start();
    let mut r = Ringlb::start(&https_config(backend.addr, &[dir.entry("site")], "", ""));
    let mut old = connect(r.addr(), &Hello::default()).unwrap();
    assert_eq!(old.presented, first);
    assert_eq!(old.get("/before").0, 200);
    let second = dir.write("site", &["localhost"]);
    assert_ne!(first, second);
    r.reload_and_wait();
    let mut new = connect(r.addr(), &Hello::default()).unwrap();
    assert_eq!(new.presented, second);
    assert_eq!(new.get("/new").0, 200);
    assert_eq!(old.get("/after").0, 200, "the old TLS connection goes on");
}

#[test]
fn check_validates_certificates() {
    let dir = CertDir::new();
    dir.write("good", &["good.test"]);
    dir.write_between("expired", &["old.test"], -30, -2);
    dir.write_between("soon", &["soon.test"], -30, 5);
    let (cert_a, _) = ringlb::tls::self_signed(&["a.test"], 30).unwrap();
    let (_, key_b) = ringlb::tls::self_signed(&["b.test"], 30).unwrap();
    std::fs::write(dir.0.join("mismatch.pem"), cert_a).unwrap();
    std::fs::write(dir.0.join("mismatch.key"), key_b).unwrap();
    let run = |entries: &[String]| {
        let cfg = TempConfig::new(&https_config(
            "127.0.0.1:1".parse().unwrap(),
            entries,
            "",
            "",
        ));
        let out = Command::new(BIN)
            .args(["check", "-c"])
            .arg(&cfg.0)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    assert!(run(&[dir.entry("good")]).0);
    let (ok, err) = run(&[dir.entry("expired")]);
    assert!(
        !ok && err.contains(".toml:12:17: frontend \"web\": tls.certificates[0]: ")
            && err.contains("expired 2 day(s) ago"),
        "{err}"
    );
    let (ok, err) = run(&[dir.entry("soon")]);
    assert!(
        ok && err.contains("warning") && err.contains("soon.pem expires in "),
        "{err}"
    );
    let (ok, err) = run(&[dir.entry("mismatch")]);
    assert!(
        !ok && err.contains("does not belong to the certificate"),
        "{err}"
    );
    let (ok, err) = run(&[dir.entry("missing")]);
    assert!(!ok && err.contains("cannot read"), "{err}");
    let (ok, err) = run(&[]);
    assert!(!ok && err.contains("certificates is empty"), "{err}");
}

/// Real command-line clients, when installed (CI installs curl and openssl).
fn tool(name: &str) -> bool {
    let found = Command::new(name).arg("--version").output().is_ok()
        || Command::new(name).arg("version").output().is_ok();
    if !found {
        assert_ne!(
            std::env::var("RINGLB_REQUIRE_TOOLS").as_deref(),
            Ok("1"),
            "{name} is required"
        );
        common::say_skipped(
            name,
            "not installed (RINGLB_REQUIRE_TOOLS=1 makes this a failure)",
        );
    }
    found
}

#[test]
fn curl_and_openssl_see_the_right_certificate() {
    if !tool("curl") || !tool("openssl") {
        return;
    }
    let dir = CertDir::new();
    let (_, _, _, entries) = three_certs(&dir);
    let backend = Backend::start();
    let r = Ringlb::start(&https_config(backend.addr, &entries, "", ""));
    let port = r.addr().port();
    let out = Command::new("curl")
        .args([
            "-sk",
            "--max-time",
            "20",
            "-w",
            "%{http_code} %{http_version}",
            "-o",
            "/dev/null",
        ])
        .arg("--resolve")
        .arg(format!("www.example.test:{port}:127.0.0.1"))
        .arg(format!("https://www.example.test:{port}/curl"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200 1.1");
    for (sni, cn) in [
        ("exact.example.test", "exact.example.test"),
        ("x.example.test", "api.example.test"),
        ("nope.test", "default.test"),
    ] {
        let mut child = Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{port}"),
                "-servername",
                sni,
                "-alpn",
                "http/1.1",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("CN = {cn}")) || text.contains(&format!("CN={cn}")),
            "SNI {sni}: {text}"
        );
        assert!(text.contains("ALPN protocol: http/1.1"), "{text}");
    }
}

#[test]
fn rsa_ecdsa_and_ed25519_keys_are_served() {
    if !tool("openssl") {
        return;
    }
    let dir = CertDir::new();
    let ecdsa = dir.write("ecdsa", &["ecdsa.test"]);
    // Ed25519, made with rcgen.
    let mut params = rcgen::CertificateParams::new(vec!["ed.test".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "ed.test");
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.0.join("ed.pem"), cert.pem()).unwrap();
    std::fs::write(dir.0.join("ed.key"), key.serialize_pem()).unwrap();
    // RSA 2048, made with openssl (PKCS#8 key).
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
        ])
        .args([
            "-subj",
            "/CN=rsa.test",
            "-addext",
            "subjectAltName=DNS:rsa.test",
        ])
        .arg("-keyout")
        .arg(dir.0.join("rsa.key"))
        .arg("-out")
        .arg(dir.0.join("rsa.pem"))
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let backend = Backend::start();
    let entries = [dir.entry("ecdsa"), dir.entry("rsa"), dir.entry("ed")];
    let r = Ringlb::start(&https_config(backend.addr, &entries, "", ""));
    let der = |stem: &str| {
        use rustls::pki_types::pem::PemObject;
        let pem = std::fs::read(dir.0.join(format!("{stem}.pem"))).unwrap();
        rustls::pki_types::CertificateDer::from_pem_slice(&pem)
            .unwrap()
            .as_ref()
            .to_vec()
    };
    for (sni, want) in [
        ("ecdsa.test", ecdsa),
        ("rsa.test", der("rsa")),
        ("ed.test", der("ed")),
    ] {
        for version in [12u8, 13] {
            let mut c = connect(
                r.addr(),
                &Hello {
                    sni: Some(sni),
                    version,
                    ..Hello::default()
                },
            )
            .unwrap_or_else(|e| panic!("{sni} TLS 1.{}: {e}", version - 10));
            assert!(c.presented == want, "{sni}: wrong certificate");
            assert_eq!(c.get("/k").0, 200);
        }
    }
}
