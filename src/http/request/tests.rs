use super::*;

const LIMITS: Limits = Limits {
    max_request_line: 8192,
    max_header_bytes: 16384,
    max_headers: 100,
};

fn parse(raw: &[u8]) -> Result<Option<(usize, BodyFraming, bool)>, HttpError> {
    let mut storage = [httparse::EMPTY_HEADER; 128];
    parse_request(raw, &LIMITS, &mut storage)
        .map(|r| r.map(|r| (r.head_len, r.framing, r.keep_alive)))
}

fn status(raw: &[u8]) -> u16 {
    match parse(raw) {
        Err(e) => e.status(),
        Ok(Some(_)) => 200,
        Ok(None) => 0,
    }
}

#[test]
fn plain_requests() {
    let r = b"GET /a?b=c HTTP/1.1\r\nHost: example.com\r\n\r\n";
    assert_eq!(parse(r), Ok(Some((r.len(), BodyFraming::Length(0), true))));
    let r = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    assert_eq!(
        parse(r),
        Ok(Some((r.len() - 5, BodyFraming::Length(5), false)))
    );
    let r = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(parse(r).unwrap().unwrap().1, BodyFraming::Chunked);
    let r = b"GET / HTTP/1.0\r\n\r\n";
    assert_eq!(parse(r), Ok(Some((r.len(), BodyFraming::Length(0), false))));
    let r = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    assert!(parse(r).unwrap().unwrap().2);
    assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n"), Ok(None));
    assert_eq!(status(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
    assert_eq!(status(b"GET http://x/a HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
}

#[test]
fn framing_attacks_get_400() {
    let cases: [&[u8]; 9] = [
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 30\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0,\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    ];
    for c in cases {
        assert_eq!(status(c), 400, "{}", String::from_utf8_lossy(c));
    }
    for te in [
        "xchunked",
        "chunked, identity",
        "chunked, chunked",
        "identity",
    ] {
        let r = format!("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {te}\r\n\r\n");
        assert_eq!(status(r.as_bytes()), 400, "{te}");
    }
    for te in ["gzip, chunked", "deflate, chunked"] {
        let r = format!("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {te}\r\n\r\n");
        assert_eq!(status(r.as_bytes()), 501, "{te}");
    }
}

#[test]
fn malformed_heads_get_400() {
    let cases: [&[u8]; 11] = [
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX : a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX(y): a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n folded\r\n\r\n",
        b"GET / HTTP/1.1\nHost: x\n\n",
        b"GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET http://other/ HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
    ];
    for c in cases {
        assert_eq!(status(c), 400, "{}", String::from_utf8_lossy(c));
    }
    assert_eq!(status(b"G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    assert_eq!(status(b"GET nopath HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTX/1.1\r\nHost: x\r\n\r\n"), 400);
}

#[test]
fn versions_and_limits() {
    assert_eq!(status(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
    assert_eq!(status(b"GET / HTTP/3.7\r\nHost: x\r\n\r\n"), 505);
    assert_eq!(
        status(b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n"),
        501
    );
    let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
    assert_eq!(status(long.as_bytes()), 414);
    let long_partial = format!("GET /{}", "a".repeat(9000));
    assert_eq!(status(long_partial.as_bytes()), 414);
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
        "v".repeat(17000)
    );
    assert_eq!(status(big.as_bytes()), 431);
    let big_partial = format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}", "v".repeat(17000));
    assert_eq!(status(big_partial.as_bytes()), 431);
    let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
    let r = format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n");
    assert_eq!(status(r.as_bytes()), 431);
}

#[test]
fn upstream_head_drops_hop_by_hop_and_adds_forwarded() {
    let raw = b"GET /p HTTP/1.1\r\nHost: site\r\nConnection: keep-alive, X-Secret\r\nKeep-Alive: 5\r\nX-Secret: s\r\nTE: trailers\r\nX-Forwarded-For: 1.2.3.4\r\nAccept: */*\r\n\r\n";
    let mut storage = [httparse::EMPTY_HEADER; 32];
    let req = parse_request(raw, &LIMITS, &mut storage).unwrap().unwrap();
    let mut out = Vec::new();
    req.write_upstream_head(
        &mut out,
        "10.0.0.9".parse().unwrap(),
        Some(Forwarding::all("http")),
    );
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        "GET /p HTTP/1.1\r\nHost: site\r\nAccept: */*\r\nx-forwarded-for: 1.2.3.4, 10.0.0.9\r\nx-forwarded-proto: http\r\nx-forwarded-host: site\r\n\r\n"
    );
}

#[test]
fn upgrade_keeps_upgrade_headers() {
    let raw = b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    let mut storage = [httparse::EMPTY_HEADER; 32];
    let req = parse_request(raw, &LIMITS, &mut storage).unwrap().unwrap();
    assert!(req.upgrade);
    let mut out = Vec::new();
    req.write_upstream_head(&mut out, "127.0.0.1".parse().unwrap(), None);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nconnection: upgrade\r\n\r\n"
    );
}

#[test]
fn connection_cannot_strip_framing_or_host() {
    // Found by the fuzzer: `Connection: Host` removed Host from the upstream head; with
    // Content-Length the body would have become a smuggled request at the server.
    let raw = b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: Content-Length, Host\r\n\r\nhello";
    let mut storage = [httparse::EMPTY_HEADER; 32];
    let req = parse_request(raw, &LIMITS, &mut storage).unwrap().unwrap();
    let mut out = Vec::new();
    req.write_upstream_head(&mut out, "127.0.0.1".parse().unwrap(), None);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n"
    );
}

#[test]
fn invalid_host_values_get_400() {
    for host in [
        "a b",
        "a/b",
        "[::1",
        "::1]",
        "a:b",
        "a:80:80",
        "user@host",
        "a\tb",
        "%zz",
        "[::g]",
        "[v1.]",
        ":80",
    ] {
        let r = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        assert_eq!(
            parse(r.as_bytes()),
            Err(HttpError::BadRequest("invalid Host")),
            "{host:?}"
        );
    }
    assert_eq!(status(b"GET / HTTP/1.0\r\nHost: a b\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: \xc2\xa0x\r\n\r\n"), 400);
}

#[test]
fn valid_host_values_are_accepted_and_kept() {
    for host in [
        "[::1]:8080",
        "[::ffff:1.2.3.4]",
        "xn--bcher-kva.example",
        "example.com.",
        "EXAMPLE.COM",
        "127.0.0.1:80",
        "a-b_c~d",
        "host:",
        "[v1.fe80::a+en1]",
    ] {
        let r = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        let mut storage = [httparse::EMPTY_HEADER; 8];
        let req = parse_request(r.as_bytes(), &LIMITS, &mut storage);
        assert_eq!(req.map(|r| r.unwrap().host), Ok(Some(host)), "{host:?}");
    }
}

#[test]
fn empty_host_is_kept_for_origin_form_only() {
    // RFC 9112 §3.2 allows an empty Host for a target without authority; ringlb always
    // accepted it for origin-form and asterisk-form targets.
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost:\r\n\r\n"), 200);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: \r\n\r\n"), 200);
    assert_eq!(status(b"OPTIONS * HTTP/1.1\r\nHost:\r\n\r\n"), 200);
    assert_eq!(status(b"GET http://x/ HTTP/1.1\r\nHost:\r\n\r\n"), 400);
    // An http URI with an empty host is invalid (RFC 9110 §4.2.1), even if Host is too.
    assert_eq!(
        parse(b"GET http:///x HTTP/1.1\r\nHost:\r\n\r\n"),
        Err(HttpError::BadRequest("invalid authority in target"))
    );
}

#[test]
fn absolute_form_targets_with_a_bad_authority_get_400() {
    for target in [
        "http://user@host/",
        "http://u:p@host/x",
        "http://a:b/",
        "http://a:80:80/",
        "http://[::1/",
        "http://%zz/",
        "http://[::g]/",
        "http://:80/",
        "http:///x",
        "https://a#b/",
    ] {
        // With Host equal to the authority (which the Host check may refuse first).
        let authority = target.split('/').nth(2).unwrap();
        let r = format!("GET {target} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
        assert_eq!(status(r.as_bytes()), 400, "{target:?}");
        // Without Host (HTTP/1.0), the authority check itself refuses it.
        let r = format!("GET {target} HTTP/1.0\r\n\r\n");
        assert_eq!(
            parse(r.as_bytes()),
            Err(HttpError::BadRequest("invalid authority in target")),
            "{target:?}"
        );
    }
    for (target, host) in [
        ("http://[::1]:8080/x", "[::1]:8080"),
        ("http://EXAMPLE.com:80/x", "example.COM:80"),
        ("https://a-b_c~d/?q", "a-b_c~d"),
        ("http://127.0.0.1?q", "127.0.0.1"),
        ("http://host:/", "host:"),
    ] {
        let r = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n");
        assert_eq!(status(r.as_bytes()), 200, "{target:?}");
    }
}

#[test]
fn an_origin_form_target_whose_query_holds_a_url_is_taken_whole() {
    let raw = b"GET /go?to=http://elsewhere/x HTTP/1.1\r\nHost: site\r\n\r\n";
    let mut storage = [httparse::EMPTY_HEADER; 8];
    let req = parse_request(raw, &LIMITS, &mut storage).unwrap().unwrap();
    assert_eq!(req.path(), "/go?to=http://elsewhere/x");
    let mut out = Vec::new();
    req.write_upstream_head(&mut out, "10.0.0.9".parse().unwrap(), None);
    assert!(out.starts_with(b"GET /go?to=http://elsewhere/x HTTP/1.1\r\n"));
    let raw = b"GET /p HTTP/1.0\r\n\r\n";
    let req = parse_request(raw, &LIMITS, &mut storage).unwrap().unwrap();
    req.write_upstream_head(&mut out, "10.0.0.9".parse().unwrap(), None);
    assert_eq!(out, b"GET /p HTTP/1.0\r\n\r\n");
}

#[test]
fn forwarding_only_the_client_with_haproxy_options() {
    let raw =
        b"GET /p HTTP/1.1\r\nHost: site\r\nX-Real-IP: 1.2.3.4\r\nX-Forwarded-Proto: ftp\r\n\r\n";
    let mut storage = [httparse::EMPTY_HEADER; 32];
    let req = parse_request(raw, &LIMITS, &mut storage).unwrap().unwrap();
    let head = |f: Forwarding<'_>| {
        let mut out = Vec::new();
        req.write_upstream_head(&mut out, "10.0.0.9".parse().unwrap(), Some(f));
        String::from_utf8(out).unwrap()
    };
    let only_for = Forwarding {
        for_name: Some("x-forwarded-for"),
        ..Forwarding::NONE
    };
    // HAProxy's `option forwardfor`: X-Forwarded-For alone, the rest as sent.
    assert_eq!(
        head(only_for),
        "GET /p HTTP/1.1\r\nHost: site\r\nX-Real-IP: 1.2.3.4\r\nX-Forwarded-Proto: ftp\r\nx-forwarded-for: 10.0.0.9\r\n\r\n"
    );
    // `header X-Real-IP`: appended to what the client sent; `if-none`: kept as sent.
    let real = Forwarding {
        for_name: Some("X-Real-IP"),
        ..Forwarding::NONE
    };
    assert_eq!(
        head(real),
        "GET /p HTTP/1.1\r\nHost: site\r\nX-Forwarded-Proto: ftp\r\nx-real-ip: 1.2.3.4, 10.0.0.9\r\n\r\n"
    );
    let kept = Forwarding {
        if_none: true,
        ..real
    };
    assert_eq!(
        head(kept),
        "GET /p HTTP/1.1\r\nHost: site\r\nX-Real-IP: 1.2.3.4\r\nX-Forwarded-Proto: ftp\r\n\r\n"
    );
    let added = Forwarding {
        if_none: true,
        ..only_for
    };
    assert!(head(added).ends_with("x-forwarded-for: 10.0.0.9\r\n\r\n"));
}
