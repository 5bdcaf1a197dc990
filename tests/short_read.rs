//! Client connections in readiness mode after a short read (the patched monoio,
//! vendor/PATCHES.md): a read that fills less than its buffer clears the socket's read
//! readiness, so the next read waits for the next edge; unless a FIN came with the
//! data, since no new edge announces it. Each case through both drivers (io_uring
//! with its epoll poller, and the legacy epoll driver), over cleartext HTTP/2 (prior
//! knowledge) and HTTP/1.1 over TLS:
//! - a request and the client's FIN in one segment, short of the buffer: the answer
//!   and then the close must still come (a lost FIN would leave the connection open
//!   until `timeout_client`, set far beyond the test's patience). The HTTP/2 case
//!   stalls if the rule clears `READ_CLOSED` too (checked with such a build, on each
//!   driver). Over TLS such a build still passed (most likely the client's ACK of the
//!   response raises a write edge, and epoll reports the pending FIN with it); the
//!   case stays as a check that the answer and the close come;
//! - a request in two segments with a pause between them: the second segment's edge
//!   must wake the connection.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

use common::http::Backend;
use common::tls::{CertDir, Hello, TlsClient};
use common::Ringlb;

/// Longer than the test waits for anything: a close seen in time is not a timeout.
const OPEN: &str = "timeout_client = \"120s\"\n";
/// How long an answer or a close may take before the connection counts as stalled.
const PATIENCE: Duration = Duration::from_secs(10);
/// The pause between the two segments of a split request.
const PAUSE: Duration = Duration::from_millis(200);

/// A frontend "clear" (h2c prior knowledge) and "tls" (HTTP/1.1), one worker, `driver`.
fn start(backend: &Backend, certs: &CertDir, driver: &str) -> Ringlb {
    let c = format!(
        "[global]\nworkers = 1\npin_workers = false\nio_driver = \"{driver}\"\n\n\
         [[frontend]]\nname = \"clear\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\n\
         default_backend = \"app\"\nh2c = \"prior-knowledge\"\n{OPEN}\n\
         [[frontend]]\nname = \"tls\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\n\
         default_backend = \"app\"\n{OPEN}\
         [frontend.tls]\ncertificates = [{}]\n\n\
         [[backend]]\nname = \"app\"\n\n[[backend.server]]\nname = \"s\"\naddress = \"{}\"\n",
        certs.entry("site"),
        backend.addr
    );
    let r = Ringlb::start(&c);
    if driver == "legacy" {
        assert!(
            r.log.iter().any(|l| l.contains("legacy (epoll)")),
            "log does not say which driver"
        );
    }
    r
}

/// Both drivers, each with a fresh ringlb: `case(ringlb, driver)`.
fn each_driver(case: impl Fn(&Ringlb, &str)) {
    let backend = Backend::start();
    let certs = CertDir::new();
    certs.write("site", &["localhost"]);
    for driver in ["io_uring", "legacy"] {
        let r = start(&backend, &certs, driver);
        case(&r, driver);
    }
}

/// `bytes` and the FIN in one TCP segment: corked, so the FIN joins the data still
/// held back, then uncorked.
fn send_with_fin(tcp: &TcpStream, bytes: &[u8]) {
    let cork = |on: libc::c_int| {
        // SAFETY: a valid socket and a c_int option value of the right size.
        let rc = unsafe {
            libc::setsockopt(
                tcp.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_CORK,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "TCP_CORK: {}", std::io::Error::last_os_error());
    };
    cork(1);
    (&*tcp).write_all(bytes).unwrap();
    tcp.shutdown(Shutdown::Write).unwrap();
    cork(0);
}

/// `bytes` in two segments, split at `at`, with a pause between them.
fn send_split(tcp: &TcpStream, bytes: &[u8], at: usize) {
    tcp.set_nodelay(true).unwrap();
    (&*tcp).write_all(&bytes[..at]).unwrap();
    thread::sleep(PAUSE);
    (&*tcp).write_all(&bytes[at..]).unwrap();
}

/// The connection preface, an empty SETTINGS and a GET / on stream 1 (END_STREAM).
fn h2_request() -> Vec<u8> {
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    // HPACK: :method GET, :scheme http, :path / (static table), :authority literal.
    let authority = b"localhost";
    let mut block = vec![0x82, 0x86, 0x84, 0x01, authority.len() as u8];
    block.extend_from_slice(authority);
    let len = block.len() as u32;
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(&[1, 0x5, 0, 0, 0, 1]);
    out.extend_from_slice(&block);
    out
}

/// Frames from ringlb until stream 1's HEADERS: true when it says `:status 200`
/// (static index 8); `None` if the connection ended before.
fn h2_response(tcp: &mut TcpStream) -> Option<bool> {
    loop {
        let mut head = [0u8; 9];
        read_or_end(tcp, &mut head)?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        read_or_end(tcp, &mut payload)?;
        if head[3] == 1 && stream == 1 {
            return Some(payload.first() == Some(&0x88));
        }
    }
}

/// `read_exact`, `None` at EOF or reset; a read timeout is a stall.
fn read_or_end(tcp: &mut TcpStream, buf: &mut [u8]) -> Option<()> {
    match tcp.read_exact(buf) {
        Ok(()) => Some(()),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
            ) =>
        {
            None
        }
        Err(e) => panic!("no answer within {PATIENCE:?}: {e}"),
    }
}

/// Reads until ringlb closes the connection: panics if it has not within `PATIENCE`.
fn wait_closed(read: &mut impl Read, what: &str) {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match read.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return,
            // rustls: a TCP end without close_notify.
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return,
            Err(e) => panic!("{what}: not closed within {PATIENCE:?}: {e}"),
        }
        assert!(start.elapsed() < PATIENCE, "{what}: not closed");
    }
}

fn h2_client(r: &Ringlb) -> TcpStream {
    let tcp = TcpStream::connect(r.addrs[0]).unwrap();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    tcp
}

fn tls_client(r: &Ringlb) -> TlsClient {
    let c = common::tls::connect(r.addrs[1], &Hello::default()).unwrap();
    c.stream.sock.set_read_timeout(Some(PATIENCE)).unwrap();
    c
}

/// The TLS records of a keep-alive GET of `path`, not yet sent.
fn tls_request(c: &mut TlsClient, path: &str) -> Vec<u8> {
    write!(
        c.stream.conn.writer(),
        "GET {path} HTTP/1.1\r\nhost: localhost\r\n\r\n"
    )
    .unwrap();
    let mut records = Vec::new();
    while c.stream.conn.wants_write() {
        c.stream.conn.write_tls(&mut records).unwrap();
    }
    records
}

#[test]
fn h2_request_and_fin_in_one_segment_still_end_the_connection() {
    each_driver(|r, driver| {
        let mut tcp = h2_client(r);
        send_with_fin(&tcp, &h2_request());
        // ringlb may answer the stream or drop it at the client's end; either way it
        // must see the FIN that came with the request and close.
        let _ = h2_response(&mut tcp);
        wait_closed(&mut tcp, driver);
    });
}

#[test]
fn tls_request_and_fin_in_one_segment_get_the_answer_then_the_close() {
    each_driver(|r, driver| {
        let mut c = tls_client(r);
        let records = tls_request(&mut c, "/fin");
        send_with_fin(&c.stream.sock, &records);
        assert_eq!(c.response(), (200, b"ok GET /fin 0".to_vec()), "{driver}");
        // Keep-alive: the close comes from the FIN read after the request.
        wait_closed(&mut c.stream, driver);
    });
}

#[test]
fn h2_request_in_two_segments_with_a_pause_is_answered() {
    each_driver(|r, driver| {
        let request = h2_request();
        // Within the HEADERS frame: its header came, its block did not.
        for at in [request.len() - 4, 24] {
            let mut tcp = h2_client(r);
            send_split(&tcp, &request, at);
            assert_eq!(h2_response(&mut tcp), Some(true), "{driver}, split at {at}");
        }
    });
}

#[test]
fn tls_request_in_two_segments_with_a_pause_is_answered() {
    each_driver(|r, driver| {
        let mut c = tls_client(r);
        for (i, at) in [5usize, 20].into_iter().enumerate() {
            // A record's header alone, then the rest; part of its body, then the rest.
            let path = format!("/split{i}");
            let records = tls_request(&mut c, &path);
            send_split(&c.stream.sock, &records, at.min(records.len() - 1));
            let want = format!("ok GET {path} 0").into_bytes();
            assert_eq!(c.response(), (200, want), "{driver}, split at {at}");
        }
    });
}
