//! Real peers for PROXY protocol tests: HAProxy and nginx run from a temporary
//! directory, and a backend that records the PROXY header of each connection.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringlb::proxy_protocol::{parse, Accept, Parse};

use super::PATIENCE;

/// Whether `path` (a peer binary) exists; a skip is said (and fails with
/// `RINGLB_REQUIRE_TOOLS=1`) when it does not.
pub fn have(test: &str, path: &str) -> bool {
    if std::path::Path::new(path).exists() {
        return true;
    }
    assert_ne!(
        std::env::var("RINGLB_REQUIRE_TOOLS").as_deref(),
        Ok("1"),
        "{path} is required"
    );
    super::say_skipped(
        test,
        &format!("{path} not installed (RINGLB_REQUIRE_TOOLS=1 makes this a failure)"),
    );
    false
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A connection from the loopback address `src` (127.0.0.2, ...), so that a
/// client is told apart from the proxies in front of the server.
pub fn connect_from(src: &str, to: SocketAddr) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let from: SocketAddr = format!("{src}:0").parse().unwrap();
    sock.bind(&from.into()).unwrap();
    sock.connect(&to.into()).unwrap();
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s
}

/// Wait (bounded) until something accepts connections on `addr`.
pub fn wait_listening(addr: SocketAddr, child: &mut Child) {
    let deadline = Instant::now() + PATIENCE;
    while TcpStream::connect(addr).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("peer exited ({status}) before listening: {err}");
        }
        assert!(Instant::now() < deadline, "nothing listens on {addr}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A peer process with its directory; killed and removed on drop.
pub struct Peer {
    pub child: Child,
    pub addr: SocketAddr,
    dir: PathBuf,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn temp_dir(kind: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "ringlb-{kind}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// HAProxy in the foreground with `config`, where `{PORT}` is its listening port;
/// ready once it accepts connections.
pub fn haproxy(config: &str) -> Peer {
    let dir = temp_dir("haproxy");
    let port = free_port();
    let text = config.replace("{PORT}", &port.to_string());
    let file = dir.join("haproxy.cfg");
    std::fs::write(&file, text).unwrap();
    let mut child = Command::new("/usr/sbin/haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start haproxy");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_listening(addr, &mut child);
    Peer { child, addr, dir }
}

/// nginx in the foreground answering every request on a `proxy_protocol` listener
/// with the client address the header gave (`$proxy_protocol_addr`).
pub fn nginx_proxy_protocol() -> Peer {
    let dir = temp_dir("nginx");
    let port = free_port();
    let d = dir.display();
    let text = format!(
        "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/b;\n proxy_temp_path {d}/p;\n\
         fastcgi_temp_path {d}/f;\n uwsgi_temp_path {d}/u;\n scgi_temp_path {d}/s;\n\
         server {{ listen 127.0.0.1:{port} proxy_protocol;\n\
         location / {{ default_type text/plain; return 200 \"$proxy_protocol_addr\"; }} }}\n}}\n"
    );
    let file = dir.join("nginx.conf");
    std::fs::write(&file, text).unwrap();
    let mut child = Command::new("/usr/sbin/nginx")
        .arg("-c")
        .arg(&file)
        .arg("-p")
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nginx");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_listening(addr, &mut child);
    Peer { child, addr, dir }
}

/// A backend that reads a PROXY header (v1 or v2) first on every connection and
/// remembers the source it names (`"local"` for LOCAL/UNKNOWN). Then, by the first
/// byte of what follows: an HTTP request (`G`) gets, for each request on the
/// connection, `200` with body `<source> <n>` (n: the request's number on this
/// connection); anything else is echoed.
pub struct ProxyBackend {
    pub addr: SocketAddr,
    pub sources: Arc<Mutex<Vec<String>>>,
}

impl ProxyBackend {
    pub fn start() -> ProxyBackend {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let sources = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&sources);
        std::thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(s) = s else { continue };
                let seen = Arc::clone(&seen);
                std::thread::spawn(move || serve(s, seen));
            }
        });
        ProxyBackend { addr, sources }
    }

    pub fn sources(&self) -> Vec<String> {
        self.sources.lock().unwrap().clone()
    }
}

fn serve(mut s: TcpStream, seen: Arc<Mutex<Vec<String>>>) {
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    // One byte at a time: nothing past the header is taken from the socket here.
    let source = loop {
        match s.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return,
        }
        match parse(&buf, Accept::Any) {
            Parse::NeedMore => {}
            Parse::Done(h, _) => {
                break h
                    .addresses
                    .map_or("local".to_string(), |(src, _)| src.to_string())
            }
            Parse::Error(_) => return,
        }
    };
    seen.lock().unwrap().push(source.clone());
    let mut first = [0u8; 1];
    if s.peek(&mut first).unwrap_or(0) == 0 {
        return;
    }
    if first[0] != b'G' {
        let mut data = [0u8; 4096];
        while let Ok(n) = s.read(&mut data) {
            if n == 0 || s.write_all(&data[..n]).is_err() {
                break;
            }
        }
        return;
    }
    let mut r = BufReader::new(s);
    for n in 1.. {
        let mut line = String::new();
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => {}
            }
        }
        let body = format!("{source} {n}");
        let out = r.get_mut();
        let _ = write!(
            out,
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
    }
}
