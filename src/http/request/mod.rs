//! Request heads: parse with httparse, then enforce what httparse leaves to the
//! caller (RFC 9112 framing, Host, line endings, limits), then write the head that goes
//! to the server.

use std::io::Write as _;
use std::net::IpAddr;

use super::authority::valid_authority;
use super::headers::{
    connection_has, content_length, dropped_by_connection, has_connection, is_hop_by_hop,
    strict_line_endings, transfer_encoding, trim, TeError,
};
use super::{BodyFraming, HttpError};

#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// Longest request line (414 beyond).
    pub max_request_line: usize,
    /// Largest header section, request line included (431 beyond).
    pub max_header_bytes: usize,
    /// Most header fields (431 beyond).
    pub max_headers: usize,
}

/// A parsed, validated request head. Borrows the read buffer.
#[derive(Debug)]
pub struct Request<'h, 'b> {
    pub head_len: usize,
    pub method: &'b str,
    pub target: &'b str,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    pub headers: &'h [httparse::Header<'b>],
    pub host: Option<&'b str>,
    pub framing: BodyFraming,
    pub keep_alive: bool,
    pub upgrade: bool,
    pub expect_continue: bool,
}

/// Which X-Forwarded-* fields the server gets (a frontend's `forwarded_*` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forwarding<'a> {
    /// The field that names the client (`x-forwarded-for`, or HAProxy's `header NAME`);
    /// `None`: not added (no forwarding, or the client is in an `except` network).
    pub for_name: Option<&'a str>,
    /// Add the client field only when the request has none (HAProxy's `if-none`).
    pub if_none: bool,
    /// `x-forwarded-proto` with this protocol (`"http"` or `"https"`).
    pub proto: Option<&'a str>,
    /// `x-forwarded-host` with the request's host.
    pub host: bool,
}

impl Forwarding<'static> {
    pub const NONE: Self = Forwarding {
        for_name: None,
        if_none: false,
        proto: None,
        host: false,
    };

    /// `forwarded_for = true`: X-Forwarded-For, -Proto and -Host.
    pub fn all(proto: &'static str) -> Self {
        Forwarding {
            for_name: Some("x-forwarded-for"),
            if_none: false,
            proto: Some(proto),
            host: true,
        }
    }
}

impl Request<'_, '_> {
    /// Safe to send twice (RFC 9110 §9.2.2).
    pub fn idempotent(&self) -> bool {
        matches!(
            self.method,
            "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
        )
    }

    /// The client takes trailer fields (`TE: trailers`).
    pub fn accepts_trailers(&self) -> bool {
        self.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("te"))
            .any(|h| super::headers::list(h.value).any(|t| t.eq_ignore_ascii_case(b"trailers")))
    }

    /// The path part of the target (for routing).
    pub fn path(&self) -> &str {
        // Origin form, the usual one: the target is the path (a query may hold "://").
        if self.target.starts_with('/') {
            return self.target;
        }
        match self.target.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
            None => self.target,
        }
    }

    /// Write the head for the server: hop-by-hop headers (and those named in
    /// Connection) dropped, X-Forwarded-* fields added as `forwarded` says. The version
    /// stays the client's: a server must not answer an HTTP/1.0 request with a chunked
    /// body, which an HTTP/1.0 client could not read (ringlb forwards bodies as they are).
    pub fn write_upstream_head(
        &self,
        out: &mut Vec<u8>,
        client: IpAddr,
        forwarded: Option<Forwarding<'_>>,
    ) {
        let f = forwarded.unwrap_or(Forwarding::NONE);
        let has = |name: &str| {
            self.headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case(name))
        };
        // The client field: replaced by one that appends the client, kept as sent with
        // `if_none` when present, left alone when the client is not to be named.
        let for_name = f.for_name.filter(|n| !(f.if_none && has(n)));
        out.clear();
        // Byte by byte, not `write!`: formatting cost ~600 instructions per request.
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.target.as_bytes());
        out.extend_from_slice(b" HTTP/1.");
        out.push(b'0' + self.version.min(9));
        out.extend_from_slice(b"\r\n");
        let mut content_length_written = false;
        // Only a Connection header names others to drop: looked for once, not per header.
        let named = has_connection(self.headers);
        for h in self.headers {
            let name = h.name;
            let upgrade_header = self.upgrade && name.eq_ignore_ascii_case("upgrade");
            let dropped = named && dropped_by_connection(self.headers, name);
            if !upgrade_header && (is_hop_by_hop(name) || dropped) {
                continue;
            }
            // ringlb answers 100-continue itself, so the server must not be asked to.
            if self.expect_continue && name.eq_ignore_ascii_case("expect") {
                continue;
            }
            if for_name.is_some_and(|n| name.eq_ignore_ascii_case(n))
                || (f.proto.is_some() && name.eq_ignore_ascii_case("x-forwarded-proto"))
                || (f.host && name.eq_ignore_ascii_case("x-forwarded-host"))
            {
                continue;
            }
            if name.eq_ignore_ascii_case("content-length") {
                if content_length_written {
                    continue; // identical duplicates (others were refused): send one
                }
                content_length_written = true;
            }
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(h.value);
            out.extend_from_slice(b"\r\n");
        }
        if let Some(n) = for_name {
            let _ = write!(out, "{}: ", n.to_ascii_lowercase());
            for h in self
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(n))
            {
                out.extend_from_slice(h.value);
                out.extend_from_slice(b", ");
            }
            let _ = write!(out, "{client}\r\n");
        }
        if let Some(proto) = f.proto {
            let _ = write!(out, "x-forwarded-proto: {proto}\r\n");
        }
        if let Some(host) = self.host.filter(|_| f.host) {
            let _ = write!(out, "x-forwarded-host: {host}\r\n");
        }
        if self.upgrade {
            out.extend_from_slice(b"connection: upgrade\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// Parse and validate the request head at the start of `buf`. `Ok(None)`: incomplete,
/// read more. `storage` bounds the number of headers.
pub fn parse_request<'h, 'b>(
    buf: &'b [u8],
    limits: &Limits,
    storage: &'h mut [httparse::Header<'b>],
) -> Result<Option<Request<'h, 'b>>, HttpError> {
    check_request_line_length(buf, limits)?;
    let max = limits.max_headers.min(storage.len());
    let mut req = httparse::Request::new(&mut storage[..max]);
    let parsed = req.parse(buf);
    let Some(head_len) = head_len(parsed, buf, limits)? else {
        return Ok(None);
    };
    if head_len > limits.max_header_bytes {
        return Err(HttpError::HeadersTooLarge);
    }
    if !strict_line_endings(&buf[..head_len]) {
        return Err(HttpError::BadRequest("bare LF or CR in the request head"));
    }
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(HttpError::BadRequest("incomplete request line"));
    };
    let headers: &'h [httparse::Header<'b>] = req.headers;
    request_from_parts(head_len, method, target, version, headers).map(Some)
}

/// What `parse_request` checks once a head is split into its parts (all but the
/// syntax): CONNECT, Host, the target, the body's framing; and what the session needs
/// of it. Also used on a head ringlb wrote itself (`super::h2::trusted`).
pub(crate) fn request_from_parts<'h, 'b>(
    head_len: usize,
    method: &'b str,
    target: &'b str,
    version: u8,
    headers: &'h [httparse::Header<'b>],
) -> Result<Request<'h, 'b>, HttpError> {
    if method == "CONNECT" {
        return Err(HttpError::NotImplemented("CONNECT"));
    }
    let host = host_header(headers, version)?;
    check_target(method, target, host)?;
    let framing = body_framing(headers, version)?;
    let keep_alive = if version == 1 {
        !connection_has(headers, "close")
    } else {
        connection_has(headers, "keep-alive")
    };
    let upgrade = version == 1
        && connection_has(headers, "upgrade")
        && headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case("upgrade"));
    let expect_continue = headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("expect") && h.value.eq_ignore_ascii_case(b"100-continue")
    });
    Ok(Request {
        head_len,
        method,
        target,
        version,
        headers,
        host,
        framing,
        keep_alive,
        upgrade,
        expect_continue,
    })
}

/// 414 for a request line longer than the limit, complete or not.
#[inline]
fn check_request_line_length(buf: &[u8], limits: &Limits) -> Result<(), HttpError> {
    let line_end = buf.iter().position(|&b| b == b'\n');
    match line_end {
        Some(end) if end > limits.max_request_line => Err(HttpError::UriTooLong),
        None if buf.len() > limits.max_request_line => Err(HttpError::UriTooLong),
        _ => Ok(()),
    }
}

/// httparse's verdict as ours: the head's length, `None` while it is incomplete and
/// within `max_header_bytes`, or the error the client gets.
#[inline]
fn head_len(
    parsed: httparse::Result<usize>,
    buf: &[u8],
    limits: &Limits,
) -> Result<Option<usize>, HttpError> {
    match parsed {
        Ok(httparse::Status::Complete(n)) => Ok(Some(n)),
        Ok(httparse::Status::Partial) => {
            if buf.len() > limits.max_header_bytes {
                return Err(HttpError::HeadersTooLarge);
            }
            Ok(None)
        }
        Err(httparse::Error::TooManyHeaders) => Err(HttpError::HeadersTooLarge),
        Err(httparse::Error::Version) => Err(version_error(buf)),
        Err(httparse::Error::HeaderName) => Err(HttpError::BadRequest("invalid header name")),
        Err(httparse::Error::HeaderValue) => Err(HttpError::BadRequest("invalid header value")),
        Err(httparse::Error::Token) => Err(HttpError::BadRequest("invalid method or target")),
        Err(_) => Err(HttpError::BadRequest("malformed request head")),
    }
}

/// Host: exactly one in HTTP/1.1, at most one in HTTP/1.0, and a valid authority.
#[inline]
fn host_header<'b>(
    headers: &[httparse::Header<'b>],
    version: u8,
) -> Result<Option<&'b str>, HttpError> {
    let mut hosts = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("host"));
    match (hosts.next(), hosts.next()) {
        (_, Some(_)) => Err(HttpError::BadRequest("more than one Host header")),
        (Some(h), None) => Ok(Some(host_value(h.value)?)),
        (None, None) if version == 1 => Err(HttpError::BadRequest("missing Host header")),
        (None, None) => Ok(None),
    }
}

/// The request target: origin form, `*` for OPTIONS, or an http(s) absolute form
/// whose authority matches Host.
#[inline]
fn check_target(method: &str, target: &str, host: Option<&str>) -> Result<(), HttpError> {
    // Origin form first: a query may hold "://" (`/go?to=http://x`), which is no scheme.
    if target.starts_with('/') {
        return Ok(());
    }
    if let Some((scheme, rest)) = target.split_once("://") {
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err(HttpError::BadRequest("unsupported scheme in target"));
        }
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        // An http(s) URI must have a non-empty host (RFC 9110 §4.2.1), which
        // valid_authority demands, so `http:///x` with `Host:` is refused too.
        if !valid_authority(authority.as_bytes()) {
            return Err(HttpError::BadRequest("invalid authority in target"));
        }
        if host.is_none_or(|h| !h.eq_ignore_ascii_case(authority)) {
            return Err(HttpError::BadRequest(
                "absolute-form target does not match Host",
            ));
        }
    } else if !(target == "*" && method == "OPTIONS") {
        return Err(HttpError::BadRequest("invalid request target"));
    }
    Ok(())
}

/// The body's framing (RFC 9112 §6.3): chunked (HTTP/1.1 only, never with
/// Content-Length), Content-Length, or none.
#[inline]
fn body_framing(headers: &[httparse::Header<'_>], version: u8) -> Result<BodyFraming, HttpError> {
    let te = match transfer_encoding(headers) {
        Ok(te) => te,
        Err(TeError::Malformed) => return Err(HttpError::BadRequest("invalid Transfer-Encoding")),
        Err(TeError::Unsupported) => {
            return Err(HttpError::NotImplemented(
                "transfer coding other than chunked",
            ))
        }
    };
    let cl = content_length(headers).map_err(HttpError::BadRequest)?;
    match (te, cl) {
        (Some(()), _) if version == 0 => Err(HttpError::BadRequest(
            "Transfer-Encoding in an HTTP/1.0 request",
        )),
        (Some(()), Some(_)) => Err(HttpError::BadRequest(
            "both Content-Length and Transfer-Encoding",
        )),
        (Some(()), None) => Ok(BodyFraming::Chunked),
        (None, n) => Ok(BodyFraming::Length(n.unwrap_or(0))),
    }
}

/// The Host field value, checked against RFC 3986 `uri-host [ ":" port ]` (RFC 9112
/// §3.2: an invalid one gets 400). Empty is allowed, as RFC 9112 allows it for a
/// target without authority; an absolute-form target must then match it, which no
/// valid authority does.
fn host_value(value: &[u8]) -> Result<&str, HttpError> {
    let value = trim(value);
    if !value.is_empty() && !valid_authority(value) {
        return Err(HttpError::BadRequest("invalid Host"));
    }
    // Valid authorities are ASCII, so this cannot fail.
    std::str::from_utf8(value).map_err(|_| HttpError::BadRequest("invalid Host"))
}

/// httparse refuses every version but 1.0 and 1.1: a well-formed `HTTP/x.y` is a version
/// we do not support (505); anything else is a malformed request (400).
fn version_error(buf: &[u8]) -> HttpError {
    let line = buf
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or(&[]);
    let mut parts = line.split(|&b| b == b' ');
    let (_method, _target, version, rest) =
        (parts.next(), parts.next(), parts.next(), parts.next());
    match (version, rest) {
        (Some([b'H', b'T', b'T', b'P', b'/', major, b'.', minor]), None)
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            HttpError::VersionNotSupported
        }
        _ => HttpError::BadRequest("malformed request line"),
    }
}

#[cfg(test)]
mod tests;
