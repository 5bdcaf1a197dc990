//! Messages through: pipelining, bodies both ways (64 MiB), HEAD/204/304, 100-continue, upgrades, forwarded headers.

use super::*;

#[test]
fn keep_alive_reuses_one_server_connection_and_pipelining_keeps_order() {
    let (backend, rl) = setup("", "");
    let mut c = Client::connect(rl.addr());
    for i in 0..10 {
        let (status, _, body) = c.get(&format!("/n{i}"));
        assert_eq!(status, 200);
        assert_eq!(String::from_utf8(body).unwrap(), format!("ok GET /n{i} 0"));
    }
    assert_eq!(backend.accepted(), 1, "server connections were not reused");
    // Three pipelined requests in one write: answered in order.
    c.send(b"GET /p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p2 HTTP/1.1\r\nHost: x\r\n\r\nGET /p3 HTTP/1.1\r\nHost: x\r\n\r\n");
    for p in ["/p1", "/p2", "/p3"] {
        let (_, _, body) = c.response(false);
        assert_eq!(String::from_utf8(body).unwrap(), format!("ok GET {p} 0"));
    }
}

#[test]
fn chunked_and_sized_bodies_stream_both_ways() {
    let (backend, rl) = setup("", "");
    let mut c = Client::connect(rl.addr());
    for n in [0usize, 1, 1 << 20] {
        // Chunked request body.
        c.send(b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
        if n > 0 {
            c.send(format!("{n:x}\r\n").as_bytes());
            c.send(&vec![b'u'; n]);
            c.send(b"\r\n");
        }
        c.send(b"0\r\n\r\n");
        let (status, _, body) = c.response(false);
        assert_eq!(status, 200);
        assert_eq!(String::from_utf8(body).unwrap(), format!("ok POST /up {n}"));
        // Chunked response body, with a trailer.
        let (status, _, body) = c.get(&format!("/chunked/{n}"));
        assert_eq!(status, 200);
        assert_eq!(body.len(), n);
        // Content-Length request body.
        c.send(format!("PUT /cl HTTP/1.1\r\nHost: x\r\nContent-Length: {n}\r\n\r\n").as_bytes());
        c.send(&vec![b'p'; n]);
        let (_, _, body) = c.response(false);
        assert_eq!(String::from_utf8(body).unwrap(), format!("ok PUT /cl {n}"));
    }
    assert!(backend.accepted() <= 2);
}

#[test]
fn bodies_of_64_mib_are_streamed_both_ways_with_bounded_memory() {
    let (_backend, rl) = setup("", "");
    let mut c = Client::connect(rl.addr());
    let (status, _, body) = c.get(&format!("/chunked/{}", 64 << 20));
    assert_eq!(status, 200);
    assert_eq!(body.len(), 64 << 20);
    let (status, _, body) = c.get(&format!("/len/{}", 64 << 20));
    assert_eq!(status, 200);
    assert_eq!(body.len(), 64 << 20);
    // And 64 MiB up, chunked, written from another thread while the response is awaited.
    let mut writer = c.stream.try_clone().unwrap();
    let upload = thread::spawn(move || {
        writer
            .write_all(b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap();
        let chunk = vec![b'u'; 1 << 20];
        for _ in 0..64 {
            writer.write_all(b"100000\r\n").unwrap();
            writer.write_all(&chunk).unwrap();
            writer.write_all(b"\r\n").unwrap();
        }
        writer.write_all(b"0\r\n\r\n").unwrap();
    });
    let (status, _, body) = c.response(false);
    upload.join().unwrap();
    assert_eq!(status, 200);
    assert_eq!(body, format!("ok POST /up {}", 64 << 20).as_bytes());
    let status = std::fs::read_to_string(format!("/proc/{}/status", rl.child.id())).unwrap();
    let hwm_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(
        hwm_kib < 32 * 1024,
        "ringlb's peak RSS was {hwm_kib} KiB while relaying 64 MiB"
    );
}

#[test]
fn head_204_304_have_no_body() {
    let (_backend, rl) = setup("", "");
    let mut c = Client::connect(rl.addr());
    c.send(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n");
    let (status, head, body) = c.response(true);
    assert_eq!(status, 200);
    assert!(head.contains("Content-Length: 99"), "{head}");
    assert!(body.is_empty());
    assert_eq!(c.get("/204").0, 204);
    assert_eq!(c.get("/304").0, 304);
    // The connection is still in step.
    assert_eq!(c.get("/after").2, b"ok GET /after 0");
}

#[test]
fn expect_100_continue_works_end_to_end() {
    let (backend, rl) = setup("", "");
    let mut c = Client::connect(rl.addr());
    c.send(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    let (status, _, _) = c.response(false);
    assert_eq!(status, 100);
    c.send(b"hello");
    let (status, _, body) = c.response(false);
    assert_eq!(status, 200);
    assert_eq!(body, b"ok POST /e 5");
    assert!(!backend.last_head().to_ascii_lowercase().contains("expect:"));
}

#[test]
fn upgrade_becomes_a_tunnel_after_101() {
    let (_backend, rl) = setup("", "");
    let mut c = Client::connect(rl.addr());
    c.send(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    let (status, head, _) = c.response(false);
    assert_eq!(status, 101);
    assert!(
        head.to_ascii_lowercase().contains("upgrade: websocket"),
        "{head}"
    );
    for msg in [&b"frame one"[..], b"frame two"] {
        c.stream.write_all(msg).unwrap();
        let mut back = vec![0u8; msg.len()];
        std::io::Read::read_exact(&mut c.reader, &mut back).unwrap();
        assert_eq!(back, msg);
    }
}

#[test]
fn forwarded_headers_and_hop_by_hop_stripping() {
    let (backend, rl) = setup("", "forwarded_for = true");
    let mut c = Client::connect(rl.addr());
    c.send(b"GET /f HTTP/1.1\r\nHost: site.example\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\nKeep-Alive: 5\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n");
    assert_eq!(c.response(false).0, 200);
    let head = backend.last_head().to_ascii_lowercase();
    assert!(
        head.contains("x-forwarded-for: 203.0.113.7, 127.0.0.1\r\n"),
        "{head}"
    );
    assert!(head.contains("x-forwarded-proto: http\r\n"), "{head}");
    assert!(
        head.contains("x-forwarded-host: site.example\r\n"),
        "{head}"
    );
    assert!(
        !head.contains("x-drop") && !head.contains("keep-alive"),
        "{head}"
    );
}
