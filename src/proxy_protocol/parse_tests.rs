use super::*;
use crate::proxy_protocol::{encode, Accept, Ssl, Tlvs, Version, V2_SIGNATURE};

fn addrs(a: &str, b: &str) -> Option<(SocketAddr, SocketAddr)> {
    Some((a.parse().unwrap(), b.parse().unwrap()))
}

fn encoded(v: Version, a: Option<(SocketAddr, SocketAddr)>, tlvs: &Tlvs<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    encode(v, a, tlvs, &mut out);
    out
}

const SSL_TLVS: Tlvs<'static> = Tlvs {
    alpn: Some(b"h2"),
    authority: Some("a.example.com"),
    ssl: Some(Ssl {
        version: "TLSv1.3",
        cipher: "TLS13_AES_128_GCM_SHA256",
    }),
};

/// Every proper prefix of a valid header needs more; the whole header is done and
/// consumes exactly its length whatever follows.
fn check_prefixes(h: &[u8], accept: Accept, want: Header) {
    for i in 0..h.len() {
        assert_eq!(
            parse(&h[..i], accept),
            Parse::NeedMore,
            "prefix {i} of {h:?}"
        );
    }
    assert_eq!(parse(h, accept), Parse::Done(want, h.len()));
    let mut more = h.to_vec();
    more.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(parse(&more, accept), Parse::Done(want, h.len()));
}

#[test]
fn round_trips_at_every_truncation() {
    let cases = [
        addrs("192.0.2.1:5555", "198.51.100.2:443"),
        addrs("[2001:db8::1]:1", "[2001:db8::2]:65535"),
        addrs("192.0.2.1:0", "[2001:db8::2]:80"),
        None,
    ];
    for a in cases {
        for (v, tlvs) in [
            (Version::V1, Tlvs::default()),
            (Version::V2, Tlvs::default()),
            (Version::V2, SSL_TLVS),
        ] {
            let h = encoded(v, a, &tlvs);
            // Mixed families come back IPv4-mapped.
            let want = a.map(|(s, d)| {
                if s.is_ipv4() == d.is_ipv4() {
                    (s, d)
                } else {
                    let m = |x: SocketAddr| match x.ip() {
                        IpAddr::V4(i) => SocketAddr::new(i.to_ipv6_mapped().into(), x.port()),
                        _ => x,
                    };
                    (m(s), m(d))
                }
            });
            let header = Header {
                version: v,
                addresses: want,
            };
            check_prefixes(&h, Accept::Any, header);
            let only = if v == Version::V1 {
                Accept::V1
            } else {
                Accept::V2
            };
            check_prefixes(&h, only, header);
            let other = if v == Version::V1 {
                Accept::V2
            } else {
                Accept::V1
            };
            assert_eq!(parse(&h, other), Parse::Error(Reason::Version));
        }
    }
}

#[test]
fn v1_literal_forms() {
    let ok = |s: &str| match parse(s.as_bytes(), Accept::V1) {
        Parse::Done(h, n) => (h.addresses, n),
        other => panic!("{s:?}: {other:?}"),
    };
    assert_eq!(
        ok("PROXY TCP4 1.2.3.4 5.6.7.8 80 443\r\n"),
        (addrs("1.2.3.4:80", "5.6.7.8:443"), 35)
    );
    assert_eq!(ok("PROXY UNKNOWN\r\n").0, None);
    assert_eq!(ok("PROXY UNKNOWN ffff::1 ::1 1 2\r\n").0, None);
    let bad = [
        "PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 80 443 9\r\n",
        "PROXY TCP4 ::1 ::1 80 443\r\n",
        "PROXY TCP6 1.2.3.4 5.6.7.8 80 443\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 080 443\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 80 65536\r\n",
        "PROXY TCP4 1.2.3.4  5.6.7.8 80 443\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 +80 443\r\n",
        "PROXY UDP4 1.2.3.4 5.6.7.8 80 443\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 80 443\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 80 443\rX",
        "PROXY \r\n",
    ];
    for b in bad {
        assert_eq!(
            parse(b.as_bytes(), Accept::Any),
            Parse::Error(Reason::Malformed),
            "{b:?}"
        );
    }
}

#[test]
fn hostile_headers() {
    // Bad signatures, refused at the first wrong byte.
    assert_eq!(
        parse(b"GET / HTTP/1.1\r\n", Accept::Any),
        Parse::Error(Reason::Signature)
    );
    assert_eq!(
        parse(b"PROXX", Accept::Any),
        Parse::Error(Reason::Signature)
    );
    assert_eq!(
        parse(b"\r\n\r\n\0\r\nQUIX", Accept::Any),
        Parse::Error(Reason::Signature)
    );
    assert_eq!(
        parse(b"\x16\x03\x01", Accept::Any),
        Parse::Error(Reason::Signature)
    );
    // v1 with no CRLF in 107 bytes.
    let mut long = b"PROXY TCP4 ".to_vec();
    long.resize(107, b'1');
    assert_eq!(parse(&long, Accept::Any), Parse::Error(Reason::TooLong));
    assert_eq!(parse(&long[..106], Accept::Any), Parse::NeedMore);
    let mut v2 = V2_SIGNATURE.to_vec();
    // Version 3, then command 2.
    assert_eq!(
        parse(&[&v2[..], &[0x31]].concat(), Accept::Any),
        Parse::Error(Reason::Command)
    );
    assert_eq!(
        parse(&[&v2[..], &[0x22]].concat(), Accept::Any),
        Parse::Error(Reason::Command)
    );
    // Unknown family, unknown transport.
    assert_eq!(
        parse(&[&v2[..], &[0x21, 0x41]].concat(), Accept::Any),
        Parse::Error(Reason::Family)
    );
    assert_eq!(
        parse(&[&v2[..], &[0x21, 0x13]].concat(), Accept::Any),
        Parse::Error(Reason::Family)
    );
    // A datagram PROXY.
    let dgram = [&v2[..], &[0x21, 0x12, 0, 12], &[0; 12]].concat();
    assert_eq!(parse(&dgram, Accept::Any), Parse::Error(Reason::Family));
    // Length shorter than the addresses: refused as soon as the length is known.
    assert_eq!(
        parse(&[&v2[..], &[0x21, 0x11, 0, 11]].concat(), Accept::Any),
        Parse::Error(Reason::Length)
    );
    assert_eq!(
        parse(&[&v2[..], &[0x21, 0x21, 0, 35]].concat(), Accept::Any),
        Parse::Error(Reason::Length)
    );
    // Oversized.
    assert_eq!(
        parse(&[&v2[..], &[0x21, 0x11, 0xff, 0xff]].concat(), Accept::Any),
        Parse::Error(Reason::TooLong)
    );
    // TLVs overrunning the header.
    let bad_tlv = [&v2[..], &[0x21, 0x11, 0, 16], &[0; 12], &[0x02, 0, 5, b'a']].concat();
    assert_eq!(parse(&bad_tlv, Accept::Any), Parse::Error(Reason::Length));
    // LOCAL: whatever the family and body, the real addresses stay.
    v2.extend_from_slice(&[0x20, 0x11, 0, 3, 1, 2, 3]);
    let local = Header {
        version: Version::V2,
        addresses: None,
    };
    assert_eq!(parse(&v2, Accept::Any), Parse::Done(local, 19));
    // AF_UNSPEC and AF_UNIX PROXY: accepted, real addresses kept.
    let unspec = [&V2_SIGNATURE[..], &[0x21, 0x00, 0, 0]].concat();
    assert_eq!(parse(&unspec, Accept::Any), Parse::Done(local, 16));
    let unix = [&V2_SIGNATURE[..], &[0x21, 0x31, 0, 216], &[0; 216]].concat();
    assert_eq!(parse(&unix, Accept::Any), Parse::Done(local, 232));
}

#[test]
fn every_truncation_of_a_hostile_header_is_need_more_or_the_same_error() {
    // Never a Done, and never an error that a longer input would take back.
    let inputs: [&[u8]; 3] = [
        b"PROXY TCP4 1.2.3.4 5.6.7.8 80 443 9\r\n",
        &[
            &V2_SIGNATURE[..],
            &[0x21, 0x11, 0, 16],
            &[0; 12],
            &[0x02, 0, 5, b'a'],
        ]
        .concat(),
        &[&V2_SIGNATURE[..], &[0x21, 0x11, 0, 9]].concat(),
    ];
    for h in inputs {
        let full = parse(h, Accept::Any);
        assert!(matches!(full, Parse::Error(_)), "{h:?}");
        for i in 0..h.len() {
            match parse(&h[..i], Accept::Any) {
                Parse::NeedMore => {}
                e => assert_eq!(e, full, "prefix {i}"),
            }
        }
    }
}

#[test]
fn v2_tlvs_are_written_as_specified() {
    let h = encoded(
        Version::V2,
        addrs("10.0.0.1:1000", "10.0.0.2:443"),
        &SSL_TLVS,
    );
    assert_eq!(&h[..12], &V2_SIGNATURE);
    assert_eq!(&h[12..14], &[0x21, 0x11]);
    assert_eq!(
        usize::from(u16::from_be_bytes([h[14], h[15]])),
        h.len() - 16
    );
    let tlvs = &h[28..];
    assert_eq!(&tlvs[..5], &[0x01, 0, 2, b'h', b'2']);
    assert_eq!(tlvs[5], 0x02);
    assert_eq!(&tlvs[8..21], b"a.example.com");
    let ssl = &tlvs[21..];
    assert_eq!(ssl[0], 0x20);
    assert_eq!(
        usize::from(u16::from_be_bytes([ssl[1], ssl[2]])),
        ssl.len() - 3
    );
    assert_eq!(&ssl[3..8], &[0x01, 0, 0, 0, 0]);
    assert_eq!(&ssl[8..11], &[0x21, 0, 7]);
    assert_eq!(&ssl[11..18], b"TLSv1.3");
    let local = encoded(Version::V2, None, &SSL_TLVS);
    assert_eq!(&local[12..], &[0x20, 0x00, 0, 0]);
    assert_eq!(
        encoded(Version::V1, None, &Tlvs::default()),
        b"PROXY UNKNOWN\r\n"
    );
}
