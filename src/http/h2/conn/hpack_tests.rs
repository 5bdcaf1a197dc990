use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn decoded(d: &mut Decoder, block: &[u8]) -> Result<Vec<(String, String)>, DecodeError> {
    let mut out = Vec::new();
    d.decode(block, |n, v| {
        out.push((
            String::from_utf8_lossy(n).into_owned(),
            String::from_utf8_lossy(v).into_owned(),
        ))
    })?;
    Ok(out)
}

fn fields(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn table(d: &Decoder) -> Vec<(String, String)> {
    d.dynamic()
        .iter()
        .map(|(n, v)| {
            (
                String::from_utf8_lossy(n).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect()
}

/// RFC 7541 C.3 (raw strings) and C.4 (Huffman): three requests on one connection.
#[test]
fn the_rfc_request_sequences_decode_with_their_tables() {
    let sequences = [
        [
            "828684410f7777772e6578616d706c652e636f6d",
            "828684be58086e6f2d6361636865",
            "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
        ],
        [
            "828684418cf1e3c2e5f23a6ba0ab90f4ff",
            "828684be5886a8eb10649cbf",
            "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
        ],
    ];
    let www = (":authority", "www.example.com");
    let no_cache = ("cache-control", "no-cache");
    for blocks in sequences {
        let mut d = Decoder::new(4096);
        let first = decoded(&mut d, &hex(blocks[0])).unwrap();
        assert_eq!(
            first,
            fields(&[(":method", "GET"), (":scheme", "http"), (":path", "/"), www])
        );
        assert_eq!((table(&d), d.size()), (fields(&[www]), 57));
        let second = decoded(&mut d, &hex(blocks[1])).unwrap();
        assert_eq!(second[4], fields(&[no_cache])[0]);
        assert_eq!((table(&d), d.size()), (fields(&[no_cache, www]), 110));
        let third = decoded(&mut d, &hex(blocks[2])).unwrap();
        let want = [
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/index.html"),
            www,
            ("custom-key", "custom-value"),
        ];
        assert_eq!(third, fields(&want));
        assert_eq!(
            (table(&d), d.size()),
            (
                fields(&[("custom-key", "custom-value"), no_cache, www]),
                164
            )
        );
    }
}

/// RFC 7541 C.5 (raw) and C.6 (Huffman): three responses, a 256-byte table, evictions.
#[test]
fn the_rfc_response_sequences_evict_as_the_rfc_says() {
    let sequences = [
        [
            "4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d",
            "4803333037c1c0bf",
            "88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31",
        ],
        [
            "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3",
            "4883640effc1c0bf",
            "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
        ],
    ];
    let private = ("cache-control", "private");
    let date1 = ("date", "Mon, 21 Oct 2013 20:13:21 GMT");
    let date2 = ("date", "Mon, 21 Oct 2013 20:13:22 GMT");
    let location = ("location", "https://www.example.com");
    let cookie = (
        "set-cookie",
        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    );
    let gzip = ("content-encoding", "gzip");
    for blocks in sequences {
        let mut d = Decoder::new(256);
        let first = decoded(&mut d, &hex(blocks[0])).unwrap();
        assert_eq!(
            first,
            fields(&[(":status", "302"), private, date1, location])
        );
        assert_eq!(
            (table(&d), d.size()),
            (fields(&[location, date1, private, (":status", "302")]), 222)
        );
        let second = decoded(&mut d, &hex(blocks[1])).unwrap();
        assert_eq!(
            second,
            fields(&[(":status", "307"), private, date1, location])
        );
        assert_eq!(
            (table(&d), d.size()),
            (fields(&[(":status", "307"), location, date1, private]), 222)
        );
        let third = decoded(&mut d, &hex(blocks[2])).unwrap();
        assert_eq!(
            third,
            fields(&[(":status", "200"), private, date2, location, gzip, cookie])
        );
        assert_eq!((table(&d), d.size()), (fields(&[cookie, gzip, date2]), 215));
    }
}

#[test]
fn blocks_from_another_encoder_decode_to_what_it_encoded() {
    // The `loona-hpack` encoder (incremental indexing, static and dynamic references)
    // on one connection, its blocks decoded here in turn.
    let mut enc = loona_hpack::Encoder::new();
    let mut d = Decoder::new(4096);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let names = [
        "x-a",
        "x-b",
        "user-agent",
        "accept",
        "cookie",
        ":path",
        "x-long-name-of-a-field",
    ];
    for _ in 0..500 {
        let list: Vec<(Vec<u8>, Vec<u8>)> = (0..next() % 12)
            .map(|_| {
                let name = names[next() as usize % names.len()].as_bytes().to_vec();
                let value = format!("{}", next() % 40)
                    .repeat((next() % 30) as usize + 1)
                    .into_bytes();
                (name, value)
            })
            .collect();
        let block = enc.encode(list.iter().map(|(n, v)| (&n[..], &v[..])));
        let mut got = Vec::new();
        d.decode(&block, |n, v| got.push((n.to_vec(), v.to_vec())))
            .unwrap();
        assert_eq!(got, list);
    }
}

#[test]
fn malformed_blocks_are_refused() {
    let mut d = Decoder::new(4096);
    // Index 0; an index past both tables.
    assert_eq!(decoded(&mut d, &[0x80]), Err(DecodeError::Index(0)));
    assert_eq!(decoded(&mut d, &[0xbe]), Err(DecodeError::Index(62)));
    // A literal whose value runs past the block; an integer that never ends.
    assert_eq!(
        decoded(&mut d, &[0x04, 0x05, b'a']),
        Err(DecodeError::Truncated)
    );
    assert_eq!(
        decoded(&mut d, &[0xff, 0xff, 0xff]),
        Err(DecodeError::Truncated)
    );
    assert_eq!(
        decoded(&mut d, &[0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
        Err(DecodeError::Integer)
    );
    // A size update past what was advertised, or after a field.
    assert_eq!(
        decoded(&mut d, &[0x3f, 0xe2, 0x1f]),
        Err(DecodeError::SizeUpdate)
    );
    assert_eq!(decoded(&mut d, &[0x82, 0x20]), Err(DecodeError::SizeUpdate));
    // A Huffman string with bad padding.
    assert_eq!(
        decoded(&mut d, &[0x04, 0x81, 0x00]),
        Err(DecodeError::Huffman(HuffmanError::Padding))
    );
}

#[test]
fn a_size_update_shrinks_the_table_and_an_entry_larger_than_it_empties_it() {
    let mut d = Decoder::new(4096);
    decoded(
        &mut d,
        &hex("400a637573746f6d2d6b65790c637573746f6d2d76616c7565"),
    )
    .unwrap();
    assert_eq!(d.size(), 54);
    // Size 0 first: the table is emptied, and the literal is not kept.
    decoded(&mut d, &[0x20, 0x40, 0x01, b'a', 0x01, b'b']).unwrap();
    assert_eq!(d.size(), 0);
    // Back to 60: "a: b" (34) fits; a 30-byte value (62) does not, and empties it.
    decoded(&mut d, &[0x3f, 0x1d, 0x40, 0x01, b'a', 0x01, b'b']).unwrap();
    assert_eq!(d.size(), 34);
    let mut big = vec![0x40, 0x01, b'c', 30];
    big.extend_from_slice(&[b'v'; 30]);
    decoded(&mut d, &big).unwrap();
    assert_eq!(d.size(), 0);
    assert!(d.dynamic().is_empty());
}

#[test]
fn an_integer_with_endless_zero_continuations_is_refused() {
    let mut d = Decoder::new(4096);
    let mut block = vec![0xff];
    block.extend_from_slice(&[0x80; 12]);
    block.push(0x00);
    assert_eq!(decoded(&mut d, &block), Err(DecodeError::Integer));
}
