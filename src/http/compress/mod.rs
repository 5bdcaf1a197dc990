//! HTTP response compression (HAProxy's `compression`): which coding a request
//! accepts, whether a response may be compressed, the edits its head gets, and the
//! streaming encoder. Pure: no I/O, no clock; the worker drives it (`worker/compress.rs`).
//!
//! | file | what |
//! |---|---|
//! | `negotiate.rs` | `Accept-Encoding` (RFC 9110 §12.5.3): q-values, `*`, the offered coding picked |
//! | `eligible.rs` | whether a response is compressed (status, type, encodings, `no-transform`, ETag) and its head's edits |
//! | `encoder.rs` | gzip / zlib / raw deflate, streamed through flate2 in bounded output pieces |

mod eligible;
mod encoder;
mod negotiate;

pub use eligible::{compressible, rewrite_head, Refusal, ResponseFacts};
pub use encoder::Encoder;
pub use negotiate::negotiate;

/// A content coding ringlb produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// `gzip` (RFC 1952): deflate with a CRC-32 trailer.
    Gzip,
    /// `deflate` as RFC 9110 means it: the zlib format (RFC 1950).
    Deflate,
    /// HAProxy's `raw-deflate`: deflate without the zlib wrapper, labelled `deflate`
    /// (what some old browsers expected).
    RawDeflate,
}

impl Coding {
    /// The token in `Accept-Encoding` / `Content-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate | Coding::RawDeflate => "deflate",
        }
    }
}
