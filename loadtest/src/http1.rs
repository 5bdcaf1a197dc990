//! Just enough HTTP/1.1 framing for a load generator and a benchmark backend: find
//! where a response (or request) in a buffer ends. No allocation.

/// How much of `buf` one complete response takes, if it is all there.
#[derive(Debug, PartialEq, Eq)]
pub enum Framed {
    /// Need more bytes.
    Partial,
    /// A complete message of `len` bytes with this status; `close` if the peer will
    /// close the connection after it.
    Complete {
        len: usize,
        status: u16,
        close: bool,
    },
    /// The peer closes after the body (no length given): read to EOF.
    UntilClose {
        status: u16,
    },
    Invalid,
}

/// Frame one response at the start of `buf`. `head_request` = the request was HEAD.
pub fn frame_response(buf: &[u8], head_request: bool) -> Framed {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut res = httparse::Response::new(&mut headers);
    let head_len = match res.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Framed::Partial,
        Err(_) => return Framed::Invalid,
    };
    let status = res.code.unwrap_or(0);
    let mut close = res.version == Some(0);
    let mut length: Option<usize> = None;
    let mut chunked = false;
    for h in res.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            match std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
            {
                Some(n) => length = Some(n),
                None => return Framed::Invalid,
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = h.value.eq_ignore_ascii_case(b"chunked");
        } else if h.name.eq_ignore_ascii_case("connection") {
            if h.value.eq_ignore_ascii_case(b"close") {
                close = true;
            } else if h.value.eq_ignore_ascii_case(b"keep-alive") {
                close = false;
            }
        }
    }
    if head_request || status == 204 || status == 304 || (100..200).contains(&status) {
        return Framed::Complete {
            len: head_len,
            status,
            close,
        };
    }
    if chunked {
        return match chunked_len(&buf[head_len..]) {
            Some(Ok(n)) => Framed::Complete {
                len: head_len + n,
                status,
                close,
            },
            Some(Err(())) => Framed::Invalid,
            None => Framed::Partial,
        };
    }
    match length {
        Some(n) if buf.len() >= head_len + n => Framed::Complete {
            len: head_len + n,
            status,
            close,
        },
        Some(_) => Framed::Partial,
        None => Framed::UntilClose { status },
    }
}

/// Length of a complete chunked body at the start of `buf` (through the last CRLF), or
/// `None` if incomplete. Trailers are skipped.
fn chunked_len(buf: &[u8]) -> Option<Result<usize, ()>> {
    let mut pos = 0;
    loop {
        let line_end = find_crlf(&buf[pos..])?;
        let line = &buf[pos..pos + line_end];
        let hex = line.split(|&b| b == b';').next().unwrap_or(&[]);
        let size = match std::str::from_utf8(hex)
            .ok()
            .and_then(|h| usize::from_str_radix(h.trim(), 16).ok())
        {
            Some(s) => s,
            None => return Some(Err(())),
        };
        pos += line_end + 2;
        if size == 0 {
            // Trailers until an empty line.
            loop {
                let end = find_crlf(&buf[pos..])?;
                pos += end + 2;
                if end == 0 {
                    return Some(Ok(pos));
                }
            }
        }
        if buf.len() < pos + size + 2 {
            return None;
        }
        pos += size + 2;
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// Frame one request at the start of `buf`: `(length, path is "/health")`.
pub fn frame_request(buf: &[u8]) -> Result<Option<(usize, bool, bool)>, ()> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(()),
    };
    let health = req.path == Some("/health");
    let mut close = req.version == Some(0);
    let mut length = 0usize;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            length = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or(())?;
        } else if h.name.eq_ignore_ascii_case("connection")
            && h.value.eq_ignore_ascii_case(b"close")
        {
            close = true;
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(()); // a benchmark backend need not take chunked uploads
        }
    }
    if buf.len() < head_len + length {
        return Ok(None);
    }
    Ok(Some((head_len + length, health, close)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_framing() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(
            frame_response(r, false),
            Framed::Complete {
                len: r.len(),
                status: 200,
                close: false
            }
        );
        assert_eq!(frame_response(&r[..r.len() - 1], false), Framed::Partial);
        assert_eq!(frame_response(&r[..10], false), Framed::Partial);
    }

    #[test]
    fn chunked_framing_with_trailer() {
        let r = b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;x=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n";
        assert_eq!(
            frame_response(r, false),
            Framed::Complete {
                len: r.len(),
                status: 503,
                close: false
            }
        );
        assert_eq!(frame_response(&r[..r.len() - 2], false), Framed::Partial);
    }

    #[test]
    fn close_and_no_body_cases() {
        let r = b"HTTP/1.0 200 OK\r\n\r\nbody until close";
        assert_eq!(frame_response(r, false), Framed::UntilClose { status: 200 });
        let r = b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
        assert_eq!(
            frame_response(r, false),
            Framed::Complete {
                len: r.len(),
                status: 204,
                close: true
            }
        );
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
        assert_eq!(
            frame_response(r, true),
            Framed::Complete {
                len: r.len(),
                status: 200,
                close: false
            }
        );
        assert_eq!(frame_response(b"garbage\r\n\r\n", false), Framed::Invalid);
    }

    #[test]
    fn request_framing() {
        let r = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n";
        assert_eq!(frame_request(r), Ok(Some((33, true, false))));
        let r = b"POST / HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nab";
        assert_eq!(frame_request(r), Ok(None));
        assert!(frame_request(b"\x00\x01 nonsense\r\n\r\n").is_err());
    }
}
