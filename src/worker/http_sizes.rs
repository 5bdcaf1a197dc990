//! The size of the futures an HTTP/2 stream's session is made of (a child of
//! `http.rs`, tests only). A stream's session is boxed when the stream starts: its
//! whole size is copied into the box then, per stream, and an alignment past 16
//! bytes makes that box an aligned allocation (the test keeps every one at 16 or less). Sizes from the functions' types alone
//! (nothing is run): `cargo test --lib worker::http::sizes -- --nocapture` prints them.

use std::mem::{align_of, size_of};

use super::{serve_stream, Conn};
use crate::tls::{ClientStream, ServerStream};
use crate::worker::body::pump;
use crate::worker::compress;
use crate::worker::exchange::Exchange;
use crate::worker::h2::open_stream;
use crate::worker::http_heads::{read_request, read_response_head, wait_next_request};
use crate::worker::upstream::{connect_http, connect_to};

/// Size and alignment of what `f` returns (`retN`: `f` takes N arguments).
pub(in crate::worker) fn ret1<A, R>(_: impl FnOnce(A) -> R) -> (usize, usize) {
    (size_of::<R>(), align_of::<R>())
}

pub(in crate::worker) fn ret2<A, B, R>(_: impl FnOnce(A, B) -> R) -> (usize, usize) {
    (size_of::<R>(), align_of::<R>())
}

pub(in crate::worker) fn ret3<A, B, C, R>(_: impl FnOnce(A, B, C) -> R) -> (usize, usize) {
    (size_of::<R>(), align_of::<R>())
}

pub(in crate::worker) fn ret4<A, B, C, D, R>(_: impl FnOnce(A, B, C, D) -> R) -> (usize, usize) {
    (size_of::<R>(), align_of::<R>())
}

pub(in crate::worker) fn ret5<A, B, C, D, E, R>(
    _: impl FnOnce(A, B, C, D, E) -> R,
) -> (usize, usize) {
    (size_of::<R>(), align_of::<R>())
}

pub(in crate::worker) fn ret6<A, B, C, D, E, F, R>(
    _: impl FnOnce(A, B, C, D, E, F) -> R,
) -> (usize, usize) {
    (size_of::<R>(), align_of::<R>())
}

pub(in crate::worker) fn ret7<A, B, C, D, E, F, G, R>(
    _: impl FnOnce(A, B, C, D, E, F, G) -> R,
) -> (usize, usize) {
    (size_of::<R>(), align_of::<R>())
}

pub(in crate::worker) fn ret8<A, B, C, D, E, F, G, H, R>(
    _: impl FnOnce(A, B, C, D, E, F, G, H) -> R,
) -> (usize, usize) {
    (size_of::<R>(), align_of::<R>())
}

#[test]
fn stream_session_future_sizes() {
    let sizes = [
        ("serve_stream", ret6(serve_stream)),
        ("Conn::serve_request", ret1(Conn::serve_request)),
        ("Exchange::run", ret1(Exchange::run)),
        ("read_request", ret8(read_request)),
        ("read_response_head", ret7(read_response_head)),
        ("Conn::refuse", ret3(Conn::refuse)),
        ("Conn::read_request", ret2(Conn::read_request)),
        ("Conn::redirect", ret3(Conn::redirect)),
        ("Conn::answer", ret2(Conn::answer)),
        ("wait_next_request", ret6(wait_next_request)),
        ("upstream::connect_http", ret6(connect_http)),
        ("upstream::connect_to", ret6(connect_to)),
        ("h2::open_stream", ret7(open_stream)),
        ("compress::pump", ret6(compress::pump)),
        ("body::pump", ret5(pump::<ServerStream, ClientStream>)),
    ];
    let phases = crate::worker::exchange::phase_sizes();
    let all: Vec<_> = sizes.into_iter().chain(phases).collect();
    for (name, (size, align)) in &all {
        println!("{name:24} {size:6} bytes, aligned to {align}");
    }
    let size = |name: &str| all.iter().find(|(n, _)| *n == name).map(|(_, s)| s.0);
    // The rare paths are boxed, so they do not set the size of every request's
    // future: a refusal's lingering close, a new server connection (and its TLS
    // handshake), a request body streamed while the response comes back.
    assert!(size("Conn::refuse") < Some(256), "{all:?}");
    // (`connect_to` is boxed in `connect_http`, and the TLS handshake in `connect_to`:
    // 1,352 and 1,152 bytes in a test build.)
    assert!(size("upstream::connect_http") < Some(2048), "{all:?}");
    assert!(size("h2::open_stream") < Some(512), "{all:?}");
    // A read's future is moved into its wait's future at every read: with
    // monoio-rustls' futures inline (the rare `TlsConn::Compat`) these were 2,112 and
    // 4,312 bytes in a test build, and each read wrote ~900 bytes into cold memory.
    assert!(size("read_request") < Some(1536), "{all:?}");
    assert!(size("Conn::serve_request") < Some(3584), "{all:?}");
    assert!(size("Exchange::send") < size("Exchange::send_duplex"));
    // No timer held inline (monoio's `Sleep` is 128-byte aligned; see `timer.rs`): the
    // stream's session box is a plain allocation, not an aligned one; so is the box of
    // a new connection's `connect_to` (its TLS handshake, whose timeout is the tls
    // module's, is boxed apart).
    for (name, (_, align)) in &all {
        assert!(*align <= 16, "{name} is aligned to {align}: {all:?}");
    }
}
