//! A TLS tunnel whose client stops reading and then sends a record that does not
//! decrypt. ringlb's write to the client is blocked then (the client reads nothing),
//! and the failed read has an alert to send: the tunnel must end, and the worker must
//! go on serving everyone else (one worker, so the second client is on the same one).
//! Both tunnels over a TLS client: `mode = "tcp"` with TLS terminated, and an HTTP/1.1
//! Upgrade over an HTTPS frontend; and the same from the other end: a TLS server
//! (`tls = true`) that reads nothing, then sends such a record.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::tls::{connect, CertDir, Hello, TlsClient};
use common::{Ringlb, PATIENCE};

/// The most a pushing connection writes (a bound, far above what the stalled path holds).
const PUSH_LIMIT: u64 = 512 << 20;

/// A server, a thread per connection, by its first line:
/// - `push`, or an HTTP request (answered `101` first): bytes until the write fails
///   (counted in the returned total);
/// - `echo <word>`: `<word>` and a newline back.
fn backend() -> (SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let pushed = Arc::new(AtomicU64::new(0));
    let total = Arc::clone(&pushed);
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            let pushed = Arc::clone(&pushed);
            std::thread::spawn(move || serve(tcp, &pushed));
        }
    });
    (addr, total)
}

fn serve(tcp: TcpStream, pushed: &AtomicU64) {
    let mut r = BufReader::new(tcp);
    let mut line = String::new();
    if r.read_line(&mut line).is_err() {
        return;
    }
    let mut out = r.get_ref().try_clone().unwrap();
    if let Some(word) = line.strip_prefix("echo ") {
        let _ = out.write_all(word.as_bytes());
        return;
    }
    if line.starts_with("GET ") {
        while matches!(r.read_line(&mut line), Ok(n) if n > 2) {}
        let head =
            b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: test\r\n\r\n";
        if out.write_all(head).is_err() {
            return;
        }
    }
    let chunk = vec![b'x'; 64 * 1024];
    while pushed.load(Ordering::Relaxed) < PUSH_LIMIT {
        if out.write_all(&chunk).is_err() {
            return;
        }
        pushed.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }
}

fn config(server: SocketAddr, dir: &CertDir, mode: &str) -> String {
    format!(
        "[global]\nworkers = 1\npin_workers = false\n\
         [[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:0\"]\nmode = \"{mode}\"\ndefault_backend = \"b\"\n\
         [frontend.tls]\ncertificates = [{}]\n\
         [[backend]]\nname = \"b\"\n[[backend.server]]\nname = \"s\"\naddress = \"{server}\"\n",
        dir.entry("site")
    )
}

/// Wait until the server's pushing stalls: the whole path to the client is full.
fn wait_stalled(pushed: &AtomicU64) {
    let start = Instant::now();
    let mut last = pushed.load(Ordering::Relaxed);
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = pushed.load(Ordering::Relaxed);
        if now == last && now > 0 {
            return;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "the push never stalled ({now} bytes)"
        );
        assert!(now < PUSH_LIMIT, "nothing held the push back");
        last = now;
    }
}

/// A record of application data that cannot decrypt, written under rustls.
fn corrupt(c: &mut TlsClient) {
    let mut record = vec![0x17, 0x03, 0x03, 0x00, 0x40];
    record.extend_from_slice(&[0x42; 0x40]);
    c.stream.sock.write_all(&record).unwrap();
}

/// The client's socket ends (FIN or reset) once what is in flight is read: bounded.
fn wait_closed(c: &mut TlsClient) {
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        match c.stream.sock.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => total += n as u64,
        }
        assert!(total < PUSH_LIMIT, "the tunnel stayed open");
    }
}

/// Another client on the same worker is served: the first line it gets.
fn still_served(r: &Ringlb, first: &[u8]) -> String {
    let mut c = connect(r.addr(), &Hello::default()).unwrap();
    c.stream.write_all(first).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.contains(&b'\n') {
        match c.stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("second client not served: {e}; got {got:?}"),
        }
    }
    let line = got
        .iter()
        .position(|&b| b == b'\n')
        .map_or(got.len(), |i| i + 1);
    String::from_utf8_lossy(&got[..line]).into_owned()
}

fn abuse(mode: &str, opening: &[u8]) {
    let dir = CertDir::new();
    dir.write("site", &["localhost"]);
    let (server, pushed) = backend();
    let mut r = Ringlb::start(&config(server, &dir, mode));
    let mut a = connect(r.addr(), &Hello::default()).unwrap();
    a.stream.write_all(opening).unwrap();
    let mut buf = [0u8; 1024];
    let n = a.stream.read(&mut buf).unwrap();
    assert!(n > 0);
    // From here on the client reads nothing.
    wait_stalled(&pushed);
    corrupt(&mut a);
    wait_closed(&mut a);
    // The same worker answers a second client: in TCP mode the echo, over HTTPS the
    // 101 of another upgrade.
    let (second, expected): (&[u8], &str) = match mode {
        "tcp" => (b"echo alive\n", "alive\n"),
        _ => (opening, "HTTP/1.1 101 Switching Protocols\r\n"),
    };
    assert_eq!(still_served(&r, second), expected);
    assert!(r.child.try_wait().unwrap().is_none(), "ringlb exited");
}

#[test]
fn a_tcp_mode_tls_tunnel_with_a_corrupt_record_while_blocked_ends_alone() {
    abuse("tcp", b"push\n");
}

#[test]
fn an_upgraded_https_tunnel_with_a_corrupt_record_while_blocked_ends_alone() {
    abuse(
        "http",
        b"GET /ws HTTP/1.1\r\nhost: localhost\r\nconnection: upgrade\r\nupgrade: test\r\n\r\n",
    );
}

/// A TLS server (`tls = true`) by its first line: `echo <word>` answered, `pull`: it
/// reads nothing more and, once `go` says so, sends a record that does not decrypt.
fn tls_server(dir: &CertDir, go: std::sync::mpsc::Receiver<()>) -> SocketAddr {
    use rustls::pki_types::pem::PemObject;
    let cert = std::fs::read(dir.0.join("site.pem")).unwrap();
    let key = std::fs::read(dir.0.join("site.key")).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from_pem_slice(&cert).unwrap()],
            rustls::pki_types::PrivateKeyDer::from_pem_slice(&key).unwrap(),
        )
        .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let go = std::sync::Mutex::new(Some(go));
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            let conn = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
            let mut s = rustls::StreamOwned::new(conn, tcp);
            let mut line = Vec::new();
            let mut byte = [0u8; 1];
            while !line.ends_with(b"\n") && s.read_exact(&mut byte).is_ok() {
                line.push(byte[0]);
            }
            if let Some(word) = line.strip_prefix(b"echo ") {
                let _ = s.write_all(word);
                std::thread::spawn(move || drop(s.sock.read(&mut [0u8; 1])));
            } else if let Some(go) = go.lock().unwrap().take() {
                std::thread::spawn(move || {
                    let _ = go.recv();
                    let mut record = vec![0x17, 0x03, 0x03, 0x00, 0x40];
                    record.extend_from_slice(&[0x42; 0x40]);
                    let _ = s.sock.write_all(&record);
                    let _ = s.sock.read(&mut [0u8; 1]);
                });
            }
        }
    });
    addr
}

#[test]
fn a_tunnel_to_a_tls_server_that_sends_a_corrupt_record_while_blocked_ends_alone() {
    let dir = CertDir::new();
    dir.write("site", &["localhost"]);
    let (go, wait) = std::sync::mpsc::channel();
    let server = tls_server(&dir, wait);
    let mut r = Ringlb::start(&format!(
        "[global]\nworkers = 1\npin_workers = false\n\
         [[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:0\"]\nmode = \"tcp\"\ndefault_backend = \"b\"\n\
         [[backend]]\nname = \"b\"\n[[backend.server]]\nname = \"s\"\naddress = \"{server}\"\n\
         tls = true\nverify = false\n"
    ));
    let mut a = TcpStream::connect(r.addr()).unwrap();
    a.write_all(b"pull\n").unwrap();
    // The client uploads until the server, which reads nothing, holds it back.
    let sent = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&sent);
    let mut up = a.try_clone().unwrap();
    std::thread::spawn(move || {
        let chunk = vec![b'y'; 64 * 1024];
        while counter.load(Ordering::Relaxed) < PUSH_LIMIT && up.write_all(&chunk).is_ok() {
            counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
    });
    wait_stalled(&sent);
    go.send(()).unwrap();
    a.set_read_timeout(Some(PATIENCE)).unwrap();
    let end = a.read(&mut [0u8; 16]);
    assert!(matches!(end, Ok(0) | Err(_)), "{end:?}");
    let mut b = TcpStream::connect(r.addr()).unwrap();
    b.write_all(b"echo alive\n").unwrap();
    b.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut got = [0u8; 6];
    b.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"alive\n");
    assert!(r.child.try_wait().unwrap().is_none(), "ringlb exited");
}
