//! `timeout_client_fin` / `timeout_server_fin` (HAProxy's `timeout client-fin` /
//! `server-fin`) through the real binary: once one direction of a TCP relay has
//! closed, the side left open gets its own, shorter inactivity limit; without the
//! keys a half-closed connection stays open under the ordinary timeouts.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::*;

/// The ordinary inactivity timeouts: far longer than the test waits (`PATIENCE`), so
/// a close seen in time can only come from a `*_fin` timeout.
const OPEN: &str = "timeout_client = \"60s\"\ntimeout_server = \"60s\"\n";

/// A server that reads to the client's FIN, then says nothing and keeps its socket
/// open until the test ends (the connections are sent back to be held).
fn silent_after_fin() -> (SocketAddr, mpsc::Receiver<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            let mut all = Vec::new();
            let _ = s.read_to_end(&mut all);
            if tx.send(s).is_err() {
                return;
            }
        }
    });
    (addr, rx)
}

/// The client's read after its own FIN: `Ok(true)` at EOF or reset (ringlb closed
/// the connection), `Ok(false)` when nothing came within the read timeout.
fn closed(c: &mut TcpStream) -> bool {
    let mut buf = [0u8; 16];
    match c.read(&mut buf) {
        Ok(0) => true,
        Ok(n) => panic!("unexpected {n} bytes"),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => true,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn a_silent_server_after_the_clients_fin_is_closed_after_timeout_server_fin() {
    let (addr, held) = silent_after_fin();
    let cfg = format!("{OPEN}timeout_server_fin = \"300ms\"");
    let rl = Ringlb::start(&tcp_config(1, &[(addr, 1)], &cfg));
    let mut c = connect(rl.addr());
    c.write_all(b"last words").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let server_side = held
        .recv_timeout(PATIENCE)
        .expect("the FIN reaches the server");
    assert!(closed(&mut c), "still open after {PATIENCE:?}");
    drop(server_side);
}

#[test]
fn without_fin_timeouts_a_half_closed_connection_stays_open() {
    let (addr, held) = silent_after_fin();
    let rl = Ringlb::start(&tcp_config(1, &[(addr, 1)], OPEN));
    let mut c = connect(rl.addr());
    c.write_all(b"last words").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let server_side = held
        .recv_timeout(PATIENCE)
        .expect("the FIN reaches the server");
    c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    assert!(!closed(&mut c), "closed under 60 s timeouts");
    drop(server_side);
}

#[test]
fn a_silent_client_after_the_servers_fin_is_closed_after_timeout_client_fin() {
    // The server says goodbye and half-closes, then waits for the client's FIN (or
    // the connection's end): it reports when its read ends.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, ended) = mpsc::channel();
    thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        s.write_all(b"bye").unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        let _ = tx.send(rest.len());
    });
    let cfg = format!("{OPEN}timeout_client_fin = \"300ms\"");
    let rl = Ringlb::start(&tcp_config(1, &[(addr, 1)], &cfg));
    let mut c = connect(rl.addr());
    let mut bye = Vec::new();
    c.read_to_end(&mut bye).unwrap();
    assert_eq!(bye, b"bye");
    // The client keeps its side open and silent: ringlb ends the connection, and the
    // server's read ends with it.
    assert_eq!(
        ended.recv_timeout(PATIENCE),
        Ok(0),
        "the server's side is still open"
    );
    drop(c);
}
