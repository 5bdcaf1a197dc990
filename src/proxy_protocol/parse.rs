//! Incremental parser of PROXY protocol headers. Feed it every byte received so far
//! (from the start of the connection): it says whether more are needed, where the
//! header ends, or why the bytes are not a header. While it answers `NeedMore`,
//! every byte it was given belongs to the header, so a reader may consume them all.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{Accept, Header, Version, V1_MAX, V2_MAX, V2_SIGNATURE};

/// What the bytes so far are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parse {
    /// A valid beginning: read more.
    NeedMore,
    /// A whole header, and its length in bytes (what follows is the client's data).
    Done(Header, usize),
    /// Not a header ringlb accepts.
    Error(Reason),
}

/// Why a header was refused; `as_str` is its label in `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Neither the v1 nor the v2 signature.
    Signature,
    /// A valid header of a version this frontend does not accept.
    Version,
    /// A v1 header without CRLF in 107 bytes, or a v2 header longer than ringlb takes.
    TooLong,
    /// A v1 header that does not follow the grammar (protocol, addresses, ports).
    Malformed,
    /// v2: a version nibble other than 2 or a command other than LOCAL and PROXY.
    Command,
    /// v2: an unknown address family or transport.
    Family,
    /// v2: a length too short for the addresses, or TLVs that overrun it.
    Length,
}

impl Reason {
    pub const ALL: [Reason; 7] = [
        Reason::Signature,
        Reason::Version,
        Reason::TooLong,
        Reason::Malformed,
        Reason::Command,
        Reason::Family,
        Reason::Length,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Signature => "signature",
            Reason::Version => "version",
            Reason::TooLong => "too_long",
            Reason::Malformed => "malformed",
            Reason::Command => "command",
            Reason::Family => "family",
            Reason::Length => "length",
        }
    }
}

const V1_SIGNATURE: &[u8] = b"PROXY ";

/// Parse the bytes received so far, accepting the versions `accept` names.
pub fn parse(buf: &[u8], accept: Accept) -> Parse {
    if buf.is_empty() {
        return Parse::NeedMore;
    }
    let v1 = starts_like(buf, V1_SIGNATURE);
    let v2 = starts_like(buf, &V2_SIGNATURE);
    let version = match (v1, v2) {
        (false, false) => return Parse::Error(Reason::Signature),
        (true, _) => Version::V1,
        (_, true) => Version::V2,
    };
    if !accept.allows(version) {
        return Parse::Error(Reason::Version);
    }
    match version {
        Version::V1 if buf.len() < V1_SIGNATURE.len() => Parse::NeedMore,
        Version::V1 => parse_v1(buf),
        Version::V2 => parse_v2(buf),
    }
}

/// `buf` and `sig` agree on their common length.
fn starts_like(buf: &[u8], sig: &[u8]) -> bool {
    let n = buf.len().min(sig.len());
    buf[..n] == sig[..n]
}

fn parse_v1(buf: &[u8]) -> Parse {
    let window = &buf[..buf.len().min(V1_MAX)];
    let Some(cr) = window.iter().position(|&b| b == b'\r' || b == b'\n') else {
        return if buf.len() >= V1_MAX {
            Parse::Error(Reason::TooLong)
        } else {
            Parse::NeedMore
        };
    };
    if window[cr] != b'\r' {
        return Parse::Error(Reason::Malformed);
    }
    match window.get(cr + 1) {
        None if buf.len() >= V1_MAX => return Parse::Error(Reason::TooLong),
        None => return Parse::NeedMore,
        Some(b'\n') => {}
        Some(_) => return Parse::Error(Reason::Malformed),
    }
    let Ok(line) = std::str::from_utf8(&window[V1_SIGNATURE.len()..cr]) else {
        return Parse::Error(Reason::Malformed);
    };
    match v1_addresses(line) {
        Some(addresses) => Parse::Done(
            Header {
                version: Version::V1,
                addresses,
            },
            cr + 2,
        ),
        None => Parse::Error(Reason::Malformed),
    }
}

/// `TCP4 src dst sport dport`, `TCP6 ...` or `UNKNOWN[ anything]`; `None`: malformed.
fn v1_addresses(line: &str) -> Option<Option<(SocketAddr, SocketAddr)>> {
    if line == "UNKNOWN" || line.starts_with("UNKNOWN ") {
        return Some(None);
    }
    let mut parts = line.split(' ');
    let proto = parts.next()?;
    let (src, dst, sport, dport) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (src, dst): (IpAddr, IpAddr) = match proto {
        "TCP4" => (
            src.parse::<Ipv4Addr>().ok()?.into(),
            dst.parse::<Ipv4Addr>().ok()?.into(),
        ),
        "TCP6" => (
            src.parse::<Ipv6Addr>().ok()?.into(),
            dst.parse::<Ipv6Addr>().ok()?.into(),
        ),
        _ => return None,
    };
    Some(Some((
        SocketAddr::new(src, v1_port(sport)?),
        SocketAddr::new(dst, v1_port(dport)?),
    )))
}

/// A decimal port, digits only, no leading zero (the specification's form).
fn v1_port(s: &str) -> Option<u16> {
    let digits = !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

fn parse_v2(buf: &[u8]) -> Parse {
    if buf.len() < 16 {
        // Check what is there already, so that a bad byte is refused at once.
        if let Some(&vc) = buf.get(12) {
            if vc >> 4 != 2 || vc & 0x0f > 1 {
                return Parse::Error(Reason::Command);
            }
        }
        if let Some(&fam) = buf.get(13) {
            if family(fam).is_none() {
                return Parse::Error(Reason::Family);
            }
        }
        return Parse::NeedMore;
    }
    let (vc, fam) = (buf[12], buf[13]);
    if vc >> 4 != 2 || vc & 0x0f > 1 {
        return Parse::Error(Reason::Command);
    }
    let Some((af, transport)) = family(fam) else {
        return Parse::Error(Reason::Family);
    };
    let total = 16 + usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if total > V2_MAX {
        return Parse::Error(Reason::TooLong);
    }
    let local = vc & 0x0f == 0;
    let need = if local { 0 } else { af.address_len() };
    if total - 16 < need {
        return Parse::Error(Reason::Length);
    }
    if buf.len() < total {
        return Parse::NeedMore;
    }
    if local {
        let header = Header {
            version: Version::V2,
            addresses: None,
        };
        return Parse::Done(header, total);
    }
    // PROXY over a datagram transport is not a stream ringlb can proxy.
    if transport == Transport::Dgram {
        return Parse::Error(Reason::Family);
    }
    let body = &buf[16..total];
    if !tlvs_fit(&body[need..]) {
        return Parse::Error(Reason::Length);
    }
    let header = Header {
        version: Version::V2,
        addresses: af.addresses(body),
    };
    Parse::Done(header, total)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Af {
    Unspec,
    Inet,
    Inet6,
    Unix,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Unspec,
    Stream,
    Dgram,
}

fn family(b: u8) -> Option<(Af, Transport)> {
    let af = match b >> 4 {
        0 => Af::Unspec,
        1 => Af::Inet,
        2 => Af::Inet6,
        3 => Af::Unix,
        _ => return None,
    };
    let t = match b & 0x0f {
        0 => Transport::Unspec,
        1 => Transport::Stream,
        2 => Transport::Dgram,
        _ => return None,
    };
    Some((af, t))
}

impl Af {
    fn address_len(self) -> usize {
        match self {
            Af::Unspec => 0,
            Af::Inet => 12,
            Af::Inet6 => 36,
            Af::Unix => 216,
        }
    }

    /// The addresses at the start of `body` (long enough: checked before).
    fn addresses(self, body: &[u8]) -> Option<(SocketAddr, SocketAddr)> {
        let port = |i: usize| u16::from_be_bytes([body[i], body[i + 1]]);
        match self {
            Af::Inet => {
                let ip = |i: usize| Ipv4Addr::new(body[i], body[i + 1], body[i + 2], body[i + 3]);
                Some((
                    SocketAddr::new(ip(0).into(), port(8)),
                    SocketAddr::new(ip(4).into(), port(10)),
                ))
            }
            Af::Inet6 => {
                let ip = |i: usize| {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(&body[i..i + 16]);
                    Ipv6Addr::from(a)
                };
                Some((
                    SocketAddr::new(ip(0).into(), port(32)),
                    SocketAddr::new(ip(16).into(), port(34)),
                ))
            }
            Af::Unspec | Af::Unix => None,
        }
    }
}

/// TLVs (type, 16-bit length, value) that exactly fill `b`.
fn tlvs_fit(mut b: &[u8]) -> bool {
    while !b.is_empty() {
        if b.len() < 3 {
            return false;
        }
        let len = 3 + usize::from(u16::from_be_bytes([b[1], b[2]]));
        if b.len() < len {
            return false;
        }
        b = &b[len..];
    }
    true
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
