//! An HTTP/1.1 response head (already parsed and checked by the HTTP/1.1 codec) as an
//! HTTP/2 response: the status and the fields, without the connection-specific ones
//! (RFC 9113 §8.2.2: hop-by-hop fields, `transfer-encoding`, and whatever
//! `connection` names). `content-length` stays when the body is length-delimited.

use bytes::Bytes;
use http_types::header::{self, HeaderMap, HeaderName, HeaderValue};
use http_types::{Response, StatusCode};

use super::super::headers::{dropped_by_connection, is_hop_by_hop};
use super::super::BodyFraming;
use super::names::{known, Known};

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("status not valid in HTTP/2")]
    Status,
    #[error("field not valid in HTTP/2")]
    Field,
}

/// The HTTP/2 response for a final HTTP/1.1 response head; `raw`: the head the
/// fields were parsed from. Its bytes are copied once and every value is a slice of
/// that copy (one allocation per response, not one per field).
pub fn to_h2(
    status: u16,
    headers: &[httparse::Header<'_>],
    framing: BodyFraming,
    raw: &[u8],
) -> Result<Response<()>, ResponseError> {
    to_h2_in(status, headers, framing, raw, &Bytes::copy_from_slice(raw))
}

/// [`to_h2`] with the copy of `raw` made already: `shared` starts with `raw`'s bytes
/// (and may go on: a small body read with the head shares its allocation).
fn to_h2_in(
    status: u16,
    headers: &[httparse::Header<'_>],
    framing: BodyFraming,
    raw: &[u8],
    shared: &Bytes,
) -> Result<Response<()>, ResponseError> {
    let status = StatusCode::from_u16(status).map_err(|_| ResponseError::Status)?;
    if status.is_informational() {
        return Err(ResponseError::Status);
    }
    let mut response = Response::new(());
    *response.status_mut() = status;
    let fields = response.headers_mut();
    // Sized once (it grew while filled: a reallocation and a rehash past 6 fields).
    *fields = HeaderMap::with_capacity(headers.len());
    // (Most responses have no `connection` field left: no field is looked up in it.)
    let connection = headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("connection"));
    let length = matches!(framing, BodyFraming::Length(_));
    for h in headers {
        let name = h.name;
        // The names met most are known from a table, with what they are; the others
        // are looked at and parsed in full. (Names are lower-cased either way: HTTP/2
        // requires it.)
        let n = match known(name.as_bytes()) {
            Some(Known::Hop) => continue,
            Some(Known::ContentLength) if !length => continue,
            Some(Known::ContentLength) => header::CONTENT_LENGTH,
            Some(Known::Field(n, _)) if !(connection && dropped_by_connection(headers, name)) => n,
            Some(Known::Field(..)) => continue,
            None => {
                let dropped = is_hop_by_hop(name)
                    || name.eq_ignore_ascii_case("transfer-encoding")
                    || (name.eq_ignore_ascii_case("content-length") && !length)
                    || (connection && dropped_by_connection(headers, name));
                if dropped {
                    continue;
                }
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| ResponseError::Field)?
            }
        };
        let v = match offset_in(raw, h.value).filter(|at| at + h.value.len() <= shared.len()) {
            Some(at) => HeaderValue::from_maybe_shared(shared.slice(at..at + h.value.len())),
            None => HeaderValue::from_bytes(h.value),
        }
        .map_err(|_| ResponseError::Field)?;
        fields.append(n, v);
    }
    Ok(response)
}

/// Where `part` starts in `whole`, if it lies within it.
fn offset_in(whole: &[u8], part: &[u8]) -> Option<usize> {
    let at = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    (at + part.len() <= whole.len()).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h<'a>(name: &'a str, value: &'a [u8]) -> httparse::Header<'a> {
        httparse::Header { name, value }
    }

    #[test]
    fn connection_specific_fields_are_dropped() {
        let headers = [
            h("Content-Type", b"text/plain"),
            h("Connection", b"keep-alive, X-Hop"),
            h("Keep-Alive", b"timeout=5"),
            h("Transfer-Encoding", b"chunked"),
            h("X-Hop", b"1"),
            h("Set-Cookie", b"a=1"),
            h("Set-Cookie", b"b=2"),
        ];
        let r = to_h2(200, &headers, BodyFraming::Chunked, b"").unwrap();
        let names: Vec<&str> = r.headers().keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["content-type", "set-cookie"]);
        assert_eq!(r.headers().get_all("set-cookie").iter().count(), 2);
    }

    #[test]
    fn content_length_only_for_length_bodies() {
        let headers = [h("Content-Length", b"5")];
        let r = to_h2(200, &headers, BodyFraming::Length(5), b"").unwrap();
        assert_eq!(r.headers()["content-length"], "5");
        let r = to_h2(200, &headers, BodyFraming::UntilClose, b"").unwrap();
        assert!(r.headers().get("content-length").is_none());
    }

    #[test]
    fn values_from_a_parsed_head_are_slices_of_one_copy() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A: 1\r\n\r\n";
        let mut storage = [httparse::EMPTY_HEADER; 8];
        let mut res = httparse::Response::new(&mut storage);
        res.parse(raw).unwrap();
        let r = to_h2(200, &res.headers[..2], BodyFraming::UntilClose, raw).unwrap();
        assert_eq!(r.headers()["content-type"], "text/plain");
        assert_eq!(r.headers()["x-a"], "1");
        // A value outside `raw` is copied on its own; a bad one is refused.
        let outside = [h("X-B", b"2")];
        let r = to_h2(200, &outside, BodyFraming::UntilClose, raw).unwrap();
        assert_eq!(r.headers()["x-b"], "2");
        let bad = [h("X-Bad", b"a\x01")];
        assert_eq!(
            to_h2(200, &bad, BodyFraming::UntilClose, raw).err(),
            Some(ResponseError::Field)
        );
        assert_eq!(offset_in(raw, &raw[3..5]), Some(3));
        assert_eq!(offset_in(&raw[3..], &raw[..5]), None);
    }

    #[test]
    fn a_copy_going_on_past_the_head_is_shared() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        let head = &raw[..raw.len() - 5];
        let mut storage = [httparse::EMPTY_HEADER; 4];
        let mut res = httparse::Response::new(&mut storage);
        res.parse(raw).unwrap();
        let copy = Bytes::copy_from_slice(raw);
        let r = to_h2_in(200, res.headers, BodyFraming::Length(5), head, &copy).unwrap();
        assert_eq!(r.headers()["content-length"], "5");
        // A copy shorter than the head said to be in it: values copied on their own.
        let short = Bytes::from_static(b"HTTP");
        let r = to_h2_in(200, res.headers, BodyFraming::Length(5), head, &short).unwrap();
        assert_eq!(r.headers()["content-length"], "5");
    }

    #[test]
    fn bad_statuses_are_refused() {
        assert_eq!(
            to_h2(101, &[], BodyFraming::Length(0), b"").err(),
            Some(ResponseError::Status)
        );
        assert_eq!(
            to_h2(1000, &[], BodyFraming::Length(0), b"").err(),
            Some(ResponseError::Status)
        );
    }
}
