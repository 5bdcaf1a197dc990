//! Fuzz the request-head parser and the chunked-body validator (`cargo fuzz run
//! http_request`, see fuzz/README.md). Invariants checked:
//! - parsing never panics, whatever the bytes;
//! - a request ringlb accepts, once rewritten for the server, parses again with the
//!   same framing and target (the rewrite cannot smuggle or lose framing);
//! - the chunked validator gives the same verdict and end position however the body
//!   is split across reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringlb::http::{parse_request, BodyFraming, ChunkedValidator, Forwarding, Limits};

const LIMITS: Limits = Limits { max_request_line: 8192, max_header_bytes: 16384, max_headers: 100 };
const ROOMY: Limits = Limits { max_request_line: 1 << 20, max_header_bytes: 1 << 20, max_headers: 256 };

fn chunked_verdict(body: &[u8], split: usize) -> Result<(usize, bool), ringlb::http::ChunkError> {
    let mut v = ChunkedValidator::default();
    let split = split.min(body.len());
    let mut used = v.feed(&body[..split])?;
    if !v.is_done() {
        used += v.feed(&body[split..])?;
    }
    Ok((used, v.is_done()))
}

fuzz_target!(|data: &[u8]| {
    let mut storage = [httparse::EMPTY_HEADER; 128];
    let Ok(Some(req)) = parse_request(data, &LIMITS, &mut storage) else { return };
    let mut out = Vec::new();
    // Every field the rewrite can add: the client, the protocol, the host.
    let forwarding = Forwarding { for_name: Some("x-forwarded-for"), if_none: false, proto: Some("http"), host: true };
    req.write_upstream_head(&mut out, "192.0.2.1".parse().unwrap(), Some(forwarding));
    let mut storage2 = [httparse::EMPTY_HEADER; 256];
    let again = parse_request(&out, &ROOMY, &mut storage2)
        .unwrap_or_else(|e| panic!("our own upstream head is refused ({e}): {:?}", String::from_utf8_lossy(&out)))
        .expect("our own upstream head is complete");
    assert_eq!(again.framing, req.framing);
    assert_eq!(again.target, req.target);
    assert_eq!(again.head_len, out.len());
    if req.framing == BodyFraming::Chunked {
        let body = &data[req.head_len..];
        let whole = chunked_verdict(body, body.len());
        for split in [0, 1, body.len() / 2, body.len().saturating_sub(1)] {
            assert_eq!(chunked_verdict(body, split), whole, "split at {split}");
        }
    }
});
