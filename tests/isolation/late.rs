//! Late responses on idle server connections under always and aggressive, either driver, plain and TLS servers.

use super::*;

// ---------------------------------------------------------------------------------
// Late responses on idle server connections, under the policies that hand a pooled
// connection to another client (`always`, `aggressive`), with either I/O driver.

/// Poisoned connections per policy and driver.
const LATE_ROUNDS: usize = 12;
/// Fresh client connections after each poisoned one.
const LATE_VICTIMS: usize = 3;
/// Bound on each wait of the late-response test (a failure, never a pace).
const LATE_WAIT: Duration = Duration::from_secs(5);

/// What the server says about a connection it sent a late response on.
enum Late {
    /// The late response was written: it is in ringlb's receive queue.
    Sent,
    /// What came next on that connection: `Ok(())` ringlb closed it without sending
    /// anything; `Err` what it did instead.
    After(Result<(), String>),
}

/// A server that answers `/v-<id>` with `v-<id>`, and `/late` with a response and then,
/// once the test says `go`, an unsolicited second one on the idle connection.
struct LateBackend {
    addr: SocketAddr,
    go: std::sync::mpsc::Sender<()>,
    events: std::sync::mpsc::Receiver<Late>,
    /// Requests that were not the first on their server connection.
    reused: Arc<std::sync::atomic::AtomicUsize>,
}

impl LateBackend {
    /// Plain HTTP, or HTTPS (TLS 1.3 and 1.2, rustls' defaults: two session tickets
    /// after each handshake) with `tls`.
    fn start(tls: Option<Arc<rustls::ServerConfig>>) -> LateBackend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
        let addr = listener.local_addr().expect("backend address");
        let (go, go_rx) = std::sync::mpsc::channel();
        let (tx, events) = std::sync::mpsc::channel();
        let go_rx = Arc::new(Mutex::new(go_rx));
        let reused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&reused);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (go_rx, tx, counted) = (Arc::clone(&go_rx), tx.clone(), Arc::clone(&counted));
                let tls = tls.clone();
                thread::spawn(move || -> io::Result<()> {
                    let (go_rx, tx, n) = (&go_rx, &tx, &counted);
                    let sock = stream.try_clone()?;
                    match tls {
                        None => serve_late(stream, &sock, go_rx, tx, n),
                        Some(config) => {
                            let conn =
                                rustls::ServerConnection::new(config).map_err(io::Error::other)?;
                            serve_late(rustls::StreamOwned::new(conn, stream), &sock, go_rx, tx, n)
                        }
                    }
                });
            }
        });
        LateBackend {
            addr,
            go,
            events,
            reused,
        }
    }

    fn next(&self, what: &str) -> Late {
        // Longer than the server's own waits, so that its verdict arrives.
        self.events
            .recv_timeout(LATE_WAIT * 2)
            .unwrap_or_else(|_| panic!("the server never said: {what}"))
    }
}

/// Serve one connection, `io` over `sock` (the same socket: its timeouts).
fn serve_late<S: Read + Write>(
    io: S,
    sock: &TcpStream,
    go: &Mutex<std::sync::mpsc::Receiver<()>>,
    tx: &std::sync::mpsc::Sender<Late>,
    reused: &std::sync::atomic::AtomicUsize,
) -> io::Result<()> {
    sock.set_nodelay(true)?;
    sock.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut r = BufReader::new(io);
    let mut served = 0;
    while let Some(head) = read_head(&mut r)? {
        if served > 0 {
            reused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        served += 1;
        let path = head.split(' ').nth(1).unwrap_or("").to_string();
        let w = r.get_mut();
        if path != "/late" {
            w.write_all(&ok(path.trim_start_matches('/')))?;
            w.flush()?;
            continue;
        }
        w.write_all(&ok("late"))?;
        w.flush()?;
        if lock(go).recv_timeout(LATE_WAIT).is_err() {
            return Ok(());
        }
        w.write_all(EXTRA)?;
        w.flush()?;
        let _ = tx.send(Late::Sent);
        // ringlb must close this connection as the late bytes arrive (its pool keeps
        // idle connections a minute here), and send nothing more on it. (Over TLS, a
        // TCP end without close_notify is rustls' `UnexpectedEof`.)
        sock.set_read_timeout(Some(LATE_WAIT))?;
        let after = match read_head(&mut r) {
            Ok(None) => Ok(()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof
                ) =>
            {
                Ok(())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(format!("still open {LATE_WAIT:?} after the late response"))
            }
            Err(e) => Err(format!("read failed: {e}")),
            Ok(Some(head)) => Err(format!(
                "a request went out on it: {:?}",
                head.lines().next().unwrap_or("")
            )),
        };
        let _ = tx.send(Late::After(after));
        return Ok(());
    }
    Ok(())
}

/// Two requests on a fresh client connection (the second may take any idle server
/// connection under `aggressive`, which makes it proven); each gets its own answer.
fn late_victim(addr: SocketAddr, id: usize) -> Result<(), String> {
    let mut w = plain(addr).map_err(|e| format!("connect: {e}"))?;
    for (n, close) in [(1, ""), (2, "Connection: close\r\n")] {
        let path = format!("/v-{id}-{n}");
        let request = format!("GET {path} HTTP/1.1\r\nHost: v\r\n{close}\r\n");
        w.send(request.as_bytes()).map_err(|e| e.to_string())?;
        let (status, _, body) = w.response()?;
        if status != 200 || body != path.as_bytes()[1..] {
            return Err(format!("{path} got {status} {}", show(&body)));
        }
    }
    match w.rest_until_eof()? {
        rest if rest.is_empty() => Ok(()),
        rest => Err(format!("v-{id}: bytes after its response: {}", show(&rest))),
    }
}

#[test]
fn late_responses_on_idle_server_connections_never_reach_another_client() {
    late_responses(None);
}

/// The same with `tls = true` servers (TLS 1.3, with session tickets): the late
/// response is an application-data record on the idle connection, which ringlb's wait
/// reads into rustls and closes the connection for (tickets alone would not).
#[test]
fn late_responses_on_idle_tls_server_connections_never_reach_another_client() {
    let certs = CertDir::new();
    certs.write("backend", &["localhost"]);
    late_responses(Some(tls_server_config(&certs, "backend")));
}

/// rustls' server defaults for `<stem>.pem`/`.key` of `certs`.
fn tls_server_config(certs: &CertDir, stem: &str) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert = CertificateDer::from_pem_file(certs.0.join(format!("{stem}.pem"))).expect("cert");
    let key = PrivateKeyDer::from_pem_file(certs.0.join(format!("{stem}.key"))).expect("key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server config");
    Arc::new(config)
}

fn late_responses(tls: Option<Arc<rustls::ServerConfig>>) {
    let server_keys = if tls.is_some() {
        "tls = true\nverify = false\n"
    } else {
        ""
    };
    for reuse in ["always", "aggressive"] {
        for driver in ["io_uring", "legacy"] {
            let backend = LateBackend::start(tls.clone());
            let cfg = format!(
                "[global]\nworkers = 1\npin_workers = false\nio_driver = \"{driver}\"\n\n\
                 [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\n\
                 default_backend = \"app\"\n\n\
                 [[backend]]\nname = \"app\"\nhttp_reuse = \"{reuse}\"\npool_idle_timeout = \"1m\"\n\n\
                 [[backend.server]]\nname = \"a1\"\naddress = \"{}\"\n{server_keys}",
                backend.addr
            );
            let rl = Ringlb::start(&cfg);
            let named = if driver == "legacy" {
                "legacy (epoll)"
            } else {
                "io_uring"
            };
            assert!(
                rl.log.iter().any(|l| l.contains(named)),
                "{driver}: the log does not say {named:?}"
            );
            let mut v = Violations::default();
            let mut id = 0;
            for round in 0..LATE_ROUNDS {
                // Two requests on one client connection: the second reuses the first's
                // server connection, which `aggressive` then counts as proven.
                let mut w = plain(rl.addr()).expect("connect");
                for path in ["/v-warm", "/late"] {
                    w.send(format!("GET {path} HTTP/1.1\r\nHost: p\r\n\r\n").as_bytes())
                        .expect("send");
                    w.response().expect("response");
                }
                drop(w);
                backend.go.send(()).expect("server gone");
                assert!(matches!(backend.next("late response sent"), Late::Sent));
                // Odd rounds: the connection must close on its own first. Even ones:
                // clients come at once and race the close.
                let mut after = None;
                if round % 2 == 1 {
                    after = Some(backend.next("what followed the late response"));
                }
                for _ in 0..LATE_VICTIMS {
                    id += 1;
                    if let Err(e) = late_victim(rl.addr(), id) {
                        v.add("victim", format!("{reuse}/{driver} round {round}: {e}"));
                    }
                }
                let after = after.unwrap_or_else(|| backend.next("what followed"));
                if let Late::After(Err(e)) = after {
                    v.add(
                        "late connection",
                        format!("{reuse}/{driver} round {round}: {e}"),
                    );
                }
            }
            let reused = backend.reused.load(std::sync::atomic::Ordering::Relaxed);
            eprintln!(
                "{reuse}/{driver}: {} violations, {reused} reused requests",
                v.total()
            );
            assert!(v.total() == 0, "{reuse}/{driver}:{}", v.report());
            // The victims did take pooled connections: the policy was exercised.
            assert!(
                reused >= LATE_ROUNDS * LATE_VICTIMS / 2,
                "{reuse}/{driver}: {reused}"
            );
        }
    }
}
