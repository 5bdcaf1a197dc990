//! `ringlb import haproxy` for options and bind lines whose translation depends on
//! ringlb features: a bind address from an environment variable unset at import time
//! (ringlb expands it when it loads the configuration), and `crt-list` files.

mod common;

use std::process::{Command, Output};

use common::http::{Backend, Client};
use common::tls::{connect, CertDir, Hello};
use common::{Ringlb, TempConfig, BIN};

fn import(input: &std::path::Path, out: &std::path::Path) -> Output {
    Command::new(BIN)
        .args(["import", "haproxy"])
        .arg(input)
        .arg("-o")
        .arg(out)
        .env_remove("RINGLB_T_PORT")
        .output()
        .expect("run ringlb import")
}

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("ringlb-impopts-{}-{name}", std::process::id()))
}

/// `cfg` imported completely (exit 0): the output's text.
fn imported(cfg: &str, name: &str) -> String {
    let input = TempConfig::new(cfg);
    let out = temp(name);
    let o = import(&input.0, &out);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let text = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(out);
    text
}

#[test]
fn a_bind_port_from_the_environment_is_read_by_ringlb_at_load() {
    let backend = Backend::start();
    let cfg = format!(
        "global\n    nbthread 1\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\nfrontend web\n    bind 127.0.0.1:$RINGLB_T_PORT\n    default_backend app\nbackend app\n    server a1 {}\n",
        backend.addr
    );
    let input = TempConfig::new(&cfg);
    let out = temp("port.toml");
    let o = import(&input.0, &out);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("\"127.0.0.1:${RINGLB_T_PORT}\""), "{text}");
    // Unset when ringlb loads it: an error naming the variable.
    let o = Command::new(BIN)
        .args(["check", "-c"])
        .arg(&out)
        .env_remove("RINGLB_T_PORT")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("environment variable RINGLB_T_PORT is not set"),
        "{err}"
    );
    // Set: ringlb listens there and serves.
    let port = common::closed_port().port();
    let cfg = TempConfig::new(&text);
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .arg("-c")
        .arg(&cfg.0)
        .env("RINGLB_T_PORT", port.to_string());
    let mut r = Ringlb::spawn(cmd, Some(cfg));
    r.wait_for("ringlb ready");
    assert_eq!(r.addr().port(), port);
    assert_eq!(Client::connect(r.addr()).get("/x").0, 200);
    let _ = std::fs::remove_file(out);
}

#[test]
fn a_crt_list_serves_each_certificate_for_its_names_and_the_first_by_default() {
    let dir = CertDir::new();
    let a = dir.write("a", &["a.test"]);
    let b = dir.write("b", &["b.test"]);
    // HAProxy's PEM: the certificate and its key in one file.
    for stem in ["a", "b"] {
        let both = std::fs::read_to_string(dir.0.join(format!("{stem}.pem"))).unwrap()
            + &std::fs::read_to_string(dir.0.join(format!("{stem}.key"))).unwrap();
        std::fs::write(dir.0.join(format!("{stem}.both")), both).unwrap();
    }
    std::fs::write(dir.0.join("list"), "# the sites\na.both\n\nb.both\n").unwrap();
    let backend = Backend::start();
    let cfg = format!(
        "global\n    crt-base {}\nfrontend web\n    mode http\n    bind 127.0.0.1:0 ssl crt-list {}\n    default_backend app\nbackend app\n    mode http\n    server a1 {}\n",
        dir.0.display(),
        dir.0.join("list").display(),
        backend.addr
    );
    let input = TempConfig::new(&cfg);
    let out = dir.0.join("out.toml");
    let o = import(&input.0, &out);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut r = Ringlb::start(&std::fs::read_to_string(&out).unwrap());
    let addr = r.addr();
    let presented = |sni| {
        let hello = Hello {
            sni,
            ..Hello::default()
        };
        connect(addr, &hello).unwrap().presented
    };
    assert!(
        presented(Some("a.test")) == a,
        "a.test gets a's certificate"
    );
    assert!(
        presented(Some("b.test")) == b,
        "b.test gets b's certificate"
    );
    assert!(presented(None) == a, "no SNI: the first of the list");
    let mut c = connect(
        addr,
        &Hello {
            sni: Some("b.test"),
            ..Hello::default()
        },
    )
    .unwrap();
    assert_eq!(c.get("/x").0, 200);
    r.signal(libc::SIGTERM);
    r.wait_exit();
}

#[test]
fn httpclose_ends_both_connections_after_each_response() {
    let backend = Backend::start();
    let cfg = format!(
        "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\nfrontend web\n    bind 127.0.0.1:0\n    default_backend app\nbackend app\n    option httpclose\n    server a1 {}\n",
        backend.addr
    );
    let text = imported(&cfg, "httpclose.toml");
    assert!(text.contains("http_close = true"), "{text}");
    let r = Ringlb::start(&text);
    for i in 1..=2 {
        let mut c = Client::connect(r.addr());
        let (status, head, _) = c.get("/x");
        assert_eq!(status, 200);
        assert!(
            head.to_ascii_lowercase().contains("connection: close"),
            "{head}"
        );
        assert!(c.closed(), "the client connection ends after the response");
        // The server connection is not kept for the next request.
        backend.wait_closed(i);
    }
    assert_eq!(backend.accepted(), 2, "no server connection was reused");
}

#[test]
fn prefer_last_server_keeps_a_client_connection_on_its_server() {
    let (a, b) = (Backend::start(), Backend::start());
    let cfg = format!(
        "global\n    nbthread 1\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\nfrontend web\n    bind 127.0.0.1:0\n    default_backend app\nbackend app\n    balance roundrobin\n    option prefer-last-server\n    server a {}\n    server b {}\n",
        a.addr, b.addr
    );
    let r = Ringlb::start(&imported(&cfg, "prefer.toml"));
    // Each client connection stays on the server of its first request.
    let mut one = Client::connect(r.addr());
    for _ in 0..4 {
        assert_eq!(one.get("/x").0, 200);
    }
    let first = (a.requests(), b.requests());
    assert!(first == (4, 0) || first == (0, 4), "{first:?}");
    // The balancing still spreads client connections: the next goes to the other.
    let mut two = Client::connect(r.addr());
    for _ in 0..4 {
        assert_eq!(two.get("/y").0, 200);
    }
    assert_eq!((a.requests(), b.requests()), (4, 4));
}

#[test]
fn a_defer_accept_bind_is_imported_and_served() {
    let backend = Backend::start();
    let cfg = format!(
        "global\n    nbthread 1\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\nfrontend web\n    bind 127.0.0.1:0 defer-accept\n    default_backend app\nbackend app\n    server a1 {}\n",
        backend.addr
    );
    let text = imported(&cfg, "defer.toml");
    assert!(text.contains("defer_accept = true"), "{text}");
    let r = Ringlb::start(&text);
    let mut c = Client::connect(r.addr());
    assert_eq!(c.get("/deferred").0, 200);
}
