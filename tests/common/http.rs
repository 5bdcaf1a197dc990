//! A recording HTTP/1.1 backend for tests and a minimal client.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::PATIENCE;

/// What the backend saw: every request head (as text) and its decoded body length.
#[derive(Default)]
pub struct Seen {
    pub heads: Mutex<Vec<String>>,
    pub accepted: AtomicUsize,
    /// Connections the backend is done with and has closed (its socket is gone),
    /// whichever side ended them. Counted after the close, so a test that waits for
    /// it knows the FIN (or RST) has been sent.
    pub closed: AtomicUsize,
}

/// The backend answers by path:
/// - `/chunked/N`: N body bytes in chunks of up to 8 KiB
/// - `/len/N`: N body bytes with Content-Length
/// - `/204`, `/304`: no body
/// - `/close-after`: answers keep-alive, then closes the connection 50 ms later
///   (`Backend::wait_closed` tells when it has)
/// - `/hints-then-close`: a 103 Early Hints head, then closes without a final response
/// - `/bad-framing`: Content-Length and Transfer-Encoding both
/// - `/ws`: 101 Switching Protocols, then echoes bytes
/// - `/with-server`: `ok` with a `Server` header
/// - anything else: `ok <method> <path> <body length>`
pub struct Backend {
    pub addr: SocketAddr,
    pub seen: Arc<Seen>,
}

impl Backend {
    pub fn start() -> Backend {
        Backend::start_with_delay(Duration::ZERO)
    }

    /// A backend that waits `delay` before every response.
    pub fn start_with_delay(delay: Duration) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Seen::default());
        let s = Arc::clone(&seen);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                // Responses are written in pieces: without NODELAY, Nagle and delayed
                // ACKs would add ~40 ms to some of them.
                let _ = stream.set_nodelay(true);
                s.accepted.fetch_add(1, Ordering::SeqCst);
                let s = Arc::clone(&s);
                thread::spawn(move || {
                    // `serve` owns the stream: it is closed when `serve` returns.
                    let _ = serve(stream, &s, delay);
                    s.closed.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        Backend { addr, seen }
    }

    pub fn requests(&self) -> usize {
        self.seen.heads.lock().unwrap().len()
    }

    pub fn accepted(&self) -> usize {
        self.seen.accepted.load(Ordering::SeqCst)
    }

    pub fn closed(&self) -> usize {
        self.seen.closed.load(Ordering::SeqCst)
    }

    /// Wait until the backend has closed at least `n` connections (bounded by
    /// PATIENCE: a guard against hangs, not a timing).
    pub fn wait_closed(&self, n: usize) {
        let deadline = Instant::now() + PATIENCE;
        while self.closed() < n {
            assert!(
                Instant::now() < deadline,
                "the backend closed {} connections, not {n}",
                self.closed()
            );
            thread::sleep(Duration::from_millis(2));
        }
    }

    pub fn last_head(&self) -> String {
        self.seen
            .heads
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or_default()
    }
}

fn serve(stream: TcpStream, seen: &Seen, delay: Duration) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut w = stream;
    loop {
        let Some((head, body_len)) = read_message(&mut reader)? else {
            return Ok(());
        };
        let mut first = head.lines().next().unwrap_or("").split(' ');
        let (method, path) = (
            first.next().unwrap_or("").to_string(),
            first.next().unwrap_or("").to_string(),
        );
        seen.heads.lock().unwrap().push(head.clone());
        thread::sleep(delay);
        let http10 = head.lines().next().unwrap_or("").ends_with("HTTP/1.0");
        if let (Some(n), true) = (path.strip_prefix("/chunked/"), http10) {
            // A compliant server never sends chunked to an HTTP/1.0 client.
            let n: usize = n.parse().unwrap_or(0);
            w.write_all(b"HTTP/1.0 200 OK\r\n\r\n")?;
            w.write_all(&vec![b'c'; n])?;
            return Ok(());
        } else if let Some(n) = path.strip_prefix("/chunked/") {
            let mut n: usize = n.parse().unwrap_or(0);
            w.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")?;
            let block = vec![b'c'; 8192];
            while n > 0 {
                let k = n.min(block.len());
                write!(w, "{k:x}\r\n")?;
                w.write_all(&block[..k])?;
                w.write_all(b"\r\n")?;
                n -= k;
            }
            w.write_all(b"0\r\nX-Trailer: t\r\n\r\n")?;
        } else if let Some(n) = path.strip_prefix("/len/") {
            let n: usize = n.parse().unwrap_or(0);
            write!(w, "HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n")?;
            let block = vec![b'l'; 65536];
            let mut left = n;
            while left > 0 {
                let k = left.min(block.len());
                w.write_all(&block[..k])?;
                left -= k;
            }
        } else if path == "/204" {
            w.write_all(b"HTTP/1.1 204 No Content\r\n\r\n")?;
        } else if path == "/304" {
            w.write_all(b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n")?;
        } else if path == "/close-after" {
            w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")?;
            thread::sleep(Duration::from_millis(50));
            let _ = w.shutdown(Shutdown::Both);
            return Ok(());
        } else if path == "/hints-then-close" {
            w.write_all(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")?;
            let _ = w.shutdown(Shutdown::Both);
            return Ok(());
        } else if path == "/bad-framing" {
            w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")?;
        } else if path == "/with-server" {
            w.write_all(b"HTTP/1.1 200 OK\r\nServer: backend/1.0\r\nContent-Length: 2\r\n\r\nok")?;
        } else if path == "/ws" {
            w.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")?;
            let mut buf = [0u8; 4096];
            loop {
                let n = reader.read(&mut buf)?;
                if n == 0 {
                    return Ok(());
                }
                w.write_all(&buf[..n])?;
            }
        } else {
            let body = format!("ok {method} {path} {body_len}");
            let body = if method == "HEAD" {
                String::new()
            } else {
                body
            };
            let len = if method == "HEAD" { 99 } else { body.len() };
            write!(w, "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n{body}")?;
        }
        if head.to_ascii_lowercase().contains("connection: close") {
            return Ok(());
        }
    }
}

/// Read one message (head + body, Content-Length or chunked). Returns the head text and
/// the body length. `None` at EOF.
pub fn read_message(r: &mut impl BufRead) -> std::io::Result<Option<(String, usize)>> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let lower = head.to_ascii_lowercase();
    let mut body_len = 0;
    if lower.contains("transfer-encoding: chunked") {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n =
                usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16).unwrap_or(0);
            if n == 0 {
                // trailers
                loop {
                    let mut t = String::new();
                    r.read_line(&mut t)?;
                    if t == "\r\n" || t.is_empty() {
                        break;
                    }
                }
                break;
            }
            std::io::copy(&mut r.take(n as u64), &mut std::io::sink())?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf)?;
            body_len += n;
        }
    } else if let Some(cl) = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
    {
        let n: usize = cl.trim().parse().unwrap_or(0);
        std::io::copy(&mut r.take(n as u64), &mut std::io::sink())?;
        body_len = n;
    }
    Ok(Some((head, body_len)))
}

/// A client connection with a buffered reader.
pub struct Client {
    pub stream: TcpStream,
    pub reader: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        Client {
            reader: BufReader::new(stream.try_clone().unwrap()),
            stream,
        }
    }

    pub fn send(&mut self, raw: &[u8]) {
        self.stream.write_all(raw).unwrap();
    }

    /// Read one response: (status, head, body).
    pub fn response(&mut self, head_request: bool) -> (u16, String, Vec<u8>) {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            assert!(
                self.reader.read_line(&mut line).unwrap() > 0,
                "connection closed; head so far: {head:?}"
            );
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let status: u16 = head[9..12].parse().unwrap();
        let lower = head.to_ascii_lowercase();
        let mut body = Vec::new();
        let no_body =
            head_request || status == 204 || status == 304 || (100..200).contains(&status);
        if no_body {
        } else if lower.contains("transfer-encoding: chunked") {
            loop {
                let mut size = String::new();
                self.reader.read_line(&mut size).unwrap();
                let n = usize::from_str_radix(size.trim().split(';').next().unwrap(), 16).unwrap();
                if n == 0 {
                    loop {
                        let mut t = String::new();
                        self.reader.read_line(&mut t).unwrap();
                        if t == "\r\n" {
                            break;
                        }
                    }
                    break;
                }
                let mut chunk = vec![0u8; n + 2];
                self.reader.read_exact(&mut chunk).unwrap();
                body.extend_from_slice(&chunk[..n]);
            }
        } else if let Some(cl) = lower
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
        {
            body = vec![0u8; cl.trim().parse().unwrap()];
            self.reader.read_exact(&mut body).unwrap();
        } else {
            self.reader.read_to_end(&mut body).unwrap();
        }
        (status, head, body)
    }

    /// True when the proxy closed the connection (EOF or reset).
    pub fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.reader.read(&mut b), Ok(0) | Err(_))
    }

    pub fn get(&mut self, path: &str) -> (u16, String, Vec<u8>) {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        self.response(false)
    }
}

/// An HTTP-mode configuration with one backend.
pub fn http_config(backend: SocketAddr, extra_global: &str, extra_frontend: &str) -> String {
    format!(
        "[global]\nworkers = 1\npin_workers = false\ngrace_period = \"2s\"\n{extra_global}\n\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n{extra_frontend}\n\n\
         [[backend]]\nname = \"app\"\n\n[[backend.server]]\nname = \"a1\"\naddress = \"{backend}\"\n"
    )
}

/// A client whose connection comes from `src` (any 127.0.0.0/8 address is local), for
/// tests of rules on the client address and of steering.
pub fn client_from(src: &str, to: SocketAddr) -> Client {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let from: SocketAddr = format!("{src}:0").parse().unwrap();
    s.bind(&from.into()).unwrap();
    s.connect(&to.into()).unwrap();
    let stream: TcpStream = s.into();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    Client {
        reader: BufReader::new(stream.try_clone().unwrap()),
        stream,
    }
}
