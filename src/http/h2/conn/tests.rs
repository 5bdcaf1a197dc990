//! The connection driven as a client would, without sockets: frames in, frames out.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use super::frame::{self, Frame};

use super::*;

fn limits() -> Limits {
    Limits {
        max_concurrent_streams: 3,
        max_header_list_size: 1024,
        header_table_size: 4096,
        initial_window_size: 100,
        connection_window_size: 1 << 20,
        max_frame_size: 16_384,
    }
}

/// Counts its wakes.
#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn waker() -> (Arc<Count>, Waker) {
    let c = Arc::new(Count::default());
    (c.clone(), Waker::from(c))
}

/// A frame this side wrote, as something to compare.
#[derive(Debug, PartialEq, Eq)]
enum Out {
    Settings(Vec<(u16, u32)>),
    SettingsAck,
    PingAck,
    Ping([u8; 8]),
    GoAway(u32, Reason),
    Reset(u32, Reason),
    Window(u32, u32),
    Headers(u32, Vec<u8>, bool),
    Data(u32, Vec<u8>, bool),
}

struct Client {
    conn: Conn,
    enc: loona_hpack::Encoder<'static>,
    /// Requests handed over: (stream, path, end_stream).
    requests: Vec<(u32, String, bool)>,
}

impl Client {
    /// A connection past the preface and both SETTINGS, this side's acknowledged.
    fn new(limits: Limits) -> Client {
        let mut c = Client::unacked(limits);
        c.frame(frame::SETTINGS, frame::ACK, 0, &[]).expect("ack");
        c
    }

    /// The same before the client acknowledges this side's SETTINGS.
    fn unacked(limits: Limits) -> Client {
        let mut c = Client {
            conn: Conn::new(limits),
            enc: loona_hpack::Encoder::new(),
            requests: Vec::new(),
        };
        let mut hello = PREFACE_BYTES.to_vec();
        frame::write_settings(&mut hello, &[]);
        c.send(&hello).expect("handshake");
        let out = c.out();
        assert!(matches!(out[0], Out::Settings(_)), "{out:?}");
        assert_eq!(out.last(), Some(&Out::SettingsAck));
        c
    }

    /// Feed bytes, step by step; the connection error if one came.
    fn send(&mut self, mut bytes: &[u8]) -> Result<(), Reason> {
        loop {
            let used = match self.conn.step(bytes)? {
                Step::More => break,
                Step::Done(n) => n,
                Step::Request {
                    used,
                    id,
                    head,
                    end_stream,
                } => {
                    let path =
                        String::from_utf8_lossy(head.pseudo().path.unwrap_or(b"")).into_owned();
                    self.requests.push((id, path, end_stream));
                    used
                }
            };
            bytes = &bytes[used..];
        }
        assert!(bytes.is_empty(), "{} bytes left", bytes.len());
        Ok(())
    }

    fn block(&mut self, path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
        let mut fields: Vec<(&[u8], &[u8])> = vec![
            (b":method", b"GET"),
            (b":scheme", b"https"),
            (b":authority", b"example.com"),
            (b":path", path.as_bytes()),
        ];
        fields.extend(extra.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
        self.enc.encode(fields)
    }

    fn get(&mut self, id: u32, path: &str, end: bool) -> Result<(), Reason> {
        let block = self.block(path, &[]);
        let mut f = Vec::new();
        let flags = frame::END_HEADERS | if end { frame::END_STREAM } else { 0 };
        frame::write_head(&mut f, block.len(), frame::HEADERS, flags, id);
        f.extend_from_slice(&block);
        self.send(&f)
    }

    fn frame(&mut self, kind: u8, flags: u8, id: u32, payload: &[u8]) -> Result<(), Reason> {
        let mut f = Vec::new();
        frame::write_head(&mut f, payload.len(), kind, flags, id);
        f.extend_from_slice(payload);
        self.send(&f)
    }

    /// What this side wrote since the last look.
    fn out(&mut self) -> Vec<Out> {
        let (_, w) = waker();
        let mut bytes = Vec::new();
        if !self.conn.poll_out(&mut bytes, &mut Context::from_waker(&w)) {
            return Vec::new();
        }
        decode_out(&bytes)
    }
}

const PREFACE_BYTES: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn decode_out(mut at: &[u8]) -> Vec<Out> {
    let mut got = Vec::new();
    while let Some((f, n)) = frame::parse(at, frame::MAX_FRAME_SIZE_LIMIT).expect("valid output") {
        got.push(match f {
            Frame::Settings { ack: true, .. } => Out::SettingsAck,
            Frame::Settings { params, .. } => Out::Settings(frame::settings(params).collect()),
            Frame::Ping { ack: true, .. } => Out::PingAck,
            Frame::Ping { payload, .. } => Out::Ping(payload),
            Frame::GoAway { last, reason } => Out::GoAway(last, reason),
            Frame::Reset { id, reason } => Out::Reset(id, reason),
            Frame::WindowUpdate { id, increment } => Out::Window(id, increment),
            Frame::Headers {
                id,
                block,
                end_stream,
                ..
            } => Out::Headers(id, block.to_vec(), end_stream),
            Frame::Data { id, data, end, .. } => Out::Data(id, data.to_vec(), end),
            other => panic!("not a server's frame: {other:?}"),
        });
        at = &at[n..];
    }
    assert!(at.is_empty());
    got
}

#[test]
fn the_first_bytes_out_are_the_settings_and_the_connection_window() {
    let mut c = Conn::new(limits());
    let (_, w) = waker();
    let mut bytes = Vec::new();
    assert!(c.poll_out(&mut bytes, &mut Context::from_waker(&w)));
    let out = decode_out(&bytes);
    assert_eq!(out[1], Out::Window(0, (1 << 20) - 65_535));
    let Out::Settings(s) = &out[0] else {
        panic!("{out:?}")
    };
    assert!(s.contains(&(frame::MAX_CONCURRENT_STREAMS, 3)));
    assert!(s.contains(&(frame::INITIAL_WINDOW_SIZE, 100)));
}

#[test]
fn a_wrong_preface_or_a_first_frame_other_than_settings_closes() {
    let mut c = Conn::new(limits());
    assert_eq!(
        c.step(b"GET / HTTP/1.1\r\n").err(),
        Some(Reason::PROTOCOL_ERROR)
    );
    let mut c = Conn::new(limits());
    let mut bytes = PREFACE_BYTES.to_vec();
    frame::write_ping(&mut bytes, false, [0; 8]);
    let mut at = &bytes[..];
    let err = loop {
        match c.step(at) {
            Ok(Step::Done(n)) => at = &at[n..],
            Ok(other) => panic!("{other:?}"),
            Err(r) => break r,
        }
    };
    assert_eq!(err, Reason::PROTOCOL_ERROR);
}

#[test]
fn the_preface_may_come_in_pieces() {
    let mut c = Conn::new(limits());
    assert!(matches!(c.step(&PREFACE_BYTES[..5]), Ok(Step::Done(5))));
    assert!(matches!(c.step(&PREFACE_BYTES[5..]), Ok(Step::Done(19))));
    assert!(matches!(c.step(&[]), Ok(Step::More)));
}

#[test]
fn a_request_is_handed_over_and_its_response_goes_out() {
    let mut c = Client::new(limits());
    c.get(1, "/a", true).unwrap();
    assert_eq!(c.requests, [(1, "/a".to_string(), true)]);
    assert_eq!(c.conn.active(), 1);
    c.conn.send_headers(1, &[0x88], false).unwrap();
    let (_, w) = waker();
    let mut cx = Context::from_waker(&w);
    assert_eq!(
        c.conn.poll_send_data(1, b"hello", true, &mut cx),
        Poll::Ready(Ok(5))
    );
    c.conn.finish(1);
    assert_eq!(c.conn.active(), 0);
    assert_eq!(
        c.out(),
        [
            Out::Headers(1, vec![0x88], false),
            Out::Data(1, b"hello".to_vec(), true)
        ]
    );
    // The same fields again: indexed from the dynamic table this time.
    c.get(3, "/a", true).unwrap();
    assert_eq!(c.requests[1], (3, "/a".to_string(), true));
}

#[test]
fn the_regular_fields_come_in_order_and_misused_pseudo_fields_are_noted() {
    let mut c = Client::new(limits());
    let block = c.enc.encode([
        (&b":method"[..], &b"POST"[..]),
        (b":path", b"/x"),
        (b"b-field", b"2"),
        (b"a-field", b"1"),
        (b":scheme", b"http"),
    ]);
    let mut f = Vec::new();
    frame::write_head(&mut f, block.len(), frame::HEADERS, frame::END_HEADERS, 1);
    f.extend_from_slice(&block);
    let Ok(Step::Request {
        head, end_stream, ..
    }) = c.conn.step(&f)
    else {
        panic!()
    };
    assert!(!end_stream);
    assert_eq!(head.pseudo().method, b"POST");
    assert_eq!(head.pseudo().scheme, None);
    let fields: Vec<_> = head.fields().collect();
    let want: [(&[u8], &[u8]); 3] = [
        (b"b-field", b"2"),
        (b"a-field", b"1"),
        (b":scheme", b"http"),
    ];
    assert_eq!(fields, want);
    // A duplicate pseudo-header field.
    let block = c
        .enc
        .encode([(&b":method"[..], &b"GET"[..]), (b":method", b"GET")]);
    let mut f = Vec::new();
    frame::write_head(&mut f, block.len(), frame::HEADERS, frame::END_HEADERS, 3);
    f.extend_from_slice(&block);
    let Ok(Step::Request { head, .. }) = c.conn.step(&f) else {
        panic!()
    };
    assert!(head.malformed().is_some());
}

#[test]
fn a_block_in_continuation_frames_is_one_request() {
    let mut c = Client::new(limits());
    let block = c.block("/continued", &[("x-a", "1"), ("x-b", "2")]);
    let mut f = Vec::new();
    frame::write_headers(&mut f, 5, &block, true, 7);
    c.send(&f).unwrap();
    assert_eq!(c.requests, [(5, "/continued".to_string(), true)]);
}

#[test]
fn another_frame_inside_a_header_block_is_a_connection_error() {
    let mut c = Client::new(limits());
    let block = c.block("/", &[]);
    let mut f = Vec::new();
    frame::write_head(&mut f, 3, frame::HEADERS, 0, 1);
    f.extend_from_slice(&block[..3]);
    frame::write_ping(&mut f, false, [0; 8]);
    assert_eq!(c.send(&f), Err(Reason::PROTOCOL_ERROR));
    assert_eq!(c.out(), [Out::GoAway(0, Reason::PROTOCOL_ERROR)]);
    // And nothing more is read.
    assert_eq!(c.conn.step(&[]).err(), Some(Reason::PROTOCOL_ERROR));
}

#[test]
fn endless_continuation_frames_are_cut_short() {
    let mut c = Client::new(limits());
    let mut f = Vec::new();
    frame::write_head(&mut f, 1, frame::HEADERS, 0, 1);
    f.push(0x82);
    c.send(&f).unwrap();
    let piece = vec![0x82; 1000];
    let mut sent = 0;
    let err = loop {
        match c.frame(frame::CONTINUATION, 0, 1, &piece) {
            Ok(()) => sent += 1,
            Err(r) => break r,
        }
        assert!(sent < 100, "never cut");
    };
    assert_eq!(err, Reason::ENHANCE_YOUR_CALM);
    // The limit: twice the header list's (1 KiB here), at least a frame's worth.
    assert_eq!(sent, 16);
}

#[test]
fn streams_past_the_limit_are_refused() {
    let mut c = Client::new(limits());
    for id in [1, 3, 5] {
        c.get(id, "/", true).unwrap();
    }
    c.out();
    c.get(7, "/", true).unwrap();
    assert_eq!(c.requests.len(), 3);
    assert_eq!(c.out(), [Out::Reset(7, Reason::REFUSED_STREAM)]);
    c.conn.finish(1);
    c.get(9, "/", true).unwrap();
    assert_eq!(c.requests.len(), 4);
}

#[test]
fn stream_ids_must_be_odd_and_rise() {
    let mut c = Client::new(limits());
    assert_eq!(c.get(2, "/", true), Err(Reason::PROTOCOL_ERROR));
    // DATA, RST_STREAM or WINDOW_UPDATE on a stream never opened.
    for kind in [frame::DATA, frame::RST_STREAM, frame::WINDOW_UPDATE] {
        let mut c = Client::new(limits());
        c.get(1, "/", true).unwrap();
        assert_eq!(
            c.frame(kind, 0, 3, &[0, 0, 0, 1]),
            Err(Reason::PROTOCOL_ERROR),
            "{kind}"
        );
    }
}

#[test]
fn pings_are_answered_until_the_client_stops_reading() {
    let mut c = Client::new(limits());
    c.frame(frame::PING, 0, 0, &[0; 8]).unwrap();
    assert_eq!(c.out(), [Out::PingAck]);
    // Never reading what is written: cut off past the output's bound.
    let mut n = 0;
    let err = loop {
        if let Err(r) = c.frame(frame::PING, 0, 0, &[0; 8]) {
            break r;
        }
        n += 1;
        assert!(n < 100_000);
    };
    assert_eq!(err, Reason::ENHANCE_YOUR_CALM);
    assert!(n > 5_000, "{n}");
}

#[test]
fn a_block_that_does_not_decode_is_a_compression_error() {
    let mut c = Client::new(limits());
    // Index 70: past the static table, with an empty dynamic one.
    assert_eq!(
        c.frame(frame::HEADERS, frame::END_HEADERS, 1, &[0x80 | 70]),
        Err(Reason::COMPRESSION_ERROR)
    );
}

#[test]
fn a_header_list_past_the_limit_is_noted_and_bounded() {
    let mut c = Client::new(limits());
    let value = "v".repeat(900);
    let block = c.block("/", &[("x-big", &value), ("x-more", &value)]);
    let mut f = Vec::new();
    frame::write_head(
        &mut f,
        block.len(),
        frame::HEADERS,
        frame::END_HEADERS | frame::END_STREAM,
        1,
    );
    f.extend_from_slice(&block);
    let Ok(Step::Request { head, .. }) = c.conn.step(&f) else {
        panic!()
    };
    assert!(head.too_large());
    assert!(head.list_size() > 1800);
    assert!(
        head.fields().count() <= 1,
        "what is kept stays under the limit"
    );
}

#[test]
fn empty_data_frames_without_end_are_a_flood() {
    let mut c = Client::new(limits());
    c.get(1, "/", false).unwrap();
    let mut n = 0;
    let err = loop {
        if let Err(r) = c.frame(frame::DATA, 0, 1, &[]) {
            break r;
        }
        n += 1;
        assert!(n < 10_000);
    };
    assert_eq!(err, Reason::ENHANCE_YOUR_CALM);
}

#[path = "tests_flow.rs"]
mod flow;

#[test]
fn a_stream_error_on_a_stream_never_opened_is_the_connections() {
    // WINDOW_UPDATE of 0 on an open stream: its reset; on an idle one: GOAWAY (no
    // RST_STREAM for an idle stream, §6.4).
    let mut c = Client::new(limits());
    c.get(1, "/", true).unwrap();
    c.out();
    c.frame(frame::WINDOW_UPDATE, 0, 1, &[0; 4]).unwrap();
    assert_eq!(c.out(), [Out::Reset(1, Reason::PROTOCOL_ERROR)]);
    assert_eq!(
        c.frame(frame::WINDOW_UPDATE, 0, 5, &[0; 4]),
        Err(Reason::PROTOCOL_ERROR)
    );
    let mut c = Client::new(limits());
    assert_eq!(
        c.frame(frame::PRIORITY, 0, 3, &[0; 4]),
        Err(Reason::FRAME_SIZE_ERROR)
    );
}

#[test]
fn the_dynamic_table_follows_the_advertised_size_once_acknowledged() {
    let mut l = limits();
    l.header_table_size = 1024;
    let mut c = Client::unacked(l);
    // Before the client has this side's SETTINGS, the default 4 KiB holds.
    c.frame(
        frame::HEADERS,
        frame::END_HEADERS | frame::END_STREAM,
        1,
        &[0x3f, 0xe1, 0x1f, 0x82, 0x84, 0x86, 0x41, 0x01, b'a'],
    )
    .unwrap();
    c.frame(frame::SETTINGS, frame::ACK, 0, &[]).unwrap();
    // After: 2048 is past what was advertised; 1024 is not.
    let err = c.frame(
        frame::HEADERS,
        frame::END_HEADERS | frame::END_STREAM,
        3,
        &[0x3f, 0xe1, 0x0f, 0x82],
    );
    assert_eq!(err, Err(Reason::COMPRESSION_ERROR));
    let mut c = Client::new(l);
    c.frame(
        frame::HEADERS,
        frame::END_HEADERS | frame::END_STREAM,
        1,
        &[0x3f, 0xe1, 0x07, 0x82, 0x84, 0x86, 0x41, 0x01, b'a'],
    )
    .unwrap();
    assert_eq!(c.requests.len(), 1);
}
