//! What rules look at: a borrowed view of the connection and, once parsed, the
//! request. The caller fills it from what it already has (the accepted socket, the
//! TLS session, the parsed request head); nothing is copied.

use std::net::IpAddr;

/// The facts of one connection or request. Build one per evaluation; it only borrows.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The client's address (IPv4-mapped IPv6 addresses are treated as IPv4).
    pub client: IpAddr,
    /// The local port the client connected to.
    pub dst_port: u16,
    /// TLS, once the handshake is done: the SNI the client sent, the version
    /// (`"TLSv1.3"`, `"TLSv1.2"`) and the negotiated ALPN protocol. `None` before the
    /// handshake or without TLS.
    pub sni: Option<&'a str>,
    pub tls_version: Option<&'a str>,
    pub alpn: Option<&'a [u8]>,
    /// The request, in HTTP mode once its head is parsed.
    pub http: Option<HttpFacts<'a>>,
    /// The response status, in the response phase.
    pub status: Option<u16>,
    /// How many servers of each backend are usable (`nbsrv`), as the worker knows
    /// from the control thread's messages; `None`: not known, `nbsrv` tests are false.
    pub backends: Option<&'a dyn UpServers>,
}

/// The usable servers of a backend, by the index rules give backends (HAProxy's
/// `nbsrv`: the usable active servers, or the usable backups when there are none).
pub trait UpServers: std::fmt::Debug {
    /// `None` for a backend the caller does not know.
    fn up(&self, backend: u32) -> Option<u32>;
}

impl<'a> Facts<'a> {
    /// The facts known at accept time.
    pub fn connection(client: IpAddr, dst_port: u16) -> Self {
        Facts {
            client,
            dst_port,
            sni: None,
            tls_version: None,
            alpn: None,
            http: None,
            status: None,
            backends: None,
        }
    }
}

/// A request head, as parsed by the HTTP codec.
#[derive(Debug, Clone, Copy)]
pub struct HttpFacts<'a> {
    pub method: &'a str,
    /// The origin-form target, `path[?query]`, as received (path conditions see it
    /// normalized, see [`super::normalize_path`]).
    pub target: &'a [u8],
    /// The Host header (or the authority of an absolute-form target), port included.
    pub host: Option<&'a str>,
    /// The version as [`super::cond::Test::HttpVersion`] numbers it: 0 for HTTP/1.0,
    /// 1 for HTTP/1.1, 2 for an HTTP/2 stream (translated to HTTP/1.1, but received
    /// as HTTP/2).
    pub version: u8,
    pub headers: Headers<'a>,
}

/// The header fields of a request, in order, repeated names included.
#[derive(Debug, Clone, Copy)]
pub enum Headers<'a> {
    /// Straight from the codec's parse (no copy).
    Parsed(&'a [httparse::Header<'a>]),
    /// Name/value pairs (tests, other callers).
    Pairs(&'a [Field<'a>]),
}

/// A header field as (name, value).
pub type Field<'a> = (&'a [u8], &'a [u8]);

impl<'a> Headers<'a> {
    /// Every field as (name, value).
    pub fn iter(&self) -> impl Iterator<Item = Field<'a>> + 'a {
        let (parsed, pairs): (&'a [httparse::Header<'a>], &'a [Field<'a>]) = match *self {
            Headers::Parsed(h) => (h, &[]),
            Headers::Pairs(p) => (&[], p),
        };
        parsed
            .iter()
            .map(|h| (h.name.as_bytes(), h.value))
            .chain(pairs.iter().copied())
    }

    /// The value of every field named `name` (ASCII case-insensitive), in order.
    pub fn values<'n>(&self, name: &'n [u8]) -> impl Iterator<Item = &'a [u8]> + 'n
    where
        'a: 'n,
    {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// The host of a Host value, without its port and a final dot:
/// `Example.com:8080` → `Example.com`, `[::1]:80` → `[::1]`, `a.example.` → `a.example`.
pub fn host_without_port(host: &[u8]) -> &[u8] {
    let host = if host.first() == Some(&b'[') {
        match host.iter().position(|&b| b == b']') {
            Some(end) => &host[..=end],
            None => host,
        }
    } else {
        match host.iter().rposition(|&b| b == b':') {
            Some(colon) => &host[..colon],
            None => host,
        }
    };
    host.strip_suffix(b".").unwrap_or(host)
}

/// Every `name[=value]` pair of a raw query string (values not decoded, as HAProxy's
/// `urlp`); a pair without `=` has an empty value.
pub fn query_pairs(query: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    query
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.iter().position(|&b| b == b'=') {
            Some(eq) => (&p[..eq], &p[eq + 1..]),
            None => (p, &p[p.len()..]),
        })
}

/// Every `name=value` pair of one Cookie header value (RFC 6265 5.4: `; `-separated).
pub fn cookie_pairs(value: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    value.split(|&b| b == b';').filter_map(|p| {
        let p = p.trim_ascii();
        let eq = p.iter().position(|&b| b == b'=')?;
        Some((p[..eq].trim_ascii(), p[eq + 1..].trim_ascii()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lose_port_and_final_dot() {
        for (h, want) in [
            ("example.com", "example.com"),
            ("Example.com:8080", "Example.com"),
            ("example.com.", "example.com"),
            ("example.com.:80", "example.com"),
            ("[::1]:80", "[::1]"),
            ("[::1]", "[::1]"),
            ("10.0.0.1:443", "10.0.0.1"),
            ("", ""),
        ] {
            assert_eq!(host_without_port(h.as_bytes()), want.as_bytes(), "{h}");
        }
    }

    #[test]
    fn query_and_cookie_pairs() {
        let q: Vec<_> = query_pairs(b"a=1&&b&c=&d=x=y").collect();
        assert_eq!(
            q,
            [
                (&b"a"[..], &b"1"[..]),
                (b"b", b""),
                (b"c", b""),
                (b"d", b"x=y")
            ]
        );
        let c: Vec<_> = cookie_pairs(b"sid=abc; theme=dark;flag; x = y ").collect();
        assert_eq!(
            c,
            [
                (&b"sid"[..], &b"abc"[..]),
                (b"theme", b"dark"),
                (b"x", b"y")
            ]
        );
    }

    #[test]
    fn headers_of_both_shapes_iterate_alike() {
        let parsed = [
            httparse::Header {
                name: "Accept",
                value: b"a",
            },
            httparse::Header {
                name: "X-Key",
                value: b"1",
            },
            httparse::Header {
                name: "x-key",
                value: b"2",
            },
        ];
        let pairs: [(&[u8], &[u8]); 3] = [(b"Accept", b"a"), (b"X-Key", b"1"), (b"x-key", b"2")];
        for h in [Headers::Parsed(&parsed), Headers::Pairs(&pairs)] {
            let v: Vec<_> = h.values(b"X-KEY").collect();
            assert_eq!(v, [&b"1"[..], b"2"]);
            assert_eq!(h.iter().count(), 3);
        }
    }
}
