//! TLS servers: the same wait on idle connections, through rustls (session tickets keep a connection, the rest closes it).

use super::*;

// ---------------------------------------------------------------------------------
// TLS servers (`tls = true`): the same wait on idle connections, through rustls.

/// `config` for a `tls = true` server (its certificate not checked), with `driver`.
fn tls_config(backend: SocketAddr, reuse: &str, driver: &str) -> String {
    config(backend, reuse, 1).replace(
        "[global]\n",
        &format!("[global]\nio_driver = \"{driver}\"\n"),
    ) + "tls = true\nverify = false\n"
}

/// A TLS 1.3 server (Python's ssl, so OpenSSL) that answers `py <connection> <path>`
/// and, after every response, once told to (a line on its input: the client has the
/// response, so the connection is idle in ringlb's pool), sends one more session
/// ticket on the connection (OpenSSL's `SSL_new_session_ticket`, which Python does not
/// wrap: called through ctypes on the `SSL *` of CPython's socket object), then prints
/// `ticket <connection>`.
const TICKET_SERVER: &str = r#"
import ctypes, socket, ssl, sys, threading, _ssl
lib = ctypes.CDLL(_ssl.__file__)
lib.SSL_new_session_ticket.argtypes = [ctypes.c_void_p]
WORD = ctypes.sizeof(ctypes.c_void_p)
def ssl_of(s):
    # CPython's PySSLSocket: PyObject_HEAD (2 words), the socket's weakref, SSL *.
    return ctypes.c_void_p.from_address(id(s._sslobj) + 3 * WORD).value
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
ls = socket.create_server(("127.0.0.1", 0))
print("port", ls.getsockname()[1], flush=True)
out = threading.Lock()
def serve(raw, n):
    s = ctx.wrap_socket(raw, server_side=True)
    f = s.makefile("rb")
    while True:
        line = f.readline()
        if not line:
            return
        path, length = line.split()[1].decode(), 0
        while True:
            h = f.readline()
            if h in (b"\r\n", b""):
                break
            if h.lower().startswith(b"content-length:"):
                length = int(h.split(b":")[1])
        f.read(length)
        body = ("py %d %s" % (n, path)).encode()
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        if not sys.stdin.readline():
            return
        if lib.SSL_new_session_ticket(ssl_of(s)) != 1:
            sys.exit("SSL_new_session_ticket failed")
        s.do_handshake()  # the ticket goes out now
        with out:
            print("ticket", n, flush=True)
n = 0
while True:
    raw, _ = ls.accept()
    n += 1
    threading.Thread(target=serve, args=(raw, n), daemon=True).start()
"#;

struct TicketServer {
    addr: SocketAddr,
    child: std::process::Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl TicketServer {
    fn start(certs: &CertDir) -> TicketServer {
        let mut child = std::process::Command::new("python3")
            .args(["-c", TICKET_SERVER])
            .arg(certs.0.join("b.pem"))
            .arg(certs.0.join("b.key"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let port: u16 = first
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the ticket server said {first:?}"));
        TicketServer {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
            lines,
        }
    }

    /// Have it send a ticket on the connection that just answered, and wait until it
    /// has (bounded: it exits on a failure, which ends its output).
    fn ticket(&mut self) -> String {
        let input = self.child.stdin.as_mut().expect("stdin");
        input.write_all(b"go\n").expect("the ticket server is gone");
        input.flush().expect("the ticket server is gone");
        match self.lines.next() {
            Some(Ok(line)) if line.starts_with("ticket ") => line,
            other => panic!("the ticket server said {other:?}"),
        }
    }
}

impl Drop for TicketServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Session tickets on an idle TLS connection are handshake messages, not a response:
/// the wait reads them into rustls and stays armed, and the connection is reused
/// (the peek that came before this wait saw bytes and gave such connections up).
#[test]
fn session_tickets_on_idle_tls_server_connections_do_not_keep_them_from_reuse() {
    if !common::tool_installed("tls_tickets_reuse", "python3") {
        return;
    }
    let certs = CertDir::new();
    certs.write("b", &["localhost"]);
    for driver in ["io_uring", "legacy"] {
        let mut py = TicketServer::start(&certs);
        let r = Ringlb::start(&tls_config(py.addr, "http_reuse = \"always\"", driver));
        // One request per client connection: each takes the idle connection, on which
        // a ticket came after the last response.
        for i in 0..6 {
            let mut c = Client::connect(r.addr());
            let req = format!("GET /t/{i} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
            c.send(req.as_bytes());
            let (status, _, body) = c.response(false);
            assert_eq!(status, 200, "{driver}");
            assert_eq!(
                String::from_utf8_lossy(&body),
                format!("py 1 /t/{i}"),
                "{driver}"
            );
            assert_eq!(py.ticket(), "ticket 1", "{driver}");
        }
        // Keep-alive within a client connection, and a POST: the same connection.
        let mut c = Client::connect(r.addr());
        assert_eq!(c.get("/ka").2, b"py 1 /ka", "{driver}");
        py.ticket();
        c.send(b"POST /post HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
        assert_eq!(c.response(false).2, b"py 1 /post", "{driver}");
        py.ticket();
        assert_eq!(
            metric(&r, "ringlb_backend_connections_opened_total"),
            1,
            "{driver}"
        );
        assert_eq!(
            metric(&r, "ringlb_backend_requests_reused_total"),
            7,
            "{driver}"
        );
    }
}

/// A TLS server that answers one request per connection (`ok <path> <body length>`)
/// and closes it just after the response: with a close_notify, or with a bare TCP end.
/// It says on `closed` when it has, with the peer's address (ringlb's end).
struct TlsClosesAfter {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    closed: std::sync::mpsc::Receiver<Option<SocketAddr>>,
}

impl TlsClosesAfter {
    fn start(certs: &CertDir, close_notify: bool) -> TlsClosesAfter {
        let config = tls_server_config(certs);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let a = Arc::clone(&accepted);
        let (tx, closed) = std::sync::mpsc::channel();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                a.fetch_add(1, Ordering::SeqCst);
                let (config, tx) = (Arc::clone(&config), tx.clone());
                thread::spawn(move || {
                    let peer = stream.peer_addr().ok();
                    let _ = stream.set_read_timeout(Some(common::PATIENCE));
                    let conn = rustls::ServerConnection::new(config).unwrap();
                    let mut r = BufReader::new(rustls::StreamOwned::new(conn, stream));
                    if let Ok(Some((head, body_len))) = read_message(&mut r) {
                        let path = head.split(' ').nth(1).unwrap_or("").to_string();
                        let body = format!("ok {path} {body_len}");
                        let s = r.get_mut();
                        let _ = write!(
                            s,
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = s.flush();
                        if close_notify {
                            s.conn.send_close_notify();
                            let _ = s.flush();
                        }
                        let _ = s.sock.shutdown(Shutdown::Both);
                    }
                    let _ = tx.send(peer);
                });
            }
        });
        TlsClosesAfter {
            addr,
            accepted,
            closed,
        }
    }

    /// Waits until the server closed a connection and ringlb's end of it has the
    /// server's FIN (its socket left ESTABLISHED): on loopback the FIN may still sit
    /// in another CPU's backlog when the test's next request is processed, and a
    /// request that reaches ringlb before the FIN cannot be kept off that connection
    /// (HAProxy neither: docs/configuration.md, `http_reuse`).
    fn wait_closed(&self) {
        let peer = self
            .closed
            .recv_timeout(common::PATIENCE)
            .expect("the server never closed");
        let Some(peer) = peer else { return };
        let deadline = std::time::Instant::now() + common::PATIENCE;
        while established(peer, self.addr) {
            assert!(
                std::time::Instant::now() < deadline,
                "ringlb's end {peer} never saw the server's FIN"
            );
            thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

/// Whether the socket `local` → `remote` is ESTABLISHED (`/proc/net/tcp` state 01;
/// CLOSE_WAIT once its peer's FIN arrived, gone once closed).
fn established(local: SocketAddr, remote: SocketAddr) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let (l, r) = (
        format!(":{:04X}", local.port()),
        format!(":{:04X}", remote.port()),
    );
    table.lines().skip(1).any(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        f.len() > 3 && f[1].ends_with(&l) && f[2].ends_with(&r) && f[3] == "01"
    })
}

fn tls_server_config(certs: &CertDir) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert = CertificateDer::from_pem_file(certs.0.join("b.pem")).unwrap();
    let key = PrivateKeyDer::from_pem_file(certs.0.join("b.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    Arc::new(config)
}

/// A TLS server closes each connection just after its response (close_notify, or a
/// bare TCP end): the wait sees it, so the next request, a POST or a GET, goes on a
/// new connection and is answered; never lost, never sent on the closed one.
#[test]
fn a_tls_server_closing_idle_connections_never_loses_the_next_request() {
    let certs = CertDir::new();
    certs.write("b", &["localhost"]);
    for driver in ["io_uring", "legacy"] {
        for close_notify in [true, false] {
            for reuse in ["", "http_reuse = \"always\""] {
                let at = format!("{driver}, close_notify {close_notify}, {reuse:?}");
                let backend = TlsClosesAfter::start(&certs, close_notify);
                let r = Ringlb::start(&tls_config(backend.addr, reuse, driver));
                let mut c = Client::connect(r.addr());
                assert_eq!(c.get("/first").0, 200, "{at}");
                backend.wait_closed();
                c.send(b"POST /post HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
                let (status, _, body) = c.response(false);
                assert_eq!((status, body.as_slice()), (200, &b"ok /post 5"[..]), "{at}");
                backend.wait_closed();
                let (status, _, body) = c.get("/get");
                assert_eq!((status, body.as_slice()), (200, &b"ok /get 0"[..]), "{at}");
                assert_eq!(backend.accepted.load(Ordering::SeqCst), 3, "{at}");
                assert_eq!(
                    metric(&r, "ringlb_backend_requests_reused_total"),
                    0,
                    "{at}"
                );
            }
        }
    }
}
