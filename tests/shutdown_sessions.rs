//! `on_marked_down = "shutdown_sessions"` (HAProxy's `on-marked-down
//! shutdown-sessions`) through the real binary: when its health check marks a server
//! down, ringlb closes the TCP sessions established to it (a database client sees
//! the failover at once); without the key they run on.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

/// One TCP frontend, one echo server whose health check goes to `check` (another
/// port, so the check can fail while the traffic connection stays open).
fn config(echo: SocketAddr, check: u16, extra: &str) -> String {
    format!(
        "[global]\nworkers = 2\npin_workers = false\ngrace_period = \"5s\"\n\
         [[frontend]]\nname = \"front\"\nbind = [\"127.0.0.1:0\"]\nmode = \"tcp\"\ndefault_backend = \"back\"\n\
         [[backend]]\nname = \"back\"\n\
         [backend.check]\nkind = \"tcp\"\ninterval = \"100ms\"\ntimeout = \"1s\"\nrise = 1\nfall = 1\n\
         [[backend.check.step]]\nsend = \"status\\n\"\n[[backend.check.step]]\nexpect = \"up\"\n\
         [[backend.server]]\nname = \"db\"\naddress = \"{echo}\"\ncheck = true\ncheck_port = {check}\n{extra}\n"
    )
}

/// A health endpoint that answers `up` until `healthy` is cleared, then `down`
/// (it keeps its port: a freed port could be taken by another test's listener).
fn health(healthy: Arc<AtomicBool>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut b = [0u8; 64];
            let _ = s.read(&mut b);
            let word: &[u8] = if healthy.load(Ordering::SeqCst) {
                b"up\n"
            } else {
                b"down\n"
            };
            let _ = s.write_all(word);
        }
    });
    port
}

/// Start ringlb, open a session and prove it works, then make the checks fail and
/// wait until every worker knows the server is down (a new connection is refused).
fn session_across_a_down(extra: &str) -> (Ringlb, TcpStream) {
    let echo = Echo::start();
    let healthy = Arc::new(AtomicBool::new(true));
    let port = health(Arc::clone(&healthy));
    let mut r = Ringlb::start(&config(echo.addr, port, extra));
    let mut c = connect(r.addr());
    ping(&mut c, b"before");
    healthy.store(false, Ordering::SeqCst);
    r.wait_for("back/db DOWN");
    // The control thread says DOWN before the workers hear it: wait until new
    // connections find no server, four in a row (the kernel spreads them over both
    // workers). One relayed meanwhile is left open, unused.
    let deadline = Instant::now() + PATIENCE;
    let mut refused = 0;
    while refused < 4 {
        assert!(Instant::now() < deadline, "new connections still relayed");
        let mut n = connect(r.addr());
        n.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut b = [0u8; 1];
        refused = match n.read(&mut b) {
            Ok(0) => refused + 1,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => refused + 1,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => 0,
            other => panic!("a new connection to a down server: {other:?}"),
        };
    }
    (r, c)
}

#[test]
fn sessions_to_a_server_marked_down_are_closed() {
    let (_r, mut c) = session_across_a_down("on_marked_down = \"shutdown_sessions\"");
    let mut b = [0u8; 8];
    match c.read(&mut b) {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("the session is still open: {other:?}"),
    }
}

#[test]
fn without_the_key_sessions_to_a_server_marked_down_run_on() {
    let (_r, mut c) = session_across_a_down("");
    c.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut b = [0u8; 8];
    match c.read(&mut b) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("the session ended: {other:?}"),
    }
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    ping(&mut c, b"after");
}

#[test]
fn check_refuses_another_value() {
    let text = config(
        "127.0.0.1:9".parse().unwrap(),
        9,
        "on_marked_down = \"close\"",
    );
    let cfg = TempConfig::new(&text);
    let out = std::process::Command::new(BIN)
        .args(["check", "-c"])
        .arg(&cfg.0)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("on_marked_down \"close\" is not \"shutdown_sessions\""),
        "{err}"
    );
}
