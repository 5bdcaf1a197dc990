//! Whether a response is compressed, as HAProxy decides it (configuration.txt,
//! `compression`): status 200 to 203, a body of known framing (a length, or chunked)
//! and not below the minimum size, no `Content-Encoding` already, no
//! `Cache-Control: no-transform`, a content type that is not multipart and is in the
//! list (by prefix, case-insensitive; any type when the list is empty), at most one
//! valid ETag. A compressed response's head then loses its length, gains the coding,
//! `Vary: Accept-Encoding` and chunked framing (HTTP/1.1 clients; HTTP/1.0 clients get
//! a close-delimited body), and its strong ETag becomes weak (the bytes differ, the
//! resource does not).

use super::super::edit::{append_field, remove_fields};
use super::super::headers::trim;
use super::super::BodyFraming;
use super::Coding;

/// What decides about a response.
pub struct ResponseFacts<'h, 'b> {
    pub status: u16,
    pub headers: &'h [httparse::Header<'b>],
    /// The body's framing (a HEAD request's or a 204's is `Length(0)`).
    pub framing: BodyFraming,
}

/// Why a response is passed on as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Status,
    /// No body, or one shorter than the minimum size.
    TooSmall,
    /// Delimited by the server's close: HAProxy leaves it alone too.
    CloseDelimited,
    AlreadyEncoded,
    NoTransform,
    Type,
    BadETag,
}

/// Whether the response described by `r` is compressed, given the configured `types`
/// (empty: any) and `min_size` (bytes; applies to a known length).
pub fn compressible(r: &ResponseFacts, types: &[String], min_size: u64) -> Result<(), Refusal> {
    if !(200..=203).contains(&r.status) {
        return Err(Refusal::Status);
    }
    match r.framing {
        BodyFraming::Length(n) if n == 0 || n < min_size => return Err(Refusal::TooSmall),
        BodyFraming::UntilClose => return Err(Refusal::CloseDelimited),
        _ => {}
    }
    let mut etags = 0;
    let mut content_type = None;
    for h in r.headers {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-encoding") {
            return Err(Refusal::AlreadyEncoded);
        } else if name.eq_ignore_ascii_case("cache-control") {
            if list(h.value).any(|t| t.eq_ignore_ascii_case(b"no-transform")) {
                return Err(Refusal::NoTransform);
            }
        } else if name.eq_ignore_ascii_case("etag") {
            etags += 1;
            if etags > 1 || etag_strength(h.value).is_none() {
                return Err(Refusal::BadETag);
            }
        } else if name.eq_ignore_ascii_case("content-type") && content_type.is_none() {
            content_type = Some(h.value);
        }
    }
    type_allowed(content_type, types)
        .then_some(())
        .ok_or(Refusal::Type)
}

/// A content type is compressed unless it is multipart; with a type list, only when it
/// starts with one of them (HAProxy compares prefixes). No `Content-Type` with a list:
/// not compressed.
fn type_allowed(value: Option<&[u8]>, types: &[String]) -> bool {
    let media = value.map(|v| trim(v.split(|&b| b == b';').next().unwrap_or_default()));
    if media.is_some_and(|m| starts_with_ci(m, b"multipart")) {
        return false;
    }
    if types.is_empty() {
        return true;
    }
    media.is_some_and(|m| types.iter().any(|t| starts_with_ci(m, t.as_bytes())))
}

/// `Some(true)` for a strong entity tag, `Some(false)` for a weak one, `None` when the
/// value is not an entity tag (RFC 9110 §8.8.3).
fn etag_strength(value: &[u8]) -> Option<bool> {
    let v = trim(value);
    let (strong, tag) = match v.strip_prefix(b"W/") {
        Some(rest) => (false, rest),
        None => (true, v),
    };
    let ok = tag.len() >= 2
        && tag[0] == b'"'
        && tag[tag.len() - 1] == b'"'
        && tag[1..tag.len() - 1]
            .iter()
            .all(|&c| c == 0x21 || (0x23..=0x7e).contains(&c) || c >= 0x80);
    ok.then_some(strong)
}

/// Edit `head` (written for the client from a response with `headers`) for a body
/// compressed with `coding`: the length and the server's framing go, the coding,
/// `Vary` and (with `chunked`) `Transfer-Encoding: chunked` come, a strong ETag turns
/// weak.
pub fn rewrite_head(
    head: &mut Vec<u8>,
    headers: &[httparse::Header<'_>],
    coding: Coding,
    chunked: bool,
) {
    remove_fields(head, b"content-length");
    remove_fields(head, b"transfer-encoding");
    let etag = headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("etag"))
        .map(|h| trim(h.value));
    if let Some(tag) = etag.filter(|t| etag_strength(t) == Some(true)) {
        remove_fields(head, b"etag");
        let mut weak = Vec::with_capacity(tag.len() + 2);
        weak.extend_from_slice(b"W/");
        weak.extend_from_slice(tag);
        append_field(head, b"etag", &weak);
    }
    let varies = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("vary"))
        .flat_map(|h| list(h.value))
        .any(|t| t == b"*" || t.eq_ignore_ascii_case(b"accept-encoding"));
    if !varies {
        append_field(head, b"vary", b"Accept-Encoding");
    }
    append_field(head, b"content-encoding", coding.token().as_bytes());
    if chunked {
        append_field(head, b"transfer-encoding", b"chunked");
    }
}

fn list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim)
        .filter(|t| !t.is_empty())
}

fn starts_with_ci(v: &[u8], prefix: &[u8]) -> bool {
    v.len() >= prefix.len() && v[..prefix.len()].eq_ignore_ascii_case(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'h, 'b>(
        status: u16,
        headers: &'h [httparse::Header<'b>],
        framing: BodyFraming,
    ) -> ResponseFacts<'h, 'b> {
        ResponseFacts {
            status,
            headers,
            framing,
        }
    }

    fn h<'b>(name: &'b str, value: &'b str) -> httparse::Header<'b> {
        httparse::Header {
            name,
            value: value.as_bytes(),
        }
    }

    const HTML: &[httparse::Header<'static>] = &[httparse::Header {
        name: "Content-Type",
        value: b"text/html; charset=utf-8",
    }];

    #[test]
    fn statuses_200_to_203_only() {
        for s in [200, 201, 202, 203] {
            assert_eq!(
                compressible(&facts(s, HTML, BodyFraming::Chunked), &[], 0),
                Ok(())
            );
        }
        for s in [204, 206, 301, 304, 404, 500] {
            let r = facts(s, HTML, BodyFraming::Chunked);
            assert_eq!(compressible(&r, &[], 0), Err(Refusal::Status), "{s}");
        }
    }

    #[test]
    fn empty_small_and_close_delimited_bodies_pass_through() {
        let r = |f| compressible(&facts(200, HTML, f), &[], 100);
        assert_eq!(r(BodyFraming::Length(0)), Err(Refusal::TooSmall));
        assert_eq!(r(BodyFraming::Length(99)), Err(Refusal::TooSmall));
        assert_eq!(r(BodyFraming::Length(100)), Ok(()));
        assert_eq!(r(BodyFraming::Chunked), Ok(()));
        assert_eq!(r(BodyFraming::UntilClose), Err(Refusal::CloseDelimited));
    }

    #[test]
    fn encoded_or_no_transform_responses_pass_through() {
        let enc = [h("content-type", "text/html"), h("Content-Encoding", "br")];
        let r = facts(200, &enc, BodyFraming::Length(10));
        assert_eq!(compressible(&r, &[], 0), Err(Refusal::AlreadyEncoded));
        let cc = [h("Cache-Control", "public, No-Transform")];
        let r = facts(200, &cc, BodyFraming::Length(10));
        assert_eq!(compressible(&r, &[], 0), Err(Refusal::NoTransform));
        let cc = [h("Cache-Control", "max-age=60, no-transformer")];
        assert_eq!(
            compressible(&facts(200, &cc, BodyFraming::Length(10)), &[], 0),
            Ok(())
        );
    }

    #[test]
    fn types_match_by_prefix_and_multipart_never() {
        let types = ["text/html".to_string(), "application/json".to_string()];
        let with = |ct: &str| {
            let hs = [h("Content-Type", ct)];
            compressible(&facts(200, &hs, BodyFraming::Chunked), &types, 0)
        };
        assert_eq!(with("TEXT/HTML;charset=utf-8"), Ok(()));
        assert_eq!(with(" application/json"), Ok(()));
        assert_eq!(with("image/png"), Err(Refusal::Type));
        let none = facts(200, &[], BodyFraming::Chunked);
        assert_eq!(compressible(&none, &types, 0), Err(Refusal::Type));
        assert_eq!(compressible(&none, &[], 0), Ok(()));
        let mp = [h("Content-Type", "multipart/byteranges; boundary=x")];
        let r = facts(200, &mp, BodyFraming::Chunked);
        assert_eq!(compressible(&r, &[], 0), Err(Refusal::Type));
    }

    #[test]
    fn one_valid_etag_at_most() {
        let two = [h("ETag", "\"a\""), h("ETag", "\"b\"")];
        let r = facts(200, &two, BodyFraming::Chunked);
        assert_eq!(compressible(&r, &[], 0), Err(Refusal::BadETag));
        let bad = [h("ETag", "abc")];
        let r = facts(200, &bad, BodyFraming::Chunked);
        assert_eq!(compressible(&r, &[], 0), Err(Refusal::BadETag));
        let weak = [h("ETag", "W/\"abc\"")];
        let r = facts(200, &weak, BodyFraming::Chunked);
        assert_eq!(compressible(&r, &[], 0), Ok(()));
    }

    fn rewritten(headers: &[httparse::Header<'_>], chunked: bool) -> String {
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        for f in headers {
            head.extend_from_slice(format!("{}: ", f.name).as_bytes());
            head.extend_from_slice(f.value);
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(b"\r\n");
        rewrite_head(&mut head, headers, Coding::Gzip, chunked);
        String::from_utf8(head).unwrap()
    }

    #[test]
    fn head_loses_length_gains_coding_vary_and_chunked() {
        let hs = [
            h("content-type", "text/html"),
            h("Content-Length", "1000"),
            h("ETag", "\"v1\""),
        ];
        assert_eq!(
            rewritten(&hs, true),
            "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\netag: W/\"v1\"\r\n\
             vary: Accept-Encoding\r\ncontent-encoding: gzip\r\n\
             transfer-encoding: chunked\r\n\r\n"
        );
    }

    #[test]
    fn close_delimited_head_and_an_existing_vary() {
        let hs = [
            h("Transfer-Encoding", "chunked"),
            h("Vary", "Origin, accept-encoding"),
            h("ETag", "W/\"v1\""),
        ];
        assert_eq!(
            rewritten(&hs, false),
            "HTTP/1.1 200 OK\r\nVary: Origin, accept-encoding\r\nETag: W/\"v1\"\r\n\
             content-encoding: gzip\r\n\r\n"
        );
    }
}
