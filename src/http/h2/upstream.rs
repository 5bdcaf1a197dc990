//! HTTP/1.1 ↔ HTTP/2 for servers with `proto = "h2"` (RFC 9113 §8): the HTTP/1.1
//! request head ringlb wrote for the server becomes an HTTP/2 request (Host →
//! `:authority`, connection-specific fields dropped, `te: trailers` sent: ringlb takes
//! trailers), and the server's HTTP/2 response becomes an HTTP/1.1 head for the
//! session code (chunked when the length is unknown). Trailer sections go both ways:
//! HTTP/2 trailers as a chunked body's trailer section, and a chunked trailer section
//! as HTTP/2 trailers. Pure: no socket, no clock.

use http_types::header::{HeaderMap, HeaderName, HeaderValue};
use http_types::{Method, Request, Uri, Version};

use super::super::headers::{
    content_length, dropped_by_connection, is_hop_by_hop, transfer_encoding,
};
use super::super::BodyFraming;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    #[error("request head not parseable")]
    Head,
    #[error("CONNECT cannot go to an HTTP/2 server")]
    Connect,
    #[error("request target not valid in HTTP/2")]
    Target,
    #[error("field not valid in HTTP/2")]
    Field,
    #[error("request framing not valid")]
    Framing,
}

/// An HTTP/1.1 request head as an HTTP/2 request.
#[derive(Debug)]
pub struct UpstreamRequest {
    pub request: Request<()>,
    /// How the body follows the head in the HTTP/1.1 bytes (`Length(0)`: none).
    pub body: BodyFraming,
    /// Bytes of the head (the body starts there).
    pub head_len: usize,
    pub asked: Asked,
}

/// What of the request shapes the translated response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Asked {
    /// A HEAD request: no body follows the response head.
    pub head: bool,
    /// An HTTP/1.0 request: no chunked response (the body then ends with the pipe).
    pub http10: bool,
}

/// The request head at the start of `buf` (as ringlb writes it for a server) as an
/// HTTP/2 request. `Ok(None)`: incomplete. `scheme`: `https` over TLS; `authority`:
/// used when the head has no Host (an HTTP/1.0 client's request).
pub fn request_to_h2<'b>(
    buf: &'b [u8],
    storage: &mut [httparse::Header<'b>],
    scheme: &str,
    authority: &str,
) -> Result<Option<UpstreamRequest>, UpstreamError> {
    let mut req = httparse::Request::new(storage);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(UpstreamError::Head),
    };
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return Err(UpstreamError::Head);
    };
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| UpstreamError::Head)?;
    if method == Method::CONNECT {
        return Err(UpstreamError::Connect);
    }
    let headers: &[httparse::Header<'_>] = req.headers;
    let body = match (transfer_encoding(headers), content_length(headers)) {
        (Ok(Some(())), _) => BodyFraming::Chunked,
        (Ok(None), Ok(n)) => BodyFraming::Length(n.unwrap_or(0)),
        _ => return Err(UpstreamError::Framing),
    };
    let host = headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("host"))
        .map(|h| h.value);
    let (path, absolute) = split_target(target);
    let authority = match (absolute, host) {
        (Some(a), _) => a.as_bytes(),
        (None, Some(h)) => h,
        (None, None) => authority.as_bytes(),
    };
    let uri = Uri::builder()
        .scheme(scheme)
        .authority(authority)
        .path_and_query(path)
        .build()
        .map_err(|_| UpstreamError::Target)?;
    let mut request = Request::new(());
    *request.method_mut() = method.clone();
    *request.uri_mut() = uri;
    *request.version_mut() = Version::HTTP_2;
    let fields = request.headers_mut();
    for h in headers {
        let name = h.name;
        if connection_specific(headers, name) || name.eq_ignore_ascii_case("host") {
            continue;
        }
        let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| UpstreamError::Field)?;
        let v = HeaderValue::from_bytes(h.value).map_err(|_| UpstreamError::Field)?;
        fields.append(n, v);
    }
    fields.insert(http_types::header::TE, HeaderValue::from_static("trailers"));
    Ok(Some(UpstreamRequest {
        request,
        body,
        head_len,
        asked: Asked {
            head: method == Method::HEAD,
            http10: req.version == Some(0),
        },
    }))
}

/// The path and, for an absolute-form target, its authority.
fn split_target(target: &str) -> (&str, Option<&str>) {
    match target.split_once("://") {
        Some((_, rest)) => match rest.find('/') {
            Some(i) => (&rest[i..], Some(&rest[..i])),
            None => ("/", Some(rest)),
        },
        None => (target, None),
    }
}

/// Fields HTTP/2 does not carry (RFC 9113 §8.2.2), and framing ones.
fn connection_specific(headers: &[httparse::Header<'_>], name: &str) -> bool {
    is_hop_by_hop(name)
        || name.eq_ignore_ascii_case("transfer-encoding")
        || name.eq_ignore_ascii_case("http2-settings")
        || dropped_by_connection(headers, name)
}

/// How the translated response's body follows its head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseBody {
    /// No body (HEAD, 204, 304, or the stream ended with the head).
    None,
    /// `content-length` as the server sent it: DATA copied as is.
    Length,
    /// Unknown length: DATA as chunks, trailers in the trailer section.
    Chunked,
    /// Unknown length to an HTTP/1.0 client: DATA as is, the end of the pipe ends it.
    UntilClose,
}

/// Write an HTTP/2 response head as an HTTP/1.1 one into `out`. `end_stream`: the
/// HEADERS frame ended the stream (a gRPC "trailers-only" response, say).
pub fn response_to_h1(
    status: http_types::StatusCode,
    fields: &HeaderMap,
    end_stream: bool,
    asked: Asked,
    out: &mut Vec<u8>,
) -> ResponseBody {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut length = false;
    for (name, value) in fields {
        let n = name.as_str();
        if is_hop_by_hop(n) || n == "transfer-encoding" {
            continue;
        }
        length |= n == "content-length";
        field(out, n.as_bytes(), value.as_bytes());
    }
    let bodyless = asked.head || status.as_u16() == 204 || status.as_u16() == 304;
    let body = match (bodyless, length, end_stream) {
        (true, _, _) => ResponseBody::None,
        (false, true, _) => ResponseBody::Length,
        (false, false, true) => {
            out.extend_from_slice(b"content-length: 0\r\n");
            ResponseBody::None
        }
        (false, false, false) if asked.http10 => ResponseBody::UntilClose,
        (false, false, false) => {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n");
            ResponseBody::Chunked
        }
    };
    out.extend_from_slice(b"\r\n");
    body
}

/// The end of a chunked body: the last chunk and, when the client takes them
/// (`te: trailers`), the trailer fields.
pub fn last_chunk(trailers: Option<&HeaderMap>, out: &mut Vec<u8>) {
    let fields = trailers.into_iter().flatten();
    last_chunk_of(
        fields.map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes())),
        out,
    );
}

/// [`last_chunk`] from a client's trailer fields as they came (an HTTP/2 client's:
/// lower-case names; one that is not a lower-case token is left out).
pub fn last_chunk_of<'a>(trailers: impl Iterator<Item = (&'a [u8], &'a [u8])>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n");
    for (name, value) in trailers {
        let Ok(n) = std::str::from_utf8(name) else {
            continue;
        };
        let token = !n.is_empty()
            && n.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
            });
        let clean = value.iter().all(|&b| b != b'\r' && b != b'\n' && b != 0);
        if token && clean && !forbidden_trailer(n) {
            field(out, name, value);
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// A chunked body's trailer field lines (`ChunkedValidator::decode_with_trailers`) as
/// HTTP/2 trailers; fields that frame or route a message are left out (RFC 9110
/// §6.5.1), as are connection-specific ones.
pub fn trailers_to_h2(lines: &[u8]) -> Result<HeaderMap, UpstreamError> {
    let mut storage = [httparse::EMPTY_HEADER; 64];
    let mut section = Vec::with_capacity(lines.len() + 2);
    section.extend_from_slice(lines);
    section.extend_from_slice(b"\r\n");
    let parsed = match httparse::parse_headers(&section, &mut storage) {
        Ok(httparse::Status::Complete((_, fields))) => fields,
        _ => return Err(UpstreamError::Field),
    };
    let mut map = HeaderMap::with_capacity(parsed.len());
    for h in parsed {
        if forbidden_trailer(&h.name.to_ascii_lowercase()) {
            continue;
        }
        let n = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| UpstreamError::Field)?;
        let v = HeaderValue::from_bytes(h.value).map_err(|_| UpstreamError::Field)?;
        map.append(n, v);
    }
    Ok(map)
}

/// Not passed on in a trailer section (lower-case `name`).
fn forbidden_trailer(name: &str) -> bool {
    is_hop_by_hop(name)
        || matches!(
            name,
            "transfer-encoding" | "content-length" | "host" | "content-encoding" | "content-type"
        )
}

fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translate(head: &[u8]) -> Result<Option<UpstreamRequest>, UpstreamError> {
        let mut storage = [httparse::EMPTY_HEADER; 32];
        request_to_h2(head, &mut storage, "http", "10.0.0.1:80")
    }

    #[test]
    fn a_request_head_becomes_an_h2_request() {
        let head = b"POST /pkg.Svc/Call?x=1 HTTP/1.1\r\nHost: api.example:8080\r\nConnection: keep-alive, x-hop\r\nx-hop: 1\r\nKeep-Alive: 5\r\ncontent-type: application/grpc\r\nTE: trailers\r\nUpgrade: h2c\r\nContent-Length: 5\r\n\r\nhello";
        let r = translate(head).unwrap().unwrap();
        assert_eq!(r.head_len, head.len() - 5);
        assert_eq!(r.body, BodyFraming::Length(5));
        assert_eq!(r.request.method(), Method::POST);
        assert_eq!(
            r.request.uri().to_string(),
            "http://api.example:8080/pkg.Svc/Call?x=1"
        );
        let names: Vec<&str> = r.request.headers().keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["content-type", "content-length", "te"]);
        assert_eq!(r.request.headers()["te"], "trailers");
    }

    #[test]
    fn chunked_absolute_form_and_missing_host() {
        let r = translate(b"PUT http://a.example/p HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap().unwrap();
        assert_eq!(r.body, BodyFraming::Chunked);
        assert_eq!(r.request.uri().to_string(), "http://a.example/p");
        assert!(r.request.headers().get("transfer-encoding").is_none());
        let r = translate(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert_eq!(r.request.uri().authority().unwrap().as_str(), "10.0.0.1:80");
        assert!(r.asked.http10);
        assert_eq!(r.body, BodyFraming::Length(0));
        let mut storage = [httparse::EMPTY_HEADER; 4];
        let r = request_to_h2(
            b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n",
            &mut storage,
            "https",
            "x",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            r.asked,
            Asked {
                head: true,
                http10: false
            }
        );
        assert_eq!(r.request.uri().scheme_str(), Some("https"));
    }

    #[test]
    fn incomplete_connect_and_bad_heads() {
        assert!(translate(b"GET / HTTP/1.1\r\nHost: h\r\n")
            .unwrap()
            .is_none());
        assert_eq!(
            translate(b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n").unwrap_err(),
            UpstreamError::Connect
        );
        assert_eq!(
            translate(b"GET / HTTP/1.1\r\nHost: bad host\r\n\r\n").unwrap_err(),
            UpstreamError::Target
        );
        assert_eq!(
            translate(b"\x01\x02 / HTTP/1.1\r\n\r\n").unwrap_err(),
            UpstreamError::Head
        );
        assert_eq!(
            translate(
                b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
            )
            .unwrap_err(),
            UpstreamError::Framing
        );
    }

    fn response(
        status: u16,
        fields: &[(&str, &str)],
        end: bool,
        head: bool,
    ) -> (String, ResponseBody) {
        let asked = Asked {
            head,
            http10: false,
        };
        let mut map = HeaderMap::new();
        for (n, v) in fields {
            map.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let mut out = Vec::new();
        let status = http_types::StatusCode::from_u16(status).unwrap();
        let body = response_to_h1(status, &map, end, asked, &mut out);
        (String::from_utf8(out).unwrap(), body)
    }

    #[test]
    fn a_response_becomes_an_h1_head_with_its_framing() {
        let (head, body) = response(200, &[("content-type", "application/grpc")], false, false);
        assert_eq!(head, "HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\ntransfer-encoding: chunked\r\n\r\n");
        assert_eq!(body, ResponseBody::Chunked);
        let (head, body) = response(404, &[("content-length", "3")], false, false);
        assert_eq!(head, "HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\n\r\n");
        assert_eq!(body, ResponseBody::Length);
        // Trailers-only (gRPC error): the status is in the head, the body empty.
        let (head, body) = response(
            200,
            &[("grpc-status", "5"), ("grpc-message", "no")],
            true,
            false,
        );
        assert!(
            head.ends_with("grpc-message: no\r\ncontent-length: 0\r\n\r\n"),
            "{head}"
        );
        assert_eq!(body, ResponseBody::None);
        assert_eq!(response(200, &[], false, true).1, ResponseBody::None);
        assert_eq!(response(304, &[], false, false).1, ResponseBody::None);
        // HTTP/1.0 clients cannot read chunks: the body ends with the connection.
        let mut out = Vec::new();
        let asked = Asked {
            head: false,
            http10: true,
        };
        let body = response_to_h1(
            http_types::StatusCode::OK,
            &HeaderMap::new(),
            false,
            asked,
            &mut out,
        );
        assert_eq!(
            (out.as_slice(), body),
            (&b"HTTP/1.1 200 OK\r\n\r\n"[..], ResponseBody::UntilClose)
        );
        assert_eq!(
            response(599, &[], false, false).0.lines().next(),
            Some("HTTP/1.1 599 ")
        );
    }

    #[test]
    fn trailers_both_ways() {
        let map = trailers_to_h2(
            b"Grpc-Status: 3\r\ngrpc-message: bad%20arg\r\ncontent-length: 9\r\nconnection: x\r\n",
        )
        .unwrap();
        let names: Vec<&str> = map.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["grpc-status", "grpc-message"]);
        let mut out = Vec::new();
        last_chunk(Some(&map), &mut out);
        assert_eq!(
            out,
            b"0\r\ngrpc-status: 3\r\ngrpc-message: bad%20arg\r\n\r\n"
        );
        out.clear();
        last_chunk(None, &mut out);
        assert_eq!(out, b"0\r\n\r\n");
        assert!(trailers_to_h2(b"").unwrap().is_empty());
        assert_eq!(
            trailers_to_h2(b"bad line\r\n").unwrap_err(),
            UpstreamError::Field
        );
    }
}
