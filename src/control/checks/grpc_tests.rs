//! Tests of the grpc check's encoding, decoding and verdict, on bytes and header maps
//! as the HTTP/2 library hands them over.

use super::*;

fn fields(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut m = HeaderMap::new();
    for (k, v) in pairs {
        m.append(*k, HeaderValue::from_static(v));
    }
    m
}

/// A length-prefixed, uncompressed message.
fn framed(message: &[u8]) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

fn malformed(body: &[u8]) -> &'static str {
    match decode_response(body) {
        Err(GrpcFailure::Malformed(why)) => why,
        other => panic!("{body:?}: {other:?}"),
    }
}

#[test]
fn the_request_message_is_one_string_field() {
    assert_eq!(request_body(""), [0, 0, 0, 0, 0]);
    assert_eq!(
        request_body("svc"),
        [0, 0, 0, 0, 5, 0x0a, 3, b's', b'v', b'c']
    );
    // A name of 200 bytes: its length takes two varint bytes.
    let long = "a".repeat(200);
    let body = request_body(&long);
    assert_eq!(&body[..8], &[0, 0, 0, 0, 203, 0x0a, 0xc8, 0x01]);
    assert_eq!(&body[8..], long.as_bytes());
}

#[test]
fn the_request_head_is_a_grpc_call() {
    let r = request_head("db.internal:50051", false, Duration::from_millis(1500)).unwrap();
    assert_eq!(r.method(), Method::POST);
    assert_eq!(
        r.uri().to_string(),
        "http://db.internal:50051/grpc.health.v1.Health/Check"
    );
    assert_eq!(r.headers()["content-type"], "application/grpc");
    assert_eq!(r.headers()["te"], "trailers");
    assert_eq!(r.headers()["grpc-timeout"], "1500m");
    let r = request_head("[::1]:443", true, Duration::from_secs(2)).unwrap();
    assert_eq!(r.uri().scheme_str(), Some("https"));
    assert_eq!(r.uri().authority().unwrap().as_str(), "[::1]:443");
    let e = request_head("a b", false, Duration::from_secs(1)).unwrap_err();
    assert!(e.to_string().contains(":authority \"a b\""), "{e}");
}

#[test]
fn serving_statuses_decode() {
    assert_eq!(decode_response(&framed(&[0x08, 1])), Ok(SERVING));
    assert_eq!(decode_response(&framed(&[0x08, 2])), Ok(2));
    assert_eq!(decode_response(&framed(&[0x08, 3])), Ok(3));
    // Absent: proto3's default, UNKNOWN.
    assert_eq!(decode_response(&framed(&[])), Ok(0));
    // Repeated: the last one wins.
    assert_eq!(decode_response(&framed(&[0x08, 2, 0x08, 1])), Ok(1));
    // A negative enum value: ten bytes, not SERVING.
    let minus_one = [
        0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ];
    assert_eq!(decode_response(&framed(&minus_one)), Ok(u64::MAX));
}

#[test]
fn unknown_fields_are_skipped() {
    let message = [
        0x10, 0x96, 0x01, // field 2, varint 150
        0x1a, 3, b'a', b'b', b'c', // field 3, string "abc"
        0x21, 1, 2, 3, 4, 5, 6, 7, 8, // field 4, fixed64
        0x2d, 1, 2, 3, 4, // field 5, fixed32
        0x08, 1, // status SERVING
        0xa2, 0x06, 0, // field 100, empty bytes
    ];
    assert_eq!(decode_response(&framed(&message)), Ok(SERVING));
}

#[test]
fn malformed_and_truncated_messages_fail() {
    assert_eq!(malformed(&[]), "no message");
    assert_eq!(malformed(&[0, 0, 0]), "message prefix cut short");
    assert_eq!(malformed(&[0, 0, 0, 0, 5, 0x08, 1]), "message cut short");
    let mut two = framed(&[0x08, 1]);
    two.extend(framed(&[0x08, 1]));
    assert_eq!(malformed(&two), "more than one message");
    assert_eq!(malformed(&[2, 0, 0, 0, 0]), "unknown message flag");
    assert_eq!(malformed(&framed(&[0x08])), "varint cut short");
    assert_eq!(malformed(&framed(&[0x08, 0x80])), "varint cut short");
    assert_eq!(malformed(&framed(&[0x80])), "varint cut short");
    let mut eleven = vec![0x08];
    eleven.extend([0xff; 10]);
    eleven.push(1);
    assert_eq!(malformed(&framed(&eleven)), "varint over 64 bits");
    assert_eq!(
        malformed(&framed(&[
            0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02
        ])),
        "varint over 64 bits"
    );
    assert_eq!(malformed(&framed(&[0x00, 1])), "field number 0");
    assert_eq!(malformed(&framed(&[0x0a, 1, 1])), "status is not a varint");
    assert_eq!(malformed(&framed(&[0x13])), "unsupported wire type");
    assert_eq!(malformed(&framed(&[0x1a, 5, b'a'])), "field cut short");
    assert_eq!(malformed(&framed(&[0x21, 1, 2])), "field cut short");
    assert_eq!(
        malformed(&framed(&[0x1a, 0xff, 0xff, 0xff, 0xff, 0x0f])),
        "field cut short"
    );
}

#[test]
fn a_compressed_message_fails() {
    let mut body = framed(&[0x08, 1]);
    body[0] = 1;
    assert_eq!(decode_response(&body), Err(GrpcFailure::Compressed));
    let ok = fields(&[("grpc-status", "0")]);
    let e = verdict(&body, Some(&ok)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "gRPC response message compressed (the check accepts none)"
    );
}

#[test]
fn the_head_decides_on_status_content_type_and_trailers_only() {
    let grpc = fields(&[("content-type", "application/grpc")]);
    assert!(head_verdict(200, &grpc).is_none());
    assert!(head_verdict(200, &fields(&[("content-type", "application/grpc+proto")])).is_none());
    let e = head_verdict(404, &grpc).unwrap().unwrap_err();
    assert_eq!(e.to_string(), "HTTP status 404, expected 200");
    let e = head_verdict(200, &fields(&[("content-type", "text/html")]))
        .unwrap()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "content-type \"text/html\", expected application/grpc"
    );
    let e = head_verdict(200, &HeaderMap::new()).unwrap().unwrap_err();
    assert!(e.to_string().contains("(none)"), "{e}");
    // Trailers-only: what a server without the health service answers.
    let unimplemented = fields(&[
        ("content-type", "application/grpc"),
        ("grpc-status", "12"),
        (
            "grpc-message",
            "Method not found: grpc.health.v1.Health/Check%0A%E2%9C%93",
        ),
    ]);
    let e = head_verdict(200, &unimplemented).unwrap().unwrap_err();
    assert_eq!(
        e.to_string(),
        "gRPC status 12 UNIMPLEMENTED: Method not found: grpc.health.v1.Health/Check?✓"
    );
    // A zero status without a message is no answer.
    let empty = fields(&[("content-type", "application/grpc"), ("grpc-status", "0")]);
    let e = head_verdict(200, &empty).unwrap().unwrap_err();
    assert_eq!(e.to_string(), "malformed HealthCheckResponse: no message");
}

#[test]
fn the_verdict_wants_status_zero_and_serving() {
    let ok = fields(&[("grpc-status", "0")]);
    assert!(verdict(&framed(&[0x08, 1]), Some(&ok)).is_ok());
    let e = verdict(&framed(&[0x08, 2]), Some(&ok)).unwrap_err();
    assert_eq!(e.to_string(), "health status NOT_SERVING");
    let e = verdict(&framed(&[0x08, 3]), Some(&ok)).unwrap_err();
    assert_eq!(e.to_string(), "health status SERVICE_UNKNOWN");
    let e = verdict(&framed(&[]), Some(&ok)).unwrap_err();
    assert_eq!(e.to_string(), "health status UNKNOWN");
    let e = verdict(&framed(&[0x08, 9]), Some(&ok)).unwrap_err();
    assert_eq!(e.to_string(), "health status 9 (not a known ServingStatus)");
    // No trailers, or trailers without grpc-status.
    let e = verdict(&framed(&[0x08, 1]), None).unwrap_err();
    assert_eq!(e.to_string(), "gRPC answer without grpc-status");
    let other = fields(&[("x", "y")]);
    assert!(verdict(&framed(&[0x08, 1]), Some(&other)).is_err());
    // A failed call: the status wins over whatever the body says.
    let not_found = fields(&[("grpc-status", "5"), ("grpc-message", "unknown service")]);
    let e = verdict(&framed(&[0x08, 1]), Some(&not_found)).unwrap_err();
    assert_eq!(e.to_string(), "gRPC status 5 NOT_FOUND: unknown service");
    let e = verdict(&[], Some(&fields(&[("grpc-status", "99")]))).unwrap_err();
    assert_eq!(e.to_string(), "gRPC status 99 (unknown code)");
    for bad in ["", "+1", "x", "-0", "99999999999999999999999"] {
        let mut t = HeaderMap::new();
        t.insert("grpc-status", HeaderValue::from_str(bad).unwrap());
        let e = verdict(&framed(&[0x08, 1]), Some(&t)).unwrap_err();
        assert!(
            matches!(e, Failure::Grpc(GrpcFailure::BadStatus(_))),
            "{bad:?}: {e}"
        );
    }
}

#[test]
fn grpc_message_is_percent_decoded_and_bounded() {
    assert_eq!(percent_decoded(b"a%20b%zz%4"), "a b%zz%4");
    assert_eq!(percent_decoded(b"%FF"), "\u{fffd}");
    assert_eq!(percent_decoded(&[b'x'; 1000]).len(), MAX_MESSAGE);
}
