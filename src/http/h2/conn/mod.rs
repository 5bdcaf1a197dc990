//! One HTTP/2 connection with a client, without I/O (RFC 9113): bytes read from the
//! client go in ([`Conn::step`], one frame at a time), frames to write come out
//! ([`Conn::out`]), and a request whose head is complete is handed to the caller,
//! decoded, as the step that completed it. Streams are served by the caller through
//! [`Conn`]'s per-stream calls (body read and its window given back, HEADERS and DATA
//! sent within the client's windows, resets), with wakers, no clock: timeouts are
//! the caller's. Blocks this side sends are encoded by `super::hpack`.
//!
//! | file | what |
//! |---|---|
//! | `frame.rs` | frames: the header, each type's payload checked as §6 says, the frames a server writes |
//! | `hpack.rs` | HPACK decoding: integers, strings, the static and dynamic tables, size updates |
//! | `huffman.rs` | HPACK's Huffman code decoded from two small tables (the code is canonical) |
//! | `head.rs` | a request head decoded (HPACK), its pseudo-header fields apart, the header list's size bounded |
//! | `stream.rs` | one stream's state (both halves, both windows, the body received, wakers) and the table of them |
//! | `state.rs` | the connection: its settings, windows, the output, [`Conn::new`] |
//! | `recv.rs` | [`Conn::step`]: each frame received |
//! | `send.rs` | what the caller sends on a stream: HEADERS, DATA within the windows, a reset; GOAWAY |

mod frame;
mod head;
mod hpack;
mod huffman;
mod recv;
mod send;
mod state;
mod stream;

pub use head::Head;
pub use recv::Step;
pub use send::Closed;
pub use state::{Conn, Limits};
pub use stream::Trailers;

/// An HTTP/2 error code (RFC 9113 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reason(pub u32);

impl Reason {
    pub const NO_ERROR: Reason = Reason(0x0);
    pub const PROTOCOL_ERROR: Reason = Reason(0x1);
    pub const INTERNAL_ERROR: Reason = Reason(0x2);
    pub const FLOW_CONTROL_ERROR: Reason = Reason(0x3);
    pub const SETTINGS_TIMEOUT: Reason = Reason(0x4);
    pub const STREAM_CLOSED: Reason = Reason(0x5);
    pub const FRAME_SIZE_ERROR: Reason = Reason(0x6);
    pub const REFUSED_STREAM: Reason = Reason(0x7);
    pub const CANCEL: Reason = Reason(0x8);
    pub const COMPRESSION_ERROR: Reason = Reason(0x9);
    pub const ENHANCE_YOUR_CALM: Reason = Reason(0xb);
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.0 {
            0x0 => "NO_ERROR",
            0x1 => "PROTOCOL_ERROR",
            0x2 => "INTERNAL_ERROR",
            0x3 => "FLOW_CONTROL_ERROR",
            0x4 => "SETTINGS_TIMEOUT",
            0x5 => "STREAM_CLOSED",
            0x6 => "FRAME_SIZE_ERROR",
            0x7 => "REFUSED_STREAM",
            0x8 => "CANCEL",
            0x9 => "COMPRESSION_ERROR",
            0xa => "CONNECT_ERROR",
            0xb => "ENHANCE_YOUR_CALM",
            0xc => "INADEQUATE_SECURITY",
            0xd => "HTTP_1_1_REQUIRED",
            _ => return write!(f, "error code {:#x}", self.0),
        };
        f.write_str(name)
    }
}

/// An error while reading the client's frames: of the connection (GOAWAY, then
/// closed) or of one stream (RST_STREAM; the connection goes on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum H2Error {
    #[error("HTTP/2 connection error {0}")]
    Conn(Reason),
    #[error("HTTP/2 stream {0} error {1}")]
    Stream(u32, Reason),
}

#[cfg(test)]
mod tests;
