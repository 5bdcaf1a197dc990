//! Response heads from servers: parse, refuse ambiguous framing (the client gets a
//! 502 and the server connection is dropped), and write the head the client gets.

use super::headers::{
    connection_has, content_length, dropped_by_connection, has_connection, is_hop_by_hop,
    strict_line_endings, transfer_encoding,
};
use super::{BodyFraming, HttpError};

/// Largest response head accepted from a server.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

#[derive(Debug)]
pub struct Response<'h, 'b> {
    pub head_len: usize,
    pub status: u16,
    pub reason: &'b str,
    pub headers: &'h [httparse::Header<'b>],
    pub framing: BodyFraming,
    /// The server keeps the connection open after this response.
    pub keep_alive: bool,
    /// The minor version of the status line: 0 for an HTTP/1.0 server.
    pub version: u8,
}

impl Response<'_, '_> {
    /// 1xx other than 101: more heads follow before the final response.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }

    /// Write the head for the client. `close` adds `connection: close`; `keep_alive_10`
    /// adds `connection: keep-alive` for an HTTP/1.0 client that asked for it.
    pub fn write_downstream_head(&self, out: &mut Vec<u8>, close: bool, keep_alive_10: bool) {
        out.clear();
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(&status_digits(self.status));
        out.push(b' ');
        out.extend_from_slice(self.reason.as_bytes());
        out.extend_from_slice(b"\r\n");
        let switching = self.status == 101;
        // Only a Connection header names others to drop: looked for once, not per header.
        let named = has_connection(self.headers);
        for h in self.headers {
            let keep_for_101 = switching
                && (h.name.eq_ignore_ascii_case("upgrade")
                    || h.name.eq_ignore_ascii_case("connection"));
            if !keep_for_101
                && (is_hop_by_hop(h.name) || (named && dropped_by_connection(self.headers, h.name)))
            {
                continue;
            }
            out.extend_from_slice(h.name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(h.value);
            out.extend_from_slice(b"\r\n");
        }
        if !switching && !self.is_interim() {
            if close {
                out.extend_from_slice(b"connection: close\r\n");
            } else if keep_alive_10 {
                out.extend_from_slice(b"connection: keep-alive\r\n");
            }
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// Three ASCII digits of a status code, without allocating.
fn status_digits(status: u16) -> [u8; 3] {
    let s = status.min(999);
    [
        b'0' + (s / 100) as u8,
        b'0' + (s / 10 % 10) as u8,
        b'0' + (s % 10) as u8,
    ]
}

/// Parse the response head at the start of `buf`; `head_request` = the request was HEAD.
pub fn parse_response<'h, 'b>(
    buf: &'b [u8],
    head_request: bool,
    storage: &'h mut [httparse::Header<'b>],
) -> Result<Option<Response<'h, 'b>>, HttpError> {
    let mut res = httparse::Response::new(storage);
    let head_len = match res.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_RESPONSE_HEAD => {
            return Err(HttpError::BadGateway("response head too large"))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(HttpError::BadGateway("malformed response head")),
    };
    if !strict_line_endings(&buf[..head_len]) {
        return Err(HttpError::BadGateway("bare LF or CR in the response head"));
    }
    let (Some(status), Some(version)) = (res.code, res.version) else {
        return Err(HttpError::BadGateway("incomplete status line"));
    };
    if !(100..=999).contains(&status) {
        return Err(HttpError::BadGateway("invalid status code"));
    }
    let reason = res.reason.unwrap_or("");
    let headers: &'h [httparse::Header<'b>] = res.headers;
    response_from_parts(head_len, status, version, reason, headers, head_request).map(Some)
}

/// What `parse_response` checks once a head is split into its parts (all but the
/// syntax): the body's framing, and whether the server keeps the connection. Also
/// used on a head ringlb wrote itself (`super::h2::trusted`).
pub(crate) fn response_from_parts<'h, 'b>(
    head_len: usize,
    status: u16,
    version: u8,
    reason: &'b str,
    headers: &'h [httparse::Header<'b>],
    head_request: bool,
) -> Result<Response<'h, 'b>, HttpError> {
    let te = transfer_encoding(headers)
        .map_err(|_| HttpError::BadGateway("invalid Transfer-Encoding"))?;
    let cl =
        content_length(headers).map_err(|_| HttpError::BadGateway("invalid Content-Length"))?;
    let no_body = head_request || (100..200).contains(&status) || status == 204 || status == 304;
    let framing = match (te, cl) {
        _ if no_body => BodyFraming::Length(0),
        (Some(()), Some(_)) => {
            return Err(HttpError::BadGateway(
                "both Content-Length and Transfer-Encoding",
            ))
        }
        (Some(()), None) => BodyFraming::Chunked,
        (None, Some(n)) => BodyFraming::Length(n),
        (None, None) => BodyFraming::UntilClose,
    };
    let keep_alive = framing != BodyFraming::UntilClose
        && if version == 1 {
            !connection_has(headers, "close")
        } else {
            connection_has(headers, "keep-alive")
        };
    Ok(Response {
        head_len,
        status,
        reason,
        headers,
        framing,
        keep_alive,
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8], head: bool) -> Result<Option<(BodyFraming, bool, u16)>, HttpError> {
        let mut storage = [httparse::EMPTY_HEADER; 64];
        parse_response(raw, head, &mut storage)
            .map(|r| r.map(|r| (r.framing, r.keep_alive, r.status)))
    }

    #[test]
    fn framing_of_responses() {
        assert_eq!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", false),
            Ok(Some((BodyFraming::Length(3), true, 200)))
        );
        assert_eq!(
            parse(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                false
            ),
            Ok(Some((BodyFraming::Chunked, true, 200)))
        );
        assert_eq!(
            parse(b"HTTP/1.1 200 OK\r\n\r\n", false),
            Ok(Some((BodyFraming::UntilClose, false, 200)))
        );
        assert_eq!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true),
            Ok(Some((BodyFraming::Length(0), true, 200)))
        );
        assert_eq!(
            parse(b"HTTP/1.1 204 No Content\r\n\r\n", false),
            Ok(Some((BodyFraming::Length(0), true, 204)))
        );
        assert_eq!(
            parse(
                b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
                false
            ),
            Ok(Some((BodyFraming::Length(0), true, 304)))
        );
        assert_eq!(
            parse(b"HTTP/1.1 100 Continue\r\n\r\n", false),
            Ok(Some((BodyFraming::Length(0), true, 100)))
        );
        assert_eq!(
            parse(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false),
            Ok(Some((BodyFraming::Length(1), false, 200)))
        );
        assert_eq!(
            parse(
                b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n",
                false
            ),
            Ok(Some((BodyFraming::Length(1), false, 200)))
        );
        assert_eq!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n", false),
            Ok(None)
        );
    }

    #[test]
    fn ambiguous_responses_are_bad_gateway() {
        for raw in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"HTTP/1.1 200 OK\nContent-Length: 3\n\n",
            b"HTTP/1.1 OK\r\n\r\n",
        ] {
            assert_eq!(
                parse(raw, false).map(|_| ()),
                Err(HttpError::BadGateway(match parse(raw, false) {
                    Err(HttpError::BadGateway(m)) => m,
                    other => panic!("{other:?} for {}", String::from_utf8_lossy(raw)),
                }))
            );
        }
    }

    #[test]
    fn downstream_head() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive, X-Int\r\nX-Int: 1\r\nKeep-Alive: timeout=5\r\nServer: s\r\n\r\n";
        let mut storage = [httparse::EMPTY_HEADER; 16];
        let r = parse_response(raw, false, &mut storage).unwrap().unwrap();
        let mut out = Vec::new();
        r.write_downstream_head(&mut out, true, false);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer: s\r\nconnection: close\r\n\r\n"
        );
    }
}
