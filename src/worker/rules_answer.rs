//! The responses rules answer with (a child of `rules.rs`): `deny`, `return`,
//! `redirect` and `tarpit` written into the session's reused head buffer, with the
//! frontend's error pages and ringlb's own reason phrases.

use crate::config::Frontend;
use crate::rules::{Reply, Verdict};
use crate::worker::route::Answer;

/// The answer request rules give (`None`: the request goes on), its response
/// written into `head`.
pub fn answer_of(
    verdict: Verdict<'_>,
    frontend: &Frontend,
    head: &mut Vec<u8>,
    keep: bool,
) -> Option<Answer> {
    let answer = |status, delay_ms, keep| {
        Some(Answer {
            status,
            delay_ms,
            keep,
        })
    };
    match verdict {
        Verdict::Continue | Verdict::Allow => None,
        Verdict::Deny(r) | Verdict::Return(r) => {
            write_reply(head, r, keep);
            answer(r.status, 0, keep)
        }
        Verdict::Redirect { status, location } => {
            write_redirect(head, status, location, keep);
            answer(status, 0, keep)
        }
        Verdict::Tarpit { delay_ms, status } => {
            head.clear();
            head.extend_from_slice(error_bytes(frontend, status));
            answer(status, delay_ms, false)
        }
    }
}

/// The response ringlb sends for an error `status`: the frontend's `error_page` for
/// it when there is one, else its own.
pub fn error_bytes(frontend: &Frontend, status: u16) -> &[u8] {
    frontend
        .error_pages
        .iter()
        .find(|p| p.status == status)
        .map_or(crate::http::error_response(status), |p| &p.response[..])
}

/// The reason phrase of a status ringlb answers with itself.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

fn status_line(out: &mut Vec<u8>, status: u16) {
    use std::io::Write;
    out.clear();
    let _ = write!(out, "HTTP/1.1 {status} {}\r\n", reason(status));
}

/// A `deny`/`return` response.
pub fn write_reply(out: &mut Vec<u8>, r: &Reply, keep: bool) {
    use std::io::Write;
    status_line(out, r.status);
    if let Some(ct) = &r.content_type {
        let _ = write!(out, "content-type: {ct}\r\n");
    }
    for (name, value) in r.headers.iter() {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    let _ = write!(out, "content-length: {}\r\n", r.body.len());
    if !keep {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&r.body);
}

pub fn write_redirect(out: &mut Vec<u8>, status: u16, location: &[u8], keep: bool) {
    status_line(out, status);
    out.extend_from_slice(b"location: ");
    out.extend_from_slice(location);
    out.extend_from_slice(b"\r\ncontent-length: 0\r\n");
    if !keep {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}
