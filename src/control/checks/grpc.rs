//! The grpc check, pure: the `grpc.health.v1.Health/Check` request (head and body)
//! and the verdict on the answer. The server passes when the HTTP status is 200, the
//! content-type is `application/grpc`, `grpc-status` is 0 (in the trailers, or in
//! the head of a trailers-only answer) and the one `HealthCheckResponse` says
//! `SERVING`. The two messages are tiny protobufs of one field each, encoded and
//! decoded here by hand (docs/architecture.md says why no protobuf crate).

use std::fmt;
use std::time::Duration;

use http_types::header::{HeaderMap, HeaderValue};
use http_types::uri::Authority;
use http_types::{Method, Request};

use super::Failure;

/// Most response bytes (message frames) a grpc check reads.
pub const MAX_RESPONSE: usize = 16 * 1024;
/// The health service's one unary method.
pub const PATH: &str = "/grpc.health.v1.Health/Check";
/// `HealthCheckResponse.ServingStatus.SERVING`.
pub const SERVING: u64 = 1;
/// The longest `grpc-message` a failure shows.
const MAX_MESSAGE: usize = 200;

/// Why a grpc check failed, past the connect, the TLS handshake and HTTP/2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrpcFailure {
    ContentType(String),
    /// `grpc-status` not 0, with `grpc-message` (percent-decoded, shortened).
    Status {
        code: u64,
        message: String,
    },
    NoStatus,
    BadStatus(String),
    Compressed,
    Malformed(&'static str),
    TooLarge,
    /// The health status the server gave, other than SERVING.
    Health(u64),
}

impl fmt::Display for GrpcFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GrpcFailure::ContentType(t) => {
                write!(f, "content-type {t:?}, expected application/grpc")
            }
            GrpcFailure::Status { code, message } => {
                write!(f, "gRPC status {code} {}", status_name(*code))?;
                match message.is_empty() {
                    true => Ok(()),
                    false => write!(f, ": {message}"),
                }
            }
            GrpcFailure::NoStatus => f.write_str("gRPC answer without grpc-status"),
            GrpcFailure::BadStatus(s) => write!(f, "grpc-status {s:?} is not a number"),
            GrpcFailure::Compressed => {
                f.write_str("gRPC response message compressed (the check accepts none)")
            }
            GrpcFailure::Malformed(why) => write!(f, "malformed HealthCheckResponse: {why}"),
            GrpcFailure::TooLarge => write!(f, "gRPC response over {MAX_RESPONSE} bytes"),
            GrpcFailure::Health(s) => write!(f, "health status {}", health_name(*s)),
        }
    }
}

impl From<GrpcFailure> for Failure {
    fn from(g: GrpcFailure) -> Failure {
        Failure::Grpc(g)
    }
}

/// gRPC status codes by number (grpc/doc/statuscodes.md).
fn status_name(code: u64) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|c| NAMES.get(c))
        .copied()
        .unwrap_or("(unknown code)")
}

/// `HealthCheckResponse.ServingStatus` by number.
fn health_name(status: u64) -> String {
    match status {
        0 => "UNKNOWN".into(),
        1 => "SERVING".into(),
        2 => "NOT_SERVING".into(),
        3 => "SERVICE_UNKNOWN".into(),
        n => format!("{n} (not a known ServingStatus)"),
    }
}

/// The request head: `POST /grpc.health.v1.Health/Check` with the gRPC fields, and
/// `grpc-timeout` set to the check's timeout so the server gives up when ringlb does.
pub fn request_head(authority: &str, tls: bool, timeout: Duration) -> Result<Request<()>, Failure> {
    let authority = Authority::try_from(authority)
        .map_err(|_| Failure::H2(format!(":authority {authority:?} is not valid")))?;
    let scheme = if tls { "https" } else { "http" };
    let millis = timeout.as_millis().clamp(1, 99_999_999);
    Request::builder()
        .method(Method::POST)
        .uri(format!("{scheme}://{authority}{PATH}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", format!("{millis}m"))
        .header("user-agent", "ringlb-health-check")
        .body(())
        .map_err(|e| Failure::H2(e.to_string()))
}

/// The request body: one uncompressed length-prefixed message holding
/// `HealthCheckRequest { string service = 1; }` (an empty service: no field at all,
/// as proto3 writes a default value).
pub fn request_body(service: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(service.len() + 11);
    if !service.is_empty() {
        message.push(0x0a); // field 1, wire type 2 (length-delimited)
        put_varint(&mut message, service.len() as u64);
        message.extend_from_slice(service.as_bytes());
    }
    let mut out = Vec::with_capacity(5 + message.len());
    out.push(0);
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(&message);
    out
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The response head judged: `Some` when it decides (not 200, not gRPC, or a
/// trailers-only answer, whose `grpc-status` is in the head); `None`: read the body
/// and the trailers, then [`verdict`].
pub fn head_verdict(status: u16, headers: &HeaderMap) -> Option<Result<(), Failure>> {
    if status != 200 {
        return Some(Err(Failure::Status {
            got: status,
            want: "200".into(),
        }));
    }
    let content_type = headers.get("content-type").map(HeaderValue::as_bytes);
    if !content_type.is_some_and(is_grpc_content_type) {
        let shown = content_type.map_or("(none)".into(), |t| {
            String::from_utf8_lossy(t).chars().take(64).collect()
        });
        return Some(Err(GrpcFailure::ContentType(shown).into()));
    }
    // Trailers-only: a zero grpc-status with no message is no answer either.
    headers
        .contains_key("grpc-status")
        .then(|| grpc_status(headers).and(Err(GrpcFailure::Malformed("no message").into())))
}

/// `application/grpc`, alone or with a subtype (`application/grpc+proto`).
fn is_grpc_content_type(t: &[u8]) -> bool {
    let t = t.to_ascii_lowercase();
    t == b"application/grpc"
        || t.starts_with(b"application/grpc+")
        || t.starts_with(b"application/grpc;")
}

/// The body (the message frames, at most [`MAX_RESPONSE`] bytes) and the trailers
/// judged: `grpc-status` first (a failed call's body means nothing), then the one
/// message's health status.
pub fn verdict(body: &[u8], trailers: Option<&HeaderMap>) -> Result<(), Failure> {
    let Some(trailers) = trailers.filter(|t| t.contains_key("grpc-status")) else {
        return Err(GrpcFailure::NoStatus.into());
    };
    grpc_status(trailers)?;
    match decode_response(body)? {
        SERVING => Ok(()),
        other => Err(GrpcFailure::Health(other).into()),
    }
}

/// `grpc-status` 0, or the failure it and `grpc-message` describe.
fn grpc_status(fields: &HeaderMap) -> Result<(), Failure> {
    let raw = fields
        .get("grpc-status")
        .map_or(&b""[..], HeaderValue::as_bytes);
    let text = String::from_utf8_lossy(raw);
    let code: u64 = match text.parse() {
        Ok(c) if raw.iter().all(u8::is_ascii_digit) => c,
        _ => return Err(GrpcFailure::BadStatus(text.chars().take(32).collect()).into()),
    };
    if code == 0 {
        return Ok(());
    }
    let message = fields
        .get("grpc-message")
        .map_or(String::new(), |m| percent_decoded(m.as_bytes()));
    Err(GrpcFailure::Status { code, message }.into())
}

/// `grpc-message` is percent-encoded UTF-8; shown decoded, shortened, without
/// control characters.
fn percent_decoded(raw: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let hex = raw
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (raw[i], hex) {
            (b'%', Some(b)) => {
                bytes.push(b);
                i += 3;
            }
            (b, _) => {
                bytes.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&bytes)
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(MAX_MESSAGE)
        .collect()
}

/// The status field of the one length-prefixed `HealthCheckResponse` in `body`.
pub fn decode_response(body: &[u8]) -> Result<u64, GrpcFailure> {
    let [flag, a, b, c, d, message @ ..] = body else {
        return Err(GrpcFailure::Malformed(match body.is_empty() {
            true => "no message",
            false => "message prefix cut short",
        }));
    };
    match flag {
        0 => {}
        1 => return Err(GrpcFailure::Compressed),
        _ => return Err(GrpcFailure::Malformed("unknown message flag")),
    }
    let length = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
    if message.len() < length {
        return Err(GrpcFailure::Malformed("message cut short"));
    }
    if message.len() > length {
        return Err(GrpcFailure::Malformed("more than one message"));
    }
    health_status(message)
}

/// `HealthCheckResponse { ServingStatus status = 1; }`: the last status field wins
/// (as protobuf merges), absent means UNKNOWN (0), other fields are skipped.
fn health_status(mut m: &[u8]) -> Result<u64, GrpcFailure> {
    let mut status = 0;
    while !m.is_empty() {
        let key = varint(&mut m)?;
        match (key >> 3, key & 7) {
            (0, _) => return Err(GrpcFailure::Malformed("field number 0")),
            (1, 0) => status = varint(&mut m)?,
            (1, _) => return Err(GrpcFailure::Malformed("status is not a varint")),
            (_, 0) => {
                varint(&mut m)?;
            }
            (_, 1) => skip(&mut m, 8)?,
            (_, 2) => {
                let n = varint(&mut m)?;
                skip(&mut m, usize::try_from(n).unwrap_or(usize::MAX))?;
            }
            (_, 5) => skip(&mut m, 4)?,
            _ => return Err(GrpcFailure::Malformed("unsupported wire type")),
        }
    }
    Ok(status)
}

/// A base-128 varint of at most 10 bytes that fits in 64 bits.
fn varint(m: &mut &[u8]) -> Result<u64, GrpcFailure> {
    let mut value = 0u64;
    for i in 0..10 {
        let Some((&byte, rest)) = m.split_first() else {
            return Err(GrpcFailure::Malformed("varint cut short"));
        };
        *m = rest;
        if i == 9 && byte > 1 {
            return Err(GrpcFailure::Malformed("varint over 64 bits"));
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Ok(value);
        }
    }
    Err(GrpcFailure::Malformed("varint over 64 bits"))
}

fn skip(m: &mut &[u8], n: usize) -> Result<(), GrpcFailure> {
    match m.get(n..) {
        Some(rest) => {
            *m = rest;
            Ok(())
        }
        None => Err(GrpcFailure::Malformed("field cut short")),
    }
}

#[cfg(test)]
#[path = "grpc_tests.rs"]
mod tests;
