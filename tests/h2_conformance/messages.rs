//! RFC 9113 §8 (HTTP messages) and RFC 7541 (HPACK).

use super::*;

#[test]
fn http_message_exchange() {
    if !have_python_h2("h2_conformance_http") {
        return;
    }
    let backend = Backend::start();
    let r = start(&backend, "");
    let mut c = Cases::new(&r);
    // §8.1: a request is HEADERS, DATA, then a HEADERS with END_STREAM (trailers).
    c.check("trailers", &["response 200 ok POST /trailers 4"]);
    match head_for(&backend, "/trailers") {
        Some(_) => {}
        None => c.fail("trailers: the request never reached the backend".into()),
    }
    // §8.1: "An endpoint that receives a HEADERS frame without the END_STREAM flag set
    // after receiving the HEADERS frame that opens a request ... MUST treat the
    // corresponding request or response as malformed"; §8.1.1: "Malformed requests or
    // responses that are detected MUST be treated as a stream error of type
    // PROTOCOL_ERROR". Pseudo-header fields in trailers likewise (§8.1: "Trailers
    // MUST NOT include pseudo-header fields"; §8.3).
    let malformed = [goaway(PROTOCOL_ERROR), reset_then_served(PROTOCOL_ERROR)];
    c.check("trailers-no-end-stream", &malformed);
    c.check("trailers-pseudo", &malformed);
    // §8.1.1: "A request or response is also malformed if the value of a
    // content-length header field does not equal the sum of the DATA frame payload
    // lengths"; intermediaries "MUST NOT forward a malformed request" (the body is
    // known whole before the stream is served: nothing reaches the backend).
    c.check("content-length-less", &malformed);
    c.check("content-length-more", &malformed);
    // §8.2.1 (upper-case names), §8.2.2 (connection-specific fields; TE other than
    // "trailers"), §8.3 (pseudo-header fields after a regular one, twice, unknown, of
    // a response, or a required one missing; :path empty): malformed, a stream
    // error of type PROTOCOL_ERROR (a server MAY send a response first: ringlb does
    // not), and not forwarded.
    for case in [
        "uppercase-name",
        "connection-header",
        "te-not-trailers",
        "pseudo-after-regular",
        "duplicate-path",
        "unknown-pseudo",
        "response-pseudo",
        "missing-method",
        "missing-scheme",
        "missing-path",
        "empty-path",
    ] {
        c.check(&format!("malformed:{case}"), &malformed);
    }
    // §8.2.2: "The only exception to this is the TE header field, which MAY be present
    // in an HTTP/2 request; when it is, it MUST NOT contain any value other than
    // 'trailers'".
    c.check("te-trailers", &["response 200 ok GET /te-trailers 0"]);
    nothing_refused_served(&mut c, &backend);
    c.done();
}

#[test]
fn hpack_decoding() {
    if !have_python_h2("h2_conformance_hpack") {
        return;
    }
    let backend = Backend::start();
    let r = start(&backend, "");
    let mut c = Cases::new(&r);
    // RFC 9113 §4.3: a field block that does not decode is a connection error of type
    // COMPRESSION_ERROR. RFC 7541 §6.3: a dynamic table size update past the limit
    // (SETTINGS_HEADER_TABLE_SIZE, 4096 here) "MUST be treated as a decoding error";
    // §2.3.3: "Indices strictly greater than the sum of the lengths of both tables
    // MUST be treated as a decoding error"; §6.1: "The index value of 0 is not used.
    // It MUST be treated as a decoding error"; §5.2: "A Huffman-encoded string
    // literal containing the EOS symbol MUST be treated as a decoding error", as must
    // padding "strictly longer than 7 bits" or "not corresponding to the most
    // significant bits of the code for the EOS symbol"; §4.2: the size update "MUST
    // occur at the beginning of the first field block following the change".
    for case in [
        "hpack-size-update-too-large",
        "hpack-index-past-tables",
        "hpack-index-zero",
        "hpack-huffman-eos",
        "hpack-huffman-long-padding",
        "hpack-huffman-zero-padding",
        "hpack-size-update-after-field",
    ] {
        c.check(case, &[goaway(COMPRESSION_ERROR)]);
    }
    // §4.2: size updates at the start of a block (0, then 4096) are fine.
    c.check(
        "hpack-size-update-first",
        &["response 200 ok GET /size-update 0"],
    );
    // §2.3.2, §4.4: a dynamic table kept across requests (Huffman, incremental
    // indexing; the table resized down to 128 octets, so entries are evicted, then 0,
    // then 4096 again): each request is decoded as the client encoded it.
    c.check("hpack-dynamic-table", &["served 9"]);
    for i in 1..=9u32 {
        let path = format!("/dyn/{i}");
        let want = [
            "x-keep: keep-value\r\n".to_string(),
            format!("x-seq: {i}\r\n"),
            format!("x-twice: v{}\r\n", i.div_ceil(2)),
        ];
        match head_for(&backend, &path) {
            Some(h) if want.iter().all(|w| h.contains(w.as_str())) => {}
            other => c.fail(format!(
                "hpack-dynamic-table: {path}: the backend got {other:?}"
            )),
        }
    }
    nothing_refused_served(&mut c, &backend);
    c.done();
}

#[test]
fn hpack_table_size_follows_the_advertised_setting() {
    if !have_python_h2("h2_conformance_hpack_setting") {
        return;
    }
    let backend = Backend::start();
    let r = start(&backend, "h2_header_table_size = 1024");
    let mut c = Cases::new(&r);
    // RFC 7541 §4.2: the new maximum "MUST be lower than or equal to the limit
    // determined by the protocol using HPACK. A value that exceeds this limit MUST be
    // treated as a decoding error. In HTTP/2, this limit is the last value of the
    // SETTINGS_HEADER_TABLE_SIZE parameter received from the decoder and acknowledged
    // by the encoder". ringlb advertises 1024; the client acknowledges its SETTINGS,
    // then sends a size update to 2048 (under HPACK's default 4096).
    c.check_arg(
        "hpack-size-update-too-large",
        "2048",
        &[goaway(COMPRESSION_ERROR)],
    );
    // One past the advertised value is refused as well; 1024 itself is fine.
    c.check("hpack-size-update-too-large", &[goaway(COMPRESSION_ERROR)]);
    c.check_arg(
        "hpack-size-update-first",
        "1024",
        &["response 200 ok GET /size-update 0"],
    );
    nothing_refused_served(&mut c, &backend);
    c.done();
}
