//! TLS to servers (`tls = true`): verification against `ca_file` with the right
//! name, `verify = false`, keep-alive reuse of TLS connections, and health checks
//! over TLS. The server is a rustls HTTPS server written in the test.

mod common;

use common::http::Client;
use common::tls::{CertDir, TlsBackend};
use common::{Ringlb, TempConfig, BIN};

fn config(backend: &TlsBackend, server_extra: &str, backend_extra: &str) -> String {
    format!(
        "[global]\nworkers = 1\npin_workers = false\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\n{backend_extra}\n\
         [[backend.server]]\nname = \"secure\"\naddress = \"{}\"\ntls = true\n{server_extra}\n",
        backend.addr
    )
}

#[test]
fn requests_reach_a_tls_server_verified_against_its_ca() {
    let dir = CertDir::new();
    dir.write("backend", &["backend.test"]);
    let b = TlsBackend::start(&dir, "backend");
    let ca = dir.0.join("backend.pem");
    let r = Ringlb::start(&config(
        &b,
        &format!("sni = \"backend.test\"\nca_file = \"{}\"", ca.display()),
        "",
    ));
    let mut c = Client::connect(r.addr());
    for i in 0..5 {
        let (status, _, body) = c.get(&format!("/t{i}"));
        assert_eq!(status, 200);
        assert_eq!(String::from_utf8_lossy(&body), format!("tls-backend /t{i}"));
    }
    assert_eq!(b.sni.lock().unwrap().as_deref(), Some("backend.test"));
    assert_eq!(
        b.handshakes(),
        1,
        "keep-alive: one TLS connection to the server, reused"
    );
}

#[test]
fn a_certificate_for_another_name_is_refused_unless_verify_is_off() {
    let dir = CertDir::new();
    dir.write("backend", &["backend.test"]);
    let b = TlsBackend::start(&dir, "backend");
    let ca = dir.0.join("backend.pem");
    let wrong = format!("sni = \"other.test\"\nca_file = \"{}\"", ca.display());
    let r = Ringlb::start(&config(&b, &wrong, "retries = 0"));
    assert_eq!(Client::connect(r.addr()).get("/x").0, 503);
    drop(r);
    let r = Ringlb::start(&config(&b, "sni = \"other.test\"\nverify = false", ""));
    assert_eq!(Client::connect(r.addr()).get("/x").0, 200);
}

#[test]
fn health_checks_run_over_tls() {
    let dir = CertDir::new();
    dir.write("backend", &["backend.test"]);
    dir.write("otherca", &["unrelated.test"]);
    let b = TlsBackend::start(&dir, "backend");
    let check = "[backend.check]\nkind = \"http\"\npath = \"/health\"\ninterval = \"100ms\"\ntimeout = \"2s\"\nrise = 1\nfall = 1";
    // Checked against the wrong CA: the handshake fails, so the check does.
    let bad = format!(
        "sni = \"backend.test\"\nca_file = \"{}\"\ncheck = true",
        dir.0.join("otherca.pem").display()
    );
    let mut r = Ringlb::start(&config(&b, &bad, check));
    let line = r.wait_for("app/secure DOWN");
    assert!(line.to_lowercase().contains("certificate"), "{line}");
    drop(r);
    let good = format!(
        "sni = \"backend.test\"\nca_file = \"{}\"\ncheck = true",
        dir.0.join("backend.pem").display()
    );
    let before = b.requests.load(std::sync::atomic::Ordering::SeqCst);
    let mut r = Ringlb::start(&config(&b, &good, check));
    // Probes arrive over TLS and pass: no transition is logged, and requests flow.
    b.wait_requests(before + 3);
    assert!(!r.logged("DOWN"), "{:?}", r.log);
    assert_eq!(Client::connect(r.addr()).get("/y").0, 200);
}

#[test]
fn check_refuses_tls_without_a_ca_and_a_bad_ca_file() {
    let dir = CertDir::new();
    dir.write("backend", &["backend.test"]);
    let b = TlsBackend::start(&dir, "backend");
    let run = |server_extra: &str| {
        let cfg = TempConfig::new(&config(&b, server_extra, ""));
        let out = std::process::Command::new(BIN)
            .args(["check", "-c"])
            .arg(&cfg.0)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, err) = run("");
    assert!(!ok && err.contains("tls = true needs ca_file"), "{err}");
    let (ok, err) = run("ca_file = \"/nonexistent/ca.pem\"");
    assert!(
        !ok && err.contains("ca_file: cannot read /nonexistent/ca.pem"),
        "{err}"
    );
    let (ok, err) = run("verify = false");
    assert!(ok && err.contains("verify = false"), "{err}");
}
