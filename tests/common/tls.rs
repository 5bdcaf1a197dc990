//! TLS helpers for tests: certificates made with `ringlb::tls::self_signed`, written
//! into a temporary directory, a blocking rustls client that reports the certificate
//! the server presented (it trusts anything: these tests check which certificate
//! ringlb chose, not a chain of trust), and an HTTPS backend.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use super::PATIENCE;

/// A directory of certificate files, removed on drop.
pub struct CertDir(pub PathBuf);

impl CertDir {
    pub fn new() -> CertDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let d = std::env::temp_dir().join(format!(
            "ringlb-tls-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&d).unwrap();
        CertDir(d)
    }

    /// Write `<stem>.pem` and `<stem>.key` for `names`, valid from `from` to `to` days
    /// from now; returns the certificate's DER (to compare with what a client sees).
    pub fn write_between(&self, stem: &str, names: &[&str], from: i64, to: i64) -> Vec<u8> {
        let (cert, key) = ringlb::tls::self_signed_between(names, from, to).unwrap();
        std::fs::write(self.0.join(format!("{stem}.pem")), &cert).unwrap();
        std::fs::write(self.0.join(format!("{stem}.key")), key).unwrap();
        CertificateDer::from_pem_slice(cert.as_bytes())
            .unwrap()
            .as_ref()
            .to_vec()
    }

    pub fn write(&self, stem: &str, names: &[&str]) -> Vec<u8> {
        self.write_between(stem, names, -1, 90)
    }

    /// The `{ cert, key }` entry for `[frontend.tls]`, with absolute paths.
    pub fn entry(&self, stem: &str) -> String {
        format!(
            "{{ cert = \"{}\", key = \"{}\" }}",
            self.0.join(format!("{stem}.pem")).display(),
            self.0.join(format!("{stem}.key")).display()
        )
    }
}

impl Drop for CertDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An open TLS connection to ringlb.
pub struct TlsClient {
    pub stream: StreamOwned<ClientConnection, TcpStream>,
    /// DER of the certificate the server presented.
    pub presented: Vec<u8>,
}

/// Options of one connection.
pub struct Hello<'a> {
    /// `None`: no SNI (connect by IP address).
    pub sni: Option<&'a str>,
    pub alpn: &'a [&'a str],
    /// Only this TLS version (`12` or `13`); `0`: both.
    pub version: u8,
}

impl Default for Hello<'_> {
    fn default() -> Self {
        Hello {
            sni: Some("localhost"),
            alpn: &["http/1.1"],
            version: 0,
        }
    }
}

/// Connect and complete the handshake; `Err` with rustls' reason when it fails.
pub fn connect(addr: SocketAddr, hello: &Hello<'_>) -> Result<TlsClient, String> {
    connect_over(TcpStream::connect(addr).unwrap(), hello)
}

/// Complete a handshake over `tcp` (on which something may have been sent first,
/// e.g. a PROXY protocol header).
pub fn connect_over(tcp: TcpStream, hello: &Hello<'_>) -> Result<TlsClient, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match hello.version {
        12 => &[&rustls::version::TLS12],
        13 => &[&rustls::version::TLS13],
        _ => &[&rustls::version::TLS13, &rustls::version::TLS12],
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(ringlb::tls::insecure_verifier())
        .with_no_client_auth();
    config.alpn_protocols = hello.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    config.enable_sni = hello.sni.is_some();
    let name = ServerName::try_from(hello.sni.unwrap_or("ip.invalid").to_string()).unwrap();
    let conn = ClientConnection::new(Arc::new(config), name).unwrap();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut stream = StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(|e| e.to_string())?;
    }
    let presented = stream
        .conn
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|c| c.as_ref().to_vec())
        .unwrap_or_default();
    Ok(TlsClient { stream, presented })
}

impl TlsClient {
    pub fn alpn(&self) -> Option<Vec<u8>> {
        self.stream.conn.alpn_protocol().map(<[u8]>::to_vec)
    }

    pub fn version(&self) -> Option<rustls::ProtocolVersion> {
        self.stream.conn.protocol_version()
    }

    /// One GET on this connection: status and body (Content-Length responses).
    pub fn get(&mut self, path: &str) -> (u16, Vec<u8>) {
        write!(
            self.stream,
            "GET {path} HTTP/1.1\r\nhost: localhost\r\n\r\n"
        )
        .unwrap();
        self.stream.flush().unwrap();
        self.response()
    }

    /// One HTTP/1.1 response on this connection: status and body (Content-Length).
    pub fn response(&mut self) -> (u16, Vec<u8>) {
        let mut r = BufReader::new(&mut self.stream);
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = 0usize;
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0u8; length];
        r.read_exact(&mut body).unwrap();
        (status, body)
    }
}

/// An HTTPS backend (rustls, blocking, one thread per connection) answering every
/// request with `200` and `tls-backend <path>`; it counts handshakes and requests and
/// remembers the SNI it was sent.
pub struct TlsBackend {
    pub addr: SocketAddr,
    pub handshakes: Arc<std::sync::atomic::AtomicUsize>,
    pub requests: Arc<std::sync::atomic::AtomicUsize>,
    pub sni: Arc<Mutex<Option<String>>>,
}

impl TlsBackend {
    pub fn start(dir: &CertDir, stem: &str) -> TlsBackend {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let cert_pem = std::fs::read(dir.0.join(format!("{stem}.pem"))).unwrap();
        let key_pem = std::fs::read(dir.0.join(format!("{stem}.key"))).unwrap();
        let certs = vec![CertificateDer::from_pem_slice(&cert_pem).unwrap()];
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(&key_pem).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .unwrap(),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let sni = Arc::new(Mutex::new(None));
        let (h, q, n) = (
            Arc::clone(&handshakes),
            Arc::clone(&requests),
            Arc::clone(&sni),
        );
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { continue };
                let (config, h, q, n) = (
                    Arc::clone(&config),
                    Arc::clone(&h),
                    Arc::clone(&q),
                    Arc::clone(&n),
                );
                std::thread::spawn(move || {
                    let conn = rustls::ServerConnection::new(config).unwrap();
                    let mut s = StreamOwned::new(conn, tcp);
                    while s.conn.is_handshaking() {
                        if s.conn.complete_io(&mut s.sock).is_err() {
                            return;
                        }
                    }
                    h.fetch_add(1, Ordering::SeqCst);
                    *n.lock().unwrap() = s.conn.server_name().map(str::to_string);
                    let mut r = BufReader::new(s);
                    loop {
                        let mut head = String::new();
                        loop {
                            let mut line = String::new();
                            match r.read_line(&mut line) {
                                Ok(0) | Err(_) => return,
                                Ok(_) => {}
                            }
                            if line == "\r\n" {
                                break;
                            }
                            head.push_str(&line);
                        }
                        q.fetch_add(1, Ordering::SeqCst);
                        let path = head.split(' ').nth(1).unwrap_or("").to_string();
                        let body = format!("tls-backend {path}");
                        let out = r.get_mut();
                        let _ = write!(
                            out,
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = out.flush();
                    }
                });
            }
        });
        TlsBackend {
            addr,
            handshakes,
            requests,
            sni,
        }
    }

    /// Wait (bounded) until `n` requests in all have arrived.
    pub fn wait_requests(&self, n: usize) {
        let deadline = std::time::Instant::now() + PATIENCE;
        while self.requests.load(std::sync::atomic::Ordering::SeqCst) < n {
            assert!(
                std::time::Instant::now() < deadline,
                "only {} requests",
                self.requests.load(std::sync::atomic::Ordering::SeqCst)
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    pub fn handshakes(&self) -> usize {
        self.handshakes.load(std::sync::atomic::Ordering::SeqCst)
    }
}
