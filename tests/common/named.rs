//! A named HTTP backend for the differential tests: every request gets `200` with a
//! body that says which server answered and echoes the request head it received, so
//! a client behind any proxy (HTTP or TCP mode) learns the chosen server and the
//! headers the proxy added or removed. It can be killed (listener closed, open
//! connections cut, further connects refused) and revived on the same port, or made
//! sick (503 to everything, health checks included) and healed.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use super::PATIENCE;

/// The first body line of every answer: `server=<name>`.
pub const SERVER_PREFIX: &str = "server=";

pub struct NamedBackend {
    pub name: String,
    pub addr: SocketAddr,
    state: Arc<State>,
}

#[derive(Default)]
struct State {
    alive: AtomicBool,
    /// Answer 503 to everything (health checks included) while set.
    sick: AtomicBool,
    /// Open connections by number, cut when the backend is killed.
    conns: Mutex<HashMap<usize, TcpStream>>,
    next: AtomicUsize,
}

impl Drop for NamedBackend {
    fn drop(&mut self) {
        self.stop();
    }
}

impl NamedBackend {
    pub fn start(name: &str) -> NamedBackend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind named backend");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let b = NamedBackend {
            name: name.to_string(),
            addr,
            state,
        };
        b.serve(listener);
        b
    }

    fn serve(&self, listener: TcpListener) {
        self.state.alive.store(true, Ordering::SeqCst);
        let state = Arc::clone(&self.state);
        let name = self.name.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                if !state.alive.load(Ordering::SeqCst) {
                    // Killed: dropping the listener makes further connects refused.
                    return;
                }
                let Ok(stream) = stream else { continue };
                let _ = stream.set_nodelay(true);
                let id = state.next.fetch_add(1, Ordering::SeqCst);
                if let Ok(clone) = stream.try_clone() {
                    state.conns.lock().unwrap().insert(id, clone);
                }
                let state = Arc::clone(&state);
                let name = name.clone();
                thread::spawn(move || {
                    answer_all(&stream, &name, &state);
                    // Every clone of the socket is gone: the peer sees the close.
                    state.conns.lock().unwrap().remove(&id);
                    let _ = stream.shutdown(Shutdown::Both);
                });
            }
        });
    }

    /// Stop answering: the listening socket is closed (connects are refused) and every
    /// open connection, pooled keep-alive ones included, is cut.
    pub fn kill(&self) {
        self.stop();
        let deadline = std::time::Instant::now() + PATIENCE;
        while TcpStream::connect(self.addr).is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "{} still accepts after kill",
                self.name
            );
            thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Listen again on the same address after `kill`.
    pub fn revive(&self) {
        let deadline = std::time::Instant::now() + PATIENCE;
        let listener = loop {
            match TcpListener::bind(self.addr) {
                Ok(l) => break l,
                Err(e) => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "cannot listen again on {}: {e}",
                        self.addr
                    );
                    thread::sleep(std::time::Duration::from_millis(20));
                }
            }
        };
        self.serve(listener);
    }

    fn stop(&self) {
        if !self.state.alive.swap(false, Ordering::SeqCst) {
            return;
        }
        // Wake the accept loop so that it sees the flag and drops the listener.
        let _ = TcpStream::connect_timeout(&self.addr, PATIENCE);
        for (_, c) in self.state.conns.lock().unwrap().drain() {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    /// Answer every request (health checks included) with 503 until `heal`.
    pub fn sicken(&self) {
        self.state.sick.store(true, Ordering::SeqCst);
    }

    pub fn heal(&self) {
        self.state.sick.store(false, Ordering::SeqCst);
    }
}

/// Answer every request of one connection until it closes, the client asks to close,
/// or the backend is killed.
fn answer_all(stream: &TcpStream, name: &str, state: &State) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut w = stream;
    loop {
        let Ok(Some((head, _body))) = super::http::read_message(&mut reader) else {
            return;
        };
        if !state.alive.load(Ordering::SeqCst) {
            return;
        }
        let head_only = head.starts_with("HEAD ");
        let body = format!("{SERVER_PREFIX}{name}\n{head}");
        let close = head.to_ascii_lowercase().contains("connection: close");
        let conn = if close { "connection: close\r\n" } else { "" };
        let status = if state.sick.load(Ordering::SeqCst) {
            "503 Service Unavailable"
        } else {
            "200 OK"
        };
        let out = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\nx-powered-by: named-backend\r\n{}content-length: {}\r\n{conn}\r\n{}",
            reply_fields(&head),
            body.len(),
            if head_only { "" } else { body.as_str() }
        );
        if w.write_all(out.as_bytes()).is_err() || close {
            return;
        }
    }
}

/// Fields a request asks the backend to add to its response: each request field
/// `x-reply-header: NAME: VALUE` becomes `NAME: VALUE` (a test chooses, say, an `ETag`).
fn reply_fields(head: &str) -> String {
    head.lines()
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case("x-reply-header")
                .then(|| format!("{}\r\n", v.trim()))
        })
        .collect()
}

/// What a client learned from one answer of a named backend: the server and the
/// request headers it received (names lower-cased, in order).
pub struct Seen {
    pub server: Option<String>,
    pub headers: Vec<(String, String)>,
}

/// Read a named backend's body (None: the body is not one, e.g. a proxy's own page).
pub fn parse_body(body: &[u8]) -> Seen {
    let text = String::from_utf8_lossy(body);
    let mut lines = text.lines();
    let server = lines
        .next()
        .and_then(|l| l.strip_prefix(SERVER_PREFIX))
        .map(str::to_string);
    let mut headers = Vec::new();
    if server.is_some() {
        // The request line, then headers up to the blank line.
        for l in lines.skip(1) {
            let l = l.trim_end_matches('\r');
            if l.is_empty() {
                break;
            }
            if let Some((n, v)) = l.split_once(':') {
                headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
    }
    Seen { server, headers }
}

/// Header names (lower case) and values, in order.
pub type Headers = Vec<(String, String)>;

/// One response read to the end of the connection.
pub struct Response {
    pub status: u16,
    pub headers: Headers,
    pub body: Vec<u8>,
    /// false: the connection ended with an unexpected EOF after the head (over TLS:
    /// closed without close_notify); the body is what arrived.
    pub clean_end: bool,
}

/// Read one HTTP response to EOF from a connection.
pub fn read_response(stream: impl std::io::Read) -> std::io::Result<Response> {
    let mut r = BufReader::new(stream);
    let mut status_line = String::new();
    r.read_line(&mut status_line)?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l)? == 0 {
            break;
        }
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((n, v)) = l.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let mut body = Vec::new();
    let clean_end = match std::io::Read::read_to_end(&mut r, &mut body) {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => false,
        Err(e) => return Err(e),
    };
    Ok(Response {
        status,
        headers,
        body,
        clean_end,
    })
}
