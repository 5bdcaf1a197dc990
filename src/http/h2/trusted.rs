//! Heads ringlb wrote itself, split again without a second full parse: the request
//! head `to_h1` wrote for an HTTP/2 stream (read by the session), and a response head
//! the session wrote for an HTTP/2 client (read back by the stream). Their syntax was
//! checked where they were made (the HTTP/2 request by `to_h1`, the response by the
//! HTTP/1.1 parser on the server's bytes), so only the lines are found here; every
//! check that gives a request or a response its meaning (Host, target, framing,
//! limits) is the same function the full parse ends with. A head that is not in the
//! exact form ringlb writes gives `None`: the caller parses it in full, as before.
//! In debug builds (the tests), every head split here is parsed in full too, and the
//! two results must agree.

use super::super::headers::trim;
use super::super::request::request_from_parts;
use super::super::response::response_from_parts;
use super::super::{HttpError, Limits, Request, Response};

/// The request head `buf[..len]`, written by `to_h1` (`len`: its length, known to the
/// writer), split and checked as `parse_request` checks it, within `limits`.
pub fn parse_translated<'h, 'b>(
    buf: &'b [u8],
    len: usize,
    limits: &Limits,
    storage: &'h mut [httparse::Header<'b>],
) -> Option<Result<Request<'h, 'b>, HttpError>> {
    #[cfg(debug_assertions)]
    let slots = storage.len();
    let got = split_request(buf, len, limits, storage)?;
    #[cfg(debug_assertions)]
    {
        let mut again = vec![httparse::EMPTY_HEADER; slots];
        agree(&got, super::super::parse_request(buf, limits, &mut again));
    }
    Some(got)
}

fn split_request<'h, 'b>(
    buf: &'b [u8],
    len: usize,
    limits: &Limits,
    storage: &'h mut [httparse::Header<'b>],
) -> Option<Result<Request<'h, 'b>, HttpError>> {
    let max = limits.max_headers.min(storage.len());
    let (line, count) = split_head(buf.get(..len)?, storage)?;
    // The checks and their order as `parse_request`'s: the request line (up to its
    // LF) within its limit, then as many fields as allowed and a head within its
    // size (both "too large", as httparse says).
    if line.len() + 1 > limits.max_request_line {
        return Some(Err(HttpError::UriTooLong));
    }
    if count > max || len > limits.max_header_bytes {
        return Some(Err(HttpError::HeadersTooLarge));
    }
    let line = std::str::from_utf8(line).ok()?;
    let (method, rest) = line.split_once(' ')?;
    let target = rest.strip_suffix(" HTTP/1.1")?;
    if method.is_empty() || target.is_empty() || target.contains(' ') {
        return None;
    }
    Some(request_from_parts(
        len,
        method,
        target,
        1,
        &storage[..count],
    ))
}

/// The response head `buf[..len]`, written by the session for this client (from a
/// head the HTTP/1.1 parser checked), split and checked as `parse_response` checks it.
pub fn parse_own_response<'h, 'b>(
    buf: &'b [u8],
    len: usize,
    head_request: bool,
    storage: &'h mut [httparse::Header<'b>],
) -> Option<Result<Response<'h, 'b>, HttpError>> {
    #[cfg(debug_assertions)]
    let slots = storage.len();
    let got = split_response(buf, len, head_request, storage)?;
    #[cfg(debug_assertions)]
    {
        let mut again = vec![httparse::EMPTY_HEADER; slots];
        agree(
            &got,
            super::super::parse_response(buf, head_request, &mut again),
        );
    }
    Some(got)
}

fn split_response<'h, 'b>(
    buf: &'b [u8],
    len: usize,
    head_request: bool,
    storage: &'h mut [httparse::Header<'b>],
) -> Option<Result<Response<'h, 'b>, HttpError>> {
    let (line, count) = split_head(buf.get(..len)?, storage)?;
    let rest = line.strip_prefix(b"HTTP/1.")?;
    let (&[v, b' ', a, b, c], reason) = (rest.get(..5)?, &rest[5..]) else {
        return None;
    };
    let version = match v {
        b'0' => 0,
        b'1' => 1,
        _ => return None,
    };
    if !(a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit()) {
        return None;
    }
    let status = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
    if status < 100 {
        return None;
    }
    let reason = match reason {
        [] => "",
        [b' ', r @ ..] => std::str::from_utf8(r).ok()?,
        _ => return None,
    };
    Some(response_from_parts(
        len,
        status,
        version,
        reason,
        &storage[..count],
        head_request,
    ))
}

/// Debug builds: what was split here is what the full parse gives.
#[cfg(debug_assertions)]
fn agree<T: std::fmt::Debug, U: std::fmt::Debug>(
    split: &Result<T, HttpError>,
    full: Result<Option<U>, HttpError>,
) {
    let split = split
        .as_ref()
        .map(|r| Some(format!("{r:?}")))
        .map_err(|e| *e);
    let full = full.map(|r| r.map(|r| format!("{r:?}")));
    assert_eq!(
        split, full,
        "a head ringlb wrote, split, differs from its full parse"
    );
}

/// Split `head` (ending with an empty line) into its first line and its fields, put
/// in `storage`: each line `name: value` ended by CRLF, no CR or LF elsewhere, a
/// non-empty name of visible ASCII. Returns the first line and the number of fields;
/// `None` if `head` is not in that form or has more fields than `storage` holds.
/// (Lines are found with `memchr`: a byte-at-a-time scan here cost as much as the
/// full parse it replaces.)
fn split_head<'b>(
    head: &'b [u8],
    storage: &mut [httparse::Header<'b>],
) -> Option<(&'b [u8], usize)> {
    let mut rest = head.strip_suffix(b"\r\n\r\n")?;
    let first = next_line(&mut rest)?;
    let mut count = 0;
    while !rest.is_empty() {
        let line = next_line(&mut rest)?;
        let colon = memchr::memchr(b':', line)?;
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if name.is_empty() || !name.iter().all(|&b| b > b' ' && b < 0x7f) {
            return None;
        }
        let slot = storage.get_mut(count)?;
        *slot = httparse::Header {
            // SAFETY: every byte of `name` was checked above to be visible ASCII
            // (0x21..0x7e), which is valid UTF-8. (`from_utf8` checked it again:
            // ~280 instructions per response.)
            name: unsafe { std::str::from_utf8_unchecked(name) },
            value: trim(value),
        };
        count += 1;
    }
    Some((first, count))
}

/// The next line of `rest` (which holds no final CRLF), taken out of it; `None` at a
/// bare CR or LF.
fn next_line<'b>(rest: &mut &'b [u8]) -> Option<&'b [u8]> {
    let Some(at) = memchr::memchr2(b'\r', b'\n', rest) else {
        return Some(std::mem::take(rest));
    };
    if rest.get(at..at + 2) != Some(b"\r\n") {
        return None;
    }
    let line = &rest[..at];
    *rest = &rest[at + 2..];
    Some(line)
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::super::{to_h1_marked, translated_request, Pseudo, Translated};
    use super::*;
    use crate::http::{parse_request, parse_response, Forwarding};

    const LIMITS: Limits = Limits {
        max_request_line: 8192,
        max_header_bytes: 16384,
        max_headers: 100,
    };

    /// Heads `to_h1` writes for a few requests (with a body after some).
    fn translated() -> Vec<Vec<u8>> {
        marked().into_iter().map(|(head, _)| head).collect()
    }

    /// The same heads, with the marks `to_h1` notes of them.
    fn marked() -> Vec<(Vec<u8>, Translated)> {
        let get = Pseudo {
            method: b"GET",
            scheme: Some(b"https"),
            authority: Some(b"example.com:8443"),
            path: Some(b"/a/b?c=d&e"),
            protocol: false,
        };
        let post = Pseudo {
            method: b"POST",
            ..get
        };
        let options = Pseudo {
            method: b"OPTIONS",
            path: Some(b"*"),
            ..get
        };
        let no_authority = Pseudo {
            authority: None,
            ..get
        };
        let many: Vec<(Vec<u8>, Vec<u8>)> = (0..40)
            .map(|i| {
                (
                    format!("x-f{i}").into_bytes(),
                    format!("v {i}\t{i}").into_bytes(),
                )
            })
            .collect();
        let many: Vec<(&[u8], &[u8])> = many.iter().map(|(n, v)| (&n[..], &v[..])).collect();
        type Fields<'a> = Vec<(&'a [u8], &'a [u8])>;
        let cases: Vec<(Pseudo<'_>, Fields<'_>, bool)> = vec![
            (get, vec![], true),
            (
                get,
                vec![(b"accept", b"*/*"), (b"user-agent", b"h2load")],
                true,
            ),
            (
                get,
                vec![
                    (b"cookie", b"a=1"),
                    (b"te", b"trailers"),
                    (b"cookie", b"b=2"),
                    (b"x-forwarded-for", b"10.0.0.1"),
                    (b"expect", b"100-continue"),
                    (b"accept-encoding", b"gzip, br"),
                    (b"x-utf8", "é".as_bytes()),
                ],
                false,
            ),
            (post, vec![(b"content-length", b"5")], false),
            (post, vec![(b"content-type", b"text/plain")], false),
            (post, vec![], true),
            (options, vec![], true),
            (no_authority, vec![(b"host", b"h.example")], true),
            (get, many, true),
        ];
        cases
            .into_iter()
            .map(|(p, fields, end)| {
                let (mut out, mut marks) = (Vec::new(), Translated::default());
                to_h1_marked(&p, fields.iter().copied(), end, &mut out, &mut marks).unwrap();
                (out, marks)
            })
            .collect()
    }

    fn upstream(req: &Request<'_, '_>, f: Option<Forwarding<'_>>) -> Vec<u8> {
        let mut out = Vec::new();
        req.write_upstream_head(&mut out, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)), f);
        out
    }

    #[test]
    fn translated_requests_split_as_parsed_and_go_out_byte_identical() {
        let forwardings = [
            None,
            Some(Forwarding::all("https")),
            Some(Forwarding {
                for_name: Some("x-forwarded-for"),
                if_none: true,
                proto: None,
                host: false,
            }),
        ];
        for head in translated() {
            let mut buf = head.clone();
            buf.extend_from_slice(b"hello"); // the body's start, when there is one
            let mut a = [httparse::EMPTY_HEADER; 128];
            let mut b = [httparse::EMPTY_HEADER; 128];
            let split = parse_translated(&buf, head.len(), &LIMITS, &mut a)
                .expect("a head to_h1 wrote is split")
                .unwrap();
            let full = parse_request(&buf, &LIMITS, &mut b).unwrap().unwrap();
            assert_eq!(format!("{split:?}"), format!("{full:?}"));
            for f in forwardings {
                assert_eq!(upstream(&split, f), upstream(&full, f));
            }
        }
    }

    #[test]
    fn marked_requests_are_taken_as_parsed_and_go_out_byte_identical() {
        let forwardings = [None, Some(Forwarding::all("https"))];
        for (head, marks) in marked() {
            let mut buf = head.clone();
            buf.extend_from_slice(b"hello"); // the body's start, when there is one
            let mut a = [httparse::EMPTY_HEADER; 128];
            let mut b = [httparse::EMPTY_HEADER; 128];
            let taken = translated_request(&buf, &marks, &LIMITS, &mut a)
                .expect("a head to_h1 marked is taken")
                .unwrap();
            let full = parse_request(&buf, &LIMITS, &mut b).unwrap().unwrap();
            assert_eq!(format!("{taken:?}"), format!("{full:?}"));
            for f in forwardings {
                assert_eq!(upstream(&taken, f), upstream(&full, f));
            }
        }
    }

    #[test]
    fn marked_requests_keep_the_limits() {
        let (head, marks) = marked().swap_remove(1); // host, accept, user-agent
        let line = head.iter().position(|&b| b == b'\n').unwrap();
        let cases = [
            Limits {
                max_request_line: line - 1,
                ..LIMITS
            },
            Limits {
                max_headers: 2,
                ..LIMITS
            },
            Limits {
                max_header_bytes: head.len() - 1,
                ..LIMITS
            },
            // Just within each: taken.
            Limits {
                max_request_line: line,
                max_headers: 3,
                max_header_bytes: head.len(),
            },
        ];
        for limits in cases {
            let mut a = [httparse::EMPTY_HEADER; 128];
            let mut b = [httparse::EMPTY_HEADER; 128];
            let taken = translated_request(&head, &marks, &limits, &mut a).unwrap();
            let full = parse_request(&head, &limits, &mut b);
            assert_eq!(
                taken.map(|r| format!("{r:?}")),
                full.map(|r| format!("{:?}", r.unwrap())),
                "{limits:?}"
            );
        }
        // More fields than are marked: split instead, as parsed.
        let (head, marks) = marked().swap_remove(8); // 41 fields
        let mut a = [httparse::EMPTY_HEADER; 128];
        let mut b = [httparse::EMPTY_HEADER; 128];
        let taken = translated_request(&head, &marks, &LIMITS, &mut a)
            .unwrap()
            .unwrap();
        let full = parse_request(&head, &LIMITS, &mut b).unwrap().unwrap();
        assert_eq!(format!("{taken:?}"), format!("{full:?}"));
        // A buffer that is not the marked head: not taken.
        assert!(translated_request(&head[..10], &marks, &LIMITS, &mut a).is_none());
    }

    #[test]
    fn translated_requests_keep_the_limits() {
        let head = translated().swap_remove(8); // 40 fields more
        let cases = [
            Limits {
                max_request_line: 10,
                ..LIMITS
            },
            Limits {
                max_headers: 20,
                ..LIMITS
            },
            Limits {
                max_header_bytes: 100,
                ..LIMITS
            },
        ];
        for limits in cases {
            let mut a = [httparse::EMPTY_HEADER; 128];
            let mut b = [httparse::EMPTY_HEADER; 128];
            let split = parse_translated(&head, head.len(), &limits, &mut a).unwrap();
            let full = parse_request(&head, &limits, &mut b);
            assert!(split.is_err(), "{limits:?}");
            assert_eq!(split.err(), full.err());
        }
        // More fields than slots: left to the full parse, which says too large.
        let mut few = [httparse::EMPTY_HEADER; 8];
        assert!(parse_translated(&head, head.len(), &LIMITS, &mut few).is_none());
        let full = parse_request(&head, &LIMITS, &mut few);
        assert_eq!(full.err(), Some(HttpError::HeadersTooLarge));
    }

    #[test]
    fn heads_not_in_the_written_form_are_left_to_the_full_parse() {
        let odd: [&[u8]; 8] = [
            b"GET / HTTP/1.1\nhost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nhost: a\n\r\n",
            b"GET / HTTP/1.1\r\nhost a\r\n\r\n",
            b"GET / HTTP/1.1\r\nhost: a\r\n folded\r\n\r\n",
            b"GET / HTTP/1.1\r\nho st: a\r\n\r\n",
            b"GET / HTTP/1.0\r\nhost: a\r\n\r\n",
            b"GET  / HTTP/1.1\r\nhost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nhost: a\r\n",
        ];
        for head in odd {
            let mut a = [httparse::EMPTY_HEADER; 16];
            assert!(
                parse_translated(head, head.len(), &LIMITS, &mut a).is_none(),
                "{}",
                String::from_utf8_lossy(head)
            );
        }
        // A length that is not the head's: not split either.
        let head = b"GET / HTTP/1.1\r\nhost: a\r\n\r\n";
        let mut a = [httparse::EMPTY_HEADER; 16];
        assert!(parse_translated(head, head.len() - 2, &LIMITS, &mut a).is_none());
        assert!(parse_translated(head, head.len() + 1, &LIMITS, &mut a).is_none());
    }

    /// Server responses, as the session writes them for the client.
    fn written(raw: &[u8], head: bool, close: bool) -> Vec<u8> {
        let mut storage = [httparse::EMPTY_HEADER; 32];
        let r = parse_response(raw, head, &mut storage).unwrap().unwrap();
        let mut out = Vec::new();
        r.write_downstream_head(&mut out, close, false);
        out
    }

    #[test]
    fn own_responses_split_as_parsed() {
        let servers: [(&[u8], bool); 9] = [
            (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello", false),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true),
            (b"HTTP/1.1 200 \r\nTransfer-Encoding: chunked\r\n\r\n", false),
            (b"HTTP/1.1 200\r\nConnection: x-hop\r\nX-Hop: 1\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n", false),
            (b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n", false),
            (b"HTTP/1.1 204 No Content\r\nX-B:  spaced  \r\n\r\n", false),
            (b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", false),
            (b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n", false),
            (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nKeep-Alive: timeout=5\r\n\r\n", false),
        ];
        for (raw, head_method) in servers {
            for close in [false, true] {
                let mut buf = written(raw, head_method, close);
                let len = buf.len();
                buf.extend_from_slice(b"body bytes");
                let mut a = [httparse::EMPTY_HEADER; 32];
                let mut b = [httparse::EMPTY_HEADER; 32];
                let split = parse_own_response(&buf, len, head_method, &mut a)
                    .expect("a head the session wrote is split")
                    .unwrap();
                let full = parse_response(&buf, head_method, &mut b).unwrap().unwrap();
                assert_eq!(format!("{split:?}"), format!("{full:?}"));
                assert_eq!(split.head_len, len);
            }
        }
        // An HTTP/1.0 status line (ringlb writes 1.1, but the form is the same).
        let raw = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        let mut a = [httparse::EMPTY_HEADER; 4];
        let r = parse_own_response(raw, raw.len(), false, &mut a)
            .unwrap()
            .unwrap();
        assert_eq!((r.version, r.status, r.reason), (0, 200, "OK"));
        // Not the written form: left to the full parse.
        for odd in [
            &b"HTTP/1.1 20 OK\r\n\r\n"[..],
            b"HTTP/1.1 099 OK\r\n\r\n",
            b"HTTP/2 200 OK\r\n\r\n",
            b"HTTP/1.1 200OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nx\r\n\r\n",
        ] {
            let mut a = [httparse::EMPTY_HEADER; 4];
            assert!(parse_own_response(odd, odd.len(), false, &mut a).is_none());
        }
    }
}
