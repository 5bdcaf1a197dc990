//! PROXY protocol encoders: the header ringlb writes first on a server connection
//! (`send_proxy`), into a buffer the caller owns and reuses.

use std::net::{IpAddr, SocketAddr};

use super::{
    Version, PP2_CLIENT_SSL, PP2_SUBTYPE_SSL_CIPHER, PP2_SUBTYPE_SSL_VERSION, PP2_TYPE_ALPN,
    PP2_TYPE_AUTHORITY, PP2_TYPE_SSL, V2_SIGNATURE,
};

/// The client's TLS, for the v2 SSL TLV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ssl<'a> {
    /// `"TLSv1.3"`...
    pub version: &'a str,
    /// `"TLS13_AES_128_GCM_SHA256"`...
    pub cipher: &'a str,
}

/// What v2 may carry besides the addresses (v1 carries none of it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tlvs<'a> {
    /// The protocol the client negotiated with ALPN.
    pub alpn: Option<&'a [u8]>,
    /// The name the client asked for (SNI).
    pub authority: Option<&'a str>,
    /// Set when the client spoke TLS to ringlb.
    pub ssl: Option<Ssl<'a>>,
}

/// Append the header of `version` to `out`. `addresses` (source, destination):
/// `None` writes a v2 LOCAL command / a v1 `UNKNOWN` (a health check's own
/// connection). Mixed families are written as IPv6 (IPv4-mapped).
pub fn encode(
    version: Version,
    addresses: Option<(SocketAddr, SocketAddr)>,
    tlvs: &Tlvs<'_>,
    out: &mut Vec<u8>,
) {
    match version {
        Version::V1 => encode_v1(addresses, out),
        Version::V2 => encode_v2(addresses, tlvs, out),
    }
}

/// `PROXY TCP4 src dst sport dport\r\n` (or `TCP6`, or `UNKNOWN`).
pub fn encode_v1(addresses: Option<(SocketAddr, SocketAddr)>, out: &mut Vec<u8>) {
    use std::io::Write;
    let Some((src, dst)) = addresses.map(same_family) else {
        out.extend_from_slice(b"PROXY UNKNOWN\r\n");
        return;
    };
    let proto = if src.is_ipv4() { "TCP4" } else { "TCP6" };
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "PROXY {proto} {} {} {} {}\r\n",
        src.ip(),
        dst.ip(),
        src.port(),
        dst.port()
    );
}

/// The binary header: signature, version 2 and the command, family, length,
/// addresses, then the TLVs.
pub fn encode_v2(addresses: Option<(SocketAddr, SocketAddr)>, tlvs: &Tlvs<'_>, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&V2_SIGNATURE);
    let Some((src, dst)) = addresses.map(same_family) else {
        // LOCAL, AF_UNSPEC, no addresses, no TLVs.
        out.extend_from_slice(&[0x20, 0x00, 0, 0]);
        return;
    };
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.extend_from_slice(&[0x21, 0x11, 0, 0]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        (s, d) => {
            out.extend_from_slice(&[0x21, 0x21, 0, 0]);
            out.extend_from_slice(&v6(s).octets());
            out.extend_from_slice(&v6(d).octets());
        }
    }
    out.extend_from_slice(&src.port().to_be_bytes());
    out.extend_from_slice(&dst.port().to_be_bytes());
    if let Some(alpn) = tlvs.alpn {
        tlv(out, PP2_TYPE_ALPN, alpn);
    }
    if let Some(name) = tlvs.authority {
        tlv(out, PP2_TYPE_AUTHORITY, name.as_bytes());
    }
    if let Some(ssl) = tlvs.ssl {
        let at = out.len();
        out.push(PP2_TYPE_SSL);
        out.extend_from_slice(&[0, 0]);
        out.push(PP2_CLIENT_SSL);
        // verify: 0 = the client's certificate was verified or none was asked for.
        out.extend_from_slice(&0u32.to_be_bytes());
        tlv(out, PP2_SUBTYPE_SSL_VERSION, ssl.version.as_bytes());
        tlv(out, PP2_SUBTYPE_SSL_CIPHER, ssl.cipher.as_bytes());
        let len = out.len() - at - 3;
        set_len(out, at + 1, len);
    }
    let len = out.len() - start - 16;
    set_len(out, start + 14, len);
}

/// Both addresses of one family: IPv4 mapped into IPv6 when the other one is IPv6.
fn same_family((src, dst): (SocketAddr, SocketAddr)) -> (SocketAddr, SocketAddr) {
    if src.is_ipv4() == dst.is_ipv4() {
        return (src, dst);
    }
    (
        SocketAddr::new(v6(src.ip()).into(), src.port()),
        SocketAddr::new(v6(dst.ip()).into(), dst.port()),
    )
}

fn v6(ip: IpAddr) -> std::net::Ipv6Addr {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// One TLV; a value longer than a TLV can hold is cut (never happens with the
/// values ringlb writes: names, ALPN ids and cipher names are short).
fn tlv(out: &mut Vec<u8>, kind: u8, value: &[u8]) {
    let value = &value[..value.len().min(usize::from(u16::MAX) - 64)];
    out.push(kind);
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
}

fn set_len(out: &mut [u8], at: usize, len: usize) {
    let len = u16::try_from(len).unwrap_or(u16::MAX);
    out[at..at + 2].copy_from_slice(&len.to_be_bytes());
}
