use super::*;

fn one(kind: u8, flags: u8, id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_head(&mut out, payload.len(), kind, flags, id);
    out.extend_from_slice(payload);
    out
}

fn parsed(buf: &[u8]) -> Result<Frame<'_>, H2Error> {
    parse(buf, MIN_FRAME_SIZE).map(|f| f.expect("a whole frame").0)
}

#[test]
fn a_frame_not_all_there_asks_for_more() {
    let f = one(PING, 0, 0, &[1; 8]);
    for n in 0..f.len() {
        assert_eq!(parse(&f[..n], MIN_FRAME_SIZE), Ok(None), "{n} bytes");
    }
    assert_eq!(
        parse(&f, MIN_FRAME_SIZE).map(|f| f.map(|f| f.1)),
        Ok(Some(17))
    );
}

#[test]
fn a_frame_over_the_advertised_size_is_a_frame_size_error_before_it_is_read() {
    let mut head = Vec::new();
    write_head(&mut head, MIN_FRAME_SIZE as usize + 1, DATA, 0, 1);
    assert_eq!(
        parse(&head, MIN_FRAME_SIZE),
        Err(H2Error::Conn(Reason::FRAME_SIZE_ERROR))
    );
}

#[test]
fn data_padding_is_taken_off_and_counted_in_the_length() {
    let f = one(DATA, PADDED | END_STREAM, 3, &[2, b'h', b'i', 0, 0]);
    let want = Frame::Data {
        id: 3,
        data: b"hi",
        end: true,
        len: 5,
    };
    assert_eq!(parsed(&f), Ok(want));
    // Padding that leaves nothing, or no pad length at all.
    assert_eq!(
        parsed(&one(DATA, PADDED, 3, &[4, 0, 0, 0])),
        Err(H2Error::Conn(Reason::PROTOCOL_ERROR))
    );
    assert_eq!(
        parsed(&one(DATA, PADDED, 3, &[])),
        Err(H2Error::Conn(Reason::PROTOCOL_ERROR))
    );
    assert_eq!(
        parsed(&one(DATA, 0, 0, b"x")),
        Err(H2Error::Conn(Reason::PROTOCOL_ERROR))
    );
}

#[test]
fn headers_with_priority_and_padding_give_the_block_alone() {
    let payload = [1, 0, 0, 0, 1, 7, 0x82, 0x84, 0];
    let f = one(HEADERS, PADDED | PRIORITY_FLAG | END_HEADERS, 3, &payload);
    let want = Frame::Headers {
        id: 3,
        block: &[0x82, 0x84],
        end_stream: false,
        end_headers: true,
    };
    assert_eq!(parsed(&f), Ok(want));
    // Depending on itself.
    let f = one(HEADERS, PRIORITY_FLAG, 3, &[0, 0, 0, 3, 7, 0x82]);
    assert_eq!(parsed(&f), Err(H2Error::Conn(Reason::PROTOCOL_ERROR)));
}

#[test]
fn each_type_refuses_the_wrong_stream_or_size() {
    let conn = |r| Err(H2Error::Conn(r));
    assert_eq!(
        parsed(&one(HEADERS, 0, 0, &[0x82])),
        conn(Reason::PROTOCOL_ERROR)
    );
    assert_eq!(
        parsed(&one(RST_STREAM, 0, 1, &[0; 3])),
        conn(Reason::FRAME_SIZE_ERROR)
    );
    assert_eq!(
        parsed(&one(RST_STREAM, 0, 0, &[0; 4])),
        conn(Reason::PROTOCOL_ERROR)
    );
    assert_eq!(
        parsed(&one(SETTINGS, 0, 1, &[])),
        conn(Reason::PROTOCOL_ERROR)
    );
    assert_eq!(
        parsed(&one(SETTINGS, 0, 0, &[0; 5])),
        conn(Reason::FRAME_SIZE_ERROR)
    );
    assert_eq!(
        parsed(&one(SETTINGS, ACK, 0, &[0; 6])),
        conn(Reason::FRAME_SIZE_ERROR)
    );
    assert_eq!(
        parsed(&one(PING, 0, 0, &[0; 7])),
        conn(Reason::FRAME_SIZE_ERROR)
    );
    assert_eq!(
        parsed(&one(PING, 0, 1, &[0; 8])),
        conn(Reason::PROTOCOL_ERROR)
    );
    assert_eq!(
        parsed(&one(GOAWAY, 0, 0, &[0; 7])),
        conn(Reason::FRAME_SIZE_ERROR)
    );
    assert_eq!(
        parsed(&one(WINDOW_UPDATE, 0, 0, &[0; 3])),
        conn(Reason::FRAME_SIZE_ERROR)
    );
    assert_eq!(
        parsed(&one(WINDOW_UPDATE, 0, 0, &[0; 4])),
        conn(Reason::PROTOCOL_ERROR)
    );
    assert_eq!(
        parsed(&one(PUSH_PROMISE, 0, 1, &[0; 4])),
        conn(Reason::PROTOCOL_ERROR)
    );
    assert_eq!(
        parsed(&one(CONTINUATION, 0, 0, &[])),
        conn(Reason::PROTOCOL_ERROR)
    );
    assert_eq!(
        parsed(&one(PRIORITY, 0, 0, &[0; 5])),
        conn(Reason::PROTOCOL_ERROR)
    );
    // Stream errors, as frames to answer.
    let invalid = |id, reason| Ok(Frame::Invalid { id, reason });
    assert_eq!(
        parsed(&one(WINDOW_UPDATE, 0, 5, &[0; 4])),
        invalid(5, Reason::PROTOCOL_ERROR)
    );
    assert_eq!(
        parsed(&one(PRIORITY, 0, 5, &[0; 4])),
        invalid(5, Reason::FRAME_SIZE_ERROR)
    );
    assert_eq!(
        parsed(&one(PRIORITY, 0, 5, &[0, 0, 0, 5, 0])),
        invalid(5, Reason::PROTOCOL_ERROR)
    );
    // Unknown types are skipped whole.
    assert_eq!(parsed(&one(0xfa, 0xff, 9, b"anything")), Ok(Frame::Unknown));
}

#[test]
fn the_reserved_bit_of_ids_and_increments_is_ignored() {
    let f = one(WINDOW_UPDATE, 0, 0x8000_0003, &[0x80, 0, 0, 9]);
    assert_eq!(
        parsed(&f),
        Ok(Frame::WindowUpdate {
            id: 3,
            increment: 9
        })
    );
}

#[test]
fn what_is_written_parses_back() {
    let mut out = Vec::new();
    write_settings(
        &mut out,
        &[(MAX_FRAME_SIZE, 20_000), (INITIAL_WINDOW_SIZE, 1)],
    );
    write_settings_ack(&mut out);
    write_ping(&mut out, true, [7; 8]);
    write_goaway(&mut out, 11, Reason::ENHANCE_YOUR_CALM);
    write_reset(&mut out, 5, Reason::CANCEL);
    write_window_update(&mut out, 0, 1000);
    write_data(&mut out, 5, b"body", true);
    let mut at = &out[..];
    let mut frames = Vec::new();
    while let Some((f, n)) = parse(at, MIN_FRAME_SIZE).expect("valid") {
        frames.push(format!("{f:?}"));
        at = &at[n..];
    }
    assert!(at.is_empty());
    assert_eq!(frames.len(), 7);
    let Ok(Some((Frame::Settings { params, .. }, _))) = parse(&out, MIN_FRAME_SIZE) else {
        panic!("settings first");
    };
    let got: Vec<_> = settings(params).collect();
    assert_eq!(got, [(MAX_FRAME_SIZE, 20_000), (INITIAL_WINDOW_SIZE, 1)]);
    assert!(frames[3].contains("last: 11") && frames[3].contains("Reason(11)"));
    assert_eq!(
        frames[6],
        r#"Data { id: 5, data: [98, 111, 100, 121], end: true, len: 4 }"#
    );
}

#[test]
fn a_large_block_goes_as_headers_and_continuation() {
    let block: Vec<u8> = (0..40u8).collect();
    let mut out = Vec::new();
    write_headers(&mut out, 7, &block, true, 16);
    let mut at = &out[..];
    let mut got = Vec::new();
    let mut kinds = Vec::new();
    while let Some((f, n)) = parse(at, MIN_FRAME_SIZE).expect("valid") {
        match f {
            Frame::Headers {
                block,
                end_stream,
                end_headers,
                ..
            } => {
                assert!(end_stream && !end_headers);
                got.extend_from_slice(block);
                kinds.push("H");
            }
            Frame::Continuation {
                block, end_headers, ..
            } => {
                got.extend_from_slice(block);
                kinds.push(if end_headers { "C!" } else { "C" });
            }
            other => panic!("{other:?}"),
        }
        at = &at[n..];
    }
    assert_eq!(kinds, ["H", "C", "C!"]);
    assert_eq!(got, block);
    // A block within one frame is one HEADERS with END_HEADERS.
    let mut out = Vec::new();
    write_headers(&mut out, 7, &block[..3], false, 16);
    let want = Frame::Headers {
        id: 7,
        block: &block[..3],
        end_stream: false,
        end_headers: true,
    };
    assert_eq!(parsed(&out), Ok(want));
}
