//! TLS versions and cipher suites through the real binary: `min_version` and
//! `ciphers` of `[frontend.tls]` decide what a client can negotiate, and a server's
//! `tls_ciphers` what ringlb offers a TLS server (here another ringlb), so that a
//! server that shares no suite with it is not reached.

mod common;

use std::net::SocketAddr;

use common::http::{Backend, Client};
use common::tls::{connect, CertDir, Hello};
use common::Ringlb;

/// An HTTPS frontend in front of `backend`, with `tls_extra` in `[frontend.tls]`.
fn https(dir: &CertDir, backend: SocketAddr, tls_extra: &str) -> String {
    format!(
        "[global]\nworkers = 1\npin_workers = false\ngrace_period = \"5s\"\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\
         [frontend.tls]\ncertificates = [{}]\n{tls_extra}\n\
         [[backend]]\nname = \"app\"\n[[backend.server]]\nname = \"a\"\naddress = \"{backend}\"\n",
        dir.entry("site")
    )
}

fn hello(version: u8) -> Hello<'static> {
    Hello {
        version,
        ..Hello::default()
    }
}

#[test]
fn min_version_13_refuses_a_tls_12_client() {
    let dir = CertDir::new();
    dir.write("site", &["localhost"]);
    let backend = Backend::start();
    let r = Ringlb::start(&https(&dir, backend.addr, "min_version = \"1.3\""));
    assert!(connect(r.addr(), &hello(12)).is_err(), "TLS 1.2 accepted");
    let mut c = connect(r.addr(), &hello(13)).unwrap();
    assert_eq!(c.version(), Some(rustls::ProtocolVersion::TLSv1_3));
    assert_eq!(c.get("/").0, 200);
}

#[test]
fn ciphers_decide_the_suite_each_version_negotiates() {
    let dir = CertDir::new();
    dir.write("site", &["localhost"]);
    let backend = Backend::start();
    let ciphers = "ciphers = [\"TLS13_CHACHA20_POLY1305_SHA256\", \
                   \"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\", \"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\"]";
    let r = Ringlb::start(&https(&dir, backend.addr, ciphers));
    for (version, want) in [
        (13, "TLS13_CHACHA20_POLY1305_SHA256"),
        (12, "AES_256_GCM_SHA384"),
    ] {
        let mut c = connect(r.addr(), &hello(version)).unwrap();
        let suite = c.stream.conn.negotiated_cipher_suite().unwrap().suite();
        let name = format!("{suite:?}");
        assert!(name.ends_with(want), "TLS 1.{}: {name}", version % 10);
        assert_eq!(c.get("/").0, 200);
    }
}

#[test]
fn a_server_sharing_no_suite_with_tls_ciphers_is_not_reached() {
    // The TLS server: a ringlb that speaks TLS 1.3 with AES-128-GCM only.
    let dir = CertDir::new();
    dir.write("site", &["localhost"]);
    let app = Backend::start();
    let server = Ringlb::start(&https(
        &dir,
        app.addr,
        "min_version = \"1.3\"\nciphers = [\"TLS13_AES_128_GCM_SHA256\"]",
    ));
    let front = |suite: &str| {
        format!(
            "[global]\nworkers = 1\npin_workers = false\ngrace_period = \"5s\"\n\
             [[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"b\"\n\
             [[backend]]\nname = \"b\"\nretries = 0\n[[backend.server]]\nname = \"s\"\naddress = \"{}\"\n\
             tls = true\nverify = false\nsni = \"localhost\"\ntls_min_version = \"1.3\"\ntls_ciphers = [\"{suite}\"]\n",
            server.addr()
        )
    };
    let other = Ringlb::start(&front("TLS13_CHACHA20_POLY1305_SHA256"));
    let (status, _, _) = Client::connect(other.addr()).get("/");
    assert!(status >= 500, "no common suite, yet {status}");
    assert_eq!(app.requests(), 0);
    let same = Ringlb::start(&front("TLS13_AES_128_GCM_SHA256"));
    let (status, _, _) = Client::connect(same.addr()).get("/");
    assert_eq!(status, 200);
    assert_eq!(app.requests(), 1);
}

#[test]
fn check_names_an_unknown_suite_and_a_bad_version() {
    let dir = CertDir::new();
    dir.write("site", &["localhost"]);
    let text = https(
        &dir,
        "127.0.0.1:9".parse().unwrap(),
        "min_version = \"1.1\"\nciphers = [\"ECDHE-RSA-AES128-SHA\"]",
    );
    let cfg = common::TempConfig::new(&text);
    let out = std::process::Command::new(common::BIN)
        .args(["check", "-c"])
        .arg(&cfg.0)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("min_version \"1.1\""), "{err}");
    assert!(
        err.contains("\"ECDHE-RSA-AES128-SHA\" is not a cipher suite rustls offers"),
        "{err}"
    );
}
