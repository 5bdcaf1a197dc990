//! A TLS client connection that ends normally ends with a close_notify alert before
//! the TCP close (RFC 8446 §6.1), so a client can tell a whole response from one cut
//! short: after a `connection: close` response, an HTTP/1.0 one, a body delimited by
//! the server closing, the keep-alive idle timeout, a graceful stop, and in TCP mode
//! or an upgraded connection when the server closes. A response the server cuts short is *not* ended with one.
//! The client is rustls: a read returns `Ok(0)` after a close_notify, and an
//! `UnexpectedEof` error when the TCP connection closes without one.

mod common;

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};

use common::http::read_message;
use common::tls::{connect, CertDir, Hello, TlsClient};
use common::Ringlb;

/// A raw HTTP/1.1 server, a thread per connection, answering by path:
/// - `/eof`: a body delimited by closing the connection
/// - `/upgrade`: 101, bytes of the new protocol, then a close
/// - `/cut`: Content-Length 100, 10 bytes, then a close (a truncated response)
/// - anything else: `ok` with Content-Length, keep-alive
fn raw_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            std::thread::spawn(move || {
                let mut r = BufReader::new(tcp);
                while let Ok(Some((head, _))) = read_message(&mut r) {
                    let path = head.split(' ').nth(1).map(str::to_string);
                    let out = r.get_mut();
                    match path.as_deref() {
                        Some("/eof") => {
                            let _ = out.write_all(
                                b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the server closes",
                            );
                            return;
                        }
                        Some("/upgrade") => {
                            let _ = out.write_all(
                                b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: test\r\n\r\nfrom the tunnel",
                            );
                            return;
                        }
                        Some("/cut") => {
                            let _ = out.write_all(
                                b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b",
                            );
                            return;
                        }
                        _ => {
                            let _ =
                                out.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
                        }
                    }
                }
            });
        }
    });
    addr
}

/// One frontend with TLS in `mode`, one server.
fn tls_frontend(server: SocketAddr, dir: &CertDir, mode: &str, frontend_extra: &str) -> String {
    format!(
        "[global]\nworkers = 1\npin_workers = false\ngrace_period = \"5s\"\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"{mode}\"\ndefault_backend = \"app\"\n{frontend_extra}\n\
         [frontend.tls]\ncertificates = [{}]\n\
         [[backend]]\nname = \"app\"\n[[backend.server]]\nname = \"a\"\naddress = \"{server}\"\n",
        dir.entry("site")
    )
}

fn https(backend: SocketAddr, dir: &CertDir, frontend_extra: &str) -> String {
    tls_frontend(backend, dir, "http", frontend_extra)
}

fn site() -> CertDir {
    let dir = CertDir::new();
    dir.write("site", &["localhost"]);
    dir
}

/// Everything until the connection ends, and how it ended: `Ok` for a close_notify,
/// the error otherwise (`UnexpectedEof`: a TCP close without one).
fn read_to_end(c: &mut TlsClient) -> (String, std::io::Result<()>) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match c.stream.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&out).into_owned(), Ok(())),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return (String::from_utf8_lossy(&out).into_owned(), Err(e)),
        }
    }
}

/// Send `request`, read until the end, and require a clean end.
fn clean_end(r: &Ringlb, request: &str) -> String {
    let mut c = connect(r.addr(), &Hello::default()).unwrap();
    c.stream.write_all(request.as_bytes()).unwrap();
    c.stream.flush().unwrap();
    let (text, end) = read_to_end(&mut c);
    assert!(
        end.is_ok(),
        "no close_notify after {request:?}: {end:?}; got {text:?}"
    );
    text
}

#[test]
fn http_responses_that_end_the_connection_end_with_close_notify() {
    let dir = site();
    let r = Ringlb::start(&https(raw_backend(), &dir, ""));
    let text = clean_end(
        &r,
        "GET /close HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n",
    );
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("ok"),
        "{text:?}"
    );
    let text = clean_end(&r, "GET /old HTTP/1.0\r\nhost: localhost\r\n\r\n");
    assert!(text.contains(" 200 ") && text.ends_with("ok"), "{text:?}");
    let text = clean_end(&r, "GET /eof HTTP/1.1\r\nhost: localhost\r\n\r\n");
    assert!(
        text.ends_with("\r\n\r\nuntil the server closes"),
        "{text:?}"
    );
    // An upgraded connection is a relay: the server's FIN becomes a close_notify.
    let text = clean_end(
        &r,
        "GET /upgrade HTTP/1.1\r\nhost: localhost\r\nconnection: upgrade\r\nupgrade: test\r\n\r\n",
    );
    assert!(
        text.starts_with("HTTP/1.1 101") && text.ends_with("\r\n\r\nfrom the tunnel"),
        "{text:?}"
    );
    // ringlb's own answers did already (the refusal path).
    let text = clean_end(&r, "BAD\r\n\r\n");
    assert!(text.starts_with("HTTP/1.1 400"), "{text:?}");
}

#[test]
fn a_response_cut_short_by_the_server_ends_without_close_notify() {
    let dir = site();
    let r = Ringlb::start(&https(raw_backend(), &dir, ""));
    let mut c = connect(r.addr(), &Hello::default()).unwrap();
    c.stream
        .write_all(b"GET /cut HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .unwrap();
    let (text, end) = read_to_end(&mut c);
    assert!(text.ends_with("only ten b"), "{text:?}");
    let e = end.expect_err("a truncated response must not look complete");
    assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
}

#[test]
fn the_keep_alive_timeout_and_a_graceful_stop_end_with_close_notify() {
    let dir = site();
    let mut r = Ringlb::start(&https(
        raw_backend(),
        &dir,
        "timeout_http_keep_alive = \"300ms\"",
    ));
    let mut idle = connect(r.addr(), &Hello::default()).unwrap();
    assert_eq!(idle.get("/a"), (200, b"ok".to_vec()));
    let (rest, end) = read_to_end(&mut idle);
    assert!(
        end.is_ok(),
        "no close_notify at the keep-alive timeout: {end:?}"
    );
    assert_eq!(rest, "");

    // Stopping: an idle keep-alive connection is closed at once, cleanly. (Its
    // request was answered, so the worker has the connection waiting for the next.)
    let mut idle = connect(r.addr(), &Hello::default()).unwrap();
    assert_eq!(idle.get("/b"), (200, b"ok".to_vec()));
    r.signal(libc::SIGTERM);
    let (rest, end) = read_to_end(&mut idle);
    assert!(end.is_ok(), "no close_notify when stopping: {end:?}");
    assert_eq!(rest, "");
    assert!(r.wait_exit().success());
}

#[test]
fn tcp_mode_passes_the_server_close_on_as_close_notify() {
    let dir = site();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(mut tcp) = tcp else { continue };
            let _ = tcp.write_all(b"hello, then FIN");
        }
    });
    let text = tls_frontend(server, &dir, "tcp", "");
    let r = Ringlb::start(&text);
    let mut c = connect(
        r.addr(),
        &Hello {
            alpn: &[],
            ..Hello::default()
        },
    )
    .unwrap();
    let (text, end) = read_to_end(&mut c);
    assert_eq!(text, "hello, then FIN");
    assert!(
        end.is_ok(),
        "the server's FIN became no close_notify: {end:?}"
    );
}
