//! HTTP/2 ↔ HTTP/1.1 translation (RFC 9113 §8), for clients and for `proto = "h2"` servers: pure functions
//! that check an HTTP/2 request the way RFC 9113 §8.1.1 and §8.2 say (a malformed one
//! is a stream error, and nothing of it reaches a server), write it as an HTTP/1.1
//! request head, and turn an HTTP/1.1 response head back into HTTP/2 fields. No
//! socket and no clock here; the connection driver is `worker::h2`.
//!
//! | file | what |
//! |---|---|
//! | `conn/` | one HTTP/2 connection with a client without I/O: frames, HPACK decoding, streams, flow control |
//! | `handoff.rs` | the request's head as `to_h1` wrote it, marked (its lines, what was checked) for the session to take without parsing it again |
//! | `hpack.rs` | a final response's HEADERS block HPACK-encoded straight from its HTTP/1.1 head (static names, literal values, no dynamic table) |
//! | `hpack_check.rs` | tests and debug builds: such a block decoded back and compared with the `HeaderMap` the crate would have encoded |
//! | `names.rs` | the response field names met most, known from a table (what each is for HTTP/2 with it) without the general parse |
//! | `request.rs` | an HTTP/2 request checked and written as an HTTP/1.1 head (`:authority` → Host, cookie crumbs joined, no connection-specific fields) |
//! | `response.rs` | an HTTP/1.1 response head (final or interim) as HTTP/2 fields (connection-specific ones dropped) |
//! | `trusted.rs` | heads ringlb wrote itself (the translated request, the session's response) split again without a second full parse, checked as the full parse checks them |
//! | `resets.rs` | the per-connection budget of streams the client resets (rapid reset) |
//! | `upstream.rs` | servers with `proto = "h2"`: the HTTP/1.1 request head as an HTTP/2 request, the HTTP/2 response as an HTTP/1.1 head, trailers both ways |

pub mod conn;
mod handoff;
mod hpack;
#[cfg(any(test, debug_assertions))]
mod hpack_check;
mod names;
mod request;
mod resets;
mod response;
mod trusted;
mod upstream;

pub use handoff::{translated_request, Translated};
pub use hpack::{encode_interim, encode_response, encode_response_with, encode_trailers};
#[cfg(debug_assertions)]
pub use hpack_check::agree as hpack_agrees;
pub use request::{to_h1, to_h1_marked, Malformed, Pseudo, RequestBody};
pub use resets::ResetBudget;
pub use response::{to_h2, ResponseError};
pub use trusted::{parse_own_response, parse_translated};
pub use upstream::{
    last_chunk, last_chunk_of, request_to_h2, response_to_h1, trailers_to_h2, Asked, ResponseBody,
    UpstreamError, UpstreamRequest,
};
