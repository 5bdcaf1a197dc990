//! HTTP/1.1 codec (RFC 9112): request and response heads parsed with httparse and then
//! held to the rules httparse leaves to us (framing, Host, line endings, limits), body
//! framing, the chunked-body validator, and serialisation of the heads ringlb sends.
//! Parsing borrows the read buffer and allocates nothing.
//!
//! | file | what |
//! |---|---|
//! | `request/` | request heads: parse, validate, rewrite for the server |
//! | `response.rs` | response heads: parse, validate, rewrite for the client |
//! | `edit.rs` | in-place edits of a written head: remove/append fields, replace the path |
//! | `cookie.rs` | persistence cookies: find one in `Cookie`, edit `Cookie`/`Set-Cookie` fields in place |
//! | `compress/` | response compression: `Accept-Encoding`, which responses, the encoder |
//! | `cacheable.rs` | whether a response may be cached (HAProxy's rule for `cookie ... nocache`) |
//! | `headers.rs` | header rules shared by both: framing, Connection, line endings |
//! | `authority.rs` | Host and absolute-form authority grammar (RFC 3986 `host [":" port]`) |
//! | `chunked.rs` | the incremental chunked-body validator (and decoder, for HTTP/2 clients) |
//! | `h2/` | HTTP/2 ↔ HTTP/1.1 translation and checks for HTTP/2 clients (RFC 9113 §8) |

mod authority;
pub mod cacheable;
mod chunked;
pub mod compress;
pub mod cookie;
pub mod edit;
pub mod h2;
mod headers;
mod read;
mod request;
mod response;

pub use chunked::{ChunkError, ChunkedValidator};
pub use read::read_append;
pub use request::{parse_request, Forwarding, Limits, Request};
pub use response::{parse_response, Response};

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body, or `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`, forwarded verbatim after validation.
    Chunked,
    /// Response only: the body ends when the server closes.
    UntilClose,
}

/// Why a request (or a response) is refused, with the status the client gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("request line too long")]
    UriTooLong,
    #[error("request header section too large")]
    HeadersTooLarge,
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("not implemented: {0}")]
    NotImplemented(&'static str),
    #[error("HTTP version not supported")]
    VersionNotSupported,
    #[error("bad response from server: {0}")]
    BadGateway(&'static str),
}

impl HttpError {
    pub fn status(&self) -> u16 {
        match self {
            HttpError::BadRequest(_) => 400,
            HttpError::UriTooLong => 414,
            HttpError::HeadersTooLarge => 431,
            HttpError::PayloadTooLarge => 413,
            HttpError::NotImplemented(_) => 501,
            HttpError::VersionNotSupported => 505,
            HttpError::BadGateway(_) => 502,
        }
    }
}

/// A short, complete error response that closes the connection.
pub fn error_response(status: u16) -> &'static [u8] {
    match status {
        400 => b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: 12\r\nconnection: close\r\n\r\nbad request\n",
        403 => b"HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 10\r\nconnection: close\r\n\r\nforbidden\n",
        404 => b"HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ncontent-length: 10\r\nconnection: close\r\n\r\nnot found\n",
        408 => b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\ncontent-length: 16\r\nconnection: close\r\n\r\nrequest timeout\n",
        413 => b"HTTP/1.1 413 Content Too Large\r\ncontent-type: text/plain\r\ncontent-length: 18\r\nconnection: close\r\n\r\ncontent too large\n",
        414 => b"HTTP/1.1 414 URI Too Long\r\ncontent-type: text/plain\r\ncontent-length: 13\r\nconnection: close\r\n\r\nuri too long\n",
        431 => b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain\r\ncontent-length: 32\r\nconnection: close\r\n\r\nrequest header fields too large\n",
        501 => b"HTTP/1.1 501 Not Implemented\r\ncontent-type: text/plain\r\ncontent-length: 16\r\nconnection: close\r\n\r\nnot implemented\n",
        502 => b"HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: 12\r\nconnection: close\r\n\r\nbad gateway\n",
        503 => b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 20\r\nconnection: close\r\n\r\nservice unavailable\n",
        504 => b"HTTP/1.1 504 Gateway Timeout\r\ncontent-type: text/plain\r\ncontent-length: 16\r\nconnection: close\r\n\r\ngateway timeout\n",
        505 => b"HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-type: text/plain\r\ncontent-length: 27\r\nconnection: close\r\n\r\nhttp version not supported\n",
        _ => b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\ncontent-length: 22\r\nconnection: close\r\n\r\ninternal server error\n",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_responses_are_well_framed() {
        for status in [
            400, 403, 404, 408, 413, 414, 431, 500, 501, 502, 503, 504, 505,
        ] {
            let r = error_response(status);
            let text = std::str::from_utf8(r).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{head}");
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(len, body.len(), "status {status}");
            assert!(head.contains("connection: close"));
        }
    }
}
