//! Fuzz the layer-4 preamble parsers (`cargo fuzz run l4_preamble`): the PROXY
//! protocol parser and the ClientHello SNI reader. Invariants checked:
//! - neither panics, whatever the bytes;
//! - the PROXY parser's verdict on a prefix is `NeedMore` or the verdict on the
//!   whole input (a reader that stops at `NeedMore` never takes back an answer), and
//!   `Done` never consumes more than it was given;
//! - a header that parses, encoded again, parses to the same addresses;
//! - the ClientHello reader's verdict on a prefix is `NeedMore` or of the same kind
//!   as on the whole input (below MAX_HELLO, what a reader may buffer).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringlb::proxy_protocol::{encode, parse, Accept, Parse, Tlvs};
use ringlb::tls::client_hello::{client_hello, Hello, MAX_HELLO};

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let whole = parse(data, Accept::Any);
    match parse(&data[..split], Accept::Any) {
        Parse::NeedMore => {}
        Parse::Done(h, n) => {
            assert!(n <= split);
            assert_eq!(whole, Parse::Done(h, n));
        }
        e => assert_eq!(e, whole),
    }
    if let Parse::Done(h, n) = whole {
        assert!(n <= data.len());
        let mut out = Vec::new();
        encode(h.version, h.addresses, &Tlvs::default(), &mut out);
        match parse(&out, Accept::Any) {
            Parse::Done(again, m) => {
                assert_eq!(m, out.len());
                assert_eq!(again.addresses.is_some(), h.addresses.is_some());
            }
            other => panic!("re-encoded header does not parse: {other:?}"),
        }
    }
    let mut scratch = Vec::new();
    let full = client_hello(data, &mut scratch);
    let mut scratch2 = Vec::new();
    match client_hello(&data[..split], &mut scratch2) {
        Hello::NeedMore => {}
        // A reader stops at MAX_HELLO bytes; past it the whole input may say more.
        _ if data.len() >= MAX_HELLO => {}
        partial => assert_eq!(
            std::mem::discriminant(&partial),
            std::mem::discriminant(&full)
        ),
    }
});
