//! What a connection sends before its session proper: the PROXY protocol header of
//! a frontend with `proxy_protocol` (read in `listener.rs`, before rules and TLS),
//! the ClientHello of a tcp-mode frontend routed by `sni` (read in `session.rs`),
//! and the [`Origin`] a server's `send_proxy` header describes.
//!
//! The PROXY header is consumed exactly: the socket is peeked, parsed, and only the
//! header's bytes are read off, so whatever follows (a TLS ClientHello, an HTTP
//! request) stays in the socket for the next reader. While the parser needs more,
//! every byte present belongs to the header, so those are read off too (no busy
//! loop on a partial header). The ClientHello is read into a relay buffer and
//! forwarded to the server first.

use std::net::SocketAddr;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::time::Duration;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use super::state::Worker;
use super::timer::within;
use crate::config::Frontend;
use crate::msg::stats::proxy_refusal_index;
use crate::proxy_protocol::{self, Accept, Parse, Tlvs, Version};
use crate::tls::client_hello::{client_hello, Hello, HelloError, MAX_HELLO};
use crate::tls::{ClientStream, ServerStream};

/// Why a PROXY header was refused: an index into `msg::stats::PROXY_REFUSALS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal(pub usize);

const UNTRUSTED: Refusal = Refusal(0);
const TIMEOUT: Refusal = Refusal(1);
const CLOSED: Refusal = Refusal(2);

impl Refusal {
    pub fn label(self) -> &'static str {
        crate::msg::stats::PROXY_REFUSALS[self.0]
    }
}

/// Read the PROXY header of a connection from `peer` within `limit`. `Ok(Some)`:
/// the client's and original destination's addresses; `Ok(None)`: a LOCAL command
/// (or UNKNOWN): keep the socket's.
pub async fn read_proxy_header(
    w: &Worker,
    stream: &TcpStream,
    peer: SocketAddr,
    pp: &crate::config::ProxyProtocolIn,
    limit: Duration,
) -> Result<Option<(SocketAddr, SocketAddr)>, Refusal> {
    if !pp.from.contains(canonical(peer.ip())) {
        return Err(UNTRUSTED);
    }
    let mut buf = w.take_buffer();
    buf.resize(proxy_protocol::MAX_HEADER, 0);
    let r = within(limit, peek_header(stream, pp.accept, &mut buf)).await;
    w.give_buffer(buf);
    r.unwrap_or(Err(TIMEOUT))
}

/// An IPv4-mapped IPv6 peer (a dual-stack listener) as the IPv4 address it is.
fn canonical(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
        v4 => v4,
    }
}

async fn peek_header(
    stream: &TcpStream,
    accept: Accept,
    buf: &mut [u8],
) -> Result<Option<(SocketAddr, SocketAddr)>, Refusal> {
    let fd = stream.as_raw_fd();
    let mut have = 0;
    loop {
        stream.readable(false).await.map_err(|_| CLOSED)?;
        let n = match recv(fd, &mut buf[have..], libc::MSG_PEEK) {
            Ok(0) => return Err(CLOSED),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return Err(CLOSED),
        };
        match proxy_protocol::parse(&buf[..have + n], accept) {
            Parse::NeedMore if have + n < buf.len() => {
                consume(fd, &mut buf[have..have + n])?;
                have += n;
            }
            Parse::NeedMore => {
                return Err(Refusal(proxy_refusal_index(
                    proxy_protocol::Reason::TooLong,
                )))
            }
            Parse::Done(header, len) => {
                consume(fd, &mut buf[have..len])?;
                return Ok(header.addresses);
            }
            Parse::Error(reason) => return Err(Refusal(proxy_refusal_index(reason))),
        }
    }
}

/// Read off exactly `buf.len()` bytes already seen by a peek.
fn consume(fd: i32, buf: &mut [u8]) -> Result<(), Refusal> {
    let mut done = 0;
    while done < buf.len() {
        match recv(fd, &mut buf[done..], 0) {
            Ok(0) | Err(_) => return Err(CLOSED),
            Ok(n) => done += n,
        }
    }
    Ok(())
}

/// One non-blocking `recv` with `flags`.
fn recv(fd: i32, buf: &mut [u8], flags: i32) -> std::io::Result<usize> {
    // SAFETY: `buf` is a live, writable slice of `buf.len()` bytes.
    let n = unsafe {
        libc::recv(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            flags | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Why a ClientHello could not be read: an index into `msg::stats::HELLO_FAILURES`.
fn hello_failure(e: HelloError) -> usize {
    match e {
        HelloError::NotTls => 0,
        HelloError::Malformed => 1,
        HelloError::TooLong => 2,
    }
}

/// Why no ClientHello was read: `why` indexes `msg::stats::HELLO_FAILURES`;
/// `intact`: `buf` still holds every byte the client sent, so the connection may
/// still go to `default_backend` (not after a close, nor after a timeout that cut a
/// read short: the bytes of that read are gone).
#[derive(Debug, Clone, Copy)]
pub struct HelloFailure {
    pub why: usize,
    pub intact: bool,
}

/// Read the client's ClientHello into `buf` (which keeps every byte read, to be
/// forwarded) within `limit`. `Ok(range)`: the SNI in `scratch`, if any.
pub async fn read_hello(
    client: &mut ClientStream,
    buf: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    limit: Duration,
) -> Result<Option<Range<usize>>, HelloFailure> {
    let fail = |why, intact| HelloFailure { why, intact };
    let mut got = 0;
    let read = async {
        loop {
            if buf.len() >= MAX_HELLO {
                return Err(fail(hello_failure(HelloError::TooLong), true));
            }
            if buf.capacity() < MAX_HELLO {
                buf.reserve(MAX_HELLO - buf.len());
            }
            let len = buf.len();
            let owned = std::mem::take(buf);
            let (res, slice) = client.read(owned.slice_mut(len..MAX_HELLO)).await;
            *buf = slice.into_inner();
            match res {
                Ok(0) | Err(_) => return Err(fail(4, false)),
                Ok(n) => got += n,
            }
            match client_hello(buf, scratch) {
                Hello::NeedMore => {}
                Hello::Done { sni } => return Ok(sni),
                Hello::Error(e) => return Err(fail(hello_failure(e), true)),
            }
        }
    };
    let r = within(limit, read).await;
    // A timeout drops the pending read and the buffer it owned: `buf` is whole only
    // if nothing had been read at all (a client waiting for the server to speak).
    r.unwrap_or(Err(fail(3, got == 0)))
}

/// The backend of a passthrough connection: the first `sni` route that takes the
/// name, else `default_backend`. `None`: nowhere to go.
pub fn sni_backend(fe: &Frontend, sni: Option<&str>) -> Option<usize> {
    sni.and_then(|name| fe.sni_routes.iter().find(|r| r.matches(name)))
        .map(|r| r.backend)
        .or(fe.default_backend)
}

/// Who a client connection is, for a server's `send_proxy` header: kept only when
/// some server has `send_proxy` (`Frontend::keeps_origin`).
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The client (from the PROXY header when there was one) and the address it
    /// connected to.
    pub addresses: Option<(SocketAddr, SocketAddr)>,
    /// The client's TLS version and cipher, when ringlb terminated it.
    pub ssl: Option<(&'static str, &'static str)>,
    /// The server name asked for (TLS SNI, terminated or passed through).
    pub sni: Option<Box<str>>,
    /// The protocol negotiated with ALPN.
    pub alpn: Option<Box<[u8]>>,
}

impl Origin {
    /// For a connection accepted before a reload turned `send_proxy` on: the client
    /// is known, the address it connected to is not (sent as unspecified).
    pub fn of_peer(peer: SocketAddr) -> Origin {
        let unspecified: std::net::IpAddr = match peer {
            SocketAddr::V4(_) => std::net::Ipv4Addr::UNSPECIFIED.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::UNSPECIFIED.into(),
        };
        Origin {
            addresses: Some((peer, SocketAddr::new(unspecified, 0))),
            ..Origin::default()
        }
    }
}

/// Write the `send_proxy` header of `version` for `origin` first on `stream`.
pub async fn send_proxy_header(
    w: &Worker,
    stream: &mut TcpStream,
    version: Version,
    origin: &Origin,
) -> std::io::Result<()> {
    let mut buf = w.take_buffer();
    let tlvs = Tlvs {
        alpn: origin.alpn.as_deref(),
        authority: origin.sni.as_deref(),
        ssl: origin
            .ssl
            .map(|(version, cipher)| proxy_protocol::Ssl { version, cipher }),
    };
    proxy_protocol::encode(version, origin.addresses, &tlvs, &mut buf);
    let (res, buf) = stream.write_all(buf).await;
    w.give_buffer(buf);
    res.map(|_| ())
}

/// Forward the bytes read before the server was chosen (the ClientHello).
pub async fn forward_hello(
    server: &mut ServerStream,
    buf: Vec<u8>,
) -> (std::io::Result<()>, Vec<u8>) {
    let (res, buf) = server.write_all(buf).await;
    (res.map(|_| ()), buf)
}
