use super::super::hpack_check::{agree, decode};
use super::super::names::tests::TABLE;
use super::super::names::{known, Known};
use super::*;

fn h<'a>(name: &'a str, value: &'a [u8]) -> httparse::Header<'a> {
    httparse::Header { name, value }
}

fn block(status: u16, headers: &[httparse::Header<'_>], framing: BodyFraming) -> Vec<u8> {
    encode_response(status, headers, framing)
        .unwrap()
        .1
        .to_vec()
}

/// RFC 7541 C.1: integers with a prefix.
#[test]
fn integers_as_the_rfc_encodes_them() {
    let mut b = Vec::new();
    encode_int(10, 5, 0, &mut b);
    assert_eq!(&b[..], [0x0a]);
    b.clear();
    encode_int(1337, 5, 0, &mut b);
    assert_eq!(&b[..], [0x1f, 0x9a, 0x0a]);
    b.clear();
    encode_int(42, 8, 0, &mut b);
    assert_eq!(&b[..], [0x2a]);
    b.clear();
    // The prefix's largest value takes a second byte, 0.
    encode_int(15, 4, 0x10, &mut b);
    assert_eq!(&b[..], [0x1f, 0x00]);
}

#[test]
fn a_common_response_byte_for_byte() {
    let got = block(
        200,
        &[
            h("Content-Type", b"text/plain"),
            h("Content-Length", b"128"),
        ],
        BodyFraming::Length(128),
    );
    let mut want = vec![0x88, 0x0f, 31 - 15, 10];
    want.extend(b"text/plain");
    want.extend([0x0f, 28 - 15, 3]);
    want.extend(b"128");
    assert_eq!(got, want);
}

#[test]
fn statuses_outside_the_static_table_and_names_outside_it() {
    let got = block(
        302,
        &[h("X-Custom", b"v"), h("Set-Cookie", b"a=b")],
        BodyFraming::Length(0),
    );
    let mut want = vec![0x08, 3];
    want.extend(b"302");
    want.extend([0x00, 8]);
    want.extend(b"x-custom");
    want.extend([1, b'v']);
    // set-cookie: never indexed, name 55.
    want.extend([0x1f, 55 - 15, 3]);
    want.extend(b"a=b");
    assert_eq!(got, want);
    for (status, byte) in [
        (204, 0x89),
        (206, 0x8a),
        (304, 0x8b),
        (400, 0x8c),
        (404, 0x8d),
    ] {
        assert_eq!(block(status, &[], BodyFraming::Length(0)), [byte]);
    }
    assert_eq!(block(500, &[], BodyFraming::Length(0)), [0x8e]);
    assert_eq!(
        decode(&block(999, &[], BodyFraming::Length(0))).unwrap().0,
        999
    );
}

/// Every field name of `names.rs`'s table (not the connection-specific ones or
/// `content-length`) with a static index is that entry of RFC 7541 Appendix A (as
/// `hpack_check.rs` lists it), and those without one are written as literals.
#[test]
fn the_names_table_indices_are_the_rfcs() {
    for name in TABLE {
        let Some(Known::Field(_, index)) = known(name.as_bytes()) else {
            continue;
        };
        let headers = [h(name, b"x")];
        let (_, fields) = decode(&block(200, &headers, BodyFraming::Length(0))).unwrap();
        assert_eq!(fields, [(name.to_string(), b"x".to_vec())]);
        let literal = block(200, &headers, BodyFraming::Length(0))[1] & 0x0f == 0;
        assert_eq!(index == 0, literal, "{name}: {index}");
    }
}

#[test]
fn long_values_take_more_length_bytes() {
    for len in [126, 127, 128, 254, 300, 16_383, 16_384, 70_000] {
        let value = vec![b'a'; len];
        let (_, fields) =
            decode(&block(200, &[h("X-Long", &value)], BodyFraming::UntilClose)).unwrap();
        assert_eq!(fields[0].1.len(), len);
    }
}

/// The block says what `to_h2` gives the crate, for heads that keep, drop or refuse
/// fields.
#[test]
fn the_block_agrees_with_the_header_map() {
    let cases: &[(u16, &[httparse::Header<'_>], BodyFraming)] = &[
        (200, &[], BodyFraming::Length(0)),
        (
            200,
            &[
                h("Set-Cookie", b"a=1"),
                h("Date", b"Tue, 01 Dec 2026 00:00:00 GMT"),
                h("Set-Cookie", b"b=2"),
                h("Content-Length", b"5"),
            ],
            BodyFraming::Length(5),
        ),
        (
            200,
            &[
                h("Connection", b"keep-alive, X-Hop, Date"),
                h("X-Hop", b"1"),
                h("Date", b"today"),
                h("Keep-Alive", b"timeout=5"),
                h("Transfer-Encoding", b"chunked"),
                h("Content-Length", b"5"),
                h("Proxy-Connection", b"x"),
                h("Upgrade", b"h2c"),
                h("TE", b"trailers"),
                h("Trailer", b"x"),
                h("X-Kept", b"yes\tand obs-text \xff"),
                h("Strict-Transport-Security", b"max-age=1"),
            ],
            BodyFraming::Chunked,
        ),
        (404, &[h("Content-Length", b"0")], BodyFraming::Length(0)),
        (200, &[h("Content-Length", b"9")], BodyFraming::UntilClose),
        // Refused by both.
        (103, &[h("Link", b"</a>")], BodyFraming::Length(0)),
        (42, &[], BodyFraming::Length(0)),
        (200, &[h("X-Bad", b"a\x01b")], BodyFraming::Length(0)),
        (200, &[h("Date", b"a\x7fb")], BodyFraming::Length(0)),
        (200, &[h("bad name", b"v")], BodyFraming::Length(0)),
        (200, &[h("", b"v")], BodyFraming::Length(0)),
    ];
    for (status, headers, framing) in cases {
        agree(*status, headers, *framing);
    }
    assert_eq!(
        encode_response(200, &[h("X-Bad", b"a\nb")], BodyFraming::Length(0)).unwrap_err(),
        ResponseError::Field
    );
    assert_eq!(
        encode_response(101, &[], BodyFraming::Length(0)).unwrap_err(),
        ResponseError::Status
    );
}

/// Blocks are written in a scratch buffer kept by the thread: a block refused half
/// way leaves nothing in the next one, and a huge one is right and not kept.
#[test]
fn the_scratch_buffer_carries_nothing_over() {
    let ok = [h("Content-Length", b"5"), h("X-Tag", b"one")];
    let first = block(200, &ok, BodyFraming::Length(5));
    let refused = [h("X-Tag", b"one"), h("Date", b"x"), h("X-Bad", b"a\x01b")];
    assert!(encode_response(200, &refused, BodyFraming::Length(0)).is_err());
    assert_eq!(block(200, &ok, BodyFraming::Length(5)), first);
    let long = vec![b'v'; 3 * SCRATCH_KEEP];
    let huge = [h("X-Long", &long)];
    agree(200, &huge, BodyFraming::Length(0));
    assert_eq!(SCRATCH.with_borrow(Vec::capacity), 0);
    assert_eq!(block(200, &ok, BodyFraming::Length(5)), first);
}

#[test]
fn interim_heads_keep_their_status_and_fields_but_101() {
    let headers = [
        h("Link", b"</style.css>; rel=preload"),
        h("Connection", b"keep-alive"),
    ];
    let got = decode(&encode_interim(103, &headers).unwrap()).unwrap();
    let link = ("link".to_string(), b"</style.css>; rel=preload".to_vec());
    assert_eq!(got, (103, vec![link]));
    assert_eq!(
        decode(&encode_interim(100, &[]).unwrap()).unwrap(),
        (100, vec![])
    );
    assert!(encode_interim(101, &[]).is_err());
    assert!(encode_interim(200, &[]).is_err());
}

#[test]
fn trailers_are_literals_with_lower_case_names_and_bad_fields_refused() {
    let fields: [(&[u8], &[u8]); 2] = [(b"Grpc-Status", b"0"), (b"grpc-message", b"ok")];
    let block = encode_trailers(fields.into_iter()).unwrap();
    // (`decode` wants a status: one is put first.)
    let got = decode(&[&[0x88][..], &block].concat()).unwrap().1;
    let want = [("grpc-status", &b"0"[..]), ("grpc-message", &b"ok"[..])];
    let want: Vec<_> = want
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_vec()))
        .collect();
    assert_eq!(got, want);
    let bad: [(&[u8], &[u8]); 1] = [(b"x", b"a\nb")];
    assert!(encode_trailers(bad.into_iter()).is_err());
    let bad: [(&[u8], &[u8]); 1] = [(b"a b", b"1")];
    assert!(encode_trailers(bad.into_iter()).is_err());
}
